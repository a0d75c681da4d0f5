//! The console: one line per event, worded as Ansible's (`ok: [host] task`), a PLAY
//! RECAP at the end, and on a terminal a progress bar that log lines never break: the
//! play's host-tasks done out of all, the batch, hosts done / running / failed, and the
//! current task of the first running hosts (cut to the terminal's width).

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Event, Listener, TaskStatus};

pub struct Console {
    verbosity: u8,
    bar: Option<ProgressBar>,
    /// Host → the task it runs now.
    running: HashMap<String, String>,
    /// Hosts of the current play that ran their last task or stopped.
    finished: HashSet<String>,
    /// Of those, the ones that ran their last task.
    done: usize,
    failed: usize,
    play_tasks: usize,
    batch: usize,
    batches: usize,
    /// Hosts whose per-host log lost lines, named under the recap.
    log_failures: Option<super::hostlog::LogFailures>,
}

impl Console {
    /// `progress` asks for a bar; it is shown only when standard error is a terminal.
    pub fn new(verbosity: u8, progress: bool) -> Self {
        let bar = (progress && std::io::stderr().is_terminal()).then(|| {
            // Hidden until the first play gives it a length (an empty bar draws full).
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {elapsed:>3} {bar:16} {pos}/{len} tasks, {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Console {
            verbosity,
            bar,
            running: HashMap::new(),
            finished: HashSet::new(),
            done: 0,
            failed: 0,
            play_tasks: 0,
            batch: 0,
            batches: 0,
            log_failures: None,
        }
    }

    /// Names, under the recap, every host whose per-host log could not be written.
    pub fn with_log_failures(mut self, failures: super::hostlog::LogFailures) -> Self {
        self.log_failures = Some(failures);
        self
    }

    fn line(&self, text: &str) -> std::io::Result<()> {
        match &self.bar {
            Some(bar) => bar.suspend(|| {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{text}")
            }),
            None => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{text}")
            }
        }
    }

    /// A host stopped after running `ran` of the play's tasks (all, or up to a
    /// failure): what it will not run is taken off the bar's length, so the bar ends full.
    fn host_finished(&mut self, host: &str, ran: usize, ok: bool) {
        if !self.finished.insert(host.to_string()) {
            return;
        }
        if ok {
            self.done += 1;
        }
        if let Some(bar) = &self.bar {
            let skipped = self.play_tasks.saturating_sub(ran) as u64;
            bar.set_length(bar.length().unwrap_or(0).saturating_sub(skipped));
        }
    }

    fn update_bar(&self) {
        if let Some(bar) = &self.bar {
            let mut hosts: Vec<_> = self.running.iter().collect();
            hosts.sort();
            let shown: Vec<String> = hosts
                .iter()
                .take(4)
                .map(|(h, t)| format!("{h}: {t}"))
                .collect();
            let more = hosts.len().saturating_sub(4);
            let mut msg = format!(
                "batch {}/{}: {} done, {} running, {} failed",
                self.batch + 1,
                self.batches.max(1),
                self.done,
                hosts.len(),
                self.failed
            );
            if !shown.is_empty() {
                msg.push_str("; ");
                msg.push_str(&shown.join(", "));
            }
            if more > 0 {
                msg.push_str(&format!(" +{more}"));
            }
            bar.set_message(msg);
        }
    }
}

impl Listener for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn on_event(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::RunStarted {
                run_id,
                run_dir,
                check,
                resumed,
                ..
            } => {
                let mode = match (check, resumed) {
                    (true, _) => " (check mode: nothing is changed)",
                    (_, true) => " (resumed)",
                    _ => "",
                };
                self.line(&format!(
                    "RUN {run_id}{mode}, logs in {}",
                    run_dir.display()
                ))?;
            }
            Event::PlayStarted {
                name,
                hosts,
                batches,
                tasks,
                ..
            } => {
                self.play_tasks = *tasks;
                self.batches = *batches;
                self.batch = 0;
                self.finished.clear();
                self.done = 0;
                if let Some(bar) = &self.bar {
                    bar.inc_length((hosts.len() * tasks) as u64);
                    if bar.is_hidden() && bar.length() > Some(0) {
                        bar.set_draw_target(ProgressDrawTarget::stderr());
                    }
                }
                self.update_bar();
                self.line("")?;
                if hosts.is_empty() {
                    self.line(&format!("PLAY [{name}] skipping: no hosts matched"))?;
                } else {
                    self.line(&format!(
                        "PLAY [{name}] {} in {}",
                        crate::plural(hosts.len(), "host", "hosts"),
                        crate::plural(*batches, "batch", "batches")
                    ))?;
                }
            }
            Event::BatchStarted { batch, hosts, .. } => {
                self.batch = *batch;
                self.line(&format!("  batch {}: {}", batch + 1, hosts.join(", ")))?;
                self.update_bar();
            }
            Event::TaskStarted { host, name, .. } => {
                self.running.insert(host.clone(), name.clone());
                self.update_bar();
            }
            Event::CommandStarted { host, command } if self.verbosity >= 2 => {
                self.line(&format!("<{host}> $ {command}"))?;
            }
            Event::TaskAlreadyDone {
                host,
                name,
                status,
                task,
                ..
            } => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                if task + 1 == self.play_tasks {
                    self.host_finished(host, task + 1, true);
                }
                self.update_bar();
                if self.verbosity >= 1 {
                    self.line(&format!(
                        "done before: [{host}] {name} ({})",
                        status.as_str()
                    ))?;
                }
            }
            Event::TaskFinished {
                host,
                name,
                result,
                task,
                ..
            } => {
                self.running.remove(host);
                if let Some(bar) = &self.bar
                    && task.task().is_some()
                {
                    bar.inc(1);
                }
                let word = match (result.status, result.ignored) {
                    (TaskStatus::Failed, _) if result.rescued => "failed (rescued)",
                    (TaskStatus::Skipped, _) => "skipping",
                    (TaskStatus::Failed, true) => "failed (ignored)",
                    (TaskStatus::Unreachable, _) => "unreachable",
                    (s, _) => s.as_str(),
                };
                let failed = matches!(result.status, TaskStatus::Failed | TaskStatus::Unreachable)
                    && !result.ignored
                    && !result.rescued;
                if failed {
                    self.failed += 1;
                    self.host_finished(host, task.tasks_run(), false);
                } else if task.task().is_some_and(|t| t + 1 == self.play_tasks) {
                    self.host_finished(host, task.tasks_run(), true);
                }
                let mut text = format!("{word}: [{host}] {name}");
                // An ignored failure still says why, as Ansible's `...ignoring` does.
                let why = failed || result.status == TaskStatus::Failed;
                if let Some(msg) = &result.msg
                    && (why || self.verbosity >= 1 || result.status == TaskStatus::Ok)
                {
                    text.push_str(&format!(" => {msg}"));
                }
                if failed || self.verbosity >= 1 {
                    if let Some(rc) = result.rc {
                        text.push_str(&format!(" (rc={rc})"));
                    }
                    // A failure shows stderr, or stdout when the command said nothing
                    // on stderr (scripts often explain themselves on stdout); -v both.
                    let quiet_stderr = result.stderr.trim().is_empty();
                    for (label, out) in [("stdout", &result.stdout), ("stderr", &result.stderr)] {
                        let out = out.trim_end();
                        let shown = self.verbosity >= 1
                            || label == "stderr"
                            || (label == "stdout" && quiet_stderr);
                        if !out.is_empty() && shown {
                            text.push_str(&format!(
                                "\n    {label}: {}",
                                out.replace('\n', "\n            ")
                            ));
                        }
                    }
                }
                if let Some(diff) = &result.diff {
                    text.push('\n');
                    text.push_str(diff.trim_end());
                }
                self.line(&text)?;
                self.update_bar();
            }
            Event::PlayAborted { reason, .. } => {
                self.line(&format!("PLAY STOPPED: {reason}"))?;
            }
            Event::Warning { message } => {
                self.line(&format!("[WARNING]: {message}"))?;
            }
            Event::RunFinished {
                recap,
                run_dir,
                interrupted,
                resume_command,
                ..
            } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                self.line("")?;
                self.line("PLAY RECAP")?;
                let width = recap.hosts.keys().map(|h| h.len()).max().unwrap_or(0);
                for (host, c) in &recap.hosts {
                    self.line(&format!(
                        "{host:<width$} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={}",
                        c.ok, c.changed, c.unreachable, c.failed, c.skipped, c.rescued, c.ignored
                    ))?;
                }
                if let Some(warning) = self.log_failures.as_ref().and_then(|f| f.warning()) {
                    self.line(&format!("[WARNING]: {warning}"))?;
                }
                self.line(&format!(
                    "\nPer-host logs and journal: {}",
                    run_dir.display()
                ))?;
                match (interrupted, resume_command) {
                    (true, Some(cmd)) => self.line(&format!(
                        "Interrupted: every finished task is in the journal. To continue where each host stopped:\n  {cmd}"
                    ))?,
                    (true, None) => self.line(
                        "Interrupted: rerun the same command with --resume to continue where each host stopped.",
                    )?,
                    (false, Some(cmd)) => self.line(&format!(
                        "To continue after fixing the problem, from where each host stopped:\n  {cmd}"
                    ))?,
                    (false, None) => {}
                }
            }
            _ => {}
        }
        Ok(())
    }
}

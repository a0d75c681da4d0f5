//! The console: one line per event, worded as Ansible's (`ok: [host] task`), a PLAY
//! RECAP at the end, and on a terminal a progress bar (tasks done, hosts running and
//! failed) that log lines never break.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Event, Listener, TaskStatus};

pub struct Console {
    verbosity: u8,
    bar: Option<ProgressBar>,
    running: HashMap<String, String>,
    failed: usize,
}

impl Console {
    /// `progress` asks for a bar; it is shown only when standard error is a terminal.
    pub fn new(verbosity: u8, progress: bool) -> Self {
        let bar = (progress && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} tasks {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Console {
            verbosity,
            bar,
            running: HashMap::new(),
            failed: 0,
        }
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
            let mut msg = format!("| {} running, {} failed", hosts.len(), self.failed);
            if !shown.is_empty() {
                msg.push_str(" | ");
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
                ..
            } => {
                self.line("")?;
                if hosts.is_empty() {
                    self.line(&format!("PLAY [{name}] skipping: no hosts matched"))?;
                } else {
                    self.line(&format!(
                        "PLAY [{name}] {} hosts in {} batches",
                        hosts.len(),
                        batches
                    ))?;
                }
            }
            Event::BatchStarted { batch, hosts, .. } => {
                self.line(&format!("  batch {}: {}", batch + 1, hosts.join(", ")))?;
            }
            Event::TaskStarted { host, name, .. } => {
                self.running.insert(host.clone(), name.clone());
                if let Some(bar) = &self.bar {
                    bar.inc_length(1);
                }
                self.update_bar();
            }
            Event::CommandStarted { host, command } if self.verbosity >= 2 => {
                self.line(&format!("<{host}> $ {command}"))?;
            }
            Event::TaskAlreadyDone {
                host, name, status, ..
            } => {
                if self.verbosity >= 1 {
                    self.line(&format!(
                        "done before: [{host}] {name} ({})",
                        status.as_str()
                    ))?;
                }
            }
            Event::TaskFinished {
                host, name, result, ..
            } => {
                self.running.remove(host);
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                let word = match (result.status, result.ignored) {
                    (TaskStatus::Skipped, _) => "skipping",
                    (TaskStatus::Failed, true) => "failed (ignored)",
                    (TaskStatus::Unreachable, _) => "unreachable",
                    (s, _) => s.as_str(),
                };
                let failed = matches!(result.status, TaskStatus::Failed | TaskStatus::Unreachable)
                    && !result.ignored;
                if failed {
                    self.failed += 1;
                }
                let mut text = format!("{word}: [{host}] {name}");
                if let Some(msg) = &result.msg {
                    if failed || self.verbosity >= 1 || result.status == TaskStatus::Ok {
                        text.push_str(&format!(" => {msg}"));
                    }
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
                        "{host:<width$} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} ignored={}",
                        c.ok, c.changed, c.unreachable, c.failed, c.skipped, c.ignored
                    ))?;
                }
                self.line(&format!(
                    "\nPer-host logs and journal: {}",
                    run_dir.display()
                ))?;
                if *interrupted {
                    self.line("Interrupted: rerun the same command with --resume to continue where each host stopped.")?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

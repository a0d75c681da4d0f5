//! One log file per host in the run directory: every task, the exact commands, their
//! output, exit code, duration and outcome. Already-redacted text only.
//!
//! A task's lines are gathered in memory and appended with one `open`/`write`/`close`
//! when it ends (or at the end of the run); between tasks a host's log holds neither a
//! buffer nor a file descriptor, so a fleet of a thousand hosts costs no descriptor
//! beyond its connections (see `execute::limits`).
//!
//! A log that cannot be written (`Too many open files`, a full disk) costs that host's
//! lines and no one else's. A log that cannot be *opened* keeps its lines (up to
//! [`RETRY_MAX`]) for the next task's write, which often succeeds: `Too many open files`
//! passes as connections close. Lines that are dropped are counted per host; the log
//! says so at its end and the console names the host and the error under the recap
//! ([`LogFailures`]).

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Event, Listener};

pub struct HostLogs {
    dir: PathBuf,
    files: HashMap<String, HostLog>,
    failures: LogFailures,
}

/// Hosts whose log lost lines, shared with the console for the recap.
#[derive(Clone, Default)]
pub struct LogFailures(Arc<Mutex<BTreeMap<String, LogFailure>>>);

/// What a host's log lost: how many lines, and the first error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFailure {
    pub lines: usize,
    pub error: String,
}

impl LogFailures {
    fn record(&self, host: &str, err: &std::io::Error, lines: usize) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(host.to_string())
            .and_modify(|f| f.lines += lines)
            .or_insert_with(|| LogFailure {
                lines,
                error: err.to_string(),
            });
    }

    /// Every host whose log lost lines so far, by name.
    pub fn snapshot(&self) -> BTreeMap<String, LogFailure> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The lines the console prints under the recap: none when every log is whole.
    pub fn warning(&self) -> Option<String> {
        let map = self.snapshot();
        if map.is_empty() {
            return None;
        }
        let mut text = format!(
            "the per-host log of {} is incomplete (each says so at its end):",
            crate::plural(map.len(), "host", "hosts")
        );
        for (host, f) in map.iter().take(SHOWN_MAX) {
            text.push_str(&format!(
                "\n  {host}: {} lost: {}",
                crate::plural(f.lines, "line", "lines"),
                f.error
            ));
        }
        if map.len() > SHOWN_MAX {
            text.push_str(&format!("\n  … and {} more", map.len() - SHOWN_MAX));
        }
        Some(text)
    }
}

/// One host's lines of its current task, not yet written, and its command counts.
#[derive(Default)]
struct HostLog {
    pending: Vec<u8>,
    /// Remote commands sent for the current task, and for the whole run.
    commands: usize,
    total_commands: usize,
}

/// A task that logs more than this (a long loop, a big output) is written as it goes.
const PENDING_MAX: usize = 64 * 1024;
/// Lines kept for the next try when a log cannot be opened, per host.
const RETRY_MAX: usize = 16 * 1024;
/// Hosts named one by one under the recap.
const SHOWN_MAX: usize = 10;

impl Write for HostLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl HostLogs {
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(HostLogs {
            dir: dir.to_path_buf(),
            files: HashMap::new(),
            failures: LogFailures::default(),
        })
    }

    /// The handle the console reads for the recap.
    pub fn failures(&self) -> LogFailures {
        self.failures.clone()
    }

    fn file(&mut self, host: &str) -> std::io::Result<&mut HostLog> {
        if !self.files.contains_key(host) {
            self.files.insert(host.to_string(), HostLog::default());
        }
        self.files
            .get_mut(host)
            .ok_or_else(|| std::io::Error::other("host log vanished"))
    }

    /// Appends `host`'s pending lines to its file and lets their memory go. When the
    /// file cannot be opened they are kept for the next try, unless this is the `last`
    /// or they are more than [`RETRY_MAX`]; lines dropped are recorded for that host only.
    fn flush(&mut self, host: &str, last: bool) {
        let Some(log) = self.files.get_mut(host) else {
            return;
        };
        if log.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut log.pending);
        let path = self.dir.join(format!("{}.log", sanitize(host)));
        let err = match OpenOptions::new().create(true).append(true).open(path) {
            Ok(mut f) => match f.write_all(&pending) {
                Ok(()) => return,
                Err(err) => err,
            },
            Err(_) if !last && pending.len() <= RETRY_MAX => {
                log.pending = pending;
                return;
            }
            Err(err) => err,
        };
        let lines = pending.iter().filter(|&&b| b == b'\n').count();
        self.failures.record(host, &err, lines);
    }

    /// Flushes a host whose task logs more than [`PENDING_MAX`].
    fn flush_if_big(&mut self, host: &str) {
        if self
            .files
            .get(host)
            .is_some_and(|l| l.pending.len() > PENDING_MAX)
        {
            self.flush(host, false);
        }
    }
}

impl Drop for HostLogs {
    /// A run that ends without `RunFinished` (interrupted) still leaves its lines.
    fn drop(&mut self) {
        let hosts: Vec<String> = self.files.keys().cloned().collect();
        for host in hosts {
            self.flush(&host, true);
        }
    }
}

/// Host names are the operator's; keep them readable but never a path.
fn sanitize(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn now() -> String {
    super::journal::timestamp()
}

impl Listener for HostLogs {
    fn name(&self) -> &'static str {
        "per-host log"
    }

    fn on_event(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::TaskStarted {
                host,
                play,
                task,
                name,
            } => {
                let f = self.file(host)?;
                f.commands = 0;
                let which = match task {
                    super::Step::Facts => "facts".to_string(),
                    super::Step::Task(i) => format!("task {}", i.saturating_add(1)),
                    super::Step::Handler(i) => format!("handler {}", i.saturating_add(1)),
                };
                writeln!(
                    f,
                    "{} TASK [{}] (play {}, {which}) started",
                    now(),
                    name,
                    play.saturating_add(1)
                )?;
            }
            Event::CommandStarted { host, command } => {
                let f = self.file(host)?;
                f.commands += 1;
                f.total_commands += 1;
                writeln!(f, "{} $ {}", now(), command)?;
                self.flush_if_big(host);
            }
            Event::TaskAlreadyDone {
                host, name, status, ..
            } => {
                let f = self.file(host)?;
                writeln!(
                    f,
                    "{} TASK [{}] already {} in the interrupted run: not run again",
                    now(),
                    name,
                    status.as_str()
                )?;
                self.flush(host, false);
            }
            Event::TaskFinished {
                host, name, result, ..
            } => {
                let f = self.file(host)?;
                let ignored = if result.ignored { " (ignored)" } else { "" };
                write!(
                    f,
                    "{} TASK [{}] {}{} in {} ms",
                    now(),
                    name,
                    result.status.as_str(),
                    ignored,
                    result.duration_ms
                )?;
                if let Some(rc) = result.rc {
                    write!(f, ", rc={rc}")?;
                }
                let n = std::mem::take(&mut f.commands);
                writeln!(
                    f,
                    ", {}",
                    crate::plural(n, "remote command", "remote commands")
                )?;
                if let Some(msg) = &result.msg {
                    writeln!(f, "  msg: {msg}")?;
                }
                for (label, text) in [("stdout", &result.stdout), ("stderr", &result.stderr)] {
                    if !text.is_empty() {
                        writeln!(f, "  {label}:")?;
                        for line in text.lines() {
                            writeln!(f, "    {line}")?;
                        }
                    }
                }
                if let Some(diff) = &result.diff {
                    writeln!(f, "  diff:")?;
                    for line in diff.lines() {
                        writeln!(f, "    {line}")?;
                    }
                }
                self.flush(host, false);
            }
            Event::RunFinished { .. } => {
                let failures = self.failures.snapshot();
                let mut hosts: Vec<String> = self.files.keys().cloned().collect();
                hosts.sort();
                for host in hosts {
                    let f = self.file(&host)?;
                    let n = f.total_commands;
                    writeln!(
                        f,
                        "{} run finished: {} sent to this host",
                        now(),
                        crate::plural(n, "remote command", "remote commands")
                    )?;
                    if let Some(lost) = failures.get(&host) {
                        writeln!(
                            f,
                            "{} this log is incomplete: {} lost, the first failure: {}",
                            now(),
                            crate::plural(lost.lines, "line", "lines"),
                            lost.error
                        )?;
                    }
                    self.flush(&host, true);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{TaskResult, TaskStatus};

    fn started(host: &str) -> Event {
        Event::TaskStarted {
            host: host.into(),
            play: 0,
            task: crate::report::Step::Task(0),
            name: "step 1".into(),
        }
    }

    #[test]
    fn a_task_is_written_whole_when_it_ends_and_holds_no_buffer_after() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = HostLogs::new(dir.path()).unwrap();
        logs.on_event(&started("n1")).unwrap();
        logs.on_event(&Event::CommandStarted {
            host: "n1".into(),
            command: "/bin/true".into(),
        })
        .unwrap();
        // Nothing is written, nor the file even opened, before the task ends.
        let path = dir.path().join("n1.log");
        assert!(!path.exists());
        let mut result = TaskResult::new(TaskStatus::Changed);
        result.rc = Some(0);
        logs.on_event(&Event::TaskFinished {
            host: "n1".into(),
            play: 0,
            task: crate::report::Step::Task(0),
            name: "step 1".into(),
            result,
        })
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].ends_with("TASK [step 1] (play 1, task 1) started"));
        assert!(lines[1].ends_with("$ /bin/true"));
        assert!(
            lines[2].ends_with("TASK [step 1] changed in 0 ms, rc=0, 1 remote command"),
            "{text}"
        );
        assert_eq!(logs.files["n1"].pending.capacity(), 0);
    }

    /// Each task's line counts the remote commands it sent; the run's end, all of them.
    #[test]
    fn remote_commands_are_counted_per_task_and_per_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = HostLogs::new(dir.path()).unwrap();
        let finished = |name: &str| Event::TaskFinished {
            host: "n1".into(),
            play: 0,
            task: crate::report::Step::Task(0),
            name: name.into(),
            result: TaskResult::new(TaskStatus::Ok),
        };
        let command = || Event::CommandStarted {
            host: "n1".into(),
            command: "true".into(),
        };
        for (name, n) in [("step 1", 2), ("step 2", 0), ("step 3", 1)] {
            logs.on_event(&started("n1")).unwrap();
            for _ in 0..n {
                logs.on_event(&command()).unwrap();
            }
            logs.on_event(&finished(name)).unwrap();
        }
        logs.on_event(&Event::RunFinished {
            recap: Default::default(),
            exit_code: 0,
            interrupted: false,
            run_dir: dir.path().to_path_buf(),
            resume_command: None,
        })
        .unwrap();
        let text = std::fs::read_to_string(dir.path().join("n1.log")).unwrap();
        let ends: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(" ms, ") || l.contains("run finished"))
            .map(|l| l.split_once(' ').unwrap().1)
            .collect();
        assert_eq!(
            ends,
            [
                "TASK [step 1] ok in 0 ms, 2 remote commands",
                "TASK [step 2] ok in 0 ms, 0 remote commands",
                "TASK [step 3] ok in 0 ms, 1 remote command",
                "run finished: 3 remote commands sent to this host",
            ],
            "{text}"
        );
    }

    fn finished(host: &str, name: &str) -> Event {
        Event::TaskFinished {
            host: host.into(),
            play: 0,
            task: crate::report::Step::Task(0),
            name: name.into(),
            result: TaskResult::new(TaskStatus::Ok),
        }
    }

    fn run_finished(dir: &Path) -> Event {
        Event::RunFinished {
            recap: Default::default(),
            exit_code: 0,
            interrupted: false,
            run_dir: dir.to_path_buf(),
            resume_command: None,
        }
    }

    /// Regression (issue 13): at ~900 hosts one log's `open` failed with `Too many open
    /// files` and the whole listener was switched off, every other host's log with it.
    /// Now the failure is that host's alone: its lines wait for the next task's write.
    #[test]
    fn a_log_that_cannot_be_opened_costs_no_other_host_and_keeps_its_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = HostLogs::new(dir.path()).unwrap();
        let failures = logs.failures();
        // n2's log cannot be opened: a directory stands in its place.
        std::fs::create_dir(dir.path().join("n2.log")).unwrap();
        for host in ["n1", "n2", "n3"] {
            logs.on_event(&started(host)).unwrap();
            logs.on_event(&finished(host, "step 1")).unwrap();
        }
        for host in ["n1", "n3"] {
            let text = std::fs::read_to_string(dir.path().join(format!("{host}.log"))).unwrap();
            assert!(text.contains("TASK [step 1] ok in 0 ms"), "{host}: {text}");
        }
        assert!(
            !logs.files["n2"].pending.is_empty(),
            "n2's lines were dropped"
        );
        // The next task can write: both tasks' lines arrive, nothing is lost.
        std::fs::remove_dir(dir.path().join("n2.log")).unwrap();
        logs.on_event(&started("n2")).unwrap();
        logs.on_event(&finished("n2", "step 2")).unwrap();
        logs.on_event(&run_finished(dir.path())).unwrap();
        let text = std::fs::read_to_string(dir.path().join("n2.log")).unwrap();
        assert!(
            text.contains("TASK [step 1] ok") && text.contains("TASK [step 2] ok"),
            "{text}"
        );
        assert!(!text.contains("incomplete"), "{text}");
        assert_eq!(failures.warning(), None);
    }

    /// A log that never opens loses its lines at the end of the run: counted, and
    /// named for the recap.
    #[test]
    fn a_log_that_never_opens_is_named_with_the_lines_it_lost() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = HostLogs::new(dir.path()).unwrap();
        let failures = logs.failures();
        std::fs::create_dir(dir.path().join("n2.log")).unwrap();
        for host in ["n1", "n2"] {
            logs.on_event(&started(host)).unwrap();
            logs.on_event(&finished(host, "step 1")).unwrap();
        }
        logs.on_event(&run_finished(dir.path())).unwrap();
        let lost = failures.snapshot();
        assert_eq!(lost.keys().collect::<Vec<_>>(), ["n2"]);
        // started, finished, run finished
        assert_eq!(lost["n2"].lines, 3);
        let warning = failures.warning().expect("a warning");
        assert!(
            warning.starts_with("the per-host log of 1 host is incomplete")
                && warning.contains("\n  n2: 3 lines lost: "),
            "{warning}"
        );
        let n1 = std::fs::read_to_string(dir.path().join("n1.log")).unwrap();
        assert!(
            n1.contains("run finished") && !n1.contains("incomplete"),
            "{n1}"
        );
    }

    #[test]
    fn more_than_ten_failed_logs_are_summed_up() {
        let failures = LogFailures::default();
        let err = std::io::Error::other("Too many open files");
        for i in 0..12 {
            failures.record(&format!("n{i:02}"), &err, 2);
        }
        let warning = failures.warning().expect("a warning");
        assert_eq!(warning.lines().count(), 1 + 10 + 1, "{warning}");
        assert!(warning.ends_with("\n  … and 2 more"), "{warning}");
    }

    #[test]
    fn every_log_written_gives_no_warning() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = HostLogs::new(dir.path()).unwrap();
        logs.on_event(&started("n1")).unwrap();
        logs.on_event(&finished("n1", "step 1")).unwrap();
        assert_eq!(logs.failures().warning(), None);
    }

    #[test]
    fn an_interrupted_task_still_reaches_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut logs = HostLogs::new(dir.path()).unwrap();
        logs.on_event(&started("n/2")).unwrap();
        drop(logs);
        let text = std::fs::read_to_string(dir.path().join("n_2.log")).unwrap();
        assert!(
            text.ends_with("TASK [step 1] (play 1, task 1) started\n"),
            "{text}"
        );
    }
}

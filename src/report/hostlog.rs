//! One log file per host in the run directory: every task, the exact commands, their
//! output, exit code, duration and outcome. Already-redacted text only.
//!
//! A task's lines are gathered in memory and written with one `write` when it ends (or
//! at the end of the run); between tasks a host's log holds no buffer, so a fleet of
//! hundreds of hosts costs an open file each and no more.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Event, Listener};

pub struct HostLogs {
    dir: PathBuf,
    files: HashMap<String, HostLog>,
}

/// One host's log file and the lines of its current task, not yet written.
struct HostLog {
    file: File,
    pending: Vec<u8>,
    /// Remote commands sent for the current task, and for the whole run.
    commands: usize,
    total_commands: usize,
}

/// A task that logs more than this (a long loop, a big output) is written as it goes.
const PENDING_MAX: usize = 64 * 1024;

impl Write for HostLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() > PENDING_MAX {
            self.flush()?;
        }
        Ok(buf.len())
    }

    /// Writes the pending lines and lets their memory go.
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            self.file.write_all(&pending)?;
        }
        Ok(())
    }
}

impl Drop for HostLog {
    /// A run that ends without `RunFinished` (interrupted) still leaves its lines.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl HostLogs {
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(HostLogs {
            dir: dir.to_path_buf(),
            files: HashMap::new(),
        })
    }

    fn file(&mut self, host: &str) -> std::io::Result<&mut HostLog> {
        if !self.files.contains_key(host) {
            let path = self.dir.join(format!("{}.log", sanitize(host)));
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            self.files.insert(
                host.to_string(),
                HostLog {
                    file,
                    pending: Vec::new(),
                    commands: 0,
                    total_commands: 0,
                },
            );
        }
        self.files
            .get_mut(host)
            .ok_or_else(|| std::io::Error::other("host log vanished"))
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
                f.flush()?;
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
                f.flush()?;
            }
            Event::RunFinished { .. } => {
                for f in self.files.values_mut() {
                    let n = f.total_commands;
                    writeln!(
                        f,
                        "{} run finished: {} sent to this host",
                        now(),
                        crate::plural(n, "remote command", "remote commands")
                    )?;
                    f.flush()?;
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
        let path = dir.path().join("n1.log");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
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

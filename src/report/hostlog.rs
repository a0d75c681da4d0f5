//! One log file per host in the run directory: every task, the exact commands, their
//! output, exit code, duration and outcome. Already-redacted text only.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{Event, Listener};

pub struct HostLogs {
    dir: PathBuf,
    files: HashMap<String, BufWriter<File>>,
}

impl HostLogs {
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(HostLogs {
            dir: dir.to_path_buf(),
            files: HashMap::new(),
        })
    }

    fn file(&mut self, host: &str) -> std::io::Result<&mut BufWriter<File>> {
        if !self.files.contains_key(host) {
            let path = self.dir.join(format!("{}.log", sanitize(host)));
            let f = OpenOptions::new().create(true).append(true).open(path)?;
            self.files.insert(host.to_string(), BufWriter::new(f));
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
                let which = if *task == crate::execute::scheduler::GATHER_FACTS {
                    "facts".to_string()
                } else {
                    format!("task {}", task.saturating_add(1))
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
                writeln!(f)?;
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
                    f.flush()?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

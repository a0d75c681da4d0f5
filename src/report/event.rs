//! The events of a run and the result of one task on one host.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// How a task ended on a host, as Ansible names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Ok,
    Changed,
    Skipped,
    Failed,
    Unreachable,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Ok => "ok",
            TaskStatus::Changed => "changed",
            TaskStatus::Skipped => "skipped",
            TaskStatus::Failed => "failed",
            TaskStatus::Unreachable => "unreachable",
        }
    }

    /// Whether the host may go on with its next task.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            TaskStatus::Ok | TaskStatus::Changed | TaskStatus::Skipped
        )
    }
}

/// What one task did on one host. Strings are already redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    pub status: TaskStatus,
    /// Failed, but `ignore_errors` let the host go on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignored: bool,
    /// Failed, and a `rescue` caught it: the host goes on in the rescue.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rescued: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    /// The exact command(s) run, one per line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rc: Option<i32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// A unified diff of a changed (or would-be changed) file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    pub duration_ms: u64,
    /// The value `register:` stores, shaped as Ansible's (`rc`, `stdout_lines`, `changed`, ...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub registered: serde_json::Value,
}

impl TaskResult {
    pub fn new(status: TaskStatus) -> Self {
        TaskResult {
            status,
            ignored: false,
            rescued: false,
            msg: None,
            cmd: None,
            rc: None,
            stdout: String::new(),
            stderr: String::new(),
            diff: None,
            duration_ms: 0,
            registered: serde_json::Value::Null,
        }
    }

    pub fn with_msg(mut self, msg: impl Into<String>) -> Self {
        self.msg = Some(msg.into());
        self
    }
}

/// Which step of a play an event is about: fact gathering, or the play's task of this
/// index (from 0, as in the journal). In `--output json`, `"task":"facts"` or
/// `"task":N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Facts,
    Task(usize),
    /// Handler N of the play (index in its `handlers`), run at a flush. In `--output
    /// json`, `"task":"handler:N"`.
    Handler(usize),
}

impl Step {
    /// The task's index; `None` for fact gathering.
    pub fn task(self) -> Option<usize> {
        match self {
            Step::Facts | Step::Handler(_) => None,
            Step::Task(i) => Some(i),
        }
    }

    /// How many of the play's tasks the host has run once this step is over.
    pub fn tasks_run(self) -> usize {
        self.task().map_or(0, |i| i + 1)
    }
}

impl Serialize for Step {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Step::Facts => s.serialize_str("facts"),
            Step::Task(i) => s.serialize_u64(*i as u64),
            Step::Handler(i) => s.serialize_str(&format!("handler:{i}")),
        }
    }
}

/// Per-host counts for the final recap (Ansible's PLAY RECAP).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCounts {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub ignored: u32,
    /// Failures a `rescue` caught (not counted as failed, as in Ansible).
    #[serde(default)]
    pub rescued: u32,
}

impl HostCounts {
    pub fn count(&mut self, result: &TaskResult) {
        match result.status {
            // Ansible counts a changed task in both `ok` and `changed`.
            TaskStatus::Ok => self.ok += 1,
            TaskStatus::Changed => {
                self.ok += 1;
                self.changed += 1
            }
            TaskStatus::Skipped => self.skipped += 1,
            TaskStatus::Failed if result.rescued => self.rescued += 1,
            TaskStatus::Failed if result.ignored => {
                self.ok += 1;
                self.ignored += 1
            }
            TaskStatus::Failed => self.failed += 1,
            TaskStatus::Unreachable => self.unreachable += 1,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recap {
    pub hosts: IndexMap<String, HostCounts>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        playbook: PathBuf,
        run_dir: PathBuf,
        check: bool,
        resumed: bool,
        hosts: usize,
    },
    PlayStarted {
        play: usize,
        name: String,
        hosts: Vec<String>,
        batches: usize,
        /// Tasks each host runs in this play (fact gathering not counted).
        tasks: usize,
    },
    BatchStarted {
        play: usize,
        batch: usize,
        hosts: Vec<String>,
    },
    TaskStarted {
        host: String,
        play: usize,
        task: Step,
        name: String,
    },
    /// One command the task runs, before it runs (for the per-host log and -vv).
    CommandStarted {
        host: String,
        command: String,
    },
    TaskFinished {
        host: String,
        play: usize,
        task: Step,
        name: String,
        result: TaskResult,
    },
    /// Recorded as finished by an earlier, interrupted run: not run again.
    TaskAlreadyDone {
        host: String,
        play: usize,
        task: usize,
        name: String,
        status: TaskStatus,
    },
    /// No further batch of this play starts.
    PlayAborted {
        play: usize,
        reason: String,
    },
    Warning {
        message: String,
    },
    RunFinished {
        recap: Recap,
        exit_code: u8,
        interrupted: bool,
        run_dir: PathBuf,
        /// The command that continues this run where each host stopped, when it did
        /// not succeed.
        #[serde(skip_serializing_if = "Option::is_none")]
        resume_command: Option<String>,
    },
}

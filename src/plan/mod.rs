//! Plan: which hosts run which tasks, in which plays, batches and order. Pure data,
//! built from a [`Playbook`] and a [`HostSource`] without touching the network, printed
//! by `rtmig plan` and walked by the executor.
//!
//! Depends on [`crate::parse`] only; the inventory is reached through [`HostSource`] so
//! this module can be unit-tested with hosts held in memory.

use std::fmt;

use crate::parse::InputErrors;
use crate::parse::playbook::{Play, Playbook};

/// Where the plan takes its hosts from (the inventory, or a list in tests).
pub trait HostSource {
    /// The hosts matching `pattern` and, when given, `limit` (`--limit`), in Ansible's
    /// order (inventory order, each host once).
    fn select(&self, pattern: &str, limit: Option<&str>) -> Result<Vec<String>, String>;

    /// Render a play-level template (`hosts`, `serial`) with the variables a play sees
    /// before any host is chosen (play vars, extra vars). The default accepts plain
    /// strings only.
    fn render(&self, play: &Play, template: &str) -> Result<String, String> {
        let _ = play;
        if template.contains("{{") || template.contains("{%") {
            Err("templates are not available here".to_string())
        } else {
            Ok(template.to_string())
        }
    }
}

/// Every play of a playbook, resolved to hosts, batches and tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub plays: Vec<PlayPlan>,
}

/// One play: its hosts after `order`, the batches `serial` makes of them, and the
/// tasks left after `--tags`, `--skip-tags` and `--start-at`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayPlan {
    /// Index in `playbook.plays`.
    pub index: usize,
    pub name: String,
    /// The host pattern after rendering.
    pub pattern: String,
    /// After `order`; empty when the pattern matched no host (the play is skipped).
    pub hosts: Vec<String>,
    pub batches: Vec<Vec<String>>,
    pub gather_facts: bool,
    pub any_errors_fatal: bool,
    pub max_fail_percentage: Option<f64>,
    pub tasks: Vec<TaskPlan>,
}

/// One task as every host of the play will meet it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPlan {
    /// Index in `play.tasks`.
    pub index: usize,
    /// The name as written, or the action's name.
    pub name: String,
    /// The action (`shell`, `template`, ...).
    pub action: &'static str,
    pub run_once: bool,
    /// As written; rendered per host at run time.
    pub delegate_to: Option<String>,
    /// The `when` expressions as written.
    pub when: Vec<String>,
    /// The task's tags and the play's.
    pub tags: Vec<String>,
}

/// What narrows the plan, from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions<'a> {
    pub limit: Option<&'a str>,
    /// `--tags` (empty: all).
    pub tags: &'a [String],
    /// `--skip-tags`.
    pub skip_tags: &'a [String],
    /// `--start-at`: the first task to run (a task name or glob).
    pub start_at: Option<&'a str>,
}

/// Build the plan of `playbook` against `hosts`.
pub fn build(
    playbook: &Playbook,
    hosts: &dyn HostSource,
    opts: &PlanOptions,
) -> Result<Plan, InputErrors> {
    let _ = (playbook, hosts, opts);
    todo!("planning lands in a later commit")
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        Ok(())
    }
}

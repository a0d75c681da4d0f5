//! Plan: which hosts run which tasks, in which plays, batches and order. Pure data,
//! built from a [`Playbook`] and a [`HostSource`] without touching the network, printed
//! by `rtmig plan` and walked by the executor.
//!
//! The rules are Ansible's: hosts are ordered by the play's `order`, then cut into
//! batches by `serial` exactly as `PlaybookExecutor._get_serialized_batches` does;
//! `--tags`/`--skip-tags` follow `Taggable.evaluate_tags` (`always`, `never`, `all`,
//! `tagged`, `untagged`, play tags inherited by tasks); `--start-at` skips every task
//! before the first one whose name matches, across plays.
//!
//! Depends on [`crate::parse`] only; the inventory is reached through [`HostSource`] so
//! this module can be unit-tested with hosts held in memory.

mod display;

use crate::parse::playbook::{Order, Play, Playbook, SerialItem, Task};
use crate::parse::{InputError, InputErrors, Location};

/// Where the plan takes its hosts from (the inventory, or a list in tests).
pub trait HostSource {
    /// The hosts matching `pattern` and, when given, `limit` (`--limit`), in Ansible's
    /// order (inventory order, each host once). A pattern that matches nothing gives an
    /// empty list (the play is skipped, as Ansible does); `Err` is for a pattern that
    /// cannot be read, and its message is reported at the play's `hosts`.
    fn select(&self, pattern: &str, limit: Option<&str>) -> Result<Vec<String>, String>;

    /// Render a play-level template (`hosts: "{{ rtmig_workers_group }}"`, a `serial`
    /// item) with the variables a play sees before any host is chosen (play vars, extra
    /// vars, the inventory's `all` vars). The default accepts plain strings only.
    fn render(&self, play: &Play, template: &str) -> Result<String, String> {
        let _ = play;
        if template.contains("{{") || template.contains("{%") {
            Err("play-level templates cannot be rendered here".to_string())
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
    /// Empty when `hosts` is.
    pub batches: Vec<Vec<String>>,
    /// `serial` after rendering, as shown to the operator (`1, 2, 4, 8`); `None`: all
    /// hosts in one batch.
    pub serial: Option<String>,
    pub order: Order,
    pub gather_facts: bool,
    pub any_errors_fatal: bool,
    pub max_fail_percentage: Option<f64>,
    /// The play's own tags (every task has them too).
    pub tags: Vec<String>,
    pub tasks: Vec<TaskPlan>,
    /// How many of the play's tasks `--tags`, `--skip-tags` or `--start-at` left out.
    pub skipped_tasks: usize,
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
    /// `--tags` (empty: all, as Ansible's default `all`).
    pub tags: &'a [String],
    /// `--skip-tags`.
    pub skip_tags: &'a [String],
    /// `--start-at`: the first task to run, by name or glob (`Drain*`).
    pub start_at: Option<&'a str>,
}

/// Build the plan of `playbook` against `hosts`. Every problem is returned (a host
/// pattern that cannot be read, a `serial` template that gives no size, a `--start-at`
/// that names no task).
pub fn build(
    playbook: &Playbook,
    hosts: &dyn HostSource,
    opts: &PlanOptions,
) -> Result<Plan, InputErrors> {
    let mut errors = Vec::new();
    let start = match opts.start_at {
        None => None,
        Some(wanted) => match find_start(playbook, wanted) {
            Some(at) => Some(at),
            None => {
                errors.push(InputError::in_file(
                    &playbook.path,
                    format!("`--start-at {wanted}` matches no task name in the playbook"),
                ));
                None
            }
        },
    };

    let mut plays = Vec::new();
    for (index, play) in playbook.plays.iter().enumerate() {
        let pattern = match render(hosts, play, &play.hosts.value, &play.hosts.location) {
            Ok(p) => p,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut selected = match hosts.select(&pattern, opts.limit) {
            Ok(h) => h,
            Err(e) => {
                errors.push(InputError::at(
                    &play.hosts.location,
                    format!("`hosts` `{pattern}`: {e}"),
                ));
                continue;
            }
        };
        apply_order(&mut selected, play.order);
        let (sizes, serial) = match play.serial.as_ref() {
            None => (Vec::new(), None),
            Some(s) => match resolve_serial(hosts, play, &s.items) {
                Ok(sizes) => {
                    let shown = sizes
                        .iter()
                        .map(Size::to_string)
                        .collect::<Vec<_>>()
                        .join(", ");
                    (sizes, Some(shown))
                }
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            },
        };
        let batches = serialize(&selected, &sizes);

        let mut tasks = Vec::new();
        let mut skipped_tasks = 0;
        for (task_index, task) in play.tasks.iter().enumerate() {
            let before_start = start.is_some_and(|s| (index, task_index) < s);
            let tags = task_tags(play, task);
            if before_start || !selected_by_tags(&tags, opts.tags, opts.skip_tags) {
                skipped_tasks += 1;
                continue;
            }
            tasks.push(TaskPlan {
                index: task_index,
                name: task.display_name().to_string(),
                action: task.action.name(),
                run_once: task.run_once,
                delegate_to: task.delegate_to.as_ref().map(|d| d.value.clone()),
                when: task.when.iter().map(|w| w.value.clone()).collect(),
                tags,
            });
        }

        plays.push(PlayPlan {
            index,
            name: play.name.clone(),
            pattern,
            hosts: selected,
            batches,
            serial,
            order: play.order,
            gather_facts: play.gather_facts,
            any_errors_fatal: play.any_errors_fatal,
            max_fail_percentage: play.max_fail_percentage,
            tags: play.tags.clone(),
            tasks,
            skipped_tasks,
        });
    }
    if errors.is_empty() {
        Ok(Plan { plays })
    } else {
        Err(InputErrors(errors))
    }
}

fn render(
    hosts: &dyn HostSource,
    play: &Play,
    template: &str,
    at: &Location,
) -> Result<String, InputError> {
    hosts
        .render(play, template)
        .map_err(|e| InputError::at(at, format!("cannot render `{template}`: {e}")))
}

/// A resolved `serial` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Hosts per batch; 0 takes every remaining host.
    Count(u64),
    /// Percentage of the play's hosts, rounded down, at least 1.
    Percent(u64),
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Size::Count(n) => write!(f, "{n}"),
            Size::Percent(p) => write!(f, "{p}%"),
        }
    }
}

const SERIAL_EXPECTED: &str = "expected a number, a percentage such as \"30%\", or a list of them";

/// Render the templated items of `serial`; a template may give one size or a list.
fn resolve_serial(
    hosts: &dyn HostSource,
    play: &Play,
    items: &[SerialItem],
) -> Result<Vec<Size>, InputError> {
    let mut sizes = Vec::new();
    for item in items {
        match item {
            SerialItem::Count(n) => sizes.push(Size::Count(*n)),
            SerialItem::Percent(p) => sizes.push(Size::Percent(*p)),
            SerialItem::Template(t) => {
                let rendered = render(hosts, play, &t.value, &t.location)?;
                let bad = || {
                    InputError::at(
                        &t.location,
                        format!("`serial` rendered to `{rendered}`: {SERIAL_EXPECTED}"),
                    )
                };
                let trimmed = rendered.trim();
                let words: Vec<&str> =
                    match trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                        Some(inner) => inner
                            .split(',')
                            .map(str::trim)
                            .filter(|w| !w.is_empty())
                            .collect(),
                        None => vec![trimmed],
                    };
                if words.is_empty() {
                    return Err(bad());
                }
                for word in words {
                    let word = word.trim_matches(|c| c == '"' || c == '\'');
                    match crate::parse::playbook::parse_serial_word(word) {
                        Some(SerialItem::Count(n)) => sizes.push(Size::Count(n)),
                        Some(SerialItem::Percent(p)) => sizes.push(Size::Percent(p)),
                        _ => return Err(bad()),
                    }
                }
            }
        }
    }
    Ok(sizes)
}

/// Cut `hosts` into batches as Ansible's `_get_serialized_batches` does: each size in
/// turn (the last one repeating), a percentage taken of all the play's hosts, rounded
/// down but at least 1; a size of 0 (or no sizes) takes every remaining host.
pub fn serialize(hosts: &[String], sizes: &[Size]) -> Vec<Vec<String>> {
    let total = hosts.len() as u64;
    let mut batches = Vec::new();
    let mut rest = hosts;
    let mut item = 0;
    while !rest.is_empty() {
        let size = match sizes.get(item) {
            None => 0,
            Some(Size::Count(n)) => *n,
            Some(Size::Percent(p)) => (p * total / 100).max(1),
        };
        if size == 0 {
            batches.push(rest.to_vec());
            break;
        }
        let take = (size.min(rest.len() as u64)) as usize;
        batches.push(rest[..take].to_vec());
        rest = &rest[take..];
        item = (item + 1).min(sizes.len().saturating_sub(1));
    }
    batches
}

/// Order hosts as the play's `order` says (hosts come in inventory order).
pub fn apply_order(hosts: &mut [String], order: Order) {
    match order {
        Order::Inventory => {}
        Order::ReverseInventory => hosts.reverse(),
        Order::Sorted => hosts.sort(),
        Order::ReverseSorted => {
            hosts.sort();
            hosts.reverse();
        }
        Order::Shuffle => shuffle(hosts),
    }
}

/// Fisher-Yates with a seed from the standard library's per-process random state (no
/// extra dependency for one shuffle).
fn shuffle(hosts: &mut [String]) {
    use std::hash::{BuildHasher, Hasher};
    let mut state = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in (1..hosts.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        hosts.swap(i, j);
    }
}

/// The task's tags followed by the play's (inherited), each once.
fn task_tags(play: &Play, task: &Task) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for t in task.tags.iter().chain(&play.tags) {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    tags
}

/// Ansible's `Taggable.evaluate_tags`: whether a task with `tags` runs under `--tags
/// only` (empty: `all`) and `--skip-tags skip`.
pub fn selected_by_tags(tags: &[String], only: &[String], skip: &[String]) -> bool {
    let untagged = ["untagged".to_string()];
    let tags: &[String] = if tags.is_empty() { &untagged } else { tags };
    let has = |set: &[String], t: &str| set.iter().any(|x| x == t);
    let meets = |a: &[String], b: &[String]| a.iter().any(|x| b.contains(x));
    let is_untagged = tags == untagged;
    let all = ["all".to_string()];
    let only: &[String] = if only.is_empty() { &all } else { only };

    // The branches of Ansible's `if only_tags:` chain, in its order.
    let mut run = has(tags, "always")
        || (has(only, "all") && !has(tags, "never"))
        || meets(tags, only)
        || (has(only, "tagged") && !is_untagged && !has(tags, "never"));
    if run && !skip.is_empty() {
        if has(skip, "all") {
            if !has(tags, "always") || has(skip, "always") {
                run = false;
            }
        } else if meets(tags, skip) || (has(skip, "tagged") && !is_untagged) {
            run = false;
        }
    }
    run
}

/// The first task, in playbook order, whose name is `wanted` or matches it as a glob.
fn find_start(playbook: &Playbook, wanted: &str) -> Option<(usize, usize)> {
    for (p, play) in playbook.plays.iter().enumerate() {
        for (t, task) in play.tasks.iter().enumerate() {
            let name = task.display_name();
            if name == wanted || glob(wanted, name) {
                return Some((p, t));
            }
        }
    }
    None
}

/// Shell-style match with `*` and `?`, as Python's `fnmatch` for those two.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Hosts held in memory, for tests and for tools that have a plain host list. Patterns
/// are lists (`,` or `:`) of `all`, group names, host names and globs, with `&group`
/// (intersection) and `!group` (exclusion) applied after the plain parts, as Ansible
/// orders them. Results follow the order of `hosts`.
#[derive(Debug, Clone, Default)]
pub struct StaticHosts {
    /// Every host, in inventory order.
    pub hosts: Vec<String>,
    /// Group name → member hosts.
    pub groups: Vec<(String, Vec<String>)>,
}

impl StaticHosts {
    fn one(&self, part: &str) -> Vec<String> {
        if part == "all" || part == "*" {
            self.hosts.clone()
        } else if let Some((_, members)) = self.groups.iter().find(|(g, _)| g == part) {
            members.clone()
        } else {
            self.hosts
                .iter()
                .filter(|h| glob(part, h))
                .cloned()
                .collect()
        }
    }

    fn matching(&self, pattern: &str) -> Vec<String> {
        let parts: Vec<&str> = pattern
            .split([',', ':'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let mut out: Vec<String> = Vec::new();
        for part in parts.iter().filter(|p| !p.starts_with(['!', '&'])) {
            for h in self.one(part) {
                if !out.contains(&h) {
                    out.push(h);
                }
            }
        }
        for part in parts.iter().filter_map(|p| p.strip_prefix('&')) {
            let that = self.one(part);
            out.retain(|h| that.contains(h));
        }
        for part in parts.iter().filter_map(|p| p.strip_prefix('!')) {
            let that = self.one(part);
            out.retain(|h| !that.contains(h));
        }
        self.hosts
            .iter()
            .filter(|h| out.contains(h))
            .cloned()
            .collect()
    }
}

impl HostSource for StaticHosts {
    fn select(&self, pattern: &str, limit: Option<&str>) -> Result<Vec<String>, String> {
        let mut hosts = self.matching(pattern);
        if let Some(limit) = limit {
            let allowed = self.matching(limit);
            hosts.retain(|h| allowed.contains(h));
        }
        Ok(hosts)
    }
}

#[cfg(test)]
mod tests;

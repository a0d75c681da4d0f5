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

use crate::parse::playbook::{Action, Block, Meta, Order, Play, Playbook, SerialItem, Task};
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

    /// The top-level variables a template reads, to tell which plays' hosts depend on
    /// run-time data. The default knows none.
    fn variables_in(&self, template: &str) -> Vec<String> {
        let _ = template;
        Vec::new()
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
    /// `Some` when the hosts depend on what the run finds: they are decided when the
    /// play starts, and `hosts`/`batches` above are what the inventory alone gives.
    pub runtime: Option<RuntimeHosts>,
    /// The play's blocks, as ranges of indices in `play.tasks` (see [`Block`]).
    pub blocks: Vec<Block>,
    /// Where handlers are flushed (indices in `play.tasks`, see `Play::flush_points`).
    pub flush_points: Vec<usize>,
    pub handlers: Vec<HandlerPlan>,
    pub force_handlers: bool,
}

/// A handler: run at a flush when a task that notified it changed something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerPlan {
    /// Index in `play.handlers`.
    pub index: usize,
    pub name: String,
    pub action: &'static str,
    pub listen: Vec<String>,
    /// The handlers this one notifies (indices in `play.handlers`).
    pub notify: Vec<usize>,
}

/// A play whose hosts are decided at run time, and from what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeHosts {
    /// `hosts:` as written.
    pub written: String,
    /// Each run-time source the pattern depends on (see [`runtime_sources`]).
    pub because: Vec<String>,
    /// Why the inventory alone gives no preview (then `hosts` is empty).
    pub preview_error: Option<String>,
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
    /// The innermost block holding the task (an index in [`PlayPlan::blocks`]).
    pub block: Option<usize>,
    /// The handlers the task notifies when it changes something (indices in
    /// `play.handlers`).
    pub notify: Vec<usize>,
    /// `Some` for a `meta` task: the scheduler acts on it.
    pub meta: Option<Meta>,
    /// A failure no rescue catches stops the batch (the task's, its block's or the
    /// play's `any_errors_fatal`).
    pub any_errors_fatal: bool,
    /// For `include_tasks`/`include_role`: how many of the plan's tasks right after
    /// this one are its own (run per host as it decides); 0 otherwise.
    pub span: usize,
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
        let because = runtime_sources(playbook, index, hosts);
        let (decided, preview_error) = match play_hosts(play, hosts, opts.limit, None) {
            Ok(d) => (d, None),
            // Hosts decided at run time may not be computable from the inventory alone;
            // that is not an error (the run decides them when the play starts).
            Err(e) if !because.is_empty() => (
                PlayHosts {
                    pattern: play.hosts.value.clone(),
                    hosts: Vec::new(),
                    batches: Vec::new(),
                    serial: None,
                },
                Some(e.message),
            ),
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let runtime = (!because.is_empty()).then(|| RuntimeHosts {
            written: play.hosts.value.clone(),
            because,
            preview_error,
        });
        let PlayHosts {
            pattern,
            hosts: selected,
            batches,
            serial,
        } = decided;

        let mut tasks = Vec::new();
        let mut skipped_tasks = 0;
        // Includes in the plan, innermost last: (plan position, last task index).
        let mut open: Vec<(usize, usize)> = Vec::new();
        // An include left out leaves its tasks out (they run only through it).
        let mut left_out_until: Option<usize> = None;
        for (task_index, task) in play.tasks.iter().enumerate() {
            while open.last().is_some_and(|&(_, last)| task_index > last) {
                open.pop();
            }
            if left_out_until.is_some_and(|last| task_index <= last) {
                skipped_tasks += 1;
                continue;
            }
            left_out_until = None;
            let span = match &task.action {
                crate::parse::playbook::Action::Include(i) => i.span,
                _ => 0,
            };
            let before_start = start.is_some_and(|s| (index, task_index) < s);
            let tags = task_tags(play, task);
            if before_start || !selected_by_tags(&tags, opts.tags, opts.skip_tags) {
                skipped_tasks += 1;
                if span > 0 {
                    left_out_until = Some(task_index + span);
                }
                continue;
            }
            for &(position, _) in &open {
                let header: &mut TaskPlan = &mut tasks[position];
                header.span += 1;
            }
            if span > 0 {
                open.push((tasks.len(), task_index + span));
            }
            tasks.push(TaskPlan {
                index: task_index,
                name: match (&task.name, &task.action) {
                    (None, Action::Meta(m)) => task.shown_name(m.name()),
                    _ => task.shown_name(task.display_name()),
                },
                action: task.action.name(),
                run_once: task.run_once || task.action.bypasses_host_loop(),
                delegate_to: task.delegate_to.as_ref().map(|d| d.value.clone()),
                when: task.when.iter().map(|w| w.value.clone()).collect(),
                tags,
                block: task.block,
                notify: notified(play, task),
                meta: match task.action {
                    Action::Meta(m) => Some(m),
                    _ => None,
                },
                any_errors_fatal: task.any_errors_fatal.unwrap_or(play.any_errors_fatal),
                span: 0,
            });
        }

        // A block none of whose own tasks run cannot fail: its rescue does not run
        // either (inner blocks first, as they may empty an outer one).
        for block in play.blocks.iter().rev() {
            let runs = |r: std::ops::Range<usize>| tasks.iter().any(|t| r.contains(&t.index));
            if !runs(block.start..block.rescue) && runs(block.rescue..block.always) {
                let before = tasks.len();
                tasks.retain(|t| !(block.rescue..block.always).contains(&t.index));
                skipped_tasks += before - tasks.len();
            }
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
            runtime,
            blocks: play.blocks.clone(),
            flush_points: play.flush_points.clone(),
            handlers: play
                .handlers
                .iter()
                .enumerate()
                .map(|(i, h)| HandlerPlan {
                    index: i,
                    name: h.shown_name(h.display_name()),
                    action: h.action.name(),
                    listen: h.listen.clone(),
                    notify: notified(play, h),
                })
                .collect(),
            force_handlers: play.force_handlers,
        });
    }
    if errors.is_empty() {
        Ok(Plan { plays })
    } else {
        Err(InputErrors(errors))
    }
}

/// The handlers a task's `notify` names, each once, in the order defined.
fn notified(play: &Play, task: &Task) -> Vec<usize> {
    let mut out: Vec<usize> = task
        .notify
        .iter()
        .flat_map(|n| play.handlers_for(&n.value))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A play's hosts and batches.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayHosts {
    /// The host pattern after rendering.
    pub pattern: String,
    /// After `order` (and `--limit`).
    pub hosts: Vec<String>,
    pub batches: Vec<Vec<String>>,
    /// `serial` after rendering, as shown (`1, 2, 4, 8`).
    pub serial: Option<String>,
}

/// Decide a play's hosts as Ansible does when the play starts: render `hosts:` (and
/// `serial`) with what `source` knows, select them (within `limit`), order them, cut
/// them into batches. `recorded`: the hosts (already ordered) a resumed run's journal
/// says the play started with; they are used instead of a new selection, so a resumed
/// run keeps the interrupted run's decisions.
pub fn play_hosts(
    play: &Play,
    source: &dyn HostSource,
    limit: Option<&str>,
    recorded: Option<&[String]>,
) -> Result<PlayHosts, InputError> {
    let pattern = render(source, play, &play.hosts.value, &play.hosts.location)?;
    let selected = match recorded {
        Some(hosts) => hosts.to_vec(),
        None => {
            let mut selected = source.select(&pattern, limit).map_err(|e| {
                InputError::at(&play.hosts.location, format!("`hosts` `{pattern}`: {e}"))
            })?;
            apply_order(&mut selected, play.order);
            selected
        }
    };
    let (sizes, serial) = match play.serial.as_ref() {
        None => (Vec::new(), None),
        Some(s) => {
            let sizes = resolve_serial(source, play, &s.items)?;
            let shown = sizes
                .iter()
                .map(Size::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            (sizes, Some(shown))
        }
    };
    let batches = serialize(&selected, &sizes);
    Ok(PlayHosts {
        pattern,
        hosts: selected,
        batches,
        serial,
    })
}

/// Why play `index`'s hosts can only be decided when it starts: each run-time source
/// its `hosts:` depends on (empty: the inventory decides them). A pattern depends on
/// `hostvars` (what earlier plays registered, set or gathered) when its template, or a
/// play variable it uses, reads it; on the groups earlier `add_host`/`group_by` tasks
/// change when it names one of them, reads `groups`, or matches by `all` or a glob.
pub fn runtime_sources(playbook: &Playbook, index: usize, source: &dyn HostSource) -> Vec<String> {
    let play = &playbook.plays[index];
    // The variables `hosts:` reads, through the play vars it uses (templates too).
    let mut names: Vec<String> = Vec::new();
    let mut todo = source.variables_in(&play.hosts.value);
    while let Some(name) = todo.pop() {
        if names.contains(&name) || names.len() > 200 {
            continue;
        }
        if let Some(data) = play.vars.get(&name) {
            for t in &data.strings {
                todo.extend(source.variables_in(&t.value));
            }
        }
        names.push(name);
    }
    let mut because = Vec::new();
    if names.iter().any(|n| n == "hostvars") {
        because.push("`hostvars` (what earlier plays registered, set or gathered)".to_string());
    }
    // The words of the pattern as written and, when it renders, as rendered.
    let mut words: Vec<String> = Vec::new();
    let rendered = source.render(play, &play.hosts.value).ok();
    for text in std::iter::once(play.hosts.value.as_str()).chain(rendered.as_deref()) {
        if crate::parse::playbook::is_template(text) {
            continue;
        }
        for w in text.split([',', ':']) {
            let w = w.trim().trim_start_matches(['!', '&']);
            if !w.is_empty() && !words.iter().any(|x| x == w) {
                words.push(w.to_string());
            }
        }
    }
    let broad = names.iter().any(|n| n == "groups")
        || words
            .iter()
            .any(|w| w == "all" || w.contains(['*', '?', '[']) || w.starts_with('~'));
    for (p, earlier) in playbook.plays[..index].iter().enumerate() {
        for (t, task) in earlier.tasks.iter().enumerate() {
            let touched: Option<Vec<String>> = match &task.action {
                Action::AddHost(a) => literal_names(a.groups.as_ref()),
                Action::GroupBy(g) => (!crate::parse::playbook::is_template(&g.key.value))
                    .then(|| vec![g.key.value.replace(' ', "-")]),
                _ => continue,
            };
            let what = match &touched {
                Some(groups) if broad || groups.iter().any(|g| words.contains(g)) => {
                    let named: Vec<String> = groups.iter().map(|g| format!("`{g}`")).collect();
                    if named.is_empty() {
                        "the hosts of `all`".to_string()
                    } else {
                        format!("group {}", named.join(", "))
                    }
                }
                Some(_) => continue,
                None => "the groups".to_string(),
            };
            because.push(format!(
                "{what}, changed at run time by `{}` in play {} task {} `{}` ({})",
                task.action.name(),
                p + 1,
                t + 1,
                task.display_name(),
                task.location
            ));
        }
    }
    because
}

/// The group names a `groups:` argument gives when none is a template.
fn literal_names(groups: Option<&crate::parse::playbook::Data>) -> Option<Vec<String>> {
    let Some(data) = groups else {
        return Some(Vec::new());
    };
    if data
        .strings
        .iter()
        .any(|t| crate::parse::playbook::is_template(&t.value))
    {
        return None;
    }
    let items: Vec<String> = match &data.value {
        serde_json::Value::String(s) => s.split(',').map(|g| g.trim().to_string()).collect(),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        _ => return None,
    };
    Some(items.into_iter().filter(|g| !g.is_empty()).collect())
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
            let shown = task.shown_name(name);
            if name == wanted || glob(wanted, name) || shown == wanted || glob(wanted, &shown) {
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

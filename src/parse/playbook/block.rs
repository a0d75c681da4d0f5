//! Task lists with `block` / `rescue` / `always`: flattened into the play's task list
//! (a block's tasks, then its rescue, then its always), each block recorded as a
//! [`Block`] of ranges, and the keywords written on a block given to every task in it
//! as Ansible's inheritance does (a task's own value wins; `when` conditions add up;
//! tags, vars and environment merge).

use indexmap::IndexMap;

use super::ctx::{Ctx, list};
use super::node::{Key, Node, Value};
use super::task::{become_method, parse_task};
use super::types::*;

/// The keywords a block mapping takes.
const BLOCK_KEYWORDS: &[&str] = &[
    "block",
    "rescue",
    "always",
    "name",
    "when",
    "become",
    "become_user",
    "become_method",
    "tags",
    "delegate_to",
    "vars",
    "environment",
    "ignore_errors",
    "no_log",
    "check_mode",
    "any_errors_fatal",
];

/// The play's tasks being flattened.
#[derive(Debug, Default)]
pub struct Flat {
    pub tasks: Vec<Task>,
    pub blocks: Vec<Block>,
}

impl Flat {
    /// One task (or none), in no block.
    pub fn of(task: Option<Task>) -> Flat {
        Flat {
            tasks: task.into_iter().collect(),
            blocks: Vec::new(),
        }
    }

    /// Append `other` (an imported file's or a role's tasks and blocks, its indices its
    /// own) inside block `parent`: its ranges and block numbers shifted to ours, its
    /// outermost blocks and loose tasks under `parent`.
    pub fn append(&mut self, other: Flat, parent: Option<usize>) {
        let (t0, b0) = (self.tasks.len(), self.blocks.len());
        for mut b in other.blocks {
            b.start += t0;
            b.rescue += t0;
            b.always += t0;
            b.end += t0;
            b.parent = b.parent.map(|p| p + b0).or(parent);
            self.blocks.push(b);
        }
        for mut t in other.tasks {
            t.block = t.block.map(|b| b + b0).or(parent);
            self.tasks.push(t);
        }
    }
}

/// What enclosing blocks give their tasks.
#[derive(Debug, Clone, Default)]
struct Inherited {
    when: Vec<Expr>,
    become_: Option<bool>,
    become_user: Option<Text>,
    tags: Vec<String>,
    delegate_to: Option<Text>,
    vars: Vars,
    environment: IndexMap<String, Text>,
    ignore_errors: Option<bool>,
    ignore_errors_template: Option<Text>,
    no_log: Option<bool>,
    check_mode: Option<bool>,
    any_errors_fatal: Option<bool>,
}

/// Read a `pre_tasks`/`tasks`/`post_tasks` list into `flat`.
pub fn task_list(ctx: &mut Ctx, node: &Node, section: &str, flat: &mut Flat) {
    list_into(
        ctx,
        node,
        &format!("`{section}`"),
        None,
        &Inherited::default(),
        flat,
    );
}

/// Read a list of tasks named `what` in messages (`a tasks file`) into `flat`.
pub fn list_of(ctx: &mut Ctx, node: &Node, what: &str, flat: &mut Flat) {
    list_into(ctx, node, what, None, &Inherited::default(), flat);
}

/// Read `handlers:`: plain tasks (no blocks), each may `listen`.
pub fn handler_list(ctx: &mut Ctx, node: &Node) -> Vec<Task> {
    let items = match &node.value {
        Value::Null => return Vec::new(),
        Value::Seq(items) => items,
        other => {
            ctx.error(
                node.pos,
                format!("`handlers` must be a list of tasks, found {}", other.kind()),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        if let Value::Map(entries) = &item.value
            && let Some((k, _)) = entries.iter().find(|(k, _)| k.name == "block")
        {
            ctx.error(
                k.pos,
                "a handler cannot be a `block`; write the handler's tasks as separate handlers listening to one topic (`listen`)",
            );
            continue;
        }
        out.extend(parse_task(ctx, item));
    }
    out
}

fn list_into(
    ctx: &mut Ctx,
    node: &Node,
    section: &str,
    parent: Option<usize>,
    inherited: &Inherited,
    flat: &mut Flat,
) {
    let items = match &node.value {
        Value::Null => return,
        Value::Seq(items) => items,
        other => {
            ctx.error(
                node.pos,
                format!("{section} must be a list of tasks, found {}", other.kind()),
            );
            return;
        }
    };
    for item in items {
        let entries = match &item.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        };
        let key = |name: &str| entries.and_then(|e| e.iter().find(|(k, _)| k.name == name));
        if key("block").is_some() {
            if let Some(entries) = entries {
                block_into(ctx, item, entries, parent, inherited, flat);
            }
            continue;
        }
        if let Some((k, _)) = key("rescue").or_else(|| key("always")) {
            ctx.error(
                k.pos,
                format!("`{}` needs a `block` in the same mapping", k.name),
            );
            continue;
        }
        // A task, or the tasks (and blocks) an import or include brings in.
        let mut entry = super::import::task_entry(ctx, item);
        for task in &mut entry.tasks {
            if let Some(entries) = entries {
                inherit(task, entries, inherited);
            }
            if !task.listen.is_empty() {
                ctx.errors.push(crate::parse::InputError::at(
                    &task.location,
                    "`listen` is for handlers; this task is in a task list",
                ));
            }
        }
        flat.append(entry, parent);
    }
}

fn block_into(
    ctx: &mut Ctx,
    node: &Node,
    entries: &[(Key, Node)],
    parent: Option<usize>,
    inherited: &Inherited,
    flat: &mut Flat,
) {
    let unknown: Vec<&(Key, Node)> = entries
        .iter()
        .filter(|(k, _)| !BLOCK_KEYWORDS.contains(&k.name.as_str()))
        .collect();
    for (k, _) in unknown {
        ctx.error(
            k.pos,
            format!(
                "unknown block keyword `{}`: a block takes a list under `block` (an action goes in a task of it), and {}",
                k.name,
                list(&BLOCK_KEYWORDS[1..])
            ),
        );
    }
    let get = |name: &str| entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| v);
    let mut mine = inherited.clone();
    if let Some(n) = get("when") {
        mine.when.extend(ctx.exprs(n, "when"));
    }
    if let Some(n) = get("become") {
        mine.become_ = ctx.boolean(n, "become").or(mine.become_);
    }
    if let Some(n) = get("become_user") {
        mine.become_user = ctx.text(n, "become_user").or(mine.become_user);
    }
    if let Some(n) = get("become_method") {
        become_method(ctx, n);
    }
    if let Some(n) = get("any_errors_fatal") {
        mine.any_errors_fatal = ctx.boolean(n, "any_errors_fatal").or(mine.any_errors_fatal);
    }
    if let Some(n) = get("tags") {
        for t in ctx.tags(n) {
            if !mine.tags.contains(&t) {
                mine.tags.push(t);
            }
        }
    }
    if let Some(n) = get("delegate_to") {
        mine.delegate_to = ctx.text(n, "delegate_to").or(mine.delegate_to);
    }
    if let Some(n) = get("vars") {
        mine.vars.extend(ctx.vars(n, "vars"));
    }
    if let Some(n) = get("environment") {
        mine.environment.extend(ctx.environment(n));
    }
    if let Some(n) = get("ignore_errors") {
        let (b, t) = ctx.boolean_or_template(n, "ignore_errors");
        if b.is_some() || t.is_some() {
            mine.ignore_errors = b;
            mine.ignore_errors_template = t;
        }
    }
    for (key, slot) in [
        ("no_log", &mut mine.no_log),
        ("check_mode", &mut mine.check_mode),
    ] {
        if let Some(n) = get(key)
            && let Some(b) = ctx.boolean(n, key)
        {
            *slot = Some(b);
        }
    }
    let name = get("name")
        .and_then(|n| ctx.text(n, "name"))
        .map(|t| t.value);

    let id = flat.blocks.len();
    let start = flat.tasks.len();
    flat.blocks.push(Block {
        location: ctx.loc(node.pos),
        name,
        parent,
        start,
        rescue: start,
        always: start,
        end: start,
    });
    if let Some(n) = get("block") {
        list_into(ctx, n, "`block`", Some(id), &mine, flat);
    }
    let rescue = flat.tasks.len();
    if let Some(n) = get("rescue") {
        if rescue == start {
            // Nothing can fail in an empty block: its rescue never runs (still checked).
            let mut unused = Flat::default();
            list_into(ctx, n, "`rescue`", None, &mine, &mut unused);
        } else {
            list_into(ctx, n, "`rescue`", Some(id), &mine, flat);
        }
    }
    let always = flat.tasks.len();
    if let Some(n) = get("always") {
        list_into(ctx, n, "`always`", Some(id), &mine, flat);
    }
    let end = flat.tasks.len();
    let b = &mut flat.blocks[id];
    b.rescue = rescue;
    b.always = always;
    b.end = end;
}

/// Give `task` what its blocks say, where it says nothing itself.
fn inherit(task: &mut Task, entries: &[(Key, Node)], from: &Inherited) {
    let has = |name: &str| entries.iter().any(|(k, _)| k.name == name);
    if !from.when.is_empty() {
        let mut when = from.when.clone();
        when.append(&mut task.when);
        task.when = when;
    }
    if task.become_.is_none() {
        task.become_ = from.become_;
    }
    if task.become_user.is_none() {
        task.become_user = from.become_user.clone();
    }
    for t in &from.tags {
        if !task.tags.contains(t) {
            task.tags.push(t.clone());
        }
    }
    if task.delegate_to.is_none() {
        task.delegate_to = from.delegate_to.clone();
    }
    if !from.vars.is_empty() {
        let mut vars = from.vars.clone();
        vars.extend(std::mem::take(&mut task.vars));
        task.vars = vars;
    }
    if !from.environment.is_empty() {
        let mut env = from.environment.clone();
        env.extend(std::mem::take(&mut task.environment));
        task.environment = env;
    }
    if !has("ignore_errors") {
        if let Some(b) = from.ignore_errors {
            task.ignore_errors = b;
        }
        if let Some(t) = &from.ignore_errors_template {
            task.ignore_errors_template = Some(t.clone());
        }
    }
    if !has("no_log")
        && let Some(b) = from.no_log
    {
        task.no_log = b;
    }
    if task.check_mode.is_none() {
        task.check_mode = from.check_mode;
    }
    if task.any_errors_fatal.is_none() {
        task.any_errors_fatal = from.any_errors_fatal;
    }
}

/// Every `notify` of the play's tasks and handlers must name a handler or a `listen`
/// topic (Ansible refuses the run otherwise). A templated name is left to the run.
pub fn check_notify(ctx: &mut Ctx, play: &Play) {
    for task in play.tasks.iter().chain(&play.handlers) {
        for name in &task.notify {
            if super::ctx::is_template(&name.value) || !play.handlers_for(&name.value).is_empty() {
                continue;
            }
            ctx.errors.push(crate::parse::InputError::at(
                &name.location,
                format!(
                    "handler `{}` not found: no handler of the play has this `name` or `listen`",
                    name.value
                ),
            ));
        }
    }
}

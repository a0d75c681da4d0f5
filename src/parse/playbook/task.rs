//! Tasks: a mapping whose keys are task keywords plus exactly one action.

use super::action::{self, ACTIONS};
use super::ctx::{Ctx, list, suggest};
use super::node::{Key, Node, Value};
use super::types::*;

/// The task keywords rtmig has.
pub const TASK_KEYWORDS: &[&str] = &[
    "name",
    "when",
    "register",
    "until",
    "retries",
    "delay",
    "ignore_errors",
    "changed_when",
    "failed_when",
    "delegate_to",
    "run_once",
    "become",
    "become_user",
    "become_method",
    "tags",
    "timeout",
    "loop",
    "with_items",
    "with_list",
    "with_dict",
    "with_fileglob",
    "with_sequence",
    "with_together",
    "with_nested",
    "with_subelements",
    "with_first_found",
    "loop_control",
    "vars",
    "environment",
    "no_log",
    "check_mode",
    "args",
    "notify",
    "listen",
    "any_errors_fatal",
];

/// Ansible task keywords rtmig knows but does not have, with what to do instead.
const UNSUPPORTED_KEYWORDS: &[(&str, &str)] = &[
    (
        "async",
        "tasks run in parallel across hosts already; use `timeout` to bound one",
    ),
    ("poll", "rtmig has no async tasks"),
    ("throttle", "use `serial` on the play, or `--forks`"),
    ("local_action", "use `delegate_to: localhost`"),
    ("action", "write the action as a key (`shell: ...`)"),
    (
        "delegate_facts",
        "facts set on a delegated task stay with the task's host",
    ),
    (
        "ignore_unreachable",
        "an unreachable host stops for this run",
    ),
];

const LOOP_CONTROL: &[&str] = &[
    "loop_var",
    "index_var",
    "label",
    "pause",
    "extended",
    "extended_allitems",
];

pub fn parse_task(ctx: &mut Ctx, node: &Node) -> Option<Task> {
    let entries = ctx.map(node, "a task")?;
    let location = ctx.loc(node.pos);

    // Find the action among the keys, reporting unknown keys and a second action.
    let mut found: Option<(&'static str, &Key, &Node)> = None;
    let mut ok = true;
    for (key, value) in entries {
        if TASK_KEYWORDS.contains(&key.name.as_str()) {
            continue;
        }
        if let Some(name) = action::action_name(&key.name) {
            match found {
                Some((first, first_key, _)) => {
                    ctx.error(
                        key.pos,
                        format!(
                            "a task takes exactly one action, found `{first}` (line {}) and `{name}`",
                            first_key.pos.line
                        ),
                    );
                    ok = false;
                }
                None => found = Some((name, key, value)),
            }
            continue;
        }
        ok = false;
        if let Some((_, why)) = UNSUPPORTED_KEYWORDS.iter().find(|(k, _)| *k == key.name) {
            ctx.error(
                key.pos,
                format!("task keyword `{}` is not supported: {why}", key.name),
            );
        } else if let Some((name, instead)) = action::unsupported_action(&key.name) {
            ctx.error(
                key.pos,
                format!("action `{name}` is not supported: {instead}"),
            );
        } else {
            let mut all: Vec<&str> = ACTIONS.to_vec();
            all.extend_from_slice(TASK_KEYWORDS);
            let message = match suggest(&key.name, &all) {
                Some(close) => {
                    format!(
                        "unknown action or task keyword `{}`; did you mean `{close}`?",
                        key.name
                    )
                }
                None => format!(
                    "unknown action or task keyword `{}`; the actions are {}",
                    key.name,
                    list(ACTIONS)
                ),
            };
            ctx.error(key.pos, message);
        }
    }
    let get = |name: &str| entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| v);

    let Some((action_name, action_key, action_value)) = found else {
        if ok {
            ctx.error(
                node.pos,
                format!("a task needs an action, one of {}", list(ACTIONS)),
            );
        }
        return None;
    };
    let action = action::parse(ctx, action_name, action_key, action_value, get("args"));

    let name = get("name").and_then(|n| ctx.text(n, "name"));
    let when = get("when")
        .map(|n| ctx.exprs(n, "when"))
        .unwrap_or_default();
    let register = get("register").and_then(|n| ctx.identifier(n, "register"));
    let until = get("until")
        .map(|n| ctx.exprs(n, "until"))
        .unwrap_or_default();
    let retries = get("retries").and_then(|n| ctx.number(n, "retries"));
    let delay = get("delay").and_then(|n| ctx.number(n, "delay"));
    let (ignore_errors, ignore_errors_template) = match get("ignore_errors") {
        Some(n) => ctx.boolean_or_template(n, "ignore_errors"),
        None => (None, None),
    };
    let ignore_errors = ignore_errors.unwrap_or(false);
    let changed_when = get("changed_when")
        .map(|n| ctx.exprs(n, "changed_when"))
        .unwrap_or_default();
    let failed_when = get("failed_when")
        .map(|n| ctx.exprs(n, "failed_when"))
        .unwrap_or_default();
    let delegate_to = get("delegate_to").and_then(|n| ctx.text(n, "delegate_to"));
    let run_once = get("run_once")
        .and_then(|n| ctx.boolean(n, "run_once"))
        .unwrap_or(false);
    let become_ = get("become").and_then(|n| ctx.boolean(n, "become"));
    let become_user = get("become_user").and_then(|n| ctx.text(n, "become_user"));
    if let Some(method) = get("become_method") {
        become_method(ctx, method);
    }
    let tags = get("tags").map(|n| ctx.tags(n)).unwrap_or_default();
    let timeout = get("timeout").and_then(|n| ctx.number(n, "timeout"));
    let vars = get("vars").map(|n| ctx.vars(n, "vars")).unwrap_or_default();
    let environment = get("environment")
        .map(|n| ctx.environment(n))
        .unwrap_or_default();
    let no_log = get("no_log")
        .and_then(|n| ctx.boolean(n, "no_log"))
        .unwrap_or(false);
    let check_mode = get("check_mode").and_then(|n| ctx.boolean(n, "check_mode"));
    let loop_ = parse_loop(ctx, entries);
    let any_errors_fatal = get("any_errors_fatal").and_then(|n| ctx.boolean(n, "any_errors_fatal"));
    let notify = get("notify")
        .map(|n| names(ctx, n, "notify"))
        .unwrap_or_default();
    let listen = get("listen")
        .map(|n| names(ctx, n, "listen"))
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.value)
        .collect();

    if matches!(action, Some(Action::Transfer(_))) && delegate_to.is_some() {
        ctx.error(
            action_key.pos,
            "`transfer` cannot be delegated: it copies from `from` to the task's host",
        );
    }

    Some(Task {
        location,
        digest: node.value.digest(),
        name,
        action: action?,
        action_location: ctx.loc(action_key.pos),
        when,
        register,
        until,
        retries,
        delay,
        ignore_errors,
        ignore_errors_template,
        changed_when,
        failed_when,
        delegate_to,
        run_once,
        become_,
        become_user,
        tags,
        timeout,
        loop_,
        vars,
        environment,
        no_log,
        check_mode,
        block: None,
        notify,
        listen,
        any_errors_fatal,
        role: ctx.role.clone(),
    })
}

/// A name or a list of names (`notify`, `listen`).
fn names(ctx: &mut Ctx, node: &Node, key: &str) -> Vec<Text> {
    match &node.value {
        Value::Seq(items) => items.iter().filter_map(|n| ctx.text(n, key)).collect(),
        _ => ctx.text(node, key).into_iter().collect(),
    }
}

/// rtmig becomes through sudo only; `become_method: sudo` is accepted for Ansible files.
pub fn become_method(ctx: &mut Ctx, node: &Node) {
    if node.value.scalar_text().as_deref() != Some("sudo") {
        let found = node
            .value
            .scalar_text()
            .unwrap_or_else(|| node.value.kind().into());
        ctx.error(
            node.pos,
            format!(
                "`become_method` must be `sudo` (rtmig becomes through sudo only), found `{found}`"
            ),
        );
    }
}

fn parse_loop(ctx: &mut Ctx, entries: &[(Key, Node)]) -> Option<Loop> {
    let get = |name: &str| entries.iter().find(|(k, _)| k.name == name);
    let mut found: Option<(&Key, &Node, Option<&'static str>)> = None;
    for (key, value) in entries {
        let with = match key.name.as_str() {
            "loop" => None,
            name => match name
                .strip_prefix("with_")
                .and_then(|p| WITH_LOOPS.iter().find(|w| **w == p))
            {
                Some(plugin) => Some(*plugin),
                None => continue,
            },
        };
        if let Some((first, _, _)) = found {
            ctx.error(
                key.pos,
                format!(
                    "a task takes one loop, found `{}` (line {}) and `{}`",
                    first.name, first.pos.line, key.name
                ),
            );
            return None;
        }
        found = Some((key, value, with));
    }
    let control = get("loop_control");
    let Some((key, items, with)) = found else {
        if let Some((k, _)) = control {
            ctx.error(k.pos, "`loop_control` needs `loop`");
        }
        return None;
    };
    match (&items.value, with) {
        (Value::Seq(_), _) => {}
        (Value::Str(s), _) if super::ctx::is_template(s) => {}
        // A plugin's single term: `with_sequence: start=1 end=5`, `with_fileglob: '*.conf'`.
        (Value::Str(_) | Value::Map(_), Some(_)) => {}
        (other, _) => {
            ctx.error(
                items.pos,
                format!(
                    "`{}` must be a list or a template giving one, found {}",
                    key.name,
                    other.kind()
                ),
            );
            return None;
        }
    }
    if with == Some("sequence") {
        let specs: Vec<&Node> = match &items.value {
            Value::Seq(specs) => specs.iter().collect(),
            _ => vec![items],
        };
        for spec in specs {
            if let Value::Str(s) = &spec.value
                && !super::ctx::is_template(s)
                && let Err(err) = crate::sequence::Sequence::parse(s)
            {
                ctx.error(spec.pos, err);
            }
        }
    }
    let mut lp = Loop {
        items: ctx.data(items),
        with: with.map(str::to_string),
        loop_var: "item".to_string(),
        index_var: None,
        label: None,
        pause: None,
        extended: false,
    };
    if let Some((_, control)) = control
        && let Some(entries) = ctx.map(control, "`loop_control`")
    {
        ctx.check_keys(entries, LOOP_CONTROL, &[], "`loop_control` keyword");
        for (k, v) in entries {
            match k.name.as_str() {
                "loop_var" => lp.loop_var = ctx.identifier(v, "loop_var").unwrap_or(lp.loop_var),
                "index_var" => lp.index_var = ctx.identifier(v, "index_var"),
                "label" => lp.label = ctx.text(v, "label"),
                "pause" => lp.pause = ctx.number(v, "pause"),
                "extended" => lp.extended = ctx.boolean(v, "extended").unwrap_or(false),
                // `ansible_loop.allitems` is always there; the key is accepted.
                "extended_allitems" => {
                    ctx.boolean(v, "extended_allitems");
                }
                _ => {}
            }
        }
    }
    Some(lp)
}

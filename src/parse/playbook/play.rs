//! Plays: the top of a playbook, a list of mappings of play keywords.

use super::block::{Flat, check_notify, handler_list, task_list};
use super::ctx::{Ctx, is_template};
use super::node::{Node, Pos, Value};
use super::task::become_method;
use super::types::*;
use crate::parse::InputError;

/// The play keywords rtmig has.
pub const PLAY_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "serial",
    "order",
    "max_fail_percentage",
    "any_errors_fatal",
    "vars",
    "vars_files",
    "become",
    "become_user",
    "become_method",
    "gather_facts",
    "tags",
    "environment",
    "pre_tasks",
    "tasks",
    "post_tasks",
    "handlers",
    "force_handlers",
];

/// Ansible play keywords rtmig knows but does not have.
const UNSUPPORTED_KEYWORDS: &[(&str, &str)] = &[
    (
        "import_playbook",
        "list the plays in one file, or run the playbooks one after another",
    ),
    ("include", "list the plays in one file"),
    ("roles", "rtmig has no roles; list the tasks in the play"),
    (
        "strategy",
        "hosts always run their tasks independently (Ansible's `free` within a batch)",
    ),
    (
        "connection",
        "rtmig connects over SSH; use `delegate_to: localhost` for controller tasks",
    ),
    ("remote_user", "set `ansible_user` in the inventory"),
    ("gather_subset", "rtmig gathers one small fact set"),
    ("vars_prompt", "pass values with `-e`"),
    ("throttle", "use `serial` or `--forks`"),
];

const ORDERS: &[(&str, Order)] = &[
    ("inventory", Order::Inventory),
    ("reverse_inventory", Order::ReverseInventory),
    ("sorted", Order::Sorted),
    ("reverse_sorted", Order::ReverseSorted),
    ("shuffle", Order::Shuffle),
];

pub fn parse_plays(ctx: &mut Ctx, root: &Node) -> Vec<Play> {
    let items = match &root.value {
        Value::Seq(items) => items,
        Value::Null => {
            ctx.error(
                Pos { line: 1, column: 1 },
                "the playbook is empty; expected a list of plays",
            );
            return Vec::new();
        }
        other => {
            ctx.error(
                root.pos,
                format!("a playbook must be a list of plays, found {}", other.kind()),
            );
            return Vec::new();
        }
    };
    if items.is_empty() {
        ctx.error(root.pos, "the playbook has no plays");
    }
    items
        .iter()
        .filter_map(|item| parse_play(ctx, item))
        .collect()
}

fn parse_play(ctx: &mut Ctx, node: &Node) -> Option<Play> {
    let entries = ctx.map(node, "a play")?;
    ctx.check_keys(entries, PLAY_KEYWORDS, UNSUPPORTED_KEYWORDS, "play keyword");
    let get = |name: &str| entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| v);

    let hosts = match get("hosts") {
        Some(n) => hosts(ctx, n),
        // `- import_playbook: x` is not a play without hosts; its own error says enough.
        None if get("import_playbook").is_some() || get("include").is_some() => None,
        None => {
            ctx.error(
                node.pos,
                "a play needs `hosts` (a host pattern such as `all`)",
            );
            None
        }
    };
    let name = get("name")
        .and_then(|n| ctx.text(n, "name"))
        .map(|t| t.value);
    let serial = get("serial").and_then(|n| serial(ctx, n));
    let order = get("order").and_then(|n| order(ctx, n)).unwrap_or_default();
    let max_fail_percentage = get("max_fail_percentage").and_then(|n| percentage(ctx, n));
    let any_errors_fatal = get("any_errors_fatal")
        .and_then(|n| ctx.boolean(n, "any_errors_fatal"))
        .unwrap_or(false);
    let mut vars = get("vars").map(|n| ctx.vars(n, "vars")).unwrap_or_default();
    let vars_files = get("vars_files")
        .map(|n| vars_files(ctx, n))
        .unwrap_or_default();
    // Ansible's precedence: a play's vars_files override its vars.
    vars.extend(load_vars_files(ctx, &vars_files));
    let become_ = get("become").and_then(|n| ctx.boolean(n, "become"));
    let become_user = get("become_user").and_then(|n| ctx.text(n, "become_user"));
    if let Some(method) = get("become_method") {
        become_method(ctx, method);
    }
    let gather_facts = get("gather_facts")
        .and_then(|n| ctx.boolean(n, "gather_facts"))
        .unwrap_or(true);
    let tags = get("tags").map(|n| ctx.tags(n)).unwrap_or_default();
    let environment = get("environment")
        .map(|n| ctx.environment(n))
        .unwrap_or_default();
    let mut flat = Flat::default();
    let mut flush_points = Vec::new();
    for section in ["pre_tasks", "tasks", "post_tasks"] {
        if let Some(list) = get(section) {
            task_list(ctx, list, section, &mut flat);
        }
        flush_points.push(flat.tasks.len());
    }
    let handlers = get("handlers")
        .map(|n| handler_list(ctx, n))
        .unwrap_or_default();
    let force_handlers = get("force_handlers")
        .and_then(|n| ctx.boolean(n, "force_handlers"))
        .unwrap_or(false);
    let hosts = hosts?;
    let play = Play {
        location: ctx.loc(node.pos),
        name: name.unwrap_or_else(|| hosts.value.clone()),
        hosts,
        serial,
        order,
        max_fail_percentage,
        any_errors_fatal,
        vars,
        vars_files,
        become_,
        become_user,
        gather_facts,
        tags,
        environment,
        tasks: flat.tasks,
        blocks: flat.blocks,
        flush_points,
        handlers,
        force_handlers,
    };
    check_notify(ctx, &play);
    Some(play)
}

/// A pattern, or a list of patterns joined with `,` as Ansible does.
fn hosts(ctx: &mut Ctx, node: &Node) -> Option<Text> {
    let text = match &node.value {
        Value::Seq(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|n| ctx.text(n, "hosts"))
                .map(|t| t.value)
                .collect();
            Text {
                value: parts.join(","),
                location: ctx.loc(node.pos),
            }
        }
        _ => ctx.text(node, "hosts")?,
    };
    if text.value.trim().is_empty() {
        ctx.error(
            node.pos,
            "`hosts` must not be empty; expected a host pattern such as `all`",
        );
        return None;
    }
    Some(text)
}

const SERIAL_EXPECTED: &str = "expected a number, a percentage such as \"30%\", or a list of them";

fn serial(ctx: &mut Ctx, node: &Node) -> Option<Serial> {
    let items = match &node.value {
        Value::Null => return None,
        Value::Seq(items) if items.is_empty() => {
            ctx.error(
                node.pos,
                format!("`serial` must not be an empty list; {SERIAL_EXPECTED}"),
            );
            return None;
        }
        Value::Seq(items) => items
            .iter()
            .map(|n| serial_item(ctx, n))
            .collect::<Option<Vec<_>>>()?,
        _ => vec![serial_item(ctx, node)?],
    };
    Some(Serial {
        items,
        location: ctx.loc(node.pos),
    })
}

fn serial_item(ctx: &mut Ctx, node: &Node) -> Option<SerialItem> {
    let parsed = match &node.value {
        Value::Int(i) if *i >= 0 => Some(SerialItem::Count(*i as u64)),
        Value::UInt(u) => Some(SerialItem::Count(*u)),
        Value::Str(s) if super::ctx::is_template(s) => Some(SerialItem::Template(Text {
            value: s.clone(),
            location: ctx.loc(node.pos),
        })),
        Value::Str(s) => parse_serial_word(s),
        _ => None,
    };
    if parsed.is_none() {
        let found = node
            .value
            .scalar_text()
            .map_or_else(|| node.value.kind().to_string(), |s| format!("`{s}`"));
        ctx.error(
            node.pos,
            format!("invalid `serial` value {found}: {SERIAL_EXPECTED}"),
        );
    }
    parsed
}

/// `"30%"`, `"30 %"` or `"4"`.
pub fn parse_serial_word(s: &str) -> Option<SerialItem> {
    let s = s.trim();
    match s.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<u64>().ok().map(SerialItem::Percent),
        None => s.parse::<u64>().ok().map(SerialItem::Count),
    }
}

fn order(ctx: &mut Ctx, node: &Node) -> Option<Order> {
    let word = node.value.scalar_text().unwrap_or_default();
    let found = ORDERS
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(_, o)| *o);
    if found.is_none() {
        let names: Vec<&str> = ORDERS.iter().map(|(n, _)| *n).collect();
        ctx.error(
            node.pos,
            format!(
                "invalid `order` `{word}`, expected one of {}",
                super::ctx::list(&names)
            ),
        );
    }
    found
}

fn percentage(ctx: &mut Ctx, node: &Node) -> Option<f64> {
    let value = match &node.value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(s) => s.trim().trim_end_matches('%').trim().parse::<f64>().ok(),
        _ => None,
    };
    match value {
        Some(v) if (0.0..=100.0).contains(&v) => Some(v),
        _ => {
            let found = node
                .value
                .scalar_text()
                .unwrap_or_else(|| node.value.kind().into());
            ctx.error(
                node.pos,
                format!("`max_fail_percentage` must be a number from 0 to 100, found `{found}`"),
            );
            None
        }
    }
}

/// Read the play's `vars_files` now, relative to the playbook's folder, later files
/// winning: rtmig checks them before anything runs, so a path cannot be a template. A
/// vault-encrypted file is decrypted (its strings are secrets, never checked as
/// templates), and so is a `!vault` value in one.
fn load_vars_files(ctx: &mut Ctx, files: &[Text]) -> Vars {
    let mut vars = Vars::new();
    for file in files {
        if is_template(&file.value) {
            ctx.errors.push(InputError::at(
                &file.location,
                "a `vars_files` path cannot be a template here: rtmig reads vars files before the play starts",
            ));
            continue;
        }
        let path = ctx.dir.join(&file.value);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                ctx.errors.push(InputError::at(
                    &file.location,
                    format!("cannot read vars file `{}`: {e}", path.display()),
                ));
                continue;
            }
        };
        let (text, encrypted) = match ctx.decryption.file(text.trim_start()) {
            Some(Ok(plain)) => (plain, true),
            Some(Err(e)) => {
                ctx.errors.push(InputError {
                    file: path.clone(),
                    position: Some((1, 1)),
                    message: e.to_string(),
                });
                continue;
            }
            None => (text, false),
        };
        if text.trim().is_empty() {
            continue;
        }
        let root = match super::read_node(&path, &text) {
            Ok(root) => root,
            Err(e) => {
                ctx.errors.push(e);
                continue;
            }
        };
        let mut sub = Ctx::new(&path);
        sub.decryption = ctx.decryption.clone();
        let mut found = sub.vars(&root, "vars_files");
        ctx.errors.append(&mut sub.errors);
        if encrypted {
            for data in found.values_mut() {
                ctx.decryption.vault.reveal_strings(&data.value);
                data.strings.clear();
            }
        }
        vars.extend(found);
    }
    vars
}

fn vars_files(ctx: &mut Ctx, node: &Node) -> Vec<Text> {
    match &node.value {
        Value::Seq(items) => items
            .iter()
            .filter_map(|n| ctx.text(n, "vars_files"))
            .collect(),
        Value::Null => Vec::new(),
        _ => ctx.text(node, "vars_files").into_iter().collect(),
    }
}

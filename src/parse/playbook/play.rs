//! Plays: the top of a playbook, a list of mappings of play keywords.

use super::block::{Flat, check_notify, handler_list, task_list};
use super::ctx::{Ctx, is_template};
use super::import;
use super::node::{Key, Node, Pos, Value};
use super::task::become_method;
use super::types::*;
use crate::parse::{InputError, Location};

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
    "roles",
    "tasks",
    "post_tasks",
    "handlers",
    "force_handlers",
];

/// Ansible play keywords rtmig knows but does not have.
const UNSUPPORTED_KEYWORDS: &[(&str, &str)] = &[
    ("include", "write `import_playbook`"),
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
    let mut plays = Vec::new();
    for item in items {
        match import_playbook_key(item) {
            Some((key, value)) => plays.extend(import_playbook(ctx, item, key, value)),
            None => plays.extend(parse_play(ctx, item)),
        }
    }
    plays
}

/// `- import_playbook: FILE` (or `ansible.builtin.import_playbook`).
fn import_playbook_key(node: &Node) -> Option<(&Key, &Node)> {
    let Value::Map(entries) = &node.value else {
        return None;
    };
    entries.iter().find_map(|(k, v)| {
        let bare = k.name.strip_prefix("ansible.builtin.").unwrap_or(&k.name);
        (bare == "import_playbook").then_some((k, v))
    })
}

/// The plays of another playbook, relative to this one's folder, read with their own
/// folder (their `vars_files`, roles and sources are found from there, as Ansible
/// does). `tags` and `vars` on the import apply to each play.
fn import_playbook(ctx: &mut Ctx, node: &Node, key: &Key, value: &Node) -> Vec<Play> {
    let entries = match &node.value {
        Value::Map(e) => e.as_slice(),
        _ => &[],
    };
    let known = [key.name.as_str(), "name", "tags", "vars"];
    ctx.check_keys(entries, &known, &[], "keyword of `import_playbook`");
    let get = |n: &str| entries.iter().find(|(k, _)| k.name == n).map(|(_, v)| v);
    let tags = get("tags").map(|n| ctx.tags(n)).unwrap_or_default();
    let vars = get("vars").map(|n| ctx.vars(n, "vars")).unwrap_or_default();
    let Some(file) = ctx.text(value, "import_playbook") else {
        return Vec::new();
    };
    if is_template(&file.value) {
        ctx.error(
            value.pos,
            "`import_playbook` is static: its file name cannot be a template",
        );
        return Vec::new();
    }
    let path = ctx.dir.join(&file.value);
    if !path.is_file() {
        ctx.error(
            value.pos,
            format!("`import_playbook`: playbook `{}` not found", path.display()),
        );
        return Vec::new();
    }
    if let Err(message) = import::enter(ctx, &path) {
        ctx.error(value.pos, message);
        return Vec::new();
    }
    let Some(root) = import::read_import(ctx, &path, value.pos, "the playbook") else {
        ctx.stack.pop();
        return Vec::new();
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let outer_dir = std::mem::replace(&mut ctx.dir, dir);
    let mut plays = import::within(ctx, &path, |ctx| parse_plays(ctx, &root));
    ctx.dir = outer_dir;
    ctx.stack.pop();
    for play in &mut plays {
        for t in &tags {
            if !play.tags.contains(t) {
                play.tags.push(t.clone());
            }
        }
        if !vars.is_empty() {
            let own = std::mem::take(&mut play.vars);
            play.vars = vars.clone();
            play.vars.extend(own);
        }
    }
    plays
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
    let outer_roles = ctx.play_roles.take();
    let mut flat = Flat::default();
    // A templated `vars_files` entry: read per host when the play starts.
    flat.tasks.extend(run_time_vars_files(&vars_files));
    let mut flush_points = Vec::new();
    for section in ["pre_tasks", "roles", "tasks", "post_tasks"] {
        if let Some(list) = get(section) {
            if section == "roles" {
                flat.append(import::roles(ctx, list), None);
            } else {
                task_list(ctx, list, section, &mut flat);
            }
        }
        // As Ansible compiles a play: a flush after pre_tasks, after the roles and the
        // tasks together, after post_tasks.
        if section == "roles" {
            continue;
        }
        flush_points.push(flat.tasks.len());
    }
    let own_handlers = get("handlers")
        .map(|n| handler_list(ctx, n))
        .unwrap_or_default();
    let force_handlers = get("force_handlers")
        .and_then(|n| ctx.boolean(n, "force_handlers"))
        .unwrap_or(false);
    let mut roles = std::mem::replace(&mut ctx.play_roles, outer_roles);
    // The roles' handlers first, then the play's (Ansible's order).
    let mut handlers = std::mem::take(&mut roles.handlers);
    handlers.extend(own_handlers);
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
        dir: ctx.dir.clone(),
        role_defaults: roles.defaults,
        role_vars: roles.vars,
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

/// Read the play's literal `vars_files` now, relative to the playbook's folder, later
/// files winning, so a missing one is an error before anything runs (templated ones are
/// read per host: see [`run_time_vars_files`]). A vault-encrypted file is decrypted
/// (its strings are secrets, never checked as templates), and so is a `!vault` value.
fn load_vars_files(ctx: &mut Ctx, files: &[Text]) -> Vars {
    let mut vars = Vars::new();
    for file in files {
        if is_template(&file.value) {
            // Read per host when the play starts (see `run_time_vars_files`).
            continue;
        }
        let path = ctx.dir.join(&file.value);
        if let Some(found) = read_vars_file(ctx, &path, &file.location) {
            vars.extend(found);
        }
    }
    vars
}

/// One vars file (a play's `vars_files`, a role's `defaults/` or `vars/`), its read
/// error at `at`, its own errors located in it. A vault-encrypted file is decrypted.
pub fn read_vars_file(ctx: &mut Ctx, path: &std::path::Path, at: &Location) -> Option<Vars> {
    let path = path.to_path_buf();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            ctx.errors.push(InputError::at(
                at,
                format!("cannot read vars file `{}`: {e}", path.display()),
            ));
            return None;
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
            return None;
        }
        None => (text, false),
    };
    if text.trim().is_empty() {
        return Some(Vars::new());
    }
    let root = match super::read_node(&path, &text) {
        Ok(root) => root,
        Err(e) => {
            ctx.errors.push(e);
            return None;
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
    Some(found)
}

/// A templated `vars_files` entry (`vars/{{ ansible_os_family }}.yml`) is read per host
/// when the play starts, as Ansible does: rtmig puts an `include_vars` of it before the
/// play's first task (so its variables rank with `set_fact`'s, above task vars, where
/// Ansible ranks them with the play's).
fn run_time_vars_files(files: &[Text]) -> impl Iterator<Item = Task> + '_ {
    files
        .iter()
        .filter(|f| is_template(&f.value))
        .map(|file| Task {
            location: file.location.clone(),
            digest: format!("vars_files:{}", file.value),
            name: Some(Text {
                value: format!("vars_files {}", file.value),
                location: file.location.clone(),
            }),
            action: Action::IncludeVars(IncludeVars {
                file: file.clone(),
                vars: None,
                name: None,
            }),
            action_location: file.location.clone(),
            when: Vec::new(),
            register: None,
            until: Vec::new(),
            retries: None,
            delay: None,
            ignore_errors: false,
            ignore_errors_template: None,
            changed_when: Vec::new(),
            failed_when: Vec::new(),
            delegate_to: None,
            run_once: false,
            become_: None,
            become_user: None,
            tags: vec!["always".into()],
            timeout: None,
            loop_: None,
            vars: Vars::new(),
            environment: Default::default(),
            no_log: false,
            check_mode: None,
            role: None,
            block: None,
            notify: Vec::new(),
            listen: Vec::new(),
            any_errors_fatal: None,
        })
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

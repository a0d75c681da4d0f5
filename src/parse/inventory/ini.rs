//! INI inventories as Ansible's `ini` inventory plugin reads them: hosts before any
//! section are `ungrouped`; `[group]` lists hosts (`name[01:20]`, `name:port`, then
//! `key=value` variables split like a shell line), `[group:vars]` holds `key=value`
//! lines, `[group:children]` names child groups which may be declared later. Values are
//! typed with Python's `literal_eval` as Ansible does (`1`, `True`, `'x'`, `80,443`).
//! Comments start with `#` or `;`. A child group or a `:vars` section for a group that
//! is never declared is an error, as in Ansible.

use std::path::Path;
use std::sync::LazyLock;

use indexmap::IndexMap;
use regex::Regex;
use serde_json::Value;

use super::address::expand_host_pattern;
use super::data::{Data, GroupId, Owner, UNGROUPED};
use super::pyliteral::literal_eval;
use crate::parse::InputError;
use crate::shell_words::split_with_comments;

static SECTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").expect("static regex"));
static GROUP_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").expect("static regex"));

#[derive(Clone, Copy, PartialEq)]
enum State {
    Hosts,
    Children,
    Vars,
    /// Lines of a section whose type was refused (reported once, at its header).
    Skip,
}

/// A group named before it is declared: by `[x:vars]`, or as a child in `[p:children]`.
struct Pending {
    line: u64,
    column: u64,
    state: State,
    parents: Vec<GroupId>,
}

/// An INI value: a Python literal when it is one, the text otherwise.
fn parse_value(text: &str) -> Value {
    literal_eval(text).unwrap_or_else(|| Value::String(text.to_string()))
}

pub fn read(path: &Path, text: &str, data: &mut Data) -> Vec<InputError> {
    let mut errors = Vec::new();
    let mut pending: IndexMap<String, Pending> = IndexMap::new();
    let mut group: GroupId = UNGROUPED;
    let mut state = State::Hosts;

    for (index, raw) in text.lines().enumerate() {
        let line_no = index as u64 + 1;
        let indent = raw.len() - raw.trim_start().len();
        let column = raw[..indent].chars().count() as u64 + 1;
        let line = raw.trim();
        let mut error = |col: u64, message: String| {
            errors.push(InputError {
                file: path.to_path_buf(),
                position: Some((line_no, col)),
                message,
            });
        };
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }

        if let Some(c) = SECTION.captures(line) {
            let name = c[1].to_string();
            let kind = c.get(2).map(|m| m.as_str()).unwrap_or("hosts");
            state = match kind {
                "hosts" => State::Hosts,
                "children" => State::Children,
                "vars" => State::Vars,
                other => {
                    error(
                        column,
                        format!(
                            "section `{line}` has unknown type `{other}`, expected `children` or `vars`"
                        ),
                    );
                    State::Skip
                }
            };
            if !matches!(kind, "hosts" | "children" | "vars") {
                group = data.add_group(&name);
                continue;
            }
            if data.group_id(&name).is_none()
                && state == State::Vars
                && !pending.contains_key(&name)
            {
                pending.insert(
                    name.clone(),
                    Pending {
                        line: line_no,
                        column,
                        state,
                        parents: Vec::new(),
                    },
                );
            }
            group = data.add_group(&name);
            if state != State::Vars
                && let Some(p) = pending.get(&name)
            {
                if p.state == State::Children {
                    add_pending_children(&name, &mut pending, data, &mut errors, path);
                } else {
                    pending.shift_remove(&name);
                }
            }
            continue;
        } else if line.starts_with('[') && line.ends_with(']') {
            error(
                column,
                format!(
                    "invalid section `{line}`: a section is `[group]`, `[group:vars]` or `[group:children]` without spaces"
                ),
            );
            continue;
        }

        match state {
            State::Skip => {}
            State::Hosts => {
                let tokens = match split_with_comments(line) {
                    Ok(t) => t,
                    Err(e) => {
                        error(column, format!("cannot split host line: {e}"));
                        continue;
                    }
                };
                let Some(first) = tokens.first() else {
                    continue;
                };
                let (names, port) = match expand_host_pattern(first) {
                    Ok(x) => x,
                    Err(e) => {
                        error(column, e);
                        continue;
                    }
                };
                if first.trim().ends_with(':') && port.is_none() {
                    error(
                        column,
                        format!("host `{first}` ends in `:`, which is reserved for a port number"),
                    );
                    continue;
                }
                if names.iter().any(|n| n.trim() == "---") {
                    error(
                        column,
                        "`---` is not a host; this looks like a YAML file".into(),
                    );
                    continue;
                }
                let mut vars = Vec::new();
                let mut bad = false;
                for t in &tokens[1..] {
                    let col = raw
                        .find(t.as_str())
                        .map(|i| raw[..i].chars().count() as u64 + 1)
                        .unwrap_or(column);
                    match t.split_once('=') {
                        Some((k, v)) => vars.push((k.to_string(), parse_value(v), col)),
                        None => {
                            error(
                                col,
                                format!("expected `key=value` host variable, found `{t}`"),
                            );
                            bad = true;
                            break;
                        }
                    }
                }
                if bad {
                    continue;
                }
                for name in names {
                    if name.is_empty() {
                        error(column, "empty host name".into());
                        continue;
                    }
                    let h = data.add_host(&name, Some(group), port);
                    for (k, v, col) in &vars {
                        data.check_var(Owner::Host(h), k, v, path, (line_no, *col));
                        data.set_host_var(h, k, v.clone());
                    }
                }
            }
            State::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    error(column, format!("expected `key=value`, found `{line}`"));
                    continue;
                };
                let value = parse_value(v.trim());
                let value_col = column + (line.len() - v.trim_start().len()) as u64;
                data.check_var(
                    Owner::Group(group),
                    k.trim(),
                    &value,
                    path,
                    (line_no, value_col),
                );
                if let Err(e) = data.set_group_var(group, k.trim(), value) {
                    error(column, e);
                }
            }
            State::Children => {
                let Some(c) = GROUP_NAME.captures(line) else {
                    error(column, format!("expected a group name, found `{line}`"));
                    continue;
                };
                let child = c[1].to_string();
                match data.group_id(&child) {
                    Some(child_id) => {
                        if let Err(e) = data.add_child(group, child_id) {
                            error(column, e);
                        }
                    }
                    None => match pending.get_mut(&child) {
                        Some(p) => p.parents.push(group),
                        None => {
                            pending.insert(
                                child,
                                Pending {
                                    line: line_no,
                                    column,
                                    state: State::Children,
                                    parents: vec![group],
                                },
                            );
                        }
                    },
                }
            }
        }
    }

    for (name, p) in &pending {
        let message = match p.state {
            State::Vars => {
                format!("section `[{name}:vars]` is for group `{name}`, which is not defined")
            }
            _ => {
                let parent = p
                    .parents
                    .last()
                    .map(|&g| data.group(g).name.clone())
                    .unwrap_or_default();
                format!("section `[{parent}:children]` includes undefined group `{name}`")
            }
        };
        errors.push(InputError {
            file: path.to_path_buf(),
            position: Some((p.line, p.column)),
            message,
        });
    }
    errors
}

fn add_pending_children(
    name: &str,
    pending: &mut IndexMap<String, Pending>,
    data: &mut Data,
    errors: &mut Vec<InputError>,
    path: &Path,
) {
    let Some(p) = pending.shift_remove(name) else {
        return;
    };
    let Some(child) = data.group_id(name) else {
        return;
    };
    for parent in p.parents {
        if let Err(e) = data.add_child(parent, child) {
            errors.push(InputError {
                file: path.to_path_buf(),
                position: Some((p.line, p.column)),
                message: e,
            });
        }
        let parent_name = data.group(parent).name.clone();
        if pending
            .get(&parent_name)
            .is_some_and(|pp| pp.state == State::Children)
        {
            add_pending_children(&parent_name, pending, data, errors, path);
        }
    }
}

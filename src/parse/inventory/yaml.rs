//! YAML inventories as Ansible's `yaml` inventory plugin reads them: top-level keys are
//! groups; a group holds `hosts` (host entries with optional ranges and `:port`, each
//! with a mapping of variables or nothing), `vars` and `children` (nested groups), in
//! the order written. Where Ansible only warns (an unknown key such as `hots`, a group
//! that is not a mapping) rtmig stops with the file, line and column.

use std::path::Path;

use serde_json::Value;

use super::address::expand_host_pattern;
use super::data::{Data, GroupId, Owner};
use super::vars_dirs::is_falsy;
use super::yaml11::{Kind, Node, key_string};
use crate::parse::InputError;

pub struct YamlReader<'a> {
    pub path: &'a Path,
    pub data: &'a mut Data,
    pub errors: Vec<InputError>,
}

impl YamlReader<'_> {
    fn error(&mut self, node: &Node, message: impl Into<String>) {
        self.errors.push(InputError {
            file: self.path.to_path_buf(),
            position: Some((node.line, node.column)),
            message: message.into(),
        });
    }

    /// Read the document's top-level mapping of groups.
    pub fn read(&mut self, root: &Node) {
        let Kind::Map(pairs) = &root.kind else {
            self.error(
                root,
                format!(
                    "expected a mapping of groups (such as `all:`), found {}",
                    root.describe()
                ),
            );
            return;
        };
        for (key, value) in pairs {
            let Some(name) = key.as_str() else {
                self.error(
                    key,
                    format!(
                        "group name `{}` must be a string",
                        key_string(&key.to_value())
                    ),
                );
                continue;
            };
            self.group(key, name, value);
        }
    }

    fn group(&mut self, key: &Node, name: &str, node: &Node) -> Option<GroupId> {
        if name.is_empty() {
            self.error(key, "empty group name");
            return None;
        }
        let pairs = match &node.kind {
            Kind::Map(pairs) => Some(pairs),
            Kind::Scalar(Value::Null) => None,
            _ => {
                self.error(
                    node,
                    format!(
                        "group `{name}` must be a mapping with `hosts`, `vars` or `children`, found {}",
                        node.describe()
                    ),
                );
                return None;
            }
        };
        let g = self.data.add_group(name);
        for (k, v) in pairs.into_iter().flatten() {
            let section = k.as_str().unwrap_or("");
            if !matches!(section, "hosts" | "vars" | "children") {
                self.error(
                    k,
                    format!(
                        "unknown key `{}` in group `{name}`, expected one of `hosts`, `vars`, `children`",
                        key_string(&k.to_value())
                    ),
                );
                continue;
            }
            // Ansible accepts a single name as a string (`children: workers`).
            let single;
            let entries: &[(Node, Node)] = match &v.kind {
                Kind::Map(entries) => entries,
                Kind::Scalar(Value::Null) => continue,
                Kind::Scalar(Value::String(s)) => {
                    single = [(
                        Node {
                            kind: Kind::Scalar(Value::String(s.clone())),
                            line: v.line,
                            column: v.column,
                        },
                        Node {
                            kind: Kind::Scalar(Value::Null),
                            line: v.line,
                            column: v.column,
                        },
                    )];
                    &single
                }
                _ => {
                    self.error(
                        v,
                        format!(
                            "`{section}` of group `{name}` must be a mapping, found {}",
                            v.describe()
                        ),
                    );
                    continue;
                }
            };
            match section {
                "vars" => {
                    for (var, value) in entries {
                        let var_name = key_string(&var.to_value());
                        let v = value.to_value();
                        self.data.check_var(
                            Owner::Group(g),
                            &var_name,
                            &v,
                            self.path,
                            (value.line, value.column),
                        );
                        if let Err(e) = self.data.set_group_var(g, &var_name, v) {
                            self.error(value, e);
                        }
                    }
                }
                "children" => {
                    for (child_key, child_node) in entries {
                        let Some(child_name) = child_key.as_str() else {
                            self.error(
                                child_key,
                                format!(
                                    "group name `{}` must be a string",
                                    key_string(&child_key.to_value())
                                ),
                            );
                            continue;
                        };
                        if let Some(child) = self.group(child_key, child_name, child_node)
                            && let Err(e) = self.data.add_child(g, child)
                        {
                            self.error(child_key, e);
                        }
                    }
                }
                _ => {
                    for (host_key, host_node) in entries {
                        self.hosts(g, name, host_key, host_node);
                    }
                }
            }
        }
        Some(g)
    }

    fn hosts(&mut self, g: GroupId, group: &str, key: &Node, node: &Node) {
        let Some(pattern) = key.as_str() else {
            self.error(
                key,
                format!(
                    "host `{}` in group `{group}` must be a string; enclose numbers in quotes",
                    key_string(&key.to_value())
                ),
            );
            return;
        };
        let (names, port) = match expand_host_pattern(pattern) {
            Ok(x) => x,
            Err(e) => {
                self.error(key, e);
                return;
            }
        };
        let vars: &[(Node, Node)] = match &node.kind {
            Kind::Map(pairs) => pairs,
            _ if is_falsy(&node.to_value()) => &[],
            _ => {
                self.error(
                    node,
                    format!(
                        "variables of host `{pattern}` must be a mapping, found {}",
                        node.describe()
                    ),
                );
                return;
            }
        };
        for name in names {
            if name.is_empty() {
                self.error(key, "empty host name");
                continue;
            }
            let h = self.data.add_host(&name, Some(g), port);
            for (k, v) in vars {
                let (name, value) = (key_string(&k.to_value()), v.to_value());
                self.data
                    .check_var(Owner::Host(h), &name, &value, self.path, (v.line, v.column));
                self.data.set_host_var(h, &name, value);
            }
        }
    }
}

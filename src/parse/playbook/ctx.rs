//! The reading context: turns [`Node`]s into typed values, recording every problem as an
//! [`InputError`] at the offending key or value instead of stopping at the first.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::node::{Key, Node, Pos, Value};
use super::types::{Data, Expr, Number, Text, Vars};
use crate::parse::connection_vars;
use crate::parse::vault::Decryption;
use crate::parse::{InputError, Location};

pub struct Ctx {
    pub file: PathBuf,
    pub dir: PathBuf,
    pub errors: Vec<InputError>,
    /// Decrypts `!vault` values in variables.
    pub decryption: Decryption,
    /// The files being imported into one another, outermost first (`import_playbook`,
    /// `import_tasks`, roles' task files): a file met again is a recursion.
    pub stack: Vec<PathBuf>,
    /// The role whose tasks are being read.
    pub role: Option<std::sync::Arc<super::types::RoleScope>>,
    /// What the current play's roles give it (see [`super::import`]).
    pub play_roles: super::import::PlayRoles,
}

impl Ctx {
    pub fn new(file: &Path) -> Self {
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ctx {
            file: file.to_path_buf(),
            dir,
            errors: Vec::new(),
            decryption: Decryption::default(),
            stack: Vec::new(),
            role: None,
            play_roles: Default::default(),
        }
    }

    pub fn loc(&self, pos: Pos) -> Location {
        Location::new(&self.file, pos.line, pos.column)
    }

    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        let location = self.loc(pos);
        self.errors.push(InputError::at(&location, message));
    }

    /// Report every key of `entries` that is not in `known`; `what` names the mapping
    /// ("play keyword", "argument of `template`"). `unsupported` gives tailored messages
    /// for Ansible keys rtmig knows but does not implement.
    pub fn check_keys(
        &mut self,
        entries: &[(Key, Node)],
        known: &[&str],
        unsupported: &[(&str, &str)],
        what: &str,
    ) {
        for (key, _) in entries {
            if known.contains(&key.name.as_str()) {
                continue;
            }
            if let Some((_, why)) = unsupported.iter().find(|(k, _)| *k == key.name) {
                self.error(key.pos, format!("`{}` is not supported: {why}", key.name));
                continue;
            }
            let message = match suggest(&key.name, known) {
                Some(close) => format!("unknown {what} `{}`; did you mean `{close}`?", key.name),
                None => format!(
                    "unknown {what} `{}`, expected one of {}",
                    key.name,
                    list(known)
                ),
            };
            self.error(key.pos, message);
        }
    }

    /// A mapping's entries, or an error naming what was expected.
    pub fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Key, Node)]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            other => {
                self.error(
                    node.pos,
                    format!("{what} must be a mapping, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// A scalar as a template string (numbers and booleans become their text).
    pub fn text(&mut self, node: &Node, key: &str) -> Option<Text> {
        match node.value.scalar_text() {
            Some(value) => Some(Text {
                value,
                location: self.loc(node.pos),
            }),
            None => {
                self.error(
                    node.pos,
                    format!("`{key}` must be a string, found {}", node.value.kind()),
                );
                None
            }
        }
    }

    /// A plain (untemplated) string, such as a tag or a variable name.
    pub fn plain(&mut self, node: &Node, key: &str) -> Option<String> {
        let text = self.text(node, key)?;
        if is_template(&text.value) {
            self.error(node.pos, format!("`{key}` cannot be a template here"));
            return None;
        }
        Some(text.value)
    }

    /// A variable name (`register`, `loop_var`, vars keys).
    pub fn identifier(&mut self, node: &Node, key: &str) -> Option<String> {
        let name = self.plain(node, key)?;
        if is_identifier(&name) {
            Some(name)
        } else {
            self.error(
                node.pos,
                format!("`{key}` must be a variable name (letters, digits, `_`), found `{name}`"),
            );
            None
        }
    }

    /// A mode as chmod takes it. A bare YAML number is refused: `644` would be read as
    /// decimal, which is not what anyone means (a leading zero, `0644`, stays text).
    pub fn mode(&mut self, node: &Node) -> Option<Text> {
        match &node.value {
            Value::Int(_) | Value::UInt(_) | Value::Float(_) => {
                self.error(
                    node.pos,
                    "`mode` must be an octal string such as \"0644\" or a symbolic mode (\"u+x\"); \
                     a bare number is read as decimal",
                );
                None
            }
            _ => self.text(node, "mode"),
        }
    }

    /// A boolean, YAML 1.1 spellings and their quoted forms included (`yes`, "no").
    pub fn boolean(&mut self, node: &Node, key: &str) -> Option<bool> {
        let parsed = match &node.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s) => crate::words::boolean(s),
            Value::Int(0) => Some(false),
            Value::Int(1) => Some(true),
            _ => None,
        };
        if parsed.is_none() {
            let found = match &node.value {
                Value::Str(s) => format!("`{s}`"),
                other => other.kind().to_string(),
            };
            self.error(
                node.pos,
                format!("`{key}` must be a boolean (true/false, yes/no), found {found}"),
            );
        }
        parsed
    }

    /// A boolean, or a template that renders to one for each host (Ansible templates
    /// its boolean keywords before it reads them).
    pub fn boolean_or_template(&mut self, node: &Node, key: &str) -> (Option<bool>, Option<Text>) {
        match &node.value {
            Value::Str(s) if is_template(s) => (
                None,
                Some(Text {
                    value: s.clone(),
                    location: self.loc(node.pos),
                }),
            ),
            _ => (self.boolean(node, key), None),
        }
    }

    /// A non-negative whole number, or a template that renders to one.
    pub fn number(&mut self, node: &Node, key: &str) -> Option<Number> {
        match &node.value {
            Value::Int(i) if *i >= 0 => Some(Number::Literal(*i as u64)),
            Value::UInt(u) => Some(Number::Literal(*u)),
            Value::Str(s) if is_template(s) => Some(Number::Template(Text {
                value: s.clone(),
                location: self.loc(node.pos),
            })),
            Value::Str(s) if s.trim().parse::<u64>().is_ok() => {
                s.trim().parse::<u64>().ok().map(Number::Literal)
            }
            other => {
                let found = match other {
                    Value::Str(s) => format!("`{s}`"),
                    Value::Int(i) => i.to_string(),
                    Value::Float(f) => f.to_string(),
                    _ => other.kind().to_string(),
                };
                self.error(
                    node.pos,
                    format!("`{key}` must be a whole number of zero or more, found {found}"),
                );
                None
            }
        }
    }

    /// One expression, or a list of them (all must hold). `{{ x }}` alone is unwrapped.
    pub fn exprs(&mut self, node: &Node, key: &str) -> Vec<Expr> {
        let items: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut out = Vec::new();
        for item in items {
            match item.value.scalar_text() {
                Some(text) => out.push(Expr {
                    value: unwrap_braces(&text).to_string(),
                    location: self.loc(item.pos),
                }),
                None => self.error(
                    item.pos,
                    format!(
                        "`{key}` must be an expression or a list of them, found {}",
                        item.value.kind()
                    ),
                ),
            }
        }
        out
    }

    /// Tags: a list, or a comma-separated string as Ansible allows.
    pub fn tags(&mut self, node: &Node) -> Vec<String> {
        let items: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut out = Vec::new();
        for item in items {
            if let Some(text) = self.plain(item, "tags") {
                out.extend(
                    text.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(String::from),
                );
            }
        }
        out
    }

    /// Any value, with its strings listed for template checking.
    /// A value used as data (`vars`, `set_fact`, `debug: msg`): its JSON, `!vault`
    /// values decrypted (a failure is reported at the value), and its strings to
    /// check as templates (a decrypted value is data, never checked or shown).
    pub fn data(&mut self, node: &Node) -> Data {
        let mut strings = Vec::new();
        self.collect_strings(node, &mut strings);
        Data {
            value: self.json(node),
            location: self.loc(node.pos),
            strings,
        }
    }

    fn json(&mut self, node: &Node) -> serde_json::Value {
        use serde_json::Value as J;
        match &node.value {
            Value::Vault(payload) => match self.decryption.value(payload) {
                Ok(v) => v,
                Err(e) => {
                    self.error(node.pos, e.to_string());
                    J::Null
                }
            },
            Value::Seq(items) => J::Array(items.iter().map(|n| self.json(n)).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), self.json(v)))
                    .collect(),
            ),
            other => other.to_json(),
        }
    }

    fn collect_strings(&self, node: &Node, out: &mut Vec<Text>) {
        match &node.value {
            Value::Str(s) => out.push(Text {
                value: s.clone(),
                location: self.loc(node.pos),
            }),
            Value::Seq(items) => items.iter().for_each(|n| self.collect_strings(n, out)),
            Value::Map(entries) => entries
                .iter()
                .for_each(|(_, n)| self.collect_strings(n, out)),
            _ => {}
        }
    }

    /// `vars:` and friends: a mapping of variable names to values (`null` is empty).
    pub fn vars(&mut self, node: &Node, key: &str) -> Vars {
        let mut vars = IndexMap::new();
        if node.value == Value::Null {
            return vars;
        }
        let Some(entries) = self.map(node, &format!("`{key}`")) else {
            return vars;
        };
        for (k, v) in entries {
            if !is_identifier(&k.name) {
                self.error(
                    k.pos,
                    format!("`{}` is not a valid variable name (letters, digits, `_`, not starting with a digit)", k.name),
                );
                continue;
            }
            let data = self.data(v);
            // A vault value is a secret: never shown in a message.
            let value = match v.value {
                Value::Vault(_) => serde_json::Value::Null,
                _ => data.value.clone(),
            };
            if let Err(e) = connection_vars::play_var(&k.name, &value) {
                // The name is what is wrong, or else its value.
                let inventory_only = connection_vars::INVENTORY_ONLY.contains(&k.name.as_str());
                self.error(if inventory_only { k.pos } else { v.pos }, e);
            }
            vars.insert(k.name.clone(), data);
        }
        vars
    }

    /// `environment:`: names to template strings.
    pub fn environment(&mut self, node: &Node) -> IndexMap<String, Text> {
        let mut env = IndexMap::new();
        if node.value == Value::Null {
            return env;
        }
        let Some(entries) = self.map(node, "`environment`") else {
            return env;
        };
        for (k, v) in entries {
            if let Some(text) = self.text(v, &k.name) {
                env.insert(k.name.clone(), text);
            }
        }
        env
    }
}

/// `a`, `a and b`, `a, b and c`.
pub fn and_list(items: &[String]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `{{ expr }}` written where a bare expression belongs (`when: "{{ x }}"`, which
/// Ansible accepts with a warning) gives `expr`.
fn unwrap_braces(s: &str) -> &str {
    let t = s.trim();
    if let Some(inner) = t.strip_prefix("{{").and_then(|r| r.strip_suffix("}}"))
        && !inner.contains("{{")
        && !inner.contains("}}")
    {
        return inner.trim();
    }
    s
}

/// "`a`, `b` or `c`".
pub fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The known name closest to a typo, if it is close enough to be the one meant.
pub fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let best = known
        .iter()
        .map(|k| (distance(word, k), *k))
        .min_by_key(|(d, _)| *d)?;
    let limit = if word.len() <= 4 { 1 } else { 2 };
    (best.0 <= limit).then_some(best.1)
}

/// Edit distance counting a swap of two neighbours as one edit (optimal string
/// alignment), so `whne` is one edit from `when`.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_not_strangers() {
        let known = ["hosts", "tasks", "serial", "gather_facts"];
        assert_eq!(suggest("hots", &known), Some("hosts"));
        assert_eq!(suggest("gather_fact", &known), Some("gather_facts"));
        assert_eq!(suggest("roles", &known), None);
    }

    #[test]
    fn braces_around_a_condition_are_dropped() {
        assert_eq!(unwrap_braces("{{ x == 1 }}"), "x == 1");
        assert_eq!(unwrap_braces("{{ a }} == {{ b }}"), "{{ a }} == {{ b }}");
    }
}

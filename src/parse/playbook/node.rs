//! A YAML document as a tree of nodes that each know their line and column.
//!
//! Ansible task keys are free-form (the action is one key among the keywords), so a
//! playbook is first read into this tree and then checked key by key, collecting every
//! problem instead of stopping at the first as a derived `Deserialize` would.

use crate::parse::yaml11;

/// Line and column (1-based) of a node in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

/// One YAML value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

/// A mapping key (always read as a string, as Ansible's keys are) and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// Unsigned integers above `i64::MAX`.
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
    /// A `!vault` string: the payload, decrypted where the value is used as data.
    Vault(String),
}

impl Value {
    /// What the value is, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::UInt(_) => "a number",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Vault(_) => "a vault-encrypted value",
        }
    }

    /// A scalar as Ansible would stringify it (`yes` read as a boolean gives `true`).
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::UInt(u) => Some(u.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Str(s) => Some(s.clone()),
            Value::Null | Value::Seq(_) | Value::Map(_) | Value::Vault(_) => None,
        }
    }

    /// sha256 (hex) of what the value says, positions and comments left out and map
    /// keys sorted: equal for two spellings of the same YAML, different when any value
    /// differs.
    pub fn digest(&self) -> String {
        fn canonical(v: serde_json::Value) -> serde_json::Value {
            match v {
                serde_json::Value::Object(map) => {
                    let mut entries: Vec<_> = map.into_iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                    serde_json::Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k, canonical(v)))
                            .collect(),
                    )
                }
                serde_json::Value::Array(items) => {
                    serde_json::Value::Array(items.into_iter().map(canonical).collect())
                }
                other => other,
            }
        }
        let text = canonical(self.to_json()).to_string();
        crate::digest::sha256_hex(text.as_bytes())
    }

    /// The value as JSON (map keys in order, floats that JSON cannot hold as null, a
    /// `!vault` value as its payload: decrypting is the parser's job, see `Ctx::data`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::UInt(u) => J::from(*u),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) | Value::Vault(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(|n| n.value.to_json()).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.value.to_json()))
                    .collect(),
            ),
        }
    }
}

impl Node {
    /// The tree the shared YAML 1.1 reader ([`yaml11`]) composed, typed as PyYAML types
    /// it. A key that is not a scalar (or is null) is an error at its place.
    pub fn from_yaml11(n: yaml11::Node) -> Result<Node, (Pos, String)> {
        use serde_json::Value as J;
        let pos = Pos {
            line: n.line,
            column: n.column,
        };
        let value = match n.kind {
            yaml11::Kind::Vault(payload) => Value::Vault(payload),
            yaml11::Kind::Scalar(J::Null) => Value::Null,
            yaml11::Kind::Scalar(J::Bool(b)) => Value::Bool(b),
            yaml11::Kind::Scalar(J::Number(num)) => {
                if let Some(i) = num.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = num.as_u64() {
                    Value::UInt(u)
                } else {
                    Value::Float(num.as_f64().unwrap_or(f64::NAN))
                }
            }
            yaml11::Kind::Scalar(J::String(s)) => Value::Str(s),
            yaml11::Kind::Scalar(other) => Value::Str(other.to_string()),
            yaml11::Kind::Seq(items) => Value::Seq(
                items
                    .into_iter()
                    .map(Node::from_yaml11)
                    .collect::<Result<_, _>>()?,
            ),
            yaml11::Kind::Map(pairs) => {
                let mut entries = Vec::with_capacity(pairs.len());
                for (k, v) in pairs {
                    let kpos = Pos {
                        line: k.line,
                        column: k.column,
                    };
                    let name = match &k.kind {
                        yaml11::Kind::Scalar(J::Null) | yaml11::Kind::Scalar(J::Array(_)) => None,
                        yaml11::Kind::Scalar(v) => Some(yaml11::key_string(v)),
                        _ => None,
                    };
                    let Some(name) = name else {
                        let found = Node::from_yaml11(k)
                            .map(|n| n.value.kind())
                            .unwrap_or("a value");
                        return Err((
                            kpos,
                            format!("a mapping key must be a string, found {found}"),
                        ));
                    };
                    entries.push((Key { name, pos: kpos }, Node::from_yaml11(v)?));
                }
                Value::Map(entries)
            }
        };
        Ok(Node { value, pos })
    }
}

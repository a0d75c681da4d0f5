//! YAML as Ansible reads it: a small composer over granit-parser's event stream that
//! types plain scalars the way PyYAML's YAML 1.1 resolver does (`yes`/`no`/`on`/`off`
//! are booleans, `0755` is octal, `1:30` is sexagesimal, `1e3` stays a string, dates
//! become ISO strings), keeps every node's line and column, expands anchors, aliases and
//! `<<` merge keys, and rejects duplicate keys.
//!
//! Ansible's loader tries JSON before YAML; a document that is valid JSON is typed with
//! JSON's rules instead (`1e3` is a number there). A `!vault` value is decrypted (or
//! kept, see [`Decryption`]) where it is, so a wrong password is reported at its line.
//! Depends on `parse::vault` only.

use std::collections::HashMap;
use std::sync::LazyLock;

use granit_parser::{Event, Parser, ScalarStyle};
use regex::Regex;
use serde_json::{Map, Number, Value};

use crate::parse::vault::Decryption;

/// A composed YAML node with its place in the file (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub line: u64,
    pub column: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// null, bool, number or string, typed as PyYAML types it.
    Scalar(Value),
    Seq(Vec<Node>),
    /// Keys in document order, merge keys already applied.
    Map(Vec<(Node, Node)>),
    /// A `!vault` value left encrypted (its payload), from [`parse_keeping_vault`]: the
    /// playbook reader decrypts it where the value is used as data.
    Vault(String),
}

/// A problem in a YAML text, with its 1-based position.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// What the node is, for messages: "a mapping", "a list", "a string", ...
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Map(_) => "a mapping",
            Kind::Seq(_) => "a list",
            Kind::Scalar(Value::Null) => "null",
            Kind::Scalar(Value::Bool(_)) => "a boolean",
            Kind::Scalar(Value::Number(_)) => "a number",
            Kind::Scalar(Value::String(_)) => "a string",
            Kind::Scalar(_) => "a value",
            Kind::Vault(_) => "a vault-encrypted value",
        }
    }

    /// The plain value, as Ansible would hold it (mapping keys become strings the way
    /// Python's `json.dumps` writes them).
    pub fn to_value(&self) -> Value {
        match &self.kind {
            Kind::Scalar(v) => v.clone(),
            Kind::Vault(payload) => Value::String(payload.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Kind::Map(pairs) => {
                let mut map = Map::new();
                for (k, v) in pairs {
                    map.insert(key_string(&k.to_value()), v.to_value());
                }
                Value::Object(map)
            }
        }
    }
}

/// A mapping key as Python's `json.dumps` writes it: `True` -> "true", `1` -> "1".
pub fn key_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => crate::parse::inventory::output::py_float(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Parse one YAML (or JSON) document. An empty document gives `None`. A `!vault` value
/// is an error (no vault password).
#[cfg(test)]
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    parse_with(text, &Decryption::default())
}

/// [`parse`], with `!vault` values decrypted or kept as `decryption` says.
pub fn parse_with(text: &str, decryption: &Decryption) -> Result<Option<Node>, YamlError> {
    compose(text, Some(decryption))
}

/// [`parse`] for playbooks and task files: a `!vault` value kept encrypted as
/// [`Kind::Vault`], and a plain integer with a leading zero (`0644`) kept as its text,
/// so that `mode: 0644` stays the octal mode it says (what Ansible's file modules make
/// of the integer 420 PyYAML gives) and `mode: 644` can still be refused.
pub fn parse_keeping_vault(text: &str) -> Result<Option<Node>, YamlError> {
    compose(text, None)
}

/// How deep lists and mappings may nest: what reads the tree afterwards recurses too.
pub const MAX_DEPTH: usize = 64;

fn compose(text: &str, decryption: Option<&Decryption>) -> Result<Option<Node>, YamlError> {
    let json = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
    let mut composer = Composer {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        json,
        budget: 1_000_000,
        depth: 0,
        decryption,
    };
    composer.document()
}

struct Composer<'a, 'd> {
    parser: Parser<'a, granit_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    /// Type plain scalars with JSON's rules (the text is valid JSON).
    json: bool,
    /// Nodes left to create: aliases can blow up a small file ("billion laughs").
    budget: usize,
    /// Lists and mappings open around the current node.
    depth: usize,
    /// `None`: `!vault` values are kept encrypted.
    decryption: Option<&'d Decryption>,
}

type Pos = (u64, u64);

impl<'a> Composer<'a, '_> {
    fn next(&mut self) -> Result<Option<(Event<'a>, Pos)>, YamlError> {
        loop {
            match self.parser.next_event() {
                None => return Ok(None),
                Some(Err(e)) => {
                    let m = e.marker();
                    return Err(YamlError {
                        line: m.line() as u64,
                        column: m.col() as u64 + 1,
                        message: e.info().to_string(),
                    });
                }
                Some(Ok((ev, span))) => {
                    // A node starts at its tag when it has one (`!vault |` ...).
                    let start = span.tag_start.unwrap_or(span.start);
                    let pos = (start.line() as u64, start.col() as u64 + 1);
                    match ev {
                        Event::StreamStart | Event::DocumentEnd => continue,
                        Event::Scalar(..)
                        | Event::SequenceStart(..)
                        | Event::SequenceEnd
                        | Event::MappingStart(..)
                        | Event::MappingEnd
                        | Event::Alias(_)
                        | Event::DocumentStart(..)
                        | Event::StreamEnd => return Ok(Some((ev, pos))),
                        // comments, anchor metadata, unresolved aliases (not emitted by default)
                        _ => continue,
                    }
                }
            }
        }
    }

    fn document(&mut self) -> Result<Option<Node>, YamlError> {
        let mut root = None;
        let mut documents = 0;
        while let Some((ev, pos)) = self.next()? {
            match ev {
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        return Err(YamlError {
                            line: pos.0,
                            column: pos.1,
                            message: "expected a single document, found another one".into(),
                        });
                    }
                }
                Event::StreamEnd => break,
                ev => root = Some(self.node(ev, pos)?),
            }
        }
        Ok(root)
    }

    fn spend(&mut self, pos: Pos) -> Result<(), YamlError> {
        if self.budget == 0 {
            return Err(YamlError {
                line: pos.0,
                column: pos.1,
                message: "document too large once aliases are expanded".into(),
            });
        }
        self.budget -= 1;
        Ok(())
    }

    fn node(&mut self, ev: Event<'a>, pos: Pos) -> Result<Node, YamlError> {
        self.spend(pos)?;
        if matches!(ev, Event::SequenceStart(..) | Event::MappingStart(..)) {
            if self.depth >= MAX_DEPTH {
                return Err(YamlError {
                    line: pos.0,
                    column: pos.1,
                    message: format!(
                        "nested more than {MAX_DEPTH} levels deep (rtmig's limit for lists and mappings)"
                    ),
                });
            }
            self.depth += 1;
            let node = self.node_inner(ev, pos);
            self.depth -= 1;
            return node;
        }
        self.node_inner(ev, pos)
    }

    fn node_inner(&mut self, ev: Event<'a>, pos: Pos) -> Result<Node, YamlError> {
        let err = |message: String| YamlError {
            line: pos.0,
            column: pos.1,
            message,
        };
        let (node, anchor) = match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| (t.handle().to_string(), t.suffix().to_string()));
                let kind = match (&tag, self.decryption) {
                    (Some((h, s)), None) if h == "!" && s == "vault" => {
                        Kind::Vault(text.to_string())
                    }
                    _ => Kind::Scalar(self.scalar(&text, style, tag.as_ref()).map_err(err)?),
                };
                (
                    Node {
                        kind,
                        line: pos.0,
                        column: pos.1,
                    },
                    anchor,
                )
            }
            Event::SequenceStart(_, anchor, tag) => {
                check_collection_tag(tag.as_deref().map(|t| (t.handle(), t.suffix())), "seq")
                    .map_err(err)?;
                let mut items = Vec::new();
                loop {
                    match self.next()? {
                        Some((Event::SequenceEnd, _)) => break,
                        Some((ev, p)) => items.push(self.node(ev, p)?),
                        None => return Err(err("unexpected end of the document in a list".into())),
                    }
                }
                (
                    Node {
                        kind: Kind::Seq(items),
                        line: pos.0,
                        column: pos.1,
                    },
                    anchor,
                )
            }
            Event::MappingStart(_, anchor, tag) => {
                check_collection_tag(tag.as_deref().map(|t| (t.handle(), t.suffix())), "map")
                    .map_err(err)?;
                let mut own: Vec<(Node, Node)> = Vec::new();
                let mut merged: Vec<(Node, Node)> = Vec::new();
                loop {
                    let (key, is_merge) = match self.next()? {
                        Some((Event::MappingEnd, _)) => break,
                        Some((ev, p)) => {
                            // Only a plain `<<` is a merge key (PyYAML resolves it implicitly).
                            let merge = matches!(&ev, Event::Scalar(t, ScalarStyle::Plain, _, None) if t.as_ref() == "<<");
                            (self.node(ev, p)?, merge)
                        }
                        None => {
                            return Err(err("unexpected end of the document in a mapping".into()));
                        }
                    };
                    let value = match self.next()? {
                        Some((ev, p)) => self.node(ev, p)?,
                        None => {
                            return Err(err("unexpected end of the document in a mapping".into()));
                        }
                    };
                    if is_merge {
                        merged.extend(merge_pairs(&value)?);
                        continue;
                    }
                    if let Some((first, _)) = own.iter().find(|(k, _)| k.kind == key.kind) {
                        return Err(YamlError {
                            line: key.line,
                            column: key.column,
                            message: format!(
                                "duplicate key `{}` (first defined at line {})",
                                key_string(&key.to_value()),
                                first.line
                            ),
                        });
                    }
                    own.push((key, value));
                }
                // PyYAML puts merged pairs first; later pairs override earlier ones in
                // place, so a key keeps the position of its first appearance.
                let mut pairs: Vec<(Node, Node)> = Vec::with_capacity(merged.len() + own.len());
                for (k, v) in merged.into_iter().chain(own) {
                    match pairs.iter_mut().find(|(pk, _)| pk.kind == k.kind) {
                        Some(slot) => slot.1 = v,
                        None => pairs.push((k, v)),
                    }
                }
                (
                    Node {
                        kind: Kind::Map(pairs),
                        line: pos.0,
                        column: pos.1,
                    },
                    anchor,
                )
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => {
                    let size = count_nodes(n);
                    if size > self.budget {
                        return Err(err("document too large once aliases are expanded".into()));
                    }
                    self.budget -= size;
                    let mut n = n.clone();
                    n.line = pos.0;
                    n.column = pos.1;
                    return Ok(n);
                }
                None => return Err(err("unknown alias".into())),
            },
            other => return Err(err(format!("unexpected {other:?}"))),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&(String, String)>,
    ) -> Result<Value, String> {
        if let Some((handle, suffix)) = tag {
            return match (handle.as_str(), suffix.as_str()) {
                ("tag:yaml.org,2002:", "str") | ("!", "unsafe") | ("!", "") => {
                    Ok(Value::String(text.to_string()))
                }
                ("tag:yaml.org,2002:", "null") => Ok(Value::Null),
                ("tag:yaml.org,2002:", "bool") => resolve_bool(text)
                    .map(Value::Bool)
                    .ok_or_else(|| format!("`{text}` is not a boolean")),
                ("tag:yaml.org,2002:", "int") => {
                    construct_int(text).ok_or_else(|| format!("`{text}` is not an integer"))
                }
                ("tag:yaml.org,2002:", "float") => construct_float(text)
                    .ok_or_else(|| format!("`{text}` is not a floating point number")),
                ("!", "vault") => match self.decryption {
                    Some(d) => d.value(text).map_err(|e| e.to_string()),
                    None => Ok(Value::String(text.to_string())),
                },
                _ => Err(format!("unsupported tag `{handle}{suffix}`")),
            };
        }
        if style != ScalarStyle::Plain {
            return Ok(Value::String(text.to_string()));
        }
        if self.json {
            return Ok(resolve_json_plain(text));
        }
        if self.decryption.is_none() && leading_zero_int(text) {
            return Ok(Value::String(text.to_string()));
        }
        Ok(resolve_plain(text))
    }
}

fn check_collection_tag(tag: Option<(&str, &str)>, expected: &str) -> Result<(), String> {
    match tag {
        None => Ok(()),
        Some(("tag:yaml.org,2002:", s)) if s == expected => Ok(()),
        Some(("!", "")) => Ok(()),
        Some((h, s)) => Err(format!("unsupported tag `{h}{s}`")),
    }
}

fn merge_pairs(value: &Node) -> Result<Vec<(Node, Node)>, YamlError> {
    let bad = |n: &Node| YamlError {
        line: n.line,
        column: n.column,
        message: format!(
            "a merge key `<<` expects a mapping or a list of mappings, found {}",
            n.describe()
        ),
    };
    match &value.kind {
        Kind::Map(pairs) => Ok(pairs.clone()),
        Kind::Seq(items) => {
            // The first mapping in the list wins: PyYAML merges them in reverse.
            let mut out: Vec<(Node, Node)> = Vec::new();
            for item in items.iter().rev() {
                match &item.kind {
                    Kind::Map(pairs) => out.extend(pairs.iter().cloned()),
                    _ => return Err(bad(item)),
                }
            }
            Ok(out)
        }
        _ => Err(bad(value)),
    }
}

fn count_nodes(n: &Node) -> usize {
    match &n.kind {
        Kind::Scalar(_) | Kind::Vault(_) => 1,
        Kind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Kind::Map(pairs) => {
            1 + pairs
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

fn resolve_bool(text: &str) -> Option<bool> {
    match text {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

static INT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
    )
    .expect("static regex")
});

static FLOAT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    )
    .expect("static regex")
});

static TIMESTAMP_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:(?P<y1>[0-9]{4})-(?P<m1>[0-9]{2})-(?P<d1>[0-9]{2})|(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})(?:[Tt]|[ \t]+)(?P<hh>[0-9]{1,2}):(?P<mm>[0-9]{2}):(?P<ss>[0-9]{2})(?:\.(?P<frac>[0-9]*))?(?:[ \t]*(?P<tz>Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$",
    )
    .expect("static regex")
});

/// Type a plain scalar as PyYAML's SafeLoader does.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    if let Some(b) = resolve_bool(text) {
        return Value::Bool(b);
    }
    if INT_RE.is_match(text)
        && let Some(v) = construct_int(text)
    {
        return v;
    }
    if FLOAT_RE.is_match(text)
        && let Some(v) = construct_float(text)
    {
        return v;
    }
    if let Some(v) = construct_timestamp(text) {
        return v;
    }
    Value::String(text.to_string())
}

/// `0644`, `-017`: an octal integer for PyYAML.
fn leading_zero_int(text: &str) -> bool {
    let digits = text.trim_start_matches(['-', '+']);
    digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|b| matches!(b, b'0'..=b'7' | b'_'))
}

fn resolve_json_plain(text: &str) -> Value {
    match text {
        "null" => Value::Null,
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => {
            serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_string()))
        }
    }
}

fn int_value(neg: bool, magnitude: u128) -> Value {
    if neg {
        if magnitude <= i64::MAX as u128 + 1 {
            return Value::Number(Number::from((-(magnitude as i128)) as i64));
        }
    } else if magnitude <= u64::MAX as u128 {
        return Value::Number(Number::from(magnitude as u64));
    }
    // Python's integers have no bound; beyond 64 bits keep a float, as JSON readers would.
    let f = magnitude as f64;
    float_value(if neg { -f } else { f })
}

fn float_value(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        // JSON has no infinity or NaN: keep Python's spelling.
        None if f.is_nan() => Value::String("nan".into()),
        None if f > 0.0 => Value::String("inf".into()),
        None => Value::String("-inf".into()),
    }
}

fn construct_int(text: &str) -> Option<Value> {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, digits) = match cleaned.as_bytes().first()? {
        b'-' => (true, &cleaned[1..]),
        b'+' => (false, &cleaned[1..]),
        _ => (false, &cleaned[..]),
    };
    let magnitude = if digits == "0" {
        0
    } else if let Some(b) = digits.strip_prefix("0b") {
        u128::from_str_radix(b, 2).ok()?
    } else if let Some(h) = digits.strip_prefix("0x") {
        u128::from_str_radix(h, 16).ok()?
    } else if digits.starts_with('0') {
        u128::from_str_radix(digits, 8).ok()?
    } else if digits.contains(':') {
        let mut acc: u128 = 0;
        for part in digits.split(':') {
            acc = acc
                .checked_mul(60)?
                .checked_add(part.parse::<u128>().ok()?)?;
        }
        acc
    } else {
        digits.parse::<u128>().ok()?
    };
    Some(int_value(neg, magnitude))
}

fn construct_float(text: &str) -> Option<Value> {
    let cleaned: String = text
        .chars()
        .filter(|&c| c != '_')
        .collect::<String>()
        .to_lowercase();
    let (sign, rest) = match cleaned.as_bytes().first()? {
        b'-' => (-1.0, &cleaned[1..]),
        b'+' => (1.0, &cleaned[1..]),
        _ => (1.0, &cleaned[..]),
    };
    let f = if rest == ".inf" {
        f64::INFINITY
    } else if rest == ".nan" {
        f64::NAN
    } else if rest.contains(':') {
        let mut acc = 0.0;
        for part in rest.split(':') {
            acc = acc * 60.0 + part.parse::<f64>().ok()?;
        }
        acc
    } else {
        // Python's float() accepts "1." and ".5"; Rust's parser does too.
        rest.parse::<f64>().ok()?
    };
    Some(float_value(sign * f))
}

/// A YAML 1.1 timestamp, as the ISO string Ansible's JSON encoder writes for it.
fn construct_timestamp(text: &str) -> Option<Value> {
    let c = TIMESTAMP_RE.captures(text)?;
    let num = |name: &str| c.name(name).and_then(|m| m.as_str().parse::<u32>().ok());
    if let (Some(y), Some(m), Some(d)) = (num("y1"), num("m1"), num("d1")) {
        valid_date(y, m, d)?;
        return Some(Value::String(format!("{y:04}-{m:02}-{d:02}")));
    }
    let (y, m, d) = (num("y")?, num("m")?, num("d")?);
    valid_date(y, m, d)?;
    let (hh, mm, ss) = (num("hh")?, num("mm")?, num("ss")?);
    if hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let mut out = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
    if let Some(frac) = c.name("frac").map(|m| m.as_str()) {
        let mut micro: String = frac.chars().take(6).collect();
        while micro.len() < 6 {
            micro.push('0');
        }
        if micro != "000000" {
            out.push('.');
            out.push_str(&micro);
        }
    }
    if let Some(tz) = c.name("tz").map(|m| m.as_str()) {
        if tz == "Z" {
            out.push_str("+00:00");
        } else {
            let (sign, rest) = tz.split_at(1);
            let mut parts = rest.split(':');
            let h: u32 = parts.next()?.parse().ok()?;
            let mi: u32 = parts.next().map(|p| p.parse().ok()).unwrap_or(Some(0))?;
            out.push_str(&format!("{sign}{h:02}:{mi:02}"));
        }
    }
    Some(Value::String(out))
}

fn valid_date(y: u32, m: u32, d: u32) -> Option<()> {
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (y >= 1 && d >= 1 && d <= days).then_some(())
}

#[cfg(test)]
fn parse_value(text: &str) -> Result<Value, YamlError> {
    Ok(parse(text)?.map(|n| n.to_value()).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(text: &str) -> Value {
        parse_value(text).unwrap()
    }

    #[test]
    fn plain_scalars_are_typed_as_pyyaml_types_them() {
        let got = v(
            "a: yes\nb: No\nc: on\nd: y\ne: 0755\nf: 1e3\ng: 1.5e+3\nh: 2024-01-05\ni: 1:30\nj: 0x1F\nk: ~\nl: 1_000\nm: .5\nn: \"yes\"\no: 2024-01-05 10:00:00\np: 0o17\nq: -0\nr: +12\ns: 1.\nt: ''\nu: 10.0.0.1\n",
        );
        assert_eq!(
            got,
            json!({"a": true, "b": false, "c": true, "d": "y", "e": 493, "f": "1e3", "g": 1500.0,
                   "h": "2024-01-05", "i": 90, "j": 31, "k": null, "l": 1000, "m": 0.5, "n": "yes",
                   "o": "2024-01-05T10:00:00", "p": "0o17", "q": 0, "r": 12, "s": 1.0, "t": "", "u": "10.0.0.1"})
        );
    }

    /// tests/fixtures/yaml11/scalars.json: what Ansible's AnsibleLoader (PyYAML) gives
    /// for each plain scalar, generated by gen.py beside it.
    fn pyyaml_table() -> Vec<(String, Value)> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/yaml11/scalars.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn every_plain_scalar_is_typed_as_ansibles_pyyaml_types_it() {
        let table = pyyaml_table();
        assert!(table.len() > 70, "{}", table.len());
        let mut wrong = Vec::new();
        for (text, expected) in &table {
            let got = v(&format!("k: {text}\n"))["k"].clone();
            if &got != expected {
                wrong.push(format!("{text}: got {got}, PyYAML {expected}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn playbook_reading_differs_only_for_leading_zero_integers() {
        let mut kept = Vec::new();
        for (text, expected) in pyyaml_table() {
            let got = parse_keeping_vault(&format!("k: {text}\n"))
                .unwrap()
                .unwrap()
                .to_value()["k"]
                .clone();
            if got != expected {
                assert_eq!(got, Value::String(text.clone()), "{text}");
                kept.push(text);
            }
        }
        assert_eq!(kept, ["007", "0755", "-017"]);
    }

    #[test]
    fn a_vault_value_is_kept_when_reading_a_playbook() {
        let n = parse_keeping_vault("a: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n")
            .unwrap()
            .unwrap();
        let Kind::Map(pairs) = &n.kind else { panic!() };
        assert_eq!(
            pairs[0].1.kind,
            Kind::Vault("$ANSIBLE_VAULT;1.1;AES256\n6162\n".into())
        );
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_located() {
        let deep = format!("a:\n  b: {}1{}\n", "[".repeat(70), "]".repeat(70));
        let err = parse(&deep).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(
            err.message.starts_with("nested more than 64 levels"),
            "{err:?}"
        );
    }

    #[test]
    fn json_documents_are_typed_as_json() {
        assert_eq!(
            v(r#"{"a": 1e3, "b": [1, "x"], "c": null}"#),
            json!({"a": 1000.0, "b": [1, "x"], "c": null})
        );
    }

    #[test]
    fn merge_keys_and_aliases_expand_as_pyyaml() {
        let got = v("base: &b {x: 1, y: 2}\nother: &o {y: 3, z: 4}\nm:\n  <<: [*b, *o]\n  x: 9\n");
        assert_eq!(got["m"], json!({"x": 9, "y": 2, "z": 4}));
        let keys: Vec<&String> = got["m"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["y", "z", "x"]);
    }

    #[test]
    fn duplicate_key_names_line_and_column() {
        let err = parse("a: 1\nb:\n  c: 1\n  c: 2\n").unwrap_err();
        assert_eq!((err.line, err.column), (4, 3));
        assert_eq!(err.message, "duplicate key `c` (first defined at line 3)");
    }

    #[test]
    fn syntax_error_has_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line >= 1, "{err:?}");
    }

    #[test]
    fn node_positions_are_one_based() {
        let n = parse("all:\n  hosts:\n    h1:\n").unwrap().unwrap();
        let Kind::Map(pairs) = &n.kind else { panic!() };
        let Kind::Map(inner) = &pairs[0].1.kind else {
            panic!()
        };
        assert_eq!((inner[0].0.line, inner[0].0.column), (2, 3));
    }

    #[test]
    fn empty_document_is_none() {
        assert_eq!(parse("# nothing\n").unwrap(), None);
    }
}

//! Ansible's filters and tests that operators use, under Ansible's names and with
//! its semantics, added to (or replacing) minijinja's builtins.
//!
//! Where Ansible silently turns garbage into a value (`'abc' | int` is 0,
//! `'maybe' | bool` is false) these fail instead, naming the value: rtmig changes
//! production clusters and should stop at the first surprise. Deliberate
//! defaults still work (`x | int(default=0)`, `'' | int`).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use minijinja::value::{Kwargs, Rest, StringInput, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};
use regex::{Regex, RegexBuilder};
use serde_json::Value as Json;

use super::native::{from_json, to_json};
use super::version;

/// The placeholder `default(omit)` gives; [`render_value`](super::Templates::render_value)
/// drops map entries whose value is exactly this.
pub const OMIT: &str = "__omit_place_holder__rtmig";

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_global("omit", OMIT);

    env.add_filter("quote", quote);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", regex_escape);
    env.add_filter("bool", to_bool);
    env.add_filter("int", to_int);
    env.add_filter("float", to_float);
    env.add_filter("string", to_string);
    env.add_filter("version", version_filter);
    env.add_filter("version_compare", version_filter);
    env.add_filter("to_json", to_json_filter);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("from_json", from_json_filter);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("difference", difference);
    env.add_filter("intersect", intersect);
    env.add_filter("union", union);
    env.add_filter("symmetric_difference", symmetric_difference);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("basename", basename);
    env.add_filter("dirname", dirname);
    env.add_filter("mandatory", mandatory);
    env.add_filter("ternary", ternary);
    env.add_filter("combine", combine);
    env.add_filter("flatten", flatten);
    env.add_filter("type_debug", type_debug);
    env.add_filter("hash", hash);
    env.add_filter("comment", comment);
    env.add_filter("indent", indent);
    env.add_filter("subelements", super::lookup::subelements_filter);

    env.add_test("version", version_test);
    env.add_test("version_compare", version_test);
    env.add_test("match", regex_match);
    env.add_test("search", regex_test_search);
    env.add_test("regex", regex_test);
    for name in ["succeeded", "success", "successful"] {
        env.add_test(name, succeeded);
    }
    for name in ["failed", "failure"] {
        env.add_test(name, failed);
    }
    for name in ["changed", "change"] {
        env.add_test(name, changed);
    }
    for name in ["skipped", "skip"] {
        env.add_test(name, skipped);
    }
    env.add_test("unreachable", unreachable);
    env.add_test("reachable", reachable);
    env.add_test("contains", contains);
    env.add_test("subset", subset);
    env.add_test("superset", superset);
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Fails on an undefined value the way minijinja's own filters do, so the error
/// names the variable (`` `foo` is undefined ``).
pub(super) fn defined(state: &State, value: &Value) -> Result<(), Error> {
    if value.is_undefined() {
        StringInput::new(state, value)?;
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    Ok(())
}

/// A scalar as Python's `str()` shows it (`True`, `None`, `3`).
fn scalar_text(state: &State, filter: &str, value: &Value) -> Result<String, Error> {
    defined(state, value)?;
    match value.kind() {
        ValueKind::String => Ok(value.as_str().unwrap_or_default().to_string()),
        ValueKind::None => Ok("None".to_string()),
        ValueKind::Bool | ValueKind::Number => Ok(value.to_string()),
        kind => Err(invalid(format!(
            "`{filter}` expects a string, got a {kind}"
        ))),
    }
}

// ----- shell and strings -----

/// Python's `shlex.quote`: safe for one shell word.
fn quote(state: &State, value: &Value) -> Result<String, Error> {
    let text = if value.is_none() {
        String::new()
    } else {
        scalar_text(state, "quote", value)?
    };
    Ok(crate::shell_words::quote(&text))
}

fn basename(state: &State, value: &Value) -> Result<String, Error> {
    let path = scalar_text(state, "basename", value)?;
    Ok(path.rsplit('/').next().unwrap_or_default().to_string())
}

/// Python's `os.path.dirname`: `/a/b` → `/a`, `/a` → `/`, `a` → ``.
fn dirname(state: &State, value: &Value) -> Result<String, Error> {
    let path = scalar_text(state, "dirname", value)?;
    Ok(match path.rfind('/') {
        None => String::new(),
        Some(at) => {
            let head = &path[..=at];
            let trimmed = head.trim_end_matches('/');
            if trimmed.is_empty() {
                head.to_string()
            } else {
                trimmed.to_string()
            }
        }
    })
}

fn type_debug(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

fn hash(state: &State, value: &Value, algorithm: Option<&str>) -> Result<String, Error> {
    use sha2::Digest;
    let text = scalar_text(state, "hash", value)?;
    let bytes = text.as_bytes();
    let digest: Vec<u8> = match algorithm.unwrap_or("sha1") {
        "sha224" => sha2::Sha224::digest(bytes).to_vec(),
        "sha256" => sha2::Sha256::digest(bytes).to_vec(),
        "sha384" => sha2::Sha384::digest(bytes).to_vec(),
        "sha512" => sha2::Sha512::digest(bytes).to_vec(),
        other => {
            return Err(invalid(format!(
                "`hash` does not support `{other}`, expected one of `sha224`, `sha256`, `sha384`, `sha512`"
            )));
        }
    };
    Ok(crate::digest::hex(&digest))
}

// ----- regular expressions (Python `re` spelling) -----

/// Compiled regular expressions by (pattern, ignorecase, multiline).
type RegexCache = Mutex<HashMap<(String, bool, bool), Regex>>;

fn regex(pattern: &str, ignorecase: bool, multiline: bool) -> Result<Regex, Error> {
    static CACHE: OnceLock<RegexCache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (pattern.to_string(), ignorecase, multiline);
    if let Some(re) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(re);
    }
    // Python's `\Z` is the end of input; Rust spells it `\z`.
    let translated = pattern.replace(r"\Z", r"\z");
    let re = RegexBuilder::new(&translated)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|err| invalid(format!("bad regular expression `{pattern}`: {err}")))?;
    if let Ok(mut cache) = cache.lock() {
        if cache.len() > 512 {
            cache.clear();
        }
        cache.insert(key, re.clone());
    }
    Ok(re)
}

fn regex_flags(kwargs: &Kwargs) -> Result<(bool, bool), Error> {
    let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    Ok((ignorecase, multiline))
}

/// Python's `re.sub` replacement syntax (`\1`, `\g<1>`, `\g<name>`, `\n`) in the
/// regex crate's (`${1}`, `${name}`, `$$` for a literal dollar).
fn replacement(python: &str) -> String {
    let mut out = String::with_capacity(python.len());
    let mut chars = python.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut group = String::new();
                    while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                        if group.len() == 2 {
                            break;
                        }
                        group.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|&c| c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push_str("\\g");
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('t') => {
                    chars.next();
                    out.push('\t');
                }
                Some('r') => {
                    chars.next();
                    out.push('\r');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

fn regex_replace(
    state: &State,
    value: &Value,
    pattern: &str,
    replace: Option<&str>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let text = scalar_text(state, "regex_replace", value)?;
    let (ignorecase, multiline) = regex_flags(&kwargs)?;
    let count = kwargs.get::<Option<usize>>("count")?.unwrap_or(0);
    kwargs.assert_all_used()?;
    let re = regex(pattern, ignorecase, multiline)?;
    let rep = replacement(replace.unwrap_or(""));
    Ok(re.replacen(&text, count, rep.as_str()).into_owned())
}

/// The first match, or with group arguments (`'\\1'`, `'\\g<name>'`) a list of
/// those groups; `none` when nothing matches (as Ansible).
fn regex_search(
    state: &State,
    value: &Value,
    pattern: &str,
    groups: Rest<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let text = scalar_text(state, "regex_search", value)?;
    let (ignorecase, multiline) = regex_flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let re = regex(pattern, ignorecase, multiline)?;
    let Some(caps) = re.captures(&text) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let mut out = Vec::new();
    for group in groups.iter() {
        let found = if let Some(n) = group.strip_prefix('\\') {
            match n.strip_prefix("g<").and_then(|n| n.strip_suffix('>')) {
                Some(name) => match name.parse::<usize>() {
                    Ok(i) => caps.get(i),
                    Err(_) => caps.name(name),
                },
                None => n.parse::<usize>().ok().and_then(|i| caps.get(i)),
            }
        } else {
            return Err(invalid(format!(
                "`regex_search` group `{group}` must look like `\\\\1` or `\\\\g<name>`"
            )));
        };
        out.push(found.map_or(Value::from(()), |m| Value::from(m.as_str())));
    }
    Ok(Value::from(out))
}

/// Python's `re.findall`: whole matches, the group with one group, lists of groups
/// with several.
fn regex_findall(
    state: &State,
    value: &Value,
    pattern: &str,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let text = scalar_text(state, "regex_findall", value)?;
    let (ignorecase, multiline) = regex_flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let re = regex(pattern, ignorecase, multiline)?;
    let groups = re.captures_len() - 1;
    let text_of = |m: Option<regex::Match>| Value::from(m.map_or("", |m| m.as_str()));
    Ok(Value::from(
        re.captures_iter(&text)
            .map(|caps| match groups {
                0 => text_of(caps.get(0)),
                1 => text_of(caps.get(1)),
                n => Value::from((1..=n).map(|i| text_of(caps.get(i))).collect::<Vec<_>>()),
            })
            .collect::<Vec<_>>(),
    ))
}

fn regex_escape(state: &State, value: &Value) -> Result<String, Error> {
    Ok(regex::escape(&scalar_text(state, "regex_escape", value)?))
}

fn regex_is(
    state: &State,
    value: &Value,
    pattern: &str,
    kwargs: Kwargs,
    how: &str,
) -> Result<bool, Error> {
    let text = scalar_text(state, how, value)?;
    let (ignorecase, multiline) = regex_flags(&kwargs)?;
    let how = kwargs.get::<Option<&str>>("match_type")?.unwrap_or(how);
    kwargs.assert_all_used()?;
    Ok(match how {
        // Python's re.match: anchored at the start only.
        "match" => regex(&format!(r"\A(?:{pattern})"), ignorecase, multiline)?.is_match(&text),
        "fullmatch" => {
            regex(&format!(r"\A(?:{pattern})\z"), ignorecase, multiline)?.is_match(&text)
        }
        "search" => regex(pattern, ignorecase, multiline)?.is_match(&text),
        other => {
            return Err(invalid(format!(
                "unknown match_type `{other}`, expected `match`, `search` or `fullmatch`"
            )));
        }
    })
}

fn regex_match(state: &State, value: &Value, pattern: &str, kwargs: Kwargs) -> Result<bool, Error> {
    regex_is(state, value, pattern, kwargs, "match")
}

fn regex_test_search(
    state: &State,
    value: &Value,
    pattern: &str,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    regex_is(state, value, pattern, kwargs, "search")
}

fn regex_test(state: &State, value: &Value, pattern: &str, kwargs: Kwargs) -> Result<bool, Error> {
    regex_is(state, value, pattern, kwargs, "search")
}

// ----- type conversions -----

/// Ansible's `bool` (as ansible-core 2.19's `boolean()`): booleans as they are;
/// `yes`/`on`/`true`/`y`/`t`/`1` and `no`/`off`/`false`/`n`/`f`/`0`/`` in any
/// case; `none` is false. Anything else fails.
fn to_bool(state: &State, value: &Value) -> Result<bool, Error> {
    defined(state, value)?;
    match value.kind() {
        ValueKind::Bool => Ok(value.is_true()),
        ValueKind::None => Ok(false),
        ValueKind::Number => match value.as_i64() {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(invalid(format!(
                "`bool` expects 1 or 0 for a number, got `{value}`"
            ))),
        },
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            truthy_word(text).ok_or_else(|| {
                invalid(format!(
                    "`bool` does not know `{text}`, expected yes/no, true/false, on/off or 1/0"
                ))
            })
        }
        kind => Err(invalid(format!(
            "`bool` expects a string or a boolean, got a {kind}"
        ))),
    }
}

/// Ansible's boolean words ([`crate::words::boolean`]); an empty string is false, as
/// Jinja's truth of `''` is.
pub(crate) fn truthy_word(text: &str) -> Option<bool> {
    if text.trim().is_empty() {
        return Some(false);
    }
    crate::words::boolean(text)
}

/// Jinja's `int(default=0, base=10)`, except that a string that is not a number
/// fails unless a default was given (Jinja would quietly give 0).
fn to_int(
    state: &State,
    value: &Value,
    default: Option<Value>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    defined(state, value)?;
    let default = match default {
        Some(d) => Some(d),
        None => kwargs.get::<Option<Value>>("default")?,
    };
    let base = match base {
        Some(b) => b,
        None => kwargs.get::<Option<u32>>("base")?.unwrap_or(10),
    };
    kwargs.assert_all_used()?;
    let fallback = |what: &str| -> Result<Value, Error> {
        default
            .clone()
            .ok_or_else(|| invalid(format!("`int` cannot convert {what} to an integer")))
    };
    match value.kind() {
        ValueKind::None => Ok(default.clone().unwrap_or(Value::from(0))),
        ValueKind::Bool => Ok(Value::from(value.is_true() as i64)),
        ValueKind::Number if value.is_integer() => Ok(value.clone()),
        ValueKind::Number => match f64::try_from(value.clone()) {
            Ok(f) => Ok(Value::from(f.trunc() as i64)),
            Err(_) => fallback(&format!("`{value}`")),
        },
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default().trim();
            if text.is_empty() {
                return Ok(default.clone().unwrap_or(Value::from(0)));
            }
            let (negative, digits) = match text.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, text.strip_prefix('+').unwrap_or(text)),
            };
            let digits = match base {
                16 => digits.trim_start_matches("0x").trim_start_matches("0X"),
                8 => digits.trim_start_matches("0o").trim_start_matches("0O"),
                2 => digits.trim_start_matches("0b").trim_start_matches("0B"),
                _ => digits,
            };
            let digits = digits.replace('_', "");
            if let Ok(n) = i64::from_str_radix(&digits, base) {
                return Ok(Value::from(if negative { -n } else { n }));
            }
            if base == 10
                && let Ok(f) = text.parse::<f64>()
                && f.is_finite()
            {
                return Ok(Value::from(f.trunc() as i64));
            }
            fallback(&format!("`{text}`"))
        }
        kind => fallback(&format!("a {kind}")),
    }
}

/// Jinja's `float(default=0.0)`, failing on a non-number string without a default.
fn to_float(
    state: &State,
    value: &Value,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    defined(state, value)?;
    let default = match default {
        Some(d) => Some(d),
        None => kwargs.get::<Option<Value>>("default")?,
    };
    kwargs.assert_all_used()?;
    let fallback = |what: &str| -> Result<Value, Error> {
        default
            .clone()
            .ok_or_else(|| invalid(format!("`float` cannot convert {what} to a number")))
    };
    match value.kind() {
        ValueKind::None => Ok(default.clone().unwrap_or(Value::from(0.0))),
        ValueKind::Bool => Ok(Value::from(if value.is_true() { 1.0 } else { 0.0 })),
        ValueKind::Number => match f64::try_from(value.clone()) {
            Ok(f) => Ok(Value::from(f)),
            Err(_) => fallback(&format!("`{value}`")),
        },
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default().trim();
            if text.is_empty() {
                return Ok(default.clone().unwrap_or(Value::from(0.0)));
            }
            match text.parse::<f64>() {
                Ok(f) => Ok(Value::from(f)),
                Err(_) => fallback(&format!("`{text}`")),
            }
        }
        kind => fallback(&format!("a {kind}")),
    }
}

/// Python's `str()`: as minijinja's `string`, but `none` is `None`.
fn to_string(state: &State, value: &Value) -> Result<Value, Error> {
    defined(state, value)?;
    Ok(match value.kind() {
        ValueKind::String => value.clone(),
        ValueKind::None => Value::from("None"),
        _ => Value::from(value.to_string()),
    })
}

// ----- versions -----

fn version_args(
    state: &State,
    value: &Value,
    other: &Value,
    op: Option<&str>,
    kwargs: &Kwargs,
) -> Result<bool, Error> {
    let a = scalar_text(state, "version", value)?;
    let b = scalar_text(state, "version", other)?;
    let op = match op {
        Some(op) => op.to_string(),
        None => kwargs
            .get::<Option<String>>("operator")?
            .unwrap_or_else(|| "==".to_string()),
    };
    // Accepted for compatibility; one comparison serves every kind (see version.rs).
    let _ = kwargs.get::<Option<bool>>("strict")?;
    if let Some(kind) = kwargs.get::<Option<&str>>("version_type")?
        && !["loose", "strict", "semver", "semantic", "pep440"].contains(&kind)
    {
        return Err(invalid(format!(
            "unknown version_type `{kind}`, expected `loose`, `strict`, `semver`, `semantic` or `pep440`"
        )));
    }
    kwargs.assert_all_used()?;
    version::check(&a, &op, &b).map_err(invalid)
}

fn version_test(
    state: &State,
    value: &Value,
    other: &Value,
    op: Option<&str>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    version_args(state, value, other, op, &kwargs)
}

fn version_filter(
    state: &State,
    value: &Value,
    other: &Value,
    op: Option<&str>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    version_args(state, value, other, op, &kwargs)
}

// ----- JSON and YAML -----

fn data(state: &State, filter: &str, value: &Value) -> Result<Json, Error> {
    defined(state, value)?;
    to_json(value).map_err(|err| invalid(format!("`{filter}`: {err}")))
}

fn sort_keys(value: Json) -> Json {
    match value {
        Json::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Json::Array(items) => Json::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// Python's `json.dumps` separators: `, ` and `: `.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

fn write_json(json: &Json, formatter: impl serde_json::ser::Formatter) -> Result<String, Error> {
    use serde::Serialize;
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    json.serialize(&mut ser)
        .map_err(|err| invalid(format!("cannot write JSON: {err}")))?;
    String::from_utf8(out).map_err(|err| invalid(format!("cannot write JSON: {err}")))
}

/// Ansible's `to_json`: Python's `json.dumps` layout, keys in their order.
fn to_json_filter(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let json = data(state, "to_json", value)?;
    let sort = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    let indent = kwargs.get::<Option<usize>>("indent")?;
    kwargs.assert_all_used()?;
    let json = if sort { sort_keys(json) } else { json };
    match indent {
        Some(n) => write_json(
            &json,
            serde_json::ser::PrettyFormatter::with_indent(" ".repeat(n).as_bytes()),
        ),
        None => write_json(&json, PythonFormatter),
    }
}

/// Ansible's `to_nice_json`: 4-space indent, keys sorted (as Ansible does).
fn to_nice_json(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let json = data(state, "to_nice_json", value)?;
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(4);
    let sort = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    let json = if sort { sort_keys(json) } else { json };
    let indent = " ".repeat(indent);
    write_json(
        &json,
        serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes()),
    )
}

fn from_json_filter(state: &State, value: &Value) -> Result<Value, Error> {
    let text = scalar_text(state, "from_json", value)?;
    let json: Json = serde_json::from_str(&text)
        .map_err(|err| invalid(format!("`from_json`: not JSON: {err}")))?;
    Ok(from_json(&json))
}

fn yaml(state: &State, filter: &str, value: &Value, indent: usize) -> Result<String, Error> {
    let json = sort_keys(data(state, filter, value)?);
    let mut options = serde_saphyr::SerializerOptions::default();
    options.indent_step = indent;
    serde_saphyr::to_string_with_options(&json, options)
        .map_err(|err| invalid(format!("`{filter}`: cannot write YAML: {err}")))
}

/// Ansible's `to_yaml` (keys sorted, as PyYAML does).
fn to_yaml(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(2);
    kwargs.assert_all_used()?;
    yaml(state, "to_yaml", value, indent)
}

/// Ansible's `to_nice_yaml`: block style, 4-space indent, keys sorted.
fn to_nice_yaml(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(4);
    kwargs.assert_all_used()?;
    yaml(state, "to_nice_yaml", value, indent)
}

fn from_yaml(state: &State, value: &Value) -> Result<Value, Error> {
    let text = scalar_text(state, "from_yaml", value)?;
    let json: Json = serde_saphyr::from_str(&text)
        .map_err(|err| invalid(format!("`from_yaml`: not YAML: {err}")))?;
    Ok(from_json(&json))
}

// ----- base64 -----

/// Standard base64 with `=` padding, as Python's `base64.b64encode`.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

/// Standard base64, padded or not, ASCII whitespace (line breaks) ignored and the URL-safe
/// `-`/`_` read as `+`/`/`; `None` when it is not base64.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    static LENIENT: std::sync::LazyLock<[data_encoding::Encoding; 2]> =
        std::sync::LazyLock::new(|| [base64_lenient(true), base64_lenient(false)]);
    let [padded, unpadded] = &*LENIENT;
    padded
        .decode(text.as_bytes())
        .or_else(|_| unpadded.decode(text.as_bytes()))
        .ok()
}

fn base64_lenient(padding: bool) -> data_encoding::Encoding {
    let mut spec = data_encoding::Specification::new();
    spec.symbols
        .push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    if padding {
        spec.padding = Some('=');
    }
    spec.ignore.push_str(" \t\n\x0c\r");
    spec.translate.from.push_str("-_");
    spec.translate.to.push_str("+/");
    spec.check_trailing_bits = false;
    // A fixed specification: valid, as the base64 tests show.
    spec.encoding()
        .unwrap_or_else(|e| unreachable!("base64 specification: {e}"))
}

fn b64encode(state: &State, value: &Value) -> Result<String, Error> {
    Ok(base64_encode(
        scalar_text(state, "b64encode", value)?.as_bytes(),
    ))
}

fn b64decode(state: &State, value: &Value) -> Result<String, Error> {
    let text = scalar_text(state, "b64decode", value)?;
    let bytes = base64_decode(&text)
        .ok_or_else(|| invalid("`b64decode`: the value is not base64".to_string()))?;
    String::from_utf8(bytes)
        .map_err(|_| invalid("`b64decode`: the decoded data is not UTF-8 text".to_string()))
}

// ----- lists and dicts -----

fn items(state: &State, filter: &str, value: &Value) -> Result<Vec<Value>, Error> {
    defined(state, value)?;
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => Ok(value.try_iter()?.collect()),
        kind => Err(invalid(format!("`{filter}` expects a list, got a {kind}"))),
    }
}

fn push_unique(out: &mut Vec<Value>, item: Value) {
    if !out.contains(&item) {
        out.push(item);
    }
}

fn difference(state: &State, a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = (
        items(state, "difference", a)?,
        items(state, "difference", b)?,
    );
    let mut out = Vec::new();
    for item in a.into_iter().filter(|x| !b.contains(x)) {
        push_unique(&mut out, item);
    }
    Ok(Value::from(out))
}

fn intersect(state: &State, a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = (items(state, "intersect", a)?, items(state, "intersect", b)?);
    let mut out = Vec::new();
    for item in a.into_iter().filter(|x| b.contains(x)) {
        push_unique(&mut out, item);
    }
    Ok(Value::from(out))
}

fn union(state: &State, a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = (items(state, "union", a)?, items(state, "union", b)?);
    let mut out = Vec::new();
    for item in a.into_iter().chain(b) {
        push_unique(&mut out, item);
    }
    Ok(Value::from(out))
}

fn symmetric_difference(state: &State, a: &Value, b: &Value) -> Result<Value, Error> {
    let name = "symmetric_difference";
    let (a, b) = (items(state, name, a)?, items(state, name, b)?);
    let mut out = Vec::new();
    for item in a.iter().filter(|x| !b.contains(x)) {
        push_unique(&mut out, item.clone());
    }
    for item in b.iter().filter(|x| !a.contains(x)) {
        push_unique(&mut out, item.clone());
    }
    Ok(Value::from(out))
}

fn pairs(state: &State, filter: &str, value: &Value) -> Result<Vec<(Value, Value)>, Error> {
    defined(state, value)?;
    match (value.kind(), value.as_object()) {
        (ValueKind::Map, Some(object)) => Ok(object
            .try_iter_pairs()
            .map(|pairs| pairs.collect())
            .unwrap_or_default()),
        (kind, _) => Err(invalid(format!("`{filter}` expects a dict, got a {kind}"))),
    }
}

fn dict2items(state: &State, value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let key_name = kwargs.get::<Option<&str>>("key_name")?.unwrap_or("key");
    let value_name = kwargs.get::<Option<&str>>("value_name")?.unwrap_or("value");
    kwargs.assert_all_used()?;
    Ok(Value::from(
        pairs(state, "dict2items", value)?
            .into_iter()
            .map(|(k, v)| {
                Value::from_pairs([(Value::from(key_name), k), (Value::from(value_name), v)])
            })
            .collect::<Vec<_>>(),
    ))
}

fn items2dict(state: &State, value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let key_name = kwargs.get::<Option<&str>>("key_name")?.unwrap_or("key");
    let value_name = kwargs.get::<Option<&str>>("value_name")?.unwrap_or("value");
    kwargs.assert_all_used()?;
    let mut out = Vec::new();
    for item in items(state, "items2dict", value)? {
        let field = |name: &str| {
            item.get_attr(name)
                .ok()
                .filter(|v| !v.is_undefined())
                .ok_or_else(|| invalid(format!("`items2dict`: an item has no `{name}`: {item}")))
        };
        out.push((field(key_name)?, field(value_name)?));
    }
    Ok(Value::from_pairs(out))
}

/// Ansible's `combine`: later dicts win; `recursive=true` merges nested dicts;
/// `list_merge` is `replace` (default), `keep`, `append`, `prepend`, `append_rp`
/// or `prepend_rp`.
fn combine(
    state: &State,
    value: &Value,
    others: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let recursive = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let list_merge = kwargs
        .get::<Option<&str>>("list_merge")?
        .unwrap_or("replace")
        .to_string();
    kwargs.assert_all_used()?;
    if ![
        "replace",
        "keep",
        "append",
        "prepend",
        "append_rp",
        "prepend_rp",
    ]
    .contains(&list_merge.as_str())
    {
        return Err(invalid(format!(
            "unknown list_merge `{list_merge}`, expected `replace`, `keep`, `append`, `prepend`, `append_rp` or `prepend_rp`"
        )));
    }
    let mut result = data(state, "combine", value)?;
    // `combine([a, b])` and `combine(a, b)` both work in Ansible.
    let mut layers = Vec::new();
    for other in others.iter() {
        match data(state, "combine", other)? {
            Json::Array(list) => layers.extend(list),
            json => layers.push(json),
        }
    }
    let mut layers_all = Vec::new();
    match result {
        Json::Array(list) => {
            let mut iter = list.into_iter();
            result = iter.next().unwrap_or(Json::Object(Default::default()));
            layers_all.extend(iter);
        }
        Json::Object(_) => {}
        _ => return Err(invalid("`combine` expects dicts".to_string())),
    }
    layers_all.extend(layers);
    for layer in layers_all {
        if !layer.is_object() {
            return Err(invalid("`combine` expects dicts".to_string()));
        }
        merge(&mut result, layer, recursive, &list_merge);
    }
    Ok(from_json(&result))
}

fn merge(base: &mut Json, over: Json, recursive: bool, list_merge: &str) {
    match (base, over) {
        (Json::Object(base), Json::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(existing) if recursive && existing.is_object() && value.is_object() => {
                        merge(existing, value, recursive, list_merge)
                    }
                    Some(existing) if existing.is_array() && value.is_array() => {
                        merge(existing, value, recursive, list_merge)
                    }
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (Json::Array(base), Json::Array(over)) => match list_merge {
            "keep" => {}
            "append" => base.extend(over),
            "prepend" => {
                let old = std::mem::replace(base, over);
                base.extend(old);
            }
            "append_rp" => {
                base.retain(|x| !over.contains(x));
                base.extend(over);
            }
            "prepend_rp" => {
                let old: Vec<Json> = std::mem::take(base)
                    .into_iter()
                    .filter(|x| !over.contains(x))
                    .collect();
                *base = over;
                base.extend(old);
            }
            _ => *base = over,
        },
        (base, over) => *base = over,
    }
}

/// Ansible's `flatten(levels=None, skip_nulls=True)`.
fn flatten(
    state: &State,
    value: &Value,
    levels: Option<usize>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let levels = match levels {
        Some(l) => Some(l),
        None => kwargs.get::<Option<usize>>("levels")?,
    };
    let skip_nulls = kwargs.get::<Option<bool>>("skip_nulls")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    fn walk(items: Vec<Value>, depth: Option<usize>, skip_nulls: bool, out: &mut Vec<Value>) {
        for item in items {
            match item.kind() {
                ValueKind::Seq if depth != Some(0) => {
                    let inner: Vec<Value> =
                        item.try_iter().map(|i| i.collect()).unwrap_or_default();
                    walk(inner, depth.map(|d| d - 1), skip_nulls, out);
                }
                ValueKind::None if skip_nulls => {}
                _ => out.push(item),
            }
        }
    }
    let mut out = Vec::new();
    walk(
        items(state, "flatten", value)?,
        levels,
        skip_nulls,
        &mut out,
    );
    Ok(Value::from(out))
}

fn mandatory(state: &State, value: &Value, msg: Option<&str>) -> Result<Value, Error> {
    if value.is_undefined() {
        return match msg {
            Some(msg) => Err(Error::new(ErrorKind::UndefinedError, msg.to_string())),
            None => {
                defined(state, value)?;
                Err(Error::new(
                    ErrorKind::UndefinedError,
                    "mandatory variable not defined",
                ))
            }
        };
    }
    Ok(value.clone())
}

fn ternary(
    state: &State,
    value: &Value,
    if_true: Value,
    if_false: Value,
    if_none: Option<Value>,
) -> Result<Value, Error> {
    defined(state, value)?;
    Ok(match if_none {
        Some(none) if value.is_none() => none,
        _ if value.is_true() => if_true,
        _ => if_false,
    })
}

// ----- tests on registered results -----

fn result_field(
    state: &State,
    test: &str,
    value: &Value,
    field: &str,
) -> Result<Option<bool>, Error> {
    defined(state, value)?;
    if value.kind() != ValueKind::Map {
        return Err(invalid(format!(
            "the `{test}` test expects a registered result (a dict), got a {}",
            value.kind()
        )));
    }
    let v = value.get_attr(field)?;
    Ok(if v.is_undefined() || v.is_none() {
        None
    } else {
        Some(v.is_true())
    })
}

fn failed(state: &State, value: &Value) -> Result<bool, Error> {
    Ok(result_field(state, "failed", value, "failed")?.unwrap_or(false))
}

fn succeeded(state: &State, value: &Value) -> Result<bool, Error> {
    Ok(!result_field(state, "succeeded", value, "failed")?.unwrap_or(false))
}

/// `changed`, or for a loop's result whether any item changed (Ansible's rule).
fn changed(state: &State, value: &Value) -> Result<bool, Error> {
    if let Some(changed) = result_field(state, "changed", value, "changed")? {
        return Ok(changed);
    }
    let results = value.get_attr("results")?;
    if results.kind() == ValueKind::Seq {
        for item in results.try_iter()? {
            if item.get_attr("changed").is_ok_and(|c| c.is_true()) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn skipped(state: &State, value: &Value) -> Result<bool, Error> {
    Ok(result_field(state, "skipped", value, "skipped")?.unwrap_or(false))
}

fn unreachable(state: &State, value: &Value) -> Result<bool, Error> {
    Ok(result_field(state, "unreachable", value, "unreachable")?.unwrap_or(false))
}

fn reachable(state: &State, value: &Value) -> Result<bool, Error> {
    Ok(!result_field(state, "reachable", value, "unreachable")?.unwrap_or(false))
}

// ----- membership tests -----

fn contains(state: &State, value: &Value, item: &Value) -> Result<bool, Error> {
    defined(state, value)?;
    defined(state, item)?;
    Ok(match value.kind() {
        ValueKind::String => match (value.as_str(), item.as_str()) {
            (Some(s), Some(sub)) => s.contains(sub),
            _ => false,
        },
        ValueKind::Map => !value.get_item(item)?.is_undefined(),
        _ => value.try_iter()?.any(|x| &x == item),
    })
}

fn subset(state: &State, value: &Value, other: &Value) -> Result<bool, Error> {
    let (a, b) = (
        items(state, "subset", value)?,
        items(state, "subset", other)?,
    );
    Ok(a.iter().all(|x| b.contains(x)))
}

fn superset(state: &State, value: &Value, other: &Value) -> Result<bool, Error> {
    let (a, b) = (
        items(state, "superset", value)?,
        items(state, "superset", other)?,
    );
    Ok(b.iter().all(|x| a.contains(x)))
}

/// Ansible's `comment`: `text` as a comment block in a style (`plain` `# `, `erlang`,
/// `c`, `cblock`, `xml`), each part overridable by keyword (`decoration`, `prefix`,
/// `prefix_count`, `postfix`, `postfix_count`, `beginning`, `end`, `newline`), as
/// ansible/plugins/filter/core.py builds it.
fn comment(text: &str, style: Option<&str>, kwargs: Kwargs) -> Result<String, Error> {
    let style = style.unwrap_or("plain");
    let (beginning, decoration, end) = match style {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        _ => {
            return Err(invalid(format!(
                "invalid style `{style}`, expected `plain`, `erlang`, `c`, `cblock` or `xml`"
            )));
        }
    };
    let get = |key: &str, default: &str| -> Result<String, Error> {
        Ok(kwargs
            .get::<Option<Value>>(key)?
            .map(|v| v.to_string())
            .unwrap_or_else(|| default.to_string()))
    };
    let count =
        |key: &str| -> Result<usize, Error> { Ok(kwargs.get::<Option<usize>>(key)?.unwrap_or(1)) };
    let newline = get("newline", "\n")?;
    let beginning = get("beginning", beginning)?;
    // The style's decoration is the text's, the trimmed one the prefix's and postfix's.
    let decoration = get("decoration", decoration)?;
    let prefix = get("prefix", decoration.trim_end())?;
    let postfix = get("postfix", decoration.trim_end())?;
    let end = get("end", end)?;
    let (prefix_count, postfix_count) = (count("prefix_count")?, count("postfix_count")?);
    kwargs.assert_all_used()?;
    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&newline);
    }
    if !prefix.is_empty() {
        let one = if prefix == newline {
            newline.clone()
        } else {
            format!("{prefix}{newline}")
        };
        out.push_str(&one.repeat(prefix_count));
    }
    let body = format!(
        "{decoration}{}",
        text.replace(&newline, &format!("{newline}{decoration}"))
    )
    .replace(
        &format!("{decoration}{newline}"),
        &format!("{}{newline}", decoration.trim_end()),
    );
    out.push_str(&body);
    for _ in 0..postfix_count {
        out.push_str(&newline);
        out.push_str(&postfix);
    }
    if !end.is_empty() {
        out.push_str(&newline);
        out.push_str(&end);
    }
    Ok(out)
}

/// Jinja2's `indent(width=4, first=False, blank=False)`, which minijinja's differs from:
/// a trailing newline stays (`"a\nb\n" | indent` is `"a\n    b\n"`, templates of
/// config blocks rely on it); `width` may be a string, used as the indentation.
fn indent(
    text: &str,
    width: Option<Value>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let width = match kwargs.get::<Option<Value>>("width")? {
        Some(w) => Some(w),
        None => width,
    };
    let first = kwargs
        .get::<Option<bool>>("first")?
        .or(first)
        .unwrap_or(false);
    let blank = kwargs
        .get::<Option<bool>>("blank")?
        .or(blank)
        .unwrap_or(false);
    kwargs.assert_all_used()?;
    let pad = match width {
        None => "    ".to_string(),
        Some(w) if w.kind() == ValueKind::String => w.to_string(),
        Some(w) => {
            let n = usize::try_from(w.clone()).map_err(|_| {
                invalid(format!(
                    "indent width must be a number or a string, not `{w}`"
                ))
            })?;
            " ".repeat(n)
        }
    };
    // As Jinja2: a newline appended so that splitting keeps a trailing empty line.
    let with_nl = format!("{text}\n");
    let lines: Vec<&str> = with_nl.lines().collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            if blank || !line.is_empty() {
                out.push_str(&pad);
            }
        }
        out.push_str(line);
    }
    if first {
        out.insert_str(0, &pad);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_replacement_syntax() {
        assert_eq!(replacement(r"\1-\2"), "${1}-${2}");
        assert_eq!(replacement(r"\g<name>x\g<1>"), "${name}x${1}");
        assert_eq!(replacement("cost $5"), "cost $$5");
        assert_eq!(replacement(r"a\nb\\c"), "a\nb\\c");
    }

    #[test]
    fn base64_round_trips() {
        for text in ["", "f", "fo", "foo", "foob", "fooba", "foobar", "héllo\n"] {
            let encoded = base64_encode(text.as_bytes());
            assert_eq!(base64_decode(&encoded).unwrap(), text.as_bytes(), "{text}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_decode("Zm9v\nYmE="), Some(b"fooba".to_vec()));
        assert_eq!(base64_decode("Zm9v!"), None);
        // Unpadded, URL-safe and line-broken input, as the hand-written decoder took.
        assert_eq!(base64_decode("Zm8"), Some(b"fo".to_vec()));
        assert_eq!(base64_decode("-_8="), base64_decode("+/8="));
        assert_eq!(base64_decode("Zm9v\r\n YmFy"), Some(b"foobar".to_vec()));
        assert_eq!(base64_decode("Zm9v=x"), None);
    }

    #[test]
    fn truthy_words() {
        for yes in ["yes", "Yes", "on", "TRUE", "1", " true "] {
            assert_eq!(truthy_word(yes), Some(true), "{yes}");
        }
        for no in ["no", "off", "False", "0", ""] {
            assert_eq!(truthy_word(no), Some(false), "{no}");
        }
        assert_eq!(truthy_word("maybe"), None);
    }
}

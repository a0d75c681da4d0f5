//! What `ansible-inventory` prints, byte for byte where it matters: `--list` JSON (keys
//! sorted, four-space indent, non-ASCII kept, as Python's `json.dumps(..., indent=4,
//! sort_keys=True, ensure_ascii=False)`) and `--graph [--vars]` (values shown with Python's `str()`).
//! Pure formatting over values the inventory computed.

use std::fmt::Write as _;

use serde_json::Value;

/// Python's `repr(float)`: shortest round-trip digits, exponent from 1e16 or below 1e-4.
pub fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Rust's `{:e}` gives "1.5e-5"; Python writes "1.5e-05" and "1e+16".
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

fn json_number(n: &serde_json::Number) -> String {
    if n.is_f64() {
        n.as_f64().map(py_float).unwrap_or_else(|| n.to_string())
    } else {
        n.to_string()
    }
}

/// `json.dumps(value, sort_keys=True, indent=4, ensure_ascii=False)`, without a final
/// newline.
pub fn python_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value, 0);
    out
}

fn write_json(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&json_number(n)),
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                write_json(out, item, level + 1);
            }
            newline(out, level);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                write_json_string(out, k);
                out.push_str(": ");
                write_json(out, &map[k], level + 1);
            }
            newline(out, level);
            out.push('}');
        }
    }
}

fn newline(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("    ");
    }
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `str(value)`: strings as they are, everything else as `repr`.
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr(value)` for the types an inventory holds.
pub fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => json_number(n),
        Value::String(s) => py_repr_str(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", py_repr_str(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// One line of `--graph`: `  |  |--name` at `depth`.
pub fn graph_line(out: &mut String, name: &str, depth: usize) {
    for _ in 0..depth {
        out.push_str("  |");
    }
    if depth > 0 {
        out.push_str("--");
    }
    out.push_str(name);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_as_python_does() {
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(1500.0), "1500.0");
        assert_eq!(py_float(0.5), "0.5");
        assert_eq!(py_float(1e16), "1e+16");
        assert_eq!(py_float(1.5e-5), "1.5e-05");
        assert_eq!(py_float(-0.0), "-0.0");
    }

    #[test]
    fn json_matches_python_dumps() {
        let v = json!({"b": [1, 2.5, {}], "a": "é\"x\u{1}", "c": [], "d": null});
        assert_eq!(
            python_json(&v),
            "{\n    \"a\": \"é\\\"x\\u0001\",\n    \"b\": [\n        1,\n        2.5,\n        {}\n    ],\n    \"c\": [],\n    \"d\": null\n}"
        );
    }

    #[test]
    fn repr_matches_python() {
        assert_eq!(
            py_repr(&json!({"a": [1, "x", true, null], "b's": "it's"})),
            "{'a': [1, 'x', True, None], \"b's\": \"it's\"}"
        );
        assert_eq!(py_str(&json!("plain")), "plain");
    }
}

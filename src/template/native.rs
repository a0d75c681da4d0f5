//! Between template values and JSON data: Ansible's native typing (a string that is
//! exactly one `{{ expr }}` gives the expression's value, not its text) and the
//! conversion of results back to `serde_json::Value`.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};
use serde_json::Value as Json;

/// Whether a string needs minijinja at all; everything else is returned as is.
pub(crate) fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// The expression inside a string that is exactly one `{{ expr }}` (whitespace
/// around it and `{{-`/`-}}` allowed), as Ansible's native typing sees it.
pub(crate) fn single_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") || inner.contains("{#")
    {
        return None;
    }
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    if inner.trim().is_empty() {
        return None;
    }
    Some(inner)
}

/// A template value as JSON data: maps keep their order (keys become strings),
/// sequences and iterables become arrays. Fails on undefined values and on things
/// that are not data (functions, macros).
pub(crate) fn to_json(value: &Value) -> Result<Json, Error> {
    Ok(match value.kind() {
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "an undefined value cannot be used as data",
            ));
        }
        ValueKind::None => Json::Null,
        ValueKind::Bool => Json::Bool(value.is_true()),
        ValueKind::Number => number(value),
        ValueKind::String => Json::String(value.as_str().unwrap_or_default().to_string()),
        ValueKind::Bytes => {
            Json::String(String::from_utf8_lossy(value.as_bytes().unwrap_or_default()).into_owned())
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let mut items = Vec::new();
            for item in value.try_iter()? {
                items.push(to_json(&item)?);
            }
            Json::Array(items)
        }
        ValueKind::Map => {
            let mut map = serde_json::Map::new();
            let Some(object) = value.as_object() else {
                return Ok(Json::Object(map));
            };
            let pairs = object
                .try_iter_pairs()
                .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "map cannot be iterated"))?;
            for (key, item) in pairs {
                let key = match key.as_str() {
                    Some(s) => s.to_string(),
                    None => key.to_string(),
                };
                map.insert(key, to_json(&item)?);
            }
            Json::Object(map)
        }
        ValueKind::Invalid => {
            return Err(Error::new(ErrorKind::InvalidOperation, value.to_string()));
        }
        kind => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("a {kind} cannot be used as data"),
            ));
        }
    })
}

fn number(value: &Value) -> Json {
    if let Some(i) = value.as_i64() {
        return Json::from(i);
    }
    if let Ok(u) = u64::try_from(value.clone()) {
        return Json::from(u);
    }
    match f64::try_from(value.clone()) {
        Ok(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        Err(_) => Json::Null,
    }
}

/// JSON data as a template value (eager; for results of `from_json` and the like).
pub(crate) fn from_json(json: &Json) -> Value {
    Value::from(minijinja::value::Serde(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_expression_detection() {
        assert_eq!(single_expression("{{ x }}"), Some(" x "));
        assert_eq!(
            single_expression("  {{ groups['w'] }}\n"),
            Some(" groups['w'] ")
        );
        assert_eq!(single_expression("{{- x -}}"), Some(" x "));
        assert_eq!(single_expression("{{ a }} {{ b }}"), None);
        assert_eq!(single_expression("{{ a }}/x"), None);
        assert_eq!(single_expression("x{{ a }}"), None);
        assert_eq!(single_expression("{% if a %}{{ a }}{% endif %}"), None);
        assert_eq!(single_expression("{{ x - 1 }}"), Some(" x - 1 "));
        assert_eq!(single_expression("{{ }}"), None);
    }

    #[test]
    fn is_template_sees_every_opening() {
        assert!(is_template("a {{ b }}"));
        assert!(is_template("{% if x %}{% endif %}"));
        assert!(is_template("{# comment #}"));
        assert!(!is_template("echo ${HOME} {x}"));
    }

    #[test]
    fn to_json_keeps_types_and_order() {
        let value = from_json(&serde_json::json!({"b": [1, -2, 2.5, true, null, "s"], "a": {}}));
        assert_eq!(
            to_json(&value).unwrap().to_string(),
            r#"{"b":[1,-2,2.5,true,null,"s"],"a":{}}"#
        );
        assert!(to_json(&Value::UNDEFINED).is_err());
    }
}

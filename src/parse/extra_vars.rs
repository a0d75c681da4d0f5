//! `-e`/`--extra-vars`, as Ansible takes them: `key=value` pairs (several in one
//! argument, separated by spaces, values quoted as a shell would), `@file.yaml` or
//! `@file.json`, or an inline YAML/JSON mapping. Later arguments win.

use std::path::Path;

use serde_json::{Map, Value};

use super::InputError;

pub fn parse(args: &[String]) -> Result<Map<String, Value>, InputError> {
    let mut out = Map::new();
    for arg in args {
        let arg = arg.trim();
        if let Some(file) = arg.strip_prefix('@') {
            let path = Path::new(file);
            let v: Value = super::read_yaml(path)?;
            match v {
                Value::Object(m) => out.extend(m),
                Value::Null => {}
                _ => {
                    return Err(InputError::in_file(
                        path,
                        "extra vars must be a mapping of names to values",
                    ));
                }
            }
        } else if arg.starts_with('{') {
            let v: Value = super::yaml_from_str(Path::new("<-e>"), arg)?;
            match v {
                Value::Object(m) => out.extend(m),
                _ => {
                    return Err(InputError::in_file(
                        "<-e>",
                        "extra vars must be a mapping of names to values",
                    ));
                }
            }
        } else {
            let words = crate::shell_words::split(arg)
                .map_err(|e| InputError::in_file("<-e>", format!("`{arg}`: {e}")))?;
            for w in words {
                let Some((k, v)) = w.split_once('=') else {
                    return Err(InputError::in_file(
                        "<-e>",
                        format!("`{w}`: expected `key=value`, `@file.yaml` or a YAML/JSON mapping"),
                    ));
                };
                if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(InputError::in_file(
                        "<-e>",
                        format!("`{k}` is not a valid variable name"),
                    ));
                }
                out.insert(k.to_string(), Value::String(v.to_string()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn pairs_files_and_inline_mappings() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.yaml");
        std::fs::write(&f, "max_unavailable: 2\nlist: [a, b]\n").unwrap();
        let v = parse(&s(&[
            "a=1 b='two words'",
            &format!("@{}", f.display()),
            r#"{"c": true}"#,
            "a=3",
        ]))
        .unwrap();
        assert_eq!(v["a"], "3");
        assert_eq!(v["b"], "two words");
        assert_eq!(v["max_unavailable"], 2);
        assert_eq!(v["c"], true);
    }

    #[test]
    fn a_bare_word_is_an_error() {
        let e = parse(&s(&["oops"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "<-e>: `oops`: expected `key=value`, `@file.yaml` or a YAML/JSON mapping"
        );
    }

    #[test]
    fn a_missing_vars_file_names_it() {
        let e = parse(&s(&["@/nonexistent/v.yaml"])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/v.yaml: cannot read"),
            "{e}"
        );
    }
}

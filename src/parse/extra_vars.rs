//! `-e`/`--extra-vars`, as Ansible takes them: `key=value` pairs (several in one
//! argument, separated by spaces, values quoted as a shell would), `@file.yaml` or
//! `@file.json`, or an inline YAML/JSON mapping. Later arguments win.
//!
//! A vars file may be vault-encrypted as a whole (every string in it is then a secret),
//! and a value in it that is vault data (`!vault |`) is decrypted: the YAML reader
//! ([`super::yaml_value`]) gives a `!vault` value as its payload text, so a string that
//! starts with `$ANSIBLE_VAULT;` is taken for one.

use std::path::Path;

use serde_json::{Map, Value};

use super::InputError;
use super::vault::{self, Decryption};

/// The extra vars of the command line; vault data in `@file`s decrypted with
/// `decryption`.
pub fn parse(args: &[String], decryption: &Decryption) -> Result<Map<String, Value>, InputError> {
    let mut out = Map::new();
    for arg in args {
        let arg = arg.trim();
        if let Some(file) = arg.strip_prefix('@') {
            let path = Path::new(file);
            let v = read_file(path, decryption)?;
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
            let v: Value = super::yaml_value(Path::new("<-e>"), arg)?;
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

fn read_file(path: &Path, decryption: &Decryption) -> Result<Value, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::in_file(path, format!("cannot read: {e}")))?;
    let at_start = |e: vault::VaultError| InputError {
        file: path.to_path_buf(),
        position: Some((1, 1)),
        message: e.to_string(),
    };
    let (text, encrypted) = match decryption.file(text.trim_start()) {
        Some(plain) => (plain.map_err(at_start)?, true),
        None => (text, false),
    };
    let mut value: Value = super::yaml_value(path, &text)?;
    decrypt_values(&mut value, decryption).map_err(|e| InputError::in_file(path, e.to_string()))?;
    if encrypted {
        decryption.vault.reveal_strings(&value);
    }
    Ok(value)
}

fn decrypt_values(value: &mut Value, decryption: &Decryption) -> Result<(), vault::VaultError> {
    match value {
        Value::String(s) if vault::is_encrypted(s) => {
            *value = decryption
                .vault
                .decrypt_text(s, "value")
                .map(Value::String)?;
        }
        Value::Array(items) => {
            for v in items {
                decrypt_values(v, decryption)?;
            }
        }
        Value::Object(map) => {
            for v in map.values_mut() {
                decrypt_values(v, decryption)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn parse(args: &[String]) -> Result<Map<String, Value>, InputError> {
        super::parse(args, &Decryption::default())
    }

    fn fixture(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/vault")
            .join(rel)
    }

    #[test]
    fn an_encrypted_vars_file_and_vault_values_in_one_are_decrypted() {
        let password = std::fs::read_to_string(fixture("default.pass")).unwrap();
        let decryption = Decryption::new(std::sync::Arc::new(vault::Vault::new(vec![
            vault::Secret::new("default", password.trim()),
        ])));
        let encrypted = fixture("vars-1.1.yml");
        let v = super::parse(&s(&[&format!("@{}", encrypted.display())]), &decryption).unwrap();
        assert_eq!(v["whole_file_secret"], "file-plaintext-1-1");
        // The play's `!vault |` value, as a vars file of its own.
        let dir = tempfile::tempdir().unwrap();
        let playbook = std::fs::read_to_string(fixture("playbook.yml")).unwrap();
        let block: String = playbook
            .lines()
            .skip_while(|l| !l.contains("play_secret:"))
            .take_while(|l| !l.trim().is_empty())
            .map(|l| format!("{}\n", &l[4..]))
            .collect();
        let f = dir.path().join("v.yml");
        std::fs::write(&f, &block).unwrap();
        let v = super::parse(&s(&[&format!("@{}", f.display())]), &decryption).unwrap();
        assert_eq!(v["play_secret"], "play-plaintext-1-1");
        let mut revealed = decryption.vault.revealed();
        revealed.sort();
        assert_eq!(revealed, ["file-plaintext-1-1", "play-plaintext-1-1"]);

        let err = parse(&s(&[&format!("@{}", encrypted.display())])).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:1:1: vault-encrypted file and no vault password given (use --vault-password-file or --ask-vault-pass)",
                encrypted.display()
            )
        );
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

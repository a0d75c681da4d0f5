//! Parse: turn the operator's files (inventory, playbook, variable files) into typed,
//! validated values before any host is touched.
//!
//! Owns the shared notion of a place in an input file ([`Location`]) and of an input
//! error ([`InputError`], always `file:line:column: message`). Depends on nothing else
//! in the crate; `plan`, `execute` and `report` depend on it.

pub mod connection_vars;
pub mod extra_vars;
pub mod inventory;
pub mod playbook;
pub mod vault;
pub mod yaml11;

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in an input file, 1-based as editors count.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

impl Location {
    pub fn new(file: impl Into<PathBuf>, line: u64, column: u64) -> Self {
        Location {
            file: file.into(),
            line,
            column,
        }
    }

    /// The location of a value read with `serde_saphyr::Spanned`.
    pub fn from_saphyr(file: &Path, loc: &serde_saphyr::Location) -> Self {
        Location::new(file, loc.line(), loc.column())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Bad input, found before anything runs: names the file (and line and column when
/// known) and says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    pub file: PathBuf,
    /// Line and column, when the problem has a place inside the file.
    pub position: Option<(u64, u64)>,
    pub message: String,
}

impl InputError {
    pub fn at(location: &Location, message: impl Into<String>) -> Self {
        InputError {
            file: location.file.clone(),
            position: Some((location.line, location.column)),
            message: message.into(),
        }
    }

    pub fn in_file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        InputError {
            file: file.into(),
            position: None,
            message: message.into(),
        }
    }

    /// Turn a serde-saphyr error into ours, keeping its line and column and dropping
    /// its own `error: line N column M:` prefix and source snippet.
    pub fn from_yaml(file: &Path, err: &serde_saphyr::Error) -> Self {
        let text = err.without_snippet().to_string();
        let message = budget_message(strip_saphyr_prefix(text.trim()));
        InputError {
            file: file.to_path_buf(),
            position: err.location().map(|l| (l.line(), l.column())),
            message,
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => {
                write!(
                    f,
                    "{}:{}:{}: {}",
                    self.file.display(),
                    line,
                    col,
                    self.message
                )
            }
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found in one validation pass; `validate` prints them all.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct InputErrors(pub Vec<InputError>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<InputError> for InputErrors {
    fn from(e: InputError) -> Self {
        InputErrors(vec![e])
    }
}

/// serde-saphyr's limits on deep or alias-expanded input (which keep the parser and
/// everything after it off the end of the stack) in words: `budget breached: Depth {
/// depth: 65 }` says nothing to an operator.
fn budget_message(text: &str) -> String {
    let Some(rest) = text.strip_prefix("budget breached: ") else {
        return text.to_string();
    };
    let (what, tail) = rest.split_once(" }").unwrap_or((rest, ""));
    let said = if what.starts_with("Depth") {
        "nested more than 64 levels deep (rtmig's limit for lists and mappings)".to_string()
    } else if what.starts_with("Nodes") || what.starts_with("Aliases") || what.starts_with("Events")
    {
        "too many values once YAML aliases are expanded (an alias bomb?)".to_string()
    } else {
        format!("input too large or too deep for rtmig's YAML limits ({what} }})")
    };
    format!("{said}{tail}")
}

fn strip_saphyr_prefix(text: &str) -> &str {
    let mut rest = text.strip_prefix("error: ").unwrap_or(text);
    // "... at line 2, column 3" repeats what the location already says.
    if let Some(idx) = rest.rfind(" at line ") {
        if rest[idx + 9..]
            .split(", column ")
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        {
            rest = &rest[..idx];
        }
    }
    // "line 2 column 3: unknown field ..." -> "unknown field ..."
    if let Some(after_line) = rest.strip_prefix("line ") {
        if let Some(idx) = after_line.find(": ") {
            let head = &after_line[..idx];
            if head
                .split(" column ")
                .all(|p| p.chars().all(|c| c.is_ascii_digit()))
            {
                return &after_line[idx + 2..];
            }
        }
    }
    rest
}

/// Read a YAML file into `T`, rejecting duplicate keys (serde-saphyr's default) and
/// reporting errors at their file:line:column.
pub fn read_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::in_file(path, format!("cannot read: {e}")))?;
    yaml_from_str(path, &text)
}

/// Parse YAML text that came from `path` (used in messages only).
pub fn yaml_from_str<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, InputError> {
    serde_saphyr::from_str(text).map_err(|e| InputError::from_yaml(path, &e))
}

/// YAML text from `path` as a plain value, its scalars typed as Ansible's PyYAML types
/// them ([`yaml11`], the reader of playbooks and inventories); a `!vault` value is its
/// payload text, an empty document null.
pub fn yaml_value(path: &Path, text: &str) -> Result<serde_json::Value, InputError> {
    match yaml11::parse_keeping_vault(text) {
        Ok(root) => Ok(root.map_or(serde_json::Value::Null, |n| n.to_value())),
        Err(e) => Err(InputError {
            file: path.to_path_buf(),
            position: Some((e.line, e.column)),
            message: e.message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Play {
        hosts: String,
    }

    #[test]
    fn unknown_field_names_file_line_column() {
        let err = yaml_from_str::<Vec<Play>>(Path::new("site.yaml"), "- hosts: all\n  hots: x\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "site.yaml:2:3: unknown field `hots`, expected one of hosts"
        );
    }

    // Guards: deep input was refused as `budget breached: Depth { depth: 65 }`.
    #[test]
    fn deep_and_alias_bomb_yaml_are_refused_in_words() {
        let deep = format!("a: {}1{}\n", "[".repeat(65), "]".repeat(65));
        let err = yaml_from_str::<serde_json::Value>(Path::new("d.yaml"), &deep).unwrap_err();
        assert!(
            err.message.starts_with("nested more than 64 levels deep"),
            "{}",
            err.message
        );
        let mut bomb = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for d in 1..8 {
            let refs = vec![format!("*l{}", d - 1); 10].join(", ");
            bomb.push_str(&format!("l{d}: &l{d} [{refs}]\n"));
        }
        let err = yaml_from_str::<serde_json::Value>(Path::new("b.yaml"), &bomb).unwrap_err();
        assert!(
            err.message
                .starts_with("too many values once YAML aliases are expanded"),
            "{}",
            err.message
        );
    }

    #[test]
    fn duplicate_key_is_rejected() {
        let err = yaml_from_str::<Vec<Play>>(Path::new("p.yaml"), "- hosts: a\n  hosts: b\n")
            .unwrap_err();
        assert_eq!(err.position, Some((2, 3)));
        assert!(
            err.message.contains("duplicate mapping key"),
            "{}",
            err.message
        );
    }
}

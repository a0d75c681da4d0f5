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

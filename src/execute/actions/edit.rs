//! The shape `lineinfile`, `replace` and `blockinfile` share: read the host's file
//! once ([`files::read_for_edit`]), edit its bytes on the controller (each module's pure
//! function, unit-tested on its own), and write it back only when it differs
//! ([`files::write_edit`]: atomic, one command; none when nothing changes). Check mode
//! and `--diff` come from the same comparison.

use serde_json::{Value, json};

use super::{changed_or_ok, transport_failure};
use crate::execute::files::{self, FileError, FileSpec};
use crate::execute::remote::Remote;
use crate::report::{TaskResult, TaskStatus};

/// What a module's edit made of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The whole new content.
    pub content: Vec<u8>,
    /// Whether the module counts it as a change (Ansible's `changed` before attributes).
    pub changed: bool,
    /// Ansible's message (`line added`, `2 replacements made`, `Block inserted`).
    pub msg: String,
    /// Fields the module adds to its registered result (`found` for `lineinfile`).
    pub extra: serde_json::Map<String, Value>,
}

impl Edited {
    pub fn new(content: Vec<u8>, changed: bool, msg: impl Into<String>) -> Self {
        Edited {
            content,
            changed,
            msg: msg.into(),
            extra: serde_json::Map::new(),
        }
    }
}

/// Why a module does not edit: a failure (Ansible's message and `rc`), or nothing to do
/// with a message (`file not present`), reported ok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoEdit {
    Fail { msg: String, rc: Option<i32> },
    Ok(String),
}

/// Read `spec.dest`, apply `edit` to its bytes (`None`: the file does not exist), write
/// the result when it differs. `backup_key` is the name the module registers the backup
/// under (`backup` for `lineinfile`, `backup_file` for the others).
pub async fn edit_file(
    remote: &Remote<'_>,
    spec: &FileSpec,
    check: bool,
    diff: bool,
    backup_key: &str,
    edit: impl FnOnce(Option<&[u8]>) -> Result<Edited, NoEdit>,
) -> TaskResult {
    let original = match files::read_for_edit(remote, &spec.dest).await {
        Ok(o) => o,
        Err(e) => return failure(e),
    };
    let edited = match edit(original.content.as_deref()) {
        Ok(e) => e,
        Err(NoEdit::Ok(msg)) => {
            let mut r = TaskResult::new(TaskStatus::Ok).with_msg(&msg);
            r.registered = json!({"changed": false, "failed": false, "msg": msg});
            return r;
        }
        Err(NoEdit::Fail { msg, rc }) => {
            let mut r = TaskResult::new(TaskStatus::Failed).with_msg(&msg);
            r.rc = rc;
            r.registered = json!({"changed": false, "failed": true, "msg": msg, "rc": rc});
            return r;
        }
    };
    // A file that does not exist and that the edit leaves as it is (nothing to add) is
    // not created.
    let outcome = if original.content.is_none() && !edited.changed {
        files::FileOutcome::default()
    } else {
        match files::write_edit(remote, &original, &edited.content, spec, check, diff).await {
            Ok(o) => o,
            Err(e) => return failure(e),
        }
    };
    let changed = edited.changed || outcome.changed;
    let msg = if !edited.changed && outcome.changed {
        "ownership, perms or SE linux context changed".to_string()
    } else {
        edited.msg
    };
    let mut r = TaskResult::new(changed_or_ok(changed));
    if !msg.is_empty() {
        r.msg = Some(msg.clone());
    }
    r.diff = outcome.diff;
    let mut registered = json!({"changed": changed, "failed": false, "msg": msg});
    registered[backup_key] = json!(outcome.backup.unwrap_or_default());
    for (k, v) in edited.extra {
        registered[k] = v;
    }
    r.registered = registered;
    r
}

fn failure(e: FileError) -> TaskResult {
    match e {
        FileError::Transport(e) => transport_failure(&e),
        FileError::IsDirectory(_) => {
            let msg = e.to_string();
            let mut r = TaskResult::new(TaskStatus::Failed).with_msg(&msg);
            r.rc = Some(256);
            r.registered = json!({"changed": false, "failed": true, "msg": msg, "rc": 256});
            r
        }
        e => {
            let msg = e.to_string();
            let mut r = TaskResult::new(TaskStatus::Failed).with_msg(&msg);
            r.registered = json!({"changed": false, "failed": true, "msg": msg});
            r
        }
    }
}

/// The lines of a file as Python's `readlines()` gives them: each with its `\n`, the
/// last one without when the file does not end with one.
pub fn lines(content: &[u8]) -> Vec<Vec<u8>> {
    content
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// A line without its line ending (Python's `rstrip('\r\n')`).
pub fn rstrip_eol(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\r' | b'\n') {
        end -= 1;
    }
    &line[..end]
}

/// A line without its one `\n`: what a pattern is searched in, so that `$` matches
/// before the line's end as Python's `$` matches before a final newline.
pub fn without_newline(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// Whether `needle` occurs in `hay` (Python's `in`; the empty string is in every line).
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

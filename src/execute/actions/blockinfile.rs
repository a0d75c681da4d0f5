//! `blockinfile`: a block of lines between two marker lines (`# BEGIN ANSIBLE MANAGED
//! BLOCK` / `# END ...`), inserted, replaced in place or removed. [`edit`] follows
//! Ansible's module step by step; reading and writing are [`super::edit`]'s.

use regex::bytes::Regex;

use super::edit::{Edited, NoEdit, edit_file, lines, without_newline};
use super::{Cx, TResult, located};
use crate::execute::remote::Remote;
use crate::parse::playbook::BlockInFile;
use crate::pyre;
use crate::report::TaskResult;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, b: &BlockInFile) -> TResult<TaskResult> {
    let mut spec = cx.file_spec(&b.path, [&b.mode, &b.owner, &b.group], b.backup)?;
    spec.validate = cx.opt_text(&b.validate)?;
    let insertafter = cx.opt_text(&b.insertafter)?;
    let insertbefore = cx.opt_text(&b.insertbefore)?;
    let insert_re = match (&insertafter, &insertbefore, &b.insertafter, &b.insertbefore) {
        (Some(a), _, Some(t), _) if a != "EOF" => Some((a, t)),
        (None, Some(p), _, Some(t)) if p != "BOF" => Some((p, t)),
        _ => None,
    }
    .map(|(p, t)| pyre::compile(p, false, false).map_err(|e| located(&t.location, e)))
    .transpose()?;
    let args = BlockArgs {
        path: spec.dest.clone(),
        present: b.present,
        block: cx.opt_text(&b.block)?.unwrap_or_default(),
        marker: cx
            .opt_text(&b.marker)?
            .unwrap_or_else(|| "# {mark} ANSIBLE MANAGED BLOCK".into()),
        marker_begin: cx
            .opt_text(&b.marker_begin)?
            .unwrap_or_else(|| "BEGIN".into()),
        marker_end: cx.opt_text(&b.marker_end)?.unwrap_or_else(|| "END".into()),
        insertafter,
        insertbefore,
        insert_re,
        create: b.create,
        append_newline: b.append_newline,
        prepend_newline: b.prepend_newline,
    };
    Ok(edit_file(
        remote,
        &spec,
        cx.check(),
        cx.runner.diff,
        "backup_file",
        |c| edit(&args, c),
    )
    .await)
}

/// `blockinfile`'s arguments, rendered and compiled.
#[derive(Debug, Clone, Default)]
pub struct BlockArgs {
    pub path: String,
    pub present: bool,
    pub block: String,
    /// With `{mark}` where `marker_begin`/`marker_end` go.
    pub marker: String,
    pub marker_begin: String,
    pub marker_end: String,
    pub insertafter: Option<String>,
    pub insertbefore: Option<String>,
    /// The pattern of `insertafter` (unless `EOF`) or `insertbefore` (unless `BOF`).
    pub insert_re: Option<Regex>,
    pub create: bool,
    pub append_newline: bool,
    pub prepend_newline: bool,
}

pub fn edit(a: &BlockArgs, content: Option<&[u8]>) -> Result<Edited, NoEdit> {
    let mut lines = match content {
        Some(c) => lines(c),
        None if a.create => Vec::new(),
        None => {
            return Err(NoEdit::Fail {
                msg: format!("Path {} does not exist !", a.path),
                rc: Some(257),
            });
        }
    };
    if !a.present && content.is_none() {
        return Err(NoEdit::Ok(format!("File {} not present", a.path)));
    }
    let insertafter = match (&a.insertafter, &a.insertbefore) {
        (None, None) => Some("EOF"),
        (after, _) => after.as_deref(),
    };
    let marker = |mark: &str| -> Vec<u8> {
        let mut m = a.marker.replace("{mark}", mark).into_bytes();
        m.push(b'\n');
        m
    };
    let (marker0, marker1) = (marker(&a.marker_begin), marker(&a.marker_end));
    let blocklines: Vec<Vec<u8>> = if a.present && !a.block.is_empty() {
        let mut block = a.block.clone().into_bytes();
        if !block.ends_with(b"\n") {
            block.push(b'\n');
        }
        let mut v = vec![marker0.clone()];
        v.extend(super::edit::lines(&block));
        v.push(marker1.clone());
        v
    } else {
        Vec::new()
    };
    let n0_found = lines.iter().rposition(|l| *l == marker0);
    let n1_found = lines.iter().rposition(|l| *l == marker1);
    let mut n0 = match (n0_found, n1_found) {
        (Some(n0), Some(n1)) if n0 < n1 => {
            lines.drain(n0..=n1);
            n0
        }
        (Some(n0), Some(n1)) => {
            lines.drain(n1..=n0);
            n1
        }
        _ => {
            if let Some(re) = &a.insert_re {
                match lines.iter().rposition(|l| re.is_match(without_newline(l))) {
                    None => lines.len(),
                    Some(i) if insertafter.is_some() => i + 1,
                    Some(i) => i,
                }
            } else if a.insertbefore.is_some() {
                0
            } else {
                lines.len()
            }
        }
    };
    if n0 > 0 && !lines[n0 - 1].ends_with(b"\n") {
        lines[n0 - 1].push(b'\n');
    }
    if a.prepend_newline && a.present && n0 != 0 && lines[n0 - 1] != b"\n" {
        lines.insert(n0, b"\n".to_vec());
        n0 += 1;
    }
    let count = blocklines.len();
    let removed = blocklines.is_empty();
    lines.splice(n0..n0, blocklines);
    if a.append_newline && a.present {
        let after = n0 + count;
        if after < lines.len() && lines[after] != b"\n" {
            lines.insert(after, b"\n".to_vec());
        }
    }
    let result = lines.concat();
    let (changed, msg) = match content {
        Some(c) if c == result.as_slice() => (false, ""),
        None => (true, "File created"),
        Some(_) if removed => (true, "Block removed"),
        Some(_) => (true, "Block inserted"),
    };
    Ok(Edited::new(result, changed, msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::files::FileSpec;
    use crate::execute::remote::local as remote;
    use crate::report::TaskStatus;
    use crate::transport::local::LocalTransport;

    fn args(block: &str) -> BlockArgs {
        BlockArgs {
            path: "/f".into(),
            present: true,
            block: block.into(),
            marker: "# {mark} ANSIBLE MANAGED BLOCK".into(),
            marker_begin: "BEGIN".into(),
            marker_end: "END".into(),
            ..Default::default()
        }
    }

    fn run(a: &BlockArgs, before: &str) -> (String, bool, String) {
        let e = edit(a, Some(before.as_bytes())).unwrap();
        (String::from_utf8(e.content).unwrap(), e.changed, e.msg)
    }

    const BLOCK: &str = "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx=1\n# END ANSIBLE MANAGED BLOCK\nb\n";

    // Expected outputs below were taken from ansible-playbook 2.21 (-c local) on the
    // same input files.

    #[test]
    fn inserted_at_the_end_then_replaced_in_place_then_removed() {
        let a = args("x=1");
        assert_eq!(
            run(&a, "a"),
            (
                "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx=1\n# END ANSIBLE MANAGED BLOCK\n".into(),
                true,
                "Block inserted".into()
            )
        );
        assert!(!run(&a, BLOCK).1);
        let b = args("x=2\ny=3\n");
        assert_eq!(
            run(&b, BLOCK).0,
            "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx=2\ny=3\n# END ANSIBLE MANAGED BLOCK\nb\n"
        );
        let mut gone = args("");
        gone.present = false;
        assert_eq!(
            run(&gone, BLOCK),
            ("a\nb\n".into(), true, "Block removed".into())
        );
    }

    #[test]
    fn custom_markers_and_insertbefore() {
        let mut a = args("k: v");
        a.marker = "<!-- {mark} rtmig -->".into();
        a.marker_begin = "start".into();
        a.marker_end = "stop".into();
        a.insertbefore = Some("^</config>".into());
        a.insert_re = Some(pyre::compile("^</config>", false, false).unwrap());
        assert_eq!(
            run(&a, "<config>\n</config>\n").0,
            "<config>\n<!-- start rtmig -->\nk: v\n<!-- stop rtmig -->\n</config>\n"
        );
        let mut bof = args("top");
        bof.insertbefore = Some("BOF".into());
        assert_eq!(
            run(&bof, "a\n").0,
            "# BEGIN ANSIBLE MANAGED BLOCK\ntop\n# END ANSIBLE MANAGED BLOCK\na\n"
        );
    }

    #[test]
    fn prepend_and_append_newline_add_blank_lines_only_where_missing() {
        let mut a = args("mid");
        a.insertafter = Some("^a".into());
        a.insert_re = Some(pyre::compile("^a", false, false).unwrap());
        a.prepend_newline = true;
        a.append_newline = true;
        assert_eq!(
            run(&a, "a\n\nb\n").0,
            "a\n\n# BEGIN ANSIBLE MANAGED BLOCK\nmid\n# END ANSIBLE MANAGED BLOCK\n\nb\n"
        );
    }

    #[test]
    fn missing_file_fails_unless_create() {
        let mut a = args("x");
        assert!(matches!(
            edit(&a, None),
            Err(NoEdit::Fail { rc: Some(257), .. })
        ));
        a.create = true;
        let e = edit(&a, None).unwrap();
        assert_eq!(e.msg, "File created");
    }

    #[tokio::test]
    async fn on_the_host_a_rerun_is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "127.0.0.1 localhost\n").unwrap();
        let t = LocalTransport;
        let spec = FileSpec {
            dest: path.display().to_string(),
            mode: Some("0600".into()),
            ..Default::default()
        };
        let a = args("10.0.0.1 registry");
        let go = async || {
            edit_file(&remote(&t), &spec, false, true, "backup_file", |c| {
                edit(&a, c)
            })
            .await
        };
        let first = go().await;
        assert_eq!(first.status, TaskStatus::Changed);
        assert!(
            first
                .diff
                .unwrap_or_default()
                .contains("+10.0.0.1 registry")
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(go().await.status, TaskStatus::Ok);
    }
}

//! `lineinfile`: make sure a line is in a file (or is not), replacing the line a
//! `regexp` or `search_string` finds, else inserting it after/before a line matching
//! `insertafter`/`insertbefore` (or at `EOF`/`BOF`). [`edit`] is Ansible's
//! `present()`/`absent()` step by step, on the file's lines; reading and writing are
//! [`super::edit`]'s.

use regex::bytes::Regex;
use serde_json::json;

use super::edit::{Edited, NoEdit, contains, edit_file, lines, rstrip_eol, without_newline};
use super::{Cx, TResult, located};
use crate::parse::playbook::{LineInFile, Text};
use crate::pyre;
use crate::report::TaskResult;

pub(super) async fn run(
    cx: &Cx<'_>,
    remote: &crate::execute::remote::Remote<'_>,
    l: &LineInFile,
) -> TResult<TaskResult> {
    let mut spec = cx.file_spec(&l.path, [&l.mode, &l.owner, &l.group], l.backup)?;
    spec.validate = cx.opt_text(&l.validate)?;
    let regex = |t: &Option<Text>| -> TResult<Option<Regex>> {
        match t {
            None => Ok(None),
            Some(t) => {
                let s = cx.text(t)?;
                pyre::compile(&s, false, false)
                    .map(Some)
                    .map_err(|e| located(&t.location, e))
            }
        }
    };
    let insertafter = cx.opt_text(&l.insertafter)?;
    let insertbefore = cx.opt_text(&l.insertbefore)?;
    let insert_re = match (&insertafter, &insertbefore) {
        (Some(a), _) if a != "BOF" && a != "EOF" => regex(&l.insertafter)?,
        (None, Some(b)) if b != "BOF" => regex(&l.insertbefore)?,
        _ => None,
    };
    let args = LineArgs {
        path: spec.dest.clone(),
        present: l.present,
        regexp: regex(&l.regexp)?,
        search_string: cx.opt_text(&l.search_string)?,
        line: cx.opt_text(&l.line)?,
        insertafter,
        insertbefore,
        insert_re,
        backrefs: l.backrefs,
        firstmatch: l.firstmatch,
        create: l.create,
    };
    Ok(
        edit_file(remote, &spec, cx.check(), cx.runner.diff, "backup", |c| {
            edit(&args, c)
        })
        .await,
    )
}

/// `lineinfile`'s arguments, rendered and compiled.
#[derive(Debug, Clone, Default)]
pub struct LineArgs {
    pub path: String,
    pub present: bool,
    pub regexp: Option<Regex>,
    pub search_string: Option<String>,
    pub line: Option<String>,
    pub insertafter: Option<String>,
    pub insertbefore: Option<String>,
    /// `insertafter`/`insertbefore` compiled, when it is a pattern (not `EOF`/`BOF`).
    pub insert_re: Option<Regex>,
    pub backrefs: bool,
    pub firstmatch: bool,
    pub create: bool,
}

/// The edit itself: the file's bytes (`None` when it does not exist) to the new ones.
pub fn edit(a: &LineArgs, content: Option<&[u8]>) -> Result<Edited, NoEdit> {
    if a.present {
        present(a, content)
    } else {
        absent(a, content)
    }
}

fn present(a: &LineArgs, content: Option<&[u8]>) -> Result<Edited, NoEdit> {
    let Some(line) = a.line.as_deref() else {
        return Err(fail("line is required with state=present"));
    };
    let mut lines = match content {
        Some(c) => lines(c),
        None if a.create => Vec::new(),
        None => {
            return Err(NoEdit::Fail {
                msg: format!("Destination {} does not exist !", a.path),
                rc: Some(257),
            });
        }
    };
    let b_line = line.as_bytes();
    // Ansible's default: at the end.
    let insertbefore = a.insertbefore.as_deref();
    let insertafter = match (a.insertafter.as_deref(), insertbefore) {
        (None, None) => Some("EOF"),
        (after, _) => after,
    };
    // index[0]: the line the regexp, search string or the line itself matched;
    // index[1]: where insertafter/insertbefore matched.
    let mut index: [isize; 2] = [-1, -1];
    let mut found: Option<Vec<u8>> = None; // the line that matched, for backrefs
    let mut matched = false;
    if let Some(re) = &a.regexp {
        for (n, cur) in lines.iter().enumerate() {
            if re.is_match(without_newline(cur)) {
                index[0] = n as isize;
                found = Some(cur.clone());
                matched = true;
                if a.firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(s) = &a.search_string {
        for (n, cur) in lines.iter().enumerate() {
            if contains(cur, s.as_bytes()) {
                index[0] = n as isize;
                matched = true;
                if a.firstmatch {
                    break;
                }
            }
        }
    }
    if !matched {
        for (n, cur) in lines.iter().enumerate() {
            if rstrip_eol(cur) == b_line {
                index[0] = n as isize;
            } else if let Some(re) = &a.insert_re
                && re.is_match(without_newline(cur))
            {
                if insertafter.is_some() {
                    index[1] = n as isize + 1;
                    if a.firstmatch {
                        break;
                    }
                }
                if insertbefore.is_some() {
                    index[1] = n as isize;
                    if a.firstmatch {
                        break;
                    }
                }
            }
        }
    }
    let with_sep = |l: &[u8]| -> Vec<u8> {
        let mut v = l.to_vec();
        v.push(b'\n');
        v
    };
    let ends_open = |lines: &Vec<Vec<u8>>| {
        lines
            .last()
            .is_some_and(|l| !l.ends_with(b"\n") && !l.ends_with(b"\r"))
    };
    let mut msg = "";
    let mut changed = false;
    if index[0] != -1 {
        let mut new_line = match (&a.regexp, &found) {
            (Some(re), Some(cur)) if a.backrefs => {
                let mut out = Vec::new();
                if let Some(caps) = re.captures(without_newline(cur)) {
                    caps.expand(pyre::template(line).as_bytes(), &mut out);
                }
                out
            }
            _ => b_line.to_vec(),
        };
        if !new_line.ends_with(b"\n") {
            new_line.push(b'\n');
        }
        // (Ansible's branch for "no regexp, no search string, no exact line" cannot be
        // taken here: index[0] is only set by one of them.)
        let i0 = index[0] as usize;
        if lines[i0] != new_line {
            lines[i0] = new_line;
            msg = "line replaced";
            changed = true;
        }
    } else if a.backrefs {
        // Nothing: without a match there are no groups to build the line from.
    } else if insertbefore == Some("BOF") || insertafter == Some("BOF") {
        lines.insert(0, with_sep(b_line));
        msg = "line added";
        changed = true;
    } else if insertafter == Some("EOF") || index[1] == -1 {
        if ends_open(&lines) {
            lines.push(b"\n".to_vec());
        }
        lines.push(with_sep(b_line));
        msg = "line added";
        changed = true;
    } else if insertafter.is_some() && index[1] != -1 {
        let i1 = index[1] as usize;
        if lines.len() == i1 {
            if rstrip_eol(&lines[i1 - 1]) != b_line {
                lines.push(with_sep(b_line));
                msg = "line added";
                changed = true;
            }
        } else if b_line != rstrip_eol(&lines[i1]) {
            lines.insert(i1, with_sep(b_line));
            msg = "line added";
            changed = true;
        }
    } else {
        lines.insert(index[1] as usize, with_sep(b_line));
        msg = "line added";
        changed = true;
    }
    Ok(Edited::new(lines.concat(), changed, msg))
}

fn absent(a: &LineArgs, content: Option<&[u8]>) -> Result<Edited, NoEdit> {
    if a.regexp.is_none() && a.search_string.is_none() && a.line.is_none() {
        return Err(fail(
            "one of line, search_string, or regexp is required with state=absent",
        ));
    }
    let Some(content) = content else {
        return Err(NoEdit::Ok("file not present".into()));
    };
    let all = lines(content);
    let mut found = 0usize;
    let kept: Vec<Vec<u8>> = all
        .into_iter()
        .filter(|cur| {
            let hit = if let Some(re) = &a.regexp {
                re.is_match(without_newline(cur))
            } else if let Some(s) = &a.search_string {
                contains(cur, s.as_bytes())
            } else {
                a.line
                    .as_deref()
                    .is_some_and(|l| rstrip_eol(cur) == l.as_bytes())
            };
            found += usize::from(hit);
            !hit
        })
        .collect();
    let msg = if found > 0 {
        format!("{found} line(s) removed")
    } else {
        String::new()
    };
    let mut e = Edited::new(kept.concat(), found > 0, msg);
    e.extra.insert("found".into(), json!(found));
    Ok(e)
}

fn fail(msg: &str) -> NoEdit {
    NoEdit::Fail {
        msg: msg.into(),
        rc: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::files::FileSpec;
    use crate::execute::remote::local as remote;
    use crate::report::TaskStatus;
    use crate::transport::local::LocalTransport;

    fn re(p: &str) -> Option<Regex> {
        Some(pyre::compile(p, false, false).unwrap())
    }

    fn args(line: &str) -> LineArgs {
        LineArgs {
            path: "/f".into(),
            present: true,
            line: Some(line.into()),
            ..Default::default()
        }
    }

    fn run(a: &LineArgs, before: &str) -> (String, bool) {
        let e = edit(a, Some(before.as_bytes())).unwrap();
        (String::from_utf8(e.content).unwrap(), e.changed)
    }

    // Expected outputs below were taken from ansible-playbook 2.21 (-c local) on the
    // same input files.

    #[test]
    fn regexp_replaces_the_last_match_or_appends() {
        let mut a = args("port=2222");
        a.regexp = re("^port=");
        assert_eq!(
            run(&a, "a\nport=22\nb\nport=23\n"),
            ("a\nport=22\nb\nport=2222\n".into(), true)
        );
        a.firstmatch = true;
        assert_eq!(
            run(&a, "a\nport=22\nb\nport=23\n"),
            ("a\nport=2222\nb\nport=23\n".into(), true)
        );
        assert_eq!(run(&a, "x"), ("x\nport=2222\n".into(), true));
        assert_eq!(run(&a, "port=2222\n"), ("port=2222\n".into(), false));
    }

    #[test]
    fn dollar_matches_before_the_lines_newline_as_in_python() {
        let mut a = args("b=2");
        a.regexp = re("^b=.*$");
        assert_eq!(run(&a, "a=1\nb=1\n"), ("a=1\nb=2\n".into(), true));
    }

    #[test]
    fn insertafter_and_insertbefore() {
        let mut a = args("new");
        a.insertafter = Some("^\\[main\\]".into());
        a.insert_re = re("^\\[main\\]");
        assert_eq!(
            run(&a, "[main]\nx\n[other]\n"),
            ("[main]\nnew\nx\n[other]\n".into(), true)
        );
        assert!(!run(&a, "[main]\nnew\nx\n").1);
        // No match for the anchor: at the end.
        assert_eq!(run(&a, "x\n"), ("x\nnew\n".into(), true));
        let mut b = args("new");
        b.insertbefore = Some("^x".into());
        b.insert_re = re("^x");
        assert_eq!(run(&b, "a\nx\nx\n"), ("a\nx\nnew\nx\n".into(), true));
        b.firstmatch = true;
        assert_eq!(run(&b, "a\nx\nx\n"), ("a\nnew\nx\nx\n".into(), true));
        let mut bof = args("first");
        bof.insertbefore = Some("BOF".into());
        assert_eq!(run(&bof, "a\n"), ("first\na\n".into(), true));
        assert!(!run(&bof, "a\nfirst\n").1);
    }

    #[test]
    fn backrefs_rebuild_the_line_or_leave_the_file() {
        let mut a = args(r"\g<k> = \2 # set");
        a.regexp = re(r"^(?P<k>\w+)\s*=\s*(\d+)$");
        a.backrefs = true;
        assert_eq!(run(&a, "n=1\n"), ("n = 1 # set\n".into(), true));
        assert_eq!(run(&a, "none\n"), ("none\n".into(), false));
    }

    #[test]
    fn search_string_and_absent() {
        let mut a = args("Listen 8080");
        a.search_string = Some("Listen ".into());
        assert_eq!(run(&a, "Listen 80\n"), ("Listen 8080\n".into(), true));
        let mut gone = args("");
        gone.present = false;
        gone.line = None;
        gone.regexp = re("^#");
        let e = edit(&gone, Some(b"#a\nb\n#c\n")).unwrap();
        assert_eq!(
            (e.content, e.msg.as_str()),
            (b"b\n".to_vec(), "2 line(s) removed")
        );
        assert_eq!(
            edit(&gone, None),
            Err(NoEdit::Ok("file not present".into()))
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
        assert_eq!(edit(&a, None).unwrap().content, b"x\n");
    }

    #[tokio::test]
    async fn on_the_host_changed_then_ok_and_check_mode_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sshd_config");
        std::fs::write(&path, "#Port 22\nPermitRootLogin yes\n").unwrap();
        let t = LocalTransport;
        let spec = FileSpec {
            dest: path.display().to_string(),
            ..Default::default()
        };
        let mut a = args("Port 2222");
        a.regexp = re("^#?Port ");
        let go = async |check: bool| {
            edit_file(&remote(&t), &spec, check, true, "backup", |c| edit(&a, c)).await
        };
        let r = go(true).await;
        assert_eq!(r.status, TaskStatus::Changed);
        assert!(r.diff.as_deref().unwrap_or_default().contains("+Port 2222"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "#Port 22\nPermitRootLogin yes\n"
        );
        assert_eq!(go(false).await.status, TaskStatus::Changed);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "Port 2222\nPermitRootLogin yes\n"
        );
        let again = go(false).await;
        assert_eq!(again.status, TaskStatus::Ok);
        assert_eq!(again.diff, None);
    }

    /// `validate` runs on the new content before it replaces the file: refused, the
    /// file is left as it was and the task fails with Ansible's words.
    #[tokio::test]
    async fn validate_refuses_or_lets_the_edit_through() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf");
        std::fs::write(&path, "a=1\n").unwrap();
        let t = LocalTransport;
        let spec = |validate: &str| FileSpec {
            dest: path.display().to_string(),
            validate: Some(validate.into()),
            ..Default::default()
        };
        let a = args("b=2");
        let refused = spec("grep -q nothing-like-this %s");
        let r = edit_file(&remote(&t), &refused, false, false, "backup", |c| {
            edit(&a, c)
        })
        .await;
        assert_eq!(r.status, TaskStatus::Failed);
        assert!(
            r.msg
                .as_deref()
                .unwrap_or_default()
                .starts_with("failed to validate: rc:1"),
            "{:?}",
            r.msg
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a=1\n");
        let accepted = spec("grep -q b=2 %s");
        let r = edit_file(&remote(&t), &accepted, false, false, "backup", |c| {
            edit(&a, c)
        })
        .await;
        assert_eq!(r.status, TaskStatus::Changed);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a=1\nb=2\n");
    }
}

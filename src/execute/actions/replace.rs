//! `replace`: every match of `regexp` (Python's `re.MULTILINE`) in a file replaced by
//! `replace`, whose `\1`/`\g<name>` backreferences are Python's; `after`/`before` limit
//! the replacing to the text between their matches, as Ansible's `(?s)AFTER(.*?)BEFORE`
//! section. Reading and writing are [`super::edit`]'s.

use regex::bytes::Regex;

use super::edit::{Edited, NoEdit, edit_file};
use super::{Cx, TResult, located};
use crate::execute::remote::Remote;
use crate::parse::playbook::Replace;
use crate::pyre;
use crate::report::TaskResult;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, r: &Replace) -> TResult<TaskResult> {
    let mut spec = cx.file_spec(&r.path, [&r.mode, &r.owner, &r.group], r.backup)?;
    spec.validate = cx.opt_text(&r.validate)?;
    let pattern = cx.text(&r.regexp)?;
    let regexp =
        pyre::compile(&pattern, true, false).map_err(|e| located(&r.regexp.location, e))?;
    let after = cx.opt_text(&r.after)?.filter(|s| !s.is_empty());
    let before = cx.opt_text(&r.before)?.filter(|s| !s.is_empty());
    let section = match (&after, &before) {
        (Some(a), Some(b)) => Some(format!("{a}(?P<subsection>.*?){b}")),
        (Some(a), None) => Some(format!("{a}(?P<subsection>.*)")),
        (None, Some(b)) => Some(format!("(?P<subsection>.*){b}")),
        (None, None) => None,
    };
    let section = match section {
        None => None,
        Some(p) => {
            let at = r
                .after
                .as_ref()
                .or(r.before.as_ref())
                .map_or(&r.regexp.location, |t| &t.location);
            let re = pyre::compile(&p, false, true).map_err(|e| located(at, e))?;
            Some((p, re))
        }
    };
    let args = ReplaceArgs {
        path: spec.dest.clone(),
        regexp,
        replace: cx.opt_text(&r.replace)?.unwrap_or_default(),
        section,
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

/// `replace`'s arguments, rendered and compiled.
#[derive(Debug, Clone)]
pub struct ReplaceArgs {
    pub path: String,
    /// Compiled with `re.MULTILINE`, as Ansible compiles it.
    pub regexp: Regex,
    /// Python's template (`\1`, `\g<name>`).
    pub replace: String,
    /// The `after`/`before` pattern as written and compiled (`re.DOTALL`).
    pub section: Option<(String, Regex)>,
}

pub fn edit(a: &ReplaceArgs, content: Option<&[u8]>) -> Result<Edited, NoEdit> {
    let Some(contents) = content else {
        return Err(NoEdit::Fail {
            msg: format!("Path {} does not exist !", a.path),
            rc: Some(257),
        });
    };
    let (start, end) = match &a.section {
        None => (0, contents.len()),
        Some((pattern, re)) => match re.captures(contents).and_then(|c| c.name("subsection")) {
            Some(m) => (m.start(), m.end()),
            None => {
                return Err(NoEdit::Ok(format!(
                    "Pattern for before/after params did not match the given file: {pattern}"
                )));
            }
        },
    };
    let section = &contents[start..end];
    let template = pyre::template(&a.replace);
    let mut replaced = Vec::with_capacity(section.len());
    let mut last = 0;
    let mut count = 0usize;
    for caps in a.regexp.captures_iter(section) {
        let Some(m) = caps.get(0) else { continue };
        replaced.extend_from_slice(&section[last..m.start()]);
        caps.expand(template.as_bytes(), &mut replaced);
        last = m.end();
        count += 1;
    }
    replaced.extend_from_slice(&section[last..]);
    if count == 0 || replaced == section {
        return Ok(Edited::new(contents.to_vec(), false, ""));
    }
    let mut new = contents[..start].to_vec();
    new.extend_from_slice(&replaced);
    new.extend_from_slice(&contents[end..]);
    Ok(Edited::new(new, true, format!("{count} replacements made")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::files::FileSpec;
    use crate::execute::remote::local as remote;
    use crate::report::TaskStatus;
    use crate::transport::local::LocalTransport;

    fn args(regexp: &str, replace: &str, section: Option<&str>) -> ReplaceArgs {
        ReplaceArgs {
            path: "/f".into(),
            regexp: pyre::compile(regexp, true, false).unwrap(),
            replace: replace.into(),
            section: section.map(|p| (p.to_string(), pyre::compile(p, false, true).unwrap())),
        }
    }

    fn run(a: &ReplaceArgs, before: &str) -> (String, bool, String) {
        let e = edit(a, Some(before.as_bytes())).unwrap();
        (String::from_utf8(e.content).unwrap(), e.changed, e.msg)
    }

    #[test]
    fn multiline_anchors_and_python_backrefs() {
        let a = args(r"^(\s*)#\s*(?P<k>\w+) = (.*)$", r"\1\g<k> = \3", None);
        assert_eq!(
            run(&a, "# a = 1\n  # b = 2\nc = 3\n"),
            (
                "a = 1\n  b = 2\nc = 3\n".into(),
                true,
                "2 replacements made".into()
            )
        );
        // Matches whose replacement is the same text are no change.
        let same = args("c = 3", "c = 3", None);
        assert!(!run(&same, "c = 3\n").1);
    }

    #[test]
    fn after_and_before_limit_the_section() {
        let a = args("^x$", "y", Some("\\[b\\](?P<subsection>.*?)\\[c\\]"));
        assert_eq!(run(&a, "x\n[b]\nx\n[c]\nx\n").0, "x\n[b]\ny\n[c]\nx\n");
        let e = edit(&a, Some(b"x\n")).unwrap_err();
        assert!(matches!(e, NoEdit::Ok(m) if m.starts_with("Pattern for before/after")));
    }

    #[tokio::test]
    async fn a_rerun_is_ok_and_a_missing_file_fails_as_ansible() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "SystemdCgroup = false\n").unwrap();
        let t = LocalTransport;
        let spec = FileSpec {
            dest: path.display().to_string(),
            ..Default::default()
        };
        let a = args("SystemdCgroup = false", "SystemdCgroup = true", None);
        let go = async |spec: &FileSpec| {
            edit_file(&remote(&t), spec, false, false, "backup_file", |c| {
                edit(&a, c)
            })
            .await
        };
        assert_eq!(go(&spec).await.status, TaskStatus::Changed);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "SystemdCgroup = true\n"
        );
        assert_eq!(go(&spec).await.status, TaskStatus::Ok);
        let missing = FileSpec {
            dest: dir.path().join("nope").display().to_string(),
            ..Default::default()
        };
        let r = go(&missing).await;
        assert_eq!(r.status, TaskStatus::Failed);
        assert_eq!(r.rc, Some(257));
    }
}

//! `fetch`: a file from the host to the controller. Ansible's layout: `dest/<host>/<src>`,
//! or `dest` itself with `flat`. Changed only when the controller's copy differs.

use std::path::Path;

use serde_json::json;

use super::{Cx, TResult, changed_or_ok, transport_failure};
use crate::execute::files;
use crate::execute::remote::Remote;
use crate::parse::playbook::Fetch;
use crate::report::{TaskResult, TaskStatus};

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, f: &Fetch) -> TResult<TaskResult> {
    let src = cx.text(&f.src)?;
    let dest = cx.text(&f.dest)?;
    Ok(fetch(remote, &src, &dest, f.flat, cx.check()).await)
}

pub async fn fetch(
    remote: &Remote<'_>,
    src: &str,
    dest: &str,
    flat: bool,
    check: bool,
) -> TaskResult {
    let target = if flat {
        std::path::PathBuf::from(dest)
    } else {
        Path::new(dest)
            .join(remote.host)
            .join(src.trim_start_matches('/'))
    };
    if check {
        return TaskResult::new(TaskStatus::Changed)
            .with_msg(format!("would fetch to {}", target.display()));
    }
    let fail = |msg: String| TaskResult::new(TaskStatus::Failed).with_msg(msg);
    if let Some(dir) = target.parent()
        && let Err(e) = tokio::fs::create_dir_all(dir).await
    {
        return fail(format!("cannot create `{}`: {e}", dir.display()));
    }
    let tmp = target.with_extension("rtmig-part");
    let mut file = match tokio::fs::File::create(&tmp).await {
        Ok(f) => f,
        Err(e) => return fail(format!("cannot write `{}`: {e}", tmp.display())),
    };
    let sum = match files::fetch(remote, src, &mut file).await {
        Ok(s) => s,
        Err(files::FileError::Transport(e)) => return transport_failure(&e),
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return fail(e.to_string());
        }
    };
    drop(file);
    let old = tokio::fs::read(&target)
        .await
        .ok()
        .map(|b| files::sha256_hex(&b));
    if let Err(e) = tokio::fs::rename(&tmp, &target).await {
        return fail(format!("cannot write `{}`: {e}", target.display()));
    }
    let changed = old.as_deref() != Some(sum.as_str());
    let mut r = TaskResult::new(changed_or_ok(changed));
    r.registered =
        json!({"changed": changed, "dest": target.display().to_string(), "checksum": sum});
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::remote::local as remote;
    use crate::transport::local::LocalTransport;

    #[tokio::test]
    async fn fetch_lays_files_out_per_host() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.txt");
        std::fs::write(&src, "hello").unwrap();
        let dest = dir.path().join("out");
        let t = LocalTransport;
        let r = fetch(
            &remote(&t),
            &src.display().to_string(),
            &dest.display().to_string(),
            false,
            false,
        )
        .await;
        assert_eq!(r.status, TaskStatus::Changed);
        let landed = dest
            .join("local")
            .join(src.display().to_string().trim_start_matches('/'));
        assert_eq!(std::fs::read_to_string(landed).unwrap(), "hello");
    }
}

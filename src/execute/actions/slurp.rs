//! `slurp`: a host's file, base64-encoded into the registered `content` (Ansible's
//! shape: `content`, `encoding: base64`, `source`). Read-only: never changed, and it
//! runs under `--check` too. One command; the bytes are encoded on the controller.

use serde_json::json;

use super::{Cx, TResult, output_text, transport_failure};
use crate::execute::remote::Remote;
use crate::parse::playbook::Slurp;
use crate::report::{TaskResult, TaskStatus};
use crate::shell_words::quote;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, s: &Slurp) -> TResult<TaskResult> {
    let src = cx.text(&s.src)?;
    Ok(slurp(remote, &src).await)
}

/// Printed instead of the content when the file cannot be read, with Ansible's words.
const NOT_FOUND: i32 = 66;
const IS_DIR: i32 = 67;
const NOT_READABLE: i32 = 68;

pub async fn slurp(remote: &Remote<'_>, src: &str) -> TaskResult {
    let p = quote(src);
    let command = format!(
        "if [ -d {p} ]; then exit {IS_DIR}; elif [ ! -e {p} ]; then exit {NOT_FOUND}; elif [ ! -r {p} ]; then exit {NOT_READABLE}; fi; cat -- {p}"
    );
    let out = match remote.run(&command).await {
        Ok(o) => o,
        Err(e) => return transport_failure(&e),
    };
    let failed = |msg: String| {
        let mut r = TaskResult::new(TaskStatus::Failed).with_msg(&msg);
        r.registered = json!({"changed": false, "failed": true, "msg": msg});
        r
    };
    match out.status {
        0 => {
            let mut r = TaskResult::new(TaskStatus::Ok);
            r.registered = json!({
                "changed": false,
                "failed": false,
                "content": data_encoding::BASE64.encode(&out.stdout),
                "encoding": "base64",
                "source": src,
            });
            r
        }
        NOT_FOUND => failed(format!("File not found: {src}")),
        IS_DIR => failed(format!("Source is a directory and must be a file: {src}")),
        NOT_READABLE => failed(format!("File is not readable: {src}")),
        _ => failed(format!(
            "Unable to slurp file: {src}: {}",
            output_text(&out.stderr).trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::remote::local as remote;
    use crate::transport::local::LocalTransport;

    #[tokio::test]
    async fn content_is_base64_and_a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"a\x00b\n").unwrap();
        let t = LocalTransport;
        let r = slurp(&remote(&t), &f.display().to_string()).await;
        assert_eq!(r.status, TaskStatus::Ok);
        assert_eq!(r.registered["content"], "YQBiCg==");
        assert_eq!(r.registered["encoding"], "base64");
        let missing = dir.path().join("nope").display().to_string();
        let r = slurp(&remote(&t), &missing).await;
        assert_eq!(r.status, TaskStatus::Failed);
        assert_eq!(r.msg.unwrap(), format!("File not found: {missing}"));
        let d = slurp(&remote(&t), &dir.path().display().to_string()).await;
        assert!(d.msg.unwrap().starts_with("Source is a directory"));
    }
}

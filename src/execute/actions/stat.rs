//! `stat`: a path's kind, mode, owner, size, times and (for a regular file) checksum,
//! registered as Ansible's `stat` key. Read-only: never changed, and it runs under
//! `--check` too (Ansible's modules that support check mode run in it). One command.

use serde_json::{Map, Value, json};

use super::{Cx, TResult, output_text, transport_failure};
use crate::execute::remote::Remote;
use crate::parse::playbook::{ChecksumAlgorithm, Stat};
use crate::report::{TaskResult, TaskStatus};
use crate::shell_words::quote;

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, s: &Stat) -> TResult<TaskResult> {
    let path = cx.text(&s.path)?;
    let checksum = s.get_checksum.then_some(s.checksum_algorithm);
    Ok(stat(remote, &path, s.follow, checksum).await)
}

/// The command [`parse`] reads: `absent`, or `key=value` lines.
fn command(path: &str, follow: bool, checksum: Option<ChecksumAlgorithm>) -> String {
    let p = quote(path);
    let l = if follow { " -L" } else { "" };
    let sum = match checksum {
        Some(alg) => format!(
            " if [ -f {p} ] && [ -r {p} ] && {{ [ -n \"$follow\" ] || [ ! -L {p} ]; }}; then printf 'checksum=%s\\n' \"$({} < {p} | cut -d' ' -f1)\"; fi;",
            sum_command(alg)
        ),
        None => String::new(),
    };
    let follow_var = if follow { "follow=1;" } else { "follow=;" };
    format!(
        "{follow_var} if [ -e {p} ] || [ -L {p} ]; then \
         printf 'stat=%s\\n' \"$(stat{l} -c '%f|%u|%g|%U|%G|%s|%i|%d|%h|%.9X|%.9Y|%.9Z|%o|%b|%t|%T' {p})\"; \
         if [ -z \"$follow\" ] && [ -L {p} ]; then printf 'target=%s\\nsource=%s\\n' \"$(readlink {p})\" \"$(readlink -f {p})\"; fi; \
         a=; [ -r {p} ] && a=${{a}}r; [ -w {p} ] && a=${{a}}w; [ -x {p} ] && a=${{a}}x; printf 'access=%s\\n' \"$a\";{sum} \
         else echo absent; fi"
    )
}

/// The coreutils program that prints a file's sum of `alg`.
fn sum_command(alg: ChecksumAlgorithm) -> &'static str {
    match alg {
        ChecksumAlgorithm::Md5 => "md5sum",
        ChecksumAlgorithm::Sha1 => "sha1sum",
        ChecksumAlgorithm::Sha224 => "sha224sum",
        ChecksumAlgorithm::Sha256 => "sha256sum",
        ChecksumAlgorithm::Sha384 => "sha384sum",
        ChecksumAlgorithm::Sha512 => "sha512sum",
    }
}

/// `stat` on the host.
pub async fn stat(
    remote: &Remote<'_>,
    path: &str,
    follow: bool,
    checksum: Option<ChecksumAlgorithm>,
) -> TaskResult {
    let out = match remote.run(&command(path, follow, checksum)).await {
        Ok(o) => o,
        Err(e) => return transport_failure(&e),
    };
    if out.status != 0 {
        let msg = format!("cannot stat `{path}`: {}", output_text(&out.stderr).trim());
        let mut r = TaskResult::new(TaskStatus::Failed).with_msg(&msg);
        r.registered = json!({"changed": false, "failed": true, "msg": msg});
        return r;
    }
    let mut r = TaskResult::new(TaskStatus::Ok);
    match parse(path, &output_text(&out.stdout)) {
        Some(stat) => r.registered = json!({"changed": false, "failed": false, "stat": stat}),
        None => {
            let msg = format!("cannot read the stat of `{path}`");
            r = TaskResult::new(TaskStatus::Failed).with_msg(&msg);
            r.registered = json!({"changed": false, "failed": true, "msg": msg});
        }
    }
    r
}

/// Ansible's `stat` dictionary from what [`command`] printed; `None` when it is not
/// what the command prints.
fn parse(path: &str, text: &str) -> Option<Value> {
    if text.trim() == "absent" {
        return Some(json!({"exists": false}));
    }
    let mut fields: Map<String, Value> = Map::new();
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    };
    let st: Vec<&str> = get("stat")?.split('|').collect();
    let [
        raw,
        uid,
        gid,
        user,
        group,
        size,
        inode,
        dev,
        nlink,
        atime,
        mtime,
        ctime,
        block_size,
        blocks,
        major,
        minor,
    ] = st[..]
    else {
        return None;
    };
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap_or(0);
    let blocks_n = blocks.parse::<u64>().unwrap_or(0);
    let raw = u32::from_str_radix(raw, 16).ok()?;
    let kind = raw & 0o170000;
    let perm = raw & 0o7777;
    let num = |s: &str| s.parse::<u64>().map(Value::from).unwrap_or(Value::Null);
    let time = |s: &str| s.parse::<f64>().map(Value::from).unwrap_or(Value::Null);
    let bit = |b: u32| perm & b != 0;
    let access = get("access").unwrap_or_default();
    let entries = [
        ("exists", json!(true)),
        ("path", json!(path)),
        ("mode", json!(format!("{perm:04o}"))),
        ("isdir", json!(kind == 0o040000)),
        ("ischr", json!(kind == 0o020000)),
        ("isblk", json!(kind == 0o060000)),
        ("isreg", json!(kind == 0o100000)),
        ("isfifo", json!(kind == 0o010000)),
        ("islnk", json!(kind == 0o120000)),
        ("issock", json!(kind == 0o140000)),
        ("uid", num(uid)),
        ("gid", num(gid)),
        ("pw_name", json!(user)),
        ("gr_name", json!(group)),
        ("size", num(size)),
        ("inode", num(inode)),
        ("dev", num(dev)),
        ("nlink", num(nlink)),
        ("atime", time(atime)),
        ("mtime", time(mtime)),
        ("ctime", time(ctime)),
        ("wusr", json!(bit(0o200))),
        ("rusr", json!(bit(0o400))),
        ("xusr", json!(bit(0o100))),
        ("wgrp", json!(bit(0o020))),
        ("rgrp", json!(bit(0o040))),
        ("xgrp", json!(bit(0o010))),
        ("woth", json!(bit(0o002))),
        ("roth", json!(bit(0o004))),
        ("xoth", json!(bit(0o001))),
        ("isuid", json!(bit(0o4000))),
        ("isgid", json!(bit(0o2000))),
        ("block_size", num(block_size)),
        ("blocks", num(blocks)),
        // Python's os.stat: st_blocks are 512-byte units; st_rdev is glibc's makedev.
        ("disk_usage_bytes", json!(blocks_n * 512)),
        ("device_type", json!(makedev(hex(major), hex(minor)))),
        ("readable", json!(access.contains('r'))),
        ("writeable", json!(access.contains('w'))),
        ("executable", json!(access.contains('x'))),
    ];
    for (k, v) in entries {
        fields.insert(k.into(), v);
    }
    if let (Some(target), Some(source)) = (get("target"), get("source")) {
        fields.insert("lnk_target".into(), json!(target));
        fields.insert("lnk_source".into(), json!(source));
    }
    if let Some(sum) = get("checksum") {
        fields.insert("checksum".into(), json!(sum));
    }
    Some(Value::Object(fields))
}

/// glibc's `makedev`, as Python's `st_rdev` gives a device number.
fn makedev(major: u64, minor: u64) -> u64 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::remote::local as remote;
    use crate::transport::local::LocalTransport;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn a_file_a_directory_a_link_and_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "hi\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        let l = dir.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        let t = LocalTransport;
        let sha1 = Some(ChecksumAlgorithm::Sha1);
        let r = stat(&remote(&t), &f.display().to_string(), false, sha1).await;
        assert_eq!(r.status, TaskStatus::Ok);
        let s = &r.registered["stat"];
        assert_eq!(s["exists"], true);
        assert_eq!(s["isreg"], true);
        assert_eq!(s["isdir"], false);
        assert_eq!(s["mode"], "0640");
        assert_eq!(s["size"], 3);
        // sha1 of "hi\n", as `sha1sum` and Ansible's `checksum` give it.
        assert_eq!(s["checksum"], "55ca6286e3e4f4fba5d0448333fa99fc5a404a73");
        assert!(s["mtime"].is_f64());
        assert_eq!(s["disk_usage_bytes"], s["blocks"].as_u64().unwrap() * 512);
        let null = stat(&remote(&t), "/dev/null", false, None).await;
        // /dev/null is character device 1:3, st_rdev 259 as Python reports it.
        assert_eq!(null.registered["stat"]["device_type"], 259);
        assert_eq!(null.registered["stat"]["ischr"], true);
        let d = stat(&remote(&t), &dir.path().display().to_string(), false, sha1).await;
        assert_eq!(d.registered["stat"]["isdir"], true);
        assert!(d.registered["stat"].get("checksum").is_none());
        let link = stat(&remote(&t), &l.display().to_string(), false, sha1).await;
        assert_eq!(link.registered["stat"]["islnk"], true);
        assert_eq!(
            link.registered["stat"]["lnk_source"],
            f.display().to_string()
        );
        let followed = stat(&remote(&t), &l.display().to_string(), true, sha1).await;
        assert_eq!(followed.registered["stat"]["islnk"], false);
        assert_eq!(followed.registered["stat"]["isreg"], true);
        let none = stat(&remote(&t), "/nonexistent/x", false, sha1).await;
        assert_eq!(none.status, TaskStatus::Ok);
        assert_eq!(none.registered["stat"], json!({"exists": false}));
    }
}

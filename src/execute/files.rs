//! Files on hosts, built on exec channels: check-then-act uploads (atomic: a temp file
//! in the destination directory, then rename; skipped when content, mode and owner are
//! already right), downloads, and host-to-host transfers streamed through the
//! controller and verified by sha256 at both ends.

use std::path::Path;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::remote::Remote;
use super::shell::quote;
use crate::transport::{ExecOutput, Stdin, Stdout, TransportError};

/// Diffs are shown only for text files up to this size.
const MAX_DIFF_BYTES: u64 = 256 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSpec {
    pub dest: String,
    /// As chmod takes it: `0644`, `644` or symbolic (`u+x`).
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Keep the replaced file as `DEST.<timestamp>~`.
    pub backup: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileOutcome {
    pub changed: bool,
    pub diff: Option<String>,
    /// The backup's path, when one was made.
    pub backup: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{what} failed (rc={rc}): {stderr}")]
    Command {
        what: String,
        rc: i32,
        stderr: String,
    },
    #[error("cannot read `{}`: {source}", path.display())]
    Local {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("sha256 mismatch: {0}")]
    Checksum(String),
    #[error("`{0}` does not exist")]
    Missing(String),
}

/// What the destination currently is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Current {
    sha256: String,
    mode: String,
    owner: String,
    group: String,
    size: u64,
}

fn check_ok(what: &str, out: &ExecOutput) -> Result<(), FileError> {
    if out.status == 0 {
        Ok(())
    } else {
        Err(FileError::Command {
            what: what.to_string(),
            rc: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

async fn stat_remote(remote: &Remote<'_>, path: &str) -> Result<Option<Current>, FileError> {
    let f = quote(path);
    let cmd = format!(
        "if [ -f {f} ]; then sha256sum < {f} && stat -c '%a %U %G %s' {f}; elif [ -e {f} ]; then echo notafile; else echo absent; fi"
    );
    let out = remote.run(&cmd).await?;
    check_ok(&format!("checking `{path}`"), &out)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    match lines.next() {
        Some("absent") | None => Ok(None),
        Some("notafile") => Err(FileError::Command {
            what: format!("writing `{path}`"),
            rc: 1,
            stderr: "the destination exists and is not a regular file".into(),
        }),
        Some(sum) => {
            let sha256 = sum
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            let st: Vec<&str> = lines
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            let field = |i: usize| st.get(i).copied().unwrap_or_default().to_string();
            Ok(Some(Current {
                sha256,
                mode: field(0),
                owner: field(1),
                group: field(2),
                size: field(3).parse().unwrap_or(0),
            }))
        }
    }
}

/// What putting content with sha256 `wanted` at `spec.dest` would change, or `None`
/// when the destination is already right (content, mode, owner and group).
struct Change {
    content: bool,
    current: Option<Current>,
}

async fn what_changes(
    remote: &Remote<'_>,
    spec: &FileSpec,
    wanted: &str,
) -> Result<Option<Change>, FileError> {
    let current = stat_remote(remote, &spec.dest).await?;
    let content = current.as_ref().is_none_or(|c| c.sha256 != wanted);
    let attrs = current.as_ref().is_some_and(|c| attrs_differ(spec, c));
    Ok((content || attrs).then_some(Change { content, current }))
}

/// For a streamed upload: the outcome when no content has to be sent (already right,
/// check mode, or only mode/owner/group to set), `None` when the content must be sent.
async fn settle_before_streaming(
    remote: &Remote<'_>,
    spec: &FileSpec,
    wanted: &str,
    check: bool,
) -> Result<Option<FileOutcome>, FileError> {
    let Some(change) = what_changes(remote, spec, wanted).await? else {
        return Ok(Some(FileOutcome::default()));
    };
    let changed = FileOutcome {
        changed: true,
        ..Default::default()
    };
    if check {
        return Ok(Some(changed));
    }
    if !change.content {
        apply_attrs(remote, spec).await?;
        return Ok(Some(changed));
    }
    Ok(None)
}

/// Set only mode, owner and group (the content is already right).
async fn apply_attrs(remote: &Remote<'_>, spec: &FileSpec) -> Result<(), FileError> {
    let out = remote
        .run(&format!("true{}", attr_commands(spec, &quote(&spec.dest))))
        .await?;
    check_ok(&format!("writing `{}`", spec.dest), &out)
}

/// Whether mode/owner/group as asked differ from what is there. Symbolic modes cannot
/// be compared without applying them; they count as a change only with the content.
fn attrs_differ(spec: &FileSpec, cur: &Current) -> bool {
    let mode_differs = spec.mode.as_deref().is_some_and(|m| {
        let digits = m.trim_start_matches('0');
        m.chars().all(|c| c.is_ascii_digit()) && digits != cur.mode.trim_start_matches('0')
    });
    let owner_differs = spec.owner.as_deref().is_some_and(|o| o != cur.owner);
    let group_differs = spec.group.as_deref().is_some_and(|g| g != cur.group);
    mode_differs || owner_differs || group_differs
}

fn attr_commands(spec: &FileSpec, target: &str) -> String {
    let mut s = String::new();
    if let Some(m) = &spec.mode {
        s.push_str(&format!(" && chmod {} {target}", quote(m)));
    }
    match (&spec.owner, &spec.group) {
        (Some(o), Some(g)) => s.push_str(&format!(" && chown {}:{} {target}", quote(o), quote(g))),
        (Some(o), None) => s.push_str(&format!(" && chown {} {target}", quote(o))),
        (None, Some(g)) => s.push_str(&format!(" && chgrp {} {target}", quote(g))),
        (None, None) => {}
    }
    s
}

/// The shell script that writes stdin to `spec.dest` atomically. With `expect_sha256`,
/// the temp file is checked before it replaces anything.
fn write_script(spec: &FileSpec, expect_sha256: Option<&str>) -> String {
    let f = quote(&spec.dest);
    let mut s = format!(
        "set -e; f={f}; d=$(dirname \"$f\"); mkdir -p \"$d\"; t=$(mktemp \"$d/.rtmig.XXXXXX\"); \
         trap 'rm -f \"$t\"' EXIT; cat > \"$t\"; "
    );
    if let Some(sum) = expect_sha256 {
        s.push_str(&format!(
            "s=$(sha256sum < \"$t\" | cut -c1-64); if [ \"$s\" != {sum} ]; then echo \"sha256 of the received file is $s, expected {sum}\" >&2; exit 90; fi; "
        ));
    }
    // Keep the mode and owner of a file being replaced, as Ansible does; new files get
    // the umask's default instead of mktemp's 0600.
    s.push_str(
        "if [ -e \"$f\" ]; then chmod --reference=\"$f\" \"$t\"; chown --reference=\"$f\" \"$t\"; \
         else chmod $(printf %o $((0666 & ~$(umask)))) \"$t\"; fi",
    );
    s.push_str(&attr_commands(spec, "\"$t\""));
    s.push_str("; ");
    if spec.backup {
        s.push_str(
            "if [ -e \"$f\" ]; then b=\"$f.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p \"$f\" \"$b\"; echo \"backup=$b\"; fi; ",
        );
    }
    s.push_str("mv -f \"$t\" \"$f\"; trap - EXIT");
    s
}

fn parse_backup(out: &ExecOutput) -> Option<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("backup=").map(str::to_string))
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unified_diff(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("before: {path}"), &format!("after: {path}"))
        .to_string()
}

/// Put `content` at `spec.dest`. In check mode nothing is written; the outcome says
/// whether it would change. With `want_diff`, a unified diff of text content.
pub async fn put_content(
    remote: &Remote<'_>,
    content: &[u8],
    spec: &FileSpec,
    check: bool,
    want_diff: bool,
) -> Result<FileOutcome, FileError> {
    let Some(change) = what_changes(remote, spec, &sha256_hex(content)).await? else {
        return Ok(FileOutcome::default());
    };
    let mut outcome = FileOutcome {
        changed: true,
        ..Default::default()
    };
    if want_diff && change.content && content.len() as u64 <= MAX_DIFF_BYTES {
        let old = match &change.current {
            Some(c) if c.size <= MAX_DIFF_BYTES => {
                let out = remote.run(&format!("cat {}", quote(&spec.dest))).await?;
                check_ok(&format!("reading `{}`", spec.dest), &out)?;
                String::from_utf8(out.stdout).ok()
            }
            Some(_) => None,
            None => Some(String::new()),
        };
        if let (Some(old), Ok(new)) = (old, std::str::from_utf8(content)) {
            outcome.diff = Some(unified_diff(&spec.dest, &old, new));
        }
    }
    if check {
        return Ok(outcome);
    }
    if !change.content {
        apply_attrs(remote, spec).await?;
        return Ok(outcome);
    }
    let out = remote
        .run_with(
            &write_script(spec, None),
            Stdin::Bytes(content),
            Stdout::Capture,
        )
        .await?;
    check_ok(&format!("writing `{}`", spec.dest), &out)?;
    outcome.backup = parse_backup(&out);
    Ok(outcome)
}

/// Put a local file at `spec.dest`, streamed (never read into memory whole).
pub async fn put_file(
    remote: &Remote<'_>,
    src: &Path,
    spec: &FileSpec,
    check: bool,
    want_diff: bool,
) -> Result<FileOutcome, FileError> {
    let local_err = |source| FileError::Local {
        path: src.to_path_buf(),
        source,
    };
    let meta = tokio::fs::metadata(src).await.map_err(local_err)?;
    if meta.len() <= MAX_DIFF_BYTES {
        let content = tokio::fs::read(src).await.map_err(local_err)?;
        return put_content(remote, &content, spec, check, want_diff).await;
    }
    let wanted = sha256_file(src).await.map_err(local_err)?;
    if let Some(done) = settle_before_streaming(remote, spec, &wanted, check).await? {
        return Ok(done);
    }
    let mut file = tokio::fs::File::open(src).await.map_err(local_err)?;
    let out = remote
        .run_with(
            &write_script(spec, Some(&wanted)),
            Stdin::Reader(&mut file),
            Stdout::Capture,
        )
        .await?;
    check_ok(&format!("writing `{}`", spec.dest), &out)?;
    Ok(FileOutcome {
        changed: true,
        diff: None,
        backup: parse_backup(&out),
    })
}

async fn sha256_file(path: &Path) -> std::io::Result<String> {
    use tokio::io::AsyncReadExt;
    let mut f = tokio::fs::File::open(path).await?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Fetch a remote file into a local writer. Returns its sha256.
pub async fn fetch(
    remote: &Remote<'_>,
    src: &str,
    sink: &mut (dyn AsyncWrite + Send + Unpin),
) -> Result<String, FileError> {
    let mut hashing = HashingWriter::new(sink);
    let out = remote
        .run_with(
            &format!("cat {}", quote(src)),
            Stdin::Null,
            Stdout::Writer(&mut hashing),
        )
        .await?;
    check_ok(&format!("reading `{src}`"), &out)?;
    Ok(hashing.finish())
}

/// Copy `src_path` on one host to `spec.dest` on another, streamed through the
/// controller. The source's sha256 is taken first; the destination checks the bytes it
/// received against it before renaming them into place, and the controller checks the
/// bytes it relayed. A destination that already holds the same content is left alone.
pub async fn transfer(
    from: &Remote<'_>,
    src_path: &str,
    to: &Remote<'_>,
    spec: &FileSpec,
    check: bool,
) -> Result<FileOutcome, FileError> {
    let out = from
        .run(&format!("sha256sum < {}", quote(src_path)))
        .await?;
    if out.status != 0 {
        return Err(FileError::Missing(format!("{}:{src_path}", from.host)));
    }
    let src_sha = String::from_utf8_lossy(&out.stdout)
        .chars()
        .take(64)
        .collect::<String>();
    if let Some(done) = settle_before_streaming(to, spec, &src_sha, check).await? {
        return Ok(done);
    }
    // 4 MiB of buffer between the two channels keeps both streaming.
    let (mut pipe_w, mut pipe_r) = tokio::io::duplex(4 << 20);
    let script = write_script(spec, Some(&src_sha));
    let send = async {
        let mut hashing = HashingWriter::new(&mut pipe_w);
        let r = from
            .run_with(
                &format!("cat {}", quote(src_path)),
                Stdin::Null,
                Stdout::Writer(&mut hashing),
            )
            .await;
        let relayed = hashing.finish();
        let _ = pipe_w.shutdown().await;
        drop(pipe_w);
        (r, relayed)
    };
    let receive = to.run_with(&script, Stdin::Reader(&mut pipe_r), Stdout::Capture);
    let ((sent, relayed), received) = tokio::join!(send, receive);
    let sent = sent?;
    check_ok(&format!("reading `{}:{src_path}`", from.host), &sent)?;
    let received = received?;
    if received.status == 90 {
        return Err(FileError::Checksum(
            String::from_utf8_lossy(&received.stderr).trim().to_string(),
        ));
    }
    check_ok(&format!("writing `{}:{}`", to.host, spec.dest), &received)?;
    if relayed != src_sha {
        return Err(FileError::Checksum(format!(
            "`{}:{src_path}` changed while it was copied (sha256 {relayed}, expected {src_sha})",
            from.host
        )));
    }
    Ok(FileOutcome {
        changed: true,
        diff: None,
        backup: parse_backup(&received),
    })
}

/// Hashes what passes through it.
struct HashingWriter<'a, W: AsyncWrite + Unpin + ?Sized> {
    inner: &'a mut W,
    hash: Sha256,
}

impl<'a, W: AsyncWrite + Unpin + ?Sized> HashingWriter<'a, W> {
    fn new(inner: &'a mut W) -> Self {
        HashingWriter {
            inner,
            hash: Sha256::new(),
        }
    }
    fn finish(self) -> String {
        hex(&self.hash.finalize())
    }
}

impl<W: AsyncWrite + Unpin + ?Sized> AsyncWrite for HashingWriter<'_, W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let r = std::pin::Pin::new(&mut *this.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &r {
            this.hash.update(&buf[..*n]);
        }
        r
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}

#[allow(dead_code)]
fn _assert_reader_object_safe(_: &mut (dyn AsyncRead + Send + Unpin)) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::local::LocalTransport;

    use crate::execute::remote::local as remote;

    #[tokio::test]
    async fn put_content_writes_then_reports_ok_on_rerun() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/app.conf").display().to_string();
        let t = LocalTransport;
        let r = remote(&t);
        let spec = FileSpec {
            dest: dest.clone(),
            mode: Some("0640".into()),
            ..Default::default()
        };
        let first = put_content(&r, b"a=1\n", &spec, false, true).await.unwrap();
        assert!(first.changed);
        assert!(first.diff.unwrap().contains("+a=1"));
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "a=1\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let second = put_content(&r, b"a=1\n", &spec, false, true).await.unwrap();
        assert!(!second.changed, "same content and mode must be `ok`");
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[tokio::test]
    async fn check_mode_changes_nothing_but_shows_the_diff() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("c.toml");
        std::fs::write(&dest, "x = 1\n").unwrap();
        let t = LocalTransport;
        let spec = FileSpec {
            dest: dest.display().to_string(),
            ..Default::default()
        };
        let o = put_content(&remote(&t), b"x = 2\n", &spec, true, true)
            .await
            .unwrap();
        assert!(o.changed);
        let diff = o.diff.unwrap();
        assert!(diff.contains("-x = 1") && diff.contains("+x = 2"), "{diff}");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "x = 1\n");
    }

    #[tokio::test]
    async fn backup_keeps_the_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("daemon.json");
        std::fs::write(&dest, "{}\n").unwrap();
        let t = LocalTransport;
        let spec = FileSpec {
            dest: dest.display().to_string(),
            backup: true,
            ..Default::default()
        };
        let o = put_content(&remote(&t), b"{\"a\":1}\n", &spec, false, false)
            .await
            .unwrap();
        let backup = o.backup.expect("a backup path");
        assert_eq!(std::fs::read_to_string(backup).unwrap(), "{}\n");
    }

    #[tokio::test]
    async fn transfer_verifies_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("images.tar");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let dest = dir.path().join("copy/images.tar");
        let t = LocalTransport;
        let (a, b) = (remote(&t), remote(&t));
        let spec = FileSpec {
            dest: dest.display().to_string(),
            ..Default::default()
        };
        let o = transfer(&a, &src.display().to_string(), &b, &spec, false)
            .await
            .unwrap();
        assert!(o.changed);
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        let again = transfer(&a, &src.display().to_string(), &b, &spec, false)
            .await
            .unwrap();
        assert!(!again.changed);
    }

    #[tokio::test]
    async fn transfer_of_a_missing_source_names_it() {
        let t = LocalTransport;
        let spec = FileSpec {
            dest: "/tmp/never-written-by-rtmig".into(),
            ..Default::default()
        };
        let err = transfer(&remote(&t), "/nonexistent/x.tar", &remote(&t), &spec, false)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "`local:/nonexistent/x.tar` does not exist");
        assert!(!Path::new("/tmp/never-written-by-rtmig").exists());
    }
}

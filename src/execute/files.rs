//! Files on hosts, built on exec channels: check-then-act uploads (atomic: a temp file
//! in the destination directory, then rename; skipped when content, mode and owner are
//! already right), downloads, and host-to-host transfers streamed through the
//! controller and verified by sha256 at both ends.
//!
//! Large files move at the speed of the connection (within a few percent of
//! `cat | ssh 'cat > f'`): an existing destination is hashed only when its size is the
//! source's (and then both ends at once); the bytes are written once on the host and
//! never read again before the rename. What makes that safe is the end mark behind the
//! bytes (see [`COMMIT_MARK`]): the host renames only a temp file of exactly the
//! announced size followed by the mark, which the controller sends last, after it read
//! its source whole and unchanged. A transfer's mark carries the sha256 the source host
//! took while sending, which the destination checks before renaming.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::digest::hex;
pub use crate::digest::sha256_hex;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::remote::Remote;
use crate::shell_words::quote;
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
    /// Ansible's `validate`: a command run on the new content before it replaces the
    /// destination, `%s` standing for the temp file; a non-zero exit leaves the
    /// destination as it was.
    pub validate: Option<String>,
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
    /// Ansible's words for an edit of a directory.
    #[error("Path {0} is a directory !")]
    IsDirectory(String),
    /// The `validate` command refused the new content (Ansible's words).
    #[error("failed to validate: {0}")]
    Validate(String),
    /// The source was modified while it was sent; the destination was left as it was.
    #[error("`{0}` {1} while it was copied; the destination was left as it was")]
    SourceChanged(String, &'static str),
}

/// What the destination currently is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Current {
    /// Only taken when the size is the one wanted: a different size is a different
    /// content, and hashing a large file costs seconds.
    sha256: Option<String>,
    mode: String,
    owner: String,
    group: String,
    size: u64,
}

fn check_ok(what: &str, out: &ExecOutput) -> Result<(), FileError> {
    if out.status == 0 {
        Ok(())
    } else if out.status == INVALID {
        Err(FileError::Validate(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    } else {
        Err(FileError::Command {
            what: what.to_string(),
            rc: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The command that prints what [`parse_current`] reads: `absent`, `notafile`, or the
/// stat line (mode, owner, group, size) and, when the size is `hash_if_size`, the
/// `sha256sum` line. It leaves the stat line in `$s` and the sum in `$h`.
fn probe_command(path: &str, hash_if_size: Option<u64>) -> String {
    let f = quote(path);
    let hash = match hash_if_size {
        Some(n) => {
            format!(" if [ \"${{s##* }}\" = {n} ]; then h=$(sha256sum < {f}) && echo \"$h\"; fi;")
        }
        None => String::new(),
    };
    format!(
        "h=; if [ -f {f} ]; then s=$(stat -c '%a %U %G %s' {f}) && echo \"$s\" &&{hash} :; elif [ -e {f} ]; then s=notafile; echo notafile; else s=absent; echo absent; fi"
    )
}

/// What [`probe_command`] printed: `None` when the path does not exist.
fn parse_current(path: &str, text: &str) -> Result<Option<Current>, FileError> {
    let mut lines = text.lines();
    match lines.next() {
        Some("absent") | None => Ok(None),
        Some("notafile") => Err(FileError::Command {
            what: format!("writing `{path}`"),
            rc: 1,
            stderr: "the destination exists and is not a regular file".into(),
        }),
        Some(st) => {
            let st: Vec<&str> = st.split_whitespace().collect();
            let field = |i: usize| st.get(i).copied().unwrap_or_default().to_string();
            let sha256 = lines
                .next()
                .and_then(|l| l.split_whitespace().next())
                .map(str::to_string);
            Ok(Some(Current {
                sha256,
                mode: field(0),
                owner: field(1),
                group: field(2),
                size: field(3).parse().unwrap_or(u64::MAX),
            }))
        }
    }
}

/// Mode, owner, group and size of `path`, and its sha256 when its size is
/// `hash_if_size`; `None` when it does not exist.
async fn stat_remote(
    remote: &Remote<'_>,
    path: &str,
    hash_if_size: Option<u64>,
) -> Result<Option<Current>, FileError> {
    let out = remote.run(&probe_command(path, hash_if_size)).await?;
    check_ok(&format!("checking `{path}`"), &out)?;
    parse_current(path, &String::from_utf8_lossy(&out.stdout))
}

/// The last `sha256sum` line in `text` (stderr may hold other lines, e.g. from sudo).
fn sum_in(text: &[u8]) -> Option<String> {
    String::from_utf8_lossy(text).lines().rev().find_map(|l| {
        let sum = l.split_whitespace().next()?;
        (sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sum.to_string())
    })
}

/// The sha256 of a file on a host, or `None` when it cannot be read.
async fn remote_sha256(remote: &Remote<'_>, path: &str) -> Result<Option<String>, FileError> {
    let out = remote.run(&format!("sha256sum < {}", quote(path))).await?;
    Ok(if out.status == 0 {
        sum_in(&out.stdout)
    } else {
        None
    })
}

/// What putting new content at `spec.dest` would change, or `None` when the
/// destination is already right (content, mode, owner and group).
struct Change {
    content: bool,
    current: Option<Current>,
}

fn change(spec: &FileSpec, current: Option<Current>, content: bool) -> Option<Change> {
    let attrs = current.as_ref().is_some_and(|c| attrs_differ(spec, c));
    (content || attrs).then_some(Change { content, current })
}

/// For a streamed upload or transfer: the outcome when no content has to be sent
/// (already right, check mode, or only mode/owner/group to set), `None` when the
/// content must be sent.
async fn settle_before_streaming(
    remote: &Remote<'_>,
    spec: &FileSpec,
    change: Option<Change>,
    check: bool,
) -> Result<Option<FileOutcome>, FileError> {
    let Some(change) = change else {
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

/// [`attrs_differ`] as a shell condition, for scripts that decide on the host: true when
/// the stat line in `$s` (`%a %U %G ...`) has another mode (numeric modes only, leading
/// zeros aside), owner or group than asked. With `unknown_differs`, an empty `$s` (the
/// path could not be stat'ed) differs too whenever anything is asked, as
/// [`crate::execute::actions`]' `file` judges it.
pub(crate) fn attrs_differ_sh(
    mode: Option<&str>,
    owner: Option<&str>,
    group: Option<&str>,
    unknown_differs: bool,
) -> String {
    let mut tests = Vec::new();
    if let Some(m) = mode.filter(|m| m.chars().all(|c| c.is_ascii_digit())) {
        tests.push(format!(
            "[ \"$m\" != {} ]",
            quote(m.trim_start_matches('0'))
        ));
    }
    if let Some(o) = owner {
        tests.push(format!("[ \"$o\" != {} ]", quote(o)));
    }
    if let Some(g) = group {
        tests.push(format!("[ \"$g\" != {} ]", quote(g)));
    }
    if tests.is_empty() {
        return "false".into();
    }
    if unknown_differs {
        tests.insert(0, "[ -z \"$s\" ]".into());
    }
    format!(
        "{{ set -f; set -- $s; set +f; m=$1; o=$2; g=$3; m=${{m#\"${{m%%[!0]*}}\"}}; {}; }}",
        tests.join(" || ")
    )
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

/// Ends the bytes of every upload. The remote side renames its temp file only when
/// it has read all `len` bytes *and* this mark behind them, which the controller sends
/// last, once it has sent everything and found its source unchanged: a stream cut
/// short (connection lost, controller killed, task timed out) or withheld (the source
/// changed) leaves nothing behind.
const COMMIT_MARK: &str = "rtmig-commit";
/// Ends a host-to-host transfer instead: the mark and the sha256 the source host took
/// of its file, which the destination checks its temp file against.
const SHA256_MARK: &str = "rtmig-sha256:";
/// `SHA256_MARK` and 64 hex digits.
const SHA256_MARK_LEN: usize = 13 + 64;
/// The exit status of a write script whose stream was cut short or withheld.
const CUT_SHORT: i32 = 91;
/// The exit status of a write script whose received bytes have the wrong sha256.
const BAD_SHA256: i32 = 90;
/// The exit status of a write script whose `validate` command refused the content.
const INVALID: i32 = 89;

/// How the write script reads the content from its stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receive {
    /// Small content: `len` bytes and the commit mark behind them; `head -c` stops
    /// exactly after the content, the shell's `read` takes the mark.
    Small { len: u64 },
    /// A large file: `cat` takes everything at full speed into the temp file, which
    /// then must be `len` bytes and the commit mark, cut off afterwards. No pass over
    /// the bytes beyond writing them: SSH's MAC already vouches for each packet.
    Stream { len: u64 },
    /// A host-to-host transfer: as `Stream`, with `SHA256_MARK` and the source's
    /// sha256, which the received file must have.
    Verified { len: u64 },
}

/// The shell script that writes stdin to `spec.dest` atomically: a temp file in the
/// destination's directory, checked (see [`Receive`]), given its mode and owner, then
/// renamed over the destination. On any failure, and on HUP/INT/TERM, the temp file
/// is removed.
///
/// The common case (a small new file, its directory there) runs three programs, as
/// `cat > tmp && chmod && mv` does: `head`, `chmod`, `mv`. The directory is found on
/// the controller, not by `dirname`; `mkdir` runs only when it is missing; the temp
/// file is created by the shell itself, exclusively (`set -C`: `O_EXCL`) under a
/// random name from the controller, instead of by `mktemp`, and so with the umask's
/// default mode, which needs no `chmod $(umask …)` for a new file.
fn write_script(spec: &FileSpec, receive: Receive) -> String {
    let f = quote(&spec.dest);
    let d = quote(&parent_dir(&spec.dest));
    let t = quote(&format!(
        "{}/.rtmig.{:016x}",
        parent_dir(&spec.dest),
        temp_suffix()
    ));
    let mut s = format!(
        "set -e; f={f}; d={d}; [ -d \"$d\" ] || mkdir -p \"$d\"; t={t}; \
         trap 'rm -f \"$t\"' EXIT; trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM; \
         set -C; : > \"$t\"; set +C; "
    );
    let cut = format!(
        "echo \"the upload was cut short or withdrawn before its end mark; nothing was written\" >&2; exit {CUT_SHORT}"
    );
    match receive {
        Receive::Small { len } => s.push_str(&format!(
            "head -c {len} > \"$t\"; x=; IFS= read -r x || :; \
             if [ \"$x\" != {COMMIT_MARK} ]; then {cut}; fi; "
        )),
        Receive::Stream { len } | Receive::Verified { len } => {
            let (mark_len, want_mark) = match receive {
                Receive::Verified { .. } => (SHA256_MARK_LEN, format!("{SHA256_MARK}*")),
                _ => (COMMIT_MARK.len(), COMMIT_MARK.to_string()),
            };
            let total = len + mark_len as u64;
            s.push_str(&format!(
                "cat > \"$t\"; n=$(stat -c %s \"$t\"); x=; \
                 if [ \"$n\" = {total} ]; then x=$(tail -c {mark_len} \"$t\"); fi; \
                 case \"$x\" in {want_mark}) ;; *) {cut};; esac; \
                 dd if=/dev/null of=\"$t\" bs=1 seek={len} 2>/dev/null; "
            ));
            if receive == (Receive::Verified { len }) {
                s.push_str(&format!(
                    "w=${{x#{SHA256_MARK}}}; h=$(sha256sum < \"$t\" | cut -c1-64); \
                     if [ \"$h\" != \"$w\" ]; then echo \"sha256 of the received file is $h, expected $w\" >&2; exit {BAD_SHA256}; fi; "
                ));
            }
        }
    }
    // Keep the mode and owner of a file being replaced, as Ansible does (the mode not
    // when an octal one replaces it; a symbolic one applies to the old mode); a new file
    // has the umask's default from its creation.
    let octal = |m: &String| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit());
    let keep_mode = if spec.mode.as_ref().is_some_and(octal) {
        ""
    } else {
        "chmod --reference=\"$f\" \"$t\"; "
    };
    s.push_str(&format!(
        "if [ -e \"$f\" ]; then {keep_mode}chown --reference=\"$f\" \"$t\"; fi"
    ));
    s.push_str(&attr_commands(spec, "\"$t\""));
    s.push_str("; ");
    if let Some(validate) = &spec.validate {
        let command = validate.replace("%s", "\"$t\"");
        s.push_str(&format!(
            "set +e; vo=$({command} 2>&1); vr=$?; set -e; \
             if [ $vr != 0 ]; then printf 'rc:%s error:%s\\n' \"$vr\" \"$vo\" >&2; exit {INVALID}; fi; "
        ));
    }
    if spec.backup {
        s.push_str(
            "if [ -e \"$f\" ]; then b=\"$f.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p \"$f\" \"$b\"; echo \"backup=$b\"; fi; ",
        );
    }
    s.push_str("mv -f \"$t\" \"$f\"; trap - EXIT");
    s
}

/// The directory of a destination path, as `dirname` gives it: `/a/b` → `/a`,
/// `/a` → `/`, `a` → `.`.
fn parent_dir(dest: &str) -> String {
    match std::path::Path::new(dest).parent() {
        Some(p) if p.as_os_str().is_empty() => ".".to_string(),
        Some(p) => p.to_string_lossy().into_owned(),
        None if dest.starts_with('/') => "/".to_string(),
        None => ".".to_string(),
    }
}

/// 64 unpredictable bits for a temp file's name: std's `RandomState` is keyed from
/// the OS's randomness; a counter makes every call differ.
fn temp_suffix() -> u64 {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::collections::hash_map::RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn parse_backup(out: &ExecOutput) -> Option<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("backup=").map(str::to_string))
}

pub(crate) fn unified_diff(path: &str, old: &str, new: &str) -> String {
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
    let len = content.len() as u64;
    let wanted = sha256_hex(content);
    if !check && !want_diff && len <= ONE_SHOT_MAX {
        return put_content_one_shot(remote, content, &wanted, spec).await;
    }
    let current = stat_remote(remote, &spec.dest, Some(len)).await?;
    let differs = content_differs(&current, len, &wanted);
    let Some(change) = change(spec, current, differs) else {
        return Ok(FileOutcome::default());
    };
    let mut outcome = FileOutcome {
        changed: true,
        ..Default::default()
    };
    if want_diff && change.content && len <= MAX_DIFF_BYTES {
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
    act_on_content(remote, content, spec, &change, outcome).await
}

/// Whether the destination's content is other than `len` bytes of sha256 `wanted`.
fn content_differs(current: &Option<Current>, len: u64, wanted: &str) -> bool {
    current
        .as_ref()
        .is_none_or(|c| c.size != len || c.sha256.as_deref() != Some(wanted))
}

/// The act of [`put_content`] once the check found `change`: set the attributes, or
/// write the content (a command of its own).
async fn act_on_content(
    remote: &Remote<'_>,
    content: &[u8],
    spec: &FileSpec,
    change: &Change,
    mut outcome: FileOutcome,
) -> Result<FileOutcome, FileError> {
    if !change.content {
        apply_attrs(remote, spec).await?;
        return Ok(outcome);
    }
    let out = remote
        .run_with(
            &write_script(
                spec,
                Receive::Small {
                    len: content.len() as u64,
                },
            ),
            Stdin::Bytes(&marked(content)),
            Stdout::Capture,
        )
        .await?;
    check_ok(&format!("writing `{}`", spec.dest), &out)?;
    outcome.backup = parse_backup(&out);
    Ok(outcome)
}

/// `content` and the commit mark behind it, as the write script of [`Receive::Small`]
/// reads them.
fn marked(content: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(content.len() + COMMIT_MARK.len());
    input.extend_from_slice(content);
    input.extend_from_slice(COMMIT_MARK.as_bytes());
    input
}

/// Content up to this size goes along with the check, in one command: the host
/// compares and writes only if it differs. Larger content is checked first, so that
/// nothing big is sent for nothing.
const ONE_SHOT_MAX: u64 = 64 * 1024;

/// Printed by the one-shot script once its check is done, with what it decided to do.
const ACT_MARK: &str = "rtmig-act=";

/// [`put_content`] in one command (not in check mode, nor with a diff, which needs the
/// old content first): the script checks the destination as [`stat_remote`] does,
/// prints what it found, decides on the host as [`change`] does (write the content it
/// reads on stdin, or set only the attributes, or nothing), and does it. The controller
/// reads the same check from the output and judges it itself; should it want more than
/// the host did, it acts in a second command.
async fn put_content_one_shot(
    remote: &Remote<'_>,
    content: &[u8],
    wanted: &str,
    spec: &FileSpec,
) -> Result<FileOutcome, FileError> {
    let len = content.len() as u64;
    let attrs = attrs_differ_sh(
        spec.mode.as_deref(),
        spec.owner.as_deref(),
        spec.group.as_deref(),
        false,
    );
    let script = format!(
        "f={f}; {probe}; r=$?; if [ $r != 0 ]; then exit $r; fi; \
         case $s in notafile) w=none;; absent|'') w=write;; *) \
         if [ \"${{h%% *}}\" != {wanted} ]; then w=write; elif {attrs}; then w=attrs; else w=none; fi;; esac; \
         echo {ACT_MARK}$w; case $w in write) {write};; attrs) true{set_attrs};; esac",
        f = quote(&spec.dest),
        probe = probe_command(&spec.dest, Some(len)),
        write = write_script(spec, Receive::Small { len }),
        set_attrs = attr_commands(spec, "\"$f\""),
    );
    let out = remote
        .run_with(&script, Stdin::Bytes(&marked(content)), Stdout::Capture)
        .await?;
    // A newline first, so the mark is found even behind an empty check.
    let text = format!("\n{}", String::from_utf8_lossy(&out.stdout));
    let Some(at) = text.find(&format!("\n{ACT_MARK}")) else {
        check_ok(&format!("checking `{}`", spec.dest), &out)?;
        return Err(FileError::Command {
            what: format!("checking `{}`", spec.dest),
            rc: out.status,
            stderr: "the check printed no decision".into(),
        });
    };
    let current = parse_current(&spec.dest, &text[1..at + 1])?;
    let done = text[at + 1 + ACT_MARK.len()..]
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    check_ok(&format!("writing `{}`", spec.dest), &out)?;
    let outcome = FileOutcome {
        changed: true,
        backup: parse_backup(&out),
        ..Default::default()
    };
    let differs = content_differs(&current, len, wanted);
    match (change(spec, current, differs), done.as_str()) {
        (None, "none") => Ok(FileOutcome::default()),
        (Some(c), "write") if c.content => Ok(outcome),
        (Some(c), "attrs") if !c.content => Ok(outcome),
        // The host did something the controller does not find needed: it changed.
        (None, _) => Ok(outcome),
        // The host did less than the controller finds needed: the rest, apart.
        (Some(c), _) => act_on_content(remote, content, spec, &c, outcome).await,
    }
}

/// Put a local file at `spec.dest`, streamed (never read into memory whole) at the
/// speed of the connection: the destination is hashed only when its size is the
/// source's (then both ends are hashed at once), and the bytes are written once on
/// the host and not read again (see [`Receive::Stream`]).
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
    // Opened before anything is compared: what is compared is what is sent.
    let file = std::fs::File::open(src).map_err(local_err)?;
    let before = file.metadata().map_err(local_err)?;
    let len = before.len();
    let current = stat_remote(remote, &spec.dest, None).await?;
    let differs = match &current {
        Some(c) if c.size == len => {
            let (theirs, ours) = tokio::join!(remote_sha256(remote, &spec.dest), sha256_file(src));
            theirs? != Some(ours.map_err(local_err)?)
        }
        _ => true,
    };
    if let Some(done) =
        settle_before_streaming(remote, spec, change(spec, current, differs), check).await?
    {
        return Ok(done);
    }
    let watch = file.try_clone().map_err(local_err)?;
    let mut upload = Upload::new(tokio::fs::File::from_std(file), len, move || {
        watch
            .metadata()
            .is_ok_and(|now| same_file_state(&before, &now))
    });
    let out = remote
        .run_with(
            &write_script(spec, Receive::Stream { len }),
            Stdin::Reader(&mut upload),
            Stdout::Capture,
        )
        .await;
    if let Some(why) = upload.withheld {
        return Err(FileError::SourceChanged(src.display().to_string(), why));
    }
    let out = out?;
    check_ok(&format!("writing `{}`", spec.dest), &out)?;
    Ok(FileOutcome {
        changed: true,
        diff: None,
        backup: parse_backup(&out),
    })
}

/// Whether a file's size and modification time are what they were.
fn same_file_state(before: &std::fs::Metadata, now: &std::fs::Metadata) -> bool {
    before.len() == now.len() && before.modified().ok() == now.modified().ok()
}

/// The stdin of a streamed upload: exactly `len` bytes of the source, then
/// [`COMMIT_MARK`] — unless the source ended early, or `unchanged` says it was
/// modified meanwhile: then the mark is withheld (and the reason kept in `withheld`),
/// so the host drops what it received.
struct Upload<R, F> {
    inner: tokio::io::Take<R>,
    left: u64,
    /// What is left to send of the mark, once the source was found unchanged.
    mark: Option<&'static [u8]>,
    unchanged: F,
    withheld: Option<&'static str>,
}

impl<R: AsyncRead + Unpin, F: FnMut() -> bool> Upload<R, F> {
    fn new(inner: R, len: u64, unchanged: F) -> Self {
        use tokio::io::AsyncReadExt;
        Upload {
            inner: inner.take(len),
            left: len,
            mark: None,
            unchanged,
            withheld: None,
        }
    }
}

impl<R: AsyncRead + Unpin, F: FnMut() -> bool + Unpin> AsyncRead for Upload<R, F> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        if this.withheld.is_some() || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.left > 0 {
            let before = buf.filled().len();
            std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_read(cx, buf))?;
            let n = (buf.filled().len() - before) as u64;
            if n == 0 {
                this.withheld = Some("got shorter");
            }
            this.left = this.left.saturating_sub(n);
            return Poll::Ready(Ok(()));
        }
        let mark = match this.mark {
            Some(rest) => rest,
            None if (this.unchanged)() => COMMIT_MARK.as_bytes(),
            None => {
                this.withheld = Some("changed");
                return Poll::Ready(Ok(()));
            }
        };
        let k = mark.len().min(buf.remaining());
        buf.put_slice(&mark[..k]);
        this.mark = Some(&mark[k..]);
        Poll::Ready(Ok(()))
    }
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
/// controller and verified end to end by sha256 without a pass before the copy: the
/// source host hashes its file while sending it, the controller hashes what it relays,
/// and only when both agree does it send the sum behind the bytes; the destination
/// checks the bytes it received against that sum before renaming them into place. A
/// destination that already holds the same content (same size, then same sha256) is
/// left alone.
pub async fn transfer(
    from: &Remote<'_>,
    src_path: &str,
    to: &Remote<'_>,
    spec: &FileSpec,
    check: bool,
) -> Result<FileOutcome, FileError> {
    let missing = || FileError::Missing(format!("{}:{src_path}", from.host));
    let out = from
        .run(&format!("stat -L -c %s {}", quote(src_path)))
        .await?;
    if out.status != 0 {
        return Err(missing());
    }
    let len: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| missing())?;
    let current = stat_remote(to, &spec.dest, None).await?;
    let differs = match &current {
        Some(c) if c.size == len => {
            let (src_sum, dest_sum) =
                tokio::join!(remote_sha256(from, src_path), remote_sha256(to, &spec.dest));
            let src_sum = src_sum?.ok_or_else(missing)?;
            dest_sum? != Some(src_sum)
        }
        _ => true,
    };
    if let Some(done) =
        settle_before_streaming(to, spec, change(spec, current, differs), check).await?
    {
        return Ok(done);
    }
    // 4 MiB of buffer between the two channels keeps both streaming.
    let (mut pipe_w, mut pipe_r) = tokio::io::duplex(4 << 20);
    let script = write_script(spec, Receive::Verified { len });
    // The source's own sum goes to stderr, taken while `cat` sends the same bytes.
    let send_cmd = format!(
        "set -e; f={}; sha256sum < \"$f\" >&2 & p=$!; cat \"$f\"; wait $p",
        quote(src_path)
    );
    let send = async {
        let mut hashing = HashingWriter::new(&mut pipe_w);
        let r = from
            .run_with(&send_cmd, Stdin::Null, Stdout::Writer(&mut hashing))
            .await;
        let relayed = hashing.finish();
        // The sum goes behind the bytes only when the source said the same.
        let verdict = match &r {
            Ok(out) if out.status == 0 => {
                let src_sum = sum_in(&out.stderr).unwrap_or_default();
                if src_sum == relayed {
                    let mark = format!("{SHA256_MARK}{relayed}");
                    pipe_w.write_all(mark.as_bytes()).await.map(|()| None)
                } else {
                    Ok(Some(format!(
                        "`{}:{src_path}` changed while it was copied (sha256 {relayed} relayed, {src_sum} on the source)",
                        from.host
                    )))
                }
            }
            _ => Ok(None),
        };
        let _ = pipe_w.shutdown().await;
        drop(pipe_w);
        (r, verdict)
    };
    let receive = to.run_with(&script, Stdin::Reader(&mut pipe_r), Stdout::Capture);
    let ((sent, verdict), received) = tokio::join!(send, receive);
    let sent = sent?;
    check_ok(&format!("reading `{}:{src_path}`", from.host), &sent)?;
    // A relay that could not reach the destination is the destination's failure.
    let verdict = verdict.unwrap_or(None);
    if let Some(why) = verdict {
        return Err(FileError::Checksum(why));
    }
    let received = received?;
    if received.status == BAD_SHA256 {
        return Err(FileError::Checksum(
            String::from_utf8_lossy(&received.stderr).trim().to_string(),
        ));
    }
    check_ok(&format!("writing `{}:{}`", to.host, spec.dest), &received)?;
    Ok(FileOutcome {
        changed: true,
        diff: None,
        backup: parse_backup(&received),
    })
}

/// A file read for an edit in place (`lineinfile`, `replace`, `blockinfile`): its real
/// path (symlinks followed, as Ansible writes through them) and its bytes, `None` when
/// it does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub path: String,
    pub content: Option<Vec<u8>>,
}

/// Read `path` for an edit, in one command. A directory is refused as Ansible refuses
/// it (`Path ... is a directory !`).
pub async fn read_for_edit(remote: &Remote<'_>, path: &str) -> Result<Original, FileError> {
    let p = quote(path);
    let out = remote
        .run(&format!(
            "r=$(readlink -m -- {p}) || r={p}; printf '%s\\n' \"$r\"; \
             if [ -d \"$r\" ]; then echo directory; elif [ -e \"$r\" ]; then echo file; cat -- \"$r\"; else echo absent; fi"
        ))
        .await?;
    check_ok(&format!("reading `{path}`"), &out)?;
    let mut rest = out.stdout.as_slice();
    let mut line = || -> String {
        let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let l = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = rest.get(end + 1..).unwrap_or_default();
        l
    };
    let real = line();
    let kind = line();
    let real = if real.is_empty() {
        path.to_string()
    } else {
        real
    };
    match kind.as_str() {
        "directory" => Err(FileError::IsDirectory(path.to_string())),
        "file" => Ok(Original {
            path: real,
            content: Some(rest.to_vec()),
        }),
        _ => Ok(Original {
            path: real,
            content: None,
        }),
    }
}

/// Write the edited `new` content over `original` (atomically, as [`put_content`]
/// does, with the attributes of `spec`; `spec.dest` is ignored for `original.path`),
/// only when something differs: unchanged content and no attribute asked costs no
/// command. The diff is taken from what [`read_for_edit`] read, so no second read.
pub async fn write_edit(
    remote: &Remote<'_>,
    original: &Original,
    new: &[u8],
    spec: &FileSpec,
    check: bool,
    want_diff: bool,
) -> Result<FileOutcome, FileError> {
    let content_changed = original.content.as_deref() != Some(new);
    let attrs_asked = spec.mode.is_some() || spec.owner.is_some() || spec.group.is_some();
    if !content_changed && !attrs_asked {
        return Ok(FileOutcome::default());
    }
    let spec = FileSpec {
        dest: original.path.clone(),
        ..spec.clone()
    };
    let mut outcome = put_content(remote, new, &spec, check, false).await?;
    let old = original.content.as_deref().unwrap_or_default();
    if want_diff
        && content_changed
        && old.len() as u64 <= MAX_DIFF_BYTES
        && new.len() as u64 <= MAX_DIFF_BYTES
        && let (Ok(old), Ok(new)) = (std::str::from_utf8(old), std::str::from_utf8(new))
    {
        outcome.diff = Some(unified_diff(&original.path, old, new));
    }
    Ok(outcome)
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

    /// Runs `f` on a local remote that counts its commands; returns what `f` returned
    /// and how many commands it sent.
    async fn counted<T>(f: impl AsyncFnOnce(&Remote<'_>) -> T) -> (T, usize) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let n = AtomicUsize::new(0);
        let count = |_: &str| {
            n.fetch_add(1, Ordering::SeqCst);
        };
        let t = LocalTransport;
        let r = crate::execute::remote::local_counting(&t, &count);
        let out = f(&r).await;
        (out, n.load(Ordering::SeqCst))
    }

    fn inode(path: &str) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap())
    }

    /// Small content is checked and written in one command, whatever the host needs
    /// (a new file, other content, only the mode, nothing); check mode and `--diff`
    /// check first, and large content too, so nothing big is sent for nothing.
    #[tokio::test]
    async fn small_content_takes_one_command_changed_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/app.conf").display().to_string();
        let spec = FileSpec {
            dest: dest.clone(),
            mode: Some("0640".into()),
            ..Default::default()
        };
        let put = |content: &'static [u8], check: bool, diff: bool| {
            let spec = spec.clone();
            counted(async move |r: &Remote<'_>| {
                put_content(r, content, &spec, check, diff).await.unwrap()
            })
        };
        // Check mode: the check alone, nothing written.
        let (o, n) = put(b"a=1\n", true, false).await;
        assert_eq!((o.changed, n), (true, 1));
        assert!(!Path::new(&dest).exists());
        // Absent, then the same, then another content of the same size.
        let (o, n) = put(b"a=1\n", false, false).await;
        assert_eq!((o.changed, n), (true, 1));
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "a=1\n");
        assert_eq!(mode_of(Path::new(&dest)), 0o640);
        let (o, n) = put(b"a=1\n", false, false).await;
        assert_eq!((o.changed, n), (false, 1));
        let (o, n) = put(b"a=2\n", false, false).await;
        assert_eq!((o.changed, n), (true, 1));
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "a=2\n");
        // Only the mode: chmodded in place, not rewritten.
        std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let before = inode(&dest);
        let (o, n) = put(b"a=2\n", false, false).await;
        assert_eq!((o.changed, n), (true, 1));
        assert_eq!(mode_of(Path::new(&dest)), 0o640);
        assert_eq!(inode(&dest), before, "rewritten where a chmod was enough");
        // With a diff: the check, the old content, the write.
        let (o, n) = put(b"a=3\n", false, true).await;
        assert_eq!((o.changed, n), (true, 3));
        assert!(o.diff.unwrap().contains("-a=2\n+a=3"));
        assert_eq!(names(dir.path().join("sub").as_path()), ["app.conf"]);
        // Large content: the check, then the write only when it differs.
        let big_spec = FileSpec {
            dest: dir.path().join("big.conf").display().to_string(),
            ..Default::default()
        };
        let large = vec![b'x'; ONE_SHOT_MAX as usize + 1];
        for (want_changed, want_n) in [(true, 2), (false, 1)] {
            let (o, n) = counted(async |r: &Remote<'_>| {
                put_content(r, &large, &big_spec, false, false)
                    .await
                    .unwrap()
            })
            .await;
            assert_eq!((o.changed, n), (want_changed, want_n));
        }
    }

    /// A destination that is not a regular file fails the one-shot script as it failed
    /// the check, and a backup is still made and named.
    #[tokio::test]
    async fn the_one_shot_write_keeps_errors_and_backups() {
        let dir = tempfile::tempdir().unwrap();
        let spec = FileSpec {
            dest: dir.path().display().to_string(),
            ..Default::default()
        };
        let t = LocalTransport;
        let err = put_content(&remote(&t), b"x\n", &spec, false, false)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "writing `{}` failed (rc=1): the destination exists and is not a regular file",
                spec.dest
            )
        );
        let dest = dir.path().join("d.json");
        std::fs::write(&dest, "{}\n").unwrap();
        let spec = FileSpec {
            dest: dest.display().to_string(),
            backup: true,
            ..Default::default()
        };
        let (o, n) = counted(async |r: &Remote<'_>| {
            put_content(r, b"{\"a\":1}\n", &spec, false, false)
                .await
                .unwrap()
        })
        .await;
        assert_eq!((o.changed, n), (true, 1));
        assert_eq!(std::fs::read_to_string(o.backup.unwrap()).unwrap(), "{}\n");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "{\"a\":1}\n");
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

    /// Bytes that are not all alike, larger than `MAX_DIFF_BYTES` so they are streamed.
    fn big(len: usize, salt: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ salt.wrapping_mul(31))
            .collect()
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    /// The process's umask, which the shell inherits, read without changing it.
    fn process_umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .map(|m| u32::from_str_radix(m.trim(), 8).unwrap())
            .unwrap()
    }

    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_destination_directory_is_dirnames() {
        for (dest, dir) in [
            ("/root/app.conf", "/root"),
            ("/app.conf", "/"),
            ("app.conf", "."),
            ("etc/app.conf", "etc"),
            ("/a/b/", "/a"),
        ] {
            assert_eq!(parent_dir(dest), dir, "{dest}");
        }
    }

    #[test]
    fn every_write_script_names_its_own_temp_file() {
        let spec = FileSpec {
            dest: "/root/app.conf".into(),
            ..Default::default()
        };
        let a = write_script(&spec, Receive::Small { len: 1 });
        let b = write_script(&spec, Receive::Small { len: 1 });
        assert_ne!(a, b);
        assert!(a.contains("t=/root/.rtmig.") && !a.contains("mktemp") && !a.contains("dirname"));
    }

    /// Without `mktemp`, the temp file is the shell's: a new file gets the umask's
    /// default mode (as Ansible's does), an existing one keeps its own, a symbolic
    /// mode applies to the old mode.
    #[tokio::test]
    async fn new_files_get_the_umasks_mode_and_replaced_ones_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("new.conf");
        let spec = FileSpec {
            dest: dest.display().to_string(),
            ..Default::default()
        };
        let t = LocalTransport;
        put_content(&remote(&t), b"a\n", &spec, false, false)
            .await
            .unwrap();
        let mask = process_umask();
        assert_eq!(mode_of(&dest), 0o666 & !mask);
        std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .unwrap();
        put_content(&remote(&t), b"b\n", &spec, false, false)
            .await
            .unwrap();
        assert_eq!(mode_of(&dest), 0o640);
        let symbolic = FileSpec {
            mode: Some("g+w".into()),
            ..spec.clone()
        };
        put_content(&remote(&t), b"c\n", &symbolic, false, false)
            .await
            .unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "c\n");
        assert_eq!(mode_of(&dest), 0o660);
        assert_eq!(names(dir.path()), ["new.conf"], "a temp file was left");
    }

    /// An octal mode is set by `chmod` after the content is written, not through the
    /// umask at the temp file's creation: a directory's default ACL ignores the umask.
    /// The file ends with exactly the task's mode, new or replaced, whatever the umask,
    /// and directories the script makes keep the user's umask.
    #[tokio::test]
    async fn octal_modes_end_exact_new_or_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mask = process_umask();
        let t = LocalTransport;
        for (mode, want) in [
            ("0644", 0o644),
            ("666", 0o666),
            ("0600", 0o600),
            ("0755", 0o755),
            ("0400", 0o400),
            ("1644", 0o644), // (mode_of leaves the sticky bit out)
        ] {
            let dest = dir.path().join(format!("sub-{mode}/f.conf"));
            let spec = FileSpec {
                dest: dest.display().to_string(),
                mode: Some(mode.into()),
                ..Default::default()
            };
            let script = write_script(&spec, Receive::Small { len: 2 });
            assert!(
                script.contains(&format!("chmod {mode}")),
                "{mode}: {script}"
            );
            put_content(&remote(&t), b"a\n", &spec, false, false)
                .await
                .unwrap();
            assert_eq!(mode_of(&dest), want, "new file, mode {mode}");
            assert_eq!(
                mode_of(dest.parent().unwrap()) & 0o777,
                0o777 & !mask,
                "the directory made for mode {mode}"
            );
            std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o604))
                .unwrap();
            put_content(&remote(&t), b"b\n", &spec, false, false)
                .await
                .unwrap();
            assert_eq!(std::fs::read_to_string(&dest).unwrap(), "b\n");
            assert_eq!(mode_of(&dest), want, "replaced file, mode {mode}");
        }
    }

    #[tokio::test]
    async fn put_file_streams_a_large_file_then_reports_ok_on_rerun() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        let data = big(3 << 20, 1);
        std::fs::write(&src, &data).unwrap();
        let dest = dir.path().join("out/dest.bin");
        let spec = FileSpec {
            dest: dest.display().to_string(),
            mode: Some("0604".into()),
            ..Default::default()
        };
        let t = LocalTransport;
        let first = put_file(&remote(&t), &src, &spec, false, false)
            .await
            .unwrap();
        assert!(first.changed);
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        assert_eq!(mode_of(&dest), 0o604);
        let again = put_file(&remote(&t), &src, &spec, false, false)
            .await
            .unwrap();
        assert!(!again.changed, "same size and sha256 must be `ok`");
        assert_eq!(names(dest.parent().unwrap()), ["dest.bin"]);
    }

    /// Guards the size shortcut: an equal size must lead to a sha256 comparison, never
    /// to "already there".
    #[tokio::test]
    async fn same_size_but_other_content_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport;
        // Streamed.
        let src = dir.path().join("src.bin");
        let data = big(1 << 20, 2);
        std::fs::write(&src, &data).unwrap();
        let dest = dir.path().join("dest.bin");
        std::fs::write(&dest, big(1 << 20, 3)).unwrap();
        let spec = FileSpec {
            dest: dest.display().to_string(),
            ..Default::default()
        };
        let check = put_file(&remote(&t), &src, &spec, true, false)
            .await
            .unwrap();
        assert!(check.changed, "check mode must see the difference");
        assert_eq!(std::fs::read(&dest).unwrap(), big(1 << 20, 3));
        let o = put_file(&remote(&t), &src, &spec, false, false)
            .await
            .unwrap();
        assert!(o.changed);
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        // Small content.
        let conf = dir.path().join("a.conf");
        std::fs::write(&conf, "x = 1\n").unwrap();
        let spec = FileSpec {
            dest: conf.display().to_string(),
            ..Default::default()
        };
        let o = put_content(&remote(&t), b"x = 2\n", &spec, false, false)
            .await
            .unwrap();
        assert!(o.changed);
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), "x = 2\n");
    }

    #[tokio::test]
    async fn a_large_file_with_only_its_mode_wrong_is_chmodded_not_resent() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.bin");
        let data = big(1 << 20, 4);
        std::fs::write(&src, &data).unwrap();
        let dest = dir.path().join("dest.bin");
        std::fs::write(&dest, &data).unwrap();
        std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&dest).unwrap());
        let spec = FileSpec {
            dest: dest.display().to_string(),
            mode: Some("0644".into()),
            ..Default::default()
        };
        let t = LocalTransport;
        let o = put_file(&remote(&t), &src, &spec, false, false)
            .await
            .unwrap();
        assert!(o.changed);
        assert_eq!(mode_of(&dest), 0o644);
        let after = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&dest).unwrap());
        assert_eq!(inode, after, "the file was replaced, not chmodded");
    }

    /// Runs the write script of `receive` with `input` as its stdin.
    async fn write_with(
        spec: &FileSpec,
        receive: Receive,
        input: &mut (dyn AsyncRead + Send + Unpin),
    ) -> ExecOutput {
        let t = LocalTransport;
        remote(&t)
            .run_with(
                &write_script(spec, receive),
                Stdin::Reader(input),
                Stdout::Capture,
            )
            .await
            .unwrap()
    }

    /// What an interrupted upload leaves: the stream ends (connection lost, controller
    /// killed, task timed out) before the commit mark.
    #[tokio::test]
    async fn an_upload_cut_short_leaves_no_temp_file_and_the_old_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest.bin");
        std::fs::write(&dest, "old\n").unwrap();
        let spec = FileSpec {
            dest: dest.display().to_string(),
            ..Default::default()
        };
        let data = big(2 << 20, 5);
        let len = data.len() as u64;
        let mut marked = data.clone();
        marked.extend_from_slice(COMMIT_MARK.as_bytes());
        let cuts: [(&str, Receive, &[u8]); 5] = [
            (
                "stream, half the bytes",
                Receive::Stream { len },
                &data[..1 << 20],
            ),
            (
                "stream, every byte, no mark",
                Receive::Stream { len },
                &data,
            ),
            (
                "stream, part of the mark",
                Receive::Stream { len },
                &marked[..marked.len() - 3],
            ),
            (
                "small, half the bytes",
                Receive::Small { len: 100 },
                &data[..50],
            ),
            ("small, no mark", Receive::Small { len: 100 }, &data[..100]),
        ];
        for (what, receive, input) in cuts {
            let mut input = input;
            let out = write_with(&spec, receive, &mut input).await;
            assert_eq!(
                out.status,
                CUT_SHORT,
                "{what}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old\n", "{what}");
            assert_eq!(names(dir.path()), ["dest.bin"], "{what}");
        }
        // And the whole stream with its mark does land, without the mark.
        let mut input = &marked[..];
        let out = write_with(&spec, Receive::Stream { len }, &mut input).await;
        assert_eq!(out.status, 0, "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        assert_eq!(names(dir.path()), ["dest.bin"]);
    }

    #[tokio::test]
    async fn a_source_that_changes_or_shrinks_during_the_upload_is_not_committed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest.bin");
        let spec = FileSpec {
            dest: dest.display().to_string(),
            ..Default::default()
        };
        let data = big(1 << 20, 6);
        let len = data.len() as u64;
        // Modified meanwhile: every byte arrives, the mark does not.
        let mut up = Upload::new(&data[..], len, || false);
        let out = write_with(&spec, Receive::Stream { len }, &mut up).await;
        assert_eq!((out.status, up.withheld), (CUT_SHORT, Some("changed")));
        // Shorter than it was when the upload started.
        let mut up = Upload::new(&data[..1000], len, || true);
        let out = write_with(&spec, Receive::Stream { len }, &mut up).await;
        assert_eq!((out.status, up.withheld), (CUT_SHORT, Some("got shorter")));
        assert!(!dest.exists());
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
        // Longer: only `len` bytes are sent, then the mark.
        let mut longer = data.clone();
        longer.extend_from_slice(b"appended");
        let mut up = Upload::new(&longer[..], len, || true);
        let out = write_with(&spec, Receive::Stream { len }, &mut up).await;
        assert_eq!((out.status, up.withheld), (0, None));
        assert_eq!(std::fs::read(&dest).unwrap(), data);
    }

    #[tokio::test]
    async fn a_transfer_whose_bytes_do_not_match_the_source_sum_is_not_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest.bin");
        let spec = FileSpec {
            dest: dest.display().to_string(),
            ..Default::default()
        };
        let data = big(1 << 20, 7);
        let len = data.len() as u64;
        let mut input = data.clone();
        input.extend_from_slice(format!("{SHA256_MARK}{}", sha256_hex(b"other")).as_bytes());
        let out = write_with(&spec, Receive::Verified { len }, &mut &input[..]).await;
        assert_eq!(
            out.status,
            BAD_SHA256,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!dest.exists());
        assert!(names(dir.path()).is_empty());
        let mut input = data.clone();
        input.extend_from_slice(format!("{SHA256_MARK}{}", sha256_hex(&data)).as_bytes());
        let out = write_with(&spec, Receive::Verified { len }, &mut &input[..]).await;
        assert_eq!(out.status, 0, "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(std::fs::read(&dest).unwrap(), data);
    }

    #[tokio::test]
    async fn transfer_rewrites_a_destination_of_the_same_size_and_other_content() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("images.tar");
        std::fs::write(&src, big(2 << 20, 8)).unwrap();
        let dest = dir.path().join("copy.tar");
        std::fs::write(&dest, big(2 << 20, 9)).unwrap();
        let t = LocalTransport;
        let spec = FileSpec {
            dest: dest.display().to_string(),
            ..Default::default()
        };
        let src_path = src.display().to_string();
        let o = transfer(&remote(&t), &src_path, &remote(&t), &spec, false)
            .await
            .unwrap();
        assert!(o.changed);
        assert_eq!(std::fs::read(&dest).unwrap(), big(2 << 20, 8));
        let again = transfer(&remote(&t), &src_path, &remote(&t), &spec, false)
            .await
            .unwrap();
        assert!(!again.changed);
        assert_eq!(names(dir.path()), ["copy.tar", "images.tar"]);
    }
}

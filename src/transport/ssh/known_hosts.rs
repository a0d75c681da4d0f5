//! Host key verification against OpenSSH `known_hosts` files, parsed once for the
//! fleet (russh's helper re-reads the file on every call and misses wildcards,
//! negation and `@revoked`: see ../shared/CRATES.md, trap 6).
//!
//! Supported, as OpenSSH's `sshd(8)` "SSH_KNOWN_HOSTS FILE FORMAT" describes it:
//! comma-separated host patterns with `*`/`?` wildcards and `!` negation,
//! `[host]:port` for ports other than 22, hashed entries (`|1|salt|hmac`), the
//! `@revoked` marker. `@cert-authority` lines are skipped (rtmig does not offer
//! host-certificate algorithms, so servers never present certificates).
//! Malformed lines are skipped, as OpenSSH does.
//!
//! The verdict follows OpenSSH's `check_key_in_hostkeys`: a revoked key is refused;
//! the exact key on any matching line is known; a different key of the same type is a
//! changed key; otherwise the host is unknown for that key type.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::{Algorithm, HashAlg, PublicKey};
use sha1::Sha1;

/// What known_hosts says about the key a server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Known,
    /// No line for this host has this key (lines with other key types may exist).
    Unknown,
    /// A line for this host records another key of the same type.
    Changed {
        file: PathBuf,
        line: usize,
    },
    /// The key is marked `@revoked` for this host.
    Revoked {
        file: PathBuf,
        line: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
}

#[derive(Debug)]
enum HostPattern {
    /// `|1|base64(salt)|base64(hmac_sha1(salt, host))`
    Hashed {
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Plain {
        pattern: String,
        negated: bool,
    },
}

#[derive(Debug)]
struct Entry {
    file: Arc<Path>,
    line: usize,
    marker: Marker,
    hosts: Vec<HostPattern>,
    key: PublicKey,
}

/// The lines of the known_hosts files in file order, indexed by host name: a line whose
/// patterns are all plain names (no wildcard, negation or hash: what ssh-keyscan and
/// `--accept-new-host-keys` write) is found by name, the others are tried for every
/// host. At 1000 hosts a run looked up 2 × 1000 names in 1000 lines: 2 M pattern
/// matches, 2% of the controller's CPU.
#[derive(Debug, Default)]
struct Table {
    entries: Vec<Entry>,
    by_name: HashMap<String, Vec<usize>>,
    scanned: Vec<usize>,
}

impl Table {
    fn push(&mut self, entry: Entry) {
        let i = self.entries.len();
        let names: Option<Vec<&str>> = entry
            .hosts
            .iter()
            .map(|h| match h {
                HostPattern::Plain {
                    pattern,
                    negated: false,
                } if !pattern.contains(['*', '?']) => Some(pattern.as_str()),
                _ => None,
            })
            .collect();
        match names {
            Some(names) => {
                for name in names {
                    let at = self.by_name.entry(name.to_string()).or_default();
                    if at.last() != Some(&i) {
                        at.push(i);
                    }
                }
            }
            None => self.scanned.push(i),
        }
        self.entries.push(entry);
    }

    /// The lines matching `name` (`lower`: the same in ASCII lower case), in file order.
    fn matching<'a>(&'a self, name: &'a str, lower: &'a str) -> impl Iterator<Item = &'a Entry> {
        let named = self
            .by_name
            .get(lower)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut at: Vec<usize> = named.iter().chain(&self.scanned).copied().collect();
        at.sort_unstable();
        at.into_iter()
            .map(|i| &self.entries[i])
            .filter(move |e| e.matches(name, lower))
    }
}

/// The known_hosts files of a run, parsed once. New keys learnt with
/// `--accept-new-host-keys` are appended to the first file and to this table.
#[derive(Debug)]
pub(crate) struct KnownHosts {
    files: Vec<PathBuf>,
    entries: RwLock<Table>,
    /// Serialises appends so two connections to one new host write one line.
    append: Mutex<()>,
}

/// The name a known_hosts line uses for `host` on `port` (OpenSSH's `put_host_port`).
pub(crate) fn host_port_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

impl KnownHosts {
    /// Read every file; a missing file is empty, an unreadable one is an error.
    pub(crate) fn load(files: Vec<PathBuf>) -> std::io::Result<Self> {
        let mut entries = Table::default();
        for file in &files {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("cannot read known_hosts file `{}`: {e}", file.display()),
                    ));
                }
            };
            let file: Arc<Path> = Arc::from(file.as_path());
            for (i, line) in text.lines().enumerate() {
                if let Some(entry) = parse_line(&file, i + 1, line) {
                    entries.push(entry);
                }
            }
        }
        tracing::debug!(files = ?files, entries = entries.entries.len(), "known_hosts loaded");
        Ok(KnownHosts {
            files,
            entries: RwLock::new(entries),
            append: Mutex::new(()),
        })
    }

    /// The file new keys are written to.
    pub(crate) fn primary_file(&self) -> Option<&Path> {
        self.files.first().map(PathBuf::as_path)
    }

    pub(crate) fn check(&self, host: &str, port: u16, key: &PublicKey) -> Verdict {
        let name = host_port_name(host, port);
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let lower = name.to_ascii_lowercase();
        let matching: Vec<&Entry> = entries.matching(&name, &lower).collect();
        if let Some(e) = matching
            .iter()
            .find(|e| e.marker == Marker::Revoked && e.key.key_data() == key.key_data())
        {
            return Verdict::Revoked {
                file: e.file.to_path_buf(),
                line: e.line,
            };
        }
        let plain = || matching.iter().filter(|e| e.marker == Marker::None);
        if plain().any(|e| e.key.key_data() == key.key_data()) {
            return Verdict::Known;
        }
        if let Some(e) = plain().find(|e| e.key.algorithm() == key.algorithm()) {
            return Verdict::Changed {
                file: e.file.to_path_buf(),
                line: e.line,
            };
        }
        Verdict::Unknown
    }

    /// The key algorithms recorded for a host, in file order, without duplicates:
    /// they go first in the algorithms we offer, so the server presents a key we know.
    pub(crate) fn known_algorithms(&self, host: &str, port: u16) -> Vec<Algorithm> {
        let name = host_port_name(host, port);
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let lower = name.to_ascii_lowercase();
        let mut out: Vec<Algorithm> = Vec::new();
        for e in entries.matching(&name, &lower) {
            if e.marker == Marker::None {
                let alg = e.key.algorithm();
                if !out.contains(&alg) {
                    out.push(alg);
                }
            }
        }
        out
    }

    /// Record `key` for `host:port` in the first known_hosts file (OpenSSH's format,
    /// unhashed) and in memory. Returns the file written.
    pub(crate) fn learn(&self, host: &str, port: u16, key: &PublicKey) -> std::io::Result<PathBuf> {
        let file = self
            .primary_file()
            .ok_or_else(|| std::io::Error::other("no known_hosts file is configured"))?
            .to_path_buf();
        let _guard = self.append.lock().unwrap_or_else(|e| e.into_inner());
        // Another connection to the same host may have learnt it meanwhile.
        if self.check(host, port, key) == Verdict::Known {
            return Ok(file);
        }
        let name = host_port_name(host, port);
        let mut stored = key.clone();
        stored.set_comment("");
        let key_text = stored
            .to_openssh()
            .map_err(|e| std::io::Error::other(format!("cannot encode host key: {e}")))?;
        if let Some(dir) = file.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            std::fs::create_dir_all(dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            }
        }
        let existing = std::fs::read(&file).unwrap_or_default();
        let needs_newline = !existing.is_empty() && !existing.ends_with(b"\n");
        let line_no = bytecount_lines(&existing) + usize::from(needs_newline) + 1;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot write known_hosts file `{}`: {e}", file.display()),
                )
            })?;
        let mut line = String::new();
        if needs_newline {
            line.push('\n');
        }
        line.push_str(&name);
        line.push(' ');
        line.push_str(key_text.trim_end());
        line.push('\n');
        f.write_all(line.as_bytes())?;
        f.sync_data()?;
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.push(Entry {
            file: Arc::from(file.as_path()),
            line: line_no,
            marker: Marker::None,
            hosts: vec![HostPattern::Plain {
                pattern: name.to_ascii_lowercase(),
                negated: false,
            }],
            key: stored,
        });
        Ok(file)
    }
}

fn bytecount_lines(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

fn parse_line(file: &Arc<Path>, line: usize, text: &str) -> Option<Entry> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') {
        return None;
    }
    let mut fields = text.split_ascii_whitespace();
    let mut first = fields.next()?;
    let marker = if first.starts_with('@') {
        let m = match first {
            "@revoked" => Marker::Revoked,
            // Host certificates are never negotiated (see the module comment).
            "@cert-authority" => return None,
            _ => {
                tracing::debug!(file = %file.display(), line, "unknown known_hosts marker");
                return None;
            }
        };
        first = fields.next()?;
        m
    } else {
        Marker::None
    };
    let key_type = fields.next()?;
    let key_b64 = fields.next()?;
    let key = match PublicKey::from_openssh(&format!("{key_type} {key_b64}")) {
        Ok(k) => k,
        Err(e) => {
            tracing::debug!(file = %file.display(), line, error = %e, "skipping known_hosts line");
            return None;
        }
    };
    let hosts = first
        .split(',')
        .filter_map(parse_pattern)
        .collect::<Vec<_>>();
    if hosts.is_empty() {
        return None;
    }
    Some(Entry {
        file: file.clone(),
        line,
        marker,
        hosts,
        key,
    })
}

fn parse_pattern(p: &str) -> Option<HostPattern> {
    if let Some(rest) = p.strip_prefix("|1|") {
        let (salt, hash) = rest.split_once('|')?;
        let salt = BASE64.decode(salt.as_bytes()).ok()?;
        let hash = BASE64.decode(hash.as_bytes()).ok()?;
        return Some(HostPattern::Hashed { salt, hash });
    }
    let (negated, pattern) = match p.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, p),
    };
    if pattern.is_empty() {
        return None;
    }
    Some(HostPattern::Plain {
        pattern: pattern.to_ascii_lowercase(),
        negated,
    })
}

impl Entry {
    /// OpenSSH's `match_hostname`: a negated match excludes the line even when
    /// another pattern matches. `lower` is `name` in ASCII lower case, made once by
    /// the caller for all the file's lines (at 1000 hosts, a thousand lines each).
    fn matches(&self, name: &str, lower: &str) -> bool {
        let mut positive = false;
        for p in &self.hosts {
            match p {
                HostPattern::Hashed { salt, hash } => {
                    if hashed_matches(salt, hash, name) {
                        positive = true;
                    }
                }
                HostPattern::Plain { pattern, negated } => {
                    if glob_match(pattern.as_bytes(), lower.as_bytes()) {
                        if *negated {
                            return false;
                        }
                        positive = true;
                    }
                }
            }
        }
        positive
    }
}

fn hashed_matches(salt: &[u8], hash: &[u8], name: &str) -> bool {
    match <Hmac<Sha1> as KeyInit>::new_from_slice(salt) {
        Ok(mut mac) => {
            mac.update(name.as_bytes());
            mac.verify_slice(hash).is_ok()
        }
        Err(_) => false,
    }
}

/// `*` matches any run of characters, `?` exactly one (OpenSSH's `match_pattern`).
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// OpenSSH's message for a changed host key, with the offending file and line.
pub(crate) fn changed_key_message(
    name: &str,
    host: &str,
    port: u16,
    key: &PublicKey,
    file: &Path,
    line: usize,
    primary: Option<&Path>,
) -> String {
    let kind = key_kind(key);
    let host_port = host_port_name(host, port);
    let add_to = primary.unwrap_or(file);
    format!(
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
         @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
         Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n\
         It is also possible that a host key has just been changed.\n\
         The fingerprint for the {kind} key sent by the remote host is\n\
         {fp}.\n\
         Please contact your system administrator.\n\
         Add correct host key in {add} to get rid of this message.\n\
         Offending {kind} key in {file}:{line}\n  \
         remove with:\n  \
         ssh-keygen -f \"{file}\" -R \"{host_port}\"\n\
         Host key for {host_port} has changed and you have requested strict checking.\n\
         Host key verification failed (host `{name}`).",
        fp = key.fingerprint(HashAlg::Sha256),
        add = add_to.display(),
        file = file.display(),
    )
}

/// The key type as OpenSSH names it in messages (`ED25519`, `ECDSA`, `RSA`).
pub(crate) fn key_kind(key: &PublicKey) -> &'static str {
    match key.algorithm() {
        Algorithm::Ed25519 => "ED25519",
        Algorithm::Ecdsa { .. } => "ECDSA",
        Algorithm::Rsa { .. } => "RSA",
        Algorithm::Dsa => "DSA",
        _ => "host",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIC346EDRKBoZjZIFHeB3B6N4kMCC4X8MPCJC5VkM1uR";
    const ED_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKzeFQLUpRyq2xDB9RxBrfx1zk26XAETozEr27GpBQe4";
    const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJNP5UKYHb7UFqcS0YqorR+YQpj5w1/QHja7VkckEhdi7Kr+vTCSAIvqBdUHtq15fR3Xut1G+c64DUUoH8Qw3fw=";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn load(text: &str) -> (tempfile::TempDir, KnownHosts) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, text).unwrap();
        let kh = KnownHosts::load(vec![path]).unwrap();
        (dir, kh)
    }

    /// A hashed line as `ssh-keygen -H` writes it, computed here.
    fn hashed(name: &str) -> String {
        let salt = [7u8; 20];
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt).unwrap();
        mac.update(name.as_bytes());
        let hash = mac.finalize().into_bytes();
        format!("|1|{}|{}", BASE64.encode(&salt), BASE64.encode(&hash))
    }

    #[test]
    fn plain_entry_on_port_22_and_bracketed_port() {
        let (_d, kh) = load(&format!("web1,10.0.0.1 {ED_A}\n[web2]:2222 {ED_A}\n"));
        assert_eq!(kh.check("web1", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(kh.check("10.0.0.1", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(kh.check("WEB1", 22, &key(ED_A)), Verdict::Known);
        // A port other than 22 needs the bracketed form.
        assert_eq!(kh.check("web1", 2222, &key(ED_A)), Verdict::Unknown);
        assert_eq!(kh.check("web2", 2222, &key(ED_A)), Verdict::Known);
        assert_eq!(kh.check("web2", 22, &key(ED_A)), Verdict::Unknown);
    }

    #[test]
    fn hashed_entries_match_host_and_bracketed_port() {
        let text = format!(
            "{} {ED_A}\n{} {ED_A}\n",
            hashed("db1"),
            hashed("[db2]:2200")
        );
        let (_d, kh) = load(&text);
        assert_eq!(kh.check("db1", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(kh.check("db2", 2200, &key(ED_A)), Verdict::Known);
        assert_eq!(kh.check("db3", 22, &key(ED_A)), Verdict::Unknown);
    }

    #[test]
    fn changed_key_names_the_offending_line() {
        let (d, kh) = load(&format!("# comment\n\nweb1 {ED_A}\n"));
        assert_eq!(
            kh.check("web1", 22, &key(ED_B)),
            Verdict::Changed {
                file: d.path().join("known_hosts"),
                line: 3
            }
        );
    }

    /// OpenSSH accepts a host when one matching line has the key even if a stale line of
    /// the same type sits beside it; russh's helper reported `KeyChanged` there.
    #[test]
    fn stale_line_beside_the_right_one_is_accepted() {
        let (_d, kh) = load(&format!("web1 {ED_B}\nweb1 {ED_A}\n"));
        assert_eq!(kh.check("web1", 22, &key(ED_A)), Verdict::Known);
    }

    #[test]
    fn other_key_type_known_is_not_a_change() {
        let (_d, kh) = load(&format!("web1 {ECDSA}\n"));
        assert_eq!(kh.check("web1", 22, &key(ED_A)), Verdict::Unknown);
        assert_eq!(
            kh.known_algorithms("web1", 22),
            vec![key(ECDSA).algorithm()]
        );
    }

    /// Lines found by name and lines tried for every host come back in file order: the
    /// first matching line of a type decides a changed key, and the algorithms offered
    /// first follow the file.
    #[test]
    fn named_and_pattern_lines_keep_file_order() {
        let text = format!(
            "*.prod {ECDSA}\nweb1.prod,web1 {ED_B}\n{} {ED_A}\nweb1.prod {ED_A}\n",
            hashed("web1.prod")
        );
        let (d, kh) = load(&text);
        assert_eq!(
            kh.known_algorithms("web1.prod", 22),
            vec![key(ECDSA).algorithm(), key(ED_A).algorithm()]
        );
        assert_eq!(kh.check("WEB1.prod", 22, &key(ED_A)), Verdict::Known);
        // Neither ED_B nor ED_A: the first ed25519 line in the file is the changed one.
        let other =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAgmfWOfrOWqNb7dqqg+LWkhZutSHPCcOsWOk1ON0v3i";
        assert_eq!(
            kh.check("web1.prod", 22, &key(other)),
            Verdict::Changed {
                file: d.path().join("known_hosts"),
                line: 2
            }
        );
        // A line's second name finds it too, and a learnt host is found at once.
        assert_eq!(kh.check("web1", 22, &key(ED_B)), Verdict::Known);
        assert_eq!(kh.check("web2", 22, &key(ED_A)), Verdict::Unknown);
        kh.learn("web2", 22, &key(ED_A)).unwrap();
        assert_eq!(kh.check("web2", 22, &key(ED_A)), Verdict::Known);
    }

    #[test]
    fn wildcards_and_negation() {
        let (_d, kh) = load(&format!(
            "*.prod.example,!bad.prod.example {ED_A}\n[10.1.?.*]:2022 {ED_A}\n"
        ));
        assert_eq!(kh.check("a.prod.example", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(
            kh.check("bad.prod.example", 22, &key(ED_A)),
            Verdict::Unknown
        );
        assert_eq!(kh.check("10.1.2.33", 2022, &key(ED_A)), Verdict::Known);
        assert_eq!(kh.check("10.1.22.33", 2022, &key(ED_A)), Verdict::Unknown);
    }

    #[test]
    fn revoked_key_is_refused_even_when_also_listed() {
        let (d, kh) = load(&format!("web1 {ED_A}\n@revoked * {ED_A}\n"));
        assert_eq!(
            kh.check("web1", 22, &key(ED_A)),
            Verdict::Revoked {
                file: d.path().join("known_hosts"),
                line: 2
            }
        );
    }

    #[test]
    fn malformed_and_cert_authority_lines_are_skipped() {
        let (_d, kh) = load(&format!(
            "garbage\nweb1 ssh-ed25519 notbase64!!\n@cert-authority *.example {ED_A}\nweb1 {ED_A}\n"
        ));
        assert_eq!(kh.check("web1", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(kh.check("x.example", 22, &key(ED_A)), Verdict::Unknown);
    }

    #[test]
    fn learn_appends_in_openssh_format_and_remembers() {
        let (d, kh) = load(&format!("web1 {ED_A}")); // no trailing newline
        let file = kh.learn("10.0.0.9", 2222, &key(ED_B)).unwrap();
        assert_eq!(file, d.path().join("known_hosts"));
        assert_eq!(kh.check("10.0.0.9", 2222, &key(ED_B)), Verdict::Known);
        // Learning twice writes one line.
        kh.learn("10.0.0.9", 2222, &key(ED_B)).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, format!("web1 {ED_A}\n[10.0.0.9]:2222 {ED_B}\n"));
        // And a fresh load agrees.
        let again = KnownHosts::load(vec![file]).unwrap();
        assert_eq!(again.check("10.0.0.9", 2222, &key(ED_B)), Verdict::Known);
    }

    #[test]
    fn learn_creates_missing_file_and_directory() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("ssh").join("known_hosts");
        let kh = KnownHosts::load(vec![path.clone()]).unwrap();
        kh.learn("web1", 22, &key(ED_A)).unwrap();
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            format!("web1 {ED_A}\n")
        );
    }

    #[test]
    fn glob() {
        assert!(glob_match(b"*", b"anything"));
        assert!(glob_match(b"a*c", b"abbbc"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"a?c", b"abbc"));
        assert!(glob_match(b"*.x.*", b"a.x.y"));
        assert!(!glob_match(b"abc", b"abcd"));
        assert!(glob_match(b"", b""));
    }

    #[test]
    fn changed_message_quotes_openssh() {
        let msg = changed_key_message(
            "web1",
            "10.0.0.1",
            2222,
            &key(ED_B),
            Path::new("/k/known_hosts"),
            3,
            Some(Path::new("/k/known_hosts")),
        );
        assert!(msg.contains("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!"));
        assert!(msg.contains("Offending ED25519 key in /k/known_hosts:3"));
        assert!(msg.contains("ssh-keygen -f \"/k/known_hosts\" -R \"[10.0.0.1]:2222\""));
        assert!(msg.contains("SHA256:"));
    }
}

//! Host patterns as Ansible's `InventoryManager` evaluates them (play `hosts:` and
//! `--limit`): names of hosts and groups, `all`/`*`, shell globs (`node*`, `web[0-9]*`),
//! `~regex`, lists separated by commas (or colons), `!exclude`, `&intersect`, subscripts
//! (`workers[0]`, `workers[1:3]`, `workers[2:]`) and, in a limit, `@file` (one pattern per
//! line, as a retry file). The order of the result is Ansible's: plain patterns first in
//! the order given, then intersections, then exclusions; duplicates dropped.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;

use super::address::parse_address;
use super::data::Data;

/// What went wrong with a host pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Names in the pattern that match no host or group (Ansible warns "Could not match
    /// supplied host pattern"; rtmig refuses, so that a typo never targets nothing).
    #[error("no host or group in the inventory matches {}", quote_list(.names))]
    Unmatched { names: Vec<String> },
    #[error("invalid host pattern `{pattern}`: {reason}")]
    Invalid { pattern: String, reason: String },
    #[error("no host matches the subscripted pattern `{pattern}`: it selects past the last host")]
    SubscriptOutOfRange { pattern: String },
    #[error("cannot read limit file `{}`: {reason}", .path.display())]
    LimitFile { path: PathBuf, reason: String },
    #[error("the limit `{limit}` leaves no hosts to target")]
    NoHostsLeft { limit: String },
    #[error("empty host pattern")]
    Empty,
}

fn quote_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One selected host: an inventory host, or the implicit `localhost` Ansible makes up
/// when a pattern names `localhost`/`127.0.0.1`/`::1` that the inventory lacks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostRef {
    Inventory(usize),
    ImplicitLocalhost(String),
}

pub const LOCALHOST: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

static PATTERN_WITH_SUBSCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?s)(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$").expect("static regex")
});
static COLON_SPLIT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").expect("static regex"));

/// `split_host_pattern`: commas split; without commas, a single host (IPv6 address or
/// `host:port`, ranges allowed) stays whole, else colons split.
pub fn split_host_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(str::to_string).collect()
    } else if parse_address(pattern).is_some() {
        vec![pattern.to_string()]
    } else {
        COLON_SPLIT
            .find_iter(pattern)
            .map(|m| m.as_str().to_string())
            .collect()
    };
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Plain patterns first, then `&`, then `!`; only `!`/`&` patterns imply `all` first.
fn order_patterns(patterns: &[String]) -> Vec<String> {
    let mut regular = Vec::new();
    let mut intersect = Vec::new();
    let mut exclude = Vec::new();
    for p in patterns.iter().filter(|p| !p.is_empty()) {
        match p.as_bytes()[0] {
            b'!' => exclude.push(p.clone()),
            b'&' => intersect.push(p.clone()),
            _ => regular.push(p.clone()),
        }
    }
    if regular.is_empty() {
        regular.push("all".to_string());
    }
    regular
        .into_iter()
        .chain(intersect)
        .chain(exclude)
        .collect()
}

/// Evaluates patterns against one inventory, caching single patterns as Ansible does.
pub struct Matcher<'a> {
    data: &'a Data,
    cache: RefCell<HashMap<String, Vec<HostRef>>>,
    /// Names that matched nothing, in the order met.
    pub unmatched: RefCell<Vec<String>>,
}

enum NameMatch {
    Exact(String),
    Glob(Vec<GlobItem>),
    Regex(Regex),
}

impl NameMatch {
    fn new(pattern: &str) -> Result<NameMatch, PatternError> {
        if let Some(re) = pattern.strip_prefix('~') {
            return Regex::new(&format!("^(?:{re})"))
                .map(NameMatch::Regex)
                .map_err(|e| PatternError::Invalid {
                    pattern: pattern.to_string(),
                    reason: first_line(&e.to_string()),
                });
        }
        let glob = parse_glob(pattern);
        if glob.iter().all(|g| matches!(g, GlobItem::Char(_))) {
            Ok(NameMatch::Exact(pattern.to_string()))
        } else {
            Ok(NameMatch::Glob(glob))
        }
    }

    fn is_match(&self, name: &str) -> bool {
        match self {
            NameMatch::Exact(p) => p == name,
            NameMatch::Glob(g) => glob_match(g, &name.chars().collect::<Vec<_>>()),
            NameMatch::Regex(re) => re.is_match(name),
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

impl<'a> Matcher<'a> {
    pub fn new(data: &'a Data) -> Self {
        Matcher {
            data,
            cache: RefCell::new(HashMap::new()),
            unmatched: RefCell::new(Vec::new()),
        }
    }

    /// `_evaluate_patterns`: the hosts of a list of patterns, duplicates dropped.
    pub fn evaluate(&self, patterns: &[String]) -> Result<Vec<HostRef>, PatternError> {
        let mut hosts: Vec<HostRef> = Vec::new();
        for p in order_patterns(patterns) {
            if let Some(h) = self.data.host_id(&p) {
                // A pattern that is exactly a host name is that host, even when a group
                // has the same name.
                hosts.push(HostRef::Inventory(h));
                continue;
            }
            let that = self.match_one(&p)?;
            match p.as_bytes()[0] {
                b'!' => {
                    let that: HashSet<&HostRef> = that.iter().collect();
                    hosts.retain(|h| !that.contains(h));
                }
                b'&' => {
                    let that: HashSet<&HostRef> = that.iter().collect();
                    hosts.retain(|h| that.contains(h));
                }
                _ => {
                    let existing: HashSet<HostRef> = hosts.iter().cloned().collect();
                    hosts.extend(that.into_iter().filter(|h| !existing.contains(h)));
                }
            }
        }
        let mut seen = HashSet::new();
        hosts.retain(|h| seen.insert(h.clone()));
        Ok(hosts)
    }

    fn match_one(&self, pattern: &str) -> Result<Vec<HostRef>, PatternError> {
        let pattern = pattern.strip_prefix(['&', '!']).unwrap_or(pattern);
        if let Some(hit) = self.cache.borrow().get(pattern) {
            return Ok(hit.clone());
        }
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        let (expr, subscript) = split_subscript(pattern);
        let hosts = self.enumerate_matches(&expr)?;
        let hosts =
            apply_subscript(hosts, subscript).ok_or_else(|| PatternError::SubscriptOutOfRange {
                pattern: pattern.to_string(),
            })?;
        self.cache
            .borrow_mut()
            .insert(pattern.to_string(), hosts.clone());
        Ok(hosts)
    }

    fn enumerate_matches(&self, pattern: &str) -> Result<Vec<HostRef>, PatternError> {
        let matcher = NameMatch::new(pattern)?;
        let mut results = Vec::new();
        let groups: Vec<usize> = (0..self.data.groups.len())
            .filter(|&g| matcher.is_match(&self.data.group(g).name))
            .collect();
        for &g in &groups {
            results.extend(self.data.group_hosts(g).into_iter().map(HostRef::Inventory));
        }
        let special = pattern.starts_with('~') || pattern.contains(['.', '?', '*', '[']);
        if groups.is_empty() || special {
            for h in 0..self.data.hosts.len() {
                if matcher.is_match(&self.data.host(h).name) {
                    results.push(HostRef::Inventory(h));
                }
            }
        }
        if results.is_empty() && LOCALHOST.contains(&pattern) {
            results.push(HostRef::ImplicitLocalhost(pattern.to_string()));
        }
        if results.is_empty() && groups.is_empty() && pattern != "all" {
            let mut unmatched = self.unmatched.borrow_mut();
            if !unmatched.iter().any(|u| u == pattern) {
                unmatched.push(pattern.to_string());
            }
        }
        Ok(results)
    }
}

type Subscript = (i64, Option<i64>);

/// `group[1]`, `group[1:3]`, `group[2:]` (never on a `~regex`).
fn split_subscript(pattern: &str) -> (String, Option<Subscript>) {
    if pattern.starts_with('~') {
        return (pattern.to_string(), None);
    }
    let Some(c) = PATTERN_WITH_SUBSCRIPT.captures(pattern) else {
        return (pattern.to_string(), None);
    };
    let expr = c[1].to_string();
    if let Some(idx) = c.get(2) {
        return match idx.as_str().parse::<i64>() {
            Ok(i) => (expr, Some((i, None))),
            Err(_) => (pattern.to_string(), None),
        };
    }
    let start = c[3].parse::<i64>().unwrap_or(0);
    let end = if c[5].is_empty() {
        -1
    } else {
        c[5].parse::<i64>().unwrap_or(-1)
    };
    (expr, Some((start, Some(end))))
}

/// `_apply_subscript`, Python slicing included; `None` for an index past the end.
fn apply_subscript(hosts: Vec<HostRef>, subscript: Option<Subscript>) -> Option<Vec<HostRef>> {
    let Some((start, end)) = subscript else {
        return Some(hosts);
    };
    if hosts.is_empty() {
        return Some(hosts);
    }
    let len = hosts.len() as i64;
    match end {
        // Ansible tests `if end:`, so `[x:0]` behaves as `[x]`.
        Some(end) if end != 0 => {
            let end = if end == -1 { len - 1 } else { end };
            let lo = start.clamp(0, len) as usize;
            let hi = (end + 1).clamp(0, len) as usize;
            Some(if lo < hi {
                hosts[lo..hi].to_vec()
            } else {
                Vec::new()
            })
        }
        _ => {
            let i = if start < 0 { len + start } else { start };
            if i < 0 || i >= len {
                None
            } else {
                Some(vec![hosts[i as usize].clone()])
            }
        }
    }
}

/// A piece of a shell glob, as Python's `fnmatch` reads it.
#[derive(Debug, Clone, PartialEq)]
enum GlobItem {
    Char(char),
    Any,
    Star,
    Set {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

fn parse_glob(pattern: &str) -> Vec<GlobItem> {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        let c = p[i];
        i += 1;
        match c {
            '*' => {
                if out.last() != Some(&GlobItem::Star) {
                    out.push(GlobItem::Star);
                }
            }
            '?' => out.push(GlobItem::Any),
            '[' => {
                let mut j = i;
                if j < p.len() && p[j] == '!' {
                    j += 1;
                }
                if j < p.len() && p[j] == ']' {
                    j += 1;
                }
                while j < p.len() && p[j] != ']' {
                    j += 1;
                }
                if j >= p.len() {
                    out.push(GlobItem::Char('['));
                    continue;
                }
                let mut k = i;
                let negated = p[k] == '!';
                if negated {
                    k += 1;
                }
                let mut items = Vec::new();
                let body = &p[k..j];
                let mut b = 0;
                while b < body.len() {
                    if b + 2 < body.len() && body[b + 1] == '-' {
                        // A reversed range matches nothing (Python drops it).
                        if body[b] <= body[b + 2] {
                            items.push((body[b], body[b + 2]));
                        }
                        b += 3;
                    } else {
                        items.push((body[b], body[b]));
                        b += 1;
                    }
                }
                out.push(GlobItem::Set { negated, items });
                i = j + 1;
            }
            c => out.push(GlobItem::Char(c)),
        }
    }
    out
}

fn item_matches(item: &GlobItem, c: char) -> bool {
    match item {
        GlobItem::Char(x) => *x == c,
        GlobItem::Any => true,
        GlobItem::Star => true,
        GlobItem::Set { negated, items } => {
            items.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
    }
}

/// Whole-name glob match with the usual star backtracking (linear in practice).
fn glob_match(glob: &[GlobItem], name: &[char]) -> bool {
    let (mut g, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if g < glob.len() && glob[g] == GlobItem::Star {
            star = Some((g, n));
            g += 1;
        } else if g < glob.len() && item_matches(&glob[g], name[n]) {
            g += 1;
            n += 1;
        } else if let Some((sg, sn)) = star {
            g = sg + 1;
            n = sn + 1;
            star = Some((sg, sn + 1));
        } else {
            return false;
        }
    }
    while g < glob.len() && glob[g] == GlobItem::Star {
        g += 1;
    }
    g == glob.len()
}

/// The patterns of a `--limit`, with `@file` entries replaced by the file's lines.
pub fn limit_patterns(limit: &str) -> Result<Vec<String>, PatternError> {
    let mut out = Vec::new();
    for x in split_host_pattern(limit) {
        if let Some(file) = x.strip_prefix('@') {
            let path = PathBuf::from(file);
            if path.is_dir() {
                return Err(PatternError::LimitFile {
                    path,
                    reason: "a limit starting with `@` must be a file, not a folder".into(),
                });
            }
            let text = std::fs::read_to_string(&path).map_err(|e| PatternError::LimitFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            out.extend(text.split('\n').map(|l| l.trim().to_string()));
        } else {
            out.push(x);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str, name: &str) -> bool {
        glob_match(&parse_glob(p), &name.chars().collect::<Vec<_>>())
    }

    #[test]
    fn globs_follow_fnmatch() {
        assert!(glob("node*", "node1"));
        assert!(glob("*", "anything.example.com"));
        assert!(glob("web[0-9]*", "web3-a"));
        assert!(!glob("web[0-9]*", "webx"));
        assert!(glob("n[!a]", "nb"));
        assert!(!glob("n[!a]", "na"));
        assert!(glob("n?de", "node"));
        assert!(glob("a[", "a["));
        assert!(glob("*-[ab]-*", "x-b-y"));
        assert!(!glob("[z-a]", "m"));
        assert!(glob("k8s_*_node", "k8s_gpu_node"));
    }

    #[test]
    fn patterns_split_on_commas_or_colons() {
        assert_eq!(split_host_pattern("a, b ,c"), ["a", "b", "c"]);
        assert_eq!(
            split_host_pattern("masters:!node3:&zone_a"),
            ["masters", "!node3", "&zone_a"]
        );
        assert_eq!(split_host_pattern("web[1:3]"), ["web[1:3]"]);
        assert_eq!(split_host_pattern("fe80::1"), ["fe80::1"]);
        assert_eq!(split_host_pattern("a:b,c"), ["a:b", "c"]);
    }

    #[test]
    fn subscripts_follow_python_slicing() {
        let hosts: Vec<HostRef> = (0..5).map(HostRef::Inventory).collect();
        let ids = |v: Option<Vec<HostRef>>| {
            v.map(|v| {
                v.into_iter()
                    .map(|h| if let HostRef::Inventory(i) = h { i } else { 99 })
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            split_subscript("workers[1:3]"),
            ("workers".into(), Some((1, Some(3))))
        );
        assert_eq!(
            ids(apply_subscript(hosts.clone(), Some((1, Some(3))))),
            Some(vec![1, 2, 3])
        );
        assert_eq!(
            ids(apply_subscript(hosts.clone(), Some((3, Some(-1))))),
            Some(vec![3, 4])
        );
        assert_eq!(
            ids(apply_subscript(hosts.clone(), Some((-1, None)))),
            Some(vec![4])
        );
        assert_eq!(ids(apply_subscript(hosts.clone(), Some((7, None)))), None);
        assert_eq!(
            ids(apply_subscript(hosts, Some((9, Some(12))))),
            Some(vec![])
        );
    }
}

//! Version comparison for the `version` test and filter (Ansible's
//! `x is version('1.24', '>=')`), tuned for the versions operators compare:
//! Kubernetes (`v1.23.17`, `1.27`), containerd (`1.6.20~ds1`), Docker
//! (`20.10.24+dfsg1`).
//!
//! Rules: a leading `v` is ignored; the numeric release (`1.23.17`) is compared
//! number by number with missing parts counting as 0 (`1.27` == `1.27.0`); build
//! metadata after `+` is ignored; a suffix after the release (`-rc.1`, `~ds1`,
//! `beta2`) marks a pre-release that sorts before the plain release, and two
//! suffixes compare part by part (numbers numerically, numbers before words).
//! Ansible's default LooseVersion cannot compare `v1.23` with `1.27` at all.

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq)]
struct Version {
    release: Vec<u64>,
    pre: Vec<Part>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    // Declared first: numbers sort before words, as in semver pre-releases.
    Number(u64),
    Word(String),
}

fn parse(text: &str) -> Option<Version> {
    let s = text.trim();
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let s = s.split('+').next().unwrap_or("");
    let mut release = Vec::new();
    let mut rest = s;
    loop {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            break;
        }
        release.push(rest[..digits].parse().ok()?);
        rest = &rest[digits..];
        match rest.strip_prefix('.') {
            Some(after) if after.starts_with(|c: char| c.is_ascii_digit()) => rest = after,
            _ => break,
        }
    }
    if release.is_empty() {
        return None;
    }
    Some(Version {
        release,
        pre: parts(rest),
    })
}

/// `-rc.1` → [rc, 1]; `~ds1` → [ds, 1].
fn parts(suffix: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut chars = suffix.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut n = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n.push(d);
                chars.next();
            }
            parts.push(Part::Number(n.parse().unwrap_or(u64::MAX)));
        } else if c.is_alphabetic() {
            let mut w = String::new();
            while let Some(&a) = chars.peek().filter(|a| a.is_alphabetic()) {
                w.push(a.to_ascii_lowercase());
                chars.next();
            }
            parts.push(Part::Word(w));
        } else {
            chars.next();
        }
    }
    parts
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.release.len().max(other.release.len());
        for i in 0..len {
            let a = self.release.get(i).copied().unwrap_or(0);
            let b = other.release.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => self.pre.cmp(&other.pre),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two version strings; the error names the one that is not a version.
pub fn compare(a: &str, b: &str) -> Result<Ordering, String> {
    let not_a_version =
        |s: &str| format!("`{s}` is not a version (expected e.g. `1.27` or `v1.23.17`)");
    let va = parse(a).ok_or_else(|| not_a_version(a))?;
    let vb = parse(b).ok_or_else(|| not_a_version(b))?;
    Ok(va.cmp(&vb))
}

/// Applies one of Ansible's version operators: `<`, `lt`, `<=`, `le`, `>`, `gt`,
/// `>=`, `ge`, `==`, `=`, `eq`, `!=`, `<>`, `ne`.
pub fn check(a: &str, op: &str, b: &str) -> Result<bool, String> {
    let ord = compare(a, b)?;
    Ok(match op {
        "<" | "lt" => ord == Ordering::Less,
        "<=" | "le" => ord != Ordering::Greater,
        ">" | "gt" => ord == Ordering::Greater,
        ">=" | "ge" => ord != Ordering::Less,
        "==" | "=" | "eq" => ord == Ordering::Equal,
        "!=" | "<>" | "ne" => ord != Ordering::Equal,
        other => {
            return Err(format!(
                "unknown version operator `{other}`, expected one of `<`, `<=`, `>`, `>=`, `==`, `!=`, `lt`, `le`, `gt`, `ge`, `eq`, `ne`"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_versions_compare_with_and_without_v() {
        assert!(check("v1.23.17", "<", "1.27").unwrap());
        assert!(check("v1.27.3", ">=", "1.27").unwrap());
        assert!(check("1.24", "ge", "v1.24.0").unwrap());
        assert!(check("1.27", "==", "1.27.0").unwrap());
        assert!(check("v1.9.0", "<", "v1.10.0").unwrap());
        assert!(!check("v1.26.15", ">=", "1.27").unwrap());
    }

    #[test]
    fn prerelease_sorts_before_release_and_build_is_ignored() {
        assert!(check("1.24.0-rc.1", "<", "1.24.0").unwrap());
        assert!(check("1.24.0-rc.2", ">", "1.24.0-rc.1").unwrap());
        assert!(check("1.24.0-alpha.1", "<", "1.24.0-beta.0").unwrap());
        assert!(check("1.6.20~ds1", "<", "1.6.20").unwrap());
        assert!(check("1.6.20~ds1", ">", "1.6.19").unwrap());
        assert!(check("20.10.24+dfsg1", "==", "20.10.24").unwrap());
    }

    #[test]
    fn every_operator_spelling() {
        for (op, want) in [
            ("<", false),
            ("lt", false),
            ("<=", true),
            ("le", true),
            (">", false),
            ("gt", false),
            (">=", true),
            ("ge", true),
            ("==", true),
            ("=", true),
            ("eq", true),
            ("!=", false),
            ("<>", false),
            ("ne", false),
        ] {
            assert_eq!(check("1.2.3", op, "v1.2.3").unwrap(), want, "{op}");
        }
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(
            check("latest", ">=", "1.2").unwrap_err(),
            "`latest` is not a version (expected e.g. `1.27` or `v1.23.17`)"
        );
        assert!(check("1.2", "~=", "1.2").unwrap_err().contains("`~=`"));
        assert!(check("", "==", "1").is_err());
    }
}

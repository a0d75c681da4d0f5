//! Host entries as Ansible's inventory plugins read them: an optional `:port` suffix
//! (`node1:2222`, `[::1]:2222`) and `[a:b]` / `[a:b:step]` ranges (`node[01:20]`,
//! `web-[a:c].example.com`), following `ansible.parsing.utils.addresses` and
//! `expand_hostname_range`. Pure functions, no I/O.

use std::sync::LazyLock;

use regex::Regex;

static BRACKETED_HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[(.+)\]:([0-9]+)$").expect("static regex"));
static HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$").expect("static regex"));

const NUMERIC_RANGE: &str = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]";
const HEX_RANGE: &str = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";
const ALNUM_RANGE: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";

static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUMERIC_RANGE})");
    Regex::new(&format!(r"(?i)^(?:{c}\.){{3}}{c}$")).expect("static regex")
});

static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[0-9a-f]{{1,4}}|{HEX_RANGE})");
    let i4 = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUMERIC_RANGE})");
    let alts = [
        format!(r"(?:{c}:){{7}}{c}"),
        format!(r"(?:{c}:){{1,6}}:"),
        format!(r"(?:{c}:)(?::{c}){{1,6}}"),
        format!(r"(?:{c}:){{2}}(?::{c}){{1,5}}"),
        format!(r"(?:{c}:){{3}}(?::{c}){{1,4}}"),
        format!(r"(?:{c}:){{4}}(?::{c}){{1,3}}"),
        format!(r"(?:{c}:){{5}}(?::{c}){{1,2}}"),
        format!(r"(?:{c}:){{6}}(?::{c})"),
        format!(r":(?::{c}){{1,6}}"),
        format!(r"{c}?::"),
        format!(r"(?:0:){{6}}(?:{i4}\.){{3}}{i4}"),
        format!(r"::(?:ffff:)?(?:{i4}\.){{3}}{i4}"),
        format!(r"(?:0:){{5}}ffff:(?:{i4}\.){{3}}{i4}"),
    ];
    Regex::new(&format!(r"(?i)^(?:{})$", alts.join("|"))).expect("static regex")
});

static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)^(?:\w|{ALNUM_RANGE})(?:[\w-]|{ALNUM_RANGE})*$"
    ))
    .expect("static regex")
});

fn is_hostname(s: &str) -> bool {
    // Ranges never contain a dot, so labels split cleanly; a label may not end in `_`/`-`
    // (Ansible's `(?<![_-])`).
    s.split('.')
        .all(|label| LABEL.is_match(label) && !label.ends_with(['_', '-']))
}

/// Ansible's `parse_address(address, allow_ranges=True)`: the host and its port, or
/// `None` when the text is not a host identifier.
pub fn parse_address(address: &str) -> Option<(String, Option<u16>)> {
    let mut address = address.to_string();
    let mut port: Option<u64> = None;
    for re in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if let Some(c) = re.captures(&address) {
            port = c[2].parse::<u64>().ok();
            address = c[1].to_string();
        }
    }
    if IPV4.is_match(&address) || IPV6.is_match(&address) || is_hostname(&address) {
        // A port beyond 65535 parses in Ansible and fails at connection time; refuse it here.
        let port = match port {
            Some(p) => Some(u16::try_from(p).ok()?),
            None => None,
        };
        Some((address, port))
    } else {
        None
    }
}

/// Expand one host entry into host names and the port that applies to all of them
/// (`_expand_hostpattern`).
pub fn expand_host_pattern(pattern: &str) -> Result<(Vec<String>, Option<u16>), String> {
    let (host, port) = parse_address(pattern).unwrap_or_else(|| (pattern.to_string(), None));
    let names = if host.contains('[') {
        expand_range(&host)?
    } else {
        vec![host]
    };
    Ok((names, port))
}

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// `expand_hostname_range`: `db[01:03]-[a:b]` -> db01-a, db01-b, db02-a, ...
pub fn expand_range(line: &str) -> Result<Vec<String>, String> {
    let Some(open) = line.find('[') else {
        return Ok(vec![line.to_string()]);
    };
    let after = &line[open + 1..];
    let Some(close_rel) = after.find(']') else {
        return Err(format!("host range in `{line}` has no closing `]`"));
    };
    let head = &line[..open];
    let nrange = &after[..close_rel];
    let tail = &after[close_rel + 1..];
    let bounds: Vec<&str> = nrange.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(format!(
            "host range `[{nrange}]` must be begin:end or begin:end:step"
        ));
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    let step_text = bounds.get(2).copied().unwrap_or("1");
    if end.is_empty() {
        return Err(format!("host range `[{nrange}]` must specify an end value"));
    }
    let step: usize = match step_text.trim().parse::<usize>() {
        Ok(s) if s > 0 => s,
        _ => {
            return Err(format!(
                "host range `[{nrange}]` has an invalid step `{step_text}`"
            ));
        }
    };
    let width = if beg.starts_with('0') && beg.len() > 1 {
        if beg.len() != end.len() {
            return Err(format!(
                "host range `[{nrange}]` must have begin and end of equal length"
            ));
        }
        Some(beg.len())
    } else {
        None
    };
    let items: Vec<String> = match (LETTERS.find(beg), LETTERS.find(end)) {
        (Some(ib), Some(ie)) => {
            if ib > ie {
                return Err(format!("host range `[{nrange}]` must have begin <= end"));
            }
            LETTERS[ib..=ie]
                .chars()
                .step_by(step)
                .map(String::from)
                .collect()
        }
        _ => {
            let (Ok(b), Ok(e)) = (beg.trim().parse::<i64>(), end.trim().parse::<i64>()) else {
                return Err(format!(
                    "host range `[{nrange}]` must be numbers or single letters"
                ));
            };
            if e < b {
                Vec::new()
            } else {
                (b..=e)
                    .step_by(step)
                    .map(|n| match width {
                        Some(w) => format!("{n:0w$}"),
                        None => n.to_string(),
                    })
                    .collect()
            }
        }
    };
    let mut out = Vec::new();
    for item in items {
        let name = format!("{head}{item}{tail}");
        if name.contains('[') {
            out.extend(expand_range(&name)?);
        } else {
            out.push(name);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_split_as_ansible_does() {
        assert_eq!(
            parse_address("node1:2222"),
            Some(("node1".into(), Some(2222)))
        );
        assert_eq!(
            parse_address("10.0.0.1:22"),
            Some(("10.0.0.1".into(), Some(22)))
        );
        assert_eq!(parse_address("[::1]:22"), Some(("::1".into(), Some(22))));
        assert_eq!(parse_address("fe80::1"), Some(("fe80::1".into(), None)));
        assert_eq!(
            parse_address("w[01:03]:2222"),
            Some(("w[01:03]".into(), Some(2222)))
        );
        assert_eq!(parse_address("bad_"), None);
        assert_eq!(parse_address("masters:workers"), None);
    }

    #[test]
    fn ranges_expand_with_padding_steps_and_letters() {
        assert_eq!(
            expand_range("node[01:03]").unwrap(),
            ["node01", "node02", "node03"]
        );
        assert_eq!(expand_range("n[1:10:4]").unwrap(), ["n1", "n5", "n9"]);
        assert_eq!(
            expand_range("web-[a:c].x").unwrap(),
            ["web-a.x", "web-b.x", "web-c.x"]
        );
        assert_eq!(
            expand_range("r[1:2]-[a:b]").unwrap(),
            ["r1-a", "r1-b", "r2-a", "r2-b"]
        );
        assert_eq!(expand_range("n[:2]").unwrap(), ["n0", "n1", "n2"]);
    }

    #[test]
    fn bad_ranges_say_why() {
        assert_eq!(
            expand_range("n[1]").unwrap_err(),
            "host range `[1]` must be begin:end or begin:end:step"
        );
        assert_eq!(
            expand_range("n[01:100]").unwrap_err(),
            "host range `[01:100]` must have begin and end of equal length"
        );
        assert_eq!(
            expand_range("n[c:a]").unwrap_err(),
            "host range `[c:a]` must have begin <= end"
        );
    }
}

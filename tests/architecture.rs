//! The house's arrows point down (../shared/STYLE.md): each folder of `src/` may use the
//! ones below it, never one above. The README's Development section draws the same map.

use std::collections::BTreeSet;
use std::path::Path;

/// The leaves: small modules every stage may use, importing nothing of the crate.
const LEAVES: &[&str] = &["shell_words", "words", "digest", "pyre", "sequence"];

/// Each stage and the stages it may import (besides itself and the leaves).
#[rustfmt::skip]
const ALLOWED: &[(&str, &[&str])] = &[
    ("cli", &[]),
    ("transport", &[]),
    ("template", &[]),
    ("parse", &[]),
    ("plan", &["parse", "template"]),
    ("report", &["parse"]),
    ("execute", &["plan", "report", "parse", "template", "transport"]),
    ("commands", &["cli", "execute", "plan", "report", "parse", "template", "transport"]),
];

/// Every stage and leaf with what it may import.
fn map() -> Vec<(&'static str, Vec<&'static str>)> {
    let leaves = LEAVES.iter().map(|l| (*l, Vec::new()));
    let stages = ALLOWED.iter().map(|(s, deps)| {
        let mut all = deps.to_vec();
        all.extend_from_slice(LEAVES);
        (*s, all)
    });
    leaves.chain(stages).collect()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `crate::NAME` paths a file uses (also inside `use crate::{a, b}` groups).
fn crate_imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn every_folder_imports_only_the_ones_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let map = map();
    let stages: BTreeSet<&str> = map.iter().map(|(s, _)| *s).collect();
    let mut wrong = Vec::new();
    for (stage, allowed) in &map {
        let mut files = Vec::new();
        let dir = src.join(stage);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        let leaf = src.join(format!("{stage}.rs"));
        if leaf.is_file() {
            files.push(leaf);
        }
        assert!(!files.is_empty(), "no source for stage `{stage}`");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source");
            for name in crate_imports(&text) {
                if name != *stage
                    && stages.contains(name.as_str())
                    && !allowed.contains(&name.as_str())
                {
                    wrong.push(format!(
                        "{} uses crate::{name} ({stage} may use: {})",
                        file.strip_prefix(&src).unwrap_or(&file).display(),
                        allowed.join(", ")
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "arrows pointing up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_module_of_the_crate_has_its_place_in_the_map() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let stages: BTreeSet<&str> = map().iter().map(|(s, _)| *s).collect();
    for line in lib.lines() {
        let line = line.trim();
        let Some(rest) = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
        else {
            continue;
        };
        let name = rest.trim_end_matches(';');
        assert!(
            stages.contains(name),
            "src/lib.rs declares module `{name}`, which tests/architecture.rs does not place"
        );
    }
}

#[test]
fn the_import_scanner_sees_groups_and_paths() {
    let text = "use crate::{parse::Location, report::Event};\nlet x = crate::words::plural(1);";
    let got: Vec<String> = crate_imports(text).into_iter().collect();
    assert_eq!(got, ["parse", "report", "words"]);
}

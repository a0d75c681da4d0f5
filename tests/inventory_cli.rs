//! `rtmig inventory` against the corpus in tests/corpus/inventory: every case's `--list`,
//! `--graph`, `--graph --vars` and host patterns must equal what ansible-core printed
//! (committed by regenerate.sh). When the real `ansible-inventory` is on PATH, or named
//! by `RTMIG_ANSIBLE_INVENTORY`, the outputs are also compared with a live run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rtmig::parse::inventory::Inventory;
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/inventory")
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("source").is_file())
        .collect();
    v.sort();
    assert!(v.len() >= 8, "the corpus has {} cases", v.len());
    v
}

fn source(case: &Path) -> String {
    std::fs::read_to_string(case.join("source"))
        .unwrap()
        .trim()
        .to_string()
}

fn rtmig(case: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtmig"))
        .current_dir(case)
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .env_remove("ANSIBLE_VAULT_IDENTITY_LIST")
        .args(args)
        .output()
        .expect("run rtmig")
}

fn stdout(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn name(case: &Path) -> String {
    case.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn list_matches_ansible_inventory_for_every_case() {
    let mut failures = Vec::new();
    for case in cases() {
        let src = source(&case);
        let got = stdout(
            &rtmig(&case, &["inventory", "-i", &src, "--list"]),
            &name(&case),
        );
        let want = std::fs::read_to_string(case.join("expected-list.json")).unwrap();
        let got_v: Value = serde_json::from_str(&got).unwrap();
        let want_v: Value = serde_json::from_str(&want).unwrap();
        if got_v != want_v {
            failures.push(format!(
                "{}: --list differs\n--- want\n{want}\n--- got\n{got}",
                name(&case)
            ));
        } else if got != want {
            failures.push(format!(
                "{}: --list has the same values but not the same text",
                name(&case)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn list_with_limit_matches_ansible_inventory() {
    let mut checked = 0;
    for case in cases() {
        let Ok(limit) = std::fs::read_to_string(case.join("list-limit")) else {
            continue;
        };
        let src = source(&case);
        let got = stdout(
            &rtmig(
                &case,
                &["inventory", "-i", &src, "--list", "--limit", limit.trim()],
            ),
            &name(&case),
        );
        let want = std::fs::read_to_string(case.join("expected-list-limited.json")).unwrap();
        assert_eq!(
            got,
            want,
            "{}: --list --limit {}",
            name(&case),
            limit.trim()
        );
        checked += 1;
    }
    assert!(checked >= 3);
}

#[test]
fn graph_matches_ansible_inventory_for_every_case() {
    let mut failures = Vec::new();
    for case in cases() {
        let src = source(&case);
        for (args, file) in [
            (&["--graph"][..], "expected-graph.txt"),
            (&["--graph", "--vars"][..], "expected-graph-vars.txt"),
        ] {
            let mut full = vec!["inventory", "-i", &src];
            full.extend_from_slice(args);
            let got = stdout(&rtmig(&case, &full), &name(&case));
            let want = std::fs::read_to_string(case.join(file)).unwrap();
            if got != want {
                failures.push(format!(
                    "{}: {} differs\n--- want\n{want}\n--- got\n{got}",
                    name(&case),
                    args.join(" ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Each pattern: rtmig must select the same hosts in the same order, and refuse exactly
/// the names Ansible could not match.
#[test]
fn patterns_select_the_hosts_ansible_lists_in_its_order() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let src = source(&case);
        let inventory = Inventory::load(&case.join(&src)).unwrap();
        let records: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(case.join("expected-hosts.json")).unwrap(),
        )
        .unwrap();
        for r in records {
            checked += 1;
            let pattern = r["pattern"].as_str().unwrap();
            let limit = r["limit"].as_str();
            let unmatched: Vec<String> = r["unmatched"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap().to_string())
                .collect();
            let want: Option<Vec<String>> = r["hosts"]
                .as_array()
                .map(|a| a.iter().map(|h| h.as_str().unwrap().to_string()).collect());
            let label = format!(
                "{}: `{pattern}`{}",
                name(&case),
                limit.map(|l| format!(" --limit `{l}`")).unwrap_or_default()
            );
            // Limit files are relative to the case folder, like the regenerate script ran.
            let limit_abs = limit.map(|l| match l.strip_prefix('@') {
                Some(f) => format!("@{}", case.join(f).display()),
                None => l.to_string(),
            });
            match limit_abs {
                None => {
                    let out = rtmig(
                        &case,
                        &["inventory", "-i", &src, "--hosts", "--limit", pattern],
                    );
                    let got = inventory.select(pattern);
                    if unmatched.is_empty() {
                        let want = want.clone().unwrap_or_default();
                        if got.as_ref().ok() != Some(&want) {
                            failures
                                .push(format!("{label}: select gave {got:?}, ansible {want:?}"));
                        }
                        let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
                            .lines()
                            .map(String::from)
                            .collect();
                        if !out.status.success() || printed != want {
                            failures.push(format!("{label}: --hosts printed {printed:?} (exit {:?}), ansible {want:?}", out.status.code()));
                        }
                    } else {
                        let stderr = String::from_utf8_lossy(&out.stderr);
                        let names_ok = unmatched.iter().all(|u| stderr.contains(&format!("`{u}`")));
                        if out.status.code() != Some(1) || !names_ok {
                            failures.push(format!("{label}: expected an error naming {unmatched:?}, got exit {:?}: {stderr}", out.status.code()));
                        }
                        if got.is_ok() {
                            failures.push(format!(
                                "{label}: select accepted names Ansible could not match: {got:?}"
                            ));
                        }
                    }
                }
                Some(l) => {
                    let got = inventory.select_limited(pattern, Some(&l));
                    // rtmig refuses a limit naming nothing (Ansible warns); names in the
                    // play pattern are skipped as Ansible skips them.
                    let play_unmatched = inventory.unmatched_names(pattern);
                    let limit_unmatched: Vec<&String> = unmatched
                        .iter()
                        .filter(|u| !play_unmatched.contains(u))
                        .collect();
                    if !limit_unmatched.is_empty() {
                        let named = got.as_ref().err().is_some_and(|e| {
                            limit_unmatched
                                .iter()
                                .all(|u| e.to_string().contains(&format!("`{u}`")))
                        });
                        if !named {
                            failures.push(format!(
                                "{label}: expected an error naming {limit_unmatched:?}, got {got:?}"
                            ));
                        }
                    } else if let Some(err) = r["error"].as_str() {
                        // `ansible` refuses an empty selection; a play just has no hosts.
                        if got.as_ref().is_ok_and(|hosts| !hosts.is_empty()) {
                            failures.push(format!(
                                "{label}: ansible failed ({err}) but rtmig gave {got:?}"
                            ));
                        }
                    } else if got.as_ref().ok() != want.as_ref() {
                        failures.push(format!(
                            "{label}: select_limited gave {got:?}, ansible {want:?}"
                        ));
                    }
                }
            }
        }
    }
    assert!(checked >= 60, "only {checked} patterns in the corpus");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The real ansible-inventory, when this machine has it.
fn live_ansible_inventory() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RTMIG_ANSIBLE_INVENTORY") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("ansible-inventory"))
        .find(|p| p.is_file())
}

#[test]
fn live_ansible_inventory_agrees_when_installed() {
    let Some(tool) = live_ansible_inventory() else {
        eprintln!("ansible-inventory not installed: compared with the committed outputs only");
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for case in cases() {
        let src = source(&case);
        for args in [
            &["--list"][..],
            &["--graph"][..],
            &["--graph", "--vars"][..],
        ] {
            let live = Command::new(&tool)
                .current_dir(&case)
                .env("ANSIBLE_HOME", home.path())
                .env("ANSIBLE_NOCOLOR", "1")
                .env_remove("ANSIBLE_CONFIG")
                .args(["-i", &src])
                .args(args)
                .output()
                .expect("run ansible-inventory");
            let want = stdout(&live, &format!("live ansible-inventory on {}", name(&case)));
            let mut full = vec!["inventory", "-i", &src];
            full.extend_from_slice(args);
            let got = stdout(&rtmig(&case, &full), &name(&case));
            let same = if args == ["--list"] {
                serde_json::from_str::<Value>(&got).unwrap()
                    == serde_json::from_str::<Value>(&want).unwrap()
            } else {
                got == want
            };
            if !same {
                failures.push(format!(
                    "{} {}: live ansible-inventory differs\n--- live\n{want}\n--- rtmig\n{got}",
                    name(&case),
                    args.join(" ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn invalid_inventory_exits_1_with_the_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inv.yaml"),
        "all:\n  children:\n    masters:\n      hots:\n        m1:\n",
    )
    .unwrap();
    let out = rtmig(dir.path(), &["inventory", "-i", "inv.yaml", "--list"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: inv.yaml:4:7: unknown key `hots` in group `masters`, expected one of `hosts`, `vars`, `children`\n"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn hosts_without_limit_prints_every_host_in_inventory_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hosts"),
        "[b]\nb1\n[a]\na1\nb1\n[all:vars]\nx=1\n",
    )
    .unwrap();
    let out = rtmig(dir.path(), &["inventory", "-i", "hosts", "--hosts"]);
    assert_eq!(stdout(&out, "--hosts"), "b1\na1\n");
}

/// tests/fixtures/vault: values and files ansible-vault 2.19 encrypted, and what
/// ansible-inventory printed for them with both passwords.
#[test]
fn vaulted_inventory_prints_as_ansible_inventory_prints_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault");
    let passwords = [
        "--vault-id",
        "prod@prod.pass",
        "--vault-password-file",
        "default.pass",
    ];
    let list = [
        &["inventory", "-i", "inventory/hosts.yml", "--list"][..],
        &passwords,
    ]
    .concat();
    assert_eq!(
        stdout(&rtmig(&dir, &list), "--list"),
        std::fs::read_to_string(dir.join("expected-list.json")).unwrap()
    );
    let graph = [
        &[
            "inventory",
            "-i",
            "inventory/hosts.yml",
            "--graph",
            "--vars",
        ][..],
        &passwords,
    ]
    .concat();
    assert_eq!(
        stdout(&rtmig(&dir, &graph), "--graph --vars"),
        std::fs::read_to_string(dir.join("expected-graph-vars.txt")).unwrap()
    );
    // `--list` needs no password for `!vault` values (it prints them encrypted), but
    // does for the encrypted group_vars file.
    let out = rtmig(&dir, &["inventory", "-i", "inventory/hosts.yml", "--list"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: inventory/group_vars/all.yml:1:1: vault-encrypted file and no vault password given (use --vault-password-file or --ask-vault-pass)\n"
    );
    // `--graph` and `--hosts` show no variable: no password needed, as in Ansible.
    let graph = rtmig(&dir, &["inventory", "-i", "inventory/hosts.yml", "--graph"]);
    assert_eq!(
        stdout(&graph, "--graph"),
        "@all:\n  |--@ungrouped:\n  |  |--localhost\n"
    );
    let hosts = rtmig(&dir, &["inventory", "-i", "inventory/hosts.yml", "--hosts"]);
    assert_eq!(stdout(&hosts, "--hosts"), "localhost\n");
}

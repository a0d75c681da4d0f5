//! `rtmig plan` and `rtmig validate` on the repository's own migration playbook, run
//! through the binary from another working directory.

use std::process::Command;

fn rtmig(args: &[&str]) -> std::process::Output {
    let repo = env!("CARGO_MANIFEST_DIR");
    Command::new(env!("CARGO_BIN_EXE_rtmig"))
        .current_dir(std::env::temp_dir())
        .args(args.iter().map(|a| a.replace("REPO", repo)))
        .output()
        .expect("run rtmig")
}

// Guards: template files were resolved relative to the working directory, so `validate`
// (and with it `plan` and `run`) refused migrate.yaml unless run from the repository.
#[test]
fn migrate_yaml_validates_and_plans_from_any_directory() {
    let v = rtmig(&[
        "validate",
        "-i",
        "REPO/inventory.example.yaml",
        "REPO/playbooks/migrate.yaml",
    ]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let p = rtmig(&[
        "plan",
        "-i",
        "REPO/inventory.example.yaml",
        "REPO/playbooks/migrate.yaml",
    ]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let text = String::from_utf8_lossy(&p.stdout);
    assert!(
        text.starts_with("PLAY 1 [Preflight (read-only, every node)]"),
        "{text}"
    );
    // The registry node goes last, alone.
    let last = text.rfind("PLAY ").map(|i| &text[i..]).unwrap_or_default();
    assert!(
        last.contains("master0") && !last.contains("worker0"),
        "{last}"
    );
}

#[test]
fn a_typo_in_a_playbook_names_its_place_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inv.yaml"), "all:\n  hosts:\n    a:\n").unwrap();
    std::fs::write(dir.path().join("pb.yaml"), "- hosts: all\n  taks: []\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rtmig"))
        .current_dir(dir.path())
        .args(["run", "-i", "inv.yaml", "pb.yaml", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: pb.yaml:2:3: "), "{err}");
    assert!(err.contains("`taks`"), "{err}");
    assert!(
        !dir.path().join(".rtmig").exists(),
        "a run directory was made for invalid input"
    );
}

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
    // The registry node goes last, alone: which node that is, the preflight decides
    // (registry_node, else the node running the registry), and the plan says so.
    let last = text.rfind("PLAY ").map(|i| &text[i..]).unwrap_or_default();
    assert!(
        last.contains("hosts: decided at run time, when the play starts, from `rtmig_registry`")
            && last.contains("`Note the registry node`")
            && !last.contains("worker0"),
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

/// The batches of play `name` in `rtmig plan`'s output: one list of hosts per batch.
fn batches(plan: &str, name: &str) -> Vec<Vec<String>> {
    let play = plan
        .split("PLAY ")
        .find(|p| p.contains(&format!("[{name}]")))
        .unwrap_or_else(|| panic!("no play {name} in\n{plan}"));
    play.split("tasks, in order")
        .next()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter_map(|l| l.split_once(". "))
        .filter(|(n, _)| n.trim().parse::<usize>().is_ok())
        .map(|(_, hosts)| hosts.split(", ").map(str::to_string).collect())
        .collect()
}

// Kubespray inventories, with their group names and no -e: masters listed in kube_node
// (as in the v2.16-v2.20 samples) and a worker in the etcd group go one at a time with
// the masters, never in a worker batch; an etcd-only host (not a node) in neither.
#[test]
fn kubespray_inventories_keep_masters_and_etcd_members_out_of_worker_batches() {
    let dir = tempfile::tempdir().unwrap();
    for (file, cp, node, k8s) in [
        (
            "v2.19.ini",
            "kube_control_plane",
            "kube_node",
            "k8s_cluster",
        ),
        ("v2.15.ini", "kube-master", "kube-node", "k8s-cluster"),
    ] {
        let inv = dir.path().join(file);
        std::fs::write(
            &inv,
            format!(
                "[{cp}]\nnode1\nnode2\nnode3\n[etcd]\nnode1\nnode2\nnode3\nnode4\netcd9\n\
                 [{node}]\nnode2\nnode3\nnode4\nnode5\nnode6\nnode7\n[{k8s}:children]\n{cp}\n{node}\n"
            ),
        )
        .unwrap();
        let inv = inv.to_string_lossy().into_owned();
        let p = rtmig(&["plan", "-i", &inv, "REPO/playbooks/migrate.yaml"]);
        assert!(
            p.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&p.stderr)
        );
        let text = String::from_utf8_lossy(&p.stdout);
        assert_eq!(
            batches(&text, "Preflight (read-only, every node)"),
            [[
                "node1", "node2", "node3", "node4", "node5", "node6", "node7"
            ]],
            "{file}"
        );
        assert_eq!(
            batches(&text, "Migrate the workers"),
            [vec!["node5"], vec!["node6", "node7"]],
            "{file}"
        );
        // With the inventory alone the registry node is not known yet (the preflight
        // finds it and the masters' play leaves it out when it starts): every master
        // and etcd worker, one at a time.
        assert_eq!(
            batches(&text, "Migrate the masters, one at a time"),
            [["node1"], ["node2"], ["node3"], ["node4"]],
            "{file}"
        );
        assert!(
            batches(&text, "Migrate the registry node, last").is_empty(),
            "{file}"
        );
        assert!(
            text.contains("PLAY 5 [Migrate the registry node, last]\n  hosts: decided at run time, when the play starts, from `rtmig_registry`"),
            "{file}: {text}"
        );
    }
}

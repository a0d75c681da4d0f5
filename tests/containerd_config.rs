//! templates/containerd-config.toml.j2 rendered through rtmig's own template engine, as
//! the migration's `template` step renders it, against committed golden files: schema
//! version 2 for containerd 1.x, version 3 for containerd 2.x (containerd's
//! docs/cri/config.md), each with the sandbox image, cgroup driver and CNI directories in
//! its own keys. `RTMIG_BLESS=1 cargo test --test containerd_config` rewrites the files.

use std::path::{Path, PathBuf};

use rtmig::template::{Templates, Vars};
use serde_json::json;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The host facts the preflight sets, for a node with `containerd_version`.
fn render(containerd_version: &str, extra: serde_json::Value) -> String {
    let templates = Templates::new(vec![repo("templates")]);
    let mut vars = Vars::new();
    vars.insert("inventory_hostname", json!("worker0"));
    vars.insert("containerd_version", json!(containerd_version));
    vars.insert("pause_image", json!("registry.k8s.io/pause:3.6"));
    vars.insert("containerd_systemd_cgroup", json!(true));
    // the kubelet's --cni-bin-dir, as the preflight found it (no --cni-conf-dir)
    vars.insert("cni_bin_dir", json!("/opt/cni/bin-custom"));
    if let Some(map) = extra.as_object() {
        for (k, v) in map {
            vars.insert(k.clone(), v.clone());
        }
    }
    templates
        .render_file("containerd-config.toml.j2", &vars)
        .unwrap_or_else(|e| panic!("render: {e}"))
}

fn golden(name: &str, text: &str) {
    let path = repo(&format!("tests/golden/{name}"));
    if std::env::var_os("RTMIG_BLESS").is_some() {
        std::fs::write(&path, text).expect("write golden file");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (RTMIG_BLESS=1 writes it)", path.display()));
    assert_eq!(
        text,
        want,
        "{} differs (RTMIG_BLESS=1 rewrites it)",
        path.display()
    );
}

#[test]
fn containerd_1_x_gets_schema_version_2() {
    let text = render("1.6.20", json!({}));
    golden("containerd-config-v2.toml", &text);
    assert!(text.contains("\nversion = 2\n"), "{text}");
    assert!(
        text.contains("[plugins.\"io.containerd.grpc.v1.cri\"]\n    # The kubelet's")
            && text.contains("sandbox_image = \"registry.k8s.io/pause:3.6\""),
        "{text}"
    );
    assert!(!text.contains("io.containerd.cri.v1"), "{text}");
}

#[test]
fn containerd_2_x_gets_schema_version_3() {
    let text = render("2.0.4", json!({}));
    golden("containerd-config-v3.toml", &text);
    assert!(text.contains("\nversion = 3\n"), "{text}");
    // The sandbox image is pinned in the images plugin; no v2 key is left.
    assert!(
        text.contains(
            "[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n      sandbox = \"registry.k8s.io/pause:3.6\""
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.runc.options]"
        ),
        "{text}"
    );
    assert!(
        !text.contains("sandbox_image =") && !text.contains("io.containerd.grpc.v1.cri"),
        "{text}"
    );
}

#[test]
fn the_schema_can_be_forced_and_the_cni_dirs_follow_the_kubelet() {
    let text = render(
        "1.7.13",
        json!({"containerd_config_version": 3,
               "docker_runtimes": {"nvidia": {"path": "/usr/bin/nvidia-container-runtime"}},
               "docker_default_runtime": "nvidia"}),
    );
    assert!(text.contains("\nversion = 3\n"), "{text}");
    // --cni-bin-dir of the kubelet kept; no --cni-conf-dir: containerd's default.
    assert!(text.contains("bin_dir = \"/opt/cni/bin-custom\""), "{text}");
    assert!(text.contains("conf_dir = \"/etc/cni/net.d\""), "{text}");
    // Docker's own runtimes go to the runtime plugin of that schema
    assert!(
        text.contains("default_runtime_name = \"nvidia\"")
            && text.contains("[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.\"nvidia\".options]\n          BinaryName = \"/usr/bin/nvidia-container-runtime\""),
        "{text}"
    );
}

/// Both files parse as TOML and hold what the lab's kubelet stand-in and containerd read.
#[test]
fn both_schemas_are_valid_toml() {
    for v in ["1.6.20", "2.1.1"] {
        let text = render(
            v,
            json!({"containerd_registry_auth": {"registry:5000": {"username": "u", "password": "p"}}}),
        );
        // Python's tomllib (the lab's python3): no TOML crate among rtmig's dependencies.
        let mut child = std::process::Command::new("python3")
            .args(["-c", "import sys, tomllib; tomllib.loads(sys.stdin.read())"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
        assert!(
            child.wait().expect("python3").success(),
            "{v}: not valid TOML:\n{text}"
        );
    }
}

//! The lab (lab/lab.sh) as a test fixture: a rehearsal Kubernetes cluster of real sshd,
//! dockerd and containerd hosts in network namespaces, brought up from a spec and taken
//! down when the [`Lab`] is dropped.
//!
//! Tests get their own network names and state dir (`rtmigtst0`, 10.215.0.0/24,
//! `/srv/rtmig-lab/test`; with `RTMIG_TEST_LAB_ID=N`, `rtmigtstN`, 10.(215+N).0.0/24,
//! `/srv/rtmig-lab/testN`), so a developer's own lab on `rtmiglab0` survives them, and a
//! process-wide lock runs one lab at a time (the machine has two cores). When a test
//! panics, the runs' journals and per-host logs and the API server's logs are copied to
//! `/tmp/rtmig-lab-failure-*` before the lab goes down, and the path is printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Rtmig;

static ONE_LAB: Mutex<()> = Mutex::new(());

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `RTMIG_TEST_LAB_ID=N` (1-9) gives the tests another network and state dir, so test
/// runs in several git worktrees do not take each other's lab down; default 0.
fn test_lab_id() -> u32 {
    match std::env::var("RTMIG_TEST_LAB_ID") {
        Ok(v) if !v.is_empty() => v
            .parse()
            .ok()
            .filter(|n| *n <= 9)
            .unwrap_or_else(|| panic!("RTMIG_TEST_LAB_ID must be 0-9, not {v:?}")),
        _ => 0,
    }
}

pub struct Lab {
    state: PathBuf,
    inventory: PathBuf,
    _spec_dir: tempfile::TempDir,
    _lock: MutexGuard<'static, ()>,
}

impl Lab {
    /// Bring up `lab/specs/<spec>.json` after `edit` changed it (the network is always
    /// the tests' own).
    pub fn up(spec: &str, edit: impl FnOnce(&mut Value)) -> Lab {
        let lock = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
        let text = std::fs::read_to_string(repo(&format!("lab/specs/{spec}.json")))
            .unwrap_or_else(|e| panic!("spec {spec}: {e}"));
        let mut v: Value = serde_json::from_str(&text).expect("spec json");
        let id = test_lab_id();
        v["network"] = serde_json::json!({
            "bridge": format!("rtmigtst{id}"), "subnet": format!("10.{}.0.0/24", 215 + id),
            "netns_prefix": format!("rtmigtst{id}-"), "veth_prefix": format!("rtmt{id}v")
        });
        edit(&mut v);
        let spec_dir = tempfile::tempdir().expect("temp dir");
        let spec_path = spec_dir.path().join("spec.json");
        std::fs::write(&spec_path, serde_json::to_string_pretty(&v).unwrap()).expect("spec");
        let state = PathBuf::from(match id {
            0 => "/srv/rtmig-lab/test".to_string(),
            n => format!("/srv/rtmig-lab/test{n}"),
        });
        let out = lab_cmd(&state)
            .arg("up")
            .arg("--spec")
            .arg(&spec_path)
            .output()
            .expect("lab.sh up");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            // No `Lab` exists yet to take it down on drop: a half-built lab (a bridge, host
            // namespaces) left here would fail every later test with "already exists".
            let _ = lab_cmd(&state).arg("down").output();
            panic!(
                "lab up failed\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let inventory = PathBuf::from(stdout.lines().last().expect("inventory path").trim());
        Lab {
            state,
            inventory,
            _spec_dir: spec_dir,
            _lock: lock,
        }
    }

    pub fn inventory(&self) -> &Path {
        &self.inventory
    }

    /// rtmig with `-i <inventory> <playbook>` (relative to the repository), run from
    /// the state dir; more args follow.
    pub fn rtmig(&self, playbook: &str) -> Rtmig {
        Rtmig::new(&self.state)
            .args(["run", "-i"])
            .args([&self.inventory])
            .args([repo(playbook)])
    }

    /// The controller's kubectl against the lab's API server; panics on failure.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = lab_cmd(&self.state)
            .arg("kubectl")
            .args(args)
            .output()
            .expect("kubectl");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `sh -c script` inside a host (no SSH); returns (exit code, stdout).
    pub fn exec(&self, host: &str, script: &str) -> (i32, String) {
        let out = lab_cmd(&self.state)
            .args(["exec", host, "sh", "-c", script])
            .output()
            .expect("lab exec");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Like [`exec`](Self::exec), panicking unless it exits 0.
    pub fn sh(&self, host: &str, script: &str) -> String {
        let (code, out) = self.exec(host, script);
        assert_eq!(code, 0, "{host}: `{script}` exited {code}: {out}");
        out
    }

    /// `lab.sh upgrade-kubelet HOST VERSION [--kubeadm]`: the node's kubelet replaced by
    /// VERSION and restarted (`kubeadm`: kubeadm-flags.env rewritten as `kubeadm upgrade
    /// node` does first); panics on failure.
    pub fn upgrade_kubelet(&self, host: &str, version: &str, kubeadm: bool) {
        let mut cmd = lab_cmd(&self.state);
        cmd.args(["upgrade-kubelet", host, version]);
        if kubeadm {
            cmd.arg("--kubeadm");
        }
        let out = cmd.output().expect("lab.sh upgrade-kubelet");
        assert!(
            out.status.success(),
            "upgrade-kubelet {host} {version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Node name -> container runtime version, from the API.
    pub fn runtimes(&self) -> Vec<(String, String)> {
        self.kubectl(&[
            "get",
            "nodes",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name} {.status.nodeInfo.containerRuntimeVersion}{"\n"}{end}"#,
        ])
        .lines()
        .map(|l| {
            let mut w = l.split_whitespace();
            (
                w.next().unwrap_or_default().to_string(),
                w.next().unwrap_or_default().to_string(),
            )
        })
        .collect()
    }

    /// Nodes that are not Ready, or cordoned.
    pub fn unready_or_cordoned(&self) -> Vec<String> {
        self.kubectl(&[
            "get",
            "nodes",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.spec.unschedulable}{"\n"}{end}"#,
        ])
        .lines()
        .filter(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.get(1) != Some(&"True") || w.get(2) == Some(&"true")
        })
        .map(str::to_string)
        .collect()
    }

    /// The API server's record of cordons: (events as JSON, the largest number of
    /// nodes cordoned at once).
    pub fn cordon_history(&self) -> (Vec<Value>, u64) {
        let v: Value =
            serde_json::from_str(&self.kubectl(&["get", "--raw", "/lab/v1/cordon-history"]))
                .expect("cordon history json");
        let events = v["events"].as_array().cloned().unwrap_or_default();
        (events, v["maxCordoned"].as_u64().unwrap_or(0))
    }

    /// The API server's record of etcd's members: the whole answer of
    /// /lab/v1/etcd-history (`events`, `maxDown`: the most members down at once once the
    /// cluster had started, `quorumLost`: how many times it lost quorum).
    pub fn etcd_history(&self) -> Value {
        serde_json::from_str(&self.kubectl(&["get", "--raw", "/lab/v1/etcd-history"]))
            .expect("etcd history json")
    }

    /// Pods (namespace/name phase node) that are not Running.
    pub fn pods_not_running(&self) -> Vec<String> {
        self.kubectl(&[
            "get",
            "pods",
            "-A",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.status.phase} {.spec.nodeName}{"\n"}{end}"#,
        ])
        .lines()
        .filter(|l| l.split_whitespace().nth(1) != Some("Running"))
        .map(str::to_string)
        .collect()
    }

    /// Run dirs under `.rtmig/runs` beside the inventory, oldest first.
    pub fn runs(&self) -> Vec<PathBuf> {
        super::runs_in(self.inventory.parent().expect("inventory dir"))
    }

    /// A path in the lab's state dir (gone with the lab).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.state.join(rel)
    }

    /// The `n`th run dir (1-based), once it exists.
    pub fn wait_for_run(&self, n: usize) -> PathBuf {
        self.wait_for("a new run dir", Duration::from_secs(30), || {
            self.runs().len() >= n
        });
        self.runs()[n - 1].clone()
    }

    /// Wait until `f` is true (polling every 500 ms) or `limit` passed; whether it became true.
    pub fn try_wait_for(&self, limit: Duration, mut f: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        loop {
            if f() {
                return true;
            }
            if start.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Wait until `f` is true (polling every 100 ms), panicking after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(
                start.elapsed() < limit,
                "gave up waiting for {what} after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let keep = std::env::temp_dir().join(format!(
                "rtmig-lab-failure-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            ));
            let _ = std::fs::create_dir_all(&keep);
            let dir = self.inventory.parent().unwrap_or(&self.state);
            for what in [".rtmig", "api"] {
                let _ = Command::new("cp")
                    .arg("-a")
                    .arg(dir.join(what))
                    .arg(&keep)
                    .status();
            }
            eprintln!("lab: runs and API logs kept in {}", keep.display());
        }
        let _ = lab_cmd(&self.state).arg("down").output();
    }
}

fn lab_cmd(state: &Path) -> Command {
    let mut c = Command::new(repo("lab/lab.sh"));
    c.env("LAB_STATE", state).stdin(std::process::Stdio::null());
    c
}

/// The index of the task named `name` in play `play` of a journal's `run` record.
pub fn task_index(journal: &[Value], play: usize, name: &str) -> u64 {
    let run = journal
        .iter()
        .find(|r| r["t"] == "run")
        .expect("run record");
    let tasks = run["tasks"][play].as_array().expect("tasks of the play");
    tasks
        .iter()
        .position(|t| t == name)
        .unwrap_or_else(|| panic!("no task `{name}` in play {play}")) as u64
}

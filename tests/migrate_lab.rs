//! playbooks/migrate.yaml, rollback.yaml and cleanup-docker.yaml against the lab: real
//! sshd, dockerd and containerd hosts with the lab's kubelet, systemd and API server
//! stand-ins (needs root; see lab/README.md). One lab at a time; each test brings up
//! its own cluster and takes it down.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};
use support::lab::{Lab, task_index};
use support::{journal, repeated_steps};

const MIGRATE: &str = "playbooks/migrate.yaml";
const ROLLBACK: &str = "playbooks/rollback.yaml";
const CLEANUP: &str = "playbooks/cleanup-docker.yaml";
const ACCEPT: [&str; 2] = ["-e", "accept_docker_socket_workloads=true"];

/// `repo:tag` of every image in a host's Docker store, as containerd names them.
fn docker_images(lab: &Lab, host: &str) -> BTreeSet<String> {
    lab.sh(host, "docker images --format '{{.Repository}}:{{.Tag}}'")
        .lines()
        .filter(|l| !l.contains("<none>"))
        .map(normalize)
        .collect()
}

fn normalize(image: &str) -> String {
    let first = image.split('/').next().unwrap_or_default();
    if !image.contains('/') {
        format!("docker.io/library/{image}")
    } else if first.contains('.') || first.contains(':') || first == "localhost" {
        image.to_string()
    } else {
        format!("docker.io/{image}")
    }
}

fn containerd_images(lab: &Lab, host: &str) -> BTreeSet<String> {
    lab.sh(host, "ctr -n k8s.io images ls -q")
        .lines()
        .map(str::to_string)
        .collect()
}

fn hosts(lab: &Lab) -> Vec<String> {
    lab.runtimes().into_iter().map(|(n, _)| n).collect()
}

/// Every node on containerd, Ready, schedulable, every pod Running.
fn assert_fully_migrated(lab: &Lab) {
    for (node, runtime) in lab.runtimes() {
        assert!(
            runtime.starts_with("containerd://"),
            "{node} runs {runtime}"
        );
    }
    assert_eq!(
        lab.unready_or_cordoned(),
        Vec::<String>::new(),
        "nodes not Ready or cordoned"
    );
    // Pods evicted from the last node come back once it is uncordoned: give the
    // scheduler and the kubelet a moment, then every pod must run.
    let _ = lab.try_wait_for(Duration::from_secs(60), || {
        lab.pods_not_running().is_empty()
    });
    assert_eq!(
        lab.pods_not_running(),
        Vec::<String>::new(),
        "pods not Running"
    );
}

#[test]
fn default_cluster_migrates_through_a_kill_and_resume_then_rolls_back_and_cleans_up() {
    // worker1's Docker has a GPU runtime as its default and default ulimits (FIELD.md 16):
    // containerd must keep both.
    let lab = Lab::up("default", |spec| {
        spec["hosts"] = json!({"worker1": {"daemon_json": {
            "exec-opts": ["native.cgroupdriver=systemd"], "log-driver": "json-file",
            "runtimes": {"nvidia": {"path": "/usr/bin/nvidia-container-runtime", "runtimeArgs": []}},
            "default-runtime": "nvidia",
            "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 65536, "Soft": 32768}}
        }}});
    });
    let nodes = hosts(&lab);
    let before: BTreeMap<String, BTreeSet<String>> = nodes
        .iter()
        .map(|h| (h.clone(), docker_images(&lab, h)))
        .collect();
    let flags_before = lab.sh("worker1", "cat /var/lib/kubelet/kubeadm-flags.env");
    let containerd_config_before = lab.sh("worker1", "cat /etc/containerd/config.toml");
    let annotation = r"jsonpath={.metadata.annotations.kubeadm\.alpha\.kubernetes\.io/cri-socket}";
    let annotation_before = lab.kubectl(&["get", "node", "worker1", "-o", annotation]);

    // The preflight refuses the log agent that mounts docker.sock, and touches nothing.
    let refused = lab.rtmig(MIGRATE).output().expect_code(2);
    let text = refused.stdout();
    assert!(
        text.contains("these pods mount the Docker socket") && text.contains("logging/log-agent-"),
        "{text}"
    );
    assert!(
        lab.cordon_history().0.is_empty(),
        "the preflight cordoned a node"
    );

    // Accepted: the migration starts, and the controller is killed while worker0 (the
    // first batch) is drained.
    let mut child = lab
        .rtmig(MIGRATE)
        .args([
            "--fresh",
            "-e",
            "max_unavailable=1",
            "-e",
            "tkestack_netns_fix=true",
        ])
        .args(ACCEPT)
        .spawn_logged(&lab.path("killed-run.log"));
    let run = lab.wait_for_run(2);
    let log = lab.path("killed-run.log");
    lab.wait_for("worker0 drained", Duration::from_secs(240), || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "rtmig ended ({status}) before worker0 was drained:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        let j = journal(&run);
        j.iter().any(|r| r["t"] == "run")
            && j.iter().any(|r| {
                r["t"] == "done"
                    && r["host"] == "worker0"
                    && r["play"] == 1
                    && r["task"] == task_index(&j, 1, "Drain the node")
            })
    });
    child.kill().expect("SIGKILL rtmig");
    let _ = child.wait();
    let cordoned = lab.kubectl(&[
        "get",
        "node",
        "worker0",
        "-o",
        "jsonpath={.spec.unschedulable}",
    ]);
    assert_eq!(
        cordoned, "true",
        "worker0 should be drained when the controller dies"
    );

    let resumed = lab
        .rtmig(MIGRATE)
        .args([
            "--resume",
            "-e",
            "max_unavailable=1",
            "-e",
            "tkestack_netns_fix=true",
        ])
        .args(ACCEPT)
        .output()
        .expect_code(0);
    assert!(
        resumed.stdout().contains("PLAY RECAP"),
        "{}",
        resumed.stdout()
    );

    assert_fully_migrated(&lab);
    // TKEStack's galaxy daemonset got /var/run/netns with Bidirectional propagation.
    let galaxy = lab.kubectl(&[
        "-n",
        "kube-system",
        "get",
        "daemonset",
        "galaxy-daemonset",
        "-o",
        "json",
    ]);
    let galaxy: Value = serde_json::from_str(&galaxy).expect("daemonset json");
    let pod = &galaxy["spec"]["template"]["spec"];
    let volumes = pod["volumes"].as_array().expect("volumes");
    assert!(
        volumes
            .iter()
            .any(|v| v["hostPath"]["path"] == "/var/run/netns"),
        "{pod}"
    );
    let mounts = pod["containers"][0]["volumeMounts"]
        .as_array()
        .expect("mounts");
    assert!(
        mounts.iter().any(|m| m["mountPath"] == "/var/run/netns" && m["mountPropagation"] == "Bidirectional"),
        "{pod}"
    );
    assert_eq!(
        volumes
            .iter()
            .filter(|v| v["hostPath"]["path"] == "/var/run/netns")
            .count(),
        1
    );
    let (events, max_cordoned) = lab.cordon_history();
    assert!(
        max_cordoned <= 1,
        "{max_cordoned} nodes cordoned at once with max_unavailable=1"
    );
    // The masters' real etcd members (static pods, so they stop with Docker): never two
    // down at once, quorum never lost, each one back before the next master.
    assert_etcd_never_two_down(&lab);
    for master in ["master0", "master1", "master2"] {
        assert!(
            lab.exec(
                master,
                "ls /run/rtmig-lab/containers/containerd_kube-system_etcd-*"
            )
            .0 == 0,
            "{master}'s etcd member does not run on containerd"
        );
    }
    // The registry node (master0) is cordoned last, after every other node was
    // uncordoned again.
    let first_master0 = events
        .iter()
        .position(|e| e["node"] == "master0")
        .expect("master0 was cordoned");
    let migrated_before: BTreeSet<&str> = events[..first_master0]
        .iter()
        .filter_map(|e| e["node"].as_str())
        .collect();
    assert_eq!(migrated_before.len(), nodes.len() - 1, "{events:?}");
    assert_eq!(events[first_master0]["cordoned"], json!(["master0"]));
    for (host, images) in &before {
        let now = containerd_images(&lab, host);
        let lost: Vec<&String> = images.difference(&now).collect();
        assert!(
            lost.is_empty(),
            "{host}: images not in containerd's k8s.io: {lost:?}"
        );
    }
    // worker1's containerd runs pods with Docker's default runtime and Docker's limits.
    let config = lab.sh("worker1", "cat /etc/containerd/config.toml");
    assert!(
        config.contains(r#"default_runtime_name = "nvidia""#)
            && config.contains(r#"BinaryName = "/usr/bin/nvidia-container-runtime""#),
        "{config}"
    );
    assert!(
        lab.sh("worker1", "systemctl cat containerd")
            .contains("LimitNOFILE=32768:65536")
    );
    assert!(
        lab.sh("worker0", "cat /etc/containerd/config.toml")
            .contains(r#"default_runtime_name = "runc""#)
    );
    assert_eq!(
        lab.exec(
            "worker0",
            "ls /etc/systemd/system/containerd.service.d/rtmig-limits.conf"
        )
        .0,
        2,
        "worker0's Docker set no limits: no drop-in"
    );
    // Nothing that finished before the kill ran again after it.
    let records = journal(&run);
    assert_eq!(repeated_steps(&records), Vec::<String>::new());
    let backup = lab.sh(
        "master1",
        "sha256sum < /var/backups/rtmig/registry-images.tar",
    );
    let original = lab.sh(
        "master0",
        "sha256sum < /var/backups/rtmig/registry-images.tar",
    );
    assert_eq!(
        backup, original,
        "the registry images reached master1 intact"
    );

    // Rollback puts worker1 back on Docker, with its original files, and first removes
    // what containerd ran for the kubelet (a container left in k8s.io stands for a pod:
    // containers cannot run here).
    lab.sh(
        "worker1",
        "ctr -n k8s.io containers create registry.k8s.io/pause:3.6 rtmig-test-leftover-sandbox",
    );
    // Previewed first: the rollback's diffs and services, and nothing changes.
    let state = node_state(&lab, "worker1");
    let preview = lab
        .rtmig(ROLLBACK)
        .args(["--limit", "worker1", "--check", "--diff"])
        .output()
        .expect_code(0)
        .stdout();
    assert_eq!(node_state(&lab, "worker1"), state, "{preview}");
    for (task, shows) in [
        ("Enable and start Docker", "+ActiveState=active"),
        (
            "Restore the kubelet flags and unit, daemon.json, config.toml and crictl.yaml",
            "+++ after: /var/lib/kubelet/kubeadm-flags.env",
        ),
    ] {
        assert!(
            task_output(&preview, "worker1", task).contains(shows),
            "{task}: {shows}: {preview}"
        );
    }
    lab.rtmig(ROLLBACK)
        .args(["--limit", "worker1"])
        .output()
        .expect_code(0);
    let runtime = lab
        .runtimes()
        .into_iter()
        .find(|(n, _)| n == "worker1")
        .map(|(_, r)| r);
    assert!(runtime.unwrap_or_default().starts_with("docker://"));
    assert_eq!(lab.sh("worker1", "ctr -n k8s.io containers ls -q"), "");
    assert_eq!(lab.unready_or_cordoned(), Vec::<String>::new());
    assert_eq!(
        lab.sh("worker1", "cat /var/lib/kubelet/kubeadm-flags.env"),
        flags_before
    );
    assert_eq!(
        lab.sh("worker1", "cat /etc/containerd/config.toml"),
        containerd_config_before
    );
    assert_eq!(
        lab.kubectl(&["get", "node", "worker1", "-o", annotation]),
        annotation_before
    );
    let (code, _) = lab.exec(
        "worker1",
        "ls /etc/systemd/system/containerd.service.d/rtmig-limits.conf",
    );
    assert_ne!(code, 0, "rollback leaves the limits drop-in behind");
    assert_eq!(lab.pods_not_running(), Vec::<String>::new());

    // cleanup-docker refuses while worker1 is on Docker, and removes nothing.
    let refused = lab.rtmig(CLEANUP).output().expect_code(2);
    assert!(
        refused
            .stdout()
            .contains("do not run on containerd yet: worker1 docker://"),
        "{}",
        refused.stdout()
    );
    for h in &nodes {
        assert!(
            !lab.sh(h, "ls -A /var/lib/docker").is_empty(),
            "{h}: Docker data removed"
        );
    }

    // A second migration moves worker1 again and changes nothing on the other nodes.
    let again = lab.rtmig(MIGRATE).args(ACCEPT).output().expect_code(0);
    let text = again.stdout();
    let changed: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("changed: ["))
        .filter_map(|l| l.split(']').next())
        .collect();
    assert_eq!(changed, BTreeSet::from(["worker1"]), "{text}");
    assert_fully_migrated(&lab);

    // Now cleanup removes Docker and keeps containerd and every image.
    let images_now: BTreeMap<String, usize> = nodes
        .iter()
        .map(|h| (h.clone(), containerd_images(&lab, h).len()))
        .collect();
    lab.rtmig(CLEANUP).args(["--fresh"]).output().expect_code(0);
    for h in &nodes {
        let state = lab.sh(
            h,
            "ls -A /var/lib/docker 2>/dev/null | wc -l; dpkg-query -W -f='${Status}\\n' docker.io; \
             dpkg-query -W -f='${Status}\\n' containerd; command -v containerd",
        );
        let lines: Vec<&str> = state.lines().collect();
        assert_eq!(lines[0], "0", "{h}: /var/lib/docker not empty: {state}");
        assert!(
            !lines[1].contains("install ok installed"),
            "{h}: docker.io still installed: {state}"
        );
        assert_eq!(
            lines[2], "install ok installed",
            "{h}: containerd removed: {state}"
        );
        assert_eq!(lines[3], "/usr/bin/containerd", "{h}: {state}");
        assert_eq!(
            containerd_images(&lab, h).len(),
            images_now[h],
            "{h}: images lost"
        );
    }
    assert_fully_migrated(&lab);
}

#[test]
fn a_drain_blocked_by_a_disruption_budget_stops_the_batch_and_uncordons() {
    let lab = Lab::up("default", |spec| {
        let workloads = spec["workloads"].as_array_mut().expect("workloads");
        workloads.push(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "pinned", "namespace": "default", "labels": {"app": "pinned"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "pinned"}},
                     "template": {"metadata": {"labels": {"app": "pinned"}},
                                  "spec": {"nodeSelector": {"kubernetes.io/hostname": "worker0"},
                                           "containers": [{"name": "web", "image": "lab.local/app/web:1.0"}]}}}
        }));
        workloads.push(json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "pinned", "namespace": "default"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "pinned"}}}
        }));
    });
    let configs_before: Vec<String> = hosts(&lab)
        .iter()
        .map(|h| {
            lab.sh(
                h,
                "cat /etc/containerd/config.toml /var/lib/kubelet/kubeadm-flags.env",
            )
        })
        .collect();
    let pod = lab.kubectl(&[
        "get",
        "pods",
        "-l",
        "app=pinned",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);

    let run = lab
        .rtmig(MIGRATE)
        .args(["-e", "drain_timeout=5s", "-e", "drain_retries=0"])
        .args(ACCEPT)
        .output()
        .expect_code(2);
    let out = run.stdout();
    assert!(
        out.contains("could not drain worker0 (uncordoned again")
            && out.contains(&format!("default/{pod}")),
        "{out}"
    );
    assert!(out.contains("disruption budget"), "{out}");
    // No later play ran: the masters were not touched.
    assert!(!out.contains("PLAY [Migrate the masters"), "{out}");

    let (events, _) = lab.cordon_history();
    let touched: BTreeSet<&str> = events.iter().filter_map(|e| e["node"].as_str()).collect();
    assert_eq!(touched, BTreeSet::from(["worker0"]), "{events:?}");
    assert_eq!(lab.unready_or_cordoned(), Vec::<String>::new());
    for (node, runtime) in lab.runtimes() {
        assert!(runtime.starts_with("docker://"), "{node} runs {runtime}");
    }
    let configs_after: Vec<String> = hosts(&lab)
        .iter()
        .map(|h| {
            lab.sh(
                h,
                "cat /etc/containerd/config.toml /var/lib/kubelet/kubeadm-flags.env",
            )
        })
        .collect();
    assert_eq!(configs_before, configs_after);
    assert_eq!(
        lab.sh("worker1", "systemctl is-active docker kubelet"),
        "active\nactive\n"
    );
}

/// From the lab's etcd history: at most one member down at any moment, quorum never
/// lost, every member up at the end.
fn assert_etcd_never_two_down(lab: &Lab) {
    let history = lab.etcd_history();
    assert!(
        history["maxDown"].as_u64() == Some(1) || history["maxDown"].as_u64() == Some(0),
        "etcd members down at once: {}",
        history["events"]
    );
    assert_eq!(history["quorumLost"], json!(0), "{}", history["events"]);
    let last = history["events"].as_array().and_then(|e| e.last()).cloned();
    assert_eq!(
        last.map(|e| e["down"].clone()),
        Some(json!([])),
        "{}",
        history["events"]
    );
    // A master's member goes down only while that master is cordoned (drained): never
    // from a step before its drain (a dockerd restarted without live-restore kills what
    // live-restore kept, etcd's static pod with it). Events before the first cordon are
    // the lab's own start.
    let (cordons, _) = lab.cordon_history();
    let Some(first) = cordons.first().and_then(|c| c["ts"].as_f64()) else {
        return;
    };
    for e in history["events"].as_array().into_iter().flatten() {
        let ts = e["ts"].as_f64().unwrap_or(0.0);
        if ts <= first {
            continue;
        }
        let cordoned = cordons
            .iter()
            .take_while(|c| c["ts"].as_f64().unwrap_or(0.0) <= ts)
            .last()
            .map(|c| c["cordoned"].clone())
            .unwrap_or(json!([]));
        for m in e["down"].as_array().into_iter().flatten() {
            assert!(
                cordoned.as_array().is_some_and(|c| c.contains(m)),
                "etcd member {m} down while its master was not cordoned (cordoned: {cordoned}); etcd: {e}"
            );
        }
    }
}

/// A preflight refusal: exit 2, `message` in the output, and nothing changed.
fn assert_refused(lab: &Lab, args: &[&str], messages: &[&str]) {
    let run = lab
        .rtmig(MIGRATE)
        .args(["--fresh"])
        .args(args)
        .output()
        .expect_code(2);
    let out = run.stdout();
    for message in messages {
        assert!(out.contains(message), "expected `{message}` in\n{out}");
    }
    assert!(
        !out.contains("PLAY [Migrate"),
        "a migration play started:\n{out}"
    );
    assert!(lab.cordon_history().0.is_empty(), "a node was cordoned");
    for (node, runtime) in lab.runtimes() {
        assert!(runtime.starts_with("docker://"), "{node} runs {runtime}");
    }
}

#[test]
fn the_preflight_refuses_a_single_master() {
    let lab = Lab::up("single-master", |_| {});
    assert_refused(
        &lab,
        &[],
        &["only one master in `masters`: the in-place migration needs another master"],
    );
}

#[test]
fn the_preflight_refuses_kubernetes_below_1_19() {
    let lab = Lab::up("single-master", |spec| {
        spec["masters"] = json!(["master0", "master1"]);
        spec["workers"] = json!(["worker0"]);
        spec["kubernetes"]["version"] = json!("1.18");
    });
    // Two masters only to pass the single-master check; their 2-member etcd is accepted so
    // that the version is what the preflight refuses.
    assert_refused(
        &lab,
        &["-e", "accept_etcd_quorum_loss=true"],
        &["kubelet 1.18.20 on master0: rtmig migrates Kubernetes 1.19 and later"],
    );
}

#[test]
fn the_preflight_refuses_what_a_node_lacks() {
    let lab = Lab::up("default", |spec| {
        // A log shipper that tails Docker's JSON logs (FIELD.md 15).
        spec["workloads"].as_array_mut().expect("workloads").push(json!({
            "kind": "DaemonSet", "apiVersion": "apps/v1",
            "metadata": {"name": "log-shipper", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "log-shipper"}},
                     "template": {"metadata": {"labels": {"app": "log-shipper"}},
                                  "spec": {"containers": [{"name": "shipper", "image": "busybox:1.36"}],
                                           "volumes": [{"name": "logs", "hostPath": {"path": "/var/lib/docker/containers"}}]}}}
        }));
        spec["hosts"] = json!({
            "worker0": {"sysctls": {"net.bridge.bridge-nf-call-iptables": 0}},
            "worker1": {"disk_free_mb": 4},
            "worker2": {"containerd_missing": true},
            // kubenet is dockershim's: containerd has no such plugin (FIELD.md 11).
            "master2": {"network_plugin": "kubenet"},
        });
    });
    // One preflight names every node's problem.
    assert_refused(
        &lab,
        &[],
        &[
            "failed: [worker0] Check the kernel modules and sysctls containerd's pods need",
            "stderr: net.bridge.bridge-nf-call-iptables is not 1",
            "[worker1] Refuse a node without room for its images => worker1: ",
            "bytes free under containerd's root",
            "worker2 has no containerd and containerd_install is `none`",
            "these pods mount the Docker socket and will break without Docker: logging/log-agent-",
            "master2: the kubelet runs with --network-plugin=kubenet, a dockershim network plugin that containerd does not have",
            "these pods read Docker's files under /var/lib/docker (container logs) and will see no new logs on containerd: default/log-shipper-",
        ],
    );
    let mut args = ACCEPT.to_vec();
    args.extend([
        "-e",
        "accept_docker_log_readers=true",
        "-e",
        "registry_node=master1",
    ]);
    assert_refused(
        &lab,
        &args,
        &[
            "the registry runs on master0 but registry_node is master1; set registry_node to the node that holds it",
        ],
    );
    // An etcd member that does not answer (frozen: its pod still looks Running): touching
    // any master would leave etcd without quorum. Before the etcd check, the migration
    // went ahead and took a second member down.
    lab.sh("master2", "pkill -STOP -x etcd");
    assert_refused(
        &lab,
        &ACCEPT,
        &[
            "Check etcd has every member healthy",
            "etcd member master2 (http://",
            ":2379) is unhealthy",
        ],
    );
    lab.sh("master2", "pkill -CONT -x etcd");
}

/// What Kubespray's migration guide has the operator do first: etcd moved from Docker to
/// the host (etcd-host.service, same data dir and etcd.env), one member at a time, each
/// healthy again before the next.
fn move_etcd_to_host(lab: &Lab, masters: &[&str]) {
    for master in masters {
        lab.sh(
            master,
            // Kubespray's etcd-host.service, as the lab renders it (lab/sim/render.py)
            "cp /usr/lib/rtmig-lab/etcd-host.service /etc/systemd/system/etcd.service && systemctl daemon-reload && systemctl restart etcd",
        );
        lab.wait_for("etcd healthy", Duration::from_secs(60), || {
            let script = format!(
                "[ $(etcdctl endpoint health --cluster 2>&1 | grep -c 'is healthy') -eq {} ]",
                masters.len()
            );
            lab.exec(masters[0], &script).0 == 0
        });
    }
}

#[test]
fn etcd_in_docker_and_a_docker_run_unit_refused_then_etcd_on_the_host_migrated() {
    // Kubespray's etcd_deployment_type: docker, and a log shipper `docker run` by a unit
    // that Requires= docker.service: both would stop with Docker. Before this check the
    // migration stopped Docker under them.
    let lab = Lab::up("etcd-docker", |_| {});
    assert_refused(
        &lab,
        &[],
        &[
            "[master0] Refuse what would stop with Docker => master0: unit etcd.service (active, enabled) needs Docker and would stop with it.",
            "Move etcd to host mode first, as Kubespray's docs/upgrades/migrate_docker2containerd.md says: set `etcd_deployment_type: host`",
            "[worker0] Refuse what would stop with Docker => worker0: unit log-shipper.service (active, enabled) needs Docker",
        ],
    );
    assert!(
        lab.etcd_history()["maxDown"] == json!(0),
        "the refusal took an etcd member down"
    );
    // What the operator does: etcd moved to the host (Kubespray's etcd-host.service),
    // one member at a time; the log shipper moved off Docker (stopped here).
    move_etcd_to_host(&lab, &["master0", "master1", "master2"]);
    lab.sh("worker0", "systemctl disable --now log-shipper");
    let seen = lab.etcd_history()["events"].as_array().map_or(0, Vec::len);
    let run = lab.rtmig(MIGRATE).args(["--fresh"]).output().expect_code(0);
    assert!(run.stdout().contains("PLAY RECAP"), "{}", run.stdout());
    assert_fully_migrated(&lab);
    // etcd on the host does not depend on the runtime: no member went down during the
    // migration (the moves above restarted each once).
    let history = lab.etcd_history();
    let during = &history["events"].as_array().expect("events")[seen..];
    assert!(
        during.iter().all(|e| e["down"] == json!([])),
        "members down during the migration: {during:?}"
    );
    for master in ["master0", "master1", "master2"] {
        assert_eq!(lab.sh(master, "systemctl is-active etcd").trim(), "active");
    }
    let (_, max_cordoned) = lab.cordon_history();
    assert!(max_cordoned <= 1, "{max_cordoned} masters cordoned at once");
}

/// A nerdctl-full-like tarball of this machine's containerd (bin/, lib/systemd/system/),
/// for the air-gapped install path.
fn containerd_tarball(dir: &std::path::Path) -> std::path::PathBuf {
    let root = dir.join("tree");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("lib/systemd/system")).unwrap();
    for b in ["containerd", "ctr", "containerd-shim-runc-v2"] {
        std::fs::copy(format!("/usr/bin/{b}"), root.join("bin").join(b)).unwrap();
    }
    let unit = std::fs::read_to_string("/lib/systemd/system/containerd.service")
        .expect("containerd.service")
        .replace("/usr/bin/containerd", "/usr/local/bin/containerd")
        .replace("/usr/sbin/containerd", "/usr/local/bin/containerd");
    std::fs::write(root.join("lib/systemd/system/containerd.service"), unit).unwrap();
    let tarball = dir.join("containerd-bundle.tar.gz");
    let ok = std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-czf")
        .arg(&tarball)
        .args(["bin", "lib"])
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar");
    tarball
}

#[test]
fn kubernetes_1_27_with_flags_in_sysconfig_and_containerd_from_a_tarball() {
    // The sandbox image is cri-dockerd's flag, a private registry's; the kubelet's stale
    // --pod-infra-container-image names one these air-gapped nodes never had (FIELD.md 8).
    let lab = Lab::up("k8s-1.27-cgroupfs", |spec| {
        spec["kubernetes"]["cri_dockerd_pause_image"] =
            json!("registry.local:5000/google_containers/pause:3.9");
    });
    let work = tempfile::tempdir().unwrap();
    let tarball = containerd_tarball(work.path());
    let (code, _) = lab.exec("node1", "command -v containerd");
    assert_ne!(code, 0, "node1 should start without containerd");
    // Previewed first: containerd would be pushed and unpacked; nothing is.
    let install = [
        "-e".to_string(),
        "containerd_install=tarball".to_string(),
        "-e".to_string(),
        format!("containerd_tarball={}", tarball.display()),
    ];
    let preview = preview_changes_nothing(&lab, &install);
    assert!(
        task_output(&preview, "node1", "Push the containerd tarball").starts_with("changed: "),
        "{preview}"
    );
    lab.rtmig(MIGRATE)
        .args(["-e", "containerd_install=tarball", "-e"])
        .args([format!("containerd_tarball={}", tarball.display())])
        .output()
        .expect_code(0);
    assert_fully_migrated(&lab);
    assert_eq!(
        lab.sh("node1", "command -v containerd"),
        "/usr/local/bin/containerd\n"
    );
    for h in hosts(&lab) {
        let flags = lab.sh(&h, "cat /etc/sysconfig/kubelet");
        assert!(
            flags.contains("--container-runtime-endpoint=unix:///run/containerd/containerd.sock")
                && !flags.contains("--container-runtime=remote")
                && !flags.contains("cri-dockerd.sock"),
            "{h}: {flags}"
        );
        let config = lab.sh(&h, "cat /etc/containerd/config.toml");
        assert!(config.contains("SystemdCgroup = false"), "{h}: {config}");
        assert!(
            config.contains(r#"sandbox_image = "registry.local:5000/google_containers/pause:3.9""#),
            "{h}: {config}"
        );
        assert!(
            lab.sh(&h, "cat /etc/docker/daemon.json")
                .contains(r#""live-restore": false"#)
        );
    }
}

#[test]
fn kubernetes_1_21_with_flags_in_three_places_and_both_cgroup_drivers() {
    let lab = Lab::up("k8s-1.21-dropin", |spec| {
        // The pod network lives elsewhere than containerd's defaults, named by the
        // kubelet's --cni-bin-dir / --cni-conf-dir (FIELD.md 11).
        spec["kubernetes"]["cni_bin_dir"] = json!("/usr/libexec/cni");
        spec["kubernetes"]["cni_conf_dir"] = json!("/etc/kubernetes/cni/net.d");
        spec["hosts"] = json!({
            "master1": {"kubelet_flags": "kubeadm-flags.env"},
            "worker0": {"kubelet_flags": "sysconfig", "dropin_dir": "/usr/lib/systemd/system"},
            "worker1": {"cgroup_driver": "systemd",
                        "daemon_json": {"exec-opts": ["native.cgroupdriver=systemd"], "log-driver": "json-file"}},
            // kubeadm 1.12-1.20 wrote --cgroup-driver to kubeadm-flags.env: the flag
            // (cgroupfs, as Docker) wins over config.yaml's cgroupDriver (systemd).
            "master2": {"kubelet_flags": "kubeadm-flags.env", "cgroup_driver": "systemd",
                        "cgroup_driver_flag": "cgroupfs"},
        });
    });
    // A Kubespray inventory: its group names, told to the playbook by two variables.
    let kubespray = lab.path("kubespray.yaml");
    let text = std::fs::read_to_string(lab.inventory()).expect("inventory");
    let text = text
        .replace("\n    masters:\n", "\n    kube_control_plane:\n")
        .replace("\n    workers:\n", "\n    kube_node:\n");
    assert!(
        text.contains("kube_control_plane:") && text.contains("kube_node:"),
        "{text}"
    );
    std::fs::write(&kubespray, text).expect("write inventory");
    support::Rtmig::new(&lab.path(""))
        .args(["run", "-i"])
        .args([&kubespray, &support::lab::repo(MIGRATE)])
        .args([
            "-e",
            "rtmig_masters_group=kube_control_plane",
            "-e",
            "rtmig_workers_group=kube_node",
        ])
        .output()
        .expect_code(0);
    assert_fully_migrated(&lab);
    let files = [
        (
            "master0",
            "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        ),
        ("master1", "/var/lib/kubelet/kubeadm-flags.env"),
        ("worker0", "/etc/sysconfig/kubelet"),
    ];
    for (h, f) in files {
        let flags = lab.sh(h, &format!("cat {f}"));
        assert!(
            flags.contains("--container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock"),
            "{h}: {f}: {flags}"
        );
    }
    for (h, systemd) in [("master0", false), ("worker1", true), ("master2", false)] {
        let config = lab.sh(h, "cat /etc/containerd/config.toml");
        assert!(
            config.contains(&format!("SystemdCgroup = {systemd}")),
            "{h}: {config}"
        );
        assert!(
            config.contains(r#"sandbox_image = "k8s.gcr.io/pause:3.4.1""#),
            "{h}: {config}"
        );
        assert!(
            config.contains(r#"bin_dir = "/usr/libexec/cni""#)
                && config.contains(r#"conf_dir = "/etc/kubernetes/cni/net.d""#),
            "{h}: {config}"
        );
    }
}

/// Regression: "Check every image arrived" named `registry:5000/app:1` as
/// `docker.io/registry:5000/app:1` and `localhost/tools:1` as `docker.io/localhost/tools:1`
/// (a first component with a `:` or `localhost` is a registry), failed after the drain and
/// left worker0 cordoned.
///
/// And the images are pre-staged into containerd before the cordon, while the node serves
/// (issue 13: the cordoned window held the whole carry): after the drain nothing is left
/// to carry. The pre-staging is incremental: on worker0, containerd already has web:1.0
/// under a stale record (another image ID) and api:1.0 under its own: web is carried
/// again, api is not.
#[test]
fn images_pre_staged_before_the_cordon_arrive_whatever_their_registry_name() {
    let lab =
        Lab::up("default", |spec| {
            // an image of a real size (the lab's filler), carried like any other
            spec["images"]["size_mb"] = json!({"lab.local/app/web:1.0": 8});
            spec["workloads"].as_array_mut().expect("workloads").push(json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "tools", "namespace": "default", "labels": {"app": "tools"}},
            "spec": {"selector": {"matchLabels": {"app": "tools"}},
                     "template": {"metadata": {"labels": {"app": "tools"}},
                                  "spec": {"containers": [
                                      {"name": "app", "image": "registry:5000/app:1"},
                                      {"name": "tools", "image": "localhost/tools:1"}]}}}
        }));
        });
    lab.sh(
        "worker0",
        "set -e
         docker save lab.local/app/web:1.0 lab.local/app/api:1.0 | ctr -n k8s.io images import - >/dev/null
         mkdir -p /var/backups/rtmig
         printf '%s\\n' 'sha256:0000000000000000000000000000000000000000000000000000000000000000 lab.local/app/web:1.0' \\
           \"$(docker image inspect -f '{{.Id}}' lab.local/app/api:1.0) lab.local/app/api:1.0\" \\
           > /var/backups/rtmig/carried-images",
    );
    let size: u64 = lab
        .sh(
            "worker0",
            "docker image inspect -f '{{.Size}}' lab.local/app/web:1.0",
        )
        .trim()
        .parse()
        .expect("a size");
    assert!(size >= 8 << 20, "web:1.0 is {size} bytes");
    lab.rtmig(MIGRATE).args(ACCEPT).output().expect_code(0);
    assert_fully_migrated(&lab);
    for h in hosts(&lab) {
        let images = containerd_images(&lab, &h);
        for want in ["registry:5000/app:1", "localhost/tools:1"] {
            assert!(images.contains(want), "{h}: no {want} in {images:?}");
        }
    }
    let j = journal(&lab.runs()[0]);
    // (journal line, stdout) of `host`'s task named `task`, whatever play ran it (the
    // registry node's steps are in a later play than the workers' and masters').
    let names = j
        .iter()
        .find(|r| r["t"] == "run")
        .map(|r| r["tasks"].clone())
        .expect("run record");
    let stdout = |host: &str, task: &str| -> (usize, String) {
        j.iter()
            .enumerate()
            .find_map(|(i, r)| {
                let (play, index) = (r["play"].as_u64()?, r["task"].as_u64()?);
                (r["t"] == "done"
                    && r["host"] == host
                    && names[play as usize][index as usize] == task)
                    .then(|| {
                        (
                            i,
                            r["register"][1]["stdout"]
                                .as_str()
                                .unwrap_or("")
                                .to_string(),
                        )
                    })
            })
            .unwrap_or_else(|| panic!("{host}: no `{task}` in the journal"))
    };
    for h in hosts(&lab) {
        let (pre, pre_out) = stdout(
            &h,
            "Pre-stage the images into containerd while the node serves",
        );
        let (cordon, _) = stdout(&h, "Cordon the node");
        assert!(pre < cordon, "{h}: pre-staged after the cordon");
        assert!(pre_out.starts_with("carried "), "{h}: {pre_out}");
        let (_, after) = stdout(
            &h,
            "Carry the images into containerd (streamed, no copy on disk)",
        );
        assert!(
            after.starts_with("nothing to carry"),
            "{h} carried after the drain: {after}"
        );
    }
    let (_, worker0) = stdout(
        "worker0",
        "Pre-stage the images into containerd while the node serves",
    );
    assert!(
        worker0.contains("lab.local/app/web:1.0")
            && !worker0.contains("lab.local/app/api:1.0")
            && worker0.ends_with("; 1 already there"),
        "{worker0}"
    );
}

/// Kubespray's files that migrate.yaml changes on a node, for the rollback check.
const KUBESPRAY_FILES: [&str; 5] = [
    "/etc/kubernetes/kubelet.env",
    "/etc/systemd/system/kubelet.service",
    "/etc/docker/daemon.json",
    "/etc/containerd/config.toml",
    "/etc/crictl.yaml",
];

/// sha256 of each of `files` on `host` ("absent" for a missing one).
fn checksums(lab: &Lab, host: &str, files: &[&str]) -> Vec<String> {
    files
        .iter()
        .map(|f| {
            lab.sh(
                host,
                &format!("sha256sum {f} 2>/dev/null || echo absent {f}"),
            )
        })
        .collect()
}

#[test]
fn kubespray_cluster_with_masters_in_kube_node_migrates_them_one_at_a_time() {
    // node2 and node3 are in kube_control_plane and kube_node; node5's kubelet gets its
    // cgroup driver from the --cgroup-driver flag (systemd), against its config file's.
    let lab = Lab::up("kubespray", |spec| {
        spec["hosts"] =
            json!({"node5": {"cgroup_driver": "cgroupfs", "cgroup_driver_flag": "systemd"}});
        spec["etcd"] = json!({"mode": "docker"});
    });
    let masters = BTreeSet::from(["node1", "node2", "node3"]);
    let before = checksums(&lab, "node2", &KUBESPRAY_FILES);

    // The plan, with Kubespray's group names and no -e: no master in a worker batch.
    let plan = support::Rtmig::new(&lab.path(""))
        .args(["plan", "-i"])
        .args([lab.inventory(), &support::lab::repo(MIGRATE)])
        .output()
        .expect_code(0)
        .stdout();
    let workers_play = plan
        .split("PLAY ")
        .find(|p| p.contains("[Migrate the workers]"))
        .unwrap_or_else(|| panic!("no workers play in the plan:\n{plan}"));
    // The batch lines ("    1. node4") between the play's header and its tasks.
    let batches: String = workers_play
        .split("tasks, in order")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.starts_with("    ") && l.trim_start().starts_with(|c: char| c.is_ascii_digit())
        })
        .collect::<Vec<_>>()
        .join("\n");
    for m in &masters {
        assert!(
            !batches.contains(m),
            "{m} in a worker batch:\n{workers_play}"
        );
    }
    assert!(
        batches.contains("node4") && batches.contains("node5"),
        "{workers_play}"
    );

    // etcd_deployment_type: docker is refused, naming Kubespray's way out; once etcd runs
    // on the host (member by member), the migration goes through without touching it.
    assert_refused(
        &lab,
        &[],
        &[
            "[node1] Refuse what would stop with Docker => node1: unit etcd.service (active, enabled) needs Docker",
            "Move etcd to host mode first, as Kubespray's docs/upgrades/migrate_docker2containerd.md says",
        ],
    );
    move_etcd_to_host(&lab, &["node1", "node2", "node3"]);
    // Previewed: Kubespray's kubelet.env and kubelet.service are among the diffs.
    let preview = preview_changes_nothing(&lab, &[]);
    for (task, file) in [
        (
            "Remove Docker's flags from the kubelet's flag files",
            "+++ after: /etc/kubernetes/kubelet.env",
        ),
        (
            "Make the kubelet's unit want containerd, not Docker",
            "+++ after: /etc/systemd/system/kubelet.service",
        ),
    ] {
        assert!(
            task_output(&preview, "node4", task).contains(file),
            "{task}: {preview}"
        );
    }
    let seen = lab.etcd_history()["events"].as_array().map_or(0, Vec::len);

    lab.rtmig(MIGRATE).args(["--fresh"]).output().expect_code(0);
    assert_fully_migrated(&lab);
    let history = lab.etcd_history();
    let during = &history["events"].as_array().expect("events")[seen..];
    assert!(
        during.iter().all(|e| e["down"] == json!([])),
        "etcd members down during the migration: {during:?}"
    );

    // Never two masters cordoned at once (the API server's record).
    let (events, _) = lab.cordon_history();
    assert!(!events.is_empty());
    for e in &events {
        let cordoned: Vec<&str> = e["cordoned"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let down: Vec<&&str> = cordoned.iter().filter(|n| masters.contains(**n)).collect();
        assert!(down.len() <= 1, "masters cordoned together: {e}");
    }
    // Masters ran in the masters' play (or the registry node's), never in a worker batch.
    let run = lab.runs().last().cloned().expect("a run");
    let records = journal(&run);
    let workers_play_hosts: BTreeSet<&str> = records
        .iter()
        .filter(|r| r["t"] == "done" && r["play"] == 1)
        .filter_map(|r| r["host"].as_str())
        .collect();
    assert_eq!(workers_play_hosts, BTreeSet::from(["node4", "node5"]));
    let masters_play_hosts: BTreeSet<&str> = records
        .iter()
        .filter(|r| r["t"] == "done" && r["play"] == 2)
        .filter_map(|r| r["host"].as_str())
        .collect();
    assert_eq!(masters_play_hosts, BTreeSet::from(["node2", "node3"]));

    for h in hosts(&lab) {
        // The kubelet's unit no longer pulls Docker in; Docker and its socket stay down.
        let unit = lab.sh(&h, "systemctl cat kubelet");
        assert!(!unit.contains("docker.socket"), "{h}: {unit}");
        let (_, active) = lab.exec(&h, "systemctl is-active docker.socket docker");
        assert_eq!(active, "inactive\ninactive\n", "{h}");
        let env = lab.sh(&h, "cat /etc/kubernetes/kubelet.env");
        assert!(
            env.contains("--container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock"),
            "{h}: {env}"
        );
        // The driver the kubelet uses: the config file's, or node5's flag.
        let config = lab.sh(&h, "cat /etc/containerd/config.toml");
        assert!(config.contains("SystemdCgroup = true"), "{h}: {config}");
    }

    // Rollback of node2 restores Kubespray's files byte for byte.
    lab.rtmig(ROLLBACK)
        .args(["--limit", "node2"])
        .output()
        .expect_code(0);
    let runtime = lab.runtimes().into_iter().find(|(n, _)| n == "node2");
    assert!(
        runtime
            .map(|(_, r)| r)
            .unwrap_or_default()
            .starts_with("docker://"),
        "node2 is not back on Docker"
    );
    assert_eq!(checksums(&lab, "node2", &KUBESPRAY_FILES), before);
    assert_eq!(lab.unready_or_cordoned(), Vec::<String>::new());
}

// Kubespray v2.20-v2.22 on Docker: Kubernetes 1.25 through cri-dockerd, whose endpoint is
// in KUBELET_ARGS among the continued lines, and no --pod-infra-container-image there.
#[test]
fn kubespray_1_25_through_cri_dockerd_migrates() {
    let lab = Lab::up("kubespray", |spec| {
        spec["kubernetes"]["version"] = json!("1.25");
        spec["workloads"][0]["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("registry.k8s.io/kube-proxy:v1.25.16");
    });
    lab.rtmig(MIGRATE).output().expect_code(0);
    assert_fully_migrated(&lab);
    for h in hosts(&lab) {
        let env = lab.sh(&h, "cat /etc/kubernetes/kubelet.env");
        assert!(
            env.contains("--container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock")
                && !env.contains("cri-dockerd.sock"),
            "{h}: {env}"
        );
        let (_, active) = lab.exec(&h, "systemctl is-active docker.socket docker cri-docker");
        assert_eq!(active, "inactive\ninactive\ninactive\n", "{h}");
    }
}

/// What a pod asks the runtime for, as the kubelet and CRI resolve it: docker.io/library/
/// for one-word names, `:latest` without a tag, and the digest winning over a tag.
fn normalize_ref(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or_default();
    let (repo, tag) = match last.rfind(':') {
        Some(i) => (&name[..name.len() - last.len() + i], &last[i + 1..]),
        None => (name, "latest"),
    };
    let repo = normalize(repo);
    match digest {
        Some(d) => format!("{repo}@{d}"),
        None => format!("{repo}:{tag}"),
    }
}

/// Pods as (namespace/name, node, image of each container).
fn pod_images(lab: &Lab) -> Vec<(String, String, String)> {
    lab.kubectl(&[
        "get",
        "pods",
        "-A",
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.spec.nodeName}{range .spec.containers[*]} {.image}{end}{"\n"}{end}"#,
    ])
    .lines()
    .flat_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.iter()
            .skip(2)
            .map(|i| (w[0].to_string(), w[1].to_string(), i.to_string()))
            .collect::<Vec<_>>()
    })
    .collect()
}

#[test]
fn an_air_gapped_cluster_with_a_private_registry_and_digest_pinned_pods_migrates() {
    // registry:5000 (a port, no dot), plain HTTP, insecure and a mirror in daemon.json;
    // pods pinned as name@sha256 and name:tag@sha256 with the registry's digests, one
    // without a tag; worker1 pulled its app image by digest only (untagged in Docker).
    let lab = Lab::up("airgap-registry", |_| {});
    let pods_before = pod_images(&lab);
    let pinned: Vec<&(String, String, String)> = pods_before
        .iter()
        .filter(|(_, _, i)| i.contains("@sha256:"))
        .collect();
    assert!(
        pinned
            .iter()
            .any(|(_, _, i)| i.starts_with("registry:5000/team/app@sha256:"))
            && pinned
                .iter()
                .any(|(_, _, i)| i.starts_with("registry:5000/team/api:2.0@sha256:")),
        "{pods_before:?}"
    );
    let untagged = lab.sh(
        "worker1",
        "docker images --digests | awk '$1 == \"registry:5000/team/app\" {print $2, $3}'",
    );
    assert!(untagged.starts_with("<none> sha256:"), "{untagged}");
    // Previewed: the registry's hosts.toml for each node.
    let preview = preview_changes_nothing(&lab, &[]);
    assert!(
        task_output(
            &preview,
            "worker1",
            "Write containerd's hosts.toml for each registry"
        )
        .contains("+++ after: /etc/containerd/certs.d/registry:5000/hosts.toml"),
        "{preview}"
    );
    // What each node's Docker resolves by tag or by digest, as containerd names it.
    let docker_refs = |h: &str| -> BTreeSet<String> {
        lab.sh(
            h,
            "docker images --digests --format '{{.Repository}} {{.Tag}} {{.Digest}}'",
        )
        .lines()
        .flat_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let mut out = vec![];
            if w.len() == 3 && w[1] != "<none>" {
                out.push(normalize_ref(&format!("{}:{}", w[0], w[1])));
            }
            if w.len() == 3 && w[2] != "<none>" {
                out.push(normalize_ref(&format!("{}@{}", w[0], w[2])));
            }
            out
        })
        .collect()
    };
    let before: BTreeMap<String, BTreeSet<String>> = hosts(&lab)
        .iter()
        .map(|h| (h.clone(), docker_refs(h)))
        .collect();

    lab.rtmig(MIGRATE).output().expect_code(0);
    assert_fully_migrated(&lab);

    // Nothing lost: every name Docker resolved, tags and registry digests, containerd does.
    for (h, refs) in &before {
        let have = containerd_images(&lab, h);
        let lost: Vec<&String> = refs.iter().filter(|r| !have.contains(*r)).collect();
        assert!(lost.is_empty(), "{h}: not in containerd: {lost:?}");
    }
    // Every pod runs (and is Ready) from what its reference resolves to on its node.
    let not_ready = lab.kubectl(&[
        "get",
        "pods",
        "-A",
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#,
    ]);
    assert!(
        not_ready.lines().all(|l| l.ends_with(" True")),
        "{not_ready}"
    );
    for (pod, node, image) in pod_images(&lab) {
        assert!(
            containerd_images(&lab, &node).contains(&normalize_ref(&image)),
            "{pod} on {node}: {image} not in containerd"
        );
    }
    // Docker's registry settings became hosts.toml files under config_path.
    let config = lab.sh("worker0", "cat /etc/containerd/config.toml");
    assert!(
        config.contains(r#"config_path = "/etc/containerd/certs.d""#),
        "{config}"
    );
    let insecure = lab.sh(
        "worker0",
        "cat '/etc/containerd/certs.d/registry:5000/hosts.toml'",
    );
    assert!(
        insecure.contains(r#"[host."http://registry:5000"]"#),
        "{insecure}"
    );
    let mirror = lab.sh(
        "worker0",
        "cat /etc/containerd/certs.d/docker.io/hosts.toml",
    );
    assert!(
        mirror.contains(r#"server = "https://registry-1.docker.io""#)
            && mirror.contains(r#"[host."http://registry:5000"]"#),
        "{mirror}"
    );
    // A pull through the registry works on containerd with those files, and fails as
    // containerd's does without them (plain HTTP to an HTTPS client).
    let (code, _) = lab.exec(
        "worker0",
        "ctr -n k8s.io images pull registry:5000/team/api:2.0 2>&1 | grep -q 'server gave HTTP response to HTTPS client'",
    );
    assert_eq!(code, 0, "a pull without hosts.toml should fail over HTTPS");
    let pulled = lab.sh(
        "worker0",
        "ctr -n k8s.io images rm registry:5000/team/api:2.0 && ctr -n k8s.io images pull --hosts-dir /etc/containerd/certs.d registry:5000/team/api:2.0 2>&1",
    );
    assert!(!pulled.contains("failed to decode hosts.toml"), "{pulled}");
}

#[test]
fn a_tls_registry_trusted_through_docker_certs_d_stays_trusted_on_containerd() {
    // registry:5000 over TLS with a CA the lab made, trusted through
    // /etc/docker/certs.d/registry:5000/ca.crt only: neither insecure nor a mirror.
    let lab = Lab::up("airgap-registry", |spec| {
        spec["registry"]["tls"] = json!(true);
        spec["docker"]["daemon_json"] =
            json!({"exec-opts": ["native.cgroupdriver=systemd"], "log-driver": "json-file"});
    });
    lab.rtmig(MIGRATE).output().expect_code(0);
    assert_fully_migrated(&lab);
    let dir = "/etc/containerd/certs.d/registry:5000";
    let hosts = lab.sh("worker0", &format!("cat {dir}/hosts.toml"));
    assert!(
        hosts.contains(&format!(r#"ca = ["{dir}/ca.crt"]"#))
            && hosts.contains(r#"[host."https://registry:5000"]"#)
            && !hosts.contains("skip_verify")
            && !hosts.contains("http://"),
        "{hosts}"
    );
    lab.sh(
        "worker0",
        &format!("cmp /etc/docker/certs.d/registry:5000/ca.crt {dir}/ca.crt"),
    );
    // Without the CA containerd refuses the registry's certificate; with hosts.toml it pulls.
    let (code, out) = lab.exec(
        "worker0",
        "ctr -n k8s.io images pull registry:5000/team/api:2.0 2>&1",
    );
    assert!(
        code != 0 && out.contains("x509: certificate signed by unknown authority"),
        "{out}"
    );
    let pulled = lab.sh(
        "worker0",
        "ctr -n k8s.io images rm registry:5000/team/api:2.0 && ctr -n k8s.io images pull --hosts-dir /etc/containerd/certs.d registry:5000/team/api:2.0 2>&1",
    );
    assert!(!pulled.contains("failed to decode hosts.toml"), "{pulled}");
}

/// The hosts each play started with, from a run's journal (by play index).
fn play_hosts(records: &[Value]) -> BTreeMap<u64, Vec<String>> {
    records
        .iter()
        .filter(|r| r["t"] == "play_started")
        .filter_map(|r| {
            Some((
                r["play"].as_u64()?,
                serde_json::from_value(r["hosts"].clone()).ok()?,
            ))
        })
        .collect()
}

// Guards: without `registry_node` the registry node was taken to be the first master,
// so on a TKEStack cluster whose tke-registry-api runs on master1, master1 went down
// in the masters' play while others still pulled from it, and master0 went last with
// no registry on it.
#[test]
fn tkestack_registry_node_is_found_saved_to_another_master_and_migrated_last() {
    let lab = Lab::up("tkestack", |_| {});
    let inventory = std::fs::read_to_string(lab.inventory()).unwrap();
    assert!(!inventory.contains("registry_node"), "{inventory}");
    let registry_images = docker_images(&lab, "master1");
    let out = lab.rtmig(MIGRATE).output().expect_code(0).stdout();
    assert!(
        out.contains("registry: master1 (found: tke-registry-api pods in namespace tke): migrated last, its images saved to master0 first"),
        "{out}"
    );
    assert_fully_migrated(&lab);

    // master1 is cordoned only after every other node was done (and uncordoned).
    let (events, max_cordoned) = lab.cordon_history();
    assert_eq!(max_cordoned, 1, "{events:?}");
    let first = events
        .iter()
        .position(|e| e["node"] == "master1")
        .expect("master1 was cordoned");
    let before: BTreeSet<&str> = events[..first]
        .iter()
        .filter_map(|e| e["node"].as_str())
        .collect();
    assert_eq!(
        before,
        BTreeSet::from(["master0", "master2", "worker0", "worker1"]),
        "{events:?}"
    );
    assert_eq!(events[first]["cordoned"], json!(["master1"]));
    assert!(
        events[first..].iter().all(|e| e["node"] == "master1"),
        "{events:?}"
    );

    // Its images were saved, copied to master0 intact, and imported there.
    let sum = "sha256sum < /var/backups/rtmig/registry-images.tar";
    assert_eq!(lab.sh("master0", sum), lab.sh("master1", sum));
    let on_master0 = containerd_images(&lab, "master0");
    let missing: Vec<&String> = registry_images.difference(&on_master0).collect();
    assert!(missing.is_empty(), "not imported on master0: {missing:?}");
    assert!(on_master0.contains("lab.local/tke/tke-registry-api:v1.9.2"));

    let records = journal(lab.runs().last().expect("a run"));
    let started = play_hosts(&records);
    assert_eq!(
        started.get(&3),
        Some(&vec!["master0".to_string()]),
        "{started:?}"
    );
    assert_eq!(
        started.get(&4),
        Some(&vec!["master1".to_string()]),
        "{started:?}"
    );
    assert!(!started[&2].contains(&"master1".to_string()), "{started:?}");
}

// Guards: with no registry anywhere and none named, the first master was taken for
// the registry node: its images were saved and copied for nothing, it went last, and
// the wait for "the registry's pods" had none to wait for.
#[test]
fn a_cluster_without_a_registry_has_no_registry_step() {
    let lab = Lab::up("tkestack", |spec| {
        spec["masters"] = json!(["master0", "master1"]);
        spec["workers"] = json!(["worker0"]);
        spec["registry_node"] = json!("master0");
        spec["images"] = json!({});
        let workloads = spec["workloads"].as_array_mut().unwrap();
        workloads.retain(|w| w["metadata"]["name"] != "tke-registry-api");
    });
    // Two stacked etcd members: one stopped with Docker is no quorum, the API down. Refused
    // (the registry pod and the merge of real etcd found it: the run waited on a dead API),
    // then accepted.
    let refused = lab.rtmig(MIGRATE).output().expect_code(2).stdout();
    assert!(
        refused.contains("master0: etcd has 2 members; migrating this master stops its member")
            && refused.contains("-e accept_etcd_quorum_loss=true"),
        "{refused}"
    );
    assert!(
        lab.cordon_history().0.is_empty(),
        "the preflight cordoned a node"
    );
    let out = lab
        .rtmig(MIGRATE)
        .args(["--fresh", "-e", "accept_etcd_quorum_loss=true"])
        .output()
        .expect_code(0)
        .stdout();
    assert!(
        out.contains("registry: none found (no tke-registry-api pod in namespace tke, no pod matching app=registry) and registry_node is not set: no registry step"),
        "{out}"
    );
    assert_fully_migrated(&lab);
    let records = journal(lab.runs().last().expect("a run"));
    let started = play_hosts(&records);
    assert_eq!(
        started.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2],
        "a registry play ran: {started:?}"
    );
    for host in ["master0", "master1"] {
        assert_eq!(
            lab.exec(host, "test -e /var/backups/rtmig/registry-images.tar")
                .0,
            1,
            "{host} has a registry image backup"
        );
    }
}

/// Every dockershim-era flag the 1.24 kubelet no longer has.
const DOCKERSHIM_FLAGS: [&str; 8] = [
    "--network-plugin",
    "--cni-bin-dir",
    "--cni-conf-dir",
    "--cni-cache-dir",
    "--network-plugin-mtu",
    "--docker-endpoint",
    "--image-pull-progress-deadline",
    "--experimental-dockershim-root-directory",
];

/// Wait until every node runs kubelet `version` (so the new kubelet posted its status),
/// Ready on containerd, and every pod is Running and Ready.
fn assert_ready_at(lab: &Lab, version: &str) {
    let nodes = || {
        lab.kubectl(&[
            "get",
            "nodes",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status} {.status.nodeInfo.containerRuntimeVersion}{"\n"}{end}"#,
        ])
    };
    let want = format!(" v{version} True containerd://");
    let ok = lab.try_wait_for(Duration::from_secs(90), || {
        nodes().lines().all(|l| l.contains(&want))
    });
    let journal = lab.exec("master1", "journalctl -u kubelet -n 5").1;
    assert!(
        ok,
        "not every node Ready at {version}:\n{}\nmaster1: {journal}",
        nodes()
    );
    let pods_ready = || {
        lab.kubectl(&[
            "get",
            "pods",
            "-A",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#,
        ])
    };
    let ok = lab.try_wait_for(Duration::from_secs(60), || {
        pods_ready().lines().all(|l| l.ends_with(" Running True"))
    });
    assert!(ok, "pods not Ready at {version}:\n{}", pods_ready());
}

// Before the flags were cleaned, a migrated 1.23 node kept --network-plugin=cni (and the
// other dockershim flags) and its kubelet exited at 1.24 with `unknown flag:
// --network-plugin`, with kubeadm's upgrade as without it.
#[test]
fn a_1_23_cluster_migrated_then_upgraded_to_1_24_and_1_27_is_ready_each_time() {
    let lab = Lab::up("k8s-1.23-upgrade", |_| {});
    // The endpoint where kubeadm keeps it too (1.27+ config, 1.34's instance-config.yaml):
    // a fixture, since the lab's kubelets stop at 1.28.
    lab.sh(
        "worker1",
        "echo 'containerRuntimeEndpoint: unix:///var/run/dockershim.sock' >> /var/lib/kubelet/config.yaml; \
         printf 'apiVersion: kubelet.config.k8s.io/v1beta1\\nkind: KubeletConfiguration\\ncontainerRuntimeEndpoint: \"unix:///var/run/cri-dockerd.sock\"\\n' > /var/lib/kubelet/instance-config.yaml",
    );
    let files = [
        ("master0", "/var/lib/kubelet/kubeadm-flags.env"),
        (
            "master1",
            "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        ),
        ("worker0", "/etc/sysconfig/kubelet"),
        ("worker1", "/var/lib/kubelet/kubeadm-flags.env"),
        ("master2", "/var/lib/kubelet/kubeadm-flags.env"),
    ];
    let before: Vec<String> = files
        .iter()
        .map(|(h, f)| lab.sh(h, &format!("cat {f}")))
        .collect();
    assert!(
        before.iter().all(|f| f.contains("--network-plugin=cni")),
        "{before:?}"
    );

    let run = lab.rtmig(MIGRATE).output().expect_code(0);
    assert_fully_migrated(&lab);
    for (h, f) in files {
        let text = lab.sh(h, &format!("cat {f}"));
        for flag in DOCKERSHIM_FLAGS {
            assert!(!text.contains(flag), "{h}: {f} still has {flag}:\n{text}");
        }
        assert!(
            text.contains("--container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock"),
            "{h}: {f}:\n{text}"
        );
        // 1.23 still pins the pause image for the image GC with it
        assert!(
            text.contains("--pod-infra-container-image=registry.k8s.io/pause:3.6"),
            "{h}: {text}"
        );
    }
    // Other flags are kept as they were.
    assert!(
        lab.sh("worker0", "cat /etc/sysconfig/kubelet")
            .contains("--node-labels=lab.rtmig.io/kept=yes"),
    );
    let config = lab.sh(
        "worker1",
        "cat /var/lib/kubelet/config.yaml /var/lib/kubelet/instance-config.yaml",
    );
    assert_eq!(
        config
            .matches("containerRuntimeEndpoint: unix:///run/containerd/containerd.sock")
            .count(),
        2,
        "{config}"
    );
    assert!(
        !config.contains("dockershim.sock") && !config.contains("cri-dockerd"),
        "{config}"
    );
    // The kubelet's upgrade to 1.27 needs --container-runtime gone: said for the nodes whose
    // flags kubeadm does not rewrite.
    let out = run.stdout();
    for (h, f) in [("master1", files[1].1), ("worker0", files[2].1)] {
        assert!(
            out.contains(&format!("{h}: {f} keeps --container-runtime=remote")),
            "{out}"
        );
    }
    assert!(
        !out.contains("master0: /var/lib/kubelet/kubeadm-flags.env keeps"),
        "{out}"
    );

    // 1.24 by the package alone (no kubeadm): Ready.
    for (h, _) in files {
        lab.upgrade_kubelet(h, "1.24", false);
    }
    assert_ready_at(&lab, "1.24.17");

    // 1.27: through kubeadm where the flags are kubeadm's (its 1.26 upgrade drops
    // --container-runtime); elsewhere as the migration said.
    for (h, f) in files {
        if f.ends_with("kubeadm-flags.env") {
            lab.upgrade_kubelet(h, "1.27", true);
        } else {
            lab.sh(h, &format!("sed -i 's/--container-runtime=remote //' {f}"));
            if h == "master1" {
                lab.sh(h, "systemctl daemon-reload");
            }
            lab.upgrade_kubelet(h, "1.27", false);
        }
    }
    assert_ready_at(&lab, "1.27.16");
    assert!(
        !lab.sh("master0", "cat /var/lib/kubelet/kubeadm-flags.env")
            .contains("--container-runtime="),
    );
}

// Before, the node was done once its pods were Running: a pod in CrashLoopBackOff on
// containerd is Running, so the batch went on and the next nodes were migrated too.
#[test]
fn a_pod_that_crashes_on_containerd_stops_the_batch_named() {
    let lab = Lab::up("k8s-1.23-upgrade", |spec| {
        spec["workloads"].as_array_mut().expect("workloads").push(json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "needs-docker", "namespace": "monitoring"},
            "spec": {"selector": {"matchLabels": {"app": "needs-docker"}},
                     "template": {"metadata": {"labels": {"app": "needs-docker"},
                                               "annotations": {"lab.rtmig.io/crash-on": "containerd"}},
                                  "spec": {"containers": [{"name": "agent", "image": "lab.local/app/web:1.0"}]}}}
        }));
    });
    let pod = lab.kubectl(&[
        "-n",
        "monitoring",
        "get",
        "pods",
        "--field-selector",
        "spec.nodeName=worker0",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    assert!(pod.starts_with("needs-docker-"), "{pod}");

    let run = lab.rtmig(MIGRATE).output().expect_code(2);
    let out = run.stdout();
    assert!(
        out.contains(&format!(
            "worker0: pods not Ready on containerd: monitoring/{pod}: agent CrashLoopBackOff (restarted "
        )),
        "{out}"
    );
    assert!(
        out.contains("worker0 is left on containerd, Ready, cordoned and drained"),
        "{out}"
    );
    assert!(!out.contains("PLAY [Migrate the masters"), "{out}");
    // kubectl's own view of that pod, as an operator sees it
    let table = lab.kubectl(&["-n", "monitoring", "get", "pod", &pod, "--no-headers"]);
    let cols: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(&cols[1..3], ["0/1", "CrashLoopBackOff"], "{table}");
    assert!(cols[3].parse::<u32>().unwrap_or(0) >= 1, "{table}");
    let phase = lab.kubectl(&[
        "-n",
        "monitoring",
        "get",
        "pod",
        &pod,
        "-o",
        "jsonpath={.status.phase}",
    ]);
    assert_eq!(phase, "Running");
    // worker0 as said; nothing else touched
    let (events, _) = lab.cordon_history();
    let touched: BTreeSet<&str> = events.iter().filter_map(|e| e["node"].as_str()).collect();
    assert_eq!(touched, BTreeSet::from(["worker0"]), "{events:?}");
    for (node, runtime) in lab.runtimes() {
        let want = if node == "worker0" {
            "containerd://"
        } else {
            "docker://"
        };
        assert!(runtime.starts_with(want), "{node} runs {runtime}");
    }
    assert_eq!(
        lab.unready_or_cordoned(),
        vec!["worker0 True true".to_string()]
    );
}

/// `containerd --version` on `host` answers `version` (a wrapper in /usr/local/bin, first
/// on PATH; the unit still runs the real one): the lab has only containerd 1.6.20.
fn fake_containerd_version(lab: &Lab, host: &str, version: &str) {
    lab.sh(
        host,
        &format!(
            "printf '#!/bin/sh\\n[ \"$1\" = --version ] && {{ echo \"containerd github.com/containerd/containerd/v2 v{version} 0123abcd\"; exit 0; }}\\nexec /usr/bin/containerd \"$@\"\\n' > /usr/local/bin/containerd && chmod +x /usr/local/bin/containerd"
        ),
    );
    assert!(lab.sh(host, "containerd --version").contains(version));
}

// Before, any containerd went: a 1.27 kubelet then met a containerd without CRI v1 (or a
// 1.21 one a containerd 2 without v1alpha2) only after Docker was stopped.
#[test]
fn the_preflight_refuses_a_containerd_that_does_not_suit_the_kubelet() {
    let lab = Lab::up("k8s-1.21-dropin", |_| {});
    fake_containerd_version(&lab, "worker1", "2.0.4");
    assert_refused(
        &lab,
        &[],
        &[
            "worker1: containerd 2.0.4 does not suit kubelet 1.21.14: containerd 2.x has no CRI v1alpha2, which kubelets below 1.23 need",
        ],
    );
    drop(lab);
    let lab = Lab::up("k8s-1.27-cgroupfs", |_| {});
    fake_containerd_version(&lab, "node0", "1.6.14");
    assert_refused(
        &lab,
        &[],
        &[
            "node0: containerd 1.6.14 does not suit kubelet 1.27.16: Kubernetes 1.26 and later need CRI v1 (containerd 1.6.15 or later, 1.7, 2.x)",
        ],
    );
}

/// worker1's pods, each as `namespace/name phase ready podIP`.
fn pods_on(lab: &Lab, node: &str) -> Vec<String> {
    lab.kubectl(&[
        "get",
        "pods",
        "-A",
        "--field-selector",
        &format!("spec.nodeName={node}"),
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.status.phase} {.status.conditions[?(@.type=="Ready")].status} {.status.podIP}{"\n"}{end}"#,
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

/// FIELD 18: what Docker leaves in a node's network. Sandboxes that died with Docker
/// (the DaemonSet pods, which the drain leaves, and older leaks) keep their host-local IPs
/// reserved: with the range full, the node's pods never get a sandbox on containerd. And
/// Docker's iptables chains and docker0 stay behind it. Failed before the release step
/// (`-e release_leaked_pod_ips=false`: exit 2, six pods ContainerCreating with "no IP
/// addresses available in range set").
#[test]
fn leaked_pod_ips_and_dockers_iptables_rules_do_not_outlive_docker() {
    let lab = Lab::up("default", |spec| {
        spec["docker"]["iptables"] = json!(true);
        spec["kubernetes"]["pod_ips_per_node"] = json!(12);
        // more DaemonSet pods (left by the drain) than the node's other pods
        for n in ["a", "b", "c"] {
            spec["workloads"].as_array_mut().expect("workloads").push(json!({
                "apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": format!("node-agent-{n}"), "namespace": "default"},
                "spec": {"selector": {"matchLabels": {"app": format!("node-agent-{n}")}},
                         "template": {"metadata": {"labels": {"app": format!("node-agent-{n}")}},
                                      "spec": {"containers": [{"name": "agent", "image": "lab.local/app/web:1.0"}]}}}
            }));
        }
    });
    let net = "/var/lib/cni/networks/lab";
    assert!(
        lab.sh("worker1", "iptables-save | grep -c '^:DOCKER'")
            .trim()
            .parse::<u32>()
            .unwrap_or(0)
            >= 4
    );
    assert_eq!(
        lab.sh("worker1", "ip link show docker0 >/dev/null && echo yes")
            .trim(),
        "yes"
    );
    // every free IP of worker1's range held by a sandbox that died long ago
    let full = lab.sh(
        "worker1",
        &format!(
            r#"d={net}; p=$(ls $d | grep '^10\.' | head -1 | cut -d. -f1-3); for i in $(seq 2 13); do [ -e $d/$p.$i ] || printf '%064d\r\neth0' $i > $d/$p.$i; done; ls $d | grep -c '^10\.'"#
        ),
    );
    assert_eq!(full.trim(), "12");
    let before = pods_on(&lab, "worker1");
    assert!(
        before.iter().all(|p| p.contains(" Running True 10.244.")),
        "{before:?}"
    );

    lab.rtmig(MIGRATE)
        .args(ACCEPT)
        .args(["--limit", "worker1"])
        .output()
        .expect_code(0);
    let on_containerd = pods_on(&lab, "worker1");
    assert!(
        on_containerd.len() >= 6
            && on_containerd
                .iter()
                .all(|p| p.contains(" Running True 10.244.")),
        "{on_containerd:?}"
    );
    assert!(lab.unready_or_cordoned().is_empty());
    // the leaked reservations gone: one IP file per pod now
    assert_eq!(
        lab.sh(
            "worker1",
            &format!("grep -l '^0000' {net}/10.* | wc -l; ls {net} | grep -c '^10\\.'")
        )
        .trim(),
        format!("0\n{}", on_containerd.len())
    );
    // Docker's rules and bridge gone, saved first
    assert_eq!(
        lab.sh(
            "worker1",
            "iptables-save | grep -c -i docker; ip link show docker0 2>/dev/null | wc -l"
        )
        .trim(),
        "0\n0"
    );
    assert!(
        lab.sh("worker1", "cat /var/backups/rtmig/iptables-docker.rules")
            .contains(":DOCKER-USER")
    );

    // back on Docker: Docker makes its rules again, containerd's reservations released
    lab.rtmig(ROLLBACK)
        .args(["--limit", "worker1"])
        .output()
        .expect_code(0);
    let on_docker = pods_on(&lab, "worker1");
    assert!(
        on_docker.len() == on_containerd.len()
            && on_docker
                .iter()
                .all(|p| p.contains(" Running True 10.244.")),
        "{on_docker:?}"
    );
    assert_eq!(
        lab.sh("worker1", &format!("ls {net} | grep -c '^10\\.'"))
            .trim(),
        on_docker.len().to_string()
    );
    assert!(
        lab.sh("worker1", "iptables-save | grep -c '^:DOCKER'")
            .trim()
            .parse::<u32>()
            .unwrap_or(0)
            >= 4
    );
    for (node, runtime) in lab.runtimes() {
        assert!(runtime.starts_with("docker://"), "{node} runs {runtime}");
    }
}

/// What a preview must leave as it was on a host: the files the migration edits, the
/// services, the backups, containerd's images, Docker's rules, the pod IP reservations.
fn node_state(lab: &Lab, host: &str) -> String {
    lab.sh(
        host,
        "sha256sum /etc/containerd/config.toml /var/lib/kubelet/kubeadm-flags.env /etc/crictl.yaml \
           /etc/docker/daemon.json /etc/systemd/system/kubelet.service.d/* /lib/systemd/system/kubelet.service \
           /usr/lib/systemd/system/kubelet.service.d/* /etc/systemd/system/kubelet.service \
           /etc/sysconfig/kubelet /etc/default/kubelet /etc/kubernetes/kubelet.env \
           /etc/kubernetes/kubelet-config.yaml /var/lib/kubelet/config.yaml 2>&1
         command -v containerd
         for u in kubelet docker docker.socket containerd; do
           echo \"$u $(systemctl is-active $u) $(systemctl is-enabled $u)\"
         done
         ls -R /var/backups/rtmig 2>&1 | head -n 5
         echo \"images $(ctr -n k8s.io images ls -q | sort | sha256sum)\"
         echo \"containers $(ctr -n k8s.io containers ls -q | wc -l)\"
         echo \"live-restore $(docker info --format '{{.LiveRestoreEnabled}}')\"
         echo \"docker rules $(iptables-save 2>/dev/null | grep -c DOCKER)\"
         echo \"pod ips $(ls /var/lib/cni/networks/* 2>/dev/null | wc -l)\"",
    )
}

/// `--check --diff` with `args` on this lab: exit 0, and nothing on any node changed (see
/// [`node_state`]), no node cordoned, every node on the runtime it had. The console output.
fn preview_changes_nothing(lab: &Lab, args: &[String]) -> String {
    let nodes = hosts(lab);
    let before: Vec<String> = nodes.iter().map(|h| node_state(lab, h)).collect();
    let (cordons, _) = lab.cordon_history();
    let runtimes = lab.runtimes();
    let text = lab
        .rtmig(MIGRATE)
        .args(["--check", "--diff"])
        .args(args)
        .output()
        .expect_code(0)
        .stdout();
    let after: Vec<String> = nodes.iter().map(|h| node_state(lab, h)).collect();
    for ((h, b), a) in nodes.iter().zip(&before).zip(&after) {
        assert_eq!(b, a, "{h} changed under --check:\n{text}");
    }
    assert_eq!(lab.runtimes(), runtimes);
    assert_eq!(
        lab.cordon_history().0.len(),
        cordons.len(),
        "a node was cordoned under --check"
    );
    text
}

/// The console's lines for one host's task: its result line and what follows it (a diff,
/// a message) up to the next result line.
fn task_output(out: &str, host: &str, task: &str) -> String {
    let mut found = String::new();
    let mut inside = false;
    for line in out.lines() {
        let result_line = [
            "ok: [",
            "changed: [",
            "skipping: [",
            "failed: [",
            "fatal: [",
            "ignored: [",
        ]
        .iter()
        .any(|p| line.starts_with(p));
        if result_line || line.starts_with("PLAY") || line.starts_with("  batch") {
            inside = result_line && line.contains(&format!("[{host}] ")) && line.contains(task);
        }
        if inside {
            found.push_str(line);
            found.push('\n');
        }
    }
    found
}

/// `--check --diff` previews the whole migration on the live cluster, node by node: each
/// file that would change as a diff, each service that would stop or start; nothing on
/// any node changes (no cordon, no backup, no service, no image, no file).
#[test]
fn check_diff_previews_the_whole_migration_and_changes_nothing() {
    // (The default lab's Docker runs with live-restore.)
    let lab = Lab::up("default", |_| {});
    let nodes = hosts(&lab);
    // -v: what the steps that run under --check would do (the images they would carry)
    let mut args: Vec<String> = ACCEPT.iter().map(|a| a.to_string()).collect();
    args.push("-v".into());
    let text = preview_changes_nothing(&lab, &args);
    for h in &nodes {
        for (task, shows) in [
            (
                "Write containerd's config.toml",
                "+++ after: /etc/containerd/config.toml",
            ),
            ("Write /etc/crictl.yaml", "+++ after: /etc/crictl.yaml"),
            (
                "Pre-stage the images into containerd while the node serves",
                "would carry ",
            ),
            ("Turn docker live-restore off", "+  \"live-restore\": false"),
            (
                "Reload Docker without live-restore",
                "+ActiveState=active (reloaded)",
            ),
            (
                "Point the kubelet at containerd",
                "--container-runtime-endpoint=unix:///run/containerd/containerd.sock",
            ),
            (
                "Remove Docker's flags from the kubelet's flag files",
                "-KUBELET_KUBEADM_ARGS=\"--network-plugin=cni",
            ),
            // services: the state each would reach
            ("Stop the kubelet", "+ActiveState=inactive"),
            ("Stop and disable docker", "+++ after: unit docker.socket"),
            ("Stop and disable docker", "+UnitFileState=disabled"),
            (
                "Enable and restart containerd",
                "+ActiveState=active (restarted)",
            ),
            ("Start the kubelet", "+ActiveState=active (restarted)"),
        ] {
            let got = task_output(&text, h, task);
            assert!(
                got.starts_with("changed: ") && got.contains(shows),
                "{h}: {task}: wanted a change showing {shows:?}, got:\n{got}\n--- whole output:\n{text}"
            );
        }
        let cordon = task_output(&text, h, "Cordon the node");
        assert!(cordon.starts_with("skipping: "), "{h}: {cordon}");
    }
    assert_eq!(lab.unready_or_cordoned(), Vec::<String>::new());
}

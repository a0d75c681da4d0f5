//! The plan: serial, order, tags, start-at, skipped plays and the printed form.

use std::path::Path;

use super::*;
use crate::parse::playbook::parse_str;

fn names(n: usize, prefix: &str) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

fn sizes(batches: &[Vec<String>]) -> Vec<usize> {
    batches.iter().map(Vec::len).collect()
}

fn cluster() -> StaticHosts {
    let masters = vec!["master0".to_string(), "master1".into(), "master2".into()];
    let workers = names(5, "worker");
    StaticHosts {
        hosts: masters.iter().chain(&workers).cloned().collect(),
        groups: vec![("masters".into(), masters), ("workers".into(), workers)],
    }
}

fn playbook(text: &str) -> Playbook {
    parse_str(Path::new("site.yaml"), text).unwrap_or_else(|e| panic!("{e}"))
}

fn plan(text: &str, opts: &PlanOptions) -> Plan {
    build(&playbook(text), &cluster(), opts).unwrap_or_else(|e| panic!("{e}"))
}

fn task_names(play: &PlayPlan) -> Vec<&str> {
    play.tasks.iter().map(|t| t.name.as_str()).collect()
}

// serial, as Ansible documents it (playbooks_strategies.html, "Setting the batch size").

#[test]
fn serial_count_cuts_equal_batches_and_a_remainder() {
    assert_eq!(
        sizes(&serialize(&names(7, "h"), &[Size::Count(3)])),
        [3, 3, 1]
    );
}

#[test]
fn serial_percentage_of_ten_hosts() {
    // 30% of 10 hosts is 3 per batch.
    assert_eq!(
        sizes(&serialize(&names(10, "h"), &[Size::Percent(30)])),
        [3, 3, 3, 1]
    );
}

#[test]
fn serial_percentage_rounds_down_but_takes_at_least_one() {
    // 30% of 3 hosts is 0.9: Ansible's pct_to_int gives 0, then its minimum of 1.
    assert_eq!(
        sizes(&serialize(&names(3, "h"), &[Size::Percent(30)])),
        [1, 1, 1]
    );
    assert_eq!(
        sizes(&serialize(&names(3, "h"), &[Size::Percent(0)])),
        [1, 1, 1]
    );
}

#[test]
fn serial_ramp_repeats_its_last_value() {
    // `serial: [1, 5, 10]` on 30 hosts: 1, then 5, then 10 until none are left.
    assert_eq!(
        sizes(&serialize(
            &names(30, "h"),
            &[Size::Count(1), Size::Count(5), Size::Count(10)]
        )),
        [1, 5, 10, 10, 4]
    );
    // The migration's default ramp on 20 workers.
    let ramp = [
        Size::Count(1),
        Size::Count(2),
        Size::Count(4),
        Size::Count(8),
    ];
    assert_eq!(sizes(&serialize(&names(20, "w"), &ramp)), [1, 2, 4, 8, 5]);
}

#[test]
fn serial_percentage_ramp_ends_with_everything_left() {
    // `serial: ["10%", "20%", "100%"]` on 20 hosts: 2, 4, then the remaining 14.
    let ramp = [Size::Percent(10), Size::Percent(20), Size::Percent(100)];
    assert_eq!(sizes(&serialize(&names(20, "h"), &ramp)), [2, 4, 14]);
}

#[test]
fn serial_mixed_count_and_percentage() {
    // `serial: [1, "20%"]` on 10 hosts: 1, then 2 (20% of all 10) until done.
    let ramp = [Size::Count(1), Size::Percent(20)];
    assert_eq!(
        sizes(&serialize(&names(10, "h"), &ramp)),
        [1, 2, 2, 2, 2, 1]
    );
}

#[test]
fn serial_zero_or_absent_means_one_batch() {
    assert_eq!(sizes(&serialize(&names(5, "h"), &[])), [5]);
    assert_eq!(sizes(&serialize(&names(5, "h"), &[Size::Count(0)])), [5]);
    // A 0 in a ramp takes every remaining host.
    assert_eq!(
        sizes(&serialize(
            &names(5, "h"),
            &[Size::Count(2), Size::Count(0)]
        )),
        [2, 3]
    );
    assert!(serialize(&[], &[Size::Count(2)]).is_empty());
}

#[test]
fn serial_batches_keep_host_order() {
    let batches = serialize(&names(4, "h"), &[Size::Count(1), Size::Count(2)]);
    assert_eq!(batches, [vec!["h1"], vec!["h2", "h3"], vec!["h4"]]);
}

#[test]
fn serial_from_the_playbook_reaches_the_plan() {
    let p = plan(
        "- hosts: workers\n  serial: [1, \"40%\"]\n  tasks: []\n",
        &PlanOptions::default(),
    );
    assert_eq!(p.plays[0].serial.as_deref(), Some("1, 40%"));
    assert_eq!(sizes(&p.plays[0].batches), [1, 2, 2]);
}

// order

#[test]
fn order_is_applied_before_batching() {
    let hosts = StaticHosts {
        hosts: vec!["b".into(), "c".into(), "a".into()],
        groups: vec![],
    };
    let run = |order: &str| {
        let pb = playbook(&format!("- hosts: all\n  order: {order}\n  serial: 2\n"));
        build(&pb, &hosts, &PlanOptions::default())
            .unwrap()
            .plays
            .remove(0)
    };
    assert_eq!(run("inventory").batches, [vec!["b", "c"], vec!["a"]]);
    assert_eq!(
        run("reverse_inventory").batches,
        [vec!["a", "c"], vec!["b"]]
    );
    assert_eq!(run("sorted").batches, [vec!["a", "b"], vec!["c"]]);
    assert_eq!(run("reverse_sorted").batches, [vec!["c", "b"], vec!["a"]]);
    let mut shuffled = run("shuffle").hosts;
    shuffled.sort();
    assert_eq!(shuffled, ["a", "b", "c"]);
}

// tags, as Taggable.evaluate_tags decides

fn tagged(only: &[&str], skip: &[&str], tags: &[&str]) -> bool {
    let s = |v: &[&str]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    selected_by_tags(&s(tags), &s(only), &s(skip))
}

#[test]
fn without_tags_everything_but_never_runs() {
    assert!(tagged(&[], &[], &[]));
    assert!(tagged(&[], &[], &["drain"]));
    assert!(tagged(&[], &[], &["always"]));
    assert!(!tagged(&[], &[], &["never"]));
    assert!(!tagged(&[], &[], &["never", "debug"]));
}

#[test]
fn tags_select_matching_and_always() {
    assert!(tagged(&["drain"], &[], &["drain", "x"]));
    assert!(!tagged(&["drain"], &[], &["x"]));
    assert!(!tagged(&["drain"], &[], &[]));
    assert!(tagged(&["drain"], &[], &["always"]));
    // `never` only hides a task unless one of its other tags is asked for.
    assert!(tagged(&["debug"], &[], &["never", "debug"]));
    assert!(tagged(&["tagged"], &[], &["x"]));
    assert!(!tagged(&["tagged"], &[], &[]));
    assert!(!tagged(&["tagged"], &[], &["never", "x"]));
    assert!(tagged(&["untagged"], &[], &[]));
    assert!(!tagged(&["untagged"], &[], &["x"]));
    assert!(tagged(&["all"], &[], &["x"]));
}

#[test]
fn skip_tags_win_except_for_always() {
    assert!(!tagged(&[], &["drain"], &["drain"]));
    assert!(tagged(&[], &["drain"], &["x"]));
    assert!(tagged(&[], &["drain"], &["always"]));
    assert!(!tagged(&[], &["always"], &["always"]));
    assert!(!tagged(&[], &["all"], &["x"]));
    assert!(tagged(&[], &["all"], &["always"]));
    assert!(!tagged(&[], &["tagged"], &["x"]));
    assert!(tagged(&[], &["tagged"], &[]));
    assert!(!tagged(&["drain"], &["drain"], &["drain"]));
}

#[test]
fn play_tags_are_inherited_by_tasks() {
    let text = "\
- hosts: all
  tags: preflight
  tasks:
    - {name: a, debug: msg=a}
    - {name: b, debug: msg=b, tags: [extra]}
- hosts: all
  tasks:
    - {name: c, debug: msg=c}
";
    let only = vec!["preflight".to_string()];
    let p = plan(
        text,
        &PlanOptions {
            tags: &only,
            ..Default::default()
        },
    );
    assert_eq!(task_names(&p.plays[0]), ["a", "b"]);
    assert_eq!(p.plays[0].tasks[1].tags, ["extra", "preflight"]);
    assert!(p.plays[1].tasks.is_empty());
    assert_eq!(p.plays[1].skipped_tasks, 1);
}

// --start-at

const THREE_PLAYS: &str = "\
- hosts: all
  tasks:
    - {name: Check, debug: msg=a}
- hosts: workers
  tasks:
    - {name: Cordon the node, debug: msg=b}
    - {name: Drain the node, debug: msg=c}
    - {name: Uncordon, debug: msg=d}
- hosts: masters
  tasks:
    - {name: Last, debug: msg=e}
";

#[test]
fn start_at_skips_every_earlier_task_across_plays() {
    let p = plan(
        THREE_PLAYS,
        &PlanOptions {
            start_at: Some("Drain the node"),
            ..Default::default()
        },
    );
    assert!(p.plays[0].tasks.is_empty());
    assert_eq!(task_names(&p.plays[1]), ["Drain the node", "Uncordon"]);
    assert_eq!(p.plays[1].tasks[0].index, 1);
    assert_eq!(task_names(&p.plays[2]), ["Last"]);
}

#[test]
fn start_at_accepts_a_glob() {
    let p = plan(
        THREE_PLAYS,
        &PlanOptions {
            start_at: Some("Drain*"),
            ..Default::default()
        },
    );
    assert_eq!(task_names(&p.plays[1]), ["Drain the node", "Uncordon"]);
}

#[test]
fn start_at_naming_no_task_is_an_error() {
    let err = build(
        &playbook(THREE_PLAYS),
        &cluster(),
        &PlanOptions {
            start_at: Some("Drian"),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "site.yaml: `--start-at Drian` matches no task name in the playbook"
    );
}

// hosts

#[test]
fn a_play_matching_no_host_is_kept_and_skipped() {
    let p = plan(
        "- hosts: nobody\n  tasks: [{debug: msg=x}]\n",
        &PlanOptions::default(),
    );
    assert!(p.plays[0].hosts.is_empty());
    assert!(p.plays[0].batches.is_empty());
    assert_eq!(
        p.to_string(),
        "PLAY 1 [nobody]\n  hosts: nobody -> skipping: no hosts matched\n"
    );
}

#[test]
fn limit_narrows_every_play() {
    let p = plan(
        THREE_PLAYS,
        &PlanOptions {
            limit: Some("worker2,master1"),
            ..Default::default()
        },
    );
    assert_eq!(p.plays[0].hosts, ["master1", "worker2"]);
    assert_eq!(p.plays[1].hosts, ["worker2"]);
    assert_eq!(p.plays[2].hosts, ["master1"]);
}

/// Renders play-level templates with minijinja and the play's vars, as the real
/// inventory-backed source will (with more variables).
struct Rendering(StaticHosts);

impl HostSource for Rendering {
    fn select(&self, pattern: &str, limit: Option<&str>) -> Result<Vec<String>, String> {
        self.0.select(pattern, limit)
    }
    fn render(&self, play: &Play, template: &str) -> Result<String, String> {
        let vars: serde_json::Map<String, serde_json::Value> = play
            .vars
            .iter()
            .map(|(k, d)| (k.clone(), d.value.clone()))
            .collect();
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.render_str(
            template,
            minijinja::Value::from(minijinja::value::Serde(&vars)),
        )
        .map_err(|e| e.to_string())
    }
}

#[test]
fn templated_hosts_and_serial_are_rendered() {
    let text = "\
- hosts: \"{{ group }}\"
  serial: \"{{ ramp }}\"
  vars: {group: workers, ramp: [1, 2]}
";
    let p = build(
        &playbook(text),
        &Rendering(cluster()),
        &PlanOptions::default(),
    )
    .unwrap();
    assert_eq!(p.plays[0].pattern, "workers");
    assert_eq!(p.plays[0].serial.as_deref(), Some("1, 2"));
    assert_eq!(sizes(&p.plays[0].batches), [1, 2, 2]);
}

#[test]
fn serial_template_giving_no_size_is_an_error_at_its_place() {
    let text = "- hosts: all\n  serial: \"{{ ramp }}\"\n  vars: {ramp: lots}\n";
    let err = build(
        &playbook(text),
        &Rendering(cluster()),
        &PlanOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "site.yaml:2:11: `serial` rendered to `lots`: expected a number, a percentage such as \"30%\", or a list of them"
    );
}

#[test]
fn templates_without_a_renderer_are_an_error() {
    let err = build(
        &playbook("- hosts: \"{{ g }}\"\n"),
        &cluster(),
        &PlanOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "site.yaml:1:10: cannot render `{{ g }}`: play-level templates cannot be rendered here"
    );
}

#[test]
fn the_printed_plan_shows_batches_and_task_details() {
    let text = "\
- name: Workers
  hosts: workers
  serial: [1, 2]
  max_fail_percentage: 0
  gather_facts: false
  tags: migrate
  tasks:
    - name: Cordon
      shell: kubectl cordon {{ inventory_hostname }}
      delegate_to: \"{{ groups.masters[0] }}\"
      when: not on_containerd | default(false)
    - name: Say hi
      debug: msg=hi
      run_once: true
      tags: greet
";
    let skip = vec!["never_matches".to_string()];
    let p = plan(
        text,
        &PlanOptions {
            skip_tags: &skip,
            ..Default::default()
        },
    );
    assert_eq!(
        p.to_string(),
        "\
PLAY 1 [Workers]
  hosts: workers -> 5 hosts
  tags: migrate
  3 batches (serial: 1, 2, stop when more than 0% of a batch fails)
    1. worker1
    2. worker2, worker3
    3. worker4, worker5
  tasks, in order, on every host of a batch (run_once: on its first host only):
    1. shell     Cordon
                 delegate_to: {{ groups.masters[0] }}; when: not on_containerd | default(false)
    2. debug     Say hi
                 run_once; tags: greet
"
    );
}

#[test]
fn long_batches_wrap_under_the_first_host() {
    let hosts = StaticHosts {
        hosts: names(30, "worker-node-"),
        groups: vec![],
    };
    let p = build(
        &playbook("- hosts: all\n  gather_facts: no\n"),
        &hosts,
        &PlanOptions::default(),
    )
    .unwrap();
    let text = p.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().all(|l| l.len() <= 96), "{text}");
    assert!(lines[3].starts_with("    1. worker-node-1, "), "{text}");
    assert!(lines[4].starts_with("       worker-node-"), "{text}");
    assert_eq!(text.matches("worker-node-").count(), 30);
}

#[test]
fn static_hosts_apply_intersections_and_exclusions_after_unions() {
    let c = cluster();
    assert_eq!(
        c.select("!master0:masters", None).unwrap(),
        ["master1", "master2"]
    );
    assert_eq!(
        c.select("all:&masters", None).unwrap(),
        ["master0", "master1", "master2"]
    );
    assert_eq!(
        c.select("worker*:!worker2", Some("worker1,worker2,worker3"))
            .unwrap(),
        ["worker1", "worker3"]
    );
}

// The migration playbook against the example inventory.

/// The example inventory's groups, hosts and `all` vars, read with a few lines of YAML
/// walking (the real inventory module lives elsewhere).
struct Example {
    hosts: StaticHosts,
    vars: serde_json::Map<String, serde_json::Value>,
}

fn example_inventory() -> Example {
    let text = std::fs::read_to_string("inventory.example.yaml").unwrap();
    let root: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    fn walk(name: &str, group: &serde_json::Value, out: &mut StaticHosts) -> Vec<String> {
        let mut members: Vec<String> = group["hosts"]
            .as_object()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(children) = group["children"].as_object() {
            for (child, g) in children {
                members.extend(walk(child, g, out));
            }
        }
        for h in &members {
            if !out.hosts.contains(h) {
                out.hosts.push(h.clone());
            }
        }
        out.groups.push((name.to_string(), members.clone()));
        members
    }
    let mut hosts = StaticHosts::default();
    walk("all", &root["all"], &mut hosts);
    let vars = root["all"]["vars"].as_object().unwrap().clone();
    Example { hosts, vars }
}

impl HostSource for Example {
    fn select(&self, pattern: &str, limit: Option<&str>) -> Result<Vec<String>, String> {
        self.hosts.select(pattern, limit)
    }
    /// Play vars over inventory vars, with `groups`. Play vars are rendered in order,
    /// each seeing the ones before (a var that needs a host, such as one using
    /// `inventory_hostname`, stays as written), which is what Ansible's lazy templating
    /// gives at play level.
    fn render(&self, play: &Play, template: &str) -> Result<String, String> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let mut ctx = self.vars.clone();
        let groups: serde_json::Map<String, serde_json::Value> = self
            .hosts
            .groups
            .iter()
            .map(|(g, h)| (g.clone(), serde_json::json!(h)))
            .collect();
        ctx.insert("groups".into(), serde_json::Value::Object(groups));
        for (k, d) in &play.vars {
            let value = match &d.value {
                serde_json::Value::String(t) => {
                    let now = minijinja::Value::from(minijinja::value::Serde(&ctx));
                    env.render_str(t, now)
                        .map_or(d.value.clone(), serde_json::Value::String)
                }
                other => other.clone(),
            };
            ctx.insert(k.clone(), value);
        }
        let ctx = minijinja::Value::from(minijinja::value::Serde(&ctx));
        env.render_str(template, ctx).map_err(|e| format!("{e:#}"))
    }
}

fn migrate_plan() -> Plan {
    let pb = crate::parse::playbook::load(Path::new("playbooks/migrate.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    build(&pb, &example_inventory(), &PlanOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn migrate_playbook_plans_workers_ramped_masters_one_by_one_registry_last() {
    let plan = migrate_plan();
    let summary: Vec<(&str, Vec<usize>)> = plan
        .plays
        .iter()
        .map(|p| (p.pattern.as_str(), sizes(&p.batches)))
        .collect();
    assert_eq!(
        summary,
        [
            ("masters:workers", vec![10]),
            // [1, 2, 4, 8] capped by max_unavailable: 2 in the example inventory.
            ("workers,!masters,!rtmig_registry", vec![1, 2, 2, 2]),
            // The inventory alone does not say which node holds the registry: the
            // preflight decides (registry_node, else the node running it).
            ("masters,!rtmig_registry", vec![1, 1, 1]),
            ("rtmig_registry_backup", vec![]),
            ("rtmig_registry", vec![]),
            // The registry's pods are back.
            ("rtmig_registry", vec![]),
        ]
    );
    assert_eq!(plan.plays[1].batches[0], ["worker0"]);
    // Every play after the preflight chooses its hosts when it starts, from the groups
    // the preflight's add_host fills.
    assert!(plan.plays[0].runtime.is_none());
    for p in &plan.plays[1..] {
        let rt = p.runtime.as_ref().expect("decided at run time");
        assert!(
            rt.because
                .iter()
                .any(|b| b.contains("`add_host` in play 1")),
            "{rt:?}"
        );
    }
    // The same steps for every node, from one anchored list.
    let steps = |i: usize| {
        plan.plays[i]
            .tasks
            .iter()
            .map(|t| t.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(steps(1), steps(2));
    assert_eq!(steps(1), steps(4));
    assert!(
        steps(1).iter().any(|s| s == "Drain the node"),
        "{:?}",
        steps(1)
    );
    assert!(
        plan.plays
            .iter()
            .skip(1)
            .all(|p| p.max_fail_percentage == Some(0.0) || p.any_errors_fatal)
    );
}

#[test]
fn migrate_playbook_preflight_runs_whatever_the_tags() {
    let pb = crate::parse::playbook::load(Path::new("playbooks/migrate.yaml")).unwrap();
    let only = vec!["masters".to_string()];
    let plan = build(
        &pb,
        &example_inventory(),
        &PlanOptions {
            tags: &only,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(plan.plays[0].skipped_tasks, 0);
    assert!(plan.plays[1].tasks.is_empty());
    assert!(!plan.plays[2].tasks.is_empty());
}

#[test]
fn migrate_templates_render_with_the_example_variables() {
    let example = example_inventory();
    let mut vars = example.vars.clone();
    vars.insert("inventory_hostname".into(), "worker0".into());
    vars.insert("containerd_systemd_cgroup".into(), true.into());
    // rtmig's own environment, as the `template` step renders (its filters and tests,
    // `version` included)
    let templates = crate::template::Templates::new(vec!["templates".into()]);
    let mut tv = crate::template::Vars::new();
    for (k, v) in &vars {
        tv.insert(k.clone(), v.clone());
    }
    let out = templates
        .render_file("containerd-config.toml.j2", &tv)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(out.contains("disabled_plugins = []"), "{out}");
    assert!(out.contains("SystemdCgroup = true"), "{out}");
    assert!(
        out.contains("sandbox_image = \"registry.example.com:5000/pause:3.6\""),
        "{out}"
    );
    // Registries through hosts.toml files (templates/containerd-hosts.toml.j2), not the
    // deprecated `mirrors` section, which containerd refuses beside config_path.
    assert!(
        out.contains("config_path = \"/etc/containerd/certs.d\""),
        "{out}"
    );
    assert!(!out.contains("registry.mirrors"), "{out}");
    let out = templates
        .render_file("crictl.yaml.j2", &tv)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        out.contains("runtime-endpoint: unix:///run/containerd/containerd.sock\n"),
        "{out}"
    );
}

#[test]
fn migrate_plan_prints_every_play_with_its_batches() {
    let text = migrate_plan().to_string();
    assert!(text.starts_with("PLAY 1 [Preflight (read-only, every node)]\n  hosts: masters:workers -> 10 hosts, facts gathered\n"), "{text}");
    assert!(text.contains("    with inventory data alone: workers,!masters,!rtmig_registry -> 7 hosts (below)\n  tags: migrate, workers\n  4 batches (serial: 1, 2, 2, 2, stop when more than 0% of a batch fails)\n    1. worker0\n    2. worker1, worker2\n"), "{text}");
    assert!(
        text.contains("PLAY 5 [Migrate the registry node, last]\n  hosts: decided at run time, when the play starts, from `rtmig_registry`\n    depends on group `rtmig_registry`, changed at run time by `add_host` in play 1 task 3 `Note the registry node` (playbooks/migrate.yaml:"),
        "{text}"
    );
}

/// templates/containerd-hosts.toml.j2 as migrate.yaml renders it from Docker's settings:
/// Docker Hub's mirror, an insecure registry, and a registry with a CA and a client pair
/// from /etc/docker/certs.d (containerd's docs/hosts.md layout).
#[test]
fn containerd_hosts_toml_carries_mirrors_insecure_registries_and_certificates() {
    let t = crate::template::Templates::new(vec![std::path::PathBuf::from("templates")]);
    let render = |item: &str| {
        let mut vars = crate::template::Vars::new();
        let layer = serde_json::json!({
            "inventory_hostname": "worker0",
            "item": item,
            "registry_config_path": "/etc/containerd/certs.d",
            "registry_mirrors": {"docker.io": ["http://registry:5000", "https://mirror.example.com"]},
            "registry_insecure": ["registry:5000"],
            "registry_certs": ["registry.example.com/ca.crt", "registry.example.com/client.cert",
                               "registry.example.com/client.key"],
        });
        vars.push_layer(layer.as_object().unwrap().clone());
        t.render_file("containerd-hosts.toml.j2", &vars)
            .unwrap_or_else(|e| panic!("{e:#}"))
    };
    let hub = render("docker.io");
    assert!(
        hub.contains("server = \"https://registry-1.docker.io\""),
        "{hub}"
    );
    // mirrors first, in Docker's order; the insecure one without verification
    let first = hub.find("[host.\"http://registry:5000\"]").expect(&hub);
    let second = hub
        .find("[host.\"https://mirror.example.com\"]")
        .expect(&hub);
    assert!(first < second, "{hub}");
    assert!(hub[first..second].contains("skip_verify = true"), "{hub}");
    assert!(!hub[second..].contains("skip_verify"), "{hub}");
    let insecure = render("registry:5000");
    assert!(
        insecure.contains("[host.\"https://registry:5000\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n  skip_verify = true\n")
            && insecure.contains("[host.\"http://registry:5000\"]"),
        "{insecure}"
    );
    let tls = render("registry.example.com");
    assert!(
        tls.contains("[host.\"https://registry.example.com\"]")
            && tls.contains("ca = [\"/etc/containerd/certs.d/registry.example.com/ca.crt\"]")
            && tls.contains("client = [[\"/etc/containerd/certs.d/registry.example.com/client.cert\", \"/etc/containerd/certs.d/registry.example.com/client.key\"]]")
            && !tls.contains("skip_verify")
            && !tls.contains("http://"),
        "{tls}"
    );
}

#[test]
fn blocks_and_handlers_are_shown_and_a_rescue_without_its_block_is_left_out() {
    let text = "\
- hosts: workers
  gather_facts: false
  handlers:
    - name: restart
      shell: systemctl restart app
      listen: app changed
  tasks:
    - name: upgrade
      tags: [up]
      block:
        - shell: step
          notify: app changed
      rescue:
        - shell: undo
          tags: [up, undo]
      always:
        - meta: flush_handlers
";
    let all = plan(text, &PlanOptions::default());
    let shown = all.to_string();
    assert!(
        shown.contains(
            "       block [upgrade]:\n    1.   shell     shell\n                   tags: up; notify: restart\n       rescue (when the block fails):\n    2.   shell     shell\n"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("       always:\n    3.   meta      flush_handlers\n"),
        "{shown}"
    );
    assert!(
        shown.contains("    1. shell     restart\n                 listen: app changed\n"),
        "{shown}"
    );
    // `--tags undo` keeps the rescue alone: nothing in the block can fail, so it goes.
    let tags = vec!["undo".to_string()];
    let opts = PlanOptions {
        tags: &tags,
        ..Default::default()
    };
    let only = plan(text, &opts);
    assert!(only.plays[0].tasks.is_empty(), "{:?}", only.plays[0].tasks);
    assert_eq!(only.plays[0].skipped_tasks, 3);
}

#[test]
fn an_include_counts_its_planned_tasks_and_takes_them_out_when_left_out() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("inc.yml"),
        "- {name: i1, debug: msg=1, tags: [x]}\n- {name: i2, debug: msg=2}\n",
    )
    .expect("write");
    let site = dir.path().join("site.yaml");
    std::fs::write(
        &site,
        "- hosts: all\n  tasks:\n    - {name: inc, include_tasks: inc.yml, tags: [x]}\n    - {name: after, debug: msg=a}\n    - {name: inc2, include_tasks: inc.yml}\n",
    )
    .expect("write");
    let pb = crate::parse::playbook::load(&site).unwrap_or_else(|e| panic!("{e}"));
    let all = build(&pb, &cluster(), &PlanOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let spans: Vec<usize> = all.plays[0].tasks.iter().map(|t| t.span).collect();
    assert_eq!(spans, [2, 0, 0, 0, 2, 0, 0]);
    assert!(
        all.to_string()
            .contains("brings in the next 2 tasks, run per host as it decides"),
        "{all}"
    );
    // `--tags x`: the first include and its tagged task; the second include is left
    // out and so is its tagged task (as Ansible: an include's tags are its own).
    let only = vec!["x".to_string()];
    let opts = PlanOptions {
        tags: &only,
        ..PlanOptions::default()
    };
    let p = build(&pb, &cluster(), &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(task_names(&p.plays[0]), ["inc", "i1"]);
    assert_eq!(p.plays[0].tasks[0].span, 1);
}

//! The runner's own rules, on the local transport ([`AllLocal`]): judging
//! (`failed_when`, `changed_when`, `ignore_errors`), loops, `until` retries and
//! `no_log`. The actions' bodies are tested in their own files.

use std::sync::{Arc, Mutex};

use serde_json::json;

use super::*;
use crate::execute::connections::AllLocal;
use crate::parse::playbook::parse_str;
use crate::plan::PlanOptions;
use crate::report::Listener;

/// Every event the runner emits.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<Event>>>);

impl Listener for Events {
    fn name(&self) -> &'static str {
        "test"
    }
    fn on_event(&mut self, event: &Event) -> std::io::Result<()> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
}

struct Fixture {
    runner: Runner,
    events: Events,
    dir: tempfile::TempDir,
}

/// A runner for `tasks` (the YAML list of one play's tasks) on host `h1`, run on the
/// controller; `{{ dir }}` is a scratch directory.
fn fixture(tasks: &str) -> Fixture {
    fixture_with(tasks, AllLocal::default())
}

fn fixture_with(tasks: &str, connections: AllLocal) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let inv_path = dir.path().join("hosts.ini");
    std::fs::write(&inv_path, "h1\n").unwrap();
    let inventory = Inventory::load(&inv_path).unwrap_or_else(|e| panic!("{e}"));
    let indented: String = tasks.lines().map(|l| format!("    {l}\n")).collect();
    let text = format!(
        "- hosts: all\n  gather_facts: false\n  vars:\n    dir: {}\n  tasks:\n{indented}",
        dir.path().display()
    );
    let playbook =
        parse_str(&dir.path().join("site.yaml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let templates = Templates::new(vec![dir.path().to_path_buf()]);
    let extra_vars = HostVars::new();
    let no_run_vars = std::collections::HashMap::new();
    let source = PlaySource {
        inventory: &inventory,
        templates: &templates,
        extra_vars: &extra_vars,
        run_vars: &no_run_vars,
    };
    let opts = PlanOptions {
        limit: None,
        tags: &[],
        skip_tags: &[],
        start_at: None,
    };
    let plan = crate::plan::build(&playbook, &source, &opts).unwrap_or_else(|e| panic!("{e}"));
    let events = Events::default();
    let runner = Runner::new(
        Arc::new(playbook),
        Arc::new(plan),
        Arc::new(LiveInventory::new(Arc::new(inventory))),
        Arc::new(templates),
        extra_vars,
        Arc::new(Reporter::new(vec![Box::new(events.clone())])),
        Arc::new(Redactor::new()),
        Arc::new(RunVars::default()),
        connections,
    );
    Fixture {
        runner,
        events,
        dir,
    }
}

impl Fixture {
    async fn run(&self, task: usize) -> TaskOutcome {
        self.runner.run_task("h1", 0, task, HostVars::new()).await
    }

    fn commands(&self) -> Vec<String> {
        self.events
            .0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::CommandStarted { command, .. } => Some(command.clone()),
                _ => None,
            })
            .collect()
    }
}

fn registered(o: &TaskOutcome, name: &str) -> Value {
    match &o.register {
        Some((n, v)) if n == name => v.clone(),
        other => panic!("expected `{name}` registered, got {other:?}"),
    }
}

#[tokio::test]
async fn failed_when_false_turns_a_failed_command_into_a_success() {
    let f = fixture("- shell: echo out; exit 3\n  register: r\n  failed_when: r.rc not in [0, 3]");
    let o = f.run(0).await;
    // Not failed, and changed as a command that ran is.
    assert_eq!(o.result.status, TaskStatus::Changed, "{:?}", o.result);
    assert_eq!(o.result.msg, None, "the `non-zero return code` stays");
    let r = registered(&o, "r");
    assert_eq!(r["failed"], json!(false));
    assert_eq!(r["rc"], json!(3));
}

#[tokio::test]
async fn failed_when_true_fails_a_success_and_names_the_condition() {
    let f = fixture("- shell: echo boom\n  register: r\n  failed_when: \"'boom' in r.stdout\"");
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Failed);
    assert_eq!(
        o.result.msg.as_deref(),
        Some("failed_when: `'boom' in r.stdout` is true")
    );
    assert_eq!(registered(&o, "r")["failed"], json!(true));
}

#[tokio::test]
async fn changed_when_false_reports_ok_and_ignore_errors_marks_the_failure() {
    let f =
        fixture("- shell: \"true\"\n  changed_when: false\n- shell: exit 1\n  ignore_errors: true");
    assert_eq!(f.run(0).await.result.status, TaskStatus::Ok);
    let o = f.run(1).await;
    assert_eq!(o.result.status, TaskStatus::Failed);
    assert!(o.result.ignored, "{:?}", o.result);
}

#[tokio::test]
async fn a_loop_registers_one_result_per_item_and_skips_by_when() {
    let f = fixture(
        "- shell: echo {{ item }}\n  loop: [a, b, c]\n  when: item != 'b'\n  register: out",
    );
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Changed);
    assert_eq!(o.result.stdout, "a\nc\n");
    let out = registered(&o, "out");
    let results = out["results"].as_array().expect("results is a list");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["item"], json!("a"));
    assert_eq!(results[0]["stdout"], json!("a"));
    assert_eq!(
        results[1],
        json!({"item": "b", "ansible_loop_var": "item", "skipped": true, "changed": false,
               "skip_reason": "Conditional result was False"})
    );
    assert_eq!(results[2]["stdout"], json!("c"));
    assert_eq!(out["changed"], json!(true));
}

#[tokio::test]
async fn loop_control_names_the_item_and_index_and_registers_them_as_ansible() {
    let f = fixture(
        "- shell: echo {{ x }} > {{ dir }}/{{ '%02d' % i }}-{{ x }}-{{ ansible_loop.length }}
  loop: [a, b]
  loop_control: {loop_var: x, index_var: i, extended: true, label: \"{{ x }}\"}
  register: out",
    );
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Changed, "{:?}", o.result);
    for name in ["00-a-2", "01-b-2"] {
        assert!(f.dir.path().join(name).is_file(), "{name} not written");
    }
    let results = registered(&o, "out")["results"].clone();
    // The keys Ansible 2.21 registers for a loop item (besides the module's own).
    let r = &results[1];
    assert_eq!(r["x"], json!("b"));
    assert_eq!(r["ansible_loop_var"], json!("x"));
    assert_eq!(r["i"], json!(1));
    assert_eq!(r["ansible_index_var"], json!("i"));
    assert_eq!(
        r["ansible_loop"],
        json!({"allitems": ["a", "b"], "first": false, "index": 2, "index0": 1, "last": true,
               "length": 2, "previtem": "a", "revindex": 1, "revindex0": 0})
    );
    assert!(r.get("item").is_none(), "{r}");
    assert_eq!(results[0]["ansible_loop"]["nextitem"], json!("b"));
}

#[tokio::test]
async fn with_loops_give_ansibles_items() {
    let f = fixture(
        "- shell: echo {{ item | to_json | quote }}
  with_items: [1, [2, [3]], 4]
  register: items
- shell: echo {{ item | to_json | quote }}
  with_list: [1, [2, 3]]
  register: list
- shell: echo {{ item.key }}={{ item.value }} >> {{ dir }}/dict
  with_dict: {b: 2, a: 1}
- shell: touch {{ dir }}/seq-{{ item }}
  with_sequence: start=1 end=5 stride=2 format=%02d
- shell: echo {{ item }}
  with_fileglob: '*.conf'
  register: globbed
- shell: echo {{ item.0 }}-{{ item.1 }}
  with_nested: [[x, z], [1, 2]]
  register: nested",
    );
    let stdouts = |o: &TaskOutcome, name: &str| -> Vec<Value> {
        registered(o, name)["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["stdout"].clone())
            .collect()
    };
    let o = f.run(0).await;
    assert_eq!(
        stdouts(&o, "items"),
        [json!("1"), json!("2"), json!("[3]"), json!("4")]
    );
    let o = f.run(1).await;
    assert_eq!(stdouts(&o, "list"), [json!("1"), json!("[2, 3]")]);
    f.run(2).await;
    let dict = std::fs::read_to_string(f.dir.path().join("dict")).unwrap();
    assert_eq!(dict, "b=2\na=1\n");
    f.run(3).await;
    for n in ["01", "03", "05"] {
        assert!(f.dir.path().join(format!("seq-{n}")).is_file(), "seq-{n}");
    }
    assert!(!f.dir.path().join("seq-02").exists());
    for name in ["b.conf", "a.conf", ".hidden.conf", "c.txt"] {
        std::fs::write(f.dir.path().join(name), "").unwrap();
    }
    let o = f.run(4).await;
    let dir = f.dir.path().display();
    assert_eq!(
        stdouts(&o, "globbed"),
        [
            json!(format!("{dir}/a.conf")),
            json!(format!("{dir}/b.conf"))
        ]
    );
    let o = f.run(5).await;
    assert_eq!(
        stdouts(&o, "nested"),
        [json!("x-1"), json!("x-2"), json!("z-1"), json!("z-2")]
    );
}

#[tokio::test]
async fn a_bad_with_sequence_from_a_template_fails_the_task_at_its_place() {
    let f = fixture("- shell: echo {{ item }}\n  with_sequence: \"start=1 end={{ 'x' }}\"");
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Failed, "{:?}", o.result);
    let msg = o.result.msg.unwrap_or_default();
    assert!(msg.contains("site.yaml:"), "{msg}");
    assert!(msg.contains("`end` must be an integer, got `x`"), "{msg}");
}

#[tokio::test]
async fn a_failed_item_fails_the_loop_but_the_other_items_run() {
    let f = fixture("- shell: exit {{ item }}\n  loop: [0, 4, 0]\n  register: out");
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Failed);
    assert_eq!(
        o.result.msg.as_deref(),
        Some("one or more items failed: non-zero return code")
    );
    assert_eq!(o.result.rc, Some(4));
    let results = registered(&o, "out")["results"].clone();
    let failed: Vec<_> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["failed"].clone())
        .collect();
    assert_eq!(failed, vec![json!(false), json!(true), json!(false)]);
}

#[tokio::test]
async fn all_items_skipped_is_a_skip() {
    let f = fixture("- shell: echo {{ item }}\n  loop: [a]\n  when: false");
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Skipped);
    assert_eq!(o.result.msg.as_deref(), Some("all items were skipped"));
}

#[tokio::test]
async fn until_retries_and_registers_the_attempts() {
    // Each attempt adds a line; the third sees 3.
    let f = fixture(
        "- shell: echo x >> {{ dir }}/n; wc -l < {{ dir }}/n\n  register: r\n  until: r.stdout | int >= 3\n  retries: 5\n  delay: 0",
    );
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Changed, "{:?}", o.result);
    assert_eq!(registered(&o, "r")["attempts"], json!(3));
    let lines = std::fs::read_to_string(f.dir.path().join("n")).unwrap();
    assert_eq!(lines.lines().count(), 3, "ran again after `until` held");
}

#[tokio::test]
async fn until_gives_up_after_retries_plus_one_attempts() {
    let f = fixture(
        "- shell: echo x >> {{ dir }}/n\n  register: r\n  until: r.stdout == 'never'\n  retries: 2\n  delay: 0",
    );
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Failed);
    assert_eq!(
        o.result.msg.as_deref(),
        Some("gave up after 3 attempts: `r.stdout == 'never'` is still false")
    );
    assert_eq!(registered(&o, "r")["attempts"], json!(3));
    let lines = std::fs::read_to_string(f.dir.path().join("n")).unwrap();
    assert_eq!(lines.lines().count(), 3);
}

#[tokio::test]
async fn no_log_hides_the_output_and_the_command() {
    let f = fixture("- shell: echo s3cret; echo s3cret >&2; exit 1\n  no_log: true");
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Failed);
    assert_eq!(o.result.msg.as_deref(), Some(NO_LOG_MSG));
    assert_eq!(o.result.stdout, "");
    assert_eq!(o.result.stderr, "");
    assert_eq!(o.result.cmd, None);
    let commands = f.commands();
    assert!(!commands.is_empty());
    assert!(
        commands.iter().all(|c| c == "<hidden by no_log>"),
        "{commands:?}"
    );
}

#[tokio::test]
async fn without_no_log_the_output_and_command_are_kept() {
    // The counterpart of the test above: it must see what `no_log` hides.
    let f = fixture("- shell: echo s3cret");
    let o = f.run(0).await;
    assert_eq!(o.result.stdout, "s3cret\n");
    assert_eq!(o.result.cmd.as_deref(), Some("echo s3cret"));
    assert_eq!(f.commands(), vec!["echo s3cret".to_string()]);
}

#[tokio::test]
async fn an_unreachable_host_is_not_judged() {
    let f = fixture_with(
        "- shell: \"true\"\n  failed_when: false\n  ignore_errors: true",
        AllLocal {
            unreachable: vec!["h1".into()],
        },
    );
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Unreachable);
    assert!(!o.result.ignored);
}

#[tokio::test]
async fn a_template_error_is_a_located_failure() {
    let f = fixture("- shell: echo {{ nope.x }}");
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Failed);
    let msg = o.result.msg.unwrap_or_default();
    assert!(msg.contains("site.yaml:"), "{msg}");
}

/// `command` splits its line as Python's `shlex.split` (Ansible's command module does):
/// in double quotes a backslash stays before `$`, where a shell would drop it.
#[tokio::test]
async fn command_splits_its_words_as_python_shlex() {
    let f = fixture("- command: printf '%s|' \"\\$x\" a\\ b '#c'");
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Changed, "{:?}", o.result);
    assert_eq!(o.result.stdout, "\\$x|a b|#c|");
}

/// Check mode and `--diff` come from the same query as the act: under `--check` the
/// copy reports the change it would make, with its diff, and writes nothing; run for
/// real it writes; run again it is ok.
#[tokio::test]
async fn check_mode_reports_the_change_and_its_diff_without_acting() {
    let mut f = fixture("- copy:\n    content: \"hello\\n\"\n    dest: \"{{ dir }}/f\"");
    let dest = f.dir.path().join("f");
    f.runner.check = true;
    f.runner.diff = true;
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Changed, "{:?}", o.result);
    let diff = o.result.diff.unwrap_or_default();
    assert!(diff.contains("+hello"), "{diff}");
    assert!(!dest.exists(), "check mode wrote the file");
    f.runner.check = false;
    assert_eq!(f.run(0).await.result.status, TaskStatus::Changed);
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "hello\n");
    assert_eq!(f.run(0).await.result.status, TaskStatus::Ok);
}

/// A looped edit previews as a single one does: under `--check --diff` each item that
/// would change shows its diff, in item order (the diffs were dropped for loops).
#[tokio::test]
async fn check_mode_shows_each_looped_items_diff() {
    let mut f = fixture(
        "- copy:\n    content: \"{{ item }}\\n\"\n    dest: \"{{ dir }}/{{ item }}\"\n  loop: [one, two]",
    );
    std::fs::write(f.dir.path().join("two"), "two\n").unwrap();
    f.runner.check = true;
    f.runner.diff = true;
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Changed, "{:?}", o.result);
    let diff = o.result.diff.unwrap_or_default();
    assert!(diff.contains("+one"), "{diff}");
    assert!(
        !diff.contains("+two"),
        "an unchanged item showed a diff: {diff}"
    );
    assert!(
        !f.dir.path().join("one").exists(),
        "check mode wrote the file"
    );
}

/// An argument rendering to `omit` is left out, as Ansible leaves it out (the
/// placeholder reached cron as a special time and an insertafter before).
#[tokio::test]
async fn an_argument_rendering_to_omit_is_left_out() {
    let f = fixture(
        "- cron:\n    name: t\n    job: /bin/true\n    user: root\n    cron_file: \"{{ dir }}/c\"\n    special_time: \"{{ st | default(omit) }}\"\n    insertafter: \"{{ ia | default(omit) }}\"\n    disabled: \"{{ off | default(omit) }}\"",
    );
    let o = f.run(0).await;
    assert_eq!(o.result.status, TaskStatus::Changed, "{:?}", o.result);
    assert_eq!(
        std::fs::read_to_string(f.dir.path().join("c")).unwrap(),
        "#Ansible: t\n* * * * * root /bin/true\n"
    );
}

//! Playbook parsing: valid shapes and every kind of invalid input, with exact locations.

use std::path::{Path, PathBuf};

use super::*;

fn parse(text: &str) -> Playbook {
    match parse_str(Path::new("site.yaml"), text) {
        Ok(p) => p,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

/// The errors, one per line, as `rtmig validate` prints them.
fn errors(text: &str) -> String {
    match parse_str(Path::new("site.yaml"), text) {
        Ok(p) => panic!("expected errors, parsed {p:#?}"),
        Err(e) => e.to_string(),
    }
}

fn task(text: &str) -> Task {
    let pb = parse(&format!("- hosts: all\n  tasks:\n{text}"));
    pb.plays
        .into_iter()
        .next()
        .unwrap()
        .tasks
        .into_iter()
        .next()
        .unwrap()
}

#[test]
fn a_full_play_is_read() {
    let pb = parse(
        "\
- name: Migrate workers
  hosts: workers
  serial: [1, \"20%\"]
  order: sorted
  max_fail_percentage: 25
  any_errors_fatal: yes
  vars:
    a: 1
    b: \"{{ a }}\"
  vars_files: []
  become: true
  become_user: root
  gather_facts: no
  tags: [migrate]
  environment: {LANG: C}
  tasks:
    - name: hi
      debug: msg=hello
",
    );
    let play = &pb.plays[0];
    assert_eq!(play.name, "Migrate workers");
    assert_eq!(play.hosts.value, "workers");
    assert_eq!(
        play.serial.as_ref().unwrap().items,
        [SerialItem::Count(1), SerialItem::Percent(20)]
    );
    assert_eq!(play.order, Order::Sorted);
    assert_eq!(play.max_fail_percentage, Some(25.0));
    assert!(play.any_errors_fatal);
    assert_eq!(play.vars["a"].value, serde_json::json!(1));
    assert_eq!(
        play.vars["b"].strings[0].location,
        Location::new("site.yaml", 9, 8)
    );
    // vars_files are read at parse time: see vars_files_are_read_at_parse_time_...
    assert!(play.vars_files.is_empty());
    assert_eq!(play.become_, Some(true));
    assert!(!play.gather_facts);
    assert_eq!(play.tags, ["migrate"]);
    assert_eq!(play.environment["LANG"].value, "C");
    assert_eq!(play.location, Location::new("site.yaml", 1, 3));
    assert_eq!(play.tasks[0].location, Location::new("site.yaml", 17, 7));
    assert_eq!(pb.dir, Path::new("."));
}

#[test]
fn play_defaults_follow_ansible() {
    let pb = parse("- hosts: all\n  tasks: []\n");
    let play = &pb.plays[0];
    assert_eq!(play.name, "all");
    assert!(play.gather_facts);
    assert_eq!(play.serial, None);
    assert_eq!(play.order, Order::Inventory);
    assert!(play.tasks.is_empty());
}

#[test]
fn hosts_list_is_joined_with_commas() {
    let pb = parse("- hosts: [masters, workers]\n");
    assert_eq!(pb.plays[0].hosts.value, "masters,workers");
}

#[test]
fn pre_and_post_tasks_run_around_tasks() {
    let pb = parse(
        "- hosts: all\n  post_tasks: [{debug: msg=c}]\n  tasks: [{debug: msg=b}]\n  pre_tasks: [{debug: msg=a}]\n",
    );
    let msgs: Vec<_> = pb.plays[0]
        .tasks
        .iter()
        .map(|t| match &t.action {
            Action::Debug(Debug {
                what: DebugWhat::Msg(d),
                ..
            }) => d.value.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        msgs,
        [
            serde_json::json!("a"),
            serde_json::json!("b"),
            serde_json::json!("c")
        ]
    );
}

#[test]
fn shell_free_form_with_raw_params() {
    let t = task("    - shell: ./x.sh --all chdir=/opt creates=/opt/done\n");
    let Action::Shell(c) = &t.action else {
        panic!("{t:?}")
    };
    assert_eq!(c.cmd.value, "./x.sh --all");
    assert_eq!(c.chdir.as_ref().unwrap().value, "/opt");
    assert_eq!(
        c.chdir.as_ref().unwrap().location,
        Location::new("site.yaml", 3, 33)
    );
    assert_eq!(c.creates.as_ref().unwrap().value, "/opt/done");
    assert_eq!(t.display_name(), "shell");
}

#[test]
fn command_with_cmd_and_args_keyword() {
    let t = task(
        "    - name: run\n      ansible.builtin.command:\n        cmd: ls\n      args:\n        chdir: /tmp\n",
    );
    let Action::Command(c) = &t.action else {
        panic!("{t:?}")
    };
    assert_eq!(c.cmd.value, "ls");
    assert_eq!(c.chdir.as_ref().unwrap().value, "/tmp");
    assert_eq!(t.action_location, Location::new("site.yaml", 4, 7));
}

#[test]
fn multi_line_shell_is_kept_verbatim() {
    let t = task("    - shell: |\n        set -e\n        creates=/x\n        echo $creates\n");
    let Action::Shell(c) = &t.action else {
        panic!()
    };
    assert_eq!(c.cmd.value, "set -e\ncreates=/x\necho $creates\n");
    assert_eq!(c.creates, None);
}

#[test]
fn file_free_form_key_values() {
    let t = task("    - file: path=/etc/x state=directory mode=0755 recurse=yes\n");
    let Action::File(f) = &t.action else { panic!() };
    assert_eq!(f.path.value, "/etc/x");
    assert_eq!(f.state, FileState::Directory);
    assert_eq!(f.mode.as_ref().unwrap().value, "0755");
    assert!(f.recurse);
}

#[test]
fn yaml_mode_with_leading_zero_stays_octal_text() {
    let t = task("    - file: {path: /x, mode: 0644}\n");
    let Action::File(f) = &t.action else { panic!() };
    assert_eq!(f.mode.as_ref().unwrap().value, "0644");
}

#[test]
fn task_keywords_are_read() {
    let t = task(
        "    - name: wait
      shell: kubectl get node {{ inventory_hostname }}
      register: out
      until: out.rc == 0
      retries: \"{{ n }}\"
      delay: 5
      when: [a, \"{{ b }}\"]
      changed_when: false
      failed_when: out.rc > 1
      ignore_errors: yes
      delegate_to: \"{{ groups.masters[0] }}\"
      run_once: true
      become: yes
      become_user: kube
      become_method: sudo
      tags: drain, kube
      timeout: 600
      vars: {x: 1}
      environment: {KUBECONFIG: /etc/kubernetes/admin.conf}
      no_log: true
      loop: \"{{ groups.workers }}\"
      loop_control: {loop_var: node, label: \"{{ node }}\"}
",
    );
    assert_eq!(t.register.as_deref(), Some("out"));
    assert_eq!(t.until[0].value, "out.rc == 0");
    assert!(matches!(&t.retries, Some(Number::Template(x)) if x.value == "{{ n }}"));
    assert_eq!(t.delay, Some(Number::Literal(5)));
    let when: Vec<_> = t.when.iter().map(|e| e.value.as_str()).collect();
    assert_eq!(when, ["a", "b"]);
    assert_eq!(t.changed_when[0].value, "false");
    assert!(t.ignore_errors && t.run_once && t.no_log);
    assert_eq!(t.become_, Some(true));
    assert_eq!(t.tags, ["drain", "kube"]);
    assert_eq!(t.timeout, Some(Number::Literal(600)));
    let l = t.loop_.as_ref().unwrap();
    assert_eq!(l.loop_var, "node");
    assert_eq!(l.with, None);
    assert_eq!(l.label.as_ref().unwrap().value, "{{ node }}");
    assert_eq!(
        t.environment["KUBECONFIG"].value,
        "/etc/kubernetes/admin.conf"
    );
    let strings: Vec<&str> = t.strings().iter().map(|s| s.value()).collect();
    assert!(
        strings.contains(&"kubectl get node {{ inventory_hostname }}"),
        "{strings:?}"
    );
    assert!(strings.contains(&"{{ groups.workers }}"), "{strings:?}");
    assert!(strings.contains(&"out.rc == 0"), "{strings:?}");
}

#[test]
fn with_items_is_a_flattening_loop() {
    let t = task("    - debug: var=item\n      with_items: [a, [b, c]]\n");
    let l = t.loop_.unwrap();
    assert_eq!(l.with.as_deref(), Some("items"));
    assert_eq!(l.loop_var, "item");
    assert_eq!(l.items.value, serde_json::json!(["a", ["b", "c"]]));
}

#[test]
fn with_loops_and_loop_control_are_read() {
    let t = task(
        "    - debug: var=item
      with_sequence: start=1 end=5 format=%02d
      loop_control: {index_var: i, pause: 2, extended: true, label: \"{{ item }}\"}
",
    );
    let l = t.loop_.unwrap();
    assert_eq!(l.with.as_deref(), Some("sequence"));
    assert_eq!(
        l.items.value,
        serde_json::json!("start=1 end=5 format=%02d")
    );
    assert_eq!(l.index_var.as_deref(), Some("i"));
    assert_eq!(l.pause, Some(Number::Literal(2)));
    assert!(l.extended);
    for (keyword, plugin) in [
        ("with_list", "list"),
        ("with_dict", "dict"),
        ("with_fileglob", "fileglob"),
        ("with_together", "together"),
        ("with_nested", "nested"),
        ("with_subelements", "subelements"),
    ] {
        let t = task(&format!(
            "    - debug: var=item\n      {keyword}: \"{{{{ x }}}}\"\n"
        ));
        assert_eq!(t.loop_.unwrap().with.as_deref(), Some(plugin), "{keyword}");
    }
}

#[test]
fn loop_errors_are_located() {
    assert_eq!(
        errors(
            "- hosts: all\n  tasks:\n    - debug: msg=x\n      loop: [1]\n      loop_control: {loop_var: n, index: i}\n"
        ),
        "site.yaml:5:35: unknown `loop_control` keyword `index`, expected one of `loop_var`, \
         `index_var`, `label`, `pause`, `extended`, `extended_allitems`"
    );
    assert_eq!(
        errors(
            "- hosts: all\n  tasks:\n    - debug: msg=x\n      with_sequence: start=1 end=5 format=%02d-%d\n"
        ),
        "site.yaml:4:22: with_sequence: format `%02d-%d` must have exactly one `%` conversion"
    );
    assert_eq!(
        errors(
            "- hosts: all\n  tasks:\n    - debug: msg=x\n      with_sequence: [start=1 end=x]\n"
        ),
        "site.yaml:4:23: with_sequence: `end` must be an integer, got `x`"
    );
    assert_eq!(
        errors(
            "- hosts: all\n  tasks:\n    - debug: msg=x\n      loop: [1]\n      with_items: [2]\n"
        ),
        "site.yaml:5:7: a task takes one loop, found `loop` (line 4) and `with_items`"
    );
    assert_eq!(
        errors(
            "- hosts: all\n  tasks:\n    - debug: msg=x\n      loop: [1]\n      loop_control: {pause: soon}\n"
        ),
        "site.yaml:5:29: `pause` must be a whole number of zero or more, found `soon`"
    );
}

#[test]
fn every_action_parses() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/c.toml.j2"), "x").unwrap();
    std::fs::create_dir(dir.path().join("files")).unwrap();
    std::fs::write(dir.path().join("files/blob"), "x").unwrap();
    let path = dir.path().join("site.yaml");
    let text = "\
- hosts: all
  tasks:
    - template: {src: c.toml.j2, dest: /etc/c.toml, mode: \"0644\", owner: root, group: root, backup: yes}
    - copy: {content: \"a\\n\", dest: /etc/a}
    - copy: src=blob dest=/tmp/blob
    - fetch: {src: /etc/a, dest: out/, flat: true}
    - transfer: {from: \"{{ registry_node }}\", src: /backup/images.tar, dest: /backup/images.tar}
    - wait_for: {port: 6443, host: 127.0.0.1, timeout: 60}
    - wait_for: {path: /run/containerd/containerd.sock}
    - wait_for: {command: crictl info, state: started, sleep: 2}
    - assert: {that: [a, b], msg: nope}
    - fail: msg=stop
    - debug: {var: out.stdout, verbosity: 1}
    - set_fact: {x: \"{{ y }}\", cacheable: yes}
    - pause: {seconds: 3}
    - pause: {prompt: Continue?}
";
    let pb = parse_str(&path, text).unwrap_or_else(|e| panic!("{e}"));
    let t = &pb.plays[0].tasks;
    let Action::Template(tpl) = &t[0].action else {
        panic!()
    };
    assert_eq!(
        tpl.src_path.as_deref(),
        Some(dir.path().join("templates/c.toml.j2").as_path())
    );
    assert!(tpl.backup);
    assert_eq!(pb.template_files().len(), 1);
    let Action::Copy(Copy {
        source: CopySource::Src { src_path, .. },
        ..
    }) = &t[2].action
    else {
        panic!()
    };
    assert_eq!(
        src_path.as_deref(),
        Some(dir.path().join("files/blob").as_path())
    );
    let Action::Transfer(tr) = &t[4].action else {
        panic!()
    };
    assert_eq!(tr.from.value, "{{ registry_node }}");
    let Action::WaitFor(w) = &t[5].action else {
        panic!()
    };
    assert!(matches!(
        &w.target,
        WaitTarget::Port {
            port: Number::Literal(6443),
            ..
        }
    ));
    let Action::WaitFor(w) = &t[6].action else {
        panic!()
    };
    assert_eq!(w.state, WaitState::Present);
    let Action::WaitFor(w) = &t[7].action else {
        panic!()
    };
    assert!(matches!(&w.target, WaitTarget::Command(c) if c.value == "crictl info"));
    assert_eq!(w.state, WaitState::Started);
    let Action::Assert(a) = &t[8].action else {
        panic!()
    };
    assert_eq!(a.fail_msg.as_ref().unwrap().value, "nope");
    let Action::Debug(d) = &t[10].action else {
        panic!()
    };
    assert!(matches!(&d.what, DebugWhat::Var(e) if e.value == "out.stdout"));
    assert_eq!(d.verbosity, 1);
    let Action::SetFact(s) = &t[11].action else {
        panic!()
    };
    assert!(s.cacheable);
    assert_eq!(s.facts["x"].value, serde_json::json!("{{ y }}"));
    let names: Vec<&str> = t.iter().map(|t| t.action.name()).collect();
    assert_eq!(
        names,
        [
            "template", "copy", "copy", "fetch", "transfer", "wait_for", "wait_for", "wait_for",
            "assert", "fail", "debug", "set_fact", "pause", "pause"
        ]
    );
}

// Invalid input: each message exact, with file:line:column.

#[test]
fn typo_in_play_keyword_is_named_with_suggestion() {
    assert_eq!(
        errors("- hots: all\n  tasks: []\n"),
        "site.yaml:1:3: unknown play keyword `hots`; did you mean `hosts`?\n\
         site.yaml:1:3: a play needs `hosts` (a host pattern such as `all`)"
    );
}

#[test]
fn unknown_play_keyword_lists_the_known_ones() {
    let err = errors("- hosts: all\n  frobnicate: 1\n");
    assert!(
        err.starts_with(
            "site.yaml:2:3: unknown play keyword `frobnicate`, expected one of `name`, `hosts`,"
        ),
        "{err}"
    );
}

#[test]
fn a_missing_imported_playbook_is_located() {
    assert_eq!(
        errors("- import_playbook: other.yaml\n"),
        "site.yaml:1:20: `import_playbook`: playbook `./other.yaml` not found"
    );
}

#[test]
fn unknown_task_keyword_is_named_with_suggestion() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - shell: ls\n      whne: x\n"),
        "site.yaml:4:7: unknown action or task keyword `whne`; did you mean `when`?"
    );
}

#[test]
fn unknown_action_lists_the_actions() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - frobnicate: ls\n"),
        "site.yaml:3:7: unknown action or task keyword `frobnicate`; the actions are `shell`, `command`, \
         `template`, `copy`, `file`, `fetch`, `transfer`, `wait_for`, `assert`, `fail`, `debug`, `set_fact`, `pause`, `add_host`, `group_by`, `lineinfile`, `replace`, `blockinfile`, `stat`, `slurp`, `unarchive`, \
         `systemd_service`, `systemd`, `service`, `package`, `apt`, `dnf`, `yum`, `sysctl`, `modprobe`, `uri`, `meta`, `cron`, `mount`, `timezone`, `service_facts`"
    );
}

#[test]
fn unsupported_ansible_module_says_what_to_use() {
    assert_eq!(
        errors(
            "- hosts: all\n  tasks:\n    - ansible.builtin.raw: {name: kubelet, state: stopped}\n"
        ),
        "site.yaml:3:7: action `raw` is not supported: use `shell`"
    );
}

#[test]
fn two_actions_in_one_task() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - name: x\n      shell: ls\n      command: ls\n"),
        "site.yaml:5:7: a task takes exactly one action, found `shell` (line 4) and `command`"
    );
}

#[test]
fn task_without_action() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - name: nothing\n      when: x\n"),
        "site.yaml:3:7: a task needs an action, one of `shell`, `command`, `template`, `copy`, `file`, \
         `fetch`, `transfer`, `wait_for`, `assert`, `fail`, `debug`, `set_fact`, `pause`, `add_host`, `group_by`, `lineinfile`, `replace`, `blockinfile`, `stat`, `slurp`, `unarchive`, \
         `systemd_service`, `systemd`, `service`, `package`, `apt`, `dnf`, `yum`, `sysctl`, `modprobe`, `uri`, `meta`, `cron`, `mount`, `timezone`, `service_facts`"
    );
}

#[test]
fn missing_required_argument_points_at_the_action() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - name: t\n      fetch: {src: /etc/hosts}\n"),
        "site.yaml:4:7: `fetch` needs `dest`"
    );
}

#[test]
fn unknown_argument_is_named_with_suggestion() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - fetch: {src: /a, dst: /b}\n"),
        "site.yaml:3:7: `fetch` needs `dest`\n\
         site.yaml:3:24: unknown argument of `fetch` `dst`; did you mean `dest`?"
    );
}

#[test]
fn free_form_unknown_argument_has_its_column() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - file: path=/x stat=directory\n"),
        "site.yaml:3:21: unknown argument of `file` `stat`; did you mean `state`?"
    );
}

#[test]
fn free_form_word_that_is_not_key_value() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - file: /etc/x\n"),
        "site.yaml:3:13: `file` takes a mapping of arguments or `key=value` words, found `/etc/x`"
    );
}

#[test]
fn invalid_serial_values() {
    assert_eq!(
        errors("- hosts: all\n  serial: lots\n"),
        "site.yaml:2:11: invalid `serial` value `lots`: expected a number, a percentage such as \"30%\", or a list of them"
    );
    assert_eq!(
        errors("- hosts: all\n  serial: [1, -2]\n"),
        "site.yaml:2:15: invalid `serial` value `-2`: expected a number, a percentage such as \"30%\", or a list of them"
    );
    assert_eq!(
        errors("- hosts: all\n  serial: \"2.5%\"\n"),
        "site.yaml:2:11: invalid `serial` value `2.5%`: expected a number, a percentage such as \"30%\", or a list of them"
    );
    assert_eq!(
        errors("- hosts: all\n  serial: []\n"),
        "site.yaml:2:11: `serial` must not be an empty list; expected a number, a percentage such as \"30%\", or a list of them"
    );
}

#[test]
fn invalid_order() {
    assert_eq!(
        errors("- hosts: all\n  order: random\n"),
        "site.yaml:2:10: invalid `order` `random`, expected one of `inventory`, `reverse_inventory`, `sorted`, \
         `reverse_sorted`, `shuffle`"
    );
}

#[test]
fn missing_template_source_names_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.yaml");
    let err = parse_str(
        &path,
        "- hosts: all\n  tasks:\n    - template: {src: nope.j2, dest: /x}\n",
    )
    .unwrap_err();
    let d = dir.path().display();
    assert_eq!(
        err.to_string(),
        format!(
            "{d}/site.yaml:3:23: template source `nope.j2` not found (looked for `{d}/templates/nope.j2` and `{d}/nope.j2`)"
        )
    );
}

#[test]
fn templated_template_source_is_left_for_run_time() {
    let t = task("    - template: {src: \"{{ role }}.j2\", dest: /x}\n");
    let Action::Template(tpl) = &t.action else {
        panic!()
    };
    assert_eq!(tpl.src_path, None);
}

#[test]
fn bare_decimal_mode_is_refused() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - file: {path: /x, mode: 644}\n"),
        "site.yaml:3:30: `mode` must be an octal string such as \"0644\" or a symbolic mode (\"u+x\"); a bare number is read as decimal"
    );
}

#[test]
fn wrong_types_are_named() {
    assert_eq!(
        errors(
            "- hosts: all\n  tasks:\n    - shell: ls\n      ignore_errors: maybe\n      retries: many\n      register: 1x\n"
        ),
        "site.yaml:4:22: `ignore_errors` must be a boolean (true/false, yes/no), found `maybe`\n\
         site.yaml:5:16: `retries` must be a whole number of zero or more, found `many`\n\
         site.yaml:6:17: `register` must be a variable name (letters, digits, `_`), found `1x`"
    );
}

#[test]
fn all_problems_are_collected_across_plays() {
    let err = errors(
        "- hosts: all\n  tasks:\n    - shel: ls\n- hosts: all\n  serial: x\n  tasks:\n    - debug: {msg: a, var: b}\n",
    );
    assert_eq!(
        err,
        "site.yaml:3:7: unknown action or task keyword `shel`; did you mean `shell`?\n\
         site.yaml:5:11: invalid `serial` value `x`: expected a number, a percentage such as \"30%\", or a list of them\n\
         site.yaml:7:28: `debug` takes either `msg` or `var`, not both"
    );
}

// Ansible refuses a notify naming no handler ("The requested handler 'restart' was not
// found"); rtmig says where, before anything connects.
#[test]
fn a_notify_naming_no_handler_is_located() {
    assert_eq!(
        errors(
            "- hosts: all\n  handlers:\n    - name: reload\n      listen: web\n      shell: ls\n  tasks:\n    - shell: ls\n      notify: [reload, web, restart]\n"
        ),
        "site.yaml:8:29: handler `restart` not found: no handler of the play has this `name` or `listen`"
    );
}

#[test]
fn rescue_or_always_without_block_is_located() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - shell: ls\n      rescue:\n        - shell: ls\n"),
        "site.yaml:4:7: `rescue` needs a `block` in the same mapping"
    );
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - always: []\n"),
        "site.yaml:3:7: `always` needs a `block` in the same mapping"
    );
}

#[test]
fn a_block_with_an_action_or_an_unknown_keyword_is_refused() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - block:\n        - shell: ls\n      shell: ls\n"),
        "site.yaml:5:7: unknown block keyword `shell`: a block takes a list under `block` (an action goes in a task of it), and `rescue`, `always`, `name`, `when`, `become`, `become_user`, `become_method`, `tags`, `delegate_to`, `vars`, `environment`, `ignore_errors`, `no_log`, `check_mode`, `any_errors_fatal`"
    );
}

#[test]
fn unsupported_meta_is_located() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - meta: refresh_inventory\n    - meta: flush\n"),
        "site.yaml:3:13: `meta: refresh_inventory` is not supported: rtmig reads the inventory once; use `add_host`\n\
         site.yaml:4:13: unknown `meta` action `flush`, expected one of `flush_handlers`, `end_play`, `end_host`, `noop`"
    );
}

#[test]
fn blocks_are_flattened_with_their_keywords_inherited() {
    let pb = parse(
        "\
- hosts: all
  pre_tasks:
    - shell: pre
  tasks:
    - name: outer
      when: a
      become: true
      tags: [t1]
      vars: {x: 1}
      ignore_errors: true
      any_errors_fatal: true
      block:
        - shell: b0
          when: b
          become: false
        - block:
            - shell: b1
          rescue:
            - shell: r1
          always:
            - shell: a1
              ignore_errors: false
      rescue:
        - shell: r0
      always:
        - meta: flush_handlers
  handlers:
    - name: h
      listen: [web]
      shell: h
",
    );
    let play = &pb.plays[0];
    let names: Vec<String> = play
        .tasks
        .iter()
        .map(|t| match &t.action {
            Action::Shell(c) => c.cmd.value.clone(),
            other => other.name().to_string(),
        })
        .collect();
    assert_eq!(names, ["pre", "b0", "b1", "r1", "a1", "r0", "meta"]);
    assert_eq!(play.flush_points, vec![1, 7, 7]);
    let b = &play.blocks;
    assert_eq!(b.len(), 2);
    assert_eq!((b[0].name.as_deref(), b[0].parent), (Some("outer"), None));
    assert_eq!(
        [b[0].start, b[0].rescue, b[0].always, b[0].end],
        [1, 5, 6, 7]
    );
    assert_eq!(b[1].parent, Some(0));
    assert_eq!(
        [b[1].start, b[1].rescue, b[1].always, b[1].end],
        [2, 3, 4, 5]
    );
    let blocks: Vec<Option<usize>> = play.tasks.iter().map(|t| t.block).collect();
    assert_eq!(
        blocks,
        [None, Some(0), Some(1), Some(1), Some(1), Some(0), Some(0)]
    );
    let b0 = &play.tasks[1];
    let when: Vec<&str> = b0.when.iter().map(|w| w.value.as_str()).collect();
    assert_eq!(when, ["a", "b"]);
    assert_eq!(b0.become_, Some(false));
    assert_eq!(b0.tags, ["t1"]);
    assert!(b0.vars.contains_key("x"));
    assert!(b0.ignore_errors);
    assert_eq!(b0.any_errors_fatal, Some(true));
    assert_eq!(play.tasks[0].any_errors_fatal, None);
    assert_eq!(play.tasks[3].become_, Some(true));
    assert!(
        !play.tasks[4].ignore_errors,
        "a task's own ignore_errors wins"
    );
    assert!(matches!(
        play.tasks[6].action,
        Action::Meta(Meta::FlushHandlers)
    ));
    assert_eq!(play.handlers.len(), 1);
    assert_eq!(play.handlers[0].listen, ["web"]);
    assert_eq!(play.handlers_for("web"), [0]);
    assert_eq!(play.handlers_for("h"), [0]);
}

#[test]
fn wait_for_needs_one_target() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - wait_for: {timeout: 5}\n"),
        "site.yaml:3:7: `wait_for` needs one of `port`, `path`, `command` (to only wait, use `pause`)"
    );
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - wait_for: {port: 1, path: /x}\n"),
        "site.yaml:3:7: `wait_for` takes one of `port`, `path`, `command`, found `port`, `path`"
    );
}

#[test]
fn copy_needs_exactly_one_source() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - copy: {dest: /x}\n"),
        "site.yaml:3:7: `copy` needs `content` or `src`"
    );
}

#[test]
fn transfer_cannot_be_delegated() {
    assert_eq!(
        errors(
            "- hosts: all\n  tasks:\n    - transfer: {from: a, src: /x, dest: /x}\n      delegate_to: b\n"
        ),
        "site.yaml:3:7: `transfer` cannot be delegated: it copies from `from` to the task's host"
    );
}

#[test]
fn a_playbook_must_be_a_list_of_plays() {
    assert_eq!(
        errors("hosts: all\n"),
        "site.yaml:1:1: a playbook must be a list of plays, found a mapping"
    );
    assert_eq!(
        errors(""),
        "site.yaml:1:1: the playbook is empty; expected a list of plays"
    );
}

#[test]
fn yaml_syntax_errors_keep_their_place() {
    let err = parse_str(Path::new("site.yaml"), "- hosts: all\n  hosts: x\n").unwrap_err();
    assert_eq!(err.0[0].position, Some((2, 3)));
    assert!(err.0[0].message.contains("duplicate"), "{err}");
}

#[test]
fn loop_control_without_loop() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - debug: msg=x\n      loop_control: {loop_var: n}\n"),
        "site.yaml:4:7: `loop_control` needs `loop`"
    );
}

#[test]
fn yaml_anchors_share_a_task_list_between_plays() {
    let pb = parse(
        "- hosts: workers\n  vars: &v {a: 1}\n  tasks: &steps\n    - name: one\n      shell: echo 1\n- hosts: masters\n  vars: *v\n  tasks: *steps\n",
    );
    assert_eq!(pb.plays[1].tasks[0].display_name(), "one");
    assert_eq!(pb.plays[1].vars["a"].value, serde_json::json!(1));
    // The shared tasks keep the place where they are written.
    assert_eq!(pb.plays[1].tasks[0].location, pb.plays[0].tasks[0].location);
}

// The corpus: tests/corpus/playbook/valid/*.yaml must load; each invalid/NAME.yaml must
// fail with exactly the messages in invalid/NAME.err (`RTMIG_BLESS=1` rewrites them,
// to be reviewed before committing).

fn corpus(kind: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new("tests/corpus/playbook").join(kind);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no playbooks in {}", dir.display());
    files
}

#[test]
fn corpus_valid_playbooks_load() {
    for path in corpus("valid") {
        if let Err(e) = load(&path) {
            panic!("{}:\n{e}", path.display());
        }
    }
}

#[test]
fn corpus_invalid_playbooks_fail_with_the_expected_messages() {
    let bless = std::env::var_os("RTMIG_BLESS").is_some();
    for path in corpus("invalid") {
        let got = match load(&path) {
            Ok(_) => panic!("{} loaded without errors", path.display()),
            Err(e) => format!("{e}\n"),
        };
        let expected_path = path.with_extension("err");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        assert_eq!(got, expected, "{}", path.display());
    }
}

#[test]
fn corpus_ansible_style_playbook_reads_as_ansible_would() {
    let pb = load(Path::new("tests/corpus/playbook/valid/ansible-style.yaml")).unwrap();
    let play = &pb.plays[0];
    assert_eq!(play.hosts.value, "web:&prod");
    assert_eq!(
        play.serial.as_ref().unwrap().items,
        [SerialItem::Percent(30)]
    );
    assert_eq!(play.become_, Some(true));
    let Action::Template(t) = &play.tasks[2].action else {
        panic!()
    };
    assert_eq!(t.mode.as_ref().unwrap().value, "0640");
    let check = &play.tasks[6];
    // `<<: *retry` merged the retry settings into the task.
    assert_eq!(
        (check.retries.clone(), check.delay.clone()),
        (Some(Number::Literal(5)), Some(Number::Literal(2)))
    );
    assert_eq!(play.tasks[7].display_name(), "debug");
}

// `--resume` names a task whose content changed: its digest follows what it says, not
// where it is or how it is spelled.
#[test]
fn a_task_digest_follows_its_content_not_its_spelling() {
    let a = task("    - name: x\n      shell: echo 1\n      when: true\n");
    let moved = task(
        "\n\n    # a comment\n    - when: true   # same\n      name: x\n      shell: echo 1\n",
    );
    let changed = task("    - name: x\n      shell: echo 2\n      when: true\n");
    assert_eq!(a.digest.len(), 64);
    assert_eq!(a.digest, moved.digest);
    assert_ne!(a.digest, changed.digest);
}

#[test]
fn add_host_takes_aliases_groups_and_host_vars() {
    let t = task(
        "    - add_host:\n        hostname: \"{{ found }}:2222\"\n        groups: [registry, \"{{ extra }}\"]\n        ansible_user: core\n",
    );
    let Action::AddHost(a) = &t.action else {
        panic!("{:?}", t.action)
    };
    assert_eq!(a.name.value, "{{ found }}:2222");
    assert_eq!(
        a.groups.as_ref().map(|g| g.value.clone()),
        Some(serde_json::json!(["registry", "{{ extra }}"]))
    );
    assert_eq!(a.vars.keys().collect::<Vec<_>>(), ["ansible_user"]);
    assert!(t.action.bypasses_host_loop() && t.action.changes_inventory());
    // Free form, as Ansible users write it too.
    let t = task("    - add_host: name=db1 group=databases\n");
    let Action::AddHost(a) = &t.action else {
        panic!()
    };
    assert_eq!(a.name.value, "db1");
    assert_eq!(
        a.groups.as_ref().unwrap().value,
        serde_json::json!("databases")
    );
}

#[test]
fn add_host_needs_one_name() {
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - add_host: {groups: x}\n"),
        "site.yaml:3:7: `add_host` needs `name`"
    );
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - add_host: {name: a, host: b}\n"),
        "site.yaml:3:7: `add_host` takes one of `name`, `host`, `hostname`, not several"
    );
}

#[test]
fn group_by_takes_key_and_parents_only() {
    let t = task("    - group_by: {key: \"os_{{ ansible_facts.os_family }}\", parents: linux}\n");
    let Action::GroupBy(g) = &t.action else {
        panic!()
    };
    assert_eq!(g.key.value, "os_{{ ansible_facts.os_family }}");
    assert!(!t.action.bypasses_host_loop());
    let e = errors("- hosts: all\n  tasks:\n    - group_by: {key: x, parent: y}\n");
    assert_eq!(
        e,
        "site.yaml:3:26: unknown argument of `group_by` `parent`; did you mean `parents`?"
    );
    assert_eq!(
        errors("- hosts: all\n  tasks:\n    - group_by: {parents: y}\n"),
        "site.yaml:3:7: `group_by` needs `key`"
    );
}

/// tests/fixtures/vault/playbook.yml: `play_secret: !vault |` (1.1, vault id default).
fn vault_playbook() -> (PathBuf, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault");
    let text = std::fs::read_to_string(dir.join("playbook.yml")).unwrap();
    (dir, text)
}

fn vault_with(password_file: &str) -> crate::parse::vault::Decryption {
    use crate::parse::vault::{Decryption, Secret, Vault};
    let (dir, _) = vault_playbook();
    let password = std::fs::read_to_string(dir.join(password_file)).unwrap();
    Decryption::new(std::sync::Arc::new(Vault::new(vec![Secret::new(
        "default",
        password.trim(),
    )])))
}

#[test]
fn a_vault_value_in_play_vars_is_decrypted_and_not_checked_as_a_template() {
    let (_, text) = vault_playbook();
    let decryption = vault_with("default.pass");
    let pb = parse_with(Path::new("site.yaml"), &text, &decryption).unwrap();
    let var = &pb.plays[0].vars["play_secret"];
    assert_eq!(var.value, "play-plaintext-1-1");
    assert!(var.strings.is_empty(), "{:?}", var.strings);
    assert_eq!(decryption.vault.revealed(), ["play-plaintext-1-1"]);
}

#[test]
fn a_vault_value_in_play_vars_without_the_right_password_is_located() {
    let (_, text) = vault_playbook();
    let err = parse_str(Path::new("site.yaml"), &text)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "site.yaml:5:18: vault-encrypted value and no vault password given (use --vault-password-file or --ask-vault-pass)"
    );
    let err = parse_with(Path::new("site.yaml"), &text, &vault_with("prod.pass"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "site.yaml:5:18: decryption failed: no vault secret (vault ids tried: default) could decrypt it"
    );
}

#[test]
fn a_vault_value_where_a_string_is_expected_says_so() {
    let err = errors(
        "- hosts: all\n  tasks:\n    - shell: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6162\n",
    );
    assert!(err.contains("a vault-encrypted value"), "{err}");
}

#[test]
fn vars_files_are_read_at_parse_time_and_override_play_vars() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault");
    std::fs::create_dir(dir.join("vars")).unwrap();
    std::fs::write(
        dir.join("vars/common.yml"),
        "b: from-file\nc: \"{{ a }}\"\n",
    )
    .unwrap();
    std::fs::copy(fixtures.join("vars-1.1.yml"), dir.join("vars/secret.yml")).unwrap();
    let site = dir.join("site.yaml");
    let text = "- hosts: all\n  vars:\n    a: 1\n    b: play\n  vars_files:\n    - vars/common.yml\n    - vars/secret.yml\n  tasks: []\n";
    let decryption = vault_with("default.pass");
    let pb = parse_with(&site, text, &decryption).unwrap_or_else(|e| panic!("{e}"));
    let vars = &pb.plays[0].vars;
    assert_eq!(vars["a"].value, 1);
    assert_eq!(vars["b"].value, "from-file");
    assert_eq!(vars["whole_file_secret"].value, "file-plaintext-1-1");
    // A template in a vars file is checked where it is written.
    assert_eq!(
        vars["c"].strings[0].location,
        Location::new(dir.join("vars/common.yml"), 2, 4)
    );
    assert!(vars["whole_file_secret"].strings.is_empty());
    assert_eq!(decryption.vault.revealed(), ["file-plaintext-1-1"]);

    let err = parse_str(&site, text).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:1:1: vault-encrypted file and no vault password given (use --vault-password-file or --ask-vault-pass)",
            dir.join("vars/secret.yml").display()
        )
    );
}

#[test]
fn a_missing_vars_file_is_an_error_at_its_entry_and_a_templated_one_read_at_run_time() {
    let err = errors(
        "- hosts: all\n  vars_files:\n    - vars/nonexistent.yml\n    - \"vars/{{ env }}.yml\"\n  tasks: []\n",
    );
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with("site.yaml:3:7: cannot read vars file `./vars/nonexistent.yml`: "),
        "{err}"
    );
    // A templated one is read per host when the play starts.
    assert_eq!(lines.len(), 1, "{err}");
    let pb = parse("- hosts: all\n  vars_files: [\"vars/{{ env }}.yml\"]\n  tasks: []\n");
    let t = &pb.plays[0].tasks[0];
    assert_eq!(t.display_name(), "vars_files vars/{{ env }}.yml");
    assert!(matches!(&t.action, Action::IncludeVars(i) if i.vars.is_none()));
}

#[test]
fn file_modules_take_ansibles_arguments_and_aliases() {
    let t = task(
        "    - ansible.builtin.lineinfile:\n        dest: /etc/ssh/sshd_config\n        regex: '^#?Port '\n        value: Port 2222\n        insertafter: EOF\n        mode: '0600'\n",
    );
    let Action::LineInFile(l) = &t.action else {
        panic!("not lineinfile: {:?}", t.action)
    };
    assert_eq!(l.path.value, "/etc/ssh/sshd_config");
    assert_eq!(l.regexp.as_ref().unwrap().value, "^#?Port ");
    assert_eq!(l.line.as_ref().unwrap().value, "Port 2222");
    assert!(l.present && !l.create && !l.backrefs);
    let t = task("    - stat: path=/etc/hosts get_checksum=no\n");
    let Action::Stat(s) = &t.action else {
        panic!("not stat")
    };
    assert!(!s.get_checksum);
    let t = task(
        "    - command:\n        argv: [echo, 'a b']\n        stdin: x\n        stdin_add_newline: false\n",
    );
    let Action::Command(c) = &t.action else {
        panic!("not command")
    };
    assert_eq!(c.argv.len(), 2);
    assert!(!c.stdin_add_newline);
}

#[test]
fn file_modules_bad_arguments_are_located() {
    let play = |task: &str| errors(&format!("- hosts: all\n  tasks:\n    - {task}\n"));
    assert_eq!(
        play("lineinfile: {path: /f, line: x, insertafter: a, insertbefore: b}"),
        "site.yaml:3:55: `lineinfile` takes `insertbefore` or `insertafter`, not both (parameters are mutually exclusive: insertbefore|insertafter)"
    );
    assert_eq!(
        play("lineinfile: {path: /f}"),
        "site.yaml:3:7: `lineinfile` needs `line`"
    );
    assert_eq!(
        play("lineinfile: {line: x}"),
        "site.yaml:3:7: `lineinfile` needs `path`"
    );
    assert_eq!(
        play("lineinfile: {path: /f, line: x, regexp: '(?<=a)b'}"),
        "site.yaml:3:47: invalid regular expression `(?<=a)b`: regex parse error:\n    (?<=a)b\n    ^^^^\nerror: look-around, including look-ahead and look-behind, is not supported"
    );
    assert_eq!(
        play("replace: {path: /f, regexp: x, validate: visudo -cf}"),
        "site.yaml:3:48: `validate` must contain %s: visudo -cf"
    );
    assert_eq!(
        play("replace: {path: /f, replace: x}"),
        "site.yaml:3:7: `replace` needs `regexp`"
    );
    assert_eq!(
        play("blockinfile: {path: /f, state: gone}"),
        "site.yaml:3:38: `state` of `blockinfile` must be one of `present`, `absent`, found `gone`"
    );
    assert_eq!(
        play("slurp: {src: /f, encoding: base64}"),
        "site.yaml:3:24: unknown argument of `slurp` `encoding`, expected one of `src`, `path`"
    );
    assert_eq!(
        play("command: {cmd: ls, argv: [ls]}"),
        "site.yaml:3:32: `command` takes one of a free-form command, `cmd` and `argv` (parameters are mutually exclusive)"
    );
}

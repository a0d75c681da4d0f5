//! Roles, `import_tasks` and `import_playbook` through the real binary on hosts reached
//! with `ansible_connection: local`: what lands on disk follows Ansible's precedence
//! (the expected files are what ansible-playbook 2.21 wrote for the same fixture).

mod support;

use support::Workspace;

/// The fixture `tests/fixtures/roles` in a workspace, with an inventory of two hosts
/// (n1 overrides the role default `port`).
fn roles_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.copy_fixture("tests/fixtures/roles", "site");
    ws.write(
        "site/inventory.yaml",
        &format!(
            "all:\n  vars:\n    ansible_connection: local\n    out: {}\n  children:\n    nodes:\n      hosts:\n        n1: {{port: 8080}}\n        n2:\n",
            ws.path("out").display()
        ),
    );
    ws
}

#[test]
fn a_role_with_defaults_vars_templates_files_and_a_dependency_leaves_ansibles_files() {
    let ws = roles_workspace();
    let run = ws
        .rtmig()
        .args(["run", "-i", "site/inventory.yaml", "site/site.yml"])
        .output()
        .expect_code(0);
    let expect = [
        (
            "n1",
            "port=8080 listen=0.0.0.0:8080 colour=role-colour greeting=param role=web\n",
            "listen=0.0.0.0:8080 colour=role-colour suffix=imported\n",
        ),
        (
            "n2",
            "port=80 listen=0.0.0.0:80 colour=role-colour greeting=param role=web\n",
            "listen=0.0.0.0:80 colour=role-colour suffix=imported\n",
        ),
    ];
    for (host, page, after) in expect {
        assert_eq!(ws.read(&format!("out/{host}/page")), page);
        assert_eq!(ws.read(&format!("out/{host}/after")), after);
        assert_eq!(ws.read(&format!("out/{host}/base")), "base\n");
        assert_eq!(ws.read(&format!("out/{host}/blob")), "from the role\n");
        // include_vars, nested under `name`, rendered for the host.
        assert_eq!(
            ws.read(&format!("out/{host}/motd")),
            format!("hello {host}\n")
        );
        // include_tasks with a loop: its tasks once per letter, with the include's vars.
        assert_eq!(ws.read(&format!("out/{host}/item-a")), "inc-a\n");
        assert_eq!(ws.read(&format!("out/{host}/item-b")), "inc-b\n");
        assert_eq!(ws.read(&format!("out/{host}/runs")), "a\nb\n");
    }
    // include_role with `when`: on n1 only.
    assert_eq!(ws.read("out/n1/other"), "other 8080 web\n");
    assert!(!ws.path("out/n2/other").exists());
    // The dependency first, then the role, then the play's tasks.
    let out = run.stdout();
    let at = |s: &str| out.find(s).unwrap_or_else(|| panic!("{s} not in {out}"));
    assert!(at("base writes its mark") < at("web page from the role's template"));
    assert!(at("web page from the role's template") < at("a play task sees the role's"));
    // A rerun changes nothing.
    let again = ws
        .rtmig()
        .args(["run", "-i", "site/inventory.yaml", "site/site.yml"])
        .output()
        .expect_code(0);
    // The fixture's shell tasks report changed, as Ansible's do; nothing else does.
    assert!(
        again.stdout().contains("n2 : ok=14   changed=4 "),
        "{}",
        again.stdout()
    );
}

#[test]
fn resume_does_not_repeat_included_tasks_that_finished() {
    let ws = roles_workspace();
    std::fs::create_dir_all(ws.path("out")).expect("out");
    ws.write("out/stop-b", "");
    let first = ws
        .rtmig()
        .args(["run", "-i", "site/inventory.yaml", "site/site.yml"])
        .output()
        .expect_code(2);
    assert!(
        first
            .stdout()
            .contains("failed: [n1] fails while a stop file is there"),
        "{}",
        first.stdout()
    );
    assert_eq!(ws.read("out/n1/runs"), "a\nb\n");
    assert!(!ws.path("out/n1/other").exists());
    std::fs::remove_file(ws.path("out/stop-b")).expect("rm");
    ws.rtmig()
        .args([
            "run",
            "-i",
            "site/inventory.yaml",
            "site/site.yml",
            "--resume",
        ])
        .output()
        .expect_code(0);
    // Letter a's tasks and letter b's first two are not run again.
    for host in ["n1", "n2"] {
        assert_eq!(ws.read(&format!("out/{host}/runs")), "a\nb\n", "{host}");
    }
    assert_eq!(ws.read("out/n1/other"), "other 8080 web\n");
    // Each run of an included task is journaled with its iteration.
    // The run dir is beside the inventory.
    let runs = support::runs_in(&ws.path("site"));
    assert_eq!(runs.len(), 1);
    let journal = support::journal(&runs[0]);
    let done_b: Vec<_> = journal
        .iter()
        .filter(|r| {
            r["t"] == "done" && r["host"] == "n1" && r["iteration"] == serde_json::json!([1])
        })
        .collect();
    assert_eq!(done_b.len(), 4, "{done_b:#?}");
}

#[test]
fn a_missing_role_is_located_before_any_host_is_touched() {
    let ws = roles_workspace();
    ws.write(
        "site/broken.yml",
        "- hosts: nodes\n  gather_facts: false\n  pre_tasks:\n    - file: {path: \"{{ out }}\", state: directory}\n  roles: [nosuch]\n",
    );
    let run = ws
        .rtmig()
        .args(["run", "-i", "site/inventory.yaml", "site/broken.yml"])
        .output();
    assert_ne!(run.code(), 0);
    assert!(
        run.stderr()
            .contains("broken.yml:5:11: role `nosuch` not found"),
        "{}",
        run.stderr()
    );
    assert!(!ws.path("out").exists());
}

#[test]
fn a_templated_vars_file_is_read_per_host_when_the_play_starts() {
    let ws = roles_workspace();
    ws.write("site/vars/n1.yml", "motd: one\n");
    ws.write("site/vars/n2.yml", "motd: two\n");
    ws.write(
        "site/per-host.yml",
        "- hosts: nodes\n  gather_facts: false\n  vars_files: [\"vars/{{ inventory_hostname }}.yml\"]\n  tasks:\n    - file: {path: \"{{ out }}\", state: directory}\n    - copy: {content: \"{{ motd }}\\n\", dest: \"{{ out }}/{{ inventory_hostname }}.motd\"}\n",
    );
    ws.rtmig()
        .args(["run", "-i", "site/inventory.yaml", "site/per-host.yml"])
        .output()
        .expect_code(0);
    assert_eq!(ws.read("out/n1.motd"), "one\n");
    assert_eq!(ws.read("out/n2.motd"), "two\n");
}

/// `validate`'s undefined-variable check knows what roles, includes and include_vars
/// define (their defaults and vars, an include's vars and loop variable): the fixture is
/// clean, and a typo in an included file is still named at its place.
#[test]
fn validate_knows_the_variables_of_roles_includes_and_include_vars() {
    let ws = roles_workspace();
    ws.rtmig()
        .args(["validate", "-i", "site/inventory.yaml", "site/site.yml"])
        .output()
        .expect_code(0);
    let per_item = ws.read("site/tasks/per-item.yml");
    ws.write(
        "site/tasks/per-item.yml",
        &per_item.replacen("{{ letter }}", "{{ leter }}", 1),
    );
    let out = ws
        .rtmig()
        .args(["validate", "-i", "site/inventory.yaml", "site/site.yml"])
        .output()
        .expect_code(1);
    let err = out.stderr();
    assert!(
        err.contains("tasks/per-item.yml:2:") && err.contains("`leter` is undefined"),
        "{err}"
    );
    assert_eq!(err.matches("is undefined").count(), 1, "{err}");
}

/// A role's handlers join the play's (before its own, as Ansible orders them): notified
/// from the role's tasks and the play's, each runs once at the flush, with the role's
/// defaults; a rerun that changes nothing notifies nothing.
/// `site/inventory.yaml`: one host, n1, on the local connection.
fn one_local_host(ws: &Workspace) {
    ws.write(
        "site/inventory.yaml",
        "all:\n  vars:\n    ansible_connection: local\n  hosts:\n    n1:\n",
    );
}

#[test]
fn a_roles_handlers_run_once_with_the_roles_variables() {
    let ws = Workspace::new();
    let log = ws.path("log");
    one_local_host(&ws);
    ws.write("site/roles/svc/defaults/main.yml", "greeting: hi\n");
    ws.write(
        "site/roles/svc/tasks/main.yml",
        &format!(
            "- name: config\n  copy: {{content: \"a\\n\", dest: \"{}/conf\"}}\n  notify: restart svc\n",
            ws.path("").display()
        ),
    );
    ws.write(
        "site/roles/svc/handlers/main.yml",
        &format!(
            "- name: restart svc\n  shell: echo restart {{{{ greeting }}}} >> {}\n",
            log.display()
        ),
    );
    ws.write(
        "site/site.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  roles: [svc]\n  tasks:\n    - name: more config\n      copy: {{content: \"b\\n\", dest: \"{}/conf2\"}}\n      notify: [restart svc, own]\n  handlers:\n    - name: own\n      shell: echo own >> {}\n",
            ws.path("").display(),
            log.display()
        ),
    );
    let run = || {
        ws.rtmig()
            .args(["run", "-i", "site/inventory.yaml", "site/site.yml"])
            .output()
            .expect_code(0)
    };
    run();
    assert_eq!(ws.read("log"), "restart hi\nown\n");
    run();
    assert_eq!(ws.read("log"), "restart hi\nown\n");
}

/// Handlers that share a name, as ansible-playbook 2.21 runs them (the expected logs are
/// its own, for these very files): a name notifies one handler, the first of the play's
/// own list, else of the last role's list; a `listen` topic notifies every listener,
/// one per handler name. rtmig ran every handler of the name.
#[test]
fn handlers_sharing_a_name_run_as_ansible_picks_them() {
    let ws = Workspace::new();
    let log = ws.path("log");
    let log = log.display();
    one_local_host(&ws);
    for r in ["a", "b"] {
        ws.write(
            &format!("site/roles/{r}/handlers/main.yml"),
            &format!(
                "- name: restart\n  shell: echo role-{r} >> {log}\n- name: restart\n  shell: echo role-{r}-2 >> {log}\n"
            ),
        );
        ws.write(
            &format!("site/roles/{r}/tasks/main.yml"),
            "- shell: 'true'\n",
        );
    }
    ws.write(
        "site/own.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  handlers:\n\
             \x20   - name: restart\n      shell: echo first >> {log}\n\
             \x20   - name: restart\n      shell: echo second >> {log}\n\
             \x20   - name: web a\n      listen: web\n      shell: echo web-a1 >> {log}\n\
             \x20   - name: web a\n      listen: web\n      shell: echo web-a2 >> {log}\n\
             \x20   - listen: web\n      shell: echo web-unnamed1 >> {log}\n\
             \x20   - listen: web\n      shell: echo web-unnamed2 >> {log}\n\
             \x20 tasks:\n    - name: change\n      shell: 'true'\n      notify: [restart, web]\n"
        ),
    );
    ws.rtmig()
        .args(["run", "-i", "site/inventory.yaml", "site/own.yml"])
        .output()
        .expect_code(0);
    assert_eq!(
        ws.read("log"),
        "first\nweb-a1\nweb-unnamed1\nweb-unnamed2\n"
    );
    std::fs::remove_file(ws.path("log")).unwrap();
    ws.write(
        "site/roles.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  roles: [a, b]\n  tasks:\n\
             \x20   - name: change\n      shell: 'true'\n      notify: restart\n\
             - hosts: all\n  gather_facts: false\n  roles: [a, b]\n  handlers:\n\
             \x20   - name: restart\n      shell: echo play >> {log}\n\
             \x20 tasks:\n    - name: change\n      shell: 'true'\n      notify: [restart, \"a : restart\"]\n"
        ),
    );
    ws.rtmig()
        .args(["run", "-i", "site/inventory.yaml", "site/roles.yml"])
        .output()
        .expect_code(0);
    assert_eq!(ws.read("log"), "role-b\nrole-a\nplay\n");
}

/// A role's handler that is a `command` gets the play's `environment` (znz's timesyncd
/// role runs `timedatectl` from a handler; rtmig ran it without the play's PATH).
#[test]
fn a_handlers_command_has_the_plays_environment() {
    let ws = Workspace::new();
    one_local_host(&ws);
    let out = ws.path("out");
    ws.write(
        "site/roles/r/tasks/main.yml",
        &format!(
            "- copy: {{content: \"a\\n\", dest: \"{}\"}}\n  notify: h\n",
            ws.path("conf").display()
        ),
    );
    ws.write(
        "site/roles/r/handlers/main.yml",
        &format!(
            "- name: h\n  command: sh -c 'echo $GREETING > {}'\n",
            out.display()
        ),
    );
    ws.write(
        "site/site.yml",
        "- hosts: all\n  gather_facts: false\n  environment: {GREETING: from-play}\n  roles: [r]\n",
    );
    ws.rtmig()
        .args(["run", "-i", "site/inventory.yaml", "site/site.yml"])
        .output()
        .expect_code(0);
    assert_eq!(ws.read("out"), "from-play\n");
}

/// Blocks inside a role's tasks and an imported file, the import itself inside a play's
/// block: a role task's failure is rescued in the role, the imported block's `always`
/// runs, an unrescued failure in the imported file goes to the play's rescue. The log
/// and `rescued=2` are what ansible-playbook 2.21 gives for the same files.
#[test]
fn blocks_inside_roles_and_imported_files_follow_ansibles_rules() {
    let ws = Workspace::new();
    let log = ws.path("log");
    let l = log.display();
    one_local_host(&ws);
    ws.write(
        "site/roles/r/tasks/main.yml",
        &format!(
            "- block:\n    - name: role fails\n      shell: \"false\"\n  rescue:\n    - shell: echo role-rescued {{{{ who }}}} >> {l}\n"
        ),
    );
    ws.write("site/roles/r/defaults/main.yml", "who: r\n");
    ws.write(
        "site/more.yml",
        &format!(
            "- block:\n    - shell: echo imported >> {l}\n  always:\n    - shell: echo imported-always >> {l}\n- name: imported fails\n  shell: \"false\"\n"
        ),
    );
    ws.write(
        "site/site.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  roles: [r]\n  tasks:\n    - block:\n        - import_tasks: more.yml\n        - shell: echo not-reached >> {l}\n      rescue:\n        - shell: echo play-rescued {{{{ ansible_failed_task.name }}}} >> {l}\n    - shell: echo after >> {l}\n"
        ),
    );
    let out = ws
        .rtmig()
        .args(["run", "-i", "site/inventory.yaml", "site/site.yml"])
        .output()
        .expect_code(0);
    assert!(out.stdout().contains("rescued=2"), "{}", out.stdout());
    assert_eq!(
        ws.read("log"),
        "role-rescued r\nimported\nimported-always\nplay-rescued imported fails\nafter\n"
    );
}

/// A role's tasks and handlers are shown as Ansible's output shows them, `ROLE : NAME`
/// (an unnamed one `ROLE : ACTION`), the play's own tasks without a prefix; a handler is
/// also notified, and a run started with `--start-at-task`, by that shown name (Ansible's
/// `Task.get_name()`). The names are what ansible-playbook 2.21 printed for these files.
#[test]
fn a_roles_tasks_and_handlers_are_shown_and_found_as_role_colon_name() {
    let ws = Workspace::new();
    let log = ws.path("log");
    one_local_host(&ws);
    ws.write(
        "site/roles/svc/tasks/main.yml",
        &format!(
            "- name: first\n  shell: echo first >> {log}\n- name: config\n  copy: {{content: \"a\\n\", dest: \"{}\"}}\n  notify: \"svc : restart\"\n- debug: {{msg: unnamed}}\n",
            ws.path("conf").display(),
            log = log.display()
        ),
    );
    ws.write(
        "site/roles/svc/handlers/main.yml",
        &format!(
            "- name: restart\n  shell: echo restart >> {}\n",
            log.display()
        ),
    );
    ws.write(
        "site/site.yml",
        "- hosts: all\n  gather_facts: false\n  roles: [svc]\n  tasks:\n    - name: own\n      debug: {msg: own}\n",
    );
    let run = ws
        .rtmig()
        .args(["run", "-i", "site/inventory.yaml", "site/site.yml"])
        .output()
        .expect_code(0);
    let out = run.stdout();
    for line in [
        "changed: [n1] svc : first",
        "changed: [n1] svc : config",
        "ok: [n1] svc : debug => unnamed",
        "ok: [n1] own => own",
        "changed: [n1] svc : restart",
    ] {
        assert!(out.lines().any(|l| l == line), "no `{line}` in:\n{out}");
    }
    assert_eq!(ws.read("log"), "first\nrestart\n");

    std::fs::remove_file(ws.path("conf")).expect("conf");
    ws.rtmig()
        .args([
            "run",
            "-i",
            "site/inventory.yaml",
            "site/site.yml",
            "--start-at-task",
            "svc : config",
        ])
        .output()
        .expect_code(0);
    // `first` did not run again; the config changed again and notified the handler.
    assert_eq!(ws.read("log"), "first\nrestart\nrestart\n");
}

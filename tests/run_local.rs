//! `rtmig run` end to end through the real binary, on hosts reached with
//! `ansible_connection: local` (the controller itself): files written, registered
//! values, failures, check mode, the journal, per-host logs, and resume.

mod support;

use support::Workspace;

fn inventory(ws: &Workspace, hosts: &[&str]) -> std::path::PathBuf {
    let mut s = String::from(
        "all:\n  vars:\n    ansible_connection: local\n  children:\n    nodes:\n      hosts:\n",
    );
    for h in hosts {
        s.push_str(&format!("        {h}:\n"));
    }
    ws.write("inventory.yaml", &s)
}

const SITE: &str = r#"
- name: configure
  hosts: nodes
  gather_facts: false
  vars:
    out: "{{ vars_out | default('/nonexistent') }}"
  tasks:
    - name: make the host's folder
      file:
        path: "{{ out }}/{{ inventory_hostname }}"
        state: directory
    - name: write a config from a template
      template:
        src: app.conf.j2
        dest: "{{ out }}/{{ inventory_hostname }}/app.conf"
        mode: "0640"
    - name: count runs
      shell: echo run >> {{ out }}/{{ inventory_hostname }}/count; wc -l < {{ out }}/{{ inventory_hostname }}/count
      register: counted
    - name: show it
      debug:
        msg: "{{ inventory_hostname }} ran {{ counted.stdout | trim }} times"
    - name: loop over items
      shell: echo {{ item }} >> {{ out }}/{{ inventory_hostname }}/items
      loop: [a, b]
      when: counted.rc == 0
"#;

const TEMPLATE: &str = "host = {{ inventory_hostname }}\ngroups = {{ group_names | join(',') }}\n";

#[test]
fn a_playbook_runs_on_every_host_and_a_rerun_changes_no_file() {
    let ws = Workspace::new();
    inventory(&ws, &["n1", "n2", "n3"]);
    ws.write("templates/app.conf.j2", TEMPLATE);
    ws.write(
        "site.yaml",
        &SITE.replace(
            "vars_out | default('/nonexistent')",
            &format!("'{}'", ws.path("out").display()),
        ),
    );
    let run = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    for h in ["n1", "n2", "n3"] {
        assert_eq!(
            ws.read(&format!("out/{h}/app.conf")),
            format!("host = {h}\ngroups = nodes\n")
        );
        assert_eq!(ws.read(&format!("out/{h}/items")), "a\nb\n");
    }
    assert!(run.stdout().contains("n2 ran 1 times"), "{}", run.stdout());
    assert!(run.stdout().contains("PLAY RECAP"));

    let second = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    let out = second.stdout();
    assert!(
        out.contains("ok: [n1] write a config from a template"),
        "{out}"
    );
    assert!(
        !out.contains("changed: [n1] write a config from a template"),
        "{out}"
    );
}

#[test]
fn check_mode_changes_nothing_and_shows_the_diff() {
    let ws = Workspace::new();
    inventory(&ws, &["n1"]);
    ws.write("templates/app.conf.j2", TEMPLATE);
    std::fs::create_dir_all(ws.path("out/n1")).unwrap();
    ws.write("out/n1/app.conf", "host = old\n");
    ws.write(
        "site.yaml",
        &SITE.replace(
            "vars_out | default('/nonexistent')",
            &format!("'{}'", ws.path("out").display()),
        ),
    );
    let run = ws
        .rtmig()
        .args([
            "run",
            "-i",
            "inventory.yaml",
            "site.yaml",
            "--check",
            "--diff",
        ])
        .output()
        .expect_code(0);
    assert_eq!(ws.read("out/n1/app.conf"), "host = old\n");
    assert!(
        !ws.path("out/n1/count").exists(),
        "a command ran in check mode"
    );
    let out = run.stdout();
    assert!(
        out.contains("-host = old") && out.contains("+host = n1"),
        "{out}"
    );
}

const FLAKY: &str = r#"
- hosts: nodes
  gather_facts: false
  tasks:
    - name: first
      shell: echo first >> {{ out }}/{{ inventory_hostname }}.log
    - name: second fails on n2 until fixed
      shell: echo second >> {{ out }}/{{ inventory_hostname }}.log; test {{ inventory_hostname }} != n2 -o -e {{ out }}/fixed
      register: second
    - name: third uses what second registered
      shell: echo "third rc={{ second.rc }}" >> {{ out }}/{{ inventory_hostname }}.log
"#;

// Guards the resume promise: after a failure, --resume runs only what did not finish,
// with registered values restored, and never repeats a finished task.
#[test]
fn resume_after_a_failure_runs_only_what_did_not_finish() {
    let ws = Workspace::new();
    inventory(&ws, &["n1", "n2"]);
    std::fs::create_dir_all(ws.path("out")).unwrap();
    ws.write(
        "site.yaml",
        &FLAKY.replace("{{ out }}", &ws.path("out").display().to_string()),
    );
    let first = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(2);
    assert!(
        first
            .stdout()
            .contains("failed: [n2] second fails on n2 until fixed"),
        "{}",
        first.stdout()
    );
    assert_eq!(ws.read("out/n1.log"), "first\nsecond\nthird rc=0\n");
    assert_eq!(ws.read("out/n2.log"), "first\nsecond\n");

    // A plain rerun refuses and says how to go on.
    let refused = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(1);
    assert!(
        refused.stderr().contains("--resume"),
        "{}",
        refused.stderr()
    );

    ws.write("out/fixed", "");
    ws.rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml", "--resume"])
        .output()
        .expect_code(0);
    assert_eq!(
        ws.read("out/n1.log"),
        "first\nsecond\nthird rc=0\n",
        "n1 ran something twice"
    );
    assert_eq!(ws.read("out/n2.log"), "first\nsecond\nsecond\nthird rc=0\n");

    let runs = ws.runs();
    assert_eq!(runs.len(), 1, "resume must continue the same run");
    let log = std::fs::read_to_string(runs[0].join("hosts/n1.log")).unwrap();
    assert!(
        log.contains("already changed in the interrupted run"),
        "{log}"
    );
    let status = ws
        .rtmig()
        .args(["status", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    assert!(
        status.stdout().contains("finished: every host succeeded"),
        "{}",
        status.stdout()
    );
}

#[test]
fn a_failed_host_exits_2_and_its_log_has_the_command_and_output() {
    let ws = Workspace::new();
    inventory(&ws, &["n1"]);
    ws.write(
        "site.yaml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: boom\n      shell: echo to-stdout; echo to-stderr >&2; exit 7\n",
    );
    let run = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(2);
    assert!(run.stdout().contains("(rc=7)"), "{}", run.stdout());
    assert!(
        run.stdout().contains("PLAY [all] 1 host in 1 batch\n"),
        "{}",
        run.stdout()
    );
    let runs = ws.runs();
    let log = std::fs::read_to_string(runs[0].join("hosts/n1.log")).unwrap();
    for needle in [
        "$ echo to-stdout; echo to-stderr >&2; exit 7",
        "to-stdout",
        "to-stderr",
        "rc=7",
        "failed",
    ] {
        assert!(log.contains(needle), "missing {needle:?} in\n{log}");
    }
    let journal = std::fs::read_to_string(runs[0].join("journal.jsonl")).unwrap();
    assert!(
        journal
            .lines()
            .any(|l| l.contains("\"t\":\"done\"") && l.contains("\"status\":\"failed\"")),
        "{journal}"
    );
}

#[test]
fn json_output_is_one_event_per_line() {
    let ws = Workspace::new();
    inventory(&ws, &["n1", "n2"]);
    ws.write(
        "site.yaml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: {msg: hi}\n",
    );
    let run = ws
        .rtmig()
        .args([
            "run",
            "-i",
            "inventory.yaml",
            "site.yaml",
            "--output",
            "json",
        ])
        .output()
        .expect_code(0);
    let events: Vec<serde_json::Value> = run
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events.first().unwrap()["event"], "run_started");
    assert_eq!(events.last().unwrap()["event"], "run_finished");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "task_finished")
            .count(),
        2
    );
}

/// `--output json` names fact gathering `"task":"facts"` and the play's tasks by their
/// index from 0. Fact gathering used to print `"task":18446744073709551615` (usize::MAX).
#[test]
fn json_output_names_fact_gathering_facts_and_tasks_by_index() {
    let ws = Workspace::new();
    inventory(&ws, &["n1"]);
    ws.write(
        "site.yaml",
        "- hosts: all\n  gather_facts: true\n  tasks:\n    - debug: {msg: one}\n    - debug: {msg: two}\n",
    );
    let run = ws
        .rtmig()
        .args([
            "run",
            "-i",
            "inventory.yaml",
            "site.yaml",
            "--output",
            "json",
        ])
        .output()
        .expect_code(0);
    let steps: Vec<(String, serde_json::Value)> = run
        .stdout()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .filter(|e| e["event"] == "task_started" || e["event"] == "task_finished")
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_string(),
                e["task"].clone(),
            )
        })
        .collect();
    let expected: Vec<(String, serde_json::Value)> = [
        ("task_started", serde_json::json!("facts")),
        ("task_finished", serde_json::json!("facts")),
        ("task_started", serde_json::json!(0)),
        ("task_finished", serde_json::json!(0)),
        ("task_started", serde_json::json!(1)),
        ("task_finished", serde_json::json!(1)),
    ]
    .into_iter()
    .map(|(e, t)| (e.to_string(), t))
    .collect();
    assert_eq!(steps, expected);
}

/// A second Ctrl-C stops rtmig without waiting, and takes the local commands it did not
/// wait for with it: they run in process groups of their own (so that the terminal's
/// first Ctrl-C does not reach them), and used to go on running after rtmig had exited.
#[test]
fn a_second_ctrl_c_stops_the_local_commands_too() {
    let ws = Workspace::new();
    inventory(&ws, &["n1", "n2"]);
    let out = ws.path("out");
    std::fs::create_dir_all(&out).unwrap();
    ws.write(
        "site.yaml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n\
             \x20   - name: slow\n      shell: sleep 3 && touch {o}/{{{{ inventory_hostname }}}}.finished\n",
            o = out.display()
        ),
    );
    let mut child = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .spawn_logged(&ws.path("interrupted.log"));
    let start = std::time::Instant::now();
    while ws.runs().first().map_or(0, |r| {
        support::journal(r)
            .iter()
            .filter(|r| r["t"] == "start")
            .count()
    }) < 2
    {
        assert!(
            start.elapsed().as_secs() < 30,
            "the slow task never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    for _ in 0..2 {
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let status = child.wait().unwrap();
    let log = ws.read("interrupted.log");
    assert_eq!(status.code(), Some(99), "{log}");
    assert!(log.contains("Interrupted again"), "{log}");
    for h in ["n1", "n2"] {
        assert!(log.contains(&format!("\n  {h}: slow")), "{log}");
    }
    std::thread::sleep(std::time::Duration::from_millis(3500));
    for h in ["n1", "n2"] {
        assert!(
            !out.join(format!("{h}.finished")).exists(),
            "{h}: the local command outlived rtmig"
        );
    }
}

/// Regression guard for the shared magic-variable layers: `groups` and the play's host
/// lists were copied into every host's variables (memory grew with hosts × hosts); now
/// one layer is shared per run and per batch. Each host must still see the whole
/// fleet in `groups`, the play's hosts, its own batch only, and `groups` through
/// `hostvars`.
#[test]
fn magic_host_lists_are_right_for_every_host_and_batch() {
    let ws = Workspace::new();
    inventory(&ws, &["n1", "n2", "n3"]);
    ws.write(
        "site.yaml",
        r#"
- name: magic
  hosts: nodes
  gather_facts: false
  serial: [1, 2]
  tasks:
    - name: show them
      debug:
        msg: "{{ inventory_hostname }} groups={{ groups['nodes'] | join(',') }} all={{ groups['all'] | join(',') }} play={{ ansible_play_hosts_all | join(',') }} batch={{ ansible_play_batch | join(',') }} via={{ hostvars['n1']['groups']['nodes'] | join(',') }}"
"#,
    );
    let run = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    let out = run.stdout();
    for (h, batch) in [("n1", "n1"), ("n2", "n2,n3"), ("n3", "n2,n3")] {
        let want =
            format!("{h} groups=n1,n2,n3 all=n1,n2,n3 play=n1,n2,n3 batch={batch} via=n1,n2,n3");
        assert!(out.contains(&want), "missing `{want}` in:\n{out}");
    }
}

/// Regression (issue 13): a run over more hosts than the open-files limit allows failed
/// host after host with `Too many open files`; now the soft limit is raised to the hard
/// one at start and, where even that is too low, the run says so with the numbers.
#[test]
fn an_open_files_limit_too_low_for_the_fleet_is_raised_or_named() {
    use std::os::unix::process::CommandExt;
    let ws = Workspace::new();
    let names: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    inventory(&ws, &names);
    ws.write(
        "site.yaml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n",
    );
    // --fresh: the run under too low a limit may not finish.
    let run = |soft: u64, hard: u64| {
        let mut cmd = ws
            .rtmig()
            .args(["run", "-i", "inventory.yaml", "site.yaml", "--fresh"])
            .command();
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: soft as libc::rlim_t,
                    rlim_max: hard as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        cmd.output().expect("rtmig")
    };
    // A soft limit of 64 under a hard one of 4096: raised, no warning, every host ok.
    let out = run(64, 4096);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("open-files limit"), "{text}");
    // A hard limit of 30 for 20 hosts (one connection each and 16 more: 36): named
    // before any host runs.
    let out = run(30, 30);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("[WARNING]: the open-files limit is 30 (hard limit 30) but a run over 20 hosts keeps about 36 files"),
        "{text}"
    );
}

/// Regression (issue 13): at ~900 hosts one host's log failed to open (`Too many open
/// files`) and the per-host logs were switched off for every host for the rest of the
/// run. A log that cannot be written now costs its own host's lines only, and the
/// console names that host under the recap. (A host name too long for a file name makes
/// the failure certain here.)
#[test]
fn a_host_log_that_cannot_be_written_is_named_and_spares_the_others() {
    let ws = Workspace::new();
    let long = "n".repeat(300);
    inventory(&ws, &["n1", &long, "n3"]);
    ws.write(
        "site.yaml",
        "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - command: \"true\"\n    - command: \"true\"\n",
    );
    let run = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    let out = run.stdout();
    let recap = out.split("PLAY RECAP").nth(1).unwrap_or_default();
    assert!(
        recap.contains("[WARNING]: the per-host log of 1 host is incomplete")
            && recap.contains(&format!("\n  {long}: 7 lines lost: ")),
        "{out}"
    );
    assert!(!out.contains("switched off"), "{out}");
    let runs = ws.runs();
    for host in ["n1", "n3"] {
        let log = std::fs::read_to_string(runs[0].join(format!("hosts/{host}.log"))).unwrap();
        assert_eq!(
            log.matches(" ok in ").count() + log.matches(" changed in ").count(),
            2,
            "{log}"
        );
        assert!(log.contains("run finished: 2 remote commands"), "{log}");
    }
}

/// The plaintexts of tests/fixtures/vault (encrypted there by ansible-vault itself).
const VAULT_PLAINTEXTS: [&str; 5] = [
    "inventory-plaintext-1-1",
    "host-plaintext-1-2-prod",
    "group-plaintext-1-2-prod",
    "play-plaintext-1-1",
    "file-plaintext-1-1",
];

/// Every file under `dir` that contains one of `needles`, with the needle.
fn files_containing(dir: &std::path::Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                for n in needles.iter().filter(|n| text.contains(**n)) {
                    found.push(format!("{}: {n}", path.display()));
                }
            }
        }
    }
    found
}

#[test]
fn vaulted_values_and_files_reach_the_host_and_never_the_run_dir() {
    let ws = Workspace::new();
    ws.copy_fixture("tests/fixtures/vault", "vault");
    let out = ws.path("out.txt");
    // And a whole encrypted vars file in the play's vars_files.
    let playbook = ws
        .read("vault/playbook.yml")
        .replace("OUT_PATH", &out.display().to_string())
        .replace(
            "- hosts: all\n",
            "- hosts: all\n  vars_files: [vars-1.1.yml]\n",
        )
        .replace(
            "{{ play_secret }}\\n",
            "{{ play_secret }} {{ whole_file_secret }}\\n",
        );
    ws.write("vault/playbook.yml", &playbook);
    let run = ws
        .rtmig()
        .args([
            "run",
            "-y",
            "-i",
            "vault/inventory/hosts.yml",
            "vault/playbook.yml",
            "--vault-id",
            "prod@vault/prod.pass",
            // An executable password file is run; its output is the password.
            "--vault-password-file",
            "vault/default-pass.sh",
            "--output",
            "json",
        ])
        .output()
        .expect_code(0);
    assert_eq!(
        ws.read("out.txt"),
        format!("{}\n", VAULT_PLAINTEXTS.join(" "))
    );
    for secret in VAULT_PLAINTEXTS {
        assert!(
            !run.stdout().contains(secret),
            "{secret} in stdout:\n{}",
            run.stdout()
        );
        assert!(!run.stderr().contains(secret), "{secret} in stderr");
    }
    assert!(
        run.stdout().contains("inventory secret is ********"),
        "{}",
        run.stdout()
    );
    let runs = support::runs_in(&ws.path("vault/inventory"));
    assert_eq!(runs.len(), 1, "one run dir beside the inventory");
    assert!(runs[0].join("hosts/localhost.log").is_file());
    assert_eq!(
        files_containing(&runs[0], &VAULT_PLAINTEXTS),
        Vec::<String>::new()
    );

    // The same passwords from ANSIBLE_VAULT_PASSWORD_FILE (id `default`) and
    // ANSIBLE_VAULT_IDENTITY_LIST; the text console masks them too.
    std::fs::remove_file(&out).unwrap();
    let run = ws
        .rtmig()
        .env("ANSIBLE_VAULT_PASSWORD_FILE", ws.path("vault/default.pass"))
        .env("ANSIBLE_VAULT_IDENTITY_LIST", "prod@vault/prod.pass")
        .args([
            "run",
            "-y",
            "-vv",
            "-i",
            "vault/inventory/hosts.yml",
            "vault/playbook.yml",
        ])
        .output()
        .expect_code(0);
    assert_eq!(
        ws.read("out.txt"),
        format!("{}\n", VAULT_PLAINTEXTS.join(" "))
    );
    let console = format!("{}{}", run.stdout(), run.stderr());
    assert!(console.contains("play secret is ********"), "{console}");
    for secret in VAULT_PLAINTEXTS {
        assert!(
            !console.contains(secret),
            "{secret} on the console:\n{console}"
        );
    }
    assert_eq!(
        files_containing(&ws.path("vault/inventory/.rtmig"), &VAULT_PLAINTEXTS),
        Vec::<String>::new()
    );
}

#[test]
fn vault_data_without_the_right_password_stops_before_any_host_is_touched() {
    let ws = Workspace::new();
    ws.copy_fixture("tests/fixtures/vault", "vault");
    let out = ws.path("out.txt");
    let playbook = ws
        .read("vault/playbook.yml")
        .replace("OUT_PATH", &out.display().to_string());
    ws.write("vault/playbook.yml", &playbook);
    let base = [
        "run",
        "-y",
        "-i",
        "vault/inventory/hosts.yml",
        "vault/playbook.yml",
    ];
    let run = ws.rtmig().args(base).output().expect_code(1);
    assert!(
        run.stderr().contains(
            "vault/inventory/hosts.yml:7:17: vault-encrypted value and no vault password given (use --vault-password-file or --ask-vault-pass)"
        ),
        "{}",
        run.stderr()
    );
    // Only the default password: the prod-encrypted group_vars and host_vars fail.
    let run = ws
        .rtmig()
        .args(base)
        .args(["--vault-password-file", "vault/default.pass"])
        .output()
        .expect_code(1);
    assert!(
        run.stderr().contains(
            "vault/inventory/group_vars/all.yml:1:1: decryption failed: no vault secret (vault ids tried: default) could decrypt it"
        ),
        "{}",
        run.stderr()
    );
    let run = ws
        .rtmig()
        .args(base)
        .args(["--vault-password-file", "vault/missing.pass"])
        .output()
        .expect_code(1);
    assert!(
        run.stderr()
            .contains("vault password file `vault/missing.pass` not found"),
        "{}",
        run.stderr()
    );
    assert!(!out.exists(), "no task ran");
    assert!(
        support::runs_in(&ws.path("vault/inventory")).is_empty(),
        "no run dir"
    );
}

/// `lineinfile`, `replace` and `blockinfile` cases: (name, module, arguments, file
/// before, file after). The "after" texts are what ansible-playbook 2.21 (-c local) left;
/// with `RTMIG_ANSIBLE_PLAYBOOK` naming an `ansible-playbook`, the test runs it too and
/// compares live.
const FILE_EDITS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "l1",
        "lineinfile",
        r#"{"regexp": "^port=", "line": "port=2222"}"#,
        "a\nport=22\nb\nport=23\n",
        "a\nport=22\nb\nport=2222\n",
    ),
    (
        "l2",
        "lineinfile",
        r#"{"regexp": "^port=", "line": "port=2222", "firstmatch": true}"#,
        "a\nport=22\nb\nport=23\n",
        "a\nport=2222\nb\nport=23\n",
    ),
    (
        "l3",
        "lineinfile",
        r#"{"regexp": "^port=", "line": "port=2222", "firstmatch": true}"#,
        "x",
        "x\nport=2222\n",
    ),
    (
        "l4",
        "lineinfile",
        r#"{"regexp": "^b=.*$", "line": "b=2"}"#,
        "a=1\nb=1\n",
        "a=1\nb=2\n",
    ),
    (
        "l5",
        "lineinfile",
        r#"{"insertafter": "^\\[main\\]", "line": "new"}"#,
        "[main]\nx\n[other]\n",
        "[main]\nnew\nx\n[other]\n",
    ),
    (
        "l6",
        "lineinfile",
        r#"{"insertafter": "^\\[main\\]", "line": "new"}"#,
        "[main]\nnew\nx\n",
        "[main]\nnew\nx\n",
    ),
    (
        "l7",
        "lineinfile",
        r#"{"insertafter": "^\\[main\\]", "line": "new"}"#,
        "x\n",
        "x\nnew\n",
    ),
    (
        "l8",
        "lineinfile",
        r#"{"insertbefore": "^x", "line": "new"}"#,
        "a\nx\nx\n",
        "a\nx\nnew\nx\n",
    ),
    (
        "l9",
        "lineinfile",
        r#"{"insertbefore": "^x", "line": "new", "firstmatch": true}"#,
        "a\nx\nx\n",
        "a\nnew\nx\nx\n",
    ),
    (
        "l10",
        "lineinfile",
        r#"{"insertbefore": "BOF", "line": "first"}"#,
        "a\n",
        "first\na\n",
    ),
    (
        "l11",
        "lineinfile",
        r#"{"insertbefore": "BOF", "line": "first"}"#,
        "a\nfirst\n",
        "a\nfirst\n",
    ),
    (
        "l12",
        "lineinfile",
        r#"{"regexp": "^(?P<k>\\w+)\\s*=\\s*(\\d+)$", "line": "\\g<k> = \\2 # set", "backrefs": true}"#,
        "n=1\n",
        "n = 1 # set\n",
    ),
    (
        "l13",
        "lineinfile",
        r#"{"regexp": "^(?P<k>\\w+)\\s*=\\s*(\\d+)$", "line": "\\g<k> = \\2 # set", "backrefs": true}"#,
        "none\n",
        "none\n",
    ),
    (
        "l14",
        "lineinfile",
        r#"{"search_string": "Listen ", "line": "Listen 8080"}"#,
        "Listen 80\n",
        "Listen 8080\n",
    ),
    (
        "l15",
        "lineinfile",
        r#"{"regexp": "^#", "state": "absent"}"#,
        "#a\nb\n#c\n",
        "b\n",
    ),
    (
        "r1",
        "replace",
        r#"{"regexp": "^(\\s*)#\\s*(?P<k>\\w+) = (.*)$", "replace": "\\1\\g<k> = \\3"}"#,
        "# a = 1\n  # b = 2\nc = 3\n",
        "a = 1\n  b = 2\nc = 3\n",
    ),
    (
        "r2",
        "replace",
        r#"{"regexp": "^x$", "replace": "y", "after": "\\[b\\]", "before": "\\[c\\]"}"#,
        "x\n[b]\nx\n[c]\nx\n",
        "x\n[b]\ny\n[c]\nx\n",
    ),
    (
        "b1",
        "blockinfile",
        r#"{"block": "x=1"}"#,
        "a",
        "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx=1\n# END ANSIBLE MANAGED BLOCK\n",
    ),
    (
        "b2",
        "blockinfile",
        r#"{"block": "x=2\ny=3\n"}"#,
        "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx=1\n# END ANSIBLE MANAGED BLOCK\nb\n",
        "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx=2\ny=3\n# END ANSIBLE MANAGED BLOCK\nb\n",
    ),
    (
        "b3",
        "blockinfile",
        r#"{"state": "absent"}"#,
        "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx=1\n# END ANSIBLE MANAGED BLOCK\nb\n",
        "a\nb\n",
    ),
    (
        "b4",
        "blockinfile",
        r#"{"block": "k: v", "marker": "<!-- {mark} rtmig -->", "marker_begin": "start", "marker_end": "stop", "insertbefore": "^</config>"}"#,
        "<config>\n</config>\n",
        "<config>\n<!-- start rtmig -->\nk: v\n<!-- stop rtmig -->\n</config>\n",
    ),
    (
        "b5",
        "blockinfile",
        r#"{"block": "top", "insertbefore": "BOF"}"#,
        "a\n",
        "# BEGIN ANSIBLE MANAGED BLOCK\ntop\n# END ANSIBLE MANAGED BLOCK\na\n",
    ),
    (
        "b6",
        "blockinfile",
        r#"{"block": "mid", "insertafter": "^a", "prepend_newline": true, "append_newline": true}"#,
        "a\n\nb\n",
        "a\n\n# BEGIN ANSIBLE MANAGED BLOCK\nmid\n# END ANSIBLE MANAGED BLOCK\n\nb\n",
    ),
];

fn file_edits_playbook(dir: &std::path::Path) -> String {
    let mut s = String::from("- hosts: all\n  gather_facts: false\n  tasks:\n");
    for (name, module, args, _, _) in FILE_EDITS {
        let path = dir.join(name);
        s.push_str(&format!(
            "    - name: {name}\n      {module}: {{\"path\": \"{}\", {}\n",
            path.display(),
            &args[1..]
        ));
    }
    s
}

#[test]
fn file_edits_leave_the_files_ansible_leaves_and_a_rerun_is_ok() {
    let ws = Workspace::new();
    inventory(&ws, &["n1"]);
    let dir = ws.path("files");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, _, _, before, _) in FILE_EDITS {
        std::fs::write(dir.join(name), before).unwrap();
    }
    ws.write("site.yaml", &file_edits_playbook(&dir));
    let first = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0)
        .stdout();
    let mut wrong = Vec::new();
    for (name, _, _, before, after) in FILE_EDITS {
        let got = std::fs::read_to_string(dir.join(name)).unwrap();
        if got != *after {
            wrong.push(format!("{name}: {got:?}, Ansible {after:?}"));
        }
        let status = if before == after { "ok" } else { "changed" };
        if !first.contains(&format!("{status}: [n1] {name}\n")) {
            wrong.push(format!("{name}: not `{status}`"));
        }
    }
    assert!(wrong.is_empty(), "{}\n{first}", wrong.join("\n"));
    let again = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0)
        .stdout();
    assert!(!again.contains("changed: "), "a rerun changed:\n{again}");

    let Some(ansible) = std::env::var_os("RTMIG_ANSIBLE_PLAYBOOK") else {
        return;
    };
    let ansible = std::path::PathBuf::from(ansible);
    let live = ws.path("ansible");
    std::fs::create_dir_all(&live).unwrap();
    for (name, _, _, before, _) in FILE_EDITS {
        std::fs::write(live.join(name), before).unwrap();
    }
    ws.write("ansible.yaml", &file_edits_playbook(&live));
    let python = ansible.with_file_name("python");
    let home = ws.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = std::process::Command::new(&ansible)
        .current_dir(ws.path(""))
        .env("HOME", &home)
        .args(["-i", "n1,", "-c", "local", "ansible.yaml", "-e"])
        .arg(format!("ansible_python_interpreter={}", python.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for (name, ..) in FILE_EDITS {
        assert_eq!(
            std::fs::read_to_string(dir.join(name)).unwrap(),
            std::fs::read_to_string(live.join(name)).unwrap(),
            "{name}: rtmig and ansible-playbook differ"
        );
    }
}

const IDIOMS: &str = r#"
- hosts: nodes
  gather_facts: false
  vars:
    out: OUT
    sizes: {small: 1, large: 3}
  tasks:
    - name: numbered files, Python's % and a lookup
      shell: echo {{ lookup('file', 'motd.txt') | quote }} > {{ out }}/{{ '%s-%03d' % (inventory_hostname, item | int) }}
      with_sequence: start=1 end=3
    - name: one line per dict entry
      shell: echo {{ '{}={}'.format(item.key, item.value) }} >> {{ out }}/{{ inventory_hostname }}-sizes
      with_dict: "{{ sizes }}"
    - name: index and label
      shell: echo {{ i }}:{{ node }}:{{ missing.y | default('dflt') }}
      loop: [p, q]
      loop_control: {loop_var: node, index_var: i, label: "{{ node }}"}
      register: indexed
    - name: what the loop registered
      copy:
        dest: "{{ out }}/{{ inventory_hostname }}-registered"
        content: "{{ indexed.results | map(attribute='stdout') | join(',') }} {{ indexed.results[1].ansible_loop_var }}\n"
"#;

#[test]
fn jinja_idioms_and_with_loops_run_as_in_ansible() {
    let ws = Workspace::new();
    inventory(&ws, &["n1"]);
    ws.write("files/motd.txt", "hello there\n");
    std::fs::create_dir_all(ws.path("out")).unwrap();
    ws.write(
        "site.yaml",
        &IDIOMS.replace("OUT", &ws.path("out").display().to_string()),
    );
    ws.rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    for n in ["001", "002", "003"] {
        assert_eq!(ws.read(&format!("out/n1-{n}")), "hello there\n");
    }
    assert_eq!(ws.read("out/n1-sizes"), "small=1\nlarge=3\n");
    assert_eq!(ws.read("out/n1-registered"), "0:p:dflt,1:q:dflt node\n");
}

#[test]
fn bad_loop_input_is_refused_at_its_place_before_running() {
    let ws = Workspace::new();
    inventory(&ws, &["n1"]);
    ws.write(
        "site.yaml",
        "- hosts: nodes\n  tasks:\n    - shell: echo {{ item }}\n      with_sequence: start=1 end=5 format=%d-%d\n      loop_control: {label: x, pausee: 1}\n",
    );
    let run = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output();
    let err = run.stderr();
    assert!(
        err.contains(
            "site.yaml:4:22: with_sequence: format `%d-%d` must have exactly one `%` conversion"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "site.yaml:5:32: unknown `loop_control` keyword `pausee`; did you mean `pause`?"
        ),
        "{err}"
    );
    assert!(err.contains("nothing was run"), "{err}");
    assert_ne!(run.code(), 0);
}

/// The real ansible-playbook, when this machine has it (`RTMIG_ANSIBLE_PLAYBOOK`, or on
/// `PATH`), and the Python beside it for modules on localhost.
fn ansible_playbook() -> Option<(std::path::PathBuf, Option<std::path::PathBuf>)> {
    let found = std::env::var_os("RTMIG_ANSIBLE_PLAYBOOK")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join("ansible-playbook"))
                .find(|p| p.is_file())
        })?;
    let python = found
        .parent()
        .map(|d| d.join("python"))
        .filter(|p| p.is_file());
    Some((found, python))
}

fn run_ansible(ws: &Workspace, playbook: &str) -> Option<String> {
    let Some((ansible, python)) = ansible_playbook() else {
        eprintln!("ansible-playbook not installed: compared with the committed outputs only");
        return None;
    };
    let home = ws.path("ansible-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = std::process::Command::new(ansible);
    cmd.args(["-i", "localhost,", "-c", "local", playbook])
        .current_dir(ws.path(""))
        .env("HOME", &home)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_CALLBACK_RESULT_FORMAT", "json");
    if let Some(python) = python {
        cmd.arg("-e")
            .arg(format!("ansible_python_interpreter={}", python.display()));
    }
    let out = cmd.output().expect("run ansible-playbook");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "ansible-playbook failed:\n{stdout}");
    Some(stdout)
}

#[test]
fn the_committed_jinja_values_are_what_a_live_ansible_playbook_gives() {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/jinja/expressions.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let cases = fixture["expressions"].as_array().unwrap();
    // One debug task printing every expression's value, keyed by its index.
    let dict: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| format!("'e{i}': ({})", c[0].as_str().unwrap()))
        .collect();
    let play = serde_json::json!([{
        "hosts": "localhost",
        "gather_facts": false,
        "vars": fixture["vars"],
        "tasks": [{"debug": {"msg": format!("{{{{ {{{}}} | to_json }}}}", dict.join(", "))}}],
    }]);
    let ws = Workspace::new();
    ws.write("exprs.yaml", &play.to_string());
    let Some(stdout) = run_ansible(&ws, "exprs.yaml") else {
        return;
    };
    let start = stdout.find("=> {").expect("a debug result") + 3;
    let end = start + stdout[start..].find("\n}").expect("the result's end") + 2;
    let result: serde_json::Value = serde_json::from_str(&stdout[start..end]).unwrap();
    let values: serde_json::Value =
        serde_json::from_str(result["msg"].as_str().expect("msg is the JSON text")).unwrap();
    for (i, case) in cases.iter().enumerate() {
        assert_eq!(values[format!("e{i}")], case[1], "{}", case[0]);
    }
}

#[test]
fn the_idioms_playbook_leaves_what_a_live_ansible_playbook_leaves() {
    let ws = Workspace::new();
    ws.write("files/motd.txt", "hello there\n");
    std::fs::create_dir_all(ws.path("out")).unwrap();
    let playbook = IDIOMS
        .replace("OUT", &ws.path("out").display().to_string())
        .replace("hosts: nodes", "hosts: localhost");
    ws.write("site.yaml", &playbook);
    if run_ansible(&ws, "site.yaml").is_none() {
        return;
    }
    for n in ["001", "002", "003"] {
        assert_eq!(ws.read(&format!("out/localhost-{n}")), "hello there\n");
    }
    assert_eq!(ws.read("out/localhost-sizes"), "small=1\nlarge=3\n");
    assert_eq!(
        ws.read("out/localhost-registered"),
        "0:p:dflt,1:q:dflt node\n"
    );
}

/// Templated node-module arguments: a state and a boolean from variables, the fakes
/// of tests/fixtures/fakebin reached through the task's `environment`, a bad rendered
/// word failing at the argument's file:line:column, and `uri` against a port nothing
/// listens on retried then failed with status -1.
#[test]
fn node_module_arguments_from_variables_and_their_errors() {
    let ws = Workspace::new();
    inventory(&ws, &["n1"]);
    let fakes = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fakebin");
    let bin = ws.path("node/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(fakes.join("systemctl"), bin.join("systemctl")).unwrap();
    std::fs::create_dir_all(ws.path("node/state/units")).unwrap();
    std::fs::write(ws.path("node/state/units/kubelet.service"), "").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let site = format!(
        r#"- hosts: nodes
  gather_facts: false
  vars:
    want: started
    boot: "yes"
    wrong: running
  environment:
    PATH: "{bin}:/usr/local/bin:/usr/bin:/bin"
  tasks:
    - name: kubelet as the variables say
      systemd: {{name: kubelet, state: "{{{{ want }}}}", enabled: "{{{{ boot }}}}"}}
    - name: the health check
      uri: {{url: "http://127.0.0.1:{port}/healthz", timeout: 2}}
      register: health
      until: health.status == 200
      retries: 1
      delay: 0
      ignore_errors: true
    - name: it was -1
      assert: {{that: health.status == -1}}
    - name: a bad state from a variable
      systemd:
        name: kubelet
        state: "{{{{ wrong }}}}"
"#,
        bin = bin.display()
    );
    ws.write("site.yaml", &site);
    let run = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(2);
    assert!(ws.path("node/state/active/kubelet.service").exists());
    assert!(ws.path("node/state/enabled/kubelet.service").exists());
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        out.contains("site.yaml:24:16: expected one of `reloaded`, `restarted`, `started`, `stopped`, got `running`"),
        "{out}"
    );
    assert!(out.contains("ok: [n1] it was -1"), "{out}");
}

/// Blocks and handlers: n2 fails inside the block and is rescued; both hosts notify
/// the same handlers twice (by name and by `listen` topic).
const BLOCKS: &str = r#"
- hosts: nodes
  gather_facts: false
  handlers:
    - name: restart app
      shell: echo restart >> {{ out }}/{{ inventory_hostname }}.log
    - name: reload web
      listen: web changed
      shell: echo reload >> {{ out }}/{{ inventory_hostname }}.log
  tasks:
    - name: configure
      vars:
        log: "{{ out }}/{{ inventory_hostname }}.log"
      block:
        - name: step one
          shell: echo one >> {{ log }}
          notify: [web changed, restart app]
        - name: step two fails on n2
          shell: echo two >> {{ log }}; test {{ inventory_hostname }} != n2
        - name: step three
          shell: echo three >> {{ log }}
          notify: restart app
      rescue:
        - name: note the failure
          shell: echo "rescued {{ ansible_failed_task.name }} rc={{ ansible_failed_result.rc }}" >> {{ log }}
      always:
        - name: always
          shell: echo always >> {{ log }}
    - name: skipped by its block's when
      when: false
      block:
        - shell: echo never >> {{ out }}/{{ inventory_hostname }}.log
    - name: flush now
      meta: flush_handlers
    - name: after the flush
      shell: echo after >> {{ out }}/{{ inventory_hostname }}.log
      notify: restart app
    - meta: end_host
      when: inventory_hostname == 'n2'
    - name: n1 only
      shell: echo last >> {{ out }}/{{ inventory_hostname }}.log
"#;

// Ansible's semantics, checked with ansible-playbook 2.21: a rescued host goes on
// (recap `rescued=1`, not failed), `always` runs either way, handlers run once per
// flush in the order defined, whatever the number of notifications.
#[test]
fn blocks_rescue_the_failed_host_and_handlers_run_once_in_order() {
    let ws = Workspace::new();
    inventory(&ws, &["n1", "n2"]);
    std::fs::create_dir_all(ws.path("out")).unwrap();
    let out = ws.path("out").display().to_string();
    ws.write("site.yaml", &BLOCKS.replace("{{ out }}", &out));
    let run = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    assert_eq!(
        ws.read("out/n1.log"),
        "one\ntwo\nthree\nalways\nrestart\nreload\nafter\nlast\nrestart\n"
    );
    assert_eq!(
        ws.read("out/n2.log"),
        "one\ntwo\nrescued step two fails on n2 rc=1\nalways\nrestart\nreload\nafter\n"
    );
    let stdout = run.stdout();
    assert!(
        stdout.contains("failed (rescued): [n2] step two fails on n2"),
        "{stdout}"
    );
    let recap = |h: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(h) && l.contains(" : ok="))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert!(recap("n2").contains("failed=0"), "{stdout}");
    assert!(recap("n2").contains("rescued=1"), "{stdout}");
    assert!(recap("n1").contains("rescued=0"), "{stdout}");
}

/// n1 fails in a block with no rescue: its always runs, then the host has failed and
/// its notified handler does not run (unless forced).
const UNRESCUED: &str = r#"
- hosts: nodes
  gather_facts: false
  handlers:
    - name: h
      shell: echo handler >> {{ out }}/{{ inventory_hostname }}.log
  tasks:
    - shell: echo a >> {{ out }}/{{ inventory_hostname }}.log
      notify: h
    - block:
        - shell: echo x >> {{ out }}/{{ inventory_hostname }}.log; test -e {{ out }}/fixed
      always:
        - shell: echo always >> {{ out }}/{{ inventory_hostname }}.log
    - shell: echo end >> {{ out }}/{{ inventory_hostname }}.log
"#;

#[test]
fn a_failure_no_rescue_catches_fails_the_host_after_always_and_skips_its_handlers() {
    let ws = Workspace::new();
    inventory(&ws, &["n1"]);
    std::fs::create_dir_all(ws.path("out")).unwrap();
    let out = ws.path("out").display().to_string();
    ws.write("site.yaml", &UNRESCUED.replace("{{ out }}", &out));
    ws.rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(2);
    assert_eq!(ws.read("out/n1.log"), "a\nx\nalways\n");

    // --force-handlers: the notified handler runs although the host failed.
    std::fs::remove_file(ws.path("out/n1.log")).unwrap();
    ws.rtmig()
        .args([
            "run",
            "-i",
            "inventory.yaml",
            "site.yaml",
            "--fresh",
            "--force-handlers",
        ])
        .output()
        .expect_code(2);
    assert_eq!(ws.read("out/n1.log"), "a\nx\nalways\nhandler\n");
}

/// A rescued failure, then a failure no rescue catches; resumed after the fix.
const RESUMED_BLOCKS: &str = r#"
- hosts: nodes
  gather_facts: false
  handlers:
    - name: h
      shell: echo handler >> {{ out }}/{{ inventory_hostname }}.log
  tasks:
    - block:
        - shell: echo a >> {{ out }}/{{ inventory_hostname }}.log
          notify: h
        - shell: echo fail >> {{ out }}/{{ inventory_hostname }}.log; exit 1
      rescue:
        - shell: echo rescue >> {{ out }}/{{ inventory_hostname }}.log
      always:
        - shell: echo always >> {{ out }}/{{ inventory_hostname }}.log
    - block:
        - shell: echo x >> {{ out }}/{{ inventory_hostname }}.log; test -e {{ out }}/fixed
      always:
        - shell: echo always2 >> {{ out }}/{{ inventory_hostname }}.log
    - shell: echo end >> {{ out }}/{{ inventory_hostname }}.log
"#;

// Guards the resume promise through blocks: the rescued failure is not run again (the
// resumed run replays it into the rescue, as the first run went), the failure that
// failed the host is run again with the always after it, and the handler notified
// before the failure runs once, at the end.
#[test]
fn resume_through_blocks_ends_where_an_uninterrupted_run_would() {
    let ws = Workspace::new();
    inventory(&ws, &["n1", "n2"]);
    std::fs::create_dir_all(ws.path("out")).unwrap();
    let out = ws.path("out").display().to_string();
    ws.write("site.yaml", &RESUMED_BLOCKS.replace("{{ out }}", &out));
    let first = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(2);
    let stdout = first.stdout();
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("n1") && l.contains("failed=1") && l.contains("rescued=1")),
        "{stdout}"
    );
    assert_eq!(
        ws.read("out/n1.log"),
        "a\nfail\nrescue\nalways\nx\nalways2\n"
    );
    ws.write("out/fixed", "");
    ws.rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml", "--resume"])
        .output()
        .expect_code(0);
    for h in ["n1", "n2"] {
        assert_eq!(
            ws.read(&format!("out/{h}.log")),
            "a\nfail\nrescue\nalways\nx\nalways2\nx\nalways2\nend\nhandler\n",
            "{h}"
        );
    }
    let runs = ws.runs();
    let journal = std::fs::read_to_string(runs[0].join("journal.jsonl")).unwrap();
    assert_eq!(
        journal.matches(r#""t":"handler_done""#).count(),
        2,
        "{journal}"
    );
    // Over both runs, the handler ran once on each host.
    assert_eq!(ws.read("out/n1.log").matches("handler").count(), 1);
}

/// A looped `include_tasks` inside a block: its tasks once per item, then the block's
/// failure rescued, `always`, and the play goes on (the merge of blocks and includes:
/// the scheduler's walk through blocks and its include frames).
#[test]
fn a_looped_include_inside_a_block_runs_per_item_then_rescue_and_always() {
    let ws = Workspace::new();
    let inv = inventory(&ws, &["n1"]);
    let log = ws.path("log");
    ws.write(
        "inc.yml",
        &format!("- shell: echo {{{{ item }}}} >> {}\n", log.display()),
    );
    let play = ws.write(
        "site.yml",
        &format!(
            r#"- hosts: nodes
  gather_facts: false
  tasks:
    - block:
        - include_tasks: inc.yml
          loop: [a, b]
        - name: fails
          shell: "false"
        - shell: echo not-reached >> {log}
      rescue:
        - shell: echo rescued {{{{ ansible_failed_task.name }}}} >> {log}
      always:
        - shell: echo always >> {log}
    - shell: echo after >> {log}
"#,
            log = log.display()
        ),
    );
    let out = ws
        .rtmig()
        .args([
            "run".as_ref(),
            "-i".as_ref(),
            inv.as_os_str(),
            play.as_os_str(),
        ])
        .output()
        .expect_code(0);
    assert!(out.stdout().contains("rescued=1"), "{}", out.stdout());
    assert_eq!(ws.read("log"), "a\nb\nrescued fails\nalways\nafter\n");
}

/// `copy` with `remote_src: true` copies a file on the host to another place there, as
/// Ansible's does: `mode: preserve` keeps the source's mode (a key stays 0600); `--check
/// --diff` shows the new file and writes nothing; run, then run again: ok; a missing
/// source is the host's failure, named.
#[test]
fn copy_with_remote_src_copies_on_the_host_and_preserves_the_mode() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::new();
    inventory(&ws, &["n1"]);
    ws.write("src/client.key", "secret key\n");
    std::fs::set_permissions(
        ws.path("src/client.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    ws.write("src/ca.crt", "a CA\n");
    let out = ws.path("out");
    ws.write(
        "site.yaml",
        &format!(
            r#"
- hosts: nodes
  gather_facts: false
  tasks:
    - name: copy on the host
      copy:
        src: "{src}/{{{{ item }}}}"
        dest: "{out}/{{{{ item }}}}"
        remote_src: true
        mode: preserve
      loop: [client.key, ca.crt]
"#,
            src = ws.path("src").display(),
            out = out.display()
        ),
    );
    std::fs::create_dir_all(&out).unwrap();
    let run = |extra: &[&str]| {
        ws.rtmig()
            .args(["run", "-i", "inventory.yaml", "site.yaml"])
            .args(extra)
            .output()
    };
    let preview = run(&["--check", "--diff"]).expect_code(0).stdout();
    assert!(
        preview.contains("+secret key") && preview.contains("+a CA"),
        "{preview}"
    );
    assert!(
        !out.join("client.key").exists(),
        "check mode wrote the copy"
    );

    let first = run(&[]).expect_code(0).stdout();
    assert!(first.contains("changed: [n1] copy on the host"), "{first}");
    assert_eq!(ws.read("out/client.key"), "secret key\n");
    assert_eq!(ws.read("out/ca.crt"), "a CA\n");
    let mode = |f: &str| std::fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("client.key"), 0o600);
    assert_eq!(mode("ca.crt"), 0o644);
    let again = run(&[]).expect_code(0).stdout();
    assert!(again.contains("ok: [n1] copy on the host"), "{again}");

    std::fs::remove_file(ws.path("src/ca.crt")).unwrap();
    let missing = run(&[]).expect_code(2).stdout();
    assert!(missing.contains("ca.crt not found"), "{missing}");
}

/// Plain scalars in a playbook are typed as Ansible's PyYAML types them: `register: y`
/// and `name: n` stay names, `y`/`n`/`1e3` stay text, `on`/`off` are booleans, `1:30`
/// is 90. tests/fixtures/yaml11/expected.txt is what ansible-playbook 2.21 wrote; with
/// ansible-playbook on this machine the test runs it too and compares.
#[test]
fn playbook_scalars_are_typed_as_ansible_types_them() {
    let ws = Workspace::new();
    inventory(&ws, &["n1"]);
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/yaml11");
    let site = std::fs::read_to_string(fixtures.join("site.yaml")).unwrap();
    let expected = std::fs::read_to_string(fixtures.join("expected.txt")).unwrap();
    ws.write("site.yaml", &site);
    std::fs::create_dir_all(ws.path("out")).unwrap();
    let run = ws
        .rtmig()
        .args([
            "run".to_string(),
            "-i".into(),
            "inventory.yaml".into(),
            "site.yaml".into(),
            "-e".into(),
            format!("out={}", ws.path("out").display()),
        ])
        .output()
        .expect_code(0);
    assert_eq!(ws.read("out/n1.txt"), expected);
    assert!(
        run.stdout().contains("show => when hello"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains("changed: [n1] n\n"),
        "{}",
        run.stdout()
    );

    let Some((ansible, python)) = ansible_playbook() else {
        return;
    };
    let live = ws.path("ansible");
    let home = ws.path("home");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = std::process::Command::new(&ansible);
    cmd.current_dir(ws.path(""))
        .env("HOME", &home)
        .args(["-i", "inventory.yaml", "site.yaml", "-e"])
        .arg(format!("out={}", live.display()));
    if let Some(python) = python {
        cmd.arg("-e")
            .arg(format!("ansible_python_interpreter={}", python.display()));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(live.join("n1.txt")).unwrap(),
        expected,
        "ansible-playbook wrote something else than the committed expectation"
    );
}

/// `ignore_errors: "{{ … }}"` (roles write `"{{ ansible_check_mode }}"`) is rendered for
/// each host before the task runs, on a task or inherited from its block: true lets the
/// host go on, false fails it; a rendering that is no boolean fails the task at its
/// place before its command runs. It was refused as "must be a boolean".
#[test]
fn a_templated_ignore_errors_is_read_per_host_before_the_task_runs() {
    let ws = Workspace::new();
    inventory(&ws, &["n1", "n2"]);
    let dir = ws.path("");
    let dir = dir.display();
    ws.write(
        "site.yaml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n\
             \x20   - name: may fail\n      shell: exit 3\n      ignore_errors: \"{{{{ inventory_hostname == 'n1' }}}}\"\n\
             \x20   - block:\n        - name: in block\n          shell: exit 4\n      ignore_errors: \"{{{{ tolerant | default(true) }}}}\"\n\
             \x20   - name: after\n      shell: touch {dir}/after-{{{{ inventory_hostname }}}}\n"
        ),
    );
    let run = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(2);
    assert!(ws.path("after-n1").exists(), "{}", run.stdout());
    assert!(!ws.path("after-n2").exists(), "{}", run.stdout());
    assert!(
        run.stdout().contains("n1 : ok=3    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=2"),
        "{}",
        run.stdout()
    );
    ws.write(
        "bad.yaml",
        &format!(
            "- hosts: n1\n  gather_facts: false\n  tasks:\n\
             \x20   - name: odd\n      shell: touch {dir}/odd-ran\n      ignore_errors: \"{{{{ 'maybe' }}}}\"\n"
        ),
    );
    let bad = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "bad.yaml"])
        .output()
        .expect_code(2);
    assert!(
        bad.stdout()
            .contains("bad.yaml:6:22: `ignore_errors` rendered to `maybe`, expected a boolean"),
        "{}",
        bad.stdout()
    );
    assert!(!ws.path("odd-ran").exists());
}

/// An `import_tasks` with a templated `ignore_errors` gives it to every task it brings
/// in, as ansible-playbook 2.21 does for these files (the failure ignored, the play goes on).
#[test]
fn an_imports_templated_ignore_errors_reaches_its_tasks() {
    let ws = Workspace::new();
    inventory(&ws, &["n1"]);
    let dir = ws.path("");
    let dir = dir.display();
    ws.write("inc.yaml", "- name: inner fail\n  shell: exit 5\n");
    ws.write(
        "site.yaml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  vars:\n    tol: true\n  tasks:\n\
             \x20   - import_tasks: inc.yaml\n      ignore_errors: \"{{{{ tol }}}}\"\n\
             \x20   - name: after\n      shell: touch {dir}/after\n"
        ),
    );
    let run = ws
        .rtmig()
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    assert!(ws.path("after").exists(), "{}", run.stdout());
    assert!(run.stdout().contains("ignored=1"), "{}", run.stdout());
}

//! Bad input is found before anything connects: connection variables rtmig cannot use
//! (issue 14), undefined variables, and deep or recursive input that once overflowed
//! the stack. Every test runs the real binary.

mod support;

use std::net::TcpListener;

use support::Workspace;

const PLAY: &str = "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=hi\n";

/// A port where nothing but this test listens: a connection attempt to it would show.
fn watched_port() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.set_nonblocking(true).expect("nonblocking");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

fn assert_untouched(l: &TcpListener) {
    match l.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(e) => panic!("accept: {e}"),
        Ok((_, from)) => panic!("a host was connected to (from {from})"),
    }
}

/// `validate`, `plan` and `run` all refuse, with exit 1, naming every place.
fn refused_everywhere(ws: &Workspace, inv: &str, expected: &[&str]) {
    for cmd in ["validate", "plan", "run"] {
        let out = ws
            .rtmig()
            .args([cmd, "-i", inv, "play.yaml"])
            .output()
            .expect_code(1);
        let err = out.stderr();
        for e in expected {
            assert!(err.contains(e), "{cmd}: missing `{e}` in:\n{err}");
        }
        assert!(ws.runs().is_empty(), "{cmd} started a run");
    }
}

// Guards: `ansible_port: twenty-two` was collected as a problem that nothing reported,
// and the host was connected to on port 22.
#[test]
fn wrong_connection_variables_in_a_yaml_inventory_are_located() {
    let (l, port) = watched_port();
    let ws = Workspace::new();
    ws.write("play.yaml", PLAY);
    ws.write(
        "inv.yaml",
        &format!(
            "all:\n  vars:\n    ansible_become: maybe\n  hosts:\n    good:\n      ansible_host: 127.0.0.1\n      ansible_port: {port}\n    h1:\n      ansible_port: twenty-two\n    h2:\n      ansible_port: 70000\n      ansible_connection: docker\n    h3:\n      ansible_become_method: su\n"
        ),
    );
    refused_everywhere(
        &ws,
        "inv.yaml",
        &[
            "inv.yaml:3:21: `ansible_become` must be a boolean",
            "inv.yaml:9:21: `ansible_port` must be a port number from 1 to 65535, found `twenty-two`",
            "inv.yaml:11:21: `ansible_port` must be a port number from 1 to 65535, found `70000`",
            "inv.yaml:12:27: `ansible_connection` `docker` is not supported",
            "inv.yaml:14:30: `ansible_become_method` `su` is not supported",
            "5 problems found; nothing was run",
        ],
    );
    assert_untouched(&l);
}

#[test]
fn wrong_connection_variables_in_ini_and_vars_dirs_are_located() {
    let (l, port) = watched_port();
    let ws = Workspace::new();
    ws.write("play.yaml", PLAY);
    ws.write(
        "inv/hosts.ini",
        &format!(
            "good ansible_host=127.0.0.1 ansible_port={port}\nh1 ansible_port=twenty-two\n[web]\nh2\n[web:vars]\nansible_connection = winrm\n"
        ),
    );
    ws.write("inv/group_vars/all.yml", "ansible_become_method: doas\n");
    ws.write("inv/host_vars/h2.yaml", "---\nansible_port: \"70000\"\n");
    refused_everywhere(
        &ws,
        "inv/hosts.ini",
        &[
            "hosts.ini:2:4: `ansible_port` must be a port number",
            "hosts.ini:6:22: `ansible_connection` `winrm` is not supported",
            "group_vars/all.yml:1:24: `ansible_become_method` `doas` is not supported",
            "host_vars/h2.yaml:2:15: `ansible_port` must be a port number from 1 to 65535, found `70000`",
        ],
    );
    assert_untouched(&l);
}

#[test]
fn a_value_overridden_or_on_a_host_no_play_targets_is_not_an_error() {
    let ws = Workspace::new();
    ws.write(
        "play.yaml",
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - debug: msg=hi\n",
    );
    // `all` says twenty-two, but web1's own value wins; `other` is never targeted (as
    // Ansible, which reads a host's variables only to connect to it).
    ws.write(
        "inv.yaml",
        "all:\n  vars:\n    ansible_port: twenty-two\n  children:\n    web:\n      hosts:\n        web1:\n          ansible_port: 2222\n    rest:\n      hosts:\n        other:\n          ansible_connection: winrm\n",
    );
    ws.rtmig()
        .args(["validate", "-i", "inv.yaml", "play.yaml"])
        .output()
        .expect_code(0);
    // And `rtmig inventory` still lists an inventory written for Ansible's plugins.
    ws.rtmig()
        .args(["inventory", "-i", "inv.yaml", "--list"])
        .output()
        .expect_code(0);
}

// Guards: rtmig connects from the inventory only, so a connection variable in play or
// task `vars:` (which Ansible would connect with) was silently ignored.
#[test]
fn connection_variables_in_play_and_task_vars_are_refused_at_their_place() {
    let ws = Workspace::new();
    ws.write("inv.yaml", "all:\n  hosts:\n    h1:\n");
    ws.write(
        "play.yaml",
        "- hosts: all\n  gather_facts: false\n  vars:\n    ansible_port: twenty-two\n    ansible_user: \"{{ who }}\"\n    ansible_ssh_port: \"{{ 20 + 2 }}\"\n  tasks:\n    - debug: msg=hi\n      vars:\n        ansible_become: sometimes\n        ansible_become_method: su\n",
    );
    refused_everywhere(
        &ws,
        "inv.yaml",
        &[
            "play.yaml:4:5: `ansible_port` in `vars:` would not change how rtmig connects",
            "play.yaml:5:5: `ansible_user` in `vars:`",
            "play.yaml:6:5: `ansible_ssh_port` in `vars:`",
            "play.yaml:10:9: `ansible_become` in `vars:` would not change how rtmig connects (it reads connection variables from the inventory only): set it in the play's or task's `become:` keyword",
            "play.yaml:11:32: `ansible_become_method` `su` is not supported",
            "5 problems found",
        ],
    );
}

/// Deep and recursive input, each refused with a located message (exit 1).
#[test]
fn deep_and_recursive_input_is_refused_with_its_place() {
    let ws = Workspace::new();
    let n = 10_000;
    let cases: Vec<(&str, String, &str, String)> = vec![
        (
            "deep list in a playbook",
            format!(
                "- hosts: all\n  vars:\n    x: {}1{}\n  tasks: []\n",
                "[".repeat(n),
                "]".repeat(n)
            ),
            "inv.yaml",
            "play.yaml:3:".into(),
        ),
        (
            "deep mapping in a playbook",
            format!(
                "- hosts: all\n  vars:\n    x: {}1{}\n  tasks: []\n",
                "{a: ".repeat(n),
                "}".repeat(n)
            ),
            "inv.yaml",
            "play.yaml:3:".into(),
        ),
        (
            "self alias",
            "- hosts: all\n  vars:\n    a: &x [*x]\n  tasks: []\n".into(),
            "inv.yaml",
            "play.yaml:3:12:".into(),
        ),
        (
            "recursive templates in hosts",
            "- hosts: \"{{ a }}\"\n  vars:\n    a: \"{{ b }}\"\n    b: \"{{ a }}\"\n  tasks: []\n"
                .into(),
            "inv.yaml",
            "recursive loop detected".into(),
        ),
        (
            "deep inventory",
            PLAY.into(),
            "deep.yaml",
            "deep.yaml:3:".into(),
        ),
        (
            "alias bomb in an inventory",
            PLAY.into(),
            "bomb.yaml",
            "bomb.yaml:".into(),
        ),
    ];
    ws.write("inv.yaml", "all:\n  hosts:\n    h1:\n");
    ws.write(
        "deep.yaml",
        &format!(
            "all:\n  vars:\n    x: {}1{}\n  hosts:\n    h1:\n",
            "[".repeat(n),
            "]".repeat(n)
        ),
    );
    let mut bomb = String::from("all:\n  vars:\n    l0: &l0 [x, x, x, x, x, x, x, x, x]\n");
    for d in 1..10 {
        let refs = vec![format!("*l{}", d - 1); 9].join(", ");
        bomb.push_str(&format!("    l{d}: &l{d} [{refs}]\n"));
    }
    bomb.push_str("  hosts:\n    h1:\n");
    ws.write("bomb.yaml", &bomb);
    for (what, play, inv, expected) in cases {
        ws.write("play.yaml", &play);
        for cmd in ["validate", "plan"] {
            let out = ws
                .rtmig()
                .args([cmd, "-i", inv, "play.yaml"])
                .output_within(std::time::Duration::from_secs(60))
                .expect_code(1);
            assert!(
                out.stderr().contains(&expected),
                "{what}, {cmd}: {}",
                out.stderr()
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// Mutation test: deep or recursive input never crashes `validate`.
//
// Guards: a mutated playbook crashed `rtmig validate` with `thread 'main' has
// overflowed its stack` (an abort, no message). Every mutant of the playbook and
// inventory corpus must give exit 0 or 1 with a message: never a panic (101), a signal
// or a hang. Deterministic from a seed (RTMIG_MUTATION_SEED), printed on failure with
// the mutant; RTMIG_MUTANTS sets how many (the default keeps the test near 20 s).

use std::path::{Path, PathBuf};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// (playbooks, inventories, vars files) of the corpus, sorted: the same list on every
/// machine, so a seed means the same mutants.
fn corpus() -> (Vec<PathBuf>, Vec<PathBuf>, Vec<PathBuf>) {
    let r = repo();
    let mut all = Vec::new();
    for d in ["playbooks", "tests/corpus", "tests/fixtures"] {
        files_under(&r.join(d), &mut all);
    }
    all.push(r.join("inventory.example.yaml"));
    let (mut playbooks, mut inventories, mut vars) = (Vec::new(), Vec::new(), Vec::new());
    for p in all {
        let rel = p
            .strip_prefix(&r)
            .unwrap_or(&p)
            .to_string_lossy()
            .to_string();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let data_ext = [".yaml", ".yml", ".json", ".ini"]
            .iter()
            .any(|e| name.ends_with(e));
        if rel.contains("/templates/") || name.starts_with("expected-") {
            continue;
        }
        if rel.starts_with("playbooks/") || rel.starts_with("tests/corpus/playbook/") {
            if data_ext {
                playbooks.push(p);
            }
        } else if rel.contains("/group_vars/") || rel.contains("/host_vars/") {
            vars.push(p);
        } else if rel.starts_with("tests/corpus/inventory/") || rel.contains("inventory") {
            if data_ext || name == "hosts" {
                inventories.push(p);
            }
        } else if data_ext && name.contains("playbook") {
            playbooks.push(p);
        }
    }
    (playbooks, inventories, vars)
}

/// One mutation of `text`, and what it did (for the failure message).
fn mutate(rng: &mut Rng, text: &str) -> (String, String) {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let i = rng.below(lines.len());
    let indent = |l: &str| l.len() - l.trim_start().len();
    let what;
    match rng.below(11) {
        0 => {
            what = format!("delete line {}", i + 1);
            lines.remove(i);
        }
        1 => {
            what = format!("duplicate line {}", i + 1);
            let l = lines[i].clone();
            lines.insert(i, l);
        }
        2 => {
            let l = &lines[i];
            let new = if rng.below(2) == 0 {
                format!("  {l}")
            } else {
                l.strip_prefix("  ").unwrap_or(l).to_string()
            };
            what = format!("re-indent line {}", i + 1);
            lines[i] = new;
        }
        3 => {
            let j = rng.below(lines.len());
            what = format!("swap the values of lines {} and {}", i + 1, j + 1);
            let split = |l: &str| {
                l.find(": ")
                    .map(|k| (l[..k + 2].to_string(), l[k + 2..].to_string()))
            };
            if let (Some((ka, va)), Some((kb, vb))) = (split(&lines[i]), split(&lines[j])) {
                lines[i] = format!("{ka}{vb}");
                lines[j] = format!("{kb}{va}");
            }
        }
        4 | 5 => {
            // Deep nesting where a value is.
            let depth = *rng.pick(&[20, 63, 64, 65, 200, 300, 1_000, 10_000]);
            let nested = if rng.below(2) == 0 {
                format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
            } else {
                format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth))
            };
            what = format!("nest {depth} deep at line {}", i + 1);
            let l = &lines[i];
            lines[i] = match l.find(": ") {
                Some(k) => format!("{}{nested}", &l[..k + 2]),
                None => format!("{l} {nested}"),
            };
        }
        6 => {
            // Deep block nesting: one key per line, each indented further.
            let depth = *rng.pick(&[65, 300, 2_000]);
            let base = indent(&lines[i]);
            what = format!("{depth} nested block mappings at line {}", i + 1);
            let block: Vec<String> = (0..depth)
                .map(|d| format!("{}k{d}:", " ".repeat(base + 2 * d)))
                .collect();
            lines.splice(i..i, block);
        }
        7 => {
            // An alias bomb (valid YAML, exponential once expanded).
            let base = " ".repeat(indent(&lines[i]));
            what = format!("alias bomb at line {}", i + 1);
            let mut block = vec![format!("{base}rtmig_l0: &rtmig_l0 [lol, lol]")];
            for d in 1..10 {
                let refs = vec![format!("*rtmig_l{}", d - 1); 9].join(", ");
                block.push(format!("{base}rtmig_l{d}: &rtmig_l{d} [{refs}]"));
            }
            lines.splice(i..i, block);
        }
        8 => {
            // A self-referencing alias, or one to an anchor defined later.
            let l = lines[i].clone();
            what = format!("self alias at line {}", i + 1);
            lines[i] = match l.find(": ") {
                Some(k) => format!("{}&rtmig_self [*rtmig_self]", &l[..k + 2]),
                None => format!("{l} &rtmig_self [*rtmig_self]"),
            };
        }
        9 => {
            // Recursive templates and a deep expression: in a `vars:` when there is
            // one (so that the mutant often still parses), else anywhere.
            let (i, base) = match lines.iter().position(|l| l.trim() == "vars:") {
                Some(v) => (v + 1, " ".repeat(indent(&lines[v]) + 2)),
                None => (i, " ".repeat(indent(&lines[i]))),
            };
            what = format!("recursive template vars at line {}", i + 1);
            let deep = format!("{{{{ {}1{} }}}}", "(".repeat(500), ")".repeat(500));
            lines.splice(
                i..i,
                [
                    format!("{base}rtmig_a: \"{{{{ rtmig_b }}}}\""),
                    format!("{base}rtmig_b: \"{{{{ rtmig_a }}}}\""),
                    format!("{base}rtmig_c: \"{deep}\""),
                    format!("{base}rtmig_d: \"{{{{ rtmig_a }}}}\""),
                ],
            );
        }
        _ => {
            // Truncate at a random character.
            let cut = rng.below(text.chars().count() + 1);
            what = format!("truncate after {cut} characters");
            return (text.chars().take(cut).collect(), what);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    (out, what)
}

fn seed() -> u64 {
    std::env::var("RTMIG_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0014)
}

#[test]
fn mutated_corpus_never_crashes_validate() {
    let seed = seed();
    let count: usize = std::env::var("RTMIG_MUTANTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let (playbooks, inventories, vars) = corpus();
    assert!(playbooks.len() >= 5 && inventories.len() >= 8 && vars.len() >= 8);
    // Shown with the test's output when it fails, a hang included.
    eprintln!("mutation seed {seed} (RTMIG_MUTATION_SEED), {count} mutants (RTMIG_MUTANTS)");
    let mut rng = Rng(seed | 1);
    let mut codes = [0usize; 2];
    for n in 0..count {
        let ws = Workspace::new();
        std::os::unix::fs::symlink(repo().join("templates"), ws.path("templates"))
            .expect("symlink");
        ws.write("playbooks/small.yaml", PLAY);
        ws.write("inv/plain.yaml", "all:\n  hosts:\n    h1:\n    h2:\n");
        let role = rng.below(3);
        let source = match role {
            0 => rng.pick(&playbooks).clone(),
            1 => rng.pick(&inventories).clone(),
            _ => rng.pick(&vars).clone(),
        };
        let text = std::fs::read_to_string(&source).unwrap_or_default();
        let mut mutant = text.clone();
        let mut done = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let (m, what) = mutate(&mut rng, &mutant);
            mutant = m;
            done.push(what);
        }
        let name = source
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let (inv, playbook) = match role {
            0 => {
                if let Some(t) = source
                    .parent()
                    .map(|d| d.join("templates"))
                    .filter(|t| t.is_dir())
                {
                    std::os::unix::fs::symlink(t, ws.path("playbooks/templates")).expect("symlink");
                }
                let p = ws.write(&format!("playbooks/{name}"), &mutant);
                (repo().join("inventory.example.yaml"), p)
            }
            1 => {
                let p = ws.write(&format!("inv/{name}"), &mutant);
                (p, ws.path("playbooks/small.yaml"))
            }
            _ => {
                ws.write("inv/group_vars/all.yml", &mutant);
                (ws.path("inv/plain.yaml"), ws.path("playbooks/small.yaml"))
            }
        };
        let run = ws
            .rtmig()
            .args([
                "validate".into(),
                "-i".into(),
                inv.to_string_lossy().to_string(),
                playbook.to_string_lossy().to_string(),
            ])
            .output_within(std::time::Duration::from_secs(30));
        let code = run.code();
        let err = run.stderr();
        let crashed = !(code == 0 || code == 1)
            || err.contains("panicked")
            || err.contains("overflowed")
            || (code == 1 && !err.contains("error"));
        if crashed {
            let keep = std::env::temp_dir().join(format!("rtmig-mutant-{seed}-{n}-{name}"));
            let _ = std::fs::write(&keep, &mutant);
            panic!(
                "mutant {n} of seed {seed} (RTMIG_MUTATION_SEED={seed} RTMIG_MUTANTS={}) crashed `validate` with code {code}: {} of {}: {}\nkept at {}\nstderr:\n{err}",
                n + 1,
                name,
                source.display(),
                done.join(", "),
                keep.display(),
            );
        }
        codes[code as usize] += 1;
    }
    eprintln!(
        "seed {seed}: {count} mutants, {} valid, {} refused with a message",
        codes[0], codes[1]
    );
}

// ---------------------------------------------------------------------------------
// Undefined variables: `validate` names a variable no source defines.

#[test]
fn validate_names_an_undefined_variable_with_its_place() {
    let ws = Workspace::new();
    ws.write(
        "inv.yaml",
        "all:\n  vars:\n    from_inventory: 1\n  hosts:\n    h1:\n      host_var: 2\n",
    );
    ws.write("vars.yaml", "from_file: 3\n");
    ws.write(
        "play.yaml",
        r#"- hosts: all
  gather_facts: false
  vars_files: [vars.yaml]
  vars:
    from_play: "{{ from_inventory }}"
  tasks:
    - debug:
        msg: "{{ from_inventory }} {{ host_var }} {{ from_play }} {{ from_file }} {{ extra }}"
    - command: echo {{ inventory_hostname }} {{ groups['all'] | length }} {{ hostvars[inventory_hostname].host_var }} {{ ansible_check_mode }} {{ ansible_default_ipv4.address | d('') }} {{ play_hosts }}
      register: out
    - set_fact:
        later: "{{ out.stdout }}"
    - add_host:
        name: added
        from_add_host: 1
    - debug:
        msg: "{{ from_add_host | string }}"
    - debug:
        msg: "{{ later }} {{ item }} {{ task_var }} {{ optional | default('x') }} {{ lookup('env', 'HOME') }}"
      vars:
        task_var: 1
      loop: [1, 2]
      loop_control:
        index_var: idx
        label: "{{ idx }}"
    - debug:
        msg: "{{ typo_var }}"
    - debug:
        msg: "{{ maybe }}"
      when: maybe is defined
    - debug:
        msg: "{{ only_if }}"
      when: flag | default(false)
    - debug:
        msg: "{{ item }}"
    - fail:
        msg: "{{ missing_in_when }}"
      when: missing_in_when
    - template:
        src: t.j2
        dest: /tmp/t
    - service_facts:
    - debug:
        msg: "{{ services | length }}"
"#,
    );
    ws.write(
        "templates/t.j2",
        "{% if from_play %}{% set local = 1 %}{% endif %}\n{{ local }} {{ inventory_hostname }}\nport {{ in_template_only }}\n",
    );
    let out = ws
        .rtmig()
        .args(["validate", "-i", "inv.yaml", "play.yaml", "-e", "extra=1"])
        .output()
        .expect_code(1);
    let err = out.stderr();
    for e in [
        "play.yaml:27:14: `typo_var` is undefined",
        "play.yaml:35:14: `item` is undefined",
        "play.yaml:38:13: `missing_in_when` is undefined",
        "templates/t.j2:3:9: `in_template_only` is undefined",
        "(template task at ",
        "4 problems found",
    ] {
        assert!(err.contains(e), "missing `{e}` in:\n{err}");
    }
    // Read only when the task's `when:` holds: a warning, not an error.
    assert!(
        err.contains("warning: play.yaml:32:14: `only_if` is undefined"),
        "{err}"
    );
    for defined in [
        "from_inventory",
        "host_var",
        "from_play",
        "from_file",
        "`extra`",
        "later",
        "task_var",
        "optional",
        "`maybe`",
        "`local`",
        "from_add_host",
        "`idx`",
        "`services`",
    ] {
        assert!(!err.contains(defined), "`{defined}` reported:\n{err}");
    }
    // `run` is as it was: it finds the variable host by host.
    ws.write(
        "inv.yaml",
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n",
    );
    ws.write(
        "run.yaml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug:\n        msg: \"{{ typo_var }}\"\n",
    );
    let run = ws
        .rtmig()
        .args(["run", "-i", "inv.yaml", "run.yaml"])
        .output()
        .expect_code(2);
    assert!(run.stdout().contains("failed=1"), "{}", run.stdout());
}

// Guards: no false positive on the repository's own playbooks, with the example
// inventory and with the shape of the lab's (lab/lab.sh writes it).
#[test]
fn the_migration_playbooks_validate_clean() {
    let ws = Workspace::new();
    ws.write(
        "lab.yaml",
        "all:\n  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: /nonexistent/id_ed25519\n    ansible_ssh_common_args: \"-o StrictHostKeyChecking=yes\"\n    kubeconfig: /nonexistent/kubeconfig\n    kubernetes_version: \"1.23.17\"\n    registry_node: master0\n    etcd_endpoint: http://127.0.0.1:2379\n    etcd_cacert: \"\"\n    etcd_cert: \"\"\n    etcd_key: \"\"\n  children:\n    masters:\n      hosts:\n        master0: {ansible_host: 10.215.0.10}\n    workers:\n      hosts:\n        worker0: {ansible_host: 10.215.0.13}\n",
    );
    let r = repo();
    for inv in [r.join("inventory.example.yaml"), ws.path("lab.yaml")] {
        for p in ["migrate.yaml", "rollback.yaml", "cleanup-docker.yaml"] {
            let out = ws
                .rtmig()
                .args([
                    "validate".to_string(),
                    "-i".into(),
                    inv.to_string_lossy().to_string(),
                    r.join("playbooks").join(p).to_string_lossy().to_string(),
                ])
                .output()
                .expect_code(0);
            assert!(!out.stderr().contains("error"), "{p}: {}", out.stderr());
        }
    }
}

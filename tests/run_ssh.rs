//! `rtmig run` end to end through the real binary against real OpenSSH sshd hosts
//! (needs root: each sshd runs in its own mount namespace with a clean home, some in
//! network namespaces). What the engine promises: every action on many hosts in
//! parallel, idempotent re-runs, check mode with diffs, host keys checked as OpenSSH
//! does, agent and key-file authentication, bastions, unreachable hosts told apart
//! from failed ones, resume after SIGKILL, and secrets kept out of every output.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::Workspace;
use support::sshd::{
    Agent, Netns, PASSWORD_UID, PASSWORD_USER, Sshd, SshdBuilder, Sudo, TestClient, command_lines,
};

/// An inventory of `hosts` (name → sshd) in group `nodes`, host keys checked from the
/// client's known_hosts through `ansible_ssh_common_args`, as Ansible users write it.
fn inventory(
    ws: &Workspace,
    client: &TestClient,
    hosts: &[(&str, &Sshd)],
    key: bool,
    extra: &str,
) -> PathBuf {
    let mut s = String::from("all:\n  vars:\n    ansible_user: root\n");
    s.push_str(&format!(
        "    ansible_ssh_common_args: '-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes'\n",
        client.known_hosts.display()
    ));
    if key {
        s.push_str(&format!(
            "    ansible_ssh_private_key_file: {}\n",
            client.key.path.display()
        ));
    }
    s.push_str(extra);
    s.push_str("  children:\n    nodes:\n      hosts:\n");
    for (name, sshd) in hosts {
        s.push_str(&format!(
            "        {name}:\n          ansible_host: {}\n          ansible_port: {}\n",
            sshd.addr, sshd.port
        ));
    }
    ws.write("inventory.yaml", &s)
}

fn rtmig(ws: &Workspace, client: &TestClient) -> support::Rtmig {
    // HOME is the client's: its empty ~/.ssh/config, no default keys, no agent.
    ws.rtmig().env("HOME", client.dir.path())
}

fn start_hosts(client: &TestClient, n: usize) -> Vec<Sshd> {
    (0..n)
        .map(|_| {
            let s = SshdBuilder::new().authorize(&client.key).start();
            client.trust(&s);
            s
        })
        .collect()
}

/// `n` hosts whose `sudo` is set up as `sudo` says, trusted by `client`.
fn start_sudo_hosts(client: &TestClient, n: usize, sudo: Sudo) -> Vec<Sshd> {
    (0..n)
        .map(|_| {
            let s = SshdBuilder::new().authorize(&client.key).sudo(sudo).start();
            client.trust(&s);
            s
        })
        .collect()
}

/// `n` hosts named h0, h1, ... reached with `client`'s key, written to the workspace's
/// inventory in group `nodes`. Keep them: a dropped [`Sshd`] stops its host.
fn fleet(ws: &Workspace, client: &TestClient, n: usize) -> Vec<Sshd> {
    let hosts = start_hosts(client, n);
    let names = names(n);
    let pairs: Vec<(&str, &Sshd)> = names.iter().map(String::as_str).zip(&hosts).collect();
    inventory(ws, client, &pairs, true, "");
    hosts
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("h{i}")).collect()
}

const EVERY_ACTION: &str = r#"
- name: every action
  hosts: nodes
  gather_facts: true
  vars:
    dir: "OUT/{{ inventory_hostname }}"
  tasks:
    - name: a directory
      file: {path: "{{ dir }}", state: directory, mode: "0755"}
    - name: a config from a template
      template: {src: app.conf.j2, dest: "{{ dir }}/app.conf", mode: "0644"}
    - name: a file from content
      copy: {content: "content-{{ inventory_hostname }}", dest: "{{ dir }}/c.txt", mode: "0600"}
    - name: a file from the controller
      copy: {src: blob.bin, dest: "{{ dir }}/blob.bin"}
    - name: read it back
      command: cat {{ dir }}/c.txt
      register: cat
      changed_when: false
    - name: check it
      assert:
        that: cat.stdout == 'content-' ~ inventory_hostname
    - name: remember it
      set_fact: {shout: "{{ cat.stdout | upper }}"}
    - name: say it
      debug: {msg: "{{ shout }} on {{ ansible_hostname }}"}
    - name: touch a marker
      file: {path: "{{ dir }}/marker", state: touch}
    - name: wait for the marker
      wait_for: {path: "{{ dir }}/marker", timeout: 10}
    - name: wait for sshd's port
      wait_for: {host: "{{ ansible_host }}", port: "{{ ansible_port }}", timeout: 10}
    - name: retry until it holds
      shell: test -e {{ dir }}/marker
      register: probe
      until: probe.rc == 0
      retries: 2
      delay: 0
    # Hosts of a batch run their tasks independently: the source must exist before
    # the run, not be written by h0's own earlier task.
    - name: copy h0's blob to every host
      transfer: {from: h0, src: "BLOB", dest: "{{ dir }}/from-h0.bin"}
    - name: fetch the config back
      fetch: {src: "{{ dir }}/app.conf", dest: "OUT/fetched"}
    - name: a failure that is ignored
      fail: {msg: "expected"}
      ignore_errors: true
    - name: a short pause
      pause: {seconds: 1}
      run_once: true
    - name: remove the marker
      file: {path: "{{ dir }}/marker", state: absent}
"#;

#[test]
fn every_action_runs_on_ten_hosts_and_a_rerun_changes_nothing() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let _hosts = fleet(&ws, &client, 10);
    let names = names(10);
    let out = ws.path("out");
    ws.write(
        "templates/app.conf.j2",
        "host = {{ inventory_hostname }}\ncpus = {{ ansible_processor_vcpus }}\n",
    );
    let blob: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::create_dir_all(ws.path("files")).unwrap();
    std::fs::write(ws.path("files/blob.bin"), &blob).unwrap();
    ws.write(
        "site.yaml",
        &EVERY_ACTION
            .replace("OUT", &out.display().to_string())
            .replace("BLOB", &ws.path("files/blob.bin").display().to_string()),
    );

    let run = rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    let stdout = run.stdout();
    // Guards: the per-host log once panicked on fact gathering and was silently
    // switched off; every output must survive the whole run.
    assert!(!run.stderr().contains("switched off"), "{}", run.stderr());
    for h in &names {
        let log = std::fs::read_to_string(ws.runs()[0].join(format!("hosts/{h}.log"))).unwrap();
        assert!(
            log.contains("TASK [Gathering Facts] (play 1, facts)"),
            "{log}"
        );
        assert!(log.contains("TASK [remove the marker]"), "{log}");
    }
    for h in &names {
        let dir = out.join(h);
        let conf = std::fs::read_to_string(dir.join("app.conf")).unwrap();
        assert!(conf.starts_with(&format!("host = {h}\ncpus = ")), "{conf}");
        assert_eq!(
            std::fs::read_to_string(dir.join("c.txt")).unwrap(),
            format!("content-{h}")
        );
        assert_eq!(std::fs::read(dir.join("blob.bin")).unwrap(), blob);
        assert_eq!(std::fs::read(dir.join("from-h0.bin")).unwrap(), blob);
        assert!(!dir.join("marker").exists());
        let fetched = out
            .join("fetched")
            .join(h)
            .join(dir.join("app.conf").strip_prefix("/").unwrap());
        assert_eq!(std::fs::read_to_string(fetched).unwrap(), conf);
        assert!(
            stdout.contains(&format!("CONTENT-{} on ", h.to_uppercase())),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!(
                "failed (ignored): [{h}] a failure that is ignored"
            )),
            "{stdout}"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("h3/c.txt"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    let again = rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    let stdout = again.stdout();
    for h in &names {
        for task in [
            "a config from a template",
            "a file from content",
            "a file from the controller",
            "copy h0's blob to every host",
        ] {
            assert!(
                stdout.contains(&format!("ok: [{h}] {task}")),
                "{task} on {h} was not `ok`:\n{stdout}"
            );
        }
    }
}

const FILE_MODULES: &str = r#"
- hosts: nodes
  gather_facts: false
  vars:
    conf: "OUT/{{ inventory_hostname }}/sshd_config"
  tasks:
    - name: port
      lineinfile: {path: "{{ conf }}", regexp: '^#?Port ', line: Port 2222}
    - name: no root login
      ansible.builtin.replace:
        path: "{{ conf }}"
        regexp: '^(PermitRootLogin)\s+yes$'
        replace: '\1 no'
    - name: match block
      blockinfile:
        path: "{{ conf }}"
        mode: "0640"
        block: |
          Match User deploy
            PasswordAuthentication no
    - name: stat it
      stat: {path: "{{ conf }}", checksum_algorithm: sha256}
      register: st
    - name: slurp it
      slurp: {src: "{{ conf }}"}
      register: sl
    - name: check what was read
      when: not ansible_check_mode
      assert:
        that:
          - st.stat.exists and st.stat.isreg and st.stat.mode == '0640'
          - st.stat.checksum == (sl.content | b64decode | hash('sha256'))
          - "'Port 2222' in (sl.content | b64decode)"
    - name: unpack
      unarchive: {src: app.tar.gz, dest: "OUT/{{ inventory_hostname }}"}
    - name: a command that already ran
      command:
        argv: [touch, "OUT/{{ inventory_hostname }}/ran"]
        creates: "OUT/{{ inventory_hostname }}/sshd_*"
"#;

const SSHD_CONFIG: &str = "#Port 22\nPermitRootLogin yes\nUsePAM yes\n";

/// lineinfile, replace and blockinfile edit a config over SSH, stat and slurp read it
/// back, unarchive unpacks a controller tarball; a rerun is ok throughout, and `--check --diff` on a fresh copy shows the three
/// edits and writes nothing.
#[test]
fn file_modules_edit_a_config_and_read_it_back() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let _hosts = fleet(&ws, &client, 2);
    let out = ws.path("out");
    for h in names(2) {
        std::fs::create_dir_all(out.join(&h)).unwrap();
        std::fs::write(out.join(&h).join("sshd_config"), SSHD_CONFIG).unwrap();
    }
    ws.write(
        "site.yaml",
        &FILE_MODULES.replace("OUT", &out.display().to_string()),
    );
    ws.write("src/app/version", "1.2.3\n");
    std::fs::create_dir_all(ws.path("files")).unwrap();
    let tar = std::process::Command::new("tar")
        .arg("-czf")
        .arg(ws.path("files/app.tar.gz"))
        .arg("-C")
        .arg(ws.path("src"))
        .arg("app")
        .status()
        .unwrap();
    assert!(tar.success());
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "-i", "inventory.yaml", "site.yaml"];
        args.extend_from_slice(extra);
        rtmig(&ws, &client).args(args).output().expect_code(0)
    };
    let first = run(&[]).stdout();
    let expected = "Port 2222\nPermitRootLogin no\nUsePAM yes\n# BEGIN ANSIBLE MANAGED BLOCK\n\
                    Match User deploy\n  PasswordAuthentication no\n# END ANSIBLE MANAGED BLOCK\n";
    for h in names(2) {
        let conf = out.join(&h).join("sshd_config");
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), expected);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert!(!out.join(&h).join("ran").exists(), "creates did not hold");
        assert_eq!(
            std::fs::read_to_string(out.join(&h).join("app/version")).unwrap(),
            "1.2.3\n"
        );
        for task in ["port", "no root login", "match block", "unpack"] {
            assert!(first.contains(&format!("changed: [{h}] {task}")), "{first}");
        }
    }
    let again = run(&[]).stdout();
    for h in names(2) {
        for task in [
            "port",
            "no root login",
            "match block",
            "stat it",
            "slurp it",
            "unpack",
        ] {
            assert!(again.contains(&format!("ok: [{h}] {task}")), "{again}");
        }
        assert!(
            again.contains(&format!("ok: [{h}] a command that already ran")),
            "{again}"
        );
    }
    // A fresh copy under --check --diff: every edit shown, nothing written.
    std::fs::write(out.join("h0/sshd_config"), SSHD_CONFIG).unwrap();
    let check = run(&["--check", "--diff", "--limit", "h0"]).stdout();
    assert_eq!(
        std::fs::read_to_string(out.join("h0/sshd_config")).unwrap(),
        SSHD_CONFIG
    );
    for line in [
        "-#Port 22",
        "+Port 2222",
        "-PermitRootLogin yes",
        "+PermitRootLogin no",
        "+# BEGIN ANSIBLE MANAGED BLOCK",
    ] {
        assert!(check.contains(line), "`{line}` not in:\n{check}");
    }
}

#[test]
fn check_mode_with_diff_changes_nothing_on_the_hosts() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let _hosts = fleet(&ws, &client, 2);
    let out = ws.path("out");
    ws.write(
        "site.yaml",
        &format!(
            "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - copy: {{content: \"new {{{{ inventory_hostname }}}}\\n\", dest: \"{}/{{{{ inventory_hostname }}}}.conf\"}}\n    - shell: touch {}/ran-{{{{ inventory_hostname }}}}\n",
            out.display(),
            out.display()
        ),
    );
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("h0.conf"), "old\n").unwrap();
    let run = rtmig(&ws, &client)
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
    assert_eq!(
        std::fs::read_to_string(out.join("h0.conf")).unwrap(),
        "old\n"
    );
    assert!(!out.join("h1.conf").exists());
    assert!(!out.join("ran-h0").exists(), "a command ran in check mode");
    let stdout = run.stdout();
    assert!(
        stdout.contains("-old") && stdout.contains("+new h0"),
        "{stdout}"
    );
}

#[test]
fn an_unknown_host_key_is_refused_and_accept_new_records_it() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let host = SshdBuilder::new().authorize(&client.key).start();
    inventory(&ws, &client, &[("h0", &host)], true, "");
    ws.write(
        "site.yaml",
        "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - command: 'true'\n",
    );

    let refused = rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(4);
    let text = refused.stdout();
    assert!(text.contains("unreachable: [h0]"), "{text}");
    assert!(text.contains("--accept-new-host-keys"), "{text}");
    assert_eq!(std::fs::read_to_string(&client.known_hosts).unwrap(), "");

    rtmig(&ws, &client)
        .args([
            "run",
            "-i",
            "inventory.yaml",
            "site.yaml",
            "--fresh",
            "--accept-new-host-keys",
        ])
        .output()
        .expect_code(0);
    let recorded = std::fs::read_to_string(&client.known_hosts).unwrap();
    assert!(
        recorded.contains(&format!("[{}]:{}", host.addr, host.port)),
        "{recorded}"
    );
    // Strict again: the recorded key is now known.
    rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
}

#[test]
fn a_changed_host_key_is_refused_with_openssh_warning() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let host = SshdBuilder::new().authorize(&client.key).start();
    let impostor = SshdBuilder::new().start();
    // known_hosts says this host:port has the impostor's key.
    let line = impostor
        .known_hosts_lines()
        .replace(&impostor.host_port(), &host.host_port());
    std::fs::write(&client.known_hosts, line).unwrap();
    inventory(&ws, &client, &[("h0", &host)], true, "");
    ws.write(
        "site.yaml",
        "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - command: 'true'\n",
    );
    for extra in [&[][..], &["--accept-new-host-keys"][..]] {
        let run = rtmig(&ws, &client)
            .args(["run", "-i", "inventory.yaml", "site.yaml", "--fresh"])
            .args(extra)
            .output()
            .expect_code(4);
        assert!(
            run.stdout()
                .contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{}",
            run.stdout()
        );
    }
}

#[test]
fn agent_authentication_works_without_a_key_file() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let host = SshdBuilder::new().authorize(&client.key).start();
    client.trust(&host);
    let agent = Agent::start();
    agent.add(&client.key);
    inventory(&ws, &client, &[("h0", &host)], false, "");
    ws.write(
        "site.yaml",
        "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - command: 'true'\n",
    );
    rtmig(&ws, &client)
        .env("SSH_AUTH_SOCK", &agent.sock)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    // Without the agent there is no key to offer.
    rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(4);
}

#[test]
fn passwords_never_appear_in_any_output_or_file() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let host = SshdBuilder::new()
        .config("PasswordAuthentication yes")
        .start();
    client.trust(&host);
    let become_secret = "become-s3cret-xyzzy";
    let extra = format!(
        "    ansible_password: '{}'\n    ansible_become_password: '{become_secret}'\n",
        host.password
    );
    let inv = inventory(&ws, &client, &[("h0", &host)], false, &extra);
    let text = std::fs::read_to_string(&inv).unwrap().replace(
        "ansible_user: root",
        &format!("ansible_user: {PASSWORD_USER}"),
    );
    std::fs::write(&inv, text).unwrap();
    ws.write(
        "site.yaml",
        "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - name: try to leak\n      shell: echo pw={{ ansible_password }} become={{ ansible_become_password }}\n      register: leak\n    - debug: {var: leak.stdout}\n    - fail: {msg: \"{{ ansible_password }}\"}\n",
    );
    let run = rtmig(&ws, &client)
        .args(["run", "-vvv", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(2);
    let mut everything = run.stdout() + &run.stderr();
    assert!(everything.contains("pw=********"), "{everything}");
    for entry in walk(&ws.path(".rtmig")) {
        everything.push_str(&std::fs::read_to_string(&entry).unwrap_or_default());
    }
    assert!(
        !everything.contains(&host.password),
        "the ssh password leaked"
    );
    assert!(
        !everything.contains(become_secret),
        "the become password leaked"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p))
            } else {
                out.push(p)
            }
        }
    }
    out
}

#[test]
fn a_bastion_reaches_hosts_behind_it() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let mut bastion_ns = Netns::new();
    let target_ns = Netns::new();
    let (_, bastion_addr) = bastion_ns.link_to_root();
    let (bastion_side, target_addr) = bastion_ns.link_to(&target_ns);
    bastion_ns.block_from_root(target_addr);
    let bastion = SshdBuilder::new()
        .authorize(&client.key)
        .in_netns(&bastion_ns, bastion_addr)
        .start();
    let target = SshdBuilder::new()
        .authorize(&client.key)
        .in_netns(&target_ns, target_addr)
        .start();
    client.trust(&bastion);
    client.trust(&target);
    let extra = format!(
        "    ansible_ssh_common_args: '-o UserKnownHostsFile={} -o ProxyJump=root@{bastion_addr}'\n",
        client.known_hosts.display()
    );
    let inv = inventory(&ws, &client, &[("behind", &target)], true, "");
    // Replace the common args line with one that also jumps.
    let text = std::fs::read_to_string(&inv).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.contains("ansible_ssh_common_args"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(
        &inv,
        text.replacen("  vars:\n", &format!("  vars:\n{extra}"), 1),
    )
    .unwrap();
    ws.write(
        "site.yaml",
        "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - shell: echo $SSH_CONNECTION\n      register: conn\n    - debug: {msg: \"from {{ conn.stdout }}\"}\n",
    );
    let run = rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    assert!(
        run.stdout().contains(&format!("from {bastion_side} ")),
        "{}",
        run.stdout()
    );
}

#[test]
fn a_host_cut_off_mid_run_is_unreachable_while_the_others_finish() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let mut ns = Netns::new();
    let (_, addr) = ns.link_to_root();
    let cut = SshdBuilder::new()
        .authorize(&client.key)
        .in_netns(&ns, addr)
        .start();
    client.trust(&cut);
    let others = start_hosts(&client, 2);
    inventory(
        &ws,
        &client,
        &[("cut", &cut), ("a", &others[0]), ("b", &others[1])],
        true,
        "",
    );
    let out = ws.path("out");
    std::fs::create_dir_all(&out).unwrap();
    ws.write(
        "site.yaml",
        &format!(
            "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - shell: touch {o}/one-{{{{ inventory_hostname }}}}\n    - shell: sleep 4\n    - shell: touch {o}/three-{{{{ inventory_hostname }}}}\n",
            o = out.display()
        ),
    );
    let child = rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .spawn();
    let started = Instant::now();
    while !out.join("one-cut").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first task never ran on `cut`"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ns.set_link(false);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{stdout}");
    assert!(stdout.contains("unreachable: [cut]"), "{stdout}");
    assert!(
        out.join("three-a").exists() && out.join("three-b").exists(),
        "{stdout}"
    );
    assert!(!out.join("three-cut").exists());
}

// Guards the journal's promise: a controller killed with SIGKILL in the middle of a run
// can be resumed, every host finishes, and no task that finished runs again.
#[test]
fn sigkill_mid_run_then_resume_finishes_without_repeating_finished_tasks() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let _hosts = fleet(&ws, &client, 3);
    let out = ws.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let log = format!("{}/{{{{ inventory_hostname }}}}.log", out.display());
    ws.write(
        "site.yaml",
        &format!(
            "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - name: one\n      shell: echo one >> {log}\n    - name: two\n      shell: sleep 2; echo two >> {log}\n    - name: three\n      shell: echo three >> {log}\n    - name: four\n      shell: echo four >> {log}\n"
        ),
    );
    let mut child = rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .spawn();
    let started = Instant::now();
    while !(0..3).all(|i| {
        std::fs::read_to_string(out.join(format!("h{i}.log"))).is_ok_and(|s| s.contains("one"))
    }) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "task one never ran everywhere"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml", "--resume"])
        .output()
        .expect_code(0);
    for i in 0..3 {
        let text = std::fs::read_to_string(out.join(format!("h{i}.log"))).unwrap();
        let count = |w: &str| text.lines().filter(|l| *l == w).count();
        assert_eq!(count("one"), 1, "h{i}: {text}");
        assert_eq!(count("three"), 1, "h{i}: {text}");
        assert_eq!(count("four"), 1, "h{i}: {text}");
        // `two` was in flight when the controller died: it may have run twice.
        assert!((1..=2).contains(&count("two")), "h{i}: {text}");
    }
    let runs = ws.runs();
    assert_eq!(runs.len(), 1);
    let journal = std::fs::read_to_string(runs[0].join("journal.jsonl")).unwrap();
    let mut seen = std::collections::HashSet::new();
    for line in journal.lines().filter(|l| l.contains("\"t\":\"done\"")) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (
            v["host"].to_string(),
            v["play"].to_string(),
            v["task"].to_string(),
        );
        assert!(
            seen.insert(key.clone()),
            "{key:?} recorded as done twice:\n{journal}"
        );
    }
    assert_eq!(seen.len(), 12);
}

/// An inventory whose hosts log in as [`PASSWORD_USER`] with the client's key, each
/// with its own `ansible_become_password` when given.
fn become_inventory(
    ws: &Workspace,
    client: &TestClient,
    hosts: &[(&str, &Sshd, Option<&str>)],
) -> PathBuf {
    let plain: Vec<(&str, &Sshd)> = hosts.iter().map(|(n, s, _)| (*n, *s)).collect();
    let inv = inventory(ws, client, &plain, true, "");
    let mut text = std::fs::read_to_string(&inv).unwrap().replace(
        "ansible_user: root",
        &format!("ansible_user: {PASSWORD_USER}"),
    );
    for (name, sshd, password) in hosts {
        if let Some(pw) = password {
            let port_line = format!("          ansible_port: {}\n", sshd.port);
            let needle = format!(
                "        {name}:\n          ansible_host: {}\n{port_line}",
                sshd.addr
            );
            assert!(text.contains(&needle), "{text}");
            text = text.replace(
                &needle,
                &format!("{needle}          ansible_become_password: '{pw}'\n"),
            );
        }
    }
    std::fs::write(&inv, text).unwrap();
    inv
}

/// A directory on the controller (which the test hosts share) that only root may enter.
fn root_only_dir(ws: &Workspace) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = ws.path("root-only");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

const BECOME: &str = r#"
- hosts: nodes
  gather_facts: false
  tasks:
    - name: who am i
      shell: id -u
      register: me
    - name: who am i with become
      shell: id -u
      become: true
      register: root
    - name: write as root
      copy: {content: "written\n", dest: "DIR/{{ inventory_hostname }}", mode: "0600"}
      become: true
    - name: stdin reaches the command intact
      shell: cat
      args: {stdin: "line1"}
      become: true
      register: echoed
    - name: check
      assert:
        that:
          - me.stdout == 'UID'
          - root.stdout == '0'
          - echoed.stdout == 'line1'
"#;

// `become` through sudo with NOPASSWD. Guards: a become password given for a host whose
// sudo does not ask for one was fed to the command's standard input instead (written
// into uploaded files, read by the command).
#[test]
fn become_through_sudo_without_a_password_runs_as_root() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let hosts = start_sudo_hosts(&client, 2, Sudo::NoPassword);
    become_inventory(
        &ws,
        &client,
        &[
            ("plain", &hosts[0], None),
            ("needless", &hosts[1], Some("not-asked-for-pw")),
        ],
    );
    let dir = root_only_dir(&ws);
    ws.write(
        "site.yaml",
        &BECOME
            .replace("DIR", &dir.display().to_string())
            .replace("UID", &PASSWORD_UID.to_string()),
    );
    let run = rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output_within(Duration::from_secs(120))
        .expect_code(0);
    use std::os::unix::fs::MetadataExt;
    for h in ["plain", "needless"] {
        let file = dir.join(h);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "written\n",
            "{}",
            run.stdout()
        );
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.uid(), 0, "{h}: not written as root");
        assert_eq!(meta.mode() & 0o777, 0o600);
    }
    assert!(!run.stdout().contains("not-asked-for-pw"));
}

// `become` with a password: sudo reads it from standard input; it is never on a command
// line on the host (process list, sudo's log) nor in any output, log or journal.
#[test]
fn become_password_is_fed_on_stdin_and_never_shown() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let host = SshdBuilder::new()
        .authorize(&client.key)
        .sudo(Sudo::Password)
        .start();
    client.trust(&host);
    become_inventory(&ws, &client, &[("h0", &host, Some(&host.password))]);
    let dir = root_only_dir(&ws);
    let site = BECOME
        .replace("DIR", &dir.display().to_string())
        .replace("UID", &PASSWORD_UID.to_string())
        + "    - name: a while as root\n      shell: sleep 2 && echo slept\n      become: true\n";
    ws.write("site.yaml", &site);
    let child = rtmig(&ws, &client)
        .args(["run", "-vvv", "-i", "inventory.yaml", "site.yaml"])
        .spawn();
    // Watch the host's process list while the tasks run.
    let mut seen_sudo = false;
    let mut lines_seen = Vec::new();
    let started = Instant::now();
    let pid = child.id() as i32;
    while Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
    {
        for line in host.command_lines() {
            seen_sudo |= line.contains("sudo");
            assert!(
                !line.contains(&host.password),
                "the become password is on a command line: {line}"
            );
            lines_seen.push(line);
        }
        assert!(started.elapsed() < Duration::from_secs(120), "a hang");
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        seen_sudo,
        "sudo never showed in the process list: {lines_seen:?}"
    );
    assert!(stdout.contains("slept"), "{stdout}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(dir.join("h0")).unwrap().uid(), 0);
    assert_eq!(
        std::fs::read_to_string(dir.join("h0")).unwrap(),
        "written\n"
    );
    let sudo_log = host.sudo_log();
    assert!(
        sudo_log.contains("COMMAND="),
        "sudo logged nothing:\n{sudo_log}"
    );
    let mut everything = stdout + &stderr + &sudo_log + &host.log();
    for entry in walk(&ws.path(".rtmig")) {
        everything.push_str(&std::fs::read_to_string(&entry).unwrap_or_default());
    }
    assert!(
        !everything.contains(&host.password),
        "the become password leaked"
    );
}

// A wrong become password, or none where sudo asks for one: a failed task that names
// the host, the task and the reason, promptly (sudo must not wait for a password).
#[test]
fn a_wrong_or_missing_become_password_fails_clearly() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let hosts = start_sudo_hosts(&client, 2, Sudo::Password);
    let wrong = "wrong-pw-plugh";
    become_inventory(
        &ws,
        &client,
        &[("wrong", &hosts[0], Some(wrong)), ("none", &hosts[1], None)],
    );
    ws.write(
        "site.yaml",
        "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - name: as root\n      shell: id -u\n      become: true\n",
    );
    let run = rtmig(&ws, &client)
        .args(["run", "-vvv", "-i", "inventory.yaml", "site.yaml"])
        .output_within(Duration::from_secs(60))
        .expect_code(2);
    let stdout = run.stdout();
    let logs: String = walk(&ws.runs()[0].join("hosts"))
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let line = |host: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("failed: [{host}] as root")))
            .unwrap_or_else(|| panic!("no failure line for {host}:\n{stdout}"))
            .to_string()
    };
    // rtmig's reason, then sudo's own answer.
    assert!(line("wrong").contains("Sorry, try again."), "{stdout}");
    assert!(
        line("wrong").contains("incorrect become password"),
        "{stdout}\n{logs}"
    );
    assert!(
        line("none").contains("needs a password"),
        "{stdout}\n{logs}"
    );
    assert!(!(stdout + &run.stderr()).contains(wrong));
}

/// Start `rtmig` in its own process group, as a shell starts a foreground job, so that
/// [`ctrl_c`] reaches it the way a terminal's Ctrl-C does (the whole group).
fn spawn_job(cmd: support::Rtmig) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = cmd.command();
    cmd.process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.spawn().expect("spawn rtmig")
}

fn ctrl_c(job: &std::process::Child) {
    let rc = unsafe { libc::kill(-(job.id() as i32), libc::SIGINT) };
    assert_eq!(rc, 0, "SIGINT to the job");
}

/// Wait until every host's log on the controller side holds `line`.
fn wait_for_lines(out: &Path, hosts: &[&str], line: &str) {
    let started = Instant::now();
    while !hosts.iter().all(|h| {
        std::fs::read_to_string(out.join(format!("{h}.log")))
            .is_ok_and(|s| s.lines().any(|l| l == line))
    }) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "`{line}` never reached every host"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interruptible_playbook(ws: &Workspace, out: &Path, sleep: u32) {
    let log = format!("{}/{{{{ inventory_hostname }}}}.log", out.display());
    ws.write(
        "site.yaml",
        &format!(
            "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - name: one\n      shell: echo one >> {log}\n    - name: two\n      shell: echo started-two >> {log}; sleep {sleep}; echo two >> {log}\n    - name: three\n      shell: echo three >> {log}\n    - name: four\n      shell: echo four >> {log}\n"
        ),
    );
}

// Ctrl-C: no task starts any more, running tasks finish and reach the journal, the
// exact command to resume is printed, exit 99; `--resume` then finishes every host
// without running a finished task again.
#[test]
fn ctrl_c_lets_running_tasks_finish_and_resume_completes_the_run() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let _hosts = fleet(&ws, &client, 3);
    let names = ["h0", "h1", "h2"];
    let out = ws.path("out");
    std::fs::create_dir_all(&out).unwrap();
    interruptible_playbook(&ws, &out, 2);

    let job = spawn_job(rtmig(&ws, &client).args(["run", "-i", "inventory.yaml", "site.yaml"]));
    wait_for_lines(&out, &names, "started-two");
    ctrl_c(&job);
    let output = job.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(99), "{stdout}\n{stderr}");
    for h in names {
        assert_eq!(
            std::fs::read_to_string(out.join(format!("{h}.log"))).unwrap(),
            "one\nstarted-two\ntwo\n",
            "{h}: the running task must finish and no new one start\n{stdout}"
        );
    }
    let resume = format!(
        "{} run -i inventory.yaml site.yaml --resume",
        env!("CARGO_BIN_EXE_rtmig")
    );
    assert!(stdout.contains(&resume), "no `{resume}` in\n{stdout}");
    assert!(stderr.contains("Interrupted"), "{stderr}");
    assert_eq!(
        finished_tasks_recorded_once(&ws),
        6,
        "one and two on 3 hosts"
    );
    let status = rtmig(&ws, &client)
        .args(["status", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    assert!(
        status.stdout().contains("unfinished"),
        "{}",
        status.stdout()
    );

    rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml", "--resume"])
        .output()
        .expect_code(0);
    for h in names {
        assert_eq!(
            std::fs::read_to_string(out.join(format!("{h}.log"))).unwrap(),
            "one\nstarted-two\ntwo\nthree\nfour\n",
            "{h}"
        );
    }
    assert_eq!(finished_tasks_recorded_once(&ws), 12);
}

// A second Ctrl-C stops at once (exit 99) without waiting for running tasks; the
// journal stays loadable and the run resumable.
#[test]
fn a_second_ctrl_c_exits_at_once() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let _hosts = fleet(&ws, &client, 2);
    let names = ["h0", "h1"];
    let out = ws.path("out");
    std::fs::create_dir_all(&out).unwrap();
    interruptible_playbook(&ws, &out, 120);

    let mut job = spawn_job(rtmig(&ws, &client).args(["run", "-i", "inventory.yaml", "site.yaml"]));
    let stderr = support::read_in_background(job.stderr.take());
    let stdout = support::read_in_background(job.stdout.take());
    wait_for_lines(&out, &names, "started-two");
    ctrl_c(&job);
    // The first one is acknowledged before the second is sent.
    std::thread::sleep(Duration::from_millis(300));
    ctrl_c(&job);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = job.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "a second Ctrl-C did not stop rtmig"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
    let stdout = String::from_utf8_lossy(&stdout.join().unwrap()).into_owned();
    assert_eq!(status.code(), Some(99), "{stdout}\n{stderr}");
    assert!(stderr.contains("Interrupted again"), "{stderr}");
    // It names what it did not wait for, and how to continue.
    for h in names {
        assert!(stderr.contains(&format!("\n  {h}: two")), "{stderr}");
    }
    assert!(stderr.contains("site.yaml --resume"), "{stderr}");
    for h in names {
        let log = std::fs::read_to_string(out.join(format!("{h}.log"))).unwrap();
        assert!(
            !log.contains("\ntwo\n"),
            "{h} waited for the running task: {log}"
        );
    }
    let status = rtmig(&ws, &client)
        .args(["status", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0);
    assert!(
        status.stdout().contains("stopped during `two`"),
        "{}",
        status.stdout()
    );
}

// `--resume` after the playbook changed: refuses, naming each changed task by position
// and name, runs nothing; `--allow-changed-playbook` resumes, and that accepted version
// is what later resumes compare with.
#[test]
fn resume_with_a_changed_playbook_names_the_changes_and_needs_consent() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let _hosts = fleet(&ws, &client, 2);
    let out = ws.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let log = format!("{}/{{{{ inventory_hostname }}}}.log", out.display());
    let fixed = out.join("fixed");
    let v1 = format!(
        "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - name: one\n      shell: echo one >> {log}\n    - name: two\n      shell: test -e {f} && echo two >> {log}\n    - name: three\n      shell: echo three >> {log}\n    - name: four\n      shell: echo four >> {log}\n",
        f = fixed.display()
    );
    ws.write("site.yaml", &v1);
    rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(2);

    // Same first two tasks (reformatted, with a comment); three renamed; four's
    // command changed under the same name; five added.
    let v2 = v1
        .replace("    - name: one\n", "    # unchanged\n    - name:   one\n")
        .replace("name: three", "name: three renamed")
        .replace("echo four", "echo FOUR")
        + &format!("    - name: five\n      shell: echo five >> {log}\n");
    ws.write("site.yaml", &v2);
    let refused = rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml", "--resume"])
        .output()
        .expect_code(1);
    let err = refused.stderr();
    for expected in [
        "play 1 task 3: `three` is now `three renamed`",
        "play 1 task 4: `four` changed",
        "play 1 task 5: `five` was added",
        "--allow-changed-playbook",
    ] {
        assert!(err.contains(expected), "no `{expected}` in\n{err}");
    }
    assert!(!err.contains("task 1") && !err.contains("task 2"), "{err}");
    assert_eq!(
        ws.read("out/h0.log"),
        "one\n",
        "a refused resume ran something"
    );

    // Accepted, still failing at `two`: the next resume compares with v2 and goes on.
    rtmig(&ws, &client)
        .args([
            "run",
            "-i",
            "inventory.yaml",
            "site.yaml",
            "--resume",
            "--allow-changed-playbook",
        ])
        .output()
        .expect_code(2);
    std::fs::write(&fixed, "").unwrap();
    rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml", "--resume"])
        .output()
        .expect_code(0);
    for h in ["h0", "h1"] {
        assert_eq!(
            ws.read(&format!("out/{h}.log")),
            "one\ntwo\nthree\nFOUR\nfive\n",
            "{h}"
        );
    }
    assert_eq!(finished_tasks_recorded_once(&ws), 10);
}

/// Every task recorded as finished successfully is recorded once per host (a failed
/// one is run again on resume); returns how many there are.
fn finished_tasks_recorded_once(ws: &Workspace) -> usize {
    let runs = ws.runs();
    assert_eq!(runs.len(), 1, "a resume must continue the same run");
    let records = support::journal(&runs[0]);
    assert_eq!(
        support::repeated_steps(&records),
        Vec::<String>::new(),
        "a finished task ran again"
    );
    support::finished(&records).count()
}

// A task's `timeout`: the task fails naming it, and the command does not go on running
// on the host. Guards: the channel was only closed, which stops nothing for a root
// login (sshd ignores `signal` there) nor under sudo: `sleep` ran on for its 5 minutes.
#[test]
fn a_timed_out_task_fails_and_its_command_is_stopped_on_the_host() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let as_root = SshdBuilder::new().authorize(&client.key).start();
    let with_sudo = SshdBuilder::new()
        .authorize(&client.key)
        .sudo(Sudo::NoPassword)
        .start();
    client.trust(&as_root);
    client.trust(&with_sudo);
    let inv = inventory(
        &ws,
        &client,
        &[("as-root", &as_root), ("with-sudo", &with_sudo)],
        true,
        "",
    );
    // `with-sudo` logs in as the unprivileged user and becomes root.
    let text = std::fs::read_to_string(&inv).unwrap().replace(
        &format!("          ansible_port: {}\n", with_sudo.port),
        &format!(
            "          ansible_port: {}\n          ansible_user: {PASSWORD_USER}\n          ansible_become: true\n",
            with_sudo.port
        ),
    );
    std::fs::write(&inv, text).unwrap();
    let out = ws.path("out");
    std::fs::create_dir_all(&out).unwrap();
    // Unique on the machine, so the process table tells this run's command apart.
    let sleep = format!("sleep 297.{}", std::process::id());
    ws.write(
        "site.yaml",
        &format!(
            "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - name: too long\n      shell: {sleep}; touch {o}/late-{{{{ inventory_hostname }}}}\n      timeout: 2\n      ignore_errors: true\n    - name: after\n      shell: id -u\n      register: after\n    - debug: {{msg: \"after as {{{{ after.stdout }}}}\"}}\n",
            o = out.display()
        ),
    );
    let run = rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output_within(Duration::from_secs(120))
        .expect_code(0);
    let stdout = run.stdout();
    for name in ["as-root", "with-sudo"] {
        assert!(
            stdout.contains(&format!(
                "failed (ignored): [{name}] too long => command timed out after 2s"
            )),
            "{stdout}"
        );
        // The host's connection is still usable, and sudo still works there.
        assert!(
            stdout.contains(&format!("ok: [{name}] debug => after as 0")),
            "{stdout}"
        );
    }
    // Anywhere on the machine: an abandoned command is reparented away from its sshd.
    let still_running = || -> Vec<String> {
        command_lines()
            .into_iter()
            .filter(|l| l.contains(&sleep))
            .collect()
    };
    assert_eq!(still_running(), Vec::<String>::new());

    // `--task-timeout`: the same for tasks without a `timeout` of their own.
    ws.write(
        "site.yaml",
        &format!("- hosts: nodes\n  gather_facts: false\n  tasks:\n    - name: unbounded\n      shell: {sleep}\n"),
    );
    let run = rtmig(&ws, &client)
        .args([
            "run",
            "-i",
            "inventory.yaml",
            "site.yaml",
            "--task-timeout",
            "1",
        ])
        .output_within(Duration::from_secs(120))
        .expect_code(2);
    for name in ["as-root", "with-sudo"] {
        let expected = format!("failed: [{name}] unbounded => command timed out after 1s");
        assert!(run.stdout().contains(&expected), "{}", run.stdout());
    }
    assert_eq!(still_running(), Vec::<String>::new());
}

// On a terminal: the progress bar is drawn, log lines come out whole between its
// redraws, the recap and the resume hint are printed, and the exit code is the run's.
#[test]
fn on_a_terminal_the_progress_bar_never_breaks_log_lines() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let _hosts = fleet(&ws, &client, 4);
    let names = ["h0", "h1", "h2", "h3"];
    ws.write(
        "site.yaml",
        "- hosts: nodes\n  gather_facts: false\n  tasks:\n    - name: first\n      shell: sleep 0.3\n    - name: second fails on h2\n      shell: sleep 0.3; test {{ inventory_hostname }} != h2\n    - name: third\n      shell: sleep 0.3\n",
    );
    // `script` gives rtmig a pseudo-terminal (stdin, stdout and stderr) of a known size;
    // `--yes` because on a terminal rtmig asks before changing hosts.
    let out = std::process::Command::new("script")
        .arg("-qfec")
        .arg(format!(
            "stty cols 100 rows 40; exec {} run --yes -i inventory.yaml site.yaml",
            env!("CARGO_BIN_EXE_rtmig")
        ))
        .arg("/dev/null")
        .current_dir(ws.dir.path())
        .env("HOME", client.dir.path())
        .env_remove("SSH_AUTH_SOCK")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(2), "{raw}");
    assert!(
        raw.contains(" tasks, batch 1/1: "),
        "no progress bar was drawn:\n{raw}"
    );
    // Each log line is written whole, then the bar is redrawn below it.
    let mut lines: Vec<String> = Vec::new();
    for h in names {
        lines.push(format!("changed: [{h}] first"));
        if h == "h2" {
            lines.push(format!(
                "failed: [{h}] second fails on h2 => non-zero return code (rc=1)"
            ));
        } else {
            lines.push(format!("changed: [{h}] second fails on h2"));
            lines.push(format!("changed: [{h}] third"));
        }
    }
    lines.push("PLAY RECAP".into());
    lines.push("h2 : ok=1    changed=1    unreachable=0    failed=1".into());
    lines.push(format!(
        "  {} run --yes -i inventory.yaml site.yaml --resume",
        env!("CARGO_BIN_EXE_rtmig")
    ));
    for line in &lines {
        let whole = if line.starts_with("h2 : ") {
            line.clone()
        } else {
            format!("{line}\r\n")
        };
        let at = raw
            .find(&whole)
            .unwrap_or_else(|| panic!("`{line}` broken or missing:\n{raw:?}"));
        assert!(
            starts_a_screen_line(&raw[..at]),
            "`{line}` does not start its own line:\n{raw:?}"
        );
    }
    assert!(!raw.contains("panicked"), "{raw}");
}

/// Whether text written after `before` starts at the left edge of an empty line: only
/// cursor moves and line clears (`ESC [ ... letter`) since the last `\r` or `\n`.
fn starts_a_screen_line(before: &str) -> bool {
    let mut rest = before;
    loop {
        if rest.is_empty() || rest.ends_with('\n') || rest.ends_with('\r') {
            return true;
        }
        let Some(esc) = rest.rfind('\x1b') else {
            return false;
        };
        let seq = &rest[esc..];
        let ok = seq.len() >= 3
            && seq.as_bytes()[1] == b'['
            && seq[2..seq.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b';')
            && seq.as_bytes()[seq.len() - 1].is_ascii_alphabetic();
        if !ok {
            return false;
        }
        rest = &rest[..esc];
    }
}

/// Plays that choose their hosts from what earlier plays found: `group_by` from a
/// registered probe, `add_host` (once, with the first host's variables; with a loop,
/// once per item; a host the inventory does not have, reached by the variables given
/// to it), `hosts:` templated from `hostvars` when the play starts.
const RUNTIME_HOSTS: &str = r#"
- name: find
  hosts: nodes
  gather_facts: false
  tasks:
    - name: probe for the registry
      shell: test -e OUT/{{ inventory_hostname }}/registry && echo yes || echo no
      register: probe
      changed_when: false
    - name: group by what the probe says
      group_by: {key: "registry_{{ probe.stdout }}", parents: probed}
    - name: note the registry node
      add_host:
        name: "{{ groups['registry_yes'] | first }}"
        groups: found
        picked_by: "{{ inventory_hostname }}"
    - name: add the extra hosts
      add_host:
        name: "{{ item }}"
        groups: [extras]
        ansible_host: EXTRA_ADDR
        ansible_port: EXTRA_PORT
      loop: [extra1, extra2]
    - name: choose the last one without the registry
      set_fact: {chosen: "{{ groups['registry_no'] | sort | last }}"}
      run_once: true
- name: the others
  hosts: "probed:!found"
  gather_facts: false
  tasks:
    - name: mark
      shell: mkdir -p OUT/{{ inventory_hostname }} && echo others >> OUT/{{ inventory_hostname }}/ran
    - name: slow
      shell: sleep 4
- name: the registry node
  hosts: found
  gather_facts: false
  tasks:
    - name: check what add_host gave it
      assert:
        that:
          - picked_by == 'h0'
          - ansible_play_hosts == [inventory_hostname]
          - "'found' in group_names and 'registry_yes' in group_names"
    - name: mark
      shell: echo registry >> OUT/{{ inventory_hostname }}/ran
- name: the chosen one
  hosts: "{{ hostvars['h0'].chosen }}"
  gather_facts: false
  tasks:
    - name: mark
      shell: echo chosen >> OUT/{{ inventory_hostname }}/ran
- name: the added hosts
  hosts: extras
  gather_facts: false
  tasks:
    - name: mark
      shell: mkdir -p OUT/{{ inventory_hostname }} && echo extra >> OUT/{{ inventory_hostname }}/ran
"#;

#[test]
fn plays_choose_their_hosts_at_run_time_and_a_resume_keeps_the_choice() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let hosts = fleet(&ws, &client, 4);
    let out = ws.path("out");
    for i in 0..4 {
        std::fs::create_dir_all(out.join(format!("h{i}"))).unwrap();
    }
    std::fs::write(out.join("h2/registry"), "").unwrap();
    ws.write(
        "site.yaml",
        &RUNTIME_HOSTS
            .replace("OUT", &out.display().to_string())
            .replace("EXTRA_ADDR", &hosts[3].addr.to_string())
            .replace("EXTRA_PORT", &hosts[3].port.to_string()),
    );

    // The plan says which plays are decided at run time, and from what.
    let plan = rtmig(&ws, &client)
        .args(["plan", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(0)
        .stdout();
    assert!(
        plan.contains("PLAY 3 [the registry node]\n  hosts: decided at run time, when the play starts, from `found`\n    depends on the groups, changed at run time by `group_by` in play 1 task 2 `group by what the probe says` (site.yaml:10:7)\n    depends on group `found`, changed at run time by `add_host` in play 1 task 3 `note the registry node` (site.yaml:12:7)\n    with inventory data alone: found -> no hosts\n"),
        "{plan}"
    );
    assert!(plan.contains("PLAY 4 [the chosen one]\n  hosts: decided at run time, when the play starts, from `{{ hostvars['h0'].chosen }}`\n    depends on `hostvars` (what earlier plays registered, set or gathered)\n    depends on the groups, changed at run time by `group_by` in play 1 task 2 `group by what the probe says` (site.yaml:10:7)\n    with inventory data alone: cannot be computed (cannot render `{{ hostvars['h0'].chosen }}`: template string: `hostvars['h0'].chosen` is undefined)\n"), "{plan}");
    assert!(
        plan.contains("    with inventory data alone: probed:!found -> no hosts"),
        "{plan}"
    );

    // Killed while the second play runs: the first one's decisions are in the journal.
    let mut child = rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .spawn();
    let started = Instant::now();
    let ran = |h: &str| std::fs::read_to_string(out.join(h).join("ran")).unwrap_or_default();
    // Until `mark` is in the journal for the three of them (`slow` then runs).
    let marked = || {
        let runs = ws.runs();
        runs.first().map_or(0, |run| {
            support::journal(run)
                .iter()
                .filter(|r| r["t"] == "done" && r["play"] == 1 && r["task"] == 0)
                .count()
        })
    };
    while marked() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the second play never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(ran("h2"), "", "the registry node ran with the others");

    // What the first play found changes before the resume; the resumed run keeps what
    // the interrupted one decided (restored from the journal, not probed again).
    std::fs::remove_file(out.join("h2/registry")).unwrap();
    std::fs::write(out.join("h1/registry"), "").unwrap();
    let resumed = rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml", "--resume"])
        .output();
    let resumed = resumed.expect_code(0);
    let _ = resumed.stdout();
    eprintln!(
        "{}",
        std::fs::read_to_string(ws.runs()[0].join("journal.jsonl")).unwrap()
    );
    assert_eq!(ran("h0"), "others\n");
    assert_eq!(ran("h1"), "others\n");
    assert_eq!(ran("h2"), "registry\n");
    assert_eq!(ran("h3"), "others\nchosen\n");
    assert_eq!(ran("extra1"), "extra\n");
    assert_eq!(ran("extra2"), "extra\n");

    let journal = support::journal(&ws.runs()[0]);
    let started_plays: Vec<(u64, Vec<String>)> = journal
        .iter()
        .filter(|r| r["t"] == "play_started")
        .map(|r| {
            (
                r["play"].as_u64().unwrap(),
                serde_json::from_value(r["hosts"].clone()).unwrap(),
            )
        })
        .collect();
    let hosts_of = |p: u64| {
        started_plays
            .iter()
            .find(|(i, _)| *i == p)
            // Group members come in the order they joined (as in Ansible).
            .map(|(_, h)| {
                let mut h = h.clone();
                h.sort();
                h
            })
    };
    assert_eq!(
        hosts_of(1),
        Some(vec!["h0".into(), "h1".into(), "h3".into()])
    );
    assert_eq!(hosts_of(2), Some(vec!["h2".into()]));
    assert_eq!(hosts_of(3), Some(vec!["h3".into()]));
    assert_eq!(hosts_of(4), Some(vec!["extra1".into(), "extra2".into()]));
    // add_host ran once for the play (h0's run, given to every host), not per host.
    let add_host: Vec<&serde_json::Value> = journal
        .iter()
        .filter(|r| r["t"] == "done" && r["play"] == 0 && r["task"] == 2)
        .collect();
    assert_eq!(add_host.len(), 4);
    assert!(
        add_host
            .iter()
            .all(|r| r["inventory"][0]["vars"]["picked_by"] == "h0")
    );
    assert!(support::repeated_steps(&journal).is_empty());
}

/// The node modules over SSH against fake tools in each host's `PATH` (the play's
/// `environment`): tests/fixtures/fakebin's `systemctl`, `sysctl`, `lsmod`/`modprobe`
/// keep each host's state in files, so the test reads what each host ended up with.
const NODE_MODULES: &str = r#"
- hosts: nodes
  gather_facts: false
  environment:
    PATH: "NODES/{{ inventory_hostname }}/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
  tasks:
    - name: containerd started and enabled
      ansible.builtin.systemd_service: {name: containerd, state: started, enabled: true, daemon_reload: true}
      register: svc
    - name: docker stopped and disabled
      service: {name: docker, state: stopped, enabled: false}
    - name: forwarding on
      ansible.posix.sysctl:
        name: net.ipv4.ip_forward
        value: "1"
        sysctl_file: "NODES/{{ inventory_hostname }}/sysctl.conf"
        sysctl_set: true
    - name: br_netfilter loaded
      community.general.modprobe: {name: br_netfilter, state: present}
    - name: the unit was queried
      assert:
        that: svc.status.LoadState == 'loaded' and svc.name == 'containerd'
"#;

/// `rtmig run -i inventory.yaml site.yaml EXTRA...` in the workspace, which must succeed.
fn run_site(ws: &Workspace, client: &TestClient, extra: &[&str]) -> support::Run {
    rtmig(ws, client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .args(extra)
        .output()
        .expect_code(0)
}

/// A node's folder for the fake tools of tests/fixtures/fakebin: `DIR/bin` with `tools`,
/// `DIR/state/D` for each of `state`; returns `DIR/state`.
fn fake_node(dir: &Path, tools: &[&str], state: &[&str]) -> PathBuf {
    let fakes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fakebin");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in tools {
        std::fs::copy(fakes.join(tool), bin.join(tool)).unwrap();
    }
    let states = dir.join("state");
    for d in state {
        std::fs::create_dir_all(states.join(d)).unwrap();
    }
    states
}

#[test]
fn node_modules_over_ssh_check_then_act_then_rerun_ok() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let _hosts = fleet(&ws, &client, 2);
    let nodes = ws.path("nodes");
    for h in names(2) {
        let state = fake_node(
            &nodes.join(&h),
            &["systemctl", "sysctl", "lsmod", "modprobe"],
            &["units", "active", "enabled", "sysctl"],
        );
        for unit in ["containerd.service", "docker.service"] {
            std::fs::write(state.join("units").join(unit), "").unwrap();
        }
        std::fs::write(state.join("active/docker.service"), "").unwrap();
        std::fs::write(state.join("enabled/docker.service"), "").unwrap();
        std::fs::write(state.join("sysctl/net.ipv4.ip_forward"), "0\n").unwrap();
    }
    ws.write(
        "site.yaml",
        &NODE_MODULES.replace("NODES", &nodes.display().to_string()),
    );
    let state = |h: &str, rel: &str| nodes.join(h).join("state").join(rel);

    let check = run_site(&ws, &client, &["--check", "--diff"]);
    let stdout = check.stdout();
    assert!(stdout.contains("+net.ipv4.ip_forward=1"), "{stdout}");
    // Each service that would start or stop, as a before/after.
    assert!(
        stdout.contains("--- before: unit docker\n+++ after: unit docker\n-UnitFileState=enabled\n-ActiveState=active\n+UnitFileState=disabled\n+ActiveState=inactive\n"),
        "{stdout}"
    );
    for h in names(2) {
        assert!(!state(&h, "active/containerd.service").exists());
        assert!(state(&h, "active/docker.service").exists());
        assert!(!nodes.join(&h).join("sysctl.conf").exists());
        assert!(!state(&h, "modules/br_netfilter").exists());
        let calls = std::fs::read_to_string(state(&h, "calls")).unwrap();
        let acts: Vec<&str> = calls
            .lines()
            .filter(|l| !l.starts_with("systemctl show") && !l.starts_with("sysctl -n"))
            .collect();
        assert!(acts.is_empty(), "check mode acted on {h}: {acts:?}");
        for task in [
            "containerd started and enabled",
            "docker stopped and disabled",
            "forwarding on",
            "br_netfilter loaded",
        ] {
            assert!(
                stdout.contains(&format!("changed: [{h}] {task}")),
                "{task} on {h}:\n{stdout}"
            );
        }
    }

    run_site(&ws, &client, &[]);
    for h in names(2) {
        assert!(state(&h, "active/containerd.service").exists());
        assert!(state(&h, "enabled/containerd.service").exists());
        assert!(!state(&h, "active/docker.service").exists());
        assert!(!state(&h, "enabled/docker.service").exists());
        assert_eq!(
            std::fs::read_to_string(nodes.join(&h).join("sysctl.conf")).unwrap(),
            "net.ipv4.ip_forward=1\n"
        );
        assert_eq!(
            std::fs::read_to_string(state(&h, "sysctl/net.ipv4.ip_forward")).unwrap(),
            "1\n"
        );
        assert!(state(&h, "modules/br_netfilter").exists());
    }

    let again = run_site(&ws, &client, &[]);
    let stdout = again.stdout();
    assert!(
        !stdout.contains("changed: ["),
        "a rerun changed something:\n{stdout}"
    );
    for h in names(2) {
        assert!(
            stdout.contains(&format!("ok: [{h}] forwarding on")),
            "{stdout}"
        );
    }
}

const BLOCKS_AND_HANDLERS: &str = r#"
- hosts: nodes
  gather_facts: false
  vars:
    dir: "OUT/{{ inventory_hostname }}"
  handlers:
    - name: restart app
      shell: echo restarted >> {{ dir }}/events
    - name: note the config
      listen: config changed
      shell: echo noted >> {{ dir }}/events
  tasks:
    - file: {path: "{{ dir }}", state: directory}
    - name: deploy
      block:
        - name: the config
          copy: {content: "v1 {{ inventory_hostname }}\n", dest: "{{ dir }}/app.conf"}
          notify: [restart app, config changed]
        - name: a check that fails on h1
          shell: test {{ inventory_hostname }} != h1
      rescue:
        - name: put the old config back
          copy: {content: "rolled back after {{ ansible_failed_task.name }}\n", dest: "{{ dir }}/app.conf"}
          notify: restart app
      always:
        - shell: echo always >> {{ dir }}/events
    - name: a block no rescue catches
      block:
        - shell: test {{ inventory_hostname }} != h2
      always:
        - shell: echo always2 >> {{ dir }}/events
"#;

// One end-to-end run over SSH: h1 fails in a block and is rescued, h2 fails where no
// rescue catches it (its always runs, its handlers do not), h0 succeeds; handlers run
// once per host in the order defined; a rerun changes nothing and notifies nothing.
#[test]
fn blocks_and_handlers_on_three_hosts_where_two_fail_differently() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let _hosts = fleet(&ws, &client, 3);
    let out = ws.path("out");
    ws.write(
        "site.yaml",
        &BLOCKS_AND_HANDLERS.replace("OUT", &out.display().to_string()),
    );
    let run = rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml"])
        .output()
        .expect_code(2);
    let stdout = run.stdout();
    let read = |h: &str, f: &str| std::fs::read_to_string(out.join(h).join(f)).unwrap_or_default();
    assert_eq!(read("h0", "app.conf"), "v1 h0\n");
    assert_eq!(read("h0", "events"), "always\nalways2\nrestarted\nnoted\n");
    assert_eq!(
        read("h1", "app.conf"),
        "rolled back after a check that fails on h1\n"
    );
    assert_eq!(read("h1", "events"), "always\nalways2\nrestarted\nnoted\n");
    assert_eq!(read("h2", "app.conf"), "v1 h2\n");
    assert_eq!(read("h2", "events"), "always\nalways2\n", "{stdout}");
    let recap = |h: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(h) && l.contains(" : ok="))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert!(
        recap("h1").contains("failed=0") && recap("h1").contains("rescued=1"),
        "{stdout}"
    );
    assert!(
        recap("h2").contains("failed=1") && recap("h2").contains("rescued=0"),
        "{stdout}"
    );

    // A fresh run changes no config (h1's put back as deployed), so no handler runs.
    std::fs::write(out.join("h1/app.conf"), "v1 h1\n").unwrap();
    rtmig(&ws, &client)
        .args(["run", "-i", "inventory.yaml", "site.yaml", "--fresh"])
        .output()
        .expect_code(2);
    assert_eq!(
        read("h0", "events"),
        "always\nalways2\nrestarted\nnoted\nalways\nalways2\n"
    );
    // h1's rescue changed its config again: only the handler it notifies runs.
    assert_eq!(
        read("h1", "events"),
        "always\nalways2\nrestarted\nnoted\nalways\nalways2\nrestarted\n"
    );
}

/// The host-configuration modules over SSH against the fakes (`crontab`,
/// `timedatectl`, `systemctl`) and a per-host fstab and cron.d: `--check --diff`
/// changes nothing and shows each edit, the run leaves Ansible's lines, a rerun is ok.
const HOST_CONFIG: &str = r#"
- hosts: nodes
  gather_facts: false
  environment:
    PATH: "NODES/{{ inventory_hostname }}/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
  vars:
    dir: "NODES/{{ inventory_hostname }}"
  tasks:
    - name: image gc
      ansible.builtin.cron: {name: image gc, job: crictl rmi --prune, minute: "*/30", user: root, cron_file: "{{ dir }}/cron.d/gc"}
    - name: root heartbeat
      cron: {name: heartbeat, job: /usr/bin/true, special_time: hourly}
    - name: data disk in fstab
      ansible.posix.mount: {path: /srv/data, src: /dev/vdb1, fstype: ext4, opts: noatime, state: present, fstab: "{{ dir }}/fstab"}
    - name: swap out of fstab
      mount: name=none fstype=swap state=absent fstab={{ dir }}/fstab
    - name: the zone
      community.general.timezone: {name: Europe/Paris}
    - service_facts:
    - name: the services as Ansible shapes them
      assert:
        that:
          - ansible_facts.services['containerd.service'].state == 'running'
          - services['containerd.service'].status == 'enabled'
"#;

#[test]
fn host_config_modules_over_ssh_check_then_act_then_rerun_ok() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let _hosts = fleet(&ws, &client, 2);
    let nodes = ws.path("nodes");
    for h in names(2) {
        let dir = nodes.join(&h);
        let state = fake_node(
            &dir,
            &["systemctl", "crontab", "timedatectl"],
            &["units", "active", "enabled"],
        );
        std::fs::create_dir_all(dir.join("cron.d")).unwrap();
        for d in ["units", "active", "enabled"] {
            std::fs::write(state.join(d).join("containerd.service"), "").unwrap();
        }
        std::fs::write(
            dir.join("fstab"),
            "UUID=1 / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n",
        )
        .unwrap();
    }
    ws.write(
        "site.yaml",
        &HOST_CONFIG.replace("NODES", &nodes.display().to_string()),
    );
    let file = |h: &str, rel: &str| std::fs::read_to_string(nodes.join(h).join(rel));

    let check = run_site(&ws, &client, &["--check", "--diff"]);
    let stdout = check.stdout();
    for line in [
        "+#Ansible: image gc",
        "+@hourly /usr/bin/true",
        "+/dev/vdb1 /srv/data ext4 noatime 0 0",
        "-/swap.img none swap sw 0 0",
        "+name: Europe/Paris",
    ] {
        assert!(stdout.contains(line), "{line}:\n{stdout}");
    }
    for h in names(2) {
        assert!(file(&h, "cron.d/gc").is_err());
        assert!(file(&h, "state/crontabs/root").is_err());
        assert!(file(&h, "state/time/timezone").is_err());
        assert_eq!(
            file(&h, "fstab").unwrap(),
            "UUID=1 / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n"
        );
    }

    run_site(&ws, &client, &[]);
    for h in names(2) {
        assert_eq!(
            file(&h, "cron.d/gc").unwrap(),
            "#Ansible: image gc\n*/30 * * * * root crictl rmi --prune\n"
        );
        assert_eq!(
            file(&h, "state/crontabs/root").unwrap(),
            "#Ansible: heartbeat\n@hourly /usr/bin/true\n"
        );
        assert_eq!(
            file(&h, "fstab").unwrap(),
            "UUID=1 / ext4 defaults 0 1\n/dev/vdb1 /srv/data ext4 noatime 0 0\n"
        );
        assert_eq!(file(&h, "state/time/timezone").unwrap(), "Europe/Paris\n");
    }

    let again = run_site(&ws, &client, &[]);
    let stdout = again.stdout();
    assert!(
        !stdout.contains("changed: ["),
        "a rerun changed something:\n{stdout}"
    );
}

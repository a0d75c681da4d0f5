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

#[test]
fn wrong_connection_variables_in_play_and_task_vars_are_located() {
    let ws = Workspace::new();
    ws.write("inv.yaml", "all:\n  hosts:\n    h1:\n");
    ws.write(
        "play.yaml",
        "- hosts: all\n  gather_facts: false\n  vars:\n    ansible_port: twenty-two\n    ansible_user: \"{{ who }}\"\n    ansible_ssh_port: \"{{ 20 + 2 }}\"\n  tasks:\n    - debug: msg=hi\n      vars:\n        ansible_become: sometimes\n",
    );
    refused_everywhere(
        &ws,
        "inv.yaml",
        &[
            "play.yaml:4:19: `ansible_port` must be a port number",
            "play.yaml:10:25: `ansible_become` must be a boolean",
            "2 problems found",
        ],
    );
}

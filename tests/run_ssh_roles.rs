//! Roles, `import_tasks` and `include_tasks` with a loop over real OpenSSH sshd hosts
//! (needs root, as tests/run_ssh.rs): the fixture role's defaults, vars, templates and
//! files reach the hosts as ansible-playbook 2.21 leaves them on the local transport.

mod support;

use support::Workspace;
use support::sshd::{Sshd, SshdBuilder, TestClient};

#[test]
fn a_role_and_its_includes_leave_the_same_files_over_ssh() {
    let ws = Workspace::new();
    let client = TestClient::new();
    let hosts: Vec<Sshd> = (0..2)
        .map(|_| {
            let s = SshdBuilder::new().authorize(&client.key).start();
            client.trust(&s);
            s
        })
        .collect();
    ws.copy_fixture("tests/fixtures/roles", "site");
    let mut inv = format!(
        "all:\n  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: {}\n    ansible_ssh_common_args: '-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes'\n    out: {}\n  children:\n    nodes:\n      hosts:\n",
        client.key.path.display(),
        client.known_hosts.display(),
        ws.path("out").display()
    );
    // n1 overrides the role default `port`.
    for ((name, extra), sshd) in [("n1", "          port: 8080\n"), ("n2", "")]
        .iter()
        .zip(&hosts)
    {
        inv.push_str(&format!(
            "        {name}:\n          ansible_host: {}\n          ansible_port: {}\n{extra}",
            sshd.addr, sshd.port
        ));
    }
    ws.write("site/inventory.yaml", &inv);
    let run = ws
        .rtmig()
        .env("HOME", client.dir.path())
        .args(["run", "-i", "site/inventory.yaml", "site/site.yml"])
        .output()
        .expect_code(0);
    for (host, port) in [("n1", 8080), ("n2", 80)] {
        assert_eq!(
            ws.read(&format!("out/{host}/page")),
            format!(
                "port={port} listen=0.0.0.0:{port} colour=role-colour greeting=param role=web\n"
            )
        );
        assert_eq!(
            ws.read(&format!("out/{host}/after")),
            format!("listen=0.0.0.0:{port} colour=role-colour suffix=imported\n")
        );
        assert_eq!(ws.read(&format!("out/{host}/blob")), "from the role\n");
        assert_eq!(ws.read(&format!("out/{host}/base")), "base\n");
        assert_eq!(
            ws.read(&format!("out/{host}/motd")),
            format!("hello {host}\n")
        );
        assert_eq!(ws.read(&format!("out/{host}/item-a")), "inc-a\n");
        assert_eq!(ws.read(&format!("out/{host}/item-b")), "inc-b\n");
        assert_eq!(ws.read(&format!("out/{host}/runs")), "a\nb\n");
    }
    assert_eq!(ws.read("out/n1/other"), "other 8080 web\n");
    assert!(!ws.path("out/n2/other").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(ws.path("out/n2/page"))
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(mode, 0o640);
    assert!(run.stdout().contains("PLAY RECAP"), "{}", run.stdout());
}

//! Real-world public playbooks and roles (tests/fixtures/realworld/NAME, each with its
//! SOURCE and LICENSE) run with rtmig over real OpenSSH sshd (needs root, as
//! tests/run_ssh.rs) and leave the end state ansible-playbook 2.21 leaves: every file
//! under the host's `root` prefix (contents and mode, links) and the fake services,
//! sysctls, modules and packages of tests/fixtures/fakebin (put first in the play's
//! `PATH`). The expected state is committed beside the fixture (`expected.txt`, written by
//! ansible-playbook with `RTMIG_REALWORLD_BLESS=1`); when ansible-playbook is found
//! (`RTMIG_ANSIBLE_PLAYBOOK` or `PATH`), the test also runs it live and compares. A
//! second run changes nothing where Ansible's second run changes nothing.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use support::Workspace;
use support::sshd::{SshdBuilder, TestClient};

/// The tag on the fixtures' tasks that cannot run on a test host (real package installs).
const SKIP: &str = "rtmig_test_skip";

const FAKES: [&str; 10] = [
    "systemctl",
    "sysctl",
    "lsmod",
    "modprobe",
    "dpkg-query",
    "apt-get",
    "crontab",
    "timedatectl",
    "mount",
    "umount",
];

/// A fresh `root` for one run: the fake tools in `root/bin`, their state in `root/state`
/// with the units the fixture's `units` file names (one a line, `NAME [active] [enabled]`).
fn prepare_root(fixture: &Path, root: &Path) {
    let fakes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fakebin");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in FAKES {
        std::fs::copy(fakes.join(tool), bin.join(tool)).unwrap();
    }
    // The fixture's own fakes (`fakebin/`), beside the shared ones.
    if let Ok(own) = std::fs::read_dir(fixture.join("fakebin")) {
        for tool in own.flatten() {
            std::fs::copy(tool.path(), bin.join(tool.file_name())).unwrap();
        }
    }
    let state = root.join("state");
    for d in ["units", "active", "enabled", "sysctl", "modules", "dpkg"] {
        std::fs::create_dir_all(state.join(d)).unwrap();
    }
    if let Ok(units) = std::fs::read_to_string(fixture.join("units")) {
        for line in units.lines().filter(|l| !l.trim().is_empty()) {
            let mut words = line.split_whitespace();
            let unit = words.next().unwrap_or_default();
            std::fs::write(state.join("units").join(unit), "").unwrap();
            for w in words {
                std::fs::write(state.join(w).join(unit), "").unwrap();
            }
        }
    }
    if let Ok(setup) = std::fs::read_to_string(fixture.join("setup")) {
        // `PATH CONTENT`: a file the host has before the play (an existing config).
        for line in setup.lines().filter(|l| !l.trim().is_empty()) {
            let (rel, content) = line.split_once(' ').unwrap_or((line, ""));
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content.replace("\\n", "\n")).unwrap();
        }
    }
}

/// Everything under `root` but the fake tools and their call log, in a stable text form
/// (the root's own path written ROOT).
fn manifest(root: &Path) -> String {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if rel == "bin" || rel == "state/calls" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let to = std::fs::read_link(&p).unwrap().display().to_string();
                out.push((rel, format!("link -> {to}\n")));
            } else if meta.is_dir() {
                out.push((rel.clone(), format!("dir {mode:04o}\n")));
                walk(root, &p, out);
            } else {
                let body = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
                out.push((rel, format!("file {mode:04o}\n{body}")));
            }
        }
    }
    let mut entries = Vec::new();
    walk(root, root, &mut entries);
    let text: String = entries
        .iter()
        .map(|(rel, what)| format!("== {rel}: {what}"))
        .collect();
    text.replace(&root.display().to_string(), "ROOT")
}

/// The `changed=N` of the recap's one host.
fn changed(stdout: &str) -> usize {
    stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("changed="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no recap in:\n{stdout}"))
}

fn ansible_playbook() -> Option<PathBuf> {
    std::env::var_os("RTMIG_ANSIBLE_PLAYBOOK")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join("ansible-playbook"))
                .find(|p| p.is_file())
        })
}

/// ansible-playbook on the local connection into a fresh root: the manifest after the
/// first run and the second run's `changed`.
fn run_ansible(ansible: &Path, ws: &Workspace, name: &str, fixture: &Path) -> (String, usize) {
    let root = ws.path(&format!("ansible-root-{name}"));
    prepare_root(fixture, &root);
    let home = ws.path("ansible-home");
    std::fs::create_dir_all(&home).unwrap();
    let python = ansible.with_file_name("python");
    let run = || {
        let out = std::process::Command::new(ansible)
            .current_dir(ws.path(name))
            .env("HOME", &home)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .args([
                "-i",
                "n1,",
                "-c",
                "local",
                "site.yml",
                "--skip-tags",
                SKIP,
                "-e",
            ])
            .arg(format!("root={}", root.display()))
            .arg("-e")
            .arg(format!("ansible_python_interpreter={}", python.display()))
            .output()
            .expect("run ansible-playbook");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "ansible-playbook {name}:\n{stdout}");
        stdout
    };
    run();
    let state = manifest(&root);
    let second = changed(&run());
    (state, second)
}

fn realworld(name: &str) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/realworld")
        .join(name);
    let ws = Workspace::new();
    ws.copy_fixture(&format!("tests/fixtures/realworld/{name}"), name);
    let client = TestClient::new();
    let sshd = SshdBuilder::new().authorize(&client.key).start();
    client.trust(&sshd);
    let root = ws.path(&format!("root-{name}"));
    prepare_root(&fixture, &root);
    ws.write(
        "inventory.yaml",
        &format!(
            "all:\n  hosts:\n    n1:\n      ansible_host: {}\n      ansible_port: {}\n      ansible_user: root\n      ansible_ssh_private_key_file: {}\n      ansible_ssh_common_args: '-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes'\n      root: {}\n",
            sshd.addr,
            sshd.port,
            client.key.path.display(),
            client.known_hosts.display(),
            root.display()
        ),
    );
    let run = || {
        ws.rtmig()
            .env("HOME", client.dir.path())
            .args(["run", "-i", "inventory.yaml", &format!("{name}/site.yml")])
            .args(["--skip-tags", SKIP])
            .output()
            .expect_code(0)
            .stdout()
    };
    run();
    let state = manifest(&root);
    let second = changed(&run());

    let expected_path = fixture.join("expected.txt");
    if let Some(ansible) = ansible_playbook() {
        let (want, want_second) = run_ansible(&ansible, &ws, name, &fixture);
        let text = format!("# second run changed={want_second}\n{want}");
        if std::env::var_os("RTMIG_REALWORLD_BLESS").is_some() {
            std::fs::write(&expected_path, &text).unwrap();
        }
        assert_eq!(
            state, want,
            "{name}: rtmig's end state differs from ansible-playbook's"
        );
        assert_eq!(
            second == 0,
            want_second == 0,
            "{name}: second run changed={second}"
        );
    }
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
    let (head, want) = expected.split_once('\n').unwrap_or_default();
    let want_second: usize = head
        .strip_prefix("# second run changed=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}: bad first line {head:?}", expected_path.display()));
    assert_eq!(state, want, "{name}: end state differs from expected.txt");
    assert_eq!(
        second == 0,
        want_second == 0,
        "{name}: second run changed={second}"
    );
}

macro_rules! realworld {
    ($($name:ident),* $(,)?) => {
        $(#[test]
        fn $name() {
            realworld(stringify!($name));
        })*
    };
}

realworld!(
    kbrebanov_motd,
    boutetnico_logrotate,
    boutetnico_sudoers,
    gabops_logrotate,
    znz_timesyncd,
    znz_sshd,
    sgaduuw_timesyncd,
    tristan_weil_motd,
    linuxhq_logrotate,
    linuxhq_sudo,
    linuxhq_sysctl,
    linuxhq_openssh,
    linuxhq_ntp,
    linuxhq_cronie,
    oasis_timezone,
    kubespray_swapoff,
    michaelrigart_mount,
    geerlingguy_ntp,
    thorian93_ntp,
    frzk_chrony,
    ericsysmin_chrony,
);

//! `become` through sudo on real hosts (the lab's sshd and Debian's sudo; needs root):
//! a login user whose sudo asks for a password (given as `ansible_become_password`,
//! fed on stdin, never logged), one with NOPASSWD, and a wrong password that fails
//! at once with sudo's own message.

mod support;

use support::lab::Lab;

const PASSWORD: &str = "S3cret-become-pw";

const PLAYBOOK: &str = r#"- hosts: workers
  gather_facts: false
  tasks:
    - name: who am i
      shell: id -u
      register: who
    - name: write as root
      copy:
        content: "hello\n"
        dest: /etc/rtmig-become-test
        mode: "0600"
"#;

/// A login user with the lab's key; `sudoers` is its sudoers line.
fn add_user(lab: &Lab, host: &str, user: &str, sudoers: &str) {
    lab.sh(
        host,
        &format!(
            "useradd -m -s /bin/sh {user} && echo '{user}:{PASSWORD}' | chpasswd && \
             install -d -m 700 -o {user} /home/{user}/.ssh && \
             install -m 600 -o {user} /root/.ssh/authorized_keys /home/{user}/.ssh/ && \
             echo '{user} {sudoers}' > /etc/sudoers.d/{user} && chmod 440 /etc/sudoers.d/{user}"
        ),
    );
}

#[test]
fn become_through_sudo_with_a_password_and_with_nopasswd() {
    let lab = Lab::up("single-master", |_| {});
    add_user(&lab, "worker0", "ops", "ALL=(ALL) ALL");
    add_user(&lab, "worker1", "ops2", "ALL=(ALL) NOPASSWD: ALL");
    let text = std::fs::read_to_string(lab.inventory()).expect("inventory");
    let inventory = |password: &str| {
        text.replace(
            "        worker0:\n",
            &format!(
                "        worker0:\n          ansible_user: ops\n          ansible_become: true\n          ansible_become_password: {password}\n"
            ),
        )
        .replace(
            "        worker1:\n",
            "        worker1:\n          ansible_user: ops2\n          ansible_become: true\n",
        )
    };
    let inv = lab.path("become.yaml");
    std::fs::write(&inv, inventory(PASSWORD)).unwrap();
    let pb = lab.path("become-playbook.yaml");
    std::fs::write(&pb, PLAYBOOK).unwrap();
    let run = support::Rtmig::new(&lab.path(""))
        .args(["run", "-vvv", "-i"])
        .args([&inv, &pb])
        .output()
        .expect_code(0);
    for (host, user) in [("worker0", "ops"), ("worker1", "ops2")] {
        assert_eq!(
            lab.sh(
                host,
                "stat -c '%U %a' /etc/rtmig-become-test; cat /etc/rtmig-become-test"
            ),
            "root 600\nhello\n"
        );
        // `id -u` ran as root (the login user is not).
        let journal = support::journal(&lab.runs()[0]);
        let who = journal
            .iter()
            .find(|r| r["host"] == host && r["register"][0] == "who")
            .unwrap_or_else(|| panic!("{host} ({user}): no registered `who`"));
        assert_eq!(who["register"][1]["stdout"], "0", "{host} ({user}): {who}");
    }
    let stdout = run.stdout();
    let who = stdout.lines().filter(|l| l.contains("who am i")).count();
    assert_eq!(who, 2, "{stdout}");
    // The password is in no output, log or journal, even with -vvv.
    let mut seen = run.stdout() + &run.stderr();
    for f in walk(&lab.runs()[0]) {
        seen.push_str(&std::fs::read_to_string(f).unwrap_or_default());
    }
    assert!(!seen.contains(PASSWORD), "the become password leaked");

    // A wrong password: a failure with sudo's answer, not a hang, and not logged.
    std::fs::write(&inv, inventory("wrong-pw-123")).unwrap();
    let wrong = support::Rtmig::new(&lab.path(""))
        .args(["run", "--fresh", "--limit", "worker0", "-i"])
        .args([&inv, &pb])
        .output()
        .expect_code(2);
    let out = wrong.stdout();
    assert!(out.contains("failed: [worker0] who am i"), "{out}");
    assert!(out.contains("Sorry, try again."), "{out}");
    assert!(!(out + &wrong.stderr()).contains("wrong-pw-123"));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

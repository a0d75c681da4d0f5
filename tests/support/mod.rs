//! Shared helpers for integration tests: run the real `rtmig` binary in a temp dir.
#![allow(dead_code)]

pub mod lab;
pub mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory holding an inventory, playbooks and whatever the hosts write.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Workspace {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, content).expect("write");
        p
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn rtmig(&self) -> Rtmig {
        Rtmig::new(self.dir.path())
    }

    /// Copy a folder of the repository (tests/fixtures/...) into the workspace, keeping
    /// file modes (an executable password file stays one).
    pub fn copy_fixture(&self, from: &str, to: &str) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(from);
        let status = Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(self.path(to))
            .status()
            .expect("cp");
        assert!(status.success(), "cp -a {} {to}", src.display());
    }

    /// The run directories under `.rtmig/runs`, oldest first.
    pub fn runs(&self) -> Vec<PathBuf> {
        runs_in(self.dir.path())
    }
}

/// The run directories under `<dir>/.rtmig/runs` (beside an inventory), oldest first.
pub fn runs_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join(".rtmig/runs"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The journal of a run dir as JSON records (a torn last line is left out).
pub fn journal(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The `done` records of steps that finished (a failed step is meant to run again on
/// `--resume`).
pub fn finished(records: &[serde_json::Value]) -> impl Iterator<Item = &serde_json::Value> {
    records
        .iter()
        .filter(|r| r["t"] == "done" && r["status"] != "failed")
}

/// "host play P task T (Nx)" for every step that finished more than once.
pub fn repeated_steps(records: &[serde_json::Value]) -> Vec<String> {
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for r in finished(records) {
        *seen
            .entry(format!(
                "{} play {} task {}",
                r["host"], r["play"], r["task"]
            ))
            .or_default() += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, n)| format!("{k} ({n}x)"))
        .collect()
}

pub struct Rtmig {
    cmd: Command,
}

impl Rtmig {
    pub fn new(cwd: &Path) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtmig"));
        cmd.current_dir(cwd)
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
            .env_remove("ANSIBLE_VAULT_IDENTITY_LIST")
            .stdin(std::process::Stdio::null());
        Rtmig { cmd }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    pub fn output(mut self) -> Run {
        let out = self.cmd.output().expect("run rtmig");
        Run { out }
    }

    /// Start it with stdout and stderr going to `log` (a pipe nobody reads would block it).
    pub fn spawn_logged(mut self, log: &Path) -> std::process::Child {
        let f = std::fs::File::create(log).expect("log file");
        let g = f.try_clone().expect("log file");
        self.cmd.stdout(f).stderr(g).spawn().expect("spawn rtmig")
    }

    /// Run to the end, but fail the test (killing rtmig) if it takes longer than
    /// `limit`: for cases whose promise is "a clear failure, not a hang".
    pub fn output_within(self, limit: std::time::Duration) -> Run {
        let mut child = self.spawn();
        let readers = [
            read_in_background(child.stdout.take()),
            read_in_background(child.stderr.take()),
        ];
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for rtmig") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("rtmig did not finish within {limit:?} (a hang)");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let [stdout, stderr] = readers.map(|r| r.join().expect("reader thread"));
        Run {
            out: Output {
                status,
                stdout,
                stderr,
            },
        }
    }

    /// The process to start, for tests that need more control (process groups).
    pub fn command(self) -> Command {
        self.cmd
    }

    pub fn spawn(mut self) -> std::process::Child {
        self.cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn rtmig")
    }
}

/// Read a child's pipe to its end on a thread (so a full pipe never blocks the child).
pub fn read_in_background<R: std::io::Read + Send + 'static>(
    pipe: Option<R>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

pub struct Run {
    pub out: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    /// Assert the exit code, showing the output when it differs.
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

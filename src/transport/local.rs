//! The local transport: runs commands on the controller with `sh -c`, for
//! `delegate_to: localhost` and for tests of everything above the transport.

use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::{BoxFuture, ExecOutput, ExecRequest, Stdin, Stdout, Transport, TransportError};

#[derive(Debug, Default, Clone)]
pub struct LocalTransport;

/// Process groups of the local commands running now (each command leads its own).
static RUNNING: std::sync::Mutex<std::collections::BTreeSet<i32>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Keeps a command's process group in [`RUNNING`] while it runs, however its task ends.
struct Registered(Option<i32>);

impl Registered {
    fn new(pid: Option<u32>) -> Self {
        let pgid = pid.and_then(|p| i32::try_from(p).ok());
        if let Some(g) = pgid {
            RUNNING.lock().unwrap_or_else(|e| e.into_inner()).insert(g);
        }
        Registered(pgid)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(g) = self.0 {
            RUNNING.lock().unwrap_or_else(|e| e.into_inner()).remove(&g);
        }
    }
}

/// Sends TERM to every local command still running and to its children: for a second
/// Ctrl-C, which stops rtmig without waiting. (Local commands run in their own process
/// groups so that the first Ctrl-C lets them finish; without this they would outlive
/// rtmig.) Returns how many groups were signalled.
pub fn terminate_running() -> usize {
    let groups = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).clone();
    terminate(&groups);
    groups.len()
}

fn terminate(groups: &std::collections::BTreeSet<i32>) {
    for g in groups {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is shared.
        unsafe { libc::kill(-g, libc::SIGTERM) };
    }
}

impl Transport for LocalTransport {
    fn exec<'a>(
        &'a self,
        req: ExecRequest<'a>,
    ) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(async move {
            let mut child = Command::new("/bin/sh")
                .arg("-c")
                .arg(req.command)
                .stdin(match req.stdin {
                    Stdin::Null => Stdio::null(),
                    _ => Stdio::piped(),
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                // Its own process group: Ctrl-C on the terminal reaches rtmig, which
                // lets running tasks finish, and not the task's processes.
                .process_group(0)
                .spawn()?;
            let _registered = Registered::new(child.id());
            let mut child_stdin = child.stdin.take();
            let mut child_stdout = child
                .stdout
                .take()
                .ok_or_else(|| std::io::Error::other("no stdout pipe"))?;
            let mut child_stderr = child
                .stderr
                .take()
                .ok_or_else(|| std::io::Error::other("no stderr pipe"))?;

            let feed = async {
                if let Some(mut pipe) = child_stdin.take() {
                    let r = match req.stdin {
                        Stdin::Null => Ok(()),
                        Stdin::Bytes(b) => pipe.write_all(b).await,
                        Stdin::Reader(r) => tokio::io::copy(r, &mut pipe).await.map(|_| ()),
                    };
                    // A command that exits without reading all its input is not our error.
                    match r {
                        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                        other => other,
                    }
                } else {
                    Ok(())
                }
            };
            let drain_out = async {
                let mut buf = Vec::new();
                match req.stdout {
                    Stdout::Capture => {
                        child_stdout.read_to_end(&mut buf).await?;
                    }
                    Stdout::Writer(w) => {
                        tokio::io::copy(&mut child_stdout, w).await?;
                        w.flush().await?;
                    }
                }
                Ok::<_, std::io::Error>(buf)
            };
            let drain_err = async {
                let mut buf = Vec::new();
                child_stderr.read_to_end(&mut buf).await?;
                Ok::<_, std::io::Error>(buf)
            };
            let (fed, out, err) = tokio::join!(feed, drain_out, drain_err);
            fed?;
            let status = child.wait().await?;
            Ok(ExecOutput {
                status: exit_code(status),
                stdout: out?,
                stderr: err?,
            })
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A running command is registered under its own process group, and TERM to that
    /// group stops it and its children. (Only this test's group is signalled: other
    /// tests run local commands at the same time.)
    #[tokio::test]
    async fn a_running_command_is_registered_and_its_group_can_be_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("survived");
        let pid_file = dir.path().join("pid");
        let cmd = format!(
            "echo $$ > {p}; (sleep 3; touch {m}) & sleep 3; touch {m}",
            p = pid_file.display(),
            m = mark.display()
        );
        let run = tokio::spawn(async move { LocalTransport.exec(ExecRequest::new(&cmd)).await });
        let started = std::time::Instant::now();
        let pgid = loop {
            let pid = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok());
            if let Some(pid) = pid.filter(|p| RUNNING.lock().unwrap().contains(p)) {
                break pid;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "the command never ran under a registered group of its own ({pid:?})"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        terminate(&[pgid].into());
        let out = run.await.unwrap().unwrap();
        assert_eq!(out.status, 128 + libc::SIGTERM, "{out:?}");
        assert!(!RUNNING.lock().unwrap().contains(&pgid), "still registered");
        tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
        assert!(!mark.exists(), "a child of the command outlived TERM");
    }

    #[tokio::test]
    async fn captures_stdout_stderr_and_status() {
        let t = LocalTransport;
        let out = t
            .exec(ExecRequest::new("echo out; echo err >&2; exit 3"))
            .await
            .unwrap();
        assert_eq!(out.status, 3);
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[tokio::test]
    async fn streams_stdin_to_a_writer() {
        let t = LocalTransport;
        let mut input: &[u8] = b"hello";
        let mut sink: Vec<u8> = Vec::new();
        let out = t
            .exec(ExecRequest {
                command: "tr a-z A-Z",
                stdin: Stdin::Reader(&mut input),
                stdout: Stdout::Writer(&mut sink),
            })
            .await
            .unwrap();
        assert_eq!(out.status, 0);
        assert!(out.stdout.is_empty());
        assert_eq!(sink, b"HELLO");
    }
}

//! One host as the steps see it: its transport, who to become, a time limit, and a hook
//! that reports every command before it runs (per-host log, `-vv`).
//!
//! The time limit is the task's: every command of a task gets what is left of it. It is
//! enforced on the host (coreutils `timeout`, see [`with_time_limit`]) so a timed-out
//! command does not outlive its task there; the controller keeps a longer limit of its
//! own for a host that stops answering.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::shell::{Become, KILL_AFTER_SECS, TIMED_OUT_STATUSES, with_time_limit};
use crate::transport::{ExecOutput, ExecRequest, Stdin, Stdout, Transport, TransportError};

pub struct Remote<'a> {
    pub host: &'a str,
    pub transport: &'a dyn Transport,
    pub privilege: Become,
    /// The SSH login user, when known (becoming that same user needs no sudo).
    pub login_user: Option<&'a str>,
    pub timeout: Option<TimeLimit>,
    pub on_command: &'a (dyn Fn(&str) + Send + Sync),
}

/// A task's time limit, counted from when the task started: a task of several commands
/// (a template's check then its upload) gets it once, not once per command.
#[derive(Debug, Clone, Copy)]
pub struct TimeLimit {
    pub limit: Duration,
    started: Instant,
}

impl TimeLimit {
    pub fn starting_now(limit: Duration) -> Self {
        TimeLimit {
            limit,
            started: Instant::now(),
        }
    }

    /// What is left of it; `None` once it has passed.
    fn left(&self) -> Option<Duration> {
        Some(self.limit.saturating_sub(self.started.elapsed())).filter(|d| !d.is_zero())
    }
}

impl Remote<'_> {
    /// Run a command, capturing its output.
    pub async fn run(&self, command: &str) -> Result<ExecOutput, TransportError> {
        self.run_with(command, Stdin::Null, Stdout::Capture).await
    }

    /// Run a command with the given input and output, through sudo when `become` asks.
    pub async fn run_with(
        &self,
        command: &str,
        mut stdin: Stdin<'_>,
        mut stdout: Stdout<'_>,
    ) -> Result<ExecOutput, TransportError> {
        (self.on_command)(command);
        // The task's limit, and what is left of it for this command.
        let limit = match self.timeout {
            Some(t) => Some((t.limit, t.left().ok_or(TransportError::Timeout(t.limit))?)),
            None => None,
        };
        let limited;
        let command = match limit {
            Some((_, left)) => {
                limited = with_time_limit(command, left);
                limited.as_str()
            }
            None => command,
        };
        let (line, preamble) = self.privilege.wrap(command, self.login_user);
        let fut = async {
            let stdout = stdout.reborrow();
            match (preamble, stdin.reborrow()) {
                (None, stdin) => {
                    self.transport
                        .exec(ExecRequest {
                            command: &line,
                            stdin,
                            stdout,
                        })
                        .await
                }
                // sudo -S reads the password line first; the command then reads the rest.
                (Some(pw), Stdin::Null) => {
                    self.transport
                        .exec(ExecRequest {
                            command: &line,
                            stdin: Stdin::Bytes(&pw),
                            stdout,
                        })
                        .await
                }
                (Some(mut all), Stdin::Bytes(b)) => {
                    all.extend_from_slice(b);
                    self.transport
                        .exec(ExecRequest {
                            command: &line,
                            stdin: Stdin::Bytes(&all),
                            stdout,
                        })
                        .await
                }
                (Some(pw), Stdin::Reader(r)) => {
                    let mut chained = (&pw[..]).chain(r);
                    let req = ExecRequest {
                        command: &line,
                        stdin: Stdin::Reader(&mut chained),
                        stdout,
                    };
                    self.transport.exec(req).await
                }
            }
        };
        let started = Instant::now();
        let out = match limit {
            None => fut.await?,
            // The host stops the command when the time is up (TERM), kills it 5 s later;
            // allow for that and the round trip before giving up on the host's answer.
            Some((task_limit, left)) => {
                let backstop = left + Duration::from_secs(KILL_AFTER_SECS + 5);
                tokio::time::timeout(backstop, fut)
                    .await
                    .unwrap_or(Err(TransportError::Timeout(task_limit)))?
            }
        };
        if let Some((task_limit, left)) = limit
            && TIMED_OUT_STATUSES.contains(&out.status)
            && started.elapsed() >= left
        {
            return Err(TransportError::Timeout(task_limit));
        }
        if let Some(why) =
            self.privilege
                .refusal(self.login_user, out.status, &out.stdout, &out.stderr)
        {
            return Err(TransportError::Become(why));
        }
        Ok(out)
    }
}

/// A [`Remote`] on the controller itself, for tests of the steps.
#[cfg(test)]
pub(crate) fn local(t: &crate::transport::local::LocalTransport) -> Remote<'_> {
    Remote {
        host: "local",
        transport: t,
        privilege: Become::default(),
        login_user: None,
        timeout: None,
        on_command: &|_| {},
    }
}

/// A [`Remote`] on the controller itself that calls `on_command` for every command it
/// sends, for tests that count them.
#[cfg(test)]
pub(crate) fn local_counting<'a>(
    t: &'a crate::transport::local::LocalTransport,
    on_command: &'a (dyn Fn(&str) + Send + Sync),
) -> Remote<'a> {
    Remote {
        on_command,
        ..local(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::local::LocalTransport;

    /// Two commands of one task share its limit: the second gets what the first left,
    /// and a command that would start after the limit does not run at all.
    #[tokio::test]
    async fn the_time_limit_is_the_tasks_not_each_commands() {
        let t = LocalTransport;
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("ran");
        let mut r = local(&t);
        let limit = Duration::from_millis(1500);
        r.timeout = Some(TimeLimit::starting_now(limit));
        r.run("sleep 1").await.unwrap();
        // Alone, this would fit in the limit; after the first command it does not.
        let e = r.run("sleep 1").await.unwrap_err();
        assert!(
            matches!(e, TransportError::Timeout(l) if l == limit),
            "{e:?}"
        );
        let e = r
            .run(&format!("touch {}", mark.display()))
            .await
            .unwrap_err();
        assert!(
            matches!(e, TransportError::Timeout(l) if l == limit),
            "{e:?}"
        );
        assert!(!mark.exists(), "a command ran after the task's time was up");
    }
}

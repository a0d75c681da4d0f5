//! One host as the steps see it: its transport, who to become, a time limit, and a hook
//! that reports every command before it runs (per-host log, `-vv`).
//!
//! The time limit is enforced on the host (coreutils `timeout`, see
//! [`with_time_limit`]) so a timed-out command does not outlive its task there; the
//! controller keeps a longer limit of its own for a host that stops answering.

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
    pub timeout: Option<Duration>,
    pub on_command: &'a (dyn Fn(&str) + Send + Sync),
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
        let limited;
        let command = match self.timeout {
            Some(limit) => {
                limited = with_time_limit(command, limit);
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
        let out = match self.timeout {
            None => fut.await?,
            // The host stops the command at `limit` (TERM), kills it 5 s later; allow
            // for that and the round trip before giving up on the host's answer.
            Some(limit) => {
                let backstop = limit + Duration::from_secs(KILL_AFTER_SECS + 5);
                tokio::time::timeout(backstop, fut)
                    .await
                    .unwrap_or(Err(TransportError::Timeout(limit)))?
            }
        };
        if let Some(limit) = self.timeout
            && TIMED_OUT_STATUSES.contains(&out.status)
            && started.elapsed() >= limit
        {
            return Err(TransportError::Timeout(limit));
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

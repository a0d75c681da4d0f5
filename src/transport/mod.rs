//! Transport: how a command reaches a host. One small trait, [`Transport`], with two
//! implementations: [`ssh`] (russh, one connection per host, a channel per command)
//! and [`local`] (a child process on the controller, for `delegate_to: localhost`
//! and for unit tests).
//!
//! Everything else (file upload, download, host-to-host transfer, become) is built by
//! `execute` on top of [`Transport::exec`] with streamed stdin/stdout, so steps never
//! see russh types. Depends on nothing else in the crate.

pub mod local;
pub mod ssh;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the remote command reads on its standard input. EOF follows.
pub enum Stdin<'a> {
    Null,
    Bytes(&'a [u8]),
    Reader(&'a mut (dyn AsyncRead + Send + Unpin)),
}

/// Where the remote command's standard output goes. Standard error is always captured.
pub enum Stdout<'a> {
    Capture,
    Writer(&'a mut (dyn AsyncWrite + Send + Unpin)),
}

impl Stdin<'_> {
    /// The same input, borrowed for a shorter time (to build a request around it).
    pub fn reborrow(&mut self) -> Stdin<'_> {
        match self {
            Stdin::Null => Stdin::Null,
            Stdin::Bytes(b) => Stdin::Bytes(b),
            Stdin::Reader(r) => Stdin::Reader(&mut **r),
        }
    }
}

impl Stdout<'_> {
    /// The same output, borrowed for a shorter time.
    pub fn reborrow(&mut self) -> Stdout<'_> {
        match self {
            Stdout::Capture => Stdout::Capture,
            Stdout::Writer(w) => Stdout::Writer(&mut **w),
        }
    }
}

pub struct ExecRequest<'a> {
    /// A shell command line, run by the login shell of the remote user (as OpenSSH does).
    pub command: &'a str,
    pub stdin: Stdin<'a>,
    pub stdout: Stdout<'a>,
}

impl<'a> ExecRequest<'a> {
    pub fn new(command: &'a str) -> Self {
        ExecRequest {
            command,
            stdin: Stdin::Null,
            stdout: Stdout::Capture,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit status; a command killed by a signal reports 128 + signal, as a shell does.
    pub status: i32,
    /// Captured standard output (empty when it was sent to a writer).
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a command did not produce an exit status. A non-zero exit status is not an error
/// here: it is an [`ExecOutput`] for the step to judge.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The host cannot be reached or the connection broke: the host is *unreachable*,
    /// which the recap counts apart from *failed*.
    #[error("{0}")]
    Unreachable(String),
    /// The host refused us in a way the operator must fix (host key, authentication).
    #[error("{0}")]
    Refused(String),
    /// The command ran too long: it was stopped on the host, or the host did not
    /// answer in time and its channel was closed.
    #[error("command timed out after {0:?}")]
    Timeout(Duration),
    /// sudo refused to run the command (`become`): wrong or missing password, or not
    /// allowed by sudoers. The host is reachable; the task failed.
    #[error("{0}")]
    Become(String),
    /// A local stream we fed or drained failed (a file being uploaded, a download target).
    #[error("local i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl TransportError {
    /// Whether the host should be counted as unreachable rather than failed.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            TransportError::Unreachable(_) | TransportError::Refused(_)
        )
    }
}

/// A connection to one host. Implementations must allow several `exec` calls to run
/// at once (the SSH one caps concurrent channels below sshd's `MaxSessions`).
pub trait Transport: Send + Sync {
    fn exec<'a>(
        &'a self,
        req: ExecRequest<'a>,
    ) -> BoxFuture<'a, Result<ExecOutput, TransportError>>;

    /// Close the connection; later `exec` calls fail as unreachable.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// Run `req` with a time limit. Dropping the exec future closes its channel.
pub async fn exec_with_timeout<'a>(
    transport: &'a dyn Transport,
    req: ExecRequest<'a>,
    timeout: Option<Duration>,
) -> Result<ExecOutput, TransportError> {
    match timeout {
        None => transport.exec(req).await,
        Some(limit) => match tokio::time::timeout(limit, transport.exec(req)).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout(limit)),
        },
    }
}

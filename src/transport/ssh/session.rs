//! One authenticated SSH connection and the commands run over it.
//!
//! [`SshTransport`] wraps a russh [`Handle`]; every `exec` opens a session channel,
//! runs the command, streams stdin in (with the channel window as backpressure) and
//! stdout/stderr out, and reads the channel to its end (../shared/CRATES.md trap 1:
//! an unread channel stalls the whole connection). A semaphore keeps concurrent
//! channels at or below sshd's `MaxSessions`.
//!
//! A channel that ends without an exit status means the connection broke (keepalive
//! timeout, reset, sshd killed): that is [`TransportError::Unreachable`], never a
//! failed command. An `exec` future dropped early sends `TERM` to the remote command
//! and closes its channel. sshd honours that signal only for non-root logins
//! ("session signalling requires privilege separation"); as root the command keeps
//! running after its channel closes, as with OpenSSH without a PTY, so task time
//! limits are enforced on the host instead (`execute::shell::with_time_limit`).
//!
//! A `Stdout::Writer` is written as data arrives: a writer slower than the network
//! slows this whole connection (russh delivers every channel through one loop), which
//! is the backpressure a relay between two hosts wants.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{DisconnectReason, Handle, Handler, Msg};
use russh::keys::PublicKeyOrCertificate;
use russh::keys::ssh_key::HashAlg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Sig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use super::known_hosts::{KnownHosts, Verdict, changed_key_message, host_port_name, key_kind};
use crate::transport::{
    BoxFuture, ExecOutput, ExecRequest, Stdin, Stdout, Transport, TransportError,
};

/// How much of a `Stdin::Reader` is read at once before it is queued on the channel.
const STDIN_CHUNK: usize = 256 * 1024;

/// Why a connection ended, as the session task reports it.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    lost: Mutex<Option<String>>,
}

impl ConnState {
    fn set_lost(&self, why: String) {
        let mut lost = self.lost.lock().unwrap_or_else(|e| e.into_inner());
        if lost.is_none() {
            *lost = Some(why);
        }
    }

    fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Errors out of the russh session task: its own, or our host key verdict.
#[derive(Debug)]
pub(crate) enum HandlerError {
    Russh(russh::Error),
    HostKey(String),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Russh(e)
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandlerError::Russh(e) => write!(f, "{e}"),
            HandlerError::HostKey(m) => f.write_str(m),
        }
    }
}

/// The russh callbacks for one connection: host key verification and the reason a
/// connection ended.
pub(crate) struct ClientHandler {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub known_hosts: Arc<KnownHosts>,
    pub accept_new: bool,
    pub state: Arc<ConnState>,
}

impl Handler for ClientHandler {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_key else {
            return Err(HandlerError::HostKey(format!(
                "`{}` presented a host certificate; rtmig checks plain host keys against known_hosts only",
                self.name
            )));
        };
        let name = host_port_name(&self.host, self.port);
        match self.known_hosts.check(&self.host, self.port, key) {
            Verdict::Known => Ok(true),
            Verdict::Unknown if self.accept_new => {
                let file = self
                    .known_hosts
                    .learn(&self.host, self.port, key)
                    .map_err(|e| {
                        HandlerError::HostKey(format!(
                            "cannot record the host key of `{}` ({name}): {e}",
                            self.name
                        ))
                    })?;
                tracing::info!(
                    host = %self.name,
                    "permanently added `{name}` ({}) to the list of known hosts in `{}`",
                    key_kind(key),
                    file.display()
                );
                Ok(true)
            }
            Verdict::Unknown => Err(HandlerError::HostKey(format!(
                "host key for `{}` ({name}) is not known: {} key {}; add it to known_hosts{} or rerun with --accept-new-host-keys",
                self.name,
                key_kind(key),
                key.fingerprint(HashAlg::Sha256),
                self.known_hosts
                    .primary_file()
                    .map(|p| format!(" (`{}`)", p.display()))
                    .unwrap_or_default(),
            ))),
            Verdict::Changed { file, line } => Err(HandlerError::HostKey(changed_key_message(
                &self.name,
                &self.host,
                self.port,
                key,
                &file,
                line,
                self.known_hosts.primary_file(),
            ))),
            Verdict::Revoked { file, line } => Err(HandlerError::HostKey(format!(
                "host key for `{}` ({name}) is marked as revoked in `{}`:{line} ({} key {}); refusing to connect",
                self.name,
                file.display(),
                key_kind(key),
                key.fingerprint(HashAlg::Sha256),
            ))),
        }
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        match reason {
            DisconnectReason::ReceivedDisconnect(info) => {
                self.state.set_lost(format!(
                    "the server closed the connection ({:?}{}{})",
                    info.reason_code,
                    if info.message.is_empty() { "" } else { ": " },
                    info.message
                ));
                Ok(())
            }
            DisconnectReason::Error(e) => {
                self.state.set_lost(describe_session_error(&e));
                Err(e)
            }
        }
    }
}

fn describe_session_error(e: &HandlerError) -> String {
    match e {
        HandlerError::Russh(russh::Error::KeepaliveTimeout) => {
            "no answer to keepalives (host down or network cut)".into()
        }
        HandlerError::Russh(russh::Error::InactivityTimeout) => {
            "nothing received within the inactivity timeout (host down or network cut)".into()
        }
        HandlerError::Russh(russh::Error::IO(io)) => format!("network error: {io}"),
        other => other.to_string(),
    }
}

/// One SSH connection to one host, shared by every command of the run. Cheap to
/// clone; the connection closes when the last clone is dropped or on [`Transport::close`].
#[derive(Clone)]
pub struct SshTransport {
    inner: Arc<Inner>,
}

struct Inner {
    handle: Handle<ClientHandler>,
    channels: Semaphore,
    max_channels: usize,
    /// `name (user@host:port)`, for messages.
    label: String,
    state: Arc<ConnState>,
    closed: AtomicBool,
    /// The bastion this connection goes through, kept open while we are.
    _via: Option<SshTransport>,
}

impl std::fmt::Debug for SshTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTransport")
            .field("host", &self.inner.label)
            .finish_non_exhaustive()
    }
}

impl SshTransport {
    pub(crate) fn new(
        handle: Handle<ClientHandler>,
        max_channels: usize,
        label: String,
        state: Arc<ConnState>,
        via: Option<SshTransport>,
    ) -> Self {
        SshTransport {
            inner: Arc::new(Inner {
                handle,
                channels: Semaphore::new(max_channels),
                max_channels,
                label,
                state,
                closed: AtomicBool::new(false),
                _via: via,
            }),
        }
    }

    /// Whether the connection is gone (closed by us, or lost).
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Relaxed) || self.inner.handle.is_closed()
    }

    /// `name (user@host:port)`.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    pub(crate) fn handle(&self) -> &Handle<ClientHandler> {
        &self.inner.handle
    }

    /// The error for a connection that is no longer usable.
    pub(crate) fn lost(&self, doing: &str) -> TransportError {
        if self.inner.closed.load(Ordering::Relaxed) {
            return TransportError::Unreachable(format!(
                "`{}`: the connection was closed",
                self.inner.label
            ));
        }
        let why = self
            .inner
            .state
            .lost()
            .unwrap_or_else(|| "connection lost".to_string());
        TransportError::Unreachable(format!("`{}`: {why} {doing}", self.inner.label))
    }

    /// Open a session channel. sshd frees a closed session only after it has read
    /// every packet of a batch, so an open sent right behind the close of another
    /// channel can meet "no more sessions" (MaxSessions) although we stay within it:
    /// retry shortly while other channels of ours are open or the refusal is fresh.
    async fn open_session(&self) -> Result<russh::Channel<Msg>, TransportError> {
        let mut delay = Duration::from_millis(2);
        let mut alone_refusals = 0;
        loop {
            match self.inner.handle.channel_open_session().await {
                Ok(c) => return Ok(c),
                Err(russh::Error::ChannelOpenFailure(reason)) => {
                    let ours_open = self.inner.max_channels
                        - self
                            .inner
                            .channels
                            .available_permits()
                            .min(self.inner.max_channels)
                        > 1;
                    if !ours_open {
                        alone_refusals += 1;
                    }
                    if alone_refusals > 6 || self.is_closed() {
                        return Err(TransportError::Unreachable(format!(
                            "`{}`: sshd refused a session channel ({reason:?}); check its MaxSessions",
                            self.inner.label
                        )));
                    }
                    tracing::trace!(host = %self.inner.label, ?reason, "session channel refused, retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(100));
                }
                Err(_) => return Err(self.lost("before the command started")),
            }
        }
    }

    async fn exec_inner(&self, req: ExecRequest<'_>) -> Result<ExecOutput, TransportError> {
        let _permit = self
            .inner
            .channels
            .acquire()
            .await
            .map_err(|_| self.lost("before the command started"))?;
        if self.is_closed() {
            return Err(self.lost("before the command started"));
        }
        let channel = self.open_session().await?;
        let (mut rx, tx) = channel.split();
        let mut guard = CloseOnDrop { tx: Some(tx) };
        let tx = guard.tx.as_ref().ok_or_else(|| self.lost(""))?;
        tracing::trace!(host = %self.inner.label, command = req.command, "exec");
        tx.exec(true, req.command)
            .await
            .map_err(|_| self.lost("before the command started"))?;

        let drained = {
            let feed = feed_stdin(tx, req.stdin);
            let drain = drain(&mut rx, req.stdout);
            tokio::pin!(feed, drain);
            let mut fed = false;
            loop {
                tokio::select! {
                    biased;
                    d = &mut drain => break d,
                    f = &mut feed, if !fed => {
                        fed = true;
                        f?;
                    }
                }
            }
        };
        let drained = drained?;
        guard.tx = None; // the channel ended: nothing to close
        match drained.status {
            Some(status) if drained.eof || drained.closed => Ok(ExecOutput {
                status,
                stdout: drained.stdout,
                stderr: drained.stderr,
            }),
            Some(_) => Err(self.lost("after the command exited, before all its output arrived")),
            None if drained.refused && drained.closed => Err(TransportError::Unreachable(format!(
                "`{}`: sshd refused to run the command",
                self.inner.label
            ))),
            None if drained.closed && !self.is_closed() => {
                Err(TransportError::Unreachable(format!(
                    "`{}`: the command's channel closed without an exit status",
                    self.inner.label
                )))
            }
            None => Err(self.lost("while a command was running")),
        }
    }
}

impl Transport for SshTransport {
    fn exec<'a>(
        &'a self,
        req: ExecRequest<'a>,
    ) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(self.exec_inner(req))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if !self.inner.closed.swap(true, Ordering::Relaxed) {
                self.inner.channels.close();
                let _ = self
                    .inner
                    .handle
                    .disconnect(russh::Disconnect::ByApplication, "", "en")
                    .await;
            }
        })
    }
}

/// Closes a channel whose `exec` future was dropped before the command ended,
/// asking sshd to TERM the command first (OpenSSH ≥ 7.9 honours `signal`).
struct CloseOnDrop {
    tx: Option<ChannelWriteHalf<Msg>>,
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = tx.signal(Sig::TERM).await;
                let _ = tx.eof().await;
                let _ = tx.close().await;
            });
        }
    }
}

/// Send the request's stdin, then EOF. Channel errors are left to `drain` to
/// explain (the connection broke, or the command exited without reading it all).
async fn feed_stdin(tx: &ChannelWriteHalf<Msg>, stdin: Stdin<'_>) -> Result<(), TransportError> {
    match stdin {
        Stdin::Null => {}
        Stdin::Bytes(b) => {
            if !b.is_empty() && tx.data_bytes(b.to_vec()).await.is_err() {
                return Ok(());
            }
        }
        Stdin::Reader(r) => loop {
            let mut buf = Vec::with_capacity(STDIN_CHUNK);
            let n = r.read_buf(&mut buf).await?;
            if n == 0 {
                break;
            }
            // Awaits the remote window: the backpressure that keeps memory flat.
            if tx.data_bytes(buf).await.is_err() {
                return Ok(());
            }
        },
    }
    let _ = tx.eof().await;
    Ok(())
}

#[derive(Default)]
struct Drained {
    status: Option<i32>,
    eof: bool,
    closed: bool,
    refused: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Read the channel to its end. `ExitStatus` may come before the last data.
async fn drain(
    rx: &mut ChannelReadHalf,
    mut stdout: Stdout<'_>,
) -> Result<Drained, TransportError> {
    let mut d = Drained::default();
    while let Some(msg) = rx.wait().await {
        match msg {
            ChannelMsg::Data { data } => match &mut stdout {
                Stdout::Capture => d.stdout.extend_from_slice(&data),
                Stdout::Writer(w) => w.write_all(&data).await?,
            },
            ChannelMsg::ExtendedData { data, ext: 1 } => d.stderr.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => {
                d.status = Some(i32::try_from(exit_status).unwrap_or(255))
            }
            ChannelMsg::ExitSignal { signal_name, .. } => {
                d.status = Some(128 + signal_number(&signal_name))
            }
            ChannelMsg::Eof => d.eof = true,
            ChannelMsg::Close => d.closed = true,
            ChannelMsg::Failure => d.refused = true,
            _ => {}
        }
    }
    if let Stdout::Writer(w) = &mut stdout {
        w.flush().await?;
    }
    Ok(d)
}

/// Linux signal numbers, for the shell's `128 + n` convention.
fn signal_number(sig: &Sig) -> i32 {
    match sig {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(name) => match name.as_str() {
            "TRAP" => 5,
            "BUS" => 7,
            "USR2" => 12,
            "STKFLT" => 16,
            "CHLD" => 17,
            "CONT" => 18,
            "STOP" => 19,
            "TSTP" => 20,
            "TTIN" => 21,
            "TTOU" => 22,
            "URG" => 23,
            "XCPU" => 24,
            "XFSZ" => 25,
            "VTALRM" => 26,
            "PROF" => 27,
            "WINCH" => 28,
            "IO" => 29,
            "PWR" => 30,
            "SYS" => 31,
            _ => 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_to_shell_status() {
        assert_eq!(128 + signal_number(&Sig::KILL), 137);
        assert_eq!(128 + signal_number(&Sig::TERM), 143);
        assert_eq!(128 + signal_number(&Sig::Custom("USR2".into())), 140);
    }
}

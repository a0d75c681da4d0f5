//! The SSH transport (russh): one connection per host, opened once and reused by
//! every command of the run, with several channels on it where steps need them.
//!
//! - [`SshConnector`] is built once per run: it parses `known_hosts` and
//!   `~/.ssh/config` once, caches decrypted keys and passphrases, and shares bastion
//!   (ProxyJump) connections between the hosts behind them.
//! - [`SshConnector::connect`] resolves an [`SshTarget`] (inventory vars, then
//!   `~/.ssh/config`, then OpenSSH defaults; see [`config`]), connects (directly or
//!   through `direct-tcpip` channels on the bastions), verifies the host key
//!   ([`known_hosts`]), authenticates ([`auth`]) and returns an [`SshTransport`].
//!   The connect timeout covers the TCP connect, the handshake and authentication
//!   (not the time spent decrypting a key or waiting for its passphrase); a handshake that
//!   sshd drops (`MaxStartups`) is retried with backoff.
//! - [`SshTransport`] implements [`crate::transport::Transport`] (see [`session`]).
//!
//! Errors: a host that cannot be reached or whose connection breaks is
//! [`TransportError::Unreachable`]; a host key or authentication problem the operator
//! must fix is [`TransportError::Refused`]. Secrets never appear in logs; connection
//! details are logged with `tracing` at debug/trace level.
//!
//! Depends only on `transport` (the trait) and russh / ssh2-config.

mod auth;
mod config;
mod known_hosts;
mod session;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::keys::ssh_key::Algorithm;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OnceCell;

pub use session::SshTransport;

use self::auth::KeyStore;
use self::config::{Endpoint, Resolver};
use self::known_hosts::KnownHosts;
use self::session::{ClientHandler, ConnState, HandlerError};
use super::TransportError;

/// The environment variable a key passphrase is taken from.
pub const PASSPHRASE_ENV: &str = "RTMIG_SSH_PASSPHRASE";

/// Asks the operator for the passphrase of a key file (called on a blocking thread).
pub type PassphrasePrompt = Arc<dyn Fn(&Path) -> std::io::Result<String> + Send + Sync>;

/// One host, from the inventory's connection variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshTarget {
    /// The inventory name, for messages.
    pub name: String,
    /// `ansible_host`, or the inventory name. Looked up in `~/.ssh/config`: HostName,
    /// User, Port, IdentityFile and ProxyJump apply where the inventory sets nothing.
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_files: Vec<PathBuf>,
    pub password: Option<String>,
    /// OpenSSH syntax: `[user@]host[:port][,more]`; `none` disables a configured one.
    pub proxy_jump: Option<String>,
}

impl SshTarget {
    /// A target named and addressed `host`, everything else from the config/defaults.
    pub fn new(host: impl Into<String>) -> Self {
        let host = host.into();
        SshTarget {
            name: host.clone(),
            host,
            ..Default::default()
        }
    }
}

/// How the fleet is reached. [`Default`] gives OpenSSH's and Ansible's defaults.
#[derive(Clone)]
pub struct SshOptions {
    /// Limit for TCP connect + handshake + authentication of one host (Ansible: 10 s).
    pub connect_timeout: Duration,
    /// A keepalive is sent after this long without traffic from the host...
    pub keepalive_interval: Duration,
    /// ...and the host is unreachable after this many unanswered in a row. A dead peer
    /// is detected within about `keepalive_interval * (keepalive_max + 1)`.
    pub keepalive_max: usize,
    /// known_hosts files, read once; new keys are appended to the first one.
    /// Default: `~/.ssh/known_hosts`, `/etc/ssh/ssh_known_hosts`.
    pub known_hosts: Vec<PathBuf>,
    /// Record the key of a host not yet in known_hosts (OpenSSH's `accept-new`).
    /// A changed key is refused regardless.
    pub accept_new_host_keys: bool,
    /// The ssh client config; `None` reads `~/.ssh/config` when it exists.
    pub ssh_config: Option<PathBuf>,
    /// Try the ssh-agent's keys first.
    pub use_agent: bool,
    /// The agent socket; default `$SSH_AUTH_SOCK`.
    pub agent_socket: Option<PathBuf>,
    /// Concurrent channels per connection (capped at 10, sshd's default `MaxSessions`).
    pub max_channels: usize,
    /// The passphrase for protected keys; default `$RTMIG_SSH_PASSPHRASE`.
    pub passphrase: Option<String>,
    /// Asks a passphrase when none is set; default: on the terminal (`/dev/tty`).
    /// `None`: a protected key without passphrase is an error.
    pub passphrase_prompt: Option<PassphrasePrompt>,
    /// The receive window per channel: large so downloads and relays run at full speed.
    pub window_size: u32,
    /// Attempts at a handshake that sshd drops (its `MaxStartups`), with backoff.
    pub handshake_attempts: usize,
    /// The home directory for `~` and the default key and config paths; default `$HOME`.
    pub home: Option<PathBuf>,
}

impl std::fmt::Debug for SshOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshOptions")
            .field("connect_timeout", &self.connect_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("keepalive_max", &self.keepalive_max)
            .field("known_hosts", &self.known_hosts)
            .field("accept_new_host_keys", &self.accept_new_host_keys)
            .field("ssh_config", &self.ssh_config)
            .field("use_agent", &self.use_agent)
            .field("agent_socket", &self.agent_socket)
            .field("max_channels", &self.max_channels)
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "<redacted>"),
            )
            .field("passphrase_prompt", &self.passphrase_prompt.is_some())
            .field("window_size", &self.window_size)
            .field("handshake_attempts", &self.handshake_attempts)
            .field("home", &self.home)
            .finish()
    }
}

impl Default for SshOptions {
    fn default() -> Self {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let mut known_hosts = Vec::new();
        if let Some(h) = &home {
            known_hosts.push(h.join(".ssh").join("known_hosts"));
        }
        known_hosts.push(PathBuf::from("/etc/ssh/ssh_known_hosts"));
        SshOptions {
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(15),
            keepalive_max: 3,
            known_hosts,
            accept_new_host_keys: false,
            ssh_config: None,
            use_agent: true,
            agent_socket: std::env::var_os("SSH_AUTH_SOCK")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            max_channels: 10,
            passphrase: std::env::var(PASSPHRASE_ENV).ok().filter(|p| !p.is_empty()),
            passphrase_prompt: Some(Arc::new(tty_prompt)),
            window_size: 16 * 1024 * 1024,
            handshake_attempts: 4,
            home,
        }
    }
}

/// Ask on the controlling terminal, without echo.
fn tty_prompt(key: &Path) -> std::io::Result<String> {
    rpassword::prompt_password(format!("Enter passphrase for key '{}': ", key.display()))
}

type Shared = Result<SshTransport, (ErrorKind, String)>;
/// A bastion connection (or its failure) being made or made, and when it failed.
type BastionSlot = (Arc<OnceCell<Shared>>, Instant);

#[derive(Debug, Clone, Copy)]
enum ErrorKind {
    Unreachable,
    Refused,
}

/// Connects the hosts of a run; see the module documentation.
pub struct SshConnector {
    opts: SshOptions,
    known_hosts: Arc<KnownHosts>,
    resolver: Resolver,
    keys: Arc<KeyStore>,
    /// Bastion connections by [`Endpoint::cache_key`], with the time of a failure.
    bastions: tokio::sync::Mutex<HashMap<String, BastionSlot>>,
}

impl std::fmt::Debug for SshConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshConnector")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl SshConnector {
    /// Read known_hosts and the ssh config once for the whole fleet.
    pub fn new(mut opts: SshOptions) -> Result<Self, TransportError> {
        opts.max_channels = opts.max_channels.clamp(1, 10);
        opts.handshake_attempts = opts.handshake_attempts.max(1);
        let known_hosts = KnownHosts::load(opts.known_hosts.clone())?;
        let resolver = Resolver::load(opts.ssh_config.as_deref(), opts.home.clone())
            .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidData, m))?;
        let keys = KeyStore::new(opts.passphrase.clone(), opts.passphrase_prompt.clone());
        Ok(SshConnector {
            opts,
            known_hosts: Arc::new(known_hosts),
            resolver,
            keys: Arc::new(keys),
            bastions: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn options(&self) -> &SshOptions {
        &self.opts
    }

    /// Connect and authenticate to one host.
    pub async fn connect(&self, target: &SshTarget) -> Result<SshTransport, TransportError> {
        let ep = self
            .resolver
            .resolve(target)
            .map_err(|m| TransportError::Refused(format!("host `{}`: {m}", target.name)))?;
        tracing::debug!(host = %target.name, endpoint = %ep.cache_key(), "connecting");
        self.connect_endpoint(&ep).await
    }

    /// Connect to `ep` (through its bastions), retrying dropped handshakes.
    fn connect_endpoint<'a>(
        &'a self,
        ep: &'a Endpoint,
    ) -> crate::transport::BoxFuture<'a, Result<SshTransport, TransportError>> {
        Box::pin(async move {
            let via = match &ep.via {
                Some(b) => Some(self.bastion(b).await?),
                None => None,
            };
            let mut delay = Duration::from_millis(150);
            let mut attempt = 1;
            loop {
                match self.attempt(ep, via.as_ref()).await {
                    Err(Attempt::Dropped(why)) if attempt < self.opts.handshake_attempts => {
                        tracing::debug!(host = %ep.name, attempt, why = %why, "handshake dropped, retrying");
                        tokio::time::sleep(delay + jitter(delay)).await;
                        delay = (delay * 3).min(Duration::from_secs(2));
                        attempt += 1;
                    }
                    Err(Attempt::Dropped(why)) => {
                        return Err(TransportError::Unreachable(format!(
                            "`{}` ({}): {why} during the SSH handshake, {attempt} times (sshd MaxStartups reached?)",
                            ep.name,
                            ep.label()
                        )));
                    }
                    Err(Attempt::Failed(e)) => return Err(e),
                    Ok(t) => return Ok(t),
                }
            }
        })
    }

    /// A shared connection to a bastion; a failure is remembered for a few seconds
    /// so a fleet behind a dead bastion does not queue up on it.
    async fn bastion(&self, ep: &Endpoint) -> Result<SshTransport, TransportError> {
        let key = ep.cache_key();
        let cell = {
            let mut map = self.bastions.lock().await;
            let fresh = || (Arc::new(OnceCell::new()), Instant::now());
            let entry = map.entry(key.clone()).or_insert_with(fresh);
            let stale = match entry.0.get() {
                Some(Ok(t)) => t.is_closed(),
                Some(Err(_)) => {
                    entry.1.elapsed() > self.opts.connect_timeout.min(Duration::from_secs(5))
                }
                None => false,
            };
            if stale {
                *entry = fresh();
            }
            entry.0.clone()
        };
        let shared = cell
            .get_or_init(|| async {
                let r = self.connect_endpoint(ep).await.map_err(|e| match e {
                    TransportError::Refused(m) => (ErrorKind::Refused, m),
                    other => (ErrorKind::Unreachable, other.to_string()),
                });
                if r.is_err()
                    && let Some(e) = self.bastions.lock().await.get_mut(&key)
                {
                    e.1 = Instant::now();
                }
                r
            })
            .await;
        match shared {
            Ok(t) => Ok(t.clone()),
            Err((kind, m)) => {
                let m = format!("bastion `{}`: {m}", ep.name);
                Err(match kind {
                    ErrorKind::Refused => TransportError::Refused(m),
                    ErrorKind::Unreachable => TransportError::Unreachable(m),
                })
            }
        }
    }

    /// One connect + handshake + authentication, within the connect timeout.
    async fn attempt(
        &self,
        ep: &Endpoint,
        via: Option<&SshTransport>,
    ) -> Result<SshTransport, Attempt> {
        let limit = self.opts.connect_timeout;
        let work = async {
            let stream = self.open_stream(ep, via).await.map_err(Attempt::Failed)?;
            let state = Arc::new(ConnState::default());
            let handler = ClientHandler {
                name: ep.name.clone(),
                host: ep.host.clone(),
                port: ep.port,
                known_hosts: self.known_hosts.clone(),
                accept_new: self.opts.accept_new_host_keys,
                state: state.clone(),
            };
            let mut handle = russh::client::connect_stream(self.client_config(ep), stream, handler)
                .await
                .map_err(|e| handshake_error(ep, e))?;
            let agent = if self.opts.use_agent {
                self.opts.agent_socket.as_deref()
            } else {
                None
            };
            auth::authenticate(&mut handle, ep, &self.keys, agent)
                .await
                .map_err(Attempt::Failed)?;
            tracing::debug!(host = %ep.name, endpoint = %ep.label(), "authenticated");
            Ok(SshTransport::new(
                handle,
                self.opts.max_channels,
                format!("{} ({})", ep.name, ep.label()),
                state,
                via.cloned(),
            ))
        };
        tokio::pin!(work);
        // The limit restarts while a key is decrypted or its passphrase asked: local
        // work (bcrypt-pbkdf, an operator typing) is not the network's slowness.
        let mut deadline = tokio::time::Instant::now() + limit;
        loop {
            tokio::select! {
                r = &mut work => return r,
                _ = tokio::time::sleep_until(deadline) => {
                    if self.keys.busy_within(limit) {
                        deadline = tokio::time::Instant::now() + limit;
                        continue;
                    }
                    return Err(Attempt::Failed(TransportError::Unreachable(format!(
                        "`{}` ({}): connection timed out after {}s",
                        ep.name,
                        ep.label(),
                        limit.as_secs_f32()
                    ))));
                }
            }
        }
    }

    /// A TCP connection, or a `direct-tcpip` channel through the bastion.
    async fn open_stream(
        &self,
        ep: &Endpoint,
        via: Option<&SshTransport>,
    ) -> Result<Box<dyn Stream>, TransportError> {
        if let Some(bastion) = via {
            let channel = bastion
                .handle()
                .channel_open_direct_tcpip(ep.host.clone(), u32::from(ep.port), "127.0.0.1", 0)
                .await
                .map_err(|e| match e {
                    russh::Error::ChannelOpenFailure(reason) => {
                        TransportError::Unreachable(format!(
                            "`{}` ({}): bastion `{}` could not connect to it ({reason:?})",
                            ep.name,
                            ep.label(),
                            bastion.label()
                        ))
                    }
                    _ => bastion.lost("while opening a forwarded connection"),
                })?;
            return Ok(Box::new(channel.into_stream()));
        }
        let tcp = tokio::net::TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(|e| {
                let why = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                    std::io::ErrorKind::TimedOut => "connection timed out".to_string(),
                    _ => e.to_string(),
                };
                TransportError::Unreachable(format!("`{}` ({}): {why}", ep.name, ep.label()))
            })?;
        let _ = tcp.set_nodelay(true);
        Ok(Box::new(tcp))
    }

    fn client_config(&self, ep: &Endpoint) -> Arc<russh::client::Config> {
        let known = self.known_hosts.known_algorithms(&ep.host, ep.port);
        let defaults = russh::Preferred::DEFAULT.key;
        let same_family = |a: &Algorithm, b: &Algorithm| match (a, b) {
            (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
            _ => a == b,
        };
        // Key types known_hosts records for this host first (trap 6), in file order.
        let mut keys: Vec<Algorithm> = Vec::new();
        for k in &known {
            for d in defaults.iter() {
                if same_family(k, d) && !keys.contains(d) {
                    keys.push(d.clone());
                }
            }
        }
        for d in defaults.iter() {
            if !keys.contains(d) {
                keys.push(d.clone());
            }
        }
        let interval = self.opts.keepalive_interval;
        let max = self.opts.keepalive_max.max(1);
        Arc::new(russh::client::Config {
            window_size: self.opts.window_size,
            // What OpenSSH itself uses for session channels.
            maximum_packet_size: 32768,
            keepalive_interval: Some(interval),
            keepalive_max: max,
            // Also ends a connection stuck writing to a dead peer; keepalive replies
            // keep it from firing on a quiet but alive one.
            inactivity_timeout: Some(interval * (max as u32 + 2)),
            nodelay: true,
            preferred: russh::Preferred {
                key: Cow::Owned(keys),
                ..russh::Preferred::DEFAULT
            },
            ..Default::default()
        })
    }
}

/// What became of one connection attempt.
enum Attempt {
    /// The server closed the connection before the key exchange ended: retryable.
    Dropped(String),
    Failed(TransportError),
}

fn handshake_error(ep: &Endpoint, e: HandlerError) -> Attempt {
    use russh::Error as E;
    match e {
        HandlerError::HostKey(m) => Attempt::Failed(TransportError::Refused(m)),
        HandlerError::Russh(E::Disconnect | E::HUP) => {
            Attempt::Dropped("the server closed the connection".into())
        }
        HandlerError::Russh(E::IO(io))
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::BrokenPipe
            ) =>
        {
            Attempt::Dropped(format!("network error ({io})"))
        }
        HandlerError::Russh(e @ (E::NoCommonAlgo { .. } | E::UnknownKey | E::WrongServerSig)) => {
            Attempt::Failed(TransportError::Refused(format!(
                "`{}` ({}): SSH handshake failed: {e}",
                ep.name,
                ep.label()
            )))
        }
        HandlerError::Russh(e) => Attempt::Failed(TransportError::Unreachable(format!(
            "`{}` ({}): SSH handshake failed: {e}",
            ep.name,
            ep.label()
        ))),
    }
}

/// Up to a third of `d`, so retries from many hosts spread out.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d.mul_f64(f64::from(nanos % 1000) / 3000.0)
}

/// A byte stream an SSH connection runs over (TCP, or a channel on a bastion).
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

#[cfg(test)]
mod tests {
    /// Every connection keeps four tokio channels of russh's messages, each allocating 32
    /// slots up front: unpatched russh 0.65 has 552-byte messages (a certificate inline),
    /// ~72 KiB per connection. vendor/russh.patch boxes the certificate, the key and the
    /// pending channel open; an update of russh that loses the patch fails here
    /// (vendor/README.md).
    #[test]
    fn russh_messages_stay_small() {
        // 552 bytes unpatched (a Certificate inline), 136 with only that boxed, 96 with
        // the pending channel open of ServerChannelOpenReply boxed too: 88 (vendor/README.md).
        let msg = std::mem::size_of::<russh::client::Msg>();
        assert!(msg <= 96, "russh::client::Msg is {msg} bytes");
    }
}

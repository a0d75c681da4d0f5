//! User authentication, in OpenSSH's order: the ssh-agent's keys, then key files,
//! then the inventory's password (also offered to keyboard-interactive, as PAM
//! servers ask for it there).
//!
//! Key files are read and decrypted once for the whole fleet ([`KeyStore`]). A
//! passphrase-protected key is first offered by its public half; only when the server
//! would accept it is the passphrase needed: from `RTMIG_SSH_PASSPHRASE`, else asked
//! once on the terminal, else a clear error. RSA keys sign with rsa-sha2-512/256
//! (`best_supported_rsa_hash`; plain `ssh-rsa` SHA-1 is refused by OpenSSH ≥ 8.8).
//! Secrets (passwords, passphrases) never reach a log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client::{AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::ssh_key::{Algorithm, HashAlg, PrivateKey, PublicKey};
use russh::keys::{PrivateKeyWithHashAlg, decode_secret_key};
use tokio::sync::OnceCell;

use super::config::Endpoint;
use super::session::ClientHandler;
use super::{PassphrasePrompt, TransportError};

/// A key file as read from disk: its public half, and the private key (decrypted once).
struct KeyFile {
    public: Option<PublicKey>,
    kind: KeyKind,
}

enum KeyKind {
    Plain(Arc<PrivateKey>),
    /// OpenSSH format, still encrypted; the public half is readable.
    EncryptedOpenssh(Box<PrivateKey>),
    /// PEM/PKCS#8, encrypted: decrypted from its text.
    EncryptedPem(String),
}

type Decrypted = Result<Arc<PrivateKey>, String>;
type Loaded = Arc<OnceCell<Result<Arc<KeyFile>, String>>>;

/// Key files and passphrases shared by every connection of a run.
pub(crate) struct KeyStore {
    env_passphrase: Option<String>,
    prompt: Option<PassphrasePrompt>,
    files: Mutex<HashMap<PathBuf, Loaded>>,
    decrypted: Mutex<HashMap<PathBuf, Arc<OnceCell<Decrypted>>>>,
    /// The last passphrase typed on the terminal: tried first on the next key.
    typed: Mutex<Option<String>>,
    /// One terminal prompt at a time.
    prompt_lock: tokio::sync::Mutex<()>,
    /// Keys being decrypted or passphrases being asked: local work that the connect
    /// timeout (a network limit) does not count.
    busy: AtomicUsize,
    busy_ended: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").finish_non_exhaustive()
    }
}

impl KeyStore {
    pub fn new(env_passphrase: Option<String>, prompt: Option<PassphrasePrompt>) -> Self {
        KeyStore {
            env_passphrase,
            prompt,
            files: Mutex::new(HashMap::new()),
            decrypted: Mutex::new(HashMap::new()),
            typed: Mutex::new(None),
            prompt_lock: tokio::sync::Mutex::new(()),
            busy: AtomicUsize::new(0),
            busy_ended: Mutex::new(None),
        }
    }

    /// Whether a key is being decrypted or its passphrase asked, or was within `recent`.
    pub fn busy_within(&self, recent: Duration) -> bool {
        self.busy.load(Ordering::Relaxed) > 0
            || self
                .busy_ended
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some_and(|t| t.elapsed() < recent)
    }

    async fn file(&self, path: &Path) -> Result<Arc<KeyFile>, String> {
        let cell = {
            let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            files.entry(path.to_path_buf()).or_default().clone()
        };
        cell.get_or_init(|| read_key_file(path.to_path_buf()))
            .await
            .clone()
    }

    async fn private(&self, path: &Path, file: &KeyFile) -> Decrypted {
        if let KeyKind::Plain(k) = &file.kind {
            return Ok(k.clone());
        }
        let cell = {
            let mut map = self.decrypted.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(path.to_path_buf()).or_default().clone()
        };
        cell.get_or_init(|| self.decrypt(path, file)).await.clone()
    }

    async fn decrypt(&self, path: &Path, file: &KeyFile) -> Decrypted {
        self.busy.fetch_add(1, Ordering::Relaxed);
        let _busy = Busy(self);
        if let Some(p) = &self.env_passphrase {
            return match try_decrypt(file, p.clone()).await {
                Some(k) => Ok(k),
                None => Err(format!(
                    "the passphrase in RTMIG_SSH_PASSPHRASE does not decrypt key `{}`",
                    path.display()
                )),
            };
        }
        let typed = self.typed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(p) = typed
            && let Some(k) = try_decrypt(file, p).await
        {
            return Ok(k);
        }
        let Some(prompt) = self.prompt.clone() else {
            return Err(format!(
                "key `{}` is passphrase-protected: set RTMIG_SSH_PASSPHRASE, add it to ssh-agent, or run on a terminal",
                path.display()
            ));
        };
        let _one_at_a_time = self.prompt_lock.lock().await;
        for _ in 0..3 {
            let asked = {
                let prompt = prompt.clone();
                let path = path.to_path_buf();
                tokio::task::spawn_blocking(move || prompt(&path)).await
            };
            let passphrase = match asked {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    return Err(format!(
                        "key `{}` is passphrase-protected and the passphrase could not be asked ({e}): set RTMIG_SSH_PASSPHRASE or add it to ssh-agent",
                        path.display()
                    ));
                }
                Err(e) => return Err(format!("passphrase prompt failed: {e}")),
            };
            if let Some(k) = try_decrypt(file, passphrase.clone()).await {
                *self.typed.lock().unwrap_or_else(|e| e.into_inner()) = Some(passphrase);
                return Ok(k);
            }
        }
        Err(format!(
            "wrong passphrase for key `{}` (three attempts)",
            path.display()
        ))
    }
}

/// Counts local key work until dropped.
struct Busy<'a>(&'a KeyStore);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        *self.0.busy_ended.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Decrypting runs bcrypt-pbkdf: keep it off the async workers.
async fn try_decrypt(file: &KeyFile, passphrase: String) -> Option<Arc<PrivateKey>> {
    let job: Box<dyn FnOnce() -> Option<PrivateKey> + Send> = match &file.kind {
        KeyKind::Plain(k) => return Some(k.clone()),
        KeyKind::EncryptedOpenssh(k) => {
            let k = k.clone();
            Box::new(move || k.decrypt(passphrase.as_bytes()).ok())
        }
        KeyKind::EncryptedPem(text) => {
            let text = text.clone();
            Box::new(move || decode_secret_key(&text, Some(&passphrase)).ok())
        }
    };
    tokio::task::spawn_blocking(job)
        .await
        .ok()
        .flatten()
        .map(Arc::new)
}

async fn read_key_file(path: PathBuf) -> Result<Arc<KeyFile>, String> {
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| format!("cannot read key `{}`: {e}", path.display()))?;
    let bad = |e: &dyn std::fmt::Display| format!("cannot load key `{}`: {e}", path.display());
    if text.contains(concat!("-----BEGIN OPENSSH ", "PRIVATE KEY-----")) {
        let key = PrivateKey::from_openssh(text.trim()).map_err(|e| bad(&e))?;
        let public = Some(key.public_key().clone());
        let kind = if key.is_encrypted() {
            KeyKind::EncryptedOpenssh(Box::new(key))
        } else {
            KeyKind::Plain(Arc::new(key))
        };
        return Ok(Arc::new(KeyFile { public, kind }));
    }
    match decode_secret_key(&text, None) {
        Ok(key) => Ok(Arc::new(KeyFile {
            public: Some(key.public_key().clone()),
            kind: KeyKind::Plain(Arc::new(key)),
        })),
        Err(russh::keys::Error::KeyIsEncrypted) | Err(russh::keys::Error::Pkcs8(_))
            if text.contains("ENCRYPTED") =>
        {
            // The public half of a PEM key is only in the `.pub` file beside it.
            let mut pub_path = path.clone().into_os_string();
            pub_path.push(".pub");
            let public = std::fs::read_to_string(&pub_path)
                .ok()
                .and_then(|t| PublicKey::from_openssh(t.trim()).ok());
            Ok(Arc::new(KeyFile {
                public,
                kind: KeyKind::EncryptedPem(text),
            }))
        }
        Err(e) => Err(bad(&e)),
    }
}

/// A signer that never signs: the server asking for a signature means it would
/// accept the key, which is all the probe wants to know before asking a passphrase.
struct Probe;

#[derive(Debug)]
enum ProbeOutcome {
    Accepted,
    Send,
}

impl From<russh::SendError> for ProbeOutcome {
    fn from(_: russh::SendError) -> Self {
        ProbeOutcome::Send
    }
}

impl russh::Signer for Probe {
    type Error = ProbeOutcome;

    async fn auth_sign(
        &mut self,
        _key: &AgentIdentity,
        _hash_alg: Option<HashAlg>,
        _to_sign: Vec<u8>,
    ) -> Result<Vec<u8>, Self::Error> {
        Err(ProbeOutcome::Accepted)
    }
}

/// What the attempts so far tell about the server.
struct Attempts {
    tried: Vec<String>,
    notes: Vec<String>,
    remaining: Option<Vec<&'static str>>,
    rsa_hash: Option<Option<HashAlg>>,
}

impl Attempts {
    fn record(&mut self, r: &AuthResult) -> bool {
        match r {
            AuthResult::Success => true,
            AuthResult::Failure {
                remaining_methods, ..
            } => {
                self.remaining = Some(remaining_methods.iter().map(<&str>::from).collect());
                false
            }
        }
    }

    fn allows(&self, method: &str) -> bool {
        self.remaining
            .as_ref()
            .is_none_or(|r| r.is_empty() || r.contains(&method))
    }

    async fn hash_for(
        &mut self,
        handle: &Handle<ClientHandler>,
        alg: &Algorithm,
    ) -> Option<HashAlg> {
        if !matches!(alg, Algorithm::Rsa { .. }) {
            return None;
        }
        if self.rsa_hash.is_none() {
            // Waits for the server's ext-info (sent right after the key exchange).
            let h = handle
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten();
            self.rsa_hash = Some(h);
        }
        self.rsa_hash.flatten()
    }
}

/// Authenticate `handle` as `ep.user`. `agent` is the agent socket to use, if any.
pub(crate) async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    ep: &Endpoint,
    keys: &KeyStore,
    agent: Option<&Path>,
) -> Result<(), TransportError> {
    let user = ep.user.as_str();
    let mut at = Attempts {
        tried: Vec::new(),
        notes: Vec::new(),
        remaining: None,
        rsa_hash: None,
    };
    let net = |e: russh::Error| {
        TransportError::Unreachable(format!(
            "`{}` ({}): connection lost during authentication: {e}",
            ep.name,
            ep.label()
        ))
    };
    let mut offered: Vec<PublicKey> = Vec::new();

    // 1. ssh-agent
    if let Some(sock) = agent {
        match AgentClient::connect_uds(sock).await {
            Ok(mut client) => {
                if let Some(binding) = handle.agent_session_binding() {
                    // Older agents do not know session-bind; OpenSSH ignores that too.
                    let _ = client.bind_session(binding, false).await;
                }
                match client.request_identities().await {
                    Ok(ids) => {
                        let mut n = 0;
                        for id in ids {
                            let AgentIdentity::PublicKey { key, .. } = &id else {
                                continue;
                            };
                            n += 1;
                            offered.push(key.clone());
                            let hash = at.hash_for(handle, &key.algorithm()).await;
                            tracing::debug!(target_host = %ep.label(), key = %key.fingerprint(HashAlg::Sha256), "trying agent key");
                            match handle
                                .authenticate_publickey_with(user, key.clone(), hash, &mut client)
                                .await
                            {
                                Ok(r) => {
                                    if at.record(&r) {
                                        return Ok(());
                                    }
                                }
                                Err(e) => tracing::debug!(error = %e, "agent could not sign"),
                            }
                            if handle.is_closed() {
                                return Err(net(russh::Error::Disconnect));
                            }
                        }
                        at.tried.push(format!("ssh-agent ({n} keys)"));
                    }
                    Err(e) => at.notes.push(format!("ssh-agent: {e}")),
                }
            }
            Err(e) => {
                tracing::debug!(socket = %sock.display(), error = %e, "ssh-agent unavailable")
            }
        }
    }

    // 2. key files
    for path in &ep.identity_files {
        if !at.allows("publickey") {
            break;
        }
        let file = match keys.file(path).await {
            Ok(f) => f,
            Err(e) => {
                at.notes.push(e);
                continue;
            }
        };
        if let Some(p) = &file.public
            && offered.iter().any(|o| o.key_data() == p.key_data())
        {
            continue; // the agent already offered it
        }
        at.tried.push(format!("key `{}`", path.display()));
        if let (Some(public), false) = (&file.public, matches!(file.kind, KeyKind::Plain(_))) {
            // Offer the public half first: no passphrase for a key the server refuses.
            let hash = at.hash_for(handle, &public.algorithm()).await;
            match handle
                .authenticate_publickey_with(user, public.clone(), hash, &mut Probe)
                .await
            {
                Err(ProbeOutcome::Accepted) => {}
                Err(ProbeOutcome::Send) => return Err(net(russh::Error::SendError)),
                Ok(r) => {
                    if at.record(&r) {
                        return Ok(());
                    }
                    continue;
                }
            }
        }
        let key = match keys.private(path, &file).await {
            Ok(k) => k,
            Err(e) => {
                at.notes.push(e);
                continue;
            }
        };
        let hash = at.hash_for(handle, &key.algorithm()).await;
        tracing::debug!(target_host = %ep.label(), key = %path.display(), "trying key file");
        let r = handle
            .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
            .await
            .map_err(net)?;
        if at.record(&r) {
            return Ok(());
        }
    }

    // 3. password, then keyboard-interactive with the same password
    if let Some(password) = &ep.password {
        if at.allows("password") {
            at.tried.push("password".into());
            let r = handle
                .authenticate_password(user, password.clone())
                .await
                .map_err(net)?;
            if at.record(&r) {
                return Ok(());
            }
        }
        if at.allows("keyboard-interactive")
            && at
                .remaining
                .as_ref()
                .is_some_and(|r| r.contains(&"keyboard-interactive"))
        {
            at.tried.push("keyboard-interactive".into());
            if keyboard_interactive(handle, user, password)
                .await
                .map_err(net)?
            {
                return Ok(());
            }
        }
    }

    let mut msg = format!(
        "authentication failed for `{}` (host `{}`)",
        ep.label(),
        ep.name
    );
    if at.tried.is_empty() {
        msg.push_str(": no method to try (no ssh-agent key, no key file, no password)");
    } else {
        msg.push_str(&format!("; tried: {}", at.tried.join(", ")));
    }
    if let Some(r) = &at.remaining {
        msg.push_str(&format!("; the server accepts: {}", r.join(",")));
    }
    for n in &at.notes {
        msg.push_str("; ");
        msg.push_str(n);
    }
    Err(TransportError::Refused(msg))
}

/// Answer every hidden prompt with the password (what PAM's password prompt wants).
async fn keyboard_interactive(
    handle: &mut Handle<ClientHandler>,
    user: &str,
    password: &str,
) -> Result<bool, russh::Error> {
    let mut reply = handle
        .authenticate_keyboard_interactive_start(user, None)
        .await?;
    let mut answered = 0;
    loop {
        match reply {
            KeyboardInteractiveAuthResponse::Success => return Ok(true),
            KeyboardInteractiveAuthResponse::Failure { .. } => return Ok(false),
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                let hidden = prompts.iter().filter(|p| !p.echo).count();
                if hidden > 0 {
                    answered += 1;
                }
                if answered > 2 {
                    return Ok(false); // the password was not accepted
                }
                let responses = prompts
                    .iter()
                    .map(|p| {
                        if p.echo {
                            String::new()
                        } else {
                            password.to_string()
                        }
                    })
                    .collect();
                reply = handle
                    .authenticate_keyboard_interactive_respond(responses)
                    .await?;
            }
        }
    }
}

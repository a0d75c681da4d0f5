//! Ansible Vault: the `$ANSIBLE_VAULT;1.1;AES256` and `$ANSIBLE_VAULT;1.2;AES256;<id>`
//! envelopes that `ansible-vault encrypt` and `encrypt_string` write, decrypted exactly
//! as ansible-core's `VaultAES256` does: PBKDF2-HMAC-SHA256 (10000 rounds, the 32-byte
//! salt of the payload) gives an AES key, an HMAC key and a counter block; the HMAC of
//! the ciphertext is checked in constant time before AES-256-CTR runs; PKCS7 padding.
//!
//! Owns the secrets (vault id and password, see [`secrets`] for where they come from)
//! and remembers every plaintext it reveals, so that the run can mask them
//! ([`Vault::revealed`]). The crypto is RustCrypto's (aes, ctr, pbkdf2, hmac, sha2,
//! block-padding); nothing is written by hand here but the envelope's parsing. A leaf:
//! depends on nothing else in rtmig.

pub mod secrets;

use std::fmt;
use std::sync::{Arc, Mutex};

use aes::Aes256;
use block_padding::{Padding, Pkcs7};
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How every vault payload starts.
pub const HEADER: &str = "$ANSIBLE_VAULT";
/// The vault id of a 1.1 payload and of a password given without a label.
pub const DEFAULT_ID: &str = "default";

/// The advice given when encrypted data is found and no password was given.
pub const NO_PASSWORD_HINT: &str = "use --vault-password-file or --ask-vault-pass";

const ROUNDS: u32 = 10_000;
const KEY_LEN: usize = 32;
const IV_LEN: usize = 16;
const BLOCK: usize = 16;

/// One vault password and the vault id it answers to (`default` without a label).
#[derive(Clone)]
pub struct Secret {
    pub id: String,
    password: Vec<u8>,
}

impl Secret {
    pub fn new(id: impl Into<String>, password: impl Into<Vec<u8>>) -> Self {
        Secret {
            id: id.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}, ********)", self.id)
    }
}

/// The secrets of one invocation, in the order they were given, and what they revealed.
#[derive(Debug, Default)]
pub struct Vault {
    secrets: Vec<Secret>,
    revealed: Mutex<Vec<String>>,
}

/// Why a payload could not be decrypted. Displayed as the tail of a located message
/// (`file:line:col: <this>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("vault-encrypted {what} and no vault password given ({NO_PASSWORD_HINT})")]
    NoPassword { what: &'static str },
    #[error("decryption failed: no vault secret (vault ids tried: {}) could decrypt it", .tried.join(", "))]
    WrongPassword { tried: Vec<String> },
    #[error("malformed vault data: {0}")]
    Format(String),
    #[error("unsupported vault cipher `{0}` (ansible-vault writes AES256)")]
    Cipher(String),
    #[error("the decrypted vault data is not UTF-8 text")]
    NotText,
}

/// A payload split into its parts.
#[derive(Debug, PartialEq, Eq)]
struct Envelope {
    /// The vault id of a 1.2 payload (a nickname: it is not signed).
    id: Option<String>,
    salt: Vec<u8>,
    hmac: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// How the loaders treat vault data. Whole encrypted files are decrypted; a `!vault`
/// value is decrypted, or, with `keep_values`, kept as the `{"__ansible_vault":
/// PAYLOAD}` that `ansible-inventory --list` prints for it.
#[derive(Debug, Clone, Default)]
pub struct Decryption {
    pub vault: Arc<Vault>,
    pub keep_values: bool,
    /// Encrypted `group_vars`/`host_vars` files are left unread: the command shows no
    /// variable (`inventory --graph`, `--hosts`), and Ansible asks no password there.
    pub skip_vars_files: bool,
}

impl Decryption {
    pub fn new(vault: Arc<Vault>) -> Self {
        Decryption {
            vault,
            keep_values: false,
            skip_vars_files: false,
        }
    }

    /// What a `!vault` value becomes: its text, or Ansible's `--list` form.
    pub fn value(&self, payload: &str) -> Result<serde_json::Value, VaultError> {
        if self.keep_values {
            // Checked all the same: malformed data is reported where it is.
            parse_envelope(payload)?;
            return Ok(serde_json::json!({ "__ansible_vault": payload }));
        }
        self.vault
            .decrypt_text(payload, "value")
            .map(serde_json::Value::String)
    }

    /// The text of a whole encrypted file (`None` when `text` is not vault data).
    pub fn file(&self, text: &str) -> Option<Result<String, VaultError>> {
        is_encrypted(text).then(|| {
            self.vault
                .decrypt(text, "file")
                .and_then(|plain| String::from_utf8(plain).map_err(|_| VaultError::NotText))
        })
    }
}

/// Whether `text` is vault data (Ansible's `is_encrypted`: it starts with the header).
pub fn is_encrypted(text: &str) -> bool {
    text.starts_with(HEADER)
}

impl Vault {
    pub fn new(secrets: Vec<Secret>) -> Self {
        Vault {
            secrets,
            revealed: Mutex::new(Vec::new()),
        }
    }

    pub fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// Decrypt one payload as Ansible's `VaultLib.decrypt` does: the secrets of the
    /// payload's vault id (`default` for 1.1) are tried first, then every other one in
    /// order. `what` names the data in
    /// the no-password message ("value", "file").
    pub fn decrypt(&self, payload: &str, what: &'static str) -> Result<Vec<u8>, VaultError> {
        let envelope = parse_envelope(payload)?;
        if self.secrets.is_empty() {
            return Err(VaultError::NoPassword { what });
        }
        // A 1.1 payload names no id: Ansible takes it for `default`.
        let wanted = Some(envelope.id.as_deref().unwrap_or(DEFAULT_ID));
        let order = self
            .secrets
            .iter()
            .filter(|s| Some(s.id.as_str()) == wanted)
            .chain(
                self.secrets
                    .iter()
                    .filter(|s| Some(s.id.as_str()) != wanted),
            );
        let mut tried: Vec<String> = Vec::new();
        for secret in order {
            if let Some(plain) = decrypt_aes256(&envelope, &secret.password)? {
                return Ok(plain);
            }
            if !tried.contains(&secret.id) {
                tried.push(secret.id.clone());
            }
        }
        Err(VaultError::WrongPassword { tried })
    }

    /// Decrypt a `!vault` value to its text and remember it as a secret.
    pub fn decrypt_text(&self, payload: &str, what: &'static str) -> Result<String, VaultError> {
        let plain =
            String::from_utf8(self.decrypt(payload, what)?).map_err(|_| VaultError::NotText)?;
        self.reveal(&plain);
        Ok(plain)
    }

    /// Remember a decrypted string: the run masks it in everything it writes.
    pub fn reveal(&self, plain: &str) {
        let mut revealed = self.revealed.lock().unwrap_or_else(|p| p.into_inner());
        if !revealed.iter().any(|r| r == plain) {
            revealed.push(plain.to_string());
        }
    }

    /// Remember every string inside a decrypted file's values.
    pub fn reveal_strings(&self, value: &serde_json::Value) {
        match value {
            serde_json::Value::String(s) => self.reveal(s),
            serde_json::Value::Array(items) => items.iter().for_each(|v| self.reveal_strings(v)),
            serde_json::Value::Object(map) => map.values().for_each(|v| self.reveal_strings(v)),
            _ => {}
        }
    }

    /// Every plaintext decrypted so far (and every string of a decrypted file).
    pub fn revealed(&self) -> Vec<String> {
        self.revealed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn format_err(message: impl Into<String>) -> VaultError {
    VaultError::Format(message.into())
}

/// Ansible's `parse_vaulttext_envelope` then `parse_vaulttext`: a header line, then
/// hex lines that hold, once joined and unhexlified, `hex(salt)\nhex(hmac)\nhex(data)`.
fn parse_envelope(payload: &str) -> Result<Envelope, VaultError> {
    let mut lines = payload.lines();
    let header = lines.next().unwrap_or_default().trim();
    let fields: Vec<&str> = header.split(';').map(str::trim).collect();
    if fields.first() != Some(&HEADER) || fields.len() < 3 {
        return Err(format_err(format!(
            "expected a header such as `{HEADER};1.1;AES256`, found `{header}`"
        )));
    }
    let version = fields[1];
    if version != "1.1" && version != "1.2" {
        return Err(format_err(format!(
            "unsupported format version `{version}` (1.1 and 1.2 are known)"
        )));
    }
    if fields[2] != "AES256" {
        return Err(VaultError::Cipher(fields[2].to_string()));
    }
    let id = fields
        .get(3)
        .filter(|s| !s.is_empty())
        .map(|s| s.to_string());
    let body: String = lines.map(str::trim).collect();
    if body.is_empty() {
        return Err(format_err("no encrypted data after the header"));
    }
    let inner = unhex(&body, "the payload")?;
    let inner = String::from_utf8(inner).map_err(|_| format_err("the payload is not hex text"))?;
    let mut parts = inner.splitn(3, '\n');
    let (Some(salt), Some(hmac), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format_err(
            "expected salt, HMAC and ciphertext in the payload",
        ));
    };
    Ok(Envelope {
        id,
        salt: unhex(salt, "the salt")?,
        hmac: unhex(hmac, "the HMAC")?,
        ciphertext: unhex(data, "the ciphertext")?,
    })
}

fn unhex(text: &str, what: &str) -> Result<Vec<u8>, VaultError> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .map_err(|e| format_err(format!("{what} is not hexadecimal ({e})")))
}

/// `VaultAES256.decrypt`: `None` when the HMAC does not match (another password).
fn decrypt_aes256(envelope: &Envelope, password: &[u8]) -> Result<Option<Vec<u8>>, VaultError> {
    let mut derived = [0u8; 2 * KEY_LEN + IV_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, &envelope.salt, ROUNDS, &mut derived);
    let (key, rest) = derived.split_at(KEY_LEN);
    let (hmac_key, iv) = rest.split_at(KEY_LEN);

    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(hmac_key)
        .map_err(|_| format_err("bad HMAC key length"))?;
    mac.update(&envelope.ciphertext);
    // `verify_slice` compares in constant time.
    if mac.verify_slice(&envelope.hmac).is_err() {
        return Ok(None);
    }

    let mut data = envelope.ciphertext.clone();
    let mut cipher = ctr::Ctr128BE::<Aes256>::new_from_slices(key, iv)
        .map_err(|_| format_err("bad key or counter length"))?;
    cipher.apply_keystream(&mut data);
    if data.is_empty() || !data.len().is_multiple_of(BLOCK) {
        return Err(format_err(format!(
            "the ciphertext is {} bytes, not whole {BLOCK}-byte blocks",
            data.len()
        )));
    }
    let last = data.len() - BLOCK;
    let kept = Pkcs7::raw_unpad(&data[last..])
        .map_err(|_| format_err("bad PKCS7 padding"))?
        .len();
    data.truncate(last + kept);
    Ok(Some(data))
}

#[cfg(test)]
mod tests;

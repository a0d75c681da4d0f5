//! Where vault passwords come from, gathered as Ansible's CLI gathers them
//! (`CLI.build_vault_ids` and `setup_vault_secrets`): every `--vault-id [ID@]SOURCE`
//! first, then every `--vault-password-file FILE` and `ANSIBLE_VAULT_PASSWORD_FILE` (id
//! `default`), then `--ask-vault-pass`. A source is `prompt` (asked on the terminal) or
//! a file: an executable file is run and its standard output is the password (a
//! `NAME-client` script gets `--vault-id ID`, as Ansible's client scripts do); another
//! file is read. Surrounding white space of a file, and the trailing newline of a
//! script's output, are not part of the password.
//!
//! Unlike Ansible, which warns about a missing or failing password file and goes on
//! with the others, every source given must work: a typo in a path is an error.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{DEFAULT_ID, Secret, Vault};

/// One place a password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File {
        id: String,
        path: PathBuf,
    },
    /// Asked on the terminal; `labelled` prompts name the vault id
    /// (`--vault-id prod@prompt`), `--ask-vault-pass` asks `Vault password: `.
    Prompt {
        id: String,
        labelled: bool,
    },
}

impl Source {
    /// `--vault-id [ID@]SOURCE`: `SOURCE` is `prompt` or a file; without `ID@` the
    /// id is `default`.
    pub fn parse_vault_id(text: &str) -> Source {
        let (id, source) = match text.split_once('@') {
            Some((id, source)) if !id.is_empty() => (id, source),
            Some((_, source)) => (DEFAULT_ID, source),
            None => (DEFAULT_ID, text),
        };
        if source == "prompt" {
            Source::Prompt {
                id: id.to_string(),
                labelled: true,
            }
        } else {
            Source::File {
                id: id.to_string(),
                path: PathBuf::from(source),
            }
        }
    }
}

/// The command line's vault options, in Ansible's order of precedence.
pub fn sources(
    vault_ids: &[String],
    password_files: &[PathBuf],
    env_password_file: Option<PathBuf>,
    ask: bool,
) -> Vec<Source> {
    let mut out: Vec<Source> = vault_ids
        .iter()
        .map(|v| Source::parse_vault_id(v))
        .collect();
    out.extend(
        password_files
            .iter()
            .cloned()
            .chain(env_password_file.filter(|p| !p.as_os_str().is_empty()))
            .map(|path| Source::File {
                id: DEFAULT_ID.to_string(),
                path,
            }),
    );
    if ask {
        out.push(Source::Prompt {
            id: DEFAULT_ID.to_string(),
            labelled: false,
        });
    }
    out
}

/// A vault password that could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("vault password file `{}` not found", .0.display())]
    NotFound(PathBuf),
    #[error("vault password file `{}` is a folder", .0.display())]
    IsDir(PathBuf),
    #[error("cannot read vault password file `{}`: {err}", path.display())]
    Read { path: PathBuf, err: std::io::Error },
    #[error("vault password script `{}` {detail}", path.display())]
    Script { path: PathBuf, detail: String },
    #[error("empty vault password from `{}`", .0.display())]
    Empty(PathBuf),
    #[error("cannot ask for the vault password: {0}")]
    Prompt(std::io::Error),
    #[error("empty vault password given at the prompt")]
    EmptyPrompt,
}

/// Read every source into a [`Vault`]. `ask` shows a prompt and reads a password
/// without echo (the terminal in rtmig; a stub in tests).
pub fn load(
    sources: &[Source],
    ask: &mut dyn FnMut(&str) -> std::io::Result<String>,
) -> Result<Vault, SecretError> {
    let mut secrets = Vec::new();
    for source in sources {
        match source {
            Source::File { id, path } => secrets.push(Secret::new(id, read_file(id, path)?)),
            Source::Prompt { id, labelled } => {
                let prompt = if *labelled {
                    format!("Vault password ({id}): ")
                } else {
                    "Vault password: ".to_string()
                };
                let answer = ask(&prompt).map_err(SecretError::Prompt)?;
                let password = answer.trim();
                if password.is_empty() {
                    return Err(SecretError::EmptyPrompt);
                }
                secrets.push(Secret::new(id, password.as_bytes()));
            }
        }
    }
    Ok(Vault::new(secrets))
}

fn read_file(id: &str, path: &Path) -> Result<Vec<u8>, SecretError> {
    let meta = std::fs::metadata(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => SecretError::NotFound(path.to_path_buf()),
        _ => SecretError::Read {
            path: path.to_path_buf(),
            err,
        },
    })?;
    if meta.is_dir() {
        return Err(SecretError::IsDir(path.to_path_buf()));
    }
    let password = if meta.permissions().mode() & 0o111 != 0 {
        run_script(id, path)?
    } else {
        let bytes = std::fs::read(path).map_err(|err| SecretError::Read {
            path: path.to_path_buf(),
            err,
        })?;
        bytes.trim_ascii().to_vec()
    };
    if password.is_empty() {
        return Err(SecretError::Empty(path.to_path_buf()));
    }
    Ok(password)
}

/// Ansible's `ScriptVaultSecret` (and `ClientScriptVaultSecret` for `*-client`
/// scripts): standard error is left on the terminal, so a script can prompt.
fn run_script(id: &str, path: &Path) -> Result<Vec<u8>, SecretError> {
    let script_err = |detail: String| SecretError::Script {
        path: path.to_path_buf(),
        detail,
    };
    // A bare name would be looked up in PATH; the file meant is the one given.
    let program = if path.components().count() == 1 {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    };
    let mut command = Command::new(&program);
    let client = path
        .file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s.ends_with("-client"));
    if client {
        command.args(["--vault-id", id]);
    }
    let out = command
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            script_err(format!(
                "cannot be run ({e}); if it is not a script, remove its executable bit"
            ))
        })?;
    match out.status.code() {
        Some(0) => {}
        Some(2) if client => {
            return Err(script_err(format!("found no secret for vault id `{id}`")));
        }
        Some(code) => return Err(script_err(format!("exited with code {code}"))),
        None => return Err(script_err("was killed by a signal".into())),
    }
    let mut password = out.stdout;
    while matches!(password.last(), Some(b'\n' | b'\r')) {
        password.pop();
    }
    while matches!(password.first(), Some(b'\n' | b'\r')) {
        password.remove(0);
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_prompt(_: &str) -> std::io::Result<String> {
        panic!("no prompt expected")
    }

    #[test]
    fn vault_ids_come_first_then_files_then_the_prompt_as_ansible_orders_them() {
        let got = sources(
            &["prod@p.txt".into(), "dev@prompt".into(), "plain.txt".into()],
            &[PathBuf::from("f.txt")],
            Some(PathBuf::from("env.txt")),
            true,
        );
        let file = |id: &str, p: &str| Source::File {
            id: id.into(),
            path: p.into(),
        };
        assert_eq!(
            got,
            [
                file("prod", "p.txt"),
                Source::Prompt {
                    id: "dev".into(),
                    labelled: true
                },
                file("default", "plain.txt"),
                file("default", "f.txt"),
                file("default", "env.txt"),
                Source::Prompt {
                    id: "default".into(),
                    labelled: false
                },
            ]
        );
    }

    /// tests/fixtures/vault: committed scripts, not ones written by the test (running a
    /// file just written can fail with "text file busy" while other tests fork).
    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/vault")
            .join(name)
    }

    #[test]
    fn a_password_file_is_trimmed_and_a_script_is_run() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("pass");
        std::fs::write(&file, "  s3cret-file \n\n").unwrap();
        let vault = load(
            &[
                Source::File {
                    id: "default".into(),
                    path: file,
                },
                Source::File {
                    id: "s".into(),
                    path: fixture("default-pass.sh"),
                },
                Source::File {
                    id: "prod".into(),
                    path: fixture("vault-client.sh"),
                },
            ],
            &mut no_prompt,
        )
        .unwrap();
        let got: Vec<(&str, &[u8])> = vault
            .secrets
            .iter()
            .map(|s| (s.id.as_str(), s.password.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                ("default", &b"s3cret-file"[..]),
                ("s", &b"fake-default-vault-password-for-tests"[..]),
                ("prod", &b"fake-prod-vault-password-for-tests"[..])
            ]
        );
        let err = load(
            &[Source::File {
                id: "dev".into(),
                path: fixture("vault-client.sh"),
            }],
            &mut no_prompt,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("found no secret for vault id `dev`"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_or_empty_password_file_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        let err = load(
            &sources(&[], std::slice::from_ref(&missing), None, false),
            &mut no_prompt,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("vault password file `{}` not found", missing.display())
        );
        let empty = tmp.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let err = load(&sources(&[], &[empty], None, false), &mut no_prompt).unwrap_err();
        assert!(err.to_string().starts_with("empty vault password"), "{err}");
    }

    #[test]
    fn the_prompt_names_the_vault_id_it_asks_for() {
        let mut asked = Vec::new();
        let vault = load(
            &sources(&["prod@prompt".into()], &[], None, true),
            &mut |p: &str| {
                asked.push(p.to_string());
                Ok("typed\n".to_string())
            },
        )
        .unwrap();
        assert_eq!(asked, ["Vault password (prod): ", "Vault password: "]);
        assert_eq!(vault.secrets[1].password, b"typed");
    }
}

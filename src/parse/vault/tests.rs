//! The decryptor against payloads that ansible-vault itself wrote (ansible-core 2.19,
//! tests/fixtures/vault/README.md says how): whole files in both formats, and
//! `encrypt_string` values taken out of their YAML.

use super::*;

const DEFAULT_PASS: &str = include_str!("../../../tests/fixtures/vault/default.pass");
const PROD_PASS: &str = include_str!("../../../tests/fixtures/vault/prod.pass");
/// `ansible-vault encrypt --vault-password-file default.pass` (format 1.1).
const FILE_1_1: &str = include_str!("../../../tests/fixtures/vault/vars-1.1.yml");
/// `ansible-vault encrypt --vault-id prod@prod.pass` (format 1.2, id `prod`).
const FILE_1_2: &str = include_str!("../../../tests/fixtures/vault/inventory/group_vars/all.yml");
/// `encrypt_string --vault-id prod@prod.pass` inside a host_vars file.
const HOST_VARS: &str =
    include_str!("../../../tests/fixtures/vault/inventory/host_vars/localhost.yml");

fn default_secret() -> Secret {
    Secret::new("default", DEFAULT_PASS.trim())
}

fn prod_secret() -> Secret {
    Secret::new("prod", PROD_PASS.trim())
}

/// The block of a `!vault |` value, indentation removed.
fn vault_value(yaml: &str, name: &str) -> String {
    let mut lines = yaml
        .lines()
        .skip_while(|l| !l.starts_with(&format!("{name}:")));
    lines.next().expect("the variable");
    lines
        .take_while(|l| l.starts_with(' '))
        .map(|l| format!("{}\n", l.trim()))
        .collect()
}

#[test]
fn a_1_1_file_decrypts_with_the_default_password() {
    let vault = Vault::new(vec![default_secret()]);
    assert_eq!(
        vault.decrypt(FILE_1_1, "file").unwrap(),
        b"whole_file_secret: file-plaintext-1-1\n"
    );
}

#[test]
fn a_1_2_file_decrypts_with_its_vault_id_given_after_another() {
    let vault = Vault::new(vec![default_secret(), prod_secret()]);
    assert_eq!(
        String::from_utf8(vault.decrypt(FILE_1_2, "file").unwrap()).unwrap(),
        "group_secret: group-plaintext-1-2-prod\ngroup_list: [one, two]\n"
    );
}

#[test]
fn the_vault_id_is_a_hint_another_labelled_secret_still_decrypts() {
    // Ansible tries every secret: the id in a 1.2 header is not signed.
    let vault = Vault::new(vec![Secret::new("staging", PROD_PASS.trim())]);
    assert!(vault.decrypt(FILE_1_2, "file").is_ok());
}

#[test]
fn an_encrypt_string_value_decrypts_and_is_remembered_as_revealed() {
    let vault = Vault::new(vec![prod_secret()]);
    let payload = vault_value(HOST_VARS, "host_secret");
    assert!(
        payload.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"),
        "{payload}"
    );
    assert_eq!(
        vault.decrypt_text(&payload, "value").unwrap(),
        "host-plaintext-1-2-prod"
    );
    assert_eq!(vault.revealed(), ["host-plaintext-1-2-prod"]);
}

#[test]
fn a_wrong_password_names_the_vault_ids_tried() {
    let vault = Vault::new(vec![
        Secret::new("default", "not-it"),
        Secret::new("prod", "nor-this"),
    ]);
    let err = vault.decrypt(FILE_1_2, "file").unwrap_err();
    assert_eq!(
        err.to_string(),
        "decryption failed: no vault secret (vault ids tried: prod, default) could decrypt it"
    );
    assert!(vault.revealed().is_empty());
}

#[test]
fn no_password_says_how_to_give_one() {
    let err = Vault::default().decrypt(FILE_1_1, "value").unwrap_err();
    assert_eq!(
        err.to_string(),
        "vault-encrypted value and no vault password given (use --vault-password-file or --ask-vault-pass)"
    );
}

#[test]
fn a_tampered_ciphertext_fails_the_hmac_check() {
    // Flip one hex digit of the last line: the HMAC no longer matches, so no secret
    // decrypts it (AES-CTR would otherwise happily return garbage).
    let mut lines: Vec<String> = FILE_1_1.lines().map(String::from).collect();
    let last = lines.last_mut().unwrap();
    let flipped = if last.ends_with('0') { '1' } else { '0' };
    last.pop();
    last.push(flipped);
    let tampered = lines.join("\n");
    let err = Vault::new(vec![default_secret()])
        .decrypt(&tampered, "file")
        .unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::WrongPassword { .. } | VaultError::Format(_)
        ),
        "{err:?}"
    );
}

#[test]
fn malformed_payloads_say_what_is_wrong() {
    let vault = Vault::new(vec![default_secret()]);
    let cases = [
        ("$ANSIBLE_VAULT;1.1\n6162\n", "expected a header such as"),
        (
            "$ANSIBLE_VAULT;2.0;AES256\n6162\n",
            "unsupported format version `2.0`",
        ),
        (
            "$ANSIBLE_VAULT;1.1;AES256\n",
            "no encrypted data after the header",
        ),
        (
            "$ANSIBLE_VAULT;1.1;AES256\nzz\n",
            "the payload is not hexadecimal",
        ),
        (
            "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
            "expected salt, HMAC and ciphertext",
        ),
    ];
    for (payload, wanted) in cases {
        let err = vault.decrypt(payload, "value").unwrap_err();
        assert!(
            matches!(err, VaultError::Format(_)) && err.to_string().contains(wanted),
            "{payload:?}: {err}"
        );
    }
    let err = vault
        .decrypt("$ANSIBLE_VAULT;1.1;AES128\n6162\n", "value")
        .unwrap_err();
    assert_eq!(err, VaultError::Cipher("AES128".into()));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let vault = Vault::new(vec![prod_secret()]);
    let shown = format!("{vault:?}");
    assert!(!shown.contains(PROD_PASS.trim()), "{shown}");
}

#[test]
fn a_1_1_payload_tries_the_default_id_first() {
    let vault = Vault::new(vec![
        Secret::new("prod", "not-it"),
        Secret::new("default", "nor-this"),
    ]);
    let err = vault.decrypt(FILE_1_1, "file").unwrap_err();
    assert_eq!(
        err,
        VaultError::WrongPassword {
            tried: vec!["default".into(), "prod".into()]
        }
    );
}

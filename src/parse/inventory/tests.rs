//! Inventory tests that need several modules at once: loading files, precedence,
//! patterns, and the exact place of every kind of invalid input.

use std::path::Path;

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn load_err(name: &str, text: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), name, text);
    let err = Inventory::load(&path).unwrap_err().to_string();
    err.replace(&format!("{}/", tmp.path().display()), "")
}

#[test]
fn yaml_unknown_group_key_names_file_line_column() {
    let err = load_err(
        "inv.yaml",
        "all:\n  children:\n    masters:\n      hots:\n        m1:\n",
    );
    assert_eq!(
        err,
        "inv.yaml:4:7: unknown key `hots` in group `masters`, expected one of `hosts`, `vars`, `children`"
    );
}

#[test]
fn yaml_group_that_is_a_list() {
    let err = load_err("inv.yaml", "all:\n  children:\n    masters:\n      - m1\n");
    assert_eq!(
        err,
        "inv.yaml:4:7: group `masters` must be a mapping with `hosts`, `vars` or `children`, found a list"
    );
}

#[test]
fn yaml_hosts_that_is_a_list() {
    let err = load_err("inv.yml", "masters:\n  hosts:\n    - m1\n    - m2\n");
    assert_eq!(
        err,
        "inv.yml:3:5: `hosts` of group `masters` must be a mapping, found a list"
    );
}

#[test]
fn yaml_host_vars_that_are_a_string() {
    let err = load_err("inv.yml", "masters:\n  hosts:\n    m1: 10.0.0.1\n");
    assert_eq!(
        err,
        "inv.yml:3:9: variables of host `m1` must be a mapping, found a string"
    );
}

#[test]
fn yaml_host_that_is_a_number() {
    let err = load_err("inv.yml", "masters:\n  hosts:\n    192.168:\n");
    assert_eq!(
        err,
        "inv.yml:3:5: host `192.168` in group `masters` must be a string; enclose numbers in quotes"
    );
}

#[test]
fn yaml_bad_host_range() {
    let err = load_err("inv.yml", "workers:\n  hosts:\n    node[01:100]:\n");
    assert_eq!(
        err,
        "inv.yml:3:5: host range `[01:100]` must have begin and end of equal length"
    );
}

#[test]
fn yaml_group_name_that_is_not_a_string() {
    let err = load_err("inv.yml", "all:\n  children:\n    1:\n      hosts: {a: }\n");
    assert_eq!(err, "inv.yml:3:5: group name `1` must be a string");
}

#[test]
fn yaml_duplicate_key_is_rejected_with_its_place() {
    let err = load_err("inv.yml", "all:\n  hosts:\n    m1:\n    m2:\n    m1:\n");
    assert_eq!(
        err,
        "inv.yml:5:5: duplicate key `m1` (first defined at line 3)"
    );
}

#[test]
fn yaml_syntax_error_has_its_place() {
    let err = load_err("inv.yml", "all:\n  hosts:\n    m1: {a: 1\n  vars:\n");
    assert!(err.starts_with("inv.yml:4:"), "{err}");
}

#[test]
fn yaml_file_that_is_not_a_mapping() {
    let err = load_err("inv.yaml", "- m1\n- m2\n");
    assert_eq!(
        err,
        "inv.yaml:1:1: expected a mapping of groups (such as `all:`), found a list"
    );
}

#[test]
fn yaml_plugin_configuration_is_refused() {
    let err = load_err(
        "aws_ec2.yml",
        "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n",
    );
    assert_eq!(
        err,
        "aws_ec2.yml:1:1: inventory plugin configurations (`plugin:`) are not supported; use a YAML or INI inventory"
    );
}

#[test]
fn yaml_children_loop_is_refused() {
    let err = load_err(
        "inv.yml",
        "a:\n  children:\n    b:\n      children:\n        a:\n",
    );
    assert_eq!(
        err,
        "inv.yml:3:5: adding group `b` as a child of `a` creates a dependency loop"
    );
}

#[test]
fn yaml_group_priority_that_is_not_a_number() {
    let err = load_err("inv.yml", "a:\n  vars:\n    ansible_group_priority: high\n");
    assert_eq!(
        err,
        "inv.yml:3:29: `ansible_group_priority` must be an integer, found `\"high\"`"
    );
}

/// The fixtures ansible-vault encrypted (tests/fixtures/vault/README.md).
fn vault_fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/vault")
        .join(rel)
}

fn fixture_secret(id: &str, file: &str) -> vault::Secret {
    let password = std::fs::read_to_string(vault_fixture(file)).unwrap();
    vault::Secret::new(id, password.trim())
}

fn fixture_decryption(secrets: Vec<vault::Secret>) -> Decryption {
    Decryption::new(std::sync::Arc::new(vault::Vault::new(secrets)))
}

#[test]
fn yaml_vault_value_without_a_password_is_located_and_says_how_to_give_one() {
    let hosts = std::fs::read_to_string(vault_fixture("inventory/hosts.yml")).unwrap();
    let err = load_err("inv.yml", &hosts);
    assert_eq!(
        err,
        "inv.yml:7:17: vault-encrypted value and no vault password given (use --vault-password-file or --ask-vault-pass)"
    );
}

#[test]
fn malformed_vault_value_is_located_at_its_tag() {
    let err = load_err(
        "inv.yml",
        "all:\n  vars:\n    pw: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162\n",
    );
    assert_eq!(
        err,
        "inv.yml:3:9: malformed vault data: expected salt, HMAC and ciphertext in the payload"
    );
}

#[test]
fn vault_values_and_files_decrypt_with_both_vault_ids_and_are_remembered_as_secrets() {
    let decryption = fixture_decryption(vec![
        fixture_secret("default", "default.pass"),
        fixture_secret("prod", "prod.pass"),
    ]);
    let inv = Inventory::load_with(&vault_fixture("inventory/hosts.yml"), &decryption).unwrap();
    let vars = inv.host_vars("localhost");
    assert_eq!(vars["inv_secret"], "inventory-plaintext-1-1");
    assert_eq!(vars["host_secret"], "host-plaintext-1-2-prod");
    assert_eq!(vars["group_secret"], "group-plaintext-1-2-prod");
    assert_eq!(vars["plain_var"], "visible");
    let mut revealed = decryption.vault.revealed();
    revealed.sort();
    // Every string of an encrypted file is a secret; plain values are not.
    assert_eq!(
        revealed,
        [
            "group-plaintext-1-2-prod",
            "host-plaintext-1-2-prod",
            "inventory-plaintext-1-1",
            "one",
            "two"
        ]
    );
}

#[test]
fn list_keeps_vault_values_encrypted_as_ansible_inventory_prints_them() {
    // ansible-inventory --list prints `{"__ansible_vault": PAYLOAD}` for a `!vault`
    // value, and needs the password only for the encrypted group_vars file.
    let mut decryption = fixture_decryption(vec![fixture_secret("prod", "prod.pass")]);
    decryption.keep_values = true;
    let inv = Inventory::load_with(&vault_fixture("inventory/hosts.yml"), &decryption).unwrap();
    let expected = std::fs::read_to_string(vault_fixture("expected-list.json")).unwrap();
    assert_eq!(format!("{}\n", python_json(&inv.to_list_json())), expected);
}

#[test]
fn a_wrong_vault_password_names_the_file_and_the_ids_tried() {
    let decryption = fixture_decryption(vec![fixture_secret("dev", "default.pass")]);
    let err = Inventory::load_with(&vault_fixture("inventory/hosts.yml"), &decryption)
        .unwrap_err()
        .to_string();
    let at = |rel: &str| vault_fixture(rel).display().to_string();
    assert_eq!(
        err,
        format!(
            "{}:1:1: decryption failed: no vault secret (vault ids tried: dev) could decrypt it\n\
             {}:2:14: decryption failed: no vault secret (vault ids tried: dev) could decrypt it",
            at("inventory/group_vars/all.yml"),
            at("inventory/host_vars/localhost.yml")
        )
    );
}

#[test]
fn broken_yaml_without_extension_reports_the_yaml_problem() {
    let err = load_err("hosts", "all:\n  hosts:\n    a1: {x: [1, 2}\n");
    assert!(err.starts_with("hosts:3:"), "{err}");
    assert!(!err.contains("reserved for a port"), "{err}");
}

#[test]
fn ini_without_extension_is_read_as_ini() {
    let (_t, inv) = load("hosts", "node1 ansible_host=1.2.3.4\n[web]\nw1\n");
    assert_eq!(inv.host_names(), ["node1", "w1"]);
}

#[test]
fn toml_inventory_is_refused() {
    assert_eq!(
        load_err("inv.toml", "[all]\n"),
        "inv.toml: TOML inventories are not supported; use YAML or INI"
    );
}

#[test]
fn missing_inventory_names_the_file() {
    let err = Inventory::load(Path::new("/nonexistent/inv.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("/nonexistent/inv.yaml: cannot read inventory: "),
        "{err}"
    );
}

#[test]
fn ini_vars_line_without_equals() {
    let err = load_err("hosts.ini", "[web]\nw1\n[web:vars]\nntp_server\n");
    assert_eq!(
        err,
        "hosts.ini:4:1: expected `key=value`, found `ntp_server`"
    );
}

#[test]
fn ini_section_with_spaces() {
    let err = load_err("hosts.ini", "[web servers]\nw1\n");
    assert_eq!(
        err,
        "hosts.ini:1:1: invalid section `[web servers]`: a section is `[group]`, `[group:vars]` or `[group:children]` without spaces"
    );
}

#[test]
fn ini_section_of_unknown_type() {
    let err = load_err("hosts.ini", "[web]\nw1\n  [web:var]\nx=1\n");
    assert_eq!(
        err,
        "hosts.ini:3:3: section `[web:var]` has unknown type `var`, expected `children` or `vars`"
    );
}

#[test]
fn ini_undefined_child_group_names_the_child_line() {
    let err = load_err(
        "hosts.ini",
        "[k8s:children]\nmasters\nwrkers\n[masters]\nm1\n[workers]\nw1\n",
    );
    assert_eq!(
        err,
        "hosts.ini:3:1: section `[k8s:children]` includes undefined group `wrkers`"
    );
}

#[test]
fn ini_vars_for_an_undefined_group() {
    let err = load_err("hosts.ini", "[masters]\nm1\n[mastrs:vars]\na=1\n");
    assert_eq!(
        err,
        "hosts.ini:3:1: section `[mastrs:vars]` is for group `mastrs`, which is not defined"
    );
}

#[test]
fn ini_host_variable_without_equals_points_at_it() {
    let err = load_err("hosts.ini", "[web]\nw1 ansible_host=10.0.0.1 oops\n");
    assert_eq!(
        err,
        "hosts.ini:2:26: expected `key=value` host variable, found `oops`"
    );
}

#[test]
fn ini_unclosed_quote() {
    let err = load_err("hosts.ini", "[web]\n\nw1 motd='hello\n");
    assert_eq!(
        err,
        "hosts.ini:3:1: cannot split host line: no closing quotation"
    );
}

#[test]
fn ini_bad_range() {
    let err = load_err("hosts.ini", "[web]\nweb[3:1:0]\n");
    assert_eq!(
        err,
        "hosts.ini:2:1: host range `[3:1:0]` has an invalid step `0`"
    );
}

#[test]
fn ini_host_ending_in_colon() {
    let err = load_err("hosts.ini", "[web]\nw1:\n");
    assert_eq!(
        err,
        "hosts.ini:2:1: host `w1:` ends in `:`, which is reserved for a port number"
    );
}

#[test]
fn ini_children_line_that_is_not_a_group_name() {
    let err = load_err("hosts.ini", "[a]\nx\n[k:children]\na b\n");
    assert_eq!(err, "hosts.ini:4:1: expected a group name, found `a b`");
}

#[test]
fn ini_children_loop() {
    let err = load_err("hosts.ini", "[a:children]\nb\n[b:children]\na\n");
    assert_eq!(
        err,
        "hosts.ini:4:1: adding group `a` as a child of `b` creates a dependency loop"
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let err = load_err("hosts.ini", "[web]\nw1 oops\n[db:vars]\nnovalue\n");
    assert_eq!(
        err,
        "hosts.ini:2:4: expected `key=value` host variable, found `oops`\n\
         hosts.ini:4:1: expected `key=value`, found `novalue`\n\
         hosts.ini:3:1: section `[db:vars]` is for group `db`, which is not defined"
    );
}

#[test]
fn syntax_error_in_host_vars_file_names_that_file() {
    let tmp = tempfile::tempdir().unwrap();
    let inv = write(tmp.path(), "inv.ini", "[web]\nw1\n");
    write(tmp.path(), "host_vars/w1.yml", "a: 1\nb: [1,\n");
    let err = Inventory::load(&inv).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].file, tmp.path().join("host_vars/w1.yml"));
    assert!(
        err.0[0].position.is_some_and(|(line, _)| line >= 2),
        "{err}"
    );
}

#[test]
fn vault_vars_file_without_a_password_is_an_error_at_its_start() {
    let tmp = tempfile::tempdir().unwrap();
    let inv = write(tmp.path(), "inv.ini", "[web]\nw1\n");
    write(
        tmp.path(),
        "group_vars/web.yml",
        "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
    );
    let err = Inventory::load(&inv).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:1:1: malformed vault data: expected salt, HMAC and ciphertext in the payload",
            tmp.path().join("group_vars/web.yml").display()
        )
    );
    let encrypted = std::fs::read_to_string(vault_fixture("vars-1.1.yml")).unwrap();
    write(tmp.path(), "group_vars/web.yml", &encrypted);
    let err = Inventory::load(&inv).unwrap_err().to_string();
    assert!(
        err.ends_with(":1:1: vault-encrypted file and no vault password given (use --vault-password-file or --ask-vault-pass)"),
        "{err}"
    );
    let decryption = fixture_decryption(vec![fixture_secret("default", "default.pass")]);
    let inv = Inventory::load_with(&inv, &decryption).unwrap();
    assert_eq!(
        inv.host_vars("w1")["whole_file_secret"],
        "file-plaintext-1-1"
    );
}

fn load(name: &str, text: &str) -> (tempfile::TempDir, Inventory) {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), name, text);
    let inv = Inventory::load(&path).unwrap();
    (tmp, inv)
}

const CLUSTER: &str = "\
lonely ansible_host=10.0.0.9
[masters]
m[1:3]
[workers]
w[1:4]
[k8s:children]
masters
workers
";

#[test]
fn select_refuses_names_that_match_nothing() {
    let (_t, inv) = load("hosts", CLUSTER);
    assert_eq!(inv.select("workers:!w2").unwrap(), ["w1", "w3", "w4"]);
    assert_eq!(
        inv.select("masters,wrkers,nodes").unwrap_err().to_string(),
        "no host or group in the inventory matches `wrkers`, `nodes`"
    );
    assert_eq!(inv.select("").unwrap_err(), PatternError::Empty);
}

#[test]
fn select_limited_skips_unknown_play_names_but_not_limit_names() {
    let (_t, inv) = load("hosts", CLUSTER);
    // A play on an optional group (Kubespray's calico_rr) still runs on the rest.
    assert_eq!(
        inv.select_limited("masters:calico_rr", None).unwrap(),
        ["m1", "m2", "m3"]
    );
    assert_eq!(inv.unmatched_names("masters:calico_rr"), ["calico_rr"]);
    assert_eq!(
        inv.select_limited("k8s", Some("w*:!w1")).unwrap(),
        ["w2", "w3", "w4"]
    );
    assert_eq!(
        inv.select_limited("k8s", Some("w9"))
            .unwrap_err()
            .to_string(),
        "no host or group in the inventory matches `w9`"
    );
    // The limit selects hosts, none of them in this play: the play has no hosts.
    assert_eq!(
        inv.select_limited("masters", Some("lonely")).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        inv.select_limited("masters", Some("k8s:&lonely"))
            .unwrap_err()
            .to_string(),
        "the limit `k8s:&lonely` leaves no hosts to target"
    );
}

#[test]
fn limit_file_is_read_as_a_retry_file() {
    let (tmp, inv) = load("hosts", CLUSTER);
    let retry = write(tmp.path(), "site.retry", "w3\n\nm1\n");
    let limit = format!("@{}", retry.display());
    assert_eq!(
        inv.select_limited("all", Some(&limit)).unwrap(),
        ["m1", "w3"]
    );
    let missing = inv
        .select("@/nonexistent/site.retry")
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("cannot read limit file `/nonexistent/site.retry`: "),
        "{missing}"
    );
}

#[test]
fn host_names_put_ungrouped_hosts_first_as_ansible_does() {
    let (_t, inv) = load("hosts", CLUSTER);
    assert_eq!(
        inv.host_names(),
        ["lonely", "m1", "m2", "m3", "w1", "w2", "w3", "w4"]
    );
    assert!(inv.contains_host("w4"));
    assert!(!inv.contains_host("w5"));
}

#[test]
fn group_names_and_groups_as_ansible_magic_vars() {
    let (_t, inv) = load("hosts", CLUSTER);
    assert_eq!(inv.group_names("m2"), ["k8s", "masters"]);
    // Ansible lists `ungrouped` for a host in no group.
    assert_eq!(inv.group_names("lonely"), ["ungrouped"]);
    let groups = inv.groups();
    assert_eq!(
        groups.keys().collect::<Vec<_>>(),
        ["all", "ungrouped", "masters", "workers", "k8s"]
    );
    assert_eq!(groups["k8s"], ["m1", "m2", "m3", "w1", "w2", "w3", "w4"]);
    assert_eq!(groups["ungrouped"], ["lonely"]);
}

#[test]
fn implicit_localhost_gets_all_vars_and_a_local_connection() {
    let (_t, inv) = load("inv.yml", "all:\n  vars: {site: fra1}\n  hosts: {n1: }\n");
    assert_eq!(inv.select("localhost").unwrap(), ["localhost"]);
    assert!(!inv.contains_host("localhost"));
    let vars = inv.host_vars("localhost");
    assert_eq!(vars["site"], "fra1");
    assert_eq!(
        inv.connection("localhost").connection.as_deref(),
        Some("local")
    );
    assert!(inv.host_vars("nowhere").is_empty());
}

#[test]
fn connection_reads_merged_vars_and_proxy_jump() {
    let (_t, inv) = load(
        "inv.yml",
        "all:\n  vars:\n    ansible_user: core\n    ansible_ssh_common_args: -o ProxyJump=core@bastion:2222\n  \
         hosts:\n    n1:\n      ansible_host: 172.31.0.11\n      ansible_port: 2200\n      ansible_become: yes\n",
    );
    let c = inv.connection("n1");
    assert_eq!(c.host.as_deref(), Some("172.31.0.11"));
    assert_eq!(c.port, Some(2200));
    assert_eq!(c.user.as_deref(), Some("core"));
    assert_eq!(c.become_, Some(true));
    assert_eq!(c.proxy_jump.as_deref(), Some("core@bastion:2222"));
}

#[test]
fn ini_values_are_typed_as_ansible_types_them() {
    let (_t, inv) = load(
        "hosts.ini",
        "[web]\nw1 a=1 b=True c='x y' d=0755 e=\"[1,2]\" f=yes\n[web:vars]\ng=2.5\nh=\"quoted\"\ni=plain text # kept\n",
    );
    let v = serde_json::Value::Object(inv.host_vars("w1"));
    assert_eq!(
        v,
        serde_json::json!({"g": 2.5, "h": "quoted", "i": "plain text # kept", "a": 1, "b": true,
                           "c": "x y", "d": "0755", "e": [1, 2], "f": "yes"})
    );
}

#[test]
fn host_vars_dir_beats_inline_host_vars_and_group_vars_all_beats_inline_child_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let inv = write(
        tmp.path(),
        "inv.yml",
        "all:\n  vars: {a: all}\n  children:\n    g:\n      vars: {a: g, b: g}\n      hosts:\n        h: {b: host, c: host}\n",
    );
    write(tmp.path(), "group_vars/all.yml", "a: all-dir\nb: all-dir\n");
    write(tmp.path(), "host_vars/h.yml", "c: host-dir\n");
    let inv = Inventory::load(&inv).unwrap();
    assert_eq!(
        serde_json::Value::Object(inv.host_vars("h")),
        serde_json::json!({"a": "all-dir", "b": "host", "c": "host-dir"})
    );
}

/// Guards the load path against quadratic work: a 3000-host fleet with ranges, groups
/// and a host_vars folder loads and answers per-host queries.
#[test]
fn large_fleet_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::from("[masters]\nm[1:3]\n");
    for rack in 0..30 {
        text.push_str(&format!("[rack{rack}]\nn{rack:02}-[001:100] rack={rack}\n"));
    }
    text.push_str("[workers:children]\n");
    for rack in 0..30 {
        text.push_str(&format!("rack{rack}\n"));
    }
    let inv = write(tmp.path(), "hosts.ini", &text);
    write(tmp.path(), "host_vars/n07-050.yml", "special: true\n");
    let inv = Inventory::load(&inv).unwrap();
    assert_eq!(inv.host_names().len(), 3003);
    assert_eq!(inv.select("workers").unwrap().len(), 3000);
    assert_eq!(inv.host_vars("n07-050")["special"], true);
    assert_eq!(inv.host_vars("n29-100")["rack"], 29);
}

#[test]
fn inventory_dir_is_the_absolute_folder_of_the_source() {
    let (tmp, inv) = load("inv.yml", "all:\n  hosts: {a: }\n");
    assert_eq!(inv.inventory_file(), tmp.path().join("inv.yml"));
    assert_eq!(inv.inventory_dir(), tmp.path());
}

//! The connection variables rtmig reads (`ansible_port`, `ansible_connection`,
//! `ansible_become`, `ansible_become_method`), checked where they are written
//! (inventory files, `group_vars/`, `host_vars/`, play and task `vars:`) so that a wrong
//! value is an error at its file:line:column before any host is touched, not a silent
//! fallback (`ansible_port: twenty-two` once meant port 22). A value holding `{{ }}` or
//! `{% %}` is rendered at run time and is not checked here. In a play's or task's
//! `vars:` rtmig would ignore connection variables (it connects from the inventory),
//! so there they are refused with where to set them ([`play_var`]). A leaf: uses
//! only [`crate::words`].

use serde_json::Value;

/// The names checked, for callers that list them.
pub const CHECKED: [&str; 5] = [
    "ansible_port",
    "ansible_ssh_port",
    "ansible_connection",
    "ansible_become",
    "ansible_become_method",
];

/// `ansible_connection` values rtmig can use, Ansible's aliases included: `ssh`
/// (`smart` and `paramiko` pick an SSH client in Ansible; rtmig has one) and `local`.
pub const CONNECTIONS: [&str; 9] = [
    "ssh",
    "smart",
    "paramiko",
    "paramiko_ssh",
    "ansible.builtin.ssh",
    "ansible.legacy.ssh",
    "local",
    "ansible.builtin.local",
    "ansible.legacy.local",
];

/// `ansible_become_method` values rtmig can use: sudo only (see
/// the executor's `Become`).
pub const BECOME_METHODS: [&str; 3] = ["sudo", "ansible.builtin.sudo", "ansible.legacy.sudo"];

/// Connection variables rtmig reads from the inventory only: in a play's or task's
/// `vars:` Ansible would connect with them, rtmig would not, so there they are refused
/// (see [`play_var`]).
pub const INVENTORY_ONLY: [&str; 18] = [
    "ansible_host",
    "ansible_ssh_host",
    "ansible_port",
    "ansible_ssh_port",
    "ansible_user",
    "ansible_ssh_user",
    "ansible_connection",
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_private_key_file",
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_become",
    "ansible_become_user",
    "ansible_become_password",
    "ansible_become_pass",
];

/// Whether `name` may be set in a play's or task's `vars:`: a connection variable
/// there would be silently ignored (rtmig opens one connection per host, from the
/// inventory), so it is an error saying where to set it instead.
pub fn play_var(name: &str, value: &Value) -> Result<(), String> {
    if !INVENTORY_ONLY.contains(&name) {
        return check(name, value);
    }
    let instead = match name {
        "ansible_become" => "the play's or task's `become:` keyword, or the inventory",
        "ansible_become_user" => "the play's or task's `become_user:` keyword, or the inventory",
        _ => "the inventory, `group_vars/` or `host_vars/`",
    };
    Err(format!(
        "`{name}` in `vars:` would not change how rtmig connects (it reads connection variables from the inventory only): set it in {instead}"
    ))
}

fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A port number as Ansible's `int` option reads it: 1 to 65535, as a number or its
/// decimal text.
pub fn port(v: &Value) -> Option<u16> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }?;
    u16::try_from(n).ok().filter(|p| *p > 0)
}

/// Whether `name = value` is a usable connection variable: `Ok` for names not checked
/// and for templated values; the message otherwise (without location: the caller has
/// it).
pub fn check(name: &str, value: &Value) -> Result<(), String> {
    if value.is_null() || value.as_str().is_some_and(is_template) {
        return Ok(());
    }
    match name {
        "ansible_port" | "ansible_ssh_port" => match port(value) {
            Some(_) => Ok(()),
            None => Err(format!(
                "`{name}` must be a port number from 1 to 65535, found `{}`",
                shown(value)
            )),
        },
        "ansible_connection" => match value.as_str() {
            Some(c) if CONNECTIONS.contains(&c) => Ok(()),
            _ => Err(format!(
                "`ansible_connection` `{}` is not supported: rtmig connects with `ssh` (or its aliases `smart`, `paramiko`) or `local`",
                shown(value)
            )),
        },
        "ansible_become_method" => match value.as_str() {
            Some(m) if BECOME_METHODS.contains(&m) => Ok(()),
            _ => Err(format!(
                "`ansible_become_method` `{}` is not supported: rtmig becomes through `sudo` only",
                shown(value)
            )),
        },
        "ansible_become" => {
            let ok = match value {
                Value::Bool(_) => true,
                Value::Number(n) => matches!(n.as_f64(), Some(f) if f == 0.0 || f == 1.0),
                Value::String(s) => crate::words::boolean(s).is_some(),
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "`ansible_become` must be a boolean (`true`/`false`, `yes`/`no`), found `{}`",
                    shown(value)
                ))
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_are_numbers_from_1_to_65535() {
        assert!(check("ansible_port", &json!(22)).is_ok());
        assert!(check("ansible_port", &json!("2222")).is_ok());
        assert!(check("ansible_ssh_port", &json!(65535)).is_ok());
        assert_eq!(
            check("ansible_port", &json!("twenty-two")).unwrap_err(),
            "`ansible_port` must be a port number from 1 to 65535, found `twenty-two`"
        );
        assert!(check("ansible_port", &json!(70000)).is_err());
        assert!(check("ansible_port", &json!(0)).is_err());
        assert!(check("ansible_port", &json!(-1)).is_err());
        assert!(check("ansible_port", &json!(22.5)).is_err());
    }

    #[test]
    fn connection_become_method_and_become_are_checked() {
        assert!(check("ansible_connection", &json!("paramiko")).is_ok());
        assert!(check("ansible_connection", &json!("ansible.builtin.local")).is_ok());
        let e = check("ansible_connection", &json!("docker")).unwrap_err();
        assert!(e.contains("`docker` is not supported"), "{e}");
        assert!(check("ansible_become_method", &json!("sudo")).is_ok());
        assert!(check("ansible_become_method", &json!("su")).is_err());
        assert!(check("ansible_become", &json!("yes")).is_ok());
        assert!(check("ansible_become", &json!(1)).is_ok());
        assert!(check("ansible_become", &json!(false)).is_ok());
        assert!(check("ansible_become", &json!("maybe")).is_err());
        assert!(check("ansible_become", &json!([true])).is_err());
    }

    #[test]
    fn connection_variables_in_play_vars_are_refused_with_where_to_set_them() {
        let e = play_var("ansible_port", &json!(2222)).unwrap_err();
        assert!(e.contains("set it in the inventory"), "{e}");
        let e = play_var("ansible_become", &json!(true)).unwrap_err();
        assert!(e.contains("`become:` keyword"), "{e}");
        assert!(play_var("ansible_become_method", &json!("sudo")).is_ok());
        assert!(play_var("ansible_become_method", &json!("su")).is_err());
        assert!(play_var("ansible_python_interpreter", &json!("/usr/bin/python3")).is_ok());
        assert!(play_var("registry", &json!("x")).is_ok());
    }

    #[test]
    fn templated_unset_and_other_values_are_left_alone() {
        assert!(check("ansible_port", &json!("{{ base + 1 }}")).is_ok());
        assert!(check("ansible_connection", &json!("{% if x %}ssh{% endif %}")).is_ok());
        assert!(check("ansible_port", &Value::Null).is_ok());
        assert!(check("ansible_user", &json!(42)).is_ok());
    }
}

//! A typed view of the connection variables of one host, read from its merged
//! variables the way Ansible's ssh connection and sudo become plugins read them (when
//! two spellings are set, the later one in Ansible's list wins: `ansible_ssh_user` over
//! `ansible_user`, `ansible_ssh_pass` over `ansible_password`). `-J`, `-o ProxyJump=` and
//! `-o ProxyCommand="ssh -W %h:%p ... bastion"` in `ansible_ssh_common_args` /
//! `ansible_ssh_extra_args` become `proxy_jump`. Values holding `{{ }}` are kept as text:
//! a caller that renders the host's variables first can call
//! [`ConnectionVars::from_vars`] on the result.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::shell_words;

/// The connection settings of one host. `None` means "not set in the inventory": the
/// caller applies its default (the inventory name, ssh's port, ~/.ssh/config, the
/// play's `become`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectionVars {
    /// `ansible_host` (or `ansible_ssh_host`): the address to connect to.
    pub host: Option<String>,
    /// `ansible_port` / `ansible_ssh_port`.
    pub port: Option<u16>,
    /// `ansible_user` / `ansible_ssh_user`.
    pub user: Option<String>,
    /// `ansible_ssh_private_key_file` / `ansible_private_key_file`.
    pub private_key_file: Option<PathBuf>,
    /// `ansible_password` / `ansible_ssh_pass` / `ansible_ssh_password`.
    pub password: Option<String>,
    /// `ansible_become` as Ansible's `boolean()` reads it.
    pub become_: Option<bool>,
    /// `ansible_become_user`.
    pub become_user: Option<String>,
    /// `ansible_become_password` / `ansible_become_pass` / `ansible_sudo_pass`.
    pub become_password: Option<String>,
    /// Bastion(s) in ProxyJump syntax, `[user@]host[:port]`, comma-separated for a chain:
    /// from `-J`, `-o ProxyJump=` or `-o ProxyCommand="ssh -W %h:%p ... host"` in
    /// `ansible_ssh_common_args` / `ansible_ssh_extra_args`.
    pub proxy_jump: Option<String>,
    /// `ansible_connection`, with Ansible's aliases folded: `local`
    /// (`ansible.builtin.local`), `ssh` (`smart`, `paramiko`, `ansible.builtin.ssh`), or
    /// any other plugin name as written (which rtmig cannot use).
    pub connection: Option<String>,
    /// `ansible_ssh_common_args`, as written.
    pub ssh_common_args: Option<String>,
    /// `ansible_ssh_extra_args`, as written.
    pub ssh_extra_args: Option<String>,
    /// Every `-o Key=Value` found in the two argument strings, in order.
    pub ssh_options: Vec<(String, String)>,
    /// A ProxyCommand that is not a plain `ssh -W %h:%p` jump (rtmig cannot run it).
    pub proxy_command: Option<String>,
    /// Values that could not be read (a port that is not a number, an unsupported
    /// connection or become method, arguments that do not split): the connection
    /// refuses to open (`validate` reports the literal ones at their place first).
    pub problems: Vec<String>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// The last of `names` that is set (Ansible's config resolution order).
fn last_set(vars: &Map<String, Value>, names: &[&str]) -> Option<Value> {
    names
        .iter()
        .rev()
        .find_map(|n| vars.get(*n).filter(|v| !v.is_null()).cloned())
}

/// Ansible's `boolean()`: yes/on/1/true/t/y (any case) and 1 are true.
pub fn ansible_bool(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() == Some(1.0),
        Value::String(s) => crate::words::boolean(s) == Some(true),
        _ => false,
    }
}

impl ConnectionVars {
    /// Read the connection settings of a host from its merged variables.
    pub fn from_vars(vars: &Map<String, Value>) -> ConnectionVars {
        let mut c = ConnectionVars {
            host: last_set(vars, &["ansible_host", "ansible_ssh_host"]).and_then(|v| text(&v)),
            ..ConnectionVars::default()
        };
        c.connection = last_set(vars, &["ansible_connection"])
            .and_then(|v| text(&v))
            .map(|name| match name.as_str() {
                "ssh"
                | "smart"
                | "paramiko"
                | "paramiko_ssh"
                | "ansible.builtin.ssh"
                | "ansible.legacy.ssh" => "ssh".to_string(),
                "local" | "ansible.builtin.local" | "ansible.legacy.local" => "local".to_string(),
                _ => name,
            });
        if let Some(p) = last_set(vars, &["ansible_port", "ansible_ssh_port"]) {
            match crate::parse::connection_vars::port(&p) {
                Some(port) => c.port = Some(port),
                None => c.problems.push(format!(
                    "`ansible_port` is not a port number: `{}`",
                    text(&p).unwrap_or_default()
                )),
            }
        }
        c.user = last_set(vars, &["ansible_user", "ansible_ssh_user"]).and_then(|v| text(&v));
        c.private_key_file = last_set(
            vars,
            &["ansible_private_key_file", "ansible_ssh_private_key_file"],
        )
        .and_then(|v| text(&v))
        .map(PathBuf::from);
        c.password = last_set(
            vars,
            &[
                "ansible_password",
                "ansible_ssh_pass",
                "ansible_ssh_password",
            ],
        )
        .and_then(|v| text(&v));
        c.become_ = last_set(vars, &["ansible_become"]).map(|v| ansible_bool(&v));
        for name in [
            "ansible_connection",
            "ansible_become",
            "ansible_become_method",
        ] {
            if let Some(v) = vars.get(name)
                && let Err(e) = crate::parse::connection_vars::check(name, v)
            {
                c.problems.push(e);
            }
        }
        c.become_user =
            last_set(vars, &["ansible_become_user", "ansible_sudo_user"]).and_then(|v| text(&v));
        c.become_password = last_set(
            vars,
            &[
                "ansible_become_password",
                "ansible_become_pass",
                "ansible_sudo_pass",
            ],
        )
        .and_then(|v| text(&v));
        c.ssh_common_args = last_set(vars, &["ansible_ssh_common_args"]).and_then(|v| text(&v));
        c.ssh_extra_args = last_set(vars, &["ansible_ssh_extra_args"]).and_then(|v| text(&v));
        for args in [c.ssh_common_args.clone(), c.ssh_extra_args.clone()]
            .into_iter()
            .flatten()
        {
            c.read_ssh_args(&args);
        }
        c
    }

    fn read_ssh_args(&mut self, args: &str) {
        let tokens = match shell_words::split(args) {
            Ok(t) => t,
            Err(e) => {
                self.problems
                    .push(format!("cannot split ssh arguments `{args}`: {e}"));
                return;
            }
        };
        let mut i = 0;
        while i < tokens.len() {
            let t = &tokens[i];
            let mut take_value = |flag: &str| -> Option<String> {
                if t.len() > flag.len() {
                    Some(t[flag.len()..].to_string())
                } else {
                    i += 1;
                    tokens.get(i).cloned()
                }
            };
            if t.starts_with("-J") {
                if let Some(v) = take_value("-J") {
                    self.set_jump(&v);
                }
            } else if t.starts_with("-o")
                && let Some(opt) = take_value("-o")
            {
                let (key, value) = match opt.split_once(['=', ' ', '\t']) {
                    Some((k, v)) => (
                        k.trim().to_string(),
                        v.trim().trim_start_matches('=').trim().to_string(),
                    ),
                    None => (opt.trim().to_string(), String::new()),
                };
                self.ssh_options.push((key.clone(), value.clone()));
                match key.to_ascii_lowercase().as_str() {
                    "proxyjump" => self.set_jump(&value),
                    "proxycommand" => self.set_proxy_command(&value),
                    _ => {}
                }
            }
            i += 1;
        }
    }

    fn set_jump(&mut self, value: &str) {
        if value.eq_ignore_ascii_case("none") || value.is_empty() {
            self.proxy_jump = None;
        } else {
            self.proxy_jump = Some(value.to_string());
        }
    }

    fn set_proxy_command(&mut self, command: &str) {
        if command.eq_ignore_ascii_case("none") {
            self.proxy_command = None;
            return;
        }
        match proxy_command_jump(command) {
            Some(jump) => self.proxy_jump = Some(jump),
            None => self.proxy_command = Some(command.to_string()),
        }
    }
}

/// `ssh [-q] [-p 2222] [-l user] [-i key] -W %h:%p [user@]bastion` -> `user@bastion:2222`.
fn proxy_command_jump(command: &str) -> Option<String> {
    let tokens = shell_words::split(command).ok()?;
    let (first, rest) = tokens.split_first()?;
    if first != "ssh" && !first.ends_with("/ssh") {
        return None;
    }
    let mut port = None;
    let mut user = None;
    let mut dest = None;
    let mut forwards_stdio = false;
    let mut i = 0;
    while i < rest.len() {
        let t = rest[i].as_str();
        let value_of = |i: &mut usize, flag: &str| -> Option<String> {
            if t.len() > flag.len() {
                Some(t[flag.len()..].to_string())
            } else {
                *i += 1;
                rest.get(*i).cloned()
            }
        };
        if t.starts_with("-W") {
            forwards_stdio = value_of(&mut i, "-W").is_some_and(|w| w == "%h:%p" || w == "[%h]:%p");
        } else if t.starts_with("-p") {
            port = value_of(&mut i, "-p");
        } else if t.starts_with("-l") {
            user = value_of(&mut i, "-l");
        } else if t.starts_with("-o")
            || t.starts_with("-i")
            || t.starts_with("-F")
            || t.starts_with("-J")
        {
            // options that take a value but do not change where the jump goes
            if t.len() == 2 {
                i += 1;
            }
        } else if t.starts_with('-') {
            // flags without a value (-q, -A, -T, -v, -4, -6, -C, -N)
        } else if dest.is_none() {
            dest = Some(t.to_string());
        } else {
            // a remote command: not a plain jump
            return None;
        }
        i += 1;
    }
    if !forwards_stdio {
        return None;
    }
    let dest = dest?;
    let mut jump = match (user, dest.contains('@')) {
        (Some(u), false) => format!("{u}@{dest}"),
        _ => dest,
    };
    if let Some(p) = port {
        jump = format!("{jump}:{p}");
    }
    Some(jump)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn(v: Value) -> ConnectionVars {
        ConnectionVars::from_vars(v.as_object().unwrap())
    }

    #[test]
    fn later_aliases_win_as_in_ansible() {
        let c = conn(
            json!({"ansible_user": "a", "ansible_ssh_user": "b", "ansible_password": "p1",
                            "ansible_ssh_pass": "p2", "ansible_port": "2222", "ansible_host": "10.0.0.1",
                            "ansible_become": "yes", "ansible_become_pass": "s3cret"}),
        );
        assert_eq!(c.user.as_deref(), Some("b"));
        assert_eq!(c.password.as_deref(), Some("p2"));
        assert_eq!(c.port, Some(2222));
        assert_eq!(c.host.as_deref(), Some("10.0.0.1"));
        assert_eq!(c.become_, Some(true));
        assert_eq!(c.become_password.as_deref(), Some("s3cret"));
        assert_eq!(c.connection, None);
    }

    #[test]
    fn unset_values_stay_unset() {
        let c = conn(json!({}));
        assert_eq!(c, ConnectionVars::default());
    }

    #[test]
    fn proxy_jump_from_every_spelling() {
        let c = conn(
            json!({"ansible_ssh_common_args": "-o ProxyJump=ops@bastion:2222 -o StrictHostKeyChecking=no"}),
        );
        assert_eq!(c.proxy_jump.as_deref(), Some("ops@bastion:2222"));
        assert_eq!(
            c.ssh_options[1],
            ("StrictHostKeyChecking".to_string(), "no".to_string())
        );
        assert_eq!(
            conn(json!({"ansible_ssh_common_args": "-J jump1"}))
                .proxy_jump
                .as_deref(),
            Some("jump1")
        );
        assert_eq!(
            conn(json!({"ansible_ssh_extra_args": "-Jjump2"}))
                .proxy_jump
                .as_deref(),
            Some("jump2")
        );
        let pc = conn(
            json!({"ansible_ssh_common_args": "-o ProxyCommand=\"ssh -W %h:%p -q ops@bastion\""}),
        );
        assert_eq!(pc.proxy_jump.as_deref(), Some("ops@bastion"));
        assert_eq!(pc.proxy_command, None);
        let pc = conn(
            json!({"ansible_ssh_common_args": "-o 'ProxyCommand=ssh -p 2200 -l ops -W %h:%p bastion'"}),
        );
        assert_eq!(pc.proxy_jump.as_deref(), Some("ops@bastion:2200"));
        let nc = conn(
            json!({"ansible_ssh_common_args": "-o ProxyCommand='nc -X 5 -x proxy:1080 %h %p'"}),
        );
        assert_eq!(nc.proxy_jump, None);
        assert_eq!(
            nc.proxy_command.as_deref(),
            Some("nc -X 5 -x proxy:1080 %h %p")
        );
    }

    #[test]
    fn a_bad_port_is_reported_not_guessed() {
        let c = conn(json!({"ansible_port": "ssh"}));
        assert_eq!(c.port, None);
        assert_eq!(c.problems, ["`ansible_port` is not a port number: `ssh`"]);
    }

    #[test]
    fn local_connection() {
        assert_eq!(
            conn(json!({"ansible_connection": "ansible.builtin.local"}))
                .connection
                .as_deref(),
            Some("local")
        );
        assert_eq!(
            conn(json!({"ansible_connection": "smart"}))
                .connection
                .as_deref(),
            Some("ssh")
        );
        assert_eq!(
            conn(json!({"ansible_connection": "docker"}))
                .connection
                .as_deref(),
            Some("docker")
        );
    }
}

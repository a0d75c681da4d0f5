//! Where and as whom to connect: an [`SshTarget`] from the inventory completed by
//! `~/.ssh/config` (parsed once, with ssh2-config), as Ansible + OpenSSH would.
//!
//! Precedence follows Ansible: what the inventory sets (`ansible_host`,
//! `ansible_port`, `ansible_user`, `ansible_ssh_private_key_file`, a ProxyJump in the
//! connection vars) wins; otherwise the first matching value in `~/.ssh/config`
//! (`HostName`, `Port`, `User`, `IdentityFile`, `ProxyJump`); otherwise OpenSSH's
//! defaults (port 22, the local user, `~/.ssh/id_{ed25519,ecdsa,rsa}`).
//!
//! ProxyJump hosts are resolved the same way, as OpenSSH's `ssh -W` for the jump host
//! would: their own `HostName`/`User`/`Port`/`IdentityFile`, and their own ProxyJump
//! when they are the first hop of the list. A jump host without an IdentityFile of
//! its own also tries the target's identity files (the inventory's key usually opens
//! the bastion too); it never gets the target's password.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use ssh2_config::{ParseRule, SshConfig};

use super::SshTarget;

/// How deep ProxyJump chains may go (loops in ~/.ssh/config end here).
const MAX_JUMP_DEPTH: usize = 8;

/// One hop, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The inventory name (targets) or the ProxyJump spec (bastions), for messages.
    pub name: String,
    /// The address to connect to (HostName applied); also the known_hosts name.
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Identity files to try, in order (explicit ones, or the defaults that exist).
    pub identity_files: Vec<PathBuf>,
    pub password: Option<String>,
    /// The hop before this one, if it is reached through a bastion.
    pub via: Option<Box<Endpoint>>,
}

impl Endpoint {
    /// `user@host:port`, as messages name a connection.
    pub fn label(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }

    /// A key that identifies the connection this endpoint needs (shared bastions).
    pub fn cache_key(&self) -> String {
        match &self.via {
            Some(v) => format!("{} via {}", self.label(), v.cache_key()),
            None => self.label(),
        }
    }
}

/// A ProxyJump element: `[user@]host[:port]` or `ssh://[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JumpSpec {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// Parse an OpenSSH ProxyJump value; `none` means no jump.
pub(crate) fn parse_proxy_jump(value: &str) -> Result<Vec<JumpSpec>, String> {
    let value = value.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    value.split(',').map(|s| parse_jump(s.trim())).collect()
}

fn parse_jump(spec: &str) -> Result<JumpSpec, String> {
    let bad = || format!("invalid ProxyJump host `{spec}`, expected `[user@]host[:port]`");
    let rest = spec.strip_prefix("ssh://").unwrap_or(spec);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
        Some(_) => return Err(bad()),
        None => (None, rest),
    };
    let (host, port) = if let Some(after) = hostport.strip_prefix('[') {
        // [v6addr] or [v6addr]:port
        let (h, tail) = after.split_once(']').ok_or_else(bad)?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
            None if tail.is_empty() => None,
            None => return Err(bad()),
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => {
                (h.to_string(), Some(p.parse::<u16>().map_err(|_| bad())?))
            }
            Some(_) => (hostport.to_string(), None), // a bare IPv6 address
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(JumpSpec { user, host, port })
}

/// Parsed `~/.ssh/config` (or none) plus the local defaults.
#[derive(Debug, Clone)]
pub(crate) struct Resolver {
    config: Option<SshConfig>,
    home: Option<PathBuf>,
    local_user: String,
}

impl Resolver {
    /// Parse `path` (when given, it must exist) or `~/.ssh/config` when present.
    pub fn load(path: Option<&Path>, home: Option<PathBuf>) -> Result<Self, String> {
        let default = home.as_ref().map(|h| h.join(".ssh").join("config"));
        let (path, required) = match path {
            Some(p) => (Some(p.to_path_buf()), true),
            None => (default.filter(|p| p.exists()), false),
        };
        let config =
            match path {
                None => None,
                Some(p) => match std::fs::File::open(&p) {
                    Ok(f) => {
                        let mut reader = BufReader::new(f);
                        let mut cfg = SshConfig::default();
                        if let Some(h) = &home {
                            cfg = cfg.home_dir(h);
                        }
                        let rules =
                            ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS;
                        Some(cfg.parse(&mut reader, rules).map_err(|e| {
                            format!("cannot parse ssh config `{}`: {e}", p.display())
                        })?)
                    }
                    Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(format!("cannot read ssh config `{}`: {e}", p.display())),
                },
            };
        let local_user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "root".to_string());
        Ok(Resolver {
            config,
            home,
            local_user,
        })
    }

    fn query(&self, host: &str) -> Option<ssh2_config::HostParams> {
        self.config.as_ref().map(|c| c.query(host))
    }

    fn default_identities(&self) -> Vec<PathBuf> {
        let Some(home) = &self.home else {
            return Vec::new();
        };
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|n| home.join(".ssh").join(n))
            .filter(|p| p.exists())
            .collect()
    }

    /// Where `host` is reached, and as whom: the given port and user first, then the
    /// config's `HostName`, `Port` and `User`, then port 22 and the local user.
    fn address(
        &self,
        p: Option<&ssh2_config::HostParams>,
        host: &str,
        port: Option<u16>,
        user: &Option<String>,
    ) -> (String, u16, String) {
        let name = p
            .and_then(|p| p.host_name.as_deref())
            .map(|h| expand_host_name(h, host))
            .unwrap_or_else(|| host.to_string());
        let port = port.or_else(|| p.and_then(|p| p.port)).unwrap_or(22);
        let user = user
            .clone()
            .or_else(|| p.and_then(|p| p.user.clone()))
            .unwrap_or_else(|| self.local_user.clone());
        (name, port, user)
    }

    /// The endpoint (and the bastions before it) for an inventory host.
    pub fn resolve(&self, target: &SshTarget) -> Result<Endpoint, String> {
        let params = self.query(&target.host);
        let p = params.as_ref();
        let (host, port, user) = self.address(p, &target.host, target.port, &target.user);
        let identity_files = if !target.identity_files.is_empty() {
            target.identity_files.clone()
        } else {
            p.and_then(|p| p.identity_file.clone()).unwrap_or_default()
        };
        let jumps = match &target.proxy_jump {
            Some(j) => parse_proxy_jump(j)?,
            None => config_jumps(p)?,
        };
        let via = self.chain(&jumps, &identity_files, 0)?;
        let identity_files = if identity_files.is_empty() {
            self.default_identities()
        } else {
            identity_files
        };
        Ok(Endpoint {
            name: target.name.clone(),
            host,
            port,
            user,
            identity_files,
            password: target.password.clone(),
            via,
        })
    }

    /// The last element of `jumps` is the hop right before the target; earlier ones
    /// reach it. The first one may have its own ProxyJump in the config.
    fn chain(
        &self,
        jumps: &[JumpSpec],
        inherited_keys: &[PathBuf],
        depth: usize,
    ) -> Result<Option<Box<Endpoint>>, String> {
        let Some((last, before)) = jumps.split_last() else {
            return Ok(None);
        };
        if depth + jumps.len() > MAX_JUMP_DEPTH {
            return Err(format!(
                "ProxyJump chain through `{}` is deeper than {MAX_JUMP_DEPTH} hops (a loop in the ssh config?)",
                last.host
            ));
        }
        let params = self.query(&last.host);
        let p = params.as_ref();
        let (host, port, user) = self.address(p, &last.host, last.port, &last.user);
        let mut identity_files = p.and_then(|p| p.identity_file.clone()).unwrap_or_default();
        if identity_files.is_empty() {
            identity_files = inherited_keys.to_vec();
        }
        let via = if before.is_empty() {
            // The first hop: its own ProxyJump from the config applies.
            let own = config_jumps(p)?;
            self.chain(&own, inherited_keys, depth + 1)?
        } else {
            self.chain(before, inherited_keys, depth + 1)?
        };
        for d in self.default_identities() {
            if !identity_files.contains(&d) {
                identity_files.push(d);
            }
        }
        let name = match &last.user {
            Some(u) => format!("{u}@{}", last.host),
            None => last.host.clone(),
        };
        Ok(Some(Box::new(Endpoint {
            name,
            host,
            port,
            user,
            identity_files,
            password: None,
            via,
        })))
    }
}

fn config_jumps(p: Option<&ssh2_config::HostParams>) -> Result<Vec<JumpSpec>, String> {
    match p.and_then(|p| p.proxy_jump.as_ref()) {
        None => Ok(Vec::new()),
        Some(list) => parse_proxy_jump(&list.join(",")),
    }
}

/// `HostName` may use `%h` (the name given) and `%%`.
fn expand_host_name(value: &str, original: &str) -> String {
    value
        .replace("%%", "\u{0}")
        .replace("%h", original)
        .replace('\u{0}', "%")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str) -> SshTarget {
        SshTarget {
            name: host.to_string(),
            host: host.to_string(),
            port: None,
            user: None,
            identity_files: vec![],
            password: None,
            proxy_jump: None,
        }
    }

    fn resolver(config: &str) -> (tempfile::TempDir, Resolver) {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
        std::fs::write(home.path().join(".ssh/config"), config).unwrap();
        std::fs::write(home.path().join(".ssh/id_rsa"), "x").unwrap();
        let mut r = Resolver::load(None, Some(home.path().to_path_buf())).unwrap();
        r.local_user = "alice".into();
        (home, r)
    }

    #[test]
    fn proxy_jump_syntax() {
        assert_eq!(parse_proxy_jump("none").unwrap(), vec![]);
        assert_eq!(
            parse_proxy_jump("bob@bastion:2222,ssh://gw,[fe80::1]:22, jump2").unwrap(),
            vec![
                JumpSpec {
                    user: Some("bob".into()),
                    host: "bastion".into(),
                    port: Some(2222)
                },
                JumpSpec {
                    user: None,
                    host: "gw".into(),
                    port: None
                },
                JumpSpec {
                    user: None,
                    host: "fe80::1".into(),
                    port: Some(22)
                },
                JumpSpec {
                    user: None,
                    host: "jump2".into(),
                    port: None
                },
            ]
        );
        assert!(parse_proxy_jump("bastion:notaport").is_err());
        assert!(parse_proxy_jump("@host").is_err());
    }

    #[test]
    fn ssh_config_fills_what_the_inventory_does_not_set() {
        let (home, r) = resolver(
            "Host web*\n  HostName %h.internal\n  User deploy\n  Port 2200\n  IdentityFile ~/.ssh/deploy_key\n\nHost *\n  User fallback\n",
        );
        let e = r.resolve(&target("web1")).unwrap();
        assert_eq!(e.host, "web1.internal");
        assert_eq!(e.port, 2200);
        assert_eq!(e.user, "deploy");
        assert_eq!(e.identity_files, vec![home.path().join(".ssh/deploy_key")]);
        assert_eq!(e.via, None);

        // The inventory wins.
        let mut t = target("web1");
        t.port = Some(22);
        t.user = Some("root".into());
        t.identity_files = vec![PathBuf::from("/keys/k")];
        let e = r.resolve(&t).unwrap();
        assert_eq!((e.port, e.user.as_str()), (22, "root"));
        assert_eq!(e.identity_files, vec![PathBuf::from("/keys/k")]);

        // Defaults: the existing ~/.ssh/id_* and the config's `Host *` user.
        let e = r.resolve(&target("db1")).unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.user.as_str()),
            ("db1", 22, "fallback")
        );
        assert_eq!(e.identity_files, vec![home.path().join(".ssh/id_rsa")]);
    }

    #[test]
    fn proxy_jump_from_config_and_chains() {
        let (_home, r) = resolver(
            "Host inner*\n  ProxyJump gw\n\nHost gw\n  HostName 192.0.2.1\n  User jumper\n  ProxyJump outer:2022\n",
        );
        let e = r.resolve(&target("inner1")).unwrap();
        let gw = e.via.as_deref().unwrap();
        assert_eq!(
            (gw.host.as_str(), gw.user.as_str(), gw.port),
            ("192.0.2.1", "jumper", 22)
        );
        let outer = gw.via.as_deref().unwrap();
        assert_eq!((outer.host.as_str(), outer.port), ("outer", 2022));
        assert!(outer.via.is_none());
        assert_eq!(
            e.cache_key(),
            "alice@inner1:22 via jumper@192.0.2.1:22 via alice@outer:2022"
        );

        // An explicit list: the last element is the hop before the target.
        let mut t = target("x");
        t.proxy_jump = Some("a,b@bb:23".into());
        t.identity_files = vec![PathBuf::from("/keys/k")];
        let e = r.resolve(&t).unwrap();
        let b = e.via.as_deref().unwrap();
        assert_eq!((b.host.as_str(), b.user.as_str(), b.port), ("bb", "b", 23));
        // A jump host without its own IdentityFile tries the target's key first.
        assert_eq!(b.identity_files[0], PathBuf::from("/keys/k"));
        assert_eq!(b.password, None);
        assert_eq!(b.via.as_deref().unwrap().host, "a");

        // `none` in the inventory disables the config's jump.
        let mut t = target("inner2");
        t.proxy_jump = Some("none".into());
        assert!(r.resolve(&t).unwrap().via.is_none());
    }

    #[test]
    fn proxy_jump_loop_is_an_error() {
        let (_home, r) = resolver("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n");
        let err = r.resolve(&target("a")).unwrap_err();
        assert!(err.contains("deeper than"), "{err}");
    }

    #[test]
    fn explicit_config_file_must_exist() {
        let err = Resolver::load(Some(Path::new("/nonexistent/ssh_config")), None).unwrap_err();
        assert!(
            err.contains("cannot read ssh config `/nonexistent/ssh_config`"),
            "{err}"
        );
    }
}

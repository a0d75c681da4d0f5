//! Real OpenSSH sshd hosts for integration tests (needs root: it bind-mounts a clean
//! home and may create network namespaces).
//!
//! Include it from a test file with
//! `#[path = "support/sshd.rs"] mod sshd;` and build hosts with [`SshdBuilder`]:
//!
//! ```ignore
//! let client = TestClient::new();                    // temp HOME, known_hosts, client key
//! let host = SshdBuilder::new().authorize(&client.key).start();
//! client.trust(&host);                               // its host keys into known_hosts
//! let connector = SshConnector::new(client.options()).unwrap();
//! let t = connector.connect(&host.target(&client.key)).await.unwrap();
//! ```
//!
//! Each [`Sshd`] is a `/usr/sbin/sshd -D -e -f <generated config>` with host keys made
//! by ssh-keygen at start, `UsePAM no`, `PidFile none`, `StrictModes no` and
//! `AuthorizedKeysFile` in its own temp dir. It runs in a private mount namespace
//! where `/root` is an empty directory, so a remote command never sources the
//! controller's `/root/.bashrc` (pyenv init costs ~0.12 s per command), and where
//! `/etc/passwd` and `/etc/shadow` are copies with one more user, [`PASSWORD_USER`],
//! whose random password is [`Sshd::password`] — nothing on the machine changes.
//! [`SshdBuilder::sudo`] also gives that user sudo rights there (an `/etc/sudoers`
//! bind-mounted the same way, Debian's defaults plus a `logfile` in [`Sshd::sudo_log`]).
//! By default it listens on 127.0.0.1 on a free port; [`SshdBuilder::in_netns`] puts
//! it on port 22 of a [`Netns`] address instead. sshd's log (`-e`) is in
//! [`Sshd::log`]. sshd is the init of its own PID namespace (the process table is
//! still the machine's `/proc`), so dropping an `Sshd` kills it and every process it
//! ever started, even those whose session ended.
//!
//! [`Netns`] is a network namespace joined to the root namespace (or to another
//! namespace) by veth pairs on /30 subnets of 10.252.0.0/16, allocated through lock
//! files in `/run/rtmig-test-nets` so concurrent test processes never collide;
//! [`Netns::set_link`] cuts or heals a host's network. [`Agent`] is an `ssh-agent`.

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rtmig::transport::ssh::{SshOptions, SshTarget};

/// A user that exists only inside each test sshd's mount namespace, with a password.
pub const PASSWORD_USER: &str = "rtmig";
pub const PASSWORD_UID: u32 = 64000;

/// What [`PASSWORD_USER`] may do with sudo on a test host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sudo {
    /// `ALL=(ALL:ALL) NOPASSWD: ALL`.
    NoPassword,
    /// `ALL=(ALL:ALL) ALL`: sudo asks for the user's own password.
    Password,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ed25519,
    Ecdsa,
    Rsa,
}

impl KeyType {
    pub fn keygen_name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::Ecdsa => "ecdsa",
            KeyType::Rsa => "rsa",
        }
    }
}

/// A key pair made by ssh-keygen.
#[derive(Debug, Clone)]
pub struct ClientKey {
    pub path: PathBuf,
    /// The `.pub` line (`type base64 comment`).
    pub public: String,
}

/// `ssh-keygen -t <type> [-N passphrase] -f <path>`.
pub fn keygen(path: &Path, kind: KeyType, passphrase: Option<&str>) -> ClientKey {
    let _ = fs::remove_file(path);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind.keygen_name(), "-C", "rtmig-test", "-N"])
        .arg(passphrase.unwrap_or(""))
        .arg("-f")
        .arg(path);
    if kind == KeyType::Rsa {
        cmd.args(["-b", "3072"]);
    }
    run(&mut cmd);
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    let public = fs::read_to_string(&pub_path)
        .expect("read .pub")
        .trim()
        .to_string();
    ClientKey {
        path: path.to_path_buf(),
        public,
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn try_run(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The controller side of a test: a temp HOME with an empty `.ssh/config`, a
/// known_hosts file (empty until [`TestClient::trust`]) and an ed25519 client key.
pub struct TestClient {
    pub dir: tempfile::TempDir,
    pub known_hosts: PathBuf,
    pub ssh_config: PathBuf,
    pub key: ClientKey,
}

impl TestClient {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ssh = dir.path().join(".ssh");
        fs::create_dir_all(&ssh).unwrap();
        let known_hosts = ssh.join("known_hosts");
        fs::write(&known_hosts, "").unwrap();
        let ssh_config = ssh.join("config");
        fs::write(&ssh_config, "").unwrap();
        let key = keygen(&dir.path().join("client_ed25519"), KeyType::Ed25519, None);
        TestClient {
            dir,
            known_hosts,
            ssh_config,
            key,
        }
    }

    /// Options that read only this client's files: no agent, no passphrase, no prompt.
    pub fn options(&self) -> SshOptions {
        SshOptions {
            known_hosts: vec![self.known_hosts.clone()],
            ssh_config: Some(self.ssh_config.clone()),
            use_agent: false,
            agent_socket: None,
            passphrase: None,
            passphrase_prompt: None,
            home: Some(self.dir.path().to_path_buf()),
            connect_timeout: Duration::from_secs(10),
            ..SshOptions::default()
        }
    }

    /// Append the host keys of `sshd` to known_hosts.
    pub fn trust(&self, sshd: &Sshd) {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&self.known_hosts)
            .unwrap();
        f.write_all(sshd.known_hosts_lines().as_bytes()).unwrap();
    }

    /// Another key pair in this client's dir.
    pub fn key(&self, name: &str, kind: KeyType, passphrase: Option<&str>) -> ClientKey {
        keygen(&self.dir.path().join(name), kind, passphrase)
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique() -> usize {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// How to start one sshd.
pub struct SshdBuilder {
    host_keys: Vec<KeyType>,
    authorized: Vec<String>,
    config: Vec<String>,
    netns: Option<(String, IpAddr)>,
    sudo: Option<Sudo>,
}

impl Default for SshdBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SshdBuilder {
    /// An ed25519 host key, nothing authorized, OpenSSH's defaults otherwise.
    pub fn new() -> Self {
        SshdBuilder {
            host_keys: vec![KeyType::Ed25519],
            authorized: Vec::new(),
            config: Vec::new(),
            netns: None,
            sudo: None,
        }
    }

    pub fn host_keys(mut self, kinds: &[KeyType]) -> Self {
        self.host_keys = kinds.to_vec();
        self
    }

    /// Authorize a client key (for root and for [`PASSWORD_USER`]).
    pub fn authorize(mut self, key: &ClientKey) -> Self {
        self.authorized.push(key.public.clone());
        self
    }

    /// An extra `sshd_config` line, e.g. `MaxSessions 10` or `PasswordAuthentication yes`.
    pub fn config(mut self, line: &str) -> Self {
        self.config.push(line.to_string());
        self
    }

    /// Give [`PASSWORD_USER`] sudo rights on this host (seen only by this sshd).
    pub fn sudo(mut self, rule: Sudo) -> Self {
        self.sudo = Some(rule);
        self
    }

    /// Listen on port 22 of `addr` inside `netns` instead of 127.0.0.1.
    pub fn in_netns(mut self, netns: &Netns, addr: IpAddr) -> Self {
        self.netns = Some((netns.name.clone(), addr));
        self
    }

    pub fn start(self) -> Sshd {
        for _ in 0..5 {
            if let Some(s) = self.try_start() {
                return s;
            }
        }
        panic!("sshd did not start after 5 attempts");
    }

    fn try_start(&self) -> Option<Sshd> {
        fs::create_dir_all("/run/sshd").unwrap();
        fs::set_permissions("/run/sshd", fs::Permissions::from_mode(0o755)).unwrap();
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();

        let mut host_keys = Vec::new();
        for kind in &self.host_keys {
            let key = keygen(&d.join(format!("host_{}", kind.keygen_name())), *kind, None);
            host_keys.push((*kind, key));
        }
        fs::write(d.join("authorized_keys"), self.authorized.join("\n") + "\n").unwrap();
        fs::set_permissions(d.join("authorized_keys"), fs::Permissions::from_mode(0o644)).unwrap();

        let root_home = d.join("home-root");
        let user_home = d.join("home-user");
        fs::create_dir_all(&root_home).unwrap();
        fs::create_dir_all(&user_home).unwrap();
        fs::set_permissions(&root_home, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&user_home, Some(PASSWORD_UID), Some(PASSWORD_UID)).unwrap();

        // passwd/shadow copies with the password user, seen only by this sshd.
        let password = random_password();
        let hash = openssl_hash(&password);
        let mut passwd = fs::read_to_string("/etc/passwd").unwrap();
        passwd.push_str(&format!(
            "{PASSWORD_USER}:x:{PASSWORD_UID}:{PASSWORD_UID}:rtmig test:{}:/bin/bash\n",
            user_home.display()
        ));
        fs::write(d.join("passwd"), passwd).unwrap();
        let mut shadow = fs::read_to_string("/etc/shadow").unwrap();
        shadow.push_str(&format!("{PASSWORD_USER}:{hash}:19000:0:99999:7:::\n"));
        fs::write(d.join("shadow"), shadow).unwrap();
        fs::set_permissions(d.join("shadow"), fs::Permissions::from_mode(0o600)).unwrap();

        // Debian's default sudoers, with our user's rule and a log file to inspect.
        let mut mounts = format!(
            "mount --bind {root} /root && mount --bind {d}/passwd /etc/passwd && \
             mount --bind {d}/shadow /etc/shadow",
            root = root_home.display(),
            d = d.display()
        );
        if let Some(rule) = self.sudo {
            let rule = match rule {
                Sudo::NoPassword => "NOPASSWD: ALL",
                Sudo::Password => "ALL",
            };
            let sudoers = format!(
                "Defaults env_reset\n\
                 Defaults secure_path=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\n\
                 Defaults use_pty\n\
                 Defaults logfile={log}\n\
                 root ALL=(ALL:ALL) ALL\n\
                 {PASSWORD_USER} ALL=(ALL:ALL) {rule}\n",
                log = d.join("sudo.log").display()
            );
            fs::write(d.join("sudoers"), sudoers).unwrap();
            fs::set_permissions(d.join("sudoers"), fs::Permissions::from_mode(0o440)).unwrap();
            mounts.push_str(&format!(
                " && mount --bind {d}/sudoers /etc/sudoers",
                d = d.display()
            ));
        }

        let (addr, port) = match &self.netns {
            Some((_, addr)) => (*addr, 22),
            None => (IpAddr::V4(Ipv4Addr::LOCALHOST), free_port()),
        };
        let mut config = format!(
            "Port {port}\nListenAddress {addr}\nPidFile none\nUsePAM no\nStrictModes no\n\
             AuthorizedKeysFile {ak}\nPermitRootLogin yes\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n",
            ak = d.join("authorized_keys").display()
        );
        for (kind, _) in &host_keys {
            config.push_str(&format!(
                "HostKey {}\n",
                d.join(format!("host_{}", kind.keygen_name())).display()
            ));
        }
        // Extra lines go first: for most keywords sshd keeps the first value it reads.
        let config = self.config.join("\n") + "\n" + &config;
        fs::write(d.join("sshd_config"), config).unwrap();

        let script = format!(
            "{mounts} && exec /usr/sbin/sshd -D -e -f {d}/sshd_config",
            d = d.display()
        );
        let mut cmd = match &self.netns {
            Some((ns, _)) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).arg("unshare");
                c
            }
            None => Command::new("unshare"),
        };
        // Its own PID namespace too, with sshd as its init: killing sshd ends every
        // process of the host, including commands whose session is gone (orphans).
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "--pid",
            "--fork",
            "--",
            "sh",
            "-c",
            &script,
        ]);
        let log_path = d.join("sshd.log");
        let log = fs::File::create(&log_path).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let mut child = cmd.spawn().expect("spawn sshd");

        let start = Instant::now();
        loop {
            let text = fs::read_to_string(&log_path).unwrap_or_default();
            if text.contains("Server listening on") {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                if text.contains("Address already in use") {
                    return None;
                }
                panic!("sshd exited ({status}) at start:\n{text}");
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("sshd did not start in 10 s:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Sshd {
            addr,
            port,
            host_keys: host_keys.into_iter().map(|(k, c)| (k, c.public)).collect(),
            password,
            log_path,
            child,
            dir,
        })
    }
}

fn openssl_hash(password: &str) -> String {
    let mut child = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn random_password() -> String {
    let mut bytes = [0u8; 12];
    let mut f = fs::File::open("/dev/urandom").expect("urandom");
    std::io::Read::read_exact(&mut f, &mut bytes).expect("urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running sshd; killed (with every process it started) on drop.
pub struct Sshd {
    pub addr: IpAddr,
    pub port: u16,
    /// `(type, public key line)` of each host key.
    pub host_keys: Vec<(KeyType, String)>,
    /// The password of [`PASSWORD_USER`] on this host.
    pub password: String,
    pub log_path: PathBuf,
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Sshd {
    /// The known_hosts name: `addr` on port 22, `[addr]:port` otherwise.
    pub fn host_port(&self) -> String {
        if self.port == 22 {
            self.addr.to_string()
        } else {
            format!("[{}]:{}", self.addr, self.port)
        }
    }

    /// known_hosts lines for every host key.
    pub fn known_hosts_lines(&self) -> String {
        self.host_keys
            .iter()
            .map(|(_, line)| {
                let mut parts = line.split_whitespace();
                let (t, k) = (parts.next().unwrap(), parts.next().unwrap());
                format!("{} {t} {k}\n", self.host_port())
            })
            .collect()
    }

    /// A root target using `key`.
    pub fn target(&self, key: &ClientKey) -> SshTarget {
        SshTarget {
            name: format!("sshd-{}", self.port),
            host: self.addr.to_string(),
            port: Some(self.port),
            user: Some("root".into()),
            identity_files: vec![key.path.clone()],
            password: None,
            proxy_jump: None,
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// sudo's own log on this host (with [`SshdBuilder::sudo`]): one entry per command
    /// run through sudo, with the command line it ran.
    pub fn sudo_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sudo.log")).unwrap_or_default()
    }

    /// The command line of every process this sshd started and that is still below it
    /// (see [`command_lines`] for orphans too).
    pub fn command_lines(&self) -> Vec<String> {
        self.pids().into_iter().filter_map(command_line).collect()
    }

    /// The listener and every process below it (connections, sessions, commands).
    pub fn pids(&self) -> Vec<i32> {
        let root = self.child.id() as i32;
        let mut parents: Vec<(i32, i32)> = Vec::new();
        if let Ok(entries) = fs::read_dir("/proc") {
            for e in entries.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                // pid (comm) state ppid ...; comm may contain spaces.
                let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
                    continue;
                };
                if let Some(ppid) = after.split(' ').nth(1).and_then(|p| p.parse().ok()) {
                    parents.push((pid, ppid));
                }
            }
        }
        let mut tree = vec![root];
        let mut i = 0;
        while i < tree.len() {
            let p = tree[i];
            tree.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
            i += 1;
        }
        tree
    }

    fn signal_all(&self, sig: i32) {
        for pid in self.pids() {
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }

    /// Freeze the host: SIGSTOP sshd and everything it runs (a hung host).
    pub fn freeze(&self) {
        self.signal_all(libc::SIGSTOP);
    }

    pub fn thaw(&self) {
        self.signal_all(libc::SIGCONT);
    }

    /// Kill sshd and all its sessions now.
    pub fn kill(&mut self) {
        self.signal_all(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A process's command line (`/proc/PID/cmdline`, arguments joined by spaces), as `ps`
/// shows it; `None` once it is gone (or a zombie).
pub fn command_line(pid: i32) -> Option<String> {
    let b = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    (!b.is_empty()).then(|| {
        String::from_utf8_lossy(&b)
            .trim_end_matches('\0')
            .replace('\0', " ")
    })
}

/// The command lines of every process on the machine: the test hosts share its process
/// table, and a command whose session ended is reparented away from its sshd.
pub fn command_lines() -> Vec<String> {
    fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
                .filter_map(command_line)
                .collect()
        })
        .unwrap_or_default()
}

/// An `ssh-agent` on a socket in its own temp dir; killed on drop.
pub struct Agent {
    pub sock: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Agent {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        let start = Instant::now();
        while !sock.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "ssh-agent did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Agent {
            sock,
            child,
            _dir: dir,
        }
    }

    /// `ssh-add` an unencrypted key.
    pub fn add(&self, key: &ClientKey) {
        run(Command::new("ssh-add")
            .env("SSH_AUTH_SOCK", &self.sock)
            .arg(&key.path));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const NETS_DIR: &str = "/run/rtmig-test-nets";

/// A /30 of 10.252.0.0/16, held through a lock file naming our pid.
struct Subnet {
    index: u32,
    lock: PathBuf,
}

impl Subnet {
    fn allocate() -> Subnet {
        fs::create_dir_all(NETS_DIR).unwrap();
        let me = std::process::id();
        for index in 1..16383u32 {
            let lock = Path::new(NETS_DIR).join(index.to_string());
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(mut f) => {
                    f.write_all(me.to_string().as_bytes()).unwrap();
                    return Subnet { index, lock };
                }
                Err(_) => {
                    // Reclaim the lock of a test process that died without cleaning up.
                    let owner = fs::read_to_string(&lock).unwrap_or_default();
                    let alive = owner
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim()
                        .parse::<i32>()
                        .map(|p| Path::new(&format!("/proc/{p}")).exists())
                        .unwrap_or(true);
                    if !alive && fs::remove_file(&lock).is_ok() {
                        let _ = Command::new("ip")
                            .args(["link", "del", &format!("rtv{index}r")])
                            .status();
                        if let Some(cidr) = owner.lines().nth(1) {
                            try_run(Command::new("ip").args(["route", "del", "unreachable", cidr]));
                        }
                    }
                }
            }
        }
        panic!("no free test subnet in {NETS_DIR}");
    }

    fn addr(&self, host: u32) -> IpAddr {
        let n = self.index * 4 + host;
        IpAddr::V4(Ipv4Addr::new(10, 252, (n >> 8) as u8, (n & 0xff) as u8))
    }
}

impl Drop for Subnet {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.lock);
    }
}

/// A network namespace for test hosts. Links are veth pairs on /30 subnets.
pub struct Netns {
    pub name: String,
    links: Vec<(Subnet, Option<String>)>,
    blocked: Vec<Subnet>,
}

impl Netns {
    pub fn new() -> Self {
        let name = format!("rtmt-{}-{}", std::process::id(), unique());
        run(Command::new("ip").args(["netns", "add", &name]));
        run(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]));
        Netns {
            name,
            links: Vec::new(),
            blocked: Vec::new(),
        }
    }

    /// A veth to the root namespace. Returns (root side, namespace side) addresses.
    pub fn link_to_root(&mut self) -> (IpAddr, IpAddr) {
        let net = Subnet::allocate();
        let (outer, inner) = (format!("rtv{}r", net.index), format!("rtv{}n", net.index));
        run(Command::new("ip").args([
            "link", "add", &outer, "type", "veth", "peer", "name", &inner, "netns", &self.name,
        ]));
        let (a, b) = (net.addr(1), net.addr(2));
        run(Command::new("ip").args(["addr", "add", &format!("{a}/30"), "dev", &outer]));
        run(Command::new("ip").args(["link", "set", &outer, "up"]));
        run(Command::new("ip").args([
            "-n",
            &self.name,
            "addr",
            "add",
            &format!("{b}/30"),
            "dev",
            &inner,
        ]));
        run(Command::new("ip").args(["-n", &self.name, "link", "set", &inner, "up"]));
        self.links.push((net, Some(outer)));
        (a, b)
    }

    /// A veth between this namespace and `other`. Returns (our side, their side).
    pub fn link_to(&mut self, other: &Netns) -> (IpAddr, IpAddr) {
        let net = Subnet::allocate();
        let (mine, theirs) = (format!("rtv{}a", net.index), format!("rtv{}b", net.index));
        run(Command::new("ip").args([
            "-n",
            &self.name,
            "link",
            "add",
            &mine,
            "type",
            "veth",
            "peer",
            "name",
            &theirs,
            "netns",
            &other.name,
        ]));
        let (a, b) = (net.addr(1), net.addr(2));
        run(Command::new("ip").args([
            "-n",
            &self.name,
            "addr",
            "add",
            &format!("{a}/30"),
            "dev",
            &mine,
        ]));
        run(Command::new("ip").args(["-n", &self.name, "link", "set", &mine, "up"]));
        run(Command::new("ip").args([
            "-n",
            &other.name,
            "addr",
            "add",
            &format!("{b}/30"),
            "dev",
            &theirs,
        ]));
        run(Command::new("ip").args(["-n", &other.name, "link", "set", &theirs, "up"]));
        self.links.push((net, None));
        (a, b)
    }

    /// Make the /30 around `addr` unreachable from the root namespace (no packet
    /// leaves the machine through a default route; connecting fails at once).
    pub fn block_from_root(&mut self, addr: IpAddr) {
        let net = Subnet::allocate();
        let IpAddr::V4(v4) = addr else {
            panic!("IPv4 only")
        };
        let o = v4.octets();
        let base = u32::from(o[3]) & !3;
        let cidr = format!("{}.{}.{}.{base}/30", o[0], o[1], o[2]);
        run(Command::new("ip").args(["route", "add", "unreachable", &cidr]));
        // Remember the route under a lock so it is removed on drop.
        fs::write(&net.lock, format!("{}\n{cidr}", std::process::id())).unwrap();
        self.blocked.push(net);
    }

    /// Set the root-side link of this namespace up or down (a network cut).
    pub fn set_link(&self, up: bool) {
        for (_, outer) in &self.links {
            if let Some(o) = outer {
                run(Command::new("ip").args(["link", "set", o, if up { "up" } else { "down" }]));
            }
        }
    }

    /// Run a short command in the namespace (not a daemon: `ip netns exec` remounts /sys).
    pub fn exec(&self, args: &[&str]) -> String {
        run(Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args))
    }
}

impl Default for Netns {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for net in &self.blocked {
            let text = fs::read_to_string(&net.lock).unwrap_or_default();
            if let Some(cidr) = text.lines().nth(1) {
                try_run(Command::new("ip").args(["route", "del", "unreachable", cidr]));
            }
        }
        for (_, outer) in &self.links {
            if let Some(o) = outer {
                try_run(Command::new("ip").args(["link", "del", o]));
            }
        }
        try_run(Command::new("ip").args(["netns", "del", &self.name]));
    }
}

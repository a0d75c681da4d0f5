//! The SSH transport against real OpenSSH sshd over real TCP (loopback, and network
//! namespaces for ProxyJump). Needs root; see tests/support/sshd.rs.

#[path = "support/sshd.rs"]
mod sshd;

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rtmig::transport::ssh::{SshConnector, SshOptions, SshTarget, SshTransport};
use rtmig::transport::{
    ExecOutput, ExecRequest, Stdin, Stdout, Transport, TransportError, exec_with_timeout,
};
use sha2::{Digest, Sha256};
use sshd::{Agent, KeyType, Netns, PASSWORD_USER, Sshd, SshdBuilder, TestClient};

/// A client and one sshd that authorizes its key and is in its known_hosts.
fn host() -> (TestClient, Sshd) {
    let client = TestClient::new();
    let sshd = SshdBuilder::new().authorize(&client.key).start();
    client.trust(&sshd);
    (client, sshd)
}

async fn connect(client: &TestClient, sshd: &Sshd) -> SshTransport {
    SshConnector::new(client.options())
        .unwrap()
        .connect(&sshd.target(&client.key))
        .await
        .unwrap()
}

async fn run(t: &SshTransport, command: &str) -> ExecOutput {
    t.exec(ExecRequest::new(command)).await.unwrap()
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

fn refused(r: Result<SshTransport, TransportError>) -> String {
    match r {
        Err(TransportError::Refused(m)) => m,
        Err(e) => panic!("expected refused, got {e:?}"),
        Ok(_) => panic!("expected refused, got a connection"),
    }
}

fn unreachable<T: std::fmt::Debug>(r: Result<T, TransportError>) -> String {
    match r {
        Err(TransportError::Unreachable(m)) => m,
        other => panic!("expected unreachable, got {other:?}"),
    }
}

/// Deterministic pseudo-random bytes (xorshift), so corruption cannot hide in zeros.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_captures_stdout_stderr_status_and_stdin() {
    let (client, sshd) = host();
    let t = connect(&client, &sshd).await;

    let out = run(&t, "echo out; echo err >&2; exit 3").await;
    assert_eq!(
        (out.status, text(&out.stdout), text(&out.stderr)),
        (3, "out\n", "err\n")
    );

    // Killed by a signal: 128 + signo, as a shell reports it.
    let out = run(&t, "kill -KILL $$").await;
    assert_eq!(out.status, 137);

    let out = t
        .exec(ExecRequest {
            command: "tr a-z A-Z",
            stdin: Stdin::Bytes(b"hello\n"),
            stdout: Stdout::Capture,
        })
        .await
        .unwrap();
    assert_eq!((out.status, text(&out.stdout)), (0, "HELLO\n"));

    // A command that does not read its stdin still ends cleanly.
    let big = vec![b'x'; 8 << 20];
    let out = t
        .exec(ExecRequest {
            command: "echo ignored",
            stdin: Stdin::Bytes(&big),
            stdout: Stdout::Capture,
        })
        .await
        .unwrap();
    assert_eq!((out.status, text(&out.stdout)), (0, "ignored\n"));

    // The remote home is clean: no /root/.bashrc (pyenv) runs for a command.
    let out = run(&t, "test ! -e ~/.bashrc && echo clean").await;
    assert_eq!(text(&out.stdout), "clean\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_execs_share_one_connection_past_max_sessions() {
    let client = TestClient::new();
    let sshd = SshdBuilder::new()
        .authorize(&client.key)
        .config("MaxSessions 10")
        .start();
    client.trust(&sshd);
    let t = connect(&client, &sshd).await;
    let commands: Vec<String> = (0..20).map(|i| format!("sleep 0.3; echo {i}")).collect();
    let outs = futures_join_all(commands.iter().map(|c| t.exec(ExecRequest::new(c)))).await;
    for (i, out) in outs.into_iter().enumerate() {
        let out = out.unwrap();
        assert_eq!(
            (out.status, text(&out.stdout)),
            (0, format!("{i}\n").as_str())
        );
    }
    // One connection: sshd accepted exactly one authentication.
    assert_eq!(sshd.log().matches("Accepted publickey").count(), 1);
}

/// Runs futures concurrently on this task (no extra dependency for `join_all`).
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut results: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_64_mib_through_stdin_lands_intact() {
    let (client, sshd) = host();
    let t = connect(&client, &sshd).await;
    let data = pseudo_random(64 << 20);
    let expected = sha256_hex(&data);

    let mut reader = Cursor::new(data);
    let start = Instant::now();
    let out = t
        .exec(ExecRequest {
            command: "cat > upload.bin",
            stdin: Stdin::Reader(&mut reader),
            stdout: Stdout::Capture,
        })
        .await
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(out.status, 0, "{}", text(&out.stderr));
    let out = run(&t, "sha256sum upload.bin").await;
    assert_eq!(
        text(&out.stdout).split_whitespace().next(),
        Some(expected.as_str())
    );
    eprintln!("rtmig upload 64 MiB: {:.1} MiB/s", 64.0 / secs);

    // The OpenSSH floor on the same host, for comparison (no assertion on time).
    let start = Instant::now();
    let mut ssh = std::process::Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o"])
        .arg(format!(
            "UserKnownHostsFile={}",
            client.known_hosts.display()
        ))
        .arg("-i")
        .arg(&client.key.path)
        .args(["-p", &sshd.port.to_string(), "-F", "/dev/null"])
        .arg(format!("root@{}", sshd.addr))
        .arg("cat > floor.bin")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(ssh.stdin.as_mut().unwrap(), reader.get_ref()).unwrap();
    drop(ssh.stdin.take());
    assert!(ssh.wait().unwrap().success());
    eprintln!(
        "OpenSSH `cat | ssh 'cat > f'` 64 MiB: {:.1} MiB/s",
        64.0 / start.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_through_stdout_writer() {
    let (client, sshd) = host();
    let t = connect(&client, &sshd).await;
    let out = run(
        &t,
        "head -c 33554432 /dev/urandom > dl.bin && sha256sum dl.bin",
    )
    .await;
    let remote_sum = text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();

    let mut sink: Vec<u8> = Vec::new();
    let start = Instant::now();
    let out = t
        .exec(ExecRequest {
            command: "cat dl.bin; echo done >&2",
            stdin: Stdin::Null,
            stdout: Stdout::Writer(&mut sink),
        })
        .await
        .unwrap();
    eprintln!(
        "rtmig download 32 MiB: {:.1} MiB/s",
        32.0 / start.elapsed().as_secs_f64()
    );
    assert_eq!((out.status, text(&out.stderr)), (0, "done\n"));
    assert!(out.stdout.is_empty(), "stdout went to the writer");
    assert_eq!(sink.len(), 32 << 20);
    assert_eq!(sha256_hex(&sink), remote_sum);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_key_is_refused() {
    let client = TestClient::new();
    let sshd = SshdBuilder::new().authorize(&client.key).start();
    let m = refused(
        SshConnector::new(client.options())
            .unwrap()
            .connect(&sshd.target(&client.key))
            .await,
    );
    assert!(m.contains("is not known"), "{m}");
    assert!(m.contains("--accept-new-host-keys"), "{m}");
    assert!(m.contains(&sshd.host_port()), "{m}");
    // Nothing was written.
    assert_eq!(std::fs::read_to_string(&client.known_hosts).unwrap(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_is_refused_with_openssh_warning() {
    let client = TestClient::new();
    let sshd = SshdBuilder::new().authorize(&client.key).start();
    let other = client.key("other_host_key", KeyType::Ed25519, None);
    let mut parts = other.public.split_whitespace();
    let line = format!(
        "{} {} {}\n",
        sshd.host_port(),
        parts.next().unwrap(),
        parts.next().unwrap()
    );
    std::fs::write(&client.known_hosts, format!("# fleet\n{line}")).unwrap();
    for accept_new in [false, true] {
        let opts = SshOptions {
            accept_new_host_keys: accept_new,
            ..client.options()
        };
        let m = refused(
            SshConnector::new(opts)
                .unwrap()
                .connect(&sshd.target(&client.key))
                .await,
        );
        assert!(
            m.contains("WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!"),
            "{m}"
        );
        let offending = format!("{}:2", client.known_hosts.display());
        assert!(m.contains(&offending), "{m}");
    }
    // accept-new did not replace the recorded key.
    assert_eq!(
        std::fs::read_to_string(&client.known_hosts).unwrap(),
        format!("# fleet\n{line}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_new_records_the_key_then_strict_checking_passes() {
    let client = TestClient::new();
    let sshd = SshdBuilder::new().authorize(&client.key).start();
    let opts = SshOptions {
        accept_new_host_keys: true,
        ..client.options()
    };
    let t = SshConnector::new(opts)
        .unwrap()
        .connect(&sshd.target(&client.key))
        .await
        .unwrap();
    assert_eq!(run(&t, "echo hi").await.stdout, b"hi\n");
    let recorded = std::fs::read_to_string(&client.known_hosts).unwrap();
    assert_eq!(recorded, sshd.known_hosts_lines());

    // A new run, strict: the recorded key is enough, and OpenSSH agrees with the line.
    let t = connect(&client, &sshd).await;
    assert_eq!(run(&t, "echo again").await.stdout, b"again\n");
    let status = std::process::Command::new("ssh-keygen")
        .arg("-F")
        .arg(sshd.host_port())
        .arg("-f")
        .arg(&client.known_hosts)
        .output()
        .unwrap();
    assert!(status.status.success(), "ssh-keygen -F finds the line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_known_hosts_written_by_ssh_keygen_are_understood() {
    let (client, sshd) = host();
    let out = std::process::Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&client.known_hosts)
        .output()
        .unwrap();
    assert!(out.status.success());
    let hashed = std::fs::read_to_string(&client.known_hosts).unwrap();
    assert!(hashed.starts_with("|1|"), "{hashed}");
    let t = connect(&client, &sshd).await;
    assert_eq!(run(&t, "echo ok").await.stdout, b"ok\n");
}

/// Regression (CRATES.md trap 6): a host known only by its ECDSA key was refused because
/// ed25519 was negotiated first; the known key types now go first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_known_only_by_its_ecdsa_key_connects() {
    let client = TestClient::new();
    let sshd = SshdBuilder::new()
        .host_keys(&[KeyType::Ed25519, KeyType::Ecdsa])
        .authorize(&client.key)
        .start();
    let ecdsa: String = sshd
        .known_hosts_lines()
        .lines()
        .filter(|l| l.contains("ecdsa-sha2"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!ecdsa.is_empty());
    std::fs::write(&client.known_hosts, ecdsa).unwrap();
    let t = connect(&client, &sshd).await;
    assert_eq!(run(&t, "echo ok").await.stdout, b"ok\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_auth_works_and_is_needed() {
    let client = TestClient::new();
    let agent_key = client.key("agent_key", KeyType::Ed25519, None);
    let sshd = SshdBuilder::new().authorize(&agent_key).start();
    client.trust(&sshd);
    let agent = Agent::start();
    agent.add(&agent_key);
    // The target names no key file, and the client home has no default keys.
    let target = SshTarget {
        identity_files: vec![],
        ..sshd.target(&client.key)
    };

    let opts = SshOptions {
        use_agent: true,
        agent_socket: Some(agent.sock.clone()),
        ..client.options()
    };
    let t = SshConnector::new(opts)
        .unwrap()
        .connect(&target)
        .await
        .unwrap();
    assert_eq!(run(&t, "echo agent").await.stdout, b"agent\n");

    // Without the agent nothing opens the host; the message says what was tried.
    let m = refused(
        SshConnector::new(client.options())
            .unwrap()
            .connect(&target)
            .await,
    );
    assert!(
        m.contains(&format!("root@{}:{}", sshd.addr, sshd.port)),
        "{m}"
    );
    assert!(m.contains("no method to try"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_files_explicit_default_and_rsa() {
    let client = TestClient::new();
    let rsa = client.key("rsa_key", KeyType::Rsa, None);
    let ecdsa = client.key("ecdsa_key", KeyType::Ecdsa, None);
    let sshd = SshdBuilder::new()
        .authorize(&client.key)
        .authorize(&rsa)
        .authorize(&ecdsa)
        .start();
    client.trust(&sshd);
    let connector = SshConnector::new(client.options()).unwrap();

    // RSA signs with rsa-sha2 (OpenSSH 9 refuses SHA-1 `ssh-rsa`).
    for key in [&rsa, &ecdsa] {
        let t = connector.connect(&sshd.target(key)).await.unwrap();
        assert_eq!(run(&t, "echo ok").await.stdout, b"ok\n");
    }
    assert!(
        sshd.log().contains("Accepted publickey for root"),
        "{}",
        sshd.log()
    );
    assert!(sshd.log().contains("RSA SHA256:"), "{}", sshd.log());

    // No key named: ~/.ssh/id_ed25519 is tried, as OpenSSH does.
    std::fs::copy(&client.key.path, client.dir.path().join(".ssh/id_ed25519")).unwrap();
    let connector = SshConnector::new(client.options()).unwrap();
    let target = SshTarget {
        identity_files: vec![],
        ..sshd.target(&client.key)
    };
    let t = connector.connect(&target).await.unwrap();
    assert_eq!(run(&t, "echo default").await.stdout, b"default\n");

    // A key the server does not know: refused, naming the key tried.
    let stranger = client.key("stranger", KeyType::Ed25519, None);
    let m = refused(connector.connect(&sshd.target(&stranger)).await);
    assert!(m.contains("stranger"), "{m}");
    assert!(m.contains("the server accepts: publickey"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passphrase_protected_key() {
    let client = TestClient::new();
    let locked = client.key("locked", KeyType::Ed25519, Some("correct horse"));
    let sshd = SshdBuilder::new().authorize(&locked).start();
    client.trust(&sshd);

    let opts = SshOptions {
        passphrase: Some("correct horse".into()),
        ..client.options()
    };
    let t = SshConnector::new(opts)
        .unwrap()
        .connect(&sshd.target(&locked))
        .await
        .unwrap();
    assert_eq!(run(&t, "echo unlocked").await.stdout, b"unlocked\n");

    // Wrong passphrase: refused, naming where it came from, never the passphrase.
    let opts = SshOptions {
        passphrase: Some("wrong battery".into()),
        ..client.options()
    };
    let m = refused(
        SshConnector::new(opts)
            .unwrap()
            .connect(&sshd.target(&locked))
            .await,
    );
    assert!(
        m.contains("RTMIG_SSH_PASSPHRASE does not decrypt key"),
        "{m}"
    );
    assert!(!m.contains("wrong battery"), "{m}");

    // No passphrase and no terminal: a clear error.
    let m = refused(
        SshConnector::new(client.options())
            .unwrap()
            .connect(&sshd.target(&locked))
            .await,
    );
    assert!(m.contains("passphrase-protected"), "{m}");

    // The prompt is asked once for the fleet, and only for a key the server accepts.
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let opts = SshOptions {
        passphrase_prompt: Some(Arc::new(move |_path: &std::path::Path| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok("correct horse".to_string())
        })),
        ..client.options()
    };
    let connector = SshConnector::new(opts).unwrap();
    for _ in 0..3 {
        let t = connector.connect(&sshd.target(&locked)).await.unwrap();
        assert_eq!(run(&t, "echo ok").await.stdout, b"ok\n");
    }
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    let other = SshdBuilder::new().authorize(&client.key).start();
    client.trust(&other);
    let connector = SshConnector::new(SshOptions {
        known_hosts: vec![client.known_hosts.clone()],
        ..connector.options().clone()
    })
    .unwrap();
    let target = SshTarget {
        identity_files: vec![locked.path.clone(), client.key.path.clone()],
        ..other.target(&client.key)
    };
    let t = connector.connect(&target).await.unwrap();
    assert_eq!(run(&t, "echo ok").await.stdout, b"ok\n");
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "no prompt for a key the host refuses"
    );
}

/// `RTMIG_SSH_PASSPHRASE` is read by `SshOptions::default()`. Setting an environment
/// variable in a multi-threaded test is unsound, so a child process runs
/// [`passphrase_env_child`] with it set.
#[test]
fn passphrase_from_environment_variable() {
    let client = TestClient::new();
    let locked = client.key("locked", KeyType::Ecdsa, Some("from env"));
    let sshd = SshdBuilder::new().authorize(&locked).start();
    client.trust(&sshd);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "passphrase_env_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("RTMIG_SSH_PASSPHRASE", "from env")
        .env("RTMIG_TEST_HOME", client.dir.path())
        .env("RTMIG_TEST_KEY", &locked.path)
        .env("RTMIG_TEST_PORT", sshd.port.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by passphrase_from_environment_variable in a child process"]
async fn passphrase_env_child() {
    let home = std::path::PathBuf::from(std::env::var("RTMIG_TEST_HOME").unwrap());
    let key = std::path::PathBuf::from(std::env::var("RTMIG_TEST_KEY").unwrap());
    let port: u16 = std::env::var("RTMIG_TEST_PORT").unwrap().parse().unwrap();
    let defaults = SshOptions::default();
    assert_eq!(defaults.passphrase.as_deref(), Some("from env"));
    let opts = SshOptions {
        known_hosts: vec![home.join(".ssh/known_hosts")],
        ssh_config: Some(home.join(".ssh/config")),
        use_agent: false,
        passphrase_prompt: None,
        home: Some(home),
        ..defaults
    };
    let target = SshTarget {
        port: Some(port),
        user: Some("root".into()),
        identity_files: vec![key],
        ..SshTarget::new("127.0.0.1")
    };
    let t = SshConnector::new(opts)
        .unwrap()
        .connect(&target)
        .await
        .unwrap();
    assert_eq!(run(&t, "echo env").await.stdout, b"env\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_auth_for_a_test_user() {
    let client = TestClient::new();
    let sshd = SshdBuilder::new()
        .config("PasswordAuthentication yes")
        .start();
    client.trust(&sshd);
    let connector = SshConnector::new(client.options()).unwrap();
    let target = SshTarget {
        user: Some(PASSWORD_USER.into()),
        identity_files: vec![],
        password: Some(sshd.password.clone()),
        ..sshd.target(&client.key)
    };
    let t = connector.connect(&target).await.unwrap();
    let out = run(&t, "id -un; echo $HOME").await;
    assert_eq!(
        text(&out.stdout),
        format!("{PASSWORD_USER}\n{}/home-user\n", sshd.dir.path().display())
    );

    let wrong = SshTarget {
        password: Some("not-the-password".into()),
        ..target.clone()
    };
    let m = refused(connector.connect(&wrong).await);
    assert!(m.contains("tried: password"), "{m}");
    assert!(
        !m.contains("not-the-password") && !m.contains(&sshd.password),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_jump_reaches_a_host_only_the_bastion_can_reach() {
    let client = TestClient::new();
    // bastion namespace: linked to the root namespace and to the target namespace.
    let mut bastion_ns = Netns::new();
    let target_ns = Netns::new();
    let (_, bastion_addr) = bastion_ns.link_to_root();
    let (bastion_side, target_addr) = bastion_ns.link_to(&target_ns);
    // The root namespace has no route to the target (and no packet leaves the machine).
    bastion_ns.block_from_root(target_addr);

    let bastion = SshdBuilder::new()
        .authorize(&client.key)
        .in_netns(&bastion_ns, bastion_addr)
        .start();
    let targets: Vec<Sshd> = (0..1)
        .map(|_| {
            SshdBuilder::new()
                .authorize(&client.key)
                .in_netns(&target_ns, target_addr)
                .start()
        })
        .collect();
    let target = &targets[0];
    client.trust(&bastion);
    client.trust(target);
    let connector = SshConnector::new(client.options()).unwrap();

    // Directly: unreachable.
    let direct = target.target(&client.key);
    let m = unreachable(connector.connect(&direct).await);
    assert!(m.contains(&target_addr.to_string()), "{m}");

    // Through the bastion (its key is the target's key, inherited): reachable, and
    // three connections share one bastion connection.
    let jumped = SshTarget {
        proxy_jump: Some(format!("root@{bastion_addr}")),
        ..direct
    };
    let mut conns = Vec::new();
    for _ in 0..3 {
        let t = connector.connect(&jumped).await.unwrap();
        let out = run(&t, "echo $SSH_CONNECTION").await;
        // The target sees the connection coming from the bastion's side of their link.
        let seen = text(&out.stdout).trim().to_string();
        assert!(seen.starts_with(&format!("{bastion_side} ")), "{seen}");
        assert!(seen.ends_with(&format!("{target_addr} 22")), "{seen}");
        conns.push(t);
    }
    assert_eq!(
        bastion.log().matches("Accepted publickey").count(),
        1,
        "{}",
        bastion.log()
    );
    assert_eq!(target.log().matches("Accepted publickey").count(), 3);

    // The bastion's host key is checked too.
    std::fs::write(&client.known_hosts, target.known_hosts_lines()).unwrap();
    let strict = SshConnector::new(client.options()).unwrap();
    let m = refused(strict.connect(&jumped).await);
    assert!(m.contains("bastion") && m.contains("is not known"), "{m}");
    assert!(m.contains(&bastion_addr.to_string()), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_host_is_unreachable_via_keepalive() {
    let (client, sshd) = host();
    let opts = SshOptions {
        keepalive_interval: Duration::from_millis(500),
        keepalive_max: 2,
        ..client.options()
    };
    let t = SshConnector::new(opts)
        .unwrap()
        .connect(&sshd.target(&client.key))
        .await
        .unwrap();
    // A quiet command longer than the keepalive time survives while the host lives.
    let out = run(&t, "sleep 3; echo survived").await;
    assert_eq!(text(&out.stdout), "survived\n");

    let running = t.exec(ExecRequest::new("sleep 60"));
    let freeze = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        sshd.freeze();
    };
    let (r, ()) = tokio::join!(running, freeze);
    let m = unreachable(r);
    assert!(m.contains("keepalive") || m.contains("inactivity"), "{m}");
    // Later commands fail the same way, at once.
    let m = unreachable(t.exec(ExecRequest::new("true")).await);
    assert!(m.contains(&format!("{}", sshd.port)), "{m}");
}

/// The engine's "network cut mid-run" case, with a host in its own namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_whose_network_is_cut_is_unreachable() {
    let client = TestClient::new();
    let mut ns = Netns::new();
    let (_, addr) = ns.link_to_root();
    let sshd = SshdBuilder::new()
        .authorize(&client.key)
        .in_netns(&ns, addr)
        .start();
    client.trust(&sshd);
    let opts = SshOptions {
        keepalive_interval: Duration::from_millis(500),
        keepalive_max: 2,
        ..client.options()
    };
    let t = SshConnector::new(opts)
        .unwrap()
        .connect(&sshd.target(&client.key))
        .await
        .unwrap();
    assert_eq!(run(&t, "echo up").await.stdout, b"up\n");
    let running = t.exec(ExecRequest::new("sleep 60"));
    let cut = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        ns.set_link(false);
    };
    let (r, ()) = tokio::join!(running, cut);
    let m = unreachable(r);
    assert!(m.contains(&addr.to_string()), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_is_unreachable() {
    let client = TestClient::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = SshTarget {
        port: Some(port),
        user: Some("root".into()),
        identity_files: vec![client.key.path.clone()],
        ..SshTarget::new("127.0.0.1")
    };
    let start = Instant::now();
    let m = unreachable(
        SshConnector::new(client.options())
            .unwrap()
            .connect(&target)
            .await,
    );
    assert!(m.contains("connection refused"), "{m}");
    eprintln!("closed port reported in {:?}", start.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_dropped_by_max_startups_are_retried() {
    let client = TestClient::new();
    let sshd = SshdBuilder::new()
        .authorize(&client.key)
        .config("MaxStartups 1")
        .start();
    client.trust(&sshd);
    let opts = SshOptions {
        handshake_attempts: 8,
        ..client.options()
    };
    let connector = SshConnector::new(opts).unwrap();
    let target = sshd.target(&client.key);
    let conns = futures_join_all((0..6).map(|_| connector.connect(&target))).await;
    for c in conns {
        let t = c.unwrap();
        assert_eq!(run(&t, "echo ok").await.stdout, b"ok\n");
    }
    assert!(
        sshd.log().contains("past MaxStartups"),
        "the test must provoke drops:\n{}",
        sshd.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_command_is_stopped_and_the_connection_stays_usable() {
    let (client, sshd) = host();
    // sshd honours `signal` only for sessions with a privilege-separated child, i.e.
    // not for root logins ("session signalling requires privilege separation").
    let target = SshTarget {
        user: Some(PASSWORD_USER.into()),
        ..sshd.target(&client.key)
    };
    let t = SshConnector::new(client.options())
        .unwrap()
        .connect(&target)
        .await
        .unwrap();
    let r = exec_with_timeout(
        &t,
        ExecRequest::new("sleep 31.5; echo late"),
        Some(Duration::from_millis(500)),
    )
    .await;
    assert!(matches!(r, Err(TransportError::Timeout(_))), "{r:?}");
    // The remote command was sent TERM when its channel was abandoned.
    let mut gone = false;
    for _ in 0..50 {
        let out = run(&t, "pgrep -f 'sleep 31[.]5' || echo gone").await;
        if text(&out.stdout) == "gone\n" {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the timed-out command still runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_transport_refuses_further_commands() {
    let (client, sshd) = host();
    let t = connect(&client, &sshd).await;
    assert_eq!(run(&t, "echo ok").await.stdout, b"ok\n");
    t.close().await;
    let m = unreachable(t.exec(ExecRequest::new("true")).await);
    assert!(m.contains("closed"), "{m}");
}

/// Latency and controller CPU of sequential trivial commands on one connection.
/// `cargo test --release --test ssh_transport -- --ignored --nocapture latency`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn latency_of_1000_sequential_commands() {
    let (client, sshd) = host();
    let t = connect(&client, &sshd).await;
    for _ in 0..20 {
        run(&t, "true").await;
    }
    let n = 1000;
    let cpu0 = cpu_time();
    let start = Instant::now();
    for _ in 0..n {
        let out = run(&t, "true").await;
        assert_eq!(out.status, 0);
    }
    let wall = start.elapsed();
    let cpu = cpu_time() - cpu0;
    eprintln!(
        "{n} sequential `true`: {:.2} ms per command, controller CPU {:.3} ms per command",
        wall.as_secs_f64() * 1000.0 / f64::from(n),
        cpu.as_secs_f64() * 1000.0 / f64::from(n)
    );

    // Ten at a time on one connection.
    let cpu0 = cpu_time();
    let start = Instant::now();
    for _ in 0..n / 10 {
        let outs = futures_join_all((0..10).map(|_| t.exec(ExecRequest::new("true")))).await;
        assert!(outs.iter().all(|o| matches!(o, Ok(o) if o.status == 0)));
    }
    eprintln!(
        "{n} `true`, 10 concurrent: {:.2} ms per command, controller CPU {:.3} ms per command",
        start.elapsed().as_secs_f64() * 1000.0 / f64::from(n),
        (cpu_time() - cpu0).as_secs_f64() * 1000.0 / f64::from(n)
    );
}

fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// A transport whose uploads break after `limit` bytes of stdin, as a connection lost
/// or a controller stopped mid-upload would: the channel is closed without EOF from us.
struct CutAfter {
    inner: SshTransport,
    limit: u64,
}

/// Reads `limit` bytes of the inner reader, then fails.
struct FailingReader<'a> {
    inner: &'a mut (dyn tokio::io::AsyncRead + Send + Unpin),
    left: u64,
}

impl tokio::io::AsyncRead for FailingReader<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.left == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("cut by the test")));
        }
        let want = (self.left as usize).min(buf.remaining());
        let mut small = vec![0u8; want];
        let mut sub = tokio::io::ReadBuf::new(&mut small);
        std::task::ready!(std::pin::Pin::new(&mut *self.inner).poll_read(cx, &mut sub))?;
        let n = sub.filled().len();
        buf.put_slice(sub.filled());
        self.left -= n as u64;
        std::task::Poll::Ready(Ok(()))
    }
}

impl Transport for CutAfter {
    fn exec<'a>(
        &'a self,
        req: ExecRequest<'a>,
    ) -> rtmig::transport::BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(async move {
            let mut stdout = req.stdout;
            match req.stdin {
                Stdin::Reader(r) => {
                    let mut cut = FailingReader {
                        inner: r,
                        left: self.limit,
                    };
                    self.inner
                        .exec(ExecRequest {
                            command: req.command,
                            stdin: Stdin::Reader(&mut cut),
                            stdout: stdout.reborrow(),
                        })
                        .await
                }
                stdin => {
                    self.inner
                        .exec(ExecRequest {
                            command: req.command,
                            stdin,
                            stdout,
                        })
                        .await
                }
            }
        })
    }

    fn close(&self) -> rtmig::transport::BoxFuture<'_, ()> {
        self.inner.close()
    }
}

/// An upload broken mid-stream (here: after 5 of 24 MiB) must leave neither a
/// partial destination nor a temp file on the host, and keep the file it was to
/// replace; the same upload then lands whole and a rerun is `ok`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_broken_mid_stream_leaves_nothing_behind() {
    use rtmig::execute::files::{FileError, FileSpec, put_file};
    use rtmig::execute::remote::Remote;
    use rtmig::execute::shell::Become;

    let (client, sshd) = host();
    let t = connect(&client, &sshd).await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    let data = pseudo_random(24 << 20);
    std::fs::write(&src, &data).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let dest = out_dir.join("dest.bin");
    std::fs::write(&dest, "old\n").unwrap();
    let spec = FileSpec {
        dest: dest.display().to_string(),
        mode: Some("0644".into()),
        ..Default::default()
    };
    let remote = |transport| Remote {
        host: "h",
        transport,
        privilege: Become::default(),
        login_user: None,
        timeout: None,
        on_command: &|_| {},
    };

    let cut = CutAfter {
        inner: t.clone(),
        limit: 5 << 20,
    };
    let r = put_file(&remote(&cut), &src, &spec, false, false).await;
    assert!(
        matches!(r, Err(FileError::Transport(TransportError::Io(_)))),
        "{r:?}"
    );
    // The host notices the closed channel on its own time: wait for its clean-up.
    let listing = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    for _ in 0..100 {
        if listing() == ["dest.bin"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listing(), ["dest.bin"], "a temp file was left behind");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old\n");

    let o = put_file(&remote(&t), &src, &spec, false, false)
        .await
        .unwrap();
    assert!(o.changed);
    assert_eq!(
        sha256_hex(&std::fs::read(&dest).unwrap()),
        sha256_hex(&data)
    );
    let again = put_file(&remote(&t), &src, &spec, false, false)
        .await
        .unwrap();
    assert!(!again.changed, "an identical file must be `ok`");
    assert_eq!(listing(), ["dest.bin"]);
}

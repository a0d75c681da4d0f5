//! `rtmig run` and `rtmig status`: parse and plan, pick or continue a run directory,
//! wire the listeners, connect, schedule, and turn the outcome into an exit code.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::Status;
use crate::cli::{OutputFormat, RunArgs, StatusArgs};
use crate::execute::connections::Connections;
use crate::execute::live::LiveInventory;
use crate::execute::runner::Runner;
use crate::execute::scheduler::{ScheduledPlay, ScheduledTask, Scheduler};
use crate::execute::vars::RunVars;
use crate::report::journal::{
    JOURNAL_FILE, Journal, PlaybookVersion, Record, RunHeader, timestamp,
};
use crate::report::{Event, Listener, Redactor, Reporter, rundir};
use crate::transport::ssh::{SshConnector, SshOptions};

pub fn run(args: &RunArgs, verbose: u8) -> anyhow::Result<Status> {
    let loaded = super::load::load(&args.plan, args.start_at.as_deref())?;
    let target = &args.plan.target;

    // Secrets from the inventory are masked everywhere from here on.
    let mut redactor = Redactor::new();
    for host in loaded.inventory.host_names() {
        let c = loaded.inventory.connection(host);
        for secret in [c.password, c.become_password].into_iter().flatten() {
            redactor.add(&secret);
        }
    }
    // So are the values decrypted from the vault (`!vault` values, encrypted files).
    for secret in loaded.vault.revealed() {
        redactor.add(&secret);
    }
    let redactor = Arc::new(redactor);

    let playbook_bytes = std::fs::read(&target.playbook)
        .with_context(|| format!("cannot read `{}`", target.playbook.display()))?;
    let plays = &loaded.playbook.plays;
    let current = PlaybookVersion {
        playbook_digest: crate::execute::files::sha256_hex(&playbook_bytes),
        tasks: plays
            .iter()
            .map(|p| {
                p.tasks
                    .iter()
                    .map(|t| {
                        t.name
                            .as_ref()
                            .map(|n| n.value.clone())
                            .unwrap_or_else(|| t.action.name().to_string())
                    })
                    .collect()
            })
            .collect(),
        task_digests: plays
            .iter()
            .map(|p| p.tasks.iter().map(|t| t.digest.clone()).collect())
            .collect(),
    };

    // A check run never resumes and is never resumed: it changed nothing.
    let last = if args.check {
        None
    } else {
        rundir::last_run(&target.inventory, &target.playbook)?
    };
    let start = if args.check {
        rundir::Start::New
    } else {
        rundir::decide(
            last.as_ref().map(|(d, r)| (d.as_path(), r)),
            args.resume,
            args.fresh,
        )?
    };

    if !args.check && !args.yes && !args.resume && std::io::stdin().is_terminal() {
        let hosts: std::collections::BTreeSet<&String> =
            loaded.plan.plays.iter().flat_map(|p| &p.hosts).collect();
        eprint!(
            "Run `{}` on {} ({})? `rtmig plan` shows every step. [y/N] ",
            target.playbook.display(),
            crate::plural(hosts.len(), "host", "hosts"),
            crate::plural(loaded.plan.plays.len(), "play", "plays")
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("not run");
            return Ok(Status::Invalid);
        }
    }

    let (run_dir, journal, replay, resumed, run_id) = match start {
        rundir::Start::New => {
            let run_id = rundir::new_run_id();
            let dir = rundir::runs_dir(&target.inventory).join(&run_id);
            create_private_dir(&dir)?;
            let header = RunHeader {
                version: 1,
                run_id: run_id.clone(),
                inventory: rundir::canonical(&target.inventory),
                playbook: rundir::canonical(&target.playbook),
                playbook_version: current.clone(),
                limit: target.limit.clone(),
                check: args.check,
                started: timestamp(),
            };
            let journal = Journal::create(&dir.join(JOURNAL_FILE), &header)?;
            (dir, journal, None, false, run_id)
        }
        rundir::Start::Resume(dir) => {
            let Some((_, replay)) = last else {
                bail!("internal: no run to resume")
            };
            let before = &replay.header.playbook_version;
            let playbook_changed = before.playbook_digest != current.playbook_digest;
            if playbook_changed {
                let changed = rundir::changed_tasks(before, &current);
                if !args.allow_changed_playbook {
                    let what = if changed.is_empty() && !before.task_digests.is_empty() {
                        "  (no task changed: play settings, variables or comments did)".to_string()
                    } else if changed.is_empty() {
                        "  (the task names are the same; this run's journal predates task digests)"
                            .to_string()
                    } else {
                        changed
                            .iter()
                            .map(|c| format!("  {c}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    };
                    bail!(
                        "`{}` changed since the interrupted run {}:\n{what}\n\
                         rerun with --allow-changed-playbook to resume anyway (finished tasks are matched by position), \
                         or with --fresh to start over",
                        target.playbook.display(),
                        replay.header.run_id
                    );
                }
            }
            let journal = Journal::append_to(&dir.join(JOURNAL_FILE))?;
            // An accepted change is recorded: the next resume compares with this version.
            journal.record_durable_blocking(&Record::Resume {
                at: timestamp(),
                playbook: playbook_changed.then(|| current.clone()),
            })?;
            let run_id = replay.header.run_id.clone();
            (dir, journal, Some(replay), true, run_id)
        }
    };

    // The host logs first: at the end of the run they write their last lines before
    // the console's recap names any host whose log could not be written.
    let host_logs = crate::report::hostlog::HostLogs::new(&run_dir.join("hosts"))?;
    let log_failures = host_logs.failures();
    let mut listeners: Vec<Box<dyn Listener>> = vec![Box::new(host_logs)];
    match args.output {
        OutputFormat::Text => listeners.push(Box::new(
            crate::report::console::Console::new(verbose, true).with_log_failures(log_failures),
        )),
        OutputFormat::Json => listeners.push(Box::new(crate::report::json::JsonLines::new(
            std::io::stdout(),
        ))),
    }
    let in_flight = crate::report::inflight::InFlight::default();
    listeners.push(Box::new(in_flight.clone()));
    let reporter = Arc::new(Reporter::new(listeners));

    let stop = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;

    let connector = Arc::new(SshConnector::new(ssh_options(args, &loaded.inventory))?);
    let run_vars = Arc::new(RunVars::new(
        replay.as_ref().map(|r| r.vars.clone()).unwrap_or_default(),
    ));
    // The inventory as the interrupted run left it: its add_host/group_by again.
    let mut inventory = (*loaded.inventory).clone();
    for change in replay.iter().flat_map(|r| &r.inventory) {
        inventory.apply(change).map_err(|e| {
            anyhow::anyhow!("cannot restore the interrupted run's inventory change {change:?}: {e}")
        })?;
    }
    let live = Arc::new(LiveInventory::new(Arc::new(inventory)));
    let plan = Arc::new(loaded.plan);
    let mut runner = Runner::new(
        loaded.playbook.clone(),
        plan.clone(),
        live.clone(),
        loaded.templates.clone(),
        loaded.extra_vars.clone(),
        reporter.clone(),
        redactor.clone(),
        run_vars.clone(),
        Connections::new(connector, live),
    );
    runner.limit = target.limit.clone();
    runner.check = args.check;
    runner.diff = args.diff;
    runner.verbosity = verbose;
    runner.assume_yes = args.yes;
    runner.task_timeout = args.task_timeout.map(Duration::from_secs);
    let runner = Arc::new(runner);

    let plays: Vec<ScheduledPlay> = plan
        .plays
        .iter()
        .map(|p| ScheduledPlay {
            index: p.index,
            name: p.name.clone(),
            hosts: p.hosts.clone(),
            batches: p.batches.clone(),
            tasks: p
                .tasks
                .iter()
                .map(|t| ScheduledTask {
                    index: t.index,
                    name: t.name.clone(),
                    run_once: t.run_once,
                    span: t.span,
                })
                .collect(),
            any_errors_fatal: p.any_errors_fatal,
            max_fail_percentage: p.max_fail_percentage,
        })
        .collect();
    let hosts: std::collections::BTreeSet<&String> =
        plan.plays.iter().flat_map(|p| &p.hosts).collect();
    if let Some(warning) = crate::execute::limits::raise_open_files_limit()
        .and_then(|limits| crate::execute::limits::too_few_files(hosts.len(), limits))
    {
        reporter.emit(Event::Warning { message: warning });
    }
    reporter.emit(Event::RunStarted {
        run_id,
        playbook: target.playbook.clone(),
        run_dir: run_dir.clone(),
        check: args.check,
        resumed,
        hosts: hosts.len(),
    });

    let journal = Arc::new(journal);
    let scheduler = Scheduler::new(
        runner.clone(),
        reporter.clone(),
        journal.clone(),
        replay,
        run_vars,
        args.forks,
        stop.clone(),
    );
    let outcome = rt.block_on(async {
        watch_interrupts(stop.clone(), in_flight, (!args.check).then(resume_command))?;
        let r = scheduler.run(&plays).await;
        runner.connections.close_all().await;
        Ok::<_, anyhow::Error>(r?)
    });
    let (summary, recap) = outcome?;
    // Anything but success can be continued with --resume (check runs are never resumed).
    let resume_command = (summary.exit_code != 0 && !args.check).then(resume_command);
    if !summary.interrupted {
        journal.record_durable_blocking(&Record::End {
            exit_code: summary.exit_code,
            interrupted: false,
            at: timestamp(),
        })?;
    }
    reporter.emit(Event::RunFinished {
        recap,
        exit_code: summary.exit_code,
        interrupted: summary.interrupted,
        run_dir: run_dir.clone(),
        resume_command,
    });
    drop(rt);
    Ok(match summary.exit_code {
        0 => Status::Ok,
        2 => Status::HostFailed,
        4 => Status::Unreachable,
        99 => Status::Interrupted,
        _ => Status::Invalid,
    })
}

/// Ctrl-C (SIGINT) or SIGTERM: the first sets `stop` (no task starts any more; running
/// tasks finish or time out, and their outcomes reach the journal); the second exits at
/// once with [`Status::Interrupted`], naming the tasks it did not wait for. Every
/// finished task is already durably in the journal, so either way `--resume` continues
/// where each host stopped (an unfinished task runs again from its start).
fn watch_interrupts(
    stop: Arc<AtomicBool>,
    in_flight: crate::report::inflight::InFlight,
    resume: Option<String>,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Registered once, before the run starts, so no signal falls between two waits.
    let mut int = signal(SignalKind::interrupt()).context("cannot watch for Ctrl-C")?;
    let mut term = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = int.recv() => {}
                Some(()) = term.recv() => {}
                else => break,
            }
            if stop.swap(true, Ordering::SeqCst) {
                crate::transport::local::terminate_running();
                eprintln!(
                    "{}",
                    interrupted_again(&in_flight.snapshot(), resume.as_deref())
                );
                std::process::exit(Status::Interrupted as i32);
            }
            eprintln!(
                "\nInterrupted: no new task starts; running tasks finish or time out. Press Ctrl-C again to stop at once."
            );
        }
    });
    Ok(())
}

/// What a second Ctrl-C says: the tasks left running (their commands may go on on the
/// hosts, as after an interrupted `ansible-playbook`) and how to continue.
fn interrupted_again(running: &[(String, String)], resume: Option<&str>) -> String {
    let mut msg = String::from("\nInterrupted again: stopping now.");
    if !running.is_empty() {
        msg.push_str(" Not waited for (their commands may still be running on their hosts):");
        for (host, task) in running {
            msg.push_str(&format!("\n  {host}: {task}"));
        }
    }
    if let Some(resume) = resume {
        msg.push_str(&format!(
            "\nEvery finished task is in the journal; an unfinished one runs again from its start. To continue where each host stopped:\n  {resume}"
        ));
    }
    msg
}

/// This very command line with `--resume` (and without `--fresh`), quoted for a POSIX
/// shell, for the operator to copy.
fn resume_command() -> String {
    let mut words: Vec<String> = Vec::new();
    let mut has_resume = false;
    for (i, arg) in std::env::args_os().enumerate() {
        let arg = arg.to_string_lossy().into_owned();
        if i > 0 && arg == "--fresh" {
            continue;
        }
        has_resume |= i > 0 && arg == "--resume";
        words.push(crate::shell_words::quote(&arg));
    }
    if !has_resume {
        words.push("--resume".into());
    }
    words.join(" ")
}

/// SSH settings for the run: OpenSSH's defaults, the command line's, and what the
/// inventory's `ansible_ssh_common_args` say about host keys (`-o UserKnownHostsFile=`,
/// `-o StrictHostKeyChecking=accept-new`), as Ansible passes them to ssh.
fn ssh_options(args: &RunArgs, inventory: &crate::parse::inventory::Inventory) -> SshOptions {
    let mut opts = SshOptions {
        connect_timeout: Duration::from_secs(args.timeout.max(1)),
        keepalive_interval: Duration::from_secs(5),
        keepalive_max: 3,
        accept_new_host_keys: args.accept_new_host_keys,
        max_channels: 8,
        ..SshOptions::default()
    };
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for host in inventory.host_names() {
        for (key, value) in inventory.connection(host).ssh_options {
            match key.to_ascii_lowercase().as_str() {
                "userknownhostsfile" => {
                    for f in value.split_whitespace() {
                        let p = std::path::PathBuf::from(f);
                        if !files.contains(&p) {
                            files.push(p);
                        }
                    }
                }
                "stricthostkeychecking" if value.eq_ignore_ascii_case("accept-new") => {
                    opts.accept_new_host_keys = true;
                }
                _ => {}
            }
        }
    }
    if !files.is_empty() {
        // OpenSSH reads UserKnownHostsFile instead of ~/.ssh/known_hosts.
        files.extend(
            opts.known_hosts
                .into_iter()
                .filter(|p| !p.ends_with(".ssh/known_hosts")),
        );
        opts.known_hosts = files;
    }
    opts
}

/// The run directory holds registered results: keep it to its owner.
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the run directory `{}`", dir.display()))
}

pub fn status(args: &StatusArgs) -> anyhow::Result<Status> {
    match rundir::last_run(&args.inventory, &args.playbook)? {
        None => {
            println!(
                "no run of `{}` with inventory `{}` yet (runs are kept in {})",
                args.playbook.display(),
                args.inventory.display(),
                rundir::runs_dir(&args.inventory).display()
            );
        }
        Some((dir, replay)) => super::out(crate::report::status::render(&dir, &replay))?,
    }
    Ok(Status::Ok)
}

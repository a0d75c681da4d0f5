//! The actions, one file each, as Ansible keeps one `plugins/action/<name>.py` per
//! action. Adding an action means adding a file here and one line to [`run`].
//!
//! Every action has the same small shape:
//! - `run(cx, [remote,] args)`: renders the playbook's arguments with the task's
//!   variables (a [`Cx`]), then calls the action's body on plain values;
//! - the body (`shell`, `file`, `put_content`, ...): **query** the host (is it already
//!   as wanted?), then **act** only where it differs. Check mode and `--diff` come out
//!   of the same code: the query decides `changed` and the diff, and under `--check`
//!   the act is left out. Bodies are unit-tested on the local transport.
//!
//! Actions that need no host (`assert`, `debug`, `set_fact`, `add_host`, ...) run on
//! the controller and return a whole [`TaskOutcome`] (facts, inventory changes).
//! Loops, retries and judging the result (`failed_when`, `changed_when`, `until`,
//! `no_log`) are the runner's ([`super::runner`]), never an action's.

mod add_host;
mod assert;
mod blockinfile;
mod command;
mod copy;
mod debug;
mod edit;
mod fail;
mod fetch;
mod file;
mod group_by;
mod include;
mod include_vars;
mod lineinfile;
mod meta;
mod modprobe;
mod package;
mod pause;
mod replace;
mod set_fact;
mod slurp;
mod stat;
mod sysctl;
mod systemd;
mod template;
mod transfer;
mod unarchive;
mod uri;
mod wait_for;

mod cron;
mod mount;
mod service_facts;
mod timezone;

use std::time::Duration;

use serde_json::json;

pub use command::{ShellArgs, command_registered, shell};
pub use copy::{put_content, put_file};
pub use fetch::fetch;
pub use file::{FileState, file};
pub use transfer::transfer;
pub use wait_for::{WaitFor, wait_for};

use super::files::{self, FileSpec};
use super::remote::{Remote, TimeLimit};
use super::runner::Runner;
use super::scheduler::TaskOutcome;
use super::shell::Become;
use crate::parse::Location;
use crate::parse::inventory::InventoryChange;
use crate::parse::playbook::{Action, Expr, Number, Play, Task, Text};
use crate::report::{TaskResult, TaskStatus};
use crate::template::{Templates, Vars};
use crate::transport::TransportError;

/// A failure to render or evaluate something the task needs, located in the playbook.
#[derive(Debug)]
pub struct TaskError(pub String);

pub type TResult<T> = Result<T, TaskError>;

pub fn located(loc: &Location, e: impl std::fmt::Display) -> TaskError {
    TaskError(format!("{loc}: {e}"))
}

/// A template string of the playbook, rendered.
pub fn render_text(templates: &Templates, t: &Text, vars: &Vars) -> TResult<String> {
    templates
        .render_str(&t.value, vars)
        .map_err(|e| located(&t.location, e))
}

/// A number of the playbook, literal or rendered.
pub fn render_number(templates: &Templates, n: &Number, vars: &Vars) -> TResult<u64> {
    match n {
        Number::Literal(x) => Ok(*x),
        Number::Template(t) => {
            let s = render_text(templates, t, vars)?;
            s.trim()
                .parse::<u64>()
                .map_err(|_| located(&t.location, format!("expected a number, got `{s}`")))
        }
    }
}

/// Whether every condition holds (`when`, `until`, `failed_when`, ...).
pub fn conditions_hold(templates: &Templates, exprs: &[Expr], vars: &Vars) -> TResult<bool> {
    for e in exprs {
        let ok = templates
            .eval_condition(&serde_json::Value::String(e.value.clone()), vars)
            .map_err(|err| located(&e.location, format!("cannot evaluate `{}`: {err}", e.value)))?;
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What an action sees: the run, the host, the play and task, the task's variables.
pub struct Cx<'a> {
    pub runner: &'a Runner,
    pub host: &'a str,
    pub play: &'a Play,
    pub task: &'a Task,
    pub vars: &'a Vars,
}

impl Cx<'_> {
    pub fn templates(&self) -> &Templates {
        &self.runner.templates
    }

    pub fn text(&self, t: &Text) -> TResult<String> {
        render_text(self.templates(), t, self.vars)
    }

    /// An optional argument, rendered; `None` when not given or when it renders to
    /// `omit` (`"{{ x | default(omit) }}"`), as Ansible leaves such an argument out.
    pub fn opt_text(&self, t: &Option<Text>) -> TResult<Option<String>> {
        Ok(t.as_ref()
            .map(|t| self.text(t))
            .transpose()?
            .filter(|v| v != crate::template::OMIT))
    }

    pub fn number(&self, n: &Number) -> TResult<u64> {
        render_number(self.templates(), n, self.vars)
    }

    pub fn opt_number(&self, n: &Option<Number>) -> TResult<Option<u64>> {
        n.as_ref().map(|n| self.number(n)).transpose()
    }

    /// A boolean argument (`enabled: "{{ x }}"`), rendered; `default` when not given.
    pub fn flag(&self, t: &Option<Text>, default: bool) -> TResult<bool> {
        let (Some(t), Some(word)) = (t, self.opt_text(t)?) else {
            return Ok(default);
        };
        crate::words::boolean(&word).ok_or_else(|| {
            located(
                &t.location,
                format!("expected a boolean (true/false, yes/no), got `{word}`"),
            )
        })
    }

    /// A word out of `choices` (`state: "{{ svc_state }}"`), rendered; `default` when
    /// not given.
    pub fn choice(&self, t: &Option<Text>, choices: &[&str], default: &str) -> TResult<String> {
        let (Some(t), Some(word)) = (t, self.opt_text(t)?) else {
            return Ok(default.to_string());
        };
        if !choices.contains(&word.as_str()) {
            let list: Vec<String> = choices.iter().map(|c| format!("`{c}`")).collect();
            return Err(located(
                &t.location,
                format!("expected one of {}, got `{word}`", list.join(", ")),
            ));
        }
        Ok(word)
    }

    pub fn condition(&self, exprs: &[Expr]) -> TResult<bool> {
        conditions_hold(self.templates(), exprs, self.vars)
    }

    /// A structured argument (lists, maps), each string in it rendered.
    pub fn value(&self, data: &crate::parse::playbook::Data) -> TResult<serde_json::Value> {
        self.templates()
            .render_value(&data.value, self.vars)
            .map_err(|e| located(&data.location, e))
    }

    /// Where a file goes and its attributes, rendered: `[mode, owner, group]`.
    pub fn file_spec(
        &self,
        dest: &Text,
        attrs: [&Option<Text>; 3],
        backup: bool,
    ) -> TResult<FileSpec> {
        let [mode, owner, group] = attrs;
        Ok(FileSpec {
            dest: self.text(dest)?,
            mode: self.opt_text(mode)?,
            owner: self.opt_text(owner)?,
            group: self.opt_text(group)?,
            backup,
            validate: None,
        })
    }

    /// `--check`, for actions that change the host.
    pub fn check(&self) -> bool {
        self.runner.check
    }

    /// `--check`, for read-only tasks that may be marked to run for real in check mode
    /// (Ansible's `check_mode: false`); see [`Task`].
    pub fn check_unless_forced(&self) -> bool {
        self.runner.check && self.task.check_mode != Some(false)
    }

    /// Who to become on `host`: the task's, else the play's, else the inventory's.
    pub fn privilege(&self, host: &str) -> TResult<Become> {
        let conn = self.runner.inventory.get().connection(host);
        let enabled = self
            .task
            .become_
            .or(self.play.become_)
            .or(conn.become_)
            .unwrap_or(false);
        let user = match (&self.task.become_user, &self.play.become_user) {
            (Some(t), _) | (None, Some(t)) => Some(self.text(t)?),
            (None, None) => conn.become_user.clone(),
        };
        Ok(Become {
            enabled,
            user,
            password: conn.become_password.clone(),
        })
    }

    /// Apply what an `add_host`/`group_by` decided, at once: the tasks after it (on
    /// every host) and the plays that start later see it.
    pub fn change_inventory(&self, changes: &[InventoryChange]) -> TResult<bool> {
        self.runner
            .inventory
            .apply(changes)
            .map_err(|e| TaskError(format!("cannot change the inventory: {e}")))
    }
}

/// Run the task's action once (loops and retries are the runner's).
pub async fn run(cx: &Cx<'_>) -> TResult<TaskOutcome> {
    // Actions that need no host.
    match &cx.task.action {
        Action::Assert(a) => return assert::run(cx, a),
        Action::Fail(f) => return fail::run(cx, f),
        Action::Debug(d) => return debug::run(cx, d),
        Action::SetFact(sf) => return set_fact::run(cx, sf),
        Action::Pause(p) => return pause::run(cx, p).await,
        Action::AddHost(a) => return add_host::run(cx, a),
        Action::GroupBy(g) => return group_by::run(cx, g),
        Action::Meta(m) => return meta::run(cx, *m),
        Action::Include(i) => return include::run(cx, i),
        Action::IncludeVars(i) => return include_vars::run(cx, i),
        _ => {}
    }

    // Where it runs: the host, or its delegate.
    let runner = cx.runner;
    let task = cx.task;
    let exec_host = match &task.delegate_to {
        Some(t) => cx.text(t)?,
        None => cx.host.to_string(),
    };
    let transport = match runner.connections.get(&exec_host).await {
        Ok(t) => t,
        Err(e) => return Ok(TaskOutcome::plain(transport_failure(&e))),
    };
    let privilege = cx.privilege(&exec_host)?;
    let timeout = cx
        .opt_number(&task.timeout)?
        .map(Duration::from_secs)
        .or(runner.task_timeout)
        // `timeout: 0` means none, as in Ansible.
        .filter(|limit| !limit.is_zero())
        .map(TimeLimit::starting_now);
    let login_user = runner.inventory.get().connection(&exec_host).user;
    let no_log = task.no_log;
    let on_command = |cmd: &str| runner.emit_command(cx.host, cmd, no_log);
    let remote = Remote {
        host: &exec_host,
        transport: transport.as_ref(),
        privilege,
        login_user: login_user.as_deref(),
        timeout,
        on_command: &on_command,
    };
    let result = match &task.action {
        Action::Shell(c) | Action::Command(c) => command::run(cx, &remote, c).await?,
        Action::Template(t) => template::run(cx, &remote, t).await?,
        Action::Copy(c) => copy::run(cx, &remote, c).await?,
        Action::File(f) => file::run(cx, &remote, f).await?,
        Action::Fetch(f) => fetch::run(cx, &remote, f).await?,
        Action::Transfer(t) => transfer::run(cx, &remote, t).await?,
        Action::WaitFor(w) => wait_for::run(cx, &remote, w).await?,
        Action::LineInFile(l) => lineinfile::run(cx, &remote, l).await?,
        Action::Replace(r) => replace::run(cx, &remote, r).await?,
        Action::BlockInFile(b) => blockinfile::run(cx, &remote, b).await?,
        Action::Stat(s) => stat::run(cx, &remote, s).await?,
        Action::Slurp(s) => slurp::run(cx, &remote, s).await?,
        Action::Unarchive(u) => unarchive::run(cx, &remote, u).await?,
        Action::Systemd(s) => systemd::run(cx, &remote, s).await?,
        Action::Package(p) => package::run(cx, &remote, p).await?,
        Action::Sysctl(s) => sysctl::run(cx, &remote, s).await?,
        Action::Modprobe(m) => modprobe::run(cx, &remote, m).await?,
        Action::Uri(u) => uri::run(cx, &remote, u).await?,
        Action::Cron(c) => cron::run(cx, &remote, c).await?,
        Action::Mount(m) => mount::run(cx, &remote, m).await?,
        Action::Timezone(t) => timezone::run(cx, &remote, t).await?,
        Action::ServiceFacts => return service_facts::run(cx, &remote).await,
        Action::Assert(_)
        | Action::Fail(_)
        | Action::Debug(_)
        | Action::SetFact(_)
        | Action::Pause(_)
        | Action::AddHost(_)
        | Action::GroupBy(_)
        | Action::Meta(_) => unreachable_action(),
        Action::Include(_) | Action::IncludeVars(_) => unreachable_action(),
    };
    Ok(TaskOutcome::plain(result))
}

fn unreachable_action() -> TaskResult {
    TaskResult::new(TaskStatus::Failed).with_msg("internal: controller-only action reached a host")
}

/// A skipped result, registered as Ansible registers one.
pub fn skipped(msg: &str) -> TaskResult {
    let mut r = TaskResult::new(TaskStatus::Skipped).with_msg(msg);
    r.registered = json!({"skipped": true, "changed": false, "skip_reason": msg});
    r
}

/// `changed` or `ok`.
fn changed_or_ok(changed: bool) -> TaskStatus {
    if changed {
        TaskStatus::Changed
    } else {
        TaskStatus::Ok
    }
}

/// A transport failure as a task result: unreachable, or failed for a timeout.
pub fn transport_failure(err: &TransportError) -> TaskResult {
    let status = if err.is_unreachable() {
        TaskStatus::Unreachable
    } else {
        TaskStatus::Failed
    };
    TaskResult::new(status).with_msg(err.to_string())
}

/// A command's output as text.
fn output_text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The result of a file written to the host (`template`, `copy`, `transfer`).
fn file_result(outcome: Result<files::FileOutcome, files::FileError>, dest: &str) -> TaskResult {
    match outcome {
        Ok(o) => {
            let mut r = TaskResult::new(changed_or_ok(o.changed));
            r.diff = o.diff;
            r.registered = json!({"changed": o.changed, "dest": dest, "backup_file": o.backup, "failed": false});
            r
        }
        Err(files::FileError::Transport(e)) => transport_failure(&e),
        Err(e) => {
            let mut r = TaskResult::new(TaskStatus::Failed).with_msg(e.to_string());
            r.registered = json!({"changed": false, "failed": true, "msg": e.to_string()});
            r
        }
    }
}

/// A failed result with its message, registered as Ansible registers a module failure.
fn failure(msg: impl Into<String>) -> TaskResult {
    let msg = msg.into();
    let mut r = TaskResult::new(TaskStatus::Failed).with_msg(msg.clone());
    r.registered = json!({"changed": false, "failed": true, "msg": msg});
    r
}

/// A host's commands with the play's and task's `environment` exported first, as
/// Ansible gives every module the task's environment (the node modules run
/// `systemctl`, `apt-get`, `sysctl`, ... through it).
pub struct Host<'a> {
    pub remote: &'a Remote<'a>,
    /// `export K='V'; ` for each variable, or empty.
    pub exports: String,
}

impl Host<'_> {
    pub async fn run(&self, command: &str) -> Result<crate::transport::ExecOutput, TransportError> {
        self.remote.run(&format!("{}{command}", self.exports)).await
    }

    pub async fn run_with_stdin(
        &self,
        command: &str,
        stdin: &[u8],
    ) -> Result<crate::transport::ExecOutput, TransportError> {
        let line = format!("{}{command}", self.exports);
        self.remote
            .run_with(
                &line,
                crate::transport::Stdin::Bytes(stdin),
                crate::transport::Stdout::Capture,
            )
            .await
    }
}

impl Cx<'_> {
    /// The play's then the task's `environment` (the task's win), rendered, in order.
    pub fn environment(&self) -> TResult<Vec<(String, String)>> {
        let mut vars: indexmap::IndexMap<&str, String> = indexmap::IndexMap::new();
        for (k, v) in self.play.environment.iter().chain(&self.task.environment) {
            vars.insert(k, self.text(v)?);
        }
        Ok(vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// [`Cx::environment`] as `export`s.
    pub fn exports(&self) -> TResult<String> {
        Ok(self
            .environment()?
            .iter()
            .map(|(k, v)| format!("export {k}={}; ", crate::shell_words::quote(v)))
            .collect())
    }

    /// [`Host`] for the node modules.
    pub fn host<'r>(&self, remote: &'r Remote<'r>) -> TResult<Host<'r>> {
        Ok(Host {
            remote,
            exports: self.exports()?,
        })
    }
}

/// A [`Host`] on the controller whose `PATH` starts with `bin` (the fake `systemctl`,
/// `apt-get`, ... of a test).
#[cfg(test)]
pub(crate) fn fake_host<'a>(remote: &'a Remote<'a>, bin: &std::path::Path) -> Host<'a> {
    Host {
        remote,
        exports: format!(
            "export PATH={}:\"$PATH\"; ",
            crate::shell_words::quote(&bin.display().to_string())
        ),
    }
}

/// The fake node tools of `tests/fixtures/fakebin` (one copy, shared with the SSH
/// tests) installed in `dir/bin`; their state is kept in `dir/state`.
#[cfg(test)]
pub(crate) fn install_fakes(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    const FAKES: &[(&str, &str)] = &[
        (
            "systemctl",
            include_str!("../../../tests/fixtures/fakebin/systemctl"),
        ),
        (
            "sysctl",
            include_str!("../../../tests/fixtures/fakebin/sysctl"),
        ),
        (
            "lsmod",
            include_str!("../../../tests/fixtures/fakebin/lsmod"),
        ),
        (
            "modprobe",
            include_str!("../../../tests/fixtures/fakebin/modprobe"),
        ),
        (
            "dpkg-query",
            include_str!("../../../tests/fixtures/fakebin/dpkg-query"),
        ),
        (
            "apt-get",
            include_str!("../../../tests/fixtures/fakebin/apt-get"),
        ),
        (
            "crontab",
            include_str!("../../../tests/fixtures/fakebin/crontab"),
        ),
        (
            "timedatectl",
            include_str!("../../../tests/fixtures/fakebin/timedatectl"),
        ),
        (
            "mount",
            include_str!("../../../tests/fixtures/fakebin/mount"),
        ),
        (
            "umount",
            include_str!("../../../tests/fixtures/fakebin/umount"),
        ),
    ];
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("test bin dir");
    std::fs::create_dir_all(dir.join("state")).expect("test state dir");
    for (name, script) in FAKES {
        let p = bin.join(name);
        std::fs::write(&p, script).expect("fake tool");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    bin
}

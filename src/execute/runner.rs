//! The task runner: runs one task of the playbook on one host. It assembles the host's
//! variables (Ansible's precedence), evaluates `when`, renders the action's arguments,
//! runs the action over the host's connection (or its `delegate_to`), and applies
//! `loop`, `until`/`retries`, `changed_when`/`failed_when`, `register`, `ignore_errors`
//! and `no_log`. Connections are opened once per host, on first use, and shared.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::actions::{self, ShellArgs};
use super::facts;
use super::files::FileSpec;
use super::live::{LiveInventory, PlaySource, name_list};
use super::remote::{Remote, TimeLimit};
use super::scheduler::{TaskOutcome, TaskRunner};
use super::shell::{Become, quote, split_words};
use super::vars::{HostVars, RunVars};
use crate::parse::inventory::{Inventory, InventoryChange};
use crate::parse::playbook::{
    Action, AddHost, CopySource, DebugWhat, Expr, GroupBy, Number, Play, Playbook, Task, Text,
    WaitState, WaitTarget,
};
use crate::plan::{Plan, PlayHosts};
use crate::report::{Event, Redactor, Reporter, TaskResult, TaskStatus};
use crate::template::{Templates, Vars};
use crate::transport::local::LocalTransport;
use crate::transport::ssh::{SshConnector, SshTarget};
use crate::transport::{BoxFuture, Transport, TransportError};

const NO_LOG_MSG: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

/// Everything a run's tasks need, shared by all hosts.
pub struct Runner {
    pub playbook: Arc<Playbook>,
    pub plan: Arc<Plan>,
    /// The inventory as `add_host` and `group_by` leave it.
    pub inventory: Arc<LiveInventory>,
    pub templates: Arc<Templates>,
    /// `--limit`: plays that choose their hosts when they start stay within it.
    pub limit: Option<String>,
    pub extra_vars: HostVars,
    pub check: bool,
    pub diff: bool,
    pub verbosity: u8,
    /// `--yes`: `pause` prompts continue without asking.
    pub assume_yes: bool,
    /// `--task-timeout`: the time limit of tasks without a `timeout` of their own.
    pub task_timeout: Option<Duration>,
    pub reporter: Arc<Reporter>,
    pub redactor: Arc<Redactor>,
    pub run_vars: Arc<RunVars>,
    pub connections: Connections,
    /// Per host, tagged with the inventory generation it was built from.
    base: Mutex<(u64, HashMap<String, Arc<HostVars>>)>,
    play_layers: Mutex<HashMap<usize, Arc<HostVars>>>,
    extra_layer: Arc<HostVars>,
    mentions_hostvars: Mutex<HashMap<(usize, usize), bool>>,
    /// `groups`, one layer shared by every host: a copy per host would make memory
    /// grow with hosts × hosts. Tagged with the inventory generation.
    groups_layer: Mutex<(u64, Arc<HostVars>)>,
    /// The hosts and batches each play started with (decided when it started).
    play_hosts: Mutex<HashMap<usize, PlayHosts>>,
    /// The play's magic host lists (`ansible_play_hosts`, `ansible_play_batch`, ...)
    /// by play and batch, shared by the hosts of the batch for the same reason.
    play_magic: Mutex<HashMap<(usize, Option<usize>), Arc<HostVars>>>,
}

/// One connection per host, opened on first use; a failure is remembered so an
/// unreachable host is not retried by every task.
pub struct Connections {
    connector: Arc<SshConnector>,
    inventory: Arc<LiveInventory>,
    cache: Mutex<HashMap<String, Arc<OnceCell<Result<Arc<dyn Transport>, String>>>>>,
}

impl Connections {
    pub fn new(connector: Arc<SshConnector>, inventory: Arc<LiveInventory>) -> Self {
        Connections {
            connector,
            inventory,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `host` runs on the controller: `localhost` (Ansible's implicit one) or
    /// `ansible_connection: local`.
    pub fn is_local(&self, host: &str) -> bool {
        let conn = self.inventory.get().connection(host);
        match conn.connection.as_deref() {
            Some("local") => true,
            Some(_) => false,
            None => matches!(host, "localhost" | "127.0.0.1" | "::1") && conn.host.is_none(),
        }
    }

    pub fn target(&self, host: &str) -> SshTarget {
        let c = self.inventory.get().connection(host);
        SshTarget {
            name: host.to_string(),
            host: c.host.clone().unwrap_or_else(|| host.to_string()),
            port: c.port,
            user: c.user.clone(),
            identity_files: c.private_key_file.iter().cloned().collect(),
            password: c.password.clone(),
            proxy_jump: c.proxy_jump.clone(),
        }
    }

    pub async fn get(&self, host: &str) -> Result<Arc<dyn Transport>, TransportError> {
        let cell = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.entry(host.to_string()).or_default().clone()
        };
        let r = cell
            .get_or_init(|| async {
                if self.is_local(host) {
                    return Ok(Arc::new(LocalTransport) as Arc<dyn Transport>);
                }
                self.connector
                    .connect(&self.target(host))
                    .await
                    .map(|t| Arc::new(t) as Arc<dyn Transport>)
                    .map_err(|e| e.to_string())
            })
            .await;
        r.clone().map_err(TransportError::Unreachable)
    }

    pub async fn close_all(&self) {
        let cells: Vec<_> = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for cell in cells {
            if let Some(Ok(t)) = cell.get() {
                t.close().await;
            }
        }
    }
}

/// A failure to render or evaluate something the task needs, located in the playbook.
#[derive(Debug)]
struct TaskError(String);

type TResult<T> = Result<T, TaskError>;

fn located(loc: &crate::parse::Location, e: impl std::fmt::Display) -> TaskError {
    TaskError(format!("{loc}: {e}"))
}

impl Runner {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        playbook: Arc<Playbook>,
        plan: Arc<Plan>,
        inventory: Arc<LiveInventory>,
        templates: Arc<Templates>,
        extra_vars: HostVars,
        reporter: Arc<Reporter>,
        redactor: Arc<Redactor>,
        run_vars: Arc<RunVars>,
        connections: Connections,
    ) -> Self {
        let groups_layer = Mutex::new((inventory.generation(), groups_layer(&inventory.get())));
        let extra_layer = Arc::new(extra_vars.clone());
        Runner {
            extra_layer,
            playbook,
            plan,
            inventory,
            templates,
            limit: None,
            extra_vars,
            check: false,
            diff: false,
            verbosity: 0,
            assume_yes: false,
            task_timeout: None,
            reporter,
            redactor,
            run_vars,
            connections,
            base: Mutex::new((0, HashMap::new())),
            play_layers: Mutex::new(HashMap::new()),
            mentions_hostvars: Mutex::new(HashMap::new()),
            groups_layer,
            play_hosts: Mutex::new(HashMap::new()),
            play_magic: Mutex::new(HashMap::new()),
        }
    }

    /// The inventory as it stands (after the run's `add_host`/`group_by`).
    fn inv(&self) -> Arc<Inventory> {
        self.inventory.get()
    }

    /// `groups` as the inventory stands.
    fn groups(&self) -> Arc<HostVars> {
        let generation = self.inventory.generation();
        let mut cached = self.groups_layer.lock().unwrap_or_else(|p| p.into_inner());
        if cached.0 != generation {
            *cached = (generation, groups_layer(&self.inv()));
        }
        cached.1.clone()
    }

    /// Apply what an `add_host`/`group_by` decided, at once: the tasks after it (on
    /// every host) and the plays that start later see it.
    fn change_inventory(&self, changes: &[InventoryChange]) -> TResult<bool> {
        self.inventory
            .apply(changes)
            .map_err(|e| TaskError(format!("cannot change the inventory: {e}")))
    }

    /// Inventory variables plus the magic ones that never change during a run.
    fn base_vars(&self, host: &str) -> Arc<HostVars> {
        let generation = self.inventory.generation();
        {
            let mut cache = self.base.lock().unwrap_or_else(|p| p.into_inner());
            if cache.0 != generation {
                *cache = (generation, HashMap::new());
            }
            if let Some(v) = cache.1.get(host) {
                return v.clone();
            }
        }
        let inventory = self.inv();
        let mut v = inventory.host_vars(host);
        v.insert("inventory_hostname".into(), json!(host));
        v.insert(
            "inventory_hostname_short".into(),
            json!(host.split('.').next().unwrap_or(host)),
        );
        v.insert("group_names".into(), json!(inventory.group_names(host)));
        v.insert(
            "playbook_dir".into(),
            json!(self.playbook.dir.display().to_string()),
        );
        v.insert("ansible_check_mode".into(), json!(self.check));
        v.insert("ansible_diff_mode".into(), json!(self.diff));
        v.insert("ansible_verbosity".into(), json!(self.verbosity));
        let v = Arc::new(v);
        let mut cache = self.base.lock().unwrap_or_else(|p| p.into_inner());
        if cache.0 == generation {
            cache.1.insert(host.to_string(), v.clone());
        }
        v
    }

    /// Variables a task sees, in layers, lowest precedence first: inventory (with the
    /// magic variables), play vars, task vars, what the run set (facts, registered,
    /// set_fact: data, never rendered), extra vars. Template strings in vars are
    /// rendered when a template looks them up, as Ansible's lazy variables are.
    fn task_vars(
        &self,
        host: &str,
        play_idx: usize,
        task: Option<&Task>,
        run: &HostVars,
    ) -> TResult<Vars> {
        let mut v = Vars::new();
        v.push_layer(self.base_vars(host));
        // Above the inventory's variables, as the magic ones in `base_vars` are.
        v.push_layer(self.groups());
        v.push_layer(self.play_layer(play_idx));
        v.push_raw_layer(self.play_magic(play_idx, host));
        if let Some(task) = task {
            if !task.vars.is_empty() {
                let layer: HostVars = task
                    .vars
                    .iter()
                    .map(|(k, d)| (k.clone(), d.value.clone()))
                    .collect();
                v.push_layer(layer);
            }
        }
        if !run.is_empty() {
            v.push_raw_layer(run.clone());
        }
        if !self.extra_layer.is_empty() {
            v.push_layer(self.extra_layer.clone());
        }
        if let Some(task) = task {
            if self.task_mentions_hostvars(play_idx, task) {
                v.set_hostvars(self.hostvars());
            }
        }
        Ok(v)
    }

    /// The magic variables naming the hosts of `host`'s play and batch, built once per
    /// batch and shared by its hosts.
    fn play_magic(&self, play_idx: usize, host: &str) -> Arc<HostVars> {
        // The hosts the play started with, else (a play not started: facts gathering
        // of a test runner) the plan's.
        let started = self
            .play_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&play_idx)
            .map(|p| (p.hosts.clone(), p.batches.clone()));
        let pp = started.or_else(|| {
            self.plan
                .plays
                .iter()
                .find(|p| p.index == play_idx)
                .map(|p| (p.hosts.clone(), p.batches.clone()))
        });
        let batch = pp
            .as_ref()
            .and_then(|(_, batches)| batches.iter().position(|b| b.iter().any(|h| h == host)));
        let mut cache = self.play_magic.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry((play_idx, batch))
            .or_insert_with(|| {
                let mut magic = HostVars::new();
                if let Some((hosts, batches)) = &pp {
                    magic.insert("ansible_play_hosts".into(), json!(hosts));
                    magic.insert("ansible_play_hosts_all".into(), json!(hosts));
                    magic.insert("play_hosts".into(), json!(hosts));
                    if let Some(b) = batch.and_then(|b| batches.get(b)) {
                        magic.insert("ansible_play_batch".into(), json!(b));
                    }
                }
                Arc::new(magic)
            })
            .clone()
    }

    /// A play's vars as written (templates rendered on use), shared by all its hosts.
    fn play_layer(&self, play_idx: usize) -> Arc<HostVars> {
        let mut cache = self.play_layers.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(play_idx)
            .or_insert_with(|| {
                Arc::new(
                    self.playbook.plays[play_idx]
                        .vars
                        .iter()
                        .map(|(k, d)| (k.clone(), d.value.clone()))
                        .collect(),
                )
            })
            .clone()
    }

    fn task_mentions_hostvars(&self, play_idx: usize, task: &Task) -> bool {
        let key = (play_idx, task.location.line as usize);
        let mut cache = self
            .mentions_hostvars
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *cache.entry(key).or_insert_with(|| {
            format!("{task:?}").contains("hostvars")
                || self.playbook.plays[play_idx]
                    .vars
                    .values()
                    .any(|d| d.value.to_string().contains("hostvars"))
        })
    }

    /// Every host's variables for `hostvars[host]`: inventory, the play vars of no
    /// play (as Ansible's hostvars hold inventory and host facts), and what the run set.
    fn hostvars(&self) -> Arc<indexmap::IndexMap<String, Vars>> {
        let run = self.run_vars.snapshot();
        let mut all = indexmap::IndexMap::new();
        let groups = self.groups();
        for h in self.inv().host_names() {
            let mut v = Vars::new();
            v.push_layer(self.base_vars(h));
            v.push_layer(groups.clone());
            if let Some(r) = run.get(h) {
                v.push_raw_layer(r.clone());
            }
            all.insert(h.to_string(), v);
        }
        Arc::new(all)
    }

    fn text(&self, t: &Text, vars: &Vars) -> TResult<String> {
        self.templates
            .render_str(&t.value, vars)
            .map_err(|e| located(&t.location, e))
    }

    fn opt_text(&self, t: &Option<Text>, vars: &Vars) -> TResult<Option<String>> {
        t.as_ref().map(|t| self.text(t, vars)).transpose()
    }

    /// Where a file goes and its attributes, rendered: `[mode, owner, group]`.
    fn file_spec(
        &self,
        dest: &Text,
        attrs: [&Option<Text>; 3],
        backup: bool,
        vars: &Vars,
    ) -> TResult<FileSpec> {
        let [mode, owner, group] = attrs;
        Ok(FileSpec {
            dest: self.text(dest, vars)?,
            mode: self.opt_text(mode, vars)?,
            owner: self.opt_text(owner, vars)?,
            group: self.opt_text(group, vars)?,
            backup,
        })
    }

    fn number(&self, n: &Number, vars: &Vars) -> TResult<u64> {
        match n {
            Number::Literal(x) => Ok(*x),
            Number::Template(t) => {
                let s = self.text(t, vars)?;
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| located(&t.location, format!("expected a number, got `{s}`")))
            }
        }
    }

    fn condition(&self, exprs: &[Expr], vars: &Vars) -> TResult<bool> {
        for e in exprs {
            let ok = self
                .templates
                .eval_condition(&Value::String(e.value.clone()), vars)
                .map_err(|err| {
                    located(&e.location, format!("cannot evaluate `{}`: {err}", e.value))
                })?;
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn privilege(&self, host: &str, play: &Play, task: &Task, vars: &Vars) -> TResult<Become> {
        let conn = self.inv().connection(host);
        let enabled = task
            .become_
            .or(play.become_)
            .or(conn.become_)
            .unwrap_or(false);
        let user = match (&task.become_user, &play.become_user) {
            (Some(t), _) | (None, Some(t)) => Some(self.text(t, vars)?),
            (None, None) => conn.become_user.clone(),
        };
        Ok(Become {
            enabled,
            user,
            password: conn.become_password.clone(),
        })
    }

    fn emit_command(&self, host: &str, command: &str, no_log: bool) {
        let command = if no_log {
            "<hidden by no_log>".to_string()
        } else {
            self.redactor.redact(command).into_owned()
        };
        self.reporter.emit(Event::CommandStarted {
            host: host.to_string(),
            command,
        });
    }

    async fn run(
        &self,
        host: &str,
        play_idx: usize,
        task_idx: usize,
        run: HostVars,
    ) -> TaskOutcome {
        let started = Instant::now();
        let play = &self.playbook.plays[play_idx];
        let task = &play.tasks[task_idx];
        let mut outcome = match self.run_inner(host, play_idx, task, &run).await {
            Ok(o) => o,
            Err(TaskError(msg)) => {
                TaskOutcome::plain(TaskResult::new(TaskStatus::Failed).with_msg(msg))
            }
        };
        let r = &mut outcome.result;
        if r.status == TaskStatus::Failed && task.ignore_errors {
            r.ignored = true;
        }
        r.duration_ms = started.elapsed().as_millis() as u64;
        if task.no_log {
            r.msg = Some(NO_LOG_MSG.into());
            r.stdout.clear();
            r.stderr.clear();
            r.cmd = None;
            r.diff = None;
        } else if !self.redactor.is_empty() {
            r.msg = r
                .msg
                .as_deref()
                .map(|m| self.redactor.redact(m).into_owned());
            r.stdout = self.redactor.redact(&r.stdout).into_owned();
            r.stderr = self.redactor.redact(&r.stderr).into_owned();
            r.cmd = r
                .cmd
                .as_deref()
                .map(|m| self.redactor.redact(m).into_owned());
            r.diff = r
                .diff
                .as_deref()
                .map(|m| self.redactor.redact(m).into_owned());
        }
        if let Some(name) = &task.register {
            let mut value = std::mem::take(&mut r.registered);
            if !value.is_object() {
                value = json!({});
            }
            if let Some(obj) = value.as_object_mut() {
                obj.insert("changed".into(), json!(r.status == TaskStatus::Changed));
                obj.insert("failed".into(), json!(r.status == TaskStatus::Failed));
                obj.insert("skipped".into(), json!(r.status == TaskStatus::Skipped));
                if let Some(msg) = &r.msg {
                    obj.entry("msg").or_insert(json!(msg));
                }
            }
            outcome.register = Some((name.clone(), self.redactor.redact_value(&value)));
        }
        outcome.result.registered = Value::Null;
        outcome
    }

    async fn run_inner(
        &self,
        host: &str,
        play_idx: usize,
        task: &Task,
        run: &HostVars,
    ) -> TResult<TaskOutcome> {
        let mut vars = self.task_vars(host, play_idx, Some(task), run)?;
        let Some(lp) = &task.loop_ else {
            if !self.condition(&task.when, &vars)? {
                return Ok(TaskOutcome::plain(skipped("conditional result was false")));
            }
            return self.run_with_retries(host, play_idx, task, &vars).await;
        };
        let items = self
            .templates
            .render_value(&lp.items.value, &vars)
            .map_err(|e| located(&lp.items.location, e))?;
        let mut items = match items {
            Value::Array(a) => a,
            Value::Null => vec![],
            other => {
                return Err(located(
                    &lp.items.location,
                    format!("`loop` needs a list, got {other}"),
                ));
            }
        };
        if lp.flatten {
            items = items
                .into_iter()
                .flat_map(|i| if let Value::Array(a) = i { a } else { vec![i] })
                .collect();
        }
        let mut results = Vec::new();
        let mut facts = HostVars::new();
        let mut inventory = Vec::new();
        let mut any_changed = false;
        let mut failed: Option<TaskResult> = None;
        let mut unreachable: Option<TaskResult> = None;
        let mut stdout = String::new();
        for item in items {
            vars.insert_raw(lp.loop_var.clone(), item.clone());
            if !self.condition(&task.when, &vars)? {
                results.push(json!({"item": item, "skipped": true, "changed": false}));
                continue;
            }
            let o = self.run_with_retries(host, play_idx, task, &vars).await?;
            let r = o.result;
            facts.extend(o.facts);
            inventory.extend(o.inventory);
            let mut reg = if r.registered.is_object() {
                r.registered.clone()
            } else {
                json!({})
            };
            if let Some(obj) = reg.as_object_mut() {
                obj.insert("item".into(), item.clone());
                obj.insert("changed".into(), json!(r.status == TaskStatus::Changed));
                obj.insert("failed".into(), json!(r.status == TaskStatus::Failed));
            }
            results.push(reg);
            if !r.stdout.is_empty() {
                stdout.push_str(&r.stdout);
            }
            any_changed |= r.status == TaskStatus::Changed;
            match r.status {
                TaskStatus::Unreachable => {
                    unreachable = Some(r);
                    break;
                }
                TaskStatus::Failed if failed.is_none() => failed = Some(r),
                _ => {}
            }
        }
        let all_skipped = results.iter().all(|r| r["skipped"] == json!(true));
        let mut result = if let Some(r) = unreachable {
            r
        } else if let Some(r) = failed {
            let mut f = TaskResult::new(TaskStatus::Failed);
            f.msg = Some(format!(
                "one or more items failed: {}",
                r.msg.unwrap_or_default()
            ));
            f.rc = r.rc;
            f.stderr = r.stderr;
            f
        } else if all_skipped {
            skipped("all items were skipped")
        } else {
            TaskResult::new(if any_changed {
                TaskStatus::Changed
            } else {
                TaskStatus::Ok
            })
        };
        result.stdout = stdout;
        result.registered =
            json!({"results": results, "changed": any_changed, "msg": "All items completed"});
        Ok(TaskOutcome {
            result,
            register: None,
            facts,
            inventory,
        })
    }

    async fn run_with_retries(
        &self,
        host: &str,
        play_idx: usize,
        task: &Task,
        vars: &Vars,
    ) -> TResult<TaskOutcome> {
        let attempts = if task.until.is_empty() {
            1
        } else {
            task.retries
                .as_ref()
                .map(|n| self.number(n, vars))
                .transpose()?
                .unwrap_or(3)
                + 1
        };
        let delay = Duration::from_secs(
            task.delay
                .as_ref()
                .map(|n| self.number(n, vars))
                .transpose()?
                .unwrap_or(5),
        );
        let mut attempt = 1;
        loop {
            let mut o = self.run_action(host, play_idx, task, vars).await?;
            self.judge(task, &mut o.result, vars)?;
            if task.until.is_empty()
                || matches!(
                    o.result.status,
                    TaskStatus::Unreachable | TaskStatus::Skipped
                )
            {
                return Ok(o);
            }
            let mut scope = vars.clone();
            for (k, v) in &o.facts {
                scope.insert_raw(k.clone(), v.clone());
            }
            if let Some(name) = &task.register {
                scope.insert_raw(name.clone(), with_status(&o.result));
            }
            if self.condition(&task.until, &scope)? {
                if let Some(obj) = o.result.registered.as_object_mut() {
                    obj.insert("attempts".into(), json!(attempt));
                }
                return Ok(o);
            }
            if attempt >= attempts {
                o.result.status = TaskStatus::Failed;
                let conds: Vec<&str> = task.until.iter().map(|e| e.value.as_str()).collect();
                o.result.msg = Some(format!(
                    "gave up after {attempt} attempts: `{}` is still false{}",
                    conds.join(" and "),
                    o.result
                        .msg
                        .as_deref()
                        .map(|m| format!(" (last result: {m})"))
                        .unwrap_or_default()
                ));
                if let Some(obj) = o.result.registered.as_object_mut() {
                    obj.insert("attempts".into(), json!(attempt));
                }
                return Ok(o);
            }
            attempt += 1;
            tokio::time::sleep(delay).await;
        }
    }

    /// `changed_when` and `failed_when`, evaluated with the result under its `register`
    /// name, as Ansible does.
    fn judge(&self, task: &Task, r: &mut TaskResult, vars: &Vars) -> TResult<()> {
        if matches!(r.status, TaskStatus::Unreachable | TaskStatus::Skipped)
            || (task.changed_when.is_empty() && task.failed_when.is_empty())
        {
            return Ok(());
        }
        let mut scope = vars.clone();
        if let Some(name) = &task.register {
            scope.insert_raw(name.clone(), with_status(r));
        }
        if !task.changed_when.is_empty() && r.status != TaskStatus::Failed {
            let changed = self.condition(&task.changed_when, &scope)?;
            r.status = if changed {
                TaskStatus::Changed
            } else {
                TaskStatus::Ok
            };
        }
        if !task.failed_when.is_empty() {
            let failed = self.condition(&task.failed_when, &scope)?;
            if failed {
                r.status = TaskStatus::Failed;
                let conds: Vec<&str> = task.failed_when.iter().map(|e| e.value.as_str()).collect();
                if r.msg.is_none() || r.msg.as_deref() == Some("non-zero return code") {
                    r.msg = Some(format!("failed_when: `{}` is true", conds.join(" and ")));
                }
            } else if r.status == TaskStatus::Failed {
                r.msg = None;
                r.status = if task.changed_when.is_empty()
                    || self.condition(&task.changed_when, &scope)?
                {
                    TaskStatus::Changed
                } else {
                    TaskStatus::Ok
                };
            }
        }
        Ok(())
    }

    async fn run_action(
        &self,
        host: &str,
        play_idx: usize,
        task: &Task,
        vars: &Vars,
    ) -> TResult<TaskOutcome> {
        let play = &self.playbook.plays[play_idx];
        // Actions that need no host.
        match &task.action {
            Action::Assert(a) => {
                for e in &a.that {
                    if !self.condition(std::slice::from_ref(e), vars)? {
                        let msg = match &a.fail_msg {
                            Some(t) => self.text(t, vars)?,
                            None => format!("Assertion failed: `{}`", e.value),
                        };
                        let mut r = TaskResult::new(TaskStatus::Failed).with_msg(msg);
                        r.registered = json!({"assertion": e.value, "evaluated_to": false});
                        return Ok(TaskOutcome::plain(r));
                    }
                }
                let msg = match &a.success_msg {
                    Some(t) => self.text(t, vars)?,
                    None => "All assertions passed".into(),
                };
                return Ok(TaskOutcome::plain(
                    TaskResult::new(TaskStatus::Ok).with_msg(msg),
                ));
            }
            Action::Fail(f) => {
                let msg = self
                    .opt_text(&f.msg, vars)?
                    .unwrap_or_else(|| "Failed as requested from task".into());
                return Ok(TaskOutcome::plain(
                    TaskResult::new(TaskStatus::Failed).with_msg(msg),
                ));
            }
            Action::Debug(d) => {
                if d.verbosity > self.verbosity {
                    return Ok(TaskOutcome::plain(skipped("verbosity threshold not met")));
                }
                let msg = match &d.what {
                    DebugWhat::Msg(data) => {
                        match self
                            .templates
                            .render_value(&data.value, vars)
                            .map_err(|e| located(&data.location, e))?
                        {
                            Value::String(s) => s,
                            other => serde_json::to_string_pretty(&other).unwrap_or_default(),
                        }
                    }
                    DebugWhat::Var(e) => {
                        let v = self
                            .templates
                            .eval_expr(&e.value, vars)
                            .map_err(|err| located(&e.location, err))?;
                        format!(
                            "{}: {}",
                            e.value,
                            serde_json::to_string_pretty(&v).unwrap_or_default()
                        )
                    }
                };
                let mut r = TaskResult::new(TaskStatus::Ok).with_msg(msg.clone());
                r.registered = json!({"msg": msg});
                return Ok(TaskOutcome::plain(r));
            }
            Action::SetFact(sf) => {
                let mut scope = vars.clone();
                let mut facts = HostVars::new();
                for (k, data) in &sf.facts {
                    let v = self
                        .templates
                        .render_value(&data.value, &scope)
                        .map_err(|e| located(&data.location, e))?;
                    scope.insert(k.clone(), v.clone());
                    facts.insert(k.clone(), v);
                }
                let mut r = TaskResult::new(TaskStatus::Ok);
                r.registered = json!({"ansible_facts": facts});
                return Ok(TaskOutcome {
                    result: r,
                    register: None,
                    facts,
                    inventory: Vec::new(),
                });
            }
            Action::Pause(p) => return self.pause(p, vars).await,
            Action::AddHost(a) => return self.add_host(a, vars),
            Action::GroupBy(g) => return self.group_by(host, g, vars),
            _ => {}
        }

        // Where it runs: the host, or its delegate.
        let exec_host = match &task.delegate_to {
            Some(t) => self.text(t, vars)?,
            None => host.to_string(),
        };
        let transport = match self.connections.get(&exec_host).await {
            Ok(t) => t,
            Err(e) => return Ok(TaskOutcome::plain(actions::transport_failure(&e))),
        };
        let privilege = self.privilege(&exec_host, play, task, vars)?;
        let timeout = task
            .timeout
            .as_ref()
            .map(|n| self.number(n, vars))
            .transpose()?
            .map(Duration::from_secs)
            .or(self.task_timeout)
            // `timeout: 0` means none, as in Ansible.
            .filter(|limit| !limit.is_zero())
            .map(TimeLimit::starting_now);
        let login_user = self.inv().connection(&exec_host).user;
        let no_log = task.no_log;
        let on_command = |cmd: &str| self.emit_command(host, cmd, no_log);
        let remote = Remote {
            host: &exec_host,
            transport: transport.as_ref(),
            privilege,
            login_user: login_user.as_deref(),
            timeout,
            on_command: &on_command,
        };
        let check = self.check;
        let result = match &task.action {
            Action::Shell(c) | Action::Command(c) => {
                let mut cmd = self.text(&c.cmd, vars)?;
                if matches!(task.action, Action::Command(_)) {
                    let words = split_words(&cmd).map_err(|e| located(&c.cmd.location, e))?;
                    cmd = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
                } else if let Some(exe) = self.opt_text(&c.executable, vars)? {
                    cmd = format!("{} -c {}", quote(&exe), quote(&cmd));
                }
                let mut environment = Vec::new();
                for (k, v) in &task.environment {
                    environment.push((k.clone(), self.text(v, vars)?));
                }
                let args = ShellArgs {
                    cmd,
                    chdir: self.opt_text(&c.chdir, vars)?,
                    creates: self.opt_text(&c.creates, vars)?,
                    removes: self.opt_text(&c.removes, vars)?,
                    stdin: self.opt_text(&c.stdin, vars)?,
                    environment,
                };
                match actions::shell(&remote, &args, check && !self.runs_in_check_mode(task)).await
                {
                    Ok((r, _)) => r,
                    Err(e) => actions::transport_failure(&e),
                }
            }
            Action::Template(t) => {
                let src = match &t.src_path {
                    Some(p) => p.clone(),
                    None => {
                        let name = self.text(&t.src, vars)?;
                        crate::parse::playbook::resolve_source(
                            &self.playbook.dir,
                            "templates",
                            &name,
                        )
                        .ok_or_else(|| {
                            located(&t.src.location, format!("template `{name}` not found"))
                        })?
                    }
                };
                let content = self
                    .templates
                    .render_file(
                        &std::fs::canonicalize(&src)
                            .unwrap_or(src.clone())
                            .display()
                            .to_string(),
                        vars,
                    )
                    .map_err(|e| located(&t.src.location, e))?;
                let spec =
                    self.file_spec(&t.dest, [&t.mode, &t.owner, &t.group], t.backup, vars)?;
                actions::put_content(&remote, content.as_bytes(), &spec, check, self.diff).await
            }
            Action::Copy(c) => {
                let spec =
                    self.file_spec(&c.dest, [&c.mode, &c.owner, &c.group], c.backup, vars)?;
                match &c.source {
                    CopySource::Content(t) => {
                        let content = self.text(t, vars)?;
                        actions::put_content(&remote, content.as_bytes(), &spec, check, self.diff)
                            .await
                    }
                    CopySource::Src { src, src_path } => {
                        let path: PathBuf = match src_path {
                            Some(p) => p.clone(),
                            None => {
                                let name = self.text(src, vars)?;
                                crate::parse::playbook::resolve_source(
                                    &self.playbook.dir,
                                    "files",
                                    &name,
                                )
                                .ok_or_else(|| {
                                    located(&src.location, format!("file `{name}` not found"))
                                })?
                            }
                        };
                        actions::put_file(&remote, &path, &spec, check, self.diff).await
                    }
                }
            }
            Action::File(f) => {
                use crate::parse::playbook::FileState as S;
                let state = match f.state {
                    S::File => actions::FileState::File,
                    S::Directory => actions::FileState::Directory,
                    S::Absent => actions::FileState::Absent,
                    S::Touch => actions::FileState::Touch,
                };
                let path = self.text(&f.path, vars)?;
                let mode = self.opt_text(&f.mode, vars)?;
                let owner = self.opt_text(&f.owner, vars)?;
                let group = self.opt_text(&f.group, vars)?;
                actions::file(
                    &remote,
                    &path,
                    state,
                    mode.as_deref(),
                    owner.as_deref(),
                    group.as_deref(),
                    check,
                )
                .await
            }
            Action::Fetch(f) => {
                let src = self.text(&f.src, vars)?;
                let dest = self.text(&f.dest, vars)?;
                actions::fetch(&remote, &src, &dest, f.flat, check).await
            }
            Action::Transfer(t) => {
                let from_host = self.text(&t.from, vars)?;
                if !self.inv().contains_host(&from_host) && !self.connections.is_local(&from_host) {
                    return Err(located(
                        &t.from.location,
                        format!("`from: {from_host}` is not a host of the inventory"),
                    ));
                }
                let from_transport = match self.connections.get(&from_host).await {
                    Ok(t) => t,
                    Err(e) => {
                        let mut r = actions::transport_failure(&e);
                        // The source being down is this task's failure, not this host's.
                        r.status = TaskStatus::Failed;
                        r.msg = Some(format!("source host `{from_host}`: {e}"));
                        return Ok(TaskOutcome::plain(r));
                    }
                };
                let from_login = self.inv().connection(&from_host).user;
                let from = Remote {
                    host: &from_host,
                    transport: from_transport.as_ref(),
                    privilege: self.privilege(&from_host, play, task, vars)?,
                    login_user: from_login.as_deref(),
                    timeout,
                    on_command: &on_command,
                };
                let src = self.text(&t.src, vars)?;
                let spec =
                    self.file_spec(&t.dest, [&t.mode, &t.owner, &t.group], t.backup, vars)?;
                actions::transfer(&from, &src, &remote, &spec, check).await
            }
            Action::WaitFor(w) => {
                let mut spec = actions::WaitFor {
                    timeout: Duration::from_secs(
                        w.timeout
                            .as_ref()
                            .map(|n| self.number(n, vars))
                            .transpose()?
                            .unwrap_or(300),
                    ),
                    delay: Duration::from_secs(
                        w.delay
                            .as_ref()
                            .map(|n| self.number(n, vars))
                            .transpose()?
                            .unwrap_or(0),
                    ),
                    sleep: Duration::from_secs(
                        w.sleep
                            .as_ref()
                            .map(|n| self.number(n, vars))
                            .transpose()?
                            .unwrap_or(1)
                            .max(1),
                    ),
                    absent: matches!(w.state, WaitState::Stopped | WaitState::Absent),
                    msg: self.opt_text(&w.msg, vars)?,
                    ..Default::default()
                };
                match &w.target {
                    WaitTarget::Port { host: h, port } => {
                        spec.host = self.opt_text(h, vars)?;
                        let p = self.number(port, vars)?;
                        spec.port = Some(
                            u16::try_from(p)
                                .map_err(|_| TaskError(format!("port {p} is out of range")))?,
                        );
                    }
                    WaitTarget::Path { path, search_regex } => {
                        let path = self.text(path, vars)?;
                        match self.opt_text(search_regex, vars)? {
                            Some(re) => {
                                spec.command =
                                    Some(format!("grep -Eq {} {}", quote(&re), quote(&path)))
                            }
                            None => spec.path = Some(path),
                        }
                    }
                    WaitTarget::Command(c) => spec.command = Some(self.text(c, vars)?),
                }
                actions::wait_for(&remote, &spec, check && !self.runs_in_check_mode(task)).await
            }
            Action::Assert(_)
            | Action::Fail(_)
            | Action::Debug(_)
            | Action::SetFact(_)
            | Action::Pause(_)
            | Action::AddHost(_)
            | Action::GroupBy(_) => unreachable_action(),
        };
        Ok(TaskOutcome::plain(result))
    }

    /// Read-only tasks may be marked to run for real in check mode (Ansible's
    /// `check_mode: false`); see [`Task`].
    fn runs_in_check_mode(&self, task: &Task) -> bool {
        task.check_mode == Some(false)
    }

    /// `add_host`: the host, its groups and variables, into the in-memory inventory.
    /// Also under `--check` (Ansible alters the in-memory inventory in check mode too).
    fn add_host(&self, a: &AddHost, vars: &Vars) -> TResult<TaskOutcome> {
        let name = self.text(&a.name, vars)?.trim().to_string();
        if name.is_empty() {
            return Err(located(
                &a.name.location,
                "`add_host` gave an empty host name",
            ));
        }
        let groups = match &a.groups {
            None => Vec::new(),
            Some(d) => name_list(
                &self
                    .templates
                    .render_value(&d.value, vars)
                    .map_err(|e| located(&d.location, e))?,
            ),
        };
        let mut host_vars = HostVars::new();
        for (k, d) in &a.vars {
            let v = self
                .templates
                .render_value(&d.value, vars)
                .map_err(|e| located(&d.location, e))?;
            host_vars.insert(k.clone(), v);
        }
        let change = InventoryChange::AddHost {
            name,
            groups: groups.clone(),
            vars: host_vars.clone(),
        };
        let host_name = change.host();
        let changed = self
            .change_inventory(std::slice::from_ref(&change))
            .map_err(|e| located(&a.name.location, e.0))?;
        let mut r = TaskResult::new(if changed {
            TaskStatus::Changed
        } else {
            TaskStatus::Ok
        });
        r.msg = Some(if groups.is_empty() {
            format!("host `{host_name}` in the inventory")
        } else {
            format!("host `{host_name}` in group {}", groups.join(", "))
        });
        r.registered =
            json!({"add_host": {"host_name": host_name, "groups": groups, "host_vars": host_vars}});
        Ok(TaskOutcome {
            result: r,
            register: None,
            facts: HostVars::new(),
            inventory: vec![change],
        })
    }

    /// `group_by`: this host into the group `key` names.
    fn group_by(&self, host: &str, g: &GroupBy, vars: &Vars) -> TResult<TaskOutcome> {
        // Spaces in group names become dashes, as in Ansible.
        let group = self.text(&g.key, vars)?.trim().replace(' ', "-");
        if group.is_empty() {
            return Err(located(
                &g.key.location,
                "`group_by` key rendered to an empty group name",
            ));
        }
        let parents = match &g.parents {
            None => vec!["all".to_string()],
            Some(d) => name_list(
                &self
                    .templates
                    .render_value(&d.value, vars)
                    .map_err(|e| located(&d.location, e))?,
            )
            .into_iter()
            .map(|p| p.replace(' ', "-"))
            .collect(),
        };
        let change = InventoryChange::GroupBy {
            host: host.to_string(),
            group: group.clone(),
            parents: parents.clone(),
        };
        let changed = self
            .change_inventory(std::slice::from_ref(&change))
            .map_err(|e| located(&g.key.location, e.0))?;
        let mut r = TaskResult::new(if changed {
            TaskStatus::Changed
        } else {
            TaskStatus::Ok
        });
        r.msg = Some(format!("`{host}` in group `{group}`"));
        r.registered = json!({"add_group": group, "parent_groups": parents});
        Ok(TaskOutcome {
            result: r,
            register: None,
            facts: HostVars::new(),
            inventory: vec![change],
        })
    }

    /// Decide a play's hosts as it starts (see [`crate::plan::play_hosts`]), with the
    /// inventory and the variables as the run has left them.
    fn decide(&self, play_idx: usize, recorded: Option<&[String]>) -> Result<PlayHosts, String> {
        let play = &self.playbook.plays[play_idx];
        let inventory = self.inv();
        let run_vars = self.run_vars.snapshot();
        let source = PlaySource {
            inventory: &inventory,
            templates: &self.templates,
            extra_vars: &self.extra_vars,
            run_vars: &run_vars,
        };
        let decided = crate::plan::play_hosts(play, &source, self.limit.as_deref(), recorded)
            .map_err(|e| e.to_string())?;
        self.play_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(play_idx, decided.clone());
        Ok(decided)
    }

    async fn pause(&self, p: &crate::parse::playbook::Pause, vars: &Vars) -> TResult<TaskOutcome> {
        let secs = p
            .seconds
            .as_ref()
            .map(|n| self.number(n, vars))
            .transpose()?
            .unwrap_or(0)
            + 60 * p
                .minutes
                .as_ref()
                .map(|n| self.number(n, vars))
                .transpose()?
                .unwrap_or(0);
        if secs > 0 {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            return Ok(TaskOutcome::plain(
                TaskResult::new(TaskStatus::Ok).with_msg(format!("paused {secs}s")),
            ));
        }
        let prompt = self
            .opt_text(&p.prompt, vars)?
            .unwrap_or_else(|| "Press enter to continue".into());
        if self.assume_yes {
            return Ok(TaskOutcome::plain(
                TaskResult::new(TaskStatus::Ok).with_msg(format!("{prompt}: continued (--yes)")),
            ));
        }
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Ok(TaskOutcome::plain(TaskResult::new(TaskStatus::Failed).with_msg(format!(
                "`pause` asks `{prompt}` but standard input is not a terminal; rerun on a terminal or with --yes"
            ))));
        }
        let answer = tokio::task::spawn_blocking(move || {
            eprint!("{prompt}: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map(|_| line.trim_end().to_string())
        })
        .await
        .map_err(|e| TaskError(e.to_string()))?
        .map_err(|e| TaskError(e.to_string()))?;
        let mut r = TaskResult::new(TaskStatus::Ok);
        r.registered = json!({"user_input": answer});
        Ok(TaskOutcome::plain(r))
    }
}

fn unreachable_action() -> TaskResult {
    TaskResult::new(TaskStatus::Failed).with_msg("internal: controller-only action reached a host")
}

fn skipped(msg: &str) -> TaskResult {
    let mut r = TaskResult::new(TaskStatus::Skipped).with_msg(msg);
    r.registered = json!({"skipped": true, "changed": false, "skip_reason": msg});
    r
}

/// The registered value with `changed`/`failed` as they stand, for conditions.
fn with_status(r: &TaskResult) -> Value {
    let mut v = if r.registered.is_object() {
        r.registered.clone()
    } else {
        json!({})
    };
    if let Some(obj) = v.as_object_mut() {
        obj.insert("changed".into(), json!(r.status == TaskStatus::Changed));
        obj.insert("failed".into(), json!(r.status == TaskStatus::Failed));
        obj.insert("skipped".into(), json!(r.status == TaskStatus::Skipped));
    }
    v
}

impl TaskRunner for Runner {
    fn prepare_host<'a>(
        &'a self,
        host: &'a str,
        play: usize,
        run: HostVars,
    ) -> BoxFuture<'a, Option<TaskOutcome>> {
        Box::pin(async move {
            let p = &self.playbook.plays[play];
            if !p.gather_facts || run.contains_key("ansible_facts") {
                return None;
            }
            let started = Instant::now();
            self.reporter.emit(Event::TaskStarted {
                host: host.to_string(),
                play,
                task: super::scheduler::GATHER_FACTS,
                name: "Gathering Facts".into(),
            });
            let transport = match self.connections.get(host).await {
                Ok(t) => t,
                Err(e) => return Some(TaskOutcome::plain(actions::transport_failure(&e))),
            };
            let login_user = self.inv().connection(host).user;
            let on_command = |cmd: &str| self.emit_command(host, cmd, false);
            let remote = Remote {
                host,
                transport: transport.as_ref(),
                privilege: Become::default(),
                login_user: login_user.as_deref(),
                timeout: Some(TimeLimit::starting_now(Duration::from_secs(60))),
                on_command: &on_command,
            };
            let _ = self.task_vars(host, play, None, &run);
            let mut result = match facts::gather(&remote).await {
                Ok(f) => {
                    let mut r = TaskResult::new(TaskStatus::Ok);
                    r.duration_ms = started.elapsed().as_millis() as u64;
                    return Some(TaskOutcome {
                        result: r,
                        register: None,
                        facts: f,
                        inventory: Vec::new(),
                    });
                }
                Err(e) => actions::transport_failure(&e),
            };
            result.duration_ms = started.elapsed().as_millis() as u64;
            Some(TaskOutcome::plain(result))
        })
    }

    fn run_task<'a>(
        &'a self,
        host: &'a str,
        play: usize,
        task: usize,
        vars: HostVars,
    ) -> BoxFuture<'a, TaskOutcome> {
        Box::pin(self.run(host, play, task, vars))
    }

    fn decide_hosts(
        &self,
        play: usize,
        recorded: Option<&[String]>,
    ) -> Result<Option<(Vec<String>, Vec<Vec<String>>)>, String> {
        self.decide(play, recorded)
            .map(|d| Some((d.hosts, d.batches)))
    }
}

/// The `groups` variable of an inventory, as one layer.
fn groups_layer(inventory: &Inventory) -> Arc<HostVars> {
    let groups = serde_json::to_value(inventory.groups()).unwrap_or(Value::Null);
    Arc::new(HostVars::from_iter([("groups".to_string(), groups)]))
}

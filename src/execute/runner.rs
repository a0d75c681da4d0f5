//! The task runner: runs one task of the playbook on one host. It assembles the host's
//! variables ([`super::layers`]), evaluates `when`, runs the action once per item of
//! `loop` ([`super::actions`], over the host's connection or its `delegate_to`'s, from
//! a [`Connect`]), and judges the result: `until`/`retries`,
//! `changed_when`/`failed_when`, `register`, `ignore_errors` and `no_log`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::actions::{self, Cx, TResult, TaskError, conditions_hold, render_number, skipped};
use super::connections::Connect;
use super::facts;
use super::layers::{Modes, VarLayers};
use super::live::{LiveInventory, PlaySource};
use super::remote::{Remote, TimeLimit};
use super::scheduler::{TaskOutcome, TaskRunner};
use super::shell::Become;
use super::vars::{HostVars, RunVars};
use crate::parse::inventory::Inventory;
use crate::parse::playbook::{Expr, Loop, Number, Playbook, Task};
use crate::plan::{Plan, PlayHosts};
use crate::report::{Event, Redactor, Reporter, TaskResult, TaskStatus};
use crate::template::{Templates, Vars};
use crate::transport::BoxFuture;

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
    pub connections: Box<dyn Connect>,
    layers: VarLayers,
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
        connections: impl Connect + 'static,
    ) -> Self {
        let layers = VarLayers::new(
            playbook.clone(),
            plan.clone(),
            inventory.clone(),
            run_vars.clone(),
            extra_vars.clone(),
        );
        Runner {
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
            connections: Box::new(connections),
            layers,
        }
    }

    /// The inventory as it stands (after the run's `add_host`/`group_by`).
    fn inv(&self) -> Arc<Inventory> {
        self.inventory.get()
    }

    fn modes(&self) -> Modes {
        Modes {
            check: self.check,
            diff: self.diff,
            verbosity: self.verbosity,
        }
    }

    fn task_vars(&self, host: &str, play_idx: usize, task: Option<&Task>, run: &HostVars) -> Vars {
        self.layers
            .task_vars(host, play_idx, task, run, self.modes())
    }

    fn number(&self, n: &Number, vars: &Vars) -> TResult<u64> {
        render_number(&self.templates, n, vars)
    }

    /// The task's `ignore_errors` for this host: the literal, or its template rendered
    /// and read as Ansible's boolean words. A template that renders to something else
    /// fails the task before it runs, as Ansible does.
    fn ignores_errors(
        &self,
        host: &str,
        play_idx: usize,
        task: &Task,
        run: &HostVars,
    ) -> TResult<bool> {
        let Some(t) = &task.ignore_errors_template else {
            return Ok(task.ignore_errors);
        };
        let vars = self.task_vars(host, play_idx, Some(task), run);
        let text = actions::render_text(&self.templates, t, &vars)?;
        crate::words::boolean(&text).ok_or_else(|| {
            actions::located(
                &t.location,
                format!(
                    "`ignore_errors` rendered to `{text}`, expected a boolean (true/false, yes/no)"
                ),
            )
        })
    }

    fn condition(&self, exprs: &[Expr], vars: &Vars) -> TResult<bool> {
        conditions_hold(&self.templates, exprs, vars)
    }

    /// Report a command before it runs (per-host log, `-vv`), redacted.
    pub(crate) fn emit_command(&self, host: &str, command: &str, no_log: bool) {
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
        let task = play.step(task_idx);
        let ignore = self.ignores_errors(host, play_idx, task, &run);
        let ran = match &ignore {
            Ok(_) => self.run_inner(host, play_idx, task, &run).await,
            Err(e) => Err(TaskError(e.0.clone())),
        };
        let mut outcome = match ran {
            Ok(o) => o,
            Err(TaskError(msg)) => {
                TaskOutcome::plain(TaskResult::new(TaskStatus::Failed).with_msg(msg))
            }
        };
        let r = &mut outcome.result;
        if r.status == TaskStatus::Failed && matches!(ignore, Ok(true)) {
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
        // A failure's result stays for the scheduler: a rescue sees it as
        // `ansible_failed_result` (the scheduler takes it before reporting).
        if outcome.result.status != TaskStatus::Failed {
            outcome.result.registered = Value::Null;
        } else if let Some((_, value)) = &outcome.register {
            outcome.result.registered = value.clone();
        } else if task.no_log {
            outcome.result.registered = json!({"censored": NO_LOG_MSG});
        } else {
            outcome.result.registered = self.redactor.redact_value(&outcome.result.registered);
        }
        outcome
    }

    async fn run_inner(
        &self,
        host: &str,
        play_idx: usize,
        task: &Task,
        run: &HostVars,
    ) -> TResult<TaskOutcome> {
        let mut vars = self.task_vars(host, play_idx, Some(task), run);
        let Some(lp) = &task.loop_ else {
            if !self.condition(&task.when, &vars)? {
                return Ok(TaskOutcome::plain(skipped("conditional result was false")));
            }
            return self.run_with_retries(host, play_idx, task, &vars).await;
        };
        let items = self.loop_items(lp, &vars)?;
        let pause = lp
            .pause
            .as_ref()
            .map(|n| self.number(n, &vars))
            .transpose()?
            .unwrap_or(0);
        let mut results = Vec::new();
        let mut facts = HostVars::new();
        let mut inventory = Vec::new();
        let mut iterations: Option<Vec<HostVars>> = None;
        let mut any_changed = false;
        let mut failed: Option<TaskResult> = None;
        let mut unreachable: Option<TaskResult> = None;
        let mut stdout = String::new();
        // Each item's diff, in item order (Ansible shows one per item): a looped edit
        // previews under `--check --diff` as a single one does.
        let mut diffs = String::new();
        for (index, _) in items.iter().enumerate() {
            if index > 0 && pause > 0 {
                tokio::time::sleep(Duration::from_secs(pause)).await;
            }
            let item_vars = loop_vars(lp, &items, index);
            for (k, v) in &item_vars {
                vars.insert_raw(k.clone(), v.clone());
            }
            if !self.condition(&task.when, &vars)? {
                let mut skip = item_vars.clone();
                skip.insert("skipped".into(), json!(true));
                skip.insert("changed".into(), json!(false));
                skip.insert("skip_reason".into(), json!("Conditional result was False"));
                results.push(Value::Object(skip));
                continue;
            }
            let o = self.run_with_retries(host, play_idx, task, &vars).await?;
            let r = o.result;
            if let Some(its) = o.iterations {
                iterations
                    .get_or_insert_default()
                    .extend(its.into_iter().map(|mut v| {
                        // The loop variable, and `index_var`/`ansible_loop` when asked.
                        v.extend(item_vars.clone());
                        v
                    }));
            }
            facts.extend(o.facts);
            inventory.extend(o.inventory);
            let mut reg = if r.registered.is_object() {
                r.registered.clone()
            } else {
                json!({})
            };
            if let Some(obj) = reg.as_object_mut() {
                obj.extend(item_vars);
                obj.insert("changed".into(), json!(r.status == TaskStatus::Changed));
                obj.insert("failed".into(), json!(r.status == TaskStatus::Failed));
            }
            results.push(reg);
            if !r.stdout.is_empty() {
                stdout.push_str(&r.stdout);
            }
            if let Some(d) = r.diff.as_deref().filter(|d| !d.trim().is_empty()) {
                diffs.push_str(d.trim_end());
                diffs.push('\n');
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
        if !diffs.is_empty() {
            result.diff = Some(diffs);
        }
        result.registered =
            json!({"results": results, "changed": any_changed, "msg": "All items completed"});
        Ok(TaskOutcome {
            result,
            register: None,
            facts,
            inventory,
            iterations,
        })
    }

    /// A loop's items: the list `loop` gives, or what the `with_<plugin>` lookup makes
    /// of its terms (a single term that is not a list is one term, as in Ansible).
    fn loop_items(&self, lp: &Loop, vars: &Vars) -> TResult<Vec<Value>> {
        let at = |e| actions::located(&lp.items.location, e);
        let rendered = self
            .templates
            .render_value(&lp.items.value, vars)
            .map_err(at)?;
        let Some(plugin) = &lp.with else {
            return match rendered {
                Value::Array(a) => Ok(a),
                Value::Null => Ok(vec![]),
                other => Err(actions::located(
                    &lp.items.location,
                    format!("`loop` needs a list, got {other}"),
                )),
            };
        };
        let terms = match rendered {
            Value::Array(a) => a,
            Value::Null => vec![],
            other => vec![other],
        };
        match self.templates.query(plugin, terms, vars).map_err(at)? {
            Value::Array(a) => Ok(a),
            other => Ok(vec![other]),
        }
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
        let cx = Cx {
            runner: self,
            host,
            play: &self.playbook.plays[play_idx],
            task,
            vars,
        };
        actions::run(&cx).await
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
        self.layers.record_play_hosts(play_idx, decided.clone());
        Ok(decided)
    }
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
                task: crate::report::Step::Facts,
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
                        facts: f,
                        ..TaskOutcome::plain(r)
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

/// The variables one item of a loop sets, which its registered result carries too,
/// as Ansible's: the loop variable and `ansible_loop_var`, the `index_var` and
/// `ansible_index_var`, and `ansible_loop` with `extended`.
fn loop_vars(lp: &Loop, items: &[Value], index: usize) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    let item = items.get(index).cloned().unwrap_or(Value::Null);
    out.insert(lp.loop_var.clone(), item);
    out.insert("ansible_loop_var".into(), json!(lp.loop_var));
    if let Some(index_var) = &lp.index_var {
        out.insert(index_var.clone(), json!(index));
        out.insert("ansible_index_var".into(), json!(index_var));
    }
    if lp.extended {
        let length = items.len();
        let mut extended = json!({
            "allitems": items,
            "first": index == 0,
            "index": index + 1,
            "index0": index,
            "last": index + 1 == length,
            "length": length,
            "revindex": length - index,
            "revindex0": length - index - 1,
        });
        if let Some(obj) = extended.as_object_mut() {
            if index > 0 {
                obj.insert("previtem".into(), items[index - 1].clone());
            }
            if index + 1 < length {
                obj.insert("nextitem".into(), items[index + 1].clone());
            }
        }
        out.insert("ansible_loop".into(), extended);
    }
    out
}

#[cfg(test)]
mod tests;

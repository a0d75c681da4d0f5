//! The scheduler: walks the plan. Plays in order; within a play, batches in order;
//! within a batch every host runs its tasks one after another, independently of the
//! other hosts, at most `forks` hosts at once. It owns the rules that span hosts:
//! `run_once`, `any_errors_fatal`, `max_fail_percentage`, failed hosts leaving later
//! plays, Ctrl-C, the journal (a host's next task starts only once its last outcome is
//! on disk) and skipping what an interrupted run already finished. Each host walks its
//! tasks through their blocks ([`super::flow`]: rescue, always) and runs its notified
//! handlers at the flush points.
//!
//! What one task does on one host is the [`TaskRunner`]'s business.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OnceCell, Semaphore};

use crate::parse::inventory::InventoryChange;
use crate::parse::playbook::{Block, Meta};
use crate::plan::PlayPlan;
use crate::report::journal::{Journal, JournalError, Record, Replay, timestamp};
use crate::report::{Event, Recap, Reporter, Step, TaskResult, TaskStatus};

use super::flow::{Next, Walk};
pub use super::vars::HostVars;
use super::vars::RunVars;

/// What one task did on one host, and the variables it sets.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskOutcome {
    pub result: TaskResult,
    pub register: Option<(String, serde_json::Value)>,
    pub facts: HostVars,
    /// What `add_host`/`group_by` changed in the inventory (already applied by the
    /// runner; journaled so that `--resume` applies it again).
    pub inventory: Vec<InventoryChange>,
    /// For `include_tasks`/`include_role`: how many times its tasks run on this host,
    /// each time with these variables (the loop variable); `None` or empty: not at all.
    pub iterations: Option<Vec<HostVars>>,
}

impl TaskOutcome {
    pub fn plain(result: TaskResult) -> Self {
        TaskOutcome {
            result,
            register: None,
            facts: HostVars::new(),
            inventory: Vec::new(),
            iterations: None,
        }
    }
}

/// Runs one task on one host. Implementations must not panic on host or input errors:
/// they return a failed or unreachable result.
pub trait TaskRunner: Send + Sync + 'static {
    /// Called once per host at the start of each play it takes part in (connect, gather
    /// facts). `None` when there was nothing to do; a failed or unreachable result stops
    /// the host for this play. By default there is nothing to prepare.
    fn prepare_host<'a>(
        &'a self,
        host: &'a str,
        play: usize,
        vars: HostVars,
    ) -> crate::transport::BoxFuture<'a, Option<TaskOutcome>> {
        let _ = (host, play, vars);
        Box::pin(async { None })
    }

    fn run_task<'a>(
        &'a self,
        host: &'a str,
        play: usize,
        task: usize,
        vars: HostVars,
    ) -> crate::transport::BoxFuture<'a, TaskOutcome>;

    /// Called when a play starts: its hosts and batches, decided then (Ansible
    /// templates `hosts:` when the play starts, with what earlier plays found).
    /// `recorded`: the hosts the interrupted run's journal says the play started with
    /// (on `--resume`), to be kept. `Ok(None)`: as scheduled. `Err`: why the hosts
    /// cannot be decided (the run stops).
    fn decide_hosts(
        &self,
        play: usize,
        recorded: Option<&[String]>,
    ) -> Result<Option<(Vec<String>, Vec<Vec<String>>)>, String> {
        let _ = (play, recorded);
        Ok(None)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ScheduledTask {
    pub index: usize,
    pub name: String,
    pub run_once: bool,
    /// The innermost block holding the task (an index in [`ScheduledPlay::blocks`]).
    pub block: Option<usize>,
    /// Handlers notified when the task reports `changed` (indices in `handlers`).
    pub notify: Vec<usize>,
    pub meta: Option<Meta>,
    /// A failure no rescue catches stops the batch.
    pub any_errors_fatal: bool,
    /// For an include: how many of the scheduled tasks right after it are its own.
    pub span: usize,
}

/// A handler of the play, run at a flush when notified.
#[derive(Debug, Clone, Default)]
pub struct ScheduledHandler {
    pub name: String,
    /// The handlers it notifies in turn when it reports `changed`.
    pub notify: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct ScheduledPlay {
    pub index: usize,
    pub name: String,
    pub hosts: Vec<String>,
    pub batches: Vec<Vec<String>>,
    pub tasks: Vec<ScheduledTask>,
    pub any_errors_fatal: bool,
    /// Stop the play when more than this percentage of a batch failed (Ansible's rule:
    /// strictly greater). `None`: stop only when every host of a batch failed.
    pub max_fail_percentage: Option<f64>,
    /// How many tasks the play has (before `--tags`): handler N runs as step
    /// `task_count + N` of [`TaskRunner::run_task`].
    pub task_count: usize,
    /// The play's blocks, as ranges of positions in `tasks` (not task indices).
    pub blocks: Vec<Block>,
    /// Handlers are flushed before the first task whose index is at least each of
    /// these (and at the end for those past the last task).
    pub flush_points: Vec<usize>,
    pub handlers: Vec<ScheduledHandler>,
    /// A failed host still runs the handlers notified before it failed.
    pub force_handlers: bool,
}

impl ScheduledPlay {
    /// The plan's play as the scheduler walks it. `force_handlers`: `--force-handlers`.
    pub fn from_plan(p: &PlayPlan, force_handlers: bool) -> Self {
        // A block's ranges, in positions of the tasks left after `--tags`.
        let position = |index: usize| p.tasks.iter().take_while(|t| t.index < index).count();
        let blocks = p
            .blocks
            .iter()
            .map(|b| Block {
                start: position(b.start),
                rescue: position(b.rescue),
                always: position(b.always),
                end: position(b.end),
                ..b.clone()
            })
            .collect();
        ScheduledPlay {
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
                    block: t.block,
                    notify: t.notify.clone(),
                    meta: t.meta,
                    any_errors_fatal: t.any_errors_fatal,
                    span: t.span,
                })
                .collect(),
            any_errors_fatal: p.any_errors_fatal,
            max_fail_percentage: p.max_fail_percentage,
            task_count: p.tasks.len() + p.skipped_tasks,
            blocks,
            flush_points: p.flush_points.clone(),
            handlers: p
                .handlers
                .iter()
                .map(|h| ScheduledHandler {
                    name: h.name.clone(),
                    notify: h.notify.clone(),
                })
                .collect(),
            force_handlers: force_handlers || p.force_handlers,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub exit_code: u8,
    pub interrupted: bool,
}

struct Shared {
    runner: Arc<dyn TaskRunner>,
    reporter: Arc<Reporter>,
    journal: Arc<Journal>,
    replay: Option<Replay>,
    vars: Arc<RunVars>,
    recap: Mutex<Recap>,
    stop: Arc<AtomicBool>,
    fatal: Mutex<Option<JournalError>>,
    /// `meta: end_play` ran: no host of the play starts another task, no batch starts.
    play_ended: AtomicBool,
}

pub struct Scheduler {
    shared: Arc<Shared>,
    forks: usize,
}

impl Scheduler {
    pub fn new(
        runner: Arc<dyn TaskRunner>,
        reporter: Arc<Reporter>,
        journal: Arc<Journal>,
        replay: Option<Replay>,
        vars: Arc<RunVars>,
        forks: usize,
        stop: Arc<AtomicBool>,
    ) -> Self {
        Scheduler {
            shared: Arc::new(Shared {
                runner,
                reporter,
                journal,
                replay,
                vars,
                recap: Mutex::new(Recap::default()),
                stop,
                fatal: Mutex::new(None),
                play_ended: AtomicBool::new(false),
            }),
            forks: forks.max(1),
        }
    }

    /// Run every play. An `Err` is fatal (the journal could not be written); host
    /// failures are in the summary's exit code.
    pub async fn run(&self, plays: &[ScheduledPlay]) -> Result<(Summary, Recap), JournalError> {
        let sh = &self.shared;
        let mut dead: HashSet<String> = HashSet::new();
        for scheduled in plays {
            let recorded = sh
                .replay
                .as_ref()
                .and_then(|r| r.play_hosts.get(&scheduled.index))
                .map(Vec::as_slice);
            let decided = match sh.runner.decide_hosts(scheduled.index, recorded) {
                Ok(d) => d,
                Err(reason) => {
                    sh.reporter.emit(Event::PlayAborted {
                        play: scheduled.index,
                        reason: format!("cannot decide the play's hosts: {reason}"),
                    });
                    let recap = lock(&sh.recap).clone();
                    return Ok((
                        Summary {
                            exit_code: crate::Status::Invalid as u8,
                            interrupted: false,
                        },
                        recap,
                    ));
                }
            };
            let owned;
            let play = match decided {
                None => scheduled,
                Some((hosts, batches)) => {
                    owned = ScheduledPlay {
                        hosts,
                        batches,
                        ..scheduled.clone()
                    };
                    &owned
                }
            };
            // Durably, before any of its tasks: a resumed run keeps these hosts.
            if !play.hosts.is_empty() {
                sh.journal
                    .record_durable(&Record::PlayStarted {
                        play: play.index,
                        hosts: play.hosts.clone(),
                        at: timestamp(),
                    })
                    .await?;
            }
            {
                let mut recap = lock(&sh.recap);
                for h in &play.hosts {
                    recap.hosts.entry(h.clone()).or_default();
                }
            }
            sh.reporter.emit(Event::PlayStarted {
                play: play.index,
                name: play.name.clone(),
                hosts: play.hosts.clone(),
                batches: play.batches.len(),
                tasks: play.tasks.len(),
            });
            sh.play_ended.store(false, Ordering::SeqCst);
            for (b, batch) in play.batches.iter().enumerate() {
                if sh.stop.load(Ordering::SeqCst) || sh.play_ended.load(Ordering::SeqCst) {
                    break;
                }
                let live: Vec<String> = batch
                    .iter()
                    .filter(|h| !dead.contains(*h))
                    .cloned()
                    .collect();
                if live.is_empty() {
                    continue;
                }
                sh.reporter.emit(Event::BatchStarted {
                    play: play.index,
                    batch: b,
                    hosts: live.clone(),
                });
                let failed = self.run_batch(play, &live).await;
                if let Some(err) = lock(&sh.fatal).take() {
                    return Err(err);
                }
                let n_failed = failed.len();
                dead.extend(failed);
                let abort = if n_failed == 0 {
                    None
                } else if play.any_errors_fatal {
                    Some("a host failed and the play has any_errors_fatal".to_string())
                } else if let Some(max) = play.max_fail_percentage {
                    let pct = n_failed as f64 * 100.0 / live.len() as f64;
                    (pct > max).then(|| {
                        format!("{n_failed} of {} hosts in the batch failed ({pct:.0}%), more than max_fail_percentage {max}", live.len())
                    })
                } else {
                    (n_failed == live.len())
                        .then(|| "every host in the batch failed or was unreachable".to_string())
                };
                if let Some(reason) = abort {
                    sh.reporter.emit(Event::PlayAborted {
                        play: play.index,
                        reason,
                    });
                    let recap = lock(&sh.recap).clone();
                    return Ok((
                        Summary {
                            exit_code: exit_code(&recap, false),
                            interrupted: false,
                        },
                        recap,
                    ));
                }
            }
            if sh.stop.load(Ordering::SeqCst) {
                break;
            }
        }
        let interrupted = sh.stop.load(Ordering::SeqCst);
        let recap = lock(&sh.recap).clone();
        Ok((
            Summary {
                exit_code: exit_code(&recap, interrupted),
                interrupted,
            },
            recap,
        ))
    }

    /// Run one batch; returns the hosts that failed or were unreachable.
    async fn run_batch(&self, play: &ScheduledPlay, hosts: &[String]) -> Vec<String> {
        let sem = Arc::new(Semaphore::new(self.forks));
        let once: Arc<HashMap<usize, Arc<OnceCell<TaskOutcome>>>> = Arc::new(
            play.tasks
                .iter()
                .filter(|t| t.run_once)
                .map(|t| (t.index, Arc::new(OnceCell::new())))
                .collect(),
        );
        let batch_abort = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(Progress::new(hosts));
        let play = Arc::new(play.clone());
        let mut set = tokio::task::JoinSet::new();
        let mut ids: HashMap<tokio::task::Id, String> = HashMap::new();
        for host in hosts {
            let sh = self.shared.clone();
            let sem = sem.clone();
            let once = once.clone();
            let play = play.clone();
            let host = host.clone();
            let batch_abort = batch_abort.clone();
            let progress = progress.clone();
            let name = host.clone();
            let handle = set.spawn(async move {
                let mut slot = Slot {
                    sem,
                    permit: None,
                    progress,
                };
                slot.acquire().await;
                let ok = run_host(&sh, &play, &host, &once, &batch_abort, &mut slot).await;
                slot.progress.reach(&host, usize::MAX);
                (host, ok)
            });
            ids.insert(handle.id(), name);
        }
        let mut failed = Vec::new();
        while let Some(joined) = set.join_next_with_id().await {
            match joined {
                Ok((_, (host, false))) => failed.push(host),
                Ok((_, (_, true))) => {}
                // A bug in rtmig, not the host's fault: the host still stops and counts
                // as failed, so a run never reports success for work it did not do.
                Err(e) => {
                    let host = ids.get(&e.id()).cloned().unwrap_or_default();
                    self.shared.reporter.emit(Event::Warning {
                        message: format!("internal error on `{host}` (please report it): {e}"),
                    });
                    lock(&self.shared.recap)
                        .hosts
                        .entry(host.clone())
                        .or_default()
                        .failed += 1;
                    failed.push(host);
                }
            }
        }
        failed.sort_by_key(|h| hosts.iter().position(|x| x == h));
        failed
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn exit_code(recap: &Recap, interrupted: bool) -> u8 {
    if interrupted {
        return crate::Status::Interrupted as u8;
    }
    if recap.hosts.values().any(|c| c.failed > 0) {
        crate::Status::HostFailed as u8
    } else if recap.hosts.values().any(|c| c.unreachable > 0) {
        crate::Status::Unreachable as u8
    } else {
        crate::Status::Ok as u8
    }
}

/// How far each host of a batch has got (its position in the play's task list; MAX
/// once it is done or stopped), so that a `run_once` task (and `add_host`) starts only
/// when every host of the batch has reached it, as under Ansible's linear strategy:
/// it may read what the others registered or grouped just before it.
struct Progress {
    at: Mutex<HashMap<String, usize>>,
    /// The batch's hosts, in order.
    hosts: Vec<String>,
    moved: tokio::sync::Notify,
}

impl Progress {
    fn new(hosts: &[String]) -> Self {
        Progress {
            at: Mutex::new(hosts.iter().map(|h| (h.clone(), 0)).collect()),
            hosts: hosts.to_vec(),
            moved: tokio::sync::Notify::new(),
        }
    }

    /// The first host of the batch that has not stopped (failed, or done: a host
    /// waiting at a `run_once` task is neither).
    fn first_live(&self) -> Option<String> {
        let at = lock(&self.at);
        self.hosts
            .iter()
            .find(|h| at.get(*h).is_some_and(|p| *p != usize::MAX))
            .cloned()
    }

    fn reach(&self, host: &str, position: usize) {
        lock(&self.at).insert(host.to_string(), position);
        self.moved.notify_waiters();
    }

    async fn all_reached(&self, position: usize) {
        loop {
            let notified = self.moved.notified();
            tokio::pin!(notified);
            // Registered before checking, so no move between the two is missed.
            notified.as_mut().enable();
            if lock(&self.at).values().all(|p| *p >= position) {
                return;
            }
            notified.await;
        }
    }
}

/// A host's fork: given back while it waits for the rest of its batch (hosts still
/// waiting for a fork must be able to catch up), taken again after.
struct Slot {
    sem: Arc<Semaphore>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    progress: Arc<Progress>,
}

impl Slot {
    async fn acquire(&mut self) {
        self.permit = self.sem.clone().acquire_owned().await.ok();
    }

    async fn wait_for_batch(&mut self, position: usize) {
        self.permit = None;
        self.progress.all_reached(position).await;
        self.acquire().await;
    }
}

/// Run a host's tasks of one play. Returns false when the host failed.
async fn run_host(
    sh: &Arc<Shared>,
    play: &ScheduledPlay,
    host: &str,
    once: &HashMap<usize, Arc<OnceCell<TaskOutcome>>>,
    batch_abort: &AtomicBool,
    slot: &mut Slot,
) -> bool {
    let host_vars = || sh.vars.get(host);
    // A host that waited for a fork after Ctrl-C must not even connect.
    if sh.stop.load(Ordering::SeqCst) {
        return true;
    }
    let all_done = sh.replay.as_ref().is_some_and(|r| {
        play.tasks
            .iter()
            .all(|t| r.completed(host, play.index, t.index).is_some())
    });
    if !all_done {
        if let Some(outcome) = sh.runner.prepare_host(host, play.index, host_vars()).await {
            let ok = outcome.result.status.is_success();
            finish(
                sh,
                host,
                play.index,
                Step::Facts,
                &[],
                "Gathering Facts",
                outcome,
            )
            .await;
            if !ok {
                return false;
            }
        }
    }
    let block_of: Vec<Option<usize>> = play.tasks.iter().map(|t| t.block).collect();
    let mut walk = Walk::new(&play.blocks, &block_of);
    let recorded = replayed(sh, play, host);
    let mut handlers = Handlers::default();
    let mut last_failure: Option<(String, serde_json::Value)> = None;
    // The includes being run, innermost last.
    let mut frames: Vec<Frame> = Vec::new();
    // Whether the walk's last move was a failure's (out of an include, into a rescue).
    let mut left_by_failure = false;
    // Never goes back (an include's tasks run again per item), so hosts waiting for a
    // `run_once` see progress only.
    let mut reached = 0;
    let stopped = || {
        sh.stop.load(Ordering::SeqCst)
            || batch_abort.load(Ordering::SeqCst)
            || sh.play_ended.load(Ordering::SeqCst)
    };
    let mut next = walk.start();
    loop {
        let position = match next {
            Next::Run(p) => p,
            Next::Done => play.tasks.len(),
            Next::Failed => {
                if play.force_handlers {
                    handlers.flush_until(sh, play, host, usize::MAX).await;
                }
                return false;
            }
        };
        // An include's tasks run once per iteration: leaving its range going forward,
        // back to its first task for the next item; left by a failure (to a rescue, or
        // failed), the include is over.
        if let Some(f) = frames.last_mut()
            && !(f.start..f.end).contains(&position)
        {
            f.current += 1;
            if !left_by_failure && position >= f.end && f.current < f.iterations.len() {
                next = Next::Run(f.start);
            } else {
                frames.pop();
            }
            continue;
        }
        if position >= play.tasks.len() {
            return handlers.flush_until(sh, play, host, usize::MAX).await;
        }
        let task = &play.tasks[position];
        // Positions count from 1: 0 is a host that has not started (facts gathering).
        reached = reached.max(position + 1);
        slot.progress.reach(host, reached);
        if stopped() {
            return true;
        }
        if !handlers.flush_until(sh, play, host, task.index).await {
            return false;
        }
        if stopped() {
            return true;
        }
        let iteration: Vec<usize> = frames.iter().map(|f| f.current).collect();
        let task_vars = || {
            let mut v = host_vars();
            for f in &frames {
                v.extend(f.iterations[f.current].clone());
            }
            v
        };
        // On resume, what the interrupted run recorded: a task of the play as replayed
        // through its blocks, one an include brought in per iteration; an include runs
        // again (it only decides, on the controller) and its finished tasks are skipped
        // one by one.
        let before = if task.span > 0 {
            None
        } else if iteration.is_empty() {
            recorded[position]
        } else {
            sh.replay
                .as_ref()
                .and_then(|r| r.completed_in(host, play.index, task.index, &iteration))
                .map(|s| (s, false))
        };
        if let Some((status, ignored)) = before {
            sh.reporter.emit(Event::TaskAlreadyDone {
                host: host.to_string(),
                play: play.index,
                task: task.index,
                name: task.name.clone(),
                status,
            });
            if status == TaskStatus::Changed {
                handlers.notify(&task.notify);
            }
            let failed = !status.is_success() && !ignored;
            if !failed && let Some(ret) = run_meta(sh, play, host, &mut handlers, task).await {
                return ret;
            }
            left_by_failure = failed;
            next = walk.after(position, failed).0;
            continue;
        }
        if once.get(&task.index).is_some_and(|c| !c.initialized()) {
            slot.wait_for_batch(reached).await;
            if stopped() {
                return true;
            }
        }
        sh.journal.record(&Record::Start {
            host: host.to_string(),
            play: play.index,
            task: task.index,
            iteration: iteration.clone(),
            at: timestamp(),
        });
        sh.reporter.emit(Event::TaskStarted {
            host: host.to_string(),
            play: play.index,
            task: Step::Task(task.index),
            name: task.name.clone(),
        });
        let cell = once.get(&task.index);
        let mut outcome = match cell {
            // On the batch's first host still running, with its variables, as Ansible
            // runs `run_once` (whichever host gets here first).
            Some(cell) => {
                let first = slot
                    .progress
                    .first_live()
                    .unwrap_or_else(|| host.to_string());
                cell.get_or_init(|| async {
                    sh.runner
                        .run_task(&first, play.index, task.index, sh.vars.get(&first))
                        .await
                })
                .await
                .clone()
            }
            None => {
                sh.runner
                    .run_task(host, play.index, task.index, task_vars())
                    .await
            }
        };
        let status = outcome.result.status;
        let failed = !status.is_success() && !outcome.result.ignored;
        let (after, caught) = walk.after(position, failed);
        let failed_result = std::mem::take(&mut outcome.result.registered);
        if failed {
            let mut result = if failed_result.is_object() {
                failed_result
            } else {
                serde_json::json!({})
            };
            if let Some(obj) = result.as_object_mut() {
                obj.insert("failed".into(), serde_json::json!(true));
                obj.entry("msg")
                    .or_insert(serde_json::json!(outcome.result.msg));
            }
            last_failure = Some((task.name.clone(), result));
        }
        if caught {
            // What the rescue sees, as Ansible sets it; journaled with the task so a
            // resumed run's rescue sees it too.
            outcome.result.rescued = failed;
            if let Some((name, result)) = last_failure.take() {
                outcome.facts.insert(
                    "ansible_failed_task".into(),
                    serde_json::json!({"name": name}),
                );
                outcome.facts.insert("ansible_failed_result".into(), result);
            }
        }
        let step = Step::Task(task.index);
        let iterations = outcome.iterations.clone().unwrap_or_default();
        if !finish(sh, host, play.index, step, &iteration, &task.name, outcome).await {
            return true;
        }
        if failed && !caught && (play.any_errors_fatal || task.any_errors_fatal) {
            batch_abort.store(true, Ordering::SeqCst);
        }
        if status == TaskStatus::Changed {
            handlers.notify(&task.notify);
        }
        if !failed
            && status != TaskStatus::Skipped
            && let Some(ret) = run_meta(sh, play, host, &mut handlers, task).await
        {
            return ret;
        }
        left_by_failure = failed;
        next = after;
        // An include: its tasks follow, once per iteration (none: passed over).
        if task.span > 0 && !failed {
            if iterations.is_empty() || !status.is_success() {
                next = walk.after(position + task.span, false).0;
            } else {
                frames.push(Frame {
                    start: position + 1,
                    end: position + 1 + task.span,
                    iterations,
                    current: 0,
                });
            }
        }
    }
}

/// What a `meta` task that ran (or ran before a resume) does to the host's play:
/// `Some(r)` when `run_host` must return `r` now.
async fn run_meta(
    sh: &Arc<Shared>,
    play: &ScheduledPlay,
    host: &str,
    handlers: &mut Handlers,
    task: &ScheduledTask,
) -> Option<bool> {
    match task.meta? {
        Meta::FlushHandlers => (!handlers.flush(sh, play, host, task.index).await).then_some(false),
        Meta::EndHost => Some(true),
        Meta::EndPlay => {
            sh.play_ended.store(true, Ordering::SeqCst);
            Some(true)
        }
        Meta::Noop => None,
    }
}

/// A host's notified handlers, run at the flush points.
#[derive(Default)]
struct Handlers {
    /// Notified, not yet run (indices in the play's handlers: run in that order).
    pending: std::collections::BTreeSet<usize>,
    /// The next of the play's flush points not yet reached.
    next_point: usize,
}

impl Handlers {
    fn notify(&mut self, handlers: &[usize]) {
        self.pending.extend(handlers.iter().copied());
    }

    /// Flush at every section end before the task of index `index`. False when a
    /// handler failed (the host failed).
    async fn flush_until(
        &mut self,
        sh: &Arc<Shared>,
        play: &ScheduledPlay,
        host: &str,
        index: usize,
    ) -> bool {
        while let Some(&point) = play.flush_points.get(self.next_point) {
            if point > index {
                break;
            }
            self.next_point += 1;
            if !self.flush(sh, play, host, point).await {
                return false;
            }
        }
        true
    }

    /// Run the pending handlers in the order they are defined, each once (a handler
    /// notified by a handler runs in the same flush). `key` names the flush in the
    /// journal. False when a handler failed.
    async fn flush(
        &mut self,
        sh: &Arc<Shared>,
        play: &ScheduledPlay,
        host: &str,
        key: usize,
    ) -> bool {
        let mut ran = HashSet::new();
        while let Some(h) = self.pending.pop_first() {
            if !ran.insert(h) || sh.stop.load(Ordering::SeqCst) {
                continue;
            }
            let handler = &play.handlers[h];
            if let Some(status) = sh
                .replay
                .as_ref()
                .and_then(|r| r.handler_completed(host, play.index, key, h))
            {
                if status == TaskStatus::Changed {
                    self.notify(&handler.notify);
                }
                continue;
            }
            sh.reporter.emit(Event::TaskStarted {
                host: host.to_string(),
                play: play.index,
                task: Step::Handler(h),
                name: handler.name.clone(),
            });
            let outcome = sh
                .runner
                .run_task(host, play.index, play.task_count + h, sh.vars.get(host))
                .await;
            let status = outcome.result.status;
            let ok = status.is_success() || outcome.result.ignored;
            sh.vars.set(
                host,
                outcome
                    .register
                    .clone()
                    .into_iter()
                    .chain(outcome.facts.clone()),
            );
            let rec = Record::HandlerDone {
                host: host.to_string(),
                play: play.index,
                flush: key,
                handler: h,
                status,
                register: outcome.register.clone(),
                facts: outcome.facts.clone(),
                at: timestamp(),
            };
            if let Err(e) = sh.journal.record_durable(&rec).await {
                sh.stop.store(true, Ordering::SeqCst);
                lock(&sh.fatal).get_or_insert(e);
                return true;
            }
            lock(&sh.recap)
                .hosts
                .entry(host.to_string())
                .or_default()
                .count(&outcome.result);
            sh.reporter.emit(Event::TaskFinished {
                host: host.to_string(),
                play: play.index,
                task: Step::Handler(h),
                name: handler.name.clone(),
                result: outcome.result,
            });
            if !ok {
                return false;
            }
            if status == TaskStatus::Changed {
                self.notify(&handler.notify);
            }
        }
        true
    }
}

/// On `--resume`: the recorded outcome of each position the interrupted run went
/// through, replayed through the blocks exactly as that run took them (a failure a
/// rescue caught goes into the rescue again, not run again). When that run left the
/// host failed, the failure that started it and every task run while it was failing
/// (its `always` sections) are run again, as after any failed task.
fn replayed(sh: &Shared, play: &ScheduledPlay, host: &str) -> Vec<Option<(TaskStatus, bool)>> {
    let mut used = vec![None; play.tasks.len()];
    let Some(replay) = &sh.replay else {
        return used;
    };
    let block_of: Vec<Option<usize>> = play.tasks.iter().map(|t| t.block).collect();
    let mut walk = Walk::new(&play.blocks, &block_of);
    let mut failing_since: Vec<usize> = Vec::new();
    let mut next = walk.start();
    while let Next::Run(p) = next {
        let Some((status, ignored)) = replay.recorded(host, play.index, play.tasks[p].index) else {
            return used;
        };
        let span = play.tasks[p].span;
        let failed = !status.is_success() && !ignored;
        // An include is never replayed (it decides again, and its tasks are looked up
        // per iteration): the walk passes over the tasks it brought in.
        if span == 0 {
            used[p] = Some((status, ignored));
        }
        let was_failing = walk.failing;
        next = if span > 0 && !failed {
            walk.after(p + span, false).0
        } else {
            walk.after(p, failed).0
        };
        if walk.failing {
            if !was_failing {
                failing_since.clear();
            }
            failing_since.push(p);
        } else {
            failing_since.clear();
        }
    }
    if next == Next::Failed {
        for p in failing_since {
            used[p] = None;
        }
    }
    used
}

/// An include whose tasks a host is running: positions `start..end` of the play's
/// scheduled tasks, once per iteration.
struct Frame {
    start: usize,
    end: usize,
    iterations: Vec<HostVars>,
    current: usize,
}

/// Record a step's outcome: host variables, journal (durably, for tasks: fact gathering
/// is not journaled), recap, events. Returns false when the journal could not be
/// written (the run must stop).
async fn finish(
    sh: &Arc<Shared>,
    host: &str,
    play: usize,
    step: Step,
    iteration: &[usize],
    name: &str,
    outcome: TaskOutcome,
) -> bool {
    sh.vars.set(
        host,
        outcome
            .register
            .clone()
            .into_iter()
            .chain(outcome.facts.clone()),
    );
    if let Step::Task(task) = step {
        let rec = Record::Done {
            host: host.to_string(),
            play,
            task,
            iteration: iteration.to_vec(),
            status: outcome.result.status,
            register: outcome.register.clone(),
            facts: outcome.facts.clone(),
            inventory: outcome.inventory.clone(),
            ignored: outcome.result.ignored,
            at: timestamp(),
        };
        if let Err(e) = sh.journal.record_durable(&rec).await {
            sh.stop.store(true, Ordering::SeqCst);
            let mut fatal = lock(&sh.fatal);
            if fatal.is_none() {
                *fatal = Some(e);
            }
            return false;
        }
    }
    lock(&sh.recap)
        .hosts
        .entry(host.to_string())
        .or_default()
        .count(&outcome.result);
    sh.reporter.emit(Event::TaskFinished {
        host: host.to_string(),
        play,
        task: step,
        name: name.to_string(),
        result: outcome.result,
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::journal::RunHeader;
    use crate::report::{Listener, TaskStatus};
    use crate::transport::BoxFuture;

    /// Fails the given (host, task) pairs; records every call.
    struct Fake {
        fail: Vec<(&'static str, usize)>,
        calls: Mutex<Vec<(String, usize)>>,
    }

    impl TaskRunner for Fake {
        fn run_task<'a>(
            &'a self,
            host: &'a str,
            _: usize,
            task: usize,
            vars: HostVars,
        ) -> BoxFuture<'a, TaskOutcome> {
            Box::pin(async move {
                lock(&self.calls).push((host.to_string(), task));
                assert!(host != "panics", "a bug in a task runner");
                let failed = self.fail.iter().any(|(h, t)| *h == host && *t == task);
                let mut result = TaskResult::new(if failed {
                    TaskStatus::Failed
                } else {
                    TaskStatus::Changed
                });
                result.msg = Some(format!("saw {} vars", vars.len()));
                TaskOutcome {
                    result,
                    register: Some((format!("r{task}"), serde_json::json!(task))),
                    facts: HostVars::new(),
                    inventory: Vec::new(),
                    iterations: None,
                }
            })
        }
    }

    struct Collect(Arc<Mutex<Vec<Event>>>);
    impl Listener for Collect {
        fn name(&self) -> &'static str {
            "collect"
        }
        fn on_event(&mut self, e: &Event) -> std::io::Result<()> {
            lock(&self.0).push(e.clone());
            Ok(())
        }
    }

    fn play(hosts: &[&str], batch: usize, tasks: usize) -> ScheduledPlay {
        let hosts: Vec<String> = hosts.iter().map(|s| s.to_string()).collect();
        ScheduledPlay {
            index: 0,
            name: "p".into(),
            batches: hosts.chunks(batch).map(|c| c.to_vec()).collect(),
            hosts,
            tasks: (0..tasks)
                .map(|i| ScheduledTask {
                    index: i,
                    name: format!("t{i}"),
                    ..Default::default()
                })
                .collect(),
            any_errors_fatal: false,
            max_fail_percentage: None,
            task_count: tasks,
            blocks: Vec::new(),
            flush_points: Vec::new(),
            handlers: Vec::new(),
            force_handlers: false,
        }
    }

    fn header() -> RunHeader {
        RunHeader {
            version: 1,
            run_id: "r".into(),
            inventory: "i".into(),
            playbook: "p".into(),
            playbook_version: Default::default(),
            limit: None,
            check: false,
            started: timestamp(),
        }
    }

    async fn run(
        fake: Arc<dyn TaskRunner>,
        plays: &[ScheduledPlay],
        dir: &std::path::Path,
        replay: Option<Replay>,
    ) -> (Summary, Recap, Vec<Event>) {
        let path = dir.join("journal.jsonl");
        let journal = Arc::new(if path.exists() {
            Journal::append_to(&path).unwrap()
        } else {
            Journal::create(&path, &header()).unwrap()
        });
        let events = Arc::new(Mutex::new(Vec::new()));
        let reporter = Arc::new(Reporter::new(vec![Box::new(Collect(events.clone()))]));
        let vars = Arc::new(RunVars::new(
            replay.as_ref().map(|r| r.vars.clone()).unwrap_or_default(),
        ));
        let s = Scheduler::new(
            fake,
            reporter,
            journal,
            replay,
            vars,
            10,
            Arc::new(AtomicBool::new(false)),
        );
        let (summary, recap) = s.run(plays).await.unwrap();
        let ev = lock(&events).clone();
        (summary, recap, ev)
    }

    #[tokio::test]
    async fn a_failed_host_stops_its_own_tasks_only() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Arc::new(Fake {
            fail: vec![("b", 0)],
            calls: Mutex::new(vec![]),
        });
        let (summary, recap, _) = run(
            fake.clone(),
            &[play(&["a", "b", "c"], 3, 2)],
            dir.path(),
            None,
        )
        .await;
        assert_eq!(summary.exit_code, 2);
        assert_eq!(recap.hosts["b"].failed, 1);
        assert_eq!(recap.hosts["a"].changed, 2);
        let calls = lock(&fake.calls).clone();
        assert!(
            !calls.contains(&("b".to_string(), 1)),
            "b went on after failing: {calls:?}"
        );
        assert!(calls.contains(&("c".to_string(), 1)));
    }

    // Guards: a host whose task panicked once counted as neither failed nor ok, and the
    // run exited 0 although that host did nothing.
    #[tokio::test]
    async fn a_host_whose_task_panics_counts_as_failed() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Arc::new(Fake {
            fail: vec![],
            calls: Mutex::new(vec![]),
        });
        let (summary, recap, events) =
            run(fake, &[play(&["a", "panics"], 2, 1)], dir.path(), None).await;
        assert_eq!(summary.exit_code, 2);
        assert_eq!(recap.hosts["panics"].failed, 1);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Warning { message } if message.contains("`panics`")))
        );
    }

    #[tokio::test]
    async fn max_fail_percentage_stops_later_batches() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Arc::new(Fake {
            fail: vec![("a", 0)],
            calls: Mutex::new(vec![]),
        });
        let mut p = play(&["a", "b", "c", "d"], 2, 1);
        p.max_fail_percentage = Some(0.0);
        let (_, _, events) = run(fake.clone(), &[p], dir.path(), None).await;
        let calls = lock(&fake.calls).clone();
        assert!(
            !calls.iter().any(|(h, _)| h == "c" || h == "d"),
            "a later batch started: {calls:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::PlayAborted { .. }))
        );
    }

    #[tokio::test]
    async fn without_max_fail_percentage_a_partly_failed_batch_does_not_stop_the_play() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Arc::new(Fake {
            fail: vec![("a", 0)],
            calls: Mutex::new(vec![]),
        });
        let (_, _, _) = run(
            fake.clone(),
            &[play(&["a", "b", "c", "d"], 2, 1)],
            dir.path(),
            None,
        )
        .await;
        assert!(lock(&fake.calls).iter().any(|(h, _)| h == "d"));
    }

    #[tokio::test]
    async fn failed_hosts_leave_later_plays() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Arc::new(Fake {
            fail: vec![("a", 0)],
            calls: Mutex::new(vec![]),
        });
        let mut second = play(&["a", "b"], 2, 1);
        second.index = 1;
        run(
            fake.clone(),
            &[play(&["a", "b"], 2, 1), second],
            dir.path(),
            None,
        )
        .await;
        let a_calls = lock(&fake.calls).iter().filter(|(h, _)| h == "a").count();
        assert_eq!(a_calls, 1);
    }

    #[tokio::test]
    async fn run_once_runs_once_and_every_host_gets_its_result() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Arc::new(Fake {
            fail: vec![],
            calls: Mutex::new(vec![]),
        });
        let mut p = play(&["a", "b", "c"], 3, 2);
        p.tasks[0].run_once = true;
        let (_, recap, _) = run(fake.clone(), &[p], dir.path(), None).await;
        let t0 = lock(&fake.calls).iter().filter(|(_, t)| *t == 0).count();
        assert_eq!(t0, 1);
        assert_eq!(recap.hosts["c"].changed, 2);
    }

    // Guards the resume promise: a task recorded as finished is never run again, and
    // what it registered is visible to the tasks that follow.
    #[tokio::test]
    async fn resume_skips_finished_tasks_and_restores_registered_values() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Arc::new(Fake {
            fail: vec![("b", 1)],
            calls: Mutex::new(vec![]),
        });
        let (first, _, _) = run(fake, &[play(&["a", "b"], 2, 3)], dir.path(), None).await;
        assert_eq!(first.exit_code, 2);
        let replay = Replay::load(&dir.path().join("journal.jsonl")).unwrap();
        let fake = Arc::new(Fake {
            fail: vec![],
            calls: Mutex::new(vec![]),
        });
        let (second, _, events) = run(
            fake.clone(),
            &[play(&["a", "b"], 2, 3)],
            dir.path(),
            Some(replay),
        )
        .await;
        assert_eq!(second.exit_code, 0);
        let calls = lock(&fake.calls).clone();
        assert_eq!(calls, vec![("b".to_string(), 1), ("b".to_string(), 2)]);
        // b's task 1 saw what b's tasks 0 and 1 registered in the first run (a failed
        // task registers its result too, as in Ansible).
        let saw = events.iter().find_map(|e| match e {
            Event::TaskFinished {
                host,
                task: Step::Task(1),
                result,
                ..
            } if host == "b" => result.msg.clone(),
            _ => None,
        });
        assert_eq!(saw.as_deref(), Some("saw 2 vars"));
        let replay = Replay::load(&dir.path().join("journal.jsonl")).unwrap();
        assert!(replay.completed("b", 0, 2).is_some());
    }

    // Guards: a notification made before the run stopped (here b failed; a kill leaves
    // the same journal) is neither lost nor repeated on resume: b runs its handler once
    // after the resumed task, a (whose handler ran) does not run it again.
    #[tokio::test]
    async fn resume_keeps_pending_notifications_and_runs_each_handler_once() {
        let dir = tempfile::tempdir().unwrap();
        let with_handler = || {
            let mut p = play(&["a", "b"], 2, 2);
            for t in &mut p.tasks {
                t.notify = vec![0];
            }
            p.flush_points = vec![2];
            p.handlers = vec![ScheduledHandler {
                name: "h".into(),
                notify: vec![],
            }];
            p
        };
        let fake = Arc::new(Fake {
            fail: vec![("b", 1)],
            calls: Mutex::new(vec![]),
        });
        let (first, recap, _) = run(fake.clone(), &[with_handler()], dir.path(), None).await;
        assert_eq!(first.exit_code, 2);
        let calls = lock(&fake.calls).clone();
        // The handler is step 2 (after the play's 2 tasks); it ran once on a only.
        assert_eq!(calls.iter().filter(|c| c.1 == 2).count(), 1, "{calls:?}");
        assert!(calls.contains(&("a".to_string(), 2)));
        assert_eq!(recap.hosts["a"].changed, 3);

        let replay = Replay::load(&dir.path().join("journal.jsonl")).unwrap();
        let fake = Arc::new(Fake {
            fail: vec![],
            calls: Mutex::new(vec![]),
        });
        let (second, _, _) = run(fake.clone(), &[with_handler()], dir.path(), Some(replay)).await;
        assert_eq!(second.exit_code, 0);
        assert_eq!(
            lock(&fake.calls).clone(),
            vec![("b".to_string(), 1), ("b".to_string(), 2)]
        );
    }

    /// Chooses the hosts when a play starts; records what the journal gave it.
    struct Chooser {
        inner: Fake,
        choose: Vec<String>,
        recorded: Mutex<Vec<Option<Vec<String>>>>,
    }

    impl TaskRunner for Chooser {
        fn run_task<'a>(
            &'a self,
            h: &'a str,
            p: usize,
            t: usize,
            v: HostVars,
        ) -> BoxFuture<'a, TaskOutcome> {
            self.inner.run_task(h, p, t, v)
        }
        fn decide_hosts(
            &self,
            _: usize,
            recorded: Option<&[String]>,
        ) -> Result<Option<(Vec<String>, Vec<Vec<String>>)>, String> {
            lock(&self.recorded).push(recorded.map(<[String]>::to_vec));
            let hosts = recorded
                .map(<[String]>::to_vec)
                .unwrap_or(self.choose.clone());
            Ok(Some((hosts.clone(), vec![hosts])))
        }
    }

    // Guards: a resumed run must reach the interrupted run's host decisions, even when
    // what they were made from has changed since (the hosts are in the journal).
    #[tokio::test]
    async fn hosts_decided_when_a_play_starts_are_kept_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let chooser = Arc::new(Chooser {
            inner: Fake {
                fail: vec![("b", 1)],
                calls: Mutex::new(vec![]),
            },
            choose: vec!["a".into(), "b".into()],
            recorded: Mutex::new(vec![]),
        });
        // Scheduled for "z": the runner's decision wins.
        let (first, recap, _) = run(chooser.clone(), &[play(&["z"], 1, 2)], dir.path(), None).await;
        assert_eq!(first.exit_code, 2);
        assert!(!recap.hosts.contains_key("z"));
        assert_eq!(lock(&chooser.recorded).clone(), vec![None]);
        let journal = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
        assert!(
            journal.contains(r#""t":"play_started","play":0,"hosts":["a","b"]"#),
            "{journal}"
        );

        let replay = Replay::load(&dir.path().join("journal.jsonl")).unwrap();
        assert_eq!(replay.play_hosts[&0], ["a", "b"]);
        let again = Arc::new(Chooser {
            inner: Fake {
                fail: vec![],
                calls: Mutex::new(vec![]),
            },
            // What the run would decide now differs: the journal's decision is kept.
            choose: vec!["c".into()],
            recorded: Mutex::new(vec![]),
        });
        let (second, _, _) = run(
            again.clone(),
            &[play(&["z"], 1, 2)],
            dir.path(),
            Some(replay),
        )
        .await;
        assert_eq!(second.exit_code, 0);
        assert_eq!(
            lock(&again.recorded).clone(),
            vec![Some(vec!["a".to_string(), "b".to_string()])]
        );
        assert_eq!(lock(&again.inner.calls).clone(), vec![("b".to_string(), 1)]);
    }

    #[tokio::test]
    async fn hosts_that_cannot_be_decided_stop_the_run() {
        struct Undecided(Fake);
        impl TaskRunner for Undecided {
            fn run_task<'a>(
                &'a self,
                h: &'a str,
                p: usize,
                t: usize,
                v: HostVars,
            ) -> BoxFuture<'a, TaskOutcome> {
                self.0.run_task(h, p, t, v)
            }
            fn decide_hosts(
                &self,
                _: usize,
                _: Option<&[String]>,
            ) -> Result<Option<(Vec<String>, Vec<Vec<String>>)>, String> {
                Err("site.yaml:2:10: `x` is undefined".into())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let runner = Arc::new(Undecided(Fake {
            fail: vec![],
            calls: Mutex::new(vec![]),
        }));
        let (summary, _, events) =
            run(runner.clone(), &[play(&["a"], 1, 1)], dir.path(), None).await;
        assert_eq!(summary.exit_code, 1);
        assert!(lock(&runner.0.calls).is_empty());
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::PlayAborted { reason, .. }
            if reason == "cannot decide the play's hosts: site.yaml:2:10: `x` is undefined"))
        );
    }

    /// Host `slow` takes a while over task 0; records when each call ends.
    struct Sleepy(Mutex<Vec<(String, usize)>>);

    impl TaskRunner for Sleepy {
        fn run_task<'a>(
            &'a self,
            host: &'a str,
            _: usize,
            task: usize,
            _: HostVars,
        ) -> BoxFuture<'a, TaskOutcome> {
            Box::pin(async move {
                if host == "slow" && task == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                }
                lock(&self.0).push((host.to_string(), task));
                TaskOutcome::plain(TaskResult::new(TaskStatus::Ok))
            })
        }
    }

    // Guards: a run_once task (add_host) reading what every host of the batch found
    // just before (group_by, register) ran as soon as its first host got there, before
    // the slower hosts had; Ansible's linear strategy waits for the whole batch. With
    // one fork the waiting host gives its fork back, or the batch would never finish.
    #[tokio::test]
    async fn run_once_waits_until_every_host_of_the_batch_has_got_there() {
        for forks in [10, 1] {
            let dir = tempfile::tempdir().unwrap();
            let runner = Arc::new(Sleepy(Mutex::new(vec![])));
            let mut p = play(&["fast", "slow"], 2, 2);
            p.tasks[1].run_once = true;
            let path = dir.path().join("journal.jsonl");
            let journal = Arc::new(Journal::create(&path, &header()).unwrap());
            let reporter = Arc::new(Reporter::new(vec![]));
            let s = Scheduler::new(
                runner.clone(),
                reporter,
                journal,
                None,
                Arc::new(RunVars::default()),
                forks,
                Arc::new(AtomicBool::new(false)),
            );
            let (summary, _) = s.run(&[p]).await.unwrap();
            assert_eq!(summary.exit_code, 0);
            let calls = lock(&runner.0).clone();
            let at = |c: (&str, usize)| calls.iter().position(|x| x.0 == c.0 && x.1 == c.1);
            let once = calls.iter().position(|x| x.1 == 1).unwrap();
            assert!(at(("slow", 0)).unwrap() < once, "forks {forks}: {calls:?}");
            assert_eq!(calls.iter().filter(|x| x.1 == 1).count(), 1);
        }
    }
}

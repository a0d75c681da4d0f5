//! The state journal: every task start and outcome on every host, appended as JSON
//! lines and made durable (fdatasync) before the host's next task starts, together with
//! what later tasks need (registered results, facts). A controller killed at any moment
//! leaves a journal that loads: a torn last line is ignored, and a task that started but
//! has no `done` record is simply run again on `--resume`.
//!
//! Writes go through one writer thread that commits everything pending with a single
//! fdatasync (group commit): 100 hosts finishing a task together cost one sync, not 100.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::event::TaskStatus;
use crate::parse::inventory::InventoryChange;

pub const JOURNAL_FILE: &str = "journal.jsonl";

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Record {
    /// First line: what was run, so `--resume` can check it is the same run.
    Run(RunHeader),
    /// A later invocation continued this run.
    Resume {
        at: String,
        /// The playbook it continued with, when it had changed and the operator
        /// accepted it (`--allow-changed-playbook`): from here on, task positions
        /// refer to this version.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        playbook: Option<PlaybookVersion>,
    },
    Start {
        host: String,
        play: usize,
        task: usize,
        /// For a task brought in by `include_tasks`/`include_role`: which run of each
        /// enclosing include (its loop item's index), outermost first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        iteration: Vec<usize>,
        at: String,
    },
    Done {
        host: String,
        play: usize,
        task: usize,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        iteration: Vec<usize>,
        status: TaskStatus,
        /// `register:` name and value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        register: Option<(String, serde_json::Value)>,
        /// Variables set by `set_fact`.
        #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
        facts: serde_json::Map<String, serde_json::Value>,
        /// What `add_host`/`group_by` changed in the in-memory inventory.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        inventory: Vec<InventoryChange>,
        /// Failed, but `ignore_errors` let the host go on.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ignored: bool,
        at: String,
    },
    /// A handler finished at a flush: the flush before task `flush` of the play (the
    /// end of a section, or a `meta: flush_handlers` task at that index).
    HandlerDone {
        host: String,
        play: usize,
        flush: usize,
        handler: usize,
        status: TaskStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        register: Option<(String, serde_json::Value)>,
        #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
        facts: serde_json::Map<String, serde_json::Value>,
        at: String,
    },
    /// A play started with these hosts (decided then, in this order): a resumed run
    /// keeps them instead of deciding again.
    PlayStarted {
        play: usize,
        hosts: Vec<String>,
        at: String,
    },
    End {
        exit_code: u8,
        interrupted: bool,
        at: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    pub version: u32,
    pub run_id: String,
    pub inventory: PathBuf,
    pub playbook: PathBuf,
    /// The playbook the run started with (or, once loaded, the last one a resume
    /// accepted). Its fields sit beside the others on the journal's first line.
    #[serde(flatten)]
    pub playbook_version: PlaybookVersion,
    pub limit: Option<String>,
    pub check: bool,
    pub started: String,
}

/// What identifies a version of the playbook: its bytes and its tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlaybookVersion {
    /// sha256 of the playbook file's bytes.
    pub playbook_digest: String,
    /// Task names per play, to say which tasks changed when the playbook did.
    pub tasks: Vec<Vec<String>>,
    /// Digests of what each task says, per play (empty in journals written before
    /// they were recorded): a task whose name stayed but whose content changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_digests: Vec<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write the journal `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the journal `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: the journal is damaged: {message}", path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("the journal writer stopped")]
    Closed,
}

enum Cmd {
    Append(
        Vec<u8>,
        Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
    ),
}

/// An open journal. Cheap to share behind an `Arc`.
pub struct Journal {
    path: PathBuf,
    tx: mpsc::Sender<Cmd>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Journal {
    /// Start a new journal (the file must not exist) with its header, durably.
    pub fn create(path: &Path, header: &RunHeader) -> Result<Journal, JournalError> {
        let werr = |source| JournalError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
            .map_err(werr)?;
        let line = encode(&Record::Run(header.clone()));
        file.write_all(&line).map_err(werr)?;
        file.sync_data().map_err(werr)?;
        sync_dir(path).map_err(werr)?;
        Ok(Journal::spawn(path, file))
    }

    /// Continue an existing journal (on `--resume`).
    pub fn append_to(path: &Path) -> Result<Journal, JournalError> {
        let werr = |source| JournalError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new().append(true).open(path).map_err(werr)?;
        // A torn last line (killed mid-write) must not glue onto the next record.
        let len = file.metadata().map_err(werr)?.len();
        if len > 0 && !ends_with_newline(path).map_err(werr)? {
            file.write_all(b"\n").map_err(werr)?;
        }
        Ok(Journal::spawn(path, file))
    }

    fn spawn(path: &Path, file: File) -> Journal {
        let (tx, rx) = mpsc::channel::<Cmd>();
        let worker = std::thread::Builder::new()
            .name("rtmig-journal".into())
            .spawn(move || writer_loop(file, rx))
            .ok();
        Journal {
            path: path.to_path_buf(),
            tx,
            worker,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append without waiting for it to reach the disk (task starts: losing one only
    /// means the task is run again on resume, which it would be anyway).
    pub fn record(&self, rec: &Record) {
        let _ = self.tx.send(Cmd::Append(encode(rec), None));
    }

    /// Append and wait until it is on disk.
    pub async fn record_durable(&self, rec: &Record) -> Result<(), JournalError> {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Cmd::Append(encode(rec), Some(done_tx)))
            .map_err(|_| JournalError::Closed)?;
        match done_rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(JournalError::Write {
                path: self.path.clone(),
                source: std::io::Error::other(msg),
            }),
            Err(_) => Err(JournalError::Closed),
        }
    }

    /// Same as [`Journal::record_durable`], for code outside the async runtime.
    pub fn record_durable_blocking(&self, rec: &Record) -> Result<(), JournalError> {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Cmd::Append(encode(rec), Some(done_tx)))
            .map_err(|_| JournalError::Closed)?;
        match done_rx.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(JournalError::Write {
                path: self.path.clone(),
                source: std::io::Error::other(msg),
            }),
            Err(_) => Err(JournalError::Closed),
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Closing the channel ends the writer after it has written what is pending.
        let (tx, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

fn writer_loop(mut file: File, rx: mpsc::Receiver<Cmd>) {
    let mut failed: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let mut waiters = Vec::new();
        let mut buf = Vec::new();
        for Cmd::Append(line, waiter) in batch {
            buf.extend_from_slice(&line);
            if let Some(w) = waiter {
                waiters.push(w);
            }
        }
        if failed.is_none() {
            let r = file.write_all(&buf).and_then(|_| {
                if waiters.is_empty() {
                    Ok(())
                } else {
                    file.sync_data()
                }
            });
            if let Err(e) = r {
                failed = Some(e.to_string());
            }
        }
        for w in waiters {
            let _ = w.send(match &failed {
                None => Ok(()),
                Some(msg) => Err(msg.clone()),
            });
        }
    }
    let _ = file.sync_data();
}

fn encode(rec: &Record) -> Vec<u8> {
    let mut line = serde_json::to_vec(rec).unwrap_or_else(|e| {
        // Serializing our own plain data cannot fail; keep the journal loadable if it does.
        format!("{{\"t\":\"unencodable\",\"error\":{:?}}}", e.to_string()).into_bytes()
    });
    line.push(b'\n');
    line
}

fn ends_with_newline(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path)?;
    f.seek(SeekFrom::End(-1))?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b)?;
    Ok(b[0] == b'\n')
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

/// What a journal says, replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub header: RunHeader,
    /// Finished tasks: (host, play, task) → status.
    pub done: HashMap<(String, usize, usize), TaskStatus>,
    /// Finished runs of included tasks: (host, play, task, iteration) → status.
    pub iterated: HashMap<(String, usize, usize, Vec<usize>), TaskStatus>,
    /// Tasks started but never recorded as finished: run again on resume.
    pub started_not_done: Vec<(String, usize, usize)>,
    /// Registered results and facts per host, in the order they were recorded.
    pub vars: HashMap<String, serde_json::Map<String, serde_json::Value>>,
    /// Every change `add_host`/`group_by` made to the inventory, in order (applying
    /// one again changes nothing, so repeats from `run_once` results are harmless).
    pub inventory: Vec<InventoryChange>,
    /// The hosts each play started with, as first recorded.
    pub play_hosts: HashMap<usize, Vec<String>>,
    /// Failed tasks whose failure was ignored (`ignore_errors`).
    pub ignored: HashSet<(String, usize, usize)>,
    /// Handlers finished: (host, play, flush, handler) → status.
    pub handlers: HashMap<(String, usize, usize, usize), TaskStatus>,
    pub finished: bool,
    pub exit_code: Option<u8>,
}

impl Replay {
    pub fn load(path: &Path) -> Result<Replay, JournalError> {
        let rerr = |source| JournalError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(rerr)?;
        let mut lines = Vec::new();
        for line in BufReader::new(file).split(b'\n') {
            lines.push(line.map_err(rerr)?);
        }
        let complete = ends_with_newline(path).unwrap_or(false);
        let mut header = None;
        let mut done = HashMap::new();
        let mut iterated = HashMap::new();
        let mut started = Vec::new();
        let mut vars: HashMap<String, serde_json::Map<String, serde_json::Value>> = HashMap::new();
        let mut inventory_changes = Vec::new();
        let mut play_hosts: HashMap<usize, Vec<String>> = HashMap::new();
        let mut ignored = HashSet::new();
        let mut handlers = HashMap::new();
        let mut finished = false;
        let mut exit_code = None;
        let last = lines.len();
        for (i, raw) in lines.iter().enumerate() {
            if raw.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let rec: Record = match serde_json::from_slice(raw) {
                Ok(r) => r,
                // Killed mid-write: the last line may be torn. Anything else is damage.
                Err(_) if i + 1 == last && !complete => break,
                Err(_) if i + 1 < last && is_torn_then_continued(raw) => continue,
                Err(e) => {
                    return Err(JournalError::Corrupt {
                        path: path.to_path_buf(),
                        line: i + 1,
                        message: e.to_string(),
                    });
                }
            };
            match rec {
                Record::Run(h) => header = Some(h),
                Record::Resume { playbook, .. } => {
                    finished = false;
                    if let (Some(h), Some(v)) = (header.as_mut(), playbook) {
                        h.playbook_version = v;
                    }
                }
                Record::Start {
                    host,
                    play,
                    task,
                    iteration,
                    ..
                } => {
                    if iteration.is_empty() {
                        started.push((host, play, task))
                    }
                }
                Record::Done {
                    host,
                    play,
                    task,
                    iteration,
                    status,
                    register,
                    facts,
                    inventory,
                    ignored: was_ignored,
                    ..
                } => {
                    let key = (host.clone(), play, task);
                    if was_ignored {
                        ignored.insert(key);
                    } else {
                        ignored.remove(&key);
                    }
                    for change in inventory {
                        if !inventory_changes.contains(&change) {
                            inventory_changes.push(change);
                        }
                    }
                    let entry = vars.entry(host.clone()).or_default();
                    if let Some((name, value)) = register {
                        entry.insert(name, value);
                    }
                    entry.extend(facts);
                    if iteration.is_empty() {
                        done.insert((host, play, task), status);
                    } else {
                        iterated.insert((host, play, task, iteration), status);
                    }
                }
                Record::HandlerDone {
                    host,
                    play,
                    flush,
                    handler,
                    status,
                    register,
                    facts,
                    ..
                } => {
                    let entry = vars.entry(host.clone()).or_default();
                    if let Some((name, value)) = register {
                        entry.insert(name, value);
                    }
                    entry.extend(facts);
                    handlers.insert((host, play, flush, handler), status);
                }
                Record::PlayStarted { play, hosts, .. } => {
                    play_hosts.entry(play).or_insert(hosts);
                }
                Record::End {
                    exit_code: code, ..
                } => {
                    finished = true;
                    exit_code = Some(code);
                }
            }
        }
        let header = header.ok_or_else(|| JournalError::Corrupt {
            path: path.to_path_buf(),
            line: 1,
            message: "no run header".into(),
        })?;
        let started_not_done = started
            .into_iter()
            .filter(|k| !done.contains_key(k))
            .collect();
        Ok(Replay {
            header,
            done,
            iterated,
            started_not_done,
            vars,
            inventory: inventory_changes,
            play_hosts,
            ignored,
            handlers,
            finished,
            exit_code,
        })
    }

    /// Whether this host finished this task successfully (ok, changed or skipped) in
    /// the recorded run, so a resumed run must not run it again.
    pub fn completed(&self, host: &str, play: usize, task: usize) -> Option<TaskStatus> {
        self.done
            .get(&(host.to_string(), play, task))
            .copied()
            .filter(|s| s.is_success())
    }

    /// How this task ended on this host, failures included, and whether its failure
    /// was ignored: what a resumed run replays through blocks (see
    /// `execute::scheduler`).
    pub fn recorded(&self, host: &str, play: usize, task: usize) -> Option<(TaskStatus, bool)> {
        let key = (host.to_string(), play, task);
        let status = *self.done.get(&key)?;
        Some((status, self.ignored.contains(&key)))
    }

    /// Whether this handler finished successfully at this flush.
    pub fn handler_completed(
        &self,
        host: &str,
        play: usize,
        flush: usize,
        handler: usize,
    ) -> Option<TaskStatus> {
        self.handlers
            .get(&(host.to_string(), play, flush, handler))
            .copied()
            .filter(|s| s.is_success())
    }

    /// [`Replay::completed`] for one run of a task an include brought in (`iteration`
    /// empty: a task of the play itself).
    pub fn completed_in(
        &self,
        host: &str,
        play: usize,
        task: usize,
        iteration: &[usize],
    ) -> Option<TaskStatus> {
        if iteration.is_empty() {
            return self.completed(host, play, task);
        }
        self.iterated
            .get(&(host.to_string(), play, task, iteration.to_vec()))
            .copied()
            .filter(|s| s.is_success())
    }
}

/// A torn line followed by a newline written by [`Journal::append_to`]: a record cut
/// short when the controller was killed, then continued by a resumed run.
fn is_torn_then_continued(raw: &[u8]) -> bool {
    raw.first() == Some(&b'{') && !raw.ends_with(b"}")
}

/// UTC time as `2026-11-22T07:15:30.123Z`, without a date crate.
pub fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RunHeader {
        RunHeader {
            version: 1,
            run_id: "r1".into(),
            inventory: "inv.yaml".into(),
            playbook: "pb.yaml".into(),
            playbook_version: PlaybookVersion {
                playbook_digest: "abc".into(),
                tasks: vec![vec!["a".into(), "b".into()]],
                task_digests: vec![],
            },
            limit: None,
            check: false,
            started: timestamp(),
        }
    }

    fn done(host: &str, task: usize, status: TaskStatus) -> Record {
        Record::Done {
            host: host.into(),
            play: 0,
            task,
            iteration: Vec::new(),
            status,
            register: Some(("out".into(), serde_json::json!({"rc": task}))),
            facts: serde_json::Map::new(),
            inventory: Vec::new(),
            ignored: false,
            at: timestamp(),
        }
    }

    #[tokio::test]
    async fn replays_done_tasks_and_registered_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let j = Journal::create(&path, &header()).unwrap();
        j.record(&Record::Start {
            host: "n1".into(),
            play: 0,
            task: 0,
            iteration: Vec::new(),
            at: timestamp(),
        });
        j.record_durable(&done("n1", 0, TaskStatus::Changed))
            .await
            .unwrap();
        j.record(&Record::Start {
            host: "n1".into(),
            play: 0,
            task: 1,
            iteration: Vec::new(),
            at: timestamp(),
        });
        j.record_durable(&done("n2", 0, TaskStatus::Failed))
            .await
            .unwrap();
        drop(j);
        let r = Replay::load(&path).unwrap();
        assert_eq!(r.completed("n1", 0, 0), Some(TaskStatus::Changed));
        assert_eq!(r.completed("n2", 0, 0), None, "a failed task is run again");
        assert_eq!(r.started_not_done, vec![("n1".to_string(), 0, 1)]);
        assert_eq!(r.vars["n1"]["out"], serde_json::json!({"rc": 0}));
        assert!(!r.finished);
    }

    // Guards: a controller killed in the middle of a write leaves a torn last line;
    // the journal must still load, and a resumed run must append cleanly after it.
    #[tokio::test]
    async fn a_torn_last_line_is_ignored_and_resume_appends_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let j = Journal::create(&path, &header()).unwrap();
        j.record_durable(&done("n1", 0, TaskStatus::Ok))
            .await
            .unwrap();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"t\":\"done\",\"host\":\"n1\",\"pl")
            .unwrap();
        drop(f);
        let r = Replay::load(&path).unwrap();
        assert_eq!(r.done.len(), 1);

        let j = Journal::append_to(&path).unwrap();
        j.record_durable(&done("n1", 1, TaskStatus::Ok))
            .await
            .unwrap();
        drop(j);
        let r = Replay::load(&path).unwrap();
        assert_eq!(r.completed("n1", 0, 1), Some(TaskStatus::Ok));
    }

    // Guards: after a resume accepted a changed playbook, the next resume compared with
    // the first version again and refused once more.
    #[test]
    fn a_resume_with_an_accepted_playbook_becomes_the_version_to_compare_with() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let first = header();
        let j = Journal::create(&path, &first).unwrap();
        j.record_durable_blocking(&Record::Resume {
            at: timestamp(),
            playbook: None,
        })
        .unwrap();
        assert_eq!(Replay::load(&path).unwrap().header, first);
        let v2 = PlaybookVersion {
            playbook_digest: "def".into(),
            tasks: vec![vec!["a".into(), "b2".into()]],
            task_digests: vec![vec!["1".into(), "2".into()]],
        };
        j.record_durable_blocking(&Record::Resume {
            at: timestamp(),
            playbook: Some(v2.clone()),
        })
        .unwrap();
        drop(j);
        let h = Replay::load(&path).unwrap().header;
        assert_eq!(h.playbook_version, v2);
        assert_eq!(h.run_id, "r1");
    }

    #[test]
    fn damage_in_the_middle_is_reported_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let h = serde_json::to_string(&Record::Run(header())).unwrap();
        std::fs::write(&path, format!("{h}\nnot json\n{h}\n")).unwrap();
        let err = Replay::load(&path).unwrap_err().to_string();
        assert!(err.contains(":2: the journal is damaged"), "{err}");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
    }
}

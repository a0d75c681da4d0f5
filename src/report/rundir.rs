//! Run directories: `.rtmig/runs/<run-id>/` beside the inventory, each with its journal
//! and one log per host, and the rule that decides whether `rtmig run` starts a new run,
//! continues the last one (`--resume`), or must ask.

use std::path::{Path, PathBuf};

use super::journal::{JOURNAL_FILE, PlaybookVersion, Replay};

pub const STATE_DIR: &str = ".rtmig";

/// Where the runs of an inventory live: `.rtmig/runs/` beside it.
pub fn runs_dir(inventory: &Path) -> PathBuf {
    let dir = inventory
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(STATE_DIR).join("runs")
}

/// A sortable, unique run id: `20261122T071530Z-1a2b`.
pub fn new_run_id() -> String {
    let ts = super::journal::timestamp();
    let compact: String = ts
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("{compact}Z-{:04x}", std::process::id() & 0xffff)
}

/// The newest run (not in check mode) of this inventory and playbook, replayed. Runs whose journal cannot
/// be read are skipped with their error returned alongside, so one damaged old run does
/// not hide the others.
pub fn last_run(
    inventory: &Path,
    playbook: &Path,
) -> Result<Option<(PathBuf, Replay)>, super::journal::JournalError> {
    let dir = runs_dir(inventory);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(None);
    };
    let mut ids: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    ids.sort();
    let want_inv = canonical(inventory);
    let want_pb = canonical(playbook);
    for run in ids.into_iter().rev() {
        let journal = run.join(JOURNAL_FILE);
        if !journal.exists() {
            continue;
        }
        let replay = Replay::load(&journal)?;
        // A check run changed nothing: it neither blocks nor feeds a resume.
        if replay.header.check {
            continue;
        }
        if canonical(&replay.header.inventory) == want_inv
            && canonical(&replay.header.playbook) == want_pb
        {
            return Ok(Some((run, replay)));
        }
    }
    Ok(None)
}

pub fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// What `rtmig run` should do about the last run.
#[derive(Debug, PartialEq)]
pub enum Start {
    New,
    Resume(PathBuf),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StartError {
    #[error(
        "the last run of this playbook did not finish: {run}\n  \
         rerun with --resume to continue each host where it stopped, or --fresh to start over"
    )]
    Unfinished { run: String },
    #[error("--resume: there is no unfinished run of this inventory and playbook to resume")]
    NothingToResume,
}

/// Decide how to start. A run is finished when it ended with every host successful;
/// one that was interrupted or had a failed host can be resumed.
pub fn decide(
    last: Option<(&Path, &Replay)>,
    resume: bool,
    fresh: bool,
) -> Result<Start, StartError> {
    let unfinished = last.filter(|(_, r)| !(r.finished && r.exit_code == Some(0)));
    match (unfinished, resume, fresh) {
        (_, _, true) => Ok(Start::New),
        (Some((dir, _)), true, _) => Ok(Start::Resume(dir.to_path_buf())),
        (None, true, _) => Err(StartError::NothingToResume),
        (Some((dir, _)), false, _) => Err(StartError::Unfinished {
            run: dir.display().to_string(),
        }),
        (None, false, false) => Ok(Start::New),
    }
}

/// The tasks that differ between the interrupted run's playbook and this one, by
/// position (`play 1 task 3`) and name: renamed, changed, added or removed.
pub fn changed_tasks(before: &PlaybookVersion, now: &PlaybookVersion) -> Vec<String> {
    let mut out = Vec::new();
    let plays = before.tasks.len().max(now.tasks.len());
    let digest = |v: &PlaybookVersion, p: usize, t: usize| -> Option<String> {
        v.task_digests.get(p).and_then(|v| v.get(t)).cloned()
    };
    for p in 0..plays {
        let (a, b) = (before.tasks.get(p), now.tasks.get(p));
        let n = a.map_or(0, |v| v.len()).max(b.map_or(0, |v| v.len()));
        for t in 0..n {
            let at = format!("play {} task {}", p + 1, t + 1);
            let (x, y) = (a.and_then(|v| v.get(t)), b.and_then(|v| v.get(t)));
            match (x, y) {
                (Some(x), Some(y)) if x != y => out.push(format!("{at}: `{x}` is now `{y}`")),
                (Some(x), Some(_)) => {
                    if let (Some(d1), Some(d2)) = (digest(before, p, t), digest(now, p, t))
                        && d1 != d2
                    {
                        out.push(format!("{at}: `{x}` changed"));
                    }
                }
                (Some(x), None) => out.push(format!("{at}: `{x}` was removed")),
                (None, Some(y)) => out.push(format!("{at}: `{y}` was added")),
                (None, None) => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::journal::RunHeader;
    use std::collections::HashMap;

    fn replay(finished: bool, code: Option<u8>) -> Replay {
        Replay {
            header: RunHeader {
                version: 1,
                run_id: "x".into(),
                inventory: "i".into(),
                playbook: "p".into(),
                playbook_version: Default::default(),
                limit: None,
                check: false,
                started: String::new(),
            },
            done: HashMap::new(),
            iterated: HashMap::new(),
            started_not_done: vec![],
            ignored: Default::default(),
            handlers: HashMap::new(),
            inventory: vec![],
            play_hosts: HashMap::new(),
            vars: HashMap::new(),
            finished,
            exit_code: code,
        }
    }

    #[test]
    fn an_unfinished_run_must_be_resumed_or_started_fresh() {
        let r = replay(false, None);
        let dir = Path::new("/runs/a");
        assert!(matches!(
            decide(Some((dir, &r)), false, false),
            Err(StartError::Unfinished { .. })
        ));
        assert_eq!(
            decide(Some((dir, &r)), true, false),
            Ok(Start::Resume(dir.into()))
        );
        assert_eq!(decide(Some((dir, &r)), false, true), Ok(Start::New));
    }

    #[test]
    fn a_run_with_a_failed_host_can_be_resumed() {
        let r = replay(true, Some(2));
        let dir = Path::new("/runs/a");
        assert_eq!(
            decide(Some((dir, &r)), true, false),
            Ok(Start::Resume(dir.into()))
        );
    }

    #[test]
    fn a_successful_run_is_not_resumed() {
        let r = replay(true, Some(0));
        let dir = Path::new("/runs/a");
        assert_eq!(decide(Some((dir, &r)), false, false), Ok(Start::New));
        assert_eq!(
            decide(Some((dir, &r)), true, false),
            Err(StartError::NothingToResume)
        );
    }

    fn strings(v: &[&[&str]]) -> Vec<Vec<String>> {
        v.iter()
            .map(|p| p.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    fn version(tasks: &[&[&str]], digests: &[&[&str]]) -> PlaybookVersion {
        PlaybookVersion {
            playbook_digest: String::new(),
            tasks: strings(tasks),
            task_digests: strings(digests),
        }
    }

    #[test]
    fn changed_tasks_are_named() {
        let before = version(&[&["a", "b"]], &[]);
        let now = version(&[&["a", "c", "d"]], &[]);
        assert_eq!(
            changed_tasks(&before, &now),
            vec![
                "play 1 task 2: `b` is now `c`",
                "play 1 task 3: `d` was added"
            ]
        );
    }

    #[test]
    fn a_task_whose_content_changed_is_named_by_position_and_name() {
        let names: &[&[&str]] = &[&["a", "b"], &["c"]];
        let before = version(names, &[&["1", "2"], &["3"]]);
        let now = version(names, &[&["1", "2*"], &["3"]]);
        let changed = changed_tasks(&before, &now);
        assert_eq!(changed, vec!["play 1 task 2: `b` changed"]);
        // A journal without digests: only names can be compared.
        let old = version(names, &[]);
        assert!(changed_tasks(&old, &now).is_empty());
    }

    #[test]
    fn run_ids_sort_by_time() {
        let id = new_run_id();
        assert_eq!(id.len(), "20261122T071530Z-1a2b".len(), "{id}");
        assert!(id.contains('T'));
    }
}

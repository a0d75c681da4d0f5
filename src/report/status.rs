//! `rtmig status`: the state of the last run of a playbook, per host, from its journal.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use super::TaskStatus;
use super::journal::Replay;

/// A readable summary of a replayed run.
pub fn render(run_dir: &Path, r: &Replay) -> String {
    let mut out = String::new();
    let state = match (r.finished, r.exit_code) {
        (true, Some(0)) => "finished: every host succeeded".to_string(),
        (true, Some(code)) => format!("finished with exit code {code}: resumable with --resume"),
        _ => "unfinished (interrupted or killed): resumable with --resume".to_string(),
    };
    let _ = writeln!(out, "run {} ({})", r.header.run_id, run_dir.display());
    let _ = writeln!(out, "  playbook: {}", r.header.playbook.display());
    let _ = writeln!(out, "  started:  {}", r.header.started);
    let _ = writeln!(out, "  state:    {state}");
    let total: usize = r
        .header
        .playbook_version
        .tasks
        .iter()
        .map(|t| t.len())
        .sum();
    let mut hosts: BTreeMap<&str, Vec<(usize, usize, TaskStatus)>> = BTreeMap::new();
    for ((host, play, task), status) in &r.done {
        hosts
            .entry(host.as_str())
            .or_default()
            .push((*play, *task, *status));
    }
    for (host, _, _) in &r.started_not_done {
        hosts.entry(host.as_str()).or_default();
    }
    let width = hosts.keys().map(|h| h.len()).max().unwrap_or(4);
    let _ = writeln!(out);
    for (host, mut done) in hosts {
        done.sort_by_key(|(p, t, _)| (*p, *t));
        let name = |p: usize, t: usize| {
            r.header
                .playbook_version
                .tasks
                .get(p)
                .and_then(|v| v.get(t))
                .cloned()
                .unwrap_or_else(|| format!("play {} task {}", p + 1, t + 1))
        };
        let ok = done.iter().filter(|(_, _, s)| s.is_success()).count();
        let failed = done.iter().find(|(_, _, s)| !s.is_success());
        let running = r.started_not_done.iter().find(|(h, _, _)| h == host);
        let what = match (failed, running) {
            (Some((p, t, s)), _) => format!("{} at `{}`", s.as_str(), name(*p, *t)),
            (None, Some((_, p, t))) => format!("stopped during `{}`", name(*p, *t)),
            (None, None) => match done.last() {
                Some((p, t, _)) => format!("last finished `{}`", name(*p, *t)),
                None => "nothing done".into(),
            },
        };
        let _ = writeln!(out, "{host:<width$}  {ok:>3}/{total} tasks done  {what}");
    }
    out
}

//! The process's open-files limit against what a run keeps open: one SSH connection per
//! host for the whole run, its per-host log, the journal and the runtime's own few. At
//! start the soft limit is raised to the hard one (as OpenSSH's and many servers do);
//! when even that is too low for the fleet, the run says so before it connects, rather
//! than failing hosts later with `Too many open files`. Depends on libc only.

/// Descriptors a run needs for `hosts` hosts: a connection and a log each, plus the
/// journal, the terminal, the runtime's epoll and timers, and room for local commands.
pub fn files_needed(hosts: usize) -> u64 {
    2 * hosts as u64 + 64
}

/// Raise RLIMIT_NOFILE's soft limit to its hard limit; returns (soft, hard) as they are
/// afterwards. Nothing is changed when the limit cannot be read.
pub fn raise_open_files_limit() -> Option<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    Some((lim.rlim_cur as u64, lim.rlim_max as u64))
}

/// The warning for a run of `hosts` hosts under the limits `(soft, hard)`, if they are
/// too low for it.
pub fn too_few_files(hosts: usize, (soft, hard): (u64, u64)) -> Option<String> {
    let need = files_needed(hosts);
    (soft < need).then(|| {
        format!(
            "the open-files limit is {soft} (hard limit {hard}) but a run over {hosts} hosts keeps \
             about {need} files and connections open: hosts beyond it would fail with `Too many open \
             files`; raise the hard limit (`ulimit -Hn {need}` as root, `LimitNOFILE={need}` for a \
             service, /etc/security/limits.conf) or run fewer hosts at once with --limit"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_within_the_limit_gets_no_warning() {
        assert_eq!(too_few_files(100, (1024, 4096)), None);
    }

    #[test]
    fn a_fleet_beyond_the_limit_is_told_the_numbers_and_the_fix() {
        let w = too_few_files(1000, (1024, 1024)).expect("a warning");
        assert!(
            w.contains("the open-files limit is 1024 (hard limit 1024)")
                && w.contains("1000 hosts keeps about 2064 files")
                && w.contains("ulimit -Hn 2064"),
            "{w}"
        );
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let (soft, hard) = raise_open_files_limit().expect("getrlimit");
        assert_eq!(soft, hard);
    }
}

//! The process's open-files limit against what a run keeps open: one SSH connection (a
//! TCP socket) per host for the whole run, the journal and the runtime's own few; the
//! per-host logs are opened only to append a finished task (report::hostlog). At
//! start the soft limit is raised to the hard one (as OpenSSH's and many servers do);
//! when even that is too low for the fleet, the run says so before it connects, rather
//! than failing hosts later with `Too many open files`. Depends on libc only.

/// Descriptors a run holds besides its hosts' connections, counted in `/proc/PID/fd` of
/// `rtmig run` over 100 SSH hosts: stdin/out/err, the journal, tokio's epoll, eventfd
/// and signal pipe (about 10), plus one host log being appended and a little room.
pub const FIXED_FILES: u64 = 16;

/// Descriptors a run needs for `hosts` hosts: one socket each (a local host's running
/// command holds its pipes instead, for as long as it runs), plus [`FIXED_FILES`].
pub fn files_needed(hosts: usize) -> u64 {
    hosts as u64 + FIXED_FILES
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

    /// Regression (issue 13): the estimate was 2 × hosts + 64, about twice what a run
    /// holds; 1000 hosts ran fine under 1024 while the warning asked for 2064.
    #[test]
    fn a_thousand_hosts_fit_in_1024_files() {
        assert_eq!(files_needed(1000), 1016);
        assert_eq!(too_few_files(1000, (1024, 1024)), None);
    }

    #[test]
    fn a_fleet_beyond_the_limit_is_told_the_numbers_and_the_fix() {
        let w = too_few_files(1000, (900, 900)).expect("a warning");
        assert!(
            w.contains("the open-files limit is 900 (hard limit 900)")
                && w.contains("1000 hosts keeps about 1016 files")
                && w.contains("ulimit -Hn 1016"),
            "{w}"
        );
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let (soft, hard) = raise_open_files_limit().expect("getrlimit");
        assert_eq!(soft, hard);
    }
}

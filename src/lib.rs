//! rtmig: an agentless SSH orchestrator with the Docker to containerd migration of
//! Kubernetes nodes built in.
//!
//! The crate follows four stages, each in its own folder:
//!
//! - [`parse`]: inventory and playbook files become typed, validated values
//!   (errors name file:line:column; nothing runs when they fail).
//! - [`plan`]: which hosts run which tasks, in which plays and batches. Pure data.
//! - [`execute`]: the scheduler walks the plan; one function runs one task on one host,
//!   over a [`transport::Transport`].
//! - [`report`]: every user-visible thing is an event sent to listeners (progress,
//!   per-host logs, the resumable journal, JSON lines).
//!
//! [`template`] renders strings and files with minijinja for parse (validation) and
//! execute (rendering). [`shell_words`] quotes and splits shell words (Python's
//! `shlex`); [`words`] (boolean words, plurals) and [`digest`] (sha256 hex) are the other
//! leaves the stages share. [`cli`] declares the command line; [`commands`] glues the
//! stages together for each subcommand. `main.rs` only calls [`run`].

pub mod cli;
mod commands;
pub mod digest;
pub mod execute;
pub mod parse;
pub mod plan;
pub mod pyre;
pub mod report;
pub mod sequence;
pub mod shell_words;
pub mod template;
pub mod transport;
pub mod words;

pub use commands::run;

/// The process exit status, following Ansible's convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Ok = 0,
    /// Usage error, invalid input, or a fatal error before or outside any host.
    Invalid = 1,
    /// Some host failed.
    HostFailed = 2,
    /// Some host was unreachable (and none failed).
    Unreachable = 4,
    /// Interrupted by the operator (Ctrl-C); the journal was saved.
    Interrupted = 99,
}

pub use words::plural;

/// The error and its causes, each on its own line ("caused by: ...") when there are
/// several, or as one line when there is one.
pub fn error_chain(err: &anyhow::Error) -> String {
    // Several input problems: one `error:` line each, then how many.
    if let Some(errors) = err.downcast_ref::<parse::InputErrors>() {
        if errors.0.len() > 1 {
            let lines: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
            return format!(
                "{}\n{} problems found; nothing was run",
                lines.join("\nerror: "),
                lines.len()
            );
        }
    }
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        out.push_str("\n  caused by: ");
        out.push_str(&cause.to_string());
    }
    out
}

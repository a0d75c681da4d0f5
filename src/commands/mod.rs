//! Glue between the command line and the stages: each subcommand loads its input
//! (parse), builds what it needs (plan), runs it (execute) and reports. Thin by design.

mod inventory;
mod load;
mod plan;
mod run;
mod undefined;

use crate::Status;
use crate::cli::{Cli, Command};

/// Write a command's output to stdout. A closed pipe (`rtmig plan | head`) ends the
/// output quietly, as it does for other command-line tools, instead of panicking.
pub(crate) fn out(text: impl std::fmt::Display) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match write!(stdout, "{text}").and_then(|_| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Run one invocation of rtmig.
pub fn run(cli: Cli) -> anyhow::Result<Status> {
    match cli.command {
        Command::Inventory(args) => inventory::inventory(&args),
        Command::Plan(args) => plan::plan(&args),
        Command::Validate(args) => plan::validate(&args),
        Command::Run(args) => run::run(&args, cli.verbose),
        Command::Status(args) => run::status(&args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "rtmig", &mut std::io::stdout());
            Ok(Status::Ok)
        }
    }
}

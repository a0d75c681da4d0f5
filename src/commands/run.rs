//! `rtmig run` and `rtmig status`.

use crate::Status;
use crate::cli::{RunArgs, StatusArgs};
use crate::report::rundir;

pub fn run(_args: &RunArgs, _verbose: u8) -> anyhow::Result<Status> {
    anyhow::bail!("`rtmig run` is not implemented yet")
}

pub fn status(args: &StatusArgs) -> anyhow::Result<Status> {
    match rundir::last_run(&args.inventory, &args.playbook)? {
        None => {
            println!(
                "no run of `{}` with inventory `{}` yet (runs are kept in {})",
                args.playbook.display(),
                args.inventory.display(),
                rundir::runs_dir(&args.inventory).display()
            );
        }
        Some((dir, replay)) => print!("{}", crate::report::status::render(&dir, &replay)),
    }
    Ok(Status::Ok)
}

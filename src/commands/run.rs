//! `rtmig run` and `rtmig status`.

use crate::Status;
use crate::cli::{RunArgs, StatusArgs};

pub fn run(_args: &RunArgs, _verbose: u8) -> anyhow::Result<Status> {
    anyhow::bail!("`rtmig run` is not implemented yet")
}

pub fn status(_args: &StatusArgs) -> anyhow::Result<Status> {
    anyhow::bail!("`rtmig status` is not implemented yet")
}

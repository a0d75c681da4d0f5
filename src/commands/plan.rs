//! `rtmig plan` and `rtmig validate`.

use crate::Status;
use crate::cli::PlanArgs;

pub fn plan(_args: &PlanArgs) -> anyhow::Result<Status> {
    anyhow::bail!("`rtmig plan` is not implemented yet")
}

pub fn validate(_args: &PlanArgs) -> anyhow::Result<Status> {
    anyhow::bail!("`rtmig validate` is not implemented yet")
}

//! `rtmig inventory`: --list, --graph, --hosts.

use crate::Status;
use crate::cli::InventoryArgs;

pub fn inventory(_args: &InventoryArgs) -> anyhow::Result<Status> {
    anyhow::bail!("`rtmig inventory` is not implemented yet")
}

//! `rtmig plan` and `rtmig validate`.

use crate::Status;
use crate::cli::PlanArgs;

pub fn plan(args: &PlanArgs) -> anyhow::Result<Status> {
    let loaded = super::load::load(args, None)?;
    super::out(&loaded.plan)?;
    Ok(Status::Ok)
}

pub fn validate(args: &PlanArgs) -> anyhow::Result<Status> {
    let loaded = super::load::load(args, None)?;
    let hosts: usize = loaded
        .plan
        .plays
        .iter()
        .map(|p| p.hosts.len())
        .max()
        .unwrap_or(0);
    super::out(format!(
        "ok: `{}` ({} plays) and `{}` ({} hosts) are valid\n",
        args.target.playbook.display(),
        loaded.playbook.plays.len(),
        args.target.inventory.display(),
        loaded.inventory.host_names().len().max(hosts)
    ))?;
    Ok(Status::Ok)
}

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
    let undefined = super::undefined::check(
        &loaded.playbook,
        &loaded.inventory,
        &loaded.extra_vars,
        &loaded.templates,
    );
    for w in &undefined.warnings {
        eprintln!("warning: {w} (only read when the task's `when:` holds)");
    }
    if !undefined.errors.is_empty() {
        return Err(crate::parse::InputErrors(undefined.errors).into());
    }
    let hosts: usize = loaded
        .plan
        .plays
        .iter()
        .map(|p| p.hosts.len())
        .max()
        .unwrap_or(0);
    let plays = loaded.playbook.plays.len();
    let hosts = loaded.inventory.host_names().len().max(hosts);
    super::out(format!(
        "ok: `{}` ({}) and `{}` ({}) are valid\n",
        args.target.playbook.display(),
        crate::plural(plays, "play", "plays"),
        args.target.inventory.display(),
        crate::plural(hosts, "host", "hosts"),
    ))?;
    Ok(Status::Ok)
}

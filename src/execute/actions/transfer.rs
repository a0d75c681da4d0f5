//! `transfer` (rtmig's own): a file from another host of the inventory to this one,
//! streamed through the controller and verified by sha256. A destination that already
//! holds the same content is left alone (see [`crate::execute::files::transfer`]).

use super::{Cx, TResult, file_result, located, transport_failure};
use crate::execute::files::{self, FileSpec};
use crate::execute::remote::Remote;
use crate::parse::playbook::Transfer;
use crate::report::{TaskResult, TaskStatus};

pub(super) async fn run(cx: &Cx<'_>, remote: &Remote<'_>, t: &Transfer) -> TResult<TaskResult> {
    let runner = cx.runner;
    let from_host = cx.text(&t.from)?;
    if !runner.inventory.get().contains_host(&from_host) && !runner.connections.is_local(&from_host)
    {
        return Err(located(
            &t.from.location,
            format!("`from: {from_host}` is not a host of the inventory"),
        ));
    }
    let from_transport = match runner.connections.get(&from_host).await {
        Ok(t) => t,
        Err(e) => {
            let mut r = transport_failure(&e);
            // The source being down is this task's failure, not this host's.
            r.status = TaskStatus::Failed;
            r.msg = Some(format!("source host `{from_host}`: {e}"));
            return Ok(r);
        }
    };
    let from_login = runner.inventory.get().connection(&from_host).user;
    let from = Remote {
        host: &from_host,
        transport: from_transport.as_ref(),
        privilege: cx.privilege(&from_host)?,
        login_user: from_login.as_deref(),
        timeout: remote.timeout,
        on_command: remote.on_command,
    };
    let src = cx.text(&t.src)?;
    let spec = cx.file_spec(&t.dest, [&t.mode, &t.owner, &t.group], t.backup)?;
    Ok(transfer(&from, &src, remote, &spec, cx.check()).await)
}

/// `transfer`: a file from another host, through the controller, verified by sha256.
pub async fn transfer(
    from: &Remote<'_>,
    src: &str,
    to: &Remote<'_>,
    spec: &FileSpec,
    check: bool,
) -> TaskResult {
    file_result(
        files::transfer(from, src, to, spec, check).await,
        &spec.dest,
    )
}

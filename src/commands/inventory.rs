//! `rtmig inventory`: `--list [--limit PATTERN]` (the JSON of `ansible-inventory --list`),
//! `--graph [--vars]` (its group tree) and `--hosts [--limit PATTERN]` (the hosts of
//! `ansible PATTERN --list-hosts`, one name per line, without its header).

use anyhow::Context;

use crate::Status;
use crate::cli::InventoryArgs;
use crate::parse::inventory::{Inventory, python_json};
use crate::parse::vault::Decryption;

pub fn inventory(args: &InventoryArgs) -> anyhow::Result<Status> {
    if args.limit.is_some() && args.graph {
        anyhow::bail!(
            "`--limit` goes with `--list` or `--hosts`; `--graph` shows the whole inventory"
        );
    }
    // As ansible-inventory: `--list` prints a `!vault` value as `{"__ansible_vault":
    // PAYLOAD}` without decrypting it, `--graph --vars` shows it decrypted; encrypted
    // vars files are decrypted for both, and not read when no variable is shown.
    let shows_vars = args.list || args.vars;
    let decryption = Decryption {
        vault: super::load::vault(&args.vault)?,
        keep_values: !(args.graph && args.vars),
        skip_vars_files: !shows_vars,
    };
    let inventory =
        Inventory::load_with(&args.inventory, &decryption).map_err(anyhow::Error::msg)?;
    let mut out = String::new();
    if args.list {
        let list = match &args.limit {
            Some(limit) => inventory
                .to_list_json_limited(limit)
                .map_err(anyhow::Error::msg)?,
            None => inventory.to_list_json(),
        };
        out = python_json(&list);
        out.push('\n');
    } else if args.graph {
        out = inventory.graph(args.vars);
    } else if args.hosts {
        let hosts = match &args.limit {
            Some(limit) => inventory.select(limit).map_err(anyhow::Error::msg)?,
            None => inventory
                .host_names()
                .into_iter()
                .map(String::from)
                .collect(),
        };
        for h in hosts {
            out.push_str(&h);
            out.push('\n');
        }
    }
    // `rtmig inventory --list | head` is not an error.
    super::out(out).context("cannot write to standard output")?;
    Ok(Status::Ok)
}

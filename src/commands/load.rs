//! Parse and plan, shared by `plan`, `validate` and `run`: nothing here touches a host.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::cli::{PlanArgs, VaultArgs};
use crate::execute::live::PlaySource;
use crate::parse::inventory::Inventory;
use crate::parse::playbook::{self, Playbook, Templated};
use crate::parse::vault::{Decryption, Vault, secrets};
use crate::parse::{InputError, InputErrors};
use crate::plan::{self, Plan, PlanOptions};
use crate::template::Templates;

type Json = serde_json::Map<String, serde_json::Value>;

pub struct Loaded {
    pub inventory: Arc<Inventory>,
    pub playbook: Arc<Playbook>,
    pub templates: Arc<Templates>,
    pub extra_vars: Json,
    pub plan: Plan,
    /// The vault passwords given, and every value they decrypted (secrets to mask).
    pub vault: Arc<Vault>,
}

/// The vault passwords of the command line, `ANSIBLE_VAULT_IDENTITY_LIST` and
/// `ANSIBLE_VAULT_PASSWORD_FILE`, read
/// (or asked on the terminal) before anything else is loaded.
pub fn vault(args: &VaultArgs) -> anyhow::Result<Arc<Vault>> {
    // ANSIBLE_VAULT_IDENTITY_LIST (comma-separated `--vault-id`s) comes first, as there.
    let env_ids: Vec<String> = std::env::var("ANSIBLE_VAULT_IDENTITY_LIST")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let vault_ids = [env_ids, args.vault_ids.clone()].concat();
    let sources = secrets::sources(
        &vault_ids,
        &args.password_files,
        std::env::var_os("ANSIBLE_VAULT_PASSWORD_FILE").map(PathBuf::from),
        args.ask,
    );
    let vault = secrets::load(&sources, &mut |prompt: &str| {
        rpassword::prompt_password(prompt)
    })?;
    Ok(Arc::new(vault))
}

/// Directories templates are looked up in: Ansible's `<playbook dir>/templates` and the
/// playbook dir, then a `templates/` beside the playbook's folder (this repository's
/// layout: `playbooks/` and `templates/` side by side).
pub fn template_dirs(playbook_dir: &std::path::Path) -> Vec<PathBuf> {
    let mut dirs = vec![playbook_dir.join("templates"), playbook_dir.to_path_buf()];
    if let Some(parent) = playbook_dir.parent() {
        dirs.push(parent.join("templates"));
    }
    dirs
}

/// Syntax-check every template string, expression and template file of the playbook,
/// each error at its place in the playbook (or the template file).
pub fn check_templates(playbook: &Playbook, templates: &Templates) -> Result<(), InputErrors> {
    let mut errors = Vec::new();
    let mut check = |item: Templated<'_>| {
        let r = match item {
            Templated::Text(t) => templates.check_str(&t.value),
            Templated::Expr(e) => templates.check_expr(&e.value),
        };
        if let Err(e) = r {
            let loc = item.location();
            // A template spanning several lines: point at the line inside it.
            let line = loc.line + e.line().map_or(0, |l| l.saturating_sub(1) as u64);
            let at = crate::parse::Location::new(loc.file.clone(), line, loc.column);
            errors.push(InputError::at(&at, format!("template error: {e}")));
        }
    };
    for play in &playbook.plays {
        play.strings().into_iter().for_each(&mut check);
        for task in play.all_tasks() {
            task.strings().into_iter().for_each(&mut check);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (path, loc) in playbook.template_files() {
        // Plays sharing tasks through a YAML anchor name the same file more than once.
        if !seen.insert(path.to_path_buf()) {
            continue;
        }
        // The template loader resolves relative names against its own search dirs; a
        // path found by the parser is relative to the working directory.
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Err(e) = templates.check_file(&absolute.display().to_string()) {
            let position = e.line().map(|l| (l as u64, 1));
            let mut err = InputError::at(loc, format!("template `{}`: {e}", path.display()));
            if let Some(p) = position {
                err = InputError {
                    file: path.to_path_buf(),
                    position: Some(p),
                    message: e.to_string(),
                };
            }
            errors.push(err);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(InputErrors(errors))
    }
}

pub fn load(args: &PlanArgs, start_at: Option<&str>) -> anyhow::Result<Loaded> {
    let t = &args.target;
    let vault = vault(&t.vault)?;
    let decryption = Decryption::new(vault.clone());
    let extra_vars =
        crate::parse::extra_vars::parse(&t.extra_vars, &decryption).map_err(InputErrors::from)?;
    let inventory = Inventory::load_with(&t.inventory, &decryption)?;
    let playbook = playbook::load_with(&t.playbook, &decryption)?;
    let templates = Templates::new(template_dirs(&playbook.dir));
    check_templates(&playbook, &templates)?;
    // Before the run: the inventory alone (plays whose hosts depend on what the run
    // finds are decided again when they start).
    let no_run_vars = std::collections::HashMap::new();
    let source = PlaySource {
        inventory: &inventory,
        templates: &templates,
        extra_vars: &extra_vars,
        run_vars: &no_run_vars,
    };
    let opts = PlanOptions {
        limit: t.limit.as_deref(),
        tags: &args.tags,
        skip_tags: &args.skip_tags,
        start_at,
    };
    let plan = plan::build(&playbook, &source, &opts)
        .with_context(|| format!("cannot plan `{}`", t.playbook.display()))?;
    // Connection variables that cannot be used, for the hosts the plays target (and
    // those a task delegates to by name): before anything connects.
    let targeted = plan.plays.iter().flat_map(|p| {
        p.hosts
            .iter()
            .map(String::as_str)
            .chain(p.tasks.iter().filter_map(|t| t.delegate_to.as_deref()))
    });
    let bad = inventory.connection_errors(targeted);
    if !bad.is_empty() {
        return Err(InputErrors(bad).into());
    }
    Ok(Loaded {
        inventory: Arc::new(inventory),
        playbook: Arc::new(playbook),
        templates: Arc::new(templates),
        extra_vars,
        plan,
        vault,
    })
}

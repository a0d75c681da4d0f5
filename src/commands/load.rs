//! Parse and plan, shared by `plan`, `validate` and `run`: nothing here touches a host.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::cli::PlanArgs;
use crate::parse::InputErrors;
use crate::parse::inventory::Inventory;
use crate::parse::playbook::{self, Play, Playbook};
use crate::plan::{self, HostSource, Plan, PlanOptions};
use crate::template::{Templates, Vars};

pub struct Loaded {
    pub inventory: Arc<Inventory>,
    pub playbook: Arc<Playbook>,
    pub templates: Arc<Templates>,
    pub extra_vars: Vars,
    pub plan: Plan,
}

/// The inventory as the plan sees it: patterns, and play-level templates rendered with
/// the play's vars and the extra vars.
struct Source<'a> {
    inventory: &'a Inventory,
    templates: &'a Templates,
    extra_vars: &'a Vars,
}

impl HostSource for Source<'_> {
    fn select(&self, pattern: &str, limit: Option<&str>) -> Result<Vec<String>, String> {
        self.inventory
            .select_limited(pattern, limit)
            .map_err(|e| e.to_string())
    }

    fn render(&self, play: &Play, template: &str) -> Result<String, String> {
        let mut vars = Vars::new();
        vars.insert(
            "groups".into(),
            serde_json::to_value(self.inventory.groups()).unwrap_or_default(),
        );
        vars.extend(self.extra_vars.clone());
        for (k, data) in &play.vars {
            if let Ok(v) = self.templates.render_value(&data.value, &vars) {
                vars.insert(k.clone(), v);
            }
        }
        vars.extend(self.extra_vars.clone());
        self.templates
            .render_str(template, &vars)
            .map_err(|e| e.to_string())
    }
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

pub fn load(args: &PlanArgs, start_at: Option<&str>) -> anyhow::Result<Loaded> {
    let t = &args.target;
    let extra_vars = crate::parse::extra_vars::parse(&t.extra_vars).map_err(InputErrors::from)?;
    let inventory = Inventory::load(&t.inventory)?;
    let playbook = playbook::load(&t.playbook)?;
    let templates = Templates::new(template_dirs(&playbook.dir));
    let source = Source {
        inventory: &inventory,
        templates: &templates,
        extra_vars: &extra_vars,
    };
    let opts = PlanOptions {
        limit: t.limit.as_deref(),
        tags: &args.tags,
        skip_tags: &args.skip_tags,
        start_at,
    };
    let plan = plan::build(&playbook, &source, &opts)
        .with_context(|| format!("cannot plan `{}`", t.playbook.display()))?;
    Ok(Loaded {
        inventory: Arc::new(inventory),
        playbook: Arc::new(playbook),
        templates: Arc::new(templates),
        extra_vars,
        plan,
    })
}

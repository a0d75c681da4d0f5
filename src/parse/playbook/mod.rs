//! Playbooks: Ansible-flavoured YAML, a documented subset, read into the typed values of
//! [`types`] with every problem reported at its `file:line:column`.
//!
//! Owns the playbook language (plays, task keywords, actions and their arguments) and
//! its validation. Depends only on [`crate::parse`]'s locations and errors; templates
//! are not rendered or syntax-checked here (the template module walks
//! [`Task::strings`] for that).

mod types;

pub use types::*;

use std::path::{Path, PathBuf};

use crate::parse::InputErrors;

/// Read and validate a playbook file.
pub fn load(path: &Path) -> Result<Playbook, InputErrors> {
    let _ = path;
    todo!("parsing lands in the next commit")
}

/// Find a `template` or `copy` source on the controller the way Ansible does for a
/// playbook without roles: `DIR/<subdir>/SRC`, then `DIR/SRC` (`subdir` is `templates`
/// or `files`); an absolute `SRC` is taken as is.
pub fn resolve_source(dir: &Path, subdir: &str, src: &str) -> Option<PathBuf> {
    let src = Path::new(src);
    if src.is_absolute() {
        return src.is_file().then(|| src.to_path_buf());
    }
    [dir.join(subdir).join(src), dir.join(src)]
        .into_iter()
        .find(|p| p.is_file())
}

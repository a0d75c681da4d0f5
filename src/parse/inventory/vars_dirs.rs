//! `group_vars/` and `host_vars/` beside the inventory, as Ansible's `host_group_vars`
//! plugin reads them: for an entity `NAME` the first of `NAME` (file or folder),
//! `NAME.yml`, `NAME.yaml`, `NAME.json` that exists is used — a folder contributes every
//! file below it (sorted, recursively; hidden and `~` backups skipped; files without an
//! extension or ending in .yml/.yaml/.json), merged in order, later files winning.
//! Empty files are ignored. A vault-encrypted file is decrypted, and every string in it
//! counts as a secret. Reads files; depends on `yaml11` for typing.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::yaml11::{self, Kind, key_string};
use crate::parse::vault::{self, Decryption};
use crate::parse::{InputError, connection_vars};

const EXTENSIONS: [&str; 3] = [".yml", ".yaml", ".json"];

/// One `group_vars` or `host_vars` folder, listed once so that a 300-host fleet costs a
/// set lookup per host rather than four `stat` calls.
pub struct VarsDir {
    dir: PathBuf,
    names: HashSet<String>,
}

impl VarsDir {
    /// The folder `base/sub`; empty when it does not exist (or is not a folder).
    pub fn open(base: &Path, sub: &str) -> VarsDir {
        let dir = base.join(sub);
        let names = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        VarsDir { dir, names }
    }

    /// The files that hold variables for `name`, in load order.
    pub fn files_for(&self, name: &str) -> Vec<PathBuf> {
        // Ansible skips names that look like absolute paths (chroot inventories).
        if name.is_empty() || name.starts_with('/') {
            return Vec::new();
        }
        for ext in std::iter::once("").chain(EXTENSIONS) {
            let candidate = format!("{name}{ext}");
            if !self.names.contains(&candidate) {
                continue;
            }
            let path = self.dir.join(&candidate);
            if path.is_dir() {
                let mut found = Vec::new();
                walk(&path, &mut found);
                return found;
            }
            return vec![path];
        }
        Vec::new()
    }

    /// The merged variables of `name`, or the problems found in its files.
    pub fn load(
        &self,
        name: &str,
        decryption: &Decryption,
    ) -> Result<Map<String, Value>, Vec<InputError>> {
        self.load_checked(name, decryption, &mut Vec::new())
    }

    /// [`VarsDir::load`], connection variables that cannot be used added to `bad`
    /// (name, value, where), see [`crate::parse::connection_vars`].
    pub fn load_checked(
        &self,
        name: &str,
        decryption: &Decryption,
        bad: &mut Vec<BadVar>,
    ) -> Result<Map<String, Value>, Vec<InputError>> {
        let mut vars = Map::new();
        let mut errors = Vec::new();
        for file in self.files_for(name) {
            match load_file_checked(&file, decryption, bad) {
                Ok(Some(map)) => {
                    for (k, v) in map {
                        vars.insert(k, v);
                    }
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(vars)
        } else {
            Err(errors)
        }
    }

    /// Decrypt, only to learn their secrets, the vault data of files that no group or
    /// host of `used` reads now: `add_host` and `group_by` may load them during the
    /// run, after the masking of secrets is set up. Their problems are reported when
    /// (and if) they are loaded.
    pub fn reveal_unused<'a>(
        &self,
        used: impl IntoIterator<Item = &'a String>,
        decryption: &Decryption,
    ) {
        let loaded: HashSet<PathBuf> = used.into_iter().flat_map(|n| self.files_for(n)).collect();
        let mut all = Vec::new();
        walk(&self.dir, &mut all);
        for file in all.into_iter().filter(|f| !loaded.contains(f)) {
            let has_vault = std::fs::read_to_string(&file).is_ok_and(|t| t.contains(vault::HEADER));
            if has_vault {
                let _ = load_file(&file, decryption);
            }
        }
    }
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in names {
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let path = dir.join(&name);
        let ext = extension(&name);
        if path.is_dir() {
            if ext.is_empty() {
                walk(&path, found);
            }
        } else if path.is_file() && (ext.is_empty() || EXTENSIONS.contains(&ext)) {
            found.push(path);
        }
    }
}

/// Python's `os.path.splitext(name)[1]`: a leading dot does not start an extension.
fn extension(name: &str) -> &str {
    let trimmed = name.trim_start_matches('.');
    match trimmed.rfind('.') {
        Some(i) => &trimmed[i..],
        None => "",
    }
}

/// A connection variable that cannot be used: its name, value and place.
pub type BadVar = (String, Value, InputError);

/// One variables file: `None` when empty, the mapping otherwise.
pub fn load_file(
    path: &Path,
    decryption: &Decryption,
) -> Result<Option<Map<String, Value>>, InputError> {
    load_file_checked(path, decryption, &mut Vec::new())
}

/// [`load_file`], connection variables that cannot be used added to `bad`.
pub fn load_file_checked(
    path: &Path,
    decryption: &Decryption,
    bad: &mut Vec<BadVar>,
) -> Result<Option<Map<String, Value>>, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::in_file(path, format!("cannot read: {e}")))?;
    if decryption.skip_vars_files && vault::is_encrypted(text.trim_start()) {
        return Ok(None);
    }
    let (text, encrypted) = match decryption.file(text.trim_start()) {
        Some(Ok(plain)) => (plain, true),
        Some(Err(e)) => {
            return Err(InputError {
                file: path.to_path_buf(),
                position: Some((1, 1)),
                message: e.to_string(),
            });
        }
        None => (text, false),
    };
    let node = yaml11::parse_with(&text, decryption).map_err(|e| InputError {
        file: path.to_path_buf(),
        position: Some((e.line, e.column)),
        message: e.message,
    })?;
    let Some(node) = node else { return Ok(None) };
    if encrypted {
        decryption.vault.reveal_strings(&node.to_value());
    }
    match &node.kind {
        Kind::Map(pairs) if pairs.is_empty() => Ok(None),
        Kind::Map(pairs) => match node.to_value() {
            Value::Object(map) => {
                for (k, v) in pairs {
                    let name = key_string(&k.to_value());
                    if let Err(mut message) = connection_vars::check(&name, &v.to_value()) {
                        if encrypted {
                            // The value is a secret: say what is wrong, not what it is.
                            message = format!(
                                "`{name}` has a value rtmig cannot use (not shown: the file is encrypted); see `rtmig validate` of a plain copy"
                            );
                        }
                        let at = InputError {
                            file: path.to_path_buf(),
                            position: Some((v.line, v.column)),
                            message,
                        };
                        bad.push((name, v.to_value(), at));
                    }
                }
                Ok(Some(map))
            }
            _ => Ok(None),
        },
        // Ansible ignores every empty value ("", [], 0, false, null).
        _ if is_falsy(&node.to_value()) => Ok(None),
        _ => Err(InputError {
            file: path.to_path_buf(),
            position: Some((node.line, node.column)),
            message: format!("expected a mapping of variables, found {}", node.describe()),
        }),
    }
}

/// Python truthiness of a plain value.
pub fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_of_name_folder_yml_yaml_json_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let gv = tmp.path().join("group_vars");
        std::fs::create_dir_all(gv.join("k8s/sub")).unwrap();
        std::fs::write(gv.join("k8s/b.yml"), "x: b\n").unwrap();
        std::fs::write(gv.join("k8s/a.yaml"), "x: a\ny: a\n").unwrap();
        std::fs::write(gv.join("k8s/sub/c"), "z: c\n").unwrap();
        std::fs::write(gv.join("k8s/.hidden.yml"), "x: hidden\n").unwrap();
        std::fs::write(gv.join("k8s/notes.txt"), "x: txt\n").unwrap();
        std::fs::write(gv.join("k8s/old.yml~"), "x: backup\n").unwrap();
        std::fs::write(gv.join("k8s.yml"), "x: shadowed\n").unwrap();
        std::fs::write(gv.join("web.json"), "{\"p\": 1}").unwrap();
        std::fs::write(gv.join("web.yml"), "p: 2\n").unwrap();
        let dir = VarsDir::open(tmp.path(), "group_vars");
        let none = Decryption::default();
        let k8s = dir.load("k8s", &none).unwrap();
        assert_eq!(
            serde_json::to_value(&k8s).unwrap(),
            serde_json::json!({"x": "b", "y": "a", "z": "c"})
        );
        assert_eq!(dir.load("web", &none).unwrap()["p"], 2);
        assert!(dir.load("missing", &none).unwrap().is_empty());
    }

    #[test]
    fn a_list_instead_of_variables_names_the_file_and_place() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("host_vars")).unwrap();
        std::fs::write(tmp.path().join("host_vars/n1.yml"), "# vars\n- a\n- b\n").unwrap();
        let errs = VarsDir::open(tmp.path(), "host_vars")
            .load("n1", &Decryption::default())
            .unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            format!(
                "{}:2:1: expected a mapping of variables, found a list",
                tmp.path().join("host_vars/n1.yml").display()
            )
        );
    }

    #[test]
    fn empty_files_are_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("group_vars")).unwrap();
        std::fs::write(
            tmp.path().join("group_vars/all.yml"),
            "---\n# nothing yet\n",
        )
        .unwrap();
        assert!(
            VarsDir::open(tmp.path(), "group_vars")
                .load("all", &Decryption::default())
                .unwrap()
                .is_empty()
        );
    }
}

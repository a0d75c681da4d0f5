//! Inventory tests that need several modules at once: loading files, precedence,
//! patterns, and the exact place of every kind of invalid input.

use std::path::Path;

use serde_json::json;

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn load_err(name: &str, text: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), name, text);
    let err = Inventory::load(&path).unwrap_err().to_string();
    err.replace(&format!("{}/", tmp.path().display()), "")
}

#[test]
fn yaml_unknown_group_key_names_file_line_column() {
    let err = load_err(
        "inv.yaml",
        "all:\n  children:\n    masters:\n      hots:\n        m1:\n",
    );
    assert_eq!(
        err,
        "inv.yaml:4:7: unknown key `hots` in group `masters`, expected one of `hosts`, `vars`, `children`"
    );
}

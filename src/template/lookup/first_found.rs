//! `lookup('first_found', ...)`, `query('first_found', ...)` and `with_first_found`, as
//! ansible/plugins/lookup/first_found.py: the first of a list of names that exists,
//! as an absolute path; none found is an error, or an empty list with `skip: true`.
//!
//! Terms are names (a string with `,` or `;` is several), lists of them, or mappings
//! `{files, paths, skip}`: each path joined with each file, paths first. A mapping's
//! options replace the call's keyword ones (`files=`, `paths=`, `skip=`) for the terms
//! after it, and the last `skip` given decides, as in Ansible. A relative name is
//! searched as the task's search path searches (Ansible's `path_dwim_relative_stack`):
//! for each of `ansible_search_path` (the task's role, then its file's folder) the
//! action's subdir (`templates/` for `template`, `vars/` for `include_vars`, else
//! `files/`) then the folder itself, and last the playbook's folder the same way.

use std::path::{Path, PathBuf};

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, State};

use super::invalid;

/// The hidden variable naming the task's action (`include_vars`, `template`, ...),
/// set beside `ansible_search_path`: Ansible's lookups read the task instead.
pub(crate) const ACTION_VAR: &str = "__rtmig_action";

/// The options a call or a mapping term sets.
#[derive(Default, Clone)]
struct Options {
    files: Vec<String>,
    paths: Vec<String>,
    skip: bool,
}

impl Options {
    fn from_map(map: &Value) -> Result<Options, Error> {
        let mut o = Options::default();
        for key in map.try_iter()? {
            let name = key.as_str().unwrap_or_default().to_string();
            let value = map.get_item(&key)?;
            match name.as_str() {
                "files" => o.files = strings(&value, "files")?,
                "paths" => o.paths = strings(&value, "paths")?,
                "skip" => o.skip = value.is_true(),
                other => {
                    return Err(invalid(format!(
                        "lookup('first_found'): unknown option `{other}` (it takes files, paths, skip)"
                    )));
                }
            }
        }
        Ok(o)
    }

    fn from_kwargs(kwargs: &Kwargs) -> Result<Options, Error> {
        let mut o = Options::default();
        if let Some(v) = kwargs.get::<Option<Value>>("files")? {
            o.files = strings(&v, "files")?;
        }
        if let Some(v) = kwargs.get::<Option<Value>>("paths")? {
            o.paths = strings(&v, "paths")?;
        }
        o.skip = kwargs.get::<Option<bool>>("skip")?.unwrap_or(false);
        Ok(o)
    }
}

/// A string or a list of strings (an option's value).
fn strings(value: &Value, option: &str) -> Result<Vec<String>, Error> {
    match value.kind() {
        ValueKind::String => Ok(vec![value.as_str().unwrap_or_default().to_string()]),
        ValueKind::None | ValueKind::Undefined => Ok(Vec::new()),
        ValueKind::Seq | ValueKind::Iterable => value
            .try_iter()?
            .map(|v| match v.as_str() {
                Some(s) => Ok(s.to_string()),
                None => Err(invalid(format!(
                    "lookup('first_found'): `{option}` takes strings, got {v}"
                ))),
            })
            .collect(),
        _ => Err(invalid(format!(
            "lookup('first_found'): `{option}` takes a list of strings, got {value}"
        ))),
    }
}

/// Ansible's deprecated "magic splitting": `a.yml,b.yml` is two names.
fn split_on(items: &[String], splitters: &[char]) -> Vec<String> {
    items
        .iter()
        .flat_map(|s| s.split(splitters).map(str::to_string))
        .collect()
}

/// The candidate names, in order, and the `skip` in force at the end.
fn candidates(terms: &[Value], options: &mut Options, out: &mut Vec<String>) -> Result<(), Error> {
    for term in terms {
        let files = match term.kind() {
            ValueKind::Map => {
                *options = Options::from_map(term)?;
                options.files.clone()
            }
            ValueKind::String => vec![term.as_str().unwrap_or_default().to_string()],
            ValueKind::Seq | ValueKind::Iterable => {
                let inner: Vec<Value> = term.try_iter()?.collect();
                candidates(&inner, options, out)?;
                continue;
            }
            // `with_first_found` drops undefined terms, as Ansible does for a `with_` loop.
            ValueKind::Undefined => continue,
            _ => {
                return Err(invalid(format!(
                    "lookup('first_found'): invalid term {term}: a string, dict or list is required"
                )));
            }
        };
        let files = split_on(&files, &[',', ';']);
        let paths = split_on(&options.paths, &[',', ':', ';']);
        if paths.is_empty() {
            out.extend(files);
        } else {
            for path in &paths {
                for file in &files {
                    out.push(join(path, file));
                }
            }
        }
    }
    Ok(())
}

/// Python's `os.path.join` on two strings: an absolute second part wins.
fn join(a: &str, b: &str) -> String {
    if b.starts_with('/') || a.is_empty() {
        b.to_string()
    } else if a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// The directory an action's relative files are searched under.
fn subdir(action: &str) -> &'static str {
    if action.contains("template") {
        "templates"
    } else if action.contains("var") {
        "vars"
    } else {
        "files"
    }
}

/// `path_dwim_relative_stack`: where a relative `source` is looked for, in order.
pub(crate) fn search_list(
    paths: &[PathBuf],
    basedir: &Path,
    dirname: &str,
    source: &str,
    is_role: bool,
) -> Vec<PathBuf> {
    let source_root = source.split('/').next().unwrap_or_default();
    let mut search = Vec::new();
    for path in paths {
        let parent = path.parent().unwrap_or(path);
        if is_role && parent.ends_with("tasks") {
            if let Some(role) = parent.parent() {
                search.push(role.join(dirname).join(source));
            }
            search.push(parent.join(source));
        }
        if source_root != dirname {
            search.push(path.join(dirname).join(source));
        }
        search.push(path.join(source));
    }
    if source_root != dirname {
        search.push(basedir.join(dirname).join(source));
    }
    search.push(basedir.join(source));
    search
}

/// `~` and `~/...` as Python's `expanduser`.
fn expand_home(name: &str) -> PathBuf {
    match (name.strip_prefix('~'), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            PathBuf::from(home).join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(name),
    }
}

/// An absolute, `.`/`..`-free path (Ansible's `unfrackpath(follow=False)`).
fn unfrack(path: &Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn var_str(state: &State, name: &str) -> Option<String> {
    state
        .lookup(name)
        .filter(|v| !v.is_undefined() && !v.is_none())
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
}

pub(super) fn run(
    state: &State,
    dirs: &[PathBuf],
    terms: Vec<Value>,
    kwargs: &Kwargs,
) -> Result<Vec<Value>, Error> {
    let mut options = Options::from_kwargs(kwargs)?;
    let terms = if terms.is_empty() {
        options
            .files
            .iter()
            .map(|f| Value::from(f.as_str()))
            .collect()
    } else {
        terms
    };
    let mut names = Vec::new();
    candidates(&terms, &mut options, &mut names)?;

    let action = var_str(state, ACTION_VAR).unwrap_or_else(|| "file".into());
    let dirname = subdir(&action);
    let basedir = var_str(state, "playbook_dir")
        .map(PathBuf::from)
        .or_else(|| super::bases(dirs).next().cloned())
        .unwrap_or_else(|| PathBuf::from("."));
    let paths: Vec<PathBuf> = match state.lookup("ansible_search_path") {
        Some(v) if v.kind() == ValueKind::Seq => v
            .try_iter()?
            .filter_map(|p| p.as_str().map(PathBuf::from))
            .collect(),
        _ => vec![basedir.clone()],
    };
    let is_role = var_str(state, "role_path").is_some();
    for name in &names {
        let found = if name.starts_with('/') || name.starts_with('~') {
            let p = expand_home(name);
            p.exists().then_some(p)
        } else {
            search_list(&paths, &basedir, dirname, name, is_role)
                .into_iter()
                .find(|p| p.exists())
        };
        if let Some(path) = found {
            return Ok(vec![Value::from(unfrack(&path).display().to_string())]);
        }
    }
    if options.skip {
        return Ok(Vec::new());
    }
    Err(invalid(format!(
        "No file was found when using first_found (looked for {})",
        names.join(", ")
    )))
}

//! `lookup()`, `query()` and `q()`: Ansible's lookup plugins that operators use,
//! run on the controller as Ansible runs them. `with_<name>` loops are these
//! plugins too (`with_fileglob: '*.conf'` is `query('fileglob', '*.conf')`), as in
//! Ansible.
//!
//! `lookup` joins several results with `,` (a single one is returned as it is) unless
//! `wantlist=True`; `query` always gives a list. Plugins: `file` (text, trailing
//! whitespace stripped; searched in `files/` then the directory itself, for each
//! template search dir that is not a `templates/` one), `env` (empty when unset, or
//! `default=`), `template` (rendered with the current variables), `pipe` (`sh -c`,
//! in the playbook dir, stdout stripped; a non-zero exit fails), `vars`, `fileglob`
//! (files only, sorted), `sequence`, `dict`, `items`, `list`, `together`, `nested`,
//! `subelements`, `first_found` (see [`first_found`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

use serde_json::Value as Json;

use super::native::{from_json, to_json};
use crate::sequence::Sequence;

/// Registers `lookup`, `query` and `q`, resolving files against `dirs` (the
/// template search dirs).
pub(crate) fn register(env: &mut Environment<'static>, dirs: Arc<Vec<PathBuf>>) {
    let lookup_dirs = dirs.clone();
    env.add_function(
        "lookup",
        move |state: &mut State, name: &str, terms: Rest<Value>, kwargs: Kwargs| {
            let wantlist = kwargs.get::<Option<bool>>("wantlist")?.unwrap_or(false);
            let Some(values) = run_or_not(state, &lookup_dirs, name, terms.0, &kwargs)? else {
                return Ok(Value::from(()));
            };
            if wantlist {
                return Ok(Value::from(values));
            }
            Ok(match values.len() {
                1 => values.into_iter().next().unwrap_or_default(),
                _ if values.iter().all(|v| v.kind() == ValueKind::String) => Value::from(
                    values
                        .iter()
                        .map(|v| v.as_str().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                _ => Value::from(values),
            })
        },
    );
    for name in ["query", "q"] {
        let dirs = dirs.clone();
        env.add_function(
            name,
            move |state: &mut State, name: &str, terms: Rest<Value>, kwargs: Kwargs| {
                let _ = kwargs.get::<Option<bool>>("wantlist")?;
                Ok(Value::from(
                    run_or_not(state, &dirs, name, terms.0, &kwargs)?.unwrap_or_default(),
                ))
            },
        );
    }
}

/// [`run`] under the lookup's `errors=` (Ansible's: `strict`, the default, fails the
/// template; `warn` says so on stderr and `ignore` does not; both give `None` to
/// `lookup`, an empty list to `query`). An undefined term fails whatever `errors` says,
/// as in Ansible, where it fails before the plugin runs.
fn run_or_not(
    state: &mut State,
    dirs: &[PathBuf],
    name: &str,
    terms: Vec<Value>,
    kwargs: &Kwargs,
) -> Result<Option<Vec<Value>>, Error> {
    let errors = kwargs.get::<Option<String>>("errors")?;
    let policy = errors.as_deref().unwrap_or("strict");
    if !["strict", "warn", "ignore"].contains(&policy) {
        return Err(invalid(format!(
            "lookup('{name}'): `errors` must be `strict`, `warn` or `ignore`, got `{policy}`"
        )));
    }
    for term in &terms {
        super::filters::defined(state, term)?;
    }
    let plugin = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    if !PLUGINS.contains(&plugin) {
        // An unknown plugin is an error whatever `errors` says (Ansible's too).
        return run(state, dirs, name, terms, kwargs).map(Some);
    }
    match run(state, dirs, name, terms, kwargs) {
        Ok(values) => Ok(Some(values)),
        Err(e) if policy == "strict" => Err(e),
        Err(e) => {
            if policy == "warn" {
                let what = e
                    .detail()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string());
                eprintln!("warning: {what} (the lookup's errors='warn': it gives none)");
            }
            Ok(None)
        }
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// The plugins' names, for the error on an unknown one.
const PLUGINS: &[&str] = &[
    "file",
    "env",
    "template",
    "pipe",
    "vars",
    "fileglob",
    "sequence",
    "dict",
    "items",
    "list",
    "together",
    "nested",
    "subelements",
    "first_found",
];

fn run(
    state: &mut State,
    dirs: &[PathBuf],
    name: &str,
    terms: Vec<Value>,
    kwargs: &Kwargs,
) -> Result<Vec<Value>, Error> {
    for term in &terms {
        super::filters::defined(state, term)?;
    }
    let plugin = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    let texts = |terms: &[Value]| -> Result<Vec<String>, Error> {
        terms
            .iter()
            .map(|t| match t.as_str() {
                Some(s) => Ok(s.to_string()),
                None => Err(invalid(format!(
                    "lookup('{plugin}') takes strings, got {t}"
                ))),
            })
            .collect()
    };
    let out = match plugin {
        "file" => {
            let rstrip = kwargs.get::<Option<bool>>("rstrip")?.unwrap_or(true);
            let lstrip = kwargs.get::<Option<bool>>("lstrip")?.unwrap_or(false);
            texts(&terms)?
                .iter()
                .map(|term| {
                    let path = find_file(dirs, term).ok_or_else(|| {
                        invalid(format!("lookup('file'): could not locate file `{term}`"))
                    })?;
                    let mut text = std::fs::read_to_string(&path).map_err(|err| {
                        invalid(format!("lookup('file'): cannot read `{}`", path.display()))
                            .with_source(err)
                    })?;
                    if rstrip {
                        text.truncate(text.trim_end().len());
                    }
                    if lstrip {
                        text = text.trim_start().to_string();
                    }
                    Ok(Value::from(text))
                })
                .collect::<Result<_, Error>>()?
        }
        "env" => {
            let default: Option<Value> = kwargs.get("default")?;
            texts(&terms)?
                .iter()
                .map(|term| match std::env::var(term) {
                    Ok(v) => Value::from(v),
                    Err(_) => default.clone().unwrap_or_else(|| Value::from("")),
                })
                .collect()
        }
        "template" => {
            // The current variables, each looked up lazily as the template uses it.
            let context: BTreeMap<String, Value> = state
                .known_variables()
                .iter()
                .filter_map(|name| Some((name.to_string(), state.lookup(name)?)))
                .collect();
            let context = Value::from(context);
            texts(&terms)?
                .iter()
                .map(|term| {
                    let template = state.get_template(term)?;
                    template.render(context.clone()).map(Value::from)
                })
                .collect::<Result<_, Error>>()?
        }
        "pipe" => texts(&terms)?
            .iter()
            .map(|command| pipe(dirs, command).map(Value::from))
            .collect::<Result<_, Error>>()?,
        "vars" => {
            let default: Option<Value> = kwargs.get("default")?;
            texts(&terms)?
                .iter()
                .map(|name| match (state.lookup(name), &default) {
                    (Some(v), _) if !v.is_undefined() => Ok(v),
                    (_, Some(d)) => Ok(d.clone()),
                    _ => Err(invalid(format!(
                        "lookup('vars'): no variable named `{name}`"
                    ))),
                })
                .collect::<Result<_, Error>>()?
        }
        "fileglob" => {
            let mut files = Vec::new();
            for term in texts(&flatten(terms))? {
                files.extend(fileglob(dirs, &term)?);
            }
            files.into_iter().map(Value::from).collect()
        }
        "sequence" => {
            let mut out = Vec::new();
            for term in &terms {
                let spec = match term.as_str() {
                    Some(text) => Sequence::parse(text).map_err(invalid)?,
                    None => sequence_from_map(term)?,
                };
                out.extend(spec.items().map_err(invalid)?.into_iter().map(Value::from));
            }
            out
        }
        "dict" => {
            let mut out = Vec::new();
            for term in &terms {
                if term.kind() != ValueKind::Map {
                    return Err(invalid(format!(
                        "with_dict expects a dict, got {}",
                        term.kind()
                    )));
                }
                for key in term.try_iter()? {
                    let value = term.get_item(&key)?;
                    let pair = BTreeMap::from([("key", key), ("value", value)]);
                    out.push(Value::from(pair));
                }
            }
            out
        }
        "items" => flatten(terms),
        "list" => terms,
        "together" => {
            let lists = lists(&terms)?;
            let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
            (0..longest)
                .map(|i| {
                    Value::from(
                        lists
                            .iter()
                            .map(|l| l.get(i).cloned().unwrap_or(Value::from(())))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect()
        }
        "nested" => {
            let mut out: Vec<Vec<Value>> = vec![vec![]];
            for list in lists(&terms)? {
                out = out
                    .into_iter()
                    .flat_map(|prefix| {
                        list.iter().map(move |item| {
                            let mut next = prefix.clone();
                            next.push(item.clone());
                            next
                        })
                    })
                    .collect();
            }
            if terms.is_empty() {
                Vec::new()
            } else {
                out.into_iter().map(Value::from).collect()
            }
        }
        "subelements" => subelements(&terms, kwargs)?,
        "first_found" => first_found::run(state, dirs, terms, kwargs)?,
        other => {
            return Err(invalid(format!(
                "lookup plugin `{other}` is not supported (rtmig has {})",
                PLUGINS.join(", ")
            )));
        }
    };
    Ok(out)
}

/// Lists flattened one level (`with_items`).
fn flatten(terms: Vec<Value>) -> Vec<Value> {
    terms
        .into_iter()
        .flat_map(|t| {
            if t.kind() == ValueKind::Seq {
                t.try_iter().map(|i| i.collect()).unwrap_or_default()
            } else {
                vec![t]
            }
        })
        .collect()
}

fn lists(terms: &[Value]) -> Result<Vec<Vec<Value>>, Error> {
    terms
        .iter()
        .map(|t| {
            if t.kind() == ValueKind::Seq {
                Ok(t.try_iter()?.collect())
            } else {
                Err(invalid(format!("expected lists, got {}", t.kind())))
            }
        })
        .collect()
}

/// The `subelements` filter (`users | subelements('keys')`, with `skip_missing` as a
/// third argument or by name): the lookup's pairs.
pub(super) fn subelements_filter(
    list: Value,
    key: Value,
    skip_missing: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let mut terms = vec![list, key];
    if let Some(skip) = skip_missing {
        terms.push(Value::from_pairs([("skip_missing", skip.is_true())]));
    }
    Ok(Value::from(subelements(&terms, &kwargs)?))
}

/// `with_subelements: [users, keys]`: each (parent, sub-item) pair.
fn subelements(terms: &[Value], kwargs: &Kwargs) -> Result<Vec<Value>, Error> {
    let skip_missing = match terms.get(2) {
        Some(flags) if flags.kind() == ValueKind::Map => flags
            .get_attr("skip_missing")
            .map(|v| v.is_true())
            .unwrap_or(false),
        _ => kwargs.get::<Option<bool>>("skip_missing")?.unwrap_or(false),
    };
    let (Some(parents), Some(key)) = (terms.first(), terms.get(1).and_then(|k| k.as_str())) else {
        return Err(invalid(
            "subelements takes a list (or dict) and the name of a key in its items",
        ));
    };
    let parents: Vec<Value> = if parents.kind() == ValueKind::Map {
        parents
            .try_iter()?
            .map(|k| parents.get_item(&k).unwrap_or_default())
            .collect()
    } else {
        parents.try_iter()?.collect()
    };
    let path: Vec<&str> = key.split('.').collect();
    let mut out = Vec::new();
    for parent in parents {
        // As Ansible: the parent without the sub-list (popped from a copy).
        let mut copy = to_json(&parent)?;
        let pointer: String = path[..path.len() - 1]
            .iter()
            .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
            .collect();
        let sub = copy
            .pointer_mut(&pointer)
            .and_then(Json::as_object_mut)
            .and_then(|map| map.shift_remove(path[path.len() - 1]));
        let sub = match sub {
            Some(Json::Array(items)) => items,
            Some(_) => return Err(invalid(format!("subelements: `{key}` is not a list"))),
            None if skip_missing => continue,
            None => {
                return Err(invalid(format!(
                    "subelements: could not find `{key}` in {parent}"
                )));
            }
        };
        let parent = from_json(&copy);
        for item in sub {
            out.push(Value::from(vec![parent.clone(), from_json(&item)]));
        }
    }
    Ok(out)
}

/// The base dirs of the playbook (search dirs that are not `templates/` ones).
fn bases(dirs: &[PathBuf]) -> impl Iterator<Item = &PathBuf> {
    dirs.iter()
        .filter(|d| d.file_name().is_none_or(|n| n != "templates"))
}

/// A file for `lookup('file')`: absolute, or in `files/` or the base dir itself.
fn find_file(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.is_file().then(|| path.to_path_buf());
    }
    bases(dirs)
        .flat_map(|d| [d.join("files").join(path), d.join(path)])
        .find(|p| p.is_file())
}

fn pipe(dirs: &[PathBuf], command: &str) -> Result<String, Error> {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(command);
    if let Some(dir) = bases(dirs).find(|d| d.is_dir()) {
        cmd.current_dir(dir);
    }
    let out = cmd.output().map_err(|err| {
        invalid(format!("lookup('pipe'): cannot run `{command}`")).with_source(err)
    })?;
    if !out.status.success() {
        return Err(invalid(format!(
            "lookup('pipe'): `{command}` exited with {}: {}",
            out.status
                .code()
                .map_or("a signal".into(), |c| c.to_string()),
            String::from_utf8_lossy(&out.stderr).trim_end()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.trim_end().to_string())
}

/// `with_fileglob`: the files (not directories) matching a pattern in its directory,
/// sorted; a relative pattern is looked up in `files/` then the base dir, the first
/// directory that exists, as Ansible does.
fn fileglob(dirs: &[PathBuf], pattern: &str) -> Result<Vec<String>, Error> {
    let pattern_path = Path::new(pattern);
    let (dir_part, file_part) = match pattern.rfind('/') {
        Some(i) => (&pattern[..i], &pattern[i + 1..]),
        None => ("", pattern),
    };
    let dir = if pattern_path.is_absolute() {
        PathBuf::from(if dir_part.is_empty() { "/" } else { dir_part })
    } else {
        match bases(dirs)
            .flat_map(|d| [d.join("files").join(dir_part), d.join(dir_part)])
            .find(|p| p.is_dir())
        {
            Some(dir) => dir,
            None => return Ok(Vec::new()),
        }
    };
    let matcher = glob_regex(file_part)?;
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        // As Python's glob, a wildcard does not match a leading dot.
        .filter(|name| {
            matcher.is_match(name) && (!name.starts_with('.') || file_part.starts_with('.'))
        })
        .map(|name| dir.join(name).to_string_lossy().into_owned())
        .collect();
    out.sort();
    Ok(out)
}

/// A shell glob (`*`, `?`, `[...]`) as a regex over one file name.
fn glob_regex(glob: &str) -> Result<regex::Regex, Error> {
    let mut re = String::from("^");
    push_glob(&mut re, glob);
    re.push('$');
    regex::Regex::new(&re).map_err(|err| invalid(format!("bad glob `{glob}`: {err}")))
}

fn push_glob(re: &mut String, glob: &str) {
    let mut chars = glob.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    if c == '\\' {
                        re.push('\\');
                    }
                    re.push(if c == '!' { '^' } else { c });
                }
                re.push(']');
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
}

/// `with_sequence: {start: 1, end: 5}`: the same keys as a mapping.
fn sequence_from_map(value: &Value) -> Result<Sequence, Error> {
    if value.kind() != ValueKind::Map {
        return Err(invalid(format!(
            "with_sequence takes `start=1 end=5` or a mapping, got {}",
            value.kind()
        )));
    }
    let words: Vec<String> = value
        .try_iter()?
        .map(|k| {
            let v = value.get_item(&k).unwrap_or_default();
            format!("{k}={v}")
        })
        .collect();
    Sequence::parse(&words.join(" ")).map_err(invalid)
}

pub(crate) mod first_found;
#[cfg(test)]
mod tests;

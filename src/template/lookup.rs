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
//! `subelements`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

/// Registers `lookup`, `query` and `q`, resolving files against `dirs` (the
/// template search dirs).
pub(crate) fn register(env: &mut Environment<'static>, dirs: Arc<Vec<PathBuf>>) {
    let lookup_dirs = dirs.clone();
    env.add_function(
        "lookup",
        move |state: &mut State, name: &str, terms: Rest<Value>, kwargs: Kwargs| {
            let wantlist = kwargs.get::<Option<bool>>("wantlist")?.unwrap_or(false);
            let values = run(state, &lookup_dirs, name, terms.0, &kwargs)?;
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
                run(state, &dirs, name, terms.0, &kwargs).map(Value::from)
            },
        );
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
                    None => Sequence::from_value(term).map_err(invalid)?,
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
        "list" => terms
            .into_iter()
            .flat_map(|t| {
                if t.kind() == ValueKind::Seq {
                    t.try_iter().map(|i| i.collect()).unwrap_or_default()
                } else {
                    vec![t]
                }
            })
            .collect(),
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
    let mut out = Vec::new();
    for parent in parents {
        let mut sub = parent.clone();
        for part in key.split('.') {
            sub = sub.get_attr(part).unwrap_or(Value::UNDEFINED);
        }
        if sub.is_undefined() {
            if skip_missing {
                continue;
            }
            return Err(invalid(format!(
                "subelements: could not find `{key}` in {parent}"
            )));
        }
        if sub.kind() != ValueKind::Seq {
            return Err(invalid(format!("subelements: `{key}` is not a list")));
        }
        for item in sub.try_iter()? {
            out.push(Value::from(vec![parent.clone(), item]));
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

/// `with_sequence`: `start=1 end=5 stride=1 format=%d`, `count=`, or the short form
/// `[start-]end[/stride][:format]`; or the same keys as a mapping.
#[derive(Debug, PartialEq)]
pub(crate) struct Sequence {
    start: i64,
    end: i64,
    stride: i64,
    format: String,
}

impl Sequence {
    pub(crate) fn parse(text: &str) -> Result<Sequence, String> {
        let mut seq = Sequence {
            start: 1,
            end: 0,
            stride: 1,
            format: "%d".to_string(),
        };
        let mut count = None;
        let mut end_set = false;
        let text = text.trim();
        if !text.contains('=') {
            // Short form: [start-]end[/stride][:format].
            let (range, format) = match text.split_once(':') {
                Some((r, f)) => (r, Some(f)),
                None => (text, None),
            };
            let (range, stride) = match range.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (range, None),
            };
            let (start, end) = match range.split_once('-') {
                Some((s, e)) => (Some(s), e),
                None => (None, range),
            };
            if let Some(s) = start {
                seq.start = int("start", s)?;
            }
            seq.end = int("end", end)?;
            if let Some(s) = stride {
                seq.stride = int("stride", s)?;
            }
            if let Some(f) = format {
                seq.format = f.to_string();
            }
            seq.check()?;
            return Ok(seq);
        }
        for word in text.split_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                return Err(format!(
                    "with_sequence: `{word}` is not key=value (start=, end=, count=, stride=, format=)"
                ));
            };
            match key {
                "start" => seq.start = int(key, value)?,
                "end" => {
                    seq.end = int(key, value)?;
                    end_set = true;
                }
                "count" => count = Some(int(key, value)?),
                "stride" => seq.stride = int(key, value)?,
                "format" => seq.format = value.to_string(),
                other => {
                    return Err(format!(
                        "with_sequence: unknown key `{other}` (start, end, count, stride, format)"
                    ));
                }
            }
        }
        seq.finish(count, end_set)?;
        Ok(seq)
    }

    fn from_value(value: &Value) -> Result<Sequence, String> {
        if value.kind() != ValueKind::Map {
            return Err(format!(
                "with_sequence takes `start=1 end=5` or a mapping, got {}",
                value.kind()
            ));
        }
        let words: Vec<String> = value
            .try_iter()
            .map_err(|e| e.to_string())?
            .map(|k| {
                let v = value.get_item(&k).unwrap_or_default();
                format!("{k}={v}")
            })
            .collect();
        Sequence::parse(&words.join(" "))
    }

    fn finish(&mut self, count: Option<i64>, end_set: bool) -> Result<(), String> {
        match (count, end_set) {
            (Some(_), true) => return Err("with_sequence: `count` and `end` are exclusive".into()),
            (None, false) => return Err("with_sequence: needs `end` or `count`".into()),
            (Some(count), false) => {
                self.end = if count == 0 {
                    self.start - self.stride.signum()
                } else {
                    self.start + (count - 1) * self.stride
                };
            }
            _ => {}
        }
        self.check()
    }

    fn check(&self) -> Result<(), String> {
        if self.stride == 0 && self.start != self.end {
            return Err("with_sequence: stride 0 never reaches `end`".into());
        }
        if self.stride > 0 && self.end < self.start {
            return Err("with_sequence: to count backwards make stride negative".into());
        }
        if self.stride < 0 && self.end > self.start {
            return Err("with_sequence: to count forward do not make stride negative".into());
        }
        let conversions = self.format.matches('%').count() - 2 * self.format.matches("%%").count();
        if conversions != 1 {
            return Err(format!(
                "with_sequence: format `{}` must have exactly one `%` conversion",
                self.format
            ));
        }
        Ok(())
    }

    fn items(&self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut n = self.start;
        loop {
            if (self.stride >= 0 && n > self.end) || (self.stride < 0 && n < self.end) {
                break;
            }
            out.push(format_one(&self.format, n)?);
            if self.stride == 0 || out.len() > 1_000_000 {
                break;
            }
            n += self.stride;
        }
        Ok(out)
    }
}

fn int(key: &str, value: &str) -> Result<i64, String> {
    let v = value.trim();
    let parsed = if let Some(hex) = v.strip_prefix("0x") {
        i64::from_str_radix(hex, 16)
    } else if let Some(oct) = v
        .strip_prefix("0o")
        .or(v.strip_prefix("0").filter(|o| !o.is_empty()))
    {
        i64::from_str_radix(oct, 8)
    } else {
        v.parse()
    };
    parsed.map_err(|_| format!("with_sequence: `{key}` must be an integer, got `{value}`"))
}

/// One number through a printf format (`%02d`, `host%x`).
fn format_one(format: &str, n: i64) -> Result<String, String> {
    minijinja::formatting::format(
        minijinja::formatting::FormatStyle::Printf,
        format,
        &[Value::from(n)],
    )
    .map_err(|e| format!("with_sequence: format `{format}`: {e}"))
}

#[cfg(test)]
mod tests;

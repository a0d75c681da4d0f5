//! Templates and expressions: the one minijinja environment rtmig renders every
//! playbook string, condition and template file with, configured to behave as
//! Ansible's templating does.
//!
//! Used by `parse` (syntax checks for `rtmig validate`) and `execute` (rendering);
//! depends on nothing else in the crate. One [`Templates`] serves a whole run: it is
//! `Send + Sync`, compiles each distinct string, expression and file once, and
//! renders against [`Vars`] without copying them.
//!
//! Ansible's rules, as followed here:
//! - Every string is a template. A string that is exactly one `{{ expr }}` gives the
//!   expression's value (list, dict, number, bool: "native typing"); any other
//!   string gives the rendered text; a string without `{{`, `{%` or `{#` is
//!   returned as is without touching minijinja.
//! - `when`, `changed_when`, `failed_when`, `until` and `assert: that` are bare
//!   expressions ([`Templates::eval_condition`]): a string, a list of them (all
//!   must hold, checked in order and stopping at the first false one), a boolean,
//!   or a `"{{ expr }}"` string.
//! - Undefined variables are strict, as Ansible's `StrictUndefined`: printing,
//!   iterating, comparing, or testing the truth of one (`{% if x %}`, `when: x`)
//!   fails with "`x` is undefined"; `x is defined`, `x | default(..)`,
//!   `x.missing | default(..)` and `x.missing is defined` work. As in Ansible, an
//!   undefined link of a chain before `default` gives the default
//!   (`missing.y | default(1)` is 1, `missing.y is defined` is false; see
//!   `percent`); anywhere else it fails.
//! - Python's `%` operator (`'%03d' % n`, `'%s-%s' % (a, b)`) works on strings, as
//!   does `'{}'.format(x)` and the `format` filter (see `percent`); `lookup()`,
//!   `query()`/`q()` run on the controller (see `lookup`).
//! - Variables whose values are templates are rendered when used (see [`Vars`]).
//! - Files: no auto-escaping whatever the extension, `trim_blocks` on,
//!   `lstrip_blocks` off, the trailing newline kept (the template module's
//!   defaults); looked up in the search dirs, includes first beside the including
//!   file, then in the search dirs.
//! - `none` prints as an empty string (Ansible's finalize); booleans, lists and
//!   dicts print as Python does (`True`, `['a', 1]`).
//! - As in Ansible, `{#` starts a comment even in a shell command (`${#arr[@]}`):
//!   wrap such text in `{% raw %}...{% endraw %}`.

mod error;
mod filters;
pub(crate) mod lookup;
mod native;
mod percent;
mod undefined;
mod vars;
mod version;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Value, ValueKind};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value as Json;

pub use error::{Frame, Origin, TemplateError, TemplateErrorKind};
pub use filters::OMIT;
pub use undefined::guarded;
pub use vars::Vars;

pub(crate) use native::is_template;
use native::{single_expression, to_json};
use vars::Scope;

/// The name of the variable an expression's value is captured in (see
/// [`Engine::eval`]).
const VALUE_VAR: &str = "__rtmig_value";

/// Past this many distinct inline strings and expressions, new ones are compiled
/// for each use instead of cached (a bound on memory if values that contain
/// template syntax keep changing).
const MAX_INLINE: usize = 50_000;

/// rtmig's template environment. Cheap to clone; share one per run.
#[derive(Clone)]
pub struct Templates {
    engine: Arc<Engine>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("search_dirs", &self.engine.sources.dirs)
            .finish()
    }
}

/// The environment and where its templates come from. Variables' scopes hold an
/// `Arc` of it to render variables that are templates.
pub(crate) struct Engine {
    env: Environment<'static>,
    sources: Arc<Sources>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Engine")
    }
}

/// Template sources by minijinja name: files from the search dirs, and inline
/// strings and expressions registered under generated names (`<string #3>`) so
/// that minijinja's own cache keeps them compiled.
struct Sources {
    dirs: Vec<PathBuf>,
    inline: RwLock<Inline>,
}

#[derive(Default)]
struct Inline {
    strings: HashMap<Arc<str>, Arc<str>>,
    expressions: HashMap<Arc<str>, Arc<str>>,
    sources: HashMap<Arc<str>, Arc<str>>,
}

#[derive(Clone, Copy, PartialEq)]
enum InlineKind {
    String,
    Expression,
}

impl Sources {
    /// The name an inline string or expression is compiled under, registering it
    /// on first use; `None` once the cache is full.
    fn inline_name(&self, kind: InlineKind, text: &str) -> Option<Arc<str>> {
        let lookup = |inline: &Inline| {
            let names = match kind {
                InlineKind::String => &inline.strings,
                InlineKind::Expression => &inline.expressions,
            };
            names.get(text).cloned()
        };
        if let Some(name) = self.inline.read().ok().as_deref().and_then(lookup) {
            return Some(name);
        }
        let mut inline = self.inline.write().ok()?;
        if let Some(name) = lookup(&inline) {
            return Some(name);
        }
        if inline.sources.len() >= MAX_INLINE {
            return None;
        }
        let n = inline.sources.len() + 1;
        let (name, source): (Arc<str>, Arc<str>) = match kind {
            InlineKind::String => (format!("<string #{n}>").into(), text.into()),
            InlineKind::Expression => (
                format!("<expression #{n}>").into(),
                expression_template(text).into(),
            ),
        };
        inline.sources.insert(name.clone(), source);
        let names = match kind {
            InlineKind::String => &mut inline.strings,
            InlineKind::Expression => &mut inline.expressions,
        };
        names.insert(text.into(), name.clone());
        Some(name)
    }

    fn inline_source(&self, name: &str) -> Option<Arc<str>> {
        if !name.starts_with('<') {
            return None;
        }
        self.inline.read().ok()?.sources.get(name).cloned()
    }

    /// A template file by name: absolute, or relative to the first search dir that
    /// has it.
    fn resolve(&self, name: &str) -> Option<PathBuf> {
        let path = Path::new(name);
        if path.is_absolute() {
            return path.is_file().then(|| path.to_path_buf());
        }
        self.dirs
            .iter()
            .map(|dir| dir.join(path))
            .find(|p| p.is_file())
    }

    fn load(&self, name: &str) -> Result<Option<String>, minijinja::Error> {
        if let Some(source) = self.inline_source(name) {
            return Ok(Some(percent::rewrite(&source, false).into_owned()));
        }
        let Some(path) = self.resolve(name) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path).map_err(|err| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("cannot read `{}`", path.display()),
            )
            .with_source(err)
        })?;
        let text = header_overrides(text).map_err(|message| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("`{}`: {message}", path.display()),
            )
        })?;
        Ok(Some(match percent::rewrite(&text, false) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(rewritten) => rewritten,
        }))
    }

    /// The name an `include`/`import`/`extends` of `name` inside template `parent`
    /// refers to: the file beside `parent` if there is one (as Ansible searches the
    /// template's own directory first), else `name` in the search dirs.
    fn join(&self, name: &str, parent: &str) -> String {
        if Path::new(name).is_absolute() || parent.starts_with('<') {
            return name.to_string();
        }
        if let Some(dir) = self.resolve(parent).as_deref().and_then(Path::parent) {
            let beside = dir.join(name);
            if beside.is_file() {
                return beside.to_string_lossy().into_owned();
            }
        }
        name.to_string()
    }

    /// What a user knows a minijinja template name by.
    fn display_name(&self, name: &str) -> String {
        if name.starts_with("<string") {
            "template string".to_string()
        } else if name.starts_with("<expression") {
            "expression".to_string()
        } else {
            self.resolve(name)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| name.to_string())
        }
    }
}

/// An expression as a template that stores its value in a variable, so that the
/// compiled form is cached by name like any template and the value is read back
/// from the render state.
fn expression_template(expr: &str) -> String {
    format!("{{% set {VALUE_VAR} = ({expr}\n) %}}")
}

impl Engine {
    fn render_inline(&self, source: &str, root: Value) -> Result<String, minijinja::Error> {
        match self.sources.inline_name(InlineKind::String, source) {
            Some(name) => self.env.get_template(&name)?.render(root),
            None => self.env.render_str(&percent::rewrite(source, false), root),
        }
    }

    /// An expression's value; an undefined result is an error naming it.
    fn eval(&self, expr: &str, root: Value) -> Result<Value, minijinja::Error> {
        let value = match self.sources.inline_name(InlineKind::Expression, expr) {
            Some(name) => {
                let template = match self.env.get_template(&name) {
                    Ok(template) => template,
                    // Report the expression's own syntax error, not the wrapper's.
                    Err(err) => return Err(self.env.compile_expression(expr).err().unwrap_or(err)),
                };
                let captured = template.render_captured(root.clone())?;
                captured
                    .state()
                    .lookup(VALUE_VAR)
                    .unwrap_or(Value::UNDEFINED)
            }
            None => self
                .env
                .compile_expression(&percent::rewrite(expr, true))?
                .eval(root.clone())?,
        };
        if value.is_undefined() {
            // Printing it makes minijinja name what was undefined.
            let print = format!("{{{{ {expr} }}}}");
            self.env
                .render_str(&percent::rewrite(&print, false), root)?;
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::UndefinedError,
                format!("`{}` is undefined", expr.trim()),
            ));
        }
        Ok(value)
    }

    /// A variable's value that is a template, rendered with native typing.
    pub(crate) fn eval_nested(&self, source: &str, root: Value) -> Result<Value, minijinja::Error> {
        match single_expression(source) {
            Some(expr) => self.eval(expr, root),
            None => self.render_inline(source, root).map(Value::from),
        }
    }

    fn error(&self, err: &minijinja::Error, origin: Origin) -> TemplateError {
        TemplateError::from_minijinja(err, origin, |name| Some(self.sources.display_name(name)))
    }
}

impl Templates {
    /// An environment loading template files from `search_dirs`, in order (Ansible
    /// looks in `<playbook dir>/templates/` then the playbook dir).
    pub fn new(search_dirs: Vec<PathBuf>) -> Templates {
        let sources = Arc::new(Sources {
            dirs: search_dirs,
            inline: RwLock::new(Inline::default()),
        });
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Debug info is what names the undefined variable in errors.
        env.set_debug(true);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        match SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(false)
            .keep_trailing_newline(true)
            .build()
        {
            Ok(syntax) => env.set_syntax(syntax),
            Err(err) => unreachable!("default delimiters are valid: {err}"),
        }
        env.set_formatter(|out, state, value| {
            let shown = if value.is_none() {
                &Value::UNDEFINED
            } else {
                value
            };
            minijinja::escape_formatter(out, state, shown)
        });
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        filters::register(&mut env);
        percent::register(&mut env);
        lookup::register(&mut env, Arc::new(sources.dirs.clone()));
        let loader_sources = sources.clone();
        env.set_loader(move |name| loader_sources.load(name));
        let join_sources = sources.clone();
        env.set_path_join_callback(move |name, parent| join_sources.join(name, parent).into());
        Templates {
            engine: Arc::new(Engine { env, sources }),
        }
    }

    pub fn search_dirs(&self) -> &[PathBuf] {
        &self.engine.sources.dirs
    }

    fn root(&self, vars: &Vars) -> Value {
        Scope::value(vars, &self.engine)
    }

    /// Renders a template string to text.
    pub fn render_str(&self, source: &str, vars: &Vars) -> Result<String, TemplateError> {
        if !is_template(source) {
            return Ok(source.to_string());
        }
        self.engine
            .render_inline(source, self.root(vars))
            .map_err(|err| self.engine.error(&err, Origin::String))
    }

    /// Renders every string inside `value` (map keys too), with native typing: a
    /// string that is exactly `{{ expr }}` becomes the expression's value. Map
    /// entries whose value is [`OMIT`] (`default(omit)`) are dropped.
    pub fn render_value(&self, value: &Json, vars: &Vars) -> Result<Json, TemplateError> {
        let root = self.root(vars);
        self.render_json(value, &root)
    }

    fn render_json(&self, value: &Json, root: &Value) -> Result<Json, TemplateError> {
        Ok(match value {
            Json::String(s) => self.render_scalar(s, root)?,
            Json::Array(items) => Json::Array(
                items
                    .iter()
                    .map(|item| self.render_json(item, root))
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (key, item) in map {
                    let item = self.render_json(item, root)?;
                    if item.as_str() == Some(OMIT) {
                        continue;
                    }
                    let key = if is_template(key) {
                        self.engine
                            .render_inline(key, root.clone())
                            .map_err(|err| self.engine.error(&err, Origin::String))?
                    } else {
                        key.clone()
                    };
                    out.insert(key, item);
                }
                Json::Object(out)
            }
            other => other.clone(),
        })
    }

    fn render_scalar(&self, source: &str, root: &Value) -> Result<Json, TemplateError> {
        if !is_template(source) {
            return Ok(Json::String(source.to_string()));
        }
        let fail = |err: minijinja::Error| self.engine.error(&err, Origin::String);
        match single_expression(source) {
            Some(expr) => {
                let value = self.engine.eval(expr, root.clone()).map_err(fail)?;
                to_json(&value).map_err(fail)
            }
            None => self
                .engine
                .render_inline(source, root.clone())
                .map(Json::String)
                .map_err(fail),
        }
    }

    /// Evaluates a bare expression (`debug: var:`, `loop` items, ...) to data.
    pub fn eval_expr(&self, expr: &str, vars: &Vars) -> Result<Json, TemplateError> {
        let origin = || Origin::Expression(expr.to_string());
        let value = self
            .engine
            .eval(expr, self.root(vars))
            .map_err(|err| self.engine.error(&err, origin()))?;
        to_json(&value).map_err(|err| self.engine.error(&err, origin()))
    }

    /// A lookup plugin's values as `query(plugin, *terms)` gives them (the items of a
    /// `with_<plugin>` loop).
    pub fn query(
        &self,
        plugin: &str,
        terms: Vec<Json>,
        vars: &Vars,
    ) -> Result<Json, TemplateError> {
        const TERMS: &str = "__rtmig_terms";
        let mut vars = vars.clone();
        vars.insert_raw(TERMS.to_string(), Json::Array(terms));
        let plugin = serde_json::to_string(plugin).unwrap_or_default();
        self.eval_expr(&format!("query({plugin}, *{TERMS})"), &vars)
    }

    /// Evaluates `when`, `changed_when`, `failed_when`, `until` or `assert: that`:
    /// a bare expression, a `"{{ expr }}"` string, a list of them (all must hold,
    /// evaluated in order, stopping at the first false), a boolean, or null (no
    /// condition: true). A string result counts only if it is a boolean word
    /// (`yes`, `false`, ...); a list or dict counts as true when not empty.
    pub fn eval_condition(&self, cond: &Json, vars: &Vars) -> Result<bool, TemplateError> {
        let root = self.root(vars);
        self.condition(cond, &root)
    }

    fn condition(&self, cond: &Json, root: &Value) -> Result<bool, TemplateError> {
        match cond {
            Json::Null => Ok(true),
            Json::Bool(b) => Ok(*b),
            Json::Number(n) => Ok(n.as_f64().is_some_and(|f| f != 0.0)),
            Json::Array(items) => {
                for item in items {
                    if !self.condition(item, root)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Json::String(s) => self.condition_str(s, root),
            Json::Object(_) => Err(TemplateError::new(
                TemplateErrorKind::NotBoolean,
                Origin::Expression(cond.to_string()),
                "a condition must be an expression, a list of expressions or a boolean, not a map",
            )),
        }
    }

    fn condition_str(&self, cond: &str, root: &Value) -> Result<bool, TemplateError> {
        let expr = match single_expression(cond) {
            Some(expr) => expr,
            // A bare expression may hold `{{` in a string literal (`'{{' in out`).
            None if is_template(cond) && self.engine.env.compile_expression(cond).is_err() => {
                // Text around `{{ }}`: the rendered text must be a boolean word.
                let text = self
                    .engine
                    .render_inline(cond, root.clone())
                    .map_err(|err| self.engine.error(&err, Origin::String))?;
                return filters::truthy_word(&text).ok_or_else(|| {
                    TemplateError::new(
                        TemplateErrorKind::NotBoolean,
                        Origin::Expression(cond.to_string()),
                        format!("the condition rendered to `{text}`, expected a boolean (write a bare expression, without `{{{{ }}}}`)"),
                    )
                });
            }
            None => cond,
        };
        let origin = || Origin::Expression(cond.to_string());
        let value = self
            .engine
            .eval(expr, root.clone())
            .map_err(|err| self.engine.error(&err, origin()))?;
        truth(&value).map_err(|what| {
            TemplateError::new(
                TemplateErrorKind::NotBoolean,
                origin(),
                format!("the condition gave {what}, expected a boolean"),
            )
        })
    }

    /// Renders a template file (relative to the search dirs, or absolute).
    pub fn render_file(&self, name: &str, vars: &Vars) -> Result<String, TemplateError> {
        let path = self.find_file(name).ok_or_else(|| self.not_found(name))?;
        let origin = || Origin::File(path.clone());
        let template = self
            .engine
            .env
            .get_template(name)
            .map_err(|err| self.engine.error(&err, origin()))?;
        template
            .render(self.root(vars))
            .map_err(|err| self.engine.error(&err, origin()))
    }

    /// Where a template file `name` is: absolute, or the first search dir that has it.
    pub fn find_file(&self, name: &str) -> Option<PathBuf> {
        self.engine.sources.resolve(name)
    }

    fn not_found(&self, name: &str) -> TemplateError {
        let dirs: Vec<String> = self
            .search_dirs()
            .iter()
            .map(|d| format!("`{}`", d.display()))
            .collect();
        let message = if Path::new(name).is_absolute() || dirs.is_empty() {
            format!("template file `{name}` not found")
        } else {
            format!("template file `{name}` not found in {}", dirs.join(", "))
        };
        TemplateError::new(
            TemplateErrorKind::NotFound,
            Origin::File(PathBuf::from(name)),
            message,
        )
    }

    /// The top-level variables a template string reads (`hostvars`, `groups`,
    /// `registry`...), sorted; empty for plain text or a template that does not parse
    /// (validation reports that one).
    pub fn variables_in(&self, source: &str) -> Vec<String> {
        if !is_template(source) {
            return Vec::new();
        }
        let mut names: Vec<String> = match self.engine.env.template_from_str(source) {
            Ok(t) => t.undeclared_variables(false).into_iter().collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    /// Checks that a template string parses (for `rtmig validate`).
    pub fn check_str(&self, source: &str) -> Result<(), TemplateError> {
        if !is_template(source) {
            return Ok(());
        }
        let result = match self.engine.sources.inline_name(InlineKind::String, source) {
            Some(name) => self.engine.env.get_template(&name).map(|_| ()),
            None => self.engine.env.template_from_str(source).map(|_| ()),
        };
        result.map_err(|err| self.engine.error(&err, Origin::String))
    }

    /// Checks that a bare expression parses.
    pub fn check_expr(&self, expr: &str) -> Result<(), TemplateError> {
        self.engine
            .env
            .compile_expression(expr)
            .map(|_| ())
            .map_err(|err| {
                self.engine
                    .error(&err, Origin::Expression(expr.to_string()))
            })
    }

    /// Checks a condition as [`eval_condition`](Self::eval_condition) reads it.
    pub fn check_condition(&self, cond: &Json) -> Result<(), TemplateError> {
        match cond {
            Json::Array(items) => items.iter().try_for_each(|item| self.check_condition(item)),
            Json::String(s) => match single_expression(s) {
                Some(expr) => self.check_expr(expr),
                None if is_template(s) => self.check_str(s),
                None => self.check_expr(s),
            },
            _ => Ok(()),
        }
    }

    /// Checks every string inside a value as [`render_value`](Self::render_value)
    /// reads it.
    pub fn check_value(&self, value: &Json) -> Result<(), TemplateError> {
        match value {
            Json::String(s) => match single_expression(s) {
                Some(expr) => self
                    .check_expr(expr)
                    .map_err(|e| e.with_origin(Origin::String)),
                None => self.check_str(s),
            },
            Json::Array(items) => items.iter().try_for_each(|item| self.check_value(item)),
            Json::Object(map) => map.iter().try_for_each(|(key, item)| {
                self.check_str(key)?;
                self.check_value(item)
            }),
            _ => Ok(()),
        }
    }

    /// Checks that a template file exists and parses, and so do the templates it
    /// includes, imports or extends by a literal name.
    pub fn check_file(&self, name: &str) -> Result<(), TemplateError> {
        let path = self.find_file(name).ok_or_else(|| self.not_found(name))?;
        self.check_file_at(name, &path, &mut HashSet::new())
    }

    fn check_file_at(
        &self,
        name: &str,
        path: &Path,
        seen: &mut HashSet<PathBuf>,
    ) -> Result<(), TemplateError> {
        if !seen.insert(path.to_path_buf()) {
            return Ok(());
        }
        let template = self
            .engine
            .env
            .get_template(name)
            .map_err(|err| self.engine.error(&err, Origin::File(path.to_path_buf())))?;
        for include in static_includes(template.source()) {
            let child = self.engine.sources.join(&include.name, name);
            match self.find_file(&child) {
                Some(child_path) => self.check_file_at(&child, &child_path, seen)?,
                None if include.ignore_missing => {}
                None => {
                    let mut err = self.not_found(&include.name);
                    err = err.with_origin(Origin::File(path.to_path_buf()));
                    return Err(err.at_line(include.line));
                }
            }
        }
        Ok(())
    }
}

/// A condition's value as a boolean, or what it was instead.
fn truth(value: &Value) -> Result<bool, String> {
    match value.kind() {
        ValueKind::Bool | ValueKind::Number | ValueKind::None => Ok(value.is_true()),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => Ok(value.is_true()),
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            filters::truthy_word(text).ok_or_else(|| format!("the string `{text}`"))
        }
        kind => Err(format!("a {kind}")),
    }
}

struct Include {
    name: String,
    line: usize,
    ignore_missing: bool,
}

/// `{% include "x" %}`, `{% import 'x' as y %}`, `{% from "x" import y %}` and
/// `{% extends "x" %}` with a literal name (computed names are only known when
/// rendering).
fn static_includes(source: &str) -> Vec<Include> {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r#"\{%[-+]?\s*(?:include|import|from|extends)\s+(?:"([^"]*)"|'([^']*)')(\s+ignore\s+missing)?"#,
        )
        .unwrap_or_else(|err| unreachable!("static regex: {err}"))
    });
    re.captures_iter(source)
        .filter_map(|caps| {
            let name = caps.get(1).or_else(|| caps.get(2))?;
            let start = caps.get(0)?.start();
            Some(Include {
                name: name.as_str().to_string(),
                line: source[..start].matches('\n').count() + 1,
                ignore_missing: caps.get(3).is_some(),
            })
        })
        .collect()
}

/// A template file's first line `#jinja2: lstrip_blocks: True, trim_blocks: True` (the
/// template module's overrides): the line is dropped and `lstrip_blocks: True` strips
/// the spaces and tabs before a block or comment tag that starts its line, as Jinja
/// does. `trim_blocks: True` is rtmig's setting already; other overrides are refused.
fn header_overrides(text: String) -> Result<String, String> {
    let Some(rest) = text.strip_prefix("#jinja2:") else {
        return Ok(text);
    };
    let (header, body) = rest.split_once('\n').unwrap_or((rest, ""));
    let mut lstrip = false;
    for item in header.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, value) = item.split_once(':').unwrap_or((item, ""));
        let on = match value
            .trim()
            .trim_matches(['"', '\''])
            .to_ascii_lowercase()
            .as_str()
        {
            "true" | "yes" | "1" => true,
            "false" | "no" | "0" => false,
            other => {
                return Err(format!(
                    "`#jinja2:` override `{key}` takes True or False, found `{other}`"
                ));
            }
        };
        match (key.trim(), on) {
            ("lstrip_blocks", on) => lstrip = on,
            ("trim_blocks", true) => {}
            (other, _) => {
                return Err(format!(
                    "the `#jinja2:` override `{other}: {}` is not supported (rtmig has `lstrip_blocks` and `trim_blocks: True`)",
                    value.trim()
                ));
            }
        }
    }
    if !lstrip {
        return Ok(body.to_string());
    }
    let mut out = String::with_capacity(body.len());
    for line in body.split_inclusive('\n') {
        let trimmed = line.trim_start_matches([' ', '\t']);
        let tag = (trimmed.starts_with("{%") && !trimmed.starts_with("{%+"))
            || (trimmed.starts_with("{#") && !trimmed.starts_with("{#+"));
        out.push_str(if tag { trimmed } else { line });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

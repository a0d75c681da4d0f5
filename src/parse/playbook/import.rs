//! Static imports and roles, resolved while the playbook is read, as Ansible's
//! `import_*` are: `import_tasks`, `import_role` and a play's `roles:` splice their tasks
//! into the play's list, each keeping its own `file:line:column`, with the import's
//! keywords (`when`, `tags`, `become`, `vars`, ...) applied to every one of them.
//!
//! Files are found as Ansible finds them: an `import_tasks` path relative to the
//! importing file's folder, then the role's `tasks/`, then the playbook's folder; a role
//! in `PLAYBOOK_DIR/roles/NAME`, then each folder of `ANSIBLE_ROLES_PATH`, then
//! `PLAYBOOK_DIR/NAME`. A file that imports itself, directly or through others, is an
//! error at the import that closes the loop, as is nesting deeper than [`MAX_DEPTH`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::block::Flat;
use super::ctx::{Ctx, is_template};
use super::node::{Key, Node, Pos, Value};
use super::task::{become_method, parse_task};
use super::types::*;
use crate::parse::InputError;

/// Files imported into one another deeper than this are refused (a stack, not a crash).
pub const MAX_DEPTH: usize = 64;

/// What the roles of the play being read give it.
#[derive(Debug, Clone, Default)]
pub struct PlayRoles {
    /// Public roles' `defaults/`, later ones winning.
    pub defaults: Vars,
    /// Public roles' `vars/`.
    pub vars: Vars,
    /// Roles already in the play (folder and parameters): Ansible runs a role once per
    /// play unless its `meta/main.yml` says `allow_duplicates: true`.
    seen: Vec<(PathBuf, String)>,
    /// The roles' `handlers/main.yml`, in the order the roles came: Ansible puts them
    /// before the play's own handlers.
    pub handlers: Vec<Task>,
}

impl PlayRoles {
    pub fn take(&mut self) -> PlayRoles {
        std::mem::take(self)
    }
}

const PREFIXES: &[&str] = &["ansible.builtin.", "ansible.legacy."];

/// A task entry that is not a task but brings in others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ImportTasks,
    ImportRole,
    IncludeTasks,
    IncludeRole,
}

fn kind(key: &str) -> Option<Kind> {
    let bare = PREFIXES
        .iter()
        .find_map(|p| key.strip_prefix(p))
        .unwrap_or(key);
    match bare {
        "import_tasks" => Some(Kind::ImportTasks),
        "import_role" => Some(Kind::ImportRole),
        "include_tasks" => Some(Kind::IncludeTasks),
        "include_role" => Some(Kind::IncludeRole),
        _ => None,
    }
}

/// The keywords an import takes; each applies to every task it brings in.
const IMPORT_KEYWORDS: &[&str] = &[
    "name",
    "when",
    "tags",
    "become",
    "become_user",
    "become_method",
    "vars",
    "environment",
    "ignore_errors",
    "no_log",
    "check_mode",
    "delegate_to",
    "run_once",
];

const IMPORT_REFUSED: &[(&str, &str)] = &[
    (
        "loop",
        "an import is static and cannot loop (Ansible refuses it too); use `include_tasks`/`include_role`",
    ),
    (
        "with_items",
        "an import is static and cannot loop (Ansible refuses it too); use `include_tasks`/`include_role`",
    ),
    (
        "register",
        "an import is not a task and registers nothing; register inside the imported tasks",
    ),
];

/// The keywords of an import or a role entry, given to each task it brings in.
#[derive(Debug, Clone, Default)]
struct Inherit {
    when: Vec<Expr>,
    tags: Vec<String>,
    become_: Option<bool>,
    become_user: Option<Text>,
    vars: Vars,
    environment: indexmap::IndexMap<String, Text>,
    ignore_errors: bool,
    ignore_errors_template: Option<Text>,
    no_log: bool,
    check_mode: Option<bool>,
    delegate_to: Option<Text>,
    run_once: bool,
}

impl Inherit {
    /// Read the keywords of [`IMPORT_KEYWORDS`] found among `entries` (others are the
    /// caller's to check).
    fn parse(ctx: &mut Ctx, entries: &[(Key, Node)]) -> Inherit {
        let mut out = Inherit::default();
        for (k, v) in entries {
            match k.name.as_str() {
                "when" => out.when = ctx.exprs(v, "when"),
                "tags" => out.tags = ctx.tags(v),
                "become" => out.become_ = ctx.boolean(v, "become"),
                "become_user" => out.become_user = ctx.text(v, "become_user"),
                "become_method" => become_method(ctx, v),
                "vars" => out.vars = ctx.vars(v, "vars"),
                "environment" => out.environment = ctx.environment(v),
                "ignore_errors" => {
                    let (b, t) = ctx.boolean_or_template(v, "ignore_errors");
                    out.ignore_errors = b.unwrap_or(false);
                    out.ignore_errors_template = t;
                }
                "no_log" => out.no_log = ctx.boolean(v, "no_log").unwrap_or(false),
                "check_mode" => out.check_mode = ctx.boolean(v, "check_mode"),
                "delegate_to" => out.delegate_to = ctx.text(v, "delegate_to"),
                "run_once" => out.run_once = ctx.boolean(v, "run_once").unwrap_or(false),
                _ => {}
            }
        }
        out
    }

    /// Give `task` the import's keywords: conditions before its own, tags added, and
    /// the task's own `become`, `vars`, `environment`... winning.
    fn apply(&self, task: &mut Task) {
        if !self.when.is_empty() {
            let own = std::mem::take(&mut task.when);
            task.when = self.when.iter().cloned().chain(own).collect();
        }
        for t in &self.tags {
            if !task.tags.contains(t) {
                task.tags.push(t.clone());
            }
        }
        task.become_ = task.become_.or(self.become_);
        if task.become_user.is_none() {
            task.become_user = self.become_user.clone();
        }
        if !self.vars.is_empty() {
            let own = std::mem::take(&mut task.vars);
            task.vars = self.vars.clone();
            task.vars.extend(own);
        }
        for (k, v) in &self.environment {
            if !task.environment.contains_key(k) {
                task.environment.insert(k.clone(), v.clone());
            }
        }
        task.ignore_errors |= self.ignore_errors;
        if !task.ignore_errors && task.ignore_errors_template.is_none() {
            task.ignore_errors_template = self.ignore_errors_template.clone();
        }
        task.no_log |= self.no_log;
        task.check_mode = task.check_mode.or(self.check_mode);
        if task.delegate_to.is_none() {
            task.delegate_to = self.delegate_to.clone();
        }
        task.run_once |= self.run_once;
    }
}

/// A list of task entries (`tasks:`, a tasks file): each a task, or an import that
/// gives several.
pub fn task_list(ctx: &mut Ctx, node: &Node, what: &str) -> Flat {
    let mut flat = Flat::default();
    super::block::list_of(ctx, node, what, &mut flat);
    flat
}

/// One entry of a task list: a task, or the tasks an import brings in.
pub(crate) fn task_entry(ctx: &mut Ctx, node: &Node) -> Flat {
    let Value::Map(entries) = &node.value else {
        return Flat::of(parse_task(ctx, node));
    };
    let found = entries
        .iter()
        .find_map(|(k, v)| kind(&k.name).map(|kind| (k, v, kind)));
    let Some((key, value, kind)) = found else {
        return Flat::of(parse_task(ctx, node));
    };
    match kind {
        Kind::ImportTasks => import_tasks(ctx, entries, key, value),
        Kind::ImportRole => import_role(ctx, entries, key, value),
        Kind::IncludeTasks | Kind::IncludeRole => include(ctx, node),
    }
}

/// `include_tasks`/`include_role`: the include itself (a task deciding at run time
/// whether and how often its tasks run), then its tasks, read now.
fn include(ctx: &mut Ctx, node: &Node) -> Flat {
    let Some(mut header) = parse_task(ctx, node) else {
        return Flat::default();
    };
    let Action::Include(inc) = &header.action else {
        return Flat::default();
    };
    let at = Pos {
        line: inc.what.location.line,
        column: inc.what.location.column,
    };
    let mut body = match inc.kind {
        IncludeKind::Tasks if is_template(&inc.what.value) => {
            let (body, search) = variants(ctx, &header, at);
            if let Action::Include(inc) = &mut header.action {
                inc.search = search;
            }
            body
        }
        IncludeKind::Tasks => match resolve_tasks_file(ctx, &inc.what, at, "include_tasks") {
            Some(path) => tasks_file(ctx, &path, at),
            None => Flat::default(),
        },
        IncludeKind::Role => {
            let load = RoleLoad {
                name: inc.what.clone(),
                name_pos: at,
                tasks_from: inc.tasks_from.clone(),
                defaults_from: inc.defaults_from.clone(),
                vars_from: inc.vars_from.clone(),
                public: inc.public,
                params: Vars::new(),
            };
            load_role(ctx, load, &Inherit::default())
        }
    };
    // The include's `vars` are its tasks' too (below their own).
    let inherit = Inherit {
        vars: header.vars.clone(),
        ..Inherit::default()
    };
    for t in &mut body.tasks {
        inherit.apply(t);
    }
    if let Action::Include(inc) = &mut header.action {
        inc.span = body.tasks.len();
    }
    let mut out = Flat::of(Some(header));
    out.append(body, None);
    out
}

/// A templated `include_tasks`'s variants: each tasks file in the folders a name is
/// looked up in (the including file's, the role's `tasks/`, the playbook's), but the
/// including ones, read now as an include of its own. A file's problems stay with its
/// variant (reported if a host's name picks it), as Ansible reads only the file it
/// includes. Returns them and the folders.
fn variants(ctx: &mut Ctx, header: &Task, at: Pos) -> (Flat, Vec<PathBuf>) {
    let search = tasks_dirs(ctx);
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in &search {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
            .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
            .collect();
        found.sort();
        for f in found {
            let including =
                ctx.stack.contains(&f) || std::fs::canonicalize(&ctx.file).is_ok_and(|c| c == f);
            if !including && !files.contains(&f) {
                files.push(f);
            }
        }
    }
    let mut out = Flat::default();
    for path in files {
        let before = ctx.errors.len();
        let mut tasks = tasks_file(ctx, &path, at);
        let errors: Vec<String> = ctx
            .errors
            .split_off(before)
            .iter()
            .map(ToString::to_string)
            .collect();
        if !errors.is_empty() {
            tasks = Flat::default();
        }
        let mut variant = header.clone();
        variant.when.clear();
        variant.loop_ = None;
        if let Action::Include(inc) = &mut variant.action {
            inc.what.value = path.display().to_string();
            inc.span = tasks.tasks.len();
            inc.search = Vec::new();
            inc.variant = Some(super::Variant { path, errors });
        }
        out.append(Flat::of(Some(variant)), None);
        out.append(tasks, None);
    }
    (out, search)
}

/// A tasks file named at `at` (after `what:`), found or reported there.
fn resolve_tasks_file(ctx: &mut Ctx, file: &Text, at: Pos, what: &str) -> Option<PathBuf> {
    let found = find_tasks_file(ctx, &file.value);
    if found.is_none() {
        let looked = tasks_dirs(ctx)
            .iter()
            .map(|d| format!("`{}`", d.join(&file.value).display()))
            .collect::<Vec<_>>();
        ctx.error(
            at,
            format!(
                "`{what}`: file `{}` not found (looked for {})",
                file.value,
                super::ctx::and_list(&looked)
            ),
        );
    }
    found
}

/// Check an import's keys: its own key, `own` arguments when given inline, and the
/// inherited keywords.
fn check_import_keys(ctx: &mut Ctx, entries: &[(Key, Node)], key: &Key) {
    let mut known: Vec<&str> = IMPORT_KEYWORDS.to_vec();
    known.push(key.name.as_str());
    ctx.check_keys(entries, &known, IMPORT_REFUSED, "keyword of an import");
}

/// `import_tasks: FILE` (or `import_tasks: {file: FILE}`).
fn import_tasks(ctx: &mut Ctx, entries: &[(Key, Node)], key: &Key, value: &Node) -> Flat {
    check_import_keys(ctx, entries, key);
    let inherit = Inherit::parse(ctx, entries);
    let file = match &value.value {
        Value::Map(args) => {
            ctx.check_keys(args, &["file"], &[], "argument of `import_tasks`");
            match args.iter().find(|(k, _)| k.name == "file") {
                Some((_, f)) => ctx.text(f, "file"),
                None => {
                    ctx.error(value.pos, "`import_tasks` needs a file name");
                    None
                }
            }
        }
        _ => ctx.text(value, "import_tasks"),
    };
    let Some(file) = file else {
        return Flat::default();
    };
    if is_template(&file.value) {
        ctx.error(
            value.pos,
            "`import_tasks` is static: its file name cannot be a template here; use `include_tasks`",
        );
        return Flat::default();
    }
    let Some(path) = resolve_tasks_file(ctx, &file, value.pos, "import_tasks") else {
        return Flat::default();
    };
    let mut tasks = tasks_file(ctx, &path, value.pos);
    for t in &mut tasks.tasks {
        inherit.apply(t);
    }
    tasks
}

/// Where a relative tasks file is looked for: the importing file's folder, the role's
/// `tasks/`, the playbook's folder.
fn tasks_dirs(ctx: &Ctx) -> Vec<PathBuf> {
    let mut dirs = vec![parent(&ctx.file)];
    if let Some(role) = &ctx.role {
        dirs.push(role.path.join("tasks"));
    }
    dirs.push(ctx.dir.clone());
    dirs.dedup();
    dirs
}

fn find_tasks_file(ctx: &Ctx, name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    tasks_dirs(ctx)
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn parent(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Enter `path` (a file about to be read into the current one): `Err` with the message
/// when that would be a recursion or too deep.
pub fn enter(ctx: &mut Ctx, path: &Path) -> Result<(), String> {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some(i) = ctx.stack.iter().position(|p| *p == canonical) {
        let chain: Vec<String> = ctx.stack[i..]
            .iter()
            .chain(std::iter::once(&canonical))
            .map(|p| {
                p.file_name()
                    .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
            })
            .collect();
        return Err(format!(
            "`{}` is imported into itself ({}): the import never ends",
            path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into()
            ),
            chain.join(" -> ")
        ));
    }
    if ctx.stack.len() >= MAX_DEPTH {
        return Err(format!(
            "imports nested deeper than {MAX_DEPTH} files at `{}`",
            path.display()
        ));
    }
    ctx.stack.push(canonical);
    Ok(())
}

/// Read a YAML file for an import, the error at `at` in the importing file when it
/// cannot be read.
pub fn read_import(ctx: &mut Ctx, path: &Path, at: Pos, what: &str) -> Option<Node> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            ctx.error(at, format!("cannot read {what} `{}`: {e}", path.display()));
            return None;
        }
    };
    if text.trim().is_empty() {
        return Some(Node {
            value: Value::Null,
            pos: Pos { line: 1, column: 1 },
        });
    }
    match super::read_node(path, &text) {
        Ok(n) => Some(n),
        Err(e) => {
            ctx.errors.push(e);
            None
        }
    }
}

/// Read the file `path` with `ctx.file` set to it, then restore the importing file.
pub fn within<T>(ctx: &mut Ctx, path: &Path, f: impl FnOnce(&mut Ctx) -> T) -> T {
    let outer = std::mem::replace(&mut ctx.file, path.to_path_buf());
    let out = f(ctx);
    ctx.file = outer;
    out
}

/// The tasks of a tasks file, imported at `at` (in the current file).
fn tasks_file(ctx: &mut Ctx, path: &Path, at: Pos) -> Flat {
    if let Err(message) = enter(ctx, path) {
        ctx.error(at, message);
        return Flat::default();
    }
    let tasks = match read_import(ctx, path, at, "the tasks file") {
        Some(node) => within(ctx, path, |ctx| task_list(ctx, &node, "a tasks file")),
        None => Flat::default(),
    };
    ctx.stack.pop();
    tasks
}

/// How a role is brought in.
struct RoleLoad {
    name: Text,
    name_pos: Pos,
    tasks_from: Option<String>,
    defaults_from: Option<String>,
    vars_from: Option<String>,
    /// Its defaults and vars seen by the whole play (`roles:`, `import_role`).
    public: bool,
    /// Role parameters (`- role: x` with `vars:` or other keys): above the role's vars.
    params: Vars,
}

/// A play's `roles:` list.
pub fn roles(ctx: &mut Ctx, node: &Node) -> Flat {
    match &node.value {
        Value::Null => Flat::default(),
        Value::Seq(items) => {
            let mut flat = Flat::default();
            for n in items {
                flat.append(role_entry(ctx, n), None);
            }
            flat
        }
        other => {
            ctx.error(
                node.pos,
                format!(
                    "`roles` must be a list of role names, found {}",
                    other.kind()
                ),
            );
            Flat::default()
        }
    }
}

/// One entry of `roles:` or of a role's `dependencies`: `name`, or `{role: name, ...}`
/// with task keywords and role parameters.
fn role_entry(ctx: &mut Ctx, node: &Node) -> Flat {
    let (name, entries): (Option<Text>, &[(Key, Node)]) = match &node.value {
        Value::Map(entries) => {
            let name_node = entries
                .iter()
                .find(|(k, _)| k.name == "role" || k.name == "name")
                .map(|(_, v)| v);
            match name_node {
                Some(n) => (ctx.text(n, "role"), entries),
                None => {
                    ctx.error(node.pos, "a role entry needs `role: NAME`");
                    return Flat::default();
                }
            }
        }
        _ => (ctx.text(node, "role"), &[]),
    };
    let Some(name) = name else {
        return Flat::default();
    };
    let name_pos = Pos {
        line: name.location.line,
        column: name.location.column,
    };
    let inherit = Inherit::parse(ctx, entries);
    let mut params = Vars::new();
    for (k, v) in entries {
        match k.name.as_str() {
            "role" | "name" => {}
            "vars" => params.extend(ctx.vars(v, "vars")),
            n if IMPORT_KEYWORDS.contains(&n) => {}
            n if IMPORT_REFUSED.iter().any(|(r, _)| *r == n) => {
                ctx.error(k.pos, format!("a role entry cannot take `{n}`"));
            }
            n if super::ctx::is_identifier(n) => {
                params.insert(n.to_string(), ctx.data(v));
            }
            n => ctx.error(k.pos, format!("`{n}` is not a valid role parameter name")),
        }
    }
    let load = RoleLoad {
        name,
        name_pos,
        tasks_from: None,
        defaults_from: None,
        vars_from: None,
        public: true,
        params,
    };
    load_role(ctx, load, &inherit)
}

const IMPORT_ROLE_ARGS: &[&str] = &[
    "name",
    "tasks_from",
    "defaults_from",
    "vars_from",
    "handlers_from",
    "allow_duplicates",
    "public",
    "rolespec_validate",
];

/// `import_role: {name: x, tasks_from: y, ...}`.
fn import_role(ctx: &mut Ctx, entries: &[(Key, Node)], key: &Key, value: &Node) -> Flat {
    check_import_keys(ctx, entries, key);
    let inherit = Inherit::parse(ctx, entries);
    let Some(args) = ctx.map(value, "`import_role`") else {
        return Flat::default();
    };
    ctx.check_keys(args, IMPORT_ROLE_ARGS, &[], "argument of `import_role`");
    let get = |n: &str| args.iter().find(|(k, _)| k.name == n).map(|(_, v)| v);
    let Some(name_node) = get("name") else {
        ctx.error(value.pos, "`import_role` needs `name`");
        return Flat::default();
    };
    let Some(name) = ctx.text(name_node, "name") else {
        return Flat::default();
    };
    let from = |ctx: &mut Ctx, n: &str| get(n).and_then(|v| ctx.plain(v, n));
    let tasks_from = from(ctx, "tasks_from");
    let defaults_from = from(ctx, "defaults_from");
    let vars_from = from(ctx, "vars_from");
    let public = get("public")
        .and_then(|v| ctx.boolean(v, "public"))
        .unwrap_or(true);
    if let Some(v) = get("handlers_from") {
        ctx.error(
            v.pos,
            "`handlers_from` is not supported yet: rtmig reads the role's handlers/main.yml",
        );
    }
    let load = RoleLoad {
        name,
        name_pos: name_node.pos,
        tasks_from,
        defaults_from,
        vars_from,
        public,
        params: Vars::new(),
    };
    load_role(ctx, load, &inherit)
}

/// Where roles are looked for (see the module doc).
fn role_dirs(ctx: &Ctx) -> Vec<PathBuf> {
    let mut dirs = vec![ctx.dir.join("roles")];
    if let Some(paths) = std::env::var_os("ANSIBLE_ROLES_PATH") {
        dirs.extend(std::env::split_paths(&paths).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs.push(ctx.dir.clone());
    dirs
}

fn find_role(ctx: &Ctx, name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = ctx.dir.join(name);
        return p.is_dir().then_some(p);
    }
    role_dirs(ctx)
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_dir())
}

/// `DIR/main.yml`, `DIR/main.yaml` or `DIR/main` (or `from` instead of `main`).
fn role_file(dir: &Path, from: Option<&str>) -> Option<PathBuf> {
    let stem = from.unwrap_or("main");
    [
        dir.join(format!("{stem}.yml")),
        dir.join(format!("{stem}.yaml")),
        dir.join(stem),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// A role's `meta/main.yml`: its dependencies (entries as in `roles:`) and
/// `allow_duplicates`.
struct Meta {
    dependencies: Vec<Node>,
    allow_duplicates: bool,
}

fn read_meta(ctx: &mut Ctx, dir: &Path, at: Pos) -> Option<(PathBuf, Meta)> {
    let path = role_file(&dir.join("meta"), None)?;
    let node = read_import(ctx, &path, at, "the role's meta file")?;
    within(ctx, &path, |ctx| {
        let mut meta = Meta {
            dependencies: Vec::new(),
            allow_duplicates: false,
        };
        if node.value == Value::Null {
            return Some((path.clone(), meta));
        }
        let entries = ctx.map(&node, "a role's `meta/main.yml`")?;
        for (k, v) in entries {
            match k.name.as_str() {
                "dependencies" => match &v.value {
                    Value::Seq(items) => meta.dependencies = items.clone(),
                    Value::Null => {}
                    other => ctx.error(
                        v.pos,
                        format!(
                            "`dependencies` must be a list of roles, found {}",
                            other.kind()
                        ),
                    ),
                },
                "allow_duplicates" => {
                    meta.allow_duplicates = ctx.boolean(v, "allow_duplicates").unwrap_or(false)
                }
                // galaxy_info, argument_specs...: not rtmig's business.
                _ => {}
            }
        }
        Some((path.clone(), meta))
    })
}

/// Bring in a role: its dependencies' tasks, then its own, with its defaults and vars.
fn load_role(ctx: &mut Ctx, load: RoleLoad, inherit: &Inherit) -> Flat {
    let at = load.name_pos;
    let name = &load.name.value;
    if is_template(name) {
        ctx.error(
            at,
            "a role name cannot be a template here: roles are read with the playbook",
        );
        return Flat::default();
    }
    let Some(dir) = find_role(ctx, name) else {
        let looked: Vec<String> = role_dirs(ctx)
            .iter()
            .map(|d| format!("`{}`", d.display()))
            .collect();
        ctx.error(
            at,
            format!(
                "role `{name}` not found (looked in {})",
                super::ctx::and_list(&looked)
            ),
        );
        return Flat::default();
    };
    let canonical = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
    // A role depending on itself, before it counts as already in the play.
    if let Err(message) = enter(ctx, &dir) {
        ctx.error(at, message);
        return Flat::default();
    }
    let meta = read_meta(ctx, &dir, at);
    let allow_duplicates = meta.as_ref().is_some_and(|(_, m)| m.allow_duplicates);
    let key = (
        canonical.clone(),
        format!(
            "{:?}|{:?}",
            load.tasks_from,
            load.params
                .iter()
                .map(|(k, d)| (k, &d.value))
                .collect::<Vec<_>>()
        ),
    );
    if ctx.play_roles.seen.contains(&key) && !allow_duplicates {
        ctx.stack.pop();
        return Flat::default();
    }
    ctx.play_roles.seen.push(key);
    let handlers_file = role_file(&dir.join("handlers"), None);
    let mut tasks = Flat::default();
    if let Some((meta_path, meta)) = meta {
        within(ctx, &meta_path, |ctx| {
            for dep in &meta.dependencies {
                tasks.append(role_entry(ctx, dep), None);
            }
        });
    }
    let defaults = role_vars_file(ctx, &dir, "defaults", load.defaults_from.as_deref(), at);
    let vars = role_vars_file(ctx, &dir, "vars", load.vars_from.as_deref(), at);
    let scope = Arc::new(RoleScope {
        name: name.rsplit('/').next().unwrap_or(name).to_string(),
        path: dir.clone(),
        defaults: defaults.clone(),
    });
    let tasks_dir = dir.join("tasks");
    let main = role_file(&tasks_dir, load.tasks_from.as_deref());
    if main.is_none() && load.tasks_from.is_some() {
        ctx.error(
            at,
            format!(
                "role `{name}` has no tasks file `{}` (looked for .yml, .yaml and no extension)",
                tasks_dir
                    .join(load.tasks_from.as_deref().unwrap_or("main"))
                    .display()
            ),
        );
    }
    let outer_role = ctx.role.replace(scope);
    let mut own = main.map_or_else(Flat::default, |p| tasks_file(ctx, &p, at));
    // The role's handlers: notified by name or `listen` from anywhere in the play,
    // with the role's vars and parameters, its files searched first.
    let mut handlers = match &handlers_file {
        Some(path) => match read_import(ctx, path, at, "the role's handlers file") {
            Some(node) => within(ctx, path, |ctx| super::block::handler_list(ctx, &node)),
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    ctx.role = outer_role;
    ctx.stack.pop();
    for t in own.tasks.iter_mut().chain(handlers.iter_mut()) {
        let mut merged = vars.clone();
        merged.extend(std::mem::take(&mut t.vars));
        merged.extend(load.params.clone());
        t.vars = merged;
    }
    ctx.play_roles.handlers.append(&mut handlers);
    tasks.append(own, None);
    for t in &mut tasks.tasks {
        inherit.apply(t);
    }
    if load.public {
        ctx.play_roles.defaults.extend(defaults);
        ctx.play_roles.vars.extend(vars);
    }
    tasks
}

/// A role's `defaults/` or `vars/` file (`main` or `from`), empty when the role has
/// none; `from` given but missing is an error at the role.
fn role_vars_file(ctx: &mut Ctx, dir: &Path, sub: &str, from: Option<&str>, at: Pos) -> Vars {
    match role_file(&dir.join(sub), from) {
        Some(path) => {
            let location = ctx.loc(at);
            super::play::read_vars_file(ctx, &path, &location).unwrap_or_default()
        }
        None => {
            if let Some(from) = from {
                ctx.errors.push(InputError::at(
                    &ctx.loc(at),
                    format!(
                        "`{sub}_from`: `{}` not found",
                        dir.join(sub).join(from).display()
                    ),
                ));
            }
            Vars::new()
        }
    }
}

#[cfg(test)]
mod tests;

//! Playbooks: Ansible-flavoured YAML, a documented subset, read into the typed values of
//! [`types`] with every problem reported at its `file:line:column`.
//!
//! Owns the playbook language (plays, task keywords, actions and their arguments) and
//! its validation. Depends only on [`crate::parse`]'s locations and errors; templates
//! are not rendered or syntax-checked here: the template module walks
//! [`Play::strings`], [`Task::strings`] and [`Playbook::template_files`] for that.
//!
//! The file is read as YAML 1.1 as Ansible does (`yes`/`no` are booleans), except that
//! a number with a leading zero stays text, so `mode: 0644` means what it says. A
//! `!vault` value in variables is decrypted while the file is read.

mod action;
mod block;
mod ctx;
mod import;
mod node;
mod play;
mod task;
mod types;

pub use action::ACTIONS;
pub use action::{CRON_SPECIAL_TIMES, MOUNT_STATES, SYSTEMD_STATES};
pub use ctx::is_template;
pub use play::{PLAY_KEYWORDS, parse_serial_word};
pub use task::TASK_KEYWORDS;
pub use types::*;

use std::path::{Path, PathBuf};

use crate::parse::vault::Decryption;
use crate::parse::{InputError, InputErrors, Location};

/// Read and validate a playbook file. Every problem found is returned, not only the
/// first. A `!vault` value is an error (no password): see [`load_with`].
pub fn load(path: &Path) -> Result<Playbook, InputErrors> {
    load_with(path, &Decryption::default())
}

/// [`load`], `!vault` values in variables decrypted as `decryption` says.
pub fn load_with(path: &Path, decryption: &Decryption) -> Result<Playbook, InputErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::in_file(path, format!("cannot read the playbook: {e}")))?;
    parse_with(path, &text, decryption)
}

/// Parse playbook text that came from `path` (used in messages and to find template and
/// copy sources beside it).
pub fn parse_str(path: &Path, text: &str) -> Result<Playbook, InputErrors> {
    parse_with(path, text, &Decryption::default())
}

/// [`parse_str`] with a vault.
pub fn parse_with(
    path: &Path,
    text: &str,
    decryption: &Decryption,
) -> Result<Playbook, InputErrors> {
    let root = read_node(path, text)?;
    let mut ctx = ctx::Ctx::new(path);
    ctx.decryption = decryption.clone();
    ctx.stack
        .push(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
    let plays = play::parse_plays(&mut ctx, &root);
    if !ctx.errors.is_empty() {
        // The playbook's own errors first, then each imported file's, each in order.
        let main = path.to_path_buf();
        ctx.errors.sort_by(|a, b| {
            (a.file != main, &a.file, a.position).cmp(&(b.file != main, &b.file, b.position))
        });
        return Err(InputErrors(ctx.errors));
    }
    Ok(Playbook {
        path: path.to_path_buf(),
        dir: ctx.dir,
        plays,
    })
}

/// A playbook, task or vars file as a tree of located nodes, its plain scalars typed as
/// Ansible's PyYAML types them (the inventory's reader: `yes`/`on` are booleans, `y`,
/// `1e3` and dates stay strings, `0755` is octal); `!vault` values kept encrypted.
fn read_node(path: &Path, text: &str) -> Result<node::Node, InputError> {
    let at = |line: u64, column: u64, message: String| InputError {
        file: path.to_path_buf(),
        position: Some((line, column)),
        message,
    };
    let root = crate::parse::yaml11::parse_keeping_vault(text)
        .map_err(|e| at(e.line, e.column, e.message))?;
    match root {
        Some(root) => node::Node::from_yaml11(root).map_err(|(p, m)| at(p.line, p.column, m)),
        // An empty file is null, as PyYAML reads it.
        None => Ok(node::Node {
            value: node::Value::Null,
            pos: node::Pos { line: 1, column: 1 },
        }),
    }
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

/// [`resolve_source`] for a task: in its role's folder first (`ROLE/templates/SRC`,
/// `ROLE/SRC`), then in `dir` (the play's folder), as Ansible searches a role's files.
pub fn resolve_task_source(
    role: Option<&RoleScope>,
    dir: &Path,
    subdir: &str,
    src: &str,
) -> Option<PathBuf> {
    role.and_then(|r| resolve_source(&r.path, subdir, src))
        .or_else(|| resolve_source(dir, subdir, src))
}

/// A string to check or render: a template (`{{ }}` inside text) or a bare expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Templated<'a> {
    Text(&'a Text),
    Expr(&'a Expr),
}

impl<'a> Templated<'a> {
    pub fn value(&self) -> &'a str {
        match self {
            Templated::Text(t) => &t.value,
            Templated::Expr(e) => &e.value,
        }
    }

    pub fn location(&self) -> &'a Location {
        match self {
            Templated::Text(t) => &t.location,
            Templated::Expr(e) => &e.location,
        }
    }
}

impl Playbook {
    /// Every `template` source found at parse time, with the place of its `src`.
    pub fn template_files(&self) -> Vec<(&Path, &Location)> {
        let mut out = Vec::new();
        for task in self.plays.iter().flat_map(|p| p.all_tasks()) {
            if let Action::Template(t) = &task.action
                && let Some(path) = &t.src_path
            {
                out.push((path.as_path(), &t.src.location));
            }
        }
        out
    }
}

impl Play {
    /// The play's tasks, then its handlers.
    pub fn all_tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().chain(&self.handlers)
    }

    /// The task of a step: index `i` in `tasks`, or handler `i - tasks.len()` (the
    /// runner numbers handlers after the tasks).
    pub fn step(&self, i: usize) -> &Task {
        match self.tasks.get(i) {
            Some(t) => t,
            None => &self.handlers[i - self.tasks.len()],
        }
    }

    /// The handlers a `notify` name runs, as Ansible finds them
    /// (`search_handlers_by_notification`): its handler lists (each role's, then the
    /// play's own) are searched from the last, each from its first handler; a name
    /// (plain or `ROLE : NAME`) notifies the first handler found with it, so the play's
    /// own shadows a role's and, within one list, the first of a name wins; a `listen`
    /// topic notifies every handler listening to it, again one per handler name.
    /// Returned in the order defined, the order they run in.
    pub fn handlers_for(&self, name: &str) -> Vec<usize> {
        let named = |h: &Task| {
            h.name.as_ref().is_some_and(|n| {
                n.value == name || h.role_prefixed(name).is_some_and(|rest| rest == n.value)
            })
        };
        let order: Vec<usize> = self.handler_lists().into_iter().rev().flatten().collect();
        let mut out: Vec<usize> = order
            .iter()
            .copied()
            .find(|&i| named(&self.handlers[i]))
            .into_iter()
            .collect();
        let mut seen: Vec<&str> = Vec::new();
        for &i in &order {
            let h = &self.handlers[i];
            if !h.listen.iter().any(|l| l == name) {
                continue;
            }
            if let Some(n) = &h.name {
                if seen.contains(&n.value.as_str()) {
                    continue;
                }
                seen.push(&n.value);
            }
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out.sort_unstable();
        out
    }

    /// The play's handlers as Ansible's handler blocks: one list per role (consecutive
    /// handlers of one role instance), and the play's own.
    fn handler_lists(&self) -> Vec<std::ops::Range<usize>> {
        let origin = |h: &Task| h.role.as_ref().map(std::sync::Arc::as_ptr);
        let mut lists: Vec<std::ops::Range<usize>> = Vec::new();
        for (i, h) in self.handlers.iter().enumerate() {
            match lists.last_mut() {
                Some(last) if origin(&self.handlers[last.start]) == origin(h) => last.end = i + 1,
                _ => lists.push(i..i + 1),
            }
        }
        lists
    }

    /// Every play-level string rendered at run time: `hosts`, `serial` templates,
    /// `vars`, `vars_files`, `become_user`, `environment`. Tasks have their own.
    pub fn strings(&self) -> Vec<Templated<'_>> {
        let mut out = vec![Templated::Text(&self.hosts)];
        if let Some(serial) = &self.serial {
            for item in &serial.items {
                if let SerialItem::Template(t) = item {
                    out.push(Templated::Text(t));
                }
            }
        }
        out.extend(
            self.vars
                .values()
                .flat_map(|d| d.strings.iter().map(Templated::Text)),
        );
        out.extend(self.vars_files.iter().map(Templated::Text));
        out.extend(self.become_user.iter().map(Templated::Text));
        out.extend(self.environment.values().map(Templated::Text));
        out
    }
}

impl Task {
    /// The task's own name: `name`, or the action's name when there is none.
    pub fn display_name(&self) -> &str {
        self.name
            .as_ref()
            .map_or(self.action.name(), |n| n.value.as_str())
    }

    /// The name operators see, as Ansible's `Task.get_name()`: a role's task is
    /// `ROLE : NAME` (`TASK [ntp : Install chrony]`).
    pub fn shown_name(&self, name: &str) -> String {
        match &self.role {
            Some(role) => format!("{} : {name}", role.name),
            None => name.to_string(),
        }
    }

    /// `text` without this task's `ROLE : ` prefix, when it has one: a handler is also
    /// notified, and a task started at (`--start-at-task`), by its shown name.
    pub fn role_prefixed<'a>(&self, text: &'a str) -> Option<&'a str> {
        let role = self.role.as_ref()?;
        text.strip_prefix(role.name.as_str())?.strip_prefix(" : ")
    }

    /// Every string of the task that is rendered or evaluated at run time, keywords and
    /// action arguments alike, each with its place in the file.
    pub fn strings(&self) -> Vec<Templated<'_>> {
        let mut out: Vec<Templated<'_>> = Vec::new();
        let text = Templated::Text;
        out.extend(self.name.iter().map(text));
        out.extend(self.ignore_errors_template.iter().map(text));
        out.extend(self.when.iter().map(Templated::Expr));
        out.extend(self.until.iter().map(Templated::Expr));
        out.extend(self.changed_when.iter().map(Templated::Expr));
        out.extend(self.failed_when.iter().map(Templated::Expr));
        for n in [&self.retries, &self.delay, &self.timeout]
            .into_iter()
            .flatten()
        {
            if let Number::Template(t) = n {
                out.push(Templated::Text(t));
            }
        }
        out.extend(self.delegate_to.iter().map(text));
        out.extend(self.become_user.iter().map(text));
        if let Some(l) = &self.loop_ {
            out.extend(l.items.strings.iter().map(text));
            out.extend(l.label.iter().map(text));
        }
        out.extend(
            self.vars
                .values()
                .flat_map(|d| d.strings.iter().map(Templated::Text)),
        );
        out.extend(self.environment.values().map(text));
        self.action.strings(&mut out);
        out
    }
}

impl Action {
    fn strings<'a>(&'a self, out: &mut Vec<Templated<'a>>) {
        let mut texts: Vec<&'a Text> = Vec::new();
        let mut numbers: Vec<&'a Option<Number>> = Vec::new();
        match self {
            Action::Shell(c) | Action::Command(c) => {
                texts.push(&c.cmd);
                texts.extend(
                    [&c.chdir, &c.creates, &c.removes, &c.stdin, &c.executable]
                        .into_iter()
                        .flatten(),
                );
                texts.extend(&c.argv);
            }
            Action::Template(t) => {
                texts.extend([&t.src, &t.dest]);
                texts.extend([&t.mode, &t.owner, &t.group].into_iter().flatten());
            }
            Action::Copy(c) => {
                match &c.source {
                    CopySource::Content(t) => texts.push(t),
                    CopySource::Src { src, .. } | CopySource::Remote(src) => texts.push(src),
                }
                texts.push(&c.dest);
                texts.extend([&c.mode, &c.owner, &c.group].into_iter().flatten());
            }
            Action::File(f) => {
                texts.push(&f.path);
                texts.extend([&f.mode, &f.owner, &f.group].into_iter().flatten());
            }
            Action::Fetch(f) => texts.extend([&f.src, &f.dest]),
            Action::Transfer(t) => {
                texts.extend([&t.from, &t.src, &t.dest]);
                texts.extend([&t.mode, &t.owner, &t.group].into_iter().flatten());
            }
            Action::WaitFor(w) => {
                match &w.target {
                    WaitTarget::Port { host, port } => {
                        texts.extend(host);
                        if let Number::Template(t) = port {
                            texts.push(t);
                        }
                    }
                    WaitTarget::Path { path, search_regex } => {
                        texts.push(path);
                        texts.extend(search_regex);
                    }
                    WaitTarget::Command(c) => texts.push(c),
                }
                texts.extend(&w.msg);
                numbers.extend([&w.timeout, &w.delay, &w.sleep]);
            }
            Action::Assert(a) => {
                out.extend(a.that.iter().map(Templated::Expr));
                texts.extend([&a.fail_msg, &a.success_msg].into_iter().flatten());
            }
            Action::Fail(f) => texts.extend(&f.msg),
            Action::Debug(d) => match &d.what {
                DebugWhat::Msg(data) => texts.extend(&data.strings),
                DebugWhat::Var(e) => out.push(Templated::Expr(e)),
            },
            Action::SetFact(s) => texts.extend(s.facts.values().flat_map(|d| &d.strings)),
            Action::AddHost(a) => {
                texts.push(&a.name);
                texts.extend(a.groups.iter().flat_map(|d| &d.strings));
                texts.extend(a.vars.values().flat_map(|d| &d.strings));
            }
            Action::GroupBy(g) => {
                texts.push(&g.key);
                texts.extend(g.parents.iter().flat_map(|d| &d.strings));
            }
            Action::Include(i) => texts.push(&i.what),
            Action::IncludeVars(i) => {
                texts.push(&i.file);
                texts.extend(
                    i.vars
                        .iter()
                        .flat_map(|v| v.values())
                        .flat_map(|d| &d.strings),
                );
            }
            Action::Pause(p) => {
                texts.extend(&p.prompt);
                numbers.extend([&p.seconds, &p.minutes]);
            }
            Action::LineInFile(l) => {
                texts.push(&l.path);
                texts.extend(
                    [
                        &l.regexp,
                        &l.search_string,
                        &l.line,
                        &l.insertafter,
                        &l.insertbefore,
                        &l.validate,
                        &l.mode,
                        &l.owner,
                        &l.group,
                    ]
                    .into_iter()
                    .flatten(),
                );
            }
            Action::Replace(r) => {
                texts.extend([&r.path, &r.regexp]);
                texts.extend(
                    [
                        &r.replace,
                        &r.after,
                        &r.before,
                        &r.validate,
                        &r.mode,
                        &r.owner,
                        &r.group,
                    ]
                    .into_iter()
                    .flatten(),
                );
            }
            Action::BlockInFile(b) => {
                texts.push(&b.path);
                texts.extend(
                    [
                        &b.block,
                        &b.marker,
                        &b.marker_begin,
                        &b.marker_end,
                        &b.insertafter,
                        &b.insertbefore,
                        &b.validate,
                        &b.mode,
                        &b.owner,
                        &b.group,
                    ]
                    .into_iter()
                    .flatten(),
                );
            }
            Action::Stat(s) => texts.push(&s.path),
            Action::Slurp(s) => texts.push(&s.src),
            Action::Unarchive(u) => {
                texts.extend([&u.src, &u.dest]);
                texts.extend(&u.creates);
            }
            Action::Systemd(s) => texts.extend(
                [
                    &s.name,
                    &s.state,
                    &s.enabled,
                    &s.masked,
                    &s.daemon_reload,
                    &s.daemon_reexec,
                    &s.scope,
                    &s.no_block,
                ]
                .into_iter()
                .flatten(),
            ),
            Action::Package(p) => {
                texts.extend(p.names.iter().flat_map(|d| &d.strings));
                texts.extend([&p.state, &p.update_cache, &p.deb].into_iter().flatten());
            }
            Action::Sysctl(s) => {
                texts.push(&s.name);
                texts.extend(
                    [
                        &s.value,
                        &s.state,
                        &s.reload,
                        &s.sysctl_file,
                        &s.sysctl_set,
                        &s.ignoreerrors,
                    ]
                    .into_iter()
                    .flatten(),
                );
            }
            Action::Modprobe(m) => {
                texts.push(&m.name);
                texts.extend([&m.state, &m.params, &m.persistent].into_iter().flatten());
            }
            Action::Uri(u) => {
                texts.push(&u.url);
                for d in [&u.body, &u.headers, &u.status_code].into_iter().flatten() {
                    texts.extend(&d.strings);
                }
                texts.extend(
                    [
                        &u.method,
                        &u.body_format,
                        &u.return_content,
                        &u.validate_certs,
                        &u.url_username,
                        &u.url_password,
                        &u.force_basic_auth,
                        &u.follow_redirects,
                    ]
                    .into_iter()
                    .flatten(),
                );
                numbers.push(&u.timeout);
            }
            Action::Meta(_) => {}
            Action::Cron(c) => texts.extend(c.texts()),
            Action::Mount(m) => texts.extend(m.texts()),
            Action::Timezone(t) => texts.extend([&t.name, &t.hwclock].into_iter().flatten()),
            Action::ServiceFacts => {}
        }
        for n in numbers.into_iter().flatten() {
            if let Number::Template(t) = n {
                texts.push(t);
            }
        }
        out.extend(texts.into_iter().map(Templated::Text));
    }
}

#[cfg(test)]
mod tests;

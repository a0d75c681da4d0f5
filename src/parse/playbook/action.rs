//! Actions: their names (with or without `ansible.builtin.`), their arguments (a mapping,
//! Ansible's free-form `key=value` words, and the task's `args:`), and the checks on them.

use super::ctx::{Ctx, is_template, list};
use super::node::{Key, Node, Pos, Value};
use super::resolve_task_source;
use super::types::*;

mod hostconf;
mod system;
pub use hostconf::{CRON_SPECIAL_TIMES, MOUNT_STATES};
pub use system::SYSTEMD_STATES;

/// Every action rtmig has, as written without prefix.
#[rustfmt::skip]
pub const ACTIONS: &[&str] = &[
    "shell", "command", "template", "copy", "file", "fetch", "transfer", "wait_for", "assert",
    "fail", "debug", "set_fact", "pause", "add_host", "group_by",
    "lineinfile", "replace", "blockinfile", "stat", "slurp", "unarchive",
    "systemd_service", "systemd", "service", "package", "apt", "dnf", "yum", "sysctl", "modprobe",
    "uri", "meta",
    "cron", "mount", "timezone", "service_facts",
];

/// Actions that bring in other files (tasks: see [`super::import`]); not listed among
/// the actions in messages.
const INCLUDES: &[&str] = &["include_tasks", "include_role", "include_vars"];

/// Prefixes Ansible users write before builtin action names.
const PREFIXES: &[&str] = &["ansible.builtin.", "ansible.legacy."];

/// Modules outside `ansible.builtin` that rtmig has, by their full collection name.
const COLLECTION_ACTIONS: &[(&str, &str)] = &[
    ("ansible.posix.sysctl", "sysctl"),
    ("community.general.modprobe", "modprobe"),
    ("ansible.posix.mount", "mount"),
    ("community.general.timezone", "timezone"),
];

/// Common Ansible modules rtmig does not have, with what to write instead.
pub const UNSUPPORTED_ACTIONS: &[(&str, &str)] = &[
    ("raw", "use `shell`"),
    ("script", "use `copy` then `shell`"),
    ("get_url", "use `shell: curl ...`"),
    ("synchronize", "use `copy` or `transfer`"),
    ("setup", "facts are gathered by `gather_facts`"),
];

/// The action an action key names, without its prefix (`ansible.builtin.shell` gives
/// `shell`), if rtmig has it.
pub fn action_name(key: &str) -> Option<&'static str> {
    if let Some((_, name)) = COLLECTION_ACTIONS.iter().find(|(full, _)| *full == key) {
        return Some(name);
    }
    let bare = PREFIXES
        .iter()
        .find_map(|p| key.strip_prefix(p))
        .unwrap_or(key);
    ACTIONS.iter().chain(INCLUDES).copied().find(|a| *a == bare)
}

/// Whether a key looks like an Ansible module rtmig does not have.
pub fn unsupported_action(key: &str) -> Option<(&'static str, &'static str)> {
    let bare = PREFIXES
        .iter()
        .find_map(|p| key.strip_prefix(p))
        .unwrap_or(key);
    UNSUPPORTED_ACTIONS
        .iter()
        .copied()
        .find(|(a, _)| *a == bare)
}

/// Raw parameters `shell`/`command` take out of their free-form string (Ansible's
/// `RAW_PARAM_MODULES` handling).
const COMMAND_RAW_PARAMS: &[&str] = &[
    "chdir",
    "creates",
    "removes",
    "executable",
    "stdin",
    "stdin_add_newline",
];

/// Parse one action's arguments. `value` is what follows the action key; `args` is the
/// task's `args:` keyword, merged in.
pub fn parse(
    ctx: &mut Ctx,
    name: &'static str,
    key: &Key,
    value: &Node,
    args: Option<&Node>,
) -> Option<Action> {
    if name == "meta" {
        return meta(ctx, value);
    }
    let mut entries: Vec<(Key, Node)> = Vec::new();
    let mut free_cmd: Option<Text> = None;
    match &value.value {
        Value::Map(e) => entries.extend(e.iter().cloned()),
        Value::Null => {}
        Value::Str(s) if name == "shell" || name == "command" => {
            let (cmd, params) = split_raw_params(s, value.pos);
            entries.extend(params);
            free_cmd = Some(Text {
                value: cmd,
                location: ctx.loc(value.pos),
            });
        }
        // `include_tasks: FILE`, `include_vars: FILE`.
        Value::Str(_)
            if (name == "include_tasks" || name == "include_vars")
                && !value.value.scalar_text().unwrap_or_default().contains('=') =>
        {
            entries.push((
                Key {
                    name: "file".into(),
                    pos: value.pos,
                },
                value.clone(),
            ));
        }
        Value::Str(s) => match key_values(s, value.pos) {
            Ok(kv) => entries.extend(kv),
            Err(word) => {
                ctx.error(
                    value.pos,
                    format!(
                        "`{name}` takes a mapping of arguments or `key=value` words, found `{word}`"
                    ),
                );
                return None;
            }
        },
        other if name == "shell" || name == "command" => {
            if let Some(text) = value.value.scalar_text() {
                free_cmd = Some(Text {
                    value: text,
                    location: ctx.loc(value.pos),
                });
            } else {
                ctx.error(
                    value.pos,
                    format!(
                        "`{name}` takes a command string or a mapping with `cmd`, found {}",
                        other.kind()
                    ),
                );
                return None;
            }
        }
        other => {
            ctx.error(
                value.pos,
                format!(
                    "`{name}` takes a mapping of arguments, found {}",
                    other.kind()
                ),
            );
            return None;
        }
    }
    if let Some(args) = args
        && let Some(extra) = ctx.map(args, "`args`")
    {
        for (k, v) in extra {
            if entries.iter().any(|(e, _)| e.name == k.name) {
                ctx.error(
                    k.pos,
                    format!("argument `{}` of `{name}` is given twice", k.name),
                );
            } else {
                entries.push((k.clone(), v.clone()));
            }
        }
    }
    let mut a = Args {
        ctx,
        name,
        pos: key.pos,
        entries,
    };
    match name {
        "shell" | "command" => a.command(free_cmd),
        "template" => a.template(),
        "copy" => a.copy(),
        "file" => a.file(),
        "fetch" => a.fetch(),
        "transfer" => a.transfer(),
        "wait_for" => a.wait_for(),
        "assert" => a.assert(),
        "fail" => a.fail(),
        "debug" => a.debug(),
        "set_fact" => a.set_fact(),
        "pause" => a.pause(),
        "add_host" => a.add_host(),
        "group_by" => a.group_by(),
        "lineinfile" => a.lineinfile(),
        "replace" => a.replace(),
        "blockinfile" => a.blockinfile(),
        "stat" => a.stat(),
        "slurp" => a.slurp(),
        "unarchive" => a.unarchive(),
        "systemd_service" | "systemd" | "service" => a.systemd(),
        "package" | "apt" | "dnf" | "yum" => a.package(),
        "sysctl" => a.sysctl(),
        "modprobe" => a.modprobe(),
        "uri" => a.uri(),
        "include_tasks" => a.include(IncludeKind::Tasks),
        "include_role" => a.include(IncludeKind::Role),
        "include_vars" => a.include_vars(),
        "cron" => a.cron(),
        "mount" => a.mount(),
        "timezone" => a.timezone(),
        "service_facts" => a.service_facts(),
        _ => None,
    }
}

/// The `meta` actions rtmig has, and Ansible's others with why not.
const METAS: &[(&str, Meta)] = &[
    ("flush_handlers", Meta::FlushHandlers),
    ("end_play", Meta::EndPlay),
    ("end_host", Meta::EndHost),
    ("noop", Meta::Noop),
];
const UNSUPPORTED_METAS: &[(&str, &str)] = &[
    (
        "refresh_inventory",
        "rtmig reads the inventory once; use `add_host`",
    ),
    (
        "clear_host_errors",
        "a failed host stops for the run; use `ignore_errors` or a `rescue`",
    ),
    ("clear_facts", "facts are gathered once per host"),
    ("end_batch", "use `end_play`"),
    ("end_role", "rtmig has no roles here"),
    ("reset_connection", "connections are kept for the run"),
];

/// `meta: flush_handlers` (a word, not arguments).
fn meta(ctx: &mut Ctx, value: &Node) -> Option<Action> {
    let word = value.value.scalar_text().unwrap_or_default();
    if let Some((_, m)) = METAS.iter().find(|(n, _)| *n == word) {
        return Some(Action::Meta(*m));
    }
    let names: Vec<&str> = METAS.iter().map(|(n, _)| *n).collect();
    let message = match UNSUPPORTED_METAS.iter().find(|(n, _)| *n == word) {
        Some((_, why)) => format!("`meta: {word}` is not supported: {why}"),
        None => format!(
            "unknown `meta` action `{word}`, expected one of {}",
            list(&names)
        ),
    };
    ctx.error(value.pos, message);
    None
}

/// One action's arguments being read.
struct Args<'c> {
    ctx: &'c mut Ctx,
    name: &'static str,
    /// The action key's position: "missing argument" errors point here.
    pos: Pos,
    entries: Vec<(Key, Node)>,
}

impl Args<'_> {
    fn known(&mut self, known: &[&str]) {
        let what = format!("argument of `{}`", self.name);
        let entries = std::mem::take(&mut self.entries);
        self.ctx.check_keys(&entries, known, &[], &what);
        self.entries = entries;
    }

    fn get(&self, name: &str) -> Option<&Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(_, v)| v)
    }

    /// The first of `names` (an argument and its aliases) that is given.
    fn get_any(&self, names: &[&str]) -> Option<Node> {
        names.iter().find_map(|n| self.get(n)).cloned()
    }

    fn missing(&mut self, arg: &str) {
        let message = format!("`{}` needs `{arg}`", self.name);
        self.ctx.error(self.pos, message);
    }

    fn text(&mut self, name: &str) -> Option<Text> {
        let node = self.get(name)?.clone();
        self.ctx.text(&node, name)
    }

    fn required(&mut self, name: &str) -> Option<Text> {
        match self.get(name).cloned() {
            Some(node) => self.ctx.text(&node, name),
            None => {
                self.missing(name);
                None
            }
        }
    }

    fn flag(&mut self, name: &str, default: bool) -> bool {
        match self.get(name).cloned() {
            Some(node) => self.ctx.boolean(&node, name).unwrap_or(default),
            None => default,
        }
    }

    fn number(&mut self, name: &str) -> Option<Number> {
        let node = self.get(name)?.clone();
        self.ctx.number(&node, name)
    }

    fn mode(&mut self) -> Option<Text> {
        let node = self.get("mode")?.clone();
        self.ctx.mode(&node)
    }

    /// A controller-side source file, checked now unless it is a template.
    fn source(&mut self, src: &Text, subdir: &str, what: &str) -> Option<std::path::PathBuf> {
        if is_template(&src.value) {
            return None;
        }
        let role = self.ctx.role.clone();
        let found = resolve_task_source(role.as_deref(), &self.ctx.dir, subdir, &src.value);
        if found.is_none() {
            let dirs = role.iter().map(|r| &r.path).chain([&self.ctx.dir]);
            let looked: Vec<String> = dirs
                .flat_map(|d| [d.join(subdir).join(&src.value), d.join(&src.value)])
                .map(|p| format!("`{}`", p.display()))
                .collect();
            let message = format!(
                "{what} `{}` not found (looked for {})",
                src.value,
                super::ctx::and_list(&looked)
            );
            self.ctx
                .errors
                .push(crate::parse::InputError::at(&src.location, message));
        }
        found
    }

    /// `include_tasks: {file}` or `include_role: {name, tasks_from, ...}`; the tasks
    /// themselves are read by [`super::import`].
    fn include(&mut self, kind: IncludeKind) -> Option<Action> {
        let (arg, known): (&str, &[&str]) = match kind {
            IncludeKind::Tasks => ("file", &["file", "apply"]),
            IncludeKind::Role => (
                "name",
                &[
                    "name",
                    "tasks_from",
                    "defaults_from",
                    "vars_from",
                    "public",
                    "allow_duplicates",
                    "rolespec_validate",
                    "apply",
                    "handlers_from",
                ],
            ),
        };
        self.known(known);
        for refused in ["apply", "handlers_from"] {
            if let Some(node) = self.get(refused).cloned() {
                let message = format!(
                    "`{refused}` of `{}` is not supported yet: put the keywords on the included tasks",
                    self.name
                );
                self.ctx.error(node.pos, message);
            }
        }
        let Some(node) = self.get(arg).cloned() else {
            self.missing(arg);
            return None;
        };
        let what = self.ctx.text(&node, arg)?;
        // A templated tasks file is rendered per host at run time (see `Include`).
        if kind == IncludeKind::Role && is_template(&what.value) {
            let message = format!(
                "a templated `{}` name is not supported yet: name the role (pass values with `vars:`)",
                self.name
            );
            self.ctx.error(node.pos, message);
            return None;
        }
        let mut from = |n: &str| {
            let node = self.get(n).cloned()?;
            self.ctx.plain(&node, n)
        };
        let tasks_from = from("tasks_from");
        let defaults_from = from("defaults_from");
        let vars_from = from("vars_from");
        let public = self.flag("public", false);
        Some(Action::Include(Include {
            kind,
            what,
            tasks_from,
            defaults_from,
            vars_from,
            public,
            span: 0,
            search: Vec::new(),
            variant: None,
        }))
    }

    /// `include_vars: FILE` or `{file: FILE, name: NAME}`: a literal FILE (relative to
    /// the role's `vars/`, then the playbook's `vars/` and folder) is read now.
    fn include_vars(&mut self) -> Option<Action> {
        self.known(&["file", "name"]);
        let Some(file) = self.text("file") else {
            self.missing("file");
            return None;
        };
        let name = match self.get("name").cloned() {
            Some(n) => self.ctx.identifier(&n, "name"),
            None => None,
        };
        let vars = if is_template(&file.value) {
            None
        } else {
            let role = self.ctx.role.clone();
            match resolve_task_source(role.as_deref(), &self.ctx.dir, "vars", &file.value) {
                Some(path) => super::play::read_vars_file(self.ctx, &path, &file.location),
                None => {
                    self.ctx.errors.push(crate::parse::InputError::at(
                        &file.location,
                        format!("`include_vars`: file `{}` not found", file.value),
                    ));
                    None
                }
            }
        };
        Some(Action::IncludeVars(IncludeVars { file, vars, name }))
    }

    fn command(&mut self, free: Option<Text>) -> Option<Action> {
        let mut known = vec![
            "cmd",
            "chdir",
            "creates",
            "removes",
            "stdin",
            "stdin_add_newline",
            "executable",
        ];
        if self.name == "command" {
            known.push("argv");
        }
        self.known(&known);
        let argv = self.argv();
        let cmd = match (free, self.get("cmd").cloned(), &argv) {
            (Some(_), _, Some((pos, _))) | (None, Some(_), Some((pos, _))) => {
                let message = format!(
                    "`{}` takes one of a free-form command, `cmd` and `argv` (parameters are mutually exclusive)",
                    self.name
                );
                self.ctx.error(*pos, message);
                None
            }
            (None, None, Some((pos, _))) => Some(Text {
                value: String::new(),
                location: self.ctx.loc(*pos),
            }),
            (Some(free), None, None) => Some(free),
            (Some(_), Some(node), None) => {
                let message = format!("`{}` has a command both inline and in `cmd`", self.name);
                self.ctx.error(node.pos, message);
                None
            }
            (None, _, None) => self.required("cmd"),
        };
        let argv = argv.map(|(_, words)| words).unwrap_or_default();
        if let Some(cmd) = &cmd
            && cmd.value.trim().is_empty()
            && argv.is_empty()
        {
            let message = format!("`{}` needs a command, found an empty string", self.name);
            self.ctx
                .errors
                .push(crate::parse::InputError::at(&cmd.location, message));
        }
        let command = Command {
            cmd: cmd?,
            chdir: self.text("chdir"),
            creates: self.text("creates"),
            removes: self.text("removes"),
            stdin: self.text("stdin"),
            executable: self.text("executable"),
            argv,
            stdin_add_newline: self.flag("stdin_add_newline", true),
        };
        Some(if self.name == "shell" {
            Action::Shell(command)
        } else {
            Action::Command(command)
        })
    }

    fn template(&mut self) -> Option<Action> {
        self.known(&[
            "src", "dest", "mode", "owner", "group", "backup", "validate",
        ]);
        let src = self.required("src");
        let dest = self.required("dest");
        let src_path = src
            .as_ref()
            .and_then(|s| self.source(s, "templates", "template source"));
        Some(Action::Template(TemplateFile {
            src: src?,
            src_path,
            dest: dest?,
            mode: self.mode(),
            owner: self.text("owner"),
            group: self.text("group"),
            backup: self.flag("backup", false),
            validate: self.validate(),
        }))
    }

    fn copy(&mut self) -> Option<Action> {
        self.known(&[
            "content",
            "src",
            "dest",
            "mode",
            "owner",
            "group",
            "backup",
            "remote_src",
        ]);
        let dest = self.required("dest");
        let remote_src = self.flag("remote_src", false);
        let source = match (self.get("content").cloned(), self.get("src").cloned()) {
            (Some(_), Some(src)) => {
                self.ctx
                    .error(src.pos, "`copy` takes either `content` or `src`, not both");
                None
            }
            (Some(content), None) => self.ctx.text(&content, "content").map(CopySource::Content),
            (None, Some(src)) if remote_src => self.ctx.text(&src, "src").map(CopySource::Remote),
            (None, Some(src)) => self.ctx.text(&src, "src").map(|src| {
                let src_path = self.source(&src, "files", "copy source");
                CopySource::Src { src, src_path }
            }),
            (None, None) => {
                self.ctx.error(self.pos, "`copy` needs `content` or `src`");
                None
            }
        };
        Some(Action::Copy(Copy {
            source: source?,
            dest: dest?,
            mode: self.mode(),
            owner: self.text("owner"),
            group: self.text("group"),
            backup: self.flag("backup", false),
        }))
    }

    fn file(&mut self) -> Option<Action> {
        self.known(&[
            "path", "dest", "name", "state", "mode", "owner", "group", "recurse",
        ]);
        let path = match self.get_any(&["path", "dest", "name"]) {
            Some(node) => self.ctx.text(&node, "path"),
            None => {
                self.missing("path");
                None
            }
        };
        let state = match self.get("state").cloned() {
            None => Some(FileState::File),
            Some(node) => match node.value.scalar_text().as_deref() {
                Some("file") => Some(FileState::File),
                Some("directory") => Some(FileState::Directory),
                Some("absent") => Some(FileState::Absent),
                Some("touch") => Some(FileState::Touch),
                _ => {
                    let found = node
                        .value
                        .scalar_text()
                        .unwrap_or_else(|| node.value.kind().into());
                    self.ctx.error(
                        node.pos,
                        format!(
                            "`state` of `file` must be one of `file`, `directory`, `absent`, `touch`, found `{found}`"
                        ),
                    );
                    None
                }
            },
        };
        let recurse = self.flag("recurse", false);
        if recurse && state.is_some_and(|s| s != FileState::Directory) {
            self.ctx
                .error(self.pos, "`recurse` of `file` needs `state: directory`");
        }
        Some(Action::File(File {
            path: path?,
            state: state?,
            mode: self.mode(),
            owner: self.text("owner"),
            group: self.text("group"),
            recurse,
        }))
    }

    fn fetch(&mut self) -> Option<Action> {
        self.known(&["src", "dest", "flat"]);
        let src = self.required("src");
        let dest = self.required("dest");
        Some(Action::Fetch(Fetch {
            src: src?,
            dest: dest?,
            flat: self.flag("flat", false),
        }))
    }

    fn transfer(&mut self) -> Option<Action> {
        self.known(&["from", "src", "dest", "mode", "owner", "group", "backup"]);
        let from = self.required("from");
        let src = self.required("src");
        let dest = self.required("dest");
        Some(Action::Transfer(Transfer {
            from: from?,
            src: src?,
            dest: dest?,
            mode: self.mode(),
            owner: self.text("owner"),
            group: self.text("group"),
            backup: self.flag("backup", false),
        }))
    }

    fn wait_for(&mut self) -> Option<Action> {
        self.known(&[
            "host",
            "port",
            "path",
            "search_regex",
            "command",
            "state",
            "timeout",
            "delay",
            "sleep",
            "msg",
        ]);
        let port = self.get("port").cloned();
        let path = self.get("path").cloned();
        let command = self.get("command").cloned();
        let given: Vec<&str> = [("port", &port), ("path", &path), ("command", &command)]
            .iter()
            .filter(|(_, n)| n.is_some())
            .map(|(k, _)| *k)
            .collect();
        if given.len() > 1 {
            let message = format!(
                "`wait_for` takes one of `port`, `path`, `command`, found {}",
                list(&given)
            );
            self.ctx.error(self.pos, message);
            return None;
        }
        let target = if let Some(node) = port {
            if self.get("search_regex").is_some() {
                self.ctx
                    .error(self.pos, "`search_regex` of `wait_for` needs `path`");
            }
            let port = self.ctx.number(&node, "port");
            WaitTarget::Port {
                host: self.text("host"),
                port: port?,
            }
        } else if let Some(node) = path {
            let path = self.ctx.text(&node, "path");
            WaitTarget::Path {
                path: path?,
                search_regex: self.text("search_regex"),
            }
        } else if let Some(node) = command {
            WaitTarget::Command(self.ctx.text(&node, "command")?)
        } else {
            self.ctx.error(
                self.pos,
                "`wait_for` needs one of `port`, `path`, `command` (to only wait, use `pause`)",
            );
            return None;
        };
        if !matches!(target, WaitTarget::Port { .. }) && self.get("host").is_some() {
            self.ctx
                .error(self.pos, "`host` of `wait_for` needs `port`");
        }
        let state = match self.get("state").cloned() {
            None => Some(match target {
                WaitTarget::Path { .. } => WaitState::Present,
                _ => WaitState::Started,
            }),
            Some(node) => {
                let word = node.value.scalar_text().unwrap_or_default();
                // Ansible treats `present` and `started` alike (and `absent`/`stopped`);
                // keep the word that fits the target.
                let is_path = matches!(target, WaitTarget::Path { .. });
                match (word.as_str(), is_path) {
                    ("started" | "present", false) => Some(WaitState::Started),
                    ("stopped" | "absent", false) => Some(WaitState::Stopped),
                    ("started" | "present", true) => Some(WaitState::Present),
                    ("stopped" | "absent", true) => Some(WaitState::Absent),
                    _ => {
                        self.ctx.error(
                            node.pos,
                            format!(
                                "`state` of `wait_for` must be one of `started`, `stopped`, `present`, `absent`, found `{word}`"
                            ),
                        );
                        None
                    }
                }
            }
        };
        Some(Action::WaitFor(WaitFor {
            target,
            state: state?,
            timeout: self.number("timeout"),
            delay: self.number("delay"),
            sleep: self.number("sleep"),
            msg: self.text("msg"),
        }))
    }

    fn assert(&mut self) -> Option<Action> {
        self.known(&["that", "fail_msg", "msg", "success_msg", "quiet"]);
        let that = match self.get("that").cloned() {
            Some(node) => self.ctx.exprs(&node, "that"),
            None => {
                self.missing("that");
                return None;
            }
        };
        if self.get("fail_msg").is_some() && self.get("msg").is_some() {
            self.ctx.error(
                self.pos,
                "`assert` takes `fail_msg` or its alias `msg`, not both",
            );
        }
        let fail_msg = self.text("fail_msg").or_else(|| self.text("msg"));
        Some(Action::Assert(Assert {
            that,
            fail_msg,
            success_msg: self.text("success_msg"),
            quiet: self.flag("quiet", false),
        }))
    }

    fn fail(&mut self) -> Option<Action> {
        self.known(&["msg"]);
        Some(Action::Fail(Fail {
            msg: self.text("msg"),
        }))
    }

    fn debug(&mut self) -> Option<Action> {
        self.known(&["msg", "var", "verbosity"]);
        let what = match (self.get("msg").cloned(), self.get("var").cloned()) {
            (Some(_), Some(var)) => {
                self.ctx
                    .error(var.pos, "`debug` takes either `msg` or `var`, not both");
                return None;
            }
            (Some(msg), None) => DebugWhat::Msg(self.ctx.data(&msg)),
            (None, Some(var)) => {
                let exprs = self.ctx.exprs(&var, "var");
                DebugWhat::Var(exprs.into_iter().next()?)
            }
            (None, None) => {
                let node = Node {
                    value: Value::Str("Hello world!".into()),
                    pos: self.pos,
                };
                DebugWhat::Msg(self.ctx.data(&node))
            }
        };
        let verbosity = match self.number("verbosity") {
            None => 0,
            Some(Number::Literal(n)) if n <= 4 => n as u8,
            Some(_) => {
                self.ctx.error(
                    self.pos,
                    "`verbosity` of `debug` must be a number from 0 to 4",
                );
                0
            }
        };
        Some(Action::Debug(Debug { what, verbosity }))
    }

    fn set_fact(&mut self) -> Option<Action> {
        let mut cacheable = false;
        let mut facts = Vars::new();
        for (k, v) in self.entries.clone() {
            if k.name == "cacheable" {
                cacheable = self.ctx.boolean(&v, "cacheable").unwrap_or(false);
                continue;
            }
            if !super::ctx::is_identifier(&k.name) {
                self.ctx
                    .error(k.pos, format!("`{}` is not a valid variable name", k.name));
                continue;
            }
            facts.insert(k.name.clone(), self.ctx.data(&v));
        }
        if facts.is_empty() {
            self.ctx
                .error(self.pos, "`set_fact` needs at least one variable");
            return None;
        }
        Some(Action::SetFact(SetFact { facts, cacheable }))
    }

    fn add_host(&mut self) -> Option<Action> {
        let names = ["name", "host", "hostname"];
        let group_names = ["groups", "group", "groupname"];
        let given = |set: &[&str], entries: &[(Key, Node)]| {
            entries
                .iter()
                .filter(|(k, _)| set.contains(&k.name.as_str()))
                .count()
        };
        for set in [&names[..], &group_names[..]] {
            if given(set, &self.entries) > 1 {
                self.ctx.error(
                    self.pos,
                    format!("`add_host` takes one of {}, not several", list(set)),
                );
            }
        }
        let name = match self.get_any(&names) {
            Some(node) => self.ctx.text(&node, "name")?,
            None => {
                self.missing("name");
                return None;
            }
        };
        let groups = self.get_any(&group_names).map(|n| self.ctx.data(&n));
        let mut vars = Vars::new();
        for (k, v) in self.entries.clone() {
            if names.contains(&k.name.as_str()) || group_names.contains(&k.name.as_str()) {
                continue;
            }
            if !super::ctx::is_identifier(&k.name) {
                self.ctx.error(
                    k.pos,
                    format!("`{}` is not a valid host variable name", k.name),
                );
                continue;
            }
            vars.insert(k.name.clone(), self.ctx.data(&v));
        }
        Some(Action::AddHost(AddHost { name, groups, vars }))
    }

    fn group_by(&mut self) -> Option<Action> {
        self.known(&["key", "parents"]);
        let key = self.required("key")?;
        let parents = self.get("parents").cloned().map(|n| self.ctx.data(&n));
        Some(Action::GroupBy(GroupBy { key, parents }))
    }

    /// `validate`, which must name the file to check as `%s` (Ansible's rule).
    fn validate(&mut self) -> Option<Text> {
        let node = self.get("validate")?.clone();
        let text = self.ctx.text(&node, "validate")?;
        if !text.value.contains("%s") {
            let message = format!("`validate` must contain %s: {}", text.value);
            self.ctx.error(node.pos, message);
        }
        Some(text)
    }

    /// `command`'s `argv`: a non-empty list of words, with where it is written.
    fn argv(&mut self) -> Option<(Pos, Vec<Text>)> {
        let node = self.get("argv")?.clone();
        let Value::Seq(items) = &node.value else {
            self.ctx.error(
                node.pos,
                format!(
                    "`argv` must be a list of words, found {}",
                    node.value.kind()
                ),
            );
            return None;
        };
        let words: Vec<Text> = items
            .iter()
            .filter_map(|n| self.ctx.text(n, "argv"))
            .collect();
        if words.is_empty() {
            self.ctx
                .error(node.pos, "`argv` needs at least the program");
            return None;
        }
        Some((node.pos, words))
    }

    /// The file a file-editing module works on: `path` or one of its aliases.
    fn path(&mut self, aliases: &[&str]) -> Option<Text> {
        let given: Vec<&str> = aliases
            .iter()
            .copied()
            .filter(|a| self.get(a).is_some())
            .collect();
        if given.len() > 1 {
            let message = format!(
                "`{}` takes one of {}, found {}",
                self.name,
                list(aliases),
                list(&given)
            );
            self.ctx.error(self.pos, message);
        }
        match self.get_any(aliases) {
            Some(node) => self.ctx.text(&node, "path"),
            None => {
                self.missing(aliases[0]);
                None
            }
        }
    }

    /// `state: present` (true, the default) or `absent`.
    fn presence(&mut self) -> Option<bool> {
        let node = self.get("state")?.clone();
        match node.value.scalar_text().as_deref() {
            Some("present") => Some(true),
            Some("absent") => Some(false),
            other => {
                let found = other.map_or_else(|| node.value.kind().to_string(), str::to_string);
                let message = format!(
                    "`state` of `{}` must be one of `present`, `absent`, found `{found}`",
                    self.name
                );
                self.ctx.error(node.pos, message);
                None
            }
        }
    }

    /// Report the arguments of `group` given together (Ansible's `mutually_exclusive`).
    fn exclusive(&mut self, group: &[&str]) {
        let mut given: Vec<(&str, Pos)> = group
            .iter()
            .filter_map(|g| self.entries.iter().find(|(k, _)| k.name == *g))
            .map(|(k, _)| (k.name.as_str(), k.pos))
            .collect();
        // The error points at the one written last.
        given.sort_by_key(|(_, p)| (p.line, p.column));
        if let [_, (_, pos), ..] = given[..] {
            let message = format!(
                "`{}` takes {}, not both (parameters are mutually exclusive: {})",
                self.name,
                group
                    .iter()
                    .map(|g| format!("`{g}`"))
                    .collect::<Vec<_>>()
                    .join(" or "),
                group.join("|")
            );
            self.ctx.error(pos, message);
        }
    }

    /// A Python regular expression argument (`regexp` or an alias), checked now when it
    /// is not a template.
    fn pattern(&mut self, names: &[&str]) -> Option<Text> {
        let node = self.get_any(names)?;
        let text = self.ctx.text(&node, names[0])?;
        if !is_template(&text.value)
            && let Err(e) = crate::pyre::compile(&text.value, false, false)
        {
            self.ctx.error(node.pos, e);
        }
        Some(text)
    }

    /// `insertafter`/`insertbefore`: `EOF`/`BOF` or a pattern (checked now).
    fn anchor(&mut self, name: &str, keyword: &str) -> Option<Text> {
        let node = self.get(name)?.clone();
        let text = self.ctx.text(&node, name)?;
        if text.value != keyword
            && !is_template(&text.value)
            && let Err(e) = crate::pyre::compile(&text.value, false, false)
        {
            self.ctx.error(node.pos, e);
        }
        Some(text)
    }

    fn lineinfile(&mut self) -> Option<Action> {
        self.known(&[
            "path",
            "dest",
            "destfile",
            "name",
            "state",
            "regexp",
            "regex",
            "search_string",
            "line",
            "value",
            "insertafter",
            "insertbefore",
            "create",
            "backrefs",
            "firstmatch",
            "validate",
            "backup",
            "mode",
            "owner",
            "group",
        ]);
        self.exclusive(&["insertbefore", "insertafter"]);
        self.exclusive(&["regexp", "search_string"]);
        self.exclusive(&["regex", "search_string"]);
        self.exclusive(&["backrefs", "search_string"]);
        let path = self.path(&["path", "dest", "destfile", "name"]);
        let present = self.presence().unwrap_or(true);
        let regexp = self.pattern(&["regexp", "regex"]);
        let line = self
            .get_any(&["line", "value"])
            .and_then(|n| self.ctx.text(&n, "line"));
        let search_string = self.text("search_string");
        let backrefs = self.flag("backrefs", false);
        if present && line.is_none() {
            self.missing("line");
        }
        if present && backrefs && regexp.is_none() {
            let message = "`lineinfile` needs `regexp` with `backrefs: true`";
            self.ctx.error(self.pos, message);
        }
        if !present && regexp.is_none() && search_string.is_none() && line.is_none() {
            self.ctx.error(
                self.pos,
                "`lineinfile` needs one of `line`, `search_string`, `regexp` with `state: absent`",
            );
        }
        Some(Action::LineInFile(LineInFile {
            path: path?,
            present,
            regexp,
            search_string,
            line,
            insertafter: self.anchor("insertafter", "EOF"),
            insertbefore: self.anchor("insertbefore", "BOF"),
            create: self.flag("create", false),
            backrefs,
            firstmatch: self.flag("firstmatch", false),
            validate: self.validate(),
            backup: self.flag("backup", false),
            mode: self.mode(),
            owner: self.text("owner"),
            group: self.text("group"),
        }))
    }

    fn replace(&mut self) -> Option<Action> {
        self.known(&[
            "path", "dest", "destfile", "name", "regexp", "replace", "after", "before", "backup",
            "validate", "mode", "owner", "group",
        ]);
        let path = self.path(&["path", "dest", "destfile", "name"]);
        let regexp = match self.get("regexp") {
            Some(_) => self.pattern(&["regexp"]),
            None => {
                self.missing("regexp");
                None
            }
        };
        Some(Action::Replace(Replace {
            path: path?,
            regexp: regexp?,
            replace: self.text("replace"),
            after: self.text("after"),
            before: self.text("before"),
            validate: self.validate(),
            backup: self.flag("backup", false),
            mode: self.mode(),
            owner: self.text("owner"),
            group: self.text("group"),
        }))
    }

    fn blockinfile(&mut self) -> Option<Action> {
        self.known(&[
            "path",
            "dest",
            "destfile",
            "name",
            "state",
            "block",
            "content",
            "marker",
            "marker_begin",
            "marker_end",
            "insertafter",
            "insertbefore",
            "create",
            "validate",
            "backup",
            "append_newline",
            "prepend_newline",
            "mode",
            "owner",
            "group",
        ]);
        self.exclusive(&["insertbefore", "insertafter"]);
        self.exclusive(&["block", "content"]);
        let path = self.path(&["path", "dest", "destfile", "name"]);
        let present = self.presence().unwrap_or(true);
        let block = self
            .get_any(&["block", "content"])
            .and_then(|n| self.ctx.text(&n, "block"));
        Some(Action::BlockInFile(BlockInFile {
            path: path?,
            present,
            block,
            marker: self.text("marker"),
            marker_begin: self.text("marker_begin"),
            marker_end: self.text("marker_end"),
            insertafter: self.anchor("insertafter", "EOF"),
            insertbefore: self.anchor("insertbefore", "BOF"),
            create: self.flag("create", false),
            validate: self.validate(),
            backup: self.flag("backup", false),
            append_newline: self.flag("append_newline", false),
            prepend_newline: self.flag("prepend_newline", false),
            mode: self.mode(),
            owner: self.text("owner"),
            group: self.text("group"),
        }))
    }

    fn stat(&mut self) -> Option<Action> {
        self.known(&[
            "path",
            "dest",
            "name",
            "follow",
            "get_checksum",
            "checksum_algorithm",
            "checksum",
            "checksum_algo",
            "get_mime",
            "get_attributes",
            "get_selinux_context",
        ]);
        let names = ["checksum_algorithm", "checksum", "checksum_algo"];
        let checksum_algorithm = match self.get_any(&names) {
            None => ChecksumAlgorithm::Sha1,
            Some(node) => match node.value.scalar_text().as_deref() {
                Some("md5") => ChecksumAlgorithm::Md5,
                Some("sha1") => ChecksumAlgorithm::Sha1,
                Some("sha224") => ChecksumAlgorithm::Sha224,
                Some("sha256") => ChecksumAlgorithm::Sha256,
                Some("sha384") => ChecksumAlgorithm::Sha384,
                Some("sha512") => ChecksumAlgorithm::Sha512,
                other => {
                    let found = other.unwrap_or_default().to_string();
                    self.ctx.error(
                        node.pos,
                        format!(
                            "`checksum_algorithm` of `stat` must be one of `md5`, `sha1`, `sha224`, `sha256`, `sha384`, `sha512`, found `{found}`"
                        ),
                    );
                    ChecksumAlgorithm::Sha1
                }
            },
        };
        // Accepted for compatibility; rtmig reports neither mime types nor attributes.
        for flag in ["get_mime", "get_attributes", "get_selinux_context"] {
            self.flag(flag, false);
        }
        let path = self.path(&["path", "dest", "name"]);
        Some(Action::Stat(Stat {
            path: path?,
            follow: self.flag("follow", false),
            get_checksum: self.flag("get_checksum", true),
            checksum_algorithm,
        }))
    }

    fn slurp(&mut self) -> Option<Action> {
        self.known(&["src", "path"]);
        let src = self.path(&["src", "path"]);
        Some(Action::Slurp(Slurp { src: src? }))
    }

    fn unarchive(&mut self) -> Option<Action> {
        self.known(&["src", "dest", "remote_src", "creates"]);
        let src = self.required("src");
        let dest = self.required("dest");
        let remote_src = self.flag("remote_src", false);
        let src_path = match &src {
            Some(s) if !remote_src => self.source(s, "files", "archive"),
            _ => None,
        };
        Some(Action::Unarchive(Unarchive {
            src: src?,
            src_path,
            dest: dest?,
            remote_src,
            creates: self.text("creates"),
        }))
    }

    fn pause(&mut self) -> Option<Action> {
        self.known(&["seconds", "minutes", "prompt", "echo"]);
        let seconds = self.number("seconds");
        let minutes = self.number("minutes");
        if seconds.is_some() && minutes.is_some() {
            self.ctx
                .error(self.pos, "`pause` takes `seconds` or `minutes`, not both");
        }
        Some(Action::Pause(Pause {
            seconds,
            minutes,
            prompt: self.text("prompt"),
            echo: self.flag("echo", true),
        }))
    }
}

/// Split a free-form string into words (spans), keeping quoted parts and `{{ }}` /
/// `{% %}` blocks whole, as Ansible's `split_args` does.
fn words(s: &str) -> Vec<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        let mut quote: Option<u8> = None;
        let mut jinja = 0usize;
        while i < bytes.len() {
            let c = bytes[i];
            if let Some(q) = quote {
                if c == b'\\' && q == b'"' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            } else if c == b'{' && matches!(bytes.get(i + 1), Some(b'{' | b'%')) {
                jinja += 1;
                i += 1;
            } else if jinja > 0 && matches!(c, b'}' | b'%') && bytes.get(i + 1) == Some(&b'}') {
                jinja -= 1;
                i += 1;
            } else if jinja == 0 && (c == b'"' || c == b'\'') {
                quote = Some(c);
            } else if jinja == 0 && c.is_ascii_whitespace() {
                break;
            }
            i += 1;
        }
        out.push((start, i.min(bytes.len())));
    }
    out
}

/// `key=value` split, with the value unquoted. `None` when the word is not one.
fn key_value(word: &str) -> Option<(&str, String)> {
    let (key, value) = word.split_once('=')?;
    if !super::ctx::is_identifier(key) {
        return None;
    }
    let unquoted = match value.as_bytes() {
        [q @ (b'"' | b'\''), .., last] if last == q && value.len() >= 2 => {
            let inner = &value[1..value.len() - 1];
            if *q == b'"' {
                inner.replace("\\\"", "\"")
            } else {
                inner.to_string()
            }
        }
        _ => value.to_string(),
    };
    Some((key, unquoted))
}

/// Position of the byte `offset` of a one-line scalar starting at `pos`.
fn shifted(pos: Pos, s: &str, offset: usize) -> Pos {
    if s[..offset].contains('\n') {
        pos
    } else {
        Pos {
            line: pos.line,
            column: pos.column + s[..offset].chars().count() as u64,
        }
    }
}

/// `file: path=/x state=directory` → arguments. `Err(word)` names a word that is not
/// `key=value`.
fn key_values(s: &str, pos: Pos) -> Result<Vec<(Key, Node)>, String> {
    let mut out = Vec::new();
    for (start, end) in words(s) {
        let word = &s[start..end];
        let (key, value) = key_value(word).ok_or_else(|| word.to_string())?;
        let key_pos = shifted(pos, s, start);
        let value_pos = shifted(pos, s, start + key.len() + 1);
        out.push((
            Key {
                name: key.to_string(),
                pos: key_pos,
            },
            Node {
                value: Value::Str(value),
                pos: value_pos,
            },
        ));
    }
    Ok(out)
}

/// `shell: ./x.sh chdir=/opt creates=/opt/done` → the command and its raw parameters.
/// Only one-line commands are searched: in a multi-line script a `key=value` word is
/// shell, not an argument.
fn split_raw_params(s: &str, pos: Pos) -> (String, Vec<(Key, Node)>) {
    if s.trim_end().contains('\n') {
        return (s.to_string(), Vec::new());
    }
    let mut params = Vec::new();
    let mut kept: Vec<&str> = Vec::new();
    for (start, end) in words(s) {
        let word = &s[start..end];
        match key_value(word) {
            Some((key, value)) if COMMAND_RAW_PARAMS.contains(&key) => params.push((
                Key {
                    name: key.to_string(),
                    pos: shifted(pos, s, start),
                },
                Node {
                    value: Value::Str(value),
                    pos: shifted(pos, s, start + key.len() + 1),
                },
            )),
            _ => kept.push(word),
        }
    }
    if params.is_empty() {
        return (s.to_string(), params);
    }
    (kept.join(" "), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quotes_and_templates_whole() {
        let s = r#"msg="a b" path={{ x | default('a b') }} c"#;
        let got: Vec<&str> = words(s).into_iter().map(|(a, b)| &s[a..b]).collect();
        assert_eq!(got, [r#"msg="a b""#, "path={{ x | default('a b') }}", "c"]);
    }

    #[test]
    fn raw_params_leave_the_rest_of_the_command() {
        let (cmd, params) = split_raw_params(
            "FOO=1 ./run.sh --x chdir=/opt creates='/opt/a b'",
            Pos {
                line: 3,
                column: 12,
            },
        );
        assert_eq!(cmd, "FOO=1 ./run.sh --x");
        assert_eq!(params[0].0.name, "chdir");
        assert_eq!(params[0].1.value, Value::Str("/opt".into()));
        assert_eq!(
            params[0].0.pos,
            Pos {
                line: 3,
                column: 31
            }
        );
        assert_eq!(params[1].1.value, Value::Str("/opt/a b".into()));
    }

    #[test]
    fn multi_line_scripts_are_not_searched_for_parameters() {
        let script = "set -e\ncreates=/x\necho $creates\n";
        let (cmd, params) = split_raw_params(script, Pos::default());
        assert_eq!(cmd, script);
        assert!(params.is_empty());
    }

    #[test]
    fn prefixed_action_names_are_recognised() {
        assert_eq!(action_name("ansible.builtin.shell"), Some("shell"));
        assert_eq!(action_name("ansible.legacy.wait_for"), Some("wait_for"));
        assert_eq!(action_name("community.general.shell"), None);
        assert_eq!(
            unsupported_action("ansible.builtin.raw").map(|u| u.0),
            Some("raw")
        );
        assert_eq!(action_name("ansible.builtin.systemd"), Some("systemd"));
        assert_eq!(action_name("ansible.posix.sysctl"), Some("sysctl"));
        assert_eq!(action_name("community.general.modprobe"), Some("modprobe"));
        assert_eq!(action_name("community.general.sysctl"), None);
    }
}

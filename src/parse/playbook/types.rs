//! The typed playbook: what [`super::load`] produces and what `plan` and `execute` read.
//!
//! Every play, task and user-written string keeps the [`Location`] it came from, so a
//! template or run-time error can still name `file:line:column`. Strings that are
//! minijinja templates are [`Text`]; bare expressions (`when`, `until`, `changed_when`,
//! `failed_when`, `assert.that`) are [`Expr`]; free-shaped values (`vars`, `set_fact`,
//! `loop`, `debug.msg`) are [`Data`]. Nothing here is rendered yet.

use std::path::PathBuf;

use indexmap::IndexMap;

use crate::parse::Location;

/// A string as written: a minijinja template, rendered at run time with the host's
/// variables (a string without `{{`/`{%` renders to itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub value: String,
    pub location: Location,
}

/// A bare minijinja expression, Ansible-style: `when: result.rc == 0`, without `{{ }}`.
/// A YAML boolean (`changed_when: false`) is kept as the expression `false`/`true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub value: String,
    pub location: Location,
}

/// A value of any shape (`vars`, `set_fact`, `loop`, `debug.msg`), as JSON, with every
/// string leaf it contains listed in `strings` (each a template, rendered at run time).
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    pub value: serde_json::Value,
    pub location: Location,
    /// Every string found in `value` (map values and list items, not map keys), in order.
    pub strings: Vec<Text>,
}

/// A non-negative number, literal or a template that must render to one
/// (`retries: "{{ drain_retries }}"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Number {
    Literal(u64),
    Template(Text),
}

/// Variables in the order written.
pub type Vars = IndexMap<String, Data>;

/// A whole playbook file.
#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    /// The file as given on the command line.
    pub path: PathBuf,
    /// The directory holding it: `template`/`copy` sources and `vars_files` are
    /// resolved from here, as Ansible does (`DIR/templates/SRC`, then `DIR/SRC`).
    pub dir: PathBuf,
    pub plays: Vec<Play>,
}

/// One play: a host pattern and the tasks its hosts run, batch after batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    /// Where the play's mapping starts (its first key).
    pub location: Location,
    /// `name`, or the host pattern when none is given (as Ansible prints `PLAY [all]`).
    pub name: String,
    /// The host pattern (`all`, `workers:!node3`, `{{ rtmig_workers_group }}`); a YAML
    /// list of patterns is joined with `,`.
    pub hosts: Text,
    /// `None`: all hosts in one batch.
    pub serial: Option<Serial>,
    pub order: Order,
    /// Stop the play when more than this percentage of a batch failed.
    pub max_fail_percentage: Option<f64>,
    pub any_errors_fatal: bool,
    pub vars: Vars,
    /// Variable files, relative to [`Playbook::dir`], read at the start of the play.
    pub vars_files: Vec<Text>,
    pub become_: Option<bool>,
    pub become_user: Option<Text>,
    /// Default `true`, as in Ansible.
    pub gather_facts: bool,
    /// Inherited by every task of the play.
    pub tags: Vec<String>,
    /// Environment variables for every task's remote command (a task's own win).
    pub environment: IndexMap<String, Text>,
    /// `pre_tasks`, the roles' tasks, `tasks` and `post_tasks`, in that order, with
    /// `import_tasks`/`import_role` spliced in and blocks flattened: a block's
    /// tasks, then its `rescue`, then its `always` (each task names its innermost block
    /// in [`Task::block`], and [`Play::blocks`] says where each section starts).
    pub tasks: Vec<Task>,
    /// Every `block` of the play, outer blocks before the blocks they hold.
    pub blocks: Vec<Block>,
    /// Where handlers are flushed as Ansible flushes them: the index in `tasks` of the
    /// first task after `pre_tasks`, after `tasks`, and `tasks.len()` (after
    /// `post_tasks`). A `meta: flush_handlers` task flushes too.
    pub flush_points: Vec<usize>,
    /// `handlers:`, in the order defined (the order they run in). Role handlers are
    /// appended here.
    pub handlers: Vec<Task>,
    /// `force_handlers: true` (or `--force-handlers`): a failed host still runs the
    /// handlers notified before it failed.
    pub force_handlers: bool,
    /// The folder of the playbook file the play was written in (an `import_playbook`
    /// file's own): relative `src` of its tasks are found from here.
    pub dir: PathBuf,
    /// The `defaults/` of the play's roles (`roles:` and `import_role`), later roles
    /// winning: as Ansible's public roles, every task of the play sees them, below the
    /// inventory's variables.
    pub role_defaults: Vars,
    /// The `vars/` of the same roles, seen by every task of the play above play vars
    /// (a role's own tasks have them in their `vars` too).
    pub role_vars: Vars,
}

/// A `block` with its `rescue` and `always`, as ranges of [`Play::tasks`]: its own tasks
/// are `start..rescue`, its rescue `rescue..always`, its always `always..end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Where the block's mapping starts.
    pub location: Location,
    pub name: Option<String>,
    /// The block holding this one (an index in [`Play::blocks`]).
    pub parent: Option<usize>,
    pub start: usize,
    pub rescue: usize,
    pub always: usize,
    pub end: usize,
}

/// Which part of a block a task is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Block,
    Rescue,
    Always,
}

impl Block {
    /// The section holding task `i` (which must be within `start..end`).
    pub fn section(&self, i: usize) -> Section {
        if i < self.rescue {
            Section::Block
        } else if i < self.always {
            Section::Rescue
        } else {
            Section::Always
        }
    }

    /// Where `section` ends.
    pub fn section_end(&self, section: Section) -> usize {
        match section {
            Section::Block => self.rescue,
            Section::Rescue => self.always,
            Section::Always => self.end,
        }
    }

    pub fn contains(&self, i: usize) -> bool {
        (self.start..self.end).contains(&i)
    }
}

/// The role a task came from: its own `defaults/` (below the inventory's variables,
/// above other roles' defaults) and its folder, searched first for `template`/`copy`
/// sources.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleScope {
    pub name: String,
    pub path: PathBuf,
    pub defaults: Vars,
}

/// How many hosts each batch takes: `serial: 2`, `serial: "30%"`, `serial: [1, 2, 4]`
/// (the last value repeats), or a template rendered before batching.
#[derive(Debug, Clone, PartialEq)]
pub struct Serial {
    pub items: Vec<SerialItem>,
    pub location: Location,
}

/// One entry of `serial`.
#[derive(Debug, Clone, PartialEq)]
pub enum SerialItem {
    /// A host count; 0 means every remaining host.
    Count(u64),
    /// A percentage of the play's hosts, rounded down but at least 1 (`"30%"`).
    Percent(u64),
    /// A template rendered with play-level variables when the plan is built; must
    /// give a count, a percentage or a list of them.
    Template(Text),
}

/// The order hosts are taken in before batching (Ansible's play `order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Inventory,
    ReverseInventory,
    Sorted,
    ReverseSorted,
    Shuffle,
}

/// One task: exactly one action plus the keywords that say when, where and how often
/// it runs and how its result is judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Where the task's mapping starts (its first key).
    pub location: Location,
    /// What the task says, as a digest of its YAML (see [`super::node::Value::digest`]):
    /// `--resume` names the tasks that changed since the interrupted run.
    pub digest: String,
    pub name: Option<Text>,
    pub action: Action,
    /// Where the action's key is (`shell:`).
    pub action_location: Location,
    /// All must hold (a YAML list is an `and`).
    pub when: Vec<Expr>,
    pub register: Option<String>,
    /// Retry until all hold (needs `retries`, default 3 as in Ansible).
    pub until: Vec<Expr>,
    pub retries: Option<Number>,
    /// Seconds between retries (default 5 as in Ansible).
    pub delay: Option<Number>,
    pub ignore_errors: bool,
    /// `ignore_errors` given as a template (`"{{ ansible_check_mode }}"`): rendered for
    /// each host before the task runs and read as a boolean, as Ansible does.
    pub ignore_errors_template: Option<Text>,
    /// Empty: the action decides.
    pub changed_when: Vec<Expr>,
    /// Empty: the action decides.
    pub failed_when: Vec<Expr>,
    /// Run on this host instead (`localhost` is the controller), with the task host's
    /// variables.
    pub delegate_to: Option<Text>,
    /// Run on the first host of each batch only; its result is given to every host.
    pub run_once: bool,
    pub become_: Option<bool>,
    pub become_user: Option<Text>,
    /// The task's own tags (the play's are added by the plan).
    pub tags: Vec<String>,
    /// Seconds before the action is cut off and the task fails.
    pub timeout: Option<Number>,
    pub loop_: Option<Loop>,
    pub vars: Vars,
    /// Environment variables for the remote command.
    pub environment: IndexMap<String, Text>,
    /// Keep the task's arguments and results out of every log and output.
    pub no_log: bool,
    /// Ansible's `check_mode`: `Some(false)` runs the task for real under `--check`
    /// (read-only probes such as a preflight); `Some(true)` always runs it in check mode.
    pub check_mode: Option<bool>,
    /// The innermost `block` holding the task (an index in [`Play::blocks`]).
    pub block: Option<usize>,
    /// `notify:` handler names or `listen` topics, checked against the play's handlers.
    pub notify: Vec<Text>,
    /// For a handler: the `listen` topics it also answers to.
    pub listen: Vec<String>,
    /// `any_errors_fatal` on the task or its block; `None`: the play's.
    pub any_errors_fatal: Option<bool>,
    /// The role the task belongs to (`roles:`, `import_role`, `include_role`).
    pub role: Option<std::sync::Arc<RoleScope>>,
}

/// `loop:` (or `with_<plugin>:`) and `loop_control:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Loop {
    /// A list, or a template string that renders to one; for `with_<plugin>`, the
    /// plugin's terms.
    pub items: Data,
    /// `with_<plugin>`: the lookup plugin that turns the terms into the items, as
    /// Ansible does (`items` flattens nested lists one level, `dict` gives
    /// key/value pairs, `sequence`, `fileglob`, ...); `None` for `loop`, which takes
    /// the list as it is.
    pub with: Option<String>,
    /// `loop_control.loop_var`, default `item`.
    pub loop_var: String,
    /// `loop_control.index_var`: the item's index (from 0) in this variable.
    pub index_var: Option<String>,
    /// `loop_control.label`: what logs show for each item.
    pub label: Option<Text>,
    /// `loop_control.pause`: seconds between items.
    pub pause: Option<Number>,
    /// `loop_control.extended`: `ansible_loop` (index, first, last, length, ...).
    pub extended: bool,
}

/// The `with_<plugin>` loop keywords, by plugin name.
pub const WITH_LOOPS: &[&str] = &[
    "items",
    "list",
    "dict",
    "fileglob",
    "sequence",
    "together",
    "nested",
    "subelements",
    "first_found",
];

/// What a task does. Accepted with or without the `ansible.builtin.` prefix.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Through the remote shell (pipes, redirections, `&&`).
    Shell(Command),
    /// Ansible runs `command` without a shell; rtmig quotes its words so the remote shell
    /// gives the program the same argument list.
    Command(Command),
    Template(TemplateFile),
    Copy(Copy),
    File(File),
    Fetch(Fetch),
    Transfer(Transfer),
    WaitFor(WaitFor),
    Assert(Assert),
    Fail(Fail),
    Debug(Debug),
    SetFact(SetFact),
    Pause(Pause),
    AddHost(AddHost),
    GroupBy(GroupBy),
    LineInFile(LineInFile),
    Replace(Replace),
    BlockInFile(BlockInFile),
    Stat(Stat),
    Slurp(Slurp),
    Unarchive(Unarchive),
    /// `systemd_service`, `systemd` and `service`.
    Systemd(Systemd),
    /// `package`, `apt`, `dnf`, `yum`.
    Package(Package),
    Sysctl(Sysctl),
    Modprobe(Modprobe),
    Uri(Box<Uri>),
    Meta(Meta),
    Include(Include),
    IncludeVars(IncludeVars),
    Cron(Box<Cron>),
    Mount(Box<Mount>),
    Timezone(Timezone),
    /// `service_facts`: `ansible_facts.services` from systemd.
    ServiceFacts,
}

impl Action {
    /// The action's name as written without prefix (`shell`, `wait_for`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Shell(_) => "shell",
            Action::Command(_) => "command",
            Action::Template(_) => "template",
            Action::Copy(_) => "copy",
            Action::File(_) => "file",
            Action::Fetch(_) => "fetch",
            Action::Transfer(_) => "transfer",
            Action::WaitFor(_) => "wait_for",
            Action::Assert(_) => "assert",
            Action::Fail(_) => "fail",
            Action::Debug(_) => "debug",
            Action::SetFact(_) => "set_fact",
            Action::Pause(_) => "pause",
            Action::AddHost(_) => "add_host",
            Action::GroupBy(_) => "group_by",
            Action::LineInFile(_) => "lineinfile",
            Action::Replace(_) => "replace",
            Action::BlockInFile(_) => "blockinfile",
            Action::Stat(_) => "stat",
            Action::Slurp(_) => "slurp",
            Action::Unarchive(_) => "unarchive",
            Action::Systemd(_) => "systemd_service",
            Action::Package(p) => match p.manager {
                PackageManager::Auto => "package",
                PackageManager::Apt => "apt",
                PackageManager::Dnf => "dnf",
                PackageManager::Yum => "yum",
            },
            Action::Sysctl(_) => "sysctl",
            Action::Modprobe(_) => "modprobe",
            Action::Uri(_) => "uri",
            Action::Meta(_) => "meta",
            Action::IncludeVars(_) => "include_vars",
            Action::Include(i) => match i.kind {
                IncludeKind::Tasks => "include_tasks",
                IncludeKind::Role => "include_role",
            },
            Action::Cron(_) => "cron",
            Action::Mount(_) => "mount",
            Action::Timezone(_) => "timezone",
            Action::ServiceFacts => "service_facts",
        }
    }

    /// Whether the action runs on the controller only (no connection needed).
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            Action::Assert(_)
                | Action::Fail(_)
                | Action::Debug(_)
                | Action::SetFact(_)
                | Action::Pause(_)
                | Action::AddHost(_)
                | Action::GroupBy(_)
                | Action::Meta(_)
                | Action::Include(_)
                | Action::IncludeVars(_)
        )
    }

    /// Whether the action changes the in-memory inventory (so later plays' hosts are
    /// only known at run time).
    pub fn changes_inventory(&self) -> bool {
        matches!(self, Action::AddHost(_) | Action::GroupBy(_))
    }

    /// Ansible's `BYPASS_HOST_LOOP`: the action runs once per batch (on its first host,
    /// with that host's variables), as `add_host` does, not once per host.
    pub fn bypasses_host_loop(&self) -> bool {
        matches!(self, Action::AddHost(_))
    }
}

/// `shell` and `command`: free form (`shell: echo hi chdir=/tmp`) or `cmd:` with
/// arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub cmd: Text,
    pub chdir: Option<Text>,
    /// Skip (ok, not changed) when this path exists on the host.
    pub creates: Option<Text>,
    /// Skip when this path does not exist on the host.
    pub removes: Option<Text>,
    /// Fed to the command's standard input.
    pub stdin: Option<Text>,
    /// The shell to run `shell` with (default `/bin/sh`).
    pub executable: Option<Text>,
    /// `command`'s `argv`: the program and its arguments, each word as is (no
    /// splitting). When given, `cmd` is empty (located at `argv`).
    pub argv: Vec<Text>,
    /// Add a newline after `stdin` (default true, as in Ansible).
    pub stdin_add_newline: bool,
}

/// `template`: render a local minijinja file and upload it (only when it differs).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateFile {
    pub src: Text,
    /// `src` found on the controller at parse time (`DIR/templates/SRC`, then `DIR/SRC`);
    /// `None` when `src` is itself a template, resolved at run time with
    /// [`super::resolve_source`].
    pub src_path: Option<PathBuf>,
    pub dest: Text,
    /// As chmod takes it (`"0644"`, `"u+x"`); a YAML `0644` is read as the string `0644`.
    pub mode: Option<Text>,
    pub owner: Option<Text>,
    pub group: Option<Text>,
    /// Keep the replaced file beside it.
    pub backup: bool,
    /// Ansible's `validate`: a command (`%s` the new file) that must accept the content.
    pub validate: Option<Text>,
}

/// `copy`: upload `content` or a local file `src` (only when it differs).
#[derive(Debug, Clone, PartialEq)]
pub struct Copy {
    pub source: CopySource,
    pub dest: Text,
    pub mode: Option<Text>,
    pub owner: Option<Text>,
    pub group: Option<Text>,
    pub backup: bool,
}

/// Where `copy` takes its bytes from: exactly one of `content` and `src`.
#[derive(Debug, Clone, PartialEq)]
pub enum CopySource {
    /// A template string, rendered then written as is.
    Content(Text),
    /// A controller file (`DIR/files/SRC`, then `DIR/SRC`), sent as is (not rendered).
    Src {
        src: Text,
        src_path: Option<PathBuf>,
    },
    /// `remote_src: true`: a file on the host itself, copied to `dest` there.
    Remote(Text),
}

/// `file`: a path's state and attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// Also accepted as `dest` or `name`, as in Ansible.
    pub path: Text,
    pub state: FileState,
    pub mode: Option<Text>,
    pub owner: Option<Text>,
    pub group: Option<Text>,
    /// For `state: directory`: apply owner, group and mode to everything below.
    pub recurse: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileState {
    /// The path must exist as a file; only attributes change (Ansible's default).
    #[default]
    File,
    Directory,
    Absent,
    Touch,
}

/// `fetch`: copy a host's file to the controller. Without `flat`, the file lands at
/// `DEST/<inventory_hostname>/<src>` as in Ansible.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetch {
    pub src: Text,
    pub dest: Text,
    pub flat: bool,
}

/// `transfer` (rtmig's own): copy `src` on host `from` to `dest` on the task's host,
/// streamed through the controller and verified by sha256 at the end. A destination
/// that already holds the same content is left alone (ok, not changed).
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    /// The inventory host streaming the file (a template: `"{{ registry_node }}"`).
    pub from: Text,
    /// Path on `from`.
    pub src: Text,
    /// Path on the task's host (a `transfer` cannot be delegated).
    pub dest: Text,
    pub mode: Option<Text>,
    pub owner: Option<Text>,
    pub group: Option<Text>,
    pub backup: bool,
}

/// `wait_for`: wait until a port, a path, or (rtmig's extension) a command reaches the
/// wanted state, polling every `sleep` seconds for at most `timeout` seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitFor {
    pub target: WaitTarget,
    pub state: WaitState,
    /// Seconds before giving up (default 300, as in Ansible).
    pub timeout: Option<Number>,
    /// Seconds to wait before the first check (default 0).
    pub delay: Option<Number>,
    /// Seconds between checks (default 1).
    pub sleep: Option<Number>,
    /// The failure message instead of the default one.
    pub msg: Option<Text>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WaitTarget {
    /// A TCP port, checked from the task's host (`host` default `127.0.0.1`).
    Port { host: Option<Text>, port: Number },
    /// A path on the task's host; with `search_regex`, the file must contain a match.
    Path {
        path: Text,
        search_regex: Option<Text>,
    },
    /// A command run on the task's host until it exits 0 (`state: started`) or
    /// non-zero (`state: stopped`).
    Command(Text),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitState {
    /// Port open / command succeeds / path present (Ansible's default).
    #[default]
    Started,
    /// Port closed / command fails.
    Stopped,
    Present,
    Absent,
}

/// `assert`: every expression must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Assert {
    pub that: Vec<Expr>,
    /// `fail_msg` (or `msg`).
    pub fail_msg: Option<Text>,
    pub success_msg: Option<Text>,
    pub quiet: bool,
}

/// `fail`: fail the host with a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Fail {
    /// Default "Failed as requested from task", as in Ansible.
    pub msg: Option<Text>,
}

/// `debug`: print a message or a variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Debug {
    pub what: DebugWhat,
    /// Shown only at this `-v` level or above.
    pub verbosity: u8,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DebugWhat {
    /// Any value; its strings are templates. Default "Hello world!".
    Msg(Data),
    /// A variable name or expression, printed as `{name: value}`.
    Var(Expr),
}

/// `set_fact`: host variables for the rest of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct SetFact {
    pub facts: Vars,
    /// Accepted for compatibility; rtmig keeps facts in the journal anyway.
    pub cacheable: bool,
}

/// `add_host`: a host added to the run's in-memory inventory (or an existing one given
/// more groups and variables), for the plays that follow. As Ansible's, it bypasses the
/// host loop: it runs once per batch, on its first host, and once per item with `loop`.
#[derive(Debug, Clone, PartialEq)]
pub struct AddHost {
    /// `name` (aliases `host`, `hostname`); may end in `:PORT`.
    pub name: Text,
    /// `groups` (aliases `group`, `groupname`): a list, or a string of comma-separated
    /// names; `None`: the host only joins `all` (and `ungrouped`).
    pub groups: Option<Data>,
    /// Every other argument: a host variable of the added host.
    pub vars: Vars,
}

/// `group_by`: puts the task's host into the group named by `key` (spaces become `-`),
/// created when new, under `parents` (default `all`). Runs on every host.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupBy {
    pub key: Text,
    /// A list or a single name.
    pub parents: Option<Data>,
}

/// `include_tasks` / `include_role`. rtmig reads the file (or role) with the playbook, so
/// its errors are located before anything connects, and puts its tasks right after
/// this one in the play's list; at run time this task decides, per host, whether they
/// run (`when`) and how many times (once, or once per `loop` item with the loop
/// variable set).
#[derive(Debug, Clone, PartialEq)]
pub struct Include {
    pub kind: IncludeKind,
    /// The tasks file, or the role's name, as written.
    pub what: Text,
    /// For a role: `tasks_from`, `defaults_from`, `vars_from`, `public` (default false).
    pub tasks_from: Option<String>,
    pub defaults_from: Option<String>,
    pub vars_from: Option<String>,
    pub public: bool,
    /// How many of the play's tasks right after this one it brings in (nested
    /// includes' tasks counted).
    pub span: usize,
    /// A templated `include_tasks` name is rendered per host at run time: rtmig reads
    /// every tasks file it may name (those in `search`) with the playbook, each as a
    /// variant (an include with `variant` set) inside its span, and the host runs the
    /// one the name gives.
    pub search: Vec<std::path::PathBuf>,
    /// For one of those variants: its file, and its problems (reported only when a
    /// host's name picks it: Ansible reads only the file it includes).
    pub variant: Option<Variant>,
}

/// A tasks file a templated `include_tasks` may name.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub path: std::path::PathBuf,
    pub errors: Vec<String>,
}

/// `include_vars`: a YAML file's variables become the host's (as `set_fact`'s, for the
/// rest of the run), nested under `name` when given.
#[derive(Debug, Clone, PartialEq)]
pub struct IncludeVars {
    pub file: Text,
    /// The file's variables, read with the playbook (vault-encrypted ones decrypted);
    /// `None` when `file` is a template, read at run time.
    pub vars: Option<Vars>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeKind {
    Tasks,
    Role,
}

/// `pause`: wait a while, or ask the operator (refused when not on a terminal).
#[derive(Debug, Clone, PartialEq)]
pub struct Pause {
    pub seconds: Option<Number>,
    pub minutes: Option<Number>,
    pub prompt: Option<Text>,
    /// Show what the operator types (default true).
    pub echo: bool,
}

/// `lineinfile`: one line present (replacing what `regexp`/`search_string` finds, else
/// inserted) or absent. `insertafter: EOF`/`insertbefore: BOF` are kept as written.
#[derive(Debug, Clone, PartialEq)]
pub struct LineInFile {
    /// Also accepted as `dest`, `destfile` or `name`.
    pub path: Text,
    /// `state: present` (default) or `absent`.
    pub present: bool,
    /// A Python regular expression (alias `regex`).
    pub regexp: Option<Text>,
    pub search_string: Option<Text>,
    /// Alias `value`.
    pub line: Option<Text>,
    pub insertafter: Option<Text>,
    pub insertbefore: Option<Text>,
    pub create: bool,
    pub backrefs: bool,
    pub firstmatch: bool,
    /// Ansible's `validate`: a command checking the new content (`%s` is its file).
    pub validate: Option<Text>,
    pub backup: bool,
    pub mode: Option<Text>,
    pub owner: Option<Text>,
    pub group: Option<Text>,
}

/// `replace`: every match of `regexp` replaced by `replace` (default empty), within
/// `after`/`before` when given.
#[derive(Debug, Clone, PartialEq)]
pub struct Replace {
    pub path: Text,
    pub regexp: Text,
    pub replace: Option<Text>,
    pub after: Option<Text>,
    pub before: Option<Text>,
    /// Ansible's `validate`: a command checking the new content (`%s` is its file).
    pub validate: Option<Text>,
    pub backup: bool,
    pub mode: Option<Text>,
    pub owner: Option<Text>,
    pub group: Option<Text>,
}

/// `blockinfile`: a marked block of lines present or absent.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockInFile {
    pub path: Text,
    pub present: bool,
    /// Alias `content`; default empty (which removes the block).
    pub block: Option<Text>,
    /// Default `# {mark} ANSIBLE MANAGED BLOCK`.
    pub marker: Option<Text>,
    pub marker_begin: Option<Text>,
    pub marker_end: Option<Text>,
    pub insertafter: Option<Text>,
    pub insertbefore: Option<Text>,
    pub create: bool,
    /// Ansible's `validate`: a command checking the new content (`%s` is its file).
    pub validate: Option<Text>,
    pub backup: bool,
    pub append_newline: bool,
    pub prepend_newline: bool,
    pub mode: Option<Text>,
    pub owner: Option<Text>,
    pub group: Option<Text>,
}

/// `stat`: a path's facts, registered under `stat`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    /// Also accepted as `dest` or `name`.
    pub path: Text,
    pub follow: bool,
    /// Default true.
    pub get_checksum: bool,
    pub checksum_algorithm: ChecksumAlgorithm,
}

/// `stat`'s `checksum_algorithm` (alias `checksum`, `checksum_algo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumAlgorithm {
    Md5,
    #[default]
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// `slurp`: a host's file, base64, registered as `content`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slurp {
    /// Also accepted as `path`.
    pub src: Text,
}

/// `unarchive`: a tar or zip archive unpacked into an existing directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Unarchive {
    /// A controller file (`DIR/files/SRC`, then `DIR/SRC`), or the host's with
    /// `remote_src`.
    pub src: Text,
    /// `src` found on the controller at parse time; `None` with `remote_src` or when
    /// `src` is a template.
    pub src_path: Option<PathBuf>,
    pub dest: Text,
    pub remote_src: bool,
    /// Skip when this path exists on the host.
    pub creates: Option<Text>,
}

/// A boolean argument as written: a YAML boolean or boolean word (checked when the
/// playbook is read), or a template rendered at run time to one (`enabled: "{{ x }}"`).
pub type Flag = Text;

/// A word out of a fixed set (`state: started`): checked when the playbook is read,
/// or a template rendered at run time and checked then.
pub type Choice = Text;

/// `systemd_service` (also `systemd`), and `service` on a systemd host: a unit's
/// state, enablement and mask, queried with `systemctl show` before anything is done.
#[derive(Debug, Clone, PartialEq)]
pub struct Systemd {
    /// Aliases `service`, `unit`. Needed with `state`, `enabled`, `masked`.
    pub name: Option<Text>,
    /// `started`, `stopped`, `restarted`, `reloaded`.
    pub state: Option<Choice>,
    pub enabled: Option<Flag>,
    pub masked: Option<Flag>,
    pub daemon_reload: Option<Flag>,
    pub daemon_reexec: Option<Flag>,
    /// `system` (default), `user`, `global`.
    pub scope: Option<Choice>,
    pub no_block: Option<Flag>,
}

/// Which package manager a `package`-family task names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageManager {
    /// `package`: the host's (dpkg-query/apt-get, else rpm/dnf, else rpm/yum).
    Auto,
    Apt,
    Dnf,
    Yum,
}

/// `package`, `apt`, `dnf`, `yum`: packages present, absent or latest.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    pub manager: PackageManager,
    /// `name` (aliases `pkg`, `package`): a string, a comma-separated string or a list.
    pub names: Option<Data>,
    /// `present` (default; `installed` too), `absent` (`removed`), `latest`.
    pub state: Option<Choice>,
    /// `apt` only: `apt-get update` first.
    pub update_cache: Option<Flag>,
    /// `apt` only: a `.deb` file on the host to install.
    pub deb: Option<Text>,
}

/// `sysctl` (`ansible.posix.sysctl`): a kernel parameter in a sysctl file, and set
/// in the running kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct Sysctl {
    /// Alias `key`.
    pub name: Text,
    /// Alias `val`; needed unless `state: absent`.
    pub value: Option<Text>,
    /// `present` (default) or `absent`.
    pub state: Option<Choice>,
    /// Default true: `sysctl -p FILE` after the file changed.
    pub reload: Option<Flag>,
    /// Default `/etc/sysctl.conf`.
    pub sysctl_file: Option<Text>,
    /// Default false: also compare with and set the running value (`sysctl -w`).
    pub sysctl_set: Option<Flag>,
    pub ignoreerrors: Option<Flag>,
}

/// `modprobe` (`community.general.modprobe`): a kernel module loaded or unloaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Modprobe {
    pub name: Text,
    /// `present` (default) or `absent`.
    pub state: Option<Choice>,
    /// Module parameters, `modprobe NAME PARAMS`.
    pub params: Option<Text>,
    /// `disabled` (default), `present`, `absent`: the module in
    /// `/etc/modules-load.d/NAME.conf` (and its params in `/etc/modprobe.d/NAME.conf`).
    pub persistent: Option<Choice>,
}

/// `uri`: an HTTP request from the task's host (with `curl`), judged by its status.
#[derive(Debug, Clone, PartialEq)]
pub struct Uri {
    pub url: Text,
    /// Default `GET`.
    pub method: Option<Text>,
    pub body: Option<Data>,
    /// `raw` (default) or `json` (the body serialised, `Content-Type: application/json`).
    pub body_format: Option<Choice>,
    pub headers: Option<Data>,
    /// Accepted statuses, default `[200]`.
    pub status_code: Option<Data>,
    pub return_content: Option<Flag>,
    /// Seconds, default 30.
    pub timeout: Option<Number>,
    pub validate_certs: Option<Flag>,
    pub url_username: Option<Text>,
    pub url_password: Option<Text>,
    pub force_basic_auth: Option<Flag>,
    pub follow_redirects: Option<Text>,
}

/// `meta:`: what the play does next for the host (the scheduler acts on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    /// Run the notified handlers now.
    FlushHandlers,
    /// Stop the play for every host (not a failure); later batches do not start.
    EndPlay,
    /// Stop the play for this host (not a failure).
    EndHost,
    /// Nothing.
    Noop,
}

impl Meta {
    pub fn name(self) -> &'static str {
        match self {
            Meta::FlushHandlers => "flush_handlers",
            Meta::EndPlay => "end_play",
            Meta::EndHost => "end_host",
            Meta::Noop => "noop",
        }
    }
}

/// `cron` (`ansible.builtin.cron`): a job (or, with `env`, a variable) in a user's
/// crontab or in a `cron_file` under `/etc/cron.d`, under its `#Ansible: NAME` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    pub name: Text,
    /// Alias `value`; needed for `state: present`.
    pub job: Option<Text>,
    pub user: Option<Text>,
    pub cron_file: Option<Text>,
    /// `present` (default) or `absent`.
    pub state: Option<Choice>,
    pub backup: Option<Flag>,
    /// `[minute, hour, day, month, weekday]`, each `*` when not given.
    pub times: [Option<Text>; 5],
    /// `reboot`, `yearly`, `annually`, `monthly`, `weekly`, `daily`, `hourly`.
    pub special_time: Option<Choice>,
    pub disabled: Option<Flag>,
    pub env: Option<Flag>,
    pub insertafter: Option<Text>,
    pub insertbefore: Option<Text>,
}

impl Cron {
    /// Every argument's text (for the variable checks).
    pub fn texts(&self) -> Vec<&Text> {
        let mut t = vec![&self.name];
        t.extend(self.times.iter().flatten());
        t.extend(
            [
                &self.job,
                &self.user,
                &self.cron_file,
                &self.state,
                &self.backup,
                &self.special_time,
                &self.disabled,
                &self.env,
                &self.insertafter,
                &self.insertbefore,
            ]
            .into_iter()
            .flatten(),
        );
        t
    }
}

/// `mount` (`ansible.posix.mount`): a mount point in fstab, and mounted or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// Alias `name`.
    pub path: Text,
    pub src: Option<Text>,
    pub fstype: Option<Text>,
    /// Default `defaults`.
    pub opts: Option<Text>,
    /// Default `0`.
    pub dump: Option<Text>,
    /// Default `0`.
    pub passno: Option<Text>,
    /// `mounted`, `present`, `absent`, `absent_from_fstab`, `unmounted`, `remounted`.
    pub state: Choice,
    /// Default `/etc/fstab`.
    pub fstab: Option<Text>,
    /// Default true; false adds `noauto` to the options.
    pub boot: Option<Flag>,
    pub backup: Option<Flag>,
}

impl Mount {
    /// Every argument's text (for the variable checks).
    pub fn texts(&self) -> Vec<&Text> {
        let mut t = vec![&self.path, &self.state];
        t.extend(
            [
                &self.src,
                &self.fstype,
                &self.opts,
                &self.dump,
                &self.passno,
                &self.fstab,
                &self.boot,
                &self.backup,
            ]
            .into_iter()
            .flatten(),
        );
        t
    }
}

/// `timezone` (`community.general.timezone`): the system time zone and whether the
/// hardware clock keeps local time, through `timedatectl`.
#[derive(Debug, Clone, PartialEq)]
pub struct Timezone {
    pub name: Option<Text>,
    /// Alias `rtc`: `local` or `UTC`.
    pub hwclock: Option<Choice>,
}

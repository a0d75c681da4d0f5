//! Inventories as Ansible reads them — YAML or INI files (or a folder of them, or a
//! `host1,host2,` list), with `group_vars/` and `host_vars/` beside them — and host
//! patterns (`--limit`, play `hosts:`), so that operators keep the inventories they
//! already have. The reference is ansible-core's `ansible-inventory` and
//! `ansible PATTERN --list-hosts`: same hosts, same groups, same merged variables, same
//! order (tests/corpus/inventory holds the outputs of the real tools).
//!
//! Variable precedence, lowest first, as Ansible's `VariableManager` (its default
//! `VARIABLE_PRECEDENCE`): `all` in the inventory file, the host's other groups in the
//! inventory file (sorted by depth, `ansible_group_priority`, name), `group_vars/all`,
//! the same other groups from `group_vars/`, the host in the inventory file,
//! `host_vars/`. So `group_vars/all` beats a child group's vars written in the inventory
//! file. Merges replace whole top-level keys.
//!
//! Vault data (`!vault` values, encrypted inventory and vars files) is decrypted as it
//! is read ([`Inventory::load_with`]); `ansible-inventory --list`'s form of a `!vault`
//! value is kept on request (see [`Decryption`]).
//!
//! Depends on `crate::parse` for errors and `crate::parse::vault`; reads files only in
//! [`Inventory::load`] (and `@file` limits).

mod address;
mod connection;
mod data;
mod ini;
pub(crate) mod output;
mod pattern;
mod pyliteral;
mod runtime;
mod vars_dirs;
mod yaml;
pub(crate) use crate::parse::yaml11;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Map, Value};

pub use connection::ConnectionVars;
pub use output::python_json;
pub use pattern::PatternError;
pub use runtime::InventoryChange;

use data::{ALL, Data, GroupId, HostId, Owner, UNGROUPED, VarProblem};
use pattern::{HostRef, LOCALHOST, Matcher};
use vars_dirs::VarsDir;
use yaml11::Kind;

use crate::parse::vault::{self, Decryption};
use crate::parse::{InputError, InputErrors};

/// Variables Ansible sets itself and `ansible-inventory` leaves out of its output.
const INTERNAL_VARS: [&str; 31] = [
    "ansible_async_path",
    "ansible_collection_name",
    "ansible_config_file",
    "ansible_dependent_role_names",
    "ansible_diff_mode",
    "ansible_facts",
    "ansible_forks",
    "ansible_inventory_sources",
    "ansible_limit",
    "ansible_play_batch",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_role_names",
    "ansible_playbook_python",
    "ansible_role_name",
    "ansible_role_names",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_verbosity",
    "ansible_version",
    "inventory_dir",
    "inventory_file",
    "inventory_hostname",
    "inventory_hostname_short",
    "groups",
    "group_names",
    "hostvars",
    "playbook_dir",
    "play_hosts",
    "role_name",
    "role_path",
];

/// A loaded inventory: hosts, groups and their variables.
#[derive(Debug, Clone)]
pub struct Inventory {
    path: PathBuf,
    data: Data,
    /// Variables from `group_vars/`, per group.
    group_dir_vars: Vec<Map<String, Value>>,
    /// Variables from `host_vars/`, per host.
    host_dir_vars: Vec<Map<String, Value>>,
    /// `all`'s hosts in Ansible's order, computed once (and again after a run-time
    /// change, see [`InventoryChange`]).
    all_hosts: Vec<HostId>,
    /// The folder holding `group_vars/` and `host_vars/`, for groups and hosts added
    /// at run time (`None` for a `host1,host2,` list, which has none).
    vars_base: Option<PathBuf>,
    /// How the vars files of groups and hosts added at run time are decrypted.
    decryption: Decryption,
}

/// The kind of inventory source, decided as Ansible's plugin chain decides it.
enum Source {
    Yaml(yaml11::Node),
    Ini(String),
}

impl Inventory {
    /// Read an inventory file (YAML or INI), a folder of them, or a `host1,host2,` list,
    /// and the `group_vars/` and `host_vars/` beside it. Every problem found is returned.
    /// Vault data is an error (no password): see [`Inventory::load_with`].
    pub fn load(path: &Path) -> Result<Inventory, InputErrors> {
        Inventory::load_with(path, &Decryption::default())
    }

    /// [`Inventory::load`], vault data decrypted (or `!vault` values kept) as
    /// `decryption` says.
    pub fn load_with(path: &Path, decryption: &Decryption) -> Result<Inventory, InputErrors> {
        let mut data = Data::new();
        let mut errors = Vec::new();
        let text_path = path.to_string_lossy();
        let base: PathBuf;
        if !path.exists() && text_path.contains(',') {
            // Ansible's `host_list` source: `-i node1,node2:2222,`
            for entry in text_path
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
            {
                let (host, port) =
                    address::parse_address(entry).unwrap_or_else(|| (entry.to_string(), None));
                data.add_host(&host, Some(UNGROUPED), port);
            }
            base = PathBuf::new();
        } else if path.is_dir() {
            for file in directory_sources(path)
                .map_err(|e| InputErrors::from(InputError::in_file(path, e)))?
            {
                errors.extend(read_source(&file, &mut data, decryption));
            }
            base = path.to_path_buf();
        } else {
            errors.extend(read_source(path, &mut data, decryption));
            base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        }
        data.finish();

        let mut inventory = Inventory {
            path: path.to_path_buf(),
            group_dir_vars: vec![Map::new(); data.groups.len()],
            host_dir_vars: vec![Map::new(); data.hosts.len()],
            all_hosts: data.group_hosts(ALL),
            data,
            vars_base: None,
            decryption: decryption.clone(),
        };
        if !text_path.contains(',') || path.exists() {
            let base = if base.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                base
            };
            inventory.vars_base = Some(base.clone());
            let group_vars = VarsDir::open(&base, "group_vars");
            let mut bad = Vec::new();
            for g in 0..inventory.data.groups.len() {
                match group_vars.load_checked(&inventory.data.group(g).name, decryption, &mut bad) {
                    Ok(vars) => inventory.group_dir_vars[g] = vars,
                    Err(e) => errors.extend(e),
                }
                inventory.note_bad_vars(Owner::Group(g), &mut bad);
            }
            let host_vars = VarsDir::open(&base, "host_vars");
            for h in 0..inventory.data.hosts.len() {
                match host_vars.load_checked(&inventory.data.host(h).name, decryption, &mut bad) {
                    Ok(vars) => inventory.host_dir_vars[h] = vars,
                    Err(e) => errors.extend(e),
                }
                inventory.note_bad_vars(Owner::Host(h), &mut bad);
            }
            if decryption.vault.has_secrets() {
                let groups =
                    (0..inventory.data.groups.len()).map(|g| &inventory.data.group(g).name);
                group_vars.reveal_unused(groups, decryption);
                let hosts = (0..inventory.data.hosts.len()).map(|h| &inventory.data.host(h).name);
                host_vars.reveal_unused(hosts, decryption);
            }
        }
        if errors.is_empty() {
            Ok(inventory)
        } else {
            Err(InputErrors(errors))
        }
    }

    /// The inventory source as given to [`Inventory::load`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ansible's `inventory_file` magic variable: the source's absolute path.
    pub fn inventory_file(&self) -> PathBuf {
        std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone())
    }

    /// Ansible's `inventory_dir` magic variable (Kubespray's group_vars use it): the
    /// folder holding the source, or the source itself when it is a folder.
    pub fn inventory_dir(&self) -> PathBuf {
        let file = self.inventory_file();
        if file.is_dir() {
            return file;
        }
        file.parent().map(Path::to_path_buf).unwrap_or(file)
    }

    /// Every host, in inventory order (the order of the `all` pattern).
    pub fn host_names(&self) -> Vec<&str> {
        self.all_hosts
            .iter()
            .map(|&h| self.data.host(h).name.as_str())
            .collect()
    }

    pub fn contains_host(&self, name: &str) -> bool {
        self.data.host_id(name).is_some()
    }

    /// The hosts a pattern selects, in Ansible's order (that of
    /// `ansible PATTERN --list-hosts`). A name that matches no host or group is an error
    /// (Ansible only warns); an empty group selects nothing without error. `@file`
    /// entries are read as a retry file (one pattern per line), as `--limit` reads them.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, PatternError> {
        self.select_refs(pattern).map(|hosts| self.names(hosts))
    }

    fn select_refs(&self, pattern: &str) -> Result<Vec<HostRef>, PatternError> {
        let patterns = pattern::limit_patterns(pattern)?;
        if patterns.iter().all(|p| p.is_empty()) {
            return Err(PatternError::Empty);
        }
        let matcher = Matcher::new(&self.data);
        let hosts = matcher.evaluate(&patterns)?;
        let unmatched = matcher.unmatched.into_inner();
        if !unmatched.is_empty() {
            return Err(PatternError::Unmatched { names: unmatched });
        }
        Ok(hosts)
    }

    /// A play's `hosts:` pattern restricted by an optional `--limit`, as ansible-playbook
    /// does: the play's hosts in the play pattern's order, kept when the limit selects
    /// them. Names in the play pattern that match nothing are skipped as Ansible skips
    /// them (see [`Inventory::unmatched_names`] to warn about them); in the limit they are
    /// an error (see [`Inventory::select`]), and so is a limit that selects no host at all
    /// ("leaves no hosts to target"). An empty result is not an error: Ansible skips such
    /// a play.
    pub fn select_limited(
        &self,
        pattern: &str,
        limit: Option<&str>,
    ) -> Result<Vec<String>, PatternError> {
        let patterns = pattern::split_host_pattern(pattern);
        if patterns.is_empty() {
            return Err(PatternError::Empty);
        }
        let matcher = Matcher::new(&self.data);
        let mut hosts = matcher.evaluate(&patterns)?;
        if let Some(limit) = limit {
            let subset = self.select_refs(limit)?;
            if subset.is_empty() {
                return Err(PatternError::NoHostsLeft {
                    limit: limit.to_string(),
                });
            }
            let subset: std::collections::HashSet<HostRef> = subset.into_iter().collect();
            hosts.retain(|h| subset.contains(h));
        }
        Ok(self.names(hosts))
    }

    /// Names in a pattern that match no host or group (Ansible's "Could not match
    /// supplied host pattern" warning).
    pub fn unmatched_names(&self, pattern: &str) -> Vec<String> {
        let matcher = Matcher::new(&self.data);
        let _ = matcher.evaluate(&pattern::split_host_pattern(pattern));
        matcher.unmatched.into_inner()
    }

    fn names(&self, hosts: Vec<HostRef>) -> Vec<String> {
        hosts
            .into_iter()
            .map(|h| match h {
                HostRef::Inventory(id) => self.data.host(id).name.clone(),
                HostRef::ImplicitLocalhost(name) => name,
            })
            .collect()
    }

    /// The merged variables of a host, precedence applied (see the module docs). Ansible's
    /// magic variables (`inventory_hostname`, `groups`, ...) are not included. For a host
    /// not in the inventory: nothing, except for `localhost`, which gets `all`'s
    /// variables and a local connection as Ansible's implicit localhost does.
    pub fn host_vars(&self, host: &str) -> Map<String, Value> {
        let Some(h) = self.data.host_id(host) else {
            if LOCALHOST.contains(&host) {
                let mut vars = self.group_vars(ALL);
                vars.insert("ansible_connection".into(), Value::from("local"));
                return vars;
            }
            return Map::new();
        };
        let groups = self
            .data
            .sort_groups(self.data.host_groups(h).into_iter().filter(|&g| g != ALL));
        let mut vars = self.data.group(ALL).vars.clone();
        for &g in &groups {
            merge(&mut vars, &self.data.group(g).vars);
        }
        merge(&mut vars, &self.group_dir_vars[ALL]);
        for &g in &groups {
            merge(&mut vars, &self.group_dir_vars[g]);
        }
        merge(&mut vars, &self.data.host(h).vars);
        merge(&mut vars, &self.host_dir_vars[h]);
        vars
    }

    /// Every group (with `all` and `ungrouped`) and its hosts, children's included, in
    /// Ansible's order: the `groups` template variable.
    pub fn groups(&self) -> IndexMap<String, Vec<String>> {
        (0..self.data.groups.len())
            .map(|g| {
                let hosts = if g == ALL {
                    self.all_hosts.clone()
                } else {
                    self.data.group_hosts(g)
                };
                (
                    self.data.group(g).name.clone(),
                    hosts
                        .into_iter()
                        .map(|h| self.data.host(h).name.clone())
                        .collect(),
                )
            })
            .collect()
    }

    /// Ansible's `group_names` for a host: its groups, sorted, without `all`
    /// (`ungrouped` is listed for a host in no group, as Ansible does).
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let Some(h) = self.data.host_id(host) else {
            return Vec::new();
        };
        let mut names: Vec<String> = self
            .data
            .host_groups(h)
            .into_iter()
            .filter(|&g| g != ALL)
            .map(|g| self.data.group(g).name.clone())
            .collect();
        names.sort();
        names
    }

    fn note_bad_vars(&mut self, owner: Owner, bad: &mut Vec<vars_dirs::BadVar>) {
        for (name, value, error) in bad.drain(..) {
            self.data.var_problems.push(VarProblem {
                owner,
                name,
                value,
                error,
            });
        }
    }

    /// The connection variables of `hosts` that rtmig cannot use (`ansible_port:
    /// twenty-two`, an unknown `ansible_connection`, ...), each at the place that sets
    /// the value the host ends up with (see [`crate::parse::connection_vars`]). Hosts
    /// not listed are not checked: an inventory may hold hosts a playbook never
    /// targets, as Ansible only looks at a host's variables when it connects.
    pub fn connection_errors<'a>(
        &self,
        hosts: impl IntoIterator<Item = &'a str>,
    ) -> Vec<InputError> {
        let mut out: Vec<InputError> = Vec::new();
        if self.data.var_problems.is_empty() {
            return out;
        }
        for host in hosts {
            let Some(h) = self.data.host_id(host) else {
                continue;
            };
            let vars = self.host_vars(host);
            let groups = self.data.host_groups(h);
            let owns = |o: &Owner| match o {
                Owner::Host(x) => *x == h,
                Owner::Group(g) => groups.contains(g),
            };
            for p in &self.data.var_problems {
                if owns(&p.owner) && vars.get(&p.name) == Some(&p.value) && !out.contains(&p.error)
                {
                    out.push(p.error.clone());
                }
            }
        }
        out.sort_by(|a, b| (&a.file, a.position).cmp(&(&b.file, b.position)));
        out
    }

    /// The connection settings of a host (raw values; `{{ }}` is not rendered here).
    pub fn connection(&self, host: &str) -> ConnectionVars {
        ConnectionVars::from_vars(&self.host_vars(host))
    }

    /// Exactly what `ansible-inventory -i INV --list` prints, as a value.
    pub fn to_list_json(&self) -> Value {
        self.list_json(None)
    }

    /// `ansible-inventory -i INV --list --limit LIMIT`: only the hosts the limit selects
    /// (groups left empty disappear, as there).
    pub fn to_list_json_limited(&self, limit: &str) -> Result<Value, PatternError> {
        let selected: std::collections::HashSet<HostId> = self
            .select_refs(limit)?
            .into_iter()
            .filter_map(|h| match h {
                HostRef::Inventory(id) => Some(id),
                HostRef::ImplicitLocalhost(_) => None,
            })
            .collect();
        if selected.is_empty() {
            return Err(PatternError::NoHostsLeft {
                limit: limit.to_string(),
            });
        }
        Ok(self.list_json(Some(&selected)))
    }

    fn list_json(&self, only: Option<&std::collections::HashSet<HostId>>) -> Value {
        let keep = |h: &HostId| only.is_none_or(|set| set.contains(h));
        let mut out = Map::new();
        let mut hostvars = Map::new();
        for &h in self.all_hosts.iter().filter(|h| keep(h)) {
            let vars = public_vars(self.host_vars(&self.data.host(h).name));
            if !vars.is_empty() {
                hostvars.insert(self.data.host(h).name.clone(), Value::Object(vars));
            }
        }
        let mut meta = Map::new();
        meta.insert("hostvars".into(), Value::Object(hostvars));
        meta.insert("profile".into(), Value::from("inventory_legacy"));
        out.insert("_meta".into(), Value::Object(meta));
        let mut seen = vec![false; self.data.groups.len()];
        self.format_group(ALL, &mut out, &mut seen, &keep);
        sort_object(Value::Object(out))
    }

    fn format_group(
        &self,
        g: GroupId,
        out: &mut Map<String, Value>,
        seen: &mut [bool],
        keep: &dyn Fn(&HostId) -> bool,
    ) {
        let group = self.data.group(g);
        let mut entry = Map::new();
        let hosts: Vec<Value> = group
            .hosts
            .iter()
            .filter(|h| keep(h))
            .map(|&h| Value::from(self.data.host(h).name.clone()))
            .collect();
        if g != ALL && !hosts.is_empty() {
            entry.insert("hosts".into(), Value::Array(hosts));
        }
        if !group.children.is_empty() {
            let children = group
                .children
                .iter()
                .map(|&c| Value::from(self.data.group(c).name.clone()))
                .collect();
            entry.insert("children".into(), Value::Array(children));
        }
        if !entry.is_empty() {
            out.insert(group.name.clone(), Value::Object(entry));
        }
        for &c in &group.children {
            if !seen[c] {
                seen[c] = true;
                self.format_group(c, out, seen, keep);
            }
        }
    }

    /// Exactly what `ansible-inventory -i INV --graph [--vars]` prints.
    pub fn graph(&self, with_vars: bool) -> String {
        let mut out = String::new();
        self.graph_group(ALL, 0, with_vars, &mut out);
        out
    }

    fn graph_group(&self, g: GroupId, depth: usize, with_vars: bool, out: &mut String) {
        let group = self.data.group(g);
        output::graph_line(out, &format!("@{}:", group.name), depth);
        for &c in &group.children {
            self.graph_group(c, depth + 1, with_vars, out);
        }
        if g != ALL {
            for &h in &group.hosts {
                let name = &self.data.host(h).name;
                output::graph_line(out, name, depth + 1);
                if with_vars {
                    self.graph_vars(out, &public_vars(self.host_vars(name)), depth + 2);
                }
            }
        }
        if with_vars {
            let mut vars = self.group_vars(g);
            if group.priority != 1 {
                vars.insert("ansible_group_priority".into(), Value::from(group.priority));
            }
            self.graph_vars(out, &public_vars(vars), depth + 1);
        }
    }

    fn graph_vars(&self, out: &mut String, vars: &Map<String, Value>, depth: usize) {
        let mut keys: Vec<&String> = vars.keys().collect();
        keys.sort();
        for k in keys {
            output::graph_line(
                out,
                &format!("{{{k} = {}}}", output::py_str(&vars[k])),
                depth,
            );
        }
    }

    /// The `all` group's variables (inventory file, then `group_vars/all`): what a
    /// play-level template (`hosts:`, `serial`) sees of the inventory.
    pub fn all_vars(&self) -> Map<String, Value> {
        self.group_vars(ALL)
    }

    /// A group's own variables: the inventory file's, then `group_vars/`.
    fn group_vars(&self, g: GroupId) -> Map<String, Value> {
        let mut vars = self.data.group(g).vars.clone();
        merge(&mut vars, &self.group_dir_vars[g]);
        vars
    }
}

fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}

fn public_vars(mut vars: Map<String, Value>) -> Map<String, Value> {
    vars.retain(|k, _| !INTERNAL_VARS.contains(&k.as_str()));
    vars
}

/// Sort object keys recursively (Python's `sort_keys=True`), so printing the value with
/// serde_json gives the same order as `ansible-inventory`.
fn sort_object(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut pairs: Vec<(String, Value)> = map.into_iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, sort_object(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_object).collect()),
        other => other,
    }
}

/// Read one inventory file into `data`, choosing YAML or INI as Ansible does: YAML when
/// the extension is `.yaml`/`.yml`/`.json` or there is none and the text is a YAML
/// mapping; INI otherwise. A vault-encrypted file is decrypted first.
fn read_source(path: &Path, data: &mut Data, decryption: &Decryption) -> Vec<InputError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return vec![InputError::in_file(
                path,
                format!("cannot read inventory: {e}"),
            )];
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let decrypted;
    let encrypted = vault::is_encrypted(text);
    let text = match decryption.file(text) {
        Some(Ok(plain)) => {
            decrypted = plain;
            &decrypted
        }
        Some(Err(e)) => {
            return vec![InputError {
                file: path.to_path_buf(),
                position: Some((1, 1)),
                message: e.to_string(),
            }];
        }
        None => text,
    };
    let errors = match classify(path, text, decryption) {
        Ok(Source::Yaml(node)) => {
            let mut reader = yaml::YamlReader {
                path,
                data,
                errors: Vec::new(),
            };
            reader.read(&node);
            reader.errors
        }
        Ok(Source::Ini(text)) => ini::read(path, &text, data),
        Err(e) => vec![e],
    };
    if encrypted {
        // Every variable of an encrypted inventory is a secret (names of hosts and
        // groups are not: they are on every line of the output).
        let vars = data.groups.values().map(|g| &g.vars);
        for v in vars.chain(data.hosts.values().map(|h| &h.vars)) {
            decryption.vault.reveal_strings(&Value::Object(v.clone()));
        }
    }
    errors
}

fn classify(path: &Path, text: &str, decryption: &Decryption) -> Result<Source, InputError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let at = |line: u64, column: u64, message: String| InputError {
        file: path.to_path_buf(),
        position: Some((line, column)),
        message,
    };
    match ext.as_deref() {
        Some("toml") => {
            return Err(InputError::in_file(
                path,
                "TOML inventories are not supported; use YAML or INI",
            ));
        }
        Some("yaml" | "yml" | "json") | None => {}
        Some(_) => return Ok(Source::Ini(text.to_string())),
    }
    let yaml_named = ext.is_some();
    match yaml11::parse_with(text, decryption) {
        Ok(Some(node)) => match &node.kind {
            Kind::Map(pairs) if pairs.iter().any(|(k, _)| k.as_str() == Some("plugin")) => Err(at(
                node.line,
                node.column,
                "inventory plugin configurations (`plugin:`) are not supported; use a YAML or INI inventory".into(),
            )),
            Kind::Map(_) => Ok(Source::Yaml(node)),
            _ if yaml_named => Err(at(
                node.line,
                node.column,
                format!("expected a mapping of groups (such as `all:`), found {}", node.describe()),
            )),
            // An INI file often reads as one YAML string.
            _ => Ok(Source::Ini(text.to_string())),
        },
        // Ansible: "Parsed empty YAML file"; then the INI reader finds nothing either.
        Ok(None) => Ok(Source::Ini(String::new())),
        Err(e) if yaml_named => Err(at(e.line, e.column, e.message)),
        // Without an extension Ansible tries INI next: report INI's problems when the
        // file looks like INI or INI reads it, YAML's otherwise.
        Err(e) => {
            if looks_like_ini(text) || ini::read(path, text, &mut Data::new()).is_empty() {
                Ok(Source::Ini(text.to_string()))
            } else {
                Err(at(e.line, e.column, e.message))
            }
        }
    }
}

/// The first meaningful line of an INI inventory is a `[section]` or a host, not a
/// YAML `key:` or `key: value`.
fn looks_like_ini(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .is_some_and(|l| l.starts_with('[') || !(l.contains(": ") || l.ends_with(':')))
}

/// The files of a folder inventory, as Ansible lists them: sorted, without hidden files,
/// `group_vars`/`host_vars`, and backup or documentation extensions.
fn directory_sources(dir: &Path) -> Result<Vec<PathBuf>, String> {
    const IGNORED_EXT: [&str; 12] = [
        ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg",
        ".retry",
    ];
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot read inventory folder: {e}"))?;
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .filter(|n| {
            !n.starts_with('.')
                && n != "group_vars"
                && n != "host_vars"
                && n != "vars_plugins"
                && !IGNORED_EXT.iter().any(|e| n.ends_with(e))
        })
        .map(|n| dir.join(n))
        .filter(|p| p.is_file())
        .collect())
}

#[cfg(test)]
mod tests;

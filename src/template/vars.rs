//! The variables a template sees: [`Vars`], layers of shared JSON maps, and their
//! zero-copy view as a minijinja context.
//!
//! A run renders thousands of strings for hundreds of hosts against mostly the same
//! data (inventory variables, `groups`, `hostvars`). Converting that data to minijinja
//! values on every render would copy it each time, so [`Vars`] keeps it in `Arc`ed
//! layers and the context is a lazy view: a variable is turned into a template value
//! only when a template looks it up, and a map or list only one level at a time.
//!
//! Like Ansible, a variable whose value is itself a template string
//! (`containerd_root: "{{ data_dir }}/containerd"`) is rendered when it is looked
//! up, with the same variables (for `hostvars[h].x`, with host `h`'s variables).
//! Data from hosts (registered results, facts) goes into *raw* layers, which are
//! never rendered, as Ansible marks such data unsafe: a command's output that
//! contains `{{` must stay text.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use indexmap::IndexMap;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind};
use serde_json::{Map, Value as Json};

use super::Engine;

/// Variables visible to a template, cheap to clone: layers of `Arc`ed JSON maps
/// where a later layer wins over an earlier one (push them in Ansible's precedence
/// order: inventory, play vars, facts and registered results, extra vars), plus an
/// optional `hostvars` view of other hosts' [`Vars`].
///
/// String values in ordinary layers are templates, rendered when used; values in
/// raw layers ([`push_raw_layer`](Self::push_raw_layer),
/// [`insert_raw`](Self::insert_raw)) are data and never rendered: use them for
/// registered results, facts and `set_fact` values (already rendered).
///
/// ```
/// # use rtmig::template::Vars;
/// # use std::sync::Arc;
/// let inventory = Arc::new(serde_json::json!({"a": 1, "b": 2}).as_object().unwrap().clone());
/// let mut vars = Vars::new();
/// vars.push_layer(inventory);       // shared, not copied
/// vars.insert("b", 3.into());       // wins over the layer below
/// assert_eq!(vars.get("b"), Some(&serde_json::json!(3)));
/// ```
#[derive(Clone, Default)]
pub struct Vars {
    layers: Vec<Layer>,
    hostvars: Option<Arc<IndexMap<String, Vars>>>,
}

#[derive(Clone, Debug)]
struct Layer {
    map: Arc<Map<String, Json>>,
    /// Data, not templates: strings are never rendered.
    raw: bool,
}

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    /// Adds a layer on top of the existing ones (it wins over them).
    pub fn push_layer(&mut self, layer: impl Into<Arc<Map<String, Json>>>) -> &mut Vars {
        self.layers.push(Layer {
            map: layer.into(),
            raw: false,
        });
        self
    }

    /// Adds a layer of data whose strings are never rendered as templates
    /// (registered results, facts).
    pub fn push_raw_layer(&mut self, layer: impl Into<Arc<Map<String, Json>>>) -> &mut Vars {
        self.layers.push(Layer {
            map: layer.into(),
            raw: true,
        });
        self
    }

    /// Like [`push_layer`](Self::push_layer), by value.
    pub fn with_layer(mut self, layer: impl Into<Arc<Map<String, Json>>>) -> Vars {
        self.push_layer(layer);
        self
    }

    /// Sets one variable with the highest precedence; a string value is a template.
    /// Never changes a layer that another clone shares.
    pub fn insert(&mut self, key: impl Into<String>, value: Json) -> &mut Vars {
        self.insert_in(key.into(), value, false)
    }

    /// Sets one variable with the highest precedence, as data never rendered.
    pub fn insert_raw(&mut self, key: impl Into<String>, value: Json) -> &mut Vars {
        self.insert_in(key.into(), value, true)
    }

    fn insert_in(&mut self, key: String, value: Json, raw: bool) -> &mut Vars {
        let top = self
            .layers
            .last_mut()
            .filter(|layer| layer.raw == raw)
            .and_then(|layer| Arc::get_mut(&mut layer.map));
        match top {
            Some(map) => {
                map.insert(key, value);
            }
            None => {
                let mut map = Map::new();
                map.insert(key, value);
                self.layers.push(Layer {
                    map: Arc::new(map),
                    raw,
                });
            }
        }
        self
    }

    /// Makes `hostvars[name]` give each host's own variables (their template strings
    /// are rendered with that host's variables, as in Ansible). A `hostvars` key in a
    /// layer wins over this.
    pub fn set_hostvars(&mut self, hostvars: Arc<IndexMap<String, Vars>>) -> &mut Vars {
        self.hostvars = Some(hostvars);
        self
    }

    /// The raw (unrendered) value of a top-level variable.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.layers
            .iter()
            .rev()
            .find_map(|layer| layer.map.get(key))
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Every variable once, with its winning value, in the order keys first appear
    /// from the bottom layer up. Does not include `hostvars` set by
    /// [`set_hostvars`](Self::set_hostvars).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Json)> {
        let mut seen = std::collections::HashSet::new();
        self.layers
            .iter()
            .flat_map(|layer| layer.map.keys())
            .filter(move |key| seen.insert(key.as_str()))
            .filter_map(|key| self.get(key).map(|value| (key, value)))
    }

    /// A flattened copy (for logs, the journal, `--list` output).
    pub fn to_map(&self) -> Map<String, Json> {
        self.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.iter().all(|layer| layer.map.is_empty()) && self.hostvars.is_none()
    }
}

impl From<Map<String, Json>> for Vars {
    fn from(map: Map<String, Json>) -> Vars {
        Vars::new().with_layer(map)
    }
}

impl From<Arc<Map<String, Json>>> for Vars {
    fn from(map: Arc<Map<String, Json>>) -> Vars {
        Vars::new().with_layer(map)
    }
}

impl FromIterator<(String, Json)> for Vars {
    fn from_iter<I: IntoIterator<Item = (String, Json)>>(iter: I) -> Vars {
        Vars::from(iter.into_iter().collect::<Map<String, Json>>())
    }
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        map.entries(self.iter());
        if let Some(hostvars) = &self.hostvars {
            map.entry(&"hostvars", &hostvars.keys().collect::<Vec<_>>());
        }
        map.finish()
    }
}

impl serde::Serialize for Vars {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

/// How deep variables that are templates may refer to each other before we call it
/// a loop (`a: "{{ b }}"`, `b: "{{ a }}"`).
const MAX_NESTING: usize = 20;

thread_local! {
    static NESTING: Cell<usize> = const { Cell::new(0) };
}

/// The root of a template context: looks variables up in the layers.
#[derive(Debug)]
pub(crate) struct Scope {
    vars: Vars,
    engine: Arc<Engine>,
    /// Variables that are templates, by source, rendered once per scope (one
    /// top-level render): `None` while being rendered, which is how a variable
    /// that refers back to itself is caught. Without it, minijinja looking
    /// variables up again to describe an error would re-render them, at a cost
    /// exponential in how deep they refer to each other.
    rendered: Mutex<HashMap<String, Option<Value>>>,
    hostvars: OnceLock<Option<Value>>,
}

impl Scope {
    pub(crate) fn value(vars: &Vars, engine: &Arc<Engine>) -> Value {
        Value::from_object(Scope {
            vars: vars.clone(),
            engine: engine.clone(),
            rendered: Mutex::default(),
            hostvars: OnceLock::new(),
        })
    }

    fn lookup(self: &Arc<Self>, key: &str) -> Option<Value> {
        for layer in self.vars.layers.iter().rev() {
            if let Some(value) = layer.map.get(key) {
                return Some(self.convert(value, layer.raw, || Node {
                    scope: self.clone(),
                    layer: layer.clone(),
                    path: vec![Seg::Key(key.to_string())],
                }));
            }
        }
        match key {
            "hostvars" => self
                .hostvars
                .get_or_init(|| {
                    self.vars.hostvars.as_ref().map(|hostvars| {
                        Value::from_object(HostVars {
                            hosts: hostvars.clone(),
                            engine: self.engine.clone(),
                            scopes: Mutex::default(),
                        })
                    })
                })
                .clone(),
            // Ansible's `vars`: every variable, by a computed name (`vars['x_' ~ y]`).
            "vars" => Some(Value::from_dyn_object(self.clone())),
            _ => None,
        }
    }

    /// A JSON value as a template value: scalars are copied, strings that are
    /// templates rendered (unless `raw`), maps and lists wrapped lazily by `node`.
    fn convert(self: &Arc<Self>, value: &Json, raw: bool, node: impl FnOnce() -> Node) -> Value {
        match value {
            Json::Null => Value::from(()),
            Json::Bool(b) => Value::from(*b),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::from(i)
                } else if let Some(u) = n.as_u64() {
                    Value::from(u)
                } else {
                    Value::from(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Json::String(s) => {
                if !raw && super::is_template(s) {
                    self.render_nested(s)
                } else {
                    Value::from(s.as_str())
                }
            }
            Json::Array(_) | Json::Object(_) => Value::from_object(node()),
        }
    }

    /// Renders a variable's value that is itself a template, with these variables.
    fn render_nested(self: &Arc<Self>, source: &str) -> Value {
        let recursive = || {
            Value::from(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "recursive loop detected in template string `{}`",
                    truncate(source, 60)
                ),
            ))
        };
        match self
            .rendered
            .lock()
            .ok()
            .as_deref()
            .and_then(|r| r.get(source))
        {
            Some(Some(value)) => return value.clone(),
            Some(None) => return recursive(),
            None => {}
        }
        let depth = NESTING.with(|n| n.get());
        if depth >= MAX_NESTING {
            return recursive();
        }
        if let Ok(mut rendered) = self.rendered.lock() {
            rendered.insert(source.to_string(), None);
        }
        NESTING.with(|n| n.set(depth + 1));
        let root = Value::from_dyn_object(self.clone());
        let result = self.engine.eval_nested(source, root);
        NESTING.with(|n| n.set(depth));
        let value = result.unwrap_or_else(|err| {
            let detail = err.detail().unwrap_or("error").to_string();
            let message = format!("{detail} (in variable `{}`)", truncate(source, 60));
            Value::from(Error::new(err.kind(), message))
        });
        if let Ok(mut rendered) = self.rendered.lock() {
            rendered.insert(source.to_string(), Some(value.clone()));
        }
        value
    }

    fn keys(&self) -> Vec<Value> {
        let mut seen = std::collections::HashSet::new();
        let mut keys: Vec<Value> = self
            .vars
            .layers
            .iter()
            .flat_map(|layer| layer.map.keys())
            .filter(|key| seen.insert(key.as_str()))
            .map(|key| Value::from(key.as_str()))
            .collect();
        if self.vars.hostvars.is_some() && !seen.contains("hostvars") {
            keys.push(Value::from("hostvars"));
        }
        keys
    }
}

impl Object for Scope {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.lookup(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.lookup(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.keys())
    }
}

fn truncate(s: &str, max: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_string(),
    }
}

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A map or list inside a layer, by its path from the layer's top.
#[derive(Debug)]
struct Node {
    scope: Arc<Scope>,
    layer: Layer,
    path: Vec<Seg>,
}

impl Node {
    fn resolve(&self) -> &Json {
        let mut segs = self.path.iter();
        let first = match segs.next() {
            Some(Seg::Key(key)) => self.layer.map.get(key),
            _ => None,
        };
        let found = segs.try_fold(first, |value, seg| {
            Some(match seg {
                Seg::Key(key) => value?.get(key.as_str()),
                Seg::Index(i) => value?.get(*i),
            })
        });
        found.flatten().unwrap_or(&Json::Null)
    }

    fn child(&self, seg: Seg) -> Option<Value> {
        let value = match (self.resolve(), &seg) {
            (Json::Object(map), Seg::Key(key)) => map.get(key)?,
            (Json::Array(list), Seg::Index(i)) => list.get(*i)?,
            _ => return None,
        };
        Some(self.scope.convert(value, self.layer.raw, || {
            let mut path = self.path.clone();
            path.push(seg);
            Node {
                scope: self.scope.clone(),
                layer: self.layer.clone(),
                path,
            }
        }))
    }
}

impl Object for Node {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.resolve() {
            Json::Array(_) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match self.resolve() {
            Json::Object(_) => self.child(Seg::Key(key.as_str()?.to_string())),
            Json::Array(_) => self.child(Seg::Index(key.as_usize()?)),
            _ => None,
        }
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        match self.resolve() {
            Json::Object(_) => self.child(Seg::Key(key.to_string())),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.resolve() {
            Json::Object(map) => {
                Enumerator::Values(map.keys().map(|k| Value::from(k.as_str())).collect())
            }
            Json::Array(list) => Enumerator::Seq(list.len()),
            _ => Enumerator::Empty,
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        match self.resolve() {
            Json::Object(map) => Some(map.len()),
            Json::Array(list) => Some(list.len()),
            _ => Some(0),
        }
    }
}

/// `hostvars`: each host's own [`Vars`] as a context of its own.
#[derive(Debug)]
struct HostVars {
    hosts: Arc<IndexMap<String, Vars>>,
    engine: Arc<Engine>,
    /// One scope per host for the whole render, so each host's variables that are
    /// templates are rendered once.
    scopes: Mutex<HashMap<String, Value>>,
}

impl HostVars {
    fn host(&self, name: &str) -> Option<Value> {
        let vars = self.hosts.get(name)?;
        let mut scopes = self.scopes.lock().ok()?;
        Some(
            scopes
                .entry(name.to_string())
                .or_insert_with(|| Scope::value(vars, &self.engine))
                .clone(),
        )
    }
}

impl Object for HostVars {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.host(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.host(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.hosts.keys().map(|k| Value::from(k.as_str())).collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.hosts.len())
    }
}

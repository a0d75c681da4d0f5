//! Inventories as Ansible reads them. (Stub with the agreed API; the full module replaces it.)

use std::path::{Path, PathBuf};

use crate::parse::InputErrors;

#[derive(Debug, Clone, Default)]
pub struct Inventory {
    hosts: indexmap::IndexMap<String, serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Default)]
pub struct ConnectionVars {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub private_key_file: Option<PathBuf>,
    pub password: Option<String>,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    pub become_password: Option<String>,
    pub proxy_jump: Option<String>,
    pub connection: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(String);

impl Inventory {
    pub fn load(_path: &Path) -> Result<Inventory, InputErrors> {
        Ok(Inventory::default())
    }
    pub fn host_names(&self) -> Vec<&str> {
        self.hosts.keys().map(|s| s.as_str()).collect()
    }
    pub fn contains_host(&self, name: &str) -> bool {
        self.hosts.contains_key(name)
    }
    pub fn select_limited(
        &self,
        _pattern: &str,
        _limit: Option<&str>,
    ) -> Result<Vec<String>, PatternError> {
        Ok(self.hosts.keys().cloned().collect())
    }
    pub fn host_vars(&self, host: &str) -> serde_json::Map<String, serde_json::Value> {
        self.hosts.get(host).cloned().unwrap_or_default()
    }
    pub fn groups(&self) -> indexmap::IndexMap<String, Vec<String>> {
        indexmap::IndexMap::new()
    }
    pub fn group_names(&self, _host: &str) -> Vec<String> {
        Vec::new()
    }
    pub fn connection(&self, _host: &str) -> ConnectionVars {
        ConnectionVars::default()
    }
}

//! Variables hosts gain during a run (registered results, `set_fact`, gathered facts),
//! shared by the scheduler (which records them) and the task runner (which reads them,
//! also for `hostvars`).

use std::collections::HashMap;
use std::sync::Mutex;

pub type HostVars = serde_json::Map<String, serde_json::Value>;

#[derive(Debug, Default)]
pub struct RunVars {
    hosts: Mutex<HashMap<String, HostVars>>,
}

impl RunVars {
    pub fn new(initial: HashMap<String, HostVars>) -> Self {
        RunVars {
            hosts: Mutex::new(initial),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HostVars>> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, host: &str) -> HostVars {
        self.lock().get(host).cloned().unwrap_or_default()
    }

    pub fn set(&self, host: &str, vars: impl IntoIterator<Item = (String, serde_json::Value)>) {
        self.lock()
            .entry(host.to_string())
            .or_default()
            .extend(vars);
    }

    pub fn snapshot(&self) -> HashMap<String, HostVars> {
        self.lock().clone()
    }
}

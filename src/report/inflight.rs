//! Which task each host is running right now: what a second Ctrl-C, which stops rtmig
//! without waiting, leaves unfinished (and possibly still running on the host).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Event, Listener};

/// Host → name of the task it started and has not finished. Clones share the map.
#[derive(Clone, Default)]
pub struct InFlight(Arc<Mutex<BTreeMap<String, String>>>);

impl InFlight {
    /// (host, task) pairs, by host.
    pub fn snapshot(&self) -> Vec<(String, String)> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(h, t)| (h.clone(), t.clone())).collect()
    }
}

impl Listener for InFlight {
    fn name(&self) -> &'static str {
        "running tasks"
    }

    fn on_event(&mut self, event: &Event) -> std::io::Result<()> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::TaskStarted { host, name, .. } => {
                map.insert(host.clone(), name.clone());
            }
            Event::TaskFinished { host, .. } => {
                map.remove(host);
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{TaskResult, TaskStatus};

    #[test]
    fn holds_the_started_unfinished_task_of_each_host() {
        let shared = InFlight::default();
        let mut l = shared.clone();
        let started = |host: &str, name: &str| Event::TaskStarted {
            host: host.into(),
            play: 0,
            task: crate::report::Step::Task(0),
            name: name.into(),
        };
        l.on_event(&started("b", "drain")).unwrap();
        l.on_event(&started("a", "cordon")).unwrap();
        l.on_event(&Event::TaskFinished {
            host: "a".into(),
            play: 0,
            task: crate::report::Step::Task(0),
            name: "cordon".into(),
            result: TaskResult::new(TaskStatus::Ok),
        })
        .unwrap();
        l.on_event(&started("a", "drain")).unwrap();
        assert_eq!(
            shared.snapshot(),
            vec![("a".into(), "drain".into()), ("b".into(), "drain".into())]
        );
    }
}

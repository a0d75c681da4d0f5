//! Report: every user-visible thing is an [`Event`] sent to listeners — the console
//! (progress bars or plain lines), one log per host, the resumable [`journal`], a JSON
//! stream. A listener that fails is switched off with a warning and never aborts the
//! run; only the journal is vital (a run that cannot record its progress stops), and
//! it is not a listener but written by the executor directly.
//!
//! Depends on `parse` (locations) only; `execute` depends on it.

pub mod console;
pub mod event;
pub mod hostlog;
pub mod inflight;
pub mod journal;
pub mod json;
pub mod redact;
pub mod rundir;
pub mod status;

pub use event::{Event, Recap, Step, TaskResult, TaskStatus};
pub use redact::Redactor;

use std::sync::Mutex;

/// Something that wants to see events.
pub trait Listener: Send {
    fn name(&self) -> &'static str;
    fn on_event(&mut self, event: &Event) -> std::io::Result<()>;
}

/// Fans events out to listeners, in order, under one lock so that every listener sees
/// the same sequence.
pub struct Reporter {
    listeners: Mutex<Vec<Option<Box<dyn Listener>>>>,
}

impl Reporter {
    pub fn new(listeners: Vec<Box<dyn Listener>>) -> Self {
        Reporter {
            listeners: Mutex::new(listeners.into_iter().map(Some).collect()),
        }
    }

    pub fn emit(&self, event: Event) {
        let mut guard = match self.listeners.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        for slot in guard.iter_mut() {
            let Some(listener) = slot else { continue };
            // A listener that panics is switched off like one that fails.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                listener.on_event(&event)
            }))
            .unwrap_or_else(|_| Err(std::io::Error::other("it panicked")));
            if let Err(err) = outcome {
                eprintln!(
                    "warning: the {} output failed and is switched off: {err}",
                    listener.name()
                );
                *slot = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct Failing;
    impl Listener for Failing {
        fn name(&self) -> &'static str {
            "failing"
        }
        fn on_event(&mut self, _: &Event) -> std::io::Result<()> {
            Err(std::io::Error::other("disk full"))
        }
    }

    struct Counting(Arc<Mutex<usize>>);
    impl Listener for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn on_event(&mut self, _: &Event) -> std::io::Result<()> {
            *self.0.lock().unwrap() += 1;
            Ok(())
        }
    }

    #[test]
    fn a_failing_listener_does_not_stop_the_others() {
        let n = Arc::new(Mutex::new(0));
        let r = Reporter::new(vec![Box::new(Failing), Box::new(Counting(n.clone()))]);
        r.emit(Event::Warning {
            message: "a".into(),
        });
        r.emit(Event::Warning {
            message: "b".into(),
        });
        assert_eq!(*n.lock().unwrap(), 2);
    }
}

//! How the runner reaches a host: [`Connect`], one small trait, with the real
//! implementation ([`Connections`]: SSH, or the controller for `localhost` and
//! `ansible_connection: local`) and [`AllLocal`], which runs every host on the
//! controller (for tests of the runner).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::live::LiveInventory;
use crate::transport::local::LocalTransport;
use crate::transport::ssh::{SshConnector, SshTarget};
use crate::transport::{BoxFuture, Transport, TransportError};

/// Opens hosts for the runner, once each.
pub trait Connect: Send + Sync {
    /// Whether `host` runs on the controller.
    fn is_local(&self, host: &str) -> bool;

    /// The host's connection, opened on first use and shared by its tasks.
    fn get<'a>(
        &'a self,
        host: &'a str,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, TransportError>>;

    /// Close every connection opened (at the end of the run).
    fn close_all(&self) -> BoxFuture<'_, ()>;
}

/// A host's connection, or why it could not be opened.
type Opened = Result<Arc<dyn Transport>, String>;

/// One connection per host, opened on first use; a failure is remembered so an
/// unreachable host is not retried by every task.
pub struct Connections {
    connector: Arc<SshConnector>,
    inventory: Arc<LiveInventory>,
    cache: Mutex<HashMap<String, Arc<OnceCell<Opened>>>>,
}

impl Connections {
    pub fn new(connector: Arc<SshConnector>, inventory: Arc<LiveInventory>) -> Self {
        Connections {
            connector,
            inventory,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn target(&self, host: &str) -> SshTarget {
        let c = self.inventory.get().connection(host);
        SshTarget {
            name: host.to_string(),
            host: c.host.clone().unwrap_or_else(|| host.to_string()),
            port: c.port,
            user: c.user.clone(),
            identity_files: c.private_key_file.iter().cloned().collect(),
            password: c.password.clone(),
            proxy_jump: c.proxy_jump.clone(),
        }
    }
}

impl Connect for Connections {
    /// `localhost` (Ansible's implicit one) or `ansible_connection: local`.
    fn is_local(&self, host: &str) -> bool {
        let conn = self.inventory.get().connection(host);
        match conn.connection.as_deref() {
            Some("local") => true,
            Some(_) => false,
            None => matches!(host, "localhost" | "127.0.0.1" | "::1") && conn.host.is_none(),
        }
    }

    fn get<'a>(
        &'a self,
        host: &'a str,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, TransportError>> {
        Box::pin(async move {
            let cell = {
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                cache.entry(host.to_string()).or_default().clone()
            };
            let r = cell
                .get_or_init(|| async {
                    if self.is_local(host) {
                        return Ok(Arc::new(LocalTransport) as Arc<dyn Transport>);
                    }
                    // A value `validate` could not check (a template, a host added
                    // at run time): never connect with a guess in its place.
                    let problems = self.inventory.get().connection(host).problems;
                    if !problems.is_empty() {
                        return Err(format!(
                            "not connecting to `{host}`: {}",
                            problems.join("; ")
                        ));
                    }
                    self.connector
                        .connect(&self.target(host))
                        .await
                        .map(|t| Arc::new(t) as Arc<dyn Transport>)
                        .map_err(|e| e.to_string())
                })
                .await;
            r.clone().map_err(TransportError::Unreachable)
        })
    }

    fn close_all(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let cells: Vec<_> = self
                .cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .cloned()
                .collect();
            for cell in cells {
                if let Some(Ok(t)) = cell.get() {
                    t.close().await;
                }
            }
        })
    }
}

/// Every host is the controller ([`LocalTransport`]); `unreachable` names hosts that
/// fail to connect instead. For tests of the runner.
#[derive(Debug, Default)]
pub struct AllLocal {
    pub unreachable: Vec<String>,
}

impl Connect for AllLocal {
    fn is_local(&self, _host: &str) -> bool {
        true
    }

    fn get<'a>(
        &'a self,
        host: &'a str,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, TransportError>> {
        Box::pin(async move {
            if self.unreachable.iter().any(|h| h == host) {
                return Err(TransportError::Unreachable(format!("{host}: unreachable")));
            }
            Ok(Arc::new(LocalTransport) as Arc<dyn Transport>)
        })
    }

    fn close_all(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

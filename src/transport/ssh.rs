//! The SSH transport (russh). (Stub with the agreed API; the full module replaces it.)

use std::path::PathBuf;
use std::time::Duration;

use super::{BoxFuture, ExecOutput, ExecRequest, Transport, TransportError};

#[derive(Debug, Clone, Default)]
pub struct SshTarget {
    pub name: String,
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_files: Vec<PathBuf>,
    pub password: Option<String>,
    pub proxy_jump: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    pub connect_timeout: Duration,
    pub keepalive_interval: Duration,
    pub keepalive_max: usize,
    pub known_hosts: Vec<PathBuf>,
    pub accept_new_host_keys: bool,
    pub ssh_config: Option<PathBuf>,
    pub use_agent: bool,
    pub max_channels: usize,
}

pub struct SshConnector;

impl SshConnector {
    pub fn new(_opts: SshOptions) -> Result<Self, TransportError> {
        Ok(SshConnector)
    }
    pub async fn connect(&self, target: &SshTarget) -> Result<SshTransport, TransportError> {
        Err(TransportError::Unreachable(format!(
            "{}: ssh is not implemented yet",
            target.name
        )))
    }
}

pub struct SshTransport;

impl Transport for SshTransport {
    fn exec<'a>(
        &'a self,
        _req: ExecRequest<'a>,
    ) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(async { Err(TransportError::Unreachable("not implemented".into())) })
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

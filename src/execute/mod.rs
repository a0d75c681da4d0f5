//! Execute: the scheduler that walks the plan, and the task runner that runs one task
//! on one host over a [`crate::transport::Transport`]. Parallelism limits (forks) live
//! in the scheduler; steps check the host's state before they act.

pub mod actions;
pub mod connections;
pub mod facts;
pub mod files;
pub mod flow;
pub mod layers;
pub mod limits;
pub mod live;
pub mod remote;
pub mod runner;
pub mod scheduler;
pub mod shell;
pub mod vars;

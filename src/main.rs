//! The `rtmig` binary: parse flags, call [`rtmig::run`], print the error chain, map
//! the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = rtmig::cli::Cli::parse();
    match rtmig::run(cli) {
        Ok(status) => ExitCode::from(status as u8),
        Err(err) => {
            eprintln!("error: {}", rtmig::error_chain(&err));
            ExitCode::from(rtmig::Status::Invalid as u8)
        }
    }
}

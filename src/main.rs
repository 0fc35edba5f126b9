//! The `guichet` command: parse arguments, set up logging, hand over to the library, exit
//! with a status that scripts can use. Nothing else lives here: the command line is
//! [`guichet::cli::Args`], each command runs in [`guichet::cli::run`].
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

use guichet::cli::{self, Args};

/// Thread-local, lock-free allocation: the fan-out allocates per office call on every
/// worker thread (see docs/performance.md for the measurement).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.command.default_log_level());
    cli::run(args.command)
}

/// Logs go to stderr; `GUICHET_LOG` sets the filter (default `info`), `GUICHET_LOG_FORMAT=json`
/// switches to JSON lines. No log line ever carries an AHV number.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GUICHET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("GUICHET_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

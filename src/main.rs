//! The `guichet` command: parse arguments, hand over to the library, exit with a status
//! that scripts can use. Nothing else lives here.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use guichet::cli::{self, AnswerArg};
use guichet::merge::YearRange;
use guichet::model::{OfficeId, Vn};

/// Thread-local, lock-free allocation: the fan-out allocates per office call on every
/// worker thread (see the README's performance section for the measurement).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// guichet — the integration gateway of the Swiss 1st-pillar online platform.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Translate one office answer into canonical JSON (offline check of an export).
    Translate {
        /// Dialect of the answer: ech-ik, vendor-ik, ech-iv, or any file in the mappings folder.
        #[arg(long)]
        dialect: String,
        /// The office that sent it (its id is used where the dialect lacks one).
        #[arg(long, default_value = "001.000")]
        office: OfficeId,
        /// Folder of mapping files.
        #[arg(long, default_value = "mappings")]
        mappings: PathBuf,
        /// The answer file.
        file: PathBuf,
    },
    /// Run the gateway: mutual TLS ingress, fan-out to every office of the adapters folder.
    Serve {
        /// Configuration file.
        #[arg(long, default_value = "config/guichet.toml")]
        config: PathBuf,
    },
    /// Serve every office of the adapters folder as simulated offices on loopback.
    Simulate {
        /// Configuration file.
        #[arg(long, default_value = "config/guichet.toml")]
        config: PathBuf,
        /// Print the consolidated account of this AHV number straight from the synthetic
        /// population (no XML, no network) and exit.
        #[arg(long)]
        truth: Option<Vn>,
        /// Answer at once instead of the configured latency distribution.
        #[arg(long)]
        zero_latency: bool,
    },
    /// One-command demo: dev PKI, simulated offices and the gateway on loopback, a sample query.
    Demo {
        /// Configuration file.
        #[arg(long, default_value = "config/guichet.toml")]
        config: PathBuf,
        /// Exit after the sample query.
        #[arg(long)]
        once: bool,
        /// Sample person (default: one with several funds and an IV case).
        #[arg(long)]
        vn: Option<Vn>,
    },
    /// Load test a gateway: GET /v1/accounts/{vn} over mTLS, closed or open loop.
    Loadtest(cli::LoadtestArgs),
    /// Benchmark: simulated offices + gateway (+ the Node.js peer), fixed loads, a table.
    Bench(cli::BenchArgs),
    /// Merge several office answers into one consolidated account (JSON).
    Consolidate {
        /// Folder of mapping files.
        #[arg(long, default_value = "mappings")]
        mappings: PathBuf,
        /// First contribution year kept.
        #[arg(long)]
        year_from: Option<u16>,
        /// Last contribution year kept.
        #[arg(long)]
        year_to: Option<u16>,
        /// Answers as OFFICE=DIALECT:FILE, e.g. 025.000=ech-ik:a.xml.
        #[arg(required = true)]
        answers: Vec<AnswerArg>,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
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

/// Writes to stdout; a closed pipe (`guichet … | head`) is not an error worth a panic.
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    // The demo talks to a person: only warnings in its output unless asked for more.
    init_logging(
        if matches!(args.command, Command::Demo { .. } | Command::Bench(_)) {
            "warn"
        } else {
            "info"
        },
    );
    let result = match args.command {
        Command::Serve { config } => runtime().and_then(|rt| rt.block_on(cli::serve(&config))),
        Command::Simulate {
            config,
            truth,
            zero_latency,
        } => runtime()
            .and_then(|rt| rt.block_on(cli::simulate(&config, truth, zero_latency)))
            .and_then(|json| json.map_or(Ok(()), |j| print_out(&j))),
        Command::Demo { config, once, vn } => {
            runtime().and_then(|rt| rt.block_on(cli::demo(&config, cli::DemoOptions { once, vn })))
        }
        Command::Loadtest(a) => runtime()
            .and_then(|rt| rt.block_on(cli::loadtest(a)))
            .and_then(|summary| print_out(summary.trim_end())),
        Command::Bench(a) => runtime()
            .and_then(|rt| rt.block_on(cli::bench(a)))
            .and_then(|table| print_out(table.trim_end())),
        Command::Translate {
            dialect,
            office,
            mappings,
            file,
        } => cli::translate(&mappings, &dialect, office, &file).and_then(|json| print_out(&json)),
        Command::Consolidate {
            mappings,
            year_from,
            year_to,
            answers,
        } => {
            let range = YearRange {
                from: year_from,
                to: year_to,
            };
            cli::consolidate(&mappings, &answers, range).and_then(|json| print_out(&json))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("guichet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

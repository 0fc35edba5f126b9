//! The `guichet` command: parse arguments, hand over to the library, exit with a status
//! that scripts can use. Nothing else lives here.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use guichet::cli::{self, AnswerArg};
use guichet::merge::YearRange;
use guichet::model::OfficeId;

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
    let result = match args.command {
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

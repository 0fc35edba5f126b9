//! Command implementations behind `src/main.rs`, kept in the library so tests call them:
//! the command line ([`Args`]), what runs each command ([`run`]) and the commands.

pub mod adapters;
mod args;
mod audit;
mod certs;
mod demo;
mod demo_claim;
mod demo_messages;
mod dispatch;
mod loadtest;
mod offline;
mod receipts;
mod route;
pub mod runtime;
mod serve;
mod store;
mod token;

pub use args::{
    AdaptersCommand, Args, AuditCommand, CertTarget, CertsCommand, Command, ReceiptsCommand,
    StoreCommand,
};
pub use audit::audit_verify;
pub use certs::{CertsAction, EXIT_EXPIRING, certs};
pub use demo::{DemoOptions, Running as DemoRun, demo, render_account};
pub use demo_claim::submit_sample as demo_claim;
pub use dispatch::run;
pub use loadtest::{ArgError, BenchArgs, LoadtestArgs, bench, loadtest, parse_duration};
pub use offline::{AnswerArg, AnswerArgError, consolidate, translate};
pub use receipts::receipts_verify;
pub use route::{RouteFiles, route};
pub use serve::{serve, shutdown_signal, simulate, truth_view};
pub use store::{migrate, store_import};
pub use token::{TokenRequest, token};

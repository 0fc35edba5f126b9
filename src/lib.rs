//! guichet: the integration gateway of the Swiss 1st-pillar online platform.
//!
//! Code map (see ARCHITECTURE.md for the invariants):
//! - [`gateway`]: the composition root — `Gateway::build(&Config)` and `Gateway::serve`;
//!   start reading here.
//! - [`model`]: canonical types (AHV number, office id, IK entry, IV case, the peer
//!   identity and role); no I/O.
//! - [`mapping`]: declarative mapping files (`mappings/*.toml`) compiled at load;
//!   office XML → canonical model, canonical query → office XML, canonical form (claim)
//!   → office XML and its acknowledgement → canonical.
//! - [`merge`]: pure: per-office outcomes → consolidated account.
//! - [`view`]: the JSON shapes of the public API.
//! - [`routing`]: routing as data — the competent fund of a claim from ordered rules
//!   (`config/routing/apg.toml`); transfers and their loops.
//! - [`adapter`]: adapter files (`adapters/*.toml`) and the registry snapshot.
//! - [`fanout`]: planning and the concurrent, deadline-bounded office calls.
//! - [`server`]: mTLS ingress, connection limits, routes, problem documents.
//! - [`net`]: binding listeners (`SO_REUSEADDR`), used by every listener.
//! - [`sedex`]: the sedex file interface (outbox, receipts, inbox) shared with a fund's
//!   sedex client; eCH-0090 envelopes and receipts.
//! - [`tls`], [`pki`]: rustls material and peer identities; the federation CA.
//! - [`receipt`]: signed receipts (compact JWS by the seal identity, `x5c`), their
//!   offline verification and audit record.
//! - [`sim`]: simulated offices (population, dialect rendering, servers, faults).
//! - [`cluster`]: several replicas on one PostgreSQL store (replica id, `LISTEN/NOTIFY`,
//!   heartbeats, periodic re-read).
//! - [`store`]: submissions, receipts and the outbox (SQLite embedded, PostgreSQL).
//! - [`console`]: the operator's web console (HTML on the operations listener).
//! - [`telemetry`]: traces over OTLP (a span per query, one per office call).
//! - [`config`], [`cli`]: configuration and the commands.
//! - [`loadtest`]: the load generator, its reports and the benchmark.
//! - [`locks`], [`toml_error`]: poison-tolerant locks and TOML error positions, shared.
#![forbid(unsafe_code)]

pub mod adapter;
pub mod audit;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod console;
pub mod delivery;
pub mod fanout;
pub mod gateway;
pub mod identity;
pub mod loadtest;
pub mod locks;
pub mod mapping;
pub mod merge;
pub mod message;
pub mod metrics;
pub mod model;
pub mod net;
pub mod pki;
pub mod receipt;
pub mod routing;
pub mod sedex;
pub mod server;
pub mod sim;
pub mod store;
pub mod telemetry;
pub mod timefmt;
pub mod tls;
pub mod toml_error;
pub mod trace;
pub mod view;

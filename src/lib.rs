//! guichet: the integration gateway of the Swiss 1st-pillar online platform.
//!
//! Code map (see ARCHITECTURE.md for the invariants):
//! - [`model`]: canonical types (AHV number, office id, IK entry, IV case); no I/O.
//! - [`mapping`]: declarative mapping files (`mappings/*.toml`) compiled at load;
//!   office XML → canonical model, canonical query → office XML.
//! - [`merge`]: pure: per-office outcomes → consolidated account.
//! - [`view`]: the JSON shapes of the public API.
#![forbid(unsafe_code)]

pub mod cli;
pub mod mapping;
pub mod merge;
pub mod model;
pub mod pki;
pub mod tls;
pub mod view;

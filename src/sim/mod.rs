//! The office simulator's synthetic population and its wire rendering.
//!
//! [`population`] draws one deterministic person per AHV number (working life, IK
//! entries at 1–6 funds, sometimes IV cases) and computes the consolidated account they
//! should produce ([`truth`]) without any XML. [`render`] plays the offices: it reads the
//! gateway's requests and writes each office's answer in its dialect, exactly in the
//! style of the contract examples. This module writes office XML; only [`crate::mapping`]
//! reads it on the gateway's side. [`server`] serves every office over mutual TLS on
//! loopback, with latency, fault injection and request counters. [`register`] plays the
//! central account register (dialect `ech-register`) from the same population, with a
//! configurable lag; [`Federation::start`] serves it beside the offices. [`apg`] plays the
//! funds taking loss-of-earnings claims, synchronously or through a simulated sedex client
//! (`sedex_client.rs`) per sedex fund. `replies.rs` takes the persons' replies the
//! gateway pushes to an office's reply endpoint, counted per reply; [`decisions`] lets an
//! office send a decision to a person through the gateway.

pub mod apg;
mod behaviour;
pub mod decisions;
mod faults;
mod federation;
mod heavy;
mod names;
pub mod population;
pub mod register;
pub mod render;
mod replies;
mod sedex_client;
mod server;

pub use behaviour::{Fault, Latency};
pub use faults::{
    FaultError, FaultProblem, FaultSet, load_fault_set, load_faults, parse_fault_set, parse_faults,
};
pub use federation::{Federation, FederationOptions, REGISTER_EPHEMERAL, StartError, offices_of};
pub use heavy::heavy_entries;
pub use population::{Person, SimOffice, person, truth, truth_among};
pub use register::{RegisterLag, RegisterRecord, RegisteredAccount, RegisteredIvFile};
pub use render::{RenderError, RequestError, SimRequest, parse_request, render_answer};
pub use replies::{REPLIES_PATH, Replies};
pub use sedex_client::{FOLDERS as SEDEX_FOLDERS, SedexError, SedexOptions};
pub use server::Simulator;

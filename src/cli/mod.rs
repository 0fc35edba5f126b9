//! Command implementations behind `src/main.rs`, kept in the library so tests call them.

mod offline;

pub use offline::{AnswerArg, consolidate, translate};

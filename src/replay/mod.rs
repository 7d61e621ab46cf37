//! The replay (README "Replay: what is measured"): regression history read and
//! validated from object storage ([`history`]), every window ranked under two
//! revisions and counted per signoff class ([`engine`]), the per-item table
//! stewards explore ([`items`]), and generated sample history ([`sample`]).
//!
//! Architecture invariant: nothing here writes to a store except
//! [`sample`], and nothing here knows about approvals, the log or packets:
//! replay is a pure function from (history, two profiles, settings) to counts.

pub mod engine;
pub mod history;
pub mod items;
pub mod sample;

pub use engine::*;

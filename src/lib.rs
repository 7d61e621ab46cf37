//! scoregate releases one exact scoring-policy revision into bounded live use
//! for one service cohort, only under a release manager's signed approval, and
//! restores the prior trusted profile by itself when the window lapses or a
//! guardrail breaks.
//!
//! The library holds all logic; the `scoregate` binary is a thin shell that
//! parses arguments, calls into these modules and maps [`Error`] to exit codes.
//!
//! | module | owns |
//! |---|---|
//! | [`profile`] | scoring profiles: parsing, canonical bytes, revision ids, scoring |
//! | [`pipeline`] | pipeline files: parsing, then validation into [`pipeline::Pipeline`] |
//! | [`store`] | object store URLs and every byte read or written |
//! | [`history`] | reading and validating regression history parquet |
//! | [`replay`] | ranking windows under two revisions and the per-class metrics |
//! | [`evidence`] | the evidence packet, its digest, and its HTML page |
//! | [`items`] | the per-item parquet table for stewards |
//! | [`sample`] | generated sample history |
//! | [`steward`] | the replay job: profiles in, packet stored |
//! | [`canonical`] | RFC 8785 canonical JSON and sha256 digests |

pub mod approval;
pub mod artifacts;
pub mod audit;
pub mod canonical;
pub mod cycle;
pub mod error;
pub mod evidence;
pub mod history;
pub mod inbox;
pub mod items;
pub mod log;
pub mod manifest;
pub mod pipeline;
pub mod profile;
pub mod replay;
pub mod sample;
pub mod signers;
pub mod steward;
pub mod store;

pub use error::{Error, ExitCode};

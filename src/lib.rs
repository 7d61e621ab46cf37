//! scoregate releases one exact scoring-policy revision into bounded live use
//! for one service cohort, only under a release manager's signed approval, and
//! restores the prior trusted profile by itself when the window lapses or a
//! guardrail breaks.
//!
//! The library holds all logic; the `scoregate` binary is a thin shell that
//! parses arguments, calls into these modules and maps [`Error`] to exit codes.
//! Folders follow the data: history → replay → evidence → approval → release;
//! imports go one way (release → approval → evidence → replay → store), and
//! `ARCHITECTURE.md` draws the map.
//!
//! | module | owns |
//! |---|---|
//! | [`canonical`] | RFC 8785 canonical JSON and sha256 digests |
//! | [`profile`] | scoring profiles: parsing, canonical bytes, revision ids, scoring; stored profiles |
//! | [`pipeline`] | pipeline files: parsing, then validation into [`pipeline::Pipeline`] |
//! | [`store`] | object store URLs, every byte read or written, and the object layout ([`store::layout`]) |
//! | [`replay`] | history reading and validation ([`replay::history`]), ranking and per-class metrics ([`replay::engine`]), the per-item table ([`replay::items`]), sample data ([`replay::sample`]) |
//! | [`evidence`] | the evidence packet ([`evidence::packet`]), its HTML page ([`evidence::page`]), the steward's replay job ([`evidence::steward`]) |
//! | [`approval`] | manifests ([`approval::manifest`]), `allowed_signers` and sshsig ([`approval::signers`]), the checks ([`approval::checks`]), the inbox ([`approval::inbox`]) |
//! | [`release`] | the cycle ([`release::cycle`]), its decisions ([`release::decide`]), the commit with retries ([`release::commit`]), guardrail readings ([`release::readings`]), the commit log and its chain ([`release::log`]), artifacts ([`release::artifacts`]), audit ([`release::audit`]) |
//! | [`consumer`] | the queue service's side: the active profile read, verified and resolved for an instant; items scored exactly as replay does |
//! | [`schemas`] | JSON Schemas of every JSON document, generated from the types (`schemas/`) |
//! | [`error`] | the crate's error and the documented exit codes |
//! | [`guard`] | the boundary where a panic inside the parquet/arrow stack becomes the corrupt-object error |
//! | [`allocator`] | the memory allocator's settings, applied once at start |

pub mod allocator;
pub mod approval;
pub mod canonical;
pub mod consumer;
pub mod error;
pub mod evidence;
pub mod guard;
pub mod pipeline;
pub mod profile;
pub mod release;
pub mod replay;
pub mod schemas;
pub mod store;

pub use error::{Error, ExitCode};

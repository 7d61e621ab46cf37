//! Approval (README "Approving a revision"): the signed manifest
//! ([`manifest`]), `allowed_signers` and SSH signatures ([`signers`]), the
//! checks a manifest must pass ([`checks`]), and the approvals inbox
//! ([`inbox`]).
//!
//! Architecture invariant: approval never imports `release`. What it needs to
//! know of the live state it takes as a [`checks::LiveView`], which the
//! release side fills from its log.

pub mod checks;
pub mod inbox;
pub mod manifest;
pub mod signers;

pub use checks::*;

//! Release (README "The cycle"): the scheduled cycle that decides ([`decide`])
//! and commits ([`commit`]) at most one decision per run ([`cycle`]), the
//! guardrail readings over the live window ([`readings`]), the commit log
//! ([`log`]), the derived artifacts ([`artifacts`]), the audit
//! ([`audit`]), the outcome reports of bounded windows ([`outcome`]) and the
//! lifecycle statistics ([`stats`]).
//!
//! Architecture invariants:
//! - the log is the truth; artifacts are derived from it and repaired from it;
//! - every commit carries the full live state after it;
//! - moving away from the trusted revision needs a manifest that passed every
//!   check; going back to it never does.

pub mod artifacts;
pub mod audit;
pub mod commit;
pub mod cycle;
pub mod decide;
pub mod derive;
pub mod log;
pub mod outcome;
pub mod readings;
pub mod stats;
pub mod trail;

//! The commit document (`scoregate.commit/v1`, README "What it writes"):
//! one decision and the full live state after it, so reading the state is
//! reading the head. Pure types; reading and appending live in [`super`].

use crate::approval::manifest::Action;
use crate::canonical::{to_jcs, Digest};
use crate::pipeline::Guardrails;
pub use crate::pipeline::Readings;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "scoregate.commit/v1";

/// What a commit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Activate,
    Renew,
    /// A signed promotion made the bounded revision the trusted one.
    Promote,
    Revoke,
    /// A guardrail breach restored the trusted revision.
    Rollback,
    /// The window lapsed unrenewed; the trusted revision was restored.
    Expire,
    /// A waiting manifest failed a check; nothing live changed.
    Reject,
    /// `scoregate rollback`: an operator restored the trusted revision by hand.
    BreakGlass,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Activate => "activate",
            Decision::Renew => "renew",
            Decision::Promote => "promote",
            Decision::Revoke => "revoke",
            Decision::Rollback => "rollback",
            Decision::Expire => "expire",
            Decision::Reject => "reject",
            Decision::BreakGlass => "break_glass",
        }
    }

    /// Does this decision end a bounded window (README "Outcome reports")?
    /// A renewal ends one stretch of it and starts the next.
    pub fn ends_window(self) -> bool {
        self.restores() || matches!(self, Decision::Renew | Decision::Promote)
    }

    /// Does this decision restore the trusted revision?
    pub fn restores(self) -> bool {
        matches!(
            self,
            Decision::Rollback | Decision::Expire | Decision::Revoke | Decision::BreakGlass
        )
    }

    pub fn from_manifest(action: Action) -> Decision {
        match action {
            Action::Activate => Decision::Activate,
            Action::Renew => Decision::Renew,
            Action::Promote => Decision::Promote,
            Action::Revoke => Decision::Revoke,
        }
    }
}

/// A manifest check that failed, as recorded in a rejection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailedCheck {
    pub check: String,
    pub detail: String,
}

/// The approval window a commit put in force.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalWindow {
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// One decision. Every commit carries the full live state after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Commit {
    pub schema: String,
    pub cohort: String,
    pub seq: u64,
    /// `sha256:` of the previous commit's bytes; null for the first.
    pub prev: Option<Digest>,
    /// The cycle's fixed `now`.
    pub now: DateTime<Utc>,
    pub decision: Decision,
    /// Live before this commit.
    pub prior_revision: Digest,
    /// Live after this commit.
    pub live_revision: Digest,
    /// Trusted after this commit: the live revision itself, or the fallback of a bounded one.
    pub trusted_revision: Digest,
    /// End of the live bounded revision's window; null when a trusted revision is live.
    pub valid_until: Option<DateTime<Utc>>,
    /// When the live bounded revision went live (the start of its live window).
    pub activated_at: Option<DateTime<Utc>>,
    /// The manifest this commit acted on (approved, renewed, revoked or rejected).
    pub manifest_id: Option<String>,
    pub manifest_digest: Option<Digest>,
    pub evidence_digest: Option<Digest>,
    /// The outcome report a renewal or promotion bound (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_digest: Option<Digest>,
    pub signers: Vec<String>,
    pub window: Option<ApprovalWindow>,
    /// Guardrails in force after this commit (null when a trusted revision is live).
    pub guardrails: Option<Guardrails>,
    /// Guardrail readings at this cycle, and the thresholds they were held to.
    pub readings: Option<Readings>,
    pub thresholds: Option<Guardrails>,
    pub failed_checks: Vec<FailedCheck>,
    pub reasons: Vec<String>,
    /// Who ran a break-glass rollback.
    pub actor: Option<String>,
    /// The approving manifest of the live bounded revision (the activation's, then each renewal's).
    pub live_manifest_id: Option<String>,
    /// The inbox object this commit handled; the cycle removes it from the inbox.
    pub inbox_object: Option<String>,
}

impl Commit {
    pub fn to_bytes(&self) -> Vec<u8> {
        to_jcs(self)
    }
}

/// One commit as stored, with its object path and bytes.
#[derive(Clone, Debug)]
pub struct StoredCommit {
    pub path: String,
    pub bytes: Bytes,
    pub commit: Result<Commit, String>,
}

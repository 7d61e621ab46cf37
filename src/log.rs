//! The cohort's commit log, `log/<cohort>/<seq, 20 digits>.json`: one JSON
//! object per decision, created put-if-absent so that two cycles racing for
//! one sequence number cannot both land, each holding the sha256 of the
//! previous commit's bytes. The log is the truth; the active-profile
//! artifact and the per-decision artifacts are derived from it.
//!
//! [`LiveState`] is what the head says is live: every commit records the
//! full state after it, so reading the state is reading the head, plus the
//! set of manifest ids any commit used.

use crate::canonical::{to_jcs, Digest};
use crate::manifest::Action;
use crate::pipeline::{Guardrails, Pipeline};
use crate::store::{Store, StoreError};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::path::Path as ObjPath;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const SCHEMA: &str = "scoregate.commit/v1";

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log of {cohort}: commit {object} is not a valid scoregate.commit/v1 document: {message}")]
    Invalid { cohort: String, object: String, message: String },
    #[error("log of {cohort}: {problem}; run `scoregate audit verify` for the full report")]
    Broken { cohort: String, problem: String },
    #[error("log of {cohort}: sequence {seq} was committed by another writer first")]
    VersionExists { cohort: String, seq: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a commit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Activate,
    Renew,
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
            Decision::Revoke => "revoke",
            Decision::Rollback => "rollback",
            Decision::Expire => "expire",
            Decision::Reject => "reject",
            Decision::BreakGlass => "break_glass",
        }
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
            Action::Revoke => Decision::Revoke,
        }
    }
}

/// Guardrail readings over the live window (SPEC §7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readings {
    /// Items in the live window (live_revision = the bounded revision, queued_at in [activation, now]).
    pub items: u64,
    pub protected_misses: u64,
    /// Nearest-rank p90 of protected items' signoff hours; null when there are none.
    pub protected_signoff_p90_hours: Option<f64>,
    pub canary_misses: u64,
}

/// A manifest check that failed, as recorded in a rejection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailedCheck {
    pub check: String,
    pub detail: String,
}

/// The approval window a commit put in force.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalWindow {
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// One decision. Every commit carries the full live state after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// A bounded revision live under a signed approval.
#[derive(Clone, Debug, PartialEq)]
pub struct Bounded {
    pub revision: Digest,
    pub manifest_id: String,
    pub activated_at: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub guardrails: Guardrails,
    pub signers: Vec<String>,
}

/// What is live for a cohort, from its log head (or the pipeline's baseline
/// when the log is empty).
#[derive(Clone, Debug, PartialEq)]
pub struct LiveState {
    /// The revision live now.
    pub live: Digest,
    /// The trusted revision: live itself when nothing bounded is, else the fallback.
    pub trusted: Digest,
    pub bounded: Option<Bounded>,
    /// Every manifest id any commit of this cohort names.
    pub used_manifest_ids: BTreeSet<String>,
    /// The head commit: its seq, its digest and its `now`.
    pub head: Option<(u64, Digest, DateTime<Utc>)>,
}

impl LiveState {
    /// The state before the first commit: the baseline, trusted.
    pub fn initial(pipeline: &Pipeline) -> LiveState {
        let b = pipeline.policy.baseline_revision.clone();
        LiveState {
            live: b.clone(),
            trusted: b,
            bounded: None,
            used_manifest_ids: BTreeSet::new(),
            head: None,
        }
    }

    /// The state after `commit` (whose bytes hash to `digest`) on top of `self`.
    pub fn apply(&self, commit: &Commit, digest: Digest) -> LiveState {
        let mut used = self.used_manifest_ids.clone();
        if let Some(id) = &commit.manifest_id {
            used.insert(id.clone());
        }
        let bounded = match (
            commit.valid_until,
            commit.activated_at,
            &commit.guardrails,
            &commit.live_manifest_id,
        ) {
            (Some(not_after), Some(activated_at), Some(g), Some(id)) => Some(Bounded {
                revision: commit.live_revision.clone(),
                manifest_id: id.clone(),
                activated_at,
                not_after,
                guardrails: *g,
                signers: commit.signers.clone(),
            }),
            _ => None,
        };
        LiveState {
            live: commit.live_revision.clone(),
            trusted: commit.trusted_revision.clone(),
            bounded,
            used_manifest_ids: used,
            head: Some((commit.seq, digest, commit.now)),
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.head.as_ref().map_or(1, |h| h.0 + 1)
    }
}

pub fn log_prefix(cohort: &str) -> String {
    format!("log/{cohort}/")
}

pub fn commit_path(cohort: &str, seq: u64) -> ObjPath {
    ObjPath::from(format!("log/{cohort}/{seq:020}.json"))
}

/// One commit as stored, with its object path and bytes.
#[derive(Clone, Debug)]
pub struct StoredCommit {
    pub path: String,
    pub bytes: Bytes,
    pub commit: Result<Commit, String>,
}

/// Every object under the cohort's log prefix, in path order, parsed where possible.
pub async fn read_all(store: &Store, cohort: &str) -> Result<Vec<StoredCommit>, LogError> {
    let listed = store.list(&ObjPath::from(log_prefix(cohort))).await?;
    let mut out = Vec::with_capacity(listed.len());
    for meta in listed {
        let bytes = match store.get(&meta.location).await {
            Ok(b) => b,
            // Deleted between list and read: report it as missing, not as a crash.
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let commit = serde_json::from_slice::<Commit>(&bytes).map_err(|e| e.to_string());
        out.push(StoredCommit {
            path: meta.location.to_string(),
            bytes,
            commit,
        });
    }
    Ok(out)
}

/// Read the cohort's live state, checking the chain on the way: a gap, an
/// edited or reordered commit, or a foreign object stops everything.
pub async fn read_state(pipeline: &Pipeline, store: &Store) -> Result<LiveState, LogError> {
    Ok(read_log(pipeline, store).await?.0)
}

/// The live state and every commit with its digest, the chain checked.
pub async fn read_log(pipeline: &Pipeline, store: &Store) -> Result<(LiveState, Vec<(Commit, Digest)>), LogError> {
    let stored = read_all(store, &pipeline.cohort).await?;
    let report = crate::audit::verify_chain(&pipeline.cohort, &stored, pipeline.policy.clock_skew);
    if let Some(problem) = report.problems.first() {
        return Err(LogError::Broken {
            cohort: pipeline.cohort.clone(),
            problem: problem.to_string(),
        });
    }
    let mut state = LiveState::initial(pipeline);
    let mut commits = Vec::with_capacity(stored.len());
    for c in stored {
        let commit = c.commit.expect("verified chains parse");
        let digest = Digest::of(&c.bytes);
        state = state.apply(&commit, digest.clone());
        commits.push((commit, digest));
    }
    Ok((state, commits))
}

/// Append `commit` at its seq with put-if-absent. A lost race is
/// [`LogError::VersionExists`]: re-read the head and decide again.
pub async fn append(store: &Store, commit: &Commit) -> Result<Digest, LogError> {
    let bytes = commit.to_bytes();
    let digest = Digest::of(&bytes);
    match store.put_if_absent(&commit_path(&commit.cohort, commit.seq), bytes).await {
        Ok(()) => Ok(digest),
        Err(StoreError::AlreadyExists { .. }) => Err(LogError::VersionExists {
            cohort: commit.cohort.clone(),
            seq: commit.seq,
        }),
        Err(e) => Err(e.into()),
    }
}

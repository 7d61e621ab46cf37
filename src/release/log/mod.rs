//! The cohort's commit log, `log/<cohort>/<seq, 20 digits>.json`: one JSON
//! object per decision, created put-if-absent so that two cycles racing for
//! one sequence number cannot both land, each holding the sha256 of the
//! previous commit's bytes. The log is the truth; the active-profile
//! artifact and the per-decision artifacts are derived from it.
//!
//! [`LiveState`] is what the head says is live: every commit records the
//! full state after it, so reading the state is reading the head, plus the
//! set of manifest ids any commit used.

pub mod chain;
pub mod document;

pub use document::*;

use crate::approval::LiveView;
use crate::canonical::Digest;
use crate::pipeline::{Guardrails, Pipeline};
use crate::store::{layout, Store, StoreError};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

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

/// A bounded revision live under a signed approval.
#[derive(Clone, Debug, PartialEq)]
pub struct Bounded {
    pub revision: Digest,
    pub manifest_id: String,
    pub activated_at: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub guardrails: Guardrails,
    pub signers: Vec<String>,
    /// Renewals since its activation (README "The renewal budget").
    pub renewals: u32,
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
    /// The head commit; `None` before the first commit.
    pub head: Option<Head>,
}

/// The log's head commit.
#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    pub seq: u64,
    /// `sha256:` of the head commit's bytes.
    pub digest: Digest,
    /// The head commit's `now`.
    pub now: DateTime<Utc>,
}

impl LiveState {
    /// What approval needs to know of this state (approval never reads the log).
    pub fn view(&self) -> LiveView<'_> {
        LiveView {
            live: &self.live,
            trusted: &self.trusted,
            bounded: self.bounded.as_ref().map(|b| &b.revision),
            renewals: self.bounded.as_ref().map_or(0, |b| b.renewals),
            bounded_since: self.bounded.as_ref().map(|b| b.activated_at),
            used_manifest_ids: &self.used_manifest_ids,
        }
    }

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
                renewals: match (commit.decision, &self.bounded) {
                    (Decision::Renew, Some(b)) => b.renewals + 1,
                    (Decision::Activate, _) | (_, None) => 0,
                    (_, Some(b)) => b.renewals,
                },
            }),
            _ => None,
        };
        LiveState {
            live: commit.live_revision.clone(),
            trusted: commit.trusted_revision.clone(),
            bounded,
            used_manifest_ids: used,
            head: Some(Head {
                seq: commit.seq,
                digest,
                now: commit.now,
            }),
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.head.as_ref().map_or(1, |h| h.seq + 1)
    }
}

/// The largest object read as a commit; a commit holds a few KiB.
pub const MAX_COMMIT_BYTES: u64 = 1 << 20;

/// Every object under the cohort's log prefix, in path order, parsed where
/// possible. An object over [`MAX_COMMIT_BYTES`] is listed, not read.
pub async fn read_all(store: &Store, cohort: &str) -> Result<Vec<StoredCommit>, LogError> {
    let listed = store.list(&layout::log(cohort)).await?;
    let mut out = Vec::with_capacity(listed.len());
    for meta in listed {
        if meta.size > MAX_COMMIT_BYTES {
            // Never read a hostile object whole: a commit is a few KiB.
            out.push(StoredCommit {
                path: meta.location.to_string(),
                bytes: Bytes::new(),
                commit: Err(format!("{} bytes, more than a commit's {MAX_COMMIT_BYTES}-byte limit", meta.size)),
            });
            continue;
        }
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
    let report = chain::verify_chain(&pipeline.cohort, &stored, pipeline.policy.clock_skew);
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
    match store.put_if_absent(&layout::commit(&commit.cohort, commit.seq), bytes).await {
        Ok(()) => Ok(digest),
        Err(StoreError::AlreadyExists { .. }) => Err(LogError::VersionExists {
            cohort: commit.cohort.clone(),
            seq: commit.seq,
        }),
        Err(e) => Err(e.into()),
    }
}

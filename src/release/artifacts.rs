//! What the cycle derives from the log for consumers and auditors:
//! `active/<cohort>/profile.json`, the profile the review queue must use now
//! with its trusted fallback embedded, and one immutable
//! `artifacts/<cohort>/<seq>-<decision>.json` per commit.
//!
//! Both name the commit they derive from by digest, so `audit verify` can
//! tell an edited commit (even the head) from an honest one, and the next
//! cycle can tell a missing or stale artifact and repair it.

use crate::approval::signers::SignatureFile;
use crate::canonical::{to_jcs, Digest};
use crate::pipeline::Guardrails;
pub use crate::pipeline::{triggers, Trigger};
use crate::release::log::{Commit, Decision, FailedCheck, Readings};
use crate::store::{layout, Store, StoreError};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const ACTIVE_SCHEMA: &str = "scoregate.active/v1";
pub const ARTIFACT_SCHEMA: &str = "scoregate.decision/v1";

/// The active-profile artifact: enough for a consumer to fall back alone if cycles stop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ActiveProfile {
    pub schema: String,
    pub cohort: String,
    /// The commit this is derived from (seq 0, no digest: the baseline before any commit).
    pub seq: u64,
    pub commit_digest: Option<Digest>,
    pub decided_at: Option<DateTime<Utc>>,
    pub revision: Digest,
    pub profile: serde_json::Value,
    /// Use `profile` until this instant, then the fallback; null for a trusted revision.
    pub valid_until: Option<DateTime<Utc>>,
    pub bounded: bool,
    pub fallback_revision: Digest,
    pub fallback_profile: serde_json::Value,
    pub guardrails: Option<Guardrails>,
    pub manifest_id: Option<String>,
    /// Set only when break-glass found the log broken and made the baseline
    /// active: the incident record that says what to do next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
}

/// The per-decision artifact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DecisionArtifact {
    pub schema: String,
    pub cohort: String,
    pub seq: u64,
    pub commit_digest: Digest,
    pub decision: Decision,
    pub now: DateTime<Utc>,
    pub prior_revision: Digest,
    pub live_revision: Digest,
    /// The trusted revision put back (rollback, expiry, revoke, break-glass).
    pub restored_revision: Option<Digest>,
    pub valid_until: Option<DateTime<Utc>>,
    pub manifest_id: Option<String>,
    pub signers: Vec<String>,
    pub readings: Option<Readings>,
    pub triggers: Vec<Trigger>,
    pub failed_checks: Vec<FailedCheck>,
    pub reasons: Vec<String>,
    pub actor: Option<String>,
    /// The manifest's exact text, kept because the inbox copy is removed once handled.
    pub manifest: Option<String>,
    /// The signature files that came with it, kept so that the approval can
    /// be re-verified later against `allowed_signers` at the commit's `now`.
    #[serde(default)]
    pub signatures: Vec<KeptSignature>,
}

/// A detached signature file as kept in a decision artifact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeptSignature {
    pub file: String,
    /// The armored `-----BEGIN SSH SIGNATURE-----` text.
    pub text: String,
}

impl KeptSignature {
    pub fn of(files: &[SignatureFile]) -> Vec<KeptSignature> {
        files
            .iter()
            .map(|f| KeptSignature {
                file: f.name.clone(),
                text: String::from_utf8_lossy(&f.bytes).into_owned(),
            })
            .collect()
    }
    pub fn files(kept: &[KeptSignature]) -> Vec<SignatureFile> {
        kept.iter()
            .map(|k| SignatureFile {
                name: k.file.clone(),
                bytes: k.text.clone().into_bytes(),
            })
            .collect()
    }
}

/// The decision artifact of `commit`, with the manifest text and signature files it acted on.
pub fn decision_artifact(commit: &Commit, digest: &Digest, manifest: Option<String>, signatures: &[SignatureFile]) -> DecisionArtifact {
    let triggers = match (&commit.readings, &commit.thresholds) {
        (Some(r), Some(g)) => triggers(r, g),
        _ => vec![],
    };
    DecisionArtifact {
        schema: ARTIFACT_SCHEMA.into(),
        cohort: commit.cohort.clone(),
        seq: commit.seq,
        commit_digest: digest.clone(),
        decision: commit.decision,
        now: commit.now,
        prior_revision: commit.prior_revision.clone(),
        live_revision: commit.live_revision.clone(),
        restored_revision: commit.decision.restores().then(|| commit.live_revision.clone()),
        valid_until: commit.valid_until,
        manifest_id: commit.manifest_id.clone(),
        signers: commit.signers.clone(),
        readings: commit.readings.clone(),
        triggers,
        failed_checks: commit.failed_checks.clone(),
        reasons: commit.reasons.clone(),
        actor: commit.actor.clone(),
        manifest,
        signatures: KeptSignature::of(signatures),
    }
}

/// Write a decision artifact once; an existing one with other bytes is left
/// alone and reported by `audit verify`.
pub async fn put_decision(store: &Store, a: &DecisionArtifact) -> Result<bool, StoreError> {
    match store
        .put_if_absent(&layout::artifact(&a.cohort, a.seq, a.decision.as_str()), to_jcs(a))
        .await
    {
        Ok(()) => Ok(true),
        Err(StoreError::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

pub async fn put_active(store: &Store, a: &ActiveProfile) -> Result<(), StoreError> {
    store.put(&layout::active(&a.cohort), Bytes::from(to_jcs(a))).await
}

pub async fn read_active(store: &Store, cohort: &str) -> Result<Option<ActiveProfile>, StoreError> {
    Ok(store
        .get_opt(&layout::active(cohort))
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

//! Derived objects (README "What it writes"): after each commit, and
//! at the start of each run as crash repair, bring the decision artifacts,
//! the active profile and the inbox in line with the log. The log is the
//! truth; these are only ever rewritten from it.

use crate::approval::inbox;
use crate::approval::signers::SignatureFile;
use crate::canonical::{to_jcs, Digest};
use crate::error::Error;
use crate::pipeline::Pipeline;
use crate::profile::stored::load_profile;
use crate::release::artifacts::{decision_artifact, put_active, put_decision, read_active, ActiveProfile, ACTIVE_SCHEMA};
use crate::release::log::{Commit, LiveState};
use crate::release::outcome::write_window_end;
use crate::store::{layout, Store, StoreError};
use chrono::{DateTime, Utc};
use object_store::path::Path as ObjPath;
use serde::{Deserialize, Serialize};

/// The active-profile artifact for `state`: its live profile and trusted fallback embedded.
pub async fn active_for(store: &Store, pipeline: &Pipeline, state: &LiveState) -> Result<ActiveProfile, Error> {
    let profile = load_profile(store, &state.live).await?;
    let fallback = if state.trusted == state.live {
        profile.clone()
    } else {
        load_profile(store, &state.trusted).await?
    };
    let bounded = state.bounded.as_ref();
    Ok(ActiveProfile {
        schema: ACTIVE_SCHEMA.into(),
        cohort: pipeline.cohort.clone(),
        seq: state.head.as_ref().map_or(0, |h| h.seq),
        commit_digest: state.head.as_ref().map(|h| h.digest.clone()),
        decided_at: state.head.as_ref().map(|h| h.now),
        revision: state.live.clone(),
        profile: profile.to_value(),
        valid_until: bounded.map(|b| b.not_after),
        bounded: bounded.is_some(),
        fallback_revision: state.trusted.clone(),
        fallback_profile: fallback.to_value(),
        guardrails: bounded.map(|b| b.guardrails),
        manifest_id: bounded.map(|b| b.manifest_id.clone()),
        incident: None,
    })
}

/// Bring the derived objects in line with the log: every commit's decision
/// artifact, the active profile, and the head's inbox object removed.
pub async fn repair(store: &Store, pipeline: &Pipeline, state: &LiveState, commits: &[(Commit, Digest)]) -> Result<Vec<String>, Error> {
    let mut repaired = repair_decisions(store, pipeline, commits).await?;
    match active_for(store, pipeline, state).await {
        Ok(want) => {
            if read_active(store, &pipeline.cohort).await?.as_ref() != Some(&want) {
                put_active(store, &want).await?;
                repaired.push(layout::active(&pipeline.cohort).to_string());
            }
        }
        // A stored profile that is missing or does not hash to its id must
        // not hold up what comes next: the way back to trusted needs only
        // the log and the trusted profile. The active profile stays as it is
        // until the next commit rewrites it.
        Err(e @ (Error::Profile(_) | Error::Store(StoreError::NotFound { .. }))) => {
            tracing::warn!(error = %e, "active profile not rebuilt: a stored profile is unreadable");
        }
        Err(e) => return Err(e),
    }
    if let Some((head, _)) = commits.last() {
        if let Some(o) = &head.inbox_object {
            if store.get_opt(&ObjPath::from(o.as_str())).await?.is_some() {
                inbox::remove(store, o).await?;
                repaired.push(o.clone());
            }
        }
    }
    Ok(repaired)
}

/// Write each commit's missing decision artifact, with the manifest text
/// still in the inbox if the crash came before its removal.
async fn repair_decisions(store: &Store, pipeline: &Pipeline, commits: &[(Commit, Digest)]) -> Result<Vec<String>, Error> {
    let mut repaired = Vec::new();
    let existing: Vec<String> = store
        .list(&layout::artifacts(&pipeline.cohort))
        .await?
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    for (c, d) in commits {
        let path = layout::artifact(&c.cohort, c.seq, c.decision.as_str());
        if existing.contains(&path.to_string()) {
            continue;
        }
        let sub = match &c.inbox_object {
            Some(o) => inbox::read_submission(store, o).await?,
            None => None,
        };
        let manifest = sub.as_ref().map(|s| String::from_utf8_lossy(&s.bytes).into_owned());
        let signatures = sub.map(|s| s.signatures).unwrap_or_default();
        if put_decision(store, &decision_artifact(c, d, manifest, &signatures)).await? {
            repaired.push(path.to_string());
        }
    }
    Ok(repaired)
}

/// Write what a new commit derives: its decision artifact, the active profile,
/// the handled manifest's removal from the inbox, and (best effort) the
/// outcome report of the window it ended.
pub async fn after_commit(
    store: &Store,
    pipeline: &Pipeline,
    commit: &Commit,
    digest: &Digest,
    (manifest, signatures): (Option<String>, &[SignatureFile]),
    before: &LiveState,
) -> Result<(), Error> {
    put_decision(store, &decision_artifact(commit, digest, manifest, signatures)).await?;
    let state = before.apply(commit, digest.clone());
    put_active(store, &active_for(store, pipeline, &state).await?).await?;
    if let Some(o) = &commit.inbox_object {
        inbox::remove(store, o).await?;
    }
    write_window_end(store, pipeline, before, commit).await;
    Ok(())
}

/// An incident record: break-glass on a broken log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Incident {
    pub schema: String,
    pub cohort: String,
    pub now: DateTime<Utc>,
    pub actor: String,
    pub reason: String,
    /// What was wrong with the log.
    pub problem: String,
    /// The pipeline's baseline, now the active profile.
    pub restored_revision: Digest,
    pub active_profile: String,
    /// Where this record is stored.
    pub path: String,
    pub next_steps: Vec<String>,
}

pub const INCIDENT_SCHEMA: &str = "scoregate.incident/v1";

/// Break-glass on a broken log: the active profile becomes the pipeline's
/// baseline (loaded by its revision id; nothing else is read) and an
/// incident record says what was wrong and what to do next.
pub async fn incident(
    pipeline: &Pipeline,
    store: &Store,
    now: DateTime<Utc>,
    reason: &str,
    actor: &str,
    broken: &Error,
) -> Result<Incident, Error> {
    let baseline = &pipeline.policy.baseline_revision;
    let path = layout::incident(&pipeline.cohort, now);
    // The active profile of the state before any commit: the baseline,
    // trusted. Built first, so an unreadable baseline writes nothing.
    let mut active = active_for(store, pipeline, &LiveState::initial(pipeline)).await?;
    active.decided_at = Some(now);
    active.incident = Some(path.to_string());
    let record = Incident {
        schema: INCIDENT_SCHEMA.into(),
        cohort: pipeline.cohort.clone(),
        now,
        actor: actor.into(),
        reason: reason.into(),
        problem: broken.to_string(),
        restored_revision: baseline.clone(),
        active_profile: layout::active(&pipeline.cohort).to_string(),
        path: path.to_string(),
        next_steps: vec![
            "run `scoregate audit verify` for every problem in the log".into(),
            "restore the log objects from bucket versioning, or archive log/, artifacts/ and active/ of this cohort and start again from the baseline (README \"Recovering a broken log\")".into(),
            "until then every cycle refuses to act, and the baseline stays active".into(),
        ],
    };
    store.put(&path, to_jcs(&record)).await?;
    put_active(store, &active).await?;
    Ok(record)
}

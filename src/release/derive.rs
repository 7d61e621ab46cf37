//! Derived objects (README "What it writes"): after each commit, and
//! at the start of each run as crash repair, bring the decision artifacts,
//! the active profile and the inbox in line with the log. The log is the
//! truth; these are only ever rewritten from it.

use crate::approval::inbox;
use crate::canonical::Digest;
use crate::error::Error;
use crate::pipeline::Pipeline;
use crate::profile::stored::load_profile;
use crate::release::artifacts::{decision_artifact, put_active, put_decision, read_active, ActiveProfile, ACTIVE_SCHEMA};
use crate::release::log::{Commit, LiveState};
use crate::store::{layout, Store};
use object_store::path::Path as ObjPath;

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
    })
}

/// Bring the derived objects in line with the log: every commit's decision
/// artifact, the active profile, and the head's inbox object removed.
pub async fn repair(store: &Store, pipeline: &Pipeline, state: &LiveState, commits: &[(Commit, Digest)]) -> Result<Vec<String>, Error> {
    let mut repaired = repair_decisions(store, pipeline, commits).await?;
    let want = active_for(store, pipeline, state).await?;
    if read_active(store, &pipeline.cohort).await?.as_ref() != Some(&want) {
        put_active(store, &want).await?;
        repaired.push(layout::active(&pipeline.cohort).to_string());
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
        let manifest = match &c.inbox_object {
            Some(o) => store
                .get_opt(&ObjPath::from(o.as_str()))
                .await?
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
            None => None,
        };
        if put_decision(store, &decision_artifact(c, d, manifest)).await? {
            repaired.push(path.to_string());
        }
    }
    Ok(repaired)
}

/// Write what a new commit derives: its decision artifact, the active profile,
/// and the handled manifest's removal from the inbox.
pub async fn after_commit(
    store: &Store,
    pipeline: &Pipeline,
    commit: &Commit,
    digest: &Digest,
    manifest: Option<String>,
    before: &LiveState,
) -> Result<(), Error> {
    put_decision(store, &decision_artifact(commit, digest, manifest)).await?;
    let state = before.apply(commit, digest.clone());
    put_active(store, &active_for(store, pipeline, &state).await?).await?;
    if let Some(o) = &commit.inbox_object {
        inbox::remove(store, o).await?;
    }
    Ok(())
}

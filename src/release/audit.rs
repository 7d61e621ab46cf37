//! Audit of a cohort's store (`scoregate audit verify`): the log's chain walk
//! (from [`super::log::chain`]), every commit's decision artifact and the
//! active profile against the commits they name, and the re-derivation of
//! every transition from signed input ([`super::trail`]), reporting every
//! problem without stopping at the first. Audit reads the log; the log never
//! imports audit.

use super::artifacts::{read_active, DecisionArtifact};
use super::log::chain::{seq_of_name, verify_chain, AuditProblem, AuditReport};
use super::log::{read_all, Commit, StoredCommit};
use super::trail;
use crate::approval::load_allowed_signers;
use crate::canonical::Digest;
use crate::pipeline::Pipeline;
use crate::store::{layout, Store};

/// The full audit of a cohort in its store: the chain, every commit's
/// decision artifact, the active profile, then — when the chain is whole —
/// every transition and approval re-derived and every derived object held
/// to the chain.
pub async fn verify_store(pipeline: &Pipeline, store: &Store) -> Result<AuditReport, crate::Error> {
    // Derived objects first: a cycle committing meanwhile is then not a cut-back log.
    let derived = trail::derived_snapshot(store, pipeline).await?;
    let stored = read_all(store, &pipeline.cohort).await?;
    let mut report = verify_chain(&pipeline.cohort, &stored, pipeline.policy.clock_skew);
    let chain_whole = report.problems.is_empty();
    let mut head: Option<(u64, Digest)> = None;
    for c in &stored {
        let (Ok(commit), Some(seq)) = (&c.commit, seq_of_name(&c.path)) else {
            continue;
        };
        let digest = Digest::of(&c.bytes);
        report
            .problems
            .extend(artifact_problems(store, pipeline, commit, seq, &digest).await?);
        head = Some((seq, digest));
    }
    if let Some((seq, digest)) = head {
        report.problems.extend(active_problems(store, pipeline, seq, &digest).await?);
    }
    report.problems.extend(trail::check_active_profiles(store, pipeline).await?);
    if let Some(commits) = chain_whole.then(|| in_seq_order(&stored)) {
        let allowed = load_allowed_signers(pipeline).await?;
        report.problems.extend(trail::check_transitions(pipeline, &commits));
        report
            .problems
            .extend(trail::check_approvals(store, pipeline, &commits, 0, Some(&allowed)).await?);
        report.problems.extend(trail::check_derived(&commits, &derived));
    }
    Ok(report)
}

/// The commits with their digests; commit `n` at index `n - 1` when the
/// chain walk found nothing (the re-derivation relies on it).
fn in_seq_order(stored: &[StoredCommit]) -> Vec<(Commit, Digest)> {
    stored
        .iter()
        .filter_map(|c| c.commit.as_ref().ok().map(|commit| (commit.clone(), Digest::of(&c.bytes))))
        .collect()
}

/// A commit's decision artifact: present, naming this commit's digest, and
/// keeping manifest text that hashes to the commit's `manifest_digest`.
async fn artifact_problems(
    store: &Store,
    pipeline: &Pipeline,
    commit: &Commit,
    seq: u64,
    digest: &Digest,
) -> Result<Vec<AuditProblem>, crate::Error> {
    let path = layout::artifact(&pipeline.cohort, seq, commit.decision.as_str());
    let Some(bytes) = store.get_opt(&path).await? else {
        return Ok(vec![AuditProblem::MissingArtifact {
            seq,
            path: path.to_string(),
        }]);
    };
    let artifact = serde_json::from_slice::<DecisionArtifact>(&bytes).ok();
    let found = artifact
        .as_ref()
        .map_or_else(|| "an unreadable artifact".into(), |a| a.commit_digest.to_string());
    let mut problems = Vec::new();
    if found != digest.as_str() {
        problems.push(AuditProblem::ArtifactMismatch {
            seq,
            path: path.to_string(),
            expected: digest.to_string(),
            found,
        });
    }
    if let (Some(want), Some(a)) = (&commit.manifest_digest, &artifact) {
        let kept = a.manifest.as_ref().map(|t| Digest::of(t.as_bytes()));
        if kept.as_ref() != Some(want) {
            problems.push(AuditProblem::ManifestMismatch {
                seq,
                detail: format!(
                    "{path} keeps manifest text hashing to {}, the commit names {want}",
                    kept.map_or("nothing".into(), |d| d.to_string())
                ),
            });
        }
    }
    Ok(problems)
}

/// The active profile must derive from the head commit.
async fn active_problems(store: &Store, pipeline: &Pipeline, seq: u64, digest: &Digest) -> Result<Vec<AuditProblem>, crate::Error> {
    let path = layout::active(&pipeline.cohort).to_string();
    Ok(match read_active(store, &pipeline.cohort).await? {
        None => vec![AuditProblem::MissingArtifact { seq, path }],
        Some(a) if a.seq != seq || a.commit_digest.as_ref() != Some(digest) => vec![AuditProblem::ArtifactMismatch {
            seq,
            path,
            expected: digest.to_string(),
            found: a.commit_digest.map_or_else(|| format!("seq {}", a.seq), |d| d.to_string()),
        }],
        Some(_) => vec![],
    })
}

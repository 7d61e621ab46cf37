//! Audit of a cohort's store (`scoregate audit verify`): the log's chain walk
//! (from [`super::log::chain`]), then every commit's decision artifact and
//! the active profile against the commits they name, reporting every problem
//! without stopping at the first. Audit reads the log; the log never imports
//! audit.

use super::artifacts::{read_active, DecisionArtifact};
use super::log::chain::{seq_of_name, verify_chain, AuditProblem, AuditReport};
use super::log::read_all;
use crate::canonical::Digest;
use crate::pipeline::Pipeline;
use crate::store::{layout, Store};

/// The full audit of a cohort in its store: the chain, then every commit's
/// decision artifact and the active profile against the commits they name.
pub async fn verify_store(pipeline: &Pipeline, store: &Store) -> Result<AuditReport, crate::Error> {
    let stored = read_all(store, &pipeline.cohort).await?;
    let mut report = verify_chain(&pipeline.cohort, &stored, pipeline.policy.clock_skew);
    let mut head: Option<(u64, Digest)> = None;
    for c in &stored {
        let (Ok(commit), Some(seq)) = (&c.commit, seq_of_name(&c.path)) else {
            continue;
        };
        let digest = Digest::of(&c.bytes);
        let path = layout::artifact(&pipeline.cohort, seq, commit.decision.as_str());
        match store.get_opt(&path).await? {
            None => report.problems.push(AuditProblem::MissingArtifact {
                seq,
                path: path.to_string(),
            }),
            Some(bytes) => {
                let found = serde_json::from_slice::<DecisionArtifact>(&bytes)
                    .map(|a| a.commit_digest.to_string())
                    .unwrap_or_else(|_| "an unreadable artifact".into());
                if found != digest.as_str() {
                    report.problems.push(AuditProblem::ArtifactMismatch {
                        seq,
                        path: path.to_string(),
                        expected: digest.to_string(),
                        found,
                    });
                }
            }
        }
        head = Some((seq, digest));
    }
    if let Some((seq, digest)) = head {
        let path = layout::active(&pipeline.cohort).to_string();
        match read_active(store, &pipeline.cohort).await? {
            None => report.problems.push(AuditProblem::MissingArtifact { seq, path }),
            Some(a) if a.seq != seq || a.commit_digest.as_ref() != Some(&digest) => report.problems.push(AuditProblem::ArtifactMismatch {
                seq,
                path,
                expected: digest.to_string(),
                found: a.commit_digest.map_or_else(|| format!("seq {}", a.seq), |d| d.to_string()),
            }),
            Some(_) => {}
        }
    }
    Ok(report)
}

//! Audit of a cohort's commit log (`scoregate audit verify`): walks the
//! chain and reports every gap, edited or reordered commit, foreign object
//! and missing or mismatched artifact, without stopping at the first.

use crate::canonical::{to_jcs, Digest};
use crate::log::{Commit, StoredCommit, SCHEMA};
use serde::Serialize;
use std::fmt;

/// One thing wrong with the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum AuditProblem {
    /// An object under the log prefix that is not `<20 digits>.json`.
    ForeignObject { path: String },
    /// Not a valid commit document.
    Unreadable { path: String, message: String },
    /// A sequence number with no commit (deleted, or never written).
    Gap { seq: u64 },
    /// The object's name and the seq inside disagree (moved or reordered).
    SeqMismatch { path: String, seq_in_commit: u64 },
    /// The commit's `prev` is not the sha256 of the commit before it: that one was edited, replaced or reordered.
    PrevMismatch {
        path: String,
        expected: Option<String>,
        found: Option<String>,
    },
    /// The bytes are not the canonical form scoregate writes: edited by hand.
    NotCanonical { path: String },
    /// A commit of another cohort, or another schema.
    WrongCohort { path: String, cohort: String },
    /// The artifact a commit must have is missing.
    MissingArtifact { seq: u64, path: String },
    /// An artifact names a different commit digest than the commit's bytes have.
    ArtifactMismatch {
        seq: u64,
        path: String,
        expected: String,
        found: String,
    },
    /// A commit's `now` is earlier than its predecessor's, beyond the clock-skew allowance.
    TimeWentBackwards { path: String },
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditProblem::ForeignObject { path } => write!(f, "{path}: not a commit object name"),
            AuditProblem::Unreadable { path, message } => write!(f, "{path}: unreadable commit: {message}"),
            AuditProblem::Gap { seq } => write!(f, "commit {seq:020} is missing (gap in the chain)"),
            AuditProblem::SeqMismatch { path, seq_in_commit } => write!(f, "{path}: holds seq {seq_in_commit} (moved or reordered)"),
            AuditProblem::PrevMismatch { path, expected, found } => write!(
                f,
                "{path}: prev is {} but the commit before it hashes to {} (edited, replaced or reordered)",
                found.as_deref().unwrap_or("null"),
                expected.as_deref().unwrap_or("null")
            ),
            AuditProblem::NotCanonical { path } => write!(f, "{path}: bytes are not canonical (edited by hand)"),
            AuditProblem::WrongCohort { path, cohort } => write!(f, "{path}: commit of cohort \"{cohort}\" or of another schema"),
            AuditProblem::MissingArtifact { seq, path } => write!(f, "commit {seq}: artifact {path} is missing"),
            AuditProblem::ArtifactMismatch {
                seq,
                path,
                expected,
                found,
            } => {
                write!(
                    f,
                    "commit {seq}: artifact {path} names commit {found}, but the commit hashes to {expected} (commit or artifact edited)"
                )
            }
            AuditProblem::TimeWentBackwards { path } => write!(f, "{path}: its now is earlier than the commit before"),
        }
    }
}

/// The result of walking the chain.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuditReport {
    pub commits: u64,
    pub head: Option<String>,
    pub problems: Vec<AuditProblem>,
}

impl AuditReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn seq_of_name(path: &str) -> Option<u64> {
    let name = path.rsplit('/').next()?;
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok())?
}

/// Walk `commits` (in path order) and report every break in the chain.
pub fn verify_chain(cohort: &str, commits: &[StoredCommit], clock_skew: chrono::Duration) -> AuditReport {
    let mut report = AuditReport::default();
    let mut expected_seq = 1u64;
    let mut prev: Option<(Digest, Commit)> = None;
    for c in commits {
        let Some(seq) = seq_of_name(&c.path) else {
            report.problems.push(AuditProblem::ForeignObject { path: c.path.clone() });
            continue;
        };
        while expected_seq < seq {
            report.problems.push(AuditProblem::Gap { seq: expected_seq });
            expected_seq += 1;
            // What came before the gap cannot vouch for what follows it.
            prev = None;
        }
        expected_seq = seq + 1;
        let commit = match &c.commit {
            Ok(commit) => commit,
            Err(message) => {
                report.problems.push(AuditProblem::Unreadable {
                    path: c.path.clone(),
                    message: message.clone(),
                });
                prev = None;
                continue;
            }
        };
        if commit.schema != SCHEMA || commit.cohort != cohort {
            report.problems.push(AuditProblem::WrongCohort {
                path: c.path.clone(),
                cohort: commit.cohort.clone(),
            });
        }
        if commit.seq != seq {
            report.problems.push(AuditProblem::SeqMismatch {
                path: c.path.clone(),
                seq_in_commit: commit.seq,
            });
        }
        if to_jcs(commit) != c.bytes.as_ref() {
            report.problems.push(AuditProblem::NotCanonical { path: c.path.clone() });
        }
        let expected_prev = if seq == 1 { None } else { prev.as_ref().map(|(d, _)| d.clone()) };
        let checkable = seq == 1 || prev.is_some();
        if checkable && commit.prev != expected_prev {
            report.problems.push(AuditProblem::PrevMismatch {
                path: c.path.clone(),
                expected: expected_prev.map(|d| d.to_string()),
                found: commit.prev.as_ref().map(|d| d.to_string()),
            });
        }
        if let Some((_, p)) = &prev {
            if commit.now + clock_skew < p.now {
                report.problems.push(AuditProblem::TimeWentBackwards { path: c.path.clone() });
            }
        }
        let digest = Digest::of(&c.bytes);
        report.head = Some(digest.to_string());
        report.commits += 1;
        prev = Some((digest, commit.clone()));
    }
    report
}

/// The full audit of a cohort in its store: the chain, then every commit's
/// decision artifact and the active profile against the commits they name.
pub async fn verify_store(pipeline: &crate::pipeline::Pipeline, store: &crate::store::Store) -> Result<AuditReport, crate::Error> {
    use crate::artifacts::{active_path, artifact_path, read_active, DecisionArtifact};
    let stored = crate::log::read_all(store, &pipeline.cohort).await?;
    let mut report = verify_chain(&pipeline.cohort, &stored, pipeline.policy.clock_skew);
    let mut head: Option<(u64, Digest)> = None;
    for c in &stored {
        let (Ok(commit), Some(seq)) = (&c.commit, seq_of_name(&c.path)) else {
            continue;
        };
        let digest = Digest::of(&c.bytes);
        let path = artifact_path(&pipeline.cohort, seq, commit.decision);
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
        let path = active_path(&pipeline.cohort).to_string();
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

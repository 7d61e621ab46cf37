//! The chain walk (README "What it writes"): every object under a cohort's
//! log prefix checked against its name, its predecessor's digest, its
//! canonical bytes and its predecessor's `now`, reporting every break, never
//! stopping at the first. The cycle refuses a broken chain; `audit verify`
//! prints all of it.

use super::document::{Commit, StoredCommit, SCHEMA};
use crate::canonical::{to_jcs, Digest};
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

pub fn seq_of_name(path: &str) -> Option<u64> {
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

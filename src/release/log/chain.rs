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
    /// Sequence numbers `from..=to` with no commit (deleted, or never written).
    /// One problem per run of missing numbers, however long: a hostile object
    /// name such as `18446744073709551615.json` costs one line, not 2^64.
    Gap { from: u64, to: u64 },
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
    /// A commit that does not follow from the live state before it.
    BadTransition { seq: u64, detail: String },
    /// A commit that moves away from trusted without a kept, signed manifest.
    Unapproved { seq: u64, detail: String },
    /// The kept manifest does not hash to the commit's digest, disagrees with
    /// the commit, or exceeds the pipeline's limits.
    ManifestMismatch { seq: u64, detail: String },
    /// The kept signatures do not verify against `allowed_signers` at the commit's `now`.
    SignaturesFail { seq: u64, detail: String },
    /// The signing key is no longer in `allowed_signers` (its line was deleted).
    NoLongerVerifiable { seq: u64, detail: String },
    /// A derived object names a commit the chain does not hold: the log was cut back.
    DerivedAhead { path: String, detail: String },
    /// The active profile's embedded profile does not hash to its revision id.
    EmbeddedProfileMismatch { path: String, detail: String },
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditProblem::ForeignObject { path } => write!(f, "{path}: not a commit object name"),
            AuditProblem::Unreadable { path, message } => write!(f, "{path}: unreadable commit: {message}"),
            AuditProblem::Gap { from, to } if from == to => write!(f, "commit {from:020} is missing (gap in the chain)"),
            AuditProblem::Gap { from, to } => write!(
                f,
                "commits {from:020} to {to:020} are missing ({} commits; gap in the chain)",
                (to - from).saturating_add(1)
            ),
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
            AuditProblem::BadTransition { seq, detail } => write!(f, "commit {seq}: not a transition the cycle makes: {detail}"),
            AuditProblem::Unapproved { seq, detail } => {
                write!(
                    f,
                    "commit {seq}: moves away from the trusted revision without a signed manifest: {detail}"
                )
            }
            AuditProblem::ManifestMismatch { seq, detail } => write!(f, "commit {seq}: its manifest does not bear it out: {detail}"),
            AuditProblem::SignaturesFail { seq, detail } => write!(f, "commit {seq}: its signatures do not verify: {detail}"),
            AuditProblem::NoLongerVerifiable { seq, detail } => write!(
                f,
                "commit {seq}: no longer verifiable, its signing key is gone from allowed_signers ({detail}); \
                 retire keys with valid-before=\"…\" instead of deleting their lines"
            ),
            AuditProblem::DerivedAhead { path, detail } => write!(f, "{path}: {detail}"),
            AuditProblem::EmbeddedProfileMismatch { path, detail } => write!(f, "{path}: {detail}"),
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
        if expected_seq < seq {
            report.problems.push(AuditProblem::Gap {
                from: expected_seq,
                to: seq - 1,
            });
            // What came before the gap cannot vouch for what follows it.
            prev = None;
        }
        expected_seq = seq.saturating_add(1);
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

//! One commit path for the cycle and for break-glass (README "What it
//! writes"): read the head, refuse a clock that went backwards, decide, append
//! put-if-absent at the next seq, write what the commit derives, and on a
//! lost race re-read the head and decide again, at most [`MAX_ATTEMPTS`]
//! times, then give up with [`CycleError::LostRace`].

use crate::approval::signers::SignatureFile;
use crate::error::Error;
use crate::pipeline::Pipeline;
use crate::release::derive::after_commit;
use crate::release::log::{append, Commit, LiveState, LogError};
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::future::Future;

/// How many times a run re-reads the head and decides again after losing a commit race.
pub const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("cycle of {cohort}: now {now} is earlier than the log head's {head} (seq {seq}) beyond the {skew} clock-skew allowance; refusing to decide, nothing written")]
    ClockWentBackwards {
        cohort: String,
        now: String,
        head: String,
        seq: u64,
        skew: String,
    },
    #[error("cycle of {cohort}: lost the commit race {attempts} times in a row; nothing committed by this run")]
    LostRace { cohort: String, attempts: u32 },
    #[error("log of {cohort} does not re-derive from signed input; refusing to act, nothing written: {}; run `scoregate audit verify` for the full report, and `scoregate rollback` to restore the baseline", problems.join("; "))]
    Tampered { cohort: String, problems: Vec<String> },
}

/// A decided commit, with what its post-commit stage needs.
pub struct Prepared {
    pub commit: Commit,
    /// The exact text of the manifest the commit acted on, kept in its artifact.
    pub manifest_text: Option<String>,
    /// Its signature files, kept beside it.
    pub signatures: Vec<SignatureFile>,
    /// The live state the commit was decided on.
    pub before: LiveState,
}

/// What one attempt produced: a commit to append, or a final answer.
pub enum Attempt<T> {
    /// Append this commit; once it lands, the run answers `T`.
    Commit(Box<Prepared>, T),
    /// Nothing to append: the run is over with this answer.
    Done(T),
}

/// README "The cycle": `now` never goes backwards. A run whose `now` is
/// earlier than the log head's, beyond the skew allowance, is refused.
pub fn refuse_backwards(pipeline: &Pipeline, state: &LiveState, now: DateTime<Utc>) -> Result<(), Error> {
    let Some(head) = &state.head else { return Ok(()) };
    if now + pipeline.policy.clock_skew >= head.now {
        return Ok(());
    }
    Err(CycleError::ClockWentBackwards {
        cohort: pipeline.cohort.clone(),
        now: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        head: head.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        seq: head.seq,
        skew: crate::pipeline::format_duration(pipeline.policy.clock_skew),
    }
    .into())
}

/// Run `attempt` (read the head, decide) and append what it decides,
/// re-deciding from a fresh head after each lost race. After the winning
/// append, the commit's derived objects are written (artifact, active
/// profile, inbox removal).
pub async fn commit_with_retry<T, A, F>(pipeline: &Pipeline, store: &Store, mut attempt: A) -> Result<T, Error>
where
    A: FnMut(u32) -> F,
    F: Future<Output = Result<Attempt<T>, Error>>,
{
    for n in 1..=MAX_ATTEMPTS {
        let (prepared, answer) = match attempt(n).await? {
            Attempt::Done(answer) => return Ok(answer),
            Attempt::Commit(prepared, answer) => (prepared, answer),
        };
        let Prepared {
            commit,
            manifest_text,
            signatures,
            before,
        } = *prepared;
        match append(store, &commit).await {
            Ok(digest) => {
                after_commit(store, pipeline, &commit, &digest, (manifest_text, &signatures), &before).await?;
                return Ok(answer);
            }
            Err(LogError::VersionExists { .. }) => {
                tracing::info!(seq = commit.seq, attempt = n, "lost the commit race; re-reading the head");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(CycleError::LostRace {
        cohort: pipeline.cohort.clone(),
        attempts: MAX_ATTEMPTS,
    }
    .into())
}

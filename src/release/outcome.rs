//! Outcome reports in the lifecycle (README "Outcome reports", SPEC §7a):
//! which window a report covers, taken from the log; the report written
//! beside the commit at every end of a bounded window (expire, revoke,
//! rollback, break-glass, renew, promote) as
//! `reports/<cohort>/<seq>-outcome.json` plus its HTML page; and the
//! digest-addressed copy a renewal or promotion binds. The report itself
//! (what is counted, the intervals) is [`crate::evidence::outcome`].
//!
//! Writing a report at a window's end is best effort: the commit has landed
//! and the way back to trusted never waits on the history being readable.
//! `scoregate report --seq N` makes the same report again on demand.

use crate::canonical::Digest;
use crate::error::Error;
use crate::evidence::outcome::{build, render_html, OutcomeInputs, OutcomeReport};
use crate::pipeline::{triggers, Pipeline};
use crate::release::log::{Bounded, Commit, LiveState};
use crate::release::readings::{live_history, readings_of};
use crate::replay::history::History;
use crate::store::{layout, Store, StoreError};
use chrono::{DateTime, Utc};

/// A bounded window as the log knows it, and where the report ends.
#[derive(Clone, Debug)]
pub struct WindowRef {
    pub bounded: Bounded,
    pub trusted: Digest,
    pub end: DateTime<Utc>,
    /// The decision that ended it and its commit; `None` while it runs.
    pub ended_by: Option<(String, u64)>,
}

impl WindowRef {
    /// The window commit `c` ended, on top of the state `before` it; `None`
    /// when `c` ends no bounded window.
    pub fn ended_by(before: &LiveState, c: &Commit) -> Option<WindowRef> {
        let b = before.bounded.as_ref().filter(|_| c.decision.ends_window())?;
        Some(WindowRef {
            bounded: b.clone(),
            trusted: before.trusted.clone(),
            end: c.now,
            ended_by: Some((c.decision.as_str().to_string(), c.seq)),
        })
    }
}

/// The report over an already-read history (read with live columns).
pub fn report_over(pipeline: &Pipeline, h: &History, w: &WindowRef) -> OutcomeReport {
    let readings = readings_of(pipeline, h, &w.bounded, w.end);
    let inputs = OutcomeInputs {
        cohort: pipeline.cohort.clone(),
        revision: w.bounded.revision.clone(),
        trusted_revision: w.trusted.clone(),
        manifest_id: w.bounded.manifest_id.clone(),
        activated_at: w.bounded.activated_at,
        not_after: w.bounded.not_after,
        renewals: w.bounded.renewals,
        end: w.end,
        ended_by: w.ended_by.clone(),
        protected_classes: pipeline.policy.protected_classes.clone(),
        min_live_items: pipeline.blindness.min_live_items,
        guardrails: triggers(&readings, &w.bounded.guardrails),
    };
    build(h, &inputs)
}

/// Read the history and make the report for `w`.
pub async fn report_for(pipeline: &Pipeline, store: &Store, w: &WindowRef) -> Result<OutcomeReport, Error> {
    let h = live_history(pipeline, store).await?;
    Ok(report_over(pipeline, &h, w))
}

/// The window a report covers: the one commit `seq` ended, or with no
/// `seq` the live bounded window up to `now` (else the last one that ended).
pub fn window_at(pipeline: &Pipeline, commits: &[(Commit, Digest)], seq: Option<u64>, now: DateTime<Utc>) -> Result<WindowRef, Error> {
    let mut state = LiveState::initial(pipeline);
    let mut last_ended = None;
    for (c, d) in commits {
        let ended = WindowRef::ended_by(&state, c);
        if seq == Some(c.seq) {
            return ended.ok_or_else(|| {
                Error::Input(format!(
                    "--seq {}: commit {} is a {}, which ends no bounded window; reports are made for the commits that end one (expire, revoke, rollback, break_glass, renew, promote)",
                    c.seq,
                    c.seq,
                    c.decision.as_str()
                ))
            });
        }
        last_ended = ended.or(last_ended);
        state = state.apply(c, d.clone());
    }
    if let Some(s) = seq {
        return Err(Error::Input(format!(
            "--seq {s}: the log of {} ends at commit {}",
            pipeline.cohort,
            commits.len()
        )));
    }
    match (state.bounded, last_ended) {
        (Some(b), _) => Ok(WindowRef {
            bounded: b,
            trusted: state.trusted,
            end: now,
            ended_by: None,
        }),
        (None, Some(w)) => Ok(w),
        (None, None) => Err(Error::Input(format!(
            "no bounded window in the log of {} yet: nothing to report on",
            pipeline.cohort
        ))),
    }
}

/// Store `r` digest-addressed, as a renewal or promotion binds it; returns its digest.
pub async fn store_bound(store: &Store, r: &OutcomeReport) -> Result<Digest, StoreError> {
    let digest = r.digest();
    match store.put_if_absent(&layout::bound_report(&r.cohort, &digest), r.to_bytes()).await {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => Ok(digest),
        Err(e) => Err(e),
    }
}

/// Write the report of the window `commit` ended, beside the commit (best
/// effort: a failure is logged, never returned). `history` is the one the
/// decision was taken on, when the cycle read it; else it is read here.
pub async fn write_window_end(store: &Store, pipeline: &Pipeline, before: &LiveState, commit: &Commit) {
    let Some(w) = WindowRef::ended_by(before, commit) else {
        return;
    };
    if let Err(e) = write(store, pipeline, &w, commit.seq).await {
        tracing::warn!(error = %e, seq = commit.seq, "outcome report not written; `scoregate report --seq` makes it again");
    }
}

async fn write(store: &Store, pipeline: &Pipeline, w: &WindowRef, seq: u64) -> Result<(), Error> {
    let r = report_for(pipeline, store, w).await?;
    let html = render_html(&r)?;
    store
        .put(&layout::window_report(&pipeline.cohort, seq, "json"), r.to_bytes())
        .await?;
    store
        .put(&layout::window_report(&pipeline.cohort, seq, "html"), html.into_bytes())
        .await?;
    Ok(())
}

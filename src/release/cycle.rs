//! The scheduled cycle (README "The cycle"): fix one `now`, read the
//! cohort's log, repair derived objects a crash may have left behind, read
//! the guardrails over the live window and the approvals inbox, decide
//! ([`super::decide`]), and commit at most one decision
//! ([`super::commit`]). Break-glass rollback lives here too.
//!
//! Architecture invariant: moving away from the trusted revision always needs
//! a manifest that passed every check; going back to it never does.

use crate::approval::inbox::waiting;
use crate::approval::signers::AllowedSigners;
use crate::approval::{load_allowed_signers, verify};
use crate::canonical::Digest;
use crate::error::Error;
use crate::pipeline::Pipeline;
use crate::release::artifacts::Trigger;
use crate::release::commit::{commit_with_retry, refuse_backwards, Attempt, CycleError, Prepared};
use crate::release::decide::{base_commit, decide, restore, Candidate, DecideInputs, Plan};
use crate::release::derive::{incident, repair, Incident};
use crate::release::log::{append, read_log, Commit, Decision, FailedCheck, LiveState, LogError, Readings};
use crate::release::readings::live_readings;
use crate::release::trail::{check_before_acting, derived_snapshot};
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Whether a run writes what it decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Commit the decision and write its derived objects.
    Commit,
    /// Decide and report; write nothing (`--dry-run`).
    DryRun,
}

/// What one cycle decided and did.
#[derive(Clone, Debug, Serialize)]
pub struct CycleReport {
    pub cohort: String,
    pub now: DateTime<Utc>,
    /// `None`: nothing changes.
    pub decision: Option<Decision>,
    pub seq: Option<u64>,
    pub live_before: Digest,
    pub live_after: Digest,
    pub bounded: bool,
    pub valid_until: Option<DateTime<Utc>>,
    pub readings: Option<Readings>,
    pub triggers: Vec<Trigger>,
    pub manifest_id: Option<String>,
    pub failed_checks: Vec<FailedCheck>,
    /// Manifests whose window has not opened yet.
    pub waiting: Vec<String>,
    /// Derived objects this cycle rewrote because a crash had left them missing or stale.
    pub repaired: Vec<String>,
    pub reasons: Vec<String>,
    pub attempts: u32,
    pub dry_run: bool,
}

impl CycleReport {
    pub fn exit_code(&self) -> crate::ExitCode {
        match self.decision {
            Some(Decision::Rollback | Decision::Expire | Decision::BreakGlass) => crate::ExitCode::RolledBack,
            Some(Decision::Reject) => crate::ExitCode::Rejected,
            _ => crate::ExitCode::Ok,
        }
    }

    fn new(pipeline: &Pipeline, state: &LiveState, plan: &Plan, now: DateTime<Utc>, attempts: u32, mode: Mode) -> CycleReport {
        let c = plan.commit.as_ref();
        CycleReport {
            cohort: pipeline.cohort.clone(),
            now,
            decision: c.map(|c| c.decision),
            seq: c.map(|c| c.seq),
            live_before: state.live.clone(),
            live_after: c.map_or(state.live.clone(), |c| c.live_revision.clone()),
            bounded: c.map_or(state.bounded.is_some(), |c| c.valid_until.is_some()),
            valid_until: c.map_or(state.bounded.as_ref().map(|b| b.not_after), |c| c.valid_until),
            readings: plan.readings.clone(),
            triggers: plan.triggers.clone(),
            manifest_id: c.and_then(|c| c.manifest_id.clone()),
            failed_checks: c.map(|c| c.failed_checks.clone()).unwrap_or_default(),
            waiting: plan.waiting.clone(),
            repaired: vec![],
            reasons: plan.reasons.clone(),
            attempts,
            dry_run: mode == Mode::DryRun,
        }
    }
}

/// Every manifest in the inbox, parsed and verified against `state` at `now`,
/// in deterministic order: issue time, then id; unparseable ones by name, last.
/// Unreadable `allowed_signers` makes the whole inbox unreadable.
async fn read_inbox(
    pipeline: &Pipeline,
    store: &Store,
    state: &LiveState,
    now: DateTime<Utc>,
    allowed: Result<AllowedSigners, Error>,
) -> Result<Vec<Candidate>, Error> {
    let allowed = allowed?;
    let mut out = Vec::new();
    for sub in waiting(store, &pipeline.cohort).await? {
        let parsed = match sub.parse() {
            Ok(m) => {
                let v = verify(pipeline, store, &m, &sub.signatures, &allowed, &state.view(), now).await?;
                Ok((m, v))
            }
            Err(e) => Err(e.to_string()),
        };
        out.push(Candidate { sub, parsed });
    }
    out.sort_by(|a, b| match (&a.parsed, &b.parsed) {
        (Ok((x, _)), Ok((y, _))) => (x.issued_at, &x.manifest_id).cmp(&(y.issued_at, &y.manifest_id)),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.sub.name.cmp(&b.sub.name),
    });
    Ok(out)
}

/// Read what the rules need (readings, inbox), then decide. The readings
/// read only the row groups that can hold live-window rows
/// ([`live_readings`]); a commit that ends the window reads the whole history
/// for its outcome report after the commit.
async fn plan(
    pipeline: &Pipeline,
    store: &Store,
    state: &LiveState,
    now: DateTime<Utc>,
    allowed: Result<AllowedSigners, Error>,
) -> Result<Plan, Error> {
    let readings = match &state.bounded {
        None => None,
        Some(b) => Some(live_readings(pipeline, store, b, now).await),
    };
    let inbox = read_inbox(pipeline, store, state, now, allowed).await;
    let plan = decide(DecideInputs {
        pipeline,
        state,
        now,
        readings,
        inbox,
    })?;
    Ok(plan)
}

/// Decide and commit one step for `now`; the decision, if any, is only
/// committed, not followed by its artifacts (the crash-injection point
/// tests use: the next cycle must repair).
pub async fn commit_only(pipeline: &Pipeline, store: &Store, now: DateTime<Utc>) -> Result<Option<Commit>, Error> {
    let (state, _) = read_log(pipeline, store).await?;
    refuse_backwards(pipeline, &state, now)?;
    let plan = plan(pipeline, store, &state, now, load_allowed_signers(pipeline).await).await?;
    if let Some(c) = &plan.commit {
        append(store, c).await?;
    }
    Ok(plan.commit)
}

/// One cycle at `now`. In [`Mode::DryRun`], decide and report, write nothing.
pub async fn run(pipeline: &Pipeline, store: &Store, now: DateTime<Utc>, mode: Mode) -> Result<CycleReport, Error> {
    commit_with_retry(pipeline, store, |attempt| async move {
        let derived = derived_snapshot(store, pipeline).await?;
        let (state, commits) = read_log(pipeline, store).await?;
        refuse_backwards(pipeline, &state, now)?;
        // Read once: the gate re-checks old approvals with it, the inbox verifies new ones.
        let allowed = load_allowed_signers(pipeline).await;
        check_before_acting(pipeline, store, &commits, readable(&allowed), &derived).await?;
        let repaired = match mode {
            Mode::DryRun => vec![],
            Mode::Commit => repair(store, pipeline, &state, &commits).await?,
        };
        let plan = plan(pipeline, store, &state, now, allowed).await?;
        let mut report = CycleReport::new(pipeline, &state, &plan, now, attempt, mode);
        report.repaired = repaired;
        match (plan.commit, mode) {
            (None, _) | (Some(_), Mode::DryRun) => Ok(Attempt::Done(report)),
            (Some(commit), Mode::Commit) => {
                let prepared = Prepared {
                    commit,
                    manifest_text: plan.manifest_text,
                    signatures: plan.signatures,
                    before: state,
                };
                Ok(Attempt::Commit(Box::new(prepared), report))
            }
        }
    })
    .await
}

/// `allowed_signers` if it could be read, else `None` with a warning:
/// re-checking old approvals must not stand in the way back to trusted.
fn readable(allowed: &Result<AllowedSigners, Error>) -> Option<&AllowedSigners> {
    match allowed {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::warn!(error = %e, "allowed_signers unreadable: approvals in the log not re-verified this run");
            None
        }
    }
}

/// What break-glass did.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum BreakGlass {
    /// The trusted revision was restored by a commit.
    Restored { commit: Box<Commit> },
    /// A trusted revision was already live.
    AlreadyTrusted,
    /// The log is broken: the pipeline's baseline was made the active profile
    /// and an incident record written; nothing was committed.
    Incident { record: Box<Incident> },
}

/// Break-glass: restore the trusted revision at once, recording who and why.
/// On a broken log it never refuses: it writes the active profile of the
/// pipeline's baseline revision and an incident record (README "Recovering a
/// broken log").
pub async fn break_glass(pipeline: &Pipeline, store: &Store, now: DateTime<Utc>, reason: &str, actor: &str) -> Result<BreakGlass, Error> {
    let derived = derived_snapshot(store, pipeline).await?;
    let intact = match read_log(pipeline, store).await {
        Ok((_, commits)) => check_before_acting(pipeline, store, &commits, None, &derived).await,
        Err(e) => Err(e.into()),
    };
    match intact {
        Ok(()) => restore_by_commit(pipeline, store, now, reason, actor).await,
        Err(broken @ (Error::Log(LogError::Broken { .. }) | Error::Cycle(CycleError::Tampered { .. }))) => {
            let record = incident(pipeline, store, now, reason, actor, &broken).await?;
            Ok(BreakGlass::Incident { record: Box::new(record) })
        }
        Err(e) => Err(e),
    }
}

/// Break-glass on an intact log: one commit restoring the trusted revision.
async fn restore_by_commit(pipeline: &Pipeline, store: &Store, now: DateTime<Utc>, reason: &str, actor: &str) -> Result<BreakGlass, Error> {
    commit_with_retry(pipeline, store, |_| async move {
        let (state, commits) = read_log(pipeline, store).await?;
        refuse_backwards(pipeline, &state, now)?;
        repair(store, pipeline, &state, &commits).await?;
        if state.bounded.is_none() {
            return Ok(Attempt::Done(BreakGlass::AlreadyTrusted));
        }
        let mut c = base_commit(pipeline, &state, now, Decision::BreakGlass);
        c.reasons = vec![reason.to_string()];
        c.actor = Some(actor.to_string());
        restore(&mut c, &state.trusted);
        let answer = BreakGlass::Restored {
            commit: Box::new(c.clone()),
        };
        Ok(Attempt::Commit(
            Box::new(Prepared {
                commit: c,
                manifest_text: None,
                signatures: vec![],
                before: state,
            }),
            answer,
        ))
    })
    .await
}

//! The scheduled cycle (SPEC §7): fix one `now`, read the cohort's log,
//! repair derived artifacts a crash may have left behind, take the guardrail
//! readings over the live window, check waiting manifests, decide, and commit
//! at most one decision, put-if-absent, retrying a lost race a bounded number
//! of times. Break-glass rollback lives here too.
//!
//! Decisions, in order: a breached guardrail rolls back; a lapsed window
//! without a valid renewal expires; a valid revoke or renew acts on the live
//! bounded revision; a valid activate replaces a live trusted revision; a
//! manifest that fails a check is rejected with every failed check recorded;
//! otherwise nothing changes. Moving away from the trusted revision always
//! needs a valid manifest; going back to it never does.

use crate::approval::{load_allowed_signers, verify, Verification};
use crate::artifacts::{decision_artifact, put_active, put_decision, read_active, triggers, ActiveProfile, Trigger, ACTIVE_SCHEMA};
use crate::canonical::Digest;
use crate::error::Error;
use crate::history::{History, HistoryQuery};
use crate::inbox::{waiting, Submission};
use crate::log::{append, read_log, ApprovalWindow, Bounded, Commit, Decision, FailedCheck, LiveState, LogError, Readings, SCHEMA};
use crate::manifest::{is_signature_of, Action, Manifest};
use crate::pipeline::{Guardrails, Pipeline};
use crate::replay::nearest_rank_f64;
use crate::signers::AllowedSigners;
use crate::steward::load_profile;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use object_store::path::Path as ObjPath;
use serde::Serialize;

/// How many times a cycle re-reads the head and decides again after losing a commit race.
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
}

/// Guardrail readings over the live window: items whose `live_revision` is
/// the live bounded revision and whose `queued_at` is in [activation, now].
pub async fn live_readings(pipeline: &Pipeline, store: &Store, bounded: &Bounded, now: DateTime<Utc>) -> Result<Readings, Error> {
    let query = HistoryQuery {
        cohort: pipeline.cohort.clone(),
        features: vec![],
        nonnegative: vec![],
        live_columns: true,
    };
    let h = History::read(store, &pipeline.history, &query, None).await?;
    let live = h.live.as_ref().expect("live columns were asked for");
    let mut r = Readings {
        items: 0,
        protected_misses: 0,
        protected_signoff_p90_hours: None,
        canary_misses: 0,
    };
    let Some(rev) = live.revisions.iter().position(|x| x == bounded.revision.as_str()) else {
        return Ok(r);
    };
    let protected: Vec<bool> = h.classes.iter().map(|c| pipeline.policy.protected_classes.contains(c)).collect();
    let canary = crate::profile::kind_index("canary_finding").expect("a known kind");
    let (from, to) = (bounded.activated_at.timestamp_micros(), now.timestamp_micros());
    let mut hours = Vec::new();
    for i in 0..h.len() {
        let Some(q) = live.queued_at[i] else { continue };
        if live.live_revision[i] != rev as u32 || q < from || q > to {
            continue;
        }
        r.items += 1;
        let is_protected = protected[h.class[i] as usize];
        if is_protected {
            if h.missed[i] {
                r.protected_misses += 1;
            }
            // An item not signed off yet ages until now.
            let done = live.signed_off_at[i].unwrap_or(to);
            hours.push((done - q) as f64 / 3_600_000_000.0);
        }
        if h.kind[i] == canary && h.missed[i] {
            r.canary_misses += 1;
        }
    }
    r.protected_signoff_p90_hours = nearest_rank_f64(&mut hours, 90);
    Ok(r)
}

/// A decision about to be committed, and what goes with it.
struct Plan {
    commit: Option<Commit>,
    manifest_text: Option<String>,
    readings: Option<Readings>,
    triggers: Vec<Trigger>,
    waiting: Vec<String>,
    reasons: Vec<String>,
}

fn base_commit(pipeline: &Pipeline, state: &LiveState, now: DateTime<Utc>, decision: Decision) -> Commit {
    Commit {
        schema: SCHEMA.into(),
        cohort: pipeline.cohort.clone(),
        seq: state.next_seq(),
        prev: state.head.as_ref().map(|h| h.1.clone()),
        now,
        decision,
        prior_revision: state.live.clone(),
        live_revision: state.live.clone(),
        trusted_revision: state.trusted.clone(),
        valid_until: state.bounded.as_ref().map(|b| b.not_after),
        activated_at: state.bounded.as_ref().map(|b| b.activated_at),
        manifest_id: None,
        manifest_digest: None,
        evidence_digest: None,
        signers: state.bounded.as_ref().map(|b| b.signers.clone()).unwrap_or_default(),
        window: None,
        guardrails: state.bounded.as_ref().map(|b| b.guardrails),
        readings: None,
        thresholds: None,
        failed_checks: vec![],
        reasons: vec![],
        actor: None,
        live_manifest_id: state.bounded.as_ref().map(|b| b.manifest_id.clone()),
        inbox_object: None,
    }
}

/// Restore the trusted revision: the state after a rollback, expiry, revoke or break-glass.
fn restore(c: &mut Commit, state: &LiveState) {
    c.live_revision = state.trusted.clone();
    c.trusted_revision = state.trusted.clone();
    c.valid_until = None;
    c.activated_at = None;
    c.guardrails = None;
    c.signers = vec![];
    c.live_manifest_id = None;
}

/// Put the manifest's approval in force (activate or renew).
fn approve(c: &mut Commit, m: &Manifest, v: &Verification, state: &LiveState, now: DateTime<Utc>) {
    c.live_revision = m.candidate_revision.clone();
    c.trusted_revision = state.trusted.clone();
    c.valid_until = Some(m.not_after);
    c.activated_at = Some(match (&state.bounded, m.action) {
        (Some(b), Action::Renew) => b.activated_at,
        _ => now,
    });
    c.guardrails = m.guardrails;
    c.signers = v.signers.signers.clone();
    c.live_manifest_id = Some(m.manifest_id.clone());
}

fn name_manifest(c: &mut Commit, m: &Manifest, sub: &Submission) {
    c.manifest_id = Some(m.manifest_id.clone());
    c.manifest_digest = Some(m.digest.clone());
    c.evidence_digest = m.evidence_digest.clone();
    c.window = Some(ApprovalWindow {
        not_before: m.not_before,
        not_after: m.not_after,
    });
    c.inbox_object = Some(sub.name.clone());
}

/// A waiting manifest and its verification (or why it could not be parsed).
struct Candidate {
    sub: Submission,
    parsed: Result<(Manifest, Verification), String>,
}

async fn check_inbox(
    pipeline: &Pipeline,
    store: &Store,
    state: &LiveState,
    allowed: &AllowedSigners,
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, Error> {
    let mut out = Vec::new();
    for sub in waiting(store, &pipeline.cohort).await? {
        let parsed = match sub.parse() {
            Ok(m) => {
                let v = verify(pipeline, store, &m, &sub.signatures, allowed, state, now).await?;
                Ok((m, v))
            }
            Err(e) => Err(e.to_string()),
        };
        out.push(Candidate { sub, parsed });
    }
    // Deterministic order: issue time, then id; unparseable ones by name, last.
    out.sort_by(|a, b| match (&a.parsed, &b.parsed) {
        (Ok((x, _)), Ok((y, _))) => (x.issued_at, &x.manifest_id).cmp(&(y.issued_at, &y.manifest_id)),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.sub.name.cmp(&b.sub.name),
    });
    Ok(out)
}

fn valid(cands: &[Candidate], action: Action) -> Option<(&Candidate, &Manifest, &Verification)> {
    cands.iter().find_map(|c| match &c.parsed {
        Ok((m, v)) if m.action == action && v.passed() => Some((c, m, v)),
        _ => None,
    })
}

async fn inbox_candidates(pipeline: &Pipeline, store: &Store, state: &LiveState, now: DateTime<Utc>) -> Result<Vec<Candidate>, Error> {
    let allowed = load_allowed_signers(pipeline).await?;
    check_inbox(pipeline, store, state, &allowed, now).await
}

async fn decide(pipeline: &Pipeline, store: &Store, state: &LiveState, now: DateTime<Utc>) -> Result<Plan, Error> {
    let mut plan = Plan {
        commit: None,
        manifest_text: None,
        readings: None,
        triggers: vec![],
        waiting: vec![],
        reasons: vec![],
    };
    // Going back to the trusted revision never depends on anything else being
    // readable: once the window has lapsed, an unreadable history or inbox
    // does not hold up the expiry.
    let lapsed = state.bounded.as_ref().is_some_and(|b| now >= b.not_after);
    let mut readings = None;
    if let Some(b) = &state.bounded {
        match live_readings(pipeline, store, b, now).await {
            Ok(r) => {
                // §7.1: a breached guardrail rolls back.
                let trig = triggers(&r, &b.guardrails);
                plan.readings = Some(r.clone());
                plan.triggers = trig.clone();
                let breached: Vec<&Trigger> = trig.iter().filter(|t| t.breached).collect();
                if !breached.is_empty() {
                    let mut c = base_commit(pipeline, state, now, Decision::Rollback);
                    c.reasons = breached
                        .iter()
                        .map(|t| {
                            format!(
                                "{} breached: reading {} > threshold {}",
                                t.guardrail,
                                t.reading.map_or("null".into(), |r| r.to_string()),
                                t.threshold
                            )
                        })
                        .collect();
                    c.readings = Some(r);
                    c.thresholds = Some(b.guardrails);
                    restore(&mut c, state);
                    plan.reasons = c.reasons.clone();
                    plan.commit = Some(c);
                    return Ok(plan);
                }
                readings = Some(r);
            }
            Err(e) if lapsed => {
                tracing::warn!(error = %e, "guardrail readings unavailable; the lapsed window expires regardless");
                plan.reasons.push(format!("guardrail readings unavailable: {e}"));
            }
            Err(e) => return Err(e),
        }
    }
    let cands = match inbox_candidates(pipeline, store, state, now).await {
        Ok(c) => c,
        Err(e) if lapsed => {
            tracing::warn!(error = %e, "approvals inbox unreadable; the lapsed window expires regardless");
            plan.reasons.push(format!("approvals inbox unreadable, no renewal considered: {e}"));
            vec![]
        }
        Err(e) => return Err(e),
    };
    plan.waiting = cands
        .iter()
        .filter_map(|c| {
            c.parsed
                .as_ref()
                .ok()
                .filter(|(_, v)| v.waiting)
                .map(|(m, _)| m.manifest_id.clone())
        })
        .collect();
    let with_manifest = |plan: &mut Plan, mut c: Commit, cand: &Candidate, m: &Manifest| {
        name_manifest(&mut c, m, &cand.sub);
        plan.manifest_text = Some(String::from_utf8_lossy(&m.bytes).into_owned());
        plan.commit = Some(c);
    };

    if let Some(b) = &state.bounded {
        let renewal = valid(&cands, Action::Renew);
        // §7.2: the window lapsed with no valid renewal.
        if now >= b.not_after && renewal.is_none() {
            let mut c = base_commit(pipeline, state, now, Decision::Expire);
            c.reasons = vec![format!(
                "window ended at {} without a valid renewal",
                b.not_after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )];
            c.reasons.append(&mut plan.reasons);
            c.readings = readings;
            c.thresholds = Some(b.guardrails);
            restore(&mut c, state);
            plan.reasons = c.reasons.clone();
            plan.commit = Some(c);
            return Ok(plan);
        }
        // §7.3: a valid revoke, else a valid renewal.
        if let Some((cand, m, v)) = valid(&cands, Action::Revoke) {
            let mut c = base_commit(pipeline, state, now, Decision::Revoke);
            c.reasons = vec![format!("revoked by {}", v.signers.signers.join(", "))];
            c.readings = readings;
            c.thresholds = Some(b.guardrails);
            restore(&mut c, state);
            c.signers = v.signers.signers.clone();
            plan.reasons = c.reasons.clone();
            with_manifest(&mut plan, c, cand, m);
            return Ok(plan);
        }
        if let Some((cand, m, v)) = renewal {
            let mut c = base_commit(pipeline, state, now, Decision::Renew);
            c.reasons = vec![format!(
                "window extended to {} by {}",
                m.not_after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                v.signers.signers.join(", ")
            )];
            c.readings = readings;
            c.thresholds = Some(b.guardrails);
            approve(&mut c, m, v, state, now);
            plan.reasons = c.reasons.clone();
            with_manifest(&mut plan, c, cand, m);
            return Ok(plan);
        }
    } else if let Some((cand, m, v)) = valid(&cands, Action::Activate) {
        // §7.4: a valid activation replaces the live trusted revision.
        let mut c = base_commit(pipeline, state, now, Decision::Activate);
        c.reasons = vec![format!(
            "approved by {} until {}",
            v.signers.signers.join(", "),
            m.not_after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )];
        approve(&mut c, m, v, state, now);
        plan.reasons = c.reasons.clone();
        with_manifest(&mut plan, c, cand, m);
        return Ok(plan);
    }

    // §7.5: reject the first manifest that fails a check (one that has not opened yet waits).
    for cand in &cands {
        let mut c = base_commit(pipeline, state, now, Decision::Reject);
        match &cand.parsed {
            Ok((_, v)) if v.waiting => continue,
            Ok((m, v)) => {
                c.failed_checks = v
                    .failed()
                    .iter()
                    .map(|f| FailedCheck {
                        check: f.name.as_str().into(),
                        detail: f.detail.clone(),
                    })
                    .collect();
                if c.failed_checks.is_empty() {
                    // Valid, but not applicable to what is live (e.g. a renewal while a trusted revision is live).
                    c.failed_checks.push(FailedCheck {
                        check: "action".into(),
                        detail: format!("a valid {} does not apply while {} is live", m.action.as_str(), state.live),
                    });
                }
                c.reasons = vec![format!(
                    "manifest {} rejected: {} check(s) failed",
                    m.manifest_id,
                    c.failed_checks.len()
                )];
                plan.reasons = c.reasons.clone();
                with_manifest(&mut plan, c, cand, m);
            }
            Err(why) => {
                c.failed_checks = vec![FailedCheck {
                    check: "format".into(),
                    detail: why.clone(),
                }];
                c.reasons = vec![format!("inbox object {} rejected: not a valid manifest", cand.sub.name)];
                c.inbox_object = Some(cand.sub.name.clone());
                plan.reasons = c.reasons.clone();
                plan.commit = Some(c);
            }
        }
        return Ok(plan);
    }
    Ok(plan)
}

/// Remove a handled manifest and its signature files from the inbox.
async fn remove_from_inbox(store: &Store, object: &str) -> Result<(), StoreError> {
    let path = ObjPath::from(object);
    let name = path.filename().unwrap_or_default().to_string();
    let parts: Vec<_> = path.parts().collect();
    let dir = ObjPath::from_iter(parts[..parts.len().saturating_sub(1)].iter().cloned());
    for meta in store.list_dir(Some(&dir)).await? {
        let file = meta.location.filename().unwrap_or_default();
        if file == name || is_signature_of(file, &name) {
            match store.delete(&meta.location).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

async fn active_for(store: &Store, pipeline: &Pipeline, state: &LiveState) -> Result<ActiveProfile, Error> {
    let profile = load_profile(store, &state.live).await?;
    let fallback = if state.trusted == state.live {
        profile.clone()
    } else {
        load_profile(store, &state.trusted).await?
    };
    Ok(ActiveProfile {
        schema: ACTIVE_SCHEMA.into(),
        cohort: pipeline.cohort.clone(),
        seq: state.head.as_ref().map_or(0, |h| h.0),
        commit_digest: state.head.as_ref().map(|h| h.1.clone()),
        decided_at: state.head.as_ref().map(|h| h.2),
        revision: state.live.clone(),
        profile: profile.to_value(),
        valid_until: state.bounded.as_ref().map(|b| b.not_after),
        bounded: state.bounded.is_some(),
        fallback_revision: state.trusted.clone(),
        fallback_profile: fallback.to_value(),
        guardrails: state.bounded.as_ref().map(|b| b.guardrails),
        manifest_id: state.bounded.as_ref().map(|b| b.manifest_id.clone()),
    })
}

/// Bring the derived objects in line with the log: every commit's decision
/// artifact, the active profile, and the head's inbox object removed.
async fn repair(store: &Store, pipeline: &Pipeline, state: &LiveState, commits: &[(Commit, Digest)]) -> Result<Vec<String>, Error> {
    let mut repaired = Vec::new();
    let existing: Vec<String> = store
        .list(&ObjPath::from(format!("artifacts/{}", pipeline.cohort)))
        .await?
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    for (c, d) in commits {
        let path = crate::artifacts::artifact_path(&c.cohort, c.seq, c.decision);
        if !existing.contains(&path.to_string()) {
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
    }
    let want = active_for(store, pipeline, state).await?;
    if read_active(store, &pipeline.cohort).await?.as_ref() != Some(&want) {
        put_active(store, &want).await?;
        repaired.push(crate::artifacts::active_path(&pipeline.cohort).to_string());
    }
    if let Some((head, _)) = commits.last() {
        if let Some(o) = &head.inbox_object {
            if store.get_opt(&ObjPath::from(o.as_str())).await?.is_some() {
                remove_from_inbox(store, o).await?;
                repaired.push(o.clone());
            }
        }
    }
    Ok(repaired)
}

fn refuse_backwards(pipeline: &Pipeline, state: &LiveState, now: DateTime<Utc>) -> Result<(), Error> {
    if let Some((seq, _, head_now)) = &state.head {
        if now + pipeline.policy.clock_skew < *head_now {
            return Err(CycleError::ClockWentBackwards {
                cohort: pipeline.cohort.clone(),
                now: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                head: head_now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                seq: *seq,
                skew: humantime::format_duration(pipeline.policy.clock_skew.to_std().unwrap_or_default()).to_string(),
            }
            .into());
        }
    }
    Ok(())
}

/// Write what a new commit derives: its decision artifact, the active profile,
/// and the handled manifest's removal from the inbox.
async fn after_commit(
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
        remove_from_inbox(store, o).await?;
    }
    Ok(())
}

/// Decide and commit one step for `now`; the decision, if any, is only
/// committed, not followed by its artifacts (the crash-injection point
/// tests use: the next cycle must repair).
pub async fn commit_only(pipeline: &Pipeline, store: &Store, now: DateTime<Utc>) -> Result<Option<Commit>, Error> {
    let (state, _) = read_log(pipeline, store).await?;
    refuse_backwards(pipeline, &state, now)?;
    let plan = decide(pipeline, store, &state, now).await?;
    if let Some(c) = &plan.commit {
        append(store, c).await?;
    }
    Ok(plan.commit)
}

/// One cycle at `now`. With `dry_run`, decide and report, write nothing.
pub async fn run(pipeline: &Pipeline, store: &Store, now: DateTime<Utc>, dry_run: bool) -> Result<CycleReport, Error> {
    for attempt in 1..=MAX_ATTEMPTS {
        let (state, commits) = read_log(pipeline, store).await?;
        refuse_backwards(pipeline, &state, now)?;
        let repaired = if dry_run {
            vec![]
        } else {
            repair(store, pipeline, &state, &commits).await?
        };
        let plan = decide(pipeline, store, &state, now).await?;
        let mut report = CycleReport {
            cohort: pipeline.cohort.clone(),
            now,
            decision: plan.commit.as_ref().map(|c| c.decision),
            seq: plan.commit.as_ref().map(|c| c.seq),
            live_before: state.live.clone(),
            live_after: plan.commit.as_ref().map_or(state.live.clone(), |c| c.live_revision.clone()),
            bounded: plan.commit.as_ref().map_or(state.bounded.is_some(), |c| c.valid_until.is_some()),
            valid_until: plan
                .commit
                .as_ref()
                .map_or(state.bounded.as_ref().map(|b| b.not_after), |c| c.valid_until),
            readings: plan.readings.clone(),
            triggers: plan.triggers.clone(),
            manifest_id: plan.commit.as_ref().and_then(|c| c.manifest_id.clone()),
            failed_checks: plan.commit.as_ref().map(|c| c.failed_checks.clone()).unwrap_or_default(),
            waiting: plan.waiting.clone(),
            repaired,
            reasons: plan.reasons.clone(),
            attempts: attempt,
            dry_run,
        };
        let Some(commit) = plan.commit else { return Ok(report) };
        if dry_run {
            report.seq = Some(commit.seq);
            return Ok(report);
        }
        match append(store, &commit).await {
            Ok(digest) => {
                after_commit(store, pipeline, &commit, &digest, plan.manifest_text, &state).await?;
                return Ok(report);
            }
            Err(LogError::VersionExists { .. }) => {
                tracing::info!(seq = commit.seq, attempt, "lost the commit race; re-reading the head");
                continue;
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

/// Break-glass: restore the trusted revision at once, recording who and why.
/// Returns `None` when a trusted revision is already live.
pub async fn break_glass(
    pipeline: &Pipeline,
    store: &Store,
    now: DateTime<Utc>,
    reason: &str,
    actor: &str,
) -> Result<Option<Commit>, Error> {
    for _ in 0..MAX_ATTEMPTS {
        let (state, commits) = read_log(pipeline, store).await?;
        refuse_backwards(pipeline, &state, now)?;
        repair(store, pipeline, &state, &commits).await?;
        if state.bounded.is_none() {
            return Ok(None);
        }
        let mut c = base_commit(pipeline, &state, now, Decision::BreakGlass);
        c.reasons = vec![reason.to_string()];
        c.actor = Some(actor.to_string());
        restore(&mut c, &state);
        match append(store, &c).await {
            Ok(digest) => {
                after_commit(store, pipeline, &c, &digest, None, &state).await?;
                return Ok(Some(c));
            }
            Err(LogError::VersionExists { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(CycleError::LostRace {
        cohort: pipeline.cohort.clone(),
        attempts: MAX_ATTEMPTS,
    }
    .into())
}

/// The guardrails in force and their latest readings, for `status`.
pub async fn current_readings(
    pipeline: &Pipeline,
    store: &Store,
    state: &LiveState,
    now: DateTime<Utc>,
) -> Result<Option<(Readings, Guardrails)>, Error> {
    match &state.bounded {
        Some(b) => Ok(Some((live_readings(pipeline, store, b, now).await?, b.guardrails))),
        None => Ok(None),
    }
}

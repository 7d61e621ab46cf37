//! The cycle's decisions (README "The cycle"), one pure function per rule,
//! tried in order from [`decide`]:
//!
//! 1. a breached guardrail rolls back ([`decide_rollback`]); then a blind
//!    window rolls back when `blind_rollback` is set ([`decide_blind`]);
//! 2. a lapsed window without a valid renewal expires ([`decide_expire`]);
//! 3. a valid revoke ([`decide_revoke`]), else a valid promotion
//!    ([`decide_promote`]), else a valid renewal ([`decide_renew`]);
//! 4. a valid activate replaces a live trusted revision ([`decide_activate`]);
//! 5. a manifest that fails a check is rejected ([`decide_reject`]);
//! 6. otherwise nothing changes.
//!
//! All reading happens before: [`DecideInputs`] holds the guardrail readings
//! and the verified inbox as `Result`s, so a failed read blocks only the
//! rules that need it: an unreadable history or inbox never holds up an
//! expiry, and an unreadable history never holds up a valid revoke. Going
//! back to trusted never depends on them.

use crate::approval::inbox::Submission;
use crate::approval::manifest::{Action, Manifest};
use crate::approval::signers::SignatureFile;
use crate::approval::Verification;
use crate::canonical::Digest;
use crate::error::Error;
use crate::pipeline::Pipeline;
use crate::release::artifacts::{triggers, Trigger};
use crate::release::log::{ApprovalWindow, Commit, Decision, FailedCheck, LiveState, Readings, SCHEMA};
use crate::release::readings::blind;
use chrono::{DateTime, Utc};

/// A waiting manifest and its verification (or why it could not be parsed).
pub struct Candidate {
    pub sub: Submission,
    pub parsed: Result<(Manifest, Verification), String>,
}

/// What the rules decide from: the live state, `now`, and what was read.
pub struct DecideInputs<'a> {
    pub pipeline: &'a Pipeline,
    pub state: &'a LiveState,
    pub now: DateTime<Utc>,
    /// Readings over the live window; `None` when nothing bounded is live.
    pub readings: Option<Result<Readings, Error>>,
    /// The inbox, each manifest verified, in deterministic order.
    pub inbox: Result<Vec<Candidate>, Error>,
}

/// A decision about to be committed, and what goes with it.
pub struct Plan {
    /// `None`: nothing changes.
    pub commit: Option<Commit>,
    /// The exact text of the manifest the commit acted on.
    pub manifest_text: Option<String>,
    /// The signature files that came with it.
    pub signatures: Vec<SignatureFile>,
    pub readings: Option<Readings>,
    pub triggers: Vec<Trigger>,
    /// Manifests whose window has not opened yet.
    pub waiting: Vec<String>,
    pub reasons: Vec<String>,
}

/// One rule's verdict: the commit and the manifest it acted on, if any.
pub struct Step {
    pub commit: Commit,
    pub manifest_text: Option<String>,
    pub signatures: Vec<SignatureFile>,
}

impl Step {
    fn plain(commit: Commit) -> Step {
        Step {
            commit,
            manifest_text: None,
            signatures: vec![],
        }
    }
    fn with_manifest(mut commit: Commit, cand: &Candidate, m: &Manifest) -> Step {
        commit.manifest_id = Some(m.manifest_id.clone());
        commit.manifest_digest = Some(m.digest.clone());
        commit.evidence_digest = m.evidence_digest.clone();
        commit.outcome_digest = m.outcome_digest.clone();
        commit.window = Some(ApprovalWindow {
            not_before: m.not_before,
            not_after: m.not_after,
        });
        commit.inbox_object = Some(cand.sub.name.clone());
        Step {
            commit,
            manifest_text: Some(String::from_utf8_lossy(&m.bytes).into_owned()),
            signatures: cand.sub.signatures.clone(),
        }
    }
}

impl DecideInputs<'_> {
    /// Has the live bounded revision's window lapsed?
    fn lapsed(&self) -> bool {
        self.state.bounded.as_ref().is_some_and(|b| self.now >= b.not_after)
    }

    /// The readings, if they could be taken.
    fn readings(&self) -> Option<&Readings> {
        self.readings.as_ref().and_then(|r| r.as_ref().ok())
    }

    /// Why the live window is blind, when it is (README "Blind windows").
    fn blind(&self) -> Option<String> {
        blind(self.pipeline, self.state.bounded.as_ref()?, self.readings()?, self.now)
    }

    /// The inbox, or none when it could not be read.
    fn candidates(&self) -> &[Candidate] {
        self.inbox.as_deref().unwrap_or(&[])
    }

    /// What could not be read, said in the decision's reasons.
    fn unreadable(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(Err(e)) = &self.readings {
            out.push(format!("guardrail readings unavailable: {e}"));
        }
        if let Err(e) = &self.inbox {
            out.push(format!("approvals inbox unreadable, no renewal considered: {e}"));
        }
        out
    }

    /// The first valid manifest of `action` in the inbox.
    fn valid(&self, action: Action) -> Option<(&Candidate, &Manifest, &Verification)> {
        self.candidates().iter().find_map(|c| match &c.parsed {
            Ok((m, v)) if m.action == action && v.passed() => Some((c, m, v)),
            _ => None,
        })
    }

    /// The first valid renewal or promotion, which rests on the live
    /// window's record: never over guardrails that could not be read, nor
    /// over a blind window.
    fn valid_on_record(&self, action: Action) -> Option<(&Candidate, &Manifest, &Verification)> {
        self.readings()?;
        if self.blind().is_some() {
            return None;
        }
        self.valid(action)
    }

    fn base_commit(&self, decision: Decision) -> Commit {
        base_commit(self.pipeline, self.state, self.now, decision)
    }

    /// A commit that ends the live bounded window, with the readings and thresholds it was held to.
    fn ending_commit(&self, decision: Decision, reasons: Vec<String>) -> Commit {
        let mut c = self.base_commit(decision);
        c.reasons = reasons;
        c.readings = self.readings().cloned();
        c.thresholds = self.state.bounded.as_ref().map(|b| b.guardrails);
        c
    }
}

/// A commit at the next seq carrying the live state unchanged.
pub fn base_commit(pipeline: &Pipeline, state: &LiveState, now: DateTime<Utc>, decision: Decision) -> Commit {
    let bounded = state.bounded.as_ref();
    Commit {
        schema: SCHEMA.into(),
        cohort: pipeline.cohort.clone(),
        seq: state.next_seq(),
        prev: state.head.as_ref().map(|h| h.digest.clone()),
        now,
        decision,
        prior_revision: state.live.clone(),
        live_revision: state.live.clone(),
        trusted_revision: state.trusted.clone(),
        valid_until: bounded.map(|b| b.not_after),
        activated_at: bounded.map(|b| b.activated_at),
        manifest_id: None,
        manifest_digest: None,
        evidence_digest: None,
        outcome_digest: None,
        signers: bounded.map(|b| b.signers.clone()).unwrap_or_default(),
        window: None,
        guardrails: bounded.map(|b| b.guardrails),
        readings: None,
        thresholds: None,
        failed_checks: vec![],
        reasons: vec![],
        actor: None,
        live_manifest_id: bounded.map(|b| b.manifest_id.clone()),
        inbox_object: None,
    }
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Restore the trusted revision: the state after a rollback, expiry, revoke or break-glass.
pub fn restore(c: &mut Commit, trusted: &Digest) {
    c.live_revision = trusted.clone();
    c.trusted_revision = trusted.clone();
    c.valid_until = None;
    c.activated_at = None;
    c.guardrails = None;
    c.signers = vec![];
    c.live_manifest_id = None;
}

/// Put the manifest's approval in force (activate or renew).
fn approve(c: &mut Commit, m: &Manifest, v: &Verification, inp: &DecideInputs) {
    c.live_revision = m.candidate_revision.clone();
    c.trusted_revision = inp.state.trusted.clone();
    c.valid_until = Some(m.not_after);
    c.activated_at = Some(match (&inp.state.bounded, m.action) {
        (Some(b), Action::Renew) => b.activated_at,
        _ => inp.now,
    });
    c.guardrails = m.guardrails;
    c.signers = v.signers.signers.clone();
    c.live_manifest_id = Some(m.manifest_id.clone());
}

/// Rule 1 (README "The cycle" 1, SPEC §7.1): live is bounded and a guardrail
/// is breached over the live window → roll back to its rollback revision.
pub fn decide_rollback(inp: &DecideInputs) -> Option<Step> {
    let b = inp.state.bounded.as_ref()?;
    let breached: Vec<Trigger> = triggers(inp.readings()?, &b.guardrails)
        .into_iter()
        .filter(|t| t.breached)
        .collect();
    if breached.is_empty() {
        return None;
    }
    let reasons = breached
        .iter()
        .map(|t| {
            let reading = t.reading.map_or("null".into(), |r| r.to_string());
            format!("{} breached: reading {reading} > threshold {}", t.guardrail, t.threshold)
        })
        .collect();
    let mut c = inp.ending_commit(Decision::Rollback, reasons);
    restore(&mut c, &inp.state.trusted);
    Some(Step::plain(c))
}

/// Rule 1b (README "Blind windows", SPEC §7): right after the guardrail
/// check, a blind live window (too few live-window rows once `data_grace`
/// has passed) is rolled back when the pipeline's `blind_rollback` is true.
pub fn decide_blind(inp: &DecideInputs) -> Option<Step> {
    let why = inp.blind()?;
    if !inp.pipeline.blindness.blind_rollback {
        return None;
    }
    let mut c = inp.ending_commit(Decision::Rollback, vec![format!("insufficient live data: {why}")]);
    restore(&mut c, &inp.state.trusted);
    Some(Step::plain(c))
}

/// Rule 2 (SPEC §7.2): live is bounded and `now >= not_after` with no valid
/// renewal → expire, restoring the rollback revision.
pub fn decide_expire(inp: &DecideInputs) -> Option<Step> {
    let b = inp.state.bounded.as_ref()?;
    // A valid renewal or promotion holds the expiry off only if it can
    // apply: never over a blind window.
    let held_off = inp.valid(Action::Renew).is_some() || inp.valid(Action::Promote).is_some();
    if !inp.lapsed() || (held_off && inp.blind().is_none()) {
        return None;
    }
    let mut reasons = vec![format!("window ended at {} without a valid renewal", rfc3339(&b.not_after))];
    reasons.extend(inp.unreadable());
    let mut c = inp.ending_commit(Decision::Expire, reasons);
    restore(&mut c, &inp.state.trusted);
    Some(Step::plain(c))
}

/// Rule 3a (SPEC §7.3): live is bounded and a valid revoke is waiting →
/// restore the rollback revision.
pub fn decide_revoke(inp: &DecideInputs) -> Option<Step> {
    inp.state.bounded.as_ref()?;
    let (cand, m, v) = inp.valid(Action::Revoke)?;
    let reasons = vec![format!("revoked by {}", v.signers.signers.join(", "))];
    let mut c = inp.ending_commit(Decision::Revoke, reasons);
    restore(&mut c, &inp.state.trusted);
    c.signers = v.signers.signers.clone();
    Some(Step::with_manifest(c, cand, m))
}

/// Rule 3b (SPEC §7.3): live is bounded and a valid renewal is waiting →
/// extend the window.
pub fn decide_renew(inp: &DecideInputs) -> Option<Step> {
    inp.state.bounded.as_ref()?;
    let (cand, m, v) = inp.valid_on_record(Action::Renew)?;
    let reasons = vec![format!(
        "window extended to {} by {}",
        rfc3339(&m.not_after),
        v.signers.signers.join(", ")
    )];
    let mut c = inp.ending_commit(Decision::Renew, reasons);
    approve(&mut c, m, v, inp);
    Some(Step::with_manifest(c, cand, m))
}

/// Rule 3c (README "Promotion", SPEC §6 promote): live is bounded and a
/// valid promotion is waiting → the bounded revision becomes the trusted
/// one: no window after it, and the rollback target of later approvals.
pub fn decide_promote(inp: &DecideInputs) -> Option<Step> {
    let b = inp.state.bounded.as_ref()?;
    let (cand, m, v) = inp.valid_on_record(Action::Promote)?;
    let reasons = vec![format!(
        "{} promoted to trusted by {}, replacing {}",
        b.revision,
        v.signers.signers.join(", "),
        inp.state.trusted
    )];
    let mut c = inp.ending_commit(Decision::Promote, reasons);
    restore(&mut c, &b.revision);
    c.signers = v.signers.signers.clone();
    Some(Step::with_manifest(c, cand, m))
}

/// Rule 4 (SPEC §7.4): live is trusted and a valid activate is waiting →
/// activate its candidate under its window and guardrails.
pub fn decide_activate(inp: &DecideInputs) -> Option<Step> {
    if inp.state.bounded.is_some() {
        return None;
    }
    let (cand, m, v) = inp.valid(Action::Activate)?;
    let mut c = inp.base_commit(Decision::Activate);
    c.reasons = vec![format!(
        "approved by {} until {}",
        v.signers.signers.join(", "),
        rfc3339(&m.not_after)
    )];
    approve(&mut c, m, v, inp);
    Some(Step::with_manifest(c, cand, m))
}

/// Rule 5 (SPEC §7.5, §6): reject the first waiting manifest that fails a
/// check, recording every failed check. One whose window has not opened yet,
/// or that only lacks signers, waits instead.
pub fn decide_reject(inp: &DecideInputs) -> Option<Step> {
    let cand = inp
        .candidates()
        .iter()
        .find(|c| !matches!(&c.parsed, Ok((_, v)) if v.may_become_valid()))?;
    let mut c = inp.base_commit(Decision::Reject);
    let Ok((m, v)) = &cand.parsed else {
        let why = cand.parsed.as_ref().err().cloned().unwrap_or_default();
        c.failed_checks = vec![FailedCheck {
            check: "format".into(),
            detail: why,
        }];
        c.reasons = vec![format!("inbox object {} rejected: not a valid manifest", cand.sub.name)];
        c.inbox_object = Some(cand.sub.name.clone());
        return Some(Step::plain(c));
    };
    c.failed_checks = v
        .failed()
        .iter()
        .map(|f| FailedCheck {
            check: f.name.as_str().into(),
            detail: f.detail.clone(),
        })
        .collect();
    let outcome_failed = c.failed_checks.iter().any(|f| f.check == "outcome");
    match (m.action, inp.blind()) {
        // A blind window cannot be renewed or promoted: check 11 `outcome` needs live data.
        (Action::Renew | Action::Promote, Some(why)) if !outcome_failed => c.failed_checks.push(FailedCheck {
            check: "outcome".into(),
            detail: format!("the live window is blind ({why}): it cannot be renewed or promoted"),
        }),
        // Valid, but not applicable to what is live (e.g. a renewal while a trusted revision is live).
        _ if c.failed_checks.is_empty() => c.failed_checks.push(FailedCheck {
            check: "action".into(),
            detail: format!("a valid {} does not apply while {} is live", m.action.as_str(), inp.state.live),
        }),
        _ => {}
    }
    c.reasons = vec![format!(
        "manifest {} rejected: {} check(s) failed",
        m.manifest_id,
        c.failed_checks.len()
    )];
    Some(Step::with_manifest(c, cand, m))
}

/// The rules after the guardrail check, in README order.
const RULES_AFTER_GUARDRAILS: [fn(&DecideInputs) -> Option<Step>; 7] = [
    decide_blind,
    decide_expire,
    decide_revoke,
    decide_promote,
    decide_renew,
    decide_activate,
    decide_reject,
];

/// Decide at most one step. A rule that needs an input that could not be
/// read does not fire; rules that restore the trusted revision (expire,
/// revoke) need neither the history nor, for expiry, the inbox. When no rule
/// fires and an input could not be read, that is the error (readings first):
/// nothing is decided on half the facts.
pub fn decide(inp: DecideInputs) -> Result<Plan, Error> {
    let mut plan = Plan {
        commit: None,
        manifest_text: None,
        signatures: vec![],
        readings: inp.readings().cloned(),
        triggers: match (inp.readings(), &inp.state.bounded) {
            (Some(r), Some(b)) => triggers(r, &b.guardrails),
            _ => vec![],
        },
        waiting: vec![],
        reasons: vec![],
    };
    if let Some(step) = decide_rollback(&inp) {
        return Ok(finish(plan, Some(step)));
    }
    plan.waiting = waiting_ids(inp.candidates());
    plan.reasons = inp.unreadable();
    if let Some(why) = inp.blind() {
        // Only reached when blind_rollback is false: say so, and that it cannot be renewed.
        plan.reasons
            .push(format!("the live window is blind ({why}): it cannot be renewed or promoted"));
    }
    if let Some(step) = RULES_AFTER_GUARDRAILS.iter().find_map(|rule| rule(&inp)) {
        for what in &plan.reasons {
            tracing::warn!(%what, "decided without it");
        }
        return Ok(finish(plan, Some(step)));
    }
    if let Some(Err(e)) = inp.readings {
        return Err(e);
    }
    inp.inbox?;
    Ok(plan)
}

fn waiting_ids(cands: &[Candidate]) -> Vec<String> {
    cands
        .iter()
        .filter_map(|c| {
            c.parsed
                .as_ref()
                .ok()
                .filter(|(_, v)| v.may_become_valid())
                .map(|(m, _)| m.manifest_id.clone())
        })
        .collect()
}

fn finish(mut plan: Plan, step: Option<Step>) -> Plan {
    if let Some(step) = step {
        plan.reasons = step.commit.reasons.clone();
        plan.commit = Some(step.commit);
        plan.manifest_text = step.manifest_text;
        plan.signatures = step.signatures;
    }
    plan
}

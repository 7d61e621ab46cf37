//! The checks an approval manifest must pass before it may change what
//! is live (README "The checks"), each a function of its own over one
//! [`CheckCtx`], evaluated and reported by name with the values it compared,
//! never short-circuited: a release manager sees every problem at once.
//!
//! [`verify`] does the reading (candidate profile, evidence packet,
//! signatures) once, then runs every entry of [`CHECKS`] in order. The check
//! functions are pure: no store, no clock.

use crate::approval::manifest::{Action, Manifest};
use crate::approval::signers::{tally, AllowedSigners, SignatureFile, SignerTally};
use crate::canonical::Digest;
use crate::error::Error;
use crate::evidence::outcome::OutcomeReport;
use crate::evidence::{EvidenceError, Packet};
use crate::pipeline::Pipeline;
use crate::profile::{Profile, ProfileError};
use crate::store::{layout, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeSet;

/// The checks of README "The checks", in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// 1. Enough distinct signers, each a listed principal in `approvers`, each signature valid.
    Signatures,
    /// 2. The manifest's cohort is the pipeline's.
    Cohort,
    /// 3. The candidate revision is stored and its bytes hash to its id (for renew and revoke: it is live).
    CandidateRevision,
    /// 4. The evidence packet is stored, hashes to its digest, and is for this cohort, this candidate and the live revision.
    Evidence,
    /// 5. The rollback revision is the trusted revision live now.
    RollbackRevision,
    /// 6. The window is open now, no longer than `max_window`, and `issued_at` is not in the future.
    Window,
    /// 7. The evidence is no older than `max_evidence_age` (by its history range end).
    EvidenceAge,
    /// 8. The manifest id was never used in this cohort's log.
    ManifestId,
    /// 9. Every protected class the packet shows regressed is acknowledged.
    AcknowledgedRegressions,
    /// 10. Guardrails are present and no looser than the pipeline's.
    Guardrails,
    /// Check 11, renew and promote: the outcome report of the current
    /// window is stored, hashes to `outcome_digest`, is fresh, has enough
    /// live data and shows no breached guardrail.
    Outcome,
    /// Check 12: a renewal stays within the renewal budget (fewer than
    /// `max_renewals` so far, at most `max_bounded_total` bounded after it).
    Budget,
}

impl CheckName {
    pub fn number(self) -> u8 {
        self as u8 + 1
    }
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Signatures => "signatures",
            CheckName::Cohort => "cohort",
            CheckName::CandidateRevision => "candidate_revision",
            CheckName::Evidence => "evidence",
            CheckName::RollbackRevision => "rollback_revision",
            CheckName::Window => "window",
            CheckName::EvidenceAge => "evidence_age",
            CheckName::ManifestId => "manifest_id",
            CheckName::AcknowledgedRegressions => "acknowledged_regressions",
            CheckName::Guardrails => "guardrails",
            CheckName::Outcome => "outcome",
            CheckName::Budget => "budget",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    /// Does not apply to this action (a revoke needs no evidence).
    NotApplicable,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub number: u8,
    pub name: CheckName,
    pub outcome: Outcome,
    /// The values compared.
    pub detail: String,
}

impl Check {
    fn new(name: CheckName, outcome: Outcome, detail: String) -> Check {
        Check {
            number: name.number(),
            name,
            outcome,
            detail,
        }
    }
    fn passed_if(name: CheckName, ok: bool, detail: String) -> Check {
        Check::new(name, if ok { Outcome::Passed } else { Outcome::Failed }, detail)
    }
}

/// Every check's result for one manifest at one `now`.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub manifest_id: String,
    pub action: Action,
    pub now: DateTime<Utc>,
    pub checks: Vec<Check>,
    pub signers: SignerTally,
    /// The window has not opened yet: the manifest waits rather than being rejected.
    pub waiting: bool,
    /// Every other check passed and every signature is valid, but too few
    /// distinct signers have signed yet: the manifest waits for more
    /// signature files until its window closes.
    pub awaiting_signers: bool,
    #[serde(skip)]
    pub packet: Option<Packet>,
}

impl Verification {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome != Outcome::Failed)
    }
    /// Not valid yet, but it may become valid: its window has not opened, or
    /// it waits for more signers. The cycle leaves it in the inbox.
    pub fn may_become_valid(&self) -> bool {
        !self.passed() && (self.waiting || self.awaiting_signers)
    }
    pub fn failed(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Failed).collect()
    }
    /// The result of one check, looked up by name. Every verification holds all twelve.
    pub fn check(&self, name: CheckName) -> &Check {
        self.checks
            .iter()
            .find(|c| c.name == name)
            .expect("every verification runs every check")
    }
}

/// What approval needs to know of the live state: the release side fills it
/// from its log (approval never reads the log itself).
#[derive(Clone, Copy, Debug)]
pub struct LiveView<'a> {
    /// The revision live now.
    pub live: &'a Digest,
    /// The trusted revision: live itself, or the fallback of the live bounded one.
    pub trusted: &'a Digest,
    /// The live bounded revision, if one is live.
    pub bounded: Option<&'a Digest>,
    /// Every manifest id the cohort's log has used.
    pub used_manifest_ids: &'a BTreeSet<String>,
    /// Renewals of the live bounded revision since its activation (0 when none is live).
    pub renewals: u32,
    /// When the live bounded revision was activated.
    pub bounded_since: Option<DateTime<Utc>>,
}

/// Everything the checks compare, read once.
pub struct CheckCtx<'a> {
    pub pipeline: &'a Pipeline,
    pub manifest: &'a Manifest,
    pub live: LiveView<'a>,
    pub now: DateTime<Utc>,
    pub signers: &'a SignerTally,
    /// How many signature files came with the manifest.
    pub signature_files: usize,
    /// The stored candidate profile, or why it is not usable.
    pub candidate: Result<Profile, String>,
    /// The stored evidence packet, or why there is none (a revoke needs none).
    pub packet: Result<Packet, String>,
    /// The stored outcome report (renew and promote), or why there is none.
    pub outcome: Result<OutcomeReport, String>,
}

impl CheckCtx<'_> {
    fn is_revoke(&self) -> bool {
        self.manifest.action == Action::Revoke
    }
    /// Renew and promote continue or keep a live bounded revision on its record so far.
    fn extends_live(&self) -> bool {
        matches!(self.manifest.action, Action::Renew | Action::Promote)
    }
}

/// The checks, in README order; [`verify`] runs every one.
pub const CHECKS: [fn(&CheckCtx) -> Check; 12] = [
    check_signatures,
    check_cohort,
    check_candidate_revision,
    check_evidence,
    check_rollback_revision,
    check_window,
    check_evidence_age,
    check_manifest_id,
    check_acknowledged_regressions,
    check_guardrails,
    check_outcome,
    check_budget,
];

pub(crate) fn fmt_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) fn fmt_duration(d: chrono::Duration) -> String {
    crate::pipeline::format_duration(d)
}

/// Check 1 (README "The checks" 1, SPEC §6.1): signatures over these
/// exact bytes, namespace scoregate-approval, by enough distinct listed
/// principals who are also approvers.
pub fn check_signatures(ctx: &CheckCtx) -> Check {
    let signers = ctx.signers;
    let required = ctx.pipeline.policy.required_signers as usize;
    let mut detail = format!("{} distinct signer(s) of {} required", signers.signers.len(), required);
    if !signers.signers.is_empty() {
        detail.push_str(&format!(": {}", signers.signers.join(", ")));
    }
    if ctx.signature_files == 0 {
        detail.push_str("; no signature files found");
    }
    for r in &signers.signatures {
        if let Some(f) = &r.fault {
            detail.push_str(&format!("; {}: {f}", r.file));
        }
    }
    Check::passed_if(CheckName::Signatures, signers.signers.len() >= required, detail)
}

/// Check 2 (SPEC §6.2): the manifest is for the pipeline's cohort.
pub fn check_cohort(ctx: &CheckCtx) -> Check {
    let (m, p) = (&ctx.manifest.cohort, &ctx.pipeline.cohort);
    Check::passed_if(
        CheckName::Cohort,
        m == p,
        format!("manifest cohort \"{m}\", pipeline cohort \"{p}\""),
    )
}

/// Check 3 (SPEC §6.3): the candidate is stored and hashes to its id; renew
/// and revoke name the live bounded revision.
pub fn check_candidate_revision(ctx: &CheckCtx) -> Check {
    let m = ctx.manifest;
    let (mut ok, mut detail) = match &ctx.candidate {
        Ok(p) => (
            true,
            format!("{} is stored ({}) and hashes to its id", m.candidate_revision, p.name()),
        ),
        Err(e) => (false, e.clone()),
    };
    if m.action != Action::Activate {
        match ctx.live.bounded {
            Some(b) if *b == m.candidate_revision => detail.push_str("; it is the live bounded revision"),
            Some(b) => {
                ok = false;
                detail.push_str(&format!("; but the live bounded revision is {b}"));
            }
            None => {
                ok = false;
                detail.push_str(&format!("; but nothing bounded is live (trusted {} is)", ctx.live.live));
            }
        }
    }
    Check::passed_if(CheckName::CandidateRevision, ok, detail)
}

/// Check 4 (SPEC §6.4, §6 renew): the evidence packet binds this cohort,
/// this candidate, and the right live side: the revision live now for an
/// activation, the trusted fallback for a renewal (see [`live_side_problem`]).
pub fn check_evidence(ctx: &CheckCtx) -> Check {
    if ctx.is_revoke() {
        return Check::new(CheckName::Evidence, Outcome::NotApplicable, "a revoke needs no evidence".into());
    }
    let p = match &ctx.packet {
        Ok(p) => p,
        Err(why) => return Check::new(CheckName::Evidence, Outcome::Failed, why.clone()),
    };
    let m = ctx.manifest;
    let mut problems = Vec::new();
    if p.cohort != m.cohort {
        problems.push(format!("packet is for cohort \"{}\", manifest for \"{}\"", p.cohort, m.cohort));
    }
    if p.candidate_revision != m.candidate_revision {
        problems.push(format!(
            "packet candidate {} is not the manifest's {}",
            p.candidate_revision, m.candidate_revision
        ));
    }
    problems.extend(live_side_problem(ctx, p));
    let detail = match (&m.evidence_digest, problems.is_empty()) {
        (Some(digest), true) => format!("{digest}: cohort, candidate and live side {} match", p.live_revision),
        _ => problems.join("; "),
    };
    Check::passed_if(CheckName::Evidence, problems.is_empty(), detail)
}

/// Which live side a packet must have (README "The checks" 4): for an
/// activation, the revision live now; for a renewal or promotion, the
/// bounded revision's trusted fallback (never the bounded revision itself),
/// on history that reaches into the live window. Says what is wrong in words.
fn live_side_problem(ctx: &CheckCtx, p: &Packet) -> Option<String> {
    let live = ctx.live;
    let action = ctx.manifest.action.as_str();
    if !ctx.extends_live() {
        return (&p.live_revision != live.live).then(|| {
            format!(
                "packet's live side is {}, but {} is live now: replay the candidate against the live revision (evidence against an earlier live revision is stale)",
                p.live_revision, live.live
            )
        });
    }
    if p.live_revision == p.candidate_revision {
        return Some(format!(
            "packet replays {} against itself, which shows nothing; a {action}'s evidence replays the bounded revision against its trusted fallback {} (`scoregate replay --candidate <bounded profile> --live <trusted profile>`)",
            p.candidate_revision, live.trusted
        ));
    }
    if &p.live_revision != live.trusted {
        return Some(format!(
            "packet's live side is {}, but a {action}'s live side is the trusted fallback {}",
            p.live_revision, live.trusted
        ));
    }
    let since = live.bounded_since?;
    (p.history.window_start_max < since).then(|| {
        format!(
            "packet's history ends {}, before the live window opened at {}: a {action}'s evidence must reach into the live window",
            fmt_time(&p.history.window_start_max),
            fmt_time(&since)
        )
    })
}

/// Check 5 (SPEC §6.5): the rollback target is the trusted revision live now.
pub fn check_rollback_revision(ctx: &CheckCtx) -> Check {
    let (m, live) = (ctx.manifest, ctx.live);
    let (ok, detail) = match (m.action, live.bounded) {
        (Action::Activate, Some(b)) => (
            false,
            format!(
                "bounded revision {b} is live, not a trusted one; rollback target would be {}",
                live.trusted
            ),
        ),
        (Action::Activate, None) => (
            &m.rollback_revision == live.trusted,
            format!(
                "rollback_revision {}, trusted revision live now {}",
                m.rollback_revision, live.trusted
            ),
        ),
        (_, Some(_)) => (
            &m.rollback_revision == live.trusted,
            format!(
                "rollback_revision {}, trusted fallback of the live revision {}",
                m.rollback_revision, live.trusted
            ),
        ),
        (_, None) => (false, format!("nothing bounded is live; the trusted revision {} is", live.trusted)),
    };
    Check::passed_if(CheckName::RollbackRevision, ok, detail)
}

/// Check 6 (SPEC §6.6): the window is open, no longer than `max_window`, and
/// `issued_at` is not in the future beyond the clock-skew allowance. A window
/// that has not opened yet fails here, and the manifest waits (README "The
/// cycle", decision 5).
pub fn check_window(ctx: &CheckCtx) -> Check {
    let (m, now, policy) = (ctx.manifest, ctx.now, &ctx.pipeline.policy);
    let mut problems = Vec::new();
    if now < m.not_before {
        problems.push(format!(
            "window opens at {}, now is {} (it waits)",
            fmt_time(&m.not_before),
            fmt_time(&now)
        ));
    }
    if now >= m.not_after {
        problems.push(format!("window closed at {}, now is {}", fmt_time(&m.not_after), fmt_time(&now)));
    }
    let length = m.not_after - m.not_before;
    if length > policy.max_window {
        problems.push(format!(
            "window is {} long, the pipeline allows {}",
            fmt_duration(length),
            fmt_duration(policy.max_window)
        ));
    }
    if m.issued_at > now + policy.clock_skew {
        problems.push(format!(
            "issued_at {} is in the future (now {}, skew allowance {})",
            fmt_time(&m.issued_at),
            fmt_time(&now),
            fmt_duration(policy.clock_skew)
        ));
    }
    let detail = if problems.is_empty() {
        format!(
            "{} ≤ now {} < {}, {} long",
            fmt_time(&m.not_before),
            fmt_time(&now),
            fmt_time(&m.not_after),
            fmt_duration(length)
        )
    } else {
        problems.join("; ")
    };
    Check::passed_if(CheckName::Window, problems.is_empty(), detail)
}

/// Check 7 (SPEC §6.7): the evidence is fresh, judged by the end of its history range.
pub fn check_evidence_age(ctx: &CheckCtx) -> Check {
    let name = CheckName::EvidenceAge;
    if ctx.is_revoke() {
        return Check::new(name, Outcome::NotApplicable, "a revoke needs no evidence".into());
    }
    let Ok(p) = &ctx.packet else {
        return Check::new(name, Outcome::Failed, "no valid evidence packet to date".into());
    };
    let max = ctx.pipeline.policy.max_evidence_age;
    let age = ctx.now - p.history.window_start_max;
    Check::passed_if(
        name,
        age <= max,
        format!(
            "history ends {}, {} before now; the pipeline allows {}",
            fmt_time(&p.history.window_start_max),
            fmt_duration(age),
            fmt_duration(max)
        ),
    )
}

/// Check 8 (SPEC §6.8): a manifest id is single use within the cohort's log.
pub fn check_manifest_id(ctx: &CheckCtx) -> Check {
    let id = &ctx.manifest.manifest_id;
    let used = ctx.live.used_manifest_ids.contains(id);
    let detail = if used {
        format!("{id} was already used in this cohort's log")
    } else {
        format!("{id} is unused")
    };
    Check::passed_if(CheckName::ManifestId, !used, detail)
}

/// Check 9 (SPEC §6.9): every protected class the packet shows regressed is acknowledged.
pub fn check_acknowledged_regressions(ctx: &CheckCtx) -> Check {
    let name = CheckName::AcknowledgedRegressions;
    if ctx.is_revoke() {
        return Check::new(name, Outcome::NotApplicable, "a revoke needs no evidence".into());
    }
    let Ok(p) = &ctx.packet else {
        return Check::new(name, Outcome::Failed, "no valid evidence packet to compare with".into());
    };
    let acknowledged = &ctx.manifest.acknowledged_regressions;
    let missing: Vec<&str> = p
        .protected_regressions
        .iter()
        .filter(|c| !acknowledged.contains(c))
        .map(String::as_str)
        .collect();
    let detail = if p.protected_regressions.is_empty() {
        "no protected class regressed".into()
    } else if missing.is_empty() {
        format!("regressed and acknowledged: {}", p.protected_regressions.join(", "))
    } else {
        format!("regressed but not acknowledged: {}", missing.join(", "))
    };
    Check::passed_if(name, missing.is_empty(), detail)
}

/// Check 10 (SPEC §6.10): guardrails may tighten the pipeline's limits, never loosen them.
pub fn check_guardrails(ctx: &CheckCtx) -> Check {
    let name = CheckName::Guardrails;
    let sets_none = matches!(ctx.manifest.action, Action::Revoke | Action::Promote);
    let g = match (&ctx.manifest.guardrails, sets_none) {
        (None, true) => {
            let detail = format!("a {} sets no guardrails", ctx.manifest.action.as_str());
            return Check::new(name, Outcome::NotApplicable, detail);
        }
        (None, false) => return Check::new(name, Outcome::Failed, "no [guardrails] table".into()),
        (Some(g), _) => g,
    };
    let p = &ctx.pipeline.guardrails;
    let mut looser = Vec::new();
    if g.max_protected_misses > p.max_protected_misses {
        looser.push(format!(
            "max_protected_misses {} > pipeline {}",
            g.max_protected_misses, p.max_protected_misses
        ));
    }
    if g.max_protected_signoff_p90_hours > p.max_protected_signoff_p90_hours {
        looser.push(format!(
            "max_protected_signoff_p90_hours {} > pipeline {}",
            g.max_protected_signoff_p90_hours, p.max_protected_signoff_p90_hours
        ));
    }
    if g.max_canary_misses > p.max_canary_misses {
        looser.push(format!(
            "max_canary_misses {} > pipeline {}",
            g.max_canary_misses, p.max_canary_misses
        ));
    }
    let detail = if looser.is_empty() {
        format!(
            "protected misses ≤ {}, protected signoff p90 ≤ {} h, canary misses ≤ {}: within the pipeline's limits",
            g.max_protected_misses, g.max_protected_signoff_p90_hours, g.max_canary_misses
        )
    } else {
        format!("looser than the pipeline: {}", looser.join("; "))
    };
    Check::passed_if(name, looser.is_empty(), detail)
}

/// Check 11 (SPEC §6.11; README "Outcome reports"): a renewal or promotion
/// binds the outcome report of the current window: stored and hashing to
/// `outcome_digest`, for this cohort, this revision and this window, no
/// older than `max_evidence_age` (by its end), covering at least
/// `min_live_items` live-window rows, and with no guardrail breached.
pub fn check_outcome(ctx: &CheckCtx) -> Check {
    let name = CheckName::Outcome;
    if !ctx.extends_live() {
        return Check::new(
            name,
            Outcome::NotApplicable,
            "only a renewal or promotion binds an outcome report".into(),
        );
    }
    let r = match &ctx.outcome {
        Ok(r) => r,
        Err(why) => return Check::new(name, Outcome::Failed, why.clone()),
    };
    let problems = outcome_problems(ctx, r);
    let detail = match problems.is_empty() {
        true => format!(
            "report {} of {} live-window items from {} to {}, no guardrail breached",
            ctx.manifest.outcome_digest.as_ref().map_or("?", |d| d.as_str()),
            r.data.live_items,
            fmt_time(&r.window.activated_at),
            fmt_time(&r.window.end)
        ),
        false => problems.join("; "),
    };
    Check::passed_if(name, problems.is_empty(), detail)
}

/// Everything check 11 finds wrong with the report `r`, in words.
fn outcome_problems(ctx: &CheckCtx, r: &OutcomeReport) -> Vec<String> {
    let mut out = Vec::new();
    if r.cohort != ctx.pipeline.cohort {
        out.push(format!(
            "report is for cohort \"{}\", the pipeline's is \"{}\"",
            r.cohort, ctx.pipeline.cohort
        ));
    }
    if Some(&r.revision) != ctx.live.bounded {
        out.push(format!("report is about {}, not the live bounded revision", r.revision));
    }
    if &r.trusted_revision != ctx.live.trusted {
        out.push(format!(
            "report compares with {}, not the trusted fallback {}",
            r.trusted_revision, ctx.live.trusted
        ));
    }
    if Some(r.window.activated_at) != ctx.live.bounded_since {
        out.push(format!(
            "report covers a window activated at {}, not the live one",
            fmt_time(&r.window.activated_at)
        ));
    }
    if r.window.end > ctx.now + ctx.pipeline.policy.clock_skew {
        out.push(format!(
            "report ends {}, after now {}: it reports on what has not happened yet",
            fmt_time(&r.window.end),
            fmt_time(&ctx.now)
        ));
    }
    let (age, max) = (ctx.now - r.window.end, ctx.pipeline.policy.max_evidence_age);
    if age > max {
        out.push(format!(
            "report ends {}, {} before now; the pipeline allows {}",
            fmt_time(&r.window.end),
            fmt_duration(age),
            fmt_duration(max)
        ));
    }
    let min = ctx.pipeline.blindness.min_live_items;
    if r.data.live_items < min {
        out.push(format!(
            "report covers {} live-window items, fewer than min_live_items {min}: the window is blind",
            r.data.live_items
        ));
    }
    let breached: Vec<_> = r.guardrails.iter().filter(|t| t.breached).collect();
    for t in &breached {
        let reading = t.reading.map_or("null".into(), |v| v.to_string());
        out.push(format!(
            "report shows {} breached: reading {reading} > threshold {}",
            t.guardrail, t.threshold
        ));
    }
    if r.breached && breached.is_empty() {
        out.push("report marks a guardrail breached".into());
    }
    out
}

/// Check 12 (SPEC §6.12; README "The renewal budget"): a renewal only while
/// the revision has had fewer than `max_renewals` renewals and stays bounded
/// at most `max_bounded_total` after it. Past its budget a temporary
/// revision expires on time, or is made trusted by signature: it never
/// quietly becomes permanent.
pub fn check_budget(ctx: &CheckCtx) -> Check {
    let name = CheckName::Budget;
    if ctx.manifest.action != Action::Renew {
        return Check::new(name, Outcome::NotApplicable, "only a renewal spends the budget".into());
    }
    let policy = &ctx.pipeline.policy;
    let Some(since) = ctx.live.bounded_since else {
        return Check::new(name, Outcome::Failed, "no bounded revision is live to renew".into());
    };
    let total = ctx.manifest.not_after - since;
    let renewals = ctx.live.renewals;
    let mut over = Vec::new();
    if renewals >= policy.max_renewals {
        over.push(format!(
            "{renewals} renewal(s) already, the pipeline allows {}",
            policy.max_renewals
        ));
    }
    if total > policy.max_bounded_total {
        over.push(format!(
            "bounded {} from activation at {} to not_after, the pipeline allows {}",
            fmt_duration(total),
            fmt_time(&since),
            fmt_duration(policy.max_bounded_total)
        ));
    }
    let detail = match over.is_empty() {
        true => format!(
            "renewal {} of {}; bounded {} of {} after it",
            renewals + 1,
            policy.max_renewals,
            fmt_duration(total),
            fmt_duration(policy.max_bounded_total)
        ),
        false => format!(
            "over the renewal budget: {}; the revision expires on time unless promoted",
            over.join("; ")
        ),
    };
    Check::passed_if(name, over.is_empty(), detail)
}

/// The checks whose failure `manifest draft` and `manifest submit` can
/// already foresee (README "Early warnings"): they will not change by the
/// time the window opens unless someone else acts first.
const FORESEEABLE: [CheckName; 10] = [
    CheckName::Cohort,
    CheckName::CandidateRevision,
    CheckName::Evidence,
    CheckName::RollbackRevision,
    CheckName::EvidenceAge,
    CheckName::ManifestId,
    CheckName::AcknowledgedRegressions,
    CheckName::Guardrails,
    CheckName::Outcome,
    CheckName::Budget,
];

/// Every failure of `v` the cycle would certainly reject `m` for, plus what
/// can be foreseen beyond `now`: a window longer than `max_window` or closed
/// already, and evidence that will be older than `max_evidence_age` when
/// the window opens. Signatures and a window not open yet are left out: they
/// may still come right.
pub fn foreseeable_failures(v: &Verification, m: &Manifest, pipeline: &Pipeline) -> Vec<Check> {
    let failed = |c: &&Check| c.outcome == Outcome::Failed;
    let mut out: Vec<Check> = v
        .checks
        .iter()
        .filter(failed)
        .filter(|c| FORESEEABLE.contains(&c.name))
        .cloned()
        .collect();
    let window = v.checks.iter().filter(failed).find(|c| c.name == CheckName::Window);
    if let Some(w) = window.filter(|_| m.not_after - m.not_before > pipeline.policy.max_window || v.now >= m.not_after) {
        out.push(w.clone());
    }
    let opens = m.not_before.max(v.now);
    let aging = v
        .packet
        .as_ref()
        .filter(|p| opens - p.history.window_start_max > pipeline.policy.max_evidence_age);
    if let (Some(p), false) = (aging, out.iter().any(|c| c.name == CheckName::EvidenceAge)) {
        out.push(Check::new(
            CheckName::EvidenceAge,
            Outcome::Failed,
            format!(
                "history ends {}: when the window opens at {} the evidence will be {} old; the pipeline allows {}",
                fmt_time(&p.history.window_start_max),
                fmt_time(&opens),
                fmt_duration(opens - p.history.window_start_max),
                fmt_duration(pipeline.policy.max_evidence_age)
            ),
        ));
    }
    out.sort_by_key(|c| c.number);
    out
}

/// Load the candidate profile, turning "not there" and "not right" into a
/// check failure; store failures (unreachable, denied) stay errors.
async fn stored_candidate(store: &Store, revision: &Digest) -> Result<Result<Profile, String>, Error> {
    let path = layout::profile(revision);
    match store.get(&path).await {
        Ok(bytes) => match Profile::parse_stored(path.as_ref(), &bytes, revision) {
            Ok(p) => Ok(Ok(p)),
            Err(e @ (ProfileError::RevisionMismatch { .. } | ProfileError::Json { .. } | ProfileError::Invalid { .. })) => {
                Ok(Err(e.to_string()))
            }
        },
        Err(StoreError::NotFound { .. }) => Ok(Err(format!("{revision} is not stored at {path}"))),
        Err(e) => Err(e.into()),
    }
}

/// Load a stored evidence packet, turning "not there" and "not right" into a check failure.
async fn stored_packet(store: &Store, cohort: &str, digest: &Digest) -> Result<Result<Packet, String>, Error> {
    let path = layout::evidence(cohort, digest);
    let bytes = match store.get(&path).await {
        Ok(b) => b,
        Err(StoreError::NotFound { .. }) => return Ok(Err(format!("no evidence packet stored at {path}"))),
        Err(e) => return Err(e.into()),
    };
    match Packet::parse_stored(path.as_ref(), &bytes, digest) {
        Ok(p) => Ok(Ok(p)),
        Err(e @ (EvidenceError::DigestMismatch { .. } | EvidenceError::Invalid { .. })) => Ok(Err(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// The outcome report a renewal or promotion names, or why there is none.
async fn manifest_outcome(store: &Store, pipeline: &Pipeline, manifest: &Manifest) -> Result<Result<OutcomeReport, String>, Error> {
    if !matches!(manifest.action, Action::Renew | Action::Promote) {
        return Ok(Err(format!("a {} binds no outcome report", manifest.action.as_str())));
    }
    let Some(digest) = &manifest.outcome_digest else {
        return Ok(Err(format!(
            "no outcome_digest: a {} binds the outcome report of the current window (`scoregate manifest draft --action {}` makes and stores it)",
            manifest.action.as_str(),
            manifest.action.as_str()
        )));
    };
    let path = layout::bound_report(&pipeline.cohort, digest);
    let bytes = match store.get(&path).await {
        Ok(b) => b,
        Err(StoreError::NotFound { .. }) => return Ok(Err(format!("no outcome report stored at {path}"))),
        Err(e) => return Err(e.into()),
    };
    Ok(OutcomeReport::parse_stored(path.as_ref(), &bytes, digest).map_err(|e| e.to_string()))
}

/// The packet a manifest names, or why there is none.
async fn manifest_packet(store: &Store, pipeline: &Pipeline, manifest: &Manifest) -> Result<Result<Packet, String>, Error> {
    match (&manifest.evidence_digest, manifest.action) {
        (_, Action::Revoke) => Ok(Err("a revoke needs no evidence".into())),
        (None, _) => Ok(Err("no evidence_digest".into())),
        (Some(digest), _) => stored_packet(store, &pipeline.cohort, digest).await,
    }
}

/// Run every check for `manifest` against the pipeline's store and the
/// cohort's live state at `now`. Store failures (unreachable, denied) are
/// errors; anything wrong with the manifest or what it names is a failed check.
#[allow(clippy::too_many_arguments)]
pub async fn verify(
    pipeline: &Pipeline,
    store: &Store,
    manifest: &Manifest,
    signatures: &[SignatureFile],
    allowed: &AllowedSigners,
    live: &LiveView<'_>,
    now: DateTime<Utc>,
) -> Result<Verification, Error> {
    let signers = tally(&manifest.bytes, signatures, &manifest.approvers, allowed, now);
    let ctx = CheckCtx {
        pipeline,
        manifest,
        live: *live,
        now,
        signers: &signers,
        signature_files: signatures.len(),
        candidate: stored_candidate(store, &manifest.candidate_revision).await?,
        packet: manifest_packet(store, pipeline, manifest).await?,
        outcome: manifest_outcome(store, pipeline, manifest).await?,
    };
    let checks: Vec<Check> = CHECKS.iter().map(|check| check(&ctx)).collect();
    let waiting = now < manifest.not_before;
    let awaiting_signers = now < manifest.not_after
        && signers.signatures.iter().all(|r| r.fault.is_none())
        && checks
            .iter()
            .all(|c| c.outcome != Outcome::Failed || c.name == CheckName::Signatures);
    let packet = ctx.packet.ok();
    Ok(Verification {
        manifest_id: manifest.manifest_id.clone(),
        action: manifest.action,
        now,
        checks,
        signers,
        waiting,
        awaiting_signers,
        packet,
    })
}

/// Read and parse the pipeline's `allowed_signers` file.
pub async fn load_allowed_signers(pipeline: &Pipeline) -> Result<AllowedSigners, Error> {
    let file = pipeline.policy.allowed_signers.display().to_string();
    let bytes = crate::store::read_input(&file)
        .await
        .map_err(|e| crate::approval::signers::SignersError::Read {
            file: file.clone(),
            message: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(AllowedSigners::parse(&file, &text)?)
}

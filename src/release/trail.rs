//! Re-deriving the log from signed input (README "A tamper-evident log").
//! A chained log proves only that nobody edited it without rewriting every
//! later commit; this module proves that every transition was allowed:
//!
//! - each commit against the live state before it ([`check_transitions`]):
//!   an expiry restores the trusted revision, a rejection changes nothing, an
//!   activation starts from a trusted revision, and so on;
//! - each approval (activate, renew, revoke) against the manifest text and
//!   signature files kept beside it ([`check_approval`]): the text hashes to
//!   the commit's digest, its revision, window and guardrails are the
//!   commit's, the window and guardrails are within the pipeline's limits,
//!   and the signatures verify against `allowed_signers` at the commit's `now`;
//! - derived objects never run ahead of the log ([`check_derived`]): an
//!   artifact or active profile naming a commit beyond the head, or one not
//!   in the chain, means the log was cut back.
//!
//! `audit verify` runs all of it over the whole log; the cycle runs it since
//! the last trusted state before it acts ([`check_before_acting`]) and
//! refuses, writing nothing, on any problem.

use crate::approval::inbox::read_submission;
use crate::approval::manifest::{Action, Manifest};
use crate::approval::signers::{tally, AllowedSigners, SignatureFault, SignatureFile};
use crate::canonical::{to_jcs, Digest};
use crate::error::Error;
use crate::pipeline::Pipeline;
use crate::release::artifacts::{read_active, ActiveProfile, DecisionArtifact, KeptSignature};
use crate::release::commit::CycleError;
use crate::release::log::chain::AuditProblem;
use crate::release::log::{Commit, Decision, LiveState};
use crate::store::{layout, Store, StoreError};

/// The manifest text and signature files an approval commit acted on.
#[derive(Clone, Debug, Default)]
pub struct Kept {
    pub manifest: Option<String>,
    pub signatures: Vec<SignatureFile>,
}

/// What a commit kept: its decision artifact, or, if a crash came before the
/// artifact was written, the inbox object it names (still there until the
/// artifact is). The artifact is read again when the inbox object is gone:
/// a concurrent cycle writes the artifact before it empties the inbox.
pub async fn kept_for(store: &Store, commit: &Commit) -> Result<Kept, StoreError> {
    if let Some(kept) = kept_in_artifact(store, commit).await? {
        return Ok(kept);
    }
    let inboxed = match &commit.inbox_object {
        Some(object) => read_submission(store, object).await?,
        None => None,
    };
    match inboxed {
        Some(s) => Ok(Kept {
            manifest: Some(String::from_utf8_lossy(&s.bytes).into_owned()),
            signatures: s.signatures,
        }),
        None => Ok(kept_in_artifact(store, commit).await?.unwrap_or_default()),
    }
}

async fn kept_in_artifact(store: &Store, commit: &Commit) -> Result<Option<Kept>, StoreError> {
    let path = layout::artifact(&commit.cohort, commit.seq, commit.decision.as_str());
    let Some(bytes) = store.get_opt(&path).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<DecisionArtifact>(&bytes).ok().map(|a| Kept {
        manifest: a.manifest,
        signatures: KeptSignature::files(&a.signatures),
    }))
}

fn bad(seq: u64, detail: String) -> AuditProblem {
    AuditProblem::BadTransition { seq, detail }
}

/// Each commit against the live state before it; `commits` in seq order,
/// starting at seq 1 with the pipeline's baseline live.
pub fn check_transitions(pipeline: &Pipeline, commits: &[(Commit, Digest)]) -> Vec<AuditProblem> {
    let mut problems = Vec::new();
    let mut state = LiveState::initial(pipeline);
    for (c, digest) in commits {
        if let Some(p) = transition_problem(&state, c).or_else(|| budget_problem(pipeline, &state, c)) {
            problems.push(p);
        }
        state = state.apply(c, digest.clone());
    }
    problems
}

/// A renewal past the renewal budget (README "The renewal budget"): more
/// than `max_renewals` since activation, or bounded longer than `max_bounded_total`.
fn budget_problem(pipeline: &Pipeline, before: &LiveState, c: &Commit) -> Option<AuditProblem> {
    let (Decision::Renew, Some(b), Some(until)) = (c.decision, &before.bounded, c.valid_until) else {
        return None;
    };
    let policy = &pipeline.policy;
    let renewals = b.renewals + 1;
    let total = until - b.activated_at;
    (renewals > policy.max_renewals || total > policy.max_bounded_total).then(|| {
        bad(
            c.seq,
            format!(
                "a renewal past the budget: renewal {renewals} (max_renewals {}), bounded {} h (max_bounded_total {} h)",
                policy.max_renewals,
                total.num_hours(),
                policy.max_bounded_total.num_hours()
            ),
        )
    })
}

/// What is wrong with `c` on top of `before`, if anything.
fn transition_problem(before: &LiveState, c: &Commit) -> Option<AuditProblem> {
    let seq = c.seq;
    if c.prior_revision != before.live {
        return Some(bad(
            seq,
            format!(
                "prior_revision {} is not the revision live before it, {}",
                c.prior_revision, before.live
            ),
        ));
    }
    let bounded_after = c.live_revision != c.trusted_revision;
    let complete = c.valid_until.is_some() && c.activated_at.is_some() && c.guardrails.is_some() && c.live_manifest_id.is_some();
    if bounded_after && !complete {
        return Some(bad(
            seq,
            "a bounded revision live without its window, guardrails or approval".into(),
        ));
    }
    match c.decision {
        Decision::Activate if before.bounded.is_some() => Some(bad(seq, "an activation while a bounded revision is live".into())),
        Decision::Activate if c.trusted_revision != before.trusted || !bounded_after => {
            Some(bad(seq, "an activation must keep the trusted revision as its fallback".into()))
        }
        Decision::Renew => match &before.bounded {
            Some(b) if c.live_revision == b.revision && c.trusted_revision == before.trusted && c.activated_at == Some(b.activated_at) => {
                None
            }
            _ => Some(bad(seq, "a renewal must extend the live bounded revision's window".into())),
        },
        Decision::Promote => match &before.bounded {
            Some(b) if c.live_revision == b.revision && c.trusted_revision == b.revision && c.valid_until.is_none() => None,
            _ => Some(bad(
                seq,
                "a promotion must make the live bounded revision trusted, with no window".into(),
            )),
        },
        Decision::Revoke | Decision::Expire | Decision::Rollback | Decision::BreakGlass => {
            if before.bounded.is_none() {
                Some(bad(seq, format!("a {} while nothing bounded is live", c.decision.as_str())))
            } else if c.live_revision != before.trusted || bounded_after || c.valid_until.is_some() {
                Some(bad(
                    seq,
                    format!("a {} must restore the trusted revision {}", c.decision.as_str(), before.trusted),
                ))
            } else {
                None
            }
        }
        Decision::Reject => {
            let after = before.apply(c, Digest::of(b""));
            let unchanged = after.live == before.live && after.trusted == before.trusted && after.bounded == before.bounded;
            (!unchanged).then(|| bad(seq, "a rejection changed what is live".into()))
        }
        Decision::Activate => None,
    }
}

/// An approval commit (activate, renew, revoke) against what it kept.
/// `allowed` is `None` when `allowed_signers` could not be read: the
/// signatures are then not re-checked (and the caller says so).
pub fn check_approval(
    pipeline: &Pipeline,
    before: &LiveState,
    c: &Commit,
    kept: &Kept,
    allowed: Option<&AllowedSigners>,
) -> Vec<AuditProblem> {
    let seq = c.seq;
    let unapproved = |detail: &str| {
        vec![AuditProblem::Unapproved {
            seq,
            detail: detail.into(),
        }]
    };
    let (Some(text), Some(digest)) = (&kept.manifest, &c.manifest_digest) else {
        return unapproved("no manifest text or digest is kept for it");
    };
    if Digest::of(text.as_bytes()) != *digest {
        return vec![AuditProblem::ManifestMismatch {
            seq,
            detail: format!(
                "the kept manifest text hashes to {}, the commit names {digest}",
                Digest::of(text.as_bytes())
            ),
        }];
    }
    let m = match Manifest::parse("kept manifest", text.as_bytes()) {
        Ok(m) => m,
        Err(e) => {
            return vec![AuditProblem::ManifestMismatch {
                seq,
                detail: e.to_string(),
            }]
        }
    };
    let mut problems: Vec<AuditProblem> = manifest_disagreements(pipeline, before, c, &m)
        .into_iter()
        .map(|detail| AuditProblem::ManifestMismatch { seq, detail })
        .collect();
    if let Some(allowed) = allowed {
        problems.extend(signature_problem(pipeline, c, &m, &kept.signatures, allowed));
    }
    problems
}

/// Where the manifest and the commit disagree, or the manifest exceeds the pipeline's limits.
fn manifest_disagreements(pipeline: &Pipeline, before: &LiveState, c: &Commit, m: &Manifest) -> Vec<String> {
    let mut out = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            out.push(what);
        }
    };
    expect(
        Some(&m.manifest_id) == c.manifest_id.as_ref(),
        format!("manifest id {} is not the commit's", m.manifest_id),
    );
    expect(m.cohort == pipeline.cohort, format!("manifest for cohort {}", m.cohort));
    expect(
        Decision::from_manifest(m.action) == c.decision,
        format!("a {} manifest on a {} commit", m.action.as_str(), c.decision.as_str()),
    );
    expect(
        m.candidate_revision == before.live || m.action == Action::Activate,
        format!("names {}, not the live revision", m.candidate_revision),
    );
    if m.action == Action::Revoke {
        return out;
    }
    expect(
        m.candidate_revision == c.live_revision,
        format!("approves {}, the commit made {} live", m.candidate_revision, c.live_revision),
    );
    expect(
        m.rollback_revision == before.trusted,
        format!("rollback revision {} is not the trusted {}", m.rollback_revision, before.trusted),
    );
    expect(
        m.outcome_digest == c.outcome_digest,
        "its outcome_digest is not the commit's".into(),
    );
    // A promotion leaves no window and no guardrails behind it.
    let (until, guardrails) = match m.action {
        Action::Promote => (None, None),
        _ => (Some(m.not_after), m.guardrails),
    };
    expect(until == c.valid_until, "its window's end is not the commit's valid_until".into());
    expect(guardrails == c.guardrails, "its guardrails are not the commit's".into());
    expect(
        m.not_before <= c.now && c.now < m.not_after,
        "the commit's now is outside its window".into(),
    );
    expect(
        m.not_after - m.not_before <= pipeline.policy.max_window,
        "its window is longer than max_window".into(),
    );
    let looser = m.guardrails.is_some_and(|g| {
        let p = &pipeline.guardrails;
        g.max_protected_misses > p.max_protected_misses
            || g.max_protected_signoff_p90_hours > p.max_protected_signoff_p90_hours
            || g.max_canary_misses > p.max_canary_misses
    });
    expect(!looser, "its guardrails are looser than the pipeline's".into());
    out
}

/// The signatures, verified at the commit's `now`, must reach the pipeline's threshold.
fn signature_problem(
    pipeline: &Pipeline,
    c: &Commit,
    m: &Manifest,
    sigs: &[SignatureFile],
    allowed: &AllowedSigners,
) -> Option<AuditProblem> {
    let t = tally(&m.bytes, sigs, &m.approvers, allowed, c.now);
    let required = pipeline.policy.required_signers as usize;
    if t.signers.len() >= required {
        return None;
    }
    let faults: Vec<String> = t
        .signatures
        .iter()
        .filter_map(|r| r.fault.as_ref().map(|f| format!("{}: {f}", r.file)))
        .collect();
    let detail = format!(
        "{} distinct valid signer(s) at {}, {required} required{}",
        t.signers.len(),
        c.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        if faults.is_empty() {
            "; no signature files kept".into()
        } else {
            format!("; {}", faults.join("; "))
        }
    );
    let unknown_keys = !t.signatures.is_empty()
        && t.signatures
            .iter()
            .all(|r| matches!(r.fault, Some(SignatureFault::UnknownKey { .. })));
    Some(if unknown_keys {
        AuditProblem::NoLongerVerifiable { seq: c.seq, detail }
    } else {
        AuditProblem::SignaturesFail { seq: c.seq, detail }
    })
}

/// The derived objects as they stood before the log was read: the decision
/// artifacts' names and the active profile. Taken first because an artifact
/// is written after its commit: anything seen here was committed by the time
/// the log is read, so a concurrent cycle's fresh artifact is never taken for
/// a cut-back log.
#[derive(Clone, Debug, Default)]
pub struct DerivedSnapshot {
    artifacts: Vec<String>,
    /// Outcome reports named by the commit that ended their window.
    reports: Vec<String>,
    active: Option<ActiveProfile>,
    active_path: String,
}

/// Read the derived objects; call before reading the log.
pub async fn derived_snapshot(store: &Store, pipeline: &Pipeline) -> Result<DerivedSnapshot, StoreError> {
    let artifacts = store
        .list(&layout::artifacts(&pipeline.cohort))
        .await?
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    let reports = store
        .list(&layout::reports(&pipeline.cohort))
        .await?
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    Ok(DerivedSnapshot {
        artifacts,
        reports,
        active: read_active(store, &pipeline.cohort).await?,
        active_path: layout::active(&pipeline.cohort).to_string(),
    })
}

/// Derived objects against the chain: decision artifacts and the active
/// profile must name commits the chain holds, by seq, decision and digest.
pub fn check_derived(commits: &[(Commit, Digest)], derived: &DerivedSnapshot) -> Vec<AuditProblem> {
    let mut problems = Vec::new();
    let head = commits.len() as u64;
    for path in &derived.artifacts {
        let path = path.clone();
        let Some((seq, decision)) = artifact_name(&path) else { continue };
        let named = commits.get((seq as usize).wrapping_sub(1)).map(|(c, _)| c.decision.as_str());
        if seq > head || seq == 0 {
            problems.push(AuditProblem::DerivedAhead {
                path,
                detail: format!("names commit {seq}, but the log ends at {head}: the log was cut back"),
            });
        } else if named != Some(decision.as_str()) {
            problems.push(AuditProblem::DerivedAhead {
                path,
                detail: format!(
                    "names a {decision} at commit {seq}, which is a {}: the log was cut back and rewritten",
                    named.unwrap_or("?")
                ),
            });
        }
    }
    problems.extend(reports_ahead(commits, derived));
    if let Some(a) = &derived.active {
        let path = derived.active_path.clone();
        let in_chain = match (a.seq, &a.commit_digest) {
            (0, None) => true,
            (s, Some(d)) => commits.get((s as usize).wrapping_sub(1)).is_some_and(|(_, cd)| cd == d),
            _ => false,
        };
        if a.seq > head || !in_chain {
            problems.push(AuditProblem::DerivedAhead {
                path,
                detail: format!(
                    "derives from commit {} ({}), which the chain does not hold: the log was cut back",
                    a.seq,
                    a.commit_digest.as_ref().map_or("no digest".into(), |d| d.to_string())
                ),
            });
        }
    }
    problems
}

/// Outcome reports named by a commit the chain does not hold, or by one
/// that ends no window: the log was cut back (and perhaps rewritten).
fn reports_ahead(commits: &[(Commit, Digest)], derived: &DerivedSnapshot) -> Vec<AuditProblem> {
    let head = commits.len() as u64;
    let mut problems = Vec::new();
    for path in &derived.reports {
        let name = path.rsplit('/').next().unwrap_or_default();
        let Some(stem) = name.strip_suffix(".json").or_else(|| name.strip_suffix(".html")) else {
            continue;
        };
        let Some((seq, "outcome")) = artifact_name(&format!("{stem}.json")).as_ref().map(|(s, d)| (*s, d.as_str())) else {
            continue;
        };
        let commit = commits.get((seq as usize).wrapping_sub(1)).map(|(c, _)| c.decision);
        let detail = match commit {
            None => format!("names commit {seq}, but the log ends at {head}: the log was cut back"),
            Some(d) if !d.ends_window() => {
                format!(
                    "names commit {seq} as the end of a window, but it is a {}: the log was cut back and rewritten",
                    d.as_str()
                )
            }
            Some(_) => continue,
        };
        problems.push(AuditProblem::DerivedAhead {
            path: path.clone(),
            detail,
        });
    }
    problems
}

/// `artifacts/<cohort>/<20 digits>-<decision>.json` → (seq, decision).
fn artifact_name(path: &str) -> Option<(u64, String)> {
    let name = path.rsplit('/').next()?.strip_suffix(".json")?;
    let (digits, decision) = name.split_once('-')?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(())?;
    Some((digits.parse().ok()?, decision.to_string()))
}

/// The active profile's embedded profiles must hash to the revision ids beside them.
pub async fn check_active_profiles(store: &Store, pipeline: &Pipeline) -> Result<Vec<AuditProblem>, StoreError> {
    let Some(a) = read_active(store, &pipeline.cohort).await? else {
        return Ok(vec![]);
    };
    let path = layout::active(&pipeline.cohort).to_string();
    let mut problems = Vec::new();
    for (field, value, revision) in [
        ("profile", &a.profile, &a.revision),
        ("fallback_profile", &a.fallback_profile, &a.fallback_revision),
    ] {
        let actual = Digest::of(&to_jcs(value));
        if &actual != revision {
            problems.push(AuditProblem::EmbeddedProfileMismatch {
                path: path.clone(),
                detail: format!("`{field}` hashes to {actual}, not to {revision}: edited"),
            });
        }
    }
    Ok(problems)
}

/// Every approval commit of `commits[from..]` against what it kept.
pub async fn check_approvals(
    store: &Store,
    pipeline: &Pipeline,
    commits: &[(Commit, Digest)],
    from: usize,
    allowed: Option<&AllowedSigners>,
) -> Result<Vec<AuditProblem>, StoreError> {
    let mut state = LiveState::initial(pipeline);
    let mut problems = Vec::new();
    for (i, (c, d)) in commits.iter().enumerate() {
        let approval = matches!(
            c.decision,
            Decision::Activate | Decision::Renew | Decision::Promote | Decision::Revoke
        );
        if i >= from && approval {
            problems.extend(check_approval(pipeline, &state, c, &kept_for(store, c).await?, allowed));
        }
        state = state.apply(c, d.clone());
    }
    Ok(problems)
}

/// The index of the first commit after the last one that left a trusted revision live.
pub fn since_last_trusted(commits: &[(Commit, Digest)]) -> usize {
    commits
        .iter()
        .rposition(|(c, _)| c.live_revision == c.trusted_revision)
        .map_or(0, |i| i + 1)
}

/// The cycle's gate: every transition, the approvals since the last trusted
/// state, and no derived object ahead of the log. Any problem refuses the
/// run (nothing written). `allowed_signers` that cannot be read skips the
/// signature re-check with a warning: going back to trusted never depends on it.
pub async fn check_before_acting(
    pipeline: &Pipeline,
    store: &Store,
    commits: &[(Commit, Digest)],
    allowed: Option<&AllowedSigners>,
    derived: &DerivedSnapshot,
) -> Result<(), Error> {
    let mut problems = check_transitions(pipeline, commits);
    problems.extend(check_approvals(store, pipeline, commits, since_last_trusted(commits), allowed).await?);
    problems.extend(check_derived(commits, derived));
    if problems.is_empty() {
        return Ok(());
    }
    Err(CycleError::Tampered {
        cohort: pipeline.cohort.clone(),
        problems: problems.iter().map(|p| p.to_string()).collect(),
    }
    .into())
}

//! The ten checks an approval manifest must pass before it may change what
//! is live (SPEC §6), each evaluated and reported by name with the values it
//! compared, never short-circuited: a release manager sees every problem at
//! once.

use crate::canonical::Digest;
use crate::error::Error;
use crate::evidence::{EvidenceError, Packet};
use crate::log::LiveState;
use crate::manifest::{Action, Manifest};
use crate::pipeline::Pipeline;
use crate::profile::ProfileError;
use crate::signers::{tally, AllowedSigners, SignatureFile, SignerTally};
use crate::steward::profile_path;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use object_store::path::Path as ObjPath;
use serde::Serialize;

/// The checks of SPEC §6, in order.
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
    #[serde(skip)]
    pub packet: Option<Packet>,
}

impl Verification {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome != Outcome::Failed)
    }
    pub fn failed(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Failed).collect()
    }
    pub fn check(&self, name: CheckName) -> &Check {
        &self.checks[name as usize]
    }
}

fn fmt_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn fmt_duration(d: chrono::Duration) -> String {
    match d.to_std() {
        Ok(std) => humantime::format_duration(std::time::Duration::from_secs(std.as_secs())).to_string(),
        Err(_) => format!(
            "-{}",
            humantime::format_duration(std::time::Duration::from_secs((-d).num_seconds().max(0) as u64))
        ),
    }
}

/// Load a stored evidence packet, turning "not there" and "not right" into a check failure.
async fn stored_packet(store: &Store, cohort: &str, digest: &Digest) -> Result<Result<Packet, String>, Error> {
    let path = ObjPath::from(Packet::store_path(cohort, digest));
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

/// Run all ten checks of SPEC §6 for `manifest` against the pipeline's store
/// and the cohort's live state at `now`. Store failures (unreachable, denied)
/// are errors; anything wrong with the manifest or what it names is a failed check.
#[allow(clippy::too_many_arguments)]
pub async fn verify(
    pipeline: &Pipeline,
    store: &Store,
    manifest: &Manifest,
    signatures: &[SignatureFile],
    allowed: &AllowedSigners,
    state: &LiveState,
    now: DateTime<Utc>,
) -> Result<Verification, Error> {
    let mut checks = Vec::with_capacity(10);
    let mut push = |name: CheckName, outcome: Outcome, detail: String| {
        checks.push(Check {
            number: name.number(),
            name,
            outcome,
            detail,
        })
    };
    let pass = |ok: bool| if ok { Outcome::Passed } else { Outcome::Failed };
    let is_revoke = manifest.action == Action::Revoke;

    // §6.1: signatures over these exact bytes, namespace scoregate-approval,
    // by distinct listed principals who are also approvers.
    let signers = tally(&manifest.bytes, signatures, &manifest.approvers, allowed, now);
    let required = pipeline.policy.required_signers as usize;
    let mut detail = format!("{} distinct signer(s) of {} required", signers.signers.len(), required);
    if !signers.signers.is_empty() {
        detail.push_str(&format!(": {}", signers.signers.join(", ")));
    }
    if signatures.is_empty() {
        detail.push_str("; no signature files found");
    }
    for r in &signers.signatures {
        if let Some(f) = &r.fault {
            detail.push_str(&format!("; {}: {f}", r.file));
        }
    }
    push(CheckName::Signatures, pass(signers.signers.len() >= required), detail);

    // §6.2: the pipeline's cohort.
    push(
        CheckName::Cohort,
        pass(manifest.cohort == pipeline.cohort),
        format!("manifest cohort \"{}\", pipeline cohort \"{}\"", manifest.cohort, pipeline.cohort),
    );

    // §6.3: the candidate is stored and hashes to its id; renew and revoke name the live bounded revision.
    let path = profile_path(&manifest.candidate_revision);
    let stored = match store.get(&path).await {
        Ok(bytes) => match crate::profile::Profile::parse_stored(path.as_ref(), &bytes, &manifest.candidate_revision) {
            Ok(p) => Ok(p),
            Err(e @ (ProfileError::RevisionMismatch { .. } | ProfileError::Json { .. } | ProfileError::Invalid { .. })) => {
                Err(e.to_string())
            }
        },
        Err(StoreError::NotFound { .. }) => Err(format!("{} is not stored at {path}", manifest.candidate_revision)),
        Err(e) => return Err(e.into()),
    };
    let (ok, mut detail) = match &stored {
        Ok(p) => (
            true,
            format!("{} is stored ({}) and hashes to its id", manifest.candidate_revision, p.name()),
        ),
        Err(e) => (false, e.clone()),
    };
    let mut ok3 = ok;
    if manifest.action != Action::Activate {
        match &state.bounded {
            Some(b) if b.revision == manifest.candidate_revision => detail.push_str("; it is the live bounded revision"),
            Some(b) => {
                ok3 = false;
                detail.push_str(&format!("; but the live bounded revision is {}", b.revision));
            }
            None => {
                ok3 = false;
                detail.push_str(&format!("; but nothing bounded is live (trusted {} is)", state.live));
            }
        }
    }
    push(CheckName::CandidateRevision, pass(ok3), detail);

    // §6.4: the evidence packet binds this cohort, this candidate, and the revision live now.
    let packet = match (&manifest.evidence_digest, is_revoke) {
        (_, true) => {
            push(CheckName::Evidence, Outcome::NotApplicable, "a revoke needs no evidence".into());
            None
        }
        (None, false) => {
            push(CheckName::Evidence, Outcome::Failed, "no evidence_digest".into());
            None
        }
        (Some(digest), false) => match stored_packet(store, &pipeline.cohort, digest).await? {
            Err(why) => {
                push(CheckName::Evidence, Outcome::Failed, why);
                None
            }
            Ok(p) => {
                let mut problems = Vec::new();
                if p.cohort != manifest.cohort {
                    problems.push(format!(
                        "packet is for cohort \"{}\", manifest for \"{}\"",
                        p.cohort, manifest.cohort
                    ));
                }
                if p.candidate_revision != manifest.candidate_revision {
                    problems.push(format!(
                        "packet candidate {} is not the manifest's {}",
                        p.candidate_revision, manifest.candidate_revision
                    ));
                }
                if p.live_revision != state.live {
                    problems.push(format!(
                        "packet was replayed against {} but {} is live now (stale approval)",
                        p.live_revision, state.live
                    ));
                }
                let ok = problems.is_empty();
                let detail = if ok {
                    format!("{digest}: cohort, candidate and live side {} match", p.live_revision)
                } else {
                    problems.join("; ")
                };
                push(CheckName::Evidence, pass(ok), detail);
                Some(p)
            }
        },
    };

    // §6.5: the rollback target is the trusted revision live now.
    let (ok, detail) = match (manifest.action, &state.bounded) {
        (Action::Activate, Some(b)) => (
            false,
            format!(
                "bounded revision {} is live, not a trusted one; rollback target would be {}",
                b.revision, state.trusted
            ),
        ),
        (Action::Activate, None) => (
            manifest.rollback_revision == state.trusted,
            format!(
                "rollback_revision {}, trusted revision live now {}",
                manifest.rollback_revision, state.trusted
            ),
        ),
        (_, Some(_)) => (
            manifest.rollback_revision == state.trusted,
            format!(
                "rollback_revision {}, trusted fallback of the live revision {}",
                manifest.rollback_revision, state.trusted
            ),
        ),
        (_, None) => (false, format!("nothing bounded is live; the trusted revision {} is", state.trusted)),
    };
    push(CheckName::RollbackRevision, pass(ok), detail);

    // §6.6: the window is open, not too long, and issued_at is not in the future (beyond the skew allowance).
    let waiting = now < manifest.not_before;
    let mut problems = Vec::new();
    if waiting {
        problems.push(format!(
            "window opens at {}, now is {} (it waits)",
            fmt_time(&manifest.not_before),
            fmt_time(&now)
        ));
    }
    if now >= manifest.not_after {
        problems.push(format!(
            "window closed at {}, now is {}",
            fmt_time(&manifest.not_after),
            fmt_time(&now)
        ));
    }
    let length = manifest.not_after - manifest.not_before;
    if length > pipeline.policy.max_window {
        problems.push(format!(
            "window is {} long, the pipeline allows {}",
            fmt_duration(length),
            fmt_duration(pipeline.policy.max_window)
        ));
    }
    if manifest.issued_at > now + pipeline.policy.clock_skew {
        problems.push(format!(
            "issued_at {} is in the future (now {}, skew allowance {})",
            fmt_time(&manifest.issued_at),
            fmt_time(&now),
            fmt_duration(pipeline.policy.clock_skew)
        ));
    }
    let detail = if problems.is_empty() {
        format!(
            "{} ≤ now {} < {}, {} long",
            fmt_time(&manifest.not_before),
            fmt_time(&now),
            fmt_time(&manifest.not_after),
            fmt_duration(length)
        )
    } else {
        problems.join("; ")
    };
    push(CheckName::Window, pass(problems.is_empty()), detail);

    // §6.7: the evidence is fresh, judged by the end of its history range.
    match (&packet, is_revoke) {
        (_, true) => push(CheckName::EvidenceAge, Outcome::NotApplicable, "a revoke needs no evidence".into()),
        (None, false) => push(CheckName::EvidenceAge, Outcome::Failed, "no valid evidence packet to date".into()),
        (Some(p), false) => {
            let age = now - p.history.window_start_max;
            push(
                CheckName::EvidenceAge,
                pass(age <= pipeline.policy.max_evidence_age),
                format!(
                    "history ends {}, {} before now; the pipeline allows {}",
                    fmt_time(&p.history.window_start_max),
                    fmt_duration(age),
                    fmt_duration(pipeline.policy.max_evidence_age)
                ),
            );
        }
    }

    // §6.8: single use.
    let used = state.used_manifest_ids.contains(&manifest.manifest_id);
    push(
        CheckName::ManifestId,
        pass(!used),
        if used {
            format!("{} was already used in this cohort's log", manifest.manifest_id)
        } else {
            format!("{} is unused", manifest.manifest_id)
        },
    );

    // §6.9: regressions acknowledged.
    match (&packet, is_revoke) {
        (_, true) => push(
            CheckName::AcknowledgedRegressions,
            Outcome::NotApplicable,
            "a revoke needs no evidence".into(),
        ),
        (None, false) => push(
            CheckName::AcknowledgedRegressions,
            Outcome::Failed,
            "no valid evidence packet to compare with".into(),
        ),
        (Some(p), false) => {
            let missing: Vec<&String> = p
                .protected_regressions
                .iter()
                .filter(|c| !manifest.acknowledged_regressions.contains(c))
                .collect();
            let detail = if p.protected_regressions.is_empty() {
                "no protected class regressed".into()
            } else if missing.is_empty() {
                format!("regressed and acknowledged: {}", p.protected_regressions.join(", "))
            } else {
                format!(
                    "regressed but not acknowledged: {}",
                    missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )
            };
            push(CheckName::AcknowledgedRegressions, pass(missing.is_empty()), detail);
        }
    }

    // §6.10: guardrails may tighten the pipeline's limits, never loosen them.
    match (&manifest.guardrails, is_revoke) {
        (None, true) => push(CheckName::Guardrails, Outcome::NotApplicable, "a revoke sets no guardrails".into()),
        (None, false) => push(CheckName::Guardrails, Outcome::Failed, "no [guardrails] table".into()),
        (Some(g), _) => {
            let p = &pipeline.guardrails;
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
            push(CheckName::Guardrails, pass(looser.is_empty()), detail);
        }
    }

    Ok(Verification {
        manifest_id: manifest.manifest_id.clone(),
        action: manifest.action,
        now,
        checks,
        signers,
        waiting,
        packet,
    })
}

/// Read and parse the pipeline's `allowed_signers` file.
pub async fn load_allowed_signers(pipeline: &Pipeline) -> Result<AllowedSigners, Error> {
    let file = pipeline.policy.allowed_signers.display().to_string();
    let bytes = crate::store::read_input(&file)
        .await
        .map_err(|e| crate::signers::SignersError::Read {
            file: file.clone(),
            message: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(AllowedSigners::parse(&file, &text)?)
}

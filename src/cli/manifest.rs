//! `scoregate manifest draft|sign|verify|submit`: the release manager's path
//! from an evidence packet to a signed approval in the store's inbox.

use super::common::{open_pipeline, parse_now, print_json, Global};
use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use scoregate::approval::inbox::{read_local, submit};
use scoregate::approval::manifest::{draft, new_manifest_id, signature_name, Action, DraftInput, Manifest};
use scoregate::approval::signers::{tally, NAMESPACE};
use scoregate::approval::{foreseeable_failures, load_allowed_signers, verify, Outcome, Verification};
use scoregate::evidence::outcome::OutcomeReport;
use scoregate::evidence::Packet;
use scoregate::release::log::{read_log, read_state};
use scoregate::release::outcome::{report_for, store_bound, window_at};
use scoregate::store::{output_target, read_input, StoreError};
use scoregate::{Error, ExitCode};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum ManifestCmd {
    /// Write an unsigned approval manifest filled from an evidence packet.
    Draft(DraftArgs),
    /// Sign a manifest with an (unencrypted) OpenSSH private key, as `ssh-keygen -Y sign` would.
    Sign {
        /// OpenSSH private key file.
        #[arg(long)]
        key: String,
        /// The manifest to sign; the signature goes beside it as FILE.sig (or FILE.<n>.sig).
        file: String,
    },
    /// Run every check of an approval against the pipeline's store, as the cycle would now.
    Verify {
        #[arg(long)]
        pipeline: PathBuf,
        /// Evaluate at this time (RFC 3339) instead of the wall clock.
        #[arg(long)]
        now: Option<String>,
        /// The manifest; its signatures are read from FILE.sig, FILE.<n>.sig beside it.
        file: String,
    },
    /// Put a signed manifest and its signatures into the store's approvals inbox.
    Submit {
        #[arg(long)]
        pipeline: PathBuf,
        #[arg(long)]
        now: Option<String>,
        /// Submit even when the cycle would certainly reject it now (for a
        /// manifest meant for a state that is not live yet).
        #[arg(long)]
        no_early_checks: bool,
        file: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ActionArg {
    Activate,
    Renew,
    Promote,
    Revoke,
}

#[derive(Args, Debug)]
pub struct DraftArgs {
    #[arg(long)]
    pipeline: PathBuf,
    /// The evidence packet (JSON) the approval binds; not needed to revoke.
    #[arg(long)]
    packet: Option<String>,
    /// Renew and promote: the outcome report (JSON, from `scoregate report
    /// --out`) to bind; default: the draft makes the report of the live
    /// window up to now and stores it.
    #[arg(long)]
    outcome: Option<String>,
    #[arg(long, value_enum, default_value = "activate")]
    action: ActionArg,
    /// How long the approval lasts, from not_before (e.g. 7d, 36h).
    #[arg(long, default_value = "7d")]
    window: String,
    /// When the window opens (RFC 3339); default: now.
    #[arg(long)]
    not_before: Option<String>,
    /// Release managers who will sign, as allowed_signers names them (repeat for several).
    #[arg(long = "approver", required = true)]
    approvers: Vec<String>,
    /// Where to write the manifest; default: <manifest_id>.toml here.
    #[arg(long)]
    out: Option<String>,
    /// The drafting time written as issued_at (RFC 3339); default: the wall clock.
    #[arg(long)]
    now: Option<String>,
    /// Draft even when the cycle would certainly reject it now (for a
    /// manifest meant for a state that is not live yet).
    #[arg(long)]
    no_early_checks: bool,
}

fn input(msg: String) -> Error {
    Error::Input(msg)
}

async fn draft_cmd(a: DraftArgs, g: &Global) -> Result<ExitCode> {
    let (pipeline, store) = open_pipeline(&a.pipeline)?;
    let now = parse_now(a.now.as_deref())?;
    let state = read_state(&pipeline, &store).await.map_err(Error::from)?;
    let window = scoregate::pipeline::parse_duration(&a.window)
        .ok_or_else(|| input(format!("--window {}: expected a duration such as 7d or 36h", a.window)))?;
    if window > pipeline.policy.max_window {
        return Err(input(format!(
            "--window {}: longer than the pipeline's max_window ({})",
            a.window,
            scoregate::pipeline::format_duration(pipeline.policy.max_window)
        ))
        .into());
    }
    let not_before = match &a.not_before {
        Some(t) => parse_now(Some(t))?,
        None => now,
    };
    let action = match a.action {
        ActionArg::Activate => Action::Activate,
        ActionArg::Renew => Action::Renew,
        ActionArg::Promote => Action::Promote,
        ActionArg::Revoke => Action::Revoke,
    };
    let packet = draft_packet(a.packet.as_deref(), action, &pipeline).await?;
    let (candidate, rollback) = match (action, &packet, &state.bounded) {
        // Live-as-rollback: the trusted revision the packet was replayed against.
        (Action::Activate, Some(p), _) => (p.candidate_revision.clone(), p.live_revision.clone()),
        (Action::Renew | Action::Promote, Some(p), _) => (p.candidate_revision.clone(), state.trusted.clone()),
        (Action::Revoke, _, Some(b)) => (b.revision.clone(), state.trusted.clone()),
        (Action::Revoke, _, None) => {
            return Err(input(format!(
                "nothing bounded is live in {}: there is nothing to revoke",
                pipeline.cohort
            ))
            .into())
        }
        _ => unreachable!("packet presence checked above"),
    };
    let outcome_digest = bound_outcome(a.outcome.as_deref(), action, &pipeline, &store, now).await?;
    let manifest_id = new_manifest_id();
    let out = a.out.clone().unwrap_or_else(|| format!("{manifest_id}.toml"));
    let d = DraftInput {
        file_name: out.rsplit('/').next().unwrap_or(&out).to_string(),
        manifest_id,
        action,
        cohort: pipeline.cohort.clone(),
        candidate_revision: candidate,
        candidate_name: packet.as_ref().map(|p| p.candidate_profile_name.clone()),
        rollback_revision: rollback,
        evidence_digest: packet.as_ref().map(Packet::digest),
        outcome_digest,
        approvers: a.approvers.clone(),
        issued_at: now,
        not_before,
        not_after: not_before + window,
        regressions: packet.as_ref().map(|p| p.protected_regressions.clone()).unwrap_or_default(),
        guardrails: matches!(action, Action::Activate | Action::Renew).then_some(pipeline.guardrails),
    };
    let text = draft(&d);
    // Early warning: never hand out a manifest id for a predictable rejection.
    if !a.no_early_checks {
        let manifest = Manifest::parse(&out, text.as_bytes()).map_err(Error::from)?;
        let allowed = load_allowed_signers(&pipeline).await?;
        let v = verify(&pipeline, &store, &manifest, &[], &allowed, &state.view(), now).await?;
        refuse_foreseeable(&v, &manifest, &pipeline, "nothing was written (--no-early-checks drafts it anyway)")?;
    }
    write_new(&out, text).await?;
    if g.json {
        print_json(
            &serde_json::json!({"manifest": out, "manifest_id": d.manifest_id, "action": action.as_str(), "not_before": d.not_before, "not_after": d.not_after}),
        )?;
    } else {
        outln!(
            "wrote {out} ({} for {}, manifest id {})",
            action.as_str(),
            pipeline.cohort,
            d.manifest_id
        );
        if !d.regressions.is_empty() {
            outln!(
                "the packet shows protected regressions ({}): list them in acknowledged_regressions to approve anyway",
                d.regressions.join(", ")
            );
        }
        outln!("sign it with your SSH key:\n  ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n {NAMESPACE} {out}");
    }
    Ok(ExitCode::Ok)
}

/// Refuse (exit 4) when the cycle would certainly reject `m`: README "Early
/// warnings". The message names each check as `manifest verify` would.
fn refuse_foreseeable(v: &Verification, m: &Manifest, pipeline: &scoregate::pipeline::Pipeline, outcome: &str) -> Result<()> {
    let failures = foreseeable_failures(v, m, pipeline);
    if failures.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = failures
        .iter()
        .map(|c| format!("check {} `{}`: {}", c.number, c.name.as_str(), c.detail))
        .collect();
    Err(Error::Rejected(format!(
        "manifest {} would be rejected by the cycle: {}; {outcome}",
        m.manifest_id,
        named.join("; ")
    ))
    .into())
}

/// The packet a draft binds (none for a revoke), checked to be for this cohort.
async fn draft_packet(arg: Option<&str>, action: Action, pipeline: &scoregate::pipeline::Pipeline) -> Result<Option<Packet>> {
    let packet = match arg {
        Some(p) => {
            let bytes = read_input(p).await.map_err(Error::from)?;
            Packet::parse(p, &bytes).map_err(Error::from)?
        }
        None if action == Action::Revoke => return Ok(None),
        None => return Err(input("--packet: an evidence packet is needed to activate, renew or promote".into()).into()),
    };
    if packet.cohort != pipeline.cohort {
        return Err(input(format!(
            "--packet: the packet is for cohort {}, the pipeline for {}",
            packet.cohort, pipeline.cohort
        ))
        .into());
    }
    Ok(Some(packet))
}

/// The outcome report a renewal or promotion binds (README "Outcome
/// reports"): the one given with `--outcome`, or the live window's up to
/// `now`, made here. Either way it is stored digest-addressed, where check
/// 11 looks for it.
async fn bound_outcome(
    arg: Option<&str>,
    action: Action,
    pipeline: &scoregate::pipeline::Pipeline,
    store: &scoregate::store::Store,
    now: DateTime<Utc>,
) -> Result<Option<scoregate::canonical::Digest>> {
    if !matches!(action, Action::Renew | Action::Promote) {
        return Ok(None);
    }
    let report = match arg {
        Some(f) => OutcomeReport::parse(f, &read_input(f).await.map_err(Error::from)?).map_err(Error::from)?,
        None => {
            let (_, commits) = read_log(pipeline, store).await.map_err(Error::from)?;
            let w = window_at(pipeline, &commits, None, now)?;
            if w.ended_by.is_some() {
                return Err(input(format!(
                    "nothing bounded is live in {}: there is no window to {}",
                    pipeline.cohort,
                    action.as_str()
                ))
                .into());
            }
            report_for(pipeline, store, &w).await?
        }
    };
    if report.cohort != pipeline.cohort {
        return Err(input(format!(
            "--outcome: the report is for cohort {}, the pipeline for {}",
            report.cohort, pipeline.cohort
        ))
        .into());
    }
    Ok(Some(store_bound(store, &report).await.map_err(Error::from)?))
}

/// Write a new file. Never overwrite a manifest someone may already have
/// signed: an existing --out is bad input (exit 3), not a lost commit race.
async fn write_new(out: &str, text: String) -> Result<()> {
    let (ostore, opath) = output_target(out).map_err(Error::from)?;
    match ostore.put_if_absent(&opath, text.into_bytes()).await {
        Ok(()) => Ok(()),
        Err(scoregate::store::StoreError::AlreadyExists { .. }) => Err(input(format!(
            "--out {out}: the file exists; a draft never overwrites one (remove it or choose another name)"
        ))
        .into()),
        Err(e) => Err(Error::from(e).into()),
    }
}

async fn sign_cmd(key: String, file: String, g: &Global) -> Result<ExitCode> {
    let key_bytes = read_input(&key).await.map_err(Error::from)?;
    let private =
        ssh_key::PrivateKey::from_openssh(&key_bytes).map_err(|e| input(format!("--key {key}: not an OpenSSH private key: {e}")))?;
    if private.is_encrypted() {
        return Err(input(format!(
            "--key {key}: the key is passphrase-protected; sign with `ssh-keygen -Y sign -f {key} -n {NAMESPACE} {file}` instead"
        ))
        .into());
    }
    let (store, path) = output_target(&file).map_err(Error::from)?;
    let message = store.get(&path).await.map_err(Error::from)?;
    Manifest::parse(&file, &message).map_err(Error::from)?;
    let sig = private
        .sign(NAMESPACE, ssh_key::HashAlg::Sha512, &message)
        .map_err(|e| input(format!("signing with {key}: {e}")))?;
    let pem = sig
        .to_pem(ssh_key::LineEnding::LF)
        .map_err(|e| input(format!("encoding the signature: {e}")))?;
    let name = path.filename().unwrap_or_default().to_string();
    let mut n = 0;
    let written = loop {
        let sig_name = signature_name(&name, n);
        let sig_target = match file.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{sig_name}"),
            None => sig_name.clone(),
        };
        let (sstore, spath) = output_target(&sig_target).map_err(Error::from)?;
        match sstore.put_if_absent(&spath, pem.clone().into_bytes()).await {
            Ok(()) => break sig_target,
            Err(StoreError::AlreadyExists { .. }) => n += 1,
            Err(e) => return Err(Error::from(e).into()),
        }
    };
    if g.json {
        print_json(
            &serde_json::json!({"signature": written, "key": private.public_key().fingerprint(ssh_key::HashAlg::Sha256).to_string()}),
        )?;
    } else {
        outln!(
            "wrote {written} (key {})",
            private.public_key().fingerprint(ssh_key::HashAlg::Sha256)
        );
    }
    Ok(ExitCode::Ok)
}

fn print_verification(v: &Verification) {
    outln!(
        "manifest {} ({}) at {}",
        v.manifest_id,
        v.action.as_str(),
        v.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    for c in &v.checks {
        let mark = match c.outcome {
            Outcome::Passed => "passed",
            Outcome::Failed => "FAILED",
            Outcome::NotApplicable => "n/a",
        };
        outln!("  {:>2}. {:<26} {:<7} {}", c.number, c.name.as_str(), mark, c.detail);
    }
}

async fn verify_cmd(pipeline: PathBuf, now: Option<String>, file: String, g: &Global) -> Result<ExitCode> {
    let (pipeline, store) = open_pipeline(&pipeline)?;
    let now: DateTime<Utc> = parse_now(now.as_deref())?;
    let sub = read_local(&file).await.map_err(Error::from)?;
    let manifest = sub.parse().map_err(Error::from)?;
    let allowed = load_allowed_signers(&pipeline).await?;
    let state = read_state(&pipeline, &store).await.map_err(Error::from)?;
    let v = verify(&pipeline, &store, &manifest, &sub.signatures, &allowed, &state.view(), now).await?;
    if g.json {
        print_json(&serde_json::json!({"valid": v.passed(), "waiting": v.waiting, "verification": v}))?;
    } else {
        print_verification(&v);
        if v.passed() {
            outln!("valid: the cycle would {} it now", v.action.as_str());
        } else if v.waiting {
            outln!("not valid yet: its window has not opened (the cycle leaves it waiting)");
        } else if v.awaiting_signers {
            outln!("not valid yet: it needs more signers (the cycle leaves it waiting until its window closes)");
        } else {
            outln!("not valid: {} check(s) failed", v.failed().len());
        }
    }
    Ok(if v.passed() { ExitCode::Ok } else { ExitCode::Rejected })
}

async fn submit_cmd(pipeline: PathBuf, now: Option<String>, no_early_checks: bool, file: String, g: &Global) -> Result<ExitCode> {
    let (pipeline, store) = open_pipeline(&pipeline)?;
    let now = parse_now(now.as_deref())?;
    let sub = read_local(&file).await.map_err(Error::from)?;
    let manifest = sub.parse().map_err(Error::from)?;
    if manifest.cohort != pipeline.cohort {
        return Err(Error::Rejected(format!(
            "manifest {file} is for cohort {}, the pipeline for {}",
            manifest.cohort, pipeline.cohort
        ))
        .into());
    }
    // Signatures only: the window and the bindings are the cycle's to check.
    // Signers may submit one at a time; every signature given must be valid.
    let allowed = load_allowed_signers(&pipeline).await?;
    let t = tally(&manifest.bytes, &sub.signatures, &manifest.approvers, &allowed, now);
    let required = pipeline.policy.required_signers as usize;
    let faults: Vec<String> = t
        .signatures
        .iter()
        .filter_map(|r| r.fault.as_ref().map(|f| format!("{}: {f}", r.file)))
        .collect();
    if t.signers.is_empty() || !faults.is_empty() {
        return Err(Error::Rejected(format!(
            "manifest {file}: {} distinct valid signer(s), {required} required{}{}; nothing was submitted",
            t.signers.len(),
            if sub.signatures.is_empty() {
                "; no signature files beside it"
            } else {
                ""
            },
            if faults.is_empty() {
                String::new()
            } else {
                format!("; {}", faults.join("; "))
            }
        ))
        .into());
    }
    if !no_early_checks {
        let state = read_state(&pipeline, &store).await.map_err(Error::from)?;
        let v = verify(&pipeline, &store, &manifest, &sub.signatures, &allowed, &state.view(), now).await?;
        refuse_foreseeable(
            &v,
            &manifest,
            &pipeline,
            "nothing was submitted (--no-early-checks submits it anyway)",
        )?;
    }
    let path = submit(&store, &pipeline.cohort, &manifest, &sub.signatures)
        .await
        .map_err(Error::from)?;
    if g.json {
        print_json(
            &serde_json::json!({"submitted": path.to_string(), "manifest_id": manifest.manifest_id, "signers": t.signers, "required_signers": required}),
        )?;
    } else {
        outln!(
            "submitted {} to {}/{path} (signed by {})",
            manifest.manifest_id,
            store.name(),
            t.signers.join(", ")
        );
        if t.signers.len() < required {
            outln!(
                "{} of {required} required signers so far: it waits in the inbox for more until its window closes \
                 (each signer submits their own .sig the same way)",
                t.signers.len()
            );
        }
        outln!(
            "the next cycle checks it and {}s it if every check passes",
            manifest.action.as_str()
        );
    }
    Ok(ExitCode::Ok)
}

pub async fn run(cmd: ManifestCmd, g: &Global) -> Result<ExitCode> {
    match cmd {
        ManifestCmd::Draft(a) => draft_cmd(a, g).await,
        ManifestCmd::Sign { key, file } => sign_cmd(key, file, g).await,
        ManifestCmd::Verify { pipeline, now, file } => verify_cmd(pipeline, now, file, g).await,
        ManifestCmd::Submit {
            pipeline,
            now,
            no_early_checks,
            file,
        } => submit_cmd(pipeline, now, no_early_checks, file, g).await,
    }
}

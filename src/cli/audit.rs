//! `scoregate audit log|verify`: who approved what, when, for which window;
//! and a walk of the commit chain that names any gap, edit, reordering or
//! missing artifact.

use super::common::{open_pipeline, print_json, Global};
use anyhow::Result;
use clap::Subcommand;
use scoregate::release::audit::verify_store;
use scoregate::release::log::{read_all, Commit};
use scoregate::{Error, ExitCode};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Every decision: approvals with their signers and windows, renewals, revocations, rollbacks with trigger values, rejections.
    Log {
        #[arg(long)]
        pipeline: PathBuf,
    },
    /// Walk the chain; exit 8 if anything is missing, edited or out of order.
    Verify {
        #[arg(long)]
        pipeline: PathBuf,
    },
    /// Lifecycle statistics: every bounded window, how it ended, expiry lateness, rollback latency.
    Stats {
        #[arg(long)]
        pipeline: PathBuf,
        #[arg(long)]
        now: Option<String>,
    },
}

fn short(d: &scoregate::canonical::Digest) -> String {
    format!("sha256:{}", d.short())
}

pub async fn run(cmd: AuditCmd, g: &Global) -> Result<ExitCode> {
    match cmd {
        AuditCmd::Log { pipeline } => log_cmd(pipeline, g).await,
        AuditCmd::Verify { pipeline } => verify_cmd(pipeline, g).await,
        AuditCmd::Stats { pipeline, now } => stats_cmd(pipeline, now, g).await,
    }
}

/// `audit log`: every decision. On a log that does not verify, the problems
/// come first (on stderr with `--json`, whose stdout stays the commit list)
/// and the exit code is 8: a forged log is never printed as if it were sound.
async fn log_cmd(pipeline: PathBuf, g: &Global) -> Result<ExitCode> {
    let (pipeline, store) = open_pipeline(&pipeline)?;
    let report = verify_store(&pipeline, &store).await?;
    let commits = read_all(&store, &pipeline.cohort).await.map_err(Error::from)?;
    let parsed: Vec<_> = commits.iter().filter_map(|c| c.commit.as_ref().ok()).collect();
    if !report.ok() {
        let head = format!(
            "{}: THE LOG DOES NOT VERIFY, {} problem(s); what follows cannot be trusted:",
            pipeline.cohort,
            report.problems.len()
        );
        if g.json {
            eprintln!("{head}");
            report.problems.iter().for_each(|p| eprintln!("  {p}"));
        } else {
            outln!("{head}");
            report.problems.iter().for_each(|p| outln!("  {p}"));
            outln!();
        }
    }
    if g.json {
        print_json(&parsed)?;
    } else if parsed.is_empty() {
        outln!(
            "{}: no decisions yet; the baseline {} is live",
            pipeline.cohort,
            pipeline.policy.baseline_revision
        );
    }
    if !g.json {
        parsed.iter().for_each(|c| print_commit(c));
    }
    Ok(if report.ok() { ExitCode::Ok } else { ExitCode::AuditFailed })
}

/// `audit stats` (README "Lifecycle statistics"): from the verified log,
/// every bounded window and how it ended; guardrail rollbacks' latency from
/// the history.
async fn stats_cmd(pipeline: PathBuf, now: Option<String>, g: &Global) -> Result<ExitCode> {
    use scoregate::release::stats::{rollback_latency, shares, windows_of};
    let (pipeline, store) = open_pipeline(&pipeline)?;
    let now = super::common::parse_now(now.as_deref())?;
    let (_, commits) = scoregate::release::log::read_log(&pipeline, &store).await.map_err(Error::from)?;
    let commits: Vec<Commit> = commits.into_iter().map(|(c, _)| c).collect();
    let mut windows = windows_of(&commits, now);
    if windows
        .iter()
        .any(|w| w.ending == scoregate::release::stats::Ending::RolledBackGuardrail)
    {
        let h = scoregate::release::readings::live_history(&pipeline, &store).await?;
        let prefix = object_store::path::Path::from(pipeline.history.as_str());
        let arrivals = store
            .list(&prefix)
            .await
            .map_err(Error::from)?
            .into_iter()
            .map(|m| (m.location.to_string(), m.last_modified))
            .collect();
        rollback_latency(&pipeline, &h, &arrivals, &mut windows);
    }
    let shares = shares(&windows);
    if g.json {
        let shares: Vec<_> = shares
            .iter()
            .map(|(k, (n, f))| serde_json::json!({"ending": k, "windows": n, "share": f}))
            .collect();
        print_json(&serde_json::json!({"cohort": pipeline.cohort, "now": now, "windows": windows, "endings": shares}))?;
        return Ok(ExitCode::Ok);
    }
    let t = |d: &chrono::DateTime<chrono::Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let secs = |s: Option<i64>| s.map_or("—".to_string(), |s| format!("{s} s"));
    outln!("{}: {} bounded window(s)", pipeline.cohort, windows.len());
    for w in &windows {
        outln!(
            "#{:<4} {}  from {}  renewals {}  bounded {:.1} h  {}  expiry late {}  rollback latency {} (from the object's arrival {})",
            w.activated_seq,
            short(&w.revision),
            t(&w.activated_at),
            w.renewals,
            w.bounded_seconds as f64 / 3600.0,
            w.ending.as_str(),
            secs(w.expiry_lateness_seconds),
            secs(w.rollback_latency_seconds),
            secs(w.rollback_latency_from_object_seconds)
        );
    }
    for (ending, (n, share)) in &shares {
        outln!("  {:<38} {n:>4}  {:>5.1}%", ending, share * 100.0);
    }
    Ok(ExitCode::Ok)
}

/// One decision, as `audit log` prints it.
fn print_commit(c: &Commit) {
    let t = |d: &chrono::DateTime<chrono::Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    outln!(
        "#{:<4} {}  {:<11} {} → {}",
        c.seq,
        t(&c.now),
        c.decision.as_str(),
        short(&c.prior_revision),
        short(&c.live_revision)
    );
    if let Some(id) = &c.manifest_id {
        let window = c
            .window
            .as_ref()
            .map_or(String::new(), |w| format!(", window {} → {}", t(&w.not_before), t(&w.not_after)));
        outln!("       manifest {id}{window}");
    }
    if !c.signers.is_empty()
        && matches!(
            c.decision,
            scoregate::release::log::Decision::Activate
                | scoregate::release::log::Decision::Renew
                | scoregate::release::log::Decision::Revoke
        )
    {
        outln!("       signed by {}", c.signers.join(", "));
    }
    if let (Some(r), Some(g)) = (&c.readings, &c.thresholds) {
        for tr in scoregate::release::artifacts::triggers(r, g) {
            outln!(
                "       {} {} / {}{}",
                tr.guardrail,
                tr.reading.map_or("—".into(), |v| format!("{v:.2}")),
                tr.threshold,
                if tr.breached { " BREACHED" } else { "" }
            );
        }
    }
    for f in &c.failed_checks {
        outln!("       failed {}: {}", f.check, f.detail);
    }
    if let Some(a) = &c.actor {
        outln!("       by {a}");
    }
    for r in &c.reasons {
        outln!("       {r}");
    }
}

/// `audit verify`: every problem, exit 8 if there is any.
async fn verify_cmd(pipeline: PathBuf, g: &Global) -> Result<ExitCode> {
    let (pipeline, store) = open_pipeline(&pipeline)?;
    let report = verify_store(&pipeline, &store).await?;
    if g.json {
        print_json(&serde_json::json!({"ok": report.ok(), "report": report}))?;
    } else if report.ok() {
        outln!(
            "{}: {} commits, chain intact, every artifact present; head {}",
            pipeline.cohort,
            report.commits,
            report.head.as_deref().unwrap_or("none")
        );
    } else {
        outln!(
            "{}: {} problem(s) in {} commits:",
            pipeline.cohort,
            report.problems.len(),
            report.commits
        );
        for p in &report.problems {
            outln!("  {p}");
        }
    }
    Ok(if report.ok() { ExitCode::Ok } else { ExitCode::AuditFailed })
}

//! `scoregate cycle`: the scheduled job. One `now`, at most one commit.

use super::common::{open_pipeline, parse_now, print_json, Global};
use anyhow::Result;
use clap::Args;
use scoregate::release::cycle::{run as run_cycle, Mode};
use scoregate::ExitCode;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CycleArgs {
    #[arg(long)]
    pipeline: PathBuf,
    /// Decide as of this time (RFC 3339) instead of the wall clock.
    #[arg(long)]
    now: Option<String>,
    /// Decide and print; write nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(a: CycleArgs, g: &Global) -> Result<ExitCode> {
    let (pipeline, store) = open_pipeline(&a.pipeline)?;
    let now = parse_now(a.now.as_deref())?;
    let mode = if a.dry_run { Mode::DryRun } else { Mode::Commit };
    let r = run_cycle(&pipeline, &store, now, mode).await?;
    if g.json {
        print_json(&r)?;
    } else {
        let when = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let prefix = if r.dry_run { "dry run: would" } else { "cycle:" };
        match r.decision {
            None => outln!(
                "{} {when}: nothing changes; {} stays live{}",
                pipeline.cohort,
                r.live_after,
                if r.bounded { " (bounded)" } else { " (trusted)" }
            ),
            Some(d) => outln!(
                "{} {when}: {prefix} {} (seq {}); live {} → {}",
                pipeline.cohort,
                d.as_str(),
                r.seq.unwrap_or(0),
                r.live_before,
                r.live_after
            ),
        }
        for reason in &r.reasons {
            outln!("  {reason}");
        }
        for f in &r.failed_checks {
            outln!("  failed {}: {}", f.check, f.detail);
        }
        for t in &r.triggers {
            outln!(
                "  guardrail {:<34} reading {:>8}  threshold {:>6}{}",
                t.guardrail,
                t.reading.map_or("—".into(), |v| format!("{v:.2}")),
                t.threshold,
                if t.breached { "  BREACHED" } else { "" }
            );
        }
        for w in &r.waiting {
            outln!("  manifest {w} waits for its window to open");
        }
        for p in &r.repaired {
            outln!("  brought up to date: {p}");
        }
    }
    Ok(if r.dry_run { ExitCode::Ok } else { r.exit_code() })
}

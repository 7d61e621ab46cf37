//! `scoregate rollback`: break-glass. Restores the trusted revision at once
//! and records who ran it and why; needs no signature.

use super::common::{open_pipeline, parse_now, print_json, Global};
use anyhow::Result;
use clap::Args;
use scoregate::release::cycle::{break_glass, BreakGlass};
use scoregate::ExitCode;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct RollbackArgs {
    #[arg(long)]
    pipeline: PathBuf,
    /// Why: recorded in the commit and the audit log.
    #[arg(long)]
    reason: String,
    /// Who is running it; default: the user name ($USER).
    #[arg(long)]
    actor: Option<String>,
    #[arg(long)]
    now: Option<String>,
}

pub async fn run(a: RollbackArgs, g: &Global) -> Result<ExitCode> {
    if a.reason.trim().is_empty() {
        return Err(scoregate::Error::Input("--reason: say why you are rolling back".into()).into());
    }
    let (pipeline, store) = open_pipeline(&a.pipeline)?;
    let now = parse_now(a.now.as_deref())?;
    let actor = a
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "unknown".into());
    let done = break_glass(&pipeline, &store, now, &a.reason, &actor).await?;
    if g.json {
        print_json(&done)?;
    } else {
        match &done {
            BreakGlass::Restored { commit: c } => outln!(
                "{}: rolled back {} → {} (seq {}), by {actor}: {}",
                pipeline.cohort,
                c.prior_revision,
                c.live_revision,
                c.seq,
                a.reason
            ),
            BreakGlass::AlreadyTrusted => outln!("{}: a trusted revision is already live; nothing to roll back", pipeline.cohort),
            BreakGlass::Incident { record } => {
                outln!(
                    "{}: the log is broken; the baseline {} is now the active profile (no commit was made)",
                    pipeline.cohort,
                    record.restored_revision
                );
                outln!("problem: {}", record.problem);
                outln!("incident record: {}/{}", store.name(), record.path);
                for step in &record.next_steps {
                    outln!("next: {step}");
                }
            }
        }
    }
    Ok(match done {
        BreakGlass::AlreadyTrusted => ExitCode::Ok,
        BreakGlass::Restored { .. } | BreakGlass::Incident { .. } => ExitCode::RolledBack,
    })
}

//! `scoregate audit log|verify`: who approved what, when, for which window;
//! and a walk of the commit chain that names any gap, edit, reordering or
//! missing artifact.

use super::common::{open_pipeline, print_json, Global};
use anyhow::Result;
use clap::Subcommand;
use scoregate::release::audit::verify_store;
use scoregate::release::log::read_all;
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
}

fn short(d: &scoregate::canonical::Digest) -> String {
    format!("sha256:{}", d.short())
}

pub async fn run(cmd: AuditCmd, g: &Global) -> Result<ExitCode> {
    match cmd {
        AuditCmd::Log { pipeline } => {
            let (pipeline, store) = open_pipeline(&pipeline)?;
            let commits = read_all(&store, &pipeline.cohort).await.map_err(Error::from)?;
            let parsed: Vec<_> = commits.iter().filter_map(|c| c.commit.as_ref().ok()).collect();
            if g.json {
                print_json(&parsed)?;
                return Ok(ExitCode::Ok);
            }
            if parsed.is_empty() {
                println!(
                    "{}: no decisions yet; the baseline {} is live",
                    pipeline.cohort, pipeline.policy.baseline_revision
                );
            }
            for c in parsed {
                let t = |d: &chrono::DateTime<chrono::Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                println!(
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
                    println!("       manifest {id}{window}");
                }
                if !c.signers.is_empty()
                    && matches!(
                        c.decision,
                        scoregate::release::log::Decision::Activate
                            | scoregate::release::log::Decision::Renew
                            | scoregate::release::log::Decision::Revoke
                    )
                {
                    println!("       signed by {}", c.signers.join(", "));
                }
                if let (Some(r), Some(g)) = (&c.readings, &c.thresholds) {
                    for tr in scoregate::release::artifacts::triggers(r, g) {
                        println!(
                            "       {} {} / {}{}",
                            tr.guardrail,
                            tr.reading.map_or("—".into(), |v| format!("{v:.2}")),
                            tr.threshold,
                            if tr.breached { " BREACHED" } else { "" }
                        );
                    }
                }
                for f in &c.failed_checks {
                    println!("       failed {}: {}", f.check, f.detail);
                }
                if let Some(a) = &c.actor {
                    println!("       by {a}");
                }
                for r in &c.reasons {
                    println!("       {r}");
                }
            }
            Ok(ExitCode::Ok)
        }
        AuditCmd::Verify { pipeline } => {
            let (pipeline, store) = open_pipeline(&pipeline)?;
            let report = verify_store(&pipeline, &store).await?;
            if g.json {
                print_json(&serde_json::json!({"ok": report.ok(), "report": report}))?;
            } else if report.ok() {
                println!(
                    "{}: {} commits, chain intact, every artifact present; head {}",
                    pipeline.cohort,
                    report.commits,
                    report.head.as_deref().unwrap_or("none")
                );
            } else {
                println!(
                    "{}: {} problem(s) in {} commits:",
                    pipeline.cohort,
                    report.problems.len(),
                    report.commits
                );
                for p in &report.problems {
                    println!("  {p}");
                }
            }
            Ok(if report.ok() { ExitCode::Ok } else { ExitCode::AuditFailed })
        }
    }
}

//! `scoregate status`: what is live, for how long, the guardrail readings
//! against their thresholds, and the manifests waiting in the inbox.

use super::common::{open_pipeline, parse_now, print_json, Global};
use anyhow::Result;
use clap::Args;
use scoregate::approval::inbox::waiting;
use scoregate::approval::{load_allowed_signers, verify};
use scoregate::release::artifacts::triggers;
use scoregate::release::log::read_state;
use scoregate::release::readings::current_readings;
use scoregate::{Error, ExitCode};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[arg(long)]
    pipeline: PathBuf,
    #[arg(long)]
    now: Option<String>,
}

pub async fn run(a: StatusArgs, g: &Global) -> Result<ExitCode> {
    let (pipeline, store) = open_pipeline(&a.pipeline)?;
    let now = parse_now(a.now.as_deref())?;
    let state = read_state(&pipeline, &store).await.map_err(Error::from)?;
    let readings = current_readings(&pipeline, &store, &state, now).await?;
    let allowed = load_allowed_signers(&pipeline).await?;
    let mut inbox = Vec::new();
    for sub in waiting(&store, &pipeline.cohort).await.map_err(Error::from)? {
        let entry = match sub.parse() {
            Ok(m) => {
                let v = verify(&pipeline, &store, &m, &sub.signatures, &allowed, &state.view(), now).await?;
                let status = if v.passed() {
                    "valid"
                } else if v.waiting {
                    "waiting"
                } else if v.awaiting_signers {
                    "awaiting signers"
                } else {
                    "invalid"
                };
                serde_json::json!({"manifest_id": m.manifest_id, "action": m.action.as_str(), "status": status,
                    "failed": v.failed().iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), "not_before": m.not_before})
            }
            Err(e) => serde_json::json!({"object": sub.name, "status": "malformed", "error": e.to_string()}),
        };
        inbox.push(entry);
    }
    let b = state.bounded.as_ref();
    if g.json {
        print_json(&serde_json::json!({
            "cohort": pipeline.cohort, "now": now, "live_revision": state.live, "bounded": b.is_some(),
            "trusted_revision": state.trusted, "valid_until": b.map(|b| b.not_after),
            "seconds_left": b.map(|b| (b.not_after - now).num_seconds()), "manifest_id": b.map(|b| b.manifest_id.clone()),
            "signers": b.map(|b| b.signers.clone()), "activated_at": b.map(|b| b.activated_at),
            "readings": readings.as_ref().map(|(r, _)| r), "triggers": readings.as_ref().map(|(r, g)| triggers(r, g)),
            "head_seq": state.head.as_ref().map(|h| h.seq), "waiting_manifests": inbox,
        }))?;
    } else {
        outln!("cohort    {}", pipeline.cohort);
        match b {
            None => outln!("live      {} (trusted)", state.live),
            Some(b) => {
                let left = b.not_after - now;
                outln!(
                    "live      {} (bounded, approved by {}, manifest {})",
                    state.live,
                    b.signers.join(", "),
                    b.manifest_id
                );
                outln!(
                    "window    {} → {} ({})",
                    b.activated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    b.not_after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    if left > chrono::Duration::zero() {
                        format!(
                            "{} left",
                            humantime::format_duration(std::time::Duration::from_secs(left.num_seconds() as u64))
                        )
                    } else {
                        "lapsed: the next cycle expires it".into()
                    }
                );
                outln!("fallback  {} (trusted)", state.trusted);
            }
        }
        if let Some((r, g)) = &readings {
            outln!("guardrails over {} live-window items:", r.items);
            for t in triggers(r, g) {
                outln!(
                    "  {:<34} {:>8} / {:<6}{}",
                    t.guardrail,
                    t.reading.map_or("—".into(), |v| format!("{v:.2}")),
                    t.threshold,
                    if t.breached { " BREACHED" } else { "" }
                );
            }
        }
        outln!(
            "log head  {}",
            state.head.as_ref().map_or("no commits yet".into(), |h| format!("seq {}", h.seq))
        );
        if inbox.is_empty() {
            outln!("inbox     empty");
        }
        for e in &inbox {
            outln!(
                "inbox     {} {} {}",
                e["manifest_id"].as_str().or(e["object"].as_str()).unwrap_or("?"),
                e["action"].as_str().unwrap_or(""),
                e["status"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::Ok)
}

//! `scoregate status`: what is live (by revision and profile name), for how
//! long, the last decision and its reason, the guardrail readings against
//! their thresholds, the renewal budget left, and the manifests waiting in
//! the inbox.

use super::common::{open_pipeline, parse_now, print_json, Global};
use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Args;
use scoregate::approval::inbox::waiting;
use scoregate::approval::{load_allowed_signers, verify};
use scoregate::canonical::Digest;
use scoregate::pipeline::{format_duration, Pipeline};
use scoregate::profile::stored::load_profile;
use scoregate::release::artifacts::triggers;
use scoregate::release::log::{read_log, Bounded, Commit, LiveState};
use scoregate::release::readings::{blind, current_readings};
use scoregate::store::Store;
use scoregate::{Error, ExitCode};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[arg(long)]
    pipeline: PathBuf,
    #[arg(long)]
    now: Option<String>,
}

/// What is left of the renewal budget of the live bounded revision.
#[derive(serde::Serialize)]
struct BudgetLeft {
    renewals: u32,
    max_renewals: u32,
    renewals_left: u32,
    /// From activation to the current `not_after`.
    bounded_seconds: i64,
    max_bounded_total_seconds: i64,
}

fn budget_left(pipeline: &Pipeline, b: &Bounded) -> BudgetLeft {
    let p = &pipeline.policy;
    BudgetLeft {
        renewals: b.renewals,
        max_renewals: p.max_renewals,
        renewals_left: p.max_renewals.saturating_sub(b.renewals),
        bounded_seconds: (b.not_after - b.activated_at).num_seconds(),
        max_bounded_total_seconds: p.max_bounded_total.num_seconds(),
    }
}

/// A profile's name, or why it cannot be shown (status never fails on it).
async fn profile_name(store: &Store, revision: &Digest) -> String {
    match load_profile(store, revision).await {
        Ok(p) => p.name().to_string(),
        Err(e) => format!("name unavailable: {e}"),
    }
}

/// The manifests waiting in the inbox, each with what verifying it now says.
async fn inbox_entries(pipeline: &Pipeline, store: &Store, state: &LiveState, now: DateTime<Utc>) -> Result<Vec<serde_json::Value>> {
    let allowed = load_allowed_signers(pipeline).await?;
    let mut inbox = Vec::new();
    for sub in waiting(store, &pipeline.cohort).await.map_err(Error::from)? {
        let entry = match sub.parse() {
            Ok(m) => {
                let v = verify(pipeline, store, &m, &sub.signatures, &allowed, &state.view(), now).await?;
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
    Ok(inbox)
}

fn last_decision(c: &Commit) -> serde_json::Value {
    serde_json::json!({"seq": c.seq, "decision": c.decision.as_str(), "now": c.now, "reasons": c.reasons,
        "actor": c.actor, "failed_checks": c.failed_checks})
}

fn secs(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub async fn run(a: StatusArgs, g: &Global) -> Result<ExitCode> {
    let (pipeline, store) = open_pipeline(&a.pipeline)?;
    let now = parse_now(a.now.as_deref())?;
    let (state, commits) = read_log(&pipeline, &store).await.map_err(Error::from)?;
    let readings = current_readings(&pipeline, &store, &state, now).await?;
    let inbox = inbox_entries(&pipeline, &store, &state, now).await?;
    let live_name = profile_name(&store, &state.live).await;
    let trusted_name = profile_name(&store, &state.trusted).await;
    let last = commits.last().map(|(c, _)| c);
    let b = state.bounded.as_ref();
    let budget = b.map(|b| budget_left(&pipeline, b));
    let blindness = match (b, &readings) {
        (Some(b), Some((r, _))) => blind(&pipeline, b, r, now),
        _ => None,
    };
    if g.json {
        print_json(&serde_json::json!({
            "cohort": pipeline.cohort, "now": now, "live_revision": state.live, "live_profile_name": live_name,
            "bounded": b.is_some(), "trusted_revision": state.trusted, "trusted_profile_name": trusted_name,
            "valid_until": b.map(|b| b.not_after),
            "seconds_left": b.map(|b| (b.not_after - now).num_seconds()), "manifest_id": b.map(|b| b.manifest_id.clone()),
            "signers": b.map(|b| b.signers.clone()), "activated_at": b.map(|b| b.activated_at),
            "readings": readings.as_ref().map(|(r, _)| r), "triggers": readings.as_ref().map(|(r, g)| triggers(r, g)),
            "budget": budget, "last_decision": last.map(last_decision),
            "blind": blindness.is_some(), "blindness": blindness,
            "min_live_items": pipeline.blindness.min_live_items,
            "head_seq": state.head.as_ref().map(|h| h.seq), "waiting_manifests": inbox,
        }))?;
        return Ok(ExitCode::Ok);
    }
    outln!("cohort    {}", pipeline.cohort);
    match b {
        None => outln!("live      {} {live_name} (trusted)", state.live),
        Some(b) => print_bounded(&state, b, now, &live_name, &trusted_name),
    }
    if let Some(budget) = &budget {
        outln!(
            "budget    {} of {} renewals left; bounded {} of at most {}",
            budget.renewals_left,
            budget.max_renewals,
            format_duration(chrono::Duration::seconds(budget.bounded_seconds)),
            format_duration(pipeline.policy.max_bounded_total)
        );
    }
    if let Some((r, _)) = &readings {
        let rule = &pipeline.blindness;
        match &blindness {
            Some(why) => outln!(
                "data      BLIND: {why}; it cannot be renewed or promoted{}",
                if rule.blind_rollback {
                    ", and the next cycle rolls it back"
                } else {
                    ""
                }
            ),
            None => outln!(
                "data      {} live-window items (a window with fewer than {} after {} h is blind)",
                r.items,
                rule.min_live_items,
                rule.data_grace.num_hours()
            ),
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
    match last {
        None => outln!("last      no commits yet"),
        Some(c) => outln!(
            "last      seq {} {} at {}: {}",
            c.seq,
            c.decision.as_str(),
            secs(&c.now),
            if c.reasons.is_empty() {
                "no reason recorded".into()
            } else {
                c.reasons.join("; ")
            }
        ),
    }
    print_inbox(&inbox);
    Ok(ExitCode::Ok)
}

fn print_bounded(state: &LiveState, b: &Bounded, now: DateTime<Utc>, live_name: &str, trusted_name: &str) {
    let left = b.not_after - now;
    outln!(
        "live      {} {live_name} (bounded, approved by {}, manifest {})",
        state.live,
        b.signers.join(", "),
        b.manifest_id
    );
    outln!(
        "window    {} → {} ({})",
        secs(&b.activated_at),
        secs(&b.not_after),
        if left > chrono::Duration::zero() {
            format!("{} left", format_duration(left))
        } else {
            "lapsed: the next cycle expires it".into()
        }
    );
    outln!("fallback  {} {trusted_name} (trusted)", state.trusted);
}

fn print_inbox(inbox: &[serde_json::Value]) {
    if inbox.is_empty() {
        outln!("inbox     empty");
    }
    for e in inbox {
        outln!(
            "inbox     {} {} {}",
            e["manifest_id"].as_str().or(e["object"].as_str()).unwrap_or("?"),
            e["action"].as_str().unwrap_or(""),
            e["status"].as_str().unwrap_or("")
        );
    }
}

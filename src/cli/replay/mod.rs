//! `scoregate replay`: the steward's command. Replays a candidate against the
//! live profile, writes the evidence packet (JSON) and its HTML page, stores
//! the candidate and the packet in the pipeline's store, and optionally
//! writes the per-item parquet table. With several `--candidate`s it is a
//! sweep ([`sweep`]): one read of the history, one packet per candidate and
//! one comparison page.

mod args;
mod sweep;

use args::stem;
pub use args::ReplayArgs;

use super::common::{open_pipeline, print_json, progress, Global};
use anyhow::Result;
use scoregate::canonical::Digest;
use scoregate::evidence::page::PageContext;
use scoregate::evidence::steward::{replay_packet_with, store_evidence, ReplayOutcome};
use scoregate::evidence::uncertainty::Uncertainty;
use scoregate::evidence::{render_html, ClassResult, EvidenceError, Packet};
use scoregate::pipeline::Pipeline;
use scoregate::profile::stored::load_profile;
use scoregate::profile::Profile;
use scoregate::release::log::read_state;
use scoregate::replay::items::items_parquet;
use scoregate::replay::Delta;
use scoregate::store::StoreError;
use scoregate::store::{read_input, write_output, Store};
use scoregate::ExitCode;

/// The cohort's live profile (the log head's live revision, or the
/// pipeline's baseline before the first commit), with advice when it was
/// never stored.
async fn live_profile(pipeline: &Pipeline, pipeline_file: &std::path::Path, store: &Store) -> Result<Profile, scoregate::Error> {
    let state = read_state(pipeline, store).await?;
    match load_profile(store, &state.live).await {
        Err(scoregate::Error::Store(StoreError::NotFound { .. })) => Err(EvidenceError::NoLiveProfile {
            which: if state.live == pipeline.policy.baseline_revision {
                "baseline_revision"
            } else {
                "live revision in its log"
            },
            revision: state.live,
            store: store.name().to_string(),
            pipeline: pipeline_file.display().to_string(),
        }
        .into()),
        other => other,
    }
}

async fn profile_arg(arg: &str, store: &Store) -> Result<Profile, scoregate::Error> {
    match Digest::parse(arg) {
        Some(rev) => load_profile(store, &rev).await,
        None => {
            let bytes = read_input(arg).await?;
            Ok(Profile::parse(arg, &bytes)?)
        }
    }
}

pub async fn run(a: ReplayArgs, g: &Global) -> Result<ExitCode> {
    if let Some(code) = sweep::refuse_single_file_options(&a) {
        return Ok(code);
    }
    let (pipeline, store) = open_pipeline(&a.pipeline)?;
    let mut candidates = Vec::with_capacity(a.candidate.len());
    for c in &a.candidate {
        candidates.push(profile_arg(c, &store).await?);
    }
    let live = match &a.live {
        Some(l) => profile_arg(l, &store).await?,
        None => live_profile(&pipeline, &a.pipeline, &store).await?,
    };
    if candidates.len() > 1 {
        return sweep::run(&a, g, &pipeline, &store, &live, &candidates).await;
    }
    let candidate = candidates.pop().expect("clap requires one candidate");
    let pb = progress("reading history");
    let outcome = replay_packet_with(&pipeline, &store, &live, &candidate, pb.as_ref(), a.read_options()).await?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let (html_target, stored) = write_files(&a, &pipeline, &store, (&live, &candidate), &outcome).await?;
    let p = &outcome.packet;
    let failing = a.fail_on.map(|f| f.failing(p));
    if g.json {
        print_json(&serde_json::json!({
            "evidence_digest": outcome.digest,
            "packet": a.out,
            "html": html_target,
            "items": a.items,
            "stored_as": stored,
            "cohort": p.cohort,
            "live_revision": p.live_revision,
            "candidate_revision": p.candidate_revision,
            "protected_regressions": p.protected_regressions,
            "significant_regressions": p.significant_regressions,
            "items_replayed": p.history.items,
            "windows": p.history.windows,
            "history_partitions": outcome.partitions,
            "classes": p.classes.iter().map(class_json).collect::<Vec<_>>(),
            "all": verdict_json(&p.all.delta, p.all.uncertainty.as_ref()),
            "fail_on": a.fail_on.map(|f| format!("{f:?}").to_lowercase()),
            "failing": failing,
        }))?;
    } else {
        print_table(p);
        outln!("evidence digest: {}", outcome.digest);
        outln!("packet:  {}", a.out);
        outln!("page:    {html_target}");
        if let Some(items) = &a.items {
            outln!("items:   {items}");
        }
        if outcome.partitions > 1 {
            outln!(
                "history: over --memory-budget {}, replayed in {} window partitions",
                a.memory_budget,
                outcome.partitions
            );
        }
        match stored {
            Some(path) => outln!("stored:  {}/{path}", store.name()),
            None => outln!("stored:  not stored (--no-store)"),
        }
        if let Some(failing) = &failing {
            match failing.is_empty() {
                true => outln!(
                    "gate:    passed (--fail-on {})",
                    format!("{:?}", a.fail_on.expect("set")).to_lowercase()
                ),
                false => outln!("gate:    FAILED, protected classes: {}", failing.join(", ")),
            }
        }
    }
    Ok(match failing {
        Some(f) if !f.is_empty() => ExitCode::Rejected,
        _ => ExitCode::Ok,
    })
}

/// Write the steward's files, then store the evidence: the page's target
/// and where the packet was stored (`None` with `--no-store`).
async fn write_files(
    a: &ReplayArgs,
    pipeline: &Pipeline,
    store: &Store,
    (live, candidate): (&Profile, &Profile),
    outcome: &ReplayOutcome,
) -> Result<(String, Option<String>)> {
    let html_target = a.html.clone().unwrap_or_else(|| format!("{}.html", stem(&a.out)));
    // Everything that can fail short of writing is done first; then the
    // steward's files, and the store last: a failed write leaves no packet
    // stored without its page and table.
    let page = PageContext {
        live: live.doc(),
        candidate: candidate.doc(),
        max_evidence_age: pipeline.policy.max_evidence_age,
    };
    let html = render_html(&outcome.packet, &page)?;
    let items_bytes = match &a.items {
        Some(_) => Some(items_table(outcome)?),
        None => None,
    };
    if let (Some(items), Some(bytes)) = (&a.items, items_bytes) {
        write_output(items, bytes).await?;
    }
    write_output(&html_target, html).await?;
    write_output(&a.out, outcome.packet_bytes.clone()).await?;
    let stored = if a.no_store {
        None
    } else {
        Some(store_evidence(store, &pipeline.cohort, candidate, &outcome.packet_bytes, &outcome.digest).await?)
    };
    Ok((html_target, stored.map(|s| s.to_string())))
}

/// The `--items` table, with both revisions and the evidence digest in its metadata.
fn items_table(outcome: &ReplayOutcome) -> Result<Vec<u8>> {
    let p = &outcome.packet;
    let metadata = [
        ("scoregate.schema", "scoregate.items/v1".to_string()),
        ("scoregate.cohort", p.cohort.clone()),
        ("scoregate.live_revision", p.live_revision.to_string()),
        ("scoregate.live_profile_name", p.live_profile_name.clone()),
        ("scoregate.candidate_revision", p.candidate_revision.to_string()),
        ("scoregate.candidate_profile_name", p.candidate_profile_name.clone()),
        ("scoregate.evidence_digest", outcome.digest.to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v));
    items_parquet(&outcome.history, &outcome.replay, &metadata).map_err(|e| anyhow::anyhow!("writing the items table: {e}"))
}

/// One class's verdict, deltas and intervals for `--json`.
fn class_json(c: &ClassResult) -> serde_json::Value {
    let mut v = verdict_json(&c.delta, c.uncertainty.as_ref());
    let o = v.as_object_mut().expect("an object");
    o.insert("class".into(), c.class.clone().into());
    o.insert("protected".into(), c.protected.into());
    o.insert("verdict".into(), serde_json::to_value(c.verdict).expect("serialisable"));
    o.insert("verdict_words".into(), c.verdict_words().into());
    o.insert("uncertain_unjudged".into(), c.uncertain_unjudged.into());
    o.insert("live_fn".into(), c.live.fn_.into());
    o.insert("candidate_fn".into(), c.candidate.fn_.into());
    v
}

fn verdict_json(d: &Delta, u: Option<&Uncertainty>) -> serde_json::Value {
    serde_json::json!({
        "delta": {"fn": d.fn_, "recall": d.recall, "fp": d.fp},
        "interval": u.map(|u| serde_json::json!({"fn": u.fn_, "recall": u.recall, "fp": u.fp, "method": u.method})),
        "p_value": u.and_then(|u| u.p_value),
        "p_adjusted": u.and_then(|u| u.p_adjusted),
        "significant": u.is_some_and(|u| u.significant),
    })
}

/// The per-class summary a steward reads on a terminal.
fn print_table(p: &Packet) {
    outln!(
        "replayed {} items in {} windows of {} ({} objects)",
        p.history.items,
        p.history.windows,
        p.cohort,
        p.history.objects.len()
    );
    outln!("live      {} ({})", p.live_revision, p.live_profile_name);
    outln!("candidate {} ({})", p.candidate_revision, p.candidate_profile_name);
    outln!();
    outln!(
        "{:<22} {:<9} {:<26} {:>13} {:>18} {:>16}",
        "class",
        "protected",
        "verdict",
        "missed (fn)",
        "Δfn 95% interval",
        "recall"
    );
    let mut rows: Vec<_> = p.classes.iter().collect();
    rows.sort_by_key(|c| !c.protected);
    let pct = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.1}%", v * 100.0));
    for c in rows {
        outln!(
            "{:<22} {:<9} {:<26} {:>13} {:>18} {:>16}",
            c.class,
            if c.protected { "yes" } else { "" },
            c.verdict_words(),
            format!("{} → {}", c.live.fn_, c.candidate.fn_),
            interval(c.uncertainty.as_ref()),
            format!("{} → {}", pct(c.live.recall), pct(c.candidate.recall)),
        );
    }
    outln!(
        "{:<22} {:<9} {:<26} {:>13} {:>18} {:>16}",
        "* (all)",
        "",
        "",
        format!("{} → {}", p.all.live.fn_, p.all.candidate.fn_),
        interval(p.all.uncertainty.as_ref()),
        format!("{} → {}", pct(p.all.live.recall), pct(p.all.candidate.recall))
    );
    outln!();
    if p.protected_regressions.is_empty() {
        outln!("no protected class regressed");
    } else {
        outln!(
            "protected classes that regressed (an approval must acknowledge them): {}",
            p.protected_regressions.join(", ")
        );
    }
}

/// "[-37.8, +3.8]", or "—" without an interval.
fn interval(u: Option<&Uncertainty>) -> String {
    u.and_then(|u| u.fn_).map_or("—".into(), |i| i.to_string())
}

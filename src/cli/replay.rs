//! `scoregate replay`: the steward's command. Replays a candidate against the
//! live profile, writes the evidence packet (JSON) and its HTML page, stores
//! the candidate and the packet in the pipeline's store, and optionally
//! writes the per-item parquet table.

use super::common::{open_pipeline, print_json, progress, Global};
use anyhow::Result;
use clap::Args;
use scoregate::canonical::Digest;
use scoregate::evidence::steward::{replay_packet, store_evidence};
use scoregate::evidence::{render_html, Packet};
use scoregate::profile::stored::load_profile;
use scoregate::profile::Profile;
use scoregate::release::log::read_state;
use scoregate::replay::items::items_parquet;
use scoregate::store::{read_input, write_output, Store};
use scoregate::ExitCode;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Pipeline file (cohort, store, history prefix, replay settings).
    #[arg(long)]
    pipeline: PathBuf,
    /// Candidate profile: a JSON file, or a revision id `sha256:…` in the store.
    #[arg(long)]
    candidate: String,
    /// Live profile to compare against (file or revision id); default: the cohort's live revision.
    #[arg(long)]
    live: Option<String>,
    /// Where to write the packet JSON (path or URL).
    #[arg(long, default_value = "scoregate-out/packet.json")]
    out: String,
    /// Where to write the HTML page; default: beside the packet, `.html`.
    #[arg(long)]
    html: Option<String>,
    /// Also write one parquet row per item with scores, ranks and surfaced flags.
    #[arg(long)]
    items: Option<String>,
    /// Do not store the candidate profile and the packet in the pipeline's store.
    #[arg(long)]
    no_store: bool,
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
    let (pipeline, store) = open_pipeline(&a.pipeline)?;
    let candidate = profile_arg(&a.candidate, &store).await?;
    let live = match &a.live {
        Some(l) => profile_arg(l, &store).await?,
        None => load_profile(&store, &read_state(&pipeline, &store).await.map_err(scoregate::Error::from)?.live).await?,
    };
    let pb = progress("reading history");
    let outcome = replay_packet(&pipeline, &store, &live, &candidate, pb.as_ref()).await?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    // Everything is validated: now write.
    let html_target = a.html.clone().unwrap_or_else(|| match a.out.strip_suffix(".json") {
        Some(stem) => format!("{stem}.html"),
        None => format!("{}.html", a.out),
    });
    // Everything that can fail short of writing is done first; then the
    // steward's files, and the store last: a failed write leaves no packet
    // stored without its page and table.
    let html = render_html(&outcome.packet)?;
    let items_bytes = match &a.items {
        Some(_) => Some(items_parquet(&outcome.history, &outcome.replay).map_err(|e| anyhow::anyhow!("writing the items table: {e}"))?),
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
        Some(store_evidence(&store, &pipeline.cohort, &candidate, &outcome).await?)
    };

    let p = &outcome.packet;
    if g.json {
        print_json(&serde_json::json!({
            "evidence_digest": outcome.digest,
            "packet": a.out,
            "html": html_target,
            "items": a.items,
            "stored_as": stored.map(|s| s.to_string()),
            "cohort": p.cohort,
            "live_revision": p.live_revision,
            "candidate_revision": p.candidate_revision,
            "protected_regressions": p.protected_regressions,
            "items_replayed": p.history.items,
            "windows": p.history.windows,
        }))?;
    } else {
        print_table(p);
        outln!("evidence digest: {}", outcome.digest);
        outln!("packet:  {}", a.out);
        outln!("page:    {html_target}");
        if let Some(items) = &a.items {
            outln!("items:   {items}");
        }
        match stored {
            Some(path) => outln!("stored:  {}/{path}", store.name()),
            None => outln!("stored:  not stored (--no-store)"),
        }
    }
    Ok(ExitCode::Ok)
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
        "{:<22} {:<9} {:<10} {:>14} {:>18}",
        "class",
        "protected",
        "verdict",
        "missed (fn)",
        "recall"
    );
    let mut rows: Vec<_> = p.classes.iter().collect();
    rows.sort_by_key(|c| !c.protected);
    let pct = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.1}%", v * 100.0));
    for c in rows {
        outln!(
            "{:<22} {:<9} {:<10} {:>14} {:>18}",
            c.class,
            if c.protected { "yes" } else { "" },
            format!("{:?}", c.verdict).to_lowercase(),
            format!("{} → {}", c.live.fn_, c.candidate.fn_),
            format!("{} → {}", pct(c.live.recall), pct(c.candidate.recall)),
        );
    }
    outln!(
        "{:<22} {:<9} {:<10} {:>14} {:>18}",
        "* (all)",
        "",
        "",
        format!("{} → {}", p.all.live.fn_, p.all.candidate.fn_),
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

//! `scoregate replay` with several `--candidate`s: the history is read and
//! decoded once, every candidate is replayed against the same live profile,
//! and each gets its own packet and page beside `--out`
//! (`<stem>-<revision prefix>.json`/`.html`, byte-identical to a replay of
//! that candidate alone), plus one comparison page (`--compare`).

use super::args::{stem, FailOn, ReplayArgs};
use crate::cli::common::{print_json, progress, Global};
use anyhow::Result;
use scoregate::canonical::Digest;
use scoregate::evidence::page::PageContext;
use scoregate::evidence::render_html;
use scoregate::evidence::steward::{replay_sweep, store_evidence};
use scoregate::evidence::sweep::{render_html as render_comparison, Comparison};
use scoregate::pipeline::Pipeline;
use scoregate::profile::Profile;
use scoregate::store::{write_output, Store};
use scoregate::ExitCode;

/// `--html`, `--items` name one file: refused in a sweep (exit 2), as is
/// `--compare` without one.
pub(super) fn refuse_single_file_options(a: &ReplayArgs) -> Option<ExitCode> {
    let message = if a.candidate.len() < 2 {
        a.compare
            .as_ref()
            .map(|_| "--compare names a sweep's comparison page: give --candidate two or more times".to_string())
    } else {
        [("--html", a.html.is_some()), ("--items", a.items.is_some())]
            .into_iter()
            .find(|(_, given)| *given)
            .map(|(flag, _)| {
                format!(
                    "{flag} names one file, but a sweep of {} candidates writes one packet and page each beside --out; replay that candidate alone for {flag}",
                    a.candidate.len()
                )
            })
    };
    message.map(|m| {
        eprintln!("scoregate: error: {m}");
        ExitCode::Usage
    })
}

/// "<stem>-<first 12 hex digits of the revision>".
fn candidate_stem(out: &str, revision: &Digest) -> String {
    let hex = revision.as_str().trim_start_matches("sha256:");
    format!("{}-{}", stem(out), &hex[..12.min(hex.len())])
}

/// What one candidate of the sweep wrote.
struct Written {
    packet: String,
    html: String,
    stored: Option<String>,
    failing: Option<Vec<String>>,
}

pub(super) async fn run(
    a: &ReplayArgs,
    g: &Global,
    pipeline: &Pipeline,
    store: &Store,
    live: &Profile,
    candidates: &[Profile],
) -> Result<ExitCode> {
    let pb = progress("reading history");
    let sweep = replay_sweep(pipeline, store, live, candidates, pb.as_ref(), a.read_options()).await?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    // Render everything before writing anything.
    let pairs: Vec<_> = sweep.packets.iter().map(|e| (&e.packet, &e.digest)).collect();
    let comparison = Comparison::of(&pairs);
    let comparison_html = render_comparison(&comparison)?;
    let mut pages = Vec::with_capacity(candidates.len());
    for (c, e) in candidates.iter().zip(&sweep.packets) {
        let ctx = PageContext {
            live: live.doc(),
            candidate: c.doc(),
            max_evidence_age: pipeline.policy.max_evidence_age,
        };
        pages.push(render_html(&e.packet, &ctx)?);
    }
    let compare_target = a.compare.clone().unwrap_or_else(|| format!("{}-comparison.html", stem(&a.out)));
    let mut written = Vec::with_capacity(candidates.len());
    for ((c, e), html) in candidates.iter().zip(&sweep.packets).zip(pages) {
        let base = candidate_stem(&a.out, c.revision());
        let (packet, page) = (format!("{base}.json"), format!("{base}.html"));
        write_output(&page, html).await?;
        write_output(&packet, e.packet_bytes.clone()).await?;
        written.push(Written {
            packet,
            html: page,
            stored: None,
            failing: a.fail_on.map(|f| f.failing(&e.packet)),
        });
    }
    write_output(&compare_target, comparison_html).await?;
    if !a.no_store {
        for ((c, e), w) in candidates.iter().zip(&sweep.packets).zip(&mut written) {
            let path = store_evidence(store, &pipeline.cohort, c, &e.packet_bytes, &e.digest).await?;
            w.stored = Some(path.to_string());
        }
    }
    let outputs = Outputs {
        written: &written,
        compare_target: &compare_target,
        partitions: sweep.partitions,
    };
    report(a, g, store, &comparison, candidates, &outputs)?;
    let any_failing = written.iter().any(|w| w.failing.as_ref().is_some_and(|f| !f.is_empty()));
    Ok(if any_failing { ExitCode::Rejected } else { ExitCode::Ok })
}

/// What a sweep wrote, and how it read the history.
struct Outputs<'a> {
    written: &'a [Written],
    compare_target: &'a str,
    /// Window partitions the history was replayed in (1: read whole).
    partitions: usize,
}

/// The sweep on stdout: JSON, or the comparison as a table.
fn report(a: &ReplayArgs, g: &Global, store: &Store, comparison: &Comparison, candidates: &[Profile], outputs: &Outputs) -> Result<()> {
    let Outputs {
        written,
        compare_target,
        partitions,
    } = *outputs;
    let files = |rev: &Digest| {
        let k = candidates.iter().position(|c| c.revision() == rev).expect("a sweep candidate");
        &written[k]
    };
    if g.json {
        let lines: Vec<_> = comparison
            .candidates
            .iter()
            .map(|c| {
                let w = files(&c.revision);
                serde_json::json!({"revision": c.revision, "packet": w.packet, "html": w.html, "stored_as": w.stored, "failing": w.failing})
            })
            .collect();
        return print_json(&serde_json::json!({
            "comparison": comparison,
            "files": lines,
            "compare": compare_target,
            "history_partitions": partitions,
            "fail_on": a.fail_on.map(|f| format!("{f:?}").to_lowercase()),
        }));
    }
    outln!(
        "swept {} candidates against live {} ({}) over {} items in {} windows of {}",
        comparison.candidates.len(),
        comparison.live_revision,
        comparison.live_profile_name,
        comparison.items,
        comparison.windows,
        comparison.cohort
    );
    if partitions > 1 {
        outln!(
            "history over --memory-budget {}, replayed in {partitions} window partitions",
            a.memory_budget
        );
    }
    outln!();
    outln!(
        "{:<6} {:<24} {:>20} {:<28} packet",
        "place",
        "candidate",
        "protected missed",
        "regressed (protected)"
    );
    for c in &comparison.candidates {
        let w = files(&c.revision);
        let regressed = match c.protected_regressions.is_empty() {
            true => "none".to_string(),
            false => c.protected_regressions.join(", "),
        };
        outln!(
            "{:<6} {:<24} {:>20} {:<28} {}",
            c.place,
            c.profile_name,
            format!("{} → {}", c.protected_fn_live, c.protected_fn),
            regressed,
            w.packet
        );
    }
    outln!();
    outln!("comparison: {compare_target}");
    match a.no_store {
        true => outln!("stored:     not stored (--no-store)"),
        false => outln!("stored:     {} packets in {}", written.len(), store.name()),
    }
    if let Some(f) = a.fail_on {
        let failing: Vec<_> = comparison
            .candidates
            .iter()
            .filter(|c| files(&c.revision).failing.as_ref().is_some_and(|x| !x.is_empty()))
            .map(|c| c.profile_name.as_str())
            .collect();
        match failing.is_empty() {
            true => outln!("gate:       passed by every candidate (--fail-on {})", gate_name(f)),
            false => outln!("gate:       FAILED by {}", failing.join(", ")),
        }
    }
    Ok(())
}

fn gate_name(f: FailOn) -> String {
    format!("{f:?}").to_lowercase()
}

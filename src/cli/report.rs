//! `scoregate report`: the outcome report (README "Outcome reports") of the
//! running bounded window up to `now`, or of the window commit `--seq N`
//! ended, as a table, JSON, a file and its HTML page.

use super::common::{open_pipeline, parse_now, print_json, Global};
use anyhow::Result;
use clap::Args;
use scoregate::evidence::outcome::{render_html, OutcomeGroup, OutcomeReport, PeriodCounts};
use scoregate::release::log::read_log;
use scoregate::release::outcome::{report_for, window_at};
use scoregate::store::write_output;
use scoregate::{Error, ExitCode};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[arg(long)]
    pipeline: PathBuf,
    /// The window commit N ended (expire, revoke, rollback, break_glass,
    /// renew, promote); default: the live window, else the last that ended.
    #[arg(long)]
    seq: Option<u64>,
    /// The end of a running window (RFC 3339); default: the wall clock.
    #[arg(long)]
    now: Option<String>,
    /// Write the report (JSON) here.
    #[arg(long)]
    out: Option<String>,
    /// Write its HTML page here.
    #[arg(long)]
    html: Option<String>,
}

pub async fn run(a: ReportArgs, g: &Global) -> Result<ExitCode> {
    let (pipeline, store) = open_pipeline(&a.pipeline)?;
    let now = parse_now(a.now.as_deref())?;
    let (_, commits) = read_log(&pipeline, &store).await.map_err(Error::from)?;
    let w = window_at(&pipeline, &commits, a.seq, now)?;
    let r = report_for(&pipeline, &store, &w).await?;
    if let Some(out) = &a.out {
        write_output(out, r.to_bytes()).await.map_err(Error::from)?;
    }
    if let Some(html) = &a.html {
        write_output(html, render_html(&r).map_err(Error::from)?)
            .await
            .map_err(Error::from)?;
    }
    if g.json {
        print_json(&r)?;
    } else {
        print_table(&r);
    }
    Ok(ExitCode::Ok)
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn print_table(r: &OutcomeReport) {
    let ended = match (&r.window.ended_by, r.window.seq) {
        (Some(d), Some(s)) => format!("ended by {d} at commit {s}"),
        _ => "still live".into(),
    };
    outln!("outcome   {} in {}, {ended}", r.revision, r.cohort);
    outln!(
        "window    {} → {} ({} renewal(s)); reference {} → {}",
        time(&r.window.activated_at),
        time(&r.window.end),
        r.window.renewals,
        time(&r.reference.from),
        time(&r.reference.to)
    );
    let d = &r.data;
    outln!(
        "data      {} live items in {} windows, {} reference items in {} windows: {}",
        d.live_items,
        d.live_windows,
        d.reference_items,
        d.reference_windows,
        if d.sufficient { "enough to judge" } else { "NOT enough to judge" }
    );
    for n in &d.notes {
        outln!("          {n}");
    }
    for t in &r.guardrails {
        let reading = t.reading.map_or("none".into(), |v| format!("{v:.2}"));
        let verdict = if t.breached { "BREACHED" } else { "ok" };
        outln!("guardrail {:<32} {reading:>8} ≤ {:<6} {verdict}", t.guardrail, t.threshold);
    }
    outln!();
    outln!(
        "{:<20} {:<18} {:>14} {:>14} {:>10}  95% interval",
        "group",
        "per 1,000 items",
        "reference",
        "live",
        "change"
    );
    for g in r.groups.iter().filter(|g| g.protected || g.group == "*") {
        print_group(g);
    }
    outln!("\nreport digest {}", r.digest());
}

fn print_group(g: &OutcomeGroup) {
    let cell = |c: &PeriodCounts, k: usize| {
        let (n, rate) = match k {
            0 => (c.board_overrides, c.board_overrides_per_1000),
            1 => (c.misses, c.misses_per_1000),
            _ => (c.missed_actionable, c.missed_actionable_per_1000),
        };
        rate.map_or(format!("{n}"), |r| format!("{n} ({r:.1})"))
    };
    for (k, ch) in g.changes.iter().enumerate() {
        outln!(
            "{:<20} {:<18} {:>14} {:>14} {:>10}  {}",
            if k == 0 { g.group.as_str() } else { "" },
            ch.measure,
            cell(&g.reference, k),
            cell(&g.live, k),
            ch.delta_per_1000.map_or("none".into(), |d| format!("{d:+.1}")),
            ch.interval.map_or("none".into(), |i| i.to_string())
        );
    }
}

//! The evidence page: a self-contained HTML rendering of one packet for the
//! release manager who signs it (README "The evidence page"). At the top the
//! digest to approve and the date after which the evidence is too old to
//! approve; then the protected verdicts in words with their intervals, an
//! interval chart of Δfn per class, the weight diff of live against
//! candidate, and, collapsed, the churn examples, per-class tables, the
//! statistics' method and what was replayed. No script, no network: every
//! style and chart is inline.

use super::packet::{ClassResult, EvidenceError, Packet};
use super::uncertainty::Uncertainty;
use crate::profile::diff::{diff, Change};
use crate::profile::ProfileDoc;
use crate::replay::{Delta, Metrics, Verdict};
use serde::Serialize;

/// What the page shows beside the packet: both profiles (for the weight
/// diff) and the pipeline's `max_evidence_age` (for the date the evidence
/// ages out).
pub struct PageContext<'a> {
    pub live: &'a ProfileDoc,
    pub candidate: &'a ProfileDoc,
    pub max_evidence_age: chrono::Duration,
}

const PAGE: &str = include_str!("templates/packet.html");

#[derive(Serialize)]
struct Row {
    metric: &'static str,
    help: &'static str,
    live: String,
    candidate: String,
    delta: String,
    /// "better", "worse" or "" for colouring the delta.
    tone: &'static str,
}

#[derive(Serialize)]
struct ClassView {
    class: String,
    protected: bool,
    verdict: Verdict,
    words: String,
    rows: Vec<Row>,
}

/// One protected class in the summary at the top.
#[derive(Serialize)]
struct ProtectedView {
    class: String,
    verdict: Verdict,
    significant: bool,
    uncertain_unjudged: bool,
    live_fn: u64,
    candidate_fn: u64,
    delta_fn: String,
    interval: String,
    p_adjusted: String,
    windows: String,
    live_recall: String,
    candidate_recall: String,
    coverage: String,
    entered: String,
    left: String,
    gained: Vec<String>,
    lost: Vec<String>,
}

/// One class's Δfn with its interval, drawn around a zero line.
#[derive(Serialize)]
struct IntervalRow {
    label: String,
    protected: bool,
    y: f64,
    x_low: f64,
    x_high: f64,
    x_point: f64,
    /// "regressed", "improved" or "unchanged", for the colour.
    verdict: Verdict,
    significant: bool,
    text: String,
}

#[derive(Serialize)]
struct Bar {
    y: f64,
    w: f64,
    side: &'static str,
    label: String,
}

#[derive(Serialize)]
struct ChartRow {
    label: String,
    y: f64,
    protected: bool,
    bars: Vec<Bar>,
}

#[derive(Serialize)]
struct Chart {
    title: &'static str,
    height: f64,
    rows: Vec<ChartRow>,
}

fn pct(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
}
fn pct_delta(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{:+.1} pp", v * 100.0))
}
fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("—".into(), |v| v.to_string())
}
fn hours(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.2} h"))
}

/// Tone of a delta where `higher_is_better` says which direction helps reviewers.
fn tone(delta: f64, higher_is_better: bool) -> &'static str {
    if delta == 0.0 {
        ""
    } else if (delta > 0.0) == higher_is_better {
        "better"
    } else {
        "worse"
    }
}

fn rows(l: &Metrics, c: &Metrics, d: &Delta) -> Vec<Row> {
    let count = |metric, help, l: u64, c: u64, d: i64, better: Option<bool>| Row {
        metric,
        help,
        live: l.to_string(),
        candidate: c.to_string(),
        delta: format!("{d:+}"),
        tone: better.map_or("", |b| tone(d as f64, b)),
    };
    vec![
        count("items", "rows in the class", l.items, c.items, d.items, None),
        count("actionable", "judged a real issue", l.actionable, c.actionable, d.actionable, None),
        count(
            "surfaced",
            "ranked within window capacity",
            l.surfaced,
            c.surfaced,
            d.surfaced,
            None,
        ),
        count("tp", "actionable and surfaced", l.tp, c.tp, d.tp, Some(true)),
        count("fn", "actionable but not surfaced (missed)", l.fn_, c.fn_, d.fn_, Some(false)),
        count("fp", "judged, surfaced, not actionable (burden)", l.fp, c.fp, d.fp, Some(false)),
        count(
            "unjudged",
            "never judged (actionable null)",
            l.unjudged,
            c.unjudged,
            d.unjudged,
            None,
        ),
        count(
            "unjudged_surfaced",
            "surfaced but never judged",
            l.unjudged_surfaced,
            c.unjudged_surfaced,
            d.unjudged_surfaced,
            Some(false),
        ),
        Row {
            metric: "judged_coverage",
            help: "1 − unjudged_surfaced / surfaced",
            live: pct(l.judged_coverage),
            candidate: pct(c.judged_coverage),
            delta: pct_delta(d.judged_coverage),
            tone: d.judged_coverage.map_or("", |v| tone(v, true)),
        },
        Row {
            metric: "recall",
            help: "tp / actionable",
            live: pct(l.recall),
            candidate: pct(c.recall),
            delta: pct_delta(d.recall),
            tone: d.recall.map_or("", |v| tone(v, true)),
        },
        Row {
            metric: "precision",
            help: "tp / surfaced",
            live: pct(l.precision),
            candidate: pct(c.precision),
            delta: pct_delta(d.precision),
            tone: d.precision.map_or("", |v| tone(v, true)),
        },
        count("overrides", "board escalated by hand", l.overrides, c.overrides, d.overrides, None),
        count(
            "overrides_surfaced",
            "escalations the board would not have needed",
            l.overrides_surfaced,
            c.overrides_surfaced,
            d.overrides_surfaced,
            Some(true),
        ),
        count("misses", "escaped review historically", l.misses, c.misses, d.misses, None),
        count(
            "misses_surfaced",
            "historical escapes this revision surfaces",
            l.misses_surfaced,
            c.misses_surfaced,
            d.misses_surfaced,
            Some(true),
        ),
        rank_row("rank_p50", "median rank of actionable items", l.rank_p50, c.rank_p50, d.rank_p50),
        rank_row(
            "rank_p90",
            "90th percentile rank of actionable items",
            l.rank_p90,
            c.rank_p90,
            d.rank_p90,
        ),
        Row {
            metric: "aging_p90_hours",
            help: "rank_p90 / reviewer throughput",
            live: hours(l.aging_p90_hours),
            candidate: hours(c.aging_p90_hours),
            delta: d.aging_p90_hours.map_or("—".into(), |v| format!("{v:+.2} h")),
            tone: d.aging_p90_hours.map_or("", |v| tone(v, false)),
        },
    ]
}

/// A rank percentile row: lower ranks reach reviewers sooner.
fn rank_row(metric: &'static str, help: &'static str, l: Option<u64>, c: Option<u64>, d: Option<i64>) -> Row {
    Row {
        metric,
        help,
        live: opt(l),
        candidate: opt(c),
        delta: d.map_or("—".into(), |v| format!("{v:+}")),
        tone: d.map_or("", |v| tone(v as f64, false)),
    }
}

const CHART_WIDTH: f64 = 420.0;
const ROW_HEIGHT: f64 = 34.0;

fn chart(
    title: &'static str,
    classes: &[&ClassResult],
    value: impl Fn(&Metrics) -> Option<f64>,
    label: impl Fn(Option<f64>) -> String,
) -> Chart {
    let max = classes
        .iter()
        .flat_map(|c| [value(&c.live), value(&c.candidate)])
        .flatten()
        .fold(0.0f64, f64::max);
    let scale = if max > 0.0 { CHART_WIDTH / max } else { 0.0 };
    let rows = classes
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let y = k as f64 * ROW_HEIGHT;
            let bars = [("live", &c.live), ("candidate", &c.candidate)]
                .into_iter()
                .enumerate()
                .map(|(j, (side, m))| Bar {
                    y: y + 4.0 + j as f64 * 13.0,
                    w: value(m).unwrap_or(0.0) * scale,
                    side,
                    label: label(value(m)),
                })
                .collect();
            ChartRow {
                label: c.class.clone(),
                y: y + 17.0,
                protected: c.protected,
                bars,
            }
        })
        .collect();
    Chart {
        title,
        height: classes.len() as f64 * ROW_HEIGHT + 8.0,
        rows,
    }
}

/// "[−37.9, +3.9]" for a count interval.
fn interval_text(u: Option<&Uncertainty>) -> String {
    u.and_then(|u| u.fn_).map_or("— (under two windows)".into(), |i| i.to_string())
}

/// Δfn and its interval per class on one scale; the zero line at `ZERO_X`.
fn interval_chart(classes: &[&ClassResult]) -> Vec<IntervalRow> {
    let reach = classes
        .iter()
        .flat_map(|c| {
            let i = c.uncertainty.as_ref().and_then(|u| u.fn_);
            [c.delta.fn_ as f64, i.map_or(0.0, |i| i.low), i.map_or(0.0, |i| i.high)]
        })
        .fold(1.0f64, |m, v| m.max(v.abs()));
    let x = |v: f64| ZERO_X + v / reach * (CHART_WIDTH / 2.0);
    classes
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let u = c.uncertainty.as_ref();
            let i = u.and_then(|u| u.fn_);
            let d = c.delta.fn_ as f64;
            IntervalRow {
                label: c.class.clone(),
                protected: c.protected,
                y: k as f64 * INTERVAL_ROW + 14.0,
                x_low: x(i.map_or(d, |i| i.low)),
                x_high: x(i.map_or(d, |i| i.high)),
                x_point: x(d),
                verdict: c.verdict,
                significant: u.is_some_and(|u| u.significant),
                text: format!("{:+} {}", c.delta.fn_, interval_text(u)),
            }
        })
        .collect()
}

const ZERO_X: f64 = 180.0 + CHART_WIDTH / 2.0;
const INTERVAL_ROW: f64 = 24.0;

fn protected_view(c: &ClassResult) -> ProtectedView {
    let u = c.uncertainty.as_ref();
    let churn = c.churn.as_ref();
    let coverage = |m: &Metrics| pct(m.judged_coverage);
    ProtectedView {
        class: c.class.clone(),
        verdict: c.verdict,
        significant: u.is_some_and(|u| u.significant),
        uncertain_unjudged: c.uncertain_unjudged,
        live_fn: c.live.fn_,
        candidate_fn: c.candidate.fn_,
        delta_fn: format!("{:+}", c.delta.fn_),
        interval: interval_text(u),
        p_adjusted: u.and_then(|u| u.p_adjusted).map_or("—".into(), |p| format!("{p:.3}")),
        windows: u.map_or("—".into(), |u| {
            format!("{} / {} / {}", u.windows.better, u.windows.same, u.windows.worse)
        }),
        live_recall: pct(c.live.recall),
        candidate_recall: pct(c.candidate.recall),
        coverage: format!("{} → {}", coverage(&c.live), coverage(&c.candidate)),
        entered: churn.map_or("—".into(), |k| format!("{} ({} actionable)", k.entered, k.entered_actionable)),
        left: churn.map_or("—".into(), |k| format!("{} ({} actionable)", k.left, k.left_actionable)),
        gained: churn.map_or(Vec::new(), |k| k.gained.clone()),
        lost: churn.map_or(Vec::new(), |k| k.lost.clone()),
    }
}

/// Render the self-contained HTML page (no network at view time) for `packet`.
pub fn render_html(packet: &Packet, ctx: &PageContext) -> Result<String, EvidenceError> {
    let digest = packet.digest();
    // Protected classes first, then the rest, each by name.
    let mut ordered: Vec<&ClassResult> = packet.classes.iter().collect();
    ordered.sort_by_key(|c| !c.protected);
    let views: Vec<ClassView> = ordered
        .iter()
        .map(|c| ClassView {
            class: c.class.clone(),
            protected: c.protected,
            verdict: c.verdict,
            words: c.verdict_words(),
            rows: rows(&c.live, &c.candidate, &c.delta),
        })
        .collect();
    let fn_chart = chart(
        "Missed actionable items (fn) per class",
        &ordered,
        |m| Some(m.fn_ as f64),
        |v| opt(v.map(|v| v as u64)),
    );
    let changes: Vec<Change> = diff(ctx.live, ctx.candidate);
    let too_old_after = packet.history.window_start_max + ctx.max_evidence_age;
    let mut env = minijinja::Environment::new();
    env.add_template("packet.html", PAGE)
        .map_err(|e| EvidenceError::Render(e.to_string()))?;
    let tmpl = env.get_template("packet.html").map_err(|e| EvidenceError::Render(e.to_string()))?;
    tmpl.render(minijinja::context! {
        p => packet,
        digest => digest.as_str(),
        too_old_after => too_old_after.format("%Y-%m-%d %H:%M UTC").to_string(),
        classes => views,
        all => rows(&packet.all.live, &packet.all.candidate, &packet.all.delta),
        all_interval => interval_text(packet.all.uncertainty.as_ref()),
        fn_chart => fn_chart,
        intervals => interval_chart(&ordered),
        interval_height => ordered.len() as f64 * INTERVAL_ROW + 10.0,
        zero_x => ZERO_X,
        chart_width => CHART_WIDTH,
        changes => changes,
        protected => ordered.iter().filter(|c| c.protected).map(|c| protected_view(c)).collect::<Vec<_>>(),
        method => packet.uncertainty_method,
    })
    .map_err(|e| EvidenceError::Render(e.to_string()))
}

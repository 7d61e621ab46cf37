//! The evidence page: a self-contained HTML rendering of one packet for the
//! release manager who signs it (README "The evidence packet"). Protected
//! verdicts first, then SVG charts of recall and missed items, the per-class
//! tables with deltas, and the digest to approve. No script, no network: every
//! style and chart is inline.

use super::packet::{ClassResult, EvidenceError, Packet};
use crate::replay::{Delta, Metrics, Verdict};
use serde::Serialize;

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
    rows: Vec<Row>,
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
        count("fp", "surfaced but not actionable (burden)", l.fp, c.fp, d.fp, Some(false)),
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

/// Render the self-contained HTML page (no network at view time) for `packet`.
pub fn render_html(packet: &Packet) -> Result<String, EvidenceError> {
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
            rows: rows(&c.live, &c.candidate, &c.delta),
        })
        .collect();
    let charts = vec![
        chart("Recall per class (share of actionable items surfaced)", &ordered, |m| m.recall, pct),
        chart(
            "Missed actionable items (fn) per class",
            &ordered,
            |m| Some(m.fn_ as f64),
            |v| opt(v.map(|v| v as u64)),
        ),
    ];
    let mut env = minijinja::Environment::new();
    env.add_template("packet.html", PAGE)
        .map_err(|e| EvidenceError::Render(e.to_string()))?;
    let tmpl = env.get_template("packet.html").map_err(|e| EvidenceError::Render(e.to_string()))?;
    tmpl.render(minijinja::context! {
        p => packet,
        digest => digest.as_str(),
        classes => views,
        all => rows(&packet.all.live, &packet.all.candidate, &packet.all.delta),
        charts => charts,
        chart_width => CHART_WIDTH,
        protected => ordered.iter().filter(|c| c.protected).map(|c| minijinja::context!{
            class => c.class, verdict => c.verdict, live_fn => c.live.fn_, candidate_fn => c.candidate.fn_,
            delta_fn => format!("{:+}", c.delta.fn_), live_recall => pct(c.live.recall), candidate_recall => pct(c.candidate.recall),
        }).collect::<Vec<_>>(),
    })
    .map_err(|e| EvidenceError::Render(e.to_string()))
}

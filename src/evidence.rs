//! The evidence packet (`scoregate.evidence/v1`, SPEC §5): the per-class
//! replay result for (live, candidate, history snapshot, replay settings),
//! its digest, and the self-contained HTML page a release manager reads
//! before signing.
//!
//! The packet is a pure function of its inputs: no wall-clock time, classes
//! sorted by name bytes, and its stored form is its RFC 8785 bytes, so the
//! digest `sha256:` of those bytes is also the hash of the stored object.

use crate::canonical::{to_jcs, Digest};
use crate::history::{History, Snapshot};
use crate::pipeline::ReplaySettings;
use crate::profile::Profile;
use crate::replay::{Delta, Metrics, Replay, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "scoregate.evidence/v1";

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("evidence packet {object}: not a valid scoregate.evidence/v1 document: {message}")]
    Invalid { object: String, message: String },
    #[error("evidence packet {object}: its bytes hash to {actual}, not to {expected}")]
    DigestMismatch { object: String, expected: Digest, actual: Digest },
    #[error("evidence page: {0}")]
    Render(String),
}

/// Replay settings as recorded in the packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacketSettings {
    pub default_capacity: u32,
    pub reviewer_throughput_per_hour: f64,
    pub protected_classes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassResult {
    pub class: String,
    pub protected: bool,
    pub verdict: Verdict,
    pub live: Metrics,
    pub candidate: Metrics,
    pub delta: Delta,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllResult {
    pub live: Metrics,
    pub candidate: Metrics,
    pub delta: Delta,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataQuality {
    /// Null feature values read as 0.0, per feature column.
    pub null_features: BTreeMap<String, u64>,
    /// Rows of other cohorts under the prefix, ignored.
    pub other_cohort_rows: u64,
}

/// The evidence packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packet {
    pub schema: String,
    pub cohort: String,
    pub live_revision: Digest,
    pub live_profile_name: String,
    pub candidate_revision: Digest,
    pub candidate_profile_name: String,
    pub history: Snapshot,
    pub settings: PacketSettings,
    pub classes: Vec<ClassResult>,
    pub all: AllResult,
    /// Protected classes whose verdict is `regressed`, by name.
    pub protected_regressions: Vec<String>,
    pub data_quality: DataQuality,
}

impl Packet {
    /// Assemble the packet from a replay.
    pub fn build(
        cohort: &str,
        settings: &ReplaySettings,
        protected: &[String],
        history: &History,
        replay: &Replay,
        live: &Profile,
        candidate: &Profile,
    ) -> Packet {
        let mut classes: Vec<ClassResult> = history
            .classes
            .iter()
            .zip(&replay.classes)
            .map(|(class, [l, c])| ClassResult {
                class: class.clone(),
                protected: protected.contains(class),
                verdict: Verdict::of(l, c),
                live: l.clone(),
                candidate: c.clone(),
                delta: Delta::between(l, c),
            })
            .collect();
        // A protected class with no history still gets a row: no evidence is evidence too.
        for p in protected {
            if !history.classes.contains(p) {
                let empty = Metrics::empty();
                classes.push(ClassResult {
                    class: p.clone(),
                    protected: true,
                    verdict: Verdict::Unchanged,
                    delta: Delta::between(&empty, &empty),
                    live: empty.clone(),
                    candidate: empty,
                });
            }
        }
        classes.sort_by(|a, b| a.class.as_bytes().cmp(b.class.as_bytes()));
        let protected_regressions = classes
            .iter()
            .filter(|c| c.protected && c.verdict == Verdict::Regressed)
            .map(|c| c.class.clone())
            .collect();
        let [l, c] = &replay.all;
        Packet {
            schema: SCHEMA.into(),
            cohort: cohort.into(),
            live_revision: live.revision().clone(),
            live_profile_name: live.name().into(),
            candidate_revision: candidate.revision().clone(),
            candidate_profile_name: candidate.name().into(),
            history: history.snapshot.clone(),
            settings: PacketSettings {
                default_capacity: settings.default_capacity,
                reviewer_throughput_per_hour: settings.reviewer_throughput_per_hour,
                protected_classes: protected.to_vec(),
            },
            classes,
            all: AllResult {
                live: l.clone(),
                candidate: c.clone(),
                delta: Delta::between(l, c),
            },
            protected_regressions,
            data_quality: DataQuality {
                null_features: history
                    .feature_names
                    .iter()
                    .cloned()
                    .zip(history.null_features.iter().copied())
                    .collect(),
                other_cohort_rows: history.other_cohort_rows,
            },
        }
    }

    /// The RFC 8785 bytes: the packet's stored and written form.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_jcs(self)
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.to_bytes())
    }

    /// Parse a packet (any whitespace or key order); its digest is over its canonical form.
    pub fn parse(object: &str, bytes: &[u8]) -> Result<Packet, EvidenceError> {
        let invalid = |message: String| EvidenceError::Invalid {
            object: object.into(),
            message,
        };
        let packet: Packet = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if packet.schema != SCHEMA {
            return Err(invalid(format!(
                "field `schema`: expected \"{SCHEMA}\", found \"{}\"",
                packet.schema
            )));
        }
        Ok(packet)
    }

    /// Parse a stored packet and check that its bytes hash to `expected`.
    pub fn parse_stored(object: &str, bytes: &[u8], expected: &Digest) -> Result<Packet, EvidenceError> {
        let actual = Digest::of(bytes);
        if &actual != expected {
            return Err(EvidenceError::DigestMismatch {
                object: object.into(),
                expected: expected.clone(),
                actual,
            });
        }
        Packet::parse(object, bytes)
    }

    /// Where the packet lives in a store.
    pub fn store_path(cohort: &str, digest: &Digest) -> String {
        format!("evidence/{cohort}/sha256-{}.json", digest.hex())
    }
}

// ---- HTML page -------------------------------------------------------------

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

//! The comparison of a sweep (`scoregate replay --candidate A --candidate
//! B …`): several candidates replayed against one live revision over one
//! read of the history, set side by side for the steward who picks one.
//!
//! For each protected class, each candidate's missed actionable items (fn),
//! recall and false positives, with its change against live and the 95%
//! interval from its own packet. Candidates are ordered by the protected
//! items they would miss (fewest first), then by revision bytes, so the
//! order never depends on the order they were given in. Everything here is
//! read from the packets: the comparison adds no statistics of its own.

use super::outcome::STYLE;
use super::packet::{ClassResult, EvidenceError, Packet};
use super::uncertainty::Interval;
use crate::canonical::Digest;
use crate::replay::Verdict;
use serde::Serialize;

/// The comparison of one sweep, candidates in the page's order.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub cohort: String,
    pub live_revision: Digest,
    pub live_profile_name: String,
    pub history_fingerprint: Digest,
    pub items: u64,
    pub windows: u64,
    pub protected_classes: Vec<String>,
    pub candidates: Vec<CandidateLine>,
}

/// One candidate of the sweep.
#[derive(Clone, Debug, Serialize)]
pub struct CandidateLine {
    /// 1 = fewest protected missed items.
    pub place: usize,
    /// Its position on the command line (1-based).
    pub given: usize,
    pub revision: Digest,
    pub profile_name: String,
    pub evidence_digest: Digest,
    /// Missed actionable items over the protected classes, live and candidate.
    pub protected_fn_live: u64,
    pub protected_fn: u64,
    pub protected_regressions: Vec<String>,
    pub significant_regressions: Vec<String>,
    /// The protected classes, in the packet's order.
    pub classes: Vec<ClassLine>,
}

/// One protected class under one candidate, against live.
#[derive(Clone, Debug, Serialize)]
pub struct ClassLine {
    pub class: String,
    pub verdict: Verdict,
    pub verdict_words: String,
    pub live_fn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub delta_fn: i64,
    pub fn_interval: Option<Interval>,
    pub live_recall: Option<f64>,
    pub recall: Option<f64>,
    pub delta_recall: Option<f64>,
    pub recall_interval: Option<Interval>,
    pub live_fp: u64,
    pub fp: u64,
    pub delta_fp: i64,
    pub fp_interval: Option<Interval>,
}

impl ClassLine {
    fn of(c: &ClassResult) -> ClassLine {
        let u = c.uncertainty.as_ref();
        ClassLine {
            class: c.class.clone(),
            verdict: c.verdict,
            verdict_words: c.verdict_words(),
            live_fn: c.live.fn_,
            fn_: c.candidate.fn_,
            delta_fn: c.delta.fn_,
            fn_interval: u.and_then(|u| u.fn_),
            live_recall: c.live.recall,
            recall: c.candidate.recall,
            delta_recall: c.delta.recall,
            recall_interval: u.and_then(|u| u.recall),
            live_fp: c.live.fp,
            fp: c.candidate.fp,
            delta_fp: c.delta.fp,
            fp_interval: u.and_then(|u| u.fp),
        }
    }
}

impl Comparison {
    /// Compare the packets of one sweep (same cohort, live revision and
    /// history), given in command-line order, with their digests.
    pub fn of(packets: &[(&Packet, &Digest)]) -> Comparison {
        let first = packets.first().expect("a sweep has candidates").0;
        let mut candidates: Vec<CandidateLine> = packets
            .iter()
            .enumerate()
            .map(|(k, (p, digest))| candidate_line(k + 1, p, digest))
            .collect();
        candidates.sort_by(|a, b| (a.protected_fn, a.revision.as_str().as_bytes()).cmp(&(b.protected_fn, b.revision.as_str().as_bytes())));
        for (k, c) in candidates.iter_mut().enumerate() {
            c.place = k + 1;
        }
        Comparison {
            cohort: first.cohort.clone(),
            live_revision: first.live_revision.clone(),
            live_profile_name: first.live_profile_name.clone(),
            history_fingerprint: first.history.fingerprint.clone(),
            items: first.history.items,
            windows: first.history.windows,
            protected_classes: first.settings.protected_classes.clone(),
            candidates,
        }
    }
}

fn candidate_line(given: usize, p: &Packet, digest: &Digest) -> CandidateLine {
    let protected: Vec<&ClassResult> = p.classes.iter().filter(|c| c.protected).collect();
    CandidateLine {
        place: 0,
        given,
        revision: p.candidate_revision.clone(),
        profile_name: p.candidate_profile_name.clone(),
        evidence_digest: digest.clone(),
        protected_fn_live: protected.iter().map(|c| c.live.fn_).sum(),
        protected_fn: protected.iter().map(|c| c.candidate.fn_).sum(),
        protected_regressions: p.protected_regressions.clone(),
        significant_regressions: p.significant_regressions.clone().unwrap_or_default(),
        classes: protected.into_iter().map(ClassLine::of).collect(),
    }
}

const PAGE: &str = include_str!("templates/sweep.html");

/// One candidate's row in a protected class's table on the page.
#[derive(Serialize)]
struct PageRow<'a> {
    place: usize,
    name: &'a str,
    revision: &'a str,
    verdict: Verdict,
    words: &'a str,
    fn_: String,
    delta_fn: String,
    recall: String,
    delta_recall: String,
    fp: String,
    delta_fp: String,
}

/// One protected class: live's figures and each candidate's row.
#[derive(Serialize)]
struct PageClass<'a> {
    class: &'a str,
    live_fn: u64,
    live_recall: String,
    live_fp: u64,
    rows: Vec<PageRow<'a>>,
}

fn pct(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
}

/// "+3 [-1.0, +7.0]", or "+3 (no interval)".
fn with_interval(delta: String, i: Option<Interval>) -> String {
    match i {
        Some(i) => format!("{delta} {i}"),
        None => format!("{delta} (no interval)"),
    }
}

fn page_classes(c: &Comparison) -> Vec<PageClass<'_>> {
    let first = c.candidates.first().expect("a sweep has candidates");
    (0..first.classes.len())
        .map(|k| {
            let live = &first.classes[k];
            PageClass {
                class: &live.class,
                live_fn: live.live_fn,
                live_recall: pct(live.live_recall),
                live_fp: live.live_fp,
                rows: c.candidates.iter().map(|cand| page_row(cand, &cand.classes[k])).collect(),
            }
        })
        .collect()
}

fn page_row<'a>(cand: &'a CandidateLine, l: &'a ClassLine) -> PageRow<'a> {
    let recall_delta = l.delta_recall.map_or("—".into(), |d| format!("{:+.1} pp", d * 100.0));
    let recall_interval = l.recall_interval.map(|i| Interval {
        low: i.low * 100.0,
        high: i.high * 100.0,
    });
    PageRow {
        place: cand.place,
        name: &cand.profile_name,
        revision: cand.revision.as_str(),
        verdict: l.verdict,
        words: &l.verdict_words,
        fn_: l.fn_.to_string(),
        delta_fn: with_interval(format!("{:+}", l.delta_fn), l.fn_interval),
        recall: pct(l.recall),
        delta_recall: with_interval(recall_delta, recall_interval),
        fp: l.fp.to_string(),
        delta_fp: with_interval(format!("{:+}", l.delta_fp), l.fp_interval),
    }
}

/// The comparison as a self-contained HTML page (no script, no network).
pub fn render_html(c: &Comparison) -> Result<String, EvidenceError> {
    let fail = |e: minijinja::Error| EvidenceError::Render(e.to_string());
    let mut env = minijinja::Environment::new();
    env.add_template("sweep.html", PAGE).map_err(fail)?;
    env.add_template("style.html", STYLE).map_err(fail)?;
    env.get_template("sweep.html")
        .map_err(fail)?
        .render(minijinja::context! { c => c, classes => page_classes(c) })
        .map_err(fail)
}

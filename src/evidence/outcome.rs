//! The outcome report (`scoregate.outcome/v1`, README "Outcome reports",
//! SPEC §7a): did the released revision help? It compares a bounded live
//! window (activation to its end, or to `now` while it runs) with a
//! reference period of the same length just before activation, when the
//! trusted revision ordered the queue: per class, for the protected classes
//! together and for `*`, items, board overrides, misses and missed
//! actionable items (counts and rates per 1,000 items), protected signoff
//! aging p50/p90, each change of rate with a 95% interval over review
//! windows, the guardrail readings against their thresholds, and whether
//! the data suffices.
//!
//! A report is a pure function of the history rows and its inputs: rows
//! queued after its end, and sign-offs after it, have not happened yet. The
//! interval sums are exact integers, so the same rows in any order give the
//! same bytes. Storing and naming reports is the release side's job.

use super::uncertainty::Interval;
use crate::canonical::{to_jcs, Digest};
use crate::pipeline::Trigger;
use crate::replay::history::History;
use crate::replay::nearest_rank_f64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "scoregate.outcome/v1";

/// The measures whose rates are compared, in report order.
pub const MEASURES: [&str; 3] = ["board_overrides", "misses", "missed_actionable"];

#[derive(Debug, thiserror::Error)]
pub enum OutcomeError {
    #[error("outcome report {object}: not a valid {SCHEMA} document: {message}")]
    Invalid { object: String, message: String },
    #[error("outcome report {object}: its bytes hash to {actual}, not to {expected}")]
    DigestMismatch { object: String, expected: Digest, actual: Digest },
    #[error("outcome page: {0}")]
    Render(String),
}

/// What a report is about; the release side fills it from its log.
#[derive(Clone, Debug)]
pub struct OutcomeInputs {
    pub cohort: String,
    /// The bounded revision and the trusted revision it falls back to.
    pub revision: Digest,
    pub trusted_revision: Digest,
    /// The approval in force over the window.
    pub manifest_id: String,
    pub activated_at: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub renewals: u32,
    /// The end of the window: when it ended, or `now` while it runs.
    pub end: DateTime<Utc>,
    /// The decision that ended it and its commit, if it has ended.
    pub ended_by: Option<(String, u64)>,
    pub protected_classes: Vec<String>,
    pub min_live_items: u64,
    /// The guardrail readings over the window against its thresholds.
    pub guardrails: Vec<Trigger>,
}

/// The live window the report covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveWindow {
    pub activated_at: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The approval's end at the time of the report.
    pub not_after: DateTime<Utc>,
    pub renewals: u32,
    /// The decision that ended the window (expire, revoke, rollback,
    /// break_glass, renew, promote); null while it runs.
    pub ended_by: Option<String>,
    /// The commit that ended it.
    pub seq: Option<u64>,
}

/// A half-open period of queue time, `[from, to)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The history the report was computed from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryRead {
    pub fingerprint: Digest,
    pub objects: u64,
    pub items: u64,
}

/// Counts over one period for one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PeriodCounts {
    pub items: u64,
    /// Review windows with at least one of these items.
    pub windows: u64,
    pub board_overrides: u64,
    pub misses: u64,
    /// Missed and judged actionable.
    pub missed_actionable: u64,
    /// Per 1,000 items; null without items.
    pub board_overrides_per_1000: Option<f64>,
    pub misses_per_1000: Option<f64>,
    pub missed_actionable_per_1000: Option<f64>,
    /// Nearest-rank signoff aging in hours; an item not signed off by the
    /// period's end ages until then. Null without queue times.
    pub signoff_p50_hours: Option<f64>,
    pub signoff_p90_hours: Option<f64>,
}

/// The change of one rate, live window minus reference period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateChange {
    pub measure: String,
    /// Per 1,000 items; null when either period has no items.
    pub delta_per_1000: Option<f64>,
    /// 95% interval over review windows; null with fewer than 2 windows in
    /// either period, or with no spread between windows (no events at all).
    pub interval: Option<Interval>,
}

/// One class, the protected classes together (`protected`), or every item (`*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeGroup {
    pub group: String,
    pub protected: bool,
    pub live: PeriodCounts,
    pub reference: PeriodCounts,
    pub changes: Vec<RateChange>,
}

/// Whether the data suffices to judge the window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSufficiency {
    pub live_items: u64,
    pub live_windows: u64,
    pub reference_items: u64,
    pub reference_windows: u64,
    pub min_live_items: u64,
    /// At least `min_live_items` live rows and some reference rows.
    pub sufficient: bool,
    pub notes: Vec<String>,
}

/// The outcome report document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeReport {
    pub schema: String,
    pub cohort: String,
    pub revision: Digest,
    pub trusted_revision: Digest,
    pub manifest_id: String,
    pub window: LiveWindow,
    /// Rows of the trusted revision queued in the same length of time just before activation.
    pub reference: Period,
    pub history: HistoryRead,
    /// Each class by name, then `protected`, then `*`.
    pub groups: Vec<OutcomeGroup>,
    pub guardrails: Vec<Trigger>,
    pub breached: bool,
    pub data: DataSufficiency,
}

impl OutcomeReport {
    pub fn to_bytes(&self) -> Vec<u8> {
        to_jcs(self)
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.to_bytes())
    }

    /// One group by name (a class, `protected` or `*`).
    pub fn group(&self, name: &str) -> Option<&OutcomeGroup> {
        self.groups.iter().find(|g| g.group == name)
    }

    pub fn parse(object: &str, bytes: &[u8]) -> Result<OutcomeReport, OutcomeError> {
        let invalid = |message: String| OutcomeError::Invalid {
            object: object.into(),
            message,
        };
        let r: OutcomeReport = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if r.schema != SCHEMA {
            return Err(invalid(format!("field `schema`: expected \"{SCHEMA}\", found \"{}\"", r.schema)));
        }
        Ok(r)
    }

    /// Parse a stored report whose bytes must hash to `expected`.
    pub fn parse_stored(object: &str, bytes: &[u8], expected: &Digest) -> Result<OutcomeReport, OutcomeError> {
        let actual = Digest::of(bytes);
        if &actual != expected {
            return Err(OutcomeError::DigestMismatch {
                object: object.into(),
                expected: expected.clone(),
                actual,
            });
        }
        OutcomeReport::parse(object, bytes)
    }
}

/// One row of either period, reduced to what the report counts.
#[derive(Clone, Copy)]
struct Row {
    window: u32,
    class: u16,
    flags: [bool; 3],
    /// Signoff aging in hours, when the row has a queue time.
    hours: f64,
}

/// Per-window tallies of one group: (items, [overrides, misses, missed actionable]).
type Clusters = BTreeMap<u32, (u64, [u64; 3])>;

/// The rows of one period: `revision` in force, queued in `[from, to)`
/// (or `[from, to]` when `closed`), as of `to`.
fn period_rows(h: &History, revision: &Digest, from: DateTime<Utc>, to: DateTime<Utc>, closed: bool) -> Vec<Row> {
    let Some(live) = h.live.as_ref() else { return vec![] };
    let Some(rev) = live.revisions.iter().position(|x| x == revision.as_str()) else {
        return vec![];
    };
    let (from, to) = (from.timestamp_micros(), to.timestamp_micros());
    let mut rows = Vec::new();
    for i in 0..h.len() {
        let Some(q) = live.queued_at[i] else { continue };
        if live.live_revision[i] != rev as u32 || q < from || q > to || (q == to && !closed) {
            continue;
        }
        let done = match live.signed_off_at[i] {
            Some(s) if s <= to => s,
            _ => to,
        };
        let missed = h.missed[i];
        rows.push(Row {
            window: h.window[i],
            class: h.class[i],
            flags: [h.board_override[i], missed, missed && h.actionable[i]],
            hours: (done - q).max(0) as f64 / 3_600_000_000.0,
        });
    }
    rows
}

/// The rows of `rows` that `keep` keeps.
fn pick<'a>(rows: &'a [Row], keep: &dyn Fn(&Row) -> bool) -> Vec<&'a Row> {
    rows.iter().filter(|r| keep(r)).collect()
}

fn per_1000(count: u64, items: u64) -> Option<f64> {
    (items > 0).then(|| count as f64 * 1000.0 / items as f64)
}

fn counts(rows: &[&Row]) -> (PeriodCounts, Clusters) {
    let mut clusters = Clusters::new();
    let mut totals = [0u64; 3];
    let mut hours: Vec<f64> = Vec::with_capacity(rows.len());
    for r in rows {
        let c = clusters.entry(r.window).or_default();
        c.0 += 1;
        for (k, &flag) in r.flags.iter().enumerate() {
            c.1[k] += flag as u64;
            totals[k] += flag as u64;
        }
        hours.push(r.hours);
    }
    let items = rows.len() as u64;
    let p50 = nearest_rank_f64(&mut hours, 50);
    let p90 = nearest_rank_f64(&mut hours, 90);
    let c = PeriodCounts {
        items,
        windows: clusters.len() as u64,
        board_overrides: totals[0],
        misses: totals[1],
        missed_actionable: totals[2],
        board_overrides_per_1000: per_1000(totals[0], items),
        misses_per_1000: per_1000(totals[1], items),
        missed_actionable_per_1000: per_1000(totals[2], items),
        signoff_p50_hours: p50,
        signoff_p90_hours: p90,
    };
    (c, clusters)
}

/// The ratio estimate Y/N of one measure over window clusters and its
/// cluster-robust variance m/(m−1) · Σ(y_w − r·n_w)² / N², the sum taken
/// exactly as Σ(y_w·N − Y·n_w)² / N⁴ so that row order never shows.
fn rate_and_variance(clusters: &Clusters, k: usize) -> Option<(f64, f64, usize)> {
    let m = clusters.len();
    let n: i128 = clusters.values().map(|c| c.0 as i128).sum();
    if m < 2 || n == 0 {
        return None;
    }
    let y: i128 = clusters.values().map(|c| c.1[k] as i128).sum();
    let s: i128 = clusters
        .values()
        .map(|c| {
            let e = c.1[k] as i128 * n - y * c.0 as i128;
            e * e
        })
        .sum();
    let nf = n as f64;
    let var = (m as f64 / (m - 1) as f64) * (s as f64 / nf.powi(4));
    Some((y as f64 / nf, var, m))
}

/// A 95% interval for the difference of two independent ratio estimates
/// (per 1,000 items), with a Welch–Satterthwaite t critical value.
pub fn rate_difference(live: &Clusters, reference: &Clusters, k: usize) -> Option<Interval> {
    let (r1, v1, m1) = rate_and_variance(live, k)?;
    let (r0, v0, m0) = rate_and_variance(reference, k)?;
    let d = (r1 - r0) * 1000.0;
    let var = v1 + v0;
    // No spread between windows (no events on either side): an interval
    // of zero width would claim a certainty the data does not give.
    if var <= 0.0 {
        return None;
    }
    let df = var * var / (v1 * v1 / (m1 - 1) as f64 + v0 * v0 / (m0 - 1) as f64);
    let t = StudentsT::new(0.0, 1.0, df.max(1.0)).expect("df ≥ 1").inverse_cdf(0.975);
    let half = t * var.sqrt() * 1000.0;
    Some(Interval {
        low: d - half,
        high: d + half,
    })
}

fn group(name: &str, protected: bool, live: &[&Row], reference: &[&Row]) -> OutcomeGroup {
    let (l, lc) = counts(live);
    let (r, rc) = counts(reference);
    let rates = |c: &PeriodCounts| [c.board_overrides_per_1000, c.misses_per_1000, c.missed_actionable_per_1000];
    let changes = MEASURES
        .iter()
        .enumerate()
        .map(|(k, m)| RateChange {
            measure: m.to_string(),
            delta_per_1000: rates(&l)[k].zip(rates(&r)[k]).map(|(a, b)| a - b),
            interval: rate_difference(&lc, &rc, k),
        })
        .collect();
    OutcomeGroup {
        group: name.into(),
        protected,
        live: l,
        reference: r,
        changes,
    }
}

/// The report over `h` (read with its live-use columns) for `inp`.
pub fn build(h: &History, inp: &OutcomeInputs) -> OutcomeReport {
    let length = inp.end - inp.activated_at;
    let reference = Period {
        from: inp.activated_at - length,
        to: inp.activated_at,
    };
    let live_rows = period_rows(h, &inp.revision, inp.activated_at, inp.end, true);
    let ref_rows = period_rows(h, &inp.trusted_revision, reference.from, reference.to, false);
    let protected: Vec<bool> = h.classes.iter().map(|c| inp.protected_classes.contains(c)).collect();
    let mut groups = Vec::new();
    for (ci, class) in h.classes.iter().enumerate() {
        let of = |r: &Row| r.class as usize == ci;
        groups.push(group(class, protected[ci], &pick(&live_rows, &of), &pick(&ref_rows, &of)));
    }
    let is_protected = |r: &Row| protected[r.class as usize];
    groups.push(group(
        "protected",
        true,
        &pick(&live_rows, &is_protected),
        &pick(&ref_rows, &is_protected),
    ));
    let all = |_: &Row| true;
    groups.push(group("*", false, &pick(&live_rows, &all), &pick(&ref_rows, &all)));
    let star = groups.last().expect("the * group");
    let data = sufficiency(&star.live, &star.reference, inp.min_live_items);
    OutcomeReport {
        schema: SCHEMA.into(),
        cohort: inp.cohort.clone(),
        revision: inp.revision.clone(),
        trusted_revision: inp.trusted_revision.clone(),
        manifest_id: inp.manifest_id.clone(),
        window: LiveWindow {
            activated_at: inp.activated_at,
            end: inp.end,
            not_after: inp.not_after,
            renewals: inp.renewals,
            ended_by: inp.ended_by.as_ref().map(|(d, _)| d.clone()),
            seq: inp.ended_by.as_ref().map(|(_, s)| *s),
        },
        reference,
        history: HistoryRead {
            fingerprint: h.snapshot.fingerprint.clone(),
            objects: h.snapshot.objects.len() as u64,
            items: h.snapshot.items,
        },
        groups,
        breached: inp.guardrails.iter().any(|t| t.breached),
        guardrails: inp.guardrails.clone(),
        data,
    }
}

fn sufficiency(live: &PeriodCounts, reference: &PeriodCounts, min_live_items: u64) -> DataSufficiency {
    let mut notes = Vec::new();
    if live.items < min_live_items {
        notes.push(format!(
            "{} live-window items, fewer than min_live_items {min_live_items}: the window is blind",
            live.items
        ));
    }
    if reference.items == 0 {
        notes.push("no rows of the trusted revision in the reference period: nothing to compare with".into());
    }
    if live.windows < 2 || reference.windows < 2 {
        notes.push("fewer than 2 review windows in a period: no intervals".into());
    }
    DataSufficiency {
        live_items: live.items,
        live_windows: live.windows,
        reference_items: reference.items,
        reference_windows: reference.windows,
        min_live_items,
        sufficient: live.items >= min_live_items && reference.items > 0,
        notes,
    }
}

const PAGE: &str = include_str!("templates/outcome.html");
/// The style the outcome and sweep pages share.
pub(crate) const STYLE: &str = include_str!("templates/style.html");

/// One measure's row on the page.
#[derive(Serialize)]
struct PageRow {
    measure: &'static str,
    reference: String,
    live: String,
    delta: String,
    interval: String,
    /// "better", "worse" or "" for colouring the change.
    tone: &'static str,
}

#[derive(Serialize)]
struct PageGroup<'a> {
    group: &'a str,
    protected: bool,
    live: &'a PeriodCounts,
    reference: &'a PeriodCounts,
    rows: Vec<PageRow>,
    live_aging: String,
    reference_aging: String,
}

fn count_and_rate(count: u64, rate: Option<f64>) -> String {
    rate.map_or(count.to_string(), |r| format!("{count} ({r:.1})"))
}

fn aging(c: &PeriodCounts) -> String {
    let h = |v: Option<f64>| v.map_or("none".into(), |v| format!("{v:.1}"));
    format!("{} / {}", h(c.signoff_p50_hours), h(c.signoff_p90_hours))
}

fn page_group(g: &OutcomeGroup) -> PageGroup<'_> {
    let pick = |c: &PeriodCounts, k: usize| match k {
        0 => count_and_rate(c.board_overrides, c.board_overrides_per_1000),
        1 => count_and_rate(c.misses, c.misses_per_1000),
        _ => count_and_rate(c.missed_actionable, c.missed_actionable_per_1000),
    };
    let rows = g
        .changes
        .iter()
        .enumerate()
        .map(|(k, ch)| PageRow {
            measure: MEASURES[k],
            reference: pick(&g.reference, k),
            live: pick(&g.live, k),
            delta: ch.delta_per_1000.map_or("none".into(), |d| format!("{d:+.1}")),
            interval: ch.interval.map_or("none".into(), |i| i.to_string()),
            tone: match ch.interval {
                Some(i) if i.high < 0.0 => "better",
                Some(i) if i.low > 0.0 => "worse",
                _ => "",
            },
        })
        .collect();
    PageGroup {
        group: &g.group,
        protected: g.protected,
        live: &g.live,
        reference: &g.reference,
        rows,
        live_aging: aging(&g.live),
        reference_aging: aging(&g.reference),
    }
}

/// The report as a self-contained HTML page (no script, no network).
pub fn render_html(r: &OutcomeReport) -> Result<String, OutcomeError> {
    let mut env = minijinja::Environment::new();
    let fail = |e: minijinja::Error| OutcomeError::Render(e.to_string());
    env.add_template("outcome.html", PAGE).map_err(fail)?;
    env.add_template("style.html", STYLE).map_err(fail)?;
    // Protected together and * first, then each class.
    let mut groups: Vec<&OutcomeGroup> = r.groups.iter().collect();
    groups.sort_by_key(|g| !matches!(g.group.as_str(), "protected" | "*"));
    let views: Vec<PageGroup> = groups.into_iter().map(page_group).collect();
    env.get_template("outcome.html")
        .map_err(fail)?
        .render(minijinja::context! { r => r, digest => r.digest().as_str(), groups => views })
        .map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    /// Windows of 20–60 items, each item an event with probability `p`.
    fn simulate(rng: &mut ChaCha20Rng, windows: u32, p: f64) -> Clusters {
        (0..windows)
            .map(|w| {
                let n: u64 = rng.random_range(20..=60);
                let y = (0..n).filter(|_| rng.random::<f64>() < p).count() as u64;
                (w, (n, [y, 0, 0]))
            })
            .collect()
    }

    /// Statistics are tested by simulation with known truth: with equal
    /// rates on both sides the interval covers 0 close to 95% of the time.
    #[test]
    fn rate_difference_covers_zero_95_percent_when_nothing_changed() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        for (windows, p) in [(8u32, 0.1), (30, 0.05)] {
            let runs = 2000;
            let covered = (0..runs)
                .filter(|_| {
                    let (a, b) = (simulate(&mut rng, windows, p), simulate(&mut rng, windows, p));
                    rate_difference(&a, &b, 0).is_some_and(|i| i.contains(0.0))
                })
                .count();
            let share = covered as f64 / runs as f64;
            assert!((0.93..=0.97).contains(&share), "{windows} windows, p {p}: coverage {share}");
        }
    }

    #[test]
    fn a_real_change_is_seen() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let (a, b) = (simulate(&mut rng, 40, 0.02), simulate(&mut rng, 40, 0.12));
        let i = rate_difference(&a, &b, 0).expect("enough windows");
        assert!(i.high < 0.0, "{i}");
    }

    #[test]
    fn order_of_windows_never_shows() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let (a, b) = (simulate(&mut rng, 25, 0.1), simulate(&mut rng, 25, 0.1));
        let renumbered: Clusters = a.iter().map(|(w, c)| (1000 - w, *c)).collect();
        assert_eq!(rate_difference(&a, &b, 0), rate_difference(&renumbered, &b, 0));
    }
}

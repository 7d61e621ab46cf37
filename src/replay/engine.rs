//! The replay (SPEC §4): score every item under the live and the candidate
//! revision in one pass, rank each window by `(score desc, item_id asc by
//! bytes)`, mark the first `capacity` items surfaced, and count the per-class
//! metrics for both sides.
//!
//! Windows are grouped with a counting sort (no global sort) and ranked in
//! parallel batches with rayon; every count is an integer and every ratio is
//! computed once from integers at the end, so the result is identical on any
//! thread count.

use crate::pipeline::ReplaySettings;
use crate::profile::{CompiledProfile, Profile, ScoreFault};
use crate::replay::history::{split_lens, FeatureColumn, FeatureSegment, History, ItemIds};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("replay: item \"{item_id}\" ({object} row {row}): its score under {side} revision {revision} is not finite; check the profile's weights against column values")]
    NonFiniteScore {
        item_id: String,
        object: String,
        row: u64,
        side: &'static str,
        revision: String,
    },
    #[error(
        "replay: item \"{item_id}\" ({object} row {row}): column `{column}` is below 0 but {side} revision {revision} applies log1p to it"
    )]
    NegativeLog1p {
        item_id: String,
        object: String,
        row: u64,
        column: String,
        side: &'static str,
        revision: String,
    },
}

impl ReplayError {
    /// The object and row of the item the error names.
    pub fn place(&self) -> (&str, u64) {
        match self {
            ReplayError::NonFiniteScore { object, row, .. } | ReplayError::NegativeLog1p { object, row, .. } => (object, *row),
        }
    }
}

/// SPEC §4 metrics of one class (or `*`) under one revision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub items: u64,
    pub actionable: u64,
    pub surfaced: u64,
    pub tp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub fp: u64,
    pub recall: Option<f64>,
    pub precision: Option<f64>,
    pub overrides: u64,
    pub overrides_surfaced: u64,
    pub misses: u64,
    pub misses_surfaced: u64,
    pub rank_p50: Option<u64>,
    pub rank_p90: Option<u64>,
    pub aging_p90_hours: Option<f64>,
    /// Rows whose `actionable` is null: nobody judged them (SPEC §4b).
    #[serde(default)]
    pub unjudged: u64,
    #[serde(default)]
    pub unjudged_surfaced: u64,
    /// 1 − unjudged_surfaced / surfaced; null when nothing is surfaced.
    #[serde(default)]
    pub judged_coverage: Option<f64>,
}

impl Metrics {
    /// The metrics of a class with no items.
    pub fn empty() -> Metrics {
        Metrics {
            items: 0,
            actionable: 0,
            surfaced: 0,
            tp: 0,
            fn_: 0,
            fp: 0,
            recall: None,
            precision: None,
            overrides: 0,
            overrides_surfaced: 0,
            misses: 0,
            misses_surfaced: 0,
            rank_p50: None,
            rank_p90: None,
            aging_p90_hours: None,
            unjudged: 0,
            unjudged_surfaced: 0,
            judged_coverage: None,
        }
    }
}

/// candidate − live for every count and ratio; null where either side is null.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Delta {
    pub items: i64,
    pub actionable: i64,
    pub surfaced: i64,
    pub tp: i64,
    #[serde(rename = "fn")]
    pub fn_: i64,
    pub fp: i64,
    pub recall: Option<f64>,
    pub precision: Option<f64>,
    pub overrides: i64,
    pub overrides_surfaced: i64,
    pub misses: i64,
    pub misses_surfaced: i64,
    pub rank_p50: Option<i64>,
    pub rank_p90: Option<i64>,
    pub aging_p90_hours: Option<f64>,
    #[serde(default)]
    pub unjudged: i64,
    #[serde(default)]
    pub unjudged_surfaced: i64,
    #[serde(default)]
    pub judged_coverage: Option<f64>,
}

impl Delta {
    pub fn between(live: &Metrics, cand: &Metrics) -> Delta {
        let d = |c: u64, l: u64| c as i64 - l as i64;
        let r = |c: Option<f64>, l: Option<f64>| Some(c? - l?);
        let p = |c: Option<u64>, l: Option<u64>| Some(c? as i64 - l? as i64);
        Delta {
            items: d(cand.items, live.items),
            actionable: d(cand.actionable, live.actionable),
            surfaced: d(cand.surfaced, live.surfaced),
            tp: d(cand.tp, live.tp),
            fn_: d(cand.fn_, live.fn_),
            fp: d(cand.fp, live.fp),
            recall: r(cand.recall, live.recall),
            precision: r(cand.precision, live.precision),
            overrides: d(cand.overrides, live.overrides),
            overrides_surfaced: d(cand.overrides_surfaced, live.overrides_surfaced),
            misses: d(cand.misses, live.misses),
            misses_surfaced: d(cand.misses_surfaced, live.misses_surfaced),
            rank_p50: p(cand.rank_p50, live.rank_p50),
            rank_p90: p(cand.rank_p90, live.rank_p90),
            aging_p90_hours: r(cand.aging_p90_hours, live.aging_p90_hours),
            unjudged: d(cand.unjudged, live.unjudged),
            unjudged_surfaced: d(cand.unjudged_surfaced, live.unjudged_surfaced),
            judged_coverage: r(cand.judged_coverage, live.judged_coverage),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Regressed,
    Improved,
    Unchanged,
}

impl Verdict {
    /// SPEC §4: by missed actionable items (`fn`) alone.
    pub fn of(live: &Metrics, cand: &Metrics) -> Verdict {
        match cand.fn_.cmp(&live.fn_) {
            std::cmp::Ordering::Greater => Verdict::Regressed,
            std::cmp::Ordering::Less => Verdict::Improved,
            std::cmp::Ordering::Equal => Verdict::Unchanged,
        }
    }
}

/// Counts for one class under both revisions, before ratios.
#[derive(Clone, Debug, Default)]
struct Acc {
    items: u64,
    actionable: u64,
    unjudged: u64,
    overrides: u64,
    misses: u64,
    side: [SideAcc; 2],
    churn: Churn,
}

#[derive(Clone, Debug, Default)]
struct SideAcc {
    surfaced: u64,
    tp: u64,
    unjudged_surfaced: u64,
    overrides_surfaced: u64,
    misses_surfaced: u64,
    /// `rank_counts[r]`: actionable items ranked `r` (ranks are small: at most a window's size).
    rank_counts: Vec<u64>,
}

impl SideAcc {
    /// Count `rank` when the item is actionable: an add of 0 or 1, not a
    /// branch (whether an item is actionable does not follow a pattern).
    #[inline]
    fn count_rank(&mut self, rank: u32, actionable: bool) {
        let r = rank as usize;
        if r >= self.rank_counts.len() {
            self.rank_counts.resize(r + 1, 0);
        }
        self.rank_counts[r] += actionable as u64;
    }
}

impl Acc {
    fn absorb(&mut self, other: Acc) {
        self.items += other.items;
        self.actionable += other.actionable;
        self.unjudged += other.unjudged;
        self.overrides += other.overrides;
        self.misses += other.misses;
        self.churn.absorb(&other.churn);
        for (a, b) in self.side.iter_mut().zip(other.side) {
            a.surfaced += b.surfaced;
            a.tp += b.tp;
            a.unjudged_surfaced += b.unjudged_surfaced;
            a.overrides_surfaced += b.overrides_surfaced;
            a.misses_surfaced += b.misses_surfaced;
            if a.rank_counts.len() < b.rank_counts.len() {
                a.rank_counts.resize(b.rank_counts.len(), 0);
            }
            for (x, y) in a.rank_counts.iter_mut().zip(&b.rank_counts) {
                *x += y;
            }
        }
    }

    fn metrics(&self, side: usize, throughput: f64) -> Metrics {
        let s = &self.side[side];
        let rank_p50 = nearest_rank_counted(&s.rank_counts, 50);
        let rank_p90 = nearest_rank_counted(&s.rank_counts, 90);
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        Metrics {
            items: self.items,
            actionable: self.actionable,
            surfaced: s.surfaced,
            tp: s.tp,
            fn_: self.actionable - s.tp,
            fp: s.surfaced - s.tp - s.unjudged_surfaced,
            recall: ratio(s.tp, self.actionable),
            precision: ratio(s.tp, s.surfaced),
            overrides: self.overrides,
            overrides_surfaced: s.overrides_surfaced,
            misses: self.misses,
            misses_surfaced: s.misses_surfaced,
            rank_p50,
            rank_p90,
            aging_p90_hours: rank_p90.map(|r| r as f64 / throughput),
            unjudged: self.unjudged,
            unjudged_surfaced: s.unjudged_surfaced,
            judged_coverage: (s.surfaced > 0).then(|| 1.0 - s.unjudged_surfaced as f64 / s.surfaced as f64),
        }
    }
}

/// SPEC §4c churn of one class: items the candidate surfaces and live does
/// not (`entered`), and the reverse (`left`), with how many were actionable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Churn {
    pub entered: u64,
    pub entered_actionable: u64,
    /// Unjudged items only the candidate surfaces (SPEC §4b's caveat).
    pub entered_unjudged: u64,
    pub left: u64,
    pub left_actionable: u64,
}

impl Churn {
    fn absorb(&mut self, o: &Churn) {
        self.entered += o.entered;
        self.entered_actionable += o.entered_actionable;
        self.entered_unjudged += o.entered_unjudged;
        self.left += o.left;
        self.left_actionable += o.left_actionable;
    }
}

/// One class's counts in one review window under both revisions: the unit
/// the uncertainty statistics pair (SPEC §4a: windows, never items).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowCounts {
    pub window: u32,
    pub class: u16,
    /// Judged actionable items of the class in the window.
    pub actionable: u32,
    /// `[live, candidate]`: actionable and surfaced.
    pub tp: [u32; 2],
    /// `[live, candidate]`: judged, surfaced, not actionable.
    pub fp: [u32; 2],
}

/// An actionable item surfaced by exactly one side, for the churn examples.
#[derive(Clone, Copy, Debug)]
struct Discordant {
    class: u16,
    /// 0: `gained` (only the candidate surfaces it), 1: `lost` (only live does).
    direction: u8,
    change: f64,
    item: u32,
}

/// How many example item ids SPEC §4c keeps per class and direction.
pub const CHURN_EXAMPLES: usize = 10;

/// Nearest-rank percentile: the value at 1-based position ceil(p·n) of the
/// ascending values, computed in integers (p in percent).
pub fn nearest_rank(sorted: &[u32], percent: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = (sorted.len() as u64 * percent).div_ceil(100).max(1);
    Some(sorted[pos as usize - 1] as u64)
}

/// [`nearest_rank`] over a histogram: `counts[v]` values equal to `v`.
pub fn nearest_rank_counted(counts: &[u64], percent: u64) -> Option<u64> {
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return None;
    }
    let pos = (n * percent).div_ceil(100).max(1);
    let mut seen = 0;
    for (v, &c) in counts.iter().enumerate() {
        seen += c;
        if seen >= pos {
            return Some(v as u64);
        }
    }
    unreachable!("pos <= n")
}

/// Nearest-rank percentile of float values (used by guardrail readings).
pub fn nearest_rank_f64(values: &mut [f64], percent: u64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let pos = (values.len() as u64 * percent).div_ceil(100).max(1);
    Some(values[pos as usize - 1])
}

/// Per-item results in window-grouped order: `order[pos]` is the item at
/// position `pos`; windows occupy `window_offsets[w]..window_offsets[w+1]`.
#[derive(Clone, Debug)]
pub struct Ranking {
    pub order: Arc<Vec<u32>>,
    pub window_offsets: Arc<Vec<usize>>,
    /// `score[side][pos]`, `rank[side][pos]` for side 0 = live, 1 = candidate.
    /// The live side is shared by every candidate of a sweep.
    pub score: [Arc<Vec<f64>>; 2],
    pub rank: [Arc<Vec<u32>>; 2],
    /// Capacity of each window after the pipeline default is applied.
    pub capacity: Arc<Vec<u32>>,
}

/// The live side of a replay: windows grouped into batches, and every item's
/// live score and rank. A sweep computes it once and replays each candidate
/// against it ([`replay_candidate`]); a single replay is the same two steps.
pub struct LiveSide {
    capacity: Arc<Vec<u32>>,
    order: Arc<Vec<u32>>,
    window_offsets: Arc<Vec<usize>>,
    bounds: Vec<usize>,
    /// Live score and rank, aligned with `order`.
    score: Arc<Vec<f64>>,
    rank: Arc<Vec<u32>>,
    /// Each item's class and outcomes packed ([`Attrs`]), aligned with
    /// `order`: counting reads them in sequence, not scattered by item.
    attrs: Vec<Attrs>,
    /// Per batch, what every candidate's counts start from: the items' own
    /// counts, live's side, and each window's per-class entries.
    counts: Vec<BatchCounts>,
}

/// An item's class (low 16 bits) and outcome flags, packed in one word.
#[derive(Clone, Copy, Default)]
struct Attrs(u32);

impl Attrs {
    const ACTIONABLE: u32 = 1 << 16;
    const UNJUDGED: u32 = 1 << 17;
    const OVERRIDE: u32 = 1 << 18;
    const MISSED: u32 = 1 << 19;

    fn of(h: &History, i: usize) -> Attrs {
        let flag = |b: bool, f: u32| if b { f } else { 0 };
        Attrs(
            h.class[i] as u32
                | flag(h.actionable[i], Self::ACTIONABLE)
                | flag(h.unjudged[i], Self::UNJUDGED)
                | flag(h.board_override[i], Self::OVERRIDE)
                | flag(h.missed[i], Self::MISSED),
        )
    }
    #[inline]
    fn class(self) -> u16 {
        self.0 as u16
    }
    #[inline]
    fn has(self, f: u32) -> bool {
        self.0 & f != 0
    }
}

/// The replay of one history under two revisions.
#[derive(Clone, Debug)]
pub struct Replay {
    pub ranking: Ranking,
    /// Per class, in the history's class order (ascending bytes): `[live, candidate]`.
    pub classes: Vec<[Metrics; 2]>,
    pub all: [Metrics; 2],
    /// Per class, churn between the two sides.
    pub churn: Vec<Churn>,
    pub all_churn: Churn,
    /// Per class, `[gained, lost]` example items (indices into the history),
    /// largest score change first, then item id bytes; at most [`CHURN_EXAMPLES`] each.
    pub examples: Vec<[Vec<u32>; 2]>,
    /// Per window (ascending window index), per class present (ascending),
    /// in runs of whole windows (one per ranking batch, kept as the batches
    /// made them rather than copied into one list).
    pub window_counts: Vec<Vec<WindowCounts>>,
}

/// Buffers one scoring and ranking pass leaves for the next, so that a
/// sweep does not map and fault in fresh pages for every candidate: the
/// per-item scores, and the previous candidate's scores and ranks in window
/// order once its replay is handed back ([`ScoringBuffers::reclaim`]).
#[derive(Default)]
pub struct ScoringBuffers {
    score_item: Vec<f64>,
    ranked: Option<(Vec<f64>, Vec<u32>)>,
}

impl ScoringBuffers {
    /// Take back a replay's candidate scores and ranks, when nothing else holds them.
    pub fn reclaim(&mut self, replay: Replay) {
        let [_, score] = replay.ranking.score;
        let [_, rank] = replay.ranking.rank;
        if let (Ok(score), Ok(rank)) = (Arc::try_unwrap(score), Arc::try_unwrap(rank)) {
            self.ranked = Some((score, rank));
        }
    }
}

/// How windows are cut into parallel ranking batches: whole windows, about
/// `max(items / (threads · 16), min_items)` items per batch. Results never
/// depend on it; tests shrink it to put many batch boundaries in small data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batching {
    pub min_items: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Batching { min_items: 4096 }
    }
}

/// Run the replay of `history` for `live` against `candidate`.
pub fn replay(history: &History, live: &Profile, candidate: &Profile, settings: &ReplaySettings) -> Result<Replay, ReplayError> {
    replay_with(history, live, candidate, settings, Batching::default())
}

/// [`replay`] with explicit batching.
pub fn replay_with(
    history: &History,
    live: &Profile,
    candidate: &Profile,
    settings: &ReplaySettings,
    batching: Batching,
) -> Result<Replay, ReplayError> {
    let mut buffers = ScoringBuffers::default();
    let side = live_side(history, live, settings, batching, &mut buffers)?;
    replay_candidate(history, &side, candidate, settings, None, &mut buffers)
}

/// Group the windows, score every item under `live` and rank each window.
pub fn live_side(
    history: &History,
    live: &Profile,
    settings: &ReplaySettings,
    batching: Batching,
    buffers: &mut ScoringBuffers,
) -> Result<LiveSide, ReplayError> {
    let capacity: Vec<u32> = history
        .windows
        .iter()
        .map(|w| w.capacity.unwrap_or(settings.default_capacity))
        .collect();
    let started = std::time::Instant::now();
    score_side(history, live, 0, None, &mut buffers.score_item)?;
    tracing::debug!(elapsed = ?started.elapsed(), "live scored");
    let InWindowOrder {
        order,
        window_offsets,
        score,
        attrs,
    } = in_window_order(&history.window, history.windows.len(), &buffers.score_item, |i| {
        Attrs::of(history, i)
    });
    tracing::debug!(elapsed = ?started.elapsed(), "windows grouped, live's scores and outcomes in window order");
    let bounds = batch_bounds(&window_offsets, history.len(), batching);
    let grouping = Grouping {
        history,
        order: &order,
        window_offsets: &window_offsets,
        capacity: &capacity,
        attrs: &attrs,
    };
    let (score, rank, counts) = rank_live(&grouping, &bounds, score);
    tracing::debug!(elapsed = ?started.elapsed(), "live ranked and counted");
    Ok(LiveSide {
        capacity: Arc::new(capacity),
        order: Arc::new(order),
        window_offsets: Arc::new(window_offsets),
        bounds,
        score: Arc::new(score),
        rank: Arc::new(rank),
        attrs,
        counts,
    })
}

/// Replay `candidate` against a live side already ranked: score and rank
/// the candidate, then count every window under both, in `buffers` left by
/// the live pass or by the previous candidate.
pub fn replay_candidate(
    history: &History,
    live: &LiveSide,
    candidate: &Profile,
    settings: &ReplaySettings,
    cache: Option<&Log1pCache>,
    buffers: &mut ScoringBuffers,
) -> Result<Replay, ReplayError> {
    let ranked = rank_candidate(history, live, candidate, cache, buffers)?;
    let examples = (0..history.classes.len())
        .map(|c| {
            [0, 1].map(|d| {
                ranked
                    .examples
                    .iter()
                    .filter(|e| e.class as usize == c && e.direction == d)
                    .map(|e| e.item)
                    .collect()
            })
        })
        .collect();
    let ranking = Ranking {
        order: live.order.clone(),
        window_offsets: live.window_offsets.clone(),
        score: [live.score.clone(), Arc::new(ranked.score)],
        rank: [live.rank.clone(), Arc::new(ranked.rank)],
        capacity: live.capacity.clone(),
    };
    Ok(assemble(ranking, &ranked.per_class, examples, ranked.window_counts, settings))
}

/// Score and rank `candidate` and count every window under both sides.
fn rank_candidate(
    history: &History,
    live: &LiveSide,
    candidate: &Profile,
    cache: Option<&Log1pCache>,
    buffers: &mut ScoringBuffers,
) -> Result<Ranked, ReplayError> {
    let started = std::time::Instant::now();
    score_side(history, candidate, 1, cache, &mut buffers.score_item)?;
    let score_item = &buffers.score_item;
    tracing::debug!(elapsed = ?started.elapsed(), "candidate scored");
    let grouped = Grouped { history, live, score_item };
    let ranked = rank_batches(&grouped, buffers.ranked.take());
    tracing::debug!(elapsed = ?started.elapsed(), "candidate ranked and counted");
    Ok(ranked)
}

/// A replay from its per-class counts: metrics, churn, and the `*` row.
fn assemble(
    ranking: Ranking,
    per_class: &[Acc],
    examples: Vec<[Vec<u32>; 2]>,
    window_counts: Vec<Vec<WindowCounts>>,
    settings: &ReplaySettings,
) -> Replay {
    let mut all = Acc::default();
    for a in per_class {
        all.absorb(a.clone());
    }
    let t = settings.reviewer_throughput_per_hour;
    Replay {
        ranking,
        classes: per_class.iter().map(|a| [a.metrics(0, t), a.metrics(1, t)]).collect(),
        all: [all.metrics(0, t), all.metrics(1, t)],
        churn: per_class.iter().map(|a| a.churn.clone()).collect(),
        all_churn: all.churn,
        examples,
        window_counts,
    }
}

/// What one window partition of a history adds to a replay (README "Memory
/// budget"): per-class counts before ratios, per-window counts under the
/// whole history's window indices, and the kept churn examples by item id.
/// Parts absorbed in partition order make the replay a whole read makes.
#[derive(Clone, Debug, Default)]
pub struct ReplayPart {
    per_class: Vec<Acc>,
    window_counts: Vec<Vec<WindowCounts>>,
    /// (class, direction, score change, item id), in [`example_order`].
    examples: Vec<(u16, u8, f64, Box<str>)>,
}

/// Replay `candidate` over one partition of a history whose live side is
/// ranked, its first window being window `window_base` of the whole history.
pub fn replay_part(
    history: &History,
    live: &LiveSide,
    candidate: &Profile,
    cache: Option<&Log1pCache>,
    buffers: &mut ScoringBuffers,
    window_base: u32,
) -> Result<ReplayPart, ReplayError> {
    let ranked = rank_candidate(history, live, candidate, cache, buffers)?;
    buffers.ranked = Some((ranked.score, ranked.rank));
    let mut window_counts = ranked.window_counts;
    for c in window_counts.iter_mut().flatten() {
        c.window += window_base;
    }
    let examples = ranked
        .examples
        .iter()
        .map(|e| (e.class, e.direction, e.change, history.item_ids.get_str(e.item as usize).into()))
        .collect();
    Ok(ReplayPart {
        per_class: ranked.per_class,
        window_counts,
        examples,
    })
}

impl ReplayPart {
    /// Add the part of the next partition (whose windows follow this one's).
    pub fn absorb(&mut self, next: ReplayPart) {
        if self.per_class.is_empty() {
            self.per_class = vec![Acc::default(); next.per_class.len()];
        }
        for (a, b) in self.per_class.iter_mut().zip(next.per_class) {
            a.absorb(b);
        }
        self.window_counts.extend(next.window_counts);
        self.examples.extend(next.examples);
        self.examples
            .sort_by(|a, b| examples_ordered((a.0, a.1, a.2, a.3.as_bytes()), (b.0, b.1, b.2, b.3.as_bytes())));
        keep_first_of_each_list(&mut self.examples, |e| (e.0, e.1));
    }

    /// The replay the absorbed parts make, over `classes` classes. Its
    /// examples index `ids`, to which their item ids are appended; it ranks
    /// no item (a partitioned replay keeps no per-item table).
    pub fn finish(self, classes: usize, settings: &ReplaySettings, ids: &mut Vec<String>) -> Replay {
        let mut examples = vec![[Vec::new(), Vec::new()]; classes];
        for (class, direction, _, id) in self.examples {
            examples[class as usize][direction as usize].push(ids.len() as u32);
            ids.push(id.into());
        }
        let per_class = match self.per_class.is_empty() {
            true => vec![Acc::default(); classes],
            false => self.per_class,
        };
        let ranking = Ranking {
            order: Arc::default(),
            window_offsets: Arc::new(vec![0]),
            score: [Arc::default(), Arc::default()],
            rank: [Arc::default(), Arc::default()],
            capacity: Arc::default(),
        };
        assemble(ranking, &per_class, examples, self.window_counts, settings)
    }
}

/// Group items by window: a counting sort, stable in item order. Returns
/// `order` (items in window-grouped order) and each window's offsets into it.
/// Placing is split by ranges of windows of about equal item counts: each
/// task reads every row in order and places those of its windows, so the
/// result is the sequential one on any thread count.
pub fn group_by_window(history: &History) -> (Vec<u32>, Vec<usize>) {
    order_by_window(&history.window, history.windows.len())
}

/// [`group_by_window`] of rows whose windows (of `nw`) are `window`.
fn order_by_window(window: &[u32], nw: usize) -> (Vec<u32>, Vec<usize>) {
    let window_offsets = window_offsets(window, nw);
    let mut order = vec![0u32; window.len()];
    place_by_window(window, &window_offsets, &mut order, |i| i as u32);
    (order, window_offsets)
}

/// Where each window's items start in window order, then the item count:
/// items per window counted over one block of rows a thread.
fn window_offsets(window: &[u32], nw: usize) -> Vec<usize> {
    let block = window.len().div_ceil(rayon::current_num_threads().max(1)).max(1 << 16);
    let per_window = window
        .par_chunks(block)
        .fold(
            || vec![0u32; nw],
            |mut count, block| {
                for &w in block {
                    count[w as usize] += 1;
                }
                count
            },
        )
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
            a
        })
        .unwrap_or_else(|| vec![0; nw]);
    let mut window_offsets = vec![0usize; nw + 1];
    for w in 0..nw {
        window_offsets[w + 1] = window_offsets[w] + per_window[w] as usize;
    }
    window_offsets
}

/// Put `what(i)` of every row `i` at the row's place in window order (rows
/// of a window in row order) in `out`. Each task takes a range of windows
/// of about equal items and passes over every row, keeping its own.
fn place_by_window<T: Send>(window: &[u32], window_offsets: &[usize], out: &mut [T], what: impl Fn(usize) -> T + Sync) {
    let (n, nw) = (window.len(), window_offsets.len() - 1);
    let tasks = rayon::current_num_threads().clamp(1, 8);
    let mut cuts: Vec<usize> = (0..tasks)
        .map(|t| window_offsets.partition_point(|&o| o < n * t / tasks).min(nw))
        .collect();
    cuts.push(nw);
    cuts.dedup();
    let lens: Vec<usize> = cuts.windows(2).map(|c| window_offsets[c[1]] - window_offsets[c[0]]).collect();
    split_lens(out, &lens)
        .into_par_iter()
        .zip(cuts.par_windows(2))
        .for_each(|(out, c)| {
            let (lo, hi) = (c[0] as u32, c[1] as u32);
            let base = window_offsets[c[0]];
            let mut cursor: Vec<usize> = window_offsets[c[0]..c[1]].iter().map(|o| o - base).collect();
            for (i, &w) in window.iter().enumerate() {
                if (lo..hi).contains(&w) {
                    let at = &mut cursor[(w - lo) as usize];
                    out[*at] = what(i);
                    *at += 1;
                }
            }
        });
}

/// Batches of whole windows, about equal in items, for the current rayon
/// pool: the window indices where batches start, then the window count.
pub fn batch_bounds(window_offsets: &[usize], n: usize, batching: Batching) -> Vec<usize> {
    let nw = window_offsets.len() - 1;
    let threads = rayon::current_num_threads().max(1);
    let target = (n / (threads * 16)).max(batching.min_items).max(1);
    let mut bounds = vec![0usize];
    let mut acc = 0usize;
    for w in 0..nw {
        acc += window_offsets[w + 1] - window_offsets[w];
        if acc >= target {
            bounds.push(w + 1);
            acc = 0;
        }
    }
    if *bounds.last().expect("starts with 0") != nw {
        bounds.push(nw);
    }
    bounds
}

/// Score every item under one revision (`side` 0 = live, 1 = candidate, for
/// messages), column by column over the feature segments, in parallel,
/// into `scores` (every item is written).
fn score_side(
    history: &History,
    profile: &Profile,
    side: usize,
    cache: Option<&Log1pCache>,
    scores: &mut Vec<f64>,
) -> Result<(), ReplayError> {
    let compiled = profile.compile(&history.feature_names, &history.classes);
    if scores.len() != history.len() {
        // Fresh zeroed pages (every score is written below, in parallel),
        // not a fill on this thread.
        *scores = vec![0.0; history.len()];
    }
    let seg_lens: Vec<usize> = history.features.iter().map(|s| s.len).collect();
    let scored: Vec<Result<(), ReplayError>> = history
        .features
        .par_iter()
        .enumerate()
        .zip(split_lens(scores, &seg_lens).into_par_iter())
        .map(|((k, seg), out)| {
            let items = seg.start..seg.start + seg.len;
            let cached = |column, cap| cache.and_then(|c| c.get(k, column, cap));
            score_segment(&compiled, seg, cached, &history.class[items.clone()], &history.kind[items], out)
                .map_err(|(j, fault)| score_error(history, seg.start + j, fault, side, profile))
        })
        .collect();
    scored.into_iter().collect::<Result<(), _>>()
}

/// Items [`score_segment`] scores at a time: the block's columns, read as
/// doubles, stay in the core's cache from one term to the next.
const SCORE_BLOCK: usize = 1 << 16;

/// Score one feature segment, a block of items at a time when a column it
/// reads is kept narrower than doubles (converted into scratch). Every
/// item's arithmetic is that of a whole-segment pass; the first fault is
/// the segment's first, as an index into it.
fn score_segment<'a>(
    compiled: &CompiledProfile,
    seg: &FeatureSegment,
    cached: impl Fn(usize, f64) -> Option<&'a [f64]>,
    class: &[u16],
    kind: &[u8],
    out: &mut [f64],
) -> Result<(), (usize, ScoreFault)> {
    let mut scratch: Vec<Vec<f64>> = vec![Vec::new(); seg.columns.len()];
    let used: Vec<bool> = (0..seg.columns.len()).map(|c| compiled.uses_column(c)).collect();
    // Columns of doubles only: the whole segment is one block.
    let narrow = (seg.columns.iter().zip(&used)).any(|(col, &u)| u && !matches!(col, FeatureColumn::F64(_)));
    let block = if narrow { SCORE_BLOCK } else { seg.len.max(1) };
    for lo in (0..seg.len).step_by(block) {
        let hi = (lo + block).min(seg.len);
        let views: Vec<&[f64]> = (seg.columns.iter().zip(scratch.iter_mut()).zip(&used))
            .map(|((column, s), &u)| if u { column.view(lo..hi, s) } else { &[] })
            .collect();
        let cached_block = |c, cap| cached(c, cap).map(|v: &'a [f64]| &v[lo..hi]);
        compiled
            .score_columns(&views, cached_block, &class[lo..hi], &kind[lo..hi], &mut out[lo..hi])
            .map_err(|(j, fault)| (lo + j, fault))?;
    }
    Ok(())
}

/// `log1p(min(x, cap))` columns that several candidates of a sweep share,
/// computed once per feature segment (the most expensive part of scoring).
#[derive(Default)]
pub struct Log1pCache {
    columns: std::collections::HashMap<(usize, u64), Vec<Vec<f64>>>,
}

impl Log1pCache {
    /// The `log1p` terms at least two of `profiles` have.
    pub fn shared_by(history: &History, profiles: &[&Profile]) -> Log1pCache {
        let mut seen = std::collections::HashMap::<(usize, u64), usize>::new();
        for p in profiles {
            let mut terms = p.compile(&history.feature_names, &history.classes).log1p_terms();
            terms.sort_by_key(|&(c, cap)| (c, cap.to_bits()));
            terms.dedup_by_key(|&mut (c, cap)| (c, cap.to_bits()));
            for (c, cap) in terms {
                *seen.entry((c, cap.to_bits())).or_default() += 1;
            }
        }
        let columns = seen
            .into_iter()
            .filter(|&(_, n)| n >= 2)
            .map(|((c, cap), _)| {
                let per_segment = history
                    .features
                    .par_iter()
                    .map(|seg| CompiledProfile::log1p_column(&seg.columns[c].to_f64(), f64::from_bits(cap)))
                    .collect();
                ((c, cap), per_segment)
            })
            .collect();
        Log1pCache { columns }
    }

    fn get(&self, segment: usize, column: usize, cap: f64) -> Option<&[f64]> {
        self.columns.get(&(column, cap.to_bits())).map(|s| s[segment].as_slice())
    }
}

/// The windows as the live pass sees them.
struct Grouping<'a> {
    history: &'a History,
    order: &'a [u32],
    window_offsets: &'a [usize],
    capacity: &'a [u32],
    attrs: &'a [Attrs],
}

/// Rank every window under live's scores and count it under live, in
/// parallel batches: scores and ranks aligned with `order`, counts per batch.
fn rank_live(g: &Grouping, bounds: &[usize], mut score: Vec<f64>) -> (Vec<f64>, Vec<u32>, Vec<BatchCounts>) {
    let offsets = g.window_offsets;
    let n = g.order.len();
    let mut rank = vec![0u32; n];
    let nclasses = g.history.classes.len();
    let counts = batch_outs(bounds, offsets, &mut score, &mut rank)
        .into_par_iter()
        .map(|out| {
            let base = offsets[out.windows.start];
            let mut keyed = Vec::new();
            let mut counts = BatchCounts {
                accs: vec![Acc::default(); nclasses],
                ..BatchCounts::default()
            };
            let (mut per_window, mut present) = (vec![WindowCounts::default(); nclasses], Vec::new());
            for w in out.windows {
                let (lo, hi) = (offsets[w], offsets[w + 1]);
                let (s, r) = (&mut out.score[lo - base..hi - base], &mut out.rank[lo - base..hi - base]);
                rank_window(&g.history.item_ids, &g.order[lo..hi], s, r, &mut keyed);
                let window = LiveWindow {
                    index: w as u32,
                    attrs: &g.attrs[lo..hi],
                    rank: r,
                    capacity: g.capacity[w],
                };
                count_live(&window, &mut counts, &mut per_window, &mut present);
            }
            counts
        })
        .collect();
    (score, rank, counts)
}

/// What counting reads: the history, the live side and the candidate's scores.
struct Grouped<'a> {
    history: &'a History,
    live: &'a LiveSide,
    score_item: &'a [f64],
}

/// One batch of whole windows: its index, its windows, and its slices of
/// one side's scores and ranks aligned with `order`.
struct BatchOut<'a> {
    index: usize,
    windows: std::ops::Range<usize>,
    score: &'a mut [f64],
    rank: &'a mut [u32],
}

/// Cut one side's `score` and `rank` (aligned with `order`) into the
/// batches `bounds` make, for the live pass and the candidate pass alike.
fn batch_outs<'a>(bounds: &[usize], offsets: &[usize], score: &'a mut [f64], rank: &'a mut [u32]) -> Vec<BatchOut<'a>> {
    let batch_lens: Vec<usize> = bounds.windows(2).map(|b| offsets[b[1]] - offsets[b[0]]).collect();
    bounds
        .windows(2)
        .zip(split_lens(score, &batch_lens))
        .zip(split_lens(rank, &batch_lens))
        .enumerate()
        .map(|(index, ((b, score), rank))| BatchOut {
            index,
            windows: b[0]..b[1],
            score,
            rank,
        })
        .collect()
}

/// What ranking returns: the candidate's outputs aligned with `order`,
/// per-class counts, per-window counts in window order, and the kept churn examples.
struct Ranked {
    score: Vec<f64>,
    rank: Vec<u32>,
    per_class: Vec<Acc>,
    window_counts: Vec<Vec<WindowCounts>>,
    examples: Vec<Discordant>,
}

/// One batch's counts.
#[derive(Clone, Default)]
struct BatchCounts {
    accs: Vec<Acc>,
    window_counts: Vec<WindowCounts>,
    examples: Vec<Discordant>,
}

/// Rank the candidate in parallel batches and count every window; outputs
/// are aligned with `order`, and per-class counts are summed over batches
/// (in batch order, so every result is the same on any thread count).
fn rank_batches(g: &Grouped, spare: Option<(Vec<f64>, Vec<u32>)>) -> Ranked {
    let (offsets, bounds) = (&g.live.window_offsets, &g.live.bounds);
    let n = g.live.order.len();
    // Every position is written: a spare pair of the right length is reused as is.
    let (mut pos_score, mut rank) = match spare {
        Some((s, r)) if s.len() == n && r.len() == n => (s, r),
        _ => (vec![0f64; n], vec![0u32; n]),
    };
    let nclasses = g.history.classes.len();
    let results: Vec<BatchCounts> = batch_outs(bounds, offsets, &mut pos_score, &mut rank)
        .into_par_iter()
        .map(|mut out| rank_batch(g, &mut out))
        .collect();
    let mut per_class = vec![Acc::default(); nclasses];
    let mut window_counts = Vec::with_capacity(results.len());
    let mut examples = Vec::new();
    for r in results {
        for (a, b) in per_class.iter_mut().zip(r.accs) {
            a.absorb(b);
        }
        window_counts.push(r.window_counts);
        examples.extend(r.examples);
    }
    keep_examples(g.history, &mut examples);
    Ranked {
        score: pos_score,
        rank,
        per_class,
        window_counts,
        examples,
    }
}

/// Keep the first [`CHURN_EXAMPLES`] per class and direction, ordered by
/// (class, direction, largest score change, item id bytes).
fn keep_examples(h: &History, examples: &mut Vec<Discordant>) {
    examples.sort_unstable_by(|a, b| example_order(&h.item_ids, a, b));
    keep_first_of_each_list(examples, |e| (e.class, e.direction));
}

/// Keep the first [`CHURN_EXAMPLES`] of each (class, direction) run of
/// `examples`, which are in [`example_order`].
fn keep_first_of_each_list<T>(examples: &mut Vec<T>, list: impl Fn(&T) -> (u16, u8)) {
    let mut kept = 0;
    let mut last = None;
    examples.retain(|e| {
        if last != Some(list(e)) {
            last = Some(list(e));
            kept = 0;
        }
        kept += 1;
        kept <= CHURN_EXAMPLES
    });
}

/// The order of the churn examples: class, direction, largest score change,
/// item id bytes (a total order: item ids are unique).
fn example_order(ids: &ItemIds, a: &Discordant, b: &Discordant) -> std::cmp::Ordering {
    let id = |d: &Discordant| ids.get(d.item as usize);
    examples_ordered((a.class, a.direction, a.change, id(a)), (b.class, b.direction, b.change, id(b)))
}

/// [`example_order`] over (class, direction, score change, item id bytes).
fn examples_ordered(a: (u16, u8, f64, &[u8]), b: (u16, u8, f64, &[u8])) -> std::cmp::Ordering {
    (a.0, a.1).cmp(&(b.0, b.1)).then(b.2.total_cmp(&a.2)).then_with(|| a.3.cmp(b.3))
}

/// The best [`CHURN_EXAMPLES`] so far of each (class, direction), in
/// [`example_order`]. An item whose score change alone puts it after its
/// list's last costs one comparison; the others wait in `pending` and are
/// placed [`PENDING_EXAMPLES`] at a time, their ids fetched together first
/// (score changes tie often, and on a shuffled history each id compared is
/// a read at random). The lists kept do not depend on when items are placed.
struct ExampleLists {
    lists: Vec<[Vec<Discordant>; 2]>,
    pending: Vec<Discordant>,
}

/// How many offers wait before they are placed.
const PENDING_EXAMPLES: usize = 64;

impl ExampleLists {
    fn new(classes: usize) -> ExampleLists {
        ExampleLists {
            lists: vec![[Vec::new(), Vec::new()]; classes],
            pending: Vec::with_capacity(PENDING_EXAMPLES),
        }
    }

    #[inline]
    fn offer(&mut self, ids: &ItemIds, d: Discordant) {
        let list = &self.lists[d.class as usize][d.direction as usize];
        // After the last by score change alone: (class, direction) are the
        // list's, and example_order puts the larger change first.
        if list.len() == CHURN_EXAMPLES && list[CHURN_EXAMPLES - 1].change.total_cmp(&d.change).is_gt() {
            return;
        }
        self.pending.push(d);
        if self.pending.len() == PENDING_EXAMPLES {
            self.place_pending(ids);
        }
    }

    /// Place every pending offer in its list, having asked for their ids.
    fn place_pending(&mut self, ids: &ItemIds) {
        let mut pending = std::mem::take(&mut self.pending);
        for d in &pending {
            ids.prefetch_offsets(d.item as usize);
        }
        for d in &pending {
            ids.prefetch_bytes(d.item as usize);
        }
        for &d in &pending {
            self.place(ids, d);
        }
        pending.clear();
        self.pending = pending;
    }

    /// Put `d` in its list if it is among the best [`CHURN_EXAMPLES`].
    fn place(&mut self, ids: &ItemIds, d: Discordant) {
        let list = &mut self.lists[d.class as usize][d.direction as usize];
        if list.len() == CHURN_EXAMPLES && example_order(ids, &d, &list[CHURN_EXAMPLES - 1]).is_gt() {
            return;
        }
        let at = list.partition_point(|e| example_order(ids, e, &d).is_lt());
        list.insert(at, d);
        list.truncate(CHURN_EXAMPLES);
    }

    /// Every list, in (class, direction) order: what [`keep_examples`] keeps.
    fn into_kept(mut self, ids: &ItemIds) -> Vec<Discordant> {
        self.place_pending(ids);
        self.lists.into_iter().flat_map(|[a, b]| a.into_iter().chain(b)).collect()
    }
}

/// Rank one batch's windows under the candidate and add its side
/// and the churn to the live pass's counts of the batch.
fn rank_batch(g: &Grouped, out: &mut BatchOut) -> BatchCounts {
    let (h, live) = (g.history, g.live);
    let mut counts = live.counts[out.index].clone();
    let mut lists = ExampleLists::new(h.classes.len());
    let mut slot = vec![0usize; h.classes.len()];
    let mut cursor = 0;
    let base = live.window_offsets[out.windows.start];
    gather_scores(&live.order[base..base + out.score.len()], g.score_item, out.score);
    let mut keyed: Vec<u64> = Vec::new();
    for w in out.windows.clone() {
        let (lo, hi) = (live.window_offsets[w], live.window_offsets[w + 1]);
        let items = &live.order[lo..hi];
        let (cs, cr) = (&mut out.score[lo - base..hi - base], &mut out.rank[lo - base..hi - base]);
        rank_window(&h.item_ids, items, cs, cr, &mut keyed);
        // This window's per-class entries: the run the live pass wrote for it.
        let start = cursor;
        while cursor < counts.window_counts.len() && counts.window_counts[cursor].window == w as u32 {
            slot[counts.window_counts[cursor].class as usize] = cursor - start;
            cursor += 1;
        }
        let window = WindowView {
            items,
            attrs: &live.attrs[lo..hi],
            score: [&live.score[lo..hi], cs],
            rank: [&live.rank[lo..hi], cr],
            capacity: live.capacity[w],
        };
        let run = &mut counts.window_counts[start..cursor];
        count_candidate(h, &window, &mut counts.accs, &mut lists, run, &slot);
    }
    counts.examples = lists.into_kept(&h.item_ids);
    counts
}

/// One ranked window: its items with both sides' scores and ranks.
struct WindowView<'a> {
    items: &'a [u32],
    attrs: &'a [Attrs],
    score: [&'a [f64]; 2],
    rank: [&'a [u32]; 2],
    capacity: u32,
}

/// The live pass's items in window order: which row each is, where each
/// window starts, and live's score and the packed outcomes of each.
struct InWindowOrder {
    order: Vec<u32>,
    window_offsets: Vec<usize>,
    score: Vec<f64>,
    attrs: Vec<Attrs>,
}

/// Group the rows (window `window[i]` of `nw`) by window, with live's
/// scores and the items' outcomes in window order. When the rows mostly lie
/// in window order already, the order is made first and each score and
/// outcome read where it lies (the reads run in sequence). Otherwise each
/// row's number, score and outcomes travel together, packed in one word, to
/// the row's place: on a shuffled history each item then costs one write
/// at random, not a write for its place and a read per column.
fn in_window_order(window: &[u32], nw: usize, score_item: &[f64], attrs_of: impl Fn(usize) -> Attrs + Sync) -> InWindowOrder {
    if rows_mostly_grouped(window) {
        let (order, window_offsets) = order_by_window(window, nw);
        let (score, attrs) = order.par_iter().map(|&i| (score_item[i as usize], attrs_of(i as usize))).unzip();
        return InWindowOrder {
            order,
            window_offsets,
            score,
            attrs,
        };
    }
    let window_offsets = window_offsets(window, nw);
    let mut placed = vec![0u128; window.len()];
    place_by_window(window, &window_offsets, &mut placed, |i| {
        (score_item[i].to_bits() as u128) << 64 | (attrs_of(i).0 as u128) << 32 | i as u128
    });
    let (order, (score, attrs)) = placed
        .par_iter()
        .map(|&p| (p as u32, (f64::from_bits((p >> 64) as u64), Attrs((p >> 32) as u32))))
        .unzip();
    InWindowOrder {
        order,
        window_offsets,
        score,
        attrs,
    }
}

/// Whether the rows mostly lie grouped by window already: on average, runs
/// of at least eight rows of one window.
fn rows_mostly_grouped(window: &[u32]) -> bool {
    let breaks = window.par_windows(2).filter(|w| w[1] != w[0]).count();
    breaks.saturating_mul(8) < window.len()
}

/// Each item's score at its position in `order`: one tight pass of reads
/// that do not depend on each other, so on a shuffled history the misses
/// overlap (inside [`rank_window`] they would wait behind each window's sort).
fn gather_scores(order: &[u32], score_item: &[f64], out: &mut [f64]) {
    for (o, &item) in out.iter_mut().zip(order) {
        *o = score_item[item as usize];
    }
}

/// Order one window's items (`scores` at their positions in `items`) by
/// (score desc, item id asc by bytes) and write each item's 1-based rank at
/// its position in `items`.
///
/// Sorted as one `u64` per item: the score's descending key with its low
/// bits replaced by the item's position. Cutting low bits never reorders two
/// keys, only makes nearly equal ones look equal: each run that shares the
/// kept bits is then ordered exactly, by full key and item id. (Item ids are
/// compared only there: on a shuffled history each is a read at random.)
#[inline]
fn rank_window(ids: &ItemIds, items: &[u32], scores: &[f64], ranks: &mut [u32], keyed: &mut Vec<u64>) {
    let position = (1u64 << (usize::BITS - items.len().saturating_sub(1).leading_zeros())) - 1;
    keyed.clear();
    keyed.extend(scores.iter().enumerate().map(|(k, &s)| (descending_key(s) & !position) | k as u64));
    keyed.sort_unstable();
    let mut t = 0;
    while t < keyed.len() {
        let kept = keyed[t] & !position;
        let mut u = t + 1;
        while u < keyed.len() && keyed[u] & !position == kept {
            u += 1;
        }
        if u - t > 1 {
            let at = |e: u64| (e & position) as usize;
            keyed[t..u].sort_unstable_by(|&a, &b| {
                descending_key(scores[at(a)])
                    .cmp(&descending_key(scores[at(b)]))
                    .then_with(|| ids.get(items[at(a)] as usize).cmp(ids.get(items[at(b)] as usize)))
            });
        }
        t = u;
    }
    for (r, &e) in keyed.iter().enumerate() {
        ranks[(e & position) as usize] = r as u32 + 1;
    }
}

/// One window as the live pass counts it.
struct LiveWindow<'a> {
    index: u32,
    attrs: &'a [Attrs],
    rank: &'a [u32],
    capacity: u32,
}

/// Count one window under live: the items' own per-class counts, live's
/// side, and the window's per-class entries (`per_window` is scratch
/// indexed by class; an entry belongs to this window when its `window` is
/// this window's index + 1), pushed in ascending class order.
#[inline]
fn count_live(win: &LiveWindow, counts: &mut BatchCounts, per_window: &mut [WindowCounts], present: &mut Vec<u16>) {
    present.clear();
    for (&at, &rank) in win.attrs.iter().zip(win.rank) {
        let class = at.class();
        let (actionable, unjudged) = (at.has(Attrs::ACTIONABLE), at.has(Attrs::UNJUDGED));
        let (board_override, missed) = (at.has(Attrs::OVERRIDE), at.has(Attrs::MISSED));
        let a = &mut counts.accs[class as usize];
        a.items += 1;
        a.actionable += actionable as u64;
        a.unjudged += unjudged as u64;
        a.overrides += board_override as u64;
        a.misses += missed as u64;
        let wc = &mut per_window[class as usize];
        if wc.window != win.index + 1 {
            *wc = WindowCounts {
                window: win.index + 1,
                class,
                ..WindowCounts::default()
            };
            present.push(class);
        }
        wc.actionable += actionable as u32;
        count_side(&mut a.side[0], &mut wc.tp[0], &mut wc.fp[0], at, rank, rank <= win.capacity);
    }
    present.sort_unstable();
    for &c in present.iter() {
        let wc = &mut per_window[c as usize];
        counts.window_counts.push(WindowCounts { window: win.index, ..*wc });
    }
}

/// One item's counts on one side, as adds of 0 or 1 rather than branches:
/// which items are surfaced and actionable does not follow a pattern.
#[inline]
fn count_side(s: &mut SideAcc, tp: &mut u32, fp: &mut u32, at: Attrs, rank: u32, surfaced: bool) {
    let (actionable, unjudged) = (at.has(Attrs::ACTIONABLE), at.has(Attrs::UNJUDGED));
    s.surfaced += surfaced as u64;
    s.tp += (surfaced & actionable) as u64;
    s.unjudged_surfaced += (surfaced & unjudged) as u64;
    s.overrides_surfaced += (surfaced & at.has(Attrs::OVERRIDE)) as u64;
    s.misses_surfaced += (surfaced & at.has(Attrs::MISSED)) as u64;
    *tp += (surfaced & actionable) as u32;
    *fp += (surfaced & !actionable & !unjudged) as u32;
    s.count_rank(rank, actionable);
}

/// Count one ranked window's candidate side and churn, on top of the live
/// pass's counts: `run` is the window's per-class entries, `slot[class]`
/// an entry's place in it.
#[inline]
fn count_candidate(h: &History, win: &WindowView, accs: &mut [Acc], lists: &mut ExampleLists, run: &mut [WindowCounts], slot: &[usize]) {
    for (k, (&item, &at)) in win.items.iter().zip(win.attrs).enumerate() {
        let class = at.class();
        let (actionable, unjudged) = (at.has(Attrs::ACTIONABLE), at.has(Attrs::UNJUDGED));
        let a = &mut accs[class as usize];
        let wc = &mut run[slot[class as usize]];
        let surfaced = [0, 1].map(|side| win.rank[side][k] <= win.capacity);
        count_side(&mut a.side[1], &mut wc.tp[1], &mut wc.fp[1], at, win.rank[1][k], surfaced[1]);
        if surfaced[0] != surfaced[1] {
            let c = &mut a.churn;
            if surfaced[1] {
                c.entered += 1;
                c.entered_actionable += actionable as u64;
                c.entered_unjudged += unjudged as u64;
            } else {
                c.left += 1;
                c.left_actionable += actionable as u64;
            }
            if actionable {
                let change = (win.score[1][k] - win.score[0][k]).abs();
                let direction = surfaced[0] as u8;
                lists.offer(
                    &h.item_ids,
                    Discordant {
                        class,
                        direction,
                        change,
                        item,
                    },
                );
            }
        }
    }
}

/// A key whose ascending order is the descending order of finite scores,
/// with -0.0 and 0.0 equal (IEEE equality, as in the spec's `score desc`).
#[inline]
fn descending_key(s: f64) -> u64 {
    let bits = (s + 0.0).to_bits();
    let ascending = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    !ascending
}

fn score_error(history: &History, i: usize, fault: ScoreFault, side: usize, profile: &Profile) -> ReplayError {
    let (object, row) = history.origin(i);
    let item_id = history.item_ids.get_str(i).to_string();
    let side = ["live", "candidate"][side];
    let revision = profile.revision().to_string();
    match fault {
        ScoreFault::NonFinite => ReplayError::NonFiniteScore {
            item_id,
            object: object.into(),
            row,
            side,
            revision,
        },
        ScoreFault::NegativeLog1p { column } => ReplayError::NegativeLog1p {
            item_id,
            object: object.into(),
            row,
            column: history.feature_names[column].clone(),
            side,
            revision,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scoring a segment whose columns are kept as 32-bit floats and
    /// integers gives, bit for bit, the scores of the same values as
    /// doubles, across block boundaries, and the same first fault.
    #[test]
    fn narrow_feature_columns_score_as_their_doubles() {
        let profile = br#"{"schema": "scoregate.profile/v1", "name": "narrow",
          "features": {"a": {"weight": 1.5, "cap": 40.0, "transform": "log1p"}, "b": {"weight": 0.25}},
          "rules": [{"feature": "b", "op": "gte", "value": 3.0, "multiply": 2.0}]}"#;
        let compiled = Profile::parse("p.json", profile)
            .unwrap()
            .compile(&["a".into(), "b".into()], &["c".into()]);
        let n = SCORE_BLOCK * 2 + 37;
        let a: Vec<f32> = (0..n).map(|j| (j % 977) as f32 * 0.37).collect();
        let b: Vec<i32> = (0..n).map(|j| (j % 7) as i32 - 1).collect();
        let segment = |columns| FeatureSegment { start: 0, len: n, columns };
        let narrow = segment(vec![FeatureColumn::F32(a.clone()), FeatureColumn::I32(b.clone())]);
        let wide = segment(vec![
            FeatureColumn::F64(a.iter().map(|&x| x as f64).collect()),
            FeatureColumn::F64(b.iter().map(|&x| x as f64).collect()),
        ]);
        let (class, kind) = (vec![0u16; n], vec![0u8; n]);
        let score = |seg: &FeatureSegment| {
            let mut out = vec![0.0; n];
            score_segment(&compiled, seg, |_, _| None, &class, &kind, &mut out).map(|()| out)
        };
        let (got, want) = (score(&narrow).unwrap(), score(&wide).unwrap());
        assert_eq!(
            got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        // A negative log1p input in the last block is found there, in both.
        let mut bad = a;
        bad[SCORE_BLOCK * 2 + 5] = -1.0;
        let narrow = segment(vec![FeatureColumn::F32(bad.clone()), FeatureColumn::I32(b)]);
        let fault = score(&narrow).unwrap_err();
        assert_eq!(fault, (SCORE_BLOCK * 2 + 5, ScoreFault::NegativeLog1p { column: 0 }));
        let mut wide = wide;
        wide.columns[0] = FeatureColumn::F64(bad.iter().map(|&x| x as f64).collect());
        assert_eq!(score(&wide).unwrap_err(), fault);
    }

    /// Rows grouped by window, live's scores and outcomes with them, give
    /// the definition (rows stably sorted by window), whether the rows are
    /// mostly grouped already (read where they lie) or shuffled (packed and
    /// placed together), on 1 to 3 threads.
    #[test]
    fn scores_and_outcomes_in_window_order_either_way() {
        use rand::{seq::SliceRandom, RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let n = 3 * (1 << 16) + 11;
        let nw = 7001;
        let score_item: Vec<f64> = (0..n).map(|_| rng.random_range(-5.0..5.0)).collect();
        let attrs_of = |i: usize| Attrs((i as u32).wrapping_mul(2654435761) & 0xf_ffff);
        // Runs of one window (about 28 rows each), then shuffled rows.
        let runs: Vec<u32> = (0..n).map(|i| (i * nw / n) as u32).collect();
        let mut shuffled = runs.clone();
        shuffled.shuffle(&mut rng);
        for (window, grouped) in [(&runs, true), (&shuffled, false)] {
            assert_eq!(rows_mostly_grouped(window), grouped);
            let mut want: Vec<u32> = (0..n as u32).collect();
            want.sort_by_key(|&i| window[i as usize]);
            for threads in 1..=3 {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let got = pool.install(|| in_window_order(window, nw, &score_item, attrs_of));
                assert_eq!(got.order, want, "{threads} threads");
                for w in 0..nw {
                    let (lo, hi) = (got.window_offsets[w], got.window_offsets[w + 1]);
                    assert!(want[lo..hi].iter().all(|&i| window[i as usize] == w as u32));
                }
                assert_eq!(got.window_offsets[nw], n);
                for (o, &i) in want.iter().enumerate() {
                    assert_eq!(got.score[o].to_bits(), score_item[i as usize].to_bits());
                    assert_eq!(got.attrs[o].0, attrs_of(i as usize).0);
                }
            }
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        // n = 10: p50 at position 5, p90 at position 9.
        let v: Vec<u32> = (1..=10).collect();
        assert_eq!(nearest_rank(&v, 50), Some(5));
        let mut counts = vec![0u64; 11];
        v.iter().for_each(|&x| counts[x as usize] += 1);
        assert_eq!(nearest_rank_counted(&counts, 50), Some(5));
        assert_eq!(nearest_rank_counted(&counts, 90), Some(9));
        assert_eq!(nearest_rank_counted(&[0, 0, 3], 90), Some(2));
        assert_eq!(nearest_rank_counted(&[0, 0], 50), None);
        assert_eq!(nearest_rank(&v, 90), Some(9));
        // n = 3: ceil(1.5) = 2, ceil(2.7) = 3.
        assert_eq!(nearest_rank(&[1, 4, 9], 50), Some(4));
        assert_eq!(nearest_rank(&[1, 4, 9], 90), Some(9));
        let mut f = vec![3.0, 1.0, 2.0];
        assert_eq!(nearest_rank_f64(&mut f, 90), Some(3.0));
    }

    #[test]
    fn descending_keys_order_scores_high_to_low() {
        let scores = [3.5, -1.0, 0.0, -0.0, 1e300, -1e300, f64::MIN_POSITIVE, -f64::MIN_POSITIVE, 2.0];
        let mut by_key = scores.to_vec();
        by_key.sort_by_key(|s| descending_key(*s));
        let mut by_value = scores.to_vec();
        by_value.sort_by(|a, b| b.partial_cmp(a).unwrap());
        assert_eq!(
            by_key.iter().map(|s| descending_key(*s)).collect::<Vec<_>>(),
            by_value.iter().map(|s| descending_key(*s)).collect::<Vec<_>>()
        );
        assert_eq!(descending_key(0.0), descending_key(-0.0));
    }

    /// Windows of every size up to 300 whose scores are few and nearly
    /// equal (a few ulps apart, ±0.0, ties): `rank_window`'s packed keys give
    /// the ranks of a plain sort by (score desc, item id bytes).
    #[test]
    fn packed_keys_rank_like_a_sort_by_score_then_item_id() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let near = |k: u64| f64::from_bits(1.5f64.to_bits() + k);
        let palette = [near(0), near(1), near(2), near(64), near(1 << 20), 0.0, -0.0, -2.0, 1e-300];
        for n in (1..=300).chain([1023, 1024, 1025]) {
            let names: Vec<String> = (0..n).map(|i| format!("item-{:05}", (i * 7919) % 100_000)).collect();
            let ids: ItemIds = names.iter().map(String::as_str).collect();
            let score_item: Vec<f64> = (0..n).map(|_| palette[rng.random_range(0..palette.len())]).collect();
            let items: Vec<u32> = (0..n as u32).rev().collect();
            let (mut scores, mut ranks, mut keyed) = (vec![0.0; n], vec![0u32; n], Vec::new());
            gather_scores(&items, &score_item, &mut scores);
            rank_window(&ids, &items, &scores, &mut ranks, &mut keyed);
            let mut expected: Vec<usize> = (0..n).collect();
            expected.sort_by(|&a, &b| {
                score_item[items[b] as usize]
                    .partial_cmp(&score_item[items[a] as usize])
                    .expect("finite")
                    .then_with(|| names[items[a] as usize].cmp(&names[items[b] as usize]))
            });
            for (r, &k) in expected.iter().enumerate() {
                assert_eq!(ranks[k], r as u32 + 1, "window of {n}, position {k}");
                assert_eq!(scores[k], score_item[items[k] as usize]);
            }
        }
    }

    /// Whatever the order of offers, ties of score change (most offers) or
    /// how many wait to be placed, the lists keep what a sort of every
    /// offer by `example_order` keeps: the first ten of each list.
    #[test]
    fn churn_example_lists_keep_the_first_ten_of_a_sort_of_every_offer() {
        use rand::{seq::SliceRandom, RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let names: Vec<String> = (0..5000).map(|i| format!("item-{:05}", (i * 7919) % 10_007)).collect();
        let ids: ItemIds = names.iter().map(String::as_str).collect();
        let changes = [0.0, 0.5, 2.0, 2.0 + f64::EPSILON, 6.0, f64::INFINITY];
        for offers in [
            0,
            1,
            9,
            10,
            11,
            PENDING_EXAMPLES - 1,
            PENDING_EXAMPLES,
            PENDING_EXAMPLES + 1,
            700,
            4999,
        ] {
            let mut items: Vec<u32> = (0..5000).collect();
            items.shuffle(&mut rng);
            let all: Vec<Discordant> = items[..offers]
                .iter()
                .map(|&item| Discordant {
                    class: rng.random_range(0..3),
                    direction: rng.random_range(0..2),
                    change: changes[rng.random_range(0..changes.len())],
                    item,
                })
                .collect();
            let mut lists = ExampleLists::new(3);
            for &d in &all {
                lists.offer(&ids, d);
            }
            let got = lists.into_kept(&ids);
            let mut want = all.clone();
            want.sort_by(|a, b| example_order(&ids, a, b));
            keep_first_of_each_list(&mut want, |e| (e.class, e.direction));
            let key = |d: &Discordant| (d.class, d.direction, d.change.to_bits(), d.item);
            assert_eq!(
                got.iter().map(key).collect::<Vec<_>>(),
                want.iter().map(key).collect::<Vec<_>>(),
                "{offers} offers"
            );
        }
    }

    #[test]
    fn verdict_is_by_missed_actionable_items() {
        let m = |fn_| Metrics {
            items: 1,
            actionable: 1,
            fn_,
            ..Metrics::empty()
        };
        assert_eq!(Verdict::of(&m(1), &m(2)), Verdict::Regressed);
        assert_eq!(Verdict::of(&m(2), &m(1)), Verdict::Improved);
        assert_eq!(Verdict::of(&m(1), &m(1)), Verdict::Unchanged);
        assert_eq!(Delta::between(&m(3), &m(1)).fn_, -2);
    }
}

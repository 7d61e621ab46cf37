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
    /// Per batch, its windows as bit masks, for counting candidates.
    masks: Vec<BatchMasks>,
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
    let (score, rank, counts, masks) = rank_live(&grouping, &bounds, score);
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
        masks,
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
/// parallel batches: scores and ranks aligned with `order`, counts and
/// window masks per batch.
fn rank_live(g: &Grouping, bounds: &[usize], mut score: Vec<f64>) -> (Vec<f64>, Vec<u32>, Vec<BatchCounts>, Vec<BatchMasks>) {
    let offsets = g.window_offsets;
    let n = g.order.len();
    let mut rank = vec![0u32; n];
    let nclasses = g.history.classes.len();
    let (counts, masks) = batch_outs(bounds, offsets, &mut score, &mut rank)
        .into_par_iter()
        .map(|out| {
            let base = offsets[out.windows.start];
            let mut keyed = Vec::new();
            let mut counts = BatchCounts {
                accs: vec![Acc::default(); nclasses],
                ..BatchCounts::default()
            };
            let mut masks = BatchMasks::for_windows(out.windows.clone().map(|w| offsets[w + 1] - offsets[w]), nclasses);
            let mut scratch = LiveScratch {
                per_window: vec![WindowCounts::default(); nclasses],
                present: Vec::new(),
                members: vec![0; nclasses],
            };
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
                count_live(&window, &mut counts, &mut scratch);
                mask_window(&window, &mut scratch, &mut masks);
            }
            (counts, masks)
        })
        .unzip();
    (score, rank, counts, masks)
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
    let masks = &live.masks[out.index];
    let mut lists = ExampleLists::new(h.classes.len());
    let (mut cursor, mut flags_at, mut members_at) = (0, 0, 0);
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
            cursor += 1;
        }
        let window = WindowView {
            items,
            attrs: &live.attrs[lo..hi],
            score: [&live.score[lo..hi], cs],
            rank: [&live.rank[lo..hi], cr],
            capacity: live.capacity[w],
        };
        let nw = mask_words(items.len());
        let flags = &masks.flags[flags_at..flags_at + FLAGS * nw];
        let members = &masks.members[members_at..members_at + (cursor - start) * nw];
        (flags_at, members_at) = (flags_at + FLAGS * nw, members_at + members.len());
        let run = &mut counts.window_counts[start..cursor];
        count_candidate(&h.item_ids, &window, (flags, members), (&mut counts.accs, &mut lists), run);
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

/// Scratch the live pass keeps from window to window, indexed by class.
struct LiveScratch {
    /// The window's per-class entries being counted; an entry belongs to
    /// the current window when its `window` is the window's index + 1.
    per_window: Vec<WindowCounts>,
    /// The classes present in the window, ascending once counted.
    present: Vec<u16>,
    /// Each class's members in the window (bit k: the window's k-th item).
    members: Vec<u64>,
}

/// Count one window under live: the items' own per-class counts, live's
/// side, and the window's per-class entries, pushed in ascending class order.
#[inline]
fn count_live(win: &LiveWindow, counts: &mut BatchCounts, scratch: &mut LiveScratch) {
    let LiveScratch { per_window, present, .. } = scratch;
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

/// The flags the live pass keeps of each window as bit masks, in the order
/// they are stored: bit k of word k / 64 of a mask is the window's k-th
/// item in window order. Each candidate then counts a window with a few
/// popcounts per class present, not a pass over its items.
const ACTIONABLE: usize = 0;
const UNJUDGED: usize = 1;
const OVERRIDE: usize = 2;
const MISSED: usize = 3;
const LIVE_SURFACED: usize = 4;
const FLAGS: usize = 5;

/// Words of a mask over a window of `n` items.
#[inline]
fn mask_words(n: usize) -> usize {
    n.div_ceil(64)
}

/// One batch's windows as masks, each window's `mask_words(n)` words at a
/// time: per window, its [`FLAGS`] masks one after the other (`flags`);
/// per per-class entry, its members (`members`, aligned with the batch's
/// `window_counts`).
#[derive(Default)]
struct BatchMasks {
    flags: Vec<u64>,
    members: Vec<u64>,
}

impl BatchMasks {
    /// Empty masks with room for windows of the sizes given, so that they
    /// are written once, not copied as they grow.
    fn for_windows(sizes: impl Iterator<Item = usize> + Clone, classes: usize) -> BatchMasks {
        let words = |n: usize| mask_words(n) * FLAGS;
        let members = |n: usize| mask_words(n) * n.min(classes);
        BatchMasks {
            flags: Vec::with_capacity(sizes.clone().map(words).sum()),
            members: Vec::with_capacity(sizes.map(members).sum()),
        }
    }
}

/// Add one window counted by [`count_live`] to its batch's masks.
#[inline]
fn mask_window(win: &LiveWindow, scratch: &mut LiveScratch, masks: &mut BatchMasks) {
    let nw = mask_words(win.attrs.len());
    let base = masks.flags.len();
    masks.flags.resize(base + FLAGS * nw, 0);
    let flags = &mut masks.flags[base..];
    let nclasses = scratch.per_window.len();
    if scratch.members.len() < nclasses * nw {
        scratch.members.resize(nclasses * nw, 0);
    }
    for (word, (attrs, ranks)) in win.attrs.chunks(64).zip(win.rank.chunks(64)).enumerate() {
        let mut m = [0u64; FLAGS];
        for (bit, (&at, &rank)) in attrs.iter().zip(ranks).enumerate() {
            let on = |f: u32| ((at.0 & f != 0) as u64) << bit;
            m[ACTIONABLE] |= on(Attrs::ACTIONABLE);
            m[UNJUDGED] |= on(Attrs::UNJUDGED);
            m[OVERRIDE] |= on(Attrs::OVERRIDE);
            m[MISSED] |= on(Attrs::MISSED);
            m[LIVE_SURFACED] |= ((rank <= win.capacity) as u64) << bit;
            scratch.members[at.class() as usize * nw + word] |= 1 << bit;
        }
        for (f, m) in m.into_iter().enumerate() {
            flags[f * nw + word] = m;
        }
    }
    for &c in &scratch.present {
        let member = &mut scratch.members[c as usize * nw..(c as usize + 1) * nw];
        masks.members.extend_from_slice(member);
        member.fill(0);
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
/// pass's counts: `run` is the window's per-class entries, `masks` the
/// window's flags and the entries' members ([`BatchMasks`]). Every count is
/// a popcount of the candidate's surfaced items against masks; only
/// actionable items are visited one by one, for their ranks and for the
/// churn examples.
///
/// Nearly all of it is popcounts: on x86-64 processors that have the
/// instruction (nearly all), it is compiled to use it. The counts are the
/// same either way.
#[inline]
fn count_candidate(
    ids: &ItemIds,
    win: &WindowView,
    masks: (&[u64], &[u64]),
    counting: (&mut [Acc], &mut ExampleLists),
    run: &mut [WindowCounts],
) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("popcnt") {
        // SAFETY: the processor has the popcnt instruction (checked just above).
        return unsafe { count_candidate_with_popcnt(ids, win, masks, counting, run) };
    }
    count_candidate_with_masks(ids, win, masks, counting, run)
}

/// [`count_candidate_with_masks`] compiled with the popcnt instruction.
///
/// # Safety
/// Only call it on a processor that has popcnt.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn count_candidate_with_popcnt(
    ids: &ItemIds,
    win: &WindowView,
    masks: (&[u64], &[u64]),
    counting: (&mut [Acc], &mut ExampleLists),
    run: &mut [WindowCounts],
) {
    count_candidate_with_masks(ids, win, masks, counting, run)
}

/// The body of [`count_candidate`], inlined into each way of compiling it.
#[inline(always)]
fn count_candidate_with_masks(
    ids: &ItemIds,
    win: &WindowView,
    masks: (&[u64], &[u64]),
    counting: (&mut [Acc], &mut ExampleLists),
    run: &mut [WindowCounts],
) {
    let ((flags, members), (accs, lists)) = (masks, counting);
    let nw = mask_words(win.items.len());
    let flag = |f: usize| &flags[f * nw..(f + 1) * nw];
    let (actionable, live) = (flag(ACTIONABLE), flag(LIVE_SURFACED));
    let mut surfaced = [0u64; 2];
    let mut surfaced_words = Vec::new();
    let surfaced: &mut [u64] = match nw <= 2 {
        true => &mut surfaced[..nw],
        false => {
            surfaced_words.resize(nw, 0);
            &mut surfaced_words
        }
    };
    for (word, ranks) in surfaced.iter_mut().zip(win.rank[1].chunks(64)) {
        *word = ranks.iter().enumerate().fold(0, |w, (b, &r)| w | ((r <= win.capacity) as u64) << b);
    }
    for (wc, member) in run.iter_mut().zip(members.chunks_exact(nw)) {
        let a = &mut accs[wc.class as usize];
        count_masked(surfaced, flags, member, (&mut a.side[1], &mut a.churn, wc));
    }
    for (j, &word) in actionable.iter().enumerate() {
        for k in set_bits(word).map(|b| j * 64 + b) {
            accs[win.attrs[k].class() as usize].side[1].count_rank(win.rank[1][k], true);
        }
        for k in set_bits((surfaced[j] ^ live[j]) & word).map(|b| j * 64 + b) {
            let d = Discordant {
                class: win.attrs[k].class(),
                direction: (live[j] >> (k % 64) & 1) as u8,
                change: (win.score[1][k] - win.score[0][k]).abs(),
                item: win.items[k],
            };
            lists.offer(ids, d);
        }
    }
}

/// Add the members of one class (`member`) among the candidate's
/// `surfaced` items and live's, against the window's `flags`, to the
/// candidate's side of the class, its churn and its window entry.
#[inline(always)]
fn count_masked(surfaced: &[u64], flags: &[u64], member: &[u64], into: (&mut SideAcc, &mut Churn, &mut WindowCounts)) {
    let (side, churn, entry) = into;
    let nw = member.len();
    for (j, &m) in member.iter().enumerate() {
        let f = |flag: usize| flags[flag * nw + j];
        let (actionable, unjudged, live) = (f(ACTIONABLE), f(UNJUDGED), f(LIVE_SURFACED) & m);
        let ones = |x: u64| x.count_ones();
        let s = surfaced[j] & m;
        let (entered, left) = (s & !live, live & !s);
        side.surfaced += ones(s) as u64;
        side.tp += ones(s & actionable) as u64;
        side.unjudged_surfaced += ones(s & unjudged) as u64;
        side.overrides_surfaced += ones(s & f(OVERRIDE)) as u64;
        side.misses_surfaced += ones(s & f(MISSED)) as u64;
        entry.tp[1] += ones(s & actionable);
        entry.fp[1] += ones(s & !actionable & !unjudged);
        churn.entered += ones(entered) as u64;
        churn.entered_actionable += ones(entered & actionable) as u64;
        churn.entered_unjudged += ones(entered & unjudged) as u64;
        churn.left += ones(left) as u64;
        churn.left_actionable += ones(left & actionable) as u64;
    }
}

/// The positions of the set bits of `mask`, ascending.
#[inline(always)]
fn set_bits(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let k = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            k
        })
    })
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

    /// One side's counts, its rank histogram without trailing zeros.
    fn side_counts(s: &SideAcc) -> (u64, u64, u64, u64, u64, Vec<u64>) {
        let mut ranks = s.rank_counts.clone();
        while ranks.last() == Some(&0) {
            ranks.pop();
        }
        (
            s.surfaced,
            s.tp,
            s.unjudged_surfaced,
            s.overrides_surfaced,
            s.misses_surfaced,
            ranks,
        )
    }

    /// One random window of `n` items over `classes` classes: outcomes,
    /// both sides' ranks (each a shuffle of 1..=n) and scores with ties.
    fn random_window(rng: &mut rand_chacha::ChaCha8Rng, n: usize, classes: u32) -> (Vec<Attrs>, [Vec<u32>; 2], [Vec<f64>; 2]) {
        use rand::{seq::SliceRandom, RngExt};
        let attrs = (0..n)
            .map(|_| {
                let unjudged = rng.random_bool(0.1);
                let flag = |on: bool, f: u32| if on { f } else { 0 };
                Attrs(
                    rng.random_range(0..classes)
                        | flag(unjudged, Attrs::UNJUDGED)
                        | flag(!unjudged && rng.random_bool(0.45), Attrs::ACTIONABLE)
                        | flag(rng.random_bool(0.2), Attrs::OVERRIDE)
                        | flag(rng.random_bool(0.2), Attrs::MISSED),
                )
            })
            .collect();
        let mut ranks = [(); 2].map(|_| (1..=n as u32).collect::<Vec<u32>>());
        ranks.iter_mut().for_each(|r| r.shuffle(rng));
        let scores = [(); 2].map(|_| (0..n).map(|_| rng.random_range(0..4) as f64 * 0.5).collect());
        (attrs, ranks, scores)
    }

    /// Windows of 1 to 200 items (one to four mask words), every class and
    /// outcome mixed, both sides' ranks shuffled, capacities from 0 to past
    /// the window: counting the candidate from the live pass's masks gives
    /// what counting it item by item gives (side, churn, window entries,
    /// churn examples).
    #[test]
    fn candidate_counts_from_masks_equal_a_count_item_by_item() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
        let classes = 5;
        let names: Vec<String> = (0..200).map(|i| format!("item-{:03}", (i * 37) % 200)).collect();
        let ids: ItemIds = names.iter().map(String::as_str).collect();
        for n in (1..=200).chain([63, 64, 65, 127, 128, 129]) {
            let (attrs, rank, score) = random_window(&mut rng, n, classes as u32);
            let capacity = rng.random_range(0..n as u32 + 5);
            let items: Vec<u32> = (0..n as u32).collect();
            let live = LiveWindow {
                index: 3,
                attrs: &attrs,
                rank: &rank[0],
                capacity,
            };
            let mut counts = BatchCounts {
                accs: vec![Acc::default(); classes],
                ..BatchCounts::default()
            };
            let mut scratch = LiveScratch {
                per_window: vec![WindowCounts::default(); classes],
                present: Vec::new(),
                members: vec![0; classes],
            };
            count_live(&live, &mut counts, &mut scratch);
            let mut masks = BatchMasks::for_windows([n].into_iter(), classes);
            mask_window(&live, &mut scratch, &mut masks);
            let window = WindowView {
                items: &items,
                attrs: &attrs,
                score: [&score[0], &score[1]],
                rank: [&rank[0], &rank[1]],
                capacity,
            };
            let (mut masked, mut lists) = (counts.clone(), ExampleLists::new(classes));
            let run = &mut masked.window_counts;
            count_candidate(&ids, &window, (&masks.flags, &masks.members), (&mut masked.accs, &mut lists), run);
            // Item by item: each item's side, then its churn and offer.
            let (mut expected, mut offers) = (counts, Vec::new());
            for (k, &at) in attrs.iter().enumerate() {
                let class = at.class();
                let a = &mut expected.accs[class as usize];
                let wc = expected
                    .window_counts
                    .iter_mut()
                    .find(|e| e.class == class)
                    .expect("an entry per class present");
                let surfaced = [0, 1].map(|side| rank[side][k] <= capacity);
                count_side(&mut a.side[1], &mut wc.tp[1], &mut wc.fp[1], at, rank[1][k], surfaced[1]);
                let actionable = at.has(Attrs::ACTIONABLE);
                match (surfaced[0], surfaced[1]) {
                    (false, true) => {
                        a.churn.entered += 1;
                        a.churn.entered_actionable += actionable as u64;
                        a.churn.entered_unjudged += at.has(Attrs::UNJUDGED) as u64;
                    }
                    (true, false) => {
                        a.churn.left += 1;
                        a.churn.left_actionable += actionable as u64;
                    }
                    _ => continue,
                }
                if actionable {
                    let change = (score[1][k] - score[0][k]).abs();
                    offers.push(Discordant {
                        class,
                        direction: surfaced[0] as u8,
                        change,
                        item: k as u32,
                    });
                }
            }
            assert_eq!(masked.window_counts, expected.window_counts, "window of {n}, capacity {capacity}");
            for (c, (got, want)) in masked.accs.iter().zip(&expected.accs).enumerate() {
                assert_eq!(side_counts(&got.side[1]), side_counts(&want.side[1]), "window of {n}, class {c}");
                assert_eq!(got.churn, want.churn, "window of {n}, class {c}");
            }
            offers.sort_by(|a, b| example_order(&ids, a, b));
            keep_first_of_each_list(&mut offers, |e| (e.class, e.direction));
            let key = |d: &Discordant| (d.class, d.direction, d.change.to_bits(), d.item);
            let kept: Vec<_> = lists.into_kept(&ids).iter().map(key).collect();
            assert_eq!(kept, offers.iter().map(key).collect::<Vec<_>>(), "window of {n}");
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

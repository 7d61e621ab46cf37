//! The validated history table: item columns, windows, classes, feature
//! segments, the snapshot of the bytes read, and the errors that name the
//! object, row, item and column of a bad value. Pure data; reading lives in
//! the sibling steps.

use crate::canonical::{to_jcs, Digest};
use crate::store::StoreError;
use arrow::array::{Array, AsArray, StringArray};
use arrow::buffer::OffsetBuffer;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Columns every history object must have (SPEC §3).
pub const REQUIRED_COLUMNS: [&str; 9] = [
    "item_id",
    "cohort",
    "window_id",
    "window_start",
    "kind",
    "signoff_class",
    "actionable",
    "board_override",
    "missed",
];

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history {store}/{prefix}: {what}")]
    Empty { store: String, prefix: String, what: String },
    #[error("history object {object}: not readable parquet: {message}")]
    Corrupt { object: String, message: String },
    #[error("history object {object}: required column `{column}` is missing")]
    MissingColumn { object: String, column: String },
    #[error("history object {object}: column `{column}` has type {found}; expected {expected}")]
    ColumnType {
        object: String,
        column: String,
        found: String,
        expected: String,
    },
    #[error("history object {object}, row {row}{item}: column `{column}` is null; it is required")]
    NullValue {
        object: String,
        row: u64,
        item: ItemRef,
        column: String,
    },
    #[error("history object {object}, row {row}{item}: column `{column}`: expected {expected}, found {found}")]
    BadValue {
        object: String,
        row: u64,
        item: ItemRef,
        column: String,
        expected: &'static str,
        found: String,
    },
    #[error("history: item_id \"{item_id}\" appears twice: {first_object} row {first_row} and {second_object} row {second_row}")]
    DuplicateItem {
        item_id: String,
        first_object: String,
        first_row: u64,
        second_object: String,
        second_row: u64,
    },
    #[error("history: window \"{window_id}\" has differing window_capacity: {first} ({first_object} row {first_row}) and {second} ({second_object} row {second_row})")]
    WindowCapacity {
        window_id: String,
        first: Capacity,
        first_object: String,
        first_row: u64,
        second: Capacity,
        second_object: String,
        second_row: u64,
    },
    #[error("history: more than {max} distinct {what}")]
    TooMany { what: &'static str, max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A window's capacity as its rows carry it: a number, or null for the pipeline default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity(pub Option<u32>);

impl std::fmt::Display for Capacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(c) => write!(f, "{c}"),
            None => f.write_str("null (pipeline default)"),
        }
    }
}

/// ` (item_id "X")` in messages, or nothing when the id is unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemRef(pub Option<Box<str>>);

impl std::fmt::Display for ItemRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(id) => write!(f, " (item_id \"{id}\")"),
            None => Ok(()),
        }
    }
}

/// What to read: the cohort, the feature columns, and which of them must be
/// non-negative (those a profile passes through `log1p`).
#[derive(Clone, Debug, Default)]
pub struct HistoryQuery {
    pub cohort: String,
    /// Feature columns, ascending by bytes, no duplicates.
    pub features: Vec<String>,
    pub nonnegative: Vec<String>,
    /// Also read `live_revision`, `queued_at` and `signed_off_at` when present.
    pub live_columns: bool,
    /// Items to score, not history to replay: `actionable`, `board_override`
    /// and `missed` may be absent or null (read as false).
    pub outcomes_optional: bool,
    /// Guardrail readings: only row groups whose statistics allow rows of
    /// this live window are fetched and decoded ([`super::prune`]).
    pub live_window: Option<super::prune::LiveWindow>,
}

/// One object of the snapshot: what was read, byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotObject {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// The history snapshot a packet records (SPEC §5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub prefix: String,
    pub objects: Vec<SnapshotObject>,
    /// `sha256:` over the RFC 8785 bytes of `objects`.
    pub fingerprint: Digest,
    pub window_start_min: DateTime<Utc>,
    pub window_start_max: DateTime<Utc>,
    pub items: u64,
    pub windows: u64,
}

impl Snapshot {
    pub fn fingerprint_of(objects: &[SnapshotObject]) -> Digest {
        Digest::of(&to_jcs(&objects))
    }

    /// The snapshot of `objects` read under `prefix`: their fingerprint, the
    /// range of `window_start` (µs; the earliest time when there is none),
    /// and the items and windows they hold.
    pub fn of(prefix: &str, objects: Vec<SnapshotObject>, window_start: Option<(i64, i64)>, items: u64, windows: u64) -> Snapshot {
        let time = |us: Option<i64>| us.and_then(DateTime::from_timestamp_micros).unwrap_or(DateTime::<Utc>::MIN_UTC);
        Snapshot {
            prefix: prefix.to_string(),
            fingerprint: Snapshot::fingerprint_of(&objects),
            objects,
            window_start_min: time(window_start.map(|w| w.0)),
            window_start_max: time(window_start.map(|w| w.1)),
            items,
            windows,
        }
    }
}

/// One row group's item ids as arrow decoded them: kept, not copied, when
/// every row of the row group is (README "Performance").
#[derive(Clone, Debug)]
pub struct IdColumn(pub StringArray);

impl Default for IdColumn {
    fn default() -> IdColumn {
        IdColumn(StringArray::from_iter_values(std::iter::empty::<&str>()))
    }
}

impl IdColumn {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        self.0.value(i).as_bytes()
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Append a later batch's ids (a row group read in several batches).
    pub fn append(&mut self, more: StringArray) -> Result<(), arrow::error::ArrowError> {
        if self.is_empty() {
            self.0 = more;
        } else {
            let joined = arrow::compute::concat(&[&self.0, &more])?;
            self.0 = joined.as_string::<i32>().clone();
        }
        Ok(())
    }

    /// The ids of rows `sel`, in that order: sized exactly beforehand, and
    /// copied a run of consecutive rows at a time (rows of other cohorts
    /// dropped from a batch leave long runs).
    pub fn pick(&self, sel: &[usize]) -> IdColumn {
        let (from, data) = (self.0.value_offsets(), self.0.value_data());
        let total: usize = sel.iter().map(|&i| (from[i + 1] - from[i]) as usize).sum();
        let (mut bytes, mut offsets) = (Vec::with_capacity(total), Vec::with_capacity(sel.len() + 1));
        offsets.push(0i32);
        let mut k = 0;
        while k < sel.len() {
            let (start, mut end) = (sel[k], sel[k] + 1);
            k += 1;
            while k < sel.len() && sel[k] == end {
                end += 1;
                k += 1;
            }
            let shift = bytes.len() as i32 - from[start];
            bytes.extend_from_slice(&data[from[start] as usize..from[end] as usize]);
            offsets.extend(from[start + 1..=end].iter().map(|&o| o + shift));
        }
        // SAFETY: the offsets start at 0, never decrease and end at
        // `bytes.len()` (each run's are the source's, shifted to where its
        // bytes were put), and every value is a whole source value: UTF-8.
        let offsets = unsafe { OffsetBuffer::new_unchecked(offsets.into()) };
        IdColumn(unsafe { StringArray::new_unchecked(offsets, bytes.into(), None) })
    }
}

/// Ask for the cache line holding `x`; nothing else happens.
#[inline]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only hints the cache; it never faults nor reads
    // into the program, and `x` is a valid reference anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((x as *const T).cast());
    }
}

/// Item ids of a history: the row groups' id columns end to end, with the
/// first item of each, so nothing is copied when they are merged.
#[derive(Clone, Debug, Default)]
pub struct ItemIds {
    /// `starts[k]`: the first item of `segments[k]`; ascending.
    starts: Vec<usize>,
    segments: Vec<IdColumn>,
    len: usize,
    /// `block_segment[b]`: the segment holding item `b << ID_BLOCK_BITS`, so
    /// that finding an item's segment searches only the few segments that
    /// start inside its block (usually none), not all of them.
    block_segment: Vec<u32>,
}

/// Items per block of [`ItemIds`]'s segment index: 4096.
const ID_BLOCK_BITS: u32 = 12;

impl ItemIds {
    /// The id columns in item order (empty ones are left out).
    pub fn from_segments(columns: impl IntoIterator<Item = IdColumn>) -> ItemIds {
        let mut ids = ItemIds::default();
        for c in columns.into_iter().filter(|c| !c.is_empty()) {
            ids.starts.push(ids.len);
            ids.len += c.len();
            ids.segments.push(c);
        }
        let mut k = 0;
        ids.block_segment = (0..ids.len.div_ceil(1 << ID_BLOCK_BITS))
            .map(|b| {
                while k + 1 < ids.starts.len() && ids.starts[k + 1] <= b << ID_BLOCK_BITS {
                    k += 1;
                }
                k as u32
            })
            .collect();
        ids
    }

    /// The segment holding item `i`, and `i`'s place in it.
    #[inline]
    fn locate(&self, i: usize) -> (usize, usize) {
        let b = i >> ID_BLOCK_BITS;
        let first = self.block_segment[b] as usize;
        // The segment holding the block's last item, at the latest.
        let last = self.block_segment.get(b + 1).map_or(self.segments.len() - 1, |&k| k as usize);
        let k = first + self.starts[first + 1..=last].partition_point(|&s| s <= i);
        (k, i - self.starts[k])
    }

    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        let (k, j) = self.locate(i);
        self.segments[k].get(j)
    }

    /// Ask for where item `i`'s id starts and ends: the first step of
    /// reading many ids at random with their cache misses overlapping
    /// (all of them, then [`ItemIds::prefetch_bytes`] for all, then read).
    #[inline]
    pub fn prefetch_offsets(&self, i: usize) {
        let (k, j) = self.locate(i);
        prefetch(&self.segments[k].0.value_offsets()[j]);
    }

    /// Ask for the first bytes of item `i`'s id (reading where it starts).
    #[inline]
    pub fn prefetch_bytes(&self, i: usize) {
        let (k, j) = self.locate(i);
        let s = &self.segments[k].0;
        if let Some(b) = s.value_data().get(s.value_offsets()[j] as usize) {
            prefetch(b);
        }
    }

    pub fn get_str(&self, i: usize) -> &str {
        let (k, j) = self.locate(i);
        self.segments[k].0.value(j)
    }

    /// The ids of `items`, in order, read segment by segment.
    pub fn range(&self, items: std::ops::Range<usize>) -> impl Iterator<Item = &[u8]> + '_ {
        let first = match items.is_empty() {
            true => self.segments.len(),
            false => self.locate(items.start).0,
        };
        let take = items.len();
        self.segments[first..]
            .iter()
            .zip(&self.starts[first..])
            .flat_map(move |(s, &start)| {
                let lo = items.start.saturating_sub(start);
                let hi = items.end.min(start + s.len()).saturating_sub(start).max(lo);
                (lo..hi).map(move |j| s.get(j))
            })
            .take(take)
    }

    /// Call `f` on the ids of `items`, in order: plain loops over each
    /// segment, for passes over every id.
    pub fn for_each_in(&self, items: std::ops::Range<usize>, mut f: impl FnMut(&[u8])) {
        if items.is_empty() {
            return;
        }
        let (mut k, mut j) = self.locate(items.start);
        let mut left = items.len();
        while left > 0 {
            let s = &self.segments[k];
            let (offsets, bytes) = (s.0.value_offsets(), s.0.value_data());
            let upto = (j + left).min(s.len());
            for w in offsets[j..=upto].windows(2) {
                f(&bytes[w[0] as usize..w[1] as usize]);
            }
            left -= upto - j;
            (k, j) = (k + 1, 0);
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<'a> FromIterator<&'a str> for ItemIds {
    fn from_iter<I: IntoIterator<Item = &'a str>>(ids: I) -> ItemIds {
        ItemIds::from_segments([IdColumn(StringArray::from_iter_values(ids))])
    }
}

/// A review window: its id and the capacity its rows carry (`None`: the pipeline default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub id: String,
    pub capacity: Option<u32>,
    /// The earliest `window_start` of its rows, µs since the epoch.
    pub start_us: i64,
}

/// Feature values of items `start..start + len`: `columns[f].get(j)` is
/// feature `f` of item `start + j`.
#[derive(Clone, Debug)]
pub struct FeatureSegment {
    pub start: usize,
    pub len: usize,
    pub columns: Vec<FeatureColumn>,
}

/// One feature column of a row group, in the width it was written in when
/// every value of that width is exactly a double (32-bit floats and
/// integers): half the memory of doubles for a warehouse export. Any other
/// numeric type is converted to doubles when decoded. Reading a value
/// always gives the double arrow's cast to Float64 would (`as f64`).
#[derive(Clone, Debug, PartialEq)]
pub enum FeatureColumn {
    F64(Vec<f64>),
    F32(Vec<f32>),
    I32(Vec<i32>),
}

impl Default for FeatureColumn {
    fn default() -> FeatureColumn {
        FeatureColumn::F64(Vec::new())
    }
}

impl FeatureColumn {
    pub fn len(&self) -> usize {
        match self {
            FeatureColumn::F64(v) => v.len(),
            FeatureColumn::F32(v) => v.len(),
            FeatureColumn::I32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `j` as a double.
    #[inline]
    pub fn get(&self, j: usize) -> f64 {
        match self {
            FeatureColumn::F64(v) => v[j],
            FeatureColumn::F32(v) => v[j] as f64,
            FeatureColumn::I32(v) => v[j] as f64,
        }
    }

    /// Values `range` as doubles: the column itself when it holds doubles,
    /// else converted into `scratch`.
    pub fn view<'a>(&'a self, range: std::ops::Range<usize>, scratch: &'a mut Vec<f64>) -> &'a [f64] {
        scratch.clear();
        match self {
            FeatureColumn::F64(v) => return &v[range],
            FeatureColumn::F32(v) => scratch.extend(v[range].iter().map(|&x| x as f64)),
            FeatureColumn::I32(v) => scratch.extend(v[range].iter().map(|&x| x as f64)),
        }
        scratch
    }

    /// Every value as a double (the column itself when it holds doubles).
    pub fn to_f64(&self) -> std::borrow::Cow<'_, [f64]> {
        match self {
            FeatureColumn::F64(v) => std::borrow::Cow::Borrowed(v),
            _ => std::borrow::Cow::Owned((0..self.len()).map(|j| self.get(j)).collect()),
        }
    }

    /// The values of rows `sel`, in that order, in the same width; a
    /// column the rows do not have (empty) stays empty.
    pub fn pick(&self, sel: &[usize]) -> FeatureColumn {
        if self.is_empty() {
            return self.clone();
        }
        match self {
            FeatureColumn::F64(v) => FeatureColumn::F64(sel.iter().map(|&i| v[i]).collect()),
            FeatureColumn::F32(v) => FeatureColumn::F32(sel.iter().map(|&i| v[i]).collect()),
            FeatureColumn::I32(v) => FeatureColumn::I32(sel.iter().map(|&i| v[i]).collect()),
        }
    }

    /// The column as doubles, converted in place if it was narrower.
    pub fn as_f64_mut(&mut self) -> &mut Vec<f64> {
        if !matches!(self, FeatureColumn::F64(_)) {
            *self = FeatureColumn::F64(self.to_f64().into_owned());
        }
        match self {
            FeatureColumn::F64(v) => v,
            _ => unreachable!("converted above"),
        }
    }
}

/// Columns used only for guardrail readings in live use.
#[derive(Clone, Debug, Default)]
pub struct LiveColumns {
    /// Index into `revisions`, or `u32::MAX` when null or absent.
    pub live_revision: Vec<u32>,
    pub revisions: Vec<String>,
    /// Microseconds since the epoch, `None` when null or absent.
    pub queued_at: Vec<Option<i64>>,
    pub signed_off_at: Vec<Option<i64>>,
}

/// The validated rows of one cohort, column by column, in (object path, row) order.
#[derive(Clone, Debug)]
pub struct History {
    pub snapshot: Snapshot,
    pub item_ids: ItemIds,
    pub window: Vec<u32>,
    pub windows: Vec<Window>,
    /// Index into `classes`, which is sorted by bytes.
    pub class: Vec<u16>,
    pub classes: Vec<String>,
    /// Index into [`crate::profile::KINDS`].
    pub kind: Vec<u8>,
    /// Judged actionable (false when unjudged).
    pub actionable: Vec<bool>,
    /// `actionable` was null: nobody judged the item (SPEC §4b).
    pub unjudged: Vec<bool>,
    pub board_override: Vec<bool>,
    pub missed: Vec<bool>,
    /// The query's feature columns, in the query's order.
    pub feature_names: Vec<String>,
    /// Feature values, null read as 0.0, kept in the row-group segments they
    /// were decoded in (scoring streams through them; nothing is copied).
    pub features: Vec<FeatureSegment>,
    pub null_features: Vec<u64>,
    pub other_cohort_rows: u64,
    pub live: Option<LiveColumns>,
    /// Row groups skipped by [`HistoryQuery::live_window`] (0 for a full read).
    pub pruned_row_groups: usize,
    pub(super) origins: Vec<Origin>,
}

/// Where a run of items came from, for error messages.
#[derive(Clone, Debug)]
pub(super) struct Origin {
    pub(super) start: usize,
    pub(super) object: String,
    pub(super) rows: OriginRows,
}

/// The object rows of a run of items: consecutive from a first row (every
/// row of the row group kept), or listed one by one as offsets from a first
/// row (a row group holds fewer than 2^32 rows, as a history holds fewer
/// than 2^32 items).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginRows {
    From(u64),
    Listed { first: u64, offsets: Vec<u32> },
}

impl Default for OriginRows {
    fn default() -> Self {
        OriginRows::From(0)
    }
}

impl OriginRows {
    /// The object row of the run's item `j`.
    #[inline]
    pub fn get(&self, j: usize) -> u64 {
        match self {
            OriginRows::From(first) => first + j as u64,
            OriginRows::Listed { first, offsets } => first + offsets[j] as u64,
        }
    }

    /// Add a batch's kept rows (`sel`, of `batch_rows` starting at object row
    /// `first_row`) after the `kept` rows already there.
    pub fn extend(&mut self, kept: usize, first_row: u64, sel: &[usize], batch_rows: usize) {
        if let OriginRows::From(first) = *self {
            if sel.len() == batch_rows && first + kept as u64 == first_row {
                return;
            }
            *self = OriginRows::Listed {
                first,
                offsets: (0..kept as u32).collect(),
            };
        }
        if let OriginRows::Listed { first, offsets } = self {
            let base = first_row - *first;
            offsets.extend(sel.iter().map(|&i| (base + i as u64) as u32));
        }
    }
}

impl History {
    pub fn len(&self) -> usize {
        self.window.len()
    }
    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }

    /// Feature `f` of item `i` (a lookup; scoring streams segments instead).
    pub fn feature(&self, f: usize, i: usize) -> f64 {
        let k = self.features.partition_point(|s| s.start <= i) - 1;
        let s = &self.features[k];
        s.columns[f].get(i - s.start)
    }

    /// (object path, row) of item `i`.
    pub fn origin(&self, i: usize) -> (&str, u64) {
        let k = self.origins.partition_point(|o| o.start <= i) - 1;
        let o = &self.origins[k];
        (&o.object, o.rows.get(i - o.start))
    }
}

#[cfg(test)]
mod tests {
    use super::{IdColumn, ItemIds, OriginRows, StringArray, ID_BLOCK_BITS};
    use arrow::array::Array;

    /// Segments shorter than, as long as and longer than a block of the
    /// segment index, many in one block, empty ones left out: every item's
    /// id, offsets and string are the ones at its place in the list.
    #[test]
    fn every_item_is_found_in_its_segment_whatever_the_segment_sizes() {
        let block = 1usize << ID_BLOCK_BITS;
        let layouts: Vec<Vec<usize>> = vec![
            vec![1],
            vec![block],
            vec![block - 1, 1, block + 1],
            vec![3; 3000],
            vec![1, 0, 2 * block + 5, 0, 7, block, 1, 1, 1],
            [vec![block / 2; 5], vec![1; 70], vec![3 * block + 1]].concat(),
        ];
        for sizes in layouts {
            let names: Vec<String> = (0..sizes.iter().sum()).map(|i: usize| format!("id-{i}")).collect();
            let mut at = 0;
            let columns = sizes.iter().map(|&n| {
                at += n;
                IdColumn(StringArray::from_iter_values(&names[at - n..at]))
            });
            let ids = ItemIds::from_segments(columns.collect::<Vec<_>>());
            assert_eq!(ids.len(), names.len());
            for (i, name) in names.iter().enumerate() {
                assert_eq!(ids.get(i), name.as_bytes(), "item {i} of segments {sizes:?}");
                assert_eq!(ids.get_str(i), name);
            }
        }
    }

    #[test]
    fn origin_rows_stay_a_range_until_a_row_is_skipped() {
        let mut r = OriginRows::From(100);
        r.extend(0, 100, &[0, 1, 2], 3);
        r.extend(3, 103, &[0, 1], 2);
        assert_eq!(r, OriginRows::From(100));
        assert_eq!((r.get(0), r.get(4)), (100, 104));
        r.extend(5, 105, &[0, 2], 3);
        assert_eq!(
            r,
            OriginRows::Listed {
                first: 100,
                offsets: vec![0, 1, 2, 3, 4, 5, 7]
            }
        );
        assert_eq!((r.get(0), r.get(6)), (100, 107));
        let mut gap = OriginRows::From(0);
        gap.extend(0, 0, &[0, 1], 2);
        gap.extend(2, 5, &[0], 1);
        assert_eq!(
            gap,
            OriginRows::Listed {
                first: 0,
                offsets: vec![0, 1, 5]
            },
            "a batch that does not follow on"
        );
    }

    /// Ids kept as several row groups' columns read as one list: by index,
    /// by range across segment boundaries, and in loops over every id.
    #[test]
    fn item_ids_in_segments_read_as_one_list() {
        let column = |ids: &[&str]| IdColumn(StringArray::from_iter_values(ids));
        let ids = ItemIds::from_segments([column(&["a", "bb"]), column(&[]), column(&["ccc"]), column(&["d", "", "f"])]);
        let all = ["a", "bb", "ccc", "d", "", "f"];
        assert_eq!(ids.len(), 6);
        for (i, id) in all.iter().enumerate() {
            assert_eq!(ids.get(i), id.as_bytes(), "item {i}");
            assert_eq!(ids.get_str(i), *id);
        }
        for lo in 0..=6 {
            for hi in lo..=6 {
                let expected: Vec<&[u8]> = all[lo..hi].iter().map(|s| s.as_bytes()).collect();
                assert_eq!(ids.range(lo..hi).collect::<Vec<_>>(), expected, "range {lo}..{hi}");
                let mut looped = Vec::new();
                ids.for_each_in(lo..hi, |id| looped.push(id.to_vec()));
                assert_eq!(looped, expected, "loop over {lo}..{hi}");
            }
        }
        let one: ItemIds = ["x", "y"].into_iter().collect();
        assert_eq!((one.get(1), one.len()), (&b"y"[..], 2));
        assert!(ItemIds::default().is_empty());
        let mut appended = column(&["p"]);
        appended.append(StringArray::from_iter_values(["q", "r"])).unwrap();
        assert_eq!(appended.iter().collect::<Vec<_>>(), [&b"p"[..], b"q", b"r"]);
        assert_eq!(appended.pick(&[2, 0]).iter().collect::<Vec<_>>(), [&b"r"[..], b"p"]);
    }

    #[test]
    fn picked_ids_are_the_rows_asked_for_in_runs_or_not() {
        let all = ["", "a", "bb", "ccc", "", "dddd", "é", "f"];
        // A slice of a column: its offsets do not start at 0.
        let column = IdColumn(StringArray::from_iter_values(["zz"].iter().chain(&all)).slice(1, all.len()));
        let picks: [&[usize]; 6] = [&[], &[0, 1, 2, 3, 4, 5, 6, 7], &[1, 2, 3, 5, 6], &[7, 6, 5], &[2, 2, 3, 0, 1], &[4]];
        for sel in picks {
            let picked = column.pick(sel);
            let expected: Vec<&[u8]> = sel.iter().map(|&i| all[i].as_bytes()).collect();
            assert_eq!(picked.iter().collect::<Vec<_>>(), expected, "rows {sel:?}");
            assert_eq!(picked.0.null_count(), 0);
            picked.0.into_data().validate_full().expect("a valid string array");
        }
    }
}

//! Decoding: one row group at a time, in parallel, from the fetched bytes,
//! into a [`Chunk`] of typed columns. Rows of other cohorts are dropped and
//! counted here; every value the replay relies on is validated as it is
//! decoded ([`super::validate`]); strings are read as dictionaries so that
//! names are looked up once per distinct value, not once per row.

use super::names::Interner;
use super::plan::{type_name, Plan};
use super::prune::to_micros;
use super::table::{prefetch, Capacity, FeatureColumn, HistoryError, HistoryQuery, IdColumn, ItemRef, OriginRows};
use super::validate::{capacity_value, feature_value, KIND_EXPECTED};
use crate::profile::kind_index;
use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, PrimitiveArray, StringArray};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int32Type, Int64Type, TimeUnit, UInt64Type};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Rows of one row group after validation and cohort filtering.
#[derive(Clone, Default)]
pub struct Chunk {
    pub object: usize,
    pub rows: OriginRows,
    pub ids: IdColumn,
    pub window: Vec<u32>,
    pub window_names: Interner,
    /// Per local window: its capacity and the row that set it.
    pub window_caps: Vec<(Option<u32>, u64)>,
    /// Per local window: the earliest `window_start` of its rows (µs).
    pub window_starts: Vec<i64>,
    pub class: Vec<u32>,
    pub class_names: Interner,
    pub kind: Vec<u8>,
    pub actionable: Vec<bool>,
    /// `actionable` was null: nobody judged the item (README "Unjudged items").
    pub unjudged: Vec<bool>,
    pub board_override: Vec<bool>,
    pub missed: Vec<bool>,
    pub features: Vec<FeatureColumn>,
    pub null_features: Vec<u64>,
    pub other_cohort: u64,
    pub ws_range: Option<(i64, i64)>,
    pub live_revision: Vec<u32>,
    pub revision_names: Interner,
    pub queued_at: Vec<Option<i64>>,
    pub signed_off_at: Vec<Option<i64>>,
}

impl Chunk {
    /// Room for `rows` more rows in every per-row column but the features.
    fn reserve(&mut self, rows: usize) {
        self.window.reserve(rows);
        self.class.reserve(rows);
        self.kind.reserve(rows);
        for v in [&mut self.actionable, &mut self.unjudged, &mut self.board_override, &mut self.missed] {
            v.reserve(rows);
        }
    }
}

fn strings(batch: &RecordBatch, name: &str) -> StringArray {
    let col = batch.column_by_name(name).expect("projected column");
    match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().clone(),
        _ => cast(col, &DataType::Utf8)
            .expect("string types cast to Utf8")
            .as_string::<i32>()
            .clone(),
    }
}

fn booleans(batch: &RecordBatch, name: &str) -> BooleanArray {
    batch.column_by_name(name).expect("projected column").as_boolean().clone()
}

/// The first selected row whose value is null (none when the column has no null).
fn first_null(column: &dyn Array, sel: &[usize]) -> Option<usize> {
    if column.null_count() == 0 {
        return None;
    }
    sel.iter().copied().find(|&i| column.is_null(i))
}

/// A timestamp column's raw values and unit.
fn timestamps(batch: &RecordBatch, name: &str) -> (PrimitiveArray<Int64Type>, TimeUnit) {
    let col: &ArrayRef = batch.column_by_name(name).expect("projected column");
    let DataType::Timestamp(unit, _) = col.data_type() else {
        unreachable!("type checked when planning")
    };
    let raw = cast(col, &DataType::Int64).expect("timestamps cast to Int64");
    (raw.as_primitive::<Int64Type>().clone(), *unit)
}

/// Timestamps in microseconds since the epoch, `None` where null.
fn micros(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let (raw, unit) = timestamps(batch, name);
    raw.iter().map(|v| v.map(|v| to_micros(unit, v))).collect()
}

pub fn decode_row_group(p: &Plan, query: &HistoryQuery) -> Result<Chunk, HistoryError> {
    let corrupt = |e: String| HistoryError::Corrupt {
        object: p.path.to_string(),
        message: e,
    };
    let rows_in_group = p.meta.metadata().row_group(p.row_group).num_rows() as usize;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(p.bytes.clone(), p.meta.clone())
        .with_row_groups(vec![p.row_group])
        .with_projection(p.mask.clone())
        .with_batch_size(rows_in_group.max(1))
        .build()
        .map_err(|e| corrupt(e.to_string()))?;
    let mut chunk = Chunk {
        object: p.object,
        rows: OriginRows::From(p.first_row),
        features: vec![FeatureColumn::default(); query.features.len()],
        null_features: vec![0; query.features.len()],
        ..Default::default()
    };
    chunk.reserve(rows_in_group);
    let mut offset = p.first_row;
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(e.to_string()))?;
        let n = batch.num_rows();
        decode_batch(p, query, &batch, offset, &mut chunk)?;
        offset += n as u64;
    }
    Ok(chunk)
}

/// A string column as per-row dictionary keys and the dictionary values:
/// lookups then happen once per distinct value, not per row. The keys are
/// arrow's own buffer, not a copy.
struct Dict {
    keys: ScalarBuffer<i32>,
    nulls: Option<NullBuffer>,
    values: StringArray,
}

impl Dict {
    fn of(batch: &RecordBatch, name: &str) -> Dict {
        let col = batch.column_by_name(name).expect("projected column");
        let target = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let d: ArrayRef = if col.data_type() == &target {
            col.clone()
        } else {
            cast(col, &target)
                .or_else(|_| cast(&cast(col, &DataType::Utf8)?, &target))
                .expect("string columns convert to dictionaries")
        };
        let d = d.as_dictionary::<Int32Type>();
        let values = d.values().as_string::<i32>().clone();
        let keys = d.keys();
        Dict {
            keys: keys.values().clone(),
            nulls: keys.nulls().filter(|n| n.null_count() > 0).cloned(),
            values,
        }
    }

    /// Row `i`'s key (arrow's are never negative), `u32::MAX` when null.
    #[inline]
    fn key(&self, i: usize) -> u32 {
        match &self.nulls {
            Some(n) if n.is_null(i) => u32::MAX,
            _ => self.keys[i] as u32,
        }
    }

    /// The value of row `i`, `None` when null.
    #[inline]
    fn get(&self, i: usize) -> Option<(usize, &str)> {
        let k = self.key(i);
        (k != u32::MAX && self.values.is_valid(k as usize)).then(|| (k as usize, self.values.value(k as usize)))
    }
}

/// One record batch's rows, for error messages: the object, the first
/// row's number, and the item ids.
struct BatchRows<'a> {
    object: &'a str,
    first_row: u64,
    ids: StringArray,
}

impl BatchRows<'_> {
    fn row(&self, i: usize) -> u64 {
        self.first_row + i as u64
    }
    fn item(&self, i: usize) -> ItemRef {
        ItemRef(self.ids.is_valid(i).then(|| self.ids.value(i).into()))
    }
    fn null(&self, i: usize, column: &str) -> HistoryError {
        HistoryError::NullValue {
            object: self.object.into(),
            row: self.row(i),
            item: self.item(i),
            column: column.into(),
        }
    }
    fn bad(&self, i: usize, column: &str, expected: &'static str, found: String) -> HistoryError {
        HistoryError::BadValue {
            object: self.object.into(),
            row: self.row(i),
            item: self.item(i),
            column: column.into(),
            expected,
            found,
        }
    }
}

/// Decode one record batch into `chunk`, column by column, in the order the
/// first problem is reported: cohort, item id, window, class and kind,
/// outcomes, window start, features.
fn decode_batch(p: &Plan, query: &HistoryQuery, batch: &RecordBatch, first_row: u64, chunk: &mut Chunk) -> Result<(), HistoryError> {
    let rows = BatchRows {
        object: p.path,
        first_row,
        ids: strings(batch, "item_id"),
    };
    let (sel, null_cohort) = select_cohort(&rows, batch, query, chunk);
    // Every column is checked and the problem at the lowest row is reported
    // (a tie goes to the column checked first), so the first problem is the
    // first in row order, whatever column it sits in.
    let mut first = FirstProblem(null_cohort);
    if !sel.is_empty() {
        chunk.rows.extend(chunk.window.len(), first_row, &sel, batch.num_rows());
        first.keep(decode_item_ids(&rows, &sel, chunk));
        first.keep(decode_windows(p, &rows, batch, &sel, chunk));
        first.keep(decode_classes_and_kinds(&rows, batch, &sel, chunk));
        first.keep(decode_outcomes(p, &rows, batch, &sel, chunk, query.outcomes_optional));
        first.keep(decode_window_starts(&rows, batch, &sel, chunk));
        first.keep(decode_features(&rows, batch, &sel, query, chunk));
        if query.live_columns {
            decode_live_columns(p, batch, &sel, chunk);
        }
    }
    match first.0 {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The problem at the lowest row seen so far.
struct FirstProblem(Option<HistoryError>);

impl FirstProblem {
    fn keep(&mut self, r: Result<(), HistoryError>) {
        if let Err(e) = r {
            if self.0.as_ref().is_none_or(|f| row_of(&e) < row_of(f)) {
                self.0 = Some(e);
            }
        }
    }
}

/// The row a problem was found at; problems of a whole column sort first.
fn row_of(e: &HistoryError) -> u64 {
    match e {
        HistoryError::NullValue { row, .. } | HistoryError::BadValue { row, .. } => *row,
        HistoryError::WindowCapacity { second_row, .. } => *second_row,
        _ => 0,
    }
}

/// Rows of other cohorts are ignored and counted (README "Regression
/// history"); a null cohort is an error. Returns the rows kept, and the
/// first row whose cohort is null.
fn select_cohort(rows: &BatchRows, batch: &RecordBatch, query: &HistoryQuery, chunk: &mut Chunk) -> (Vec<usize>, Option<HistoryError>) {
    let n_all = batch.num_rows();
    let cohort = Dict::of(batch, "cohort");
    let ours: Vec<bool> = (0..cohort.values.len())
        .map(|k| cohort.values.is_valid(k) && cohort.values.value(k) == query.cohort)
        .collect();
    let mut sel: Vec<usize> = Vec::with_capacity(n_all);
    let mut null = None;
    for i in 0..n_all {
        match cohort.get(i) {
            None => {
                null.get_or_insert_with(|| rows.null(i, "cohort"));
            }
            Some((k, _)) if ours[k] => sel.push(i),
            Some(_) => {}
        }
    }
    chunk.other_cohort += (n_all - sel.len()) as u64;
    (sel, null)
}

fn decode_item_ids(rows: &BatchRows, sel: &[usize], chunk: &mut Chunk) -> Result<(), HistoryError> {
    let ids = &rows.ids;
    if let Some(i) = first_null(ids, sel) {
        return Err(rows.null(i, "item_id"));
    }
    // Every row kept (the usual case): arrow's column as it is, no copy.
    let kept = match sel.len() == ids.len() {
        true => ids.clone(),
        false => IdColumn(ids.clone()).pick(sel).0,
    };
    chunk.ids.append(kept).map_err(|e| HistoryError::Corrupt {
        object: rows.object.into(),
        message: format!("item_id: {e}"),
    })
}

/// Windows, each with one capacity: every row of a window must carry the same.
fn decode_windows(p: &Plan, rows: &BatchRows, batch: &RecordBatch, sel: &[usize], chunk: &mut Chunk) -> Result<(), HistoryError> {
    let windows = Dict::of(batch, "window_id");
    // At most one new window per dictionary value: room for all, no regrowth.
    chunk.window_names.reserve(windows.values.len(), windows.values.value_data().len());
    chunk.window_caps.reserve(windows.values.len());
    chunk.window_starts.reserve(windows.values.len());
    let capacity = p
        .has_capacity
        .then(|| CapacityColumn::of(batch.column_by_name("window_capacity").expect("projected column")));
    let column = WindowColumn {
        rows,
        windows: &windows,
        capacity: capacity.as_ref(),
    };
    // The dictionary arrow hands over is normally free of repeats: a row
    // group's first batch then appends its names unlooked-up, and checks
    // once afterwards that they were distinct. If they were not, the batch
    // is decoded again with every name looked up, so the windows and the
    // first problem found are the same either way.
    let unchecked = chunk.window_names.is_empty();
    let (rows_before, names_before) = (chunk.window.len(), chunk.window_names.len());
    let decoded = column.decode(sel, chunk, unchecked);
    if !unchecked || !chunk.window_names.has_duplicates(names_before) {
        return decoded;
    }
    chunk.window.truncate(rows_before);
    chunk.window_names.truncate(names_before);
    chunk.window_caps.truncate(names_before);
    chunk.window_starts.truncate(names_before);
    column.decode(sel, chunk, false)
}

/// A `window_capacity` column as written: 32- and 64-bit integers are read
/// in place, other integer types are widened to 64 bits first.
enum CapacityColumn {
    Int32(PrimitiveArray<Int32Type>),
    Int64(PrimitiveArray<Int64Type>),
}

impl CapacityColumn {
    fn of(col: &ArrayRef) -> CapacityColumn {
        match col.data_type() {
            DataType::Int32 => CapacityColumn::Int32(col.as_primitive::<Int32Type>().clone()),
            DataType::Int64 => CapacityColumn::Int64(col.as_primitive::<Int64Type>().clone()),
            _ => {
                let wide = cast(col, &DataType::Int64).expect("integers cast to Int64");
                CapacityColumn::Int64(wide.as_primitive::<Int64Type>().clone())
            }
        }
    }

    /// Row `i`'s value, `None` when null.
    #[inline]
    fn get(&self, i: usize) -> Option<i64> {
        match self {
            CapacityColumn::Int32(c) => c.is_valid(i).then(|| c.value(i) as i64),
            CapacityColumn::Int64(c) => c.is_valid(i).then(|| c.value(i)),
        }
    }
}

/// One batch's `window_id` and `window_capacity` columns.
struct WindowColumn<'a> {
    rows: &'a BatchRows<'a>,
    windows: &'a Dict,
    capacity: Option<&'a CapacityColumn>,
}

/// A dictionary value not named ahead: a null (or a null name).
const NOT_NAMED: u64 = u64::MAX;

impl WindowColumn<'_> {
    /// Windows, each with one capacity: every row of a window must carry the
    /// same. With `unchecked`, every dictionary value the rows use is named
    /// beforehand without a lookup ([`WindowColumn::name_in_order`]), so a
    /// value not seen here is a null, reported as such.
    fn decode(&self, sel: &[usize], chunk: &mut Chunk, unchecked: bool) -> Result<(), HistoryError> {
        if unchecked {
            let named = self.name_in_order(sel, chunk);
            return self.check_rows_named_ahead(sel, chunk, &named);
        }
        let (rows, windows) = (self.rows, self.windows);
        // Local window id per dictionary value, once it has been seen.
        let mut window_of_value = vec![u32::MAX; windows.values.len()];
        for &i in sel {
            let k = windows.key(i) as usize;
            let seen = window_of_value.get(k).copied().filter(|&l| l != u32::MAX);
            let name = match seen {
                Some(_) => None,
                None => Some(windows.get(i).ok_or_else(|| rows.null(i, "window_id"))?.1),
            };
            let row = rows.row(i);
            let cap = match self.capacity {
                Some(c) => capacity_value(c.get(i), rows.object, row, || rows.item(i))?,
                None => None,
            };
            let local = match (seen, name) {
                (Some(local), _) => local,
                (None, name) => {
                    let name = name.expect("looked up above");
                    let (local, new) = chunk.window_names.intern(name);
                    if new {
                        chunk.window_caps.push((cap, row));
                        chunk.window_starts.push(i64::MAX);
                    }
                    window_of_value[k] = local;
                    local
                }
            };
            let (first, first_row_of_window) = chunk.window_caps[local as usize];
            if cap != first {
                return Err(HistoryError::WindowCapacity {
                    window_id: chunk.window_names.get(local as usize).to_string(),
                    first: Capacity(first),
                    first_object: rows.object.into(),
                    first_row: first_row_of_window,
                    second: Capacity(cap),
                    second_object: rows.object.into(),
                    second_row: row,
                });
            }
            chunk.window.push(local);
        }
        Ok(())
    }

    /// The batch's windows in order of first appearance, named ahead of the
    /// row pass: first the dictionary values in the order rows meet them,
    /// then their names copied in that order, each read prefetched a few
    /// names ahead (a dictionary built from plain pages is not in the rows'
    /// order, so the reads are at random). Each new window's capacity and
    /// row are its first row's. Returns, per dictionary value, its local
    /// window and that capacity packed ([`pack_named`]), or [`NOT_NAMED`].
    fn name_in_order(&self, sel: &[usize], chunk: &mut Chunk) -> Vec<u64> {
        let (rows, windows) = (self.rows, self.windows);
        let mut named = vec![NOT_NAMED; windows.values.len()];
        let mut order: Vec<(u32, usize)> = Vec::with_capacity(windows.values.len());
        for &i in sel {
            let k = windows.key(i);
            if k != u32::MAX && named[k as usize] == NOT_NAMED && windows.values.is_valid(k as usize) {
                named[k as usize] = 0; // seen; its entry is packed below
                order.push((k, i));
            }
        }
        let (offsets, bytes) = (windows.values.value_offsets(), windows.values.value_data());
        const AHEAD: usize = 16;
        for (n, &(k, i)) in order.iter().enumerate() {
            if let Some(&(far, _)) = order.get(n + 2 * AHEAD) {
                prefetch(&offsets[far as usize]);
            }
            if let Some(&(near, _)) = order.get(n + AHEAD) {
                if let Some(b) = bytes.get(offsets[near as usize] as usize) {
                    prefetch(b);
                }
            }
            let local = chunk.window_names.push_distinct(windows.values.value(k as usize));
            let cap = self
                .capacity
                .and_then(|c| capacity_value(c.get(i), rows.object, rows.row(i), || rows.item(i)).ok())
                .flatten();
            named[k as usize] = pack_named(local, cap);
            chunk.window_caps.push((cap, rows.row(i)));
            chunk.window_starts.push(i64::MAX);
        }
        named
    }

    /// The row pass after [`WindowColumn::name_in_order`]: each row's local
    /// window, and every row's capacity checked against its window's first,
    /// with one read per row of the value's packed entry. A problem is
    /// reported as the looked-up pass reports it: a null window, then a bad
    /// capacity, then a capacity differing from the window's first row's.
    fn check_rows_named_ahead(&self, sel: &[usize], chunk: &mut Chunk, named: &[u64]) -> Result<(), HistoryError> {
        match self.capacity {
            None => self.check_rows(sel, chunk, named, |_| None),
            Some(CapacityColumn::Int32(c)) if c.null_count() == 0 => {
                let v = c.values();
                self.check_rows(sel, chunk, named, |i| Some(v[i] as i64))
            }
            Some(CapacityColumn::Int64(c)) if c.null_count() == 0 => {
                let v = c.values();
                self.check_rows(sel, chunk, named, |i| Some(v[i]))
            }
            Some(c) => self.check_rows(sel, chunk, named, |i| c.get(i)),
        }
    }

    /// [`WindowColumn::check_rows_named_ahead`] with `raw(i)`, row `i`'s
    /// capacity as written (`None` when null or absent).
    #[inline(always)]
    fn check_rows(&self, sel: &[usize], chunk: &mut Chunk, named: &[u64], raw: impl Fn(usize) -> Option<i64>) -> Result<(), HistoryError> {
        let (rows, windows) = (self.rows, self.windows);
        chunk.window.reserve(sel.len());
        for &i in sel {
            let entry = named.get(windows.key(i) as usize).copied().unwrap_or(NOT_NAMED);
            if entry == NOT_NAMED {
                return Err(rows.null(i, "window_id"));
            }
            let (local, first) = ((entry >> 32) as u32, entry as u32);
            let cap = raw(i);
            let same = match cap {
                None => first == 0,
                Some(c) => first != 0 && c == first as i64,
            };
            if !same {
                let row = rows.row(i);
                let cap = capacity_value(cap, rows.object, row, || rows.item(i))?;
                let (first, first_row) = chunk.window_caps[local as usize];
                return Err(HistoryError::WindowCapacity {
                    window_id: chunk.window_names.get(local as usize).to_string(),
                    first: Capacity(first),
                    first_object: rows.object.into(),
                    first_row,
                    second: Capacity(cap),
                    second_object: rows.object.into(),
                    second_row: row,
                });
            }
            chunk.window.push(local);
        }
        Ok(())
    }
}

/// A named dictionary value's entry: its local window (high half) and its
/// window's first capacity (low half; 0 for none, which no capacity is).
#[inline]
fn pack_named(local: u32, cap: Option<u32>) -> u64 {
    (local as u64) << 32 | cap.unwrap_or(0) as u64
}

fn decode_classes_and_kinds(rows: &BatchRows, batch: &RecordBatch, sel: &[usize], chunk: &mut Chunk) -> Result<(), HistoryError> {
    let classes = Dict::of(batch, "signoff_class");
    let kinds = Dict::of(batch, "kind");
    let mut class_of_value = vec![u32::MAX; classes.values.len()];
    let mut kind_of_value = vec![u8::MAX; kinds.values.len()];
    // A value seen before is one array read; a new one is checked and looked up.
    for &i in sel {
        let class = match class_of_value.get(classes.key(i) as usize) {
            Some(&c) if c != u32::MAX => c,
            _ => {
                let Some((k, name)) = classes.get(i) else {
                    return Err(rows.null(i, "signoff_class"));
                };
                class_of_value[k] = chunk.class_names.intern(name).0;
                class_of_value[k]
            }
        };
        chunk.class.push(class);
        let kind = match kind_of_value.get(kinds.key(i) as usize) {
            Some(&v) if v != u8::MAX => v,
            _ => {
                let Some((k, name)) = kinds.get(i) else {
                    return Err(rows.null(i, "kind"));
                };
                kind_of_value[k] = kind_index(name).ok_or_else(|| rows.bad(i, "kind", KIND_EXPECTED, format!("\"{name}\"")))?;
                kind_of_value[k]
            }
        };
        chunk.kind.push(kind);
    }
    Ok(())
}

/// Outcomes: `board_override` and `missed` are required and never null in
/// history; `actionable` is required as a column, and null there means the
/// item was never judged (kept in `unjudged`, read as not actionable). For
/// items to score, all three may be absent or null, read as false.
fn decode_outcomes(
    p: &Plan,
    rows: &BatchRows,
    batch: &RecordBatch,
    sel: &[usize],
    chunk: &mut Chunk,
    optional: bool,
) -> Result<(), HistoryError> {
    decode_actionable(p, batch, sel, chunk);
    for (k, (column, out)) in [("board_override", &mut chunk.board_override), ("missed", &mut chunk.missed)]
        .into_iter()
        .enumerate()
    {
        if !p.outcomes[k + 1] {
            out.extend(std::iter::repeat_n(false, sel.len()));
            continue;
        }
        let b = booleans(batch, column);
        if optional {
            out.extend(sel.iter().map(|&i| b.is_valid(i) && b.value(i)));
            continue;
        }
        if let Some(i) = first_null(&b, sel) {
            return Err(rows.null(i, column));
        }
        out.extend(sel.iter().map(|&i| b.value(i)));
    }
    Ok(())
}

/// `actionable`: true, false, or null (unjudged, read as not actionable).
fn decode_actionable(p: &Plan, batch: &RecordBatch, sel: &[usize], chunk: &mut Chunk) {
    if !p.outcomes[0] {
        chunk.actionable.extend(std::iter::repeat_n(false, sel.len()));
        chunk.unjudged.extend(std::iter::repeat_n(true, sel.len()));
        return;
    }
    let b = booleans(batch, "actionable");
    chunk.actionable.extend(sel.iter().map(|&i| b.is_valid(i) && b.value(i)));
    chunk.unjudged.extend(sel.iter().map(|&i| b.is_null(i)));
}

fn decode_window_starts(rows: &BatchRows, batch: &RecordBatch, sel: &[usize], chunk: &mut Chunk) -> Result<(), HistoryError> {
    let (starts, unit) = timestamps(batch, "window_start");
    if let Some(i) = first_null(&starts, sel) {
        return Err(rows.null(i, "window_start"));
    }
    let raw = starts.values();
    // This batch's rows are the last `sel.len()` local windows decoded (when
    // window ids decoded cleanly; otherwise that error is reported instead).
    let base = chunk.window.len().checked_sub(sel.len());
    let (mut lo, mut hi) = chunk.ws_range.unwrap_or((i64::MAX, i64::MIN));
    for (j, &i) in sel.iter().enumerate() {
        let s = to_micros(unit, raw[i]);
        (lo, hi) = (lo.min(s), hi.max(s));
        if let Some(w) = base.and_then(|b| chunk.window.get(b + j)) {
            if let Some(earliest) = chunk.window_starts.get_mut(*w as usize) {
                *earliest = (*earliest).min(s);
            }
        }
    }
    if !sel.is_empty() {
        chunk.ws_range = Some((lo, hi));
    }
    Ok(())
}

/// Features: nulls read as 0.0 and counted; NaN, ±inf and negative log1p inputs refused.
fn decode_features(
    rows: &BatchRows,
    batch: &RecordBatch,
    sel: &[usize],
    query: &HistoryQuery,
    chunk: &mut Chunk,
) -> Result<(), HistoryError> {
    for (f, name) in query.features.iter().enumerate() {
        let col = batch.column_by_name(name).expect("projected column");
        exact_as_double(rows, col, sel, name)?;
        let out = &mut chunk.features[f];
        let start = out.len();
        let nulls = &mut chunk.null_features[f];
        if !copy_feature(col, sel, out, nulls) {
            let vals = cast(col, &DataType::Float64).map_err(|e| HistoryError::ColumnType {
                object: rows.object.into(),
                column: name.clone(),
                found: type_name(col.data_type()),
                expected: format!("a numeric column convertible to float64 ({e})"),
            })?;
            copy_primitive(vals.as_primitive::<Float64Type>(), sel, out.as_f64_mut(), nulls, |v| v);
        }
        // A null was read as 0.0, which every check accepts.
        let nonneg = query.nonnegative.contains(name);
        if let Some(j) = first_refused(out, start, nonneg) {
            let v = out.get(start + j);
            let expected = feature_value(v, nonneg).expect_err("refused");
            return Err(rows.bad(sel[j], name, expected, format!("{v}")));
        }
    }
    Ok(())
}

/// The first value from `start` on that [`feature_value`] refuses: one pass
/// without an early exit (it runs as vector code) in the column's own
/// width (a double of it is refused exactly when it is), then a search
/// only when there is one.
fn first_refused(out: &FeatureColumn, start: usize, nonneg: bool) -> Option<usize> {
    let refused = match out {
        FeatureColumn::F64(v) => v[start..].iter().fold(false, |r, &v| r | !v.is_finite() | (nonneg & (v < 0.0))),
        FeatureColumn::F32(v) => v[start..].iter().fold(false, |r, &v| r | !v.is_finite() | (nonneg & (v < 0.0))),
        FeatureColumn::I32(v) => nonneg && v[start..].iter().fold(false, |r, &v| r | (v < 0)),
    };
    if !refused {
        return None;
    }
    (start..out.len()).position(|j| feature_value(out.get(j), nonneg).is_err())
}

/// Copy the selected rows of a feature column into `out`: 32-bit floats,
/// and integers whose every value fits 32 bits, in that width (while `out`
/// holds it, or is empty), any other plain integer or float as doubles
/// ([`copy_as_double`]). Returns false for other types, which go through
/// arrow's cast.
fn copy_feature(col: &ArrayRef, sel: &[usize], out: &mut FeatureColumn, nulls: &mut u64) -> bool {
    let width = narrow_width(col);
    if out.is_empty() {
        match width {
            Some(Narrow::F32) => *out = FeatureColumn::F32(Vec::with_capacity(sel.len())),
            Some(Narrow::I32) => *out = FeatureColumn::I32(Vec::with_capacity(sel.len())),
            None => {}
        }
    }
    match (width, &mut *out) {
        (Some(Narrow::F32), FeatureColumn::F32(v)) => copy_primitive(col.as_primitive::<Float32Type>(), sel, v, nulls, |x| x),
        (Some(Narrow::I32), FeatureColumn::I32(v)) => return copy_as_i32(col, sel, v, nulls),
        _ => {
            let v = out.as_f64_mut();
            v.reserve(sel.len());
            return copy_as_double(col, sel, v, nulls);
        }
    }
    true
}

/// A narrower width than doubles that holds a feature column exactly.
#[derive(Clone, Copy)]
enum Narrow {
    F32,
    I32,
}

/// The narrow width `col` fits: 32-bit floats as they are; integers of
/// 32 bits or fewer always, wider ones when every value (null slots too,
/// which only costs room) lies in the 32-bit range.
fn narrow_width(col: &ArrayRef) -> Option<Narrow> {
    use arrow::datatypes as t;
    let fit = match col.data_type() {
        DataType::Float32 => return Some(Narrow::F32),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16 => true,
        DataType::UInt32 => col.as_primitive::<t::UInt32Type>().values().iter().all(|&v| v <= i32::MAX as u32),
        DataType::Int64 => {
            let (lo, hi) = col
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .fold((0i64, 0i64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            lo >= i32::MIN as i64 && hi <= i32::MAX as i64
        }
        DataType::UInt64 => col.as_primitive::<UInt64Type>().values().iter().all(|&v| v <= i32::MAX as u64),
        _ => false,
    };
    fit.then_some(Narrow::I32)
}

/// Copy the selected rows of `$col` into `$out` with [`copy_primitive`],
/// each converted with `as $to`, when the column is one of the listed
/// (`DataType` variant => arrow type) pairs; evaluates to false otherwise.
macro_rules! copy_converted {
    ($col:expr, $sel:expr, $out:expr, $nulls:expr, $to:ty; $($variant:ident => $arrow:ident),+ $(,)?) => {
        match $col.data_type() {
            $(DataType::$variant => {
                copy_primitive($col.as_primitive::<arrow::datatypes::$arrow>(), $sel, $out, $nulls, |v| v as $to);
                true
            })+
            _ => false,
        }
    };
}

/// Copy the selected rows of an integer column that [`narrow_width`] found
/// to fit 32 bits into `out`. Returns false for other types.
fn copy_as_i32(col: &ArrayRef, sel: &[usize], out: &mut Vec<i32>, nulls: &mut u64) -> bool {
    copy_converted!(col, sel, out, nulls, i32;
        Int8 => Int8Type, Int16 => Int16Type, Int32 => Int32Type, Int64 => Int64Type,
        UInt8 => UInt8Type, UInt16 => UInt16Type, UInt32 => UInt32Type, UInt64 => UInt64Type)
}

/// Copy the selected rows of a plain integer or float column into `out` as
/// doubles, exactly as arrow's cast to Float64 converts them (`as f64`),
/// without building the cast array. Returns false for other types (decimals,
/// half floats, dictionaries), which go through the cast.
fn copy_as_double(col: &ArrayRef, sel: &[usize], out: &mut Vec<f64>, nulls: &mut u64) -> bool {
    copy_converted!(col, sel, out, nulls, f64;
        Float64 => Float64Type, Float32 => Float32Type,
        Int8 => Int8Type, Int16 => Int16Type, Int32 => Int32Type, Int64 => Int64Type,
        UInt8 => UInt8Type, UInt16 => UInt16Type, UInt32 => UInt32Type, UInt64 => UInt64Type)
}

/// The selected rows of `vals`, converted; nulls as 0.0 and counted.
fn copy_primitive<T: ArrowPrimitiveType, O: Copy + Default>(
    vals: &PrimitiveArray<T>,
    sel: &[usize],
    out: &mut Vec<O>,
    nulls: &mut u64,
    to_double: impl Fn(T::Native) -> O,
) {
    let raw = vals.values();
    // Every selected value converted in one tight loop, then the nulls
    // (few, as a rule) set to 0.0 and counted.
    let start = out.len();
    match sel.len() == raw.len() {
        true => out.extend(raw.iter().map(|&v| to_double(v))),
        false => out.extend(sel.iter().map(|&i| to_double(raw[i]))),
    }
    if vals.null_count() == 0 {
        return;
    }
    for (j, &i) in sel.iter().enumerate() {
        if vals.is_null(i) {
            *nulls += 1;
            out[start + j] = O::default();
        }
    }
}

/// `live_revision`, `queued_at` and `signed_off_at`, where the object has them.
fn decode_live_columns(p: &Plan, batch: &RecordBatch, sel: &[usize], chunk: &mut Chunk) {
    if p.live[0] {
        let revs = Dict::of(batch, "live_revision");
        let mut rev_of_value = vec![u32::MAX; revs.values.len()];
        for &i in sel {
            chunk.live_revision.push(match revs.get(i) {
                None => u32::MAX,
                Some((k, name)) => {
                    if rev_of_value[k] == u32::MAX {
                        rev_of_value[k] = chunk.revision_names.intern(name).0;
                    }
                    rev_of_value[k]
                }
            });
        }
    } else {
        chunk.live_revision.extend(std::iter::repeat_n(u32::MAX, sel.len()));
    }
    for (present, name, out) in [
        (p.live[1], "queued_at", &mut chunk.queued_at),
        (p.live[2], "signed_off_at", &mut chunk.signed_off_at),
    ] {
        if present {
            let t = micros(batch, name);
            out.extend(sel.iter().map(|&i| t[i]));
        } else {
            out.extend(std::iter::repeat_n(None, sel.len()));
        }
    }
}

/// The largest integer magnitude every double holds exactly (2^53).
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// 64-bit integer features must convert to a double without loss: a value
/// beyond ±2^53 would be scored as a neighbouring number.
fn exact_as_double(rows: &BatchRows, col: &ArrayRef, sel: &[usize], name: &str) -> Result<(), HistoryError> {
    let too_big = |i: usize, found: String| {
        rows.bad(
            i,
            name,
            "an integer of magnitude at most 2^53 (9007199254740992), which a double holds exactly",
            found,
        )
    };
    match col.data_type() {
        DataType::Int64 => {
            let v = col.as_primitive::<Int64Type>();
            match sel
                .iter()
                .find(|&&i| v.is_valid(i) && v.value(i).unsigned_abs() > MAX_EXACT_INTEGER)
            {
                Some(&i) => Err(too_big(i, v.value(i).to_string())),
                None => Ok(()),
            }
        }
        DataType::UInt64 => {
            let v = col.as_primitive::<UInt64Type>();
            match sel.iter().find(|&&i| v.is_valid(i) && v.value(i) > MAX_EXACT_INTEGER) {
                Some(&i) => Err(too_big(i, v.value(i).to_string())),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::history::plan::plan_object;
    use arrow::array::{BooleanArray, DictionaryArray, Int64Array, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Schema};
    use bytes::Bytes;
    use std::sync::Arc;

    /// Four rows of cohort `c1`, with the given `window_id` column and capacities.
    fn batch(window_id: ArrayRef, capacity: [i64; 4]) -> RecordBatch {
        let s = |v: [&str; 4]| Arc::new(StringArray::from(v.to_vec())) as ArrayRef;
        let b = |v: bool| Arc::new(BooleanArray::from(vec![v; 4])) as ArrayRef;
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("item_id", s(["x1", "x2", "x3", "x4"])),
            ("cohort", s(["c1"; 4])),
            ("window_id", window_id),
            ("window_start", Arc::new(TimestampMicrosecondArray::from(vec![1_000_000; 4]))),
            ("kind", s(["build_regression"; 4])),
            ("signoff_class", s(["ops"; 4])),
            ("actionable", b(true)),
            ("board_override", b(false)),
            ("missed", b(false)),
            ("window_capacity", Arc::new(Int64Array::from(capacity.to_vec()))),
        ];
        let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns.into_iter().map(|(_, a)| a).collect()).unwrap()
    }

    /// Decode `batch` as a row group of an object written with the plain schema.
    fn decode(batch_to_decode: &RecordBatch) -> Result<Chunk, HistoryError> {
        let plain = batch(Arc::new(StringArray::from(vec!["w"; 4])), [1; 4]);
        let mut bytes = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut bytes, plain.schema(), None).unwrap();
        w.write(&plain).unwrap();
        w.close().unwrap();
        let bytes = Bytes::from(bytes);
        let query = HistoryQuery {
            cohort: "c1".into(),
            ..HistoryQuery::default()
        };
        let (plans, _) = plan_object(0, "o.parquet", &bytes, &query).unwrap();
        let mut chunk = Chunk::default();
        decode_batch(&plans[0], &query, batch_to_decode, 0, &mut chunk).map(|_| chunk)
    }

    /// A dictionary that repeats a value: its rows are one window, exactly as
    /// when every name is looked up.
    #[test]
    fn a_dictionary_with_a_repeated_value_gives_one_window() {
        let repeated = |keys: [i32; 4]| {
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(keys.to_vec().into(), Arc::new(StringArray::from(vec!["w1", "w2", "w1"]))).unwrap(),
            ) as ArrayRef
        };
        let chunk = decode(&batch(repeated([0, 2, 1, 2]), [3, 3, 4, 3])).unwrap();
        assert_eq!(chunk.window_names.iter().collect::<Vec<_>>(), ["w1", "w2"]);
        assert_eq!(chunk.window, [0, 0, 1, 0]);
        assert_eq!(chunk.window_caps, [(Some(3), 0), (Some(4), 2)]);
        match decode(&batch(repeated([0, 1, 2, 1]), [3, 4, 5, 4])) {
            Err(HistoryError::WindowCapacity {
                window_id,
                first_row,
                second_row,
                ..
            }) => {
                assert_eq!((window_id.as_str(), first_row, second_row), ("w1", 0, 2));
            }
            Err(e) => panic!("{e:?}"),
            Ok(chunk) => panic!("accepted: {:?}", chunk.window_caps),
        }
        // A dictionary whose order is not the rows' (as arrow builds one for
        // plain-encoded pages): windows still follow first appearance, each
        // with its first row's capacity and row.
        let shuffled = |keys: [i32; 4]| {
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(keys.to_vec().into(), Arc::new(StringArray::from(vec!["w3", "w1", "w2", "unused"])))
                    .unwrap(),
            ) as ArrayRef
        };
        let chunk = decode(&batch(shuffled([1, 2, 1, 0]), [7, 8, 7, 9])).unwrap();
        assert_eq!(chunk.window_names.iter().collect::<Vec<_>>(), ["w1", "w2", "w3"]);
        assert_eq!(chunk.window, [0, 1, 0, 2]);
        assert_eq!(chunk.window_caps, [(Some(7), 0), (Some(8), 1), (Some(9), 3)]);
        match decode(&batch(shuffled([2, 1, 0, 1]), [5, 6, 7, 4])) {
            Err(HistoryError::WindowCapacity {
                window_id,
                first_row,
                second_row,
                ..
            }) => assert_eq!((window_id.as_str(), first_row, second_row), ("w1", 1, 3)),
            Err(e) => panic!("{e:?}"),
            Ok(chunk) => panic!("accepted: {:?}", chunk.window_caps),
        }
        let distinct = decode(&batch(Arc::new(StringArray::from(vec!["w1", "w2", "w1", "w3"])), [1; 4])).unwrap();
        assert_eq!(distinct.window_names.iter().collect::<Vec<_>>(), ["w1", "w2", "w3"]);
        assert_eq!(distinct.window, [0, 1, 0, 2]);
    }

    /// Windows named ahead (the fast row pass) and windows looked up row by
    /// row give the same windows, capacities and first problem, on batches
    /// with null keys, null names, no capacity, bad capacities and
    /// conflicts, in 32- and 64-bit capacity columns.
    #[test]
    fn windows_named_ahead_are_those_looked_up() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let names = StringArray::from(vec![Some("w0"), Some("w1"), None, Some("w3"), Some("w4"), Some("w5")]);
        for round in 0..400 {
            let rows = 1 + next(12) as usize;
            let keys: Vec<Option<i32>> = (0..rows)
                .map(|_| (next(20) != 0 || round % 2 == 0).then(|| next(6) as i32))
                .collect();
            // Capacities follow the window but for a rare conflict, null or 0.
            let caps: Vec<Option<i64>> = keys
                .iter()
                .map(|k| match next(30) {
                    0 => None,
                    1 => Some(0),
                    2 => Some(9),
                    _ => Some(k.unwrap_or(0) as i64 + 1),
                })
                .collect();
            let window_id = Arc::new(DictionaryArray::<Int32Type>::try_new(keys.into(), Arc::new(names.clone())).unwrap()) as ArrayRef;
            let capacity: Option<ArrayRef> = match round % 3 {
                0 => None,
                1 => Some(Arc::new(Int64Array::from(caps))),
                _ => Some(Arc::new(arrow::array::Int32Array::from(
                    caps.iter().map(|c| c.map(|c| c as i32)).collect::<Vec<_>>(),
                ))),
            };
            let mut fields = vec![
                Field::new("item_id", DataType::Utf8, true),
                Field::new("window_id", window_id.data_type().clone(), true),
            ];
            let mut columns = vec![
                Arc::new(StringArray::from_iter_values((0..rows).map(|r| format!("i{r}")))) as ArrayRef,
                window_id,
            ];
            if let Some(c) = &capacity {
                fields.push(Field::new("window_capacity", c.data_type().clone(), true));
                columns.push(c.clone());
            }
            let b = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
            let batch_rows = BatchRows {
                object: "o.parquet",
                first_row: 10,
                ids: strings(&b, "item_id"),
            };
            let (windows, capacity) = (Dict::of(&b, "window_id"), capacity.as_ref().map(CapacityColumn::of));
            let column = WindowColumn {
                rows: &batch_rows,
                windows: &windows,
                capacity: capacity.as_ref(),
            };
            let sel: Vec<usize> = (0..rows).filter(|_| next(8) != 0).collect();
            let outcome = |named_ahead: bool| {
                let mut chunk = Chunk::default();
                match column.decode(&sel, &mut chunk, named_ahead) {
                    Ok(()) => format!("{:?} {:?} {:?}", chunk.window, chunk.window_names, chunk.window_caps),
                    Err(e) => format!("{e:?}"),
                }
            };
            assert_eq!(outcome(true), outcome(false), "round {round}, rows {sel:?}");
        }
    }

    /// Integer feature columns are kept in 32 bits exactly when every value
    /// fits; either way each value reads as arrow's cast to Float64 gives
    /// it, nulls read 0.0 and are counted, and a batch that does not fit
    /// after one that did turns the column to doubles without changing a
    /// value read before.
    #[test]
    fn integer_features_are_kept_narrow_only_when_every_value_fits() {
        use arrow::array::{Int16Array, Int32Array, Int8Array, UInt16Array, UInt32Array, UInt64Array, UInt8Array};
        let wide = 1i64 << 40;
        let cases: Vec<(ArrayRef, bool)> = vec![
            (Arc::new(Int8Array::from(vec![Some(-128), None, Some(127)])), true),
            (Arc::new(Int16Array::from(vec![Some(-300), Some(0), None])), true),
            (Arc::new(UInt8Array::from(vec![Some(255), None, Some(0)])), true),
            (Arc::new(UInt16Array::from(vec![65535, 0, 7])), true),
            (Arc::new(Int32Array::from(vec![i32::MIN, -1, i32::MAX])), true),
            (Arc::new(UInt32Array::from(vec![0, 1, i32::MAX as u32])), true),
            (Arc::new(UInt32Array::from(vec![0, 1, i32::MAX as u32 + 1])), false),
            (
                Arc::new(Int64Array::from(vec![Some(i32::MIN as i64), None, Some(i32::MAX as i64)])),
                true,
            ),
            (Arc::new(Int64Array::from(vec![i32::MIN as i64 - 1, 0, 5])), false),
            (Arc::new(Int64Array::from(vec![Some(3), Some(wide), None])), false),
            (Arc::new(UInt64Array::from(vec![0, 9, i32::MAX as u64])), true),
            (Arc::new(UInt64Array::from(vec![0, 9, u64::MAX >> 12])), false),
        ];
        let as_doubles = |col: &ArrayRef, sel: &[usize]| -> Vec<f64> {
            let d = cast(col, &DataType::Float64).unwrap();
            let d = d.as_primitive::<Float64Type>();
            sel.iter().map(|&i| if d.is_null(i) { 0.0 } else { d.value(i) }).collect()
        };
        for (col, narrow) in &cases {
            for sel in [vec![0, 1, 2], vec![2, 0]] {
                let (mut out, mut nulls) = (FeatureColumn::default(), 0u64);
                assert!(copy_feature(col, &sel, &mut out, &mut nulls), "{:?}", col.data_type());
                assert_eq!(matches!(out, FeatureColumn::I32(_)), *narrow, "{:?} {sel:?}", col.data_type());
                let read: Vec<f64> = (0..out.len()).map(|j| out.get(j)).collect();
                assert_eq!(read, as_doubles(col, &sel), "{:?} {sel:?}", col.data_type());
                assert_eq!(nulls, sel.iter().filter(|&&i| col.is_null(i)).count() as u64);
            }
        }
        // Batches of one row group in turn: narrow, then wide, then narrow again.
        let (mut out, mut nulls) = (FeatureColumn::default(), 0u64);
        let mut expected = Vec::new();
        for k in [7, 8, 0] {
            let (col, _) = &cases[k];
            assert!(copy_feature(col, &[0, 1, 2], &mut out, &mut nulls));
            expected.extend(as_doubles(col, &[0, 1, 2]));
        }
        assert!(matches!(out, FeatureColumn::F64(_)));
        assert_eq!((0..out.len()).map(|j| out.get(j)).collect::<Vec<_>>(), expected);
        assert_eq!(nulls, 2);
    }
}

//! Regression history: listing the parquet objects under a cohort's prefix,
//! reading them through `object_store`, validating every row the replay uses,
//! and fingerprinting the exact bytes read.
//!
//! Each object is fetched once, hashed (sha256) and decoded from those same
//! bytes, so the snapshot in the evidence packet describes exactly what was
//! replayed, even if the object changes afterwards; an object whose size or
//! version changed between listing and reading is refused. Decoding uses the
//! parquet crate's arrow reader with a column projection (only the columns
//! the replay needs) and runs one rayon task per row group.
//!
//! Any writer's physical types are accepted where they convert losslessly:
//! strings as plain, large, view or dictionary arrays; features as any
//! integer, float or decimal; timestamps of any unit, naive meaning UTC.
//! Validation follows SPEC §3 and §9; the first problem in (object path, row)
//! order is reported, naming the object, the row, the item id and the column.

use crate::canonical::{sha256_hex, to_jcs, Digest};
use crate::profile::{kind_index, KINDS};
use crate::store::{Store, StoreError};
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

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
        expected: String,
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
        first: String,
        first_object: String,
        first_row: u64,
        second: String,
        second_object: String,
        second_row: u64,
    },
    #[error("history: more than {max} distinct {what}")]
    TooMany { what: &'static str, max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// ` (item_id "X")` in messages, or nothing when the id is unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemRef(pub Option<String>);

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
}

/// One object of the snapshot: what was read, byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotObject {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// The history snapshot a packet records (SPEC §5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
}

/// Item ids as one byte buffer with offsets.
#[derive(Clone, Debug, Default)]
pub struct ItemIds {
    bytes: Vec<u8>,
    offsets: Vec<usize>,
}

impl ItemIds {
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        &self.bytes[self.offsets[i]..self.offsets[i + 1]]
    }
    pub fn get_str(&self, i: usize) -> &str {
        std::str::from_utf8(self.get(i)).expect("item ids come from UTF-8 columns")
    }
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A review window: its id and the capacity its rows carry (`None`: the pipeline default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub id: String,
    pub capacity: Option<u32>,
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
    /// Index into [`KINDS`].
    pub kind: Vec<u8>,
    pub actionable: Vec<bool>,
    pub board_override: Vec<bool>,
    pub missed: Vec<bool>,
    /// The query's feature columns, in the query's order.
    pub feature_names: Vec<String>,
    /// `features[f][i]`: value of feature `f` for item `i`, null read as 0.0.
    pub features: Vec<Vec<f64>>,
    pub null_features: Vec<u64>,
    pub other_cohort_rows: u64,
    pub live: Option<LiveColumns>,
    origins: Vec<Origin>,
}

/// Where a run of items came from, for error messages.
#[derive(Clone, Debug)]
struct Origin {
    start: usize,
    object: String,
    rows: Vec<u64>,
}

impl History {
    pub fn len(&self) -> usize {
        self.window.len()
    }
    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }

    /// (object path, row) of item `i`.
    pub fn origin(&self, i: usize) -> (&str, u64) {
        let k = self.origins.partition_point(|o| o.start <= i) - 1;
        let o = &self.origins[k];
        (&o.object, o.rows[i - o.start])
    }

    /// Read and validate the history under `prefix` in `store`.
    pub async fn read(
        store: &Store,
        prefix: &str,
        query: &HistoryQuery,
        progress: Option<&indicatif::ProgressBar>,
    ) -> Result<History, HistoryError> {
        let listed = store.list(&ObjPath::from(prefix)).await?;
        let listed: Vec<_> = listed.into_iter().filter(|m| is_parquet_object(m.location.as_ref())).collect();
        let empty = |what: String| HistoryError::Empty {
            store: store.name().to_string(),
            prefix: prefix.to_string(),
            what,
        };
        if listed.is_empty() {
            return Err(empty("no parquet objects under this prefix".into()));
        }
        if let Some(pb) = progress {
            pb.set_length(listed.iter().map(|m| m.size).sum());
        }
        // Fetch every object once, a few at a time, keeping listing order.
        let fetched: Vec<(String, Bytes)> = futures::stream::iter(listed.iter().map(|meta| async move {
            let (read, bytes) = store.get_with_meta(&meta.location).await?;
            let path = meta.location.to_string();
            if read.size != meta.size
                || bytes.len() as u64 != meta.size
                || (meta.e_tag.is_some() && read.e_tag.is_some() && read.e_tag != meta.e_tag)
            {
                return Err(HistoryError::Store(StoreError::Changed {
                    store: store.name().to_string(),
                    path,
                    detail: format!("listed at {} bytes, read {} bytes", meta.size, bytes.len()),
                }));
            }
            if let Some(pb) = progress {
                pb.inc(meta.size);
            }
            Ok((path, bytes))
        }))
        .buffered(8)
        .try_collect()
        .await?;
        let history = tokio::task::block_in_place(|| decode_all(&fetched, prefix, query))?;
        if history.is_empty() {
            return Err(empty(format!("no rows for cohort \"{}\"", query.cohort)));
        }
        Ok(history)
    }
}

fn is_parquet_object(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    !name.starts_with('_') && !name.starts_with('.') && (lower.ends_with(".parquet") || lower.ends_with(".parq") || lower.ends_with(".pq"))
}

/// Rows of one row group after validation and cohort filtering.
#[derive(Default)]
struct Chunk {
    object: usize,
    rows: Vec<u64>,
    ids: Vec<u8>,
    id_offsets: Vec<usize>,
    window: Vec<u32>,
    window_names: Vec<String>,
    /// Per local window: its capacity and the row that set it.
    window_caps: Vec<(Option<u32>, u64)>,
    class: Vec<u32>,
    class_names: Vec<String>,
    kind: Vec<u8>,
    actionable: Vec<bool>,
    board_override: Vec<bool>,
    missed: Vec<bool>,
    features: Vec<Vec<f64>>,
    null_features: Vec<u64>,
    other_cohort: u64,
    ws_range: Option<(i64, i64)>,
    live_revision: Vec<u32>,
    revision_names: Vec<String>,
    queued_at: Vec<Option<i64>>,
    signed_off_at: Vec<Option<i64>>,
}

struct Plan<'a> {
    object: usize,
    path: &'a str,
    bytes: &'a Bytes,
    meta: ArrowReaderMetadata,
    mask: ProjectionMask,
    row_group: usize,
    first_row: u64,
    has_capacity: bool,
    live: [bool; 3],
}

fn decode_all(fetched: &[(String, Bytes)], prefix: &str, query: &HistoryQuery) -> Result<History, HistoryError> {
    // Hash objects and read their footers in parallel.
    let per_object: Vec<Result<(SnapshotObject, Vec<Plan>), HistoryError>> = fetched
        .par_iter()
        .enumerate()
        .map(|(object, (path, bytes))| {
            let snap = SnapshotObject {
                path: path.clone(),
                size: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            };
            Ok((snap, plan_object(object, path, bytes, query)?))
        })
        .collect();
    let mut objects = Vec::with_capacity(fetched.len());
    let mut plans = Vec::new();
    for r in per_object {
        let (snap, p) = r?;
        objects.push(snap);
        plans.extend(p);
    }
    let chunks: Vec<Result<Chunk, HistoryError>> = plans.par_iter().map(|p| decode_row_group(p, query)).collect();
    let chunks = chunks.into_iter().collect::<Result<Vec<_>, _>>()?;
    merge(chunks, objects, fetched, prefix, query)
}

fn type_name(t: &DataType) -> String {
    format!("{t}")
}

fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string(v),
        _ => false,
    }
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Dictionary(_, v) if v.is_integer())
}

fn is_numeric(t: &DataType) -> bool {
    t.is_numeric() || matches!(t, DataType::Dictionary(_, v) if v.is_numeric())
}

/// Check an object's columns and plan one task per row group.
fn plan_object<'a>(object: usize, path: &'a str, bytes: &'a Bytes, query: &HistoryQuery) -> Result<Vec<Plan<'a>>, HistoryError> {
    let corrupt = |e: parquet::errors::ParquetError| HistoryError::Corrupt {
        object: path.to_string(),
        message: e.to_string(),
    };
    let meta = ArrowReaderMetadata::load(bytes, ArrowReaderOptions::new()).map_err(corrupt)?;
    let schema: SchemaRef = meta.schema().clone();
    let find = |name: &str| schema.fields().iter().position(|f| f.name() == name);
    let mut roots = Vec::new();
    let mut need = |name: &str, ok: fn(&DataType) -> bool, expected: &str, required: bool| -> Result<bool, HistoryError> {
        match find(name) {
            None if required => Err(HistoryError::MissingColumn {
                object: path.to_string(),
                column: name.to_string(),
            }),
            None => Ok(false),
            Some(i) => {
                let t = schema.field(i).data_type();
                if !ok(t) {
                    return Err(HistoryError::ColumnType {
                        object: path.to_string(),
                        column: name.to_string(),
                        found: type_name(t),
                        expected: expected.to_string(),
                    });
                }
                roots.push(i);
                Ok(true)
            }
        }
    };
    for c in ["item_id", "cohort", "window_id", "kind", "signoff_class"] {
        need(c, is_string, "a string column", true)?;
    }
    need(
        "window_start",
        |t| matches!(t, DataType::Timestamp(_, _)),
        "a timestamp column (any unit)",
        true,
    )?;
    for c in ["actionable", "board_override", "missed"] {
        need(c, |t| matches!(t, DataType::Boolean), "a boolean column", true)?;
    }
    for f in &query.features {
        need(f, is_numeric, "a numeric column (integer, float or decimal)", true)?;
    }
    let has_capacity = need("window_capacity", is_integer, "an integer column", false)?;
    let mut live = [false; 3];
    if query.live_columns {
        live[0] = need("live_revision", is_string, "a string column", false)?;
        live[1] = need(
            "queued_at",
            |t| matches!(t, DataType::Timestamp(_, _)),
            "a timestamp column (any unit)",
            false,
        )?;
        live[2] = need(
            "signed_off_at",
            |t| matches!(t, DataType::Timestamp(_, _)),
            "a timestamp column (any unit)",
            false,
        )?;
    }
    let mask = ProjectionMask::roots(meta.parquet_schema(), roots);
    let mut first_row = 0u64;
    let mut plans = Vec::new();
    for (rg, g) in meta.metadata().row_groups().iter().enumerate() {
        plans.push(Plan {
            object,
            path,
            bytes,
            meta: meta.clone(),
            mask: mask.clone(),
            row_group: rg,
            first_row,
            has_capacity,
            live,
        });
        first_row += g.num_rows() as u64;
    }
    Ok(plans)
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

/// Timestamps in microseconds since the epoch (naive timestamps are UTC).
fn micros(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let col: &ArrayRef = batch.column_by_name(name).expect("projected column");
    let DataType::Timestamp(unit, _) = col.data_type() else {
        unreachable!("type checked when planning")
    };
    let raw = cast(col, &DataType::Int64).expect("timestamps cast to Int64");
    let raw = raw.as_primitive::<Int64Type>();
    let to_us = |v: i64| match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000),
        TimeUnit::Microsecond => v,
        TimeUnit::Nanosecond => v.div_euclid(1_000),
    };
    raw.iter().map(|v| v.map(to_us)).collect()
}

fn decode_row_group(p: &Plan, query: &HistoryQuery) -> Result<Chunk, HistoryError> {
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
        features: vec![Vec::new(); query.features.len()],
        null_features: vec![0; query.features.len()],
        ..Default::default()
    };
    let mut win_lookup: HashMap<String, u32> = HashMap::new();
    let mut class_lookup: HashMap<String, u32> = HashMap::new();
    let mut rev_lookup: HashMap<String, u32> = HashMap::new();
    let mut offset = p.first_row;
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(e.to_string()))?;
        let n = batch.num_rows();
        decode_batch(
            p,
            query,
            &batch,
            offset,
            &mut chunk,
            &mut win_lookup,
            &mut class_lookup,
            &mut rev_lookup,
        )?;
        offset += n as u64;
    }
    Ok(chunk)
}

#[allow(clippy::too_many_arguments)]
fn decode_batch(
    p: &Plan,
    query: &HistoryQuery,
    batch: &RecordBatch,
    first_row: u64,
    chunk: &mut Chunk,
    win_lookup: &mut HashMap<String, u32>,
    class_lookup: &mut HashMap<String, u32>,
    rev_lookup: &mut HashMap<String, u32>,
) -> Result<(), HistoryError> {
    let object = p.path;
    // Rows of other cohorts are ignored and counted (SPEC §3); a null cohort is an error.
    let cohort = strings(batch, "cohort");
    if cohort.null_count() > 0 {
        let row = (0..cohort.len()).find(|&i| cohort.is_null(i)).unwrap_or(0);
        return Err(HistoryError::NullValue {
            object: object.into(),
            row: first_row + row as u64,
            item: ItemRef(None),
            column: "cohort".into(),
        });
    }
    let keep: Vec<bool> = cohort.iter().map(|c| c == Some(query.cohort.as_str())).collect();
    let kept = keep.iter().filter(|k| **k).count();
    chunk.other_cohort += (batch.num_rows() - kept) as u64;
    let (batch, rows): (RecordBatch, Vec<u64>) = if kept == batch.num_rows() {
        (batch.clone(), (0..batch.num_rows() as u64).map(|r| first_row + r).collect())
    } else {
        let mask = BooleanArray::from(keep.clone());
        let rows = keep
            .iter()
            .enumerate()
            .filter(|(_, k)| **k)
            .map(|(i, _)| first_row + i as u64)
            .collect();
        (
            filter_record_batch(batch, &mask).expect("filter with a mask of the batch's length"),
            rows,
        )
    };
    let n = batch.num_rows();
    if n == 0 {
        return Ok(());
    }

    let ids = strings(&batch, "item_id");
    let item = |i: usize| ItemRef(ids.is_valid(i).then(|| ids.value(i).to_string()));
    let null_check = |arr: &dyn Array, column: &str| -> Result<(), HistoryError> {
        if arr.null_count() > 0 {
            let i = (0..arr.len()).find(|&i| arr.is_null(i)).unwrap_or(0);
            return Err(HistoryError::NullValue {
                object: object.into(),
                row: rows[i],
                item: item(i),
                column: column.into(),
            });
        }
        Ok(())
    };
    null_check(&ids, "item_id")?;
    let windows = strings(&batch, "window_id");
    null_check(&windows, "window_id")?;
    let kinds = strings(&batch, "kind");
    null_check(&kinds, "kind")?;
    let classes = strings(&batch, "signoff_class");
    null_check(&classes, "signoff_class")?;
    let bools: Vec<BooleanArray> = ["actionable", "board_override", "missed"]
        .iter()
        .map(|c| booleans(&batch, c))
        .collect();
    for (b, c) in bools.iter().zip(["actionable", "board_override", "missed"]) {
        null_check(b, c)?;
    }
    let starts = micros(&batch, "window_start");
    if let Some(i) = starts.iter().position(|s| s.is_none()) {
        return Err(HistoryError::NullValue {
            object: object.into(),
            row: rows[i],
            item: item(i),
            column: "window_start".into(),
        });
    }
    let capacity: Option<Vec<Option<i64>>> = p.has_capacity.then(|| {
        let col = batch.column_by_name("window_capacity").expect("projected column");
        let c = cast(col, &DataType::Int64).expect("integers cast to Int64");
        c.as_primitive::<Int64Type>().iter().collect()
    });

    // Item ids.
    if chunk.id_offsets.is_empty() {
        chunk.id_offsets.push(0);
    }
    for v in ids.iter().flatten() {
        chunk.ids.extend_from_slice(v.as_bytes());
        chunk.id_offsets.push(chunk.ids.len());
    }
    chunk.rows.extend_from_slice(&rows);

    // Windows, with one capacity each.
    let mut last: Option<(&str, u32)> = None;
    for i in 0..n {
        let w = windows.value(i);
        let local = match last {
            Some((prev, id)) if prev == w => id,
            _ => match win_lookup.get(w) {
                Some(&id) => id,
                None => {
                    let id = chunk.window_names.len() as u32;
                    win_lookup.insert(w.to_string(), id);
                    chunk.window_names.push(w.to_string());
                    let cap = match &capacity {
                        Some(c) => capacity_value(c[i], object, rows[i], &item(i))?,
                        None => None,
                    };
                    chunk.window_caps.push((cap, rows[i]));
                    id
                }
            },
        };
        last = Some((w, local));
        if let Some(c) = &capacity {
            let cap = capacity_value(c[i], object, rows[i], &item(i))?;
            let (first, first_row) = chunk.window_caps[local as usize];
            if cap != first {
                return Err(HistoryError::WindowCapacity {
                    window_id: w.to_string(),
                    first: show_capacity(first),
                    first_object: object.into(),
                    first_row,
                    second: show_capacity(cap),
                    second_object: object.into(),
                    second_row: rows[i],
                });
            }
        }
        chunk.window.push(local);
    }

    // Classes and kinds.
    for i in 0..n {
        let c = classes.value(i);
        let id = match class_lookup.get(c) {
            Some(&id) => id,
            None => {
                let id = chunk.class_names.len() as u32;
                class_lookup.insert(c.to_string(), id);
                chunk.class_names.push(c.to_string());
                id
            }
        };
        chunk.class.push(id);
        let k = kinds.value(i);
        let kind = kind_index(k).ok_or_else(|| HistoryError::BadValue {
            object: object.into(),
            row: rows[i],
            item: item(i),
            column: "kind".into(),
            expected: format!("one of {}", KINDS.join(", ")),
            found: format!("\"{k}\""),
        })?;
        chunk.kind.push(kind);
    }
    chunk.actionable.extend(bools[0].values().iter());
    chunk.board_override.extend(bools[1].values().iter());
    chunk.missed.extend(bools[2].values().iter());

    for s in starts.iter().flatten() {
        chunk.ws_range = Some(match chunk.ws_range {
            None => (*s, *s),
            Some((lo, hi)) => (lo.min(*s), hi.max(*s)),
        });
    }

    // Features: nulls read as 0.0 and counted; NaN, ±inf and negative log1p inputs refused.
    for (f, name) in query.features.iter().enumerate() {
        let col = batch.column_by_name(name).expect("projected column");
        let vals = cast(col, &DataType::Float64).map_err(|e| HistoryError::ColumnType {
            object: object.into(),
            column: name.clone(),
            found: type_name(col.data_type()),
            expected: format!("a numeric column convertible to float64 ({e})"),
        })?;
        let vals = vals.as_primitive::<Float64Type>();
        let nonneg = query.nonnegative.contains(name);
        let out = &mut chunk.features[f];
        out.reserve(n);
        for i in 0..n {
            if vals.is_null(i) {
                chunk.null_features[f] += 1;
                out.push(0.0);
                continue;
            }
            let v = vals.value(i);
            if !v.is_finite() || (nonneg && v < 0.0) {
                return Err(HistoryError::BadValue {
                    object: object.into(),
                    row: rows[i],
                    item: item(i),
                    column: name.clone(),
                    expected: if v.is_finite() {
                        "a value of 0 or more (the profile applies log1p)".into()
                    } else {
                        "a finite number".into()
                    },
                    found: format!("{v}"),
                });
            }
            out.push(v);
        }
    }

    if query.live_columns {
        if p.live[0] {
            let revs = strings(&batch, "live_revision");
            for r in revs.iter() {
                chunk.live_revision.push(match r {
                    None => u32::MAX,
                    Some(r) => match rev_lookup.get(r) {
                        Some(&id) => id,
                        None => {
                            let id = chunk.revision_names.len() as u32;
                            rev_lookup.insert(r.to_string(), id);
                            chunk.revision_names.push(r.to_string());
                            id
                        }
                    },
                });
            }
        } else {
            chunk.live_revision.extend(std::iter::repeat_n(u32::MAX, n));
        }
        let times = |present: bool, name: &str, out: &mut Vec<Option<i64>>| {
            if present {
                out.extend(micros(&batch, name));
            } else {
                out.extend(std::iter::repeat_n(None, n));
            }
        };
        times(p.live[1], "queued_at", &mut chunk.queued_at);
        times(p.live[2], "signed_off_at", &mut chunk.signed_off_at);
    }
    Ok(())
}

fn capacity_value(v: Option<i64>, object: &str, row: u64, item: &ItemRef) -> Result<Option<u32>, HistoryError> {
    match v {
        None => Ok(None),
        Some(c) if c >= 1 && c <= u32::MAX as i64 => Ok(Some(c as u32)),
        Some(c) => Err(HistoryError::BadValue {
            object: object.into(),
            row,
            item: item.clone(),
            column: "window_capacity".into(),
            expected: "a whole number of at least 1".into(),
            found: c.to_string(),
        }),
    }
}

fn show_capacity(c: Option<u32>) -> String {
    c.map_or_else(|| "null (pipeline default)".into(), |c| c.to_string())
}

fn merge(
    chunks: Vec<Chunk>,
    objects: Vec<SnapshotObject>,
    fetched: &[(String, Bytes)],
    prefix: &str,
    query: &HistoryQuery,
) -> Result<History, HistoryError> {
    let n: usize = chunks.iter().map(|c| c.window.len()).sum();
    let nf = query.features.len();
    let mut h = History {
        snapshot: Snapshot {
            prefix: prefix.to_string(),
            fingerprint: Snapshot::fingerprint_of(&objects),
            objects,
            window_start_min: DateTime::<Utc>::MIN_UTC,
            window_start_max: DateTime::<Utc>::MIN_UTC,
            items: n as u64,
            windows: 0,
        },
        item_ids: ItemIds {
            bytes: Vec::new(),
            offsets: Vec::with_capacity(n + 1),
        },
        window: Vec::with_capacity(n),
        windows: Vec::new(),
        class: Vec::with_capacity(n),
        classes: Vec::new(),
        kind: Vec::with_capacity(n),
        actionable: Vec::with_capacity(n),
        board_override: Vec::with_capacity(n),
        missed: Vec::with_capacity(n),
        feature_names: query.features.clone(),
        features: (0..nf).map(|_| Vec::with_capacity(n)).collect(),
        null_features: vec![0; nf],
        other_cohort_rows: 0,
        live: query.live_columns.then(LiveColumns::default),
        origins: Vec::new(),
    };
    h.item_ids.offsets.push(0);
    h.item_ids.bytes.reserve(chunks.iter().map(|c| c.ids.len()).sum());
    let mut win_global: HashMap<String, u32> = HashMap::new();
    // First row that set each global window's capacity: (object index, row).
    let mut win_origin: Vec<(usize, u64)> = Vec::new();
    let mut class_global: HashMap<String, u32> = HashMap::new();
    let mut class_first: Vec<String> = Vec::new();
    let mut rev_global: HashMap<String, u32> = HashMap::new();
    let mut ws: Option<(i64, i64)> = None;
    for c in chunks {
        h.other_cohort_rows += c.other_cohort;
        if c.window.is_empty() {
            continue;
        }
        let start = h.window.len();
        h.origins.push(Origin {
            start,
            object: fetched[c.object].0.clone(),
            rows: c.rows,
        });
        let base = h.item_ids.bytes.len();
        h.item_ids.bytes.extend_from_slice(&c.ids);
        h.item_ids.offsets.extend(c.id_offsets[1..].iter().map(|o| o + base));
        let mut wmap = Vec::with_capacity(c.window_names.len());
        for (name, &(cap, row)) in c.window_names.into_iter().zip(&c.window_caps) {
            let id = match win_global.get(&name) {
                Some(&id) => {
                    let known = h.windows[id as usize].capacity;
                    if known != cap {
                        let (fo, fr) = win_origin[id as usize];
                        return Err(HistoryError::WindowCapacity {
                            window_id: name,
                            first: show_capacity(known),
                            first_object: fetched[fo].0.clone(),
                            first_row: fr,
                            second: show_capacity(cap),
                            second_object: fetched[c.object].0.clone(),
                            second_row: row,
                        });
                    }
                    id
                }
                None => {
                    let id = h.windows.len() as u32;
                    win_global.insert(name.clone(), id);
                    h.windows.push(Window { id: name, capacity: cap });
                    win_origin.push((c.object, row));
                    id
                }
            };
            wmap.push(id);
        }
        h.window.extend(c.window.iter().map(|&w| wmap[w as usize]));
        let cmap: Vec<u32> = c
            .class_names
            .into_iter()
            .map(|name| {
                *class_global.entry(name.clone()).or_insert_with(|| {
                    class_first.push(name);
                    (class_first.len() - 1) as u32
                })
            })
            .collect();
        if class_first.len() > u16::MAX as usize {
            return Err(HistoryError::TooMany {
                what: "signoff classes",
                max: u16::MAX as usize,
            });
        }
        h.class.extend(c.class.iter().map(|&k| cmap[k as usize] as u16));
        h.kind.extend_from_slice(&c.kind);
        h.actionable.extend_from_slice(&c.actionable);
        h.board_override.extend_from_slice(&c.board_override);
        h.missed.extend_from_slice(&c.missed);
        for f in 0..nf {
            h.features[f].extend_from_slice(&c.features[f]);
            h.null_features[f] += c.null_features[f];
        }
        if let Some((lo, hi)) = c.ws_range {
            ws = Some(match ws {
                None => (lo, hi),
                Some((a, b)) => (a.min(lo), b.max(hi)),
            });
        }
        if let Some(live) = h.live.as_mut() {
            let rmap: Vec<u32> = c
                .revision_names
                .into_iter()
                .map(|name| {
                    *rev_global.entry(name.clone()).or_insert_with(|| {
                        live.revisions.push(name);
                        (live.revisions.len() - 1) as u32
                    })
                })
                .collect();
            live.live_revision
                .extend(c.live_revision.iter().map(|&r| if r == u32::MAX { r } else { rmap[r as usize] }));
            live.queued_at.extend_from_slice(&c.queued_at);
            live.signed_off_at.extend_from_slice(&c.signed_off_at);
        }
    }
    // Class ids in ascending byte order of names, so output order never depends on read order.
    let mut order: Vec<u32> = (0..class_first.len() as u32).collect();
    order.sort_by(|&a, &b| class_first[a as usize].as_bytes().cmp(class_first[b as usize].as_bytes()));
    let mut remap = vec![0u16; order.len()];
    for (new, &old) in order.iter().enumerate() {
        remap[old as usize] = new as u16;
    }
    h.class.par_iter_mut().for_each(|c| *c = remap[*c as usize]);
    h.classes = order.iter().map(|&o| class_first[o as usize].clone()).collect();
    h.snapshot.windows = h.windows.len() as u64;
    if let Some((lo, hi)) = ws {
        h.snapshot.window_start_min = DateTime::from_timestamp_micros(lo).unwrap_or(DateTime::<Utc>::MIN_UTC);
        h.snapshot.window_start_max = DateTime::from_timestamp_micros(hi).unwrap_or(DateTime::<Utc>::MIN_UTC);
    }
    check_unique_ids(&h)?;
    Ok(h)
}

/// SPEC §3: item ids are unique across the history read. Hash every id in
/// parallel, sort the hashes, and compare bytes only where hashes collide.
fn check_unique_ids(h: &History) -> Result<(), HistoryError> {
    let n = h.item_ids.len();
    let state = std::hash::RandomState::new();
    let hash_of = |i: usize| {
        let mut s = state.build_hasher();
        h.item_ids.get(i).hash(&mut s);
        s.finish()
    };
    let mut hashes: Vec<u64> = (0..n).into_par_iter().map(hash_of).collect();
    hashes.par_sort_unstable();
    let mut suspects: Vec<u64> = hashes.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    if suspects.is_empty() {
        return Ok(());
    }
    suspects.dedup();
    drop(hashes);
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for i in 0..n {
        if suspects.binary_search(&hash_of(i)).is_err() {
            continue;
        }
        if let Some(&first) = seen.get(h.item_ids.get(i)) {
            let (fo, fr) = h.origin(first);
            let (so, sr) = h.origin(i);
            return Err(HistoryError::DuplicateItem {
                item_id: h.item_ids.get_str(i).to_string(),
                first_object: fo.to_string(),
                first_row: fr,
                second_object: so.to_string(),
                second_row: sr,
            });
        }
        seen.insert(h.item_ids.get(i), i);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_object_names() {
        assert!(is_parquet_object("history/x/date=2026-10-01/part-0.parquet"));
        assert!(is_parquet_object("history/x/a.PQ"));
        assert!(!is_parquet_object("history/x/_SUCCESS"));
        assert!(!is_parquet_object("history/x/.part-0.parquet.crc"));
        assert!(!is_parquet_object("history/x/notes.txt"));
    }
}

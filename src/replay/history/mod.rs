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
use crate::profile::kind_index;
use crate::store::{Store, StoreError};
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef, TimeUnit};
use arrow::datatypes::{Field, Int32Type, Schema};
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

/// What a `kind` value must be.
const KIND_EXPECTED: &str = "one of build_regression, dependency_anomaly, canary_finding, rollout_caveat";

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

/// Feature values of items `start..start + len`: `columns[f][j]` is feature
/// `f` of item `start + j`.
#[derive(Clone, Debug)]
pub struct FeatureSegment {
    pub start: usize,
    pub len: usize,
    pub columns: Vec<Vec<f64>>,
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
    pub actionable: Vec<bool>,
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

    /// Feature `f` of item `i` (a lookup; scoring streams segments instead).
    pub fn feature(&self, f: usize, i: usize) -> f64 {
        let k = self.features.partition_point(|s| s.start <= i) - 1;
        let s = &self.features[k];
        s.columns[f][i - s.start]
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
        History::read_listed(store, prefix, listed, query, progress).await
    }

    /// Read the history from an existing listing of `prefix`. An object whose
    /// size or version no longer matches its listing is refused
    /// ([`StoreError::Changed`]): the snapshot must describe what was read.
    pub async fn read_listed(
        store: &Store,
        prefix: &str,
        listed: Vec<object_store::ObjectMeta>,
        query: &HistoryQuery,
        progress: Option<&indicatif::ProgressBar>,
    ) -> Result<History, HistoryError> {
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
        let started = std::time::Instant::now();
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
        tracing::info!(objects = fetched.len(), elapsed = ?started.elapsed(), "history objects fetched");
        let history = tokio::task::block_in_place(|| decode_all(&fetched, prefix, query))?;
        tracing::info!(items = history.len(), elapsed = ?started.elapsed(), "history decoded and validated");
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
    let started = std::time::Instant::now();
    let chunks: Vec<Result<Chunk, HistoryError>> = plans.par_iter().map(|p| decode_row_group(p, query)).collect();
    tracing::debug!(row_groups = plans.len(), elapsed = ?started.elapsed(), "row groups decoded");
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

/// Columns whose values repeat a lot: worth reading as dictionaries.
const DICTIONARY_COLUMNS: [&str; 5] = ["cohort", "window_id", "kind", "signoff_class", "live_revision"];

/// The file's schema with plain UTF-8 dictionary-friendly columns asked for as
/// `Dictionary(Int32, Utf8)`; `None` when nothing would change.
fn dictionary_hint(schema: &SchemaRef) -> Option<SchemaRef> {
    let mut changed = false;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if DICTIONARY_COLUMNS.contains(&f.name().as_str()) && f.data_type() == &DataType::Utf8 {
                changed = true;
                Field::new(
                    f.name(),
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                    f.is_nullable(),
                )
                .with_metadata(f.metadata().clone())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    changed.then(|| std::sync::Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
}

/// Check an object's columns and plan one task per row group.
fn plan_object<'a>(object: usize, path: &'a str, bytes: &'a Bytes, query: &HistoryQuery) -> Result<Vec<Plan<'a>>, HistoryError> {
    let corrupt = |e: parquet::errors::ParquetError| HistoryError::Corrupt {
        object: path.to_string(),
        message: e.to_string(),
    };
    let meta = ArrowReaderMetadata::load(bytes, ArrowReaderOptions::new()).map_err(corrupt)?;
    // Read low-cardinality string columns as dictionaries: no per-row string copies.
    let meta = match dictionary_hint(meta.schema()) {
        Some(hint) => ArrowReaderMetadata::try_new(meta.metadata().clone(), ArrowReaderOptions::new().with_schema(hint)).unwrap_or(meta),
        None => meta,
    };
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
    let mut lookups = Lookups::default();
    let mut offset = p.first_row;
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(e.to_string()))?;
        let n = batch.num_rows();
        decode_batch(p, query, &batch, offset, &mut chunk, &mut lookups)?;
        offset += n as u64;
    }
    Ok(chunk)
}

/// A string column as per-row dictionary keys (`u32::MAX` for null) and the
/// dictionary values: lookups then happen once per distinct value, not per row.
struct Dict {
    keys: Vec<u32>,
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
        let keys = if keys.null_count() == 0 {
            keys.values().iter().map(|&k| k as u32).collect()
        } else {
            keys.iter().map(|k| k.map_or(u32::MAX, |k| k as u32)).collect()
        };
        Dict { keys, values }
    }

    /// The value of row `i`, `None` when null.
    #[inline]
    fn get(&self, i: usize) -> Option<(usize, &str)> {
        let k = self.keys[i];
        (k != u32::MAX && self.values.is_valid(k as usize)).then(|| (k as usize, self.values.value(k as usize)))
    }
}

/// Name → local id tables that live for one row group.
#[derive(Default)]
struct Lookups {
    window: HashMap<String, u32>,
    class: HashMap<String, u32>,
    revision: HashMap<String, u32>,
}

fn decode_batch(
    p: &Plan,
    query: &HistoryQuery,
    batch: &RecordBatch,
    first_row: u64,
    chunk: &mut Chunk,
    lookups: &mut Lookups,
) -> Result<(), HistoryError> {
    let object = p.path;
    let n_all = batch.num_rows();
    let ids = strings(batch, "item_id");
    let item = |i: usize| ItemRef(ids.is_valid(i).then(|| ids.value(i).into()));
    let null = |i: usize, column: &str| HistoryError::NullValue {
        object: object.into(),
        row: first_row + i as u64,
        item: item(i),
        column: column.into(),
    };

    // Rows of other cohorts are ignored and counted (SPEC §3); a null cohort is an error.
    let cohort = Dict::of(batch, "cohort");
    let ours: Vec<bool> = (0..cohort.values.len())
        .map(|k| cohort.values.is_valid(k) && cohort.values.value(k) == query.cohort)
        .collect();
    let mut sel: Vec<usize> = Vec::with_capacity(n_all);
    for i in 0..n_all {
        match cohort.get(i) {
            None => return Err(null(i, "cohort")),
            Some((k, _)) if ours[k] => sel.push(i),
            Some(_) => {}
        }
    }
    chunk.other_cohort += (n_all - sel.len()) as u64;
    if sel.is_empty() {
        return Ok(());
    }
    chunk.rows.extend(sel.iter().map(|&i| first_row + i as u64));

    // Item ids.
    if chunk.id_offsets.is_empty() {
        chunk.id_offsets.push(0);
    }
    for &i in &sel {
        if ids.is_null(i) {
            return Err(null(i, "item_id"));
        }
        chunk.ids.extend_from_slice(ids.value(i).as_bytes());
        chunk.id_offsets.push(chunk.ids.len());
    }

    // Windows, with one capacity each.
    let windows = Dict::of(batch, "window_id");
    let capacity: Option<Vec<Option<i64>>> = p.has_capacity.then(|| {
        let col = batch.column_by_name("window_capacity").expect("projected column");
        let c = cast(col, &DataType::Int64).expect("integers cast to Int64");
        c.as_primitive::<Int64Type>().iter().collect()
    });
    let mut window_of_value = vec![u32::MAX; windows.values.len()];
    for &i in &sel {
        let Some((k, name)) = windows.get(i) else {
            return Err(null(i, "window_id"));
        };
        let row = first_row + i as u64;
        let cap = match &capacity {
            Some(c) => capacity_value(c[i], object, row, &item(i))?,
            None => None,
        };
        let mut local = window_of_value[k];
        if local == u32::MAX {
            local = match lookups.window.get(name) {
                Some(&id) => id,
                None => {
                    let id = chunk.window_names.len() as u32;
                    lookups.window.insert(name.to_string(), id);
                    chunk.window_names.push(name.to_string());
                    chunk.window_caps.push((cap, row));
                    id
                }
            };
            window_of_value[k] = local;
        }
        let (first, first_row_of_window) = chunk.window_caps[local as usize];
        if cap != first {
            return Err(HistoryError::WindowCapacity {
                window_id: name.to_string(),
                first: Capacity(first),
                first_object: object.into(),
                first_row: first_row_of_window,
                second: Capacity(cap),
                second_object: object.into(),
                second_row: row,
            });
        }
        chunk.window.push(local);
    }

    // Classes and kinds.
    let classes = Dict::of(batch, "signoff_class");
    let kinds = Dict::of(batch, "kind");
    let mut class_of_value = vec![u32::MAX; classes.values.len()];
    let mut kind_of_value = vec![u8::MAX; kinds.values.len()];
    for &i in &sel {
        let Some((k, name)) = classes.get(i) else {
            return Err(null(i, "signoff_class"));
        };
        if class_of_value[k] == u32::MAX {
            class_of_value[k] = match lookups.class.get(name) {
                Some(&id) => id,
                None => {
                    let id = chunk.class_names.len() as u32;
                    lookups.class.insert(name.to_string(), id);
                    chunk.class_names.push(name.to_string());
                    id
                }
            };
        }
        chunk.class.push(class_of_value[k]);
        let Some((k, name)) = kinds.get(i) else {
            return Err(null(i, "kind"));
        };
        if kind_of_value[k] == u8::MAX {
            kind_of_value[k] = kind_index(name).ok_or_else(|| HistoryError::BadValue {
                object: object.into(),
                row: first_row + i as u64,
                item: item(i),
                column: "kind".into(),
                expected: KIND_EXPECTED,
                found: format!("\"{name}\""),
            })?;
        }
        chunk.kind.push(kind_of_value[k]);
    }

    // Outcomes.
    for (column, out) in [
        ("actionable", &mut chunk.actionable),
        ("board_override", &mut chunk.board_override),
        ("missed", &mut chunk.missed),
    ] {
        let b = booleans(batch, column);
        if b.null_count() > 0 {
            if let Some(&i) = sel.iter().find(|&&i| b.is_null(i)) {
                return Err(null(i, column));
            }
        }
        out.extend(sel.iter().map(|&i| b.value(i)));
    }

    let starts = micros(batch, "window_start");
    for &i in &sel {
        let Some(s) = starts[i] else { return Err(null(i, "window_start")) };
        chunk.ws_range = Some(match chunk.ws_range {
            None => (s, s),
            Some((lo, hi)) => (lo.min(s), hi.max(s)),
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
        out.reserve(sel.len());
        for &i in &sel {
            if vals.is_null(i) {
                chunk.null_features[f] += 1;
                out.push(0.0);
                continue;
            }
            let v = vals.value(i);
            if !v.is_finite() || (nonneg && v < 0.0) {
                return Err(HistoryError::BadValue {
                    object: object.into(),
                    row: first_row + i as u64,
                    item: item(i),
                    column: name.clone(),
                    expected: if v.is_finite() {
                        "a value of 0 or more (the profile applies log1p)"
                    } else {
                        "a finite number"
                    },
                    found: format!("{v}"),
                });
            }
            out.push(v);
        }
    }

    if query.live_columns {
        if p.live[0] {
            let revs = Dict::of(batch, "live_revision");
            let mut rev_of_value = vec![u32::MAX; revs.values.len()];
            for &i in &sel {
                chunk.live_revision.push(match revs.get(i) {
                    None => u32::MAX,
                    Some((k, name)) => {
                        if rev_of_value[k] == u32::MAX {
                            rev_of_value[k] = match lookups.revision.get(name) {
                                Some(&id) => id,
                                None => {
                                    let id = chunk.revision_names.len() as u32;
                                    lookups.revision.insert(name.to_string(), id);
                                    chunk.revision_names.push(name.to_string());
                                    id
                                }
                            };
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
            expected: "a whole number of at least 1",
            found: c.to_string(),
        }),
    }
}

/// Split `s` into consecutive pieces of the given lengths.
pub(crate) fn split_lens<'a, T>(mut s: &'a mut [T], lens: &[usize]) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(lens.len());
    for &len in lens {
        let (head, tail) = s.split_at_mut(len);
        out.push(head);
        s = tail;
    }
    out
}

/// One chunk's place in the merged columns.
struct Dest<'a> {
    window: &'a mut [u32],
    class: &'a mut [u16],
    kind: &'a mut [u8],
    actionable: &'a mut [bool],
    board_override: &'a mut [bool],
    missed: &'a mut [bool],
    bytes: &'a mut [u8],
    offsets: &'a mut [usize],
    live_revision: &'a mut [u32],
    queued_at: &'a mut [Option<i64>],
    signed_off_at: &'a mut [Option<i64>],
}

/// Merge row-group chunks into one history: names are unified sequentially
/// (once per distinct window, class and revision), then every column is
/// copied into place in parallel.
fn merge(
    mut chunks: Vec<Chunk>,
    objects: Vec<SnapshotObject>,
    fetched: &[(String, Bytes)],
    prefix: &str,
    query: &HistoryQuery,
) -> Result<History, HistoryError> {
    let started = std::time::Instant::now();
    let nf = query.features.len();
    let mut windows: Vec<Window> = Vec::new();
    let mut win_global: HashMap<String, u32> = HashMap::new();
    // First row that set each global window's capacity: (object index, row).
    let mut win_origin: Vec<(usize, u64)> = Vec::new();
    let mut class_global: HashMap<String, u32> = HashMap::new();
    let mut class_first: Vec<String> = Vec::new();
    let mut revisions: Vec<String> = Vec::new();
    let mut rev_global: HashMap<String, u32> = HashMap::new();
    let (mut wmaps, mut cmaps, mut rmaps) = (Vec::new(), Vec::new(), Vec::new());
    let mut null_features = vec![0u64; nf];
    let mut other_cohort_rows = 0u64;
    let mut ws: Option<(i64, i64)> = None;
    for c in &chunks {
        other_cohort_rows += c.other_cohort;
        for (f, n) in c.null_features.iter().enumerate() {
            null_features[f] += n;
        }
        if let Some((lo, hi)) = c.ws_range {
            ws = Some(ws.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        }
        let mut wmap = Vec::with_capacity(c.window_names.len());
        for (name, &(cap, row)) in c.window_names.iter().zip(&c.window_caps) {
            let id = match win_global.get(name) {
                Some(&id) => {
                    let known = windows[id as usize].capacity;
                    if known != cap {
                        let (fo, fr) = win_origin[id as usize];
                        return Err(HistoryError::WindowCapacity {
                            window_id: name.clone(),
                            first: Capacity(known),
                            first_object: fetched[fo].0.clone(),
                            first_row: fr,
                            second: Capacity(cap),
                            second_object: fetched[c.object].0.clone(),
                            second_row: row,
                        });
                    }
                    id
                }
                None => {
                    let id = windows.len() as u32;
                    win_global.insert(name.clone(), id);
                    windows.push(Window {
                        id: name.clone(),
                        capacity: cap,
                    });
                    win_origin.push((c.object, row));
                    id
                }
            };
            wmap.push(id);
        }
        wmaps.push(wmap);
        let intern = |names: &[String], global: &mut HashMap<String, u32>, all: &mut Vec<String>| -> Vec<u32> {
            names
                .iter()
                .map(|name| {
                    *global.entry(name.clone()).or_insert_with(|| {
                        all.push(name.clone());
                        (all.len() - 1) as u32
                    })
                })
                .collect()
        };
        cmaps.push(intern(&c.class_names, &mut class_global, &mut class_first));
        rmaps.push(intern(&c.revision_names, &mut rev_global, &mut revisions));
    }
    if class_first.len() > u16::MAX as usize {
        return Err(HistoryError::TooMany {
            what: "signoff classes",
            max: u16::MAX as usize,
        });
    }
    // Class ids in ascending byte order of names, so output never depends on read order.
    let mut order: Vec<u32> = (0..class_first.len() as u32).collect();
    order.sort_by(|&a, &b| class_first[a as usize].as_bytes().cmp(class_first[b as usize].as_bytes()));
    let mut sorted_id = vec![0u16; order.len()];
    for (new, &old) in order.iter().enumerate() {
        sorted_id[old as usize] = new as u16;
    }
    let classes: Vec<String> = order.iter().map(|&o| class_first[o as usize].clone()).collect();
    let cmaps: Vec<Vec<u16>> = cmaps
        .into_iter()
        .map(|m| m.into_iter().map(|k| sorted_id[k as usize]).collect())
        .collect();

    // Copy every column into place, one rayon task per chunk.
    let lens: Vec<usize> = chunks.iter().map(|c| c.window.len()).collect();
    let byte_lens: Vec<usize> = chunks.iter().map(|c| c.ids.len()).collect();
    let n: usize = lens.iter().sum();
    let live = query.live_columns;
    let live_lens: Vec<usize> = if live { lens.clone() } else { vec![0; lens.len()] };
    let live_n = if live { n } else { 0 };
    let mut window = vec![0u32; n];
    let mut class = vec![0u16; n];
    let mut kind = vec![0u8; n];
    let (mut actionable, mut board_override, mut missed) = (vec![false; n], vec![false; n], vec![false; n]);
    let mut bytes = vec![0u8; byte_lens.iter().sum()];
    let mut offsets = vec![0usize; n + 1];
    let mut live_revision = vec![u32::MAX; live_n];
    let (mut queued_at, mut signed_off_at) = (vec![None; live_n], vec![None; live_n]);
    let mut byte_starts = Vec::with_capacity(lens.len());
    let mut acc = 0usize;
    for b in &byte_lens {
        byte_starts.push(acc);
        acc += b;
    }
    let dests: Vec<Dest> = split_lens(&mut window, &lens)
        .into_iter()
        .zip(split_lens(&mut class, &lens))
        .zip(split_lens(&mut kind, &lens))
        .zip(split_lens(&mut actionable, &lens))
        .zip(split_lens(&mut board_override, &lens))
        .zip(split_lens(&mut missed, &lens))
        .zip(split_lens(&mut bytes, &byte_lens))
        .zip(split_lens(&mut offsets[1..], &lens))
        .zip(split_lens(&mut live_revision, &live_lens))
        .zip(split_lens(&mut queued_at, &live_lens))
        .zip(split_lens(&mut signed_off_at, &live_lens))
        .map(
            |(
                (((((((((window, class), kind), actionable), board_override), missed), bytes), offsets), live_revision), queued_at),
                signed_off_at,
            )| Dest {
                window,
                class,
                kind,
                actionable,
                board_override,
                missed,
                bytes,
                offsets,
                live_revision,
                queued_at,
                signed_off_at,
            },
        )
        .collect();
    let features: Vec<FeatureSegment> = {
        let mut start = 0;
        chunks
            .iter_mut()
            .filter(|c| !c.window.is_empty())
            .map(|c| {
                let len = c.window.len();
                let seg = FeatureSegment {
                    start,
                    len,
                    columns: std::mem::take(&mut c.features),
                };
                start += len;
                seg
            })
            .collect()
    };
    let origins: Vec<Origin> = {
        let mut start = 0;
        chunks
            .iter_mut()
            .zip(&lens)
            .filter(|(_, len)| **len > 0)
            .map(|(c, len)| {
                let o = Origin {
                    start,
                    object: fetched[c.object].0.clone(),
                    rows: std::mem::take(&mut c.rows),
                };
                start += len;
                o
            })
            .collect()
    };
    dests.into_par_iter().zip(chunks.par_iter()).enumerate().for_each(|(k, (d, c))| {
        let (wmap, cmap, rmap) = (&wmaps[k], &cmaps[k], &rmaps[k]);
        for (out, &w) in d.window.iter_mut().zip(&c.window) {
            *out = wmap[w as usize];
        }
        for (out, &x) in d.class.iter_mut().zip(&c.class) {
            *out = cmap[x as usize];
        }
        d.kind.copy_from_slice(&c.kind);
        d.actionable.copy_from_slice(&c.actionable);
        d.board_override.copy_from_slice(&c.board_override);
        d.missed.copy_from_slice(&c.missed);
        d.bytes.copy_from_slice(&c.ids);
        let base = byte_starts[k];
        for (out, &o) in d.offsets.iter_mut().zip(c.id_offsets.iter().skip(1)) {
            *out = base + o;
        }
        for (out, &r) in d.live_revision.iter_mut().zip(&c.live_revision) {
            *out = if r == u32::MAX { r } else { rmap[r as usize] };
        }
        d.queued_at.copy_from_slice(&c.queued_at);
        d.signed_off_at.copy_from_slice(&c.signed_off_at);
    });
    drop(chunks);
    let time = |us: Option<i64>| us.and_then(DateTime::from_timestamp_micros).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let h = History {
        snapshot: Snapshot {
            prefix: prefix.to_string(),
            fingerprint: Snapshot::fingerprint_of(&objects),
            objects,
            window_start_min: time(ws.map(|w| w.0)),
            window_start_max: time(ws.map(|w| w.1)),
            items: n as u64,
            windows: windows.len() as u64,
        },
        item_ids: ItemIds { bytes, offsets },
        window,
        windows,
        class,
        classes,
        kind,
        actionable,
        board_override,
        missed,
        feature_names: query.features.clone(),
        features,
        null_features,
        other_cohort_rows,
        live: live.then_some(LiveColumns {
            live_revision,
            revisions,
            queued_at,
            signed_off_at,
        }),
        origins,
    };
    tracing::debug!(elapsed = ?started.elapsed(), "chunks merged");
    check_unique_ids(&h)?;
    tracing::debug!(elapsed = ?started.elapsed(), "item ids checked unique");
    Ok(h)
}

/// SPEC §3: item ids are unique across the history read. Hash every id in
/// parallel (xxh3), sort the hashes, and compare bytes only where hashes collide.
fn check_unique_ids(h: &History) -> Result<(), HistoryError> {
    let n = h.item_ids.len();
    let hash_of = |i: usize| xxhash_rust::xxh3::xxh3_64(h.item_ids.get(i));
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

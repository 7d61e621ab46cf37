//! Planning: read each object's footer, check that every column the query
//! needs is there with a type that converts losslessly, and plan one decode
//! task per row group with a column projection (only the columns the replay
//! uses are ever decoded).

use super::table::{HistoryError, HistoryQuery};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::ProjectionMask;

/// One row group to decode.
pub struct Plan<'a> {
    pub object: usize,
    pub path: &'a str,
    pub bytes: &'a Bytes,
    pub meta: ArrowReaderMetadata,
    pub mask: ProjectionMask,
    pub row_group: usize,
    pub first_row: u64,
    pub has_capacity: bool,
    /// Which of `actionable`, `board_override`, `missed` the object has.
    pub outcomes: [bool; 3],
    /// Which of `live_revision`, `queued_at`, `signed_off_at` the object has.
    pub live: [bool; 3],
}

pub fn type_name(t: &DataType) -> String {
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

/// The object's footer, with low-cardinality string columns read as
/// dictionaries (no per-row string copies).
fn load_footer(path: &str, bytes: &Bytes) -> Result<ArrowReaderMetadata, HistoryError> {
    let corrupt = |e: parquet::errors::ParquetError| HistoryError::Corrupt {
        object: path.to_string(),
        message: e.to_string(),
    };
    let meta = ArrowReaderMetadata::load(bytes, ArrowReaderOptions::new()).map_err(corrupt)?;
    Ok(match dictionary_hint(meta.schema()) {
        Some(hint) => ArrowReaderMetadata::try_new(meta.metadata().clone(), ArrowReaderOptions::new().with_schema(hint)).unwrap_or(meta),
        None => meta,
    })
}

/// Check an object's columns and plan one task per row group; with a
/// [`HistoryQuery::live_window`], only the row groups that may hold its rows
/// ([`super::prune`]). Returns the plans and how many row groups were pruned.
pub fn plan_object<'a>(
    object: usize,
    path: &'a str,
    bytes: &'a Bytes,
    query: &HistoryQuery,
) -> Result<(Vec<Plan<'a>>, usize), HistoryError> {
    let meta = load_footer(path, bytes)?;
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
    let mut outcomes = [false; 3];
    for (k, c) in ["actionable", "board_override", "missed"].into_iter().enumerate() {
        outcomes[k] = need(c, |t| matches!(t, DataType::Boolean), "a boolean column", !query.outcomes_optional)?;
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
    let mut pruned = 0;
    for (rg, g) in meta.metadata().row_groups().iter().enumerate() {
        if let Some(w) = &query.live_window {
            if !super::prune::may_hold(meta.metadata(), rg, w) {
                pruned += 1;
                first_row += g.num_rows() as u64;
                continue;
            }
        }
        plans.push(Plan {
            object,
            path,
            bytes,
            meta: meta.clone(),
            mask: mask.clone(),
            row_group: rg,
            first_row,
            has_capacity,
            outcomes,
            live,
        });
        first_row += g.num_rows() as u64;
    }
    Ok((plans, pruned))
}

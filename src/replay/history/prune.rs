//! Pruning for guardrail readings (README "Incremental cycles"): which row
//! groups can hold a row of the live window, judged from the footer's
//! statistics alone, before any data page is fetched.
//!
//! A reading counts a row only when its `live_revision` is the bounded
//! revision and its `queued_at` lies in [activation, now]. A row group is
//! skipped only when its statistics prove it holds no such row: `queued_at`
//! entirely null or entirely outside the window, or `live_revision` entirely
//! null or with a min/max range that excludes the revision, or the object
//! lacks either column. Anything the statistics cannot prove (no statistics,
//! INT96 timestamps, string statistics in the legacy signed order) keeps the
//! row group: pruning may read too much, never too little, so readings equal
//! those of a full read.

use parquet::basic::{ColumnOrder, ConvertedType, LogicalType, SortOrder, TimeUnit, Type as PhysicalType};
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use parquet::file::statistics::Statistics;

/// The rows a guardrail reading counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveWindow {
    /// The bounded revision, as `live_revision` holds it.
    pub revision: String,
    /// `queued_at` bounds, µs since the epoch, both inclusive.
    pub queued_from_us: i64,
    pub queued_to_us: i64,
}

/// Can row group `rg` hold a row of `w`? `false` only when its statistics prove it cannot.
pub fn may_hold(md: &ParquetMetaData, rg: usize, w: &LiveWindow) -> bool {
    let g = md.row_group(rg);
    let (Some(queued), Some(revision)) = (column(md, "queued_at"), column(md, "live_revision")) else {
        // Without either column no row of this object is ever counted.
        return false;
    };
    queued_may_hold(g, queued, w) && revision_may_hold(md, g, revision, w)
}

/// The index of a top-level leaf column by name.
fn column(md: &ParquetMetaData, name: &str) -> Option<usize> {
    md.file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().parts().len() == 1 && c.name() == name)
}

/// Every value null: the statistics say so.
fn all_null(g: &RowGroupMetaData, s: &Statistics) -> bool {
    s.null_count_opt().is_some_and(|n| n == g.num_rows() as u64) && g.num_rows() > 0
}

/// A raw timestamp of `unit` in microseconds since the epoch (naive
/// timestamps are UTC): how decoding reads timestamps,
/// and so how pruning must read their statistics.
#[inline]
pub fn to_micros(unit: arrow::datatypes::TimeUnit, v: i64) -> i64 {
    use arrow::datatypes::TimeUnit;
    match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000),
        TimeUnit::Microsecond => v,
        TimeUnit::Nanosecond => v.div_euclid(1_000),
    }
}

/// The unit of an INT64 timestamp column, for the decoder's own conversion to
/// µs ([`to_micros`]); `None` when the column's unit cannot be
/// told from its metadata.
fn unit_of(g: &RowGroupMetaData, c: usize) -> Option<arrow::datatypes::TimeUnit> {
    let d = g.column(c).column_descr();
    if d.physical_type() != PhysicalType::INT64 {
        return None;
    }
    let unit = match d.logical_type_ref() {
        Some(LogicalType::Timestamp(t)) => t.unit,
        Some(_) => return None,
        None => match d.converted_type() {
            ConvertedType::TIMESTAMP_MILLIS => TimeUnit::MILLIS,
            ConvertedType::TIMESTAMP_MICROS => TimeUnit::MICROS,
            _ => return None,
        },
    };
    Some(match unit {
        TimeUnit::MILLIS => arrow::datatypes::TimeUnit::Millisecond,
        TimeUnit::MICROS => arrow::datatypes::TimeUnit::Microsecond,
        TimeUnit::NANOS => arrow::datatypes::TimeUnit::Nanosecond,
    })
}

fn queued_may_hold(g: &RowGroupMetaData, c: usize, w: &LiveWindow) -> bool {
    let Some(s) = g.column(c).statistics() else { return true };
    if all_null(g, s) {
        return false;
    }
    let (Some(unit), Statistics::Int64(v)) = (unit_of(g, c), s) else {
        return true;
    };
    let to_us = |v: i64| to_micros(unit, v);
    match (v.min_opt(), v.max_opt()) {
        // The conversion is monotonic, so converted bounds bound the decoded values.
        (Some(&min), Some(&max)) => to_us(max) >= w.queued_from_us && to_us(min) <= w.queued_to_us,
        _ => true,
    }
}

fn revision_may_hold(md: &ParquetMetaData, g: &RowGroupMetaData, c: usize, w: &LiveWindow) -> bool {
    let Some(s) = g.column(c).statistics() else { return true };
    if all_null(g, s) {
        return false;
    }
    // Byte-wise (unsigned) order only: legacy statistics may be signed.
    let unsigned = matches!(
        md.file_metadata().column_order(c),
        ColumnOrder::TYPE_DEFINED_ORDER(SortOrder::UNSIGNED)
    );
    if !unsigned || s.is_min_max_deprecated() {
        return true;
    }
    let Statistics::ByteArray(v) = s else { return true };
    match (v.min_bytes_opt(), v.max_bytes_opt()) {
        // Truncated statistics still bound the values (min below, max above).
        (Some(min), Some(max)) => {
            let r = w.revision.as_bytes();
            min <= r && r <= max
        }
        _ => true,
    }
}

/// The byte range `[start, end)` of row group `rg`'s column chunks.
pub fn row_group_span(md: &ParquetMetaData, rg: usize) -> Option<std::ops::Range<u64>> {
    let g = md.row_group(rg);
    let spans = g.columns().iter().map(|c| {
        let (start, len) = c.byte_range();
        start..start.saturating_add(len)
    });
    spans.reduce(|a, b| a.start.min(b.start)..a.end.max(b.end))
}

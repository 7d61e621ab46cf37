//! The per-item table `replay --items` writes: one parquet row per item with
//! its ids, class, window, and score, rank and surfaced flag under each
//! revision, for stewards to explore in polars, DuckDB or pandas.
//!
//! Rows are in window order (windows as first seen in the history), then in
//! history order within a window. Columns use plain parquet types every
//! reader knows: UTF-8 strings, booleans, 64-bit floats and 32-bit integers.

use crate::profile::KINDS;
use crate::replay::history::History;
use crate::replay::Replay;
use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int32Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::sync::Arc;

/// Column names of the items table, in order.
pub const COLUMNS: [&str; 12] = [
    "item_id",
    "window_id",
    "signoff_class",
    "kind",
    "actionable",
    "capacity",
    "live_score",
    "live_rank",
    "live_surfaced",
    "candidate_score",
    "candidate_rank",
    "candidate_surfaced",
];

/// Parquet bytes of the items table.
pub fn items_parquet(history: &History, replay: &Replay) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let r = &replay.ranking;
    let n = r.order.len();
    let mut window_of_pos = vec![0u32; n];
    for w in 0..r.window_offsets.len() - 1 {
        window_of_pos[r.window_offsets[w]..r.window_offsets[w + 1]].fill(w as u32);
    }
    let item = |pos: usize| r.order[pos] as usize;
    let ids: StringArray = (0..n).map(|p| Some(history.item_ids.get_str(item(p)))).collect();
    let windows: StringArray = (0..n)
        .map(|p| Some(history.windows[window_of_pos[p] as usize].id.as_str()))
        .collect();
    let classes: StringArray = (0..n)
        .map(|p| Some(history.classes[history.class[item(p)] as usize].as_str()))
        .collect();
    let kinds: StringArray = (0..n).map(|p| Some(KINDS[history.kind[item(p)] as usize])).collect();
    let actionable: BooleanArray = (0..n).map(|p| Some(history.actionable[item(p)])).collect();
    let cap = |p: usize| r.capacity[window_of_pos[p] as usize];
    let capacity: Int32Array = (0..n).map(|p| Some(cap(p) as i32)).collect();
    let side = |s: usize| -> [ArrayRef; 3] {
        [
            Arc::new(Float64Array::from(r.score[s].clone())),
            Arc::new(Int32Array::from_iter_values(r.rank[s].iter().map(|&x| x as i32))),
            Arc::new(BooleanArray::from_iter((0..n).map(|p| Some(r.rank[s][p] <= cap(p))))),
        ]
    };
    let [ls, lr, lsf] = side(0);
    let [cs, cr, csf] = side(1);
    let types = [
        DataType::Utf8,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Boolean,
        DataType::Int32,
        DataType::Float64,
        DataType::Int32,
        DataType::Boolean,
        DataType::Float64,
        DataType::Int32,
        DataType::Boolean,
    ];
    let schema = Arc::new(Schema::new(
        COLUMNS.iter().zip(types).map(|(n, t)| Field::new(*n, t, false)).collect::<Vec<_>>(),
    ));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ids),
        Arc::new(windows),
        Arc::new(classes),
        Arc::new(kinds),
        Arc::new(actionable),
        Arc::new(capacity),
        ls,
        lr,
        lsf,
        cs,
        cr,
        csf,
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(out)
}

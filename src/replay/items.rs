//! The per-item table `replay --items` writes: one parquet row per item with
//! its ids, class, window and its start, outcomes (`actionable` null when
//! unjudged), every feature the two profiles use (as scored: null read as
//! 0), and score, rank and surfaced flag under each revision, for stewards to
//! explore in polars, DuckDB or pandas. The file's key-value metadata names
//! both revisions and the evidence digest.
//!
//! Rows are in window order (windows as first seen in the history), then in
//! history order within a window. Columns use plain parquet types every
//! reader knows: UTF-8 strings, booleans, 64-bit floats, 32-bit integers and
//! microsecond UTC timestamps.

use crate::profile::KINDS;
use crate::replay::history::History;
use crate::replay::Replay;
use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int32Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::sync::Arc;

/// Columns before the feature columns, in order.
pub const LEADING_COLUMNS: [&str; 9] = [
    "item_id",
    "window_id",
    "window_start",
    "signoff_class",
    "kind",
    "actionable",
    "board_override",
    "missed",
    "capacity",
];

/// Columns after the feature columns, in order.
pub const TRAILING_COLUMNS: [&str; 6] = [
    "live_score",
    "live_rank",
    "live_surfaced",
    "candidate_score",
    "candidate_rank",
    "candidate_surfaced",
];

/// The column a feature is written under: its own name, or `feature_<name>`
/// when that name is taken by one of the fixed columns.
pub fn feature_column(name: &str) -> String {
    match LEADING_COLUMNS.contains(&name) || TRAILING_COLUMNS.contains(&name) {
        true => format!("feature_{name}"),
        false => name.to_string(),
    }
}

/// Parquet bytes of the items table. `metadata` goes into the file's
/// key-value metadata (the revisions and the evidence digest).
pub fn items_parquet(history: &History, replay: &Replay, metadata: &[(String, String)]) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let r = &replay.ranking;
    let n = r.order.len();
    let mut window_of_pos = vec![0u32; n];
    for w in 0..r.window_offsets.len() - 1 {
        window_of_pos[r.window_offsets[w]..r.window_offsets[w + 1]].fill(w as u32);
    }
    let item = |pos: usize| r.order[pos] as usize;
    let window = |p: usize| &history.windows[window_of_pos[p] as usize];
    let cap = |p: usize| r.capacity[window_of_pos[p] as usize];
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut push = |name: String, nullable: bool, a: ArrayRef| {
        fields.push(Field::new(name, a.data_type().clone(), nullable));
        columns.push(a);
    };
    push(
        "item_id".into(),
        false,
        Arc::new((0..n).map(|p| Some(history.item_ids.get_str(item(p)))).collect::<StringArray>()),
    );
    push(
        "window_id".into(),
        false,
        Arc::new((0..n).map(|p| Some(window(p).id.as_str())).collect::<StringArray>()),
    );
    let starts = TimestampMicrosecondArray::from_iter_values((0..n).map(|p| window(p).start_us)).with_timezone("UTC");
    push("window_start".into(), false, Arc::new(starts));
    let class = |p: usize| history.classes[history.class[item(p)] as usize].as_str();
    push(
        "signoff_class".into(),
        false,
        Arc::new((0..n).map(|p| Some(class(p))).collect::<StringArray>()),
    );
    push(
        "kind".into(),
        false,
        Arc::new((0..n).map(|p| Some(KINDS[history.kind[item(p)] as usize])).collect::<StringArray>()),
    );
    let judged = |p: usize| (!history.unjudged[item(p)]).then_some(history.actionable[item(p)]);
    push("actionable".into(), true, Arc::new((0..n).map(judged).collect::<BooleanArray>()));
    let flag = |v: &[bool]| -> ArrayRef { Arc::new((0..n).map(|p| Some(v[item(p)])).collect::<BooleanArray>()) };
    push("board_override".into(), false, flag(&history.board_override));
    push("missed".into(), false, flag(&history.missed));
    push(
        "capacity".into(),
        false,
        Arc::new(Int32Array::from_iter_values((0..n).map(|p| cap(p) as i32))),
    );
    for (f, name) in history.feature_names.iter().enumerate() {
        let values = Float64Array::from_iter_values((0..n).map(|p| history.feature(f, item(p))));
        push(feature_column(name), false, Arc::new(values));
    }
    for (s, side) in ["live", "candidate"].into_iter().enumerate() {
        push(format!("{side}_score"), false, Arc::new(Float64Array::from(r.score[s].to_vec())));
        push(
            format!("{side}_rank"),
            false,
            Arc::new(Int32Array::from_iter_values(r.rank[s].iter().map(|&x| x as i32))),
        );
        let surfaced = BooleanArray::from_iter((0..n).map(|p| Some(r.rank[s][p] <= cap(p))));
        push(format!("{side}_surfaced"), false, Arc::new(surfaced));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let kv = metadata.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .set_key_value_metadata(Some(kv))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema, Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(out)
}

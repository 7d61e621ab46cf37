//! The parquet boundary: files scoregate writes (the `--items` table and
//! `sample-data` history) read back by pyarrow, polars and DuckDB.
//!
//! Needs a Python with those three packages: `SCOREGATE_PYTHON` names it
//! (default `python3`). Without them the test prints why it skipped; with
//! `SCOREGATE_REQUIRE_PYTHON=1` (set by `.ci/run`) their absence fails it.

use crate::support::repo;
use scoregate::evidence::steward::replay_packet;
use scoregate::pipeline::Pipeline;
use scoregate::profile::stored::load_profile;
use scoregate::replay::items::{items_parquet, COLUMNS};
use std::process::Command;

fn python() -> Option<String> {
    let py = std::env::var("SCOREGATE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import pyarrow, polars, duckdb"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(py);
    }
    if std::env::var("SCOREGATE_REQUIRE_PYTHON").as_deref() == Ok("1") {
        panic!("SCOREGATE_REQUIRE_PYTHON=1 but {py} cannot import pyarrow, polars and duckdb");
    }
    eprintln!("SKIPPED consumers test: {py} cannot import pyarrow, polars and duckdb (set SCOREGATE_PYTHON)");
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn pyarrow_polars_and_duckdb_read_what_scoregate_writes() {
    let Some(py) = python() else { return };
    let pipeline = Pipeline::load(&repo().join("pipelines/payments-platform.toml")).unwrap();
    let store = scoregate::store::Store::open(&pipeline.store).unwrap();
    let live = load_profile(&store, &pipeline.policy.baseline_revision).await.unwrap();
    let cand =
        scoregate::profile::Profile::parse("c", &std::fs::read(repo().join("data-samples/profiles/candidate.json")).unwrap()).unwrap();
    let out = replay_packet(&pipeline, &store, &live, &cand, None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let items = dir.path().join("items.parquet");
    std::fs::write(&items, items_parquet(&out.history, &out.replay).unwrap()).unwrap();
    let history = repo().join("data-samples/store").join(&out.packet.history.objects[0].path);

    let r = &out.replay.ranking;
    let n = r.order.len() as u64;
    let rank_sum: u64 = r.rank[0].iter().map(|&x| x as u64).sum();
    let mut surfaced = 0u64;
    for w in 0..r.window_offsets.len() - 1 {
        surfaced += r.rank[1][r.window_offsets[w]..r.window_offsets[w + 1]]
            .iter()
            .filter(|&&k| k <= r.capacity[w])
            .count() as u64;
    }
    let first = out.history.item_ids.get_str(r.order[0] as usize).to_string();
    let hist_batch = {
        let bytes = bytes::Bytes::from(std::fs::read(&history).unwrap());
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        reader.map(|b| b.unwrap().num_rows() as u64).sum::<u64>()
    };

    let output = Command::new(&py)
        .arg(repo().join("tests/consumers/read_outputs.py"))
        .arg(&items)
        .arg(&history)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for lib in ["pyarrow", "polars", "duckdb"] {
        let s = &seen[lib];
        let cols: Vec<String> = serde_json::from_value(s["columns"].clone()).unwrap();
        assert_eq!(cols, COLUMNS, "{lib}");
        assert_eq!(s["rows"], n, "{lib}");
        assert_eq!(s["live_rank_sum"], rank_sum, "{lib}");
        assert_eq!(s["candidate_surfaced"], surfaced, "{lib}");
        assert_eq!(s["first_item"], first.as_str(), "{lib}");
        assert_eq!(s["history_rows"], hist_batch, "{lib}");
        assert!(s["history_windows"].as_u64().unwrap() > 1, "{lib}");
    }
    assert_eq!(seen["duckdb"]["surfaced_disagreements"], 0);
}

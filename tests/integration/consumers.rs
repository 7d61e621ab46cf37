//! The parquet boundary: files scoregate writes (the `--items` table and
//! `sample-data` history) read back by pyarrow, polars and DuckDB.
//!
//! Needs a Python with those three packages: `SCOREGATE_PYTHON` names it
//! (default `python3`). Without them the test prints why it skipped; with
//! `SCOREGATE_REQUIRE_PYTHON=1` (set by `.ci/run`) their absence fails it.

use crate::support::{parquet_bytes, repo, Fixture};
use scoregate::evidence::Packet;
use scoregate::replay::items::{LEADING_COLUMNS, TRAILING_COLUMNS};
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

/// The `--items` table written by the binary, on history where about one
/// item in ten is unjudged, read back by all three.
#[tokio::test(flavor = "multi_thread")]
async fn pyarrow_polars_and_duckdb_read_what_scoregate_writes() {
    let Some(py) = python() else { return };
    let rows = crate::naive_replay::generated(11);
    let fx = Fixture::new(&[("date=1/part-0.parquet", parquet_bytes(&rows))]);
    let items = fx.path("items.parquet");
    let run = Command::new(env!("CARGO_BIN_EXE_scoregate"))
        .arg("--json")
        .args(["replay", "--pipeline"])
        .arg(&fx.pipeline)
        .arg("--candidate")
        .arg(fx.path("candidate.json"))
        .arg("--out")
        .arg(fx.path("packet.json"))
        .arg("--items")
        .arg(&items)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let packet = Packet::parse("packet", &std::fs::read(fx.path("packet.json")).unwrap()).unwrap();
    let history = fx.path("store/history/c1/date=1/part-0.parquet");
    let c1: Vec<_> = rows.iter().filter(|r| r.cohort == "c1").collect();
    let unjudged = c1.iter().filter(|r| r.actionable.is_none()).count() as u64;
    assert!(unjudged > 20, "the generated history has unjudged items");
    let mut columns: Vec<String> = LEADING_COLUMNS.iter().map(|c| c.to_string()).collect();
    columns.extend(["a".to_string(), "b".to_string()]);
    columns.extend(TRAILING_COLUMNS.iter().map(|c| c.to_string()));

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
        assert_eq!(cols, columns, "{lib}");
        assert_eq!(s["rows"], packet.history.items, "{lib}");
        assert_eq!(s["unjudged"], unjudged, "{lib}");
        assert_eq!(s["actionable"], packet.all.live.actionable, "{lib}");
        assert_eq!(s["candidate_surfaced"], packet.all.candidate.surfaced, "{lib}");
        assert_eq!(s["missed"], c1.iter().filter(|r| r.missed).count() as u64, "{lib}");
        assert_eq!(
            s["window_start_min_us"],
            packet.history.window_start_min.timestamp_micros(),
            "{lib}"
        );
        assert_eq!(s["metadata"]["scoregate.evidence_digest"], printed["evidence_digest"], "{lib}");
        assert_eq!(s["metadata"]["scoregate.live_revision"], packet.live_revision.as_str(), "{lib}");
        assert_eq!(
            s["metadata"]["scoregate.candidate_revision"],
            packet.candidate_revision.as_str(),
            "{lib}"
        );
        assert_eq!(s["history_rows"], rows.len() as u64, "{lib}");
        assert!(s["history_windows"].as_u64().unwrap() > 1, "{lib}");
    }
    assert_eq!(seen["duckdb"]["surfaced_disagreements"], 0);
}

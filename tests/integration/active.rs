//! Consumers of the active profile (README "Using the active profile"):
//! `scoregate active` answers which profile is in force at an instant and
//! refuses a tampered or (with `--verify`) stale artifact; `scoregate score`
//! scores items exactly as replay does; `scoregate::consumer` does both
//! from a library.

use crate::cycle::{Ops, BASELINE_REV, CANDIDATE_REV};
use crate::support::{parquet_bytes, without_column, Fixture, Row};
use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int32Type};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::HashMap;

const NOW: &str = "2026-11-03T00:00:00Z";
const UNTIL: &str = "2026-11-09T23:00:00Z";

fn activated() -> Ops {
    let o = Ops::new();
    o.activate_sample("7d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    o
}

fn active_json(o: &Ops, extra: &[&str], code: i32) -> serde_json::Value {
    let p = o.p();
    let mut args = vec!["active", "--json", "--pipeline", &p];
    args.extend_from_slice(extra);
    serde_json::from_str(&o.ok(&args, code)).unwrap_or(serde_json::Value::Null)
}

#[test]
fn active_gives_the_bounded_profile_until_valid_until_then_its_fallback() {
    let o = activated();
    let before = active_json(&o, &["--now", "2026-11-09T22:59:59Z"], 0);
    assert_eq!(before["revision"], CANDIDATE_REV);
    assert_eq!(before["name"], "payments-review-2026-11");
    assert_eq!(
        (before["bounded"].as_bool(), before["fell_back"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(before["valid_until"], "2026-11-09T23:00:00Z");
    assert_eq!(before["seq"], 1);
    let after = active_json(&o, &["--now", UNTIL, "--profile"], 0);
    assert_eq!(after["revision"], BASELINE_REV);
    assert_eq!(
        (after["bounded"].as_bool(), after["fell_back"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(after["profile"]["name"], "payments-review-baseline-2026-09");
    let verified = active_json(&o, &["--now", NOW, "--verify"], 0);
    assert_eq!(verified["verified_against_log"], true);
}

#[test]
fn active_refuses_a_tampered_embedded_profile_with_exit_8() {
    let o = activated();
    let path = o.a.path("store/active/payments-platform/profile.json");
    let mut a: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    a["fallback_profile"]["features"]["blast_radius"]["weight"] = serde_json::json!(99.0);
    std::fs::write(&path, serde_json::to_vec(&a).unwrap()).unwrap();
    let out = o.run(&["active", "--pipeline", &o.p(), "--now", NOW]);
    assert_eq!(out.status.code(), Some(8));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tampered") && stderr.contains("fallback_profile"), "{stderr}");
}

#[test]
fn active_verify_refuses_an_artifact_that_is_not_the_log_head() {
    let o = activated();
    let p = o.p();
    // A cycle that committed but crashed before rewriting the active profile.
    o.ok(
        &["rollback", "--pipeline", &p, "--reason", "drill", "--now", "2026-11-03T01:00:00Z"],
        6,
    );
    let active = o.a.path("store/active/payments-platform/profile.json");
    let head = std::fs::read(&active).unwrap();
    let mut a: serde_json::Value = serde_json::from_slice(&head).unwrap();
    a["seq"] = serde_json::json!(1);
    std::fs::write(&active, serde_json::to_vec(&a).unwrap()).unwrap();
    assert_eq!(
        o.run(&["active", "--pipeline", &p, "--now", NOW]).status.code(),
        Some(0),
        "unverified: still answers"
    );
    let out = o.run(&["active", "--verify", "--pipeline", &p, "--now", NOW]);
    assert_eq!(out.status.code(), Some(8));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stale"));
}

/// The batch of a parquet file, and its key-value metadata.
fn read_parquet(path: &std::path::Path) -> (RecordBatch, HashMap<String, String>) {
    let file = std::fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let meta: HashMap<String, String> = builder.schema().metadata().clone().into();
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(|b| b.unwrap()).collect();
    (arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap(), meta)
}

/// item id → (score bits, rank, surfaced) from columns named `score`, `rank`, `surfaced` with `prefix`.
fn by_item(b: &RecordBatch, prefix: &str) -> HashMap<String, (u64, i32, bool)> {
    let ids = b.column_by_name("item_id").unwrap().as_string::<i32>();
    let score = b.column_by_name(&format!("{prefix}score")).unwrap().as_primitive::<Float64Type>();
    let rank = b.column_by_name(&format!("{prefix}rank")).unwrap().as_primitive::<Int32Type>();
    let surfaced = b.column_by_name(&format!("{prefix}surfaced")).unwrap().as_boolean();
    (0..b.num_rows())
        .map(|i| {
            (
                ids.value(i).to_string(),
                (score.value(i).to_bits(), rank.value(i), surfaced.value(i)),
            )
        })
        .collect()
}

#[test]
fn score_is_replay_bit_for_bit_with_or_without_outcome_columns() {
    let rows: Vec<Row> = crate::naive_replay::generated(21);
    let fx = Fixture::new(&[("h.parquet", parquet_bytes(&rows))]);
    let bin = env!("CARGO_BIN_EXE_scoregate");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(bin)
            .args(args)
            .current_dir(fx.dir.path())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let p = fx.pipeline.to_str().unwrap();
    run(&[
        "replay",
        "--pipeline",
        p,
        "--candidate",
        "candidate.json",
        "--out",
        "out/packet.json",
        "--items",
        "out/items.parquet",
    ]);
    let (items, _) = read_parquet(&fx.path("out/items.parquet"));
    let want = by_item(&items, "candidate_");
    let cand = scoregate::profile::Profile::parse("c", std::fs::read(fx.path("candidate.json")).unwrap().as_slice()).unwrap();
    let rev = cand.revision().to_string();
    // The queue's items: the same rows, as the history file and without outcomes.
    let b = crate::support::batch(&rows.iter().filter(|r| r.cohort == "c1").cloned().collect::<Vec<_>>());
    let b = without_column(&without_column(&without_column(&b, "actionable"), "board_override"), "missed");
    std::fs::write(fx.path("queue.parquet"), crate::support::batch_bytes(&b)).unwrap();
    for (input, out) in [
        ("store/history/c1/h.parquet", "out/scored.parquet"),
        ("queue.parquet", "out/queue-scored.parquet"),
    ] {
        run(&["score", "--pipeline", p, "--items", input, "--revision", &rev, "--out", out]);
        let (scored, meta) = read_parquet(&fx.path(out));
        assert_eq!(by_item(&scored, ""), want, "{input}: scores, ranks and surfaced flags are replay's");
        assert_eq!(meta.get("scoregate.revision"), Some(&rev));
        assert_eq!(scored.column_by_name("score").unwrap().null_count(), 0);
    }
}

#[test]
fn score_uses_the_profile_in_force_on_either_side_of_valid_until() {
    let o = activated();
    let history = o.a.path("store/history/payments-platform");
    let file = crate::support::list_files(&history).into_iter().next().unwrap();
    let input = history.join(file);
    let p = o.p();
    for (now, rev) in [("2026-11-09T22:59:59Z", CANDIDATE_REV), (UNTIL, BASELINE_REV)] {
        let out = format!("scored-{}.parquet", &now[..10]);
        o.ok(
            &[
                "score",
                "--pipeline",
                &p,
                "--items",
                input.to_str().unwrap(),
                "--now",
                now,
                "--out",
                &out,
            ],
            0,
        );
        let (_, meta) = read_parquet(&o.a.path(&out));
        assert_eq!(meta.get("scoregate.revision").map(String::as_str), Some(rev), "at {now}");
    }
}

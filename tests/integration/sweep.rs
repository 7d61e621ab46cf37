//! Sweeps (`replay --candidate A --candidate B …`): one read of the history,
//! one packet and page per candidate, byte-identical to replaying that
//! candidate alone, and one comparison page ordered by protected missed
//! items.

use crate::cli::{code, scoregate};
use crate::support::{repo, sample_copy};
use std::path::{Path, PathBuf};

/// The sample candidate with `edit` applied to its JSON, written to `dir/name.json`.
fn variant(dir: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("data-samples/profiles/candidate.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["name"] = name.into();
    edit(&mut doc);
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    path
}

/// Three candidates: the sample one; one that reads fewer columns (no
/// `canary_drift_repeats`, so its packet names fewer null counts than the
/// sweep read); one that leans on canary drift and regresses a protected class.
pub fn three_candidates(dir: &Path) -> Vec<PathBuf> {
    let fewer = variant(dir, "fewer-columns", |d| {
        d["features"].as_object_mut().unwrap().remove("canary_drift_repeats");
        d["rules"] = serde_json::json!([]);
    });
    let drift = variant(dir, "drift-heavy", |d| {
        d["features"]["canary_drift"] = serde_json::json!({"weight": 8.0})
    });
    vec![repo().join("data-samples/profiles/candidate.json"), fewer, drift]
}

pub fn sweep_args<'a>(pipeline: &'a Path, candidates: &'a [PathBuf], out: &'a str) -> Vec<&'a str> {
    let mut args = vec!["replay", "--pipeline", pipeline.to_str().unwrap(), "--out", out];
    for c in candidates {
        args.extend(["--candidate", c.to_str().unwrap()]);
    }
    args
}

#[test]
fn a_sweep_writes_each_candidates_packet_and_page_byte_identical_to_a_replay_of_it_alone() {
    let (dir, pipeline) = sample_copy();
    let candidates = three_candidates(dir.path());
    let mut args = sweep_args(&pipeline, &candidates, "sweep/packet.json");
    args.push("--json");
    let o = scoregate(&args, dir.path());
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    for c in &candidates {
        let single = dir.path().join("single");
        let o = scoregate(
            &[
                "replay",
                "--pipeline",
                pipeline.to_str().unwrap(),
                "--candidate",
                c.to_str().unwrap(),
                "--out",
                "single/packet.json",
                "--json",
            ],
            dir.path(),
        );
        assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
        let alone: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let rev = alone["candidate_revision"].as_str().unwrap();
        let line = files.iter().find(|f| f["revision"] == rev).expect("every candidate has its files");
        let hex = rev.trim_start_matches("sha256:");
        assert_eq!(line["packet"], format!("sweep/packet-{}.json", &hex[..12]));
        let packet = std::fs::read(dir.path().join(line["packet"].as_str().unwrap())).unwrap();
        assert_eq!(packet, std::fs::read(single.join("packet.json")).unwrap(), "packet of {rev}");
        let page = std::fs::read(dir.path().join(line["html"].as_str().unwrap())).unwrap();
        assert_eq!(page, std::fs::read(single.join("packet.html")).unwrap(), "page of {rev}");
        // Stored content-addressed, as a single replay stores it.
        let stored = dir.path().join(format!("store/evidence/payments-platform/sha256-{}.json", {
            scoregate::canonical::Digest::of(&packet).hex()
        }));
        assert_eq!(std::fs::read(stored).unwrap(), packet);
    }
    // The sweep read `canary_drift_repeats` for the sample candidate; the
    // packet of the one that does not use it (nor does live) does not name it.
    let null_columns = |name: &str| {
        let line = files
            .iter()
            .map(|f| std::fs::read(dir.path().join(f["packet"].as_str().unwrap())).unwrap())
            .map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap())
            .find(|p| p["candidate_profile_name"] == name)
            .unwrap();
        line["data_quality"]["null_features"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(null_columns("payments-review-2026-11").contains(&"canary_drift_repeats".to_string()));
    assert!(!null_columns("fewer-columns").contains(&"canary_drift_repeats".to_string()));
}

#[test]
fn the_comparison_orders_candidates_by_protected_missed_items_whatever_the_order_given() {
    let (dir, pipeline) = sample_copy();
    let mut candidates = three_candidates(dir.path());
    let mut orders = Vec::new();
    for round in 0..2 {
        let mut args = sweep_args(&pipeline, &candidates, "sweep/packet.json");
        args.extend(["--json", "--no-store"]);
        let o = scoregate(&args, dir.path());
        assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let c = &report["comparison"];
        let lines = c["candidates"].as_array().unwrap();
        let missed: Vec<u64> = lines.iter().map(|l| l["protected_fn"].as_u64().unwrap()).collect();
        assert!(missed.windows(2).all(|w| w[0] <= w[1]), "ordered by protected fn: {missed:?}");
        for (k, l) in lines.iter().enumerate() {
            assert_eq!(l["place"], k + 1);
            // Each line is its packet's figures, summed over the protected classes.
            let packet: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.path().join(report["files"][k]["packet"].as_str().unwrap())).unwrap()).unwrap();
            assert_eq!(report["files"][k]["revision"], l["revision"]);
            let protected: Vec<&serde_json::Value> = packet["classes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["protected"] == true)
                .collect();
            let sum = |side: &str| protected.iter().map(|c| c[side]["fn"].as_u64().unwrap()).sum::<u64>();
            assert_eq!(l["protected_fn"].as_u64().unwrap(), sum("candidate"));
            assert_eq!(l["protected_fn_live"].as_u64().unwrap(), sum("live"));
            assert_eq!(l["classes"].as_array().unwrap().len(), protected.len());
            for (cl, pc) in l["classes"].as_array().unwrap().iter().zip(&protected) {
                assert_eq!(cl["class"], pc["class"]);
                assert_eq!(cl["delta_fn"], pc["delta"]["fn"]);
                assert_eq!(cl["fn_interval"], pc["uncertainty"]["fn"]);
                assert_eq!(cl["recall_interval"], pc["uncertainty"]["recall"]);
                assert_eq!(cl["fp_interval"], pc["uncertainty"]["fp"]);
            }
        }
        let page = std::fs::read_to_string(dir.path().join(report["compare"].as_str().unwrap())).unwrap();
        for l in lines {
            assert!(page.contains(l["profile_name"].as_str().unwrap()));
            assert!(page.contains(l["evidence_digest"].as_str().unwrap()));
        }
        orders.push(lines.iter().map(|l| l["revision"].clone()).collect::<Vec<_>>());
        if round == 0 {
            candidates.reverse();
        }
    }
    assert_eq!(orders[0], orders[1], "the order given does not change the comparison");
    assert_eq!(orders[0].len(), 3);
}

#[test]
fn a_sweep_is_byte_identical_on_one_and_four_threads() {
    let (dir, pipeline) = sample_copy();
    let candidates = three_candidates(dir.path());
    let mut outs = Vec::new();
    for threads in ["1", "4"] {
        let out = format!("t{threads}/packet.json");
        let mut args = sweep_args(&pipeline, &candidates, &out);
        args.extend(["--no-store", "--threads", threads]);
        let o = scoregate(&args, dir.path());
        assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
        outs.push(crate::support::list_files(&dir.path().join(format!("t{threads}"))));
    }
    assert_eq!(outs[0].len(), 7, "3 packets, 3 pages, 1 comparison: {:?}", outs[0]);
    for name in &outs[0] {
        let a = std::fs::read(dir.path().join("t1").join(name)).unwrap();
        let b = std::fs::read(dir.path().join("t4").join(name)).unwrap();
        assert!(a == b, "{name} differs between 1 and 4 threads");
    }
}

#[test]
fn a_candidate_given_twice_is_refused_and_nothing_is_written() {
    let (dir, pipeline) = sample_copy();
    let c = three_candidates(dir.path());
    let twice = vec![c[0].clone(), c[1].clone(), c[0].clone()];
    let o = scoregate(&sweep_args(&pipeline, &twice, "dup/packet.json"), dir.path());
    assert_eq!(code(&o), 3, "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("candidates 1 and 3 of the sweep are one revision"), "{err}");
    assert!(!dir.path().join("dup").exists());
}

#[test]
fn single_file_options_are_usage_errors_in_a_sweep() {
    let (dir, pipeline) = sample_copy();
    let c = three_candidates(dir.path());
    for (flag, value) in [("--items", "x.parquet"), ("--html", "x.html")] {
        let mut args = sweep_args(&pipeline, &c, "u/packet.json");
        args.extend([flag, value]);
        let o = scoregate(&args, dir.path());
        assert_eq!(code(&o), 2, "{flag}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("{flag} names one file")));
    }
    let args = [
        "replay",
        "--pipeline",
        pipeline.to_str().unwrap(),
        "--candidate",
        c[0].to_str().unwrap(),
        "--compare",
        "x.html",
    ];
    let o = scoregate(&args, dir.path());
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--candidate two or more times"));
    assert!(!dir.path().join("u").exists());
}

#[test]
fn fail_on_in_a_sweep_exits_4_when_any_candidate_fails_and_still_writes_every_packet() {
    let (dir, pipeline) = sample_copy();
    let c = three_candidates(dir.path());
    let mut args = sweep_args(&pipeline, &c, "g/packet.json");
    args.extend(["--fail-on", "significant", "--no-store"]);
    let o = scoregate(&args, dir.path());
    assert_eq!(code(&o), 4, "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("gate:       FAILED by drift-heavy"), "{text}");
    assert_eq!(crate::support::list_files(&dir.path().join("g")).len(), 7);
    // Without the failing candidate the gate passes.
    let mut args = sweep_args(&pipeline, &c[..2], "g2/packet.json");
    args.extend(["--fail-on", "significant", "--no-store"]);
    let o = scoregate(&args, dir.path());
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
}

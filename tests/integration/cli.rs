//! The binary as a user runs it: outputs, `--json`, and documented exit codes.

use crate::support::{list_files, repo, sample_copy};
use std::process::{Command, Output};

pub fn scoregate(args: &[&str], cwd: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scoregate"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

#[test]
fn replay_writes_packet_page_items_and_stores_evidence() {
    let (dir, pipeline) = sample_copy();
    let candidate = repo().join("data-samples/profiles/candidate.json");
    let o = scoregate(
        &[
            "replay",
            "--json",
            "--pipeline",
            pipeline.to_str().unwrap(),
            "--candidate",
            candidate.to_str().unwrap(),
            "--out",
            "out/packet.json",
            "--items",
            "out/items.parquet",
        ],
        dir.path(),
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let packet = std::fs::read(dir.path().join("out/packet.json")).unwrap();
    let digest = scoregate::canonical::Digest::of(&packet);
    assert_eq!(report["evidence_digest"], digest.as_str());
    assert_eq!(report["html"], "out/packet.html");
    assert!(std::fs::read_to_string(dir.path().join("out/packet.html"))
        .unwrap()
        .contains(digest.as_str()));
    assert!(std::fs::metadata(dir.path().join("out/items.parquet")).unwrap().len() > 1000);
    let stored = dir
        .path()
        .join(format!("store/evidence/payments-platform/sha256-{}.json", digest.hex()));
    assert_eq!(std::fs::read(stored).unwrap(), packet);
    // The committed sample store already held this packet: replaying the sample changes nothing.
    assert_eq!(
        list_files(&dir.path().join("store")),
        list_files(&repo().join("data-samples/store"))
    );
}

#[test]
fn human_output_names_verdicts_and_where_files_went() {
    let (dir, pipeline) = sample_copy();
    let candidate = repo().join("data-samples/profiles/candidate.json");
    let o = scoregate(
        &[
            "replay",
            "--pipeline",
            pipeline.to_str().unwrap(),
            "--candidate",
            candidate.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(code(&o), 0);
    let text = String::from_utf8(o.stdout).unwrap();
    for needle in [
        "signing-surface",
        "verdict",
        "evidence digest: sha256:",
        "packet:  scoregate-out/packet.json",
        "page:    scoregate-out/packet.html",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn bad_candidate_exits_3_and_writes_nothing() {
    let (dir, pipeline) = sample_copy();
    let bad = dir.path().join("unknown-field.json");
    std::fs::write(
        &bad,
        r#"{"schema":"scoregate.profile/v1","name":"x","features":{"a":{"weight":1}},"weights":{}}"#,
    )
    .unwrap();
    let before = list_files(dir.path());
    let o = scoregate(
        &[
            "replay",
            "--pipeline",
            pipeline.to_str().unwrap(),
            "--candidate",
            bad.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(code(&o), 3);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("unknown-field.json") && err.contains("weights"), "{err}");
    assert_eq!(before, list_files(dir.path()));
}

#[test]
fn missing_feature_column_exits_3_and_names_it() {
    let (dir, pipeline) = sample_copy();
    let cand = dir.path().join("cand.json");
    std::fs::write(
        &cand,
        r#"{"schema":"scoregate.profile/v1","name":"x","features":{"reviewer_mood":{"weight":1}}}"#,
    )
    .unwrap();
    let before = list_files(dir.path());
    let o = scoregate(
        &[
            "replay",
            "--pipeline",
            pipeline.to_str().unwrap(),
            "--candidate",
            cand.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(code(&o), 3);
    assert!(String::from_utf8_lossy(&o.stderr).contains("`reviewer_mood` is missing"));
    assert_eq!(before, list_files(dir.path()));
}

#[test]
fn usage_errors_exit_2_and_bad_pipeline_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(code(&scoregate(&["replay"], dir.path())), 2);
    assert_eq!(code(&scoregate(&["no-such-command"], dir.path())), 2);
    std::fs::write(dir.path().join("p.toml"), "cohort = 'x'\nstore = '.'\nhistory = 'h'\nbogus = 1\n").unwrap();
    let o = scoregate(&["replay", "--pipeline", "p.toml", "--candidate", "c.json"], dir.path());
    assert_eq!(code(&o), 3);
    assert!(String::from_utf8_lossy(&o.stderr).contains("p.toml"));
}

#[test]
fn unreachable_store_exits_7() {
    let (dir, pipeline) = sample_copy();
    let text = std::fs::read_to_string(&pipeline)
        .unwrap()
        .replace("store = \"store\"", "store = \"no-such-dir\"");
    std::fs::write(&pipeline, text).unwrap();
    let o = scoregate(
        &["replay", "--pipeline", pipeline.to_str().unwrap(), "--candidate", "x.json"],
        dir.path(),
    );
    assert_eq!(code(&o), 7, "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn profile_hash_show_put() {
    let (dir, pipeline) = sample_copy();
    let cand = repo().join("data-samples/profiles/candidate.json");
    let o = scoregate(&["profile", "hash", cand.to_str().unwrap()], dir.path());
    assert_eq!(code(&o), 0);
    let rev = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let bytes = std::fs::read(&cand).unwrap();
    assert_eq!(rev, scoregate::profile::Profile::parse("c", &bytes).unwrap().revision().as_str());
    let o = scoregate(
        &["profile", "show", "--json", &rev, "--pipeline", pipeline.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["name"], "payments-review-2026-11");
    let other = dir.path().join("other.json");
    std::fs::write(
        &other,
        String::from_utf8(bytes)
            .unwrap()
            .replace("payments-review-2026-11", "payments-review-2026-12"),
    )
    .unwrap();
    let o = scoregate(
        &["profile", "put", "--pipeline", pipeline.to_str().unwrap(), other.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("stored sha256:"));
    let o = scoregate(
        &["profile", "put", "--pipeline", pipeline.to_str().unwrap(), other.to_str().unwrap()],
        dir.path(),
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("already stored"));
}

#[test]
fn sample_data_is_a_pure_function_of_rows_and_seed() {
    let dir = tempfile::tempdir().unwrap();
    for (out, seed) in [("a", "3"), ("b", "3"), ("c", "4")] {
        let o = scoregate(&["sample-data", "--out", out, "--rows", "3000", "--seed", seed], dir.path());
        assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    }
    let files = list_files(&dir.path().join("a"));
    assert_eq!(files.len(), 30);
    assert_eq!(files, list_files(&dir.path().join("b")));
    let read = |d: &str| {
        files
            .iter()
            .map(|f| std::fs::read(dir.path().join(d).join(f)).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(read("a"), read("b"));
    assert_ne!(read("a"), read("c"));
}

#[test]
fn the_readme_exit_code_table_lists_every_exit_code() {
    use scoregate::ExitCode;
    let readme = std::fs::read_to_string(crate::support::repo().join("README.md")).unwrap();
    let table = readme.split("## Exit codes").nth(1).expect("an Exit codes section");
    let documented: Vec<u8> = table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(1)?.trim().parse().ok())
        .collect();
    let codes = [
        ExitCode::Ok,
        ExitCode::Internal,
        ExitCode::Usage,
        ExitCode::BadInput,
        ExitCode::Rejected,
        ExitCode::LostRace,
        ExitCode::RolledBack,
        ExitCode::Storage,
        ExitCode::AuditFailed,
    ];
    assert_eq!(documented, codes.iter().map(|c| *c as u8).collect::<Vec<_>>());
}

/// A candidate that inverts the live profile: it misses far more in every class.
const INVERTED: &str =
    r#"{"schema":"scoregate.profile/v1","name":"t-inverted","features":{"a":{"weight":-1.0},"b":{"weight":-0.5,"cap":4.0}}}"#;

/// Generated history where an item is actionable when its `a` is at least 2
/// (unjudged items stay unjudged): live, which weighs `a`, ranks well.
fn fixture_replay(candidate: &str, extra: &[&str]) -> (crate::support::Fixture, Output) {
    let mut rows = crate::naive_replay::generated(21);
    for r in &mut rows {
        r.actionable = r.actionable.map(|_| r.a.unwrap_or(0.0) >= 2.0);
    }
    let fx = crate::support::Fixture::with_profiles(
        &[("h.parquet", crate::support::parquet_bytes(&rows))],
        crate::support::LIVE,
        candidate,
    );
    let (pipeline, cand) = (fx.pipeline.to_str().unwrap().to_string(), fx.path("candidate.json"));
    let mut args = vec![
        "replay",
        "--pipeline",
        &pipeline,
        "--candidate",
        cand.to_str().unwrap(),
        "--no-store",
    ];
    args.extend_from_slice(extra);
    let o = scoregate(&args, fx.dir.path());
    (fx, o)
}

#[test]
fn fail_on_regressed_and_significant_exit_4_only_when_a_protected_class_regressed() {
    // The inverted candidate regresses every protected class, significantly.
    let (_fx, o) = fixture_replay(INVERTED, &["--json", "--fail-on", "significant"]);
    assert_eq!(
        code(&o),
        4,
        "{}{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["failing"], serde_json::json!(["ledger", "sec"]));
    assert_eq!(report["fail_on"], "significant");
    let sec = report["classes"].as_array().unwrap().iter().find(|c| c["class"] == "sec").unwrap();
    assert_eq!(sec["verdict"], "regressed");
    assert_eq!(sec["verdict_words"], "regressed (significant)");
    assert!(sec["significant"].as_bool().unwrap());
    assert!(sec["interval"]["fn"]["low"].as_f64().unwrap() > 0.0, "{sec}");
    assert!(sec["delta"]["fn"].as_i64().unwrap() > 0 && sec["p_adjusted"].as_f64().unwrap() <= 0.05);
    // Written anyway: the gate only sets the exit code.
    assert!(std::fs::metadata(_fx.dir.path().join("scoregate-out/packet.json")).is_ok());
    // The test candidate of the fixtures: whatever it does, the two gates
    // agree with the packet's own lists.
    for (gate, list) in [("regressed", "protected_regressions"), ("significant", "significant_regressions")] {
        let (_fx, o) = fixture_replay(crate::support::CANDIDATE, &["--json", "--fail-on", gate]);
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let failing = report[list].as_array().unwrap();
        assert_eq!(report["failing"].as_array().unwrap(), failing, "{gate}");
        assert_eq!(code(&o), if failing.is_empty() { 0 } else { 4 }, "{gate}: {report}");
    }
    // Without --fail-on a regression is still exit 0.
    let (_fx, o) = fixture_replay(INVERTED, &[]);
    assert_eq!(code(&o), 0);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("regressed (significant)") && text.contains("Δfn 95% interval"),
        "{text}"
    );
}

#[test]
fn a_fresh_store_without_the_baseline_profile_says_how_to_fix_it() {
    let rows = crate::naive_replay::generated(21);
    let fx = crate::support::Fixture::new(&[("h.parquet", crate::support::parquet_bytes(&rows))]);
    for f in std::fs::read_dir(fx.path("store/profiles")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let (pipeline, cand) = (fx.pipeline.to_str().unwrap(), fx.path("candidate.json"));
    let o = scoregate(
        &["replay", "--pipeline", pipeline, "--candidate", cand.to_str().unwrap()],
        fx.dir.path(),
    );
    assert_eq!(code(&o), 3);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("baseline_revision") && err.contains("scoregate profile put --pipeline") && err.contains("--live"),
        "{err}"
    );
    assert!(!fx.path("scoregate-out").exists(), "nothing is written");
}

#[test]
fn sample_data_leaves_a_share_unjudged_mostly_among_low_severity_items() {
    let dir = tempfile::tempdir().unwrap();
    let o = scoregate(&["sample-data", "--out", "s", "--rows", "6000", "--unjudged", "0.2"], dir.path());
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let mut query = scoregate::evidence::steward::query_for("payments-platform", &[]);
    query.features = vec!["blast_radius".into()];
    let objects: Vec<(String, bytes::Bytes)> = list_files(&dir.path().join("s"))
        .into_iter()
        .filter(|f| f.ends_with(".parquet"))
        .map(|f| (f.clone(), std::fs::read(dir.path().join("s").join(&f)).unwrap().into()))
        .collect();
    let h = scoregate::replay::history::History::from_objects(&objects, "", &query).unwrap();
    let unjudged = h.unjudged.iter().filter(|&&u| u).count() as f64 / h.len() as f64;
    assert!((0.15..0.25).contains(&unjudged), "{unjudged}");
    // More among low blast radius (which the baseline ranks low) than among high.
    let mut by_radius: Vec<(f64, bool)> = (0..h.len()).map(|i| (h.feature(0, i), h.unjudged[i])).collect();
    by_radius.sort_by(|a, b| a.0.total_cmp(&b.0));
    let share = |s: &[(f64, bool)]| s.iter().filter(|x| x.1).count() as f64 / s.len() as f64;
    let (low, high) = by_radius.split_at(h.len() / 2);
    assert!(share(low) > 1.5 * share(high), "{} vs {}", share(low), share(high));
    let bad = scoregate(&["sample-data", "--out", "t", "--unjudged", "1.5"], dir.path());
    assert_eq!(code(&bad), 3);
}

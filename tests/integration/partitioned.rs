//! Replays over a history larger than the memory budget (README "Memory
//! budget"): read in window partitions, one at a time, they write the packet
//! a whole read writes, byte for byte, whatever the row order, the number of
//! objects and row groups, and the number of partitions; a sweep's packets
//! and comparison page too. What a whole read refuses they refuse with the
//! same error, and an object whose bytes change between the census and a
//! partition's read is refused as changed.

use crate::cli::{code, scoregate};
use crate::naive_replay::generated;
use crate::support::{batch, repo, sample_copy, Fixture, Hooked, Row};
use crate::sweep::{sweep_args, three_candidates};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use scoregate::evidence::steward::{replay_packet_with, ReadOptions, ReplayOutcome};
use scoregate::evidence::EvidenceError;
use scoregate::profile::stored::load_profile;
use scoregate::profile::Profile;
use scoregate::replay::history::partition::MemoryBudget;
use scoregate::replay::history::HistoryError;
use scoregate::store::{Store, StoreError};

/// Parquet bytes of `rows` in row groups of at most `group` rows.
fn grouped_bytes(rows: &[Row], group: usize) -> Vec<u8> {
    let batch = batch(rows);
    let props = WriterProperties::builder().set_max_row_group_row_count(Some(group)).build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

/// `rows` in `files` objects of small row groups: in window order, or
/// shuffled so that every window spans objects and row groups.
fn history_files(mut rows: Vec<Row>, files: usize, shuffle: Option<u64>) -> Vec<(String, Vec<u8>)> {
    if let Some(seed) = shuffle {
        rows.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    }
    let per = rows.len().div_ceil(files);
    rows.chunks(per)
        .enumerate()
        .map(|(k, part)| (format!("part-{k}.parquet"), grouped_bytes(part, 37)))
        .collect()
}

fn budget(bytes: u64) -> ReadOptions {
    ReadOptions {
        budget: MemoryBudget { bytes },
        whole: false,
    }
}

async fn replay_within(fx: &Fixture, candidate: &str, options: ReadOptions) -> Result<ReplayOutcome, scoregate::Error> {
    let pipeline = fx.pipeline();
    let store = fx.store();
    let live = load_profile(&store, &pipeline.policy.baseline_revision).await.unwrap();
    let cand = Profile::parse("c", candidate.as_bytes()).unwrap();
    replay_packet_with(&pipeline, &store, &live, &cand, None, options).await
}

/// Budgets that cut the generated histories (about 900 items of 128
/// estimated bytes, row groups of 37) into partitions of one window up to
/// about a third of them, on any thread count.
const BUDGETS: [u64; 4] = [256, 16 << 10, 48 << 10, 96 << 10];

#[tokio::test(flavor = "multi_thread")]
async fn partitioned_replays_write_the_packet_a_whole_read_writes() {
    for seed in [1, 2, 3] {
        for (files, shuffle) in [(1, None), (3, None), (4, Some(seed))] {
            let fx = Fixture::new(
                &history_files(generated(seed), files, shuffle)
                    .iter()
                    .map(|(n, b)| (n.as_str(), b.clone()))
                    .collect::<Vec<_>>(),
            );
            let whole = replay_within(&fx, crate::support::CANDIDATE, ReadOptions::default()).await.unwrap();
            assert_eq!(whole.partitions, 1);
            let mut seen = Vec::new();
            for b in BUDGETS {
                let part = replay_within(&fx, crate::support::CANDIDATE, budget(b)).await.unwrap();
                let what = format!(
                    "seed {seed}, {files} files, shuffled {shuffle:?}, budget {b}: {} partitions",
                    part.partitions
                );
                assert!(part.partitions > 1, "{what}");
                assert_eq!(part.digest, whole.digest, "{what}");
                assert_eq!(part.packet_bytes, whole.packet_bytes, "{what}");
                seen.push(part.partitions);
            }
            // Smaller budgets cut more partitions; the smallest, one window each.
            assert!(seen.windows(2).all(|w| w[0] >= w[1]) && seen[3] < seen[0], "{seen:?}");
            assert_eq!(seen[0] as u64, whole.packet.history.windows);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bundled_sample_partitioned_writes_the_packet_a_whole_read_writes() {
    let (dir, pipeline_file) = sample_copy();
    let pipeline = scoregate::pipeline::Pipeline::load(&pipeline_file).unwrap();
    let store = Store::open(&pipeline.store).unwrap();
    let read = |p: &str| Profile::parse(p, &std::fs::read(repo().join(p)).unwrap()).unwrap();
    let (live, cand) = (
        read("data-samples/profiles/live.json"),
        read("data-samples/profiles/candidate.json"),
    );
    let whole = replay_packet_with(&pipeline, &store, &live, &cand, None, ReadOptions::default())
        .await
        .unwrap();
    let part = replay_packet_with(&pipeline, &store, &live, &cand, None, budget(256 << 10))
        .await
        .unwrap();
    assert!(part.partitions > 5, "{} partitions", part.partitions);
    assert_eq!(part.packet_bytes, whole.packet_bytes);
    drop(dir);
}

#[test]
fn a_partitioned_sweep_writes_the_files_a_whole_sweep_writes_on_one_and_four_threads() {
    let (dir, pipeline) = sample_copy();
    let candidates = three_candidates(dir.path());
    let mut partitions = Vec::new();
    let runs = [("whole", "4GiB", "2"), ("parts-1", "256KiB", "1"), ("parts-4", "256KiB", "4")];
    for (name, budget, threads) in runs {
        let out = format!("{name}/packet.json");
        let mut args = sweep_args(&pipeline, &candidates, &out);
        args.extend(["--no-store", "--json", "--memory-budget", budget, "--threads", threads]);
        let o = scoregate(&args, dir.path());
        assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        partitions.push(report["history_partitions"].as_u64().unwrap());
    }
    // The reserve counts a decoded row group per thread: the cut differs, the files do not.
    assert_eq!(partitions[0], 1);
    assert!(partitions[1] > 5 && partitions[2] > 5, "{partitions:?}");
    let whole = crate::support::list_files(&dir.path().join("whole"));
    assert_eq!(whole.len(), 7, "{whole:?}");
    for (name, _, _) in &runs[1..] {
        assert_eq!(whole, crate::support::list_files(&dir.path().join(name)));
        for f in &whole {
            let a = std::fs::read(dir.path().join("whole").join(f)).unwrap();
            let b = std::fs::read(dir.path().join(name).join(f)).unwrap();
            assert!(a == b, "{name}/{f} differs");
        }
    }
}

/// A whole read and every partitioned read refuse `rows` with one message.
async fn same_refusal(rows: Vec<Row>, candidate: &str) -> scoregate::Error {
    let fx = Fixture::new(
        &history_files(rows, 3, Some(7))
            .iter()
            .map(|(n, b)| (n.as_str(), b.clone()))
            .collect::<Vec<_>>(),
    );
    let whole = replay_within(&fx, candidate, ReadOptions::default()).await.err().expect("refused");
    for b in BUDGETS {
        let part = replay_within(&fx, candidate, budget(b)).await.err().expect("refused");
        assert_eq!(part.to_string(), whole.to_string(), "budget {b}");
    }
    whole
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_item_id_in_windows_of_different_partitions_is_refused_as_a_whole_read_refuses_it() {
    let mut rows = generated(4);
    let first = rows.iter().position(|r| r.window_id == "w0" && r.cohort == "c1").unwrap();
    let last = rows.iter().rposition(|r| r.window_id == "w59" && r.cohort == "c1").unwrap();
    rows[last].item_id = rows[first].item_id.clone();
    let e = same_refusal(rows, crate::support::CANDIDATE).await;
    assert!(matches!(e, scoregate::Error::History(HistoryError::DuplicateItem { .. })), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_with_two_capacities_is_refused_as_a_whole_read_refuses_it() {
    let mut rows = generated(5);
    let at = rows.iter().rposition(|r| r.window_id == "w30" && r.cohort == "c1").unwrap();
    rows[at].capacity = Some(rows[at].capacity.map_or(7, |c| c + 1));
    let e = same_refusal(rows, crate::support::CANDIDATE).await;
    assert!(matches!(e, scoregate::Error::History(HistoryError::WindowCapacity { .. })), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_score_fault_is_the_one_a_whole_replay_reports() {
    // The candidate overflows on large `a` values, which only some windows
    // hold, spread over partitions and objects.
    let mut rows = generated(6);
    for (k, r) in rows.iter_mut().enumerate() {
        r.a = Some(if k % 97 == 0 { 3.0e300 } else { 1.0 });
    }
    let overflowing = r#"{"schema":"scoregate.profile/v1","name":"t-overflow","features":{"a":{"weight":1e10},"b":{"weight":1.0}}}"#;
    let e = same_refusal(rows, overflowing).await;
    assert!(
        matches!(
            e,
            scoregate::Error::Replay(scoregate::replay::ReplayError::NonFiniteScore { side: "candidate", .. })
        ),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_changed_between_the_census_and_a_partition_read_is_refused() {
    let fx = Fixture::new(
        &history_files(generated(8), 3, Some(8))
            .iter()
            .map(|(n, b)| (n.as_str(), b.clone()))
            .collect::<Vec<_>>(),
    );
    let pipeline = fx.pipeline();
    let local = fx.store();
    let live = load_profile(&local, &pipeline.policy.baseline_revision).await.unwrap();
    let cand = Profile::parse("c", crate::support::CANDIDATE.as_bytes()).unwrap();
    let root = fx.path("store");
    let changing = Hooked::changing(&root, "history/c1/part-1.parquet").await;
    let store = changing.store();
    let e = replay_packet_with(&pipeline, &store, &live, &cand, None, budget(4 << 10))
        .await
        .err()
        .expect("refused");
    match &e {
        scoregate::Error::History(HistoryError::Store(StoreError::Changed { path, detail, .. })) => {
            assert_eq!(path, "history/c1/part-1.parquet");
            assert!(detail.contains("read again"), "{detail}");
        }
        other => panic!("expected a changed object, got {other}"),
    }
    // Read whole, the same store replays: the object is read once.
    let fresh = Hooked::changing(&root, "history/c1/part-1.parquet").await;
    let store = fresh.store();
    assert!(replay_packet_with(&pipeline, &store, &live, &cand, None, ReadOptions::default())
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn items_over_the_budget_are_refused_before_the_history_is_decoded() {
    let fx = Fixture::new(
        &history_files(generated(9), 2, None)
            .iter()
            .map(|(n, b)| (n.as_str(), b.clone()))
            .collect::<Vec<_>>(),
    );
    let options = ReadOptions {
        budget: MemoryBudget { bytes: 4 << 10 },
        whole: true,
    };
    let e = replay_within(&fx, crate::support::CANDIDATE, options).await.err().expect("refused");
    assert!(
        matches!(e, scoregate::Error::Evidence(EvidenceError::ItemsOverBudget { .. })),
        "{e}"
    );
    // From the command line: exit 3 (bad input, nothing written), the flag to raise named.
    let (pipeline, candidate) = (fx.pipeline.to_str().unwrap(), fx.path("candidate.json"));
    let args = [
        "replay",
        "--pipeline",
        pipeline,
        "--candidate",
        candidate.to_str().unwrap(),
        "--out",
        "out/packet.json",
    ];
    let budget = ["--memory-budget", "4KiB"];
    let o = scoregate(&[&args[..], &budget, &["--items", "out/items.parquet"]].concat(), fx.dir.path());
    assert_eq!(code(&o), 3, "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("--memory-budget") && stderr.contains("--items"), "{stderr}");
    assert!(!fx.path("out").exists());
    // Without --items the same command replays in partitions.
    let o = scoregate(&[&args[..], &budget, &["--json", "--no-store"]].concat(), fx.dir.path());
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["history_partitions"].as_u64().unwrap() > 1, "{report}");
}

#[test]
fn a_memory_budget_that_is_not_a_size_is_a_usage_error() {
    let (dir, pipeline) = sample_copy();
    let candidate = repo().join("data-samples/profiles/candidate.json");
    let args = [
        "replay",
        "--pipeline",
        pipeline.to_str().unwrap(),
        "--candidate",
        candidate.to_str().unwrap(),
        "--memory-budget",
        "lots",
    ];
    let o = scoregate(&args, dir.path());
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--memory-budget"));
}

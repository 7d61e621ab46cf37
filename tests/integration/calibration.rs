//! The statistics tested like code (README "How sure is a verdict"): by
//! simulation with known truth. Where both revisions are equally good by
//! construction, the 95% intervals for Δfn must cover 0 in 93–97% of
//! simulated histories and the sign-flip test must reject at α = 0.05 in
//! 3–7%; where the candidate is truly better, the interval must exclude 0 in
//! most. Every simulation is seeded, so each run sees the same histories.

use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scoregate::canonical::Digest;
use scoregate::evidence::uncertainty::{self, DiscordantItems, IntervalMethod, Paired, Uncertainty};
use scoregate::evidence::Packet;
use scoregate::pipeline::ReplaySettings;
use scoregate::profile::Profile;
use scoregate::replay::history::{History, HistoryQuery};
use std::sync::Arc;

/// Share of `reps` runs where `hit` holds.
fn share(reps: u32, mut hit: impl FnMut(u32) -> bool) -> f64 {
    (0..reps).filter(|&r| hit(r)).count() as f64 / reps as f64
}

/// Windows where each side misses each of 8 actionable items with
/// probability 0.3, independently, and surfaces as many false positives
/// drawn the same way: equal by construction.
fn equal_windows(g: &mut ChaCha8Rng, n: usize) -> Vec<Paired> {
    (0..n)
        .map(|_| {
            let misses = |g: &mut ChaCha8Rng| (0..8).filter(|_| g.random_bool(0.3)).count() as i64;
            let (live, cand) = (misses(g), misses(g));
            let (live_fp, cand_fp) = (misses(g), misses(g));
            Paired {
                d_fn: cand - live,
                d_fp: cand_fp - live_fp,
                actionable: 8,
            }
        })
        .collect()
}

fn stats(windows: &[Paired], r: u32) -> Uncertainty {
    let seed = Digest::of(format!("calibration {r}").as_bytes());
    uncertainty::uncertainty(windows, DiscordantItems::default(), &seed, "c")
}

#[test]
fn paired_bootstrap_and_normal_intervals_cover_zero_and_the_sign_flip_test_holds_its_level() {
    // 12 windows: the bootstrap; 60: the normal interval. 1,000 runs each.
    for (n, method, min_reject) in [(12, IntervalMethod::Bootstrap, 0.01), (60, IntervalMethod::Normal, 0.03)] {
        let mut g = ChaCha8Rng::seed_from_u64(n as u64);
        let runs: Vec<Uncertainty> = (0..1000).map(|r| stats(&equal_windows(&mut g, n), r)).collect();
        assert!(runs.iter().all(|u| u.method == method));
        let cover = share(1000, |r| runs[r as usize].fn_.unwrap().contains(0.0));
        let cover_fp = share(1000, |r| runs[r as usize].fp.unwrap().contains(0.0));
        let cover_recall = share(1000, |r| runs[r as usize].recall.unwrap().contains(0.0));
        let reject = share(1000, |r| runs[r as usize].p_value.unwrap() <= 0.05);
        eprintln!("{n} windows: Δfn coverage {cover:.3}, Δfp {cover_fp:.3}, Δrecall {cover_recall:.3}, sign-flip rejects {reject:.3}");
        for c in [cover, cover_fp, cover_recall] {
            assert!((0.93..=0.97).contains(&c), "{n} windows: coverage {c}");
        }
        // With 12 windows of small integer differences the exact test is
        // conservative (its p-values are discrete); it must never exceed α.
        assert!((min_reject..=0.07).contains(&reject), "{n} windows: rejects {reject}");
    }
}

#[test]
fn holm_keeps_the_family_wise_error_at_alpha_across_four_equal_classes() {
    let mut g = ChaCha8Rng::seed_from_u64(99);
    let any_rejected = share(500, |r| {
        let mut classes: Vec<Uncertainty> = (0..4).map(|k| stats(&equal_windows(&mut g, 40), r * 4 + k)).collect();
        uncertainty::holm(&mut classes.iter_mut().collect::<Vec<_>>(), 0.05);
        classes.iter().any(|u| u.significant)
    });
    eprintln!("Holm over 4 equal classes: some class significant in {any_rejected:.3} of runs");
    assert!(any_rejected <= 0.07, "{any_rejected}");
}

/// One simulated history: 80 windows of 20–60 items, capacity 10 (the
/// sample's shape: tens of items per window, a quarter of them reviewed). Whether an
/// item is actionable depends on `signal` only; `noise_a` and `noise_b`
/// are irrelevant. About one item in ten is unjudged.
fn history(seed: u64) -> History {
    let mut g = ChaCha8Rng::seed_from_u64(seed);
    let (mut ids, mut windows, mut starts, mut classes, mut actionable) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut signal, mut noise_a, mut noise_b) = (vec![], vec![], vec![]);
    for w in 0..80 {
        for k in 0..g.random_range(20..=60) {
            let s: f64 = g.random_range(-2.0..2.0);
            ids.push(format!("w{w:02}-{k:02}"));
            windows.push(format!("w{w:02}"));
            starts.push(1_790_000_000_000_000i64 + w * 3_600_000_000);
            classes.push(["sec", "ledger", "ops"][g.random_range(0..3)]);
            let is_actionable = g.random_bool(1.0 / (1.0 + (-1.5 * s).exp()));
            actionable.push((!g.random_bool(0.1)).then_some(is_actionable));
            signal.push(s);
            noise_a.push(g.random_range(-2.0..2.0));
            noise_b.push(g.random_range(-2.0..2.0));
        }
    }
    let n = ids.len();
    let columns: Vec<(&str, ArrayRef, DataType)> = vec![
        ("item_id", Arc::new(StringArray::from(ids)), DataType::Utf8),
        ("cohort", Arc::new(StringArray::from(vec!["c1"; n])), DataType::Utf8),
        ("window_id", Arc::new(StringArray::from(windows)), DataType::Utf8),
        (
            "window_start",
            Arc::new(TimestampMicrosecondArray::from(starts)),
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ),
        ("kind", Arc::new(StringArray::from(vec!["build_regression"; n])), DataType::Utf8),
        ("signoff_class", Arc::new(StringArray::from(classes)), DataType::Utf8),
        ("actionable", Arc::new(BooleanArray::from(actionable)), DataType::Boolean),
        ("board_override", Arc::new(BooleanArray::from(vec![false; n])), DataType::Boolean),
        ("missed", Arc::new(BooleanArray::from(vec![false; n])), DataType::Boolean),
        ("signal", Arc::new(Float64Array::from(signal)), DataType::Float64),
        ("noise_a", Arc::new(Float64Array::from(noise_a)), DataType::Float64),
        ("noise_b", Arc::new(Float64Array::from(noise_b)), DataType::Float64),
    ];
    let schema = Schema::new(
        columns
            .iter()
            .map(|(name, _, t)| Field::new(*name, t.clone(), true))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(Arc::new(schema), columns.into_iter().map(|c| c.1).collect()).unwrap();
    let mut bytes = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let query = HistoryQuery {
        cohort: "c1".into(),
        features: vec!["noise_a".into(), "noise_b".into(), "signal".into()],
        nonnegative: vec![],
        live_columns: false,
        outcomes_optional: false,
        live_window: None,
    };
    History::from_objects(&[(format!("sim-{seed}.parquet"), bytes.into())], "", &query).unwrap()
}

fn profile(name: &str, weights: &[(&str, f64)]) -> Profile {
    let features: Vec<String> = weights.iter().map(|(f, w)| format!("\"{f}\":{{\"weight\":{w}}}")).collect();
    let text = format!(
        "{{\"schema\":\"scoregate.profile/v1\",\"name\":\"{name}\",\"features\":{{{}}}}}",
        features.join(",")
    );
    Profile::parse(name, text.as_bytes()).unwrap()
}

/// The `*` row's uncertainty of a full packet for `live` against `candidate` on history `seed`.
fn all_row(seed: u64, live: &Profile, candidate: &Profile) -> Uncertainty {
    let h = history(seed);
    let settings = ReplaySettings {
        default_capacity: 10,
        reviewer_throughput_per_hour: 4.0,
        alpha: 0.05,
    };
    let r = scoregate::replay::replay(&h, live, candidate, &settings).unwrap();
    let packet = Packet::build("c1", &settings, &["sec".into()], &h, &r, live, candidate);
    packet.all.uncertainty.unwrap()
}

#[test]
fn on_generated_history_equal_revisions_are_within_noise_and_a_better_candidate_is_seen() {
    // Equal by construction: each side is the signal plus its own irrelevant noise feature.
    let live = profile("live", &[("signal", 1.0), ("noise_a", 1.0)]);
    let twin = profile("twin", &[("signal", 1.0), ("noise_b", 1.0)]);
    let runs: Vec<Uncertainty> = (0..600).map(|s| all_row(s, &live, &twin)).collect();
    let cover = share(600, |r| runs[r as usize].fn_.unwrap().contains(0.0));
    let reject = share(600, |r| runs[r as usize].p_value.unwrap() <= 0.05);
    eprintln!("equal revisions, 600 histories: Δfn interval covers 0 in {cover:.3}, sign-flip rejects in {reject:.3}");
    assert!((0.93..=0.97).contains(&cover), "coverage {cover}");
    assert!((0.03..=0.07).contains(&reject), "rejects {reject}");
    // Truly better: the candidate drops the noise.
    let better = profile("better", &[("signal", 1.0)]);
    let runs: Vec<Uncertainty> = (10_000..10_100).map(|s| all_row(s, &live, &better)).collect();
    let seen = share(100, |r| runs[r as usize].fn_.unwrap().high < 0.0);
    let significant = share(100, |r| runs[r as usize].significant);
    eprintln!("better candidate, 100 histories: interval below 0 in {seen:.2}, significant in {significant:.2}");
    assert!(seen >= 0.8 && significant >= 0.8, "{seen} {significant}");
}

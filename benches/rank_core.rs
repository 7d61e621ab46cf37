//! Criterion benchmark of the score-and-rank core: `replay()` of 200k
//! generated items (about 5k windows) under the sample live and candidate
//! profiles, history already in memory. Run: `cargo bench --bench rank_core`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scoregate::evidence::steward::query_for;
use scoregate::pipeline::ReplaySettings;
use scoregate::profile::Profile;
use scoregate::replay::history::History;
use scoregate::replay::replay;
use scoregate::replay::sample::{generate, SampleSpec};
use scoregate::store::{Store, StoreLocation};
use std::path::Path;

fn profiles() -> (Profile, Profile) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples/profiles");
    let read = |f: &str| Profile::parse(f, &std::fs::read(dir.join(f)).unwrap()).unwrap();
    (read("live.json"), read("candidate.json"))
}

fn bench(c: &mut Criterion) {
    const ITEMS: u64 = 200_000;
    let (live, cand) = profiles();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let history = rt.block_on(async {
        let store = Store::open(&StoreLocation::parse("memory://rank-core-bench", Path::new(".")).unwrap()).unwrap();
        generate(&store, &SampleSpec::new("payments-platform", ITEMS, 11)).await.unwrap();
        History::read(
            &store,
            "history/payments-platform",
            &query_for("payments-platform", &[&live, &cand]),
            None,
        )
        .await
        .unwrap()
    });
    let settings = ReplaySettings {
        default_capacity: 25,
        reviewer_throughput_per_hour: 4.0,
        alpha: 0.05,
    };
    let mut g = c.benchmark_group("rank_core");
    g.throughput(Throughput::Elements(history.len() as u64));
    g.sample_size(20);
    g.bench_function("replay_200k_items_two_revisions", |b| {
        b.iter(|| replay(&history, &live, &cand, &settings).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

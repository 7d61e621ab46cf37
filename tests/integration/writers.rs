//! History written by other parquet writers (pyarrow, DuckDB) replays to
//! exactly the same metrics as the same rows written by scoregate's own
//! arrow writer. The fixtures and the script that made them live in
//! `tests/fixtures/writers/`.

use crate::support::{parquet_bytes, repo, Fixture, Row};
use scoregate::evidence::steward::replay_packet;
use scoregate::evidence::Packet;
use scoregate::profile::stored::load_profile;
use scoregate::profile::Profile;

#[derive(serde::Deserialize)]
struct JsonRow {
    item_id: String,
    cohort: String,
    window_id: String,
    window_start_us: i64,
    kind: String,
    signoff_class: String,
    actionable: Option<bool>,
    board_override: bool,
    missed: bool,
    a: Option<f64>,
    b: Option<f64>,
    window_capacity: Option<i64>,
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/writers/rows.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let j: JsonRow = serde_json::from_str(l).unwrap();
            Row {
                item_id: j.item_id,
                cohort: j.cohort,
                window_id: j.window_id,
                window_start_us: j.window_start_us,
                kind: j.kind,
                class: j.signoff_class,
                actionable: j.actionable,
                board_override: j.board_override,
                missed: j.missed,
                a: j.a,
                b: j.b,
                capacity: j.window_capacity,
            }
        })
        .collect()
}

async fn packet_for(file: &str, bytes: Vec<u8>) -> Packet {
    let fx = Fixture::new(&[(file, bytes)]);
    let pipeline = fx.pipeline();
    let store = fx.store();
    let live = load_profile(&store, &pipeline.policy.baseline_revision).await.unwrap();
    let cand = Profile::parse("c", crate::support::CANDIDATE.as_bytes()).unwrap();
    replay_packet(&pipeline, &store, &live, &cand, None).await.unwrap().packet
}

/// The packet without what depends on random draws: the generator is seeded
/// by the history's fingerprint, which differs between writers of the same rows.
fn without_draws(p: &Packet) -> Packet {
    let mut p = p.clone();
    let strip = |u: &mut Option<scoregate::evidence::uncertainty::Uncertainty>| {
        let u = u.as_mut().unwrap();
        (u.p_value, u.p_adjusted, u.significant) = (None, None, false);
        if u.method == scoregate::evidence::uncertainty::IntervalMethod::Bootstrap {
            (u.fn_, u.recall, u.fp) = (None, None, None);
        }
    };
    p.classes.iter_mut().for_each(|c| strip(&mut c.uncertainty));
    strip(&mut p.all.uncertainty);
    p
}

/// p-values from different seeds agree within Monte Carlo error.
fn assert_same_statistics(theirs: &Packet, ours: &Packet, name: &str) {
    let u = |p: &Packet| -> Vec<Option<f64>> {
        p.classes
            .iter()
            .chain(std::iter::once(&scoregate::evidence::ClassResult {
                class: "*".into(),
                protected: false,
                verdict: scoregate::replay::Verdict::Unchanged,
                live: p.all.live.clone(),
                candidate: p.all.candidate.clone(),
                delta: p.all.delta.clone(),
                uncertainty: p.all.uncertainty.clone(),
                churn: None,
                uncertain_unjudged: false,
            }))
            .map(|c| c.uncertainty.as_ref().unwrap().p_value)
            .collect()
    };
    for (a, b) in u(theirs).into_iter().zip(u(ours)) {
        assert_eq!(a.is_some(), b.is_some(), "{name}");
        if let (Some(a), Some(b)) = (a, b) {
            assert!((a - b).abs() < 0.03, "{name}: p-values {a} and {b}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pyarrow_and_duckdb_history_replays_like_scoregates_own() {
    let fixture = |name: &str| std::fs::read(repo().join("tests/fixtures/writers").join(name)).unwrap();
    let ours = packet_for("scoregate.parquet", parquet_bytes(&rows())).await;
    assert!(ours.history.items > 400 && ours.data_quality.other_cohort_rows > 0);
    for (name, file) in [("pyarrow", "pyarrow.parquet"), ("duckdb", "duckdb.parquet")] {
        let theirs = packet_for(file, fixture(file)).await;
        assert_same_statistics(&theirs, &ours, name);
        assert_eq!(
            without_draws(&theirs).classes,
            without_draws(&ours).classes,
            "{name}: per-class results"
        );
        assert_eq!(without_draws(&theirs).all, without_draws(&ours).all, "{name}: all items");
        assert_eq!(theirs.data_quality, ours.data_quality, "{name}: data quality");
        assert_eq!(theirs.protected_regressions, ours.protected_regressions, "{name}");
        assert_eq!(
            (
                theirs.history.items,
                theirs.history.windows,
                theirs.history.window_start_min,
                theirs.history.window_start_max
            ),
            (
                ours.history.items,
                ours.history.windows,
                ours.history.window_start_min,
                ours.history.window_start_max
            ),
            "{name}: snapshot counts and range"
        );
        assert_ne!(
            theirs.history.fingerprint, ours.history.fingerprint,
            "{name}: different bytes, different fingerprint"
        );
    }
}

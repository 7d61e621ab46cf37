//! An independent check of SPEC §4: a deliberately naive replay (sort each
//! window, count) against the engine, on generated data with many exact ties
//! and capacities larger than their windows.

use crate::support::{parquet_bytes, Fixture, Row, CANDIDATE, LIVE};
use rand::{RngExt, SeedableRng};
use scoregate::evidence::steward::replay_packet;
use scoregate::profile::stored::load_profile;
use scoregate::profile::ProfileDoc;
use scoregate::replay::Metrics;
use std::collections::BTreeMap;

fn naive_score(doc: &ProfileDoc, r: &Row) -> f64 {
    let value = |name: &str| match name {
        "a" => r.a.unwrap_or(0.0),
        "b" => r.b.map(|b| b as f32 as f64).unwrap_or(0.0),
        _ => unreachable!(),
    };
    let mut s = 0.0;
    for (name, f) in &doc.features {
        let mut x = value(name);
        if let Some(cap) = f.cap {
            if x > cap {
                x = cap;
            }
        }
        if f.transform == scoregate::profile::Transform::Log1p {
            x = x.ln_1p();
        }
        s += f.weight * x;
    }
    s += doc.class_boost.get(&r.class).copied().unwrap_or(0.0);
    s += doc.kind_boost.get(&r.kind).copied().unwrap_or(0.0);
    for rule in &doc.rules {
        let x = value(&rule.feature);
        let holds = match rule.op {
            scoregate::profile::Op::Gt => x > rule.value,
            scoregate::profile::Op::Gte => x >= rule.value,
            scoregate::profile::Op::Lt => x < rule.value,
            scoregate::profile::Op::Lte => x <= rule.value,
            scoregate::profile::Op::Eq => x == rule.value,
        };
        if holds {
            s *= rule.multiply;
        }
    }
    s
}

/// Smallest k with k/n >= p: the nearest-rank position, found by counting.
fn percentile(mut ranks: Vec<u64>, p: u64) -> Option<u64> {
    if ranks.is_empty() {
        return None;
    }
    ranks.sort();
    let n = ranks.len() as u64;
    let mut k = 1;
    while k * 100 < p * n {
        k += 1;
    }
    Some(ranks[k as usize - 1])
}

#[derive(Default)]
struct Counts {
    items: u64,
    actionable: u64,
    surfaced: u64,
    tp: u64,
    overrides: u64,
    overrides_surfaced: u64,
    misses: u64,
    misses_surfaced: u64,
    ranks: Vec<u64>,
}

fn naive(rows: &[Row], doc: &ProfileDoc, default_capacity: u64) -> BTreeMap<String, Counts> {
    let mut windows: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.cohort == "c1") {
        windows.entry(&r.window_id).or_default().push(r);
    }
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    for (_, mut items) in windows {
        items.sort_by(|x, y| {
            naive_score(doc, y)
                .partial_cmp(&naive_score(doc, x))
                .unwrap()
                .then(x.item_id.as_bytes().cmp(y.item_id.as_bytes()))
        });
        let cap = items[0].capacity.map(|c| c as u64).unwrap_or(default_capacity);
        for (i, r) in items.iter().enumerate() {
            let rank = i as u64 + 1;
            let surfaced = rank <= cap;
            for key in [r.class.clone(), "*".to_string()] {
                let c = out.entry(key).or_default();
                c.items += 1;
                c.actionable += r.actionable as u64;
                c.overrides += r.board_override as u64;
                c.misses += r.missed as u64;
                if surfaced {
                    c.surfaced += 1;
                    c.tp += r.actionable as u64;
                    c.overrides_surfaced += r.board_override as u64;
                    c.misses_surfaced += r.missed as u64;
                }
                if r.actionable {
                    c.ranks.push(rank);
                }
            }
        }
    }
    out
}

fn assert_same(c: &Counts, m: &Metrics, what: &str) {
    assert_eq!(
        (c.items, c.actionable, c.surfaced, c.tp, c.actionable - c.tp, c.surfaced - c.tp),
        (m.items, m.actionable, m.surfaced, m.tp, m.fn_, m.fp),
        "{what}"
    );
    assert_eq!(
        (c.overrides, c.overrides_surfaced, c.misses, c.misses_surfaced),
        (m.overrides, m.overrides_surfaced, m.misses, m.misses_surfaced),
        "{what}"
    );
    let ratio = |a: u64, b: u64| if b == 0 { None } else { Some(a as f64 / b as f64) };
    assert_eq!(ratio(c.tp, c.actionable), m.recall, "{what} recall");
    assert_eq!(ratio(c.tp, c.surfaced), m.precision, "{what} precision");
    assert_eq!(percentile(c.ranks.clone(), 50), m.rank_p50, "{what} p50");
    assert_eq!(percentile(c.ranks.clone(), 90), m.rank_p90, "{what} p90");
    assert_eq!(
        percentile(c.ranks.clone(), 90).map(|r| r as f64 / 2.0),
        m.aging_p90_hours,
        "{what} aging"
    );
}

fn generated(seed: u64) -> Vec<Row> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let classes = ["sec", "ledger", "ops", "docs"];
    let kinds = ["build_regression", "dependency_anomaly", "canary_finding", "rollout_caveat"];
    let mut rows = Vec::new();
    for w in 0..60 {
        let size = rng.random_range(1..=30);
        // Capacity: default (3), tiny, or larger than the window.
        let capacity = [None, Some(1), Some(5), Some(50)][rng.random_range(0..4)];
        for k in 0..size {
            // Few distinct values: many exact score ties, broken by item id bytes.
            let mut r = Row::new(
                &format!("i{:02}{}", rng.random_range(0..100), ["a", "B", "b", "_"][k % 4]),
                &format!("w{w}"),
                classes[rng.random_range(0..4)],
                [0.0, 1.0, 2.0, 3.0][rng.random_range(0..4)],
                [0.0, 1.5, 3.0, 4.5][rng.random_range(0..4)],
                rng.random_bool(0.5),
            );
            r.item_id = format!("{}-{w}-{k}", r.item_id);
            r.kind = kinds[rng.random_range(0..4)].into();
            r.board_override = rng.random_bool(0.2);
            r.missed = rng.random_bool(0.2);
            r.capacity = capacity;
            if rng.random_bool(0.05) {
                r.a = None;
            }
            if rng.random_bool(0.05) {
                r.cohort = "other".into();
            }
            rows.push(r);
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn engine_agrees_with_a_naive_replay() {
    for seed in [1, 2, 3] {
        let rows = generated(seed);
        let third = rows.len() / 3;
        // Spread windows across files: a window may span two objects.
        let fx = Fixture::new(&[
            ("date=1/part-0.parquet", parquet_bytes(&rows[..third])),
            ("date=2/part-0.parquet", parquet_bytes(&rows[third..2 * third])),
            ("date=3/part-0.parquet", parquet_bytes(&rows[2 * third..])),
        ]);
        let pipeline = fx.pipeline();
        let store = fx.store();
        let live = load_profile(&store, &pipeline.policy.baseline_revision).await.unwrap();
        let cand = scoregate::profile::Profile::parse("c", CANDIDATE.as_bytes()).unwrap();
        let out = replay_packet(&pipeline, &store, &live, &cand, None).await.unwrap();
        let live_doc: ProfileDoc = serde_json::from_str(LIVE).unwrap();
        let cand_doc: ProfileDoc = serde_json::from_str(CANDIDATE).unwrap();
        let (nl, nc) = (naive(&rows, &live_doc, 3), naive(&rows, &cand_doc, 3));
        for c in &out.packet.classes {
            if c.live.items == 0 {
                assert!(!nl.contains_key(&c.class));
                continue;
            }
            assert_same(&nl[&c.class], &c.live, &format!("seed {seed} class {} live", c.class));
            assert_same(&nc[&c.class], &c.candidate, &format!("seed {seed} class {} candidate", c.class));
        }
        assert_same(&nl["*"], &out.packet.all.live, "all live");
        assert_same(&nc["*"], &out.packet.all.candidate, "all candidate");
        assert_eq!(
            out.packet.data_quality.other_cohort_rows,
            rows.iter().filter(|r| r.cohort != "c1").count() as u64
        );
        assert_eq!(
            out.packet.data_quality.null_features["a"],
            rows.iter().filter(|r| r.cohort == "c1" && r.a.is_none()).count() as u64
        );
    }
}

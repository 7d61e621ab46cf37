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
    unjudged: u64,
    surfaced: u64,
    tp: u64,
    unjudged_surfaced: u64,
    overrides: u64,
    overrides_surfaced: u64,
    misses: u64,
    misses_surfaced: u64,
    ranks: Vec<u64>,
}

/// The cohort's windows, each sorted by (score desc, item id bytes asc) under `doc`.
fn ranked_windows<'a>(rows: &'a [Row], doc: &ProfileDoc) -> BTreeMap<&'a str, Vec<&'a Row>> {
    let mut windows: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.cohort == "c1") {
        windows.entry(&r.window_id).or_default().push(r);
    }
    for items in windows.values_mut() {
        items.sort_by(|x, y| {
            naive_score(doc, y)
                .partial_cmp(&naive_score(doc, x))
                .unwrap()
                .then(x.item_id.as_bytes().cmp(y.item_id.as_bytes()))
        });
    }
    windows
}

fn naive(rows: &[Row], doc: &ProfileDoc, default_capacity: u64) -> BTreeMap<String, Counts> {
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    for (_, items) in ranked_windows(rows, doc) {
        let cap = items[0].capacity.map(|c| c as u64).unwrap_or(default_capacity);
        for (i, r) in items.iter().enumerate() {
            let rank = i as u64 + 1;
            let surfaced = rank <= cap;
            for key in [r.class.clone(), "*".to_string()] {
                let c = out.entry(key).or_default();
                let actionable = r.actionable == Some(true);
                c.items += 1;
                c.actionable += actionable as u64;
                c.unjudged += r.actionable.is_none() as u64;
                c.overrides += r.board_override as u64;
                c.misses += r.missed as u64;
                if surfaced {
                    c.surfaced += 1;
                    c.tp += actionable as u64;
                    c.unjudged_surfaced += r.actionable.is_none() as u64;
                    c.overrides_surfaced += r.board_override as u64;
                    c.misses_surfaced += r.missed as u64;
                }
                if actionable {
                    c.ranks.push(rank);
                }
            }
        }
    }
    out
}

fn assert_same(c: &Counts, m: &Metrics, what: &str) {
    assert_eq!(
        (
            c.items,
            c.actionable,
            c.surfaced,
            c.tp,
            c.actionable - c.tp,
            c.surfaced - c.tp - c.unjudged_surfaced
        ),
        (m.items, m.actionable, m.surfaced, m.tp, m.fn_, m.fp),
        "{what}"
    );
    assert_eq!(
        (c.unjudged, c.unjudged_surfaced),
        (m.unjudged, m.unjudged_surfaced),
        "{what} unjudged"
    );
    let coverage = (c.surfaced > 0).then(|| 1.0 - c.unjudged_surfaced as f64 / c.surfaced as f64);
    assert_eq!(coverage, m.judged_coverage, "{what} judged coverage");
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

pub fn generated(seed: u64) -> Vec<Row> {
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
            if rng.random_bool(0.1) {
                r.actionable = None;
            }
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

/// Live: identity with a cap on a zero-crossing feature, log1p with a cap on
/// a non-negative one, every operator on `a` at values the data hits exactly.
const OPS_LIVE: &str = r#"{"schema":"scoregate.profile/v1","name":"ops-live","features":{"a":{"weight":1.0,"cap":1.5},"b":{"weight":0.75,"cap":2.5,"transform":"log1p"}},"class_boost":{"sec":0.5},"kind_boost":{"canary_finding":0.25},"rules":[{"feature":"a","op":"lt","value":0.0,"multiply":3.0},{"feature":"a","op":"lte","value":-1.0,"multiply":0.5},{"feature":"a","op":"gt","value":1.0,"multiply":1.25},{"feature":"a","op":"gte","value":2.0,"multiply":0.8},{"feature":"b","op":"eq","value":1.5,"multiply":4.0}]}"#;
/// Candidate: every operator on `b` (and `eq` on a null-as-zero `a`).
const OPS_CANDIDATE: &str = r#"{"schema":"scoregate.profile/v1","name":"ops-candidate","features":{"a":{"weight":-0.5,"cap":2.0},"b":{"weight":1.5,"cap":3.0,"transform":"log1p"}},"class_boost":{"ops":-1.0},"rules":[{"feature":"b","op":"lt","value":1.5,"multiply":2.0},{"feature":"b","op":"lte","value":3.0,"multiply":1.5},{"feature":"a","op":"eq","value":0.0,"multiply":5.0},{"feature":"b","op":"gt","value":0.0,"multiply":1.1},{"feature":"b","op":"gte","value":4.5,"multiply":0.25}]}"#;

/// Rows whose features sit on the rules' thresholds, cross zero, exceed the
/// caps, and are null in either feature or both.
fn operator_rows(seed: u64) -> Vec<Row> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let a_values = [-2.0, -1.0, -0.5, 0.0, 1.0, 1.5, 2.0, 3.0];
    let b_values = [0.0, 1.5, 3.0, 4.5];
    let mut rows = generated(seed);
    for r in &mut rows {
        r.a = Some(a_values[rng.random_range(0..a_values.len())]);
        r.b = Some(b_values[rng.random_range(0..b_values.len())]);
        match rng.random_range(0..10) {
            0 => r.a = None,
            1 => r.b = None,
            2 => (r.a, r.b) = (None, None),
            _ => {}
        }
    }
    rows
}

/// (class → surfaced, tp, ranks) of a naive replay: what a swapped operator would change.
fn fingerprint(rows: &[Row], doc: &ProfileDoc) -> Vec<(String, u64, u64, Vec<u64>)> {
    naive(rows, doc, 3)
        .into_iter()
        .map(|(k, c)| (k, c.surfaced, c.tp, c.ranks))
        .collect()
}

/// `doc` with two operators exchanged wherever they appear.
fn swapped(doc: &ProfileDoc, x: scoregate::profile::Op, y: scoregate::profile::Op) -> ProfileDoc {
    let mut d = doc.clone();
    for r in &mut d.rules {
        r.op = if r.op == x {
            y
        } else if r.op == y {
            x
        } else {
            r.op
        };
    }
    d
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rule_operator_nulls_caps_and_log1p_agree_with_the_naive_replay() {
    use scoregate::profile::Op;
    let live_doc: ProfileDoc = serde_json::from_str(OPS_LIVE).unwrap();
    let cand_doc: ProfileDoc = serde_json::from_str(OPS_CANDIDATE).unwrap();
    for seed in [11, 12] {
        let rows = operator_rows(seed);
        let fx = Fixture::with_profiles(
            &[
                ("part-0.parquet", parquet_bytes(&rows[..rows.len() / 2])),
                ("part-1.parquet", parquet_bytes(&rows[rows.len() / 2..])),
            ],
            OPS_LIVE,
            OPS_CANDIDATE,
        );
        let (pipeline, store) = (fx.pipeline(), fx.store());
        let live = load_profile(&store, &pipeline.policy.baseline_revision).await.unwrap();
        let cand = scoregate::profile::Profile::parse("c", OPS_CANDIDATE.as_bytes()).unwrap();
        let out = replay_packet(&pipeline, &store, &live, &cand, None).await.unwrap();
        let (nl, nc) = (naive(&rows, &live_doc, 3), naive(&rows, &cand_doc, 3));
        for c in out.packet.classes.iter().filter(|c| c.live.items > 0) {
            assert_same(&nl[&c.class], &c.live, &format!("seed {seed} class {} live", c.class));
            assert_same(&nc[&c.class], &c.candidate, &format!("seed {seed} class {} candidate", c.class));
        }
        assert_same(&nl["*"], &out.packet.all.live, "all live");
        assert_same(&nc["*"], &out.packet.all.candidate, "all candidate");
        // The data tells every operator from its neighbour: had the engine
        // swapped lt and lte (or gt and gte, or eq and gte), the counts above
        // would have differed from the naive replay's.
        for (doc, name) in [(&live_doc, "live"), (&cand_doc, "candidate")] {
            for (x, y) in [(Op::Lt, Op::Lte), (Op::Gt, Op::Gte), (Op::Eq, Op::Gte)] {
                assert_ne!(
                    fingerprint(&rows, doc),
                    fingerprint(&rows, &swapped(doc, x, y)),
                    "seed {seed}: the {name} fixture cannot tell {x:?} from {y:?}"
                );
            }
        }
    }
}

/// The rows of `generated` several times over, each copy its own windows.
fn many_windows(copies: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for k in 0..copies {
        for mut r in generated(100 + k as u64) {
            r.window_id = format!("{}-{k}", r.window_id);
            r.item_id = format!("{}-{k}", r.item_id);
            rows.push(r);
        }
    }
    rows
}

#[test]
fn batch_boundaries_at_1_2_3_and_8_threads_agree_with_the_naive_replay() {
    use scoregate::evidence::steward::query_for;
    use scoregate::replay::history::History;
    use scoregate::replay::{batch_bounds, group_by_window, replay_with, Batching};
    let rows = many_windows(6);
    let fx = Fixture::new(&[
        ("a/part-0.parquet", parquet_bytes(&rows[..rows.len() / 3])),
        ("b/part-0.parquet", parquet_bytes(&rows[rows.len() / 3..])),
    ]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (pipeline, store) = (fx.pipeline(), fx.store());
    let live = rt.block_on(load_profile(&store, &pipeline.policy.baseline_revision)).unwrap();
    let cand = scoregate::profile::Profile::parse("c", CANDIDATE.as_bytes()).unwrap();
    let query = query_for("c1", &[&live, &cand]);
    let history = rt.block_on(History::read(&store, "history/c1", &query, None)).unwrap();
    let (nl, nc) = (
        naive(&rows, &serde_json::from_str(LIVE).unwrap(), 3),
        naive(&rows, &serde_json::from_str(CANDIDATE).unwrap(), 3),
    );
    // Batches of at least one item: the split follows the thread count.
    let batching = Batching { min_items: 1 };
    let (_, offsets) = group_by_window(&history);
    // The grouping's definition: items by window, in item order within one.
    let mut grouped: Vec<u32> = (0..history.len() as u32).collect();
    grouped.sort_by_key(|&i| history.window[i as usize]);
    let mut splits = Vec::new();
    let mut rankings = Vec::new();
    for threads in [1, 2, 3, 8] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        assert_eq!(
            pool.install(|| group_by_window(&history)),
            (grouped.clone(), offsets.clone()),
            "{threads} threads"
        );
        let (bounds, r) = pool.install(|| {
            (
                batch_bounds(&offsets, history.len(), batching),
                replay_with(&history, &live, &cand, &pipeline.replay, batching).unwrap(),
            )
        });
        assert!(bounds.len() > 8, "{threads} threads: many batch boundaries ({})", bounds.len());
        for (k, class) in history.classes.iter().enumerate() {
            assert_same(&nl[class], &r.classes[k][0], &format!("{threads} threads, {class} live"));
            assert_same(&nc[class], &r.classes[k][1], &format!("{threads} threads, {class} candidate"));
        }
        assert_same(&nl["*"], &r.all[0], &format!("{threads} threads, all live"));
        splits.push(bounds);
        rankings.push((r.ranking.rank, r.ranking.score));
    }
    assert!(
        splits.windows(2).all(|w| w[0] != w[1]),
        "each thread count splits the work differently"
    );
    assert!(
        rankings.windows(2).all(|w| w[0] == w[1]),
        "ranks and scores are the same on every split"
    );
}

/// item id → (window, class, actionable, surfaced) under one profile.
fn naive_surfaced(rows: &[Row], doc: &ProfileDoc, default_capacity: u64) -> BTreeMap<String, (String, String, Option<bool>, bool)> {
    let mut out = BTreeMap::new();
    for (w, items) in ranked_windows(rows, doc) {
        let cap = items[0].capacity.map(|c| c as u64).unwrap_or(default_capacity);
        for (i, r) in items.iter().enumerate() {
            out.insert(r.item_id.clone(), (w.to_string(), r.class.clone(), r.actionable, (i as u64) < cap));
        }
    }
    out
}

/// Churn, window tallies, discordant items and the cluster-robust interval
/// for Δfn, each computed here from the rows alone and compared with the packet.
#[tokio::test(flavor = "multi_thread")]
async fn churn_window_tallies_and_intervals_agree_with_a_naive_replay() {
    for seed in [4, 5] {
        let rows = generated(seed);
        let fx = Fixture::new(&[("h.parquet", parquet_bytes(&rows))]);
        let (pipeline, store) = (fx.pipeline(), fx.store());
        let live = load_profile(&store, &pipeline.policy.baseline_revision).await.unwrap();
        let cand = scoregate::profile::Profile::parse("c", CANDIDATE.as_bytes()).unwrap();
        let packet = replay_packet(&pipeline, &store, &live, &cand, None).await.unwrap().packet;
        let l = naive_surfaced(&rows, &serde_json::from_str(LIVE).unwrap(), 3);
        let c = naive_surfaced(&rows, &serde_json::from_str(CANDIDATE).unwrap(), 3);
        for class in &packet.classes {
            let mut churn = [0u64; 5];
            let mut d: BTreeMap<&str, i64> = BTreeMap::new();
            let (mut gained, mut lost) = (Vec::new(), Vec::new());
            for (id, (w, _, actionable, sl)) in l.iter().filter(|(_, v)| v.1 == class.class) {
                let sc = c[id].3;
                let a = *actionable == Some(true);
                *d.entry(w.as_str()).or_default() += (a && !sc) as i64 - (a && !sl) as i64;
                if a && sc != *sl {
                    [&mut lost, &mut gained][sc as usize].push(id.clone());
                }
                if sc && !sl {
                    churn[0] += 1;
                    churn[1] += a as u64;
                    churn[2] += actionable.is_none() as u64;
                }
                if *sl && !sc {
                    churn[3] += 1;
                    churn[4] += a as u64;
                }
            }
            let got = class.churn.as_ref().unwrap();
            let what = format!("seed {seed} class {}", class.class);
            assert_eq!(
                churn,
                [
                    got.entered,
                    got.entered_actionable,
                    got.entered_unjudged,
                    got.left,
                    got.left_actionable
                ],
                "{what}"
            );
            if class.protected {
                for (kept, all) in [(&got.gained, &gained), (&got.lost, &lost)] {
                    assert_eq!(kept.len(), all.len().min(10), "{what}");
                    assert!(kept.iter().all(|id| all.contains(id)), "{what}");
                }
            } else {
                assert!(got.gained.is_empty() && got.lost.is_empty());
            }
            let u = class.uncertainty.as_ref().unwrap();
            assert_eq!(
                (u.discordant.only_candidate, u.discordant.only_live),
                (churn[1], churn[4]),
                "{what}"
            );
            let tally = |f: fn(&i64) -> bool| d.values().filter(|x| f(x)).count() as u64;
            assert_eq!(
                (u.windows.better, u.windows.same, u.windows.worse),
                (tally(|x| *x < 0), tally(|x| *x == 0), tally(|x| *x > 0)),
                "{what}"
            );
            let n = d.len() as f64;
            assert!(n >= 30.0, "{what}: the normal interval needs 30 windows, got {n}");
            let total: f64 = d.values().map(|&x| x as f64).sum();
            let ss: f64 = d.values().map(|&x| (x as f64 - total / n).powi(2)).sum();
            let t =
                statrs::distribution::ContinuousCDF::inverse_cdf(&statrs::distribution::StudentsT::new(0.0, 1.0, n - 1.0).unwrap(), 0.975);
            let half = t * (n / (n - 1.0) * ss).sqrt();
            let i = u.fn_.unwrap();
            assert!(
                (i.low - (total - half)).abs() < 1e-9 && (i.high - (total + half)).abs() < 1e-9,
                "{what}: {i:?} vs {total} ± {half}"
            );
            assert_eq!(total as i64, class.delta.fn_, "{what}");
        }
    }
}

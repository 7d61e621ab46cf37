//! The replay on the bundled sample: golden packet, byte-identical output on
//! any thread count, and agreement with the evidence committed in the sample store.

use crate::support::{repo, sample_copy};
use scoregate::canonical::Digest;
use scoregate::evidence::steward::{replay_packet, ReplayOutcome};
use scoregate::evidence::{render_html, Packet};
use scoregate::pipeline::Pipeline;
use scoregate::profile::stored::load_profile;
use scoregate::profile::Profile;
use scoregate::store::Store;

fn candidate() -> Profile {
    let bytes = std::fs::read(repo().join("data-samples/profiles/candidate.json")).unwrap();
    Profile::parse("candidate.json", &bytes).unwrap()
}

fn run_with_threads(threads: usize, pipeline: &Pipeline) -> ReplayOutcome {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = Store::open(&pipeline.store).unwrap();
            let live = load_profile(&store, &pipeline.policy.baseline_revision).await.unwrap();
            replay_packet(pipeline, &store, &live, &candidate(), None).await.unwrap()
        })
    })
}

/// The sample packet's page, as `scoregate replay` renders it.
pub fn page_of(pipeline: &Pipeline, out: &ReplayOutcome) -> String {
    let live = std::fs::read(repo().join("data-samples/profiles/live.json")).unwrap();
    let live = Profile::parse("live.json", &live).unwrap();
    let cand = candidate();
    let ctx = scoregate::evidence::page::PageContext {
        live: live.doc(),
        candidate: cand.doc(),
        max_evidence_age: pipeline.policy.max_evidence_age,
    };
    render_html(&out.packet, &ctx).unwrap()
}

/// The sample's replay on two threads.
pub fn sample_outcome() -> (Pipeline, ReplayOutcome) {
    let pipeline = Pipeline::load(&repo().join("pipelines/payments-platform.toml")).unwrap();
    let out = run_with_threads(2, &pipeline);
    (pipeline, out)
}

#[test]
fn sample_packet_matches_golden_snapshot() {
    let pipeline = Pipeline::load(&repo().join("pipelines/payments-platform.toml")).unwrap();
    let out = run_with_threads(2, &pipeline);
    insta::assert_json_snapshot!("sample_packet", out.packet);
    // The committed sample store holds exactly this packet under its digest.
    let stored = repo().join(format!(
        "data-samples/store/{}",
        scoregate::store::layout::evidence("payments-platform", &out.digest)
    ));
    let bytes = std::fs::read(&stored).unwrap_or_else(|_| panic!("{} is committed", stored.display()));
    assert_eq!(bytes, out.packet_bytes);
    assert_eq!(Digest::of(&bytes), out.digest);
    // Sanity of the sample itself: what the generator promises.
    let p = &out.packet;
    assert_eq!(p.history.objects.len(), 30);
    assert_eq!(p.history.items, 24_000);
    assert!(p.data_quality.other_cohort_rows > 0);
    assert!(p.data_quality.null_features.values().any(|n| *n > 0));
    assert_eq!(p.classes.iter().filter(|c| c.protected).count(), 3);
    assert!(p.protected_regressions.is_empty());
}

#[test]
fn packet_is_byte_identical_on_any_thread_count() {
    let pipeline = Pipeline::load(&repo().join("pipelines/payments-platform.toml")).unwrap();
    let one = run_with_threads(1, &pipeline);
    for threads in [2, 3, 8] {
        let many = run_with_threads(threads, &pipeline);
        assert_eq!(one.packet_bytes, many.packet_bytes, "{threads} threads");
        assert_eq!(one.replay.ranking.rank, many.replay.ranking.rank, "{threads} threads");
    }
    // And across runs.
    assert_eq!(one.packet_bytes, run_with_threads(1, &pipeline).packet_bytes);
}

#[test]
fn packet_parses_back_and_keeps_its_digest() {
    let (_dir, pipeline) = sample_copy();
    let pipeline = Pipeline::load(&pipeline).unwrap();
    let out = run_with_threads(2, &pipeline);
    let back = Packet::parse("packet", &out.packet_bytes).unwrap();
    assert_eq!(back, out.packet);
    assert_eq!(back.digest(), out.digest);
    // Pretty-printed, the canonical digest is unchanged.
    let pretty = serde_json::to_vec_pretty(&out.packet).unwrap();
    assert_eq!(Packet::parse("pretty", &pretty).unwrap().digest(), out.digest);
    assert!(matches!(
        Packet::parse_stored("pretty", &pretty, &out.digest),
        Err(scoregate::evidence::EvidenceError::DigestMismatch { .. })
    ));
    // No wall-clock time inside: the JSON holds only the history's own timestamps.
    let text = String::from_utf8(out.packet_bytes.clone()).unwrap();
    assert!(!text.contains("2027"), "no time beyond the sample's range");
}

#[test]
fn html_page_is_self_contained_and_leads_with_protected_verdicts() {
    let pipeline = Pipeline::load(&repo().join("pipelines/payments-platform.toml")).unwrap();
    let out = run_with_threads(2, &pipeline);
    let html = page_of(&pipeline, &out);
    assert!(html.contains(out.digest.as_str()), "digest to approve is on the page");
    assert_eq!(network_references(&html), Vec::<String>::new(), "the page loads nothing");
    assert!(!html.contains("<script"), "no script");
    let digest_at = html.find(out.digest.as_str()).unwrap();
    let too_old = html.find("Too old to approve after").unwrap();
    let protected = html.find("<h2>Protected classes</h2>").unwrap();
    let per_class = html.find("<h2>Per-class results</h2>").unwrap();
    assert!(digest_at < protected && too_old < protected && protected < per_class);
    // history ends 2026-10-30 21:36 UTC; the sample pipeline allows 7 days.
    assert!(html.contains("2026-11-06 21:36 UTC"));
    assert!(html.contains("<svg"), "charts are inline SVG");
    // Protected verdicts in words, with their intervals.
    assert!(html.contains("improved</span> (within noise)"), "high-blast-radius is within noise");
    assert!(html.contains("[-37.9, +3.9]"));
    // The weight diff names what changed.
    assert!(html.contains("<code>canary_drift_repeats</code></td><td class=\"words\">added"));
    // Per-class tables are collapsed, protected classes first.
    let rest = &html[per_class..];
    let signing = rest.find("<details><summary>signing-surface").unwrap();
    let tooling = rest.find("<details><summary>build-tooling").unwrap();
    assert!(signing < tooling);
}

/// Every place in `html` that could make a browser fetch something: `href`
/// and `src` values other than in-page fragments and `data:` URIs, CSS
/// `url(…)` other than fragments and `data:`, `@import`, and any `http://`
/// or `https://` other than the SVG namespace name.
fn network_references(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    let local = |v: &str| v.starts_with('#') || v.starts_with("data:") || v.is_empty();
    for attr in ["href=", "src=", "srcset=", "action=", "poster="] {
        for (at, _) in lower.match_indices(attr) {
            let rest = &lower[at + attr.len()..];
            let value: String = match rest.chars().next() {
                Some(q @ ('"' | '\'')) => rest[1..].chars().take_while(|c| *c != q).collect(),
                _ => rest.chars().take_while(|c| !c.is_whitespace() && *c != '>').collect(),
            };
            if !local(value.trim()) {
                found.push(format!("{attr}{value}"));
            }
        }
    }
    for (at, _) in lower.match_indices("url(") {
        let value: String = lower[at + 4..].chars().take_while(|c| *c != ')').collect();
        if !local(value.trim().trim_matches(|c| c == '"' || c == '\'')) {
            found.push(format!("url({value})"));
        }
    }
    if lower.contains("@import") {
        found.push("@import".into());
    }
    for scheme in ["http://", "https://"] {
        for (at, _) in lower.match_indices(scheme) {
            if !lower[at..].starts_with("http://www.w3.org/2000/svg\"") {
                found.push(lower[at..].chars().take(40).collect());
            }
        }
    }
    found
}

#[test]
fn the_no_network_check_finds_every_kind_of_reference() {
    let clean = r##"<svg xmlns="http://www.w3.org/2000/svg"><a href="#digest">x</a><rect style="fill:url(#g)"/></svg>"##;
    assert!(network_references(clean).is_empty(), "{:?}", network_references(clean));
    for bad in [
        r#"<img src="https://cdn.example/x.png">"#,
        r#"<img src=logo.png>"#,
        r#"<a href='http://example.com'>x</a>"#,
        r#"<link rel="stylesheet" href="style.css">"#,
        r#"<style>body { background: url(https://example.com/bg.png) }</style>"#,
        r#"<style>@import "fonts.css";</style>"#,
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"></svg>"#,
        r#"<p>see https://example.com</p>"#,
    ] {
        assert!(!network_references(bad).is_empty(), "missed: {bad}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn protected_regressions_are_exactly_the_regressed_protected_classes() {
    use crate::support::{parquet_bytes, Fixture, Row};
    use scoregate::replay::Verdict;
    // Live ranks by `a`, the candidate by `-a`: with one review per window the
    // candidate misses every actionable item the live side surfaced.
    let by_a = r#"{"schema":"scoregate.profile/v1","name":"by-a","features":{"a":{"weight":1.0},"b":{"weight":0.0}}}"#;
    let by_minus_a = r#"{"schema":"scoregate.profile/v1","name":"by-minus-a","features":{"a":{"weight":-1.0},"b":{"weight":0.0}}}"#;
    let mut rows = Vec::new();
    for (w, class) in [("w-sec", "sec"), ("w-ops", "ops")] {
        rows.push(Row::new(&format!("{w}-hit"), w, class, 5.0, 0.0, true));
        rows.push(Row::new(&format!("{w}-noise"), w, class, 1.0, 0.0, false));
    }
    rows.iter_mut().for_each(|r| r.capacity = Some(1));
    let fx = Fixture::with_profiles(&[("h.parquet", parquet_bytes(&rows))], by_a, by_minus_a);
    let (pipeline, store) = (fx.pipeline(), fx.store());
    let live = load_profile(&store, &pipeline.policy.baseline_revision).await.unwrap();
    let cand = scoregate::profile::Profile::parse("c", by_minus_a.as_bytes()).unwrap();
    let p = replay_packet(&pipeline, &store, &live, &cand, None).await.unwrap().packet;
    let class = |name: &str| {
        p.classes
            .iter()
            .find(|c| c.class == name)
            .unwrap_or_else(|| panic!("row for {name}"))
    };
    // Both classes regressed; only the protected one is listed.
    assert_eq!((class("sec").verdict, class("sec").protected), (Verdict::Regressed, true));
    assert_eq!((class("ops").verdict, class("ops").protected), (Verdict::Regressed, false));
    assert_eq!(p.protected_regressions, vec!["sec".to_string()]);
    // `ledger` is protected and has no history: it still gets its row.
    let ledger = class("ledger");
    assert!(ledger.protected);
    assert_eq!(
        (ledger.live.items, ledger.candidate.items, ledger.verdict),
        (0, 0, Verdict::Unchanged)
    );
}

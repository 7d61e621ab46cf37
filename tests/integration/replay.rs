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
    let html = render_html(&out.packet).unwrap();
    assert!(html.contains(out.digest.as_str()), "digest to approve is on the page");
    for needle in ["http://", "https://", "<script", "<link", "src="] {
        let allowed = needle == "http://" && html.matches(needle).all(|_| html.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(!html.contains(needle) || allowed, "page must not load {needle}");
    }
    let protected = html.find("<h2>Protected classes</h2>").unwrap();
    let per_class = html.find("<h2>Per-class results</h2>").unwrap();
    assert!(protected < per_class);
    assert!(html.contains("<svg"), "charts are inline SVG");
    // Per-class tables put protected classes first.
    let first_h3 = &html[per_class..];
    let signing = first_h3.find("<h3>signing-surface").unwrap();
    let tooling = first_h3.find("<h3>build-tooling").unwrap();
    assert!(signing < tooling);
}

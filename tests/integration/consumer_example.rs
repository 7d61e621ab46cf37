//! The README's library example ("Using the active profile"), compiled and
//! run: the code between the markers below is the README's, character for
//! character, and the test checks that it stays so.

// readme-example:start
use scoregate::consumer::{score_items, ActiveArtifact, ConsumerError};

/// Score a queue's items (parquet bytes) with the profile in force at `now`.
async fn score_queue(
    store_url: &str,
    items: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<arrow::record_batch::RecordBatch, ConsumerError> {
    // Read the cohort's active profile and check its embedded profiles hash to their ids.
    let active = ActiveArtifact::load(store_url, "payments-platform").await?.verified()?;
    // The bounded revision before its valid_until, its trusted fallback after.
    let in_force = active.in_force(now)?;
    // Same decoder, arithmetic, tie-break and capacity as replay: columns
    // item_id, window_id, score, rank, surfaced; the revision in the metadata.
    score_items(&in_force.profile, items, "payments-platform", 25)
}
// readme-example:end

#[test]
fn the_readme_library_example_is_this_code_and_runs() {
    let readme = std::fs::read_to_string(crate::support::repo().join("README.md")).unwrap();
    let start = readme.find("<!-- consumer-example:start -->").expect("example start marker");
    let end = readme.find("<!-- consumer-example:end -->").expect("example end marker");
    let block = readme[start..end]
        .split("```rust")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a rust block");
    let this = include_str!("consumer_example.rs");
    let code = this
        .split("// readme-example:start")
        .nth(1)
        .unwrap()
        .split("// readme-example:end")
        .next()
        .unwrap();
    assert_eq!(
        block.trim(),
        code.trim(),
        "the README's example and this test's code must be the same"
    );

    let o = crate::cycle::Ops::new();
    o.activate_sample("7d");
    o.cycle(crate::approvals::NOW, 0);
    let history = o.a.path("store/history/payments-platform");
    let first = crate::support::list_files(&history).into_iter().next().unwrap();
    let items = std::fs::read(history.join(first)).unwrap();
    let now = crate::approvals::now();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let scored = rt.block_on(score_queue(o.a.path("store").to_str().unwrap(), &items, now)).unwrap();
    assert!(scored.num_rows() > 0);
    assert_eq!(
        scored.schema().metadata().get("scoregate.revision").map(String::as_str),
        Some(crate::cycle::CANDIDATE_REV)
    );
    // Typed errors: a store without an active profile is unreadable, not a panic.
    let empty = tempfile::tempdir().unwrap();
    let err = rt.block_on(score_queue(empty.path().to_str().unwrap(), &items, now)).unwrap_err();
    assert!(matches!(err, ConsumerError::Unreadable { .. }), "{err:?}");
}

//! One storage behaviour suite, run against every backend: memory, the
//! local filesystem, and a real S3-compatible server (moto, started by
//! `.ci/run`). Each behaviour is written once over a scoregate [`Store`] and
//! instantiated per backend by the `suite!` macro at the bottom.
//!
//! S3 needs `SCOREGATE_S3_ENDPOINT` (e.g. `http://127.0.0.1:5055`) and an
//! existing bucket `SCOREGATE_S3_BUCKET` (default `scoregate-test`). Without
//! the endpoint the S3 cases print `SKIPPED` and pass, unless
//! `SCOREGATE_REQUIRE_S3=1`, which `.ci/run` sets, makes that a failure.

use crate::support::{commit, parquet_bytes, repo, Row, CANDIDATE, LIVE};
use bytes::Bytes;
use object_store::path::Path as ObjPath;
use scoregate::evidence::steward::query_for;
use scoregate::profile::stored::put_profile;
use scoregate::profile::Profile;
use scoregate::release::log::{append, LogError};
use scoregate::replay::history::{History, HistoryError};
use scoregate::store::{Store, StoreError, StoreLocation};
use std::path::Path;
use std::sync::Arc;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Memory,
    Local,
    S3,
}

pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
}

/// The S3 test server, if one is configured; `None` means skip (or fail under SCOREGATE_REQUIRE_S3=1).
pub fn s3() -> Option<S3> {
    let required = std::env::var("SCOREGATE_REQUIRE_S3").as_deref() == Ok("1");
    match std::env::var("SCOREGATE_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => {
            assert!(
                endpoint.starts_with("http://127.") || endpoint.starts_with("http://localhost"),
                "SCOREGATE_S3_ENDPOINT must be a loopback address, got {endpoint}"
            );
            Some(S3 {
                endpoint,
                bucket: std::env::var("SCOREGATE_S3_BUCKET").unwrap_or_else(|_| "scoregate-test".into()),
            })
        }
        _ if required => panic!("SCOREGATE_REQUIRE_S3=1 but SCOREGATE_S3_ENDPOINT is not set: the S3 tests cannot run"),
        _ => {
            eprintln!(
                "SKIPPED S3 storage test: set SCOREGATE_S3_ENDPOINT to a running S3-compatible server (see README, Development and tests)"
            );
            None
        }
    }
}

/// The environment a child `scoregate` needs to reach the test server; never the real cloud.
pub fn s3_env(s: &S3) -> Vec<(&'static str, String)> {
    s3_env_at(&s.endpoint)
}

/// [`s3_env`] pointing at another (loopback) endpoint.
pub fn s3_env_at(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "scoregate-test-key".into()),
        ("AWS_SECRET_ACCESS_KEY", "scoregate-test-secret-do-not-print".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("SCOREGATE_STORE_RETRIES", "1".into()),
    ]
}

/// A scoregate store on the test server, under `prefix` of the bucket.
pub fn s3_store(s: &S3, prefix: &str) -> Store {
    let inner = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&s.endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(&s.bucket)
        .with_access_key_id("scoregate-test-key")
        .with_secret_access_key("scoregate-test-secret")
        .build()
        .unwrap();
    let store = object_store::prefix::PrefixStore::new(inner, prefix);
    Store::from_object_store(Arc::new(store), format!("s3://{}/{prefix}", s.bucket))
}

/// A fresh, empty store on `backend` (a unique prefix of the bucket for S3).
pub fn open(backend: Backend) -> Option<(Store, Option<tempfile::TempDir>)> {
    let unique = scoregate::approval::manifest::new_manifest_id();
    match backend {
        Backend::Memory => Some((
            Store::open(&StoreLocation::parse(&format!("memory://suite-{unique}"), Path::new(".")).unwrap()).unwrap(),
            None,
        )),
        Backend::Local => {
            let dir = tempfile::tempdir().unwrap();
            Some((Store::open_local_dir(dir.path()).unwrap(), Some(dir)))
        }
        Backend::S3 => {
            let s = s3()?;
            let name = format!("suite-{unique}");
            let store = s3_store(&s, &name);
            Some((store, None))
        }
    }
}

async fn content_addressed_profiles_and_evidence(store: Store) {
    let p = Profile::parse("live", LIVE.as_bytes()).unwrap();
    assert!(put_profile(&store, &p).await.unwrap());
    assert!(!put_profile(&store, &p).await.unwrap(), "the same bytes again are a no-op");
    let back = scoregate::profile::stored::load_profile(&store, p.revision()).await.unwrap();
    assert_eq!(back.revision(), p.revision());
    let path = ObjPath::from(format!("evidence/c1/sha256-{}.json", scoregate::canonical::Digest::of(b"x").hex()));
    assert!(store.put_immutable(&path, Bytes::from_static(b"x")).await.unwrap());
    assert!(matches!(
        store.put_immutable(&path, Bytes::from_static(b"y")).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store.get(&ObjPath::from("profiles/nope.json")).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.get_opt(&ObjPath::from("profiles/nope.json")).await.unwrap(), None);
}

fn rows(n: usize, tag: &str) -> Vec<Row> {
    (0..n)
        .map(|i| {
            Row::new(
                &format!("{tag}{i:04}"),
                &format!("w{}", i / 7),
                ["sec", "ops", "ledger"][i % 3],
                (i % 5) as f64,
                (i % 4) as f64 * 1.5,
                i % 3 != 1,
            )
        })
        .collect()
}

async fn history_listing_and_projected_reads(store: Store) {
    // Two objects in hive partitions, plus a non-parquet marker that must be ignored.
    for (k, part) in ["date=2026-10-01", "date=2026-10-02"].iter().enumerate() {
        store
            .put(
                &ObjPath::from(format!("history/c1/{part}/part-0.parquet")),
                parquet_bytes(&rows(300, &format!("p{k}-"))),
            )
            .await
            .unwrap();
    }
    store.put(&ObjPath::from("history/c1/_SUCCESS"), Bytes::new()).await.unwrap();
    let live = Profile::parse("l", LIVE.as_bytes()).unwrap();
    let cand = Profile::parse("c", CANDIDATE.as_bytes()).unwrap();
    let h = History::read(&store, "history/c1", &query_for("c1", &[&live, &cand]), None)
        .await
        .unwrap();
    assert_eq!(h.len(), 600);
    assert_eq!(h.snapshot.objects.len(), 2);
    assert_eq!(h.snapshot.objects[0].path, "history/c1/date=2026-10-01/part-0.parquet");
    // The same bytes give the same snapshot and the same packet on every backend.
    let settings = scoregate::pipeline::ReplaySettings {
        default_capacity: 3,
        reviewer_throughput_per_hour: 2.0,
        alpha: 0.05,
    };
    let r = scoregate::replay::replay(&h, &live, &cand, &settings).unwrap();
    let packet = scoregate::evidence::Packet::build("c1", &settings, &["sec".into()], &h, &r, &live, &cand);
    let reference = Store::open(
        &StoreLocation::parse(
            &format!("memory://ref-{}", scoregate::approval::manifest::new_manifest_id()),
            Path::new("."),
        )
        .unwrap(),
    )
    .unwrap();
    for (k, part) in ["date=2026-10-01", "date=2026-10-02"].iter().enumerate() {
        reference
            .put(
                &ObjPath::from(format!("history/c1/{part}/part-0.parquet")),
                parquet_bytes(&rows(300, &format!("p{k}-"))),
            )
            .await
            .unwrap();
    }
    let h2 = History::read(&reference, "history/c1", &query_for("c1", &[&live, &cand]), None)
        .await
        .unwrap();
    let r2 = scoregate::replay::replay(&h2, &live, &cand, &settings).unwrap();
    let packet2 = scoregate::evidence::Packet::build("c1", &settings, &["sec".into()], &h2, &r2, &live, &cand);
    assert_eq!(packet.digest(), packet2.digest());
}

/// A history over the memory budget, replayed in window partitions on this
/// backend (footers by ranged reads, each object fetched again and checked
/// against the census's hash), gives the packet a whole read gives.
async fn partitioned_replay_equals_a_whole_read(store: Store) {
    use scoregate::evidence::steward::{replay_packet_with, ReadOptions};
    use scoregate::replay::history::partition::MemoryBudget;
    for k in 0..3 {
        let object = ObjPath::from(format!("history/c1/part-{k}.parquet"));
        store.put(&object, parquet_bytes(&rows(300, &format!("p{k}-")))).await.unwrap();
    }
    let live = Profile::parse("l", LIVE.as_bytes()).unwrap();
    let cand = Profile::parse("c", CANDIDATE.as_bytes()).unwrap();
    let text = crate::support::pipeline_text("unused", live.revision().as_str(), 3);
    let pipeline = scoregate::pipeline::Pipeline::from_str(Path::new("pipeline.toml"), &text).unwrap();
    let whole = replay_packet_with(&pipeline, &store, &live, &cand, None, ReadOptions::default())
        .await
        .unwrap();
    let budget = ReadOptions {
        budget: MemoryBudget { bytes: 32 << 10 },
        whole: false,
    };
    let parts = replay_packet_with(&pipeline, &store, &live, &cand, None, budget).await.unwrap();
    assert_eq!(whole.partitions, 1);
    assert!(parts.partitions > 1, "{} partitions", parts.partitions);
    assert_eq!(parts.packet_bytes, whole.packet_bytes);
}

async fn object_changed_between_list_and_read(store: Store) {
    let path = ObjPath::from("history/c1/a.parquet");
    store.put(&path, parquet_bytes(&rows(50, "a"))).await.unwrap();
    let listed = store.list(&ObjPath::from("history/c1")).await.unwrap();
    // Another writer replaces the object after the listing.
    store.put(&path, parquet_bytes(&rows(60, "b"))).await.unwrap();
    let live = Profile::parse("l", LIVE.as_bytes()).unwrap();
    let err = History::read_listed(&store, "history/c1", listed, &query_for("c1", &[&live]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, HistoryError::Store(StoreError::Changed { .. })), "{err}");
}

async fn truncated_object(store: Store) {
    let mut bytes = parquet_bytes(&rows(50, "t"));
    bytes.truncate(bytes.len() - 9);
    store.put(&ObjPath::from("history/c1/truncated.parquet"), bytes).await.unwrap();
    let live = Profile::parse("l", LIVE.as_bytes()).unwrap();
    let err = History::read(&store, "history/c1", &query_for("c1", &[&live]), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, HistoryError::Corrupt { ref object, .. } if object == "history/c1/truncated.parquet"),
        "{err}"
    );
}

async fn commit_race_has_exactly_one_winner(store: Store) {
    let tasks: Vec<_> = (0..8)
        .map(|k| {
            let store = store.clone();
            tokio::spawn(async move { append(&store, &commit(1, &format!("writer {k}"))).await })
        })
        .collect();
    let mut won = 0;
    let mut lost = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(LogError::VersionExists { seq: 1, .. }) => lost += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((won, lost), (1, 7));
    let all = scoregate::release::log::read_all(&store, "c1").await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(scoregate::release::log::chain::verify_chain("c1", &all, chrono::Duration::minutes(5)).ok());
}

async fn active_artifact_rewrite(store: Store) {
    let d = scoregate::canonical::Digest::of(b"p");
    let mut a = scoregate::release::artifacts::ActiveProfile {
        schema: scoregate::release::artifacts::ACTIVE_SCHEMA.into(),
        cohort: "c1".into(),
        seq: 1,
        commit_digest: Some(d.clone()),
        decided_at: None,
        revision: d.clone(),
        profile: serde_json::json!({"name": "one"}),
        valid_until: None,
        bounded: false,
        fallback_revision: d,
        fallback_profile: serde_json::json!({"name": "one"}),
        guardrails: None,
        manifest_id: None,
        incident: None,
    };
    scoregate::release::artifacts::put_active(&store, &a).await.unwrap();
    a.seq = 2;
    a.profile = serde_json::json!({"name": "two"});
    scoregate::release::artifacts::put_active(&store, &a).await.unwrap();
    assert_eq!(scoregate::release::artifacts::read_active(&store, "c1").await.unwrap(), Some(a));
}

async fn approvals_inbox(store: Store) {
    use scoregate::approval::signers::SignatureFile;
    let text = std::fs::read_to_string(repo().join("tests/fixtures/approvals/unsigned.toml")).unwrap();
    let m = scoregate::approval::manifest::Manifest::parse("unsigned.toml", text.as_bytes()).unwrap();
    let sig = |b: &str| SignatureFile {
        name: "x.sig".into(),
        bytes: b.as_bytes().to_vec(),
    };
    scoregate::approval::inbox::submit(&store, "c1", &m, &[sig("first")]).await.unwrap();
    // A second submission adds a second signature; the first is not duplicated.
    scoregate::approval::inbox::submit(&store, "c1", &m, &[sig("first"), sig("second")])
        .await
        .unwrap();
    let waiting = scoregate::approval::inbox::waiting(&store, "c1").await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].name, format!("approvals/c1/{}.toml", m.manifest_id));
    let mut sigs: Vec<String> = waiting[0]
        .signatures
        .iter()
        .map(|s| String::from_utf8(s.bytes.clone()).unwrap())
        .collect();
    sigs.sort();
    assert_eq!(sigs, ["first", "second"]);
    // A different manifest under a used id is refused.
    let other = text.replace("max_canary_misses = 1", "max_canary_misses = 0");
    let m2 = scoregate::approval::manifest::Manifest::parse("other.toml", other.as_bytes()).unwrap();
    assert!(matches!(
        scoregate::approval::inbox::submit(&store, "c1", &m2, &[]).await,
        Err(scoregate::approval::inbox::InboxError::IdTaken { .. })
    ));
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $case() {
                let (store, _dir) = super::open(super::Backend::Memory).unwrap();
                super::$case(store).await;
            })*
        }
        mod local {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $case() {
                let (store, _dir) = super::open(super::Backend::Local).unwrap();
                super::$case(store).await;
            })*
        }
        mod s3 {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $case() {
                let Some((store, _dir)) = super::open(super::Backend::S3) else { return };
                super::$case(store).await;
            })*
        }
    };
}

suite!(
    content_addressed_profiles_and_evidence,
    history_listing_and_projected_reads,
    partitioned_replay_equals_a_whole_read,
    object_changed_between_list_and_read,
    truncated_object,
    commit_race_has_exactly_one_winner,
    active_artifact_rewrite,
    approvals_inbox,
);

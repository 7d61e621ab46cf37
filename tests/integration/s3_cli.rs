//! scoregate against a real S3-compatible server through the binary, as an
//! operator configures it: `store = "s3://bucket/prefix"` in the pipeline,
//! credentials and endpoint from the standard AWS variables. The full
//! lifecycle once, then each way the store can fail: a missing bucket, bad
//! credentials, an unreachable endpoint and a timeout, each a clear error
//! naming the store URL, with no secret in it, and nothing changed.

use crate::approvals::{ssh_sign, Approvals, ALICE, NOW};
use crate::store_suite::{s3, s3_env, s3_env_at, s3_store, S3};
use crate::support::{list_files, repo};
use object_store::path::Path as ObjPath;
use scoregate::approval::signers::NAMESPACE;
use std::process::{Command, Output};

fn run(a: &Approvals, env: &[(&'static str, String)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_scoregate"));
    c.args(args).current_dir(a.dir.path());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn expect(o: &Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A sample pipeline whose store is `url`, with the sample store uploaded there when `upload`.
async fn s3_pipeline(a: &Approvals, s: &S3, prefix: &str, upload: bool) {
    if upload {
        let store = s3_store(s, prefix);
        let root = a.path("store");
        for f in list_files(&root) {
            store
                .put(&ObjPath::from(f.as_str()), std::fs::read(root.join(&f)).unwrap())
                .await
                .unwrap();
        }
    }
    let text = std::fs::read_to_string(&a.pipeline_path).unwrap();
    let text = text.replace("store = \"store\"", &format!("store = \"s3://{}/{prefix}\"", s.bucket));
    std::fs::write(&a.pipeline_path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_on_s3_replay_sign_submit_activate_rollback() {
    let Some(s) = s3() else { return };
    let a = Approvals::new();
    let prefix = format!("lifecycle-{}", scoregate::approval::manifest::new_manifest_id());
    s3_pipeline(&a, &s, &prefix, true).await;
    let env = s3_env(&s);
    let p = a.pipeline_path.to_str().unwrap().to_string();
    let cand = repo().join("data-samples/profiles/candidate.json");
    let out = expect(
        &run(
            &a,
            &env,
            &[
                "replay",
                "--json",
                "--pipeline",
                &p,
                "--candidate",
                cand.to_str().unwrap(),
                "--out",
                "packet.json",
            ],
        ),
        0,
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(report["stored_as"].as_str().unwrap().starts_with("evidence/payments-platform/"));
    expect(
        &run(
            &a,
            &env,
            &[
                "manifest",
                "draft",
                "--pipeline",
                &p,
                "--packet",
                "packet.json",
                "--approver",
                ALICE,
                "--out",
                "m.toml",
                "--now",
                "2026-11-02T23:00:00Z",
            ],
        ),
        0,
    );
    ssh_sign("alice", NAMESPACE, &a.path("m.toml"));
    expect(&run(&a, &env, &["manifest", "submit", "--pipeline", &p, "--now", NOW, "m.toml"]), 0);
    let r: serde_json::Value =
        serde_json::from_str(&expect(&run(&a, &env, &["cycle", "--json", "--pipeline", &p, "--now", NOW]), 0)).unwrap();
    assert_eq!(r["decision"], "activate");
    let live = "sha256:778706131e565b78efd39c43e711a9c14f13ae821d44aab3ea0ce1a5f4fd0e13";
    let s3_out = format!("s3://{}/{prefix}", s.bucket);
    expect(
        &run(
            &a,
            &env,
            &[
                "sample-data",
                "--out",
                &s3_out,
                "--rows",
                "200",
                "--seed",
                "9",
                "--live-revision",
                live,
                "--live-from",
                NOW,
                "--live-to",
                "2026-11-04T00:00:00Z",
            ],
        ),
        0,
    );
    let r: serde_json::Value = serde_json::from_str(&expect(
        &run(&a, &env, &["cycle", "--json", "--pipeline", &p, "--now", "2026-11-04T00:00:00Z"]),
        6,
    ))
    .unwrap();
    assert_eq!(r["decision"], "rollback");
    expect(&run(&a, &env, &["audit", "verify", "--pipeline", &p]), 0);
    // The objects are in the bucket, where the pipeline says.
    let store = s3_store(&s, &prefix);
    let logs = store.list(&ObjPath::from("log/payments-platform")).await.unwrap();
    assert_eq!(logs.len(), 2);
    assert!(store
        .get_opt(&ObjPath::from("active/payments-platform/profile.json"))
        .await
        .unwrap()
        .is_some());
    assert!(store
        .get_opt(&ObjPath::from("artifacts/payments-platform/00000000000000000002-rollback.json"))
        .await
        .unwrap()
        .is_some());
}

fn assert_clear_store_error(o: &Output, url: &str, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(7), "{err}");
    assert!(err.contains(url), "names the store: {err}");
    assert!(err.contains(what), "says {what:?}: {err}");
    assert!(
        !err.contains("scoregate-test-secret") && !err.contains("scoregate-test-key"),
        "no credential in: {err}"
    );
    assert!(err.lines().count() <= 2 && err.len() < 600, "short: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_bucket_is_a_clear_error_and_changes_nothing() {
    let Some(s) = s3() else { return };
    let a = Approvals::new();
    let p = a.pipeline_path.to_str().unwrap().to_string();
    let text = std::fs::read_to_string(&a.pipeline_path)
        .unwrap()
        .replace("store = \"store\"", "store = \"s3://no-such-bucket-scoregate/x\"");
    std::fs::write(&a.pipeline_path, text).unwrap();
    let cand = repo().join("data-samples/profiles/candidate.json");
    let o = run(
        &a,
        &s3_env(&s),
        &[
            "replay",
            "--pipeline",
            &p,
            "--candidate",
            cand.to_str().unwrap(),
            "--out",
            "packet.json",
        ],
    );
    assert_clear_store_error(&o, "s3://no-such-bucket-scoregate/x", "bucket or container does not exist");
    assert!(!a.path("packet.json").exists());
    let o = run(&a, &s3_env(&s), &["cycle", "--pipeline", &p, "--now", NOW]);
    assert_clear_store_error(&o, "s3://no-such-bucket-scoregate/x", "does not exist");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_credentials_are_a_clear_error() {
    let Some(s) = s3() else { return };
    // A second server that enforces authentication (moto with INITIAL_NO_AUTH_ACTION_COUNT=0).
    let Ok(auth) = std::env::var("SCOREGATE_S3_AUTH_ENDPOINT") else {
        assert!(
            std::env::var("SCOREGATE_REQUIRE_S3").as_deref() != Ok("1"),
            "SCOREGATE_REQUIRE_S3=1 needs SCOREGATE_S3_AUTH_ENDPOINT too"
        );
        eprintln!("SKIPPED bad-credentials test: set SCOREGATE_S3_AUTH_ENDPOINT to an S3 server that checks credentials");
        return;
    };
    assert!(
        auth.starts_with("http://127.") || auth.starts_with("http://localhost"),
        "loopback only"
    );
    let a = Approvals::new();
    let p = a.pipeline_path.to_str().unwrap().to_string();
    let text = std::fs::read_to_string(&a.pipeline_path)
        .unwrap()
        .replace("store = \"store\"", &format!("store = \"s3://{}/x\"", s.bucket));
    std::fs::write(&a.pipeline_path, text).unwrap();
    let env = s3_env_at(&auth);
    let o = run(&a, &env, &["status", "--pipeline", &p, "--now", NOW]);
    assert_clear_store_error(&o, &format!("s3://{}/x", s.bucket), "access denied");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_endpoint_is_a_clear_error() {
    let Some(s) = s3() else { return };
    let a = Approvals::new();
    let p = a.pipeline_path.to_str().unwrap().to_string();
    s3_pipeline(&a, &s, "unreachable", false).await;
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = s3_env_at(&format!("http://127.0.0.1:{port}"));
    let o = run(&a, &env, &["cycle", "--pipeline", &p, "--now", NOW]);
    assert_clear_store_error(&o, &format!("s3://{}/unreachable", s.bucket), "cannot reach the endpoint");
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_is_a_clear_error() {
    let Some(s) = s3() else { return };
    let a = Approvals::new();
    let p = a.pipeline_path.to_str().unwrap().to_string();
    s3_pipeline(&a, &s, "timeout", false).await;
    // A loopback server that accepts connections and never answers; it stops by itself.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let stop = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        while std::time::Instant::now() < stop {
            if let Ok((c, _)) = listener.accept() {
                held.push(c);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    let mut env = s3_env_at(&format!("http://127.0.0.1:{port}"));
    env.push(("SCOREGATE_STORE_TIMEOUT", "1s".into()));
    let started = std::time::Instant::now();
    let o = run(&a, &env, &["status", "--pipeline", &p, "--now", NOW]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "bounded by the configured timeout"
    );
    assert_clear_store_error(&o, &format!("s3://{}/timeout", s.bucket), "timed out");
    drop(holder);
}

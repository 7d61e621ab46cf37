//! A tamper-evident log and fail-safe paths back to trusted, each test named
//! after a finding of the black-box attack harness: a cut-back or forged log
//! is refused, never laundered; hostile listings cost bounded work; the way
//! back needs only the log and the trusted profile; no panic reaches a user.

use crate::approvals::{keys, public, ssh_sign, ALICE, BOB, NOW};
use crate::cycle::{Ops, BASELINE_REV, CANDIDATE_REV};
use crate::support::{list_files, repo};
use scoregate::approval::signers::NAMESPACE;
use scoregate::release::artifacts::ActiveProfile;
use std::process::{Command, Stdio};

/// Activate the sample candidate for 7 days at NOW (commit 1).
fn activated() -> Ops {
    let o = Ops::new();
    o.activate_sample("7d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    o.quiet_live_use();
    o
}

fn log_dir(o: &Ops) -> std::path::PathBuf {
    o.a.path("store/log/payments-platform")
}

fn audit(o: &Ops) -> (Option<i32>, String) {
    let out = o.run(&["audit", "verify", "--pipeline", &o.p()]);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn code(o: &Ops, args: &[&str]) -> Option<i32> {
    o.run(args).status.code()
}

#[test]
fn deleting_the_head_commit_is_refused_not_laundered() {
    let o = activated();
    let p = o.p();
    o.ok(
        &["rollback", "--pipeline", &p, "--reason", "drill", "--now", "2026-11-03T01:00:00Z"],
        6,
    );
    o.audit_ok();
    // Deleting the break-glass commit would bring the bounded revision back.
    std::fs::remove_file(log_dir(&o).join(format!("{:020}.json", 2))).unwrap();
    let before = crate::bad_input::tree_digest(&o.a.path("store"));
    let out = o.run(&["cycle", "--pipeline", &p, "--now", "2026-11-03T02:00:00Z"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cut back"));
    assert_eq!(before, crate::bad_input::tree_digest(&o.a.path("store")), "nothing written");
    assert_eq!(o.active().revision.as_str(), BASELINE_REV, "the baseline stays active");
    let (c, report) = audit(&o);
    assert_eq!(c, Some(8));
    assert!(report.contains("the log was cut back"), "{report}");
}

#[test]
fn a_hand_written_activate_commit_without_a_manifest_is_refused() {
    let o = Ops::new();
    let p = o.p();
    // A canonical activate commit nobody signed: a 2030 window, guardrails of 999.
    let mut c = crate::support::commit(1, "looks legitimate");
    c.cohort = "payments-platform".into();
    c.decision = scoregate::release::log::Decision::Activate;
    c.prior_revision = scoregate::canonical::Digest::parse(BASELINE_REV).unwrap();
    c.trusted_revision = scoregate::canonical::Digest::parse(BASELINE_REV).unwrap();
    c.live_revision = scoregate::canonical::Digest::parse(CANDIDATE_REV).unwrap();
    c.valid_until = Some("2030-01-01T00:00:00Z".parse().unwrap());
    c.activated_at = Some(c.now);
    c.guardrails = Some(scoregate::pipeline::Guardrails {
        max_protected_misses: 999,
        max_protected_signoff_p90_hours: 999.0,
        max_canary_misses: 999,
    });
    c.live_manifest_id = Some("forged".into());
    std::fs::create_dir_all(log_dir(&o)).unwrap();
    std::fs::write(log_dir(&o).join(format!("{:020}.json", 1)), c.to_bytes()).unwrap();
    let before = crate::bad_input::tree_digest(&o.a.path("store"));
    let out = o.run(&["cycle", "--pipeline", &p, "--now", "2026-11-03T02:00:00Z"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without a signed manifest"));
    assert_eq!(
        before,
        crate::bad_input::tree_digest(&o.a.path("store")),
        "no artifact, no active profile"
    );
    let (c, report) = audit(&o);
    assert_eq!(c, Some(8));
    assert!(report.contains("without a signed manifest"), "{report}");
    // audit log names the problems first and exits 8.
    let out = o.run(&["audit", "log", "--pipeline", &p]);
    assert_eq!(out.status.code(), Some(8));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("payments-platform: THE LOG DOES NOT VERIFY"));
}

#[test]
fn hostile_log_object_names_cost_one_problem_each() {
    let o = activated();
    let p = o.p();
    for name in ["18446744073709551615.json", "00000000001000000000.json"] {
        std::fs::write(log_dir(&o).join(name), b"{}").unwrap();
        let started = std::time::Instant::now();
        let out = o.run(&["audit", "verify", "--pipeline", &p]);
        assert_eq!(out.status.code(), Some(8));
        assert!(out.stdout.len() < 4096, "{name}: {} bytes of output", out.stdout.len());
        assert!(String::from_utf8_lossy(&out.stdout).contains("are missing"), "{name}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{name}: bounded work");
        assert_eq!(code(&o, &["cycle", "--pipeline", &p, "--now", "2026-11-03T02:00:00Z"]), Some(3));
        assert_eq!(code(&o, &["status", "--pipeline", &p, "--now", "2026-11-03T02:00:00Z"]), Some(3));
        std::fs::remove_file(log_dir(&o).join(name)).unwrap();
    }
    // An object too large to be a commit is listed, never read whole.
    std::fs::write(log_dir(&o).join(format!("{:020}.json", 2)), vec![b' '; 2 << 20]).unwrap();
    let (c, report) = audit(&o);
    assert_eq!(c, Some(8));
    assert!(report.contains("limit"), "{report}");
}

/// Corrupt the live bounded revision's stored profile.
fn corrupt_bounded_profile(o: &Ops, how: &str) {
    let path = o.a.path(&format!("store/profiles/sha256-{}.json", &CANDIDATE_REV[7..]));
    match how {
        "delete" => std::fs::remove_file(path).unwrap(),
        _ => std::fs::write(path, b"{\"not\": \"the profile\"}").unwrap(),
    }
}

#[test]
fn lapsed_window_expires_when_the_bounded_profile_is_unreadable() {
    let o = activated();
    corrupt_bounded_profile(&o, "edit");
    let r = o.cycle("2026-11-11T00:00:00Z", 6);
    assert_eq!(r["decision"], "expire");
    let active = o.active();
    assert_eq!((active.revision.as_str(), active.bounded), (BASELINE_REV, false));
    o.audit_ok();
}

#[test]
fn break_glass_restores_when_the_bounded_profile_is_deleted() {
    let o = activated();
    corrupt_bounded_profile(&o, "delete");
    o.ok(
        &[
            "rollback",
            "--pipeline",
            &o.p(),
            "--reason",
            "profile lost",
            "--now",
            "2026-11-03T05:00:00Z",
        ],
        6,
    );
    assert_eq!(o.active().revision.as_str(), BASELINE_REV);
}

#[test]
fn lapsed_window_expires_when_the_history_is_unreadable() {
    let o = activated();
    let history = o.a.path("store/history/payments-platform");
    let first = list_files(&history).into_iter().next().unwrap();
    std::fs::write(history.join(first), b"PAR1 not parquet").unwrap();
    let r = o.cycle("2026-11-11T00:00:00Z", 6);
    assert_eq!(r["decision"], "expire");
    assert!(
        r["reasons"].to_string().contains("guardrail readings unavailable"),
        "{}",
        r["reasons"]
    );
}

#[test]
fn submit_writes_signatures_before_the_manifest() {
    let a = crate::approvals::Approvals::new();
    let file = a.signed(&a.input());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let hooked = crate::support::Hooked::copy_of(&a.path("store"), None).await;
        let sub = scoregate::approval::inbox::read_local(file.to_str().unwrap()).await.unwrap();
        let m = sub.parse().unwrap();
        scoregate::approval::inbox::submit(&hooked.store(), "payments-platform", &m, &sub.signatures)
            .await
            .unwrap();
        let writes = hooked.writes();
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert!(writes[0].ends_with(".toml.sig"), "{writes:?}");
        assert!(
            writes[1].ends_with(&format!("{}.toml", m.manifest_id)),
            "the manifest comes last: {writes:?}"
        );
    });
}

#[test]
fn a_manifest_short_of_signers_waits_and_each_signer_submits_their_own_sig() {
    let o = Ops::new();
    o.a.set_pipeline("required_signers = 1", "required_signers = 2");
    o.a.allowed(&format!("{ALICE} {}\n{BOB} {}\n", public("alice"), public("bob")));
    let p = o.p();
    let packet = format!("store/evidence/payments-platform/sha256-{}.json", o.a.packet().digest().hex());
    let draft = [
        "manifest",
        "draft",
        "--pipeline",
        &p,
        "--packet",
        &packet,
        "--window",
        "7d",
        "--approver",
        ALICE,
        "--approver",
        BOB,
        "--out",
        "m.toml",
        "--now",
        "2026-11-02T23:00:00Z",
    ];
    o.ok(&draft, 0);
    // Alice signs and submits: one of two, it waits (not rejected).
    ssh_sign("alice", NAMESPACE, &o.a.path("m.toml"));
    let out = o.ok(&["manifest", "submit", "--pipeline", &p, "--now", NOW, "m.toml"], 0);
    assert!(out.contains("1 of 2 required signers"), "{out}");
    let r = o.cycle(NOW, 0);
    assert!(r["decision"].is_null(), "{r}");
    assert_eq!(r["waiting"].as_array().unwrap().len(), 1);
    // Bob signs his own copy; ssh-keygen names it m.toml.sig as well.
    let bob = o.a.path("bob");
    std::fs::create_dir_all(&bob).unwrap();
    std::fs::copy(o.a.path("m.toml"), bob.join("m.toml")).unwrap();
    ssh_sign("bob", NAMESPACE, &bob.join("m.toml"));
    o.ok(&["manifest", "submit", "--pipeline", &p, "--now", NOW, "bob/m.toml"], 0);
    let inbox = list_files(&o.a.path("store/approvals/payments-platform"));
    assert_eq!(inbox.iter().filter(|f| f.ends_with(".sig")).count(), 2, "{inbox:?}");
    let r = o.cycle(NOW, 0);
    assert_eq!(r["decision"], "activate");
    let art = o.artifact(1, scoregate::release::log::Decision::Activate);
    assert_eq!(art.signers, vec![ALICE.to_string(), BOB.to_string()]);
    assert_eq!(art.signatures.len(), 2, "both signature files are kept");
    o.audit_ok();
    assert!(keys().join("bob").exists());
}

#[test]
fn corrupt_parquet_is_a_clear_error_not_a_panic() {
    let o = Ops::new();
    let target = o.a.path("store/history/payments-platform/date=2026-10-31/broken.parquet");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    // Two bytes changed in a pyarrow file make arrow-buffer 60 panic
    // ("offset + len out of bounds") inside the parquet reader.
    std::fs::copy(repo().join("tests/fixtures/corrupt/arrow-bitmap-offset-panic.parquet"), &target).unwrap();
    let cand = o.candidate();
    let out = o.run(&[
        "replay",
        "--no-store",
        "--pipeline",
        &o.p(),
        "--candidate",
        cand.to_str().unwrap(),
        "--out",
        "x/p.json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("broken.parquet") && stderr.contains("not readable parquet"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Run with stdout closed before anything is written; returns (exit code, stderr).
fn with_closed_stdout(o: &Ops, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scoregate"))
        .args(args)
        .current_dir(o.a.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn closed_stdout_ends_quietly_with_the_commands_own_code() {
    let o = activated();
    o.live_history(CANDIDATE_REV, NOW, "2026-11-04T00:00:00Z", "200");
    let p = o.p();
    let (c, err) = with_closed_stdout(&o, &["cycle", "--json", "--pipeline", &p, "--now", "2026-11-04T00:00:00Z"]);
    assert_eq!((c, err.as_str()), (Some(6), ""), "the rollback's own code, nothing on stderr");
    assert_eq!(o.active().revision.as_str(), BASELINE_REV, "and the rollback happened");
    let (c, err) = with_closed_stdout(&o, &["audit", "log", "--json", "--pipeline", &p]);
    assert_eq!((c, err.as_str()), (Some(0), ""));
}

#[test]
fn manifest_draft_refuses_to_overwrite_with_exit_3() {
    let o = Ops::new();
    std::fs::write(o.a.path("m.toml"), "signed by someone already").unwrap();
    let packet = format!("store/evidence/payments-platform/sha256-{}.json", o.a.packet().digest().hex());
    let out = o.run(&[
        "manifest",
        "draft",
        "--pipeline",
        &o.p(),
        "--packet",
        &packet,
        "--window",
        "7d",
        "--approver",
        ALICE,
        "--out",
        "m.toml",
        "--now",
        "2026-11-02T23:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));
    assert_eq!(std::fs::read_to_string(o.a.path("m.toml")).unwrap(), "signed by someone already");
}

#[test]
fn audit_verify_catches_an_edited_active_profile_and_an_edited_decision_artifact() {
    let o = activated();
    let active = o.a.path("store/active/payments-platform/profile.json");
    let original = std::fs::read(&active).unwrap();
    let mut a: ActiveProfile = serde_json::from_slice(&original).unwrap();
    a.profile["features"]["blast_radius"]["weight"] = serde_json::json!(0.0);
    std::fs::write(&active, serde_json::to_vec(&a).unwrap()).unwrap();
    let (c, report) = audit(&o);
    assert_eq!(c, Some(8));
    assert!(report.contains("`profile` hashes to"), "{report}");
    std::fs::write(&active, &original).unwrap();
    o.audit_ok();
    let artifact = o.a.path("store/artifacts/payments-platform/00000000000000000001-activate.json");
    let text = std::fs::read_to_string(&artifact).unwrap();
    std::fs::write(&artifact, text.replace("max_canary_misses = 3", "max_canary_misses = 30")).unwrap();
    let (c, report) = audit(&o);
    assert_eq!(c, Some(8));
    assert!(report.contains("keeps manifest text hashing to"), "{report}");
}

#[test]
fn a_deleted_key_line_makes_old_approvals_no_longer_verifiable() {
    let o = activated();
    // Retiring the key with valid-before after the approval keeps it verifiable.
    o.a.allowed(&format!("{ALICE} valid-before=\"20261105Z\" {}\n", public("alice")));
    o.audit_ok();
    // Deleting the line does not.
    o.a.allowed(&format!("{BOB} {}\n", public("bob")));
    let (c, report) = audit(&o);
    assert_eq!(c, Some(8));
    assert!(
        report.contains("no longer verifiable") && report.contains("valid-before"),
        "{report}"
    );
}

#[test]
fn rollback_on_a_broken_log_restores_the_baseline_and_records_an_incident() {
    let o = activated();
    std::fs::write(log_dir(&o).join(format!("{:020}.json", 3)), b"{}").unwrap();
    let out = o.ok(
        &[
            "rollback",
            "--pipeline",
            &o.p(),
            "--reason",
            "log damaged",
            "--now",
            "2026-11-03T05:00:00Z",
        ],
        6,
    );
    assert!(out.contains("the log is broken") && out.contains("incident record"), "{out}");
    let active = o.active();
    assert_eq!((active.revision.as_str(), active.bounded), (BASELINE_REV, false));
    let incident = active.incident.expect("the active profile names its incident");
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(o.a.path(&format!("store/{incident}"))).unwrap()).unwrap();
    assert_eq!(record["actor"], "oncall-dana");
    assert_eq!(record["restored_revision"], BASELINE_REV);
    assert!(record["problem"].as_str().unwrap().contains("gap"), "{record}");
}

/// The README's recovery procedure, run as written.
#[test]
fn the_readme_recovery_procedure_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme.find("<!-- recovery:start -->").expect("recovery start marker");
    let end = readme.find("<!-- recovery:end -->").expect("recovery end marker");
    let script = readme[start..end]
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block");
    let o = activated();
    // The break: a commit object overwritten.
    std::fs::write(log_dir(&o).join(format!("{:020}.json", 1)), b"{}").unwrap();
    assert_eq!(code(&o, &["cycle", "--pipeline", &o.p(), "--now", "2026-11-03T04:00:00Z"]), Some(3));
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_scoregate"))
        .parent()
        .unwrap()
        .to_path_buf();
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(o.a.dir.path())
        .env(
            "PATH",
            format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default()),
        )
        .env("P", o.a.pipeline_path.to_str().unwrap())
        .env("STORE", o.a.path("store"))
        .env("COHORT", "payments-platform")
        .env("NOW", "2026-11-03T05:00:00Z")
        .env("USER", "oncall-dana")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "recovery failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Afterwards the log starts again from the baseline and verifies.
    assert_eq!(o.active().revision.as_str(), BASELINE_REV);
    o.audit_ok();
    assert_eq!(code(&o, &["cycle", "--pipeline", &o.p(), "--now", "2026-11-03T06:00:00Z"]), Some(0));
}

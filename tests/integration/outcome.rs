//! After release, through the binary: outcome reports (their numbers against
//! a recount from the rows, the copy written at each window's end, the
//! `report` command), promotion, and check 11 `outcome`, one fixture per
//! way a bound report can be wrong.

use crate::approvals::{ssh_sign, ALICE, NOW};
use crate::cycle::{Ops, BASELINE_REV, CANDIDATE_REV};
use crate::support::repo;
use scoregate::approval::signers::NAMESPACE;
use scoregate::release::log::Decision;

const REPORTS: &str = "store/reports/payments-platform";
const PROTECTED: [&str; 3] = ["signing-surface", "high-blast-radius", "payments-ledger"];

/// The sample activated at NOW for 2 days, with two days of trusted
/// (baseline) rows before it and a day of quiet live use after it (within
/// every guardrail for the two days of its window).
fn activated_with_history() -> Ops {
    let o = Ops::new();
    o.live_history_seeded(BASELINE_REV, "2026-11-01T00:00:00Z", NOW, "400", "21");
    o.activate_sample("2d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    o.quiet_live_use();
    o
}

fn report_json(o: &Ops, extra: &[&str]) -> serde_json::Value {
    let p = o.p();
    let mut args = vec!["report", "--json", "--pipeline", &p];
    args.extend(extra);
    serde_json::from_str(&o.ok(&args, 0)).unwrap()
}

/// (items, board overrides, misses, missed actionable, windows) of the rows of
/// `revision` queued in [from, to] (`to` excluded when `open`), recounted from the parquet.
fn recount(o: &Ops, revision: &str, from: &str, to: &str, open: bool, protected_only: bool) -> [u64; 5] {
    let h = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(scoregate::release::readings::live_history(&o.a.pipeline(), &o.a.store()))
        .unwrap();
    let live = h.live.as_ref().unwrap();
    let rev = live.revisions.iter().position(|r| r == revision).unwrap() as u32;
    let us = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros();
    let (from, to) = (us(from), us(to));
    let mut out = [0u64; 5];
    let mut windows = std::collections::BTreeSet::new();
    for i in 0..h.len() {
        let Some(q) = live.queued_at[i] else { continue };
        let class = h.classes[h.class[i] as usize].as_str();
        if live.live_revision[i] != rev || q < from || q > to || (open && q == to) || (protected_only && !PROTECTED.contains(&class)) {
            continue;
        }
        out[0] += 1;
        out[1] += h.board_override[i] as u64;
        out[2] += h.missed[i] as u64;
        out[3] += (h.missed[i] && h.actionable[i]) as u64;
        windows.insert(h.window[i]);
    }
    out[4] = windows.len() as u64;
    out
}

fn counts(c: &serde_json::Value) -> [u64; 5] {
    ["items", "board_overrides", "misses", "missed_actionable", "windows"].map(|k| c[k].as_u64().unwrap())
}

#[test]
fn the_report_of_a_running_window_counts_what_a_recount_of_the_rows_finds() {
    let o = activated_with_history();
    // More live use: 80 rows in 3 review windows, so that there are intervals.
    o.live_history_seeded(CANDIDATE_REV, NOW, "2026-11-04T00:00:00Z", "80", "9");
    let end = "2026-11-04T00:00:00Z";
    let r = report_json(&o, &["--now", end]);
    assert_eq!(r["schema"], "scoregate.outcome/v1");
    assert_eq!(r["revision"], CANDIDATE_REV);
    assert_eq!(r["trusted_revision"], BASELINE_REV);
    assert!(r["window"]["ended_by"].is_null(), "still live");
    // A day live; the reference is the day before activation.
    assert_eq!(r["reference"]["from"], "2026-11-02T00:00:00Z");
    let group = |name: &str| r["groups"].as_array().unwrap().iter().find(|g| g["group"] == name).unwrap().clone();
    let (all, protected) = (group("*"), group("protected"));
    assert_eq!(counts(&all["live"]), recount(&o, CANDIDATE_REV, NOW, end, false, false));
    assert_eq!(counts(&protected["live"]), recount(&o, CANDIDATE_REV, NOW, end, false, true));
    let reference = recount(&o, BASELINE_REV, "2026-11-02T00:00:00Z", NOW, true, false);
    assert_eq!(counts(&all["reference"]), reference);
    assert!(reference[0] > 100 && reference[4] >= 2, "{reference:?}");
    assert_eq!(counts(&all["live"])[4], 3, "live use spans 3 review windows");
    // Rates per 1,000 and the change between them.
    let rate = |c: &serde_json::Value, k: &str| c[format!("{k}_per_1000")].as_f64().unwrap();
    for (i, k) in ["board_overrides", "misses", "missed_actionable"].iter().enumerate() {
        let live = counts(&all["live"]);
        assert!((rate(&all["live"], k) - live[i + 1] as f64 * 1000.0 / live[0] as f64).abs() < 1e-9);
        let change = &all["changes"][i];
        assert_eq!(change["measure"], *k);
        let delta = change["delta_per_1000"].as_f64().unwrap();
        assert!((delta - (rate(&all["live"], k) - rate(&all["reference"], k))).abs() < 1e-9);
        let (low, high) = (
            change["interval"]["low"].as_f64().unwrap(),
            change["interval"]["high"].as_f64().unwrap(),
        );
        assert!(low <= delta && delta <= high, "{change}");
    }
    // The guardrail readings are the cycle's own.
    let status: serde_json::Value = serde_json::from_str(&o.ok(&["status", "--json", "--pipeline", &o.p(), "--now", end], 0)).unwrap();
    assert_eq!(r["guardrails"], status["triggers"]);
    assert_eq!(r["breached"], false);
    assert_eq!(r["data"]["sufficient"], true);
    // The table says the same in words.
    let text = o.ok(&["report", "--pipeline", &o.p(), "--now", end], 0);
    assert!(
        text.contains("still live") && text.contains("enough to judge") && text.contains("missed_actionable"),
        "{text}"
    );
}

#[test]
fn a_windows_end_writes_its_report_beside_the_commit_and_report_seq_makes_the_same_bytes() {
    let o = activated_with_history();
    assert_eq!(o.cycle("2026-11-04T23:00:00Z", 6)["decision"], "expire");
    let written = std::fs::read(o.a.path(&format!("{REPORTS}/00000000000000000002-outcome.json"))).unwrap();
    let html = std::fs::read_to_string(o.a.path(&format!("{REPORTS}/00000000000000000002-outcome.html"))).unwrap();
    assert!(
        html.contains("Outcome of a bounded release") && html.contains("ended by expire"),
        "{html}"
    );
    o.ok(
        &[
            "report",
            "--pipeline",
            &o.p(),
            "--seq",
            "2",
            "--out",
            "again.json",
            "--html",
            "again.html",
        ],
        0,
    );
    assert_eq!(
        std::fs::read(o.a.path("again.json")).unwrap(),
        written,
        "deterministic for the same inputs"
    );
    let r: serde_json::Value = serde_json::from_slice(&written).unwrap();
    assert_eq!(
        (r["window"]["ended_by"].as_str(), r["window"]["seq"].as_u64()),
        (Some("expire"), Some(2))
    );
    // With nothing live, the default is the last window that ended.
    assert_eq!(report_json(&o, &[])["window"]["seq"], 2);
    // A commit that ends no window has no report.
    let out = o.run(&["report", "--pipeline", &o.p(), "--seq", "1"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("commit 1 is a activate, which ends no bounded window"));
    o.audit_ok();
}

#[test]
fn a_report_naming_a_commit_beyond_the_head_means_the_log_was_cut_back() {
    let o = activated_with_history();
    std::fs::create_dir_all(o.a.path(REPORTS)).unwrap();
    std::fs::write(o.a.path(&format!("{REPORTS}/00000000000000000009-outcome.json")), b"{}").unwrap();
    let out = o.run(&["audit", "verify", "--pipeline", &o.p()]);
    assert_eq!(out.status.code(), Some(8));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("names commit 9, but the log ends at 1"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The cycle refuses instead of acting on a cut-back log.
    assert_eq!(
        o.run(&["cycle", "--pipeline", &o.p(), "--now", "2026-11-04T00:00:00Z"])
            .status
            .code(),
        Some(3)
    );
}

#[test]
fn promote_makes_the_bounded_revision_trusted_and_the_rollback_target_of_later_approvals() {
    let o = activated_with_history();
    let at = "2026-11-04T12:00:00Z";
    let manifest = o.approve("promote", "promote", Some(&o.candidate()), at, "1d", at);
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        text.contains("outcome_digest = \"sha256:") && !text.contains("[guardrails]"),
        "{text}"
    );
    let r = o.cycle(at, 0);
    assert_eq!(r["decision"], "promote", "{r}");
    let active = o.active();
    assert_eq!(active.revision.as_str(), CANDIDATE_REV);
    assert_eq!(active.fallback_revision.as_str(), CANDIDATE_REV);
    assert!(!active.bounded && active.valid_until.is_none() && active.guardrails.is_none());
    let c = &o.commits()[1];
    assert_eq!((c.decision, c.trusted_revision.as_str()), (Decision::Promote, CANDIDATE_REV));
    let bound = c.outcome_digest.clone().expect("the promotion binds its report");
    assert!(o.a.path(&format!("{REPORTS}/sha256-{}.json", bound.hex())).exists());
    assert!(o.a.path(&format!("{REPORTS}/00000000000000000002-outcome.json")).exists());
    let art = o.artifact(2, Decision::Promote);
    assert_eq!(art.signers, vec![ALICE.to_string()]);
    assert!(art.manifest.unwrap().contains("action = \"promote\""));
    // The old window's end passes: nothing expires.
    assert!(o.cycle("2026-11-05T00:00:00Z", 0)["decision"].is_null());
    o.audit_ok();
    let stats: serde_json::Value = serde_json::from_str(&o.ok(
        &["audit", "stats", "--json", "--pipeline", &o.p(), "--now", "2026-11-05T00:00:00Z"],
        0,
    ))
    .unwrap();
    assert_eq!(stats["windows"][0]["ending"], "promoted");
    // A later activation (the old baseline as the candidate) falls back to the promoted revision.
    let old = repo().join("data-samples/profiles/live.json");
    let later = "2026-11-05T00:00:00Z";
    let p = o.p();
    let old = old.to_str().unwrap();
    o.ok(&["replay", "--pipeline", &p, "--candidate", old, "--out", "later-packet.json"], 0);
    let draft = [
        "manifest",
        "draft",
        "--pipeline",
        &p,
        "--window",
        "2d",
        "--now",
        later,
        "--approver",
        ALICE,
        "--packet",
        "later-packet.json",
        "--out",
        "later.toml",
        "--no-early-checks",
    ];
    o.ok(&draft, 0);
    let file = o.a.path("later.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&format!("rollback_revision = \"{CANDIDATE_REV}\"")), "{text}");
    // The old baseline misses more protected items than the promoted revision: acknowledged.
    let acknowledged = "acknowledged_regressions = [\"high-blast-radius\", \"payments-ledger\", \"signing-surface\"]";
    std::fs::write(&file, text.replace("acknowledged_regressions = []", acknowledged)).unwrap();
    ssh_sign("alice", NAMESPACE, &file);
    o.ok(&["manifest", "submit", "--pipeline", &p, "--now", later, "later.toml"], 0);
    assert_eq!(o.cycle(later, 0)["decision"], "activate");
    assert_eq!(o.active().fallback_revision.as_str(), CANDIDATE_REV);
    o.audit_ok();
}

/// A renewal drafted at `at` (no early checks), its text changed by `edit`
/// before Alice signs it, then `manifest verify` at `verify_at`: check 11.
fn check_11(o: &Ops, at: &str, verify_at: &str, extra: &[&str], edit: &dyn Fn(String) -> String) -> serde_json::Value {
    let p = o.p();
    o.honest_packet("r-packet.json");
    let mut draft = vec![
        "manifest",
        "draft",
        "--pipeline",
        &p,
        "--action",
        "renew",
        "--window",
        "2d",
        "--not-before",
        at,
        "--now",
        at,
        "--approver",
        ALICE,
        "--packet",
        "r-packet.json",
        "--out",
        "r.toml",
        "--no-early-checks",
    ];
    draft.extend(extra);
    o.ok(&draft, 0);
    let file = o.a.path("r.toml");
    std::fs::write(&file, edit(std::fs::read_to_string(&file).unwrap())).unwrap();
    ssh_sign("alice", NAMESPACE, &file);
    let out = o.run(&["manifest", "verify", "--json", "--pipeline", &p, "--now", verify_at, "r.toml"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = v["verification"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "outcome")
        .unwrap()
        .clone();
    assert_eq!(check["number"], 11);
    check
}

fn failed_with(check: &serde_json::Value, words: &str) {
    assert_eq!(check["outcome"], "failed", "{check}");
    assert!(check["detail"].as_str().unwrap().contains(words), "{check}");
}

const AT: &str = "2026-11-04T00:00:00Z";

#[test]
fn check_11_passes_an_honest_report() {
    let o = activated_with_history();
    let check = check_11(&o, AT, AT, &[], &|t| t);
    assert_eq!(check["outcome"], "passed", "{check}");
}

#[test]
fn check_11_fails_a_renewal_without_outcome_digest() {
    let o = activated_with_history();
    let strip = |t: String| {
        t.lines()
            .filter(|l| !l.starts_with("outcome_digest"))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    failed_with(&check_11(&o, AT, AT, &[], &strip), "no outcome_digest");
}

#[test]
fn check_11_fails_a_report_that_is_not_stored() {
    let o = activated_with_history();
    let elsewhere = format!("outcome_digest = \"{}\"", scoregate::canonical::Digest::of(b"nothing"));
    let swap = move |t: String| {
        t.lines()
            .map(|l| {
                if l.starts_with("outcome_digest") {
                    elsewhere.clone()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    failed_with(
        &check_11(&o, AT, AT, &[], &swap),
        "no outcome report stored at reports/payments-platform/sha256-",
    );
}

#[test]
fn check_11_fails_a_stored_report_edited_after_binding() {
    let o = activated_with_history();
    let check = check_11(&o, AT, AT, &[], &|t| {
        let digest = t
            .lines()
            .find_map(|l| l.strip_prefix("outcome_digest = \"sha256:"))
            .unwrap()
            .trim_end_matches('"')
            .to_string();
        let path = o.a.path(&format!("{REPORTS}/sha256-{digest}.json"));
        let edited = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"breached\":false", "\"breached\":true");
        std::fs::write(&path, edited).unwrap();
        t
    });
    failed_with(&check, "its bytes hash to");
}

#[test]
fn check_11_fails_a_report_with_a_breached_guardrail() {
    let o = activated_with_history();
    let mut r = report_json(&o, &["--now", AT]);
    r["guardrails"][0]["breached"] = true.into();
    r["guardrails"][0]["reading"] = 7.0.into();
    std::fs::write(o.a.path("breached.json"), r.to_string()).unwrap();
    let check = check_11(&o, AT, AT, &["--outcome", "breached.json"], &|t| t);
    failed_with(&check, "report shows max_protected_misses breached: reading 7 > threshold");
}

#[test]
fn check_11_fails_a_report_about_another_revision_or_window() {
    let o = activated_with_history();
    let mut r = report_json(&o, &["--now", AT]);
    r["revision"] = BASELINE_REV.into();
    r["trusted_revision"] = CANDIDATE_REV.into();
    r["window"]["activated_at"] = "2026-11-01T00:00:00Z".into();
    std::fs::write(o.a.path("other.json"), r.to_string()).unwrap();
    let check = check_11(&o, AT, AT, &["--outcome", "other.json"], &|t| t);
    failed_with(&check, "not the live bounded revision");
    failed_with(&check, "report covers a window activated at 2026-11-01T00:00:00Z, not the live one");
    failed_with(
        &check,
        &format!("report compares with {CANDIDATE_REV}, not the trusted fallback {BASELINE_REV}"),
    );
}

#[test]
fn check_11_fails_a_report_from_the_future() {
    let o = activated_with_history();
    let r = report_json(&o, &["--now", "2026-11-04T12:00:00Z"]);
    std::fs::write(o.a.path("future.json"), r.to_string()).unwrap();
    let check = check_11(&o, AT, AT, &["--outcome", "future.json"], &|t| t);
    failed_with(&check, "report ends 2026-11-04T12:00:00Z, after now 2026-11-04T00:00:00Z");
}

#[test]
fn check_11_fails_a_report_marked_breached_without_a_reading() {
    let o = activated_with_history();
    let mut r = report_json(&o, &["--now", AT]);
    r["breached"] = true.into();
    std::fs::write(o.a.path("marked.json"), r.to_string()).unwrap();
    failed_with(
        &check_11(&o, AT, AT, &["--outcome", "marked.json"], &|t| t),
        "report marks a guardrail breached",
    );
}

#[test]
fn check_11_fails_a_stale_report() {
    let o = activated_with_history();
    // The report ends at AT; eight days later it is older than max_evidence_age (7 days).
    let check = check_11(&o, AT, "2026-11-12T00:00:00Z", &[], &|t| t);
    failed_with(
        &check,
        "report ends 2026-11-04T00:00:00Z, 8days before now; the pipeline allows 7days",
    );
}

#[test]
fn check_11_fails_a_blind_window() {
    let o = Ops::new();
    o.activate_sample("2d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    failed_with(
        &check_11(&o, AT, AT, &[], &|t| t),
        "fewer than min_live_items 1: the window is blind",
    );
}

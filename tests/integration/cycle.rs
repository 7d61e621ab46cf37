//! The scheduled cycle on real files and real OpenSSH signatures: the whole
//! lifecycle through the binary as an operator runs it, then TUF-style
//! adversarial cases (replays, stale approvals, clocks going backwards,
//! racing cycles, edited or deleted commits, crashes between commit and
//! artifact).

use crate::approvals::{keys, ssh_sign, Approvals, ALICE, NOW};
use crate::support::{list_files, repo};
use scoregate::approval::signers::NAMESPACE;
use scoregate::release::artifacts::{ActiveProfile, DecisionArtifact};
use scoregate::release::log::{Commit, Decision};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const CANDIDATE_REV: &str = "sha256:778706131e565b78efd39c43e711a9c14f13ae821d44aab3ea0ce1a5f4fd0e13";
pub const BASELINE_REV: &str = "sha256:fd54123f43f16add623e8858aa6cca7b4a434e1da58560745e5a60cc6fa96b0d";

pub struct Ops {
    pub a: Approvals,
}

impl Ops {
    pub fn new() -> Ops {
        Ops { a: Approvals::new() }
    }
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_scoregate"))
            .args(args)
            .current_dir(self.a.dir.path())
            .env("USER", "oncall-dana")
            .output()
            .unwrap()
    }
    pub fn ok(&self, args: &[&str], code: i32) -> String {
        let o = self.run(args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    pub fn p(&self) -> String {
        self.a.pipeline_path.to_str().unwrap().to_string()
    }
    pub fn cycle(&self, now: &str, code: i32) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["cycle", "--json", "--pipeline", &self.p(), "--now", now], code)).unwrap()
    }
    /// replay → draft → ssh-keygen sign → submit, as a steward and a release manager would.
    pub fn approve(&self, name: &str, action: &str, candidate: Option<&Path>, not_before: &str, window: &str, drafted_at: &str) -> PathBuf {
        self.approve_with(name, action, candidate, not_before, window, drafted_at, true)
    }
    /// [`Ops::approve`] with `--no-early-checks` on draft and submit: a
    /// manifest the cycle must reject on its own.
    pub fn approve_anyway(&self, name: &str, action: &str, not_before: &str, window: &str) -> PathBuf {
        self.approve_with(name, action, Some(&self.candidate()), not_before, window, not_before, false)
    }
    #[allow(clippy::too_many_arguments)]
    fn approve_with(
        &self,
        name: &str,
        action: &str,
        candidate: Option<&Path>,
        not_before: &str,
        window: &str,
        drafted_at: &str,
        early_checks: bool,
    ) -> PathBuf {
        let packet = format!("{name}-packet.json");
        let p = self.p();
        let mut draft = vec![
            "manifest",
            "draft",
            "--pipeline",
            &p,
            "--action",
            action,
            "--window",
            window,
            "--not-before",
            not_before,
            "--approver",
            ALICE,
            "--out",
        ];
        let out = format!("{name}.toml");
        draft.push(&out);
        draft.push("--now");
        draft.push(drafted_at);
        let cand;
        if let Some(c) = candidate {
            cand = c.to_str().unwrap().to_string();
            let mut replay = vec!["replay", "--pipeline", &p, "--candidate", &cand, "--out", &packet];
            // A renewal's or promotion's evidence: the bounded revision against its trusted fallback.
            let baseline = repo().join("data-samples/profiles/live.json");
            let baseline = baseline.to_str().unwrap().to_string();
            if action == "renew" || action == "promote" {
                replay.extend(["--live", &baseline]);
            }
            self.ok(&replay, 0);
            draft.push("--packet");
            draft.push(&packet);
        }
        let mut submit = vec!["manifest", "submit", "--pipeline", &p, "--now", drafted_at];
        if !early_checks {
            draft.push("--no-early-checks");
            submit.push("--no-early-checks");
        }
        submit.push(&out);
        self.ok(&draft, 0);
        let file = self.a.path(&out);
        ssh_sign("alice", NAMESPACE, &file);
        self.ok(&submit, 0);
        file
    }
    /// The sample candidate approved from 2026-11-02T23:00Z for `window`.
    pub fn activate_sample(&self, window: &str) -> PathBuf {
        self.approve(
            "activate",
            "activate",
            Some(&self.candidate()),
            "2026-11-02T23:00:00Z",
            window,
            "2026-11-02T23:00:00Z",
        )
    }
    pub fn live_history(&self, revision: &str, from: &str, to: &str, rows: &str) {
        self.live_history_seeded(revision, from, to, rows, "9");
    }
    /// [`Ops::live_history`] with its own seed (and so its own item ids).
    pub fn live_history_seeded(&self, revision: &str, from: &str, to: &str, rows: &str, seed: &str) {
        self.ok(
            &[
                "sample-data",
                "--out",
                "store",
                "--rows",
                rows,
                "--seed",
                seed,
                "--live-revision",
                revision,
                "--live-from",
                from,
                "--live-to",
                to,
            ],
            0,
        );
    }
    /// The sample activated at NOW for `window`, under a pipeline with
    /// `policy_line` added to its `[policy]` table.
    pub fn activated_with_policy(policy_line: &str, window: &str) -> Ops {
        let o = Ops::new();
        o.a.set_pipeline("clock_skew = \"5m\"", &format!("clock_skew = \"5m\"\n{policy_line}"));
        o.activate_sample(window);
        assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
        o
    }
    /// Honest renewal evidence, written to `out`: the sample candidate (the
    /// bounded revision) replayed against its trusted fallback, the baseline.
    pub fn honest_packet(&self, out: &str) {
        let (p, cand) = (self.p(), self.candidate().to_str().unwrap().to_string());
        let live = repo().join("data-samples/profiles/live.json").to_str().unwrap().to_string();
        self.ok(
            &["replay", "--pipeline", &p, "--candidate", &cand, "--live", &live, "--out", out],
            0,
        );
    }
    /// `manifest draft` of a renewal at `at` that the early checks refuse
    /// (exit 4, nothing written): its message.
    pub fn refused_renewal_draft(&self, at: &str, window: &str) -> String {
        let p = self.p();
        self.honest_packet("refused-packet.json");
        let draft = renewal_draft(&p, at, window, "refused-packet.json", "refused.toml");
        let draft: Vec<&str> = draft.iter().map(String::as_str).collect();
        let o = self.run(&draft);
        assert_eq!(o.status.code(), Some(4), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(!self.a.path("refused.toml").exists(), "nothing is written");
        String::from_utf8(o.stderr).unwrap()
    }
    /// A renewal of the live sample candidate, approved at `at` for `window`.
    pub fn renew_at(&self, name: &str, at: &str, window: &str) -> PathBuf {
        self.approve(name, "renew", Some(&self.candidate()), at, window, at)
    }
    /// A day of quiet live use after the sample's activation at NOW: 12
    /// live-window rows, within every guardrail, so the window is not blind.
    pub fn quiet_live_use(&self) {
        self.live_history(CANDIDATE_REV, NOW, "2026-11-04T00:00:00Z", "12");
    }
    pub fn active(&self) -> ActiveProfile {
        serde_json::from_slice(&std::fs::read(self.a.path("store/active/payments-platform/profile.json")).unwrap()).unwrap()
    }
    pub fn artifact(&self, seq: u64, d: Decision) -> DecisionArtifact {
        let p = self
            .a
            .path(&format!("store/artifacts/payments-platform/{seq:020}-{}.json", d.as_str()));
        serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|_| panic!("{} exists", p.display()))).unwrap()
    }
    pub fn commits(&self) -> Vec<Commit> {
        let mut out = vec![];
        for f in list_files(&self.a.path("store/log/payments-platform")) {
            out.push(serde_json::from_slice(&std::fs::read(self.a.path("store/log/payments-platform").join(f)).unwrap()).unwrap());
        }
        out
    }
    pub fn audit_ok(&self) {
        let out = self.ok(&["audit", "verify", "--pipeline", &self.p()], 0);
        assert!(out.contains("chain intact"), "{out}");
    }
    pub fn candidate(&self) -> PathBuf {
        repo().join("data-samples/profiles/candidate.json")
    }
}

#[test]
fn lifecycle_activate_then_roll_back_on_a_protected_miss() {
    let o = Ops::new();
    o.activate_sample("7d");
    // Nothing committed yet: the baseline is live.
    assert!(o.ok(&["status", "--pipeline", &o.p(), "--now", NOW], 0).contains("(trusted)"));

    let r = o.cycle(NOW, 0);
    assert_eq!(r["decision"], "activate");
    let active = o.active();
    assert_eq!((active.revision.as_str(), active.bounded, active.seq), (CANDIDATE_REV, true, 1));
    assert_eq!(active.fallback_revision.as_str(), BASELINE_REV);
    assert_eq!(active.valid_until.unwrap().to_rfc3339(), "2026-11-09T23:00:00+00:00");
    assert_eq!(active.profile["name"], "payments-review-2026-11");
    assert_eq!(active.fallback_profile["name"], "payments-review-baseline-2026-09");
    let art = o.artifact(1, Decision::Activate);
    assert_eq!(art.signers, vec![ALICE.to_string()]);
    assert!(art.manifest.unwrap().contains("action = \"activate\""), "the approved text is kept");
    assert!(
        list_files(&o.a.path("store/approvals")).is_empty(),
        "handled manifests leave the inbox"
    );
    let status = o.ok(&["status", "--pipeline", &o.p(), "--now", "2026-11-03T06:00:00Z"], 0);
    assert!(
        status.contains("bounded, approved by rm-alice@example.com") && status.contains("left"),
        "{status}"
    );
    // Profile names beside revisions, the last decision with its time and reason, the budget.
    assert!(
        status.contains(&format!("live      {CANDIDATE_REV} payments-review-2026-11 (bounded")),
        "{status}"
    );
    assert!(
        status.contains(&format!("fallback  {BASELINE_REV} payments-review-baseline-2026-09 (trusted)")),
        "{status}"
    );
    assert!(
        status.contains("last      seq 1 activate at 2026-11-03T00:00:00Z: approved by rm-alice@example.com until 2026-11-09T23:00:00Z"),
        "{status}"
    );
    assert!(
        status.contains("budget    3 of 3 renewals left; bounded 6days 23h of at most 56days"),
        "{status}"
    );

    // The next day's live-window history has protected misses beyond the threshold of 2.
    o.live_history(CANDIDATE_REV, NOW, "2026-11-04T00:00:00Z", "200");
    let r = o.cycle("2026-11-04T00:00:00Z", 6);
    assert_eq!(r["decision"], "rollback");
    let art = o.artifact(2, Decision::Rollback);
    assert_eq!(art.restored_revision.unwrap().as_str(), BASELINE_REV);
    let t = art.triggers.iter().find(|t| t.guardrail == "max_protected_misses").unwrap();
    assert!(t.breached && t.reading.unwrap() > 2.0 && t.threshold == 2.0, "{t:?}");
    assert!(art.readings.unwrap().items == 200);
    let active = o.active();
    assert_eq!(
        (active.revision.as_str(), active.bounded, active.valid_until),
        (BASELINE_REV, false, None)
    );

    let log = o.ok(&["audit", "log", "--pipeline", &o.p()], 0);
    assert!(
        log.contains("activate") && log.contains("signed by rm-alice@example.com") && log.contains("rollback") && log.contains("BREACHED"),
        "{log}"
    );
    o.audit_ok();
    // Idempotent: the same cycle again changes nothing.
    let before = list_files(&o.a.path("store"));
    let r = o.cycle("2026-11-04T00:00:00Z", 0);
    assert!(r["decision"].is_null());
    assert_eq!(before, list_files(&o.a.path("store")));
}

#[test]
fn lifecycle_window_lapses_and_expires() {
    let o = Ops::new();
    o.activate_sample("2d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    // Quiet live use, within every guardrail.
    o.live_history(CANDIDATE_REV, NOW, "2026-11-04T00:00:00Z", "12");
    assert!(o.cycle("2026-11-04T00:00:00Z", 0)["decision"].is_null());
    // Just before the end nothing happens; at not_after it expires.
    assert!(o.cycle("2026-11-04T22:59:59Z", 0)["decision"].is_null());
    let r = o.cycle("2026-11-04T23:00:00Z", 6);
    assert_eq!(r["decision"], "expire");
    assert_eq!(r["reasons"][0], "window ended at 2026-11-04T23:00:00Z without a valid renewal");
    assert_eq!(r["waiting"], serde_json::json!([]), "nothing waits in the inbox");
    let art = o.artifact(2, Decision::Expire);
    assert_eq!(art.restored_revision.unwrap().as_str(), BASELINE_REV);
    assert_eq!(art.triggers.len(), 3, "expiry records the last readings against thresholds");
    assert_eq!(o.active().revision.as_str(), BASELINE_REV);
    o.audit_ok();
}

#[test]
fn lifecycle_renewal_extends_the_window() {
    let o = Ops::new();
    o.activate_sample("2d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    o.quiet_live_use();
    // A fresh replay of the live revision against itself, then a renewal.
    o.renew_at("renew", "2026-11-04T12:00:00Z", "3d");
    let r = o.cycle("2026-11-04T12:00:00Z", 0);
    assert_eq!(r["decision"], "renew", "{r}");
    let active = o.active();
    assert_eq!(active.valid_until.unwrap().to_rfc3339(), "2026-11-07T12:00:00+00:00");
    // The original end passes without expiry.
    assert!(o.cycle("2026-11-05T00:00:00Z", 0)["decision"].is_null());
    let c = o.commits();
    assert_eq!(c[1].decision, Decision::Renew);
    assert_eq!(c[1].activated_at, c[0].activated_at, "the live window keeps its start");
    let status: serde_json::Value =
        serde_json::from_str(&o.ok(&["status", "--json", "--pipeline", &o.p(), "--now", "2026-11-05T00:00:00Z"], 0)).unwrap();
    assert_eq!(status["budget"]["renewals"], 1);
    assert_eq!(status["budget"]["renewals_left"], 2);
    assert_eq!(
        status["budget"]["bounded_seconds"],
        (4 * 24 + 12) * 3600,
        "2026-11-03T00:00Z to 2026-11-07T12:00Z"
    );
    assert_eq!(status["last_decision"]["decision"], "renew");
    assert_eq!(status["live_profile_name"], "payments-review-2026-11");
    o.audit_ok();
}

/// `manifest draft` arguments for a renewal approved at `at` by Alice.
fn renewal_draft(pipeline: &str, at: &str, window: &str, packet: &str, out: &str) -> Vec<String> {
    [
        "manifest",
        "draft",
        "--pipeline",
        pipeline,
        "--action",
        "renew",
        "--window",
        window,
        "--not-before",
        at,
        "--approver",
        ALICE,
        "--out",
        out,
        "--now",
        at,
        "--packet",
        packet,
    ]
    .map(String::from)
    .to_vec()
}

/// The checks a rejection recorded, by name.
fn failed_checks(r: &serde_json::Value) -> Vec<String> {
    r["failed_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_renewal_past_max_renewals_is_rejected_by_the_budget_check_and_the_window_expires_on_time() {
    let o = Ops::activated_with_policy("max_renewals = 1", "2d");
    o.quiet_live_use();
    o.renew_at("renew-1", "2026-11-04T12:00:00Z", "2d");
    assert_eq!(o.cycle("2026-11-04T12:00:00Z", 0)["decision"], "renew");
    let early = o.refused_renewal_draft("2026-11-06T00:00:00Z", "2d");
    assert!(
        early.contains("would be rejected by the cycle: check 12 `budget`: over the renewal budget"),
        "{early}"
    );
    o.approve_anyway("renew-2", "renew", "2026-11-06T00:00:00Z", "2d");
    let r = o.cycle("2026-11-06T00:00:00Z", 4);
    assert_eq!(r["decision"], "reject", "{r}");
    assert_eq!(failed_checks(&r), vec!["budget"]);
    let detail = r["failed_checks"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("1 renewal(s) already, the pipeline allows 1") && detail.contains("expires on time unless promoted"),
        "{detail}"
    );
    // The first renewal's end still holds: it expires then.
    let r = o.cycle("2026-11-06T12:00:00Z", 6);
    assert_eq!(r["decision"], "expire");
    o.audit_ok();
    // A log whose renewals exceed the pipeline's budget does not re-derive:
    // audit names the renewal (as it would a forged one).
    o.a.set_pipeline("max_renewals = 1", "max_renewals = 0");
    let out = o.ok(&["audit", "verify", "--pipeline", &o.p()], 8);
    assert!(out.contains("a renewal past the budget: renewal 1 (max_renewals 0)"), "{out}");
}

#[test]
fn a_renewal_past_max_bounded_total_is_rejected_by_the_budget_check() {
    let o = Ops::activated_with_policy("max_bounded_total = \"4d\"", "2d");
    o.quiet_live_use();
    // Activated at 2026-11-03T00:00Z; renewed to 2026-11-07T12:00Z would be 4.5 days bounded.
    let early = o.refused_renewal_draft("2026-11-04T12:00:00Z", "3d");
    assert!(
        early.contains("check 12 `budget`: over the renewal budget: bounded 4days 12h"),
        "{early}"
    );
    o.approve_anyway("renew", "renew", "2026-11-04T12:00:00Z", "3d");
    let r = o.cycle("2026-11-04T12:00:00Z", 4);
    assert_eq!(failed_checks(&r), vec!["budget"], "{r}");
    let detail = r["failed_checks"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("bounded 4days 12h from activation at 2026-11-03T00:00:00Z to not_after"),
        "{detail}"
    );
    o.audit_ok();
}

#[test]
fn a_blind_window_rolls_back_for_insufficient_live_data_once_data_grace_has_passed() {
    let o = Ops::new();
    o.activate_sample("7d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    // No live-window rows yet, but within data_grace (24 h): not blind.
    assert!(o.cycle("2026-11-03T12:00:00Z", 0)["decision"].is_null());
    let status = o.ok(&["status", "--pipeline", &o.p(), "--now", "2026-11-03T12:00:00Z"], 0);
    assert!(
        status.contains("data      0 live-window items (a window with fewer than 1 after 24 h is blind)"),
        "{status}"
    );
    // Once data_grace has passed with no rows, status names it, and the cycle rolls back.
    let status = o.ok(&["status", "--pipeline", &o.p(), "--now", "2026-11-04T00:00:00Z"], 0);
    assert!(
        status.contains("data      BLIND: 0 live-window items") && status.contains("the next cycle rolls it back"),
        "{status}"
    );
    let r = o.cycle("2026-11-04T00:00:00Z", 6);
    assert_eq!(r["decision"], "rollback", "{r}");
    let why = "insufficient live data: 0 live-window items, fewer than min_live_items 1, 24 h after activation at 2026-11-03T00:00:00Z (data_grace 24 h)";
    assert_eq!(r["reasons"][0], why);
    let art = o.artifact(2, Decision::Rollback);
    assert_eq!(art.reasons, vec![why.to_string()]);
    assert_eq!(art.restored_revision.unwrap().as_str(), BASELINE_REV);
    assert_eq!(art.triggers.len(), 3, "the readings against thresholds are kept, none breached");
    assert!(art.triggers.iter().all(|t| !t.breached));
    assert_eq!(o.active().revision.as_str(), BASELINE_REV);
    o.audit_ok();
}

#[test]
fn a_window_with_fewer_rows_than_min_live_items_is_blind_too() {
    let o = Ops::new();
    o.a.set_pipeline("max_canary_misses = 3", "max_canary_misses = 3\nmin_live_items = 50");
    o.activate_sample("7d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    o.quiet_live_use();
    let r = o.cycle("2026-11-04T00:00:00Z", 6);
    assert!(
        r["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("insufficient live data: 12 live-window items, fewer than min_live_items 50"),
        "{r}"
    );
}

#[test]
fn without_blind_rollback_a_blind_window_is_named_blind_cannot_be_renewed_and_expires_on_time() {
    let o = Ops::activated_with_policy("blind_rollback = false", "2d");
    let early = o.refused_renewal_draft("2026-11-04T12:00:00Z", "3d");
    assert!(
        early.contains("check 4 `evidence`") && early.contains("before the live window opened"),
        "{early}"
    );
    o.approve_anyway("renew", "renew", "2026-11-04T12:00:00Z", "3d");
    // The renewal of a blind window is rejected, saying why: no live rows,
    // so neither evidence reaching into the window nor live data.
    let r = o.cycle("2026-11-04T12:00:00Z", 4);
    assert_eq!(r["decision"], "reject", "{r}");
    assert_eq!(failed_checks(&r), vec!["evidence", "outcome"]);
    let evidence = r["failed_checks"][0]["detail"].as_str().unwrap();
    assert!(
        evidence.contains("before the live window opened at 2026-11-03T00:00:00Z"),
        "{evidence}"
    );
    let detail = r["failed_checks"][1]["detail"].as_str().unwrap();
    assert_eq!(
        detail, "report covers 0 live-window items, fewer than min_live_items 1: the window is blind",
        "{detail}"
    );
    // Nothing else to do: the cycle names the blind window in its reasons.
    let r = o.cycle("2026-11-04T13:00:00Z", 0);
    assert!(r["decision"].is_null(), "{r}");
    assert!(
        r["reasons"].to_string().contains("the live window is blind (0 live-window items"),
        "{r}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&o.ok(&["status", "--json", "--pipeline", &o.p(), "--now", "2026-11-04T12:00:00Z"], 0)).unwrap();
    assert_eq!(status["blind"], true);
    let r = o.cycle("2026-11-04T23:00:00Z", 6);
    assert_eq!(r["decision"], "expire", "{r}");
    o.audit_ok();
}

#[test]
fn a_valid_renewal_waiting_at_the_end_of_a_blind_window_does_not_hold_off_expiry() {
    let o = Ops::activated_with_policy("blind_rollback = false", "2d");
    o.approve_anyway("renew", "renew", "2026-11-04T22:00:00Z", "3d");
    let r = o.cycle("2026-11-04T23:00:00Z", 6);
    assert_eq!(r["decision"], "expire", "{r}");
    assert_eq!(o.active().revision.as_str(), BASELINE_REV);
}

#[test]
fn a_renewal_on_the_live_revision_replayed_against_itself_is_rejected_saying_so() {
    let o = Ops::new();
    o.activate_sample("2d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    o.quiet_live_use();
    // The steward forgets `--live`: the default live side is the bounded revision itself.
    let (p, at) = (o.p(), "2026-11-04T12:00:00Z");
    let cand = o.candidate().to_str().unwrap().to_string();
    o.ok(&["replay", "--pipeline", &p, "--candidate", &cand, "--out", "self.json"], 0);
    let draft = renewal_draft(&p, at, "3d", "self.json", "self.toml");
    let draft: Vec<&str> = draft.iter().map(String::as_str).collect();
    // The draft foresees the rejection and writes nothing...
    let refused = o.run(&draft);
    assert_eq!(refused.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("check 4 `evidence`: packet replays"));
    assert!(!o.a.path("self.toml").exists());
    // ...and the cycle rejects it on its own when it arrives anyway.
    o.ok(&[&draft[..], &["--no-early-checks"]].concat(), 0);
    ssh_sign("alice", NAMESPACE, &o.a.path("self.toml"));
    o.ok(
        &[
            "manifest",
            "submit",
            "--pipeline",
            &p,
            "--now",
            at,
            "--no-early-checks",
            "self.toml",
        ],
        0,
    );
    let r = o.cycle(at, 4);
    assert_eq!(failed_checks(&r), vec!["evidence"], "{r}");
    let detail = r["failed_checks"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("packet replays {CANDIDATE_REV} against itself, which shows nothing"))
            && detail.contains(&format!("against its trusted fallback {BASELINE_REV}"))
            && !detail.contains("stale"),
        "{detail}"
    );
    // Replayed against the trusted fallback on history reaching into the window, it renews.
    o.renew_at("honest", "2026-11-04T13:00:00Z", "3d");
    assert_eq!(o.cycle("2026-11-04T13:00:00Z", 0)["decision"], "renew");
    o.audit_ok();
}

#[test]
fn draft_and_submit_refuse_what_the_cycle_would_certainly_reject() {
    let o = Ops::new();
    let (p, at) = (o.p(), "2026-11-02T23:00:00Z");
    let cand = o.candidate().to_str().unwrap().to_string();
    o.ok(&["replay", "--pipeline", &p, "--candidate", &cand, "--out", "packet.json"], 0);
    let draft = |not_before: &str, out: &str| {
        o.run(&[
            "manifest",
            "draft",
            "--pipeline",
            &p,
            "--packet",
            "packet.json",
            "--window",
            "2d",
            "--not-before",
            not_before,
            "--approver",
            ALICE,
            "--out",
            out,
            "--now",
            at,
        ])
    };
    // The sample's history ends 2026-10-30T21:36Z and the pipeline allows 7 days:
    // a window opening on 2026-11-08 would find the evidence too old.
    let late = draft("2026-11-08T00:00:00Z", "late.toml");
    assert_eq!(late.status.code(), Some(4));
    let err = String::from_utf8_lossy(&late.stderr);
    assert!(
        err.contains("check 7 `evidence_age`: history ends 2026-10-30T21:36:00Z: when the window opens at 2026-11-08T00:00:00Z"),
        "{err}"
    );
    assert!(!o.a.path("late.toml").exists(), "no manifest id is spent");
    // A good draft, then loosened guardrails and a dropped acknowledgement by hand: submit refuses.
    assert_eq!(draft("2026-11-03T00:00:00Z", "m.toml").status.code(), Some(0));
    let text = std::fs::read_to_string(o.a.path("m.toml")).unwrap();
    std::fs::write(o.a.path("m.toml"), text.replace("max_canary_misses = 3", "max_canary_misses = 9")).unwrap();
    ssh_sign("alice", NAMESPACE, &o.a.path("m.toml"));
    let submit = o.run(&["manifest", "submit", "--pipeline", &p, "--now", at, "m.toml"]);
    assert_eq!(submit.status.code(), Some(4));
    let err = String::from_utf8_lossy(&submit.stderr);
    assert!(
        err.contains("check 10 `guardrails`: looser than the pipeline: max_canary_misses 9 > pipeline 3"),
        "{err}"
    );
    assert!(err.contains("nothing was submitted"), "{err}");
    assert!(list_files(&o.a.path("store/approvals")).is_empty());
}

#[test]
fn revoke_ends_the_window_early() {
    let o = Ops::new();
    o.activate_sample("7d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    o.approve("revoke", "revoke", None, "2026-11-03T10:00:00Z", "1d", "2026-11-03T10:00:00Z");
    let r = o.cycle("2026-11-03T10:00:00Z", 0);
    assert_eq!(r["decision"], "revoke");
    assert_eq!(o.active().revision.as_str(), BASELINE_REV);
    o.audit_ok();
}

#[test]
fn replayed_manifest_after_a_rollback_is_rejected() {
    let o = Ops::new();
    let file = o.activate_sample("7d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    o.live_history(CANDIDATE_REV, NOW, "2026-11-04T00:00:00Z", "200");
    assert_eq!(o.cycle("2026-11-04T00:00:00Z", 6)["decision"], "rollback");
    // The same signed manifest submitted again: submit foresees the rejection...
    let again = [
        "manifest",
        "submit",
        "--pipeline",
        &o.p(),
        "--now",
        "2026-11-04T01:00:00Z",
        file.to_str().unwrap(),
    ];
    let refused = o.ok(&again, 4);
    assert!(refused.is_empty());
    let err = String::from_utf8(o.run(&again).stderr).unwrap();
    assert!(err.contains("would be rejected by the cycle: check 8 `manifest_id`"), "{err}");
    // ...and the cycle rejects it on its own when it arrives anyway.
    o.ok(&[&again[..], &["--no-early-checks"]].concat(), 0);
    let r = o.cycle("2026-11-04T01:00:00Z", 4);
    assert_eq!(r["decision"], "reject");
    let failed: Vec<&str> = r["failed_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"manifest_id"), "{failed:?}");
    assert_eq!(o.active().revision.as_str(), BASELINE_REV, "the live revision is kept");
    // A rejected manifest is not looked at again.
    assert!(o.cycle("2026-11-04T02:00:00Z", 0)["decision"].is_null());
    o.audit_ok();
}

#[test]
fn approval_against_a_live_revision_that_has_since_changed_is_rejected() {
    let o = Ops::new();
    let other = o.a.write(
        "other.json",
        &std::fs::read_to_string(o.candidate())
            .unwrap()
            .replace("payments-review-2026-11", "payments-review-2026-11b"),
    );
    o.approve(
        "first",
        "activate",
        Some(&o.candidate()),
        "2026-11-02T22:00:00Z",
        "7d",
        "2026-11-02T22:00:00Z",
    );
    o.approve(
        "second",
        "activate",
        Some(&other),
        "2026-11-02T23:00:00Z",
        "7d",
        "2026-11-02T23:00:00Z",
    );
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    let r = o.cycle("2026-11-03T00:05:00Z", 4);
    assert_eq!(r["decision"], "reject");
    let failed: Vec<&str> = r["failed_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"evidence") && failed.contains(&"rollback_revision"), "{failed:?}");
    assert_eq!(o.active().revision.as_str(), CANDIDATE_REV);
}

#[test]
fn manifest_whose_window_opens_later_waits_then_activates() {
    let o = Ops::new();
    o.approve(
        "later",
        "activate",
        Some(&o.candidate()),
        "2026-11-03T06:00:00Z",
        "7d",
        "2026-11-02T23:00:00Z",
    );
    let r = o.cycle(NOW, 0);
    assert!(r["decision"].is_null());
    let m = scoregate::approval::manifest::Manifest::parse("later", &std::fs::read(o.a.path("later.toml")).unwrap()).unwrap();
    assert_eq!(r["waiting"], serde_json::json!([m.manifest_id]), "the waiting manifest, by id");
    assert!(o.commits().is_empty());
    let r = o.cycle("2026-11-03T06:00:00Z", 0);
    assert_eq!(r["decision"], "activate");
    assert_eq!(r["reasons"][0], "approved by rm-alice@example.com until 2026-11-10T06:00:00Z");
}

#[test]
fn clock_going_backwards_is_refused_and_writes_nothing() {
    let o = Ops::new();
    o.activate_sample("7d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    let before = list_files(&o.a.path("store"));
    let out = o.run(&["cycle", "--pipeline", &o.p(), "--now", "2026-11-02T23:00:00Z"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("earlier than the log head"));
    assert_eq!(before, list_files(&o.a.path("store")));
    // Within the 5-minute skew allowance it is not refused.
    o.cycle("2026-11-02T23:56:00Z", 0);
}

#[test]
fn eight_racing_cycles_make_exactly_one_commit() {
    let o = Ops::new();
    o.activate_sample("7d");
    let outs = race(&o, 8, NOW);
    assert_eq!(decisions(&outs, 0, "activate"), 1, "exactly one cycle commits the activation");
    assert_eq!(o.commits().len(), 1);
    o.audit_ok();
}

/// `n` cycles at `now`, started together.
fn race(o: &Ops, n: usize, now: &str) -> Vec<Output> {
    let (p, dir) = (o.p(), o.a.dir.path().to_path_buf());
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (p, dir, now) = (p.clone(), dir.clone(), now.to_string());
            std::thread::spawn(move || {
                Command::new(env!("CARGO_BIN_EXE_scoregate"))
                    .args(["cycle", "--json", "--pipeline", &p, "--now", &now])
                    .current_dir(dir)
                    .output()
                    .unwrap()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// How many racers reported `decision`; every racer must exit with `code`
/// or, having lost to the one that decided, 0 with nothing to do.
fn decisions(outs: &[Output], code: i32, decision: &str) -> usize {
    let mut n = 0;
    for out in outs {
        let c = out.status.code();
        assert!(c == Some(code) || c == Some(0), "{c:?}: {}", String::from_utf8_lossy(&out.stderr));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        n += usize::from(r["decision"] == decision);
    }
    n
}

#[test]
fn racing_cycles_never_mistake_a_winners_fresh_artifacts_for_tampering() {
    // The gate reads derived objects and kept manifests while the winner is
    // still writing them: no racer may refuse (exit 3) for that.
    for round in 0..3 {
        let o = Ops::new();
        o.activate_sample("7d");
        assert_eq!(decisions(&race(&o, 16, NOW), 0, "activate"), 1, "round {round}");
        o.live_history(CANDIDATE_REV, NOW, "2026-11-04T00:00:00Z", "200");
        assert_eq!(decisions(&race(&o, 16, "2026-11-04T00:00:00Z"), 6, "rollback"), 1, "round {round}");
        assert_eq!(o.commits().len(), 2);
        o.audit_ok();
    }
}

#[test]
fn edited_or_deleted_commits_are_named_by_audit_verify() {
    let o = Ops::new();
    o.activate_sample("7d");
    o.cycle(NOW, 0);
    o.ok(
        &[
            "rollback",
            "--pipeline",
            &o.p(),
            "--reason",
            "pager noise from canary",
            "--now",
            "2026-11-03T01:00:00Z",
        ],
        6,
    );
    o.audit_ok();
    let log = o.a.path("store/log/payments-platform");
    // Edit the first commit: its successor's prev no longer matches, and its artifact disagrees.
    let first = log.join(format!("{:020}.json", 1));
    let original = std::fs::read(&first).unwrap();
    std::fs::write(
        &first,
        String::from_utf8(original.clone()).unwrap().replace("approved by", "approved  by"),
    )
    .unwrap();
    let out = o.run(&["audit", "verify", "--json", "--pipeline", &o.p()]);
    assert_eq!(out.status.code(), Some(8));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems: Vec<&str> = report["report"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["problem"].as_str().unwrap())
        .collect();
    assert!(
        problems.contains(&"prev_mismatch") && problems.contains(&"artifact_mismatch"),
        "{problems:?}"
    );
    // The cycle refuses to act on a broken log.
    assert_eq!(
        o.run(&["cycle", "--pipeline", &o.p(), "--now", "2026-11-03T02:00:00Z"])
            .status
            .code(),
        Some(3)
    );
    // Deleting a commit is a gap.
    std::fs::write(&first, &original).unwrap();
    o.audit_ok();
    std::fs::remove_file(&first).unwrap();
    let out = o.run(&["audit", "verify", "--pipeline", &o.p()]);
    assert_eq!(out.status.code(), Some(8));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("commit 00000000000000000001 is missing"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Editing the head is caught through its artifacts.
    std::fs::write(&first, &original).unwrap();
    let head = log.join(format!("{:020}.json", 2));
    let text = std::fs::read_to_string(&head).unwrap().replace("pager noise", "pager noize");
    std::fs::write(&head, text).unwrap();
    assert_eq!(o.run(&["audit", "verify", "--pipeline", &o.p()]).status.code(), Some(8));
}

#[test]
fn crash_between_commit_and_artifacts_is_repaired_by_the_next_cycle() {
    let o = Ops::new();
    o.activate_sample("7d");
    // Commit only, as if the process died right after the put-if-absent.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let committed = rt
        .block_on(scoregate::release::cycle::commit_only(
            &o.a.pipeline(),
            &o.a.store(),
            crate::approvals::now(),
        ))
        .unwrap();
    assert_eq!(committed.unwrap().decision, Decision::Activate);
    assert!(!o.a.path("store/artifacts").exists());
    assert!(
        !list_files(&o.a.path("store/approvals")).is_empty(),
        "the manifest is still in the inbox"
    );
    let out = o.run(&["audit", "verify", "--pipeline", &o.p()]);
    assert_eq!(out.status.code(), Some(8), "audit sees the missing artifact");
    let r = o.cycle("2026-11-03T00:10:00Z", 0);
    assert!(r["decision"].is_null(), "the manifest is not acted on twice: {r}");
    let repaired: Vec<&str> = r["repaired"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(
        repaired.iter().any(|p| p.ends_with("-activate.json")) && repaired.iter().any(|p| p.ends_with("profile.json")),
        "{repaired:?}"
    );
    assert_eq!(o.active().revision.as_str(), CANDIDATE_REV);
    assert!(
        o.artifact(1, Decision::Activate).manifest.is_some(),
        "repair recovers the manifest text from the inbox"
    );
    assert!(list_files(&o.a.path("store/approvals")).is_empty());
    o.audit_ok();
}

#[test]
fn break_glass_rollback_records_who_and_why() {
    let o = Ops::new();
    o.activate_sample("7d");
    o.cycle(NOW, 0);
    let out = o.ok(
        &[
            "rollback",
            "--pipeline",
            &o.p(),
            "--reason",
            "board asked",
            "--now",
            "2026-11-03T03:00:00Z",
        ],
        6,
    );
    assert!(out.contains("by oncall-dana"), "{out}");
    let art = o.artifact(2, Decision::BreakGlass);
    assert_eq!(art.actor.as_deref(), Some("oncall-dana"));
    assert_eq!(art.reasons, vec!["board asked".to_string()]);
    assert_eq!(o.active().revision.as_str(), BASELINE_REV);
    // Nothing bounded is live: nothing to do.
    o.ok(
        &[
            "rollback",
            "--pipeline",
            &o.p(),
            "--reason",
            "again",
            "--actor",
            "sam",
            "--now",
            "2026-11-03T04:00:00Z",
        ],
        0,
    );
    assert_eq!(o.commits().len(), 2);
}

#[test]
fn dry_run_decides_and_writes_nothing() {
    let o = Ops::new();
    o.activate_sample("7d");
    let before = list_files(&o.a.path("store"));
    let r: serde_json::Value =
        serde_json::from_str(&o.ok(&["cycle", "--json", "--dry-run", "--pipeline", &o.p(), "--now", NOW], 0)).unwrap();
    assert_eq!(r["decision"], "activate");
    assert_eq!(r["dry_run"], true);
    assert_eq!(before, list_files(&o.a.path("store")));
}

#[test]
fn an_unsigned_manifest_in_the_inbox_is_rejected_with_every_failed_check() {
    let o = Ops::new();
    let mut input = o.a.input();
    input.approvers = vec![ALICE.into()];
    input.guardrails = Some(scoregate::pipeline::Guardrails {
        max_protected_misses: 9,
        max_protected_signoff_p90_hours: 20.0,
        max_canary_misses: 3,
    });
    let text = scoregate::approval::manifest::draft(&input);
    let inbox = o.a.path("store/approvals/payments-platform");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join(format!("{}.toml", input.manifest_id)), &text).unwrap();
    let r = o.cycle(NOW, 4);
    let failed: Vec<&str> = r["failed_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert_eq!(failed, vec!["signatures", "guardrails"]);
    assert!(keys().join("alice").exists());
}

#[test]
fn a_lapsed_window_expires_even_when_the_inbox_cannot_be_checked() {
    let o = Ops::new();
    o.activate_sample("2d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    o.quiet_live_use();
    // allowed_signers breaks: while the window is open, the cycle stops (nothing can be verified)...
    o.a.allowed("rm-alice@example.com not-a-key\n");
    assert_eq!(
        o.run(&["cycle", "--pipeline", &o.p(), "--now", "2026-11-04T00:00:00Z"])
            .status
            .code(),
        Some(3)
    );
    // ...but going back to the trusted revision needs no signature: at not_after it expires anyway.
    let r = o.cycle("2026-11-04T23:00:00Z", 6);
    assert_eq!(r["decision"], "expire");
    assert!(
        r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().contains("inbox unreadable")),
        "{r}"
    );
    assert_eq!(o.active().revision.as_str(), BASELINE_REV);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cycle_that_loses_every_race_gives_up_with_exit_5() {
    use scoregate::release::commit::{CycleError, MAX_ATTEMPTS};
    use scoregate::release::cycle::{run, Mode};
    let o = Ops::new();
    o.activate_sample("7d");
    // The sample store, copied into a store whose log creates always lose.
    let hooked = crate::support::Hooked::copy_of(&o.a.path("store"), Some("log/")).await;
    let store = hooked.store();
    let pipeline = o.a.pipeline();
    let now = crate::approvals::now();
    let err = run(&pipeline, &store, now, Mode::Commit).await.unwrap_err();
    assert!(
        matches!(&err, scoregate::Error::Cycle(CycleError::LostRace { attempts, .. }) if *attempts == MAX_ATTEMPTS),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), scoregate::ExitCode::LostRace);
    assert_eq!(scoregate::ExitCode::LostRace as u8, 5);
}

/// The problems `audit verify --json` names, and its exit code.
fn audit_problems(o: &Ops) -> (Option<i32>, Vec<String>) {
    let out = o.run(&["audit", "verify", "--json", "--pipeline", &o.p()]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems = report["report"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["problem"].as_str().unwrap().to_string())
        .collect();
    (out.status.code(), problems)
}

#[test]
fn audit_names_each_kind_of_tampering() {
    let o = Ops::new();
    o.activate_sample("7d");
    o.cycle(NOW, 0);
    let rollback = [
        "rollback",
        "--pipeline",
        &o.p(),
        "--reason",
        "drill",
        "--now",
        "2026-11-03T01:00:00Z",
    ];
    o.ok(&rollback, 6);
    o.audit_ok();
    let log = o.a.path("store/log/payments-platform");
    let (one, two) = (log.join(format!("{:020}.json", 1)), log.join(format!("{:020}.json", 2)));
    let (b1, b2) = (std::fs::read(&one).unwrap(), std::fs::read(&two).unwrap());
    let restore = || {
        for f in list_files(&log) {
            std::fs::remove_file(log.join(f)).unwrap();
        }
        std::fs::write(&one, &b1).unwrap();
        std::fs::write(&two, &b2).unwrap();
        o.audit_ok();
    };
    let expect = |what: &str, problem: &str| {
        let (code, problems) = audit_problems(&o);
        assert_eq!(code, Some(8), "{what}: {problems:?}");
        assert!(problems.iter().any(|p| p == problem), "{what}: expected {problem} in {problems:?}");
        assert_eq!(
            o.run(&["cycle", "--pipeline", &o.p(), "--now", "2026-11-03T02:00:00Z"])
                .status
                .code(),
            Some(3),
            "{what}: the cycle refuses a broken log"
        );
        restore();
    };
    // Reordered: the two commits swap places.
    std::fs::write(&one, &b2).unwrap();
    std::fs::write(&two, &b1).unwrap();
    expect("reordered", "seq_mismatch");
    // Moved: commit 2 renamed to 3.
    std::fs::rename(&two, log.join(format!("{:020}.json", 3))).unwrap();
    expect("moved", "gap");
    // A foreign object under the log prefix.
    std::fs::write(log.join("notes.txt"), b"not a commit").unwrap();
    expect("foreign object", "foreign_object");
    // A commit of another cohort.
    let other = String::from_utf8(b2.clone())
        .unwrap()
        .replace("\"cohort\":\"payments-platform\"", "\"cohort\":\"identity\"");
    std::fs::write(&two, other).unwrap();
    expect("other cohort", "wrong_cohort");
    // Bytes that are not the canonical form scoregate writes.
    let mut spaced = b2.clone();
    spaced.push(b'\n');
    std::fs::write(&two, spaced).unwrap();
    expect("non-canonical", "not_canonical");
    // Time going backwards beyond the skew allowance.
    let text = String::from_utf8(b2.clone()).unwrap();
    assert!(text.contains("\"now\":\"2026-11-03T01:00:00Z\""), "{text}");
    std::fs::write(
        &two,
        text.replace("\"now\":\"2026-11-03T01:00:00Z\"", "\"now\":\"2026-11-02T01:00:00Z\""),
    )
    .unwrap();
    expect("time backwards", "time_went_backwards");
}

/// `audit stats` on a log built through the binary, with known answers: an
/// expiry one hour late, a guardrail rollback, and a blind rollback.
#[test]
fn audit_stats_reports_each_window_its_ending_lateness_and_rollback_latency() {
    let o = Ops::new();
    // Window 1: quiet, expires at 2026-11-04T23:00Z; the cycle runs an hour late.
    o.activate_sample("2d");
    assert_eq!(o.cycle(NOW, 0)["decision"], "activate");
    o.quiet_live_use();
    assert_eq!(o.cycle("2026-11-05T00:00:00Z", 6)["decision"], "expire");
    // Window 2: a day of live use with protected misses; rolled back at its end.
    let second = "2026-11-05T00:00:00Z";
    o.approve("second", "activate", Some(&o.candidate()), second, "2d", second);
    assert_eq!(o.cycle(second, 0)["decision"], "activate");
    o.live_history_seeded(CANDIDATE_REV, second, "2026-11-06T00:00:00Z", "200", "10");
    assert_eq!(o.cycle("2026-11-06T00:00:00Z", 6)["decision"], "rollback");
    // Window 3: no live rows at all; blind a day later.
    let third = "2026-11-06T00:00:00Z";
    o.approve("third", "activate", Some(&o.candidate()), third, "2d", third);
    assert_eq!(o.cycle(third, 0)["decision"], "activate");
    assert_eq!(o.cycle("2026-11-07T00:00:00Z", 6)["decision"], "rollback");

    // The expected latency, computed here from the parquet: the third
    // protected missed row of window 2 by queued_at (the threshold is 2).
    let h = {
        let pipeline = o.a.pipeline();
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(scoregate::release::readings::live_history(&pipeline, &o.a.store()))
            .unwrap()
    };
    let live = h.live.as_ref().unwrap();
    let rev = live.revisions.iter().position(|r| r == CANDIDATE_REV).unwrap() as u32;
    let (from, to) = (
        chrono::DateTime::parse_from_rfc3339(second).unwrap().timestamp_micros(),
        chrono::DateTime::parse_from_rfc3339("2026-11-06T00:00:00Z")
            .unwrap()
            .timestamp_micros(),
    );
    let protected = ["signing-surface", "high-blast-radius", "payments-ledger"];
    let mut arrivals: Vec<i64> = (0..h.len())
        .filter(|&i| live.live_revision[i] == rev && h.missed[i] && protected.contains(&h.classes[h.class[i] as usize].as_str()))
        .filter_map(|i| live.queued_at[i].filter(|q| (from..=to).contains(q)))
        .collect();
    arrivals.sort_unstable();
    let latency = (to - arrivals[2]) / 1_000_000;

    // When each live history object arrived in the store (its last-modified
    // time): window 1's rows at 12:00, window 2's at 18:00 on 2026-11-05.
    let live_dir = o.a.path("store/history/payments-platform/live");
    for (file, at) in [
        ("20261103T000000Z-20261104T000000Z.parquet", "2026-11-05 12:00:00Z"),
        ("20261105T000000Z-20261106T000000Z.parquet", "2026-11-05 18:00:00Z"),
    ] {
        let touched = Command::new("touch").arg("-d").arg(at).arg(live_dir.join(file)).status().unwrap();
        assert!(touched.success());
    }
    let stats: serde_json::Value = serde_json::from_str(&o.ok(
        &["audit", "stats", "--json", "--pipeline", &o.p(), "--now", "2026-11-08T00:00:00Z"],
        0,
    ))
    .unwrap();
    let w = stats["windows"].as_array().unwrap();
    assert_eq!(w.len(), 3);
    assert_eq!(
        (w[0]["ending"].as_str(), w[0]["expiry_lateness_seconds"].as_i64()),
        (Some("on_schedule"), Some(3600))
    );
    // Activated at 2026-11-03T00:00Z (the cycle's now), expired at 2026-11-05T00:00Z.
    assert_eq!(w[0]["bounded_seconds"], 2 * 86_400);
    assert_eq!(w[1]["ending"], "rolled_back_guardrail");
    assert_eq!(w[1]["rollback_latency_seconds"], latency);
    // The crossing row's object arrived at 18:00; the rollback came at midnight.
    assert_eq!(w[1]["rollback_latency_from_object_seconds"], 6 * 3600);
    assert!(w[0]["rollback_latency_from_object_seconds"].is_null());
    assert!(latency > 0 && latency < 86_400, "{latency}");
    assert_eq!(w[2]["ending"], "rolled_back_blind");
    assert!(w[2]["rollback_latency_seconds"].is_null());
    let endings = stats["endings"].as_array().unwrap();
    assert_eq!(endings.len(), 3);
    assert!(endings
        .iter()
        .all(|e| e["windows"] == 1 && (e["share"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12));
    let text = o.ok(&["audit", "stats", "--pipeline", &o.p(), "--now", "2026-11-08T00:00:00Z"], 0);
    assert!(
        text.contains("3 bounded window(s)")
            && text.contains("expired on schedule")
            && text.contains("rolled back (insufficient live data)"),
        "{text}"
    );
}

/// The window bookkeeping of `audit stats` on a hand-made log: a renewal
/// chain that expires, a revoke, a break-glass, and a window still live.
#[test]
fn lifecycle_windows_are_counted_from_the_commits_alone() {
    use scoregate::release::stats::{shares, windows_of, Ending};
    let t = |s: &str| -> chrono::DateTime<chrono::Utc> { chrono::DateTime::parse_from_rfc3339(s).unwrap().into() };
    let at = |seq: u64, decision: Decision, now: &str, until: Option<&str>| {
        let mut c = crate::support::commit(seq, "r");
        (c.decision, c.now, c.valid_until) = (decision, t(now), until.map(t));
        c.activated_at = (decision == Decision::Activate).then(|| t(now));
        c
    };
    let log = [
        at(1, Decision::Activate, "2026-11-01T00:00:00Z", Some("2026-11-02T00:00:00Z")),
        at(2, Decision::Renew, "2026-11-01T12:00:00Z", Some("2026-11-03T00:00:00Z")),
        at(3, Decision::Renew, "2026-11-02T12:00:00Z", Some("2026-11-04T00:00:00Z")),
        at(4, Decision::Expire, "2026-11-04T00:05:00Z", None),
        at(5, Decision::Activate, "2026-11-05T00:00:00Z", Some("2026-11-07T00:00:00Z")),
        at(6, Decision::Revoke, "2026-11-05T06:00:00Z", None),
        at(7, Decision::Activate, "2026-11-06T00:00:00Z", Some("2026-11-08T00:00:00Z")),
        at(8, Decision::BreakGlass, "2026-11-06T01:00:00Z", None),
        at(9, Decision::Reject, "2026-11-06T02:00:00Z", None),
        at(10, Decision::Activate, "2026-11-07T00:00:00Z", Some("2026-11-09T00:00:00Z")),
    ];
    let w = windows_of(&log, t("2026-11-08T00:00:00Z"));
    let seen: Vec<_> = w
        .iter()
        .map(|w| (w.activated_seq, w.renewals, w.ending, w.bounded_seconds, w.expiry_lateness_seconds))
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, 2, Ending::RenewalChain, 3 * 86_400 + 300, Some(300)),
            (5, 0, Ending::Revoked, 6 * 3600, None),
            (7, 0, Ending::BreakGlass, 3600, None),
            (10, 0, Ending::StillLive, 86_400, None),
        ]
    );
    assert_eq!(shares(&w)["still live"], (1, 0.25));
}

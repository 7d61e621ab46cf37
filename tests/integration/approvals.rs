//! Approval manifests against real OpenSSH: keys made by `ssh-keygen`,
//! signatures made by `ssh-keygen -Y sign`, and scoregate's signature verdict
//! compared with `ssh-keygen -Y verify` on every signature fixture. Each test
//! is named after the failure it provokes and asserts exactly which of the
//! checks fails.

use crate::support::{repo, sample_copy};
use chrono::{DateTime, Duration, Utc};
use scoregate::approval::inbox::read_local;
use scoregate::approval::manifest::{draft, Action, DraftInput, Manifest, ManifestError};
use scoregate::approval::signers::{SignatureFault, NAMESPACE};
use scoregate::approval::{load_allowed_signers, verify, CheckName, Outcome, Verification};
use scoregate::canonical::Digest;
use scoregate::evidence::Packet;
use scoregate::pipeline::{Guardrails, Pipeline};
use scoregate::release::log::read_state;
use scoregate::store::Store;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const NOW: &str = "2026-11-03T00:00:00Z";
pub const ALICE: &str = "rm-alice@example.com";
pub const BOB: &str = "rm-bob@example.com";
pub const CAROL: &str = "rm-carol@example.com";

pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW).unwrap().with_timezone(&Utc)
}

/// Keys made once per test run: alice (ed25519), bob (ecdsa), carol (rsa), mallory (ed25519, unlisted).
pub fn keys() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ssh-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, args) in [
            ("alice", vec!["-t", "ed25519"]),
            ("bob", vec!["-t", "ecdsa", "-b", "256"]),
            ("carol", vec!["-t", "rsa", "-b", "2048"]),
            ("mallory", vec!["-t", "ed25519"]),
        ] {
            let key = dir.join(name);
            if !key.exists() {
                let st = Command::new("ssh-keygen")
                    .args(&args)
                    .args(["-q", "-N", "", "-C", name, "-f"])
                    .arg(&key)
                    .status()
                    .expect("ssh-keygen is installed");
                assert!(st.success());
            }
        }
        dir
    })
}

pub fn public(name: &str) -> String {
    std::fs::read_to_string(keys().join(format!("{name}.pub")))
        .unwrap()
        .trim()
        .to_string()
}

/// `ssh-keygen -Y sign` with a key of `keys()`. The first signature of a
/// file is FILE.sig; later ones are moved to FILE.1.sig, FILE.2.sig, ….
/// Returns the signature's path.
pub fn ssh_sign(key: &str, namespace: &str, file: &Path) -> PathBuf {
    let sig = PathBuf::from(format!("{}.sig", file.display()));
    let aside = PathBuf::from(format!("{}.aside", sig.display()));
    let had_first = sig.exists();
    if had_first {
        std::fs::rename(&sig, &aside).unwrap();
    }
    let out = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-f"])
        .arg(keys().join(key))
        .args(["-n", namespace])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    if !had_first {
        return sig;
    }
    let target = (1..)
        .map(|n| PathBuf::from(format!("{}.{n}.sig", file.display())))
        .find(|p| !p.exists())
        .unwrap();
    std::fs::rename(&sig, &target).unwrap();
    std::fs::rename(&aside, &sig).unwrap();
    target
}

/// `ssh-keygen -Y verify` at `NOW`: does OpenSSH accept `sig` for `principal`?
pub fn ssh_verify(allowed: &Path, principal: &str, sig: &Path, file: &Path) -> bool {
    let t = now().format("%Y%m%d%H%M%S").to_string();
    let out = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(allowed)
        .args(["-I", principal, "-n", NAMESPACE, "-s"])
        .arg(sig)
        .arg(format!("-Overify-time={t}"))
        .stdin(std::fs::File::open(file).unwrap())
        .output()
        .unwrap();
    out.status.success()
}

/// A sample store, a pipeline over it, keys and allowed_signers.
pub struct Approvals {
    pub dir: tempfile::TempDir,
    pub pipeline_path: PathBuf,
    sample_packet: Packet,
}

impl Approvals {
    pub fn new() -> Approvals {
        let (dir, pipeline_path) = sample_copy();
        let evidence = dir.path().join("store/evidence/payments-platform");
        let file = std::fs::read_dir(&evidence).unwrap().next().unwrap().unwrap().path();
        let sample_packet = Packet::parse("packet", &std::fs::read(file).unwrap()).unwrap();
        let a = Approvals {
            dir,
            pipeline_path,
            sample_packet,
        };
        a.allowed(&format!(
            "{ALICE} namespaces=\"scoregate-approval\" {}\n{BOB} {}\n{CAROL} namespaces=\"git,scoregate-*\" {}\n",
            public("alice"),
            public("bob"),
            public("carol")
        ));
        a
    }

    pub fn allowed(&self, text: &str) {
        std::fs::write(self.dir.path().join("allowed_signers"), text).unwrap();
    }

    pub fn set_pipeline(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(&self.pipeline_path).unwrap();
        assert!(text.contains(from), "{from}");
        std::fs::write(&self.pipeline_path, text.replace(from, to)).unwrap();
    }

    pub fn pipeline(&self) -> Pipeline {
        Pipeline::load(&self.pipeline_path).unwrap()
    }
    pub fn store(&self) -> Store {
        Store::open(&self.pipeline().store).unwrap()
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The committed sample packet.
    pub fn packet(&self) -> Packet {
        self.sample_packet.clone()
    }

    /// A valid activation for the sample packet, opened an hour before NOW for 7 days.
    pub fn input(&self) -> DraftInput {
        let p = self.packet();
        DraftInput {
            file_name: "m.toml".into(),
            manifest_id: scoregate::approval::manifest::new_manifest_id(),
            action: Action::Activate,
            cohort: "payments-platform".into(),
            candidate_revision: p.candidate_revision.clone(),
            candidate_name: Some(p.candidate_profile_name.clone()),
            rollback_revision: p.live_revision.clone(),
            evidence_digest: Some(p.digest()),
            outcome_digest: None,
            approvers: vec![ALICE.into()],
            issued_at: now() - Duration::hours(1),
            not_before: now() - Duration::hours(1),
            not_after: now() + Duration::days(6),
            regressions: p.protected_regressions.clone(),
            guardrails: Some(Guardrails {
                max_protected_misses: 1,
                max_protected_signoff_p90_hours: 20.0,
                max_canary_misses: 3,
            }),
        }
    }

    /// Write a manifest file (any text) under `name`; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Run every check at `at`, and hold scoregate's signature verdict to
    /// OpenSSH's: for every signature file and every approver, the signature
    /// counts for that approver exactly when `ssh-keygen -Y verify` accepts it.
    pub fn verify_at(&self, file: &Path, at: DateTime<Utc>) -> Verification {
        let v = self.verify_only(file, at);
        if at == now() {
            let m = Manifest::parse("m", &std::fs::read(file).unwrap()).unwrap();
            for report in &v.signers.signatures {
                let sig = file.with_file_name(&report.file);
                for approver in &m.approvers {
                    let ours = report.principals.contains(approver);
                    let theirs = ssh_verify(&self.path("allowed_signers"), approver, &sig, file);
                    assert_eq!(
                        ours, theirs,
                        "{}: scoregate {ours}, ssh-keygen {theirs} for {approver} ({:?})",
                        report.file, report.fault
                    );
                }
            }
        }
        v
    }

    fn verify_only(&self, file: &Path, at: DateTime<Utc>) -> Verification {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let pipeline = self.pipeline();
            let store = self.store();
            let sub = read_local(file.to_str().unwrap()).await.unwrap();
            let m = sub.parse().unwrap();
            let allowed = load_allowed_signers(&pipeline).await.unwrap();
            let state = read_state(&pipeline, &store).await.unwrap();
            verify(&pipeline, &store, &m, &sub.signatures, &allowed, &state.view(), at)
                .await
                .unwrap()
        })
    }

    pub fn verify(&self, file: &Path) -> Verification {
        self.verify_at(file, now())
    }

    /// Draft `input`, sign it as alice, return the manifest path.
    pub fn signed(&self, input: &DraftInput) -> PathBuf {
        // A new version of the file: its old signatures go.
        for e in std::fs::read_dir(self.dir.path()).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            if scoregate::approval::manifest::is_signature_of(&name, &input.file_name) {
                std::fs::remove_file(self.path(&name)).unwrap();
            }
        }
        let file = self.write(&input.file_name, &draft(input));
        ssh_sign("alice", NAMESPACE, &file);
        file
    }
}

/// Only `name` failed (and the rest passed or do not apply).
pub fn fails_only(v: &Verification, name: CheckName) {
    fails_exactly(v, &[name]);
}

/// Exactly these checks failed, in check order; every other passed or does not apply.
pub fn fails_exactly(v: &Verification, names: &[CheckName]) {
    let failed: Vec<CheckName> = v.failed().iter().map(|c| c.name).collect();
    assert_eq!(failed, names, "{:#?}", v.checks);
}

fn signature_fault(v: &Verification) -> SignatureFault {
    v.signers
        .signatures
        .iter()
        .find_map(|s| s.fault.clone())
        .expect("a signature fault")
}

#[test]
fn valid_manifest_passes_every_check_and_openssh_agrees() {
    let a = Approvals::new();
    let file = a.signed(&a.input());
    let v = a.verify(&file);
    assert!(v.passed(), "{:#?}", v.checks);
    assert_eq!(v.checks.len(), 12);
    // Every check passes; the outcome report and the renewal budget do not apply to an activation.
    for c in &v.checks {
        let expected = if matches!(c.name, CheckName::Outcome | CheckName::Budget) {
            Outcome::NotApplicable
        } else {
            Outcome::Passed
        };
        assert_eq!(c.outcome, expected, "{c:?}");
    }
    assert_eq!(v.checks.last().unwrap().number, 12);
    assert_eq!(v.signers.signers, vec![ALICE.to_string()]);
    assert!(ssh_verify(&a.path("allowed_signers"), ALICE, &a.path("m.toml.sig"), &file));
}

/// A signed manifest edited after signing: one byte of its guardrails changed.
fn tampered_after_signing(a: &Approvals) -> PathBuf {
    let file = a.signed(&a.input());
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("max_canary_misses = 3", "max_canary_misses = 2");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn tampered_byte() {
    let a = Approvals::new();
    let file = tampered_after_signing(&a);
    let v = a.verify(&file);
    fails_only(&v, CheckName::Signatures);
    assert_eq!(signature_fault(&v), SignatureFault::BadSignature);
    assert!(!ssh_verify(&a.path("allowed_signers"), ALICE, &a.path("m.toml.sig"), &file));
}

#[test]
fn wrong_namespace() {
    let a = Approvals::new();
    let file = a.write("m.toml", &draft(&a.input()));
    ssh_sign("alice", "git", &file);
    let v = a.verify(&file);
    fails_only(&v, CheckName::Signatures);
    assert_eq!(signature_fault(&v), SignatureFault::WrongNamespace { namespace: "git".into() });
    assert!(!ssh_verify(&a.path("allowed_signers"), ALICE, &a.path("m.toml.sig"), &file));
}

#[test]
fn unknown_principal() {
    let a = Approvals::new();
    let mut input = a.input();
    input.approvers = vec!["rm-mallory@example.com".into()];
    let file = a.write("m.toml", &draft(&input));
    ssh_sign("mallory", NAMESPACE, &file);
    let v = a.verify(&file);
    fails_only(&v, CheckName::Signatures);
    assert!(matches!(signature_fault(&v), SignatureFault::UnknownKey { .. }));
    assert!(!ssh_verify(
        &a.path("allowed_signers"),
        "rm-mallory@example.com",
        &a.path("m.toml.sig"),
        &file
    ));
}

#[test]
fn key_not_yet_valid() {
    let a = Approvals::new();
    a.allowed(&format!("{ALICE} valid-after=\"20261110Z\" {}\n", public("alice")));
    let file = a.signed(&a.input());
    let v = a.verify(&file);
    fails_only(&v, CheckName::Signatures);
    assert!(matches!(signature_fault(&v), SignatureFault::NotYetValid { .. }));
    assert!(!ssh_verify(&a.path("allowed_signers"), ALICE, &a.path("m.toml.sig"), &file));
}

#[test]
fn key_expired() {
    let a = Approvals::new();
    a.allowed(&format!(
        "{ALICE} valid-after=\"20260101Z\",valid-before=\"202611020000Z\" {}\n",
        public("alice")
    ));
    let file = a.signed(&a.input());
    let v = a.verify(&file);
    fails_only(&v, CheckName::Signatures);
    assert!(matches!(signature_fault(&v), SignatureFault::Expired { .. }));
    assert!(!ssh_verify(&a.path("allowed_signers"), ALICE, &a.path("m.toml.sig"), &file));
    // Within validity, both accept.
    a.allowed(&format!(
        "{ALICE} valid-after=\"20260101Z\",valid-before=\"20261231Z\" {}\n",
        public("alice")
    ));
    assert!(a.verify(&file).passed());
    assert!(ssh_verify(&a.path("allowed_signers"), ALICE, &a.path("m.toml.sig"), &file));
}

#[test]
fn key_restricted_to_another_namespace() {
    let a = Approvals::new();
    a.allowed(&format!("{ALICE} namespaces=\"git\" {}\n", public("alice")));
    let file = a.signed(&a.input());
    let v = a.verify(&file);
    fails_only(&v, CheckName::Signatures);
    assert!(matches!(signature_fault(&v), SignatureFault::NamespaceNotPermitted { .. }));
    assert!(!ssh_verify(&a.path("allowed_signers"), ALICE, &a.path("m.toml.sig"), &file));
}

#[test]
fn principal_patterns_and_negation_match_openssh() {
    let a = Approvals::new();
    let file = a.signed(&a.input());
    for (line, expected) in [
        (format!("*@example.com {}", public("alice")), true),
        (format!("rm-?lice@example.com {}", public("alice")), true),
        (format!("*@example.com,!rm-alice@example.com {}", public("alice")), false),
        (format!("\"rm-bob@example.com,rm-alice@example.com\" {}", public("alice")), true),
        (format!("rm-alice@example.org {}", public("alice")), false),
    ] {
        a.allowed(&format!("{line}\n"));
        let ours = a.verify(&file).check(CheckName::Signatures).outcome == Outcome::Passed;
        let theirs = ssh_verify(&a.path("allowed_signers"), ALICE, &a.path("m.toml.sig"), &file);
        assert_eq!((ours, theirs), (expected, expected), "{line}");
    }
}

#[test]
fn signer_not_in_approvers() {
    let a = Approvals::new();
    let file = a.write("m.toml", &draft(&a.input()));
    ssh_sign("bob", NAMESPACE, &file);
    let v = a.verify(&file);
    fails_only(&v, CheckName::Signatures);
    assert!(matches!(signature_fault(&v), SignatureFault::NotAnApprover { principals, .. } if principals == vec![BOB.to_string()]));
    // OpenSSH would accept bob as bob, but not as an approver of this manifest.
    assert!(ssh_verify(&a.path("allowed_signers"), BOB, &a.path("m.toml.sig"), &file));
    assert!(!ssh_verify(&a.path("allowed_signers"), ALICE, &a.path("m.toml.sig"), &file));
}

#[test]
fn below_threshold() {
    let a = Approvals::new();
    a.set_pipeline("required_signers = 1", "required_signers = 2");
    let mut input = a.input();
    input.approvers = vec![ALICE.into(), BOB.into()];
    let file = a.signed(&input);
    let v = a.verify(&file);
    fails_only(&v, CheckName::Signatures);
    assert!(v.check(CheckName::Signatures).detail.contains("1 distinct signer(s) of 2 required"));
}

#[test]
fn two_signers_with_ecdsa_and_rsa_keys_meet_a_threshold_of_two() {
    let a = Approvals::new();
    a.set_pipeline("required_signers = 1", "required_signers = 2");
    let mut input = a.input();
    input.approvers = vec![BOB.into(), CAROL.into()];
    let file = a.write("m.toml", &draft(&input));
    let bob = ssh_sign("bob", NAMESPACE, &file);
    let carol = ssh_sign("carol", NAMESPACE, &file);
    assert_eq!(carol, a.path("m.toml.1.sig"));
    let v = a.verify(&file);
    assert!(v.passed(), "{:#?}", v.checks);
    assert_eq!(v.signers.signers, vec![BOB.to_string(), CAROL.to_string()]);
    assert!(ssh_verify(&a.path("allowed_signers"), BOB, &bob, &file));
    assert!(ssh_verify(&a.path("allowed_signers"), CAROL, &carol, &file));
}

#[test]
fn duplicate_signer() {
    let a = Approvals::new();
    a.set_pipeline("required_signers = 1", "required_signers = 2");
    let mut input = a.input();
    input.approvers = vec![ALICE.into(), BOB.into()];
    let file = a.signed(&input);
    // The same signature twice, under two names.
    std::fs::copy(a.path("m.toml.sig"), a.path("m.toml.1.sig")).unwrap();
    fails_only(&a.verify(&file), CheckName::Signatures);
    // One key listed for two principals still counts once.
    a.allowed(&format!("{ALICE} {}\n{BOB} {}\n", public("alice"), public("alice")));
    let v = a.verify(&file);
    fails_only(&v, CheckName::Signatures);
    assert_eq!(v.signers.signers.len(), 1);
}

#[test]
fn other_cohort() {
    let a = Approvals::new();
    let mut input = a.input();
    input.cohort = "identity-platform".into();
    let v = a.verify(&a.signed(&input));
    // The packet is for payments-platform, so the evidence binding fails too.
    fails_exactly(&v, &[CheckName::Cohort, CheckName::Evidence]);
}

#[test]
fn unknown_candidate_revision() {
    let a = Approvals::new();
    let mut input = a.input();
    input.candidate_revision = Digest::of(b"a profile nobody stored");
    let v = a.verify(&a.signed(&input));
    // The packet was replayed for another candidate, so the evidence binding fails too.
    fails_exactly(&v, &[CheckName::CandidateRevision, CheckName::Evidence]);
    assert!(v.check(CheckName::CandidateRevision).detail.contains("not stored"));
}

#[test]
fn profile_bytes_do_not_hash_to_the_id() {
    let a = Approvals::new();
    let input = a.input();
    let path = a.path(&format!("store/profiles/sha256-{}.json", input.candidate_revision.hex()));
    let text = std::fs::read_to_string(&path).unwrap().replace("\"weight\":6", "\"weight\":60");
    std::fs::write(&path, text).unwrap();
    let v = a.verify(&a.signed(&input));
    fails_only(&v, CheckName::CandidateRevision);
    assert!(v.check(CheckName::CandidateRevision).detail.contains("hash to"));
}

#[test]
fn evidence_digest_mismatch() {
    let a = Approvals::new();
    let input = a.input();
    // The stored packet under this digest has been altered.
    let path = a.path(&format!(
        "store/evidence/payments-platform/sha256-{}.json",
        input.evidence_digest.as_ref().unwrap().hex()
    ));
    let text = std::fs::read_to_string(&path).unwrap().replacen("\"tp\":", "\"tp\": ", 1);
    std::fs::write(&path, text).unwrap();
    let v = a.verify(&a.signed(&input));
    // With no valid packet, its age and regressions cannot be checked either.
    fails_exactly(
        &v,
        &[CheckName::Evidence, CheckName::EvidenceAge, CheckName::AcknowledgedRegressions],
    );
    assert!(
        v.check(CheckName::Evidence).detail.contains("hash to"),
        "{}",
        v.check(CheckName::Evidence).detail
    );
}

#[test]
fn evidence_not_stored() {
    let a = Approvals::new();
    let mut input = a.input();
    input.evidence_digest = Some(Digest::of(b"no such packet"));
    let v = a.verify(&a.signed(&input));
    fails_exactly(
        &v,
        &[CheckName::Evidence, CheckName::EvidenceAge, CheckName::AcknowledgedRegressions],
    );
    assert!(v.check(CheckName::Evidence).detail.contains("no evidence packet stored"));
}

#[test]
fn stale_approval_evidence_for_another_live_revision() {
    let a = Approvals::new();
    // Replay the candidate against itself: a packet whose live side is not what is live.
    let cand = repo().join("data-samples/profiles/candidate.json");
    let out = Command::new(env!("CARGO_BIN_EXE_scoregate"))
        .args(["replay", "--json", "--pipeline"])
        .arg(&a.pipeline_path)
        .arg("--candidate")
        .arg(&cand)
        .arg("--live")
        .arg(&cand)
        .args(["--out"])
        .arg(a.path("stale.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let packet = Packet::parse("stale", &std::fs::read(a.path("stale.json")).unwrap()).unwrap();
    let mut input = a.input();
    input.evidence_digest = Some(packet.digest());
    let v = a.verify(&a.signed(&input));
    fails_only(&v, CheckName::Evidence);
    assert!(v
        .check(CheckName::Evidence)
        .detail
        .contains("is live now: replay the candidate against the live revision (evidence against an earlier live revision is stale)"));
}

#[test]
fn rollback_target_not_the_live_trusted_revision() {
    let a = Approvals::new();
    let mut input = a.input();
    input.rollback_revision = input.candidate_revision.clone();
    fails_only(&a.verify(&a.signed(&input)), CheckName::RollbackRevision);
}

#[test]
fn window_not_yet_open_waits() {
    let a = Approvals::new();
    let mut input = a.input();
    input.not_before = now() + Duration::hours(2);
    input.not_after = now() + Duration::days(3);
    let v = a.verify(&a.signed(&input));
    fails_only(&v, CheckName::Window);
    assert!(v.waiting);
    // Once it opens, it is valid.
    let file = a.path("m.toml");
    assert!(a.verify_at(&file, now() + Duration::hours(3)).passed());
}

#[test]
fn window_closed() {
    let a = Approvals::new();
    let mut input = a.input();
    input.not_before = now() - Duration::days(2);
    input.not_after = now() - Duration::hours(1);
    input.issued_at = now() - Duration::days(2);
    let v = a.verify(&a.signed(&input));
    fails_only(&v, CheckName::Window);
    assert!(!v.waiting);
}

#[test]
fn window_longer_than_max_window() {
    let a = Approvals::new();
    let mut input = a.input();
    input.not_after = input.not_before + Duration::days(15);
    let v = a.verify(&a.signed(&input));
    fails_only(&v, CheckName::Window);
    assert!(v.check(CheckName::Window).detail.contains("long"));
}

#[test]
fn issued_in_the_future_beyond_skew() {
    let a = Approvals::new();
    let mut input = a.input();
    input.issued_at = now() + Duration::minutes(6);
    fails_only(&a.verify(&a.signed(&input)), CheckName::Window);
    // Within the 5-minute skew allowance it passes.
    input.issued_at = now() + Duration::minutes(4);
    assert!(a.verify(&a.signed(&input)).passed());
}

#[test]
fn evidence_older_than_max_evidence_age() {
    let a = Approvals::new();
    let mut input = a.input();
    let later = now() + Duration::days(6);
    input.issued_at = later - Duration::hours(1);
    input.not_before = later - Duration::hours(1);
    input.not_after = later + Duration::days(1);
    let file = a.signed(&input);
    let v = a.verify_at(&file, later);
    fails_only(&v, CheckName::EvidenceAge);
}

#[test]
fn unacknowledged_protected_regression() {
    let a = Approvals::new();
    // A candidate that ranks by flakiness alone regresses protected classes.
    let flaky = a.write(
        "flaky.json",
        r#"{"schema":"scoregate.profile/v1","name":"flaky-first","features":{"test_flake_rate":{"weight":10.0}}}"#,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_scoregate"))
        .args(["replay", "--pipeline"])
        .arg(&a.pipeline_path)
        .arg("--candidate")
        .arg(&flaky)
        .arg("--out")
        .arg(a.path("flaky-packet.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let packet = Packet::parse("p", &std::fs::read(a.path("flaky-packet.json")).unwrap()).unwrap();
    assert!(!packet.protected_regressions.is_empty());
    let mut input = a.input();
    input.candidate_revision = packet.candidate_revision.clone();
    input.evidence_digest = Some(packet.digest());
    let file = a.signed(&input);
    let v = a.verify(&file);
    fails_only(&v, CheckName::AcknowledgedRegressions);
    // Acknowledging every regressed class makes it valid.
    let acked = std::fs::read_to_string(&file).unwrap().replace(
        "acknowledged_regressions = []",
        &format!("acknowledged_regressions = {:?}", packet.protected_regressions),
    );
    let file = a.write("acked.toml", &acked);
    ssh_sign("alice", NAMESPACE, &file);
    assert!(a.verify(&file).passed());
}

#[test]
fn guardrails_looser_than_the_pipeline() {
    let a = Approvals::new();
    let mut input = a.input();
    input.guardrails = Some(Guardrails {
        max_protected_misses: 1,
        max_protected_signoff_p90_hours: 30.0,
        max_canary_misses: 3,
    });
    let v = a.verify(&a.signed(&input));
    fails_only(&v, CheckName::Guardrails);
    assert!(v
        .check(CheckName::Guardrails)
        .detail
        .contains("max_protected_signoff_p90_hours 30 > pipeline 24"));
}

#[test]
fn missing_guardrails() {
    let a = Approvals::new();
    let text = draft(&a.input());
    let cut = text.find("\n[guardrails]").unwrap();
    match Manifest::parse("m.toml", &text.as_bytes()[..cut]) {
        Err(ManifestError::Invalid { field, .. }) => assert_eq!(field, "guardrails"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversized_manifest() {
    let a = Approvals::new();
    let text = format!("{}\n# {}\n", draft(&a.input()), "padding ".repeat(1200));
    assert!(matches!(
        Manifest::parse("m.toml", text.as_bytes()),
        Err(ManifestError::TooLarge { .. })
    ));
}

#[test]
fn malformed_toml() {
    let a = Approvals::new();
    let text = draft(&a.input()).replace("action = \"activate\"", "action = activate");
    assert!(matches!(
        Manifest::parse("m.toml", text.as_bytes()),
        Err(ManifestError::Toml { .. })
    ));
    let text = draft(&a.input()).replace("action = \"activate\"", "action = \"enlarge\"");
    assert!(matches!(
        Manifest::parse("m.toml", text.as_bytes()),
        Err(ManifestError::Toml { .. })
    ));
}

#[test]
fn reused_manifest_id() {
    let a = Approvals::new();
    let input = a.input();
    let file = a.signed(&input);
    mark_used(&a, &input.manifest_id);
    fails_only(&a.verify(&file), CheckName::ManifestId);
}

/// A commit naming this manifest id (here, an earlier rejection) makes it used.
fn mark_used(a: &Approvals, manifest_id: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let p = a.pipeline();
        let mut c = crate::support::commit(1, "earlier attempt");
        c.cohort = p.cohort.clone();
        c.now = now() - Duration::hours(1);
        c.prior_revision = p.policy.baseline_revision.clone();
        c.live_revision = p.policy.baseline_revision.clone();
        c.trusted_revision = p.policy.baseline_revision.clone();
        c.manifest_id = Some(manifest_id.to_string());
        scoregate::release::log::append(&a.store(), &c).await.unwrap();
    });
}

fn scoregate(a: &Approvals, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_scoregate"))
        .args(args)
        .current_dir(a.dir.path())
        .output()
        .unwrap()
}

#[test]
fn cli_draft_sign_verify_submit() {
    let a = Approvals::new();
    let p = a.pipeline_path.to_str().unwrap();
    let digest = a.packet().digest();
    let packet = format!("store/evidence/payments-platform/sha256-{}.json", digest.hex());
    let o = scoregate(
        &a,
        &[
            "manifest",
            "draft",
            "--pipeline",
            p,
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
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(a.path("m.toml")).unwrap();
    assert!(text.contains("ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n scoregate-approval m.toml"));
    assert!(text.contains(digest.as_str()));
    let m = Manifest::parse("m.toml", text.as_bytes()).unwrap();
    assert_eq!(m.rollback_revision, a.packet().live_revision, "live-as-rollback");
    assert_eq!(m.guardrails, Some(a.pipeline().guardrails), "the pipeline's guardrails");
    assert_eq!(m.not_after - m.not_before, Duration::days(7));

    // Unsigned: verify says which check fails (exit 4); submit refuses and writes nothing.
    let o = scoregate(&a, &["manifest", "verify", "--pipeline", p, "--now", NOW, "m.toml"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stdout).contains("signatures                 FAILED"));
    let o = scoregate(&a, &["manifest", "submit", "--pipeline", p, "--now", NOW, "m.toml"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(!a.path("store/approvals").exists(), "nothing submitted");

    // `manifest sign` makes a signature OpenSSH accepts.
    let key = keys().join("alice");
    let o = scoregate(&a, &["manifest", "sign", "--key", key.to_str().unwrap(), "m.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(ssh_verify(
        &a.path("allowed_signers"),
        ALICE,
        &a.path("m.toml.sig"),
        &a.path("m.toml")
    ));

    let o = scoregate(&a, &["manifest", "verify", "--json", "--pipeline", p, "--now", NOW, "m.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["verification"]["checks"].as_array().unwrap().len(), 12);
    assert_eq!(v["verification"]["checks"][3]["name"], "evidence");

    let o = scoregate(&a, &["manifest", "submit", "--pipeline", p, "--now", NOW, "m.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let inbox = a.path(&format!("store/approvals/payments-platform/{}.toml", m.manifest_id));
    assert_eq!(std::fs::read(&inbox).unwrap(), text.as_bytes());
    assert!(a
        .path(&format!("store/approvals/payments-platform/{}.toml.sig", m.manifest_id))
        .exists());
    // Submitting again is idempotent.
    assert_eq!(
        scoregate(&a, &["manifest", "submit", "--pipeline", p, "--now", NOW, "m.toml"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn cli_verify_exit_codes_for_malformed_and_oversized() {
    let a = Approvals::new();
    let p = a.pipeline_path.to_str().unwrap();
    a.write("bad.toml", "schema = \"scoregate.approval/v1\"\nmanifest_id = [\n");
    let o = scoregate(&a, &["manifest", "verify", "--pipeline", p, "bad.toml"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.toml"));
    a.write("big.toml", &"# x\n".repeat(3000));
    let o = scoregate(&a, &["manifest", "verify", "--pipeline", p, "big.toml"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("limit"));
    // A broken allowed_signers file is a configuration error, not a silent skip.
    a.allowed("rm-alice@example.com not-a-key\n");
    let file = a.signed(&a.input());
    let o = scoregate(&a, &["manifest", "verify", "--pipeline", p, "--now", NOW, file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 1"));
}

/// One bad manifest through the binary: `manifest verify` refuses it with
/// `verify_code`, `manifest submit` with `submit_code` when it refuses at
/// all, and neither writes anything to the store.
fn refused_through_the_binary(a: &Approvals, file: &Path, verify_code: i32, submit_code: Option<i32>) {
    let p = a.pipeline_path.to_str().unwrap();
    let f = file.to_str().unwrap();
    let before = crate::bad_input::tree_digest(&a.path("store"));
    let o = scoregate(a, &["manifest", "verify", "--pipeline", p, "--now", NOW, f]);
    assert_eq!(
        o.status.code(),
        Some(verify_code),
        "verify {f}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    if let Some(code) = submit_code {
        let o = scoregate(a, &["manifest", "submit", "--pipeline", p, "--now", NOW, f]);
        assert_eq!(o.status.code(), Some(code), "submit {f}: {}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(before, crate::bad_input::tree_digest(&a.path("store")), "{f}: nothing written");
}

#[test]
fn every_bad_manifest_is_refused_through_the_binary_and_nothing_is_written() {
    // A signature over other bytes.
    let a = Approvals::new();
    let file = tampered_after_signing(&a);
    refused_through_the_binary(&a, &file, 4, Some(4));
    // The wrong namespace.
    let a = Approvals::new();
    let file = a.write("m.toml", &draft(&a.input()));
    ssh_sign("alice", "git", &file);
    refused_through_the_binary(&a, &file, 4, Some(4));
    // An unknown signer.
    let a = Approvals::new();
    let mut input = a.input();
    input.approvers = vec!["rm-mallory@example.com".into()];
    let file = a.write("m.toml", &draft(&input));
    ssh_sign("mallory", NAMESPACE, &file);
    refused_through_the_binary(&a, &file, 4, Some(4));
    // An expired signer.
    let a = Approvals::new();
    a.allowed(&format!("{ALICE} valid-before=\"202611020000Z\" {}\n", public("alice")));
    let file = a.signed(&a.input());
    refused_through_the_binary(&a, &file, 4, Some(4));
    // Another cohort.
    let a = Approvals::new();
    let mut input = a.input();
    input.cohort = "identity-platform".into();
    let file = a.signed(&input);
    refused_through_the_binary(&a, &file, 4, Some(4));
    // An evidence digest whose stored packet does not hash to it (submit
    // leaves the bindings to the cycle, so only verify is asked).
    let a = Approvals::new();
    let input = a.input();
    let packet = a.path(&format!(
        "store/evidence/payments-platform/sha256-{}.json",
        input.evidence_digest.as_ref().unwrap().hex()
    ));
    let text = std::fs::read_to_string(&packet).unwrap().replacen("\"tp\":", "\"tp\": ", 1);
    std::fs::write(&packet, text).unwrap();
    let file = a.signed(&input);
    refused_through_the_binary(&a, &file, 4, None);
    // A manifest id the log has already used.
    let a = Approvals::new();
    let input = a.input();
    let file = a.signed(&input);
    mark_used(&a, &input.manifest_id);
    refused_through_the_binary(&a, &file, 4, None);
    // Malformed and oversized manifests are bad input (exit 3) to both.
    let a = Approvals::new();
    let file = a.write("bad.toml", "schema = \"scoregate.approval/v1\"\nmanifest_id = [\n");
    refused_through_the_binary(&a, &file, 3, Some(3));
    let file = a.write("big.toml", &"# x\n".repeat(3000));
    refused_through_the_binary(&a, &file, 3, Some(3));
}

//! Approval manifests (`scoregate.approval/v1`, TOML, SPEC §6): the document
//! a release manager signs to bind one exact revision, its evidence, a
//! validity window, guardrails and a rollback target.
//!
//! Parsing rejects unknown keys and documents over [`MAX_MANIFEST_BYTES`];
//! [`Manifest`] is the validated form and keeps the exact bytes that were
//! signed. [`draft`] writes a new, unsigned manifest with a comment header
//! telling the release manager what they bind and how to sign it.

use crate::canonical::Digest;
use crate::pipeline::Guardrails;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "scoregate.approval/v1";
/// Manifests larger than this are refused before parsing (a real one is under 2 KiB).
pub const MAX_MANIFEST_BYTES: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest {object}: {size} bytes is over the {max}-byte limit")]
    TooLarge { object: String, size: usize, max: usize },
    #[error("manifest {object}: not valid TOML for scoregate.approval/v1: {message}")]
    Toml { object: String, message: String },
    #[error("manifest {object}: field `{field}`: expected {expected}")]
    Invalid {
        object: String,
        field: &'static str,
        expected: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Activate,
    Renew,
    /// Make the live bounded revision the trusted one (no window after it).
    Promote,
    Revoke,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Activate => "activate",
            Action::Renew => "renew",
            Action::Promote => "promote",
            Action::Revoke => "revoke",
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    schema: String,
    manifest_id: String,
    action: Action,
    cohort: String,
    candidate_revision: String,
    rollback_revision: String,
    #[serde(default)]
    evidence_digest: Option<String>,
    /// Renew and promote: the outcome report of the current window.
    #[serde(default)]
    outcome_digest: Option<String>,
    approvers: Vec<String>,
    #[schemars(with = "chrono::DateTime<chrono::Utc>")]
    issued_at: toml::value::Datetime,
    #[schemars(with = "chrono::DateTime<chrono::Utc>")]
    not_before: toml::value::Datetime,
    #[schemars(with = "chrono::DateTime<chrono::Utc>")]
    not_after: toml::value::Datetime,
    #[serde(default)]
    acknowledged_regressions: Vec<String>,
    #[serde(default)]
    guardrails: Option<Guardrails>,
}

/// The manifest's structure as JSON Schema (its TOML read as JSON; times are
/// TOML offset date-times with a zone, RFC 3339 in JSON).
pub fn json_schema() -> schemars::Schema {
    schemars::schema_for!(RawManifest)
}

/// A validated manifest and the exact bytes that were signed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Manifest {
    pub manifest_id: String,
    pub action: Action,
    pub cohort: String,
    pub candidate_revision: Digest,
    pub rollback_revision: Digest,
    pub evidence_digest: Option<Digest>,
    /// Renew and promote: the outcome report of the current window (check 11).
    pub outcome_digest: Option<Digest>,
    pub approvers: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub acknowledged_regressions: Vec<String>,
    pub guardrails: Option<Guardrails>,
    /// `sha256:` of the signed bytes.
    pub digest: Digest,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// Is `s` a manifest id: 32 lowercase hex digits (128 bits)?
pub fn is_manifest_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fresh random manifest id.
pub fn new_manifest_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random source");
    hex::encode(b)
}

fn datetime(object: &str, field: &'static str, v: &toml::value::Datetime) -> Result<DateTime<Utc>, ManifestError> {
    let bad = || ManifestError::Invalid {
        object: object.into(),
        field,
        expected: format!("a date-time with a zone, such as 2026-11-20T10:00:00Z (found {v})"),
    };
    if v.date.is_none() || v.time.is_none() || v.offset.is_none() {
        return Err(bad());
    }
    DateTime::parse_from_rfc3339(&v.to_string())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| bad())
}

impl Manifest {
    /// Parse and validate manifest bytes; `object` names them in errors.
    pub fn parse(object: &str, bytes: &[u8]) -> Result<Manifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge {
                object: object.into(),
                size: bytes.len(),
                max: MAX_MANIFEST_BYTES,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| ManifestError::Toml {
            object: object.into(),
            message: format!("not UTF-8: {e}"),
        })?;
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
            let message = e.message().trim().to_string();
            ManifestError::Toml {
                object: object.into(),
                message: line.map_or(message.clone(), |l| format!("line {l}: {message}")),
            }
        })?;
        let invalid = |field: &'static str, expected: &str| ManifestError::Invalid {
            object: object.into(),
            field,
            expected: expected.into(),
        };
        if raw.schema != SCHEMA {
            return Err(invalid("schema", &format!("\"{SCHEMA}\"")));
        }
        if !is_manifest_id(&raw.manifest_id) {
            return Err(invalid("manifest_id", "32 lowercase hex digits (128 random bits)"));
        }
        if !crate::pipeline::is_plain_name(&raw.cohort) {
            return Err(invalid("cohort", "a cohort name"));
        }
        let digest =
            |field: &'static str, s: &str| Digest::parse(s).ok_or_else(|| invalid(field, "a `sha256:` id with 64 lowercase hex digits"));
        let candidate_revision = digest("candidate_revision", &raw.candidate_revision)?;
        let rollback_revision = digest("rollback_revision", &raw.rollback_revision)?;
        let evidence_digest = raw.evidence_digest.as_deref().map(|s| digest("evidence_digest", s)).transpose()?;
        let outcome_digest = raw.outcome_digest.as_deref().map(|s| digest("outcome_digest", s)).transpose()?;
        if raw.action != Action::Revoke {
            if evidence_digest.is_none() {
                return Err(invalid(
                    "evidence_digest",
                    "the digest of the evidence packet (required to activate, renew or promote)",
                ));
            }
            if raw.guardrails.is_none() && raw.action != Action::Promote {
                return Err(invalid("guardrails", "a [guardrails] table (required to activate or renew)"));
            }
        }
        if raw.approvers.is_empty() || raw.approvers.iter().any(|a| a.trim().is_empty() || a.contains(',')) {
            return Err(invalid("approvers", "a non-empty list of principals as allowed_signers names them"));
        }
        let mut unique = raw.approvers.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != raw.approvers.len() {
            return Err(invalid("approvers", "each approver listed once"));
        }
        if let Some(g) = &raw.guardrails {
            if !(g.max_protected_signoff_p90_hours.is_finite() && g.max_protected_signoff_p90_hours >= 0.0) {
                return Err(invalid(
                    "guardrails",
                    "max_protected_signoff_p90_hours as a number of hours, 0 or more",
                ));
            }
        }
        let issued_at = datetime(object, "issued_at", &raw.issued_at)?;
        let not_before = datetime(object, "not_before", &raw.not_before)?;
        let not_after = datetime(object, "not_after", &raw.not_after)?;
        if not_after <= not_before {
            return Err(invalid("not_after", "a time after not_before"));
        }
        Ok(Manifest {
            manifest_id: raw.manifest_id,
            action: raw.action,
            cohort: raw.cohort,
            candidate_revision,
            rollback_revision,
            evidence_digest,
            outcome_digest,
            approvers: raw.approvers,
            issued_at,
            not_before,
            not_after,
            acknowledged_regressions: raw.acknowledged_regressions,
            guardrails: raw.guardrails,
            digest: Digest::of(bytes),
            bytes: bytes.to_vec(),
        })
    }
}

/// The name of the `n`th signature file of `manifest_name` (`x.toml.sig`, `x.toml.1.sig`, …).
pub fn signature_name(manifest_name: &str, n: usize) -> String {
    if n == 0 {
        format!("{manifest_name}.sig")
    } else {
        format!("{manifest_name}.{n}.sig")
    }
}

/// Is `name` a signature file of `manifest_name`?
pub fn is_signature_of(name: &str, manifest_name: &str) -> bool {
    match name.strip_prefix(manifest_name).and_then(|r| r.strip_suffix(".sig")) {
        Some("") => true,
        Some(mid) => mid
            .strip_prefix('.')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

/// What a draft is made from.
#[derive(Clone, Debug)]
pub struct DraftInput {
    /// The file name the draft will be saved as, for the signing command in the header.
    pub file_name: String,
    pub manifest_id: String,
    pub action: Action,
    pub cohort: String,
    pub candidate_revision: Digest,
    pub candidate_name: Option<String>,
    pub rollback_revision: Digest,
    pub evidence_digest: Option<Digest>,
    pub outcome_digest: Option<Digest>,
    pub approvers: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// Protected classes the packet shows regressed (listed for the release manager, not acknowledged).
    pub regressions: Vec<String>,
    pub guardrails: Option<Guardrails>,
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn toml_float(v: f64) -> String {
    toml::Value::Float(v).to_string()
}

/// The text of an unsigned manifest, with a comment header for the signer.
pub fn draft(d: &DraftInput) -> String {
    let file = &d.file_name;
    let mut out = String::new();
    out.push_str(&format!(
        "# scoregate approval manifest: {} for cohort {}\n",
        d.action.as_str(),
        d.cohort
    ));
    out.push_str("#\n# By signing this file you approve, for this cohort only:\n");
    match d.action {
        Action::Activate => {
            out.push_str(&format!(
                "#   - scoring revision {}{}\n",
                d.candidate_revision,
                d.candidate_name.as_ref().map_or(String::new(), |n| format!(" ({n})"))
            ));
            out.push_str(&format!(
                "#     replacing the trusted revision {} (restored on rollback or expiry)\n",
                d.rollback_revision
            ));
        }
        Action::Renew => out.push_str(&format!("#   - a new window for the live revision {}\n", d.candidate_revision)),
        Action::Promote => out.push_str(&format!(
            "#   - making the live revision {} trusted: no window after it, and the rollback target of later approvals\n",
            d.candidate_revision
        )),
        Action::Revoke => out.push_str(&format!(
            "#   - ending the live revision {} now, restoring {}\n",
            d.candidate_revision, d.rollback_revision
        )),
    }
    if let Some(e) = &d.evidence_digest {
        out.push_str(&format!("#   - on the evidence packet {e}\n"));
    }
    if let Some(o) = &d.outcome_digest {
        out.push_str(&format!("#   - on the outcome report {o} of the current window\n"));
    }
    let when = match d.action {
        Action::Promote => "#   - applied by a cycle between {} and {}, or not at all\n",
        _ => "#   - live from {} until {} at the latest\n",
    };
    out.push_str(
        &when
            .replacen("{}", &toml_time(&d.not_before), 1)
            .replacen("{}", &toml_time(&d.not_after), 1),
    );
    if d.guardrails.is_some() {
        out.push_str("#   - with the guardrails below; breaching any rolls back automatically\n");
    }
    if !d.regressions.is_empty() {
        out.push_str(&format!(
            "#\n# The packet shows these protected classes regressed: {}.\n# It activates only if you list each in acknowledged_regressions.\n",
            d.regressions.join(", ")
        ));
    }
    out.push_str("#\n# Do not edit after signing: the signature covers these exact bytes.\n");
    out.push_str(&format!(
        "# Sign with your own SSH key:\n#   ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n scoregate-approval {file}\n"
    ));
    out.push_str(&format!(
        "# then submit:\n#   scoregate manifest submit --pipeline PIPELINE {file}\n\n"
    ));
    out.push_str(&format!("schema = {}\n", toml_str(SCHEMA)));
    out.push_str(&format!("manifest_id = {}\n", toml_str(&d.manifest_id)));
    out.push_str(&format!("action = {}\n", toml_str(d.action.as_str())));
    out.push_str(&format!("cohort = {}\n", toml_str(&d.cohort)));
    out.push_str(&format!("candidate_revision = {}\n", toml_str(d.candidate_revision.as_str())));
    out.push_str(&format!("rollback_revision = {}\n", toml_str(d.rollback_revision.as_str())));
    if let Some(e) = &d.evidence_digest {
        out.push_str(&format!("evidence_digest = {}\n", toml_str(e.as_str())));
    }
    if let Some(o) = &d.outcome_digest {
        out.push_str(&format!("outcome_digest = {}\n", toml_str(o.as_str())));
    }
    out.push_str(&format!(
        "approvers = [{}]\n",
        d.approvers.iter().map(|a| toml_str(a)).collect::<Vec<_>>().join(", ")
    ));
    out.push_str(&format!("issued_at = {}\n", toml_time(&d.issued_at)));
    out.push_str(&format!("not_before = {}\n", toml_time(&d.not_before)));
    out.push_str(&format!("not_after = {}\n", toml_time(&d.not_after)));
    if d.action != Action::Revoke {
        out.push_str("acknowledged_regressions = []\n");
    }
    if let Some(g) = &d.guardrails {
        out.push_str("\n[guardrails]                     # may tighten the pipeline's limits, never loosen\n");
        out.push_str(&format!("max_protected_misses = {}\n", g.max_protected_misses));
        out.push_str(&format!(
            "max_protected_signoff_p90_hours = {}\n",
            toml_float(g.max_protected_signoff_p90_hours)
        ));
        out.push_str(&format!("max_canary_misses = {}\n", g.max_canary_misses));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> DraftInput {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        DraftInput {
            file_name: "0f8c2b1e9d7a4c3b8e6f5a4d3c2b1a09.toml".into(),
            manifest_id: "0f8c2b1e9d7a4c3b8e6f5a4d3c2b1a09".into(),
            action: Action::Activate,
            cohort: "payments-platform".into(),
            candidate_revision: Digest::of(b"c"),
            candidate_name: Some("cand".into()),
            rollback_revision: Digest::of(b"l"),
            evidence_digest: Some(Digest::of(b"e")),
            outcome_digest: None,
            approvers: vec!["rm-alice@example.com".into()],
            issued_at: t("2026-11-20T10:00:00Z"),
            not_before: t("2026-11-20T12:00:00Z"),
            not_after: t("2026-11-27T12:00:00Z"),
            regressions: vec!["signing-surface".into()],
            guardrails: Some(Guardrails {
                max_protected_misses: 0,
                max_protected_signoff_p90_hours: 18.0,
                max_canary_misses: 1,
            }),
        }
    }

    #[test]
    fn a_draft_parses_back_to_what_it_binds() {
        let text = draft(&input());
        assert!(text.contains("ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n scoregate-approval 0f8c2b1e9d7a4c3b8e6f5a4d3c2b1a09.toml"));
        assert!(text.contains("regressed: signing-surface"));
        let m = Manifest::parse("draft", text.as_bytes()).unwrap();
        let i = input();
        assert_eq!(
            (m.action, m.candidate_revision, m.rollback_revision, m.evidence_digest),
            (Action::Activate, i.candidate_revision, i.rollback_revision, i.evidence_digest)
        );
        assert_eq!(m.not_after, i.not_after);
        assert_eq!(m.guardrails, i.guardrails);
        assert!(m.acknowledged_regressions.is_empty());
        assert_eq!(m.digest, Digest::of(text.as_bytes()));
    }

    #[test]
    fn malformed_manifests_name_the_field() {
        let text = draft(&input());
        let check = |t: String, field: &str| match Manifest::parse("m", t.as_bytes()) {
            Err(ManifestError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        };
        check(text.replace("0f8c2b1e9d7a4c3b8e6f5a4d3c2b1a09\"", "0F8C\""), "manifest_id");
        check(
            text.replace("not_after = 2026-11-27T12:00:00Z", "not_after = 2026-11-19T12:00:00Z"),
            "not_after",
        );
        check(
            text.replace("issued_at = 2026-11-20T10:00:00Z", "issued_at = 2026-11-20T10:00:00"),
            "issued_at",
        );
        check(
            text.replace("approvers = [\"rm-alice@example.com\"]", "approvers = []"),
            "approvers",
        );
        assert!(matches!(
            Manifest::parse("m", text.replace("cohort =", "kohort =").as_bytes()),
            Err(ManifestError::Toml { .. })
        ));
        assert!(matches!(
            Manifest::parse("m", format!("{text}\nextra = 1\n").as_bytes()),
            Err(ManifestError::Toml { .. })
        ));
        let big = format!("{text}\n#{}\n", "x".repeat(MAX_MANIFEST_BYTES));
        assert!(matches!(Manifest::parse("m", big.as_bytes()), Err(ManifestError::TooLarge { .. })));
    }

    #[test]
    fn signature_names() {
        assert_eq!(signature_name("a.toml", 0), "a.toml.sig");
        assert_eq!(signature_name("a.toml", 2), "a.toml.2.sig");
        assert!(is_signature_of("a.toml.sig", "a.toml"));
        assert!(is_signature_of("a.toml.12.sig", "a.toml"));
        assert!(!is_signature_of("a.toml.x.sig", "a.toml"));
        assert!(!is_signature_of("a.toml", "a.toml"));
        assert!(!is_signature_of("b.toml.sig", "a.toml"));
    }
}

//! The evidence packet (`scoregate.evidence/v1`, SPEC §5): the per-class
//! replay result for (live, candidate, history snapshot, replay settings),
//! its digest, and the self-contained HTML page a release manager reads
//! before signing.
//!
//! The packet is a pure function of its inputs: no wall-clock time, classes
//! sorted by name bytes, and its stored form is its RFC 8785 bytes, so the
//! digest `sha256:` of those bytes is also the hash of the stored object.

use crate::canonical::{to_jcs, Digest};
use crate::pipeline::ReplaySettings;
use crate::profile::Profile;
use crate::replay::history::{History, Snapshot};
use crate::replay::{Delta, Metrics, Replay, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "scoregate.evidence/v1";

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("evidence packet {object}: not a valid scoregate.evidence/v1 document: {message}")]
    Invalid { object: String, message: String },
    #[error("evidence packet {object}: its bytes hash to {actual}, not to {expected}")]
    DigestMismatch { object: String, expected: Digest, actual: Digest },
    #[error("evidence page: {0}")]
    Render(String),
}

/// Replay settings as recorded in the packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PacketSettings {
    pub default_capacity: u32,
    pub reviewer_throughput_per_hour: f64,
    pub protected_classes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassResult {
    pub class: String,
    pub protected: bool,
    pub verdict: Verdict,
    pub live: Metrics,
    pub candidate: Metrics,
    pub delta: Delta,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllResult {
    pub live: Metrics,
    pub candidate: Metrics,
    pub delta: Delta,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataQuality {
    /// Null feature values read as 0.0, per feature column.
    pub null_features: BTreeMap<String, u64>,
    /// Rows of other cohorts under the prefix, ignored.
    pub other_cohort_rows: u64,
}

/// The evidence packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Packet {
    pub schema: String,
    pub cohort: String,
    pub live_revision: Digest,
    pub live_profile_name: String,
    pub candidate_revision: Digest,
    pub candidate_profile_name: String,
    pub history: Snapshot,
    pub settings: PacketSettings,
    pub classes: Vec<ClassResult>,
    pub all: AllResult,
    /// Protected classes whose verdict is `regressed`, by name.
    pub protected_regressions: Vec<String>,
    pub data_quality: DataQuality,
}

impl Packet {
    /// Assemble the packet from a replay.
    pub fn build(
        cohort: &str,
        settings: &ReplaySettings,
        protected: &[String],
        history: &History,
        replay: &Replay,
        live: &Profile,
        candidate: &Profile,
    ) -> Packet {
        let mut classes: Vec<ClassResult> = history
            .classes
            .iter()
            .zip(&replay.classes)
            .map(|(class, [l, c])| ClassResult {
                class: class.clone(),
                protected: protected.contains(class),
                verdict: Verdict::of(l, c),
                live: l.clone(),
                candidate: c.clone(),
                delta: Delta::between(l, c),
            })
            .collect();
        // A protected class with no history still gets a row: no evidence is evidence too.
        for p in protected {
            if !history.classes.contains(p) {
                let empty = Metrics::empty();
                classes.push(ClassResult {
                    class: p.clone(),
                    protected: true,
                    verdict: Verdict::Unchanged,
                    delta: Delta::between(&empty, &empty),
                    live: empty.clone(),
                    candidate: empty,
                });
            }
        }
        classes.sort_by(|a, b| a.class.as_bytes().cmp(b.class.as_bytes()));
        let protected_regressions = classes
            .iter()
            .filter(|c| c.protected && c.verdict == Verdict::Regressed)
            .map(|c| c.class.clone())
            .collect();
        let [l, c] = &replay.all;
        Packet {
            schema: SCHEMA.into(),
            cohort: cohort.into(),
            live_revision: live.revision().clone(),
            live_profile_name: live.name().into(),
            candidate_revision: candidate.revision().clone(),
            candidate_profile_name: candidate.name().into(),
            history: history.snapshot.clone(),
            settings: PacketSettings {
                default_capacity: settings.default_capacity,
                reviewer_throughput_per_hour: settings.reviewer_throughput_per_hour,
                protected_classes: protected.to_vec(),
            },
            classes,
            all: AllResult {
                live: l.clone(),
                candidate: c.clone(),
                delta: Delta::between(l, c),
            },
            protected_regressions,
            data_quality: DataQuality {
                null_features: history
                    .feature_names
                    .iter()
                    .cloned()
                    .zip(history.null_features.iter().copied())
                    .collect(),
                other_cohort_rows: history.other_cohort_rows,
            },
        }
    }

    /// The RFC 8785 bytes: the packet's stored and written form.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_jcs(self)
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.to_bytes())
    }

    /// Parse a packet (any whitespace or key order); its digest is over its canonical form.
    pub fn parse(object: &str, bytes: &[u8]) -> Result<Packet, EvidenceError> {
        let invalid = |message: String| EvidenceError::Invalid {
            object: object.into(),
            message,
        };
        let packet: Packet = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if packet.schema != SCHEMA {
            return Err(invalid(format!(
                "field `schema`: expected \"{SCHEMA}\", found \"{}\"",
                packet.schema
            )));
        }
        Ok(packet)
    }

    /// Parse a stored packet and check that its bytes hash to `expected`.
    pub fn parse_stored(object: &str, bytes: &[u8], expected: &Digest) -> Result<Packet, EvidenceError> {
        let actual = Digest::of(bytes);
        if &actual != expected {
            return Err(EvidenceError::DigestMismatch {
                object: object.into(),
                expected: expected.clone(),
                actual,
            });
        }
        Packet::parse(object, bytes)
    }
}

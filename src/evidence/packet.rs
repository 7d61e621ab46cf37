//! The evidence packet (`scoregate.evidence/v1`, SPEC §5): the per-class
//! replay result for (live, candidate, history snapshot, replay settings),
//! its digest, and the self-contained HTML page a release manager reads
//! before signing.
//!
//! The packet is a pure function of its inputs: no wall-clock time, classes
//! sorted by name bytes, and its stored form is its RFC 8785 bytes, so the
//! digest `sha256:` of those bytes is also the hash of the stored object.

use crate::canonical::{to_jcs, Digest};
use crate::evidence::uncertainty::{self, DiscordantItems, Method, Uncertainty};
use crate::pipeline::ReplaySettings;
use crate::profile::Profile;
use crate::replay::history::{History, Snapshot};
use crate::replay::{Churn, Delta, Metrics, Replay, Verdict};
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
    #[error(
        "the live revision {revision} (the cohort's {which}) is not stored in {store}: store its profile with `scoregate profile put --pipeline {pipeline} PROFILE.json`, or pass the live profile with `--live PROFILE.json`"
    )]
    NoLiveProfile {
        revision: Digest,
        which: &'static str,
        store: String,
        pipeline: String,
    },
    #[error("candidates {first} and {second} of the sweep are one revision, {revision}: give each candidate once")]
    DuplicateCandidate { revision: Digest, first: usize, second: usize },
    #[error(
        "`--items` writes one row per item and needs the whole history in memory: about {needed} for {items} rows, over the memory budget of {budget}; raise `--memory-budget` or leave out `--items`"
    )]
    ItemsOverBudget {
        items: u64,
        needed: bytesize::ByteSize,
        budget: bytesize::ByteSize,
    },
}

/// Replay settings as recorded in the packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PacketSettings {
    pub default_capacity: u32,
    pub reviewer_throughput_per_hour: f64,
    pub protected_classes: Vec<String>,
    /// `[replay] alpha` (absent from packets made before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
}

impl ClassResult {
    /// The verdict in the words the page and the terminal use: "improved
    /// (significant)", "regressed (within noise)", "unchanged", with
    /// "; uncertain: unjudged items" when unjudged items could flip it.
    pub fn verdict_words(&self) -> String {
        verdict_words(self.verdict, self.uncertainty.as_ref(), self.uncertain_unjudged)
    }
}

/// See [`ClassResult::verdict_words`].
pub fn verdict_words(verdict: Verdict, u: Option<&Uncertainty>, uncertain_unjudged: bool) -> String {
    let mut words = format!("{verdict:?}").to_lowercase();
    if let (Verdict::Improved | Verdict::Regressed, Some(u)) = (verdict, u) {
        words += if u.significant { " (significant)" } else { " (within noise)" };
    }
    if uncertain_unjudged {
        words += "; uncertain: unjudged items";
    }
    words
}

impl ChurnResult {
    fn of(c: &Churn, gained: Vec<String>, lost: Vec<String>) -> ChurnResult {
        ChurnResult {
            entered: c.entered,
            entered_actionable: c.entered_actionable,
            entered_unjudged: c.entered_unjudged,
            left: c.left,
            left_actionable: c.left_actionable,
            gained,
            lost,
        }
    }
}

/// SPEC §4c churn of a class, with example item ids for protected classes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChurnResult {
    /// Surfaced by the candidate, not by live.
    pub entered: u64,
    pub entered_actionable: u64,
    pub entered_unjudged: u64,
    /// Surfaced by live, not by the candidate.
    pub left: u64,
    pub left_actionable: u64,
    /// Actionable items only the candidate surfaces (protected classes; at most 10).
    pub gained: Vec<String>,
    /// Actionable items only live surfaces (protected classes; at most 10).
    pub lost: Vec<String>,
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
    /// How sure the verdict is (absent from packets made before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertainty: Option<Uncertainty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<ChurnResult>,
    /// A protected class whose candidate-only unjudged surfaced items
    /// outnumber |Δfn|: its verdict may rest on items nobody judged.
    #[serde(default)]
    pub uncertain_unjudged: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllResult {
    pub live: Metrics,
    pub candidate: Metrics,
    pub delta: Delta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertainty: Option<Uncertainty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<ChurnResult>,
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
    /// Protected classes that regressed with `significant` true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub significant_regressions: Option<Vec<String>>,
    pub data_quality: DataQuality,
    /// How the intervals and p-values were computed, with the generator's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertainty_method: Option<Method>,
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
        let packet_settings = PacketSettings {
            default_capacity: settings.default_capacity,
            reviewer_throughput_per_hour: settings.reviewer_throughput_per_hour,
            protected_classes: protected.to_vec(),
            alpha: Some(settings.alpha),
        };
        let seed = seed(history, live, candidate, &packet_settings);
        let (mut per_class, all_stats) = statistics(history, replay, &seed);
        let mut classes = class_results(history, replay, protected, &seed, &mut per_class);
        let mut family: Vec<&mut Uncertainty> = classes.iter_mut().filter_map(|c| c.uncertainty.as_mut()).collect();
        uncertainty::holm(&mut family, settings.alpha);
        let regressed = |significant: bool| {
            classes
                .iter()
                .filter(|c| c.protected && c.verdict == Verdict::Regressed)
                .filter(|c| !significant || c.uncertainty.as_ref().is_some_and(|u| u.significant))
                .map(|c| c.class.clone())
                .collect::<Vec<_>>()
        };
        let (protected_regressions, significant_regressions) = (regressed(false), regressed(true));
        Packet {
            schema: SCHEMA.into(),
            cohort: cohort.into(),
            live_revision: live.revision().clone(),
            live_profile_name: live.name().into(),
            candidate_revision: candidate.revision().clone(),
            candidate_profile_name: candidate.name().into(),
            history: history.snapshot.clone(),
            settings: packet_settings,
            all: all_result(replay, all_stats, settings.alpha),
            classes,
            protected_regressions,
            significant_regressions: Some(significant_regressions),
            data_quality: DataQuality {
                null_features: null_features(history, live, candidate),
                other_cohort_rows: history.other_cohort_rows,
            },
            uncertainty_method: Some(Method::new(settings.alpha, seed)),
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

/// The statistics' seed: sha256 of the packet's own inputs (history
/// fingerprint, both revisions, settings), so the packet stays a pure function of them.
fn seed(history: &History, live: &Profile, candidate: &Profile, settings: &PacketSettings) -> Digest {
    let inputs = serde_json::json!({
        "history": history.snapshot.fingerprint,
        "live": live.revision(),
        "candidate": candidate.revision(),
        "settings": settings,
    });
    Digest::of(&to_jcs(&inputs))
}

/// Nulls per feature column the two profiles read. A sweep reads every
/// candidate's columns at once; a packet still names only its own two
/// profiles' columns, so it equals the packet of a single replay.
fn null_features(history: &History, live: &Profile, candidate: &Profile) -> BTreeMap<String, u64> {
    let mut used = live.feature_columns();
    used.extend(candidate.feature_columns());
    history
        .feature_names
        .iter()
        .zip(&history.null_features)
        .filter(|(name, _)| used.contains(name))
        .map(|(name, &nulls)| (name.clone(), nulls))
        .collect()
}

/// Per class, sorted by name bytes; a protected class with no history still
/// gets a row (no evidence is evidence too). Holm is applied by the caller.
/// Every class's uncertainty (in the history's class order) and the `*`
/// row's, one rayon task each: each class draws from its own seeded
/// generator, so the result does not depend on the thread count.
fn statistics(history: &History, replay: &Replay, seed: &Digest) -> (Vec<Option<Uncertainty>>, Uncertainty) {
    use rayon::prelude::*;
    let n = history.classes.len();
    let counts = &replay.window_counts;
    let (paired, all) = uncertainty::paired_by_class(counts, n);
    let mut stats: Vec<Uncertainty> = (0..=n)
        .into_par_iter()
        .map(|k| match k < n {
            true => uncertainty::uncertainty(&paired[k], discordant(&replay.churn[k]), seed, &history.classes[k]),
            false => uncertainty::uncertainty(&all, discordant(&replay.all_churn), seed, "*"),
        })
        .collect();
    let all = stats.pop().expect("the * row");
    (stats.into_iter().map(Some).collect(), all)
}

fn class_results(
    history: &History,
    replay: &Replay,
    protected: &[String],
    seed: &Digest,
    stats: &mut [Option<Uncertainty>],
) -> Vec<ClassResult> {
    let mut classes: Vec<ClassResult> = history
        .classes
        .iter()
        .enumerate()
        .map(|(k, class)| {
            let [l, c] = &replay.classes[k];
            let is_protected = protected.contains(class);
            let churn = &replay.churn[k];
            let delta = Delta::between(l, c);
            let examples = |d: usize| match is_protected {
                true => replay.examples[k][d]
                    .iter()
                    .map(|&i| history.item_ids.get_str(i as usize).to_string())
                    .collect(),
                false => Vec::new(),
            };
            ClassResult {
                class: class.clone(),
                protected: is_protected,
                verdict: Verdict::of(l, c),
                uncertainty: stats[k].take(),
                churn: Some(ChurnResult::of(churn, examples(0), examples(1))),
                uncertain_unjudged: is_protected && churn.entered_unjudged > delta.fn_.unsigned_abs(),
                live: l.clone(),
                candidate: c.clone(),
                delta,
            }
        })
        .collect();
    for p in protected.iter().filter(|p| !history.classes.contains(p)) {
        let empty = Metrics::empty();
        classes.push(ClassResult {
            class: p.clone(),
            protected: true,
            verdict: Verdict::Unchanged,
            delta: Delta::between(&empty, &empty),
            live: empty.clone(),
            candidate: empty,
            uncertainty: Some(uncertainty::uncertainty(&[], DiscordantItems::default(), seed, p)),
            churn: Some(ChurnResult::of(&Churn::default(), Vec::new(), Vec::new())),
            uncertain_unjudged: false,
        });
    }
    classes.sort_by(|a, b| a.class.as_bytes().cmp(b.class.as_bytes()));
    classes
}

/// The `*` row: its p-value is not in the Holm family.
fn all_result(replay: &Replay, mut u: Uncertainty, alpha: f64) -> AllResult {
    let [l, c] = &replay.all;
    u.significant = u.p_adjusted.is_some_and(|p| p <= alpha);
    AllResult {
        live: l.clone(),
        candidate: c.clone(),
        delta: Delta::between(l, c),
        uncertainty: Some(u),
        churn: Some(ChurnResult::of(&replay.all_churn, Vec::new(), Vec::new())),
    }
}

fn discordant(churn: &Churn) -> DiscordantItems {
    DiscordantItems {
        only_live: churn.left_actionable,
        only_candidate: churn.entered_actionable,
    }
}

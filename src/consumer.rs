//! The consumer's side (README "Using the active profile"): what a review
//! queue service or a dashboard calls to use the profile in force, without
//! re-implementing the scoring arithmetic or the fallback rule.
//!
//! ```text
//! let active = ActiveArtifact::load("s3://bucket/scoregate", "payments-platform").await?;
//! let in_force = active.verified()?.in_force(now)?;   // bounded before valid_until, fallback after
//! let scored = score_items(&in_force.profile, &parquet_bytes, "payments-platform", 25)?;
//! ```
//!
//! Errors are typed by meaning so a consumer can branch: [`ConsumerError::Unreadable`]
//! (keep the last verified profile and retry), [`ConsumerError::Tampered`]
//! (alert; keep the last verified profile), [`ConsumerError::Stale`] (the
//! artifact is not the log head: a cycle has not caught up, or the log was
//! cut back), and [`ConsumerError::BadItems`] for input it cannot score.
//!
//! Architecture invariant: scoring goes through the same decoder, scorer and
//! ranker as replay ([`crate::replay`]), so a consumer's scores and ranks are
//! the replay's, bit for bit.

use crate::canonical::{to_jcs, Digest};
use crate::evidence::steward::query_for;
use crate::pipeline::ReplaySettings;
use crate::profile::Profile;
use crate::release::artifacts::ActiveProfile;
use crate::replay::history::{History, HistoryQuery};
use crate::replay::{replay_with, Batching};
use crate::store::{layout, Store, StoreLocation};
use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int32Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// What can go wrong for a consumer, by meaning.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// The artifact (or the store) could not be read: keep the last verified profile, retry.
    #[error("active profile {object}: cannot be read: {message}")]
    Unreadable { object: String, message: String },
    /// An embedded profile does not hash to its revision id, or the document is not an active profile.
    #[error("active profile {object}: tampered: {detail}")]
    Tampered { object: String, detail: String },
    /// The artifact does not derive from the log head.
    #[error("active profile {object}: stale: {detail}")]
    Stale { object: String, detail: String },
    /// The items to score are not readable review items.
    #[error("items to score: {0}")]
    BadItems(String),
}

/// The active-profile artifact of one cohort, as read from its store.
#[derive(Clone, Debug)]
pub struct ActiveArtifact {
    /// Where it was read from, for messages.
    pub object: String,
    pub artifact: ActiveProfile,
}

/// The profile a consumer must use at one instant.
#[derive(Clone, Debug)]
pub struct InForce {
    pub revision: Digest,
    pub name: String,
    pub profile: Profile,
    /// A bounded revision before its `valid_until`.
    pub bounded: bool,
    /// Use `profile` until this instant (bounded only).
    pub until: Option<DateTime<Utc>>,
    /// `valid_until` has passed: this is the trusted fallback, whatever the artifact's head says.
    pub fell_back: bool,
    /// The commit the artifact derives from (0: the baseline, before any commit).
    pub seq: u64,
    pub commit_digest: Option<Digest>,
}

impl ActiveArtifact {
    /// Read `active/<cohort>/profile.json` from a store URL or local path.
    pub async fn load(store_url: &str, cohort: &str) -> Result<ActiveArtifact, ConsumerError> {
        let unreadable = |message: String| ConsumerError::Unreadable {
            object: format!("{store_url}/{}", layout::active(cohort)),
            message,
        };
        let location = StoreLocation::parse(store_url, std::path::Path::new(".")).map_err(unreadable)?;
        let store = Store::open(&location).map_err(|e| unreadable(e.to_string()))?;
        ActiveArtifact::load_from(&store, cohort).await
    }

    /// Read the cohort's active-profile artifact from an open store.
    pub async fn load_from(store: &Store, cohort: &str) -> Result<ActiveArtifact, ConsumerError> {
        let object = format!("{}/{}", store.name(), layout::active(cohort));
        let bytes = store.get(&layout::active(cohort)).await.map_err(|e| ConsumerError::Unreadable {
            object: object.clone(),
            message: e.to_string(),
        })?;
        let artifact: ActiveProfile = serde_json::from_slice(&bytes).map_err(|e| ConsumerError::Tampered {
            object: object.clone(),
            detail: format!("not a scoregate.active/v1 document: {e}"),
        })?;
        Ok(ActiveArtifact { object, artifact })
    }

    /// Check that both embedded profiles hash to the revision ids beside them.
    pub fn verified(self) -> Result<ActiveArtifact, ConsumerError> {
        let a = &self.artifact;
        for (field, value, revision) in [
            ("profile", &a.profile, &a.revision),
            ("fallback_profile", &a.fallback_profile, &a.fallback_revision),
        ] {
            let actual = Digest::of(&to_jcs(value));
            if &actual != revision {
                return Err(ConsumerError::Tampered {
                    object: self.object.clone(),
                    detail: format!("`{field}` hashes to {actual}, not to its revision id {revision}"),
                });
            }
        }
        Ok(self)
    }

    /// Check that the artifact derives from the commit `head` (seq and digest) of the log.
    pub fn derives_from(self, head_seq: u64, head_digest: Option<&Digest>) -> Result<ActiveArtifact, ConsumerError> {
        let a = &self.artifact;
        if a.seq != head_seq || a.commit_digest.as_ref() != head_digest {
            return Err(ConsumerError::Stale {
                object: self.object.clone(),
                detail: format!(
                    "derives from commit {} ({}), the log head is {head_seq} ({})",
                    a.seq,
                    a.commit_digest.as_ref().map_or("none".into(), |d| d.to_string()),
                    head_digest.map_or("none".into(), |d| d.to_string())
                ),
            });
        }
        Ok(self)
    }

    /// The profile in force at `now`: the bounded one before `valid_until`,
    /// the trusted fallback from `valid_until` on.
    pub fn in_force(&self, now: DateTime<Utc>) -> Result<InForce, ConsumerError> {
        let a = &self.artifact;
        let fell_back = a.valid_until.is_some_and(|until| now >= until);
        let (value, revision) = if fell_back {
            (&a.fallback_profile, &a.fallback_revision)
        } else {
            (&a.profile, &a.revision)
        };
        let profile = Profile::parse_stored(&self.object, &to_jcs(value), revision).map_err(|e| ConsumerError::Tampered {
            object: self.object.clone(),
            detail: e.to_string(),
        })?;
        Ok(InForce {
            revision: revision.clone(),
            name: profile.name().to_string(),
            profile,
            bounded: a.bounded && !fell_back,
            until: if fell_back { None } else { a.valid_until },
            fell_back,
            seq: a.seq,
            commit_digest: a.commit_digest.clone(),
        })
    }
}

/// Column names of a scored batch.
pub const SCORED_COLUMNS: [&str; 5] = ["item_id", "window_id", "score", "rank", "surfaced"];

/// Score and rank review items (parquet bytes with the history columns; the
/// outcome columns may be absent) with `profile`, exactly as replay does:
/// the same decoder and validation, arithmetic, tie-break and per-window
/// capacity (`window_capacity`, else `default_capacity`). Returns one row
/// per item of `cohort`: item id, window id, score, rank and surfaced, in
/// window order, then rank.
pub fn score_items(profile: &Profile, parquet: &[u8], cohort: &str, default_capacity: u32) -> Result<RecordBatch, ConsumerError> {
    let bad = |e: &dyn std::fmt::Display| ConsumerError::BadItems(e.to_string());
    let query = HistoryQuery {
        outcomes_optional: true,
        live_window: None,
        ..query_for(cohort, &[profile])
    };
    let objects = [("items.parquet".to_string(), bytes::Bytes::copy_from_slice(parquet))];
    let history = History::from_objects(&objects, "", &query).map_err(|e| bad(&e))?;
    let settings = ReplaySettings {
        default_capacity,
        reviewer_throughput_per_hour: 1.0,
        alpha: crate::pipeline::DEFAULT_ALPHA,
    };
    let r = replay_with(&history, profile, profile, &settings, Batching::default()).map_err(|e| bad(&e))?;
    let k = &r.ranking;
    let n = k.order.len();
    let mut window_of_pos = vec![0usize; n];
    for w in 0..k.window_offsets.len() - 1 {
        window_of_pos[k.window_offsets[w]..k.window_offsets[w + 1]].fill(w);
    }
    // Within a window, rows in rank order.
    let mut positions: Vec<usize> = (0..n).collect();
    positions.sort_by_key(|&p| (window_of_pos[p], k.rank[0][p]));
    let item = |p: usize| k.order[p] as usize;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            positions
                .iter()
                .map(|&p| Some(history.item_ids.get_str(item(p))))
                .collect::<StringArray>(),
        ),
        Arc::new(
            positions
                .iter()
                .map(|&p| Some(history.windows[window_of_pos[p]].id.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(Float64Array::from_iter_values(positions.iter().map(|&p| k.score[0][p]))),
        Arc::new(Int32Array::from_iter_values(positions.iter().map(|&p| k.rank[0][p] as i32))),
        Arc::new(BooleanArray::from_iter(
            positions.iter().map(|&p| Some(k.rank[0][p] <= k.capacity[window_of_pos[p]])),
        )),
    ];
    let metadata = HashMap::from([
        ("scoregate.revision".to_string(), profile.revision().to_string()),
        ("scoregate.profile_name".to_string(), profile.name().to_string()),
    ]);
    let schema = Schema::new(vec![
        Field::new(SCORED_COLUMNS[0], DataType::Utf8, false),
        Field::new(SCORED_COLUMNS[1], DataType::Utf8, false),
        Field::new(SCORED_COLUMNS[2], DataType::Float64, false),
        Field::new(SCORED_COLUMNS[3], DataType::Int32, false),
        Field::new(SCORED_COLUMNS[4], DataType::Boolean, false),
    ])
    .with_metadata(metadata);
    RecordBatch::try_new(Arc::new(schema), columns).map_err(|e| bad(&e))
}

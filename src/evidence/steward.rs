//! The steward's path: from a pipeline and a candidate profile to a stored
//! evidence packet (`scoregate replay`).
//!
//! Loads the live and candidate profiles, reads the cohort's history with
//! only the columns they need, replays, builds the packet, and stores the
//! candidate profile and the packet content-addressed so that an approval can
//! later bind them. Nothing is written until every input has been validated.

use crate::canonical::Digest;
use crate::evidence::Packet;
use crate::pipeline::Pipeline;
use crate::profile::stored::put_profile;
use crate::profile::{Profile, Transform};
use crate::replay::history::{History, HistoryQuery};
use crate::replay::{replay, Replay};
use crate::store::{layout, Store};
use crate::Error;
use bytes::Bytes;
use object_store::path::Path as ObjPath;

/// The history columns two profiles need.
pub fn query_for(cohort: &str, profiles: &[&Profile]) -> HistoryQuery {
    let mut features: Vec<String> = profiles.iter().flat_map(|p| p.feature_columns()).collect();
    features.sort();
    features.dedup();
    let mut nonnegative: Vec<String> = profiles
        .iter()
        .flat_map(|p| {
            p.doc()
                .features
                .iter()
                .filter(|(_, f)| f.transform == Transform::Log1p)
                .map(|(n, _)| n.clone())
        })
        .collect();
    nonnegative.sort();
    nonnegative.dedup();
    HistoryQuery {
        cohort: cohort.into(),
        features,
        nonnegative,
        live_columns: false,
        outcomes_optional: false,
    }
}

/// Everything one replay produced.
pub struct ReplayOutcome {
    pub history: History,
    pub replay: Replay,
    pub packet: Packet,
    pub packet_bytes: Vec<u8>,
    pub digest: Digest,
}

/// Replay `candidate` against `live` over the pipeline's history and build
/// the packet. Writes nothing.
pub async fn replay_packet(
    pipeline: &Pipeline,
    store: &Store,
    live: &Profile,
    candidate: &Profile,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<ReplayOutcome, Error> {
    let query = query_for(&pipeline.cohort, &[live, candidate]);
    let history = History::read(store, &pipeline.history, &query, progress).await?;
    let started = std::time::Instant::now();
    let replay = tokio::task::block_in_place(|| replay(&history, live, candidate, &pipeline.replay))?;
    tracing::info!(elapsed = ?started.elapsed(), "windows ranked under both revisions");
    let started = std::time::Instant::now();
    let packet = Packet::build(
        &pipeline.cohort,
        &pipeline.replay,
        &pipeline.policy.protected_classes,
        &history,
        &replay,
        live,
        candidate,
    );
    tracing::info!(elapsed = ?started.elapsed(), "packet built with its statistics");
    let packet_bytes = packet.to_bytes();
    let digest = Digest::of(&packet_bytes);
    Ok(ReplayOutcome {
        history,
        replay,
        packet,
        packet_bytes,
        digest,
    })
}

/// Store the candidate profile and the packet, content-addressed.
pub async fn store_evidence(store: &Store, cohort: &str, candidate: &Profile, outcome: &ReplayOutcome) -> Result<ObjPath, Error> {
    put_profile(store, candidate).await?;
    let path = layout::evidence(cohort, &outcome.digest);
    store.put_immutable(&path, Bytes::copy_from_slice(&outcome.packet_bytes)).await?;
    Ok(path)
}

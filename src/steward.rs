//! The steward's path: from a pipeline and a candidate profile to a stored
//! evidence packet (`scoregate replay`).
//!
//! Loads the live and candidate profiles, reads the cohort's history with
//! only the columns they need, replays, builds the packet, and stores the
//! candidate profile and the packet content-addressed so that an approval can
//! later bind them. Nothing is written until every input has been validated.

use crate::canonical::Digest;
use crate::evidence::Packet;
use crate::history::{History, HistoryQuery};
use crate::pipeline::Pipeline;
use crate::profile::{Profile, Transform};
use crate::replay::{replay, Replay};
use crate::store::Store;
use crate::Error;
use bytes::Bytes;
use object_store::path::Path as ObjPath;

/// Where a revision's profile document lives in a store.
pub fn profile_path(revision: &Digest) -> ObjPath {
    ObjPath::from(format!("profiles/sha256-{}.json", revision.hex()))
}

/// Load a stored profile and check its bytes hash to `revision`.
pub async fn load_profile(store: &Store, revision: &Digest) -> Result<Profile, Error> {
    let path = profile_path(revision);
    let bytes = store.get(&path).await?;
    Ok(Profile::parse_stored(&format!("{}/{path}", store.name()), &bytes, revision)?)
}

/// Store a profile under its revision id (idempotent).
pub async fn put_profile(store: &Store, profile: &Profile) -> Result<bool, Error> {
    Ok(store
        .put_immutable(&profile_path(profile.revision()), Bytes::copy_from_slice(profile.canonical_bytes()))
        .await?)
}

/// The revision live now: the log head's once the cycle has committed, else
/// the pipeline's baseline.
pub async fn live_revision(pipeline: &Pipeline, store: &Store) -> Result<Digest, Error> {
    Ok(crate::log::read_state(pipeline, store).await?.live)
}

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
    let packet = Packet::build(
        &pipeline.cohort,
        &pipeline.replay,
        &pipeline.policy.protected_classes,
        &history,
        &replay,
        live,
        candidate,
    );
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
    let path = ObjPath::from(Packet::store_path(cohort, &outcome.digest));
    store.put_immutable(&path, Bytes::copy_from_slice(&outcome.packet_bytes)).await?;
    Ok(path)
}

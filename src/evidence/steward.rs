//! The steward's path: from a pipeline and a candidate profile to a stored
//! evidence packet (`scoregate replay`).
//!
//! Loads the live and candidate profiles, reads the cohort's history with
//! only the columns they need, replays, builds the packet, and stores the
//! candidate profile and the packet content-addressed so that an approval can
//! later bind them. Nothing is written until every input has been validated.

use crate::canonical::Digest;
use crate::evidence::{EvidenceError, Packet};
use crate::pipeline::Pipeline;
use crate::profile::stored::put_profile;
use crate::profile::{Profile, Transform};
use crate::replay::history::{History, HistoryQuery};
use crate::replay::{live_side, replay, replay_candidate, Batching, Log1pCache, Replay, ScoringBuffers};
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
        live_window: None,
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

/// One candidate's packet in a sweep: the packet, its bytes and digest.
pub struct Evidence {
    pub packet: Packet,
    pub packet_bytes: Vec<u8>,
    pub digest: Digest,
}

/// A sweep: the history decoded once, and one packet per candidate in the
/// order given, each byte-identical to a single replay of that candidate.
pub struct Sweep {
    pub history: History,
    pub packets: Vec<Evidence>,
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
    let (replay, evidence) = tokio::task::block_in_place(|| evidence_for(pipeline, &history, live, candidate))?;
    Ok(ReplayOutcome {
        history,
        replay,
        packet: evidence.packet,
        packet_bytes: evidence.packet_bytes,
        digest: evidence.digest,
    })
}

/// Replay several candidates against `live` over one read of the history
/// (the columns every profile needs), one packet each. Writes nothing. A
/// revision given twice is refused: both packets would be one object.
pub async fn replay_sweep(
    pipeline: &Pipeline,
    store: &Store,
    live: &Profile,
    candidates: &[Profile],
    progress: Option<&indicatif::ProgressBar>,
) -> Result<Sweep, Error> {
    for (k, c) in candidates.iter().enumerate() {
        if let Some(first) = candidates[..k].iter().position(|o| o.revision() == c.revision()) {
            return Err(EvidenceError::DuplicateCandidate {
                revision: c.revision().clone(),
                first: first + 1,
                second: k + 1,
            }
            .into());
        }
    }
    let mut profiles: Vec<&Profile> = vec![live];
    profiles.extend(candidates);
    let query = query_for(&pipeline.cohort, &profiles);
    let history = History::read(store, &pipeline.history, &query, progress).await?;
    let packets = tokio::task::block_in_place(|| {
        // The live side is ranked once; then one candidate at a time.
        let started = std::time::Instant::now();
        let mut buffers = ScoringBuffers::default();
        let side = live_side(&history, live, &pipeline.replay, Batching::default(), &mut buffers)?;
        let cache = Log1pCache::shared_by(&history, &profiles[1..]);
        tracing::info!(elapsed = ?started.elapsed(), "windows ranked under the live revision, shared log1p terms computed");
        candidates
            .iter()
            .map(|c| {
                let started = std::time::Instant::now();
                let replay = replay_candidate(&history, &side, c, &pipeline.replay, Some(&cache), &mut buffers)?;
                tracing::info!(elapsed = ?started.elapsed(), candidate = %c.revision(), "windows ranked under the candidate");
                let evidence = evidence_of(pipeline, &history, &replay, live, c);
                // The next candidate reuses this replay's buffers.
                buffers.reclaim(replay);
                Ok(evidence)
            })
            .collect::<Result<Vec<_>, Error>>()
    })?;
    Ok(Sweep { history, packets })
}

/// Replay one candidate over a history already read, and build its packet.
fn evidence_for(pipeline: &Pipeline, history: &History, live: &Profile, candidate: &Profile) -> Result<(Replay, Evidence), Error> {
    let started = std::time::Instant::now();
    let replay = replay(history, live, candidate, &pipeline.replay)?;
    tracing::info!(elapsed = ?started.elapsed(), "windows ranked under both revisions");
    let evidence = evidence_of(pipeline, history, &replay, live, candidate);
    Ok((replay, evidence))
}

/// The packet of one replay, its bytes and digest.
fn evidence_of(pipeline: &Pipeline, history: &History, replay: &Replay, live: &Profile, candidate: &Profile) -> Evidence {
    let started = std::time::Instant::now();
    let packet = Packet::build(
        &pipeline.cohort,
        &pipeline.replay,
        &pipeline.policy.protected_classes,
        history,
        replay,
        live,
        candidate,
    );
    tracing::info!(elapsed = ?started.elapsed(), "packet built with its statistics");
    let packet_bytes = packet.to_bytes();
    let digest = Digest::of(&packet_bytes);
    Evidence {
        packet,
        packet_bytes,
        digest,
    }
}

/// Store the candidate profile and its packet, content-addressed.
pub async fn store_evidence(
    store: &Store,
    cohort: &str,
    candidate: &Profile,
    packet_bytes: &[u8],
    digest: &Digest,
) -> Result<ObjPath, Error> {
    put_profile(store, candidate).await?;
    let path = layout::evidence(cohort, digest);
    store.put_immutable(&path, Bytes::copy_from_slice(packet_bytes)).await?;
    Ok(path)
}

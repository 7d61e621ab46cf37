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
use crate::replay::history::fetch::is_parquet_object;
use crate::replay::history::partition::{holding, item_bytes, Census, Holding, MemoryBudget};
use crate::replay::history::{History, HistoryError, HistoryQuery};
use crate::replay::{
    live_side, replay, replay_candidate, replay_part, Batching, Log1pCache, Replay, ReplayError, ReplayPart, ScoringBuffers,
};
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

/// How a replay may read its history (README "Memory budget").
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// The memory a replay may hold; a larger history is replayed in window partitions.
    pub budget: MemoryBudget,
    /// Every item must stay in memory (`--items` writes one row each): a
    /// history over the budget is refused rather than partitioned.
    pub whole: bool,
}

/// A history as a replay holds it.
enum Read {
    Whole(Box<History>),
    Partitioned(Box<Census>),
}

/// List the history and read it whole when it fits the budget, or its
/// census for a replay in window partitions when it does not.
async fn read_history(
    store: &Store,
    prefix: &str,
    query: &HistoryQuery,
    options: ReadOptions,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<Read, Error> {
    let listed: Vec<_> = store
        .list(&ObjPath::from(prefix))
        .await
        .map_err(HistoryError::from)?
        .into_iter()
        .filter(|m| is_parquet_object(m.location.as_ref()))
        .collect();
    let (items, per_partition) = match holding(store, &listed, query, options.budget).await {
        Holding::Whole => {
            return Ok(Read::Whole(Box::new(
                History::read_listed(store, prefix, listed, query, progress).await?,
            )))
        }
        Holding::Partitioned { items, per_partition } => (items, per_partition),
    };
    if options.whole {
        let needed = listed
            .iter()
            .map(|m| m.size)
            .sum::<u64>()
            .saturating_add(items.saturating_mul(item_bytes(query)));
        return Err(EvidenceError::ItemsOverBudget {
            items,
            needed: bytesize::ByteSize(needed),
            budget: bytesize::ByteSize(options.budget.bytes),
        }
        .into());
    }
    if let Some(pb) = progress {
        pb.set_message("census of the history");
        pb.set_length(listed.iter().map(|m| m.size).sum());
    }
    let census = Census::read(store, prefix, listed, query, per_partition, options.budget, progress).await?;
    Ok(Read::Partitioned(Box::new(census)))
}

/// The first score fault of a partitioned replay in the order a whole
/// replay meets them: live before the candidates, candidates in order, then
/// (object path, row).
#[derive(Default)]
struct FirstFault(Option<(usize, String, u64, ReplayError)>);

impl FirstFault {
    fn offer(&mut self, side: usize, e: ReplayError) {
        let (object, row) = e.place();
        let earlier = match &self.0 {
            None => true,
            Some((s, o, r, _)) => (side, object, row) < (*s, o.as_str(), *r),
        };
        if earlier {
            self.0 = Some((side, object.to_string(), row, e));
        }
    }
}

/// Replay every candidate over the census's partitions, one partition at a
/// time: the summary history the packets describe (holding only the churn
/// examples' items) and one replay per candidate, each what a whole read
/// gives.
async fn replay_partitions(
    pipeline: &Pipeline,
    store: &Store,
    census: Box<Census>,
    live: &Profile,
    candidates: &[&Profile],
    progress: Option<&indicatif::ProgressBar>,
) -> Result<(History, Vec<Replay>), Error> {
    let mut parts = vec![ReplayPart::default(); candidates.len()];
    let mut fault = FirstFault::default();
    let mut buffers = ScoringBuffers::default();
    for p in 0..census.partitions() {
        let history = census.read_partition(store, p, progress).await?;
        let base = census.first_window(p);
        tokio::task::block_in_place(|| {
            let started = std::time::Instant::now();
            let side = match live_side(&history, live, &pipeline.replay, Batching::default(), &mut buffers) {
                Ok(side) => side,
                Err(e) => return fault.offer(0, e),
            };
            let cache = (candidates.len() > 1).then(|| Log1pCache::shared_by(&history, candidates));
            for (k, c) in candidates.iter().enumerate() {
                match replay_part(&history, &side, c, cache.as_ref(), &mut buffers, base) {
                    Ok(part) => parts[k].absorb(part),
                    Err(e) => return fault.offer(k + 1, e),
                }
            }
            tracing::info!(partition = p, elapsed = ?started.elapsed(), "partition replayed");
        });
    }
    if let Some((_, _, _, e)) = fault.0 {
        return Err(e.into());
    }
    let mut summary = census.summary_history();
    let mut ids = Vec::new();
    let classes = summary.classes.len();
    let replays = parts.into_iter().map(|p| p.finish(classes, &pipeline.replay, &mut ids)).collect();
    summary.item_ids = ids.iter().map(String::as_str).collect();
    Ok((summary, replays))
}

/// Everything one replay produced.
pub struct ReplayOutcome {
    /// The history read; after a replay in window partitions, its summary
    /// (snapshot, classes and totals, holding only the churn examples' items).
    pub history: History,
    /// How many window partitions the history was replayed in (1: read whole).
    pub partitions: usize,
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
    /// How many window partitions the history was replayed in (1: read whole).
    pub partitions: usize,
    pub packets: Vec<Evidence>,
}

/// Replay `candidate` against `live` over the pipeline's history and build
/// the packet, within the default memory budget. Writes nothing.
pub async fn replay_packet(
    pipeline: &Pipeline,
    store: &Store,
    live: &Profile,
    candidate: &Profile,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<ReplayOutcome, Error> {
    replay_packet_with(pipeline, store, live, candidate, progress, ReadOptions::default()).await
}

/// [`replay_packet`] with explicit [`ReadOptions`].
pub async fn replay_packet_with(
    pipeline: &Pipeline,
    store: &Store,
    live: &Profile,
    candidate: &Profile,
    progress: Option<&indicatif::ProgressBar>,
    options: ReadOptions,
) -> Result<ReplayOutcome, Error> {
    let query = query_for(&pipeline.cohort, &[live, candidate]);
    let (history, partitions, replay, evidence) = match read_history(store, &pipeline.history, &query, options, progress).await? {
        Read::Whole(history) => {
            let (replay, evidence) = tokio::task::block_in_place(|| evidence_for(pipeline, &history, live, candidate))?;
            (*history, 1, replay, evidence)
        }
        Read::Partitioned(census) => {
            let partitions = census.partitions();
            let (summary, mut replays) = replay_partitions(pipeline, store, census, live, &[candidate], progress).await?;
            let replay = replays.pop().expect("one replay per candidate");
            let evidence = evidence_of(pipeline, &summary, &replay, live, candidate);
            (summary, partitions, replay, evidence)
        }
    };
    Ok(ReplayOutcome {
        history,
        partitions,
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
    options: ReadOptions,
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
    let history = match read_history(store, &pipeline.history, &query, options, progress).await? {
        Read::Whole(history) => *history,
        Read::Partitioned(census) => {
            let partitions = census.partitions();
            let (history, replays) = replay_partitions(pipeline, store, census, live, &profiles[1..], progress).await?;
            let packets = candidates
                .iter()
                .zip(&replays)
                .map(|(c, replay)| evidence_of(pipeline, &history, replay, live, c))
                .collect();
            return Ok(Sweep {
                history,
                partitions,
                packets,
            });
        }
    };
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
    Ok(Sweep {
        history,
        partitions: 1,
        packets,
    })
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

//! Reading a history larger than the replay's memory budget, one window
//! partition at a time (README "Memory budget").
//!
//! [`holding`] decides from the listing and the objects' footers whether a
//! history fits the budget whole. When it does not, a first pass, the
//! [`Census`], fetches, hashes, decodes and validates every object as a
//! whole read does, a few objects at a time, but keeps only what spans the
//! history: the names of windows and classes, each window's row count, the
//! totals a packet reports, and a hash of every item id. Windows are unified
//! as a whole read unifies them (the same ids in the same order, the same
//! first capacity conflict), item ids are checked unique over the whole
//! history, and the windows are cut into contiguous ranges of about equal
//! item counts: the partitions. [`Census::read_partition`] then reads one
//! partition: the objects holding its windows are fetched again and must
//! hash to what the census recorded, the row groups holding them are decoded
//! again, and their rows become a [`History`] of that partition alone, with
//! the history's classes and its windows in the history's order. A window
//! never spans two partitions, so a partition is ranked in whole windows.

use super::decode::Chunk;
use super::fetch::{fetch_owned, footer};
use super::merge::{merge_partition, totals, unify_census, CensusNames};
use super::names::Interner;
use super::objects::decode_objects;
use super::plan::Plan;
use super::table::{History, HistoryError, HistoryQuery, ItemIds, OriginRows, Snapshot, SnapshotObject};
use crate::store::Store;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;
use rayon::prelude::*;
use std::collections::HashMap;
use std::ops::Range;

/// How much memory a replay may hold (README "Memory budget").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    pub bytes: u64,
}

impl Default for MemoryBudget {
    /// 4 GiB.
    fn default() -> Self {
        MemoryBudget { bytes: 4 << 30 }
    }
}

/// How a replay holds its history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holding {
    /// Read whole, in one pass.
    Whole,
    /// Read in window partitions of about `per_partition` items; `items` is
    /// what the objects' footers count (rows of every cohort).
    Partitioned { items: u64, per_partition: u64 },
}

/// What an item is estimated to cost in memory during a replay, before its
/// features: its ids, window, class, outcomes and origin as read, and its
/// scores, ranks and place in window order under both revisions.
const ITEM_BYTES: u64 = 112;

/// The estimated memory of one item read with `query`'s features.
pub fn item_bytes(query: &HistoryQuery) -> u64 {
    ITEM_BYTES + 8 * query.features.len() as u64
}

/// Whether `listed` fits `budget` read whole: the objects' bytes (held while
/// decoding) and every item's estimated memory. Footers are read only when
/// the objects' bytes exceed 1/64 of the budget; below that the history
/// would need under 3 bytes of parquet per item (its distinct id alone
/// takes more) to reach the budget.
///
/// A partition's items are sized to half of what the budget leaves after
/// the reserve: two waves of fetched objects (an eighth of the budget each:
/// one decoding, the next arriving) and one decoded row group, at its
/// largest, per worker thread.
pub async fn holding(store: &Store, listed: &[ObjectMeta], query: &HistoryQuery, budget: MemoryBudget) -> Holding {
    let listed_bytes: u64 = listed.iter().map(|m| m.size).sum();
    if listed_bytes.saturating_mul(64) <= budget.bytes {
        return Holding::Whole;
    }
    // A store that cannot serve the footers' ranges is read whole, as before
    // there was a budget; a real fault shows again in that read, with its object.
    let rows = match count_rows(store, listed).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "history footers unreadable: reading the history whole, whatever its size");
            return Holding::Whole;
        }
    };
    let per_item = item_bytes(query);
    if listed_bytes.saturating_add(rows.items.saturating_mul(per_item)) <= budget.bytes {
        return Holding::Whole;
    }
    let threads = rayon::current_num_threads().max(1) as u64;
    // A footer may claim any row count: nothing here may overflow.
    let reserve = (budget.bytes / 4).saturating_add(threads.saturating_mul(rows.largest_group).saturating_mul(per_item));
    Holding::Partitioned {
        items: rows.items,
        per_partition: (budget.bytes.saturating_sub(reserve) / 2 / per_item).max(1),
    }
}

/// What the footers count.
#[derive(Default)]
struct Rows {
    /// Rows of every cohort.
    items: u64,
    /// The rows of the largest row group.
    largest_group: u64,
}

/// Rows in every object's row groups, from their footers (an object whose
/// footer cannot be read counts none: reading it will say what is wrong).
async fn count_rows(store: &Store, listed: &[ObjectMeta]) -> Result<Rows, HistoryError> {
    let groups: Vec<Vec<u64>> = futures::stream::iter(listed.iter().map(|meta| async move {
        Ok::<Vec<u64>, HistoryError>(match footer(store, meta).await? {
            Some(f) => f.metadata.row_groups().iter().map(|rg| rg.num_rows().max(0) as u64).collect(),
            None => Vec::new(),
        })
    }))
    .buffered(8)
    .try_collect()
    .await?;
    let all = groups.iter().flatten();
    Ok(Rows {
        items: all.clone().fold(0u64, |a, &n| a.saturating_add(n)),
        largest_group: all.max().copied().unwrap_or(0),
    })
}

/// What the census keeps of one row group.
struct CensusChunk {
    /// Its object's index in the listing.
    object: usize,
    /// The chunk's names, capacities and totals; no per-row column.
    names: Chunk,
    /// Rows of each of its windows.
    window_rows: Vec<u32>,
    /// Every item id's hash, seeded per census.
    id_hashes: Vec<u64>,
}

/// Keep what spans the history of a decoded row group ([`CensusChunk`]).
fn census_chunk(mut c: Chunk, seed: u64) -> CensusChunk {
    let mut window_rows = vec![0u32; c.window_names.len()];
    for &w in &c.window {
        window_rows[w as usize] += 1;
    }
    let id_hashes = c.ids.iter().map(|id| xxhash_rust::xxh3::xxh3_64_with_seed(id, seed)).collect();
    let names = Chunk {
        object: c.object,
        window_names: std::mem::take(&mut c.window_names),
        window_caps: std::mem::take(&mut c.window_caps),
        window_starts: std::mem::take(&mut c.window_starts),
        class_names: std::mem::take(&mut c.class_names),
        revision_names: std::mem::take(&mut c.revision_names),
        null_features: std::mem::take(&mut c.null_features),
        other_cohort: c.other_cohort,
        ws_range: c.ws_range,
        ..Chunk::default()
    };
    CensusChunk {
        object: c.object,
        names,
        window_rows,
        id_hashes,
    }
}

/// A history read for a replay in window partitions: everything but its items.
pub struct Census {
    /// The history as a packet describes it, holding no item: its snapshot,
    /// classes, feature names, null counts and other cohorts' rows.
    summary: History,
    store: String,
    prefix: String,
    query: HistoryQuery,
    listed: Vec<ObjectMeta>,
    /// Every listed object's path, with no bytes: what merging names objects by.
    paths: Vec<(String, Bytes)>,
    /// The history's window ids, in its order: what each partition's windows
    /// are checked against in debug builds (the summary's snapshot has their count).
    #[cfg(debug_assertions)]
    window_ids: Vec<String>,
    /// Per object, its row groups' indices among all row groups.
    object_chunks: Vec<Range<usize>>,
    /// Per row group, each of its windows' index in the history.
    window_maps: Vec<Vec<u32>>,
    /// Per row group, the partitions its windows fall in (ascending).
    partitions_of: Vec<Vec<u32>>,
    /// The first window of each partition, then the window count.
    cuts: Vec<u32>,
    /// How many bytes of objects are fetched at once.
    wave_bytes: u64,
}

/// The names, totals and id hashes a census gathered, row group by row group.
struct Gathered {
    objects: Vec<SnapshotObject>,
    chunks: Vec<CensusChunk>,
}

impl Census {
    /// Read the census of `listed` (the parquet objects under `prefix`, in
    /// path order) and cut its windows into partitions of about
    /// `per_partition` items.
    pub async fn read(
        store: &Store,
        prefix: &str,
        listed: Vec<ObjectMeta>,
        query: &HistoryQuery,
        per_partition: u64,
        budget: MemoryBudget,
        progress: Option<&indicatif::ProgressBar>,
    ) -> Result<Census, HistoryError> {
        let started = std::time::Instant::now();
        let seed = random_seed();
        let wave_bytes = (budget.bytes / 8).max(1);
        let gathered = gather(store, &listed, query, wave_bytes, seed, progress).await?;
        tracing::info!(objects = gathered.objects.len(), row_groups = gathered.chunks.len(), elapsed = ?started.elapsed(), "history census read");
        let paths: Vec<(String, Bytes)> = listed.iter().map(|m| (m.location.to_string(), Bytes::new())).collect();
        let (census, suspects) = tokio::task::block_in_place(|| {
            let mut census = Census {
                summary: History::described(prefix, &query.features),
                store: store.name().to_string(),
                prefix: prefix.to_string(),
                query: query.clone(),
                listed,
                paths,
                #[cfg(debug_assertions)]
                window_ids: Vec::new(),
                object_chunks: Vec::new(),
                window_maps: Vec::new(),
                partitions_of: Vec::new(),
                cuts: Vec::new(),
                wave_bytes,
            };
            let suspects = census.absorb(gathered, per_partition)?;
            Ok::<_, HistoryError>((census, suspects))
        })?;
        if census.summary.snapshot.items == 0 {
            return Err(HistoryError::Empty {
                store: census.store.clone(),
                prefix: prefix.to_string(),
                what: format!("no rows for cohort \"{}\"", query.cohort),
            });
        }
        if !suspects.is_empty() {
            census.find_duplicate(store, &suspects, seed).await?;
        }
        tracing::info!(windows = census.summary.snapshot.windows, partitions = census.partitions(), elapsed = ?started.elapsed(), "history census checked and partitioned");
        Ok(census)
    }

    /// How many partitions the windows were cut into.
    pub fn partitions(&self) -> usize {
        self.cuts.len() - 1
    }

    /// The summary history, the census done with.
    pub fn summary_history(self) -> History {
        self.summary
    }

    /// The whole history's index of partition `p`'s first window.
    pub fn first_window(&self, p: usize) -> u32 {
        self.cuts[p]
    }

    /// Unify the gathered names as a whole read would (SPEC §3: one
    /// capacity per window), sum the totals, cut the partitions, and return
    /// the item id hashes seen more than once.
    fn absorb(&mut self, gathered: Gathered, per_partition: u64) -> Result<Vec<u64>, HistoryError> {
        let started = std::time::Instant::now();
        let Gathered { objects, mut chunks } = gathered;
        let names: Vec<Chunk> = chunks.iter_mut().map(|c| std::mem::take(&mut c.names)).collect();
        let totals = totals(&names, self.query.features.len());
        let CensusNames {
            windows,
            window_maps,
            classes,
        } = unify_census(&names, &self.paths)?;
        drop(names);
        tracing::debug!(elapsed = ?started.elapsed(), "census names unified");
        let mut window_rows = vec![0u64; windows.len()];
        for (c, map) in chunks.iter().zip(&window_maps) {
            for (&r, &g) in c.window_rows.iter().zip(map) {
                window_rows[g as usize] += r as u64;
            }
        }
        let mut per_object = vec![0usize; self.listed.len()];
        for c in &chunks {
            per_object[c.object] += 1;
        }
        let mut start = 0;
        self.object_chunks = per_object
            .iter()
            .map(|&n| {
                start += n;
                start - n..start
            })
            .collect();
        self.cuts = cut_windows(&window_rows, per_partition);
        self.partitions_of = partitions_of(&window_maps, &self.cuts);
        let hashes: Vec<u64> = chunks.iter_mut().flat_map(|c| std::mem::take(&mut c.id_hashes)).collect();
        drop(chunks);
        tracing::debug!(elapsed = ?started.elapsed(), "census partitions cut");
        let suspects = repeated(hashes);
        tracing::debug!(elapsed = ?started.elapsed(), "census item ids checked");
        let s = &mut self.summary;
        let items = window_rows.iter().sum();
        s.snapshot = Snapshot::of(&self.prefix, objects, totals.window_start, items, windows.len() as u64);
        s.classes = classes;
        s.null_features = totals.null_features;
        s.other_cohort_rows = totals.other_cohort_rows;
        #[cfg(debug_assertions)]
        {
            self.window_ids = windows.into_iter().map(|w| w.id).collect();
        }
        self.window_maps = window_maps;
        Ok(suspects)
    }

    /// Read partition `p`: the rows of its windows, as a history of their
    /// own whose classes and window order are the whole history's. Every
    /// object read must hash to what the census read.
    /// With `progress`, the bar restarts at this partition's bytes.
    pub async fn read_partition(
        &self,
        store: &Store,
        p: usize,
        progress: Option<&indicatif::ProgressBar>,
    ) -> Result<History, HistoryError> {
        let started = std::time::Instant::now();
        let part = p as u32;
        let touches = |k: usize| self.partitions_of[k].binary_search(&part).is_ok();
        let objects: Vec<usize> = (0..self.listed.len())
            .filter(|&o| self.object_chunks[o].clone().any(touches))
            .collect();
        if let Some(pb) = progress {
            pb.set_message(format!("reading partition {} of {}", p + 1, self.partitions()));
            pb.set_position(0);
            pb.set_length(objects.iter().map(|&o| self.listed[o].size).sum());
        }
        let range = self.cuts[p]..self.cuts[p + 1];
        let chunk_of = |plan: &Plan| self.object_chunks[plan.object].start + plan.row_group;
        let chunks = self
            .read_again(
                store,
                &objects,
                progress,
                |plan| touches(chunk_of(plan)),
                |plan, c| keep_windows(c, &self.window_maps[chunk_of(plan)], &range),
            )
            .await?;
        let chunks: Vec<Chunk> = chunks.into_iter().flatten().collect();
        let mut h = tokio::task::block_in_place(|| merge_partition(chunks, &self.paths, &self.prefix, &self.query))?;
        self.use_history_classes(&mut h);
        #[cfg(debug_assertions)]
        assert!(h
            .windows
            .iter()
            .map(|w| &w.id)
            .eq(&self.window_ids[range.start as usize..range.end as usize]));
        h.snapshot = self.summary.snapshot.clone();
        tracing::info!(partition = p, objects = objects.len(), items = h.len(), windows = h.windows.len(), elapsed = ?started.elapsed(), "history partition read");
        Ok(h)
    }

    /// Map a partition's class ids (into its own sorted classes) to the
    /// whole history's, which the census sorted the same way.
    fn use_history_classes(&self, h: &mut History) {
        let all = &self.summary.classes;
        let to: Vec<u16> = h
            .classes
            .iter()
            .map(|c| all.binary_search(c).expect("the census read every class of the same bytes") as u16)
            .collect();
        h.class.par_iter_mut().for_each(|c| *c = to[*c as usize]);
        h.classes = all.clone();
    }

    /// The exact check behind repeated id hashes: read the ids again in
    /// (object path, row) order and report the first item id seen twice, as
    /// a whole read does. Hashes may collide without ids repeating.
    async fn find_duplicate(&self, store: &Store, suspects: &[u64], seed: u64) -> Result<(), HistoryError> {
        let mut seen: HashMap<Box<[u8]>, (usize, u64)> = HashMap::new();
        let all: Vec<usize> = (0..self.listed.len()).collect();
        let found = self
            .read_again(store, &all, None, |_| true, |_, c| suspect_ids(&c, suspects, seed))
            .await?;
        for (id, object, row) in found.into_iter().flatten() {
            if let Some(&(first_object, first_row)) = seen.get(&id) {
                return Err(HistoryError::DuplicateItem {
                    item_id: String::from_utf8_lossy(&id).into_owned(),
                    first_object: self.paths[first_object].0.clone(),
                    first_row,
                    second_object: self.paths[object].0.clone(),
                    second_row: row,
                });
            }
            seen.insert(id, (object, row));
        }
        Ok(())
    }

    /// Read the listed objects `objects` (ascending) again, a wave at a
    /// time: each must hash to what the census read; `select` picks the row
    /// groups to decode and `keep` what to keep of each, in (object, row
    /// group) order.
    async fn read_again<T: Send>(
        &self,
        store: &Store,
        objects: &[usize],
        progress: Option<&indicatif::ProgressBar>,
        select: impl Fn(&Plan) -> bool + Sync,
        keep: impl Fn(&Plan, Chunk) -> T + Sync,
    ) -> Result<Vec<T>, HistoryError> {
        let expected = Some((self.store.as_str(), self.summary.snapshot.objects.as_slice()));
        let mut kept = Vec::new();
        decode_waves(store, &self.listed, objects, self.wave_bytes, progress, |first, fetched| {
            kept.extend(decode_objects(fetched, first, &self.query, expected, &select, &keep)?.chunks);
            Ok(())
        })
        .await?;
        Ok(kept)
    }
}

impl History {
    /// A history holding no item yet: its prefix and feature names.
    fn described(prefix: &str, features: &[String]) -> History {
        History {
            snapshot: Snapshot::of(prefix, Vec::new(), None, 0, 0),
            item_ids: ItemIds::default(),
            window: Vec::new(),
            windows: Vec::new(),
            class: Vec::new(),
            classes: Vec::new(),
            kind: Vec::new(),
            actionable: Vec::new(),
            unjudged: Vec::new(),
            board_override: Vec::new(),
            missed: Vec::new(),
            feature_names: features.to_vec(),
            features: Vec::new(),
            null_features: vec![0; features.len()],
            other_cohort_rows: 0,
            live: None,
            pruned_row_groups: 0,
            origins: Vec::new(),
        }
    }
}

/// Fetch, hash, decode and validate every listed object, a wave of about
/// `wave_bytes` at a time, keeping what the census needs of each row group.
async fn gather(
    store: &Store,
    listed: &[ObjectMeta],
    query: &HistoryQuery,
    wave_bytes: u64,
    seed: u64,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<Gathered, HistoryError> {
    let mut gathered = Gathered {
        objects: Vec::with_capacity(listed.len()),
        chunks: Vec::new(),
    };
    let all: Vec<usize> = (0..listed.len()).collect();
    decode_waves(store, listed, &all, wave_bytes, progress, |first, fetched| {
        let decoded = decode_objects(fetched, first, query, None, |_| true, |_, c| census_chunk(c, seed))?;
        gathered.objects.extend(decoded.objects);
        gathered.chunks.extend(decoded.chunks);
        Ok(())
    })
    .await?;
    Ok(gathered)
}

/// Decode the listed objects `objects` (ascending) a wave at a time, each
/// handed to `decode` with the listing index of its first object. The next
/// wave is fetched while the current one decodes, so at most two waves are
/// in memory.
async fn decode_waves(
    store: &Store,
    listed: &[ObjectMeta],
    objects: &[usize],
    wave_bytes: u64,
    progress: Option<&indicatif::ProgressBar>,
    mut decode: impl FnMut(usize, &[(String, Bytes)]) -> Result<(), HistoryError>,
) -> Result<(), HistoryError> {
    let waves = waves(listed, objects, wave_bytes);
    let fetch = |wave: &Range<usize>| tokio::spawn(fetch_owned(store.clone(), listed[wave.clone()].to_vec(), progress.cloned()));
    let mut next = waves.first().map(fetch);
    for (k, wave) in waves.iter().enumerate() {
        let fetched = match next.take().expect("one fetch per wave").await {
            Ok(fetched) => fetched?,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        next = waves.get(k + 1).map(fetch);
        let decoded = tokio::task::block_in_place(|| decode(wave.start, &fetched));
        if decoded.is_err() {
            if let Some(pending) = next.take() {
                pending.abort();
            }
        }
        decoded?;
    }
    Ok(())
}

/// A seed for the id hashes, drawn at random so that no history can aim at them.
fn random_seed() -> u64 {
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).unwrap_or_default();
    u64::from_le_bytes(seed)
}

/// Runs of consecutive listed objects among `objects` (ascending), each of
/// at most `limit` bytes unless one object alone is larger.
fn waves(listed: &[ObjectMeta], objects: &[usize], limit: u64) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut bytes = 0u64;
    for &o in objects {
        let size = listed[o].size;
        match out.last_mut() {
            Some(run) if run.end == o && bytes + size <= limit => {
                run.end += 1;
                bytes += size;
            }
            _ => {
                out.push(o..o + 1);
                bytes = size;
            }
        }
    }
    out
}

/// The hashes `hashes` holds more than once, ascending, each listed once.
fn repeated(mut hashes: Vec<u64>) -> Vec<u64> {
    hashes.par_sort_unstable();
    let mut out: Vec<u64> = hashes.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    out.dedup();
    out
}

/// The first window of each partition, then the window count: consecutive
/// windows of at most `per_partition` items together (a larger window is a
/// partition alone).
fn cut_windows(window_rows: &[u64], per_partition: u64) -> Vec<u32> {
    let mut cuts = vec![0u32];
    let mut acc = 0u64;
    for (w, &rows) in window_rows.iter().enumerate() {
        if acc > 0 && acc + rows > per_partition {
            cuts.push(w as u32);
            acc = 0;
        }
        acc += rows;
    }
    cuts.push(window_rows.len() as u32);
    cuts
}

/// Per row group, the partitions its windows fall in, ascending.
fn partitions_of(window_maps: &[Vec<u32>], cuts: &[u32]) -> Vec<Vec<u32>> {
    window_maps
        .par_iter()
        .map(|map| {
            let mut parts: Vec<u32> = map.iter().map(|&g| (cuts.partition_point(|&c| c <= g) - 1) as u32).collect();
            parts.sort_unstable();
            parts.dedup();
            parts
        })
        .collect()
}

/// The rows and window names of `c` whose windows (history indices through
/// `map`) fall in `range`; `None` when none of its windows does.
fn keep_windows(c: Chunk, map: &[u32], range: &Range<u32>) -> Option<Chunk> {
    let kept: Vec<bool> = map.iter().map(|g| range.contains(g)).collect();
    if kept.iter().all(|&k| k) {
        return Some(c);
    }
    if !kept.iter().any(|&k| k) {
        return None;
    }
    let names: Vec<usize> = (0..kept.len()).filter(|&j| kept[j]).collect();
    let mut local = vec![u32::MAX; kept.len()];
    for (l, &j) in names.iter().enumerate() {
        local[j] = l as u32;
    }
    let sel: Vec<usize> = (0..c.window.len()).filter(|&i| kept[c.window[i] as usize]).collect();
    let first = sel.first().map_or(0, |&i| c.rows.get(i));
    Some(Chunk {
        object: c.object,
        rows: OriginRows::Listed {
            first,
            offsets: sel.iter().map(|&i| (c.rows.get(i) - first) as u32).collect(),
        },
        ids: c.ids.pick(&sel),
        window: sel.iter().map(|&i| local[c.window[i] as usize]).collect(),
        window_names: Interner::from_names(names.iter().map(|&j| c.window_names.get(j))),
        window_caps: names.iter().map(|&j| c.window_caps[j]).collect(),
        window_starts: names.iter().map(|&j| c.window_starts[j]).collect(),
        class: pick(&c.class, &sel),
        kind: pick(&c.kind, &sel),
        actionable: pick(&c.actionable, &sel),
        unjudged: pick(&c.unjudged, &sel),
        board_override: pick(&c.board_override, &sel),
        missed: pick(&c.missed, &sel),
        features: c.features.iter().map(|f| f.pick(&sel)).collect(),
        live_revision: pick(&c.live_revision, &sel),
        queued_at: pick(&c.queued_at, &sel),
        signed_off_at: pick(&c.signed_off_at, &sel),
        ..c
    })
}

/// The rows `sel` of a per-row column; an absent (empty) column stays empty.
fn pick<T: Copy>(column: &[T], sel: &[usize]) -> Vec<T> {
    match column.is_empty() {
        true => Vec::new(),
        false => sel.iter().map(|&i| column[i]).collect(),
    }
}

/// The ids of `c` whose hash is among `suspects`, with their object and row.
fn suspect_ids(c: &Chunk, suspects: &[u64], seed: u64) -> Vec<(Box<[u8]>, usize, u64)> {
    c.ids
        .iter()
        .enumerate()
        .filter_map(|(i, id)| {
            let hash = xxhash_rust::xxh3::xxh3_64_with_seed(id, seed);
            suspects.binary_search(&hash).is_ok().then(|| (id.into(), c.object, c.rows.get(i)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::table::{FeatureColumn, IdColumn};
    use super::*;
    use chrono::Utc;

    #[test]
    fn windows_are_cut_into_runs_of_at_most_the_partition_size_and_never_split() {
        assert_eq!(cut_windows(&[5, 5, 5], 10), vec![0, 2, 3]);
        assert_eq!(cut_windows(&[5, 5, 5], 9), vec![0, 1, 2, 3]);
        // A window larger than a partition is a partition alone.
        assert_eq!(cut_windows(&[1, 30, 1, 1], 4), vec![0, 1, 2, 4]);
        assert_eq!(cut_windows(&[3, 3], 1), vec![0, 1, 2]);
        assert_eq!(cut_windows(&[], 4), vec![0, 0]);
        assert_eq!(
            partitions_of(&[vec![0, 3], vec![1], vec![]], &[0, 1, 2, 4]),
            vec![vec![0, 2], vec![1], vec![]]
        );
    }

    #[test]
    fn waves_are_runs_of_consecutive_objects_within_the_byte_limit() {
        let meta = |size: u64| ObjectMeta {
            location: "x".into(),
            last_modified: Utc::now(),
            size,
            e_tag: None,
            version: None,
        };
        let listed: Vec<ObjectMeta> = [4, 4, 4, 20, 1, 1].into_iter().map(meta).collect();
        assert_eq!(waves(&listed, &[0, 1, 2, 3, 4, 5], 8), vec![0..2, 2..3, 3..4, 4..6]);
        assert_eq!(waves(&listed, &[0, 2, 3, 5], 100), vec![0..1, 2..4, 5..6]);
        assert_eq!(repeated(vec![3, 1, 3, 2, 3, 1]), vec![1, 3]);
    }

    #[test]
    fn keeping_a_range_of_windows_keeps_their_rows_ids_origins_and_names_in_order() {
        let names = ["wa", "wb", "wc"];
        let window = vec![0u32, 1, 2, 1, 0, 1];
        let ids: Vec<String> = (0..6).map(|i| format!("item-{i}")).collect();
        let chunk = Chunk {
            object: 3,
            rows: OriginRows::From(100),
            ids: IdColumn(arrow::array::StringArray::from_iter_values(&ids)),
            window,
            window_names: Interner::from_names(names),
            window_caps: vec![(Some(1), 100), (None, 101), (Some(5), 102)],
            window_starts: vec![10, 20, 30],
            class: vec![0, 1, 0, 1, 0, 1],
            kind: vec![0, 1, 2, 3, 0, 1],
            actionable: vec![true, false, true, false, true, false],
            features: vec![FeatureColumn::F64(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0])],
            ..Chunk::default()
        };
        // History windows: wa → 7, wb → 8, wc → 9; keep 8..10 (wb and wc).
        let kept = keep_windows(chunk.clone(), &[7, 8, 9], &(8..10)).unwrap();
        assert_eq!(kept.window_names.iter().collect::<Vec<_>>(), vec!["wb", "wc"]);
        assert_eq!(kept.window, vec![0, 1, 0, 0]);
        assert_eq!(kept.window_caps, vec![(None, 101), (Some(5), 102)]);
        assert_eq!(kept.window_starts, vec![20, 30]);
        let kept_ids: Vec<&[u8]> = kept.ids.iter().collect();
        assert_eq!(kept_ids, vec![&b"item-1"[..], b"item-2", b"item-3", b"item-5"]);
        assert_eq!((0..4).map(|j| kept.rows.get(j)).collect::<Vec<_>>(), vec![101, 102, 103, 105]);
        assert_eq!(kept.class, vec![1, 0, 1, 1]);
        assert_eq!(kept.kind, vec![1, 2, 3, 1]);
        assert_eq!(kept.actionable, vec![false, true, false, false]);
        assert_eq!(kept.features, vec![FeatureColumn::F64(vec![1.0, 2.0, 3.0, 5.0])]);
        assert_eq!(kept.object, 3);
        assert!(kept.live_revision.is_empty());
        // Every window kept: the chunk as it was; none kept: nothing.
        let whole = keep_windows(chunk.clone(), &[7, 8, 9], &(0..20)).unwrap();
        assert_eq!(whole.window, chunk.window);
        assert!(keep_windows(chunk, &[7, 8, 9], &(10..20)).is_none());
    }
}

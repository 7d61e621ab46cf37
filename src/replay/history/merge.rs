//! Merging: row-group chunks into one [`History`]. Names are unified once
//! per distinct window, class and revision (windows in parallel shards, in
//! an order that does not depend on it; checking that a window keeps one
//! capacity across objects), classes are ordered by bytes
//! so output never depends on read order, then every per-item column is
//! copied into place in parallel (but item ids and features, which are
//! kept as the chunks hold them) and item ids are checked unique.

use super::decode::Chunk;
use super::names::Interner;
use super::table::{
    Capacity, FeatureSegment, History, HistoryError, HistoryQuery, ItemIds, LiveColumns, Origin, Snapshot, SnapshotObject, Window,
};
use super::validate::check_unique_ids;
use bytes::Bytes;
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use rayon::prelude::*;
use std::collections::HashMap;

/// Split `s` into consecutive pieces of the given lengths.
pub fn split_lens<'a, T>(mut s: &'a mut [T], lens: &[usize]) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(lens.len());
    for &len in lens {
        let (head, tail) = s.split_at_mut(len);
        out.push(head);
        s = tail;
    }
    out
}

/// One chunk's place in the merged columns.
struct Dest<'a> {
    window: &'a mut [u32],
    class: &'a mut [u16],
    kind: &'a mut [u8],
    actionable: &'a mut [bool],
    unjudged: &'a mut [bool],
    board_override: &'a mut [bool],
    missed: &'a mut [bool],
    live_revision: &'a mut [u32],
    queued_at: &'a mut [Option<i64>],
    signed_off_at: &'a mut [Option<i64>],
}

/// Global ids for the names every chunk found, and the per-chunk maps into them.
#[derive(Default)]
struct Names {
    windows: Vec<Window>,
    class_ids: HashMap<String, u32>,
    classes: Vec<String>,
    revision_ids: HashMap<String, u32>,
    revisions: Vec<String>,
    /// Per chunk: local window, class and revision id → global id.
    window_maps: Vec<Vec<u32>>,
    class_maps: Vec<Vec<u32>>,
    revision_maps: Vec<Vec<u32>>,
}

/// Counts summed over chunks.
pub(super) struct Totals {
    pub(super) null_features: Vec<u64>,
    pub(super) other_cohort_rows: u64,
    pub(super) window_start: Option<(i64, i64)>,
}

pub(super) fn totals(chunks: &[Chunk], nf: usize) -> Totals {
    let mut t = Totals {
        null_features: vec![0u64; nf],
        other_cohort_rows: 0,
        window_start: None,
    };
    for c in chunks {
        t.other_cohort_rows += c.other_cohort;
        for (f, n) in c.null_features.iter().enumerate() {
            t.null_features[f] += n;
        }
        if let Some((lo, hi)) = c.ws_range {
            t.window_start = Some(t.window_start.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        }
    }
    t
}

fn intern(names: &Interner, global: &mut HashMap<String, u32>, all: &mut Vec<String>) -> Vec<u32> {
    names
        .iter()
        .map(|name| {
            *global.entry(name.to_string()).or_insert_with(|| {
                all.push(name.to_string());
                (all.len() - 1) as u32
            })
        })
        .collect()
}

/// Unify window, class and revision names across chunks, in chunk order.
fn unify_names(chunks: &[Chunk], fetched: &[(String, Bytes)]) -> Result<Names, HistoryError> {
    let mut n = Names::default();
    let windows = unify_windows(chunks, fetched)?;
    n.windows = windows.windows;
    n.window_maps = windows.maps;
    for c in chunks {
        n.class_maps.push(intern(&c.class_names, &mut n.class_ids, &mut n.classes));
        n.revision_maps
            .push(intern(&c.revision_names, &mut n.revision_ids, &mut n.revisions));
    }
    Ok(n)
}

/// Window ids unified across chunks: global windows in order of first
/// appearance (chunk, then name), and per chunk its map into them.
struct UnifiedWindows {
    windows: Vec<Window>,
    maps: Vec<Vec<u32>>,
}

/// How many shards window names are unified in, in parallel: four a
/// thread, at least 8. Few shards keep each chunk's reads of its own names
/// nearly sequential (with 64 on 2 threads, unifying the warehouse 10M
/// export took 255 ms; with 8, about 160-200 ms). The result does not
/// depend on it.
fn shard_count() -> usize {
    (rayon::current_num_threads() * 4).clamp(8, 64)
}

/// One shard's windows: each first seen at (chunk, local index), and the
/// shard-local id of every name it was given, in its visiting order.
#[derive(Default)]
struct Shard {
    first: Vec<(u32, u32)>,
    windows: Vec<Window>,
    origin: Vec<(usize, u64)>,
    assigned: Vec<u32>,
    /// The first occurrence whose capacity differs from its window's first:
    /// (chunk, local index, shard-local id).
    conflict: Option<(u32, u32, u32)>,
}

/// [`unify_names`] for windows, the one name set that is large: names are
/// split into shards by a (randomly seeded) hash, each shard is unified in
/// chunk order on its own thread, and global ids follow first appearance,
/// so the result and the first capacity conflict reported are those of a
/// sequential pass, on any thread count.
fn unify_windows(chunks: &[Chunk], fetched: &[(String, Bytes)]) -> Result<UnifiedWindows, HistoryError> {
    // Per chunk, per shard: the local indices of its names, ascending. The
    // shard is taken from middle bits of the hash decoding computed; the
    // shard's own table uses the low and the top bits.
    let shards = shard_count();
    let buckets: Vec<Vec<Vec<u32>>> = chunks
        .par_iter()
        .map(|c| {
            let mut b = vec![Vec::new(); shards];
            for j in 0..c.window_names.len() {
                b[(c.window_names.hash(j) >> 32) as usize % shards].push(j as u32);
            }
            b
        })
        .collect();
    let mut shards: Vec<Shard> = (0..shards).into_par_iter().map(|s| unify_shard(chunks, &buckets, s)).collect();
    if let Some(e) = first_conflict(chunks, fetched, &shards) {
        return Err(e);
    }
    // Global ids in order of first appearance.
    let mut order: Vec<(u32, u32, u32, u32)> = shards
        .iter()
        .enumerate()
        .flat_map(|(s, sh)| sh.first.iter().enumerate().map(move |(l, &(k, j))| (k, j, s as u32, l as u32)))
        .collect();
    order.par_sort_unstable();
    let mut global: Vec<Vec<u32>> = shards.iter().map(|sh| vec![0; sh.windows.len()]).collect();
    for (g, &(_, _, s, l)) in order.iter().enumerate() {
        global[s as usize][l as usize] = g as u32;
    }
    let windows = order
        .iter()
        .map(|&(_, _, s, l)| {
            let w = &mut shards[s as usize].windows[l as usize];
            Window {
                id: std::mem::take(&mut w.id),
                ..*w
            }
        })
        .collect();
    // Where each chunk's names start in each shard's visiting order.
    let mut starts = vec![vec![0usize; shards.len()]; chunks.len()];
    for s in 0..shards.len() {
        let mut at = 0;
        for (k, b) in buckets.iter().enumerate() {
            starts[k][s] = at;
            at += b[s].len();
        }
    }
    let maps = (0..chunks.len())
        .into_par_iter()
        .map(|k| {
            let mut map = vec![0u32; chunks[k].window_names.len()];
            for s in 0..shards.len() {
                let assigned = &shards[s].assigned[starts[k][s]..starts[k][s] + buckets[k][s].len()];
                for (&j, &l) in buckets[k][s].iter().zip(assigned) {
                    map[j as usize] = global[s][l as usize];
                }
            }
            map
        })
        .collect();
    Ok(UnifiedWindows { windows, maps })
}

/// Unify shard `s`'s names in chunk order.
fn unify_shard(chunks: &[Chunk], buckets: &[Vec<Vec<u32>>], s: usize) -> Shard {
    let mut sh = Shard::default();
    // The shard's windows by name, found by the hashes decoding computed;
    // a probe reads its slot and the name it compares, nothing else.
    let mut table: HashTable<Slot> = HashTable::new();
    let mut names: Vec<u8> = Vec::new();
    // At least the most any one chunk brings: room for them without a rehash.
    let most = buckets.iter().map(|b| b[s].len()).max().unwrap_or(0);
    table.reserve(most, |w| w.hash);
    for (k, c) in chunks.iter().enumerate() {
        for &j in &buckets[k][s] {
            let (name, hash) = (c.window_names.get(j as usize).as_bytes(), c.window_names.hash(j as usize));
            let (cap, row) = c.window_caps[j as usize];
            let start = c.window_starts[j as usize];
            let same = |w: &Slot| w.hash == hash && &names[w.off..w.off + w.len] == name;
            let w = match table.entry(hash, same, |w| w.hash) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let id = sh.first.len() as u32;
                    sh.first.push((k as u32, j));
                    sh.origin.push((c.object, row));
                    let off = names.len();
                    names.extend_from_slice(name);
                    let slot = Slot {
                        hash,
                        id,
                        off,
                        len: name.len(),
                        capacity: cap,
                        start_us: start,
                    };
                    e.insert(slot).into_mut()
                }
            };
            if w.capacity != cap && sh.conflict.is_none() {
                sh.conflict = Some((k as u32, j, w.id));
            }
            w.start_us = w.start_us.min(start);
            sh.assigned.push(w.id);
        }
    }
    sh.windows = shard_windows(chunks, &sh.first, table);
    sh
}

/// A window in a shard's table: everything a probe reads and updates in
/// one slot, its name in the shard's name bytes.
struct Slot {
    hash: u64,
    id: u32,
    off: usize,
    len: usize,
    /// The window's first capacity.
    capacity: Option<u32>,
    start_us: i64,
}

/// A shard's windows by shard-local id, named from the chunk each was first seen in.
fn shard_windows(chunks: &[Chunk], first: &[(u32, u32)], table: HashTable<Slot>) -> Vec<Window> {
    let mut found = vec![(None, 0i64); first.len()];
    for w in table {
        found[w.id as usize] = (w.capacity, w.start_us);
    }
    first
        .iter()
        .zip(found)
        .map(|(&(k, j), (capacity, start_us))| Window {
            id: chunks[k as usize].window_names.get(j as usize).to_string(),
            capacity,
            start_us,
        })
        .collect()
}

/// The capacity conflict a sequential pass meets first: the earliest in
/// (chunk, name) order over the shards' first conflicts.
fn first_conflict(chunks: &[Chunk], fetched: &[(String, Bytes)], shards: &[Shard]) -> Option<HistoryError> {
    let (s, (k, j, id)) = shards
        .iter()
        .enumerate()
        .filter_map(|(s, sh)| sh.conflict.map(|c| (s, c)))
        .min_by_key(|&(_, (k, j, _))| (k, j))?;
    let (sh, c) = (&shards[s], &chunks[k as usize]);
    let w = &sh.windows[id as usize];
    let (fo, fr) = sh.origin[id as usize];
    let (cap, row) = c.window_caps[j as usize];
    Some(HistoryError::WindowCapacity {
        window_id: w.id.clone(),
        first: Capacity(w.capacity),
        first_object: fetched[fo].0.clone(),
        first_row: fr,
        second: Capacity(cap),
        second_object: fetched[c.object].0.clone(),
        second_row: row,
    })
}

/// Class ids in ascending byte order of names, so output never depends on
/// read order: the sorted names and each chunk's map into them.
fn sort_classes(first_seen: &[String], maps: Vec<Vec<u32>>) -> Result<(Vec<String>, Vec<Vec<u16>>), HistoryError> {
    if first_seen.len() > u16::MAX as usize {
        return Err(HistoryError::TooMany {
            what: "signoff classes",
            max: u16::MAX as usize,
        });
    }
    let mut order: Vec<u32> = (0..first_seen.len() as u32).collect();
    order.sort_by(|&a, &b| first_seen[a as usize].as_bytes().cmp(first_seen[b as usize].as_bytes()));
    let mut sorted_id = vec![0u16; order.len()];
    for (new, &old) in order.iter().enumerate() {
        sorted_id[old as usize] = new as u16;
    }
    let classes = order.iter().map(|&o| first_seen[o as usize].clone()).collect();
    let maps = maps
        .into_iter()
        .map(|m| m.into_iter().map(|k| sorted_id[k as usize]).collect())
        .collect();
    Ok((classes, maps))
}

/// The merged per-item columns.
struct Columns {
    window: Vec<u32>,
    class: Vec<u16>,
    kind: Vec<u8>,
    actionable: Vec<bool>,
    unjudged: Vec<bool>,
    board_override: Vec<bool>,
    missed: Vec<bool>,
    live_revision: Vec<u32>,
    queued_at: Vec<Option<i64>>,
    signed_off_at: Vec<Option<i64>>,
}

/// Copy every chunk's columns into place, one rayon task per chunk, mapping
/// local ids to global ones.
fn copy_columns(chunks: &[Chunk], names: &Names, class_maps: &[Vec<u16>], live: bool) -> Columns {
    let lens: Vec<usize> = chunks.iter().map(|c| c.window.len()).collect();
    let n: usize = lens.iter().sum();
    let live_lens: Vec<usize> = if live { lens.clone() } else { vec![0; lens.len()] };
    let live_n = if live { n } else { 0 };
    let mut out = Columns {
        window: vec![0u32; n],
        class: vec![0u16; n],
        kind: vec![0u8; n],
        actionable: vec![false; n],
        unjudged: vec![false; n],
        board_override: vec![false; n],
        missed: vec![false; n],
        live_revision: vec![u32::MAX; live_n],
        queued_at: vec![None; live_n],
        signed_off_at: vec![None; live_n],
    };
    let dests = dests(&mut out, &lens, &live_lens);
    dests.into_par_iter().zip(chunks.par_iter()).enumerate().for_each(|(k, (d, c))| {
        let (wmap, cmap, rmap) = (&names.window_maps[k], &class_maps[k], &names.revision_maps[k]);
        for (out, &w) in d.window.iter_mut().zip(&c.window) {
            *out = wmap[w as usize];
        }
        for (out, &x) in d.class.iter_mut().zip(&c.class) {
            *out = cmap[x as usize];
        }
        d.kind.copy_from_slice(&c.kind);
        d.actionable.copy_from_slice(&c.actionable);
        d.unjudged.copy_from_slice(&c.unjudged);
        d.board_override.copy_from_slice(&c.board_override);
        d.missed.copy_from_slice(&c.missed);
        for (out, &r) in d.live_revision.iter_mut().zip(&c.live_revision) {
            *out = if r == u32::MAX { r } else { rmap[r as usize] };
        }
        d.queued_at.copy_from_slice(&c.queued_at);
        d.signed_off_at.copy_from_slice(&c.signed_off_at);
    });
    out
}

/// Each chunk's place in the merged columns.
fn dests<'a>(out: &'a mut Columns, lens: &[usize], live_lens: &[usize]) -> Vec<Dest<'a>> {
    split_lens(&mut out.window, lens)
        .into_iter()
        .zip(split_lens(&mut out.class, lens))
        .zip(split_lens(&mut out.kind, lens))
        .zip(split_lens(&mut out.actionable, lens))
        .zip(split_lens(&mut out.unjudged, lens))
        .zip(split_lens(&mut out.board_override, lens))
        .zip(split_lens(&mut out.missed, lens))
        .zip(split_lens(&mut out.live_revision, live_lens))
        .zip(split_lens(&mut out.queued_at, live_lens))
        .zip(split_lens(&mut out.signed_off_at, live_lens))
        .map(
            |(
                ((((((((window, class), kind), actionable), unjudged), board_override), missed), live_revision), queued_at),
                signed_off_at,
            )| Dest {
                window,
                class,
                kind,
                actionable,
                unjudged,
                board_override,
                missed,
                live_revision,
                queued_at,
                signed_off_at,
            },
        )
        .collect()
}

/// Feature segments and row origins, taken out of the chunks (nothing copied).
fn take_segments(chunks: &mut [Chunk], fetched: &[(String, Bytes)]) -> (Vec<FeatureSegment>, Vec<Origin>) {
    let mut start = 0;
    let mut features = Vec::new();
    let mut origins = Vec::new();
    for c in chunks.iter_mut().filter(|c| !c.window.is_empty()) {
        let len = c.window.len();
        features.push(FeatureSegment {
            start,
            len,
            columns: std::mem::take(&mut c.features),
        });
        origins.push(Origin {
            start,
            object: fetched[c.object].0.clone(),
            rows: std::mem::take(&mut c.rows),
        });
        start += len;
    }
    (features, origins)
}

/// Merge row-group chunks into one history: names are unified (once per
/// distinct window, class and revision), then every per-item column but the
/// item ids and features is copied into place in parallel, and item ids are
/// checked unique.
pub fn merge(
    chunks: Vec<Chunk>,
    objects: Vec<SnapshotObject>,
    fetched: &[(String, Bytes)],
    prefix: &str,
    query: &HistoryQuery,
) -> Result<History, HistoryError> {
    let started = std::time::Instant::now();
    let h = assemble(chunks, objects, fetched, prefix, query)?;
    check_unique_ids(&h)?;
    tracing::debug!(elapsed = ?started.elapsed(), "item ids checked unique");
    Ok(h)
}

/// [`merge`] without the check of item ids: a partition's ids were checked
/// over the whole history by its census (a replay in window partitions).
pub(super) fn merge_partition(
    chunks: Vec<Chunk>,
    fetched: &[(String, Bytes)],
    prefix: &str,
    query: &HistoryQuery,
) -> Result<History, HistoryError> {
    assemble(chunks, Vec::new(), fetched, prefix, query)
}

/// The names a census unifies over a whole history.
pub(super) struct CensusNames {
    /// The windows, in the history's order.
    pub(super) windows: Vec<Window>,
    /// Per chunk: each local window's index in `windows`.
    pub(super) window_maps: Vec<Vec<u32>>,
    /// The classes, ascending by bytes.
    pub(super) classes: Vec<String>,
}

/// What [`merge`] would make of these chunks' names, and the first capacity
/// conflict it would meet.
pub(super) fn unify_census(chunks: &[Chunk], fetched: &[(String, Bytes)]) -> Result<CensusNames, HistoryError> {
    let mut names = unify_names(chunks, fetched)?;
    let (classes, _) = sort_classes(&names.classes, std::mem::take(&mut names.class_maps))?;
    Ok(CensusNames {
        windows: names.windows,
        window_maps: names.window_maps,
        classes,
    })
}

/// The history these chunks make; item ids are not checked.
fn assemble(
    mut chunks: Vec<Chunk>,
    objects: Vec<SnapshotObject>,
    fetched: &[(String, Bytes)],
    prefix: &str,
    query: &HistoryQuery,
) -> Result<History, HistoryError> {
    let started = std::time::Instant::now();
    let totals = totals(&chunks, query.features.len());
    let mut names = unify_names(&chunks, fetched)?;
    tracing::debug!(elapsed = ?started.elapsed(), "names unified");
    let (classes, class_maps) = sort_classes(&names.classes, std::mem::take(&mut names.class_maps))?;
    let live = query.live_columns;
    let cols = copy_columns(&chunks, &names, &class_maps, live);
    tracing::debug!(elapsed = ?started.elapsed(), "columns copied");
    let (features, origins) = take_segments(&mut chunks, fetched);
    let item_ids = ItemIds::from_segments(chunks.iter_mut().map(|c| std::mem::take(&mut c.ids)));
    drop(chunks);
    let n = cols.window.len();
    let windows = names.windows.len() as u64;
    let h = History {
        snapshot: Snapshot::of(prefix, objects, totals.window_start, n as u64, windows),
        item_ids,
        window: cols.window,
        windows: names.windows,
        class: cols.class,
        classes,
        kind: cols.kind,
        actionable: cols.actionable,
        unjudged: cols.unjudged,
        board_override: cols.board_override,
        missed: cols.missed,
        feature_names: query.features.clone(),
        features,
        null_features: totals.null_features,
        other_cohort_rows: totals.other_cohort_rows,
        live: live.then_some(LiveColumns {
            live_revision: cols.live_revision,
            revisions: names.revisions,
            queued_at: cols.queued_at,
            signed_off_at: cols.signed_off_at,
        }),
        pruned_row_groups: 0,
        origins,
    };
    tracing::debug!(elapsed = ?started.elapsed(), "chunks merged");
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// A capacity conflict: window id, first row, second row.
    type Conflict = (String, u64, u64);

    /// The sequential definition: chunks in order, names in order.
    fn sequential(chunks: &[Chunk]) -> Result<(Vec<Window>, Vec<Vec<u32>>), Conflict> {
        let (mut ids, mut windows, mut maps) = (HashMap::<&str, u32>::new(), Vec::<Window>::new(), Vec::new());
        let mut first_row = Vec::new();
        for c in chunks {
            let mut map = Vec::new();
            for (j, name) in c.window_names.iter().enumerate() {
                let (cap, row) = c.window_caps[j];
                let id = match ids.get(name) {
                    Some(&id) if windows[id as usize].capacity != cap => return Err((name.to_string(), first_row[id as usize], row)),
                    Some(&id) => id,
                    None => {
                        windows.push(Window {
                            id: name.to_string(),
                            capacity: cap,
                            start_us: i64::MAX,
                        });
                        first_row.push(row);
                        ids.insert(name, windows.len() as u32 - 1);
                        windows.len() as u32 - 1
                    }
                };
                let w = &mut windows[id as usize];
                w.start_us = w.start_us.min(c.window_starts[j]);
                map.push(id);
            }
            maps.push(map);
        }
        Ok((windows, maps))
    }

    /// Sharded unification equals the sequential pass: the same windows in
    /// the same order, the same maps, and the same first capacity conflict.
    #[test]
    fn sharded_window_unification_equals_the_sequential_pass() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let mut conflicts = 0;
        for round in 0..300 {
            let pool = rng.random_range(1..400);
            let chunks: Vec<Chunk> = (0..rng.random_range(1..12))
                .map(|k| {
                    let mut names: Vec<u32> = (0..rng.random_range(0..200)).map(|_| rng.random_range(0..pool)).collect();
                    names.sort_unstable();
                    names.dedup();
                    let n = names.len();
                    let cap = |rng: &mut rand_chacha::ChaCha20Rng, w: u32| match rng.random_range(0..400) {
                        0 => Some(999),
                        _ => (w % 3 != 0).then_some(w % 7 + 1),
                    };
                    Chunk {
                        object: k,
                        window_caps: names
                            .iter()
                            .enumerate()
                            .map(|(j, &w)| (cap(&mut rng, w), (k * 1000 + j) as u64))
                            .collect(),
                        window_starts: (0..n).map(|_| rng.random_range(0..1_000_000)).collect(),
                        window_names: Interner::from_names(
                            names
                                .iter()
                                .map(|w| format!("window-{w}"))
                                .collect::<Vec<_>>()
                                .iter()
                                .map(String::as_str),
                        ),
                        ..Chunk::default()
                    }
                })
                .collect();
            let fetched: Vec<(String, Bytes)> = (0..chunks.len()).map(|k| (format!("o{k}.parquet"), Bytes::new())).collect();
            match (sequential(&chunks), unify_windows(&chunks, &fetched)) {
                (Ok((windows, maps)), Ok(u)) => {
                    assert_eq!(u.windows, windows, "round {round}");
                    assert_eq!(u.maps, maps, "round {round}");
                }
                (
                    Err((name, first_row, second_row)),
                    Err(HistoryError::WindowCapacity {
                        window_id,
                        first_row: f,
                        second_row: s,
                        ..
                    }),
                ) => {
                    assert_eq!((window_id, f, s), (name, first_row, second_row), "round {round}");
                    conflicts += 1;
                }
                (a, b) => panic!("round {round}: sequential {:?}, sharded {:?}", a.map(|_| ()), b.map(|_| ())),
            }
        }
        assert!(conflicts > 30 && conflicts < 270, "{conflicts} rounds with a conflict");
    }
}

//! A run of fetched objects, hashed, planned and decoded: each object's
//! snapshot entry (its sha256), one plan per row group the read needs, and
//! one rayon task per planned row group, inside the panic boundary, with
//! errors in (object path, row) order on any thread count. A whole read
//! merges the chunks into one history; a census for a replay in window
//! partitions keeps a summary of each.

use super::decode::{decode_row_group, Chunk};
use super::plan::{plan_object, Plan};
use super::table::{HistoryError, HistoryQuery, SnapshotObject};
use crate::canonical::sha256_hex;
use bytes::Bytes;
use rayon::prelude::*;

/// One object's snapshot entry, its row-group plans and how many it pruned.
type Planned<'a> = (SnapshotObject, (Vec<Plan<'a>>, usize));

/// What [`decode_objects`] made of a run of fetched objects: each object's
/// snapshot entry, what `keep` made of each row group's chunk in (object,
/// row group) order, and how many row groups a pruned read skipped.
pub(crate) struct Decoded<T> {
    pub objects: Vec<SnapshotObject>,
    pub chunks: Vec<T>,
    pub pruned: usize,
}

/// Hash and plan every object (the first being object `first_object` of
/// the listing), decode the planned row groups `select` picks in parallel
/// and hand each chunk to `keep` with its plan. With `expected` (the store's
/// name and the listing's snapshot from an earlier read), an object whose bytes hash
/// otherwise is refused as changed before it is planned. Errors come in
/// (object path, row) order on any thread count: every object before the
/// first that failed planning is decoded, and the first decoding error in
/// (object, row group) order wins.
pub(crate) fn decode_objects<T: Send>(
    fetched: &[(String, Bytes)],
    first_object: usize,
    query: &HistoryQuery,
    expected: Option<(&str, &[SnapshotObject])>,
    select: impl Fn(&Plan) -> bool + Sync,
    keep: impl Fn(&Plan, Chunk) -> T + Sync,
) -> Result<Decoded<T>, HistoryError> {
    // Hash objects and read their footers in parallel.
    // A pruned read fetched only some byte ranges: there is nothing to hash,
    // and its snapshot is never written anywhere.
    let hash = |bytes: &Bytes| match query.live_window {
        None => sha256_hex(bytes),
        Some(_) => NOT_HASHED.to_string(),
    };
    let per_object: Vec<Result<Planned, HistoryError>> = fetched
        .par_iter()
        .enumerate()
        .map(|(object, (path, bytes))| {
            let snap = SnapshotObject {
                path: path.clone(),
                size: bytes.len() as u64,
                sha256: hash(bytes),
            };
            if let Some((store, first)) = expected.map(|(s, e)| (s, &e[first_object + object])) {
                if first != &snap {
                    return Err(changed_since(store, first, &snap));
                }
            }
            let plans = guarded(path, || plan_object(first_object + object, path, bytes, query))?;
            Ok((snap, plans))
        })
        .collect();
    let mut objects = Vec::with_capacity(fetched.len());
    let mut plans = Vec::new();
    let mut pruned = 0;
    // The first object that failed its footer or column checks; later ones
    // are not decoded (their errors could not come first).
    let mut plan_error = None;
    for r in per_object {
        match r {
            Ok((snap, (p, skipped))) => {
                objects.push(snap);
                plans.extend(p.into_iter().filter(|p| select(p)));
                pruned += skipped;
            }
            Err(e) => {
                plan_error = Some(e);
                break;
            }
        }
    }
    let started = std::time::Instant::now();
    let chunks: Vec<Result<T, HistoryError>> = plans
        .par_iter()
        .map(|p| guarded(p.path, || decode_row_group(p, query)).map(|c| keep(p, c)))
        .collect();
    tracing::debug!(row_groups = plans.len(), elapsed = ?started.elapsed(), "row groups decoded");
    // Chunks are in (object, row group) order, and every object before the
    // one that failed planning was decoded: the first error in that order is
    // the first problem in (object path, row) order, on any thread count.
    let chunks = chunks.into_iter().collect::<Result<Vec<_>, _>>()?;
    if let Some(e) = plan_error {
        return Err(e);
    }
    Ok(Decoded { objects, chunks, pruned })
}

/// An object read again whose bytes are not those first read.
fn changed_since(store: &str, first: &SnapshotObject, now: &SnapshotObject) -> HistoryError {
    HistoryError::Store(crate::store::StoreError::Changed {
        store: store.to_string(),
        path: now.path.clone(),
        detail: format!(
            "first read at {} bytes with sha256 {}, read again at {} bytes with sha256 {}",
            first.size, first.sha256, now.size, now.sha256
        ),
    })
}

/// The `sha256` of an object in the snapshot of a pruned read.
pub const NOT_HASHED: &str = "not hashed: a pruned read of the live window";

/// Decode inside the panic boundary: a panic of the parquet/arrow stack on
/// malformed bytes is the corrupt-object error naming the object.
fn guarded<T>(object: &str, f: impl FnOnce() -> Result<T, HistoryError>) -> Result<T, HistoryError> {
    crate::guard::catch(f).unwrap_or_else(|panic| {
        Err(HistoryError::Corrupt {
            object: object.to_string(),
            message: format!("the parquet reader failed on its bytes ({panic})"),
        })
    })
}

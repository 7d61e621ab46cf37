//! A run of fetched objects, planned, hashed and decoded: each object's
//! snapshot entry (its sha256), one plan per row group the read needs, and
//! one task list of every object's hash and every planned row group's
//! decoding (so hashing overlaps decoding), run costliest first on the
//! rayon pool, inside the panic boundary, with errors in (object path, row)
//! order on any thread count. A whole read merges the chunks into one
//! history; a census for a replay in window partitions keeps a summary of
//! each.

use super::decode::{decode_row_group, Chunk};
use super::plan::{plan_object, Plan};
use super::table::{HistoryError, HistoryQuery, SnapshotObject};
use crate::canonical::sha256_hex;
use bytes::Bytes;
use rayon::prelude::*;

/// What [`decode_objects`] made of a run of fetched objects: each object's
/// snapshot entry, what `keep` made of each row group's chunk in (object,
/// row group) order, and how many row groups a pruned read skipped.
pub(crate) struct Decoded<T> {
    pub objects: Vec<SnapshotObject>,
    pub chunks: Vec<T>,
    pub pruned: usize,
}

/// Plan and hash every object (the first being object `first_object` of
/// the listing), decode the planned row groups `select` picks in parallel
/// and hand each chunk to `keep` with its plan. With `expected` (the store's
/// name and the listing's snapshot from an earlier read), an object whose bytes hash
/// otherwise is refused as changed, whatever its footer holds. Errors come in
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
    // Footers first (cheap), then one task list of every object's hash and
    // every planned row group's decoding, so that hashing overlaps decoding
    // and one row group a task keeps both cores busy to the end.
    let planned: Vec<Result<(Vec<Plan>, usize), HistoryError>> = fetched
        .par_iter()
        .enumerate()
        .map(|(object, (path, bytes))| guarded(path, || plan_object(first_object + object, path, bytes, query)))
        .collect();
    let plans: Vec<&Plan> = planned.iter().flatten().flat_map(|(p, _)| p).filter(|p| select(p)).collect();
    let started = std::time::Instant::now();
    let tasks: Vec<Task> = (0..fetched.len())
        .map(Task::Hash)
        .chain(plans.iter().map(|&p| Task::Decode(p)))
        .collect();
    let mut done: Vec<Done<T>> = longest_first(
        &tasks,
        |t| t.cost(fetched),
        |t| match *t {
            Task::Hash(k) => Done::Hashed(hash_of(query, &fetched[k].1)),
            Task::Decode(p) => Done::Decoded(guarded(p.path, || decode_row_group(p, query)).map(|c| keep(p, c))),
        },
    );
    tracing::debug!(row_groups = plans.len(), elapsed = ?started.elapsed(), "objects hashed and row groups decoded");
    let decoded = done.split_off(fetched.len());
    let hashes = done.into_iter().map(|d| match d {
        Done::Hashed(h) => h,
        Done::Decoded(_) => unreachable!("the hashes come first"),
    });
    // The first object that changed or failed its footer or column checks:
    // row groups of later objects do not count (their errors could not
    // come first); a changed object is refused whatever its footer holds.
    let mut objects = Vec::with_capacity(fetched.len());
    let (mut pruned, mut usable_plans, mut object_error) = (0, 0, None);
    for ((object, (path, bytes)), (sha256, planned)) in fetched.iter().enumerate().zip(hashes.zip(planned)) {
        let snap = SnapshotObject {
            path: path.clone(),
            size: bytes.len() as u64,
            sha256,
        };
        if let Some((store, first)) = expected.map(|(s, e)| (s, &e[first_object + object])) {
            if first != &snap {
                object_error = Some(changed_since(store, first, &snap));
                break;
            }
        }
        match planned {
            Ok((p, skipped)) => {
                usable_plans += p.iter().filter(|p| select(p)).count();
                pruned += skipped;
                objects.push(snap);
            }
            Err(e) => {
                object_error = Some(e);
                break;
            }
        }
    }
    // Chunks are in (object, row group) order, and every object before the
    // first that failed was decoded: the first error in that order is the
    // first problem in (object path, row) order, on any thread count.
    let chunks = decoded
        .into_iter()
        .take(usable_plans)
        .map(|d| match d {
            Done::Decoded(c) => c,
            Done::Hashed(_) => unreachable!("decodings follow the hashes"),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(e) = object_error {
        return Err(e);
    }
    Ok(Decoded { objects, chunks, pruned })
}

/// One task of [`decode_objects`]: hash object k, or decode one row group.
enum Task<'a> {
    Hash(usize),
    Decode(&'a Plan<'a>),
}

impl Task<'_> {
    /// The task's expected cost, in bytes hashed: decoding a byte of a row
    /// group (compressed) takes about ten times as long as hashing one.
    fn cost(&self, fetched: &[(String, Bytes)]) -> u64 {
        match *self {
            Task::Hash(k) => fetched[k].1.len() as u64,
            Task::Decode(p) => 10 * p.meta.metadata().row_group(p.row_group).compressed_size().max(0) as u64,
        }
    }
}

/// Run every task on the pool, the costliest first, each taken by whichever
/// thread is free next (a greedy schedule: a long row group is not left
/// to one thread at the end while the others wait, as when a warehouse
/// export has a few row groups of a million rows). Results in task order;
/// which thread ran a task never shows in them.
fn longest_first<T: Send>(tasks: &[Task], cost: impl Fn(&Task) -> u64, run: impl Fn(&Task) -> Done<T> + Sync) -> Vec<Done<T>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&tasks[i])));
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Done<T>>>> = tasks.iter().map(|_| Mutex::new(None)).collect();
    rayon::scope(|s| {
        for _ in 0..rayon::current_num_threads().min(tasks.len()) {
            s.spawn(|_| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let done = run(&tasks[i]);
                    *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(done);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()).expect("every task ran"))
        .collect()
}

/// What a [`Task`] gave.
enum Done<T> {
    Hashed(String),
    Decoded(Result<T, HistoryError>),
}

/// An object's sha256. A pruned read fetched only some byte ranges: there
/// is nothing to hash, and its snapshot is never written anywhere.
fn hash_of(query: &HistoryQuery, bytes: &Bytes) -> String {
    match query.live_window {
        None => sha256_hex(bytes),
        Some(_) => NOT_HASHED.to_string(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Whatever the costs and the thread count, every task runs once and
    /// the results come back in task order.
    #[test]
    fn tasks_run_longest_first_once_each_and_return_in_task_order() {
        for threads in 1..=4 {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            for n in [0, 1, 2, 7, 40] {
                let tasks: Vec<Task> = (0..n).map(Task::Hash).collect();
                let runs = AtomicUsize::new(0);
                let cost = |t: &Task| match *t {
                    Task::Hash(k) => (k as u64 * 7919) % 13,
                    Task::Decode(_) => 0,
                };
                let done = pool.install(|| {
                    longest_first(&tasks, cost, |t| {
                        runs.fetch_add(1, Ordering::Relaxed);
                        match *t {
                            Task::Hash(k) => Done::<()>::Hashed(k.to_string()),
                            Task::Decode(_) => unreachable!("only hashes here"),
                        }
                    })
                });
                let got: Vec<String> = done
                    .into_iter()
                    .map(|d| match d {
                        Done::Hashed(h) => h,
                        Done::Decoded(_) => unreachable!("only hashes here"),
                    })
                    .collect();
                assert_eq!(
                    got,
                    (0..n).map(|k| k.to_string()).collect::<Vec<_>>(),
                    "{threads} threads, {n} tasks"
                );
                assert_eq!(runs.load(Ordering::Relaxed), n);
            }
        }
    }
}

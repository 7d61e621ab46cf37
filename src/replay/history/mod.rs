//! Regression history: listing the parquet objects under a cohort's prefix,
//! reading them through `object_store`, validating every row the replay uses,
//! and fingerprinting the exact bytes read.
//!
//! Each object is fetched once, hashed (sha256) and decoded from those same
//! bytes, so the snapshot in the evidence packet describes exactly what was
//! replayed, even if the object changes afterwards; an object whose size or
//! version changed between listing and reading is refused. Decoding uses the
//! parquet crate's arrow reader with a column projection (only the columns
//! the replay needs) and runs one rayon task per row group.
//!
//! Any writer's physical types are accepted where they convert losslessly:
//! strings as plain, large, view or dictionary arrays; features as any
//! integer, float or decimal; timestamps of any unit, naive meaning UTC.
//! Validation follows SPEC §3 and §9; the first problem in (object path, row)
//! order is reported, naming the object, the row, the item id and the column.
//!
//! The table itself is [`table`]. By step: [`fetch`] (listing and fetching), [`plan`] (footers, column
//! checks, one task per row group, [`prune`] for guardrail readings), [`decode`] (row groups into columns),
//! [`objects`] (a run of objects hashed, planned and decoded in parallel),
//! [`validate`] (values the replay relies on), [`merge`] (chunks into one
//! history, names unified, ids checked unique). A history larger than a
//! replay's memory budget is read in window partitions instead ([`partition`]).

pub mod decode;
pub mod fetch;
pub mod merge;
pub mod names;
pub mod objects;
pub mod partition;
pub mod plan;
pub mod prune;
pub mod table;
pub mod validate;

pub use merge::split_lens;
pub use objects::NOT_HASHED;
pub use table::*;

use crate::store::Store;
use bytes::Bytes;
use merge::merge;
use object_store::path::Path as ObjPath;
use objects::decode_objects;

impl History {
    /// Read and validate the history under `prefix` in `store`.
    pub async fn read(
        store: &Store,
        prefix: &str,
        query: &HistoryQuery,
        progress: Option<&indicatif::ProgressBar>,
    ) -> Result<History, HistoryError> {
        let listed = store.list(&ObjPath::from(prefix)).await?;
        History::read_listed(store, prefix, listed, query, progress).await
    }

    /// Read the history from an existing listing of `prefix`. An object whose
    /// size or version no longer matches its listing is refused
    /// ([`StoreError::Changed`]): the snapshot must describe what was read.
    pub async fn read_listed(
        store: &Store,
        prefix: &str,
        listed: Vec<object_store::ObjectMeta>,
        query: &HistoryQuery,
        progress: Option<&indicatif::ProgressBar>,
    ) -> Result<History, HistoryError> {
        let listed: Vec<_> = listed
            .into_iter()
            .filter(|m| fetch::is_parquet_object(m.location.as_ref()))
            .collect();
        let empty = |what: String| HistoryError::Empty {
            store: store.name().to_string(),
            prefix: prefix.to_string(),
            what,
        };
        if listed.is_empty() {
            return Err(empty("no parquet objects under this prefix".into()));
        }
        if let Some(pb) = progress {
            pb.set_length(listed.iter().map(|m| m.size).sum());
        }
        let started = std::time::Instant::now();
        let fetched = match &query.live_window {
            None => fetch::fetch_all(store, &listed, progress).await?,
            Some(w) => fetch::fetch_for_window(store, &listed, w).await?,
        };
        tracing::info!(objects = fetched.len(), elapsed = ?started.elapsed(), "history objects fetched");
        let history = tokio::task::block_in_place(|| decode_all(&fetched, prefix, query))?;
        tracing::info!(items = history.len(), pruned_row_groups = history.pruned_row_groups, elapsed = ?started.elapsed(), "history decoded and validated");
        // A pruned read may rightly find no row: the window has none yet.
        if history.is_empty() && history.pruned_row_groups == 0 {
            return Err(empty(format!("no rows for cohort \"{}\"", query.cohort)));
        }
        Ok(history)
    }
}

impl History {
    /// Decode and validate history from objects already in memory, as
    /// (path, bytes) in path order: what [`History::read`] does after
    /// fetching. The fuzz targets and tools that hold bytes use it.
    pub fn from_objects(objects: &[(String, Bytes)], prefix: &str, query: &HistoryQuery) -> Result<History, HistoryError> {
        decode_all(objects, prefix, query)
    }
}

/// Hash every object and plan its row groups, decode them in parallel,
/// then merge the chunks into one history.
fn decode_all(fetched: &[(String, Bytes)], prefix: &str, query: &HistoryQuery) -> Result<History, HistoryError> {
    let decoded = decode_objects(fetched, 0, query, None, |_| true, |_, chunk| chunk)?;
    let mut history = merge(decoded.chunks, decoded.objects, fetched, prefix, query)?;
    history.pruned_row_groups = decoded.pruned;
    Ok(history)
}

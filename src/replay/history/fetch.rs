//! Listing and fetching: the parquet objects under a cohort's prefix, each
//! fetched once, in listing order, a few at a time. An object whose size or
//! version changed between listing and reading is refused
//! ([`StoreError::Changed`]): the snapshot must describe exactly what was read.

use super::table::HistoryError;
use crate::store::{Store, StoreError};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;

/// Is this listed object a parquet file of the history (not a marker, checksum or hidden file)?
pub fn is_parquet_object(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    !name.starts_with('_') && !name.starts_with('.') && (lower.ends_with(".parquet") || lower.ends_with(".parq") || lower.ends_with(".pq"))
}

/// Fetch every listed object once, a few at a time, keeping listing order.
pub async fn fetch_all(
    store: &Store,
    listed: &[ObjectMeta],
    progress: Option<&indicatif::ProgressBar>,
) -> Result<Vec<(String, Bytes)>, HistoryError> {
    futures::stream::iter(listed.iter().map(|meta| async move {
        let (read, bytes) = store.get_with_meta(&meta.location).await?;
        let path = meta.location.to_string();
        if read.size != meta.size
            || bytes.len() as u64 != meta.size
            || (meta.e_tag.is_some() && read.e_tag.is_some() && read.e_tag != meta.e_tag)
        {
            return Err(HistoryError::Store(StoreError::Changed {
                store: store.name().to_string(),
                path,
                detail: format!("listed at {} bytes, read {} bytes", meta.size, bytes.len()),
            }));
        }
        if let Some(pb) = progress {
            pb.inc(meta.size);
        }
        Ok((path, bytes))
    }))
    .buffered(8)
    .try_collect()
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_object_names() {
        assert!(is_parquet_object("history/x/date=2026-10-01/part-0.parquet"));
        assert!(is_parquet_object("history/x/a.PQ"));
        assert!(!is_parquet_object("history/x/_SUCCESS"));
        assert!(!is_parquet_object("history/x/.part-0.parquet.crc"));
        assert!(!is_parquet_object("history/x/notes.txt"));
    }
}

//! Listing and fetching: the parquet objects under a cohort's prefix, each
//! fetched once, in listing order, a few at a time. An object whose size or
//! version changed between listing and reading is refused
//! ([`StoreError::Changed`]): the snapshot must describe exactly what was read.
//!
//! For guardrail readings ([`fetch_for_window`]) only each object's footer is
//! fetched first; then only the byte ranges of the row groups that may hold
//! live-window rows ([`super::prune`]), placed at their offsets in an
//! otherwise zeroed buffer of the object's size (untouched pages of which
//! the operating system never backs), so decoding reads them as usual.

use super::prune::{may_hold, row_group_span, LiveWindow};
use super::table::HistoryError;
use crate::store::{Store, StoreError};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::{GetRange, ObjectMeta};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

/// How much of an object's tail is fetched first: most footers fit.
const FOOTER_GUESS: u64 = 64 * 1024;

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
    fetch_owned(store.clone(), listed.to_vec(), progress.cloned()).await
}

/// [`fetch_all`] owning what it reads from, so that it can run as a task of
/// its own (fetching the next objects while others decode).
pub async fn fetch_owned(
    store: Store,
    listed: Vec<ObjectMeta>,
    progress: Option<indicatif::ProgressBar>,
) -> Result<Vec<(String, Bytes)>, HistoryError> {
    let fetches = listed.into_iter().map(|meta| {
        let (store, progress) = (store.clone(), progress.clone());
        async move { fetch_one(&store, &meta, progress.as_ref()).await }
    });
    futures::stream::iter(fetches).buffered(8).try_collect().await
}

/// Fetch one listed object whole, refusing it when its size or version is
/// not the listing's.
async fn fetch_one(store: &Store, meta: &ObjectMeta, progress: Option<&indicatif::ProgressBar>) -> Result<(String, Bytes), HistoryError> {
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
}

/// Fetch what guardrail readings over `w` need: every object's footer, then
/// the row groups that may hold its rows. An object whose footer cannot be
/// read is fetched whole, so decoding reports it as a full read would.
pub async fn fetch_for_window(store: &Store, listed: &[ObjectMeta], w: &LiveWindow) -> Result<Vec<(String, Bytes)>, HistoryError> {
    futures::stream::iter(listed.iter().map(|meta| async move {
        let path = meta.location.to_string();
        let bytes = match footer(store, meta).await? {
            Some(f) => {
                let spans: Vec<_> = (0..f.metadata.num_row_groups())
                    .filter(|&rg| may_hold(&f.metadata, rg, w))
                    .filter_map(|rg| row_group_span(&f.metadata, rg))
                    .collect();
                sparse(store, meta, &f, &spans).await?
            }
            None => fetch_one(store, meta, None).await?.1,
        };
        Ok((path, bytes))
    }))
    .buffered(8)
    .try_collect()
    .await
}

/// An object's tail, from offset `tail_at`, holding its decoded footer.
pub(super) struct Footer {
    tail_at: u64,
    tail: Bytes,
    pub(super) metadata: ParquetMetaData,
}

/// The object's footer; `None` when it is not plain parquet.
pub(super) async fn footer(store: &Store, meta: &ObjectMeta) -> Result<Option<Footer>, HistoryError> {
    let size = meta.size;
    if size < 12 {
        return Ok(None);
    }
    let e_tag = meta.e_tag.as_deref();
    let (read, mut tail) = store
        .get_range(&meta.location, GetRange::Suffix(FOOTER_GUESS.min(size)), e_tag)
        .await?;
    if read.size != size {
        return Err(changed(store, meta, read.size));
    }
    let n = tail.len();
    if n < 8 || &tail[n - 4..] != b"PAR1" {
        return Ok(None);
    }
    let footer_len = u32::from_le_bytes(tail[n - 8..n - 4].try_into().expect("4 bytes")) as u64;
    if footer_len + 8 > size {
        return Ok(None);
    }
    if footer_len + 8 > n as u64 {
        tail = store.get_range(&meta.location, GetRange::Suffix(footer_len + 8), e_tag).await?.1;
    }
    let n = tail.len();
    let Ok(metadata) = ParquetMetaDataReader::decode_metadata(&tail[n - 8 - footer_len as usize..n - 8]) else {
        return Ok(None);
    };
    Ok(Some(Footer {
        tail_at: size - n as u64,
        tail,
        metadata,
    }))
}

/// A buffer of the object's size holding its tail and `spans`, zero elsewhere.
async fn sparse(store: &Store, meta: &ObjectMeta, footer: &Footer, spans: &[std::ops::Range<u64>]) -> Result<Bytes, HistoryError> {
    let size = meta.size;
    let mut buf = vec![0u8; size as usize];
    for span in spans {
        let span = span.start.min(size)..span.end.min(size);
        if span.is_empty() {
            continue;
        }
        let (_, bytes) = store
            .get_range(&meta.location, GetRange::Bounded(span.clone()), meta.e_tag.as_deref())
            .await?;
        if bytes.len() as u64 != span.end - span.start {
            return Err(changed(store, meta, bytes.len() as u64));
        }
        buf[span.start as usize..span.end as usize].copy_from_slice(&bytes);
    }
    buf[footer.tail_at as usize..].copy_from_slice(&footer.tail);
    Ok(Bytes::from(buf))
}

fn changed(store: &Store, meta: &ObjectMeta, read: u64) -> HistoryError {
    HistoryError::Store(StoreError::Changed {
        store: store.name().to_string(),
        path: meta.location.to_string(),
        detail: format!("listed at {} bytes, read {read}", meta.size),
    })
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

//! Validation of the values the replay relies on (README "Regression
//! history"): window capacities, kinds, finite features, unique item ids.
//! Each failure names the object, the row, the item id and the column.

use super::table::{History, HistoryError, ItemRef};
use rayon::prelude::*;
use std::collections::HashMap;

/// What a `kind` value must be.
pub const KIND_EXPECTED: &str = "one of build_regression, dependency_anomaly, canary_finding, rollout_caveat";

/// A `window_capacity` value: null (the pipeline default) or a whole number of at least 1.
/// `item` names the row's item, and is called only when the value is refused.
pub fn capacity_value(v: Option<i64>, object: &str, row: u64, item: impl FnOnce() -> ItemRef) -> Result<Option<u32>, HistoryError> {
    match v {
        None => Ok(None),
        Some(c) if c >= 1 && c <= u32::MAX as i64 => Ok(Some(c as u32)),
        Some(c) => Err(HistoryError::BadValue {
            object: object.into(),
            row,
            item: item(),
            column: "window_capacity".into(),
            expected: "a whole number of at least 1",
            found: c.to_string(),
        }),
    }
}

/// A feature value: finite, and 0 or more where a profile applies `log1p`.
pub fn feature_value(v: f64, nonnegative: bool) -> Result<f64, &'static str> {
    if !v.is_finite() {
        Err("a finite number")
    } else if nonnegative && v < 0.0 {
        Err("a value of 0 or more (the profile applies log1p)")
    } else {
        Ok(v)
    }
}

/// SPEC §3: item ids are unique across the history read. Hash every id in
/// parallel (xxh3), sort the hashes, and compare bytes only where hashes collide.
pub fn check_unique_ids(h: &History) -> Result<(), HistoryError> {
    let n = h.item_ids.len();
    let hash_of = |i: usize| xxhash_rust::xxh3::xxh3_64(h.item_ids.get(i));
    let mut hashes: Vec<u64> = (0..n).into_par_iter().map(hash_of).collect();
    hashes.par_sort_unstable();
    let mut suspects: Vec<u64> = hashes.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    if suspects.is_empty() {
        return Ok(());
    }
    suspects.dedup();
    drop(hashes);
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for i in 0..n {
        if suspects.binary_search(&hash_of(i)).is_err() {
            continue;
        }
        if let Some(&first) = seen.get(h.item_ids.get(i)) {
            let (fo, fr) = h.origin(first);
            let (so, sr) = h.origin(i);
            return Err(HistoryError::DuplicateItem {
                item_id: h.item_ids.get_str(i).to_string(),
                first_object: fo.to_string(),
                first_row: fr,
                second_object: so.to_string(),
                second_row: sr,
            });
        }
        seen.insert(h.item_ids.get(i), i);
    }
    Ok(())
}

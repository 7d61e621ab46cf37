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

/// How many partitions (by the top bits of the hash) item ids are checked in.
const ID_PARTITION_BITS: u32 = 10;

/// SPEC §3: item ids are unique across the history read. Hash every id in
/// parallel (xxh3, seeded at random so that no history can aim at the
/// table), spread the hashes over partitions by their top bits, find the
/// hashes seen twice in each partition with a small table, and compare bytes
/// only for those. Which duplicate is reported does not depend on the seed.
pub fn check_unique_ids(h: &History) -> Result<(), HistoryError> {
    let n = h.item_ids.len();
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).unwrap_or_default();
    let seed = u64::from_le_bytes(seed);
    let hash_of = |id: &[u8]| xxhash_rust::xxh3::xxh3_64_with_seed(id, seed);
    let parts = 1usize << ID_PARTITION_BITS;
    let block = n.div_ceil(rayon::current_num_threads().max(1) * 4).max(1);
    let blocks: Vec<Vec<Vec<u64>>> = (0..n.div_ceil(block))
        .into_par_iter()
        .map(|b| {
            let items = b * block..((b + 1) * block).min(n);
            let room = items.len() / parts * 5 / 4 + 4;
            let mut buckets: Vec<Vec<u64>> = (0..parts).map(|_| Vec::with_capacity(room)).collect();
            h.item_ids.for_each_in(items, |id| {
                let x = hash_of(id);
                buckets[(x >> (64 - ID_PARTITION_BITS)) as usize].push(x);
            });
            buckets
        })
        .collect();
    let mut suspects: Vec<u64> = (0..parts)
        .into_par_iter()
        .flat_map_iter(|p| repeated_hashes(blocks.iter().flat_map(|b| b[p].iter().copied())))
        .collect();
    drop(blocks);
    if suspects.is_empty() {
        return Ok(());
    }
    suspects.sort_unstable();
    suspects.dedup();
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for (i, id) in h.item_ids.range(0..n).enumerate() {
        if suspects.binary_search(&hash_of(id)).is_err() {
            continue;
        }
        if let Some(&first) = seen.get(id) {
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
        seen.insert(id, i);
    }
    Ok(())
}

/// The values `hashes` holds more than once (a value three times is listed
/// twice), found with an open-addressing table on their low bits.
fn repeated_hashes(hashes: impl Iterator<Item = u64> + Clone) -> Vec<u64> {
    let len = hashes.clone().count();
    let mask = (len * 2).next_power_of_two().max(16) - 1;
    // 0 marks an empty slot; the hash 0 itself is counted apart.
    let mut table = vec![0u64; mask + 1];
    let mut zero_seen = false;
    let mut repeated = Vec::new();
    for x in hashes {
        if x == 0 {
            if std::mem::replace(&mut zero_seen, true) {
                repeated.push(0);
            }
            continue;
        }
        let mut at = x as usize & mask;
        loop {
            match table[at] {
                0 => {
                    table[at] = x;
                    break;
                }
                y if y == x => {
                    repeated.push(x);
                    break;
                }
                _ => at = (at + 1) & mask,
            }
        }
    }
    repeated
}

#[cfg(test)]
mod tests {
    use super::repeated_hashes;
    use rand::{RngExt, SeedableRng};

    /// Against counting: every value seen k > 1 times is listed k − 1 times, 0 included.
    #[test]
    fn repeated_hashes_lists_every_value_seen_again() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        for round in 0..200 {
            let pool = rng.random_range(1..300u64);
            let values: Vec<u64> = (0..rng.random_range(0..400))
                .map(|_| match rng.random_range(0..3) {
                    0 => rng.random_range(0..pool),
                    1 => rng.random_range(0..pool) << 40,
                    _ => rng.random::<u64>(),
                })
                .collect();
            let mut expected: Vec<u64> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for &v in &values {
                if !seen.insert(v) {
                    expected.push(v);
                }
            }
            let mut got = repeated_hashes(values.iter().copied());
            expected.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, expected, "round {round}");
        }
    }
}

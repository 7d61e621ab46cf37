//! Names as decoding meets them: a row group's distinct window ids, signoff
//! classes and revisions, kept in one byte buffer (no allocation per name)
//! with a hash index, so each distinct value costs one lookup and one copy.
//! Ids are given in order of first appearance; the hash only finds them, so
//! nothing read from it depends on the (randomly seeded) hasher.

use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;
use std::sync::OnceLock;

/// The one hasher of a process: names are hashed once, when decoding meets
/// them, and merging reuses those hashes, so every interner must agree.
pub fn name_hasher() -> &'static DefaultHashBuilder {
    static HASHER: OnceLock<DefaultHashBuilder> = OnceLock::new();
    HASHER.get_or_init(DefaultHashBuilder::default)
}

/// The hash of `name` under [`name_hasher`].
#[inline]
pub fn hash_name(name: &str) -> u64 {
    name_hasher().hash_one(name)
}

/// Distinct names in order of first appearance, each with its index and hash.
#[derive(Clone, Default)]
pub struct Interner {
    bytes: String,
    /// `ends[i]`: where name `i` ends in `bytes`.
    ends: Vec<usize>,
    hashes: Vec<u64>,
    index: HashTable<u32>,
    /// Names `0..indexed` are in `index`; [`Interner::push_distinct`] appends past it.
    indexed: usize,
}

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Interner {
    /// Names given in order; a repeated one keeps its first index.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Interner {
        let mut interner = Interner::default();
        for name in names {
            interner.intern(name);
        }
        interner
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Room for `names` more names of `bytes` bytes in all.
    pub fn reserve(&mut self, names: usize, bytes: usize) {
        self.bytes.reserve(bytes);
        self.ends.reserve(names);
        self.hashes.reserve(names);
    }

    /// Name `i`.
    #[inline]
    pub fn get(&self, i: usize) -> &str {
        name_at(&self.bytes, &self.ends, i)
    }

    /// The hash of name `i` under [`name_hasher`].
    #[inline]
    pub fn hash(&self, i: usize) -> u64 {
        self.hashes[i]
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Append `name` without looking it up: for a caller that knows its
    /// names distinct (a deduplicated dictionary), and checks that with
    /// [`Interner::has_duplicates`] before relying on it.
    pub fn push_distinct(&mut self, name: &str) -> u32 {
        self.bytes.push_str(name);
        self.ends.push(self.bytes.len());
        self.hashes.push(hash_name(name));
        self.ends.len() as u32 - 1
    }

    /// Whether two names from `from` on are equal, or equal to an earlier one.
    /// Only hashes are sorted (a row group's dictionary has hundreds of
    /// thousands of names, nearly never a repeat); names are compared only
    /// within a group of equal hashes, every pair of it.
    pub fn has_duplicates(&self, from: usize) -> bool {
        let mut sorted = self.hashes.clone();
        sorted.sort_unstable();
        let mut repeated: Vec<u64> = sorted.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
        if repeated.is_empty() {
            return false;
        }
        repeated.dedup();
        let mut by_hash: Vec<(u64, usize)> = (0..self.len())
            .filter(|&i| repeated.binary_search(&self.hashes[i]).is_ok())
            .map(|i| (self.hashes[i], i))
            .collect();
        by_hash.sort_unstable();
        by_hash.chunk_by(|a, b| a.0 == b.0).any(|group| {
            group.iter().enumerate().any(|(k, &(_, a))| {
                group[k + 1..]
                    .iter()
                    .any(|&(_, b)| (a >= from || b >= from) && self.get(a) == self.get(b))
            })
        })
    }

    /// Keep the first `n` names.
    pub fn truncate(&mut self, n: usize) {
        if n >= self.len() {
            return;
        }
        self.bytes.truncate(if n == 0 { 0 } else { self.ends[n - 1] });
        self.ends.truncate(n);
        self.hashes.truncate(n);
        if self.indexed > n {
            self.index.clear();
            self.indexed = 0;
        }
    }

    /// Index the names appended by [`Interner::push_distinct`].
    fn index_all(&mut self) {
        let Interner {
            hashes, index, indexed, ..
        } = self;
        index.reserve(hashes.len() - *indexed, |&j| hashes[j as usize]);
        for i in *indexed..hashes.len() {
            index.insert_unique(hashes[i], i as u32, |&j| hashes[j as usize]);
        }
        *indexed = hashes.len();
    }

    /// The index of `name`, and whether it was new.
    pub fn intern(&mut self, name: &str) -> (u32, bool) {
        if self.indexed < self.len() {
            self.index_all();
        }
        let hash = hash_name(name);
        let Interner {
            bytes,
            ends,
            hashes,
            index,
            indexed,
        } = self;
        if let Some(&i) = index.find(hash, |&i| hashes[i as usize] == hash && name_at(bytes, ends, i as usize) == name) {
            return (i, false);
        }
        let i = ends.len() as u32;
        index.insert_unique(hash, i, |&j| hashes[j as usize]);
        bytes.push_str(name);
        ends.push(bytes.len());
        hashes.push(hash);
        *indexed += 1;
        (i, true)
    }
}

/// Name `i` of a buffer whose names end at `ends`.
#[inline]
fn name_at<'a>(bytes: &'a str, ends: &[usize], i: usize) -> &'a str {
    &bytes[if i == 0 { 0 } else { ends[i - 1] }..ends[i]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_the_index_of_their_first_appearance() {
        let mut n = Interner::default();
        assert_eq!(n.intern("w-2"), (0, true));
        assert_eq!(n.intern(""), (1, true));
        assert_eq!(n.intern("w-1"), (2, true));
        assert_eq!(n.intern("w-2"), (0, false));
        assert_eq!(n.intern(""), (1, false));
        for k in 0..5000 {
            n.intern(&format!("window-{}", k % 3000));
        }
        assert_eq!(n.len(), 3003);
        assert_eq!(n.get(2), "w-1");
        assert_eq!(n.get(3), "window-0");
        assert_eq!(n.get(3002), "window-2999");
        assert_eq!(n.iter().filter(|s| s.is_empty()).count(), 1);
        assert_eq!(n.hash(3002), hash_name("window-2999"));
        assert_eq!(Interner::from_names(["a", "b", "a"]).iter().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn names_pushed_unchecked_are_checked_for_duplicates_and_then_interned() {
        let mut n = Interner::from_names(["a", "b"]);
        assert_eq!(n.push_distinct("c"), 2);
        assert_eq!(n.push_distinct("d"), 3);
        assert!(!n.has_duplicates(2));
        assert_eq!(n.intern("d"), (3, false), "unchecked names are indexed before a lookup");
        assert_eq!(n.intern("e"), (4, true));
        n.push_distinct("a");
        assert!(n.has_duplicates(5), "a repeat of an earlier name");
        n.truncate(5);
        assert!(!n.has_duplicates(0));
        n.push_distinct("x");
        n.push_distinct("x");
        assert!(n.has_duplicates(5), "two equal new names");
        assert!(!n.has_duplicates(7), "both before `from`");
        n.truncate(5);
        for k in 0..20_000 {
            n.push_distinct(&format!("w-{k}"));
        }
        assert!(!n.has_duplicates(5), "many distinct names");
        n.push_distinct("w-12345");
        assert!(n.has_duplicates(20_005), "a repeat far back");
        n.truncate(2);
        assert_eq!(n.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(n.intern("c"), (2, true), "the index forgot what was cut");
        assert_eq!(n.intern("b"), (1, false));
    }
}

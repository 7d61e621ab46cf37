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
        let hashes = &self.hashes;
        self.index.reserve(names, |&j| hashes[j as usize]);
    }

    /// Name `i`.
    #[inline]
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// The hash of name `i` under [`name_hasher`].
    #[inline]
    pub fn hash(&self, i: usize) -> u64 {
        self.hashes[i]
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The index of `name`, and whether it was new.
    pub fn intern(&mut self, name: &str) -> (u32, bool) {
        let hash = hash_name(name);
        let Interner {
            bytes,
            ends,
            hashes,
            index,
        } = self;
        let get = |i: u32| {
            let i = i as usize;
            &bytes[if i == 0 { 0 } else { ends[i - 1] }..ends[i]]
        };
        if let Some(&i) = index.find(hash, |&i| hashes[i as usize] == hash && get(i) == name) {
            return (i, false);
        }
        let i = ends.len() as u32;
        index.insert_unique(hash, i, |&j| hashes[j as usize]);
        bytes.push_str(name);
        ends.push(bytes.len());
        hashes.push(hash);
        (i, true)
    }
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
}

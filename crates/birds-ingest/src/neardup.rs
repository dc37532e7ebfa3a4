//! Near-duplicate search over 64-bit perceptual hashes by multi-index hashing (Norouzi, Punjani & Fleet, 2012).
//!
//! A hash is cut into four 16-bit chunks. If two hashes differ in at most `r` bits, then by the pigeonhole
//! principle some chunk differs in at most `⌊r/4⌋` bits. So for each chunk, an index maps every 16-bit value to
//! the hashes holding it; a query looks up the few values within `⌊r/4⌋` bits of its own chunk and checks only those
//! candidates in full. With 90,000 random hashes and `r = 8` that is about 750 candidates per hash instead of 90,000.
//! A pair is recorded at the first chunk that can find it, so each pair appears once.
//!
//! Ingest groups duplicates with [`near_components`] (connected components, memory linear in the number of
//! hashes); [`near_pairs`] lists the pairs themselves, for tests and benchmarks.

use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

/// Chunks per hash.
const CHUNKS: usize = 4;
/// Bits per chunk.
const CHUNK_BITS: u32 = 16;
/// The largest distance [`near_pairs`] accepts (beyond it pHash matches are mostly unrelated images, and the
/// per-chunk radius makes the index slow).
pub const MAX_DISTANCE: u32 = 16;

/// Two hashes within the distance asked for: indices into the input (`a < b`) and their Hamming distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NearPair {
    /// Index of the first hash.
    pub a: usize,
    /// Index of the second hash (`b > a`).
    pub b: usize,
    /// Number of differing bits.
    pub distance: u32,
}

fn chunk(hash: u64, c: usize) -> usize {
    ((hash >> (CHUNK_BITS as usize * c)) & 0xFFFF) as usize
}

/// One chunk's index: hashes sorted by chunk value, with the start of each value's run (counting sort).
struct ChunkIndex {
    starts: Vec<u32>,
    ids: Vec<u32>,
}

impl ChunkIndex {
    fn build(hashes: &[u64], c: usize) -> Self {
        let mut starts = vec![0u32; (1 << CHUNK_BITS) + 1];
        for &h in hashes {
            starts[chunk(h, c) + 1] += 1;
        }
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        let mut next = starts.clone();
        let mut ids = vec![0u32; hashes.len()];
        for (i, &h) in hashes.iter().enumerate() {
            let slot = &mut next[chunk(h, c)];
            ids[*slot as usize] = i as u32;
            *slot += 1;
        }
        Self { starts, ids }
    }

    fn bucket(&self, key: usize) -> &[u32] {
        &self.ids[self.starts[key] as usize..self.starts[key + 1] as usize]
    }
}

/// The multi-index: one [`ChunkIndex`] per chunk, the per-chunk radius and the chunk masks within it.
struct Index {
    max_distance: u32,
    per_chunk: u32,
    masks: Vec<usize>,
    chunks: Vec<ChunkIndex>,
}

impl Index {
    fn build(hashes: &[u64], max_distance: u32) -> Self {
        let max_distance = max_distance.min(MAX_DISTANCE);
        debug_assert!(u32::try_from(hashes.len()).is_ok(), "ids are stored as u32");
        let per_chunk = max_distance / CHUNKS as u32;
        let masks = (0..1usize << CHUNK_BITS)
            .filter(|m| m.count_ones() <= per_chunk)
            .collect();
        let chunks = (0..CHUNKS)
            .into_par_iter()
            .map(|c| ChunkIndex::build(hashes, c))
            .collect();
        Self {
            max_distance,
            per_chunk,
            masks,
            chunks,
        }
    }

    /// Calls `found(b, distance)` once for every `b > a` within the distance of hash `a`.
    fn neighbours(&self, hashes: &[u64], a: usize, mut found: impl FnMut(usize, u32)) {
        let ha = hashes[a];
        for (c, table) in self.chunks.iter().enumerate() {
            let key = chunk(ha, c);
            for &mask in &self.masks {
                for &b in table.bucket(key ^ mask) {
                    let b = b as usize;
                    if b <= a {
                        continue;
                    }
                    let hb = hashes[b];
                    // Found already through an earlier chunk?
                    if (0..c).any(|e| (chunk(ha, e) ^ chunk(hb, e)).count_ones() <= self.per_chunk)
                    {
                        continue;
                    }
                    let distance = (ha ^ hb).count_ones();
                    if distance <= self.max_distance {
                        found(b, distance);
                    }
                }
            }
        }
    }
}

/// Every pair of hashes at Hamming distance `≤ max_distance` (clamped to [`MAX_DISTANCE`]), sorted by `(a, b)`.
/// Runs in parallel on the rayon pool; the result does not depend on the thread count.
///
/// The answer grows with the square of the number of mutually close hashes (`k` copies of one image are
/// `k(k-1)/2` pairs); ingest uses [`near_components`], whose memory is linear in the number of hashes.
pub fn near_pairs(hashes: &[u64], max_distance: u32) -> Vec<NearPair> {
    let index = Index::build(hashes, max_distance);
    let mut pairs: Vec<NearPair> = (0..hashes.len())
        .into_par_iter()
        .flat_map_iter(|a| {
            let mut found = Vec::new();
            index.neighbours(hashes, a, |b, distance| {
                found.push(NearPair { a, b, distance })
            });
            found
        })
        .collect();
    pairs.sort_unstable();
    pairs
}

/// The connected components of the "within `max_distance`" relation (clamped to [`MAX_DISTANCE`]): for each hash,
/// the smallest index of its component (so `out[i] == i` for a hash that is the first of its component, alone or
/// not). Near-ness is joined transitively: with `a ~ b` and `b ~ c`, all three share a component even when `a` and
/// `c` are farther apart.
///
/// Memory is linear in the number of hashes, however many pairs there are: pairs are merged into a union-find as
/// they are found (in parallel, lock-free), never stored. The result does not depend on the thread count.
pub fn near_components(hashes: &[u64], max_distance: u32) -> Vec<u32> {
    // Equal hashes are one component before any search: the index sees each value once, so `k` copies of one
    // image cost no `k²` bucket scan.
    let mut unique = hashes.to_vec();
    unique.par_sort_unstable();
    unique.dedup();
    let index = Index::build(&unique, max_distance);
    let forest = AtomicForest::new(unique.len());
    (0..unique.len()).into_par_iter().for_each(|a| {
        index.neighbours(&unique, a, |b, _| forest.union(a as u32, b as u32));
    });
    // Each component is named by its smallest index in `hashes`.
    let mut first = vec![u32::MAX; unique.len()];
    hashes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let u = unique.binary_search(h).unwrap_or_default() as u32;
            let root = forest.find(u) as usize;
            if first[root] == u32::MAX {
                first[root] = i as u32;
            }
            first[root]
        })
        .collect()
}

/// A union-find over `0..n` that threads may merge into concurrently. A root is always linked below a smaller
/// root, so every tree's root is its smallest member and the final forest does not depend on the merge order.
struct AtomicForest {
    parent: Vec<AtomicU32>,
}

impl AtomicForest {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).map(AtomicU32::new).collect(),
        }
    }

    /// The root of `x`, halving the path on the way (a parent only ever moves to a smaller index).
    fn find(&self, mut x: u32) -> u32 {
        loop {
            let p = self.parent[x as usize].load(Ordering::Acquire);
            if p == x {
                return x;
            }
            let g = self.parent[p as usize].load(Ordering::Acquire);
            if g != p {
                let _ = self.parent[x as usize].compare_exchange(
                    p,
                    g,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
            x = g;
        }
    }

    fn union(&self, a: u32, b: u32) {
        loop {
            let (ra, rb) = (self.find(a), self.find(b));
            if ra == rb {
                return;
            }
            let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
            // Link only if `high` is still a root; otherwise someone moved it, look again.
            if self.parent[high as usize]
                .compare_exchange(high, low, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// The same answer as [`near_pairs`] by checking all pairs; for tests and benchmarks only.
pub fn near_pairs_brute_force(hashes: &[u64], max_distance: u32) -> Vec<NearPair> {
    let max_distance = max_distance.min(MAX_DISTANCE);
    let mut pairs: Vec<NearPair> = (0..hashes.len())
        .into_par_iter()
        .flat_map_iter(|a| {
            let ha = hashes[a];
            hashes[a + 1..]
                .iter()
                .enumerate()
                .filter_map(move |(k, &hb)| {
                    let distance = (ha ^ hb).count_ones();
                    (distance <= max_distance).then_some(NearPair {
                        a,
                        b: a + 1 + k,
                        distance,
                    })
                })
        })
        .collect();
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn splitmix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Random hashes plus planted neighbours at every distance 0..=20, so every threshold has true pairs and
    /// pairs just beyond it.
    fn hashes_with_neighbours(n: usize, seed: u64) -> Vec<u64> {
        let mut s = seed;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let base = splitmix(&mut s);
            out.push(base);
            let flips = (splitmix(&mut s) % 21) as u32;
            let mut h = base;
            let mut flipped = 0;
            while flipped < flips {
                let bit = 1u64 << (splitmix(&mut s) % 64);
                if h & bit == base & bit {
                    h ^= bit;
                    flipped += 1;
                }
            }
            out.push(h);
            if splitmix(&mut s).is_multiple_of(4) {
                out.push(base); // an exact copy now and then
            }
        }
        out.truncate(n);
        out
    }

    #[test]
    fn agrees_with_brute_force_at_every_distance() {
        let hashes = hashes_with_neighbours(3000, 7);
        for d in 0..=MAX_DISTANCE {
            let fast = near_pairs(&hashes, d);
            let slow = near_pairs_brute_force(&hashes, d);
            assert!(!slow.is_empty(), "fixture has pairs at distance {d}");
            assert_eq!(fast, slow, "max distance {d}");
        }
    }

    /// Components from a list of pairs, the slow and obvious way: smallest index of each component.
    fn components_of(n: usize, pairs: &[NearPair]) -> Vec<u32> {
        let mut label: Vec<u32> = (0..n as u32).collect();
        loop {
            let mut changed = false;
            for p in pairs {
                let m = label[p.a].min(label[p.b]);
                for i in [p.a, p.b] {
                    if label[i] != m {
                        label[i] = m;
                        changed = true;
                    }
                }
            }
            if !changed {
                return label;
            }
        }
    }

    #[test]
    fn components_agree_with_brute_force_pairs() {
        let hashes = hashes_with_neighbours(2000, 11);
        for d in [0, 3, 5, 8, 12, MAX_DISTANCE] {
            let slow = components_of(hashes.len(), &near_pairs_brute_force(&hashes, d));
            assert_eq!(near_components(&hashes, d), slow, "max distance {d}");
        }
    }

    #[test]
    fn components_join_transitively_and_copies_cost_no_pairs() {
        let a = 0u64;
        let b = a ^ 0b111; // 3 from a
        let c = b ^ 0b111_000; // 3 from b, 6 from a
        let far = !0u64;
        assert_eq!(near_components(&[c, far, a, b], 3), vec![0, 1, 0, 0]);
        assert_eq!(near_components(&[a, c], 3), vec![0, 1]);
        // 20,000 copies of one hash: one component (as pairs, 200 million).
        let copies = vec![0xDEAD_BEEF_u64; 20_000];
        assert!(near_components(&copies, 4).iter().all(|&r| r == 0));
        assert!(near_components(&[], 8).is_empty());
    }

    #[test]
    fn reports_each_pair_once_with_its_distance() {
        let a = 0xFFFF_0000_FFFF_0000u64;
        // Differs from `a` by one bit in every chunk: 4 bits in total, findable through any chunk at r = 4.
        let b = a ^ 0x0001_0001_0001_0001;
        let c = !a;
        let pairs = near_pairs(&[a, b, c, a], 4);
        assert_eq!(
            pairs,
            vec![
                NearPair {
                    a: 0,
                    b: 1,
                    distance: 4
                },
                NearPair {
                    a: 0,
                    b: 3,
                    distance: 0
                },
                NearPair {
                    a: 1,
                    b: 3,
                    distance: 4
                },
            ]
        );
        assert!(near_pairs(&[a, b, c, a], 3).iter().all(|p| p.distance == 0));
        assert!(near_pairs(&[], 8).is_empty());
    }
}

//! Near-duplicate search over 64-bit perceptual hashes by multi-index hashing (Norouzi, Punjani & Fleet, 2012).
//!
//! A hash is cut into four 16-bit chunks. If two hashes differ in at most `r` bits, then by the pigeonhole
//! principle some chunk differs in at most `⌊r/4⌋` bits. So for each chunk, an index maps every 16-bit value to
//! the hashes holding it; a query looks up the few values within `⌊r/4⌋` bits of its own chunk and checks only those
//! candidates in full. With 90,000 random hashes and `r = 8` that is about 750 candidates per hash instead of 90,000.
//! A pair is recorded at the first chunk that can find it, so each pair appears once.

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

/// Every pair of hashes at Hamming distance `≤ max_distance` (clamped to [`MAX_DISTANCE`]), sorted by `(a, b)`.
/// Runs in parallel on the rayon pool; the result does not depend on the thread count.
pub fn near_pairs(hashes: &[u64], max_distance: u32) -> Vec<NearPair> {
    let max_distance = max_distance.min(MAX_DISTANCE);
    debug_assert!(u32::try_from(hashes.len()).is_ok(), "ids are stored as u32");
    let per_chunk = max_distance / CHUNKS as u32;
    let masks: Vec<usize> = (0..1usize << CHUNK_BITS)
        .filter(|m| m.count_ones() <= per_chunk)
        .collect();
    let index: Vec<ChunkIndex> = (0..CHUNKS)
        .into_par_iter()
        .map(|c| ChunkIndex::build(hashes, c))
        .collect();
    let mut pairs: Vec<NearPair> = (0..hashes.len())
        .into_par_iter()
        .flat_map_iter(|a| {
            let ha = hashes[a];
            let mut found = Vec::new();
            for (c, table) in index.iter().enumerate() {
                let key = chunk(ha, c);
                for &mask in &masks {
                    for &b in table.bucket(key ^ mask) {
                        let b = b as usize;
                        if b <= a {
                            continue;
                        }
                        let hb = hashes[b];
                        // Found already through an earlier chunk?
                        if (0..c).any(|e| (chunk(ha, e) ^ chunk(hb, e)).count_ones() <= per_chunk) {
                            continue;
                        }
                        let distance = (ha ^ hb).count_ones();
                        if distance <= max_distance {
                            found.push(NearPair { a, b, distance });
                        }
                    }
                }
            }
            found
        })
        .collect();
    pairs.sort_unstable();
    pairs
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

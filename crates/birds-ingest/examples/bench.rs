//! Benchmarks (not tests): ingest throughput on a dataset, and the near-duplicate search on random hashes.
//!
//! ```text
//! cargo run --release -p birds-ingest --example bench -- [DATA_ROOT] [--hashes N] [--distance D] [--brute-force]
//! ```
//! DATA_ROOT defaults to `../shared/data/birds-sample` next to the workspace. The hash benchmark uses N random
//! 64-bit hashes (default 90,000) plus 1% planted near copies, and times [`near_pairs`] at distances 4, 6, 8 and D.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use birds_ingest::neardup::{near_pairs, near_pairs_brute_force};
use birds_ingest::{IngestParams, ingest};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut data = birds_core::paths::workspace_root().join("../shared/data/birds-sample");
    let mut n = 90_000usize;
    let mut distances = vec![4u32, 6, 8];
    let mut brute = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--hashes" => n = args.next().ok_or("--hashes needs a number")?.parse()?,
            "--distance" => {
                distances.push(args.next().ok_or("--distance needs a number")?.parse()?)
            }
            "--brute-force" => brute = true,
            other => data = other.into(),
        }
    }
    println!("threads: {}", rayon::current_num_threads());

    if data.is_dir() {
        let out = tempfile::tempdir()?;
        // One warm-up pass so the page cache holds the files, then the timed pass.
        ingest(&data, out.path(), &IngestParams::default())?;
        let start = Instant::now();
        let o = ingest(&data, out.path(), &IngestParams::default())?;
        let secs = start.elapsed().as_secs_f64();
        let files = o.report.totals.files;
        println!(
            "ingest {}: {files} images in {secs:.2} s = {:.0} images/s (warm cache, incl. Parquet and report)",
            data.display(),
            files as f64 / secs
        );
    } else {
        println!("ingest: {} not found, skipped", data.display());
    }

    let hashes = random_hashes(n, 42);
    distances.sort_unstable();
    distances.dedup();
    for d in distances {
        let start = Instant::now();
        let pairs = near_pairs(&hashes, d);
        let secs = start.elapsed().as_secs_f64();
        println!(
            "near-duplicate search: {} hashes, distance <= {d}: {} pairs in {:.3} s",
            hashes.len(),
            pairs.len(),
            secs
        );
        if brute {
            let start = Instant::now();
            let slow = near_pairs_brute_force(&hashes, d);
            println!(
                "  all-pairs brute force: {} pairs in {:.3} s (same answer: {})",
                slow.len(),
                start.elapsed().as_secs_f64(),
                slow == pairs
            );
        }
    }
    Ok(())
}

/// `n` hashes: random (splitmix64), with every 100th a copy of an earlier one with 0-8 bits flipped.
fn random_hashes(n: usize, seed: u64) -> Vec<u64> {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut out: Vec<u64> = Vec::with_capacity(n);
    while out.len() < n {
        if out.len() % 100 == 99 {
            let mut h = out[(next() as usize) % out.len()];
            for _ in 0..next() % 9 {
                h ^= 1 << (next() % 64);
            }
            out.push(h);
        } else {
            out.push(next());
        }
    }
    out
}

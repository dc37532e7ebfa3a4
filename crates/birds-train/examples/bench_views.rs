//! The frozen groups' forward pass of a fine-tune's activation views (`fine_tune_on: activations`), fed four ways in
//! interleaved rounds: batches already in memory, the augmented loader ahead on a background thread
//! (`Prefetch::Ahead(4)`), the loader on demand on the calling thread (`Prefetch::OnDemand`, what a CPU run uses),
//! and the loader alone. Untrained Lite0 (the weights do not change the cost), batch 32, 2 libtorch threads.
//!
//! ```text
//! cargo run --release -p birds-train --example bench_views -- CACHE_DIR [FROZEN_GROUPS=12] [BATCHES=10] [ROUNDS=5]
//! ```
//!
//! e.g. `artifacts/hard/preprocess 12 10 6` (birds-hard at 224 px; 12 frozen groups = `unfreeze: 6`).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]
use birds_core::{Normalization, Split};
use birds_models::{Architecture, ArchitectureExt};
use birds_train::cache_source::CacheSource;
use birds_train::data::DataSource;
use std::time::Instant;
use tch::{Device, nn};

fn main() {
    birds_core::runtime::tune_malloc();
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(
        args.get(1)
            .expect("usage: bench_views CACHE_DIR [FROZEN_GROUPS] [BATCHES] [ROUNDS]"),
    );
    let frozen: usize = args.get(2).map_or(12, |v| v.parse().unwrap());
    let batches: usize = args.get(3).map_or(10, |v| v.parse().unwrap());
    let rounds: usize = args.get(4).map_or(5, |v| v.parse().unwrap());
    tch::set_num_threads(2);
    let source = CacheSource::open(&dir, Normalization::default(), Default::default()).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Architecture::EfficientNetLite0
        .build(&vs.root(), source.classes().len() as i64)
        .unwrap();
    let bs = 32;
    let cache = birds_preprocess::Cache::open(&dir).unwrap();
    let loader = birds_loader::Loader::new(
        &cache.split(Split::Train),
        birds_loader::LoaderConfig {
            prefetch: birds_loader::Prefetch::OnDemand,
            ..birds_loader::LoaderConfig::train(
                bs,
                Normalization::default(),
                Default::default(),
                42,
            )
        },
    )
    .unwrap();
    let xs: Vec<_> = source
        .train_batches(bs, 42, 0)
        .unwrap()
        .take(batches)
        .map(|b| b.unwrap().0)
        .collect();
    let _ = tch::no_grad(|| net.forward_groups(&xs[0], 0..frozen, false));
    let n = (batches * bs) as f64;
    let mut res: Vec<Vec<f64>> = vec![Vec::new(); 4];
    for r in 0..rounds {
        let t = Instant::now();
        for x in &xs {
            let _ = tch::no_grad(|| net.forward_groups(x, 0..frozen, false));
        }
        res[0].push(n / t.elapsed().as_secs_f64());
        let t = Instant::now();
        for b in source
            .train_batches(bs, 42, r as u64 + 1)
            .unwrap()
            .take(batches)
        {
            let x = b.unwrap().0;
            let _ = tch::no_grad(|| net.forward_groups(&x, 0..frozen, false));
        }
        res[1].push(n / t.elapsed().as_secs_f64());
        let t = Instant::now();
        for b in loader.epoch(r as u64 + 100).take(batches) {
            let x = b.unwrap().images;
            let _ = tch::no_grad(|| net.forward_groups(&x, 0..frozen, false));
        }
        res[2].push(n / t.elapsed().as_secs_f64());
        let t = Instant::now();
        for b in loader.epoch(r as u64 + 200).take(batches) {
            let _ = b.unwrap().images;
        }
        res[3].push(n / t.elapsed().as_secs_f64());
    }
    for (name, v) in [
        "batches in memory",
        "loader ahead (background thread)",
        "loader on demand",
        "loader alone (on demand)",
    ]
    .iter()
    .zip(res.iter_mut())
    {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{name}: median {:.1} img/s  ({:?})",
            v[v.len() / 2],
            v.iter().map(|x| x.round()).collect::<Vec<_>>()
        );
    }
}

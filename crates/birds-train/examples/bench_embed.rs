//! The embedding pass of the feature-extract stage alone, on the first N images of a preprocess cache's train
//! split: exactly `birds_train::features::embed_split` (eval loader, frozen Lite0, pooled embeddings copied into one
//! tensor), without flips, so that `scripts/bench/full.py` can time it beside the PyTorch peer
//! (`scripts/bench/feature_extract.py`) on the same images, with the same threads and batch size, in alternating
//! rounds.
//!
//! ```text
//! cargo run --release -p birds-train --example bench_embed -- --cache artifacts/full/preprocess --images 4096 \
//!     [--batch-size 16] [--threads 2] [--weights .venv/weights/efficientnet-lite0.safetensors]
//! ```
//!
//! Prints one JSON line: images, seconds, images_per_s.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use birds_models::ArchitectureExt;
use std::path::PathBuf;
use std::time::Instant;

use birds_core::{Normalization, Split};
use birds_models::Architecture;
use birds_train::cache_source::CacheSource;
use birds_train::data::{BatchIter, DataSource};
use tch::{Device, nn};

type Error = Box<dyn std::error::Error>;

/// The first `n` train images of a cache (the other splits empty).
struct FirstN<'a> {
    inner: &'a CacheSource,
    n: usize,
}

impl DataSource for FirstN<'_> {
    fn classes(&self) -> &[String] {
        self.inner.classes()
    }
    fn image_size(&self) -> u32 {
        self.inner.image_size()
    }
    fn normalization(&self) -> Normalization {
        self.inner.normalization()
    }
    fn content_id(&self) -> String {
        format!("{}:first-{}", self.inner.content_id(), self.n)
    }
    fn len(&self, split: Split) -> usize {
        match split {
            Split::Train => self.n.min(self.inner.len(Split::Train)),
            _ => 0,
        }
    }
    fn train_batches(
        &self,
        batch_size: usize,
        seed: u64,
        epoch: u64,
    ) -> birds_train::Result<BatchIter<'_>> {
        self.inner.train_batches(batch_size, seed, epoch)
    }
    fn eval_batches(&self, split: Split, batch_size: usize) -> birds_train::Result<BatchIter<'_>> {
        let batches = self.len(split).div_ceil(batch_size.max(1));
        Ok(Box::new(
            self.inner.eval_batches(split, batch_size)?.take(batches),
        ))
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() -> Result<(), Error> {
    birds_core::runtime::tune_malloc();
    let args: Vec<String> = std::env::args().collect();
    let cache = PathBuf::from(arg(&args, "--cache").ok_or("--cache DIR is required")?);
    let images: usize = arg(&args, "--images").map_or(Ok(4096), |v| v.parse())?;
    let batch: usize = arg(&args, "--batch-size").map_or(Ok(16), |v| v.parse())?;
    let threads: i32 = arg(&args, "--threads").map_or(Ok(2), |v| v.parse())?;
    let weights =
        arg(&args, "--weights").map_or_else(birds_core::paths::default_weights, PathBuf::from);
    if batch == 0 || !images.is_multiple_of(batch) {
        return Err(format!("--images {images} must be a multiple of --batch-size {batch}").into());
    }
    tch::set_num_threads(threads);
    let source = CacheSource::open(&cache, Normalization::default(), Default::default())?;
    let data = FirstN {
        inner: &source,
        n: images,
    };
    let mut vs = nn::VarStore::new(Device::Cpu);
    let arch = Architecture::EfficientNetLite0;
    let net = arch.build(&vs.root(), data.classes().len() as i64)?;
    birds_models::weights::load_state_dict(&mut vs, &weights, &[arch.head_prefix()])?;
    let bar = indicatif::ProgressBar::hidden();
    let embed = |d: &dyn DataSource| {
        birds_train::features::embed_split(
            net.as_ref(),
            d,
            Split::Train,
            batch,
            Device::Cpu,
            false,
            false,
            &bar,
        )
    };
    // One warm-up batch (allocator, oneDNN kernel selection), as the PyTorch peer does.
    embed(&FirstN {
        inner: &source,
        n: batch,
    })?;
    let start = Instant::now();
    let out = embed(&data)?;
    let seconds = start.elapsed().as_secs_f64();
    let n = out.features.size()[0] as usize;
    println!(
        "{}",
        serde_json::json!({
            "impl": "birds",
            "threads": tch::get_num_threads(),
            "batch_size": batch,
            "images": n,
            "embedding": out.features.size()[1],
            "seconds": seconds,
            "images_per_s": n as f64 / seconds,
        })
    );
    Ok(())
}

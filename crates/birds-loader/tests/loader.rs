//! Integration tests of the batch loader on caches built from generated images.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../birds-preprocess/tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::path::Path;

use birds_core::{Normalization, Split};
use birds_loader::{Loader, LoaderConfig, Mode, Prefetch};
use birds_preprocess::{AugmentParams, Cache, preprocess};
use common::{Fixture, class_colour, params, quiet, synthetic_cache};

fn to_vec(t: &tch::Tensor) -> Vec<f32> {
    t.flatten(0, -1).try_into().unwrap()
}

fn to_i64(t: &tch::Tensor) -> Vec<i64> {
    t.flatten(0, -1).try_into().unwrap()
}

#[test]
fn eval_loader_fixed_order_keeps_last_batch_and_serves_cache_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let (_f, cache) = synthetic_cache(dir.path());
    let train = cache.split(Split::Train);
    assert_eq!(train.len(), 18);
    assert_eq!(train.class_counts(), vec![6, 6, 6]);
    let loader = Loader::new(&train, LoaderConfig::eval(4, Normalization::Centered127)).unwrap();
    assert_eq!(loader.len(), 5);
    let batches: Vec<_> = loader.epoch(0).map(Result::unwrap).collect();
    assert_eq!(batches.len(), 5);
    assert_eq!(
        batches[4].images.size(),
        vec![2, 3, 32, 32],
        "last partial batch kept"
    );
    let order: Vec<u32> = batches.iter().flat_map(|b| b.samples.clone()).collect();
    assert_eq!(order, train.ids(), "eval order is the subset order");
    let again: Vec<u32> = loader.epoch(5).flat_map(|b| b.unwrap().samples).collect();
    assert_eq!(again, order, "eval order does not depend on the epoch");
    // Pixel values: the centre 32×32 of the stored 40×40, normalised, CHW.
    let b = &batches[1];
    let x = to_vec(&b.images);
    let labels = to_i64(&b.labels);
    for (row, &id) in b.samples.iter().enumerate() {
        assert_eq!(labels[row], i64::from(cache.sample(id).class_id));
        let img = cache.image(id);
        for &(c, y, xx) in &[
            (0usize, 0usize, 0usize),
            (1, 5, 17),
            (2, 31, 31),
            (0, 16, 3),
        ] {
            let stored = img[((y + 4) * 40 + xx + 4) * 3 + c];
            let got = x[row * 3 * 1024 + c * 1024 + y * 32 + xx];
            assert_eq!(got, Normalization::Centered127.apply(stored, c));
        }
    }
}

#[test]
fn train_loader_covers_every_sample_once_per_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let (_f, cache) = synthetic_cache(dir.path());
    let train = cache.split(Split::Train);
    let mut config =
        LoaderConfig::train(4, Normalization::Centered127, AugmentParams::default(), 7);
    config.mode = Mode::Train {
        augment: Some(AugmentParams::default()),
        drop_last: false,
    };
    config.prefetch = Prefetch::Ahead(1);
    let keep_last = Loader::new(&train, config.clone()).unwrap();
    let all: HashSet<u32> = train.ids().iter().copied().collect();
    let mut orders = Vec::new();
    for epoch in 0..3 {
        let ids: Vec<u32> = keep_last
            .epoch(epoch)
            .flat_map(|b| b.unwrap().samples)
            .collect();
        assert_eq!(ids.len(), 18);
        assert_eq!(
            ids.iter().copied().collect::<HashSet<_>>(),
            all,
            "every sample exactly once"
        );
        orders.push(ids);
    }
    assert_ne!(orders[0], orders[1], "shuffled per epoch");
    assert_ne!(orders[0], train.ids(), "shuffled");
    let replay: Vec<u32> = keep_last
        .epoch(1)
        .flat_map(|b| b.unwrap().samples)
        .collect();
    assert_eq!(replay, orders[1], "same seed and epoch, same order");

    // drop_last: 18 / 4 → 4 full batches, 16 distinct samples.
    let dropping = Loader::new(
        &train,
        LoaderConfig::train(4, Normalization::Centered127, AugmentParams::default(), 7),
    )
    .unwrap();
    assert_eq!(dropping.len(), 4);
    let batches: Vec<_> = dropping.epoch(0).map(Result::unwrap).collect();
    assert!(batches.iter().all(|b| b.samples.len() == 4));
    let ids: Vec<u32> = batches.iter().flat_map(|b| b.samples.clone()).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 16);
    assert_eq!(ids, orders[0][..16], "drop_last only drops the tail");

    // Stopping early does not hang (the producer notices the dropped receiver).
    let mut it = keep_last.epoch(9);
    assert!(it.next().is_some());
    drop(it);
}

/// Every batch of an epoch, as (samples, labels, pixels).
fn epoch_batches(loader: &Loader, epoch: u64) -> Vec<(Vec<u32>, Vec<i64>, Vec<f32>)> {
    loader
        .epoch(epoch)
        .map(|b| {
            let b = b.unwrap();
            (b.samples, to_i64(&b.labels), to_vec(&b.images))
        })
        .collect()
}

#[test]
fn on_demand_and_ahead_serve_the_same_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (_f, cache) = synthetic_cache(dir.path());
    let train = cache.split(Split::Train);
    let mut config =
        LoaderConfig::train(4, Normalization::Centered127, AugmentParams::default(), 7);
    for drop_last in [true, false] {
        config.mode = Mode::Train {
            augment: Some(AugmentParams::default()),
            drop_last,
        };
        config.prefetch = Prefetch::Ahead(2);
        let ahead = Loader::new(&train, config.clone()).unwrap();
        config.prefetch = Prefetch::OnDemand;
        let on_demand = Loader::new(&train, config.clone()).unwrap();
        for epoch in 0..2 {
            let (a, b) = (
                epoch_batches(&ahead, epoch),
                epoch_batches(&on_demand, epoch),
            );
            // 18 training images in batches of 4: 4 full ones, and the partial fifth unless dropped.
            assert_eq!(b.len(), if drop_last { 4 } else { 5 });
            assert_eq!(
                b.last().map(|x| x.0.len()),
                Some(if drop_last { 4 } else { 2 })
            );
            assert_eq!(
                a, b,
                "epoch {epoch}, drop_last {drop_last}: the same samples, labels and pixels"
            );
        }
    }
    // Eval mode, and an epoch left early: the rest is simply never built.
    let valid = cache.split(Split::Valid);
    let mut eval = LoaderConfig::eval(3, Normalization::Centered127);
    let ahead = epoch_batches(&Loader::new(&valid, eval.clone()).unwrap(), 0);
    eval.prefetch = Prefetch::OnDemand;
    let loader = Loader::new(&valid, eval).unwrap();
    assert_eq!(epoch_batches(&loader, 0), ahead);
    let mut epoch = loader.epoch(0);
    assert!(epoch.next().is_some());
    drop(epoch);
    assert_eq!(Prefetch::for_device(tch::Device::Cpu), Prefetch::OnDemand);
    assert!(matches!(Prefetch::for_device(tch::Device::Cuda(0)), Prefetch::Ahead(n) if n >= 1));
}

#[test]
fn augmentation_is_deterministic_per_seed_and_varies_by_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let (_f, cache) = synthetic_cache(dir.path());
    let train = cache.split(Split::Train);
    let ids: Vec<u32> = train.ids()[..6].to_vec();
    let mut one = LoaderConfig::train(6, Normalization::Imagenet, AugmentParams::default(), 3);
    one.threads = 1;
    let mut two = one.clone();
    two.threads = 2;
    let a = Loader::new(&train, one).unwrap();
    let b = Loader::new(&train, two).unwrap();
    let x0 = to_vec(&a.batch(0, &ids).unwrap().images);
    assert_eq!(
        x0,
        to_vec(&a.batch(0, &ids).unwrap().images),
        "same seed, epoch → same tensor"
    );
    assert_eq!(
        x0,
        to_vec(&b.batch(0, &ids).unwrap().images),
        "thread count does not matter"
    );
    let x1 = to_vec(&a.batch(1, &ids).unwrap().images);
    assert_ne!(x0, x1, "another epoch → another augmentation");
    // A sample's augmentation does not depend on its batch neighbours.
    let solo = to_vec(&a.batch(0, &ids[2..3]).unwrap().images);
    assert_eq!(solo, x0[2 * 3 * 1024..3 * 3 * 1024]);
    // Another seed differs.
    let c = Loader::new(
        &train,
        LoaderConfig::train(6, Normalization::Imagenet, AugmentParams::default(), 4),
    )
    .unwrap();
    assert_ne!(x0, to_vec(&c.batch(0, &ids).unwrap().images));
    // Output side can differ from the cache size when augmenting.
    let mut big = LoaderConfig::train(2, Normalization::Imagenet, AugmentParams::default(), 3);
    big.size = Some(48);
    let l = Loader::new(&train, big).unwrap();
    assert_eq!(
        l.batch(0, &ids[..2]).unwrap().images.size(),
        vec![2, 3, 48, 48]
    );
    // ... but not without (the eval view is the centre `size` crop).
    let mut bad = LoaderConfig::eval(2, Normalization::Imagenet);
    bad.size = Some(48);
    assert!(Loader::new(&train, bad).is_err());
    let zero = LoaderConfig::eval(0, Normalization::Imagenet);
    assert!(
        Loader::new(&train, zero)
            .unwrap_err()
            .to_string()
            .contains("batch_size")
    );
}

#[test]
fn augmented_batches_keep_their_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (_f, cache) = synthetic_cache(dir.path());
    let train = cache.split(Split::Train);
    // Strong geometry and colour: the class colour (dominant channel) must still match the label.
    let strong = AugmentParams {
        crop_scale: [0.1, 1.0],
        hflip: 0.5,
        rotation: 30.0,
        brightness: 0.4,
        contrast: 0.4,
        saturation: 0.4,
        ..AugmentParams::default()
    };
    let loader = Loader::new(
        &train,
        LoaderConfig::train(5, Normalization::Centered127, strong, 11),
    )
    .unwrap();
    let mut seen = 0;
    for epoch in 0..4 {
        for batch in loader.epoch(epoch) {
            let batch = batch.unwrap();
            let x = to_vec(&batch.images);
            let labels = to_i64(&batch.labels);
            for (row, &id) in batch.samples.iter().enumerate() {
                assert_eq!(labels[row], i64::from(cache.sample(id).class_id));
                let means: Vec<f32> = (0..3)
                    .map(|c| {
                        let plane = &x[row * 3072 + c * 1024..row * 3072 + (c + 1) * 1024];
                        plane.iter().sum::<f32>() / 1024.0
                    })
                    .collect();
                let dominant = (0..3)
                    .max_by(|&a, &b| means[a].total_cmp(&means[b]))
                    .unwrap();
                assert_eq!(
                    dominant as i64, labels[row],
                    "sample {id}: channel means {means:?}"
                );
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 4 * 15);
    // Sanity of the fixture: colours differ by class.
    assert_ne!(class_colour(0), class_colour(1));
}

/// Resident kB of this process's mappings of files in `dir` (from /proc/self/smaps).
#[cfg(target_os = "linux")]
fn resident_kb_of_maps_in(dir: &Path) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let dir = dir.canonicalize().unwrap();
    let mut total = 0;
    let mut ours = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            ours = line
                .split_whitespace()
                .nth(5)
                .is_some_and(|p| Path::new(p).starts_with(&dir));
        } else if ours && first == "Rss:" {
            total += line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap();
        }
    }
    total
}

/// A pass of the loader leaves no shard pages mapped behind it (at full size the cache is 17.7 GB: every page a
/// pass touched would count in the stage's resident set), and the pixels read after a release are the same.
#[cfg(target_os = "linux")]
#[test]
fn the_loader_releases_the_shard_pages_it_read() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::synthetic(dir.path());
    f.write_index();
    let out = dir.path().join("cache");
    // 256 px stored: 192 kB an image, 48 pages.
    preprocess(&f.index_dir, &out, &params(224, 32), quiet()).unwrap();
    let cache = Cache::open(&out).unwrap();
    let all = cache.all();
    let before: Vec<Vec<u8>> = all
        .ids()
        .iter()
        .map(|&id| cache.image(id).to_vec())
        .collect();
    let touched = resident_kb_of_maps_in(&out);
    let images_kb = (all.len() * 256 * 256 * 3 / 1024) as u64;
    assert!(
        touched >= images_kb * 9 / 10,
        "reading every image maps them: {touched} kB of {images_kb} kB"
    );
    let loader = Loader::new(&all, LoaderConfig::eval(4, Normalization::Centered127)).unwrap();
    assert_eq!(loader.epoch(0).map(Result::unwrap).count(), loader.len());
    let left = resident_kb_of_maps_in(&out);
    // At most the header page and the pages shared by neighbouring images' edges stay.
    assert!(
        left <= 4 * (all.len() as u64 + 8),
        "{left} kB of shard pages still mapped after the pass ({touched} kB before)"
    );
    for (i, &id) in all.ids().iter().enumerate() {
        assert_eq!(cache.image(id), &before[i][..], "pixels after release");
    }
}

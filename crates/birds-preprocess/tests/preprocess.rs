//! Integration tests: build caches from generated images (and a few real sample photos), open them, load batches.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use birds_core::Split;
use birds_core::schema::preprocess::PREPROCESSED;
use birds_core::stage::{Stage, StageContext, StageSpec};
use birds_preprocess::manifest::{FAILURES_FILE, Failure, MANIFEST_FILE};
use birds_preprocess::resize::{decode_rgb, prepare};
use birds_preprocess::{
    AugmentParams, Cache, PreprocessParams, PreprocessStage, ResizeMode, RunOptions, preprocess,
};
use common::{Fixture, params, quiet, synthetic_cache};
use polars::prelude::*;

/// An independent decode + resize with the `image` crate (centre square, then Triangle = bilinear).
fn image_crate_reference(path: &Path, side: u32) -> Vec<u8> {
    let img = decode_rgb(path).unwrap();
    let s = img.width().min(img.height());
    let crop = image::imageops::crop_imm(&img, (img.width() - s) / 2, (img.height() - s) / 2, s, s)
        .to_image();
    image::imageops::resize(&crop, side, side, image::imageops::FilterType::Triangle).into_raw()
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn cache_round_trip_equals_direct_decode_and_resize() {
    let dir = tempfile::tempdir().unwrap();
    let (f, cache) = synthetic_cache(dir.path());
    let p = params(32, 8);
    assert_eq!(cache.len(), f.rows.len());
    assert_eq!(cache.stored_side(), 40);
    assert_eq!(cache.size(), 32);
    assert_eq!(cache.classes(), ["CLASS 0", "CLASS 1", "CLASS 2"]);
    assert!(
        cache.manifest().shards.len() >= 4,
        "shard_images 5 → several shards"
    );
    let mut resizer = fast_image_resize::Resizer::new();
    for (id, row) in f.rows.iter().enumerate() {
        let s = cache.sample(id as u32);
        assert_eq!(
            (s.path.as_str(), s.class_id),
            (row.path.as_str(), row.class_id)
        );
        let file = f.root.join(&row.path);
        let direct = prepare(&mut resizer, &file, &p).unwrap();
        assert!(
            cache.image(id as u32) == direct.pixels.as_slice(),
            "{}",
            row.path
        );
        // The SIMD resize agrees with an independent implementation of the same crop and filter.
        let reference = image_crate_reference(&file, 40);
        let d = mean_abs_diff(cache.image(id as u32), &reference);
        // The image crate crops on whole pixels; birds crops the exact centre (a half-pixel offset when the
        // sides differ by an odd number), so only whole-pixel cases must agree tightly.
        let whole = (s.source_width.abs_diff(s.source_height)) % 2 == 0;
        let tolerance = if whole { 0.5 } else { 4.0 };
        assert!(
            d < tolerance,
            "{}: mean |diff| {d} vs image crate",
            row.path
        );
    }
    // The table has the schema's columns in order and one row per cached image.
    let df = ParquetReader::new(
        std::fs::File::open(dir.path().join("cache").join(PREPROCESSED.file)).unwrap(),
    )
    .finish()
    .unwrap();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, PREPROCESSED.names());
    assert_eq!(df.height(), cache.len());
}

#[test]
fn real_photos_round_trip_and_match_the_image_crate() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::real(dir.path(), "valid", 3, 2);
    f.write_index();
    let p = PreprocessParams {
        margin: 32,
        ..PreprocessParams::default()
    };
    let out = dir.path().join("cache");
    let summary = preprocess(&f.index_dir, &out, &p, quiet()).unwrap();
    assert_eq!((summary.images, summary.failures), (6, 0));
    let cache = Cache::open(&out).unwrap();
    let mut resizer = fast_image_resize::Resizer::new();
    for (id, row) in f.rows.iter().enumerate() {
        let file = f.root.join(&row.path);
        let direct = prepare(&mut resizer, &file, &p).unwrap();
        assert!(cache.image(id as u32) == direct.pixels.as_slice());
        let d = mean_abs_diff(cache.image(id as u32), &image_crate_reference(&file, 256));
        assert!(d < 0.5, "{}: mean |diff| {d}", row.path);
        assert_eq!(
            (
                cache.sample(id as u32).source_width,
                cache.sample(id as u32).source_height
            ),
            (227, 227)
        );
    }
    // Python-compatible shard: the safetensors crate reads it, images tensor [n, 256, 256, 3] U8.
    let shard = std::fs::read(out.join(&cache.manifest().shards[0].file)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&shard).unwrap();
    assert_eq!(st.tensor("images").unwrap().shape(), &[6, 256, 256, 3]);
}

#[test]
fn ingest_failures_and_undecodable_files_are_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fixture::synthetic(dir.path());
    let good = f.rows.len();
    f.add_file(
        "train",
        1,
        "broken.jpg",
        b"\xff\xd8\xff\xe0 not really a jpeg",
        true,
    );
    f.add_file("train", 2, "ingest-said-no.jpg", b"whatever", false);
    // An ok row whose file vanished after ingest.
    f.rows.push(common::Row {
        path: "train/CLASS 0/gone.png".into(),
        split: "train",
        label: "CLASS 0".into(),
        class_id: 0,
        ok: true,
        error: None,
    });
    f.write_index();
    let out = dir.path().join("cache");
    let summary = preprocess(&f.index_dir, &out, &params(32, 0), quiet()).unwrap();
    assert_eq!(
        (summary.images, summary.failures, summary.skipped_ingest),
        (good, 2, 1)
    );
    let failures: Vec<Failure> =
        serde_json::from_slice(&std::fs::read(out.join(FAILURES_FILE)).unwrap()).unwrap();
    let listed: Vec<(&str, &str)> = failures
        .iter()
        .map(|x| (x.path.as_str(), x.source.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("train/CLASS 2/ingest-said-no.jpg", "ingest"),
            ("train/CLASS 1/broken.jpg", "preprocess"),
            ("train/CLASS 0/gone.png", "preprocess"),
        ]
    );
    assert!(failures.iter().all(|x| !x.error.is_empty()));
    let cache = Cache::open(&out).unwrap();
    assert_eq!(cache.len(), good);
    assert!(
        cache
            .samples()
            .iter()
            .all(|s| !s.path.contains("broken") && !s.path.contains("gone"))
    );
}

#[test]
fn nothing_decodable_is_an_error_naming_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fixture::new(dir.path());
    f.add_file("train", 0, "a.jpg", b"junk", true);
    let index = f.write_index();
    let e = preprocess(
        &f.index_dir,
        &dir.path().join("cache"),
        &params(32, 0),
        quiet(),
    )
    .unwrap_err();
    assert!(e.to_string().contains(&index.display().to_string()), "{e}");
    // A missing index names the file too.
    let e = preprocess(
        &dir.path().join("nope"),
        &dir.path().join("c2"),
        &params(32, 0),
        quiet(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    // And a folder that is not a cache says so.
    let e = Cache::open(dir.path()).unwrap_err();
    assert!(e.to_string().contains(MANIFEST_FILE), "{e}");
}

#[test]
fn output_bytes_are_deterministic_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::synthetic(dir.path());
    f.write_index();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    preprocess(
        &f.index_dir,
        &a,
        &params(32, 8),
        RunOptions {
            progress: false,
            threads: 1,
        },
    )
    .unwrap();
    preprocess(
        &f.index_dir,
        &b,
        &params(32, 8),
        RunOptions {
            progress: false,
            threads: 2,
        },
    )
    .unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert!(names.len() >= 7, "{names:?}");
    for name in &names {
        assert!(
            std::fs::read(a.join(name)).unwrap() == std::fs::read(b.join(name)).unwrap(),
            "{name} differs"
        );
    }
    // Rebuilding with bigger shards into the same folder removes the old, now unlisted shards.
    let big = PreprocessParams {
        shard_images: 1000,
        ..params(32, 8)
    };
    preprocess(&f.index_dir, &a, &big, quiet()).unwrap();
    let shards = std::fs::read_dir(&a)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("shard-")
        })
        .count();
    assert_eq!(shards, 1);
    assert_eq!(Cache::open(&a).unwrap().len(), f.rows.len());
}

#[test]
fn splits_and_subsets() {
    let dir = tempfile::tempdir().unwrap();
    let (f, cache) = synthetic_cache(dir.path());
    let counts: BTreeMap<Split, usize> = Split::ALL
        .iter()
        .map(|&s| (s, cache.split(s).len()))
        .collect();
    assert_eq!(
        counts[&Split::Train] + counts[&Split::Valid] + counts[&Split::Test],
        f.rows.len()
    );
    assert_eq!((counts[&Split::Valid], counts[&Split::Test]), (6, 2));
    let only_class_1 = cache.split(Split::Train).filter(|s| s.class_id == 1);
    assert_eq!(only_class_1.labels(), vec![1; 6]);
    assert!(birds_preprocess::Subset::from_ids(&cache, vec![0, 999]).is_err());
}

#[test]
fn stage_runs_from_a_context_and_checks_params() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::synthetic(dir.path());
    f.write_index();
    let stage = PreprocessStage;
    assert_eq!(stage.name(), "preprocess");
    assert_eq!(stage.inputs(), ["index"]);
    let e = stage
        .check_params(&serde_json::json!({"size": 32, "mdoe": "stretch"}))
        .unwrap_err();
    assert!(e.contains("mdoe"), "{e}");
    assert!(
        stage
            .check_params(&serde_json::json!({"margin": 5000}))
            .unwrap_err()
            .contains("margin")
    );
    let params = serde_json::json!({"size": 24, "mode": "stretch", "shard_images": 4});
    stage.check_params(&params).unwrap();
    let inputs: BTreeMap<String, std::path::PathBuf> =
        [("index".to_string(), f.index_dir.clone())].into();
    let out = dir.path().join("stage-out");
    std::fs::create_dir_all(&out).unwrap();
    let ctx = StageContext {
        name: "prep",
        params: &params,
        inputs: &inputs,
        out_dir: &out,
        root: dir.path(),
    };
    stage.run(&ctx).unwrap();
    let cache = Cache::open(&out).unwrap();
    assert_eq!(
        (cache.size(), cache.manifest().params.mode),
        (24, ResizeMode::Stretch)
    );
    let empty = BTreeMap::new();
    let ctx = StageContext {
        inputs: &empty,
        ..ctx
    };
    assert!(stage.run(&ctx).unwrap_err().to_string().contains("index"));
}

#[test]
fn preview_grid_shows_sixteen_different_augmentations() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::synthetic(dir.path());
    let img = f.root.join(&f.rows[0].path);
    let p = params(32, 8);
    let grid =
        birds_preprocess::preview::augmentation_grid(&img, &p, &AugmentParams::default(), 0, 16)
            .unwrap();
    let gap = birds_preprocess::preview::GAP;
    assert_eq!(grid.dimensions(), (4 * 32 + 5 * gap, 4 * 32 + 5 * gap));
    let tile = |i: u32| {
        image::imageops::crop_imm(
            &grid,
            gap + (i % 4) * (32 + gap),
            gap + (i / 4) * (32 + gap),
            32,
            32,
        )
        .to_image()
        .into_raw()
    };
    let tiles: HashSet<Vec<u8>> = (0..16).map(tile).collect();
    assert_eq!(tiles.len(), 16);
    let out = dir.path().join("grid.png");
    birds_preprocess::preview::write_png(&out, &grid).unwrap();
    assert_eq!(image::open(&out).unwrap().to_rgb8(), grid);
}

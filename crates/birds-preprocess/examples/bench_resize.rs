//! Decode+resize throughput on the birds sample, in one run on the same files: birds (fast_image_resize),
//! the same with `image::imageops::resize`, decode alone, the whole preprocess stage (shards written), and Pillow
//! with `multiprocessing.Pool` (scripts/bench/pillow_resize.py) when `--python` is given.
//!
//! ```text
//! cargo run --release -p birds-preprocess --example bench_resize -- [--python PY] [--size 224] [--repeat 3]
//! cargo run --release -p birds-preprocess --example bench_resize -- --stage-only [--copies 4]   # peak RSS
//! ```
//! `--stage-only` runs only the preprocess stage (index listing the sample `--copies` times) and prints the
//! process's peak RSS (VmHWM), to show memory does not grow with the number of images.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use birds_preprocess::resize::{decode_rgb, prepare};
use birds_preprocess::{PreprocessParams, RunOptions};
use polars::prelude::*;
use rayon::prelude::*;

struct Opts {
    sample: PathBuf,
    python: Option<PathBuf>,
    size: u32,
    repeat: usize,
    stage_only: bool,
    copies: usize,
}

fn opts() -> anyhow::Result<Opts> {
    let mut o = Opts {
        sample: birds_core::paths::workspace_root().join("../shared/data/birds-sample"),
        python: None,
        size: 224,
        repeat: 3,
        stage_only: false,
        copies: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().context("missing value");
        match a.as_str() {
            "--sample" => o.sample = val()?.into(),
            "--python" => o.python = Some(val()?.into()),
            "--size" => o.size = val()?.parse()?,
            "--repeat" => o.repeat = val()?.parse()?,
            "--copies" => o.copies = val()?.parse()?,
            "--stage-only" => o.stage_only = true,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(o)
}

fn list_images(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for split in ["train", "valid", "test"] {
        let Ok(classes) = std::fs::read_dir(root.join(split)) else {
            continue;
        };
        for class in classes.flatten() {
            for f in std::fs::read_dir(class.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

/// Best of `repeat` timed runs of `f`, in images/s.
fn best_rate(n: usize, repeat: usize, mut f: impl FnMut() -> usize) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..repeat {
        let t = Instant::now();
        let bytes = f();
        assert!(bytes > 0);
        best = best.min(t.elapsed().as_secs_f64());
    }
    n as f64 / best
}

/// An `images.parquet` over `files` (listed `copies` times), with the columns preprocess reads.
fn write_index(
    dir: &Path,
    root: &Path,
    files: &[PathBuf],
    copies: usize,
) -> anyhow::Result<PathBuf> {
    let mut paths = Vec::new();
    let mut labels = Vec::new();
    let mut splits = Vec::new();
    for _ in 0..copies {
        for f in files {
            let rel = f.strip_prefix(root)?.to_string_lossy().to_string();
            let mut parts = rel.split('/');
            splits.push(parts.next().unwrap_or("train").to_string());
            labels.push(parts.next().unwrap_or("?").to_string());
            paths.push(rel);
        }
    }
    let mut sorted = labels.clone();
    sorted.sort();
    sorted.dedup();
    let ids: Vec<u32> = labels
        .iter()
        .map(|l| sorted.binary_search(l).unwrap_or(0) as u32)
        .collect();
    let n = paths.len();
    let mut df = DataFrame::new(
        n,
        vec![
            Column::new("path".into(), paths),
            Column::new("root".into(), vec![root.to_string_lossy().to_string(); n]),
            Column::new("split".into(), splits),
            Column::new("label".into(), labels),
            Column::new("class_id".into(), ids),
            Column::new("status".into(), vec!["ok"; n]),
            Column::new("error".into(), vec![None::<String>; n]),
        ],
    )?;
    let path = dir.join("images.parquet");
    ParquetWriter::new(std::fs::File::create(&path)?).finish(&mut df)?;
    Ok(path)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() -> anyhow::Result<()> {
    let o = opts()?;
    let files = list_images(&o.sample);
    if files.is_empty() {
        bail!("no images under {}", o.sample.display());
    }
    let n = files.len();
    let threads = rayon::current_num_threads();
    let params = PreprocessParams {
        size: o.size,
        ..PreprocessParams::default()
    };
    let tmp = tempfile::tempdir()?;

    if o.stage_only {
        let index = write_index(tmp.path(), &o.sample, &files, o.copies)?;
        let before = peak_rss_mb();
        let t = Instant::now();
        let s = birds_preprocess::preprocess(
            &index,
            &tmp.path().join("cache"),
            &params,
            RunOptions::default(),
        )?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "preprocess stage: {} images ({} copies of the sample) in {secs:.2} s = {:.0} images/s, {} shards of {} images; peak RSS {:.0} MB (before the stage: {before:.0} MB)",
            s.images,
            o.copies,
            s.images as f64 / secs,
            s.shards,
            params.shard_images,
            peak_rss_mb()
        );
        return Ok(());
    }

    // Warm the page cache so every contender reads from memory.
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::read(f).map(|b| b.len() as u64).unwrap_or(0))
        .sum();
    println!(
        "{n} files ({:.1} MB) from {}, {threads} rayon threads, target {}x{} bilinear, shorter-side+center-crop, best of {}",
        bytes as f64 / 1e6,
        o.sample.display(),
        o.size,
        o.size,
        o.repeat
    );

    let decode = best_rate(n, o.repeat, || {
        files
            .par_iter()
            .map(|f| decode_rgb(f).map(|i| i.len()).unwrap_or(0))
            .sum()
    });
    let fir = best_rate(n, o.repeat, || {
        files
            .par_iter()
            .map_init(fast_image_resize::Resizer::new, |r, f| {
                prepare(r, f, &params).map(|p| p.pixels.len()).unwrap_or(0)
            })
            .sum()
    });
    let side = o.size;
    let image_crate = best_rate(n, o.repeat, || {
        files
            .par_iter()
            .map(|f| {
                let img = decode_rgb(f).unwrap();
                let s = img.width().min(img.height());
                let crop = image::imageops::crop_imm(
                    &img,
                    (img.width() - s) / 2,
                    (img.height() - s) / 2,
                    s,
                    s,
                )
                .to_image();
                image::imageops::resize(&crop, side, side, image::imageops::FilterType::Triangle)
                    .len()
            })
            .sum()
    });
    // Resize alone (decoded images in memory), to compare the two resizers without the decoder.
    let decoded: Vec<image::RgbImage> = files.par_iter().map(|f| decode_rgb(f).unwrap()).collect();
    let fir_only = best_rate(n, o.repeat, || {
        decoded
            .par_iter()
            .map_init(fast_image_resize::Resizer::new, |r, img| {
                birds_preprocess::resize::resize_square(r, img, side, params.mode, params.filter)
                    .map(|v| v.len())
                    .unwrap_or(0)
            })
            .sum()
    });
    let image_only = best_rate(n, o.repeat, || {
        decoded
            .par_iter()
            .map(|img| {
                let s = img.width().min(img.height());
                let crop = image::imageops::crop_imm(
                    img,
                    (img.width() - s) / 2,
                    (img.height() - s) / 2,
                    s,
                    s,
                )
                .to_image();
                image::imageops::resize(&crop, side, side, image::imageops::FilterType::Triangle)
                    .len()
            })
            .sum()
    });
    drop(decoded);
    let index = write_index(tmp.path(), &o.sample, &files, 1)?;
    let stage = best_rate(n, o.repeat, || {
        birds_preprocess::preprocess(
            &index,
            &tmp.path().join("cache"),
            &params,
            RunOptions::default(),
        )
        .map(|s| s.images)
        .unwrap_or(0)
    });

    println!("| what | images/s |");
    println!("|---|---|");
    println!("| decode only (image/zune-jpeg) | {decode:.0} |");
    println!("| decode + resize, fast_image_resize (birds) | {fir:.0} |");
    println!("| decode + resize, image::imageops::resize | {image_crate:.0} |");
    println!("| resize only, fast_image_resize | {fir_only:.0} |");
    println!("| resize only, image::imageops::resize | {image_only:.0} |");
    println!("| preprocess stage (decode + resize + shards + parquet) | {stage:.0} |");

    if let Some(py) = &o.python {
        let list = tmp.path().join("files.txt");
        let text: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
        std::fs::write(&list, text)?;
        let script = birds_core::paths::workspace_root().join("scripts/bench/pillow_resize.py");
        let out = std::process::Command::new(py)
            .arg(&script)
            .arg(&list)
            .args(["--size", &o.size.to_string()])
            .args(["--workers", &threads.to_string()])
            .args(["--repeat", &o.repeat.to_string()])
            .output()
            .with_context(|| format!("running {} {}", py.display(), script.display()))?;
        if !out.status.success() {
            bail!(
                "pillow peer failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let pil = v["images_per_s"].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {} Image.resize BILINEAR, multiprocessing.Pool({threads}) | {pil:.0} |",
            v["tool"].as_str().unwrap_or("Pillow")
        );
        println!();
        println!(
            "birds decode+resize / Pillow = {:.2}x; preprocess stage / Pillow = {:.2}x",
            fir / pil,
            stage / pil
        );
    }
    Ok(())
}

//! Hostile-input cases: image files that are empty, not images, truncated, or that declare a gigantic size (a
//! decompression bomb). Ingest must index each as an error with its reason, without decoding the bomb, and the
//! preprocess cache must hold only the good images.

use polars::prelude::*;

use crate::util::{Project, TestResult};

fn jpeg(shade: u8) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let img = image::RgbImage::from_fn(24, 24, |x, y| {
        image::Rgb([shade, (x * 10) as u8, (y * 10) as u8])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Jpeg,
    )?;
    Ok(bytes)
}

#[test]
fn bad_images_are_indexed_as_errors_with_their_reason_and_left_out_of_the_cache() -> TestResult {
    let p = Project::new()?;
    for split in ["train", "valid", "test"] {
        for (label, shade) in [("ALPHA", 30u8), ("BETA", 220u8)] {
            p.write(&format!("data/{split}/{label}/good.jpg"), jpeg(shade)?)?;
        }
    }
    let good = jpeg(90)?;
    p.write("data/train/ALPHA/empty.jpg", b"")?;
    p.write("data/train/ALPHA/text.jpg", b"this is not an image\n")?;
    p.write("data/train/ALPHA/truncated.jpg", &good[..good.len() / 2])?;
    p.write(
        "data/train/BETA/bomb.png",
        birds_core::image::png_declaring(800_000, 800_000),
    )?;

    let out = p.ok(&["ingest", "--data", "data", "--out", "idx"])?;
    let df = ParquetReader::new(std::fs::File::open(p.path("idx/images.parquet"))?).finish()?;
    let paths = df.column("path")?.str()?.clone();
    let status = df.column("status")?.str()?.clone();
    let error = df.column("error")?.str()?.clone();
    let mut seen = 0;
    for i in 0..df.height() {
        let path = paths.get(i).unwrap_or_default();
        let bad = ["empty.jpg", "text.jpg", "truncated.jpg", "bomb.png"]
            .iter()
            .any(|b| path.ends_with(b));
        let st = status.get(i).unwrap_or_default();
        if bad {
            seen += 1;
            assert_eq!(
                st,
                "error",
                "{path} must be an error\n{}",
                p.explain(&[], &out, "index")
            );
            assert!(
                !error.get(i).unwrap_or_default().is_empty(),
                "{path}: no reason given"
            );
        } else {
            assert_eq!(st, "ok", "{path}");
        }
    }
    assert_eq!(seen, 4, "every bad file is indexed");
    let bomb_row = (0..df.height())
        .find(|&i| paths.get(i).unwrap_or_default().ends_with("bomb.png"))
        .and_then(|i| error.get(i))
        .unwrap_or_default()
        .to_string();
    assert!(
        bomb_row.contains("800000"),
        "the bomb is refused by its declared size: {bomb_row}"
    );

    p.ok(&[
        "preprocess",
        "--index",
        "idx",
        "--out",
        "cache",
        "--size",
        "16",
    ])?;
    let cache =
        ParquetReader::new(std::fs::File::open(p.path("cache/preprocessed.parquet"))?).finish()?;
    assert_eq!(cache.height(), 6, "only the six good images are cached");
    Ok(())
}

/// `birds imagenet` and preprocess see a camera JPEG stored on its side with EXIF orientation 6 as it is displayed:
/// exactly as a PNG of the same pixels turned upright. Without the orientation a 48×24 landscape would be cropped
/// (preprocess) or stretched (imagenet) as a landscape, not as the 24×48 portrait it is.
#[test]
fn imagenet_and_preprocess_apply_the_exif_orientation_alike() -> TestResult {
    let stored = image::RgbImage::from_fn(48, 24, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 10) as u8, if x < 16 { 200 } else { 40 }])
    });
    let mut plain = Vec::new();
    image::DynamicImage::ImageRgb8(stored).write_to(
        &mut std::io::Cursor::new(&mut plain),
        image::ImageFormat::Jpeg,
    )?;
    // The upright picture: the JPEG's own decoded pixels, turned a quarter clockwise, stored losslessly.
    let decoded = image::load_from_memory(&plain)?.to_rgb8();
    let mut upright = Vec::new();
    image::DynamicImage::ImageRgb8(image::imageops::rotate90(&decoded)).write_to(
        &mut std::io::Cursor::new(&mut upright),
        image::ImageFormat::Png,
    )?;
    let p = Project::new()?;
    for split in ["train", "valid", "test"] {
        for (label, shade) in [("ALPHA", 30u8), ("BETA", 220u8)] {
            p.write(&format!("data/{split}/{label}/good.jpg"), jpeg(shade)?)?;
        }
    }
    p.write(
        "data/train/ALPHA/rotated.jpg",
        birds_core::jpeg::with_exif_orientation(&plain, 6),
    )?;
    p.write("data/train/ALPHA/upright.png", &upright)?;
    p.write("data/train/ALPHA/sideways.jpg", &plain)?;

    // imagenet: the same top-5 ids and probabilities for the rotated JPEG and the upright PNG; the same JPEG without
    // its orientation tag is seen differently (so the comparison can tell).
    let out = p.ok(&[
        "imagenet",
        "--json",
        "data/train/ALPHA/rotated.jpg",
        "data/train/ALPHA/upright.png",
        "data/train/ALPHA/sideways.jpg",
    ])?;
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 3, "{lines:?}");
    let top5 = |i: usize| lines[i].get("top5").cloned().unwrap_or_default();
    assert!(top5(0).is_array());
    assert_eq!(top5(0), top5(1), "imagenet: rotated JPEG vs upright PNG");
    assert_ne!(
        top5(0),
        top5(2),
        "imagenet: the orientation tag changes what it sees"
    );

    // preprocess: the cached pixels of the rotated JPEG are those of the upright PNG, and its source size is the
    // displayed one.
    p.ok(&["ingest", "--data", "data", "--out", "idx"])?;
    p.ok(&[
        "preprocess",
        "--index",
        "idx",
        "--out",
        "cache",
        "--size",
        "16",
    ])?;
    let cache = birds_preprocess::Cache::open(&p.path("cache"))?;
    let id = |name: &str| -> Result<u32, String> {
        cache
            .samples()
            .iter()
            .position(|s| s.path.ends_with(name))
            .map(|i| i as u32)
            .ok_or_else(|| format!("{name} is not in the cache"))
    };
    let (rotated, upright, sideways) =
        (id("rotated.jpg")?, id("upright.png")?, id("sideways.jpg")?);
    let size = |i: u32| {
        let s = cache.sample(i);
        (s.source_width, s.source_height)
    };
    assert_eq!(size(rotated), (24, 48));
    assert_eq!(size(sideways), (48, 24));
    assert_eq!(
        cache.image(rotated),
        cache.image(upright),
        "preprocess: rotated JPEG vs upright PNG"
    );
    assert_ne!(cache.image(rotated), cache.image(sideways));
    Ok(())
}

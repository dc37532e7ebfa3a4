//! A PNG grid of one image under several augmentations, to eyeball [`AugmentParams`].

use std::io::Cursor;
use std::path::Path;

use image::RgbImage;

use crate::augment::{Transform, planes_to_rgb};
use crate::params::{AugmentParams, PreprocessParams};
use crate::resize::prepare;
use crate::{PreprocessError, Result};

/// Gap between tiles, in pixels (white).
pub const GAP: u32 = 4;

/// Tiles `count` augmentations of `image` (decoded and resized as `preprocess` says, like the cache) into a grid
/// of `ceil(sqrt(count))` columns. Tile `i` is the augmentation of epoch `i` of sample 0 under `seed`, exactly
/// what the loader would draw.
pub fn augmentation_grid(
    image: &Path,
    preprocess: &PreprocessParams,
    augment: &AugmentParams,
    seed: u64,
    count: usize,
) -> Result<RgbImage> {
    preprocess.validate()?;
    augment.validate()?;
    if count == 0 || count > 1024 {
        return Err(PreprocessError::param(
            "count",
            format!("{count} out of range 1..=1024"),
        ));
    }
    let mut resizer = fast_image_resize::Resizer::new();
    let stored = prepare(&mut resizer, image, preprocess)?;
    let (side, out) = (preprocess.stored_side(), preprocess.size);
    let cols = (count as f64).sqrt().ceil() as u32;
    let rows = (count as u32).div_ceil(cols);
    let mut grid = RgbImage::from_pixel(
        cols * out + (cols + 1) * GAP,
        rows * out + (rows + 1) * GAP,
        image::Rgb([255, 255, 255]),
    );
    let mut planes = vec![0f32; 3 * (out as usize) * (out as usize)];
    for i in 0..count as u32 {
        let t = Transform::sample(augment, side, seed, u64::from(i), 0);
        t.render(&stored.pixels, side, out, &mut planes);
        let tile = planes_to_rgb(&planes, out);
        let (x0, y0) = (
            GAP + (i % cols) * (out + GAP),
            GAP + (i / cols) * (out + GAP),
        );
        image::imageops::replace(&mut grid, &tile, i64::from(x0), i64::from(y0));
    }
    Ok(grid)
}

/// Writes `img` as PNG to `path` atomically.
pub fn write_png(path: &Path, img: &RgbImage) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| PreprocessError::Image {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    birds_core::atomic::write_bytes(path, &bytes)?;
    Ok(())
}

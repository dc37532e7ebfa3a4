//! Decode an image file and resize it to the stored square, once.
//!
//! Decoding is `birds_core::image::decode_rgb` (the `image` crate, EXIF orientation applied, truncated JPEGs and
//! non-regular files refused); resizing uses
//! `fast_image_resize` (SIMD convolution with antialiasing, the same maths as Pillow's `Image.resize`), which
//! measured several times faster than `image::imageops::resize` with the same filter (see docs/preprocess.md).

use std::path::Path;

use fast_image_resize as fir;
use image::RgbImage;

use crate::params::{PreprocessParams, ResizeFilter, ResizeMode};
use crate::{PreprocessError, Result};

/// Decodes an image file to 8-bit RGB with its EXIF orientation applied, under the one strict rule every command
/// shares ([`birds_core::image::decode_rgb`]: regular files only, truncated JPEGs refused); errors name the file.
pub fn decode_rgb(path: &Path) -> Result<RgbImage> {
    birds_core::image::decode_rgb(path).map_err(|e| match e {
        birds_core::CoreError::Image { path, reason } => PreprocessError::Image { path, reason },
        other => PreprocessError::Image {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

/// The source rectangle `(left, top, width, height)` that `mode` maps onto the square.
pub fn source_box(width: u32, height: u32, mode: ResizeMode) -> (f64, f64, f64, f64) {
    let (w, h) = (f64::from(width), f64::from(height));
    match mode {
        ResizeMode::Stretch => (0.0, 0.0, w, h),
        ResizeMode::ShorterSideCenterCrop => {
            let side = w.min(h);
            ((w - side) / 2.0, (h - side) / 2.0, side, side)
        }
    }
}

fn fir_filter(filter: ResizeFilter) -> fir::FilterType {
    match filter {
        ResizeFilter::Bilinear => fir::FilterType::Bilinear,
        ResizeFilter::Bicubic => fir::FilterType::CatmullRom,
        ResizeFilter::Lanczos3 => fir::FilterType::Lanczos3,
    }
}

/// Resizes `img` to a `side`×`side` RGB square (HWC bytes, row-major) with `mode` and `filter`.
///
/// `resizer` holds scratch buffers; keep one per thread (e.g. rayon's `map_init`).
pub fn resize_square(
    resizer: &mut fir::Resizer,
    img: &RgbImage,
    side: u32,
    mode: ResizeMode,
    filter: ResizeFilter,
) -> Result<Vec<u8>> {
    let fail = |e: String| PreprocessError::Image {
        path: "<in memory>".into(),
        reason: e,
    };
    // Typed (RGB8-only) views: the untyped `ImageRef`/`Image` pair dispatches at run time over every pixel type
    // fast_image_resize supports, which compiles its SIMD kernels for all of them (most of this crate's
    // release build time); the cache only ever holds RGB8.
    let src = fir::images::TypedImageRef::<fir::pixels::U8x3>::from_buffer(
        img.width(),
        img.height(),
        img.as_raw(),
    )
    .map_err(|e| fail(e.to_string()))?;
    let mut out = vec![0u8; side as usize * side as usize * 3];
    let mut dst = fir::images::TypedImage::<fir::pixels::U8x3>::from_buffer(side, side, &mut out)
        .map_err(|e| fail(e.to_string()))?;
    let (left, top, w, h) = source_box(img.width(), img.height(), mode);
    let options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir_filter(filter)))
        .crop(left, top, w, h);
    resizer
        .resize_typed(&src, &mut dst, &options)
        .map_err(|e| fail(e.to_string()))?;
    Ok(out)
}

/// One image decoded and resized to the stored square.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// `stored_side`² × 3 bytes, HWC.
    pub pixels: Vec<u8>,
    /// Width of the decoded original.
    pub source_width: u32,
    /// Height of the decoded original.
    pub source_height: u32,
}

/// Decodes `path` and resizes it as `params` say (to `size + margin`).
pub fn prepare(
    resizer: &mut fir::Resizer,
    path: &Path,
    params: &PreprocessParams,
) -> Result<Prepared> {
    let img = decode_rgb(path)?;
    if img.width() == 0 || img.height() == 0 {
        return Err(PreprocessError::Image {
            path: path.to_path_buf(),
            reason: "image has no pixels".into(),
        });
    }
    let pixels = resize_square(
        resizer,
        &img,
        params.stored_side(),
        params.mode,
        params.filter,
    )
    .map_err(|e| match e {
        PreprocessError::Image { reason, .. } => PreprocessError::Image {
            path: path.to_path_buf(),
            reason,
        },
        other => other,
    })?;
    Ok(Prepared {
        pixels,
        source_width: img.width(),
        source_height: img.height(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn center_crop_box_is_the_centred_square() {
        assert_eq!(
            source_box(300, 200, ResizeMode::ShorterSideCenterCrop),
            (50.0, 0.0, 200.0, 200.0)
        );
        assert_eq!(
            source_box(100, 160, ResizeMode::ShorterSideCenterCrop),
            (0.0, 30.0, 100.0, 100.0)
        );
        assert_eq!(
            source_box(300, 200, ResizeMode::Stretch),
            (0.0, 0.0, 300.0, 200.0)
        );
    }

    #[test]
    fn center_crop_keeps_the_middle_and_stretch_keeps_the_sides() {
        // 60×20: left third red, middle green, right third blue.
        let img = RgbImage::from_fn(60, 20, |x, _| match x / 20 {
            0 => image::Rgb([255, 0, 0]),
            1 => image::Rgb([0, 255, 0]),
            _ => image::Rgb([0, 0, 255]),
        });
        let mut r = fir::Resizer::new();
        let crop = resize_square(
            &mut r,
            &img,
            10,
            ResizeMode::ShorterSideCenterCrop,
            ResizeFilter::Bilinear,
        )
        .unwrap_or_default();
        assert_eq!(crop.len(), 300);
        // Interior columns are the pure middle third; the edge columns' filter support reaches slightly past
        // the crop box into the neighbours (as Pillow's `resize(box=…)` does), so they are mostly green.
        for (i, p) in crop.chunks(3).enumerate() {
            let x = i % 10;
            if (1..9).contains(&x) {
                assert_eq!(p, [0, 255, 0], "column {x}");
            } else {
                assert!(p[1] >= 200 && p[0].max(p[2]) <= 55, "column {x}: {p:?}");
            }
        }
        let stretch = resize_square(
            &mut r,
            &img,
            12,
            ResizeMode::Stretch,
            ResizeFilter::Bilinear,
        )
        .unwrap_or_default();
        assert_eq!(&stretch[..3], &[255, 0, 0]);
        assert_eq!(&stretch[11 * 3..12 * 3], &[0, 0, 255]);
    }

    #[test]
    fn decode_errors_name_the_file() {
        let dir = tempfile::tempdir().ok();
        let Some(dir) = dir else { return };
        let fake = dir.path().join("fake.jpg");
        let _ = std::fs::write(&fake, b"not an image");
        let e = decode_rgb(&fake)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("fake.jpg"), "{e}");
        let e = decode_rgb(&dir.path().join("missing.png"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("missing.png"), "{e}");
    }
}

//! Where explained images (and their ground-truth masks) come from, as the model sees them.
//!
//! - A preprocess cache: the eval view evaluation uses (the centre `size` crop of the stored square), so maps are
//!   computed on exactly the pixels the evaluate stage scored.
//! - Image files (from an ingest index or given by path): decoded and resized like the cache would (the cache's
//!   params when a cache is given, else preprocess's defaults at the model's input size).
//! - Masks (`birds synth` datasets): `<masks root>/masks/<path without extension>.png` for an image at `<path>`
//!   relative to its data root, resized with the image's geometry and thresholded at 50 %.

use std::path::{Path, PathBuf};

use birds_core::Split;
use birds_preprocess::params::{PreprocessParams, ResizeFilter};
use birds_preprocess::{Cache, resize};
use image::RgbImage;

use crate::{ExplainError, Result};

/// Where an image's pixels are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pixels {
    /// A sample of the preprocess cache.
    Cache(u32),
    /// An image file.
    File(PathBuf),
}

/// An image that may be explained.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Path relative to the data root (`test/MALLARD DUCK/1.jpg`), or the path as given.
    pub image: String,
    /// Split, when known.
    pub split: Option<Split>,
    /// Normalised true label, when known.
    pub label: Option<String>,
    /// Index of the true label in the model's classes (None when unknown or not a class of the model).
    pub true_class: Option<i64>,
    /// Where the pixels are.
    pub pixels: Pixels,
}

/// Normalises a label as ingest does: whitespace collapsed, upper case.
pub fn normalise_label(label: &str) -> String {
    label
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// Index of `label` in `classes`.
pub fn class_index(classes: &[String], label: &str) -> Option<i64> {
    classes.iter().position(|c| c == label).map(|i| i as i64)
}

/// How image files are framed for `meta`'s model: as its evaluation framed them (the checkpoint's `eval_view`:
/// the cache's resize mode, filter and stored side), else the shorter side resized to the input size.
pub fn file_geometry(meta: &birds_models::CheckpointMeta) -> Result<PreprocessParams> {
    let view = meta
        .eval_view
        .as_ref()
        .map(|v| (v.resize.as_str(), v.filter.as_str(), v.stored_side));
    PreprocessParams::for_eval_view(meta.input_size, view)
        .map_err(|e| ExplainError::Params(format!("the checkpoint's eval_view: {e}")))
}

/// Reads images at the model's input size, and masks when a masks root is given.
#[derive(Debug)]
pub struct ImageSource {
    cache: Option<Cache>,
    /// Geometry for files: the cache's params (size, mode, margin, filter), or defaults at the model's size.
    geometry: PreprocessParams,
    masks_root: Option<PathBuf>,
}

impl ImageSource {
    /// A source over an optional cache; files are resized like `geometry` says (its `size` must be the model's).
    pub fn new(
        cache: Option<Cache>,
        geometry: PreprocessParams,
        masks_root: Option<PathBuf>,
    ) -> Self {
        Self {
            cache,
            geometry,
            masks_root,
        }
    }

    /// The input side in pixels.
    pub fn size(&self) -> u32 {
        self.geometry.size
    }

    /// The cache, if any.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    /// Whether masks are looked up.
    pub fn has_masks(&self) -> bool {
        self.masks_root.is_some()
    }

    /// The image as the model sees it (`size × size`).
    pub fn load(&self, c: &Candidate) -> Result<RgbImage> {
        match &c.pixels {
            Pixels::Cache(sample) => {
                let cache = self.cache.as_ref().ok_or_else(|| {
                    ExplainError::Invalid(format!("{}: a cache sample without a cache", c.image))
                })?;
                if *sample as usize >= cache.len() {
                    return Err(ExplainError::Invalid(format!(
                        "{}: sample {sample} is outside the cache's {} images",
                        c.image,
                        cache.len()
                    )));
                }
                let side = cache.stored_side();
                let full = RgbImage::from_raw(side, side, cache.image(*sample).to_vec())
                    .ok_or_else(|| {
                        ExplainError::Invalid(format!(
                            "{}: cached image has the wrong byte count",
                            c.image
                        ))
                    })?;
                Ok(center_crop(&full, cache.size()))
            }
            Pixels::File(path) => self.load_file(path),
        }
    }

    /// An image file framed as the model sees it: decoded, resized like the geometry says (stored side, mode,
    /// filter), the centre `size` square (what `birds predict` feeds the model).
    pub fn load_file(&self, path: &Path) -> Result<RgbImage> {
        let img = resize::decode_rgb(path)?;
        self.fit(&img, path, self.geometry.filter)
    }

    /// Resizes like the cache (stored side, mode, filter), then crops the centre `size` square.
    fn fit(&self, img: &RgbImage, path: &Path, filter: ResizeFilter) -> Result<RgbImage> {
        if img.width() == 0 || img.height() == 0 {
            return Err(ExplainError::Image {
                path: path.to_path_buf(),
                reason: "image has no pixels".into(),
            });
        }
        let side = self.geometry.stored_side();
        let mut resizer = fast_image_resize::Resizer::new();
        let bytes = resize::resize_square(&mut resizer, img, side, self.geometry.mode, filter)
            .map_err(|e| ExplainError::Image {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let full = RgbImage::from_raw(side, side, bytes).ok_or_else(|| ExplainError::Image {
            path: path.to_path_buf(),
            reason: "resize returned the wrong byte count".into(),
        })?;
        Ok(center_crop(&full, self.geometry.size))
    }

    /// The mask file of a candidate (whether or not it exists), when a masks root is set.
    pub fn mask_path(&self, c: &Candidate) -> Option<PathBuf> {
        let root = self.masks_root.as_ref()?;
        let rel = birds_core::paths::mask_path_for(&c.image.replace('\\', "/"));
        Some(root.join(rel))
    }

    /// The candidate's mask at the model's input size (row-major, true = bird); `None` without a masks root or
    /// when the mask file does not exist. An unreadable mask file is an error naming it.
    pub fn mask(&self, c: &Candidate) -> Result<Option<Vec<bool>>> {
        let Some(path) = self.mask_path(c) else {
            return Ok(None);
        };
        if !path.is_file() {
            return Ok(None);
        }
        let grey = image::open(&path)
            .map_err(|e| ExplainError::Image {
                path: path.clone(),
                reason: e.to_string(),
            })?
            .to_luma8();
        let rgb = image::DynamicImage::ImageLuma8(grey).to_rgb8();
        let fitted = self.fit(&rgb, &path, ResizeFilter::Bilinear)?;
        Ok(Some(fitted.pixels().map(|p| p[0] >= 128).collect()))
    }
}

/// The centre `size × size` crop of a square image (the image itself when it is that size already).
pub fn center_crop(img: &RgbImage, size: u32) -> RgbImage {
    if img.width() == size && img.height() == size {
        return img.clone();
    }
    let (w, h) = (img.width(), img.height());
    let (x, y) = ((w.saturating_sub(size)) / 2, (h.saturating_sub(size)) / 2);
    image::imageops::crop_imm(img, x, y, size.min(w), size.min(h)).to_image()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_normalise_like_ingest() {
        assert_eq!(normalise_label("  mallard   duck "), "MALLARD DUCK");
        let classes = vec!["A".to_string(), "MALLARD DUCK".to_string()];
        assert_eq!(class_index(&classes, "MALLARD DUCK"), Some(1));
        assert_eq!(class_index(&classes, "B"), None);
    }

    #[test]
    fn files_and_masks_share_the_geometry() -> Result<()> {
        let dir =
            tempfile::tempdir().map_err(|e| birds_core::CoreError::io("tempdir", "/tmp", e))?;
        // A 60×40 image whose left 30 columns are white, and a mask marking the same columns.
        let img = RgbImage::from_fn(60, 40, |x, _| {
            if x < 30 {
                image::Rgb([255, 255, 255])
            } else {
                image::Rgb([0, 0, 0])
            }
        });
        let mask =
            image::GrayImage::from_fn(60, 40, |x, _| image::Luma([if x < 30 { 255 } else { 0 }]));
        std::fs::create_dir_all(dir.path().join("test/A"))
            .and_then(|_| std::fs::create_dir_all(dir.path().join("masks/test/A")))
            .map_err(|e| birds_core::CoreError::io("mkdir", dir.path(), e))?;
        let save = |p: &Path, r: image::ImageResult<()>| {
            r.map_err(|e| ExplainError::Image {
                path: p.to_path_buf(),
                reason: e.to_string(),
            })
        };
        let img_path = dir.path().join("test/A/1.png");
        save(&img_path, img.save(&img_path))?;
        let mask_path = dir.path().join("masks/test/A/1.png");
        save(&mask_path, mask.save(&mask_path))?;
        let geometry = PreprocessParams {
            size: 16,
            ..PreprocessParams::default()
        };
        let source = ImageSource::new(None, geometry, Some(dir.path().to_path_buf()));
        let c = Candidate {
            image: "test/A/1.png".into(),
            split: Some(Split::Test),
            label: Some("A".into()),
            true_class: Some(0),
            pixels: Pixels::File(img_path),
        };
        let seen = source.load(&c)?;
        let m = source.mask(&c)?.unwrap_or_default();
        assert_eq!((seen.width(), seen.height(), m.len()), (16, 16, 256));
        // Shorter side + centre crop keeps columns 10..50 of the original: the white half becomes columns 0..8.
        for (i, p) in seen.pixels().enumerate() {
            let x = i % 16;
            if x < 7 {
                assert!(p[0] > 200 && m[i], "column {x}");
            }
            if x > 8 {
                assert!(p[0] < 50 && !m[i], "column {x}");
            }
        }
        let missing = Candidate {
            image: "test/A/2.png".into(),
            ..c
        };
        assert_eq!(source.mask(&missing)?, None);
        Ok(())
    }
}

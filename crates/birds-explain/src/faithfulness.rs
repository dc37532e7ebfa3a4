//! The deletion test: does blurring the pixels a map ranks highest lower the model's confidence more than blurring
//! as many random pixels?
//!
//! For an image, its explained class `c` and the map `m` (at the image size), with `f` = [`DeletionConfig::fraction`]:
//!
//! - `p₀` = softmax probability of `c` on the image;
//! - `p_cam` = the same after the top-`f` pixels of `m` are replaced by a Gaussian-blurred copy of the image;
//! - `p_random` = after `f` of the pixels chosen uniformly at random are replaced;
//! - `p_blobs` = after the top-`f` pixels of a random *smooth* map are replaced (uniform noise at the map's own
//!   resolution, upsampled like a CAM): a control with the same spatial granularity as a CAM, which scattered
//!   random pixels lack (blurring isolated pixels barely changes an image).
//!
//! Drops are `p₀ − p_*`; a faithful map gives `drop_cam > drop_random` and `drop_cam > drop_blobs`.

use birds_core::Normalization;
use birds_models::ImageClassifier;
use birds_models::input::images_to_tensor;
use image::RgbImage;
use tch::{Device, Kind, Tensor};

use crate::metrics::{SplitMix64, random_pixels, top_pixels};
use crate::render::Heatmap;
use crate::{ExplainError, Result, cam};

/// Settings of the deletion test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeletionConfig {
    /// Fraction of pixels deleted (0.2 = the top 20 %).
    pub fraction: f64,
    /// Gaussian blur sigma of the replacement, as a fraction of the image side (0.05 → 11 px at 224).
    pub blur_sigma: f64,
    /// Seed of the random baselines.
    pub seed: u64,
}

impl Default for DeletionConfig {
    fn default() -> Self {
        Self {
            fraction: 0.2,
            blur_sigma: 0.05,
            seed: 0,
        }
    }
}

/// One image's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deletion {
    /// Probability of the class on the untouched image.
    pub p_original: f64,
    /// Drop after deleting the map's top pixels.
    pub drop_cam: f64,
    /// Drop after deleting random pixels.
    pub drop_random: f64,
    /// Drop after deleting the top pixels of a random smooth map.
    pub drop_blobs: f64,
}

/// `image` with the pixels where `mask` is true taken from `blurred`.
pub fn composite(image: &RgbImage, blurred: &RgbImage, mask: &[bool]) -> RgbImage {
    let mut out = image.clone();
    for ((px, b), &m) in out.pixels_mut().zip(blurred.pixels()).zip(mask) {
        if m {
            *px = *b;
        }
    }
    out
}

/// A random smooth map: uniform noise at `grid_h × grid_w`, upsampled bilinearly to `width × height`.
pub fn random_blobs(
    grid_h: i64,
    grid_w: i64,
    width: u32,
    height: u32,
    seed: u64,
) -> Result<Vec<f32>> {
    let mut rng = SplitMix64::new(seed ^ 0xB10B_5EED);
    let noise: Vec<f32> = (0..grid_h * grid_w).map(|_| rng.unit()).collect();
    let t = Tensor::from_slice(&noise).view([1, grid_h, grid_w]);
    let up = cam::upsample(&t, height.into(), width.into()).flatten(0, -1);
    Ok(Vec::<f32>::try_from(up)?)
}

/// A model with what it takes to feed it images.
#[derive(Debug, Clone, Copy)]
pub struct Classifier<'a> {
    /// The network (evaluation mode is used).
    pub model: &'a dyn ImageClassifier,
    /// Pixel normalisation the model was trained with.
    pub normalization: Normalization,
    /// Device the model's variables live on.
    pub device: Device,
}

impl Classifier<'_> {
    /// Softmax probabilities `[N, K]` (on the CPU) of same-sized images.
    pub fn probabilities(&self, images: &[RgbImage]) -> Result<Tensor> {
        let xs = images_to_tensor(images, self.normalization).to_device(self.device);
        let logits = tch::no_grad(|| self.model.logits(&xs, false));
        Ok(logits.softmax(-1, Kind::Float).to_device(Device::Cpu))
    }

    /// Probability of `classes[i]` for image `i`.
    pub fn class_probabilities(&self, images: &[RgbImage], classes: &[i64]) -> Result<Vec<f64>> {
        let probs = self.probabilities(images)?;
        let index = Tensor::from_slice(classes).view([-1, 1]);
        let p = probs
            .gather(1, &index, false)
            .flatten(0, -1)
            .to_kind(Kind::Double);
        Ok(Vec::<f64>::try_from(p)?)
    }
}

/// One image of a deletion test, with one or more maps (e.g. one per method) that share the baselines.
#[derive(Debug, Clone)]
pub struct DeletionItem<'a> {
    /// The image at the model's input size.
    pub image: &'a RgbImage,
    /// Its maps at the same size (any scale).
    pub maps: Vec<&'a Heatmap>,
    /// The explained class.
    pub class: i64,
    /// Seeds the random selections (e.g. a hash of the image's path), so results do not depend on batch
    /// composition.
    pub seed: u64,
}

/// Runs the deletion test for a batch of items: one [`Deletion`] per map of each item, in order. `grid` is the
/// maps' layer resolution `(h, w)` (for the smooth random control). The untouched image and the two random
/// controls are scored once per item, whatever the number of maps.
pub fn deletion(
    classifier: &Classifier<'_>,
    items: &[DeletionItem<'_>],
    grid: (i64, i64),
    config: &DeletionConfig,
) -> Result<Vec<Vec<Deletion>>> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    if !(config.fraction > 0.0 && config.fraction < 1.0) {
        return Err(ExplainError::Invalid(format!(
            "deletion fraction {} must be in (0, 1)",
            config.fraction
        )));
    }
    let mut variants: Vec<RgbImage> = Vec::new();
    let mut classes: Vec<i64> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let img = item.image;
        for map in &item.maps {
            if (img.width(), img.height()) != (map.width, map.height) {
                return Err(ExplainError::Invalid(format!(
                    "deletion: image {i} is {}×{}, its map {}×{}",
                    img.width(),
                    img.height(),
                    map.width,
                    map.height
                )));
            }
        }
        let sigma = (config.blur_sigma * f64::from(img.width().max(img.height()))) as f32;
        let blurred = image::imageops::blur(img, sigma.max(0.5));
        let seed = item.seed ^ config.seed;
        let pixels = (img.width() * img.height()) as usize;
        let blobs = random_blobs(grid.0, grid.1, img.width(), img.height(), seed)?;
        variants.push(img.clone());
        variants.push(composite(
            img,
            &blurred,
            &random_pixels(pixels, config.fraction, seed),
        ));
        variants.push(composite(
            img,
            &blurred,
            &top_pixels(&blobs, config.fraction),
        ));
        for map in &item.maps {
            variants.push(composite(
                img,
                &blurred,
                &top_pixels(&map.values, config.fraction),
            ));
        }
        classes.extend(std::iter::repeat_n(item.class, 3 + item.maps.len()));
    }
    let mut p = Vec::with_capacity(variants.len());
    for (imgs, cls) in variants.chunks(64).zip(classes.chunks(64)) {
        p.extend(classifier.class_probabilities(imgs, cls)?);
    }
    let mut out = Vec::with_capacity(items.len());
    let mut at = 0;
    for item in items {
        let (p0, pr, pb) = (p[at], p[at + 1], p[at + 2]);
        out.push(
            (0..item.maps.len())
                .map(|k| Deletion {
                    p_original: p0,
                    drop_cam: p0 - p[at + 3 + k],
                    drop_random: p0 - pr,
                    drop_blobs: p0 - pb,
                })
                .collect(),
        );
        at += 3 + item.maps.len();
    }
    Ok(out)
}

pub use birds_artifacts::explain::DeletionSummary;

/// Pools [`Deletion`] results.
pub fn summarise(items: &[Deletion]) -> DeletionSummary {
    if items.is_empty() {
        return DeletionSummary::default();
    }
    let n = items.len() as f64;
    let mean = |f: fn(&Deletion) -> f64| items.iter().map(f).sum::<f64>() / n;
    DeletionSummary {
        images: items.len(),
        p_original: mean(|d| d.p_original),
        drop_cam: mean(|d| d.drop_cam),
        drop_random: mean(|d| d.drop_random),
        drop_blobs: mean(|d| d.drop_blobs),
        cam_beats_random: items.iter().filter(|d| d.drop_cam > d.drop_random).count() as f64 / n,
        cam_beats_blobs: items.iter().filter(|d| d.drop_cam > d.drop_blobs).count() as f64 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A "model" whose logit 1 is 20 × the mean of ReLU(red) over the top-left quadrant (bright pixels count, dark
    /// ones do not) and logit 0 its negation: blurring a bright top-left square away lowers class 1's probability.
    #[derive(Debug)]
    struct Quadrant;
    impl ImageClassifier for Quadrant {
        fn feature_map(&self, xs: &Tensor, _train: bool) -> Tensor {
            let h = xs.size()[2] / 2;
            let w = xs.size()[3] / 2;
            xs.narrow(1, 0, 1).narrow(2, 0, h).narrow(3, 0, w).relu() * 20.0
        }
        fn classify_embedding(&self, e: &Tensor, _train: bool) -> Tensor {
            Tensor::cat(&[-e, e.shallow_clone()], 1)
        }
        fn num_classes(&self) -> i64 {
            2
        }
        fn feature_channels(&self) -> i64 {
            1
        }
    }

    #[test]
    fn deleting_the_evidence_beats_random_deletion() -> Result<()> {
        // A bright square in the top-left quadrant on black.
        let img = RgbImage::from_fn(32, 32, |x, y| {
            if (4..12).contains(&x) && (4..12).contains(&y) {
                Rgb([255, 255, 255])
            } else {
                Rgb([0, 0, 0])
            }
        });
        let map = Heatmap {
            width: 32,
            height: 32,
            values: img.pixels().map(|p| f32::from(p[0]) / 255.0).collect(),
        };
        let classifier = Classifier {
            model: &Quadrant,
            normalization: Normalization::Centered127,
            device: Device::Cpu,
        };
        let item = DeletionItem {
            image: &img,
            maps: vec![&map, &map],
            class: 1,
            seed: 3,
        };
        let config = DeletionConfig {
            blur_sigma: 0.25,
            ..DeletionConfig::default()
        };
        let out = deletion(&classifier, std::slice::from_ref(&item), (4, 4), &config)?;
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), 2);
        assert_eq!(out[0][0], out[0][1]);
        let d = out[0][0];
        assert!(d.p_original > 0.9, "{d:?}");
        assert!(d.drop_cam > d.drop_random + 0.05, "{d:?}");
        assert!(d.drop_cam > d.drop_blobs, "{d:?}");
        let s = summarise(&out[0]);
        assert_eq!(s.cam_beats_random, 1.0);
        let small = Heatmap {
            width: 8,
            height: 8,
            values: vec![0.0; 64],
        };
        let bad = DeletionItem {
            maps: vec![&small],
            ..item
        };
        assert!(deletion(&classifier, &[bad], (4, 4), &DeletionConfig::default()).is_err());
        Ok(())
    }
}

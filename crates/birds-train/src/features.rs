//! The feature cache of `feature-extract` mode: pooled backbone embeddings of every image, computed once and
//! reused by every run with the same backbone and data.
//!
//! File: `<cache dir>/<key>.safetensors` with `train.features` `[N, C]` f32, `train.labels` `[N]` i64,
//! `train_flip.features` (when flips are on: the same images mirrored), `valid.*` and `test.*`; beside it
//! `<key>.json` says what went into the key. The key is the BLAKE3 of: the weights file's BLAKE3 (its content, not
//! its path: a relative and an absolute name of the same file share an entry), the data's
//! content id (the preprocess manifest's hash), the input size, the normalisation, the architecture, flips, and the
//! precision (CPU f32 or CUDA autocast). Anything else changing means a different file; nothing is ever updated in
//! place.

use std::path::{Path, PathBuf};
use std::time::Instant;

use birds_core::Split;
use birds_models::Network;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::data::DataSource;
use crate::{Result, TrainError};

/// Embeddings and labels of one split.
#[derive(Debug)]
pub struct SplitFeatures {
    /// `[N, C]` f32.
    pub features: Tensor,
    /// `[N]` i64.
    pub labels: Tensor,
}

/// Embeddings of every split.
#[derive(Debug)]
pub struct Features {
    /// Training images (followed by their mirrored copies when flips are on).
    pub train: SplitFeatures,
    /// Validation images.
    pub valid: SplitFeatures,
    /// Test images (may be empty).
    pub test: SplitFeatures,
}

/// What went into a cache key (written beside the cache file).
#[derive(Debug, Clone, Serialize)]
pub struct FeatureKey {
    /// BLAKE3 of the weights file.
    pub weights_blake3: String,
    /// The weights file as given (for people reading the sidecar; not part of the key).
    pub weights: String,
    /// The data's content id.
    pub data: String,
    /// Input side.
    pub size: u32,
    /// Pixel normalisation.
    pub normalization: String,
    /// Architecture.
    pub architecture: String,
    /// Whether mirrored training images are included.
    pub flip: bool,
    /// `cpu-f32` or `cuda-autocast` / `cuda-f32`.
    pub precision: String,
    /// Cache layout version.
    pub version: u32,
}

impl FeatureKey {
    /// The hex key (file stem): every field but `weights` (the path as written, kept in the sidecar for people),
    /// so that the same weights named relatively, absolutely or from a copy share one entry, and other weights
    /// at the same path do not.
    pub fn key(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.remove("weights");
        }
        blake3::hash(value.to_string().as_bytes()).to_hex()[..32].to_string()
    }
}

/// Where the features came from.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureCacheInfo {
    /// The cache file.
    pub path: PathBuf,
    /// Whether it existed (no backbone pass was needed).
    pub hit: bool,
    /// Seconds spent computing (0 on a hit) or loading.
    pub seconds: f64,
}

/// BLAKE3 of a file's content, hex (streamed; the 18.8 MB Lite0 weights take about 10 ms).
pub fn hash_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| TrainError::file("reading", path, e))?;
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(&mut file)
        .map_err(|e| TrainError::file("reading", path, e))?;
    Ok(hasher.finalize().to_hex().to_string())
}

fn try_load(path: &Path, data: &dyn DataSource, flip: bool) -> Option<Features> {
    let tensors = Tensor::read_safetensors(path).ok()?;
    let mut map: std::collections::HashMap<String, Tensor> = tensors.into_iter().collect();
    let mut take = |split: &str, n: usize| -> Option<SplitFeatures> {
        let features = map.remove(&format!("{split}.features"))?;
        let labels = map.remove(&format!("{split}.labels"))?;
        (features.size().first() == Some(&(n as i64)) && labels.size() == [n as i64])
            .then_some(SplitFeatures { features, labels })
    };
    let mut train = take("train", data.len(Split::Train))?;
    let valid = take("valid", data.len(Split::Valid))?;
    let test = take("test", data.len(Split::Test))?;
    if flip {
        let mirrored = map.remove("train_flip.features")?;
        if mirrored.size() != train.features.size() {
            return None;
        }
        train = SplitFeatures {
            features: Tensor::cat(&[&train.features, &mirrored], 0),
            labels: Tensor::cat(&[&train.labels, &train.labels], 0),
        };
    }
    Some(Features { train, valid, test })
}

/// Embeds every image of `split` on `device`, and its mirror image when `flip`, into one CPU tensor allocated once:
/// rows `0..n` the images, rows `n..2n` their mirror images (at full size the train features are 433 MB a copy, so
/// no batch list is concatenated and nothing is copied twice). Labels: the `n` images' labels.
#[allow(clippy::too_many_arguments)]
pub fn embed_split(
    net: &dyn Network,
    data: &dyn DataSource,
    split: Split,
    batch_size: usize,
    device: Device,
    amp: bool,
    flip: bool,
    bar: &indicatif::ProgressBar,
) -> Result<SplitFeatures> {
    let n = data.len(split) as i64;
    let channels = net.feature_channels();
    let features = Tensor::zeros(
        [if flip { 2 * n } else { n }, channels],
        (Kind::Float, Device::Cpu),
    );
    let labels = Tensor::zeros([n], (Kind::Int64, Device::Cpu));
    let mut row = 0i64;
    for batch in data.eval_batches(split, batch_size)? {
        let (x, y) = batch?;
        let b = x.size()[0];
        if row + b > n {
            return Err(TrainError::Data(format!(
                "the {split} loader yielded more than its {n} images"
            )));
        }
        let x = crate::trainer::to_device(&x, device);
        let embed = |x: &Tensor| {
            tch::no_grad(|| {
                tch::autocast(amp && device.is_cuda(), || net.embed(x, false))
                    .to_kind(Kind::Float)
                    .to_device(Device::Cpu)
            })
        };
        features.narrow(0, row, b).copy_(&embed(&x));
        if flip {
            features.narrow(0, n + row, b).copy_(&embed(&x.flip([3])));
        }
        labels.narrow(0, row, b).copy_(&y);
        row += b;
        bar.inc(b as u64);
    }
    if row != n {
        return Err(TrainError::Data(format!(
            "the {split} loader yielded {row} of its {n} images"
        )));
    }
    Ok(SplitFeatures { features, labels })
}

/// Loads the features for `key` from `dir`, or computes and stores them.
#[allow(clippy::too_many_arguments)]
pub fn load_or_compute(
    net: &dyn Network,
    data: &dyn DataSource,
    key: &FeatureKey,
    dir: &Path,
    batch_size: usize,
    device: Device,
    amp: bool,
    progress: bool,
) -> Result<(Features, FeatureCacheInfo)> {
    let start = Instant::now();
    let name = key.key();
    let path = dir.join(format!("{name}.safetensors"));
    if path.is_file() {
        if let Some(features) = try_load(&path, data, key.flip) {
            tracing::info!(path = %path.display(), "feature cache hit");
            return Ok((
                features,
                FeatureCacheInfo {
                    path,
                    hit: true,
                    seconds: start.elapsed().as_secs_f64(),
                },
            ));
        }
        tracing::warn!(path = %path.display(), "feature cache file unusable (wrong sizes or truncated); recomputing");
    }
    let total = [Split::Train, Split::Valid, Split::Test]
        .iter()
        .map(|&s| data.len(s) as u64)
        .sum::<u64>()
        + if key.flip {
            data.len(Split::Train) as u64
        } else {
            0
        };
    let bar = crate::trainer::progress_bar(total, "features", progress);
    let train = embed_split(
        net,
        data,
        Split::Train,
        batch_size,
        device,
        amp,
        key.flip,
        &bar,
    )?;
    let valid = embed_split(
        net,
        data,
        Split::Valid,
        batch_size,
        device,
        amp,
        false,
        &bar,
    )?;
    let test = embed_split(net, data, Split::Test, batch_size, device, amp, false, &bar)?;
    bar.finish_and_clear();
    let n = data.len(Split::Train) as i64;
    let mut named: Vec<(String, Tensor)> = vec![
        ("train.features".into(), train.features.narrow(0, 0, n)),
        ("train.labels".into(), train.labels.shallow_clone()),
        ("valid.features".into(), valid.features.shallow_clone()),
        ("valid.labels".into(), valid.labels.shallow_clone()),
        ("test.features".into(), test.features.shallow_clone()),
        ("test.labels".into(), test.labels.shallow_clone()),
    ];
    if key.flip {
        named.push(("train_flip.features".into(), train.features.narrow(0, n, n)));
    }
    birds_models::checkpoint::write_tensors(&named, &path)?;
    drop(named);
    let sidecar = serde_json::to_string_pretty(key).unwrap_or_default();
    birds_core::atomic::write_bytes(&dir.join(format!("{name}.json")), sidecar.as_bytes())?;
    let seconds = start.elapsed().as_secs_f64();
    tracing::info!(path = %path.display(), seconds, images = total, "features computed and cached");
    // The mirror images' rows follow the images' rows already; their labels are the same.
    let train = if key.flip {
        SplitFeatures {
            labels: Tensor::cat(&[&train.labels, &train.labels], 0),
            features: train.features,
        }
    } else {
        train
    };
    Ok((
        Features { train, valid, test },
        FeatureCacheInfo {
            path,
            hit: false,
            seconds,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(weights: &str, weights_blake3: &str) -> FeatureKey {
        FeatureKey {
            weights_blake3: weights_blake3.into(),
            weights: weights.into(),
            data: "data".into(),
            size: 32,
            normalization: "centered127".into(),
            architecture: "efficientnet-lite0".into(),
            flip: true,
            precision: "cpu-f32".into(),
            version: 1,
        }
    }

    /// The key is the weights' content: the same file named relatively or absolutely (or copied elsewhere) hits
    /// the same cache entry; other bytes at the same path do not.
    #[test]
    fn the_key_follows_the_weights_content_not_their_path() {
        let a = key("weights.safetensors", "aaaa");
        assert_eq!(a.key(), key("/abs/path/weights.safetensors", "aaaa").key());
        assert_ne!(a.key(), key("weights.safetensors", "bbbb").key());
    }
}

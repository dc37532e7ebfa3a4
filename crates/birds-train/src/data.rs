//! What training reads: a [`DataSource`] hands out batches of normalised images and labels per split.
//!
//! The production source is the preprocess cache ([`crate::cache_source::CacheSource`], over
//! `birds_loader::Loader`); tests and benchmarks use [`TensorData`], tensors held in memory.
//!
//! Contract (both implementations):
//! - `train_batches(batch, seed, epoch)`: augmented, shuffled by `(seed, epoch)`, the last partial batch dropped;
//!   the same arguments give the same batches.
//! - `eval_batches(split, batch)`: every sample once, fixed order, no augmentation, last partial batch kept.
//! - Images: `Tensor[N, 3, H, W]` f32, normalised as [`DataSource::normalization`] says, on the CPU. Labels:
//!   `Tensor[N]` i64 class ids indexing [`DataSource::classes`].

use birds_core::{Normalization, Split};
use tch::{Device, Kind, Tensor};

use crate::{Result, TrainError};

/// Augmentation params handed to the loader (the preprocess crate's type).
pub use birds_preprocess::AugmentParams;

/// One batch: images `[N, 3, H, W]` f32 and labels `[N]` i64, on the CPU.
pub type Batch = (Tensor, Tensor);
/// An epoch's batches.
pub type BatchIter<'a> = Box<dyn Iterator<Item = Result<Batch>> + 'a>;

/// A labelled image dataset with train / valid / test splits.
pub trait DataSource {
    /// Class labels; label `i` of a batch is `classes()[i]`.
    fn classes(&self) -> &[String];
    /// Square image side fed to the network.
    fn image_size(&self) -> u32;
    /// The pixel normalisation applied to the images.
    fn normalization(&self) -> Normalization;
    /// How evaluation framed the images (recorded in the checkpoint); `None` for in-memory tensors.
    fn eval_view(&self) -> Option<birds_models::EvalView> {
        None
    }
    /// A string that changes whenever the pixels, labels or split membership change (feature-cache key).
    fn content_id(&self) -> String;
    /// Samples in `split`.
    fn len(&self, split: Split) -> usize;
    /// Augmented training batches of epoch `epoch`, shuffled by `(seed, epoch)`, last partial batch dropped.
    fn train_batches(&self, batch_size: usize, seed: u64, epoch: u64) -> Result<BatchIter<'_>>;
    /// Every sample of `split` once, in a fixed order, without augmentation.
    fn eval_batches(&self, split: Split, batch_size: usize) -> Result<BatchIter<'_>>;
}

pub use birds_core::rng::SplitMix64;

/// A permutation of `0..n` determined by `(seed, epoch)` (Fisher–Yates).
pub fn permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = SplitMix64::from_words(&[seed, epoch, 0x5348_5546]);
    let mut idx: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut idx);
    idx
}

/// In-memory tensors per split; augmentation is a horizontal flip with probability ½ per `(seed, epoch, sample)`.
#[derive(Debug)]
pub struct TensorData {
    classes: Vec<String>,
    normalization: Normalization,
    splits: [(Tensor, Tensor); 3],
    id: String,
}

fn split_index(split: Split) -> usize {
    match split {
        Split::Train => 0,
        Split::Valid => 1,
        Split::Test => 2,
    }
}

impl TensorData {
    /// Builds from `(images [N,3,S,S] f32, labels [N] i64)` per split (train, valid, test; test may be empty).
    pub fn new(
        classes: Vec<String>,
        normalization: Normalization,
        train: (Tensor, Tensor),
        valid: (Tensor, Tensor),
        test: (Tensor, Tensor),
    ) -> Result<Self> {
        let size = train.0.size();
        if size.len() != 4 || size[1] != 3 || size[2] != size[3] {
            return Err(TrainError::Data(format!(
                "train images have shape {size:?}; expected [N, 3, S, S]"
            )));
        }
        let mut hasher = blake3::Hasher::new();
        for (images, labels) in [&train, &valid, &test] {
            if images.size()[0] != labels.size()[0] {
                return Err(TrainError::Data(format!(
                    "{} images but {} labels",
                    images.size()[0],
                    labels.size()[0]
                )));
            }
            for t in [images, labels] {
                let t = t.contiguous();
                let mut bytes = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
                t.f_copy_data_u8(&mut bytes, t.numel())?;
                hasher.update(&bytes);
            }
        }
        for c in &classes {
            hasher.update(c.as_bytes());
            hasher.update(b"\n");
        }
        Ok(Self {
            classes,
            normalization,
            splits: [train, valid, test],
            id: hasher.finalize().to_hex().to_string(),
        })
    }

    fn split(&self, split: Split) -> &(Tensor, Tensor) {
        &self.splits[split_index(split)]
    }
}

impl DataSource for TensorData {
    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn image_size(&self) -> u32 {
        self.splits[0].0.size()[3] as u32
    }

    fn normalization(&self) -> Normalization {
        self.normalization
    }

    fn content_id(&self) -> String {
        self.id.clone()
    }

    fn len(&self, split: Split) -> usize {
        self.split(split).1.size()[0] as usize
    }

    fn train_batches(&self, batch_size: usize, seed: u64, epoch: u64) -> Result<BatchIter<'_>> {
        let (images, labels) = self.split(Split::Train);
        let n = self.len(Split::Train);
        let order = permutation(n, seed, epoch);
        let batches = n / batch_size;
        Ok(Box::new((0..batches).map(move |b| {
            let idx: Vec<i64> = order[b * batch_size..(b + 1) * batch_size]
                .iter()
                .map(|&i| i as i64)
                .collect();
            let flips: Vec<i64> = idx
                .iter()
                .filter(|&&i| SplitMix64::from_words(&[seed, epoch, i as u64]).next_u64() & 1 == 1)
                .copied()
                .collect();
            let index = Tensor::from_slice(&idx);
            let mut x = images.index_select(0, &index);
            let y = labels.index_select(0, &index);
            if !flips.is_empty() {
                let mask: Vec<f32> = idx
                    .iter()
                    .map(|i| f32::from(u8::from(flips.contains(i))))
                    .collect();
                let mask = Tensor::from_slice(&mask).view([-1, 1, 1, 1]);
                x = &x * (1.0 - &mask) + x.flip([3]) * &mask;
            }
            Ok((x, y))
        })))
    }

    fn eval_batches(&self, split: Split, batch_size: usize) -> Result<BatchIter<'_>> {
        let (images, labels) = self.split(split);
        let n = self.len(split) as i64;
        let bs = batch_size as i64;
        Ok(Box::new((0..n).step_by(batch_size).map(move |start| {
            let len = bs.min(n - start);
            Ok((images.narrow(0, start, len), labels.narrow(0, start, len)))
        })))
    }
}

/// A tiny synthetic dataset for tests and smoke runs: `classes` classes (distinct up to 6), each a coloured band with
/// noise, images of
/// `size`² pixels, `per_class` samples per class in train and `eval_per_class` in valid and test.
pub fn synthetic(
    classes: usize,
    size: i64,
    per_class: usize,
    eval_per_class: usize,
    seed: i64,
) -> Result<TensorData> {
    tch::manual_seed(seed);
    let opts = (Kind::Float, Device::Cpu);
    let make = |n: usize| {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for c in 0..classes {
            for _ in 0..n {
                // Class c: a bright horizontal band (top or bottom half) in a class-specific channel, plus noise.
                // Mirroring keeps the class (training augmentation flips images).
                let img = Tensor::randn([3, size, size], opts) * 0.3;
                let half = size / 2;
                let (row, ch) = ((c % 2) as i64, ((c / 2) % 3) as i64);
                let _ = img
                    .narrow(0, ch, 1)
                    .narrow(1, row * half, half)
                    .g_add_(&Tensor::ones([1, half, size], opts));
                xs.push(img);
                ys.push(c as i64);
            }
        }
        (Tensor::stack(&xs, 0), Tensor::from_slice(&ys))
    };
    let train = make(per_class);
    let valid = make(eval_per_class);
    let test = make(eval_per_class);
    TensorData::new(
        (0..classes).map(|c| format!("CLASS {c}")).collect(),
        Normalization::Centered127,
        train,
        valid,
        test,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_deterministic_and_complete() {
        let a = permutation(50, 7, 1);
        assert_eq!(a, permutation(50, 7, 1));
        assert_ne!(a, permutation(50, 7, 2));
        assert_ne!(a, permutation(50, 8, 1));
        let mut s = a.clone();
        s.sort_unstable();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn tensor_data_batches_follow_the_contract() -> Result<()> {
        let data = synthetic(3, 8, 5, 2, 0)?;
        assert_eq!(data.len(Split::Train), 15);
        let train: Vec<Batch> = data.train_batches(4, 1, 0)?.collect::<Result<_>>()?;
        assert_eq!(train.len(), 3, "last partial batch dropped");
        let again: Vec<Batch> = data.train_batches(4, 1, 0)?.collect::<Result<_>>()?;
        for (a, b) in train.iter().zip(&again) {
            assert!(a.0.equal(&b.0) && a.1.equal(&b.1));
        }
        let eval: Vec<Batch> = data.eval_batches(Split::Valid, 4)?.collect::<Result<_>>()?;
        assert_eq!(
            eval.iter().map(|b| b.1.size()[0]).collect::<Vec<_>>(),
            vec![4, 2]
        );
        Ok(())
    }
}

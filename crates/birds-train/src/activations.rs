//! Fine-tuning the top of a network on the frozen bottom's activations (`fine_tune_on: activations`).
//!
//! With `unfreeze: N` the first `G - N` backbone groups run in evaluation mode with frozen weights, so their output
//! for a given input is fixed: it is computed once and the unfrozen groups train on it. Training views are the
//! loader's augmented epochs: view `v` is the frozen groups' output for the batches of the epoch that first uses
//! it, in that epoch's order; validation and test are computed once from the centre views. Everything stays in
//! memory (f32, bit-identical to what the image path computes for the same batches); the checkpoint is the whole
//! network, so evaluate, explain and export see nothing different.

use std::time::Instant;

use birds_core::Split;
use birds_models::Network;
use tch::{Device, Kind, Tensor};

use crate::data::{DataSource, permutation};
use crate::features::SplitFeatures;
use crate::{Result, TrainError};

/// Above this the cache is refused (it would be better streamed from images: `fine_tune_on: images`).
pub const MAX_BYTES: u64 = 12 << 30;

/// The frozen groups' output, per training view and evaluation split, filled as the run asks for it.
#[derive(Debug)]
pub struct Activations {
    /// Backbone groups that are frozen (their output is what is held).
    pub frozen_groups: usize,
    /// Training views; `None` until the epoch that first uses it.
    views: Vec<Option<SplitFeatures>>,
    valid: Option<SplitFeatures>,
    test: Option<SplitFeatures>,
    /// Seconds spent computing activations so far.
    pub seconds: f64,
}

/// Rows of the frozen groups' output, collected batch by batch into one preallocated CPU tensor.
fn collect(
    net: &dyn Network,
    batches: crate::data::BatchIter<'_>,
    rows: usize,
    frozen_groups: usize,
    device: Device,
    amp: bool,
    what: &str,
) -> Result<SplitFeatures> {
    let mut out: Option<Tensor> = None;
    let labels = Tensor::zeros([rows as i64], (Kind::Int64, Device::Cpu));
    let mut row = 0i64;
    for batch in batches {
        let (x, y) = batch?;
        let b = x.size()[0];
        if row + b > rows as i64 {
            return Err(TrainError::Data(format!(
                "the {what} loader yielded more than its {rows} images"
            )));
        }
        let x = crate::trainer::to_device(&x, device);
        let a = tch::no_grad(|| {
            tch::autocast(amp, || net.forward_groups(&x, 0..frozen_groups, false))
                .to_kind(Kind::Float)
                .to_device(Device::Cpu)
        });
        let t = out.get_or_insert_with(|| {
            let mut shape = a.size();
            shape[0] = rows as i64;
            Tensor::zeros(shape.as_slice(), (Kind::Float, Device::Cpu))
        });
        t.narrow(0, row, b).copy_(&a);
        labels.narrow(0, row, b).copy_(&y);
        row += b;
    }
    if row != rows as i64 {
        return Err(TrainError::Data(format!(
            "the {what} loader yielded {row} of its {rows} images"
        )));
    }
    let features = out.unwrap_or_else(|| Tensor::zeros([0], (Kind::Float, Device::Cpu)));
    Ok(SplitFeatures { features, labels })
}

/// A second handle on the same tensors (no copy).
fn shallow(f: &SplitFeatures) -> SplitFeatures {
    SplitFeatures {
        features: f.features.shallow_clone(),
        labels: f.labels.shallow_clone(),
    }
}

impl Activations {
    /// An empty cache for `views` training views of the output of the first `frozen_groups` groups. Refuses when
    /// the whole of it would exceed [`MAX_BYTES`], measuring one image's activation size on a dummy input.
    pub fn new(
        net: &dyn Network,
        data: &dyn DataSource,
        frozen_groups: usize,
        views: u32,
        device: Device,
    ) -> Result<Self> {
        let side = i64::from(data.image_size());
        let probe = Tensor::zeros([1, 3, side, side], (Kind::Float, device));
        let per_image =
            tch::no_grad(|| net.forward_groups(&probe, 0..frozen_groups, false)).numel() as u64 * 4;
        let images = u64::from(views) * data.len(Split::Train) as u64
            + (data.len(Split::Valid) + data.len(Split::Test)) as u64;
        let bytes = per_image * images;
        if bytes > MAX_BYTES {
            return Err(TrainError::Params(format!(
                "`fine_tune_on: activations` would hold {:.1} GB ({images} image views × {per_image} bytes of the first {frozen_groups} groups' output), over the {} GB limit: lower `activation_views`, unfreeze fewer groups, or use `fine_tune_on: images`",
                bytes as f64 / 1e9,
                MAX_BYTES >> 30
            )));
        }
        tracing::info!(
            frozen_groups,
            views,
            per_image,
            mb = bytes as f64 / 1e6,
            "activation cache planned"
        );
        Ok(Self {
            frozen_groups,
            views: (0..views).map(|_| None).collect(),
            valid: None,
            test: None,
            seconds: 0.0,
        })
    }

    /// The training view for main-phase epoch `main_epoch` (0-based; `epoch` is the run's epoch index), computing
    /// it when it is not in memory: view `v` is always the loader's epoch `epoch - main_epoch + v` (augmentation and
    /// order seeded by it), the epoch that first uses it, so a resumed run recomputes the same view. Returns the view and the row order of the
    /// epoch: the loader's own order the first time, a fresh shuffle by `(seed, epoch)` when reused.
    #[allow(clippy::too_many_arguments)]
    pub fn train_view(
        &mut self,
        net: &dyn Network,
        data: &dyn DataSource,
        batch_size: usize,
        seed: u64,
        main_epoch: u32,
        epoch: u32,
        device: Device,
        amp: bool,
    ) -> Result<(SplitFeatures, Vec<usize>)> {
        let v = main_epoch as usize % self.views.len().max(1);
        let first_use = (main_epoch as usize) < self.views.len();
        if self.views[v].is_none() {
            let start = Instant::now();
            let rows = data.len(Split::Train) / batch_size * batch_size;
            // The loader epoch that first used view v (a resumed run recomputes it exactly).
            let first_epoch = u64::from(epoch - main_epoch) + v as u64;
            let batches = data.train_batches(batch_size, seed, first_epoch)?;
            let view = collect(net, batches, rows, self.frozen_groups, device, amp, "train")?;
            let secs = start.elapsed().as_secs_f64();
            self.seconds += secs;
            tracing::info!(
                view = v,
                rows,
                seconds = secs,
                "activations of a training view computed"
            );
            self.views[v] = Some(view);
        }
        let view = self.views[v]
            .as_ref()
            .ok_or_else(|| TrainError::Data("activation view missing".into()))?;
        let rows = view.labels.size()[0] as usize;
        let order = if first_use {
            (0..rows).collect()
        } else {
            permutation(rows, seed, u64::from(epoch))
        };
        Ok((shallow(view), order))
    }

    /// The centre views' activations of `split` (valid or test), computed on first use.
    pub fn eval_split(
        &mut self,
        net: &dyn Network,
        data: &dyn DataSource,
        split: Split,
        batch_size: usize,
        device: Device,
        amp: bool,
    ) -> Result<SplitFeatures> {
        let frozen = self.frozen_groups;
        let slot = match split {
            Split::Valid => &mut self.valid,
            Split::Test => &mut self.test,
            Split::Train => {
                return Err(TrainError::Data(
                    "training activations are views: use train_view".into(),
                ));
            }
        };
        if slot.is_none() {
            let start = Instant::now();
            let batches = data.eval_batches(split, batch_size)?;
            *slot = Some(collect(
                net,
                batches,
                data.len(split),
                frozen,
                device,
                amp,
                &split.to_string(),
            )?);
            self.seconds += start.elapsed().as_secs_f64();
        }
        slot.as_ref()
            .map(shallow)
            .ok_or_else(|| TrainError::Data("activations missing".into()))
    }
}

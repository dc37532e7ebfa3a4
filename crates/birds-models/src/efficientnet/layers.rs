//! EfficientNet-Lite0 split at a named layer, for Grad-CAM on layers before the last feature map.
//!
//! | name | output at 224 px |
//! |---|---|
//! | `stem` | `[N, 32, 112, 112]` |
//! | `blocks.0` … `blocks.15` | after MBConv block i (`blocks.4`: `[N, 40, 28, 28]`, `blocks.10`: `[N, 112, 14, 14]`, `blocks.15`: `[N, 320, 7, 7]`) |
//! | `head` | the last feature map `[N, 1280, 7, 7]` (what [`ImageClassifier::feature_map`] returns) |
//!
//! Evaluation mode only (BatchNorm running statistics, no drop-connect, no dropout).

use tch::Tensor;
use tch::nn::Module;

use super::{EfficientNetLite0, NUM_BLOCKS};
use crate::classifier::ImageClassifier;
use crate::{ModelError, Result};

/// A position in the network: after the stem (0), after block `i` (`i + 1`), after the head conv (17).
fn position(name: &str) -> Option<usize> {
    match name.trim() {
        "stem" => Some(0),
        "head" => Some(NUM_BLOCKS + 1),
        other => other
            .strip_prefix("blocks.")
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|&i| i < NUM_BLOCKS)
            .map(|i| i + 1),
    }
}

impl EfficientNetLite0 {
    /// The layer names [`Self::forward_to`] accepts, in forward order.
    pub fn layer_names() -> Vec<String> {
        let mut names = vec!["stem".to_string()];
        names.extend((0..NUM_BLOCKS).map(|i| format!("blocks.{i}")));
        names.push("head".into());
        names
    }

    fn position_of(name: &str) -> Result<usize> {
        position(name).ok_or_else(|| {
            ModelError::config(format!(
                "efficientnet-lite0 has no layer {name:?}: expected stem, blocks.0 … blocks.{}, or head",
                NUM_BLOCKS - 1
            ))
        })
    }

    /// Output of layer `name` for an input batch (evaluation mode).
    pub fn forward_to(&self, xs: &Tensor, name: &str) -> Result<Tensor> {
        let end = Self::position_of(name)?;
        let mut x = self.stem.forward(xs).apply_t(&self.bn0, false).relu6();
        for block in self.blocks.iter().take(end.min(NUM_BLOCKS)) {
            x = block.forward_t(&x, false);
        }
        if end == NUM_BLOCKS + 1 {
            x = self.head_conv.forward(&x).apply_t(&self.bn1, false).relu6();
        }
        Ok(x)
    }

    /// Logits from the output of layer `name` (evaluation mode): the rest of the network.
    pub fn logits_from_layer(&self, activations: &Tensor, name: &str) -> Result<Tensor> {
        let start = Self::position_of(name)?;
        let mut x = activations.shallow_clone();
        if start <= NUM_BLOCKS {
            for block in self.blocks.iter().skip(start) {
                x = block.forward_t(&x, false);
            }
            x = self.head_conv.forward(&x).apply_t(&self.bn1, false).relu6();
        }
        Ok(self.logits_from_feature_map(&x, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn every_split_point_recomposes_the_network() -> Result<()> {
        tch::manual_seed(2);
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let model = EfficientNetLite0::new(&vs.root(), 5);
        let x = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
        let (features, logits) = tch::no_grad(|| {
            let f = model.feature_map(&x, false);
            let l = model.logits_from_feature_map(&f, false);
            (f, l)
        });
        let names = EfficientNetLite0::layer_names();
        assert_eq!(names.len(), NUM_BLOCKS + 2);
        let mut sizes = Vec::new();
        for name in &names {
            let (a, l) = tch::no_grad(|| -> Result<_> {
                let a = model.forward_to(&x, name)?;
                let l = model.logits_from_layer(&a, name)?;
                Ok((a, l))
            })?;
            let d = (&l - &logits).abs().max().double_value(&[]);
            assert!(d < 1e-4, "{name}: logits differ by {d}");
            sizes.push(a.size()[1]);
        }
        assert_eq!(sizes[0], 32);
        assert_eq!(sizes[NUM_BLOCKS], 320);
        let head = tch::no_grad(|| model.forward_to(&x, "head"))?;
        assert!(head.equal(&features));
        for bad in ["blocks.16", "block.3", "fc", ""] {
            assert!(model.forward_to(&x, bad).is_err(), "{bad}");
        }
        Ok(())
    }
}

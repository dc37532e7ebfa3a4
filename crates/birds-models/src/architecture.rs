//! The architectures birds can train, and one constructor that training, evaluation, Grad-CAM and prediction
//! share.
//!
//! | architecture | spelling | variables | head prefix | backbone groups |
//! |---|---|---|---|---|
//! | EfficientNet-Lite0 | `efficientnet-lite0` | `_conv_stem.…`, `_blocks.N.…`, `_fc.…` | `_fc.` | stem, 16 blocks, head conv (18) |
//! | small CNN | `small-cnn` (+ `norm`, `width`) | `stem.…`, `stages.N.…`, `fc.…` | `fc.` | stem, 4 stages (5) |
//!
//! In JSON (checkpoint metadata) an architecture is an object tagged by `name`:
//! `{"name": "efficientnet-lite0"}` or `{"name": "small-cnn", "norm": "frn", "width": 32}`.

use std::ops::Range;

use tch::Tensor;
use tch::nn;

use crate::classifier::ImageClassifier;
use crate::efficientnet::EfficientNetLite0;
use crate::small_cnn::SmallCnn;
use crate::{ModelError, Result};

pub use birds_core::model::Architecture;

/// The libtorch side of an [`Architecture`]: its network, head and freeze units.
pub trait ArchitectureExt {
    /// Builds the network's variables under `vs` with a `num_classes`-way classifier (random initialisation, from
    /// the global torch RNG: call `tch::manual_seed` first for a reproducible start).
    fn build(&self, vs: &nn::Path, num_classes: i64) -> Result<Box<dyn Network>>;

    /// The classifier's variable prefix (left out when pretrained backbone weights are loaded).
    fn head_prefix(&self) -> &'static str;

    /// Variable-name prefixes of the backbone groups in forward order (freeze/unfreeze units).
    fn backbone_groups(&self) -> Vec<Vec<String>>;
}

impl ArchitectureExt for Architecture {
    fn build(&self, vs: &nn::Path, num_classes: i64) -> Result<Box<dyn Network>> {
        self.validate()?;
        if num_classes < 1 {
            return Err(ModelError::config(format!(
                "{num_classes} classes: a classifier needs at least one"
            )));
        }
        Ok(match *self {
            Architecture::EfficientNetLite0 => Box::new(EfficientNetLite0::new(vs, num_classes)),
            Architecture::SmallCnn { norm, width } => {
                Box::new(SmallCnn::new(vs, num_classes, width, norm))
            }
        })
    }

    fn head_prefix(&self) -> &'static str {
        match self {
            Architecture::EfficientNetLite0 => EfficientNetLite0::HEAD_PREFIX,
            Architecture::SmallCnn { .. } => SmallCnn::HEAD_PREFIX,
        }
    }

    fn backbone_groups(&self) -> Vec<Vec<String>> {
        match self {
            Architecture::EfficientNetLite0 => EfficientNetLite0::backbone_groups(),
            Architecture::SmallCnn { .. } => SmallCnn::backbone_groups(),
        }
    }
}

/// What training needs beyond [`ImageClassifier`]: which variables form the backbone groups, and a forward pass that
/// keeps a frozen prefix of the backbone in evaluation mode.
pub trait Network: ImageClassifier {
    /// The architecture this network was built from.
    fn architecture(&self) -> Architecture;

    /// Runs the backbone groups `groups` (indices into [`Architecture::backbone_groups`], forward order) on `xs`,
    /// the output of group `groups.start - 1` (the image batch when the range starts at 0); the output of the last
    /// group is [`ImageClassifier::feature_map`]. Fine-tuning the top groups on cached activations of the frozen
    /// ones splits the forward pass here.
    fn forward_groups(&self, xs: &Tensor, groups: Range<usize>, train: bool) -> Tensor;

    /// Number of backbone groups.
    fn groups(&self) -> usize {
        self.architecture().backbone_groups().len()
    }

    /// The feature map with the first `eval_groups` backbone groups in evaluation mode (BatchNorm statistics neither
    /// taken from the batch nor updated, no drop-connect, so frozen groups stay exactly as loaded) and the rest with
    /// `train`.
    fn feature_map_split(&self, xs: &Tensor, eval_groups: usize, train: bool) -> Tensor {
        let n = self.groups();
        let k = eval_groups.min(n);
        let x = self.forward_groups(xs, 0..k, false);
        self.forward_groups(&x, k..n, train)
    }
}

impl Network for EfficientNetLite0 {
    fn architecture(&self) -> Architecture {
        Architecture::EfficientNetLite0
    }

    fn forward_groups(&self, xs: &Tensor, groups: Range<usize>, train: bool) -> Tensor {
        EfficientNetLite0::forward_groups(self, xs, groups, train)
    }
}

impl Network for SmallCnn {
    fn architecture(&self) -> Architecture {
        Architecture::SmallCnn {
            norm: self.norm(),
            width: self.width(),
        }
    }

    fn forward_groups(&self, xs: &Tensor, groups: Range<usize>, train: bool) -> Tensor {
        SmallCnn::forward_groups(self, xs, groups, train)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::norm::NormKind;
    use tch::Device;

    #[test]
    fn backbone_groups_are_as_many_as_the_architecture_says() {
        for arch in [
            Architecture::EfficientNetLite0,
            Architecture::SmallCnn {
                norm: NormKind::Frn,
                width: 8,
            },
        ] {
            assert_eq!(
                arch.backbone_groups().len(),
                arch.backbone_group_count(),
                "{arch}"
            );
        }
    }

    /// Running the groups in two ranges, at every split point, gives the whole feature map: what fine-tuning on
    /// cached activations relies on (the frozen part's output stands in for the image batch).
    #[test]
    fn forward_groups_split_anywhere_gives_the_feature_map() {
        for arch in [
            Architecture::EfficientNetLite0,
            Architecture::SmallCnn {
                norm: NormKind::BatchNorm,
                width: 8,
            },
        ] {
            tch::manual_seed(3);
            let vs = nn::VarStore::new(Device::Cpu);
            let net = arch.build(&vs.root(), 4).unwrap_or_else(|e| panic!("{e}"));
            let x = Tensor::randn([2, 3, 64, 64], (tch::Kind::Float, Device::Cpu));
            let whole = tch::no_grad(|| net.feature_map(&x, false));
            let n = net.groups();
            assert_eq!(n, arch.backbone_groups().len());
            for k in 0..=n {
                let split = tch::no_grad(|| {
                    let a = net.forward_groups(&x, 0..k, false);
                    net.forward_groups(&a, k..n, false)
                });
                assert!(
                    split.allclose(&whole, 1e-5, 1e-5, false),
                    "{arch} split at {k}"
                );
                let trait_split = tch::no_grad(|| net.feature_map_split(&x, k, false));
                assert!(trait_split.equal(&split), "{arch} feature_map_split at {k}");
            }
            // A range that stops early yields that group's output, not the feature map.
            let mid = tch::no_grad(|| net.forward_groups(&x, 0..2, false));
            assert_ne!(mid.size(), whole.size(), "{arch}");
        }
    }

    #[test]
    fn built_networks_report_their_architecture_and_groups_cover_the_variables() {
        for arch in [
            Architecture::EfficientNetLite0,
            Architecture::SmallCnn {
                norm: NormKind::Frn,
                width: 8,
            },
        ] {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = arch.build(&vs.root(), 4).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(net.architecture(), arch);
            let groups = arch.backbone_groups();
            for name in vs.variables().keys() {
                let in_groups = groups
                    .iter()
                    .flatten()
                    .filter(|p| name.starts_with(p.as_str()))
                    .count();
                let in_head = usize::from(name.starts_with(arch.head_prefix()));
                assert_eq!(in_groups + in_head, 1, "{arch}: {name}");
            }
        }
    }
}

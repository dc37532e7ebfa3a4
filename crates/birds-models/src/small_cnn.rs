//! A small plain CNN for training from scratch: the baseline that shows what pretrained features are worth.
//!
//! Layout (width `w`, default 32), every conv 3×3 without bias followed by [`NormAct`] (BatchNorm + ReLU or
//! FRN + TLU):
//!
//! ```text
//! stem      conv s2  3 → w
//! stages.0  conv s2  w → 2w,   conv 2w → 2w
//! stages.1  conv s2 2w → 4w,   conv 4w → 4w
//! stages.2  conv s2 4w → 8w,   conv 8w → 8w
//! stages.3  conv s2 8w → 8w,   conv 8w → 8w      (feature map: 8w channels, input / 32: 7×7 at 224)
//! pool → dropout → fc (8w → classes)
//! ```
//!
//! About 0.6 GMAC at 224 px with w = 32 (EfficientNet-Lite0: 0.4 GMAC), 2.35 M parameters (Lite0: 4.7 M).

use std::ops::Range;

use tch::Tensor;
use tch::nn::{self, Module};

use crate::classifier::ImageClassifier;
use crate::norm::{NormAct, NormKind};

/// Dropout before the classifier.
pub const DROPOUT: f64 = 0.2;
/// Default base width.
pub const DEFAULT_WIDTH: i64 = birds_core::model::SMALL_CNN_DEFAULT_WIDTH;
/// Number of stages after the stem.
pub const NUM_STAGES: usize = 4;

/// conv 3×3 (no bias, padding 1) → norm → activation.
#[derive(Debug)]
struct ConvNormAct {
    conv: nn::Conv2D,
    norm: NormAct,
}

impl ConvNormAct {
    fn new(vs: nn::Path, cin: i64, cout: i64, stride: i64, norm: NormKind) -> Self {
        let config = nn::ConvConfig {
            stride,
            padding: 1,
            bias: false,
            ..Default::default()
        };
        Self {
            conv: nn::conv2d(&vs / "conv", cin, cout, 3, config),
            norm: NormAct::new(&vs / "norm", cout, norm),
        }
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.conv.forward(xs).apply_t(&self.norm, train)
    }
}

/// The small from-scratch CNN.
#[derive(Debug)]
pub struct SmallCnn {
    stem: ConvNormAct,
    stages: Vec<(ConvNormAct, ConvNormAct)>,
    fc: nn::Linear,
    num_classes: i64,
    channels: i64,
    width: i64,
    norm: NormKind,
}

impl SmallCnn {
    /// Builds the network under `vs` with base width `width` and a `num_classes`-way classifier.
    pub fn new(vs: &nn::Path, num_classes: i64, width: i64, norm: NormKind) -> Self {
        let widths = [2 * width, 4 * width, 8 * width, 8 * width];
        let mut cin = width;
        let stages = widths
            .iter()
            .enumerate()
            .map(|(i, &cout)| {
                let p = vs / "stages" / i;
                let down = ConvNormAct::new(&p / "down", cin, cout, 2, norm);
                let conv = ConvNormAct::new(&p / "conv", cout, cout, 1, norm);
                cin = cout;
                (down, conv)
            })
            .collect();
        Self {
            stem: ConvNormAct::new(vs / "stem", 3, width, 2, norm),
            stages,
            fc: nn::linear(vs / "fc", cin, num_classes, Default::default()),
            num_classes,
            channels: cin,
            width,
            norm,
        }
    }

    /// The base width.
    pub fn width(&self) -> i64 {
        self.width
    }

    /// The normalisation layers' kind.
    pub fn norm(&self) -> NormKind {
        self.norm
    }

    /// Variable-name prefixes of the backbone in forward order: `stem.`, `stages.0.` … `stages.3.`.
    pub fn backbone_groups() -> Vec<Vec<String>> {
        let mut groups = vec![vec!["stem.".to_string()]];
        groups.extend((0..NUM_STAGES).map(|i| vec![format!("stages.{i}.")]));
        groups
    }

    /// The prefix of the classifier's variables.
    pub const HEAD_PREFIX: &'static str = "fc.";

    /// Runs backbone groups `groups` (indices into [`Self::backbone_groups`]: stem, stages 0–3) on `xs`, the output
    /// of group `groups.start - 1` (the image batch when the range starts at 0).
    pub fn forward_groups(&self, xs: &Tensor, groups: Range<usize>, train: bool) -> Tensor {
        let mut x = xs.shallow_clone();
        for g in groups {
            x = match g {
                0 => self.stem.forward_t(&x, train),
                g => match self.stages.get(g - 1) {
                    Some((down, conv)) => conv.forward_t(&down.forward_t(&x, train), train),
                    None => x,
                },
            };
        }
        x
    }

    /// Number of backbone groups: stem and the stages.
    pub const GROUPS: usize = NUM_STAGES + 1;
}

impl ImageClassifier for SmallCnn {
    fn feature_map(&self, xs: &Tensor, train: bool) -> Tensor {
        self.forward_groups(xs, 0..Self::GROUPS, train)
    }

    fn classify_embedding(&self, embedding: &Tensor, train: bool) -> Tensor {
        embedding.dropout(DROPOUT, train).apply(&self.fc)
    }

    fn num_classes(&self) -> i64 {
        self.num_classes
    }

    fn feature_channels(&self) -> i64 {
        self.channels
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn shapes_groups_and_parameter_count() {
        for norm in [NormKind::BatchNorm, NormKind::Frn] {
            let vs = nn::VarStore::new(Device::Cpu);
            let model = SmallCnn::new(&vs.root(), 5, 8, norm);
            let x = Tensor::zeros([2, 3, 64, 64], (Kind::Float, Device::Cpu));
            assert_eq!(model.feature_map(&x, false).size(), vec![2, 64, 2, 2]);
            assert_eq!(model.logits(&x, true).size(), vec![2, 5]);
            // Every variable belongs to exactly one backbone group or the head.
            let groups = SmallCnn::backbone_groups();
            for name in vs.variables().keys() {
                let hits = groups
                    .iter()
                    .flatten()
                    .filter(|p| name.starts_with(p.as_str()))
                    .count()
                    + usize::from(name.starts_with(SmallCnn::HEAD_PREFIX));
                assert_eq!(hits, 1, "{name}");
            }
        }
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = SmallCnn::new(&vs.root(), 30, DEFAULT_WIDTH, NormKind::BatchNorm);
        let params: i64 = vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum();
        assert!((2_300_000..2_400_000).contains(&params), "{params}");
    }

    #[test]
    fn eval_groups_leave_batch_norm_statistics_alone() {
        let vs = nn::VarStore::new(Device::Cpu);
        let model = SmallCnn::new(&vs.root(), 3, 4, NormKind::BatchNorm);
        let before = vs.variables();
        let snapshot: Vec<(String, Tensor)> =
            before.iter().map(|(k, v)| (k.clone(), v.copy())).collect();
        let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        // Stem and stage 0 in eval mode, the rest in training mode.
        use crate::Network;
        let _ = tch::no_grad(|| model.feature_map_split(&x, 2, true));
        for (name, old) in snapshot {
            let changed = !before[&name].equal(&old);
            let frozen = name.starts_with("stem.") || name.starts_with("stages.0.");
            if name.ends_with("running_mean") {
                assert_eq!(changed, !frozen, "{name}");
            }
        }
    }
}

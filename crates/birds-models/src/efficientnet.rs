//! EfficientNet-Lite0 (Tan & Le 2019, "lite" variant: ReLU6, no squeeze-excitation, fixed stem and head).
//!
//! Variable paths equal the PyTorch state-dict keys of `efficientnet-lite-pytorch` (`_conv_stem.weight`,
//! `_blocks.3._bn1.running_mean`, `_fc.bias`, …), so ImageNet weights load by name. Convolutions use TensorFlow
//! "SAME" padding computed from the input size at run time, so any input size (224, 227, 256, 64, …) is handled
//! exactly as TensorFlow would.

use std::ops::Range;

use tch::Tensor;
use tch::nn::{self, Module, ModuleT};

use crate::classifier::ImageClassifier;

mod layers; // split at a named layer (stem, blocks.N, head) for Grad-CAM: forward_to, logits_from_layer

/// Channels of the final feature map (the Grad-CAM target) and of the pooled embedding.
pub const FEATURE_CHANNELS: i64 = 1280;
/// Dropout before the classifier, as in the reference model.
pub const DROPOUT: f64 = 0.2;
/// Maximum drop-connect (stochastic depth) rate, scaled by block index / 16.
pub const DROP_CONNECT: f64 = 0.2;
/// BatchNorm epsilon.
pub const BN_EPS: f64 = 1e-3;
/// BatchNorm momentum (PyTorch convention: weight of the new batch statistic).
pub const BN_MOMENTUM: f64 = 0.01;

/// One stage of MBConv blocks: (repeats, kernel, stride, expand ratio, input channels, output channels).
const STAGES: [(usize, i64, i64, i64, i64, i64); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];

/// Number of MBConv blocks in Lite0.
pub const NUM_BLOCKS: usize = 16;

/// A bias-free convolution with TensorFlow "SAME" padding.
#[derive(Debug)]
struct SameConv {
    weight: Tensor,
    kernel: i64,
    stride: i64,
    groups: i64,
}

/// TensorFlow SAME padding for one dimension: (before, after).
pub fn same_padding(input: i64, kernel: i64, stride: i64) -> (i64, i64) {
    let out = (input + stride - 1) / stride;
    let total = ((out - 1) * stride + kernel - input).max(0);
    (total / 2, total - total / 2)
}

impl SameConv {
    fn new(vs: nn::Path, cin: i64, cout: i64, kernel: i64, stride: i64, groups: i64) -> Self {
        let weight = vs.var(
            "weight",
            &[cout, cin / groups, kernel, kernel],
            nn::init::DEFAULT_KAIMING_UNIFORM,
        );
        Self {
            weight,
            kernel,
            stride,
            groups,
        }
    }
}

impl Module for SameConv {
    fn forward(&self, xs: &Tensor) -> Tensor {
        let size = xs.size();
        let (h, w) = (size[2], size[3]);
        let (top, bottom) = same_padding(h, self.kernel, self.stride);
        let (left, right) = same_padding(w, self.kernel, self.stride);
        let stride = [self.stride, self.stride];
        if top == bottom && left == right {
            xs.conv2d(
                &self.weight,
                None::<&Tensor>,
                stride,
                [top, left],
                [1, 1],
                self.groups,
            )
        } else {
            xs.constant_pad_nd([left, right, top, bottom]).conv2d(
                &self.weight,
                None::<&Tensor>,
                stride,
                [0, 0],
                [1, 1],
                self.groups,
            )
        }
    }
}

fn bn(vs: nn::Path, channels: i64) -> nn::BatchNorm {
    let config = nn::BatchNormConfig {
        eps: BN_EPS,
        momentum: BN_MOMENTUM,
        ..Default::default()
    };
    nn::batch_norm2d(vs, channels, config)
}

/// One mobile inverted bottleneck block.
#[derive(Debug)]
struct MbConv {
    expand: Option<(SameConv, nn::BatchNorm)>,
    depthwise: SameConv,
    bn1: nn::BatchNorm,
    project: SameConv,
    bn2: nn::BatchNorm,
    residual: bool,
    drop_connect: f64,
}

impl MbConv {
    fn new(
        vs: nn::Path,
        cin: i64,
        cout: i64,
        kernel: i64,
        stride: i64,
        expand: i64,
        drop_connect: f64,
    ) -> Self {
        let mid = cin * expand;
        let expand = (expand != 1).then(|| {
            (
                SameConv::new(&vs / "_expand_conv", cin, mid, 1, 1, 1),
                bn(&vs / "_bn0", mid),
            )
        });
        Self {
            expand,
            depthwise: SameConv::new(&vs / "_depthwise_conv", mid, mid, kernel, stride, mid),
            bn1: bn(&vs / "_bn1", mid),
            project: SameConv::new(&vs / "_project_conv", mid, cout, 1, 1, 1),
            bn2: bn(&vs / "_bn2", cout),
            residual: stride == 1 && cin == cout,
            drop_connect,
        }
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = match &self.expand {
            Some((conv, bn0)) => conv.forward(xs).apply_t(bn0, train).relu6(),
            None => xs.shallow_clone(),
        };
        x = self.depthwise.forward(&x).apply_t(&self.bn1, train).relu6();
        x = self.project.forward(&x).apply_t(&self.bn2, train);
        if !self.residual {
            return x;
        }
        if train && self.drop_connect > 0.0 {
            x = drop_connect(&x, self.drop_connect);
        }
        x + xs
    }
}

/// Stochastic depth: zeroes whole samples with probability `p`, scaling survivors by `1/(1-p)`.
fn drop_connect(xs: &Tensor, p: f64) -> Tensor {
    let keep = 1.0 - p;
    let n = xs.size()[0];
    let mask = (Tensor::rand([n, 1, 1, 1], (xs.kind(), xs.device())) + keep).floor();
    xs / keep * mask
}

/// EfficientNet-Lite0 with a replaceable linear classifier (`_fc`).
#[derive(Debug)]
pub struct EfficientNetLite0 {
    stem: SameConv,
    bn0: nn::BatchNorm,
    blocks: Vec<MbConv>,
    head_conv: SameConv,
    bn1: nn::BatchNorm,
    fc: nn::Linear,
    num_classes: i64,
}

impl EfficientNetLite0 {
    /// Builds the network under `vs` with a `num_classes`-way classifier (1000 for the ImageNet head).
    pub fn new(vs: &nn::Path, num_classes: i64) -> Self {
        let blocks_vs = vs / "_blocks";
        let mut blocks = Vec::with_capacity(NUM_BLOCKS);
        for &(repeats, kernel, stride, expand, cin, cout) in &STAGES {
            for r in 0..repeats {
                let idx = blocks.len();
                let rate = DROP_CONNECT * idx as f64 / NUM_BLOCKS as f64;
                let (cin, stride) = if r == 0 { (cin, stride) } else { (cout, 1) };
                blocks.push(MbConv::new(
                    &blocks_vs / idx,
                    cin,
                    cout,
                    kernel,
                    stride,
                    expand,
                    rate,
                ));
            }
        }
        Self {
            stem: SameConv::new(vs / "_conv_stem", 3, 32, 3, 2, 1),
            bn0: bn(vs / "_bn0", 32),
            blocks,
            head_conv: SameConv::new(vs / "_conv_head", 320, FEATURE_CHANNELS, 1, 1, 1),
            bn1: bn(vs / "_bn1", FEATURE_CHANNELS),
            fc: nn::linear(
                vs / "_fc",
                FEATURE_CHANNELS,
                num_classes,
                Default::default(),
            ),
            num_classes,
        }
    }

    /// The variable-name prefixes of the backbone, in forward order: `_conv_stem`/`_bn0`, `_blocks.0` … `_blocks.15`,
    /// `_conv_head`/`_bn1`. Used to freeze or unfreeze the last N blocks.
    pub fn backbone_groups() -> Vec<Vec<String>> {
        let mut groups = vec![vec!["_conv_stem.".to_string(), "_bn0.".to_string()]];
        groups.extend((0..NUM_BLOCKS).map(|i| vec![format!("_blocks.{i}.")]));
        groups.push(vec!["_conv_head.".to_string(), "_bn1.".to_string()]);
        groups
    }

    /// The prefix of the classifier's variables.
    pub const HEAD_PREFIX: &'static str = "_fc.";

    /// Runs backbone groups `groups` (indices into [`Self::backbone_groups`]) on `xs`, the output of group
    /// `groups.start - 1` (the image batch when the range starts at 0); the output of the last group is the feature
    /// map. `train`: BatchNorm from the batch and drop-connect.
    pub fn forward_groups(&self, xs: &Tensor, groups: Range<usize>, train: bool) -> Tensor {
        let mut x = xs.shallow_clone();
        for g in groups {
            x = match g {
                0 => self.stem.forward(&x).apply_t(&self.bn0, train).relu6(),
                g if g <= NUM_BLOCKS => self.blocks[g - 1].forward_t(&x, train),
                _ => self.head_conv.forward(&x).apply_t(&self.bn1, train).relu6(),
            };
        }
        x
    }

    /// Number of backbone groups: stem, 16 blocks, head conv.
    pub const GROUPS: usize = NUM_BLOCKS + 2;
}

impl ImageClassifier for EfficientNetLite0 {
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
        FEATURE_CHANNELS
    }
}

impl ModuleT for EfficientNetLite0 {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.logits(xs, train)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        // stride-2 3x3 on an even size pads (0, 1); on an odd size (1, 1).
        assert_eq!(same_padding(224, 3, 2), (0, 1));
        assert_eq!(same_padding(227, 3, 2), (1, 1));
        // stride-2 5x5 on 56: (1, 2).
        assert_eq!(same_padding(56, 5, 2), (1, 2));
        // stride 1 keeps the size: 5x5 pads (2, 2), 1x1 pads nothing.
        assert_eq!(same_padding(14, 5, 1), (2, 2));
        assert_eq!(same_padding(7, 1, 1), (0, 0));
    }

    #[test]
    fn shapes_at_several_sizes() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let model = EfficientNetLite0::new(&vs.root(), 7);
        for (size, fmap) in [(64, 2), (97, 4), (224, 7)] {
            let x = Tensor::zeros([2, 3, size, size], (tch::Kind::Float, tch::Device::Cpu));
            let f = model.feature_map(&x, false);
            assert_eq!(
                f.size(),
                vec![2, FEATURE_CHANNELS, fmap, fmap],
                "input {size}"
            );
            assert_eq!(model.logits(&x, false).size(), vec![2, 7]);
        }
        // 296 state-dict entries minus 49 num_batches_tracked = 247 variables.
        assert_eq!(vs.variables().len(), 247);
    }
}

//! Normalisation + activation layers for networks trained from scratch: BatchNorm + ReLU, or Filter Response
//! Normalization + TLU.
//!
//! Filter Response Normalization (Singh & Krishnan 2020, "Filter Response Normalization Layer: Eliminating Batch
//! Dependence in the Training of Deep Neural Networks") normalises each sample and channel by the mean square of its
//! own activations, so it does not depend on the batch (small batches, train = eval):
//!
//! ```text
//! nu2 = mean(x², over H, W)      x̂ = x · rsqrt(nu2 + eps)      y = γ·x̂ + β      z = max(y, τ)   (TLU)
//! ```
//!
//! The thresholded linear unit (TLU, learned τ) replaces the ReLU that would follow BatchNorm.

use tch::Tensor;
use tch::nn::{self, ModuleT};

pub use birds_core::model::NormKind;

/// BatchNorm epsilon used by the from-scratch networks.
pub const BN_EPS: f64 = 1e-5;
/// BatchNorm momentum (PyTorch convention).
pub const BN_MOMENTUM: f64 = 0.1;
/// FRN epsilon (the paper's value for feature maps larger than 1×1).
pub const FRN_EPS: f64 = 1e-6;

/// Filter Response Normalization with a thresholded linear unit. Variables: `weight` (γ, ones), `bias` (β, zeros),
/// `tau` (τ, zeros), each of shape `[C]`.
#[derive(Debug)]
pub struct FrnTlu {
    weight: Tensor,
    bias: Tensor,
    tau: Tensor,
    eps: f64,
}

impl FrnTlu {
    /// Creates the layer's variables under `vs`.
    pub fn new(vs: nn::Path, channels: i64) -> Self {
        Self {
            weight: vs.ones("weight", &[channels]),
            bias: vs.zeros("bias", &[channels]),
            tau: vs.zeros("tau", &[channels]),
            eps: FRN_EPS,
        }
    }

    /// `max(γ · x · rsqrt(mean(x², H, W) + eps) + β, τ)` on `[N, C, H, W]`.
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        let shape = [1i64, -1, 1, 1];
        let nu2 = xs
            .square()
            .mean_dim([-2i64, -1].as_slice(), true, xs.kind());
        let x = xs * (nu2 + self.eps).rsqrt();
        let y = x * self.weight.view(shape) + self.bias.view(shape);
        y.maximum(&self.tau.view(shape))
    }
}

/// A normalisation layer followed by its activation: BatchNorm + ReLU or FRN + TLU.
#[derive(Debug)]
pub enum NormAct {
    /// BatchNorm then ReLU.
    BatchNorm(nn::BatchNorm),
    /// FRN then TLU.
    Frn(FrnTlu),
}

impl NormAct {
    /// Creates the layer of `kind` for `channels` channels under `vs` (BatchNorm: γ = 1, β = 0).
    pub fn new(vs: nn::Path, channels: i64, kind: NormKind) -> Self {
        match kind {
            NormKind::BatchNorm => NormAct::BatchNorm(nn::batch_norm2d(
                vs,
                channels,
                nn::BatchNormConfig {
                    eps: BN_EPS,
                    momentum: BN_MOMENTUM,
                    ws_init: nn::Init::Const(1.0),
                    ..Default::default()
                },
            )),
            NormKind::Frn => NormAct::Frn(FrnTlu::new(vs, channels)),
        }
    }
}

impl ModuleT for NormAct {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match self {
            NormAct::BatchNorm(bn) => xs.apply_t(bn, train).relu(),
            NormAct::Frn(frn) => frn.forward(xs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn frn_matches_the_formula_and_ignores_the_batch() {
        let vs = nn::VarStore::new(Device::Cpu);
        let frn = FrnTlu::new(vs.root(), 2);
        tch::no_grad(|| {
            let _ = frn.bias.shallow_clone().fill_(0.5);
            let _ = frn.tau.shallow_clone().fill_(0.6);
        });
        // One sample, channel 0 = [1, 2, 3, 4] → nu2 = 7.5; channel 1 = zeros.
        let x = Tensor::from_slice(&[1f32, 2., 3., 4., 0., 0., 0., 0.]).view([1, 2, 2, 2]);
        let y: Vec<f32> = frn
            .forward(&x)
            .flatten(0, -1)
            .try_into()
            .unwrap_or_default();
        let s = (7.5f32 + 1e-6).sqrt();
        let expect0: Vec<f32> = [1f32, 2., 3., 4.]
            .iter()
            .map(|v| (v / s + 0.5).max(0.6))
            .collect();
        for (a, b) in y[..4].iter().zip(&expect0) {
            assert!((a - b).abs() < 1e-6, "{y:?} vs {expect0:?}");
        }
        // Channel 1: 0 · rsqrt(eps) + 0.5 = 0.5, clipped up to τ = 0.6.
        assert!(y[4..].iter().all(|v| (v - 0.6).abs() < 1e-6), "{y:?}");
        // Batch independence: a sample's output does not depend on the other samples.
        let other = Tensor::randn([3, 2, 2, 2], (Kind::Float, Device::Cpu)) * 10.0;
        let batch = Tensor::cat(&[&x, &other], 0);
        let first = frn.forward(&batch).narrow(0, 0, 1);
        assert!(
            first.allclose(&frn.forward(&x), 1e-6, 1e-6, false),
            "FRN output depends on the batch"
        );
    }

    #[test]
    fn kinds_parse() {
        assert_eq!("FRN".parse::<NormKind>().ok(), Some(NormKind::Frn));
        assert_eq!("bn".parse::<NormKind>().ok(), Some(NormKind::BatchNorm));
        let e = "layer-norm"
            .parse::<NormKind>()
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("batch-norm or frn")));
    }
}

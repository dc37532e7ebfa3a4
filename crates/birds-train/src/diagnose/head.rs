//! A linear softmax head trained on cached embeddings, as feature-extract trains its head (AdamW, a cosine
//! schedule, shuffled mini-batches of the embeddings and their mirrored copies) but without label smoothing (its
//! probabilities stay the model's, not pulled towards uniform) and without dropout: what the diagnostics fit once
//! per fold and subset. CPU, seeded, and independent of libtorch's global generator (zero initial weights, the
//! shuffles from the crate's own generator): the same inputs give the same probabilities, also when other threads
//! use libtorch's generator meanwhile.

use birds_core::rng::SplitMix64;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::Result;

/// How a head is trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadConfig {
    /// Passes over the training rows.
    pub epochs: u32,
    /// Peak learning rate (cosine to 1 % of it).
    pub lr: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Rows per step.
    pub batch_size: usize,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            lr: 0.002,
            weight_decay: 0.01,
            batch_size: 32,
        }
    }
}

/// Trains a head on `train_x` `[N, C]` / `train_y` `[N]` (i64) and returns the softmax probabilities of `test_x`
/// `[M, C]` as `M × classes` row-major f64.
pub fn fit_predict(
    train_x: &Tensor,
    train_y: &Tensor,
    test_x: &Tensor,
    classes: i64,
    cfg: &HeadConfig,
    seed: u64,
) -> Result<Vec<f64>> {
    let vs = nn::VarStore::new(Device::Cpu);
    let (n, c) = train_x.size2()?;
    let w = vs.root().zeros("weight", &[classes, c]);
    let b = vs.root().zeros("bias", &[classes]);
    let forward = |x: &Tensor| x.matmul(&w.tr()) + &b;
    let mut opt = nn::AdamW {
        wd: cfg.weight_decay,
        ..Default::default()
    }
    .build(&vs, cfg.lr)?;
    let batch = cfg.batch_size.max(1);
    let steps_per_epoch = (n as usize).div_ceil(batch).max(1);
    let total = (steps_per_epoch * cfg.epochs as usize).max(1);
    let mut step = 0usize;
    for epoch in 0..cfg.epochs {
        let mut order: Vec<i64> = (0..n).collect();
        SplitMix64::from_words(&[seed, u64::from(epoch)]).shuffle(&mut order);
        for chunk in order.chunks(batch) {
            let idx = Tensor::from_slice(chunk);
            let x = train_x.f_index_select(0, &idx)?;
            let y = train_y.f_index_select(0, &idx)?;
            let progress = step as f64 / total as f64;
            let lr = cfg.lr * (0.01 + 0.99 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
            opt.set_lr(lr);
            let loss = forward(&x).cross_entropy_for_logits(&y);
            opt.backward_step(&loss);
            step += 1;
        }
    }
    let probs = tch::no_grad(|| forward(test_x)).f_softmax(-1, Kind::Double)?;
    Ok(Vec::<f64>::try_from(&probs.f_contiguous()?.f_view([-1])?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_separable_problem_is_learnt_and_the_fit_is_deterministic() -> Result<()> {
        tch::manual_seed(1);
        let x = Tensor::f_randn([200, 8], (Kind::Float, Device::Cpu))?;
        // Class = sign of the first coordinate.
        let y = x.f_select(1, 0)?.f_gt(0.0)?.f_to_kind(Kind::Int64)?;
        let cfg = HeadConfig {
            epochs: 40,
            lr: 0.05,
            ..HeadConfig::default()
        };
        let probs = fit_predict(&x, &y, &x, 2, &cfg, 7)?;
        let labels: Vec<i64> = Vec::<i64>::try_from(&y)?;
        let right = probs
            .chunks_exact(2)
            .zip(&labels)
            .filter(|(p, l)| (p[1] > p[0]) == (**l == 1))
            .count();
        assert!(right >= 190, "{right} of 200");
        assert_eq!(fit_predict(&x, &y, &x, 2, &cfg, 7)?, probs);
        Ok(())
    }
}

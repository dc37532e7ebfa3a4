//! The out-of-distribution detector `birds evaluate` fits on a checkpoint's embeddings and `birds predict` applies:
//! it warns when an image is unlike the training images of every class.
//!
//! **The score** (Lee et al. 2018, "A Simple Unified Framework for Detecting Out-of-Distribution Samples and
//! Adversarial Attacks"): the squared Mahalanobis distance of an image's pooled embedding to the nearest class mean,
//! divided by the channel count `C`, so that a training image scores about 1. The covariance is the within-class
//! scatter of the training embeddings, shrunk towards `μ·I` (`μ` its mean eigenvalue) by the Ledoit–Wolf amount,
//! which keeps it invertible with fewer images than channels. The threshold is a quantile of the valid split's
//! scores (in `calibration.json`, `birds_artifacts::evaluate::CalibrationFile`): images above it are flagged.
//!
//! File: `ood.safetensors` with `means` `[K, C]` f64 (the class means of the classes that have training images)
//! and `precision` `[C, C]` f64 (the inverse of the shrunk shared covariance).

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::{ModelError, Result};

/// `ood.safetensors`.
pub const OOD_FILE: &str = "ood.safetensors";

/// Class means and the shared precision matrix of training embeddings, with a threshold on the score.
#[derive(Debug)]
pub struct OodDetector {
    means: Tensor,
    precision: Tensor,
    /// Images above this score are flagged.
    pub threshold: f64,
    /// The Ledoit–Wolf shrinkage used.
    pub shrinkage: f64,
}

impl OodDetector {
    /// Fits the class means and the shrunk shared covariance of `embeddings` `[N, C]` with class ids `labels`
    /// (`[N]`, i64). The threshold starts at +∞ (nothing flagged) until [`OodDetector::set_threshold`].
    pub fn fit(embeddings: &Tensor, labels: &Tensor) -> Result<Self> {
        let x = embeddings
            .f_to_kind(Kind::Double)?
            .f_to_device(Device::Cpu)?;
        let y = labels.f_to_kind(Kind::Int64)?.f_to_device(Device::Cpu)?;
        let (n, c) = x.size2()?;
        if n < 2 {
            return Err(ModelError::config(format!(
                "the out-of-distribution detector needs at least 2 training embeddings, got {n}"
            )));
        }
        let ids: Vec<i64> = Vec::<i64>::try_from(&y)?;
        let mut present: Vec<i64> = ids.clone();
        present.sort_unstable();
        present.dedup();
        let mut means = Vec::with_capacity(present.len());
        let mut centred = x.f_zeros_like()?;
        for &k in &present {
            let rows = y.f_eq(k)?.f_nonzero()?.f_squeeze_dim(1)?;
            let xs = x.f_index_select(0, &rows)?;
            let mean = xs.f_mean_dim([0i64].as_slice(), true, Kind::Double)?;
            let _ = centred.f_index_copy_(0, &rows, &xs.f_sub(&mean)?)?;
            means.push(mean);
        }
        let means = Tensor::f_cat(&means, 0)?;
        // S = Xcᵀ Xc / n; Ledoit–Wolf: β² = (Σ‖xᵢ‖⁴ − n‖S‖²)/n², δ² = ‖S − μI‖², α = min(β²/δ², 1).
        let nf = n as f64;
        let s = centred.f_tr()?.f_matmul(&centred)?.f_div_scalar(nf)?;
        let mu = f64::try_from(s.f_trace()?)? / c as f64;
        let s_norm2 = f64::try_from(s.f_square()?.f_sum(Kind::Double)?)?;
        let row4 = f64::try_from(
            centred
                .f_square()?
                .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?
                .f_square()?
                .f_sum(Kind::Double)?,
        )?;
        let beta2 = ((row4 - nf * s_norm2) / (nf * nf)).max(0.0);
        let eye = Tensor::f_eye(c, (Kind::Double, Device::Cpu))?;
        let delta2 = f64::try_from(
            s.f_sub(&eye.f_mul_scalar(mu)?)?
                .f_square()?
                .f_sum(Kind::Double)?,
        )?;
        let shrinkage = if delta2 > 0.0 {
            (beta2 / delta2).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let floor = mu.max(1e-12);
        let cov = s
            .f_mul_scalar(1.0 - shrinkage)?
            .f_add(&eye.f_mul_scalar(shrinkage * floor)?)?;
        let precision = Tensor::f_linalg_inv(&cov)?;
        Ok(Self {
            means,
            precision,
            threshold: f64::INFINITY,
            shrinkage,
        })
    }

    /// Sets the threshold to the `quantile` of `scores` (linear interpolation; `scores` non-empty).
    pub fn set_threshold(&mut self, scores: &[f64], quantile: f64) {
        let mut sorted: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return;
        }
        let pos = quantile.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        self.threshold = sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64);
    }

    /// The score of each embedding of `[N, C]`: `min_k (x − μ_k)ᵀ P (x − μ_k) / C`.
    pub fn scores(&self, embeddings: &Tensor) -> Result<Vec<f64>> {
        let x = embeddings
            .f_to_kind(Kind::Double)?
            .f_to_device(Device::Cpu)?;
        let c = x.size2()?.1 as f64;
        let xp = x.f_matmul(&self.precision)?;
        let a = xp
            .f_mul(&x)?
            .f_sum_dim_intlist([1i64].as_slice(), true, Kind::Double)?;
        let b = xp.f_matmul(&self.means.f_tr()?)?;
        let m = self
            .means
            .f_matmul(&self.precision)?
            .f_mul(&self.means)?
            .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?
            .f_unsqueeze(0)?;
        let d2 = a.f_sub(&b.f_mul_scalar(2.0)?)?.f_add(&m)?;
        let min = d2
            .f_amin([1i64].as_slice(), false)?
            .f_clamp_min(0.0)?
            .f_div_scalar(c)?;
        Ok(Vec::<f64>::try_from(&min)?)
    }

    /// Whether a score is above the threshold.
    pub fn flags(&self, score: f64) -> bool {
        score > self.threshold
    }

    /// Writes `means` and `precision` to a safetensors file (atomic).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::checkpoint::write_tensors(
            &[
                ("means".to_string(), self.means.f_contiguous()?),
                ("precision".to_string(), self.precision.f_contiguous()?),
            ],
            path,
        )
    }

    /// Reads a detector written by [`OodDetector::save`]; `threshold` comes from `calibration.json`.
    pub fn load(path: &Path, threshold: f64) -> Result<Self> {
        let bad = |reason: String| ModelError::WeightsUnreadable {
            path: path.to_path_buf(),
            reason,
        };
        let named = Tensor::read_safetensors(path).map_err(|e| bad(e.to_string()))?;
        let get = |name: &str| {
            named
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.shallow_clone())
                .ok_or_else(|| {
                    bad(format!(
                        "no `{name}` tensor (not written by birds evaluate)"
                    ))
                })
        };
        let (means, precision) = (get("means")?, get("precision")?);
        let (k, c) = means.size2().map_err(|e| bad(format!("`means`: {e}")))?;
        if precision.size() != [c, c] || k == 0 {
            return Err(bad(format!(
                "`means` is {:?} and `precision` {:?}: expected [K, C] and [C, C]",
                means.size(),
                precision.size()
            )));
        }
        Ok(Self {
            means: means.f_to_kind(Kind::Double)?,
            precision: precision.f_to_kind(Kind::Double)?,
            threshold,
            shrinkage: f64::NAN,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_separates_points_far_from_every_class_and_round_trips() -> Result<()> {
        tch::manual_seed(3);
        // Two classes in 16 dimensions, 40 points each, around ±2 on the first axis.
        let opts = (Kind::Float, Device::Cpu);
        let noise = Tensor::f_randn([80, 16], opts)?;
        let shift = Tensor::f_zeros([80, 16], opts)?;
        let _ = shift.f_narrow(0, 0, 40)?.f_narrow(1, 0, 1)?.f_fill_(2.0)?;
        let _ = shift
            .f_narrow(0, 40, 40)?
            .f_narrow(1, 0, 1)?
            .f_fill_(-2.0)?;
        let x = noise.f_add(&shift)?;
        let labels = Tensor::from_slice(&[[0i64; 40], [1i64; 40]].concat());
        let mut det = OodDetector::fit(&x, &labels)?;
        let train = det.scores(&x)?;
        let mean_train = train.iter().sum::<f64>() / 80.0;
        assert!((0.5..1.5).contains(&mean_train), "{mean_train}");
        det.set_threshold(&train, 0.99);
        // In-distribution newcomers mostly pass; points 6 σ away on another axis are all flagged.
        let fresh = Tensor::f_randn([40, 16], opts)?.f_add(&shift.f_narrow(0, 0, 40)?)?;
        let far = Tensor::f_randn([40, 16], opts)?;
        let _ = far.f_narrow(1, 5, 1)?.f_add_scalar_(6.0)?;
        let flagged = |s: &[f64]| s.iter().filter(|&&v| det.flags(v)).count();
        assert!(flagged(&det.scores(&fresh)?) <= 4);
        assert_eq!(flagged(&det.scores(&far)?), 40);
        let dir =
            tempfile::tempdir().map_err(|e| birds_core::CoreError::io("tempdir", "/tmp", e))?;
        let path = dir.path().join(OOD_FILE);
        det.save(&path)?;
        let back = OodDetector::load(&path, det.threshold)?;
        assert_eq!(back.scores(&far)?, det.scores(&far)?);
        Ok(())
    }
}

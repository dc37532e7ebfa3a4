//! An exponential moving average of the trained weights (timm's `--model-ema`, Polyak averaging).
//!
//! `ema_decay: d` keeps a shadow copy of every parameter the optimiser trains in the main phase (fine-tune: from the
//! first unfrozen step, starting at the warmed-up weights; feature-extract and scratch: from the first step). After
//! every step `shadow ← d · shadow + (1 − d) · w`, at the fixed decay `d` from the first update, as timm's
//! `ModelEmaV2`. No decay warm-up (TensorFlow's `min(d, (1 + n) / (10 + n))`): over the few hundred steps of a CPU
//! fine-tune it would cap the decay below 0.98 for the whole run, so that 0.99 and 0.995 would be the same run; and
//! the fine-tune's average starts from the warmed-up (LP-FT) weights, a model worth averaging from, not a random one.
//! Validation, checkpoint selection and the saved `model.safetensors` use the
//! averaged weights; training continues from the live ones. Only parameters are averaged: BatchNorm statistics are the
//! live ones (with `freeze_bn: true`, the default, they do not move). The shadow and its update count are part of the
//! resume state, so a resumed run stays the uninterrupted one on the CPU.

use tch::Tensor;

use crate::{Result, TrainError};

/// The averaged weights, by variable name (sorted), and how many updates they have had.
#[derive(Debug)]
pub struct Ema {
    decay: f64,
    updates: u64,
    shadow: Vec<(String, Tensor)>,
}

impl Ema {
    /// A shadow equal to `params` (name, live variable) now.
    pub fn new(decay: f64, params: &[(String, Tensor)]) -> Self {
        let mut shadow: Vec<(String, Tensor)> = tch::no_grad(|| {
            params
                .iter()
                .map(|(n, t)| (n.clone(), t.detach().copy()))
                .collect()
        });
        shadow.sort_by(|a, b| a.0.cmp(&b.0));
        Self {
            decay,
            updates: 0,
            shadow,
        }
    }

    /// A shadow restored from the resume state: `tensors` must name exactly the variables of `params`.
    pub fn restore(
        decay: f64,
        updates: u64,
        params: &[(String, Tensor)],
        mut tensors: Vec<(String, Tensor)>,
    ) -> Result<Self> {
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let mut want: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        want.sort_unstable();
        let have: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
        if want != have {
            return Err(TrainError::Data(format!(
                "the saved weight average holds {} variables, the run trains {}: the state does not belong to this run",
                have.len(),
                want.len()
            )));
        }
        let device = params.first().map(|(_, t)| t.device());
        let shadow = tensors
            .into_iter()
            .map(|(n, t)| match device {
                Some(d) => (n, t.to_device(d)),
                None => (n, t),
            })
            .collect();
        Ok(Self {
            decay,
            updates,
            shadow,
        })
    }

    /// Updates taken so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// One update towards the live `params` (same names as the shadow).
    pub fn update(&mut self, params: &[(String, Tensor)]) {
        let d = self.decay;
        tch::no_grad(|| {
            for ((_, s), (_, w)) in self.shadow.iter_mut().zip(sorted(params)) {
                // s = d·s + (1 − d)·w
                let _ = s.g_mul_scalar_(d);
                let _ = s.g_add_(&(w * (1.0 - d)));
            }
        });
        self.updates += 1;
    }

    /// Puts the averaged weights into the live variables `params` and returns the live values, for
    /// [`Ema::restore_live`].
    pub fn swap_in(&self, params: &[(String, Tensor)]) -> Vec<Tensor> {
        let live = sorted(params);
        tch::no_grad(|| {
            let backup: Vec<Tensor> = live.iter().map(|(_, w)| w.detach().copy()).collect();
            for ((_, w), (_, s)) in live.iter().zip(&self.shadow) {
                w.shallow_clone().copy_(s);
            }
            backup
        })
    }

    /// Puts back the live values [`Ema::swap_in`] returned.
    pub fn restore_live(params: &[(String, Tensor)], backup: &[Tensor]) {
        tch::no_grad(|| {
            for ((_, w), b) in sorted(params).iter().zip(backup) {
                w.shallow_clone().copy_(b);
            }
        });
    }

    /// The shadow, for the resume state (`ema.<name>`).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.shadow
            .iter()
            .map(|(n, t)| (format!("ema.{n}"), t.shallow_clone()))
            .collect()
    }

    /// The shadow's tensors from [`Ema::state_tensors`]' naming.
    pub fn from_state_tensors(tensors: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
        tensors
            .into_iter()
            .filter_map(|(n, t)| n.strip_prefix("ema.").map(|n| (n.to_string(), t)))
            .collect()
    }
}

fn sorted(params: &[(String, Tensor)]) -> Vec<&(String, Tensor)> {
    let mut v: Vec<&(String, Tensor)> = params.iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn vars(values: &[f32]) -> Vec<(String, Tensor)> {
        vec![("w".to_string(), Tensor::from_slice(values))]
    }

    #[test]
    fn the_average_follows_the_formula_at_the_fixed_decay() -> TestResult {
        let live = vars(&[0.0, 10.0]);
        let mut ema = Ema::new(0.5, &live);
        tch::no_grad(|| {
            let _ = live[0].1.shallow_clone().fill_(1.0);
        });
        ema.update(&live); // 0.5·[0, 10] + 0.5·1
        let s = Vec::<f32>::try_from(&ema.shadow[0].1)?;
        assert!(
            (s[0] - 0.5).abs() < 1e-6 && (s[1] - 5.5).abs() < 1e-6,
            "{s:?}"
        );
        ema.update(&live); // 0.5·[0.5, 5.5] + 0.5·1
        let s = Vec::<f32>::try_from(&ema.shadow[0].1)?;
        assert!(
            (s[0] - 0.75).abs() < 1e-6 && (s[1] - 3.25).abs() < 1e-6,
            "{s:?}"
        );
        assert_eq!(ema.updates(), 2);
        Ok(())
    }

    #[test]
    fn averaged_weights_are_used_inside_and_the_live_ones_restored_after() -> TestResult {
        let live = vars(&[1.0, 2.0]);
        let mut ema = Ema::new(0.9, &live);
        tch::no_grad(|| {
            let _ = live[0].1.shallow_clone().fill_(5.0);
        });
        ema.update(&live); // 0.9·[1, 2] + 0.1·5
        let backup = ema.swap_in(&live);
        let inside = Vec::<f32>::try_from(&live[0].1)?;
        Ema::restore_live(&live, &backup);
        assert!(
            (inside[0] - 1.4).abs() < 1e-6 && (inside[1] - 2.3).abs() < 1e-6,
            "{inside:?}"
        );
        assert_eq!(Vec::<f32>::try_from(&live[0].1)?, vec![5.0, 5.0]);
        Ok(())
    }

    #[test]
    fn a_restored_shadow_must_name_the_runs_variables() -> TestResult {
        let live = vars(&[1.0]);
        let ema = Ema::new(0.9, &live);
        let saved = Ema::from_state_tensors(ema.state_tensors());
        assert!(Ema::restore(0.9, 3, &live, saved).is_ok());
        let other = vec![("v".to_string(), Tensor::from_slice(&[1.0f32]))];
        let e = Ema::restore(0.9, 3, &live, other)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("does not belong to this run"), "{e}");
        Ok(())
    }
}

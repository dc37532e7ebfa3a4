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

/// The averaged weights beside the live variables they follow, by variable name (sorted), and how many updates
/// they have had.
#[derive(Debug)]
pub struct Ema {
    decay: f64,
    updates: u64,
    /// (name, live variable, its average).
    vars: Vec<(String, Tensor, Tensor)>,
}

impl Ema {
    /// An average of `params` (name, live variable), equal to them now.
    pub fn new(decay: f64, params: Vec<(String, Tensor)>) -> Self {
        let mut vars: Vec<(String, Tensor, Tensor)> = tch::no_grad(|| {
            params
                .into_iter()
                .map(|(n, w)| {
                    let avg = w.detach().copy();
                    (n, w, avg)
                })
                .collect()
        });
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        Self {
            decay,
            updates: 0,
            vars,
        }
    }

    /// An average restored from the resume state: `saved` must name exactly the variables of `params`.
    pub fn restore(
        decay: f64,
        updates: u64,
        mut params: Vec<(String, Tensor)>,
        mut saved: Vec<(String, Tensor)>,
    ) -> Result<Self> {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        saved.sort_by(|a, b| a.0.cmp(&b.0));
        let names = |v: &[(String, Tensor)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        if names(&params) != names(&saved) {
            return Err(TrainError::Data(format!(
                "the saved weight average holds {} variables, the run trains {}: the state does not belong to this run",
                saved.len(),
                params.len()
            )));
        }
        let vars = params
            .into_iter()
            .zip(saved)
            .map(|((n, w), (_, avg))| {
                let avg = avg.to_device(w.device());
                (n, w, avg)
            })
            .collect();
        Ok(Self {
            decay,
            updates,
            vars,
        })
    }

    /// Updates taken so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// One update towards the live variables.
    pub fn update(&mut self) {
        let d = self.decay;
        tch::no_grad(|| {
            for (_, w, avg) in &mut self.vars {
                // avg = d·avg + (1 − d)·w
                let _ = avg.g_mul_scalar_(d);
                let _ = avg.g_add_(&(&*w * (1.0 - d)));
            }
        });
        self.updates += 1;
    }

    /// Puts the averaged weights into the live variables and returns the live values, for [`Ema::restore_live`].
    pub fn swap_in(&self) -> Vec<Tensor> {
        tch::no_grad(|| {
            let backup: Vec<Tensor> = self
                .vars
                .iter()
                .map(|(_, w, _)| w.detach().copy())
                .collect();
            for (_, w, avg) in &self.vars {
                w.shallow_clone().copy_(avg);
            }
            backup
        })
    }

    /// Puts back the live values [`Ema::swap_in`] returned.
    pub fn restore_live(&self, backup: &[Tensor]) {
        tch::no_grad(|| {
            for ((_, w, _), b) in self.vars.iter().zip(backup) {
                w.shallow_clone().copy_(b);
            }
        });
    }

    /// The average, for the resume state (`ema.<name>`).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.vars
            .iter()
            .map(|(n, _, avg)| (format!("ema.{n}"), avg.shallow_clone()))
            .collect()
    }

    /// The average's tensors from [`Ema::state_tensors`]' naming.
    pub fn from_state_tensors(tensors: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
        tensors
            .into_iter()
            .filter_map(|(n, t)| n.strip_prefix("ema.").map(|n| (n.to_string(), t)))
            .collect()
    }
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
        let mut ema = Ema::new(
            0.5,
            live.iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect(),
        );
        tch::no_grad(|| {
            let _ = live[0].1.shallow_clone().fill_(1.0);
        });
        ema.update(); // 0.5·[0, 10] + 0.5·1
        let s = Vec::<f32>::try_from(&ema.vars[0].2)?;
        assert!(
            (s[0] - 0.5).abs() < 1e-6 && (s[1] - 5.5).abs() < 1e-6,
            "{s:?}"
        );
        ema.update(); // 0.5·[0.5, 5.5] + 0.5·1
        let s = Vec::<f32>::try_from(&ema.vars[0].2)?;
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
        let mut ema = Ema::new(
            0.9,
            live.iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect(),
        );
        tch::no_grad(|| {
            let _ = live[0].1.shallow_clone().fill_(5.0);
        });
        ema.update(); // 0.9·[1, 2] + 0.1·5
        let backup = ema.swap_in();
        let inside = Vec::<f32>::try_from(&live[0].1)?;
        ema.restore_live(&backup);
        assert!(
            (inside[0] - 1.4).abs() < 1e-6 && (inside[1] - 2.3).abs() < 1e-6,
            "{inside:?}"
        );
        assert_eq!(Vec::<f32>::try_from(&live[0].1)?, vec![5.0, 5.0]);
        Ok(())
    }

    #[test]
    fn a_restored_shadow_must_name_the_runs_variables() -> TestResult {
        let ema = Ema::new(0.9, vars(&[1.0]));
        let saved = Ema::from_state_tensors(ema.state_tensors());
        assert!(Ema::restore(0.9, 3, vars(&[1.0]), saved).is_ok());
        let other = vec![("v".to_string(), Tensor::from_slice(&[1.0f32]))];
        let e = Ema::restore(0.9, 3, vars(&[1.0]), other)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("does not belong to this run"), "{e}");
        Ok(())
    }
}

//! AdamW and SGD with momentum over tch tensors, with parameter groups and state that can be saved and restored
//! exactly (for `--resume`), plus global-norm gradient clipping and a dynamic loss scaler for mixed precision.
//!
//! Written here rather than taken from `tch::nn::Optimizer` because its state (Adam moments, momentum buffers)
//! cannot be read back, so a resumed run could not continue bit for bit.
//!
//! State is keyed by variable name: `m.<name>`, `v.<name>` (AdamW), `buf.<name>` (SGD), `step.<name>`. Parameters
//! added later (fine-tune unfreezing the backbone) start with fresh state; the head's state carries on.

use std::collections::{BTreeMap, HashMap};

use tch::{Kind, Tensor};

use crate::params::OptimizerKind;
use crate::{Result, TrainError};

/// AdamW β1.
pub const BETA1: f64 = 0.9;
/// AdamW β2.
pub const BETA2: f64 = 0.999;
/// AdamW ε.
pub const ADAM_EPS: f64 = 1e-8;

/// Parameters that share an LR multiplier.
#[derive(Debug)]
pub struct ParamGroup {
    /// For logs: `head`, `backbone`, `all`.
    pub name: String,
    /// The group's LR is the schedule's LR times this.
    pub lr_scale: f64,
    /// Variables (name, tensor), each with `requires_grad` set.
    pub params: Vec<(String, Tensor)>,
}

#[derive(Debug)]
struct ParamState {
    step: i64,
    /// AdamW: first and second moments. SGD: the momentum buffer (one tensor).
    tensors: Vec<Tensor>,
}

/// AdamW or SGD over [`ParamGroup`]s.
#[derive(Debug)]
pub struct Optimizer {
    kind: OptimizerKind,
    weight_decay: f64,
    momentum: f64,
    nesterov: bool,
    groups: Vec<ParamGroup>,
    state: HashMap<String, ParamState>,
}

impl Optimizer {
    /// An optimiser with no groups yet.
    pub fn new(kind: OptimizerKind, weight_decay: f64, momentum: f64, nesterov: bool) -> Self {
        Self {
            kind,
            weight_decay,
            momentum,
            nesterov,
            groups: Vec::new(),
            state: HashMap::new(),
        }
    }

    /// Adds a group; its parameters get `requires_grad(true)`.
    pub fn add_group(&mut self, name: &str, lr_scale: f64, mut params: Vec<(String, Tensor)>) {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, t) in &params {
            let _ = t.set_requires_grad(true);
        }
        self.groups.push(ParamGroup {
            name: name.to_string(),
            lr_scale,
            params,
        });
    }

    /// The groups.
    pub fn groups(&self) -> &[ParamGroup] {
        &self.groups
    }

    /// Number of optimised scalars.
    pub fn numel(&self) -> usize {
        self.groups
            .iter()
            .flat_map(|g| &g.params)
            .map(|(_, t)| t.numel())
            .sum()
    }

    /// Clears every gradient.
    pub fn zero_grad(&mut self) {
        for g in &mut self.groups {
            for (_, t) in &mut g.params {
                t.zero_grad();
            }
        }
    }

    fn grads(&self) -> impl Iterator<Item = Tensor> + '_ {
        self.groups
            .iter()
            .flat_map(|g| &g.params)
            .map(|(_, t)| t.grad())
            .filter(|g| g.defined())
    }

    /// The global L2 norm of all gradients.
    pub fn grad_norm(&self) -> f64 {
        let sq: Vec<Tensor> = self
            .grads()
            .map(|g| g.to_kind(Kind::Float).square().sum(Kind::Float))
            .collect();
        if sq.is_empty() {
            return 0.0;
        }
        Tensor::stack(&sq, 0)
            .sum(Kind::Float)
            .sqrt()
            .double_value(&[])
    }

    /// Multiplies every gradient by `factor`.
    pub fn scale_grads(&mut self, factor: f64) {
        tch::no_grad(|| {
            for mut g in self.grads().collect::<Vec<_>>() {
                let _ = g.g_mul_scalar_(factor);
            }
        });
    }

    /// Scales gradients down so that their global norm is at most `max_norm`; returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        let norm = self.grad_norm();
        if norm.is_finite() && norm > max_norm {
            self.scale_grads(max_norm / (norm + 1e-6));
        }
        norm
    }

    /// One update with schedule LR `lr` (each group uses `lr · lr_scale`).
    pub fn step(&mut self, lr: f64) {
        let (kind, wd, momentum, nesterov) =
            (self.kind, self.weight_decay, self.momentum, self.nesterov);
        tch::no_grad(|| {
            for group in &self.groups {
                let lr = lr * group.lr_scale;
                for (name, p) in &group.params {
                    let g = p.grad();
                    if !g.defined() {
                        continue;
                    }
                    // No decay on biases and normalisation parameters (1-d tensors).
                    let decay = if p.dim() > 1 { wd } else { 0.0 };
                    let state = self
                        .state
                        .entry(name.clone())
                        .or_insert_with(|| ParamState {
                            step: 0,
                            tensors: match kind {
                                OptimizerKind::Adamw => vec![p.zeros_like(), p.zeros_like()],
                                OptimizerKind::Sgd => vec![],
                            },
                        });
                    state.step += 1;
                    let mut p = p.shallow_clone();
                    match kind {
                        OptimizerKind::Adamw => {
                            adamw_update(&mut p, &g, state, lr, decay);
                        }
                        OptimizerKind::Sgd => {
                            sgd_update(&mut p, &g, state, lr, decay, momentum, nesterov);
                        }
                    }
                }
            }
        });
    }

    /// The optimiser state as named tensors (on the CPU), sorted by name.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        let names: BTreeMap<&String, &ParamState> = self.state.iter().collect();
        for (name, st) in names {
            out.push((format!("step.{name}"), Tensor::from(st.step)));
            let labels: &[&str] = match self.kind {
                OptimizerKind::Adamw => &["m", "v"],
                OptimizerKind::Sgd => &["buf"],
            };
            for (label, t) in labels.iter().zip(&st.tensors) {
                out.push((format!("{label}.{name}"), t.to_device(tch::Device::Cpu)));
            }
        }
        out
    }

    /// Restores state written by [`Optimizer::state_tensors`]; tensors are moved to each parameter's device.
    /// Every entry must name a parameter of some group with the right shape.
    pub fn load_state(&mut self, tensors: Vec<(String, Tensor)>) -> Result<()> {
        let mut params: HashMap<&str, &Tensor> = HashMap::new();
        for g in &self.groups {
            for (n, t) in &g.params {
                params.insert(n.as_str(), t);
            }
        }
        let mut by_name: HashMap<String, HashMap<String, Tensor>> = HashMap::new();
        for (key, t) in tensors {
            let Some((label, name)) = key.split_once('.') else {
                return Err(TrainError::Data(format!(
                    "optimizer state entry {key:?} has no prefix"
                )));
            };
            by_name
                .entry(name.to_string())
                .or_default()
                .insert(label.to_string(), t);
        }
        let mut state = HashMap::new();
        for (name, mut entries) in by_name {
            let Some(p) = params.get(name.as_str()) else {
                return Err(TrainError::Data(format!(
                    "optimizer state has `{name}`, which no parameter group holds (params changed since the run started?)"
                )));
            };
            let step = entries
                .remove("step")
                .map(|t| t.int64_value(&[]))
                .ok_or_else(|| TrainError::Data(format!("optimizer state lacks step.{name}")))?;
            let labels: &[&str] = match self.kind {
                OptimizerKind::Adamw => &["m", "v"],
                OptimizerKind::Sgd => &["buf"],
            };
            let mut ts = Vec::new();
            for label in labels {
                match entries.remove(*label) {
                    Some(t) if t.size() == p.size() => {
                        ts.push(t.to_device(p.device()).to_kind(p.kind()));
                    }
                    Some(t) => {
                        return Err(TrainError::Data(format!(
                            "optimizer state {label}.{name} has shape {:?}, the parameter {:?}",
                            t.size(),
                            p.size()
                        )));
                    }
                    None if *label == "buf" => {}
                    None => {
                        return Err(TrainError::Data(format!(
                            "optimizer state lacks {label}.{name} (saved by a different optimizer?)"
                        )));
                    }
                }
            }
            state.insert(name, ParamState { step, tensors: ts });
        }
        self.state = state;
        Ok(())
    }
}

fn adamw_update(p: &mut Tensor, g: &Tensor, state: &mut ParamState, lr: f64, decay: f64) {
    if decay > 0.0 {
        let _ = p.g_mul_scalar_(1.0 - lr * decay);
    }
    let t = state.step as i32;
    let (m, v) = state.tensors.split_at_mut(1);
    let m = &mut m[0];
    let v = &mut v[0];
    let _ = m.g_mul_scalar_(BETA1);
    let _ = m.g_add_(&(g * (1.0 - BETA1)));
    let _ = v.g_mul_scalar_(BETA2);
    let _ = v.g_add_(&(g.square() * (1.0 - BETA2)));
    let bias1 = 1.0 - BETA1.powi(t);
    let bias2 = 1.0 - BETA2.powi(t);
    let denom = v.sqrt() / bias2.sqrt() + ADAM_EPS;
    let _ = p.g_sub_(&(&*m / denom * (lr / bias1)));
}

fn sgd_update(
    p: &mut Tensor,
    g: &Tensor,
    state: &mut ParamState,
    lr: f64,
    decay: f64,
    momentum: f64,
    nesterov: bool,
) {
    let d = if decay > 0.0 {
        g + &*p * decay
    } else {
        g.shallow_clone()
    };
    let d = if momentum > 0.0 {
        if state.tensors.is_empty() {
            state.tensors.push(d.copy());
        } else {
            let buf = &mut state.tensors[0];
            let _ = buf.g_mul_scalar_(momentum);
            let _ = buf.g_add_(&d);
        }
        let buf = &state.tensors[0];
        if nesterov {
            d + buf * momentum
        } else {
            buf.shallow_clone()
        }
    } else {
        d
    };
    let _ = p.g_sub_(&(d * lr));
}

/// Dynamic loss scaling for float16 autocast (as `torch.cuda.amp.GradScaler`): multiply the loss by `scale`,
/// divide the gradients back, skip steps whose gradients overflowed and halve the scale; double it after
/// `growth_interval` clean steps.
#[derive(Debug, Clone)]
pub struct LossScaler {
    /// The current scale.
    pub scale: f64,
    growth_interval: u32,
    clean_steps: u32,
}

impl Default for LossScaler {
    fn default() -> Self {
        Self {
            scale: 65536.0,
            growth_interval: 2000,
            clean_steps: 0,
        }
    }
}

impl LossScaler {
    /// A scaler starting at `scale`.
    pub fn with_scale(scale: f64) -> Self {
        Self {
            scale,
            ..Self::default()
        }
    }

    /// Unscales the gradients; returns false (and lowers the scale) when they are not finite, meaning: skip this
    /// step.
    pub fn unscale(&mut self, opt: &mut Optimizer) -> bool {
        opt.scale_grads(1.0 / self.scale);
        let finite = opt.grad_norm().is_finite();
        if finite {
            self.clean_steps += 1;
            if self.clean_steps >= self.growth_interval {
                self.scale *= 2.0;
                self.clean_steps = 0;
            }
        } else {
            self.scale = (self.scale / 2.0).max(1.0);
            self.clean_steps = 0;
        }
        finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn param(values: &[f32]) -> Tensor {
        Tensor::from_slice(values)
            .view([1, values.len() as i64])
            .set_requires_grad(true)
    }

    /// The update rule of `torch.optim.AdamW` (betas 0.9/0.999, eps 1e-8, decoupled decay) applied by hand in f64
    /// to p = [1, -2], loss = sum(p²), lr 0.1, weight decay 0.01, three steps.
    #[test]
    fn adamw_matches_the_update_rule() {
        let p = param(&[1.0, -2.0]);
        let mut opt = Optimizer::new(OptimizerKind::Adamw, 0.01, 0.0, false);
        opt.add_group("all", 1.0, vec![("w".into(), p.shallow_clone())]);
        let (mut m, mut v) = ([0f64; 2], [0f64; 2]);
        let mut expect = [1f64, -2.0];
        for t in 1..=3 {
            opt.zero_grad();
            p.square().sum(Kind::Float).backward();
            opt.step(0.1);
            for i in 0..2 {
                let g = 2.0 * expect[i];
                expect[i] *= 1.0 - 0.1 * 0.01;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                let mh = m[i] / (1.0 - 0.9f64.powi(t));
                let vh = v[i] / (1.0 - 0.999f64.powi(t));
                expect[i] -= 0.1 * mh / (vh.sqrt() + 1e-8);
            }
        }
        let got: Vec<f32> = p.flatten(0, -1).try_into().unwrap_or_default();
        for (g, e) in got.iter().zip(expect) {
            assert!((f64::from(*g) - e).abs() < 1e-6, "{got:?} vs {expect:?}");
        }
    }

    #[test]
    fn sgd_nesterov_matches_the_update_rule() {
        let p = param(&[3.0, 1.0]);
        let mut opt = Optimizer::new(OptimizerKind::Sgd, 0.0, 0.9, true);
        opt.add_group("all", 0.5, vec![("w".into(), p.shallow_clone())]);
        let mut expect = [3f64, 1.0];
        let mut buf = [0f64; 2];
        for t in 0..3 {
            opt.zero_grad();
            p.square().sum(Kind::Float).backward();
            opt.step(0.2); // group lr 0.1
            for i in 0..2 {
                let g = 2.0 * expect[i];
                buf[i] = if t == 0 { g } else { 0.9 * buf[i] + g };
                expect[i] -= 0.1 * (g + 0.9 * buf[i]);
            }
        }
        let got: Vec<f32> = p.flatten(0, -1).try_into().unwrap_or_default();
        for (g, e) in got.iter().zip(expect) {
            assert!((f64::from(*g) - e).abs() < 1e-5, "{got:?} vs {expect:?}");
        }
    }

    #[test]
    fn state_round_trip_continues_identically() -> Result<()> {
        let run = |split: bool| -> Result<Vec<f32>> {
            let p = param(&[0.5, -1.5, 2.0]);
            let make = |p: &Tensor| {
                let mut o = Optimizer::new(OptimizerKind::Adamw, 0.05, 0.0, false);
                o.add_group("all", 1.0, vec![("w".into(), p.shallow_clone())]);
                o
            };
            let mut opt = make(&p);
            for i in 0..6 {
                if split && i == 3 {
                    let saved = opt.state_tensors();
                    opt = make(&p);
                    opt.load_state(saved)?;
                }
                opt.zero_grad();
                (&p * &p * &p).sum(Kind::Float).backward();
                opt.step(0.05);
            }
            Ok(p.flatten(0, -1).try_into().unwrap_or_default())
        };
        assert_eq!(run(false)?, run(true)?);
        Ok(())
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let p = param(&[3.0, 4.0]);
        let mut opt = Optimizer::new(OptimizerKind::Sgd, 0.0, 0.0, false);
        opt.add_group("all", 1.0, vec![("w".into(), p.shallow_clone())]);
        (&p * 1.0).sum(Kind::Float).backward(); // grad [1, 1], norm √2
        let before = opt.clip_grad_norm(0.5);
        assert!((before - 2f64.sqrt()).abs() < 1e-6);
        assert!((opt.grad_norm() - 0.5).abs() < 1e-5);
        let _ = Device::Cpu;
    }
}

//! Learning-rate schedules, evaluated per optimiser step (so a resumed run gets the same LR at the same step).

use std::f64::consts::PI;

use crate::params::ScheduleKind;

/// One-cycle: fraction of the steps spent rising.
pub const ONECYCLE_PCT_START: f64 = 0.3;
/// One-cycle: start LR = peak / this.
pub const ONECYCLE_DIV: f64 = 25.0;
/// One-cycle: final LR = start LR / this.
pub const ONECYCLE_FINAL_DIV: f64 = 1e4;

/// A schedule over `total_steps` steps with peak `base_lr`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Shape.
    pub kind: ScheduleKind,
    /// Peak LR.
    pub base_lr: f64,
    /// Steps in the phase.
    pub total_steps: usize,
    /// Cosine: warm-up steps.
    pub warmup_steps: usize,
    /// Cosine: final LR as a fraction of the peak.
    pub min_factor: f64,
}

/// PyTorch's cosine annealing from `start` to `end` at fraction `pct` ∈ [0, 1].
fn cos_anneal(start: f64, end: f64, pct: f64) -> f64 {
    end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0)
}

impl Schedule {
    /// The LR of step `step` (0-based) of the phase.
    pub fn lr(&self, step: usize) -> f64 {
        let total = self.total_steps.max(1);
        let step = step.min(total - 1);
        match self.kind {
            ScheduleKind::Constant => self.base_lr,
            ScheduleKind::Cosine => {
                let warm = self.warmup_steps.min(total - 1);
                if step < warm {
                    self.base_lr * (step + 1) as f64 / (warm + 1) as f64
                } else {
                    let span = (total - warm).max(1);
                    let pct = if span <= 1 {
                        0.0
                    } else {
                        (step - warm) as f64 / (span - 1) as f64
                    };
                    cos_anneal(self.base_lr, self.base_lr * self.min_factor, pct)
                }
            }
            ScheduleKind::Onecycle => {
                let initial = self.base_lr / ONECYCLE_DIV;
                let last = initial / ONECYCLE_FINAL_DIV;
                let up = ((ONECYCLE_PCT_START * total as f64) as usize).max(1);
                if step < up {
                    cos_anneal(initial, self.base_lr, step as f64 / up as f64)
                } else {
                    let down = (total - up).max(1);
                    let pct = if down <= 1 {
                        1.0
                    } else {
                        (step - up) as f64 / (down - 1) as f64
                    };
                    cos_anneal(self.base_lr, last, pct)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_warms_up_then_decays_to_the_floor() {
        let s = Schedule {
            kind: ScheduleKind::Cosine,
            base_lr: 1.0,
            total_steps: 110,
            warmup_steps: 10,
            min_factor: 0.01,
        };
        assert!((s.lr(0) - 1.0 / 11.0).abs() < 1e-12);
        assert!(s.lr(5) < s.lr(9));
        assert!((s.lr(10) - 1.0).abs() < 1e-12);
        assert!(s.lr(60) < 0.6 && s.lr(60) > 0.4);
        assert!((s.lr(109) - 0.01).abs() < 1e-12);
        assert!((s.lr(500) - 0.01).abs() < 1e-12);
        for i in 10..109 {
            assert!(s.lr(i + 1) <= s.lr(i), "not decreasing at {i}");
        }
    }

    #[test]
    fn onecycle_rises_to_the_peak_at_30_percent() {
        let s = Schedule {
            kind: ScheduleKind::Onecycle,
            base_lr: 0.5,
            total_steps: 100,
            warmup_steps: 0,
            min_factor: 0.0,
        };
        assert!((s.lr(0) - 0.02).abs() < 1e-12);
        assert!((s.lr(30) - 0.5).abs() < 1e-12);
        assert!((s.lr(99) - 0.02 / 1e4).abs() < 1e-12);
        assert!(s.lr(15) > s.lr(5) && s.lr(60) < s.lr(40));
    }

    #[test]
    fn constant_is_constant() {
        let s = Schedule {
            kind: ScheduleKind::Constant,
            base_lr: 0.3,
            total_steps: 5,
            warmup_steps: 2,
            min_factor: 0.1,
        };
        assert!((0..8).all(|i| s.lr(i) == 0.3));
    }
}

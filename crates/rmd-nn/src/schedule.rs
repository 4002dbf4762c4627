//! Learning-rate schedules as pure functions of the step, so a resumed run continues on
//! exactly the same curve.

use serde::{Deserialize, Serialize};

/// Cosine decay from `peak` to 0 over `total` steps, after a linear warm-up of `warmup`
/// steps from `peak / warmup` to `peak`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CosineSchedule {
    /// Peak learning rate.
    pub peak: f64,
    /// Warm-up steps.
    pub warmup: usize,
    /// Total steps.
    pub total: usize,
}

impl CosineSchedule {
    /// Learning rate at `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        let span = (self.total - self.warmup).max(1) as f64;
        let t = ((step - self.warmup) as f64 / span).min(1.0);
        0.5 * self.peak * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// The SGD every training stage uses (and the step benchmarks measure): momentum with
/// dampening 0, as in PyTorch, and L2 weight decay.
pub fn sgd(momentum: f64, weight_decay: f64) -> burn::optim::ModuleOptimizer {
    use burn::optim::SgdConfig;
    use burn::optim::decay::WeightDecayConfig;
    use burn::optim::momentum::MomentumConfig;
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(momentum).with_dampening(0.0)))
        .with_weight_decay(Some(WeightDecayConfig::new(weight_decay as f32)))
        .init()
}

/// Shared checks of SGD settings: lr > 0 and finite, momentum in [0, 1), weight decay ≥ 0.
pub fn check_sgd(lr: f64, momentum: f64, weight_decay: f64) -> Result<(), String> {
    if !(lr.is_finite() && lr > 0.0) {
        return Err(format!("learning rate {lr} must be a finite number > 0"));
    }
    if !(0.0..1.0).contains(&momentum) {
        return Err(format!("momentum {momentum} must be in [0, 1)"));
    }
    if !(weight_decay.is_finite() && weight_decay >= 0.0) {
        return Err(format!("weight decay {weight_decay} must be a finite number ≥ 0"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let s = CosineSchedule { peak: 0.1, warmup: 10, total: 110 };
        assert!((s.lr(0) - 0.01).abs() < 1e-12);
        assert!((s.lr(9) - 0.1).abs() < 1e-12);
        assert!((s.lr(10) - 0.1).abs() < 1e-12);
        assert!((s.lr(60) - 0.05).abs() < 1e-12);
        assert!(s.lr(109) < 0.001);
        let no_warm = CosineSchedule { peak: 0.2, warmup: 0, total: 4 };
        assert!((no_warm.lr(0) - 0.2).abs() < 1e-12);
    }
}

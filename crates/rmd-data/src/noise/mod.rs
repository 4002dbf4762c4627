//! Label-noise models. Every model is deterministic for a given seed, maps clean labels to
//! noisy labels in one pass (no double flips), and reports the realised transition matrix.
//!
//! Names (recorded in artifacts exactly as written here):
//! * `sym`: with probability r the label is replaced by a class drawn uniformly from the
//!   *other* classes (actual rate ≈ r).
//! * `sym-incl`: replaced by a class drawn uniformly from *all* classes (the DivideMix/ELR
//!   convention; actual rate ≈ r·(C−1)/C).
//! * `asym` with map `cifar10`: truck→automobile, bird→airplane, deer→horse, cat↔dog, each
//!   sample of a source class flipped with probability r (classes matched by name).
//! * `asym` with map `block5` (CIFAR-100): the 100 classes in 20 blocks of 5 consecutive
//!   indices, each class flipped to the next in its block, circularly.
//! * `asym` with map `superclass` (CIFAR-100): the same circular flip within the true coarse
//!   superclasses (taken from the coarse labels).
//! * `pair`: class c → c+1 mod C with probability r (Co-teaching's pair flip).
//! * `instance`: instance-dependent noise of Xia et al. 2020 (part-dependent, "PDN").
//! * `file`: labels imported from a CSV or Parquet file (e.g. CIFAR-10N).

mod class_conditional;
mod instance;
mod label_file;
mod stage;

pub use class_conditional::{AsymMap, asym_targets};
pub use instance::instance_dependent;
pub use label_file::{LabelFileSpec, read_label_file};
pub use stage::{NOISE_SCHEMA_VERSION, NOISE_STAGE, NoiseLabels, NoiseRequest, run_noise_stage};

use crate::error::{DataError, Result};
use std::str::FromStr;

/// The noise models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseKind {
    /// Uniform over the other classes.
    Sym,
    /// Uniform over all classes.
    SymIncl,
    /// Class-dependent flips (map chosen by [`AsymMap`]).
    Asym,
    /// c → c+1 mod C.
    Pair,
    /// Instance-dependent (Xia et al. 2020).
    Instance,
    /// Imported from a file.
    File,
}

impl NoiseKind {
    /// All kinds, in documentation order.
    pub const ALL: [NoiseKind; 6] = [
        NoiseKind::Sym,
        NoiseKind::SymIncl,
        NoiseKind::Asym,
        NoiseKind::Pair,
        NoiseKind::Instance,
        NoiseKind::File,
    ];

    /// The recorded name.
    pub fn name(self) -> &'static str {
        match self {
            NoiseKind::Sym => "sym",
            NoiseKind::SymIncl => "sym-incl",
            NoiseKind::Asym => "asym",
            NoiseKind::Pair => "pair",
            NoiseKind::Instance => "instance",
            NoiseKind::File => "file",
        }
    }
}

impl FromStr for NoiseKind {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        NoiseKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            DataError::invalid(format!(
                "unknown noise '{s}': expected one of {}",
                NoiseKind::ALL.map(|k| k.name()).join(", ")
            ))
        })
    }
}

/// The realised effect of a noise model.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseOutcome {
    /// Noisy label per training sample.
    pub noisy: Vec<u16>,
    /// `counts[true][noisy]`.
    pub counts: Vec<Vec<u64>>,
}

impl NoiseOutcome {
    /// Tallies the transition counts of `noisy` against `clean`.
    pub fn new(clean: &[u16], noisy: Vec<u16>, num_classes: usize) -> Self {
        let mut counts = vec![vec![0u64; num_classes]; num_classes];
        for (&c, &n) in clean.iter().zip(&noisy) {
            counts[c as usize][n as usize] += 1;
        }
        NoiseOutcome { noisy, counts }
    }

    /// Number of samples whose label changed.
    pub fn num_noisy(&self) -> u64 {
        self.counts.iter().enumerate().map(|(i, row)| row.iter().sum::<u64>() - row[i]).sum()
    }

    /// Fraction of all samples whose label changed.
    pub fn actual_rate(&self) -> f64 {
        let total: u64 = self.counts.iter().flatten().sum();
        if total == 0 { 0.0 } else { self.num_noisy() as f64 / total as f64 }
    }

    /// Per true class: fraction of its samples whose label changed.
    pub fn per_class_rate(&self) -> Vec<f64> {
        self.counts
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let n: u64 = row.iter().sum();
                if n == 0 { 0.0 } else { (n - row[i]) as f64 / n as f64 }
            })
            .collect()
    }

    /// Row-normalised transition matrix (rows = true class).
    pub fn transition(&self) -> Vec<Vec<f64>> {
        self.counts
            .iter()
            .map(|row| {
                let n: u64 = row.iter().sum();
                row.iter().map(|&c| if n == 0 { 0.0 } else { c as f64 / n as f64 }).collect()
            })
            .collect()
    }
}

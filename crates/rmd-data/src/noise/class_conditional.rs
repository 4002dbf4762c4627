//! Class-conditional noise: sym, sym-incl, pair and the asym maps.

use crate::error::{DataError, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::str::FromStr;

/// Which class-dependent map `asym` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsymMap {
    /// CIFAR-10: truck→automobile, bird→airplane, deer→horse, cat↔dog.
    Cifar10,
    /// CIFAR-100: next class within blocks of 5 consecutive indices, circularly.
    Block5,
    /// CIFAR-100: next class within the true coarse superclass, circularly.
    Superclass,
}

impl AsymMap {
    /// All maps.
    pub const ALL: [AsymMap; 3] = [AsymMap::Cifar10, AsymMap::Block5, AsymMap::Superclass];

    /// The recorded name.
    pub fn name(self) -> &'static str {
        match self {
            AsymMap::Cifar10 => "cifar10",
            AsymMap::Block5 => "block5",
            AsymMap::Superclass => "superclass",
        }
    }

    /// The default map for a dataset: `cifar10` for 10 classes, `block5` for 100.
    pub fn default_for(num_classes: usize) -> Option<AsymMap> {
        match num_classes {
            10 => Some(AsymMap::Cifar10),
            100 => Some(AsymMap::Block5),
            _ => None,
        }
    }
}

impl FromStr for AsymMap {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        AsymMap::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            DataError::invalid(format!("unknown asym map '{s}': expected cifar10, block5 or superclass"))
        })
    }
}

/// For each class, the class it flips to under `map` (None: never flipped).
pub fn asym_targets(
    map: AsymMap,
    classes: &[String],
    fine: &[u16],
    coarse: Option<&[u16]>,
) -> Result<Vec<Option<u16>>> {
    let c = classes.len();
    match map {
        AsymMap::Cifar10 => {
            let find = |name: &str| {
                classes.iter().position(|x| x == name).map(|i| i as u16).ok_or_else(|| {
                    DataError::invalid(format!(
                        "asym map cifar10 needs the CIFAR-10 classes truck, automobile, bird, airplane, deer, \
                         horse, cat, dog; this dataset has no class '{name}' (classes: {})",
                        classes.join(", ")
                    ))
                })
            };
            let mut t = vec![None; c];
            for (from, to) in [
                ("truck", "automobile"),
                ("bird", "airplane"),
                ("deer", "horse"),
                ("cat", "dog"),
                ("dog", "cat"),
            ] {
                t[find(from)? as usize] = Some(find(to)?);
            }
            Ok(t)
        }
        AsymMap::Block5 => {
            if c != 100 {
                return Err(DataError::invalid(format!(
                    "asym map block5 is defined for the 100 fine classes of CIFAR-100; this dataset has {c} classes"
                )));
            }
            Ok((0..c).map(|i| Some(((i / 5) * 5 + (i % 5 + 1) % 5) as u16)).collect())
        }
        AsymMap::Superclass => {
            let coarse = coarse.ok_or_else(|| {
                DataError::invalid(
                    "asym map superclass needs coarse labels (CIFAR-100); this dataset has none",
                )
            })?;
            let mut super_of: Vec<Option<u16>> = vec![None; c];
            for (i, (&f, &s)) in fine.iter().zip(coarse).enumerate() {
                match super_of[f as usize] {
                    None => super_of[f as usize] = Some(s),
                    Some(prev) if prev != s => {
                        return Err(DataError::invalid(format!(
                            "class {} appears under coarse classes {prev} and {s} (sample {i}): coarse labels are inconsistent",
                            classes[f as usize]
                        )));
                    }
                    _ => {}
                }
            }
            let mut t = vec![None; c];
            let supers: std::collections::BTreeSet<u16> = super_of.iter().flatten().copied().collect();
            for s in supers {
                let members: Vec<u16> = (0..c as u16).filter(|&f| super_of[f as usize] == Some(s)).collect();
                if members.len() < 2 {
                    continue;
                }
                for (k, &f) in members.iter().enumerate() {
                    t[f as usize] = Some(members[(k + 1) % members.len()]);
                }
            }
            Ok(t)
        }
    }
}

/// Flips each sample whose class has a target with probability `rate`.
pub(crate) fn flip_with_targets(clean: &[u16], targets: &[Option<u16>], rate: f64, seed: u64) -> Vec<u16> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    clean
        .iter()
        .map(|&y| {
            let flip = rng.random::<f64>() < rate;
            match targets[y as usize] {
                Some(t) if flip => t,
                _ => y,
            }
        })
        .collect()
}

/// `sym` (`include_true = false`) and `sym-incl` (`include_true = true`).
pub(crate) fn symmetric(
    clean: &[u16],
    num_classes: usize,
    rate: f64,
    include_true: bool,
    seed: u64,
) -> Vec<u16> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    clean
        .iter()
        .map(|&y| {
            if rng.random::<f64>() >= rate {
                return y;
            }
            if include_true {
                rng.random_range(0..num_classes as u16)
            } else {
                let k = rng.random_range(0..num_classes as u16 - 1);
                if k >= y { k + 1 } else { k }
            }
        })
        .collect()
}

/// Targets of the pair flip.
pub(crate) fn pair_targets(num_classes: usize) -> Vec<Option<u16>> {
    (0..num_classes).map(|c| Some(((c + 1) % num_classes) as u16)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::NoiseOutcome;

    fn cifar10_names() -> Vec<String> {
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn cifar10_asym_flips_only_the_source_classes_at_rate_r() {
        let clean: Vec<u16> = (0..100_000).map(|i| (i % 10) as u16).collect();
        let t = asym_targets(AsymMap::Cifar10, &cifar10_names(), &clean, None).unwrap();
        let noisy = flip_with_targets(&clean, &t, 0.4, 1);
        let o = NoiseOutcome::new(&clean, noisy.clone(), 10);
        assert!((o.actual_rate() - 0.2).abs() < 0.01, "{}", o.actual_rate());
        assert_eq!(o.counts[9][1] + o.counts[9][9], 10_000, "truck goes only to automobile");
        assert_eq!(o.counts[3][5] + o.counts[3][3], 10_000);
        assert_eq!(o.counts[5][3] + o.counts[5][5], 10_000);
        assert_eq!(o.counts[0][0], 10_000, "airplane is never a source");
        assert!((o.per_class_rate()[2] - 0.4).abs() < 0.02);
        assert_eq!(noisy, flip_with_targets(&clean, &t, 0.4, 1), "same seed, same labels");
        assert_ne!(noisy, flip_with_targets(&clean, &t, 0.4, 2));
    }

    #[test]
    fn sym_rates_match_their_definitions() {
        let clean: Vec<u16> = (0..200_000).map(|i| (i % 10) as u16).collect();
        let excl = NoiseOutcome::new(&clean, symmetric(&clean, 10, 0.5, false, 3), 10);
        assert!((excl.actual_rate() - 0.5).abs() < 0.005);
        let incl = NoiseOutcome::new(&clean, symmetric(&clean, 10, 0.5, true, 3), 10);
        assert!((incl.actual_rate() - 0.45).abs() < 0.005, "{}", incl.actual_rate());
        // off-diagonal mass is uniform
        let row = &excl.transition()[4];
        for (j, p) in row.iter().enumerate() {
            if j != 4 {
                assert!((p - 0.5 / 9.0).abs() < 0.01, "{row:?}");
            }
        }
    }

    #[test]
    fn block5_and_superclass_maps() {
        let names: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
        let t = asym_targets(AsymMap::Block5, &names, &[], None).unwrap();
        assert_eq!(t[0], Some(1));
        assert_eq!(t[4], Some(0));
        assert_eq!(t[99], Some(95));
        let err = asym_targets(AsymMap::Block5, &cifar10_names(), &[], None).unwrap_err().to_string();
        assert!(err.contains("block5") && err.contains("10 classes"), "{err}");

        // superclass s holds fine classes {s, s+20, s+40, s+60, s+80}
        let fine: Vec<u16> = (0..100).collect();
        let coarse: Vec<u16> = (0..100).map(|f| f % 20).collect();
        let t = asym_targets(AsymMap::Superclass, &names, &fine, Some(&coarse)).unwrap();
        assert_eq!(t[3], Some(23));
        assert_eq!(t[83], Some(3));
        assert!(asym_targets(AsymMap::Superclass, &names, &fine, None).is_err());
        assert!(asym_targets(AsymMap::Cifar10, &names, &fine, None).is_err());
    }

    #[test]
    fn pair_flips_to_next_class() {
        let clean: Vec<u16> = (0..50_000).map(|i| (i % 10) as u16).collect();
        let o = NoiseOutcome::new(&clean, flip_with_targets(&clean, &pair_targets(10), 0.45, 5), 10);
        assert_eq!(o.counts[9][0] + o.counts[9][9], 5_000);
        assert!((o.actual_rate() - 0.45).abs() < 0.01);
    }
}

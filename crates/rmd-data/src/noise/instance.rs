//! Instance-dependent noise after Xia et al., "Part-dependent label noise" (NeurIPS 2020),
//! as in their reference generator:
//!
//! 1. each sample n draws a flip rate q_n from N(r, 0.1²) truncated to [0, 1];
//! 2. each class y draws a projection W_y ∈ R^{S×C} with standard normal entries
//!    (S = pixels per image);
//! 3. with x_n the image standardised per channel (training-set mean and std),
//!    p = softmax(x_n·W_{y_n}) over the classes other than y_n, scaled by q_n, and the true
//!    class keeps 1 − q_n;
//! 4. the noisy label is drawn from p.
//!
//! Probabilities are computed in parallel (deterministically); all random draws come from
//! one seeded ChaCha stream in sample order.

use crate::augment::Normalizer;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Draws from N(mean, std²) truncated to [lo, hi] by rejection.
fn truncated_normal(rng: &mut ChaCha8Rng, mean: f64, std: f64, lo: f64, hi: f64) -> f64 {
    loop {
        let z: f64 = StandardNormal.sample(rng);
        let x = mean + std * z;
        if (lo..=hi).contains(&x) {
            return x;
        }
    }
}

/// Instance-dependent noisy labels for `clean` given images (`n × channels × pixels` u8).
pub fn instance_dependent(
    clean: &[u16],
    images: &[u8],
    channels: usize,
    num_classes: usize,
    rate: f64,
    seed: u64,
) -> Vec<u16> {
    let n = clean.len();
    let s = images.len() / n.max(1);
    let per_channel = s / channels;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let q: Vec<f64> = (0..n).map(|_| truncated_normal(&mut rng, rate, 0.1, 0.0, 1.0)).collect();
    // W[y][j][k], flattened.
    let w: Vec<f32> = (0..num_classes * s * num_classes)
        .map(|_| {
            let z: f64 = StandardNormal.sample(&mut rng);
            z as f32
        })
        .collect();

    let Normalizer { mean, std } = Normalizer::from_images(images, channels, per_channel);

    let probs: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let y = clean[i] as usize;
            let img = &images[i * s..(i + 1) * s];
            let wy = &w[y * s * num_classes..(y + 1) * s * num_classes];
            let mut a = vec![0f32; num_classes];
            for (j, &v) in img.iter().enumerate() {
                let ch = j / per_channel;
                let x = (v as f32 / 255.0 - mean[ch]) / std[ch];
                let row = &wy[j * num_classes..(j + 1) * num_classes];
                for k in 0..num_classes {
                    a[k] += x * row[k];
                }
            }
            let max = a
                .iter()
                .enumerate()
                .filter(|(k, _)| *k != y)
                .map(|(_, v)| *v as f64)
                .fold(f64::MIN, f64::max);
            let mut p: Vec<f64> = a
                .iter()
                .enumerate()
                .map(|(k, v)| if k == y { 0.0 } else { (*v as f64 - max).exp() })
                .collect();
            let z: f64 = p.iter().sum();
            for v in p.iter_mut() {
                *v *= q[i] / z;
            }
            p[y] = 1.0 - q[i];
            p
        })
        .collect();

    probs
        .iter()
        .zip(clean)
        .map(|(p, &y)| {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            for (k, pk) in p.iter().enumerate() {
                acc += pk;
                if u < acc {
                    return k as u16;
                }
            }
            y
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::NoiseOutcome;

    #[test]
    fn rate_is_close_to_nominal_and_flips_depend_on_the_image() {
        // Every image appears twice with the same label: an instance-dependent model sends
        // both copies to the same wrong class far more often than uniform noise (1/9) would.
        let unique = 2000;
        let s = 3 * 8 * 8;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let base: Vec<u8> = (0..unique * s).map(|_| rng.random::<u8>()).collect();
        let mut images = base.clone();
        images.extend_from_slice(&base);
        let clean: Vec<u16> = (0..2 * unique).map(|i| ((i % unique) % 10) as u16).collect();
        let noisy = instance_dependent(&clean, &images, 3, 10, 0.4, 9);
        let o = NoiseOutcome::new(&clean, noisy.clone(), 10);
        assert!((o.actual_rate() - 0.4).abs() < 0.03, "{}", o.actual_rate());
        assert_eq!(noisy, instance_dependent(&clean, &images, 3, 10, 0.4, 9), "seeded");
        let (mut both, mut same) = (0, 0);
        for i in 0..unique {
            let (a, b) = (noisy[i], noisy[i + unique]);
            if a != clean[i] && b != clean[i] {
                both += 1;
                same += (a == b) as usize;
            }
        }
        assert!(both > 50, "{both}");
        assert!(same as f64 / both as f64 > 0.8, "{same} of {both} doubly flipped pairs agree");
    }
}

//! Image augmentations on u8 batches, producing normalised f32 NCHW data ready for a tensor.
//!
//! Every image draws its random parameters from its own ChaCha stream, seeded from
//! `(seed, epoch, sample index, view)`: results do not depend on batch composition or on
//! thread scheduling, so runs and resumed runs are reproducible. Work is spread over
//! threads with rayon.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Per-channel normalisation: `(x/255 - mean) / std`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    /// Mean per channel, in [0, 1] units.
    pub mean: Vec<f32>,
    /// Standard deviation per channel.
    pub std: Vec<f32>,
}

impl Normalizer {
    /// Statistics of a set of images (`n × channels × pixels` bytes).
    ///
    /// The bytes are counted per channel and value (exact integers, so the images are
    /// counted in parallel in any order), then the sums are taken over the 256 values: a
    /// pass over the images at memory speed instead of one f64 addition per pixel. The
    /// sums are at least as accurate as adding pixel by pixel; rounded to f32 they give the
    /// same mean and std on CIFAR-10 (see [`Normalizer::from_images_sequential`]).
    pub fn from_images(images: &[u8], channels: usize, pixels: usize) -> Normalizer {
        let image_len = (channels * pixels).max(1);
        let counts = images
            .par_chunks(image_len * 256)
            .map(|block| {
                let mut counts = vec![[0u64; 256]; channels];
                for img in block.chunks_exact(image_len) {
                    for (ch, plane) in img.chunks_exact(pixels.max(1)).enumerate() {
                        for &v in plane {
                            counts[ch][v as usize] += 1;
                        }
                    }
                }
                counts
            })
            .reduce(
                || vec![[0u64; 256]; channels],
                |mut a, b| {
                    for (a, b) in a.iter_mut().zip(&b) {
                        a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                    }
                    a
                },
            );
        let mut sum = vec![0f64; channels];
        let mut sq = vec![0f64; channels];
        for (ch, hist) in counts.iter().enumerate() {
            for (v, &count) in hist.iter().enumerate() {
                let x = v as f64 / 255.0;
                sum[ch] += count as f64 * x;
                sq[ch] += count as f64 * (x * x);
            }
        }
        Self::from_sums(&sum, &sq, images.len(), channels)
    }

    /// The same statistics summed pixel by pixel in image order: the reference the counted
    /// version is checked against.
    pub fn from_images_sequential(images: &[u8], channels: usize, pixels: usize) -> Normalizer {
        let mut sum = vec![0f64; channels];
        let mut sq = vec![0f64; channels];
        for img in images.chunks_exact(channels * pixels) {
            for ch in 0..channels {
                for &v in &img[ch * pixels..(ch + 1) * pixels] {
                    let x = v as f64 / 255.0;
                    sum[ch] += x;
                    sq[ch] += x * x;
                }
            }
        }
        Self::from_sums(&sum, &sq, images.len(), channels)
    }

    /// Mean and std from per-channel sums of values and squares over `bytes` pixels.
    fn from_sums(sum: &[f64], sq: &[f64], bytes: usize, channels: usize) -> Normalizer {
        let n = (bytes / channels.max(1)) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = sq.iter().zip(&mean).map(|(s, m)| ((s / n - m * m).max(1e-12)).sqrt() as f32).collect();
        Normalizer { mean: mean.into_iter().map(|m| m as f32).collect(), std }
    }
}

/// Colour jitter strengths (torchvision semantics: factors drawn from [1−s, 1+s], hue shift
/// from [−h, h]), applied in a random order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorJitter {
    /// Brightness strength.
    pub brightness: f32,
    /// Contrast strength.
    pub contrast: f32,
    /// Saturation strength.
    pub saturation: f32,
    /// Hue shift (fraction of the colour circle).
    pub hue: f32,
}

/// The SimSiam augmentation pipeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimSiamAugment {
    /// Random resized crop: area scale range.
    pub crop_scale: (f32, f32),
    /// Random resized crop: aspect-ratio range.
    pub crop_ratio: (f32, f32),
    /// Probability of a horizontal flip.
    pub flip_p: f32,
    /// Colour jitter strengths.
    pub jitter: ColorJitter,
    /// Probability of applying the colour jitter.
    pub jitter_p: f32,
    /// Probability of converting to grayscale.
    pub grayscale_p: f32,
}

impl Default for SimSiamAugment {
    /// The SimSiam paper's CIFAR recipe.
    fn default() -> Self {
        SimSiamAugment {
            crop_scale: (0.2, 1.0),
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip_p: 0.5,
            jitter: ColorJitter { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
            jitter_p: 0.8,
            grayscale_p: 0.2,
        }
    }
}

/// Geometry of the images of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageShape {
    /// Channels (1 or 3).
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
}

impl ImageShape {
    /// Values per image.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// True for a zero-sized image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// SplitMix64 finaliser, to derive independent per-image seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random stream of one image in one view of one epoch.
pub fn image_rng(seed: u64, epoch: u64, index: u32, view: u32) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(mix(mix(seed) ^ epoch) ^ ((index as u64) << 8 | view as u64)))
}

/// Normalises a batch without augmentation (evaluation, embedding).
pub fn normalize_batch(images: &[u8], shape: ImageShape, norm: &Normalizer) -> Vec<f32> {
    let pixels = shape.height * shape.width;
    let mut out = vec![0f32; images.len()];
    out.par_chunks_mut(shape.len()).zip(images.par_chunks(shape.len())).for_each(|(o, img)| {
        for (j, (o, &v)) in o.iter_mut().zip(img).enumerate() {
            let ch = j / pixels;
            *o = (v as f32 / 255.0 - norm.mean[ch]) / norm.std[ch];
        }
    });
    out
}

/// Applies the SimSiam augmentation to every image of a batch (`indices` are the samples'
/// dataset indices, used to seed each image's randomness).
pub fn simsiam_batch(
    images: &[u8],
    indices: &[u32],
    shape: ImageShape,
    aug: &SimSiamAugment,
    norm: &Normalizer,
    stream: Stream,
) -> Vec<f32> {
    let mut out = vec![0f32; images.len()];
    out.par_chunks_mut(shape.len()).zip(images.par_chunks(shape.len())).zip(indices.par_iter()).for_each(
        |((o, img), &idx)| {
            let mut rng = image_rng(stream.seed, stream.epoch, idx, stream.view);
            augment_one(img, o, shape, aug, &mut rng);
            normalize_in_place(o, shape, norm);
        },
    );
    out
}

/// Which random stream a batch augmentation draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    /// The run's seed.
    pub seed: u64,
    /// The epoch.
    pub epoch: u64,
    /// The view (SimSiam draws two views of every image).
    pub view: u32,
}

/// Standard supervised augmentation: random crop with zero padding `pad`, then a horizontal
/// flip with probability 1/2.
pub fn crop_flip_batch(
    images: &[u8],
    indices: &[u32],
    shape: ImageShape,
    pad: usize,
    norm: &Normalizer,
    stream: Stream,
) -> Vec<f32> {
    let (h, w) = (shape.height, shape.width);
    let pixels = h * w;
    let mut out = vec![0f32; images.len()];
    out.par_chunks_mut(shape.len()).zip(images.par_chunks(shape.len())).zip(indices.par_iter()).for_each(
        |((o, img), &idx)| {
            let mut rng = image_rng(stream.seed, stream.epoch, idx, stream.view);
            let dy = rng.random_range(0..=2 * pad) as isize - pad as isize;
            let dx = rng.random_range(0..=2 * pad) as isize - pad as isize;
            let flip = rng.random::<f32>() < 0.5;
            for ch in 0..shape.channels {
                let fill = (0.0 - norm.mean[ch]) / norm.std[ch];
                for y in 0..h {
                    for x in 0..w {
                        let sx = if flip { w - 1 - x } else { x } as isize + dx;
                        let sy = y as isize + dy;
                        o[ch * pixels + y * w + x] =
                            if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                                fill
                            } else {
                                let v = img[ch * pixels + sy as usize * w + sx as usize] as f32 / 255.0;
                                (v - norm.mean[ch]) / norm.std[ch]
                            };
                    }
                }
            }
        },
    );
    out
}

fn normalize_in_place(o: &mut [f32], shape: ImageShape, norm: &Normalizer) {
    let pixels = shape.height * shape.width;
    for (j, v) in o.iter_mut().enumerate() {
        let ch = j / pixels;
        *v = (*v - norm.mean[ch]) / norm.std[ch];
    }
}

/// Picks a crop box (top, left, height, width) as torchvision's RandomResizedCrop does.
fn crop_box(rng: &mut ChaCha8Rng, h: usize, w: usize, aug: &SimSiamAugment) -> (f32, f32, f32, f32) {
    let area = (h * w) as f32;
    let (lr0, lr1) = (aug.crop_ratio.0.ln(), aug.crop_ratio.1.ln());
    for _ in 0..10 {
        let target = area * rng.random_range(aug.crop_scale.0..=aug.crop_scale.1);
        let ratio = rng.random_range(lr0..=lr1).exp();
        let cw = (target * ratio).sqrt().round();
        let ch = (target / ratio).sqrt().round();
        if cw >= 1.0 && ch >= 1.0 && cw <= w as f32 && ch <= h as f32 {
            let top = rng.random_range(0..=(h - ch as usize)) as f32;
            let left = rng.random_range(0..=(w - cw as usize)) as f32;
            return (top, left, ch, cw);
        }
    }
    // Fallback: the whole image (its aspect ratio is within any sensible range here).
    (0.0, 0.0, h as f32, w as f32)
}

/// Bilinear sample of channel plane `plane` (h×w u8) at (y, x) in pixel-centre coordinates.
fn bilinear(plane: &[u8], h: usize, w: usize, y: f32, x: f32) -> f32 {
    let y = y.clamp(0.0, (h - 1) as f32);
    let x = x.clamp(0.0, (w - 1) as f32);
    let (y0, x0) = (y.floor() as usize, x.floor() as usize);
    let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
    let (fy, fx) = (y - y0 as f32, x - x0 as f32);
    let p = |yy: usize, xx: usize| plane[yy * w + xx] as f32;
    let top = p(y0, x0) * (1.0 - fx) + p(y0, x1) * fx;
    let bot = p(y1, x0) * (1.0 - fx) + p(y1, x1) * fx;
    (top * (1.0 - fy) + bot * fy) / 255.0
}

fn augment_one(img: &[u8], out: &mut [f32], shape: ImageShape, aug: &SimSiamAugment, rng: &mut ChaCha8Rng) {
    let (h, w, c) = (shape.height, shape.width, shape.channels);
    let pixels = h * w;
    let (top, left, ch, cw) = crop_box(rng, h, w, aug);
    let flip = rng.random::<f32>() < aug.flip_p;
    let (sy, sx) = (ch / h as f32, cw / w as f32);
    for k in 0..c {
        let plane = &img[k * pixels..(k + 1) * pixels];
        for y in 0..h {
            let src_y = top + (y as f32 + 0.5) * sy - 0.5;
            for x in 0..w {
                let xx = if flip { w - 1 - x } else { x };
                let src_x = left + (xx as f32 + 0.5) * sx - 0.5;
                out[k * pixels + y * w + x] = bilinear(plane, h, w, src_y, src_x);
            }
        }
    }
    if rng.random::<f32>() < aug.jitter_p {
        let j = aug.jitter;
        let mut order = [0u8, 1, 2, 3];
        for i in (1..4).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let b = rng.random_range((1.0 - j.brightness).max(0.0)..=1.0 + j.brightness);
        let ct = rng.random_range((1.0 - j.contrast).max(0.0)..=1.0 + j.contrast);
        let s = rng.random_range((1.0 - j.saturation).max(0.0)..=1.0 + j.saturation);
        let hue = rng.random_range(-j.hue..=j.hue);
        for op in order {
            match op {
                0 => out.iter_mut().for_each(|v| *v = (*v * b).clamp(0.0, 1.0)),
                1 => {
                    let m = mean_gray(out, c, pixels);
                    out.iter_mut().for_each(|v| *v = ((*v - m) * ct + m).clamp(0.0, 1.0));
                }
                2 if c == 3 => saturate(out, pixels, s),
                3 if c == 3 => shift_hue(out, pixels, hue),
                _ => {}
            }
        }
    }
    if c == 3 && rng.random::<f32>() < aug.grayscale_p {
        saturate(out, pixels, 0.0);
    }
}

fn gray(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

fn mean_gray(img: &[f32], c: usize, pixels: usize) -> f32 {
    if c == 3 {
        (0..pixels).map(|i| gray(img[i], img[pixels + i], img[2 * pixels + i])).sum::<f32>() / pixels as f32
    } else {
        img.iter().sum::<f32>() / img.len() as f32
    }
}

/// Blends each pixel with its grayscale value: factor 0 gives gray, 1 the original.
fn saturate(img: &mut [f32], pixels: usize, factor: f32) {
    for i in 0..pixels {
        let g = gray(img[i], img[pixels + i], img[2 * pixels + i]);
        for k in 0..3 {
            let v = &mut img[k * pixels + i];
            *v = ((*v - g) * factor + g).clamp(0.0, 1.0);
        }
    }
}

/// Rotates hue by `shift` (fraction of the circle) through HSV.
fn shift_hue(img: &mut [f32], pixels: usize, shift: f32) {
    for i in 0..pixels {
        let (r, g, b) = (img[i], img[pixels + i], img[2 * pixels + i]);
        let max = r.max(g).max(b);
        let min = r.min(g).min(b);
        let d = max - min;
        if d <= 0.0 {
            continue;
        }
        let mut hh = if max == r {
            ((g - b) / d).rem_euclid(6.0)
        } else if max == g {
            (b - r) / d + 2.0
        } else {
            (r - g) / d + 4.0
        } / 6.0;
        hh = (hh + shift).rem_euclid(1.0);
        let (s, v) = (d / max, max);
        let h6 = hh * 6.0;
        let f = h6 - h6.floor();
        let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
        let (nr, ng, nb) = match h6.floor() as i32 % 6 {
            0 => (v, t, p),
            1 => (q, v, p),
            2 => (p, v, t),
            3 => (p, q, v),
            4 => (t, p, v),
            _ => (v, p, q),
        };
        img[i] = nr;
        img[pixels + i] = ng;
        img[2 * pixels + i] = nb;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(seed: u64, epoch: u64, view: u32) -> Stream {
        Stream { seed, epoch, view }
    }

    fn batch(n: usize, shape: ImageShape) -> (Vec<u8>, Vec<u32>) {
        let imgs = (0..n * shape.len()).map(|i| ((i * 37) % 256) as u8).collect();
        (imgs, (0..n as u32).collect())
    }

    #[test]
    fn augmentation_is_seeded_per_image_and_views_differ() {
        let shape = ImageShape { channels: 3, height: 32, width: 32 };
        let (imgs, idx) = batch(8, shape);
        let norm = Normalizer { mean: vec![0.5; 3], std: vec![0.25; 3] };
        let aug = SimSiamAugment::default();
        let a = simsiam_batch(&imgs, &idx, shape, &aug, &norm, st(1, 0, 0));
        assert_eq!(a, simsiam_batch(&imgs, &idx, shape, &aug, &norm, st(1, 0, 0)));
        assert_ne!(a, simsiam_batch(&imgs, &idx, shape, &aug, &norm, st(1, 0, 1)), "two views differ");
        assert_ne!(a, simsiam_batch(&imgs, &idx, shape, &aug, &norm, st(1, 1, 0)), "epochs differ");
        // An image's augmentation does not depend on its batch neighbours.
        let one =
            simsiam_batch(&imgs[3 * shape.len()..4 * shape.len()], &[3], shape, &aug, &norm, st(1, 0, 0));
        assert_eq!(&a[3 * shape.len()..4 * shape.len()], &one[..]);
        assert!(a.iter().all(|v| v.is_finite()));
        // Normalised range: [0,1] maps to [-2, 2].
        assert!(a.iter().all(|v| (-2.0001..=2.0001).contains(v)));
    }

    #[test]
    fn identity_settings_reproduce_the_normalised_image() {
        let shape = ImageShape { channels: 3, height: 8, width: 8 };
        let (imgs, idx) = batch(2, shape);
        let norm = Normalizer { mean: vec![0.0; 3], std: vec![1.0; 3] };
        let aug = SimSiamAugment {
            crop_scale: (1.0, 1.0),
            crop_ratio: (1.0, 1.0),
            flip_p: 0.0,
            jitter_p: 0.0,
            grayscale_p: 0.0,
            ..Default::default()
        };
        let a = simsiam_batch(&imgs, &idx, shape, &aug, &norm, st(5, 0, 0));
        let plain = normalize_batch(&imgs, shape, &norm);
        for (x, y) in a.iter().zip(&plain) {
            assert!((x - y).abs() < 1e-5);
        }
        let gray = SimSiamAugment { grayscale_p: 1.0, ..aug };
        let g = simsiam_batch(&imgs, &idx, shape, &gray, &norm, st(5, 0, 0));
        assert!((g[0] - g[64]).abs() < 1e-6 && (g[64] - g[128]).abs() < 1e-6, "channels equal");
    }

    #[test]
    fn hue_shift_by_a_full_turn_is_identity_and_single_channel_works() {
        let mut img = vec![0.9f32, 0.2, 0.4, 0.1, 0.5, 0.7];
        let orig = img.clone();
        shift_hue(&mut img, 2, 1.0);
        for (a, b) in img.iter().zip(&orig) {
            assert!((a - b).abs() < 1e-5);
        }
        let shape = ImageShape { channels: 1, height: 28, width: 28 };
        let (imgs, idx) = batch(4, shape);
        let norm = Normalizer::from_images(&imgs, 1, 784);
        let out = simsiam_batch(&imgs, &idx, shape, &SimSiamAugment::default(), &norm, st(1, 0, 0));
        assert_eq!(out.len(), imgs.len());
        assert!(out.iter().all(|v| v.is_finite()));
    }

    /// Counting the byte values gives the pixel-by-pixel sums' f32 statistics, for grey and
    /// colour images, skewed and uniform values.
    #[test]
    fn counted_statistics_equal_the_sequential_sums() {
        for (channels, pixels, n) in [(1, 784, 300), (3, 1024, 500), (3, 64, 7)] {
            let mut state = 12345u64;
            let images: Vec<u8> = (0..channels * pixels * n)
                .map(|i| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let r = (state >> 33) as u8;
                    if i % 3 == 0 { r / 4 } else { r }
                })
                .collect();
            assert_eq!(
                Normalizer::from_images(&images, channels, pixels),
                Normalizer::from_images_sequential(&images, channels, pixels),
                "{channels} channels, {pixels} pixels, {n} images"
            );
        }
    }

    #[test]
    fn crop_flip_pads_with_zero_intensity() {
        let shape = ImageShape { channels: 1, height: 4, width: 4 };
        let imgs = vec![255u8; 16];
        let norm = Normalizer { mean: vec![0.0], std: vec![1.0] };
        let outs: Vec<Vec<f32>> =
            (0..20).map(|e| crop_flip_batch(&imgs, &[0], shape, 2, &norm, st(3, e, 0))).collect();
        assert!(outs.iter().any(|o| o.contains(&0.0)), "some crop reaches the padding");
        assert!(outs.iter().all(|o| o.iter().all(|v| *v == 0.0 || *v == 1.0)));
    }
}

//! Embedding a split with a frozen encoder, and the weighted kNN classifier used as the
//! representation monitor (Wu et al. 2018: k neighbours by cosine similarity, votes
//! weighted by exp(sim / T)).

use crate::models::ResNet;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;
use rmd_data::Split;
use rmd_data::augment::{ImageShape, Normalizer, normalize_batch};

/// L2-normalised embeddings of the images at `indices` (row-major `[n, d]`), computed in
/// evaluation mode in batches of `batch`.
pub fn embed(
    encoder: &ResNet,
    split: &Split,
    indices: &[u32],
    shape: ImageShape,
    norm: &Normalizer,
    device: &Device,
    batch: usize,
) -> (Vec<f32>, usize) {
    let encoder = encoder.valid();
    let mut out = Vec::new();
    let mut dim = 0;
    for chunk in indices.chunks(batch) {
        let f = encoder.forward(eval_batch(split, chunk, shape, norm, device));
        let f = f.clone() / f.powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
        dim = f.dims()[1];
        out.extend(f.into_data().try_to_vec::<f32>().expect("f32 features"));
    }
    (out, dim)
}

/// The images at `indices`, normalised without augmentation, as a `[n, c, h, w]` tensor
/// (evaluation and embedding inputs).
pub fn eval_batch(
    split: &Split,
    indices: &[u32],
    shape: ImageShape,
    norm: &Normalizer,
    device: &Device,
) -> Tensor<4> {
    let data = normalize_batch(&split.gather(indices), shape, norm);
    Tensor::<4>::from_data(
        TensorData::new(data, [indices.len(), shape.channels, shape.height, shape.width]),
        device,
    )
}

/// Weighted kNN accuracy of `test` embeddings against `train` embeddings (both
/// L2-normalised, `[n, d]` row-major).
#[allow(clippy::too_many_arguments)]
pub fn knn_accuracy(
    train: &[f32],
    train_labels: &[u16],
    test: &[f32],
    test_labels: &[u16],
    dim: usize,
    num_classes: usize,
    k: usize,
    temperature: f32,
    device: &Device,
) -> f64 {
    let n_train = train_labels.len();
    let k = k.min(n_train);
    let bank = Tensor::<2>::from_data(TensorData::new(train.to_vec(), [n_train, dim]), device).transpose();
    let mut correct = 0usize;
    let block = 256;
    for (b, chunk) in test.chunks(block * dim).enumerate() {
        let rows = chunk.len() / dim;
        let q = Tensor::<2>::from_data(TensorData::new(chunk.to_vec(), [rows, dim]), device);
        let sims = q.matmul(bank.clone()).into_data().try_to_vec::<f32>().expect("f32 sims");
        // Rows in parallel: each row's vote is computed as before and the count of correct
        // rows does not depend on the order they finish in.
        correct += (0..rows)
            .into_par_iter()
            .map(|r| {
                let row = &sims[r * n_train..(r + 1) * n_train];
                let mut idx: Vec<u32> = (0..n_train as u32).collect();
                idx.select_nth_unstable_by(k - 1, |a, b| row[*b as usize].total_cmp(&row[*a as usize]));
                let mut votes = vec![0f64; num_classes];
                for &j in &idx[..k] {
                    votes[train_labels[j as usize] as usize] +=
                        ((row[j as usize] / temperature) as f64).exp();
                }
                let pred =
                    votes.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(c, _)| c).unwrap_or(0);
                usize::from(pred == test_labels[b * block + r] as usize)
            })
            .sum::<usize>();
    }
    correct as f64 / test_labels.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knn_classifies_separable_clusters() {
        let device = Device::flex();
        // Two classes along two axes, with a little spread.
        let mut train = Vec::new();
        let mut labels = Vec::new();
        for i in 0..40 {
            let e = (i as f32) * 0.001;
            if i % 2 == 0 {
                train.extend([1.0 - e, e]);
            } else {
                train.extend([e, 1.0 - e]);
            }
            labels.push((i % 2) as u16);
        }
        let test = vec![0.9f32, 0.1, 0.2, 0.8, 0.7, 0.3];
        let acc = knn_accuracy(&train, &labels, &test, &[0, 1, 0], 2, 2, 5, 0.1, &device);
        assert!((acc - 1.0).abs() < 1e-12);
        let acc = knn_accuracy(&train, &labels, &test, &[1, 0, 1], 2, 2, 5, 0.1, &device);
        assert!(acc.abs() < 1e-12);
    }

    #[test]
    fn embeddings_do_not_depend_on_the_batch() {
        // Evaluation mode: batch norm uses its running statistics, so an image's embedding is
        // the same alone or among others, even for an encoder that lives on an autodiff device
        // (as during pre-training, where the monitor embeds with the training model).
        use crate::models::ResNetConfig;
        use rmd_data::{Dataset, RawDataset, RawSplit};
        let n = 6;
        let images: Vec<u8> = (0..n * 3 * 8 * 8).map(|i| ((i * 37 + i / 192 * 11) % 256) as u8).collect();
        let split = RawSplit { images, labels: (0..n as u16).map(|i| i % 2).collect(), coarse_labels: None };
        let raw = RawDataset {
            name: "tiny".into(),
            classes: vec!["a".into(), "b".into()],
            coarse_classes: None,
            shape: [3, 8, 8],
            train: split.clone(),
            test: split,
        };
        let dir = tempfile::tempdir().unwrap();
        let store = rmd_store::Store::open(dir.path()).unwrap();
        let artifact = rmd_data::dataset::import_raw(&store, &raw, &Default::default(), "test").unwrap();
        let ds = Dataset::open(&artifact).unwrap();
        let device = Device::flex();
        let encoder = ResNetConfig::small(3, 4, 2, 1).init(&device.clone().autodiff());
        let shape = ImageShape { channels: 3, height: 8, width: 8 };
        let norm = Normalizer::from_images(ds.train.all_images(), 3, 64);
        let idx: Vec<u32> = (0..n as u32).collect();
        let (together, dim) = embed(&encoder, &ds.train, &idx, shape, &norm, &device, n);
        let (alone, _) = embed(&encoder, &ds.train, &idx, shape, &norm, &device, 1);
        assert_eq!(together.len(), n * dim);
        for (a, b) in together.iter().zip(&alone) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // In training mode the same encoder gives batch-dependent outputs: the check can fail.
        let x = eval_batch(&ds.train, &idx, shape, &norm, &device.clone().autodiff());
        let batch = encoder.forward(x.clone()).into_data().try_to_vec::<f32>().unwrap();
        let first = encoder.forward(x.narrow(0, 0, 2)).into_data().try_to_vec::<f32>().unwrap();
        assert!(first.iter().zip(&batch).any(|(a, b)| (a - b).abs() > 1e-4));
    }
}

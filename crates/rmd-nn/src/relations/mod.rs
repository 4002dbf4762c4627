//! Relation graphs: embed every training image with a frozen RM encoder
//! ([`embed_training_images`]), find each sample's exact top-K neighbours by cosine
//! similarity ([`exact_top_k`]) or approximately for large N ([`ivf`]), and read and write `embeddings.parquet` and
//! `graph.parquet` ([`io`]); teachers from outside ([`external`]) or synthetic ones of a
//! chosen purity ([`synthetic`]), and the clean-label diagnostics ([`label_agreement`],
//! [`roc_auc`]). The relations stage (`rmdnet::stages::relations`) stores them.

pub mod centre;
mod diagnostics;
pub mod external;
pub mod io;
pub mod ivf;
mod search;
pub mod synthetic;
mod votes;

pub use diagnostics::{disagreement_scores, label_agreement, neighbour_agreement, roc_auc};
pub use io::{RelationGraph, write_npy};
pub use search::{TopK, exact_top_k};
pub use votes::neighbour_votes;

use crate::knn::embed;
use crate::models::ResNet;
use burn::tensor::Device;
use rayon::prelude::*;
use rmd_data::augment::{ImageShape, Normalizer};
use rmd_data::dataset::Split;

/// Training images per unit of embedding work: chunks are embedded in parallel (each in
/// batches of 256, so every image's embedding is computed as in one sequential pass).
const EMBED_CHUNK: usize = 4096;

/// Embeds every image of `split` with `encoder` (chunks of images in parallel, batches of
/// 256 within a chunk), with a progress bar. Returns the rows and the embedding dimension
/// (`fallback_dim` for an empty split).
pub fn embed_training_images(
    encoder: &ResNet,
    split: &Split,
    shape: ImageShape,
    norm: &Normalizer,
    device: &Device,
    fallback_dim: usize,
    progress: bool,
) -> (Vec<f32>, usize) {
    let n = split.len();
    let bar = rmd_data::progress::count_bar(n as u64, progress, "embedding training images");
    let all: Vec<u32> = (0..n as u32).collect();
    let parts: Vec<(Vec<f32>, usize)> = all
        .par_chunks(EMBED_CHUNK)
        .map(|chunk| {
            let part = embed(encoder, split, chunk, shape, norm, device, 256);
            bar.inc(chunk.len() as u64);
            part
        })
        .collect();
    bar.finish_and_clear();
    let dim = parts.first().map_or(fallback_dim, |p| p.1);
    (parts.into_iter().flat_map(|p| p.0).collect(), dim)
}

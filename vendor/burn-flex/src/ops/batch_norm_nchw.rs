//! Training-mode batch normalisation on `[N, C, ...]` data, forward and backward, straight on
//! the channels-first buffer.
//!
//! The generic implementation swaps the batch and channel dims and reshapes to `[C, N·S]`
//! before every reduction, which copies the whole activation (and the output gradient, twice)
//! into a contiguous buffer. Here each channel's statistics are reduced in place, in f64, one
//! channel per task, and the element-wise passes run over whole `[S]` planes in parallel
//! (in the tensor's own precision).
//! The sums run in a fixed order, so results do not depend on the thread count.
//!
//! f32 and f64 run natively; f16 and bf16 through f32.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_std::{Bytes, Shape};
use core::mem::MaybeUninit;
use core::ops::{Add, Mul, Sub};

use super::module::through_f32;
use crate::{FlexTensor, Layout};

/// Element types normalised natively.
trait Real:
    burn_backend::Element
    + bytemuck::Pod
    + Copy
    + Send
    + Sync
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + 'static
{
    fn to_f64(self) -> f64;
    fn from_f64(value: f64) -> Self;
}

impl Real for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(value: f64) -> Self {
        value as f32
    }
}

impl Real for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(value: f64) -> Self {
        value
    }
}

/// `[N, C, S]` view of a `[N, C, ...]` shape.
#[derive(Clone, Copy)]
struct Planes {
    batch: usize,
    channels: usize,
    plane: usize,
}

impl Planes {
    fn of(shape: &Shape) -> Self {
        assert!(
            shape.num_dims() >= 2,
            "batch_norm: expected [batch, channels, ...], got {shape:?}"
        );
        let (batch, channels) = (shape[0], shape[1]);
        Planes {
            batch,
            channels,
            plane: shape.num_elements() / (batch * channels).max(1),
        }
    }

    /// Values per channel.
    fn count(&self) -> f64 {
        (self.batch * self.plane) as f64
    }

    /// Runs `f(b, values)` over the `[S]` planes of channel `c`, in batch order.
    fn for_channel<T>(&self, data: &[T], c: usize, mut f: impl FnMut(usize, &[T])) {
        for b in 0..self.batch {
            f(
                b,
                &data[(b * self.channels + c) * self.plane..][..self.plane],
            );
        }
    }
}

/// `f(c)` for every channel, in parallel, collected in channel order.
fn per_channel<R: Send>(channels: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        (0..channels).into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "rayon"))]
    {
        (0..channels).map(f).collect()
    }
}

/// Values a parallel task of [`per_plane`] covers at least (small planes, such as the single
/// value per channel of a `[N, C]` activation, are grouped into one task).
const TASK_VALUES: usize = 4096;

/// Builds an output of `[N, C, S]` values plane by plane, in parallel: `f(plane index,
/// channel, plane)` must write every value of its plane.
fn per_plane<T: Real>(
    p: Planes,
    f: impl Fn(usize, usize, &mut [MaybeUninit<T>]) + Sync + Send,
) -> Vec<T> {
    let len = p.batch * p.channels * p.plane;
    let mut out: Vec<T> = Vec::with_capacity(len);
    if p.plane > 0 {
        let planes_per_task = TASK_VALUES.div_ceil(p.plane);
        let task = |t: usize, dst: &mut [MaybeUninit<T>]| {
            for (j, plane) in dst.chunks_mut(p.plane).enumerate() {
                let i = t * planes_per_task + j;
                f(i, i % p.channels, plane);
            }
        };
        #[cfg(feature = "rayon")]
        {
            use rayon::prelude::*;
            out.spare_capacity_mut()[..len]
                .par_chunks_mut(p.plane * planes_per_task)
                .enumerate()
                .for_each(|(t, dst)| task(t, dst));
        }
        #[cfg(not(feature = "rayon"))]
        {
            for (t, dst) in out.spare_capacity_mut()[..len]
                .chunks_mut(p.plane * planes_per_task)
                .enumerate()
            {
                task(t, dst);
            }
        }
    }
    // SAFETY: `f` wrote every value of every plane (the callers below write one value per
    // input value, and the planes cover all `len` values).
    unsafe { out.set_len(len) };
    out
}

fn tensor<T: Real>(data: Vec<T>, shape: Shape) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(shape),
        T::dtype(),
    )
}

fn values<T: Real>(t: &FlexTensor) -> Vec<f64> {
    t.storage::<T>().iter().map(|v| v.to_f64()).collect()
}

/// Runs `pass` natively for f32 and f64, and for f16 and bf16 through f32, casting every
/// returned tensor back.
fn with_native_dtype<const I: usize, const O: usize>(
    tensors: [FlexTensor; I],
    pass: impl Fn([FlexTensor; I]) -> [FlexTensor; O],
) -> [FlexTensor; O] {
    match tensors[0].dtype() {
        DType::F16 | DType::BF16 => through_f32(tensors, pass),
        _ => pass(tensors),
    }
}

/// Batch-statistics normalisation: `(output, mean, biased variance)`.
pub(crate) fn batch_norm_train(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f64,
) -> [FlexTensor; 3] {
    with_native_dtype([x, gamma, beta], |[x, gamma, beta]| match x.dtype() {
        DType::F32 => forward_typed::<f32>(x, gamma, beta, epsilon),
        DType::F64 => forward_typed::<f64>(x, gamma, beta, epsilon),
        dtype => panic!("batch_norm: unsupported dtype {dtype:?}"),
    })
}

fn forward_typed<T: Real>(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f64,
) -> [FlexTensor; 3] {
    let x = x.into_contiguous();
    let shape = x.layout().shape().clone();
    let p = Planes::of(&shape);
    let data: &[T] = x.storage();
    let (gamma, beta) = (
        values::<T>(&gamma.into_contiguous()),
        values::<T>(&beta.into_contiguous()),
    );

    let stats = per_channel(p.channels, |c| {
        let mut sum = 0.0f64;
        p.for_channel(data, c, |_, plane| {
            sum += plane.iter().map(|v| v.to_f64()).sum::<f64>()
        });
        let mean = sum / p.count();
        let mut squares = 0.0f64;
        p.for_channel(data, c, |_, plane| {
            squares += plane
                .iter()
                .map(|v| (v.to_f64() - mean).powi(2))
                .sum::<f64>()
        });
        (mean, squares / p.count())
    });
    // y = x·scale + shift with scale = γ / √(σ² + ε) and shift = β − μ·scale.
    let affine: Vec<(f64, f64)> = stats
        .iter()
        .enumerate()
        .map(|(c, &(mean, variance))| {
            let scale = gamma[c] / (variance + epsilon).sqrt();
            (scale, beta[c] - mean * scale)
        })
        .collect();

    let out = per_plane(p, |i, c, dst| {
        let (scale, shift) = (T::from_f64(affine[c].0), T::from_f64(affine[c].1));
        let src = &data[i * p.plane..][..p.plane];
        for (y, &v) in dst.iter_mut().zip(src) {
            y.write(v * scale + shift);
        }
    });
    let channel_shape = || Shape::from(vec![p.channels]);
    [
        tensor(out, shape),
        tensor(
            stats.iter().map(|s| T::from_f64(s.0)).collect(),
            channel_shape(),
        ),
        tensor(
            stats.iter().map(|s| T::from_f64(s.1)).collect(),
            channel_shape(),
        ),
    ]
}

/// Gradients of [`batch_norm_train`]: `(input, gamma, beta)`.
pub(crate) fn batch_norm_train_backward(
    x: FlexTensor,
    gamma: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
    output_grad: FlexTensor,
) -> [FlexTensor; 3] {
    with_native_dtype(
        [x, gamma, mean, variance, output_grad],
        |[x, gamma, mean, variance, dy]| match x.dtype() {
            DType::F32 => backward_typed::<f32>(x, gamma, mean, variance, epsilon, dy),
            DType::F64 => backward_typed::<f64>(x, gamma, mean, variance, epsilon, dy),
            dtype => panic!("batch_norm backward: unsupported dtype {dtype:?}"),
        },
    )
}

fn backward_typed<T: Real>(
    x: FlexTensor,
    gamma: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
    output_grad: FlexTensor,
) -> [FlexTensor; 3] {
    let x = x.into_contiguous();
    let dy = output_grad.into_contiguous();
    let shape = x.layout().shape().clone();
    let p = Planes::of(&shape);
    let (data, grad): (&[T], &[T]) = (x.storage(), dy.storage());
    let gamma = values::<T>(&gamma.into_contiguous());
    let mean = values::<T>(&mean.into_contiguous());
    let inv_std: Vec<f64> = values::<T>(&variance.into_contiguous())
        .iter()
        .map(|v| 1.0 / (v + epsilon).sqrt())
        .collect();

    // Per channel: Σ dy (β's gradient) and Σ dy·x̂ (γ's gradient), x̂ = (x − μ)/σ.
    let sums = per_channel(p.channels, |c| {
        let (mut sum_dy, mut sum_dy_xhat) = (0.0f64, 0.0f64);
        p.for_channel(grad, c, |b, dy_plane| {
            let x_plane = &data[(b * p.channels + c) * p.plane..][..p.plane];
            for (&g, &v) in dy_plane.iter().zip(x_plane) {
                sum_dy += g.to_f64();
                sum_dy_xhat += g.to_f64() * (v.to_f64() - mean[c]) * inv_std[c];
            }
        });
        (sum_dy, sum_dy_xhat)
    });

    // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy·x̂)).
    let dx = per_plane(p, |i, c, dst| {
        let (sum_dy, sum_dy_xhat) = sums[c];
        let mean_dy = T::from_f64(sum_dy / p.count());
        let mean_dy_xhat = T::from_f64(sum_dy_xhat / p.count());
        let (mean_c, inv_std_c) = (T::from_f64(mean[c]), T::from_f64(inv_std[c]));
        let scale = T::from_f64(gamma[c] * inv_std[c]);
        let (x_plane, dy_plane) = (
            &data[i * p.plane..][..p.plane],
            &grad[i * p.plane..][..p.plane],
        );
        for ((out, &v), &g) in dst.iter_mut().zip(x_plane).zip(dy_plane) {
            let xhat = (v - mean_c) * inv_std_c;
            out.write(scale * (g - mean_dy - xhat * mean_dy_xhat));
        }
    });
    let channel_shape = || Shape::from(vec![p.channels]);
    [
        tensor(dx, shape),
        tensor(
            sums.iter().map(|s| T::from_f64(s.1)).collect(),
            channel_shape(),
        ),
        tensor(
            sums.iter().map(|s| T::from_f64(s.0)).collect(),
            channel_shape(),
        ),
    ]
}

//! 2-D convolution passes on NCHW data: forward, input gradient and weight gradient.
//!
//! Each pass is one im2col (or col2im) and one gemm per image, straight on the NCHW
//! buffers: no channels-last copy of the input, no permuted copies of the activations or
//! output gradients (the generic weight gradient computes a convolution of dim-swapped
//! tensors, which must be made contiguous first), and every image is an independent task,
//! so all cores stay busy for the whole pass.
//!
//! The weight gradient sums per-image products. Images are split into a number of chunks
//! that depends only on the shapes, each chunk accumulates its own partial gradient, and the
//! partials are added in chunk order: the result is the same bits at any thread count.
//!
//! The forward pass is used for `groups == 1` f32 convolutions (the other forward cases keep
//! `conv.rs`'s fast paths); the gradients for every f32, f64 and f16 convolution, and bf16
//! through f32.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_backend::ops::conv::calculate_conv_output_size_asymmetric;
use burn_std::{Bytes, Shape, f16};
use core::mem::MaybeUninit;

use crate::{FlexTensor, Layout};

/// Element types the passes run on natively (those `gemm` multiplies).
pub(crate) trait Scalar:
    burn_backend::Element + bytemuck::Pod + Copy + Send + Sync + core::ops::AddAssign + 'static
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
}

impl Scalar for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl Scalar for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl Scalar for f16 {
    const ZERO: Self = f16::ZERO;
    const ONE: Self = f16::ONE;
}

/// Shapes and options of one 2-D convolution.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    c_in: usize,
    in_h: usize,
    in_w: usize,
    c_out: usize,
    k_h: usize,
    k_w: usize,
    out_h: usize,
    out_w: usize,
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
}

impl Geometry {
    /// Input channels per group.
    fn group_in(&self) -> usize {
        self.c_in / self.groups
    }

    /// Output channels per group.
    fn group_out(&self) -> usize {
        self.c_out / self.groups
    }

    /// Rows of a group's column matrix: one per (input channel, kernel row, kernel column).
    fn col_rows(&self) -> usize {
        self.group_in() * self.k_h * self.k_w
    }

    /// Input values of one group of one image.
    fn group_in_len(&self) -> usize {
        self.group_in() * self.in_h * self.in_w
    }

    /// Output positions per image (columns of the column matrix).
    fn out_len(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Input values per image.
    fn in_len(&self) -> usize {
        self.c_in * self.in_h * self.in_w
    }

    /// Whether the column matrix of an image is the image itself (1×1, stride 1, no padding).
    fn is_pointwise(&self) -> bool {
        self.k_h == 1
            && self.k_w == 1
            && self.stride == [1, 1]
            && self.pad == [0, 0]
            && self.out_h == self.in_h
            && self.out_w == self.in_w
    }

    /// Output columns `[lo, hi)` whose input column `ox·stride + offset` lies inside the image.
    fn valid_columns(&self, offset: isize) -> (usize, usize) {
        let stride = self.stride[1] as isize;
        let width = self.in_w as isize;
        let lo = if offset >= 0 {
            0
        } else {
            ((-offset + stride - 1) / stride) as usize
        };
        let hi = if width - offset <= 0 {
            0
        } else {
            (((width - offset) + stride - 1) / stride) as usize
        };
        let hi = hi.min(self.out_w);
        (lo.min(hi), hi)
    }

    /// Visits every (column-matrix row segment, input row segment) pair of one group: `f`
    /// gets the row `r` of the column matrix, the output row `oy`, the valid output columns
    /// and the input row's start and column offset, or `None` when the input row is padding.
    fn for_each_segment(
        &self,
        mut f: impl FnMut(usize, usize, (usize, usize), Option<(usize, isize)>),
    ) {
        for ci in 0..self.group_in() {
            for ki in 0..self.k_h {
                for kj in 0..self.k_w {
                    let row = (ci * self.k_h + ki) * self.k_w + kj;
                    let col_offset = (kj * self.dilation[1]) as isize - self.pad[1] as isize;
                    let columns = self.valid_columns(col_offset);
                    for oy in 0..self.out_h {
                        let iy = (oy * self.stride[0] + ki * self.dilation[0]) as isize
                            - self.pad[0] as isize;
                        let source = (iy >= 0 && (iy as usize) < self.in_h)
                            .then(|| ((ci * self.in_h + iy as usize) * self.in_w, col_offset));
                        f(row, oy, columns, source);
                    }
                }
            }
        }
    }

    /// Fills `col` (`col_rows × out_len`, row-major) with the patches of one group's input
    /// channels `channels`.
    fn im2col<T: Scalar>(&self, channels: &[T], col: &mut [T]) {
        let out_len = self.out_len();
        let (out_w, stride) = (self.out_w, self.stride[1]);
        self.for_each_segment(|row, oy, (lo, hi), source| {
            let dst = &mut col[row * out_len + oy * out_w..][..out_w];
            let Some((start, offset)) = source else {
                dst.fill(T::ZERO);
                return;
            };
            let src = &channels[start..start + self.in_w];
            dst[..lo].fill(T::ZERO);
            dst[hi..].fill(T::ZERO);
            if stride == 1 {
                let first = (lo as isize + offset) as usize;
                dst[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
            } else {
                for (ox, value) in dst[lo..hi].iter_mut().enumerate() {
                    *value = src[(((lo + ox) * stride) as isize + offset) as usize];
                }
            }
        });
    }

    /// Adds the column-matrix gradient `col` back onto the input gradient of one group's
    /// input channels `channels`.
    fn col2im_add<T: Scalar>(&self, col: &[T], channels: &mut [T]) {
        let out_len = self.out_len();
        let (out_w, stride) = (self.out_w, self.stride[1]);
        self.for_each_segment(|row, oy, (lo, hi), source| {
            let Some((start, offset)) = source else {
                return;
            };
            let src = &col[row * out_len + oy * out_w..][..out_w];
            let dst = &mut channels[start..start + self.in_w];
            for ox in lo..hi {
                dst[((ox * stride) as isize + offset) as usize] += src[ox];
            }
        });
    }
}

/// `dst = lhs × rhs` (or `dst += lhs × rhs` when `accumulate`) with explicit row and column
/// strides, on the calling thread. Without `accumulate`, `dst` is only written (it may be
/// uninitialised); with it, it must be initialised.
#[allow(clippy::too_many_arguments)]
fn gemm_into<T: Scalar>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [MaybeUninit<T>],
    (dst_rs, dst_cs): (usize, usize),
    lhs: &[T],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[T],
    (rhs_rs, rhs_cs): (usize, usize),
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!((m - 1) * dst_rs + (n - 1) * dst_cs < dst.len());
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * dst_rs + j * dst_cs] = MaybeUninit::new(T::ZERO);
                }
            }
        }
        return;
    }
    assert!((m - 1) * lhs_rs + (k - 1) * lhs_cs < lhs.len());
    assert!((k - 1) * rhs_rs + (n - 1) * rhs_cs < rhs.len());
    // SAFETY: the assertions keep every access inside the three slices, and `dst` does not
    // alias `lhs` or `rhs` (it is borrowed mutably). `T` is f32, f64 or f16 (`Scalar`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr() as *mut T,
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Whether the forward pass here handles this convolution (f32, one group, 4-D tensors).
pub(crate) fn forward_supported(
    x: &FlexTensor,
    weight: &FlexTensor,
    options: &ConvOptions<2>,
) -> bool {
    x.dtype() == DType::F32 && weight.dtype() == DType::F32 && options.groups == 1
}

fn geometry(
    x_shape: &Shape,
    w_shape: &Shape,
    out_hw: [usize; 2],
    options: &ConvOptions<2>,
) -> Geometry {
    assert!(
        x_shape.num_dims() == 4 && w_shape.num_dims() == 4,
        "conv2d: expected 4-D input and weight, got {:?} and {:?}",
        x_shape,
        w_shape
    );
    let groups = options.groups;
    assert!(
        x_shape[1] == w_shape[1] * groups && w_shape[0] % groups == 0,
        "conv2d: {} input channels and weight {:?} do not fit {} group(s)",
        x_shape[1],
        w_shape,
        groups
    );
    Geometry {
        batch: x_shape[0],
        c_in: x_shape[1],
        in_h: x_shape[2],
        in_w: x_shape[3],
        c_out: w_shape[0],
        k_h: w_shape[2],
        k_w: w_shape[3],
        out_h: out_hw[0],
        out_w: out_hw[1],
        stride: options.stride,
        pad: options.padding_begin(),
        dilation: options.dilation,
        groups,
    }
}

fn tensor<T: Scalar>(data: Vec<T>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(Shape::from(shape.to_vec())),
        T::dtype(),
    )
}

/// `dst` with every value set to zero.
fn zeroed<T: Scalar>(dst: &mut [MaybeUninit<T>]) -> &mut [T] {
    dst.fill(MaybeUninit::new(T::ZERO));
    // SAFETY: every value was initialised just above.
    unsafe { assume_init(dst) }
}

/// `dst` viewed as initialised values.
///
/// # Safety
/// Every value of `dst` must have been written.
unsafe fn assume_init<T>(dst: &mut [MaybeUninit<T>]) -> &mut [T] {
    // SAFETY: `MaybeUninit<T>` has `T`'s layout, and the caller guarantees initialisation.
    unsafe { &mut *(dst as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// Initialised values viewed as a destination that is only written.
fn as_uninit<T>(dst: &mut [T]) -> &mut [MaybeUninit<T>] {
    // SAFETY: same layout; only initialised values are ever written through the view.
    unsafe { &mut *(dst as *mut [T] as *mut [MaybeUninit<T>]) }
}

/// Builds a `len`-value output from `len / task_len` tasks run in parallel: task `i` gets its
/// `task_len` slice, uninitialised, and must write every value of it (no serial zeroing of the
/// whole output first), and a scratch buffer of `scratch_len` values reused by the worker.
fn per_task<T: Scalar>(
    len: usize,
    task_len: usize,
    scratch_len: usize,
    f: impl Fn(usize, &mut [MaybeUninit<T>], &mut Vec<T>) + Sync + Send,
) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(len);
    if task_len == 0 || len == 0 {
        out.resize(len, T::ZERO);
        return out;
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.spare_capacity_mut()[..len]
            .par_chunks_mut(task_len)
            .enumerate()
            .for_each_init(
                || vec![T::ZERO; scratch_len],
                |scratch, (i, dst)| f(i, dst, scratch),
            );
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut scratch = vec![T::ZERO; scratch_len];
        for (i, dst) in out.spare_capacity_mut()[..len]
            .chunks_mut(task_len)
            .enumerate()
        {
            f(i, dst, &mut scratch);
        }
    }
    // SAFETY: every task wrote its whole slice, and the slices cover all `len` values (`len`
    // is a multiple of `task_len`).
    unsafe { out.set_len(len) };
    out
}

/// The column matrix of group `group` of `image`: the image's channels themselves for a
/// pointwise convolution, else im2col into `scratch`.
fn columns<'a, T: Scalar>(
    g: &Geometry,
    image: &'a [T],
    group: usize,
    scratch: &'a mut [T],
) -> &'a [T] {
    let channels = &image[group * g.group_in_len()..][..g.group_in_len()];
    if g.is_pointwise() {
        channels
    } else {
        g.im2col(channels, scratch);
        scratch
    }
}

/// Scratch values a worker needs for one column matrix.
fn scratch_len(g: &Geometry) -> usize {
    if g.is_pointwise() {
        0
    } else {
        g.col_rows() * g.out_len()
    }
}

/// Forward convolution `[N, C_in, H, W] ⊛ [C_out, C_in / groups, K_h, K_w] (+ bias)`.
pub(crate) fn conv2d(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    match x.dtype() {
        DType::F32 => conv2d_typed::<f32>(x, weight, bias, options),
        DType::F64 => conv2d_typed::<f64>(x, weight, bias, options),
        DType::F16 => conv2d_typed::<f16>(x, weight, bias, options),
        dtype => panic!("conv2d: unsupported dtype {dtype:?}"),
    }
}

fn conv2d_typed<T: Scalar>(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let x = x.into_contiguous();
    let weight = weight.into_contiguous();
    let (x_shape, w_shape) = (x.layout().shape().clone(), weight.layout().shape().clone());
    let out_hw = [0, 1].map(|d| {
        calculate_conv_output_size_asymmetric(
            w_shape[d + 2],
            options.stride[d],
            options.padding[d],
            options.dilation[d],
            x_shape[d + 2],
        )
    });
    let g = geometry(&x_shape, &w_shape, out_hw, options);
    let bias = bias.map(|b| b.into_contiguous());
    let out = forward::<T>(
        &g,
        x.storage(),
        weight.storage(),
        bias.as_ref().map(|b| b.storage()),
    );
    tensor(out, [g.batch, g.c_out, g.out_h, g.out_w])
}

/// The forward pass on raw NCHW data: `[N, C_out, out_h, out_w]` values.
fn forward<T: Scalar>(g: &Geometry, x_data: &[T], w_data: &[T], bias: Option<&[T]>) -> Vec<T> {
    let (rows, out_len, group_out) = (g.col_rows(), g.out_len(), g.group_out());
    per_task(
        g.batch * g.c_out * out_len,
        g.c_out * out_len,
        scratch_len(g),
        |b, y, scratch| {
            let image = &x_data[b * g.in_len()..][..g.in_len()];
            for group in 0..g.groups {
                let col = columns(g, image, group, scratch);
                let w_group = &w_data[group * group_out * rows..][..group_out * rows];
                let y_group = &mut y[group * group_out * out_len..][..group_out * out_len];
                gemm_into(
                    (group_out, out_len, rows),
                    y_group,
                    (out_len, 1),
                    w_group,
                    (rows, 1),
                    col,
                    (out_len, 1),
                    false,
                );
            }
            if let Some(bias) = bias {
                // SAFETY: the groups' gemms above wrote every value of `y`.
                let y = unsafe { assume_init(y) };
                for (channel, &value) in y.chunks_mut(out_len).zip(bias) {
                    channel.iter_mut().for_each(|v| *v += value);
                }
            }
        },
    )
}

/// Runs a gradient pass natively for f32, f64 and f16, and for bf16 through f32.
fn with_native_dtype(
    tensors: [FlexTensor; 3],
    pass: impl Fn([FlexTensor; 3]) -> FlexTensor,
) -> FlexTensor {
    if tensors[0].dtype() != DType::BF16 {
        return pass(tensors);
    }
    let [grad] = super::module::through_f32(tensors, |widened| [pass(widened)]);
    grad
}

/// Gradient of a convolution with respect to its input.
pub(crate) fn conv2d_x_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    with_native_dtype(
        [x, weight, output_grad],
        |[x, weight, output_grad]| match x.dtype() {
            DType::F32 => x_backward_typed::<f32>(&x, weight, output_grad, options),
            DType::F64 => x_backward_typed::<f64>(&x, weight, output_grad, options),
            DType::F16 => x_backward_typed::<f16>(&x, weight, output_grad, options),
            dtype => panic!("conv2d backward: unsupported dtype {dtype:?}"),
        },
    )
}

fn x_backward_typed<T: Scalar>(
    x: &FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let weight = weight.into_contiguous();
    let output_grad = output_grad.into_contiguous();
    let grad_shape = output_grad.layout().shape().clone();
    let g = geometry(
        x.layout().shape(),
        weight.layout().shape(),
        [grad_shape[2], grad_shape[3]],
        options,
    );
    let (w_data, dy): (&[T], &[T]) = (weight.storage(), output_grad.storage());
    if let Some(dx) = x_backward_as_forward(&g, w_data, dy) {
        return tensor(dx, [g.batch, g.c_in, g.in_h, g.in_w]);
    }
    let (rows, out_len, group_out) = (g.col_rows(), g.out_len(), g.group_out());

    let dx = per_task(
        g.batch * g.in_len(),
        g.in_len(),
        scratch_len(&g),
        |b, dx_image, dcol| {
            // col2im adds into the input gradient; the pointwise gemm writes all of it.
            let dx_image = if g.is_pointwise() {
                dx_image
            } else {
                as_uninit(zeroed(dx_image))
            };
            for group in 0..g.groups {
                let dy_group =
                    &dy[(b * g.c_out + group * group_out) * out_len..][..group_out * out_len];
                let w_group = &w_data[group * group_out * rows..][..group_out * rows];
                let dx_group = &mut dx_image[group * g.group_in_len()..][..g.group_in_len()];
                // dcol = W_groupᵀ × dY_group (W_group is [group_out, rows] row-major, read transposed).
                let shape = (rows, out_len, group_out);
                if g.is_pointwise() {
                    gemm_into(
                        shape,
                        dx_group,
                        (out_len, 1),
                        w_group,
                        (1, rows),
                        dy_group,
                        (out_len, 1),
                        false,
                    );
                } else {
                    gemm_into(
                        shape,
                        as_uninit(dcol),
                        (out_len, 1),
                        w_group,
                        (1, rows),
                        dy_group,
                        (out_len, 1),
                        false,
                    );
                    // SAFETY: `dx_image` was zeroed above (not pointwise).
                    g.col2im_add(dcol, unsafe { assume_init(dx_group) });
                }
            }
        },
    );
    tensor(dx, [g.batch, g.c_in, g.in_h, g.in_w])
}

/// The input gradient of a stride-1, undilated, ungrouped convolution computed as a forward
/// convolution of the output gradient with the kernel flipped in both spatial axes and its
/// channel axes swapped, padded `k − 1 − p` (an im2col gather and a gemm over
/// `C_out·K_h·K_w`, instead of a gemm over `C_out` and a col2im scatter). `None` for other
/// convolutions.
fn x_backward_as_forward<T: Scalar>(g: &Geometry, w_data: &[T], dy: &[T]) -> Option<Vec<T>> {
    let applies = g.groups == 1
        && g.stride == [1, 1]
        && g.dilation == [1, 1]
        && g.pad[0] < g.k_h
        && g.pad[1] < g.k_w
        && !g.is_pointwise();
    if !applies {
        return None;
    }
    let taps = g.k_h * g.k_w;
    let mut flipped = vec![T::ZERO; w_data.len()];
    for co in 0..g.c_out {
        for ci in 0..g.c_in {
            let src = &w_data[(co * g.c_in + ci) * taps..][..taps];
            let dst = &mut flipped[(ci * g.c_out + co) * taps..][..taps];
            for (t, &value) in src.iter().enumerate() {
                dst[taps - 1 - t] = value;
            }
        }
    }
    let transposed = Geometry {
        batch: g.batch,
        c_in: g.c_out,
        in_h: g.out_h,
        in_w: g.out_w,
        c_out: g.c_in,
        k_h: g.k_h,
        k_w: g.k_w,
        out_h: g.in_h,
        out_w: g.in_w,
        stride: [1, 1],
        pad: [g.k_h - 1 - g.pad[0], g.k_w - 1 - g.pad[1]],
        dilation: [1, 1],
        groups: 1,
    };
    Some(forward(&transposed, dy, &flipped, None))
}

/// Most values the weight gradient's per-chunk partial sums may hold together.
const PARTIALS_BUDGET: usize = 16 << 20;
/// Most chunks the images of a weight gradient are split into.
const MAX_CHUNKS: usize = 32;

/// Gradient of a convolution with respect to its weight.
pub(crate) fn conv2d_weight_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    with_native_dtype(
        [x, weight, output_grad],
        |[x, weight, output_grad]| match x.dtype() {
            DType::F32 => weight_backward_typed::<f32>(x, &weight, output_grad, options),
            DType::F64 => weight_backward_typed::<f64>(x, &weight, output_grad, options),
            DType::F16 => weight_backward_typed::<f16>(x, &weight, output_grad, options),
            dtype => panic!("conv2d backward: unsupported dtype {dtype:?}"),
        },
    )
}

fn weight_backward_typed<T: Scalar>(
    x: FlexTensor,
    weight: &FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let x = x.into_contiguous();
    let output_grad = output_grad.into_contiguous();
    let w_shape = weight.layout().shape().clone();
    let grad_shape = output_grad.layout().shape().clone();
    let g = geometry(
        x.layout().shape(),
        &w_shape,
        [grad_shape[2], grad_shape[3]],
        options,
    );
    let (x_data, dy): (&[T], &[T]) = (x.storage(), output_grad.storage());
    let (rows, out_len, group_out) = (g.col_rows(), g.out_len(), g.group_out());
    let w_len = g.c_out * rows;

    // The chunking depends on the shapes only, so the order of the sums does too.
    let chunks = (PARTIALS_BUDGET / w_len.max(1))
        .clamp(1, MAX_CHUNKS)
        .min(g.batch.max(1));
    let per_chunk = g.batch.div_ceil(chunks);
    let partials = per_task(
        chunks * w_len,
        w_len,
        scratch_len(&g),
        |chunk, dw, scratch| {
            let images = (chunk * per_chunk)..((chunk + 1) * per_chunk).min(g.batch);
            if images.is_empty() {
                zeroed(dw);
                return;
            }
            // The first image's gemms write `dw`; the later ones add to it.
            for (i, b) in images.enumerate() {
                let image = &x_data[b * g.in_len()..][..g.in_len()];
                for group in 0..g.groups {
                    let col = columns(&g, image, group, scratch);
                    let dy_group =
                        &dy[(b * g.c_out + group * group_out) * out_len..][..group_out * out_len];
                    let dw_group = &mut dw[group * group_out * rows..][..group_out * rows];
                    // dW_group (+)= dY_group × colᵀ (col is [rows, out_len] row-major, read transposed).
                    gemm_into(
                        (group_out, rows, out_len),
                        dw_group,
                        (rows, 1),
                        dy_group,
                        (out_len, 1),
                        col,
                        (1, out_len),
                        i > 0,
                    );
                }
            }
        },
    );
    let mut dw = partials[..w_len].to_vec();
    for partial in partials.chunks(w_len).skip(1) {
        dw.iter_mut()
            .zip(partial)
            .for_each(|(total, &value)| *total += value);
    }
    tensor(dw, [w_shape[0], w_shape[1], w_shape[2], w_shape[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn_std::bf16;

    /// Direct six-loop convolution, the reference for every pass.
    fn reference(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
        let mut y = vec![0.0f64; g.batch * g.c_out * g.out_len()];
        for b in 0..g.batch {
            for co in 0..g.c_out {
                for oy in 0..g.out_h {
                    for ox in 0..g.out_w {
                        let mut acc = 0.0f64;
                        for ci in 0..g.c_in {
                            for ki in 0..g.k_h {
                                for kj in 0..g.k_w {
                                    let iy = (oy * g.stride[0] + ki * g.dilation[0]) as isize
                                        - g.pad[0] as isize;
                                    let ix = (ox * g.stride[1] + kj * g.dilation[1]) as isize
                                        - g.pad[1] as isize;
                                    if iy < 0
                                        || ix < 0
                                        || iy as usize >= g.in_h
                                        || ix as usize >= g.in_w
                                    {
                                        continue;
                                    }
                                    acc += x[((b * g.c_in + ci) * g.in_h + iy as usize) * g.in_w
                                        + ix as usize]
                                        as f64
                                        * w[((co * g.c_in + ci) * g.k_h + ki) * g.k_w + kj] as f64;
                                }
                            }
                        }
                        y[((b * g.c_out + co) * g.out_h + oy) * g.out_w + ox] = acc;
                    }
                }
            }
        }
        y.into_iter().map(|v| v as f32).collect()
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2654435761).wrapping_add(12345);
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }

    /// Forward, input gradient and weight gradient against the direct loops (the gradients
    /// through `<dY, conv(x, w)> = <conv_x_backward(dY), x> = <conv_w_backward(dY), w>` and
    /// finite sums of the reference).
    #[test]
    fn passes_match_the_direct_convolution() {
        // (batch, c_in, h, w, c_out, k, stride, pad, dilation)
        let cases = [
            (3, 2, 7, 6, 4, 3, 1, 1, 1),
            (2, 3, 8, 8, 5, 3, 2, 1, 1),
            (2, 4, 6, 6, 3, 1, 1, 0, 1),
            (2, 4, 7, 7, 3, 1, 2, 0, 1),
            (1, 2, 9, 8, 2, 3, 1, 2, 2),
            (2, 1, 5, 5, 2, 5, 1, 0, 1),
            (40, 2, 4, 4, 3, 3, 1, 1, 1),
        ];
        for (n, ci, h, w, co, k, s, p, d) in cases {
            let options = ConvOptions::new([s, s], [p, p], [d, d], 1);
            let out_h = calculate_conv_output_size_asymmetric(k, s, (p, p), d, h);
            let out_w = calculate_conv_output_size_asymmetric(k, s, (p, p), d, w);
            let g = geometry(
                &Shape::from(vec![n, ci, h, w]),
                &Shape::from(vec![co, ci, k, k]),
                [out_h, out_w],
                &options,
            );
            let xv = values(n * ci * h * w, 1);
            let wv = values(co * ci * k * k, 2);
            let dyv = values(n * co * out_h * out_w, 3);
            let what = format!("case {:?}", (n, ci, h, w, co, k, s, p, d));

            let y = conv2d(
                tensor(xv.clone(), [n, ci, h, w]),
                tensor(wv.clone(), [co, ci, k, k]),
                None,
                &options,
            );
            close(
                y.storage(),
                &reference(&g, &xv, &wv),
                &format!("{what} forward"),
            );

            // Input gradient: dX[i] = Σ dY · ∂Y/∂X[i], with Y linear in X (basis vectors).
            let dx = conv2d_x_backward(
                tensor(xv.clone(), [n, ci, h, w]),
                tensor(wv.clone(), [co, ci, k, k]),
                tensor(dyv.clone(), [n, co, out_h, out_w]),
                &options,
            );
            let mut expected_dx = vec![0.0f32; xv.len()];
            for (i, slot) in expected_dx.iter_mut().enumerate() {
                let mut basis = vec![0.0f32; xv.len()];
                basis[i] = 1.0;
                let yi = reference(&g, &basis, &wv);
                *slot = yi
                    .iter()
                    .zip(&dyv)
                    .map(|(a, b)| (a * b) as f64)
                    .sum::<f64>() as f32;
            }
            close(
                dx.storage(),
                &expected_dx,
                &format!("{what} input gradient"),
            );

            let dw = conv2d_weight_backward(
                tensor(xv.clone(), [n, ci, h, w]),
                tensor(wv.clone(), [co, ci, k, k]),
                tensor(dyv.clone(), [n, co, out_h, out_w]),
                &options,
            );
            let mut expected_dw = vec![0.0f32; wv.len()];
            for (i, slot) in expected_dw.iter_mut().enumerate() {
                let mut basis = vec![0.0f32; wv.len()];
                basis[i] = 1.0;
                let yi = reference(&g, &xv, &basis);
                *slot = yi
                    .iter()
                    .zip(&dyv)
                    .map(|(a, b)| (a * b) as f64)
                    .sum::<f64>() as f32;
            }
            close(
                dw.storage(),
                &expected_dw,
                &format!("{what} weight gradient"),
            );
        }
    }

    /// Asymmetric padding (begin ≠ end) only changes the output size.
    #[test]
    fn asymmetric_padding_matches_padded_input() {
        let options = ConvOptions {
            stride: [1, 2],
            padding: [(0, 1), (2, 0)],
            dilation: [1, 1],
            groups: 1,
        };
        let (n, ci, h, w, co, k) = (2, 2, 5, 6, 3, 3);
        let xv = values(n * ci * h * w, 4);
        let wv = values(co * ci * k * k, 5);
        let y = conv2d(
            tensor(xv.clone(), [n, ci, h, w]),
            tensor(wv.clone(), [co, ci, k, k]),
            None,
            &options,
        );
        // Same convolution on an explicitly zero-padded input with no padding.
        let (ph, pw) = (h + 1, w + 2);
        let mut padded = vec![0.0f32; n * ci * ph * pw];
        for bc in 0..n * ci {
            for yy in 0..h {
                for xx in 0..w {
                    padded[(bc * ph + yy) * pw + xx + 2] = xv[(bc * h + yy) * w + xx];
                }
            }
        }
        let plain = ConvOptions::new([1, 2], [0, 0], [1, 1], 1);
        let expected = conv2d(
            tensor(padded, [n, ci, ph, pw]),
            tensor(wv, [co, ci, k, k]),
            None,
            &plain,
        );
        assert_eq!(y.layout().shape(), expected.layout().shape());
        close(y.storage(), expected.storage(), "asymmetric forward");
    }

    /// A grouped convolution is the ungrouped one with a block-diagonal weight: same output
    /// and input gradient, and its weight gradient is the diagonal blocks of the ungrouped one.
    #[test]
    fn groups_match_a_block_diagonal_weight() {
        let (n, ci, h, w, co, k, groups) = (3, 4, 6, 5, 6, 3, 2);
        let (gi, go) = (ci / groups, co / groups);
        let grouped = ConvOptions::new([1, 1], [1, 1], [1, 1], groups);
        let plain = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let xv = values(n * ci * h * w, 6);
        let wv = values(co * gi * k * k, 7);
        let dyv = values(n * co * h * w, 8);
        let mut block = vec![0.0f32; co * ci * k * k];
        for o in 0..co {
            let group = o / go;
            for i in 0..gi {
                for t in 0..k * k {
                    block[(o * ci + group * gi + i) * k * k + t] = wv[(o * gi + i) * k * k + t];
                }
            }
        }
        let x = || tensor(xv.clone(), [n, ci, h, w]);
        let dy = || tensor(dyv.clone(), [n, co, h, w]);
        let wg = || tensor(wv.clone(), [co, gi, k, k]);
        let wb = || tensor(block.clone(), [co, ci, k, k]);
        close(
            conv2d(x(), wg(), None, &grouped).storage(),
            conv2d(x(), wb(), None, &plain).storage(),
            "grouped forward",
        );
        close(
            conv2d_x_backward(x(), wg(), dy(), &grouped).storage(),
            conv2d_x_backward(x(), wb(), dy(), &plain).storage(),
            "grouped input gradient",
        );
        let dw_grouped = conv2d_weight_backward(x(), wg(), dy(), &grouped);
        let dw_plain = conv2d_weight_backward(x(), wb(), dy(), &plain);
        let plain_values: &[f32] = dw_plain.storage();
        let mut diagonal = vec![0.0f32; wv.len()];
        for o in 0..co {
            let group = o / go;
            for i in 0..gi {
                for t in 0..k * k {
                    diagonal[(o * gi + i) * k * k + t] =
                        plain_values[(o * ci + group * gi + i) * k * k + t];
                }
            }
        }
        close(dw_grouped.storage(), &diagonal, "grouped weight gradient");
    }

    /// bf16 gradients go through f32 and come back as bf16.
    #[test]
    fn bf16_gradients_keep_their_dtype() {
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let x = super::super::module::cast_from_f32(
            tensor(values(2 * 2 * 4 * 4, 9), [2, 2, 4, 4]),
            bf16::from_f32,
        );
        let w = super::super::module::cast_from_f32(
            tensor(values(3 * 2 * 9, 10), [3, 2, 3, 3]),
            bf16::from_f32,
        );
        let dy = super::super::module::cast_from_f32(
            tensor(values(2 * 3 * 16, 11), [2, 3, 4, 4]),
            bf16::from_f32,
        );
        let dx = conv2d_x_backward(x.clone(), w.clone(), dy.clone(), &options);
        let dw = conv2d_weight_backward(x, w, dy, &options);
        assert_eq!((dx.dtype(), dw.dtype()), (DType::BF16, DType::BF16));
        assert_eq!(dx.layout().shape().clone(), Shape::from(vec![2, 2, 4, 4]));
        assert_eq!(dw.layout().shape().clone(), Shape::from(vec![3, 2, 3, 3]));
    }
}

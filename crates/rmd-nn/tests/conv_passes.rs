//! The CPU backend's 2-D convolution passes (vendor/burn-flex, `conv2d_nchw`), checked
//! through burn's public API with autodiff: the output, the input gradient and the weight
//! gradient of `sum(conv2d(x, w) · r)` against direct f64 loops, for every convolution shape
//! the models use (3×3 stride 1 and 2, 1×1 stride 1 and 2) and a few others; and the weight
//! gradient is the same bits at any thread count.

mod common;

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

/// One convolution: batch, input channels, height, width, output channels, kernel, stride,
/// padding, dilation.
#[derive(Clone, Copy, Debug)]
struct Case {
    n: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
}

impl Case {
    fn out(&self, size: usize) -> usize {
        (size + 2 * self.pad - self.dilation * (self.k - 1) - 1) / self.stride + 1
    }

    /// Input coordinate read by output coordinate `o` at kernel offset `t`, if inside.
    fn source(&self, o: usize, t: usize, size: usize) -> Option<usize> {
        let i = (o * self.stride + t * self.dilation) as isize - self.pad as isize;
        (i >= 0 && (i as usize) < size).then_some(i as usize)
    }

    /// (output, input gradient, weight gradient) of `sum(conv2d(x, w) · r)`, in f64.
    fn reference(&self, x: &[f32], w: &[f32], r: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (oh, ow) = (self.out(self.h), self.out(self.w));
        let mut y = vec![0.0; self.n * self.c_out * oh * ow];
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; w.len()];
        for b in 0..self.n {
            for co in 0..self.c_out {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let yi = ((b * self.c_out + co) * oh + oy) * ow + ox;
                        for ci in 0..self.c_in {
                            for ki in 0..self.k {
                                for kj in 0..self.k {
                                    let (Some(iy), Some(ix)) =
                                        (self.source(oy, ki, self.h), self.source(ox, kj, self.w))
                                    else {
                                        continue;
                                    };
                                    let xi = ((b * self.c_in + ci) * self.h + iy) * self.w + ix;
                                    let wi = ((co * self.c_in + ci) * self.k + ki) * self.k + kj;
                                    y[yi] += x[xi] as f64 * w[wi] as f64;
                                    dx[xi] += r[yi] as f64 * w[wi] as f64;
                                    dw[wi] += r[yi] as f64 * x[xi] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        (y, dx, dw)
    }
}

/// (output, input gradient, weight gradient) from burn on the CPU backend with autodiff.
fn burn_passes(case: &Case, x: &[f32], w: &[f32], r: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let device = Device::flex().autodiff();
    let (oh, ow) = (case.out(case.h), case.out(case.w));
    let xt =
        Tensor::<4>::from_data(TensorData::new(x.to_vec(), [case.n, case.c_in, case.h, case.w]), &device)
            .require_grad();
    let wt =
        Tensor::<4>::from_data(TensorData::new(w.to_vec(), [case.c_out, case.c_in, case.k, case.k]), &device)
            .require_grad();
    let rt = Tensor::<4>::from_data(TensorData::new(r.to_vec(), [case.n, case.c_out, oh, ow]), &device);
    let options = ConvOptions::new([case.stride; 2], [case.pad; 2], [case.dilation; 2], 1);
    let y = conv2d(xt.clone(), wt.clone(), None, options);
    let grads = (y.clone() * rt).sum().backward();
    let vec = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().expect("f32 tensor");
    (vec(y), vec(xt.grad(&grads).expect("input gradient")), vec(wt.grad(&grads).expect("weight gradient")))
}

fn assert_close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
    }
}

#[test]
fn passes_match_direct_loops() {
    let case = |n, c_in, h, w, c_out, k, stride, pad, dilation| Case {
        n,
        c_in,
        h,
        w,
        c_out,
        k,
        stride,
        pad,
        dilation,
    };
    let cases = [
        case(4, 3, 8, 8, 5, 3, 1, 1, 1),  // 3×3 stride 1 (the blocks)
        case(3, 4, 9, 8, 6, 3, 2, 1, 1),  // 3×3 stride 2 (stems, downsampling blocks), odd size
        case(3, 4, 8, 8, 6, 1, 2, 0, 1),  // 1×1 stride 2 (projection shortcuts)
        case(2, 5, 6, 7, 3, 1, 1, 0, 1),  // 1×1 stride 1
        case(2, 2, 9, 9, 3, 3, 1, 2, 2),  // dilation
        case(40, 2, 5, 5, 3, 3, 1, 1, 1), // more images than weight-gradient chunks
    ];
    for case in cases {
        let (oh, ow) = (case.out(case.h), case.out(case.w));
        let x = common::values(case.n * case.c_in * case.h * case.w, 1, -0.5, 1.0);
        let w = common::values(case.c_out * case.c_in * case.k * case.k, 2, -0.5, 1.0);
        let r = common::values(case.n * case.c_out * oh * ow, 3, -0.5, 1.0);
        let (y, dx, dw) = burn_passes(&case, &x, &w, &r);
        let (y_ref, dx_ref, dw_ref) = case.reference(&x, &w, &r);
        assert_close(&y, &y_ref, &format!("{case:?} output"));
        assert_close(&dx, &dx_ref, &format!("{case:?} input gradient"));
        assert_close(&dw, &dw_ref, &format!("{case:?} weight gradient"));
    }
}

#[test]
fn weight_gradient_is_the_same_bits_at_any_thread_count() {
    let case = Case { n: 64, c_in: 8, h: 8, w: 8, c_out: 16, k: 3, stride: 1, pad: 1, dilation: 1 };
    let x = common::values(case.n * case.c_in * case.h * case.w, 4, -0.5, 1.0);
    let w = common::values(case.c_out * case.c_in * 9, 5, -0.5, 1.0);
    let r = common::values(case.n * case.c_out * 64, 6, -0.5, 1.0);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
        pool.install(|| burn_passes(&case, &x, &w, &r))
    };
    let one = run(1);
    for threads in [2, 3, 5] {
        let many = run(threads);
        assert!(one.0 == many.0 && one.1 == many.1 && one.2 == many.2, "{threads} threads differ from one");
    }
}

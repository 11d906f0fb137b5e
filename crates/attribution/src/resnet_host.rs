//! The gradient walk of `resnet_grad.rs` on the CPU, on plain host memory: the same forward pass
//! (convolution, then BatchNorm unmerged, ReLU, max pool, residual sums, average pool, `fc`),
//! the same ReLU masks and max-pool arg maxes, the same backward rules (BatchNorm's scale merged
//! into the transposed convolution's weight), but every convolution of a pass is **one matrix
//! product over all the pass's images** (`docs/METHODS.md#resnet-grad`, "On the CPU").
//!
//! Why: burn's CPU backend (flex) convolves image by image, one GEMM per image and 512-pixel tile.
//! At the late stages of a small image that is a product with 4–64 columns whose weight matrix is
//! re-packed for every image, far from the GEMM's peak; PyTorch convolves the whole batch at once.
//! Here feature maps are kept channel-major (`[C, N, H, W]`, "CNHW"), so the columns `(n, y, x)`
//! of all images lie side by side in one matrix row: a convolution is `W[C_out, C_in·kh·kw] ·
//! im2col[C_in·kh·kw, N·h·w]` (tiled over whole images to bound memory), a 1×1 stride-1 one needs
//! no im2col at all, and the transposed convolution of the backward pass is `Wᵀ · G` followed by a
//! col2im scatter. The products use the `gemm` crate (flex's own GEMM), with its threads natively.
//!
//! Only the inputs (`[R, 3, H, W]`), the parameters (once per model) and the results cross between
//! burn and host memory, and only on a CPU device, where a read is a copy, never a GPU round trip.
//! The walk's results equal the tensor walk's up to float32 summation order
//! (`tests/resnet_grad_equal.rs`), and the Captum fixtures run through it.

use burn::prelude::*;

use crate::AttributionError;
use crate::lrp::resnet::Bn;

/// Most floats an im2col tile may hold (16 MiB): a convolution is run over as many whole images
/// at a time as fit, so memory stays bounded at any batch size.
const COL_BUDGET: usize = 1 << 22;

/// Elements per thread's piece of an element-wise pass (ReLU masks, residual sums).
pub(crate) const ELEMENTWISE: usize = 1 << 15;

/// Feature maps of a pass, channel-major.
///
/// # Shapes
/// `data`: `[c, n, h, w]` row-major (CNHW).
#[derive(Debug, Clone)]
pub(crate) struct Maps {
    pub(crate) c: usize,
    pub(crate) n: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) data: Vec<f32>,
}

impl Maps {
    pub(crate) fn zeros(c: usize, n: usize, h: usize, w: usize) -> Self {
        Self { c, n, h, w, data: vec![0.0; c * n * h * w] }
    }

    /// From burn's `[N, C, H, W]` layout.
    pub(crate) fn from_nchw(v: &[f32], [n, c, h, w]: [usize; 4]) -> Self {
        let hw = h * w;
        let mut m = Self::zeros(c, n, h, w);
        for b in 0..n {
            for ch in 0..c {
                let src = (b * c + ch) * hw;
                let dst = (ch * n + b) * hw;
                m.data[dst..dst + hw].copy_from_slice(&v[src..src + hw]);
            }
        }
        m
    }

    /// To burn's `[N, C, H, W]` layout.
    pub(crate) fn to_nchw(&self) -> (Vec<f32>, [usize; 4]) {
        let hw = self.h * self.w;
        let mut v = vec![0.0; self.data.len()];
        for b in 0..self.n {
            for ch in 0..self.c {
                let dst = (b * self.c + ch) * hw;
                let src = (ch * self.n + b) * hw;
                v[dst..dst + hw].copy_from_slice(&self.data[src..src + hw]);
            }
        }
        (v, [self.n, self.c, self.h, self.w])
    }

    pub(crate) fn plane(&self) -> usize {
        self.n * self.h * self.w
    }

    /// The mean of each `[h, w]` map, as `adaptive_avg_pool2d(·, [1, 1])`.
    ///
    /// # Shapes
    /// `[C, N]` row-major.
    pub(crate) fn plane_means(&self) -> Vec<f32> {
        let hw = self.h * self.w;
        self.data.chunks(hw.max(1)).map(|m| m.iter().sum::<f32>() / hw as f32).collect()
    }

    /// Adds `bias` (per channel), applies BatchNorm (evaluation mode) and with `relu` the ReLU,
    /// in place: the epilogue of a convolution layer.
    pub(crate) fn bias_bn_relu(&mut self, bias: Option<&[f32]>, bn: Option<&HostBn>, relu: bool) {
        let plane = self.plane();
        for_chunks(&mut self.data, plane, |c, row| {
            let b = bias.map_or(0.0, |b| b[c]);
            for v in row.iter_mut() {
                let mut y = *v + b;
                if let Some(bn) = bn {
                    y = (y - bn.mean[c]) / bn.std[c] * bn.gamma[c] + bn.beta[c];
                }
                *v = if relu { y.max(0.0) } else { y };
            }
        });
    }
}

/// Buffers of a walk, kept from pass to pass: feature maps of a 224-pixel batch are tens of
/// megabytes, and a fresh allocation of that size is fresh pages from the kernel, zeroed and
/// faulted in on first write (with a TLB shoot-down to the other threads) every pass.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    /// The im2col tile.
    col: Vec<f32>,
    free: Vec<Vec<f32>>,
    masks: Vec<Vec<bool>>,
}

impl Pool {
    /// Most buffers of each kind kept between uses.
    const KEEP: usize = 32;

    /// The free buffer that best fits `len`: the smallest with room for it, else the largest.
    fn take<T>(free: &mut Vec<Vec<T>>, len: usize) -> Vec<T> {
        let fit = (0..free.len())
            .filter(|&i| free[i].capacity() >= len)
            .min_by_key(|&i| free[i].capacity())
            .or_else(|| (0..free.len()).max_by_key(|&i| free[i].capacity()));
        fit.map(|i| free.swap_remove(i)).unwrap_or_default()
    }

    /// Feature maps whose values are left over from an earlier use: for outputs that are
    /// written whole (a matrix product's result, a gather).
    pub(crate) fn dirty(&mut self, c: usize, n: usize, h: usize, w: usize) -> Maps {
        let len = c * n * h * w;
        let mut data = Self::take(&mut self.free, len);
        if data.len() >= len {
            data.truncate(len);
        } else {
            data.resize(len, 0.0);
        }
        Maps { c, n, h, w, data }
    }

    /// Zeroed feature maps.
    pub(crate) fn zeros(&mut self, c: usize, n: usize, h: usize, w: usize) -> Maps {
        let mut m = self.dirty(c, n, h, w);
        for_chunks(&mut m.data, ELEMENTWISE, |_, chunk| chunk.fill(0.0));
        m
    }

    /// Returns maps' memory for reuse.
    pub(crate) fn give(&mut self, m: Maps) {
        if self.free.len() < Self::KEEP {
            self.free.push(m.data);
        }
    }

    /// `true` where the value is ≤ 0: where a ReLU's gradient is zero (burn's and PyTorch's
    /// convention at the kink), as the tensor walk's `lower_equal_elem(0.0)`.
    fn dead(&mut self, m: &Maps) -> Vec<bool> {
        let mut dead = Self::take(&mut self.masks, m.data.len());
        dead.resize(m.data.len(), false);
        dead.truncate(m.data.len());
        for_chunks(&mut dead, ELEMENTWISE, |i, chunk| {
            for (d, &v) in chunk.iter_mut().zip(&m.data[i * ELEMENTWISE..]) {
                *d = v <= 0.0;
            }
        });
        dead
    }

    fn give_mask(&mut self, dead: Vec<bool>) {
        if self.masks.len() < Self::KEEP {
            self.masks.push(dead);
        }
    }
}

/// Runs `f(i, chunk)` over the `chunk`-long pieces of `data`, on rayon's threads natively.
pub(crate) fn for_chunks<T: Send>(data: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Send + Sync) {
    if chunk == 0 {
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        data.par_chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
    }
    #[cfg(target_arch = "wasm32")]
    data.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
}

/// A read-only matrix in a slice: element `(i, j)` at `i·rs + j·cs`.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

/// Whether an `rows × cols` matrix with strides `rs`, `cs` lies inside `len` floats.
fn fits(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < len
}

/// `dst[i·dst_rs + j] = Σ_l lhs(i, l) · rhs(l, j)` for an `m × n` result and inner size `k`.
fn matmul(m: usize, n: usize, k: usize, dst: &mut [f32], dst_rs: usize, lhs: Mat, rhs: Mat) {
    assert!(fits(dst.len(), m, n, dst_rs, 1), "matmul: destination out of bounds");
    assert!(fits(lhs.data.len(), m, k, lhs.rs, lhs.cs), "matmul: lhs out of bounds");
    assert!(fits(rhs.data.len(), k, n, rhs.rs, rhs.cs), "matmul: rhs out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            dst[i * dst_rs..i * dst_rs + n].fill(0.0);
        }
        return;
    }
    // Threads split the result, each running a single-threaded product: gemm's own threading
    // falls to a third of this speed on the 64-row products of a ResNet's first stage
    // (BENCHMARKS.md, "On host memory"). Each part packs the operand it does not split, so
    // the larger dimension is split: the columns (images × positions) early in the network, the
    // rows (output channels) late, where the weight matrix is the big operand. Pointers cross
    // threads as addresses; every part writes its own block of `dst`.
    let split_rows = m > n;
    let long = if split_rows { m } else { n };
    let parts = (long / 16).clamp(1, threads());
    let chunk = long.div_ceil(parts);
    let (d, l, r) = (dst.as_mut_ptr() as usize, lhs.data.as_ptr() as usize, rhs.data.as_ptr() as usize);
    let f32s = std::mem::size_of::<f32>();
    for_parts(parts, |p| {
        let (a0, a1) = (p * chunk, ((p + 1) * chunk).min(long));
        if a0 >= a1 {
            return;
        }
        // Rows a0..a1 of dst and lhs, or columns a0..a1 of dst and rhs.
        let (rows, cols, dst_at, lhs_at, rhs_at) = if split_rows {
            (a1 - a0, n, d + a0 * dst_rs * f32s, l + a0 * lhs.rs * f32s, r)
        } else {
            (m, a1 - a0, d + a0 * f32s, l, r + a0 * rhs.cs * f32s)
        };
        // SAFETY: the three asserts above keep every element gemm reads or writes inside its
        // slice (all strides are non-negative, and each part's rows or columns are a subset of
        // the whole); the parts write disjoint blocks of `dst`, which is borrowed mutably for
        // the whole call, the inputs immutably, so nothing aliases.
        #[allow(unsafe_code)]
        unsafe {
            gemm::gemm(
                rows,
                cols,
                k,
                dst_at as *mut f32,
                1,
                dst_rs as isize,
                false,
                lhs_at as *const f32,
                lhs.cs as isize,
                lhs.rs as isize,
                rhs_at as *const f32,
                rhs.cs as isize,
                rhs.rs as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    });
}

/// Threads available to [`for_parts`].
fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        rayon::current_num_threads()
    }
    #[cfg(target_arch = "wasm32")]
    {
        1
    }
}

/// Runs `f(0..parts)`, on rayon's threads natively.
fn for_parts(parts: usize, f: impl Fn(usize) + Send + Sync) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        (0..parts).into_par_iter().for_each(f);
    }
    #[cfg(target_arch = "wasm32")]
    (0..parts).for_each(f);
}

/// Reads a float tensor of a CPU device into host memory.
pub(crate) fn host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, AttributionError> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| AttributionError::Config(format!("reading a tensor into host memory: {e:?}")))
}

/// BatchNorm in evaluation mode, per channel: `(x − μ)/√(σ²+ε) · γ + β`, in burn's order of
/// operations.
#[derive(Debug, Clone)]
pub(crate) struct HostBn {
    pub(crate) gamma: Vec<f32>,
    pub(crate) beta: Vec<f32>,
    pub(crate) mean: Vec<f32>,
    /// `√(σ²+ε)`.
    pub(crate) std: Vec<f32>,
}

impl HostBn {
    pub(crate) fn of(bn: &Bn) -> Result<Self, AttributionError> {
        let var = host(bn.var.clone())?;
        let eps = bn.epsilon as f32;
        Ok(Self {
            gamma: host(bn.gamma.clone())?,
            beta: host(bn.beta.clone())?,
            mean: host(bn.mean.clone())?,
            std: var.iter().map(|v| (v + eps).sqrt()).collect(),
        })
    }
}

/// `out[n, y, x] = tile[n, y + di, x + dj]` for the images of `tile` (`[N, H, W]` row-major),
/// 0 where `(y + di, x + dj)` is outside the `H × W` image: im2col's row of one kernel tap of a
/// size-keeping stride-1 convolution.
fn shifted_plane(tile: &[f32], out: &mut [f32], [h, w]: [usize; 2], [di, dj]: [isize; 2]) {
    let len = tile.len().min(out.len());
    let hw = h * w;
    let off = di * w as isize + dj;
    let skip = off.unsigned_abs().min(len);
    if off >= 0 {
        out[..len - skip].copy_from_slice(&tile[skip..len]);
        out[len - skip..len].fill(0.0);
    } else {
        out[skip..len].copy_from_slice(&tile[..len - skip]);
        out[..skip].fill(0.0);
    }
    // Rows whose source row is outside the image, and columns whose source column is.
    let rows = if di >= 0 { h.saturating_sub(di as usize)..h } else { 0..(di.unsigned_abs()).min(h) };
    let cols = if dj >= 0 { w.saturating_sub(dj as usize)..w } else { 0..(dj.unsigned_abs()).min(w) };
    if hw == 0 {
        return;
    }
    for img in out[..len].chunks_mut(hw) {
        if !rows.is_empty() {
            let end = (rows.end * w).min(img.len());
            img[(rows.start * w).min(end)..end].fill(0.0);
        }
        // Column by column, a strided store (a `fill` per row would be a `memset` call per row
        // for one or two floats).
        for x in cols.clone() {
            for v in img.iter_mut().skip(x).step_by(w) {
                *v = 0.0;
            }
        }
    }
}

/// The shape of a convolution: channels, kernel, stride, symmetric zero padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) c_in: usize,
    pub(crate) c_out: usize,
    pub(crate) k: [usize; 2],
    pub(crate) stride: [usize; 2],
    pub(crate) pad: [usize; 2],
}

impl Geometry {
    /// Rows of the im2col matrix: `C_in·kh·kw`.
    fn kk(&self) -> usize {
        self.c_in * self.k[0] * self.k[1]
    }

    fn out_hw(&self, [h, w]: [usize; 2]) -> Result<[usize; 2], AttributionError> {
        let size = |x: usize, a: usize| {
            (x + 2 * self.pad[a]).checked_sub(self.k[a]).map(|v| v / self.stride[a] + 1)
        };
        match (size(h, 0), size(w, 1)) {
            (Some(a), Some(b)) => Ok([a, b]),
            _ => Err(AttributionError::Config(format!(
                "a {h}×{w} feature map is smaller than a {}×{} kernel: the image is too small for this ResNet",
                self.k[0], self.k[1]
            ))),
        }
    }

    fn pointwise(&self) -> bool {
        self.k == [1, 1] && self.stride == [1, 1] && self.pad == [0, 0]
    }

    /// Per kernel tap `(i, j)` and output position `(y, x)`, the flat index `yy·W + xx` in an
    /// `[H, W]` input plane that the tap reads (`u32::MAX` where it falls in the zero padding).
    fn taps(&self, [h, w]: [usize; 2], [ho, wo]: [usize; 2]) -> Vec<u32> {
        let [kh, kw] = self.k;
        let mut table = Vec::with_capacity(kh * kw * ho * wo);
        for i in 0..kh {
            for j in 0..kw {
                for y in 0..ho {
                    let yy = (y * self.stride[0] + i).wrapping_sub(self.pad[0]);
                    for x in 0..wo {
                        let xx = (x * self.stride[1] + j).wrapping_sub(self.pad[1]);
                        table.push(if yy < h && xx < w { (yy * w + xx) as u32 } else { u32::MAX });
                    }
                }
            }
        }
        table
    }

    /// Images per im2col tile: as many as fit [`COL_BUDGET`], at least one.
    fn tile_images(&self, n: usize, hw_out: usize) -> usize {
        (COL_BUDGET / (self.kk() * hw_out).max(1)).clamp(1, n.max(1))
    }

    /// `weight ⊛ x`: the convolution, one matrix product per tile of whole images. `weight` is
    /// `[C_out, C_in·kh·kw]`.
    ///
    /// # Shapes
    /// `x`: `[C_in, N, H, W]` → `[C_out, N, h, w]`.
    pub(crate) fn conv(&self, weight: &[f32], x: &Maps, pool: &mut Pool) -> Result<Maps, AttributionError> {
        let [ho, wo] = self.out_hw([x.h, x.w])?;
        let hw_out = ho * wo;
        let cols = x.n * hw_out;
        let kk = self.kk();
        let mut out = pool.dirty(self.c_out, x.n, ho, wo);
        let w = Mat { data: weight, rs: kk, cs: 1 };
        if self.pointwise() {
            let rhs = Mat { data: &x.data, rs: cols, cs: 1 };
            matmul(self.c_out, cols, kk, &mut out.data, cols, w, rhs);
            return Ok(out);
        }
        let taps = self.taps([x.h, x.w], [ho, wo]);
        let per = self.tile_images(x.n, hw_out);
        if pool.col.len() < kk * per * hw_out {
            pool.col.resize(kk * per * hw_out, 0.0);
        }
        for n0 in (0..x.n).step_by(per) {
            let tc = per.min(x.n - n0) * hw_out;
            let col = &mut pool.col[..kk * tc];
            self.im2col(x, n0, tc, [ho, wo], &taps, col);
            let rhs = Mat { data: col, rs: tc, cs: 1 };
            matmul(self.c_out, tc, kk, &mut out.data[n0 * hw_out..], cols, w, rhs);
        }
        Ok(out)
    }

    /// `col[(c, i, j), (n − n0, y, x)] = x[c, n, y·s − p + i, x·s − p + j]` (0 outside), for the
    /// `tc / hw_out` images from `n0`; `taps` as [`Self::taps`].
    fn im2col(&self, x: &Maps, n0: usize, tc: usize, [ho, wo]: [usize; 2], taps: &[u32], col: &mut [f32]) {
        let [kh, kw] = self.k;
        let hw_out = ho * wo;
        let (plane, h, w) = (x.plane(), x.h, x.w);
        let hw = h * w;
        // Rows of at least 8 outputs at stride 1 are contiguous runs of the input row: copied.
        let runs = self.stride[1] == 1 && wo >= 8;
        let [sh, ph, pw] = [self.stride[0], self.pad[0], self.pad[1]];
        // A stride-1 convolution that keeps the size (a ResNet's 3×3, padding 1, and their
        // adjoints): each tap's row is the tile's whole plane shifted by `di·W + dj`, so one copy
        // per tap, then zeros where the shift crosses a row or an image edge (the padding).
        let same = self.stride == [1, 1] && [ho, wo] == [h, w];
        for_chunks(col, kh * kw * tc, |c, rows| {
            let src = &x.data[c * plane + n0 * hw..(c + 1) * plane];
            if same {
                let tile = &src[..tc];
                for (t, row) in rows.chunks_exact_mut(tc).enumerate() {
                    let (di, dj) = ((t / kw) as isize - ph as isize, (t % kw) as isize - pw as isize);
                    shifted_plane(tile, row, [h, w], [di, dj]);
                }
                return;
            }
            for (t, row) in rows.chunks_exact_mut(tc).enumerate() {
                let idx = &taps[t * hw_out..(t + 1) * hw_out];
                let (i, j) = (t / kw, t % kw);
                // Output columns whose input column x + j − pw is inside the row.
                let lo = pw.saturating_sub(j).min(wo);
                let hi = (w + pw).saturating_sub(j).clamp(lo, wo);
                for (img, out) in src.chunks_exact(hw).zip(row.chunks_exact_mut(hw_out)) {
                    if !runs {
                        for (o, &ix) in out.iter_mut().zip(idx) {
                            *o = img.get(ix as usize).copied().unwrap_or(0.0);
                        }
                        continue;
                    }
                    for (y, line_out) in out.chunks_exact_mut(wo).enumerate() {
                        let yy = (y * sh + i).wrapping_sub(ph);
                        match img.get(yy.wrapping_mul(w)..yy.wrapping_mul(w).wrapping_add(w)) {
                            Some(line) if yy < h && hi > lo => {
                                line_out[..lo].fill(0.0);
                                line_out[hi..].fill(0.0);
                                let start = lo + j - pw;
                                line_out[lo..hi].copy_from_slice(&line[start..start + hi - lo]);
                            }
                            _ => line_out.fill(0.0),
                        }
                    }
                }
            }
        });
    }

    /// `weightᵀ ⊛ g`, the transposed convolution (the gradient at the input of [`Self::conv`]):
    /// one product `Wᵀ·G` per tile of whole images, scattered back by col2im.
    ///
    /// # Shapes
    /// `g`: `[C_out, N, h, w]`, `[H, W]` the input's size → `[C_in, N, H, W]`.
    pub(crate) fn conv_transpose(&self, weight: &[f32], g: &Maps, [h, w]: [usize; 2], pool: &mut Pool) -> Maps {
        let hw_out = g.h * g.w;
        let cols = g.n * hw_out;
        let kk = self.kk();
        // Wᵀ: element (r, o) at weight[o·kk + r].
        let wt = Mat { data: weight, rs: 1, cs: kk };
        if self.pointwise() {
            // Written whole by the product.
            let mut dx = pool.dirty(self.c_in, g.n, h, w);
            let rhs = Mat { data: &g.data, rs: cols, cs: 1 };
            matmul(self.c_in, cols, self.c_out, &mut dx.data, cols, wt, rhs);
            return dx;
        }
        // Added into by col2im.
        let mut dx = pool.zeros(self.c_in, g.n, h, w);
        let taps = self.taps([h, w], [g.h, g.w]);
        let per = self.tile_images(g.n, hw_out);
        if pool.col.len() < kk * per * hw_out {
            pool.col.resize(kk * per * hw_out, 0.0);
        }
        for n0 in (0..g.n).step_by(per) {
            let tc = per.min(g.n - n0) * hw_out;
            let col = &mut pool.col[..kk * tc];
            let rhs = Mat { data: &g.data[n0 * hw_out..], rs: cols, cs: 1 };
            matmul(kk, tc, self.c_out, col, tc, wt, rhs);
            self.col2im(col, n0, tc, hw_out, &taps, &mut dx);
        }
        dx
    }

    /// The adjoint of [`Self::im2col`]: adds each column entry back to the input position it
    /// was read from.
    fn col2im(&self, col: &[f32], n0: usize, tc: usize, hw_out: usize, taps: &[u32], dx: &mut Maps) {
        let kt = self.k[0] * self.k[1];
        let (plane, hw) = (dx.plane(), dx.h * dx.w);
        for_chunks(&mut dx.data, plane, |c, dst| {
            let rows = &col[c * kt * tc..(c + 1) * kt * tc];
            let dst = &mut dst[n0 * hw..];
            for (t, row) in rows.chunks_exact(tc).enumerate() {
                let idx = &taps[t * hw_out..(t + 1) * hw_out];
                for (img, src) in dst.chunks_exact_mut(hw).zip(row.chunks_exact(hw_out)) {
                    for (&v, &ix) in src.iter().zip(idx) {
                        if let Some(d) = img.get_mut(ix as usize) {
                            *d += v;
                        }
                    }
                }
            }
        });
    }

    /// The transposed convolution with `weight`, sized to the input `[H, W]`: as the forward
    /// convolution `adjoint` (from [`Self::adjoint`] of `weight`, a gather) where there is one and
    /// it gives that size, else by [`Self::conv_transpose`] (a scatter).
    pub(crate) fn input_grad(
        &self,
        weight: &[f32],
        adjoint: Option<&(Geometry, Vec<f32>)>,
        g: &Maps,
        hw: [usize; 2],
        pool: &mut Pool,
    ) -> Maps {
        if let Some((geometry, w)) = adjoint
            && let Ok(dx) = geometry.conv(w, g, pool)
        {
            if [dx.h, dx.w] == hw {
                return dx;
            }
            pool.give(dx);
        }
        self.conv_transpose(weight, g, hw, pool)
    }

    /// For stride 1: the convolution whose forward pass is this one's transposed convolution —
    /// channels swapped, the same kernel size, padding `k − 1 − p` — and its weight from this
    /// one's (`w'[c_in, c_out, i, j] = w[c_out, c_in, kh − 1 − i, kw − 1 − j]`). `None` for
    /// strided convolutions, or a padding beyond `k − 1`.
    pub(crate) fn adjoint(&self, weight: &[f32]) -> Option<(Self, Vec<f32>)> {
        let [kh, kw] = self.k;
        if self.stride != [1, 1] || self.pad[0] >= kh || self.pad[1] >= kw || self.pointwise() {
            return None;
        }
        let geometry = Self {
            c_in: self.c_out,
            c_out: self.c_in,
            k: self.k,
            stride: [1, 1],
            pad: [kh - 1 - self.pad[0], kw - 1 - self.pad[1]],
        };
        let mut w = vec![0.0; weight.len()];
        for o in 0..self.c_out {
            for c in 0..self.c_in {
                for i in 0..kh {
                    for j in 0..kw {
                        w[((c * self.c_out + o) * kh + i) * kw + j] =
                            weight[((o * self.c_in + c) * kh + (kh - 1 - i)) * kw + (kw - 1 - j)];
                    }
                }
            }
        }
        Some((geometry, w))
    }
}

/// A convolution and its BatchNorm, with the backward weight of the pair.
#[derive(Debug, Clone)]
struct HostLayer {
    geometry: Geometry,
    /// `[C_out, C_in·kh·kw]`.
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    /// `w·γ/√(σ²+ε)`, `[C_out, C_in·kh·kw]`.
    back: Vec<f32>,
    /// For stride 1, the backward as a forward convolution (an im2col gather instead of a
    /// col2im scatter): [`Geometry::adjoint`] of `back`, made at the first backward pass (a
    /// forward-only walk, `host_logits`, never needs it).
    back_conv: std::sync::OnceLock<Option<(Geometry, Vec<f32>)>>,
    bn: HostBn,
}

impl HostLayer {
    fn of(layer: &crate::resnet_grad::Layer) -> Result<Self, AttributionError> {
        let [c_out, c_in, kh, kw] = layer.conv.weight.dims();
        let bias = match &layer.conv.bias {
            Some(b) => Some(host(b.clone())?),
            None => None,
        };
        Ok(Self::new(
            Geometry { c_in, c_out, k: [kh, kw], stride: layer.conv.stride, pad: layer.conv.padding },
            host(layer.conv.weight.clone())?,
            bias,
            host(layer.back.clone())?,
            HostBn::of(&layer.bn)?,
        ))
    }

    fn new(geometry: Geometry, weight: Vec<f32>, bias: Option<Vec<f32>>, back: Vec<f32>, bn: HostBn) -> Self {
        Self { geometry, weight, bias, back, back_conv: std::sync::OnceLock::new(), bn }
    }

    /// Convolution, bias, BatchNorm, and with `relu` the ReLU.
    ///
    /// # Shapes
    /// `x`: `[C_in, N, H, W]` → `[C_out, N, h, w]`.
    fn forward(&self, x: &Maps, relu: bool, pool: &mut Pool) -> Result<Maps, AttributionError> {
        let mut out = self.geometry.conv(&self.weight, x, pool)?;
        out.bias_bn_relu(self.bias.as_deref(), Some(&self.bn), relu);
        Ok(out)
    }

    /// The gradient at the layer's input (through BatchNorm and the convolution; the caller
    /// applies ReLU masks).
    ///
    /// # Shapes
    /// `g`: `[C_out, N, h, w]`, `[H, W]` the input's size → `[C_in, N, H, W]`.
    fn backward(&self, g: &Maps, hw: [usize; 2], pool: &mut Pool) -> Maps {
        let adjoint = self.back_conv.get_or_init(|| self.geometry.adjoint(&self.back));
        self.geometry.input_grad(&self.back, adjoint.as_ref(), g, hw, pool)
    }
}

/// One residual block.
#[derive(Debug, Clone)]
struct HostBlock {
    layers: Vec<HostLayer>,
    downsample: Option<HostLayer>,
}

/// What a block's forward pass keeps for its backward pass.
struct BlockTape {
    in_hw: Vec<[usize; 2]>,
    /// After layers `0..last` of the main branch.
    dead: Vec<Vec<bool>>,
    out_dead: Vec<bool>,
}

impl HostBlock {
    fn forward(
        &self,
        x: Maps,
        keep: bool,
        pool: &mut Pool,
    ) -> Result<(Maps, Option<BlockTape>), AttributionError> {
        let mut in_hw = Vec::new();
        let mut dead = Vec::new();
        let last = self.layers.len() - 1;
        let mut a: Option<Maps> = None;
        for (u, layer) in self.layers.iter().enumerate() {
            let input = a.as_ref().unwrap_or(&x);
            if keep {
                in_hw.push([input.h, input.w]);
            }
            let out = layer.forward(input, u < last, pool)?;
            if keep && u < last {
                dead.push(pool.dead(&out));
            }
            if let Some(used) = a.replace(out) {
                pool.give(used);
            }
        }
        let Some(mut out) = a else {
            return Err(AttributionError::Config("a residual block without layers".into()));
        };
        let identity = match &self.downsample {
            Some(d) => {
                let identity = d.forward(&x, false, pool)?;
                pool.give(x);
                identity
            }
            None => x,
        };
        if identity.data.len() != out.data.len() {
            return Err(AttributionError::Config(
                "a residual block's shortcut and main branch differ in shape".into(),
            ));
        }
        for_chunks(&mut out.data, ELEMENTWISE, |c, chunk| {
            for (o, i) in chunk.iter_mut().zip(&identity.data[c * ELEMENTWISE..]) {
                *o = (*o + i).max(0.0);
            }
        });
        pool.give(identity);
        let tape = keep.then(|| BlockTape { in_hw, dead, out_dead: pool.dead(&out) });
        Ok((out, tape))
    }

    fn backward(&self, mut g: Maps, tape: BlockTape, pool: &mut Pool) -> Maps {
        mask(&mut g, &tape.out_dead);
        pool.give_mask(tape.out_dead);
        let shortcut = self.downsample.as_ref().map(|d| d.backward(&g, tape.in_hw[0], pool));
        let mut dead = tape.dead;
        let mut gb: Option<Maps> = None;
        for (u, layer) in self.layers.iter().enumerate().rev() {
            let mut next = layer.backward(gb.as_ref().unwrap_or(&g), tape.in_hw[u], pool);
            if u > 0
                && let Some(m) = dead.pop()
            {
                mask(&mut next, &m);
                pool.give_mask(m);
            }
            if let Some(used) = gb.replace(next) {
                pool.give(used);
            }
        }
        let Some(mut gb) = gb else {
            return g;
        };
        let short = shortcut.as_ref().unwrap_or(&g);
        for_chunks(&mut gb.data, ELEMENTWISE, |c, chunk| {
            for (a, b) in chunk.iter_mut().zip(&short.data[c * ELEMENTWISE..]) {
                *a += b;
            }
        });
        if let Some(short) = shortcut {
            pool.give(short);
        }
        pool.give(g);
        gb
    }
}

/// Zeroes `g` where `dead`.
fn mask(g: &mut Maps, dead: &[bool]) {
    for_chunks(&mut g.data, ELEMENTWISE, |i, chunk| {
        for (v, &d) in chunk.iter_mut().zip(&dead[i * ELEMENTWISE..]) {
            if d {
                *v = 0.0;
            }
        }
    });
}

/// The stem's max pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostPool {
    pub(crate) k: [usize; 2],
    pub(crate) stride: [usize; 2],
    pub(crate) pad: [usize; 2],
    pub(crate) dilation: [usize; 2],
}

impl HostPool {
    fn out_hw(&self, h: usize, w: usize) -> Result<[usize; 2], AttributionError> {
        let size = |x: usize, a: usize| {
            (x + 2 * self.pad[a])
                .checked_sub(self.dilation[a] * (self.k[a] - 1) + 1)
                .map(|v| v / self.stride[a] + 1)
        };
        match (size(h, 0), size(w, 1)) {
            (Some(a), Some(b)) => Ok([a, b]),
            _ => Err(AttributionError::Config(format!(
                "a {h}×{w} feature map is smaller than the max pool's window"
            ))),
        }
    }

    /// The pooled maps and, per output, the flat index of its arg max in its input plane (the
    /// first maximum in scan order; padding never wins).
    pub(crate) fn forward(&self, x: &Maps, pool: &mut Pool) -> Result<(Maps, Vec<u32>), AttributionError> {
        let [ho, wo] = self.out_hw(x.h, x.w)?;
        let mut out = pool.dirty(x.c, x.n, ho, wo);
        let mut arg = vec![u32::MAX; out.data.len()];
        let (h, w) = (x.h, x.w);
        // Per output, the window's in-plane indices in scan order (padding left out).
        let kt = self.k[0] * self.k[1];
        let mut window = vec![u32::MAX; ho * wo * kt];
        for (o, win) in window.chunks_exact_mut(kt).enumerate() {
            let (y, xo) = (o / wo, o % wo);
            let mut slots = win.iter_mut();
            for i in 0..self.k[0] {
                let yy = (y * self.stride[0] + i * self.dilation[0]).wrapping_sub(self.pad[0]);
                for j in 0..self.k[1] {
                    let xx = (xo * self.stride[1] + j * self.dilation[1]).wrapping_sub(self.pad[1]);
                    if yy < h
                        && xx < w
                        && let Some(slot) = slots.next()
                    {
                        *slot = (yy * w + xx) as u32;
                    }
                }
            }
        }
        for_chunks(&mut arg, ho * wo, |p, a| {
            let img = &x.data[p * h * w..(p + 1) * h * w];
            for (at, win) in a.iter_mut().zip(window.chunks_exact(kt)) {
                let mut best = f32::NEG_INFINITY;
                for &ix in win {
                    let Some(&v) = img.get(ix as usize) else { break };
                    // The first maximum in scan order; NaN wins, as in PyTorch.
                    if *at == u32::MAX || v > best || (v.is_nan() && !best.is_nan()) {
                        best = v;
                        *at = ix;
                    }
                }
            }
        });
        let hw_out = ho * wo;
        for_chunks(&mut out.data, hw_out, |p, o| {
            let img = &x.data[p * h * w..(p + 1) * h * w];
            for (v, &at) in o.iter_mut().zip(&arg[p * hw_out..]) {
                *v = img.get(at as usize).copied().unwrap_or(f32::NEG_INFINITY);
            }
        });
        Ok((out, arg))
    }

    /// Each output's gradient added at its arg max.
    ///
    /// # Shapes
    /// `g`: the pooled shape, `arg` as [`Self::forward`] → `[C, N, h, w]`.
    pub(crate) fn backward(g: &Maps, arg: &[u32], [h, w]: [usize; 2], pool: &mut Pool) -> Maps {
        let mut dx = pool.zeros(g.c, g.n, h, w);
        let hw_out = g.h * g.w;
        for_chunks(&mut dx.data, h * w, |p, plane| {
            let gs = &g.data[p * hw_out..(p + 1) * hw_out];
            let args = &arg[p * hw_out..(p + 1) * hw_out];
            for (v, &a) in gs.iter().zip(args) {
                if let Some(d) = plane.get_mut(a as usize) {
                    *d += v;
                }
            }
        });
        dx
    }
}

/// What the whole forward pass keeps.
struct Tape {
    x_hw: [usize; 2],
    pre_pool_hw: [usize; 2],
    pre_pool_dead: Vec<bool>,
    pool_arg: Vec<u32>,
    stages: Vec<Vec<BlockTape>>,
    last: [usize; 4],
}

/// A ResNet's parameters in host memory, for the walk on a CPU device.
#[derive(Debug)]
pub(crate) struct HostWalk {
    stem: HostLayer,
    pool: HostPool,
    stages: Vec<Vec<HostBlock>>,
    /// `[F, K]` (burn's `[in, out]`).
    fc_weight: Vec<f32>,
    fc_bias: Option<Vec<f32>>,
    features: usize,
    classes: usize,
    /// Buffers kept from pass to pass ([`Pool`]).
    buffers: std::sync::Mutex<Pool>,
}

impl HostWalk {
    /// The walk's layers read into host memory; `None` for a model the host walk does not cover
    /// (a max pool in ceil mode), which then stays on the tensor walk.
    pub(crate) fn of(walk: &crate::resnet_grad::Walk) -> Result<Option<Self>, AttributionError> {
        let p = &walk.pool;
        if p.ceil_mode {
            return Ok(None);
        }
        let stages = walk
            .stages
            .iter()
            .map(|stage| {
                stage
                    .iter()
                    .map(|b| {
                        Ok(HostBlock {
                            layers: b.layers.iter().map(HostLayer::of).collect::<Result<_, _>>()?,
                            downsample: b.downsample.as_ref().map(HostLayer::of).transpose()?,
                        })
                    })
                    .collect::<Result<Vec<_>, AttributionError>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let [features, classes] = walk.fc_weight.dims();
        Ok(Some(Self {
            stem: HostLayer::of(&walk.stem)?,
            pool: HostPool {
                k: p.kernel_size,
                stride: p.stride,
                pad: walk.pool_padding,
                dilation: p.dilation,
            },
            stages,
            fc_weight: host(walk.fc_weight.clone())?,
            fc_bias: walk.fc_bias.clone().map(host).transpose()?,
            features,
            classes,
            buffers: std::sync::Mutex::default(),
        }))
    }

    /// The walk's buffers (a poisoned lock only means an earlier pass panicked: its buffers are
    /// still buffers).
    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.buffers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The logits `[N, K]` (row-major) of the images `x`, and with `keep` the tape.
    fn forward(
        &self,
        x: &Maps,
        keep: bool,
        pool: &mut Pool,
    ) -> Result<(Vec<f32>, Option<Tape>), AttributionError> {
        self.check_channels(x.c)?;
        let pre_pool = self.stem.forward(x, true, pool)?;
        self.forward_from_stem(pre_pool, [x.h, x.w], keep, pool)
    }

    /// [`HostWalk::forward`] from the stem's output (after its ReLU), for images of size `x_hw`.
    fn forward_from_stem(
        &self,
        pre_pool: Maps,
        x_hw: [usize; 2],
        keep: bool,
        pool: &mut Pool,
    ) -> Result<(Vec<f32>, Option<Tape>), AttributionError> {
        let (mut h, pool_arg) = self.pool.forward(&pre_pool, pool)?;
        let pre_pool_hw = [pre_pool.h, pre_pool.w];
        let pre_pool_dead = if keep { pool.dead(&pre_pool) } else { Vec::new() };
        pool.give(pre_pool);
        let mut stages = Vec::new();
        for stage in &self.stages {
            let mut tapes = Vec::new();
            for block in stage {
                let (out, tape) = block.forward(h, keep, pool)?;
                h = out;
                tapes.extend(tape);
            }
            stages.push(tapes);
        }
        if h.c != self.features {
            return Err(AttributionError::Config(format!(
                "the last stage has {} channels; fc takes {}",
                h.c, self.features
            )));
        }
        let n = h.n;
        // The features `[C, N]`, read as `[N, C]` through the strides.
        let feats = h.plane_means();
        let k = self.classes;
        let mut logits = vec![0.0f32; n * k];
        matmul(
            n,
            k,
            self.features,
            &mut logits,
            k,
            Mat { data: &feats, rs: 1, cs: n },
            Mat { data: &self.fc_weight, rs: k, cs: 1 },
        );
        if let Some(b) = &self.fc_bias {
            for row in logits.chunks_mut(k) {
                for (v, b) in row.iter_mut().zip(b) {
                    *v += b;
                }
            }
        }
        let last = [h.c, h.n, h.h, h.w];
        pool.give(h);
        let tape = keep.then_some(Tape {
            x_hw,
            pre_pool_hw,
            pre_pool_dead,
            pool_arg,
            stages,
            last,
        });
        Ok((logits, tape))
    }

    /// The input gradient (`[3, N, H, W]`) for the gradient `g` (`[N, K]`) at the logits.
    fn backward(&self, g: &[f32], tape: Tape, pool: &mut Pool) -> Maps {
        let x_hw = tape.x_hw;
        let gm = self.backward_to_stem(g, tape, pool);
        let dx = self.stem.backward(&gm, x_hw, pool);
        pool.give(gm);
        dx
    }

    /// The gradient at the stem's BatchNorm output (`[64, N, h, w]`, through its ReLU) for the
    /// gradient `g` (`[N, K]`) at the logits.
    fn backward_to_stem(&self, g: &[f32], tape: Tape, pool: &mut Pool) -> Maps {
        let [c, n, fh, fw] = tape.last;
        let k = self.classes;
        let mut gf = vec![0.0f32; n * c];
        matmul(
            n,
            c,
            k,
            &mut gf,
            c,
            Mat { data: g, rs: k, cs: 1 },
            Mat { data: &self.fc_weight, rs: 1, cs: k },
        );
        let hw = fh * fw;
        let mut gm = pool.dirty(c, n, fh, fw);
        for ch in 0..c {
            for b in 0..n {
                let v = gf[b * c + ch] / hw as f32;
                gm.data[(ch * n + b) * hw..(ch * n + b + 1) * hw].fill(v);
            }
        }
        for (stage, tapes) in self.stages.iter().zip(tape.stages).rev() {
            for (block, bt) in stage.iter().zip(tapes).rev() {
                gm = block.backward(gm, bt, pool);
            }
        }
        let pooled = gm;
        let mut gm = HostPool::backward(&pooled, &tape.pool_arg, tape.pre_pool_hw, pool);
        pool.give(pooled);
        mask(&mut gm, &tape.pre_pool_dead);
        pool.give_mask(tape.pre_pool_dead);
        gm
    }

    /// The logits of `x` (`[N, C, H, W]` row-major): `[N, K]` row-major.
    pub(crate) fn logits(&self, x: &[f32], dims: [usize; 4]) -> Result<Vec<f32>, AttributionError> {
        Ok(self.forward(&Maps::from_nchw(x, dims), false, &mut self.pool())?.0)
    }

    /// The input gradient of the images `x` (`[N, C, H, W]` row-major) for the gradient at the
    /// logits that `output_grad` returns from the logits: (`[N, C, H, W]` gradient, logits).
    pub(crate) fn input_grad(
        &self,
        x: &[f32],
        dims: [usize; 4],
        output_grad: impl FnOnce(&[f32], [usize; 2]) -> Result<Vec<f32>, AttributionError>,
    ) -> Result<(Vec<f32>, Vec<f32>), AttributionError> {
        let mut pool = self.pool();
        let (logits, tape) = self.forward(&Maps::from_nchw(x, dims), true, &mut pool)?;
        let (g, tape) = self.seed(&logits, tape, output_grad)?;
        Ok((self.backward(&g, tape, &mut pool).to_nchw().0, logits))
    }

    /// `output_grad`'s gradient at the `logits` of a taped forward pass, checked against their
    /// shape, and the tape.
    fn seed(
        &self,
        logits: &[f32],
        tape: Option<Tape>,
        output_grad: impl FnOnce(&[f32], [usize; 2]) -> Result<Vec<f32>, AttributionError>,
    ) -> Result<(Vec<f32>, Tape), AttributionError> {
        let rows = logits.len() / self.classes.max(1);
        let g = output_grad(logits, [rows, self.classes])?;
        if g.len() != logits.len() {
            return Err(AttributionError::Config(format!(
                "the gradient at the logits has {} values; it must match the logits, [{rows}, {}]",
                g.len(),
                self.classes
            )));
        }
        let Some(tape) = tape else {
            return Err(AttributionError::Config("the host walk kept no tape".into()));
        };
        Ok((g, tape))
    }

    /// An error unless the stem takes images of `c` channels.
    fn check_channels(&self, c: usize) -> Result<(), AttributionError> {
        if c != self.stem.geometry.c_in {
            return Err(AttributionError::Config(format!(
                "the images have {c} channels; the model takes {}",
                self.stem.geometry.c_in
            )));
        }
        Ok(())
    }
}

/// The stem convolution of both ends of a straight path `b + α·d`, without its bias and
/// BatchNorm: by linearity a point's convolution is `conv(b) + α·conv(d)`, so the stem convolves
/// each image twice per path instead of once per step, and its transposed convolution runs once on
/// the steps' summed gradients (`docs/METHODS.md#resnet-grad`, "A straight path").
///
/// # Shapes
/// `base`, `diff`: `[C_stem, N, h, w]`.
#[derive(Debug)]
pub(crate) struct PathStem {
    base: Maps,
    diff: Maps,
    x_hw: [usize; 2],
}

impl HostWalk {
    /// The stem convolutions of the path from `baseline` along `diff` (`[N, C, H, W]` row-major
    /// each).
    pub(crate) fn path_stem(
        &self,
        baseline: &[f32],
        diff: &[f32],
        dims: [usize; 4],
    ) -> Result<PathStem, AttributionError> {
        self.check_channels(dims[1])?;
        let mut pool = self.pool();
        let g = &self.stem.geometry;
        let base = g.conv(&self.stem.weight, &Maps::from_nchw(baseline, dims), &mut pool)?;
        let diff = g.conv(&self.stem.weight, &Maps::from_nchw(diff, dims), &mut pool)?;
        Ok(PathStem { base, diff, x_hw: [dims[2], dims[3]] })
    }

    /// The input gradient summed over the path's points at `alphas`, for the gradient at the
    /// logits that `output_grad` returns from the logits (the steps' weights go there): the
    /// stem's output of each point from [`PathStem`], the rest of the network as
    /// [`HostWalk::input_grad`], the gradients at the stem's output summed over the steps and
    /// carried through its transposed convolution once. Returns (`[N, C, H, W]` gradient, logits
    /// `[m·N, K]`).
    ///
    /// # Shapes
    /// Row `s·N + i` of the logits and of `output_grad`'s gradient is image `i` at `alphas[s]`.
    pub(crate) fn path_grad(
        &self,
        stem: &PathStem,
        alphas: &[f32],
        output_grad: impl FnOnce(&[f32], [usize; 2]) -> Result<Vec<f32>, AttributionError>,
    ) -> Result<(Vec<f32>, Vec<f32>), AttributionError> {
        let mut pool = self.pool();
        let (c, n, h, w) = (stem.base.c, stem.base.n, stem.base.h, stem.base.w);
        let (m, block) = (alphas.len(), n * h * w);
        let mut pre = pool.dirty(c, m * n, h, w);
        // `[C, m·N, h, w]`: block `ch·m + s` is channel `ch` of every image at `alphas[s]`.
        for_chunks(&mut pre.data, block, |j, out| {
            let (ch, s) = (j / m, j % m);
            let at = ch * block..(ch + 1) * block;
            for (o, (b, d)) in out.iter_mut().zip(stem.base.data[at.clone()].iter().zip(&stem.diff.data[at])) {
                *o = b + alphas[s] * d;
            }
        });
        pre.bias_bn_relu(self.stem.bias.as_deref(), Some(&self.stem.bn), true);
        let (logits, tape) = self.forward_from_stem(pre, stem.x_hw, true, &mut pool)?;
        let (g, tape) = self.seed(&logits, tape, output_grad)?;
        let gm = self.backward_to_stem(&g, tape, &mut pool);
        let mut summed = pool.dirty(c, n, h, w);
        for_chunks(&mut summed.data, block, |ch, out| {
            out.copy_from_slice(&gm.data[ch * m * block..(ch * m + 1) * block]);
            for s in 1..m {
                let at = (ch * m + s) * block;
                for (o, v) in out.iter_mut().zip(&gm.data[at..at + block]) {
                    *o += v;
                }
            }
        });
        pool.give(gm);
        let dx = self.stem.backward(&summed, stem.x_hw, &mut pool);
        pool.give(summed);
        Ok((dx.to_nchw().0, logits))
    }
}

/// Whether a tensor on `device` lives in host memory on burn's CPU backend (flex), where the
/// host walk applies; an autodiff device answers for the device it wraps.
pub(crate) fn is_cpu(device: &Device) -> bool {
    format!("{device:?}").contains("Flex")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// im2col then a product equals a direct convolution, and col2im is its adjoint
    /// (`⟨conv(x), g⟩ = ⟨x, convᵀ(g)⟩`), for strides, paddings and kernels of the ResNets and
    /// odd ones, on sizes that leave ragged edges.
    #[test]
    fn convolution_and_its_adjoint_match_direct_loops() {
        let mut seed = 1u64;
        let mut rnd = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        for &(c_in, c_out, k, s, p, h, w, n) in &[
            (3, 4, [7, 7], [2, 2], [3, 3], 11, 9, 2),
            (2, 3, [3, 3], [1, 1], [1, 1], 5, 6, 3),
            (2, 3, [3, 3], [2, 2], [1, 1], 6, 7, 2),
            (3, 2, [1, 1], [2, 2], [0, 0], 5, 4, 2),
            (3, 2, [1, 1], [1, 1], [0, 0], 4, 4, 3),
            (1, 2, [2, 3], [1, 2], [0, 1], 5, 5, 1),
            (2, 2, [2, 3], [1, 1], [1, 2], 4, 5, 2),
            // Output rows of 8 or more at stride 1: the im2col copies runs.
            (2, 3, [3, 3], [1, 1], [1, 1], 9, 10, 2),
            (2, 2, [7, 7], [1, 1], [3, 3], 5, 12, 2),
            (1, 2, [2, 3], [1, 1], [1, 2], 4, 9, 2),
            (2, 2, [3, 3], [2, 1], [0, 0], 7, 11, 2),
            // Size-keeping stride-1 convolutions on small maps (one shifted copy per tap), the
            // shift as large as the map or larger.
            (2, 3, [3, 3], [1, 1], [1, 1], 2, 2, 3),
            (2, 3, [3, 3], [1, 1], [1, 1], 1, 1, 2),
            (2, 2, [7, 7], [1, 1], [3, 3], 2, 3, 2),
            (3, 2, [5, 5], [1, 1], [2, 2], 3, 4, 3),
            (2, 2, [3, 5], [1, 1], [1, 2], 4, 2, 2),
        ] {
            let kk = c_in * k[0] * k[1];
            let weight: Vec<f32> = (0..c_out * kk).map(|_| rnd()).collect();
            let layer = HostLayer::new(
                Geometry { c_in, c_out, k, stride: s, pad: p },
                weight.clone(),
                None,
                weight.clone(),
                HostBn {
                    gamma: vec![1.0; c_out],
                    beta: vec![0.0; c_out],
                    mean: vec![0.0; c_out],
                    std: vec![1.0; c_out],
                },
            );
            assert!(layer.back_conv.get().is_none(), "the adjoint is made at the first backward pass");
            let mut x = Maps::zeros(c_in, n, h, w);
            x.data.iter_mut().for_each(|v| *v = rnd());
            let y = layer.forward(&x, false, &mut Pool::default()).expect("fits");
            let (ho, wo) = (y.h, y.w);
            for o in 0..c_out {
                for b in 0..n {
                    for yo in 0..ho {
                        for xo in 0..wo {
                            let mut want = 0.0f64;
                            for c in 0..c_in {
                                for i in 0..k[0] {
                                    for j in 0..k[1] {
                                        let yy = (yo * s[0] + i) as isize - p[0] as isize;
                                        let xx = (xo * s[1] + j) as isize - p[1] as isize;
                                        if yy < 0 || xx < 0 || yy >= h as isize || xx >= w as isize {
                                            continue;
                                        }
                                        let xv = x.data[((c * n + b) * h + yy as usize) * w + xx as usize];
                                        want += f64::from(weight[o * kk + (c * k[0] + i) * k[1] + j] * xv);
                                    }
                                }
                            }
                            let got = y.data[((o * n + b) * ho + yo) * wo + xo];
                            assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
                        }
                    }
                }
            }
            let mut g = Maps::zeros(c_out, n, ho, wo);
            g.data.iter_mut().for_each(|v| *v = rnd());
            let dx = layer.backward(&g, [h, w], &mut Pool::default());
            let gathers = layer.back_conv.get().is_some_and(Option::is_some);
            assert_eq!(gathers, s == [1, 1] && k != [1, 1], "stride-1 layers gather");
            let lhs: f64 = y.data.iter().zip(&g.data).map(|(a, b)| f64::from(a * b)).sum();
            let rhs: f64 = x.data.iter().zip(&dx.data).map(|(a, b)| f64::from(a * b)).sum();
            assert!((lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()), "{lhs} vs {rhs}");
            // The gather (adjoint convolution) and the scatter (col2im) give the same gradient.
            let scattered = layer.geometry.conv_transpose(&layer.back, &g, [h, w], &mut Pool::default());
            for (a, b) in dx.data.iter().zip(&scattered.data) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }

    /// The max pool (torchvision's stem: 3×3, stride 2, padding 1, and an odd one) against
    /// brute force: each output is its window's maximum, its arg max points at that value, and
    /// the backward adds each gradient at the arg max.
    #[test]
    fn max_pool_matches_brute_force() {
        for (k, stride, pad, h, w) in [([3, 3], [2, 2], [1, 1], 9, 8), ([2, 3], [1, 2], [0, 1], 5, 7)] {
            let pool = HostPool { k, stride, pad, dilation: [1, 1] };
            let mut x = Maps::zeros(2, 2, h, w);
            for (i, v) in x.data.iter_mut().enumerate() {
                *v = ((i * 7919) % 211) as f32 - 100.0;
            }
            let (y, arg) = pool.forward(&x, &mut Pool::default()).expect("fits");
            let hw_out = y.h * y.w;
            for p in 0..4 {
                let img = &x.data[p * h * w..(p + 1) * h * w];
                for yo in 0..y.h {
                    for xo in 0..y.w {
                        let mut want = f32::NEG_INFINITY;
                        for i in 0..k[0] {
                            for j in 0..k[1] {
                                let (yy, xx) = ((yo * stride[0] + i) as isize - pad[0] as isize, (xo * stride[1] + j) as isize - pad[1] as isize);
                                if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                                    want = want.max(img[yy as usize * w + xx as usize]);
                                }
                            }
                        }
                        let o = p * hw_out + yo * y.w + xo;
                        assert_eq!(y.data[o], want);
                        assert_eq!(img[arg[o] as usize], want);
                    }
                }
            }
            let mut g = Maps::zeros(2, 2, y.h, y.w);
            g.data.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32 + 1.0);
            let dx = HostPool::backward(&g, &arg, [h, w], &mut Pool::default());
            let mut want = vec![0.0f32; dx.data.len()];
            for (o, &a) in arg.iter().enumerate() {
                want[(o / hw_out) * h * w + a as usize] += g.data[o];
            }
            assert_eq!(dx.data, want);
        }
    }

    /// The layout round trip is exact.
    #[test]
    fn nchw_round_trip() {
        let v: Vec<f32> = (0..2 * 3 * 4 * 5).map(|i| i as f32).collect();
        let m = Maps::from_nchw(&v, [2, 3, 4, 5]);
        assert_eq!(m.data[4 * 5], 3.0 * 4.0 * 5.0, "image 1 of channel 0 follows image 0");
        assert_eq!(m.to_nchw(), (v, [2, 3, 4, 5]));
    }
}

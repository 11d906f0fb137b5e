//! Host-memory kernels of a ResNet pass on the CPU: feature maps kept channel-major
//! (`[C, N, H, W]`, "CNHW"), every convolution of a pass **one matrix product over all the pass's
//! images** (im2col, then `W[C_out, C_in·kh·kw] · col[C_in·kh·kw, N·h·w]`, tiled over whole
//! images), its transposed convolution (`Wᵀ · G`, then col2im or, at stride 1, the adjoint
//! convolution), the max pool with its arg maxes, BatchNorm's evaluation-mode epilogue, and a
//! buffer pool reused from pass to pass (`docs/METHODS.md#resnet-grad`, "On the CPU").
//!
//! Why: burn's CPU backend (flex) convolves image by image, one GEMM per image and 512-pixel tile.
//! At the late stages of a small image that is a product with 4–64 columns whose weight matrix is
//! re-packed for every image, far from the GEMM's peak; PyTorch convolves the whole batch at once.
//! The products use the `gemm` crate (flex's own GEMM), with its threads natively.
//!
//! Two users: the attribution crate's gradient and LRP walks (`biaslens_attribution`,
//! `resnet_host.rs`, `lrp/host.rs`), and training on the CPU ([`crate::host_train`]).

/// A feature map too small for a kernel or window, or inconsistent shapes: the message says
/// which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostError(pub String);

/// Most floats an im2col tile may hold (16 MiB): a convolution is run over as many whole images
/// at a time as fit, so memory stays bounded at any batch size.
pub const COL_BUDGET: usize = 1 << 22;

/// Elements per thread's piece of an element-wise pass (ReLU masks, residual sums).
pub const ELEMENTWISE: usize = 1 << 15;

/// Feature maps of a pass, channel-major.
///
/// # Shapes
/// `data`: `[c, n, h, w]` row-major (CNHW).
#[derive(Debug, Clone)]
pub struct Maps {
    /// Channels.
    pub c: usize,
    /// Images.
    pub n: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// `[c, n, h, w]` row-major.
    pub data: Vec<f32>,
}

impl Maps {
    /// Zeroed maps.
    pub fn zeros(c: usize, n: usize, h: usize, w: usize) -> Self {
        Self { c, n, h, w, data: vec![0.0; c * n * h * w] }
    }

    /// From burn's `[N, C, H, W]` layout.
    pub fn from_nchw(v: &[f32], [n, c, h, w]: [usize; 4]) -> Self {
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
    pub fn to_nchw(&self) -> (Vec<f32>, [usize; 4]) {
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

    /// Values per channel: `n·h·w`.
    pub fn plane(&self) -> usize {
        self.n * self.h * self.w
    }

    /// The mean of each `[h, w]` map, as `adaptive_avg_pool2d(·, [1, 1])`.
    ///
    /// # Shapes
    /// `[C, N]` row-major.
    pub fn plane_means(&self) -> Vec<f32> {
        let hw = self.h * self.w;
        self.data.chunks(hw.max(1)).map(|m| m.iter().sum::<f32>() / hw as f32).collect()
    }

    /// Adds `bias` (per channel), applies BatchNorm (evaluation mode) and with `relu` the ReLU,
    /// in place: the epilogue of a convolution layer.
    pub fn bias_bn_relu(&mut self, bias: Option<&[f32]>, bn: Option<&HostBn>, relu: bool) {
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
pub struct Pool {
    /// The im2col tile.
    pub col: Vec<f32>,
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
    pub fn dirty(&mut self, c: usize, n: usize, h: usize, w: usize) -> Maps {
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
    pub fn zeros(&mut self, c: usize, n: usize, h: usize, w: usize) -> Maps {
        let mut m = self.dirty(c, n, h, w);
        for_chunks(&mut m.data, ELEMENTWISE, |_, chunk| chunk.fill(0.0));
        m
    }

    /// Returns maps' memory for reuse.
    pub fn give(&mut self, m: Maps) {
        if self.free.len() < Self::KEEP {
            self.free.push(m.data);
        }
    }

    /// `true` where the value is ≤ 0: where a ReLU's gradient is zero (burn's and PyTorch's
    /// convention at the kink), as the tensor walk's `lower_equal_elem(0.0)`.
    pub fn dead(&mut self, m: &Maps) -> Vec<bool> {
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

    /// Returns a mask's memory for reuse.
    pub fn give_mask(&mut self, dead: Vec<bool>) {
        if self.masks.len() < Self::KEEP {
            self.masks.push(dead);
        }
    }
}

/// Runs `f(i, chunk)` over the `chunk`-long pieces of `data`, on rayon's threads natively.
pub fn for_chunks<T: Send>(data: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Send + Sync) {
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
pub struct Mat<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

/// Whether an `rows × cols` matrix with strides `rs`, `cs` lies inside `len` floats.
pub fn fits(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < len
}

/// `dst[i·dst_rs + j] = Σ_l lhs(i, l) · rhs(l, j)` for an `m × n` result and inner size `k`.
pub fn matmul(m: usize, n: usize, k: usize, dst: &mut [f32], dst_rs: usize, lhs: Mat, rhs: Mat) {
    product(m, n, k, dst, dst_rs, lhs, rhs, false);
}

/// `dst[i·dst_rs + j] += Σ_l lhs(i, l) · rhs(l, j)`: [`matmul`] added into `dst`.
pub fn matmul_add(m: usize, n: usize, k: usize, dst: &mut [f32], dst_rs: usize, lhs: Mat, rhs: Mat) {
    product(m, n, k, dst, dst_rs, lhs, rhs, true);
}

#[allow(clippy::too_many_arguments)]
fn product(m: usize, n: usize, k: usize, dst: &mut [f32], dst_rs: usize, lhs: Mat, rhs: Mat, add: bool) {
    assert!(fits(dst.len(), m, n, dst_rs, 1), "matmul: destination out of bounds");
    assert!(fits(lhs.data.len(), m, k, lhs.rs, lhs.cs), "matmul: lhs out of bounds");
    assert!(fits(rhs.data.len(), k, n, rhs.rs, rhs.cs), "matmul: rhs out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if add {
            return;
        }
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
                add,
                lhs_at as *const f32,
                lhs.cs as isize,
                lhs.rs as isize,
                rhs_at as *const f32,
                rhs.cs as isize,
                rhs.rs as isize,
                if add { 1.0 } else { 0.0 },
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
pub fn threads() -> usize {
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
pub fn for_parts(parts: usize, f: impl Fn(usize) + Send + Sync) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        (0..parts).into_par_iter().for_each(f);
    }
    #[cfg(target_arch = "wasm32")]
    (0..parts).for_each(f);
}

/// BatchNorm in evaluation mode, per channel: `(x − μ)/√(σ²+ε) · γ + β`, in burn's order of
/// operations.
#[derive(Debug, Clone)]
pub struct HostBn {
    /// γ.
    pub gamma: Vec<f32>,
    /// β.
    pub beta: Vec<f32>,
    /// The running mean μ.
    pub mean: Vec<f32>,
    /// `√(σ²+ε)`.
    pub std: Vec<f32>,
}

/// `out[n, y, x] = tile[n, y + di, x + dj]` for the images of `tile` (`[N, H, W]` row-major),
/// 0 where `(y + di, x + dj)` is outside the `H × W` image: im2col's row of one kernel tap of a
/// size-keeping stride-1 convolution.
pub fn shifted_plane(tile: &[f32], out: &mut [f32], [h, w]: [usize; 2], [di, dj]: [isize; 2]) {
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
pub struct Geometry {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// `[kh, kw]`.
    pub k: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
    /// `[ph, pw]`, on both sides.
    pub pad: [usize; 2],
}

impl Geometry {
    /// Rows of the im2col matrix: `C_in·kh·kw`.
    pub fn kk(&self) -> usize {
        self.c_in * self.k[0] * self.k[1]
    }

    /// The output size for an `[H, W]` input; an error where the map is smaller than the kernel.
    pub fn out_hw(&self, [h, w]: [usize; 2]) -> Result<[usize; 2], HostError> {
        let size = |x: usize, a: usize| {
            (x + 2 * self.pad[a]).checked_sub(self.k[a]).map(|v| v / self.stride[a] + 1)
        };
        match (size(h, 0), size(w, 1)) {
            (Some(a), Some(b)) => Ok([a, b]),
            _ => Err(HostError(format!(
                "a {h}×{w} feature map is smaller than a {}×{} kernel: the image is too small for this ResNet",
                self.k[0], self.k[1]
            ))),
        }
    }

    /// Whether this is a 1×1 stride-1 convolution without padding (no im2col needed).
    pub fn pointwise(&self) -> bool {
        self.k == [1, 1] && self.stride == [1, 1] && self.pad == [0, 0]
    }

    /// Per kernel tap `(i, j)` and output position `(y, x)`, the flat index `yy·W + xx` in an
    /// `[H, W]` input plane that the tap reads (`u32::MAX` where it falls in the zero padding).
    pub fn taps(&self, [h, w]: [usize; 2], [ho, wo]: [usize; 2]) -> Vec<u32> {
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
    pub fn tile_images(&self, n: usize, hw_out: usize) -> usize {
        (COL_BUDGET / (self.kk() * hw_out).max(1)).clamp(1, n.max(1))
    }

    /// `weight ⊛ x`: the convolution, one matrix product per tile of whole images. `weight` is
    /// `[C_out, C_in·kh·kw]`.
    ///
    /// # Shapes
    /// `x`: `[C_in, N, H, W]` → `[C_out, N, h, w]`.
    pub fn conv(&self, weight: &[f32], x: &Maps, pool: &mut Pool) -> Result<Maps, HostError> {
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
        self.col_tiles(x, [ho, wo], pool, |n0, tc, col| {
            let rhs = Mat { data: col, rs: tc, cs: 1 };
            matmul(self.c_out, tc, kk, &mut out.data[n0 * hw_out..], cols, w, rhs);
        });
        Ok(out)
    }

    /// The im2col matrix of `x` a tile of whole images at a time ([`Self::tile_images`]):
    /// `f(n0, tc, col)` for the tile from image `n0`, `tc` columns, `col` `[C_in·kh·kw, tc]`.
    fn col_tiles(&self, x: &Maps, [ho, wo]: [usize; 2], pool: &mut Pool, mut f: impl FnMut(usize, usize, &[f32])) {
        let (hw_out, kk) = (ho * wo, self.kk());
        let taps = self.taps([x.h, x.w], [ho, wo]);
        let per = self.tile_images(x.n, hw_out);
        if pool.col.len() < kk * per * hw_out {
            pool.col.resize(kk * per * hw_out, 0.0);
        }
        for n0 in (0..x.n).step_by(per) {
            let tc = per.min(x.n - n0) * hw_out;
            let col = &mut pool.col[..kk * tc];
            self.im2col(x, n0, tc, [ho, wo], &taps, col);
            f(n0, tc, col);
        }
    }

    /// `col[(c, i, j), (n − n0, y, x)] = x[c, n, y·s − p + i, x·s − p + j]` (0 outside), for the
    /// `tc / hw_out` images from `n0`; `taps` as [`Self::taps`].
    pub fn im2col(&self, x: &Maps, n0: usize, tc: usize, [ho, wo]: [usize; 2], taps: &[u32], col: &mut [f32]) {
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
    pub fn conv_transpose(&self, weight: &[f32], g: &Maps, [h, w]: [usize; 2], pool: &mut Pool) -> Maps {
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

    /// The gradient of the convolution's weight, `G · im2col(x)ᵀ` summed over the images (one
    /// product per tile of whole images, added up): `[C_out, C_in·kh·kw]`, the layout of the
    /// weight [`Self::conv`] takes.
    ///
    /// # Shapes
    /// `g`: `[C_out, N, h, w]` (the gradient at the convolution's output), `x`: `[C_in, N, H, W]`
    /// (its input).
    pub fn weight_grad(&self, g: &Maps, x: &Maps, pool: &mut Pool) -> Result<Vec<f32>, HostError> {
        let [ho, wo] = self.out_hw([x.h, x.w])?;
        if [g.c, g.n, g.h, g.w] != [self.c_out, x.n, ho, wo] || x.c != self.c_in {
            return Err(HostError(format!(
                "weight gradient: a gradient of shape {:?} does not match the convolution of a {:?} input",
                [g.c, g.n, g.h, g.w],
                [x.c, x.n, x.h, x.w]
            )));
        }
        let hw_out = ho * wo;
        let cols = x.n * hw_out;
        let kk = self.kk();
        let mut dw = vec![0.0f32; self.c_out * kk];
        if self.pointwise() {
            let lhs = Mat { data: &g.data, rs: cols, cs: 1 };
            matmul(self.c_out, kk, cols, &mut dw, kk, lhs, Mat { data: &x.data, rs: 1, cs: cols });
            return Ok(dw);
        }
        self.col_tiles(x, [ho, wo], pool, |n0, tc, col| {
            let lhs = Mat { data: &g.data[n0 * hw_out..], rs: cols, cs: 1 };
            matmul_add(self.c_out, kk, tc, &mut dw, kk, lhs, Mat { data: col, rs: 1, cs: tc });
        });
        Ok(dw)
    }

    /// The adjoint of [`Self::im2col`]: adds each column entry back to the input position it
    /// was read from.
    pub fn col2im(&self, col: &[f32], n0: usize, tc: usize, hw_out: usize, taps: &[u32], dx: &mut Maps) {
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
    pub fn input_grad(
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
    pub fn adjoint(&self, weight: &[f32]) -> Option<(Self, Vec<f32>)> {
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

/// Zeroes `g` where `dead`.
pub fn mask(g: &mut Maps, dead: &[bool]) {
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
pub struct HostPool {
    /// `[kh, kw]`.
    pub k: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
    /// `[ph, pw]`, on both sides.
    pub pad: [usize; 2],
    /// `[dh, dw]`.
    pub dilation: [usize; 2],
}

impl HostPool {
    /// The output size for an `[H, W]` input; an error where the map is smaller than the window.
    pub fn out_hw(&self, h: usize, w: usize) -> Result<[usize; 2], HostError> {
        let size = |x: usize, a: usize| {
            (x + 2 * self.pad[a])
                .checked_sub(self.dilation[a] * (self.k[a] - 1) + 1)
                .map(|v| v / self.stride[a] + 1)
        };
        match (size(h, 0), size(w, 1)) {
            (Some(a), Some(b)) => Ok([a, b]),
            _ => Err(HostError(format!(
                "a {h}×{w} feature map is smaller than the max pool's window"
            ))),
        }
    }

    /// The pooled maps and, per output, the flat index of its arg max in its input plane (the
    /// first maximum in scan order; padding never wins).
    pub fn forward(&self, x: &Maps, pool: &mut Pool) -> Result<(Maps, Vec<u32>), HostError> {
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
    pub fn backward(g: &Maps, arg: &[u32], [h, w]: [usize; 2], pool: &mut Pool) -> Maps {
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

/// Whether a tensor on `device` lives in host memory on burn's CPU backend (flex), where the
/// host kernels apply; an autodiff device answers for the device it wraps.
pub fn is_cpu(device: &burn::prelude::Device) -> bool {
    format!("{device:?}").contains("Flex")
}

/// Reads a float tensor of a CPU device into host memory (a copy there).
///
/// # Errors
/// [`HostError`] if the tensor's data cannot be read as `f32`.
pub fn read<const D: usize>(t: burn::prelude::Tensor<D>) -> Result<Vec<f32>, HostError> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| HostError(format!("reading a tensor into host memory: {e:?}")))
}

/// `[top, left]` of a symmetric padding (`Valid` is `[0, 0]`), `None` for an asymmetric one,
/// which the host kernels do not cover.
pub fn symmetric(padding: &burn::nn::PaddingConfig2d) -> Option<[usize; 2]> {
    match *padding {
        burn::nn::PaddingConfig2d::Valid => Some([0, 0]),
        burn::nn::PaddingConfig2d::Explicit(t, l, b, r) if t == b && l == r => Some([t, l]),
        _ => None,
    }
}

/// `a += b`, element by element (a residual sum, a gradient's two paths).
pub fn add_into(a: &mut Maps, b: &Maps) {
    for_chunks(&mut a.data, ELEMENTWISE, |c, chunk| {
        for (x, y) in chunk.iter_mut().zip(&b.data[c * ELEMENTWISE..]) {
            *x += y;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The weight gradient against float64 sums over images and positions, for the ResNets'
    /// kernels and strides: a 1×1 product without im2col, a strided 1×1 (a gather), 3×3 and 7×7
    /// with padding, and one large enough that the im2col runs in several tiles of whole images
    /// whose products are added up (`matmul_add`).
    #[test]
    fn weight_gradient_matches_direct_sums() {
        let mut rng = biaslens_rng::SplitMix64::new(7);
        let mut rnd = move || rng.uniform(-0.5, 0.5) as f32;
        for &(c_in, c_out, k, s, p, h, w, n) in &[
            (3, 4, [1, 1], [1, 1], [0, 0], 5, 4, 3),
            (3, 2, [1, 1], [2, 2], [0, 0], 7, 6, 2),
            (2, 3, [3, 3], [1, 1], [1, 1], 6, 5, 2),
            (2, 3, [3, 3], [2, 2], [1, 1], 9, 8, 2),
            (3, 2, [7, 7], [2, 2], [3, 3], 11, 10, 2),
            // kk·h·w = 576 · 4096 floats per image: one image per tile, three tiles.
            (64, 2, [3, 3], [1, 1], [1, 1], 64, 64, 3),
        ] {
            let geometry = Geometry { c_in, c_out, k, stride: s, pad: p };
            let mut x = Maps::zeros(c_in, n, h, w);
            x.data.iter_mut().for_each(|v| *v = rnd());
            let [ho, wo] = geometry.out_hw([h, w]).expect("fits");
            let mut g = Maps::zeros(c_out, n, ho, wo);
            g.data.iter_mut().for_each(|v| *v = rnd());
            let mut pool = Pool::default();
            if c_in == 64 {
                assert_eq!(geometry.tile_images(n, ho * wo), 1, "the large case runs in several tiles");
            }
            let dw = geometry.weight_grad(&g, &x, &mut pool).expect("shapes match");
            let kk = geometry.kk();
            for o in 0..c_out {
                for c in 0..c_in {
                    for i in 0..k[0] {
                        for j in 0..k[1] {
                            let mut want = 0.0f64;
                            for b in 0..n {
                                for yo in 0..ho {
                                    for xo in 0..wo {
                                        let yy = (yo * s[0] + i) as isize - p[0] as isize;
                                        let xx = (xo * s[1] + j) as isize - p[1] as isize;
                                        if yy < 0 || xx < 0 || yy >= h as isize || xx >= w as isize {
                                            continue;
                                        }
                                        let xv = x.data[((c * n + b) * h + yy as usize) * w + xx as usize];
                                        let gv = g.data[((o * n + b) * ho + yo) * wo + xo];
                                        want += f64::from(xv) * f64::from(gv);
                                    }
                                }
                            }
                            let got = dw[o * kk + (c * k[0] + i) * k[1] + j];
                            assert!((f64::from(got) - want).abs() < 1e-4 * (1.0 + want.abs()), "{:?}: {got} vs {want}", (c_in, k, s));
                        }
                    }
                }
            }
            // A gradient of the wrong shape is refused, not read out of bounds.
            let wrong = Maps::zeros(c_out, n + 1, ho, wo);
            assert!(geometry.weight_grad(&wrong, &x, &mut pool).is_err());
        }
    }
}

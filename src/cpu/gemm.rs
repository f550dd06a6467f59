//! The CPU path's packed matrix product for large products: C = α A B, with A (m, k) and
//! B (k, n) read through strides (so Wᵀ and Δᵀ need no copy) and C (m, n) row-major.
//!
//! **The method** is Goto and van de Geijn's ("Anatomy of high-performance matrix
//! multiplication", 2008), as BLIS, OpenBLAS and matrixmultiply lay it out: B is copied
//! ("packed") a block of `KC` rows × NC columns at a time into panels of NR columns, A a
//! block of MC rows × `KC` columns at a time into panels of MR rows, so that the
//! microkernel reads both operands contiguously from cache; the microkernel keeps an
//! MR × NR block of C in registers and adds one outer product (a column of the A panel
//! times a row of the B panel) per term. MR × NR is chosen per instruction set: 8 × 32
//! (f32) and 8 × 16 (f64) with AVX-512, 6 × 16 and 6 × 8 with AVX2 (16 and 12 vector
//! accumulators, below the register file's 32 and 16). Without AVX2 and FMA, or off
//! x86-64, the product is matrixmultiply's ([`Isa::Portable`]).
//!
//! **The same bits as the loops.** Every output is one chain of FMAs (multiply-adds rounded once) in
//! index order over each block of `KC` terms, from +0, and a block's chain s is stored as
//! α·s + 0 (the first block) or added as c + α·s (later blocks), with one rounding: exactly
//! what the loops in `kernels.rs` compute where `arith::has_fma` holds, which is wherever
//! the microkernels run. So a product gives the same bits by either route, and the loops'
//! threshold never changes a result.
//!
//! **Threads.** The output is cut into bands of whole microkernel tiles (rows of C when it
//! has more rows than columns or a short sum, k ≤ m/4; columns otherwise), one per thread
//! of `cpu::pool`; each
//! thread packs what its band needs into its own buffers. No sum is ever split, so the
//! weights are the same bits whatever the thread count ([`super::threads`]).
//!
//! **Work on final blocks** ([`Then`]). A caller may pass a function that each band
//! calls on every row of a block of C once the block's last block of `KC` terms is in:
//! on the thread that computed it, while it is in that core's cache. The training loop
//! applies the optimizer's update, the bias and activation, or a delta's f' there,
//! instead of in a later pass over memory.
//!
//! **No allocation per call.** Each thread keeps its packing buffers in a thread-local
//! vector that grows to the largest product it has seen and is reused after that.

use super::arith::KC;
pub use super::arith::{isa, Isa};
use super::pool::Disjoint;
use crate::model::Real;
use std::cell::Cell;

/// A read-only matrix in a slice: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct Strided<'a, T> {
    /// The elements.
    pub data: &'a [T],
    /// Step between rows.
    pub rs: usize,
    /// Step between columns.
    pub cs: usize,
}

impl<'a, T: Copy> Strided<'a, T> {
    /// A row-major (rows, cols) matrix.
    pub fn rows(data: &'a [T], cols: usize) -> Self {
        Strided { data, rs: cols, cs: 1 }
    }

    /// The transpose of a row-major matrix with rows of `cols` values.
    pub fn transposed(data: &'a [T], cols: usize) -> Self {
        Strided { data, rs: 1, cs: cols }
    }

    /// This matrix's transpose: the same elements, rows and columns swapped.
    pub fn t(self) -> Self {
        Strided {
            data: self.data,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// Rows of A per packed block (a multiple of every MR here: 4, 6 and 8). The A block is
/// MC × KC: 120 KiB in f32, 240 KiB in f64, well inside a core's L2.
const MC: usize = 120;

/// Columns of B per packed block, in bytes of the element: the B block is KC × NC,
/// 1 MiB, a share of L2 or L3 that each thread's microkernels sweep once per A block.
const NC_BYTES: usize = 4096;

/// The products in one band must have at least this many multiply-adds for a second
/// thread to be worth waking (a band is then tens of microseconds of work).
const MIN_WORK_PER_THREAD: usize = 1 << 16;

thread_local! {
    /// This thread's packing buffers (f64 storage, reinterpreted for f32). A band takes the
    /// vector out while it runs and puts it back after, so that its loops are in the body
    /// of the function compiled for the microkernel's instruction set (a closure passed to
    /// the thread-local would be compiled without them).
    static PACK: Cell<Vec<f64>> = const { Cell::new(Vec::new()) };
    /// The calling thread's buffer for Cᵀ, when a product is computed transposed
    /// ([`transposed_is_smaller`]); grown to the largest such product and reused.
    static SCRATCH: Cell<Vec<f64>> = const { Cell::new(Vec::new()) };
}

/// What to do with a part of C as soon as it is final: `then(i, j, row)` receives
/// C[i, j..j + row.len()], on the thread that computed it, while the part is still in that
/// core's cache. Every element of C is passed exactly once, on one thread. (A product
/// computed as its transpose, or by matrixmultiply, calls it on whole rows of C once all of
/// C is final, the rows split over the pool's threads.)
pub type Then<'a, T> = dyn Fn(usize, usize, &mut [T]) + Sync + 'a;

/// C = α A B, C row-major with rows of `n` values (module doc). Returns with C written
/// in full (for k = 0: zeros). With `then`, calls it on every row of every block of C once
/// the block is final (after its last block of `KC` terms): the optimizer's update of a
/// gradient, say, applied while the gradient is still in the cache rather than in a later
/// pass over memory.
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: Real>(
    alpha: T,
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    c: &mut [T],
    m: usize,
    k: usize,
    n: usize,
    then: Option<&Then<'_, T>>,
) {
    gemm_on(super::threads::threads(), alpha, a, b, c, m, k, n, then);
}

/// [`gemm`] on up to `threads` threads (the same bits for any count).
#[allow(clippy::too_many_arguments)]
pub fn gemm_on<T: Real>(
    threads: usize,
    alpha: T,
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    c: &mut [T],
    m: usize,
    k: usize,
    n: usize,
    then: Option<&Then<'_, T>>,
) {
    let c = &mut c[..m * n];
    if k == 0 {
        c.fill(T::zero());
        return rows_then(threads, c, n, then);
    }
    #[cfg(target_arch = "x86_64")]
    {
        // [`as_real`] with microkernel `$k` for `$u`, its tile size taken from the kernel
        // (`Micro::MR`, `Micro::NR`): the packing needs it as constants.
        macro_rules! with_kernel {
            ($u:ty, $k:ty) => {
                as_real::<T, $u, { <$k as Micro<$u>>::MR }, { <$k as Micro<$u>>::NR }, $k>(
                    threads, alpha, a, b, c, m, k, n, then,
                )
            };
        }
        let f32 = std::mem::size_of::<T>() == 4;
        match (isa(), f32) {
            (Isa::Avx512, true) => return with_kernel!(f32, x86::Avx512F32),
            (Isa::Avx512, false) => return with_kernel!(f64, x86::Avx512F64),
            (Isa::Avx2, true) => return with_kernel!(f32, x86::Avx2F32),
            (Isa::Avx2, false) => return with_kernel!(f64, x86::Avx2F64),
            (Isa::Portable, _) => {}
        }
    }
    portable(alpha, a, b, c, m, k, n);
    rows_then(threads, c, n, then);
}

/// `then` on every row of C (rows of `n` values) after the product, the rows split into
/// contiguous runs over up to `threads` threads: for the products that do not call it
/// block by block (k = 0, matrixmultiply).
fn rows_then<T: Real>(threads: usize, c: &mut [T], n: usize, then: Option<&Then<'_, T>>) {
    let Some(then) = then else { return };
    let m = c.len() / n.max(1);
    if n == 0 || m == 0 {
        return;
    }
    let parts = threads.min(m).min((c.len() / MIN_WORK_PER_THREAD).max(1)).max(1);
    let per = m.div_ceil(parts);
    let out = Disjoint::new(c);
    super::pool::run(m.div_ceil(per), &|p| {
        for i in p * per..((p + 1) * per).min(m) {
            // SAFETY: part p passes only its own rows.
            then(i, 0, unsafe { out.part(i * n..(i + 1) * n) });
        }
    });
}

/// [`split`] with microkernel `K`, written for `U` (f32 or f64), on operands of type T,
/// which is `U` (`Real` is one of the two; `gemm_on` picks `U` by T's size), seen through
/// bytemuck as what it is. `MR` and `NR` are `K::MR` and `K::NR` ([`band`] checks).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn as_real<T: Real, U: Real, const MR: usize, const NR: usize, K: Micro<U>>(
    threads: usize,
    alpha: T,
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    c: &mut [T],
    m: usize,
    k: usize,
    n: usize,
    then: Option<&Then<'_, T>>,
) {
    fn cast<T: Real, U: Real>(a: Strided<'_, T>) -> Strided<'_, U> {
        Strided {
            data: bytemuck::cast_slice(a.data),
            rs: a.rs,
            cs: a.cs,
        }
    }
    if transposed_is_smaller(m, n, K::MR, K::NR) {
        // Cᵀ = Bᵀ Aᵀ: each output is the same chain of the same products (a·b = b·a
        // exactly), so the same bits, in fewer tiles; then C from Cᵀ, and `then` on C's rows.
        let mut store = SCRATCH.take();
        let words = (m * n * std::mem::size_of::<T>()).div_ceil(8);
        if store.len() < words {
            store.resize(words, 0.0);
        }
        {
            let ct: &mut [U] = &mut bytemuck::cast_slice_mut(&mut store[..])[..m * n];
            let alpha_u: U = bytemuck::cast(alpha);
            let (bt, at) = (cast(b.t()), cast(a.t()));
            split::<U, K>(threads, alpha_u, bt, at, ct, n, k, m, None, band::<U, MR, NR, K>);
            let c: &mut [U] = bytemuck::cast_slice_mut(&mut c[..]);
            for (i, row) in c.chunks_exact_mut(n).enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = ct[j * m + i];
                }
            }
        }
        SCRATCH.set(store);
        return rows_then(threads, c, n, then);
    }
    let c = bytemuck::cast_slice_mut(c);
    // `then` for U: the same function, its rows seen through bytemuck as T again.
    let then_u = then.map(|then| move |i: usize, j: usize, row: &mut [U]| then(i, j, bytemuck::cast_slice_mut(row)));
    split::<U, K>(
        threads,
        bytemuck::cast(alpha),
        cast(a),
        cast(b),
        c,
        m,
        k,
        n,
        then_u.as_ref().map(|t| t as &Then<'_, U>),
        band::<U, MR, NR, K>,
    )
}

/// Whether C (m, n) takes at most ¾ of the MR × NR tiles as Cᵀ (n, m) than as itself: a
/// product with few columns, such as an output layer's 128 × 10 (128 × 32 padded outputs
/// as C, 16 × 128 as Cᵀ; 36.7 against 60.3 GFLOP/s on one thread, `benches/gemm.rs`).
fn transposed_is_smaller(m: usize, n: usize, mr: usize, nr: usize) -> bool {
    if m == 0 || n == 0 {
        return false;
    }
    let padded = |rows: usize, cols: usize| rows.div_ceil(mr) * mr * cols.div_ceil(nr) * nr;
    4 * padded(n, m) <= 3 * padded(m, n)
}

/// Elsewhere (no AVX2 and FMA, or not x86-64): matrixmultiply, single-threaded, which
/// allocates its packing buffer per call. Its results are the loops' bits but for the
/// later blocks of its edge tiles, which it rounds as c + (α s) with two roundings.
#[allow(clippy::too_many_arguments)]
fn portable<T: Real>(alpha: T, a: Strided<'_, T>, b: Strided<'_, T>, c: &mut [T], m: usize, k: usize, n: usize) {
    use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};
    fn view<'a, T>(s: Strided<'a, T>, rows: usize, cols: usize) -> ArrayView2<'a, T> {
        let need = (rows - 1) * s.rs + (cols - 1) * s.cs + 1;
        ArrayView2::from_shape((rows, cols).strides((s.rs, s.cs)), &s.data[..need]).expect("the caller's shape fits")
    }
    let mut out = ArrayViewMut2::from_shape((m, n), c).expect("the caller's shape fits");
    ndarray::linalg::general_mat_mul(alpha, &view(a, m, k), &view(b, k, n), T::zero(), &mut out);
}

/// One thread's share: C[rows, cols] = α A[rows, :] B[:, cols].
struct Band<'a, T> {
    alpha: T,
    a: Strided<'a, T>,
    b: Strided<'a, T>,
    /// C, of which this band writes only its own rows or columns.
    c: Disjoint<T>,
    /// Row step of C (its full width).
    ldc: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    k: usize,
    /// Called on each final block's rows ([`Then`]).
    then: Option<&'a Then<'a, T>>,
}

/// Cuts C into bands of whole tiles of microkernel `K` for up to `threads` threads and
/// runs `kernel` on each.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn split<T: Real, K: Micro<T>>(
    threads: usize,
    alpha: T,
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    c: &mut [T],
    m: usize,
    k: usize,
    n: usize,
    then: Option<&Then<'_, T>>,
    kernel: fn(&Band<'_, T>),
) {
    // Bands of rows when C has more rows than columns, or when each thread's copy of the
    // whole of B (k × n) is small beside C (k ≤ m/4): rows keep each thread's writes, and
    // a `then` sweeping them, in memory of its own. Bands of columns put two threads in
    // every row of C, and a `then` sweeping a row segment pulls in (through the hardware
    // prefetcher, it seems) the lines beside it: 128×10 · 10×800 with relu's f' after took
    // 35 µs on two threads by columns, 16 µs by rows, 28 µs on one.
    let by_rows = m >= n || 4 * k <= m;
    let (len, tile) = if by_rows { (m, K::MR) } else { (n, K::NR) };
    let tiles = len.div_ceil(tile);
    let work = m.saturating_mul(k).saturating_mul(n);
    let parts = threads.min(tiles).min((work / MIN_WORK_PER_THREAD).max(1)).max(1);
    let per = tiles.div_ceil(parts) * tile;
    let parts = len.div_ceil(per);
    let out = Disjoint::new(c);
    let band = |p: usize| {
        let span = p * per..((p + 1) * per).min(len);
        let (rows, cols) = if by_rows { (span, 0..n) } else { (0..m, span) };
        kernel(&Band {
            alpha,
            a,
            b,
            c: out,
            ldc: n,
            rows,
            cols,
            k,
            then,
        });
    };
    super::pool::run(parts, &band);
}

/// The blocked product of one band (module doc), on this thread's packing buffers, with
/// microkernel `K`. Only [`gemm_on`] names a `K`, after [`isa`] found its instructions.
/// `MR` and `NR` are `K::MR` and `K::NR`, as constants for the packing.
fn band<T: Real, const MR: usize, const NR: usize, K: Micro<T>>(p: &Band<'_, T>) {
    // The panels are packed MR and NR wide and the kernel reads K::MR and K::NR values a
    // term: the same, or the tile calls below would read past their panels.
    const { assert!(MR == K::MR && NR == K::NR, "the packing's panels are the kernel's tile") };
    let nc_max = (NC_BYTES / std::mem::size_of::<T>()).div_ceil(K::NR) * K::NR;
    let mc_max = MC.div_ceil(K::MR) * K::MR;
    let (a_len, b_len) = (mc_max * KC, nc_max * KC);
    // f64 words for both buffers, and 64 bytes to align the start.
    let words = (a_len + b_len) * std::mem::size_of::<T>() / 8 + 8;
    let mut store = PACK.take();
    if store.len() < words {
        store.resize(words, 0.0);
    }
    {
        let skip = store.as_ptr().align_offset(64).min(7);
        let buf: &mut [T] = bytemuck::cast_slice_mut(&mut store[skip..]);
        let (ap, rest) = buf.split_at_mut(a_len);
        let bp = &mut rest[..b_len];
        for jc in p.cols.clone().step_by(nc_max) {
            let nc = nc_max.min(p.cols.end - jc);
            for pc in (0..p.k).step_by(KC) {
                let kc = KC.min(p.k - pc);
                pack_b::<T, NR>(p.b, pc, kc, jc, nc, bp);
                for ic in p.rows.clone().step_by(mc_max) {
                    let mc = mc_max.min(p.rows.end - ic);
                    pack_a::<T, MR>(p.a, ic, mc, pc, kc, ap);
                    for (jt, jr) in (0..nc).step_by(K::NR).enumerate() {
                        let b_panel = &bp[jt * kc * K::NR..][..kc * K::NR];
                        for (it, ir) in (0..mc).step_by(K::MR).enumerate() {
                            let a_panel = &ap[it * kc * K::MR..][..kc * K::MR];
                            let (row, col) = (ic + ir, jc + jr);
                            // SAFETY: `isa` found K's instructions (see above); the panels
                            // hold kc · K::MR and kc · K::NR values (sliced so); the tile's
                            // at most K::MR rows and K::NR columns lie inside this band of
                            // C, which no other thread writes, and inside C (`split`).
                            unsafe {
                                K::tile(
                                    kc,
                                    a_panel.as_ptr(),
                                    b_panel.as_ptr(),
                                    p.c.at(row * p.ldc + col),
                                    p.ldc,
                                    K::MR.min(mc - ir),
                                    K::NR.min(nc - jr),
                                    p.alpha,
                                    pc == 0,
                                )
                            };
                        }
                    }
                    if let Some(then) = p.then.filter(|_| pc + kc == p.k) {
                        // The block's last terms are in: C[ic.., jc..] is final.
                        for i in ic..ic + mc {
                            // SAFETY: the block lies inside this band, which no other
                            // thread writes; the tiles above are done with it.
                            then(i, jc, unsafe { p.c.part(i * p.ldc + jc..i * p.ldc + jc + nc) });
                        }
                    }
                }
            }
        }
    }
    PACK.set(store);
}

/// Packs A[i0..i0+mc, p0..p0+kc] into panels of MR rows, each stored term by term (MR
/// values per term), the last panel padded with zeros.
#[inline(always)]
fn pack_a<T: Real, const MR: usize>(a: Strided<'_, T>, i0: usize, mc: usize, p0: usize, kc: usize, out: &mut [T]) {
    for (t, r0) in (0..mc).step_by(MR).enumerate() {
        let panel = &mut out[t * kc * MR..][..kc * MR];
        let rows = MR.min(mc - r0);
        let (terms, _) = panel.as_chunks_mut::<MR>();
        if a.rs == 1 {
            // A's columns are contiguous (Δᵀ, or B row-major through `pack_b`): one slice
            // per term.
            for (kk, dst) in terms.iter_mut().enumerate() {
                let col = (p0 + kk) * a.cs + i0 + r0;
                if rows == MR {
                    *dst = a.data[col..col + MR].try_into().expect("MR values");
                } else {
                    dst[..rows].copy_from_slice(&a.data[col..col + rows]);
                    dst[rows..].fill(T::zero());
                }
            }
        } else if a.cs == 1 && rows == MR && MR.is_multiple_of(8) && transposes_f32::<T>() {
            // A's rows are contiguous (activations, or Wᵀ through `pack_b`), a full panel:
            // 8 × 8 blocks transposed in registers.
            let start = (i0 + r0) * a.rs + p0;
            let need = start + (MR - 1) * a.rs + kc;
            let src = &a.data[start..need];
            // SAFETY: `transposes_f32` checked T is f32 and the CPU has AVX2; the blocks
            // read lie in `src`, the blocks written in `panel` (MR · kc values).
            unsafe { transpose_into::<MR>(src.as_ptr().cast(), a.rs, kc, panel.as_mut_ptr().cast()) };
        } else {
            // One row of A at a time, spread over the terms.
            for i in 0..MR {
                if i < rows {
                    let start = (i0 + r0 + i) * a.rs + p0 * a.cs;
                    if a.cs == 1 {
                        for (dst, &v) in terms.iter_mut().zip(&a.data[start..start + kc]) {
                            dst[i] = v;
                        }
                    } else {
                        for (kk, dst) in terms.iter_mut().enumerate() {
                            dst[i] = a.data[start + kk * a.cs];
                        }
                    }
                } else {
                    terms.iter_mut().for_each(|dst| dst[i] = T::zero());
                }
            }
        }
    }
}

/// Packs B[p0..p0+kc, j0..j0+nc] into panels of NR columns, each stored term by term (NR
/// values per term), the last panel padded with zeros: [`pack_a`] of Bᵀ, whose rows are
/// B's columns.
#[inline(always)]
fn pack_b<T: Real, const NR: usize>(b: Strided<'_, T>, p0: usize, kc: usize, j0: usize, nc: usize, out: &mut [T]) {
    pack_a::<T, NR>(b.t(), j0, nc, p0, kc, out);
}

/// Whether the packing may transpose f32 blocks with AVX2 (T is f32 and the CPU has it).
#[inline(always)]
fn transposes_f32<T: Real>() -> bool {
    std::mem::size_of::<T>() == 4 && isa() != Isa::Portable
}

/// Packs a full panel from W rows of kc values (row r at `src + r · stride`): panel[t][r]
/// = src[r][t], W values per term, through 8 × 8 transposes (the last kc mod 8 terms one
/// by one).
///
/// # Safety
/// The CPU has AVX2; `src` holds W rows as described; `panel` holds kc · W values.
#[inline(always)]
unsafe fn transpose_into<const W: usize>(src: *const f32, stride: usize, kc: usize, panel: *mut f32) {
    #[cfg(target_arch = "x86_64")]
    {
        let full = kc / 8 * 8;
        for r0 in (0..W).step_by(8) {
            for t0 in (0..full).step_by(8) {
                // SAFETY: the block's rows r0..r0+8, terms t0..t0+8 are inside both.
                unsafe { x86::transpose8x8(src.add(r0 * stride + t0), stride, panel.add(t0 * W + r0), W) };
            }
        }
        for t in full..kc {
            for r in 0..W {
                // SAFETY: r < W rows, t < kc terms.
                unsafe { *panel.add(t * W + r) = *src.add(r * stride + t) };
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (src, stride, kc, panel);
        unreachable!("transposes_f32 is false off x86-64");
    }
}

/// A microkernel: one [`MR`](Micro::MR) × [`NR`](Micro::NR) tile of C from a packed A
/// panel (kc terms of MR values) and a packed B panel (kc terms of NR values); the packing
/// ([`band`]) and the bands of whole tiles ([`split`]) take the tile size from here. Its
/// accumulators are acc[i][j] = Σ_t a[t][i] b[t][j], one chain of FMAs from +0 in term
/// order; then the tile's first `rows` × `cols` outputs are stored (`first`: α·acc + 0; for α = 1, acc + 0) or added
/// (c + α·acc, one rounding): the loops' arithmetic (`kernels.rs`).
trait Micro<T> {
    /// Rows of the tile: values per term of the A panel.
    const MR: usize;
    /// Columns of the tile: values per term of the B panel.
    const NR: usize;

    /// The tile's outputs (above).
    ///
    /// # Safety
    /// The CPU has the kernel's instructions; `a` points to kc · [`Self::MR`] values and
    /// `b` to kc · [`Self::NR`]; `rows` ≤ `Self::MR` and `cols` ≤ `Self::NR`; `c` is the
    /// tile's first output, with rows `ldc` apart, and the tile's `rows` × `cols` outputs
    /// are this thread's to read and write.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        kc: usize,
        a: *const T,
        b: *const T,
        c: *mut T,
        ldc: usize,
        rows: usize,
        cols: usize,
        alpha: T,
        first: bool,
    );
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The microkernels, with explicit vector intrinsics (LLVM does not keep a generic
    //! array of accumulators in registers reliably). One vector is W values; a tile row
    //! is NR / W vectors; MR rows: MR · NR / W accumulators.
    use super::Micro;
    use std::arch::x86_64::*;

    macro_rules! micro {
        ($name:ident, $t:ty, $feat:literal, $mr:literal, $nr:literal, $w:literal, $zero:ident, $set1:ident,
         $loadu:ident, $storeu:ident, $fmadd:ident, $add:ident) => {
            #[doc = concat!("The ", stringify!($mr), " × ", stringify!($nr), " ", stringify!($t), " microkernel (", $feat, ").")]
            pub(super) struct $name;

            impl Micro<$t> for $name {
                const MR: usize = $mr;
                const NR: usize = $nr;

                #[inline]
                #[target_feature(enable = $feat)]
                unsafe fn tile(
                    kc: usize,
                    a: *const $t,
                    b: *const $t,
                    c: *mut $t,
                    ldc: usize,
                    rows: usize,
                    cols: usize,
                    alpha: $t,
                    first: bool,
                ) {
                    const MR: usize = <$name as Micro<$t>>::MR;
                    const NR: usize = <$name as Micro<$t>>::NR;
                    // Vectors of W values per tile row.
                    const V: usize = NR / $w;
                    const { assert!(NR % $w == 0, "a tile row is whole vectors") };
                    let mut acc = [[$zero(); V]; MR];
                    for t in 0..kc {
                        // SAFETY: term t < kc of the B panel, NR values (the caller's
                        // kc · NR).
                        let bt = unsafe { b.add(t * NR) };
                        let mut bv = [$zero(); V];
                        for (v, bv) in bv.iter_mut().enumerate() {
                            // SAFETY: values v · W .. (v + 1) · W ≤ NR of that term.
                            *bv = unsafe { $loadu(bt.add(v * $w)) };
                        }
                        // SAFETY: term t < kc of the A panel, MR values (the caller's
                        // kc · MR).
                        let at = unsafe { a.add(t * MR) };
                        for (i, acc_i) in acc.iter_mut().enumerate() {
                            // acc[i][j] = a[t][i] · b[t][j] + acc[i][j], one rounding
                            // SAFETY: value i < MR of that term.
                            let ai = $set1(unsafe { *at.add(i) });
                            for (acc_iv, &bv) in acc_i.iter_mut().zip(&bv) {
                                *acc_iv = $fmadd(ai, bv, *acc_iv);
                            }
                        }
                    }
                    let (alpha_v, zero) = ($set1(alpha), $zero());
                    let mut edge = [0.0 as $t; NR];
                    for (i, acc_i) in acc.iter().enumerate() {
                        if i >= rows {
                            break;
                        }
                        // SAFETY: row i < rows of the tile, whose rows are `ldc` apart
                        // from `c` (the caller's).
                        let c_row = unsafe { c.add(i * ldc) };
                        // A partial row goes through `edge`, full rows in place.
                        let dst = if cols == NR {
                            c_row
                        } else {
                            if !first {
                                // SAFETY: the row's first `cols` < NR outputs are the
                                // caller's; `edge` holds NR values, apart from C.
                                unsafe { std::ptr::copy_nonoverlapping(c_row, edge.as_mut_ptr(), cols) };
                            }
                            edge.as_mut_ptr()
                        };
                        for (v, &s) in acc_i.iter().enumerate() {
                            // SAFETY: vector v < V of a row of NR values: the tile's row
                            // of C when `cols` = NR (the caller's), else `edge`.
                            let p = unsafe { dst.add(v * $w) };
                            let out = if !first {
                                // SAFETY: as `p`.
                                $fmadd(alpha_v, s, unsafe { $loadu(p) }) // c + α·s
                            } else if alpha == 1.0 {
                                $add(s, zero) // s + 0
                            } else {
                                $fmadd(alpha_v, s, zero) // α·s + 0
                            };
                            // SAFETY: as `p`.
                            unsafe { $storeu(p, out) };
                        }
                        if cols != NR {
                            // SAFETY: as the copy into `edge` above.
                            unsafe { std::ptr::copy_nonoverlapping(edge.as_ptr(), c_row, cols) };
                        }
                    }
                }
            }
        };
    }

    /// dst[c][r] = src[r][c] for an 8 × 8 block of f32 (rows `src_stride` and
    /// `dst_stride` values apart): the usual unpack / shuffle / lane-permute transpose.
    ///
    /// # Safety
    /// The CPU has AVX2; both blocks lie in memory the caller may read and write.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn transpose8x8(src: *const f32, src_stride: usize, dst: *mut f32, dst_stride: usize) {
        // Row i < 8 of the source block.
        // SAFETY: called for i < 8 only: inside the block the caller may read.
        let r = |i: usize| unsafe { _mm256_loadu_ps(src.add(i * src_stride)) };
        let (r0, r1, r2, r3, r4, r5, r6, r7) = (r(0), r(1), r(2), r(3), r(4), r(5), r(6), r(7));
        let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
        let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
        let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
        let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
        let (u0, u1) = (_mm256_shuffle_ps::<0x44>(t0, t2), _mm256_shuffle_ps::<0xEE>(t0, t2));
        let (u2, u3) = (_mm256_shuffle_ps::<0x44>(t1, t3), _mm256_shuffle_ps::<0xEE>(t1, t3));
        let (u4, u5) = (_mm256_shuffle_ps::<0x44>(t4, t6), _mm256_shuffle_ps::<0xEE>(t4, t6));
        let (u6, u7) = (_mm256_shuffle_ps::<0x44>(t5, t7), _mm256_shuffle_ps::<0xEE>(t5, t7));
        // Row i < 8 of the destination block.
        // SAFETY: called for i < 8 only: inside the block the caller may write.
        let w = |i: usize, v| unsafe { _mm256_storeu_ps(dst.add(i * dst_stride), v) };
        w(0, _mm256_permute2f128_ps::<0x20>(u0, u4));
        w(1, _mm256_permute2f128_ps::<0x20>(u1, u5));
        w(2, _mm256_permute2f128_ps::<0x20>(u2, u6));
        w(3, _mm256_permute2f128_ps::<0x20>(u3, u7));
        w(4, _mm256_permute2f128_ps::<0x31>(u0, u4));
        w(5, _mm256_permute2f128_ps::<0x31>(u1, u5));
        w(6, _mm256_permute2f128_ps::<0x31>(u2, u6));
        w(7, _mm256_permute2f128_ps::<0x31>(u3, u7));
    }

    micro!(
        Avx512F32,
        f32,
        "avx512f,avx2,fma",
        8,
        32,
        16,
        _mm512_setzero_ps,
        _mm512_set1_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps
    );
    micro!(
        Avx512F64,
        f64,
        "avx512f,avx2,fma",
        8,
        16,
        8,
        _mm512_setzero_pd,
        _mm512_set1_pd,
        _mm512_loadu_pd,
        _mm512_storeu_pd,
        _mm512_fmadd_pd,
        _mm512_add_pd
    );
    micro!(
        Avx2F32,
        f32,
        "avx2,fma",
        6,
        16,
        8,
        _mm256_setzero_ps,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps
    );
    micro!(
        Avx2F64,
        f64,
        "avx2,fma",
        6,
        8,
        4,
        _mm256_setzero_pd,
        _mm256_set1_pd,
        _mm256_loadu_pd,
        _mm256_storeu_pd,
        _mm256_fmadd_pd,
        _mm256_add_pd
    );
}

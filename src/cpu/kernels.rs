//! The CPU path's three matrix products per layer, as plain slice loops for small sizes and
//! through the packed product (`gemm.rs`) for large ones, with the same arithmetic on both
//! routes.
//!
//! With samples as rows, W of shape (fan_out, fan_in) and B samples in the batch:
//!
//! ```text
//! forward   Z = A Wᵀ          z[r,i] = Σ_j a[r,j] w[i,j]          (B, fan_out)
//! delta     D = Δ W           d[r,j] = Σ_i δ[r,i] w[i,j]          (B, fan_in)
//! gradient  G = α Δᵀ A        g[i,j] = α Σ_r δ[r,i] a[r,j]        (fan_out, fan_in), α = 1/B
//! ```
//!
//! **Why two routes.** A packed product copies both operands into cache-sized panels and
//! runs SIMD microkernels over them, on several threads; that wins by a wide margin once a
//! product has some size. But every call copies both operands (matrixmultiply, which the
//! CPU path used before, also allocated: about 250 ns before any arithmetic), and a
//! microkernel computes a block of MR × NR outputs (8 × 32 and the like) even when fewer
//! exist. The seed's
//! layers have four multiply-adds; with batch 1 every product is a matrix-vector product,
//! where packing W costs a full pass over it and most of the microkernel's rows are
//! padding. So a product runs as loops when one of its dimensions is at most
//! [`LOOPS_MAX_MIN_DIM`] (matrix-vector or outer products: nothing to reuse from a cache
//! panel) or when it has at most [`LOOPS_MAX_WORK`] multiply-adds; otherwise the packed
//! product computes it (out of line, so that the loops' callers stay small). Batch 1 has its own
//! short loops, inlined into the passes.
//!
//! **The same bits on both routes.** Each output of a product is one chain of multiply-adds
//! in index order, starting from +0, over blocks of [`KC`] terms; the chain of a block is
//! scaled by α and added to the output (a block's first: to +0), as matrixmultiply, which
//! earlier versions of bprop used for every product, computes it. Multiply-adds are FMAs
//! (one rounding, [`Fma`](super::arith::Fma)) on CPUs with FMA and AVX2 (and on aarch64) and rounded twice elsewhere
//! (`arith::has_fma`). The loops and the packed product compute every output this way, so a
//! product gives the same bits whichever route computes it: the threshold and the thread
//! count never change a result (the tests in this file compare the routes, and
//! matrixmultiply, bit for bit). To keep
//! FMAs fast where the build targets plain x86-64, the passes are compiled
//! a second time with AVX2 and FMA enabled and chosen at run time (`avx2_fma`).

use super::arith::{MulAdd, KC};
use super::gemm::{self, gemm, Strided};
use crate::model::Real;

/// Products with at most this many multiply-adds (m · k · n) run as loops. Measured on a
/// 2-core Xeon (AVX-512), f64, against matrixmultiply (the large products' route then):
/// its call, allocation and packing cost about 250 ns, in which the loops do several hundred multiply-adds; at
/// 256 multiply-adds the loops took half its time, from 2048 on matrixmultiply was faster
/// (2–5× by 16 384). The value changes speed only, never a result (module doc).
pub const LOOPS_MAX_WORK: usize = 1024;

/// Products with a dimension of at most this size run as loops, whatever their size: a
/// matrix-vector product (batch 1, or a layer of one neuron), an outer product, or two
/// such. matrixmultiply computes blocks of at least 8 × 4 outputs and packs both operands
/// first, so for these it does more work than the loops: measured on the same machine,
/// 2.5–4× slower than them at batch 1 (784 × 800: 1.0 ms against 0.23 ms) and 1.2–2×
/// slower at batch 2.
pub const LOOPS_MAX_MIN_DIM: usize = 2;

/// Whether the product of an (m, k) and a (k, n) matrix runs as loops (module doc).
#[inline]
pub fn uses_loops(m: usize, k: usize, n: usize) -> bool {
    m.min(k).min(n) <= LOOPS_MAX_MIN_DIM || m.saturating_mul(k).saturating_mul(n) <= LOOPS_MAX_WORK
}

/// An output from the chain `s` of its first block: α·s + 0, as matrixmultiply writes it
/// (the + 0 turns a −0 into +0; for α = 1 the product is exact and skipped).
#[inline(always)]
pub(crate) fn first_block<M: MulAdd, T: Real>(alpha: T, s: T) -> T {
    if alpha == T::one() {
        s + T::zero()
    } else {
        M::madd(alpha, s, T::zero())
    }
}

/// An output `c` with the chain `s` of a later block added: c + α·s.
#[inline(always)]
pub(crate) fn later_block<M: MulAdd, T: Real>(alpha: T, s: T, c: T) -> T {
    M::madd(alpha, s, c)
}

/// Row `r` of a row-major matrix of rows of `n` values. (Indexing rather than
/// `chunks_exact`, which divides the length by `n` on every call: at the seed's sizes
/// those divisions cost more than the arithmetic.)
#[inline(always)]
pub(crate) fn row<T>(s: &[T], r: usize, n: usize) -> &[T] {
    &s[r * n..(r + 1) * n]
}

/// Mutable [`row`].
#[inline(always)]
pub(crate) fn row_mut<T>(s: &mut [T], r: usize, n: usize) -> &mut [T] {
    &mut s[r * n..(r + 1) * n]
}

/// z[i] = Σ_j a[j] w[i,j] for every row i of `w` (rows of `a.len()` values): one chain
/// per output, in blocks of [`KC`].
#[inline(always)]
pub(crate) fn matvec<M: MulAdd, T: Real>(a: &[T], w: &[T], z: &mut [T]) {
    let n = a.len();
    if n <= KC {
        matvec_block::<M, T>(a, w, n, 0, z, true);
    } else {
        for start in (0..n).step_by(KC) {
            let end = (start + KC).min(n);
            matvec_block::<M, T>(&a[start..end], w, n, start, z, start == 0);
        }
    }
}

/// One block of [`matvec`]: the chains over columns `start..start + a.len()` of `w` (rows
/// of `n` values), stored in `z` (`first`) or added to it. Four outputs' chains run
/// interleaved, so that their multiply-adds overlap instead of waiting on each other.
#[inline(always)]
fn matvec_block<M: MulAdd, T: Real>(a: &[T], w: &[T], n: usize, start: usize, z: &mut [T], first: bool) {
    let len = a.len();
    let store = |zi: &mut T, s: T| {
        *zi = if first {
            first_block::<M, T>(T::one(), s)
        } else {
            later_block::<M, T>(T::one(), s, *zi)
        }
    };
    let mut quads = z.chunks_exact_mut(4);
    let mut i = 0;
    for zq in &mut quads {
        let w0 = &w[i * n + start..][..len];
        let w1 = &w[(i + 1) * n + start..][..len];
        let w2 = &w[(i + 2) * n + start..][..len];
        let w3 = &w[(i + 3) * n + start..][..len];
        let mut s = [T::zero(); 4];
        for j in 0..len {
            let aj = a[j];
            s[0] = M::madd(aj, w0[j], s[0]);
            s[1] = M::madd(aj, w1[j], s[1]);
            s[2] = M::madd(aj, w2[j], s[2]);
            s[3] = M::madd(aj, w3[j], s[3]);
        }
        for (zi, &sq) in zq.iter_mut().zip(&s) {
            store(zi, sq);
        }
        i += 4;
    }
    for zi in quads.into_remainder() {
        let mut s = T::zero();
        for (&aj, &wj) in a.iter().zip(&w[i * n + start..][..len]) {
            s = M::madd(aj, wj, s);
        }
        store(zi, s);
        i += 1;
    }
}

/// out[j] = α Σ_t x[t·x_stride] y[t, j] for t < `terms`, y row-major with rows of
/// `out.len()` values: one chain per output over t, in blocks of [`KC`]; the chains of a
/// row advance together (they vectorise across outputs). `x_stride` steps through a
/// column of a row-major matrix.
#[inline(always)]
fn combine_rows<M: MulAdd, T: Real>(alpha: T, x: &[T], x_stride: usize, terms: usize, y: &[T], out: &mut [T]) {
    let n = out.len();
    // The first block's chains run in `out` itself, from +0.
    let x0 = x[0];
    for (s, &yj) in out.iter_mut().zip(&y[..n]) {
        *s = M::madd(x0, yj, T::zero());
    }
    for t in 1..terms.min(KC) {
        let xt = x[t * x_stride];
        for (s, &yj) in out.iter_mut().zip(&y[t * n..][..n]) {
            *s = M::madd(xt, yj, *s);
        }
    }
    if alpha == T::one() {
        for o in out.iter_mut() {
            *o += T::zero();
        }
    } else {
        for o in out.iter_mut() {
            *o = M::madd(alpha, *o, T::zero());
        }
    }
    // Later blocks (sums of more than KC terms) in a stretch of outputs at a time.
    const STRETCH: usize = 64;
    for start in (KC..terms).step_by(KC) {
        for j0 in (0..n).step_by(STRETCH) {
            let len = STRETCH.min(n - j0);
            let mut acc = [T::zero(); STRETCH];
            let acc = &mut acc[..len];
            for t in start..(start + KC).min(terms) {
                let xt = x[t * x_stride];
                for (s, &yj) in acc.iter_mut().zip(&y[t * n + j0..][..len]) {
                    *s = M::madd(xt, yj, *s);
                }
            }
            for (o, &s) in out[j0..j0 + len].iter_mut().zip(acc.iter()) {
                *o = later_block::<M, T>(alpha, s, *o);
            }
        }
    }
}

/// out[j] = Σ_i x[i] y[i, j] (y row-major with rows of `out.len()` values): the delta
/// product of one sample.
#[inline(always)]
pub(crate) fn vecmat<M: MulAdd, T: Real>(x: &[T], y: &[T], out: &mut [T]) {
    combine_rows::<M, T>(T::one(), x, 1, x.len(), y, out);
}

/// The gradient of one sample, δ a, as [`gradient_product`] computes it for one row:
/// (δ a + 0) with α = 1.
#[inline(always)]
pub(crate) fn outer_term<M: MulAdd, T: Real>(delta: T, a: T) -> T {
    M::madd(delta, a, T::zero()) + T::zero()
}

/// Forward product Z = A Wᵀ (+ b on every row when `bias` is given), all row-major:
/// `a` (rows, n_in), `w` (n_out, n_in), `z` (rows, n_out). With the bias,
/// z[r,i] = (Σ_j a[r,j] w[i,j]) + b[i].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn forward_product<M: MulAdd, T: Real>(
    a: &[T],
    w: &[T],
    bias: Option<&[T]>,
    z: &mut [T],
    rows: usize,
    n_in: usize,
    n_out: usize,
) {
    if rows == 1 {
        let z = &mut z[..n_out];
        matvec::<M, T>(&a[..n_in], &w[..n_out * n_in], z);
        if let Some(b) = bias {
            for (zi, &bi) in z.iter_mut().zip(b) {
                *zi += bi;
            }
        }
    } else {
        forward_batch::<M, T>(a, w, bias, z, rows, n_in, n_out);
    }
}

/// [`forward_product`] for more than one row.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_batch<M: MulAdd, T: Real>(
    a: &[T],
    w: &[T],
    bias: Option<&[T]>,
    z: &mut [T],
    rows: usize,
    n_in: usize,
    n_out: usize,
) {
    if uses_loops(rows, n_in, n_out) {
        for r in 0..rows {
            matvec::<M, T>(row(a, r, n_in), &w[..n_out * n_in], row_mut(z, r, n_out));
        }
    } else {
        forward_gemm(a, w, z, rows, n_in, n_out, None);
    }
    if let Some(b) = bias {
        for r in 0..rows {
            for (zi, &bi) in row_mut(z, r, n_out).iter_mut().zip(b) {
                *zi += bi;
            }
        }
    }
}

/// Z = A Wᵀ through the packed product, with `then` on its final blocks (out of line: the
/// loops' callers stay small).
#[inline(never)]
fn forward_gemm<T: Real>(
    a: &[T],
    w: &[T],
    z: &mut [T],
    rows: usize,
    n_in: usize,
    n_out: usize,
    then: Option<&gemm::Then<'_, T>>,
) {
    let (a, w) = (Strided::rows(a, n_in), Strided::transposed(w, n_in));
    gemm(T::one(), a, w, z, rows, n_in, n_out, then);
}

/// Delta product D = Δ W: `delta` (rows, m) of the layer above, its weights `w` (m, n),
/// `d` (rows, n); d[r,j] = Σ_i δ[r,i] w[i,j], one chain per output over i.
#[inline(always)]
pub fn delta_product<M: MulAdd, T: Real>(delta: &[T], w: &[T], d: &mut [T], rows: usize, m: usize, n: usize) {
    if uses_loops(rows, m, n) {
        for r in 0..rows {
            combine_rows::<M, T>(T::one(), row(delta, r, m), 1, m, &w[..m * n], row_mut(d, r, n));
        }
    } else {
        delta_gemm(delta, w, d, rows, m, n, None);
    }
}

/// [`forward_product`] without the bias when it runs through the packed product, with
/// `then` called on every row of Z's blocks as soon as each is final ([`gemm::Then`]);
/// returns `false`, having done nothing, where [`forward_product`] would run as loops
/// (batch 1 included: a dimension of at most 2).
#[inline(always)]
pub fn forward_product_then<T: Real>(
    a: &[T],
    w: &[T],
    z: &mut [T],
    rows: usize,
    n_in: usize,
    n_out: usize,
    then: &gemm::Then<'_, T>,
) -> bool {
    if uses_loops(rows, n_in, n_out) {
        return false;
    }
    forward_gemm(a, w, z, rows, n_in, n_out, Some(then));
    true
}

/// [`delta_product`] with `then` on every final block's rows, as
/// [`forward_product_then`]; `false`, having done nothing, where it would run as loops.
#[inline(always)]
pub fn delta_product_then<T: Real>(
    delta: &[T],
    w: &[T],
    d: &mut [T],
    rows: usize,
    m: usize,
    n: usize,
    then: &gemm::Then<'_, T>,
) -> bool {
    if uses_loops(rows, m, n) {
        return false;
    }
    delta_gemm(delta, w, d, rows, m, n, Some(then));
    true
}

/// D = Δ W through the packed product, with `then` on its final blocks.
#[inline(never)]
fn delta_gemm<T: Real>(
    delta: &[T],
    w: &[T],
    d: &mut [T],
    rows: usize,
    m: usize,
    n: usize,
    then: Option<&gemm::Then<'_, T>>,
) {
    gemm(
        T::one(),
        Strided::rows(delta, m),
        Strided::rows(w, n),
        d,
        rows,
        m,
        n,
        then,
    );
}

/// Gradient product G = α Δᵀ A: `delta` (rows, n_out), the layer's input `a` (rows,
/// n_in), `g` (n_out, n_in); g[i,j] = α Σ_r δ[r,i] a[r,j], one chain per output over r.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn gradient_product<M: MulAdd, T: Real>(
    alpha: T,
    delta: &[T],
    a: &[T],
    g: &mut [T],
    rows: usize,
    n_out: usize,
    n_in: usize,
) {
    if rows == 1 {
        // Outer product: g[i,j] = α (δ[i] a[j]), a chain of one term
        let a = &a[..n_in];
        for (gi, &dlt) in g.chunks_exact_mut(n_in).zip(&delta[..n_out]) {
            if alpha == T::one() {
                for (gj, &aj) in gi.iter_mut().zip(a) {
                    *gj = outer_term::<M, T>(dlt, aj);
                }
            } else {
                for (gj, &aj) in gi.iter_mut().zip(a) {
                    *gj = M::madd(alpha, M::madd(dlt, aj, T::zero()), T::zero());
                }
            }
        }
    } else if uses_loops(n_out, rows, n_in) {
        for i in 0..n_out {
            combine_rows::<M, T>(alpha, &delta[i..], n_out, rows, &a[..rows * n_in], row_mut(g, i, n_in));
        }
    } else {
        gradient_gemm(alpha, delta, a, g, rows, n_out, n_in, None);
    }
}

/// [`gradient_product`] when it runs through the packed product, with `then` called on
/// every row of G's blocks as soon as each is final ([`gemm::Then`]); returns
/// `false`, having done nothing, when the product would run as loops (batch 1, or small),
/// where the caller computes G with [`gradient_product`] and uses it whole.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn gradient_product_then<T: Real>(
    alpha: T,
    delta: &[T],
    a: &[T],
    g: &mut [T],
    rows: usize,
    n_out: usize,
    n_in: usize,
    then: &gemm::Then<'_, T>,
) -> bool {
    if uses_loops(n_out, rows, n_in) {
        return false;
    }
    gradient_gemm(alpha, delta, a, g, rows, n_out, n_in, Some(then));
    true
}

/// G = α Δᵀ A through the packed product, with `then` on its final blocks.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn gradient_gemm<T: Real>(
    alpha: T,
    delta: &[T],
    a: &[T],
    g: &mut [T],
    rows: usize,
    n_out: usize,
    n_in: usize,
    then: Option<&gemm::Then<'_, T>>,
) {
    let (dt, a) = (Strided::transposed(delta, n_out), Strided::rows(a, n_in));
    gemm(alpha, dt, a, g, n_out, rows, n_in, then);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::arith::{has_fma, Fma, Separate};
    use ndarray::Array2;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

    fn filled<T: Real>(rows: usize, cols: usize, seed: u32) -> Vec<T> {
        (0..rows * cols)
            .map(|i| {
                let h = crate::model::lowbias32(seed.wrapping_mul(0x9e37_79b9) ^ i as u32);
                T::of(h as f64 / u32::MAX as f64 - 0.5)
            })
            .collect()
    }

    fn bits<T: Real>(v: &[T]) -> Vec<u64> {
        v.iter().map(|x| x.f64().to_bits()).collect()
    }

    /// The three products by the loops (with this CPU's rounding).
    #[allow(clippy::type_complexity)]
    fn by_loops<T: Real>(
        a: &[T],
        w: &[T],
        delta: &[T],
        alpha: T,
        (b, n_in, n_out): (usize, usize, usize),
    ) -> (Vec<T>, Vec<T>, Vec<T>) {
        let (mut z, mut d, mut g) = (
            vec![T::zero(); b * n_out],
            vec![T::zero(); b * n_in],
            vec![T::zero(); n_out * n_in],
        );
        // Straight to the loops, whatever the size.
        for r in 0..b {
            if has_fma() {
                matvec::<Fma, T>(row(a, r, n_in), w, row_mut(&mut z, r, n_out));
                combine_rows::<Fma, T>(T::one(), row(delta, r, n_out), 1, n_out, w, row_mut(&mut d, r, n_in));
            } else {
                matvec::<Separate, T>(row(a, r, n_in), w, row_mut(&mut z, r, n_out));
                combine_rows::<Separate, T>(T::one(), row(delta, r, n_out), 1, n_out, w, row_mut(&mut d, r, n_in));
            }
        }
        for i in 0..n_out {
            if has_fma() {
                combine_rows::<Fma, T>(alpha, &delta[i..], n_out, b, a, row_mut(&mut g, i, n_in));
            } else {
                combine_rows::<Separate, T>(alpha, &delta[i..], n_out, b, a, row_mut(&mut g, i, n_in));
            }
        }
        (z, d, g)
    }

    /// The packed product (on 1, 2 and 3 threads) gives the loops' bits, and the products
    /// through the public entry points (which pick a route by size) give them too, on
    /// edge shapes: dimensions of 1 to 3, either side of the microkernel tiles (4, 6, 8,
    /// 16, 32 and one more or less), tall and skinny, sums longer than one block of KC
    /// terms, more rows than one A block (MC) and more columns than one B block (NC), and
    /// full panels whose terms are not a multiple of the packing's 8 × 8 transposes.
    fn packed_matches_loops<T: Real>() {
        let shapes = [
            (1, 2, 2),
            (1, 9, 3),
            (3, 3, 3),
            (2, 13, 5),
            (5, 7, 1),
            (7, 31, 33),
            (9, 17, 15),
            (17, 33, 31),
            (33, 5, 65),
            (4, 17, 13),
            (7, 600, 2),
            (300, 3, 2),
            (2, 520, 40),
            (257, 40, 7),
            (130, 300, 9),
            (3, 1030, 300),
            (121, 64, 1100),
            (600, 20, 3),
            (40, 300, 70),
            (64, 520, 96),
        ];
        for (b, n_in, n_out) in shapes {
            let (a, w) = (filled::<T>(b, n_in, 1), filled::<T>(n_out, n_in, 2));
            let delta = filled::<T>(b, n_out, 3);
            let alpha = T::one() / T::of(b as f64);
            let shape = format!("{} batch {b}, {n_in} → {n_out}", T::NAME);
            let (z, d, g) = by_loops(&a, &w, &delta, alpha, (b, n_in, n_out));
            for threads in [1, 2, 3] {
                let mut z2 = vec![T::zero(); b * n_out];
                let mut d2 = vec![T::zero(); b * n_in];
                let mut g2 = vec![T::zero(); n_out * n_in];
                let at = Strided::rows(&a, n_in);
                super::super::gemm::gemm_on(
                    threads,
                    T::one(),
                    at,
                    Strided::transposed(&w, n_in),
                    &mut z2,
                    b,
                    n_in,
                    n_out,
                    None,
                );
                super::super::gemm::gemm_on(
                    threads,
                    T::one(),
                    Strided::rows(&delta, n_out),
                    Strided::rows(&w, n_in),
                    &mut d2,
                    b,
                    n_out,
                    n_in,
                    None,
                );
                let dt = Strided::transposed(&delta, n_out);
                super::super::gemm::gemm_on(threads, alpha, dt, at, &mut g2, n_out, b, n_in, None);
                assert_eq!(bits(&z), bits(&z2), "forward, {shape}, {threads} threads");
                assert_eq!(bits(&d), bits(&d2), "delta, {shape}, {threads} threads");
                assert_eq!(bits(&g), bits(&g2), "gradient, {shape}, {threads} threads");
                // with `then`: every element passed exactly once, already final
                let seen: Vec<_> = (0..n_out * n_in).map(|_| AtomicU64::new(0)).collect();
                let count: Vec<_> = (0..n_out * n_in).map(|_| AtomicUsize::new(0)).collect();
                let then = |i: usize, j: usize, row: &mut [T]| {
                    for (jj, v) in row.iter().enumerate() {
                        seen[i * n_in + j + jj].store(v.f64().to_bits(), Relaxed);
                        count[i * n_in + j + jj].fetch_add(1, Relaxed);
                    }
                };
                let mut g4 = vec![T::zero(); n_out * n_in];
                super::super::gemm::gemm_on(threads, alpha, dt, at, &mut g4, n_out, b, n_in, Some(&then));
                assert_eq!(bits(&g), bits(&g4), "gemm with then, {shape}, {threads} threads");
                assert!(
                    count.iter().all(|c| c.load(Relaxed) == 1),
                    "then gets each element once, {shape}"
                );
                let seen: Vec<u64> = seen.iter().map(|v| v.load(Relaxed)).collect();
                let final_bits: Vec<u64> = g.iter().map(|v| v.f64().to_bits()).collect();
                assert_eq!(seen, final_bits, "then gets final values, {shape}, {threads} threads");
                // the same for the forward product, which few outputs compute as Zᵀ
                let seen: Vec<_> = (0..b * n_out).map(|_| AtomicU64::new(0)).collect();
                let count: Vec<_> = (0..b * n_out).map(|_| AtomicUsize::new(0)).collect();
                let then = |i: usize, j: usize, row: &mut [T]| {
                    for (jj, v) in row.iter().enumerate() {
                        seen[i * n_out + j + jj].store(v.f64().to_bits(), Relaxed);
                        count[i * n_out + j + jj].fetch_add(1, Relaxed);
                    }
                };
                let mut z4 = vec![T::zero(); b * n_out];
                let wt = Strided::transposed(&w, n_in);
                super::super::gemm::gemm_on(threads, T::one(), at, wt, &mut z4, b, n_in, n_out, Some(&then));
                assert_eq!(bits(&z), bits(&z4), "forward with then, {shape}, {threads} threads");
                assert!(count.iter().all(|c| c.load(Relaxed) == 1), "then once, {shape}");
                let seen: Vec<u64> = seen.iter().map(|v| v.load(Relaxed)).collect();
                let final_bits: Vec<u64> = z.iter().map(|v| v.f64().to_bits()).collect();
                assert_eq!(
                    seen, final_bits,
                    "forward's then gets final values, {shape}, {threads} threads"
                );
            }
            let (mut z3, mut d3, mut g3) = (
                vec![T::zero(); b * n_out],
                vec![T::zero(); b * n_in],
                vec![T::zero(); n_out * n_in],
            );
            if has_fma() {
                forward_product::<Fma, T>(&a, &w, None, &mut z3, b, n_in, n_out);
                delta_product::<Fma, T>(&delta, &w, &mut d3, b, n_out, n_in);
                gradient_product::<Fma, T>(alpha, &delta, &a, &mut g3, b, n_out, n_in);
            } else {
                forward_product::<Separate, T>(&a, &w, None, &mut z3, b, n_in, n_out);
                delta_product::<Separate, T>(&delta, &w, &mut d3, b, n_out, n_in);
                gradient_product::<Separate, T>(alpha, &delta, &a, &mut g3, b, n_out, n_in);
            }
            assert_eq!(bits(&z), bits(&z3), "forward_product, {shape}");
            assert_eq!(bits(&d), bits(&d3), "delta_product, {shape}");
            assert_eq!(bits(&g), bits(&g3), "gradient_product, {shape}");
        }
    }

    #[test]
    fn packed_product_gives_the_loops_bits_f64() {
        packed_matches_loops::<f64>();
    }

    #[test]
    fn packed_product_gives_the_loops_bits_f32() {
        packed_matches_loops::<f32>();
    }

    /// The products are matrixmultiply's bits (the route earlier versions of bprop took
    /// for every product), but for one case: matrixmultiply's edge tiles add later blocks
    /// as c + (α s) rounded twice, its full tiles as one FMA c + α s, as the loops and
    /// the packed product do; they agree when α = 1 or there is one block.
    fn packed_matches_matrixmultiply<T: Real>() {
        use ndarray::linalg::general_mat_mul;
        use ndarray::ArrayView2;
        for (b, n_in, n_out) in [(4, 17, 13), (2, 520, 40), (130, 300, 9), (33, 700, 70), (300, 40, 20)] {
            let (a, w) = (filled::<T>(b, n_in, 1), filled::<T>(n_out, n_in, 2));
            let delta = filled::<T>(b, n_out, 3);
            let alpha = T::one() / T::of(b as f64);
            let (mut z, mut d, mut g) = (
                vec![T::zero(); b * n_out],
                vec![T::zero(); b * n_in],
                vec![T::zero(); n_out * n_in],
            );
            forward_gemm(&a, &w, &mut z, b, n_in, n_out, None);
            delta_gemm(&delta, &w, &mut d, b, n_out, n_in, None);
            gradient_gemm(alpha, &delta, &a, &mut g, b, n_out, n_in, None);
            let v = |s: &[T], r, c| ArrayView2::from_shape((r, c), s).unwrap().to_owned();
            let (av, wv, dv) = (v(&a, b, n_in), v(&w, n_out, n_in), v(&delta, b, n_out));
            let (mut zo, mut d_o, mut go) = (
                Array2::zeros((b, n_out)),
                Array2::zeros((b, n_in)),
                Array2::zeros((n_out, n_in)),
            );
            general_mat_mul(T::one(), &av, &wv.t(), T::zero(), &mut zo);
            general_mat_mul(T::one(), &dv, &wv, T::zero(), &mut d_o);
            general_mat_mul(alpha, &dv.t(), &av, T::zero(), &mut go);
            let shape = format!("{} batch {b}, {n_in} → {n_out}", T::NAME);
            let flat = |x: &ndarray::Array2<T>| x.iter().copied().collect::<Vec<T>>();
            assert_eq!(bits(&z), bits(&flat(&zo)), "forward, {shape}");
            assert_eq!(bits(&d), bits(&flat(&d_o)), "delta, {shape}");
            if alpha == T::one() || b <= KC {
                assert_eq!(bits(&g), bits(&flat(&go)), "gradient, {shape}");
            }
        }
    }

    #[test]
    fn packed_product_gives_matrixmultiplys_bits_f64() {
        packed_matches_matrixmultiply::<f64>();
    }

    #[test]
    fn packed_product_gives_matrixmultiplys_bits_f32() {
        packed_matches_matrixmultiply::<f32>();
    }

    /// Against a naive triple loop in f64, with the bias.
    #[test]
    fn products_are_the_products() {
        let (b, n_in, n_out) = (3, 5, 4);
        let (a, w, bias) = (
            filled::<f64>(b, n_in, 4),
            filled::<f64>(n_out, n_in, 5),
            filled::<f64>(1, n_out, 6),
        );
        let mut z = vec![0.0; b * n_out];
        forward_product::<Separate, f64>(&a, &w, Some(&bias), &mut z, b, n_in, n_out);
        let a2 = Array2::from_shape_vec((b, n_in), a).unwrap();
        let w2 = Array2::from_shape_vec((n_out, n_in), w).unwrap();
        for r in 0..b {
            for i in 0..n_out {
                let want: f64 = (0..n_in).map(|j| a2[[r, j]] * w2[[i, j]]).sum::<f64>() + bias[i];
                assert!((z[r * n_out + i] - want).abs() < 1e-15);
            }
        }
    }
}

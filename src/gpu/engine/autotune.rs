//! Choosing each matrix product's kernel variant ([`Product`]) per adapter and shape, as
//! cubecl's autotune and cuBLAS's heuristics do: on first use of a product shape, every
//! variant the device can run is compiled and timed on the product itself (device
//! timestamps where the adapter has `TIMESTAMP_QUERY`, the wall clock around a submission
//! otherwise), and the fastest is kept — in memory and in an on-disk cache keyed by
//! adapter, backend, driver version, precision, pass, input kind and shape bucket (each of
//! M, N, K rounded up to a power of two), so later runs skip the timing.
//!
//! The cache is one JSON file, `kernels.json`, in `$BPROP_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/bprop`, else `~/.cache/bprop`; it is written atomically
//! (`fsutil::write_atomic`). A file that cannot be read or parsed is ignored with a warning
//! (and replaced at the next write); a failed write is a warning too, never an error: the
//! cache only saves time.
//!
//! `BPROP_KERNEL` ([`KERNEL_ENV`]) forces one variant (`workgroup-64`, `register-4x4`,
//! `subgroup-16x32`, …) or asks for tuning (`auto`, the default of `driver::open_gpu`); tests
//! fix variants through [`GpuEngine::set_product_choice`] and never depend on which wins.

use super::kernels::ProductPass;
use super::readback::read_mapped;
use super::{GpuEngine, KernelChoice, TILED_MIN_BATCH};
use crate::error::{BpropError, Result};
use crate::gpu::shaders::{Product, ShaderKey, Tile};
use crate::model::{Precision, Real};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The environment variable that forces a product variant (its name, e.g. `register-4x4`) or
/// asks for tuning (`auto`, or unset).
pub const KERNEL_ENV: &str = "BPROP_KERNEL";

/// The environment variable naming the tuner's cache directory.
pub const CACHE_ENV: &str = "BPROP_CACHE_DIR";

/// The cache file's format version (`"version"`); a file of another version is ignored.
const CACHE_VERSION: u64 = 2;

/// The variants the tuner times, where the device can run them: all of them, the ones
/// that were fastest on the adapters measured so far first (BENCHMARKS.md), so that the
/// slow ones are cut short (`PRUNE`).
const CANDIDATES: [Product; 11] = [
    Product::Vec4(8),
    Product::Vec4(4),
    Product::Subgroup(8),
    Product::Subgroup(4),
    Product::Subgroup(2),
    Product::Workgroup(Tile::T64),
    Product::Register,
    Product::Workgroup(Tile::T32),
    Product::Workgroup(Tile::T128),
    // Coalesced four-wide staging: made for GPUs with wide memory transactions, not
    // measured on one yet (lavapipe prefers the subgroup kernels by 10x).
    Product::WorkgroupVec4(Tile::T64),
    Product::WorkgroupVec4(Tile::T128),
];

/// A candidate whose untimed first dispatch takes over this many times the best time per
/// dispatch so far is not timed further (on a software adapter the slow variants of a
/// large product take seconds each).
const PRUNE: f64 = 3.0;

/// Dispatches of a product per timed submission (after one untimed dispatch).
const TIMED_DISPATCHES: u32 = 2;

/// Timed submissions per candidate, the candidates alternating round by round; the
/// fastest median wins (one timing per candidate let a burst of load elsewhere on the
/// machine pick a variant 40% slower than the best, seen on lavapipe).
const TUNING_ROUNDS: usize = 3;

/// How the product passes' kernel variants are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProductChoice {
    /// One variant for every product.
    Fixed(Product),
    /// Per product shape, the fastest variant the device can run, timed on first use and
    /// cached ([`TuneCache`]).
    Tuned,
}

impl ProductChoice {
    /// Parses `auto` (tuning) or a variant's name ([`Product`]'s `Display`).
    ///
    /// # Errors
    /// [`BpropError::UnknownName`] for anything else.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim() {
            "" | "auto" => Ok(ProductChoice::Tuned),
            name => Ok(ProductChoice::Fixed(name.parse()?)),
        }
    }

    /// The choice [`KERNEL_ENV`] asks for: tuning when it is unset or `auto`.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] naming the variable for a value that is not `auto`
    /// or a variant's name.
    pub fn from_env() -> Result<Self> {
        match std::env::var(KERNEL_ENV) {
            Err(_) => Ok(ProductChoice::Tuned),
            Ok(v) => ProductChoice::parse(&v).map_err(|e| BpropError::InvalidArgument {
                name: KERNEL_ENV,
                value: v.clone(),
                why: e.to_string(),
            }),
        }
    }
}

/// What a tuned choice is keyed by: the adapter, its backend and driver version, the
/// precision, the product pass, whether it reads a byte-coded input, and the shape bucket
/// (M, N and K each rounded up to a power of two, and which of them are multiples of 4:
/// [`Product::Vec4`] fits only 4-aligned shapes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShapeKey(String);

impl ShapeKey {
    /// The key of a product of shape `m` × `n` × `k` (bucketed here).
    pub fn new(
        adapter: &str,
        driver: &str,
        precision: Precision,
        pass: ProductPass,
        bytes: bool,
        mnk: [usize; 3],
    ) -> Self {
        let [m, n, k] = mnk.map(|d| d.max(1).next_power_of_two());
        let by4: String = ["m", "n", "k"]
            .iter()
            .zip(mnk)
            .filter(|(_, d)| d % 4 == 0)
            .map(|(name, _)| *name)
            .collect();
        let input = if bytes { "bytes" } else { "real" };
        ShapeKey(format!(
            "{adapter} | {driver} | {precision} | {} | {input} | {m}x{n}x{k} | 4 divides {by4:-<3}",
            pass.pass().file()
        ))
    }

    /// The key as the cache file writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The tuner's choices: in memory, backed by a JSON file when it has a path.
#[derive(Debug, Default)]
pub struct TuneCache {
    path: Option<PathBuf>,
    loaded: bool,
    entries: BTreeMap<String, Product>,
    warnings: Vec<String>,
}

impl TuneCache {
    /// The cache in the user's cache directory (see the module's doc), or in memory only
    /// when none can be found.
    pub fn open_default() -> Self {
        let dir = std::env::var_os(CACHE_ENV)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .filter(|d| !d.is_empty())
                    .map(|d| PathBuf::from(d).join("bprop"))
            })
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|d| !d.is_empty())
                    .map(|h| PathBuf::from(h).join(".cache").join("bprop"))
            });
        match dir {
            Some(d) => TuneCache::in_dir(&d),
            None => TuneCache::default(),
        }
    }

    /// The cache file `kernels.json` in `dir` (created at the first write).
    pub fn in_dir(dir: &Path) -> Self {
        TuneCache {
            path: Some(dir.join("kernels.json")),
            ..TuneCache::default()
        }
    }

    /// The cache file's path, if it has one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The warnings so far (an unreadable or corrupt file, a failed write), each also
    /// printed to stderr when it happened.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn warn(&mut self, msg: String) {
        eprintln!("bprop: warning: {msg}");
        self.warnings.push(msg);
    }

    /// Reads the file once; a missing file is an empty cache, an unreadable or corrupt one
    /// a warning and an empty cache.
    fn load(&mut self) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        let Some(path) = self.path.clone() else { return };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                self.warn(format!(
                    "kernel cache {} is not readable ({e}); ignoring it",
                    path.display()
                ));
                return;
            }
        };
        match parse_cache(&text) {
            Ok(entries) => self.entries = entries,
            Err(why) => self.warn(format!(
                "kernel cache {} is corrupt ({why}); ignoring it, it will be rewritten",
                path.display()
            )),
        }
    }

    /// The cached choice for `key`.
    pub fn get(&mut self, key: &ShapeKey) -> Option<Product> {
        self.load();
        self.entries.get(key.as_str()).copied()
    }

    /// Records `product` for `key` and rewrites the file atomically (a failure is a
    /// warning: the choice stays in memory).
    pub fn insert(&mut self, key: &ShapeKey, product: Product) {
        self.load();
        self.entries.insert(key.as_str().to_string(), product);
        let Some(path) = self.path.clone() else { return };
        let choices: serde_json::Map<String, serde_json::Value> = self
            .entries
            .iter()
            .map(|(k, p)| (k.clone(), serde_json::Value::String(p.to_string())))
            .collect();
        let doc = serde_json::json!({
            "version": CACHE_VERSION,
            "kernels": kernels_fingerprint(),
            "choices": choices,
        });
        let text = serde_json::to_string_pretty(&doc).expect("a JSON value serialises") + "\n";
        let written = match path.parent() {
            Some(dir) => std::fs::create_dir_all(dir).map_err(|e| BpropError::Io {
                path: dir.display().to_string(),
                source: e,
            }),
            None => Ok(()),
        }
        .and_then(|()| crate::fsutil::write_atomic(&path, text.as_bytes()));
        if let Err(e) = written {
            self.warn(format!("kernel cache not saved: {e}"));
        }
    }
}

/// A digest of every product kernel's source (64-bit FNV-1a of each tiled pass variant's
/// WGSL, hex): a cache file records the one its choices were timed with, and choices
/// timed with other kernels are dropped.
pub fn kernels_fingerprint() -> &'static str {
    static DIGEST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DIGEST.get_or_init(|| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for key in ShaderKey::all().iter().filter(|k| k.pass.is_tiled()) {
            for b in key.source().bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{h:016x}")
    })
}

/// The choices of a cache file's text (none when they were timed with other kernels),
/// or why it is not one.
fn parse_cache(text: &str) -> std::result::Result<BTreeMap<String, Product>, String> {
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match doc.get("version").and_then(|v| v.as_u64()) {
        Some(CACHE_VERSION) => {}
        other => return Err(format!("version {other:?}, expected {CACHE_VERSION}")),
    }
    let choices = doc
        .get("choices")
        .and_then(|c| c.as_object())
        .ok_or("no \"choices\" object")?;
    let entries = choices
        .iter()
        .map(|(k, v)| {
            let name = v.as_str().ok_or_else(|| format!("{k}: not a string"))?;
            let p: Product = name.parse().map_err(|e: BpropError| format!("{k}: {e}"))?;
            Ok((k.clone(), p))
        })
        .collect::<std::result::Result<BTreeMap<_, _>, String>>()?;
    if doc.get("kernels").and_then(|v| v.as_str()) != Some(kernels_fingerprint()) {
        // Timed with other product kernels (another bprop): its choices say nothing
        // about these.
        return Ok(BTreeMap::new());
    }
    Ok(entries)
}

impl<T: Real> GpuEngine<T> {
    /// The key of layer `l`'s `pass` product at the current batch size.
    fn shape_key(&self, l: usize, pass: ProductPass) -> ShapeKey {
        let [m, n, k] = self.product_mnk(l, pass);
        let bytes = l == 0 && pass != ProductPass::HiddenDelta && self.kernels.bytes.is_some();
        let s = &self.ctx.summary;
        ShapeKey::new(
            &s.name,
            &format!("{} {}", s.backend, s.driver),
            T::PRECISION,
            pass,
            bytes,
            [m, n, k],
        )
    }

    /// Under [`ProductChoice::Tuned`], when the current batch takes the product passes:
    /// sets each layer's variants for the current batch size (forward products only with
    /// `forward_only`), from the cache or by timing the candidates.
    pub(super) fn tune_products(&mut self, forward_only: bool) -> Result<()> {
        if self.product_choice != ProductChoice::Tuned
            || self.kernel_choice == KernelChoice::Plain
            || (self.kernel_choice == KernelChoice::Auto && self.params_key.batch < TILED_MIN_BATCH)
        {
            return Ok(());
        }
        let layers = self.net.layers().len();
        for l in 0..layers {
            for pass in ProductPass::ALL {
                let skip = match pass {
                    ProductPass::Forward => false,
                    ProductPass::HiddenDelta => forward_only || l + 1 == layers,
                    ProductPass::Gradient => forward_only,
                };
                if skip {
                    continue;
                }
                let key = self.shape_key(l, pass);
                let cache = self.tune_cache.get_or_insert_with(TuneCache::open_default);
                let cached = cache
                    .get(&key)
                    .filter(|&p| super::kernels::product_fits::<T>(&self.ctx, p));
                let best = match cached {
                    Some(p) => {
                        let runs = p.for_shape(pass.pass(), self.product_mnk(l, pass));
                        self.kernels.ensure_pass::<T>(&self.ctx, runs, pass, l == 0)?;
                        p
                    }
                    None => {
                        let best = self.time_candidates(l, pass)?;
                        if let Some(cache) = self.tune_cache.as_mut() {
                            cache.insert(&key, best);
                        }
                        best
                    }
                };
                self.products[l][pass as usize] = best;
            }
        }
        Ok(())
    }

    /// Times every candidate the device can run on layer `l`'s `pass` product at its
    /// shape and returns the fastest median over [`TUNING_ROUNDS`] alternating rounds (ties:
    /// the earlier in [`CANDIDATES`]); a candidate whose first, untimed dispatch is over
    /// [`PRUNE`] times the best first dispatch so far is dropped untimed.
    fn time_candidates(&mut self, l: usize, pass: ProductPass) -> Result<Product> {
        let mnk = self.product_mnk(l, pass);
        let mut alive: Vec<Product> = Vec::new();
        let mut fastest_first = f64::INFINITY;
        for p in CANDIDATES {
            if !super::kernels::product_fits::<T>(&self.ctx, p) || !p.fits(pass.pass(), mnk) {
                continue;
            }
            self.kernels.ensure_pass::<T>(&self.ctx, p, pass, l == 0)?;
            self.products[l][pass as usize] = p;
            let first = self.run_product(l, pass, 1, false)?;
            if first > PRUNE * fastest_first {
                continue;
            }
            fastest_first = fastest_first.min(first);
            alive.push(p);
        }
        let mut times = vec![Vec::new(); alive.len()];
        for _ in 0..TUNING_ROUNDS {
            for (i, &p) in alive.iter().enumerate() {
                self.products[l][pass as usize] = p;
                times[i].push(self.run_product(l, pass, TIMED_DISPATCHES, true)? / f64::from(TIMED_DISPATCHES));
            }
        }
        let mut best: Option<(f64, Product)> = None;
        for (&p, t) in alive.iter().zip(&times) {
            let secs = crate::bench::median(t);
            if best.is_none_or(|(b, _)| secs < b) {
                best = Some((secs, p));
            }
        }
        best.map(|(_, p)| p).ok_or_else(|| {
            BpropError::Gpu(format!(
                "{} can run none of the product kernel variants",
                self.ctx.summary.name
            ))
        })
    }

    /// Runs layer `l`'s `pass` product `times` times in one submission with its current
    /// variant and returns the seconds it took: device time from timestamps around the
    /// compute pass where the device has them (with `timed`), the wall clock otherwise.
    fn run_product(&self, l: usize, pass: ProductPass, times: u32, timed: bool) -> Result<f64> {
        let dev = &self.ctx.device;
        let stamps = (timed && dev.features().contains(wgpu::Features::TIMESTAMP_QUERY))
            .then(|| self.ctx.timestamp_period)
            .flatten()
            .map(|period| {
                let queries = dev.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("tuning timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2,
                });
                let buf = |usage| {
                    dev.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("tuning timestamps"),
                        size: 16,
                        usage,
                        mapped_at_creation: false,
                    })
                };
                let resolve = buf(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC);
                let staging = buf(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
                (queries, resolve, staging, period)
            });
        let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("bprop tuning"),
        });
        {
            let mut cpass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("bprop tuning"),
                timestamp_writes: stamps.as_ref().map(|(q, ..)| wgpu::ComputePassTimestampWrites {
                    query_set: q,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                }),
            });
            let bg = match pass {
                ProductPass::Forward => &self.bindings.forward[l],
                ProductPass::HiddenDelta => &self.bindings.hidden_delta[l],
                ProductPass::Gradient => &self.bindings.gradient[l],
            };
            let bytes = l == 0 && pass != ProductPass::HiddenDelta && self.kernels.bytes.is_some();
            for _ in 0..times {
                self.dispatch_product(&mut cpass, l, pass, bg, bytes);
            }
        }
        if let Some((q, resolve, staging, _)) = &stamps {
            enc.resolve_query_set(q, 0..2, resolve, 0);
            enc.copy_buffer_to_buffer(resolve, 0, staging, 0, 16);
        }
        let start = Instant::now();
        let index = self.ctx.queue.submit([enc.finish()]);
        self.ctx.wait(index)?;
        let wall = start.elapsed().as_secs_f64();
        self.ctx.check()?;
        match &stamps {
            Some((_, _, staging, period)) => {
                let ticks: [u64; 2] = read_mapped(
                    &self.ctx,
                    staging,
                    16,
                    "the tuning timestamps",
                    bytemuck::pod_read_unaligned,
                )?;
                Ok(ticks[1].saturating_sub(ticks[0]) as f64 * period * 1e-9)
            }
            None => Ok(wall),
        }
    }
}

/// One product of a step timed in every variant ([`GpuEngine::product_timings`]).
#[derive(Clone, Debug)]
pub struct ProductTiming {
    /// The layer.
    pub layer: usize,
    /// Which product of the layer.
    pub pass: ProductPass,
    /// Its shape: M, N, K (2·M·N·K floating-point operations).
    pub mnk: [usize; 3],
    /// Each variant the device runs, with its median seconds per dispatch.
    pub seconds: Vec<(Product, f64)>,
}

impl<T: Real> GpuEngine<T> {
    /// Times every product of a training step at batch `batch` (each layer's forward,
    /// hidden-delta and gradient products) in every variant the device can run, `rounds`
    /// rounds with the variants alternating within each, `dispatches` dispatches per
    /// timing; reports the median seconds per dispatch (device time where the adapter has
    /// timestamps). The engine's parameters are unchanged (the products only write z, a,
    /// δ and gradients); its variants are restored afterwards.
    ///
    /// # Errors
    /// [`BpropError::InvalidArgument`] for a batch of 0 or over the device's limits;
    /// [`BpropError::Gpu`] from the device.
    pub fn product_timings(&mut self, batch: usize, rounds: usize, dispatches: u32) -> Result<Vec<ProductTiming>> {
        if batch == 0 {
            return Err(BpropError::InvalidArgument {
                name: "batch_size",
                value: "0".into(),
                why: "a product needs at least one row".into(),
            });
        }
        self.ensure_params(super::buffers::ParamsKey {
            batch,
            drop_input: 0,
            drop_hidden: 0,
            ..self.params_key
        })?;
        let order: Vec<u32> = (0..batch).map(|i| (i % self.n_samples) as u32).collect();
        let q = &self.ctx.queue;
        q.write_buffer(&self.shared.order, 0, bytemuck::cast_slice(&order));
        q.write_buffer(
            &self.shared.state,
            0,
            bytemuck::bytes_of(&crate::gpu::contract::SubmissionState {
                step: 0,
                first_step: 0,
                seed_lo: 0,
                seed_hi: 0,
                first_row: 0,
            }),
        );
        let variants: Vec<Product> = Product::ALL
            .into_iter()
            .filter(|&p| super::kernels::product_fits::<T>(&self.ctx, p))
            .collect();
        for &p in &variants {
            self.kernels.ensure_product::<T>(&self.ctx, p)?;
        }
        let saved = self.products.clone();
        let layers = self.net.layers().len();
        let mut out = Vec::new();
        for l in 0..layers {
            for pass in ProductPass::ALL {
                if pass == ProductPass::HiddenDelta && l + 1 == layers {
                    continue;
                }
                let [m, n, k] = self.product_mnk(l, pass);
                let variants: Vec<Product> = variants
                    .iter()
                    .copied()
                    .filter(|p| p.fits(pass.pass(), [m, n, k]))
                    .collect();
                let mut times = vec![Vec::new(); variants.len()];
                for &p in &variants {
                    self.products[l][pass as usize] = p;
                    self.run_product(l, pass, 1, false)?;
                }
                for _ in 0..rounds.max(1) {
                    for (i, &p) in variants.iter().enumerate() {
                        self.products[l][pass as usize] = p;
                        let s = self.run_product(l, pass, dispatches.max(1), true)?;
                        times[i].push(s / f64::from(dispatches.max(1)));
                    }
                }
                let seconds = variants
                    .iter()
                    .zip(&times)
                    .map(|(&p, t)| (p, crate::bench::median(t)))
                    .collect();
                out.push(ProductTiming {
                    layer: l,
                    pass,
                    mnk: [m, n, k],
                    seconds,
                });
            }
        }
        self.products = saved;
        Ok(out)
    }
}

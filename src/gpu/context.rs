//! Adapter discovery and selection, and the device every GPU engine computes on.
//!
//! Selection honours the usual wgpu environment variables: `WGPU_BACKEND` (a comma list
//! such as `vulkan` or `vulkan,metal`) restricts the APIs searched, and `WGPU_ADAPTER_NAME`
//! (a case-insensitive substring) restricts the adapters by name. Among the adapters left,
//! hardware GPUs come first (discrete, integrated, virtual), then software adapters such
//! as lavapipe; modern APIs (Vulkan, Metal, DX12) before OpenGL.

use crate::error::{BpropError, Result};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one submission may run before the GPU path gives up with an error instead of
/// hanging (software adapters on 2 cores are slow, so this is generous).
pub const SUBMISSION_TIMEOUT: Duration = Duration::from_secs(600);

/// Which adapters may be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterRequest {
    /// Case-insensitive substring the adapter's name must contain (`WGPU_ADAPTER_NAME`).
    pub name: Option<String>,
    /// Graphics APIs to search (`WGPU_BACKEND`; all by default).
    pub backends: wgpu::Backends,
}

impl Default for AdapterRequest {
    fn default() -> Self {
        AdapterRequest {
            name: None,
            backends: wgpu::Backends::all(),
        }
    }
}

impl AdapterRequest {
    /// The request the environment describes: `WGPU_ADAPTER_NAME` and `WGPU_BACKEND`.
    pub fn from_env() -> Self {
        AdapterRequest {
            name: std::env::var("WGPU_ADAPTER_NAME").ok().filter(|s| !s.is_empty()),
            backends: wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()),
        }
    }
}

/// What bprop needs to know about an adapter, for `bprop devices` and reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The adapter's name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// The graphics API, e.g. `Vulkan`.
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu` (software) or `Other`.
    pub device_type: String,
    /// The driver and its version, as reported.
    pub driver: String,
    /// Whether compute shaders are supported at all.
    pub compute: bool,
    /// `SHADER_F64`: the f64 GPU path is available.
    pub f64: bool,
    /// `SHADER_F16`.
    pub f16: bool,
    /// `SUBGROUP` operations.
    pub subgroup: bool,
    /// `TIMESTAMP_QUERY`.
    pub timestamp: bool,
    /// Largest storage buffer binding, bytes.
    pub max_storage_binding: u64,
    /// Largest buffer, bytes.
    pub max_buffer: u64,
    /// Workgroup (shared) memory, bytes.
    pub max_workgroup_storage: u32,
    /// Invocations per workgroup.
    pub max_invocations: u32,
    /// Storage buffers per shader stage.
    pub max_storage_buffers_per_stage: u32,
    /// Hardware GPUs rank before software ones; lower is preferred.
    pub rank: u32,
}

impl AdapterSummary {
    /// Summarises `adapter`.
    pub fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let features = adapter.features();
        let limits = adapter.limits();
        let type_rank = match info.device_type {
            _ if is_software_name(&info.name) => 4,
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Other => 3,
            wgpu::DeviceType::Cpu => 4,
        };
        let api_rank = u32::from(info.backend == wgpu::Backend::Gl);
        AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
            compute: adapter
                .get_downlevel_capabilities()
                .flags
                .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS),
            f64: features.contains(wgpu::Features::SHADER_F64),
            f16: features.contains(wgpu::Features::SHADER_F16),
            subgroup: features.contains(wgpu::Features::SUBGROUP),
            timestamp: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            max_storage_binding: limits.max_storage_buffer_binding_size,
            max_buffer: limits.max_buffer_size,
            max_workgroup_storage: limits.max_compute_workgroup_storage_size,
            max_invocations: limits.max_compute_invocations_per_workgroup,
            max_storage_buffers_per_stage: limits.max_storage_buffers_per_shader_stage,
            rank: type_rank * 2 + api_rank,
        }
    }

    /// Whether this is a software adapter (lavapipe/llvmpipe, softpipe, WARP, SwiftShader):
    /// wgpu's `DeviceType::Cpu`, or a name that says so (drivers do not always report the
    /// type; WARP, for one, has been reported as `Other` or `IntegratedGpu`).
    pub fn is_software(&self) -> bool {
        self.device_type == "Cpu" || is_software_name(&self.name)
    }
}

/// Whether an adapter's name is that of a software renderer: Mesa's llvmpipe (lavapipe's
/// adapter name), lavapipe and softpipe, Google's SwiftShader, Microsoft's WARP ("Microsoft
/// Basic Render Driver").
pub fn is_software_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["llvmpipe", "lavapipe", "softpipe", "swiftshader", "basic render driver"]
        .iter()
        .any(|s| name.contains(s))
        || name.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == "warp")
}

fn instance(req: &AdapterRequest) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = req.backends;
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu finds for `req.backends`, with its summary, in preference order
/// (ignoring `req.name`).
pub fn enumerate(req: &AdapterRequest) -> Vec<(wgpu::Adapter, AdapterSummary)> {
    let inst = instance(req);
    let mut all: Vec<_> = pollster::block_on(inst.enumerate_adapters(req.backends))
        .into_iter()
        .map(|a| {
            let s = AdapterSummary::of(&a);
            (a, s)
        })
        .collect();
    all.sort_by_key(|(_, s)| s.rank);
    all
}

/// The adapter `auto` and `gpu` use: the best compute-capable adapter matching `req`
/// (and with `SHADER_F64` when `need_f64`).
///
/// # Errors
/// [`BpropError::NoAdapter`] saying what was searched, what was found, and why none fits.
pub fn pick(req: &AdapterRequest, need_f64: bool) -> Result<(wgpu::Adapter, AdapterSummary)> {
    let all = enumerate(req);
    if all.is_empty() {
        // WGPU_BACKEND with no name wgpu knows leaves no backend to search: say so, naming
        // the value, rather than printing an empty set of flags.
        if req.backends.is_empty() {
            let given = std::env::var("WGPU_BACKEND").unwrap_or_default();
            return Err(BpropError::NoAdapter(format!(
                "WGPU_BACKEND=`{given}` names no backend wgpu knows; use vulkan, metal, dx12, gl \
                 or webgpu (several separated by commas), or unset it"
            )));
        }
        let names: Vec<String> = req.backends.iter_names().map(|(n, _)| n.to_lowercase()).collect();
        return Err(BpropError::NoAdapter(format!(
            "wgpu found no adapter for backends {}; without a GPU, install a software adapter \
             (Debian/Ubuntu: `apt install mesa-vulkan-drivers libvulkan1`)",
            names.join(", ")
        )));
    }
    let names = all
        .iter()
        .map(|(_, s)| format!("{} ({})", s.name, s.backend))
        .collect::<Vec<_>>()
        .join(", ");
    let mut rejected = Vec::new();
    for (adapter, s) in all {
        if let Some(want) = &req.name {
            if !s.name.to_lowercase().contains(&want.to_lowercase()) {
                continue;
            }
        }
        if !s.compute {
            rejected.push(format!("{} has no compute shaders", s.name));
            continue;
        }
        if need_f64 && !s.f64 {
            rejected.push(format!(
                "{} ({}) lacks SHADER_F64 for --precision f64",
                s.name, s.backend
            ));
            continue;
        }
        return Ok((adapter, s));
    }
    let mut why = match &req.name {
        Some(want) => format!("no adapter name contains WGPU_ADAPTER_NAME=`{want}`; found: {names}"),
        None => format!("found: {names}"),
    };
    if !rejected.is_empty() {
        why.push_str("; rejected: ");
        why.push_str(&rejected.join("; "));
    }
    Err(BpropError::NoAdapter(why))
}

/// The adapter of the `n`-th process on a machine with several GPUs (data-parallel
/// training: `n` is the node-local rank): the adapters [`pick`] would accept that are as
/// preferred as its choice and on its backend (one entry per physical GPU), the
/// `n mod count`-th of them; [`pick`]'s own choice when it is the only one.
///
/// # Errors
/// As [`pick`].
pub fn pick_nth(req: &AdapterRequest, need_f64: bool, n: usize) -> Result<(wgpu::Adapter, AdapterSummary)> {
    let (_, best) = pick(req, need_f64)?;
    let peers: Vec<_> = enumerate(req)
        .into_iter()
        .filter(|(_, s)| {
            s.rank == best.rank
                && s.backend == best.backend
                && s.compute
                && (!need_f64 || s.f64)
                && req
                    .name
                    .as_ref()
                    .is_none_or(|w| s.name.to_lowercase().contains(&w.to_lowercase()))
        })
        .collect();
    let count = peers.len();
    match peers.into_iter().nth(n % count.max(1)) {
        Some(found) => Ok(found),
        None => pick(req, need_f64),
    }
}

/// A device and queue with error capture: uncaptured validation or out-of-memory errors
/// and device loss are recorded and surface as [`BpropError::Gpu`] from [`GpuContext::check`]
/// instead of wgpu's default panic.
#[derive(Debug)]
pub struct GpuContext {
    /// The adapter in use.
    pub adapter: wgpu::Adapter,
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The adapter's summary.
    pub summary: AdapterSummary,
    /// The limits the device was created with (the adapter's own, so large networks fit).
    pub limits: wgpu::Limits,
    /// Nanoseconds per timestamp tick, when the device was created with `TIMESTAMP_QUERY`
    /// (requested wherever the adapter has it; engines time their passes with it on request).
    pub timestamp_period: Option<f64>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl GpuContext {
    /// Picks an adapter for `req` (see [`pick`]) and creates a device on it with
    /// `SHADER_F64` when `need_f64`, `TIMESTAMP_QUERY` and `SUBGROUP` when the adapter has
    /// them, and the adapter's full limits.
    ///
    /// # Errors
    /// [`BpropError::NoAdapter`] from [`pick`]; [`BpropError::Gpu`] when the device cannot
    /// be created.
    pub fn new(req: &AdapterRequest, need_f64: bool) -> Result<Self> {
        let (adapter, summary) = pick(req, need_f64)?;
        Self::on(adapter, summary, need_f64)
    }

    /// [`GpuContext::new`] on the adapter [`pick_nth`] gives for `n`: the GPU of the
    /// node-local rank `n` in data-parallel training.
    ///
    /// # Errors
    /// As [`GpuContext::new`].
    pub fn new_nth(req: &AdapterRequest, need_f64: bool, n: usize) -> Result<Self> {
        let (adapter, summary) = pick_nth(req, need_f64, n)?;
        Self::on(adapter, summary, need_f64)
    }

    /// A device on `adapter`, as [`GpuContext::new`] creates it.
    fn on(adapter: wgpu::Adapter, summary: AdapterSummary, need_f64: bool) -> Result<Self> {
        let limits = adapter.limits();
        let mut features = if need_f64 {
            wgpu::Features::SHADER_F64
        } else {
            wgpu::Features::empty()
        };
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        if timestamps {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        // The subgroup product kernel (shaders/product_subgroup.wgsl) where there is one.
        if adapter.features().contains(wgpu::Features::SUBGROUP) {
            features |= wgpu::Features::SUBGROUP;
        }
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("bprop"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| BpropError::Gpu(format!("cannot create a device on {}: {e}", summary.name)))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(e.to_string());
        }));
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, msg| {
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("device lost ({reason:?}): {msg}"));
        });
        let timestamp_period = timestamps.then(|| f64::from(queue.get_timestamp_period()));
        Ok(GpuContext {
            adapter,
            device,
            queue,
            summary,
            limits,
            timestamp_period,
            errors,
        })
    }

    /// Errors with the first error the device reported since the last check (validation,
    /// out of memory, device lost), if any.
    pub fn check(&self) -> Result<()> {
        let mut errs = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if errs.is_empty() {
            return Ok(());
        }
        let all = errs.drain(..).collect::<Vec<_>>().join("; ");
        Err(BpropError::Gpu(format!("{} reported: {all}", self.summary.name)))
    }

    /// Blocks until `submission` has finished (or [`SUBMISSION_TIMEOUT`] passed), then
    /// [`GpuContext::check`]s.
    pub fn wait(&self, submission: wgpu::SubmissionIndex) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: Some(SUBMISSION_TIMEOUT),
            })
            .map_err(|e| BpropError::Gpu(format!("waiting for {}: {e}", self.summary.name)))?;
        self.check()
    }

    /// Checks that a storage buffer of `bytes` fits this device's limits.
    ///
    /// # Errors
    /// [`BpropError::Gpu`] naming the buffer, its size and the limit it exceeds.
    pub fn check_storage_size(&self, what: &str, bytes: u64) -> Result<()> {
        let bind = self.limits.max_storage_buffer_binding_size;
        let buf = self.limits.max_buffer_size;
        if bytes > bind.min(buf) {
            return Err(BpropError::Gpu(format!(
                "{what} needs {bytes} bytes, over {}'s limit of {} bytes per storage binding \
                 (max_storage_buffer_binding_size {bind}, max_buffer_size {buf})",
                self.summary.name,
                bind.min(buf)
            )));
        }
        Ok(())
    }
}

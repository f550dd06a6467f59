//! `bprop devices`: every adapter wgpu sees, its capabilities, and the one `auto` picks.

use bprop::gpu::context::enumerate;
use bprop::gpu::AdapterRequest;
use bprop::Result;

pub const EXAMPLES: &str =
    "Examples:\n  bprop devices\n  WGPU_BACKEND=vulkan bprop devices\n  WGPU_ADAPTER_NAME=llvmpipe bprop devices";

pub fn run() -> Result<()> {
    let req = AdapterRequest::from_env();
    let all = enumerate(&AdapterRequest {
        name: None,
        ..req.clone()
    });
    if all.is_empty() && req.backends.is_empty() {
        let given = std::env::var("WGPU_BACKEND").unwrap_or_default();
        println!("WGPU_BACKEND=`{given}` names no backend wgpu knows; use vulkan, metal, dx12, gl or webgpu.");
    } else if all.is_empty() {
        let names: Vec<String> = req.backends.iter_names().map(|(n, _)| n.to_lowercase()).collect();
        println!("wgpu finds no adapter (backends: {}).", names.join(", "));
    }
    for (i, (_, s)) in all.iter().enumerate() {
        println!("[{i}] {}", s.name);
        println!(
            "    backend {}, type {}, driver {}",
            s.backend,
            s.device_type,
            if s.driver.is_empty() { "?" } else { &s.driver }
        );
        let yes = |b: bool| if b { "yes" } else { "no" };
        println!(
            "    compute {}, f64 {}, f16 {}, subgroups {}, timestamps {}",
            yes(s.compute),
            yes(s.f64),
            yes(s.f16),
            yes(s.subgroup),
            yes(s.timestamp)
        );
        println!(
            "    limits: storage binding {} MiB, buffer {} MiB, workgroup memory {} KiB, {} invocations/workgroup, {} storage buffers/stage",
            s.max_storage_binding >> 20,
            s.max_buffer >> 20,
            s.max_workgroup_storage >> 10,
            s.max_invocations,
            s.max_storage_buffers_per_stage
        );
    }
    if let Some(name) = &req.name {
        println!("WGPU_ADAPTER_NAME={name} restricts the choice to adapters whose name contains it.");
    }
    // The same rule train, eval and predict follow (driver::auto_rule); without a run's
    // size, a hardware GPU is taken for work of any size here.
    let choice = bprop::driver::auto_choice(&req, false, None);
    let path = if choice.gpu { "the GPU path" } else { "the CPU path" };
    println!("--backend auto uses: {path} ({})", choice.why);
    Ok(())
}

//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod ranks;

use bprop::gpu::{AdapterRequest, GpuContext};
use std::sync::Arc;

/// The GPU context every GPU test runs on. Panics (fails the test) when no adapter is
/// found: GPU tests must not silently skip, CI installs lavapipe so that one exists.
pub fn gpu(f64: bool) -> Arc<GpuContext> {
    match GpuContext::new(&AdapterRequest::from_env(), f64) {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => panic!(
            "GPU tests need an adapter (install Mesa's lavapipe: apt install mesa-vulkan-drivers libvulkan1): {e}"
        ),
    }
}

/// A file under `tests/fixtures/` (small real data kept in the repository, so that the
/// tests need nothing beside the clone; `tests/fixtures/README.md` says what they are).
pub fn fixture(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(rel)
}

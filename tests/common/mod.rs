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

/// Kills a child process that is still running when the bound runs out: a test that
/// reads a child's pipes to their end would otherwise wait forever for a child that
/// hangs. A bound against hanging, not a timing assertion; dropping the guard disarms it.
pub struct Watchdog {
    done: Arc<std::sync::atomic::AtomicBool>,
}

impl Watchdog {
    /// Arms the watchdog for the process `pid`, with `limit` to run.
    pub fn arm(pid: u32, limit: std::time::Duration) -> Watchdog {
        use std::sync::atomic::Ordering;
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&done);
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while !flag.load(Ordering::Relaxed) {
                if start.elapsed() > limit {
                    eprintln!("watchdog: process {pid} still running after {limit:?}; killing it");
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
        Watchdog { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

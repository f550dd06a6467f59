//! Reading device buffers back: a staging buffer mapped for reading, waited for with the
//! submission timeout (so a hang becomes an error), read, and unmapped.

use crate::error::{BpropError, Result};
use crate::gpu::context::{GpuContext, SUBMISSION_TIMEOUT};

/// Maps the first `size` bytes of `staging` (a `MAP_READ` buffer whose copy has been
/// submitted) for reading, waits for the mapping, passes the bytes to `read` and unmaps.
/// `what` names the contents in errors ("the losses", "the timestamps").
///
/// # Errors
/// [`BpropError::Gpu`] when the wait times out or the mapping fails.
pub(super) fn read_mapped<R>(
    ctx: &GpuContext,
    staging: &wgpu::Buffer,
    size: u64,
    what: &str,
    read: impl FnOnce(&[u8]) -> R,
) -> Result<R> {
    let slice = staging.slice(..size);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    ctx.device
        .poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout: Some(SUBMISSION_TIMEOUT),
        })
        .map_err(|e| BpropError::Gpu(format!("waiting for {what}: {e}")))?;
    rx.recv()
        .map_err(|_| BpropError::Gpu(format!("the readback of {what} was dropped")))?
        .map_err(|e| BpropError::Gpu(format!("mapping {what}: {e}")))?;
    let out = {
        let view = slice
            .get_mapped_range()
            .map_err(|e| BpropError::Gpu(format!("reading {what}: {e}")))?;
        read(&view)
    };
    staging.unmap();
    Ok(out)
}

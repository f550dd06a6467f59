//! Device time from timestamp queries around each training submission's compute pass.

use super::readback::read_mapped;
use super::GpuEngine;
use crate::error::Result;
use crate::gpu::context::GpuContext;
use crate::model::Real;

/// Timestamp queries around each training submission's compute pass, and the device
/// time they add up to (`GpuEngine::set_timing`).
pub(super) struct Timing {
    pub(super) queries: wgpu::QuerySet,
    pub(super) resolve: wgpu::Buffer,
    pub(super) staging: wgpu::Buffer,
    /// Nanoseconds per tick.
    pub(super) period: f64,
    /// Device nanoseconds since the last `take_device_time`.
    pub(super) total_ns: f64,
}

impl<T: Real> GpuEngine<T> {
    /// Turns device timing of training calls on or off: with it on, each training
    /// submission's compute pass is bracketed by timestamp queries, read back with the
    /// losses, and summed for [`Engine::take_device_time`](crate::engine::Engine::take_device_time). Returns whether timing is on:
    /// false when the device has no `TIMESTAMP_QUERY`.
    pub fn set_timing(&mut self, on: bool) -> bool {
        match (on, self.ctx.timestamp_period) {
            (true, Some(period)) => {
                if self.timing.is_none() {
                    let dev = &self.ctx.device;
                    self.timing = Some(Timing {
                        queries: dev.create_query_set(&wgpu::QuerySetDescriptor {
                            label: Some("pass timestamps"),
                            ty: wgpu::QueryType::Timestamp,
                            count: 2,
                        }),
                        resolve: dev.create_buffer(&wgpu::BufferDescriptor {
                            label: Some("timestamps"),
                            size: 16,
                            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                            mapped_at_creation: false,
                        }),
                        staging: dev.create_buffer(&wgpu::BufferDescriptor {
                            label: Some("timestamps staging"),
                            size: 16,
                            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                            mapped_at_creation: false,
                        }),
                        period,
                        total_ns: 0.0,
                    });
                }
                true
            }
            _ => {
                self.timing = None;
                false
            }
        }
    }
}

/// Adds the last timed submission's pass time (end − beginning timestamp) to the total.
pub(super) fn read_timestamps(ctx: &GpuContext, t: &mut Timing) -> Result<()> {
    let ticks: [u64; 2] = read_mapped(ctx, &t.staging, 16, "the timestamps", bytemuck::pod_read_unaligned)?;
    t.total_ns += ticks[1].saturating_sub(ticks[0]) as f64 * t.period;
    Ok(())
}

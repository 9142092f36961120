//! Device-side timing for benchmarks (`examples/cuda_bench.rs`): a device-to-device copy
//! baseline and a program run on device-resident inputs, both timed with CUDA events.
use std::sync::Arc;

use cudarc::driver::CudaStream;
use cudarc::driver::sys::CUevent_flags;

use super::{CudaDevice, CudaProgram, DeviceTensor, alloc};
use crate::error::CudaError;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn event_err(e: cudarc::driver::DriverError) -> CudaError {
    CudaError::driver("timing with CUDA events", e)
}

/// Milliseconds per call of `work` on `stream`, bracketed by CUDA events: the median of
/// `iters` calls after one untimed warm-up. What `work` returns (a run's outputs) is dropped
/// only after the end event is read, so freeing it is not timed.
fn median_event_ms<T>(
    stream: &Arc<CudaStream>,
    iters: usize,
    mut work: impl FnMut() -> Result<T, CudaError>,
) -> Result<f64, CudaError> {
    let mut times = Vec::with_capacity(iters);
    for i in 0..=iters {
        let start = stream
            .record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(event_err)?;
        let produced = work()?;
        let end = stream
            .record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(event_err)?;
        let ms = start.elapsed_ms(&end).map_err(event_err)? as f64;
        drop(produced);
        if i > 0 {
            times.push(ms);
        }
    }
    Ok(median(times))
}

impl CudaDevice {
    /// Milliseconds per device-to-device copy of `bytes` bytes: the median of `iters` copies
    /// after one warm-up.
    pub fn time_copy_ms(&self, bytes: usize, iters: usize) -> Result<f64, CudaError> {
        let src = alloc(&self.stream, bytes)?;
        let mut dst = alloc(&self.stream, bytes)?;
        median_event_ms(&self.stream, iters, || {
            self.stream
                .memcpy_dtod(&src, &mut dst)
                .map_err(|e| CudaError::driver("copying device to device", e))
        })
    }
}

impl CudaProgram {
    /// Milliseconds per run on device-resident inputs (outputs allocated by the run, as
    /// [`CudaProgram::run`] does): the median of `iters` runs after one warm-up.
    pub fn time_run_ms(&self, inputs: &[&DeviceTensor], iters: usize) -> Result<f64, CudaError> {
        median_event_ms(&self.stream, iters, || self.run(inputs))
    }
}

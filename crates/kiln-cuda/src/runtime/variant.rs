//! Choosing, at each launch, which generated shape of a kernel runs, from the bound sizes.
//!
//! * **Vector** (`<name>_vec`) whenever the kernel has one, its innermost extent is a multiple of
//!   the lanes and every buffer's base pointer is 16-byte aligned.
//! * **Block reduction** (`<name>_block`) when the kernel has one and its reduction extent `R`
//!   (product of the reduction trip counts) is large next to the number of outputs `N`:
//!   `R >= BLOCK_REDUCE_LONG_EXTENT`, or `R >= BLOCK_REDUCE_MIN_EXTENT` and
//!   `N <= BLOCK_REDUCE_FEW_OUTPUTS`. A thread per output leaves most of the GPU idle when
//!   outputs are few and reads long contiguous rows uncoalesced; a block per output costs a
//!   block-wide tree, which only pays off for a long enough reduction.
//! * **Point** (`<name>`) otherwise.
use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, DevicePtr};
use kiln_sched::Kernel;

use super::validate::{Bound, eval_count};
use crate::codegen::VECTOR_BYTES;
use crate::error::CudaError;

/// A reduction at least this long takes the block shape whatever the number of outputs.
pub const BLOCK_REDUCE_LONG_EXTENT: usize = 2048;
/// A reduction at least this long takes the block shape when outputs are few.
pub const BLOCK_REDUCE_MIN_EXTENT: usize = 128;
/// "Few outputs": a thread per output would fill at most 64 blocks of 256 threads.
pub const BLOCK_REDUCE_FEW_OUTPUTS: usize = 16384;

/// Which generated function a launch ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelVariant {
    /// One thread per point, the reduction (if any) serial.
    Point,
    /// One block per point, the reduction spread over its threads.
    BlockReduce,
    /// Several consecutive points per thread with 16-byte accesses.
    Vector,
}

/// How launches choose among a kernel's shapes; [`VariantPolicy::Auto`] unless set with
/// [`crate::CudaProgram::set_variant_policy`] (tests and benchmarks compare the shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VariantPolicy {
    /// The rules of this module.
    #[default]
    Auto,
    /// Always the thread-per-point function.
    PointOnly,
    /// The block reduction for every reduction that has one, the vector shape wherever its
    /// launch conditions hold (those are still checked: they decide correctness).
    Specialised,
}

/// A kernel's functions in a loaded module.
#[derive(Debug)]
pub(crate) struct KernelFunctions {
    pub point: CudaFunction,
    pub block_reduce: Option<CudaFunction>,
    /// The function and the points each thread handles.
    pub vector: Option<(CudaFunction, u32)>,
}

/// What the launch knows of one kernel for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LaunchFacts {
    /// Points of the iteration space (outputs of a reduction).
    pub points: usize,
    /// The reduction extent, when a block shape exists and can index it.
    pub reduce_extent: Option<usize>,
    /// A vector shape exists and its divisibility and alignment conditions hold.
    pub vector_ok: bool,
}

pub(crate) fn choose(policy: VariantPolicy, facts: LaunchFacts) -> KernelVariant {
    if policy == VariantPolicy::PointOnly {
        return KernelVariant::Point;
    }
    if facts.vector_ok {
        return KernelVariant::Vector;
    }
    match facts.reduce_extent {
        Some(_) if policy == VariantPolicy::Specialised => KernelVariant::BlockReduce,
        Some(r)
            if r >= BLOCK_REDUCE_LONG_EXTENT
                || (r >= BLOCK_REDUCE_MIN_EXTENT && facts.points <= BLOCK_REDUCE_FEW_OUTPUTS) =>
        {
            KernelVariant::BlockReduce
        }
        _ => KernelVariant::Point,
    }
}

/// The product of the reduction's trip counts, when `k` has a block shape that can index
/// it (below 2^31 for a 32-bit kernel); `None` sends the launch to the point shape.
pub(crate) fn reduce_extent(
    k: &Kernel,
    f: &KernelFunctions,
    bound: &Bound,
) -> Result<Option<usize>, CudaError> {
    let Some(r) = k.reduce.as_ref().filter(|_| f.block_reduce.is_some()) else {
        return Ok(None);
    };
    let mut extent: Option<usize> = Some(1);
    for d in &r.dims {
        let v = eval_count(
            d,
            &bound.bindings,
            &format!("kernel `{}` reduction", k.name),
        )?;
        extent = extent.and_then(|e| e.checked_mul(v));
    }
    let limit = if k.index_bits == 32 {
        1usize << 31
    } else {
        usize::MAX
    };
    Ok(extent.filter(|&e| e < limit))
}

/// Whether the vector shape may run: it exists, the innermost extent is a multiple of its
/// lanes and every buffer starts 16-byte aligned.
pub(crate) fn vector_ok(
    k: &Kernel,
    f: &KernelFunctions,
    slices: &[&CudaSlice<u8>],
    stream: &CudaStream,
    bound: &Bound,
) -> Result<bool, CudaError> {
    let (Some((_, lanes)), Some(last)) = (&f.vector, k.dims.last()) else {
        return Ok(false);
    };
    let inner = eval_count(last, &bound.bindings, &format!("kernel `{}` dims", k.name))?;
    if !inner.is_multiple_of(*lanes as usize) {
        return Ok(false);
    }
    let aligned = slices.iter().all(|s| {
        let (ptr, _record) = s.device_ptr(stream);
        ptr % VECTOR_BYTES as u64 == 0
    });
    Ok(aligned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(points: usize, reduce_extent: Option<usize>, vector_ok: bool) -> LaunchFacts {
        LaunchFacts {
            points,
            reduce_extent,
            vector_ok,
        }
    }

    #[test]
    fn long_rows_and_few_outputs_take_the_block_shape() {
        let auto = VariantPolicy::Auto;
        assert_eq!(
            choose(auto, facts(8, Some(100_000), false)),
            KernelVariant::BlockReduce
        );
        assert_eq!(
            choose(auto, facts(1, Some(1 << 20), false)),
            KernelVariant::BlockReduce
        );
        assert_eq!(
            choose(auto, facts(1 << 20, Some(4096), false)),
            KernelVariant::BlockReduce
        );
        assert_eq!(
            choose(auto, facts(3, Some(200), false)),
            KernelVariant::BlockReduce
        );
    }

    #[test]
    fn short_reductions_and_many_outputs_stay_one_thread_per_point() {
        let auto = VariantPolicy::Auto;
        assert_eq!(
            choose(auto, facts(3, Some(37), false)),
            KernelVariant::Point
        );
        assert_eq!(
            choose(auto, facts(1 << 20, Some(512), false)),
            KernelVariant::Point
        );
        assert_eq!(choose(auto, facts(8, None, false)), KernelVariant::Point);
    }

    #[test]
    fn policies_override_the_rule_but_not_the_vector_conditions() {
        let f = facts(1 << 20, Some(9), false);
        assert_eq!(
            choose(VariantPolicy::Specialised, f),
            KernelVariant::BlockReduce
        );
        assert_eq!(choose(VariantPolicy::Auto, f), KernelVariant::Point);
        let v = facts(1 << 20, None, true);
        assert_eq!(choose(VariantPolicy::Auto, v), KernelVariant::Vector);
        assert_eq!(choose(VariantPolicy::PointOnly, v), KernelVariant::Point);
        let not_aligned = facts(1 << 20, None, false);
        assert_eq!(
            choose(VariantPolicy::Specialised, not_aligned),
            KernelVariant::Point
        );
    }
}

//! Library steps of a program (GEMM, convolution), run by library code rather than generated
//! kernels. The sizes come from [`kiln_sched::LibraryCall::launch`], which proved them inside
//! the buffers; `ptrs[b]` points at buffer `b`, which holds at least the elements `launch`
//! was given for it.
mod conv;
mod gemm;
mod index;
mod pool_grad;
mod pool_indices;

use kiln_sched::{LaunchAt, LibraryCall};
use kiln_shape::Bindings;

use crate::error::RunError;

pub(crate) use gemm::LIBRARY as GEMM_LIBRARY;
pub(crate) use gemm::in_parallel as gemm_in_parallel;
pub use gemm::sgemm;

/// What runs on a range of a convolution's or GEMM's output elements (flat indices into the
/// whole output) as soon as they are computed: the epilogue kernel (`kiln_sched`'s
/// `Program::library_epilogue`). Called once for every element, on disjoint ranges, possibly
/// from several threads at once.
pub(crate) type Epilogue<'a> = &'a (dyn Fn(std::ops::Range<usize>) + Sync);

/// Runs one library step. `numels[b]` is buffer `b`'s element count at this launch. A
/// convolution or GEMM runs `epilogue` on each part of its output as soon as it is written
/// (other calls have none: pass `None`).
pub(crate) fn run(
    call: &LibraryCall,
    ptrs: &[*mut u8],
    numels: &[i64],
    bindings: &Bindings,
    epilogue: Option<Epilogue>,
) -> Result<(), RunError> {
    let at = call.launch(bindings, numels)?;
    if epilogue.is_some() && !matches!(call, LibraryCall::Conv(_) | LibraryCall::Gemm(_)) {
        return Err(unsupported(
            call,
            "an epilogue on a call that is neither a convolution nor a GEMM",
        ));
    }
    match (call, at) {
        (LibraryCall::Gemm(g), LaunchAt::Gemm(at)) => {
            let with_points = |e| {
                let points = numels.get(g.c.buf as usize).copied();
                match points.and_then(|n| usize::try_from(n).ok()) {
                    Some(points) => Ok((e, points)),
                    None => Err(unsupported(call, "the output's size is unknown")),
                }
            };
            gemm::run(g, &at, ptrs, epilogue.map(with_points).transpose()?)
        }
        (LibraryCall::Conv(c), LaunchAt::Conv(at)) => {
            conv::run(c, &at, ptrs, epilogue.unwrap_or(&|_| {}))
        }
        (LibraryCall::Index(c), LaunchAt::Index(at)) => index::run(c, &at, ptrs),
        (LibraryCall::PoolIndices(c), LaunchAt::PoolIndices(at)) => pool_indices::run(c, &at, ptrs),
        (LibraryCall::ConvGrad(c), LaunchAt::Conv(at)) => conv::run_grad(c, &at, ptrs),
        (LibraryCall::PoolBackward(p), LaunchAt::PoolBackward(at)) => pool_grad::run(p, &at, ptrs),
        _ => Err(unsupported(call, "the call and its launch sizes disagree")),
    }
}

pub(crate) fn unsupported(call: &LibraryCall, msg: &str) -> RunError {
    RunError::Library {
        call: call.name().to_string(),
        msg: msg.to_string(),
    }
}

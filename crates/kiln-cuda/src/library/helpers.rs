//! Which helper kernels a program's cubin carries, and their C names. A function of the
//! program alone, so the runtime finds them in a loaded artifact without NVRTC.
use std::collections::BTreeSet;

use kiln_ir::DType;
use kiln_sched::Program;

/// The helper header, embedded like `kiln.cuh` so that NVRTC reads no files.
pub const LIBRARY_HEADER: &str = include_str!("../../../../kernels/kiln_library.cuh");
pub const LIBRARY_HEADER_NAME: &str = "kiln_library.cuh";

/// The helper kernels, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Helper {
    Im2col,
    Depthwise,
    GemmK0,
}

impl Helper {
    pub const ALL: [Helper; 3] = [Helper::Im2col, Helper::Depthwise, Helper::GemmK0];

    fn stem(self) -> &'static str {
        match self {
            Helper::Im2col => "kiln_im2col",
            Helper::Depthwise => "kiln_depthwise",
            Helper::GemmK0 => "kiln_gemm_k0",
        }
    }
}

fn suffix(d: DType) -> Option<&'static str> {
    match d {
        DType::F32 => Some("f32"),
        DType::F64 => Some("f64"),
        DType::F16 => Some("f16"),
        DType::BF16 => Some("bf16"),
        _ => None,
    }
}

/// The C name of one helper for `dtype` (`kiln_im2col_f32`), `None` for dtypes without one.
pub fn helper_name(helper: Helper, dtype: DType) -> Option<String> {
    Some(format!("{}_{}", helper.stem(), suffix(dtype)?))
}

/// The dtypes of the program's library steps that get helpers, in a fixed order.
pub fn helper_dtypes(program: &Program) -> Vec<DType> {
    let used: BTreeSet<&'static str> = program
        .library_calls()
        .filter_map(|c| suffix(call_dtype(c)?))
        .collect();
    [DType::F16, DType::BF16, DType::F32, DType::F64]
        .into_iter()
        .filter(|d| suffix(*d).is_some_and(|s| used.contains(s)))
        .collect()
}

/// The dtype a call's helpers are generated for (`None`: the call has no CUDA helpers).
pub(crate) fn call_dtype(call: &kiln_sched::LibraryCall) -> Option<DType> {
    match call {
        kiln_sched::LibraryCall::PoolBackward(p) => Some(p.dtype),
        kiln_sched::LibraryCall::Gemm(g) => Some(g.dtype),
        kiln_sched::LibraryCall::Conv(c) => Some(c.dtype),
        kiln_sched::LibraryCall::ConvGrad(c) => Some(c.conv.dtype),
        kiln_sched::LibraryCall::Index(_) | kiln_sched::LibraryCall::PoolIndices(_) => None,
    }
}

/// Refuses, before any code is generated, a program with library steps this backend has no
/// implementation of: the gather family (`index_select`, `gather`, `scatter_add`,
/// `index_add`, `embedding`) runs on the CPU backend only.
pub(crate) fn refuse_unsupported(program: &Program) -> Result<(), crate::CudaError> {
    match program.library_calls().find(|c| {
        matches!(
            c,
            kiln_sched::LibraryCall::Index(_) | kiln_sched::LibraryCall::PoolIndices(_)
        )
    }) {
        Some(c) => Err(crate::CudaError::Library {
            call: c.name().to_string(),
            msg: "the gather ops (index_select, gather, scatter_add, index_add, embedding, \
                  max_pool2d's indices) are not supported on the CUDA backend yet; compile for \
                  the CPU"
                .into(),
        }),
        None => Ok(()),
    }
}

/// Every helper entry point of the program's unit, in emission order.
pub fn helper_entries(program: &Program) -> Vec<String> {
    helper_dtypes(program)
        .into_iter()
        .flat_map(|d| {
            Helper::ALL
                .into_iter()
                .filter_map(move |h| helper_name(h, d))
        })
        .collect()
}

/// The code that instantiates the helpers (empty for a program without library steps).
pub fn helper_code(program: &Program) -> String {
    let dtypes = helper_dtypes(program);
    if dtypes.is_empty() {
        return String::new();
    }
    let mut code = format!("\n#include \"{LIBRARY_HEADER_NAME}\"\n");
    for d in dtypes {
        let (s, t, acc, load, store) = match d {
            DType::F16 => (
                "f16",
                "kiln_f16",
                "float",
                "kiln_f16_to_float",
                "kiln_to_f16",
            ),
            DType::BF16 => (
                "bf16",
                "kiln_bf16",
                "float",
                "kiln_bf16_to_float",
                "kiln_to_bf16",
            ),
            DType::F32 => ("f32", "float", "float", "KILN_SAME", "KILN_SAME"),
            _ => ("f64", "double", "double", "KILN_SAME", "KILN_SAME"),
        };
        code.push_str(&format!(
            "KILN_LIBRARY_HELPERS({s}, {t}, {acc}, {load}, {store})\n"
        ));
    }
    code
}

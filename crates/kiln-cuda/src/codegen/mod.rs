//! Kernel IR to one CUDA C translation unit.
//!
//! One `extern "C" __global__` function per [`Kernel`]. Parameters, in order (the ABI that
//! [`crate::runtime`] launches with; see [`kernel_buffers`]):
//! 1. a pointer per buffer the kernel touches, by ascending buffer id (`const` when only read);
//! 2. one `long long` per program symbol, in [`Program::symbols`] order;
//! 3. `long long n`, the number of points of the iteration space.
//!
//! Every kernel has the thread-per-point shape ([`point`]): each thread handles points of the
//! iteration space in a grid-stride loop, recovers the loop variables `o0..` from the linear
//! point index, runs the reduction loop (if any) serially, then the body and the stores. Some
//! kernels also get a second shape with the same parameters, which the launch picks from the
//! bound sizes ([`KernelVariants`]): a block-per-output reduction ([`block_reduce`], C name
//! `<name>_block`) or a 16-byte vector elementwise kernel ([`vector`], `<name>_vec`).
//!
//! Index arithmetic is `int` when the scheduler proved 32 bits enough (`index_bits == 32`),
//! `long long` otherwise; grid-stride counters are always `long long` so that stepping past the
//! end cannot overflow.
mod block_reduce;
mod expr;
mod kernel;
mod point;
mod scalar;
mod vector;

use std::collections::BTreeSet;

use kiln_sched::{BufId, Kernel, Program};
use serde::{Deserialize, Serialize};

use crate::error::CudaError;
use crate::library::helpers;
use kernel::KernelWriter;

pub use block_reduce::has_block_reduce;
pub use vector::{VECTOR_BYTES, VectorPlan, vector_plan};

/// The helper header every generated unit includes, embedded so that NVRTC needs no files.
pub const KILN_HEADER: &str = include_str!("../../../../kernels/kiln.cuh");
/// The name generated code `#include`s it by.
pub const KILN_HEADER_NAME: &str = "kiln.cuh";
/// Threads per block of every launch (the kernels declare it in `__launch_bounds__`).
pub const BLOCK_SIZE: u32 = 256;
/// Bumped whenever generated code changes meaning: part of [`crate::target_id`]. (Units of
/// programs with library steps also carry the helper kernels of `kiln_library.cuh`; no
/// earlier artifact could run such a program, and the target id names cuBLAS since.)
pub const CODEGEN_VERSION: u32 = 2;

/// A generated translation unit and the headers it includes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CudaSource {
    /// The program's name, used as NVRTC's file name in diagnostics.
    pub name: String,
    pub code: String,
    /// `(include name, contents)` pairs handed to NVRTC.
    pub headers: Vec<(String, String)>,
    /// The C name of each kernel's thread-per-point shape, in [`Program::kernels`] order.
    pub kernel_names: Vec<String>,
    /// Every `__global__` function of `code`: each kernel's shapes ([`KernelVariants::names`]).
    pub entries: Vec<String>,
}

impl CudaSource {
    /// The code with 1-based line numbers, for error messages and `--emit cuda`.
    pub fn numbered(&self) -> String {
        numbered_lines(&self.code, 1, usize::MAX)
    }
}

pub(crate) fn numbered_lines(code: &str, first: usize, last: usize) -> String {
    code.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(n, _)| *n >= first && *n <= last)
        .map(|(n, l)| format!("{n:5} | {l}\n"))
        .collect()
}

/// The buffers a kernel touches, ascending: its pointer parameters, in order.
pub fn kernel_buffers(kernel: &Kernel) -> Vec<BufId> {
    let set: BTreeSet<BufId> = kernel
        .loads()
        .map(|(b, _)| b)
        .chain(kernel.stores.iter().map(|s| s.buf))
        .collect();
    set.into_iter().collect()
}

/// A C identifier for kernel `k` (IR names come from graph node names, which need not be
/// identifiers).
pub fn kernel_c_name(kernel: &Kernel) -> String {
    let clean: String = kernel
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("kiln_{clean}")
}

/// The shapes generated for one kernel besides the thread-per-point one, a function of the
/// kernel IR alone: the runtime recomputes it to find the functions of a loaded artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelVariants {
    /// `<name>_block` exists: one block per output point.
    pub block_reduce: bool,
    /// `<name>_vec` exists: `lanes` consecutive points per thread, 16-byte accesses.
    pub vector: Option<VectorPlan>,
}

impl KernelVariants {
    pub fn of(program: &Program, kernel: &Kernel) -> KernelVariants {
        KernelVariants {
            block_reduce: has_block_reduce(kernel),
            vector: vector_plan(program, kernel),
        }
    }

    /// The C names of every shape of the kernel whose thread-per-point function is `base`.
    pub fn names(&self, base: &str) -> Vec<String> {
        let mut names = vec![base.to_string()];
        if self.block_reduce {
            names.push(block_reduce_name(base));
        }
        if self.vector.is_some() {
            names.push(vector_name(base));
        }
        names
    }
}

/// The C name of the block-per-output shape of the kernel named `base`.
pub fn block_reduce_name(base: &str) -> String {
    format!("{base}_block")
}

/// The C name of the vector shape of the kernel named `base`.
pub fn vector_name(base: &str) -> String {
    format!("{base}_vec")
}

/// Generates the CUDA C of every kernel of `program`.
pub fn generate(program: &Program) -> Result<CudaSource, CudaError> {
    crate::library::refuse_unsupported(program)?;
    let mut code = String::new();
    code.push_str(&format!(
        "// Generated by kiln-cuda {} (codegen v{CODEGEN_VERSION}) for graph `{}`.\n",
        env!("CARGO_PKG_VERSION"),
        program.graph_name.replace('\n', " ")
    ));
    code.push_str(&format!("#include \"{KILN_HEADER_NAME}\"\n"));
    let mut kernel_names = Vec::new();
    let mut entries: Vec<String> = Vec::new();
    for kernel in &program.kernels {
        let name = kernel_c_name(kernel);
        let variants = KernelVariants::of(program, kernel);
        let names = variants.names(&name);
        if let Some(dup) = names.iter().find(|n| entries.contains(n)) {
            return Err(CudaError::Codegen {
                kernel: kernel.name.clone(),
                msg: format!("two kernels map to the C name `{dup}`"),
            });
        }
        kernel_code(program, kernel, &name, &variants, &mut code).map_err(|msg| {
            CudaError::Codegen {
                kernel: kernel.name.clone(),
                msg,
            }
        })?;
        kernel_names.push(name);
        entries.extend(names);
    }
    let mut headers = vec![(KILN_HEADER_NAME.to_string(), KILN_HEADER.to_string())];
    let helpers = helpers::helper_code(program);
    if !helpers.is_empty() {
        code.push_str(&helpers);
        headers.push((
            helpers::LIBRARY_HEADER_NAME.to_string(),
            helpers::LIBRARY_HEADER.to_string(),
        ));
        for name in helpers::helper_entries(program) {
            if entries.contains(&name) {
                return Err(CudaError::Codegen {
                    kernel: program.graph_name.clone(),
                    msg: format!("a kernel's C name `{name}` is a library helper's"),
                });
            }
            entries.push(name);
        }
    }
    Ok(CudaSource {
        name: format!("{}.cu", program.graph_name),
        code,
        headers,
        kernel_names,
        entries,
    })
}

fn kernel_code(
    p: &Program,
    k: &Kernel,
    name: &str,
    variants: &KernelVariants,
    out: &mut String,
) -> Result<(), String> {
    let w = KernelWriter::new(p, k)?;
    out.push('\n');
    point::write(&w, name, out)?;
    if variants.block_reduce {
        out.push('\n');
        block_reduce::write(&w, &block_reduce_name(name), out)?;
    }
    if let Some(plan) = &variants.vector {
        out.push('\n');
        vector::write(&w, plan, &vector_name(name), out)?;
    }
    Ok(())
}

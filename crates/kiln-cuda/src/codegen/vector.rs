//! The vector shape (`<kernel>_vec`) of elementwise kernels: each thread handles `lanes`
//! consecutive points of the innermost dim, moving 16 bytes of every contiguous buffer with one
//! `uint4` access (4 x f32, 8 x f16/bf16, 2 x f64, 16 x bool).
//!
//! A kernel qualifies when it has no reduction, every buffer it touches has the same element
//! size, and every offset is `inner + rest` with `inner` the innermost loop variable times 1
//! (contiguous) or 0 (broadcast: loaded once per point like the scalar kernel does) and `rest`
//! free of it; stores must be contiguous. The launch takes this shape only when the innermost
//! extent is a multiple of `lanes` (a group never crosses a row) and every base pointer is
//! 16-byte aligned; the kernel still checks each group's offsets (a sliced view can start
//! anywhere) and moves that group element by element when one is not a multiple of `lanes`.
use std::collections::{BTreeMap, BTreeSet};

use kiln_sched::{Kernel, Program, ScalarOp, outer_var};

use super::kernel::KernelWriter;
use super::kernel_buffers;
use super::scalar::{ScalarWriter, store_value};

/// Bytes moved per buffer and group.
pub const VECTOR_BYTES: usize = 16;

/// How a kernel is vectorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorPlan {
    /// Points per thread: `VECTOR_BYTES / element size`.
    pub lanes: u32,
    /// Body instructions that load contiguously (the others are broadcast loads).
    contiguous_loads: BTreeSet<usize>,
}

/// The innermost loop variable's coefficient in `offset`, if it is a constant and the variable
/// occurs nowhere else (not inside a division, modulo, min or max).
fn inner_stride(offset: &kiln_shape::Expr, inner: &str) -> Option<i64> {
    let (coeff, _) = offset.linear_in(inner)?;
    coeff.as_int()
}

/// Whether `k` gets a vector shape, and how.
pub fn vector_plan(p: &Program, k: &Kernel) -> Option<VectorPlan> {
    if k.reduce.is_some() || k.stores.is_empty() {
        return None;
    }
    let last = k.dims.len().checked_sub(1)?;
    let mut sizes = kernel_buffers(k)
        .into_iter()
        .map(|b| p.buffers.get(b as usize).map(|d| d.dtype.size()));
    let size = sizes.next()??;
    if !sizes.all(|s| s == Some(size)) || size == 0 || !VECTOR_BYTES.is_multiple_of(size) {
        return None;
    }
    let lanes = u32::try_from(VECTOR_BYTES / size).ok()?;
    if let Some(extent) = k.dims[last].as_int()
        && extent % i64::from(lanes) != 0
    {
        return None;
    }
    let inner = outer_var(last);
    let mut contiguous_loads = BTreeSet::new();
    for (i, ins) in k.body.iter().enumerate() {
        if let ScalarOp::Load { offset, .. } = &ins.op {
            match inner_stride(offset, &inner)? {
                0 => {}
                1 => {
                    contiguous_loads.insert(i);
                }
                _ => return None,
            }
        }
    }
    if !k
        .stores
        .iter()
        .all(|s| inner_stride(&s.offset, &inner) == Some(1))
    {
        return None;
    }
    Some(VectorPlan {
        lanes,
        contiguous_loads,
    })
}

pub(crate) fn write(
    w: &KernelWriter,
    plan: &VectorPlan,
    name: &str,
    out: &mut String,
) -> Result<(), String> {
    let idx = w.idx;
    let lanes = plan.lanes;
    let last =
        w.k.dims
            .len()
            .checked_sub(1)
            .ok_or("a vector kernel needs at least one dim")?;
    w.open(name, out)?;
    out.push_str(&format!(
        "  const long long stride = (long long)blockDim.x * gridDim.x;\n  \
         const long long groups = n / {lanes};\n  \
         for (long long group = (long long)blockIdx.x * blockDim.x + threadIdx.x; \
         group < groups; group += stride) {{\n"
    ));
    // The loop variables of the group's first point; the innermost is a multiple of `lanes`.
    w.outer_vars(&format!("group * {lanes}"), "    ", out);
    out.push_str(&format!("    const {idx} o{last}_first = o{last};\n"));

    // Offsets at the first point: each contiguous access covers [offset, offset + lanes).
    let mut accesses = Vec::new(); // (local array, buffer, offset variable, is a load)
    for &i in &plan.contiguous_loads {
        if let Some(ScalarOp::Load { buf, offset }) = w.k.body.get(i).map(|ins| &ins.op) {
            out.push_str(&format!(
                "    const {idx} lo{i} = {};\n",
                w.ew.expr(offset)?
            ));
            accesses.push((format!("l{i}"), *buf, format!("lo{i}"), true));
        }
    }
    for (j, s) in w.k.stores.iter().enumerate() {
        out.push_str(&format!(
            "    const {idx} so{j} = {};\n",
            w.ew.expr(&s.offset)?
        ));
        accesses.push((format!("st{j}"), s.buf, format!("so{j}"), false));
    }
    let offsets: Vec<&str> = accesses.iter().map(|a| a.2.as_str()).collect();
    out.push_str(&format!(
        "    const bool whole = (({}) & ({idx}){}) == 0;\n",
        offsets.join(" | "),
        lanes - 1
    ));
    for (local, buf, _, _) in &accesses {
        out.push_str(&format!(
            "    __align__(16) {} {local}[{lanes}];\n",
            w.buffer_type(*buf)?
        ));
    }
    let loads: Vec<_> = accesses.iter().filter(|a| a.3).collect();
    if !loads.is_empty() {
        out.push_str("    if (whole) {\n");
        for (local, buf, off, _) in &loads {
            out.push_str(&format!("      kiln_load16(b{buf} + {off}, {local});\n"));
        }
        out.push_str(&format!(
            "    }} else {{\n#pragma unroll\n      for (int lane = 0; lane < {lanes}; ++lane) {{\n"
        ));
        for (local, buf, off, _) in &loads {
            out.push_str(&format!("        {local}[lane] = b{buf}[{off} + lane];\n"));
        }
        out.push_str("      }\n    }\n");
    }

    // The body once per lane, with the innermost variable shadowed by the lane's own.
    out.push_str(&format!(
        "#pragma unroll\n    for (int lane = 0; lane < {lanes}; ++lane) {{\n      \
         const {idx} o{last} = o{last}_first + lane;\n      (void)o{last};\n"
    ));
    let preloaded: BTreeMap<usize, String> = plan
        .contiguous_loads
        .iter()
        .map(|&i| (i, format!("l{i}[lane]")))
        .collect();
    let sw = ScalarWriter {
        preloaded: Some(&preloaded),
        ..w.scalar()
    };
    sw.block("v", &w.k.body, None, "      ", out)?;
    for (j, s) in w.k.stores.iter().enumerate() {
        let dtype = w.store_dtype(s.buf, s.value)?;
        out.push_str(&format!(
            "      st{j}[lane] = {};\n",
            store_value(&format!("v{}", s.value), dtype)
        ));
    }
    out.push_str("    }\n    if (whole) {\n");
    for (local, buf, off, _) in accesses.iter().filter(|a| !a.3) {
        out.push_str(&format!("      kiln_store16(b{buf} + {off}, {local});\n"));
    }
    out.push_str(&format!(
        "    }} else {{\n#pragma unroll\n      for (int lane = 0; lane < {lanes}; ++lane) {{\n"
    ));
    for (local, buf, off, _) in accesses.iter().filter(|a| !a.3) {
        out.push_str(&format!("        b{buf}[{off} + lane] = {local}[lane];\n"));
    }
    out.push_str("      }\n    }\n  }\n}\n");
    Ok(())
}

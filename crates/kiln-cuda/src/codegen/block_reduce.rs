//! The block-per-output reduction shape (`<kernel>_block`), for reductions whose extent is large
//! next to the number of outputs: one block per point of the iteration space (grid-stride over
//! points), its threads striding over the flattened reduction index, each folding its elements
//! into a private accumulator; then a warp-shuffle and shared-memory tree
//! (`kiln_block_reduce` in kiln.cuh) and thread 0 runs the kernel body and the stores.
//!
//! Generated only when the reduction's trip counts do not depend on the loop variables, so that
//! the launch can weigh the extent against the number of outputs (see
//! `crate::runtime::variant`). The `valid` conditions, the f64 accumulator of f64 kernels and
//! the NaN-propagating max/min are those of the thread-per-point shape; only the order of the
//! additions changes.
use kiln_sched::{Kernel, ReduceKind, is_loop_var};

use super::kernel::{KernelWriter, identity};
use super::scalar::compute_type;

/// Whether `k` gets a block-per-output shape: it reduces, and its reduction's trip counts are
/// functions of the graph symbols alone.
pub fn has_block_reduce(k: &Kernel) -> bool {
    // An index reduction's first-position rule would need an (index, value) tree combine.
    k.reduce.as_ref().is_some_and(|r| {
        !r.kind.is_arg()
            && r.dims
                .iter()
                .all(|d| d.symbols().iter().all(|s| !is_loop_var(s)))
    })
}

pub(crate) fn write(w: &KernelWriter, name: &str, out: &mut String) -> Result<(), String> {
    let r = w.reduction()?;
    let idx = w.idx;
    w.open(name, out)?;
    let mut extent = Vec::new();
    for (j, d) in r.dims.iter().enumerate() {
        out.push_str(&format!(
            "  const {idx} rd{j} = ({idx})({});\n",
            w.ew.expr(d)?
        ));
        extent.push(format!("(long long)rd{j}"));
    }
    if extent.is_empty() {
        extent.push("1LL".to_string());
    }
    let acc_t = compute_type(r.acc);
    let op = match r.kind {
        ReduceKind::Sum => "kiln_sum_op",
        ReduceKind::Max => "kiln_max_op",
        ReduceKind::Min => "kiln_min_op",
        ReduceKind::ArgMax | ReduceKind::ArgMin => {
            return Err("arg reductions have no block-per-output shape".into());
        }
    };
    out.push_str(&format!(
        "  const long long reduce_extent = {};\n  \
         __shared__ {acc_t} kiln_scratch[32];\n  \
         for (long long point = blockIdx.x; point < n; point += gridDim.x) {{\n",
        extent.join(" * ")
    ));
    w.outer_vars("point", "    ", out);
    w.accumulator(r, "    ", out);
    out.push_str(
        "    for (long long flat = threadIdx.x; flat < reduce_extent; flat += blockDim.x) {\n",
    );
    w.split_index("flat", "r", "rd", r.dims.len(), "      ", out);
    w.reduce_step(r, "      ", out)?;
    out.push_str(&format!(
        "    }}\n    acc = kiln_block_reduce<{op}>(acc, {}, kiln_scratch);\n    \
         if (threadIdx.x == 0) {{\n",
        identity(r)
    ));
    w.body_and_stores("      ", out)?;
    out.push_str("    }\n  }\n}\n");
    Ok(())
}

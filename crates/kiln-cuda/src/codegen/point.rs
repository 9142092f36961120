//! The thread-per-point shape, which every kernel has: a grid-stride loop over the points of the
//! iteration space, each running the whole reduction loop nest (if any) serially.
use super::kernel::KernelWriter;

pub(crate) fn write(w: &KernelWriter, name: &str, out: &mut String) -> Result<(), String> {
    w.open(name, out)?;
    out.push_str(
        "  const long long stride = (long long)blockDim.x * gridDim.x;\n  \
         for (long long point = (long long)blockIdx.x * blockDim.x + threadIdx.x; point < n; \
         point += stride) {\n",
    );
    w.outer_vars("point", "    ", out);
    if let Some(r) = &w.k.reduce {
        w.accumulator(r, "    ", out);
        let mut indent = "    ".to_string();
        for (j, d) in r.dims.iter().enumerate() {
            out.push_str(&format!(
                "{indent}for ({idx} r{j} = 0; r{j} < ({idx})({}); ++r{j}) {{\n",
                w.ew.expr(d)?,
                idx = w.idx
            ));
            indent.push_str("  ");
        }
        w.reduce_step(r, &indent, out)?;
        for _ in &r.dims {
            indent.truncate(indent.len() - 2);
            out.push_str(&format!("{indent}}}\n"));
        }
    }
    w.body_and_stores("    ", out)?;
    out.push_str("  }\n}\n");
    Ok(())
}

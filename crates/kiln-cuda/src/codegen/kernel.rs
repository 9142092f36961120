//! What every kernel shape shares: the signature (the launch ABI), the symbol and dim constants,
//! loop variables from a linear index, one step of a reduction, and the stores.
use std::collections::BTreeSet;

use kiln_sched::{BufId, Kernel, Program, ReduceKind, Reduction};

use super::expr::ExprWriter;
use super::scalar::{self, ScalarWriter, compute_type, storage_type, store_value};
use super::{BLOCK_SIZE, kernel_buffers};

/// One kernel of one program, ready to be written in any of its shapes.
pub(crate) struct KernelWriter<'a> {
    pub p: &'a Program,
    pub k: &'a Kernel,
    /// The C index type: `int` or `long long`.
    pub idx: &'static str,
    pub ew: ExprWriter<'a>,
}

impl<'a> KernelWriter<'a> {
    pub fn new(p: &'a Program, k: &'a Kernel) -> Result<KernelWriter<'a>, String> {
        let idx = match k.index_bits {
            32 => "int",
            64 => "long long",
            bits => return Err(format!("unsupported index width {bits}")),
        };
        Ok(KernelWriter {
            p,
            k,
            idx,
            ew: ExprWriter {
                symbols: &p.symbols,
                idx,
            },
        })
    }

    pub fn scalar(&self) -> ScalarWriter<'_> {
        ScalarWriter {
            ew: &self.ew,
            buffers: &self.p.buffers,
            preloaded: None,
        }
    }

    /// The C storage type of buffer `b`.
    pub fn buffer_type(&self, b: BufId) -> Result<&'static str, String> {
        self.p
            .buffers
            .get(b as usize)
            .map(|d| storage_type(d.dtype))
            .ok_or_else(|| format!("kernel uses unknown buffer b{b}"))
    }

    /// The signature (every shape has the same parameters), then `s<i>` and `d<i>` constants.
    pub fn open(&self, name: &str, out: &mut String) -> Result<(), String> {
        let idx = self.idx;
        let stored: BTreeSet<BufId> = self.k.stores.iter().map(|s| s.buf).collect();
        let mut params = Vec::new();
        for b in kernel_buffers(self.k) {
            let constness = if stored.contains(&b) { "" } else { "const " };
            params.push(format!(
                "{constness}{}* __restrict__ b{b}",
                self.buffer_type(b)?
            ));
        }
        for i in 0..self.p.symbols.len() {
            params.push(format!("long long s{i}_arg"));
        }
        params.push("long long n".to_string());
        out.push_str(&format!(
            "extern \"C\" __global__ void __launch_bounds__({BLOCK_SIZE}) {name}(\n    {}) {{\n",
            params.join(",\n    ")
        ));
        for (i, s) in self.p.symbols.iter().enumerate() {
            out.push_str(&format!(
                "  const {idx} s{i} = ({idx})s{i}_arg;  // {}\n",
                s.replace('\n', " ")
            ));
        }
        for (i, d) in self.k.dims.iter().enumerate() {
            out.push_str(&format!("  const {idx} d{i} = {};\n", self.ew.expr(d)?));
        }
        Ok(())
    }

    /// `<var><i>` for `i` in `0..count` from the linear index `from`, innermost fastest
    /// (row-major), with trip counts `<dim><i>`.
    pub fn split_index(
        &self,
        from: &str,
        var: &str,
        dim: &str,
        count: usize,
        indent: &str,
        out: &mut String,
    ) {
        let idx = self.idx;
        let rest = format!("{var}rest");
        out.push_str(&format!("{indent}{idx} {rest} = ({idx})({from});\n"));
        for i in (0..count).rev() {
            if i == 0 {
                out.push_str(&format!("{indent}const {idx} {var}0 = {rest};\n"));
            } else {
                out.push_str(&format!(
                    "{indent}const {idx} {var}{i} = {rest} % {dim}{i};\n{indent}{rest} /= {dim}{i};\n"
                ));
            }
        }
        out.push_str(&format!("{indent}(void){rest};\n"));
    }

    /// The outer loop variables `o0..` of the point `from`.
    pub fn outer_vars(&self, from: &str, indent: &str, out: &mut String) {
        self.split_index(from, "o", "d", self.k.dims.len(), indent, out);
    }

    /// The reduction, or an error naming what asked for it.
    pub fn reduction(&self) -> Result<&'a Reduction, String> {
        self.k
            .reduce
            .as_ref()
            .ok_or_else(|| "a reduction kernel shape for a kernel without a reduction".to_string())
    }

    /// `acc_t acc = <identity>;`
    pub fn accumulator(&self, r: &Reduction, indent: &str, out: &mut String) {
        let acc_t = compute_type(r.acc);
        out.push_str(&format!("{indent}{acc_t} acc = {};\n", identity(r)));
        if r.kind.is_arg() {
            // argmax/argmin: the best value's flat position and the running position.
            out.push_str(&format!(
                "{indent}long long acc_index = 0;\n{indent}long long acc_pos = 0;\n"
            ));
        }
    }

    /// The body of the reduction for the current `r<j>` values: skip invalid elements, compute
    /// the value and fold it into `acc`. Must sit inside a loop (it may `continue`).
    pub fn reduce_step(&self, r: &Reduction, indent: &str, out: &mut String) -> Result<(), String> {
        if r.kind.is_arg() && !r.valid.is_empty() {
            return Err("an arg reduction with window conditions is not supported".into());
        }
        if !r.valid.is_empty() {
            let conds: Result<Vec<String>, String> =
                r.valid.iter().map(|c| self.ew.cond(c)).collect();
            out.push_str(&format!(
                "{indent}if (!({})) continue;\n",
                conds?.join(" && ")
            ));
        }
        self.scalar().block("rv", &r.body, None, indent, out)?;
        let value = r
            .body
            .get(r.value as usize)
            .ok_or("reduction value is not an instruction of its body")?;
        let acc_t = compute_type(r.acc);
        let v = scalar::convert(&format!("rv{}", r.value), value.dtype, r.acc);
        let step = match r.kind {
            ReduceKind::Sum => format!("acc += ({acc_t})({v});"),
            ReduceKind::Max => format!("acc = kiln_max(acc, ({acc_t})({v}));"),
            ReduceKind::Min => format!("acc = kiln_min(acc, ({acc_t})({v}));"),
            // The first strict improvement or the first NaN wins, as torch's argmax/argmin.
            ReduceKind::ArgMax | ReduceKind::ArgMin => {
                let cmp = if r.kind == ReduceKind::ArgMax {
                    ">"
                } else {
                    "<"
                };
                format!(
                    "{{ const {acc_t} x = ({acc_t})({v}); \
                     if (acc == acc && (x {cmp} acc || x != x)) {{ acc = x; acc_index = acc_pos; }} \
                     ++acc_pos; }}"
                )
            }
        };
        out.push_str(&format!("{indent}{step}\n"));
        Ok(())
    }

    /// The kernel body (after the reduction, reading `acc`) and every store.
    pub fn body_and_stores(&self, indent: &str, out: &mut String) -> Result<(), String> {
        let reduced = self.k.reduce.as_ref().map(|r| match r.kind.is_arg() {
            true => ("((double)acc_index)", kiln_ir::DType::I64),
            false => ("acc", r.acc),
        });
        self.scalar()
            .block("v", &self.k.body, reduced, indent, out)?;
        for s in &self.k.stores {
            let dtype = self.store_dtype(s.buf, s.value)?;
            out.push_str(&format!(
                "{indent}b{}[{}] = {};\n",
                s.buf,
                self.ew.expr(&s.offset)?,
                store_value(&format!("v{}", s.value), dtype)
            ));
        }
        Ok(())
    }

    /// The dtype of the buffer a store writes, after checking the stored value exists.
    pub fn store_dtype(&self, buf: BufId, value: u32) -> Result<kiln_ir::DType, String> {
        let decl = self
            .p
            .buffers
            .get(buf as usize)
            .ok_or_else(|| format!("store to unknown buffer b{buf}"))?;
        if value as usize >= self.k.body.len() {
            return Err(format!("store of undefined value v{value}"));
        }
        Ok(decl.dtype)
    }
}

/// The accumulator's starting value: 0, -inf or +inf in its compute type.
pub(crate) fn identity(r: &Reduction) -> String {
    let acc_t = compute_type(r.acc);
    match r.kind {
        ReduceKind::Sum => format!("({acc_t})0"),
        ReduceKind::Max | ReduceKind::ArgMax => format!("(-({acc_t})KILN_INF)"),
        ReduceKind::Min | ReduceKind::ArgMin => format!("(({acc_t})KILN_INF)"),
    }
}

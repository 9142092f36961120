//! A readable dump of the kernel IR, for people tuning kiln (`KILN_LOG=kiln::sched=debug`,
//! `kiln compile --emit kernel-ir`).
use std::fmt;

use crate::ir::*;

fn instrs(f: &mut fmt::Formatter<'_>, prefix: &str, list: &[Instr]) -> fmt::Result {
    for (i, ins) in list.iter().enumerate() {
        let v = |id: &ValueId| format!("{prefix}{id}");
        let rhs = match &ins.op {
            ScalarOp::Load { buf, offset } => format!("load b{buf}[{offset}]"),
            ScalarOp::Const(c) => format!("{c:?}"),
            ScalarOp::Index(e) => format!("index({e})"),
            ScalarOp::Unary(op, a) => format!("{}({})", op.name(), v(a)),
            ScalarOp::Binary(op, a, b) => format!("{}({}, {})", op.name(), v(a), v(b)),
            ScalarOp::Select(c, a, b) => format!("where({}, {}, {})", v(c), v(a), v(b)),
            ScalarOp::Cast(a) => format!("to({})", v(a)),
            ScalarOp::Reduced => "reduced".to_string(),
        };
        writeln!(f, "      {prefix}{i}: {} = {rhs}", ins.dtype)?;
    }
    Ok(())
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "program {} (symbols: {})",
            self.graph_name,
            self.symbols.join(", ")
        )?;
        for (i, b) in self.buffers.iter().enumerate() {
            let kind = match &b.kind {
                BufKind::Input(k) => format!("input {}", self.inputs[*k].name),
                BufKind::Output(k) => format!("output {}", self.outputs[*k].0.name),
                BufKind::Temp => "temporary (fusion could not avoid it)".to_string(),
                BufKind::Const(_) => "constant".to_string(),
            };
            writeln!(f, "  b{i}: {}[{}] {kind}", b.dtype, b.numel)?;
        }
        for (at, step) in self.steps.iter().enumerate() {
            let k = match step {
                Step::Kernel(i) => &self.kernels[*i],
                Step::Library(call) => {
                    writeln!(f, "  {}", call)?;
                    continue;
                }
            };
            let dims: Vec<String> = k.dims.iter().map(|d| d.to_string()).collect();
            let epilogue_of = at
                .checked_sub(1)
                .filter(|&prev| self.library_epilogue(prev).is_some())
                .and_then(|prev| match &self.steps[prev] {
                    Step::Library(call) if matches!(**call, LibraryCall::Gemm(_)) => {
                        Some(", the epilogue of the GEMM before it")
                    }
                    Step::Library(_) => Some(", the epilogue of the convolution before it"),
                    Step::Kernel(_) => None,
                });
            writeln!(
                f,
                "  kernel {} over [{}] ({}-bit indexing){}",
                k.name,
                dims.join(", "),
                k.index_bits,
                epilogue_of.unwrap_or("")
            )?;
            if let Some(r) = &k.reduce {
                let rd: Vec<String> = r.dims.iter().map(|d| d.to_string()).collect();
                let valid: Vec<String> = r.valid.iter().map(|c| c.to_string()).collect();
                writeln!(
                    f,
                    "    reduce {:?} over [{}] in {}{}",
                    r.kind,
                    rd.join(", "),
                    r.acc,
                    if valid.is_empty() {
                        String::new()
                    } else {
                        format!(" where {}", valid.join(" and "))
                    }
                )?;
                instrs(f, "r", &r.body)?;
                writeln!(f, "      accumulate r{}", r.value)?;
            }
            instrs(f, "v", &k.body)?;
            for s in &k.stores {
                writeln!(f, "    store b{}[{}] = v{}", s.buf, s.offset, s.value)?;
            }
        }
        Ok(())
    }
}

fn matrix(r: &MatrixRef) -> String {
    let batch: Vec<String> = r.batch_strides.iter().map(|s| s.to_string()).collect();
    format!(
        "b{}[{} + batch*[{}] + i*{} + j*{}]",
        r.buf,
        r.offset,
        batch.join(", "),
        r.row_stride,
        r.col_stride
    )
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    let v: Vec<String> = items.iter().map(|x| x.to_string()).collect();
    v.join(", ")
}

impl fmt::Display for LibraryCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LibraryCall::Gemm(g) => write!(
                f,
                "library gemm {} {} batch [{}] m={} n={} k={}: {} = {:?} * c + {:?} * {} @ {}",
                g.name,
                g.dtype,
                list(&g.batch),
                g.m,
                g.n,
                g.k,
                matrix(&g.c),
                g.beta,
                g.alpha,
                matrix(&g.a),
                matrix(&g.b)
            ),
            LibraryCall::Conv(c) => write!(
                f,
                "library conv {} {} b{} = conv(x b{}, w b{}) n={} c_in={} c_out={} [{}] -> [{}] \
                 kernel [{}] stride [{}] padding [{}] / [{}] dilation [{}] groups {}{}",
                c.name,
                c.dtype,
                c.out,
                c.x,
                c.w,
                c.n,
                c.c_in,
                c.c_out,
                list(&c.spatial),
                list(&c.out_spatial),
                list(&c.kernel),
                list(&c.stride),
                list(&c.padding),
                list(&c.padding_end),
                list(&c.dilation),
                c.groups,
                if c.transposed {
                    format!(" transposed output_padding [{}]", list(&c.output_padding))
                } else {
                    String::new()
                }
            ),
            LibraryCall::PoolIndices(c) => write!(
                f,
                "library max_pool2d_indices {} {} b{} = argmax windows of x b{} [{}, {}, {}] -> \
                 [{}, {}] {:?}",
                c.name, c.dtype, c.out, c.x, c.planes, c.h, c.w, c.oh, c.ow, c.params
            ),
            LibraryCall::Index(c) => write!(
                f,
                "library {:?} {} {} b{} = (input b{} [{}], index b{} [{}]{}) dim {}{}",
                c.kind,
                c.name,
                c.dtype,
                c.out,
                c.input,
                list(&c.input_shape),
                c.index,
                list(&c.index_shape),
                c.src
                    .map(|s| format!(", src b{s} [{}]", list(&c.src_shape)))
                    .unwrap_or_default(),
                c.dim,
                if c.kind == IndexKind::IndexAdd && c.alpha != 1.0 {
                    format!(" alpha {}", c.alpha)
                } else {
                    String::new()
                }
            ),
            LibraryCall::ConvGrad(g) => conv_grad(f, g),
            LibraryCall::PoolBackward(p) => write!(
                f,
                "library {} {} {} b{} = scatter(grad_output b{} [{}], input {}) planes={} [{}] \
                 {:?}",
                p.kind.op_name(),
                p.name,
                p.dtype,
                p.out,
                p.grad_output,
                list(&p.out_hw),
                p.input
                    .map_or("shape only".to_string(), |b| format!("b{b}")),
                p.planes,
                list(&p.in_hw),
                p.kind
            ),
        }
    }
}

/// `library conv_grad_input ... b<x> = d conv(x b<x>, w b<w>) / d x (grad_output b<out>)`,
/// with the forward convolution's geometry.
fn conv_grad(f: &mut fmt::Formatter<'_>, g: &ConvGrad) -> fmt::Result {
    let c = &g.conv;
    let of = match g.of {
        ConvGradOf::Input => "input",
        ConvGradOf::Weight => "weight",
    };
    write!(
        f,
        "library conv_grad_{of} {} {} b{} = d conv(x b{}, w b{}) / d {of} (grad_output b{}) \
         n={} c_in={} c_out={} [{}] -> [{}] kernel [{}] stride [{}] padding [{}] / [{}] \
         dilation [{}] groups {}",
        c.name,
        c.dtype,
        g.writes(),
        c.x,
        c.w,
        c.out,
        c.n,
        c.c_in,
        c.c_out,
        list(&c.spatial),
        list(&c.out_spatial),
        list(&c.kernel),
        list(&c.stride),
        list(&c.padding),
        list(&c.padding_end),
        list(&c.dilation),
        c.groups
    )
}

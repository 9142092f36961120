//! Scalar instructions of the kernel IR as C statements.
//!
//! A value of dtype `d` lives in a C variable of `d.compute()` (`float`, or `double` for f64);
//! a bool is 0.0f or 1.0f. After every operation the result is rounded to its instruction's
//! dtype (f16/bf16 precision, or 0/1 for bool), as the reference interpreter rounds each op's
//! result, so that fused and unfused code agree.
use std::collections::BTreeMap;

use kiln_ir::{BinaryOp, DType, UnaryOp, round_to};
use kiln_sched::{BufferDecl, Instr, ScalarOp};

use super::expr::ExprWriter;

/// The C type a value of `d` is computed in.
pub(crate) fn compute_type(d: DType) -> &'static str {
    if d.compute() == DType::F64 {
        "double"
    } else {
        "float"
    }
}

/// The C element type of a buffer of `d`.
pub(crate) fn storage_type(d: DType) -> &'static str {
    match d {
        DType::Bool => "kiln_bool",
        DType::F16 => "kiln_f16",
        DType::BF16 => "kiln_bf16",
        DType::F32 => "float",
        DType::F64 => "double",
        DType::I64 => "long long",
    }
}

/// `x`, a C value holding a `from` value exactly (or a raw compute result when `from` is the
/// compute type), converted to a value of `to`.
pub(crate) fn convert(x: &str, from: DType, to: DType) -> String {
    match to {
        _ if from == to => x.to_string(),
        DType::F64 => format!("((double)({x}))"),
        DType::F32 => {
            if from == DType::F64 {
                format!("((float)({x}))")
            } else {
                x.to_string()
            }
        }
        // Bool values (0/1) are exact in every float type.
        DType::F16 if from == DType::Bool => x.to_string(),
        DType::BF16 if from == DType::Bool => x.to_string(),
        DType::F16 => format!("kiln_round_f16({x})"),
        DType::BF16 => format!("kiln_round_bf16({x})"),
        DType::Bool => format!("kiln_round_bool({x})"),
        // Bools are exact integers; every other value is truncated as torch's `to(int64)`.
        DType::I64 if from == DType::Bool => format!("((double)({x}))"),
        DType::I64 => format!("kiln_round_i64({x})"),
    }
}

/// A C literal for `v` rounded to `d`, typed as `d`'s compute type.
pub(crate) fn literal(v: f64, d: DType) -> String {
    let v = round_to(d, v);
    let double = d.compute() == DType::F64;
    if v.is_nan() {
        return if double {
            "((double)KILN_NAN)"
        } else {
            "KILN_NAN"
        }
        .to_string();
    }
    if v.is_infinite() {
        let inf = if double {
            "((double)KILN_INF)"
        } else {
            "KILN_INF"
        };
        return if v < 0.0 {
            format!("(-{inf})")
        } else {
            inf.to_string()
        };
    }
    // Debug formatting is the shortest form that round-trips and always has a '.' or 'e'.
    let text = if double {
        format!("{v:?}")
    } else {
        format!("{:?}f", v as f32)
    };
    if v < 0.0 { format!("({text})") } else { text }
}

fn unary_fn(op: UnaryOp) -> &'static str {
    use UnaryOp::*;
    match op {
        Neg => "kiln_neg",
        Abs => "kiln_abs",
        Exp => "kiln_exp",
        Log => "kiln_log",
        Sqrt => "kiln_sqrt",
        Rsqrt => "kiln_rsqrt",
        Reciprocal => "kiln_reciprocal",
        // `sinf`/`sin` of CUDA's math library (kernels/kiln.cuh): NVRTC runs without
        // --use_fast_math (nvrtc.rs), so these are the full-range functions that reduce large
        // arguments exactly, not `__sinf`, whose error grows with |x|.
        Sin => "kiln_sin",
        Cos => "kiln_cos",
        Tanh => "kiln_tanh",
        Sigmoid => "kiln_sigmoid",
        Relu => "kiln_relu",
        Silu => "kiln_silu",
        Gelu => "kiln_gelu",
        GeluTanh => "kiln_gelu_tanh",
        Floor => "kiln_floor",
        Ceil => "kiln_ceil",
        LogicalNot => "kiln_logical_not",
    }
}

/// Writes the instructions of one block (a kernel body or a reduction body).
pub(crate) struct ScalarWriter<'a> {
    pub ew: &'a ExprWriter<'a>,
    pub buffers: &'a [BufferDecl],
    /// Loads already done by the caller (the vector kernels' 16-byte loads): instruction index
    /// to the C expression of the element, used instead of indexing the buffer.
    pub preloaded: Option<&'a BTreeMap<usize, String>>,
}

impl ScalarWriter<'_> {
    /// Appends `const T <prefix><i> = ...;` for every instruction. `reduced` is the accumulator
    /// variable and its dtype, for `ScalarOp::Reduced`.
    pub fn block(
        &self,
        prefix: &str,
        list: &[Instr],
        reduced: Option<(&str, DType)>,
        indent: &str,
        out: &mut String,
    ) -> Result<(), String> {
        for (i, ins) in list.iter().enumerate() {
            let operand = |v: u32| -> Result<(String, DType), String> {
                match list.get(v as usize) {
                    Some(o) if (v as usize) < i => Ok((format!("{prefix}{v}"), o.dtype)),
                    _ => Err(format!(
                        "instruction {prefix}{i} uses {prefix}{v}, which is not defined before it"
                    )),
                }
            };
            let rhs = self.rhs(i, ins, &operand, reduced)?;
            out.push_str(&format!(
                "{indent}const {} {prefix}{i} = {rhs};\n",
                compute_type(ins.dtype)
            ));
        }
        Ok(())
    }

    fn rhs(
        &self,
        at: usize,
        ins: &Instr,
        operand: &dyn Fn(u32) -> Result<(String, DType), String>,
        reduced: Option<(&str, DType)>,
    ) -> Result<String, String> {
        let d = ins.dtype;
        let ct = compute_type(d);
        let computed = d.compute();
        Ok(match &ins.op {
            ScalarOp::Load { buf, offset } => {
                let decl = self
                    .buffers
                    .get(*buf as usize)
                    .ok_or_else(|| format!("load from unknown buffer b{buf}"))?;
                let elem = match self.preloaded.and_then(|m| m.get(&at)) {
                    Some(e) => e.clone(),
                    None => format!("b{buf}[{}]", self.ew.expr(offset)?),
                };
                let loaded = match decl.dtype {
                    DType::Bool => format!("({elem} != 0 ? 1.0f : 0.0f)"),
                    DType::F16 => format!("kiln_f16_to_float({elem})"),
                    DType::BF16 => format!("kiln_bf16_to_float({elem})"),
                    DType::F32 | DType::F64 => elem,
                    DType::I64 => format!("((double)({elem}))"),
                };
                convert(&loaded, decl.dtype, d)
            }
            ScalarOp::Const(v) => literal(*v, d),
            ScalarOp::Index(e) => {
                convert(&format!("(double)({})", self.ew.expr(e)?), DType::F64, d)
            }
            ScalarOp::Unary(op, a) => {
                let (a, ad) = operand(*a)?;
                if *op == UnaryOp::LogicalNot {
                    convert(&format!("kiln_logical_not({a})"), DType::Bool, d)
                } else {
                    let arg = convert(&a, ad, computed);
                    convert(&format!("{}(({ct})({arg}))", unary_fn(*op)), computed, d)
                }
            }
            ScalarOp::Binary(op, a, b) => {
                let (a, _) = operand(*a)?;
                let (b, _) = operand(*b)?;
                binary(*op, &a, &b, ct, computed, d)
            }
            ScalarOp::Select(c, a, b) => {
                let (c, _) = operand(*c)?;
                let (a, ad) = operand(*a)?;
                let (b, bd) = operand(*b)?;
                format!(
                    "(({c}) != 0 ? ({ct})({}) : ({ct})({}))",
                    convert(&a, ad, d),
                    convert(&b, bd, d)
                )
            }
            ScalarOp::Cast(a) => {
                let (a, ad) = operand(*a)?;
                format!("({ct})({})", convert(&a, ad, d))
            }
            ScalarOp::Reduced => {
                let (acc, acc_dtype) =
                    reduced.ok_or("`reduced` used in a kernel without a reduction")?;
                format!("({ct})({})", convert(acc, acc_dtype, d))
            }
        })
    }
}

fn binary(op: BinaryOp, a: &str, b: &str, ct: &str, computed: DType, d: DType) -> String {
    use BinaryOp::*;
    let cmp = |sym: &str| {
        convert(
            &format!("(({a}) {sym} ({b}) ? 1.0f : 0.0f)"),
            DType::Bool,
            d,
        )
    };
    let arith = |sym: &str| convert(&format!("(({ct})({a}) {sym} ({ct})({b}))"), computed, d);
    let call = |f: &str| convert(&format!("{f}(({ct})({a}), ({ct})({b}))"), computed, d);
    match op {
        Add => arith("+"),
        Sub => arith("-"),
        Mul => arith("*"),
        Div => arith("/"),
        Maximum => call("kiln_max"),
        Minimum => call("kiln_min"),
        Pow => call("kiln_pow"),
        Eq => cmp("=="),
        Ne => cmp("!="),
        Lt => cmp("<"),
        Le => cmp("<="),
        Gt => cmp(">"),
        Ge => cmp(">="),
        // NaN is nonzero, hence true, as in PyTorch.
        LogicalAnd => convert(
            &format!("(({a}) != 0 && ({b}) != 0 ? 1.0f : 0.0f)"),
            DType::Bool,
            d,
        ),
        LogicalOr => convert(
            &format!("(({a}) != 0 || ({b}) != 0 ? 1.0f : 0.0f)"),
            DType::Bool,
            d,
        ),
    }
}

/// The C expression converting compute value `v` to an element of a buffer of dtype `bd`.
pub(crate) fn store_value(v: &str, bd: DType) -> String {
    match bd {
        DType::F32 => format!("(float)({v})"),
        DType::F64 => format!("(double)({v})"),
        DType::F16 => format!("kiln_to_f16({v})"),
        DType::BF16 => format!("kiln_to_bf16({v})"),
        DType::Bool => format!("kiln_to_bool({v})"),
        DType::I64 => format!("kiln_to_i64({v})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_valid_c_in_every_dtype() {
        assert_eq!(literal(1.0, DType::F32), "1.0f");
        assert_eq!(literal(-0.5, DType::F64), "(-0.5)");
        assert_eq!(literal(f64::NEG_INFINITY, DType::F32), "(-KILN_INF)");
        assert_eq!(literal(f64::NAN, DType::F64), "((double)KILN_NAN)");
        // Rounded to the dtype on the host: 0.1 in f16 is 0.0999755859375.
        assert_eq!(literal(0.1, DType::F16), "0.099975586f");
        assert_eq!(literal(2.0, DType::Bool), "1.0f");
    }

    #[test]
    fn conversions_round_only_where_they_narrow() {
        assert_eq!(convert("x", DType::F16, DType::F32), "x");
        assert_eq!(convert("x", DType::F32, DType::F16), "kiln_round_f16(x)");
        assert_eq!(convert("x", DType::F64, DType::F32), "((float)(x))");
        assert_eq!(convert("x", DType::Bool, DType::BF16), "x");
        assert_eq!(convert("x", DType::F32, DType::Bool), "kiln_round_bool(x)");
    }
}

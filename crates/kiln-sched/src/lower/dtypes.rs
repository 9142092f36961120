//! The dtype rules of elementwise lowering: which dtype operands are converted to, how a
//! Python scalar is rounded, and where an op's result is rounded to its dtype.
use kiln_ir::{DType, Operand};

use super::Lowerer;
use crate::block::Block;
use crate::ir::{ScalarOp, ValueId};

/// Pushes an arithmetic instruction whose result has dtype `out`. It is computed in the
/// compute type and, for f16, bf16 and bool, cast to `out`, which rounds it (bool: back to 0/1,
/// so `add(T, T)` is T): PyTorch rounds every op's result, the interpreter and the CUDA backend
/// do too, and inside a fused CPU kernel an unrounded intermediate (`sigmoid(h)` of an f16 `h`
/// read by a later op) would otherwise carry f32 precision into the next op.
pub(super) fn push_rounded(blk: &mut Block, op: ScalarOp, out: DType) -> ValueId {
    let compute = out.compute();
    if out == compute {
        return blk.push(op, out);
    }
    let v = blk.push(op, compute);
    blk.cast(v, out)
}

/// A scalar operand rounded to `dtype`, as PyTorch casts it (a value operand is unchanged).
pub(super) fn rounded(o: Operand, dtype: DType) -> Operand {
    match o {
        Operand::Scalar(v) => Operand::Scalar(kiln_ir::round_to(dtype, v)),
        value => value,
    }
}

/// The dtype the operands of a binary op are converted to before it runs: `torch.result_type`,
/// where a 0-d tensor counts below dimensioned ones and a scalar below both.
pub(super) fn operand_dtype(l: &Lowerer, operands: &[&Operand]) -> DType {
    let tensors: Vec<(DType, bool)> = operands
        .iter()
        .filter_map(|o| match o {
            Operand::Value(n) => Some((l.dtype(*n), l.shape(*n).is_empty())),
            Operand::Scalar(_) => None,
        })
        .collect();
    let has_scalar = tensors.len() < operands.len();
    DType::result_type(&tensors, has_scalar)
}

/// `true_divide` of integers converts both operands to the (float) result dtype first, as
/// torch does (`i64 / i64` divides two f32s); every other op keeps `common`.
pub(super) fn division_operands(op: kiln_ir::BinaryOp, common: DType, out: DType) -> DType {
    if op == kiln_ir::BinaryOp::Div && common.is_int() {
        out
    } else {
        common
    }
}

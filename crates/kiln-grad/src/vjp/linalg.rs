//! `matmul` (operands of rank >= 2, broadcast batch dims): `ga = ct @ b^T`, `gb = a^T @ ct`,
//! each summed back over the batch dims it was broadcast along.
use kiln_ir::{NodeId, Op};

use super::Cx;
use crate::GradError;

pub(super) fn vjp(
    cx: &mut Cx,
    _node: NodeId,
    op: &Op,
    ct: NodeId,
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>, GradError> {
    let Op::MatMul { a, b } = *op else {
        unreachable!("linalg::vjp is only called for matmul")
    };
    let t = |cx: &mut Cx, x: NodeId| {
        cx.add(
            "transpose",
            Op::Transpose {
                x,
                dim0: -1,
                dim1: -2,
            },
        )
    };
    let mut out = vec![None, None];
    if needs[0] {
        let bt = t(cx, cx.fwd(b))?;
        let p = cx.add("matmul", Op::MatMul { a: ct, b: bt })?;
        out[0] = Some(cx.sum_to(p, a)?);
    }
    if needs[1] {
        let at = t(cx, cx.fwd(a))?;
        let p = cx.add("matmul", Op::MatMul { a: at, b: ct })?;
        out[1] = Some(cx.sum_to(p, b)?);
    }
    Ok(out)
}

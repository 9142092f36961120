//! An instruction list under construction, with common-subexpression elimination: emitting the
//! same instruction twice returns the first one's value, so a value used twice at the same index
//! (e.g. `x` in `x * sigmoid(x)`) is loaded and computed once.
use std::collections::HashMap;

use kiln_ir::DType;

use crate::ir::{Instr, ScalarOp, ValueId};

#[derive(Default)]
pub(crate) struct Block {
    pub instrs: Vec<Instr>,
    seen: HashMap<String, ValueId>,
}

impl Block {
    pub fn push(&mut self, op: ScalarOp, dtype: DType) -> ValueId {
        let instr = Instr { op, dtype };
        // The Debug form is canonical: Exprs print canonically and operands are value ids.
        let key = format!("{instr:?}");
        if let Some(&v) = self.seen.get(&key) {
            return v;
        }
        let v = self.instrs.len() as ValueId;
        self.instrs.push(instr);
        self.seen.insert(key, v);
        v
    }

    pub fn dtype(&self, v: ValueId) -> DType {
        self.instrs[v as usize].dtype
    }

    /// `v` converted to `dtype` (no instruction when it already has that dtype).
    pub fn cast(&mut self, v: ValueId, dtype: DType) -> ValueId {
        if self.dtype(v) == dtype {
            v
        } else {
            self.push(ScalarOp::Cast(v), dtype)
        }
    }

    pub fn constant(&mut self, value: f64, dtype: DType) -> ValueId {
        self.push(ScalarOp::Const(value), dtype)
    }
}

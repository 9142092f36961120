//! Tiles: which instructions of a vector kernel's body a wide routine computes, and which
//! values cross from one stage of the tile to the next through the stack.
//!
//! A tiled row computes [`TILE`] columns at a time in stages. Stage 0 runs the body up to the
//! first routine instruction over the whole tile (128-bit vectors), then the routine computes
//! that instruction for the tile (256-bit), then stage 1 runs up to the next one, and so on;
//! the last stage also stores. A value defined in one stage and used in a later one (or by a
//! routine) is *staged*: written to its scratch slot (one f32 per column) and loaded back
//! where it is used. Constants are re-emitted instead (Cranelift hoists them anyway).
//!
//! "Used" includes what the body emitter looks through: an add or subtract whose operand is a
//! multiply by a power of two becomes one exact multiply-add of the multiply's operand
//! (`ops::exact_mul_add`), so that operand counts as used too; the stages then emit exactly the
//! instructions the untiled loop emits, and give the same bits.
use kiln_ir::{BinaryOp, DType, UnaryOp};
use kiln_sched::{Instr, Kernel, ScalarOp};

pub(crate) use crate::math::wide::TILE;
use crate::math::wide::{self, Routine};

/// The stages of a tiled row (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TilePlan {
    /// The routine instructions in body order, with their routines.
    pub calls: Vec<(usize, Routine)>,
    /// The scratch slot of each body value that is staged (indexed like the body).
    pub slot_of: Vec<Option<u32>>,
    pub slots: u32,
}

impl TilePlan {
    /// The body instructions stage `s` emits (`s` in `0..=calls.len()`).
    pub fn stage(&self, s: usize, body_len: usize) -> std::ops::Range<usize> {
        let start = if s == 0 { 0 } else { self.calls[s - 1].0 + 1 };
        let end = self.calls.get(s).map_or(body_len, |c| c.0);
        start..end
    }

    /// The slot a staged value lives in.
    pub fn slot(&self, value: usize) -> Option<u32> {
        self.slot_of.get(value).copied().flatten()
    }

    /// Whether stage `s` of kernel `k` reads earlier value `value` (its instructions, or the
    /// last stage's stores): a staged value it does not read is not loaded back.
    pub fn stage_reads(&self, k: &Kernel, s: usize, value: usize) -> bool {
        let range = self.stage(s, k.body.len());
        let stored = s == self.calls.len() && k.stores.iter().any(|st| st.value as usize == value);
        stored
            || k.body[range]
                .iter()
                .any(|i| seen_operands(&k.body, i).contains(&value))
    }
}

/// The tile plan of a vector kernel computing in `compute` (its dims collapsed), when tiles
/// are enabled on this host, its rows may be a tile long, and its body has an instruction a
/// routine computes.
pub(crate) fn plan(k: &Kernel, compute: DType) -> Option<TilePlan> {
    if !wide::enabled() || compute.compute() != DType::F32 || k.reduce.is_some() {
        return None;
    }
    // Rows known to be shorter than a tile never run one: no tile code for them.
    let width = k.dims.last().and_then(|d| d.as_int());
    if width.is_some_and(|w| w < TILE) {
        return None;
    }
    let body = &k.body;
    let calls: Vec<(usize, Routine)> = body
        .iter()
        .enumerate()
        .filter_map(|(n, i)| Some((n, routine_of(body, i)?)))
        .collect();
    if calls.is_empty() {
        return None;
    }
    let stage_of = stage_numbers(body.len(), &calls);
    let mut staged = vec![false; body.len()];
    for (n, instr) in body.iter().enumerate() {
        for used in seen_operands(body, instr) {
            if stage_of[used] < stage_of[n] && !is_const(body, used) {
                staged[used] = true;
            }
        }
    }
    for &(n, _) in &calls {
        staged[n] = true;
        if let ScalarOp::Unary(_, a) = body[n].op {
            staged[a as usize] = true;
        }
    }
    let last = calls.len();
    for s in &k.stores {
        let v = s.value as usize;
        if stage_of.get(v).is_some_and(|&d| d < last) && !is_const(body, v) {
            staged[v] = true;
        }
    }
    let mut slots = 0;
    let slot_of = staged
        .iter()
        .map(|&s| {
            s.then(|| {
                slots += 1;
                slots - 1
            })
        })
        .collect();
    Some(TilePlan {
        calls,
        slot_of,
        slots,
    })
}

/// The routine computing `instr`, if one does: an f32-computed transcendental unary op whose
/// operand is not a constant.
fn routine_of(body: &[Instr], instr: &Instr) -> Option<Routine> {
    let ScalarOp::Unary(op, a) = instr.op else {
        return None;
    };
    if instr.dtype == DType::Bool
        || instr.dtype.compute() != DType::F32
        || is_const(body, a as usize)
    {
        return None;
    }
    let after_relu = body.get(a as usize).is_some_and(|i| {
        matches!(i.op, ScalarOp::Unary(UnaryOp::Relu, _)) && i.dtype == instr.dtype
    });
    Routine::for_op(op, after_relu)
}

/// The stage each body value becomes available in: a routine instruction's result belongs to
/// the stage after its call.
fn stage_numbers(len: usize, calls: &[(usize, Routine)]) -> Vec<usize> {
    let mut out = Vec::with_capacity(len);
    let mut stage = 0;
    let mut next_call = calls.iter().map(|c| c.0).peekable();
    for n in 0..len {
        if next_call.peek() == Some(&n) {
            next_call.next();
            stage += 1;
        }
        out.push(stage);
    }
    out
}

fn is_const(body: &[Instr], n: usize) -> bool {
    matches!(body.get(n).map(|i| &i.op), Some(ScalarOp::Const(_)))
}

/// The body values the emitter reads to emit `instr`: its operands, plus the operands of a
/// multiply feeding an add or subtract (see the module docs).
fn seen_operands(body: &[Instr], instr: &Instr) -> Vec<usize> {
    let mut out: Vec<usize> = match instr.op {
        ScalarOp::Unary(_, a) | ScalarOp::Cast(a) => vec![a as usize],
        ScalarOp::Binary(_, a, c) => vec![a as usize, c as usize],
        ScalarOp::Select(c, a, x) => vec![c as usize, a as usize, x as usize],
        ScalarOp::Load { .. } | ScalarOp::Const(_) | ScalarOp::Index(_) | ScalarOp::Reduced => {
            vec![]
        }
    };
    if let ScalarOp::Binary(BinaryOp::Add | BinaryOp::Sub, a, c) = instr.op {
        for operand in [a, c] {
            if let Some(ScalarOp::Binary(BinaryOp::Mul, p, q)) =
                body.get(operand as usize).map(|i| &i.op)
            {
                out.extend([*p as usize, *q as usize]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_sched::Store;
    use kiln_shape::Expr;

    fn instr(op: ScalarOp) -> Instr {
        Instr {
            dtype: DType::F32,
            op,
        }
    }

    /// `sigmoid(relu(x*y+z))*2-1`, as kiln-sched emits it.
    fn fused_chain() -> Kernel {
        let load = |buf| {
            instr(ScalarOp::Load {
                buf,
                offset: Expr::sym("%o0"),
            })
        };
        Kernel {
            name: "fused".into(),
            dims: vec![Expr::int(1 << 20)],
            reduce: None,
            body: vec![
                load(0),
                load(1),
                instr(ScalarOp::Binary(BinaryOp::Mul, 0, 1)),
                load(2),
                instr(ScalarOp::Binary(BinaryOp::Add, 2, 3)),
                instr(ScalarOp::Unary(UnaryOp::Relu, 4)),
                instr(ScalarOp::Unary(UnaryOp::Sigmoid, 5)),
                instr(ScalarOp::Const(2.0)),
                instr(ScalarOp::Binary(BinaryOp::Mul, 6, 7)),
                instr(ScalarOp::Const(1.0)),
                instr(ScalarOp::Binary(BinaryOp::Sub, 8, 9)),
            ],
            stores: vec![Store {
                buf: 3,
                offset: Expr::sym("%o0"),
                value: 10,
            }],
            index_bits: 64,
        }
    }

    #[test]
    fn the_fused_chain_stages_the_sigmoid_argument_and_result_only() {
        if !wide::enabled() {
            eprintln!("skipped: this host has no AVX2+FMA tile routines");
            return;
        }
        let plan = plan(&fused_chain(), DType::F32).expect("a tile plan");
        assert_eq!(plan.calls, vec![(6, Routine::SigmoidNonnegative)]);
        assert_eq!(plan.stage(0, 11), 0..6);
        assert_eq!(plan.stage(1, 11), 7..11);
        // The relu's output (the routine's input) and the sigmoid (its output; the exact
        // multiply-add `s*2-1` reads it through the multiply) are staged, nothing else.
        let staged: Vec<usize> = (0..11).filter(|&n| plan.slot(n).is_some()).collect();
        assert_eq!(staged, vec![5, 6]);
        assert_eq!(plan.slots, 2);
    }

    #[test]
    fn a_stage_loads_back_only_the_staged_values_it_reads() {
        if !wide::enabled() {
            eprintln!("skipped: this host has no AVX2+FMA tile routines");
            return;
        }
        let k = fused_chain();
        let plan = plan(&k, DType::F32).expect("a tile plan");
        // Stage 1 (`s*2-1`, then the store) reads the sigmoid, not the relu's output that
        // only the routine read.
        assert!(plan.stage_reads(&k, 1, 6));
        assert!(!plan.stage_reads(&k, 1, 5));
        // A stored value counts as read by the last stage.
        let mut stored_early = k.clone();
        stored_early.stores[0].value = 5;
        assert!(plan.stage_reads(&stored_early, 1, 5));
    }

    #[test]
    fn kernels_without_routine_ops_or_in_f64_are_not_tiled() {
        let mut k = fused_chain();
        assert!(plan(&k, DType::F64).is_none());
        k.body[6] = instr(ScalarOp::Unary(UnaryOp::Abs, 5));
        assert!(plan(&k, DType::F32).is_none());
    }
}

//! Emission of a point's instructions, loads and stores from the row's access forms.
use cranelift_codegen::ir::{InstBuilder, Type, Value, types};
use kiln_ir::{BinaryOp, DType, UnaryOp};
use kiln_sched::{BufId, Instr, Kernel, ScalarOp};
use kiln_shape::Expr;

use super::emitter::{Access, KernelEmitter, RowAccesses};
use super::error::CodegenError;
use super::mathops;
use super::memory;
use super::ops::{self, Width, bitcast, compute_type, fconst};

/// The values of a body as far as it is emitted: `None` for an instruction not (yet)
/// emitted here (a later instruction, or one of an earlier tile stage that is not staged).
pub(crate) type Values = Vec<Option<Value>>;

fn get(vals: &[Option<Value>], id: u32) -> Result<Value, CodegenError> {
    vals.get(id as usize)
        .copied()
        .flatten()
        .ok_or(CodegenError::UndefinedValue { id })
}

impl KernelEmitter<'_, '_, '_> {
    /// The element offset of an access at inner position `i`.
    pub(crate) fn offset(
        &mut self,
        a: &Access,
        full: &Expr,
        i: Value,
    ) -> Result<Value, CodegenError> {
        Ok(match a {
            Access::Strided { along, .. } => self.offset(along, full, i)?,
            Access::Linear {
                coeff_const: Some(0),
                rest,
                ..
            } => *rest,
            Access::Linear {
                coeff_const: Some(1),
                rest,
                ..
            } => self.b.ins().iadd(*rest, i),
            Access::Linear { coeff, rest, .. } => {
                let scaled = self.b.ins().imul(*coeff, i);
                self.b.ins().iadd(*rest, scaled)
            }
            Access::At(v) => *v,
            Access::Hoisted(_) | Access::Full => self.idx.expr(self.b, full)?,
        })
    }

    /// The kernel body and stores of the point(s) at `i` (bound by the caller), given the
    /// point's reduced value.
    pub(crate) fn finish_point(
        &mut self,
        k: &Kernel,
        i: Value,
        plans: &RowAccesses,
        width: Width,
        reduced: Option<Value>,
    ) -> Result<(), CodegenError> {
        let mut values: Values = vec![None; k.body.len()];
        let all = 0..k.body.len();
        self.emit_range(
            &k.body,
            Some(&plans.loads),
            (i, width, reduced),
            &mut values,
            all,
        )?;
        self.store_values(k, i, plans, &values)
    }

    /// The kernel's stores of the point(s) at `i`, from the body's `values`.
    pub(crate) fn store_values(
        &mut self,
        k: &Kernel,
        i: Value,
        plans: &RowAccesses,
        values: &[Option<Value>],
    ) -> Result<(), CodegenError> {
        for (s, a) in k.stores.iter().zip(&plans.stores) {
            let dtype = self.buffer_dtype(s.buf)?;
            let off = match a {
                Some(a) => self.offset(a, &s.offset, i)?,
                None => self.idx.expr(self.b, &s.offset)?,
            };
            let addr = memory::address(self.b, dtype, self.base(s.buf)?, off);
            let v = values
                .get(s.value as usize)
                .copied()
                .flatten()
                .ok_or(CodegenError::UndefinedStoreValue { id: s.value })?;
            memory::store(self.b, dtype, addr, v)?;
        }
        Ok(())
    }

    /// A load at inner position `i` through its row access form (`None`: the offset in
    /// full), converted to `ty`.
    fn load_value(
        &mut self,
        (buf, offset): (BufId, &Expr),
        access: Option<Access>,
        i: Value,
        (ty, width): (Type, Width),
    ) -> Result<Value, CodegenError> {
        let dtype = self.buffer_dtype(buf)?;
        let v = match access {
            Some(Access::Hoisted(v)) if width == Width::Vector => self.b.ins().splat(ty, v),
            Some(Access::Hoisted(v)) => v,
            // A broadcast operand of a vectorised reduction run (never hoisted
            // there: its window may be empty): one element, splatted.
            Some(Access::Linear {
                coeff_const: Some(0),
                rest,
                ..
            }) if width == Width::Vector => {
                let addr = memory::address(self.b, dtype, self.base(buf)?, rest);
                let v = memory::load(self.b, dtype, addr, Width::Scalar)?;
                let v = ops::convert(self.b, v, ty.lane_type());
                self.b.ins().splat(ty, v)
            }
            Some(Access::Strided { along, lane_stride }) if width == Width::Vector => {
                let off = self.offset(&along, offset, i)?;
                let base = self.base(buf)?;
                strided_load(self, dtype, base, off, lane_stride, ty)?
            }
            Some(a) => {
                let off = self.offset(&a, offset, i)?;
                let addr = memory::address(self.b, dtype, self.base(buf)?, off);
                memory::load(self.b, dtype, addr, width)?
            }
            None => {
                let off = self.idx.expr(self.b, offset)?;
                let addr = memory::address(self.b, dtype, self.base(buf)?, off);
                memory::load(self.b, dtype, addr, width)?
            }
        };
        Ok(ops::convert(self.b, v, ty))
    }

    /// A binary instruction of `instrs` on earlier values `vals`: a max/min with a non-NaN
    /// constant or an exact multiply-add when one applies, else the plain operation.
    fn binary_value(
        &mut self,
        instrs: &[Instr],
        vals: &[Option<Value>],
        (op, a_id, c_id): (BinaryOp, u32, u32),
        ty: Type,
    ) -> Result<Value, CodegenError> {
        let a = get(vals, a_id)?;
        let c = get(vals, c_id)?;
        let c = ops::convert(self.b, c, ops::ty_of(self.b, a));
        let non_nan_const = |id: u32| {
            instrs
                .get(id as usize)
                .is_some_and(|i| matches!(i.op, ScalarOp::Const(v) if !v.is_nan()))
        };
        let cheap = if non_nan_const(c_id) {
            ops::extremum_with_constant(self.b, op, a, c)
        } else if non_nan_const(a_id) {
            ops::extremum_with_constant(self.b, op, c, a)
        } else {
            None
        };
        let fused = || ops::exact_mul_add(self.b, instrs, vals, op, (a_id, c_id), ty);
        Ok(match cheap.or_else(fused) {
            Some(v) => ops::convert(self.b, v, ty),
            None => ops::binary(self.b, op, a, c, ty)?,
        })
    }

    /// The mask of comparison `instrs[id]` emitted again from its operands, for a select on
    /// values of type `ty`: `clamp`'s and `where`'s conditions then cost one compare, not a
    /// compare, its 1.0/0.0 and a compare of that with zero (the same lanes hold: 1.0 is
    /// nonzero, 0.0 is not). `None` when `id` is no comparison or its operands have another
    /// type than `ty` (f64 operands of an f32 select).
    fn comparison_mask(
        &mut self,
        instrs: &[Instr],
        vals: &[Option<Value>],
        id: u32,
        ty: Type,
    ) -> Option<Value> {
        let ScalarOp::Binary(op, p, q) = instrs.get(id as usize)?.op else {
            return None;
        };
        let cc = ops::comparison_cc(op)?;
        let (p, q) = (get(vals, p).ok()?, get(vals, q).ok()?);
        if ops::ty_of(self.b, p) != ty || ops::ty_of(self.b, q) != ty {
            return None;
        }
        Some(self.b.ins().fcmp(cc, p, q))
    }

    /// Emits `instrs` in order and returns their values. `loads` gives the row's access plans
    /// (kernel body) or `None` (reduction body: offsets computed in full).
    pub fn emit_instrs(
        &mut self,
        instrs: &[Instr],
        loads: Option<&[Option<Access>]>,
        i: Value,
        width: Width,
        reduced: Option<Value>,
    ) -> Result<Vec<Value>, CodegenError> {
        let mut vals: Values = vec![None; instrs.len()];
        self.emit_range(
            instrs,
            loads,
            (i, width, reduced),
            &mut vals,
            0..instrs.len(),
        )?;
        vals.into_iter()
            .enumerate()
            .map(|(n, v)| v.ok_or(CodegenError::UndefinedValue { id: n as u32 }))
            .collect()
    }

    /// Emits `instrs[range]` in order into `vals`, where earlier instructions' values are
    /// already (those a tile stage has staged or re-emitted). `point` is the inner position,
    /// the width and the point's reduced value.
    pub(crate) fn emit_range(
        &mut self,
        instrs: &[Instr],
        loads: Option<&[Option<Access>]>,
        (i, width, reduced): (Value, Width, Option<Value>),
        vals: &mut Values,
        range: std::ops::Range<usize>,
    ) -> Result<(), CodegenError> {
        let vector = width == Width::Vector;
        let (start, end) = (range.start, range.end);
        for (n, instr) in instrs.iter().enumerate().take(end).skip(start) {
            let ty = compute_type(instr.dtype, width);
            let v = match &instr.op {
                ScalarOp::Load { buf, offset } => {
                    let access = loads.and_then(|l| l.get(n).cloned().flatten());
                    self.load_value((*buf, offset), access, i, (ty, width))?
                }
                ScalarOp::Const(c) => {
                    let c = if instr.dtype == DType::Bool {
                        f64::from(u8::from(*c != 0.0))
                    } else {
                        *c
                    };
                    fconst(self.b, ty, c)
                }
                ScalarOp::Index(e) => {
                    let iv = self.idx.expr(self.b, e)?;
                    let v = self.b.ins().fcvt_from_sint(ty.lane_type(), iv);
                    if vector { self.b.ins().splat(ty, v) } else { v }
                }
                ScalarOp::Unary(op, a_id) => {
                    let a = get(vals, *a_id)?;
                    // sigmoid(relu(x)): the argument is never negative.
                    let after_relu = instrs.get(*a_id as usize).is_some_and(|i| {
                        matches!(i.op, ScalarOp::Unary(UnaryOp::Relu, _)) && i.dtype == instr.dtype
                    });
                    if *op == UnaryOp::Sigmoid && after_relu {
                        let v = mathops::sigmoid_nonnegative(self.b, a)?;
                        ops::convert(self.b, v, ty)
                    } else {
                        ops::unary(self.b, *op, a, ty, instr.dtype == DType::Bool)?
                    }
                }
                ScalarOp::Binary(op, a_id, c_id) => {
                    self.binary_value(instrs, vals, (*op, *a_id, *c_id), ty)?
                }
                ScalarOp::Select(c_id, a, x) => {
                    let c = get(vals, *c_id)?;
                    let a = ops::convert(self.b, get(vals, *a)?, ty);
                    let x = ops::convert(self.b, get(vals, *x)?, ty);
                    if !vector && ops::ty_of(self.b, c).is_vector() {
                        return Err(CodegenError::VectorConditionInScalarSelect);
                    }
                    let m = match self.comparison_mask(instrs, vals, *c_id, ty) {
                        Some(m) => m,
                        None => ops::truthy(self.b, c),
                    };
                    ops::select(self.b, m, a, x)
                }
                ScalarOp::Cast(a) => {
                    let a = get(vals, *a)?;
                    ops::cast(self.b, a, instr.dtype, ty)?
                }
                ScalarOp::Reduced => {
                    let acc = reduced.ok_or(CodegenError::ReducedOutsideReduction)?;
                    ops::convert(self.b, acc, ty)
                }
            };
            vals[n] = Some(v);
        }
        Ok(())
    }
}

/// Loads the lanes `offset + l * stride` of a buffer of `dtype`, widened to `ty` (a vector).
pub(crate) fn strided_load(
    e: &mut KernelEmitter,
    dtype: DType,
    base: Value,
    offset: Value,
    stride: i64,
    ty: cranelift_codegen::ir::Type,
) -> Result<Value, CodegenError> {
    let lane_count = i64::from(ty.lane_count());
    match stride {
        0 => {
            let addr = memory::address(e.b, dtype, base, offset);
            let v = memory::load(e.b, dtype, addr, Width::Scalar)?;
            let v = ops::convert(e.b, v, ty.lane_type());
            Ok(e.b.ins().splat(ty, v))
        }
        1 => {
            let addr = memory::address(e.b, dtype, base, offset);
            memory::load(e.b, dtype, addr, Width::Vector)
        }
        // Elements 0, 2, 4, 6: lanes 0 and 2 of the vector at 0, then lanes 1 and 3 of the
        // vector at 3 (never reading past element 6, the last one the window touches).
        2 if ty == types::F32X4 && dtype == DType::F32 => {
            let addr = memory::address(e.b, dtype, base, offset);
            let first = memory::load(e.b, dtype, addr, Width::Vector)?;
            let second_off = e.b.ins().iadd_imm_s(offset, 3);
            let addr = memory::address(e.b, dtype, base, second_off);
            let second = memory::load(e.b, dtype, addr, Width::Vector)?;
            let (x, y) = (
                bitcast(e.b, types::I8X16, first),
                bitcast(e.b, types::I8X16, second),
            );
            // Shuffle bytes: 0..16 from `x`, 16..32 from `y`.
            let mask: Vec<u8> = [0u8, 8, 20, 28]
                .iter()
                .flat_map(|&start| start..start + 4)
                .collect();
            let mask = e.b.func.dfg.immediates.push(mask.into());
            let picked = e.b.ins().shuffle(x, y, mask);
            Ok(bitcast(e.b, ty, picked))
        }
        _ => {
            let mut v: Option<Value> = None;
            for lane in 0..lane_count {
                let off = e.b.ins().iadd_imm_s(offset, lane * stride);
                let addr = memory::address(e.b, dtype, base, off);
                let x = memory::load(e.b, dtype, addr, Width::Scalar)?;
                let x = ops::convert(e.b, x, ty.lane_type());
                v = Some(match v {
                    None => e.b.ins().scalar_to_vector(ty, x),
                    Some(v) => e.b.ins().insertlane(v, x, lane as u8),
                });
            }
            v.ok_or(CodegenError::EmptyVector)
        }
    }
}

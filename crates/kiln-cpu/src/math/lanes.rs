//! Type-generic CLIF helpers shared by the math emitters.
//!
//! Every emitter works on four value types (`F32`, `F64`, `F32X4`, `F64X2`). [`Lanes`] carries
//! the float type together with the integer type of the same lane width, and builds constants,
//! bit casts and lane-wise selects that lower on x86-64 with SSE4.1 and on aarch64 alike.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_frontend::FunctionBuilder;

use super::MathError;

/// A float value type and the integer type with the same lane shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lanes {
    pub float: Type,
    pub int: Type,
}

impl Lanes {
    pub const F32: Lanes = Lanes {
        float: types::F32,
        int: types::I32,
    };
    pub const F64: Lanes = Lanes {
        float: types::F64,
        int: types::I64,
    };
    pub const F32X4: Lanes = Lanes {
        float: types::F32X4,
        int: types::I32X4,
    };
    pub const F64X2: Lanes = Lanes {
        float: types::F64X2,
        int: types::I64X2,
    };

    /// The lane shape of float value `x`, or an error naming `function` for other types.
    pub fn of(b: &FunctionBuilder, x: Value, function: &'static str) -> Result<Lanes, MathError> {
        let ty = b.func.dfg.value_type(x);
        Lanes::for_float(ty).ok_or(MathError::UnsupportedType {
            function,
            ty,
            expected: "F32, F64, F32X4 or F64X2",
        })
    }

    /// The lane shape for a float type, if it is one of the supported four.
    pub fn for_float(ty: Type) -> Option<Lanes> {
        [Lanes::F32, Lanes::F64, Lanes::F32X4, Lanes::F64X2]
            .into_iter()
            .find(|lanes| lanes.float == ty)
    }

    pub fn is_f64(self) -> bool {
        self.float.lane_type() == types::F64
    }

    /// Number of explicit mantissa bits of one lane (23 or 52).
    pub fn mantissa_bits(self) -> i64 {
        if self.is_f64() { 52 } else { 23 }
    }

    /// Exponent bias of one lane (127 or 1023).
    pub fn exponent_bias(self) -> i64 {
        if self.is_f64() { 1023 } else { 127 }
    }

    /// The sign bit of one lane as an integer constant pattern.
    pub fn sign_bit(self) -> i64 {
        if self.is_f64() { i64::MIN } else { 0x8000_0000 }
    }

    /// A float constant in every lane (rounded to f32 for f32 lanes).
    pub fn fconst(self, b: &mut FunctionBuilder, v: f64) -> Value {
        let scalar = if self.is_f64() {
            b.ins().f64const(Ieee64::with_bits(v.to_bits()))
        } else {
            b.ins().f32const(Ieee32::with_bits((v as f32).to_bits()))
        };
        self.splat(b, self.float, scalar)
    }

    /// An integer constant in every lane of the matching integer type.
    pub fn iconst(self, b: &mut FunctionBuilder, v: i64) -> Value {
        let lane = self.int.lane_type();
        // Narrow `iconst` immediates must be zero-extended to 64 bits.
        let v = if lane == types::I32 {
            v & 0xffff_ffff
        } else {
            v
        };
        let scalar = b.ins().iconst(lane, v);
        self.splat(b, self.int, scalar)
    }

    fn splat(self, b: &mut FunctionBuilder, ty: Type, scalar: Value) -> Value {
        if ty.is_vector() {
            b.ins().splat(ty, scalar)
        } else {
            scalar
        }
    }

    /// Reinterprets float lanes as integer lanes.
    pub fn float_to_bits(self, b: &mut FunctionBuilder, x: Value) -> Value {
        bitcast(b, self.int, x)
    }

    /// Reinterprets integer lanes as float lanes.
    pub fn bits_to_float(self, b: &mut FunctionBuilder, i: Value) -> Value {
        bitcast(b, self.float, i)
    }

    /// Evaluates `coeffs[0] + t*(coeffs[1] + t*(...))` by Horner's rule.
    pub fn horner(self, b: &mut FunctionBuilder, t: Value, coeffs: &[f64]) -> Value {
        let mut iter = coeffs.iter().rev();
        let Some(&last) = iter.next() else {
            return self.fconst(b, 0.0);
        };
        let mut acc = self.fconst(b, last);
        for &c in iter {
            let c = self.fconst(b, c);
            acc = mul_add(b, acc, t, c);
        }
        acc
    }

    /// The same polynomial as [`Lanes::horner`], evaluated as Horner's rule in `t2 = t*t`
    /// over the pairs `coeffs[2i] + t*coeffs[2i+1]`: as many operations, about half the
    /// dependent steps (the pairs are independent of each other).
    pub fn pairwise_horner(
        self,
        b: &mut FunctionBuilder,
        t: Value,
        t2: Value,
        coeffs: &[f64],
    ) -> Value {
        let mut pairs = Vec::with_capacity(coeffs.len().div_ceil(2));
        for pair in coeffs.chunks(2) {
            let low = self.fconst(b, pair[0]);
            pairs.push(match pair.get(1) {
                Some(&high) => {
                    let high = self.fconst(b, high);
                    mul_add(b, high, t, low)
                }
                None => low,
            });
        }
        let Some(mut acc) = pairs.pop() else {
            return self.fconst(b, 0.0);
        };
        while let Some(pair) = pairs.pop() {
            acc = mul_add(b, acc, t2, pair);
        }
        acc
    }

    /// `|x|` with the sign of `sign_source` (bitwise, so NaN and zero signs carry over).
    pub fn copysign(self, b: &mut FunctionBuilder, x: Value, sign_source: Value) -> Value {
        let sign_mask = self.iconst(b, self.sign_bit());
        let xb = self.float_to_bits(b, x);
        let sb = self.float_to_bits(b, sign_source);
        let magnitude = b.ins().band_not(xb, sign_mask);
        let sign = b.ins().band(sb, sign_mask);
        let merged = b.ins().bor(magnitude, sign);
        self.bits_to_float(b, merged)
    }

    /// Converts integer lanes holding values in (-2^22, 2^22) to floats without `fcvt`,
    /// which has no SSE lowering for 64-bit lanes: adds the integer to the bits of
    /// 1.5·2^m and subtracts 1.5·2^m as a float.
    pub fn small_int_to_float(self, b: &mut FunctionBuilder, k: Value) -> Value {
        let shift = self.round_shift();
        let shift_bits = self.iconst(b, shift_bits(self));
        let biased = b.ins().iadd(k, shift_bits);
        let as_float = self.bits_to_float(b, biased);
        let shift = self.fconst(b, shift);
        b.ins().fsub(as_float, shift)
    }

    /// 1.5·2^m: adding it to |v| < 2^(m-1) rounds `v` to the nearest integer, which then
    /// sits in the low mantissa bits.
    pub fn round_shift(self) -> f64 {
        if self.is_f64() {
            6755399441055744.0
        } else {
            12582912.0
        }
    }

    /// Rounds `v` (|v| < 2^(m-1)) to the nearest integer; returns the integer as a float and
    /// as integer lanes.
    pub fn round_to_int(self, b: &mut FunctionBuilder, v: Value) -> (Value, Value) {
        let shift = self.fconst(b, self.round_shift());
        let shifted = b.ins().fadd(v, shift);
        let bits = self.float_to_bits(b, shifted);
        let shift_bits = self.iconst(b, shift_bits(self));
        let as_int = b.ins().isub(bits, shift_bits);
        let as_float = b.ins().fsub(shifted, shift);
        (as_float, as_int)
    }

    /// The integer k in the low mantissa bits of `shifted` = k + 1.5·2^m (see
    /// [`Lanes::round_shift`]), as integer lanes.
    pub fn shifted_to_int(self, b: &mut FunctionBuilder, shifted: Value) -> Value {
        let bits = self.float_to_bits(b, shifted);
        let shift_bits = self.iconst(b, shift_bits(self));
        b.ins().isub(bits, shift_bits)
    }

    /// `c < x ? c : x`: the minimum of `x` and a non-NaN `c` (a constant) that keeps a NaN
    /// `x` (it compares false). One `minps`/`minss` on x86, unlike `fmin`'s NaN-propagating
    /// sequence: the operand order is the one Cranelift's x86 lowering matches.
    pub fn min_with_non_nan(self, b: &mut FunctionBuilder, x: Value, c: Value) -> Value {
        let c_is_less = b.ins().fcmp(FloatCC::LessThan, c, x);
        select(b, c_is_less, c, x)
    }

    /// `x < c ? c : x`: the maximum of `x` and a non-NaN `c` that keeps a NaN `x`; one
    /// `maxps`/`maxss` on x86.
    pub fn max_with_non_nan(self, b: &mut FunctionBuilder, x: Value, c: Value) -> Value {
        let x_is_less = b.ins().fcmp(FloatCC::LessThan, x, c);
        select(b, x_is_less, c, x)
    }

    /// Lane mask of `x cc y` (I8 for scalars, an integer vector for vectors).
    pub fn fcmp(self, b: &mut FunctionBuilder, cc: FloatCC, x: Value, y: Value) -> Value {
        b.ins().fcmp(cc, x, y)
    }
}

/// `x*y + z`: one fused multiply-add (rounded once) where the host has one, else a multiply
/// and an add. The choice follows the host the JIT compiles for (cranelift-native enables
/// `has_fma` from the same CPUID bit), and the ISA flags are part of every artifact's and
/// cache key's target id, so code built either way never runs on the other kind of host.
pub(crate) fn mul_add(b: &mut FunctionBuilder, x: Value, y: Value, z: Value) -> Value {
    if host_has_fma() {
        b.ins().fma(x, y, z)
    } else {
        let product = b.ins().fmul(x, y);
        b.ins().fadd(product, z)
    }
}

/// Whether Cranelift lowers `fma` to one instruction on this host (without the feature it
/// becomes a libm call, which kiln's relocation-free kernels must not contain).
pub(crate) fn host_has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(target_arch = "aarch64")]
    {
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

fn shift_bits(lanes: Lanes) -> i64 {
    if lanes.is_f64() {
        lanes.round_shift().to_bits() as i64
    } else {
        i64::from((lanes.round_shift() as f32).to_bits())
    }
}

/// `bitcast` with the explicit little-endian flag that vector bitcasts between lane shapes
/// require; kiln's targets (x86-64, aarch64) are little-endian.
pub(crate) fn bitcast(b: &mut FunctionBuilder, ty: Type, x: Value) -> Value {
    if b.func.dfg.value_type(x) == ty {
        return x;
    }
    let flags = if ty.is_vector() {
        MemFlagsData::new().with_endianness(Endianness::Little)
    } else {
        MemFlagsData::new()
    };
    b.ins().bitcast(ty, flags, x)
}

/// Lane-wise `mask ? a : c`. `mask` comes from `fcmp`/`icmp` (or their `band`/`bor`);
/// scalars use `select`, vectors `bitselect` on the all-ones/all-zeros lane mask.
pub(crate) fn select(b: &mut FunctionBuilder, mask: Value, a: Value, c: Value) -> Value {
    let ty = b.func.dfg.value_type(a);
    if ty.is_vector() {
        let mask = bitcast(b, ty, mask);
        b.ins().bitselect(mask, a, c)
    } else {
        b.ins().select(mask, a, c)
    }
}

//! Inline CLIF math for kiln's Cranelift CPU backend.
//!
//! Every emitter appends straight-line CLIF to the current block of a [`FunctionBuilder`]:
//! no calls, no libm, no relocations, so the generated machine code can be cached on disk
//! and reloaded anywhere. The float emitters accept `F32`, `F64`, `F32X4` and `F64X2`
//! values (SSE4.1-level 128-bit SIMD on x86-64) and return the same type; they never use
//! `floor`/`nearest` (libcalls on some targets), 64-bit lane multiplies, 64-bit arithmetic
//! shifts or `fcvt` on 64-bit lanes, none of which lower everywhere, and use `fma` only where
//! the host has it (x86-64 with FMA3, aarch64): elsewhere it would be a libm call. An
//! unsupported operand type is reported as [`MathError`], never a panic.
//!
//! With FMA, polynomials and Cody-Waite reductions use it (fewer instructions, shorter
//! dependency chains, one rounding instead of two); the error bounds below hold either way
//! (the tests run on whichever host they are on). A kernel built with FMA differs from one
//! built without it in the last bit at most, and never meets a host of the other kind: the
//! ISA flags (`has_fma`) are part of every artifact's and cache key's target id.
//!
//! | function | algorithm | max error measured, f32 | f64 |
//! |---|---|---|---|
//! | [`exp`] | k = round(x/ln2) by the 1.5·2^m shift trick, Cody-Waite r, 1 + r + r²·P₄(r) fitted at Chebyshev nodes, P₄ in pairs (f32) / fdlibm rational (f64) kernel, 2^k applied in two halves (correct subnormals) | 1 | 1 |
//! | [`log`] | musl `logf`/`log`: integer split into 2^k·m, m ∈ [√½, √2), s = f/(2+f) kernel; subnormals prescaled | 1 | 1 |
//! | [`tanh`] | \|x\| < 0.625: Cephes odd polynomial (f32) / rational (f64); else 1 − 2/(e^{2\|x\|}+1) | 1 | 2 |
//! | [`sigmoid`] | n/(1+e), e = e^{−\|x\|}, n = 1 (x ≥ 0) or e (x < 0): never overflows; k ≤ 0 lets 2^k be built as one normal 2^(k+64) (f32) / 2^(k+600) (f64) times a constant, still rounded once | 2 | 2 |
//! | [`sigmoid_nonnegative`] | [`sigmoid`] without the sign test, for x ≥ 0 (a relu's output): bit-identical there | 2 | 2 |
//! | [`sin`], [`cos`] | \|x\| < 2^19: k = round(2x/π), fdlibm Cody-Waite reduction in f64 (2 parts for f32, 3 steps for f64); else Payne-Hanek (x·2/π mod 4 from 24-bit chunks of 2/π, exact products, double-double sum), entered only when a lane needs it; fdlibm kernels; f32 lanes computed in f64 | 1 | 1 |
//! | [`erf`] | \|x\| < 1: Taylor series; else 1 − e^{−x²}·g(x), g fitted (Chebyshev) | 3 | 2 |
//! | [`pow`] | exp(y·log\|x\|) in f64 plus C99 special cases; f32 lanes computed in f64 | 1 | 2 + 2·\|y·ln x\| (log's rounding amplified; 234 at \|y·ln x\| ≈ 129) |
//!
//! Errors are in ulps against glibc, measured by the `math_*` integration tests (scalar
//! and vector kernels, which must agree bit for bit) over every ±2^k and its neighbours,
//! 1e5–3e5 random bit patterns and 1e5–2e5 uniform samples of the interesting range per
//! function; f32 references are the f64 libm result rounded to f32, so f32 figures are
//! against (almost always) correctly rounded values. The sigmoid reference is
//! 1/(1+e^-x) / e^x/(1+e^x) in f64 (itself ~1 ulp for f64). `sin`/`cos` are measured over
//! the whole finite range: several scales up to 1e5, multiples of π/2, 2e5 random bit
//! patterns per type, every power of two with its neighbours, and the multiple of π/2 nearest
//! each 2^k up to the largest finite value (inf and NaN give NaN). The Payne-Hanek sum keeps
//! the reduced argument to about 2^-100 absolute, so an f64 argument within ~2^-50 of a
//! multiple of π/2 (none was in the sample) would keep fewer than 53 bits of its tiny result.
//! f64 `pow` has no extended-precision log, so the log's rounding
//! is amplified by |y·ln x|; f32 `pow`, `sin` and `cos` run in f64 and are rounded once.
//!
//! Conversions between 16-bit floats and f32 work on 16-bit patterns held in the low half of
//! 32-bit integer lanes (`I32` or `I32X4`; `I16` is also accepted as input):
//! [`bf16_bits_to_f32`], [`f32_to_bf16_bits`], [`f16_bits_to_f32`], [`f32_to_f16_bits`].
//! Float-to-half conversions round to nearest even, keep NaN a (quiet) NaN, overflow to
//! inf and produce f16 subnormals; half-to-float conversions are exact.

mod activation;
mod erf;
mod exp_log;
mod half;
mod lanes;
mod pow;
mod trig;
mod trig_large;
pub mod wide;
mod widen;

use cranelift_codegen::ir::{Type, Value};
use cranelift_frontend::FunctionBuilder;

use lanes::Lanes;
pub(crate) use lanes::host_has_fma;
use trig::Trig;

/// Why a math emitter could not emit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MathError {
    /// The operand's CLIF type is not one the emitter handles.
    #[error("math::{function}: operand has type {ty}, expected {expected}")]
    UnsupportedType {
        function: &'static str,
        ty: Type,
        expected: &'static str,
    },
    /// A two-operand emitter got operands of different types.
    #[error("math::{function}: operands have different types {left} and {right}")]
    MismatchedTypes {
        function: &'static str,
        left: Type,
        right: Type,
    },
}

/// e^x. exp(+inf) = inf, exp(-inf) = 0, overflow gives inf, underflow gives correctly
/// rounded subnormals and then 0, NaN gives NaN.
///
/// Measured max error: 1 ulp (f32), 1 ulp (f64).
pub fn exp(b: &mut FunctionBuilder, x: Value) -> Result<Value, MathError> {
    let l = Lanes::of(b, x, "exp")?;
    Ok(exp_log::exp_lanes(b, l, x))
}

/// Natural logarithm. log(±0) = -inf, log(x < 0) = NaN, log(+inf) = inf, NaN gives NaN;
/// subnormal inputs are exact-scaled first, so they are as accurate as normal ones.
///
/// Measured max error: 1 ulp (f32), 1 ulp (f64).
pub fn log(b: &mut FunctionBuilder, x: Value) -> Result<Value, MathError> {
    let l = Lanes::of(b, x, "log")?;
    Ok(exp_log::log_lanes(b, l, x))
}

/// Hyperbolic tangent. tanh(±inf) = ±1, tanh(±0) = ±0, NaN gives NaN.
///
/// Measured max error: 1 ulp (f32), 2 ulp (f64).
pub fn tanh(b: &mut FunctionBuilder, x: Value) -> Result<Value, MathError> {
    let l = Lanes::of(b, x, "tanh")?;
    Ok(activation::tanh_lanes(b, l, x))
}

/// Logistic sigmoid 1/(1+e^-x). sigmoid(+inf) = 1, sigmoid(-inf) = 0, NaN gives NaN; very
/// negative x keeps full relative accuracy (e^x, subnormals included) instead of flushing.
///
/// Measured max error: 2 ulp (f32), 2 ulp (f64).
pub fn sigmoid(b: &mut FunctionBuilder, x: Value) -> Result<Value, MathError> {
    let l = Lanes::of(b, x, "sigmoid")?;
    Ok(activation::sigmoid_lanes(b, l, x))
}

/// [`sigmoid`] for inputs known to be non-negative (the output of a relu): the same results
/// there (x >= 0, -0 and NaN), two instructions fewer. A negative input gives a wrong result.
///
/// Measured max error: 2 ulp (f32), 2 ulp (f64), on [0, 30] / [0, 40].
pub fn sigmoid_nonnegative(b: &mut FunctionBuilder, x: Value) -> Result<Value, MathError> {
    let l = Lanes::of(b, x, "sigmoid_nonnegative")?;
    Ok(activation::sigmoid_nonnegative_lanes(b, l, x))
}

/// Sine. sin(±inf) = NaN, NaN gives NaN. Accurate over the whole range: large arguments
/// (|x| >= 2^19) take a Payne-Hanek reduction (see the module docs).
///
/// Measured max error: 1 ulp (f32), 1 ulp (f64).
pub fn sin(b: &mut FunctionBuilder, x: Value) -> Result<Value, MathError> {
    let l = Lanes::of(b, x, "sin")?;
    Ok(trig::trig_lanes(b, l, x, Trig::Sin))
}

/// Cosine; same domain and special cases as [`sin`].
///
/// Measured max error: 1 ulp (f32), 1 ulp (f64).
pub fn cos(b: &mut FunctionBuilder, x: Value) -> Result<Value, MathError> {
    let l = Lanes::of(b, x, "cos")?;
    Ok(trig::trig_lanes(b, l, x, Trig::Cos))
}

/// Error function (for exact GELU). erf(±inf) = ±1, erf(±0) = ±0, NaN gives NaN.
///
/// Measured max error: 3 ulp (f32), 2 ulp (f64).
pub fn erf(b: &mut FunctionBuilder, x: Value) -> Result<Value, MathError> {
    let l = Lanes::of(b, x, "erf")?;
    Ok(erf::erf_lanes(b, l, x))
}

/// x^y with C99 `pow` special cases: pow(x, ±0) = 1 and pow(1, y) = 1 (even for NaN),
/// pow(-1, ±inf) = 1, negative finite x with non-integer y is NaN, odd integer y keeps the
/// sign of x (±0 and ±inf included), zeros and infinities give 0 or inf by the sign of y.
/// `x` and `y` must have the same type.
///
/// Measured max error: 1 ulp (f32), 2 + 2·|y·ln x| ulp (f64; 234 ulp measured at |y·ln x| ≈ 129).
pub fn pow(b: &mut FunctionBuilder, x: Value, y: Value) -> Result<Value, MathError> {
    let l = Lanes::of(b, x, "pow")?;
    let y_ty = b.func.dfg.value_type(y);
    if y_ty != l.float {
        return Err(MathError::MismatchedTypes {
            function: "pow",
            left: l.float,
            right: y_ty,
        });
    }
    Ok(pow::pow_lanes(b, l, x, y))
}

/// bf16 pattern (low 16 bits of `I32`/`I32X4`, or an `I16`) to `F32`/`F32X4`; exact.
pub fn bf16_bits_to_f32(b: &mut FunctionBuilder, bits: Value) -> Result<Value, MathError> {
    half::bf16_to_f32(b, bits)
}

/// `F32`/`F32X4` to bf16 patterns in the low 16 bits of `I32`/`I32X4` (upper bits zero):
/// round to nearest even, NaN stays a quiet NaN with its sign.
pub fn f32_to_bf16_bits(b: &mut FunctionBuilder, x: Value) -> Result<Value, MathError> {
    half::f32_to_bf16(b, x)
}

/// IEEE binary16 pattern (low 16 bits of `I32`/`I32X4`, or an `I16`) to `F32`/`F32X4`;
/// exact, subnormals, infinities and NaN included.
pub fn f16_bits_to_f32(b: &mut FunctionBuilder, bits: Value) -> Result<Value, MathError> {
    half::f16_to_f32(b, bits)
}

/// `F32`/`F32X4` to IEEE binary16 patterns in the low 16 bits of `I32`/`I32X4` (upper bits
/// zero): round to nearest even, f16 subnormals, overflow to ±inf, NaN to quiet NaN 0x7e00
/// with the input's sign.
pub fn f32_to_f16_bits(b: &mut FunctionBuilder, x: Value) -> Result<Value, MathError> {
    half::f32_to_f16(b, x)
}

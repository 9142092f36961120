//! Shared test harness for the `math_*` tests: JIT-compiles a math emitter into an
//! element-wise map kernel (vector loop plus scalar tail) and measures ulp errors.
#![allow(dead_code, reason = "each math_* test binary uses a different subset")]

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{AbiParam, InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};
use kiln_cpu::math::MathError;

/// Emits the element computation from one or two input values of the same type.
pub type Emit = fn(&mut FunctionBuilder, &[Value]) -> Result<Value, MathError>;

/// A compiled `fn(a, b, out, n)` that maps `n` input elements to `n` output elements.
pub struct MapKernel {
    _module: JITModule,
    entry: extern "C" fn(*const u8, *const u8, *mut u8, i64),
    in_size: usize,
    out_size: usize,
}

/// Compiles `emit` for inputs of lane type `in_lane` and outputs of lane type `out_lane`.
/// With `lanes > 1` the kernel runs a `lanes`-wide vector loop and finishes the remainder
/// with scalars; with `lanes == 1` it is scalar only. Panics (test code) if the emitter or
/// Cranelift rejects the types, and asserts the code has no relocations (no libcalls).
pub fn compile(in_lane: Type, out_lane: Type, lanes: u32, arity: usize, emit: Emit) -> MapKernel {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").expect("opt_level flag");
    let isa = cranelift_native::builder()
        .expect("host ISA")
        .finish(settings::Flags::new(flags))
        .expect("ISA flags");
    let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
    let ptr = module.target_config().pointer_type();
    let mut ctx = module.make_context();
    for _ in 0..3 {
        ctx.func.signature.params.push(AbiParam::new(ptr));
    }
    ctx.func.signature.params.push(AbiParam::new(types::I64));
    let mut fctx = FunctionBuilderContext::new();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        build_loops(&mut b, in_lane, out_lane, lanes, arity, emit);
        b.finalize(module.target_config());
    }
    let id = module
        .declare_function("map", Linkage::Export, &ctx.func.signature)
        .expect("declare");
    module
        .define_function(id, &mut ctx)
        .expect("Cranelift compiles the kernel");
    let relocs = ctx.compiled_code().expect("compiled").buffer.relocs().len();
    assert_eq!(relocs, 0, "math code must not need relocations (libcalls)");
    module.finalize_definitions().expect("finalize");
    let code = module.get_finalized_function(id);
    // SAFETY: the function was just compiled with this exact signature.
    let entry = unsafe {
        std::mem::transmute::<*const u8, extern "C" fn(*const u8, *const u8, *mut u8, i64)>(code)
    };
    MapKernel {
        _module: module,
        entry,
        in_size: in_lane.bytes() as usize,
        out_size: out_lane.bytes() as usize,
    }
}

fn build_loops(
    b: &mut FunctionBuilder,
    in_lane: Type,
    out_lane: Type,
    lanes: u32,
    arity: usize,
    emit: Emit,
) {
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let (a_ptr, b_ptr, out_ptr, n) = (params[0], params[1], params[2], params[3]);
    let zero = b.ins().iconst(types::I64, 0);
    let scalar_head = b.create_block();
    b.append_block_param(scalar_head, types::I64);
    if lanes > 1 {
        let head = b.create_block();
        b.append_block_param(head, types::I64);
        let body = b.create_block();
        b.ins().jump(head, &[zero.into()]);
        b.switch_to_block(head);
        let i = b.block_params(head)[0];
        let next = b.ins().iadd_imm_s(i, i64::from(lanes));
        let fits = b.ins().icmp(IntCC::SignedLessThanOrEqual, next, n);
        b.ins().brif(fits, body, &[], scalar_head, &[i.into()]);
        b.switch_to_block(body);
        element(
            b,
            in_lane.by(lanes).expect("vector type"),
            out_lane.by(lanes).expect("vector type"),
            [a_ptr, b_ptr, out_ptr],
            i,
            arity,
            emit,
        );
        b.ins().jump(head, &[next.into()]);
        b.seal_block(body);
        b.seal_block(head);
    } else {
        b.ins().jump(scalar_head, &[zero.into()]);
    }
    let body = b.create_block();
    let exit = b.create_block();
    b.switch_to_block(scalar_head);
    let i = b.block_params(scalar_head)[0];
    let more = b.ins().icmp(IntCC::SignedLessThan, i, n);
    b.ins().brif(more, body, &[], exit, &[]);
    b.switch_to_block(body);
    element(
        b,
        in_lane,
        out_lane,
        [a_ptr, b_ptr, out_ptr],
        i,
        arity,
        emit,
    );
    let next = b.ins().iadd_imm_s(i, 1);
    b.ins().jump(scalar_head, &[next.into()]);
    b.seal_block(body);
    b.seal_block(scalar_head);
    b.switch_to_block(exit);
    b.ins().return_(&[]);
    b.seal_block(exit);
    b.seal_block(entry);
}

fn element(
    b: &mut FunctionBuilder,
    in_ty: Type,
    out_ty: Type,
    ptrs: [Value; 3],
    i: Value,
    arity: usize,
    emit: Emit,
) {
    let flags = MemFlagsData::new().with_notrap();
    let in_offset = b.ins().imul_imm_s(i, i64::from(in_ty.lane_bits() / 8));
    let args: Vec<Value> = ptrs[..arity]
        .iter()
        .map(|&p| {
            let addr = b.ins().iadd(p, in_offset);
            b.ins().load(in_ty, flags, addr, 0)
        })
        .collect();
    let result = emit(b, &args).expect("emitter accepts the test types");
    assert_eq!(b.func.dfg.value_type(result), out_ty, "emitter result type");
    let out_offset = b.ins().imul_imm_s(i, i64::from(out_ty.lane_bits() / 8));
    let addr = b.ins().iadd(ptrs[2], out_offset);
    b.ins().store(flags, result, addr, 0);
}

impl MapKernel {
    /// Runs the kernel over `a` (and `b` for binary kernels, else pass `a` again).
    pub fn run<I: Copy, O: Copy + Default>(&self, a: &[I], b: &[I]) -> Vec<O> {
        assert_eq!(size_of::<I>(), self.in_size);
        assert_eq!(size_of::<O>(), self.out_size);
        assert_eq!(a.len(), b.len());
        let mut out = vec![O::default(); a.len()];
        let n = i64::try_from(a.len()).expect("length fits i64");
        (self.entry)(
            a.as_ptr().cast(),
            b.as_ptr().cast(),
            out.as_mut_ptr().cast(),
            n,
        );
        out
    }
}

/// Scalar-only and vector (plus tail) kernels for the same emitter.
pub struct Pair {
    pub scalar: MapKernel,
    pub vector: MapKernel,
}

impl Pair {
    pub fn new(in_lane: Type, out_lane: Type, arity: usize, emit: Emit) -> Pair {
        let lanes = 128 / in_lane.bits();
        Pair {
            scalar: compile(in_lane, out_lane, 1, arity, emit),
            vector: compile(in_lane, out_lane, lanes, arity, emit),
        }
    }

    /// Runs both kernels, asserts bit-identical results (NaN payloads may differ) and
    /// returns them.
    pub fn run<I: Copy, O: Copy + Default + Bits>(&self, a: &[I], b: &[I]) -> Vec<O> {
        let s: Vec<O> = self.scalar.run(a, b);
        let v: Vec<O> = self.vector.run(a, b);
        for (k, (x, y)) in s.iter().zip(&v).enumerate() {
            assert!(
                x.bits() == y.bits() || (x.is_nan() && y.is_nan()),
                "scalar and vector differ at element {k}: {:#x} vs {:#x}",
                x.bits(),
                y.bits()
            );
        }
        v
    }
}

/// Bit access for comparing outputs.
pub trait Bits {
    fn bits(&self) -> u64;
    fn is_nan(&self) -> bool;
}
impl Bits for f32 {
    fn bits(&self) -> u64 {
        u64::from(self.to_bits())
    }
    fn is_nan(&self) -> bool {
        f32::is_nan(*self)
    }
}
impl Bits for f64 {
    fn bits(&self) -> u64 {
        self.to_bits()
    }
    fn is_nan(&self) -> bool {
        f64::is_nan(*self)
    }
}
impl Bits for u32 {
    fn bits(&self) -> u64 {
        u64::from(*self)
    }
    fn is_nan(&self) -> bool {
        false
    }
}

/// Distance in representable values; NaN vs NaN is 0, NaN vs number is u64::MAX.
pub fn ulp_f32(a: f32, b: f32) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0
        } else {
            u64::MAX
        };
    }
    let key = |v: f32| {
        let bits = i64::from(v.to_bits() & 0x7fff_ffff);
        if v.is_sign_negative() { -bits } else { bits }
    };
    key(a).abs_diff(key(b))
}

pub fn ulp_f64(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0
        } else {
            u64::MAX
        };
    }
    let key = |v: f64| {
        let bits = i128::from(v.to_bits() & 0x7fff_ffff_ffff_ffff);
        if v.is_sign_negative() { -bits } else { bits }
    };
    u64::try_from(key(a).abs_diff(key(b))).unwrap_or(u64::MAX)
}

/// Deterministic xorshift64* generator.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }
}

/// 2^k built from bits (exact for subnormal k too).
pub fn pow2_f32(k: i32) -> f32 {
    if k >= -126 {
        f32::from_bits(((k + 127) as u32) << 23)
    } else {
        f32::from_bits(1 << (k + 149))
    }
}

pub fn pow2_f64(k: i32) -> f64 {
    if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        f64::from_bits(1 << (k + 1074))
    }
}

/// ±2^k for every f32 exponent, their neighbours, special values, random bit patterns and
/// `dense` uniform samples in [lo, hi].
pub fn f32_inputs(random: usize, dense: usize, lo: f64, hi: f64, seed: u64) -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
    ];
    for k in -149..128 {
        let p = pow2_f32(k);
        for x in [
            p,
            f32::from_bits(p.to_bits() + 1),
            f32::from_bits(p.to_bits().saturating_sub(1)),
        ] {
            v.push(x);
            v.push(-x);
        }
    }
    let mut rng = Rng::new(seed);
    v.extend((0..random).map(|_| f32::from_bits(rng.next_u64() as u32)));
    v.extend((0..dense).map(|_| rng.uniform(lo, hi) as f32));
    v
}

pub fn f64_inputs(random: usize, dense: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    let mut v = vec![
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
    ];
    for k in -1074..1024 {
        let p = pow2_f64(k);
        for x in [
            p,
            f64::from_bits(p.to_bits() + 1),
            f64::from_bits(p.to_bits().saturating_sub(1)),
        ] {
            v.push(x);
            v.push(-x);
        }
    }
    let mut rng = Rng::new(seed);
    v.extend((0..random).map(|_| f64::from_bits(rng.next_u64())));
    v.extend((0..dense).map(|_| rng.uniform(lo, hi)));
    v
}

/// Max ulp error of `got` against `want` over `inputs`, with the worst input for messages.
pub fn max_ulp_f32(inputs: &[f32], got: &[f32], want: impl Fn(f32) -> f32) -> (u64, f32) {
    let mut worst = (0, 0.0);
    for (&x, &g) in inputs.iter().zip(got) {
        let e = ulp_f32(g, want(x));
        if e > worst.0 {
            worst = (e, x);
        }
    }
    worst
}

pub fn max_ulp_f64(inputs: &[f64], got: &[f64], want: impl Fn(f64) -> f64) -> (u64, f64) {
    let mut worst = (0, 0.0);
    for (&x, &g) in inputs.iter().zip(got) {
        let e = ulp_f64(g, want(x));
        if e > worst.0 {
            worst = (e, x);
        }
    }
    worst
}

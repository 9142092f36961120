//! Payne-Hanek argument reduction for `sin`/`cos` of large arguments (|x| >= 2^19).
//!
//! The Cody-Waite reduction in `trig` multiplies k = round(2x/π) by π/2 split into a few
//! parts, which is exact only while k is small: from |x| ~ 1e11 (f32) / 4e9 (f64) results
//! lose accuracy and by 1e30 they are garbage. Here x·(2/π) is instead computed mod 4 from
//! 2/π's bits, 24 at a time (fdlibm's `ipio2` table): every product of a part of x with a
//! 24-bit chunk is exact in f64, its value mod 4 is exact too (an integer part is dropped),
//! and the reduced terms are summed in double-double. A chunk whose products are multiples of
//! 4 contributes 0 by itself; the chunks far below x's last bit contribute nothing visible. So
//! every lane runs the same code: a loop over all chunks, read from a table the code stores in
//! a stack slot (no relocation, no per-lane lookup). The kernel only enters it when some lane
//! needs it: the common case pays one compare and branch.
//!
//! The result is k (mod 4) and y0 + y1 = the reduced argument in [-π/4, π/4], with an absolute
//! error around 2^-100: an f64 argument within ~2^-50 of a multiple of π/2 keeps fewer than 53
//! correct bits of its (tiny) sine or cosine. No f32 argument comes that close.
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Value, types,
};
use cranelift_frontend::FunctionBuilder;

use super::lanes::{Lanes, select};

/// Below this the Cody-Waite reduction is exact (k < 2^20 for both the f32 and f64 splits).
pub(crate) const LARGE: f64 = 524_288.0;

/// 2/π in 24-bit chunks: 2/π = Σ TWO_OVER_PI[i]·2^(-24(i+1)). 48 chunks (1152 bits) cover
/// f64's range: the last chunk that matters for x < 2^1024 is about the (1024+110)/24-th.
/// Generated with mpmath (`floor(2/pi * 2^1152)`, 1400-bit precision); the first entries are
/// fdlibm's `ipio2`.
const TWO_OVER_PI: [u32; 48] = [
    0xA2F983, 0x6E4E44, 0x1529FC, 0x2757D1, 0xF534DD, 0xC0DB62, 0x95993C, 0x439041, 0xFE5163,
    0xABDEBB, 0xC561B7, 0x246E3A, 0x424DD2, 0xE00649, 0x2EEA09, 0xD1921C, 0xFE1DEB, 0x1CB129,
    0xA73EE8, 0x8235F5, 0x2EBB44, 0x84E99C, 0x7026B4, 0x5F7E41, 0x3991D6, 0x398353, 0x39F49C,
    0x845F8B, 0xBDF928, 0x3B1FF8, 0x97FFDE, 0x05980F, 0xEF2F11, 0x8B5A0A, 0x6D1F6D, 0x367ECF,
    0x27CB09, 0xB74F46, 0x3F669E, 0x5FEA2D, 0x7527BA, 0xC7EBE5, 0xF17B3D, 0x0739F7, 0x8A5292,
    0xEA6BFB, 0x5FB11F, 0x8D5D08,
];
/// f32 arguments (|x| < 2^128, 24 significant bits) need the first 11 chunks.
const F32_CHUNKS: usize = 11;
/// x is scaled by 2^-600 (exactly: the lanes that take this path have |x| >= 2^19) and the
/// chunks by 2^600, so that the late chunks (down to 2^-1152) are normal f64 numbers and the
/// first ones times the largest x (2^1024 · 2^-600 · 2^599) do not overflow.
const SCALE: i32 = 600;
/// π/2 rounded to f64, and the rest of π/2.
const PIO2: f64 = std::f64::consts::FRAC_PI_2;
const PIO2_TAIL: f64 = 6.123_233_995_736_766e-17;
/// Clears the low 27 mantissa bits: the high part of a split into 26 + 27 bits.
const HIGH_26: i64 = 0xFFFF_FFFF_F800_0000_u64 as i64;

/// Chunk `i` times 2^`scale` (exact: 24 bits times a power of two).
fn chunk(i: usize, scale: i32) -> f64 {
    let e = scale - 24 * (i as i32 + 1);
    f64::from(TWO_OVER_PI[i]) * 2f64.powi(e)
}

/// `(y0, y1, k)` of the Cody-Waite path, replaced in the lanes with |x| >= [`LARGE`] by the
/// Payne-Hanek reduction; that code runs only when at least one lane needs it.
pub(crate) fn with_large_arguments(
    b: &mut FunctionBuilder,
    l: Lanes,
    x: Value,
    full: bool,
    fast: (Value, Value, Value),
) -> (Value, Value, Value) {
    let ax = b.ins().fabs(x);
    let limit = l.fconst(b, LARGE);
    // NaN compares false and stays on the fast path (which gives NaN); inf goes slow (NaN).
    let large = l.fcmp(b, FloatCC::GreaterThanOrEqual, ax, limit);
    let any = if l.float.is_vector() {
        b.ins().vany_true(large)
    } else {
        large
    };
    let slow = b.create_block();
    let done = b.create_block();
    for ty in [l.float, l.float, l.int] {
        b.append_block_param(done, ty);
    }
    let (y0, y1, k) = fast;
    b.ins()
        .brif(any, slow, &[], done, &[y0.into(), y1.into(), k.into()]);
    b.seal_block(slow);
    b.switch_to_block(slow);
    let (ly0, ly1, lk) = payne_hanek(b, l, x, full);
    let y0 = select(b, large, ly0, y0);
    let y1 = select(b, large, ly1, y1);
    let k = select(b, large, lk, k);
    b.ins().jump(done, &[y0.into(), y1.into(), k.into()]);
    b.seal_block(done);
    b.switch_to_block(done);
    let p = b.block_params(done).to_vec();
    (p[0], p[1], p[2])
}

/// x·(2/π) = k + f (mod 4) with |f| <= 1/2, and y0 + y1 = f·π/2. The chunks are summed by a
/// loop over a table in a stack slot (no relocation; unrolled, the 48 f64 chunks made a
/// kernel take seconds to compile).
fn payne_hanek(b: &mut FunctionBuilder, l: Lanes, x: Value, full: bool) -> (Value, Value, Value) {
    let chunks = if full { TWO_OVER_PI.len() } else { F32_CHUNKS };
    // Exact, and normal: the lanes whose results are kept have |x| >= 2^19.
    let down = l.fconst(b, 2f64.powi(-SCALE));
    let xs = b.ins().fmul(x, down);
    let parts = if full {
        let hi = high_part(b, l, xs);
        let lo = b.ins().fsub(xs, hi);
        vec![hi, lo]
    } else {
        // An f32 argument has 24 significant bits: its products with 24-bit chunks are exact.
        vec![xs]
    };
    let bytes = u32::try_from(chunks * 8).expect("a small table");
    let slot = b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, bytes, 3));
    for i in 0..chunks {
        let c = b.ins().f64const(chunk(i, SCALE));
        b.ins().stack_store(types::I64, c, slot, (i * 8) as i32);
    }
    let base = b.ins().stack_addr(types::I64, slot, 0);

    let head = b.create_block();
    let body = b.create_block();
    let exit = b.create_block();
    let i = b.append_block_param(head, types::I64);
    let s = b.append_block_param(head, l.float);
    let c = b.append_block_param(head, l.float);
    let start = b.ins().iconst(types::I64, 0);
    let zero = l.fconst(b, 0.0);
    b.ins()
        .jump(head, &[start.into(), zero.into(), zero.into()]);
    b.switch_to_block(head);
    let more = b.ins().icmp_imm_s(IntCC::SignedLessThan, i, chunks as i64);
    b.ins().brif(more, body, &[], exit, &[]);
    b.seal_block(body);
    b.seal_block(exit);

    b.switch_to_block(body);
    let offset = b.ins().ishl_imm_u(i, 3);
    let addr = b.ins().iadd(base, offset);
    let ci = b.ins().load(types::F64, MemFlagsData::trusted(), addr, 0);
    let ci = if l.float.is_vector() {
        b.ins().splat(l.float, ci)
    } else {
        ci
    };
    let (mut s_next, mut c_next) = (s, c);
    for &part in &parts {
        let p = b.ins().fmul(part, ci);
        let t = mod4(b, l, p);
        (s_next, c_next) = accumulate(b, l, s_next, c_next, t);
    }
    let i_next = b.ins().iadd_imm_s(i, 1);
    b.ins()
        .jump(head, &[i_next.into(), s_next.into(), c_next.into()]);
    b.seal_block(head);

    b.switch_to_block(exit);
    // s + c in [-2, 2] (about); take out the nearest integer twice so |f| <= 1/2.
    let (k1f, k1) = l.round_to_int(b, s);
    let d = b.ins().fsub(s, k1f);
    let (fh, fl) = two_sum(b, d, c);
    let (k2f, k2) = l.round_to_int(b, fh);
    let fh = b.ins().fsub(fh, k2f);
    let k = b.ins().iadd(k1, k2);
    let (y0, y1) = times_pio2(b, l, fh, fl);
    (y0, y1, k)
}

/// `v` with its low 27 mantissa bits cleared (26 significant bits; `v - high` is exact).
fn high_part(b: &mut FunctionBuilder, l: Lanes, v: Value) -> Value {
    let bits = l.float_to_bits(b, v);
    let mask = l.iconst(b, HIGH_26);
    let hi = b.ins().band(bits, mask);
    l.bits_to_float(b, hi)
}

/// `p` mod 4 in [-2, 2], exactly: 4·(q - round(q)) with q = p/4. For |q| >= 2^52, q is an
/// integer (the result is 0); for inf it is NaN.
fn mod4(b: &mut FunctionBuilder, l: Lanes, p: Value) -> Value {
    let quarter = l.fconst(b, 0.25);
    let q = b.ins().fmul(p, quarter);
    let a = b.ins().fabs(q);
    let shift = l.fconst(b, 2f64.powi(52));
    let up = b.ins().fadd(a, shift);
    let rounded = b.ins().fsub(up, shift);
    let integral = l.fcmp(b, FloatCC::GreaterThanOrEqual, a, shift);
    let r = select(b, integral, a, rounded);
    let f = b.ins().fsub(a, r);
    // Give f the sign of q: flip its sign bit where q's is set.
    let sign = l.iconst(b, l.sign_bit());
    let q_bits = l.float_to_bits(b, q);
    let q_sign = b.ins().band(q_bits, sign);
    let f_bits = l.float_to_bits(b, f);
    let signed = b.ins().bxor(f_bits, q_sign);
    let f = l.bits_to_float(b, signed);
    let four = l.fconst(b, 4.0);
    b.ins().fmul(f, four)
}

/// Knuth's two-sum: `a + b = s + e` exactly.
fn two_sum(b: &mut FunctionBuilder, x: Value, y: Value) -> (Value, Value) {
    let s = b.ins().fadd(x, y);
    let bb = b.ins().fsub(s, x);
    let ab = b.ins().fsub(s, bb);
    let ea = b.ins().fsub(x, ab);
    let eb = b.ins().fsub(y, bb);
    let e = b.ins().fadd(ea, eb);
    (s, e)
}

/// (s, c) + t in double-double, with s kept in [-2, 2] by dropping multiples of 4 (exact).
fn accumulate(b: &mut FunctionBuilder, l: Lanes, s: Value, c: Value, t: Value) -> (Value, Value) {
    let (s, e) = two_sum(b, s, t);
    let c = b.ins().fadd(c, e);
    let quarter = l.fconst(b, 0.25);
    let q = b.ins().fmul(s, quarter);
    let (qf, _) = l.round_to_int(b, q);
    let four = l.fconst(b, 4.0);
    let whole = b.ins().fmul(qf, four);
    (b.ins().fsub(s, whole), c)
}

/// (fh + fl)·π/2 as y0 + y1, with fh·π/2's rounding error recovered by Dekker's product
/// (splits into 26 + 27 bits; no FMA, so hosts with and without one agree).
fn times_pio2(b: &mut FunctionBuilder, l: Lanes, fh: Value, fl: Value) -> (Value, Value) {
    let pio2 = l.fconst(b, PIO2);
    let p = b.ins().fmul(fh, pio2);
    let a1 = high_part(b, l, fh);
    let a2 = b.ins().fsub(fh, a1);
    let p_hi = f64::from_bits(PIO2.to_bits() & (HIGH_26 as u64));
    let b1 = l.fconst(b, p_hi);
    let b2 = l.fconst(b, PIO2 - p_hi);
    let a1b1 = b.ins().fmul(a1, b1);
    let a1b2 = b.ins().fmul(a1, b2);
    let a2b1 = b.ins().fmul(a2, b1);
    let a2b2 = b.ins().fmul(a2, b2);
    let err = b.ins().fsub(a1b1, p);
    let err = b.ins().fadd(err, a1b2);
    let err = b.ins().fadd(err, a2b1);
    let err = b.ins().fadd(err, a2b2);
    let tail = l.fconst(b, PIO2_TAIL);
    let t1 = b.ins().fmul(fh, tail);
    let t2 = b.ins().fmul(fl, pio2);
    let t = b.ins().fadd(t1, t2);
    let y1 = b.ins().fadd(err, t);
    let y0 = b.ins().fadd(p, y1);
    let moved = b.ins().fsub(y0, p);
    let y1 = b.ins().fsub(y1, moved);
    (y0, y1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunks are 2/π: their sum is FRAC_2_PI to f64 precision, and the scaled set is
    /// the same numbers times 2^600.
    #[test]
    fn chunks_are_two_over_pi() {
        let sum: f64 = (0..6).map(|i| chunk(i, 0)).sum();
        assert_eq!(sum, std::f64::consts::FRAC_2_PI);
        for (i, &bits) in TWO_OVER_PI.iter().enumerate() {
            let c = chunk(i, SCALE);
            assert!(c.is_normal(), "chunk {i} scaled is {c:e}");
            assert_eq!(c / 2f64.powi(SCALE - 24 * (i as i32 + 1)), f64::from(bits));
        }
        assert!(TWO_OVER_PI.iter().all(|&c| c < 1 << 24));
    }

    #[test]
    fn pio2_tail_is_the_rest_of_pi_over_2() {
        // π/2 = 1.5707963267948966192313216916397514...; PIO2 is below it by ~6.12e-17.
        assert_eq!(PIO2.to_bits(), 0x3FF9_21FB_5444_2D18);
        assert!((PIO2_TAIL - 6.123_233_995_736_766e-17).abs() < 1e-32);
    }
}

//! Gather-family steps on the CPU ([`IndexCall`]): `index_select`/`embedding` and `gather`
//! copy elements as bytes (any dtype), `scatter_add` and `index_add` copy the input and add
//! into it in the element type (f16/bf16 through f32, as torch's CPU kernels).
//!
//! Every index is checked against its dim before any element is read or written, so a bad
//! index is a typed [`RunError::IndexOutOfRange`] and the output is untouched. The buffers are
//! used as byte slices whose lengths [`IndexCall::launch`] proved inside them, so all further
//! addressing is bounds-checked slice indexing. Independent rows run in parallel with rayon;
//! the additions keep torch's CPU order (positions of the index in C order per target).
use std::borrow::Cow;

use half::{bf16, f16};
use kiln_ir::DType;
use kiln_sched::{IndexAt, IndexCall, IndexKind};
use rayon::prelude::*;

use crate::error::RunError;

/// Rows below this many bytes are grouped so that rayon's tasks are not too small.
const MIN_TASK_BYTES: usize = 16 * 1024;

pub(crate) fn run(c: &IndexCall, at: &IndexAt, ptrs: &[*mut u8]) -> Result<(), RunError> {
    let es = c.dtype.size();
    let ptr = |b: u32| {
        ptrs.get(b as usize).copied().ok_or_else(|| {
            super::unsupported(
                &kiln_sched::LibraryCall::Index(Box::new(c.clone())),
                "a buffer has no pointer",
            )
        })
    };
    let n = |s: &[usize]| s.iter().product::<usize>();
    // SAFETY: `launch` proved each buffer holds at least these many elements; the index buffer
    // is read only here, and the output is a separate buffer nothing else touches meanwhile.
    let index = unsafe { read_i64(ptr(c.index)?, n(&at.index)) };
    let d = c.dim;
    let size = at.input[d];
    let idx = checked(c, &index, d, size)?;
    let input =
        unsafe { std::slice::from_raw_parts(ptr(c.input)? as *const u8, n(&at.input) * es) };
    if at.out_len == 0 {
        return Ok(());
    }
    let out = unsafe { std::slice::from_raw_parts_mut(ptr(c.out)?, at.out_len * es) };
    let src = match c.src {
        Some(b) => unsafe { std::slice::from_raw_parts(ptr(b)? as *const u8, n(&at.src) * es) },
        None => &[],
    };
    match c.kind {
        IndexKind::IndexSelect => index_select(input, &idx, at, d, es, out),
        IndexKind::Gather => gather(input, &idx, at, d, es, out),
        IndexKind::ScatterAdd | IndexKind::IndexAdd => {
            out.copy_from_slice(input);
            match c.dtype {
                DType::F32 => accumulate::<f32>(c, at, &idx, src, out),
                DType::F64 => accumulate::<f64>(c, at, &idx, src, out),
                DType::F16 => accumulate::<f16>(c, at, &idx, src, out),
                DType::BF16 => accumulate::<bf16>(c, at, &idx, src, out),
                DType::I64 => accumulate::<i64>(c, at, &idx, src, out),
                DType::Bool => accumulate::<bool>(c, at, &idx, src, out),
            }
        }
    }
    Ok(())
}

/// The index buffer's values (borrowed when aligned, else copied).
///
/// # Safety
/// `ptr` points at `len` initialised i64s that nothing writes while the result lives.
unsafe fn read_i64<'a>(ptr: *const u8, len: usize) -> Cow<'a, [i64]> {
    let p = ptr as *const i64;
    if len == 0 {
        Cow::Owned(Vec::new())
    } else if p.is_aligned() {
        // SAFETY: aligned and `len` elements readable (the caller's contract).
        Cow::Borrowed(unsafe { std::slice::from_raw_parts(p, len) })
    } else {
        // SAFETY: as above, without the alignment.
        Cow::Owned(
            (0..len)
                .map(|i| unsafe { p.add(i).read_unaligned() })
                .collect(),
        )
    }
}

/// The indices as positions in a dim of `size`, or the first one outside it.
fn checked(c: &IndexCall, index: &[i64], dim: usize, size: usize) -> Result<Vec<usize>, RunError> {
    index
        .iter()
        .map(|&v| match usize::try_from(v) {
            Ok(u) if u < size => Ok(u),
            _ => Err(RunError::IndexOutOfRange {
                node: c.node.clone(),
                op: op_name(c.kind).to_string(),
                index: v,
                dim,
                size,
            }),
        })
        .collect()
}

fn op_name(kind: IndexKind) -> &'static str {
    match kind {
        IndexKind::IndexSelect => "index_select",
        IndexKind::Gather => "gather",
        IndexKind::ScatterAdd => "scatter_add",
        IndexKind::IndexAdd => "index_add",
    }
}

/// C-order strides of a shape, in elements.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Rows of `inner` elements per output row `(o, k)`, copied from input row `(o, idx[k])`.
fn index_select(input: &[u8], idx: &[usize], at: &IndexAt, d: usize, es: usize, out: &mut [u8]) {
    let inner: usize = at.input[d + 1..].iter().product();
    let (size, k) = (at.input[d], idx.len());
    let row = inner * es;
    let min_rows = (MIN_TASK_BYTES / row.max(1)).max(1);
    out.par_chunks_mut(row)
        .with_min_len(min_rows)
        .enumerate()
        .for_each(|(r, dst)| {
            let (o, j) = (r / k, r % k);
            let from = (o * size + idx[j]) * row;
            dst.copy_from_slice(&input[from..from + row]);
        });
}

/// `out[p] = input[p with p[d] = idx[p]]` for every C-order position `p` of the index.
fn gather(input: &[u8], idx: &[usize], at: &IndexAt, d: usize, es: usize, out: &mut [u8]) {
    let (is, xst) = (&at.index, strides(&at.input));
    let ist = strides(is);
    let row = is.last().copied().unwrap_or(1).max(1);
    let min_rows = (MIN_TASK_BYTES / (row * es)).max(1);
    out.par_chunks_mut(row * es)
        .with_min_len(min_rows)
        .enumerate()
        .for_each(|(r, dst)| {
            for (e, cell) in dst.chunks_exact_mut(es).enumerate() {
                let flat = r * row + e;
                let at = offset(flat, idx[flat], d, is, &ist, &xst);
                cell.copy_from_slice(&input[at * es..(at + 1) * es]);
            }
        });
}

/// The offset in a tensor of strides `xst` of index position `flat` (shape `is`, strides
/// `ist`) with its coordinate `d` replaced by `r`.
fn offset(flat: usize, r: usize, d: usize, is: &[usize], ist: &[usize], xst: &[usize]) -> usize {
    let mut at = 0;
    for j in 0..is.len() {
        let p = if j == d { r } else { flat / ist[j] % is[j] };
        at += p * xst[j];
    }
    at
}

/// An element type that the additions run in, read and written as native-endian bytes (the
/// buffers are byte allocations with no alignment promise).
trait Elem: Copy + Send + Sync {
    const SIZE: usize;
    fn load(b: &[u8]) -> Self;
    fn store(self, b: &mut [u8]);
    /// `self + alpha * other` in torch's arithmetic for the type.
    fn add(self, other: Self, alpha: f64) -> Self;
}

macro_rules! elem {
    ($t:ty, $n:expr, |$a:ident, $o:ident, $alpha:ident| $body:expr) => {
        impl Elem for $t {
            const SIZE: usize = $n;
            fn load(b: &[u8]) -> Self {
                <$t>::from_ne_bytes(b[..$n].try_into().expect("element width"))
            }
            fn store(self, b: &mut [u8]) {
                b[..$n].copy_from_slice(&self.to_ne_bytes());
            }
            fn add(self, $o: Self, $alpha: f64) -> Self {
                let $a = self;
                $body
            }
        }
    };
}

elem!(f32, 4, |a, o, alpha| if alpha == 1.0 {
    a + o
} else {
    a + alpha as f32 * o
});
elem!(f64, 8, |a, o, alpha| if alpha == 1.0 {
    a + o
} else {
    a + alpha * o
});
elem!(i64, 8, |a, o, alpha| a
    .wrapping_add(o.wrapping_mul(alpha as i64)));
elem!(f16, 2, |a, o, alpha| f16::from_f32(
    a.to_f32() + alpha as f32 * o.to_f32()
));
elem!(bf16, 2, |a, o, alpha| bf16::from_f32(
    a.to_f32() + alpha as f32 * o.to_f32()
));

impl Elem for bool {
    const SIZE: usize = 1;
    fn load(b: &[u8]) -> Self {
        b[0] != 0
    }
    fn store(self, b: &mut [u8]) {
        b[0] = self as u8;
    }
    fn add(self, other: Self, alpha: f64) -> Self {
        self || (other && alpha != 0.0)
    }
}

/// `out[at] += alpha * src[from]` on byte slices of `T`s.
fn add_at<T: Elem>(out: &mut [u8], at: usize, src: &[u8], from: usize, alpha: f64) {
    let cell = &mut out[at * T::SIZE..(at + 1) * T::SIZE];
    let v = T::load(cell).add(T::load(&src[from * T::SIZE..]), alpha);
    v.store(cell);
}

/// The additions of `scatter_add`/`index_add` into `out` (already a copy of the input).
fn accumulate<T: Elem>(c: &IndexCall, at: &IndexAt, idx: &[usize], src: &[u8], out: &mut [u8]) {
    let d = c.dim;
    let xst = strides(&at.input);
    if c.kind == IndexKind::IndexAdd {
        let (size, inner, k) = (at.input[d], xst[d], idx.len());
        // Each outer slab of the output gets the contributions of the same slab of the source.
        let slab = size * inner * T::SIZE;
        out.par_chunks_mut(slab.max(1))
            .enumerate()
            .for_each(|(o, dst)| {
                for (j, &r) in idx.iter().enumerate() {
                    for i in 0..inner {
                        add_at::<T>(dst, r * inner + i, src, (o * k + j) * inner + i, c.alpha);
                    }
                }
            });
        return;
    }
    let (is, ss) = (&at.index, strides(&at.src));
    let ist = strides(is);
    let src_at = |flat: usize| {
        (0..is.len())
            .map(|j| flat / ist[j] % is[j] * ss[j])
            .sum::<usize>()
    };
    if d == 0 || is.len() == 1 {
        for (flat, &r) in idx.iter().enumerate() {
            add_at::<T>(
                out,
                offset(flat, r, d, is, &ist, &xst),
                src,
                src_at(flat),
                1.0,
            );
        }
        return;
    }
    // Dim 0 is not scattered along: index rows p0 write output slab p0 only.
    let slab = xst[0] * T::SIZE;
    out.par_chunks_mut(slab.max(1))
        .take(is[0])
        .enumerate()
        .for_each(|(p0, dst)| {
            let first = p0 * ist[0];
            for (flat, &r) in idx.iter().enumerate().skip(first).take(ist[0]) {
                let at = offset(flat, r, d, is, &ist, &xst) - p0 * xst[0];
                add_at::<T>(dst, at, src, src_at(flat), 1.0);
            }
        });
}

//! NumPy `.npy` files: read into a [`Tensor`] of a declared dtype, write a [`Tensor`].
//!
//! Supported: format versions 1–3, C order, little- or big-endian floats (f2/f4/f8), bools
//! and integers. A float file of a wider dtype than the declared one is rounded to nearest
//! even, as NumPy's `astype` does (f64 is NumPy's default, so most arrays arrive as f64), and
//! the caller is told how many values changed; [`Conversion::Exact`] refuses any value that
//! would change instead. f32 → bf16 always rounds: bf16 has no NumPy dtype, so bf16 inputs
//! travel as f32. Integers and bools convert only when exact. Outputs are written as version
//! 1.0 files; bf16 is widened to f32.
mod round;

use std::path::Path;

use half::{bf16, f16};
use kiln_ir::{DType, Tensor};

pub use round::{bf16_from_f32, f16_from_f64};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// What is wrong with an `.npy` file (the caller adds which file).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NpyError {
    #[error("not an .npy file (no \\x93NUMPY magic)")]
    NoMagic,
    #[error("unsupported .npy format version {0}.{1}")]
    Version(u8, u8),
    #[error("the file ends inside the header")]
    TruncatedHeader,
    #[error("malformed header {header:?}: {why}")]
    Header { header: String, why: &'static str },
    #[error("Fortran-order arrays are not supported; save a C-order array (np.ascontiguousarray)")]
    FortranOrder,
    #[error("unsupported dtype {0:?} (supported: f2, f4, f8, b1, integers)")]
    Dtype(String),
    #[error("shape {shape:?} has {expected} bytes of data but the file holds {found}")]
    DataSize {
        shape: Vec<usize>,
        expected: usize,
        found: usize,
    },
    #[error("the shape {0:?} has too many elements")]
    TooLarge(Vec<usize>),
    #[error("{from} value {value} at flat index {index} is not exactly representable as {to}")]
    Inexact {
        from: String,
        to: DType,
        value: String,
        index: usize,
    },
}

/// The element type of a file, as its `descr` says.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Elem {
    Float(usize),
    Bool,
    Int { size: usize, signed: bool },
}

#[derive(Debug, Clone, Copy)]
struct Descr {
    elem: Elem,
    big_endian: bool,
}

impl Descr {
    fn parse(text: &str) -> Option<Descr> {
        let mut chars = text.chars();
        let order = chars.next()?;
        let big_endian = match order {
            '<' | '|' | '=' => false,
            '>' => true,
            _ => return None,
        };
        let kind = chars.next()?;
        let size: usize = chars.as_str().parse().ok()?;
        let elem = match (kind, size) {
            ('f', 2 | 4 | 8) => Elem::Float(size),
            ('b', 1) => Elem::Bool,
            ('i', 1 | 2 | 4 | 8) => Elem::Int { size, signed: true },
            ('u', 1 | 2 | 4 | 8) => Elem::Int {
                size,
                signed: false,
            },
            _ => return None,
        };
        Some(Descr { elem, big_endian })
    }

    fn size(&self) -> usize {
        match self.elem {
            Elem::Float(s) | Elem::Int { size: s, .. } => s,
            Elem::Bool => 1,
        }
    }

    fn name(&self) -> String {
        match self.elem {
            Elem::Float(s) => format!("float{}", s * 8),
            Elem::Bool => "bool".into(),
            Elem::Int { size, signed } => {
                format!("{}int{}", if signed { "" } else { "u" }, size * 8)
            }
        }
    }

    /// The dtype this file holds natively, if kiln has one.
    fn native(&self) -> Option<DType> {
        match self.elem {
            Elem::Float(2) => Some(DType::F16),
            Elem::Float(4) => Some(DType::F32),
            Elem::Float(8) => Some(DType::F64),
            Elem::Bool => Some(DType::Bool),
            Elem::Int {
                size: 8,
                signed: true,
            } => Some(DType::I64),
            _ => None,
        }
    }
}

/// One element as read: floats widen to f64 exactly; integers stay integers so that a large
/// int64 is never silently rounded on the way.
#[derive(Debug, Clone, Copy)]
enum Value {
    Float(f64),
    Int(i128),
}

impl Value {
    fn text(self) -> String {
        match self {
            Value::Float(v) => v.to_string(),
            Value::Int(v) => v.to_string(),
        }
    }
}

fn read_value(d: &Descr, bytes: &[u8]) -> Value {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    if d.big_endian {
        b[..n].reverse();
    }
    match d.elem {
        Elem::Float(2) => Value::Float(f16::from_le_bytes([b[0], b[1]]).to_f64()),
        Elem::Float(4) => Value::Float(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
        Elem::Float(_) => Value::Float(f64::from_le_bytes(b)),
        Elem::Bool => Value::Int(i128::from(b[0] != 0)),
        Elem::Int { size, signed } => {
            let raw = u64::from_le_bytes(b);
            let bits = size * 8;
            let v = if signed && bits < 64 && raw >> (bits - 1) & 1 == 1 {
                i128::from(raw) - (1i128 << bits)
            } else if signed && bits == 64 {
                i128::from(raw as i64)
            } else {
                i128::from(raw)
            };
            Value::Int(v)
        }
    }
}

/// The header dict: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
struct Header {
    descr: String,
    fortran: bool,
    shape: Vec<usize>,
}

fn field<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{name}'"))?;
    let rest = &header[at + name.len() + 2..];
    Some(rest.trim_start().strip_prefix(':')?.trim_start())
}

fn parse_header(text: &str) -> Result<Header, NpyError> {
    let bad = |why| NpyError::Header {
        header: text.trim().to_string(),
        why,
    };
    let descr = field(text, "descr").ok_or_else(|| bad("no 'descr'"))?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split_once('\''))
        .map(|(d, _)| d.to_string())
        .ok_or_else(|| bad("'descr' is not a string (structured dtypes are not supported)"))?;
    let fortran = field(text, "fortran_order").ok_or_else(|| bad("no 'fortran_order'"))?;
    let fortran = if fortran.starts_with("True") {
        true
    } else if fortran.starts_with("False") {
        false
    } else {
        return Err(bad("'fortran_order' is neither True nor False"));
    };
    let shape = field(text, "shape").ok_or_else(|| bad("no 'shape'"))?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.split_once(')'))
        .map(|(s, _)| s)
        .ok_or_else(|| bad("'shape' is not a tuple"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("'shape' holds something other than sizes"))?;
    Ok(Header {
        descr,
        fortran,
        shape,
    })
}

/// How values of a wider float dtype than the declared one are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Conversion {
    /// Round to nearest even, as `astype` does.
    #[default]
    Round,
    /// Refuse a value that would change (f32 → bf16 still rounds: it is the only way in).
    Exact,
}

/// A file read in another dtype than it holds: what it held and how many values changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// NumPy's name of the file's dtype (`float64`).
    pub from: String,
    pub to: DType,
    /// Values that the rounding changed, of `values`.
    pub rounded: usize,
    pub values: usize,
}

/// A decoded file, with a note when it was converted.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub tensor: Tensor,
    pub converted: Option<Converted>,
}

/// Reads `.npy` bytes as a tensor of dtype `want`, rounding wider floats (see the module doc).
pub fn decode(bytes: &[u8], want: DType) -> Result<Tensor, NpyError> {
    decode_with(bytes, want, Conversion::Round).map(|d| d.tensor)
}

/// Reads `.npy` bytes as a tensor of dtype `want`, converting as `mode` says.
pub fn decode_with(bytes: &[u8], want: DType, mode: Conversion) -> Result<Decoded, NpyError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(NpyError::NoMagic)?;
    let (&major, rest) = rest.split_first().ok_or(NpyError::TruncatedHeader)?;
    let (&minor, rest) = rest.split_first().ok_or(NpyError::TruncatedHeader)?;
    let (len, rest) = match major {
        1 => {
            let (l, r) = rest.split_at_checked(2).ok_or(NpyError::TruncatedHeader)?;
            (usize::from(u16::from_le_bytes([l[0], l[1]])), r)
        }
        2 | 3 => {
            let (l, r) = rest.split_at_checked(4).ok_or(NpyError::TruncatedHeader)?;
            let len = u32::from_le_bytes([l[0], l[1], l[2], l[3]]);
            (
                usize::try_from(len).map_err(|_| NpyError::TruncatedHeader)?,
                r,
            )
        }
        _ => return Err(NpyError::Version(major, minor)),
    };
    let (header, data) = rest
        .split_at_checked(len)
        .ok_or(NpyError::TruncatedHeader)?;
    let header = parse_header(&String::from_utf8_lossy(header))?;
    if header.fortran {
        return Err(NpyError::FortranOrder);
    }
    let descr = Descr::parse(&header.descr).ok_or(NpyError::Dtype(header.descr.clone()))?;
    let numel = header
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| NpyError::TooLarge(header.shape.clone()))?;
    let expected = numel
        .checked_mul(descr.size())
        .ok_or_else(|| NpyError::TooLarge(header.shape.clone()))?;
    if data.len() != expected {
        return Err(NpyError::DataSize {
            shape: header.shape,
            expected,
            found: data.len(),
        });
    }
    // The common case: the file already holds the declared dtype in memory order.
    if descr.native() == Some(want) && (!descr.big_endian || descr.size() == 1) {
        let data = if want == DType::Bool {
            data.iter().map(|&b| u8::from(b != 0)).collect()
        } else {
            data.to_vec()
        };
        return Ok(Decoded {
            tensor: Tensor {
                dtype: want,
                shape: header.shape,
                data: data.into(),
            },
            converted: None,
        });
    }
    let rounds = float_rounds(&descr, want, mode);
    let mut out = Vec::with_capacity(numel * want.size());
    let mut rounded = 0;
    for (index, chunk) in data.chunks_exact(descr.size()).enumerate() {
        let value = read_value(&descr, chunk);
        let inexact = || NpyError::Inexact {
            from: descr.name(),
            to: want,
            value: value.text(),
            index,
        };
        let exact = exact_value(value, want).ok_or_else(inexact)?;
        let target = round::round_to(want, exact);
        if target != exact && !exact.is_nan() {
            if !rounds {
                return Err(inexact());
            }
            rounded += 1;
        }
        push(&mut out, want, target);
    }
    // A byte-swapped file of the declared dtype is no conversion worth reporting.
    let converted = (descr.native() != Some(want)).then(|| Converted {
        from: descr.name(),
        to: want,
        rounded,
        values: numel,
    });
    Ok(Decoded {
        tensor: Tensor {
            dtype: want,
            shape: header.shape,
            data: out.into(),
        },
        converted,
    })
}

/// Whether a file's floats are rounded to `want` (rather than required to be exact).
fn float_rounds(descr: &Descr, want: DType, mode: Conversion) -> bool {
    let Elem::Float(_) = descr.elem else {
        return false;
    };
    match want {
        // A float file feeds a bool or an index (i64) input only when every value is exact.
        DType::Bool | DType::I64 => false,
        // bf16 has no NumPy dtype: an f32 file is the way to feed it, rounded as PyTorch does.
        DType::BF16 if descr.elem == Elem::Float(4) => true,
        _ => mode == Conversion::Round,
    }
}

/// `value` as an f64, or `None` when it has no exact f64 or (for a bool) is not 0 or 1. Values
/// that `want` cannot hold exactly are the caller's to round or refuse.
fn exact_value(value: Value, want: DType) -> Option<f64> {
    let v = match value {
        Value::Float(v) => v,
        Value::Int(i) => {
            // Integers up to 2^53 are exact in f64; larger ones must round-trip.
            let f = i as f64;
            if f as i128 != i {
                return None;
            }
            // An integer must convert exactly: only a float file is rounded.
            if round::round_to(want, f) != f {
                return None;
            }
            f
        }
    };
    match want {
        DType::Bool => (v == 0.0 || v == 1.0).then_some(v),
        _ => Some(v),
    }
}

/// Appends `v`, which `dtype` holds exactly, so the `half` conversions cannot round here.
fn push(out: &mut Vec<u8>, dtype: DType, v: f64) {
    match dtype {
        DType::Bool => out.push(u8::from(v != 0.0)),
        DType::F16 => out.extend_from_slice(&f16::from_f64(v).to_le_bytes()),
        DType::BF16 => out.extend_from_slice(&bf16::from_f64(v).to_le_bytes()),
        DType::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
        DType::F64 => out.extend_from_slice(&v.to_le_bytes()),
        DType::I64 => out.extend_from_slice(&(v as i64).to_le_bytes()),
    }
}

/// The `.npy` bytes of `t` (version 1.0, C order; bf16 widened to f32).
pub fn encode(t: &Tensor) -> Vec<u8> {
    let (descr, data) = match t.dtype {
        DType::Bool => ("|b1", t.data.to_vec()),
        DType::F16 => ("<f2", t.data.to_vec()),
        DType::F32 => ("<f4", t.data.to_vec()),
        DType::F64 => ("<f8", t.data.to_vec()),
        DType::I64 => ("<i8", t.data.to_vec()),
        DType::BF16 => (
            "<f4",
            t.data
                .chunks_exact(2)
                .flat_map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32().to_le_bytes())
                .collect(),
        ),
    };
    let shape = match t.shape.as_slice() {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64
    // and ended by a newline, as NumPy writes it.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    let len = u16::try_from(header.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

/// Writes `t` to `path`.
pub fn write(path: &Path, t: &Tensor) -> std::io::Result<()> {
    std::fs::write(path, encode(t))
}

#[cfg(test)]
mod tests;

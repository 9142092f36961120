//! Element types and PyTorch's type promotion.
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DType {
    Bool,
    F16,
    BF16,
    F32,
    F64,
    /// PyTorch's int64 (index tensors). Values are computed in f64, exact below 2^53.
    I64,
}

impl DType {
    pub const ALL: [DType; 6] = [
        DType::Bool,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
        DType::I64,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I64 => "i64",
        }
    }
    pub fn parse(s: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == s)
    }
    /// Bytes per element in memory (bool is one byte, 0 or 1).
    pub fn size(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::F16 | DType::BF16 => 2,
            DType::F32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }
    pub fn is_float(self) -> bool {
        !matches!(self, DType::Bool | DType::I64)
    }
    /// Whether PyTorch counts the dtype as an integer (bool is not one).
    pub fn is_int(self) -> bool {
        self == DType::I64
    }
    /// The type arithmetic is carried out in: f64 for f64 and i64 (integers are exact below
    /// 2^53), f32 for everything else.
    pub fn compute(self) -> DType {
        if matches!(self, DType::F64 | DType::I64) {
            DType::F64
        } else {
            DType::F32
        }
    }

    /// `torch.result_type` of two tensors: bool < i64 < floats; f16 with bf16 gives f32.
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::*;
        match (a, b) {
            (x, y) if x == y => x,
            (Bool, y) => y,
            (x, Bool) => x,
            (I64, y) => y,
            (x, I64) => x,
            (F16, BF16) | (BF16, F16) => F32,
            (x, y) => x.max(y),
        }
    }
    /// `torch.result_type` of some tensor operands, each `(dtype, is_0d)`, and (when
    /// `has_scalar`) a Python number, which kiln reads as a float. PyTorch's three tiers:
    /// dimensioned tensors decide the dtype; a 0-d tensor only does when its category (bool <
    /// float) is higher than theirs (`f16[3] + f32[]` is f16, `bool[3] + f32[]` is f32); a
    /// Python float only when it is higher than every tensor's, and then it is the default
    /// float type (f32). c10's `combine_categories` over (dimensioned, (0-d, scalar)).
    pub fn result_type(tensors: &[(DType, bool)], has_scalar: bool) -> DType {
        let tier = |zero_d: bool| {
            tensors
                .iter()
                .filter(|t| t.1 == zero_d)
                .map(|t| t.0)
                .reduce(DType::promote)
        };
        let scalar = has_scalar.then_some(DType::F32);
        let inner = combine_categories(tier(true), scalar);
        combine_categories(tier(false), inner).unwrap_or(DType::F32)
    }
    /// The result of a tensor with a Python float scalar (and of float math on a tensor): a
    /// bool or integer tensor becomes the default float type (f32); a float tensor keeps its
    /// dtype.
    pub fn promote_scalar(a: DType) -> DType {
        if a.is_float() { a } else { DType::F32 }
    }
}

/// c10's `combine_categories(higher, lower)`: a float `higher` wins; a bool or integer one
/// promotes with `lower` (which can only raise its category); `None` is an absent tier.
fn combine_categories(higher: Option<DType>, lower: Option<DType>) -> Option<DType> {
    match (higher, lower) {
        (Some(h), _) if h.is_float() => Some(h),
        (Some(h), Some(l)) => Some(DType::promote(h, l)),
        (h, l) => h.or(l),
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

//! The library call of the pool backward family: a scatter (each output gradient added into
//! its window of the input gradient), which the loop-nest kernel IR cannot express for max
//! pooling (the window's maximum is a reduction inside the gather) and which backends run as a
//! hand-written loop over planes.
use kiln_ir::{DType, Pool2d};
use kiln_shape::Expr;
use serde::{Deserialize, Serialize};

use super::BufId;

/// Which backward, with the forward's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum PoolBackwardKind {
    MaxPool2d(Pool2d),
    AvgPool2d(Pool2d),
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
}

impl PoolBackwardKind {
    /// The op's text name (`max_pool2d_backward`, ...).
    pub fn op_name(&self) -> &'static str {
        match self {
            PoolBackwardKind::MaxPool2d(_) => "max_pool2d_backward",
            PoolBackwardKind::AvgPool2d(_) => "avg_pool2d_backward",
            PoolBackwardKind::AdaptiveAvgPool2d => "adaptive_avg_pool2d_backward",
            PoolBackwardKind::AdaptiveMaxPool2d => "adaptive_max_pool2d_backward",
        }
    }

    /// Whether the call reads the forward input's values (to find each window's maximum).
    pub fn reads_input(&self) -> bool {
        matches!(
            self,
            PoolBackwardKind::MaxPool2d(_) | PoolBackwardKind::AdaptiveMaxPool2d
        )
    }
}

/// `out = <kind>_backward(grad_output, input)` over `planes` contiguous planes: `grad_output`
/// is `[planes, out_hw]`, `input` and `out` are `[planes, in_hw]` (every leading dim, `N, C`
/// or `C`, is a plane). `input` is only read by the max variants (`None` otherwise: the
/// average backward needs its shape, not its data). Every element of `out` is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolBackward {
    pub name: String,
    pub dtype: DType,
    pub kind: PoolBackwardKind,
    pub grad_output: BufId,
    pub input: Option<BufId>,
    pub out: BufId,
    pub planes: Expr,
    pub in_hw: [Expr; 2],
    pub out_hw: [Expr; 2],
}

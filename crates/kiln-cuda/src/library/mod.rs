//! The CUDA side of a program's library steps that needs no GPU: launch plans of convolutions
//! ([`conv`]) and the helper kernels they use (im2col, depthwise, k = 0 GEMMs), CUDA C in
//! `kernels/kiln_library.cuh` compiled by NVRTC into the program's cubin ([`helpers`]).
//! GEMM plans are in [`crate::cublas::plan`]; the runtime is `runtime/library.rs`.
pub mod conv;
pub mod helpers;

pub use conv::{ConvAlgo, ConvPlan, Geometry, plan_conv};
pub(crate) use helpers::refuse_unsupported;
pub use helpers::{helper_dtypes, helper_name};

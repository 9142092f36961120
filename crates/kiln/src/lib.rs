//! kiln: a tensor compiler with a built-in, guarded graph cache.
//!
//! ```no_run
//! use kiln::{CompileOptions, Compiler, Tensor};
//! let graph = kiln::parse("graph g\ninput x: f32[N]\ny = relu(x)\noutput y").unwrap();
//! let compiler = Compiler::new(CompileOptions::default());
//! let f = compiler.compile(&graph).unwrap();
//! let x = Tensor::from_f32(&[3], &[-1.0, 0.5, 2.0]);
//! let out = f.run(&[&x]).unwrap(); // first call: compile (or load from the cache), then run
//! ```
//!
//! A graph's weights are parameters (`param w: f32[4, 8]`): [`CompiledFunction::bind`] checks
//! them once and returns a [`Model`], called with the data inputs only; parameters are keyed by
//! name, dtype and shape, never by value, so models differing only in weights share an entry.
//! A caller's tensor that does not fit is [`KilnError::Input`] ([`InputError`]: the input or
//! parameter, dim, expected and found), whichever layer found it.
//!
//! See ARCHITECTURE.md for the path of a compile through the cache, and `backend.rs` for the
//! seam every code generator implements. Cargo feature `cuda` (on by default) builds the CUDA
//! backend; without it kiln links no CUDA library and `Backend::Cuda` is reported unavailable.

mod backend;
mod compiler;
mod error;
mod explain;
mod function;
mod key;
mod model;
mod options;
mod stats;
mod toolchain;
mod trainer;

pub use backend::{Emit, EmitOptions, Executable, emit};
pub use compiler::Compiler;
pub use error::KilnError;
pub use explain::{EntryExplanation, Explanation, NearestKey};
pub use function::CompiledFunction;
pub use key::{KeyComponent, kiln_identity};
pub use model::Model;
pub use options::{Backend, CacheSetting, CompileOptions, DynamicPolicy};
pub use stats::{CompileReport, CounterSnapshot, Outcome, Phases, process_counters};
pub use toolchain::{CudaToolchain, cuda_toolchain};
pub use trainer::Trainer;

/// Reverse-mode autodiff (the `kiln-grad` crate): [`grad`] builds the joint forward and
/// backward graph, [`train_step`] a training step with an optimizer's update.
pub use kiln_grad::{
    GradError, GradSpec, Optimizer, Partition, Seed, TrainSpec, grad, grad_name, partition,
    train_step,
};

pub use kiln_cache::{Cache, CacheConfig, CacheKey, flush_pending_stores};
pub use kiln_ir::{DType, Graph, InputError, Role, Tensor, parse};
pub use kiln_shape::Policy;

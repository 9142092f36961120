//! Lowering a specialised graph to kernels: the fusion decisions.
//!
//! Every graph output is the root of one kernel whose iteration space is the output's shape.
//! The root's value at an index is *emitted* by walking the graph backwards (Inductor's
//! "inner_fn"): elementwise ops become scalar instructions, layout ops (reshape, permute,
//! expand, ...) only rewrite the index, so they never copy. A reduction or pooling op reached at
//! the kernel's own index, used once, becomes the kernel's reduction loop (its elementwise
//! prologue is emitted inside that loop, the ops after it form the epilogue). Anything else a
//! kernel cannot fuse — a reduction used twice, or read at another index, as softmax reads its
//! row max — is *materialised*: lowered as a kernel of its own into a temporary buffer and loaded.
use std::collections::HashMap;

use kiln_ir::{DType, Graph, NodeId, NodeKind, Op, TensorType};
use kiln_shape::{Cond, Expr, ShapeEnv};

use crate::block::Block;
use crate::error::SchedError;
use crate::ir::*;

mod conv;
mod conv_grad;
mod dtypes;
mod emit;
mod flatten;
mod grad;
pub(crate) mod index;
mod linalg;
mod movement;
mod pool_grad;
mod reuse;

/// Knobs that change generated code (all of them are part of the cache key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SchedOptions {
    /// A kernel uses 32-bit index arithmetic when every buffer it indexes has fewer elements
    /// than this (PyTorch's `numel < 2**31`); lowered in tests to cross it with small tensors.
    pub index_limit: i64,
}

impl Default for SchedOptions {
    fn default() -> Self {
        SchedOptions {
            index_limit: 1 << 31,
        }
    }
}

/// How a reduction's accumulated value becomes the op's result.
pub(crate) enum Post {
    None,
    /// Divide by an integer expression (mean's count, avg pooling's divisor).
    DivBy(Expr),
}

pub(crate) struct Lowerer<'a> {
    pub g: &'a Graph,
    pub env: &'a mut ShapeEnv,
    pub types: Vec<TensorType>,
    opts: &'a SchedOptions,
    pub(crate) buffers: Vec<BufferDecl>,
    kernels: Vec<Kernel>,
    steps: Vec<Step>,
    pub(crate) materialized: HashMap<NodeId, BufId>,
    /// Each softmax node's row max and row sum buffers (see `crate::softmax`).
    pub(crate) softmax: HashMap<NodeId, (BufId, BufId)>,
    /// Which kernel first emitted each node (see `lower/reuse.rs`).
    pub(crate) emit_log: reuse::EmitLog,
}

/// The result of lowering: buffers, kernels, launch steps, and each output's buffer.
pub(crate) struct Lowered {
    pub buffers: Vec<BufferDecl>,
    pub kernels: Vec<Kernel>,
    pub steps: Vec<Step>,
    pub outputs: Vec<BufId>,
}

/// How many times a kernel body is emitted at most (see `Lowerer::emit_kernel_body`): each
/// pass only loads more materialised values, and two suffice for a stack of reductions.
const MAX_BODY_PASSES: usize = 3;

/// Per-kernel state while emitting its body.
pub(crate) struct KernelCtx {
    pub dims: Vec<Expr>,
    pub reduce: Option<(NodeId, Reduction, Post)>,
}

/// Row-major element offset of `idx` in a contiguous tensor of `shape`.
pub fn contiguous_offset(shape: &[Expr], idx: &[Expr]) -> Expr {
    let mut off = Expr::int(0);
    let mut stride = Expr::int(1);
    for (d, i) in shape.iter().zip(idx).rev() {
        off = &off + &(i * &stride);
        stride = &stride * d;
    }
    off
}

pub fn numel(shape: &[Expr]) -> Expr {
    shape.iter().fold(Expr::int(1), |a, d| &a * d)
}

fn outer_idx(rank: usize) -> Vec<Expr> {
    (0..rank).map(|i| Expr::sym(&outer_var(i))).collect()
}

/// Normalises a possibly negative dim (already validated) for a tensor of `rank`; a 0-d
/// tensor's dims 0 and -1 both name its missing dim 0, as in PyTorch.
pub(crate) fn norm_dim(d: i64, rank: usize) -> usize {
    let wrapped = if d < 0 { d + rank.max(1) as i64 } else { d };
    usize::try_from(wrapped)
        .unwrap_or(0)
        .min(rank.saturating_sub(1))
}

impl<'a> Lowerer<'a> {
    pub fn new(
        g: &'a Graph,
        env: &'a mut ShapeEnv,
        types: Vec<TensorType>,
        opts: &'a SchedOptions,
    ) -> Self {
        Lowerer {
            g,
            env,
            types,
            opts,
            buffers: vec![],
            kernels: vec![],
            steps: vec![],
            materialized: HashMap::new(),
            softmax: HashMap::new(),
            emit_log: reuse::EmitLog::default(),
        }
    }

    pub fn shape(&self, n: NodeId) -> &[Expr] {
        &self.types[n.index()].shape
    }
    pub fn dtype(&self, n: NodeId) -> DType {
        self.types[n.index()].dtype
    }
    fn name(&self, n: NodeId) -> &str {
        &self.g.node(n).name
    }

    pub fn add_buffer(&mut self, dtype: DType, shape: &[Expr], kind: BufKind) -> BufId {
        self.add_buffer_numel(dtype, numel(shape), kind)
    }

    pub(crate) fn add_buffer_numel(&mut self, dtype: DType, numel: Expr, kind: BufKind) -> BufId {
        self.buffers.push(BufferDecl { dtype, numel, kind });
        (self.buffers.len() - 1) as BufId
    }

    /// Lowers the whole graph. Inputs are buffers `0..n_inputs`.
    pub fn run(mut self) -> Result<Lowered, SchedError> {
        for (i, decl) in self.g.inputs().iter().enumerate() {
            let node = self.g.find(&decl.name).expect("every input is a node");
            let buf = self.add_buffer_numel(decl.dtype, numel(self.shape(node)), BufKind::Input(i));
            self.materialized.insert(node, buf);
        }
        // Outputs are lowered in graph order and then read from their buffers, so an output
        // used by a later one (`p` and `q = mul(p, 0.5)`) is computed once.
        let outputs = self.g.outputs().to_vec();
        let mut outs = vec![0; outputs.len()];
        let mut order: Vec<usize> = (0..outputs.len()).collect();
        order.sort_by_key(|&i| outputs[i].index());
        for i in order {
            let o = outputs[i];
            let buf =
                self.add_buffer_numel(self.dtype(o), numel(self.shape(o)), BufKind::Output(i));
            self.lower_root(o, buf)?;
            self.materialized.entry(o).or_insert(buf);
            outs[i] = buf;
        }
        Ok(Lowered {
            buffers: self.buffers,
            kernels: self.kernels,
            steps: self.steps,
            outputs: outs,
        })
    }

    /// Emits a kernel computing node `n` into buffer `buf`.
    pub fn lower_root(&mut self, n: NodeId, buf: BufId) -> Result<(), SchedError> {
        if self.is_conv(n) && !self.materialized.contains_key(&n) {
            return self.lower_conv(n, buf);
        }
        if self.is_pool_grad(n) && !self.materialized.contains_key(&n) {
            return self.lower_pool_grad(n, buf);
        }
        if self.is_gather(n) && !self.materialized.contains_key(&n) {
            return self.lower_gather(n, buf);
        }
        if let NodeKind::Op(
            Op::Cat { .. }
            | Op::Repeat { .. }
            | Op::Pad {
                mode: kiln_ir::PadMode::Constant,
                ..
            },
        ) = self.g.node(n).kind
        {
            return self.lower_movement_root(n, buf);
        }
        if let NodeKind::Op(Op::MatMul { a, b }) = self.g.node(n).kind {
            return self.lower_matmul(n, a, b, buf);
        }
        if let NodeKind::Op(Op::SliceScatter { .. }) = self.g.node(n).kind {
            return self.lower_slice_scatter(n, buf);
        }
        let dims = self.shape(n).to_vec();
        let idx = outer_idx(dims.len());
        let (blk, ctx, v) = self.emit_kernel_body(n, &dims, &idx)?;
        let offset = contiguous_offset(&dims, &idx);
        let name = format!("k{}_{}", self.steps.len(), self.name(n));
        let reduce = ctx.reduce.map(|(_, r, _)| r);
        let kernel = Kernel {
            name,
            dims,
            reduce,
            body: blk.instrs,
            stores: vec![Store {
                buf,
                offset,
                value: v,
            }],
            index_bits: 64,
        };
        self.push_kernel(kernel)
    }

    /// The body of the kernel computing `n`: emitted again (at most [`MAX_BODY_PASSES`]
    /// times) while a value it emitted inline was materialised meanwhile by a kernel nested
    /// under it, so that it loads that value instead (see `lower/reuse.rs`).
    fn emit_kernel_body(
        &mut self,
        n: NodeId,
        dims: &[Expr],
        idx: &[Expr],
    ) -> Result<(Block, KernelCtx, ValueId), SchedError> {
        let mut pass = 1;
        loop {
            let mut blk = Block::default();
            let mut ctx = KernelCtx {
                dims: dims.to_vec(),
                reduce: None,
            };
            let outer = self.emit_log.enter();
            let v = self.emit(&mut blk, n, idx, Some((&mut ctx, n)));
            let inline = self.emit_log.leave(outer);
            let v = v?;
            let stale = inline.iter().any(|m| self.materialized.contains_key(m));
            if !stale || pass == MAX_BODY_PASSES {
                return Ok((blk, ctx, v));
            }
            self.emit_log.forget(&inline);
            pass += 1;
        }
    }

    /// Records the int32-indexing decision for a kernel: one guard per indexed extent.
    fn index_bits(&mut self, k: &Kernel) -> Result<u32, SchedError> {
        let mut extents: Vec<Expr> = vec![numel(&k.dims)];
        let bufs = k
            .loads()
            .map(|(b, _)| b)
            .chain(k.stores.iter().map(|s| s.buf));
        for b in bufs {
            extents.push(self.buffers[b as usize].numel.clone());
        }
        let mut small = true;
        for e in extents {
            let cond = Cond::lt(e, Expr::int(self.opts.index_limit));
            small &= self.env.decide(&cond).map_err(|source| SchedError::Shape {
                node: k.name.clone(),
                source,
            })?;
        }
        Ok(if small { 32 } else { 64 })
    }

    /// Materialises node `n` into a temporary buffer (once) and returns the buffer.
    pub(crate) fn materialize(&mut self, n: NodeId) -> Result<BufId, SchedError> {
        if let Some(&b) = self.materialized.get(&n) {
            return Ok(b);
        }
        if let NodeKind::Constant(t) = &self.g.node(n).kind {
            let b = self.add_buffer_numel(
                t.dtype,
                numel(self.shape(n)),
                BufKind::Const(t.data.to_vec()),
            );
            self.materialized.insert(n, b);
            return Ok(b);
        }
        let b = self.add_buffer_numel(self.dtype(n), numel(self.shape(n)), BufKind::Temp);
        self.lower_root(n, b)?;
        self.materialized.insert(n, b);
        Ok(b)
    }

    pub(crate) fn shape_error(&self, n: NodeId, source: kiln_shape::ShapeError) -> SchedError {
        SchedError::Shape {
            node: self.name(n).to_string(),
            source,
        }
    }

    pub fn push_kernel(&mut self, mut kernel: Kernel) -> Result<(), SchedError> {
        kernel.index_bits = self.index_bits(&kernel)?;
        self.steps.push(Step::Kernel(self.kernels.len()));
        self.kernels.push(kernel);
        Ok(())
    }
    /// Appends a library call (GEMM, convolution) to the launch order.
    pub(crate) fn push_library(&mut self, call: LibraryCall) {
        self.steps.push(Step::Library(Box::new(call)));
    }
    /// Kernels and library calls so far, which numbers the next step's name.
    pub fn kernel_count(&self) -> usize {
        self.steps.len()
    }
}

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

use kiln_ir::{DType, Graph, NodeId, NodeKind, Op, Operand, TensorType};
use kiln_shape::{Cond, Expr, ShapeEnv};

use crate::block::Block;
use crate::error::SchedError;
use crate::ir::*;
use crate::pool::reduction_of;

mod conv;
mod conv_grad;
mod dtypes;
mod flatten;
mod grad;
pub(crate) mod index;
mod linalg;
mod movement;
mod pool_grad;
mod reuse;
use dtypes::{operand_dtype, push_rounded, rounded};

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
        let mut blk = Block::default();
        let mut ctx = KernelCtx {
            dims: dims.clone(),
            reduce: None,
        };
        let outer = self.emit_log.enter();
        let v = self.emit(&mut blk, n, &idx, Some((&mut ctx, n)));
        self.emit_log.leave(outer);
        let v = v?;
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

    pub(crate) fn load(
        &mut self,
        blk: &mut Block,
        buf: BufId,
        shape: &[Expr],
        idx: &[Expr],
    ) -> ValueId {
        let dtype = self.buffers[buf as usize].dtype;
        blk.push(
            ScalarOp::Load {
                buf,
                offset: contiguous_offset(shape, idx),
            },
            dtype,
        )
    }

    fn operand(
        &mut self,
        blk: &mut Block,
        o: &Operand,
        out_shape: &[Expr],
        idx: &[Expr],
        dtype: DType,
        ctx: Option<(&mut KernelCtx, NodeId)>,
    ) -> Result<ValueId, SchedError> {
        match *o {
            Operand::Scalar(v) => Ok(blk.constant(v, dtype)),
            Operand::Value(n) => {
                let shape = self.shape(n).to_vec();
                let bidx = self.broadcast_idx(n, &shape, out_shape, idx)?;
                let v = self.emit(blk, n, &bidx, ctx)?;
                Ok(blk.cast(v, dtype))
            }
        }
    }

    /// Emits the value of node `n` at index `idx` (one Expr per dim of `n`) into `blk`.
    /// `ctx` is the enclosing kernel when `blk` is its body (so a reduction may fuse into it),
    /// `None` inside a reduction loop.
    pub fn emit(
        &mut self,
        blk: &mut Block,
        n: NodeId,
        idx: &[Expr],
        mut ctx: Option<(&mut KernelCtx, NodeId)>,
    ) -> Result<ValueId, SchedError> {
        if let Some(&b) = self.materialized.get(&n) {
            let shape = self.shape(n).to_vec();
            return Ok(self.load(blk, b, &shape, idx));
        }
        let op = match &self.g.node(n).kind {
            NodeKind::Input(_) => unreachable!("inputs are materialised before lowering"),
            NodeKind::Constant(t) if t.shape.is_empty() => {
                let v = t.to_f64()[0];
                return Ok(blk.constant(v, t.dtype));
            }
            NodeKind::Constant(_) => {
                let b = self.materialize(n)?;
                let shape = self.shape(n).to_vec();
                return Ok(self.load(blk, b, &shape, idx));
            }
            NodeKind::Op(_) if self.reemit_too_costly(n, ctx.as_ref().map(|c| c.1)) => {
                let b = self.materialize(n)?;
                let shape = self.shape(n).to_vec();
                return Ok(self.load(blk, b, &shape, idx));
            }
            NodeKind::Op(op) => op.clone(),
        };
        let out = self.dtype(n);
        let shape = self.shape(n).to_vec();
        match op {
            Op::Unary { op, x } => {
                let xv = self.emit(blk, x, idx, reborrow(&mut ctx))?;
                let xv = blk.cast(
                    xv,
                    if op == kiln_ir::UnaryOp::LogicalNot {
                        self.dtype(x)
                    } else {
                        out
                    },
                );
                if op == kiln_ir::UnaryOp::LogicalNot {
                    return Ok(blk.push(ScalarOp::Unary(op, xv), out));
                }
                Ok(push_rounded(blk, ScalarOp::Unary(op, xv), out))
            }
            Op::Binary { op, a, b } => {
                let ta = dtypes::division_operands(op, operand_dtype(self, &[&a, &b]), out);
                // A comparison casts a Python scalar to the operands' dtype (`lt(h, 0.1)`
                // compares with f16(0.1)); arithmetic reads it in the compute type.
                let (a, b) = if op.is_comparison() {
                    (rounded(a, ta), rounded(b, ta))
                } else {
                    (a, b)
                };
                let av = self.operand(blk, &a, &shape, idx, ta, reborrow(&mut ctx))?;
                let bv = self.operand(blk, &b, &shape, idx, ta, reborrow(&mut ctx))?;
                if op.is_comparison() {
                    return Ok(blk.push(ScalarOp::Binary(op, av, bv), out));
                }
                Ok(push_rounded(blk, ScalarOp::Binary(op, av, bv), out))
            }
            Op::Where { cond, a, b } => {
                let c = self.operand(blk, &cond, &shape, idx, DType::Bool, reborrow(&mut ctx))?;
                // `where` casts a scalar branch to the result's dtype.
                let (a, b) = (rounded(a, out), rounded(b, out));
                let av = self.operand(blk, &a, &shape, idx, out, reborrow(&mut ctx))?;
                let bv = self.operand(blk, &b, &shape, idx, out, reborrow(&mut ctx))?;
                Ok(blk.push(ScalarOp::Select(c, av, bv), out))
            }
            Op::Cast { x, dtype } => {
                let xv = self.emit(blk, x, idx, ctx)?;
                Ok(blk.cast(xv, dtype))
            }
            Op::Reduce { .. }
            | Op::MaxPool2d { .. }
            | Op::AvgPool2d { .. }
            | Op::AdaptiveAvgPool2d { .. }
            | Op::AdaptiveMaxPool2d { .. }
            | Op::ArgMax { .. }
            | Op::ArgMin { .. }
            | Op::CumSum { .. } => self.emit_reduction(blk, n, idx, ctx),
            Op::Softmax { x, dim } => self.emit_softmax(blk, n, x, dim, idx, ctx),
            Op::Conv { .. } | Op::ConvTranspose2d { .. } => self.emit_conv(blk, n, idx),
            Op::ConvBackwardInput { .. } | Op::ConvBackwardWeight { .. } => {
                self.emit_conv(blk, n, idx)
            }
            // A library call writes the product (the pool gradient) into a buffer of its own.
            Op::MatMul { .. }
            | Op::MaxPool2dBackward { .. }
            | Op::AvgPool2dBackward { .. }
            | Op::AdaptiveAvgPool2dBackward { .. }
            | Op::AdaptiveMaxPool2dBackward { .. } => {
                let b = self.materialize(n)?;
                Ok(self.load(blk, b, &shape, idx))
            }
            Op::Reshape { x, .. } | Op::ReshapeAs { x, .. } => {
                let flat = contiguous_offset(&shape, idx);
                if let Some(&b) = self.materialized.get(&x) {
                    let dtype = self.buffers[b as usize].dtype;
                    return Ok(blk.push(
                        ScalarOp::Load {
                            buf: b,
                            offset: flat,
                        },
                        dtype,
                    ));
                }
                let src = self.shape(x).to_vec();
                let xi = delinearize(&src, &flat);
                self.emit(blk, x, &xi, ctx)
            }
            Op::Permute { x, dims } => {
                let r = dims.len();
                let mut xi = vec![Expr::int(0); r];
                for (o, &d) in dims.iter().enumerate() {
                    xi[norm_dim(d, r)] = idx[o].clone();
                }
                self.emit(blk, x, &xi, ctx)
            }
            Op::Transpose { x, dim0, dim1 } => {
                let r = idx.len();
                let mut xi = idx.to_vec();
                // A 0-d tensor accepts dims 0 and -1 and transposes to itself.
                if r > 0 {
                    xi.swap(norm_dim(dim0, r), norm_dim(dim1, r));
                }
                self.emit(blk, x, &xi, ctx)
            }
            Op::Unsqueeze { x, dim } => {
                let mut xi = idx.to_vec();
                xi.remove(norm_dim(dim, idx.len()));
                self.emit(blk, x, &xi, ctx)
            }
            Op::Squeeze { x, dims } => {
                let xs = self.shape(x).to_vec();
                let removed = kiln_ir::infer::squeezed_dims(self.env, &xs, dims.as_deref())
                    .map_err(|source| self.shape_error(n, source))?;
                let mut outer = idx.iter();
                let xi: Vec<Expr> = removed
                    .iter()
                    .map(|&r| {
                        if r {
                            Expr::int(0)
                        } else {
                            outer.next().expect("rank checked by inference").clone()
                        }
                    })
                    .collect();
                self.emit(blk, x, &xi, ctx)
            }
            Op::Expand { x, .. } | Op::ExpandAs { x, .. } => {
                let xs = self.shape(x).to_vec();
                let xi = self.broadcast_idx(n, &xs, &shape, idx)?;
                self.emit(blk, x, &xi, ctx)
            }
            Op::Flatten { x, .. } | Op::Unflatten { x, .. } => {
                self.emit_flatten(blk, n, x, idx, ctx)
            }
            Op::Cat { .. }
            | Op::Slice { .. }
            | Op::Select { .. }
            | Op::Pad { .. }
            | Op::Repeat { .. } => self.emit_movement(blk, n, &op, idx, ctx),
            Op::IndexSelect { .. }
            | Op::Gather { .. }
            | Op::ScatterAdd { .. }
            | Op::IndexAdd { .. }
            | Op::Embedding { .. }
            | Op::MaxPool2dIndices { .. } => self.emit_gather(blk, n, idx),
            Op::CatPart {
                x,
                ref parts,
                dim,
                index,
            } => {
                let d = norm_dim(dim, idx.len());
                let shapes: Vec<Vec<Expr>> =
                    parts.iter().map(|&p| self.shape(p).to_vec()).collect();
                let refs: Vec<&[Expr]> = shapes.iter().map(Vec::as_slice).collect();
                let mut xi = idx.to_vec();
                xi[d] = &kiln_ir::infer::cat_part_offset(&refs, d, index) + &idx[d];
                self.emit(blk, x, &xi, ctx)
            }
            // Nothing to sum: the result is `x` itself, read at the same index.
            Op::SumTo { x, .. } if self.sum_to_dims(n)?.is_empty() => self.emit(blk, x, idx, ctx),
            Op::SumTo { .. } => self.emit_reduction(blk, n, idx, ctx),
            Op::SliceScatter { .. } => {
                let b = self.materialize(n)?;
                Ok(self.load(blk, b, &shape, idx))
            }
        }
    }

    /// A reduction or pooling node: fused as the kernel's reduction when read at the kernel's
    /// own index by its only user, else materialised and loaded.
    fn emit_reduction(
        &mut self,
        blk: &mut Block,
        n: NodeId,
        idx: &[Expr],
        ctx: Option<(&mut KernelCtx, NodeId)>,
    ) -> Result<ValueId, SchedError> {
        let shape = self.shape(n).to_vec();
        let out = self.dtype(n);
        if let Some((k, root)) = ctx {
            let identity = idx == outer_idx(k.dims.len()).as_slice() && shape == k.dims;
            let single_use =
                n == root || (grad::data_uses(self.g, n) == 1 && !self.g.outputs().contains(&n));
            let free = k.reduce.as_ref().is_none_or(|(m, _, _)| *m == n);
            if identity && single_use && free {
                if k.reduce.is_none() {
                    let (red, post) = reduction_of(self, n)?;
                    k.reduce = Some((n, red, post));
                }
                let (_, red, post) = k.reduce.as_ref().expect("set above");
                let acc = red.result_dtype();
                let mut v = blk.push(ScalarOp::Reduced, acc);
                if let Post::DivBy(d) = post {
                    let d = blk.push(ScalarOp::Index(d.clone()), acc);
                    v = blk.push(ScalarOp::Binary(kiln_ir::BinaryOp::Div, v, d), acc);
                }
                return Ok(blk.cast(v, out));
            }
        }
        let b = self.materialize(n)?;
        Ok(self.load(blk, b, &shape, idx))
    }

    /// Index into an operand (node `n`'s value, of shape `operand`) broadcast right-aligned to
    /// `out`: a dim the shape environment knows is 1 reads index 0. Whether it is 1 is asked of
    /// the env, not read off the expression, since a derived size (`(H - 2)//2 + 1`) can be 1
    /// in this specialisation (shape inference recorded that as a guard); the output's index
    /// there ranges over the output's extent, which a one-element dim does not have.
    pub(crate) fn broadcast_idx(
        &mut self,
        n: NodeId,
        operand: &[Expr],
        out: &[Expr],
        idx: &[Expr],
    ) -> Result<Vec<Expr>, SchedError> {
        let lead = out.len() - operand.len();
        let mut bidx = Vec::with_capacity(operand.len());
        for (j, d) in operand.iter().enumerate() {
            let same = *d == out[lead + j];
            let one = !same
                && kiln_ir::infer::known_one(self.env, d)
                    .map_err(|source| self.shape_error(n, source))?;
            bidx.push(if one {
                Expr::int(0)
            } else {
                idx[lead + j].clone()
            });
        }
        Ok(bidx)
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

/// Reborrows the kernel context for one of several operand emissions.
fn reborrow<'b>(
    c: &'b mut Option<(&mut KernelCtx, NodeId)>,
) -> Option<(&'b mut KernelCtx, NodeId)> {
    c.as_mut().map(|(k, r)| (&mut **k, *r))
}

/// The multi-index of flat offset `flat` in a contiguous tensor of `shape`.
fn delinearize(shape: &[Expr], flat: &Expr) -> Vec<Expr> {
    let mut out = vec![Expr::int(0); shape.len()];
    let mut stride = Expr::int(1);
    for (j, d) in shape.iter().enumerate().rev() {
        out[j] = flat.floor_div(&stride).modulo(d);
        stride = &stride * d;
    }
    out
}

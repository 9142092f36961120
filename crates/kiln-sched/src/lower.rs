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
    buffers: Vec<BufferDecl>,
    kernels: Vec<Kernel>,
    materialized: HashMap<NodeId, BufId>,
    softmax: HashMap<NodeId, (BufId, BufId)>,
}

/// The result of lowering: buffers, kernels in launch order, and each output's buffer.
pub(crate) type Lowered = (Vec<BufferDecl>, Vec<Kernel>, Vec<BufId>);

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

/// Normalises a possibly negative dim for a tensor of `rank`.
pub(crate) fn norm_dim(d: i64, rank: usize) -> usize {
    if d < 0 {
        (d + rank as i64) as usize
    } else {
        d as usize
    }
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
            materialized: HashMap::new(),
            softmax: HashMap::new(),
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

    fn add_buffer_numel(&mut self, dtype: DType, numel: Expr, kind: BufKind) -> BufId {
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
        Ok((self.buffers, self.kernels, outs))
    }

    /// Emits a kernel computing node `n` into buffer `buf`.
    pub fn lower_root(&mut self, n: NodeId, buf: BufId) -> Result<(), SchedError> {
        let dims = self.shape(n).to_vec();
        let idx = outer_idx(dims.len());
        let mut blk = Block::default();
        let mut ctx = KernelCtx {
            dims: dims.clone(),
            reduce: None,
        };
        let v = self.emit(&mut blk, n, &idx, Some((&mut ctx, n)))?;
        let offset = contiguous_offset(&dims, &idx);
        let name = format!("k{}_{}", self.kernels.len(), self.name(n));
        let reduce = ctx.reduce.map(|(_, r, _)| r);
        let mut kernel = Kernel {
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
        kernel.index_bits = self.index_bits(&kernel)?;
        self.kernels.push(kernel);
        Ok(())
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
    fn materialize(&mut self, n: NodeId) -> Result<BufId, SchedError> {
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

    fn load(&mut self, blk: &mut Block, buf: BufId, shape: &[Expr], idx: &[Expr]) -> ValueId {
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
                let bidx = broadcast_idx(self.shape(n), out_shape, idx);
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
                Ok(blk.push(ScalarOp::Unary(op, xv), out))
            }
            Op::Binary { op, a, b } => {
                let ta = operand_dtype(self, &a, &b);
                let av = self.operand(blk, &a, &shape, idx, ta, reborrow(&mut ctx))?;
                let bv = self.operand(blk, &b, &shape, idx, ta, reborrow(&mut ctx))?;
                Ok(blk.push(ScalarOp::Binary(op, av, bv), out))
            }
            Op::Where { cond, a, b } => {
                let c = self.operand(blk, &cond, &shape, idx, DType::Bool, reborrow(&mut ctx))?;
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
            | Op::AdaptiveMaxPool2d { .. } => self.emit_reduction(blk, n, idx, ctx),
            Op::Softmax { x, dim } => self.emit_softmax(blk, n, x, dim, idx, ctx),
            Op::Reshape { x, .. } => {
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
                xi.swap(norm_dim(dim0, r), norm_dim(dim1, r));
                self.emit(blk, x, &xi, ctx)
            }
            Op::Unsqueeze { x, dim } => {
                let mut xi = idx.to_vec();
                xi.remove(norm_dim(dim, idx.len()));
                self.emit(blk, x, &xi, ctx)
            }
            Op::Squeeze { x, dim } => {
                let xs = self.shape(x).to_vec();
                let is_one = |d: &Expr| d.as_int() == Some(1);
                let removed: Vec<bool> = match dim {
                    Some(d) => {
                        let d = norm_dim(d, xs.len());
                        (0..xs.len()).map(|j| j == d && is_one(&xs[j])).collect()
                    }
                    None => xs.iter().map(is_one).collect(),
                };
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
            Op::Expand { x, .. } => {
                let xs = self.shape(x).to_vec();
                let xi = broadcast_idx(&xs, &shape, idx);
                self.emit(blk, x, &xi, ctx)
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
                n == root || (self.g.users(n).count() == 1 && !self.g.outputs().contains(&n));
            let free = k.reduce.as_ref().is_none_or(|(m, _, _)| *m == n);
            if identity && single_use && free {
                if k.reduce.is_none() {
                    let (red, post) = reduction_of(self, n)?;
                    k.reduce = Some((n, red, post));
                }
                let (_, red, post) = k.reduce.as_ref().expect("set above");
                let acc = red.acc;
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

    /// `softmax(x, dim) = exp(x - max) / sum(exp(x - max))`: the row max and the row sum are
    /// reductions read at every element of the row, so they are materialised (two temporaries).
    fn emit_softmax(
        &mut self,
        blk: &mut Block,
        n: NodeId,
        x: NodeId,
        dim: i64,
        idx: &[Expr],
        ctx: Option<(&mut KernelCtx, NodeId)>,
    ) -> Result<ValueId, SchedError> {
        let shape = self.shape(n).to_vec();
        let d = norm_dim(dim, shape.len());
        let acc = self.dtype(n).compute();
        let mut kept = shape.clone();
        kept[d] = Expr::int(1);
        let (mbuf, sbuf) = match self.softmax.get(&n) {
            Some(&p) => p,
            None => {
                let m = self.add_buffer(acc, &kept, BufKind::Temp);
                let s = self.add_buffer(acc, &kept, BufKind::Temp);
                crate::softmax::lower_softmax_stats(self, x, d, &shape, &kept, m, s)?;
                self.softmax.insert(n, (m, s));
                (m, s)
            }
        };
        let mut row = idx.to_vec();
        row[d] = Expr::int(0);
        let xv = self.emit(blk, x, idx, ctx)?;
        let xv = blk.cast(xv, acc);
        let mv = self.load(blk, mbuf, &kept, &row);
        let sv = self.load(blk, sbuf, &kept, &row);
        let e = blk.push(ScalarOp::Binary(kiln_ir::BinaryOp::Sub, xv, mv), acc);
        let e = blk.push(ScalarOp::Unary(kiln_ir::UnaryOp::Exp, e), acc);
        let v = blk.push(ScalarOp::Binary(kiln_ir::BinaryOp::Div, e, sv), acc);
        Ok(blk.cast(v, self.dtype(n)))
    }

    pub fn push_kernel(&mut self, mut kernel: Kernel) -> Result<(), SchedError> {
        kernel.index_bits = self.index_bits(&kernel)?;
        self.kernels.push(kernel);
        Ok(())
    }
    pub fn kernel_count(&self) -> usize {
        self.kernels.len()
    }
}

/// Reborrows the kernel context for one of several operand emissions.
fn reborrow<'b>(
    c: &'b mut Option<(&mut KernelCtx, NodeId)>,
) -> Option<(&'b mut KernelCtx, NodeId)> {
    c.as_mut().map(|(k, r)| (&mut **k, *r))
}

/// The dtype both operands of a binary op are converted to before it runs.
fn operand_dtype(l: &Lowerer, a: &Operand, b: &Operand) -> DType {
    let dt = |o: &Operand| match o {
        Operand::Value(n) => Some(l.dtype(*n)),
        Operand::Scalar(_) => None,
    };
    match (dt(a), dt(b)) {
        (Some(x), Some(y)) => DType::promote(x, y),
        (Some(x), None) | (None, Some(x)) => DType::promote_scalar(x),
        (None, None) => DType::F32,
    }
}

/// Index into an operand broadcast (right-aligned) to `out`: a dim of constant size 1 where the
/// output's is not reads index 0.
pub(crate) fn broadcast_idx(operand: &[Expr], out: &[Expr], idx: &[Expr]) -> Vec<Expr> {
    let lead = out.len() - operand.len();
    operand
        .iter()
        .enumerate()
        .map(|(j, d)| {
            if d.as_int() == Some(1) && out[lead + j].as_int() != Some(1) {
                Expr::int(0)
            } else {
                idx[lead + j].clone()
            }
        })
        .collect()
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

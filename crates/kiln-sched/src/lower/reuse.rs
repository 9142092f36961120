//! Shared prefixes: when is a value recomputed in another kernel, and when is it materialised.
//!
//! Emitting walks the graph backwards and stops only at materialised nodes, so a value that
//! several kernels read is recomputed in each. That is what a fused elementwise prefix wants
//! (recomputing `x - m` is cheaper than a round trip through memory), but in a stack of row
//! reductions (`y1 = y0 - amax(y0, 1)`, `y2 = y1 - amax(y1, 1)`, ...) every layer's reduction
//! kernel re-emits the whole prefix below it: layer `i` emits `i` ops, the program is quadratic
//! in the depth (43 s and a 29 MB entry at 1,000 nodes). The rule here, like Inductor's
//! `realize_opcount_threshold`: a value already emitted in another kernel is emitted again
//! only while its fused expression (down to materialised nodes) has at most
//! [`REEMIT_MAX_OPS`] op nodes; a larger one is materialised once and loaded. Each kernel
//! then re-emits a bounded amount and the stack lowers in linear time.
//!
//! Emission is demand-driven, so the kernel that starts the walk (the output's) emits the
//! whole stack inline before the reduction kernels nested under it decide to materialise
//! parts of it: its body would still grow with the depth (a 6,003-op output kernel, 2 s of
//! Cranelift, at 6,000 nodes). [`EmitLog::leave`] therefore returns what a kernel emitted
//! inline, and `lower_root` emits the kernel again when any of it was materialised meanwhile:
//! the second pass loads those values.
use std::collections::HashSet;

use kiln_ir::{NodeId, NodeKind};

use super::Lowerer;

/// The most op nodes a value re-emitted in a second kernel may cost before it is materialised.
/// Small elementwise prefixes (layer norm's `x - mean`, softmax's input) stay fused.
pub(crate) const REEMIT_MAX_OPS: usize = 32;

/// Which kernel under construction first emitted each node.
#[derive(Default)]
pub(crate) struct EmitLog {
    /// The kernel whose body is being emitted (kernels nest while materialising).
    current: usize,
    next: usize,
    first: std::collections::HashMap<NodeId, usize>,
    /// Per kernel under construction (innermost last): the op nodes it emitted first.
    inline: Vec<Vec<NodeId>>,
}

impl EmitLog {
    /// Starts a kernel body; returns the id of the one to restore with [`EmitLog::leave`].
    pub fn enter(&mut self) -> usize {
        self.next += 1;
        self.inline.push(Vec::new());
        std::mem::replace(&mut self.current, self.next)
    }

    /// Ends the current kernel body; returns the op nodes it emitted first.
    pub fn leave(&mut self, outer: usize) -> Vec<NodeId> {
        self.current = outer;
        self.inline.pop().unwrap_or_default()
    }

    /// Forgets that a discarded kernel body emitted `nodes`, so that emitting the kernel again
    /// is a first emission, as the discarded one was.
    pub fn forget(&mut self, nodes: &[NodeId]) {
        for n in nodes {
            self.first.remove(n);
        }
    }

    /// Records that the current kernel emits `n`; true when another kernel emitted it first.
    fn emitted_elsewhere(&mut self, n: NodeId) -> bool {
        match self.first.entry(n) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get() != self.current,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(self.current);
                if let Some(nodes) = self.inline.last_mut() {
                    nodes.push(n);
                }
                false
            }
        }
    }
}

impl Lowerer<'_> {
    /// True when emitting op node `n` here would repeat a large expression another kernel
    /// already computes, so the caller materialises `n` instead. `root` is the node the
    /// current kernel computes (never materialised from its own body).
    pub(crate) fn reemit_too_costly(&mut self, n: NodeId, root: Option<NodeId>) -> bool {
        if root == Some(n) || !matches!(self.g.node(n).kind, NodeKind::Op(_)) {
            return false;
        }
        self.emit_log.emitted_elsewhere(n) && self.ops_exceed(n, REEMIT_MAX_OPS)
    }

    /// Whether the fused expression of `n` (op nodes down to materialised ones, each shared
    /// node counted once) has more than `limit` nodes; visits at most `limit + 1` of them.
    fn ops_exceed(&self, n: NodeId, limit: usize) -> bool {
        let mut seen = HashSet::new();
        let mut stack = vec![n];
        while let Some(m) = stack.pop() {
            let NodeKind::Op(op) = &self.g.node(m).kind else {
                continue;
            };
            if self.materialized.contains_key(&m) || !seen.insert(m) {
                continue;
            }
            if seen.len() > limit {
                return true;
            }
            stack.extend(op.inputs());
        }
        false
    }
}

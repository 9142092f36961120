//! The launcher: validates tensors, sizes buffers, and runs each kernel over its iteration
//! space, split across rayon's threads when the work is large enough.
use std::sync::OnceLock;

use cranelift_jit::JITModule;
use kiln_ir::{BinaryOp, DType, UnaryOp};
use kiln_ir::{BufferPool, InputError, Role, Tensor};
use kiln_sched::{AccessCheck, BufKind, Instr, Kernel, LibraryCall, Program, ScalarOp, Step};
use kiln_shape::{Bindings, Expr};
use rayon::prelude::*;

use crate::error::RunError;
use crate::validate::{self, eval};

/// A compiled kernel: computes the points `[start, end)` of its iteration space.
pub(crate) type KernelFn = unsafe extern "C" fn(*const *mut u8, *const i64, i64, i64);

/// Work, in simple-operation units ([`cost_per_point`] times points), below which a kernel
/// runs on the calling thread. Measured with `kernel_bench --sweep` on the 2-thread dev
/// machine (see `doc/CODEGEN.md`): splitting `x + y` (3 units a point) pays from 256K
/// elements, the fused sigmoid chain (~24 units) from 64K; 2^20 units splits both there. The
/// environment variable `KILN_CPU_PARALLEL_MIN_WORK` overrides it (for that measurement).
const PARALLEL_MIN_WORK: i64 = 1 << 20;

/// Transcendental ops (inline exp/log/sin/... polynomials) count as this many simple ops.
const TRANSCENDENTAL_COST: i64 = 16;

fn instr_cost(instr: &Instr) -> i64 {
    match &instr.op {
        ScalarOp::Unary(op, _) if is_transcendental(*op) => TRANSCENDENTAL_COST,
        ScalarOp::Binary(BinaryOp::Pow, ..) => TRANSCENDENTAL_COST,
        _ => 1,
    }
}

fn is_transcendental(op: UnaryOp) -> bool {
    matches!(
        op,
        UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Tanh
            | UnaryOp::Sigmoid
            | UnaryOp::Silu
            | UnaryOp::Gelu
            | UnaryOp::GeluTanh
    )
}

/// A rough cost of one point of `kernel`: its body, plus the reduction body per element.
fn cost_per_point(kernel: &Kernel, reduce_size: i64) -> i64 {
    let body: i64 = kernel.body.iter().map(instr_cost).sum();
    let per_element: i64 = kernel
        .reduce
        .iter()
        .flat_map(|r| r.body.iter())
        .map(instr_cost)
        .sum();
    body.max(1)
        .saturating_add(per_element.saturating_mul(reduce_size))
}

/// The parallel threshold in effect, and the smallest share of work one task gets when a
/// kernel is split (a quarter of it).
fn parallel_thresholds() -> (i64, i64) {
    static MIN_WORK: OnceLock<i64> = OnceLock::new();
    let min_work = *MIN_WORK.get_or_init(|| {
        std::env::var("KILN_CPU_PARALLEL_MIN_WORK")
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|v| *v > 0)
            .unwrap_or(PARALLEL_MIN_WORK)
    });
    (min_work, (min_work / 4).max(1))
}

/// Owns the JIT memory the kernels live in; freed when the program is dropped.
struct CodeMemory(Option<JITModule>);

// SAFETY: the module is only touched again to free it, on drop, with `&mut self`; its code is
// immutable after finalisation, and the kernel pointers are plain functions of their arguments.
unsafe impl Send for CodeMemory {}
unsafe impl Sync for CodeMemory {}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        if let Some(module) = self.0.take() {
            // SAFETY: `CompiledProgram` owns this memory and drops it last; no kernel pointer
            // outlives the program.
            unsafe { module.free_memory() };
        }
    }
}

/// A program ready to run: its kernels' machine code and the program they implement.
pub struct CompiledProgram {
    program: Program,
    kernels: Vec<KernelFn>,
    /// The symbol values at which every kernel access was proved in bounds.
    access: AccessCheck,
    /// Blocks of the outputs and temporaries of earlier calls, handed out again: a loop of
    /// `run()` calls then writes warm pages (no page faults, no zeroing), as `run_into` does.
    pool: BufferPool,
    /// The program's temporaries by first use (see [`crate::temps`]).
    lifetimes: Vec<kiln_sched::Lifetime>,
    /// Per step: the kernel that runs as its epilogue (`Program::library_epilogue`).
    epilogues: Vec<Option<usize>>,
    /// Whether a call may run its steps on a pool thread (see `launch`): programs of more
    /// than one step. A call of a one-step program hands off as often either way.
    on_pool: bool,
    _code: CodeMemory,
}

/// The most a program keeps in freed blocks for its next calls.
const POOL_MAX_BYTES: usize = 1 << 30;

/// Buffer pointers shared with worker threads.
#[derive(Clone, Copy)]
struct Args {
    bufs: *const *mut u8,
    syms: *const i64,
}
// SAFETY: the pointed-to arrays outlive the parallel section (it joins before they drop), and
// kernels running on disjoint ranges write disjoint output elements.
unsafe impl Send for Args {}
unsafe impl Sync for Args {}

/// What the steps of one call read: the buffer pointers and each buffer's element count.
struct Steps<'a> {
    args: Args,
    ptrs: &'a [*mut u8],
    numels: &'a [i64],
}
// SAFETY: as for `Args`: the steps run on one pool thread while the launching call waits, so
// the pointers are used as they would be on the caller, and the arrays outlive that.
unsafe impl Sync for Steps<'_> {}

impl CompiledProgram {
    pub(crate) fn new(program: Program, kernels: Vec<KernelFn>, module: JITModule) -> Self {
        let epilogues: Vec<Option<usize>> = (0..program.steps.len())
            .map(|at| program.library_epilogue(at))
            .collect();
        let joined: Vec<usize> = (0..epilogues.len())
            .filter(|&at| epilogues[at].is_some())
            .collect();
        let on_pool = program.steps.len() > 1;
        CompiledProgram {
            on_pool,
            lifetimes: program.temp_lifetimes_with(&joined),
            epilogues,
            program,
            kernels,
            access: AccessCheck::new(),
            pool: BufferPool::new(POOL_MAX_BYTES),
            _code: CodeMemory(Some(module)),
        }
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Names the program by the SHA-256 digest of its artifact's bytes, so that its access
    /// proofs are shared with byte-identical programs of this process (a cache hit after
    /// `reset()` does not prove again what an earlier copy proved).
    pub fn with_artifact_digest(mut self, digest: kiln_sched::ArtifactDigest) -> Self {
        self.access = AccessCheck::for_digest(digest);
        self
    }

    /// Proves every kernel access in bounds at these symbol values (in the order of
    /// `program().symbols`), as a launch does first; remembered, so a launch at the same
    /// values does not repeat it.
    pub fn prove_accesses(&self, syms: &[i64]) -> Result<(), kiln_sched::AccessError> {
        self.access.ensure(&self.program, syms)
    }

    /// Runs the program on `inputs` and returns freshly allocated outputs. An output too
    /// large for this machine is an error naming it, before any kernel runs.
    pub fn run(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, RunError> {
        let bindings = validate::bind_inputs(&self.program, inputs)?;
        self.run_bound(inputs, &bindings)
    }

    /// [`run`](Self::run) for a caller that has already checked `inputs` against
    /// `program().inputs` (dtype, rank, every dim, byte length) and bound the program's
    /// symbols from them into `bindings`: the driver, whose in-memory specialisation match
    /// does exactly that, so a call validates once. Memory safety does not rest on the
    /// caller: every buffer is still checked to hold the bytes the program's sizes need at
    /// `bindings`, and the kernels' accesses are proved inside those sizes.
    pub fn run_bound(
        &self,
        inputs: &[&Tensor],
        bindings: &Bindings,
    ) -> Result<Vec<Tensor>, RunError> {
        let mut outputs = self
            .program
            .outputs
            .iter()
            .map(|(spec, _)| {
                let shape = validate::shape_of(spec, bindings)?;
                // Every output element is stored by the kernel rooted at it (kiln-sched lowers
                // each output as a kernel over its whole shape), so no zeroing is needed.
                Tensor::try_for_overwrite(spec.dtype, &shape, &self.pool).map_err(|source| {
                    RunError::Alloc {
                        role: "output",
                        name: spec.name.clone(),
                        source,
                    }
                })
            })
            .collect::<Result<Vec<_>, RunError>>()?;
        self.launch(inputs, &mut outputs, bindings)?;
        Ok(outputs)
    }

    /// Runs the program writing into `outputs`, whose dtypes and shapes must match.
    pub fn run_into(&self, inputs: &[&Tensor], outputs: &mut [Tensor]) -> Result<(), RunError> {
        let bindings = validate::bind_inputs(&self.program, inputs)?;
        self.run_into_bound(inputs, outputs, &bindings)
    }

    /// [`run_into`](Self::run_into) with inputs already checked and bound by the caller, as
    /// for [`run_bound`](Self::run_bound); the outputs are checked here.
    pub fn run_into_bound(
        &self,
        inputs: &[&Tensor],
        outputs: &mut [Tensor],
        bindings: &Bindings,
    ) -> Result<(), RunError> {
        validate::check_outputs(&self.program, outputs, bindings)?;
        self.launch(inputs, outputs, bindings)
    }

    fn launch(
        &self,
        inputs: &[&Tensor],
        outputs: &mut [Tensor],
        bindings: &Bindings,
    ) -> Result<(), RunError> {
        let syms = self
            .program
            .symbols
            .iter()
            .map(|s| {
                bindings
                    .get(s)
                    .ok_or_else(|| RunError::UnboundSymbol(s.clone()))
            })
            .collect::<Result<Vec<i64>, _>>()?;
        // The kernels' offsets stay inside the buffers' declared sizes (proved once per symbol
        // values); the loop below checks that the memory behind each buffer is that large.
        self.access.ensure(&self.program, &syms)?;
        // Every buffer's byte size, checked against the tensors that back it.
        let mut sizes = Vec::with_capacity(self.program.buffers.len());
        let mut numels = Vec::with_capacity(self.program.buffers.len());
        for decl in &self.program.buffers {
            let numel = eval(&decl.numel, bindings)?;
            let bytes = usize::try_from(numel)
                .ok()
                .and_then(|n| n.checked_mul(decl.dtype.size()))
                .ok_or_else(|| RunError::Size {
                    expr: decl.numel.to_string(),
                    msg: format!("{numel} elements of {} is not a valid size", decl.dtype),
                })?;
            sizes.push(bytes);
            numels.push(numel);
        }
        // Temporaries live in blocks shared by those whose lifetimes do not overlap; the
        // blocks come from the pool and go back to it when this call returns. Kernels write
        // each temporary before reading it.
        let plan = crate::temps::plan(&self.lifetimes, &sizes);
        let mut blocks = Vec::with_capacity(plan.block_bytes.len());
        for (i, &bytes) in plan.block_bytes.iter().enumerate() {
            // A byte tensor: the block's size is in bytes, whatever the temporaries' dtypes.
            let block =
                Tensor::try_for_overwrite(DType::Bool, &[bytes], &self.pool).map_err(|source| {
                    RunError::Alloc {
                        role: "temporary",
                        name: format!("block {i}"),
                        source,
                    }
                })?;
            blocks.push(block);
        }
        let mut ptrs: Vec<*mut u8> = Vec::with_capacity(sizes.len());
        for (b, (decl, &bytes)) in self.program.buffers.iter().zip(&sizes).enumerate() {
            let (ptr, len) = match &decl.kind {
                BufKind::Input(i) => {
                    let t = inputs.get(*i).ok_or(InputError::Count {
                        role: Role::Input,
                        expected: i + 1,
                        found: inputs.len(),
                    })?;
                    // Kernels never store to input buffers.
                    (t.data.as_ptr() as *mut u8, t.data.len())
                }
                BufKind::Output(i) => {
                    let found = outputs.len();
                    let t = outputs.get_mut(*i).ok_or(InputError::Count {
                        role: Role::Output,
                        expected: i + 1,
                        found,
                    })?;
                    (t.data.as_mut_ptr(), t.data.len())
                }
                // A temporary no step touches is never dereferenced: a dangling pointer.
                BufKind::Temp => match plan.block_of[b] {
                    Some(block) => (blocks[block].data.as_mut_ptr(), blocks[block].data.len()),
                    None => (std::ptr::NonNull::dangling().as_ptr(), bytes),
                },
                // Kernels never store to constants either.
                BufKind::Const(data) => (data.as_ptr() as *mut u8, data.len()),
            };
            if len < bytes {
                return Err(RunError::Size {
                    expr: decl.numel.to_string(),
                    msg: format!("buffer needs {bytes} bytes but has {len}"),
                });
            }
            ptrs.push(ptr);
        }
        let args = Args {
            bufs: ptrs.as_ptr(),
            syms: syms.as_ptr(),
        };
        let steps = Steps {
            args,
            ptrs: &ptrs,
            numels: &numels,
        };
        if self.on_pool
            && rayon::current_thread_index().is_none()
            && self.any_parallel_step(&numels, bindings)
        {
            // The steps run on a pool thread (rayon::scope injects its closure into the pool
            // when called from outside it, and the caller sleeps until it is done): a parallel
            // step started there runs part of its work on that thread and wakes one other,
            // rather than leaving the calling thread to compete for the two cores with idle
            // workers spinning between steps.
            rayon::scope(|_| self.run_steps(&steps, bindings))
        } else {
            self.run_steps(&steps, bindings)
        }
    }

    /// Runs every step in order (see [`launch`](Self::launch)).
    fn run_steps(&self, s: &Steps, bindings: &Bindings) -> Result<(), RunError> {
        let (args, ptrs, numels) = (s.args, s.ptrs, s.numels);
        let mut at = 0;
        while let Some(step) = self.program.steps.get(at) {
            at += 1;
            match step {
                Step::Kernel(i) => self.launch_kernel(*i, args, bindings)?,
                Step::Library(call) => match self.epilogue_at(at - 1, call, numels, bindings)? {
                    Some(k) => {
                        let f = self.kernels[k];
                        let epilogue = move |points: std::ops::Range<usize>| {
                            let a = args;
                            // SAFETY: as in `launch_kernel`; the convolution calls this on
                            // disjoint ranges of the kernel's iteration space (which has as
                            // many points as the convolution's output, checked by
                            // `epilogue_at`), each once its output elements are written, and
                            // the kernel reads that output only at its own point.
                            unsafe { f(a.bufs, a.syms, points.start as i64, points.end as i64) }
                        };
                        crate::library::run(call, ptrs, numels, bindings, Some(&epilogue))?;
                        // The epilogue was the next step.
                        at += 1;
                    }
                    None => crate::library::run(call, ptrs, numels, bindings, None)?,
                },
            }
        }
        Ok(())
    }

    /// The kernel to run as the epilogue of the library call at step `at`: the next step's,
    /// when `Program::library_epilogue` allows it and its iteration space has as many points
    /// as the call's output at these sizes.
    fn epilogue_at(
        &self,
        at: usize,
        call: &LibraryCall,
        numels: &[i64],
        bindings: &Bindings,
    ) -> Result<Option<usize>, RunError> {
        let Some(k) = self.epilogues[at] else {
            return Ok(None);
        };
        let points = product(&self.program.kernels[k].dims, bindings)?;
        Ok((numels.get(call.writes() as usize) == Some(&points)).then_some(k))
    }

    /// Whether some step would run on several threads at these sizes (a convolution or
    /// gather-family call always may).
    fn any_parallel_step(&self, numels: &[i64], bindings: &Bindings) -> bool {
        let mut steps = self.program.steps.iter().zip(&self.epilogues);
        steps.any(|(step, epilogue)| match step {
            Step::Kernel(i) => self.kernel_split(*i, bindings).is_ok_and(|(_, t)| t > 1),
            Step::Library(call) => match call.as_ref() {
                LibraryCall::Gemm(g) => {
                    crate::library::gemm_in_parallel(g, bindings, epilogue.is_some())
                }
                call => numels.get(call.writes() as usize) > Some(&0),
            },
        })
    }

    /// Kernel `i`'s iteration-space size and the tasks it is split into.
    fn kernel_split(&self, i: usize, bindings: &Bindings) -> Result<(i64, i64), RunError> {
        let kernel = &self.program.kernels[i];
        let total = product(&kernel.dims, bindings)?;
        if total == 0 {
            return Ok((0, 0));
        }
        let reduce_size = match &kernel.reduce {
            Some(r) => product(&r.dims, bindings)?,
            None => 0,
        };
        let work = total.saturating_mul(cost_per_point(kernel, reduce_size));
        let (min_work, min_task_work) = parallel_thresholds();
        // Asked only for large work: the first call starts rayon's pool (threads), which
        // a short process running small kernels (`kiln run`) would pay for nothing.
        let threads = if work >= min_work {
            rayon::current_num_threads() as i64
        } else {
            1
        };
        let tasks = if threads > 1 {
            (work / min_task_work).clamp(1, threads * 4).min(total)
        } else {
            1
        };
        Ok((total, tasks))
    }

    /// Runs kernel `i` over its iteration space, split across threads when large enough.
    fn launch_kernel(&self, i: usize, args: Args, bindings: &Bindings) -> Result<(), RunError> {
        let f = self.kernels[i];
        let (total, tasks) = self.kernel_split(i, bindings)?;
        if total == 0 {
            return Ok(());
        }
        if tasks <= 1 {
            // SAFETY: every buffer holds at least the elements the program's sizes say
            // (checked above) and the range lies inside the iteration space.
            unsafe { f(args.bufs, args.syms, 0, total) };
        } else {
            (0..tasks).into_par_iter().for_each(|t| {
                let a = args;
                let start = total / tasks * t + (total % tasks).min(t);
                let end = start + total / tasks + i64::from(t < total % tasks);
                // SAFETY: as above; tasks cover disjoint ranges of the iteration space.
                unsafe { f(a.bufs, a.syms, start, end) };
            });
        }
        Ok(())
    }
}

fn product(dims: &[Expr], b: &Bindings) -> Result<i64, RunError> {
    dims.iter().try_fold(1i64, |acc, d| {
        let v = eval(d, b)?;
        acc.checked_mul(v.max(0)).ok_or_else(|| RunError::Size {
            expr: d.to_string(),
            msg: "the iteration space overflows i64".to_string(),
        })
    })
}

#[cfg(test)]
mod tests;

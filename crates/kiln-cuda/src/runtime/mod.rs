//! Loading artifacts and launching them through the CUDA driver API (cudarc).
//!
//! Nothing here panics on a machine without a driver or a GPU: [`CudaDevice::new`] checks that
//! libcuda can be loaded before cudarc touches it and returns [`CudaError::CudaUnavailable`] or
//! [`CudaError::NoDevice`]. Every driver result is checked and reported with what was being
//! done. Inputs are validated against the program's specs before any allocation or launch.
mod bench;
mod blas;
mod library;
mod validate;
mod variant;

use std::sync::{Arc, Mutex};

use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::Ptx;
use kiln_ir::{DType, InputError, Role, Tensor};
use kiln_sched::{AccessCheck, BufKind, Program};

use crate::artifact::CudaArtifact;
use crate::codegen::{
    BLOCK_SIZE, CODEGEN_VERSION, KernelVariants, block_reduce_name, kernel_buffers, vector_name,
};
use crate::error::CudaError;
use crate::nvrtc::Arch;
use validate::{InputMeta, bind_inputs, byte_len, eval_count};
pub use variant::{
    BLOCK_REDUCE_FEW_OUTPUTS, BLOCK_REDUCE_LONG_EXTENT, BLOCK_REDUCE_MIN_EXTENT, KernelVariant,
    VariantPolicy,
};
use variant::{KernelFunctions, LaunchFacts, choose, reduce_extent, vector_ok};

/// The most blocks one launch uses; the kernels' grid-stride loops cover the rest.
const MAX_BLOCKS: usize = 1 << 20;

/// Whether libcuda (the driver library) can be loaded.
pub fn driver_available() -> bool {
    // SAFETY: only tries to dlopen the library under its candidate names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// One GPU: a driver context and a stream for transfers.
#[derive(Debug, Clone)]
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
}

impl CudaDevice {
    /// Opens device `ordinal`. A typed error, never a panic, when there is no driver or device.
    pub fn new(ordinal: usize) -> Result<CudaDevice, CudaError> {
        if !driver_available() {
            return Err(CudaError::CudaUnavailable {
                reason: "libcuda (the NVIDIA driver library) could not be loaded".to_string(),
            });
        }
        // The library is present (checked above); cuInit may be called any number of times.
        cudarc::driver::result::init().map_err(|e| CudaError::CudaUnavailable {
            reason: format!("cuInit failed: {e:?}"),
        })?;
        let count = CudaContext::device_count().map_err(|e| CudaError::CudaUnavailable {
            reason: format!("cuDeviceGetCount failed: {e:?}"),
        })?;
        if usize::try_from(count).map_or(true, |c| ordinal >= c) {
            return Err(CudaError::NoDevice { count });
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| {
            CudaError::driver(&format!("creating a context on device {ordinal}"), e)
        })?;
        let stream = ctx.default_stream();
        Ok(CudaDevice { ctx, stream })
    }

    /// `(major, minor)` compute capability.
    pub fn compute_capability(&self) -> Result<(i32, i32), CudaError> {
        self.ctx
            .compute_capability()
            .map_err(|e| CudaError::driver("reading the compute capability", e))
    }

    /// The architecture to compile for (`sm_90` on an H100).
    pub fn arch(&self) -> Result<Arch, CudaError> {
        let (major, minor) = self.compute_capability()?;
        Arch::from_capability(major, minor)
    }

    pub fn name(&self) -> Result<String, CudaError> {
        self.ctx
            .name()
            .map_err(|e| CudaError::driver("reading the device name", e))
    }

    /// Copies a host tensor to the device.
    pub fn upload(&self, t: &Tensor) -> Result<DeviceTensor, CudaError> {
        upload_on(&self.stream, t)
    }
}

/// A tensor in device memory: contiguous, C order, the same bytes as a host [`Tensor`].
#[derive(Debug)]
pub struct DeviceTensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// At least one byte (the driver rejects empty allocations); `bytes` of it are the data.
    data: CudaSlice<u8>,
    bytes: usize,
}

impl DeviceTensor {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Copies the tensor back to the host.
    pub fn download(&self) -> Result<Tensor, CudaError> {
        // Allocated fallibly: a result too large for host memory is an error, not an abort.
        let mut host = Tensor::try_zeros(self.dtype, &self.shape)?;
        if self.bytes > 0 {
            let src = self.data.slice(0..self.bytes);
            self.data
                .stream()
                .memcpy_dtoh(&src, &mut host.data[..])
                .map_err(|e| CudaError::driver("copying a tensor to the host", e))?;
        }
        Ok(host)
    }
}

fn upload_on(stream: &Arc<CudaStream>, t: &Tensor) -> Result<DeviceTensor, CudaError> {
    let numel = t
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| CudaError::TooLarge {
            what: "a tensor's element count".to_string(),
            value: i64::MAX,
            limit: "it overflows usize".to_string(),
        })?;
    let bytes = byte_len(numel, t.dtype, "a tensor")?;
    if t.data.len() != bytes {
        return Err(InputError::Bytes {
            role: Role::Input,
            name: "(upload)".to_string(),
            dtype: t.dtype,
            shape: t.shape.clone(),
            expected: bytes.to_string(),
            found: t.data.len(),
        }
        .into());
    }
    let data = if bytes == 0 {
        alloc(stream, 0)?
    } else {
        stream
            .clone_htod(&t.data[..])
            .map_err(|e| CudaError::driver("copying a tensor to the device", e))?
    };
    Ok(DeviceTensor {
        dtype: t.dtype,
        shape: t.shape.clone(),
        data,
        bytes,
    })
}

fn alloc(stream: &Arc<CudaStream>, bytes: usize) -> Result<CudaSlice<u8>, CudaError> {
    stream
        .alloc_zeros::<u8>(bytes.max(1))
        .map_err(|e| CudaError::driver(&format!("allocating {bytes} bytes"), e))
}

/// A loaded artifact: its module, kernel functions and a stream of its own.
#[derive(Debug)]
pub struct CudaProgram {
    program: Program,
    _module: Arc<CudaModule>,
    functions: Vec<KernelFunctions>,
    stream: Arc<CudaStream>,
    policy: VariantPolicy,
    /// The shape each kernel ran with in the latest [`CudaProgram::run`] (empty before one;
    /// `Point` for a kernel skipped because its iteration space was empty).
    last_variants: Mutex<Vec<KernelVariant>>,
    /// The symbol values at which every kernel access was proved in bounds.
    access: AccessCheck,
    /// Helper kernels and the cuBLAS handle of the library steps.
    library: library::Library,
}

/// A buffer of one launch: an input the caller owns, or memory this run allocated.
enum Slot<'a> {
    Borrowed(&'a CudaSlice<u8>),
    Owned(CudaSlice<u8>),
    /// Moved into the `i`-th output after the launches.
    Taken(usize),
}

impl Slot<'_> {
    fn slice(&self) -> Option<&CudaSlice<u8>> {
        match self {
            Slot::Borrowed(s) => Some(s),
            Slot::Owned(s) => Some(s),
            Slot::Taken(_) => None,
        }
    }
}

impl CudaProgram {
    /// Loads the artifact's cubin into `device` (no NVRTC involved).
    pub fn load(device: &CudaDevice, artifact: &CudaArtifact) -> Result<CudaProgram, CudaError> {
        let p = &artifact.program;
        if artifact.codegen_version != CODEGEN_VERSION {
            // Older code lacks the functions of newer kernel shapes (and their cache key differs).
            return Err(CudaError::Codegen {
                kernel: p.graph_name.clone(),
                msg: format!(
                    "artifact was generated by codegen v{}, this runtime needs v{CODEGEN_VERSION}; \
                     recompile it",
                    artifact.codegen_version
                ),
            });
        }
        if artifact.kernel_names.len() != p.kernels.len() {
            return Err(CudaError::Codegen {
                kernel: p.graph_name.clone(),
                msg: format!(
                    "artifact names {} kernels but its program has {}",
                    artifact.kernel_names.len(),
                    p.kernels.len()
                ),
            });
        }
        let module = device
            .ctx
            .load_module(Ptx::from_binary(artifact.cubin.clone()))
            .map_err(|e| match device.arch() {
                Ok(arch) if arch.as_str() != artifact.arch => CudaError::ArchMismatch {
                    artifact_arch: artifact.arch.clone(),
                    device_arch: arch.to_string(),
                },
                _ => CudaError::driver("loading the cubin", e),
            })?;
        let lookup = |name: &str| -> Result<CudaFunction, CudaError> {
            // cudarc unwraps the CString conversion: refuse a NUL here instead.
            if name.contains('\0') {
                return Err(CudaError::Codegen {
                    kernel: name.replace('\0', "\\0"),
                    msg: "kernel name contains a NUL byte".to_string(),
                });
            }
            module
                .load_function(name)
                .map_err(|e| CudaError::driver(&format!("looking up kernel `{name}`"), e))
        };
        let mut functions = Vec::new();
        for (name, k) in artifact.kernel_names.iter().zip(&p.kernels) {
            let variants = KernelVariants::of(p, k);
            functions.push(KernelFunctions {
                point: lookup(name)?,
                block_reduce: match variants.block_reduce {
                    true => Some(lookup(&block_reduce_name(name))?),
                    false => None,
                },
                vector: match &variants.vector {
                    Some(plan) => Some((lookup(&vector_name(name))?, plan.lanes)),
                    None => None,
                },
            });
        }
        let library = library::Library::load(p, &module)?;
        let stream = device
            .ctx
            .new_stream()
            .map_err(|e| CudaError::driver("creating a stream", e))?;
        Ok(CudaProgram {
            program: p.clone(),
            _module: module,
            functions,
            stream,
            policy: VariantPolicy::Auto,
            last_variants: Mutex::new(Vec::new()),
            access: AccessCheck::new(),
            library,
        })
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Proves every kernel access in bounds at these symbol values (in the order of
    /// `program().symbols`), as a launch does first; remembered, so a launch at the same
    /// values does not repeat it.
    pub fn prove_accesses(&self, syms: &[i64]) -> Result<(), kiln_sched::AccessError> {
        self.access.ensure(&self.program, syms)
    }

    /// How later runs choose each kernel's shape (see [`VariantPolicy`]).
    pub fn set_variant_policy(&mut self, policy: VariantPolicy) {
        self.policy = policy;
    }

    /// The shape each kernel ran with in the latest run, in kernel order.
    pub fn last_variants(&self) -> Vec<KernelVariant> {
        // A poisoned lock only means a run panicked while recording; the list is still valid.
        match self.last_variants.lock() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Runs the program on device inputs and returns its outputs, once the stream is done.
    pub fn run(&self, inputs: &[&DeviceTensor]) -> Result<Vec<DeviceTensor>, CudaError> {
        let bound = self.bind(inputs.iter().map(|t| (t.dtype, t.shape.as_slice())))?;
        self.run_with(inputs, bound)
    }

    /// Runs on inputs whose symbols are bound (checked by the caller, or by [`Self::run`]).
    /// Each input buffer is still checked to hold its declared bytes, and accesses proved.
    fn run_with(
        &self,
        inputs: &[&DeviceTensor],
        bound: validate::Bound,
    ) -> Result<Vec<DeviceTensor>, CudaError> {
        let p = &self.program;
        // The kernels' offsets stay inside the buffers' declared sizes (proved once per symbol
        // values); each buffer below is checked to be that large.
        self.access.ensure(p, &bound.values)?;
        let mut slots: Vec<Slot> = Vec::with_capacity(p.buffers.len());
        let mut sizes: Vec<usize> = Vec::with_capacity(p.buffers.len());
        for (i, decl) in p.buffers.iter().enumerate() {
            let numel = eval_count(&decl.numel, &bound.bindings, &format!("buffer b{i}"))?;
            let bytes = byte_len(numel, decl.dtype, &format!("buffer b{i}"))?;
            sizes.push(numel);
            let slot = match &decl.kind {
                BufKind::Input(k) => {
                    let t = inputs.get(*k).ok_or(InputError::Count {
                        role: Role::Input,
                        expected: p.inputs.len(),
                        found: inputs.len(),
                    })?;
                    validate::check_input_bytes(i, t.data.len(), bytes)?;
                    Slot::Borrowed(&t.data)
                }
                BufKind::Output(_) | BufKind::Temp => Slot::Owned(alloc(&self.stream, bytes)?),
                BufKind::Const(data) => {
                    if data.len() != bytes {
                        return Err(CudaError::Eval {
                            what: format!("constant buffer b{i}"),
                            expr: decl.numel.to_string(),
                            reason: format!("it holds {} bytes, not {bytes}", data.len()),
                        });
                    }
                    let slice = if bytes == 0 {
                        alloc(&self.stream, 0)?
                    } else {
                        self.stream
                            .clone_htod(data)
                            .map_err(|e| CudaError::driver("uploading a constant", e))?
                    };
                    Slot::Owned(slice)
                }
            };
            slots.push(slot);
        }
        let mut ran = Vec::with_capacity(p.kernels.len());
        for step in &p.steps {
            match step {
                kiln_sched::Step::Kernel(i) => {
                    let (k, f) = (&p.kernels[*i], &self.functions[*i]);
                    ran.push(self.launch(k, f, &slots, &sizes, &bound)?);
                }
                kiln_sched::Step::Library(call) => {
                    let ctx = library::StepCtx {
                        stream: &self.stream,
                        library: &self.library,
                        slots: &slots,
                        sizes: &sizes,
                    };
                    library::run(&ctx, call, &bound)?;
                }
            }
        }
        match self.last_variants.lock() {
            Ok(mut v) => *v = ran,
            Err(poisoned) => *poisoned.into_inner() = ran,
        }
        self.stream
            .synchronize()
            .map_err(|e| CudaError::driver("waiting for the kernels", e))?;
        self.collect_outputs(slots, &bound)
    }

    fn launch(
        &self,
        k: &kiln_sched::Kernel,
        f: &KernelFunctions,
        slots: &[Slot],
        sizes: &[usize],
        bound: &validate::Bound,
    ) -> Result<KernelVariant, CudaError> {
        let mut n: usize = 1;
        for d in &k.dims {
            let v = eval_count(d, &bound.bindings, &format!("kernel `{}` dims", k.name))?;
            n = n.checked_mul(v).ok_or_else(|| CudaError::TooLarge {
                what: format!("kernel `{}` iteration space", k.name),
                value: i64::MAX,
                limit: "it overflows usize".to_string(),
            })?;
        }
        if n == 0 {
            return Ok(KernelVariant::Point);
        }
        let bufs = kernel_buffers(k);
        if k.index_bits == 32 {
            // The scheduler's int32 guard should have kept this call away; never index past it.
            let widest = bufs.iter().map(|&b| sizes[b as usize]).chain([n]).max();
            if let Some(w) = widest.filter(|&w| w >= (1usize << 31)) {
                return Err(CudaError::TooLarge {
                    what: format!("an extent of 32-bit kernel `{}`", k.name),
                    value: i64::try_from(w).unwrap_or(i64::MAX),
                    limit: "below 2^31".to_string(),
                });
            }
        }
        let n_arg = i64::try_from(n).map_err(|_| CudaError::TooLarge {
            what: format!("kernel `{}` iteration space", k.name),
            value: i64::MAX,
            limit: "fits an i64".to_string(),
        })?;
        let slices = bufs
            .iter()
            .map(|&b| {
                slots
                    .get(b as usize)
                    .and_then(Slot::slice)
                    .ok_or_else(|| CudaError::Codegen {
                        kernel: k.name.clone(),
                        msg: format!("buffer b{b} has no memory"),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let facts = LaunchFacts {
            points: n,
            reduce_extent: reduce_extent(k, f, bound)?,
            vector_ok: vector_ok(k, f, &slices, &self.stream, bound)?,
        };
        let variant = choose(self.policy, facts);
        let (function, blocks) = match (variant, &f.block_reduce, &f.vector) {
            (KernelVariant::BlockReduce, Some(block), _) => (block, n),
            (KernelVariant::Vector, _, Some((vector, lanes))) => {
                (vector, (n / *lanes as usize).div_ceil(BLOCK_SIZE as usize))
            }
            _ => (&f.point, n.div_ceil(BLOCK_SIZE as usize)),
        };
        let cfg = LaunchConfig {
            grid_dim: (blocks.clamp(1, MAX_BLOCKS) as u32, 1, 1),
            block_dim: (BLOCK_SIZE, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut builder = self.stream.launch_builder(function);
        for slice in slices {
            builder.arg(slice);
        }
        for v in &bound.values {
            builder.arg(v);
        }
        builder.arg(&n_arg);
        // SAFETY: the parameters match the generated signature (codegen's ABI: buffers by id,
        // symbols, n); every buffer holds the elements its offsets reach for these bindings.
        unsafe { builder.launch(cfg) }.map_err(|e| {
            CudaError::driver(&format!("launching kernel `{}` ({variant:?})", k.name), e)
        })?;
        Ok(variant)
    }

    fn collect_outputs(
        &self,
        mut slots: Vec<Slot>,
        bound: &validate::Bound,
    ) -> Result<Vec<DeviceTensor>, CudaError> {
        let mut outs = Vec::new();
        for (spec, buf) in &self.program.outputs {
            let shape = spec
                .shape
                .iter()
                .map(|d| eval_count(d, &bound.bindings, &format!("output `{}`", spec.name)))
                .collect::<Result<Vec<_>, _>>()?;
            let numel = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .ok_or_else(|| CudaError::TooLarge {
                    what: format!("output `{}`'s element count", spec.name),
                    value: i64::MAX,
                    limit: "it overflows usize".to_string(),
                })?;
            let bytes = byte_len(numel, spec.dtype, &format!("output `{}`", spec.name))?;
            let slot = slots
                .get_mut(*buf as usize)
                .ok_or_else(|| CudaError::Codegen {
                    kernel: self.program.graph_name.clone(),
                    msg: format!("output `{}` names unknown buffer b{buf}", spec.name),
                })?;
            // An output listed twice is copied from its first occurrence.
            let data = match std::mem::replace(slot, Slot::Taken(outs.len())) {
                Slot::Owned(s) => s,
                Slot::Borrowed(s) => self.copy(s)?,
                Slot::Taken(first) => {
                    *slot = Slot::Taken(first);
                    let first: &DeviceTensor = &outs[first];
                    self.copy(&first.data)?
                }
            };
            outs.push(DeviceTensor {
                dtype: spec.dtype,
                shape,
                data,
                bytes,
            });
        }
        Ok(outs)
    }

    /// Checks the inputs' dtypes and shapes (host or device alike) against the program and
    /// binds its symbols from them.
    fn bind<'a>(
        &self,
        inputs: impl Iterator<Item = (DType, &'a [usize])>,
    ) -> Result<validate::Bound, CudaError> {
        let metas: Vec<InputMeta> = inputs
            .map(|(dtype, shape)| InputMeta { dtype, shape })
            .collect();
        bind_inputs(&self.program, &metas)
    }

    fn copy(&self, s: &CudaSlice<u8>) -> Result<CudaSlice<u8>, CudaError> {
        self.stream
            .clone_dtod(s)
            .map_err(|e| CudaError::driver("copying an output", e))
    }

    /// Host convenience: validates, uploads, runs and downloads.
    pub fn run_host(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, CudaError> {
        let bound = self.bind(inputs.iter().map(|t| (t.dtype, t.shape.as_slice())))?;
        self.host_with(inputs, bound)
    }

    /// [`run_host`](Self::run_host) for a caller that has checked `inputs` against
    /// `program().inputs` and bound the program's symbols from them (the driver's
    /// specialisation match), so a call validates once. Uploads still check byte lengths,
    /// buffers their sizes, and accesses are proved, whatever the caller did.
    pub fn run_host_bound(
        &self,
        inputs: &[&Tensor],
        bindings: &kiln_shape::Bindings,
    ) -> Result<Vec<Tensor>, CudaError> {
        let bound = validate::bound(&self.program, bindings.clone())?;
        self.host_with(inputs, bound)
    }

    fn host_with(
        &self,
        inputs: &[&Tensor],
        bound: validate::Bound,
    ) -> Result<Vec<Tensor>, CudaError> {
        let device_inputs = inputs
            .iter()
            .map(|t| upload_on(&self.stream, t))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&DeviceTensor> = device_inputs.iter().collect();
        self.run_with(&refs, bound)?
            .iter()
            .map(|t| t.download())
            .collect()
    }
}

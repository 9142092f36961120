//! DLPack (https://dmlc.github.io/dlpack/latest/): how arrays cross the boundary without a
//! copy. An input's `__dlpack__()` capsule is read in place (the capsule, kept alive by the
//! tensor's storage, frees the producer's memory when it dies); an output is a [`KilnArray`]
//! whose `__dlpack__` hands kiln's buffer to `numpy.from_dlpack` / `torch.from_dlpack`, which
//! free it through the deleter. The structs are DLPack's C ABI (legacy `dltensor` capsules,
//! which every NumPy >= 1.22 and PyTorch accept).
#![allow(unsafe_code)] // the C ABI of DLPack capsules
use std::ffi::{CStr, c_void};
use std::ptr::NonNull;

use kiln_ir::{DType, Storage, Tensor};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::errors;

const CAPSULE: &CStr = c"dltensor";
const DEVICE_CPU: i32 = 1;

#[repr(C)]
#[derive(Clone, Copy)]
struct DLDevice {
    device_type: i32,
    device_id: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct DLDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

#[repr(C)]
struct DLTensor {
    data: *mut c_void,
    device: DLDevice,
    ndim: i32,
    dtype: DLDataType,
    shape: *mut i64,
    strides: *mut i64,
    byte_offset: u64,
}

#[repr(C)]
struct DLManagedTensor {
    dl_tensor: DLTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

/// DLPack's type code and bits for a kiln dtype, and back.
fn dl_dtype(d: DType) -> DLDataType {
    let (code, bits) = match d {
        DType::Bool => (6, 8),
        DType::I64 => (0, 64),
        DType::F16 => (2, 16),
        DType::BF16 => (4, 16),
        DType::F32 => (2, 32),
        DType::F64 => (2, 64),
    };
    DLDataType {
        code,
        bits,
        lanes: 1,
    }
}

fn kiln_dtype(t: DLDataType) -> Option<DType> {
    if t.lanes != 1 {
        return None;
    }
    DType::ALL.into_iter().find(|&d| {
        let k = dl_dtype(d);
        k.code == t.code && k.bits == t.bits
    })
}

/// What an input capsule holds, checked: CPU, a kiln dtype, C-contiguous.
struct Borrowed {
    dtype: DType,
    shape: Vec<usize>,
    ptr: *mut u8,
    bytes: usize,
}

/// Reads a `__dlpack__()` capsule. `what` names the argument in errors.
fn read_capsule(capsule: &Bound<'_, PyAny>, what: &str) -> PyResult<Borrowed> {
    // SAFETY: the checks below run on a live object; the pointer the capsule returns is a
    // DLManagedTensor by the DLPack protocol, valid while the capsule lives (we hold it).
    let managed = unsafe {
        let raw = capsule.as_ptr();
        if pyo3::ffi::PyCapsule_IsValid(raw, CAPSULE.as_ptr()) != 1 {
            return Err(errors::input(format!(
                "{what}: __dlpack__() did not return an unused 'dltensor' capsule"
            )));
        }
        &*(pyo3::ffi::PyCapsule_GetPointer(raw, CAPSULE.as_ptr()) as *const DLManagedTensor)
    };
    let t = &managed.dl_tensor;
    if t.device.device_type != DEVICE_CPU {
        return Err(errors::input(format!(
            "{what}: lives on DLPack device type {} (kiln's Python API takes CPU arrays)",
            t.device.device_type
        )));
    }
    let dtype = kiln_dtype(t.dtype).ok_or_else(|| {
        errors::input(format!(
            "{what}: unsupported element type (DLPack code {}, {} bits, {} lanes); kiln takes \
             bool, int64, float16, bfloat16, float32 and float64",
            t.dtype.code, t.dtype.bits, t.dtype.lanes
        ))
    })?;
    let ndim = usize::try_from(t.ndim).map_err(|_| errors::input(format!("{what}: bad rank")))?;
    // SAFETY: DLPack guarantees `ndim` entries behind `shape` (and `strides` when non-null).
    let dims: &[i64] = if ndim == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(t.shape, ndim) }
    };
    let strides: Option<&[i64]> = (!t.strides.is_null() && ndim > 0)
        .then(|| unsafe { std::slice::from_raw_parts(t.strides, ndim) });
    let shape: Vec<usize> = dims
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| errors::input(format!("{what}: negative dim in {dims:?}")))?;
    if let Some(strides) = strides.filter(|s| !is_contiguous(&shape, s)) {
        return Err(errors::input(format!(
            "{what}: strides {strides:?} are not C-contiguous for shape {shape:?}"
        )));
    }
    let bytes =
        kiln_ir::byte_size(dtype, &shape).map_err(|e| errors::input(format!("{what}: {e}")))?;
    let offset =
        usize::try_from(t.byte_offset).map_err(|_| errors::input(format!("{what}: bad offset")))?;
    let ptr = (t.data as *mut u8).wrapping_add(offset);
    Ok(Borrowed {
        dtype,
        shape,
        ptr,
        bytes,
    })
}

/// Whether element strides describe a C-order layout (size-1 dims may have any stride).
fn is_contiguous(shape: &[usize], strides: &[i64]) -> bool {
    let mut expected: i64 = 1;
    for (&d, &s) in shape.iter().zip(strides).rev() {
        if d == 0 {
            return true;
        }
        if d != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(d as i64);
    }
    true
}

/// A tensor over the memory of a `__dlpack__()` capsule, which the tensor keeps alive (so the
/// producer's array cannot be freed while kiln reads or writes it).
pub(crate) fn tensor_from_capsule(capsule: Bound<'_, PyAny>, what: &str) -> PyResult<Tensor> {
    let b = read_capsule(&capsule, what)?;
    let owner: Py<PyAny> = capsule.unbind();
    let ptr = NonNull::new(b.ptr).unwrap_or(NonNull::dangling());
    // SAFETY: the capsule (kept in the storage) keeps the producer's `bytes` bytes at `ptr`
    // alive; an empty tensor touches no memory.
    let data = unsafe { Storage::from_external(ptr, b.bytes, Box::new(owner)) };
    Ok(Tensor {
        dtype: b.dtype,
        shape: b.shape,
        data,
    })
}

/// What an exported capsule's `manager_ctx` owns: the tensor and the shape array DLPack
/// points at.
struct Exported {
    _tensor: Tensor,
    _shape: Vec<i64>,
}

unsafe extern "C" fn delete_exported(managed: *mut DLManagedTensor) {
    if managed.is_null() {
        return;
    }
    // SAFETY: `managed` and its context were boxed by `export` and are freed exactly once:
    // here, called by the consumer, or by the capsule destructor if no consumer took it.
    unsafe {
        let m = Box::from_raw(managed);
        drop(Box::from_raw(m.manager_ctx as *mut Exported));
    }
}

unsafe extern "C" fn capsule_destructor(capsule: *mut pyo3::ffi::PyObject) {
    // SAFETY: called by Python on our capsule; only an unconsumed capsule still owns the
    // tensor (a consumer renames it to `used_dltensor` and calls the deleter itself).
    unsafe {
        if pyo3::ffi::PyCapsule_IsValid(capsule, CAPSULE.as_ptr()) == 1 {
            let p = pyo3::ffi::PyCapsule_GetPointer(capsule, CAPSULE.as_ptr());
            delete_exported(p as *mut DLManagedTensor);
        }
    }
}

/// Hands `tensor` to a DLPack consumer as a `dltensor` capsule.
fn export<'py>(py: Python<'py>, mut tensor: Tensor) -> PyResult<Bound<'py, PyAny>> {
    let mut shape: Vec<i64> = tensor.shape.iter().map(|&d| d as i64).collect();
    let ndim = i32::try_from(shape.len()).map_err(|_| errors::input("rank too large"))?;
    let dl_tensor = DLTensor {
        data: tensor.data.as_mut_ptr() as *mut c_void,
        device: DLDevice {
            device_type: DEVICE_CPU,
            device_id: 0,
        },
        ndim,
        dtype: dl_dtype(tensor.dtype),
        shape: shape.as_mut_ptr(),
        // Null strides mean C order.
        strides: std::ptr::null_mut(),
        byte_offset: 0,
    };
    let ctx = Box::into_raw(Box::new(Exported {
        _tensor: tensor,
        _shape: shape,
    }));
    let managed = Box::into_raw(Box::new(DLManagedTensor {
        dl_tensor,
        manager_ctx: ctx as *mut c_void,
        deleter: Some(delete_exported),
    }));
    // SAFETY: a capsule over our boxed struct; its destructor frees it unless consumed.
    unsafe {
        let raw = pyo3::ffi::PyCapsule_New(
            managed as *mut c_void,
            CAPSULE.as_ptr(),
            Some(capsule_destructor),
        );
        if raw.is_null() {
            delete_exported(managed);
        }
        Bound::from_owned_ptr_or_err(py, raw)
    }
}

/// One output of a kiln call, until a consumer takes it with `numpy.from_dlpack(a)` or
/// `torch.from_dlpack(a)` (once: the buffer then belongs to the consumer).
#[pyclass(module = "kiln._native", name = "KilnArray")]
pub struct KilnArray {
    tensor: Option<Tensor>,
}

impl KilnArray {
    pub(crate) fn new(tensor: Tensor) -> KilnArray {
        KilnArray {
            tensor: Some(tensor),
        }
    }
}

#[pymethods]
impl KilnArray {
    /// DLPack export; the keyword arguments of the protocol (stream, max_version, dl_device,
    /// copy) are accepted and ignored: the buffer is on the CPU and handed over as is.
    #[pyo3(signature = (**_kwargs))]
    fn __dlpack__<'py>(
        &mut self,
        py: Python<'py>,
        _kwargs: Option<&Bound<'py, pyo3::types::PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let t = self
            .tensor
            .take()
            .ok_or_else(|| errors::input("this kiln output was already handed to a consumer"))?;
        export(py, t)
    }

    fn __dlpack_device__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, [DEVICE_CPU, 0])
    }

    #[getter]
    fn dtype(&self) -> Option<&'static str> {
        self.tensor.as_ref().map(|t| t.dtype.name())
    }

    #[getter]
    fn shape(&self) -> Option<Vec<usize>> {
        self.tensor.as_ref().map(|t| t.shape.clone())
    }
}

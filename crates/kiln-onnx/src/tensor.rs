//! `TensorProto` to kiln tensors: dtypes, the typed data fields and `raw_data`, and external
//! data files, which must lie inside the model's directory.
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use kiln_ir::{DType, Tensor};

use crate::error::OnnxError;
use crate::proto::TensorProto;
use crate::proto::tensor_proto::DataLocation;

/// ONNX `TensorProto.DataType` codes kiln reads.
pub(crate) const FLOAT: i32 = 1;
pub(crate) const INT32: i32 = 6;
pub(crate) const INT64: i32 = 7;
pub(crate) const BOOL: i32 = 9;
pub(crate) const FLOAT16: i32 = 10;
pub(crate) const DOUBLE: i32 = 11;
pub(crate) const BFLOAT16: i32 = 16;

/// The kiln dtype of an ONNX element type, if kiln has it.
pub(crate) fn kiln_dtype(code: i32) -> Option<DType> {
    Some(match code {
        FLOAT => DType::F32,
        DOUBLE => DType::F64,
        FLOAT16 => DType::F16,
        BFLOAT16 => DType::BF16,
        BOOL => DType::Bool,
        INT64 => DType::I64,
        _ => return None,
    })
}

fn tensor_err(t: &TensorProto, msg: impl Into<String>) -> OnnxError {
    OnnxError::Tensor {
        name: t.name.clone().unwrap_or_default(),
        msg: msg.into(),
    }
}

/// The dims of `t` as sizes, checked.
pub(crate) fn dims(t: &TensorProto) -> Result<Vec<usize>, OnnxError> {
    t.dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| tensor_err(t, format!("negative dim {d}"))))
        .collect()
}

/// The little-endian bytes of `t`'s elements (`elem` bytes each), from wherever they are.
fn element_bytes(
    t: &TensorProto,
    numel: usize,
    elem: usize,
    dir: &Path,
) -> Result<Vec<u8>, OnnxError> {
    let want = numel
        .checked_mul(elem)
        .ok_or_else(|| tensor_err(t, "its size overflows"))?;
    let bytes: Vec<u8> = if t.data_location == Some(DataLocation::External as i32) {
        read_external(t, dir, want)?
    } else if let Some(raw) = t.raw_data.as_ref().filter(|r| !r.is_empty() || numel == 0) {
        raw.to_vec()
    } else {
        typed_field_bytes(t, elem)
    };
    if bytes.len() != want {
        return Err(tensor_err(
            t,
            format!(
                "holds {} bytes, its shape {:?} needs {want}",
                bytes.len(),
                t.dims
            ),
        ));
    }
    Ok(bytes)
}

/// The typed repeated fields (`float_data`, `int32_data`, ...) as little-endian bytes.
fn typed_field_bytes(t: &TensorProto, elem: usize) -> Vec<u8> {
    let code = t.data_type.unwrap_or(0);
    match code {
        FLOAT => t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DOUBLE => t.double_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        INT64 => t.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        // int32_data carries every narrower integer, bool and the 16-bit floats' bits.
        _ => t
            .int32_data
            .iter()
            .flat_map(|v| v.to_le_bytes().into_iter().take(elem))
            .collect(),
    }
}

/// The external data of `t`: `location` relative to the model's directory, without `..`,
/// resolving (after links) inside it; `offset` and `length` inside the file.
fn read_external(t: &TensorProto, dir: &Path, want: usize) -> Result<Vec<u8>, OnnxError> {
    let field = |k: &str| {
        t.external_data
            .iter()
            .find(|e| e.key.as_deref() == Some(k))
            .and_then(|e| e.value.clone())
    };
    let location = field("location").unwrap_or_default();
    let refuse = |reason: String| OnnxError::ExternalData {
        name: t.name.clone().unwrap_or_default(),
        location: location.clone(),
        reason,
    };
    let rel = PathBuf::from(&location);
    if location.is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(refuse(
            "the path must be relative to the model's directory, without '..'".into(),
        ));
    }
    let root = dir
        .canonicalize()
        .map_err(|e| refuse(format!("the model's directory: {e}")))?;
    let path = root
        .join(&rel)
        .canonicalize()
        .map_err(|e| refuse(e.to_string()))?;
    if !path.starts_with(&root) {
        return Err(refuse(format!(
            "it resolves to {}, outside {}",
            path.display(),
            root.display()
        )));
    }
    let parse = |k: &str| -> Result<Option<u64>, OnnxError> {
        field(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| refuse(format!("{k} `{v}` is not a byte count")))
            })
            .transpose()
    };
    let offset = parse("offset")?.unwrap_or(0);
    let length = parse("length")?.unwrap_or(want as u64);
    if length != want as u64 {
        return Err(refuse(format!(
            "length {length} but the shape needs {want} bytes"
        )));
    }
    let mut f = std::fs::File::open(&path).map_err(|e| refuse(e.to_string()))?;
    let size = f.metadata().map_err(|e| refuse(e.to_string()))?.len();
    if offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(refuse(format!(
            "bytes {offset}..+{length} are past the file's end ({size} bytes)"
        )));
    }
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| refuse(e.to_string()))?;
    let mut buf = vec![0u8; want];
    f.read_exact(&mut buf).map_err(|e| refuse(e.to_string()))?;
    Ok(buf)
}

/// A kiln tensor holding `t` (float, bool and 16-bit float types).
pub fn tensor_from_proto(t: &TensorProto, dir: &Path) -> Result<Tensor, OnnxError> {
    let code = t.data_type.unwrap_or(0);
    let dtype = kiln_dtype(code).ok_or_else(|| {
        tensor_err(
            t,
            format!("element type {code} is not one kiln computes with"),
        )
    })?;
    let shape = dims(t)?;
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| tensor_err(t, "too many elements"))?;
    let bytes = element_bytes(t, numel, dtype.size(), dir)?;
    Ok(Tensor {
        dtype,
        shape,
        data: bytes.into(),
    })
}

/// The values of an integer tensor (INT64 or INT32), for shapes, axes and indices folded at
/// import.
pub(crate) fn int_values(t: &TensorProto, dir: &Path) -> Result<Vec<i64>, OnnxError> {
    let code = t.data_type.unwrap_or(0);
    let numel = dims(t)?.iter().product::<usize>();
    match code {
        INT64 => Ok(element_bytes(t, numel, 8, dir)?
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()),
        INT32 => Ok(element_bytes(t, numel, 4, dir)?
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))))
            .collect()),
        _ => Err(tensor_err(
            t,
            format!("expected an integer tensor, found element type {code}"),
        )),
    }
}

/// The values of a float tensor as f64 (scalar attributes such as `Clip`'s bounds).
#[allow(
    dead_code,
    reason = "for ops whose scalar inputs may be integer or float"
)]
pub(crate) fn float_values(t: &TensorProto, dir: &Path) -> Result<Vec<f64>, OnnxError> {
    if matches!(t.data_type, Some(INT64) | Some(INT32)) {
        return Ok(int_values(t, dir)?.into_iter().map(|v| v as f64).collect());
    }
    Ok(tensor_from_proto(t, dir)?.to_f64())
}

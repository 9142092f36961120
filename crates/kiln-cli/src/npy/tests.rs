//! The reader's conversions and refusals, and the writer's layout.
use super::*;

fn raw(descr: &str, shape: &str, fortran: bool, data: &[u8]) -> Vec<u8> {
    let header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}\n",
        if fortran { "True" } else { "False" }
    );
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn round_trips_every_native_dtype() {
    for dtype in [DType::Bool, DType::F16, DType::F32, DType::F64, DType::I64] {
        let t = Tensor::from_f64(dtype, &[2, 3], &[0.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
        let bytes = encode(&t);
        assert_eq!((10 + usize::from(bytes[8])) % 64, 0, "header is 64-aligned");
        assert_eq!(decode(&bytes, dtype), Ok(t));
    }
    let scalar = Tensor::from_f64(DType::F32, &[], &[2.5]);
    assert_eq!(decode(&encode(&scalar), DType::F32), Ok(scalar));
}

#[test]
fn i64_is_read_and_written_exactly_as_little_endian_int64() {
    // Beyond 2^53: the bytes are kept, not passed through an f64.
    let values = [i64::MIN, -3, (1 << 60) + 1, i64::MAX];
    let t = Tensor::from_i64(&[4], &values);
    let bytes = encode(&t);
    assert!(String::from_utf8_lossy(&bytes).contains("'descr': '<i8'"));
    assert_eq!(
        decode(&bytes, DType::I64).unwrap().to_i64().unwrap(),
        values
    );
    // An int32 file converts exactly; a float file with a fraction is refused.
    let small: Vec<u8> = [7i32, -2].iter().flat_map(|v| v.to_le_bytes()).collect();
    let t = decode(&raw("<i4", "(2,)", false, &small), DType::I64).expect("int32 feeds i64");
    assert_eq!(t.to_i64().unwrap(), [7, -2]);
    let half: Vec<u8> = 2.5f64.to_le_bytes().to_vec();
    assert!(decode(&raw("<f8", "(1,)", false, &half), DType::I64).is_err());
}

#[test]
fn bf16_reads_f32_rounding_to_nearest_even_and_writes_f32() {
    // 1 + 2^-8 is halfway between two bf16 values: it rounds to the even one (1.0).
    let values = [1.0 + 2f32.powi(-8), 1.0 + 3.0 * 2f32.powi(-8)];
    let file = encode(&Tensor::from_f32(&[2], &values));
    let t = decode(&file, DType::BF16).expect("f32 feeds bf16");
    assert_eq!(t.to_f64(), vec![1.0, 1.0 + 2f64.powi(-6)]);
    let back = decode(&encode(&t), DType::F32).expect("bf16 is written as f32");
    assert_eq!(back.to_f64(), t.to_f64());
}

#[test]
fn converts_exact_integers_and_refuses_inexact_values() {
    let ints: Vec<u8> = [3i64, -7, 16_777_216]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let t = decode(&raw("<i8", "(3,)", false, &ints), DType::F32).expect("exact ints");
    assert_eq!(t.to_f64(), vec![3.0, -7.0, 16_777_216.0]);
    let big: Vec<u8> = 16_777_217i64.to_le_bytes().to_vec();
    let err = decode(&raw("<i8", "(1,)", false, &big), DType::F32).unwrap_err();
    assert!(matches!(err, NpyError::Inexact { index: 0, .. }), "{err}");
    let f64s: Vec<u8> = 0.1f64.to_le_bytes().to_vec();
    let strict = decode_with(
        &raw("<f8", "(1,)", false, &f64s),
        DType::F32,
        Conversion::Exact,
    );
    assert!(matches!(strict, Err(NpyError::Inexact { index: 0, .. })));
    let big_endian: Vec<u8> = 1.5f32.to_be_bytes().to_vec();
    let t = decode(&raw(">f4", "(1,)", false, &big_endian), DType::F32).expect("be");
    assert_eq!(t.to_f64(), vec![1.5]);
}

#[test]
fn wider_floats_round_to_nearest_even_and_say_so() {
    // NumPy's default dtype for an f32 input: 0.1 becomes f32(0.1), as astype(float32).
    let values = [0.1f64, 0.5, 1.0 + 2f64.powi(-24), 1e300];
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let file = raw("<f8", "(4,)", false, &bytes);
    let d = decode_with(&file, DType::F32, Conversion::Round).expect("rounds");
    let want: Vec<f64> = values.iter().map(|&v| f64::from(v as f32)).collect();
    assert_eq!(d.tensor.to_f64(), want);
    assert_eq!(want[2], 1.0, "a tie goes to even");
    let note = d.converted.expect("a conversion is reported");
    assert_eq!((note.from.as_str(), note.to), ("float64", DType::F32));
    assert_eq!((note.rounded, note.values), (3, 4));
    // f64 -> f16 rounds once, not through f32 (1 + 2^-11 + 2^-40 rounds up).
    let above_tie = (1.0 + 2f64.powi(-11) + 2f64.powi(-40)).to_le_bytes();
    let t = decode(&raw("<f8", "(1,)", false, &above_tie), DType::F16).expect("rounds");
    assert_eq!(t.to_f64(), vec![1.0 + 2f64.powi(-10)]);
    // A file of the declared dtype carries no note.
    let native = encode(&Tensor::from_f32(&[1], &[0.1]));
    assert_eq!(
        decode_with(&native, DType::F32, Conversion::Exact)
            .unwrap()
            .converted,
        None
    );
    // Integers and bools are never rounded.
    let big = 16_777_217i64.to_le_bytes();
    assert!(decode(&raw("<i8", "(1,)", false, &big), DType::F32).is_err());
    let half = 0.5f64.to_le_bytes();
    assert!(decode(&raw("<f8", "(1,)", false, &half), DType::Bool).is_err());
}

#[test]
fn bf16_rounds_from_the_f32_bits_in_either_mode() {
    // Issue 12.6: 0x3f1e8003 is 0.62109375 in bf16 (PyTorch), not 0.6171875.
    let v = f32::from_bits(0x3f1e_8003);
    let file = encode(&Tensor::from_f32(&[1], &[v]));
    for mode in [Conversion::Round, Conversion::Exact] {
        let d = decode_with(&file, DType::BF16, mode).expect("f32 feeds bf16");
        assert_eq!(d.tensor.to_f64(), vec![0.621_093_75]);
        assert_eq!(d.converted.map(|c| c.rounded), Some(1));
    }
}

#[test]
fn refuses_fortran_order_bad_sizes_and_garbage() {
    let data = [0u8; 16];
    assert_eq!(
        decode(&raw("<f4", "(2, 2)", true, &data), DType::F32),
        Err(NpyError::FortranOrder)
    );
    assert!(matches!(
        decode(&raw("<f4", "(3, 2)", false, &data), DType::F32),
        Err(NpyError::DataSize { expected: 24, .. })
    ));
    assert!(matches!(
        decode(&raw("<c8", "(2,)", false, &data), DType::F32),
        Err(NpyError::Dtype(_))
    ));
    assert_eq!(decode(b"hello", DType::F32), Err(NpyError::NoMagic));
    assert_eq!(
        decode(b"\x93NUMPY\x01", DType::F32),
        Err(NpyError::TruncatedHeader)
    );
}

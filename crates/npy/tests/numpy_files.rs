//! Files written by numpy itself (`tests/reference/metrics_npy_fixtures.py`) read back exactly.

use std::path::PathBuf;

use biaslens_npy::{NpyData, NpyError, read};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn expected_floats() -> Vec<f64> {
    (0..24).map(|i| f64::from(i) / 8.0 - 1.0).collect()
}

#[test]
fn reads_numpy_float_files_in_both_byte_orders() {
    for name in ["f32_2x3x4.npy", "f64_2x3x4.npy", "f64_big_endian.npy"] {
        let a = read(data(name)).expect("numpy file reads");
        assert_eq!(a.shape, vec![2, 3, 4], "{name}");
        assert_eq!(a.to_f64(), expected_floats(), "{name}");
    }
    assert!(matches!(read(data("f32_2x3x4.npy")).expect("reads").data, NpyData::F32(_)));
    let s = read(data("f32_scalar.npy")).expect("scalar reads");
    assert_eq!((s.shape.len(), s.to_f64()), (0, vec![2.5]));
    let e = read(data("f32_empty_0x3.npy")).expect("empty reads");
    assert_eq!((e.shape, e.data.len()), (vec![0, 3], 0));
}

#[test]
fn reads_numpy_integer_and_bool_files() {
    assert_eq!(read(data("i64_6.npy")).expect("reads").to_i64().expect("ints"), vec![0, 1, -1, 1 << 40, 5, 7]);
    let i = read(data("i32_2x3.npy")).expect("reads");
    assert_eq!((i.shape.clone(), i.to_i64().expect("ints")), (vec![2, 3], vec![1, -2, 3, 4, 5, -6]));
    assert_eq!(read(data("u8_5.npy")).expect("reads").to_i64().expect("ints"), vec![0, 1, 255, 7, 1]);
    assert_eq!(read(data("bool_4.npy")).expect("reads").data, NpyData::Bool(vec![true, false, false, true]));
}

#[test]
fn refuses_fortran_order_other_dtypes_and_missing_files() {
    let f = read(data("f64_fortran.npy")).expect_err("fortran refused");
    assert!(matches!(f, NpyError::FortranOrder));
    assert!(f.to_string().contains("ascontiguousarray"), "{f}");
    let d = read(data("i16_3.npy")).expect_err("int16 refused");
    assert!(matches!(d, NpyError::Dtype(ref s) if s == "<i2"), "{d}");
    let m = read(data("does_not_exist.npy")).expect_err("missing");
    assert!(m.to_string().contains("does_not_exist.npy"), "{m}");
}

#[test]
fn writes_what_numpy_would_read() {
    // Our writer's bytes parse with our reader and carry numpy's exact header layout.
    let a = read(data("f64_2x3x4.npy")).expect("reads");
    let bytes = a.to_bytes();
    let ours = std::str::from_utf8(&bytes[10..10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]))]).expect("ascii");
    assert!(ours.starts_with("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4), }"), "{ours}");
    assert_eq!(biaslens_npy::from_bytes(&bytes).expect("round trip"), a);
}

//! NumPy `.npy` bytes, and the conversions the CLI applies to a read array.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = biaslens_npy::from_bytes(data) {
        let _ = a.to_i64();
        let _ = a.to_f64();
        let _ = a.to_bytes();
    }
});

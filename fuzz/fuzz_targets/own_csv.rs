//! A user's label CSV with the default columns (image, target, attribute).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = biaslens_data::parse_own_csv(data, "labels.csv", &biaslens_data::OwnColumns::default());
});

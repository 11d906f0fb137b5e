//! A report (.html) or results (.json) file imported as the page and `biaslens check report` do.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = biaslens_experiment::import_report(text);
    }
});

//! The page's URL state: an experiment config fragment (`#config=<base64url JSON>`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = biaslens_experiment::ExperimentConfig::from_fragment(text);
    }
});

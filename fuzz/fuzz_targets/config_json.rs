//! An experiment config file as `biaslens run --config` reads it; a config that loads must
//! survive a round trip through its JSON and its URL fragment.
#![no_main]
use biaslens_experiment::ExperimentConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = ExperimentConfig::from_json(text) {
        let _ = ExperimentConfig::from_json(&c.to_json());
        let _ = ExperimentConfig::from_fragment(&c.to_fragment());
    }
});

//! torchvision `.safetensors` weights loaded into a small ResNet (one Basic block per stage,
//! width 4) with as many classes as the file's `fc.bias` says, as the CLI does.
#![no_main]
use biaslens_model::{BlockKind, ResNetConfig, torchvision_num_classes};
use burn::prelude::Device;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(classes) = torchvision_num_classes(data) else {
        return;
    };
    let device = Device::flex();
    let model = ResNetConfig::new(BlockKind::Basic, [1, 1, 1, 1], classes).with_width(4).init(&device);
    let _ = model.load_torchvision(data.to_vec());
});

//! Resource limits: what a config's biggest tensors need, checked against
//! what the device allows before any work, so a request too large for a browser tab or a GPU's
//! buffer limits is refused in words, or re-chunked where that changes nothing but memory,
//! instead of ending in an out-of-memory crash.
//!
//! The estimate walks the ResNet of the config (He et al. 2016: stem convolution at stride 2,
//! max-pool, four stages halving the side) and counts, per image, the activations a pass keeps:
//! every convolution, BatchNorm, ReLU and residual output. A backward pass keeps them all and
//! adds as much again in gradients; LRP keeps them all once. It is an estimate (burn's allocator
//! and temporaries are not modelled), so limits carry a margin.

use biaslens_model::BlockKind;

use crate::config::ExperimentConfig;
use crate::registries::Registries;

/// What a device allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceLimits {
    /// The largest single tensor (a WebGPU storage buffer binding, or a wasm allocation).
    pub max_buffer_bytes: u64,
    /// The most all live tensors of one pass may take together.
    pub memory_bytes: u64,
}

impl DeviceLimits {
    /// The CPU backend in a browser tab: WebAssembly's 32-bit memory (4 GiB at most, often less
    /// granted), leaving room for the page and the results.
    pub const WASM_CPU: Self = Self { max_buffer_bytes: 1 << 30, memory_bytes: 2 << 30 };

    /// A WebGPU device with these limits (`maxStorageBufferBindingSize`, `maxBufferSize`); the
    /// total is held to 2 GiB, what a browser grants a tab's GPU process comfortably.
    pub fn webgpu(max_storage_binding: u64, max_buffer: u64) -> Self {
        Self { max_buffer_bytes: max_storage_binding.min(max_buffer), memory_bytes: 2 << 30 }
    }
}

/// Activation floats per image of one forward pass: (largest single tensor, all kept tensors).
fn activations(config: &ExperimentConfig) -> (u64, u64) {
    let m = &config.model;
    let side = config.data.synthetic.size as usize;
    resnet_activation_floats(m.block, &m.layers, m.width, (side, side))
}

/// Activation floats per image of one forward pass of a ResNet (`block`, blocks per stage
/// `layers`, stem width `width`) on `height × width_px` images: (the largest single tensor, all
/// tensors a pass keeps). Every convolution, BatchNorm, ReLU and residual output is counted; a
/// backward pass keeps them all and adds as much again in gradients.
pub fn resnet_activation_floats(block: BlockKind, layers: &[usize], width: usize, (height, width_px): (usize, usize)) -> (u64, u64) {
    let w = width as u64;
    let (mut sh, mut sw) = ((height as u64).div_ceil(2), (width_px as u64).div_ceil(2));
    let stem = w * sh * sw;
    let mut largest = stem;
    // conv1, bn1, relu, then the max-pool.
    let mut sum = 3 * stem;
    (sh, sw) = (sh.div_ceil(2), sw.div_ceil(2));
    sum += w * sh * sw;
    let expansion = match block {
        BlockKind::Basic => 1,
        BlockKind::Bottleneck => 4,
    };
    for (stage, &blocks) in layers.iter().enumerate() {
        if stage > 0 {
            (sh, sw) = (sh.div_ceil(2), sw.div_ceil(2));
        }
        let inner = w << stage;
        let out = inner * expansion;
        let plane = sh * sw;
        let per_block = match block {
            // conv, bn, relu, conv, bn, add, relu.
            BlockKind::Basic => 7 * out * plane,
            // 3 × (conv, bn) with ReLUs inside at `inner` channels, then add and ReLU at `out`.
            BlockKind::Bottleneck => 6 * inner * plane + 4 * out * plane,
        };
        sum += blocks as u64 * per_block;
        largest = largest.max(out * plane);
    }
    (largest, sum)
}

/// One stage's need.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    /// The config field that sets the batch (`train.batch_size`, …).
    pub field: String,
    /// What the stage does, in words.
    pub what: String,
    /// Images per pass.
    pub batch: usize,
    /// The largest single tensor, bytes.
    pub largest_bytes: u64,
    /// All live tensors of one pass, bytes (kept activations, twice with a backward pass).
    pub total_bytes: u64,
}

impl Need {
    /// A pass of `rows` images (or path points) through a network with `(largest, sum)`
    /// activation floats per image ([`resnet_activation_floats`]), keeping twice the tensors with
    /// a backward pass.
    fn of(field: String, what: String, (largest, sum): (u64, u64), rows: usize, backward: bool) -> Self {
        Self {
            field,
            what,
            batch: rows,
            largest_bytes: 4 * largest * rows as u64,
            total_bytes: 4 * sum * if backward { 2 } else { 1 } * rows as u64,
        }
    }
}

/// The most images of `height × width_px` whose pass through the ResNet (`block`, `layers`,
/// `width`), `points` rows per image, fits `limits`, by the estimate [`fit`] checks configs
/// with (0 if not even one does). The CLI's `attribute --batch-size auto` uses it.
pub fn images_fitting(
    block: BlockKind,
    layers: &[usize],
    width: usize,
    side: (usize, usize),
    points: usize,
    backward: bool,
    limits: &DeviceLimits,
) -> usize {
    let floats = resnet_activation_floats(block, layers, width, side);
    let points = points.max(1);
    // `largest_fitting` counts rows; whole images are `points` rows each.
    largest_fitting(&Need::of(String::new(), String::new(), floats, points, backward), limits) / points
}

/// Every stage's need for `config`; the methods' and attributions' passes from `registries`.
pub fn needs(config: &ExperimentConfig, registries: &Registries) -> Vec<Need> {
    let floats = activations(config);
    let need = |field: String, what: String, batch: usize, backward: bool| Need::of(field, what, floats, batch, backward);
    let mut out = vec![need("train.batch_size".into(), "training the vanilla model".into(), config.train.batch_size, true)];
    for (k, m) in config.methods.iter().enumerate() {
        let Some(method) = registries.methods.get(&m.method) else { continue };
        for pass in method.passes(&m.config) {
            out.push(need(format!("methods[{k}].config.{}", pass.field), format!("{}: {}", method.name(), pass.what), pass.batch, pass.backward));
        }
    }
    out.push(need("metrics.eval_batch_size".into(), "evaluating on the test split".into(), config.metrics.eval_batch_size, false));
    for (k, a) in config.attribution.methods.iter().enumerate() {
        let Some(method) = registries.attributions.get(&a.method) else { continue };
        let pass = method.memory(&a.config);
        let field = match pass.chunk_field {
            Some(f) => format!("attribution.methods[{k}].config.{f}"),
            None => "attribution.batch_size".into(),
        };
        let what = if pass.points > 1 {
            format!("{} (images × points per pass)", method.name())
        } else {
            method.name().to_owned()
        };
        out.push(need(field, what, config.attribution.batch_size * pass.points, pass.backward));
    }
    out
}

/// Host memory one unit of `config` needs on the CPU backend, bytes: the largest pass (from
/// [`needs`]) plus the unit's images held at once (train, debias and test splits, and the test
/// split's two counterfactual renders on the synthetic benchmark) plus 512 MiB for the program,
/// the models and the results. An estimate for a scheduler's request (`--mem`), with the same
/// caveats as [`needs`].
pub fn unit_memory_bytes(config: &ExperimentConfig, registries: &Registries) -> u64 {
    let pass = needs(config, registries).iter().map(|n| n.total_bytes).max().unwrap_or(0);
    let side = u64::from(config.data.synthetic.size);
    let s = &config.splits;
    let images = (s.train + s.debias + 3 * s.test) as u64;
    pass + images * 3 * side * side * 4 + (512 << 20)
}

fn mib(b: u64) -> String {
    if b >= 1 << 30 { format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30)) } else { format!("{:.0} MiB", b as f64 / f64::from(1u32 << 20)) }
}

/// The largest batch of `need`'s stage that fits `limits` (0 if not even one image does).
fn largest_fitting(need: &Need, limits: &DeviceLimits) -> usize {
    let per_largest = need.largest_bytes / need.batch.max(1) as u64;
    let per_total = need.total_bytes / need.batch.max(1) as u64;
    let by_buffer = limits.max_buffer_bytes.checked_div(per_largest).unwrap_or(u64::MAX);
    let by_total = limits.memory_bytes.checked_div(per_total).unwrap_or(u64::MAX);
    usize::try_from(by_buffer.min(by_total)).unwrap_or(usize::MAX)
}

/// The outcome of [`fit`]: the config to run (possibly re-chunked) and what was changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// The config to run.
    pub config: ExperimentConfig,
    /// Changes made, in words (empty if none).
    pub changes: Vec<String>,
}

/// Checks `config` against `limits`. The points per pass of a chunked attribution (IG's path
/// points, SmoothGrad's noisy copies) are lowered to fit (the maps are the same sum, chunked
/// differently); every other stage that does not fit is refused, naming the field, what it would
/// need and the largest value that fits.
///
/// # Errors
/// A message for the user when a stage cannot fit.
pub fn fit(config: &ExperimentConfig, limits: &DeviceLimits) -> Result<Fitted, String> {
    fit_with(config, limits, Registries::builtin())
}

/// [`fit`] with the methods of `registries`.
///
/// # Errors
/// As [`fit`].
pub fn fit_with(config: &ExperimentConfig, limits: &DeviceLimits, registries: &Registries) -> Result<Fitted, String> {
    let mut config = config.clone();
    let mut changes = Vec::new();
    for need in needs(&config, registries) {
        if need.largest_bytes <= limits.max_buffer_bytes && need.total_bytes <= limits.memory_bytes {
            continue;
        }
        let fits = largest_fitting(&need, limits);
        let image_side = config.data.synthetic.size;
        if let Some(changed) = rechunk(&mut config, &need, fits, registries) {
            changes.push(changed);
            continue;
        }
        let field = if need.field.starts_with("attribution.methods[") { "attribution.batch_size".to_string() } else { need.field.clone() };
        let advice = if fits == 0 {
            format!("even one image of {image_side}×{image_side} does not fit: lower data.synthetic.size or model.width")
        } else {
            format!("lower {field} to {fits} or less, or lower data.synthetic.size or model.width")
        };
        return Err(format!(
            "{} with {} images of {image_side}×{image_side} per pass would need about {} (its largest tensor {}), more than this device allows ({} in all, {} per tensor); {advice}.",
            need.what,
            need.batch,
            mib(need.total_bytes),
            mib(need.largest_bytes),
            mib(limits.memory_bytes),
            mib(limits.max_buffer_bytes),
        ));
    }
    Ok(Fitted { config, changes })
}

/// Lowers the points per pass of the chunked attribution behind `need` so that `fits` rows fit;
/// `None` if `need` is not such a chunk or not even one point per image fits.
fn rechunk(config: &mut ExperimentConfig, need: &Need, fits: usize, registries: &Registries) -> Option<String> {
    let batch = config.attribution.batch_size;
    let k: usize = need.field.strip_prefix("attribution.methods[")?.split(']').next()?.parse().ok()?;
    if fits < batch {
        return None;
    }
    let spec = config.attribution.methods.get_mut(k)?;
    let method = registries.attributions.get(&spec.method)?;
    let before = method.memory(&spec.config).points;
    let points = fits / batch;
    spec.config = method.rechunk(&spec.config, points)?;
    let side = config.data.synthetic.size;
    Some(format!(
        "{} now takes {points} points per image per pass instead of {before} ({batch} images × {before} points at {side}×{side} would need {} in one pass); the maps are the same sum, computed in smaller chunks.",
        method.name(),
        mib(need.total_bytes)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_count_matches_a_hand_count_of_the_compact_network() {
        // width 8, one basic block per stage, 48×48: stem 8×24×24 (conv, bn, relu) + pool 8×12×12,
        // stages (8×12², 16×6², 32×3², 64×2²) × 7 tensors each.
        let mut c = ExperimentConfig::demo();
        c.model.layers = [1, 1, 1, 1];
        c.model.width = 8;
        c.data.synthetic.size = 48;
        let (largest, sum) = activations(&c);
        let stages = 8 * 144 + 16 * 36 + 32 * 9 + 64 * 4;
        assert_eq!(largest, 8 * 24 * 24);
        assert_eq!(sum, 3 * 8 * 576 + 8 * 144 + 7 * stages);
    }

    #[test]
    fn activation_count_of_a_non_square_image_halves_each_side_on_its_own() {
        // width 8, one basic block per stage, 48 rows × 32 columns: stem 8×24×16, pool 8×12×8,
        // stages at 12×8, 6×4, 3×2 and 2×1 (each side rounds up when halved).
        let (largest, sum) = resnet_activation_floats(BlockKind::Basic, &[1, 1, 1, 1], 8, (48, 32));
        assert_eq!(largest, 8 * 24 * 16);
        assert_eq!(sum, 3 * 8 * 384 + 8 * 96 + 7 * (8 * 96 + 16 * 24 + 32 * 6 + 64 * 2));
        assert_eq!(resnet_activation_floats(BlockKind::Basic, &[1, 1, 1, 1], 8, (32, 48)), (largest, sum));
    }

    #[test]
    fn the_demo_fits_a_browser_tab_unchanged() {
        let demo = ExperimentConfig::demo();
        for limits in [DeviceLimits::WASM_CPU, DeviceLimits::webgpu(128 << 20, 256 << 20)] {
            let f = fit(&demo, &limits).expect("the demo fits");
            assert_eq!(f.config, demo);
            assert!(f.changes.is_empty());
        }
    }

    #[test]
    fn paper_sizes_on_a_default_webgpu_device_are_refused_with_the_field_and_a_value_that_fits() {
        let paper = ExperimentConfig::paper();
        let limits = DeviceLimits::webgpu(128 << 20, 256 << 20);
        let e = fit(&paper, &limits).expect_err("ResNet-50 at 218 px with batch 128 does not fit 128 MiB buffers");
        assert!(e.contains("training the vanilla model") && e.contains("lower train.batch_size to"), "{e}");
        // The value it suggests fits.
        let cap: usize = e.split("lower train.batch_size to ").nth(1).and_then(|t| t.split(' ').next()).and_then(|v| v.parse().ok()).expect("a number");
        let mut smaller = paper.clone();
        smaller.train.batch_size = cap;
        let need = &needs(&smaller, Registries::builtin())[0];
        assert!(need.largest_bytes <= limits.max_buffer_bytes && need.total_bytes <= limits.memory_bytes);
        smaller.train.batch_size = cap + 1;
        let need = &needs(&smaller, Registries::builtin())[0];
        assert!(need.largest_bytes > limits.max_buffer_bytes || need.total_bytes > limits.memory_bytes, "the largest that fits");
    }

    #[test]
    fn integrated_gradients_is_rechunked_instead_of_refused() {
        let mut c = ExperimentConfig::demo();
        let ig = c.attribution.get_mut("ig").expect("demo has IG");
        ig.config["steps"] = 200.into();
        ig.config["steps_per_chunk"] = 200.into();
        c.attribution.batch_size = 64;
        c.data.synthetic.size = 128;
        c.data.pool = 20_000;
        let limits = DeviceLimits::webgpu(128 << 20, 256 << 20);
        let f = fit(&c, &limits).expect("re-chunked");
        let steps = f.config.attribution.get("ig").and_then(|ig| ig.config["steps_per_chunk"].as_u64()).expect("IG") as usize;
        assert!(steps < 200 && steps >= 1, "{steps}");
        assert_eq!(f.changes.len(), 1);
        assert!(f.changes[0].contains(&format!("IG now takes {steps} points per image per pass instead of 200")), "{}", f.changes[0]);
        assert!(fit(&f.config, &limits).expect("fits now").changes.is_empty());
        let mut rest = f.config.clone();
        rest.attribution = c.attribution.clone();
        assert_eq!(rest, c, "nothing else changed");
    }
}

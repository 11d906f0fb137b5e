//! torchvision state dicts in `.safetensors`: load into a [`ResNet`] and export from one.
//!
//! The file format and key names are those of `safetensors.torch.save_file(model.state_dict())`
//! for a torchvision ResNet (He et al. 2016): `conv1.weight` `[out, in, kh, kw]`,
//! `bn1.{weight,bias,running_mean,running_var,num_batches_tracked}`,
//! `layer2.0.downsample.{0,1}.*`, `fc.weight` `[out, in]`, `fc.bias`. Reading goes through
//! burn's own store (`burn::store::SafetensorsStore` with `PyTorchToBurnAdapter`); loading needs
//! no read-back from the device, so it is safe in the browser. Export reads the parameters back
//! with one asynchronous transaction (the only kind of read allowed in the page).

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use burn::store::{ApplyError, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};

use crate::resnet::ResNet;

/// Why weights could not be loaded or exported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsError {
    /// The bytes are not a readable safetensors file.
    #[error(
        "cannot read the weights as safetensors: {0}; the file is damaged or not a .safetensors \
         file: save it again with safetensors.torch.save_file(model.state_dict(), path)"
    )]
    Format(String),
    /// A parameter of the network has no entry in the file.
    #[error(
        "the weights have no `{key}` (the network expects shape {expected:?}); they were probably \
         saved from a different architecture: compare the model name and depth"
    )]
    Missing {
        /// torchvision key.
        key: String,
        /// Shape the network expects (PyTorch layout).
        expected: Vec<usize>,
    },
    /// A parameter has a different shape in the file.
    #[error(
        "`{key}` has shape {found:?} in the weights but the network expects {expected:?} \
         (PyTorch layout); check the architecture, width and number of classes"
    )]
    Shape {
        /// torchvision key.
        key: String,
        /// Shape the network expects (PyTorch layout).
        expected: Vec<usize>,
        /// Shape in the file (PyTorch layout).
        found: Vec<usize>,
    },
    /// The file holds a tensor this network does not have (other than `num_batches_tracked`).
    #[error(
        "the weights contain `{key}`, which this network does not have; they were probably saved \
         from a different architecture"
    )]
    Unexpected {
        /// torchvision key.
        key: String,
    },
    /// Any other per-tensor problem (data type, conversion).
    #[error("cannot load `{key}`: {message}")]
    Tensor {
        /// torchvision key.
        key: String,
        /// burn's description.
        message: String,
    },
    /// A parameter holds NaN or an infinity.
    #[error(
        "`{key}` holds {value} at element {index}; the weights are damaged or training diverged: \
         retrain, or export them again from a model whose parameters are all finite"
    )]
    NonFinite {
        /// torchvision key.
        key: String,
        /// Flat index of the first non-finite element.
        index: usize,
        /// The value (`NaN`, `inf` or `-inf`).
        value: String,
    },
    /// Reading the parameters back from the device failed (export).
    #[error("reading the parameters back from the device failed: {0}")]
    Readback(String),
    /// Writing the safetensors bytes failed (export).
    #[error("cannot write safetensors: {0}")]
    Serialize(String),
}

/// Map a burn module path of a [`ResNet`] to its torchvision key: enum variants dropped,
/// `downsample.conv`/`.bn` → `downsample.0`/`.1`, BatchNorm `gamma`/`beta` → `weight`/`bias`.
pub fn torchvision_key(burn_path: &str) -> String {
    let segments: Vec<&str> = burn_path
        .split('.')
        .filter(|s| *s != "Basic" && *s != "Bottleneck")
        .collect();
    let mut out = Vec::with_capacity(segments.len());
    for (i, s) in segments.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| segments[j]);
        let last = i + 1 == segments.len();
        out.push(match (*s, prev, last) {
            ("conv", Some("downsample"), _) => "0",
            ("bn", Some("downsample"), _) => "1",
            ("gamma", _, true) => "weight",
            ("beta", _, true) => "bias",
            (s, _, _) => s,
        });
    }
    out.join(".")
}

/// One parameter or buffer as torchvision names and lays it out.
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    /// PyTorch layout.
    shape: Vec<usize>,
    /// Flattened, already in PyTorch layout; `None` when only keys and shapes were asked for.
    tensor: Option<Tensor<1>>,
}

/// Walks a [`ResNet`] building torchvision keys (no device read-back).
#[derive(Default)]
struct Walker {
    /// Also collect the (flattened, PyTorch-layout) tensors. Without it the walk reads
    /// [`Param::lazy_shape`] only, so parameters not yet initialised stay lazy (loading into a
    /// fresh network then never runs burn's random initialisers).
    with_values: bool,
    path: Vec<String>,
    containers: Vec<String>,
    entries: Vec<Entry>,
    /// BatchNorm prefixes seen, for `num_batches_tracked`.
    batch_norms: Vec<String>,
}

impl ModuleVisitor for Walker {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.containers.push(container_type.to_string());
        if !container_type.starts_with("Enum:") {
            self.path.push(name.to_string());
        }
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        self.containers.pop();
        if !container_type.starts_with("Enum:") {
            self.path.pop();
        }
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let key = torchvision_key(&self.path.join("."));
        let container = self.containers.last().map(String::as_str).unwrap_or("");
        let linear = container == "Struct:Linear" && D == 2;
        let (shape, tensor) = if self.with_values {
            let mut t = param.val();
            if linear {
                t = t.transpose();
            }
            let shape = t.shape().to_vec();
            let n = shape.iter().product::<usize>();
            (shape, Some(t.reshape([n])))
        } else {
            let mut shape = param.lazy_shape().to_vec();
            if linear {
                shape.reverse();
            }
            (shape, None)
        };
        if container == "Struct:BatchNorm" && key.ends_with(".running_var") {
            let prefix = key.trim_end_matches(".running_var").to_string();
            self.batch_norms.push(prefix);
        }
        self.entries.push(Entry { key, shape, tensor });
    }
}

fn walk(model: &ResNet, with_values: bool) -> Walker {
    let mut w = Walker {
        with_values,
        ..Walker::default()
    };
    model.visit(&mut w);
    w
}

fn apply_error_key_shape(e: &ApplyError) -> (String, String) {
    match e {
        ApplyError::ShapeMismatch { path, .. }
        | ApplyError::DTypeMismatch { path, .. }
        | ApplyError::AdapterError { path, .. }
        | ApplyError::LoadError { path, .. } => (torchvision_key(path), e.to_string()),
    }
}

/// Number of classes of a torchvision state dict in safetensors (the length of `fc.bias`),
/// read from the header alone.
///
/// # Errors
/// [`WeightsError::Format`] if the bytes are not safetensors, [`WeightsError::Missing`] if
/// there is no `fc.bias`.
pub fn torchvision_num_classes(bytes: &[u8]) -> Result<usize, WeightsError> {
    // The whole file is validated (not just the header), so a header cannot announce more classes
    // than the file holds values for: the network built from the count stays as small as the file.
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| format_error(bytes, &e))?;
    match st.tensor("fc.bias").ok().map(|t| t.shape().to_vec()).as_deref() {
        Some([n]) if *n > 0 => Ok(*n),
        Some(shape) => Err(WeightsError::Tensor {
            key: "fc.bias".into(),
            message: format!(
                "it has shape {shape:?}; a torchvision classifier's fc.bias is one number per class"
            ),
        }),
        None => Err(WeightsError::Tensor {
            key: "fc.bias".into(),
            message: "the file has no such tensor, so the number of classes is unknown; is it a \
                      torchvision ResNet state dict (keys conv1.weight … fc.bias)?"
                .into(),
        }),
    }
}

/// The architecture a torchvision ResNet state dict describes, read from its keys and shapes
/// alone: blocks per stage (`layer{s}.{b}.` prefixes), Bottleneck if `layer1.0.conv3.weight`
/// exists, the stem width (`conv1.weight`'s outputs) and the classes (`fc.bias`). The page uses
/// it to set the network a chosen pretrained file needs.
///
/// # Errors
/// [`WeightsError::Format`] for a file that is not safetensors, [`WeightsError::Missing`] for a
/// stem batch-norm tensor, [`WeightsError::Tensor`] when the stem convolution, a stage or the
/// head is missing.
pub fn torchvision_architecture(bytes: &[u8]) -> Result<crate::ResNetConfig, WeightsError> {
    let classes = torchvision_num_classes(bytes)?;
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| format_error(bytes, &e))?;
    let missing = |key: &str, what: &str| WeightsError::Tensor { key: key.into(), message: format!("{what}; is it a torchvision ResNet state dict?") };
    let width = match st.tensor("conv1.weight").ok().map(|t| t.shape().to_vec()).as_deref() {
        Some([w, 3, 7, 7]) if *w > 0 => *w,
        _ => return Err(missing("conv1.weight", "the stem convolution is missing or not [width, 3, 7, 7]")),
    };
    // The stem's batch norm before the stages: a file that lacks it names the key as loading it would.
    for key in ["bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"] {
        if st.tensor(key).is_err() {
            return Err(WeightsError::Missing { key: key.into(), expected: vec![width] });
        }
    }
    let mut layers = [0usize; 4];
    for name in st.names() {
        for (s, count) in layers.iter_mut().enumerate() {
            let prefix = format!("layer{}.", s + 1);
            if let Some(b) = name.strip_prefix(&prefix).and_then(|rest| rest.split('.').next()).and_then(|b| b.parse::<usize>().ok()) {
                *count = (*count).max(b + 1);
            }
        }
    }
    if let Some(s) = layers.iter().position(|&n| n == 0) {
        return Err(missing(&format!("layer{}.0", s + 1), "the stage has no blocks"));
    }
    let block = if st.tensor("layer1.0.conv3.weight").is_ok() { crate::BlockKind::Bottleneck } else { crate::BlockKind::Basic };
    Ok(crate::ResNetConfig::new(block, layers, classes).with_width(width))
}

/// A torchvision classifier with however many classes its file has (an ImageNet state dict: 1000)
/// loaded into `config`'s architecture (depth and width from `config`, `num_classes` from the
/// file's `fc.bias`): the first half of the pretrained start (docs/METHODS.md#pretrained-start);
/// [`ResNet::with_new_head`] is the second.
///
/// # Errors
/// [`WeightsError`] from [`torchvision_num_classes`] or [`ResNet::load_torchvision`] (a file of
/// another depth or width names the first key that does not fit).
pub fn load_torchvision_any_head(config: &crate::ResNetConfig, bytes: Vec<u8>, device: &Device) -> Result<ResNet, WeightsError> {
    let classes = torchvision_num_classes(&bytes)?;
    crate::ResNetConfig { num_classes: classes, ..config.clone() }.init(device).load_torchvision(bytes)
}

/// The file with torchvision's shortcut keys `….downsample.0.…` / `….downsample.1.…` renamed to
/// the network's `….downsample.conv.…` / `….downsample.bn.…`. Only the JSON header is rewritten
/// (padded to 8 bytes, as safetensors writes it); the tensor data stays as it is, after it. This
/// replaces burn-store's key remapping, whose regular-expression engine was the only user of
/// `regex` in the page: about 0.4 MB of wasm before optimisation (BENCHMARKS.md, "Several CPU
/// workers").
///
/// # Errors
/// [`WeightsError::Format`] for a header that is not a JSON object, or a file holding both a
/// torchvision key and the name it would be renamed to.
fn rename_downsample_keys(mut bytes: Vec<u8>) -> Result<Vec<u8>, WeightsError> {
    let bad = |what: String| WeightsError::Format(format!("{what}; save the file again with safetensors.torch.save_file"));
    let mut len = [0u8; 8];
    len.copy_from_slice(bytes.get(..8).ok_or_else(|| bad("the file is shorter than its 8-byte header length".into()))?);
    let n = usize::try_from(u64::from_le_bytes(len)).map_err(|_| bad("the header length does not fit in memory".into()))?;
    let end = n.checked_add(8).filter(|&e| e <= bytes.len()).ok_or_else(|| bad(format!("the header announces {n} bytes, more than the file holds")))?;
    let rename = |k: &str| k.replace("downsample.0.", "downsample.conv.").replace("downsample.1.", "downsample.bn.");
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..end]).map_err(|e| bad(format!("the header is not a JSON object ({e})")))?;
    if !header.keys().any(|k| rename(k) != *k) {
        return Ok(bytes);
    }
    let mut renamed = serde_json::Map::new();
    for (key, value) in header {
        let new = rename(&key);
        if renamed.contains_key(&new) {
            return Err(bad(format!("it holds `{new}` twice under two names (torchvision's `downsample.0/1` and burn's `downsample.conv/bn`)")));
        }
        renamed.insert(new, value);
    }
    let mut text = serde_json::to_vec(&renamed).map_err(|e| bad(format!("the renamed header could not be written ({e})")))?;
    text.resize(text.len().next_multiple_of(8), b' ');
    let new_len = (text.len() as u64).to_le_bytes();
    bytes.splice(8..end, text);
    bytes[..8].copy_from_slice(&new_len);
    Ok(bytes)
}

/// A [`WeightsError::Format`] that says what the first bytes announce, next to the parser's error.
fn format_error(bytes: &[u8], e: &safetensors::SafeTensorError) -> WeightsError {
    let facts = match bytes.get(..8) {
        None => format!("the file has only {} bytes, fewer than the 8-byte header length", bytes.len()),
        Some(b) => {
            let mut len = [0u8; 8];
            len.copy_from_slice(b);
            let len = u64::from_le_bytes(len);
            let have = bytes.len() - 8;
            if len > have as u64 {
                format!("its first 8 bytes announce a {len}-byte header but only {have} bytes follow")
            } else {
                format!("{} bytes, a {len}-byte header", bytes.len())
            }
        }
    };
    WeightsError::Format(format!("{e} ({facts})"))
}

/// Every tensor of a safetensors file is floating point (except `num_batches_tracked`) and
/// finite. Reads the bytes only: nothing goes to a device.
///
/// # Errors
/// [`WeightsError::Format`], [`WeightsError::Tensor`] for a non-float parameter,
/// [`WeightsError::NonFinite`] naming the key and element.
pub fn check_finite(bytes: &[u8]) -> Result<(), WeightsError> {
    use safetensors::Dtype;
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| format_error(bytes, &e))?;
    let mut names: Vec<String> = st.names().into_iter().map(str::to_owned).collect();
    names.sort();
    for key in names {
        let view = st.tensor(&key).map_err(|e| format_error(bytes, &e))?;
        let data = view.data();
        let first_bad = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).enumerate().find_map(|(i, c)| {
                let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                (!v.is_finite()).then_some((i, f64::from(v)))
            }),
            Dtype::F64 => data.chunks_exact(8).enumerate().find_map(|(i, c)| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                let v = f64::from_le_bytes(b);
                (!v.is_finite()).then_some((i, v))
            }),
            Dtype::F16 | Dtype::BF16 => {
                let mask = if view.dtype() == Dtype::F16 { 0x7C00u16 } else { 0x7F80 };
                let mant = if view.dtype() == Dtype::F16 { 0x03FFu16 } else { 0x007F };
                data.chunks_exact(2).enumerate().find_map(|(i, c)| {
                    let b = u16::from_le_bytes([c[0], c[1]]);
                    (b & mask == mask).then(|| {
                        let v = if b & mant != 0 {
                            f64::NAN
                        } else if b & 0x8000 != 0 {
                            f64::NEG_INFINITY
                        } else {
                            f64::INFINITY
                        };
                        (i, v)
                    })
                })
            }
            _ if key.ends_with("num_batches_tracked") => None,
            other => {
                return Err(WeightsError::Tensor {
                    key,
                    message: format!(
                        "it has dtype {other:?}; parameters must be floating point (float32): convert with \
                         tensor.float() before saving"
                    ),
                });
            }
        };
        if let Some((index, v)) = first_bad {
            return Err(WeightsError::NonFinite { key, index, value: v.to_string() });
        }
    }
    Ok(())
}

impl ResNet {
    /// Every torchvision key of this network's state dict with its PyTorch-layout shape, in
    /// module order, excluding `num_batches_tracked`. Reads no data.
    pub fn torchvision_keys(&self) -> Vec<(String, Vec<usize>)> {
        walk(self, false)
            .entries
            .into_iter()
            .map(|e| (e.key, e.shape))
            .collect()
    }

    /// Replace all parameters and BatchNorm statistics by a torchvision state dict serialised
    /// as safetensors (`safetensors.torch.save_file(model.state_dict(), …)`). Every parameter
    /// must be present with its shape; `num_batches_tracked` entries are ignored; any other
    /// extra entry is an error. The network must have been built with the matching
    /// [`crate::ResNetConfig`] (depth, width, classes).
    ///
    /// # Errors
    /// [`WeightsError`] naming the first (in module order) missing or mis-shaped key.
    pub fn load_torchvision(mut self, bytes: Vec<u8>) -> Result<Self, WeightsError> {
        check_finite(&bytes)?;
        let expected = self.torchvision_keys();
        let bytes = rename_downsample_keys(bytes)?;
        let mut store = SafetensorsStore::from_bytes(Some(bytes))
            .with_from_adapter(PyTorchToBurnAdapter)
            .skip_enum_variants(true)
            .allow_partial(true)
            // Check ourselves below, to name the first bad key in module order.
            .validate(false);
        let result = self
            .load_from(&mut store)
            .map_err(|e| WeightsError::Format(e.to_string()))?;

        let missing: Vec<String> = result
            .missing
            .iter()
            .map(|(p, _)| torchvision_key(p))
            .collect();
        let errors: Vec<(String, &ApplyError)> = result
            .errors
            .iter()
            .map(|e| (apply_error_key_shape(e).0, e))
            .collect();
        for (key, shape) in &expected {
            if missing.contains(key) {
                return Err(WeightsError::Missing {
                    key: key.clone(),
                    expected: shape.clone(),
                });
            }
            if let Some((_, e)) = errors.iter().find(|(k, _)| k == key) {
                return Err(match e {
                    ApplyError::ShapeMismatch {
                        expected: exp,
                        found,
                        ..
                    } => {
                        let mut exp = exp.to_vec();
                        let mut found = found.to_vec();
                        if key.ends_with("fc.weight") {
                            // burn keeps Linear weights as [in, out]; report PyTorch's [out, in].
                            exp.reverse();
                            found.reverse();
                        }
                        WeightsError::Shape {
                            key: key.clone(),
                            expected: exp,
                            found,
                        }
                    }
                    other => WeightsError::Tensor {
                        key: key.clone(),
                        message: other.to_string(),
                    },
                });
            }
        }
        // Errors or missing keys that did not map onto an expected key (should not happen).
        if let Some(key) = missing.first() {
            return Err(WeightsError::Missing {
                key: key.clone(),
                expected: Vec::new(),
            });
        }
        if let Some((key, e)) = errors.first() {
            return Err(WeightsError::Tensor {
                key: key.clone(),
                message: e.to_string(),
            });
        }
        let mut unused: Vec<String> = result
            .unused
            .iter()
            .map(|p| torchvision_key(p))
            .filter(|k| !k.ends_with("num_batches_tracked"))
            .collect();
        unused.sort();
        if let Some(key) = unused.into_iter().next() {
            return Err(WeightsError::Unexpected { key });
        }
        Ok(self)
    }

    /// Serialise all parameters and BatchNorm statistics as a torchvision state dict in
    /// safetensors (f32, PyTorch layout, `num_batches_tracked` = 0 as int64 scalars), loadable
    /// with `model.load_state_dict(safetensors.torch.load(bytes))`. One asynchronous read-back
    /// for all tensors, so it works in the browser; natively drive it with `pollster`.
    ///
    /// # Errors
    /// [`WeightsError::Readback`] if the device read fails, [`WeightsError::Serialize`] if the
    /// safetensors writer rejects a tensor.
    pub async fn export_torchvision(&self) -> Result<Vec<u8>, WeightsError> {
        let walker = walk(self, true);
        let tensors: Vec<Tensor<1>> = walker.entries.iter().filter_map(|e| e.tensor.clone()).collect();
        let values = crate::readback::read_all(tensors).await.map_err(|e| WeightsError::Readback(e.0))?;
        let mut entries = Vec::with_capacity(walker.entries.len() + walker.batch_norms.len());
        for (e, values) in walker.entries.iter().zip(values) {
            entries.push((e.key.clone(), e.shape.clone(), StateTensor::F32(values)));
        }
        for prefix in &walker.batch_norms {
            entries.push((format!("{prefix}.num_batches_tracked"), Vec::new(), StateTensor::Counter));
        }
        state_dict_to_safetensors(entries)
    }
}

/// The values of one tensor of a torchvision state dict.
#[derive(Debug, Clone, PartialEq)]
pub enum StateTensor {
    /// float32 values in PyTorch layout.
    F32(Vec<f32>),
    /// BatchNorm's int64 `num_batches_tracked` counter, written as 0 (eval mode ignores it).
    Counter,
}

/// Serialise `(key, PyTorch shape, values)` entries as torchvision-named safetensors bytes.
///
/// # Errors
/// [`WeightsError::Serialize`] naming the key whose values do not fit its shape.
pub fn state_dict_to_safetensors(entries: Vec<(String, Vec<usize>, StateTensor)>) -> Result<Vec<u8>, WeightsError> {
    let raw: Vec<(String, Vec<usize>, safetensors::Dtype, Vec<u8>)> = entries
        .into_iter()
        .map(|(key, shape, tensor)| match tensor {
            StateTensor::F32(v) => (key, shape, safetensors::Dtype::F32, f32_le_bytes(&v)),
            StateTensor::Counter => (key, shape, safetensors::Dtype::I64, 0i64.to_le_bytes().to_vec()),
        })
        .collect();
    let mut views = Vec::with_capacity(raw.len());
    for (key, shape, dtype, bytes) in &raw {
        let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
            .map_err(|e| WeightsError::Serialize(format!("`{key}`: {e}")))?;
        views.push((key.clone(), view));
    }
    safetensors::tensor::serialize(views, None).map_err(|e| WeightsError::Serialize(e.to_string()))
}

/// Little-endian bytes of `values`, written in place (about twice as fast as a `flat_map` over
/// `to_le_bytes` in unoptimised test builds, where state dicts of 10⁷ values are made).
fn f32_le_bytes(values: &[f32]) -> Vec<u8> {
    let mut bytes = vec![0u8; values.len() * 4];
    for (chunk, v) in bytes.chunks_exact_mut(4).zip(values) {
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut keys are renamed in the header and nothing else changes: every tensor reads
    /// back under its new name with its dtype, shape and bytes; other keys and the metadata stay;
    /// a file holding both names of one tensor is refused in words, and a file without shortcut
    /// keys is returned untouched.
    #[test]
    fn shortcut_keys_are_renamed_in_the_header_alone() {
        let tensors: Vec<(&str, Vec<f32>)> = vec![
            ("layer2.0.downsample.0.weight", vec![1.0, -2.0, 3.5]),
            ("layer2.0.downsample.1.running_var", vec![0.25, 4.0]),
            ("layer2.0.conv1.weight", vec![7.0]),
        ];
        let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
        let data: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
            .iter()
            .zip(&bytes)
            .map(|((k, v), b)| ((*k).to_owned(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![v.len()], b).expect("view")))
            .collect();
        let metadata = Some(std::collections::HashMap::from([("format".to_owned(), "pt".to_owned())]));
        let file = safetensors::serialize(data, metadata).expect("serialise");
        let renamed = rename_downsample_keys(file.clone()).expect("renamed");
        let st = safetensors::SafeTensors::deserialize(&renamed).expect("still a safetensors file");
        let mut names: Vec<&str> = st.names().into_iter().collect();
        names.sort_unstable();
        assert_eq!(names, ["layer2.0.conv1.weight", "layer2.0.downsample.bn.running_var", "layer2.0.downsample.conv.weight"]);
        for ((key, values), raw) in tensors.iter().zip(&bytes) {
            let new = key.replace("downsample.0.", "downsample.conv.").replace("downsample.1.", "downsample.bn.");
            let t = st.tensor(&new).expect("renamed tensor");
            assert_eq!((t.dtype(), t.shape(), t.data()), (safetensors::Dtype::F32, &[values.len()][..], &raw[..]), "{new}");
        }
        let (header_len, meta) = safetensors::SafeTensors::read_metadata(&renamed).expect("header");
        assert_eq!(header_len % 8, 0, "the header stays padded to 8 bytes");
        assert_eq!(meta.metadata().as_ref().and_then(|m| m.get("format")).map(String::as_str), Some("pt"));

        let plain = one("fc.bias", "F32", 1, &1.0f32.to_le_bytes());
        assert_eq!(rename_downsample_keys(plain.clone()).expect("nothing to rename"), plain);

        let mut twice = String::from("{\"a.downsample.0.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a.downsample.conv.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}");
        while twice.len() % 8 != 0 {
            twice.push(' ');
        }
        let mut both = (twice.len() as u64).to_le_bytes().to_vec();
        both.extend_from_slice(twice.as_bytes());
        both.extend_from_slice(&[0u8; 8]);
        let err = rename_downsample_keys(both).expect_err("two names of one tensor").to_string();
        assert!(err.contains("`a.downsample.conv.weight` twice"), "{err}");
    }

    /// One tensor of `dtype` with raw little-endian `data`, as a safetensors file.
    fn one(key: &str, dtype: &str, n: usize, data: &[u8]) -> Vec<u8> {
        let mut header = format!("{{\"{key}\":{{\"dtype\":\"{dtype}\",\"shape\":[{n}],\"data_offsets\":[0,{}]}}}}", data.len());
        while header.len() % 8 != 0 {
            header.push(' ');
        }
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn non_finite_values_are_found_in_every_float_dtype() {
        let f16_inf = [0u8, 0x3C, 0x00, 0x7C]; // 1.0, +inf
        let e = check_finite(&one("a", "F16", 2, &f16_inf)).expect_err("inf");
        assert_eq!(e, WeightsError::NonFinite { key: "a".into(), index: 1, value: "inf".into() });
        let bf16_nan = [0x80u8, 0x3F, 0xC0, 0x7F]; // 1.0, NaN
        assert!(matches!(check_finite(&one("b", "BF16", 2, &bf16_nan)), Err(WeightsError::NonFinite { index: 1, .. })));
        let f64s: Vec<u8> = [0.5f64, f64::NEG_INFINITY].iter().flat_map(|v| v.to_le_bytes()).collect();
        let e = check_finite(&one("c", "F64", 2, &f64s)).expect_err("-inf");
        assert!(e.to_string().contains("`c` holds -inf at element 1"), "{e}");
        let ok: Vec<u8> = [0.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(check_finite(&one("d", "F32", 2, &ok)), Ok(()));
        // Integer counters are allowed only as num_batches_tracked.
        let ints = 7i64.to_le_bytes();
        assert_eq!(check_finite(&one("bn1.num_batches_tracked", "I64", 1, &ints)), Ok(()));
        assert!(matches!(check_finite(&one("bn1.weight", "I64", 1, &ints)), Err(WeightsError::Tensor { .. })));
    }

    #[test]
    fn format_errors_say_what_the_header_announces() {
        let e = check_finite(b"abc").expect_err("short");
        assert!(e.to_string().contains("only 3 bytes"), "{e}");
        let mut absurd = u64::MAX.to_le_bytes().to_vec();
        absurd.extend_from_slice(b"{}");
        let e = torchvision_num_classes(&absurd).expect_err("absurd");
        assert!(e.to_string().contains(&format!("announce a {}-byte header but only 2 bytes follow", u64::MAX)), "{e}");
    }
}

//! The user's own data for a run (labels, image files, CelebA's partition, per-image regions,
//! counterfactual pairs), as one value that builds the run's pool the same way on the page's
//! thread and in the compute worker, and crosses to the worker as a message field: `File`
//! handles are cloned by the browser (nothing is read on the way), parsed labels travel as their
//! JSON, and files the page holds in memory (a folder read whole, images planted here, masks,
//! pairs) are copied over.

use std::sync::Arc;

use biaslens_data::LabelledImages;
use biaslens_experiment::{ExperimentConfig, ImagePool, PoolPartition};
use wasm_bindgen::JsValue;

use super::PickedFiles;
use super::files::{memory_from_js, memory_to_js};
use super::planted::{self, OwnPairs, OwnRegions};
use crate::messages::{bytes, field, message, text, transferred};

/// Everything a run on the user's images reads.
pub struct OwnData {
    /// The labels.
    pub labels: Arc<LabelledImages>,
    /// The image files.
    pub files: Arc<PickedFiles>,
    /// CelebA's official partition, if chosen.
    pub partition: Option<Arc<PoolPartition>>,
    /// Each image's own region, if chosen.
    pub regions: Option<OwnRegions>,
    /// Every image with and without the attribute, if chosen.
    pub pairs: Option<OwnPairs>,
}

impl OwnData {
    /// The run's pool, made by the library (square-padded and resized to the config's image side,
    /// the paper's box of the chosen attribute scaled to it). The regions read the images' sizes,
    /// which the browser's files give only asynchronously.
    ///
    /// # Errors
    /// The library's message.
    pub async fn pool(self, config: &ExperimentConfig) -> Result<ImagePool, String> {
        let pool = ImagePool::new((*self.labels).clone(), Box::new(self.files), config)?;
        let pool = match self.partition {
            Some(p) => pool.with_partition((*p).clone()),
            None => pool,
        };
        let pool = planted::with_regions(pool, self.regions).await?;
        planted::with_pairs(pool, self.pairs)
    }

    /// As a message field (in-memory buffers are added to `transfer`).
    pub fn to_js(&self, transfer: &mut Vec<JsValue>) -> JsValue {
        let mut fields = vec![
            ("labels", serde_json::to_string(&*self.labels).unwrap_or_default().into()),
            ("files", self.files.to_js(transfer)),
        ];
        if let Some(p) = &self.partition {
            fields.push(("partition", message("partition", &[("source", p.source.as_str().into()), ("values", transferred(&p.values, transfer))])));
        }
        match &self.regions {
            None => {}
            Some(OwnRegions::Boxes { name, bytes }) => {
                fields.push(("regions", message("boxes", &[("name", name.as_str().into()), ("bytes", transferred(bytes, transfer))])));
            }
            Some(OwnRegions::Masks { name, files }) => {
                fields.push(("regions", message("masks", &[("name", name.as_str().into()), ("memory", memory_to_js(files, transfer))])));
            }
        }
        if let Some(p) = &self.pairs {
            let (with, without) = (memory_to_js(&p.with, transfer), memory_to_js(&p.without, transfer));
            fields.push(("pairs", message("pairs", &[("name", p.name.as_str().into()), ("with", with), ("without", without)])));
        }
        message("own", &fields)
    }

    /// What [`OwnData::to_js`] made, in the compute worker.
    ///
    /// # Errors
    /// A field that is not what `to_js` writes (a bug).
    pub fn from_js(value: &JsValue) -> Result<Self, String> {
        let labels: LabelledImages = serde_json::from_str(&text(value, "labels").ok_or("the labels did not arrive")?).map_err(|e| format!("the labels did not arrive intact: {e}"))?;
        let files = PickedFiles::from_js(&field(value, "files"))?;
        let bytes = |v: &JsValue, key: &str| bytes(v, key).ok_or_else(|| format!("{key} did not arrive"));
        let partition = match field(value, "partition") {
            p if p.is_undefined() => None,
            p => Some(Arc::new(PoolPartition { source: text(&p, "source").unwrap_or_default(), values: bytes(&p, "values")? })),
        };
        let regions = match field(value, "regions") {
            r if r.is_undefined() => None,
            r => {
                let name = text(&r, "name").unwrap_or_default();
                Some(match text(&r, "kind").as_deref() {
                    Some("boxes") => OwnRegions::Boxes { name, bytes: Arc::new(bytes(&r, "bytes")?) },
                    _ => OwnRegions::Masks { name, files: Arc::new(memory_from_js(&field(&r, "memory"))?) },
                })
            }
        };
        let pairs = match field(value, "pairs") {
            p if p.is_undefined() => None,
            p => Some(OwnPairs {
                name: text(&p, "name").unwrap_or_default(),
                with: Arc::new(memory_from_js(&field(&p, "with"))?),
                without: Arc::new(memory_from_js(&field(&p, "without"))?),
            }),
        };
        Ok(Self { labels: Arc::new(labels), files: Arc::new(files), partition, regions, pairs })
    }
}

//! Stage 1 of a unit: the pool of labelled images (the synthetic benchmark, or the user's own
//! images), the unit's splits drawn from the labels (Sztukiewicz et al., XAI 2025, §4;
//! docs/METHODS.md#splits), and the pixels of each split.

use biaslens_data::images::{ImageSource, LabelledImages, Preprocess};
use biaslens_data::{Correlation, Pools, Split, SplitConfig, Splits, make_splits};
use biaslens_metrics::{ImageSize, Region, Roi, RoiPreset};

use super::RunError;
use crate::config::{CorrelationKind, ExperimentConfig};

/// The user's labelled images as the pool of a run: CelebA through its attribute list, or any
/// CSV of image, target and protected attribute (docs/METHODS.md#data).
pub struct ImagePool {
    /// What the data is, for the results (`"labels.csv: 1,200 images"`).
    pub name: String,
    /// File names and labels.
    pub labelled: LabelledImages,
    /// Where the image bytes come from (a folder natively, memory in the page).
    pub source: Box<dyn ImageSource + Send + Sync>,
    /// Images are padded to a square (the authors' SquarePad) and resized to `side × side`.
    pub side: u32,
    /// The protected attribute's box in `side × side` images.
    pub roi: Roi,
    /// A region per listed image (model pixels), replacing `roi` in the saliency metrics
    /// (docs/METHODS.md#per-image-regions); `None`: `roi` for every image.
    pub regions: Option<PoolRegions>,
    /// Every listed image with and without the attribute (a planted dataset,
    /// docs/METHODS.md#planting), for the ground-truth reliance (docs/METHODS.md#reliance).
    pub counterfactuals: Option<CounterfactualSources>,
    /// CelebA's official partition (`list_eval_partition.txt`): the splits are drawn from its
    /// train (0), validation (1 → debias) and test (2) rows instead of the authors' contiguous
    /// blocks; `None`: the blocks.
    pub partition: Option<PoolPartition>,
}

/// CelebA's official partition of a pool's images.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolPartition {
    /// The file it was read from (for the results and messages).
    pub source: String,
    /// 0 train, 1 validation, 2 test, per listed image, in list order.
    pub values: Vec<u8>,
}

impl PoolPartition {
    /// Reads `list_eval_partition.txt` (or Kaggle's `.csv`) from `bytes` (named `file`) and
    /// aligns it with the images of `labelled` by name.
    ///
    /// # Errors
    /// A message naming the file and line of a malformed row, or the first listed image the file
    /// has no partition for.
    pub fn parse(bytes: &[u8], file: &str, labelled: &LabelledImages) -> Result<Self, String> {
        let values = biaslens_data::parse_partition(bytes, file, &labelled.images).map_err(|e| format!("{file} was not used: {e}"))?;
        Ok(Self { source: file.to_owned(), values })
    }
}

/// Per-image regions of a pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolRegions {
    /// Where they come from, for the results (`"boxes.csv"`).
    pub source: String,
    /// One per listed image, in list order, in model pixels.
    pub regions: Vec<Region>,
}

/// Where each listed image (by its name in the label file) is found with the attribute and
/// without it.
pub struct CounterfactualSources {
    /// What they are, for messages.
    pub name: String,
    /// The images with the attribute.
    pub with: Box<dyn ImageSource + Send + Sync>,
    /// The same images without it.
    pub without: Box<dyn ImageSource + Send + Sync>,
}

impl std::fmt::Debug for ImagePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImagePool").field("name", &self.name).field("images", &self.labelled.len()).field("side", &self.side).finish()
    }
}

impl ImagePool {
    /// The pool the page and the CLI build from a label file and the images: CelebA's attribute
    /// list (`list_attr_celeba.txt`, or Kaggle's `list_attr_celeba.csv`: Smiling against the
    /// config's attribute) when the file name says so, else an own CSV (`image,target,attribute`);
    /// images square-padded and resized to the config's image side, the paper's box of the
    /// config's attribute scaled to it.
    ///
    /// # Errors
    /// A message naming the file, the line and what to do.
    pub fn from_labels(
        labels: &[u8],
        file_name: &str,
        source: Box<dyn ImageSource + Send + Sync>,
        config: &ExperimentConfig,
    ) -> Result<Self, String> {
        let attribute = config.data.synthetic.attribute.celeba_name();
        let lower = file_name.to_ascii_lowercase();
        let labelled = if lower.ends_with(".txt") || lower.contains("list_attr") {
            biaslens_data::celeba::AttributeTable::parse(labels, file_name).and_then(|t| t.labelled("Smiling", attribute))
        } else {
            biaslens_data::own::parse_own_csv(labels, file_name, &biaslens_data::own::OwnColumns::default())
        }
        .map_err(|e| {
            format!("{file_name} was not used: {e}. A CSV needs the columns image, target and attribute (0/1); CelebA's list_attr_celeba.txt needs Smiling and {attribute}.")
        })?;
        Self::new(labelled, source, config)
    }

    /// The pool of already parsed labels.
    ///
    /// # Errors
    /// A message when the ROI does not fit the image side.
    pub fn new(labelled: LabelledImages, source: Box<dyn ImageSource + Send + Sync>, config: &ExperimentConfig) -> Result<Self, String> {
        let side = config.data.synthetic.size;
        let preset = match config.data.synthetic.attribute {
            biaslens_data::ProtectedKind::Hat => RoiPreset::Hat,
            biaslens_data::ProtectedKind::Necktie => RoiPreset::Necktie,
        };
        let roi = preset.roi_for(ImageSize::square(side)).map_err(|e| format!("the region of interest: {e}"))?;
        Ok(Self {
            name: format!("{}: {} images", labelled.source, labelled.len()),
            labelled,
            source,
            side,
            roi,
            regions: None,
            counterfactuals: None,
            partition: None,
        })
    }

    /// Draws the splits from CelebA's official partition (see [`PoolPartition`]).
    #[must_use]
    pub fn with_partition(mut self, partition: PoolPartition) -> Self {
        self.name = format!("{}, official partition {}", self.name, partition.source);
        self.partition = Some(partition);
        self
    }

    /// Checks that every listed image is among the files, by name: nothing is read or decoded,
    /// so this is cheap for all of CelebA. The images the splits pick are decoded when the run
    /// starts ([`crate::drive`] checks them before any compute).
    ///
    /// # Errors
    /// A message naming the line of the first missing image and how many are missing.
    pub fn check_listed(&self) -> Result<(), String> {
        self.labelled.check_images(&self.source).map_err(|e| e.to_string())
    }

    /// The preprocessing of the pool's images (SquarePad, resize to the side).
    pub const fn preprocess(&self) -> Preprocess {
        Preprocess { square_pad: true, resize: Some(self.side) }
    }

    /// Scores every image's saliency in its own box from the box CSV `bytes` (named `file`;
    /// `image,x0,y0,x1,y1` in original pixels, docs/METHODS.md#per-image-regions), mapped to
    /// model pixels as the images are.
    ///
    /// # Errors
    /// A message naming the file and line: a malformed row, a listed image without a box, a box
    /// for an image the label file does not list, a box outside its image.
    pub fn with_boxes(mut self, bytes: &[u8], file: &str) -> Result<Self, String> {
        let table = biaslens_data::parse_box_csv(bytes, file).map_err(|e| e.to_string())?;
        table.check_listed(&self.labelled.images, &self.labelled.source).map_err(|e| e.to_string())?;
        let regions = self.labelled.box_regions(&table, &self.source, &self.preprocess()).map_err(|e| e.to_string())?;
        self.regions = Some(PoolRegions { source: file.to_owned(), regions });
        Ok(self)
    }

    /// Measures each model's reliance on the attribute from `pairs`: every listed image with the
    /// attribute and without it, under the same names (docs/METHODS.md#planting).
    ///
    /// # Errors
    /// A message naming the first listed image either source lacks.
    pub fn with_counterfactuals(mut self, pairs: CounterfactualSources) -> Result<Self, String> {
        for (what, source) in [("with the attribute", &pairs.with), ("without the attribute", &pairs.without)] {
            self.labelled.check_images(source).map_err(|e| format!("{} ({what}): {e}", pairs.name))?;
        }
        self.counterfactuals = Some(pairs);
        Ok(self)
    }

    /// Checks that every listed image is among the files and decodes (JPEG or PNG): reads and
    /// decodes all of them, one at a time (memory stays bounded; time grows with the folder, so
    /// runs use [`ImagePool::check_listed`] and decode only what the splits pick).
    ///
    /// # Errors
    /// A message naming the line and file.
    pub fn check_decodable(&self) -> Result<(), String> {
        let pre = Preprocess { square_pad: true, resize: Some(self.side) };
        self.labelled.check_decodable(&self.source, &pre).map_err(|e| e.to_string())
    }
}

/// The images of a run: the synthetic benchmark of the config, or the user's pool.
#[derive(Clone, Copy)]
pub(crate) enum Pool<'a> {
    Synthetic(&'a ExperimentConfig),
    Own(&'a ImagePool),
}

/// Images, targets and attribute of a split.
pub(crate) struct SplitImages {
    /// `[N, 3, s, s]` flattened.
    pub pixels: Vec<f32>,
    pub target: Vec<u8>,
    pub attribute: Vec<u8>,
    /// Pool index of each image (synthetic: the generator's index).
    pub indices: Vec<u64>,
}

impl Pool<'_> {
    /// The region of interest and the image size of the run.
    pub(crate) fn geometry(&self) -> Result<(Roi, ImageSize), RunError> {
        let (roi, image) = match self {
            Pool::Own(p) => (p.roi, ImageSize::square(p.side)),
            Pool::Synthetic(c) => (c.data.synthetic.roi()?, c.data.synthetic.image_size()),
        };
        if roi.image() != image {
            return Err(RunError::Images(format!(
                "the region of interest belongs to {}×{} images, the run's are {}×{}",
                roi.image().width,
                roi.image().height,
                image.width,
                image.height
            )));
        }
        Ok((roi, image))
    }

    /// Each of `images`' own region (`None`: the run's one ROI for every image).
    pub(crate) fn regions_of(&self, images: &SplitImages) -> Option<Vec<Region>> {
        match self {
            Pool::Own(ImagePool { regions: Some(r), .. }) => Some(images.indices.iter().map(|&i| r.regions[i as usize].clone()).collect()),
            _ => None,
        }
    }

    /// Where the per-image regions come from (`None`: one ROI for all).
    pub(crate) fn regions_source(&self) -> Option<String> {
        match self {
            Pool::Own(ImagePool { regions: Some(r), .. }) => Some(r.source.clone()),
            _ => None,
        }
    }

    /// The name of the user's data (`None`: synthetic).
    pub(crate) fn own_name(&self) -> Option<String> {
        match self {
            Pool::Own(p) => Some(p.name.clone()),
            Pool::Synthetic(_) => None,
        }
    }

    /// Splits at `phi` with `seed` (labels only, cheap).
    pub(crate) fn splits(&self, config: &ExperimentConfig, phi: f64, seed: u64) -> Result<Splits, RunError> {
        match self {
            Pool::Own(p) => {
                let partition = p.partition.as_ref().map(|x| x.values.as_slice());
                splits_of(config, phi, seed, &p.labelled.target, &p.labelled.attribute, partition)
            }
            Pool::Synthetic(c) => {
                let (t, a) = c.data.synthetic.labels(0, c.data.pool);
                splits_of(config, phi, seed, &t, &a, None)
            }
        }
    }

    /// The pixels of `split`. The user's images are read and decoded [`DRAW_CHUNK`] at a time
    /// (only the split's own images, however large the folder), with `decoded(k)` after each
    /// chunk (`k` of the split's images so far) and a turn for the page's event loop.
    pub(crate) async fn draw(&self, split: &Split, decoded: &mut dyn FnMut(usize)) -> Result<SplitImages, RunError> {
        let indices: Vec<u64> = split.indices.iter().map(|&i| i as u64).collect();
        match self {
            Pool::Own(pool) => {
                let pre = pool.preprocess();
                let n = split.indices.len();
                let mut images = SplitImages { pixels: Vec::with_capacity(n * 3 * (pool.side as usize).pow(2)), target: Vec::with_capacity(n), attribute: Vec::with_capacity(n), indices };
                for (k, rows) in split.indices.chunks(DRAW_CHUNK).enumerate() {
                    let loaded = pool.labelled.load_batch_async(rows, &pool.source, &pre).await;
                    if let Some(s) = loaded.skipped.first() {
                        return Err(RunError::Images(format!(
                            "{}, line {}: {} cannot be used: {}; fix or remove that row ({} image(s) of this batch of the {} split failed)",
                            pool.labelled.source,
                            pool.labelled.lines.get(s.row).copied().unwrap_or(0),
                            s.image,
                            s.reason,
                            loaded.skipped.len(),
                            split.name
                        )));
                    }
                    let b = loaded.batch;
                    images.pixels.extend_from_slice(&b.pixels);
                    images.target.extend_from_slice(&b.target);
                    images.attribute.extend_from_slice(&b.attribute);
                    decoded((k * DRAW_CHUNK + rows.len()).min(n));
                    biaslens_model::pace::yield_now().await;
                }
                Ok(images)
            }
            Pool::Synthetic(c) => {
                let b = c.data.synthetic.generate_indices(&indices)?;
                decoded(indices.len());
                Ok(SplitImages { pixels: b.pixels, target: b.target, attribute: b.attribute, indices })
            }
        }
    }

    /// Before any compute: every image the `splits` pick (each once) reads and decodes, the
    /// user's images only ([`DRAW_CHUNK`] at a time, `checked(k, total)` after each chunk). Only
    /// the picked images are read, whatever the size of the folder.
    pub(crate) async fn check_picked(&self, splits: &[Splits], checked: &mut dyn FnMut(usize, usize)) -> Result<(), RunError> {
        let Pool::Own(pool) = self else { return Ok(()) };
        let mut rows: Vec<usize> = splits.iter().flat_map(|s| [&s.train, &s.debias, &s.test]).flat_map(|s| s.indices.iter().copied()).collect();
        rows.sort_unstable();
        rows.dedup();
        let pre = pool.preprocess();
        for (k, chunk) in rows.chunks(DRAW_CHUNK).enumerate() {
            pool.labelled.check_rows_decode(chunk, &pool.source, &pre).await.map_err(|e| {
                RunError::Images(match e {
                    biaslens_data::DataError::BadImage { file, line, image, reason } => {
                        format!("{file}, line {line}: {image} cannot be used: {reason}; fix or remove that row (the images the splits pick are checked before any training)")
                    }
                    other => other.to_string(),
                })
            })?;
            checked((k * DRAW_CHUNK + chunk.len()).min(rows.len()), rows.len());
            biaslens_model::pace::yield_now().await;
        }
        Ok(())
    }
}

/// The user's images are read and decoded this many at a time.
pub(crate) const DRAW_CHUNK: usize = 128;

impl Pool<'_> {
    /// The counterfactual pairs of `images`: on the synthetic benchmark the attribute painted in
    /// and out of every face; on the user's images the pairs given with the pool (a planted
    /// dataset's `with/` and `clean/`, docs/METHODS.md#planting), else `None`.
    pub(crate) fn counterfactuals(&self, images: &SplitImages) -> Result<Option<super::evaluate::Counterfactuals>, RunError> {
        match self {
            Pool::Own(ImagePool { counterfactuals: None, .. }) => Ok(None),
            Pool::Own(pool @ ImagePool { counterfactuals: Some(pairs), .. }) => {
                let rows: Vec<usize> = images.indices.iter().map(|&i| i as usize).collect();
                let pre = pool.preprocess();
                let load = |source, what| load_pairs(pool, &rows, source, &pre, &pairs.name, what);
                let with = load(&pairs.with, "with the attribute")?;
                let without = load(&pairs.without, "without the attribute")?;
                Ok(Some(super::evaluate::Counterfactuals { with, without }))
            }
            Pool::Synthetic(c) => {
                let with = c.data.synthetic.generate_counterfactual(&images.indices, true)?.pixels;
                let without = c.data.synthetic.generate_counterfactual(&images.indices, false)?.pixels;
                Ok(Some(super::evaluate::Counterfactuals { with, without }))
            }
        }
    }
}

/// The pixels of the pool's `rows` from one side of its counterfactual pairs.
fn load_pairs(pool: &ImagePool, rows: &[usize], source: &impl ImageSource, pre: &Preprocess, name: &str, what: &str) -> Result<Vec<f32>, RunError> {
    let loaded = pool.labelled.load_batch(rows, source, pre);
    if let Some(s) = loaded.skipped.first() {
        return Err(RunError::Images(format!("{name} ({what}): {} cannot be used: {}", s.image, s.reason)));
    }
    Ok(loaded.batch.pixels)
}

/// The splits of `phi` with `seed` from a pool's labels.
fn splits_of(config: &ExperimentConfig, phi: f64, seed: u64, target: &[u8], attribute: &[u8], partition: Option<&[u8]>) -> Result<Splits, RunError> {
    let train = match config.correlation {
        CorrelationKind::Phi => Correlation::phi(phi),
        CorrelationKind::AuthorsPercentage => Correlation::CellPercentage { p: Correlation::authors_p_for_phi(phi) },
    };
    let debias = if config.splits.debias_at_train_phi { train.clone() } else { config.splits.debias_correlation.clone() };
    let split_config = SplitConfig {
        pools: if partition.is_some() { Pools::Official } else { Pools::default() },
        train,
        debias,
        train_size: Some(config.splits.train),
        debias_size: Some(config.splits.debias),
        test_size: Some(config.splits.test),
        seed,
    };
    make_splits(target, attribute, partition, &split_config).map_err(|reason| RunError::Split { phi, reason })
}

/// The splits of every φ of `config` at its first seed (labels only: cheap enough for a
/// preview), in config order.
///
/// # Errors
/// [`RunError::Split`] for the first φ the pool cannot supply.
pub fn phi_splits(config: &ExperimentConfig) -> Result<Vec<Splits>, RunError> {
    let pool = Pool::Synthetic(config);
    config.phis.iter().map(|&phi| pool.splits(config, phi, config.seed)).collect()
}

/// [`phi_splits`] of a pool given by its labels (the user's images), with CelebA's official
/// partition of its rows if given (0 train, 1 validation, 2 test).
///
/// # Errors
/// As [`phi_splits`].
pub fn phi_splits_of(config: &ExperimentConfig, pool_target: &[u8], pool_attribute: &[u8], partition: Option<&[u8]>) -> Result<Vec<Splits>, RunError> {
    config.phis.iter().map(|&phi| splits_of(config, phi, config.seed, pool_target, pool_attribute, partition)).collect()
}

//! Own images with per-image regions and counterfactual pairs (docs/METHODS.md#per-image-regions,
//! docs/METHODS.md#planting): a box file or mask PNGs, a folder of `with/` and `clean/` images,
//! the whole folder `biaslens plant` writes (its `plant.json` read for the summary), or an artifact
//! planted here into the chosen images by the library's `plant` functions. The pool is built by the
//! same `ImagePool::with_boxes` / `with_masks` / `with_counterfactuals` the CLI's `run` calls, so
//! the page and the CLI cannot read these files differently.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use biaslens_data::plant::{PlantManifest, box_csv, choose, labels_csv, plant_pair, planted_name};
use biaslens_data::{ArtifactKind, ImageSource, LabelledImages, MemorySource, Placement, PlantConfig, StickerShape};
use biaslens_experiment::{CounterfactualSources, ImagePool};
use leptos::prelude::*;

use super::{Ui, ui};

/// The largest total the folder pickers read into memory (as the image picker).
const MAX_FOLDER_BYTES: f64 = 1.5 * 1024.0 * 1024.0 * 1024.0;

/// Where each own image's region comes from.
#[derive(Clone)]
pub enum OwnRegions {
    /// A box file (`image,x0,y0,x1,y1`, original pixels).
    Boxes {
        /// Its name (for the results and messages).
        name: String,
        /// Its bytes.
        bytes: Arc<Vec<u8>>,
    },
    /// One mask PNG per image, named after it.
    Masks {
        /// What they are (for the results and messages).
        name: String,
        /// The mask files by name.
        files: Arc<MemorySource>,
    },
}

impl OwnRegions {
    /// Whether `other` is this very choice (the same bytes or files, not a copy).
    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Boxes { bytes: a, .. }, Self::Boxes { bytes: b, .. }) => Arc::ptr_eq(a, b),
            (Self::Masks { files: a, .. }, Self::Masks { files: b, .. }) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Boxes { name, .. } => format!("each image's own box from {name}"),
            Self::Masks { name, .. } => format!("each image's own mask from {name}"),
        }
    }
}

/// Every own image with and without the attribute.
#[derive(Clone)]
pub struct OwnPairs {
    /// What they are (for messages).
    pub name: String,
    /// The images with the attribute.
    pub with: Arc<MemorySource>,
    /// The same images without it.
    pub without: Arc<MemorySource>,
}

/// A set planted in the page, as `biaslens plant --out` writes it: `images/`, `with/`, `clean/`,
/// `labels.csv`, `boxes.csv` and `plant.json` (docs/METHODS.md#planting). Holds the planted
/// images and pairs themselves, so changing the run's data later does not change what is saved.
pub struct PlantedExport {
    /// Per image: the name the page's sources use (the bare file name).
    keys: Vec<String>,
    /// Per image: its path in the folder (`planted_name` of the listed name).
    paths: Vec<String>,
    /// The planted dataset's images.
    images: Arc<super::PickedFiles>,
    /// Every image with the artifact.
    with: Arc<MemorySource>,
    /// Every image without it.
    clean: Arc<MemorySource>,
    labels_csv: String,
    boxes_csv: String,
    manifest: String,
}

impl PlantedExport {
    /// The folder as a zip archive (stored, not compressed: the images are PNG already).
    ///
    /// # Errors
    /// A file that cannot be read back or written into the archive.
    pub async fn zip(&self) -> Result<Vec<u8>, String> {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
        let put = |zip: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>, name: &str, bytes: &[u8]| -> Result<(), String> {
            zip.start_file(name, options).map_err(|e| format!("{name}: {e}"))?;
            zip.write_all(bytes).map_err(|e| format!("{name}: {e}"))
        };
        put(&mut zip, "labels.csv", self.labels_csv.as_bytes())?;
        put(&mut zip, "boxes.csv", self.boxes_csv.as_bytes())?;
        put(&mut zip, "plant.json", self.manifest.as_bytes())?;
        for (i, (key, path)) in self.keys.iter().zip(&self.paths).enumerate() {
            let image = self.images.read_async(key).await.map_err(|e| format!("images/{path}: {e}"))?;
            let with = self.with.read(key).map_err(|e| format!("with/{path}: {e}"))?;
            let clean = self.clean.read(key).map_err(|e| format!("clean/{path}: {e}"))?;
            for (dir, bytes) in [("images", &image), ("with", &with), ("clean", &clean)] {
                put(&mut zip, &format!("{dir}/{path}"), bytes)?;
            }
            if i % 64 == 63 {
                biaslens_model::pace::yield_now().await;
            }
        }
        Ok(zip.finish().map_err(|e| format!("finishing the zip: {e}"))?.into_inner())
    }
}

/// `pool` with the chosen regions (the library's readers).
///
/// # Errors
/// The library's message, naming the file and line.
pub async fn with_regions(pool: ImagePool, regions: Option<OwnRegions>) -> Result<ImagePool, String> {
    match regions {
        None => Ok(pool),
        Some(OwnRegions::Boxes { name, bytes }) => pool.with_boxes_async(&bytes, &name).await.map_err(|e| format!("the box file: {e}")),
        Some(OwnRegions::Masks { name, files }) => pool.with_masks_async(Box::new(files), &name).await.map_err(|e| format!("the masks ({name}): {e}")),
    }
}

/// `pool` with the chosen counterfactual pairs.
///
/// # Errors
/// The library's message naming the first image a side lacks.
pub fn with_pairs(pool: ImagePool, pairs: Option<OwnPairs>) -> Result<ImagePool, String> {
    match pairs {
        None => Ok(pool),
        Some(p) => pool.with_counterfactuals(CounterfactualSources { name: p.name, with: Box::new(p.with), without: Box::new(p.without) }),
    }
}

/// Once labels and images are chosen: the regions and the pairs must fit them (every listed image
/// has its box, mask, and both pictures); what does not is set aside with the library's message.
pub fn check_extras(ui: Ui) {
    let (Some(labels), Some(files)) = (ui.own_labels.get_untracked(), ui.own_files.get_untracked()) else { return };
    let config = ui.config.get_untracked();
    let pool = move || ImagePool::new((*labels).clone(), Box::new(files.clone()), &config);
    leptos::task::spawn_local(async move {
        if let Some(r) = ui.own_regions.get_untracked() {
            let checked = match pool() {
                Ok(p) => with_regions(p, Some(r.clone())).await.map(|_| ()),
                Err(e) => Err(e),
            };
            // Only if these regions are still the chosen ones.
            if let Err(e) = checked
                && ui.own_regions.with_untracked(|now| now.as_ref().is_some_and(|now| now.same(&r)))
            {
                ui.own_regions.set(None);
                ui.error(format!("{e}. The per-image regions were set aside (the run would use the one ROI): choose a box file or masks for these images."));
            }
        }
        if let Some(p) = ui.own_pairs.get_untracked()
            && let Err(e) = pool().and_then(|pool| with_pairs(pool, Some(p)))
        {
            ui.own_pairs.set(None);
            ui.error(format!("{e}. The counterfactual images were set aside: choose a folder with with/ and clean/ holding every listed image."));
        }
    });
}

/// Uses `regions` if they fit the chosen labels and images (or none are chosen yet); else says why
/// and keeps the regions in use.
async fn offer_regions(ui: Ui, regions: OwnRegions, done: &str) {
    if let (Some(labels), Some(files)) = (ui.own_labels.get_untracked(), ui.own_files.get_untracked()) {
        let config = ui.config.get_untracked();
        let checked = match ImagePool::new((*labels).clone(), Box::new(files), &config) {
            Ok(p) => with_regions(p, Some(regions.clone())).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            return ui.error(format!("{e}. Not used: the run keeps {}.", ui.own_regions.with_untracked(|r| r.as_ref().map_or("the one ROI".to_owned(), OwnRegions::describe))));
        }
    }
    ui.own_regions.set(Some(regions));
    ui.info(done.to_owned());
}

/// Uses `pairs` if they hold every chosen image (or none are chosen yet); else says why and keeps
/// the pairs in use.
fn offer_pairs(ui: Ui, pairs: OwnPairs) {
    if let (Some(labels), Some(files)) = (ui.own_labels.get_untracked(), ui.own_files.get_untracked()) {
        let config = ui.config.get_untracked();
        if let Err(e) = ImagePool::new((*labels).clone(), Box::new(files), &config).and_then(|p| with_pairs(p, Some(pairs.clone()))) {
            let kept = ui.own_pairs.with_untracked(|p| p.as_ref().map_or("no pairs".to_owned(), |p| p.name.clone()));
            return ui.error(format!("{e}. Not used: the run keeps {kept}."));
        }
    }
    ui.info(format!("{}: each model's reliance on the attribute is measured on these pairs.", pairs.name));
    ui.own_pairs.set(Some(pairs));
}

/// A chosen folder: its name, its top-level files and, per first-level subfolder, its files.
struct Folder {
    root: String,
    top: HashMap<String, Vec<u8>>,
    sub: HashMap<String, MemorySource>,
}

/// The path of a file inside the chosen folder (`planted/images/a.png`), as the browser gives it
/// to a folder picker.
fn relative_path(file: &web_sys::File) -> Option<String> {
    js_sys::Reflect::get(file, &"webkitRelativePath".into()).ok().and_then(|v| v.as_string()).filter(|s| !s.is_empty())
}

/// Reads the files of a folder picker that `keep(top-level name or subfolder)` wants.
async fn read_folder(files: Vec<web_sys::File>, keep_top: &[&str], keep_sub: &[&str]) -> Result<Folder, String> {
    let mut wanted = Vec::new();
    let mut root = String::new();
    for f in files {
        let Some(path) = relative_path(&f) else {
            return Err(format!("{}: the browser gave no folder path; choose the folder itself with this picker, not files inside it", f.name()));
        };
        let parts: Vec<&str> = path.split('/').collect();
        root = parts[0].to_owned();
        match parts.as_slice() {
            [_, name] if keep_top.contains(name) => wanted.push((None, (*name).to_owned(), f)),
            [_, dir, .., name] if keep_sub.contains(dir) => wanted.push((Some((*dir).to_owned()), (*name).to_owned(), f)),
            _ => {}
        }
    }
    let total: f64 = wanted.iter().map(|(_, _, f)| f.size()).sum();
    if total > MAX_FOLDER_BYTES {
        return Err(format!(
            "{root}: {:.0} MB of files are more than the page holds in memory ({:.0} MB); use fewer images, or the CLI (biaslens run)",
            total / 1048576.0,
            MAX_FOLDER_BYTES / 1048576.0
        ));
    }
    let mut folder = Folder { root, top: HashMap::new(), sub: HashMap::new() };
    for (dir, name, f) in wanted {
        let bytes = super::share::read_bytes(&f, MAX_FOLDER_BYTES).await.map_err(|e| format!("{name}: {e}"))?;
        match dir {
            None => {
                folder.top.insert(name, bytes);
            }
            Some(d) => folder.sub.entry(d).or_default().insert(&name, bytes),
        }
    }
    Ok(folder)
}

/// `plant.json` in words (what was planted, φ asked and achieved); `None` if it is not one.
fn describe_manifest(bytes: &[u8]) -> Option<String> {
    let m: PlantManifest = serde_json::from_slice(bytes).ok()?;
    (m.format == "biaslens-plant").then(|| format!("planted by biaslens plant: {}", m.summary()))
}

/// The whole folder `biaslens plant --out` wrote: labels, images, boxes, pairs, manifest.
fn use_planted_folder(ui: Ui, folder: Folder) -> Result<String, String> {
    let root = &folder.root;
    let help = "choose the folder biaslens plant --out wrote (labels.csv, images/, boxes.csv, with/, clean/, plant.json)";
    let labels = folder.top.get("labels.csv").ok_or_else(|| format!("{root} has no labels.csv; {help}"))?;
    let images = folder.sub.get("images").cloned().ok_or_else(|| format!("{root} has no images/ folder; {help}"))?;
    let labelled = biaslens_data::parse_own_csv(labels, "labels.csv", &biaslens_data::OwnColumns::default())
        .map_err(|e| format!("{root}/labels.csv was not used: {e}"))?;
    let side = ui.config.with_untracked(|c| c.data.synthetic.size);
    labelled
        .check_decodable(&images, &biaslens_data::Preprocess { square_pad: true, resize: Some(side) })
        .map_err(|e| format!("{root}/images: {e}"))?;
    let regions = match (folder.top.get("boxes.csv"), folder.sub.get("masks")) {
        (Some(b), _) => Some(OwnRegions::Boxes { name: "boxes.csv".into(), bytes: Arc::new(b.clone()) }),
        (None, Some(m)) => Some(OwnRegions::Masks { name: format!("{root}/masks/"), files: Arc::new(m.clone()) }),
        (None, None) => None,
    };
    let pairs = match (folder.sub.get("with"), folder.sub.get("clean")) {
        (Some(w), Some(c)) => {
            Some(OwnPairs { name: format!("{root}/with and {root}/clean"), with: Arc::new(w.clone()), without: Arc::new(c.clone()) })
        }
        _ => None,
    };
    let summary = format!(
        "{root}: {} labelled images{}{}",
        labelled.len(),
        regions.as_ref().map_or(String::new(), |r| format!(", {}", r.describe())),
        if pairs.is_some() { ", every image with and without the artifact" } else { "" }
    );
    ui.unplanted.set(None);
    ui.own_partition.set(None);
    ui.own_labels.set(Some(Arc::new(labelled)));
    ui.own_files.set(Some(Arc::new(super::PickedFiles::in_memory(images))));
    ui.own_regions.set(regions);
    ui.own_pairs.set(pairs);
    ui.planted.set(folder.top.get("plant.json").and_then(|b| describe_manifest(b)));
    ui.planted_export.set(None);
    check_extras(ui);
    Ok(summary)
}

/// Plants `config`'s artifact into the chosen images (the unplanted originals if the page planted
/// before), in memory, with the library's `choose` and `plant_pair` (the functions `biaslens
/// plant` calls), and makes the planted set the run's data with its boxes and pairs.
async fn plant_here(ui: Ui, config: PlantConfig) -> Result<String, String> {
    let (labels, files) = match ui.unplanted.get_untracked() {
        Some(original) => original,
        None => match (ui.own_labels.get_untracked(), ui.own_files.get_untracked()) {
            (Some(l), Some(f)) => (l, f),
            _ => return Err("choose the labels and the image files first".into()),
        },
    };
    config.check().map_err(|e| e.to_string())?;
    let choice = choose(&labels.target, &config).map_err(|e| format!("{e}; here: change φ in the plant form"))?;
    let mut keys = Vec::with_capacity(labels.len());
    let (mut images, mut with, mut clean) = (MemorySource::default(), MemorySource::default(), MemorySource::default());
    let (mut names, mut boxes) = (Vec::with_capacity(labels.len()), Vec::with_capacity(labels.len()));
    let mut seen = HashSet::new();
    let mut held = 0.0f64;
    for (i, name) in labels.images.iter().enumerate() {
        let at = || format!("{}, line {}: image {name}", labels.source, labels.lines[i]);
        let out = planted_name(name);
        // The page keys files by their bare name, as the image picker does.
        let key = out.rsplit(['/', '\\']).next().unwrap_or(&out).to_owned();
        if !seen.insert(key.clone()) {
            return Err(format!("{}: would be planted as {key}, as an earlier image; rename one of them (planted images are PNG)", at()));
        }
        let bytes = files.read_async(name).await.map_err(|e| format!("{}: {e}", at()))?;
        let pair = plant_pair(&bytes, name, i as u64, &config).map_err(|e| format!("{}: {e}", at()))?;
        // The planted set lives in memory (the dataset, and every image with and without the
        // artifact): stop before the tab runs out of it, as the folder pickers do.
        held += (pair.with.len() + 2 * pair.clean.len()) as f64;
        if held > MAX_FOLDER_BYTES {
            return Err(format!(
                "planting in the page keeps every image three times in memory, and after {i} of {} images that passed {:.0} MB; plant a large set with biaslens plant (it writes to disk) and choose its folder here, or choose fewer images",
                labels.len(),
                MAX_FOLDER_BYTES / 1048576.0
            ));
        }
        images.insert(&key, if choice.planted[i] == 1 { pair.with.clone() } else { pair.clean.clone() });
        with.insert(&key, pair.with);
        clean.insert(&key, pair.clean);
        names.push(out);
        keys.push(key);
        boxes.push(pair.bbox);
        // Decoding and encoding an image takes milliseconds: give the browser a turn.
        biaslens_model::pace::yield_now().await;
    }
    let planted = LabelledImages {
        source: format!("{} (planted here)", labels.source),
        images: names.clone(),
        lines: labels.lines.clone(),
        target: labels.target.clone(),
        attribute: choice.planted.clone(),
    };
    let manifest = PlantManifest::new(&labels.source, labels.len(), &config, &choice);
    let text = format!("planted here: {} {}", manifest.summary(), manifest.cells());
    let boxes_csv = box_csv(&names, &boxes);
    let (images, with, clean) = (Arc::new(super::PickedFiles::in_memory(images)), Arc::new(with), Arc::new(clean));
    let export = PlantedExport {
        labels_csv: labels_csv(&names, &labels.target, &choice.planted, &labels.attribute)?,
        manifest: manifest.to_json()?,
        boxes_csv: boxes_csv.clone(),
        keys,
        paths: names,
        images: images.clone(),
        with: with.clone(),
        clean: clean.clone(),
    };
    ui.unplanted.set(Some((labels, files)));
    ui.own_partition.set(None);
    ui.own_labels.set(Some(Arc::new(planted)));
    ui.own_files.set(Some(images));
    ui.own_regions.set(Some(OwnRegions::Boxes { name: "the planted boxes".into(), bytes: Arc::new(boxes_csv.into_bytes()) }));
    ui.own_pairs.set(Some(OwnPairs { name: "the planted pairs".into(), with, without: clean }));
    ui.planted.set(Some(text.clone()));
    ui.planted_export.set(Some(Arc::new(export)));
    check_extras(ui);
    Ok(text)
}

/// Parses `X0,Y0,X1,Y1` (fractions) or `X,Y` (a fixed place).
fn parse_place(text: &str) -> Result<Placement, String> {
    let v: Vec<f64> = text
        .split([',', ' ', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<f64>().map_err(|_| format!("place: \"{s}\" is not a number")))
        .collect::<Result<_, _>>()?;
    match *v.as_slice() {
        [x, y] => Ok(Placement::Fixed { x, y }),
        [x0, y0, x1, y1] => Ok(Placement::Random { x0, y0, x1, y1 }),
        _ => Err(format!("place: {} numbers; give X,Y (a fixed place) or X0,Y0,X1,Y1 (a region to draw from), as fractions of the image", v.len())),
    }
}

fn number<T: std::str::FromStr>(field: &str, text: &str) -> Result<T, String> {
    text.trim().replace('−', "-").parse().map_err(|_| format!("{field}: \"{}\" is not a number", text.trim()))
}

/// The pickers for regions and pairs, the planted-folder picker and the plant form, inside the
/// own-images box.
#[component]
pub fn RegionsAndPlanting() -> impl IntoView {
    let ui = ui();
    let have_data = move || ui.own_labels.with(Option::is_some) && ui.own_files.with(Option::is_some);
    let on_planted = move |ev: leptos::ev::Event| {
        let files = super::share::chosen_files(&ev);
        if files.is_empty() {
            return;
        }
        leptos::task::spawn_local(async move {
            let read = read_folder(files, &["labels.csv", "boxes.csv", "plant.json"], &["images", "with", "clean", "masks"]).await;
            match read.and_then(|f| use_planted_folder(ui, f)) {
                Ok(summary) => ui.info(summary),
                Err(e) => ui.error(format!("The planted folder was not used: {e}")),
            }
        });
    };
    let on_boxes = move |ev: leptos::ev::Event| {
        let Some(file) = super::share::chosen_files(&ev).into_iter().next() else { return };
        let name = file.name();
        leptos::task::spawn_local(async move {
            let bytes = match super::share::read_bytes(&file, 256.0 * 1024.0 * 1024.0).await {
                Ok(b) => b,
                Err(e) => return ui.error(format!("{name}: {e}")),
            };
            if let Err(e) = biaslens_data::parse_box_csv(&bytes, &name) {
                return ui.error(format!("{name} was not used: {e}"));
            }
            let done = format!("{name}: each image's saliency is scored in its own box.");
            offer_regions(ui, OwnRegions::Boxes { name, bytes: Arc::new(bytes) }, &done).await;
        });
    };
    let on_masks = move |ev: leptos::ev::Event| {
        let files = super::share::chosen_files(&ev);
        if files.is_empty() {
            return;
        }
        leptos::task::spawn_local(async move {
            let mut masks = MemorySource::default();
            for f in &files {
                match super::share::read_bytes(f, 64.0 * 1024.0 * 1024.0).await {
                    Ok(b) => masks.insert(&f.name(), b),
                    Err(e) => return ui.error(format!("{}: {e}", f.name())),
                }
            }
            let name = format!("{} mask files", files.len());
            let done = format!("{name}: each image's saliency is scored in its own mask.");
            offer_regions(ui, OwnRegions::Masks { name, files: Arc::new(masks) }, &done).await;
        });
    };
    let on_pairs = move |ev: leptos::ev::Event| {
        let files = super::share::chosen_files(&ev);
        if files.is_empty() {
            return;
        }
        leptos::task::spawn_local(async move {
            let read = read_folder(files, &[], &["with", "clean"]).await.and_then(|f| match (f.sub.get("with"), f.sub.get("clean")) {
                (Some(w), Some(c)) => Ok(OwnPairs {
                    name: format!("{}/with and {}/clean", f.root, f.root),
                    with: Arc::new(w.clone()),
                    without: Arc::new(c.clone()),
                }),
                _ => Err(format!("{} needs the folders with/ and clean/ (every listed image with and without the attribute, as biaslens plant writes them)", f.root)),
            });
            match read {
                Ok(p) => offer_pairs(ui, p),
                Err(e) => ui.error(format!("The counterfactual folder was not used: {e}")),
            }
        });
    };
    // The plant form.
    let kind = RwSignal::new("patch".to_owned());
    let phi = RwSignal::new("0".to_owned());
    let size = RwSignal::new("0.15".to_owned());
    let place = RwSignal::new("0, 0, 1, 1".to_owned());
    let seed = RwSignal::new("0".to_owned());
    let rate = RwSignal::new("0.5".to_owned());
    let busy = RwSignal::new(false);
    let plant = move |_| {
        let colour = [255, 0, 255];
        let config = (|| -> Result<PlantConfig, String> {
            let kind = match kind.get_untracked().as_str() {
                "disc" => ArtifactKind::Sticker { shape: StickerShape::Disc, colour },
                "star" => ArtifactKind::Sticker { shape: StickerShape::Star, colour },
                _ => ArtifactKind::Patch { colour },
            };
            Ok(PlantConfig {
                kind,
                size: number("size", &size.get_untracked())?,
                placement: parse_place(&place.get_untracked())?,
                phi: number("φ", &phi.get_untracked())?,
                attribute_rate: number("share of images planted", &rate.get_untracked())?,
                seed: seed.get_untracked().trim().parse().map_err(|_| format!("seed: \"{}\" is not a whole number ≥ 0", seed.get_untracked().trim()))?,
            })
        })();
        let config = match config {
            Ok(c) => c,
            Err(e) => return ui.error(format!("Nothing planted: {e}.")),
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            match plant_here(ui, config).await {
                Ok(text) => ui.info(format!("{text}. The next run uses the planted images, their boxes and their counterfactual pairs.")),
                Err(e) => ui.error(format!("Nothing planted: {e}. The chosen images are unchanged.")),
            }
            busy.set(false);
        });
    };
    let text_field = move |label: &'static str, id: &'static str, value: RwSignal<String>| {
        view! {
            <label class="field small"><span>{label}</span>
                <input type="text" id=id prop:value=move || value.get() on:change=move |ev| value.set(event_target_value(&ev))/></label>
        }
    };
    view! {
        <div class="regions">
            <label class="field"><span>"or the whole folder biaslens plant wrote (labels, images, boxes, with/ and clean/)"</span>
                <input type="file" id="own-planted" prop:webkitdirectory=true multiple on:change=on_planted disabled=move || ui.running()/></label>
            <label class="field"><span>"optional: each image's box, a CSV (image, x0, y0, x1, y1 in the image's pixels)"</span>
                <input type="file" id="own-boxes" accept=".csv,.txt" on:change=on_boxes disabled=move || ui.running()/></label>
            <label class="field"><span>"or each image's mask (PNG named after the image; non-black = inside)"</span>
                <input type="file" id="own-masks" multiple accept="image/png" on:change=on_masks disabled=move || ui.running()/></label>
            <label class="field"><span>"optional: counterfactuals, a folder with with/ and clean/ (every image with and without the attribute)"</span>
                <input type="file" id="own-pairs" prop:webkitdirectory=true multiple on:change=on_pairs disabled=move || ui.running()/></label>
            <p class="small" id="own-extra-status">{move || {
                let mut parts = Vec::new();
                parts.push(ui.own_regions.with(|r| r.as_ref().map_or("regions: the one ROI of the chosen attribute".to_owned(), |r| format!("regions: {}", r.describe()))));
                parts.push(ui.own_pairs.with(|p| p.as_ref().map_or("no counterfactual pairs (no ground-truth reliance)".to_owned(), |p| format!("reliance measured on {}", p.name))));
                if let Some(p) = ui.planted.get() { parts.push(p); }
                parts.join(" · ")
            }}</p>
            {move || ui.own_regions.with(|r| match r {
                Some(OwnRegions::Boxes { bytes, .. }) => {
                    let text = String::from_utf8_lossy(bytes).into_owned();
                    Some(view! {
                        <button id="boxes-download" title="the box of every image, as the CLI's run --boxes reads it"
                            on:click=move |_| if let Err(e) = super::share::download("boxes.csv", &text, "text/csv") { ui.error(format!("boxes.csv was not saved: {e}")) }>"save the boxes (boxes.csv)"</button>
                    })
                }
                _ => None,
            })}
            {move || ui.planted_export.get().map(|export| view! {
                <button id="planted-download" title="images/, with/, clean/, labels.csv, boxes.csv and plant.json: the folder biaslens plant writes, for the CLI's run or to choose here again"
                    on:click=move |_| {
                        let export = export.clone();
                        leptos::task::spawn_local(async move {
                            ui.info("Packing the planted set…".to_owned());
                            let saved = export.zip().await.and_then(|bytes| super::share::download_bytes("planted.zip", &bytes, "application/zip").map(|()| bytes.len()));
                            match saved {
                                Ok(n) => ui.info(format!("planted.zip saved ({:.1} MB): unzipped, it is the folder biaslens plant writes (run --labels planted/labels.csv --images planted/images --boxes planted/boxes.csv --counterfactuals planted), and the planted-folder picker here reads it.", n as f64 / 1e6)),
                                Err(e) => ui.error(format!("planted.zip was not saved: {e}")),
                            }
                        });
                    }>"save the planted set (planted.zip)"</button>
            })}
            <button disabled=move || ui.running() || (ui.own_regions.with(Option::is_none) && ui.own_pairs.with(Option::is_none))
                on:click=move |_| { ui.own_regions.set(None); ui.own_pairs.set(None); }>"one ROI, no pairs"</button>
            <details class="plant" id="plant-form">
                <summary>"plant a known artifact into these images"</summary>
                <p class="small">"Pastes a magenta artifact into the chosen images so that it goes with the target at φ (the same functions as biaslens plant). Every image gets a box (where the artifact is, or would be) and exists with and without it, so the run scores each image in its own box and measures every model's real reliance on the artifact. Plant at φ = 0 to let the run's φ values be drawn from the planted images."</p>
                <label class="field small"><span>"artifact"</span>
                    <select id="plant-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                        <option value="patch" selected=move || kind.get() == "patch">"patch (a square)"</option>
                        <option value="disc" selected=move || kind.get() == "disc">"disc sticker"</option>
                        <option value="star" selected=move || kind.get() == "star">"star sticker"</option>
                    </select></label>
                {text_field("φ with the target", "plant-phi", phi)}
                {text_field("size (fraction of the shorter side)", "plant-size", size)}
                {text_field("place: X0,Y0,X1,Y1 to draw from, or X,Y", "plant-place", place)}
                {text_field("share of images planted", "plant-rate", rate)}
                {text_field("seed", "plant-seed", seed)}
                <button id="plant-button" disabled=move || !have_data() || ui.running() || busy.get() on:click=plant>"Plant and use"</button>
            </details>
        </div>
    }
}

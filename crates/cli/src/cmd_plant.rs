//! `biaslens plant`: a known artifact pasted into the user's own labelled photos, so the
//! protected attribute's box is known per image and each photo exists with and without it
//! (`docs/METHODS.md#planting`; the library side is `biaslens_data::plant`).
//!
//! Writes, under `--out`:
//! * `images/` the planted dataset (the artifact in the chosen images, the others as they were),
//!   every image as PNG under its name with `.png`;
//! * `labels.csv` (`image,target,attribute,source_attribute`): the attribute is the planted
//!   indicator, `source_attribute` the label file's own attribute (kept for reference);
//! * `boxes.csv` (`image,x0,y0,x1,y1`, original pixels): every image's artifact box (where it is, or
//!   would be in an unplanted image), the format `--boxes` reads;
//! * `clean/` and `with/`: every image without and with the artifact (the counterfactual pairs
//!   `run --counterfactuals` reads);
//! * `plant.json`: the settings, the cell counts and the achieved φ.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail, ensure};
use biaslens_data::plant::{PlantManifest, artifact_box, choose, draw, labels_csv, planted_name};
use biaslens_data::{ArtifactKind, LabelledImages, Placement, PlantConfig, StickerShape};

/// What to paste.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Kind {
    /// A filled square of one colour.
    Patch,
    /// A round sticker (a filled disc inscribed in the box).
    #[value(alias = "sticker")]
    Disc,
    /// A star-shaped sticker.
    Star,
}

/// Options of `biaslens plant`.
#[derive(clap::Args)]
pub struct Args {
    /// Label file: a CSV with the columns `image,target,attribute` (0/1), or CelebA's
    /// `list_attr_celeba.txt`/`.csv` (the target column is `--target`).
    #[arg(long)]
    labels: PathBuf,
    /// The folder holding the images the label file names (JPEG or PNG).
    #[arg(long)]
    images: PathBuf,
    /// An empty (or new) folder for the planted dataset.
    #[arg(long)]
    out: PathBuf,
    /// The signed φ between target and artifact, in [-1, 1] (negative: the artifact goes with
    /// target 0). Planting at 0 keeps every (target, artifact) cell large, so that `run` can draw
    /// any training φ from the planted images by undersampling.
    #[arg(long, default_value_t = -0.9, allow_hyphen_values = true)]
    phi: f64,
    /// The fraction of images that get the artifact, in (0, 1).
    #[arg(long, default_value_t = 0.5)]
    attribute_rate: f64,
    /// What to paste.
    #[arg(long, value_enum, default_value = "patch")]
    kind: Kind,
    /// Its colour, `R,G,B` (0–255).
    #[arg(long, value_delimiter = ',', default_value = "255,0,255")]
    colour: Vec<u8>,
    /// The artifact's side as a fraction of each image's shorter side, in (0, 1].
    #[arg(long, default_value_t = 0.15)]
    size: f64,
    /// A fixed place, `X,Y` in [0, 1] (0,0 = top left corner, 1,1 = bottom right), instead of a
    /// random place per image.
    #[arg(long, value_delimiter = ',', conflicts_with = "region")]
    at: Option<Vec<f64>>,
    /// The region a random place is drawn from, `X0,Y0,X1,Y1` as fractions of the image.
    #[arg(long, value_delimiter = ',', default_value = "0,0,1,1")]
    region: Vec<f64>,
    /// Seed of every random choice (which images, where).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The target column of a CelebA attribute list.
    #[arg(long, default_value = "Smiling")]
    target: String,
}

/// The manifest `plant.json`.
/// `biaslens plant`.
pub fn run(a: Args) -> anyhow::Result<()> {
    let placement = match (a.at.as_deref(), a.region.as_slice()) {
        (Some(&[x, y]), _) => Placement::Fixed { x, y },
        (Some(at), _) => bail!("--at has {} numbers; give X,Y (fractions of the image, 0,0 = top left)", at.len()),
        (None, &[x0, y0, x1, y1]) => Placement::Random { x0, y0, x1, y1 },
        (None, r) => bail!("--region has {} numbers; give X0,Y0,X1,Y1 (fractions of the image)", r.len()),
    };
    let &[r, g, b] = a.colour.as_slice() else { bail!("--colour has {} numbers; give R,G,B, each 0–255 (255,0,255 = magenta)", a.colour.len()) };
    let colour = [r, g, b];
    let kind = match a.kind {
        Kind::Patch => ArtifactKind::Patch { colour },
        Kind::Disc => ArtifactKind::Sticker { shape: StickerShape::Disc, colour },
        Kind::Star => ArtifactKind::Sticker { shape: StickerShape::Star, colour },
    };
    let config = PlantConfig { kind, size: a.size, placement, phi: a.phi, attribute_rate: a.attribute_rate, seed: a.seed };
    config.check()?;
    ensure!(a.images.is_dir(), "--images {} is not a folder", a.images.display());
    if a.out.exists() {
        ensure!(a.out.is_dir(), "--out {} is a file; give a new or empty folder", a.out.display());
        let mut entries = std::fs::read_dir(&a.out).with_context(|| format!("reading {}", a.out.display()))?;
        ensure!(entries.next().is_none(), "--out {} is not empty; give a new or empty folder (nothing is overwritten)", a.out.display());
    }
    let labelled = read_labels(&a.labels, &a.target)?;
    let names = output_names(&labelled)?;
    let choice = choose(&labelled.target, &config).with_context(|| format!("planting into {}", labelled.source))?;
    let source = biaslens_data::DirSource { root: a.images.clone() };
    // Every listed image must be there before anything is written.
    labelled.check_images(&source).map_err(|e| anyhow::anyhow!("{e} (in {})", a.images.display()))?;

    for dir in ["images", "clean", "with"] {
        std::fs::create_dir_all(a.out.join(dir)).with_context(|| format!("creating {}", a.out.join(dir).display()))?;
    }
    let mut boxes = csv::Writer::from_path(a.out.join("boxes.csv")).context("creating boxes.csv")?;
    boxes.write_record(["image", "x0", "y0", "x1", "y1"])?;
    for (i, name) in labelled.images.iter().enumerate() {
        let at = || format!("{}, line {}: image {name}", labelled.source, labelled.lines[i]);
        let bytes = biaslens_data::ImageSource::read(&source, name).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        let clean = image::load_from_memory(&bytes).map_err(|e| anyhow::anyhow!("{}: does not decode as JPEG or PNG: {e}", at()))?.to_rgb8();
        let b = artifact_box(clean.width(), clean.height(), i as u64, &config).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        let mut with = clean.clone();
        draw(&mut with, b, &config.kind).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        let out = &names[i];
        let planted = choice.planted[i] == 1;
        for (dir, img) in [("clean", &clean), ("with", &with), ("images", if planted { &with } else { &clean })] {
            let path = a.out.join(dir).join(out);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            img.save_with_format(&path, image::ImageFormat::Png).with_context(|| format!("writing {}", path.display()))?;
        }
        boxes.write_record([out.as_str(), &b.x0.to_string(), &b.y0.to_string(), &b.x1.to_string(), &b.y1.to_string()])?;
    }
    let labels = labels_csv(&names, &labelled.target, &choice.planted, &labelled.attribute).map_err(anyhow::Error::msg)?;
    std::fs::write(a.out.join("labels.csv"), labels).context("writing labels.csv")?;
    boxes.flush()?;
    let manifest = PlantManifest::new(&labelled.source, labelled.len(), &config, &choice);
    std::fs::write(a.out.join("plant.json"), manifest.to_json().map_err(anyhow::Error::msg)?).context("writing plant.json")?;
    println!(
        "planted {} of {} images into {}; φ requested {}, achieved {} {}",
        manifest.planted(),
        manifest.images,
        a.out.display(),
        manifest.phi_requested,
        manifest.achieved(),
        manifest.cells()
    );
    Ok(())
}

/// The labels as `run --labels` reads them: CelebA's list by its name, else an own CSV.
fn read_labels(path: &Path, target: &str) -> anyhow::Result<LabelledImages> {
    let bytes = std::fs::read(path).with_context(|| format!("reading the label file {}", path.display()))?;
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let lower = name.to_ascii_lowercase();
    let labelled = if lower.ends_with(".txt") || lower.contains("list_attr") {
        // The attribute is replaced by the planted one; the target stands in for it here.
        biaslens_data::AttributeTable::parse(&bytes, &name).and_then(|t| t.labelled(target, target))
    } else {
        biaslens_data::parse_own_csv(&bytes, &name, &biaslens_data::OwnColumns::default())
    };
    Ok(labelled?)
}

/// Each image's name in the planted dataset (`.png`), refusing names that would leave `--out`
/// or collide once the extension is `.png`.
fn output_names(labelled: &LabelledImages) -> anyhow::Result<Vec<String>> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    labelled
        .images
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let line = labelled.lines[i];
            if !Path::new(name).components().all(|c| matches!(c, Component::Normal(_))) {
                bail!("{}, line {line}: image {name:?} is not a path inside the image folder (no .., no leading /); plant writes it under --out by the same name", labelled.source);
            }
            let out = planted_name(name);
            if let Some(first) = seen.insert(out.clone(), line) {
                bail!("{}, line {line}: image {name:?} would be written as {out}, as the image of line {first}; rename one of them (planted images are PNG)", labelled.source);
            }
            Ok(out)
        })
        .collect()
}

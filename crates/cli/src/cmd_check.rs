//! `biaslens check`: read an input the way the page and `run` do and say what is wrong with it,
//! without running anything: a report or results file, an experiment config or link, own data
//! (CSV and image folder, every image decoded; optionally per-image boxes or masks mapped to the
//! model's input, `docs/METHODS.md#per-image-regions`), or torchvision weights.

use std::path::PathBuf;

use anyhow::{Context, bail};
use biaslens_data::{DirSource, OwnColumns, Preprocess, parse_box_csv, parse_own_csv};
use biaslens_metrics::Inside;
use biaslens_experiment::{ExperimentConfig, import_report};
use burn::prelude::Device;

use crate::load::{self, Arch};

/// Check an input file without running anything.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: CheckCommand,
}

#[derive(clap::Subcommand)]
enum CheckCommand {
    /// A report (.html) or results (.json) file, as the page imports it.
    Report {
        /// The file.
        file: PathBuf,
    },
    /// An experiment config (JSON), as `run --config` reads it.
    Config {
        /// The file.
        file: PathBuf,
    },
    /// An experiment link's fragment (`#config=…`, as the page's URL carries it).
    Link {
        /// The fragment or the whole link.
        fragment: String,
    },
    /// Own data: a CSV naming an image file, a target and a protected attribute per row, and
    /// the folder of images (every image is decoded).
    Own {
        /// The CSV.
        #[arg(long)]
        csv: PathBuf,
        /// The image folder (defaults to the CSV's folder).
        #[arg(long)]
        images: Option<PathBuf>,
        /// Column with the image file name.
        #[arg(long, default_value = "image")]
        image_column: String,
        /// Column with the target label.
        #[arg(long, default_value = "target")]
        target_column: String,
        /// Column with the protected attribute.
        #[arg(long, default_value = "attribute")]
        attribute_column: String,
        /// Per-image boxes to check: CSV with columns image,x0,y0,x1,y1 in the original images'
        /// pixels (x1, y1 the first column and row after the box).
        #[arg(long, conflicts_with = "masks")]
        boxes: Option<PathBuf>,
        /// Per-image masks to check: a folder with one PNG per image, named after the image with
        /// .png (`img/a.jpg` → `img/a.png`), drawn at the image's size; non-zero = inside.
        #[arg(long)]
        masks: Option<PathBuf>,
        /// The model input side the regions are mapped to (after square padding); without it the
        /// padded size.
        #[arg(long)]
        resize: Option<u32>,
    },
    /// torchvision weights (.safetensors) loaded into a network.
    Weights {
        /// The file.
        #[arg(long)]
        weights: PathBuf,
        /// Network architecture the weights belong to.
        #[arg(long, value_enum, default_value = "compact")]
        arch: Arch,
    },
}

/// Run `biaslens check …`: prints one line saying what was read, or fails with why not.
///
/// # Errors
/// What is wrong with the input, where, and what to do.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        CheckCommand::Report { file } => {
            let text = read_text(&file)?;
            let r = import_report(&text).with_context(|| format!("importing {}", file.display()))?;
            println!("{}: results of {} φ values, seed {}", file.display(), r.phis.len(), r.seed);
        }
        CheckCommand::Config { file } => {
            let text = read_text(&file)?;
            let c = ExperimentConfig::from_json(&text).with_context(|| format!("experiment config {}", file.display()))?;
            println!("{}: a valid experiment config with {} φ values and {} methods", file.display(), c.phis.len(), c.methods.len());
        }
        CheckCommand::Link { fragment } => {
            let f = fragment.rsplit_once('#').map_or(fragment.as_str(), |(_, f)| f);
            let c = ExperimentConfig::from_fragment(f)?;
            println!("a valid experiment link with {} φ values and {} methods", c.phis.len(), c.methods.len());
        }
        CheckCommand::Own { csv, images, image_column, target_column, attribute_column, boxes, masks, resize } => {
            let bytes = std::fs::read(&csv).with_context(|| format!("cannot read {}", csv.display()))?;
            let name = csv.file_name().map_or_else(|| csv.display().to_string(), |n| n.to_string_lossy().into_owned());
            let columns = OwnColumns { image: image_column, target: target_column, attribute: attribute_column };
            let labelled = parse_own_csv(&bytes, &name, &columns)?;
            let root = images.unwrap_or_else(|| match csv.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            });
            if !root.is_dir() {
                bail!("the image folder {} does not exist; give it with --images DIR", root.display());
            }
            let source = DirSource { root };
            let pre = Preprocess { resize, ..Preprocess::default() };
            labelled.check_decodable(&source, &pre)?;
            let regions = match (&boxes, &masks) {
                (Some(file), _) => {
                    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
                    let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
                    let table = parse_box_csv(&bytes, &name)?;
                    table.check_listed(&labelled.images, &labelled.source)?;
                    Some((name, labelled.box_regions(&table, &source, &pre)?))
                }
                (None, Some(dir)) => {
                    if !dir.is_dir() {
                        bail!("the mask folder {} does not exist", dir.display());
                    }
                    Some((dir.display().to_string(), labelled.mask_regions(&DirSource { root: dir.clone() }, &source, &pre)?))
                }
                (None, None) => None,
            };
            print!("{}: {} images, all readable", csv.display(), labelled.len());
            match regions {
                Some((from, r)) => {
                    let pixels: Vec<usize> = r.iter().map(Inside::pixels).collect();
                    let size = match r.first().map(Inside::image) {
                        Some(s) if r.iter().all(|x| x.image() == s) => format!(" {s}"),
                        _ => " (sizes differ: set --resize)".into(),
                    };
                    println!(
                        "; {} regions from {from}, {} to {} pixels inside in the model's{size} input",
                        r.len(),
                        pixels.iter().min().unwrap_or(&0),
                        pixels.iter().max().unwrap_or(&0)
                    );
                }
                None => println!(),
            }
        }
        CheckCommand::Weights { weights, arch } => {
            let (_, classes) = load::resnet(&weights, arch, &Device::flex())?;
            println!("{}: {arch:?} weights with {classes} classes", weights.display());
        }
    }
    Ok(())
}

fn read_text(path: &PathBuf) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: byte {} is not UTF-8 text; this is not a biaslens report, results or config file",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

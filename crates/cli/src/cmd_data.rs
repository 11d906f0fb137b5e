//! `biaslens data`: export the synthetic benchmark in CelebA's layout, and report the
//! correlation-controlled splits of a benchmark or of a CelebA folder (`biaslens_data`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use biaslens_data::export::{ExportConfig, export_celeba};
use biaslens_data::{
    AttributeTable, Correlation, Pools, ProtectedKind, SplitConfig, SyntheticConfig, make_splits,
    parse_partition,
};

/// Synthetic benchmark export and split reports.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(clap::Subcommand)]
enum DataCommand {
    /// Write a generated benchmark in CelebA's layout: img_align_celeba/*.jpg,
    /// list_attr_celeba.txt/.csv, list_eval_partition.txt/.csv and roi.json.
    Export(ExportArgs),
    /// Undersample train/debias/test splits and print their cell counts and achieved φ as JSON.
    Splits(SplitsArgs),
}

#[derive(clap::Args)]
struct ExportArgs {
    /// Output folder (created if missing; existing files of the same names are overwritten).
    #[arg(long)]
    out: PathBuf,
    /// Image side in pixels (64, 128, 218…).
    #[arg(long, default_value_t = 64)]
    size: u32,
    /// Number of images.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Seed of the benchmark.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Protected attribute: necktie or hat.
    #[arg(long, default_value = "necktie")]
    attribute: ProtectedKind,
    /// Standard deviation of the pixel noise.
    #[arg(long, default_value_t = 0.03)]
    noise: f32,
    /// Leave out the distractors (glasses, earrings, background patterns, badges).
    #[arg(long)]
    no_distractors: bool,
    /// JPEG quality 1–100.
    #[arg(long, default_value_t = 95)]
    quality: u8,
}

#[derive(clap::Args)]
struct SplitsArgs {
    /// A CelebA folder (list_attr_celeba.txt or .csv, optional list_eval_partition.txt);
    /// without it, a synthetic benchmark of --count images is used.
    #[arg(long)]
    celeba: Option<PathBuf>,
    /// Target attribute (CelebA column).
    #[arg(long, default_value = "Smiling")]
    target: String,
    /// Protected attribute (CelebA column, or necktie/hat for the synthetic benchmark).
    #[arg(long, default_value = "Wearing_Necktie")]
    protected: String,
    /// Synthetic images to draw labels for.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Synthetic seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Request this signed Yule's φ for train and debias (instead of the authors' p).
    #[arg(long, allow_hyphen_values = true, conflicts_with = "p")]
    phi: Option<f64>,
    /// The authors' cell percentage p for the train split (debias keeps 0.25).
    #[arg(long)]
    p: Option<f64>,
    /// Use CelebA's official partition instead of the authors' contiguous blocks.
    #[arg(long)]
    official: bool,
}

/// Run `biaslens data …`.
///
/// # Errors
/// Bad settings, unreadable files, or splits that cannot be filled.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        DataCommand::Export(a) => export(a),
        DataCommand::Splits(a) => splits(a),
    }
}

fn export(a: ExportArgs) -> anyhow::Result<()> {
    let config = ExportConfig {
        synthetic: SyntheticConfig {
            size: a.size,
            seed: a.seed,
            noise: a.noise,
            attribute: a.attribute,
            distractors: !a.no_distractors,
            ..SyntheticConfig::default()
        },
        count: a.count,
        jpeg_quality: a.quality,
    };
    let out = a.out;
    std::fs::create_dir_all(out.join("img_align_celeba"))
        .with_context(|| format!("cannot create {}", out.display()))?;
    let written = export_celeba(&config, |path, bytes| {
        std::fs::write(out.join(path), bytes).map_err(|e| e.to_string())
    })
    .with_context(|| format!("exporting to {}", out.display()))?;
    let roi = config.synthetic.roi()?;
    eprintln!(
        "wrote {} files to {} ({} images of {}×{}, ROI of {}: x={} y={} w={} h={})",
        written.len(),
        out.display(),
        config.count,
        a.size,
        a.size,
        config.synthetic.attribute.celeba_name(),
        roi.x(),
        roi.y(),
        roi.w(),
        roi.h()
    );
    Ok(())
}

fn read(dir: &Path, names: &[&str]) -> anyhow::Result<Option<(String, Vec<u8>)>> {
    for name in names {
        let p = dir.join(name);
        if p.exists() {
            let bytes =
                std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
            return Ok(Some(((*name).to_owned(), bytes)));
        }
    }
    Ok(None)
}

fn splits(a: SplitsArgs) -> anyhow::Result<()> {
    let mut config = SplitConfig::default();
    if let Some(phi) = a.phi {
        config.train = Correlation::phi(phi);
        config.debias = Correlation::phi(phi);
    }
    if let Some(p) = a.p {
        config.train = Correlation::CellPercentage { p };
    }
    let mut source = None;
    let (target, attribute, partition) = match &a.celeba {
        Some(dir) => {
            let Some((name, bytes)) = read(dir, &["list_attr_celeba.txt", "list_attr_celeba.csv"])?
            else {
                bail!(
                    "{} has neither list_attr_celeba.txt nor list_attr_celeba.csv",
                    dir.display()
                );
            };
            let table = AttributeTable::parse(&bytes, &name)?;
            source = Some(dir.join(&name));
            let labelled = table.labelled(&a.target, &a.protected)?;
            let partition =
                match read(dir, &["list_eval_partition.txt", "list_eval_partition.csv"])? {
                    Some((name, bytes)) if a.official => {
                        Some(parse_partition(&bytes, &name, &table.images)?)
                    }
                    None if a.official => bail!(
                        "--official needs list_eval_partition.txt in {}",
                        dir.display()
                    ),
                    _ => None,
                };
            (labelled.target, labelled.attribute, partition)
        }
        None => {
            if a.official {
                bail!("--official needs --celeba DIR");
            }
            let kind: ProtectedKind = a.protected.parse()?;
            let cfg = SyntheticConfig {
                seed: a.seed,
                attribute: kind,
                ..SyntheticConfig::default()
            };
            let (t, at) = cfg.labels(0, a.count);
            (t, at, None)
        }
    };
    if a.official {
        config.pools = Pools::Official;
    }
    let s = make_splits(&target, &attribute, partition.as_deref(), &config).with_context(|| match &source {
        Some(file) => format!("making the splits from {}", file.display()),
        None => format!("making the splits from {} synthetic images", a.count),
    })?;
    for split in [&s.train, &s.debias, &s.test] {
        eprintln!("{split}");
    }
    let summary: Vec<serde_json::Value> = [&s.train, &s.debias, &s.test]
        .iter()
        .map(|x| serde_json::json!({"name": x.name, "counts": x.counts, "phi": x.phi}))
        .collect();
    let report = serde_json::json!({ "config": config, "splits": summary });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

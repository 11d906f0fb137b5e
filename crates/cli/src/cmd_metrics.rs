//! `biaslens metrics`: score saliency maps made by any tool (Captum, Zennit, …) the paper's way.
//!
//! Reads vanilla and debiased maps from `.npy` (`N×H×W` or `N×C×H×W`, float32 or float64), optional
//! protected-attribute, target and prediction labels from `.npy` or CSV, and prints the saliency
//! metrics of Sztukiewicz et al. 2025 §3 (pooled and per protected-attribute × target group) and the
//! fairness gaps as JSON. Settings default to the authors' code (`biaslens-metrics`).
//!
//! The region is one box for all maps (`--roi`, the paper's set-up) or one per map
//! (`docs/METHODS.md#per-image-regions`): `--boxes FILE.csv` (`image,x0,y0,x1,y1`, one row per map
//! in the maps' order) or `--masks DIR` (one PNG per map, matched in file-name order, non-zero =
//! inside). `.npy` maps carry no images, so these regions are in map pixels; regions drawn on the
//! original images are mapped to map pixels by `biaslens_data::regions` where the images are known.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use biaslens_metrics::{
    BootstrapSettings, ChannelReduction, DetOutside, IdenticalMaps, ImageMetrics, ImageSize,
    Inside, MetricsError, Normalisation, PreprocessSettings, Region, Roi, RoiPreset,
    SaliencySettings, fairness_report, per_image_metrics, per_image_metrics_each, saliency_report,
};
use biaslens_npy::NpyData;
use serde::de::DeserializeOwned;

/// Score vanilla vs debiased saliency maps inside a region of interest.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Vanilla model's maps: .npy, N×H×W or N×C×H×W, float32/float64.
    #[arg(long)]
    vanilla: PathBuf,
    /// Debiased model's maps, same shape as --vanilla.
    #[arg(long)]
    debiased: PathBuf,
    /// Region of interest: `necktie`, `hat` (the paper's boxes on 218×218, scaled to the maps'
    /// size) or `x,y,w,h` in map pixels (x = column).
    #[arg(long, default_value = "necktie")]
    roi: String,
    /// A box per map instead of --roi: CSV with columns image,x0,y0,x1,y1 (map pixels, x1/y1 the
    /// first column/row after the box), one row per map in the maps' order.
    #[arg(long, conflicts_with_all = ["roi", "masks"])]
    boxes: Option<PathBuf>,
    /// A mask per map instead of --roi: a folder of PNGs of the maps' size (non-zero = inside),
    /// matched to the maps in file-name order.
    #[arg(long, conflicts_with = "roi")]
    masks: Option<PathBuf>,
    /// Protected attribute per image (0/1): .npy, or CSV as `file.csv` or `file.csv:column`.
    #[arg(long)]
    protected: Option<String>,
    /// Target (ground-truth) label per image (0/1): .npy or CSV, as --protected.
    #[arg(long)]
    target: Option<String>,
    /// Predicted label per image (0/1): with --protected and --target adds fairness metrics.
    #[arg(long)]
    predictions: Option<String>,
    /// Channel reduction: signed_sum (code), abs_sum, l2.
    #[arg(long, default_value = "signed_sum", value_parser = parse_enum::<ChannelReduction>)]
    channel_reduction: ChannelReduction,
    /// Per-image normalisation: max_abs_half (code), none, sum_to_one.
    #[arg(long, default_value = "max_abs_half", value_parser = parse_enum::<Normalisation>)]
    normalisation: Normalisation,
    /// HRF threshold on the normalised map.
    #[arg(long, default_value_t = 0.05)]
    hrf_threshold: f64,
    /// DIF's strict margin (code 1e-3; the paper's d < v is 0).
    #[arg(long, default_value_t = 1e-3)]
    dif_margin: f64,
    /// Significance level of RDDT and DET.
    #[arg(long, default_value_t = 0.01)]
    alpha: f64,
    /// DET's outside mean: all_pixels (code) or outside_pixels.
    #[arg(long, default_value = "all_pixels", value_parser = parse_enum::<DetOutside>)]
    det_outside: DetOutside,
    /// Identical maps: zero (code) or compute.
    #[arg(long, default_value = "zero", value_parser = parse_enum::<IdenticalMaps>)]
    identical_maps: IdenticalMaps,
    /// Bootstrap resamples for confidence intervals (0 = none).
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Confidence level of the intervals.
    #[arg(long, default_value_t = 0.95)]
    level: f64,
    /// Bootstrap seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also print every image's metrics.
    #[arg(long)]
    per_image: bool,
}

/// Parses a settings enum by its serde name (`-` and `_` both accepted).
fn parse_enum<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.replace('-', "_")))
        .map_err(|e| e.to_string())
}

/// Maps as f32 or f64 with their shape `(N, C, H, W)`.
enum Maps {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

fn read_maps(path: &Path) -> Result<(Maps, [usize; 4])> {
    let a = biaslens_npy::read(path)
        .with_context(|| format!("reading maps from {}", path.display()))?;
    let shape = match a.shape[..] {
        [n, h, w] => [n, 1, h, w],
        [n, c, h, w] => [n, c, h, w],
        _ => bail!(
            "{}: maps must be N×H×W or N×C×H×W, not shape {:?}",
            path.display(),
            a.shape
        ),
    };
    let maps = match a.data {
        NpyData::F32(v) => Maps::F32(v),
        NpyData::F64(v) => Maps::F64(v),
        other => bail!(
            "{}: maps must be float32 or float64, not {}",
            path.display(),
            other.dtype()
        ),
    };
    Ok((maps, shape))
}

/// Reads one 0/1 label per image from `.npy` or CSV (`file.csv` or `file.csv:column`).
fn read_labels(spec: &str, n: usize, what: &str) -> Result<Vec<i64>> {
    let (path, column) = match spec.rsplit_once(':') {
        Some((p, c)) if p.ends_with(".csv") => (p, Some(c)),
        _ => (spec, None),
    };
    let values = if path.ends_with(".csv") {
        read_csv_column(Path::new(path), column)
            .with_context(|| format!("reading {what} from {path}"))?
    } else {
        let a = biaslens_npy::read(path).with_context(|| format!("reading {what} from {path}"))?;
        a.to_i64().with_context(|| format!("{what} in {path}"))?
    };
    if values.len() != n {
        bail!(
            "{path}: {} {what} values for {n} maps; give one per image",
            values.len()
        );
    }
    Ok(values)
}

/// One column of a label CSV, read by the `csv` crate with the own-label rules
/// (`docs/METHODS.md#own-data`): UTF-8 with or without a BOM, LF or CRLF, RFC 4180 quoting, and
/// `;` or tab as the separator when the first line has no comma but one of those. A header row is
/// recognised by a field that is not a number; rows are numbered from the first data row.
fn read_csv_column(path: &Path, column: Option<&str>) -> Result<Vec<i64>> {
    let bytes = std::fs::read(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| anyhow::anyhow!("byte {} is not UTF-8 text; save the CSV as UTF-8", e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first_line = text.lines().next().unwrap_or_default();
    let sep = match (first_line.contains(','), first_line.contains(';'), first_line.contains('\t')) {
        (false, true, _) => b';',
        (false, false, true) => b'\t',
        _ => b',',
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sep)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.context("the file is not readable as CSV")?;
        if !record.iter().all(str::is_empty) {
            rows.push(record);
        }
    }
    let first = rows.first().context("the file is empty")?;
    let is_header = first.iter().any(|c| c.parse::<f64>().is_err());
    let index = match (column, is_header) {
        (Some(name), true) => first
            .iter()
            .position(|c| c == name)
            .with_context(|| format!("no column {name:?}; the header has {:?}", first.iter().collect::<Vec<_>>()))?,
        (Some(name), false) => name.parse::<usize>().with_context(|| {
            format!("no header row, so the column must be a number, not {name:?}")
        })?,
        (None, _) if first.len() == 1 => 0,
        (None, _) => bail!(
            "the CSV has {} columns; pick one as file.csv:column",
            first.len()
        ),
    };
    rows.iter()
        .skip(usize::from(is_header))
        .enumerate()
        .map(|(i, r)| {
            let cell = r
                .get(index)
                .with_context(|| format!("row {} has no column {index}", i + 1))?;
            let v: f64 = cell
                .parse()
                .with_context(|| format!("row {}: {cell:?} is not a number", i + 1))?;
            if v.fract() != 0.0 {
                bail!("row {}: {v} is not a whole-number label", i + 1);
            }
            Ok(v as i64)
        })
        .collect()
}

fn parse_roi(spec: &str, image: ImageSize) -> Result<Roi> {
    if let Some(preset) = RoiPreset::parse(spec) {
        return Ok(preset.roi_for(image)?);
    }
    let parts: Vec<u32> = spec
        .split(',')
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .with_context(|| {
            format!("--roi {spec:?}: give necktie, hat or x,y,w,h (non-negative integers)")
        })?;
    let [x, y, w, h] = parts[..] else {
        bail!("--roi {spec:?}: give necktie, hat or four numbers x,y,w,h");
    };
    Ok(Roi::new(x, y, w, h, image)?)
}

/// Identity geometry: `.npy` maps carry no images, so per-map regions are given in map pixels.
const MAP_PIXELS: biaslens_data::Preprocess = biaslens_data::Preprocess { square_pad: false, resize: None };

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// One region per map from `--boxes` or `--masks`, or `None` for the shared `--roi`.
fn read_regions(args: &Args, n: usize, image: ImageSize) -> Result<Option<(String, Vec<Region>)>> {
    if let Some(path) = &args.boxes {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let table = biaslens_data::parse_box_csv(&bytes, &file_name(path))?;
        if table.images.len() != n {
            bail!("{}: {} boxes for {n} maps; give one row per map, in the maps' order", file_name(path), table.images.len());
        }
        let regions = table.regions(&table.images, &vec![image; n], &MAP_PIXELS)?;
        return Ok(Some(("boxes".into(), regions)));
    }
    let Some(dir) = &args.masks else { return Ok(None) };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the mask folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("png")))
        .collect();
    files.sort();
    if files.len() != n {
        bail!("{}: {} mask PNGs for {n} maps; give one per map (matched in file-name order)", dir.display(), files.len());
    }
    let regions = files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
            Ok(biaslens_data::mask_region(&bytes, &file_name(f), image, &MAP_PIXELS)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(("masks".into(), regions)))
}

/// Per-image metrics in the shared box or in each map's own region.
fn score<T: Copy + Into<f64>>(
    v: &[T],
    d: &[T],
    channels: usize,
    roi: Option<&Roi>,
    regions: Option<&[Region]>,
    s: &SaliencySettings,
) -> Result<Vec<ImageMetrics>, MetricsError> {
    match (regions, roi) {
        (Some(r), _) => per_image_metrics_each(v, d, channels, r, s),
        (None, Some(roi)) => per_image_metrics(v, d, channels, roi, s),
        (None, None) => Err(MetricsError::Shape("no region given".into())),
    }
}

/// Runs the subcommand: prints one JSON document on stdout.
pub fn run(args: Args) -> Result<()> {
    let (vanilla, shape) = read_maps(&args.vanilla)?;
    let (debiased, dshape) = read_maps(&args.debiased)?;
    if shape != dshape {
        bail!(
            "vanilla maps have shape {shape:?} (N, C, H, W) but debiased maps {dshape:?}; they must match"
        );
    }
    let [n, channels, h, w] = shape;
    let image = ImageSize {
        width: u32::try_from(w).context("map width too large")?,
        height: u32::try_from(h).context("map height too large")?,
    };
    let regions = read_regions(&args, n, image)?;
    let roi = if regions.is_some() { None } else { Some(parse_roi(&args.roi, image)?) };
    let region_list = regions.as_ref().map(|(_, r)| r.as_slice());
    let settings = SaliencySettings {
        preprocess: PreprocessSettings {
            channel_reduction: args.channel_reduction,
            normalisation: args.normalisation,
        },
        hrf_threshold: args.hrf_threshold,
        dif_margin: args.dif_margin,
        alpha: args.alpha,
        det_outside: args.det_outside,
        identical_maps: args.identical_maps,
    };
    if !(args.level > 0.0 && args.level < 1.0) {
        bail!(
            "--level must lie strictly between 0 and 1, not {}",
            args.level
        );
    }
    let boot = BootstrapSettings {
        resamples: args.bootstrap,
        level: args.level,
        seed: args.seed,
    };
    let widen = |x: &[f32]| x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
    let per = match (&vanilla, &debiased) {
        (Maps::F32(v), Maps::F32(d)) => score(v, d, channels, roi.as_ref(), region_list, &settings)?,
        (Maps::F64(v), Maps::F64(d)) => score(v, d, channels, roi.as_ref(), region_list, &settings)?,
        (Maps::F32(v), Maps::F64(d)) => score(&widen(v), d, channels, roi.as_ref(), region_list, &settings)?,
        (Maps::F64(v), Maps::F32(d)) => score(v, &widen(d), channels, roi.as_ref(), region_list, &settings)?,
    };
    let protected = args
        .protected
        .as_deref()
        .map(|s| read_labels(s, n, "protected-attribute"))
        .transpose()?;
    let target = args
        .target
        .as_deref()
        .map(|s| read_labels(s, n, "target"))
        .transpose()?;
    let groups = match (&protected, &target) {
        (Some(p), Some(t)) => Some((p.as_slice(), t.as_slice())),
        (None, None) => None,
        _ => bail!("per-group metrics need both --protected and --target"),
    };
    let boot_ref = (boot.resamples > 0).then_some(&boot);
    let saliency = saliency_report(&per, groups, &settings, boot_ref)?;
    let fairness = match (&args.predictions, &protected, &target) {
        (Some(spec), Some(p), Some(t)) => {
            let preds = read_labels(spec, n, "prediction")?;
            Some(fairness_report(t, &preds, p, boot_ref)?)
        }
        (Some(_), _, _) => bail!("fairness metrics need --predictions, --protected and --target"),
        _ => None,
    };
    let out = serde_json::json!({
        "images": n,
        "shape": { "n": n, "channels": channels, "height": h, "width": w },
        "roi": roi,
        "regions": regions.as_ref().map(|(kind, r)| serde_json::json!({
            "kind": kind,
            "pixels_inside": r.iter().map(Inside::pixels).collect::<Vec<_>>(),
        })),
        "settings": settings,
        "bootstrap": boot_ref,
        "saliency": saliency,
        "fairness": fairness,
        "per_image": if args.per_image { serde_json::to_value(&per)? } else { serde_json::Value::Null },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

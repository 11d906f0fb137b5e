//! `biaslens run` and `biaslens demo`: the experiment of Sztukiewicz et al. (XAI 2025, §4) on the
//! flex CPU backend or a native wgpu adapter, with progress on stderr (`indicatif` bars on a
//! terminal, one line per stage otherwise), written as a
//! self-contained HTML report (and optionally the results JSON).
//!
//! The units (each φ with each seed) run through the library's driver, as in the page. With
//! `--labels FILE --images DIR` the run uses the user's labelled images instead of the synthetic
//! benchmark, exactly as the page's "own images" does; `--boxes` gives each image its own region
//! and `--counterfactuals` the pairs for the ground-truth reliance (a planted dataset,
//! docs/METHODS.md#planting). Ctrl-C stops the run at the next batch and
//! still writes the report of the units already finished (its config lists only those, so it
//! re-runs as what it is); a second Ctrl-C quits at once. Exit status 130 after a stop.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use biaslens_data::DirSource;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use biaslens_experiment::findings::{claim_key, verdicts};
use biaslens_experiment::resources::fit;
use biaslens_experiment::{ExperimentConfig, ExperimentResults, Host, ImagePool, RunError, RunOptions, RunProgress, drive, render_report};

use crate::device::DeviceArgs;

/// Options of `biaslens run`.
#[derive(clap::Args)]
pub struct Args {
    /// Experiment config (JSON). Fields left out take the demo's values; see `biaslens demo
    /// --print-config` for every field.
    #[arg(long)]
    config: PathBuf,
    /// Where to write the HTML report.
    #[arg(long)]
    out: PathBuf,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Own images instead of the synthetic benchmark: a label file, either a CSV with the
    /// columns `image,target,attribute` (0/1) or CelebA's `list_attr_celeba.txt` (Smiling
    /// against the config's attribute). Needs `--images`.
    #[arg(long, requires = "images")]
    labels: Option<PathBuf>,
    /// The folder holding the images the label file names (JPEG or PNG).
    #[arg(long, requires = "labels")]
    images: Option<PathBuf>,
    /// CelebA's official partition (`list_eval_partition.txt` or Kaggle's `.csv`): draw the
    /// train split from its train rows (0), the debias split from its validation rows (1) and the
    /// test split from its test rows (2), instead of the authors' contiguous blocks. Needs
    /// `--labels`.
    #[arg(long, requires = "labels")]
    partition: Option<PathBuf>,
    /// Score every image's saliency in its own box instead of the config's one ROI: a CSV with
    /// the columns `image,x0,y0,x1,y1` in the original images' pixels (`biaslens plant` writes
    /// one). Needs `--labels`.
    #[arg(long, requires = "labels", conflicts_with = "masks")]
    boxes: Option<PathBuf>,
    /// Score every image's saliency in its own mask instead: a folder with one PNG per listed
    /// image, named after the image with `.png` and drawn at its size (non-black = inside).
    /// Needs `--labels`.
    #[arg(long, requires = "labels")]
    masks: Option<PathBuf>,
    /// Measure each model's reliance on the attribute from counterfactual pairs: a folder with
    /// `with/` and `clean/` holding every listed image with and without the attribute, under the
    /// label file's names (`biaslens plant --out` is such a folder). Needs `--labels`.
    #[arg(long, requires = "labels")]
    counterfactuals: Option<PathBuf>,
    /// Start the vanilla model from a torchvision ImageNet state dict of the config's
    /// architecture (`.safetensors`, as `safetensors.torch.save_file(model.state_dict())` writes
    /// it): its 1000-class head is replaced by a seeded 2-class one and the config's `train`
    /// recipe fine-tunes it (`train.fine_tune` freezes early stages). Sets the config's
    /// `model.pretrained` (file and SHA-256), which a config can also name itself.
    #[arg(long)]
    pretrained: Option<PathBuf>,
    /// Use this vanilla model at every unit instead of training one, as the page's "load a
    /// trained vanilla model": torchvision ResNet weights (`.safetensors`, 2 outputs) of the
    /// config's architecture (`--save-vanilla` writes such files).
    #[arg(long)]
    vanilla_weights: Option<PathBuf>,
    /// Also write each unit's vanilla model into this folder as
    /// `vanilla-phi<φ>-seed<S>.safetensors` (torchvision layout), for `--vanilla-weights`, the
    /// page, `predict` and `attribute`.
    #[arg(long)]
    save_vanilla: Option<PathBuf>,
    /// Run the whole experiment once per seed (comma-separated, e.g. `1,2,3`), replacing the
    /// config's seed(s): claims are then reported as "holds in k of n seeds".
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    /// Run only the I-th of N shards of the run's units (each φ with each seed; unit k goes to
    /// shard k mod N + 1), e.g. `--shard $SLURM_ARRAY_TASK_ID/8`; `biaslens merge` puts the
    /// shards' `--json` files together into the whole run's report.
    #[arg(long)]
    shard: Option<biaslens_experiment::Shard>,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    device: DeviceArgs,
}

/// Options of `biaslens demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where to write the HTML report (required unless `--print-config`).
    #[arg(long, required_unless_present = "print_config")]
    out: Option<PathBuf>,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
    /// Print the embedded demo config as JSON and exit (a starting point for `run --config`).
    #[arg(long)]
    print_config: bool,
    /// Run the demo once per seed (comma-separated, e.g. `1,2,3`).
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    /// Print the paper-sized preset instead (with `--print-config`).
    #[arg(long, requires = "print_config", conflicts_with = "authors")]
    paper: bool,
    /// Print the "as the authors ran it" preset (the paper's sizes with the authors' correlation
    /// recipe and CAV labels) instead (with `--print-config`).
    #[arg(long, requires = "print_config")]
    authors: bool,
    /// With `--print-config`: the preset starting from this torchvision ImageNet file (its
    /// path and SHA-256 in `model.pretrained`), e.g. `--paper --pretrained resnet50.safetensors`
    /// for the paper's ImageNet-pretrained ResNet-50 fine-tuned with Adam 3·10⁻⁴, batch 128,
    /// one epoch.
    #[arg(long, requires = "print_config")]
    pretrained: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
}

/// Why `run` or `demo` did not finish every φ.
#[derive(Debug)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped by Ctrl-C")
    }
}

impl std::error::Error for Stopped {}

/// `biaslens run`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading experiment config {}", args.config.display()))?;
    let mut config = ExperimentConfig::from_json(&text)
        .with_context(|| format!("experiment config {}", args.config.display()))?;
    if !args.seeds.is_empty() {
        config.set_seeds(&args.seeds);
    }
    let mut options = RunOptions { shard: args.shard, keep_vanilla_weights: args.save_vanilla.is_some(), ..RunOptions::default() };
    if let Some(w) = &args.vanilla_weights {
        let size = std::fs::metadata(w).with_context(|| format!("reading the vanilla weights {}", w.display()))?.len();
        anyhow::ensure!(size <= MAX_WEIGHTS_BYTES, "--vanilla-weights {} is {} MB; the page and the CLI read at most {} MB of weights", w.display(), size >> 20, MAX_WEIGHTS_BYTES >> 20);
        let bytes = std::fs::read(w).with_context(|| format!("reading the vanilla weights {}", w.display()))?;
        options.vanilla_weights = Some(Arc::from(bytes));
    }
    if let Some(dir) = &args.save_vanilla {
        anyhow::ensure!(dir.is_dir(), "--save-vanilla {} is not a folder; create it first", dir.display());
    }
    options.pretrained_weights = pretrained_start(&mut config, args.pretrained.as_deref(), &args.config)?;
    if let (Some(labels), Some(images)) = (&args.labels, &args.images) {
        let mut pool = own_pool(labels, images, args.partition.as_deref(), &config)?;
        if let Some(boxes) = &args.boxes {
            let bytes = std::fs::read(boxes).with_context(|| format!("reading the box file {}", boxes.display()))?;
            pool = pool.with_boxes(&bytes, &file_name(boxes)).map_err(|e| anyhow::anyhow!("--boxes: {e}"))?;
        }
        if let Some(masks) = &args.masks {
            anyhow::ensure!(masks.is_dir(), "--masks {} is not a folder", masks.display());
            let name = format!("{}/", file_name(masks));
            pool = pool.with_masks(Box::new(DirSource { root: masks.clone() }), &name).map_err(|e| anyhow::anyhow!("--masks: {e}"))?;
        }
        if let Some(dir) = &args.counterfactuals {
            let (with, clean) = (dir.join("with"), dir.join("clean"));
            anyhow::ensure!(
                with.is_dir() && clean.is_dir(),
                "--counterfactuals {} needs the folders with/ and clean/ (every listed image with and without the attribute, as `biaslens plant` writes them)",
                dir.display()
            );
            let pairs = biaslens_experiment::CounterfactualSources {
                name: format!("--counterfactuals {}", dir.display()),
                with: Box::new(DirSource { root: with }),
                without: Box::new(DirSource { root: clean }),
            };
            pool = pool.with_counterfactuals(pairs).map_err(|e| anyhow::anyhow!(e))?;
        }
        options.images = Some(Arc::new(pool));
    }
    execute(&config, &options, &args.out, args.json.as_deref(), args.save_vanilla.as_deref(), args.quiet, args.device)
}

/// The pretrained start's bytes: `--pretrained` (recorded in the config), or the file the
/// config's `model.pretrained.file` names (relative to the working directory, else to the
/// config's folder), its digest recorded if the config had none; `None` without either.
pub(crate) fn pretrained_start(config: &mut ExperimentConfig, flag: Option<&Path>, config_path: &Path) -> anyhow::Result<Option<Arc<[u8]>>> {
    let path = match (flag, &config.model.pretrained) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(p)) => {
            let given = PathBuf::from(&p.file);
            let beside = config_path.parent().map(|d| d.join(&given));
            match beside {
                Some(b) if !given.exists() && !given.is_absolute() && b.exists() => b,
                _ => given,
            }
        }
        (None, None) => return Ok(None),
    };
    let bytes = std::fs::read(&path).with_context(|| {
        format!("reading the pretrained start {} (a torchvision ImageNet .safetensors file; model.pretrained.file or --pretrained)", path.display())
    })?;
    match (&mut config.model.pretrained, flag) {
        (Some(p), None) if p.sha256.is_some() => {}
        (Some(p), None) => p.sha256 = biaslens_experiment::PretrainedStart::of("", &bytes).sha256,
        (slot, _) => *slot = Some(biaslens_experiment::PretrainedStart::of(path.display().to_string(), &bytes)),
    }
    Ok(Some(bytes.into()))
}

/// The largest weights file `--vanilla-weights` reads (as the page: a ResNet-50 is about 100 MB).
const MAX_WEIGHTS_BYTES: u64 = 400 << 20;

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// The user's labelled images, built as the page builds them: every listed image checked to be
/// in the folder (by name, nothing read), the official partition if given. The images the
/// splits pick, and only those, are decoded: checked before any compute, then a chunk at a time
/// per split, so memory does not grow with the folder (all of CelebA's 202,599 images work).
fn own_pool(labels: &Path, images: &Path, partition: Option<&Path>, config: &ExperimentConfig) -> anyhow::Result<ImagePool> {
    anyhow::ensure!(images.is_dir(), "--images {} is not a folder", images.display());
    let bytes = std::fs::read(labels).with_context(|| format!("reading the label file {}", labels.display()))?;
    let name = file_name(labels);
    let mut pool = ImagePool::from_labels(&bytes, &name, Box::new(DirSource { root: images.to_path_buf() }), config)
        .map_err(|e| anyhow::anyhow!(e))?;
    drop(bytes);
    if let Some(file) = partition {
        let bytes = std::fs::read(file).with_context(|| format!("reading the partition file {}", file.display()))?;
        let parsed = biaslens_experiment::PoolPartition::parse(&bytes, &file_name(file), &pool.labelled).map_err(|e| anyhow::anyhow!("--partition: {e}"))?;
        pool = pool.with_partition(parsed);
    }
    pool.check_listed().map_err(|e| anyhow::anyhow!("{e} (in {})", images.display()))?;
    Ok(pool)
}

/// `biaslens demo`.
pub fn demo(args: DemoArgs) -> anyhow::Result<()> {
    if args.print_config {
        let c = if args.paper {
            ExperimentConfig::paper()
        } else if args.authors {
            ExperimentConfig::authors()
        } else {
            ExperimentConfig::demo()
        };
        let mut c = c;
        if let Some(path) = &args.pretrained {
            let bytes = std::fs::read(path).with_context(|| format!("reading the pretrained start {}", path.display()))?;
            c.model.pretrained = Some(biaslens_experiment::PretrainedStart::of(path.display().to_string(), &bytes));
        }
        println!("{}", c.to_json());
        return Ok(());
    }
    let out = args.out.context("--out is required")?;
    let mut config = ExperimentConfig::demo();
    if !args.seeds.is_empty() {
        config.set_seeds(&args.seeds);
    }
    execute(&config, &RunOptions::default(), &out, args.json.as_deref(), None, args.quiet, args.device)
}

/// Checks that a file can be created at `path` before hours of compute.
pub(crate) fn check_writable(path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    anyhow::ensure!(dir.is_dir(), "the folder {} of {} does not exist", dir.display(), path.display());
    anyhow::ensure!(!path.is_dir(), "{} is a folder; give a file name", path.display());
    Ok(())
}

fn execute(
    config: &ExperimentConfig,
    options: &RunOptions,
    out: &Path,
    json: Option<&Path>,
    save_vanilla: Option<&Path>,
    quiet: bool,
    device: DeviceArgs,
) -> anyhow::Result<()> {
    config.validate_with(&options.registries).context("the experiment config")?;
    check_writable(out)?;
    if let Some(j) = json {
        check_writable(j)?;
    }
    let chosen = device.open()?;
    // What the device allows: IG is re-chunked to fit, anything else refused before any work.
    let config = match chosen.limits {
        Some(limits) => {
            let fitted = fit(config, &limits).map_err(|e| anyhow::anyhow!("the config does not fit {}: {e}", chosen.name))?;
            for change in &fitted.changes {
                eprintln!("note: {change}");
            }
            fitted.config
        }
        None => config.clone(),
    };
    if !quiet {
        eprintln!("computing on {}", chosen.name);
    }
    let stop = stop_on_ctrl_c()?;
    let host = Cli { line: std::cell::RefCell::new(Progress::new(quiet)), stop };
    let driven = pollster::block_on(drive(&config, options, chosen.device.clone(), chosen.name.clone(), &host));
    host.line.borrow().finish();
    let stopped = match driven.stopped {
        None => None,
        Some(RunError::Cancelled) => Some(()),
        Some(e) => {
            let kept = driven.results.as_ref().map_or(0, |r| r.phis.len());
            if kept > 0 {
                eprintln!("the run failed after {kept} finished unit(s); nothing was written");
            }
            return Err(anyhow::Error::new(e).context(format!("running the experiment on {}", chosen.name)));
        }
    };
    let Some(results) = driven.results else {
        anyhow::ensure!(stopped.is_none(), "stopped by Ctrl-C before the first unit finished; nothing to write");
        anyhow::bail!("the run finished without results (a bug: please report it)");
    };
    let html = render_report(&results);
    std::fs::write(out, &html).with_context(|| format!("writing the report {}", out.display()))?;
    if let Some(j) = json {
        std::fs::write(j, results.to_json()).with_context(|| format!("writing the results {}", j.display()))?;
    }
    if let Some(dir) = save_vanilla {
        for p in &results.phis {
            if let Some(w) = &p.vanilla_weights {
                let path = dir.join(format!("vanilla-phi{}-seed{}.safetensors", p.phi, p.seed));
                std::fs::write(&path, w).with_context(|| format!("writing the vanilla model {}", path.display()))?;
            }
        }
    }
    summarise(&results, out);
    if let (Some(shard), Some(p)) = (options.shard, &results.partial) {
        println!(
            "shard {shard}: {} of {} unit(s); the other {} are other shards' (put them together with `biaslens merge`)",
            results.phis.len(),
            results.phis.len() + p.missing.len(),
            p.missing.len()
        );
    }
    match stopped {
        None => Ok(()),
        Some(()) => {
            let all = match options.shard {
                Some(shard) => shard.units(&config).unwrap_or_default(),
                None => biaslens_experiment::units(&config),
            };
            let at = all.get(results.phis.len()).map_or(String::new(), |u| format!(" at φ = {} (seed {})", u.phi, u.seed));
            eprintln!("stopped by Ctrl-C{at}: the report has the {} finished unit(s) of {}", results.phis.len(), all.len());
            Err(Stopped.into())
        }
    }
}

/// The CLI as the driver's host: a progress line and the Ctrl-C flag (no other device to fall
/// back to: a failed device ends the run with its message).
struct Cli {
    line: std::cell::RefCell<Progress>,
    stop: Arc<AtomicBool>,
}

impl Host for Cli {
    fn progress(&self, event: &RunProgress) {
        self.line.borrow_mut().show(event);
    }
    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// A flag set by the first Ctrl-C (the run stops at its next batch); a second Ctrl-C exits at
/// once with status 130.
fn stop_on_ctrl_c() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::Relaxed) {
            eprintln!("\nquit");
            std::process::exit(130);
        }
        eprintln!("\nstopping at the next batch; the finished φ values will be written (Ctrl-C again quits now)");
    })
    .context("installing the Ctrl-C handler")?;
    Ok(stop)
}

/// Progress on stderr: on a terminal, `indicatif` bars (the whole run with its ETA, and the
/// current unit's stage); otherwise (a log file, a Slurm job) one plain line per stage; nothing
/// with `--quiet`.
enum Progress {
    Quiet,
    Lines { last_stage: String },
    Bars { overall: ProgressBar, unit: ProgressBar },
}

impl Progress {
    fn new(quiet: bool) -> Self {
        if quiet {
            return Self::Quiet;
        }
        if !std::io::stderr().is_terminal() {
            return Self::Lines { last_stage: String::new() };
        }
        let multi = MultiProgress::new();
        let overall = multi.add(ProgressBar::new(1000));
        overall.set_style(
            ProgressStyle::with_template("{prefix:>5} [{bar:30}] {percent:>3}% · {elapsed} · ETA {eta} · {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        overall.set_prefix("run");
        let unit = multi.add(ProgressBar::new_spinner());
        unit.set_style(ProgressStyle::with_template("{prefix:>5} {spinner} {wide_msg}").expect("a valid template"));
        unit.set_prefix("unit");
        unit.enable_steady_tick(std::time::Duration::from_millis(150));
        Self::Bars { overall, unit }
    }

    fn show(&mut self, p: &RunProgress) {
        let stage = if p.detail.is_empty() { p.stage.clone() } else { format!("{}: {}", p.stage, p.detail) };
        match self {
            Self::Quiet => {}
            Self::Bars { overall, unit } => {
                overall.set_position((p.fraction.clamp(0.0, 1.0) * 1000.0).round() as u64);
                let phi = p.phi.map_or("—".to_owned(), |phi| phi.to_string());
                overall.set_message(format!("unit {}/{} · seed {} · φ = {phi}", (p.unit + 1).min(p.units), p.units, p.seed));
                unit.set_message(stage);
            }
            Self::Lines { last_stage } => {
                if p.stage != *last_stage || p.phi.is_none() {
                    let seed = if p.units > 1 { format!("unit {}/{} (seed {}), ", p.unit + 1, p.units, p.seed) } else { String::new() };
                    let phi = p.phi.map_or(String::new(), |phi| format!("{seed}φ = {phi}, "));
                    let _ = writeln!(std::io::stderr().lock(), "[{:>3.0}%] {phi}{stage}", p.fraction * 100.0);
                }
                last_stage.clone_from(&p.stage);
            }
        }
    }

    fn finish(&self) {
        if let Self::Bars { overall, unit } = self {
            unit.finish_and_clear();
            overall.finish();
        }
    }
}

pub(crate) fn summarise(r: &ExperimentResults, out: &Path) {
    let seeds = r.config.seeds();
    println!("wrote {} ({:.1} s, seed{} {})", out.display(), r.total_seconds, if seeds.len() > 1 { "s" } else { "" }, seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "));
    let key = claim_key(r);
    let label = key.and_then(|k| r.attribution_info(k)).map_or(String::new(), |a| a.name.clone());
    for p in &r.phis {
        println!("φ = {} (seed {}):", p.phi, p.seed);
        for m in &p.models {
            let saliency = key.and_then(|k| m.attribution(k)).map_or(String::new(), |a| {
                let s = &a.saliency.pooled;
                format!("  {label} RRF {:.4}  ADR {:+.4}  MRR {:.2}", s.rrf.mean, s.adr.mean, s.mrr.mean)
            });
            let reliance = m.reliance.as_ref().map_or(String::new(), |x| format!("  reliance |Δlogit| {:.3} flips {:.3}", x.logit_change.value, x.flip_rate.value));
            println!("  {:<12} accuracy {:.3}  EO {:.3}{saliency}{reliance}", m.name, m.fairness.accuracy.value, m.fairness.equalized_odds.value);
        }
        if let Some(l) = &p.localisation {
            println!(
                "  the artifact from {}'s CAV ({} images): IoU {:.3}, pointing {:.2}; class map {:.3} / {:.2}; fixed ROI IoU {:.3}; random box IoU {:.3}",
                l.cav_from, l.cav.images, l.cav.iou_mean, l.cav.pointing_rate, l.class_map.iou_mean, l.class_map.pointing_rate, l.fixed_roi.iou_mean, l.random_box.iou_mean
            );
        }
    }
    let v = verdicts(r);
    for p in &v.premises {
        if !(p.roi || p.eo) {
            println!("φ = {}, seed {}: not testable: {}", p.phi, p.seed, p.reason);
        }
        if let Some(a) = &p.attention {
            println!("φ = {}, seed {}: {}", p.phi, p.seed, a.text());
        }
    }
    if v.claims() > 0 {
        println!("the paper's findings (tested, Holm-corrected): {} (details in the report)", v.summary());
    }
    if seeds.len() > 1 {
        for a in v.across_seeds.iter().filter(|a| !a.control) {
            println!("  φ = {:<5} {:<12} {}: holds in {} of {} seeds", a.phi, a.method, a.kind.text(), a.holds, a.seeds);
        }
    }
}

//! `biaslens sweep --config exp.json --slurm DIR`: a run as a Slurm array job. Writes, into DIR,
//! the config, an `sbatch` array script with one task per shard (each task runs
//! `biaslens run --shard I/N`), a merge script (`biaslens merge` of every shard's results), and
//! `submit.sh`, which submits the array and the merge as a job that starts when every task has
//! succeeded (`--dependency=afterok`). The memory request comes from the config's estimate
//! (`biaslens_experiment::resources::unit_memory_bytes`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use biaslens_experiment::resources::unit_memory_bytes;
use biaslens_experiment::{ExperimentConfig, Registries};

/// Options of `biaslens sweep`.
#[derive(clap::Args)]
pub struct Args {
    /// Experiment config (JSON), as for `run --config`.
    #[arg(long)]
    config: PathBuf,
    /// Folder to write the Slurm scripts into (created if missing).
    #[arg(long)]
    slurm: PathBuf,
    /// Shards (array tasks); default one per unit (each φ with each seed).
    #[arg(long)]
    shards: Option<usize>,
    /// Ask for one GPU per task and run on it (`--device wgpu`).
    #[arg(long)]
    gpu: bool,
    /// CPU cores per task.
    #[arg(long, default_value_t = 4)]
    cpus: usize,
    /// Wall-clock limit per task, as Slurm writes it (e.g. `4:00:00`).
    #[arg(long, default_value = "12:00:00")]
    time: String,
    /// Extra `#SBATCH` lines for your cluster (e.g. `--sbatch=--partition=gpu`), repeatable.
    #[arg(long = "sbatch", allow_hyphen_values = true)]
    sbatch: Vec<String>,
    /// The biaslens binary the jobs run (default: this one).
    #[arg(long)]
    binary: Option<PathBuf>,
}

/// `biaslens sweep`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config).with_context(|| format!("reading experiment config {}", args.config.display()))?;
    let config = ExperimentConfig::from_json(&text).with_context(|| format!("experiment config {}", args.config.display()))?;
    let units = biaslens_experiment::units(&config).len();
    let shards = args.shards.unwrap_or(units);
    anyhow::ensure!(
        (1..=units).contains(&shards),
        "--shards {shards}: the config has {units} unit(s) ({} φ × {} seed(s)); use 1 to {units}",
        config.phis.len(),
        config.seeds().len()
    );
    let binary = match args.binary {
        Some(b) => b,
        None => std::env::current_exe().context("finding this program's path (give --binary)")?,
    };
    std::fs::create_dir_all(args.slurm.join("shards")).with_context(|| format!("creating {}", args.slurm.display()))?;
    std::fs::create_dir_all(args.slurm.join("logs")).with_context(|| format!("creating {}", args.slurm.display()))?;
    std::fs::write(args.slurm.join("exp.json"), config.to_json()).context("writing the config")?;
    let units_per_task = units.div_ceil(shards);
    let mem_mib = unit_memory_bytes(&config, &Registries::default()).div_ceil(1 << 20);
    let script = Scripts {
        name: config.name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_', "_"),
        binary: &binary,
        shards,
        gpu: args.gpu,
        cpus: args.cpus,
        mem_mib,
        time: &args.time,
        extra: &args.sbatch,
    };
    write_exec(&args.slurm.join("array.sbatch"), &script.array())?;
    write_exec(&args.slurm.join("merge.sbatch"), &script.merge())?;
    write_exec(&args.slurm.join("submit.sh"), SUBMIT)?;
    println!(
        "wrote {}: {shards} array task(s) of up to {units_per_task} unit(s) each ({units} in all), {mem_mib} MiB each{}; submit with: bash {}",
        args.slurm.display(),
        if args.gpu { ", one GPU each" } else { "" },
        args.slurm.join("submit.sh").display()
    );
    Ok(())
}

fn write_exec(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).with_context(|| format!("making {} executable", path.display()))?;
    }
    Ok(())
}

const SUBMIT: &str = r#"#!/bin/bash
# Submits the array (one task per shard) and the merge, which runs once every task succeeded.
set -euo pipefail
cd "$(dirname "$0")"
array=$(sbatch --parsable array.sbatch)
merge=$(sbatch --parsable --dependency=afterok:"${array%%;*}" merge.sbatch)
echo "array job ${array%%;*}, merge job ${merge%%;*}: report.html and results.json when it is done"
"#;

struct Scripts<'a> {
    name: String,
    binary: &'a Path,
    shards: usize,
    gpu: bool,
    cpus: usize,
    mem_mib: u64,
    time: &'a str,
    extra: &'a [String],
}

impl Scripts<'_> {
    fn header(&self, job: &str, log: &str) -> String {
        let mut h = format!("#!/bin/bash\n#SBATCH --job-name={job}\n#SBATCH --output=logs/{log}\n");
        for line in self.extra {
            h.push_str(&format!("#SBATCH {}\n", line.trim()));
        }
        h
    }

    fn array(&self) -> String {
        let mut s = self.header(&format!("biaslens-{}", self.name), "shard-%a.log");
        s.push_str(&format!(
            "#SBATCH --array=1-{n}\n#SBATCH --cpus-per-task={cpus}\n#SBATCH --mem={mem}M\n#SBATCH --time={time}\n",
            n = self.shards,
            cpus = self.cpus,
            mem = self.mem_mib,
            time = self.time
        ));
        if self.gpu {
            s.push_str("#SBATCH --gres=gpu:1\n");
        }
        s.push_str(&format!(
            "# One shard of the run's units per task (biaslens run --shard I/N); written by `biaslens sweep`.\nset -euo pipefail\ncd \"${{SLURM_SUBMIT_DIR:-$(dirname \"$0\")}}\"\nBIASLENS=\"${{BIASLENS:-{bin}}}\"\nI=\"$SLURM_ARRAY_TASK_ID\"\n\"$BIASLENS\" run --config exp.json --shard \"$I/{n}\" --quiet --device {device} \\\n    --out \"shards/shard-$I.html\" --json \"shards/shard-$I.json\"\n",
            bin = self.binary.display(),
            n = self.shards,
            device = if self.gpu { "wgpu" } else { "cpu" }
        ));
        s
    }

    fn merge(&self) -> String {
        let mut s = self.header(&format!("biaslens-{}-merge", self.name), "merge.log");
        s.push_str("#SBATCH --cpus-per-task=1\n#SBATCH --mem=2G\n#SBATCH --time=0:30:00\n");
        s.push_str(&format!(
            "# Every shard's results into the whole run's report; refuses a missing or foreign shard.\nset -euo pipefail\ncd \"${{SLURM_SUBMIT_DIR:-$(dirname \"$0\")}}\"\nBIASLENS=\"${{BIASLENS:-{bin}}}\"\n\"$BIASLENS\" merge shards/shard-*.json --out report.html --json results.json\n",
            bin = self.binary.display()
        ));
        s
    }
}

//! `biaslens run` on a tiny experiment config writes a report that imports again and exits 0;
//! a broken config or a missing file exits non-zero with a readable message.

use std::path::PathBuf;
use std::process::Command;

fn biaslens() -> Command {
    Command::new(env!("CARGO_BIN_EXE_biaslens"))
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("biaslens-run-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A tiny experiment (32×32 images, width-8 network, one φ, ThrOpt only, few images): fields
/// left out take the demo's values.
const TINY: &str = r#"{
  "name": "cli-tiny",
  "data": {"synthetic": {"size": 32, "seed": 3}, "pool": 2000},
  "phis": [-0.6],
  "splits": {"train": 256, "debias": 96, "test": 48},
  "train": {"learning_rate": 0.003, "batch_size": 32, "epochs": 1, "seed": 1, "fine_tune": "All"},
  "methods": [{"method": "thr_opt"}],
  "attribution": {"images": 8, "batch_size": 8, "ig": {"steps": 2, "steps_per_chunk": 2}},
  "metrics": {"bootstrap": {"resamples": 20}}
}"#;

#[test]
fn run_writes_a_report_that_imports_again() {
    let d = dir("ok");
    let config = d.join("exp.json");
    std::fs::write(&config, TINY).expect("config written");
    let out = biaslens()
        .args(["run", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(d.join("report.html"))
        .arg("--json")
        .arg(d.join("results.json"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("train vanilla"), "progress on stderr: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ThrOpt") && stdout.contains("claims hold"), "{stdout}");
    let html = std::fs::read_to_string(d.join("report.html")).expect("report written");
    assert!(html.contains("<svg") && html.contains("biaslens-results"));
    let from_html = biaslens_experiment::import_report(&html).expect("report imports");
    let json = std::fs::read_to_string(d.join("results.json")).expect("results written");
    let from_json = biaslens_experiment::import_report(&json).expect("results import");
    assert_eq!(from_html, from_json);
    assert_eq!(from_html.config.name, "cli-tiny");
    assert_eq!(from_html.phis.len(), 1);
}

#[test]
fn bad_input_exits_non_zero_with_a_readable_message() {
    let d = dir("bad");
    let broken = d.join("broken.json");
    std::fs::write(&broken, "{\"phis\": [-0.5,").expect("written");
    let invalid = d.join("invalid.json");
    std::fs::write(&invalid, "{\"phis\": [3.0]}").expect("written");
    let report = d.join("report.html");
    for (config, needle) in [
        (broken.clone(), "experiment config"),
        (invalid, "[-1, 1]"),
        (d.join("missing.json"), "reading experiment config"),
    ] {
        let out = biaslens().args(["run", "--config"]).arg(&config).arg("--out").arg(&report).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{} should fail", config.display());
        assert!(stderr.contains("error:") && stderr.contains(needle), "{}: {stderr}", config.display());
        assert!(!report.exists(), "no report on failure");
    }
    // An output folder that does not exist is refused before any work.
    std::fs::write(d.join("ok.json"), TINY).expect("written");
    let out = biaslens()
        .args(["run", "--config"])
        .arg(d.join("ok.json"))
        .arg("--out")
        .arg(d.join("no/such/folder/report.html"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn demo_prints_its_config() {
    let out = biaslens().args(["demo", "--print-config"]).output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let c = biaslens_experiment::ExperimentConfig::from_json(&text).expect("valid config");
    assert_eq!(c, biaslens_experiment::ExperimentConfig::demo());
}

/// Ctrl-C stops the run at the next batch and still writes the report of the φ values already
/// finished, whose config lists only those; the exit status is 130.
#[test]
fn ctrl_c_keeps_the_finished_phi() {
    use std::io::{BufRead, BufReader};
    let d = dir("ctrl-c");
    let config = d.join("exp.json");
    // Two φ values; the signal is sent when the second one starts training.
    std::fs::write(&config, TINY.replace(r#""phis": [-0.6]"#, r#""phis": [-0.6, 0.6]"#)).expect("config written");
    let report = d.join("report.html");
    let mut child = biaslens()
        .args(["run", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&report)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("stderr line");
        seen.push_str(&line);
        seen.push('\n');
        // The second φ started: the first is finished.
        if line.contains("φ = 0.6, train vanilla") && !seen.contains("SIGINT sent") {
            let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
            assert!(ok.success());
            seen.push_str("SIGINT sent\n");
        }
    }
    let out = child.wait_with_output().expect("exits");
    assert!(seen.contains("SIGINT sent"), "the second φ never started: {seen}");
    assert_eq!(out.status.code(), Some(130), "{seen}");
    assert!(seen.contains("stopped by Ctrl-C at φ = 0.6 (seed 42)") && seen.contains("the 1 finished unit(s) of 2"), "{seen}");
    let html = std::fs::read_to_string(&report).expect("the partial report is written");
    let r = biaslens_experiment::import_report(&html).expect("the partial report imports");
    assert_eq!(r.config.phis, vec![-0.6], "its config lists the finished φ only");
    assert_eq!(r.phis.len(), 1);
    assert_eq!(r.phis[0].phi, -0.6);
}

/// `--device wgpu` runs the same experiment on a native wgpu adapter (the page's WebGPU kernels)
/// and agrees with the CPU run, for every method of the paper. Training is not bit-reproducible
/// across backends (ARCHITECTURE.md, "Known device differences"), so as in the browser test: the
/// splits are identical, and every model's accuracy, EO and LRP RRF intervals overlap those of the
/// CPU run. Skipped without an adapter unless `BIASLENS_REQUIRE_WGPU=1`.
#[test]
fn run_on_wgpu_agrees_with_the_cpu() {
    let d = dir("wgpu");
    let config = d.join("exp.json");
    // Every method of the paper, trained long enough to be above chance.
    let every = TINY
        .replace(r#""methods": [{"method": "thr_opt"}]"#, r#""methods": [{"method": "thr_opt"}, {"method": "savani_aft", "config": {"iterations": 1, "batch_size": 32}}, {"method": "zhang_al", "config": {"batch_size": 32}}, {"method": "a_clarc", "config": {"batch_size": 32}}, {"method": "rr_clarc", "config": {"batch_size": 32}}]"#)
        .replace(r#""train": 256"#, r#""train": 512"#)
        .replace(r#""pool": 2000"#, r#""pool": 6000"#)
        .replace(r#""epochs": 1"#, r#""epochs": 2"#);
    assert_ne!(every, TINY);
    std::fs::write(&config, every).expect("config written");
    let run = |device: &str| {
        let json = d.join(format!("{device}.json"));
        let out = biaslens()
            .args(["run", "--device", device, "--config"])
            .arg(&config)
            .arg("--out")
            .arg(d.join(format!("{device}.html")))
            .arg("--json")
            .arg(&json)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let results = out.status.success().then(|| {
            biaslens_experiment::import_report(&std::fs::read_to_string(&json).expect("results written")).expect("imports")
        });
        (results, stderr)
    };
    let (gpu, stderr) = run("wgpu");
    let Some(gpu) = gpu else {
        let required = std::env::var("BIASLENS_REQUIRE_WGPU").is_ok_and(|v| v == "1");
        assert!(stderr.contains("no wgpu adapter could be started") && !required, "{stderr}");
        eprintln!("skipped: {stderr}");
        return;
    };
    let (cpu, stderr) = run("cpu");
    let cpu = cpu.unwrap_or_else(|| panic!("{stderr}"));
    assert!(gpu.device.starts_with("wgpu: "), "the report names the adapter: {}", gpu.device);
    assert_eq!(cpu.device, "CPU (burn flex)");
    let overlap = |a: Option<biaslens_metrics::Interval>, b: Option<biaslens_metrics::Interval>| {
        let (a, b) = (a.expect("interval"), b.expect("interval"));
        a.low <= b.high && b.low <= a.high
    };
    for (g, c) in gpu.phis.iter().zip(&cpu.phis) {
        assert_eq!(serde_json::to_string(&g.train).ok(), serde_json::to_string(&c.train).ok(), "identical splits");
        assert_eq!(serde_json::to_string(&g.test).ok(), serde_json::to_string(&c.test).ok(), "identical splits");
        for (gm, cm) in g.models.iter().zip(&c.models) {
            assert_eq!(gm.name, cm.name);
            let (gf, cf) = (&gm.fairness, &cm.fairness);
            let (gr, cr) = (&gm.attribution("lrp").expect("LRP ran").saliency.pooled.rrf, &cm.attribution("lrp").expect("LRP ran").saliency.pooled.rrf);
            println!(
                "{}: accuracy wgpu {:.3} cpu {:.3}; EO wgpu {:.3} cpu {:.3}; RRF wgpu {:.4} cpu {:.4}",
                gm.name, gf.accuracy.value, cf.accuracy.value, gf.equalized_odds.value, cf.equalized_odds.value, gr.mean, cr.mean
            );
            assert!(overlap(gf.accuracy.ci, cf.accuracy.ci), "{} accuracy", gm.name);
            assert!(overlap(gf.equalized_odds.ci, cf.equalized_odds.ci), "{} EO", gm.name);
            assert!(overlap(gr.ci, cr.ci), "{} RRF", gm.name);
        }
    }
}

/// `biaslens run --labels --images` runs the experiment on a folder of the user's images (here an
/// exported synthetic benchmark in CelebA's layout) and writes exactly the numbers the library
/// computes from the same files through the pool the page builds (`ImagePool::from_labels`); a
/// label file that names a missing image is refused before any compute, naming the line.
#[test]
fn run_on_own_images_matches_the_library() {
    let d = dir("own");
    let data = d.join("data");
    let out = biaslens()
        .args(["data", "export", "--size", "32", "--count", "1500", "--seed", "4", "--quality", "100", "--out"])
        .arg(&data)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = d.join("exp.json");
    let own = TINY.replace(r#""train": 256, "debias": 96, "test": 48"#, r#""train": 192, "debias": 64, "test": 32"#);
    std::fs::write(&config, &own).expect("config written");
    let labels = data.join("list_attr_celeba.txt");
    let images = data.join("img_align_celeba");
    let json = d.join("results.json");
    let out = biaslens()
        .args(["run", "--quiet", "--config"])
        .arg(&config)
        .arg("--labels")
        .arg(&labels)
        .arg("--images")
        .arg(&images)
        .arg("--out")
        .arg(d.join("report.html"))
        .arg("--json")
        .arg(&json)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli = biaslens_experiment::import_report(&std::fs::read_to_string(&json).expect("written")).expect("imports");
    assert!(cli.data_source.as_deref().is_some_and(|s| s.contains("list_attr_celeba.txt")), "{:?}", cli.data_source);

    let c = biaslens_experiment::ExperimentConfig::from_json(&own).expect("config");
    let bytes = std::fs::read(&labels).expect("labels");
    let source = Box::new(biaslens_data::DirSource { root: images.clone() });
    let pool = biaslens_experiment::ImagePool::from_labels(&bytes, "list_attr_celeba.txt", source, &c).expect("pool");
    let options = biaslens_experiment::RunOptions { images: Some(std::sync::Arc::new(pool)), ..Default::default() };
    let device = burn::prelude::Device::flex();
    let lib = pollster::block_on(biaslens_experiment::run_experiment_with(&c, &device, &options, |_| {}, || false)).expect("library run");
    assert_eq!(cli.without_timings().phis, lib.without_timings().phis, "the CLI's numbers are the library's");

    // CelebA's official partition: the splits come from its rows (which rows: the library's
    // `the_official_partition_chooses_the_split_pools`), and the results say so.
    let out = biaslens()
        .args(["run", "--quiet", "--config"])
        .arg(&config)
        .arg("--labels")
        .arg(&labels)
        .arg("--images")
        .arg(&images)
        .arg("--partition")
        .arg(data.join("list_eval_partition.txt"))
        .arg("--out")
        .arg(d.join("official.html"))
        .arg("--json")
        .arg(&json)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let official = biaslens_experiment::import_report(&std::fs::read_to_string(&json).expect("written")).expect("imports");
    assert!(official.data_source.as_deref().is_some_and(|s| s.ends_with("official partition list_eval_partition.txt")), "{:?}", official.data_source);

    // A missing image: refused before any work, naming the file and line.
    std::fs::remove_file(images.join("000010.jpg")).expect("exists");
    let out = biaslens()
        .args(["run", "--quiet", "--config"])
        .arg(&config)
        .arg("--labels")
        .arg(&labels)
        .arg("--images")
        .arg(&images)
        .arg("--out")
        .arg(d.join("report2.html"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("000010.jpg") && stderr.contains("line"), "{stderr}");
    assert!(!d.join("report2.html").exists());
}

/// `--seeds` runs the experiment once per seed: one unit per (φ, seed) in the results, the
/// claims counted over the seeds on stdout, the reliance numbers in the JSON.
#[test]
fn seeds_run_every_unit_and_count_the_claims() {
    let d = dir("seeds");
    let config = d.join("exp.json");
    std::fs::write(&config, TINY).expect("config written");
    let json = d.join("results.json");
    let out = biaslens()
        .args(["run", "--quiet", "--seeds", "7,8", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(d.join("report.html"))
        .arg("--json")
        .arg(&json)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("seeds 7, 8") && stdout.contains("of 2 seeds"), "{stdout}");
    let r = biaslens_experiment::import_report(&std::fs::read_to_string(&json).expect("written")).expect("imports");
    assert_eq!(r.config.seeds(), [7, 8]);
    assert_eq!(r.phis.iter().map(|p| p.seed).collect::<Vec<_>>(), [7, 8]);
    assert!(r.phis.iter().all(|p| p.models.iter().all(|m| m.reliance.is_some())), "ground truth on the synthetic benchmark");
    let bad = biaslens().args(["run", "--quiet", "--seeds", "7,7", "--config"]).arg(&config).arg("--out").arg(d.join("r2.html")).output().expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("seeds lists 7 twice"));
}

/// `run --shard I/N` on each of three shards of a 2 φ × 2 seeds config, then `merge`: the merged
/// results equal one `run` of the whole config, number for number (timings aside, which no two
/// runs share). Pieces that do not make one run are refused with a message naming the problem.
#[test]
fn shards_merge_into_the_single_run() {
    let d = dir("shards");
    let config = d.join("exp.json");
    let mut c: serde_json::Value = serde_json::from_str(TINY).expect("tiny config");
    c["phis"] = serde_json::json!([-0.6, -0.9]);
    c["seeds"] = serde_json::json!([1, 2]);
    c["methods"] = serde_json::json!([{"method": "thr_opt"}, {"method": "a_clarc", "config": {"batch_size": 32}}]);
    std::fs::write(&config, c.to_string()).expect("config written");
    let run = |extra: &[&str], json: &str| {
        let out = biaslens()
            .args(["run", "--quiet", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(d.join(format!("{json}.html")))
            .arg("--json")
            .arg(d.join(format!("{json}.json")))
            .args(extra)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        d.join(format!("{json}.json"))
    };
    let whole = run(&[], "whole");
    let shards: Vec<PathBuf> = (1..=3).map(|i| run(&["--shard", &format!("{i}/3")], &format!("shard{i}"))).collect();
    let read = |p: &PathBuf| biaslens_experiment::import_report(&std::fs::read_to_string(p).expect("written")).expect("imports");
    // Units 0..4 round-robin over 3 shards: 2, 1 and 1 units, each listing the others as missing.
    let first = read(&shards[0]);
    assert_eq!(first.phis.len(), 2);
    assert_eq!(first.partial.as_ref().map(|p| p.missing.len()), Some(2));

    let merge = |pieces: &[&PathBuf], extra: &[&str]| {
        biaslens()
            .arg("merge")
            .args(pieces)
            .arg("--out")
            .arg(d.join("merged.html"))
            .arg("--json")
            .arg(d.join("merged.json"))
            .args(extra)
            .output()
            .expect("runs")
    };
    // In any order.
    let out = merge(&[&shards[2], &shards[0], &shards[1]], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("merged 3 piece(s): 4 of 4 unit(s)"));
    let merged = read(&d.join("merged.json"));
    let single = read(&whole);
    assert_eq!(merged.partial, None);
    assert_eq!(merged.without_timings().to_json(), single.without_timings().to_json(), "merged shards = one run");
    let html = std::fs::read_to_string(d.join("merged.html")).expect("report");
    assert_eq!(biaslens_experiment::import_report(&html).expect("imports").without_timings(), merged.without_timings());

    // Refused, each with its reason.
    let refused = |pieces: &[&PathBuf], extra: &[&str], needle: &str| {
        let out = merge(pieces, extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "merging {pieces:?} should fail");
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    };
    refused(&[&shards[0], &shards[1]], &[], "1 unit(s) missing: φ = -0.6 seed 2");
    refused(&[&shards[0], &shards[0], &shards[1], &shards[2]], &[], "is in both");
    let mut other = c.clone();
    other["name"] = "another".into();
    std::fs::write(&config, other.to_string()).expect("config written");
    let foreign = run(&["--shard", "2/3"], "foreign");
    refused(&[&shards[0], &foreign, &shards[2]], &[], "is not part of the same run");
    let not_results = d.join("exp.json");
    refused(&[&shards[0], &not_results], &[], "is not biaslens results");
    // With --partial the report lists what is missing.
    let out = merge(&[&shards[0], &shards[1]], &["--partial"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(read(&d.join("merged.json")).partial.map(|p| p.missing), Some(vec![(-0.6, 2)]));
    // A shard the config cannot fill.
    let out = biaslens().args(["run", "--config"]).arg(&config).arg("--out").arg(d.join("x.html")).args(["--shard", "5/5"]).output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 5/5 has no unit"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `sweep --slurm DIR` writes an array job and a dependent merge job. Run here as Slurm would
/// run them (each array task with its `SLURM_ARRAY_TASK_ID`, then the merge), they give the
/// results of one `run` of the config.
#[test]
fn slurm_scripts_run_as_tasks_give_the_single_run() {
    let d = dir("slurm");
    let config = d.join("exp.json");
    let mut c: serde_json::Value = serde_json::from_str(TINY).expect("tiny config");
    c["phis"] = serde_json::json!([-0.6, -0.9]);
    c["seeds"] = serde_json::json!([4, 5]);
    std::fs::write(&config, c.to_string()).expect("config written");
    let jobs = d.join("jobs");
    let out = biaslens().args(["sweep", "--config"]).arg(&config).arg("--slurm").arg(&jobs).args(["--shards", "3", "--sbatch", "--partition=short"]).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let array = std::fs::read_to_string(jobs.join("array.sbatch")).expect("array script");
    for needle in ["#SBATCH --array=1-3", "#SBATCH --partition=short", "#SBATCH --mem=", "--shard \"$I/3\"", "--device cpu"] {
        assert!(array.contains(needle), "{needle} not in:\n{array}");
    }
    let submit = std::fs::read_to_string(jobs.join("submit.sh")).expect("submit script");
    assert!(submit.contains("--dependency=afterok:"), "{submit}");
    for i in 1..=3 {
        let out = Command::new("bash")
            .arg(jobs.join("array.sbatch"))
            .env("SLURM_ARRAY_TASK_ID", i.to_string())
            .env("SLURM_SUBMIT_DIR", &jobs)
            .output()
            .expect("task runs");
        assert!(out.status.success(), "task {i}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = Command::new("bash").arg(jobs.join("merge.sbatch")).env("SLURM_SUBMIT_DIR", &jobs).output().expect("merge runs");
    assert!(out.status.success(), "merge: {}", String::from_utf8_lossy(&out.stderr));
    let whole = biaslens().args(["run", "--quiet", "--config"]).arg(&config).arg("--out").arg(d.join("whole.html")).arg("--json").arg(d.join("whole.json")).output().expect("runs");
    assert!(whole.status.success(), "{}", String::from_utf8_lossy(&whole.stderr));
    let read = |p: PathBuf| biaslens_experiment::import_report(&std::fs::read_to_string(p).expect("written")).expect("imports").without_timings().to_json();
    assert_eq!(read(jobs.join("results.json")), read(d.join("whole.json")));
    // More shards than units is refused before anything is written.
    let out = biaslens().args(["sweep", "--config"]).arg(&config).arg("--slurm").arg(d.join("too-many")).args(["--shards", "9"]).output().expect("runs");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("use 1 to 4"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!d.join("too-many").exists());
}

/// `report --figures DIR` writes every figure as SVG and every table as CSV; the SVGs parse as
/// XML with an `<svg>` root, the CSVs have one header and the right rows, and their numbers are
/// the results' (read back with a CSV parser).
#[test]
fn report_writes_figures_and_tables() {
    let d = dir("figures");
    let config = d.join("exp.json");
    let mut c: serde_json::Value = serde_json::from_str(TINY).expect("tiny config");
    c["phis"] = serde_json::json!([-0.6, -0.9]);
    std::fs::write(&config, c.to_string()).expect("config written");
    let out = biaslens().args(["run", "--quiet", "--config"]).arg(&config).arg("--out").arg(d.join("r.html")).arg("--json").arg(d.join("r.json")).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let figures = d.join("figures");
    let out = biaslens().arg("report").arg(d.join("r.html")).arg("--figures").arg(&figures).arg("--png").output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results = biaslens_experiment::import_report(&std::fs::read_to_string(d.join("r.json")).expect("json")).expect("imports");
    let mut names: Vec<String> = std::fs::read_dir(&figures).expect("folder").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for want in ["figure3-lrp.svg", "figure3-ig.svg", "eo-vs-accuracy.svg", "figure2-lrp-phim0.6-seed42.svg", "figure2-ig-phim0.9-seed42.svg", "models.csv", "reliance.csv", "verdicts.csv"] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    for n in names.iter().filter(|n| n.ends_with(".svg")) {
        let svg = std::fs::read_to_string(figures.join(n)).expect("svg");
        let t = svg.trim_start();
        assert!(t.starts_with("<svg") || t.starts_with("<?xml"), "{n}: {}", &t[..40.min(t.len())]);
        assert!(svg.trim_end().ends_with("</svg>"), "{n}");
        assert!(svg.contains("<text"), "{n} has labels");
    }
    // Every SVG also as a PNG at twice its size, with dark label pixels (text is drawn: an
    // unresolved font family would leave only the coloured bars).
    for n in names.iter().filter(|n| n.ends_with(".svg")) {
        let png = n.replace(".svg", ".png");
        let img = image::open(figures.join(&png)).unwrap_or_else(|e| panic!("{png}: {e}")).to_rgb8();
        let svg = std::fs::read_to_string(figures.join(n)).expect("svg");
        let width: f64 = svg.split("width=\"").nth(1).and_then(|w| w.split('"').next()).and_then(|w| w.parse().ok()).expect("svg width");
        assert!((f64::from(img.width()) - 2.0 * width).abs() <= 2.0, "{png}: {} px for an SVG {width} wide", img.width());
        // The title line at the top holds nothing but text.
        let title_rows = img.height() / 20;
        let dark = img.enumerate_pixels().filter(|&(_, y, p)| y < title_rows && p.0.iter().all(|&c| c < 80)).count();
        assert!(dark > 100, "{png}: only {dark} dark pixels in the title line, the labels are missing");
    }
    // models.csv: a row per (unit, model, attribution), the numbers of the results.
    let mut rdr = csv::Reader::from_path(figures.join("models.csv")).expect("csv");
    let header = rdr.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("column {name}"));
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 2 * 2 * 2, "2 φ × (vanilla, ThrOpt) × (LRP, IG)");
    let first = &results.phis[0].models[0];
    let row = rows.iter().find(|r| &r[col("model")] == "Vanilla" && &r[col("attribution")] == "lrp" && &r[col("phi")] == "-0.6").expect("vanilla's LRP row");
    assert_eq!(row[col("accuracy")].parse::<f64>().expect("number"), first.fairness.accuracy.value);
    assert_eq!(row[col("rrf")].parse::<f64>().expect("number"), first.attribution("lrp").expect("lrp").saliency.pooled.rrf.mean);
    let rel = csv::Reader::from_path(figures.join("reliance.csv")).expect("csv").records().count();
    assert_eq!(rel, 4, "2 φ × 2 models");
    let verdicts = csv::Reader::from_path(figures.join("verdicts.csv")).expect("csv").records().count();
    assert_eq!(verdicts, biaslens_experiment::findings::verdicts(&results).findings.len());
    // Nothing to write is refused.
    let out = biaslens().arg("report").arg(d.join("r.json")).output().expect("runs");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("nothing to write"));
}

/// `compare` puts two runs (two seeds) side by side: the CSV holds each run's own number for
/// every φ and model, the printed table names both runs, and a metric it does not know is
/// refused with the list of those it does.
#[test]
fn compare_puts_runs_side_by_side() {
    let d = dir("compare");
    let mut paths = Vec::new();
    for seed in [42, 43] {
        let config = d.join(format!("exp{seed}.json"));
        let mut c: serde_json::Value = serde_json::from_str(TINY).expect("tiny config");
        c["seed"] = seed.into();
        std::fs::write(&config, c.to_string()).expect("config written");
        let json = d.join(format!("r{seed}.json"));
        let out = biaslens().args(["run", "--quiet", "--config"]).arg(&config).arg("--out").arg(d.join(format!("r{seed}.html"))).arg("--json").arg(&json).output().expect("runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        paths.push(json);
    }
    let csv_path = d.join("eo.csv");
    let out = biaslens().arg("compare").args(&paths).args(["--metric", "eo", "--csv"]).arg(&csv_path).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("run 1:") && printed.contains("run 2:") && printed.contains("EqualizedOdds"), "{printed}");
    let results: Vec<_> = paths.iter().map(|p| biaslens_experiment::import_report(&std::fs::read_to_string(p).expect("json")).expect("imports")).collect();
    let mut rdr = csv::Reader::from_path(&csv_path).expect("csv");
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.expect("row")).collect();
    let models = results[0].phis[0].models.len();
    assert_eq!(rows.len(), results[0].phis.len() * models);
    for row in &rows {
        for (k, r) in results.iter().enumerate() {
            let phi: f64 = row[2].parse().expect("φ");
            let unit = r.phis.iter().find(|p| p.phi == phi).expect("φ");
            let m = unit.models.iter().find(|m| m.name == row[3]).expect("model");
            assert_eq!(row[4 + 3 * k].parse::<f64>().expect("value"), m.fairness.equalized_odds.value, "run {} {}", k + 1, &row[3]);
        }
    }
    assert!(d.join("eo-runs.csv").exists(), "the runs' labels are written next to the table");
    let out = biaslens().arg("compare").args(&paths).args(["--metric", "f1"]).output().expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("f1") && err.contains("rrf, adr, dif, rddt, eo, accuracy"), "{err}");
}

/// `--pretrained`: a 1000-class torchvision file of the config's architecture starts the vanilla
/// model (fine-tuned, steps > 0), the results record its path and SHA-256, the recorded config
/// re-runs to the same numbers from the file alone, and another file at that path is refused
/// naming the digest; `demo --print-config --paper --pretrained` gives the paper preset with it.
#[test]
fn pretrained_start_from_an_imagenet_file() {
    use burn::prelude::Device;
    let d = dir("pretrained");
    let config = d.join("exp.json");
    std::fs::write(&config, TINY).expect("config written");
    let device = Device::flex();
    let tiny = biaslens_experiment::ExperimentConfig::from_json(TINY).expect("tiny config");
    let imagenet = |seed: u64| {
        let net = biaslens_model::ResNetConfig { num_classes: 1000, ..tiny.model.resnet() }.init_seeded(seed, &device);
        pollster::block_on(net.export_torchvision()).expect("export")
    };
    let file = d.join("imagenet.safetensors");
    let bytes = imagenet(1);
    std::fs::write(&file, &bytes).expect("written");
    let run = |config: &std::path::Path, extra: &[&std::ffi::OsStr], json: &str| {
        biaslens()
            .args(["run", "--quiet", "--config"])
            .arg(config)
            .args(extra)
            .arg("--out")
            .arg(d.join("report.html"))
            .arg("--json")
            .arg(d.join(json))
            .output()
            .expect("runs")
    };
    let out = run(&config, &["--pretrained".as_ref(), file.as_os_str()], "first.json");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = biaslens_experiment::import_report(&std::fs::read_to_string(d.join("first.json")).expect("json")).expect("imports");
    let start = first.config.model.pretrained.clone().expect("recorded");
    assert_eq!(start.sha256.as_deref(), Some(biaslens_experiment::runner::sha256_hex(&bytes).as_str()));
    assert!(first.phis[0].vanilla_training.steps > 0, "fine-tuned");

    let recorded = d.join("recorded.json");
    std::fs::write(&recorded, first.config.to_json()).expect("written");
    let out = run(&recorded, &[], "again.json");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = biaslens_experiment::import_report(&std::fs::read_to_string(d.join("again.json")).expect("json")).expect("imports");
    assert_eq!(again.phis[0].models[0].fairness, first.phis[0].models[0].fairness, "the recorded config re-runs from the file");

    std::fs::write(&file, imagenet(2)).expect("written");
    let out = run(&recorded, &[], "other.json");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("another file") && stderr.contains("SHA-256"), "{stderr}");

    let out = biaslens().args(["demo", "--print-config", "--paper", "--pretrained"]).arg(&file).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let paper = biaslens_experiment::ExperimentConfig::from_json(&String::from_utf8_lossy(&out.stdout)).expect("a config");
    assert_eq!((paper.model.width, paper.model.layers), (64, [3, 4, 6, 3]), "the paper's ResNet-50");
    assert_eq!(paper.model.pretrained.expect("set").file, file.display().to_string());
}

//! End-to-end runs of the experiment on a tiny config (32×32 images, width-8 network, two φ
//! values, two cheap methods): consistency of the numbers with what the authors' code implies
//! (docs/METHODS.md, "LRP of a debiased model"), cancellation, determinism, the report round
//! trip, and an attribution method added from the config alone.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;
use std::cell::Cell;

use biaslens_data::SyntheticConfig;
use biaslens_debias::{AClarc, AClarcConfig, ThrOpt, ThrOptConfig};
use biaslens_experiment::config::{AttributionConfig, DataConfig, MetricsConfig, SplitSizes};
use biaslens_experiment::{
    AttributionSpec, ExperimentConfig, ExperimentResults, MethodSpec, RunError, RunOptions, RunProgress, import_report,
    render_report, run_experiment, run_experiment_with,
};
use biaslens_metrics::BootstrapSettings;
use biaslens_model::TrainConfig;
use burn::prelude::Device;

fn tiny() -> ExperimentConfig {
    let mut c = ExperimentConfig::demo();
    c.name = "tiny".into();
    c.data = DataConfig { synthetic: SyntheticConfig { size: 32, seed: 3, ..SyntheticConfig::default() }, pool: 3000 };
    c.phis = vec![-0.5, -0.9];
    c.splits = SplitSizes { train: 384, debias: 128, test: 64, ..SplitSizes::default() };
    c.train = TrainConfig::new().with_learning_rate(3e-3).with_batch_size(32).with_epochs(2).with_seed(1);
    c.methods = vec![MethodSpec::new::<ThrOpt>(ThrOptConfig::new()), MethodSpec::new::<AClarc>(AClarcConfig::new().with_batch_size(32))];
    let mut attribution = AttributionConfig { images: 16, batch_size: 8, ..AttributionConfig::default() };
    let ig = attribution.get_mut("ig").expect("the demo runs IG");
    ig.config["steps"] = 4.into();
    ig.config["steps_per_chunk"] = 4.into();
    c.attribution = attribution;
    c.metrics = MetricsConfig { bootstrap: BootstrapSettings { resamples: 50, ..BootstrapSettings::default() }, ..MetricsConfig::default() };
    c
}

fn run(config: &ExperimentConfig) -> (ExperimentResults, Vec<RunProgress>) {
    run_keeping(config, 0)
}

fn run_keeping(config: &ExperimentConfig, inspect_bytes: usize) -> (ExperimentResults, Vec<RunProgress>) {
    let mut events = Vec::new();
    let options = RunOptions { inspect_bytes, ..RunOptions::default() };
    let r = pollster::block_on(run_experiment_with(config, &Device::flex(), &options, |p| events.push(p), || false))
        .expect("tiny run");
    (r, events)
}

/// Bytes the inspector needs per explained image of [`tiny`]: 3 models × (LRP, IG) × (signed,
/// preprocessed) 32×32 f32 maps, plus the 3×32×32 input.
const TINY_BYTES_PER_IMAGE: usize = 3 * 2 * 2 * 32 * 32 * 4 + 3 * 32 * 32 * 4;

fn shared() -> &'static (ExperimentResults, Vec<RunProgress>) {
    static RUN: OnceLock<(ExperimentResults, Vec<RunProgress>)> = OnceLock::new();
    RUN.get_or_init(|| run_keeping(&tiny(), 100 * TINY_BYTES_PER_IMAGE))
}


/// Every number has its expected range, and what the paper's code implies holds exactly.
#[test]
fn tiny_run_is_consistent() {
    let (r, events) = shared();
    let c = tiny();
    assert_eq!(r.format, biaslens_experiment::RESULTS_FORMAT);
    assert_eq!(r.config, c);
    assert_eq!(r.phis.len(), 2);
    assert_eq!(r.model_names(), ["Vanilla", "ThrOpt", "A-ClArC"]);
    for p in &r.phis {
        // Splits: requested sizes, balanced test, training correlation as asked.
        assert_eq!(p.train.images, c.splits.train);
        let t = p.test.counts;
        assert_eq!([t.t0a0, t.t0a1, t.t1a0, t.t1a1], [16; 4]);
        assert!((p.train.phi.unwrap() - p.phi).abs() < 0.02, "{:?} vs {}", p.train.phi, p.phi);
        let vanilla = &p.models[0];
        let thr = &p.models[1];
        for m in &p.models {
            let f = &m.fairness;
            assert!((0.0..=1.0).contains(&f.accuracy.value) && (0.0..=1.0).contains(&f.equalized_odds.value));
            assert!(f.equalized_odds.ci.is_some(), "bootstrap intervals are on");
            assert_eq!(m.attributions.keys().collect::<Vec<_>>(), ["ig", "lrp"]);
            for a in m.attributions.values() {
                let s = &a.saliency.pooled;
                assert_eq!(s.n, c.attribution.images);
                assert!((0.0..=1.0).contains(&s.rrf.mean), "RRF {}", s.rrf.mean);
                assert!((-0.5..=0.5).contains(&s.adr.mean), "ADR {}", s.adr.mean);
                assert_eq!(a.saliency.groups.len(), 4, "all four (attribute, target) cells explained");
                assert!(a.sanity.residual_abs_max.is_none_or(f64::is_finite) && a.sanity.attribution_sum_mean.is_finite());
            }
        }
        // Vanilla against itself: nothing moved.
        let v_lrp = vanilla.attribution("lrp").expect("LRP ran");
        assert_eq!(v_lrp.saliency.pooled.adr.mean, 0.0);
        // ThrOpt does not touch the weights and Zennit's LRP starts from s_c·e_c: after the
        // per-image normalisation its maps are vanilla's, so ADR = DIF = 0, RDDT not significant
        // and RRF = vanilla's (docs/METHODS.md, "LRP of a debiased model").
        let s = &thr.attribution("lrp").expect("LRP ran").saliency.pooled;
        assert_eq!((s.adr.mean, s.dif.mean), (0.0, 0.0));
        assert!(!s.rddt.test.significant);
        assert!((s.rrf.mean - v_lrp.saliency.pooled.rrf.mean).abs() < 1e-9);
        assert!(thr.details.contains_key("threshold"));
        assert_eq!(thr.method.as_deref(), Some("thr_opt"));
        // IG differentiates through the threshold, so its maps may differ; both exist.
        assert!(thr.attribution("ig").is_some());
        // Figure 2's data: four groups, one mean map per model and attribution.
        assert_eq!(p.groups.len(), 4);
        assert!(p.groups.iter().all(|g| g.images == c.attribution.images / 4), "a quarter of the explained images per group");
        for g in &p.groups {
            assert_eq!((g.maps["lrp"].len(), g.maps["ig"].len()), (3, 3));
            assert_eq!(g.mean_input.decode().len(), 3 * 32 * 32);
            let m = g.maps["lrp"][0].decode();
            assert_eq!(m.len(), 32 * 32);
            assert!(m.iter().all(|v| (-1.0..=1.0).contains(v)));
        }
    }
    // Progress: never decreasing, ends at 1.
    assert!(events.windows(2).all(|w| w[0].fraction <= w[1].fraction));
    assert_eq!(events.last().map(|e| e.fraction), Some(1.0));
    assert!(events.iter().any(|e| e.stage == "method A-ClArC"));
    // The synthetic pool renders its faces (own images are decoded: the own-images test).
    assert!(events.iter().any(|e| e.stage == "data" && e.detail.starts_with("rendering faces ")), "the data stage says what it does");
    assert!(!events.iter().any(|e| e.detail.starts_with("decoding images")));
}

/// The per-image maps kept for the inspector are the ones the metrics read: their RRF, ADR and
/// DIF recomputed from the kept preprocessed maps reproduce the pooled means.
#[test]
fn kept_maps_reproduce_the_metrics() {
    let (r, events) = shared();
    let c = tiny();
    let s = &c.metrics.saliency;
    for p in &r.phis {
        let e = p.explained.as_ref().expect("maps kept");
        assert_eq!(e.n, c.attribution.images, "budget for 100 images keeps all 16");
        assert_eq!((e.pixels.len(), e.target.len(), e.maps["lrp"].len(), e.maps["ig"].len()), (16 * 3 * 1024, 16, 3, 3));
        for (m, model) in p.models.iter().enumerate() {
            for key in ["lrp", "ig"] {
                let (maps, result) = (&e.maps[key][m], model.attribution(key).unwrap());
                assert_eq!((maps.signed.len(), maps.preprocessed.len(), maps.sanity.len()), (16 * 1024, 16 * 1024, 16));
                let (mut rrf, mut adr, mut dif) = (0.0, 0.0, 0.0);
                let base = &e.maps[key][0];
                for i in 0..16 {
                    let d: Vec<f64> = maps.preprocessed[i * 1024..(i + 1) * 1024].iter().map(|&v| f64::from(v)).collect();
                    let v: Vec<f64> = base.preprocessed[i * 1024..(i + 1) * 1024].iter().map(|&v| f64::from(v)).collect();
                    rrf += biaslens_metrics::map_metrics(&d, &r.roi, s).rrf / 16.0;
                    let (a, f) = biaslens_metrics::paired_metrics(&v, &d, &r.roi, s);
                    adr += a / 16.0;
                    dif += f / 16.0;
                }
                let pooled = &result.saliency.pooled;
                // f32 storage of maps in [0, 0.5]: ~3e-8 per value, so 1e-6 on the means.
                assert!((rrf - pooled.rrf.mean).abs() < 1e-6, "{}: RRF {rrf} vs {}", model.name, pooled.rrf.mean);
                assert!((adr - pooled.adr.mean).abs() < 1e-6, "{}: ADR {adr} vs {}", model.name, pooled.adr.mean);
                // DIF counts pixels past a margin; f32 storage could move one pixel across it (1/16 of
                // an ROI pixel share each), never more than a few.
                assert!((dif - pooled.dif.mean).abs() < 0.01, "{}: DIF {dif} vs {}", model.name, pooled.dif.mean);
                let mean_sum = maps.sanity.iter().map(|s| s.0).sum::<f64>() / 16.0;
                assert!((mean_sum - result.sanity.attribution_sum_mean).abs() <= 1e-9 * mean_sum.abs().max(1.0));
            }
        }
    }
    // The live loss curve: every training step reports its loss and accuracy, nothing else does.
    let train: Vec<_> = events.iter().filter(|e| e.loss.is_some()).collect();
    assert!(!train.is_empty() && train.iter().all(|e| e.stage == "train vanilla" && e.accuracy.is_some()));
    assert!(events.iter().filter(|e| e.stage != "train vanilla").all(|e| e.loss.is_none()));
}

/// A smaller budget keeps only the first images, and exactly the same maps.
#[test]
fn inspect_budget_keeps_the_first_images() {
    let mut c = tiny();
    c.phis.truncate(1);
    let (small, _) = run_keeping(&c, 5 * TINY_BYTES_PER_IMAGE + 100);
    let (none, _) = run(&c);
    assert!(none.phis[0].explained.is_none());
    let e = small.phis[0].explained.as_ref().expect("5 kept");
    let full = shared().0.phis[0].explained.as_ref().expect("all kept");
    assert_eq!(e.n, 5);
    assert_eq!(e.maps["lrp"][2].preprocessed[..], full.maps["lrp"][2].preprocessed[..5 * 1024]);
    assert_eq!(e.maps["ig"][1].signed[..], full.maps["ig"][1].signed[..5 * 1024]);
    assert_eq!(e.pixels[..], full.pixels[..5 * 3 * 1024]);
}

/// φ by φ runs joined are the whole run: what lets the page keep finished φ when a device fails.
#[test]
fn single_phi_runs_join_into_the_whole_run() {
    let (whole, _) = shared();
    let c = tiny();
    let parts: Vec<ExperimentResults> = c
        .phis
        .iter()
        .map(|&phi| {
            let mut one = c.clone();
            one.phis = vec![phi];
            run(&one).0
        })
        .collect();
    let joined = ExperimentResults::join(&c, parts.clone()).expect("parts match the config");
    let mut portable = whole.clone();
    portable.phis.iter_mut().for_each(|p| p.explained = None);
    assert_eq!(joined.without_timings().to_json(), portable.without_timings().to_json());
    assert!(ExperimentResults::join(&c, parts[..1].to_vec()).is_none(), "a missing φ is refused");
    let swapped = vec![parts[1].clone(), parts[0].clone()];
    assert!(ExperimentResults::join(&c, swapped.clone()).is_none(), "φ out of order is refused");
    // A run stopped after the first φ keeps a complete document of that φ alone.
    let first = ExperimentResults::join_finished(&c, parts[..1].to_vec()).expect("a finished prefix joins");
    assert_eq!(first.config.phis, c.phis[..1].to_vec());
    assert_eq!(first.phis.len(), 1);
    assert_eq!(first.without_timings().to_json(), parts[0].without_timings().to_json());
    assert!(ExperimentResults::join_finished(&c, Vec::new()).is_none(), "nothing finished, nothing to keep");
    // Every unit finished is the whole run's document, config as given: with `seeds` whose first
    // is not `seed`, the page's last shown results then equal the driver's (and the CLI's).
    let mut seeded = c.clone();
    seeded.seeds = vec![c.seed];
    seeded.seed = c.seed + 1;
    let all = ExperimentResults::join_finished(&seeded, parts.clone()).expect("every unit finished");
    assert_eq!(all.without_timings().to_json(), ExperimentResults::join(&seeded, parts.clone()).expect("joins").without_timings().to_json());
    assert_eq!((all.config.seed, all.seed, all.partial.is_none()), (c.seed + 1, c.seed + 1, true));
    assert!(ExperimentResults::join_finished(&c, swapped[..1].to_vec()).is_none(), "a prefix must start at the first φ");
}

/// A vanilla model given as torchvision weights replaces training at every φ; weights of another
/// architecture are refused before any work, naming the problem.
#[test]
fn given_vanilla_weights_replace_training() {
    let mut c = tiny();
    c.phis.truncate(1);
    let device = Device::flex();
    let model = c.model.resnet().init_seeded(7, &device);
    let bytes = pollster::block_on(model.export_torchvision()).expect("export");
    let options = RunOptions { vanilla_weights: Some(bytes.into()), ..RunOptions::default() };
    let mut stages = Vec::new();
    let r = pollster::block_on(run_experiment_with(&c, &device, &options, |p| stages.push(p.loss), || false)).expect("run");
    assert_eq!(r.phis[0].vanilla_training.steps, 0, "nothing trained");
    assert!(stages.iter().all(Option::is_none), "no training steps reported");
    let (trained, _) = run(&c);
    assert_ne!(r.phis[0].models[0].fairness, trained.phis[0].models[0].fairness, "a different vanilla model");

    let mut wide = c.clone();
    wide.model.width = 16;
    let err = pollster::block_on(run_experiment_with(&wide, &device, &options, |_| panic!("no work"), || false))
        .expect_err("wrong architecture");
    assert!(matches!(err, RunError::Weights(_)), "{err}");
    assert!(err.to_string().contains("width 16"), "{err}");
    let garbage = RunOptions { vanilla_weights: Some(b"not a safetensors file".to_vec().into()), ..RunOptions::default() };
    let err = pollster::block_on(run_experiment_with(&c, &device, &garbage, |_| panic!("no work"), || false))
        .expect_err("garbage");
    assert!(matches!(err, RunError::Weights(_)), "{err}");
}

/// The trained vanilla model kept by `keep_vanilla_weights`, given back as the vanilla model,
/// is the same model: every number of the vanilla row is identical, nothing is trained.
#[test]
fn kept_vanilla_weights_reproduce_the_trained_model() {
    let mut c = tiny();
    c.phis.truncate(1);
    c.methods.truncate(1);
    let device = Device::flex();
    let keep = RunOptions { keep_vanilla_weights: true, ..RunOptions::default() };
    let trained = pollster::block_on(run_experiment_with(&c, &device, &keep, |_| {}, || false)).expect("run");
    let bytes = trained.phis[0].vanilla_weights.clone().expect("kept when asked");
    assert!(run(&c).0.phis[0].vanilla_weights.is_none(), "not kept unless asked");
    assert!(!trained.to_json().contains("vanilla_weights"), "never in the document");
    let reuse = RunOptions { vanilla_weights: Some(bytes), ..RunOptions::default() };
    let again = pollster::block_on(run_experiment_with(&c, &device, &reuse, |_| {}, || false)).expect("run");
    assert_eq!(again.phis[0].vanilla_training.steps, 0, "nothing trained");
    let (a, b) = (&trained.phis[0].models[0], &again.phis[0].models[0]);
    assert_eq!(a.fairness, b.fairness);
    assert_eq!(a.reliance, b.reliance);
    assert_eq!(a.attributions, b.attributions);
}

/// What the results' JSON never holds (the inspector's maps, the kept vanilla model, per-image
/// and found regions) crosses to another thread as a header and raw arrays (the page's compute
/// worker) and comes back exactly: the JSON and the extras together are the run again. A
/// damaged header or a missing, extra or mis-sized array is an error naming where, never a
/// panic.
#[test]
fn a_units_extras_cross_to_another_thread_exactly() {
    use biaslens_experiment::transfer::{extras_from_parts, extras_to_parts};
    let round_trip = |p: &biaslens_experiment::results::PhiResult| {
        let (header, arrays) = extras_to_parts(p);
        extras_from_parts(&header, arrays.into_iter().map(<[f32]>::to_vec).collect())
    };
    use biaslens_experiment::{ExplainedImages, FoundRegions, ModelMapsOf};
    use biaslens_metrics::{ImageSize, Mask, Region};
    let mut r = shared().0.clone();
    let corner = |image: ImageSize| Mask::new(image, (0..image.pixels()).map(|i| i % 7 == 0).collect()).expect("mask");
    for (i, p) in r.phis.iter_mut().enumerate() {
        p.vanilla_weights = Some(std::sync::Arc::from(vec![7u8, 0, 255, i as u8]));
        let e = std::sync::Arc::make_mut(p.explained.as_mut().expect("maps kept"));
        e.regions = Some((0..e.n).map(|k| if k % 2 == 0 { Region::Box(r.roi) } else { Region::Mask(corner(r.image)) }).collect());
        e.found = Some(FoundRegions { cav_from: "A-ClArC".into(), regions: (0..e.n).map(|k| (k % 3 == 1).then(|| Region::Mask(corner(r.image)))).collect() });
    }
    let mut back: ExperimentResults = serde_json::from_str(&r.to_json()).expect("the results' JSON");
    for (b, p) in back.phis.iter_mut().zip(&r.phis) {
        (b.explained, b.vanilla_weights) = round_trip(p).expect("extras");
    }
    assert_eq!(back, r, "JSON and extras are the run again, bit for bit");
    let mut bare = r.phis[0].clone();
    (bare.explained, bare.vanilla_weights) = (None, None);
    assert_eq!(round_trip(&bare).expect("none"), (None, None));

    // Every cut of a small buffer, a byte too many and a bad flag are refused.
    let image = ImageSize::square(2);
    let small = ExplainedImages {
        n: 1,
        pixels: vec![0.25; 12],
        target: vec![1],
        attribute: vec![0],
        maps: [("lrp".to_owned(), vec![ModelMapsOf { signed: vec![1.0, -2.0, 0.5, 0.0], preprocessed: vec![0.1; 4], sanity: vec![(1.5, Some(1.0))] }])].into(),
        regions: Some(vec![Region::Mask(Mask::new(image, vec![true, false, false, true]).expect("mask"))]),
        found: Some(FoundRegions { cav_from: "P-ClArC".into(), regions: vec![None] }),
    };
    bare.explained = Some(std::sync::Arc::new(small));
    bare.vanilla_weights = Some(std::sync::Arc::from(vec![1u8, 2, 3]));
    let (bytes, arrays) = extras_to_parts(&bare);
    let arrays: Vec<Vec<f32>> = arrays.into_iter().map(<[f32]>::to_vec).collect();
    assert_eq!(arrays.len(), 3, "the pixels and the two maps");
    assert_eq!(extras_from_parts(&bytes, arrays.clone()).expect("small"), (bare.explained.clone(), bare.vanilla_weights.clone()));
    for cut in 0..bytes.len() {
        assert!(extras_from_parts(&bytes[..cut], arrays.clone()).is_err(), "cut at {cut} of {}", bytes.len());
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(extras_from_parts(&longer, arrays.clone()).expect_err("one byte too many").contains("left over"));
    let mut flag = bytes.clone();
    flag[4] = 2;
    assert!(extras_from_parts(&flag, arrays.clone()).expect_err("bad flag").contains("byte 4"));
    assert!(extras_from_parts(&bytes, arrays[..2].to_vec()).expect_err("an array short").contains("did not come"));
    let mut more = arrays.clone();
    more.push(vec![1.0]);
    assert!(extras_from_parts(&bytes, more).expect_err("an array too many").contains("4 arrays came with extras that name 3"));
    let mut resized = arrays;
    resized[1].pop();
    assert!(extras_from_parts(&bytes, resized).expect_err("a short array").contains("array 2 has 3 values"));
}

/// Two runs side by side: each cell is that run's own value at that φ and model (checked against
/// the unit's numbers directly), a φ one run lacks is an empty cell there, and the CSV holds
/// every cell.
#[test]
fn runs_compare_side_by_side() {
    use biaslens_experiment::report::compare::{compare, comparison_csv, metric_of, runs_csv};
    let (whole, _) = shared();
    let mut one_phi = tiny();
    one_phi.phis = vec![-0.9];
    one_phi.seed = 5;
    let (other, _) = run(&one_phi);
    let runs = vec![("whole".to_owned(), whole), ("other".to_owned(), &other)];
    let acc = metric_of("accuracy").expect("a metric");
    let c = compare(&runs, &acc, "lrp");
    assert_eq!(c.attribution, None, "accuracy does not depend on the attribution");
    assert_eq!(c.rows.len(), 2 * 3, "two φ × three models");
    for row in &c.rows {
        let unit = whole.phis.iter().find(|p| p.phi == row.phi).expect("φ of the first run");
        let m = unit.models.iter().find(|m| m.name == row.model).expect("model");
        let cell = row.cells[0].expect("the first run has every row");
        assert_eq!(cell.value, m.fairness.accuracy.value);
        let ci = m.fairness.accuracy.ci.expect("a bootstrap interval");
        assert_eq!(cell.ci, Some([ci.low.max(0.0), ci.high.min(1.0)]));
        match other.phis.iter().find(|p| p.phi == row.phi) {
            Some(p) => {
                let m = p.models.iter().find(|m| m.name == row.model).expect("model");
                assert_eq!(row.cells[1].map(|e| e.value), Some(m.fairness.accuracy.value));
            }
            None => assert_eq!(row.cells[1], None, "φ = {} is not in the second run", row.phi),
        }
    }
    let rrf = compare(&runs, &metric_of("rrf").expect("a metric"), "lrp");
    assert_eq!(rrf.attribution.as_deref(), Some("lrp"));
    for row in rrf.rows.iter().filter(|r| r.phi == -0.9) {
        let p = other.phis.iter().find(|p| p.phi == -0.9).expect("φ");
        let m = p.models.iter().find(|m| m.name == row.model).expect("model");
        let want = m.attribution("lrp").expect("LRP ran").saliency.pooled.rrf.mean;
        assert_eq!(row.cells[1].map(|e| e.value), Some(want));
    }
    let missing = compare(&runs, &metric_of("rrf").expect("a metric"), "no-such-attribution");
    assert!(missing.rows.is_empty(), "no run has that attribution: no rows, not zeros");

    let text = comparison_csv(&c).expect("csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.headers().expect("header").len(), 4 + 3 * 2);
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a record")).collect();
    assert_eq!(records.len(), c.rows.len());
    for (rec, row) in records.iter().zip(&c.rows) {
        assert_eq!(rec[2].parse::<f64>().expect("φ"), row.phi);
        assert_eq!(rec[4].parse::<f64>().expect("value"), row.cells[0].expect("cell").value);
        assert_eq!(rec[7].is_empty(), row.cells[1].is_none());
    }
    let labels = runs_csv(&c).expect("csv");
    assert_eq!(labels.lines().count(), 3, "{labels}");
}

#[test]
fn same_seed_gives_identical_results() {
    let mut c = tiny();
    c.phis = vec![-0.7];
    let (a, _) = run(&c);
    let (b, _) = run(&c);
    assert_eq!(a.without_timings().to_json(), b.without_timings().to_json());
    c.seed += 1;
    let (d, _) = run(&c);
    assert_ne!(a.without_timings().to_json(), d.without_timings().to_json(), "the seed matters");
}

#[test]
fn cancel_stops_the_run() {
    let c = tiny();
    // Right away.
    let err = pollster::block_on(run_experiment(&c, &Device::flex(), |_| {}, || true)).expect_err("cancelled");
    assert!(matches!(err, RunError::Cancelled), "{err}");
    // In the middle of the attribution stage.
    let attributing = Cell::new(false);
    let asked = Cell::new(0usize);
    let err = pollster::block_on(run_experiment(
        &c,
        &Device::flex(),
        |p| attributing.set(attributing.get() || p.stage == "attribute"),
        || {
            asked.set(asked.get() + 1);
            attributing.get()
        },
    ))
    .expect_err("cancelled");
    assert!(matches!(err, RunError::Cancelled), "{err}");
    assert!(asked.get() > 10, "asked between batches before the stop ({})", asked.get());
}

#[test]
fn invalid_configs_are_refused_before_any_work() {
    let mut c = tiny();
    c.attribution.images = 1000;
    let err = pollster::block_on(run_experiment(&c, &Device::flex(), |_| {}, || false)).expect_err("invalid");
    assert!(err.to_string().contains("attribution.images"), "{err}");
}

#[test]
fn report_has_the_charts_and_round_trips() {
    let (r, _) = shared();
    let html = render_report(r);
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Figure 3 for LRP and IG, the trade-off, Figure 2 for two attributions at two φ.
    assert!(html.matches("<svg").count() >= 3 + 4, "{} charts", html.matches("<svg").count());
    assert!(!html.contains("could not be drawn"), "every chart drew");
    for needle in ["Do the paper's findings hold?", "<b>ThrOpt</b> leaves the network untouched, so its maps must equal vanilla's (a sanity check, not a finding): <b>equal</b>", "RDDT", "Timings", "id=\"biaslens-results\""] {
        assert!(html.contains(needle), "missing {needle}");
    }
    // Offline: nothing is fetched.
    for external in ["src=\"http", "href=\"http", "<link", "<script src", "@import", "url(http"] {
        assert!(!html.contains(external), "external reference {external}");
    }
    // Everything but the in-memory per-image maps, which are never serialised.
    let mut portable = r.clone();
    portable.phis.iter_mut().for_each(|p| p.explained = None);
    assert_eq!(import_report(&html).expect("imports"), portable);
    assert_eq!(import_report(&r.to_json()).expect("imports JSON"), portable);
}

#[test]
fn import_errors_are_clear() {
    use biaslens_experiment::ReportError;
    let (r, _) = shared();
    let html = render_report(r);
    let e = import_report("<html><body>hello</body></html>").expect_err("no results");
    assert!(matches!(e, ReportError::NotAReport(_)), "{e}");
    let e = import_report("a,b,c\n1,2,3").expect_err("csv");
    assert!(matches!(e, ReportError::NotAReport(_)), "{e}");
    let e = import_report(&tiny().to_json()).expect_err("a config");
    assert!(e.to_string().contains("experiment config"), "{e}");
    let future = html.replacen(&format!("\"version\":{},", biaslens_experiment::RESULTS_VERSION), "\"version\":99,", 1);
    assert_ne!(future, html);
    assert!(matches!(import_report(&future), Err(ReportError::FutureVersion { found: 99, .. })));
    let edited = html.replacen("\"seed\":42", "\"seed\":\"forty-two\"", 1);
    assert_ne!(edited, html);
    assert!(matches!(import_report(&edited), Err(ReportError::Broken(_))));
    let cut = &html[..html.len() / 2];
    let e = import_report(cut).expect_err("cut short");
    assert!(matches!(e, ReportError::Broken(_) | ReportError::NotAReport(_)), "{e}");
    let json = r.to_json();
    assert!(matches!(import_report(&json[..json.len() - 10]), Err(ReportError::Broken(_))));
}

#[test]
fn a_correlation_the_pool_cannot_supply_fails_before_training() {
    let mut c = tiny();
    c.phis = vec![-0.2, -1.0];
    c.splits.train = 600;
    let mut stages = Vec::new();
    let err = pollster::block_on(run_experiment(&c, &Device::flex(), |p| stages.push(p.stage), || false))
        .expect_err("the pool is too small");
    assert!(matches!(err, RunError::Split { phi, .. } if phi == -1.0), "{err}");
    assert!(err.to_string().contains("use more images"), "{err}");
    assert!(!stages.iter().any(|s| s == "train vanilla"), "failed before any training: {stages:?}");
}

/// The user's images as PNG files in memory, labelled like the synthetic pool they were drawn
/// from: the own-data path of the runner (what the page's folder picker and the CLI feed).
fn png_pool(config: &ExperimentConfig) -> (biaslens_data::LabelledImages, biaslens_data::MemorySource) {
    let syn = &config.data.synthetic;
    let n = config.data.pool;
    let batch = syn.generate(0, n).unwrap();
    let side = syn.size;
    let px = (side * side) as usize;
    let mut source = biaslens_data::MemorySource::default();
    let mut images = Vec::with_capacity(n);
    for i in 0..n {
        let chw = &batch.pixels[i * 3 * px..(i + 1) * 3 * px];
        let rgb: Vec<u8> = (0..px).flat_map(|p| (0..3).map(move |c| (chw[c * px + p] * 255.0).round().clamp(0.0, 255.0) as u8)).collect();
        let img = image::RgbImage::from_raw(side, side, rgb).unwrap();
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let name = format!("{i:06}.png");
        source.insert(&name, png);
        images.push(name);
    }
    let labelled = biaslens_data::LabelledImages {
        source: "labels.csv".into(),
        lines: (2..n + 2).collect(),
        images,
        target: batch.target.clone(),
        attribute: batch.attribute.clone(),
    };
    (labelled, source)
}

/// Own images go through the same experiment: the same splits as the synthetic pool they were
/// drawn from (splits depend on labels only), and numbers within the bootstrap intervals of the
/// synthetic run (the PNGs are the same faces quantised to 8 bits); a broken image stops the run
/// naming its file and line.
#[test]
fn own_images_run_through_the_same_experiment() {
    let mut c = tiny();
    c.phis = vec![-0.5];
    let (labelled, source) = png_pool(&c);
    let roi = c.data.synthetic.roi().unwrap();
    let pool = biaslens_experiment::ImagePool { name: "labels.csv: 3,000 images".into(), labelled: labelled.clone(), source: Box::new(source), side: 32, roi, regions: None, counterfactuals: None, partition: None };
    let options = RunOptions { images: Some(std::sync::Arc::new(pool)), ..RunOptions::default() };
    let own = pollster::block_on(run_experiment_with(&c, &Device::flex(), &options, |_| {}, || false)).expect("own images run");
    let (synthetic, _) = run(&c);
    assert_eq!(own.data_source.as_deref(), Some("labels.csv: 3,000 images"));
    assert_eq!(synthetic.data_source, None);
    let (p, q) = (&own.phis[0], &synthetic.phis[0]);
    assert_eq!((p.train.counts, p.debias.counts, p.test.counts), (q.train.counts, q.debias.counts, q.test.counts));
    for (a, b) in p.models.iter().zip(&q.models) {
        let half = |v: &biaslens_metrics::fairness::Value| v.ci.map_or(0.0, |c| (c.high - c.low) / 2.0);
        for (x, y) in [(&a.fairness.accuracy, &b.fairness.accuracy), (&a.fairness.equalized_odds, &b.fairness.equalized_odds)] {
            assert!((x.value - y.value).abs() <= half(x).max(half(y)) + 1e-12, "{}: {} vs {}", a.name, x.value, y.value);
        }
    }
    // One unreadable image in the training split: the run names it.
    let mut broken = biaslens_data::MemorySource::default();
    let (labelled, good) = png_pool(&c);
    for (name, bytes) in &good.files {
        broken.insert(name, bytes.clone());
    }
    let first_train = biaslens_experiment::phi_splits_of(&c, &labelled.target, &labelled.attribute, None).unwrap()[0].train.indices[0];
    broken.insert(&labelled.images[first_train], b"not a png".to_vec());
    let pool = biaslens_experiment::ImagePool { name: "labels.csv".into(), labelled: labelled.clone(), source: Box::new(broken), side: 32, roi, regions: None, counterfactuals: None, partition: None };
    let options = RunOptions { images: Some(std::sync::Arc::new(pool)), ..RunOptions::default() };
    let err = pollster::block_on(run_experiment_with(&c, &Device::flex(), &options, |_| {}, || false)).expect_err("broken image");
    let text = err.to_string();
    assert!(text.contains(&format!("labels.csv, line {}: {}", first_train + 2, labelled.images[first_train])), "{text}");
}

/// An image source that counts what is asked of it (thread-safe, as the runner's sources are).
struct Counting {
    inner: biaslens_data::MemorySource,
    reads: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    contains: std::sync::atomic::AtomicUsize,
}

impl biaslens_data::ImageSource for Counting {
    fn read(&self, name: &str) -> Result<Vec<u8>, String> {
        *self.reads.lock().unwrap().entry(name.to_owned()).or_default() += 1;
        self.inner.read(name)
    }
    fn contains(&self, name: &str) -> bool {
        self.contains.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.contains(name)
    }
}

/// Full CelebA (202,599 images) must not be read whole: the labels of every listed image are
/// used, but only the images the splits pick are read and decoded (each at most twice: checked
/// before any compute, then drawn), and checking that the listed images are there reads nothing.
#[test]
fn only_the_images_the_splits_pick_are_read() {
    let mut c = tiny();
    c.phis = vec![-0.5];
    c.splits = SplitSizes { train: 96, debias: 32, test: 32, ..SplitSizes::default() };
    c.train = c.train.clone().with_epochs(1);
    c.methods.truncate(1);
    c.attribution.images = 8;
    let (labelled, inner) = png_pool(&c);
    let listed = labelled.len();
    let source = std::sync::Arc::new(Counting { inner, reads: Default::default(), contains: Default::default() });
    let pool = biaslens_experiment::ImagePool::new(labelled.clone(), Box::new(source.clone()), &c).unwrap();
    pool.check_listed().expect("every listed image is there");
    assert_eq!(source.contains.load(std::sync::atomic::Ordering::Relaxed), listed);
    assert!(source.reads.lock().unwrap().is_empty(), "checking the listed images read none");
    let options = RunOptions { images: Some(std::sync::Arc::new(pool)), ..RunOptions::default() };
    let mut decoding = Vec::new();
    let r = pollster::block_on(run_experiment_with(&c, &Device::flex(), &options, |p| if p.detail.starts_with("decoding images") || p.stage == "check images" { decoding.push(p.detail.clone()) }, || false)).expect("own images run");
    let splits = &biaslens_experiment::phi_splits_of(&c, &labelled.target, &labelled.attribute, None).unwrap()[0];
    let picked: std::collections::BTreeSet<String> =
        [&splits.train, &splits.debias, &splits.test].iter().flat_map(|s| s.indices.iter().map(|&i| labelled.images[i].clone())).collect();
    let reads = source.reads.lock().unwrap();
    let read: std::collections::BTreeSet<String> = reads.keys().cloned().collect();
    assert_eq!(read, picked, "exactly the picked images are read");
    assert!(picked.len() <= 96 + 32 + 32 && picked.len() * 10 < listed, "{} of {listed}", picked.len());
    assert!(reads.values().all(|&n| n <= 2), "each picked image is read at most twice");
    assert_eq!(r.phis[0].train.images, 96);
    // Decoding shows in the progress: the check before any compute, then each split.
    assert!(decoding.iter().any(|d| d == &format!("decoded {0}/{0} images the splits picked", picked.len())), "{decoding:?}");
    assert!(decoding.iter().any(|d| d == "decoding images 160/160"), "{decoding:?}");
}

/// CelebA's official partition draws each split from its own rows: train from partition 0, debias
/// from 1 (validation), test from 2; a partition file that does not cover the labels is refused.
#[test]
fn the_official_partition_chooses_the_split_pools() {
    let mut c = tiny();
    c.phis = vec![-0.5];
    let (labelled, source) = png_pool(&c);
    let n = labelled.len();
    let part = |i: usize| if i < n * 8 / 10 { 0 } else if i < n * 9 / 10 { 1 } else { 2 };
    let text: String = labelled.images.iter().enumerate().map(|(i, name)| format!("{name} {}\n", part(i))).collect();
    let p = biaslens_experiment::PoolPartition::parse(text.as_bytes(), "list_eval_partition.txt", &labelled).expect("valid");
    c.splits = SplitSizes { train: 384, debias: 64, test: 64, ..SplitSizes::default() };
    let splits = &biaslens_experiment::phi_splits_of(&c, &labelled.target, &labelled.attribute, Some(&p.values)).unwrap()[0];
    assert!(splits.train.indices.iter().all(|&i| part(i) == 0));
    assert!(splits.debias.indices.iter().all(|&i| part(i) == 1));
    assert!(splits.test.indices.iter().all(|&i| part(i) == 2));
    let pool = biaslens_experiment::ImagePool::new(labelled.clone(), Box::new(source), &c).unwrap().with_partition(p);
    assert!(pool.name.ends_with("official partition list_eval_partition.txt"), "{}", pool.name);
    let short: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    let e = biaslens_experiment::PoolPartition::parse(short.as_bytes(), "p.txt", &labelled).expect_err("an image without a partition");
    assert!(e.contains("p.txt was not used") && e.contains(&format!("no partition for image {}", labelled.images[0])), "{e}");
}

/// Any attribution of the registry runs from the config alone, twice under different keys if
/// asked: the gradient, gradient × input and SmoothGrad (not the paper's) get results, Figure 2
/// means and a report section; gradient × input is the gradient times the input, pixel by pixel,
/// so its kept maps equal the product of the kept gradient maps and the kept inputs.
#[test]
fn any_registered_attribution_runs_from_the_config() {
    let mut c = tiny();
    c.phis.truncate(1);
    let patch = serde_json::json!({"attribution": {"images": 8, "methods": [
        {"method": "gradient"},
        {"method": "grad_x_input"},
        {"method": "smoothgrad", "config": {"samples": 3, "samples_per_chunk": 3}},
        {"method": "smoothgrad", "key": "smoothgrad_wide", "config": {"samples": 3, "samples_per_chunk": 3, "noise_level": 0.4}}
    ]}});
    let mut value = serde_json::to_value(&c).unwrap();
    biaslens_debias::merge(&mut value, patch);
    let c = ExperimentConfig::from_value(value).expect("a valid config");
    assert_eq!(c.attribution.methods.iter().map(AttributionSpec::key).collect::<Vec<_>>(), ["gradient", "grad_x_input", "smoothgrad", "smoothgrad_wide"]);
    let (r, _) = run_keeping(&c, 1 << 24);
    assert_eq!(r.attribution_keys(), ["gradient", "grad_x_input", "smoothgrad", "smoothgrad_wide"]);
    let p = &r.phis[0];
    for m in &p.models {
        assert_eq!(m.attributions.len(), 4, "{}", m.name);
        assert!(m.attribution("lrp").is_none());
    }
    assert!(p.groups.iter().all(|g| g.maps.len() == 4));
    let e = p.explained.as_ref().expect("kept");
    // The signed maps are channel sums; gradient × input summed over channels is Σ_c g_c·x_c,
    // which the kept channel-summed gradient cannot give, so compare through the model: the sums
    // of gradient × input are the attribution sums its sanity row reports.
    let gx = &e.maps["grad_x_input"];
    for (m, model) in p.models.iter().enumerate() {
        let total: f64 = gx[m].signed.iter().map(|&v| f64::from(v)).sum::<f64>() / e.n as f64;
        let mean_sum = gx[m].sanity.iter().map(|s| s.0).sum::<f64>() / e.n as f64;
        assert!((total - mean_sum).abs() <= 1e-4 * mean_sum.abs().max(1e-3), "{}: {total} vs {mean_sum}", model.name);
    }
    // Two SmoothGrad settings give two different sets of maps.
    assert_ne!(e.maps["smoothgrad"][0].signed, e.maps["smoothgrad_wide"][0].signed);
    let html = render_report(&r);
    for name in ["Gradient", "Grad×Input", "SmoothGrad"] {
        assert!(html.contains(name), "the report shows {name}");
    }
    assert!(!html.contains("could not be drawn"));
    let mut portable = r.clone();
    portable.phis.iter_mut().for_each(|p| p.explained = None);
    assert_eq!(import_report(&html).expect("imports"), portable);
}

/// The pretrained start (docs/METHODS.md#pretrained-start): a 1000-class torchvision file of the
/// config's architecture becomes every unit's starting point with a new 2-class head. With
/// everything but the head frozen, the kept vanilla model holds the file's backbone bit for bit
/// (every tensor but `fc.*`, BatchNorm statistics included) and a trained 2-class head; a run
/// without the file, with another file than the recorded digest, or with a file but no
/// `model.pretrained` is refused before any work, saying what to do.
#[test]
fn a_pretrained_start_keeps_its_backbone_and_fine_tunes_a_new_head() {
    use biaslens_experiment::PretrainedStart;
    use biaslens_model::{FineTune, Tap};
    let mut c = tiny();
    c.phis.truncate(1);
    c.methods.truncate(1);
    let device = Device::flex();
    let imagenet = biaslens_model::ResNetConfig { num_classes: 1000, ..c.model.resnet() }.init_seeded(11, &device);
    let file: std::sync::Arc<[u8]> = pollster::block_on(imagenet.export_torchvision()).expect("export").into();
    c.model.pretrained = Some(PretrainedStart::of("imagenet.safetensors", &file));
    c.train = c.train.clone().with_fine_tune(FineTune::After(Tap::Layer4));
    let options = RunOptions { pretrained_weights: Some(file.clone()), keep_vanilla_weights: true, ..RunOptions::default() };
    let r = pollster::block_on(run_experiment_with(&c, &device, &options, |_| {}, || false)).expect("run");
    assert!(r.phis[0].vanilla_training.steps > 0, "the head is fine-tuned");
    assert_eq!(r.config.model.pretrained, c.model.pretrained, "the results say what the run started from");
    let kept = r.phis[0].vanilla_weights.clone().expect("kept");
    let (file_st, kept_st) = (safetensors::SafeTensors::deserialize(&file).unwrap(), safetensors::SafeTensors::deserialize(&kept).unwrap());
    let mut compared = 0;
    for (key, view) in kept_st.tensors() {
        if key.starts_with("fc.") {
            assert_eq!(view.shape()[0], 2, "{key}: a 2-class head");
            continue;
        }
        assert_eq!(view.data(), file_st.tensor(&key).unwrap().data(), "{key} is the file's");
        compared += 1;
    }
    assert!(compared > 20, "the backbone was compared ({compared} tensors)");
    let scratch = { let mut s = c.clone(); s.model.pretrained = None; run(&s).0 };
    assert_ne!(r.phis[0].models[0].fairness, scratch.phis[0].models[0].fairness, "not the model trained from scratch");

    let refused = |config: &ExperimentConfig, options: &RunOptions, want: &str| {
        let err = pollster::block_on(run_experiment_with(config, &device, options, |_| panic!("no work"), || false)).expect_err(want);
        assert!(matches!(err, RunError::Pretrained(_)), "{err}");
        assert!(err.to_string().contains(want), "{want:?} in {err}");
    };
    refused(&c, &RunOptions::default(), "no file was given");
    let mut other = c.clone();
    other.model.pretrained = Some(PretrainedStart { file: "imagenet.safetensors".into(), sha256: Some("0".repeat(64)) });
    refused(&other, &options, "another file");
    let mut none = c.clone();
    none.model.pretrained = None;
    refused(&none, &options, "model.pretrained is empty");
    let mut wide = c.clone();
    wide.model.width = 16;
    wide.model.pretrained = Some(PretrainedStart { file: "imagenet.safetensors".into(), sha256: None });
    refused(&wide, &options, "width 16");
}

/// `localise` in the config (docs/METHODS.md#localise): each unit scores the artifact found from
/// A-ClArC's CAV on the explained images that carry the attribute against the synthetic
/// attribute's own pixels, beside the baselines on the same images; the truth lies inside the
/// config's ROI, so the fixed ROI overlaps it more than a random box of its size (the wiring of
/// truth and baselines); the result survives the report's round trip; without the field nothing
/// is computed or written.
#[test]
fn the_artifact_found_from_the_cav_is_scored_when_asked() {
    let mut c = tiny();
    c.phis.truncate(1);
    c.localise = Some(biaslens_experiment::localise::LocaliseConfig::default());
    let (r, _) = run_keeping(&c, 8 * TINY_BYTES_PER_IMAGE);
    let l = r.phis[0].localisation.as_ref().expect("A-ClArC kept its CAV");
    assert_eq!(l.cav_from, "A-ClArC");
    assert!(l.truth.contains("synthetic"), "{}", l.truth);
    let carrying = c.attribution.images.min(r.phis[0].test.counts.total()) / 2;
    for s in [&l.cav, &l.class_map, &l.fixed_roi, &l.random_box] {
        assert_eq!(s.images, carrying, "every explained image with the attribute, and only those");
        assert!((0.0..=1.0).contains(&s.iou_mean), "{s:?}");
    }
    assert!(l.fixed_roi.iou_mean > l.random_box.iou_mean, "fixed ROI {:?} vs random {:?}", l.fixed_roi, l.random_box);
    assert!(render_report(&r).contains("Finding the artifact from the CAV"), "a table in the report");
    let back = import_report(&r.to_json()).expect("imports");
    assert_eq!(back.phis[0].localisation, r.phis[0].localisation);
    // The inspector's kept images carry their found masks (every kept image, with the attribute
    // or not), at the model's image size; without `localise` there are none.
    let e = r.phis[0].explained.as_ref().expect("kept images");
    let found = e.found.as_ref().expect("found regions for the inspector");
    assert_eq!(found.cav_from, l.cav_from);
    assert_eq!(found.regions.len(), e.n, "one per kept image");
    assert!(found.regions.iter().flatten().count() > 0, "something found");
    for region in found.regions.iter().flatten() {
        assert_eq!(biaslens_metrics::Inside::image(region), r.image);
        assert!(matches!(region, biaslens_metrics::Region::Mask(_)), "a thresholded heatmap, not a box");
    }
    assert!(shared().0.phis[0].localisation.is_none() && !shared().0.to_json().contains("localisation"), "opt-in");
    assert!(shared().0.phis[0].explained.as_ref().is_none_or(|e| e.found.is_none()), "opt-in");
}

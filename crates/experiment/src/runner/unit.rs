//! One unit of a run: one training correlation φ with one seed, through the six stages (pool →
//! vanilla → methods → evaluation → attribution → scores).

use burn::prelude::*;
use web_time::Instant;

use super::methods::Trained;
use super::pool::Pool;
use super::progress::{Plan, Tracker};
use super::{RunError, RunOptions, evaluate, explain, localise, methods, score, train};
use crate::config::ExperimentConfig;
use crate::driver::Unit;
use crate::results::{PhiResult, SplitSummary, StageTiming};

fn summary(split: &biaslens_data::Split) -> SplitSummary {
    SplitSummary { images: split.indices.len(), counts: split.counts, phi: split.phi }
}

/// What every unit of a run shares.
pub(crate) struct Context<'a> {
    pub config: &'a ExperimentConfig,
    pub options: &'a RunOptions,
    pub pool: Pool<'a>,
    /// Where the vanilla model comes from (a user's model is loaded on the unit's device).
    pub start: super::train::Start,
}

/// Runs `unit`; returns its result and the stage timings.
pub(crate) async fn run_unit(
    ctx: &Context<'_>,
    device: &Device,
    unit: Unit,
    units: usize,
    progress: &mut dyn FnMut(super::RunProgress),
    should_stop: &dyn Fn() -> bool,
) -> Result<(PhiResult, Vec<StageTiming>), RunError> {
    let (config, phi) = (ctx.config, unit.phi);
    let registries = &ctx.options.registries;
    let plan = Plan::new(config, registries);
    let mut tracker = Tracker::new(progress, plan.total(), unit, units);
    let mut timings = Vec::new();
    let (roi, image) = ctx.pool.geometry()?;
    let side = image.width as usize;
    let timed = |timings: &mut Vec<StageTiming>, stage: &str, t: Instant| {
        timings.push(StageTiming { phi: Some(phi), seed: None, stage: stage.into(), seconds: t.elapsed().as_secs_f64() })
    };

    // 1. Splits and images.
    let t = Instant::now();
    tracker.begin("data", plan.data);
    let splits = ctx.pool.splits(config, phi, unit.seed)?;
    // Only the splits' images are decoded (the user's a chunk at a time, with progress); the
    // page's event loop runs between chunks and splits.
    let total = splits.train.indices.len() + splits.debias.indices.len() + splits.test.indices.len();
    let mut before = 0;
    let mut drawn = Vec::with_capacity(3);
    let doing = match ctx.pool {
        Pool::Synthetic(_) => "rendering faces",
        Pool::Own(_) => "decoding images",
    };
    for split in [&splits.train, &splits.debias, &splits.test] {
        let mut decoded = |k: usize| tracker.report((before + k) as f64 / total.max(1) as f64, format!("{doing} {}/{total}", before + k));
        drawn.push(ctx.pool.draw(split, &mut decoded).await?);
        before += split.indices.len();
        biaslens_model::pace::yield_now().await;
    }
    let [train_images, debias_images, test_images]: [_; 3] = drawn.try_into().map_err(|_| RunError::Images("three splits drawn".into()))?;
    tracker.end();
    timed(&mut timings, "data", t);
    if should_stop() {
        return Err(RunError::Cancelled);
    }

    // 2. Vanilla.
    let t = Instant::now();
    tracker.begin("train vanilla", plan.train);
    let (vanilla, vanilla_training) =
        train::vanilla(config, &ctx.start, &train_images, side, unit.seed, device, &mut tracker, should_stop).await?;
    drop(train_images);
    tracker.end();
    let vanilla_weights = if ctx.options.keep_vanilla_weights {
        Some(std::sync::Arc::<[u8]>::from(vanilla.export_torchvision().await.map_err(|e| RunError::Device(format!("reading the trained vanilla model back: {e}")))?))
    } else {
        None
    };
    let vanilla = Trained {
        name: "Vanilla".into(),
        method: None,
        family: None,
        model: biaslens_debias::DebiasedModel::plain(vanilla),
        details: Default::default(),
        notes: Vec::new(),
        seconds: t.elapsed().as_secs_f64(),
    };
    timed(&mut timings, "train vanilla", t);

    // 3. Methods.
    let models = methods::debias_all(
        config,
        registries,
        vanilla,
        &debias_images,
        side,
        phi,
        &plan,
        device,
        &mut tracker,
        &mut timings,
        should_stop,
    )
    .await?;
    drop(debias_images);

    // 4. Evaluation on the whole balanced test split.
    let t = Instant::now();
    tracker.begin("evaluate", plan.evaluate);
    let counterfactuals = ctx.pool.counterfactuals(&test_images)?;
    biaslens_model::pace::yield_now().await;
    let evaluations =
        evaluate::evaluate_all(config, &models, &test_images, counterfactuals.as_ref(), side, phi, device, &mut tracker, should_stop).await?;
    drop(counterfactuals);
    tracker.end();
    timed(&mut timings, "evaluate", t);

    // 5. Attribution of the explained test images.
    let t = Instant::now();
    tracker.begin("attribute", plan.attribute);
    let hw = side * side;
    let k = config.attribution.images.min(test_images.target.len());
    let explained_images = explain::explained_images(&test_images, k, hw);
    let regions = ctx.pool.regions_of(&explained_images);
    let explained = explain::explain_all(
        config,
        registries,
        &models,
        &explained_images,
        &roi,
        regions.as_deref(),
        side,
        ctx.options.inspect_bytes,
        device,
        &mut tracker,
        should_stop,
    )
    .await?;
    tracker.end();
    timed(&mut timings, "attribute", t);
    let t = Instant::now();
    let mut explained = explained;
    let (localisation, found) =
        localise::localise_unit(config, &ctx.pool, &models, &explained_images, explained.kept.n, &roi, side, unit.seed, device).await?;
    explained.kept.found = found;
    if config.localise.is_some() {
        timed(&mut timings, "localise", t);
    }

    // 6. Scores: pooled and per group, with bootstrap intervals; Figure 2's means.
    let t = Instant::now();
    tracker.begin("metrics", plan.metrics);
    let groups = score::group_means(&explained, hw);
    let results = score::score_all(config, models, evaluations, &explained, &mut tracker).await?;
    tracker.end();
    timed(&mut timings, "metrics", t);
    // Every stage of the unit names its seed, set here once for the stages timed above and in
    // the methods.
    for timing in &mut timings {
        timing.seed = Some(unit.seed);
    }
    let keep = explained.kept.n;
    Ok((
        PhiResult {
            phi,
            seed: unit.seed,
            train: summary(&splits.train),
            debias: summary(&splits.debias),
            test: summary(&splits.test),
            vanilla_training,
            models: results,
            groups,
            explained: (keep > 0).then(|| std::sync::Arc::new(explained.kept)),
            vanilla_weights,
            localisation,
        },
        timings,
    ))
}

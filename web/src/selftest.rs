//! The device self-test view (`?selftest`): the library's checks run on this page's device, with
//! the numbers the browser test compares against the native CLI.

use biaslens_experiment::{SelfTestConfig, SelfTestReport, run_selftest};
use leptos::prelude::*;
use burn::prelude::Device;
use leptos::task::spawn_local;

use crate::device::{self, Chosen, Kind};
use crate::pace::now_ms;
use crate::widgets::RgbaCanvas;

/// What the page knows about the self-test run.
#[derive(Clone)]
enum Run {
    /// Picking a device.
    Choosing,
    /// Computing on the chosen device.
    Computing(Chosen),
    /// Finished, with the time it took in milliseconds.
    Done { chosen: Chosen, report: SelfTestReport, millis: f64 },
    /// Failed, with a message for the user.
    Failed { chosen: Option<Chosen>, message: String },
}


/// Run the self-test on `chosen`; if the GPU fails, say so and finish on the CPU.
async fn self_test(chosen: Chosen, device: Device, config: &SelfTestConfig) -> (Chosen, Result<SelfTestReport, String>) {
    match run_selftest(config, &device).await {
        Ok(report) => (chosen, Ok(report)),
        Err(e) if chosen.kind == Kind::WebGpu => {
            let cpu = device::cpu(format!("WebGPU failed during the run ({e}), so the CPU finished it."));
            let result = run_selftest(config, &Device::flex()).await.map_err(|e| e.to_string());
            (cpu, result)
        }
        Err(e) => (chosen, Err(e.to_string())),
    }
}

/// The page.
#[component]
pub fn SelfTest() -> impl IntoView {
    let (run, set_run) = signal(Run::Choosing);
    spawn_local(async move {
        let (chosen, device) = device::choose().await;
        set_run.set(Run::Computing(chosen.clone()));
        let start = now_ms();
        let (chosen, result) = self_test(chosen, device, &SelfTestConfig::default()).await;
        let millis = now_ms() - start;
        set_run.set(match result {
            Ok(report) => Run::Done { chosen, report, millis },
            Err(message) => Run::Failed { chosen: Some(chosen), message },
        });
    });

    let status = move || match run.get() {
        Run::Choosing => "choosing device".to_string(),
        Run::Computing(_) => "computing".to_string(),
        Run::Done { .. } => "done".to_string(),
        Run::Failed { message, .. } => format!("error: {message}"),
    };
    let chosen = move || match run.get() {
        Run::Computing(c) | Run::Done { chosen: c, .. } | Run::Failed { chosen: Some(c), .. } => Some(c),
        _ => None,
    };

    view! {
        <header>
            <h1>"biaslens"</h1>
            <p class="tagline">"Did a debiased classifier stop looking at the protected attribute? Everything runs in this tab; no data leaves your machine."</p>
        </header>
        <main>
            <section class="panel" aria-labelledby="device-title">
                <h2 id="device-title">"Device self-test"</h2>
                <p class="explain">
                    "Synthetic faces → a small convolutional network → gradient × input saliency for each image's true label → "
                    "the fraction of |saliency| inside the fixed necktie box (outlined). Then the demo's compact ResNet (seeded, untrained) "
                    "explained with the paper's LRP (Zennit EpsilonPlus, no canonizer) and IG (Zennit's, 20 steps), on this device."
                </p>
                <p id="device" data-kind=move || chosen().map_or("", |c| c.kind.id())>
                    {move || chosen().map_or_else(|| "Looking for a GPU…".to_string(), |c| c.why)}
                </p>
                <p>"Status: " <span id="status">{status}</span></p>
                {move || match run.get() {
                    Run::Done { report, millis, .. } => view! { <Results report=report millis=millis/> }.into_any(),
                    _ => view! { <div class="placeholder" aria-busy="true"></div> }.into_any(),
                }}
            </section>
        </main>
    }
}

/// Headline number, legend and one card per image.
#[component]
fn Results(report: SelfTestReport, millis: f64) -> impl IntoView {
    let n = report.target.len();
    let mean = report.mean_roi_fraction;
    let roi = report.roi;
    let r = &report.resnet;
    let mean_of = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (lrp_mean, ig_mean) = (mean_of(&r.lrp_roi_fraction), mean_of(&r.ig_roi_fraction));
    let sums: Vec<String> = (0..n)
        .map(|i| format!("{:.3} → {:.3}", r.lrp_output_sum[i], r.lrp_input_sum[i]))
        .collect();
    let deltas: Vec<String> = r.ig_delta.iter().map(|d| format!("{d:.2e}")).collect();
    // The ResNet's numbers for the browser test, which compares them with the native CLI's.
    let json = serde_json::to_string(&report.resnet).unwrap_or_default();
    let train_json = serde_json::to_string(&report.train).unwrap_or_default();
    let losses: Vec<String> = report.train.losses.iter().map(|l| format!("{l:.4}")).collect();
    view! {
        <p class="headline">
            "Fraction of |saliency| inside the box: "
            <strong id="roi-fraction" data-value=format!("{mean:.17e}")>{format!("{mean:.6}")}</strong>
            {format!(" (gradient × input of the small CNN, mean of {n} images; the box covers {:.1}% of the image). Computed in {millis:.0} ms.",
                100.0 * f64::from(roi.w() * roi.h()) / report.image.pixels() as f64)}
        </p>
        <p class="headline">
            "Compact ResNet: LRP "
            <strong id="lrp-roi-fraction" data-value=format!("{lrp_mean:.17e}")>{format!("{lrp_mean:.6}")}</strong>
            ", IG "
            <strong id="ig-roi-fraction" data-value=format!("{ig_mean:.17e}")>{format!("{ig_mean:.6}")}</strong>
            " inside the box."
        </p>
        <p class="explain">
            {format!("Sanity numbers. LRP relevance, output → input per image: {}. Without the canonizer the residual additions copy relevance to both branches, so it is not conserved (the paper's set-up). IG completeness delta per image: {}.", sums.join(", "), deltas.join(", "))}
        </p>
        <p class="explain">
            {format!("Training check: {} Adam steps of the compact ResNet on this device (BatchNorm in training mode), loss per step {}. Then debiasing it on this device: ThrOpt threshold {:.3} (EO gap {:.3}), P-ClArC projection, {} RR-ClArC steps.",
                losses.len(), losses.join(" → "), report.train.thr_opt[0], report.train.thr_opt[1], report.train.rr_clarc_penalties.len())}
        </p>
        <script type="application/json" id="resnet-check">{json}</script>
        <script type="application/json" id="train-check">{train_json}</script>
        <Legend/>
        <div class="cards">
            {(0..n).map(|i| view! { <Card report=report.clone() index=i/> }).collect_view()}
        </div>
    }
}

/// Colour key of the signed saliency map.
#[component]
fn Legend() -> impl IntoView {
    view! {
        <div class="legend" role="img" aria-label="Colour key: blue is negative relevance, white is zero, red is positive relevance">
            <span>"negative"</span><span class="bar"></span><span>"positive"</span>
            <span class="zero">"white = 0"</span>
        </div>
    }
}

/// One image: the input, its map, the box on both, and its fraction.
#[component]
fn Card(report: SelfTestReport, index: usize) -> impl IntoView {
    let size = report.image;
    let pixels = size.pixels();
    let image = biaslens_viz::chw_to_rgba(&report.pixels[index * 3 * pixels..(index + 1) * 3 * pixels], pixels);
    let map = biaslens_viz::diverging_rgba(report.map(index));
    let one = |maps: &[f32]| biaslens_viz::diverging_rgba(&maps[index * pixels..(index + 1) * pixels]);
    let lrp = one(&report.resnet.lrp_maps);
    let ig = one(&report.resnet.ig_maps);
    let roi = report.roi;
    let pct = |v: u32, of: u32| format!("{:.4}%", 100.0 * f64::from(v) / f64::from(of));
    let box_style = format!(
        "left:{};top:{};width:{};height:{}",
        pct(roi.x(), size.width),
        pct(roi.y(), size.height),
        pct(roi.w(), size.width),
        pct(roi.h(), size.height)
    );
    let label = format!(
        "image {index}: {}, {}",
        if report.target[index] == 1 { "smiling" } else { "not smiling" },
        if report.attribute[index] == 1 { "necktie" } else { "no necktie" }
    );
    view! {
        <figure class="card">
            <div class="pair">
                {[
                    ("input", image, "input"),
                    ("CNN grad × input", map, "small CNN gradient × input map"),
                    ("ResNet LRP", lrp, "compact ResNet LRP map"),
                    ("ResNet IG", ig, "compact ResNet Integrated Gradients map"),
                ]
                    .into_iter()
                    .map(|(title, rgba, what)| view! {
                        <div class="cell">
                            <span class="cell-title">{title}</span>
                            <div class="frame">
                                <RgbaCanvas rgba=rgba width=size.width height=size.height label=format!("{label}, {what}")/>
                                <div class="roi" style=box_style.clone()></div>
                            </div>
                        </div>
                    })
                    .collect_view()}
            </div>
            <figcaption>
                {label}<br/>
                "in box: grad × input " <strong class="fraction">{format!("{:.4}", report.roi_fraction[index])}</strong>
                ", LRP " <strong>{format!("{:.4}", report.resnet.lrp_roi_fraction[index])}</strong>
                ", IG " <strong>{format!("{:.4}", report.resnet.ig_roi_fraction[index])}</strong>
            </figcaption>
        </figure>
    }
}

//! Writes the charts from the crate's example data, to look at them:
//! `cargo run -p biaslens-viz --example charts -- /tmp/charts` writes `figure2.svg`,
//! `figure2_cvd.svg` (colour-blind-safe map, per-column scaling), `figure3.svg`,
//! `tradeoff.svg` and `loss_curve.svg` into the folder (default: the current one).

use biaslens_viz::{
    BarStyle, Colormap, LossStyle, MapScaling, SaliencyGridStyle, TradeoffStyle, example, loss_curve_svg, metric_bars_svg,
    saliency_grid_svg, tradeoff_svg,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir)?;
    let grid = example::saliency_grid();
    let table = example::results_table();
    let cvd = SaliencyGridStyle { colormap: Colormap::BlueOrange, scaling: MapScaling::PerColumn, ..Default::default() };
    for (name, svg) in [
        ("figure2.svg", saliency_grid_svg(&grid, &SaliencyGridStyle::default())?),
        ("figure2_cvd.svg", saliency_grid_svg(&grid, &cvd)?),
        ("figure3.svg", metric_bars_svg(&table, &BarStyle::default())?),
        ("tradeoff.svg", tradeoff_svg(&table, &TradeoffStyle::default())?),
        ("loss_curve.svg", loss_curve_svg(&example::loss_series(), &LossStyle::default())?),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, svg)?;
        println!("{}", path.display());
    }
    Ok(())
}

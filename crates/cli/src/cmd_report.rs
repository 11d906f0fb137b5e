//! `biaslens report RESULTS --figures DIR [--out report.html]`: the figures of a finished run as
//! SVG files and its tables as CSV files (library: `biaslens_experiment::report::exports`), and
//! optionally the HTML report rendered again, from a results `.json` or a saved report `.html`.
//! With `--png`, every SVG figure is also rasterised at twice its size (resvg, with the system's
//! sans-serif font; the page's PNGs are drawn by the browser the same way).

use std::path::PathBuf;

use anyhow::Context;
use biaslens_experiment::report::exports;
use biaslens_experiment::render_report;

use crate::cmd_run::check_writable;

/// Options of `biaslens report`.
#[derive(clap::Args)]
pub struct Args {
    /// A results `.json` (`run --json`) or a report `.html`.
    results: PathBuf,
    /// Folder to write every figure (SVG) and table (CSV) into (created if missing).
    #[arg(long)]
    figures: Option<PathBuf>,
    /// Also write every figure as PNG, at twice the SVG's size (needs a system font, e.g. Debian's
    /// `fonts-dejavu-core`).
    #[arg(long, requires = "figures")]
    png: bool,
    /// Write the HTML report again here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `biaslens report`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.figures.is_some() || args.out.is_some(), "nothing to write: give --figures DIR and/or --out report.html");
    let results = crate::load::results(&args.results)?;
    if let Some(out) = &args.out {
        check_writable(out)?;
        std::fs::write(out, render_report(&results)).with_context(|| format!("writing the report {}", out.display()))?;
        println!("wrote {}", out.display());
    }
    if let Some(dir) = &args.figures {
        anyhow::ensure!(!dir.is_file(), "--figures {} is a file; give a folder", dir.display());
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut files: Vec<String> = Vec::new();
        let exported = exports(&results).map_err(|e| anyhow::anyhow!("drawing the figures: {e}"))?;
        let fonts = if args.png { Some(system_fonts()?) } else { None };
        for f in &exported {
            std::fs::write(dir.join(&f.name), &f.text).with_context(|| format!("writing {}", dir.join(&f.name).display()))?;
            files.push(f.name.clone());
            if let (Some(fonts), Some(stem)) = (&fonts, f.name.strip_suffix(".svg")) {
                let name = format!("{stem}.png");
                let png = rasterise(&f.text, fonts, 2.0).with_context(|| format!("drawing {name}"))?;
                std::fs::write(dir.join(&name), png).with_context(|| format!("writing {}", dir.join(&name).display()))?;
                files.push(name);
            }
        }
        println!("wrote {} figure and table files to {}: {}", files.len(), dir.display(), files.join(", "));
    }
    Ok(())
}

/// The system's fonts, refused when there is none (the labels would be missing from every PNG).
fn system_fonts() -> anyhow::Result<std::sync::Arc<resvg::usvg::fontdb::Database>> {
    let mut db = resvg::usvg::fontdb::Database::new();
    db.load_system_fonts();
    anyhow::ensure!(
        db.len() > 0,
        "--png needs a system font to draw the labels and found none; install one (Debian: apt install fonts-dejavu-core) or leave out --png (the SVGs carry the same figures)"
    );
    // The charts ask for `sans-serif`; fontdb maps it to Arial unless told, which Linux rarely
    // has, and an unresolved family draws no text at all.
    let families: Vec<String> = db.faces().flat_map(|f| f.families.iter().map(|(name, _)| name.clone())).collect();
    let sans = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica"]
        .into_iter()
        .map(str::to_owned)
        .find(|want| families.contains(want))
        .or_else(|| families.first().cloned());
    if let Some(family) = sans {
        db.set_sans_serif_family(family);
    }
    Ok(std::sync::Arc::new(db))
}

/// `svg` as PNG bytes at `scale` times its size, on white (as the page's PNGs).
fn rasterise(svg: &str, fonts: &std::sync::Arc<resvg::usvg::fontdb::Database>, scale: f32) -> anyhow::Result<Vec<u8>> {
    use resvg::{tiny_skia, usvg};
    let options = usvg::Options { fontdb: fonts.clone(), ..usvg::Options::default() };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| anyhow::anyhow!("the SVG could not be read: {e}"))?;
    let size = tree.size().to_int_size().scale_by(scale).ok_or_else(|| anyhow::anyhow!("the figure has no size"))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| anyhow::anyhow!("the figure is too large to draw"))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| anyhow::anyhow!("encoding the PNG: {e}"))
}

//! Writes a PNG grid of synthetic faces for a person to look at.
//!
//! `cargo run -p biaslens-data --example preview -- /tmp/faces.png [size] [count] [zoom]`: the first
//! half of the grid paints neckties, the second half hats; labels are printed per tile.

use biaslens_data::{ProtectedKind, SyntheticConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "/tmp/biaslens-faces.png".into());
    let size: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    let count: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(32);
    let zoom: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let cols = 8usize;
    let rows = count.div_ceil(cols);
    let pad = 2u32;
    let (w, h) = (cols as u32 * (size + pad), rows as u32 * (size + pad));
    let mut img = image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    for k in 0..count {
        let attribute = if k < count / 2 { ProtectedKind::Necktie } else { ProtectedKind::Hat };
        let cfg = SyntheticConfig { size, attribute, ..SyntheticConfig::default() };
        let batch = cfg.generate(k as u64, 1)?;
        let plane = (size * size) as usize;
        let px = batch.image_pixels(0);
        let (ox, oy) = ((k % cols) as u32 * (size + pad), (k / cols) as u32 * (size + pad));
        for y in 0..size {
            for x in 0..size {
                let i = (y * size + x) as usize;
                let c = |ch: usize| (px[ch * plane + i] * 255.0).round() as u8;
                img.put_pixel(ox + x, oy + y, image::Rgb([c(0), c(1), c(2)]));
            }
        }
        print!("{}{}{} ", if batch.target[0] == 1 { "S" } else { "-" }, if batch.attribute[0] == 1 { "A" } else { "-" }, if k % cols == cols - 1 { "\n" } else { "" });
    }
    let img = image::imageops::resize(&img, w * zoom, h * zoom, image::imageops::FilterType::Nearest);
    img.save(&path)?;
    println!("\nwrote {path}");
    Ok(())
}

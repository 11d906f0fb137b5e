//! The label and region readers never panic on garbled input: valid files (own-label CSV, per-image
//! box CSV, Kaggle's CSV and CelebA's text list, a mask PNG) are mutated byte by byte with the
//! characters that matter to them (quotes, separators, CR/LF, a BOM, bytes that are not UTF-8,
//! digits and signs), and every reader must answer `Ok` or `Err`. A panic fails the test. A
//! complement to the cargo-fuzz targets in `fuzz/` (outside CI), with a fixed seed so CI runs it.

use biaslens_data::{AttributeTable, OwnColumns, Preprocess, decode_mask, mask_region, parse_box_csv, parse_own_csv};
use biaslens_metrics::ImageSize;

/// SplitMix64's output step (a fixed, portable stream).
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const PIECES: [&[u8]; 16] = [b"\"", b"\"\"", b",", b";", b"\t", b"\r", b"\n", b"\r\n", b"\xEF\xBB\xBF", b"\xFF", b"\xC3", b"0", b"-1", b"99999999999", b" ", b""];

/// `base` with a few random edits: insert a piece, delete a byte, or overwrite one.
fn mutate(base: &[u8], state: &mut u64) -> Vec<u8> {
    let mut v = base.to_vec();
    let edits = 1 + next(state) % 4;
    for _ in 0..edits {
        let at = if v.is_empty() { 0 } else { (next(state) % (v.len() as u64 + 1)) as usize };
        match next(state) % 3 {
            0 => {
                let piece = PIECES[(next(state) % PIECES.len() as u64) as usize];
                v.splice(at..at, piece.iter().copied());
            }
            1 if at < v.len() => {
                v.remove(at);
            }
            _ if at < v.len() => v[at] = (next(state) & 0xFF) as u8,
            _ => {}
        }
    }
    v
}

#[test]
fn readers_answer_garbled_files_without_panicking() {
    let own = b"image,notes,target,attribute\na.png,\"x, y\",1,0\nb.png,,0,1\nc.png,z,yes,no\n";
    let boxes = b"image;x0;y0;x1;y1\r\na.png;0;0;4;4\r\n\"b.png\";1;2;3;5\r\n";
    let kaggle = b"image_id,Smiling,Male\n000001.jpg,1,-1\n000002.jpg,-1,1\n";
    let txt = b"2\nSmiling Male\n000001.jpg 1 -1\n000002.jpg -1 1\n";
    let mut state = 20_251_204u64;
    let (mut ok, mut refused) = (0usize, 0usize);
    let mut count = |r: bool| if r { ok += 1 } else { refused += 1 };
    for _ in 0..4000 {
        count(parse_own_csv(&mutate(own, &mut state), "l.csv", &OwnColumns::default()).is_ok());
        let b = mutate(boxes, &mut state);
        if let Ok(t) = parse_box_csv(&b, "b.csv") {
            // Map the boxes onto images of random sizes, as the readers of real images would.
            let sizes: Vec<ImageSize> = t.images.iter().map(|_| ImageSize { width: (next(&mut state) % 8) as u32, height: (next(&mut state) % 8) as u32 }).collect();
            let pre = Preprocess { square_pad: next(&mut state).is_multiple_of(2), resize: Some((next(&mut state) % 5) as u32) };
            count(t.regions(&t.images, &sizes, &pre).is_ok());
        } else {
            count(false);
        }
        count(AttributeTable::parse(&mutate(kaggle, &mut state), "a.csv").is_ok());
        count(AttributeTable::parse(&mutate(txt, &mut state), "a.txt").is_ok());
    }
    // Mask PNGs with flipped bytes, and valid masks against odd image sizes and resize sides.
    let img = image::RgbaImage::from_fn(6, 5, |x, y| image::Rgba([if (1..4).contains(&x) && y > 1 { 200 } else { 0 }, 0, 0, 255]));
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).expect("encode");
    let png = png.into_inner();
    for _ in 0..300 {
        let mut m = png.clone();
        let at = (next(&mut state) % m.len() as u64) as usize;
        m[at] ^= 1 << (next(&mut state) % 8);
        count(decode_mask(&m).is_ok());
        let size = ImageSize { width: 6 + (next(&mut state) % 2) as u32, height: 5 };
        let pre = Preprocess { square_pad: next(&mut state).is_multiple_of(2), resize: Some((next(&mut state) % 7) as u32) };
        count(mask_region(&png, "m.png", size, &pre).is_ok());
    }
    // Both outcomes occur, so the mutations reach past the first check.
    assert!(ok > 500 && refused > 500, "{ok} read, {refused} refused");
}

//! A unit's in-memory extras as bytes, for a host that runs the driver on another thread and
//! sends the results across (the page's compute worker; ARCHITECTURE.md, "The run driver").
//!
//! The results travel as their JSON (exact: `float_roundtrip`). What the JSON never holds is
//! what only a host in the same memory can use: the inspector's per-image maps
//! ([`PhiResult::explained`], up to the page's whole budget of maps) and the kept vanilla model
//! ([`PhiResult::vanilla_weights`]). [`extras_to_parts`] splits both into a small little-endian
//! header and the large `f32` arrays as they are (the input pixels and every map), so the
//! receiver copies each array once, one at a time, with no text encoding and no per-value
//! decoding (the page takes a turn of its event loop between arrays). [`extras_from_parts`]
//! puts them back together exactly; a damaged header or a missing or mis-sized array is an
//! error, never a panic.
//!
//! # Header layout
//! `"BLX1"`, then an optional explained-images block and an optional weights block, each behind
//! a presence byte. Lengths are `u64`; strings UTF-8 with their length; an `f32` array is only
//! its length in the header (its values are the next of the parts' arrays); a region is a tag
//! byte (0 box: x, y, w, h, image width and height as `u32`; 1 mask: width, height and one byte
//! per pixel).

use std::collections::BTreeMap;
use std::sync::Arc;

use biaslens_metrics::{ImageSize, Inside, Mask, Region, Roi};

use crate::results::{ExplainedImages, FoundRegions, ModelMapsOf, PhiResult};

const MAGIC: &[u8; 4] = b"BLX1";

/// `phi`'s explained images and vanilla weights: the header (see the module's layout) and the
/// `f32` arrays in the order the header names them.
pub fn extras_to_parts(phi: &PhiResult) -> (Vec<u8>, Vec<&[f32]>) {
    let mut w = Writer(Vec::with_capacity(64 + phi.vanilla_weights.as_ref().map_or(0, |b| b.len())), Vec::new());
    w.0.extend_from_slice(MAGIC);
    match &phi.explained {
        None => w.u8(0),
        Some(e) => {
            w.u8(1);
            w.explained(e);
        }
    }
    match &phi.vanilla_weights {
        None => w.u8(0),
        Some(b) => {
            w.u8(1);
            w.bytes(b);
        }
    }
    (w.0, w.1)
}

/// The extras [`extras_to_parts`] split: (explained images, vanilla weights), the arrays moved
/// in, not copied.
///
/// # Errors
/// What is wrong with the header (not ours, cut short, a length beyond its end, a bad region)
/// or the arrays (too few, too many, one of another length than the header says).
pub fn extras_from_parts(header: &[u8], arrays: Vec<Vec<f32>>) -> Result<(Option<Arc<ExplainedImages>>, Option<Arc<[u8]>>), String> {
    let count = arrays.len();
    let mut r = Reader { bytes: header, at: 0, arrays: arrays.into_iter(), taken: 0 };
    if r.take(4)? != MAGIC {
        return Err("not a biaslens extras buffer (no BLX1 mark)".into());
    }
    let explained = if r.flag()? { Some(Arc::new(r.explained()?)) } else { None };
    let weights = if r.flag()? { Some(Arc::from(r.bytes()?)) } else { None };
    if r.at != header.len() {
        return Err(format!("{} bytes left over after the extras", header.len() - r.at));
    }
    if r.taken != count {
        return Err(format!("{count} arrays came with extras that name {}", r.taken));
    }
    Ok((explained, weights))
}

/// The header, and the arrays it names.
struct Writer<'a>(Vec<u8>, Vec<&'a [f32]>);

impl<'a> Writer<'a> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, v: usize) {
        self.0.extend_from_slice(&(v as u64).to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.len(v.len());
        self.0.extend_from_slice(v);
    }
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    fn f32s(&mut self, v: &'a [f32]) {
        self.len(v.len());
        self.1.push(v);
    }
    fn region(&mut self, region: &Region) {
        match region {
            Region::Box(roi) => {
                self.u8(0);
                for v in [roi.x(), roi.y(), roi.w(), roi.h(), roi.image().width, roi.image().height] {
                    self.u32(v);
                }
            }
            Region::Mask(mask) => {
                self.u8(1);
                self.u32(mask.image().width);
                self.u32(mask.image().height);
                self.len(mask.inside().len());
                self.0.extend(mask.inside().iter().map(|&b| u8::from(b)));
            }
        }
    }
    fn explained(&mut self, e: &'a ExplainedImages) {
        self.len(e.n);
        self.f32s(&e.pixels);
        self.bytes(&e.target);
        self.bytes(&e.attribute);
        self.len(e.maps.len());
        for (key, models) in &e.maps {
            self.str(key);
            self.len(models.len());
            for m in models {
                self.f32s(&m.signed);
                self.f32s(&m.preprocessed);
                self.len(m.sanity.len());
                for &(sum, expected) in &m.sanity {
                    self.f64(sum);
                    match expected {
                        None => self.u8(0),
                        Some(x) => {
                            self.u8(1);
                            self.f64(x);
                        }
                    }
                }
            }
        }
        match &e.regions {
            None => self.u8(0),
            Some(regions) => {
                self.u8(1);
                self.len(regions.len());
                for region in regions {
                    self.region(region);
                }
            }
        }
        match &e.found {
            None => self.u8(0),
            Some(found) => {
                self.u8(1);
                self.str(&found.cav_from);
                self.len(found.regions.len());
                for region in &found.regions {
                    match region {
                        None => self.u8(0),
                        Some(region) => {
                            self.u8(1);
                            self.region(region);
                        }
                    }
                }
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    arrays: std::vec::IntoIter<Vec<f32>>,
    /// Arrays taken so far.
    taken: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            format!("the extras end at byte {} but {n} more bytes were expected at byte {}", self.bytes.len(), self.at)
        })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }
    fn flag(&mut self) -> Result<bool, String> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(format!("byte {} should be 0 or 1, is {v}", self.at - 1)),
        }
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    /// A length, refused when `each`-byte items of that many could not fit in what is left.
    fn len(&mut self, each: usize) -> Result<usize, String> {
        let at = self.at;
        let n = usize::try_from(u64::from_le_bytes(self.array()?)).map_err(|_| format!("the length at byte {at} does not fit this machine"))?;
        if n.saturating_mul(each.max(1)) > self.bytes.len() - self.at {
            return Err(format!("the length at byte {at} ({n}) runs past the end of the extras"));
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.len(1)?;
        self.take(n)
    }
    fn str(&mut self) -> Result<String, String> {
        let at = self.at;
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| format!("the text at byte {at} is not UTF-8"))
    }
    fn f32s(&mut self) -> Result<Vec<f32>, String> {
        let at = self.at;
        let n = usize::try_from(u64::from_le_bytes(self.array()?)).map_err(|_| format!("the length at byte {at} does not fit this machine"))?;
        let array = self.arrays.next().ok_or_else(|| format!("the array named at byte {at} did not come (only {} did)", self.taken))?;
        self.taken += 1;
        if array.len() != n {
            return Err(format!("array {} has {} values where the header (byte {at}) says {n}", self.taken, array.len()));
        }
        Ok(array)
    }
    fn region(&mut self) -> Result<Region, String> {
        let at = self.at;
        match self.u8()? {
            0 => {
                let [x, y, w, h, width, height] = [self.u32()?, self.u32()?, self.u32()?, self.u32()?, self.u32()?, self.u32()?];
                Roi::new(x, y, w, h, ImageSize { width, height }).map(Region::Box).map_err(|e| format!("the box at byte {at}: {e}"))
            }
            1 => {
                let image = ImageSize { width: self.u32()?, height: self.u32()? };
                let n = self.len(1)?;
                let inside = self.take(n)?.iter().map(|&b| b != 0).collect();
                Mask::new(image, inside).map(Region::Mask).map_err(|e| format!("the mask at byte {at}: {e}"))
            }
            t => Err(format!("the region at byte {at} has kind {t}, not 0 (box) or 1 (mask)")),
        }
    }
    fn explained(&mut self) -> Result<ExplainedImages, String> {
        let n = self.len(0)?;
        let pixels = self.f32s()?;
        let target = self.bytes()?.to_vec();
        let attribute = self.bytes()?.to_vec();
        let mut maps = BTreeMap::new();
        for _ in 0..self.len(1)? {
            let key = self.str()?;
            let mut models = Vec::new();
            for _ in 0..self.len(1)? {
                let signed = self.f32s()?;
                let preprocessed = self.f32s()?;
                let mut sanity = Vec::new();
                for _ in 0..self.len(9)? {
                    let sum = self.f64()?;
                    let expected = if self.flag()? { Some(self.f64()?) } else { None };
                    sanity.push((sum, expected));
                }
                models.push(ModelMapsOf { signed, preprocessed, sanity });
            }
            maps.insert(key, models);
        }
        let regions = if self.flag()? { Some((0..self.len(1)?).map(|_| self.region()).collect::<Result<Vec<_>, _>>()?) } else { None };
        let found = if self.flag()? {
            let cav_from = self.str()?;
            let regions = (0..self.len(1)?)
                .map(|_| if self.flag()? { self.region().map(Some) } else { Ok(None) })
                .collect::<Result<Vec<_>, String>>()?;
            Some(FoundRegions { cav_from, regions })
        } else {
            None
        };
        Ok(ExplainedImages { n, pixels, target, attribute, maps, regions, found })
    }
}

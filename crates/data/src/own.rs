//! A user's own data: a folder of images plus a CSV naming, per row, the image file, the target
//! and the protected attribute, in columns the user chooses.
//!
//! Labels may be written `1`/`0`, `1`/`-1` (CelebA style), `true`/`false` or `yes`/`no`. Every
//! problem is reported with the file and line: a missing column, a row with the wrong number of
//! fields, a value that is not a label, a column with one class only, an image the folder lacks.

use serde::{Deserialize, Serialize};

use crate::celeba::{DataError, clip, one_class_check, split_csv};
use crate::images::{ImageSource, LabelledImages};

/// Which CSV columns hold the image file, the target and the protected attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnColumns {
    /// Column with the image file name (relative to the image folder).
    pub image: String,
    /// Column with the target label.
    pub target: String,
    /// Column with the protected attribute.
    pub attribute: String,
}

impl Default for OwnColumns {
    fn default() -> Self {
        Self { image: "image".into(), target: "target".into(), attribute: "attribute".into() }
    }
}

fn parse_label(v: &str) -> Option<u8> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" => Some(1),
        "0" | "-1" | "false" | "no" | "n" => Some(0),
        _ => None,
    }
}

/// Read the CSV `bytes` (named `file` in messages) with the chosen `columns`.
///
/// # Errors
/// [`DataError`] with file and line for every malformed row, an unknown column, or a label
/// column with one class only.
pub fn parse_own_csv(bytes: &[u8], file: &str, columns: &OwnColumns) -> Result<LabelledImages, DataError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DataError::Parse { file: file.into(), line: 1, message: "not UTF-8 text; save the CSV as UTF-8".into() })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (_, header) = lines.next().ok_or_else(|| DataError::Empty(file.to_owned()))?;
    let header = split_csv(header, file, 1)?;
    let find = |name: &str| {
        header.iter().position(|h| h == name).or_else(|| header.iter().position(|h| h.eq_ignore_ascii_case(name))).ok_or_else(|| {
            DataError::NoColumn { file: file.to_owned(), name: name.to_owned(), available: header.join(", ") }
        })
    };
    let (ci, ct, ca) = (find(&columns.image)?, find(&columns.target)?, find(&columns.attribute)?);
    let mut seen = std::collections::HashMap::new();
    let mut out = LabelledImages { source: file.to_owned(), images: Vec::new(), lines: Vec::new(), target: Vec::new(), attribute: Vec::new() };
    for (line, l) in lines {
        if l.trim().is_empty() {
            continue;
        }
        let fields = split_csv(l, file, line)?;
        if fields.len() != header.len() {
            return Err(DataError::Parse {
                file: file.into(),
                line,
                message: format!("the row has {} fields but the header has {}; check for a missing or extra comma", fields.len(), header.len()),
            });
        }
        let image = fields[ci].clone();
        if image.is_empty() {
            return Err(DataError::Parse { file: file.into(), line, message: format!("the {:?} column is empty; name an image file", columns.image) });
        }
        if let Some(first) = seen.insert(image.clone(), line) {
            return Err(DataError::Parse {
                file: file.into(),
                line,
                message: format!("image {:?} is listed twice (first on line {first}); remove the duplicate row", clip(&image)),
            });
        }
        let label = |col: usize, name: &str| {
            parse_label(&fields[col]).ok_or_else(|| DataError::Parse {
                file: file.into(),
                line,
                message: if fields[col].is_empty() {
                    format!("column {name:?} is empty; write 1/0, 1/-1, true/false or yes/no")
                } else {
                    format!("column {name:?} has {:?}; write 1/0, 1/-1, true/false or yes/no", clip(&fields[col]))
                },
            })
        };
        out.target.push(label(ct, &columns.target)?);
        out.attribute.push(label(ca, &columns.attribute)?);
        out.images.push(image);
        out.lines.push(line);
    }
    one_class_check(file, &columns.target, &out.target)?;
    one_class_check(file, &columns.attribute, &out.attribute)?;
    Ok(out)
}

impl LabelledImages {
    /// Check that every listed image can be read from `source` and decoded as JPEG or PNG
    /// (decodes each one; for a folder of thousands, prefer [`LabelledImages::check_images`] and
    /// rely on the batches skipping what fails).
    ///
    /// # Errors
    /// [`DataError::MissingImage`] as [`LabelledImages::check_images`], then
    /// [`DataError::BadImage`] naming the line and file of the first image that does not decode.
    pub fn check_decodable(&self, source: &impl ImageSource, pre: &crate::images::Preprocess) -> Result<(), DataError> {
        self.check_images(source)?;
        for (i, name) in self.images.iter().enumerate() {
            let bytes = source.read(name).map_err(|reason| self.bad_image(i, reason))?;
            crate::images::decode_image(&bytes, pre).map_err(|reason| self.bad_image(i, reason))?;
        }
        Ok(())
    }

    fn bad_image(&self, row: usize, reason: String) -> DataError {
        DataError::BadImage { file: self.source.clone(), line: self.lines[row], image: self.images[row].clone(), reason }
    }

    /// Check that every listed image can be read from `source` (without decoding).
    ///
    /// # Errors
    /// [`DataError::MissingImage`] naming the line of the first missing image and the count.
    pub fn check_images(&self, source: &impl ImageSource) -> Result<(), DataError> {
        let missing: Vec<usize> = (0..self.len()).filter(|&i| source.read(&self.images[i]).is_err()).collect();
        match missing.first() {
            None => Ok(()),
            Some(&i) => Err(DataError::MissingImage {
                file: self.source.clone(),
                line: self.lines[i],
                image: self.images[i].clone(),
                missing: missing.len(),
                total: self.len(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::MemorySource;

    fn cols() -> OwnColumns {
        OwnColumns { image: "file".into(), target: "smiling".into(), attribute: "hat".into() }
    }

    #[test]
    fn reads_chosen_columns_in_any_order_and_label_style() {
        let csv = "hat,file,notes,smiling\nyes,a.png,\"x, y\",1\nno,b.png,,-1\nTRUE,c.jpg,z,false\n";
        let l = parse_own_csv(csv.as_bytes(), "labels.csv", &cols()).expect("valid");
        assert_eq!(l.images, vec!["a.png", "b.png", "c.jpg"]);
        assert_eq!((l.target, l.attribute, l.lines), (vec![1, 0, 0], vec![1, 0, 1], vec![2, 3, 4]));
    }

    #[test]
    fn errors_name_file_line_and_remedy() {
        let e = parse_own_csv(b"file,smiling\na.png,1\n", "l.csv", &cols()).expect_err("no hat column");
        assert_eq!(e.to_string(), "l.csv has no column \"hat\"; it has: file, smiling");
        let e = parse_own_csv(b"file,smiling,hat\na.png,1,0\nb.png,maybe,1\n", "l.csv", &cols()).expect_err("bad label");
        assert!(matches!(&e, DataError::Parse { line: 3, .. }) && e.to_string().contains("\"maybe\""), "{e}");
        let e = parse_own_csv(b"file,smiling,hat\na.png,1,0\nb.png,0\n", "l.csv", &cols()).expect_err("short row");
        assert!(matches!(&e, DataError::Parse { line: 3, .. }), "{e}");
        let e = parse_own_csv(b"file,smiling,hat\na.png,1,0\nb.png,1,1\n", "l.csv", &cols()).expect_err("one class");
        assert!(matches!(&e, DataError::OneClass { value: 1, .. }) && e.to_string().contains("\"smiling\""), "{e}");
        let l = parse_own_csv(b"file,smiling,hat\na.png,1,0\nb.png,0,1\nc.png,0,1\n", "l.csv", &cols()).expect("valid");
        let mut src = MemorySource::default();
        src.insert("a.png", vec![1]);
        let e = l.check_images(&src).expect_err("b and c missing");
        assert!(matches!(&e, DataError::MissingImage { line: 3, missing: 2, total: 3, .. }), "{e}");
        assert!(e.to_string().starts_with("l.csv, line 3: image \"b.png\""), "{e}");
    }
}

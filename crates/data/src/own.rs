//! A user's own data: a folder of images plus a CSV naming, per row, the image file, the target
//! and the protected attribute, in columns the user chooses.
//!
//! The CSV is read by the `csv` crate (RFC 4180), with the separator (comma, semicolon, tab) sniffed
//! from the header, a BOM dropped and CRLF accepted; the rules are in `docs/METHODS.md#own-data`.
//! Labels may be written `1`/`0`, `1`/`-1` (CelebA style), `true`/`false` or `yes`/`no`. Every
//! problem is reported with the file and line: a missing or doubled column, a row with the wrong
//! number of fields, an unclosed quote, bytes that are not UTF-8, a value that is not a label, a
//! column with one class only, an image the folder lacks.

use serde::{Deserialize, Serialize};

use crate::celeba::{DataError, clip, one_class_check};
use crate::table::read_table;
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
/// The file is read by the `csv` crate (RFC 4180: quoted fields may hold separators, quotes as
/// `""` and line breaks), after these rules (`docs/METHODS.md#own-data`):
///
/// * UTF-8 only; a byte-order mark is dropped; line ends may be LF or CRLF.
/// * The separator is the first of comma, semicolon and tab whose split of the header line holds
///   all three chosen columns; if none does, the one giving the most header fields (so the
///   "no column" message lists the real names).
/// * Fields are trimmed; rows that are empty or hold only separators (a spreadsheet's trailing
///   `,,` rows) are skipped.
///
/// # Errors
/// [`DataError`] with file and line for every malformed row (ragged, unclosed quote, not UTF-8,
/// a label that is not one of the accepted spellings, a duplicate image), a missing or doubled
/// column, an empty file, or a label column with one class only.
pub fn parse_own_csv(bytes: &[u8], file: &str, columns: &OwnColumns) -> Result<LabelledImages, DataError> {
    let err = |line: usize, message: String| DataError::Parse { file: file.into(), line, message };
    let table = read_table(bytes, file, [&columns.image, &columns.target, &columns.attribute], "the image, target and attribute columns")?;
    let [ci, ct, ca] = table.columns;
    let mut seen = std::collections::HashMap::new();
    let mut out = LabelledImages { source: file.to_owned(), images: Vec::new(), lines: Vec::new(), target: Vec::new(), attribute: Vec::new() };
    for (line, record) in &table.rows {
        let line = *line;
        let image = record[ci].to_owned();
        if image.is_empty() {
            return Err(err(line, format!("the {:?} column is empty; name an image file", columns.image)));
        }
        if let Some(first) = seen.insert(image.clone(), line) {
            return Err(err(line, format!("image {:?} is listed twice (first on line {first}); remove the duplicate row", clip(&image))));
        }
        let label = |col: usize, name: &str| {
            parse_label(&record[col]).ok_or_else(|| {
                err(
                    line,
                    if record[col].is_empty() {
                        format!("column {name:?} is empty; write 1/0, 1/-1, true/false or yes/no")
                    } else {
                        format!("column {name:?} has {:?}; write 1/0, 1/-1, true/false or yes/no", clip(&record[col]))
                    },
                )
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

    /// Check that the images of `rows` (those a run's splits picked) read and decode, through
    /// [`ImageSource::read_async`]; only these are read, whatever the size of the folder.
    ///
    /// # Errors
    /// [`DataError::BadImage`] naming the line and file of the first of `rows` that does not read
    /// or decode.
    ///
    /// # Panics
    /// If a row is out of range.
    pub async fn check_rows_decode(&self, rows: &[usize], source: &(impl ImageSource + ?Sized), pre: &crate::images::Preprocess) -> Result<(), DataError> {
        for &row in rows {
            let bytes = source.read_async(&self.images[row]).await.map_err(|reason| self.bad_image(row, reason))?;
            crate::images::decode_image(&bytes, pre).map_err(|reason| self.bad_image(row, reason))?;
        }
        Ok(())
    }

    pub(crate) fn bad_image(&self, row: usize, reason: String) -> DataError {
        DataError::BadImage { file: self.source.clone(), line: self.lines[row], image: self.images[row].clone(), reason }
    }

    /// Check that every listed image is in `source`, by name ([`ImageSource::contains`]: a folder
    /// is asked whether each file exists; nothing is read or decoded, so this is cheap for all of
    /// CelebA's 202,599).
    ///
    /// # Errors
    /// [`DataError::MissingImage`] naming the line of the first missing image and the count.
    pub fn check_images(&self, source: &(impl ImageSource + ?Sized)) -> Result<(), DataError> {
        let missing: Vec<usize> = (0..self.len()).filter(|&i| !source.contains(&self.images[i])).collect();
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

    /// A source that only answers by name: reading fails the test.
    struct NamesOnly(std::collections::HashSet<String>);

    impl ImageSource for NamesOnly {
        fn read(&self, name: &str) -> Result<Vec<u8>, String> {
            panic!("{name} was read; checking the listed images must not read them")
        }
        fn contains(&self, name: &str) -> bool {
            self.0.contains(name)
        }
    }

    #[test]
    fn checking_the_listed_images_reads_none_and_a_folder_answers_by_name() {
        let l = parse_own_csv(b"file,smiling,hat
a.png,1,0
b.png,0,1
c.png,0,1
", "l.csv", &cols()).expect("valid");
        let names = NamesOnly(["a.png", "b.png", "c.png"].map(String::from).into());
        l.check_images(&names).expect("all three are there");
        let e = l.check_images(&NamesOnly(["a.png".to_owned()].into())).expect_err("b and c missing");
        assert!(matches!(&e, DataError::MissingImage { line: 3, missing: 2, .. }), "{e}");
        // A folder is asked whether the file exists; a folder of that name is not an image.
        let dir = std::env::temp_dir().join(format!("biaslens-contains-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub.png")).expect("temp dir");
        std::fs::write(dir.join("a.png"), b"x").expect("write");
        let folder = crate::DirSource { root: dir.clone() };
        assert!(folder.contains("a.png") && !folder.contains("b.png") && !folder.contains("sub.png"));
        // Only the rows asked for are decoded.
        let mut src = MemorySource::default();
        src.insert("a.png", b"not an image".to_vec());
        let e = pollster_free_block_on(l.check_rows_decode(&[0], &src, &crate::images::Preprocess::default())).expect_err("a.png is text");
        assert!(matches!(&e, DataError::BadImage { line: 2, .. }), "{e}");
        std::fs::remove_dir_all(dir).expect("clean up");
    }

    /// Polls a future that never waits (the in-memory source's reads are ready at once).
    fn pollster_free_block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("an in-memory read waited"),
        }
    }

    fn default_cols(bytes: &[u8]) -> Result<LabelledImages, DataError> {
        parse_own_csv(bytes, "l.csv", &OwnColumns::default())
    }

    #[test]
    fn spreadsheet_dialects_read_the_same_rows() {
        // One table, written as the spreadsheets and scripts people use write it.
        let plain = default_cols(b"image,target,attribute\na.png,1,0\nb.png,0,1\n").expect("valid");
        let dialects: [(&str, &[u8]); 7] = [
            ("CRLF, semicolon, BOM", b"\xEF\xBB\xBFimage;target;attribute\r\na.png;1;0\r\nb.png;0;1\r\n"),
            ("CRLF", b"image,target,attribute\r\na.png,1,0\r\nb.png,0,1\r\n"),
            ("BOM", b"\xEF\xBB\xBFimage,target,attribute\na.png,1,0\nb.png,0,1\n"),
            ("semicolon", b"image;target;attribute\r\na.png;1;0\r\nb.png;0;1\r\n"),
            ("tab", b"image\ttarget\tattribute\na.png\t1\t0\nb.png\t0\t1\n"),
            ("quoted", b"\"image\",\"target\",\"attribute\"\n\"a.png\",\"1\",\"0\"\n\"b.png\",\"0\",\"1\"\n"),
            ("no final newline, trailing empty rows", b"image,target,attribute\na.png,1,0\n\n,,\nb.png,0,1"),
        ];
        for (name, bytes) in dialects {
            let l = default_cols(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((&l.images, &l.target, &l.attribute), (&plain.images, &plain.target, &plain.attribute), "{name}");
            // Line numbers count physical lines, whatever ends them (row b is on line 5 after the
            // blank and `,,` rows).
            assert_eq!(l.lines, if name.starts_with("no final") { vec![2, 5] } else { vec![2, 3] }, "{name}");
        }
    }

    #[test]
    fn quoted_separators_quotes_and_line_breaks_stay_in_their_field() {
        // A file name with a comma, one with a quote, and a notes field spanning two lines: the
        // row after it is reported on its own physical line (5).
        let csv = "image,notes,target,attribute\n\"a, b.png\",x,1,0\n\"say \"\"cheese\"\".png\",\"two\nlines\",0,1\nc.png,,maybe,1\n";
        let e = default_cols(csv.as_bytes()).expect_err("bad label on line 5");
        assert!(matches!(&e, DataError::Parse { line: 5, .. }) && e.to_string().contains("\"maybe\""), "{e}");
        let l = default_cols(csv.replace("maybe", "0").as_bytes()).expect("valid");
        assert_eq!(l.images, vec!["a, b.png", "say \"cheese\".png", "c.png"]);
        assert_eq!(l.lines, vec![2, 3, 5]);
        // A semicolon file whose fields hold commas (decimal commas) is still split at `;`.
        let l = default_cols("image;target;attribute;score\na.png;1;0;0,5\nb.png;0;1;1,25\n".as_bytes()).expect("valid");
        assert_eq!(l.images, vec!["a.png", "b.png"]);
    }

    #[test]
    fn oddities_that_cannot_be_read_are_refused_with_line_and_remedy() {
        let cases: [(&str, &[u8], usize, &str); 6] = [
            ("unclosed quote", b"image,target,attribute\na.png,1,0\n\"b.png,0,1\nc.png,1,1\n", 3, "quoted field is not closed"),
            ("not UTF-8", b"image,target,attribute\na.png,1,0\nb\xE9.png,0,1\n", 3, "not UTF-8"),
            ("ragged", b"image;target;attribute\na.png;1;0\nb.png;0;1;x\n", 3, "extra semicolon"),
            ("doubled header", b"image,target,attribute,target\na.png,1,0,1\nb.png,0,1,0\n", 1, "column \"target\" twice (columns 2 and 4)"),
            ("empty", b"", 1, "the file is empty"),
            ("BOM only", b"\xEF\xBB\xBF\r\n", 1, "the file is empty"),
        ];
        for (name, bytes, line, text) in cases {
            let e = default_cols(bytes).expect_err(name);
            assert!(matches!(&e, DataError::Parse { line: l, .. } if *l == line) && e.to_string().contains(text), "{name}: {e}");
        }
        // A separator that splits nothing: the message lists the header as one column.
        let e = default_cols(b"image|target|attribute\na.png|1|0\n").expect_err("pipes");
        assert!(matches!(&e, DataError::NoColumn { available, .. } if available == "image|target|attribute"), "{e}");
    }
}

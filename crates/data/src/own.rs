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

/// The separators tried, in order of preference: comma (RFC 4180), semicolon (what spreadsheets
/// write where the comma is the decimal mark), tab.
const SEPARATORS: [u8; 3] = [b',', b';', b'\t'];

fn separator_name(sep: u8) -> &'static str {
    match sep {
        b';' => "semicolon",
        b'\t' => "tab",
        _ => "comma",
    }
}

/// The header's fields when split at `sep` (RFC 4180 quoting), or `None` if it does not parse.
fn header_with(text: &str, sep: u8) -> Option<Vec<String>> {
    let mut r = csv::ReaderBuilder::new().delimiter(sep).has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut rec = csv::StringRecord::new();
    match r.read_record(&mut rec) {
        Ok(true) => Some(rec.iter().map(str::to_owned).collect()),
        _ => None,
    }
}

/// Where the wanted columns are: exact name first, else ignoring ASCII case. A name the header
/// holds twice is ambiguous and refused.
fn column_index(header: &[String], name: &str, file: &str) -> Result<usize, DataError> {
    let hits = |f: &dyn Fn(&String) -> bool| header.iter().enumerate().filter(|(_, h)| f(h)).map(|(i, _)| i).collect::<Vec<_>>();
    let exact = hits(&|h| h == name);
    let found = if exact.is_empty() { hits(&|h| h.eq_ignore_ascii_case(name)) } else { exact };
    match found.as_slice() {
        [i] => Ok(*i),
        [] => Err(DataError::NoColumn { file: file.to_owned(), name: name.to_owned(), available: header.join(", ") }),
        [a, b, ..] => Err(DataError::Parse {
            file: file.into(),
            line: 1,
            message: format!("the header names column {name:?} twice (columns {} and {}); rename or remove one", a + 1, b + 1),
        }),
    }
}

/// The line on which a quoted field opens and is never closed, following the CSV quoting rules
/// the `csv` crate applies (a `"` opens a quoted field only at the start of a field, `""` inside
/// is an escaped quote). The `csv` crate reads such a field to the end of the file without an
/// error, which would hide every later row in one "field".
fn unclosed_quote(text: &str, sep: u8) -> Option<usize> {
    let sep = char::from(sep);
    let (mut line, mut opened_on) = (1usize, 0usize);
    let (mut quoted, mut at_start) = (false, true);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
        }
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    quoted = false;
                }
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                opened_on = line;
                at_start = false;
            }
            c if c == sep || c == '\n' || c == '\r' => at_start = true,
            ' ' | '\t' if at_start => {}
            _ => at_start = false,
        }
    }
    quoted.then_some(opened_on)
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
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        err(line, format!("byte {} is not UTF-8 text; save the CSV as UTF-8 (in spreadsheets: \"CSV UTF-8\")", e.valid_up_to()))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(err(1, "the file is empty; write a header line naming the image, target and attribute columns, then one row per image".into()));
    }
    let wanted = [&columns.image, &columns.target, &columns.attribute];
    let headers: Vec<(u8, Vec<String>)> = SEPARATORS.iter().filter_map(|&s| header_with(text, s).map(|h| (s, h))).collect();
    let fits = |h: &[String]| wanted.iter().all(|w| h.iter().any(|x| x.eq_ignore_ascii_case(w)));
    let (sep, header) = headers
        .iter()
        .find(|(_, h)| fits(h))
        .or_else(|| headers.iter().rev().max_by_key(|(_, h)| h.len()))
        .cloned()
        .ok_or_else(|| err(1, "the header line cannot be read as CSV".into()))?;
    if let Some(line) = unclosed_quote(text, sep) {
        return Err(err(line, "a quoted field opens here and is never closed; add the closing \" (a quote inside a quoted field is written \"\")".into()));
    }
    let (ci, ct, ca) = (column_index(&header, &columns.image, file)?, column_index(&header, &columns.target, file)?, column_index(&header, &columns.attribute, file)?);
    let mut reader = csv::ReaderBuilder::new().delimiter(sep).has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut seen = std::collections::HashMap::new();
    let mut out = LabelledImages { source: file.to_owned(), images: Vec::new(), lines: Vec::new(), target: Vec::new(), attribute: Vec::new() };
    let mut record = csv::StringRecord::new();
    // The line of a record is counted here from its byte offset: the `csv` crate's own line count
    // misses the `\n` of CRLF line ends (a CRLF file's third line was reported as line 2), and its
    // offset of a record after a CRLF points at that `\n`, so line ends there are skipped first.
    let (mut counted_to, mut lines_before) = (0usize, 0usize);
    let mut line_at = |byte: u64| {
        let mut byte = usize::try_from(byte).unwrap_or(usize::MAX).min(text.len());
        while matches!(text.as_bytes().get(byte), Some(b'\r' | b'\n')) {
            byte += 1;
        }
        if byte >= counted_to {
            lines_before += text.as_bytes()[counted_to..byte].iter().filter(|&&b| b == b'\n').count();
            counted_to = byte;
        }
        1 + lines_before
    };
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            // Only I/O or UTF-8 errors can reach here (the text is UTF-8 and in memory, rows may be
            // ragged); report them with the line anyway rather than trusting that.
            Err(e) => return Err(err(e.position().map_or(0, |p| line_at(p.byte())), format!("unreadable CSV: {e}"))),
        }
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != header.len() {
            return Err(err(
                line,
                format!(
                    "the row has {} fields but the header has {}; check for a missing or extra {} (a field holding one is quoted: \"a, b\")",
                    record.len(),
                    header.len(),
                    separator_name(sep)
                ),
            ));
        }
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
            ("unclosed quote", b"image,target,attribute\na.png,1,0\n\"b.png,0,1\nc.png,1,1\n", 3, "never closed"),
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

//! CelebA as distributed: `list_attr_celeba.txt` (or Kaggle's `list_attr_celeba.csv`),
//! `list_eval_partition.txt` (or `.csv`), and `img_align_celeba/*.jpg`, all read from bytes.
//!
//! The authors read Kaggle's CSV with −1 → 0 in file order (`docs/METHODS.md#celeba`); any
//! of the 40 attributes can be the target or the protected attribute. Splits are made by
//! [`crate::splits`] (the authors' contiguous blocks, or the official partition), images are
//! decoded lazily by [`crate::images`].

use serde::{Deserialize, Serialize};

use crate::images::LabelledImages;

/// The 40 CelebA attributes, in the order of `list_attr_celeba.txt`.
pub const CELEBA_ATTRIBUTES: [&str; 40] = [
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
];

/// A problem with a data file, located by file and line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// A malformed line.
    #[error("{file}, line {line}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong and what to do.
        message: String,
    },
    /// An attribute or column that does not exist.
    #[error("{file} has no column {name:?}; it has: {available}")]
    NoColumn {
        /// The file.
        file: String,
        /// The name asked for.
        name: String,
        /// The names it has, comma-separated.
        available: String,
    },
    /// A label column with one class only.
    #[error("column {column:?} of {file} has only the value {value} in all {rows} rows; pick a column with both classes")]
    OneClass {
        /// The file.
        file: String,
        /// The column.
        column: String,
        /// Its only value.
        value: u8,
        /// Number of rows.
        rows: usize,
    },
    /// Images named by the label file that the image folder lacks.
    #[error("{file}, line {line}: image {image:?} is not in the image folder ({missing} of {total} listed images are missing); check the folder or remove those rows")]
    MissingImage {
        /// The label file.
        file: String,
        /// Line of the first missing image.
        line: usize,
        /// The first missing image.
        image: String,
        /// How many are missing.
        missing: usize,
        /// How many the file lists.
        total: usize,
    },
    /// The file has no data rows.
    #[error("{0} has no data rows")]
    Empty(String),
    /// An image file that cannot be decoded.
    #[error("{file}, line {line}: image {image:?} {reason}; re-save it as JPEG or PNG, or remove the row")]
    BadImage {
        /// The label file.
        file: String,
        /// Line of the row naming the image.
        line: usize,
        /// The image.
        image: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two files that should describe the same images do not.
    #[error("{file}: {message}")]
    Mismatch {
        /// The file that lacks something.
        file: String,
        /// What is wrong and what to do.
        message: String,
    },
}

fn parse_err(file: &str, line: usize, message: impl Into<String>) -> DataError {
    DataError::Parse { file: file.to_owned(), line, message: message.into() }
}

/// CelebA's attribute table: one row per image, one 0/1 column per attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeTable {
    /// The file it was read from.
    pub file: String,
    /// Attribute names, in file order.
    pub names: Vec<String>,
    /// Image file names, in file order.
    pub images: Vec<String>,
    /// The 1-based line of each row.
    pub lines: Vec<usize>,
    /// `rows × names.len()` values, −1 → 0, 1 → 1.
    values: Vec<u8>,
}

fn parse_pm1(file: &str, line: usize, name: &str, v: &str) -> Result<u8, DataError> {
    match v.trim() {
        "1" => Ok(1),
        "-1" | "0" => Ok(0),
        other => Err(parse_err(file, line, format!("attribute {name} has value {:?}; expected 1 or -1", clip(other)))),
    }
}

impl AttributeTable {
    /// Read `list_attr_celeba.txt` or Kaggle's `list_attr_celeba.csv`, recognised by content
    /// (the text file starts with the image count, the CSV with `image_id,`).
    ///
    /// # Errors
    /// [`DataError::Parse`] with the line of the first malformed row.
    pub fn parse(bytes: &[u8], file: &str) -> Result<Self, DataError> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            parse_err(
                file,
                1 + count_lines(&bytes[..e.valid_up_to()]),
                format!("byte {} is not UTF-8 text; is this really the attribute list? Save it as UTF-8 text", e.valid_up_to()),
            )
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let first = text.lines().next().unwrap_or("");
        // Kaggle's CSV as Kaggle wrote it (commas), or re-saved by a spreadsheet with semicolons.
        if first.contains(',') || first.contains(';') { Self::parse_csv(text, file) } else { Self::parse_txt(text, file) }
    }

    fn parse_txt(text: &str, file: &str) -> Result<Self, DataError> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let (_, count_line) = lines.next().ok_or_else(|| DataError::Empty(file.to_owned()))?;
        let count: usize = count_line.trim().parse().map_err(|_| {
            parse_err(
                file,
                1,
                format!(
                    "expected the number of images, found {:?}; list_attr_celeba.txt starts with the image count on line 1 and the attribute names on line 2",
                    clip(count_line.trim())
                ),
            )
        })?;
        let (_, header) = lines.next().ok_or_else(|| parse_err(file, 2, "missing the line of attribute names"))?;
        let names: Vec<String> = header.split_whitespace().map(str::to_owned).collect();
        if names.is_empty() {
            return Err(parse_err(file, 2, "the line of attribute names is empty"));
        }
        let mut table = Self { file: file.to_owned(), names, images: Vec::with_capacity(count.min(1 << 20)), lines: Vec::with_capacity(count.min(1 << 20)), values: Vec::new() };
        let mut seen = std::collections::HashMap::new();
        for (line, l) in lines {
            if l.trim().is_empty() {
                continue;
            }
            let mut fields = l.split_whitespace();
            let image = fields.next().unwrap_or_default();
            table.push_row(file, line, image, fields.collect(), &mut seen)?;
        }
        if table.images.len() != count {
            return Err(parse_err(file, 1, format!("the header announces {count} images but the file lists {}; the file may be truncated", table.images.len())));
        }
        Ok(table)
    }

    /// Kaggle's CSV, read by the `csv` crate (RFC 4180 quoting, CRLF; the separator that splits
    /// the header into the most fields, so a spreadsheet's semicolons work too).
    fn parse_csv(text: &str, file: &str) -> Result<Self, DataError> {
        let sep = crate::table::sniff_most_fields(text);
        let mut lines = crate::table::records(text, sep, file)?.into_iter();
        let (_, header) = lines.next().ok_or_else(|| DataError::Empty(file.to_owned()))?;
        let mut cols = header.iter().map(str::to_owned);
        let first = cols.next().unwrap_or_default(); // image_id
        if CELEBA_ATTRIBUTES.iter().any(|a| a.eq_ignore_ascii_case(&first)) || first.is_empty() {
            return Err(parse_err(
                file,
                1,
                format!("the first column is {first:?}, not the image name; the header must start with image_id (as in Kaggle's list_attr_celeba.csv)"),
            ));
        }
        let names: Vec<String> = cols.collect();
        if let Some(k) = names.iter().position(String::is_empty) {
            return Err(parse_err(file, 1, format!("column {} of the header has no name; name it or remove it", k + 2)));
        }
        let mut table = Self { file: file.to_owned(), names, images: Vec::new(), lines: Vec::new(), values: Vec::new() };
        let mut seen = std::collections::HashMap::new();
        for (line, fields) in lines {
            let image = fields.get(0).unwrap_or_default();
            table.push_row(file, line, image, fields.iter().skip(1).collect(), &mut seen)?;
        }
        Ok(table)
    }

    fn push_row(
        &mut self,
        file: &str,
        line: usize,
        image: &str,
        values: Vec<&str>,
        seen: &mut std::collections::HashMap<String, usize>,
    ) -> Result<(), DataError> {
        let image = image.trim();
        if values.len() != self.names.len() {
            return Err(parse_err(
                file,
                line,
                format!(
                    "{} has {} attribute values but the header names {}; the row is short or long: complete it or remove it",
                    clip(image),
                    values.len(),
                    self.names.len()
                ),
            ));
        }
        if let Some(first) = seen.insert(image.to_owned(), line) {
            return Err(parse_err(file, line, format!("image {image:?} is listed twice (first on line {first}); remove the duplicate row")));
        }
        for (name, v) in self.names.iter().zip(values) {
            self.values.push(parse_pm1(file, line, name, v)?);
        }
        self.images.push(image.to_owned());
        self.lines.push(line);
        Ok(())
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Index of attribute `name` (exact, else ignoring case and `_`/space).
    ///
    /// # Errors
    /// [`DataError::NoColumn`] listing the attributes there are.
    pub fn attribute_index(&self, name: &str) -> Result<usize, DataError> {
        let norm = |s: &str| s.to_ascii_lowercase().replace([' ', '-'], "_");
        self.names
            .iter()
            .position(|n| n == name)
            .or_else(|| self.names.iter().position(|n| norm(n) == norm(name)))
            .ok_or_else(|| DataError::NoColumn { file: self.file.clone(), name: name.to_owned(), available: self.names.join(", ") })
    }

    /// The 0/1 column of attribute `name`.
    ///
    /// # Errors
    /// [`DataError::NoColumn`] for an unknown name.
    pub fn column(&self, name: &str) -> Result<Vec<u8>, DataError> {
        let k = self.attribute_index(name)?;
        let n = self.names.len();
        Ok(self.values.iter().skip(k).step_by(n).copied().collect())
    }

    /// The images with `target` and `protected` attributes as labels.
    ///
    /// # Errors
    /// [`DataError::NoColumn`] for an unknown name, [`DataError::OneClass`] for a column with a
    /// single value.
    pub fn labelled(&self, target: &str, protected: &str) -> Result<LabelledImages, DataError> {
        let t = self.column(target)?;
        let a = self.column(protected)?;
        for (name, col) in [(target, &t), (protected, &a)] {
            one_class_check(&self.file, name, col)?;
        }
        Ok(LabelledImages { source: self.file.clone(), images: self.images.clone(), lines: self.lines.clone(), target: t, attribute: a })
    }
}

/// [`DataError::OneClass`] if `col` holds a single value.
pub(crate) fn one_class_check(file: &str, name: &str, col: &[u8]) -> Result<(), DataError> {
    match col.first() {
        None => Err(DataError::Empty(file.to_owned())),
        Some(&v) if col.iter().all(|&x| x == v) => {
            Err(DataError::OneClass { file: file.to_owned(), column: name.to_owned(), value: v, rows: col.len() })
        }
        Some(_) => Ok(()),
    }
}

/// At most 40 characters of `s` for a message (a binary file read as text can have huge "fields").
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Read `list_eval_partition.txt` (`000001.jpg 0`) or Kaggle's `list_eval_partition.csv`
/// (`image_id,partition`) and align it with `images` (0 train, 1 validation, 2 test).
///
/// # Errors
/// [`DataError::Parse`] for a malformed line or value, [`DataError::Mismatch`] when an image
/// of `images` has no partition.
pub fn parse_partition(bytes: &[u8], file: &str, images: &[String]) -> Result<Vec<u8>, DataError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        parse_err(
            file,
            1 + count_lines(&bytes[..e.valid_up_to()]),
            format!("byte {} is not UTF-8 text; is this really list_eval_partition.txt? Save it as UTF-8 text", e.valid_up_to()),
        )
    })?;
    let mut by_name = std::collections::HashMap::with_capacity(images.len());
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        let l = l.trim().trim_start_matches('\u{feff}');
        if l.is_empty() || (line == 1 && l.starts_with("image_id")) {
            continue;
        }
        let mut fields = l.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty());
        let (Some(name), Some(v), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(parse_err(
                file,
                line,
                format!(
                    "expected \"<image> <0|1|2>\" (the format of CelebA's list_eval_partition.txt, or image_id,partition in Kaggle's .csv), found {:?}; is this the partition file?",
                    clip(l)
                ),
            ));
        };
        let v = match v {
            "0" => 0u8,
            "1" => 1,
            "2" => 2,
            other => return Err(parse_err(file, line, format!("partition {:?} of {} is not 0, 1 or 2", clip(other), clip(name)))),
        };
        by_name.insert(name.to_owned(), v);
    }
    images
        .iter()
        .map(|img| {
            by_name.get(img).copied().ok_or_else(|| DataError::Mismatch {
                file: file.to_owned(),
                message: format!("no partition for image {img}; use the partition file that came with the attribute file"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TXT: &str = "3\nSmiling Wearing_Necktie Male \n000001.jpg  1 -1  1\n000002.jpg -1  1 -1\n000003.jpg -1 -1  1\n";
    const CSV: &str = "image_id,Smiling,Wearing_Necktie,Male\n000001.jpg,1,-1,1\n000002.jpg,-1,1,-1\n000003.jpg,-1,-1,1\n";

    #[test]
    fn txt_and_kaggle_csv_read_the_same() {
        let a = AttributeTable::parse(TXT.as_bytes(), "list_attr_celeba.txt").expect("valid");
        let b = AttributeTable::parse(CSV.as_bytes(), "list_attr_celeba.csv").expect("valid");
        assert_eq!(a.names, b.names);
        assert_eq!(a.images, vec!["000001.jpg", "000002.jpg", "000003.jpg"]);
        for name in ["Smiling", "Wearing_Necktie", "Male"] {
            assert_eq!(a.column(name).expect("exists"), b.column(name).expect("exists"));
        }
        assert_eq!(a.column("Wearing_Necktie").expect("exists"), vec![0, 1, 0]);
        assert_eq!(a.column("wearing necktie").expect("case-insensitive"), vec![0, 1, 0]);
        let l = a.labelled("Smiling", "Wearing_Necktie").expect("both classes");
        assert_eq!((l.target, l.attribute, l.lines), (vec![1, 0, 0], vec![0, 1, 0], vec![3, 4, 5]));
        assert_eq!(b.lines, vec![2, 3, 4]);
    }

    #[test]
    fn crlf_and_bom_read_as_plain_text() {
        // Windows line ends and a byte-order mark (a list re-saved by an editor) change nothing,
        // in the whitespace-separated list, Kaggle's CSV and the partition file.
        for (name, plain) in [("list_attr_celeba.txt", TXT), ("list_attr_celeba.csv", CSV)] {
            let edited = format!("\u{feff}{}", plain.replace('\n', "\r\n"));
            let a = AttributeTable::parse(plain.as_bytes(), name).expect("valid");
            let b = AttributeTable::parse(edited.as_bytes(), name).expect("valid with CRLF and BOM");
            assert_eq!((&a.names, &a.images, &a.lines, &a.values), (&b.names, &b.images, &b.lines, &b.values), "{name}");
        }
        let images: Vec<String> = ["000001.jpg", "000002.jpg"].map(String::from).to_vec();
        let p = parse_partition("\u{feff}000001.jpg 0\r\n000002.jpg 2\r\n".as_bytes(), "p.txt", &images).expect("valid");
        assert_eq!(p, vec![0, 2]);
    }

    #[test]
    fn parser_errors_carry_file_and_line() {
        let bad = TXT.replace("000002.jpg -1  1 -1", "000002.jpg -1  2 -1");
        let e = AttributeTable::parse(bad.as_bytes(), "list_attr_celeba.txt").expect_err("bad value");
        assert_eq!(e.to_string(), "list_attr_celeba.txt, line 4: attribute Wearing_Necktie has value \"2\"; expected 1 or -1");
        let short = CSV.replace("000003.jpg,-1,-1,1", "000003.jpg,-1,-1");
        let e = AttributeTable::parse(short.as_bytes(), "a.csv").expect_err("short row");
        assert!(matches!(&e, DataError::Parse { line: 4, .. }), "{e}");
        let e = AttributeTable::parse(b"three\nA B\n", "x.txt").expect_err("bad count");
        assert!(matches!(&e, DataError::Parse { line: 1, .. }), "{e}");
        let truncated = "5\nSmiling Male\n000001.jpg 1 -1\n";
        assert!(AttributeTable::parse(truncated.as_bytes(), "t.txt").expect_err("truncated").to_string().contains("announces 5"));
        let t = AttributeTable::parse(TXT.as_bytes(), "list_attr_celeba.txt").expect("valid");
        let e = t.column("Smiles").expect_err("unknown");
        assert!(e.to_string().contains("Smiling, Wearing_Necktie, Male"), "{e}");
        let one = TXT.replace("000002.jpg -1  1 -1", "000002.jpg -1 -1 -1");
        let t = AttributeTable::parse(one.as_bytes(), "f.txt").expect("valid");
        assert!(matches!(t.labelled("Smiling", "Wearing_Necktie"), Err(DataError::OneClass { value: 0, rows: 3, .. })));
    }

    #[test]
    fn duplicates_and_headers_without_image_names_are_refused() {
        let dup = TXT.replace("000003.jpg", "000001.jpg");
        let e = AttributeTable::parse(dup.as_bytes(), "l.txt").expect_err("duplicate");
        assert_eq!(e.to_string(), "l.txt, line 5: image \"000001.jpg\" is listed twice (first on line 3); remove the duplicate row");
        let e = AttributeTable::parse(b"Smiling,Male\n1,-1\n", "l.csv").expect_err("no image column");
        assert!(matches!(&e, DataError::Parse { line: 1, .. }) && e.to_string().contains("image_id"), "{e}");
        let e = AttributeTable::parse(b"image_id,Smiling,,Male\na.jpg,1,1,-1\n", "l.csv").expect_err("unnamed column");
        assert!(e.to_string().contains("column 3 of the header has no name"), "{e}");
        // A binary "field" is clipped in the message.
        let long = format!("2\nSmiling\na.jpg {}\n", "x".repeat(5000));
        let e = AttributeTable::parse(long.as_bytes(), "l.txt").expect_err("bad value");
        assert!(e.to_string().len() < 200, "{e}");
    }

    #[test]
    fn partition_aligns_by_image_name() {
        let images: Vec<String> = ["000001.jpg", "000002.jpg", "000003.jpg"].map(String::from).to_vec();
        let p = parse_partition(b"000003.jpg 2\n000001.jpg 0\n000002.jpg 1\n", "list_eval_partition.txt", &images).expect("valid");
        assert_eq!(p, vec![0, 1, 2]);
        let p = parse_partition(b"image_id,partition\n000001.jpg,0\n000002.jpg,0\n000003.jpg,1\n", "p.csv", &images).expect("valid");
        assert_eq!(p, vec![0, 0, 1]);
        let e = parse_partition(b"000001.jpg 0\n000002.jpg 7\n", "p.txt", &images).expect_err("bad value");
        assert!(matches!(e, DataError::Parse { line: 2, .. }), "{e}");
    }

    #[test]
    fn kaggle_csv_resaved_by_a_spreadsheet_reads_the_same() {
        // Semicolons, quoted fields and CRLF, as a spreadsheet in a comma-decimal locale saves it.
        let a = AttributeTable::parse(CSV.as_bytes(), "a.csv").expect("valid");
        let resaved = CSV.replace(',', ";").replace("000002.jpg", "\"000002.jpg\"").replace('\n', "\r\n");
        let b = AttributeTable::parse(resaved.as_bytes(), "b.csv").expect("valid");
        assert_eq!((&a.names, &a.images, &a.lines, &a.values), (&b.names, &b.images, &b.lines, &b.values));
        let e = AttributeTable::parse(b"image_id,Smiling\n\"a.jpg,1\nb.jpg,-1\n", "o.csv").expect_err("open quote");
        assert!(matches!(&e, DataError::Parse { line: 2, .. }) && e.to_string().contains("quoted field is not closed"), "{e}");
    }
}

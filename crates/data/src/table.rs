//! Label-style CSV tables (own labels, per-image boxes) read by the `csv` crate with the rules of
//! `docs/METHODS.md#own-data`: UTF-8 (BOM dropped), LF or CRLF, the separator sniffed from the
//! header (comma, semicolon, tab), RFC 4180 quoting, fields trimmed, blank rows skipped, and every
//! problem refused with the file, the physical line and what to do.

use crate::celeba::DataError;

/// The separators tried, in order of preference: comma (RFC 4180), semicolon (what spreadsheets
/// write where the comma is the decimal mark), tab.
const SEPARATORS: [u8; 3] = [b',', b';', b'\t'];

pub(crate) fn separator_name(sep: u8) -> &'static str {
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
pub(crate) fn column_index(header: &[String], name: &str, file: &str) -> Result<usize, DataError> {
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

/// A CSV table: the positions of the wanted columns, and its non-blank
/// rows with their physical line numbers (every row has the header's number of fields).
pub(crate) struct Table<const N: usize> {
    /// Index in the header of each wanted column, in the order asked.
    pub columns: [usize; N],
    /// `(line, fields)` per non-blank row.
    pub rows: Vec<(usize, csv::StringRecord)>,
}

/// Read `bytes` (named `file` in messages) as a table holding the `wanted` columns (exact names,
/// else ignoring ASCII case). `what` says in the empty-file message what the header should name.
///
/// # Errors
/// [`DataError::Parse`] with the line for bytes that are not UTF-8, an empty file, an unclosed
/// quote, a doubled wanted column or a row with another number of fields than the header;
/// [`DataError::NoColumn`] for a wanted column the header lacks.
pub(crate) fn read_table<const N: usize>(bytes: &[u8], file: &str, wanted: [&str; N], what: &str) -> Result<Table<N>, DataError> {
    let err = |line: usize, message: String| DataError::Parse { file: file.into(), line, message };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        err(line, format!("byte {} is not UTF-8 text; save the CSV as UTF-8 (in spreadsheets: \"CSV UTF-8\")", e.valid_up_to()))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(err(1, format!("the file is empty; write a header line naming {what}, then one row per image")));
    }
    let headers: Vec<(u8, Vec<String>)> = SEPARATORS.iter().filter_map(|&s| header_with(text, s).map(|h| (s, h))).collect();
    let fits = |h: &[String]| wanted.iter().all(|w| h.iter().any(|x| x.eq_ignore_ascii_case(w)));
    let (sep, header) = headers
        .iter()
        .find(|(_, h)| fits(h))
        .or_else(|| headers.iter().rev().max_by_key(|(_, h)| h.len()))
        .cloned()
        .ok_or_else(|| err(1, "the header line cannot be read as CSV".into()))?;
    let mut columns = [0; N];
    for (c, w) in columns.iter_mut().zip(wanted) {
        *c = column_index(&header, w, file)?;
    }
    let mut rows = records(text, sep, file)?;
    // The first record is the header read above.
    if !rows.is_empty() {
        rows.remove(0);
    }
    if let Some((line, record)) = rows.iter().find(|(_, r)| r.len() != header.len()) {
        return Err(err(
            *line,
            format!(
                "the row has {} fields but the header has {}; check for a missing or extra {} (a field holding one is quoted: \"a, b\")",
                record.len(),
                header.len(),
                separator_name(sep)
            ),
        ));
    }
    Ok(Table { columns, rows })
}

/// Every non-blank record of `text` (the header included) split at `sep`, with the physical line
/// it starts on; fields trimmed, rows of empty fields skipped, rows may differ in length.
///
/// # Errors
/// [`DataError::Parse`] naming the line where a quoted field opens and never closes.
pub(crate) fn records(text: &str, sep: u8, file: &str) -> Result<Vec<(usize, csv::StringRecord)>, DataError> {
    let err = |line: usize, message: String| DataError::Parse { file: file.into(), line, message };
    if let Some(line) = unclosed_quote(text, sep) {
        return Err(err(line, "a quoted field is not closed (it opens on this line); add the closing \" (a quote inside a quoted field is written \"\")".into()));
    }
    let mut reader = csv::ReaderBuilder::new().delimiter(sep).has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
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
    let mut rows = Vec::new();
    loop {
        let mut record = csv::StringRecord::new();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            // Only I/O or UTF-8 errors can reach here (the text is UTF-8 and in memory, rows may be
            // ragged); report them with the line anyway rather than trusting that.
            Err(e) => return Err(err(e.position().map_or(0, |p| line_at(p.byte())), format!("unreadable CSV: {e}"))),
        }
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        if !record.iter().all(str::is_empty) {
            rows.push((line, record));
        }
    }
    Ok(rows)
}

/// The separator (comma, semicolon, tab) that splits the first record of `text` into the most
/// fields; comma on a tie.
pub(crate) fn sniff_most_fields(text: &str) -> u8 {
    SEPARATORS.iter().rev().filter_map(|&s| header_with(text, s).map(|h| (s, h.len()))).max_by_key(|&(_, n)| n).map_or(b',', |(s, _)| s)
}

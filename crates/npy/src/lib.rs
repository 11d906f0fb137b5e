//! Reading and writing NumPy `.npy` arrays: f32, f64, i64, i32, u8 and bool, any number of
//! dimensions, C (row-major) order.
//!
//! Format: NumPy Enhancement Proposal 1 / `numpy.lib.format` — the magic `\x93NUMPY`, a major and
//! minor version (1.0: 2-byte header length; 2.0 and 3.0: 4-byte), a Python-literal header dict
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces to a multiple of
//! 64 bytes and ended by `\n`, then the raw data. Both byte orders are read; files are written
//! little-endian, version 1.0. Fortran-order files are refused with a message saying how to fix them
//! rather than silently transposed.

use std::io::Write;
use std::path::Path;

/// What went wrong reading or writing an array.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file does not start with `\x93NUMPY`.
    #[error("not a .npy file: it does not start with the \\x93NUMPY magic (is it a .npz, CSV or text file?)")]
    Magic,
    /// A format version this reader does not know.
    #[error("unsupported .npy format version {0}.{1} (1.0, 2.0 and 3.0 are supported)")]
    Version(u8, u8),
    /// The header dict could not be parsed.
    #[error("malformed .npy header: {0}")]
    Header(String),
    /// A dtype other than the supported ones.
    #[error("unsupported .npy dtype '{0}'; supported: float32, float64, int64, int32, uint8, bool (convert with arr.astype(...))")]
    Dtype(String),
    /// The data is stored in Fortran (column-major) order.
    #[error("the array is stored in Fortran order; save it with np.save(path, np.ascontiguousarray(arr))")]
    FortranOrder,
    /// Fewer data bytes than the shape needs.
    #[error("truncated .npy data: the shape {shape:?} needs {expected} bytes of data but the file has {got}")]
    Truncated {
        /// The declared shape.
        shape: Vec<usize>,
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        got: usize,
    },
    /// The array does not have the shape or element type the caller needs.
    #[error("{0}")]
    Shape(String),
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The elements of an array, by dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// `float32`.
    F32(Vec<f32>),
    /// `float64`.
    F64(Vec<f64>),
    /// `int64`.
    I64(Vec<i64>),
    /// `int32`.
    I32(Vec<i32>),
    /// `uint8`.
    U8(Vec<u8>),
    /// `bool`.
    Bool(Vec<bool>),
}

impl NpyData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::F64(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::U8(v) => v.len(),
            Self::Bool(v) => v.len(),
        }
    }
    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The numpy dtype name.
    pub const fn dtype(&self) -> &'static str {
        match self {
            Self::F32(_) => "float32",
            Self::F64(_) => "float64",
            Self::I64(_) => "int64",
            Self::I32(_) => "int32",
            Self::U8(_) => "uint8",
            Self::Bool(_) => "bool",
        }
    }
    const fn descr(&self) -> &'static str {
        match self {
            Self::F32(_) => "<f4",
            Self::F64(_) => "<f8",
            Self::I64(_) => "<i8",
            Self::I32(_) => "<i4",
            Self::U8(_) => "|u1",
            Self::Bool(_) => "|b1",
        }
    }
}

/// An n-dimensional array in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Dimensions, outermost first (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// Elements, row-major.
    pub data: NpyData,
}

impl NpyArray {
    /// An array from a shape and matching data.
    ///
    /// # Errors
    /// [`NpyError::Shape`] if the shape's product differs from the number of elements.
    pub fn new(shape: Vec<usize>, data: NpyData) -> Result<Self, NpyError> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(NpyError::Shape(format!("shape {shape:?} holds {n} elements but {} were given", data.len())));
        }
        Ok(Self { shape, data })
    }

    /// The elements as f64 (every supported dtype converts exactly, except i64 beyond 2⁵³).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            NpyData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            NpyData::F64(v) => v.clone(),
            NpyData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            NpyData::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            NpyData::Bool(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
        }
    }

    /// The elements as i64: integer and bool dtypes, or floats that are all whole numbers
    /// (labels are often saved as float).
    ///
    /// # Errors
    /// [`NpyError::Shape`] naming the first non-integral float.
    pub fn to_i64(&self) -> Result<Vec<i64>, NpyError> {
        let from_float = |v: Vec<f64>| -> Result<Vec<i64>, NpyError> {
            v.iter()
                .enumerate()
                .map(|(i, &x)| {
                    if x.fract() == 0.0 && x.abs() < 9.0e15 {
                        Ok(x as i64)
                    } else {
                        Err(NpyError::Shape(format!("element {i} is {x}, expected a whole number (a label)")))
                    }
                })
                .collect()
        };
        Ok(match &self.data {
            NpyData::I64(v) => v.clone(),
            NpyData::I32(v) => v.iter().map(|&x| i64::from(x)).collect(),
            NpyData::U8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            NpyData::Bool(v) => v.iter().map(|&x| i64::from(x)).collect(),
            NpyData::F32(_) | NpyData::F64(_) => from_float(self.to_f64())?,
        })
    }

    /// Encodes as `.npy` bytes (version 1.0, little-endian, C order).
    pub fn to_bytes(&self) -> Vec<u8> {
        let shape = match self.shape.len() {
            1 => format!("({},)", self.shape[0]),
            _ => format!("({})", self.shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
        };
        let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}", self.data.descr());
        // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
        let unpadded = 10 + header.len() + 1;
        header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
        header.push('\n');
        let mut out = Vec::with_capacity(10 + header.len() + self.data.len() * 8);
        out.extend_from_slice(b"\x93NUMPY\x01\x00");
        // Headers we write are short: a shape would need thousands of dimensions to pass 65535.
        out.extend_from_slice(&u16::try_from(header.len()).unwrap_or(u16::MAX).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        match &self.data {
            NpyData::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            NpyData::F64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            NpyData::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            NpyData::I32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            NpyData::U8(v) => out.extend_from_slice(v),
            NpyData::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        }
        out
    }

    /// Writes to any writer.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write_to<W: Write>(&self, mut w: W) -> std::io::Result<()> {
        w.write_all(&self.to_bytes())
    }
}

/// Reads an array from a file.
///
/// # Errors
/// [`NpyError::Io`] naming the path, or a format error from [`from_bytes`].
pub fn read(path: impl AsRef<Path>) -> Result<NpyArray, NpyError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| NpyError::Io { path: path.display().to_string(), source })?;
    from_bytes(&bytes)
}

/// Writes an array to a file.
///
/// # Errors
/// [`NpyError::Io`] naming the path.
pub fn write(path: impl AsRef<Path>, array: &NpyArray) -> Result<(), NpyError> {
    let path = path.as_ref();
    std::fs::write(path, array.to_bytes()).map_err(|source| NpyError::Io { path: path.display().to_string(), source })
}

/// The value text after `'key':` in a header dict, up to the next top-level comma or brace.
fn header_value<'a>(header: &'a str, key: &str) -> Result<&'a str, NpyError> {
    let pat_single = format!("'{key}'");
    let pat_double = format!("\"{key}\"");
    let start = header
        .find(&pat_single)
        .or_else(|| header.find(&pat_double))
        .ok_or_else(|| NpyError::Header(format!("no '{key}' entry in {header:?}")))?;
    let rest = &header[start + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':').ok_or_else(|| NpyError::Header(format!("no ':' after '{key}'")))?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')').map(|i| i + 1)
    } else {
        rest.find([',', '}'])
    }
    .ok_or_else(|| NpyError::Header(format!("unterminated '{key}' value")))?;
    Ok(rest[..end].trim())
}

fn parse_shape(text: &str) -> Result<Vec<usize>, NpyError> {
    let inner = text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| NpyError::Header(format!("shape {text:?} is not a tuple")))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>().map_err(|_| NpyError::Header(format!("bad dimension {s:?} in shape {text:?}"))))
        .collect()
}

/// Decodes `.npy` bytes.
///
/// # Errors
/// [`NpyError::Magic`], [`NpyError::Version`], [`NpyError::Header`], [`NpyError::Dtype`],
/// [`NpyError::FortranOrder`] or [`NpyError::Truncated`], each saying what to do.
pub fn from_bytes(bytes: &[u8]) -> Result<NpyArray, NpyError> {
    if bytes.len() < 8 || &bytes[..6] != b"\x93NUMPY" {
        return Err(NpyError::Magic);
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len, start) = match major {
        1 if bytes.len() >= 10 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => {
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        1..=3 => return Err(NpyError::Header("the file ends inside the header length".into())),
        _ => return Err(NpyError::Version(major, minor)),
    };
    let header_bytes = bytes
        .get(start..start + len)
        .ok_or_else(|| NpyError::Header(format!("the header claims {len} bytes but the file ends before")))?;
    let header = std::str::from_utf8(header_bytes).map_err(|_| NpyError::Header("the header is not text".into()))?;
    let descr = header_value(header, "descr")?.trim_matches(['\'', '"']);
    let fortran = header_value(header, "fortran_order")?;
    let shape = parse_shape(header_value(header, "shape")?)?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| NpyError::Header(format!("shape {shape:?} overflows")))?;
    let (big, kind) = match descr.as_bytes().first() {
        Some(b'>') => (true, &descr[1..]),
        Some(b'<' | b'|' | b'=') => (false, &descr[1..]),
        _ => (false, descr),
    };
    let width = match kind {
        "f4" | "i4" => 4,
        "f8" | "i8" => 8,
        "u1" | "b1" => 1,
        _ => return Err(NpyError::Dtype(descr.to_string())),
    };
    match fortran {
        "False" => {}
        // A 1-d (or scalar) array is the same in both orders.
        "True" if shape.iter().filter(|&&d| d > 1).count() <= 1 => {}
        "True" => return Err(NpyError::FortranOrder),
        other => return Err(NpyError::Header(format!("fortran_order is {other:?}"))),
    }
    let data = &bytes[start + len..];
    // The element count fits in usize but its byte size may not (a shape of 2⁶¹ float64s).
    let expected = n
        .checked_mul(width)
        .ok_or_else(|| NpyError::Header(format!("shape {shape:?} of {width}-byte elements overflows the address space; the header is damaged")))?;
    if data.len() < expected {
        return Err(NpyError::Truncated { shape, expected, got: data.len() });
    }
    let data = &data[..expected];
    macro_rules! decode {
        ($t:ty, $w:expr) => {
            data.chunks_exact($w)
                .map(|c| {
                    let mut a = [0u8; $w];
                    a.copy_from_slice(c);
                    if big { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }
                })
                .collect()
        };
    }
    let data = match kind {
        "f4" => NpyData::F32(decode!(f32, 4)),
        "f8" => NpyData::F64(decode!(f64, 8)),
        "i4" => NpyData::I32(decode!(i32, 4)),
        "i8" => NpyData::I64(decode!(i64, 8)),
        "u1" => NpyData::U8(data.to_vec()),
        _ => NpyData::Bool(data.iter().map(|&b| b != 0).collect()),
    };
    Ok(NpyArray { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_size_past_usize_is_an_error_not_an_overflow() {
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693953,), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&u16::try_from(header.len()).expect("short").to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0; 16]);
        let e = from_bytes(&bytes).expect_err("overflow");
        assert!(e.to_string().contains("overflows the address space"), "{e}");
    }

    #[test]
    fn round_trip_every_dtype_and_rank() {
        let arrays = [
            NpyArray::new(vec![2, 3], NpyData::F32(vec![1.5, -2.0, 0.0, 3.25, f32::MAX, f32::MIN_POSITIVE])),
            NpyArray::new(vec![3], NpyData::F64(vec![0.1, -1e300, 7.0])),
            NpyArray::new(vec![1, 2, 2], NpyData::I64(vec![i64::MIN, -1, 0, i64::MAX])),
            NpyArray::new(vec![2, 1, 1, 1], NpyData::I32(vec![-7, 9])),
            NpyArray::new(vec![4], NpyData::U8(vec![0, 1, 128, 255])),
            NpyArray::new(vec![], NpyData::Bool(vec![true])),
            NpyArray::new(vec![0, 5], NpyData::F32(vec![])),
        ];
        for a in arrays {
            let a = a.expect("shape matches data");
            let bytes = a.to_bytes();
            assert_eq!((bytes.len() - a.data.len() * match a.data { NpyData::F64(_) | NpyData::I64(_) => 8, NpyData::F32(_) | NpyData::I32(_) => 4, _ => 1 }) % 64, 0, "header aligned");
            assert_eq!(from_bytes(&bytes).expect("round trip"), a);
        }
    }

    #[test]
    fn corrupt_files_give_clear_errors() {
        let good = NpyArray::new(vec![2, 2], NpyData::F64(vec![1.0, 2.0, 3.0, 4.0])).expect("valid").to_bytes();
        assert!(matches!(from_bytes(b"a,b\n1,2\n"), Err(NpyError::Magic)));
        let mut v9 = good.clone();
        v9[6] = 9;
        assert!(matches!(from_bytes(&v9), Err(NpyError::Version(9, 0))));
        let cut = &good[..good.len() - 3];
        let err = from_bytes(cut).expect_err("truncated");
        assert!(matches!(err, NpyError::Truncated { expected: 32, got: 29, .. }), "{err}");
        assert!(from_bytes(&good[..20]).is_err());
        // Same header length: '<f8' becomes '<c8' plus one padding space dropped.
        let mut c8 = good.clone();
        let at = c8.windows(3).position(|w| w == b"<f8").expect("descr present");
        c8[at + 1] = b'c';
        assert!(matches!(from_bytes(&c8), Err(NpyError::Dtype(d)) if d == "<c8"));
        assert!(NpyArray::new(vec![2, 2], NpyData::U8(vec![1])).is_err());
    }

    #[test]
    fn to_i64_accepts_whole_floats_only() {
        let a = NpyArray::new(vec![3], NpyData::F32(vec![0.0, 1.0, 1.0])).expect("valid");
        assert_eq!(a.to_i64().expect("whole"), vec![0, 1, 1]);
        let b = NpyArray::new(vec![2], NpyData::F64(vec![0.0, 0.5])).expect("valid");
        assert!(b.to_i64().is_err());
    }
}

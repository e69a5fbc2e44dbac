//! NumPy `.npy` files: reading float32/float64 arrays (matrices for `wideprobe
//! spectrum FILE.npy`) and writing float32, float64 and int64 arrays (saved tensors,
//! index arrays).
//!
//! Format (numpy.lib.format): the magic `\x93NUMPY`, a major and minor version byte,
//! the header length (u16 little-endian in version 1.0, u32 in 2.0 and 3.0), then a
//! Python dict literal `{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }`
//! padded with spaces and ended by `\n`, then the raw C-order data.
//!
//! Reading accepts versions 1.0, 2.0 and 3.0 but only little-endian float32 and float64
//! in C order: anything else is refused with the NumPy call that converts it, rather
//! than converted silently. Bytes after the data are ignored, as NumPy does (several
//! arrays may be saved one after another to a single file).

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy aligns the start of the data to this many bytes.
const ALIGNMENT: usize = 64;
/// Elements converted per read or write call, bounding the staging buffer.
const CHUNK_ELEMENTS: usize = 1 << 16;

/// Elements of an array read from a `.npy` file, in their stored precision.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// An array read from a `.npy` file: its shape and its elements in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

impl NpyArray {
    /// The elements as f64 (exact for both stored precisions).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            NpyData::F32(values) => values.iter().map(|&x| f64::from(x)).collect(),
            NpyData::F64(values) => values.clone(),
        }
    }
}

/// Reads a float32 or float64 `.npy` file; errors name the file.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let read = || -> Result<NpyArray> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        read_npy_from(&mut BufReader::new(file), len)
    };
    read().with_context(|| format!("reading {}", path.display()))
}

/// Parses the contents of a float32 or float64 `.npy` file.
pub fn read_npy_bytes(bytes: &[u8]) -> Result<NpyArray> {
    let mut reader = bytes;
    read_npy_from(&mut reader, bytes.len() as u64)
}

/// Writes `data` (C order) as a float32 array of the given shape.
pub fn write_npy_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    write_npy_file(path, "<f4", shape, data, f32::to_le_bytes)
}

/// Writes `data` (C order) as a float64 array of the given shape.
pub fn write_npy_f64(path: &Path, shape: &[usize], data: &[f64]) -> Result<()> {
    write_npy_file(path, "<f8", shape, data, f64::to_le_bytes)
}

/// Writes `data` (C order) as an int64 array of the given shape (index arrays).
pub fn write_npy_i64(path: &Path, shape: &[usize], data: &[i64]) -> Result<()> {
    write_npy_file(path, "<i8", shape, data, i64::to_le_bytes)
}

// ---------------------------------------------------------------------------------
// Reading

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dtype {
    F32,
    F64,
}

impl Dtype {
    fn parse(descr: &str) -> Result<Dtype> {
        match descr {
            "<f4" => Ok(Dtype::F32),
            "<f8" => Ok(Dtype::F64),
            ">f4" | ">f8" => bail!(
                "big-endian dtype '{descr}' is not supported: convert with arr.astype('<{}')",
                &descr[1..]
            ),
            _ => bail!(
                "unsupported dtype '{descr}': only float32 ('<f4') and float64 ('<f8') \
                 arrays can be read; convert with arr.astype(np.float64)"
            ),
        }
    }

    fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
        }
    }

    fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
}

/// The validated contents of a `.npy` header.
#[derive(Debug)]
struct Header {
    dtype: Dtype,
    shape: Vec<usize>,
    /// Offset of the first data byte from the start of the file.
    data_start: u64,
}

/// Reads a `.npy` from `reader`, whose total length `total_len` is known up front so
/// that a header promising more data than there is fails before any allocation.
fn read_npy_from(reader: &mut impl Read, total_len: u64) -> Result<NpyArray> {
    let header = read_header(reader, total_len)?;
    let size = header.dtype.size();
    let expected = header
        .shape
        .iter()
        .try_fold(size, |acc, &d| acc.checked_mul(d))
        .with_context(|| format!("shape {:?} is too large", header.shape))?;
    let count = expected / size;
    let available = total_len - header.data_start;
    ensure!(
        available >= expected as u64,
        "truncated .npy data: shape {:?} of '{}' needs {expected} bytes, found {available}",
        header.shape,
        header.dtype.descr()
    );
    let data = match header.dtype {
        Dtype::F32 => NpyData::F32(read_elements(reader, count, f32::from_le_bytes)?),
        Dtype::F64 => NpyData::F64(read_elements(reader, count, f64::from_le_bytes)?),
    };
    Ok(NpyArray {
        shape: header.shape,
        data,
    })
}

fn read_header(reader: &mut impl Read, total_len: u64) -> Result<Header> {
    let mut preamble = [0u8; 8];
    if total_len < preamble.len() as u64 {
        bail!("not a .npy file: only {total_len} bytes long");
    }
    reader.read_exact(&mut preamble)?;
    if &preamble[..6] != MAGIC {
        bail!("not a .npy file: it does not start with the \\x93NUMPY magic");
    }
    let (major, minor) = (preamble[6], preamble[7]);
    let length_bytes = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => bail!("unsupported .npy format version {major}.{minor} (1.0, 2.0 and 3.0 are)"),
    };
    let mut length = [0u8; 4];
    let prefix_len = (preamble.len() + length_bytes) as u64;
    ensure!(
        total_len >= prefix_len,
        "truncated .npy header: the file ends after {total_len} bytes"
    );
    reader.read_exact(&mut length[..length_bytes])?;
    let header_len = u64::from(u32::from_le_bytes(length));
    ensure!(
        total_len - prefix_len >= header_len,
        "truncated .npy header: it declares {header_len} bytes, only {} follow",
        total_len - prefix_len
    );
    let mut raw = vec![0u8; header_len as usize];
    reader.read_exact(&mut raw)?;
    // Versions 1.0 and 2.0 store the header in latin-1, 3.0 in UTF-8.
    let text: String = if major == 3 {
        String::from_utf8(raw).context("the .npy 3.0 header is not valid UTF-8")?
    } else {
        raw.iter().map(|&b| char::from(b)).collect()
    };
    let (dtype, shape) =
        interpret_header(&text).with_context(|| format!("in .npy header {:?}", text.trim_end()))?;
    Ok(Header {
        dtype,
        shape,
        data_start: prefix_len + header_len,
    })
}

/// Checks the header dict's keys and values: a supported dtype, C order, a shape.
fn interpret_header(text: &str) -> Result<(Dtype, Vec<usize>)> {
    let PyValue::Dict(entries) = parse_py_literal(text)? else {
        bail!("the header is not a dict");
    };
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    for (key, value) in entries {
        let slot = match key.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran_order,
            "shape" => &mut shape,
            _ => bail!("unexpected key '{key}'"),
        };
        ensure!(slot.replace(value).is_none(), "duplicate key '{key}'");
    }
    let (Some(descr), Some(fortran_order), Some(shape)) = (descr, fortran_order, shape) else {
        bail!("the header needs the keys 'descr', 'fortran_order' and 'shape'");
    };

    let dtype = match descr {
        PyValue::Str(descr) => Dtype::parse(&descr)?,
        _ => bail!(
            "structured dtypes are not supported: save a plain float array \
             (arr.astype(np.float64))"
        ),
    };
    match fortran_order {
        PyValue::Bool(false) => {}
        PyValue::Bool(true) => {
            bail!("Fortran-order arrays are not supported: save with np.ascontiguousarray(arr)")
        }
        _ => bail!("'fortran_order' must be True or False"),
    }
    let PyValue::Tuple(dims) = shape else {
        bail!("'shape' must be a tuple");
    };
    let shape = dims
        .into_iter()
        .map(|dim| match dim {
            PyValue::Int(d) => usize::try_from(d).ok(),
            _ => None,
        })
        .collect::<Option<Vec<usize>>>()
        .context("'shape' must be a tuple of non-negative integers")?;
    Ok((dtype, shape))
}

/// Reads `count` little-endian elements of N bytes, converting in bounded chunks.
fn read_elements<T, const N: usize>(
    reader: &mut impl Read,
    count: usize,
    from_le_bytes: fn([u8; N]) -> T,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(count);
    let mut buffer = vec![0u8; count.min(CHUNK_ELEMENTS) * N];
    while out.len() < count {
        let bytes = &mut buffer[..(count - out.len()).min(CHUNK_ELEMENTS) * N];
        reader.read_exact(bytes).context("reading the .npy data")?;
        out.extend(
            bytes
                .chunks_exact(N)
                .map(|c| from_le_bytes(c.try_into().expect("chunks_exact yields N bytes"))),
        );
    }
    Ok(out)
}

/// The subset of Python literals that `.npy` headers use.
#[derive(Clone, Debug, PartialEq)]
enum PyValue {
    Str(String),
    Bool(bool),
    Int(i64),
    /// Tuples and lists alike (only shapes and structured dtypes use them).
    Tuple(Vec<PyValue>),
    Dict(Vec<(String, PyValue)>),
}

/// Parses one Python literal filling `text` (surrounding whitespace allowed).
fn parse_py_literal(text: &str) -> Result<PyValue> {
    let mut parser = LiteralParser { text, pos: 0 };
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.pos != text.len() {
        return Err(parser.error("end of header"));
    }
    Ok(value)
}

/// Recursive-descent parser over `text`; `pos` is a byte offset on a char boundary.
/// String literals are taken verbatim (NumPy writes no escapes in the keys and
/// dtype strings we accept).
struct LiteralParser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> LiteralParser<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn skip_whitespace(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn error(&self, expected: &str) -> anyhow::Error {
        let found = match self.peek() {
            Some(c) => format!("'{c}'"),
            None => "the end".to_string(),
        };
        anyhow::anyhow!("expected {expected} at offset {}, found {found}", self.pos)
    }

    fn value(&mut self) -> Result<PyValue> {
        self.skip_whitespace();
        match self.peek() {
            Some('{') => self.dict(),
            Some('(') => Ok(PyValue::Tuple(self.sequence('(', ')')?)),
            Some('[') => Ok(PyValue::Tuple(self.sequence('[', ']')?)),
            Some('\'' | '"') => Ok(PyValue::Str(self.string()?)),
            Some(c) if c == '-' || c.is_ascii_digit() => self.int(),
            Some(c) if c.is_ascii_alphabetic() => {
                let word = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
                match word {
                    "True" => Ok(PyValue::Bool(true)),
                    "False" => Ok(PyValue::Bool(false)),
                    _ => bail!("unsupported value `{word}` in the header"),
                }
            }
            _ => Err(self.error("a value")),
        }
    }

    fn take_while(&mut self, accept: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|&c| accept(c)) {
            self.pos += c.len_utf8();
        }
        &self.text[start..self.pos]
    }

    fn expect(&mut self, expected: char) -> Result<()> {
        self.skip_whitespace();
        if self.peek() == Some(expected) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("'{expected}'")))
        }
    }

    /// Consumes `expected` (after whitespace) if it is next.
    fn accept(&mut self, expected: char) -> bool {
        self.skip_whitespace();
        let found = self.peek() == Some(expected);
        if found {
            self.pos += 1;
        }
        found
    }

    fn string(&mut self) -> Result<String> {
        let quote = self.peek().filter(|&c| c == '\'' || c == '"');
        let Some(quote) = quote else {
            return Err(self.error("a string"));
        };
        self.pos += 1;
        let body = self.take_while(|c| c != quote).to_string();
        if self.peek() != Some(quote) {
            bail!("unterminated string in the header");
        }
        self.pos += 1;
        Ok(body)
    }

    fn int(&mut self) -> Result<PyValue> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        self.take_while(|c| c.is_ascii_digit());
        let digits = &self.text[start..self.pos];
        let value = digits
            .parse::<i64>()
            .map_err(|_| anyhow::anyhow!("bad integer `{digits}` in the header"))?;
        // Python 2 wrote longs as `3L`.
        if matches!(self.peek(), Some('L' | 'l')) {
            self.pos += 1;
        }
        Ok(PyValue::Int(value))
    }

    /// Comma-separated values between `open` and `close`, trailing comma allowed.
    fn sequence(&mut self, open: char, close: char) -> Result<Vec<PyValue>> {
        self.expect(open)?;
        let mut items = Vec::new();
        loop {
            if self.accept(close) {
                return Ok(items);
            }
            items.push(self.value()?);
            if !self.accept(',') {
                self.expect(close)?;
                return Ok(items);
            }
        }
    }

    fn dict(&mut self) -> Result<PyValue> {
        self.expect('{')?;
        let mut entries = Vec::new();
        loop {
            if self.accept('}') {
                return Ok(PyValue::Dict(entries));
            }
            self.skip_whitespace();
            let key = self.string()?;
            self.expect(':')?;
            entries.push((key, self.value()?));
            if !self.accept(',') {
                self.expect('}')?;
                return Ok(PyValue::Dict(entries));
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Writing

fn write_npy_file<T: Copy, const N: usize>(
    path: &Path,
    descr: &str,
    shape: &[usize],
    data: &[T],
    to_le_bytes: fn(T) -> [u8; N],
) -> Result<()> {
    let write = || -> Result<()> {
        let mut file = File::create(path)?;
        write_npy_to(&mut file, descr, shape, data, to_le_bytes)
    };
    write().with_context(|| format!("writing {}", path.display()))
}

fn write_npy_to<T: Copy, const N: usize>(
    out: &mut impl Write,
    descr: &str,
    shape: &[usize],
    data: &[T],
    to_le_bytes: fn(T) -> [u8; N],
) -> Result<()> {
    let count = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    ensure!(
        count == Some(data.len()),
        "shape {shape:?} does not match the {} elements given",
        data.len()
    );
    out.write_all(&encode_header(descr, shape))?;
    let mut buffer = Vec::with_capacity(data.len().min(CHUNK_ELEMENTS) * N);
    for chunk in data.chunks(CHUNK_ELEMENTS) {
        buffer.clear();
        buffer.extend(chunk.iter().flat_map(|&x| to_le_bytes(x)));
        out.write_all(&buffer)?;
    }
    out.flush()?;
    Ok(())
}

/// Magic, version, length and padded header dict, as NumPy writes them: version 1.0
/// unless the header outgrows its u16 length, data aligned to 64 bytes.
fn encode_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape_repr = match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        dims => {
            let dims: Vec<String> = dims.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_repr}, }}");
    let padded = |prefix_len: usize| {
        let unpadded = prefix_len + dict.len() + 1; // + '\n'
        let padding = (ALIGNMENT - unpadded % ALIGNMENT) % ALIGNMENT;
        format!("{dict}{}\n", " ".repeat(padding))
    };

    let mut bytes = MAGIC.to_vec();
    let header = padded(MAGIC.len() + 2 + 2);
    match u16::try_from(header.len()) {
        Ok(len) => {
            bytes.extend([1, 0]);
            bytes.extend(len.to_le_bytes());
            bytes.extend(header.as_bytes());
        }
        Err(_) => {
            let header = padded(MAGIC.len() + 2 + 4);
            let len = u32::try_from(header.len()).expect("a .npy header of under 4 GiB");
            bytes.extend([2, 0]);
            bytes.extend(len.to_le_bytes());
            bytes.extend(header.as_bytes());
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh path in the system temp directory, removed when dropped.
    struct TempPath(PathBuf);

    impl TempPath {
        fn new(name: &str) -> TempPath {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let file = format!("wideprobe-npy-{}-{unique}-{name}", std::process::id());
            TempPath(std::env::temp_dir().join(file))
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// A file as NumPy 1.x writes it: header padded with spaces to a multiple of 64.
    fn numpy_style(version: (u8, u8), dict: &str, data: &[u8]) -> Vec<u8> {
        let length_bytes = if version.0 == 1 { 2 } else { 4 };
        let unpadded = 8 + length_bytes + dict.len() + 1;
        let header = format!("{dict}{}\n", " ".repeat((64 - unpadded % 64) % 64));
        let mut bytes = MAGIC.to_vec();
        bytes.extend([version.0, version.1]);
        if length_bytes == 2 {
            bytes.extend((header.len() as u16).to_le_bytes());
        } else {
            bytes.extend((header.len() as u32).to_le_bytes());
        }
        bytes.extend(header.as_bytes());
        bytes.extend(data);
        bytes
    }

    fn f64_bytes(values: &[f64]) -> Vec<u8> {
        values.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn error_text(result: Result<NpyArray>) -> String {
        format!("{:#}", result.expect_err("expected an error"))
    }

    /// The 128 header bytes NumPy 1.x writes for a C-order (2, 3) float64 array.
    fn numpy_header_2x3_f64() -> Vec<u8> {
        let mut bytes =
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"
                .to_vec();
        bytes.resize(127, b' ');
        bytes.push(b'\n');
        bytes
    }

    #[test]
    fn reads_header_as_numpy_writes_it() {
        let values = [1.0, -2.5, 3.25, 0.0, 1e300, -1e-300];
        let mut bytes = numpy_header_2x3_f64();
        bytes.extend(f64_bytes(&values));
        // The test helper builds the same bytes.
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
        assert_eq!(numpy_style((1, 0), dict, &f64_bytes(&values)), bytes);
        let array = read_npy_bytes(&bytes).unwrap();
        assert_eq!(array.shape, vec![2, 3]);
        assert_eq!(array.data, NpyData::F64(values.to_vec()));
        assert_eq!(array.to_f64(), values.to_vec());
    }

    #[test]
    fn reads_versions_two_and_three_and_float32() {
        let values = [0.5f32, -1.75, 3.0];
        let data: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        for version in [(2, 0), (3, 0)] {
            let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
            let array = read_npy_bytes(&numpy_style(version, dict, &data)).unwrap();
            assert_eq!(array.shape, vec![3]);
            assert_eq!(array.data, NpyData::F32(values.to_vec()));
            assert_eq!(array.to_f64(), vec![0.5, -1.75, 3.0]);
        }
    }

    #[test]
    fn reads_header_variants() {
        // Key order, double quotes, Python 2 longs, scalars and empty arrays.
        let dict = "{\"shape\": (1L, 2L), \"fortran_order\": False, \"descr\": \"<f8\"}";
        let array = read_npy_bytes(&numpy_style((1, 0), dict, &f64_bytes(&[1.0, 2.0]))).unwrap();
        assert_eq!(array.shape, vec![1, 2]);

        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (), }";
        let array = read_npy_bytes(&numpy_style((1, 0), dict, &f64_bytes(&[7.0]))).unwrap();
        assert_eq!(array.shape, Vec::<usize>::new());
        assert_eq!(array.to_f64(), vec![7.0]);

        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }";
        let array = read_npy_bytes(&numpy_style((1, 0), dict, &[])).unwrap();
        assert_eq!(array.shape, vec![0, 5]);
        assert_eq!(array.data, NpyData::F32(vec![]));
    }

    #[test]
    fn trailing_bytes_are_ignored() {
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }";
        let mut bytes = numpy_style((1, 0), dict, &f64_bytes(&[4.0]));
        bytes.extend(numpy_style((1, 0), dict, &f64_bytes(&[5.0])));
        assert_eq!(read_npy_bytes(&bytes).unwrap().to_f64(), vec![4.0]);
    }

    #[test]
    fn round_trips_through_files() {
        let path = TempPath::new("f64.npy");
        let matrix: Vec<f64> = (0..12).map(|i| f64::from(i) * 0.1 - 0.3).collect();
        write_npy_f64(&path.0, &[3, 4], &matrix).unwrap();
        let array = read_npy(&path.0).unwrap();
        assert_eq!(array.shape, vec![3, 4]);
        assert_eq!(array.data, NpyData::F64(matrix));

        let path = TempPath::new("f32.npy");
        let vector = [f32::MIN_POSITIVE, -0.0, f32::MAX, 1.5];
        write_npy_f32(&path.0, &[4], &vector).unwrap();
        let array = read_npy(&path.0).unwrap();
        assert_eq!(array.shape, vec![4]);
        assert_eq!(array.data, NpyData::F32(vector.to_vec()));

        let path = TempPath::new("scalar.npy");
        write_npy_f64(&path.0, &[], &[2.5]).unwrap();
        let array = read_npy(&path.0).unwrap();
        assert!(array.shape.is_empty());
        assert_eq!(array.to_f64(), vec![2.5]);
    }

    #[test]
    fn large_round_trip_crosses_chunks() {
        let n = CHUNK_ELEMENTS * 2 + 17;
        let data: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
        let mut bytes = Vec::new();
        write_npy_to(&mut bytes, "<f8", &[n], &data, f64::to_le_bytes).unwrap();
        assert_eq!(read_npy_bytes(&bytes).unwrap().data, NpyData::F64(data));
    }

    #[test]
    fn written_headers_match_numpy_layout() {
        let path = TempPath::new("layout.npy");
        write_npy_f64(&path.0, &[2, 3], &[0.0; 6]).unwrap();
        let bytes = std::fs::read(&path.0).unwrap();
        assert_eq!(&bytes[..128], &numpy_header_2x3_f64()[..]);
        assert_eq!(bytes.len(), 128 + 48);

        for shape in [vec![], vec![5], vec![1, 2, 3, 4]] {
            let header = encode_header("<f4", &shape);
            assert_eq!(header.len() % 64, 0, "{shape:?}");
            assert_eq!(header.last(), Some(&b'\n'));
            assert_eq!(&header[6..8], &[1, 0]);
            let declared = u16::from_le_bytes([header[8], header[9]]) as usize;
            assert_eq!(declared + 10, header.len());
        }
        let text = String::from_utf8_lossy(&encode_header("<f4", &[5])).into_owned();
        assert!(text.contains("'shape': (5,), }"), "{text}");
        let text = String::from_utf8_lossy(&encode_header("<f4", &[])).into_owned();
        assert!(text.contains("'shape': (), }"), "{text}");
    }

    #[test]
    fn writes_int64_index_arrays() {
        let path = TempPath::new("i64.npy");
        let indices = [0i64, 7, -1, i64::MAX];
        write_npy_i64(&path.0, &[2, 2], &indices).unwrap();
        let bytes = std::fs::read(&path.0).unwrap();
        let data_start = 10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        assert!(String::from_utf8_lossy(&bytes[..data_start]).contains("'descr': '<i8'"));
        let data: Vec<i64> = bytes[data_start..]
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(data, indices);
        // Reading them back as a matrix is refused rather than converted.
        assert!(error_text(read_npy(&path.0)).contains("'<i8'"));
    }

    #[test]
    fn shape_must_match_data() {
        let path = TempPath::new("mismatch.npy");
        let err = write_npy_f64(&path.0, &[2, 3], &[0.0; 5]).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("shape [2, 3] does not match the 5 elements"),
            "{text}"
        );
        assert!(text.contains("mismatch.npy"), "{text}");
        let err = write_npy_f32(&path.0, &[usize::MAX, 2], &[]).unwrap_err();
        assert!(format!("{err:#}").contains("does not match"));
    }

    #[test]
    fn unsupported_dtypes_are_named() {
        for descr in ["<i8", "<i4", "|u1", "<f2", "<c16"] {
            let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (0,), }}");
            let text = error_text(read_npy_bytes(&numpy_style((1, 0), &dict, &[])));
            assert!(text.contains(&format!("'{descr}'")), "{text}");
            assert!(
                text.contains("convert with arr.astype(np.float64)"),
                "{text}"
            );
        }
        let dict =
            "{'descr': [('a', '<f8'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }";
        let text = error_text(read_npy_bytes(&numpy_style((1, 0), dict, &[0; 12])));
        assert!(
            text.contains("structured dtypes are not supported"),
            "{text}"
        );
    }

    #[test]
    fn big_endian_is_refused() {
        let dict = "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }";
        let text = error_text(read_npy_bytes(&numpy_style((1, 0), dict, &[0; 8])));
        assert!(text.contains("big-endian dtype '>f8'"), "{text}");
        assert!(text.contains("arr.astype('<f8')"), "{text}");
    }

    #[test]
    fn fortran_order_is_refused() {
        let dict = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }";
        let text = error_text(read_npy_bytes(&numpy_style((1, 0), dict, &[0; 32])));
        assert!(text.contains("Fortran-order"), "{text}");
        assert!(text.contains("np.ascontiguousarray"), "{text}");
    }

    #[test]
    fn truncated_data_reports_byte_counts() {
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
        let bytes = numpy_style((1, 0), dict, &f64_bytes(&[1.0; 5]));
        let text = error_text(read_npy_bytes(&bytes));
        assert!(text.contains("truncated"), "{text}");
        assert!(text.contains("needs 48 bytes, found 40"), "{text}");

        // A header that claims more bytes than the file holds.
        let text = error_text(read_npy_bytes(&bytes[..100]));
        assert!(
            text.contains("declares 118 bytes, only 90 follow"),
            "{text}"
        );
    }

    #[test]
    fn bad_magic_is_not_a_npy_file() {
        let text = error_text(read_npy_bytes(b"PK\x03\x04 this is a zip, not an npy file"));
        assert!(text.contains("not a .npy file"), "{text}");
        assert!(error_text(read_npy_bytes(b"")).contains("not a .npy file"));

        let path = TempPath::new("text.npy");
        std::fs::write(&path.0, "1.0 2.0\n3.0 4.0\n").unwrap();
        let text = error_text(read_npy(&path.0));
        assert!(text.contains("not a .npy file"), "{text}");
        assert!(text.contains(&path.0.display().to_string()), "{text}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let path = TempPath::new("absent.npy");
        let err = read_npy(&path.0).unwrap_err();
        assert!(err.to_string().contains("absent.npy"), "{err}");
    }

    #[test]
    fn malformed_headers_are_reported() {
        let cases = [
            ("{'descr': '<f8', 'fortran_order': False}", "needs the keys"),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}",
                "key 'x'",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }",
                "non-negative",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2, }",
                "expected",
            ),
            (
                "{'descr': '<f8', 'fortran_order': 0, 'shape': (2,), }",
                "True or False",
            ),
            (
                "{'descr': '<f8, 'fortran_order': False, 'shape': (2,), }",
                "expected",
            ),
            ("('<f8', False, (2,))", "not a dict"),
        ];
        for (dict, expected) in cases {
            let text = error_text(read_npy_bytes(&numpy_style((1, 0), dict, &[0; 16])));
            assert!(text.contains(expected), "{dict}: {text}");
        }
        let mut bytes = numpy_style((1, 0), "{}", &[]);
        bytes[6] = 4;
        let text = error_text(read_npy_bytes(&bytes));
        assert!(
            text.contains("unsupported .npy format version 4.0"),
            "{text}"
        );
    }

    #[test]
    fn parses_python_literals() {
        let value = parse_py_literal(" {'a': (1, 2,), 'b': [True, 'x'], 'c': ()} \n").unwrap();
        assert_eq!(
            value,
            PyValue::Dict(vec![
                (
                    "a".into(),
                    PyValue::Tuple(vec![PyValue::Int(1), PyValue::Int(2)])
                ),
                (
                    "b".into(),
                    PyValue::Tuple(vec![PyValue::Bool(true), PyValue::Str("x".into())])
                ),
                ("c".into(), PyValue::Tuple(vec![])),
            ])
        );
        assert!(parse_py_literal("{'a': 1} trailing").is_err());
        assert!(parse_py_literal("{'a': None}").is_err());
    }
}

//! NumPy `.npy` and `.npz` files: reading float32/float64 arrays through the `npyz`
//! crate (matrices for `wideprobe spectrum FILE.npy`), and writing float32, float64
//! and int64 arrays (saved tensors, index arrays) byte-identical to `np.save`.
//!
//! Format (numpy.lib.format): the magic `\x93NUMPY`, a major and minor version byte,
//! the header length (u16 little-endian in version 1.0, u32 in 2.0 and 3.0), then a
//! Python dict literal `{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }`,
//! then the raw data.
//!
//! We check the preamble and the header dict ourselves before `npyz` sees them, for
//! two reasons: errors that name the problem and the NumPy call that fixes it, and
//! safety: the Python-literal parser recurses once per bracket, so a legal header
//! nesting `(` tens of thousands deep overflowed the stack (issue 13, row 1); such
//! headers are refused before any parsing. Errors quote at most `QUOTE_CHARS` of the
//! header (issue 13, row 16).
//!
//! Reading accepts little-endian float32 and float64, C or Fortran order (returned in
//! C order); anything else is refused with the NumPy call that converts it. Bytes after
//! the data are ignored, as NumPy does.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use npyz::WriterBuilder as _;
use py_literal::Value;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy writes headers of a few hundred bytes; a megabyte is no array we can read.
const MAX_HEADER_BYTES: u64 = 1 << 20;
/// Deepest bracket nesting accepted; a plain array's header nests 2 (`{` and `(`).
/// The literal parser backtracks exponentially through unclosed brackets (14 unclosed
/// `{` took 90 s), so the bound is kept small.
const MAX_NESTING: usize = 4;
/// Longest stretch of a header quoted back in an error.
const QUOTE_CHARS: usize = 100;
/// NumPy aligns the start of the data to this many bytes.
const ALIGNMENT: usize = 64;
/// Elements converted per write call, bounding the staging buffer.
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

/// Reads a float32 or float64 `.npy` file, or the only array of a `.npz` archive;
/// errors name the file.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"))
    {
        return read_single_npz(path);
    }
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

/// Reads every array of a `.npz` archive (`np.savez`), sorted by name.
pub fn read_npz(path: &Path) -> Result<Vec<(String, NpyArray)>> {
    let read = || -> Result<Vec<(String, NpyArray)>> {
        let mut archive = npyz::npz::NpzArchive::open(path)?;
        let mut names: Vec<String> = archive.array_names().map(str::to_string).collect();
        // The zip's own listing has no stable order.
        names.sort();
        let mut arrays = Vec::with_capacity(names.len());
        for name in names {
            // Raw member bytes through our own reader, so that hostile headers inside
            // archives are refused too.
            let mut bytes = Vec::new();
            let file_name = npyz::npz::file_name_from_array_name(&name);
            archive
                .zip_archive()
                .by_name(&file_name)?
                .read_to_end(&mut bytes)?;
            let array = read_npy_bytes(&bytes).with_context(|| format!("array '{name}'"))?;
            arrays.push((name, array));
        }
        Ok(arrays)
    };
    read().with_context(|| format!("reading {}", path.display()))
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

fn read_single_npz(path: &Path) -> Result<NpyArray> {
    let mut arrays = read_npz(path)?;
    if arrays.len() != 1 {
        let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
        bail!(
            "{} holds {} arrays ({}), one is needed: save the matrix alone \
             (np.save('matrix.npy', arr) or np.savez('matrix.npz', arr))",
            path.display(),
            arrays.len(),
            quote(&names.join(", "))
        );
    }
    Ok(arrays.remove(0).1)
}

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
                "unsupported dtype '{}': only float32 ('<f4') and float64 ('<f8') \
                 arrays can be read; convert with arr.astype(np.float64)",
                quote(descr)
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
    fortran_order: bool,
}

/// Reads a `.npy` from `reader`, whose total length `total_len` is known up front so
/// that a header promising more data than there is fails before any allocation.
fn read_npy_from(reader: &mut impl Read, total_len: u64) -> Result<NpyArray> {
    let (header, data_start) = read_header(reader, total_len)?;
    let expected = header
        .shape
        .iter()
        .try_fold(header.dtype.size(), |acc, &d| acc.checked_mul(d))
        .with_context(|| format!("shape {:?} is too large", header.shape))?;
    let available = total_len - data_start;
    ensure!(
        available >= expected as u64,
        "truncated .npy data: shape {:?} of '{}' needs {expected} bytes, found {available}",
        header.shape,
        header.dtype.descr()
    );
    // npyz reads the elements, behind a header we rebuilt from the checked values.
    let canonical = npyz_header(&header)?;
    let file = npyz::NpyFile::with_header(canonical, reader.take(expected as u64));
    let data = match header.dtype {
        Dtype::F32 => NpyData::F32(to_c_order(&header, file.into_vec()?)),
        Dtype::F64 => NpyData::F64(to_c_order(&header, file.into_vec()?)),
    };
    Ok(NpyArray {
        shape: header.shape,
        data,
    })
}

/// The header `npyz` needs to decode the data, written by `npyz` itself.
fn npyz_header(header: &Header) -> Result<npyz::NpyHeader> {
    let shape: Vec<u64> = header.shape.iter().map(|&d| d as u64).collect();
    let dtype = match header.dtype {
        Dtype::F32 => <f32 as npyz::AutoSerialize>::default_dtype(),
        Dtype::F64 => <f64 as npyz::AutoSerialize>::default_dtype(),
    };
    let bytes = npyz::WriteOptions::new_header_only()
        .dtype(dtype)
        .shape(&shape)
        .writer(Vec::new())
        .write_header_only()?;
    Ok(npyz::NpyHeader::from_reader(&bytes[..])?)
}

/// Fortran-order data (first index fastest) rearranged into C order.
fn to_c_order<T: Copy>(header: &Header, stored: Vec<T>) -> Vec<T> {
    if !header.fortran_order || header.shape.len() < 2 {
        return stored;
    }
    let shape = &header.shape;
    let mut index = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(stored.len());
    for _ in 0..stored.len() {
        let offset = index
            .iter()
            .zip(shape)
            .rev()
            .fold(0, |acc, (&i, &d)| acc * d + i);
        out.push(stored[offset]);
        // Advance the C-order multi-index, last axis fastest.
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// Reads the preamble and header; returns the header and the offset of the data.
fn read_header(reader: &mut impl Read, total_len: u64) -> Result<(Header, u64)> {
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
    ensure!(
        header_len <= MAX_HEADER_BYTES,
        "the .npy header is {header_len} bytes, over the {MAX_HEADER_BYTES} any plain \
         array needs: re-save the array with np.save(path, np.ascontiguousarray(arr, np.float64))"
    );
    let mut raw = vec![0u8; header_len as usize];
    reader.read_exact(&mut raw)?;
    // Versions 1.0 and 2.0 store the header in latin-1, 3.0 in UTF-8.
    let text: String = if major == 3 {
        String::from_utf8(raw).context("the .npy 3.0 header is not valid UTF-8")?
    } else {
        raw.iter().map(|&b| char::from(b)).collect()
    };
    let header = interpret_header(&text)
        .with_context(|| format!("in .npy header \"{}\"", quote(text.trim_end())))?;
    Ok((header, prefix_len + header_len))
}

/// At most `QUOTE_CHARS` characters of `text`, marking what was cut.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!(
            "{}... ({} more characters)",
            &text[..cut],
            text[cut..].chars().count()
        ),
    }
}

/// Parses the header dict and checks its keys and values: a supported dtype, the
/// order, a shape.
fn interpret_header(text: &str) -> Result<Header> {
    let literal = normalise_literal(text)?;
    let parsed: Value = literal
        .trim()
        .parse()
        .map_err(|e: py_literal::ParseError| {
            anyhow::anyhow!(
                "the header is not a Python literal (expected a dict such as \
                 {{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}}): {}",
                quote(&e.to_string())
            )
        })?;
    let Value::Dict(entries) = parsed else {
        bail!("the header is not a dict");
    };
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    for (key, value) in entries {
        let Value::String(key) = key else {
            bail!("a header key is not a string");
        };
        let slot = match key.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran_order,
            "shape" => &mut shape,
            _ => bail!("unexpected key '{}'", quote(&key)),
        };
        ensure!(slot.replace(value).is_none(), "duplicate key '{key}'");
    }
    let (Some(descr), Some(fortran_order), Some(shape)) = (descr, fortran_order, shape) else {
        bail!("the header needs the keys 'descr', 'fortran_order' and 'shape'");
    };
    let dtype = match descr {
        Value::String(descr) => Dtype::parse(&descr)?,
        _ => bail!(
            "structured dtypes are not supported: save a plain float array \
             (arr.astype(np.float64))"
        ),
    };
    let Value::Boolean(fortran_order) = fortran_order else {
        bail!("'fortran_order' must be True or False");
    };
    let (Value::Tuple(dims) | Value::List(dims)) = shape else {
        bail!("'shape' must be a tuple");
    };
    let shape = dims
        .iter()
        .map(|dim| match dim {
            Value::Integer(d) => usize::try_from(d).ok(),
            _ => None,
        })
        .collect::<Option<Vec<usize>>>()
        .context("'shape' must be a tuple of non-negative integers")?;
    Ok(Header {
        dtype,
        shape,
        fortran_order,
    })
}

/// The header text with Python 2 long suffixes (`3L`) dropped, after checking that
/// its brackets nest no deeper than `MAX_NESTING` (the parser recurses per bracket).
fn normalise_literal(text: &str) -> Result<String> {
    let (mut out, mut depth, mut quote_char) = (String::with_capacity(text.len()), 0, None);
    let mut previous = ' ';
    for c in text.chars() {
        match (quote_char, c) {
            (Some(q), _) if c == q => quote_char = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote_char = Some(c),
            (None, '(' | '[' | '{') => {
                depth += 1;
                ensure!(
                    depth <= MAX_NESTING,
                    "brackets nest over {MAX_NESTING} deep, which no plain array's header \
                     does: re-save the array with np.save(path, arr.astype(np.float64))"
                );
            }
            (None, ')' | ']' | '}') => depth = depth.saturating_sub(1), // unbalanced: the parser says so
            (None, 'L' | 'l') if previous.is_ascii_digit() => {
                previous = c;
                continue;
            }
            _ => {}
        }
        out.push(c);
        previous = c;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------
// Writing

// NumPy's own header bytes (`'shape': (2, 3), }`, padded to 64), which npyz's writer
// does not reproduce (`(2, 3, )`); files are byte-identical to `np.save`'s.

fn write_npy_file<T: Copy, const N: usize>(
    path: &Path, descr: &str, shape: &[usize], data: &[T], to_le_bytes: fn(T) -> [u8; N],
) -> Result<()> {
    let write = || -> Result<()> {
        let mut file = BufWriter::new(File::create(path)?);
        write_npy_to(&mut file, descr, shape, data, to_le_bytes)
    };
    write().with_context(|| format!("writing {}", path.display()))
}

fn write_npy_to<T: Copy, const N: usize>(
    out: &mut impl Write, descr: &str, shape: &[usize], data: &[T], to_le_bytes: fn(T) -> [u8; N],
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

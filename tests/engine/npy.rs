//! `.npy`/`.npz` reading and writing (engine/io/npy.rs): NumPy's layout, our error
//! messages, and hostile headers (issue 13 rows 1 and 16).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use npyz::WriterBuilder as _;
use wideprobe::io::npy::{
    read_npy, read_npy_bytes, read_npz, write_npy_f32, write_npy_f64, write_npy_i64, NpyArray,
    NpyData,
};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

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
    // More elements than any one buffered read or write holds.
    let n = (1 << 17) + 17;
    let data: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
    let path = TempPath::new("large.npy");
    write_npy_f64(&path.0, &[n], &data).unwrap();
    let bytes = std::fs::read(&path.0).unwrap();
    assert_eq!(read_npy_bytes(&bytes).unwrap().data, NpyData::F64(data));
}

/// The magic, version, length and header dict our writer puts before the data of a
/// float32 array of `shape`.
fn written_header(shape: &[usize]) -> Vec<u8> {
    let path = TempPath::new("header.npy");
    let count = shape.iter().product();
    write_npy_f32(&path.0, shape, &vec![0.0; count]).unwrap();
    let mut bytes = std::fs::read(&path.0).unwrap();
    bytes.truncate(bytes.len() - 4 * count);
    bytes
}

#[test]
fn written_headers_match_numpy_layout() {
    let path = TempPath::new("layout.npy");
    write_npy_f64(&path.0, &[2, 3], &[0.0; 6]).unwrap();
    let bytes = std::fs::read(&path.0).unwrap();
    assert_eq!(&bytes[..128], &numpy_header_2x3_f64()[..]);
    assert_eq!(bytes.len(), 128 + 48);

    for shape in [vec![], vec![5], vec![1, 2, 3, 4]] {
        let header = written_header(&shape);
        assert_eq!(header.len() % 64, 0, "{shape:?}");
        assert_eq!(header.last(), Some(&b'\n'));
        assert_eq!(&header[6..8], &[1, 0]);
        let declared = u16::from_le_bytes([header[8], header[9]]) as usize;
        assert_eq!(declared + 10, header.len());
    }
    let text = String::from_utf8_lossy(&written_header(&[5])).into_owned();
    assert!(text.contains("'shape': (5,), }"), "{text}");
    let text = String::from_utf8_lossy(&written_header(&[])).into_owned();
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
    let dict = "{'descr': [('a', '<f8'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }";
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
fn fortran_order_is_returned_in_c_order() {
    // np.asfortranarray([[1, 2, 3], [4, 5, 6]]) stores the columns one after another.
    let dict = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }";
    let stored = f64_bytes(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    let array = read_npy_bytes(&numpy_style((1, 0), dict, &stored)).unwrap();
    assert_eq!(array.shape, vec![2, 3]);
    assert_eq!(array.to_f64(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);

    // Three axes: element [i, j, k] sits at i + 2 j + 6 k in the stored order.
    let dict = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }";
    let stored: Vec<f32> = (0..24).map(|x| x as f32).collect();
    let bytes: Vec<u8> = stored.iter().flat_map(|x| x.to_le_bytes()).collect();
    let array = read_npy_bytes(&numpy_style((1, 0), dict, &bytes)).unwrap();
    let expected: Vec<f64> = (0..2)
        .flat_map(|i| (0..3).flat_map(move |j| (0..4).map(move |k| f64::from(i + 2 * j + 6 * k))))
        .collect();
    assert_eq!(array.to_f64(), expected);
}

/// Issue 13, row 1: a legal header whose shape nests `(` 25,000 deep overflowed the
/// stack of the recursive literal parser and aborted the process.
#[test]
fn deeply_nested_header_is_refused_without_recursing() {
    let depth = 25_000;
    let dict = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': {}2{}, }}",
        "(".repeat(depth),
        ",)".repeat(depth)
    );
    let path = TempPath::new("nested.npy");
    std::fs::write(&path.0, numpy_style((2, 0), &dict, &[0; 8])).unwrap();
    let text = error_text(read_npy(&path.0));
    assert!(text.contains("nest over"), "{text}");
    assert!(text.contains("np.save"), "{text}");
    assert!(text.contains("nested.npy"), "{text}");
}

/// Issue 13, row 16: errors quoted the whole header back, up to 40 KB of it.
#[test]
fn errors_quote_at_most_a_hundred_characters_of_the_header() {
    let long_key = "k".repeat(40_000);
    let cases = [
        format!("{{'descr': '<f8', 'fortran_order': False, 'shape': (2,), '{long_key}': 1}}"),
        format!("{{'descr': '<{long_key}', 'fortran_order': False, 'shape': (2,), }}"),
        format!("{{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }} {long_key}"),
    ];
    for dict in cases {
        let text = error_text(read_npy_bytes(&numpy_style((2, 0), &dict, &[0; 16])));
        assert!(
            text.len() < 600,
            "{} characters: {}",
            text.len(),
            &text[..600]
        );
        assert!(text.contains("more characters"), "{text}");
    }
}

#[test]
fn npz_archives_are_read_by_name() {
    let dir = std::env::temp_dir().join(format!("wideprobe-npz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pair.npz");
    let mut npz = npyz::npz::NpzWriter::create(&path).unwrap();
    for (name, values) in [("a", vec![1.0f64, 2.0]), ("b", vec![3.0])] {
        let mut writer = npz
            .array(name, Default::default())
            .unwrap()
            .default_dtype()
            .shape(&[values.len() as u64])
            .begin_nd()
            .unwrap();
        writer.extend(values).unwrap();
        writer.finish().unwrap();
    }
    drop(npz);
    let arrays = read_npz(&path).unwrap();
    let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(arrays[0].1.to_f64(), vec![1.0, 2.0]);
    // A single matrix is wanted: two arrays are named in the error.
    let text = error_text(read_npy(&path));
    assert!(text.contains("2 arrays (a, b)"), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
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

//! The data readers on real files and on malformed ones.
//!
//! Real files (the fixtures in `tests/fixtures/`, cut from the full sets): the first 1 000
//! images and labels of MNIST's gzipped IDX test set (shapes, label range, first labels,
//! the dataset conversion) and the first 40 samples of FANN benchmark sets (thyroid,
//! diabetes, gene, soybean, building, mushroom, and xor whole: parsed shapes match the
//! headers).
//! Malformed files, written to a temporary directory: IDX with a bad magic number, an
//! unsupported type, truncated data (raw, gzipped, and a cut gzip stream), absurd dims
//! (refused at once, without allocating), trailing data, labels above 9, and images and
//! labels that disagree in count; FANN with a non-numeric field, NaN, infinity, an f32
//! overflow, too few and too many numbers, and bad headers. Each asserts the
//! `BpropError::Parse` variant and that the message names the file and the line/offset.
//! Also: the other IDX element types, FANN's line-insensitive reading, `write_fann`'s
//! round trip and `load`'s choice of reader.

use bprop::data::{
    format_of, load, load_mnist, parse_fann, read_fann, read_idx, read_idx_from, write_fann, Format, IdxArray, IdxData,
    IdxType, Loaded,
};
use bprop::model::Dataset;
use bprop::BpropError;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::common;

use crate::counting::{largest_allocation_in, Counting};
use common::fixture;

// Counts allocations, so that the readers' refusals of lying headers can be shown to come
// before any allocation of the declared size.
#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most a reader may allocate at once while refusing a header that declares gigabytes:
/// the readers reserve at most 64 MiB (IDX) or 2^20 numbers (FANN, 8 MiB in f64) before
/// the data is there, whatever the header says.
const RESERVE_CAP: usize = 64 << 20;

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("bprop-data-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An IDX header: magic with `code` and dims.
fn idx_header(code: u8, dims: &[u32]) -> Vec<u8> {
    let mut v = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v
}

/// Asserts a `Parse` error on `path` whose location contains `location`, whose message
/// contains every one of `parts`, and whose Display names both; returns the message.
#[track_caller]
fn assert_parse<T: std::fmt::Debug>(r: Result<T, BpropError>, file: &Path, location: &str, parts: &[&str]) -> String {
    let e = r.expect_err("expected a parse error");
    let shown = e.to_string();
    match &e {
        BpropError::Parse {
            path,
            location: loc,
            message,
        } => {
            assert_eq!(path, &file.display().to_string(), "{shown}");
            assert!(loc.contains(location), "location `{loc}` lacks `{location}`: {shown}");
            for p in parts {
                assert!(message.contains(p), "message lacks `{p}`: {shown}");
            }
            assert!(shown.contains(path.as_str()) && shown.contains(loc.as_str()), "{shown}");
        }
        other => panic!("expected BpropError::Parse, got {other:?}: {shown}"),
    }
    eprintln!("{shown}");
    shown
}

// ---- MNIST ----

#[test]
fn mnist_images_and_labels() {
    let set = load_mnist(
        fixture("mnist/t1k-images-idx3-ubyte.gz"),
        fixture("mnist/t1k-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    assert_eq!(set.len(), 1000);
    assert_eq!(set.images().dim(), (1000, 784));
    assert_eq!(set.image_dims(), &[28, 28]);
    assert_eq!(&set.labels()[..3], &[7, 2, 1]);
    assert!(set.labels().iter().all(|&l| l <= 9));
    // Every digit occurs (about 100 times each in the first 1 000), and the images are not
    // blank.
    for d in 0..10u8 {
        assert!(set.labels().iter().filter(|&&l| l == d).count() > 50, "digit {d}");
    }
    assert_eq!(set.images().iter().copied().max(), Some(255));
    // The first image is a 7: its ink lies in the middle rows, its border is blank.
    let first = set.images().row(0);
    assert!(first.iter().take(28 * 4).all(|&p| p == 0));
    assert!(first.iter().filter(|&&p| p > 0).count() > 50);

    let small = set.first(100);
    assert_eq!(small.len(), 100);
    let d: Dataset<f32> = small.to_dataset().unwrap();
    assert_eq!(d.inputs().dim(), (100, 784));
    assert_eq!(d.targets().dim(), (100, 10));
    for (i, (x, y)) in d.inputs().rows().into_iter().zip(d.targets().rows()).enumerate() {
        assert!(x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert_eq!(y.sum(), 1.0);
        assert_eq!(y[usize::from(set.labels()[i])], 1.0);
        for (j, &p) in set.images().row(i).iter().enumerate() {
            assert_eq!(x[j], p as f32 / 255.0);
        }
    }

    // The labels file alone, as an IDX array: compact u8.
    let labels = read_idx(fixture("mnist/t1k-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(labels.dims(), &[1000]);
    assert_eq!(labels.elem_type(), IdxType::U8);
    assert_eq!(labels.as_u8().unwrap(), set.labels());
}

// ---- FANN ----

/// The header's three counts, read naively.
fn header_of(path: &Path) -> (usize, usize, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let v: Vec<usize> = text.split_whitespace().take(3).map(|t| t.parse().unwrap()).collect();
    (v[0], v[1], v[2])
}

#[test]
fn fann_benchmark_sets() {
    let mut names = vec!["xor.data".to_string()];
    for set in ["thyroid", "diabetes", "gene", "soybean", "building", "mushroom"] {
        names.push(format!("{set}.train"));
        names.push(format!("{set}.test"));
    }
    for name in &names {
        let path = fixture(&format!("fann/{name}"));
        let (n, n_in, n_out) = header_of(&path);
        let d: Dataset<f32> = read_fann(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.inputs().dim(), (n, n_in), "{name}");
        assert_eq!(d.targets().dim(), (n, n_out), "{name}");
    }
    let xor: Dataset<f64> = read_fann(fixture("fann/xor.data")).unwrap();
    assert_eq!(
        xor.inputs(),
        &ndarray::array![[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]
    );
    assert_eq!(xor.targets(), &ndarray::array![[-1.0], [1.0], [1.0], [-1.0]]);
    let thyroid: Dataset<f64> = read_fann(fixture("fann/thyroid.train")).unwrap();
    assert_eq!(thyroid.inputs()[(0, 0)], 0.53);
    assert_eq!(thyroid.inputs()[(0, 16)], 0.0043);
    assert_eq!(thyroid.targets().row(0).to_vec(), vec![0.0, 0.0, 1.0]);
}

#[test]
fn fann_reads_numbers_as_a_stream_like_fann() {
    let xor: Dataset<f64> = read_fann(fixture("fann/xor.data")).unwrap();
    let texts = [
        "4 2 1\n-1 -1\n-1\n-1 1\n1\n1 -1\n1\n1 1\n-1\n",
        "\u{feff}4 2 1\r\n-1 -1\r\n-1\r\n-1 1\r\n1\r\n1 -1\r\n1\r\n1 1\r\n-1",
        "\n  4\t2 1\n\n\n-1 -1 -1\n-1\n1 1 1\n-1 1 1 1 -1   \n\n",
        "4 2 1 -1 -1 -1 -1 1 1 1 -1 1 1 1 -1",
        "4\n2\n1\n-1.0\n-1e0\n-1\n-1\n+1\n1.\n10e-1\n-1\n1\n1\n.1e1\n-0.1E+1",
    ];
    for text in texts {
        let d: Dataset<f64> = parse_fann(text.as_bytes(), "inline").unwrap_or_else(|e| panic!("{e}\n{text:?}"));
        assert_eq!(d, xor, "{text:?}");
    }
    // Gzipped FANN data is detected by its magic bytes.
    let gz = gzip(texts[0].as_bytes());
    let d: Dataset<f64> = parse_fann(&gz[..], "inline.gz").unwrap();
    assert_eq!(d, xor);
}

#[test]
fn write_fann_round_trips_atomically() {
    let dir = TempDir::new("write");
    for name in ["diabetes.train", "xor.data"] {
        let d: Dataset<f64> = read_fann(fixture(&format!("fann/{name}"))).unwrap();
        let out = dir.0.join(name);
        std::fs::write(&out, "old contents").unwrap();
        write_fann(&out, &d).unwrap();
        let back: Dataset<f64> = read_fann(&out).unwrap();
        assert_eq!(back, d);
    }
    // f32 values survive exactly too.
    let d: Dataset<f32> = read_fann(fixture("fann/thyroid.test")).unwrap();
    let out = dir.0.join("thyroid.test");
    write_fann(&out, &d).unwrap();
    assert_eq!(read_fann::<f32>(&out).unwrap(), d);
    // No temporary files are left behind.
    let mut names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["diabetes.train", "thyroid.test", "xor.data"]);
    // A directory that does not exist: an Io error, nothing created.
    let missing = dir.0.join("no/such/dir/x.data");
    assert!(matches!(write_fann(&missing, &d), Err(BpropError::Io { .. })));
}

// ---- load ----

#[test]
fn load_picks_the_reader_by_name() {
    assert_eq!(format_of("a/t10k-images-idx3-ubyte").unwrap(), Format::Idx);
    assert_eq!(format_of("t10k-images.idx3-ubyte").unwrap(), Format::Idx);
    assert_eq!(format_of("x.idx").unwrap(), Format::Idx);
    assert_eq!(format_of("x.IDX1.gz").unwrap(), Format::Idx);
    assert_eq!(format_of("x.gz").unwrap(), Format::Idx);
    assert_eq!(format_of("x.train").unwrap(), Format::Fann);
    assert_eq!(format_of("x.test.gz").unwrap(), Format::Fann);
    assert_eq!(format_of("x.data").unwrap(), Format::Fann);
    let e = format_of("x.xlsx").unwrap_err();
    assert!(matches!(e, BpropError::UnknownName { .. }), "{e}");
    assert!(
        e.to_string().contains("x.xlsx") && e.to_string().contains(".train") && e.to_string().contains(".csv"),
        "{e}"
    );
    assert!(matches!(format_of("noext"), Err(BpropError::UnknownName { .. })));
    assert!(matches!(format_of(".."), Err(BpropError::InvalidArgument { .. })));

    match load::<f32>(fixture("fann/xor.data")).unwrap() {
        Loaded::Fann(d) => assert_eq!(d.len(), 4),
        other => panic!("{other:?}"),
    }
    match load::<f32>(fixture("mnist/t1k-labels-idx1-ubyte.gz")).unwrap() {
        Loaded::Idx(a) => assert_eq!(a.dims(), &[1000]),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        load::<f32>(fixture("fann/no-such.train")),
        Err(BpropError::Io { .. })
    ));
}

// ---- IDX element types ----

#[test]
fn idx_element_types_are_big_endian() {
    let mut f = idx_header(0x0B, &[2, 2]);
    for v in [1i16, -2, 300, -32768] {
        f.extend_from_slice(&v.to_be_bytes());
    }
    let a = read_idx_from(&f[..], "i16", 1 << 20).unwrap();
    assert_eq!(a.dims(), &[2, 2]);
    assert_eq!(a.data(), &IdxData::I16(vec![1, -2, 300, -32768]));
    assert_eq!(a.data().to_real::<f64>(), vec![1.0, -2.0, 300.0, -32768.0]);

    let mut f = idx_header(0x09, &[3]);
    f.extend_from_slice(&[0xFF, 0x01, 0x80]);
    assert_eq!(
        read_idx_from(&f[..], "i8", 1 << 20).unwrap().data(),
        &IdxData::I8(vec![-1, 1, -128])
    );

    let mut f = idx_header(0x0C, &[1]);
    f.extend_from_slice(&(-70000i32).to_be_bytes());
    assert_eq!(
        read_idx_from(&f[..], "i32", 1 << 20).unwrap().data(),
        &IdxData::I32(vec![-70000])
    );

    let mut f = idx_header(0x0D, &[2, 1]);
    for v in [1.5f32, -0.25] {
        f.extend_from_slice(&v.to_be_bytes());
    }
    assert_eq!(
        read_idx_from(&gzip(&f)[..], "f32.gz", 1 << 20).unwrap().data(),
        &IdxData::F32(vec![1.5, -0.25])
    );

    assert!(matches!(
        IdxArray::new(vec![2, 2], IdxData::U8(vec![1, 2, 3])),
        Err(BpropError::Shape { .. })
    ));
    assert!(matches!(
        IdxArray::new(vec![], IdxData::U8(vec![])),
        Err(BpropError::Shape { .. })
    ));
    assert_eq!(IdxArray::new(vec![3, 0], IdxData::U8(vec![])).unwrap().len(), 0);

    let mut f = idx_header(0x0E, &[1, 1, 1]);
    f.extend_from_slice(&std::f64::consts::PI.to_be_bytes());
    let a = read_idx_from(&f[..], "f64", 1 << 20).unwrap();
    assert_eq!(a.dims(), &[1, 1, 1]);
    assert_eq!(a.data(), &IdxData::F64(vec![std::f64::consts::PI]));
}

// ---- malformed IDX ----

#[test]
fn idx_bad_magic_and_type() {
    let dir = TempDir::new("idx-magic");
    let p = dir.file("bad.idx", b"P5\n28 28\n255\n");
    let msg = assert_parse(read_idx(&p), &p, "byte offset 0", &["bad magic number 50 35 0A 32"]);
    assert!(msg.contains(":byte offset 0:"), "{msg}");

    let p = dir.file("type.idx", &[0, 0, 0x0A, 1, 0, 0, 0, 1, 7]);
    assert_parse(read_idx(&p), &p, "byte offset 2", &["unsupported type code 0x0A"]);

    let p = dir.file("nodims.idx", &[0, 0, 0x08, 0]);
    assert_parse(read_idx(&p), &p, "byte offset 3", &["0 dimensions"]);

    let p = dir.file("short.idx", &[0, 0]);
    assert_parse(
        read_idx(&p),
        &p,
        "byte offset 2",
        &["truncated at byte offset 2", "magic"],
    );

    let missing = dir.0.join("missing-idx1-ubyte");
    assert!(matches!(read_idx(&missing), Err(BpropError::Io { .. })));

    let p = dir.file("empty.idx", &[]);
    assert_parse(read_idx(&p), &p, "byte offset 0", &["truncated at byte offset 0"]);

    let mut f = idx_header(0x08, &[28, 28]);
    f.truncate(9);
    let p = dir.file("header.idx", &f);
    assert_parse(
        read_idx(&p),
        &p,
        "byte offset 9",
        &["truncated at byte offset 9", "2 4-byte"],
    );
}

#[test]
fn idx_truncated_raw_and_gz() {
    let dir = TempDir::new("idx-trunc");
    let mut f = idx_header(0x08, &[3, 28, 28]);
    f.extend(std::iter::repeat_n(7u8, 3 * 784 - 100));
    let p = dir.file("images-idx3-ubyte", &f);
    let want = "truncated at byte offset 2268: expected 2352 bytes of data for dims [3, 28, 28]";
    assert_parse(read_idx(&p), &p, "byte offset 2268", &[want]);

    // Gzip of the truncated file: offsets are in the decompressed data.
    let p = dir.file("images-idx3-ubyte.gz", &gzip(&f));
    let msg = assert_parse(read_idx(&p), &p, "byte offset 2268 (of the decompressed data)", &[want]);
    assert!(msg.contains("images-idx3-ubyte.gz"), "{msg}");

    // A gzip stream that is itself cut short.
    let mut whole = idx_header(0x0E, &[1000]);
    for i in 0..1000u32 {
        whole.extend_from_slice(&(f64::from(i).sin()).to_be_bytes());
    }
    let gz = gzip(&whole);
    let p = dir.file("cut.idx.gz", &gz[..gz.len() / 2]);
    assert_parse(read_idx(&p), &p, "of the decompressed data", &[]);

    // 16 bit data cut in the middle of an element.
    let mut f = idx_header(0x0B, &[4]);
    f.extend_from_slice(&[0, 1, 0, 2, 0]);
    let p = dir.file("odd.idx", &f);
    assert_parse(
        read_idx(&p),
        &p,
        "byte offset 13",
        &["expected 8 bytes of data for dims [4] of i16"],
    );

    // Trailing data after the declared elements.
    let mut f = idx_header(0x08, &[2]);
    f.extend_from_slice(&[1, 2, 3]);
    let p = dir.file("long.idx", &f);
    assert_parse(read_idx(&p), &p, "byte offset 10", &["trailing data"]);
}

#[test]
fn idx_absurd_dims_error_before_allocating() {
    let dir = TempDir::new("idx-absurd");
    let check = |name: &str, bytes: &[u8], location: &str, parts: &[&str]| {
        let p = dir.file(name, bytes);
        let (largest, r) = largest_allocation_in(|| read_idx(&p));
        assert_parse(r, &p, location, parts);
        assert!(largest <= RESERVE_CAP, "{name}: allocated {largest} bytes at once");
    };
    check(
        "huge.idx",
        &idx_header(0x08, &[0xFFFF_FFFF, 0xFFFF_FFFF]),
        "byte offset 4",
        &["[4294967295, 4294967295]", "limit"],
    );
    check(
        "overflow.idx.gz",
        &gzip(&idx_header(0x0E, &[0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF])),
        "byte offset 4",
        &["more than 2^64 elements"],
    );
    // Just over the 4 GiB bound.
    check(
        "big.idx",
        &idx_header(0x0C, &[1 << 30, 1, 2]),
        "byte offset 4",
        &["2147483648 elements of i32"],
    );
    // Within the bound but far beyond the file: the reader does not trust the header.
    check(
        "liar.idx",
        &idx_header(0x08, &[1 << 30, 3]),
        "byte offset 12",
        &["expected 3221225472 bytes"],
    );
}

#[test]
fn mnist_labels_and_counts_are_checked() {
    let dir = TempDir::new("mnist");
    let mut images = idx_header(0x08, &[3, 2, 2]);
    images.extend_from_slice(&[0, 255, 128, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let imgs = dir.file("images-idx3-ubyte", &images);

    let mut labels = idx_header(0x08, &[3]);
    labels.extend_from_slice(&[1, 12, 3]);
    let labs = dir.file("labels-idx1-ubyte", &labels);
    assert_parse(load_mnist(&imgs, &labs), &labs, "byte offset 9", &["label 12", "0..=9"]);

    let mut labels = idx_header(0x08, &[4]);
    labels.extend_from_slice(&[1, 2, 3, 4]);
    let labs = dir.file("labels4-idx1-ubyte.gz", &gzip(&labels));
    let msg = assert_parse(
        load_mnist(&imgs, &labs),
        &labs,
        "byte offset 4",
        &["4 labels", "3 images"],
    );
    assert!(msg.contains(&imgs.display().to_string()), "{msg}");

    let mut labels = idx_header(0x0B, &[3]);
    labels.extend_from_slice(&[0; 6]);
    let labs = dir.file("labels16-idx1-ubyte", &labels);
    assert_parse(load_mnist(&imgs, &labs), &labs, "byte offset 2", &["must be u8"]);

    let mut labels = idx_header(0x08, &[3]);
    labels.extend_from_slice(&[9, 0, 5]);
    let labs = dir.file("ok-idx1-ubyte", &labels);
    let set = load_mnist(&imgs, &labs).unwrap();
    assert_eq!(set.images().dim(), (3, 4));
    let d = set.to_dataset::<f64>().unwrap();
    assert_eq!(d.inputs().row(0).to_vec(), vec![0.0, 1.0, 128.0 / 255.0, 1.0 / 255.0]);
    assert_eq!(
        d.targets().row(0).to_vec(),
        vec![0., 0., 0., 0., 0., 0., 0., 0., 0., 1.]
    );

    // Truncated images: found after the labels were accepted.
    let p = dir.file("cut-idx3-ubyte", &images[..images.len() - 1]);
    assert_parse(
        load_mnist(&p, &labs),
        &p,
        "byte offset 27",
        &["truncated at byte offset 27"],
    );
}

// ---- malformed FANN ----

#[test]
fn fann_bad_fields() {
    let dir = TempDir::new("fann-fields");
    let p = dir.file("word.train", b"2 2 1\n0 1\n1\n1 abc\n0\n");
    assert_parse(
        read_fann::<f32>(&p),
        &p,
        "line 4, column 3",
        &["sample 2's input 2 of 2 `abc` is not a number"],
    );

    let p = dir.file("comma.train", b"1 2 1\n\t0,5 1\n1\n");
    assert_parse(read_fann::<f32>(&p), &p, "line 2, column 2", &["`0,5` is not a number"]);

    let p = dir.file("nan.train", b"2 2 1\n0 1\n1\n1 0\nNaN\n");
    assert_parse(
        read_fann::<f64>(&p),
        &p,
        "line 5, column 1",
        &["sample 2's output 1 of 1 `NaN` is not finite"],
    );

    let p = dir.file("inf.train", b"1 2 1\n0 -inf\n1\n");
    assert_parse(read_fann::<f64>(&p), &p, "line 2, column 3", &["`-inf` is not finite"]);

    let p = dir.file("big.train", b"1 2 1\n0 1e39\n1\n");
    assert_parse(
        read_fann::<f32>(&p),
        &p,
        "line 2, column 3",
        &["`1e39` is out of range for f32"],
    );
    assert!(read_fann::<f64>(&p).is_ok());
}

#[test]
fn fann_too_few_and_too_many_numbers() {
    let dir = TempDir::new("fann-count");
    // Truncated: the last sample's inputs run out at the end of the file.
    let mut text = String::from("12 4 1\n");
    for i in 0..11 {
        text.push_str(&format!("{i} 1 2 3\n1\n"));
    }
    text.push_str("0.5 0.5\n");
    let p = dir.file("short.train", text.as_bytes());
    assert_parse(
        read_fann::<f32>(&p),
        &p,
        "line 24",
        &["expected 4 numbers for sample 12's inputs, found end of file after 2"],
    );

    let p = dir.file("noout.train", b"1 2 3\n0 1\n");
    assert_parse(
        read_fann::<f32>(&p),
        &p,
        "line 2",
        &["expected 3 numbers for sample 1's outputs", "after 0"],
    );

    let p = dir.file("long.train", b"2 2 1\n0 1\n1\n1 0\n0\n\n 7 8\n");
    assert_parse(read_fann::<f32>(&p), &p, "line 7, column 2", &["trailing data `7`"]);

    // A gzipped file cut short inside the compressed stream.
    let gz = gzip(std::fs::read(fixture("fann/diabetes.train")).unwrap().as_slice());
    let p = dir.file("cut.train.gz", &gz[..gz.len() / 2]);
    let e = read_fann::<f32>(&p).unwrap_err();
    assert!(matches!(e, BpropError::Parse { .. }), "{e}");
    assert!(e.to_string().contains("cut.train.gz:line "), "{e}");
    eprintln!("{e}");
}

#[test]
fn fann_bad_headers() {
    let dir = TempDir::new("fann-header");
    let cases: &[(&str, &[u8], &str, &str)] = &[
        (
            "zero.train",
            b"0 2 1\n",
            "line 1, column 1",
            "the number of samples `0` is not positive",
        ),
        (
            "neg.train",
            b"4 -2 1\n",
            "line 1, column 3",
            "the number of inputs `-2` is not a positive integer",
        ),
        (
            "frac.train",
            b"4 2 1.5\n",
            "line 1, column 5",
            "the number of outputs `1.5` is not a positive integer",
        ),
        (
            "word.train",
            b"four 2 1\n",
            "line 1, column 1",
            "`four` is not a positive integer",
        ),
        (
            "huge.train",
            b"99999999999999999999999 2 1\n",
            "line 1, column 1",
            "is absurdly large",
        ),
        (
            "product.train",
            b"4294967296 4294967296 4294967296\n0\n",
            "line 1",
            "more numbers than memory can hold",
        ),
        ("empty.train", b"", "line 1", "expected a header"),
        ("blank.train", b"\n\n  \n", "line 3", "expected a header"),
        ("two.train", b"4 2\n", "line 1", "expected 3 header numbers"),
    ];
    for (name, text, location, part) in cases {
        let p = dir.file(name, text);
        assert_parse(read_fann::<f32>(&p), &p, location, &[part]);
    }
    // A plausible but huge header on a tiny file: no preallocation of the declared size.
    let p = dir.file("liar.train", b"100000000 1000 1000\n1 2\n");
    let (largest, r) = largest_allocation_in(|| read_fann::<f32>(&p));
    assert_parse(r, &p, "line 2", &["expected 1000 numbers for sample 1's inputs"]);
    assert!(largest <= RESERVE_CAP, "allocated {largest} bytes at once");
}

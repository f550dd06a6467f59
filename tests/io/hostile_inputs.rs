//! Hostile data files: text cut at byte offsets that are not character boundaries, headers
//! declaring more than can fit, inputs without end, special files. Each is a typed error
//! naming the file (and the place or the limit), never a panic or unbounded memory.

use bprop::data::{self, parse_npy, CsvOptions};
use bprop::io::parse_fann_net;
use bprop::BpropError;

/// A `.npy` file (version 1.0) with `dict` as its header and `data` after it.
fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut h = dict.as_bytes().to_vec();
    h.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

#[test]
fn a_npy_descr_starting_with_a_multibyte_character_is_an_error() {
    let bytes = npy("{'descr': 'éf8', 'fortran_order': False, 'shape': (1,), }", &[0; 8]);
    match parse_npy(&bytes, "x.npy") {
        Err(BpropError::Parse { path, message, .. }) => {
            assert_eq!(path, "x.npy");
            assert!(message.contains("unsupported element type 'éf8'"), "{message}");
        }
        other => panic!("expected a Parse error, got {other:?}"),
    }
}

#[test]
fn a_fann_net_with_multibyte_text_where_a_tuple_is_expected_is_an_error() {
    let text = "FANN_FLO_2.1\nnetwork_type=0\nlayer_sizes=2 2\n\
                neurons (num_inputs, activation_function, activation_steepness)=ééééééééééééééééééééé\n\
                connections (connected_to_neuron, weight)=\n";
    match parse_fann_net(text, "n.net") {
        Err(BpropError::ModelFile { path, why }) => {
            assert_eq!(path, "n.net");
            assert!(why.contains("expected `(`") && why.contains("éééé..."), "{why}");
        }
        other => panic!("expected a ModelFile error, got {other:?}"),
    }
}

#[test]
fn csv_reader_accepts_plain_input() {
    let g = data::parse_csv(&b"a,b\n1,2\n"[..], "t.csv", &CsvOptions::default()).unwrap();
    assert_eq!((g.rows, g.cols), (1, 2));
}

use bprop::data::{
    format_of, load_mnist, load_table, read_csv, read_fann, read_idx, read_npy, Format, TableOptions, Task,
};
use bprop::io::{read_fann_net, read_model};
use flate2::{write::GzEncoder, Compression};
use std::io::Write;
use std::path::{Path, PathBuf};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The `InputLimit` error's `what` and limit, asserting the variant and the path.
#[track_caller]
fn limit_err<T: std::fmt::Debug>(r: Result<T, BpropError>, path: &Path) -> (String, u64) {
    match r {
        Err(BpropError::InputLimit {
            path: p,
            what,
            limit,
            hint,
        }) => {
            assert_eq!(p, path.display().to_string());
            assert!(!hint.is_empty());
            (what, limit)
        }
        Err(other) => panic!("expected an InputLimit error, got {other:?}"),
        Ok(_) => panic!("expected an InputLimit error, got a result"),
    }
}

#[track_caller]
fn parse_err<T: std::fmt::Debug>(r: Result<T, BpropError>) -> (String, String) {
    match r {
        Err(BpropError::Parse { location, message, .. }) => (location, message),
        Err(other) => panic!("expected a Parse error, got {other:?}"),
        Ok(_) => panic!("expected a Parse error, got a result"),
    }
}

#[test]
fn a_small_csv_gz_expanding_far_beyond_its_size_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // 70 MiB of rows in under 1 MB: over the 64 MiB floor of the ratio bound (long fields,
    // so that the stream's bound is met before the bound on the table's memory).
    let rows = "0.000000000000001,0.000000000000002,0.000000000000003,1\n".repeat((70 << 20) / 56);
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(rows.as_bytes()).unwrap();
    let p = write(dir.path(), "bomb.csv.gz", &e.finish().unwrap());
    let compressed = std::fs::metadata(&p).unwrap().len();
    assert!(
        compressed * bprop::data::MAX_GZIP_RATIO < bprop::data::GZIP_RATIO_FLOOR,
        "{compressed}"
    );
    let (what, limit) = limit_err(read_csv(&p, &CsvOptions::default()), &p);
    assert!(what.contains("decompressed"), "{what}");
    assert_eq!(limit, bprop::data::GZIP_RATIO_FLOOR);
}

#[test]
fn a_fann_gz_without_newlines_stops_at_the_line_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = b"1 1 1\n".to_vec();
    text.resize(text.len() + (17 << 20), b'7');
    let p = write(dir.path(), "long.train.gz", &gzip(&text));
    let (what, limit) = limit_err(read_fann::<f32>(&p), &p);
    assert_eq!((what.as_str(), limit), ("line 2", bprop::data::MAX_LINE_BYTES));
}

#[test]
fn an_idx_gz_declaring_gigabytes_is_refused_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    // 2.7 GiB of pixels declared, a few bytes there.
    let mut f = vec![0, 0, 0x08, 3];
    for d in [3_600_000u32, 28, 28] {
        f.extend_from_slice(&d.to_be_bytes());
    }
    f.extend_from_slice(&[0; 1000]);
    let p = write(dir.path(), "big-images-idx3-ubyte.gz", &gzip(&f));
    let (what, _) = limit_err(read_idx(&p), &p);
    assert!(what.contains("2822400000 bytes"), "{what}");
}

#[test]
fn mnist_counts_are_compared_before_either_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // Labels declaring 2^31 - 1 labels (with 10 there), images declaring 5.
    let mut labels = vec![0, 0, 0x08, 1];
    labels.extend_from_slice(&(u32::MAX >> 1).to_be_bytes());
    labels.extend_from_slice(&[1; 10]);
    let lp = write(dir.path(), "l-idx1-ubyte", &labels);
    let mut images = vec![0, 0, 0x08, 3, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 2];
    images.extend_from_slice(&[0; 20]);
    let ip = write(dir.path(), "i-idx3-ubyte", &images);
    let (location, message) = parse_err(load_mnist(&ip, &lp));
    assert_eq!(location, "byte offset 4");
    assert!(
        message.contains("2147483647 labels") && message.contains("5 images"),
        "{message}"
    );
}

#[test]
fn a_very_wide_csv_row_is_refused_by_its_column_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut line = "0,".repeat(bprop::data::csv::MAX_COLUMNS + 5);
    line.push_str("1\n");
    let p = write(dir.path(), "wide.csv", line.as_bytes());
    let (what, limit) = limit_err(read_csv(&p, &CsvOptions::default()), &p);
    assert!(what.contains("line 1") && what.contains("columns"), "{what}");
    assert_eq!(limit, bprop::data::csv::MAX_COLUMNS as u64);
    // A line longer than the line limit stops there, whatever it holds.
    let long = "7".repeat((16 << 20) + 10);
    let p = write(dir.path(), "long.csv", format!("a,b\n1,{long}\n").as_bytes());
    let (what, _) = limit_err(read_csv(&p, &CsvOptions::default()), &p);
    assert_eq!(what, "line 2");
}

#[test]
fn an_unterminated_quote_is_an_error_at_its_line() {
    let text = "a,b\n1,2\n\n\"3,4\n5,6\n7,8\n";
    let (location, message) = parse_err(data::parse_csv(text.as_bytes(), "q.csv", &CsvOptions::default()));
    assert_eq!(location, "line 4");
    assert!(message.contains("never closed"), "{message}");
    // Closed quotes, escaped quotes and quoted newlines are still read.
    let ok = "a,b\n\"1\",\"x \"\"y\"\"\nz\"\n3,w\n";
    let g = data::parse_csv(ok.as_bytes(), "ok.csv", &CsvOptions::default()).unwrap();
    assert_eq!((g.rows, g.lines.as_deref()), (2, Some(&[2, 4][..])));
}

#[test]
fn an_identifier_column_as_the_default_target_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("x,id\n");
    for i in 0..200 {
        text += &format!("{},row{i}\n", i % 7);
    }
    let p = write(dir.path(), "ids.csv", text.as_bytes());
    match load_table::<f32>(&p, &TableOptions::default()) {
        Err(BpropError::InvalidArgument { name, value, why }) => {
            assert_eq!(name, "target");
            assert!(value.contains("`id`"), "{value}");
            assert!(why.contains("200 distinct labels in 200 rows"), "{why}");
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    // Asked for explicitly, it is encoded.
    let opts = TableOptions {
        task: Some(Task::Classification),
        ..TableOptions::default()
    };
    assert_eq!(load_table::<f32>(&p, &opts).unwrap().schema.outputs, 200);
}

#[cfg(unix)]
#[test]
fn special_files_are_not_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.csv");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let not_regular = |r: Result<(), BpropError>, path: &Path| match r {
        Err(BpropError::NotRegularFile { path: p, kind }) => {
            assert_eq!(p, path.display().to_string());
            kind
        }
        other => panic!("expected NotRegularFile for {}, got {other:?}", path.display()),
    };
    // A FIFO without a writer: an error at once, not a read blocked forever.
    assert_eq!(
        not_regular(read_csv(&fifo, &CsvOptions::default()).map(|_| ()), &fifo),
        "a FIFO or pipe"
    );
    let zero = Path::new("/dev/zero");
    assert_eq!(not_regular(read_fann_net(zero).map(|_| ()), zero), "a character device");
    assert_eq!(not_regular(read_model(zero).map(|_| ()), zero), "a character device");
    assert_eq!(not_regular(read_npy(zero).map(|_| ()), zero), "a character device");
    assert_eq!(not_regular(read_idx(zero).map(|_| ()), zero), "a character device");
    assert_eq!(
        not_regular(read_fann::<f32>(dir.path()).map(|_| ()), dir.path()),
        "a directory"
    );
}

#[test]
fn npy_gz_goes_to_the_npy_reader() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "a.npy.gz",
        &gzip(&bprop::data::npy::npy_f64_bytes(&[1.0, 2.0, 3.0, 4.0], 2, 2)),
    );
    assert_eq!(format_of(&p).unwrap(), Format::Npy);
    let a = read_npy(&p).unwrap();
    assert_eq!(
        (a.shape.as_slice(), a.values.as_slice()),
        (&[2, 2][..], &[1.0, 2.0, 3.0, 4.0][..])
    );
}

#[test]
fn mnist_images_with_no_rows_and_absurd_dims_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let lp = write(dir.path(), "l-idx1-ubyte", &[0, 0, 0x08, 1, 0, 0, 0, 0]);
    let mut images = vec![0, 0, 0x08, 4, 0, 0, 0, 0];
    for _ in 0..3 {
        images.extend_from_slice(&(1u32 << 31).to_be_bytes());
    }
    let ip = write(dir.path(), "i-idx3-ubyte", &images);
    let (location, message) = parse_err(load_mnist(&ip, &lp));
    assert_eq!(location, "byte offset 4");
    assert!(message.contains("overflow"), "{message}");
}

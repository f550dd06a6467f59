//! The table readers: CSV/TSV (header detection, delimiters, quoting, targets by name and
//! index, text and integer class labels, errors naming file, line and column), NumPy .npy
//! (each supported dtype, 1-D and 3-D arrays, big-endian; unsupported dtypes, Fortran order,
//! truncation, trailing bytes and absurd shapes refused), schemas applied to new files
//! (prediction without targets, unknown labels), `load_table` and `format_of`, and input
//! scaling.

use bprop::data::npy::npy_f64_bytes;
use bprop::data::{
    format_of, load, load_table, parse_csv, parse_npy, read_csv, read_npy, ColumnRef, CsvOptions, Format, Loaded,
    ScaleKind, Scaling, Table, TableOptions, Task,
};
use bprop::BpropError;
use ndarray::array;
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Asserts a `Parse` error whose location contains `location` and message every part.
#[track_caller]
fn parse_err<T: std::fmt::Debug>(r: Result<T, BpropError>, file: &str, location: &str, parts: &[&str]) {
    match r {
        Err(BpropError::Parse {
            path,
            location: loc,
            message,
        }) => {
            assert!(path.contains(file), "{path} should name {file}");
            assert!(
                loc.contains(location),
                "location {loc:?} should contain {location:?} ({message})"
            );
            for p in parts {
                assert!(message.contains(p), "message {message:?} should contain {p:?}");
            }
        }
        other => panic!("expected a Parse error, got {other:?}"),
    }
}

fn opts(targets: &[&str]) -> TableOptions {
    TableOptions {
        targets: targets.iter().map(|t| t.parse::<ColumnRef>().unwrap()).collect(),
        ..TableOptions::default()
    }
}

const IRIS: &str = "\
sepal_length,sepal_width,species
5.1,3.5,setosa
7.0,3.2,versicolor
6.3,3.3,virginica
4.9,3.0,setosa
";

#[test]
fn a_csv_with_a_header_and_text_labels() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "iris.csv", IRIS.as_bytes());
    let g = read_csv(&p, &CsvOptions::default()).unwrap();
    assert_eq!(g.names.as_deref().unwrap(), ["sepal_length", "sepal_width", "species"]);
    assert_eq!((g.rows, g.cols), (4, 3));
    assert_eq!(g.lines.as_deref().unwrap(), [2, 3, 4, 5]);
    for targets in [&["species"][..], &["2"], &[]] {
        let t: Table<f64> = load_table(&p, &opts(targets)).unwrap();
        assert_eq!(t.inputs, array![[5.1, 3.5], [7.0, 3.2], [6.3, 3.3], [4.9, 3.0]]);
        assert_eq!(
            t.targets.unwrap(),
            array![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
        );
        let s = &t.schema;
        assert_eq!(s.task, Task::Classification);
        assert_eq!(s.labels.as_deref().unwrap(), ["setosa", "versicolor", "virginica"]);
        assert_eq!(s.input_names.as_deref().unwrap(), ["sepal_length", "sepal_width"]);
        assert!(s.encoded);
        assert_eq!(s.class_name(2), "virginica");
    }
}

#[test]
fn headers_are_detected_and_can_be_forced() {
    let g = parse_csv("1,2,3\n4,5,6\n".as_bytes(), "n.csv", &CsvOptions::default()).unwrap();
    assert!(g.names.is_none());
    assert_eq!(g.rows, 2);
    // Text above numbers: a header, even with a text label column.
    let g = parse_csv("a,b,label\n1,2,x\n".as_bytes(), "h.csv", &CsvOptions::default()).unwrap();
    assert_eq!(g.names.unwrap(), ["a", "b", "label"]);
    // Text labels in the first data row are not a header.
    let g = parse_csv("1,2,x\n3,4,y\n".as_bytes(), "l.csv", &CsvOptions::default()).unwrap();
    assert!(g.names.is_none());
    assert_eq!(g.rows, 2);
    // Nor are missing values above numbers.
    let g = parse_csv("1,NA,x\n3,4,y\n".as_bytes(), "m.csv", &CsvOptions::default()).unwrap();
    assert!(g.names.is_none());
    assert_eq!(g.rows, 2);
    // Forced.
    let forced = CsvOptions {
        header: Some(true),
        ..CsvOptions::default()
    };
    let g = parse_csv("1,2\n3,4\n".as_bytes(), "f.csv", &forced).unwrap();
    assert_eq!(g.names.unwrap(), ["1", "2"]);
    assert_eq!(g.rows, 1);
}

#[test]
fn delimiters_quotes_blank_lines_and_bom() {
    // TSV by extension; semicolons detected; quoted fields with delimiters inside.
    let g = parse_csv("x\ty\n1\t2\n".as_bytes(), "d.tsv", &CsvOptions::default()).unwrap();
    assert_eq!((g.rows, g.cols), (1, 2));
    let g = parse_csv("1;2;3\n4;5;6\n".as_bytes(), "d.csv", &CsvOptions::default()).unwrap();
    assert_eq!(g.cols, 3);
    let text = "\u{feff}a,b,name\n1,2,\"Smith, J.\"\n\n3 , 4,\"O\"\"Brien\"\r\n";
    let g = parse_csv(text.as_bytes(), "q.csv", &CsvOptions::default()).unwrap();
    assert_eq!(g.names.as_deref().unwrap()[0], "a", "BOM dropped");
    assert_eq!(g.rows, 2, "blank line skipped");
    assert_eq!(
        g.text[2],
        vec![(0, "Smith, J.".to_string()), (1, "O\"Brien".to_string())]
    );
    assert_eq!(g.values[3], 3.0, "fields trimmed");
    assert_eq!(g.lines.as_deref().unwrap(), [2, 4]);
}

#[test]
fn ragged_rows_and_non_numeric_inputs_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "ragged.csv", b"a,b,c\n1,2,3\n4,5\n");
    parse_err(
        read_csv(&p, &CsvOptions::default()),
        "ragged.csv",
        "line 3",
        &["2 fields", "header (line 1) has 3"],
    );
    let p = write(dir.path(), "text.csv", b"a,b,c\n1,2,3\n4,oops,6\n");
    parse_err(
        load_table::<f32>(&p, &opts(&["c"])),
        "text.csv",
        "line 3, column 2 (`b`)",
        &["`oops`", "; `b` (column 1) is an input"],
    );
    let p = write(dir.path(), "empty.csv", b"1,2,3\n4,,6\n");
    parse_err(
        load_table::<f32>(&p, &opts(&[])),
        "empty.csv",
        "line 2, column 2",
        &["1 missing value", "column 1: 1 (line 2)", "--impute"],
    );
    let err = load_table::<f32>(&p, &opts(&[])).unwrap_err().to_string();
    assert!(!err.contains("column column"), "{err}");
    let p = write(dir.path(), "nan.csv", b"a,y\nnan,1.5\n2,2.5\n3,0.1\n");
    parse_err(
        load_table::<f32>(&p, &opts(&["y"])),
        "nan.csv",
        "line 2, column 1",
        &["1 missing value", "`a` (column 0): 1 (line 2)", "--impute"],
    );
    // A regression target with text.
    let p = write(dir.path(), "regr.csv", b"a,y\n1,1.5\n2,abc\n3,0.1\n");
    let o = TableOptions {
        task: Some(Task::Regression),
        ..opts(&["y"])
    };
    parse_err(
        load_table::<f32>(&p, &o),
        "regr.csv",
        "line 3, column 2",
        &["`abc`", "target"],
    );
    // An f32 overflow.
    let p = write(dir.path(), "big.csv", b"1e39,1\n2,0\n");
    parse_err(
        load_table::<f32>(&p, &opts(&[])),
        "big.csv",
        "line 1, column 1",
        &["overflows f32"],
    );
    // Invalid UTF-8.
    let p = write(dir.path(), "utf.csv", b"a,b\n1,2\n3,\xff\xfe\n");
    parse_err(
        read_csv(&p, &CsvOptions::default()),
        "utf.csv",
        "line 3",
        &["malformed"],
    );
    // Empty file, header only.
    let p = write(dir.path(), "none.csv", b"");
    parse_err(read_csv(&p, &CsvOptions::default()), "none.csv", "line", &["empty"]);
    let p = write(dir.path(), "head.csv", b"a,b\n");
    parse_err(
        read_csv(&p, &CsvOptions::default()),
        "head.csv",
        "line 1",
        &["no data rows"],
    );
}

#[test]
fn unknown_target_columns_are_refused_with_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "iris.csv", IRIS.as_bytes());
    for (t, part) in [("colour", "species"), ("7", "3 columns")] {
        match load_table::<f32>(&p, &opts(&[t])) {
            Err(BpropError::InvalidArgument {
                name: "target", why, ..
            }) => assert!(why.contains(part), "{why}"),
            other => panic!("{other:?}"),
        }
    }
    let p = write(dir.path(), "nohead.csv", b"1,2,0\n3,4,1\n");
    match load_table::<f32>(&p, &opts(&["label"])) {
        Err(BpropError::InvalidArgument { why, .. }) => assert!(why.contains("no header"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn integer_labels_classes_regression_and_several_targets() {
    let dir = tempfile::tempdir().unwrap();
    // Integer codes, few distinct: classes sorted numerically (10 after 2).
    let p = write(dir.path(), "int.csv", b"x,y\n0.5,2\n0.1,10\n0.3,2\n0.9,1\n");
    let t: Table<f32> = load_table(&p, &opts(&[])).unwrap();
    assert_eq!(t.schema.task, Task::Classification);
    assert_eq!(t.schema.labels.as_deref().unwrap(), ["1", "2", "10"]);
    assert_eq!(t.targets.unwrap().row(1).to_vec(), [0.0, 0.0, 1.0]);
    // The same as regression when asked.
    let o = TableOptions {
        task: Some(Task::Regression),
        ..opts(&[])
    };
    let t: Table<f32> = load_table(&p, &o).unwrap();
    assert_eq!(t.schema.task, Task::Regression);
    assert_eq!(t.targets.unwrap().column(0).to_vec(), [2.0, 10.0, 2.0, 1.0]);
    // Real values: regression.
    let p = write(dir.path(), "real.csv", b"x,y\n0.5,2.5\n0.1,1.25\n");
    let t: Table<f64> = load_table(&p, &opts(&[])).unwrap();
    assert_eq!(t.schema.task, Task::Regression);
    // Two target columns by index and name; one-hot rows make a classification whose
    // labels are the column names.
    let p = write(dir.path(), "two.csv", b"a,cat,b,dog\n1,1,2,0\n3,0,4,1\n");
    let t: Table<f64> = load_table(&p, &opts(&["1", "dog"])).unwrap();
    assert_eq!(t.inputs, array![[1.0, 2.0], [3.0, 4.0]]);
    assert_eq!(t.targets.unwrap(), array![[1.0, 0.0], [0.0, 1.0]]);
    assert_eq!(t.schema.task, Task::Classification);
    assert_eq!(t.schema.labels.as_deref().unwrap(), ["cat", "dog"]);
    assert_eq!(t.schema.target_columns.as_deref().unwrap(), [1, 3]);
    // A single class is refused.
    let p = write(dir.path(), "one.csv", b"x,y\n1,a\n2,a\n");
    assert!(matches!(
        load_table::<f32>(&p, &opts(&[])),
        Err(BpropError::InvalidArgument { .. })
    ));
}

#[test]
fn a_schema_reads_new_files_as_training_did() {
    let dir = tempfile::tempdir().unwrap();
    let train = write(dir.path(), "train.csv", IRIS.as_bytes());
    let schema = load_table::<f32>(&train, &opts(&["species"])).unwrap().schema;
    // Columns in another order, found by name; targets present.
    let reordered = write(
        dir.path(),
        "re.csv",
        b"species,sepal_width,sepal_length\nvirginica,3.0,6.0\nsetosa,3.4,5.0\n",
    );
    let with = |optional| TableOptions {
        schema: Some(schema.clone()),
        targets_optional: optional,
        ..TableOptions::default()
    };
    let t: Table<f32> = load_table(&reordered, &with(false)).unwrap();
    assert_eq!(t.inputs, array![[6.0, 3.0], [5.0, 3.4]]);
    assert_eq!(t.targets.unwrap(), array![[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]);
    // Only inputs: fine for prediction, an error for evaluation.
    let inputs_only = write(dir.path(), "x.csv", b"sepal_length,sepal_width\n6.0,3.0\n");
    let t: Table<f32> = load_table(&inputs_only, &with(true)).unwrap();
    assert!(t.targets.is_none());
    assert!(matches!(
        load_table::<f32>(&inputs_only, &with(false)),
        Err(BpropError::InvalidArgument { .. })
    ));
    // Without a header: by position, with or without the target column.
    let headless = write(dir.path(), "h.csv", b"6.0,3.0,versicolor\n");
    let t: Table<f32> = load_table(&headless, &with(false)).unwrap();
    assert_eq!(t.targets.unwrap(), array![[0.0, 1.0, 0.0]]);
    let headless_x = write(dir.path(), "hx.csv", b"6.0,3.0\n");
    assert!(load_table::<f32>(&headless_x, &with(true)).unwrap().targets.is_none());
    // An unknown label names its place; a missing input column is named.
    let unknown = write(dir.path(), "u.csv", b"sepal_length,sepal_width,species\n6.0,3.0,rose\n");
    parse_err(
        load_table::<f32>(&unknown, &with(false)),
        "u.csv",
        "line 2, column 3 (`species`)",
        &["`rose`", "setosa, versicolor, virginica"],
    );
    let missing = write(dir.path(), "m.csv", b"sepal_length,petal,species\n6.0,3.0,setosa\n");
    match load_table::<f32>(&missing, &with(false)) {
        Err(BpropError::InvalidArgument { why, .. }) => assert!(why.contains("sepal_width"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// A version 1.0 .npy file with `descr` and `shape`, the data given as bytes.
fn npy(descr: &str, shape: &str, fortran: bool, data: &[u8]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    let mut header = dict.into_bytes();
    let total = (10 + header.len() + 1).div_ceil(64) * 64;
    header.resize(total - 11, b' ');
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out
}

#[test]
fn npy_arrays_of_every_supported_type() {
    let f32s: Vec<u8> = [1.5f32, -2.0, 3.25, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let a = parse_npy(&npy("<f4", "(2, 2)", false, &f32s), "a.npy").unwrap();
    assert_eq!(
        (a.shape.clone(), a.values.clone()),
        (vec![2, 2], vec![1.5, -2.0, 3.25, 4.0])
    );
    let f64s = npy_f64_bytes(&[0.1, 0.2, 0.3], 3, 1);
    assert_eq!(parse_npy(&f64s, "b.npy").unwrap().values, [0.1, 0.2, 0.3]);
    let a = parse_npy(&npy("|u1", "(3,)", false, &[0, 128, 255]), "c.npy").unwrap();
    assert_eq!(a.values, [0.0, 128.0, 255.0]);
    let i64s: Vec<u8> = [-5i64, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(
        parse_npy(&npy("<i8", "(2,)", false, &i64s), "d.npy").unwrap().values,
        [-5.0, 7.0]
    );
    let be: Vec<u8> = [1.0f64, -1.0].iter().flat_map(|v| v.to_be_bytes()).collect();
    assert_eq!(
        parse_npy(&npy(">f8", "(2,)", false, &be), "e.npy").unwrap().values,
        [1.0, -1.0]
    );
    // (2, 2, 2) becomes 2 rows of 4 columns; (3,) one column.
    let a = parse_npy(&npy("|u1", "(2, 2, 2)", false, &[1, 2, 3, 4, 5, 6, 7, 8]), "f.npy").unwrap();
    let g = a.into_grid("f.npy").unwrap();
    assert_eq!((g.rows, g.cols), (2, 4));
    // From a file, through load and load_table (last column the target).
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "t.npy",
        &npy_f64_bytes(&[0.5, 1.0, 0.25, 2.0, 0.75, 1.0], 3, 2),
    );
    assert_eq!(read_npy(&p).unwrap().shape, [3, 2]);
    assert!(matches!(load::<f32>(&p).unwrap(), Loaded::Npy(_)));
    let t: Table<f32> = load_table(&p, &TableOptions::default()).unwrap();
    assert_eq!(t.inputs.column(0).to_vec(), [0.5, 0.25, 0.75]);
    assert_eq!(t.schema.task, Task::Classification, "integers 1, 2: classes");
}

#[test]
fn malformed_npy_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f32s: Vec<u8> = [1.0f32; 4].iter().flat_map(|v| v.to_le_bytes()).collect();
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("magic.npy", b"PK\x03\x04 not numpy".to_vec(), &["magic"]),
        ("i4.npy", npy("<i4", "(4,)", false, &f32s), &["'<i4'", "f4"]),
        ("str.npy", npy("<U10", "(4,)", false, &f32s), &["'<U10'"]),
        (
            "fortran.npy",
            npy("<f4", "(2, 2)", true, &f32s),
            &["fortran_order", "ascontiguousarray"],
        ),
        (
            "short.npy",
            npy("<f4", "(2, 3)", false, &f32s),
            &["truncated", "24 bytes"],
        ),
        (
            "long.npy",
            npy("<f4", "(3,)", false, &f32s),
            &["4 bytes after the data"],
        ),
        (
            "absurd.npy",
            npy("<f8", "(1099511627776, 1099511627776)", false, &f32s),
            &["more data than memory"],
        ),
        ("shape.npy", npy("<f4", "[2, 2]", false, &f32s), &["tuple"]),
        ("version.npy", b"\x93NUMPY\x09\x00\x10\x00{}".to_vec(), &["version 9"]),
        (
            "header.npy",
            b"\x93NUMPY\x01\x00\xff\x00{'descr'".to_vec(),
            &["truncated header"],
        ),
    ];
    for (name, bytes, parts) in cases {
        let p = write(dir.path(), name, &bytes);
        parse_err(read_npy(&p), name, "byte offset", parts);
        // The in-memory parser agrees.
        assert!(parse_npy(&bytes, name).is_err(), "{name}");
    }
}

#[test]
fn formats_are_chosen_by_name() {
    assert_eq!(format_of("a.csv").unwrap(), Format::Csv);
    assert_eq!(format_of("a.TSV").unwrap(), Format::Csv);
    assert_eq!(format_of("a.csv.gz").unwrap(), Format::Csv);
    assert_eq!(format_of("a.npy").unwrap(), Format::Npy);
    assert_eq!(format_of("a.train").unwrap(), Format::Fann);
    assert!(matches!(format_of("a.xlsx"), Err(BpropError::UnknownName { .. })));
}

#[test]
fn gzipped_csv_is_read() {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(IRIS.as_bytes()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "iris.csv.gz", &e.finish().unwrap());
    let t: Table<f32> = load_table(&p, &opts(&["species"])).unwrap();
    assert_eq!(t.len(), 4);
}

#[test]
fn scaling_is_fitted_and_applied() {
    let x = array![[1.0, 10.0, 5.0], [3.0, 30.0, 5.0]];
    let s = Scaling::fit(ScaleKind::Standardize, &x).unwrap();
    assert_eq!(s.offset, [2.0, 20.0, 5.0]);
    assert_eq!(s.scale, [1.0, 10.0, 1.0], "a constant column keeps scale 1");
    let mut y = x.clone();
    s.apply(&mut y).unwrap();
    assert_eq!(y, array![[-1.0, -1.0, 0.0], [1.0, 1.0, 0.0]]);
    let m = Scaling::fit(ScaleKind::MinMax, &x).unwrap();
    let mut y = x.clone();
    m.apply(&mut y).unwrap();
    assert_eq!(y, array![[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]);
    assert!(matches!(
        s.apply(&mut array![[1.0f32, 2.0]]),
        Err(BpropError::Shape { .. })
    ));
    assert_eq!("minmax".parse::<ScaleKind>().unwrap(), ScaleKind::MinMax);
}

//! Header detection beyond text over numbers: pandas' default integer column names, and
//! the hint to give `--header` when a header line fails as data; a column kept as written
//! beside the grid (`predict --id`).

use bprop::data::{parse_csv, table_from_grid, CsvOptions, Table, TableOptions};
use bprop::BpropError;

fn names(text: &str) -> Option<Vec<String>> {
    parse_csv(text.as_bytes(), "t.csv", &CsvOptions::default())
        .unwrap()
        .names
}

#[test]
fn pandas_integer_column_names_are_a_header() {
    // pd.DataFrame(array).to_csv(index=False): 0..n−1 above the data.
    let n = names("0,1,2,3,4\n5.1,3.5,1.4,0.2,0\n4.9,3.0,1.4,0.2,0\n");
    assert_eq!(n, Some(["0", "1", "2", "3", "4"].map(String::from).to_vec()));
    // Up to 13 (scikit-learn's wine, 14 columns), spaces trimmed.
    let wide = (0..14).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    let row = vec!["1.5"; 14].join(",");
    assert_eq!(names(&format!("{wide}\n{row}\n")).map(|v| v.len()), Some(14));
    // Not when the data rows count the same way, not for two columns (a row of binary
    // data), not for another sequence, not alone.
    assert_eq!(names("0,1,2\n0,1,2\n"), None);
    assert_eq!(names("0,1\n1,0\n"), None);
    assert_eq!(names("1,2,3\n0.5,0.5,1\n"), None);
    assert_eq!(names("0,2,1\n0.5,0.5,1\n"), None);
    assert_eq!(names("0,1,2\n"), None);
}

#[test]
fn a_header_read_as_data_suggests_header() {
    // Forced to be data, the header's text fails in the first input column; and a label
    // unknown to a schema in the first row gets the same hint.
    let no = CsvOptions {
        header: Some(false),
        ..CsvOptions::default()
    };
    let grid = parse_csv(&b"width,length,label\n0.5,1.0,a\n0.7,1.2,b\n"[..], "h.csv", &no).unwrap();
    let e = table_from_grid::<f32>(&grid, &TableOptions::default()).unwrap_err();
    match &e {
        BpropError::Parse { location, message, .. } => {
            assert_eq!(location, "line 1, column 1");
            assert!(message.contains("if line 1 is a header, give --header"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A later row's error has no such hint.
    let grid = parse_csv(&b"0.5,1.0,a\nx,1.2,b\n0.1,0.2,a\n"[..], "h.csv", &no).unwrap();
    let e = table_from_grid::<f32>(&grid, &TableOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2") && !e.contains("--header"), "{e}");
    // Against a schema: the header's target name is an unknown label.
    let train = parse_csv(&b"1990,1991,label\n0.5,1.0,a\n0.7,1.2,b\n"[..], "t.csv", &no).unwrap();
    assert!(train.names.is_none(), "numbers over numbers: not detected");
    let with_header = CsvOptions {
        header: Some(true),
        ..CsvOptions::default()
    };
    let train = parse_csv(&b"1990,1991,label\n0.5,1.0,a\n0.7,1.2,b\n"[..], "t.csv", &with_header).unwrap();
    let t: Table<f32> = table_from_grid(&train, &TableOptions::default()).unwrap();
    let schema = TableOptions {
        schema: Some(t.schema.clone()),
        ..TableOptions::default()
    };
    let grid = parse_csv(&b"5,6,label\n0.5,1.0,a\n"[..], "e.csv", &no).unwrap();
    let e = table_from_grid::<f32>(&grid, &schema).unwrap_err().to_string();
    assert!(e.contains("line 1") && e.contains("give --header"), "{e}");
}

#[test]
fn a_column_is_kept_as_written_beside_the_grid() {
    use bprop::data::read_csv_with_column;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k.csv");
    std::fs::write(&p, "id,x\n007,0.5\n12345678901234567890123,1\n").unwrap();
    let (grid, kept) = read_csv_with_column(&p, &CsvOptions::default(), "id").unwrap();
    assert_eq!(
        kept,
        Some((0, vec!["007".to_string(), "12345678901234567890123".to_string()]))
    );
    // The grid is the one read_csv gives.
    assert_eq!(grid, bprop::data::read_csv(&p, &CsvOptions::default()).unwrap());
    let (_, by_index) = read_csv_with_column(&p, &CsvOptions::default(), "1").unwrap();
    assert_eq!(by_index, Some((1, vec!["0.5".to_string(), "1".to_string()])));
    for missing in ["ID", "2", ""] {
        assert_eq!(
            read_csv_with_column(&p, &CsvOptions::default(), missing).unwrap().1,
            None
        );
    }
}

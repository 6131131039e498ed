//! CSV: a header row, then one record per row.
//!
//! Writer: RFC 4180 quoting (a field is quoted when it holds `,`, `"`, CR or
//! LF; quotes are doubled), `\n` line ends, nulls as empty fields, booleans
//! `True`/`False`, floats in shortest round-trip form with `nan`/`inf`/`-inf`.
//! Reader: the csv crate; each column's type is inferred from its text by
//! [`normalize::text_column`] (empty and `--` are null). CSV holds no metadata.

use super::{IoError, Sink, TextCells, strip_bom};
use crate::table::{ColumnData, Table, normalize};
use std::io::Write;

/// Read CSV bytes with a header row.
pub fn read(bytes: &[u8], origin: &str) -> Result<Table, IoError> {
    read_delimited(strip_bom(bytes), b',', origin, 0)
}

/// Read delimited text whose first record is the header; every column type is
/// inferred. `line_offset` is added to line numbers in messages.
pub(crate) fn read_delimited(
    bytes: &[u8],
    delimiter: u8,
    origin: &str,
    line_offset: u64,
) -> Result<Table, IoError> {
    let mut rdr = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = ::csv::StringRecord::new();
    let line_of = |r: &::csv::StringRecord| r.position().map_or(0, |p| p.line()) + line_offset;

    let got = rdr
        .read_record(&mut record)
        .map_err(|e| csv_error(origin, &e, line_offset))?;
    if !got {
        return Ok(Table::empty());
    }
    let names: Vec<String> = record.iter().map(str::to_string).collect();
    let mut cells: Vec<TextCells> = names.iter().map(|_| TextCells::default()).collect();
    while rdr
        .read_record(&mut record)
        .map_err(|e| csv_error(origin, &e, line_offset))?
    {
        if record.len() != names.len() {
            return Err(IoError::format(
                origin,
                format!(
                    "line {}: {} fields, but the header has {}; quote fields that contain the delimiter",
                    line_of(&record),
                    record.len(),
                    names.len()
                ),
            ));
        }
        for (c, field) in cells.iter_mut().zip(record.iter()) {
            c.push(field);
        }
    }
    let columns = names
        .iter()
        .zip(&cells)
        .map(|(name, c)| normalize::text_column(name, &c.cells(), None))
        .collect();
    Table::new(columns).map_err(|e| IoError::format(origin, format!("header: {e}")))
}

fn csv_error(origin: &str, e: &::csv::Error, line_offset: u64) -> IoError {
    let line = e.position().map(|p| p.line() + line_offset);
    let what = match e.kind() {
        ::csv::ErrorKind::Utf8 { .. } => {
            "text is not valid UTF-8; save the file as UTF-8".to_string()
        }
        ::csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    };
    match line {
        Some(l) => IoError::format(origin, format!("line {l}: {what}")),
        None => IoError::format(origin, what),
    }
}

/// Write `table` as CSV.
pub fn write(table: &Table, out: &mut dyn Write) -> Result<(), IoError> {
    let mut sink = Sink::new(out);
    write_delimited(table, b',', &mut sink)?;
    sink.finish()?;
    Ok(())
}

/// Write `table` as tab-separated values (a header line, nulls empty).
pub fn write_tsv(table: &Table, out: &mut dyn Write) -> Result<(), IoError> {
    let mut sink = Sink::new(out);
    write_delimited(table, b'\t', &mut sink)?;
    sink.finish()?;
    Ok(())
}

/// Write a header line and the rows with `delimiter` (`,`, tab or space).
pub(crate) fn write_delimited(
    table: &Table,
    delimiter: u8,
    sink: &mut Sink<'_>,
) -> Result<(), IoError> {
    let ncols = table.num_columns();
    if ncols == 0 {
        return Ok(());
    }
    let single = ncols == 1;
    for (j, c) in table.columns().iter().enumerate() {
        if j > 0 {
            sink.byte(delimiter);
        }
        field(sink, &c.name, delimiter, single);
    }
    sink.byte(b'\n');
    let columns = table.columns();
    for i in 0..table.num_rows() {
        for (j, c) in columns.iter().enumerate() {
            if j > 0 {
                sink.byte(delimiter);
            }
            if c.is_null(i) {
                if single {
                    // A line with nothing on it would be skipped by readers.
                    sink.push(b"\"\"");
                }
                continue;
            }
            match c.data() {
                ColumnData::Bool(v) => sink.str(if v[i] { "True" } else { "False" }),
                ColumnData::Int(v) => sink.int(v[i]),
                ColumnData::Float(v) => text_float(sink, v[i]),
                ColumnData::Str(v) => field(sink, v.get(i), delimiter, single),
            }
        }
        sink.byte(b'\n');
        sink.maybe_flush()?;
    }
    Ok(())
}

/// Floats as ECSV and CSV want them: shortest round-trip, `nan`, `inf`, `-inf`.
#[inline]
pub(crate) fn text_float(sink: &mut Sink<'_>, f: f64) {
    if f.is_finite() {
        sink.finite_float(f);
    } else if f.is_nan() {
        sink.str("nan");
    } else if f > 0.0 {
        sink.str("inf");
    } else {
        sink.str("-inf");
    }
}

/// One text field, quoted when it must be. With a space delimiter, fields with
/// leading or trailing blanks are quoted too so they survive whitespace trimming.
#[inline]
fn field(sink: &mut Sink<'_>, s: &str, delimiter: u8, single: bool) {
    let b = s.as_bytes();
    let needs = b
        .iter()
        .any(|&c| c == delimiter || c == b'"' || c == b'\n' || c == b'\r')
        || (b.is_empty() && single)
        || b.first()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == b'#')
        || b.last().is_some_and(|c| c.is_ascii_whitespace());
    if !needs {
        sink.push(b);
        return;
    }
    sink.byte(b'"');
    for part in s.split('"').enumerate() {
        if part.0 > 0 {
            sink.push(b"\"\"");
        }
        sink.str(part.1);
    }
    sink.byte(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::io::testutil::{assert_same_data, column, sample};
    use crate::table::{DataType, ValueRef};

    fn roundtrip(t: &Table) -> (Vec<u8>, Table) {
        let mut out = Vec::new();
        write(t, &mut out).unwrap();
        let back = read(&out, "test.csv").unwrap();
        (out, back)
    }

    #[test]
    fn roundtrip_all_types_with_nulls() {
        let t = sample();
        let (out, back) = roundtrip(&t);
        assert_same_data(&t, &back);
        // CSV has no metadata
        assert!(back.columns().iter().all(|c| c.meta.is_empty()));
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("flag,n,x,y,s,t\nTrue,1,0.1,1.0,Ωmega café,2022-06-01T00:00:00\n")
        );
        assert!(text.contains("False,,nan,-inf,\"a,b \"\"q\"\"\",\n"));
        assert!(text.contains("\n,-9007199254740993,inf,-0.5,,2022-06-02T12:00:00.5\n"));
        assert!(text.contains("\"line1\nline2\""));
    }

    #[test]
    fn deterministic() {
        let t = sample();
        assert_eq!(roundtrip(&t).0, roundtrip(&t).0);
    }

    #[test]
    fn single_column_nulls_keep_their_rows() {
        let t = Table::new(vec![column(
            "a",
            DataType::String,
            &[ValueRef::Str("x"), ValueRef::Null, ValueRef::Str("y")],
        )])
        .unwrap();
        let (out, back) = roundtrip(&t);
        assert_eq!(out, b"a\nx\n\"\"\ny\n");
        assert_same_data(&t, &back);
    }

    #[test]
    fn empty_tables() {
        let t = Table::with_schema(&[("a".into(), DataType::Int), ("b".into(), DataType::String)]);
        let (out, back) = roundtrip(&t);
        assert_eq!(out, b"a,b\n");
        assert_eq!(back.column_names().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(back.num_rows(), 0);

        let (out, back) = roundtrip(&Table::empty());
        assert!(out.is_empty());
        assert_eq!(back.num_columns(), 0);
    }

    #[test]
    fn inference_and_nulls() {
        let t = read(
            b"\xEF\xBB\xBFa,b,c,d\n1,2.5,True,x\n--,,False,\n3,nan,,--\n",
            "in.csv",
        )
        .unwrap();
        assert_eq!(
            t.schema(),
            vec![
                ("a".into(), DataType::Int),
                ("b".into(), DataType::Float),
                ("c".into(), DataType::Bool),
                ("d".into(), DataType::String)
            ]
        );
        assert!(t.column("a").unwrap().is_null(1));
        assert!(t.column("b").unwrap().is_null(1));
        assert!(matches!(t.get(2, 1), ValueRef::Float(f) if f.is_nan()));
        assert!(t.column("c").unwrap().is_null(2));
        assert!(t.column("d").unwrap().is_null(1));
        // `--` (astropy's masked marker) is null in every column.
        assert!(t.column("d").unwrap().is_null(2));
    }

    #[test]
    fn malformed_input_names_file_and_line() {
        let err = read(b"a,b\n1,2\n3\n", "bad.csv").unwrap_err().to_string();
        assert!(
            err.starts_with("bad.csv: line 3: 1 fields, but the header has 2"),
            "{err}"
        );
        let err = read(b"a,b\n1,\xFF\n", "bad.csv").unwrap_err().to_string();
        assert!(
            err.contains("bad.csv: line 2") && err.contains("UTF-8"),
            "{err}"
        );
        let err = read(b"a,a\n1,2\n", "dup.csv").unwrap_err().to_string();
        assert!(
            err.contains("dup.csv") && err.contains("`a` appears twice"),
            "{err}"
        );
    }
}

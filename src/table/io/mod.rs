//! Table file formats: CSV, ECSV, VOTable (TABLEDATA, BINARY, BINARY2) and JSON.
//!
//! Readers go through [`crate::table::normalize`]; writers are deterministic
//! (the same table gives byte-identical files: shortest round-trip floats, no
//! timestamps) and write to any `Write` — callers make the file atomic.
//!
//! | format | read | write | column metadata |
//! | --- | --- | --- | --- |
//! | CSV | types inferred per column | RFC 4180 quoting, nulls as empty fields | no |
//! | ECSV 1.0 | declared types, `,` or space delimiter | `,` delimiter | unit, description, `meta: {ucd, xtype}` |
//! | VOTable | TABLEDATA, BINARY, BINARY2 (base64), streaming; every datatype and arraysize | TABLEDATA or BINARY2 (`votable::write_with`: also BINARY, declared datatypes, INFOs) | unit, ucd, xtype, DESCRIPTION (and, in [`VotableRead`], datatype, arraysize, utype, width, precision, `ref`, `VALUES null`, PARAMs) |
//! | JSON | our shape, array of objects, MAST Mashup `fields`/`data` | `{name, columns, rows}` | unit, description, ucd, xtype |

pub mod csv;
pub mod ecsv;
pub mod json;
pub mod votable;

pub use votable::{QueryStatus, VotableRead};

use super::Table;
use std::io::{BufRead, Write};
use std::path::Path;
use thiserror::Error;

/// Errors reading or writing a table file.
#[derive(Debug, Error)]
pub enum IoError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: String, message: String },
    #[error("{0}")]
    Write(#[from] std::io::Error),
}

impl IoError {
    /// A format error in `origin` (a path or a description of where the bytes came from).
    pub fn format(origin: &str, message: impl Into<String>) -> Self {
        IoError::Format {
            path: origin.to_string(),
            message: message.into(),
        }
    }

    fn io(origin: &str, source: std::io::Error) -> Self {
        IoError::Io {
            path: origin.to_string(),
            source,
        }
    }
}

/// File formats.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Csv,
    Ecsv,
    /// VOTable with TABLEDATA serialisation (readable XML).
    Votable,
    /// VOTable with BINARY2 serialisation (compact, exact).
    VotableBinary2,
    Json,
}

/// The extensions [`Format::from_path`] knows, for messages.
pub const KNOWN_EXTENSIONS: &str = ".csv, .ecsv, .vot, .votable, .xml or .json";

impl Format {
    /// The format a file name implies (`.csv`, `.ecsv`, `.vot`/`.xml`/`.votable`, `.json`).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "csv" => Format::Csv,
            "ecsv" => Format::Ecsv,
            "vot" | "xml" | "votable" => Format::Votable,
            "json" => Format::Json,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ecsv => "ecsv",
            Format::Votable => "votable",
            Format::VotableBinary2 => "votable-binary2",
            Format::Json => "json",
        }
    }
}

/// Read a table file. `format: None` takes the format from the extension.
/// VOTables are streamed from the file; the other formats are read whole.
pub fn read_path(path: &Path, format: Option<Format>) -> Result<Table, IoError> {
    let origin = path.display().to_string();
    let format = match format.or_else(|| Format::from_path(path)) {
        Some(f) => f,
        None => {
            return Err(IoError::format(
                &origin,
                format!(
                    "cannot tell the table format from the file name; use one of the extensions {KNOWN_EXTENSIONS}, or name the format explicitly"
                ),
            ));
        }
    };
    let file = std::fs::File::open(path).map_err(|e| IoError::io(&origin, e))?;
    match format {
        Format::Votable | Format::VotableBinary2 => {
            let reader = std::io::BufReader::with_capacity(1 << 16, file);
            votable::read(reader, &origin)
        }
        _ => {
            let mut bytes = Vec::new();
            let mut file = file;
            std::io::Read::read_to_end(&mut file, &mut bytes)
                .map_err(|e| IoError::io(&origin, e))?;
            read_bytes(&bytes, format, &origin)
        }
    }
}

/// Read a table from bytes in memory. `origin` names the source in error messages.
pub fn read_bytes(bytes: &[u8], format: Format, origin: &str) -> Result<Table, IoError> {
    match format {
        Format::Csv => csv::read(bytes, origin),
        Format::Ecsv => ecsv::read(bytes, origin),
        Format::Votable | Format::VotableBinary2 => votable::read(bytes, origin),
        Format::Json => json::read(bytes, origin),
    }
}

/// Read a table from any buffered reader (a VOTable is streamed; the other
/// formats are read whole first).
pub fn read_reader(
    mut reader: impl BufRead,
    format: Format,
    origin: &str,
) -> Result<Table, IoError> {
    match format {
        Format::Votable | Format::VotableBinary2 => votable::read(reader, origin),
        _ => {
            let mut bytes = Vec::new();
            reader
                .read_to_end(&mut bytes)
                .map_err(|e| IoError::io(origin, e))?;
            read_bytes(&bytes, format, origin)
        }
    }
}

/// Write `table` in `format`. `name` names the table inside formats that have one.
pub fn write(
    table: &Table,
    format: Format,
    name: &str,
    out: &mut dyn Write,
) -> Result<(), IoError> {
    match format {
        Format::Csv => csv::write(table, out),
        Format::Ecsv => ecsv::write(table, out),
        Format::Votable => votable::write(table, name, votable::Serialization::TableData, out),
        Format::VotableBinary2 => votable::write(table, name, votable::Serialization::Binary2, out),
        Format::Json => json::write(table, name, out),
    }
}

/// A byte buffer in front of the caller's writer: cells are appended to
/// `buf` and handed over in large chunks, so no cell costs a dynamic call.
pub(crate) struct Sink<'a> {
    out: &'a mut dyn Write,
    pub buf: Vec<u8>,
}

const SINK_CHUNK: usize = 1 << 16;

impl<'a> Sink<'a> {
    pub fn new(out: &'a mut dyn Write) -> Self {
        Self {
            out,
            buf: Vec::with_capacity(SINK_CHUNK + 4096),
        }
    }

    #[inline]
    pub fn push(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    #[inline]
    pub fn str(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    #[inline]
    pub fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    #[inline]
    pub fn int(&mut self, i: i64) {
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(i).as_bytes());
    }

    /// A finite float in shortest round-trip form (the caller handles NaN/inf).
    #[inline]
    pub fn finite_float(&mut self, f: f64) {
        let mut b = ryu::Buffer::new();
        self.buf.extend_from_slice(b.format_finite(f).as_bytes());
    }

    /// Hand the buffer over when it is large; call after every row.
    #[inline]
    pub fn maybe_flush(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= SINK_CHUNK {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.out.flush()
    }
}

/// Make column names unique by appending `_2`, `_3`, … to repeats (TAP joins
/// can return two columns of the same name).
pub(crate) fn unique_names(names: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let mut candidate = n.clone();
        let mut k = 2;
        while seen.contains(&candidate) {
            candidate = format!("{n}_{k}");
            k += 1;
        }
        seen.insert(candidate.clone());
        out.push(candidate);
    }
    out
}

/// Strip a UTF-8 byte-order mark.
pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Cells of one column collected as text (one allocation per column, not per cell).
#[derive(Default)]
pub(crate) struct TextCells {
    bytes: String,
    ends: Vec<usize>,
}

impl TextCells {
    pub fn push(&mut self, s: &str) {
        self.bytes.push_str(s);
        self.ends.push(self.bytes.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn cells(&self) -> Vec<&str> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let s = &self.bytes[start..end];
                start = end;
                s
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A table with every type, nulls in every column, metadata, NaN/inf and
    //! non-ASCII text, and a comparison that treats NaN as equal to NaN.

    use crate::table::column::ColumnBuilder;
    use crate::table::{Column, ColumnMeta, DataType, Table, ValueRef};

    fn meta(
        unit: Option<&str>,
        description: Option<&str>,
        ucd: Option<&str>,
        xtype: Option<&str>,
    ) -> ColumnMeta {
        ColumnMeta {
            unit: unit.map(String::from),
            description: description.map(String::from),
            ucd: ucd.map(String::from),
            xtype: xtype.map(String::from),
        }
    }

    pub fn column(name: &str, t: DataType, values: &[ValueRef<'_>]) -> Column {
        let mut b = ColumnBuilder::new(t, values.len());
        for v in values {
            b.push(*v);
        }
        b.finish(name)
    }

    pub fn sample() -> Table {
        use ValueRef::*;
        let flag = column(
            "flag",
            DataType::Bool,
            &[Bool(true), Bool(false), Null, Bool(true), Bool(false)],
        )
        .with_meta(meta(None, Some("a flag"), Some("meta.code"), None));
        let n = column(
            "n",
            DataType::Int,
            &[
                Int(1),
                Null,
                Int(-9_007_199_254_740_993),
                Int(i64::MAX),
                Int(0),
            ],
        )
        .with_meta(meta(
            Some("ct"),
            Some("a count, with \"quotes\" & <angles>"),
            None,
            None,
        ));
        let x = column(
            "x",
            DataType::Float,
            &[
                Float(0.1),
                Float(f64::NAN),
                Float(f64::INFINITY),
                Null,
                Float(-1e300),
            ],
        )
        .with_meta(meta(
            Some("deg"),
            Some("right ascension: ICRS"),
            Some("pos.eq.ra;meta.main"),
            None,
        ));
        let y = column(
            "y",
            DataType::Float,
            &[
                Float(1.0),
                Float(f64::NEG_INFINITY),
                Float(-0.5),
                Float(2.5e-8),
                Null,
            ],
        );
        let s = column(
            "s",
            DataType::String,
            &[
                Str("Ωmega café"),
                Str("a,b \"q\""),
                Null,
                Str("line1\nline2"),
                Str("<&> 'x'"),
            ],
        )
        .with_meta(meta(None, Some("target — name"), Some("meta.id"), None));
        let t = column(
            "t",
            DataType::String,
            &[
                Str("2022-06-01T00:00:00"),
                Null,
                Str("2022-06-02T12:00:00.5"),
                Str("x"),
                Str("y"),
            ],
        )
        .with_meta(meta(None, None, None, Some("timestamp")));
        Table::new(vec![flag, n, x, y, s, t]).unwrap()
    }

    /// Same values (NaN equals NaN, -0 equals 0 only if both are), names and types.
    pub fn assert_same_data(a: &Table, b: &Table) {
        assert_eq!(a.schema(), b.schema(), "schemas differ");
        assert_eq!(a.num_rows(), b.num_rows(), "row counts differ");
        for (ca, cb) in a.columns().iter().zip(b.columns()) {
            for i in 0..a.num_rows() {
                let (va, vb) = (ca.get(i), cb.get(i));
                let same = match (va, vb) {
                    (ValueRef::Float(x), ValueRef::Float(y)) => {
                        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
                    }
                    _ => va == vb,
                };
                assert!(same, "column `{}` row {i}: {va:?} != {vb:?}", ca.name);
            }
        }
    }

    pub fn assert_same_meta(a: &Table, b: &Table) {
        for (ca, cb) in a.columns().iter().zip(b.columns()) {
            assert_eq!(ca.meta, cb.meta, "metadata of column `{}`", ca.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{DataType, ValueRef};

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/formats")
            .join(name)
    }

    #[test]
    fn read_path_by_extension() {
        let t = read_path(&fixture("dachs_nulls.csv"), None).unwrap();
        assert_eq!(t.num_rows(), 3);
        assert_eq!(t.column("calib_level").unwrap().data_type(), DataType::Int);
        assert_eq!(t.column("t_max").unwrap().data_type(), DataType::Float);
        assert!(t.column("t_max").unwrap().is_null(0));
        assert!(t.column("cl_or_null").unwrap().is_null(1));
        assert_eq!(t.get(2, 1), ValueRef::Str("ORION, TRAPEZIUM"));

        let t = read_path(&fixture("dachs_nulls_b2.vot"), None).unwrap();
        assert_eq!(t.num_columns(), 8);
        let t = read_path(&fixture("dachs_nulls.json"), None).unwrap();
        assert_eq!(t.num_columns(), 8);
        // An explicit format wins over the extension.
        let t = read_path(&fixture("dachs_nulls_td.vot"), Some(Format::VotableBinary2)).unwrap();
        assert_eq!(t.num_rows(), 3);
    }

    #[test]
    fn read_path_errors_name_the_file() {
        let err = read_path(&fixture("README.md"), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("README.md: cannot tell the table format"),
            "{err}"
        );
        assert!(err.contains(".ecsv"), "{err}");
        let err = read_path(Path::new("/nonexistent/t.csv"), None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/nonexistent/t.csv: "), "{err}");
        let err = read_bytes(b"<VOTABLE>", Format::Votable, "tap://result")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("tap://result: "), "{err}");
    }

    #[test]
    fn every_format_writes_deterministically() {
        let t = testutil::sample();
        for f in [
            Format::Csv,
            Format::Ecsv,
            Format::Votable,
            Format::VotableBinary2,
            Format::Json,
        ] {
            let mut a = Vec::new();
            let mut b = Vec::new();
            write(&t, f, "t", &mut a).unwrap();
            write(&t, f, "t", &mut b).unwrap();
            assert_eq!(a, b, "{}", f.name());
            let back = read_bytes(&a, f, "mem").unwrap();
            assert_eq!(back.num_rows(), t.num_rows(), "{}", f.name());
        }
    }
}

//! VOTable 1.4: write TABLEDATA or BINARY2; read TABLEDATA, BINARY and BINARY2.
//!
//! The reader streams (quick-xml over any `BufRead`; a base64 `STREAM` is
//! decoded chunk by chunk straight from the underlying reader, so a large
//! BINARY2 result never sits in memory as text). It reads the first `TABLE`
//! (skipping tables in `RESOURCE type="meta"`, e.g. DataLink descriptors), keeps
//! `INFO` elements out of the table and reports `QUERY_STATUS`: `ERROR` is an
//! error, anything else (`OK`, `OVERFLOW`) is returned in [`VotableRead`].
//!
//! Types: `boolean`/`bit` → bool; `unsignedByte`/`short`/`int`/`long` → int;
//! `float`/`double` → float; `char`/`unicodeChar` (any arraysize) → string;
//! numeric arrays (any shape, `N`, `N*`, `*`, `AxB`, `Ax*`) and complex
//! numbers → their elements as text joined by single spaces, the same text
//! from every serialisation. Nulls: `VALUES null=` (decimal or `0x` hex, in
//! every serialisation), empty `TD`s, the BINARY2 null bitmap, `?` booleans,
//! empty strings, and NaN in `float`/`double` columns (the VOTable float null:
//! DaCHS writes SQL NULL as NaN in TABLEDATA and BINARY, and astropy and
//! STILTS read NaN as null). [`VotableRead`] keeps what the table does not:
//! each FIELD's datatype, arraysize, utype, width, precision, `ref` and
//! `VALUES null`, the PARAMs, and the serialisation.
//!
//! The writer emits one `RESOURCE type="results"` with one `TABLE`; strings are
//! `char` (`unicodeChar` when the column has non-ASCII text) with
//! `arraysize="*"`; nulls are empty `TD`s in TABLEDATA and flagged in the BINARY2
//! bitmap (BINARY: a `VALUES null` sentinel for integers, NaN, `?`, an empty
//! string). [`write_with`] takes declared datatypes (`short`, `int`, `float`…),
//! utypes and `INFO`s around the table (TAP results); [`write_error`] writes a
//! DALI error document. Characters XML 1.0 cannot carry (control characters other than tab,
//! LF and CR) are written as U+FFFD.

use super::{IoError, Sink, unique_names};
use crate::table::column::ColumnBuilder;
use crate::table::{Column, ColumnData, ColumnMeta, DataType, Table, ValueRef, normalize};
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::QName;
use std::io::{BufRead, Write};

/// How the rows of a written VOTable are serialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serialization {
    TableData,
    /// BINARY: no null flags (integer nulls use a `VALUES null` sentinel).
    Binary,
    Binary2,
}

/// The `INFO name="QUERY_STATUS"` of a TAP result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryStatus {
    /// `OK`, `OVERFLOW` or `ERROR`.
    pub value: String,
    /// The element's text, if any.
    pub message: Option<String>,
}

/// A table read from a VOTable with what surrounds it.
#[derive(Debug, Clone)]
pub struct VotableRead {
    pub table: Table,
    /// The `TABLE`'s `name` attribute.
    pub name: Option<String>,
    /// The `TABLE`'s `DESCRIPTION`.
    pub description: Option<String>,
    /// The last `QUERY_STATUS` seen in the table's `RESOURCE` (TAP puts
    /// `OVERFLOW` after the table).
    pub query_status: Option<QueryStatus>,
    /// How the rows were serialised: `TABLEDATA`, `BINARY` or `BINARY2`
    /// (`None` when the table has no `DATA`).
    pub serialization: Option<&'static str>,
    /// What each FIELD declared, one per column.
    pub fields: Vec<FieldInfo>,
    /// The PARAMs of the table and of the document around it.
    pub params: Vec<Param>,
}

// ---------------------------------------------------------------- writer

const HEADER: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!-- Written by mastflow -->\n\
<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
xsi:schemaLocation=\"http://www.ivoa.net/xml/VOTable/v1.3 http://www.ivoa.net/xml/VOTable/VOTable-1.4.xsd\">\n\
<RESOURCE type=\"results\">\n";

/// An `INFO` element of the results `RESOURCE` (e.g. TAP's `QUERY_STATUS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub value: String,
    /// The element's text, if any.
    pub text: Option<String>,
}

impl Info {
    pub fn new(name: &str, value: &str, text: Option<&str>) -> Info {
        Info {
            name: name.to_string(),
            value: value.to_string(),
            text: text.map(str::to_string),
        }
    }
}

/// How one column is declared, overriding what its storage type implies
/// (`long`, `double`, `boolean`, `char`/`unicodeChar` with `arraysize="*"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldDecl {
    /// `unsignedByte`, `short`, `int` or `long` for int columns; `float` or
    /// `double` for float columns; `char` or `unicodeChar` for strings. A
    /// datatype that does not fit the column's type is ignored.
    pub datatype: Option<String>,
    /// Overrides `*` for strings; ignored for scalars.
    pub arraysize: Option<String>,
    pub utype: Option<String>,
}

/// Everything [`write_with`] writes around the rows.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// The `TABLE`'s `name` (omitted when empty).
    pub table_name: String,
    pub serialization: Serialization,
    /// Per-column declarations, by position; missing entries use the defaults.
    pub fields: Vec<FieldDecl>,
    /// `INFO`s in the results `RESOURCE` before the `TABLE`.
    pub infos_before: Vec<Info>,
    /// `INFO`s after the `TABLE` (TAP's trailing `OVERFLOW`).
    pub infos_after: Vec<Info>,
}

impl WriteOptions {
    pub fn new(table_name: &str, serialization: Serialization) -> WriteOptions {
        WriteOptions {
            table_name: table_name.to_string(),
            serialization,
            fields: Vec::new(),
            infos_before: Vec::new(),
            infos_after: Vec::new(),
        }
    }
}

/// Write `table` as a VOTable 1.4 document with one table called `name`.
pub fn write(
    table: &Table,
    name: &str,
    ser: Serialization,
    out: &mut dyn Write,
) -> Result<(), IoError> {
    write_with(table, &WriteOptions::new(name, ser), out)
}

/// Write `table` with declared datatypes and `INFO`s (see [`WriteOptions`]).
pub fn write_with(table: &Table, opts: &WriteOptions, out: &mut dyn Write) -> Result<(), IoError> {
    let mut sink = Sink::new(out);
    sink.str(HEADER);
    write_infos(&mut sink, &opts.infos_before);
    sink.str("<TABLE");
    if !opts.table_name.is_empty() {
        sink.str(" name=\"");
        escape(&mut sink, &opts.table_name, true);
        sink.byte(b'"');
    }
    sink.str(" nrows=\"");
    sink.int(table.num_rows() as i64);
    sink.str("\">\n");
    let cells: Vec<Cell> = table
        .columns()
        .iter()
        .enumerate()
        .map(|(j, c)| Cell::of(c, opts.fields.get(j)))
        .collect();
    let binary = opts.serialization == Serialization::Binary;
    for (c, cell) in table.columns().iter().zip(&cells) {
        write_field(&mut sink, c, cell, binary && c.null_count() > 0);
    }
    sink.str("<DATA>\n");
    match opts.serialization {
        Serialization::TableData => write_tabledata(&mut sink, table, &cells)?,
        Serialization::Binary => write_binary(&mut sink, table, &cells, false)?,
        Serialization::Binary2 => write_binary(&mut sink, table, &cells, true)?,
    }
    sink.str("</DATA>\n</TABLE>\n");
    write_infos(&mut sink, &opts.infos_after);
    sink.str("</RESOURCE>\n</VOTABLE>\n");
    sink.finish()?;
    Ok(())
}

/// A DALI error document: a results `RESOURCE` holding only
/// `INFO name="QUERY_STATUS" value="ERROR"` with `message` (and `extra` INFOs).
pub fn write_error(message: &str, extra: &[Info], out: &mut dyn Write) -> Result<(), IoError> {
    let mut sink = Sink::new(out);
    sink.str(HEADER);
    let mut infos = vec![Info::new("QUERY_STATUS", "ERROR", Some(message))];
    infos.extend_from_slice(extra);
    write_infos(&mut sink, &infos);
    sink.str("</RESOURCE>\n</VOTABLE>\n");
    sink.finish()?;
    Ok(())
}

fn write_infos(sink: &mut Sink<'_>, infos: &[Info]) {
    for i in infos {
        sink.str("<INFO name=\"");
        escape(sink, &i.name, true);
        sink.str("\" value=\"");
        escape(sink, &i.value, true);
        match &i.text {
            Some(t) => {
                sink.str("\">");
                escape(sink, t, false);
                sink.str("</INFO>\n");
            }
            None => sink.str("\"/>\n"),
        }
    }
}

/// The encoding of one column's cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enc {
    Bool,
    U8,
    I16,
    I32,
    I64,
    F32,
    F64,
    Char,
    UChar,
}

impl Enc {
    fn datatype(self) -> &'static str {
        match self {
            Enc::Bool => "boolean",
            Enc::U8 => "unsignedByte",
            Enc::I16 => "short",
            Enc::I32 => "int",
            Enc::I64 => "long",
            Enc::F32 => "float",
            Enc::F64 => "double",
            Enc::Char => "char",
            Enc::UChar => "unicodeChar",
        }
    }

    /// The `VALUES null` sentinel of an integer encoding (BINARY has no
    /// null flags).
    fn null_int(self) -> i64 {
        match self {
            Enc::U8 => 255,
            Enc::I16 => i16::MIN as i64,
            Enc::I32 => i32::MIN as i64,
            _ => i64::MIN,
        }
    }
}

/// A column's resolved declaration.
struct Cell {
    enc: Enc,
    arraysize: Option<String>,
    utype: Option<String>,
}

impl Cell {
    fn of(c: &Column, decl: Option<&FieldDecl>) -> Cell {
        let want = decl.and_then(|d| d.datatype.as_deref());
        let enc = match (c.data(), want) {
            (ColumnData::Bool(_), _) => Enc::Bool,
            (ColumnData::Int(_), Some("unsignedByte")) => Enc::U8,
            (ColumnData::Int(_), Some("short")) => Enc::I16,
            (ColumnData::Int(_), Some("int")) => Enc::I32,
            (ColumnData::Int(_), _) => Enc::I64,
            (ColumnData::Float(_), Some("float")) => Enc::F32,
            (ColumnData::Float(_), _) => Enc::F64,
            (ColumnData::Str(s), _) if !s.iter().all(str::is_ascii) => Enc::UChar,
            (ColumnData::Str(_), Some("unicodeChar")) => Enc::UChar,
            (ColumnData::Str(_), _) => Enc::Char,
        };
        let arraysize = matches!(enc, Enc::Char | Enc::UChar).then(|| {
            decl.and_then(|d| d.arraysize.clone())
                .unwrap_or_else(|| "*".to_string())
        });
        Cell {
            enc,
            arraysize,
            utype: decl.and_then(|d| d.utype.clone()),
        }
    }

    /// An integer as this encoding stores it (saturated to its range).
    fn int(&self, v: i64) -> i64 {
        match self.enc {
            Enc::U8 => v.clamp(0, 255),
            Enc::I16 => v.clamp(i16::MIN as i64, i16::MAX as i64),
            Enc::I32 => v.clamp(i32::MIN as i64, i32::MAX as i64),
            _ => v,
        }
    }
}

fn attr(sink: &mut Sink<'_>, key: &str, v: &str) {
    sink.byte(b' ');
    sink.str(key);
    sink.str("=\"");
    escape(sink, v, true);
    sink.byte(b'"');
}

fn write_field(sink: &mut Sink<'_>, c: &Column, cell: &Cell, null_sentinel: bool) {
    sink.str("<FIELD name=\"");
    escape(sink, &c.name, true);
    sink.str("\" datatype=\"");
    sink.str(cell.enc.datatype());
    sink.byte(b'"');
    if let Some(a) = &cell.arraysize {
        attr(sink, "arraysize", a);
    }
    for (key, v) in [
        ("unit", &c.meta.unit),
        ("ucd", &c.meta.ucd),
        ("utype", &cell.utype),
        ("xtype", &c.meta.xtype),
    ] {
        if let Some(v) = v {
            attr(sink, key, v);
        }
    }
    let null =
        (null_sentinel && matches!(c.data(), ColumnData::Int(_))).then(|| cell.enc.null_int());
    if c.meta.description.is_none() && null.is_none() {
        sink.str("/>\n");
        return;
    }
    sink.str(">\n");
    if let Some(d) = &c.meta.description {
        sink.str("  <DESCRIPTION>");
        escape(sink, d, false);
        sink.str("</DESCRIPTION>\n");
    }
    if let Some(n) = null {
        sink.str("  <VALUES null=\"");
        sink.int(n);
        sink.str("\"/>\n");
    }
    sink.str("</FIELD>\n");
}

fn write_float_text(sink: &mut Sink<'_>, f: f64, single: bool) {
    if f.is_finite() {
        if single {
            let mut b = ryu::Buffer::new();
            sink.str(b.format_finite(f as f32));
        } else {
            sink.finite_float(f);
        }
    } else if f.is_nan() {
        sink.str("NaN");
    } else if f > 0.0 {
        sink.str("+Inf");
    } else {
        sink.str("-Inf");
    }
}

fn write_tabledata(sink: &mut Sink<'_>, table: &Table, cells: &[Cell]) -> Result<(), IoError> {
    sink.str("<TABLEDATA>\n");
    let columns = table.columns();
    for i in 0..table.num_rows() {
        sink.str("<TR>");
        for (c, cell) in columns.iter().zip(cells) {
            if c.is_null(i) {
                sink.str("<TD/>");
                continue;
            }
            sink.str("<TD>");
            match c.data() {
                ColumnData::Bool(v) => sink.byte(if v[i] { b'T' } else { b'F' }),
                ColumnData::Int(v) => sink.int(cell.int(v[i])),
                ColumnData::Float(v) => write_float_text(sink, v[i], cell.enc == Enc::F32),
                ColumnData::Str(v) => escape(sink, v.get(i), false),
            }
            sink.str("</TD>");
        }
        sink.str("</TR>\n");
        sink.maybe_flush()?;
    }
    sink.str("</TABLEDATA>\n");
    Ok(())
}

/// Base64 lines of 76 characters (57 bytes each), so the output does not
/// depend on how rows fall into chunks.
const B64_LINE: usize = 57;

fn flush_base64(sink: &mut Sink<'_>, raw: &mut Vec<u8>, all: bool) {
    let full = if all {
        raw.len()
    } else {
        raw.len() / B64_LINE * B64_LINE
    };
    let mut line = [0u8; 80];
    for chunk in raw[..full].chunks(B64_LINE) {
        let n = STANDARD
            .encode_slice(chunk, &mut line)
            .expect("76 bytes hold 57 encoded bytes");
        sink.push(&line[..n]);
        sink.byte(b'\n');
    }
    raw.drain(..full);
}

/// BINARY2 (`bitmap`: a null-flag bitmap before each row) or BINARY (nulls
/// as the `VALUES null` sentinel, NaN, `?` or an empty string).
fn write_binary(
    sink: &mut Sink<'_>,
    table: &Table,
    cells: &[Cell],
    bitmap: bool,
) -> Result<(), IoError> {
    let tag = if bitmap { "BINARY2" } else { "BINARY" };
    sink.str("<");
    sink.str(tag);
    sink.str(">\n<STREAM encoding=\"base64\">\n");
    let columns = table.columns();
    let nbitmap = if bitmap { columns.len().div_ceil(8) } else { 0 };
    let mut raw: Vec<u8> = Vec::with_capacity(1 << 16);
    for i in 0..table.num_rows() {
        let bitmap_at = raw.len();
        raw.resize(bitmap_at + nbitmap, 0);
        for (j, (c, cell)) in columns.iter().zip(cells).enumerate() {
            let null = c.is_null(i);
            if null && bitmap {
                raw[bitmap_at + j / 8] |= 0x80 >> (j % 8);
            }
            push_cell(&mut raw, c, cell, i, null, bitmap);
        }
        if raw.len() >= 1 << 15 {
            flush_base64(sink, &mut raw, false);
            sink.maybe_flush()?;
        }
    }
    flush_base64(sink, &mut raw, true);
    sink.str("</STREAM>\n</");
    sink.str(tag);
    sink.str(">\n");
    Ok(())
}

fn push_cell(raw: &mut Vec<u8>, c: &Column, cell: &Cell, i: usize, null: bool, bitmap: bool) {
    match c.data() {
        ColumnData::Bool(v) => raw.push(if null {
            b'?'
        } else if v[i] {
            b'T'
        } else {
            b'F'
        }),
        ColumnData::Int(v) => {
            let x = match (null, bitmap) {
                (true, true) => 0,
                (true, false) => cell.enc.null_int(),
                (false, _) => cell.int(v[i]),
            };
            match cell.enc {
                Enc::U8 => raw.push(x as u8),
                Enc::I16 => raw.extend_from_slice(&(x as i16).to_be_bytes()),
                Enc::I32 => raw.extend_from_slice(&(x as i32).to_be_bytes()),
                _ => raw.extend_from_slice(&x.to_be_bytes()),
            }
        }
        ColumnData::Float(v) => {
            let x = if null { f64::NAN } else { v[i] };
            if cell.enc == Enc::F32 {
                raw.extend_from_slice(&(x as f32).to_be_bytes());
            } else {
                raw.extend_from_slice(&x.to_be_bytes());
            }
        }
        ColumnData::Str(v) => push_string(raw, if null { "" } else { v.get(i) }, cell.enc),
    }
}

fn push_string(raw: &mut Vec<u8>, s: &str, enc: Enc) {
    if enc == Enc::UChar {
        let len_at = raw.len();
        raw.extend_from_slice(&[0; 4]);
        let mut n: u32 = 0;
        for u in s.encode_utf16() {
            raw.extend_from_slice(&u.to_be_bytes());
            n += 1;
        }
        raw[len_at..len_at + 4].copy_from_slice(&n.to_be_bytes());
    } else {
        raw.extend_from_slice(&(s.len() as u32).to_be_bytes());
        raw.extend_from_slice(s.as_bytes());
    }
}

/// XML-escape `s` (attribute values also escape `"` and white space that
/// attribute normalisation would otherwise turn into spaces).
fn escape(sink: &mut Sink<'_>, s: &str, attr: bool) {
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let rep: &str = match c {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' if attr => "&quot;",
            b'\n' if attr => "&#10;",
            b'\t' if attr => "&#9;",
            b'\r' => "&#13;",
            b'\n' | b'\t' => continue,
            0..=0x1f => "\u{FFFD}",
            _ => continue,
        };
        sink.push(&b[start..i]);
        sink.str(rep);
        start = i + 1;
    }
    sink.push(&b[start..]);
}

#[cfg(test)]
mod writer_tests {
    use super::*;
    use crate::table::io::testutil::column;

    fn typed_table() -> Table {
        Table::new(vec![
            column(
                "s16",
                DataType::Int,
                &[ValueRef::Int(-3), ValueRef::Null, ValueRef::Int(70000)],
            ),
            column(
                "i32",
                DataType::Int,
                &[ValueRef::Int(7), ValueRef::Int(-8), ValueRef::Null],
            ),
            column(
                "f32",
                DataType::Float,
                &[ValueRef::Float(0.1), ValueRef::Null, ValueRef::Float(2.5)],
            ),
            column(
                "b",
                DataType::Bool,
                &[ValueRef::Bool(true), ValueRef::Null, ValueRef::Bool(false)],
            ),
            column(
                "s",
                DataType::String,
                &[ValueRef::Str("a"), ValueRef::Null, ValueRef::Str("ccc")],
            ),
        ])
        .unwrap()
    }

    fn decl(datatype: &str, utype: Option<&str>) -> FieldDecl {
        FieldDecl {
            datatype: Some(datatype.to_string()),
            arraysize: None,
            utype: utype.map(str::to_string),
        }
    }

    fn written(ser: Serialization) -> Vec<u8> {
        let mut o = WriteOptions::new("typed", ser);
        o.fields = vec![
            decl("short", None),
            decl("int", Some("obscore:x.y")),
            decl("float", None),
        ];
        o.infos_before = vec![Info::new("QUERY_STATUS", "OK", Some("fine"))];
        o.infos_after = vec![Info::new("QUERY_STATUS", "OVERFLOW", None)];
        let mut out = Vec::new();
        write_with(&typed_table(), &o, &mut out).unwrap();
        out
    }

    #[test]
    fn declared_datatypes_and_infos_in_every_serialization() {
        for ser in [
            Serialization::TableData,
            Serialization::Binary,
            Serialization::Binary2,
        ] {
            let out = written(ser);
            let text = String::from_utf8_lossy(&out).to_string();
            assert!(
                text.contains("<FIELD name=\"s16\" datatype=\"short\""),
                "{text}"
            );
            assert!(
                text.contains("<FIELD name=\"i32\" datatype=\"int\" utype=\"obscore:x.y\""),
                "{text}"
            );
            assert!(
                text.contains("<FIELD name=\"f32\" datatype=\"float\""),
                "{text}"
            );
            assert!(
                text.contains("<FIELD name=\"s\" datatype=\"char\" arraysize=\"*\""),
                "{text}"
            );
            let ok = text.find("value=\"OK\">fine</INFO>").unwrap();
            let overflow = text.find("value=\"OVERFLOW\"/>").unwrap();
            assert!(ok < text.find("<TABLE").unwrap() && overflow > text.find("</TABLE>").unwrap());
            let back = read_full(out.as_slice(), "t").unwrap();
            assert_eq!(back.query_status.unwrap().value, "OVERFLOW");
            let t = back.table;
            assert_eq!(t.get(0, 0), ValueRef::Int(-3));
            assert_eq!(
                t.get(2, 0),
                ValueRef::Int(i16::MAX as i64),
                "saturated to short"
            );
            assert_eq!(t.get(1, 0), ValueRef::Null, "{ser:?}: short null");
            assert_eq!(t.get(2, 1), ValueRef::Null, "{ser:?}: int null");
            assert_eq!(t.get(0, 2).as_f64().map(|x| x as f32), Some(0.1f32));
            assert!(t.get(1, 2).is_null() || t.get(1, 2).as_f64().unwrap().is_nan());
            assert_eq!(t.get(1, 3), ValueRef::Null);
            assert_eq!(t.get(2, 4), ValueRef::Str("ccc"));
            if ser != Serialization::Binary {
                assert_eq!(t.get(1, 4), ValueRef::Null, "{ser:?}: string null");
            }
        }
        let bin = String::from_utf8(written(Serialization::Binary)).unwrap();
        assert!(
            bin.contains("<VALUES null=\"-32768\"/>")
                && bin.contains("<VALUES null=\"-2147483648\"/>"),
            "{bin}"
        );
    }

    #[test]
    fn error_documents() {
        let mut out = Vec::new();
        write_error("bad <query> & more", &[], &mut out).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("<RESOURCE type=\"results\">\n<INFO name=\"QUERY_STATUS\" value=\"ERROR\">bad &lt;query&gt; &amp; more</INFO>"), "{text}");
        assert!(!text.contains("<TABLE"));
        let e = read_full(out.as_slice(), "e").unwrap_err().to_string();
        assert!(e.contains("bad <query> & more"), "{e}");
    }
}

// ---------------------------------------------------------------- reader

/// Read the first table of a VOTable (TABLEDATA, BINARY or BINARY2).
pub fn read<R: BufRead>(reader: R, origin: &str) -> Result<Table, IoError> {
    read_full(reader, origin).map(|r| r.table)
}

/// What a `FIELD` declared beyond the column's [`ColumnMeta`]: its VOTable
/// type and the attributes a [`Table`] does not keep.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldInfo {
    /// The column's name in the table (repeated names made unique).
    pub name: String,
    pub id: Option<String>,
    pub datatype: String,
    pub arraysize: Option<String>,
    pub utype: Option<String>,
    pub width: Option<String>,
    pub precision: Option<String>,
    /// `ref`: the `ID` of the `COOSYS`, `TIMESYS` or `GROUP` it refers to.
    pub reference: Option<String>,
    /// `VALUES null=`, as written.
    pub null: Option<String>,
}

/// A `PARAM` of the table, of the `RESOURCE`s around it or of the document
/// (not those of `RESOURCE type="meta"`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Param {
    pub name: String,
    pub datatype: String,
    pub arraysize: Option<String>,
    /// The `value` attribute, as written.
    pub value: String,
    pub unit: Option<String>,
    pub ucd: Option<String>,
    pub utype: Option<String>,
    pub xtype: Option<String>,
    pub description: Option<String>,
}

/// Primitive VOTable datatypes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prim {
    Boolean,
    Bit,
    UByte,
    Short,
    Int,
    Long,
    Float,
    Double,
    FloatComplex,
    DoubleComplex,
    Char,
    UnicodeChar,
}

impl Prim {
    fn parse(s: &str) -> Option<Prim> {
        Some(match s {
            "boolean" => Prim::Boolean,
            "bit" => Prim::Bit,
            "unsignedByte" => Prim::UByte,
            "short" => Prim::Short,
            "int" => Prim::Int,
            "long" => Prim::Long,
            "float" => Prim::Float,
            "double" => Prim::Double,
            "floatComplex" => Prim::FloatComplex,
            "doubleComplex" => Prim::DoubleComplex,
            "char" => Prim::Char,
            "unicodeChar" => Prim::UnicodeChar,
            _ => return None,
        })
    }

    /// Bytes per element in BINARY (bits are packed separately).
    fn size(self) -> usize {
        match self {
            Prim::Boolean | Prim::Bit | Prim::UByte | Prim::Char => 1,
            Prim::Short | Prim::UnicodeChar => 2,
            Prim::Int | Prim::Float => 4,
            Prim::Long | Prim::Double | Prim::FloatComplex => 8,
            Prim::DoubleComplex => 16,
        }
    }

    fn bytes_for(self, n: usize) -> Option<usize> {
        if self == Prim::Bit {
            Some(n.div_ceil(8))
        } else {
            n.checked_mul(self.size())
        }
    }

    fn is_text(self) -> bool {
        matches!(self, Prim::Char | Prim::UnicodeChar)
    }
}

/// Elements per cell: one scalar, a fixed count, or a 4-byte count prefix times
/// `per_item` (the product of the fixed leading dimensions: in BINARY the
/// count of `3x*` counts items of 3 elements, as astropy reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Scalar,
    Fixed(usize),
    Variable { per_item: usize },
}

fn parse_arraysize(s: Option<&str>) -> Option<Shape> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Some(Shape::Scalar);
    };
    let dims: Vec<&str> = s.split('x').collect();
    let mut product: usize = 1;
    for (k, d) in dims.iter().enumerate() {
        let last = k + 1 == dims.len();
        if let Some(n) = d.strip_suffix('*') {
            if !last || !(n.is_empty() || n.parse::<usize>().is_ok()) {
                return None;
            }
            return Some(Shape::Variable { per_item: product });
        }
        product = product.checked_mul(d.parse::<usize>().ok()?)?;
    }
    Some(Shape::Fixed(product))
}

#[derive(Debug, Clone, PartialEq)]
enum NullValue {
    Int(i64),
    Float(f64),
    Text(String),
}

/// How a FIELD's cells are decoded.
#[derive(Debug)]
struct FieldSpec {
    meta: ColumnMeta,
    info: FieldInfo,
    prim: Prim,
    shape: Shape,
    out: DataType,
    null: Option<NullValue>,
    /// A single complex number (its text is its two parts).
    complex: bool,
}

impl FieldSpec {
    fn new(meta: ColumnMeta, info: FieldInfo, origin: &str) -> Result<Self, IoError> {
        let name = &info.name;
        let prim = Prim::parse(&info.datatype).ok_or_else(|| {
            IoError::format(
                origin,
                format!("FIELD `{name}`: unknown datatype `{}`", info.datatype),
            )
        })?;
        let arraysize = info.arraysize.as_deref();
        let mut shape = parse_arraysize(arraysize).ok_or_else(|| {
            IoError::format(
                origin,
                format!(
                    "FIELD `{name}`: invalid arraysize `{}`",
                    arraysize.unwrap_or("")
                ),
            )
        })?;
        let complex = matches!(prim, Prim::FloatComplex | Prim::DoubleComplex);
        if shape == Shape::Fixed(1) && !prim.is_text() && !complex {
            shape = Shape::Scalar;
        }
        // A lone character, or a complex number (two floats), is text.
        if shape == Shape::Scalar && (prim.is_text() || complex) {
            shape = Shape::Fixed(1);
        }
        let out = match (shape, prim) {
            (Shape::Scalar, Prim::Boolean | Prim::Bit) => DataType::Bool,
            (Shape::Scalar, Prim::UByte | Prim::Short | Prim::Int | Prim::Long) => DataType::Int,
            (Shape::Scalar, Prim::Float | Prim::Double) => DataType::Float,
            _ => DataType::String,
        };
        let mut spec = FieldSpec {
            meta,
            info,
            prim,
            shape,
            out,
            null: None,
            complex: complex && shape == Shape::Fixed(1),
        };
        if let Some(n) = spec.info.null.clone() {
            spec.null = spec.parse_null(&n);
        }
        Ok(spec)
    }

    /// The `VALUES null` of this field as a value of its type (an
    /// unparseable one is ignored, as astropy does after warning).
    fn parse_null(&self, s: &str) -> Option<NullValue> {
        let t = s.trim();
        match self.out {
            DataType::Int => parse_int(t, self.prim).map(NullValue::Int),
            DataType::Float => normalize::parse_float(t).map(NullValue::Float),
            _ => Some(NullValue::Text(s.to_string())),
        }
    }

    fn is_null_int(&self, v: i64) -> bool {
        self.null == Some(NullValue::Int(v))
    }

    /// NaN is the null of VOTable floating-point columns (what DaCHS writes
    /// for SQL NULL in TABLEDATA and BINARY; astropy and STILTS read it so).
    fn is_null_float(&self, v: f64) -> bool {
        v.is_nan() || self.null == Some(NullValue::Float(v))
    }

    fn is_null_text(&self, v: &str) -> bool {
        matches!(&self.null, Some(NullValue::Text(n)) if n == v)
    }

    fn is_numeric_array(&self) -> bool {
        self.shape != Shape::Scalar && !self.prim.is_text()
    }
}

/// An integer in VOTable text: decimal, hexadecimal with `0x` (two's
/// complement in the datatype's width, so a short's `0xFFFF` is -1), or a
/// float with no fraction.
fn parse_int(t: &str, prim: Prim) -> Option<i64> {
    if let Ok(i) = t.parse::<i64>() {
        return Some(i);
    }
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        let u = u64::from_str_radix(h, 16).ok()?;
        return Some(match prim {
            Prim::UByte => u8::try_from(u).ok()? as i64,
            Prim::Short => u16::try_from(u).ok()? as i16 as i64,
            Prim::Int => u32::try_from(u).ok()? as i32 as i64,
            _ => u as i64,
        });
    }
    match normalize::parse_float(t) {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(f as i64),
        _ => None,
    }
}

fn invalid(t: &str, spec: &FieldSpec) -> String {
    format!("`{t}` is not a valid {}", spec.info.datatype)
}

/// Push one TABLEDATA cell (its text, entities resolved).
fn push_text(spec: &FieldSpec, b: &mut ColumnBuilder, s: &str) -> Result<(), String> {
    if spec.is_numeric_array() {
        return push_array_text(spec, b, s);
    }
    if spec.out == DataType::String {
        push_str_cell(spec, b, s);
        return Ok(());
    }
    let t = s.trim();
    if t.is_empty() || normalize::is_null_text(t) {
        b.push(ValueRef::Null);
        return Ok(());
    }
    let v = match spec.out {
        DataType::Int => {
            let v = parse_int(t, spec.prim).ok_or_else(|| invalid(t, spec))?;
            if spec.is_null_int(v) {
                ValueRef::Null
            } else {
                ValueRef::Int(v)
            }
        }
        DataType::Float => {
            let v = normalize::parse_float(t).ok_or_else(|| invalid(t, spec))?;
            if spec.is_null_float(v) {
                ValueRef::Null
            } else {
                ValueRef::Float(v)
            }
        }
        _ if t == "?" => ValueRef::Null,
        _ => ValueRef::Bool(normalize::parse_bool(t).ok_or_else(|| invalid(t, spec))?),
    };
    b.push(v);
    Ok(())
}

/// A string cell: empty, or equal to `VALUES null`, is null; so is a complex
/// number with a NaN part.
fn push_str_cell(spec: &FieldSpec, b: &mut ColumnBuilder, s: &str) {
    if s.is_empty() || spec.is_null_text(s) || (spec.complex && s.split(' ').any(|t| t == "NaN")) {
        b.push(ValueRef::Null);
    } else {
        b.push(ValueRef::Str(s));
    }
}

/// A TABLEDATA numeric array, checked and rewritten as BINARY's arrays are
/// (elements in shortest form, one space apart), so every serialisation of a
/// table gives the same text.
fn push_array_text(spec: &FieldSpec, b: &mut ColumnBuilder, s: &str) -> Result<(), String> {
    let mut out = String::with_capacity(s.len());
    let sep = |out: &mut String| {
        if !out.is_empty() {
            out.push(' ');
        }
    };
    if spec.prim == Prim::Bit {
        for c in s.chars().filter(|c| !c.is_whitespace()) {
            if c != '0' && c != '1' {
                return Err(format!("`{c}` is not a bit (0 or 1)"));
            }
            sep(&mut out);
            out.push(c);
        }
    }
    let mut ib = itoa::Buffer::new();
    for t in s.split_whitespace().filter(|_| spec.prim != Prim::Bit) {
        sep(&mut out);
        match spec.prim {
            Prim::Boolean if t == "?" => out.push('?'),
            Prim::Boolean => {
                let v = normalize::parse_bool(t).ok_or_else(|| invalid(t, spec))?;
                out.push(if v { 'T' } else { 'F' });
            }
            Prim::Float | Prim::FloatComplex | Prim::Double | Prim::DoubleComplex => {
                let v = normalize::parse_float(t).ok_or_else(|| invalid(t, spec))?;
                let single = matches!(spec.prim, Prim::Float | Prim::FloatComplex);
                push_float_text(&mut out, v, single);
            }
            _ => out.push_str(ib.format(parse_int(t, spec.prim).ok_or_else(|| invalid(t, spec))?)),
        }
    }
    push_str_cell(spec, b, &out);
    Ok(())
}

fn xml_error<R>(origin: &str, xml: &Reader<R>, e: impl std::fmt::Display) -> IoError {
    IoError::format(
        origin,
        format!("invalid XML near byte {}: {e}", xml.error_position()),
    )
}

/// The document stopped before `</what>`.
fn truncated<R>(origin: &str, xml: &Reader<R>, what: &str) -> IoError {
    IoError::format(
        origin,
        format!(
            "the document ends inside <{what}> (after {} bytes)",
            xml.buffer_position()
        ),
    )
}

fn next_event<'b, R: BufRead>(
    xml: &mut Reader<R>,
    buf: &'b mut Vec<u8>,
    origin: &str,
) -> Result<Event<'b>, IoError> {
    buf.clear();
    match xml.read_event_into(buf) {
        Ok(e) => Ok(e),
        Err(e) => Err(xml_error(origin, xml, e)),
    }
}

fn local(e: &BytesStart<'_>) -> Vec<u8> {
    e.local_name().as_ref().to_vec()
}

/// An element's attributes by local name, values unescaped.
struct Attrs(Vec<(Vec<u8>, String)>);

impl Attrs {
    fn of(e: &BytesStart<'_>, origin: &str) -> Result<Self, IoError> {
        let mut out = Vec::new();
        for a in e.attributes() {
            let a =
                a.map_err(|err| IoError::format(origin, format!("invalid XML attribute: {err}")))?;
            let v = a.unescape_value().map_err(|err| {
                IoError::format(origin, format!("invalid XML attribute value: {err}"))
            })?;
            out.push((a.key.local_name().as_ref().to_vec(), v.into_owned()));
        }
        Ok(Attrs(out))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_str())
    }

    /// The value, unless absent or empty.
    fn some(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(String::from)
    }
}

/// Append the text of a reference (`&amp;`, `&#233;`).
fn push_ref(out: &mut String, r: &quick_xml::events::BytesRef<'_>) -> Result<(), String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
        out.push(c);
        return Ok(());
    }
    let name = r.decode().map_err(|e| e.to_string())?;
    out.push(match name.as_ref() {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        other => return Err(format!("unknown XML entity `&{other};`")),
    });
    Ok(())
}

/// Text inside the element just opened, up to its end tag.
fn read_text<R: BufRead>(
    xml: &mut Reader<R>,
    buf: &mut Vec<u8>,
    origin: &str,
) -> Result<String, IoError> {
    let mut out = String::new();
    let mut depth = 0usize;
    loop {
        match next_event(xml, buf, origin)? {
            Event::Start(_) => depth += 1,
            Event::End(_) if depth == 0 => return Ok(out),
            Event::End(_) => depth -= 1,
            Event::Text(t) => {
                out.push_str(&t.xml10_content().map_err(|e| xml_error(origin, xml, e))?)
            }
            Event::CData(t) => out.push_str(&t.decode().map_err(|e| xml_error(origin, xml, e))?),
            Event::GeneralRef(r) => {
                push_ref(&mut out, &r).map_err(|e| xml_error(origin, xml, e))?
            }
            Event::Eof => return Err(truncated(origin, xml, "element")),
            _ => {}
        }
    }
}

fn skip<R: BufRead>(xml: &mut Reader<R>, name: &[u8], origin: &str) -> Result<(), IoError> {
    let mut scratch = Vec::new();
    xml.read_to_end_into(QName(name), &mut scratch)
        .map(|_| ())
        .map_err(|e| xml_error(origin, xml, e))
}

/// What the document says around the table.
#[derive(Default)]
struct Doc {
    status: Option<QueryStatus>,
    params: Vec<Param>,
}

/// The table that was read.
struct Found {
    table: Table,
    name: Option<String>,
    description: Option<String>,
    serialization: Option<&'static str>,
    fields: Vec<FieldInfo>,
}

/// Read a VOTable and report its table, name, description and query status.
/// A `QUERY_STATUS` of `ERROR` is an error quoting the service's message.
///
/// The first `TABLE` outside `RESOURCE type="meta"` is read; reading stops at
/// the end of its `RESOURCE`, so a trailing `QUERY_STATUS` there counts (the
/// last one wins) and nothing after it is parsed.
pub fn read_full<R: BufRead>(reader: R, origin: &str) -> Result<VotableRead, IoError> {
    let doc = read_document(reader, origin)?;
    if let Some(s) = doc
        .query_status
        .as_ref()
        .filter(|s| s.value.eq_ignore_ascii_case("ERROR"))
    {
        let msg = s.message.as_deref().unwrap_or("no message");
        return Err(IoError::format(
            origin,
            if doc.read.is_some() {
                format!(
                    "the service reported an error after part of the result (QUERY_STATUS=ERROR): {msg}"
                )
            } else {
                format!("the service reported an error (QUERY_STATUS=ERROR): {msg}")
            },
        ));
    }
    doc.read
        .ok_or_else(|| IoError::format(origin, "the VOTable holds no TABLE"))
}

/// A VOTable document as a TAP client sees it: the first results table, if
/// there is one (an error document has none), and the last `QUERY_STATUS`.
#[derive(Debug, Clone)]
pub struct VotableDocument {
    pub read: Option<VotableRead>,
    pub query_status: Option<QueryStatus>,
}

/// Read a VOTable whatever its `QUERY_STATUS` says.
pub fn read_document<R: BufRead>(reader: R, origin: &str) -> Result<VotableDocument, IoError> {
    let mut xml = Reader::from_reader(reader);
    xml.config_mut().trim_text(false);
    let mut doc = Doc::default();
    let found = walk(&mut xml, &mut doc, origin)?;
    let read = found.map(|found| VotableRead {
        table: found.table,
        name: found.name,
        description: found.description,
        query_status: doc.status.clone(),
        serialization: found.serialization,
        fields: found.fields,
        params: doc.params,
    });
    Ok(VotableDocument {
        read,
        query_status: doc.status,
    })
}

fn check_root(name: &[u8], origin: &str) -> Result<(), IoError> {
    if name == b"VOTABLE" {
        return Ok(());
    }
    Err(IoError::format(
        origin,
        format!(
            "not a VOTable: the root element is <{}>, not <VOTABLE>",
            String::from_utf8_lossy(name)
        ),
    ))
}

/// The document down to the end of the first table's `RESOURCE`.
fn walk<R: BufRead>(
    xml: &mut Reader<R>,
    doc: &mut Doc,
    origin: &str,
) -> Result<Option<Found>, IoError> {
    let mut buf = Vec::with_capacity(4096);
    // Per open RESOURCE: is it type="meta"?
    let mut resources: Vec<bool> = Vec::new();
    let mut found: Option<Found> = None;
    let mut table_depth = 0usize;
    let mut root_seen = false;
    loop {
        let (e, empty) = match next_event(xml, &mut buf, origin)? {
            Event::Start(e) => (e.into_owned(), false),
            Event::Empty(e) => (e.into_owned(), true),
            Event::End(e) if e.local_name().as_ref() == b"RESOURCE" => {
                resources.pop();
                if found.is_some() && resources.len() < table_depth {
                    break;
                }
                continue;
            }
            // Cut off inside the table's RESOURCE: a trailing QUERY_STATUS
            // (OVERFLOW, ERROR) may be missing, so the result is not whole.
            Event::Eof if found.is_some() && resources.len() >= table_depth && table_depth > 0 => {
                return Err(truncated(origin, xml, "RESOURCE"));
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = local(&e);
        if !root_seen {
            check_root(&name, origin)?;
            root_seen = true;
        }
        let in_meta = resources.iter().any(|&m| m);
        match name.as_slice() {
            b"RESOURCE" if empty => {}
            b"RESOURCE" if found.is_some() => skip(xml, e.name().as_ref(), origin)?,
            b"RESOURCE" => resources.push(Attrs::of(&e, origin)?.get("type") == Some("meta")),
            b"INFO" => read_info(
                xml,
                &e,
                empty,
                (!in_meta).then_some(&mut doc.status),
                origin,
            )?,
            b"PARAM" => {
                let p = read_param(xml, &e, empty, origin)?;
                if !in_meta {
                    doc.params.push(p);
                }
            }
            b"TABLE" if (found.is_some() || in_meta) && !empty => {
                skip(xml, e.name().as_ref(), origin)?
            }
            b"TABLE" if found.is_some() || in_meta => {}
            b"TABLE" => {
                table_depth = resources.len();
                found = Some(read_table(xml, &e, empty, doc, origin)?);
            }
            _ => {}
        }
    }
    if !root_seen {
        return Err(IoError::format(
            origin,
            "not a VOTable: the document is empty",
        ));
    }
    Ok(found)
}

/// An `INFO`: a `QUERY_STATUS` is recorded in `status` (when given), any
/// other is skipped.
fn read_info<R: BufRead>(
    xml: &mut Reader<R>,
    e: &BytesStart<'_>,
    empty: bool,
    status: Option<&mut Option<QueryStatus>>,
    origin: &str,
) -> Result<(), IoError> {
    let attrs = Attrs::of(e, origin)?;
    let Some(status) = status.filter(|_| attrs.get("name") == Some("QUERY_STATUS")) else {
        if !empty {
            skip(xml, e.name().as_ref(), origin)?;
        }
        return Ok(());
    };
    let message = if empty {
        None
    } else {
        let mut buf = Vec::new();
        Some(read_text(xml, &mut buf, origin)?.trim().to_string()).filter(|m| !m.is_empty())
    };
    *status = Some(QueryStatus {
        value: attrs.get("value").unwrap_or_default().to_string(),
        message,
    });
    Ok(())
}

fn read_table<R: BufRead>(
    xml: &mut Reader<R>,
    start: &BytesStart<'_>,
    empty: bool,
    doc: &mut Doc,
    origin: &str,
) -> Result<Found, IoError> {
    let attrs = Attrs::of(start, origin)?;
    let nrows: usize = attrs
        .get("nrows")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut description = None;
    let mut fields: Vec<FieldSpec> = Vec::new();
    let mut builders: Option<Vec<ColumnBuilder>> = None;
    let mut serialization = None;
    let mut buf = Vec::with_capacity(1024);
    loop {
        if empty {
            break;
        }
        let (e, is_empty) = match next_event(xml, &mut buf, origin)? {
            Event::Start(e) => (e.into_owned(), false),
            Event::Empty(e) => (e.into_owned(), true),
            Event::End(e) if e.local_name().as_ref() == b"TABLE" => break,
            Event::Eof => return Err(truncated(origin, xml, "TABLE")),
            _ => continue,
        };
        match local(&e).as_slice() {
            b"FIELD" => fields.push(read_field(xml, &e, is_empty, fields.len(), origin)?),
            b"PARAM" => doc.params.push(read_param(xml, &e, is_empty, origin)?),
            // Some services put the status inside the TABLE.
            b"INFO" => read_info(xml, &e, is_empty, Some(&mut doc.status), origin)?,
            b"DESCRIPTION" if !is_empty => {
                description = Some(read_text(xml, &mut buf, origin)?.trim().to_string());
            }
            // Rows without columns cannot be kept: DATA is skipped.
            b"DATA" if !is_empty && builders.is_none() && !fields.is_empty() => {
                let mut b = fields
                    .iter()
                    .map(|f| ColumnBuilder::new(f.out, nrows))
                    .collect::<Vec<_>>();
                serialization = read_data(xml, &fields, &mut b, doc, origin)?;
                builders = Some(b);
            }
            _ if is_empty => {}
            _ => skip(xml, e.name().as_ref(), origin)?,
        }
    }
    let (table, fields) = finish_table(fields, builders, origin)?;
    Ok(Found {
        table,
        name: attrs.some("name"),
        description,
        serialization,
        fields,
    })
}

/// The columns (repeated names made unique) and what their FIELDs declared.
fn finish_table(
    fields: Vec<FieldSpec>,
    builders: Option<Vec<ColumnBuilder>>,
    origin: &str,
) -> Result<(Table, Vec<FieldInfo>), IoError> {
    let builders = builders.unwrap_or_else(|| {
        fields
            .iter()
            .map(|f| ColumnBuilder::new(f.out, 0))
            .collect()
    });
    let names = unique_names(fields.iter().map(|f| f.info.name.clone()).collect());
    let mut infos = Vec::with_capacity(fields.len());
    let mut columns = Vec::with_capacity(fields.len());
    for ((b, f), name) in builders.into_iter().zip(fields).zip(names) {
        columns.push(b.finish(name.clone()).with_meta(f.meta));
        infos.push(FieldInfo { name, ..f.info });
    }
    let table = Table::new(columns).map_err(|e| IoError::format(origin, e.to_string()))?;
    Ok((table, infos))
}

/// What a FIELD or PARAM holds inside: its DESCRIPTION and `VALUES null`.
#[derive(Default)]
struct Children {
    description: Option<String>,
    null: Option<String>,
}

fn read_children<R: BufRead>(
    xml: &mut Reader<R>,
    what: &str,
    origin: &str,
) -> Result<Children, IoError> {
    let mut out = Children::default();
    let mut buf = Vec::with_capacity(256);
    loop {
        let (c, is_empty) = match next_event(xml, &mut buf, origin)? {
            Event::Start(c) => (c.into_owned(), false),
            Event::Empty(c) => (c.into_owned(), true),
            Event::End(_) => return Ok(out),
            Event::Eof => return Err(truncated(origin, xml, what)),
            _ => continue,
        };
        match local(&c).as_slice() {
            b"DESCRIPTION" if !is_empty => {
                let d = read_text(xml, &mut buf, origin)?;
                out.description = Some(d.trim().to_string()).filter(|d| !d.is_empty());
                continue;
            }
            b"VALUES" => out.null = Attrs::of(&c, origin)?.get("null").map(String::from),
            _ => {}
        }
        if !is_empty {
            skip(xml, c.name().as_ref(), origin)?;
        }
    }
}

fn read_field<R: BufRead>(
    xml: &mut Reader<R>,
    e: &BytesStart<'_>,
    empty: bool,
    index: usize,
    origin: &str,
) -> Result<FieldSpec, IoError> {
    let a = Attrs::of(e, origin)?;
    let name = a
        .some("name")
        .or_else(|| a.some("ID"))
        .unwrap_or_else(|| format!("col{}", index + 1));
    let datatype = a
        .some("datatype")
        .ok_or_else(|| IoError::format(origin, format!("FIELD `{name}` has no datatype")))?;
    let children = if empty {
        Children::default()
    } else {
        read_children(xml, "FIELD", origin)?
    };
    let meta = ColumnMeta {
        unit: a.some("unit"),
        description: children.description,
        ucd: a.some("ucd"),
        xtype: a.some("xtype"),
    };
    let info = FieldInfo {
        name,
        id: a.some("ID"),
        datatype,
        arraysize: a.some("arraysize"),
        utype: a.some("utype"),
        width: a.some("width"),
        precision: a.some("precision"),
        reference: a.some("ref"),
        null: children.null,
    };
    FieldSpec::new(meta, info, origin)
}

fn read_param<R: BufRead>(
    xml: &mut Reader<R>,
    e: &BytesStart<'_>,
    empty: bool,
    origin: &str,
) -> Result<Param, IoError> {
    let a = Attrs::of(e, origin)?;
    let children = if empty {
        Children::default()
    } else {
        read_children(xml, "PARAM", origin)?
    };
    Ok(Param {
        name: a.some("name").or_else(|| a.some("ID")).unwrap_or_default(),
        datatype: a.get("datatype").unwrap_or_default().to_string(),
        arraysize: a.some("arraysize"),
        value: a.get("value").unwrap_or_default().to_string(),
        unit: a.some("unit"),
        ucd: a.some("ucd"),
        utype: a.some("utype"),
        xtype: a.some("xtype"),
        description: children.description,
    })
}

/// The `DATA` element: its rows, and which serialisation held them.
fn read_data<R: BufRead>(
    xml: &mut Reader<R>,
    fields: &[FieldSpec],
    builders: &mut [ColumnBuilder],
    doc: &mut Doc,
    origin: &str,
) -> Result<Option<&'static str>, IoError> {
    let mut buf = Vec::with_capacity(1024);
    let mut serialization = None;
    loop {
        let (e, empty) = match next_event(xml, &mut buf, origin)? {
            Event::Start(e) => (e.into_owned(), false),
            Event::Empty(e) => (e.into_owned(), true),
            Event::End(e) if e.local_name().as_ref() == b"DATA" => return Ok(serialization),
            Event::Eof => return Err(truncated(origin, xml, "DATA")),
            _ => continue,
        };
        let kind = local(&e);
        match kind.as_slice() {
            b"INFO" => read_info(xml, &e, empty, Some(&mut doc.status), origin)?,
            b"FITS" => {
                return Err(IoError::format(
                    origin,
                    "FITS serialisation inside VOTable is not supported; ask the service for TABLEDATA or BINARY2",
                ));
            }
            _ if serialization.is_some() => {
                if !empty {
                    skip(xml, e.name().as_ref(), origin)?;
                }
            }
            b"TABLEDATA" => {
                serialization = Some("TABLEDATA");
                if !empty {
                    read_tabledata(xml, fields, builders, origin)?;
                }
            }
            b"BINARY" | b"BINARY2" => {
                let binary2 = kind == b"BINARY2";
                serialization = Some(if binary2 { "BINARY2" } else { "BINARY" });
                if !empty {
                    read_binary_element(xml, fields, builders, binary2, origin)?;
                }
            }
            _ if empty => {}
            _ => skip(xml, e.name().as_ref(), origin)?,
        }
    }
}

/// A `STREAM` we can read inline: base64, no `href`.
fn check_stream(e: &BytesStart<'_>, label: &str, origin: &str) -> Result<(), IoError> {
    let a = Attrs::of(e, origin)?;
    if let Some(href) = a.get("href") {
        return Err(IoError::format(
            origin,
            format!(
                "{label} STREAM with href=\"{href}\" (rows in another file) is not supported; ask for the rows inline"
            ),
        ));
    }
    match a.get("encoding") {
        Some("base64") => Ok(()),
        Some(enc) => Err(IoError::format(
            origin,
            format!("{label} STREAM encoding `{enc}` is not supported; only base64 is"),
        )),
        None => Err(IoError::format(
            origin,
            format!("{label} STREAM has no encoding; inline rows must be encoding=\"base64\""),
        )),
    }
}

/// `<BINARY>` or `<BINARY2>`: its STREAM, up to the closing tag.
fn read_binary_element<R: BufRead>(
    xml: &mut Reader<R>,
    fields: &[FieldSpec],
    builders: &mut [ColumnBuilder],
    binary2: bool,
    origin: &str,
) -> Result<(), IoError> {
    let label = if binary2 { "BINARY2" } else { "BINARY" };
    let mut buf = Vec::with_capacity(256);
    let mut streams = 0;
    loop {
        match next_event(xml, &mut buf, origin)? {
            Event::Start(s) if s.local_name().as_ref() == b"STREAM" => {
                check_stream(&s, label, origin)?;
                streams += 1;
                if streams == 1 {
                    read_binary(xml, fields, builders, binary2, origin)?;
                }
            }
            Event::Empty(s) if s.local_name().as_ref() == b"STREAM" => {
                check_stream(&s, label, origin)?;
                streams += 1;
            }
            Event::End(s) if s.local_name().as_ref() == label.as_bytes() => return Ok(()),
            Event::Eof => return Err(truncated(origin, xml, label)),
            _ => {}
        }
    }
}

/// The TABLEDATA reader: where it is, and the cell being read.
struct Td<'f> {
    fields: &'f [FieldSpec],
    origin: &'f str,
    row: usize,
    col: usize,
    in_tr: bool,
    in_td: bool,
    cell: String,
}

impl Td<'_> {
    fn error(&self, msg: &str) -> IoError {
        let at = match self.fields.get(self.col) {
            Some(f) => format!(
                "TABLEDATA row {}, column `{}` ({} of {})",
                self.row + 1,
                f.info.name,
                self.col + 1,
                self.fields.len()
            ),
            _ => format!("TABLEDATA row {}", self.row + 1),
        };
        IoError::format(self.origin, format!("{at}: {msg}"))
    }

    /// A `<TD>` (or `<TD/>`) opens.
    fn open_td(&mut self) -> Result<(), IoError> {
        if !self.in_tr {
            Err(self.error("<TD> outside a <TR>"))
        } else if self.in_td {
            Err(self.error("<TD> inside a <TD>"))
        } else if self.col >= self.fields.len() {
            let n = self.fields.len();
            Err(self.error(&format!("more cells than the {n} FIELDs")))
        } else {
            self.cell.clear();
            Ok(())
        }
    }

    /// A `<TR>` (or `<TR/>`) opens.
    fn open_tr(&mut self) -> Result<(), IoError> {
        if self.in_tr {
            return Err(self.error("<TR> inside a <TR>"));
        }
        self.in_tr = true;
        self.col = 0;
        Ok(())
    }

    /// The cell read so far goes into its column.
    fn push_cell(&mut self, builders: &mut [ColumnBuilder]) -> Result<(), IoError> {
        let k = self.col;
        push_text(&self.fields[k], &mut builders[k], &self.cell).map_err(|m| self.error(&m))?;
        self.col += 1;
        Ok(())
    }

    /// The row ends; cells it did not have are null.
    fn close_tr(&mut self, builders: &mut [ColumnBuilder]) {
        builders[self.col..]
            .iter_mut()
            .for_each(|b| b.push(ValueRef::Null));
        self.in_tr = false;
        self.row += 1;
    }

    fn start(&mut self, name: &[u8]) -> Result<(), IoError> {
        match name {
            b"TD" => {
                self.open_td()?;
                self.in_td = true;
                Ok(())
            }
            b"TR" => self.open_tr(),
            other => Err(self.error(&format!("unexpected <{}>", String::from_utf8_lossy(other)))),
        }
    }

    fn empty(&mut self, name: &[u8], builders: &mut [ColumnBuilder]) -> Result<(), IoError> {
        match name {
            b"TD" => {
                self.open_td()?;
                self.push_cell(builders)
            }
            b"TR" => {
                self.open_tr()?;
                self.close_tr(builders);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// An end tag inside TABLEDATA.
    fn end(&mut self, name: &[u8], builders: &mut [ColumnBuilder]) -> Result<(), IoError> {
        match name {
            b"TD" => {
                self.in_td = false;
                self.push_cell(builders)
            }
            b"TR" => {
                self.close_tr(builders);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn read_tabledata<R: BufRead>(
    xml: &mut Reader<R>,
    fields: &[FieldSpec],
    builders: &mut [ColumnBuilder],
    origin: &str,
) -> Result<(), IoError> {
    let mut buf = Vec::with_capacity(4096);
    let mut td = Td {
        fields,
        origin,
        row: 0,
        col: 0,
        in_tr: false,
        in_td: false,
        cell: String::new(),
    };
    loop {
        match next_event(xml, &mut buf, origin)? {
            Event::Start(e) => td.start(e.local_name().as_ref())?,
            Event::Empty(e) => td.empty(e.local_name().as_ref(), builders)?,
            Event::End(e) if e.local_name().as_ref() == b"TABLEDATA" => return Ok(()),
            Event::End(e) => td.end(e.local_name().as_ref(), builders)?,
            Event::Text(t) if td.in_td => td
                .cell
                .push_str(&t.xml10_content().map_err(|e| xml_error(origin, xml, e))?),
            Event::CData(t) if td.in_td => td
                .cell
                .push_str(&t.decode().map_err(|e| xml_error(origin, xml, e))?),
            Event::GeneralRef(r) if td.in_td => {
                push_ref(&mut td.cell, &r).map_err(|m| td.error(&m))?
            }
            Event::Eof => return Err(truncated(origin, xml, "TABLEDATA")),
            _ => {}
        }
    }
}

/// Lenient base64: padding optional, whitespace stripped before decoding.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Base64 text of a STREAM taken from the underlying reader: whitespace
/// dropped, stopping before the `<` of `</STREAM>`. Returns whether it was
/// reached.
fn take_base64<R: BufRead>(
    xml: &mut Reader<R>,
    pending: &mut Vec<u8>,
    label: &str,
    origin: &str,
) -> Result<bool, IoError> {
    let mut stream = xml.stream();
    let chunk = stream.fill_buf().map_err(|e| IoError::io(origin, e))?;
    if chunk.is_empty() {
        return Err(IoError::format(
            origin,
            format!("the document ends inside the {label} STREAM"),
        ));
    }
    let (take, end) = match chunk.iter().position(|&b| b == b'<') {
        Some(i) => (i, true),
        None => (chunk.len(), false),
    };
    // Lines of base64 between line breaks, copied a line at a time.
    for piece in chunk[..take].split(|b| b.is_ascii_whitespace()) {
        pending.extend_from_slice(piece);
    }
    stream.consume(take);
    Ok(end)
}

/// Decode the base64 text of a STREAM straight from the underlying reader,
/// up to (not including) the `<` of `</STREAM>`, and parse rows as they
/// complete.
fn read_binary<R: BufRead>(
    xml: &mut Reader<R>,
    fields: &[FieldSpec],
    builders: &mut [ColumnBuilder],
    binary2: bool,
    origin: &str,
) -> Result<(), IoError> {
    let label = if binary2 { "BINARY2" } else { "BINARY" };
    let mut pending: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut raw: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut row = 0usize;
    let mut scratch = String::new();
    let mut done = false;
    while !done {
        done = take_base64(xml, &mut pending, label, origin)?;
        let usable = if done {
            pending.len()
        } else {
            pending.len() / 4 * 4
        };
        let start = raw.len();
        raw.resize(start + usable.div_ceil(4) * 3, 0);
        let got = B64
            .decode_slice(&pending[..usable], &mut raw[start..])
            .map_err(|e| {
                IoError::format(
                    origin,
                    format!("{label} STREAM near row {}: invalid base64: {e}", row + 1),
                )
            })?;
        raw.truncate(start + got);
        pending.drain(..usable);
        let mut pos = 0usize;
        while let Some(len) = row_len(fields, &raw[pos..], binary2) {
            if len == 0 {
                return Err(IoError::format(
                    origin,
                    format!("{label} rows of zero bytes cannot be read"),
                ));
            }
            decode_row(
                fields,
                builders,
                &raw[pos..pos + len],
                binary2,
                &mut scratch,
            );
            pos += len;
            row += 1;
        }
        raw.drain(..pos);
    }
    if !raw.is_empty() {
        return Err(IoError::format(
            origin,
            format!(
                "{label} STREAM is truncated: {} bytes left after row {row} do not make a whole row",
                raw.len()
            ),
        ));
    }
    Ok(())
}

/// Where a cell's elements start in `row` (after `at`) and how many there
/// are, if the row holds them.
fn cell_extent(f: &FieldSpec, row: &[u8], at: usize) -> Option<(usize, usize)> {
    match f.shape {
        Shape::Scalar => Some((1, at)),
        Shape::Fixed(n) => Some((n, at)),
        Shape::Variable { per_item } => {
            let count = u32::from_be_bytes(row.get(at..at.checked_add(4)?)?.try_into().ok()?);
            Some(((count as usize).checked_mul(per_item)?, at + 4))
        }
    }
}

/// The byte length of the row at the start of `data`, if it is all there.
fn row_len(fields: &[FieldSpec], data: &[u8], binary2: bool) -> Option<usize> {
    let mut at = if binary2 { fields.len().div_ceil(8) } else { 0 };
    for f in fields {
        let (count, start) = cell_extent(f, data, at)?;
        at = start.checked_add(f.prim.bytes_for(count)?)?;
        if at > data.len() {
            return None;
        }
    }
    (at <= data.len()).then_some(at)
}

fn be<const N: usize>(b: &[u8]) -> [u8; N] {
    b[..N].try_into().expect("row_len checked the length")
}

/// f32 to f64 through its shortest decimal form, so 0.1f32 reads as 0.1.
fn widen(x: f32) -> f64 {
    if x.is_finite() {
        let mut b = ryu::Buffer::new();
        b.format_finite(x).parse().unwrap_or(x as f64)
    } else {
        x as f64
    }
}

/// One whole row (`row_len` checked it) into the builders.
fn decode_row(
    fields: &[FieldSpec],
    builders: &mut [ColumnBuilder],
    row: &[u8],
    binary2: bool,
    scratch: &mut String,
) {
    let nbitmap = if binary2 { fields.len().div_ceil(8) } else { 0 };
    let bitmap = &row[..nbitmap];
    let mut at = nbitmap;
    for (j, (f, b)) in fields.iter().zip(builders.iter_mut()).enumerate() {
        let (count, start) = cell_extent(f, row, at).expect("row_len checked the row");
        let end = start + f.prim.bytes_for(count).expect("row_len checked the row");
        let bytes = &row[start..end];
        at = end;
        if binary2 && bitmap[j / 8] & (0x80 >> (j % 8)) != 0 {
            b.push(ValueRef::Null);
        } else if f.shape == Shape::Scalar {
            push_scalar(f, b, bytes);
        } else if f.prim == Prim::Char {
            push_chars(f, b, bytes);
        } else {
            scratch.clear();
            array_text(f, bytes, count, scratch);
            push_str_cell(f, b, scratch);
        }
    }
    debug_assert_eq!(at, row.len());
}

fn bool_byte(c: u8) -> Option<bool> {
    match c {
        b'T' | b't' | b'1' => Some(true),
        b'F' | b'f' | b'0' => Some(false),
        _ => None,
    }
}

fn push_scalar(f: &FieldSpec, b: &mut ColumnBuilder, bytes: &[u8]) {
    let int = |v: i64| {
        if f.is_null_int(v) {
            ValueRef::Null
        } else {
            ValueRef::Int(v)
        }
    };
    let float = |v: f64| {
        if f.is_null_float(v) {
            ValueRef::Null
        } else {
            ValueRef::Float(v)
        }
    };
    let v = match f.prim {
        Prim::Boolean => bool_byte(bytes[0]).map_or(ValueRef::Null, ValueRef::Bool),
        // The spec puts a lone bit in the high bit; astropy writes 0x08. Any
        // set bit is true.
        Prim::Bit => ValueRef::Bool(bytes[0] != 0),
        Prim::UByte => int(bytes[0] as i64),
        Prim::Short => int(i16::from_be_bytes(be(bytes)) as i64),
        Prim::Int => int(i32::from_be_bytes(be(bytes)) as i64),
        Prim::Long => int(i64::from_be_bytes(be(bytes))),
        Prim::Float => float(widen(f32::from_be_bytes(be(bytes)))),
        Prim::Double => float(f64::from_be_bytes(be(bytes))),
        // Characters and complex numbers are never scalars (FieldSpec::new).
        Prim::FloatComplex | Prim::DoubleComplex | Prim::Char | Prim::UnicodeChar => {
            unreachable!("text shapes are not scalar")
        }
    };
    b.push(v);
}

/// A `char` cell: up to the first NUL (the padding of fixed-length strings;
/// trailing spaces are kept, as astropy and STILTS keep them), UTF-8, or
/// Latin-1 when it is not.
fn push_chars(f: &FieldSpec, b: &mut ColumnBuilder, bytes: &[u8]) {
    let end = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
    let s = &bytes[..end];
    match std::str::from_utf8(s) {
        Ok(t) => push_str_cell(f, b, t),
        Err(_) => push_str_cell(f, b, &s.iter().map(|&c| c as char).collect::<String>()),
    }
}

fn push_float_text(out: &mut String, x: f64, single: bool) {
    let mut b = ryu::Buffer::new();
    if single && (x as f32).is_finite() {
        out.push_str(b.format_finite(x as f32));
    } else if !single && x.is_finite() {
        out.push_str(b.format_finite(x));
    } else if x.is_nan() {
        out.push_str("NaN");
    } else if x > 0.0 {
        out.push_str("+Inf");
    } else {
        out.push_str("-Inf");
    }
}

/// A non-scalar, non-`char` cell as text: `unicodeChar` decoded (trailing
/// NULs dropped), other arrays as their elements joined by spaces.
fn array_text(f: &FieldSpec, bytes: &[u8], count: usize, out: &mut String) {
    let sep = |out: &mut String| {
        if !out.is_empty() {
            out.push(' ');
        }
    };
    let mut ib = itoa::Buffer::new();
    match f.prim {
        Prim::UnicodeChar => {
            let units = bytes
                .chunks_exact(2)
                .map(|u| u16::from_be_bytes([u[0], u[1]]))
                .take_while(|&u| u != 0);
            out.extend(char::decode_utf16(units).map(|c| c.unwrap_or('\u{FFFD}')));
        }
        Prim::Bit => {
            for k in 0..count {
                sep(out);
                out.push(if bytes[k / 8] & (0x80 >> (k % 8)) != 0 {
                    '1'
                } else {
                    '0'
                });
            }
        }
        Prim::Boolean => {
            for &c in bytes {
                sep(out);
                out.push(match bool_byte(c) {
                    Some(true) => 'T',
                    Some(false) => 'F',
                    None => '?',
                });
            }
        }
        Prim::UByte => {
            for &c in bytes {
                sep(out);
                out.push_str(ib.format(c));
            }
        }
        Prim::Short => {
            for c in bytes.chunks_exact(2) {
                sep(out);
                out.push_str(ib.format(i16::from_be_bytes(be(c))));
            }
        }
        Prim::Int => {
            for c in bytes.chunks_exact(4) {
                sep(out);
                out.push_str(ib.format(i32::from_be_bytes(be(c))));
            }
        }
        Prim::Long => {
            for c in bytes.chunks_exact(8) {
                sep(out);
                out.push_str(ib.format(i64::from_be_bytes(be(c))));
            }
        }
        Prim::Float | Prim::FloatComplex => {
            for c in bytes.chunks_exact(4) {
                sep(out);
                push_float_text(out, f32::from_be_bytes(be(c)) as f64, true);
            }
        }
        Prim::Double | Prim::DoubleComplex => {
            for c in bytes.chunks_exact(8) {
                sep(out);
                push_float_text(out, f64::from_be_bytes(be(c)), false);
            }
        }
        Prim::Char => unreachable!("push_chars reads char cells"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::io::testutil::{assert_same_data, assert_same_meta, column, sample};

    fn to_bytes(t: &Table, ser: Serialization) -> Vec<u8> {
        let mut out = Vec::new();
        write(t, "sample", ser, &mut out).unwrap();
        out
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/formats/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// `t` with every floating-point NaN made null.
    fn nan_as_null(t: &Table) -> Table {
        let columns = t
            .columns()
            .iter()
            .map(|c| {
                let mut b = ColumnBuilder::new(c.data_type(), c.len());
                for v in c.iter() {
                    b.push(match v {
                        ValueRef::Float(f) if f.is_nan() => ValueRef::Null,
                        v => v,
                    });
                }
                b.finish(c.name.clone()).with_meta(c.meta.clone())
            })
            .collect();
        Table::new(columns).unwrap()
    }

    #[test]
    fn roundtrip_tabledata_and_binary2() {
        let t = sample();
        for ser in [Serialization::TableData, Serialization::Binary2] {
            let out = to_bytes(&t, ser);
            assert_eq!(out, to_bytes(&t, ser), "deterministic");
            let back = read_full(out.as_slice(), "t.vot").unwrap();
            // NaN is the VOTable float null: it reads back as null.
            let want = nan_as_null(&t);
            assert_same_data(&want, &back.table);
            assert_same_meta(&t, &back.table);
            assert_eq!(back.name.as_deref(), Some("sample"));
            // Also through a reader that hands out a few bytes at a time.
            let slow = std::io::BufReader::with_capacity(7, out.as_slice());
            assert_same_data(&want, &read(slow, "t.vot").unwrap());
        }
    }

    #[test]
    fn tabledata_text() {
        let text = String::from_utf8(to_bytes(&sample(), Serialization::TableData)).unwrap();
        assert!(
            text.contains("<TABLE name=\"sample\" nrows=\"5\">\n"),
            "{text}"
        );
        assert!(text.contains("<FIELD name=\"flag\" datatype=\"boolean\" ucd=\"meta.code\">\n  <DESCRIPTION>a flag</DESCRIPTION>\n</FIELD>\n"), "{text}");
        assert!(
            text.contains(
                "<FIELD name=\"s\" datatype=\"unicodeChar\" arraysize=\"*\" ucd=\"meta.id\">"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "<FIELD name=\"t\" datatype=\"char\" arraysize=\"*\" xtype=\"timestamp\"/>"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "<DESCRIPTION>a count, with \"quotes\" &amp; &lt;angles&gt;</DESCRIPTION>"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "<TR><TD>F</TD><TD/><TD>NaN</TD><TD>-Inf</TD><TD>a,b \"q\"</TD><TD/></TR>\n"
            ),
            "{text}"
        );
        assert!(text.contains("<TD>+Inf</TD>"), "{text}");
        assert!(text.contains("<TD>&lt;&amp;&gt; 'x'</TD>"), "{text}");
    }

    #[test]
    fn binary2_long_table_crosses_chunks() {
        let n = 20_000;
        let ints: Vec<ValueRef> = (0..n)
            .map(|i| {
                if i % 7 == 0 {
                    ValueRef::Null
                } else {
                    ValueRef::Int(i)
                }
            })
            .collect();
        let strs: Vec<String> = (0..n).map(|i| "é".repeat((i % 5) as usize + 1)).collect();
        let strs: Vec<ValueRef> = strs.iter().map(|s| ValueRef::Str(s)).collect();
        let t = Table::new(vec![
            column("i", DataType::Int, &ints),
            column("s", DataType::String, &strs),
        ])
        .unwrap();
        let out = to_bytes(&t, Serialization::Binary2);
        assert_same_data(&t, &read(out.as_slice(), "big.vot").unwrap());
    }

    #[test]
    fn empty_tables() {
        let t = Table::with_schema(&[("a".into(), DataType::Int), ("b".into(), DataType::String)]);
        for ser in [Serialization::TableData, Serialization::Binary2] {
            let back = read(to_bytes(&t, ser).as_slice(), "e.vot").unwrap();
            assert_eq!(
                back.schema(),
                vec![("a".into(), DataType::Int), ("b".into(), DataType::String)]
            );
            assert_eq!(back.num_rows(), 0);
            let back = read(to_bytes(&Table::empty(), ser).as_slice(), "z.vot").unwrap();
            assert_eq!(back.num_columns(), 0);
        }
    }

    /// The DaCHS `nulls` query, the same rows in three serialisations.
    fn check_dachs_nulls(t: &Table) {
        assert_eq!(
            t.column_names().collect::<Vec<_>>(),
            [
                "obs_id",
                "target_name",
                "s_ra",
                "t_max",
                "t_exptime",
                "calib_level",
                "cl_or_null",
                "s_region"
            ]
        );
        assert_eq!(
            t.schema().into_iter().map(|(_, t)| t).collect::<Vec<_>>(),
            [
                DataType::String,
                DataType::String,
                DataType::Float,
                DataType::Float,
                DataType::Float,
                DataType::Int,
                DataType::Int,
                DataType::String
            ]
        );
        assert_eq!(t.num_rows(), 3);
        assert_eq!(t.get(0, 0), ValueRef::Str("galex_ais_00001_nd"));
        assert_eq!(t.get(0, 1), ValueRef::Null);
        assert_eq!(t.get(1, 1), ValueRef::Str("POLARIS"));
        assert_eq!(t.get(2, 1), ValueRef::Str("ORION, TRAPEZIUM"));
        assert_eq!(t.get(1, 2), ValueRef::Float(37.95456));
        // BINARY2 flags the NULL t_max in its bitmap; TABLEDATA and BINARY
        // carry it as NaN, the float null.
        assert_eq!(t.get(0, 3), ValueRef::Null);
        assert_eq!(t.get(1, 3), ValueRef::Float(56000.01));
        assert_eq!(t.get(2, 4), ValueRef::Float(600.0));
        assert_eq!(t.get(0, 5), ValueRef::Int(2));
        assert_eq!(t.get(0, 6), ValueRef::Int(2));
        assert_eq!(t.get(1, 6), ValueRef::Null, "VALUES null=-32768");
        assert_eq!(t.get(2, 6), ValueRef::Null);
        assert_eq!(
            t.get(0, 7),
            ValueRef::Str(
                "149.98000000000027 2.1800000000000006 150.01999999999984 2.1800000000000006 150.01999999999984 2.219999999999999 149.98000000000027 2.219999999999999"
            )
        );
        let ra = &t.column("s_ra").unwrap().meta;
        assert_eq!(ra.unit.as_deref(), Some("deg"));
        assert_eq!(ra.ucd.as_deref(), Some("pos.eq.ra;meta.main"));
        assert_eq!(ra.description.as_deref(), Some("Centre RA (ICRS)"));
        let region = &t.column("s_region").unwrap().meta;
        assert_eq!(region.xtype.as_deref(), Some("polygon"));
    }

    #[test]
    fn dachs_tabledata() {
        let r = read_full(
            fixture("dachs_nulls_td.vot").as_slice(),
            "dachs_nulls_td.vot",
        )
        .unwrap();
        check_dachs_nulls(&r.table);
        assert_eq!(r.name.as_deref(), Some("obs"));
        assert_eq!(
            r.description.as_deref(),
            Some("Invented MAST-like observation rows.")
        );
        assert_eq!(
            r.query_status,
            Some(QueryStatus {
                value: "OK".into(),
                message: Some("Query successful".into())
            })
        );
    }

    #[test]
    fn dachs_binary() {
        let t = read(
            fixture("dachs_nulls_binary.vot").as_slice(),
            "dachs_nulls_binary.vot",
        )
        .unwrap();
        check_dachs_nulls(&t);
    }

    #[test]
    fn dachs_binary2() {
        let t = read(
            fixture("dachs_nulls_b2.vot").as_slice(),
            "dachs_nulls_b2.vot",
        )
        .unwrap();
        check_dachs_nulls(&t);
    }

    #[test]
    fn dachs_cone_and_overflow() {
        let t = read(fixture("dachs_cone_td.vot").as_slice(), "cone").unwrap();
        assert_eq!(
            t.column_names().collect::<Vec<_>>(),
            ["obs_id", "s_ra", "s_dec", "dist"]
        );
        assert_eq!(t.num_rows(), 4);
        assert_eq!(
            t.get(0, 0),
            ValueRef::Str("jw90001-o001_t001_nircam_clear-f200w")
        );
        assert_eq!(t.get(1, 3), ValueRef::Float(0.00044123369618935743));
        assert_eq!(t.get(3, 2), ValueRef::Float(54.4));
        assert_eq!(
            t.column("dist").unwrap().meta.ucd.as_deref(),
            Some("pos.angDistance")
        );

        let r = read_full(fixture("dachs_overflow.vot").as_slice(), "overflow").unwrap();
        assert_eq!(r.table.num_rows(), 5);
        assert_eq!(
            r.table.get(4, 0),
            ValueRef::Str("jw90001-o001_t001_miri_f770w")
        );
        assert_eq!(r.query_status.map(|s| s.value).as_deref(), Some("OVERFLOW"));
    }

    #[test]
    fn dachs_error_document() {
        let err = read(fixture("dachs_error.vot").as_slice(), "error.vot")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "error.vot: the service reported an error (QUERY_STATUS=ERROR): Field query: No such field known: column 'nope' could not be located in table metadata"
        );
    }

    #[test]
    fn all_tap_datatypes() {
        // One row in TABLEDATA, the same row in BINARY and in BINARY2.
        let fields = r#"<FIELD name="bo" datatype="boolean"/><FIELD name="bi" datatype="bit"/>
<FIELD name="ub" datatype="unsignedByte"><VALUES null="255"/></FIELD><FIELD name="sh" datatype="short"/>
<FIELD name="in" datatype="int"/><FIELD name="lo" datatype="long"/><FIELD name="fl" datatype="float"/>
<FIELD name="do" datatype="double"><VALUES null="NaN"/></FIELD><FIELD name="c1" datatype="char"/>
<FIELD name="c8" datatype="char" arraysize="8"/><FIELD name="cv" datatype="char" arraysize="*"/>
<FIELD name="u4" datatype="unicodeChar" arraysize="4"/><FIELD name="uv" datatype="unicodeChar" arraysize="10*"/>
<FIELD name="da" datatype="double" arraysize="2"/><FIELD name="ia" datatype="int" arraysize="*"/>"#;
        let td = format!(
            "<VOTABLE><RESOURCE><TABLE>{fields}<DATA><TABLEDATA>\
<TR><TD>T</TD><TD>1</TD><TD>255</TD><TD>-5</TD><TD>70000</TD><TD>-9000000000</TD><TD>0.1</TD><TD>NaN</TD>\
<TD>x</TD><TD>abc</TD><TD>a &amp; b</TD><TD>Ωé</TD><TD>日本</TD><TD>1.5 -Inf</TD><TD>1 2 3</TD></TR>\
</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"
        );
        let mut row: Vec<u8> = Vec::new();
        row.push(b'T');
        row.push(0x80);
        row.push(255);
        row.extend((-5i16).to_be_bytes());
        row.extend(70000i32.to_be_bytes());
        row.extend((-9_000_000_000i64).to_be_bytes());
        row.extend(0.1f32.to_be_bytes());
        row.extend(f64::NAN.to_be_bytes());
        row.push(b'x');
        row.extend(b"abc\0\0\0\0\0");
        row.extend(5u32.to_be_bytes());
        row.extend(b"a & b");
        for u in "Ωé\0\0".encode_utf16() {
            row.extend(u.to_be_bytes());
        }
        row.extend(2u32.to_be_bytes());
        for u in "日本".encode_utf16() {
            row.extend(u.to_be_bytes());
        }
        row.extend(1.5f64.to_be_bytes());
        row.extend(f64::NEG_INFINITY.to_be_bytes());
        row.extend(3u32.to_be_bytes());
        for i in 1i32..=3 {
            row.extend(i.to_be_bytes());
        }
        let binary = |kind: &str, bytes: &[u8]| {
            format!(
                "<VOTABLE><RESOURCE><TABLE>{fields}<DATA><{kind}><STREAM encoding='base64'>\n{}\n</STREAM></{kind}></DATA></TABLE></RESOURCE></VOTABLE>",
                STANDARD.encode(bytes)
            )
        };
        let mut row2 = vec![0u8, 0u8];
        row2.extend(&row);
        let expect = |t: &Table| {
            use ValueRef::*;
            let got: Vec<ValueRef> = (0..t.num_columns()).map(|j| t.get(0, j)).collect();
            assert_eq!(
                got,
                vec![
                    Bool(true),
                    Bool(true),
                    Null,
                    Int(-5),
                    Int(70000),
                    Int(-9_000_000_000),
                    Float(0.1),
                    Null,
                    Str("x"),
                    Str("abc"),
                    Str("a & b"),
                    Str("Ωé"),
                    Str("日本"),
                    Str("1.5 -Inf"),
                    Str("1 2 3")
                ]
            );
        };
        expect(&read(td.as_bytes(), "td").unwrap());
        expect(&read(binary("BINARY", &row).as_bytes(), "binary").unwrap());
        expect(&read(binary("BINARY2", &row2).as_bytes(), "binary2").unwrap());
        // Two rows in BINARY2, the second all flagged null.
        let mut two = row2.clone();
        let mut nulls = vec![0xFFu8, 0xFE];
        nulls.extend(&row);
        two.extend(&nulls);
        let t = read(binary("BINARY2", &two).as_bytes(), "binary2").unwrap();
        assert_eq!(t.num_rows(), 2);
        assert!((0..t.num_columns()).all(|j| t.get(1, j) == ValueRef::Null));
    }

    #[test]
    fn error_status_after_the_rows_is_an_error() {
        let doc = "<VOTABLE><RESOURCE type='results'><INFO name='QUERY_STATUS' value='OK'/><TABLE>\
<FIELD name='a' datatype='int'/><DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA></DATA>\
<INFO name='QUERY_STATUS' value='ERROR'>timeout after 1 row</INFO></TABLE></RESOURCE></VOTABLE>";
        let err = read(doc.as_bytes(), "partial.vot").unwrap_err().to_string();
        assert_eq!(
            err,
            "partial.vot: the service reported an error after part of the result (QUERY_STATUS=ERROR): timeout after 1 row"
        );
    }

    #[test]
    fn skips_meta_resources_and_dedupes_names() {
        let doc = r#"<?xml version="1.0"?><vot:VOTABLE xmlns:vot="http://www.ivoa.net/xml/VOTable/v1.3">
<vot:RESOURCE type="meta"><vot:TABLE><vot:FIELD name="z" datatype="int"/></vot:TABLE></vot:RESOURCE>
<vot:RESOURCE type="results"><vot:INFO name="QUERY_STATUS" value="OK"/><vot:TABLE>
<vot:FIELD name="id" datatype="long"/><vot:FIELD name="id" datatype="long"/><vot:PARAM name="p" datatype="int" value="1"/>
<vot:DATA><vot:TABLEDATA><vot:TR><vot:TD>1</vot:TD><vot:TD>2</vot:TD></vot:TR><vot:TR><vot:TD>3</vot:TD></vot:TR></vot:TABLEDATA></vot:DATA>
</vot:TABLE></vot:RESOURCE></vot:VOTABLE>"#;
        let t = read(doc.as_bytes(), "ns.vot").unwrap();
        assert_eq!(t.column_names().collect::<Vec<_>>(), ["id", "id_2"]);
        assert_eq!(t.get(0, 1), ValueRef::Int(2));
        assert_eq!(t.get(1, 1), ValueRef::Null, "short row filled with null");
    }

    #[test]
    fn malformed_input() {
        let cases: &[(&str, &str)] = &[
            ("", "not a VOTable: the document is empty"),
            (
                "<html><body/></html>",
                "not a VOTable: the root element is <html>",
            ),
            (
                "<VOTABLE><RESOURCE></RESOURCE></VOTABLE>",
                "the VOTable holds no TABLE",
            ),
            (
                "<VOTABLE><RESOURCE><TABLE><FIELD name='a' datatype='long'/><DATA><TABLEDATA><TR><TD>x1</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
                "TABLEDATA row 1, column `a` (1 of 1): `x1` is not a valid long",
            ),
            (
                "<VOTABLE><RESOURCE><TABLE><FIELD name='a' datatype='long'/><DATA><TABLEDATA><TR><TD>1</TD><TD>2</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
                "TABLEDATA row 1: more cells than the 1 FIELDs",
            ),
            (
                "<VOTABLE><RESOURCE><TABLE><FIELD name='a' datatype='quad'/></TABLE></RESOURCE></VOTABLE>",
                "FIELD `a`: unknown datatype `quad`",
            ),
            (
                "<VOTABLE><RESOURCE><TABLE><FIELD name='a' datatype='long'/><DATA><TABLEDATA><TR><TD>1</TD></TR>",
                "the document ends inside <TABLEDATA>",
            ),
            (
                "<VOTABLE><RESOURCE><TABLE><FIELD name='a' datatype='long'/><DATA><BINARY2><STREAM encoding='base64'>AAAA</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>",
                "BINARY2 STREAM is truncated: 3 bytes left after row 0",
            ),
            (
                "<VOTABLE><RESOURCE><TABLE><FIELD name='a' datatype='long'/><DATA><BINARY><STREAM encoding='base64'>A!!A</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>",
                "BINARY STREAM near row 1: invalid base64",
            ),
            (
                "<VOTABLE><RESOURCE><TABLE><FIELD name='a' datatype='long'/><DATA><BINARY><STREAM encoding='gzip'>AAAA</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>",
                "BINARY STREAM encoding `gzip` is not supported",
            ),
            (
                "<VOTABLE><RESOURCE><TABLE></RESOURCE></VOTABLE>",
                "invalid XML",
            ),
        ];
        for (doc, want) in cases {
            let err = read(doc.as_bytes(), "bad.vot").unwrap_err().to_string();
            assert!(err.starts_with("bad.vot: "), "{err}");
            assert!(
                err.contains(want),
                "for {doc:?}: got {err:?}, want {want:?}"
            );
        }
    }
}

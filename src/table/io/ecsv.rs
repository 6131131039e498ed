//! ECSV 1.0 (astropy's Enhanced CSV, APE 6): a YAML header in `# ` comment
//! lines declaring each column's datatype, unit, description and `meta`, then a
//! CSV body with a header line.
//!
//! Written as astropy writes it: `delimiter: ','`, one flow mapping per column
//! with the keys `name, unit, datatype, description, meta` (UCD and xtype live in
//! `meta`, where astropy keeps them), `schema: astropy-2.0`. Nulls are empty
//! fields for every type, as astropy writes masked values; astropy also reads an
//! empty string as masked, so an empty string and a null are the same in ECSV.
//! Floats use `nan`, `inf`, `-inf`; booleans `True`/`False`.

use super::{IoError, Sink, TextCells, strip_bom};
use crate::table::{ColumnMeta, DataType, Table, normalize};
use serde::Deserialize;
use std::io::Write;

const SIGNATURE: &str = "%ECSV";

/// Write `table` as ECSV 1.0 with a comma delimiter.
pub fn write(table: &Table, out: &mut dyn Write) -> Result<(), IoError> {
    let mut sink = Sink::new(out);
    sink.str("# %ECSV 1.0\n# ---\n");
    if table.num_columns() == 0 {
        sink.str("# datatype: []\n");
    } else {
        sink.str("# datatype:\n");
    }
    for c in table.columns() {
        sink.str("# - {name: ");
        yaml_scalar(&mut sink, &c.name);
        if let Some(u) = &c.meta.unit {
            sink.str(", unit: ");
            yaml_scalar(&mut sink, u);
        }
        sink.str(", datatype: ");
        sink.str(match c.data_type() {
            DataType::Bool => "bool",
            DataType::Int => "int64",
            DataType::Float => "float64",
            DataType::String => "string",
        });
        if let Some(d) = &c.meta.description {
            sink.str(", description: ");
            yaml_scalar(&mut sink, d);
        }
        if c.meta.ucd.is_some() || c.meta.xtype.is_some() {
            sink.str(", meta: {");
            let mut first = true;
            for (key, v) in [("ucd", &c.meta.ucd), ("xtype", &c.meta.xtype)] {
                if let Some(v) = v {
                    if !first {
                        sink.str(", ");
                    }
                    first = false;
                    sink.str(key);
                    sink.str(": ");
                    yaml_scalar(&mut sink, v);
                }
            }
            sink.str("}");
        }
        sink.str("}\n");
    }
    sink.str("# delimiter: ','\n# schema: astropy-2.0\n");
    super::csv::write_delimited(table, b',', &mut sink)?;
    sink.finish()?;
    Ok(())
}

/// A YAML scalar for a flow mapping: plain when that is unambiguous (starts with
/// a letter, only "safe" ASCII, not a word YAML 1.1 reads as a bool or null),
/// otherwise double-quoted with escapes.
fn yaml_scalar(sink: &mut Sink<'_>, s: &str) {
    let b = s.as_bytes();
    let plain = b
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && b.last().is_some_and(|c| *c != b' ')
        && b.iter().all(|&c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'_' | b'.' | b'-' | b'/' | b'+' | b'(' | b')' | b'*' | b'^' | b';' | b' '
                )
        })
        && !s.contains("  ")
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain {
        sink.str(s);
        return;
    }
    sink.byte(b'"');
    for ch in s.chars() {
        match ch {
            '"' => sink.str("\\\""),
            '\\' => sink.str("\\\\"),
            '\n' => sink.str("\\n"),
            '\t' => sink.str("\\t"),
            '\r' => sink.str("\\r"),
            c if (c as u32) < 0x20
                || c == '\u{7f}'
                || c == '\u{85}'
                || c == '\u{2028}'
                || c == '\u{2029}'
                || c == '\u{feff}' =>
            {
                sink.str(&format!("\\u{:04x}", c as u32));
            }
            c => {
                let mut buf = [0u8; 4];
                sink.str(c.encode_utf8(&mut buf));
            }
        }
    }
    sink.byte(b'"');
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    delimiter: Option<String>,
    #[serde(default)]
    datatype: Vec<ColSpec>,
}

#[derive(Deserialize)]
struct ColSpec {
    name: serde_yaml::Value,
    #[serde(default)]
    datatype: Option<String>,
    #[serde(default)]
    unit: Option<serde_yaml::Value>,
    #[serde(default)]
    description: Option<serde_yaml::Value>,
    #[serde(default)]
    meta: Option<serde_yaml::Value>,
}

/// The table type of an ECSV datatype (numpy names); anything else is read as text.
fn ecsv_type(datatype: &str) -> DataType {
    if let Some(t) = normalize::declared_type(datatype) {
        return t;
    }
    let d = datatype.to_ascii_lowercase();
    if d.starts_with("int") || d.starts_with("uint") {
        DataType::Int
    } else if d.starts_with("float") {
        DataType::Float
    } else {
        DataType::String
    }
}

fn scalar_string(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        serde_yaml::Value::Tagged(t) => scalar_string(&t.value),
        _ => None,
    }
}

/// `ucd` and `xtype` from a column's `meta`, a mapping or an `!!omap` (a
/// sequence of one-key mappings, as astropy writes an OrderedDict).
fn meta_fields(meta: &serde_yaml::Value, out: &mut ColumnMeta) {
    match meta {
        serde_yaml::Value::Tagged(t) => meta_fields(&t.value, out),
        serde_yaml::Value::Sequence(items) => items.iter().for_each(|m| meta_fields(m, out)),
        serde_yaml::Value::Mapping(m) => {
            for (k, v) in m {
                match k.as_str() {
                    Some("ucd") => out.ucd = scalar_string(v),
                    Some("xtype") => out.xtype = scalar_string(v),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Read ECSV bytes.
pub fn read(bytes: &[u8], origin: &str) -> Result<Table, IoError> {
    let text = std::str::from_utf8(strip_bom(bytes)).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        IoError::format(
            origin,
            format!("line {line}: text is not valid UTF-8; ECSV files are UTF-8"),
        )
    })?;

    // Header: every leading line that starts with '#'.
    let mut yaml = String::new();
    let mut body_start = text.len();
    let mut nlines = 0u64;
    let mut seen_separator = false;
    let mut pos = 0;
    while pos < text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1);
        let line = text[pos..end].trim_end_matches(['\n', '\r']);
        if !line.starts_with('#') {
            body_start = pos;
            break;
        }
        nlines += 1;
        let content = line[1..].strip_prefix(' ').unwrap_or(&line[1..]);
        if nlines == 1 {
            let version = content.trim().strip_prefix(SIGNATURE).map(str::trim);
            match version {
                Some(v) if v.starts_with("1.") || v.starts_with("0.9") => {}
                Some(v) => {
                    return Err(IoError::format(
                        origin,
                        format!("line 1: ECSV version `{v}` is not supported (1.0 is)"),
                    ));
                }
                None => {
                    return Err(IoError::format(
                        origin,
                        "line 1: not an ECSV file: it must start with `# %ECSV 1.0`; read plain CSV with the csv format",
                    ));
                }
            }
        } else if !seen_separator {
            if content.trim() == "---" {
                seen_separator = true;
            } else {
                return Err(IoError::format(
                    origin,
                    format!("line {nlines}: expected `# ---` after the ECSV signature"),
                ));
            }
        } else {
            yaml.push_str(content);
            yaml.push('\n');
        }
        pos = end;
    }
    if nlines == 0 {
        return Err(IoError::format(
            origin,
            "line 1: not an ECSV file: it must start with `# %ECSV 1.0`; read plain CSV with the csv format",
        ));
    }
    if !seen_separator {
        return Err(IoError::format(
            origin,
            "the ECSV header has no `# ---` line",
        ));
    }
    let header: Header = serde_yaml::from_str(&yaml).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("line {}: ", l.line() as u64 + 2))
            .unwrap_or_default();
        IoError::format(origin, format!("{at}invalid ECSV YAML header: {e}"))
    })?;
    let delimiter = match header.delimiter.as_deref() {
        None | Some(" ") => b' ',
        Some(",") => b',',
        Some(other) => {
            return Err(IoError::format(
                origin,
                format!("ECSV delimiter `{other}` is not allowed; ECSV allows only ',' or ' '"),
            ));
        }
    };

    let mut names = Vec::with_capacity(header.datatype.len());
    let mut types = Vec::with_capacity(header.datatype.len());
    let mut metas = Vec::with_capacity(header.datatype.len());
    for (i, spec) in header.datatype.iter().enumerate() {
        let name = scalar_string(&spec.name).ok_or_else(|| {
            IoError::format(origin, format!("ECSV header: column {} has no name", i + 1))
        })?;
        let datatype = spec.datatype.as_deref().unwrap_or("string");
        let mut meta = ColumnMeta {
            unit: spec.unit.as_ref().and_then(scalar_string),
            description: spec.description.as_ref().and_then(scalar_string),
            ..ColumnMeta::default()
        };
        if let Some(m) = &spec.meta {
            meta_fields(m, &mut meta);
        }
        names.push(name);
        types.push(ecsv_type(datatype));
        metas.push(meta);
    }
    if names.is_empty() {
        return Ok(Table::empty());
    }

    let mut rdr = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(&text.as_bytes()[body_start..]);
    let mut record = ::csv::StringRecord::new();
    let line_of = |r: &::csv::StringRecord| r.position().map_or(0, |p| p.line()) + nlines;
    let read_err = |e: ::csv::Error| {
        let line = e.position().map_or(0, |p| p.line()) + nlines;
        IoError::format(origin, format!("line {line}: {e}"))
    };
    if !rdr.read_record(&mut record).map_err(read_err)? {
        return Err(IoError::format(
            origin,
            "the ECSV body has no column-name line; it must repeat the column names after the header",
        ));
    }
    let body_names: Vec<&str> = record.iter().collect();
    if body_names != names.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(IoError::format(
            origin,
            format!(
                "line {}: column names {:?} do not match the header's {:?}",
                line_of(&record),
                body_names,
                names
            ),
        ));
    }
    let mut cells: Vec<TextCells> = names.iter().map(|_| TextCells::default()).collect();
    while rdr.read_record(&mut record).map_err(read_err)? {
        if record.len() != names.len() {
            return Err(IoError::format(
                origin,
                format!(
                    "line {}: {} fields, but the header declares {} columns",
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
        .zip(types.iter().zip(metas))
        .map(|((name, c), (t, meta))| {
            normalize::text_column(name, &c.cells(), Some(*t)).with_meta(meta)
        })
        .collect();
    debug_assert!(cells.iter().all(|c| c.len() == cells[0].len()));
    Table::new(columns).map_err(|e| IoError::format(origin, format!("ECSV header: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::ValueRef;
    use crate::table::io::testutil::{assert_same_data, assert_same_meta, column, sample};

    fn to_bytes(t: &Table) -> Vec<u8> {
        let mut out = Vec::new();
        write(t, &mut out).unwrap();
        out
    }

    #[test]
    fn roundtrip_types_nulls_meta() {
        let t = sample();
        let out = to_bytes(&t);
        let back = read(&out, "t.ecsv").unwrap();
        assert_same_data(&t, &back);
        assert_same_meta(&t, &back);
        assert_eq!(out, to_bytes(&t), "deterministic");
        let text = String::from_utf8(out).unwrap();
        let expected_header = "# %ECSV 1.0\n# ---\n# datatype:\n\
# - {name: flag, datatype: bool, description: a flag, meta: {ucd: meta.code}}\n\
# - {name: \"n\", unit: ct, datatype: int64, description: \"a count, with \\\"quotes\\\" & <angles>\"}\n\
# - {name: x, unit: deg, datatype: float64, description: \"right ascension: ICRS\", meta: {ucd: pos.eq.ra;meta.main}}\n\
# - {name: \"y\", datatype: float64}\n\
# - {name: s, datatype: string, description: \"target — name\", meta: {ucd: meta.id}}\n\
# - {name: t, datatype: string, meta: {xtype: timestamp}}\n\
# delimiter: ','\n# schema: astropy-2.0\nflag,n,x,y,s,t\n";
        assert!(text.starts_with(expected_header), "{text}");
        assert!(
            text.contains("\nFalse,,nan,-inf,\"a,b \"\"q\"\"\",\n"),
            "{text}"
        );
    }

    #[test]
    fn reads_astropy_output() {
        // Written by astropy 8.0 (space delimiter, omap meta, multi-line description).
        let text = "# %ECSV 1.0\n# ---\n# datatype:\n\
# - {name: b, datatype: bool, description: flag}\n\
# - {name: i, unit: m, datatype: int64, description: an int}\n\
# - {name: f, unit: km / s, datatype: float64}\n\
# - name: s\n#   datatype: string\n#   description: 'no: yes, \"quoted\"\n# \n#     newline'\n#   meta: !!omap\n#   - {ucd: meta.id}\n\
# meta: !!omap\n# - {foo: bar}\n# schema: astropy-2.0\n\
b i f s\nTrue 1 1.5 \"a b\"\nFalse \"\" nan \"\"\n\"\" 3 -inf \"\"\n";
        let t = read(text.as_bytes(), "astropy.ecsv").unwrap();
        assert_eq!(
            t.schema(),
            vec![
                ("b".into(), DataType::Bool),
                ("i".into(), DataType::Int),
                ("f".into(), DataType::Float),
                ("s".into(), DataType::String)
            ]
        );
        assert_eq!(t.get(0, 3), ValueRef::Str("a b"));
        assert!(t.columns()[0].is_null(2));
        assert!(t.columns()[1].is_null(1));
        assert!(matches!(t.get(1, 2), ValueRef::Float(f) if f.is_nan()));
        assert_eq!(t.get(2, 2), ValueRef::Float(f64::NEG_INFINITY));
        assert!(t.columns()[3].is_null(1));
        let s = &t.columns()[3].meta;
        assert_eq!(s.ucd.as_deref(), Some("meta.id"));
        assert_eq!(
            s.description.as_deref(),
            Some("no: yes, \"quoted\"\nnewline")
        );
        assert_eq!(t.columns()[2].meta.unit.as_deref(), Some("km / s"));
    }

    #[test]
    fn empty_tables() {
        let t = Table::with_schema(&[("a".into(), DataType::Float), ("on".into(), DataType::Bool)]);
        let out = to_bytes(&t);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("{name: \"on\", datatype: bool}"), "{text}");
        let back = read(&out, "e.ecsv").unwrap();
        assert_eq!(back.schema(), t.schema());
        assert_eq!(back.num_rows(), 0);

        let out = to_bytes(&Table::empty());
        let back = read(&out, "z.ecsv").unwrap();
        assert_eq!(back.num_columns(), 0);
    }

    #[test]
    fn awkward_names_and_units_roundtrip() {
        let mut c = column("2mass id: x", DataType::Int, &[ValueRef::Int(1)]);
        c.meta.unit = Some("erg/(s.cm**2)".into());
        c.meta.description = Some("tab\there\u{85} \\ back".into());
        let t = Table::new(vec![c]).unwrap();
        let back = read(&to_bytes(&t), "a.ecsv").unwrap();
        assert_same_data(&t, &back);
        assert_same_meta(&t, &back);
    }

    #[test]
    fn malformed_input() {
        let err = read(b"a,b\n1,2\n", "plain.csv").unwrap_err().to_string();
        assert!(
            err.starts_with("plain.csv: line 1: not an ECSV file"),
            "{err}"
        );
        let err = read(
            b"# %ECSV 1.0\n# ---\n# datatype: [{name: a, datatype: int64\na\n1\n",
            "y.ecsv",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("y.ecsv: ") && err.contains("invalid ECSV YAML header"),
            "{err}"
        );
        let hdr = "# %ECSV 1.0\n# ---\n# datatype:\n# - {name: a, datatype: int64}\n# - {name: b, datatype: string}\n# delimiter: ','\n";
        let err = read(format!("{hdr}a,c\n1,x\n").as_bytes(), "n.ecsv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("n.ecsv: line 7: column names"), "{err}");
        let err = read(format!("{hdr}a,b\n1,x\n2\n").as_bytes(), "r.ecsv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("r.ecsv: line 9: 1 fields"), "{err}");
        let err = read(
            b"# %ECSV 1.0\n# ---\n# delimiter: ';'\n# datatype: [{name: a}]\na\n",
            "d.ecsv",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("delimiter `;`"), "{err}");
    }
}

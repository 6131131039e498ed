//! JSON tables.
//!
//! Writer: `{"name": …, "columns": [{"name", "datatype", "unit"?, "description"?,
//! "ucd"?, "xtype"?}], "rows": [{col: value, …}, …]}` with row keys in column
//! order, one row per line, non-finite floats as `null`.
//!
//! Reader, three shapes:
//! - ours (`columns` + `rows`), and the like with `data` for `rows` or arrays for
//!   rows (DaCHS's TAP JSON);
//! - MAST's Mashup response, `{"fields": [{"name", "type"}], "data": [{…}]}`;
//! - a plain array of objects, each column's type inferred.
//!
//! Declared types go through [`normalize::declared_type`] and every cell through
//! [`normalize::json_cell`].

use super::{IoError, Sink, strip_bom, unique_names};
use crate::table::column::ColumnBuilder;
use crate::table::{Column, ColumnData, ColumnMeta, DataType, Table, Value, normalize};
use serde_json::Value as J;
use std::io::Write;

/// Write `table` as JSON.
pub fn write(table: &Table, name: &str, out: &mut dyn Write) -> Result<(), IoError> {
    let mut sink = Sink::new(out);
    sink.str("{\"name\": ");
    json_string(&mut sink, name);
    sink.str(", \"columns\": [");
    for (j, c) in table.columns().iter().enumerate() {
        sink.str(if j == 0 { "\n  " } else { ",\n  " });
        sink.str("{\"name\": ");
        json_string(&mut sink, &c.name);
        sink.str(", \"datatype\": \"");
        sink.str(c.data_type().name());
        sink.byte(b'"');
        for (key, v) in [
            ("unit", &c.meta.unit),
            ("description", &c.meta.description),
            ("ucd", &c.meta.ucd),
            ("xtype", &c.meta.xtype),
        ] {
            if let Some(v) = v {
                sink.str(", \"");
                sink.str(key);
                sink.str("\": ");
                json_string(&mut sink, v);
            }
        }
        sink.byte(b'}');
    }
    sink.str(if table.num_columns() == 0 {
        "], \"rows\": ["
    } else {
        "\n], \"rows\": ["
    });
    // Keys are the same on every row: escape them once.
    let keys: Vec<Vec<u8>> = table
        .columns()
        .iter()
        .map(|c| {
            let mut k = serde_json::to_vec(&c.name).unwrap_or_default();
            k.extend_from_slice(b": ");
            k
        })
        .collect();
    let columns = table.columns();
    for i in 0..table.num_rows() {
        sink.str(if i == 0 { "\n  {" } else { ",\n  {" });
        for (j, c) in columns.iter().enumerate() {
            if j > 0 {
                sink.str(", ");
            }
            sink.push(&keys[j]);
            if c.is_null(i) {
                sink.str("null");
                continue;
            }
            match c.data() {
                ColumnData::Bool(v) => sink.str(if v[i] { "true" } else { "false" }),
                ColumnData::Int(v) => sink.int(v[i]),
                ColumnData::Float(v) if v[i].is_finite() => sink.finite_float(v[i]),
                ColumnData::Float(_) => sink.str("null"),
                ColumnData::Str(v) => json_string(&mut sink, v.get(i)),
            }
        }
        sink.byte(b'}');
        sink.maybe_flush()?;
    }
    sink.str(if table.num_rows() == 0 {
        "]}\n"
    } else {
        "\n]}\n"
    });
    sink.finish()?;
    Ok(())
}

/// A JSON string literal (escapes `"`, `\` and control characters; UTF-8 kept).
fn json_string(sink: &mut Sink<'_>, s: &str) {
    sink.byte(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        sink.push(&b[start..i]);
        if esc.is_empty() {
            sink.str(&format!("\\u{c:04x}"));
        } else {
            sink.push(esc);
        }
        start = i + 1;
    }
    sink.push(&b[start..]);
    sink.byte(b'"');
}

struct ColDecl {
    name: String,
    t: Option<DataType>,
    meta: ColumnMeta,
}

fn text_of(v: Option<&J>) -> Option<String> {
    match v {
        Some(J::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Column declarations from `columns` (ours, DaCHS) or `fields` (Mashup).
fn declarations(list: &[J], origin: &str, key: &str) -> Result<Vec<ColDecl>, IoError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, f) in list.iter().enumerate() {
        let name = match f {
            J::String(s) => s.clone(),
            J::Object(o) => text_of(o.get("name"))
                .ok_or_else(|| IoError::format(origin, format!("`{key}[{i}]` has no \"name\"")))?,
            _ => {
                return Err(IoError::format(
                    origin,
                    format!("`{key}[{i}]` must be an object with a \"name\""),
                ));
            }
        };
        let (t, meta) = match f {
            J::Object(o) => {
                let declared = text_of(o.get("datatype")).or_else(|| text_of(o.get("type")));
                // A VOTable-style array column (DaCHS: `"arraysize": "*"` on a double)
                // holds JSON arrays; keep their text.
                let is_array = !matches!(o.get("arraysize"), None | Some(J::Null))
                    && !matches!(declared.as_deref(), Some("char" | "unicodeChar"));
                let t = if is_array {
                    Some(DataType::String)
                } else {
                    declared
                        .as_deref()
                        .map(|d| normalize::declared_type(d).unwrap_or(DataType::String))
                };
                let meta = ColumnMeta {
                    unit: text_of(o.get("unit")),
                    description: text_of(o.get("description")),
                    ucd: text_of(o.get("ucd")),
                    xtype: text_of(o.get("xtype")),
                };
                (t, meta)
            }
            _ => (None, ColumnMeta::default()),
        };
        out.push(ColDecl { name, t, meta });
    }
    Ok(out)
}

/// Read JSON bytes.
pub fn read(bytes: &[u8], origin: &str) -> Result<Table, IoError> {
    let doc: J = serde_json::from_slice(strip_bom(bytes)).map_err(|e| {
        IoError::format(
            origin,
            format!("line {} column {}: invalid JSON: {e}", e.line(), e.column()),
        )
    })?;
    match &doc {
        J::Array(rows) => from_objects(rows, origin),
        J::Object(o) => {
            let (decl_key, decls) = if let Some(J::Array(c)) = o.get("columns") {
                ("columns", c)
            } else if let Some(J::Array(f)) = o.get("fields") {
                ("fields", f)
            } else if let Some(J::Array(rows)) = o.get("rows").or_else(|| o.get("data")) {
                return from_objects(rows, origin);
            } else {
                return Err(IoError::format(
                    origin,
                    "unrecognised JSON table: expected {\"columns\": [...], \"rows\": [...]}, MAST's {\"fields\": [...], \"data\": [...]}, or an array of objects",
                ));
            };
            let decls = declarations(decls, origin, decl_key)?;
            let rows = match o.get("rows").or_else(|| o.get("data")) {
                Some(J::Array(r)) => r.as_slice(),
                None | Some(J::Null) => &[],
                Some(_) => {
                    return Err(IoError::format(
                        origin,
                        "\"rows\" (or \"data\") must be an array",
                    ));
                }
            };
            from_declared(decls, rows, origin)
        }
        _ => Err(IoError::format(
            origin,
            "a JSON table must be an object or an array of objects",
        )),
    }
}

/// Rows as objects keyed by column name, or as arrays in column order.
fn cell<'a>(row: &'a J, j: usize, name: &str, i: usize, origin: &str) -> Result<&'a J, IoError> {
    static NULL: J = J::Null;
    match row {
        J::Object(o) => Ok(o.get(name).unwrap_or(&NULL)),
        J::Array(a) => Ok(a.get(j).unwrap_or(&NULL)),
        _ => Err(IoError::format(
            origin,
            format!("row {} is not an object or an array", i + 1),
        )),
    }
}

fn from_declared(decls: Vec<ColDecl>, rows: &[J], origin: &str) -> Result<Table, IoError> {
    let names = unique_names(decls.iter().map(|d| d.name.clone()).collect());
    let mut columns = Vec::with_capacity(decls.len());
    for (j, (d, name)) in decls.into_iter().zip(names).enumerate() {
        let column = match d.t {
            Some(t) => {
                let mut b = ColumnBuilder::new(t, rows.len());
                for (i, row) in rows.iter().enumerate() {
                    let raw = cell(row, j, &d.name, i, origin)?;
                    b.push(normalize::json_cell(raw, t).as_ref());
                }
                b.finish(name)
            }
            None => {
                let values = rows
                    .iter()
                    .enumerate()
                    .map(|(i, row)| cell(row, j, &d.name, i, origin).map(Value::from_json))
                    .collect::<Result<Vec<_>, _>>()?;
                Column::from_values(name, &values, None)
            }
        };
        columns.push(column.with_meta(d.meta));
    }
    Table::new(columns).map_err(|e| IoError::format(origin, e.to_string()))
}

/// A plain array of objects: columns in first-seen key order, types inferred.
fn from_objects(rows: &[J], origin: &str) -> Result<Table, IoError> {
    let mut names: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let J::Object(o) = row else {
            return Err(IoError::format(
                origin,
                format!(
                    "element {} of the array is not an object; expected an array of row objects",
                    i + 1
                ),
            ));
        };
        for k in o.keys() {
            if seen.insert(k.as_str()) {
                names.push(k.clone());
            }
        }
    }
    let decls = names
        .into_iter()
        .map(|name| ColDecl {
            name,
            t: None,
            meta: ColumnMeta::default(),
        })
        .collect();
    from_declared(decls, rows, origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::ValueRef;
    use crate::table::io::testutil::{assert_same_data, assert_same_meta, sample};

    fn to_bytes(t: &Table, name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write(t, name, &mut out).unwrap();
        out
    }

    #[test]
    fn roundtrip_ours() {
        let t = sample();
        let out = to_bytes(&t, "sample");
        assert_eq!(out, to_bytes(&t, "sample"));
        let text = String::from_utf8(out.clone()).unwrap();
        let v: J = serde_json::from_str(&text).unwrap();
        assert_eq!(v["name"], "sample");
        assert_eq!(
            v["columns"][2],
            serde_json::json!({"name": "x", "datatype": "float", "unit": "deg",
                "description": "right ascension: ICRS", "ucd": "pos.eq.ra;meta.main"})
        );
        assert!(text.contains("\n  {\"flag\": false, \"n\": null, \"x\": null, \"y\": null, \"s\": \"a,b \\\"q\\\"\", \"t\": null},\n"), "{text}");
        let back = read(&out, "t.json").unwrap();
        assert_same_meta(&t, &back);
        // Non-finite floats become null in JSON.
        let mut expected = t.clone();
        for c in expected.columns_mut() {
            if c.data_type() == DataType::Float {
                let vals: Vec<Value> = c
                    .iter()
                    .map(|v| match v {
                        ValueRef::Float(f) if !f.is_finite() => Value::Null,
                        v => v.to_owned(),
                    })
                    .collect();
                *c = Column::from_values(c.name.clone(), &vals, Some(DataType::Float))
                    .with_meta(c.meta.clone());
            }
        }
        assert_same_data(&expected, &back);
    }

    #[test]
    fn empty_tables() {
        let t = Table::with_schema(&[("a".into(), DataType::Int)]);
        let out = to_bytes(&t, "e");
        let back = read(&out, "e.json").unwrap();
        assert_eq!(back.schema(), t.schema());
        let out = to_bytes(&Table::empty(), "z");
        assert_eq!(out, b"{\"name\": \"z\", \"columns\": [], \"rows\": []}\n");
        assert_eq!(read(&out, "z.json").unwrap().num_columns(), 0);
    }

    #[test]
    fn array_of_objects() {
        let t = read(
            br#"[{"a": 1, "b": "x", "c": 1.5}, {"a": null, "c": 2, "d": true}, {"a": 3, "b": null, "d": [1,2]}]"#,
            "a.json",
        )
        .unwrap();
        assert_eq!(t.column_names().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        assert_eq!(t.column("a").unwrap().data_type(), DataType::Int);
        assert!(t.column("a").unwrap().is_null(1));
        assert_eq!(t.column("c").unwrap().data_type(), DataType::Float);
        assert_eq!(t.get(1, 2), ValueRef::Float(2.0));
        assert_eq!(t.column("d").unwrap().data_type(), DataType::String);
        assert_eq!(t.get(2, 3), ValueRef::Str("[1,2]"));
        assert!(t.column("b").unwrap().is_null(1) && t.column("b").unwrap().is_null(2));
    }

    #[test]
    fn mashup_shape() {
        let t = read(
            br#"{"status": "COMPLETE", "fields": [{"name": "obsid", "type": "string"}, {"name": "t_exptime", "type": "float"},
                {"name": "calib_level", "type": "int"}, {"name": "dataRights", "type": "boolean"}, {"name": "t_obs_release", "type": "string"}],
               "data": [{"obsid": "2003738726", "t_exptime": "494.46", "calib_level": 3, "dataRights": "t", "t_obs_release": "/Date(1654430410430)/"},
                        {"obsid": "2003738727", "t_exptime": null, "calib_level": "", "dataRights": "False", "t_obs_release": null}]}"#,
            "mashup.json",
        )
        .unwrap();
        assert_eq!(
            t.schema().into_iter().map(|(_, t)| t).collect::<Vec<_>>(),
            [
                DataType::String,
                DataType::Float,
                DataType::Int,
                DataType::Bool,
                DataType::String
            ]
        );
        assert_eq!(t.get(0, 1), ValueRef::Float(494.46));
        assert_eq!(t.get(0, 3), ValueRef::Bool(true));
        assert_eq!(t.get(1, 3), ValueRef::Bool(false));
        assert_eq!(t.get(0, 4), ValueRef::Str("2022-06-05T12:00:10.430"));
        assert!(
            t.columns()[1].is_null(1) && t.columns()[2].is_null(1) && t.columns()[4].is_null(1)
        );
    }

    #[test]
    fn dachs_tap_json() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/formats/dachs_nulls.json"
        ))
        .unwrap();
        let t = read(&bytes, "dachs_nulls.json").unwrap();
        assert_eq!(t.num_rows(), 3);
        assert_eq!(t.column("s_ra").unwrap().data_type(), DataType::Float);
        assert_eq!(t.column("calib_level").unwrap().data_type(), DataType::Int);
        assert_eq!(t.column("s_region").unwrap().data_type(), DataType::String);
        assert_eq!(t.get(1, 1), ValueRef::Str("POLARIS"));
        assert!(t.column("target_name").unwrap().is_null(0));
        assert!(t.column("t_max").unwrap().is_null(0));
        assert!(t.column("cl_or_null").unwrap().is_null(1));
        assert_eq!(t.column("s_ra").unwrap().meta.unit.as_deref(), Some("deg"));
        assert_eq!(t.column("obs_id").unwrap().meta.unit, None);
        assert_eq!(
            t.column("s_region").unwrap().meta.xtype.as_deref(),
            Some("polygon")
        );
    }

    #[test]
    fn malformed_input() {
        let err = read(b"{\"columns\": [", "bad.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("bad.json: line 1 column 13: invalid JSON"),
            "{err}"
        );
        let err = read(b"{\"x\": 1}", "odd.json").unwrap_err().to_string();
        assert!(err.contains("odd.json: unrecognised JSON table"), "{err}");
        let err = read(b"[1, 2]", "arr.json").unwrap_err().to_string();
        assert!(
            err.contains("element 1 of the array is not an object"),
            "{err}"
        );
        let err = read(
            b"{\"fields\": [{\"type\": \"int\"}], \"data\": []}",
            "f.json",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`fields[0]` has no \"name\""), "{err}");
        let err = read(b"{\"columns\": [\"a\"], \"rows\": [7]}", "r.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 1 is not an object or an array"), "{err}");
    }
}

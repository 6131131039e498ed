//! Writes Mashup `format=json` envelopes (protocol doc §1.3) straight from a
//! [`Table`] to bytes, in the fixtures' key order `status, msg, data,
//! fields, paging`. Numbers are written with itoa/ryu, non-finite floats as
//! `null`; columns declared `"string"` that hold integers (`obsid`) are
//! written as JSON numbers, as MAST does.

use crate::table::{Table, ValueRef};
use crate::wire::Paging;

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

fn push_value(out: &mut Vec<u8>, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => out.extend_from_slice(b"null"),
        ValueRef::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        ValueRef::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        ValueRef::Float(f) if f.is_finite() => {
            out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes())
        }
        ValueRef::Float(_) => out.extend_from_slice(b"null"),
        ValueRef::Str(s) => push_str(out, s),
    }
}

/// A COMPLETE envelope with rows `rows` of `t` (all columns, `wire` types).
pub fn complete(t: &Table, wire: &[&str], rows: std::ops::Range<usize>, paging: Paging) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + rows.len() * t.num_columns() * 24);
    out.extend_from_slice(br#"{"status":"COMPLETE","msg":"","data":["#);
    let names: Vec<Vec<u8>> = t
        .columns()
        .iter()
        .map(|c| {
            let mut k = Vec::new();
            push_str(&mut k, &c.name);
            k.push(b':');
            k
        })
        .collect();
    for (n, r) in rows.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.push(b'{');
        for (j, c) in t.columns().iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&names[j]);
            push_value(&mut out, c.get(r));
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"],");
    push_fields(&mut out, t, wire);
    out.push(b',');
    push_paging(&mut out, paging);
    out.push(b'}');
    out
}

fn push_fields(out: &mut Vec<u8>, t: &Table, wire: &[&str]) {
    out.extend_from_slice(br#""fields":["#);
    for (j, c) in t.columns().iter().enumerate() {
        if j > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"name":"#);
        push_str(out, &c.name);
        out.extend_from_slice(br#","type":"#);
        push_str(out, wire.get(j).copied().unwrap_or("string"));
        out.push(b'}');
    }
    out.push(b']');
}

fn push_paging(out: &mut Vec<u8>, p: Paging) {
    out.extend_from_slice(br#""paging":"#);
    out.extend_from_slice(serde_json::to_string(&p).unwrap_or_default().as_bytes());
}

/// The `COUNT_BIG(*)` answer: `[{"Column1": n}]`, declared `"string"`.
pub fn count(n: u64, page_size: u64) -> Vec<u8> {
    let paging = Paging {
        page: 1,
        page_size,
        pages_filtered: 1,
        rows: 1,
        rows_filtered: 1,
        rows_total: 1,
    };
    format!(
        r#"{{"status":"COMPLETE","msg":"","data":[{{"Column1":{n}}}],"fields":[{{"name":"Column1","type":"string"}}],"paging":{}}}"#,
        serde_json::to_string(&paging).unwrap_or_default()
    )
    .into_bytes()
}

/// An ERROR envelope carrying `msg`.
pub fn error(msg: &str) -> Vec<u8> {
    let mut out = br#"{"status":"ERROR","msg":"#.to_vec();
    push_str(&mut out, msg);
    out.extend_from_slice(br#","data":[],"fields":[]}"#);
    out
}

/// An EXECUTING envelope (long polling: the client re-sends the same body).
pub fn executing(percent: f64) -> Vec<u8> {
    format!(
        r#"{{"status":"EXECUTING","msg":"","percent complete":{percent},"data":[],"fields":[]}}"#
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Column, ColumnData};

    #[test]
    fn envelope_is_valid_json() {
        let t = Table::new(vec![
            Column::new("obsid", ColumnData::Int(vec![1, 2]), None),
            Column::new("s_ra", ColumnData::Float(vec![1.5, f64::NAN]), None),
        ])
        .unwrap();
        let b = complete(
            &t,
            &["string", "float"],
            0..2,
            Paging::for_page(1, 50000, 2),
        );
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["data"][0]["obsid"], 1);
        assert!(v["data"][1]["s_ra"].is_null());
        assert_eq!(v["fields"][0]["type"], "string");
        assert_eq!(v["paging"]["rowsFiltered"], 2);
        let e: serde_json::Value =
            serde_json::from_slice(&error("Invalid column name 'x'.")).unwrap();
        assert_eq!(e["status"], "ERROR");
    }
}

//! The VOTable reader against astropy, cell by cell.
//!
//! astropy writes one table with every datatype (bit, boolean, unsignedByte,
//! short, int, long, float, double, floatComplex, doubleComplex, char,
//! unicodeChar), the arraysize forms it writes (scalar, `N`, `AxB`, `*`,
//! `Ax*`) and nulls in every column, in TABLEDATA, BINARY and BINARY2
//! (`tests/interop/votable_astropy.py`). Our reader must give, for every cell,
//! what astropy itself reads from the same file. Then our writer writes what
//! we read, and astropy must read our files back as the same table.
//!
//! How cells compare (astropy's JSON dump is described in the helper):
//! - masked values and NaN are null on both sides (NaN is the VOTable float
//!   null); an empty string, an empty array and an all-null array are null
//!   (TABLEDATA cannot tell them apart);
//! - our arrays are text (elements joined by spaces): they are split and each
//!   element read as the FIELD's datatype says (bits as 0/1, booleans as
//!   T/F/?, numbers; `NaN` is null);
//! - `float` and `floatComplex` values compare as f32, the rest exactly.
//!
//! Python comes from `MASTFLOW_PYTHON` (default `python3`). Without astropy the
//! tests print `SKIPPED: astropy not installed` and pass, unless
//! `MASTFLOW_REQUIRE_INTEROP=1`, when they fail.

mod common;

use common::{interop_dir, python};
use mastflow::table::io::votable::{self, Serialization, VotableRead};
use mastflow::table::{DataType, Table, ValueRef};
use serde_json::{Value as J, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const FILES: [&str; 3] = [
    "astropy_tabledata.vot",
    "astropy_binary.vot",
    "astropy_binary2.vot",
];

/// Run the helper (`tests/interop/votable_astropy.py`, which exits with 3
/// when it cannot import astropy); `None` when astropy is missing (and not
/// required).
fn py(args: &[&str]) -> Option<String> {
    let out = Command::new(python())
        .arg(interop_dir().join("votable_astropy.py"))
        .args(args)
        .output();
    let missing = match &out {
        Err(e) => Some(format!("cannot run `{}`: {e}", python())),
        Ok(o) if o.status.code() == Some(3) => Some(String::from_utf8_lossy(&o.stdout).into()),
        Ok(_) => None,
    };
    if let Some(why) = missing {
        common::skip_or_fail(format!("astropy not installed ({})", why.trim()));
        return None;
    }
    let out = out.unwrap();
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// astropy's reading of `paths`, keyed by path.
fn dump(paths: &[PathBuf]) -> Option<J> {
    let mut args = vec!["dump".to_string()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    py(&args).map(|s| serde_json::from_str(&s).unwrap())
}

fn read(path: &Path) -> VotableRead {
    let file = std::fs::File::open(path).unwrap();
    votable::read_full(std::io::BufReader::new(file), &path.display().to_string())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One of our array elements as the JSON astropy's dump uses.
fn element(tok: &str, datatype: &str) -> J {
    match (datatype, tok) {
        (_, "NaN") => J::Null,
        ("bit", "1") | ("boolean", "T") => json!(true),
        ("bit", "0") | ("boolean", "F") => json!(false),
        ("boolean", "?") => J::Null,
        (_, "+Inf") => json!("inf"),
        (_, "-Inf") => json!("-inf"),
        (_, t) => match t.parse::<i64>() {
            Ok(i) => json!(i),
            Err(_) => json!(t.parse::<f64>().unwrap_or_else(|_| panic!("element `{t}`"))),
        },
    }
}

/// Our cell as astropy's dump would show it.
fn ours(v: ValueRef<'_>, datatype: &str, array: bool) -> J {
    match v {
        ValueRef::Null => J::Null,
        ValueRef::Bool(b) => json!(b),
        ValueRef::Int(i) => json!(i),
        ValueRef::Float(f) if f.is_infinite() => json!(if f > 0.0 { "inf" } else { "-inf" }),
        ValueRef::Float(f) => json!(f),
        ValueRef::Str(s) if array => {
            let items: Vec<J> = s.split(' ').map(|t| element(t, datatype)).collect();
            if items.iter().all(J::is_null) {
                J::Null
            } else {
                J::Array(items)
            }
        }
        ValueRef::Str(s) => json!(s),
    }
}

/// Equal as astropy's dump counts equality (f32 precision for `single`).
fn same(a: &J, b: &J, single: bool) -> bool {
    match (a, b) {
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q, single))
        }
        (J::Number(x), J::Number(y)) if single => {
            x.as_f64().map(|v| v as f32) == y.as_f64().map(|v| v as f32)
        }
        (J::Number(x), J::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Every cell of `table` equals astropy's reading `want` of the same file.
fn assert_matches(file: &str, table: &Table, fields: &[(String, Option<String>)], want: &J) {
    let cols = want["columns"].as_array().unwrap();
    assert_eq!(table.num_columns(), cols.len(), "{file}: columns");
    assert_eq!(
        table.num_rows() as u64,
        want["rows"].as_u64().unwrap(),
        "{file}: rows"
    );
    for ((c, w), (datatype, arraysize)) in table.columns().iter().zip(cols).zip(fields) {
        assert_eq!(c.name, w["name"].as_str().unwrap(), "{file}: column order");
        let array =
            arraysize.is_some() && !datatype.ends_with("har") || datatype.ends_with("Complex");
        let single = datatype.starts_with("float");
        for (i, expected) in w["values"].as_array().unwrap().iter().enumerate() {
            let got = ours(c.get(i), datatype, array);
            assert!(
                same(&got, expected, single),
                "{file}: column `{}` row {i}: we read {got}, astropy reads {expected}",
                c.name
            );
        }
    }
}

fn field_types(r: &VotableRead) -> Vec<(String, Option<String>)> {
    r.fields
        .iter()
        .map(|f| (f.datatype.clone(), f.arraysize.clone()))
        .collect()
}

#[test]
fn we_read_every_datatype_astropy_writes_as_astropy_does() {
    let dir = tempfile::tempdir().unwrap();
    if py(&["write", &dir.path().display().to_string()]).is_none() {
        return;
    }
    let paths: Vec<PathBuf> = FILES.iter().map(|f| dir.path().join(f)).collect();
    let want = dump(&paths).unwrap();
    let td = want[paths[0].display().to_string()].clone();
    for (file, path) in FILES.iter().zip(&paths) {
        let r = read(path);
        let mut w = want[path.display().to_string()].clone();
        if file.contains("binary2") {
            // astropy's BINARY2 reader ignores the null flag of char and
            // unicodeChar cells (the bitmap does flag them: it never masks
            // strings), so for text columns the reference is its reading of
            // the same table in TABLEDATA, where the null is an empty TD.
            for (k, c) in r.fields.iter().enumerate() {
                if c.datatype.ends_with("har") {
                    w["columns"][k]["values"] = td["columns"][k]["values"].clone();
                }
            }
        }
        assert_matches(file, &r.table, &field_types(&r), &w);
        // The serialisation we report is the one astropy wrote.
        let ser = file.trim_start_matches("astropy_").trim_end_matches(".vot");
        assert_eq!(
            r.serialization.map(str::to_ascii_lowercase).as_deref(),
            Some(ser)
        );
        let double = r.table.column("double").unwrap();
        assert_eq!(double.meta.unit.as_deref(), Some("deg"), "{file}");
        assert_eq!(double.meta.ucd.as_deref(), Some("pos.eq.ra"), "{file}");
    }
    // TABLEDATA and BINARY2 (which can both say null for every type) read
    // as the same table. BINARY cannot: a null bit, boolean or string goes
    // out as a value there.
    let (td, b2) = (read(&paths[0]).table, read(&paths[2]).table);
    assert_eq!(td.schema(), b2.schema());
    for (a, b) in td.columns().iter().zip(b2.columns()) {
        let (x, y): (Vec<_>, Vec<_>) = (a.iter().collect(), b.iter().collect());
        assert_eq!(
            x, y,
            "column `{}` differs between TABLEDATA and BINARY2",
            a.name
        );
    }
}

#[test]
fn astropy_reads_back_what_we_write_from_its_files() {
    let dir = tempfile::tempdir().unwrap();
    if py(&["write", &dir.path().display().to_string()]).is_none() {
        return;
    }
    let source = read(&dir.path().join("astropy_binary2.vot"));
    let mut ours_paths = Vec::new();
    for (ser, name) in [
        (Serialization::TableData, "ours_td.vot"),
        (Serialization::Binary2, "ours_b2.vot"),
    ] {
        let path = dir.path().join(name);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        votable::write(&source.table, "roundtrip", ser, &mut out).unwrap();
        drop(out);
        ours_paths.push(path);
    }
    let got = dump(&ours_paths).unwrap();
    for path in &ours_paths {
        let w = &got[path.display().to_string()];
        // Our writer has four types: arrays and complex numbers go out as
        // text, so astropy reads them as strings; compare them as such.
        let fields: Vec<(String, Option<String>)> = source
            .table
            .columns()
            .iter()
            .map(|c| {
                let datatype = match c.data_type() {
                    DataType::Bool => "boolean",
                    DataType::Int => "long",
                    DataType::Float => "double",
                    DataType::String => "char",
                };
                (datatype.to_string(), None)
            })
            .collect();
        let file = path.file_name().unwrap().to_string_lossy();
        assert_matches(&file, &source.table, &fields, w);
        let back = read(path);
        assert_eq!(back.table.schema(), source.table.schema(), "{file}");
    }
}

//! Interoperability with astropy: files we write must read in astropy with the
//! same types, units, descriptions, UCDs, nulls and values, and files astropy
//! writes must read here the same way.
//!
//! Python comes from `MASTFLOW_PYTHON` (default `python3`). Without astropy the
//! test prints `SKIPPED: astropy not installed` and passes, unless
//! `MASTFLOW_REQUIRE_INTEROP=1`, when it fails.
//!
//! Differences in how astropy represents things, and how they are compared:
//! - astropy reads a missing VOTable string as an empty, unmasked string, and
//!   an empty ECSV string as masked; our tables do not tell an empty string
//!   from a null either, so for strings "" and null compare equal.
//! - astropy masks a NaN read from a VOTable floating-point column (VOTable
//!   uses NaN as the float null), and so do we; ECSV keeps it as NaN.
//! - astropy rewrites units in its own notation; units compare without spaces.

mod common;

use common::python;
use mastflow::table::column::ColumnBuilder;
use mastflow::table::io::{self, Format};
use mastflow::table::{Column, ColumnMeta, DataType, Table, ValueRef};
use serde_json::{Value as J, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPT: &str = r#"
import json, math, sys, warnings
warnings.simplefilter("ignore")
try:
    import numpy as np
    from astropy.table import Table, MaskedColumn
except Exception as e:  # ImportError, or a broken install
    print("NO_ASTROPY", e)
    sys.exit(3)

def py(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return str(v)

def kind(c):
    k = c.dtype.kind
    return {"b": "bool", "i": "int", "u": "int", "f": "float"}.get(k, "string")

def describe(path, fmt):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = Table.read(path, format=fmt)
        if fmt == "votable":
            # Strict: any VOTable spec warning becomes an exception.
            from astropy.io.votable import parse
            parse(path, verify="exception")
    return {"warnings": [str(w.message) for w in caught], "columns": columns(t)}

def columns(t):
    out = []
    for name in t.colnames:
        c = t[name]
        mask = np.ma.getmaskarray(c)
        k = kind(c)
        values = []
        for v, m in zip(c, mask):
            v = None if m else py(v)
            if k == "string" and v == "":
                v = None
            values.append(v)
        out.append({
            "name": name,
            "type": k,
            "unit": None if c.unit is None else str(c.unit).replace(" ", ""),
            "description": c.description or None,
            "ucd": c.meta.get("ucd"),
            "xtype": c.meta.get("xtype"),
            "values": values,
        })
    return out

def write(directory):
    t = Table()
    t["flag"] = MaskedColumn([True, False, True], mask=[False, False, True], description="a flag")
    t["count"] = MaskedColumn([1, 2, 9007199254740993], mask=[False, True, False], dtype=np.int64,
                              unit="s", description="a count")
    t["ra"] = MaskedColumn([0.1, np.nan, np.inf], mask=[False, False, False], unit="deg")
    t["ra"].meta["ucd"] = "pos.eq.ra"
    t["dec"] = MaskedColumn([-1.5, 2.0, -1e300], mask=[True, False, False], unit="deg")
    t["name"] = MaskedColumn(["\u03a9mega caf\u00e9", 'a,b "q" <&>', "x"], mask=[False, False, True],
                             description="target \u2014 name")
    t["name"].meta["ucd"] = "meta.id"
    t.write(f"{directory}/astropy.ecsv", format="ascii.ecsv", overwrite=True)
    t.write(f"{directory}/astropy_td.vot", format="votable", overwrite=True)
    # BINARY has no null flags: a masked integer needs a VALUES null.
    from astropy.io.votable import from_table
    vt = from_table(t)
    vt.get_first_table().get_field_by_id("count").values.null = -999
    vt.to_xml(f"{directory}/astropy_binary.vot", tabledata_format="binary")
    t.write(f"{directory}/astropy_b2.vot", format="votable", tabledata_format="binary2", overwrite=True)

if sys.argv[1] == "write":
    write(sys.argv[2])
else:
    print(json.dumps({p: describe(p, f) for p, f in zip(sys.argv[2::2], sys.argv[3::2])}))
"#;

/// `Some(script path)` when astropy can be used; `None` when the test is skipped.
fn setup(dir: &Path) -> Option<PathBuf> {
    let script = dir.join("interop.py");
    std::fs::write(&script, SCRIPT).unwrap();
    common::python_peer("astropy", "numpy, astropy").then_some(script)
}

fn run(script: &Path, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn column(name: &str, t: DataType, values: &[ValueRef<'_>], meta: ColumnMeta) -> Column {
    let mut b = ColumnBuilder::new(t, values.len());
    for v in values {
        b.push(*v);
    }
    b.finish(name).with_meta(meta)
}

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

fn our_table() -> Table {
    use ValueRef::*;
    Table::new(vec![
        column(
            "flag",
            DataType::Bool,
            &[Bool(true), Bool(false), Null, Bool(true), Bool(false)],
            meta(None, Some("a flag"), Some("meta.code"), None),
        ),
        column(
            "count",
            DataType::Int,
            &[
                Int(1),
                Null,
                Int(-9_007_199_254_740_993),
                Int(i64::MAX),
                Int(0),
            ],
            meta(
                Some("ct"),
                Some("a count, with \"quotes\" & <angles>"),
                None,
                None,
            ),
        ),
        column(
            "ra",
            DataType::Float,
            &[
                Float(0.1),
                Float(f64::NAN),
                Float(f64::INFINITY),
                Null,
                Float(-1e300),
            ],
            meta(
                Some("deg"),
                Some("right ascension: ICRS"),
                Some("pos.eq.ra;meta.main"),
                None,
            ),
        ),
        column(
            "speed",
            DataType::Float,
            &[
                Float(1.0),
                Float(f64::NEG_INFINITY),
                Float(-0.5),
                Float(2.5e-8),
                Float(3.0),
            ],
            meta(Some("km/s"), None, None, None),
        ),
        column(
            "name",
            DataType::String,
            &[
                Str("Ωmega café"),
                Str("a,b \"q\" <&>"),
                Null,
                Str("日本"),
                Str("plain"),
            ],
            meta(None, Some("target — name"), Some("meta.id"), None),
        ),
        column(
            "obs_date",
            DataType::String,
            &[
                Str("2022-06-01T00:00:00"),
                Null,
                Str("2022-06-02T12:00:00.5"),
                Str("x"),
                Str("y"),
            ],
            meta(None, None, None, Some("timestamp")),
        ),
    ])
    .unwrap()
}

/// What astropy should report for `our_table()` written in `format`.
fn expected(format: Format) -> J {
    let votable = format != Format::Ecsv;
    // VOTable floats: astropy masks NaN.
    let nan = if votable { J::Null } else { json!("nan") };
    json!([
        {"name": "flag", "type": "bool", "unit": null, "description": "a flag", "ucd": "meta.code", "xtype": null,
         "values": [true, false, null, true, false]},
        {"name": "count", "type": "int", "unit": "ct", "description": "a count, with \"quotes\" & <angles>", "ucd": null, "xtype": null,
         "values": [1, null, -9007199254740993i64, 9223372036854775807i64, 0]},
        {"name": "ra", "type": "float", "unit": "deg", "description": "right ascension: ICRS", "ucd": "pos.eq.ra;meta.main", "xtype": null,
         "values": [0.1, nan, "inf", null, -1e300]},
        {"name": "speed", "type": "float", "unit": "km/s", "description": null, "ucd": null, "xtype": null,
         "values": [1.0, "-inf", -0.5, 2.5e-8, 3.0]},
        {"name": "name", "type": "string", "unit": null, "description": "target — name", "ucd": "meta.id", "xtype": null,
         "values": ["Ωmega café", "a,b \"q\" <&>", null, "日本", "plain"]},
        {"name": "obs_date", "type": "string", "unit": null, "description": null, "ucd": null, "xtype": "timestamp",
         "values": ["2022-06-01T00:00:00", null, "2022-06-02T12:00:00.5", "x", "y"]},
    ])
}

#[test]
fn astropy_reads_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let Some(script) = setup(dir.path()) else {
        return;
    };
    let table = our_table();
    let files = [
        (Format::Ecsv, "ours.ecsv", "ascii.ecsv"),
        (Format::Votable, "ours_td.vot", "votable"),
        (Format::VotableBinary2, "ours_b2.vot", "votable"),
    ];
    let mut args: Vec<String> = vec!["read".into()];
    for (format, file, astropy_format) in files {
        let path = dir.path().join(file);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        io::write(&table, format, "interop", &mut out).unwrap();
        drop(out);
        args.push(path.display().to_string());
        args.push(astropy_format.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report: J = serde_json::from_str(&run(&script, &args)).unwrap();
    for (format, file, _) in files {
        let path = dir.path().join(file).display().to_string();
        let warnings = &report[&path]["warnings"];
        assert_eq!(
            warnings,
            &json!([]),
            "astropy warned reading our {}",
            format.name()
        );
        let got = &report[&path]["columns"];
        let want = expected(format);
        for (g, w) in got.as_array().unwrap().iter().zip(want.as_array().unwrap()) {
            assert_eq!(
                g,
                w,
                "{} as read by astropy, column {}",
                format.name(),
                w["name"]
            );
        }
        assert_eq!(got, &want, "{} as read by astropy", format.name());
    }
}

#[test]
fn we_read_what_astropy_writes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(script) = setup(dir.path()) else {
        return;
    };
    run(&script, &["write", &dir.path().display().to_string()]);
    for file in [
        "astropy.ecsv",
        "astropy_td.vot",
        "astropy_binary.vot",
        "astropy_b2.vot",
    ] {
        let path = dir.path().join(file);
        let t = io::read_path(&path, None).unwrap_or_else(|e| panic!("{e}"));
        let ctx = |what: &str| format!("{file}: {what}");
        assert_eq!(
            t.schema(),
            vec![
                ("flag".to_string(), DataType::Bool),
                ("count".to_string(), DataType::Int),
                ("ra".to_string(), DataType::Float),
                ("dec".to_string(), DataType::Float),
                ("name".to_string(), DataType::String),
            ],
            "{file}"
        );
        use ValueRef::*;
        let col = |name: &str| t.column(name).unwrap();
        let values = |name: &str| col(name).iter().collect::<Vec<_>>();
        // BINARY cannot flag a null bit: astropy writes the masked value.
        let third = if file == "astropy_binary.vot" {
            Bool(true)
        } else {
            Null
        };
        assert_eq!(
            values("flag"),
            [Bool(true), Bool(false), third],
            "{}",
            ctx("flag")
        );
        assert_eq!(
            values("count"),
            [Int(1), Null, Int(9_007_199_254_740_993)],
            "{}",
            ctx("count")
        );
        let ra = values("ra");
        assert_eq!(ra[0], Float(0.1), "{}", ctx("ra"));
        // astropy writes an unmasked NaN as NaN (ECSV `nan`, VOTable `NaN`).
        // ECSV keeps it; in a VOTable NaN is the float null (astropy reads
        // it so too).
        if file.ends_with(".ecsv") {
            assert!(
                matches!(ra[1], Float(f) if f.is_nan()),
                "{}: {:?}",
                ctx("ra NaN"),
                ra[1]
            );
        } else {
            assert_eq!(ra[1], Null, "{}", ctx("ra NaN"));
        }
        assert_eq!(ra[2], Float(f64::INFINITY), "{}", ctx("ra"));
        let dec = values("dec");
        // BINARY writes a masked float as NaN: null too.
        assert_eq!(dec[0], Null, "{}", ctx("dec"));
        assert_eq!(dec[1..], [Float(2.0), Float(-1e300)], "{}", ctx("dec"));
        assert_eq!(
            values("name"),
            [Str("Ωmega café"), Str("a,b \"q\" <&>"), Null],
            "{}",
            ctx("name")
        );

        assert_eq!(
            col("count").meta.unit.as_deref(),
            Some("s"),
            "{}",
            ctx("unit")
        );
        assert_eq!(
            col("count").meta.description.as_deref(),
            Some("a count"),
            "{}",
            ctx("description")
        );
        assert_eq!(
            col("flag").meta.description.as_deref(),
            Some("a flag"),
            "{}",
            ctx("description")
        );
        assert_eq!(
            col("ra").meta.unit.as_deref(),
            Some("deg"),
            "{}",
            ctx("unit")
        );
        assert_eq!(
            col("ra").meta.ucd.as_deref(),
            Some("pos.eq.ra"),
            "{}",
            ctx("ucd")
        );
        assert_eq!(
            col("name").meta.ucd.as_deref(),
            Some("meta.id"),
            "{}",
            ctx("ucd")
        );
        assert_eq!(
            col("name").meta.description.as_deref(),
            Some("target — name"),
            "{}",
            ctx("description")
        );
    }
}

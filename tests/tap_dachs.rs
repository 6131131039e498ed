//! mastflow's `tap` step against a real TAP server (GAVO DaCHS), row for row
//! against pyvo's answer to the same query.
//!
//! DaCHS is brought up by `tests/interop/dachs/ci.sh start` (see
//! `tests/interop/dachs/README.md`), publishing `dbo.obspointing` and
//! `ivoa.obscore` over a sample of the sandbox's archive. The tests find it
//! through `MASTFLOW_DACHS_URL` (e.g. `http://127.0.0.1:8080/tap`) and run
//! pyvo through `tests/interop/tap_pyvo.py` with `$MASTFLOW_PYTHON` (default
//! `python3`). Without the URL, or without pyvo, each test prints `SKIPPED:
//! ...` and passes, unless `MASTFLOW_REQUIRE_INTEROP=1`, which makes it fail.
//!
//! `dachs_sample_is_current` needs no server: it checks that the table DaCHS
//! publishes (`tests/interop/dachs/mastcaom/data/obs.csv`) is what the
//! sandbox's archive gives today. `MASTFLOW_UPDATE_DACHS_SAMPLE=1` rewrites it.

mod common;

use assert_cmd::Command;
use common::repo;
use mastflow::table::{DataType, Table, ValueRef};
use serde_json::Value;
use std::path::PathBuf;

// ---------------------------------------------------------------------------
// The sample DaCHS publishes.

/// Builds `tests/interop/dachs/mastcaom/data/obs.csv` from the sandbox's
/// default archive: every bundled real row (the SI-keyword NIRISS SOSS chain,
/// program 1073 NIRCam, the duplication targets M 57 / Trappist-1 / V* XX Cha
/// and the 34 real Io rows), the first synthetic rows, the 10 real rows of
/// program 2733 (copied into `tests/interop/dachs/source/`), and edge-case
/// rows. Columns are the Mashup CAOM columns in the sandbox's server order.
mod sample {
    use mastflow::sandbox::data::Archive;
    use mastflow::sandbox::data::caom::{self, ObsRow};
    use mastflow::sandbox::data::schema::CAOM;
    use mastflow::sandbox::data::synth::rectangle;
    use mastflow::sandbox::{DEFAULT_SCALE, DEFAULT_SEED};
    use mastflow::table::value::format_float;
    use std::collections::HashSet;

    /// Synthetic observations taken from the start of the generated archive.
    pub const SYNTHETIC: usize = 64;

    const PROGRAM_2733: &str = include_str!(
        "interop/dachs/source/observations_jwebbinar_program_2733_snapshot-2022-08-23.csv"
    );

    type Row = Vec<Option<String>>;

    fn text(s: &str) -> Option<String> {
        (!s.is_empty()).then(|| s.to_string())
    }

    fn float(x: Option<f64>) -> Option<String> {
        x.filter(|x| x.is_finite()).map(format_float)
    }

    /// An [`ObsRow`] in CAOM column order (empty strings and NaN are null).
    fn cells(r: &ObsRow) -> Row {
        vec![
            text(&r.intentType),
            text(&r.obs_collection),
            r.provenance_name.as_deref().and_then(text),
            text(&r.instrument_name),
            text(&r.project),
            r.filters.as_deref().and_then(text),
            text(&r.wavelength_region),
            text(&r.target_name),
            r.target_classification.as_deref().and_then(text),
            text(&r.obs_id),
            float(r.s_ra),
            float(r.s_dec),
            text(&r.dataproduct_type),
            text(&r.proposal_pi),
            Some(r.calib_level.to_string()),
            float(r.t_min),
            float(r.t_max),
            float(Some(r.t_exptime)),
            float(r.em_min),
            float(r.em_max),
            text(&r.obs_title),
            float(r.t_obs_release),
            text(&r.proposal_id),
            text(&r.proposal_type),
            r.sequence_number.map(|n| n.to_string()),
            r.s_region.as_deref().and_then(text),
            r.jpegURL.as_deref().and_then(text),
            r.dataURL.as_deref().and_then(text),
            text(&r.dataRights),
            Some(r.mtFlag.to_string()),
            float(r.srcDen),
            Some(r.obsid.to_string()),
            Some(r.objID.to_string()),
        ]
    }

    /// The 10 real program-2733 rows (astropy's `--` and `nan` are null); the
    /// notebook hid `s_region`, so it is a rectangle of the instrument's size.
    fn program_2733() -> Vec<Row> {
        let mut rdr = csv::Reader::from_reader(PROGRAM_2733.as_bytes());
        let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        let mut out = Vec::new();
        for rec in rdr.records() {
            let rec = rec.unwrap();
            let get = |name: &str| {
                header
                    .iter()
                    .position(|h| h == name)
                    .map(|i| rec[i].to_string())
                    .filter(|v| !v.is_empty() && v != "--" && v != "nan")
            };
            let row: Row = CAOM
                .iter()
                .map(|c| match c.name {
                    "s_region" => {
                        let ra: f64 = get("s_ra")?.parse().ok()?;
                        let dec: f64 = get("s_dec")?.parse().ok()?;
                        let fov = if get("instrument_name")?.starts_with("MIRI") {
                            (0.0313, 0.0313)
                        } else {
                            (0.0855, 0.0455)
                        };
                        Some(rectangle(ra, dec, fov, 0.0))
                    }
                    "mtFlag" => get("mtFlag").map(|v| v.to_ascii_lowercase()),
                    name => get(name),
                })
                .collect();
            out.push(row);
        }
        out
    }

    /// Rows for the cases a TAP client gets wrong: NULL in every nullable
    /// type, CSV/XML/ADQL metacharacters, the RA wrap, both poles, UTF-8, and
    /// extreme values.
    fn edge_rows() -> Vec<Row> {
        let base = |n: i64, slug: &str, target: &str, ra: f64, dec: f64| ObsRow {
            intentType: "science".into(),
            obs_collection: "JWST".into(),
            provenance_name: Some("CALJWST".into()),
            instrument_name: "NIRCAM/IMAGE".into(),
            project: "JWST".into(),
            filters: Some("F200W".into()),
            wavelength_region: "Infrared".into(),
            target_name: target.into(),
            obs_id: format!("jw09999-o{n:03}_t001_nircam_edge-{slug}"),
            s_ra: Some(ra),
            s_dec: Some(dec),
            s_region: Some(rectangle(ra, dec, (0.01, 0.01), 0.0)),
            dataproduct_type: "image".into(),
            proposal_pi: "Edge, Case".into(),
            calib_level: 3,
            t_min: Some(60000.0 + n as f64),
            t_max: Some(60000.0 + n as f64 + 0.01),
            t_exptime: 858.94,
            em_min: Some(1755.0),
            em_max: Some(2226.0),
            obs_title: "mastflow TAP edge cases".into(),
            t_obs_release: Some(60100.0),
            proposal_id: "9999".into(),
            proposal_type: "GO".into(),
            dataURL: Some(format!(
                "mast:JWST/product/jw09999-o{n:03}_t001_nircam_edge-{slug}_i2d.fits"
            )),
            dataRights: "PUBLIC".into(),
            obsid: 990_000_000 + n,
            objID: 990_100_000 + n,
            ..ObsRow::default()
        };
        let mut rows = Vec::new();

        // NULL everywhere a NULL can be: strings, smallint (DaCHS writes
        // -32768 with VALUES null), integer, bigint, doubles, boolean.
        let nulls = base(1, "nulls", "", 0.0, 0.0);
        let mut r = cells(&nulls);
        for name in [
            "provenance_name",
            "filters",
            "wavelength_region",
            "target_name",
            "target_classification",
            "s_ra",
            "s_dec",
            "proposal_pi",
            "calib_level",
            "t_min",
            "t_max",
            "t_exptime",
            "em_min",
            "em_max",
            "obs_title",
            "t_obs_release",
            "proposal_id",
            "proposal_type",
            "sequence_number",
            "s_region",
            "jpegURL",
            "dataURL",
            "mtFlag",
            "srcDen",
            "objID",
        ] {
            r[col(name)] = None;
        }
        rows.push(r);

        let mut q = base(
            2,
            "comma-quote",
            r#"NGC 1234, "the Quote" Nebula"#,
            10.5,
            -20.25,
        );
        q.filters = Some("F150W;F200W".into());
        q.obs_title = r#"Commas, "quotes" & <angle brackets>"#.into();
        q.srcDen = Some(5e-324); // the smallest subnormal double
        rows.push(cells(&q));

        let mut a = base(3, "apostrophe", "BARNARD'S STAR", 269.452, 4.6934);
        a.proposal_pi = "O'Brien, Siobhan".into();
        rows.push(cells(&a));

        // The RA wrap: a cone at (0, 0) must find all three.
        rows.push(cells(&base(4, "wrap-359", "RA-WRAP", 359.995, -0.001)));
        rows.push(cells(&base(5, "wrap-000", "RA-WRAP", 0.0, 0.002)));
        rows.push(cells(&base(6, "wrap-001", "RA-WRAP", 0.005, 0.001)));

        // Near the poles (footprints stay below |dec| = 90).
        let mut n = base(7, "pole-n", "NORTH-POLE-FIELD", 37.95456, 89.99);
        n.s_region = Some(rectangle(37.95456, 89.99, (0.005, 0.005), 0.0));
        rows.push(cells(&n));
        rows.push(cells(&base(8, "pole-s", "SOUTH-POLE-FIELD", 180.0, -89.95)));

        // UTF-8 and extreme numbers.
        let mut x = base(9, "extremes", "EPS-ERI", 53.2327, -9.4583);
        x.obs_title = "Ångström-scale résolution — ☉ test".into();
        x.calib_level = 0;
        x.t_exptime = 0.0;
        x.sequence_number = Some(2_147_483_647);
        x.objID = 9_007_199_254_740_993; // 2^53 + 1: survives JSON only as an integer
        x.srcDen = Some(1.0e300); // (not em_*: ivoa.obscore stores those as float4)
        x.mtFlag = true;
        rows.push(cells(&x));
        rows
    }

    fn col(name: &str) -> usize {
        CAOM.iter().position(|c| c.name == name).unwrap()
    }

    pub fn rows() -> Vec<Row> {
        let archive = Archive::bundled(DEFAULT_SCALE as usize, DEFAULT_SEED);
        let real = archive.num_observations() - archive.synthetic_rows;
        let mut rows: Vec<Row> = (0..real + SYNTHETIC)
            .map(|i| cells(&caom::row_of(&archive.obs, i)))
            .collect();
        rows.extend(program_2733());
        rows.extend(edge_rows());
        let mut seen = HashSet::new();
        for r in &rows {
            let obsid = r[col("obsid")].clone().unwrap();
            assert!(seen.insert(obsid.clone()), "duplicate obsid {obsid}");
            assert!(r[col("obs_id")].is_some(), "obsid {obsid} has no obs_id");
        }
        rows
    }

    pub fn csv() -> String {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        w.write_record(CAOM.iter().map(|c| c.name)).unwrap();
        for r in rows() {
            w.write_record(r.iter().map(|c| c.as_deref().unwrap_or("")))
                .unwrap();
        }
        String::from_utf8(w.into_inner().unwrap()).unwrap()
    }
}

#[test]
fn dachs_sample_is_current() {
    let path = repo().join("tests/interop/dachs/mastcaom/data/obs.csv");
    let fresh = sample::csv();
    if std::env::var("MASTFLOW_UPDATE_DACHS_SAMPLE").as_deref() == Ok("1") {
        std::fs::write(&path, &fresh).unwrap();
        println!(
            "wrote {} ({} rows)",
            path.display(),
            fresh.lines().count() - 1
        );
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is not what the sandbox's archive gives: regenerate it with\n  \
         MASTFLOW_UPDATE_DACHS_SAMPLE=1 cargo test --test tap_dachs dachs_sample_is_current\n\
         and re-import it into DaCHS (tests/interop/dachs/ci.sh start)",
        path.display()
    );
}

// ---------------------------------------------------------------------------
// Against DaCHS.

/// Where DaCHS and pyvo are; `None` (after printing why) skips the test.
struct Dachs {
    url: String,
    python: String,
}

fn skip(test: &str, why: &str) -> Option<Dachs> {
    common::skip_or_fail(format!("{test}: {why}"));
    None
}

fn dachs(test: &str) -> Option<Dachs> {
    let url = match std::env::var("MASTFLOW_DACHS_URL") {
        Ok(u) if !u.trim().is_empty() => u.trim().trim_end_matches('/').to_string(),
        _ => {
            return skip(
                test,
                "MASTFLOW_DACHS_URL is not set (start DaCHS with `tests/interop/dachs/ci.sh start`, \
                 then MASTFLOW_DACHS_URL=http://127.0.0.1:8080/tap)",
            );
        }
    };
    if let Err(why) = common::python_imports("pyvo") {
        return skip(
            test,
            &format!("pyvo not installed ({why}; pip install -r .ci/requirements.txt)"),
        );
    }
    Some(Dachs {
        url,
        python: common::python(),
    })
}

/// How pyvo is asked: sync or async, MAXREC, RESPONSEFORMAT.
#[derive(Clone, Copy)]
struct Ask {
    mode: &'static str,
    maxrec: Option<u64>,
    format: &'static str,
}

const SYNC_B2: Ask = Ask {
    mode: "sync",
    maxrec: None,
    format: "votable/b2",
};

/// pyvo's answer (`tests/interop/tap_pyvo.py`) to `query`.
fn pyvo(d: &Dachs, query: &str, ask: Ask) -> Value {
    let mut cmd = std::process::Command::new(&d.python);
    cmd.arg(repo().join("tests/interop/tap_pyvo.py"))
        .args([&d.url, query, "--mode", ask.mode, "--format", ask.format])
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if let Some(n) = ask.maxrec {
        cmd.args(["--maxrec", &n.to_string()]);
    }
    let out = cmd.output().expect("run tap_pyvo.py");
    assert!(
        out.status.success(),
        "tap_pyvo.py failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("tap_pyvo.py prints JSON");
    println!(
        "pyvo {} ({}, maxrec {:?}, {}): status {}, {} rows",
        v["pyvo"].as_str().unwrap_or("?"),
        ask.mode,
        ask.maxrec,
        ask.format,
        v["status"],
        v["count"]
    );
    v
}

/// A finished `mastflow run`: its output directory and process output.
struct Run {
    _dir: tempfile::TempDir,
    out: PathBuf,
    output: std::process::Output,
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn assert_ok(&self) -> &Self {
        assert!(
            self.output.status.success(),
            "mastflow run failed ({}):\n{}",
            self.output.status,
            self.stderr()
        );
        self
    }

    /// An output table, read back with mastflow's own reader.
    fn table(&self, file: &str) -> Table {
        mastflow::table::io::read_path(&self.out.join(file), None)
            .unwrap_or_else(|e| panic!("read {file}: {e}"))
    }

    /// stderr and run.json, lower-cased, without echoes of the step's own
    /// `overflow`/`maxrec` settings (for "did it say so" checks).
    /// The notes `run.json` records for a step.
    fn notes(&self, step: &str) -> Vec<String> {
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.out.join("run.json")).unwrap()).unwrap();
        record["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["name"] == step)
            .flat_map(|s| s["notes"].as_array().cloned().unwrap_or_default())
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect()
    }
}

/// `mastflow run` on a manifest (`SERVICE` in it is replaced by the DaCHS URL).
fn run(d: &Dachs, manifest: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    std::fs::write(&path, manifest.replace("SERVICE", &d.url)).unwrap();
    let out = dir.path().join("out");
    let output = Command::cargo_bin("mastflow")
        .unwrap()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .args(["--no-cache", "--color", "never"])
        .env_remove("MAST_API_TOKEN")
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    Run {
        _dir: dir,
        out,
        output,
    }
}

fn is_text(c: &Value) -> bool {
    matches!(c["datatype"].as_str(), Some("char" | "unicodeChar"))
}

/// The table type a VOTable FIELD should become (numeric types widen).
fn expected_type(c: &Value) -> DataType {
    match c["datatype"].as_str().unwrap_or("") {
        "char" | "unicodeChar" => DataType::String,
        "boolean" => DataType::Bool,
        "short" | "int" | "long" | "unsignedByte" => DataType::Int,
        "float" | "double" => DataType::Float,
        other => panic!("no table type for VOTable datatype {other}"),
    }
}

/// Does mastflow's cell `m` say what pyvo's `p` says? pyvo cannot see a NULL
/// string (astropy gives "" for it, even when BINARY2 flags it), so "" and
/// null match in text columns; a NaN float is a null.
fn same_cell(m: ValueRef<'_>, p: &Value, col: &Value) -> bool {
    match (m, p) {
        (ValueRef::Null, Value::Null) => true,
        (ValueRef::Float(x), Value::Null) => x.is_nan(),
        (ValueRef::Null, Value::String(s)) => is_text(col) && s.is_empty(),
        (ValueRef::Str(s), Value::Null) => is_text(col) && s.is_empty(),
        (ValueRef::Str(a), Value::String(b)) => a == b,
        (ValueRef::Bool(a), Value::Bool(b)) => a == *b,
        (ValueRef::Int(a), Value::Number(b)) => b.as_i64() == Some(a),
        (ValueRef::Float(a), Value::Number(b)) => {
            let b = b.as_f64().unwrap();
            // float4 columns (ivoa.obscore's em_min, t_exptime...) may be
            // widened digit-by-digit rather than bit-by-bit.
            let tol = if col["datatype"] == "float" {
                1e-6
            } else {
                1e-12
            };
            a == b || (a - b).abs() <= tol * b.abs()
        }
        _ => false,
    }
}

/// mastflow's written table has pyvo's columns (names, order, types) and rows.
fn assert_same_rows(what: &str, t: &Table, p: &Value) {
    let cols = p["columns"].as_array().unwrap();
    let names: Vec<&str> = t.column_names().collect();
    let want: Vec<&str> = cols.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, want, "{what}: column names");
    for (i, c) in cols.iter().enumerate() {
        assert_eq!(
            t.columns()[i].data_type(),
            expected_type(c),
            "{what}: type of column {} (VOTable {}, astropy {})",
            want[i],
            c["datatype"],
            c["dtype"]
        );
    }
    let rows = p["rows"].as_array().unwrap();
    assert_eq!(t.num_rows(), rows.len(), "{what}: row count");
    for (r, prow) in rows.iter().enumerate() {
        for (i, c) in cols.iter().enumerate() {
            let m = t.get(r, i);
            assert!(
                same_cell(m, &prow[i], c),
                "{what}: row {r} column {}: mastflow {m:?}, pyvo {}",
                want[i],
                prow[i]
            );
        }
    }
}

/// Both outputs of a step (ECSV, and JSON, which keeps a null string apart
/// from an empty one) hold pyvo's answer.
fn assert_outputs_match(r: &Run, stem: &str, p: &Value) {
    assert_same_rows(
        &format!("{stem}.ecsv"),
        &r.table(&format!("{stem}.ecsv")),
        p,
    );
    assert_same_rows(
        &format!("{stem}.json"),
        &r.table(&format!("{stem}.json")),
        p,
    );
}

fn outputs(steps: &[&str]) -> String {
    let mut s = String::from("outputs:\n");
    for st in steps {
        s.push_str(&format!(
            "  - {{from: {st}, path: {st}.ecsv}}\n  - {{from: {st}, path: {st}.json}}\n"
        ));
    }
    s
}

// The queries, as pyvo is sent them (the manifests splice the same values
// through the quoting filters).

const SYNC_QUERY: &str = "SELECT obsid, obs_id, obs_collection, instrument_name, filters, target_name, \
     s_ra, s_dec, t_min, t_max, t_exptime, calib_level, dataproduct_type, proposal_id, dataURL, s_region \
     FROM dbo.obspointing WHERE proposal_id IN ('1073', '2733', '1541', '1091') ORDER BY obsid";

#[test]
fn sync_query_matches_pyvo() {
    let Some(d) = dachs("sync_query_matches_pyvo") else {
        return;
    };
    let p = pyvo(&d, SYNC_QUERY, SYNC_B2);
    assert_eq!(p["status"], "OK");
    assert!(p["count"].as_u64().unwrap() >= 30, "{}", p["count"]);
    let r = run(
        &d,
        &format!(
            r#"
version: 1
name: tap-sync
params:
  programs: {{type: list, default: ["1073", "2733", "1541", "1091"]}}
steps:
  obs:
    kind: tap
    service: SERVICE
    mode: sync
    query: |
      SELECT obsid, obs_id, obs_collection, instrument_name, filters, target_name,
             s_ra, s_dec, t_min, t_max, t_exptime, calib_level, dataproduct_type,
             proposal_id, dataURL, s_region
      FROM dbo.obspointing
      WHERE proposal_id IN {{{{ params.programs | adql_list }}}}
      ORDER BY obsid
{}"#,
            outputs(&["obs"])
        ),
    );
    r.assert_ok();
    assert_outputs_match(&r, "obs", &p);
}

const ASYNC_QUERY: &str = "SELECT * FROM dbo.obspointing WHERE proposal_id = '1558' ORDER BY obsid";

#[test]
fn async_query_matches_pyvo() {
    let Some(d) = dachs("async_query_matches_pyvo") else {
        return;
    };
    let p = pyvo(
        &d,
        ASYNC_QUERY,
        Ask {
            mode: "async",
            ..SYNC_B2
        },
    );
    assert_eq!(p["status"], "OK");
    assert_eq!(p["count"], 143, "M 57's 143 matched rows (program 1558)");
    let r = run(
        &d,
        &format!(
            r#"
version: 1
name: tap-async
params:
  program: "1558"
steps:
  obs:
    kind: tap
    service: SERVICE
    mode: async
    query: |
      SELECT * FROM dbo.obspointing
      WHERE proposal_id = {{{{ params.program | adql_string }}}}
      ORDER BY obsid
{}"#,
            outputs(&["obs"])
        ),
    );
    r.assert_ok();
    assert_outputs_match(&r, "obs", &p);
}

fn cone_query(ra: f64, dec: f64, radius: f64) -> String {
    format!(
        "SELECT obs_id, obs_publisher_did, s_ra, s_dec, t_exptime, em_min, calib_level, \
         instrument_name, s_region, \
         DISTANCE(POINT('ICRS', s_ra, s_dec), POINT('ICRS', {ra}, {dec})) AS dist \
         FROM ivoa.obscore \
         WHERE 1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', {ra}, {dec}, {radius})) \
         ORDER BY obs_id"
    )
}

/// Trappist-1 (the duplication notebook's 295 matches), the RA wrap at
/// (0, 0), and the north pole, on `ivoa.obscore` (float4 and short columns,
/// STC-S regions), in the default mode (auto).
const CONES: [(&str, f64, f64, f64); 3] = [
    ("trappist", 346.62236872857875, -5.041399250518333, 0.01),
    ("wrap", 0.0, 0.0, 0.05),
    ("pole", 0.0, 90.0, 0.1),
];

#[test]
fn cone_queries_match_pyvo() {
    let Some(d) = dachs("cone_queries_match_pyvo") else {
        return;
    };
    let answers: Vec<Value> = CONES
        .iter()
        .map(|&(_, ra, dec, r)| pyvo(&d, &cone_query(ra, dec, r), SYNC_B2))
        .collect();
    assert_eq!(answers[0]["count"], 295, "Trappist-1");
    assert_eq!(answers[1]["count"], 3, "the three rows around RA 0/360");
    assert_eq!(answers[2]["count"], 1, "the row at dec 89.99");
    let mut steps = String::new();
    for (name, _, _, radius) in CONES {
        steps.push_str(&format!(
            r#"
  {name}:
    kind: tap
    service: SERVICE
    query: |
      SELECT obs_id, obs_publisher_did, s_ra, s_dec, t_exptime, em_min, calib_level,
             instrument_name, s_region,
             DISTANCE(POINT('ICRS', s_ra, s_dec),
                      POINT('ICRS', {{{{ params.{name}_ra | adql_number }}}}, {{{{ params.{name}_dec | adql_number }}}})) AS dist
      FROM ivoa.obscore
      WHERE 1 = CONTAINS(POINT('ICRS', s_ra, s_dec),
                         CIRCLE('ICRS', {{{{ params.{name}_ra | adql_number }}}}, {{{{ params.{name}_dec | adql_number }}}}, {radius}))
      ORDER BY obs_id
"#
        ));
    }
    let params: String = CONES
        .iter()
        .map(|(n, ra, dec, _)| format!("  {n}_ra: {ra:?}\n  {n}_dec: {dec:?}\n"))
        .collect();
    let r = run(
        &d,
        &format!(
            "version: 1\nname: tap-cones\nparams:\n{params}steps:{steps}{}",
            outputs(&["trappist", "wrap", "pole"])
        ),
    );
    r.assert_ok();
    for ((name, ..), p) in CONES.iter().zip(&answers) {
        assert_outputs_match(&r, name, p);
    }
}

const EDGE_QUERY: &str =
    "SELECT * FROM dbo.obspointing WHERE obs_id LIKE 'jw09999-%' ORDER BY obsid";

/// The null-heavy row, the quoting and UTF-8 rows, extreme numbers: same
/// as pyvo, and NULL where the row has NULLs (which pyvo cannot show for
/// strings, and a client that ignores VALUES null gets wrong for integers).
fn nulls_match_pyvo(test: &str, format: &str, pyvo_format: &'static str) {
    let Some(d) = dachs(test) else {
        return;
    };
    let p = pyvo(
        &d,
        EDGE_QUERY,
        Ask {
            format: pyvo_format,
            ..SYNC_B2
        },
    );
    assert_eq!(p["count"], 9);
    let cols = p["columns"].as_array().unwrap();
    let nulls = cols.iter().find(|c| c["name"] == "calib_level").unwrap();
    assert_eq!(
        nulls["null"], -32768,
        "DaCHS declares VALUES null=-32768 for smallint"
    );
    let r = run(
        &d,
        &format!(
            r#"
version: 1
name: tap-nulls
steps:
  edge:
    kind: tap
    service: SERVICE
    mode: sync
    format: {format}
    query: |
      SELECT * FROM dbo.obspointing WHERE obs_id LIKE 'jw09999-%' ORDER BY obsid
{}"#,
            outputs(&["edge"])
        ),
    );
    r.assert_ok();
    assert_outputs_match(&r, "edge", &p);

    // Cell by cell, in JSON (where a null string is not an empty one).
    let t = r.table("edge.json");
    let col = |name: &str| {
        t.index_of(name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let not_null = [
        "intentType",
        "obs_collection",
        "instrument_name",
        "project",
        "obs_id",
        "dataproduct_type",
        "dataRights",
        "obsid",
    ];
    for (i, name) in t.column_names().enumerate() {
        let v = t.get(0, i);
        if not_null.contains(&name) {
            assert!(!v.is_null(), "{format}: {name} of the null row is {v:?}");
        } else {
            assert!(
                v.is_null() || matches!(v, ValueRef::Float(x) if x.is_nan()),
                "{format}: {name} of the null row should be null, is {v:?}"
            );
        }
    }
    let row = |obsid: i64| {
        (0..t.num_rows())
            .find(|&i| t.get(i, col("obsid")) == ValueRef::Int(obsid))
            .unwrap_or_else(|| panic!("no row {obsid}"))
    };
    let (q, x) = (row(990_000_002), row(990_000_009));
    assert_eq!(
        t.get(q, col("target_name")),
        ValueRef::Str(r#"NGC 1234, "the Quote" Nebula"#)
    );
    assert_eq!(
        t.get(q, col("obs_title")),
        ValueRef::Str(r#"Commas, "quotes" & <angle brackets>"#)
    );
    assert_eq!(t.get(q, col("srcDen")), ValueRef::Float(5e-324));
    assert_eq!(
        t.get(x, col("obs_title")),
        ValueRef::Str("Ångström-scale résolution — ☉ test"),
        "unicodeChar"
    );
    assert_eq!(t.get(x, col("calib_level")), ValueRef::Int(0));
    assert_eq!(
        t.get(x, col("sequence_number")),
        ValueRef::Int(2_147_483_647)
    );
    assert_eq!(t.get(x, col("objID")), ValueRef::Int(9_007_199_254_740_993));
    assert_eq!(t.get(x, col("srcDen")), ValueRef::Float(1e300));
    assert_eq!(t.get(x, col("mtFlag")), ValueRef::Bool(true));
}

#[test]
fn nulls_in_binary2_match_pyvo() {
    nulls_match_pyvo("nulls_in_binary2_match_pyvo", "binary2", "votable/b2");
}

#[test]
fn nulls_in_tabledata_match_pyvo() {
    nulls_match_pyvo("nulls_in_tabledata_match_pyvo", "tabledata", "votable/td");
}

/// 295 rows (the Trappist-1 cone on dbo.obspointing), asked for with
/// MAXREC=100.
const OVERFLOW_QUERY: &str = "SELECT obsid, obs_id, target_name, s_ra, s_dec FROM dbo.obspointing \
     WHERE 1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', 346.62236872857875, -5.041399250518333, 0.01)) \
     ORDER BY obsid";
const MAXREC: u64 = 100;

fn overflow_manifest(mode: &str, extra: &str) -> String {
    format!(
        r#"
version: 1
name: tap-overflow
steps:
  obs:
    kind: tap
    service: SERVICE
    mode: {mode}
    maxrec: {MAXREC}
{extra}
    query: |
      {OVERFLOW_QUERY}
{}"#,
        outputs(&["obs"])
    )
}

#[test]
fn overflow_error_fails_naming_maxrec() {
    let Some(d) = dachs("overflow_error_fails_naming_maxrec") else {
        return;
    };
    let p = pyvo(
        &d,
        OVERFLOW_QUERY,
        Ask {
            maxrec: Some(MAXREC),
            ..SYNC_B2
        },
    );
    assert_eq!(p["status"], "OVERFLOW");
    assert_eq!(p["count"], MAXREC);
    let r = run(&d, &overflow_manifest("sync", "    overflow: error"));
    assert!(
        !r.output.status.success(),
        "a truncated result must fail the step"
    );
    let err = r.stderr();
    assert!(err.contains("MAXREC"), "the error names MAXREC:\n{err}");
    assert!(
        !r.out.join("obs.ecsv").exists(),
        "no output from a failed step"
    );
}

#[test]
fn overflow_warn_keeps_the_truncated_rows() {
    let Some(d) = dachs("overflow_warn_keeps_the_truncated_rows") else {
        return;
    };
    let p = pyvo(
        &d,
        OVERFLOW_QUERY,
        Ask {
            maxrec: Some(MAXREC),
            ..SYNC_B2
        },
    );
    assert_eq!(p["status"], "OVERFLOW");
    let r = run(&d, &overflow_manifest("sync", "    overflow: warn"));
    r.assert_ok();
    assert_outputs_match(&r, "obs", &p);
    let want = format!("warning: the TAP service truncated the result at {MAXREC} rows");
    assert!(
        r.notes("obs").iter().any(|n| n.starts_with(&want)),
        "the truncation is reported: {:?}",
        r.notes("obs")
    );
}

/// An async job truncated at MAXREC gives the same rows as the sync query
/// (pyvo's answer), flagged as truncated.
#[test]
fn overflow_warn_async_matches_sync() {
    let Some(d) = dachs("overflow_warn_async_matches_sync") else {
        return;
    };
    let p = pyvo(
        &d,
        OVERFLOW_QUERY,
        Ask {
            maxrec: Some(MAXREC),
            ..SYNC_B2
        },
    );
    let r = run(&d, &overflow_manifest("async", "    overflow: warn"));
    r.assert_ok();
    assert_outputs_match(&r, "obs", &p);
    let want = format!("warning: the TAP service truncated the result at {MAXREC} rows");
    let notes = r.notes("obs");
    assert!(notes.iter().any(|n| n.starts_with(&want)), "{notes:?}");
}

fn paging_matches_pyvo(test: &str, mode: &str, extra: &str) {
    let Some(d) = dachs(test) else {
        return;
    };
    let full = pyvo(&d, OVERFLOW_QUERY, SYNC_B2);
    assert_eq!(full["status"], "OK");
    assert_eq!(full["count"], 295);
    let r = run(&d, &overflow_manifest(mode, extra));
    r.assert_ok();
    assert_outputs_match(&r, "obs", &full);
}

#[test]
fn overflow_page_by_obsid_gives_the_full_answer() {
    paging_matches_pyvo(
        "overflow_page_by_obsid_gives_the_full_answer",
        "sync",
        "    overflow: page\n    page_by: obsid\n    page_size: 100",
    );
}

#[test]
fn overflow_page_by_offset_gives_the_full_answer() {
    paging_matches_pyvo(
        "overflow_page_by_offset_gives_the_full_answer",
        "sync",
        "    overflow: page\n    page_size: 100",
    );
}

/// Keyset pages through async jobs must neither lose nor repeat a row.
#[test]
fn overflow_page_by_obsid_async_gives_the_full_answer() {
    paging_matches_pyvo(
        "overflow_page_by_obsid_async_gives_the_full_answer",
        "async",
        "    overflow: page\n    page_by: obsid\n    page_size: 100",
    );
}

const BAD_QUERY: &str = "SELECT nope FROM dbo.obspointing";

/// The words of the server's message (as pyvo reports it, less pyvo's
/// "Query Error:" prefix), all of which mastflow's error must show, in any
/// wrapping.
fn server_words(p: &Value) -> Vec<String> {
    let msg = p["error"]["message"].as_str().expect("an error message");
    let msg = msg.strip_prefix("Query Error: ").unwrap_or(msg);
    msg.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string())
        .filter(|w| w.len() >= 3)
        .collect()
}

fn adql_error_quotes_the_server(test: &str, mode: &'static str) {
    let Some(d) = dachs(test) else {
        return;
    };
    let p = pyvo(&d, BAD_QUERY, Ask { mode, ..SYNC_B2 });
    assert_eq!(p["status"], "ERROR");
    let words = server_words(&p);
    assert!(words.iter().any(|w| w.contains("nope")), "{words:?}");
    // Words that are the server's, not an echo of the manifest's query.
    let own = words
        .iter()
        .filter(|w| !BAD_QUERY.contains(w.as_str()))
        .count();
    assert!(own >= 3, "{words:?}");
    let r = run(
        &d,
        &format!(
            r#"
version: 1
name: tap-error
steps:
  obs:
    kind: tap
    service: SERVICE
    mode: {mode}
    query: {BAD_QUERY}
{}"#,
            outputs(&["obs"])
        ),
    );
    assert!(
        !r.output.status.success(),
        "an ADQL error must fail the step"
    );
    let err = r.stderr();
    for w in &words {
        assert!(
            err.contains(w.as_str()),
            "the error quotes the server ({w:?} missing):\n{err}"
        );
    }
}

#[test]
fn adql_error_fails_quoting_the_server_sync() {
    adql_error_quotes_the_server("adql_error_fails_quoting_the_server_sync", "sync");
}

#[test]
fn adql_error_fails_quoting_the_server_async() {
    adql_error_quotes_the_server("adql_error_fails_quoting_the_server_async", "async");
}

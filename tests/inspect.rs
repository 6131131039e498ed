//! `mastflow inspect FILE`: columns, types, units, UCDs, null counts, rows and
//! QUERY_STATUS of a table file, as text or JSON; a service error exits 1.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value as J;
use std::path::PathBuf;

fn tap(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tap")
        .join(name)
}

fn inspect_json(path: &PathBuf) -> J {
    let out = Command::cargo_bin("mastflow")
        .unwrap()
        .args(["inspect", "--format", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn json_report_of_a_binary2_tap_result() {
    // `.out`: the format is found from the first bytes.
    let r = inspect_json(&tap("nulls.votable_b2.out"));
    assert_eq!(r["format"], "votable");
    assert_eq!(r["rows"], 3);
    assert_eq!(r["votable"]["serialization"], "BINARY2");
    assert_eq!(r["votable"]["table"], "obs");
    assert_eq!(r["votable"]["query_status"]["value"], "OK");
    let cols = r["columns"].as_array().unwrap();
    let names: Vec<&str> = cols.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
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
    let nulls: Vec<u64> = cols.iter().map(|c| c["nulls"].as_u64().unwrap()).collect();
    assert_eq!(nulls, [0, 1, 0, 1, 0, 0, 2, 0]);
    assert_eq!(cols[2]["type"], "float");
    assert_eq!(cols[2]["unit"], "deg");
    assert_eq!(cols[2]["ucd"], "pos.eq.ra;meta.main");
    assert_eq!(cols[6]["votable"]["datatype"], "short");
    assert_eq!(cols[6]["votable"]["null"], "-32768");
    assert_eq!(cols[7]["votable"]["arraysize"], "*");
    assert_eq!(cols[7]["xtype"], "polygon");
}

#[test]
fn text_report_and_other_formats() {
    Command::cargo_bin("mastflow")
        .unwrap()
        .arg("inspect")
        .arg(tap("overflow.xml"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "votable TABLEDATA, 5 rows, 1 columns",
        ))
        .stdout(predicate::str::contains("QUERY_STATUS: OVERFLOW"))
        .stdout(predicate::str::contains("obs_id  string  char[*]"));
    // CSV (no VOTable part): the same null counts as the VOTables.
    let r = inspect_json(&tap("nulls.csv.out"));
    assert_eq!(r["format"], "csv");
    assert!(r.get("votable").is_none());
    let nulls: Vec<u64> = r["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["nulls"].as_u64().unwrap())
        .collect();
    assert_eq!(nulls, [0, 1, 0, 1, 0, 0, 2, 0]);
    let r = inspect_json(&tap("nulls.json.out"));
    assert_eq!(
        (r["format"].as_str(), r["rows"].as_u64()),
        (Some("json"), Some(3))
    );
}

#[test]
fn a_service_error_or_a_missing_file_exits_1() {
    Command::cargo_bin("mastflow")
        .unwrap()
        .arg("inspect")
        .arg(tap("error.xml"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the service reported an error (QUERY_STATUS=ERROR): Field query: No such field known",
        ));
    Command::cargo_bin("mastflow")
        .unwrap()
        .args(["inspect", "/nonexistent/t.vot"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/nonexistent/t.vot"));
}

//! `duplication_check`: the duplication notebook's target list (with the
//! moving target Io) against a scripted CAOM, expanded visibly in `plan`,
//! reported per target and program, and gating CI through an `assert`.

use assert_cmd::Command;
use axum::{Form, Json, Router, routing::post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn obs(
    target: &str,
    instrument: &str,
    filters: Option<&str>,
    calib: i64,
    exptime: f64,
    prop: &str,
    title: &str,
) -> Value {
    json!({"target_name": target, "instrument_name": instrument, "filters": filters, "calib_level": calib, "t_exptime": exptime, "proposal_id": prop, "obs_title": title, "obs_collection": "JWST"})
}

/// Observations by position (within 0.1 deg of a known target) or by
/// target_name pattern (Io).
fn observations(params: &Value) -> Vec<Value> {
    if let Some(pos) = params["position"].as_str() {
        let p: Vec<f64> = pos.split(", ").map(|x| x.parse().unwrap()).collect();
        let near = |ra: f64, dec: f64| (p[0] - ra).abs() < 0.1 && (p[1] - dec).abs() < 0.1;
        if near(346.6223, -5.0414) {
            return vec![
                obs(
                    "TRAPPIST-1",
                    "MIRI/IMAGE",
                    Some("F1500W"),
                    3,
                    72540.749,
                    "3077",
                    "TRAPPIST-1 Planets: Atmospheres Or Not?",
                ),
                obs(
                    "TRAPPIST-1",
                    "MIRI/IMAGE",
                    Some("F1500W"),
                    3,
                    135230.285,
                    "3077",
                    "TRAPPIST-1 Planets: Atmospheres Or Not?",
                ),
            ];
        }
        if near(283.3962, 33.0291) {
            return vec![
                obs(
                    "NGC6720",
                    "MIRI/IMAGE",
                    Some("F1000W"),
                    3,
                    444.008,
                    "1558",
                    "The Ring Nebula",
                ),
                obs(
                    "NGC6720-MRS-POSITION-1",
                    "MIRI/IFU",
                    Some("CH1"),
                    3,
                    2763.936,
                    "1558",
                    "The Ring Nebula",
                ),
                obs(
                    "NGC6720",
                    "NIRCAM/IMAGE",
                    None,
                    -1,
                    1000.0,
                    "9999",
                    "A planned look",
                ),
            ];
        }
        return vec![];
    }
    let pattern = params["filters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["paramName"] == "target_name")
        .map(|f| f["freeText"].as_str().unwrap().to_string());
    match pattern.as_deref() {
        Some("Io%") => vec![
            obs(
                "IO",
                "NIRSPEC/IFU",
                Some("F100LP;G140H"),
                3,
                4668.448,
                "1373",
                "ERS observations of the Jovian System as a demonstration of JWST's capabilities",
            ),
            obs(
                "IO",
                "MIRI/IFU",
                None,
                -1,
                2664.038,
                "4078",
                "Mass-loss from Ios volcanic atmosphere",
            ),
            obs(
                "IO",
                "MIRI/IFU",
                None,
                -1,
                222.003,
                "4565",
                "HST-Juno Io Campaign",
            ),
        ],
        _ => vec![],
    }
}

async fn server() -> (String, Arc<Mutex<Vec<Value>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    let app = Router::new().route(
        "/api/v0/invoke",
        post(move |Form(form): Form<HashMap<String, String>>| {
            let log = l2.clone();
            async move {
                let req: Value = serde_json::from_str(&form["request"]).unwrap();
                log.lock().unwrap().push(req.clone());
                let rows = observations(&req["params"]);
                let page = |fields: Value, data: Vec<Value>| {
                    let n = data.len();
                    json!({"status": "COMPLETE", "msg": "", "fields": fields, "data": data, "paging": {"page": 1, "pageSize": 50000, "pagesFiltered": 1, "rows": n, "rowsFiltered": n, "rowsTotal": n}})
                };
                if req["params"]["columns"] == "COUNT_BIG(*)" {
                    return Json(page(json!([{"name": "Column1", "type": "string"}]), vec![json!({"Column1": rows.len()})]));
                }
                Json(page(
                    json!([{"name": "target_name", "type": "string"}, {"name": "instrument_name", "type": "string"}, {"name": "filters", "type": "string"}, {"name": "calib_level", "type": "int"}, {"name": "t_exptime", "type": "float"}, {"name": "proposal_id", "type": "string"}, {"name": "obs_title", "type": "string"}, {"name": "obs_collection", "type": "string"}]),
                    rows,
                ))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), log)
}

const MANIFEST: &str = r#"
version: 1
name: duplication-check
steps:
  targets:
    kind: table
    csv: |
      target_name,RA,DEC,Radius,Description
      Trappist-1,23:06:29.3684948589,-05:02:29.037301866,30s,Exoplanet host star
      V* XX Cha,11:11:39.559,-76:20:15.04,30s,Variable star with debris disk
      M 31,00:42:44.330,+41:16:07.50,12.0m,Andromeda Galaxy
      M 57,18:53:35.0967659112,+33:01:44.883287544,2m,Planetary nebula
  duplicates:
    kind: duplication_check
    targets: targets
    ra_column: RA
    dec_column: DEC
    radius_column: Radius
    moving_targets: [Io]
  gate:
    kind: assert
    from: duplicates
    rows: 0
    message: potential duplicates found
outputs:
  - {from: duplicates, path: duplicates.ecsv}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_duplication_notebook_as_one_step() {
    let (base, log) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    std::fs::write(&m, MANIFEST).unwrap();
    // The expansion is visible in the plan.
    let plan = Command::cargo_bin("mastflow")
        .unwrap()
        .arg("plan")
        .arg(&m)
        .output()
        .unwrap();
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let plan = String::from_utf8_lossy(&plan.stdout).to_string();
    for s in [
        "duplicates.targets",
        "duplicates.count",
        "duplicates.hits",
        "duplicates.search",
        "duplicates.moving",
        "duplicates.found",
        "duplicates.report",
    ] {
        assert!(plan.contains(s), "plan lacks {s}:\n{plan}");
    }
    let out = dir.path().join("out");
    let (b, m2, o2) = (base.clone(), m.clone(), out.clone());
    let o = tokio::task::spawn_blocking(move || {
        Command::cargo_bin("mastflow")
            .unwrap()
            .arg("run")
            .arg(&m2)
            .args(["--base-url", &b, "--out"])
            .arg(&o2)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    // Potential duplicates exist: the gate fails the run.
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("potential duplicates found: expected 0 rows, found 6"),
        "{err}"
    );
    let report = std::fs::read_to_string(out.join("duplicates.ecsv")).unwrap();
    let body: Vec<&str> = report.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        body[0],
        "target,proposal_id,observations,executed,planned,instruments,filters,total_exptime,title,proposal_URL"
    );
    assert_eq!(body.len(), 7, "{report}");
    assert!(
        body[1].starts_with("Io,1373,1,1,0,NIRSPEC/IFU,F100LP;G140H,4668.448,"),
        "{}",
        body[1]
    );
    assert!(
        body[2].starts_with("Io,4078,1,0,1,MIRI/IFU,,2664.038,"),
        "{}",
        body[2]
    );
    assert!(body[4].starts_with("M 57,1558,2,2,0,MIRI/IMAGE;MIRI/IFU,F1000W;CH1,3207.944,The Ring Nebula,https://www.stsci.edu/cgi-bin/get-proposal-info?id=1558&observatory=JWST"), "{}", body[4]);
    assert!(
        body[5].starts_with("M 57,9999,1,0,1,NIRCAM/IMAGE,,1000.0,"),
        "{}",
        body[5]
    );
    // Trappist-1's two observations are in program 3077.
    assert!(body[6].starts_with("Trappist-1,3077,2,2,0,MIRI/IMAGE,F1500W,207771.03399999999,TRAPPIST-1 Planets: Atmospheres Or Not?,"), "{}", body[6]);
    // The Io titles are cut to 80 characters, as the notebook does.
    assert!(
        body[1].contains(
            ",ERS observations of the Jovian System as a demonstration of JWST's capabilities,"
        ) || body[1].contains(",\"ERS observations"),
        "{}",
        body[1]
    );
    // Counts before searches, one per fixed target; a Io search by name.
    let reqs = log.lock().unwrap().clone();
    let counts = reqs
        .iter()
        .filter(|r| r["params"]["columns"] == "COUNT_BIG(*)")
        .count();
    assert_eq!(counts, 4);
    // Only the targets with matches (Trappist-1, M 57) are searched.
    let searches = reqs
        .iter()
        .filter(|r| r["params"]["columns"] == "*" && r["params"]["position"].is_string())
        .count();
    assert_eq!(searches, 2);
    assert!(reqs.iter().any(|r| {
        r["params"]["filters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["freeText"] == "Io%")
    }));
}

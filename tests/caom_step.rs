//! `caom` and `count` steps: criteria compiled with astroquery's rules,
//! positions in any notation, fan-out over targets with `carry`, the count
//! guard, and CAOM column checks before anything runs.

use assert_cmd::Command;
use axum::{Form, Json, Router, routing::post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Answers every CAOM request with two observations (or a count of 2, or
/// 5000 for requests near M 31), recording what it was sent.
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
                let params = &req["params"];
                let near_m31 = params["position"].as_str().is_some_and(|p| p.starts_with("10.68"));
                if params["columns"] == "COUNT_BIG(*)" {
                    let n = if near_m31 { 5000 } else { 2 };
                    return Json(json!({"status": "COMPLETE", "msg": "", "data": [{"Column1": n}], "fields": [{"name": "Column1", "type": "string"}],
                        "paging": {"page": 1, "pageSize": 50000, "pagesFiltered": 1, "rows": 1, "rowsFiltered": 1, "rowsTotal": 1}}));
                }
                let rows = vec![
                    json!({"obs_id": "jw03077-o001_t001_miri_f1500w", "obsid": "87000001", "instrument_name": "MIRI/IMAGE", "calib_level": 3, "t_exptime": 72540.749, "filters": "F1500W", "proposal_id": "3077"}),
                    json!({"obs_id": "jw04565-o001_t001_miri_ch1", "obsid": "87000002", "instrument_name": "MIRI/IFU", "calib_level": -1, "t_exptime": 222.003, "filters": null, "proposal_id": "4565"}),
                ];
                Json(json!({"status": "COMPLETE", "msg": "", "data": rows,
                    "fields": [{"name": "obs_id", "type": "string"}, {"name": "obsid", "type": "string"}, {"name": "instrument_name", "type": "string"}, {"name": "calib_level", "type": "int"}, {"name": "t_exptime", "type": "float"}, {"name": "filters", "type": "string"}, {"name": "proposal_id", "type": "string"}],
                    "paging": {"page": 1, "pageSize": 50000, "pagesFiltered": 1, "rows": 2, "rowsFiltered": 2, "rowsTotal": 2}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), log)
}

fn write(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("m.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

async fn run(base: &str, m: &std::path::Path, out: &std::path::Path) -> std::process::Output {
    let (b, m, o) = (base.to_string(), m.to_path_buf(), out.to_path_buf());
    tokio::task::spawn_blocking(move || {
        Command::cargo_bin("mastflow")
            .unwrap()
            .arg("run")
            .arg(&m)
            .args(["--base-url", &b, "--out"])
            .arg(&o)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn criteria_compile_to_astroquery_filters() {
    let (base, log) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        r#"
version: 1
name: large-downloads
params:
  program: "1073"
steps:
  obs:
    kind: caom
    criteria:
      obs_collection: JWST
      proposal_id: "{{ params.program }}"
      instrument_name: "NIRCAM*"
      t_exptime: {min: 100, max: 1000}
      calib_level: [2, 3]
  executed:
    kind: filter
    from: obs
    where: {calib_level: {min: 1}}
outputs:
  - {from: executed, path: obs.csv}
"#,
    );
    let out = dir.path().join("out");
    let o = run(&base, &m, &out).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reqs = log.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["service"], "Mast.Caom.Filtered");
    assert_eq!(
        reqs[0]["params"],
        json!({"columns": "*", "filters": [
            {"paramName": "obs_collection", "separator": ";", "values": ["JWST"]},
            {"paramName": "proposal_id", "values": ["1073"]},
            {"paramName": "instrument_name", "values": [], "freeText": "NIRCAM%"},
            {"paramName": "t_exptime", "values": [{"min": 100.0, "max": 1000.0}]},
            {"paramName": "calib_level", "values": ["2", "3"]}
        ]})
    );
    let csv = std::fs::read_to_string(out.join("obs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_per_target_then_cone_searches_with_carry() {
    let (base, log) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        r#"
version: 1
name: duplication
steps:
  targets:
    kind: table
    csv: |
      target,RA,DEC,Radius
      Trappist-1,23:06:29.3684948589,-05:02:29.037301866,30s
      M 57,18:53:35.0967659112,+33:01:44.883287544,2m
  counts:
    kind: count
    for_each: targets
    carry: [target]
    criteria: {obs_collection: JWST}
    position: {ra: "{{ row.RA }}", dec: "{{ row.DEC }}", radius: "{{ row.Radius }}"}
    max: 1000
  matches:
    kind: caom
    needs: [counts]
    for_each: targets
    carry: [target]
    criteria: {obs_collection: JWST}
    position: {ra: "{{ row.RA }}", dec: "{{ row.DEC }}", radius: "{{ row.Radius }}"}
outputs:
  - {from: counts, path: counts.csv}
  - {from: matches, path: matches.csv}
"#,
    );
    let out = dir.path().join("out");
    let o = run(&base, &m, &out).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(out.join("counts.csv")).unwrap(),
        "count,target\n2,Trappist-1\n2,M 57\n"
    );
    let matches = std::fs::read_to_string(out.join("matches.csv")).unwrap();
    assert_eq!(matches.lines().count(), 5);
    assert!(matches.lines().nth(1).unwrap().ends_with(",Trappist-1"));
    assert!(matches.lines().nth(4).unwrap().ends_with(",M 57"));
    let reqs = log.lock().unwrap().clone();
    let mut positions: Vec<String> = reqs
        .iter()
        .map(|r| r["params"]["position"].as_str().unwrap().to_string())
        .collect();
    positions.sort();
    positions.dedup();
    // Degrees, as astroquery sends them: "ra, dec, radius".
    assert_eq!(
        positions,
        [
            "283.39623652462996, 33.029134246539996, 0.03333333333333333",
            "346.62236872857875, -5.041399250518333, 0.008333333333333333"
        ]
    );
    assert!(
        reqs.iter()
            .all(|r| r["service"] == "Mast.Caom.Filtered.Position")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_count_guard_refuses_to_fetch_too_many() {
    let (base, log) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        r#"
version: 1
name: guard
steps:
  n:
    kind: count
    criteria: {obs_collection: JWST}
    position: {ra: 10.684708333333331, dec: 41.26875, radius: 12m}
    max: 1000
  obs:
    kind: caom
    needs: [n]
    criteria: {obs_collection: JWST}
    position: {ra: 10.684708333333331, dec: 41.26875, radius: 12m}
"#,
    );
    let out = dir.path().join("out");
    let o = run(&base, &m, &out).await;
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("5000 observations match, more than `max: 1000`"),
        "{err}"
    );
    // The search itself was never sent.
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .all(|r| r["params"]["columns"] == "COUNT_BIG(*)")
    );
}

#[test]
fn caom_columns_are_checked_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        r#"
version: 1
name: typos
steps:
  obs:
    kind: caom
    criteria:
      obs_colection: JWST
      calib_level: {min: 2}
      t_exptime: 100
    position: {ra: "25:00:00", dec: -5, radius: 3 furlongs}
  long:
    kind: filter
    from: obs
    where: {t_exptim: {min: 1000}}
"#,
    );
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .arg("validate")
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    for expected in [
        "`obs_colection` is not a CAOM observation column; did you mean `obs_collection`?",
        "`calib_level` is not continuous",
        "`t_exptime` is continuous: give a range",
        "position ra `25:00:00` is not valid",
        "`furlongs` in `3 furlongs` is not an angle unit",
        "column `t_exptim` does not exist in the output of `obs`",
        "did you mean `t_exptime`?",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in\n{err}");
    }
}

/// A resolver that knows two names.
async fn resolver() -> String {
    let app = Router::new().route(
        "/api/v0/invoke",
        post(move |Form(form): Form<HashMap<String, String>>| async move {
            let req: Value = serde_json::from_str(&form["request"]).unwrap();
            assert_eq!(req["service"], "Mast.Name.Lookup");
            let input = req["params"]["input"].as_str().unwrap().to_string();
            let known = [("trappist-1", "TRAPPIST-1", 346.6223683, -5.0413974), ("m 57", "MESSIER 057", 283.39625, 33.0291694)];
            let hits: Vec<Value> = known
                .iter()
                .filter(|(k, ..)| *k == input.to_lowercase())
                .map(|(k, canon, ra, dec)| json!({"searchString": k, "resolver": "SIMBAD", "cached": true, "resolverTime": 3, "searchRadius": -1.0, "canonicalName": canon, "ra": ra, "decl": dec}))
                .collect();
            Json(json!({"resolvedCoordinate": hits, "status": ""}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn resolve_manifest(dir: &std::path::Path, policy: &str) -> std::path::PathBuf {
    write(
        dir,
        &format!(
            r#"
version: 1
name: names
steps:
  targets:
    kind: table
    rows: [{{target_name: Trappist-1}}, {{target_name: M 57}}, {{target_name: Nowhere-9}}, {{target_name: Trappist-1}}]
  coords:
    kind: resolve
    from: targets
    {policy}
outputs:
  - {{from: coords, path: coords.csv}}
"#
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn unresolved_names_are_reported_never_dropped() {
    let base = resolver().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let m = resolve_manifest(dir.path(), "unresolved: keep");
    let o = run(&base, &m, &out).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(out.join("coords.csv")).unwrap(),
        "target_name,ra,dec,resolver,canonical_name,resolved\nTrappist-1,346.6223683,-5.0413974,SIMBAD,TRAPPIST-1,True\nM 57,283.39625,33.0291694,SIMBAD,MESSIER 057,True\nNowhere-9,,,,,False\nTrappist-1,346.6223683,-5.0413974,SIMBAD,TRAPPIST-1,True\n"
    );
    let rec: Value = serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    let coords = rec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "coords")
        .unwrap();
    // Three distinct names, one request each.
    assert_eq!(coords["requests"], 3);
    assert!(
        coords["notes"][0]
            .as_str()
            .unwrap()
            .contains("unresolved: Nowhere-9")
    );
    // By default an unresolved name fails the step, naming it.
    let out2 = dir.path().join("out2");
    let m = resolve_manifest(dir.path(), "");
    let o = run(&base, &m, &out2).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("MAST could not resolve: Nowhere-9"));
}

#[test]
fn local_crossmatch_of_targets_with_observations() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        r#"
version: 1
name: xmatch
steps:
  targets:
    kind: table
    rows:
      - {target: Trappist-1, ra: "23:06:29.368", dec: "-05:02:29.04"}
      - {target: M 57, ra: "18:53:35.097", dec: "+33:01:44.883"}
      - {target: Nothing, ra: "01:00:00", dec: "+10:00:00"}
  observations:
    kind: table
    rows:
      - {obs_id: a, s_ra: 346.6223, s_dec: -5.0414}
      - {obs_id: b, s_ra: 346.6240, s_dec: -5.0414}
      - {obs_id: c, s_ra: 283.3962, s_dec: 33.0291}
  near:
    kind: crossmatch
    left: targets
    right: observations
    right_position: [s_ra, s_dec]
    radius: 10s
    find: all
  lonely:
    kind: crossmatch
    left: targets
    right: observations
    right_position: [s_ra, s_dec]
    radius: 10s
    join: 1not2
outputs:
  - {from: near, path: near.csv, columns: [target, obs_id]}
  - {from: lonely, path: lonely.csv, columns: [target]}
"#,
    );
    let out = dir.path().join("out");
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .arg("run")
        .arg(&m)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // b is 6" from Trappist-1 (inside 10"), so both a and b match it.
    assert_eq!(
        std::fs::read_to_string(out.join("near.csv")).unwrap(),
        "target,obs_id\nTrappist-1,a\nTrappist-1,b\nM 57,c\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("lonely.csv")).unwrap(),
        "target\nNothing\n"
    );
    // Position columns are checked like any other.
    let bad = write(
        dir.path(),
        "version: 1\nname: x\nsteps:\n  a:\n    kind: table\n    rows: [{ra: 1, dec: 2}]\n  b:\n    kind: crossmatch\n    left: a\n    right: a\n    right_position: [s_ra, dec]\n    radius: 1s\n",
    );
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .arg("validate")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("column `s_ra` does not exist in the output of `a`")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_side_crossmatch_uploads_the_table() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    let app = Router::new().route(
        "/api/v0/invoke",
        post(move |Form(form): Form<HashMap<String, String>>| {
            let log = l2.clone();
            async move {
                let req: Value = serde_json::from_str(&form["request"]).unwrap();
                log.lock().unwrap().push(req.clone());
                let n = req["data"]["data"].as_array().map_or(0, Vec::len);
                let rows: Vec<Value> = (0..n).map(|i| json!({"obs_id": format!("o{i}"), "distance": 0.5, "MatchID": i})).collect();
                Json(json!({"status": "COMPLETE", "msg": "", "data": rows, "fields": [{"name": "obs_id", "type": "string"}, {"name": "distance", "type": "float"}, {"name": "MatchID", "type": "int"}],
                    "paging": {"page": 1, "pageSize": 50000, "pagesFiltered": 1, "rows": n, "rowsFiltered": n, "rowsTotal": n}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        "version: 1\nname: sx\nsteps:\n  targets:\n    kind: table\n    rows: [{name: a, ra: 210.8, dec: 54.3}, {name: b, ra: 10.5, dec: -3.25}]\n  xm:\n    kind: crossmatch\n    left: targets\n    against: caom\n    radius: 3.6s\noutputs:\n  - {from: xm, path: xm.csv}\n",
    );
    let out = dir.path().join("out");
    let o = run(&base, &m, &out).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reqs = log.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1, "one request with the whole table");
    assert_eq!(reqs[0]["service"], "Mast.Caom.Crossmatch");
    assert_eq!(
        reqs[0]["params"],
        json!({"raColumn": "ra", "decColumn": "dec", "radius": 0.001})
    );
    assert_eq!(
        reqs[0]["data"],
        json!({"fields": [{"name": "name", "type": "string"}, {"name": "ra", "type": "float"}, {"name": "dec", "type": "float"}],
               "data": [{"name": "a", "ra": 210.8, "dec": 54.3}, {"name": "b", "ra": 10.5, "dec": -3.25}]})
    );
    assert_eq!(
        std::fs::read_to_string(out.join("xm.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

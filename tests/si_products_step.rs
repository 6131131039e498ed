//! The SI-keyword notebook's chain against a scripted Mashup server:
//! `si_keywords` (ISO dates → MJD) → obs_ids derived from file names →
//! `caom` with the list spliced in → `products` in batches of 5,
//! de-duplicated on dataURI → `filter_products`.

use assert_cmd::Command;
use axum::{Form, Json, Router, routing::post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn page(fields: Value, rows: Vec<Value>) -> Value {
    let n = rows.len();
    json!({"status": "COMPLETE", "msg": "", "fields": fields, "data": rows,
        "paging": {"page": 1, "pageSize": 50000, "pagesFiltered": 1, "rows": n, "rowsFiltered": n, "rowsTotal": n}})
}

fn answer(req: &Value) -> Value {
    let params = &req["params"];
    match req["service"].as_str().unwrap() {
        "Mast.Jwst.Filtered.Niriss" => {
            let files = [
                "jw01366001001_04101_00001-seg001_nis_rate.fits",
                "jw01366001001_04101_00001-seg001_nis_rateints.fits",
                "jw02734-o001_t001_niriss_clear-gr700xd-substrip256_x1dints.fits",
                "jw01091002001_03102_00001-seg001_nis_ramp.fits",
            ];
            let rows = files
                .iter()
                .enumerate()
                .map(|(i, f)| json!({"ArchiveFileID": 89957007 + i, "filename": f, "exp_type": "NIS_SOSS", "tsovisit": "t", "isRestricted": "False", "date_obs": "/Date(1654430410430)/", "date_obs_mjd": 59735.5}))
                .collect();
            page(
                json!([{"name": "ArchiveFileID", "type": "int"}, {"name": "filename", "type": "string"}, {"name": "exp_type", "type": "string"}, {"name": "tsovisit", "type": "boolean"}, {"name": "isRestricted", "type": "boolean"}, {"name": "date_obs", "type": "string"}, {"name": "date_obs_mjd", "type": "float"}]),
                rows,
            )
        }
        "Mast.Caom.Filtered" => {
            let ids: Vec<String> = params["filters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["paramName"] == "obs_id")
                .unwrap()["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let rows = ids.iter().enumerate().map(|(i, id)| json!({"obs_id": id, "obsid": format!("{}", 87742159 + i), "instrument_name": "NIRISS/SOSS"})).collect();
            page(
                json!([{"name": "obs_id", "type": "string"}, {"name": "obsid", "type": "string"}, {"name": "instrument_name", "type": "string"}]),
                rows,
            )
        }
        "Mast.Caom.Products" => {
            let mut rows = Vec::new();
            for o in params["obsid"].as_str().unwrap().split(',') {
                rows.push(json!({"obsID": o, "parent_obsid": o, "dataURI": format!("mast:JWST/product/{o}_x1dints.fits"), "productFilename": format!("{o}_x1dints.fits"), "productType": "SCIENCE", "calib_level": 3, "dataproduct_type": "spectrum", "productGroupDescription": "Minimum Recommended Products", "size": 776148480}));
                rows.push(json!({"obsID": o, "parent_obsid": o, "dataURI": format!("mast:JWST/product/{o}_gs-track_cal.fits"), "productFilename": format!("{o}_gs-track_cal.fits"), "productType": "AUXILIARY", "calib_level": 2, "dataproduct_type": "spectrum", "productGroupDescription": null, "size": 2494080}));
                rows.push(json!({"obsID": "1", "parent_obsid": o, "dataURI": "mast:JWST/product/jw01091-o002_image2_00001_asn.json", "productFilename": "jw01091-o002_image2_00001_asn.json", "productType": "INFO", "calib_level": 2, "dataproduct_type": "spectrum", "productGroupDescription": null, "size": 1428}));
            }
            page(
                json!([{"name": "obsID", "type": "string"}, {"name": "parent_obsid", "type": "string"}, {"name": "dataURI", "type": "string"}, {"name": "productFilename", "type": "string"}, {"name": "productType", "type": "string"}, {"name": "calib_level", "type": "int"}, {"name": "dataproduct_type", "type": "string"}, {"name": "productGroupDescription", "type": "string"}, {"name": "size", "type": "int"}]),
                rows,
            )
        }
        other => json!({"status": "ERROR", "msg": format!("unknown service {other}")}),
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
                Json(answer(&req))
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
name: si-keyword-exoplanets
params:
  start: "2022-06-01"
  end: "2022-08-04"
steps:
  keywords:
    kind: si_keywords
    instrument: niriss
    criteria:
      category: [COM, ERS]
      exp_type: NIS_SOSS
      tsovisit: T
      date_obs: {min: "{{ params.start }}", max: "{{ params.end }}"}
  file_ids:
    kind: derive
    from: keywords
    columns:
      obs_id: "'_'.join(filename.split('_')[:-1])"
  ids:
    kind: unique
    from: file_ids
    keys: [obs_id]
  sorted_ids:
    kind: sort
    from: ids
    by: [obs_id]
  observations:
    kind: caom
    criteria:
      instrument_name: "NIRISS*"
      obs_id: "{{ steps.sorted_ids.columns.obs_id | tojson }}"
  products:
    kind: products
    from: observations
  science:
    kind: filter_products
    from: products
    where:
      productType: [SCIENCE, INFO]
      dataproduct_type: spectrum
      calib_level: [2, 3]
  mrp:
    kind: filter_products
    from: products
    mrp_only: true
    extension: x1dints.fits
outputs:
  - {from: science, path: science.csv}
  - {from: mrp, path: mrp.csv}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_si_keyword_notebook_chain() {
    let (base, log) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    std::fs::write(&m, MANIFEST).unwrap();
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
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reqs = log.lock().unwrap().clone();
    // The notebook's compiled keyword request (dates as an MJD range on date_obs_mjd).
    let kw = reqs
        .iter()
        .find(|r| r["service"] == "Mast.Jwst.Filtered.Niriss")
        .unwrap();
    assert_eq!(
        kw["params"],
        json!({"columns": "*", "filters": [
            {"paramName": "category", "values": ["COM", "ERS"]},
            {"paramName": "exp_type", "values": ["NIS_SOSS"]},
            {"paramName": "tsovisit", "values": ["T"]},
            {"paramName": "date_obs_mjd", "values": [{"min": 59731.0, "max": 59795.0}]}
        ]})
    );
    // Three distinct obs_ids, sorted, spliced into one CAOM criterion.
    let caom = reqs
        .iter()
        .find(|r| r["service"] == "Mast.Caom.Filtered")
        .unwrap();
    assert_eq!(
        caom["params"]["filters"][1],
        json!({"paramName": "obs_id", "values": ["jw01091002001_03102_00001-seg001_nis", "jw01366001001_04101_00001-seg001_nis", "jw02734-o001_t001_niriss_clear-gr700xd-substrip256"]})
    );
    // Products: one batch of 3 obsids (batch size 5).
    let prods: Vec<&Value> = reqs
        .iter()
        .filter(|r| r["service"] == "Mast.Caom.Products")
        .collect();
    assert_eq!(prods.len(), 1);
    assert_eq!(prods[0]["params"]["obsid"], "87742159,87742160,87742161");
    let rec: Value = serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    let step = |n: &str| {
        rec["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap()
            .clone()
    };
    // 9 rows, the shared ASN file listed under three parents: 2 duplicates dropped.
    assert_eq!(step("products")["rows_out"], 7);
    assert!(
        step("products")["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "dropped 2 duplicate rows (same dataURI)")
    );
    // SCIENCE x1dints (3) + the ASN (INFO, 1); guide-star AUXILIARY files excluded.
    assert_eq!(step("science")["rows_out"], 4);
    let mrp = std::fs::read_to_string(out.join("mrp.csv")).unwrap();
    assert_eq!(mrp.lines().count(), 4, "{mrp}");
    assert!(mrp.lines().skip(1).all(|l| l.contains("_x1dints.fits")));
}

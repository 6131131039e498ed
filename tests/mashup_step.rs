//! The `mashup` step against a scripted Mashup server: request encoding,
//! EXECUTING polls, paging, the rowsFiltered check, ERROR messages, fan-out
//! in batches, and the empty-input rule.

use assert_cmd::Command;
use axum::{Form, Json, Router, routing::post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Log {
    requests: Vec<Value>,
    seen: HashMap<String, u32>,
}

/// A Mashup server: `Mast.Caom.Products` returns two products per obsid (one
/// shared between all obsids), pages of at most 3 rows, answers EXECUTING the
/// first time it sees each request; `Mast.Lies` under-delivers;
/// `Mast.Broken` answers ERROR.
async fn server() -> (String, Arc<Mutex<Log>>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let l2 = log.clone();
    let app = Router::new().route(
        "/api/v0/invoke",
        post(move |Form(form): Form<HashMap<String, String>>| {
            let log = l2.clone();
            async move {
                let req: Value = serde_json::from_str(&form["request"]).unwrap();
                let mut log = log.lock().unwrap();
                log.requests.push(req.clone());
                let mut identity = req.clone();
                identity.as_object_mut().unwrap().remove("page");
                let n = log
                    .seen
                    .entry(identity.to_string() + &req["page"].to_string())
                    .or_insert(0);
                *n += 1;
                let first_time = *n == 1;
                drop(log);
                Json(answer(&req, first_time))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), log)
}

fn answer(req: &Value, first_time: bool) -> Value {
    let service = req["service"].as_str().unwrap();
    if service == "Mast.Broken" {
        return json!({"status": "ERROR", "msg": "Incorrect syntax near '*'.", "data": [], "fields": []});
    }
    if first_time && service == "Mast.Caom.Products" {
        return json!({"status": "EXECUTING", "msg": "", "data": [], "fields": []});
    }
    let obsids: Vec<String> = req["params"]["obsid"]
        .as_str()
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for o in &obsids {
        rows.push(json!({"obsID": o, "parent_obsid": o, "dataURI": format!("mast:JWST/product/{o}_cal.fits"), "size": 1000, "calib_level": "2", "_selected_": null}));
        rows.push(json!({"obsID": "99", "parent_obsid": o, "dataURI": "mast:JWST/product/shared_asn.json", "size": "10", "calib_level": 3, "_selected_": null}));
    }
    let page_size = 3usize;
    let page = req["page"].as_u64().unwrap_or(1) as usize;
    let total = if service == "Mast.Lies" {
        rows.len() + 5
    } else {
        rows.len()
    };
    let pages = total.div_ceil(page_size);
    let chunk: Vec<Value> = rows
        .iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .cloned()
        .collect();
    json!({
        "status": "COMPLETE", "msg": "",
        "fields": [{"name": "obsID", "type": "string"}, {"name": "parent_obsid", "type": "string"}, {"name": "dataURI", "type": "string"}, {"name": "size", "type": "int"}, {"name": "calib_level", "type": "int"}, {"name": "_selected_", "type": "boolean"}],
        "paging": {"page": page, "pageSize": page_size, "pagesFiltered": pages, "rows": chunk.len(), "rowsFiltered": total, "rowsTotal": total},
        "data": chunk,
    })
}

fn manifest(dir: &std::path::Path, service: &str, obsids: &[i64]) -> std::path::PathBuf {
    // An empty list still declares the columns (one row that a filter drops).
    let keep = if obsids.is_empty() { "-1" } else { "{min: 0}" };
    let mut rows: Vec<String> = obsids
        .iter()
        .map(|o| format!("{{obsid: {o}, target: t{o}}}"))
        .collect();
    if rows.is_empty() {
        rows.push("{obsid: 0, target: none}".into());
    }
    let rows = format!("[{}]", rows.join(", "));
    let text = format!(
        r#"
version: 1
name: products
steps:
  all_obs:
    kind: table
    rows: {rows}
  obs:
    kind: filter
    from: all_obs
    where: {{obsid: {keep}}}
  products:
    kind: mashup
    service: {service}
    for_each: obs
    batch: 5
    params:
      obsid: "{{{{ batch.columns.obsid | id_list }}}}"
  unique:
    kind: unique
    from: products
    keys: [dataURI]
outputs:
  - {{from: unique, path: products.csv}}
"#
    );
    let p = dir.join("m.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run(base: &str, m: &std::path::Path, out: &std::path::Path) -> assert_cmd::assert::Assert {
    Command::cargo_bin("mastflow")
        .unwrap()
        .arg("run")
        .arg(m)
        .args(["--base-url", base, "--out"])
        .arg(out)
        .assert()
}

fn record(out: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn products_in_batches_with_polling_and_paging() {
    let (base, log) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), "Mast.Caom.Products", &[1, 2, 3, 4, 5, 6, 7]);
    let out = dir.path().join("out");
    let (b, m2, o2) = (base.clone(), m.clone(), out.clone());
    tokio::task::spawn_blocking(move || run(&b, &m2, &o2).success())
        .await
        .unwrap();
    let log = log.lock().unwrap();
    // Batches of 5: obsids "1,2,3,4,5" and "6,7", encoded as astroquery does.
    let mut lists: Vec<&str> = log
        .requests
        .iter()
        .map(|r| r["params"]["obsid"].as_str().unwrap())
        .collect();
    lists.sort();
    lists.dedup();
    assert_eq!(lists, ["1,2,3,4,5", "6,7"]);
    assert!(
        log.requests
            .iter()
            .all(|r| r["format"] == "json" && r["pagesize"] == 50000)
    );
    // 10 rows in 4 pages of 3 for the first batch, 4 rows in 2 pages for the
    // second, each page polled once through EXECUTING: (4 + 2) * 2 requests.
    assert_eq!(
        log.requests.len(),
        12,
        "{:#?}",
        log.requests
            .iter()
            .map(|r| (r["params"]["obsid"].clone(), r["page"].clone()))
            .collect::<Vec<_>>()
    );
    let rec = record(&out);
    let products = rec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "products")
        .unwrap();
    assert_eq!(products["rows_out"], 14);
    assert_eq!(products["requests"], 12);
    let unique = rec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "unique")
        .unwrap();
    assert_eq!(unique["rows_out"], 8);
    let csv = std::fs::read_to_string(out.join("products.csv")).unwrap();
    // `_selected_` is dropped; obsID stays a string; calib_level sent as "2" is an int.
    assert!(csv.starts_with("obsID,parent_obsid,dataURI,size,calib_level\n1,1,mast:JWST/product/1_cal.fits,1000,2\n99,1,mast:JWST/product/shared_asn.json,10,3\n"), "{csv}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incomplete_result_is_refused() {
    let (base, _) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), "Mast.Lies", &[1]);
    let out = dir.path().join("out");
    let (b, m2, o2) = (base.clone(), m.clone(), out.clone());
    let a = tokio::task::spawn_blocking(move || run(&b, &m2, &o2).code(1))
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains("reported 7 matching rows but 2 arrived"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_status_quotes_the_server() {
    let (base, _) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), "Mast.Broken", &[1]);
    let out = dir.path().join("out");
    let (b, m2, o2) = (base.clone(), m.clone(), out.clone());
    let a = tokio::task::spawn_blocking(move || run(&b, &m2, &o2).code(1))
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains(
            "step `products` failed: MAST Mast.Broken returned ERROR: Incorrect syntax near '*'."
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_input_sends_no_request() {
    let (base, log) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), "Mast.Caom.Products", &[]);
    let out = dir.path().join("out");
    let (b, m2, o2) = (base.clone(), m.clone(), out.clone());
    tokio::task::spawn_blocking(move || run(&b, &m2, &o2).success())
        .await
        .unwrap();
    assert!(log.lock().unwrap().requests.is_empty());
    let rec = record(&out);
    let products = rec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "products")
        .unwrap();
    assert_eq!(products["rows_out"], 0);
    assert_eq!(products["requests"], 0);
    let unique = rec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "unique")
        .unwrap();
    assert_eq!(unique["status"], "succeeded");
    assert_eq!(
        std::fs::read_to_string(out.join("products.csv")).unwrap(),
        ""
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifest_can_name_the_mast_server() {
    let (base, log) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    std::fs::write(&m, format!("version: 1\nname: url\nmast_url: {base}\nsteps:\n  p:\n    kind: mashup\n    service: Mast.Broken\n")).unwrap();
    let m2 = m.clone();
    let o = tokio::task::spawn_blocking(move || {
        Command::cargo_bin("mastflow")
            .unwrap()
            .env_remove("MASTFLOW_BASE_URL")
            .arg("run")
            .arg(&m2)
            .arg("--out")
            .arg(m2.with_file_name("out"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        log.lock().unwrap().requests.len(),
        1,
        "the request went to the manifest's server"
    );
}

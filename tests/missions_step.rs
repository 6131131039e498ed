//! The `missions` step against a scripted missions search API: the JSON body
//! astroquery's MastMissions sends, paging by offset to `totalResults`, and
//! the refusal of a short result.

use assert_cmd::Command;
use axum::{Json, Router, routing::post};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

async fn server(total: usize, deliver: usize) -> (String, Arc<Mutex<Vec<Value>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    let app = Router::new().route(
        "/search/jwst/api/v0.1/search",
        post(move |Json(body): Json<Value>| {
            let log = l2.clone();
            async move {
                log.lock().unwrap().push(body.clone());
                let (limit, offset) = (body["limit"].as_u64().unwrap() as usize, body["offset"].as_u64().unwrap() as usize);
                let end = (offset + limit).min(deliver);
                let results: Vec<Value> = (offset..end.max(offset)).map(|i| json!({"fileSetName": format!("jw01366001001_04101_{i:05}"), "exp_type": "NIS_SOSS", "targ_ra": 217.3266 + i as f64 * 1e-4, "nints": i, "date_obs": "2022-07-10T05:37:10.000"})).collect();
                Json(json!({"messages": [], "totalResults": total, "results": results,
                    "info": [{"name": "fileSetName", "type": "VARCHAR"}, {"name": "exp_type", "type": "VARCHAR"}, {"name": "targ_ra", "type": "FLOAT"}, {"name": "nints", "type": "INTEGER"}, {"name": "date_obs", "type": "DATETIME"}]}))
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
name: missions
steps:
  soss:
    kind: missions
    conditions:
      exp_type: NIS_SOSS
      program: ["1366", "1541"]
      nints: {min: 10, max: 2000}
    position: {ra: "14:29:18.39", dec: "-03:26:40.2", radius: 2m}
    columns: [fileSetName, exp_type, targ_ra, nints, date_obs]
    page_size: 20
outputs:
  - {from: soss, path: soss.ecsv}
"#;

async fn run(base: &str) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    std::fs::write(&m, MANIFEST).unwrap();
    let (b, d) = (base.to_string(), dir.path().to_path_buf());
    let o = tokio::task::spawn_blocking(move || {
        Command::cargo_bin("mastflow")
            .unwrap()
            .arg("run")
            .arg(d.join("m.yaml"))
            .args(["--base-url", &b, "--out"])
            .arg(d.join("out"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (o, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_by_offset_to_the_total() {
    let (base, log) = server(45, 45).await;
    let (o, dir) = run(&base).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bodies = log.lock().unwrap().clone();
    assert_eq!(
        bodies
            .iter()
            .map(|b| b["offset"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        // The first request is astroquery's (no sort); a result of more
        // than one page starts again, sorted on the unique key.
        [0, 0, 20, 40]
    );
    assert!(bodies[0].get("sort_by").is_none(), "{}", bodies[0]);
    for later in &bodies[1..] {
        assert_eq!(later["sort_by"], json!(["ArchiveFileID"]), "{later}");
    }
    let b = &bodies[0];
    assert_eq!(b["limit"], 20);
    assert_eq!(
        b["conditions"],
        json!([{"exp_type": "NIS_SOSS"}, {"program": "1366,1541"}, {"nints": "10..2000"}])
    );
    assert_eq!(
        b["select_cols"],
        json!(["fileSetName", "exp_type", "targ_ra", "nints", "date_obs"])
    );
    assert_eq!(b["radius"], 120.0);
    assert_eq!(b["radius_units"], "arcseconds");
    let target = b["target"][0].as_str().unwrap();
    assert!(
        target.starts_with("217.32662") && target.contains(" -3.4445"),
        "{target}"
    );
    let t = mastflow::table::io::read_path(&dir.path().join("out/soss.ecsv"), None).unwrap();
    assert_eq!(t.num_rows(), 45);
    assert_eq!(
        t.column("nints").unwrap().data_type(),
        mastflow::table::DataType::Int
    );
    assert_eq!(
        t.column("targ_ra").unwrap().data_type(),
        mastflow::table::DataType::Float
    );
    assert_eq!(
        t.column("date_obs").unwrap().meta.xtype.as_deref(),
        Some("timestamp")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_result_is_refused() {
    let (base, _) = server(45, 30).await;
    let (o, _dir) = run(&base).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("reported 45 results but 30 arrived"));
}

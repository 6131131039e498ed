//! The strict sandbox (issue 11): what MAST documents as wrong is refused
//! with MAST's error shapes (Mashup `ERROR` envelope; missions HTTP 400 with
//! a JSON body), `strict: false` (`--lenient`) keeps the tolerant reading;
//! and the request log (`/_sandbox/requests`): decoded, bounded, redacted.

use mastflow::sandbox::{self, Config, DEFAULT_TOKEN, Running};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn start(strict: bool) -> Running {
    sandbox::start(Config {
        strict,
        ..Config::default()
    })
    .await
    .unwrap()
}

async fn invoke(base: &str, req: Value) -> Value {
    client()
        .post(format!("{base}/api/v0/invoke"))
        .form(&[("request", req.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn products(obsid: Value) -> Value {
    json!({"service": "Mast.Caom.Products", "params": {"obsid": obsid},
           "format": "json", "pagesize": 50000, "page": 1, "cacheBreaker": "x"})
}

fn filtered(filters: Value) -> Value {
    json!({"service": "Mast.Caom.Filtered", "params": {"columns": "COUNT_BIG(*)", "filters": filters},
           "format": "json", "pagesize": 50000, "page": 1})
}

/// An obsid with products in the bundled archive.
async fn some_obsid(base: &str) -> String {
    let v = invoke(
        base,
        json!({"service": "Mast.Caom.Filtered", "params": {"columns": "obsid", "filters": [
            {"paramName": "proposal_id", "values": ["1073"]}]}, "format": "json", "pagesize": 1, "page": 1}),
    )
    .await;
    v["data"][0]["obsid"]
        .to_string()
        .trim_matches('"')
        .to_string()
}

fn assert_error(v: &Value, needle: &str) {
    assert_eq!(v["status"], "ERROR", "{v}");
    let msg = v["msg"].as_str().unwrap();
    assert!(msg.contains(needle), "{msg}");
    assert_eq!(v["data"], json!([]));
}

#[tokio::test]
async fn numeric_obsid_is_refused_when_strict_and_read_when_lenient() {
    let (strict, lenient) = (start(true).await, start(false).await);
    let id = some_obsid(&strict.base_url).await;
    let number: Value = serde_json::from_str(&id).unwrap();
    let s = invoke(&strict.base_url, products(number.clone())).await;
    assert_error(&s, "'obsid' must be a string");
    let ok = invoke(&strict.base_url, products(json!(id))).await;
    assert_eq!(ok["status"], "COMPLETE", "{ok}");
    assert!(!ok["data"].as_array().unwrap().is_empty());
    let l = invoke(&lenient.base_url, products(number)).await;
    assert_eq!(l["data"], ok["data"]);
}

#[tokio::test]
async fn open_ranges_are_refused_when_strict() {
    let (strict, lenient) = (start(true).await, start(false).await);
    for range in [json!({"min": 1000.0, "max": null}), json!({"min": 1000.0})] {
        let req = filtered(json!([{"paramName": "t_exptime", "values": [range]}]));
        assert_error(
            &invoke(&strict.base_url, req.clone()).await,
            "no 'max' value",
        );
        let l = invoke(&lenient.base_url, req).await;
        assert_eq!(l["status"], "COMPLETE", "{l}");
    }
    let closed =
        filtered(json!([{"paramName": "t_exptime", "values": [{"min": 1000.0, "max": 1e9}]}]));
    let c = invoke(&strict.base_url, closed).await;
    assert_eq!(c["status"], "COMPLETE", "{c}");
}

#[tokio::test]
async fn unknown_names_are_refused_when_strict() {
    let (strict, lenient) = (start(true).await, start(false).await);
    let id = some_obsid(&strict.base_url).await;
    let mut top = products(json!(id));
    top["pagsize"] = json!(10);
    assert_error(&invoke(&strict.base_url, top.clone()).await, "'pagsize'");
    assert_eq!(invoke(&lenient.base_url, top).await["status"], "COMPLETE");
    let param =
        json!({"service": "Mast.Caom.Cone", "params": {"ra": 1.0, "dec": 2.0, "radius_deg": 0.1}});
    assert_error(&invoke(&strict.base_url, param).await, "'radius_deg'");
    let key = filtered(json!([{"paramName": "obs_collection", "value": ["JWST"]}]));
    assert_error(&invoke(&strict.base_url, key).await, "'value'");
}

async fn missions(base: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{base}/search/jwst/api/v0.1/search"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn missions_select_cols_need_the_dataset_keyword_when_strict() {
    let (strict, lenient) = (start(true).await, start(false).await);
    let body = |cols: Value| {
        json!({"limit": 5000, "offset": 0, "select_cols": cols,
               "conditions": [{"exp_type": "NIS_SOSS"}]})
    };
    let (status, v) = missions(&strict.base_url, body(json!(["filename", "targprop"]))).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("'fileSetName'"),
        "{v}"
    );
    assert_eq!(v["messages"][0], v["detail"]);
    // Lenient: the keyword is still prepended, as before.
    let (status, v) = missions(&lenient.base_url, body(json!(["filename", "targprop"]))).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["results"][0].get("fileSetName").is_some(), "{v}");
    // What astroquery sends (the keyword appended) passes, in the order asked.
    let (status, v) = missions(
        &strict.base_url,
        body(json!(["filename", "targprop", "fileSetName"])),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let row: Vec<&String> = v["results"][0].as_object().unwrap().keys().collect();
    assert_eq!(
        row,
        ["ArchiveFileID", "filename", "targprop", "fileSetName"]
    );
    let (status, v) = missions(&strict.base_url, json!({"limits": 5})).await;
    assert_eq!(status, 400, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("'limits'"), "{v}");
}

async fn log(base: &str) -> Vec<Value> {
    let v: Value = client()
        .get(format!("{base}/_sandbox/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["requests"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_request_log_decodes_every_route_and_never_holds_the_token() {
    let s = start(true).await;
    let base = &s.base_url;
    let c = client();
    let id = some_obsid(base).await;
    c.post(format!("{base}/api/v0/invoke"))
        .header("Cookie", format!("mast_token={DEFAULT_TOKEN}"))
        .form(&[("request", products(json!(id)).to_string())])
        .send()
        .await
        .unwrap();
    missions(base, json!({"select_cols": ["fileSetName"], "limit": 1})).await;
    c.post(format!("{base}/vo-tap/api/v0.1/caom/sync"))
        .form(&[
            ("REQUEST", "doQuery"),
            ("LANG", "ADQL"),
            ("QUERY", "SELECT TOP 1 obsid FROM dbo.obspointing"),
        ])
        .send()
        .await
        .unwrap();
    c.get(format!(
        "{base}/api/v0.1/Download/file?uri=mast:JWST/product/x.fits&t={DEFAULT_TOKEN}"
    ))
    .header("Authorization", format!("token {DEFAULT_TOKEN}"))
    .send()
    .await
    .unwrap();
    c.get(format!("{base}/_sandbox/info")).send().await.unwrap();
    let entries = log(base).await;
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(DEFAULT_TOKEN), "{text}");
    assert!(!text.contains("/_sandbox/"), "{text}");
    assert_eq!(entries.len(), 5, "{text}");
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let p = &entries[1];
    assert_eq!(p["method"], "POST");
    assert_eq!(p["path"], "/api/v0/invoke");
    assert_eq!(p["mashup"]["params"]["obsid"], json!(id));
    assert_eq!(p["auth"], "cookie");
    assert_eq!(p["json"], Value::Null);
    let m = &entries[2];
    assert_eq!(m["json"]["select_cols"], json!(["fileSetName"]));
    assert_eq!(m["mashup"], Value::Null);
    assert_eq!(m["headers"]["content-type"], "application/json");
    let t = &entries[3];
    assert_eq!(
        t["form"]["QUERY"],
        json!(["SELECT TOP 1 obsid FROM dbo.obspointing"])
    );
    assert_eq!(t["form"]["LANG"], json!(["ADQL"]));
    let d = &entries[4];
    assert_eq!(d["query"]["uri"], json!(["mast:JWST/product/x.fits"]));
    assert_eq!(d["query"]["t"], json!(["<redacted>"]));
    assert_eq!(d["auth"], "header");
    let cleared: Value = c
        .delete(format!("{base}/_sandbox/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["cleared"], 5);
    assert!(log(base).await.is_empty());
}

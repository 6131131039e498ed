//! The sandbox's HTTP endpoints, driven with reqwest against an in-process
//! server: exact paging, MAST filter semantics, the bundled real chains,
//! downloads (ranges, 401), auth, faults and determinism.

use mastflow::sandbox::{self, Config, DEFAULT_TOKEN, Running};
use serde_json::{Value, json};
use std::collections::HashSet;
use tokio::sync::OnceCell;

static SANDBOX: OnceCell<(String, tokio::runtime::Handle)> = OnceCell::const_new();

/// One shared sandbox (default config) per test binary, on its own runtime
/// so that every `#[tokio::test]` can use it.
async fn base() -> String {
    SANDBOX
        .get_or_init(|| async {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Runtime::new().unwrap();
                rt.block_on(async {
                    let r: Running = sandbox::start(Config::default()).await.unwrap();
                    tx.send((r.base_url.clone(), tokio::runtime::Handle::current()))
                        .unwrap();
                    r.handle.await.ok();
                });
            });
            rx.recv().unwrap()
        })
        .await
        .0
        .clone()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// POST a request object the way astroquery does (`request=` + encoded JSON).
async fn invoke_with(req: Value, fault: Option<&str>) -> reqwest::Response {
    let mut b = client()
        .post(format!("{}/api/v0/invoke", base().await))
        .form(&[("request", req.to_string())]);
    if let Some(f) = fault {
        b = b.header("X-Mastflow-Fault", f);
    }
    b.send().await.unwrap()
}

/// Whether the request fails at the transport level (reset before or
/// during the body).
async fn fails(req: Value, fault: &str) -> bool {
    let r = client()
        .post(format!("{}/api/v0/invoke", base().await))
        .header("X-Mastflow-Fault", fault)
        .form(&[("request", req.to_string())])
        .send()
        .await;
    match r {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    }
}

async fn invoke(req: Value) -> Value {
    invoke_with(req, None).await.json().await.unwrap()
}

fn filtered(service: &str, columns: &str, filters: Value) -> Value {
    json!({"service": service, "params": {"columns": columns, "filters": filters},
           "format": "json", "pagesize": 50000, "page": 1})
}

async fn count(service: &str, filters: Value) -> u64 {
    let v = invoke(filtered(service, "COUNT_BIG(*)", filters)).await;
    assert_eq!(v["status"], "COMPLETE", "{v}");
    assert_eq!(v["fields"][0], json!({"name": "Column1", "type": "string"}));
    v["data"][0]["Column1"].as_u64().unwrap()
}

async fn position_count(ra: f64, dec: f64, r: f64, filters: Value) -> u64 {
    let req = json!({"service": "Mast.Caom.Filtered.Position",
        "params": {"columns": "COUNT_BIG(*)", "filters": filters, "position": format!("{ra}, {dec}, {r}")},
        "format": "json", "pagesize": 50000, "page": 1});
    invoke(req).await["data"][0]["Column1"].as_u64().unwrap()
}

fn jwst() -> Value {
    json!({"paramName": "obs_collection", "separator": ";", "values": ["JWST"]})
}

#[tokio::test]
async fn paging_is_reported_exactly() {
    let total = count("Mast.Caom.Filtered", json!([jwst()])).await;
    assert!(total > 1000, "{total}");
    let size = 700u64;
    let pages = total.div_ceil(size);
    let mut seen = HashSet::new();
    for page in 1..=pages {
        let req = json!({"service": "Mast.Caom.Filtered", "params": {"columns": "obsid", "filters": [jwst()]},
                         "format": "json", "pagesize": size, "page": page});
        let v = invoke(req).await;
        let p = &v["paging"];
        assert_eq!(p["page"], page);
        assert_eq!(p["pageSize"], size);
        assert_eq!(p["pagesFiltered"], pages);
        assert_eq!(p["rowsFiltered"], total);
        assert_eq!(p["rowsTotal"], total);
        let rows = v["data"].as_array().unwrap();
        assert_eq!(p["rows"], rows.len());
        for r in rows {
            assert!(seen.insert(r["obsid"].as_i64().unwrap()));
        }
    }
    assert_eq!(seen.len() as u64, total);
    let beyond = json!({"service": "Mast.Caom.Filtered", "params": {"columns": "obsid", "filters": [jwst()]},
                        "format": "json", "pagesize": size, "page": pages + 1});
    let v = invoke(beyond).await;
    assert_eq!(v["paging"]["rows"], 0);
    assert_eq!(v["data"], json!([]));
    // Without pagesize the server default (1000) applies.
    let v = invoke(json!({"service": "Mast.Caom.Filtered", "params": {"columns": "obsid", "filters": [jwst()]}})).await;
    assert_eq!(v["paging"]["pageSize"], 1000);
}

#[tokio::test]
async fn real_si_keyword_chain_reproduces_the_notebook() {
    // SI_keyword_exoplanet_search.ipynb, the 2024-02-20 run: 74 files.
    let filters = json!([
        {"paramName": "category", "values": ["COM", "ERS"]},
        {"paramName": "exp_type", "values": ["NIS_SOSS"]},
        {"paramName": "tsovisit", "values": ["T"]},
        {"paramName": "date_obs_mjd", "values": [{"min": 59731.0, "max": 59795.0}]}
    ]);
    let v = invoke(filtered("Mast.JWST.Filtered.Niriss", "*", filters)).await;
    assert_eq!(v["status"], "COMPLETE");
    let rows = v["data"].as_array().unwrap();
    assert_eq!(rows.len(), 74);
    assert_eq!(rows[0]["tsovisit"], "t");
    assert!(rows[0]["date_obs"].as_str().unwrap().starts_with("/Date("));
    assert_eq!(rows[0]["isRestricted"], false);
    let types: Value = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f["type"].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into();
    assert_eq!(types["date_obs"], "datetime");
    assert_eq!(types["date_obs_mjd"], "float");
    assert_eq!(types["visit_id"], "string");
    // filename → obs_id by dropping the last `_suffix`, then CAOM.
    let mut ids: Vec<String> = rows
        .iter()
        .map(|r| {
            let f = r["filename"].as_str().unwrap();
            f.rsplit_once('_').unwrap().0.to_string()
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 28);
    let caom = invoke(filtered(
        "Mast.Caom.Filtered",
        "*",
        json!([{"paramName": "instrument_name", "values": [], "freeText": "NIRISS%"},
               {"paramName": "obs_id", "values": ids}]),
    ))
    .await;
    let obs = caom["data"].as_array().unwrap();
    assert_eq!(obs.len(), 16);
    let obsids: Vec<String> = obs.iter().map(|o| o["obsid"].to_string()).collect();
    assert!(obsids.contains(&"87742481".to_string()));
    // Products of the 16, in batches of 5 as the notebook does.
    let mut uris = HashSet::new();
    let mut rows_total = 0;
    for chunk in obsids.chunks(5) {
        let p = invoke(
            json!({"service": "Mast.Caom.Products", "params": {"obsid": chunk.join(",")},
                              "format": "json", "pagesize": 50000, "page": 1}),
        )
        .await;
        let data = p["data"].as_array().unwrap();
        rows_total += data.len();
        uris.extend(
            data.iter()
                .map(|r| r["dataURI"].as_str().unwrap().to_string()),
        );
    }
    assert!(
        rows_total > uris.len(),
        "products are duplicated across parents"
    );
    for r in rows {
        assert!(
            uris.contains(r["dataURI"].as_str().unwrap()),
            "SI file {} is a product",
            r["filename"]
        );
    }
}

#[tokio::test]
async fn real_counts_of_the_duplication_and_download_notebooks() {
    let io = json!([jwst(), {"paramName": "target_name", "values": [], "freeText": "Io%"}]);
    assert_eq!(count("Mast.Caom.Filtered", io).await, 34);
    let p1073 = json!([jwst(), {"paramName": "proposal_id", "values": ["1073"]},
                       {"paramName": "instrument_name", "values": ["NIRCAM/IMAGE"]}]);
    assert_eq!(count("Mast.Caom.Filtered", p1073).await, 15);
    assert_eq!(
        position_count(
            346.62236872857875,
            -5.041399250518333,
            30.0 / 3600.0,
            json!([jwst()])
        )
        .await,
        295
    );
    assert_eq!(
        position_count(
            167.91482916666666,
            -76.33751111111111,
            30.0 / 3600.0,
            json!([jwst()])
        )
        .await,
        14
    );
    assert_eq!(
        position_count(
            283.39623652462996,
            33.029134246539996,
            2.0 / 60.0,
            json!([jwst()])
        )
        .await,
        143
    );
    assert_eq!(
        position_count(10.684708333333331, 41.26875, 0.2, json!([jwst()])).await,
        0
    );
    assert_eq!(
        position_count(180.02119525, -78.19293492, 30.0 / 3600.0, json!([jwst()])).await,
        0
    );
}

#[tokio::test]
async fn program_1073_lists_the_450_real_uncal_files() {
    let v = invoke(filtered(
        "Mast.Caom.Filtered",
        "obsid",
        json!([{"paramName": "proposal_id", "values": ["1073"]}, {"paramName": "instrument_name", "values": ["NIRCAM/IMAGE"]}]),
    ))
    .await;
    let obsids: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["obsid"].to_string())
        .collect();
    let mut uncal = HashSet::new();
    let mut parents_of = std::collections::HashMap::<String, HashSet<String>>::new();
    for chunk in obsids.chunks(5) {
        let p = invoke(json!({"service": "Mast.Caom.Products", "params": {"obsid": chunk.join(",")}, "format": "json", "pagesize": 50000})).await;
        for r in p["data"].as_array().unwrap() {
            let name = r["productFilename"].as_str().unwrap();
            parents_of
                .entry(r["dataURI"].as_str().unwrap().into())
                .or_default()
                .insert(r["parent_obsid"].as_str().unwrap().into());
            if r["productSubGroupDescription"] == "UNCAL" {
                uncal.insert(name.to_string());
            }
        }
    }
    assert_eq!(uncal.len(), 450);
    assert!(uncal.contains("jw01073007001_02103_00008_nrcb4_uncal.fits"));
    assert!(
        parents_of.values().any(|p| p.len() > 1),
        "some file is listed under several parents"
    );
}

#[tokio::test]
async fn filter_semantics() {
    // Inclusive ranges: the exact t_exptime of a real row matches [x, x].
    let r = json!([{"paramName": "t_exptime", "values": [{"min": 26552.502, "max": 26552.502}]}]);
    assert_eq!(count("Mast.Caom.Filtered", r).await, 1);
    // Multi-valued column: one token matches; the whole string matches too.
    let token = json!([jwst(), {"paramName": "filters", "separator": ";", "values": ["GR700XD"]}, {"paramName": "proposal_id", "values": ["1366"]}]);
    let whole = json!([jwst(), {"paramName": "filters", "values": ["CLEAR;GR700XD"]}, {"paramName": "proposal_id", "values": ["1366"]}]);
    assert_eq!(count("Mast.Caom.Filtered", token).await, 2);
    assert_eq!(count("Mast.Caom.Filtered", whole).await, 2);
    // Case-insensitive exact values and column names; values OR, filters AND.
    let ci = json!([{"paramName": "OBS_COLLECTION", "values": ["jwst"]}, {"paramName": "proposal_id", "values": ["1366", "1091"]}]);
    assert_eq!(count("Mast.Caom.Filtered", ci).await, 4);
    // calib_level is numeric: "3" matches 3; freeText ORs with values.
    let or = json!([{"paramName": "proposal_id", "values": ["1366"], "freeText": "109%"}, {"paramName": "calib_level", "values": ["3"]}]);
    assert_eq!(count("Mast.Caom.Filtered", or).await, 2);
    // Nulls never match: planned Io rows have no filters.
    let io_planned = json!([{"paramName": "target_name", "values": ["IO"]}, {"paramName": "calib_level", "values": [-1]}]);
    assert_eq!(count("Mast.Caom.Filtered", io_planned.clone()).await, 9);
    let io_f = json!([{"paramName": "target_name", "values": ["IO"]}, {"paramName": "calib_level", "values": [-1]}, {"paramName": "filters", "values": [], "freeText": "%"}]);
    assert_eq!(count("Mast.Caom.Filtered", io_f).await, 0);
}

#[tokio::test]
async fn errors_are_mast_style() {
    let v = invoke(filtered(
        "Mast.Caom.Filtered",
        "*",
        json!([{"paramName": "nosuchcol", "values": ["x"]}]),
    ))
    .await;
    assert_eq!(v["status"], "ERROR");
    assert_eq!(v["msg"], "Invalid column name 'nosuchcol'.");
    let v = invoke(json!({"service": "Mast.No.Such", "params": {}})).await;
    assert_eq!(v["status"], "ERROR");
    assert!(v["msg"].as_str().unwrap().contains("Mast.No.Such"));
    let v = invoke(json!({"service": "Mast.Caom.Products", "params": {"obsid": "jw01366-o001_t001_niriss_clear-gr700xd-substrip256"}})).await;
    assert_eq!(v["status"], "ERROR");
    let v = invoke(json!({"service": "Mast.Caom.Cone", "params": {"ra": "abc", "dec": 1}})).await;
    assert_eq!(v["status"], "ERROR");
    let r = client()
        .post(format!("{}/api/v0/invoke", base().await))
        .body("request=%7Bnot-json")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ERROR");
}

#[tokio::test]
async fn cone_and_get_and_aliases() {
    let base = base().await;
    let req = json!({"service": "Mast.Caom.Cone", "params": {"ra": 217.32661, "dec": -3.44450, "radius": 0.01}, "format": "json", "pagesize": 50000, "page": 1});
    let url = format!(
        "{base}/api/v0/invoke?request={}",
        percent_encoding::utf8_percent_encode(&req.to_string(), percent_encoding::NON_ALPHANUMERIC)
    );
    let v: Value = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(&names[names.len() - 2..], &["distance", "_selected_"]);
    let n = v["data"].as_array().unwrap().len();
    assert!(n >= 2, "{n}");
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["distance"].as_f64().unwrap() < 40.0)
    );
    let alias: Value = client()
        .post(format!("{base}/portal/Mashup/Mashup.asmx/invoke"))
        .form(&[("request", req.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alias["data"], v["data"]);
    // The brute-force debug path (no HEALPix index) agrees.
    let expect: Value = client()
        .post(format!("{base}/_sandbox/expect"))
        .form(&[("request", req.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(expect["data"], v["data"]);
}

#[tokio::test]
async fn executing_then_complete_for_the_same_request() {
    let req = json!({"service": "Mast.Caom.Filtered", "params": {"columns": "COUNT_BIG(*)", "filters": [jwst()]}, "cacheBreaker": "exec-test-1"});
    for _ in 0..2 {
        let v: Value = invoke_with(req.clone(), Some("executing=2"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["status"], "EXECUTING");
    }
    let v: Value = invoke_with(req.clone(), Some("executing=2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "COMPLETE");
}

#[tokio::test]
async fn status_truncate_reset_and_error_faults() {
    let req = json!({"service": "Mast.Caom.Filtered", "params": {"columns": "*", "filters": [jwst()]}, "pagesize": 200});
    let r = invoke_with(req.clone(), Some("status=503,retry-after=7")).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "7");
    let r = invoke_with(req.clone(), Some("status=429")).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let text = invoke_with(req.clone(), Some("truncate"))
        .await
        .text()
        .await
        .unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());
    assert!(fails(req.clone(), "reset").await);
    assert!(fails(req.clone(), "rowcap=10").await);
    assert!(!fails(req.clone(), "rowcap=1000").await);
    let v: Value = invoke_with(
        req.clone(),
        Some("error=Login failed for user 'webaccess'."),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["status"], "ERROR");
    let t0 = std::time::Instant::now();
    let _ = invoke_with(json!({"service": "Mast.Caom.Filtered", "params": {"columns": "COUNT_BIG(*)", "filters": [jwst()]}}), Some("latency=300")).await;
    assert!(t0.elapsed() >= std::time::Duration::from_millis(300));
    let r = invoke_with(req, Some("bogus")).await;
    assert_eq!(r.status(), 400);
}

async fn first_product(obsid: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let p = invoke(json!({"service": "Mast.Caom.Products", "params": {"obsid": obsid}, "format": "json", "pagesize": 50000})).await;
    p["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| pred(r))
        .cloned()
        .expect("a matching product")
}

#[tokio::test]
async fn downloads_sizes_ranges_and_auth() {
    let base = base().await;
    let p = first_product("87742481", |r| {
        r["productFilename"]
            .as_str()
            .unwrap()
            .ends_with("_x1dints.fits")
    })
    .await;
    let uri = p["dataURI"].as_str().unwrap();
    let size = p["size"].as_u64().unwrap();
    let url = format!("{base}/api/v0.1/Download/file?uri={uri}");
    let head = client().head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        size.to_string()
    );
    assert_eq!(head.headers()["accept-ranges"], "bytes");
    let part = client()
        .get(&url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes 100-199/{size}")
    );
    let chunk = part.bytes().await.unwrap();
    assert_eq!(chunk.len(), 100);
    let again = client()
        .get(&url)
        .header("Range", "bytes=0-2879")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(again.starts_with(b"SIMPLE  ="));
    let bad = client()
        .get(&url)
        .header("Range", format!("bytes={size}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 416);
    // A small whole file: exact size, same bytes twice.
    let small = first_product("87742481", |r| {
        r["productFilename"]
            .as_str()
            .unwrap()
            .ends_with("_asn.json")
    })
    .await;
    let surl = format!(
        "{base}/api/v0.1/Download/file?uri={}",
        small["dataURI"].as_str().unwrap()
    );
    let a = client()
        .get(&surl)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let b = client()
        .get(&surl)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(a.len() as u64, small["size"].as_u64().unwrap());
    assert_eq!(a, b);
    let missing = client()
        .get(format!(
            "{base}/api/v0.1/Download/file?uri=mast:JWST/product/nothing_here.fits"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // Exclusive access: 401 without a token; token, Bearer and cookie work.
    let eap = invoke(filtered("Mast.Caom.Filtered", "obsid", json!([jwst(), {"paramName": "dataRights", "values": ["EXCLUSIVE_ACCESS"]}, {"paramName": "calib_level", "values": ["2"]}]))).await;
    let obsid = eap["data"][0]["obsid"].to_string();
    let f = first_product(&obsid, |r| {
        r["productFilename"].as_str().unwrap().ends_with(".jpg")
    })
    .await;
    assert_eq!(f["dataRights"], "EXCLUSIVE_ACCESS");
    let eurl = format!(
        "{base}/api/v0.1/Download/file?uri={}",
        f["dataURI"].as_str().unwrap()
    );
    assert_eq!(client().head(&eurl).send().await.unwrap().status(), 401);
    assert_eq!(client().get(&eurl).send().await.unwrap().status(), 401);
    assert_eq!(
        client()
            .get(&eurl)
            .header("Authorization", "token wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    for h in [
        ("Authorization", format!("token {DEFAULT_TOKEN}")),
        ("Authorization", format!("Bearer {DEFAULT_TOKEN}")),
        ("Cookie", format!("mast_token={DEFAULT_TOKEN}")),
    ] {
        let r = client().get(&eurl).header(h.0, h.1).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.bytes().await.unwrap().len() as u64,
            f["size"].as_u64().unwrap()
        );
    }
}

#[tokio::test]
async fn whoami_resolver_columnsconfig_bundle_and_path_lookup() {
    let base = base().await;
    let anon: Value = client()
        .get(format!("{base}/whoami"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anon["anon"], true);
    let me: Value = client()
        .get(format!("{base}/whoami"))
        .header("Cookie", format!("mast_token={DEFAULT_TOKEN}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["anon"], false);
    assert_eq!(me["attrib"]["display_name"], "Sandbox User");
    let s: Value = client()
        .get(format!(
            "{base}/Santa-war/query?name=M%2057&name=Trappist-1&outputFormat=json&resolveAll=False"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hits = s["resolvedCoordinate"].as_array().unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0]["searchString"], "m 57");
    let lookup = invoke(
        json!({"service": "Mast.Name.Lookup", "params": {"input": "M103", "format": "json"}}),
    )
    .await;
    assert_eq!(lookup["status"], "");
    assert!((lookup["resolvedCoordinate"][0]["decl"].as_f64().unwrap() - 60.659).abs() < 1e-6);
    let cc: Value = client()
        .post(format!("{base}/portal/Mashup/Mashup.asmx/columnsconfig"))
        .body("colConfigId=Mast.Caom.Cone")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cc["obs_collection"]["separator"], ";");
    assert_eq!(cc["t_exptime"]["vot.datatype"], "double");
    let si: Value = client()
        .post(format!("{base}/portal/Mashup/Mashup.asmx/columnsconfig"))
        .body("colConfigId=Mast.Jwst.Filtered.Niriss")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(si.get("date_obs_mjd").is_some());
    let script = client()
        .post(format!("{base}/api/v0.1/Download/bundle.sh"))
        .body("uri=mast%3AJWST%2Fproduct%2Fa_cal.fits&uri=mast%3AJWST%2Fproduct%2Fb_cal.fits")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(script.starts_with("#!/bin/bash"));
    assert_eq!(script.matches("curl ").count(), 2);
    let p = first_product("87742481", |r| {
        r["productFilename"]
            .as_str()
            .unwrap()
            .ends_with("_x1dints.fits")
    })
    .await;
    let uri = p["dataURI"].as_str().unwrap();
    let pl: Value = client()
        .get(format!(
            "{base}/api/v0.1/path_lookup/?uri={uri}&uri=mast:JWST/product/none.fits"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pl[uri]["status_code"], 200);
    assert!(
        pl[uri]["path"]
            .as_str()
            .unwrap()
            .starts_with("/jwst/public/jw01366/")
    );
    assert_eq!(pl["mast:JWST/product/none.fits"]["status_code"], 404);
    let info: Value = client()
        .get(format!("{base}/_sandbox/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(info["observations"].as_u64().unwrap() > 2000);
}

#[test]
fn same_seed_same_archive() {
    use mastflow::sandbox::data::Archive;
    use mastflow::sandbox::render;
    let a = Archive::bundled(1500, 42);
    let b = Archive::bundled(1500, 42);
    let c = Archive::bundled(1500, 43);
    let all = |x: &Archive| {
        let n = x.obs.num_rows();
        render::complete(
            &x.obs,
            &[],
            0..n,
            mastflow::wire::Paging::for_page(1, n as u64, n as u64),
        )
    };
    assert_eq!(all(&a), all(&b));
    assert_ne!(all(&a), all(&c));
    assert_eq!(a.products(87742481), b.products(87742481));
    for (k, v) in &a.sikw {
        let n = v.table.num_rows();
        let page = mastflow::wire::Paging::for_page(1, n as u64, n as u64);
        assert_eq!(
            render::complete(&v.table, &v.wire, 0..n, page),
            render::complete(&b.sikw[k].table, &b.sikw[k].wire, 0..n, page)
        );
    }
}

#[tokio::test]
async fn global_faults_and_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("observations.csv"),
        "obsid,obs_id,obs_collection,instrument_name,s_ra,s_dec,s_region,calib_level,dataRights,t_exptime\n\
         1,jw09999-o001_t001_miri_f770w,JWST,MIRI/IMAGE,10.0,20.0,POLYGON 9.99 19.99 10.01 19.99 10.01 20.01 9.99 20.01,3,PUBLIC,100.5\n\
         2,jw09999001001_02101_00001_mirimage,JWST,MIRI/IMAGE,10.0,20.0,,2,PUBLIC,100.5\n",
    )
    .unwrap();
    let cfg = Config {
        data_dir: Some(dir.path().to_path_buf()),
        faults: Some("executing=1,first=1".into()),
        ..Config::default()
    };
    let r = sandbox::start(cfg).await.unwrap();
    let req = json!({"service": "Mast.Caom.Cone", "params": {"ra": 10.0, "dec": 20.0, "radius": 0.001}, "format": "json"});
    let send = || {
        client()
            .post(format!("{}/api/v0/invoke", r.base_url))
            .form(&[("request", req.to_string())])
            .send()
    };
    let v: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(v["status"], "EXECUTING");
    let v: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(v["status"], "COMPLETE");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let products = r.archive.products(1);
    assert!(
        products
            .iter()
            .any(|p| p.productFilename.ends_with("_mirimage_uncal.fits"))
    );
    r.shutdown().await;
    assert!(
        sandbox::start(Config {
            faults: Some("nope".into()),
            ..Config::default()
        })
        .await
        .is_err()
    );
}

//! The sandbox's HTTP endpoints, driven with reqwest against an in-process
//! server: exact paging, MAST filter semantics, the bundled real chains,
//! downloads (ranges, 401), auth, faults and determinism.

mod common;

// `base().await`: the base URL of the sandbox all these tests share.
use common::shared_sandbox as base;
use mastflow::sandbox::{self, Config, DEFAULT_TOKEN};
use serde_json::{Value, json};
use std::collections::HashSet;

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

// ---------------------------------------------------------------- missions search API

/// A missions search as astroquery sends it: a non-empty `select_cols` ends
/// with the mission's dataset keyword (`dataset_kwds`; the strict sandbox
/// refuses it otherwise).
async fn msearch(mission: &str, mut body: Value) -> (u16, Value) {
    if let Some(cols) = body.get_mut("select_cols").and_then(Value::as_array_mut) {
        if let Some(kw) = sandbox::strict::dataset_keyword(mission).filter(|_| !cols.is_empty()) {
            cols.push(json!(kw));
        }
    }
    let r = client()
        .post(format!("{}/search/{mission}/api/v0.1/search", base().await))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// A successful JWST search.
async fn jsearch(body: Value) -> Value {
    let (s, v) = msearch("jwst", body.clone()).await;
    assert_eq!(s, 200, "{body} → {v}");
    v
}

/// `totalResults` of a JWST search with these conditions (count_only).
async fn jtotal(conditions: Value) -> u64 {
    let v = jsearch(json!({"conditions": conditions, "count_only": true})).await;
    assert_eq!(v["results"], json!([]));
    v["totalResults"].as_u64().unwrap()
}

/// Every row of a JWST search (one page large enough).
async fn jrows(mut body: Value) -> Vec<Value> {
    body["limit"] = json!(1_000_000);
    let v = jsearch(body).await;
    let rows = v["results"].as_array().unwrap().clone();
    assert_eq!(v["totalResults"].as_u64().unwrap(), rows.len() as u64);
    rows
}

fn ids(rows: &[Value]) -> Vec<i64> {
    rows.iter()
        .map(|r| r["ArchiveFileID"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn missions_search_pages_exactly() {
    let conds = json!([{"instrume": "NIRSPEC"}, {"productLevel": "2b"}]);
    let total = jtotal(conds.clone()).await;
    assert!(total > 50, "{total}");
    // The SI-keyword service over the same files agrees (another code path).
    let si = count(
        "Mast.Jwst.Filtered.Nirspec",
        json!([{"paramName": "productLevel", "values": ["2b"]}]),
    )
    .await;
    assert_eq!(total, si);
    let all = jrows(json!({"conditions": conds, "select_cols": ["filename"]})).await;
    assert_eq!(all.len() as u64, total);
    let limit = 17u64;
    let mut paged = Vec::new();
    let mut offset = 0;
    while offset < total {
        let v = jsearch(json!({"conditions": conds, "select_cols": ["filename"],
                               "limit": limit, "offset": offset}))
        .await;
        assert_eq!(v["totalResults"], total);
        assert_eq!(v["search_params"]["offset"], offset);
        assert_eq!(v["search_params"]["limit"], limit);
        let rows = v["results"].as_array().unwrap();
        assert_eq!(rows.len() as u64, limit.min(total - offset));
        paged.extend(rows.iter().cloned());
        offset += limit;
    }
    assert_eq!(
        ids(&paged),
        ids(&all),
        "pages are the full answer, in order"
    );
    let unique: HashSet<i64> = ids(&all).into_iter().collect();
    assert_eq!(unique.len() as u64, total);
    let v = jsearch(json!({"conditions": conds, "offset": total, "limit": 10})).await;
    assert_eq!(
        (v["totalResults"].as_u64(), v["results"].clone()),
        (Some(total), json!([]))
    );
    // Envelope: the fixture's keys, info types, ArchiveFileID always returned.
    let v = jsearch(json!({"conditions": conds, "limit": 1, "select_cols": ["nints", "date_obs", "tsovisit", "targ_ra"]})).await;
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "messages",
            "info",
            "search_params",
            "totalResults",
            "results"
        ]
    );
    assert_eq!(
        v["info"],
        // `fileSetName` where astroquery's `msearch` put it: last.
        json!([{"name": "ArchiveFileID", "type": "INTEGER"},
               {"name": "nints", "type": "INTEGER"}, {"name": "date_obs", "type": "DATETIME"},
               {"name": "tsovisit", "type": "BOOLEAN"}, {"name": "targ_ra", "type": "FLOAT"},
               {"name": "fileSetName", "type": "VARCHAR"}])
    );
    let row = &v["results"][0];
    let date = row["date_obs"].as_str().unwrap();
    assert!(
        date.len() >= 19 && &date[10..11] == "T",
        "ISO datetime: {date}"
    );
    assert!(row["tsovisit"].is_boolean());
    // Default columns and sort echo.
    let v = jsearch(json!({"conditions": conds, "limit": 1})).await;
    assert_eq!(
        v["search_params"]["sort_by"],
        json!(["targprop", "fileSetName", "ArchiveFileID"])
    );
    assert_eq!(v["info"].as_array().unwrap().len(), 18);
    // sort_by / sort_desc.
    let rows = jrows(json!({"conditions": conds, "select_cols": ["nints"],
                            "sort_by": ["nints", "ArchiveFileID"], "sort_desc": [true, false]}))
    .await;
    let n: Vec<i64> = rows.iter().map(|r| r["nints"].as_i64().unwrap()).collect();
    assert!(n.windows(2).all(|w| w[0] >= w[1]), "descending nints");
}

#[tokio::test]
async fn missions_condition_semantics() {
    let nrs = jtotal(json!([{"instrume": "NIRSPEC"}])).await;
    // A comma list ORs; exact text ignores case.
    let (a, b) = (
        jtotal(json!([{"exp_type": "NRS_MSASPEC"}])).await,
        jtotal(json!([{"exp_type": "NRS_IFU"}])).await,
    );
    assert!(a > 0 && b > 0);
    assert_eq!(
        jtotal(json!([{"exp_type": "NRS_MSASPEC,NRS_IFU"}])).await,
        a + b
    );
    assert_eq!(
        jtotal(json!([{"exp_type": "nrs_msaspec, nrs_ifu"}])).await,
        a + b
    );
    assert_eq!(
        jtotal(json!([{"exp_type": ["NRS_MSASPEC", "NRS_IFU"]}])).await,
        a + b
    );
    // `!` excludes; several conditions AND.
    let l2b = jtotal(json!([{"instrume": "NIRSPEC"}, {"productLevel": "2b"}])).await;
    let not2b = jtotal(json!([{"instrume": "NIRSPEC"}, {"productLevel": "!2b"}])).await;
    assert_eq!(l2b + not2b, nrs);
    assert_eq!(
        jtotal(json!([{"instrume": "NIRSPEC"}, {"productLevel": "1b,2a,!2a"}])).await,
        jtotal(json!([{"instrume": "NIRSPEC"}, {"productLevel": "1b"}])).await
    );
    // Wildcards (`*` only: `_` is literal).
    let nrs_exp: u64 = {
        let rows =
            jrows(json!({"conditions": [{"instrume": "NIRSPEC"}], "select_cols": ["exp_type"]}))
                .await;
        let kinds: HashSet<String> = rows
            .iter()
            .map(|r| r["exp_type"].as_str().unwrap().to_string())
            .collect();
        let mut n = 0;
        for k in kinds.iter().filter(|k| k.starts_with("NRS_")) {
            n += jtotal(json!([{"exp_type": k}])).await;
        }
        n
    };
    assert_eq!(jtotal(json!([{"exp_type": "NRS_*"}])).await, nrs_exp);
    assert_eq!(jtotal(json!([{"exp_type": "nrs_*"}])).await, nrs_exp);
    assert_eq!(jtotal(json!([{"exp_type": "NRS?MSASPEC"}])).await, 0);
    assert_eq!(
        jtotal(json!([{"productLevel": "1*"}])).await,
        jtotal(json!([{"productLevel": "1b"}])).await
    );
    // Numbers: comparisons and inclusive ranges.
    let rows =
        jrows(json!({"conditions": [{"instrume": "NIRCAM"}], "select_cols": ["nints"]})).await;
    let nints: Vec<i64> = rows.iter().map(|r| r["nints"].as_i64().unwrap()).collect();
    let v = nints[nints.len() / 2];
    let c = |f: &dyn Fn(i64) -> bool| nints.iter().filter(|&&x| f(x)).count() as u64;
    let nir = json!({"instrume": "NIRCAM"});
    assert_eq!(jtotal(json!([nir, {"nints": v}])).await, c(&|x| x == v));
    assert_eq!(
        jtotal(json!([nir, {"nints": format!("{v}")}])).await,
        c(&|x| x == v)
    );
    assert_eq!(
        jtotal(json!([nir, {"nints": format!("<{v}")}])).await,
        c(&|x| x < v)
    );
    assert_eq!(
        jtotal(json!([nir, {"nints": format!("<={v}")}])).await,
        c(&|x| x <= v)
    );
    assert_eq!(
        jtotal(json!([nir, {"nints": format!(">{v}")}])).await,
        c(&|x| x > v)
    );
    assert_eq!(
        jtotal(json!([nir, {"nints": format!(">={v}")}])).await,
        c(&|x| x >= v)
    );
    assert_eq!(
        jtotal(json!([nir, {"nints": format!("{v}..{}", v + 3)}])).await,
        c(&|x| (v..=v + 3).contains(&x))
    );
    assert_eq!(
        jtotal(json!([nir, {"nints": format!("{v}..{v}")}])).await,
        c(&|x| x == v)
    );
    assert_eq!(
        jtotal(json!([nir, {"nints": {"min": v, "max": v + 3}}])).await,
        c(&|x| (v..=v + 3).contains(&x))
    );
    assert_eq!(
        jtotal(json!([nir, {"nints": format!("!{v}")}])).await,
        c(&|x| x != v)
    );
    assert_eq!(
        jtotal(json!([nir, {"nints": format!("{v},>{}", v + 10)}])).await,
        c(&|x| x == v || x > v + 10)
    );
    // Booleans by meaning, datetimes by instant, and the 74 real SOSS files
    // of the SI-keyword notebook (the same files the Mashup service lists).
    let soss = json!([{"category": "COM,ERS"}, {"exp_type": "NIS_SOSS"}, {"tsovisit": "T"},
                      {"date_obs": "2022-06-01..2022-08-04"}, {"productLevel": "!1b"}]);
    let rows = jrows(json!({"conditions": soss, "select_cols": ["filename"]})).await;
    let si = invoke(filtered(
        "Mast.Jwst.Filtered.Niriss",
        "filename",
        json!([
        {"paramName": "category", "values": ["COM", "ERS"]},
        {"paramName": "exp_type", "values": ["NIS_SOSS"]},
        {"paramName": "tsovisit", "values": ["T"]},
        {"paramName": "date_obs_mjd", "values": [{"min": 59731.0, "max": 59795.0}]}]),
    ))
    .await;
    let want: HashSet<&str> = si["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["filename"].as_str().unwrap())
        .collect();
    let got: HashSet<&str> = rows
        .iter()
        .map(|r| r["filename"].as_str().unwrap())
        .collect();
    assert_eq!(want.len(), 74);
    assert_eq!(got, want);
    for t in ["true", "t", "True", "1"] {
        let c = json!([{"category": "COM,ERS"}, {"exp_type": "NIS_SOSS"}, {"tsovisit": t},
                       {"date_obs": "2022-06-01..2022-08-04"}, {"productLevel": "!1b"}]);
        assert_eq!(jtotal(c).await, 74, "tsovisit={t}");
    }
    assert_eq!(jtotal(json!([{"exp_type": "NIS_SOSS"}, {"date_obs": ">=2022-06-01 00:00:00"}, {"date_obs": "<2022-08-04"},
                             {"category": "COM,ERS"}, {"productLevel": "2a,2b,3"}])).await, 74);
    let day =
        jrows(json!({"conditions": [{"date_obs": "2022-06-08"}], "select_cols": ["date_obs"]}))
            .await;
    assert!(
        !day.is_empty()
            && day
                .iter()
                .all(|r| r["date_obs"].as_str().unwrap().starts_with("2022-06-08"))
    );
    // Nulls never match, not even a negation.
    let all = jtotal(json!([])).await;
    let with_mag = jtotal(json!([{"gs_mag": ">=-100"}])).await;
    assert!(with_mag > 0 && with_mag < all);
    assert_eq!(jtotal(json!([{"gs_mag": "!-1"}])).await, with_mag);
    // Empty values constrain nothing (the fixture sends `{"sci_obs_type": ""}`).
    assert_eq!(jtotal(json!([{"exp_type": ""}])).await, all);
}

#[tokio::test]
async fn missions_position_search() {
    let (ra, dec): (f64, f64) = (217.32661, -3.4445); // WASP-39
    let conds = json!([{"instrume": "NIRISS,NIRSPEC,NIRCAM,MIRI"}]);
    let hits = jrows(
        json!({"target": [format!("{ra} {dec}")], "radius": 30, "radius_units": "arcseconds",
                            "conditions": conds, "select_cols": ["targ_ra", "targ_dec"]}),
    )
    .await;
    assert!(!hits.is_empty());
    // Brute force over the whole table: same rows, same separations.
    let everything =
        jrows(json!({"conditions": conds, "select_cols": ["targ_ra", "targ_dec"]})).await;
    let sep = |r: &Value| {
        let (a, d) = (
            r["targ_ra"].as_f64().unwrap().to_radians(),
            r["targ_dec"].as_f64().unwrap().to_radians(),
        );
        let (a0, d0) = (ra.to_radians(), dec.to_radians());
        let h =
            ((d - d0) / 2.0).sin().powi(2) + d.cos() * d0.cos() * ((a - a0) / 2.0).sin().powi(2);
        2.0 * h.sqrt().asin().to_degrees() * 60.0
    };
    let want: HashSet<i64> = everything
        .iter()
        .filter(|r| !r["targ_ra"].is_null() && sep(r) <= 0.5)
        .map(|r| r["ArchiveFileID"].as_i64().unwrap())
        .collect();
    let got: HashSet<i64> = ids(&hits).into_iter().collect();
    assert_eq!(got, want);
    for h in &hits {
        assert_eq!(h["search_pos"], format!("{ra} {dec}"));
        assert!((h["ang_sep"].as_f64().unwrap() - sep(h)).abs() < 1e-9);
    }
    let seps: Vec<f64> = hits
        .iter()
        .map(|h| h["ang_sep"].as_f64().unwrap())
        .collect();
    assert!(
        seps.windows(2).all(|w| w[0] <= w[1]),
        "default sort: ang_sep first"
    );
    let first = hits[0].as_object().unwrap();
    assert_eq!(first.keys().next().unwrap(), "search_pos");
    assert_eq!(first.keys().next_back().unwrap(), "ang_sep");
    // Units: 30″ = 0.5′ = 1/120°; a bare radius is in arcminutes; default 3′.
    let total = hits.len() as u64;
    let t = |r: Value, u: Value| {
        let mut b = json!({"target": [format!("{ra} {dec}")], "conditions": conds, "count_only": true, "radius": r});
        if !u.is_null() {
            b["radius_units"] = u;
        }
        b
    };
    assert_eq!(
        jsearch(t(json!(0.5), json!("arcminutes"))).await["totalResults"],
        total
    );
    assert_eq!(
        jsearch(t(json!(1.0 / 120.0), json!("degrees"))).await["totalResults"],
        total
    );
    assert_eq!(
        jsearch(t(json!(0.5), Value::Null)).await["totalResults"],
        total
    );
    let v =
        jsearch(json!({"target": [format!("{ra} {dec}")], "conditions": conds, "limit": 1})).await;
    assert_eq!(
        (
            v["search_params"]["radius"].clone(),
            v["search_params"]["radius_units"].clone()
        ),
        (json!(3.0), json!("arcminutes"))
    );
    assert_eq!(
        jsearch(t(json!(180), json!("arcseconds"))).await["totalResults"],
        v["totalResults"]
    );
    // Several targets: one row per (target, file) match.
    let far = "10.0 -80.0";
    let two = jsearch(json!({"target": [format!("{ra} {dec}"), far, format!("{ra} {dec}")], "radius": 30,
                             "radius_units": "arcseconds", "conditions": conds, "count_only": true})).await;
    assert_eq!(two["totalResults"], 2 * total);
    // Our client's body: radius in arcsec, one-key conditions, lists
    // comma-joined, ranges `a..b` (services::missions).
    let ours = jsearch(
        json!({"limit": 20, "offset": 0, "select_cols": ["fileSetName", "exp_type", "nints"],
        "target": ["217.32662499999998 -3.4445"], "radius": 120.0, "radius_units": "arcseconds",
        "conditions": [{"exp_type": "NIS_SOSS"}, {"program": "1366,1541"}, {"nints": "10..2000"}],
        "sort_by": ["fileSetName"], "sort_desc": [false]}),
    )
    .await;
    let n = ours["totalResults"].as_u64().unwrap();
    assert!(n > 0);
    for r in ours["results"].as_array().unwrap() {
        assert_eq!(r["exp_type"], "NIS_SOSS");
        assert!((10..=2000).contains(&r["nints"].as_i64().unwrap()));
        assert!(r["ang_sep"].as_f64().unwrap() <= 2.0);
    }
}

#[tokio::test]
async fn missions_errors_are_http_400() {
    for (body, needle) in [
        (
            json!({"conditions": [{"no_such_column": "x"}]}),
            "no_such_column",
        ),
        (
            json!({"select_cols": ["fileSetName", "bogus_col"]}),
            "bogus_col",
        ),
        (json!({"sort_by": ["bogus_sort"]}), "bogus_sort"),
        (json!({"conditions": [{"nints": "many"}]}), "nints"),
        (
            json!({"conditions": [{"date_obs": ">yesterday"}]}),
            "date_obs",
        ),
        (
            json!({"target": ["10 20"], "radius": 31, "radius_units": "arcminutes"}),
            "30",
        ),
        (json!({"target": ["ten twenty"]}), "ten twenty"),
        (
            json!({"target": ["10 20"], "radius": 1, "radius_units": "parsecs"}),
            "parsecs",
        ),
        (json!({"conditions": [{"ang_sep": "<1"}]}), "ang_sep"),
    ] {
        let (s, v) = msearch("jwst", body.clone()).await;
        assert_eq!(s, 400, "{body}");
        let msg = v["detail"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg}");
        assert_eq!(v["messages"][0], msg);
    }
    let many: Vec<String> = (0..101).map(|i| format!("{i} 0")).collect();
    assert_eq!(msearch("jwst", json!({"target": many})).await.0, 400);
    let r = client()
        .post(format!("{}/search/jwst/api/v0.1/search", base().await))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(msearch("roman", json!({})).await.0, 404);
    // Names resolve ignoring case, like the other services.
    assert_eq!(
        msearch(
            "jwst",
            json!({"conditions": [{"EXP_TYPE": "NIS_SOSS"}], "limit": 1})
        )
        .await
        .0,
        200
    );
}

async fn mproducts(mission: &str, ids: Value) -> Vec<Value> {
    let v: Value = client()
        .post(format!(
            "{}/search/{mission}/api/v0.1/post_list_products",
            base().await
        ))
        .json(&json!({"dataset_ids": ids}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["products"].as_array().unwrap().clone()
}

#[tokio::test]
async fn missions_products_and_retrieve_product() {
    let base = base().await;
    let rows = jrows(json!({"conditions": [{"instrume": "NIRCAM"}, {"productLevel": "1b,2a,2b"}],
                            "select_cols": ["filename", "fileSize", "access"], "sort_by": ["ArchiveFileID"]}))
    .await;
    let sets: Vec<String> = rows
        .iter()
        .take(40)
        .map(|r| r["fileSetName"].as_str().unwrap().to_string())
        .collect();
    let uniq: Vec<String> = sets.iter().fold(Vec::new(), |mut v, s| {
        if !v.contains(s) {
            v.push(s.clone());
        }
        v
    });
    let products = mproducts("jwst", json!(uniq)).await;
    let keys: Vec<&str> = products[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "product_key",
            "access",
            "fileset",
            "instrument_name",
            "filters",
            "filename",
            "uri",
            "authz_primary_identifier",
            "authz_secondary_identifier",
            "file_suffix",
            "category",
            "size",
            "type"
        ]
    );
    let by_name: std::collections::HashMap<&str, &Value> = products
        .iter()
        .map(|p| (p["filename"].as_str().unwrap(), p))
        .collect();
    assert_eq!(by_name.len(), products.len(), "no duplicate files");
    // Every searched file is a product of its file set, same size and access.
    for r in rows.iter().take(40) {
        let p = by_name[r["filename"].as_str().unwrap()];
        assert_eq!(p["fileset"], r["fileSetName"]);
        assert_eq!(p["size"], r["fileSize"]);
        assert_eq!(p["access"], r["access"]);
        assert_eq!(p["instrument_name"], "NIRCAM");
    }
    for p in &products {
        let f = p["filename"].as_str().unwrap();
        assert!(f.starts_with(p["fileset"].as_str().unwrap()));
        assert_eq!(p["uri"], format!("{}/{f}", p["fileset"].as_str().unwrap()));
        assert!(p["file_suffix"].as_str().unwrap().starts_with('_'));
    }
    let cats: HashSet<&str> = products
        .iter()
        .map(|p| p["category"].as_str().unwrap())
        .collect();
    assert!(
        cats.contains("1b") && cats.contains("2a") && cats.contains("2b"),
        "{cats:?}"
    );
    // Request order, duplicates once, unknown ids nothing; GET list_products agrees.
    let one = mproducts(
        "jwst",
        json!([uniq[0], uniq[0], "jw99999999999_99999_99999"]),
    )
    .await;
    assert_eq!(one, mproducts("jwst", json!([uniq[0]])).await);
    assert!(one.iter().all(|p| p["fileset"] == uniq[0].as_str()));
    let get: Value = client()
        .get(format!(
            "{base}/search/jwst/api/v0.1/list_products?dataset_ids={}",
            uniq[0]
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get["products"], json!(one));
    // retrieve_product: Download/file's bytes, for a URI, a path or a name.
    let small = products
        .iter()
        .filter(|p| p["access"] == "PUBLIC")
        .min_by_key(|p| p["size"].as_i64().unwrap())
        .unwrap();
    let f = small["filename"].as_str().unwrap();
    let want = client()
        .get(format!(
            "{base}/api/v0.1/Download/file?uri=mast:JWST/product/{f}"
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(want.len() as i64, small["size"].as_i64().unwrap());
    for name in [
        small["uri"].as_str().unwrap().replace('/', "%2F"),
        f.to_string(),
        format!("mast:JWST/product/{f}"),
    ] {
        let r = client()
            .get(format!(
                "{base}/search/jwst/api/v0.1/retrieve_product?product_name={name}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(r.bytes().await.unwrap(), want);
    }
    let r = client()
        .get(format!(
            "{base}/search/jwst/api/v0.1/retrieve_product?product_name={f}"
        ))
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap(), want.slice(10..20));
    let r = client()
        .get(format!(
            "{base}/search/jwst/api/v0.1/retrieve_product?product_name=jw99_nope_cal.fits"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Exclusive access: 401 without the token, the bytes with it.
    let eap = jrows(
        json!({"conditions": [{"access": "EXCLUSIVE_ACCESS"}, {"productLevel": "2b"}],
                           "select_cols": ["filename", "fileSize"], "limit": 1}),
    )
    .await;
    let f = eap[0]["filename"].as_str().unwrap();
    let url = format!("{base}/search/jwst/api/v0.1/retrieve_product?product_name={f}");
    assert_eq!(client().head(&url).send().await.unwrap().status(), 401);
    let r = client()
        .head(&url)
        .header("Authorization", format!("token {DEFAULT_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"].to_str().unwrap(),
        eap[0]["fileSize"].to_string()
    );
}

#[tokio::test]
async fn missions_column_list_and_hst() {
    let base = base().await;
    let cols: Vec<Value> = client()
        .get(format!(
            "{base}/search/util/api/v0.1/column_list?mission=jwst"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys: Vec<&str> = cols[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "field_name",
            "description",
            "column_name",
            "queryable",
            "qual_type",
            "default_output",
            "indexed",
            "datatype"
        ]
    );
    let names: HashSet<&str> = cols
        .iter()
        .map(|c| c["column_name"].as_str().unwrap())
        .collect();
    for c in &cols {
        let q = c["qual_type"].as_str().unwrap();
        assert!(
            [
                "string",
                "float",
                "integer",
                "datetime",
                "boolean",
                "ra",
                "dec",
                "substring"
            ]
            .contains(&q)
        );
        assert!(["char", "float", "long", "double"].contains(&c["datatype"].as_str().unwrap()));
    }
    let all = jsearch(
        json!({"limit": 1, "select_cols": cols.iter().filter(|c| c["queryable"] == "yes")
        .map(|c| c["column_name"].clone()).collect::<Vec<_>>()}),
    )
    .await;
    for i in all["info"].as_array().unwrap() {
        assert!(names.contains(i["name"].as_str().unwrap()));
    }
    let defaults: Vec<&str> = cols
        .iter()
        .filter(|c| c["default_output"] == "yes" && c["queryable"] == "yes")
        .map(|c| c["column_name"].as_str().unwrap())
        .collect();
    let d = jsearch(json!({"limit": 1})).await;
    let got: HashSet<&str> = d["info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(got, defaults.iter().copied().collect::<HashSet<_>>());
    assert_eq!(
        client()
            .get(format!(
                "{base}/search/util/api/v0.1/column_list?mission=nope"
            ))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // HST: one row per HST observation, products by dataset.
    let (s, v) = msearch("hst", json!({"limit": 1000})).await;
    assert_eq!(s, 200);
    let n = v["totalResults"].as_u64().unwrap();
    let caom = count(
        "Mast.Caom.Filtered",
        json!([{"paramName": "obs_collection", "values": ["HST"]}]),
    )
    .await;
    assert_eq!(n, caom);
    let row = &v["results"][0];
    let ds = row["sci_data_set_name"].as_str().unwrap();
    let p = mproducts("hst", json!([ds.to_ascii_lowercase()])).await;
    assert!(!p.is_empty());
    assert!(
        p.iter().all(
            |x| x["dataset"] == ds && x["uri"].as_str().unwrap().starts_with(&format!("{ds}/"))
        )
    );
    let f = p[0]["uri"].as_str().unwrap();
    let r = client()
        .head(format!(
            "{base}/search/hst/api/v0.1/retrieve_product?product_name={}",
            f.replace('/', "%2F")
        ))
        .send()
        .await
        .unwrap();
    let expect = if p[0]["access"] == "PUBLIC" { 200 } else { 401 };
    assert_eq!(r.status(), expect);
}

#[tokio::test]
async fn guide_star_keywords_name_real_files() {
    let base = base().await;
    let v = invoke(filtered(
        "Mast.Jwst.Filtered.GuideStar",
        "filename,exp_type,gdstarid,gs_ra,gs_mag,fileSize",
        json!([{"paramName": "exp_type", "values": ["FGS_TRACK"]}]),
    ))
    .await;
    let rows = v["data"].as_array().unwrap();
    assert!(!rows.is_empty());
    for r in rows.iter().take(5) {
        assert_eq!(r["exp_type"], "FGS_TRACK");
        assert!(r["gs_mag"].as_f64().unwrap() > 10.0);
        let f = r["filename"].as_str().unwrap();
        assert!(f.contains("_gs-track_") && f.ends_with("_cal.fits"));
        let h = client()
            .head(format!(
                "{base}/api/v0.1/Download/file?uri=mast:JWST/product/{f}"
            ))
            .header("Authorization", format!("token {DEFAULT_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(h.status(), 200, "{f} is a product");
        assert_eq!(
            h.headers()["content-length"].to_str().unwrap(),
            r["fileSize"].to_string()
        );
    }
}

#[tokio::test]
async fn stats_count_every_request() {
    let r = sandbox::start(Config {
        scale: 200,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client();
    let stats = |m: reqwest::Method| {
        c.request(m, format!("{}/_sandbox/stats", r.base_url))
            .send()
    };
    let v: Value = stats(reqwest::Method::GET)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["requests"], 0);
    for _ in 0..3 {
        c.post(format!("{}/api/v0/invoke", r.base_url))
            .form(&[(
                "request",
                json!({"service": "Mast.Caom.Cone", "params": {"ra": 1, "dec": 2}}).to_string(),
            )])
            .send()
            .await
            .unwrap();
    }
    c.get(format!("{}/whoami", r.base_url))
        .send()
        .await
        .unwrap();
    c.post(format!("{}/search/jwst/api/v0.1/search", r.base_url))
        .json(&json!({"limit": 1}))
        .send()
        .await
        .unwrap();
    let v: Value = stats(reqwest::Method::DELETE)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["requests"], 5);
    assert_eq!(
        v["by_path"],
        json!({"/api/v0/invoke": 3, "/whoami": 1, "/search/jwst/api/v0.1/search": 1})
    );
    let v: Value = stats(reqwest::Method::GET)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["requests"], 0, "DELETE resets");
    r.shutdown().await;
}

#[tokio::test]
async fn our_missions_step_against_the_sandbox() {
    let base = base().await;
    let manifest = r#"
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
    columns: [fileSetName, exp_type, nints]
    page_size: 5
outputs:
  - {from: soss, path: soss.csv}
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.yaml"), manifest).unwrap();
    let d = dir.path().to_path_buf();
    let b = base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mastflow"))
            .arg("run")
            .arg(d.join("m.yaml"))
            .args(["--base-url", &b, "-q", "--out"])
            .arg(d.join("out"))
            .env("NO_PROXY", "127.0.0.1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.path().join("out/soss.csv")).unwrap();
    let rows = csv.lines().count() - 1;
    let want = jsearch(json!({"target": ["217.32662499999998 -3.4445"], "radius": 120.0, "radius_units": "arcseconds",
        "conditions": [{"exp_type": "NIS_SOSS"}, {"program": "1366,1541"}, {"nints": "10..2000"}], "count_only": true}))
    .await;
    assert_eq!(rows as u64, want["totalResults"].as_u64().unwrap());
    assert!(rows > 5, "several pages of 5");
}

//! The MAST token: sent to the MAST host, never written to any output, log,
//! run record or error; `whoami`; private token files only.

use assert_cmd::Command;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::{Arc, Mutex};

const SECRET: &str = "s3cret-mast-token-4f9a";

async fn server() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let app = Router::new()
        .route(
            "/api/v0/invoke",
            post(move |headers: HeaderMap| {
                let seen = s1.clone();
                async move {
                    seen.lock().unwrap().push(headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string());
                    // An error message that quotes the request must not leak it either.
                    Json(json!({"status": "COMPLETE", "msg": "", "fields": [{"name": "obs_id", "type": "string"}], "data": [{"obs_id": "jw01"}],
                        "paging": {"page": 1, "pageSize": 50000, "pagesFiltered": 1, "rows": 1, "rowsFiltered": 1, "rowsTotal": 1}}))
                }
            }),
        )
        .route(
            "/whoami",
            get(move |headers: HeaderMap| {
                let seen = s2.clone();
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    seen.lock().unwrap().push(auth.clone());
                    let ok = auth == format!("token {SECRET}");
                    Json(if ok {
                        json!({"anon": false, "attrib": {"display_name": "Ada Astronomer"}, "eppn": "", "ezid": "ada", "scopes": ["mast:exclusive_access"]})
                    } else {
                        json!({"anon": true, "attrib": {}, "eppn": "", "ezid": "", "scopes": []})
                    })
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn all_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_goes_to_mast_and_nowhere_else() {
    let (base, seen) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    std::fs::write(
        &m,
        "version: 1\nname: eap\nsteps:\n  obs:\n    kind: caom\n    criteria: {obs_collection: JWST, dataRights: EXCLUSIVE_ACCESS}\n  broken:\n    kind: derive\n    from: obs\n    columns: {x: \"obs_id + 1\"}\noutputs:\n  - {from: obs, path: obs.ecsv}\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let mut outputs = Vec::new();
    for fmt in ["text", "json"] {
        let (b, m2, o2) = (base.clone(), m.clone(), out.clone());
        let o = tokio::task::spawn_blocking(move || {
            Command::cargo_bin("mastflow")
                .unwrap()
                .env("MAST_API_TOKEN", SECRET)
                .arg("run")
                .arg(&m2)
                .args([
                    "--keep-going",
                    "--log-format",
                    fmt,
                    "--base-url",
                    &b,
                    "--out",
                ])
                .arg(&o2)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(o.status.code(), Some(1), "the broken step fails");
        outputs.push(o);
    }
    // Sent, as `Authorization: token ...`, to the MAST host.
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|h| h == &format!("token {SECRET}"))
    );
    // Not in stdout, stderr, outputs or the run record.
    for o in &outputs {
        assert!(!String::from_utf8_lossy(&o.stdout).contains(SECRET));
        assert!(!String::from_utf8_lossy(&o.stderr).contains(SECRET));
    }
    let files = all_files(&out);
    assert!(files.len() >= 2);
    for f in files {
        assert!(
            !String::from_utf8_lossy(&std::fs::read(&f).unwrap()).contains(SECRET),
            "{} contains the token",
            f.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn whoami_names_the_user_or_says_anonymous() {
    let (base, _) = server().await;
    let b = base.clone();
    let o = tokio::task::spawn_blocking(move || {
        Command::cargo_bin("mastflow")
            .unwrap()
            .env("MAST_API_TOKEN", SECRET)
            .args(["whoami", "--base-url", &b])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Ada Astronomer\n");
    let b = base.clone();
    let o = tokio::task::spawn_blocking(move || {
        Command::cargo_bin("mastflow")
            .unwrap()
            .env("MAST_API_TOKEN", "wrong")
            .args(["whoami", "--base-url", &b])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("anonymous"));
}

#[cfg(unix)]
#[test]
fn a_token_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("token");
    std::fs::write(&f, SECRET).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .env_remove("MAST_API_TOKEN")
        .arg("whoami")
        .arg("--token-file")
        .arg(&f)
        .args(["--base-url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains(SECRET));
}

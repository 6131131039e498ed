//! `mastflow fetch` against a hostile sandbox: a server sending more bytes
//! than the plan's size fails that file and keeps no oversized `.part`.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

const MANIFEST: &str = r#"
version: 1
name: plan
steps:
  observations:
    kind: caom
    criteria: {obs_collection: JWST, proposal_id: "1073", instrument_name: NIRCAM/IMAGE}
  products:
    kind: products
    from: observations
  uncal:
    kind: filter_products
    from: products
    where: {productSubGroupDescription: UNCAL}
  first:
    kind: head
    from: uncal
    n: 1
  plan:
    kind: download_plan
    from: first
outputs:
  - {from: plan, path: downloads/plan.json, kind: download_plan}
"#;

fn mastflow(base: &str, args: &[&str], dir: &Path) -> std::process::Output {
    Command::cargo_bin("mastflow")
        .unwrap()
        .env_remove("MAST_API_TOKEN")
        .args(args)
        .args(["--base-url", base])
        .current_dir(dir)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn extra_bytes_fail_the_file_and_leave_no_part() {
    let sandbox = mastflow::sandbox::start(mastflow::sandbox::Config {
        faults: Some("extra-bytes=100000,only=download".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let base = sandbox.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::write(d.join("m.yaml"), MANIFEST).unwrap();
        let o = mastflow(&base, &["run", "-q", "m.yaml", "--out", "out"], &d);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let plan = d.join("out/downloads/plan.json");
        let o = mastflow(&base, &["fetch", "out/downloads/plan.json"], &d);
        assert!(!o.status.success());
        let report: Value = serde_json::from_slice(
            &std::fs::read(plan.with_file_name("plan.fetch-report.json")).unwrap(),
        )
        .unwrap();
        let f = &report["files"][0];
        assert_eq!(f["status"], "failed", "{report}");
        let err = f["error"].as_str().unwrap();
        assert!(err.contains("more than the plan's size"), "{err}");
        let doc: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
        let path = plan.with_file_name(doc["files"][0]["path"].as_str().unwrap());
        assert!(!path.exists());
        assert!(!Path::new(&format!("{}.part", path.display())).exists());
    })
    .await
    .unwrap();
    sandbox.shutdown().await;
}

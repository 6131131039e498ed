//! Empty results are a normal answer: a sandbox search that finds nothing
//! (program 9999 has no observations) runs through every step kind and every
//! output format with exit 0, each output keeping its columns (CSV header,
//! ECSV header, VOTable FIELDs, JSON columns), the download plan is a valid
//! empty plan whose scripts do nothing, and `--locked` still exits 3 when the
//! results change to nothing.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

const MANIFEST: &str = r#"
version: 1
name: empty
params:
  program: {default: "9999"}
steps:
  observations:
    kind: caom
    criteria: {obs_collection: JWST, proposal_id: "{{ params.program }}", instrument_name: NIRCAM/IMAGE}
  products:
    kind: products
    from: observations
  uncal:
    kind: filter_products
    from: products
    where: {productSubGroupDescription: UNCAL}
  plan:
    kind: download_plan
    from: uncal
  volume:
    kind: group
    from: uncal
    by: [obs_collection]
    aggregates: {files: count, bytes: sum(size)}
  long:
    kind: filter
    from: observations
    expr: t_exptime > 10
  picked:
    kind: select
    from: long
    columns: [obs_id, proposal_id, t_exptime]
  derived:
    kind: derive
    from: picked
    columns: {minutes: "t_exptime / 60"}
  sorted:
    kind: sort
    from: derived
    by: [-t_exptime]
  distinct:
    kind: unique
    from: sorted
    keys: [obs_id]
  first:
    kind: head
    from: distinct
    n: 5
  programs:
    kind: table
    rows: [{proposal_id: "1073", pi: Hodapp}]
  joined:
    kind: join
    left: first
    right: programs
    on: [proposal_id]
  both:
    kind: union
    from: [first, first]
    tag: source
  nothing:
    kind: assert
    from: joined
    rows: {max: 5}
    not_null: [obs_id]
outputs:
  - {from: observations, path: observations.ecsv}
  - {from: observations, path: observations.vot}
  - {from: products, path: products.json}
  - {from: uncal, path: uncal.csv}
  - {from: volume, path: volume.csv}
  - {from: plan, path: downloads/plan.json, kind: download_plan}
  - {from: derived, path: derived.csv}
  - {from: sorted, path: sorted.csv}
  - {from: distinct, path: distinct.csv}
  - {from: first, path: first.csv}
  - {from: joined, path: joined.csv}
  - {from: both, path: both.csv}
  - {from: nothing, path: nothing.csv}
"#;

fn mastflow(dir: &Path, args: &[&str]) -> std::process::Output {
    std::fs::write(dir.join("m.yaml"), MANIFEST).unwrap();
    Command::cargo_bin("mastflow")
        .unwrap()
        .env_remove("MAST_API_TOKEN")
        .env("MASTFLOW_CACHE_DIR", dir.join("cache"))
        .args(["run", "--sandbox", "-q"])
        .arg(dir.join("m.yaml"))
        .arg("--out")
        .arg(dir.join("out"))
        .args(args)
        .output()
        .unwrap()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join("out").join(name)).unwrap()
}

/// The one line of a header-only CSV.
fn csv_header(dir: &Path, name: &str) -> String {
    let text = read(dir, name);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{name}: a header and no rows:\n{text}");
    lines[0].to_string()
}

#[test]
fn an_empty_search_runs_through_every_step_and_output() {
    let d = tempfile::tempdir().unwrap();
    let o = mastflow(d.path(), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "exit {:?}: {err}", o.status.code());

    let uncal = csv_header(d.path(), "uncal.csv");
    for c in ["dataURI", "productFilename", "size", "obs_collection"] {
        assert!(
            uncal.split(',').any(|x| x == c),
            "uncal.csv lacks {c}: {uncal}"
        );
    }
    assert_eq!(
        csv_header(d.path(), "volume.csv"),
        "obs_collection,files,bytes"
    );
    let picked = "obs_id,proposal_id,t_exptime,minutes";
    for f in ["derived.csv", "sorted.csv", "distinct.csv", "first.csv"] {
        assert_eq!(csv_header(d.path(), f), picked, "{f}");
    }
    assert_eq!(
        csv_header(d.path(), "joined.csv"),
        "obs_id,proposal_id,t_exptime,minutes,pi"
    );
    assert_eq!(csv_header(d.path(), "both.csv"), format!("{picked},source"));
    assert_eq!(
        csv_header(d.path(), "nothing.csv"),
        "obs_id,proposal_id,t_exptime,minutes,pi"
    );

    let ecsv = read(d.path(), "observations.ecsv");
    assert!(ecsv.contains("# - {name: obs_id"), "{ecsv}");
    let header = ecsv.lines().find(|l| !l.starts_with('#')).unwrap();
    assert!(
        header.contains("t_exptime") && header.contains("obsid"),
        "{header}"
    );
    let vot = read(d.path(), "observations.vot");
    assert!(vot.matches("<FIELD ").count() >= 30, "{vot}");
    let json: Value = serde_json::from_str(&read(d.path(), "products.json")).unwrap();
    assert!(json["columns"].as_array().unwrap().len() >= 19, "{json}");
    assert_eq!(json["rows"].as_array().unwrap().len(), 0);
}

#[test]
fn an_empty_download_plan_is_valid_and_its_scripts_do_nothing() {
    let d = tempfile::tempdir().unwrap();
    let o = mastflow(d.path(), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plan: Value = serde_json::from_str(&read(d.path(), "downloads/plan.json")).unwrap();
    assert_eq!(plan["files"].as_array().unwrap().len(), 0, "{plan}");
    assert_eq!(plan["totals"]["files"], 0);
    assert_eq!(plan["totals"]["bytes"], 0);
    let csv = csv_header(d.path(), "downloads/plan.csv");
    assert!(csv.starts_with("dataURI,productFilename,path,url"), "{csv}");
    for script in ["plan.curl.sh", "plan.wget.sh"] {
        let path = d.path().join("out/downloads").join(script);
        let s = std::process::Command::new("bash")
            .arg(&path)
            .current_dir(d.path())
            .output()
            .unwrap();
        assert!(
            s.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&s.stderr)
        );
    }
    // Nothing downloaded: the output directory holds only what the run wrote.
    let mut entries: Vec<String> = std::fs::read_dir(d.path().join("out/downloads"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert!(
        entries.iter().all(|e| e.starts_with("plan.")),
        "{entries:?}"
    );
}

#[test]
fn locked_still_exits_3_when_results_become_empty() {
    let d = tempfile::tempdir().unwrap();
    let o = mastflow(d.path(), &["--set", "program=1073", "--update-lock"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = mastflow(d.path(), &["--locked"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("uncal"), "{err}");
}

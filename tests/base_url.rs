//! `mast_url` and `--base-url` are `http(s)://host[:port][/path]` with safe
//! characters only (issue 12 item 1): a URL that could carry a shell command
//! into `plan.curl.sh` is refused at validation, at its file:line:col, or
//! before the run starts, and nothing is written.

use std::path::Path;
use std::process::Command;

const HOSTILE: &str = "http://127.0.0.1:9/'$(touch PWNED)'";

fn mastflow(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mastflow"))
        .current_dir(dir)
        .args(args)
        .env_remove("MASTFLOW_BASE_URL")
        .env("MASTFLOW_CACHE_DIR", dir.join("cache"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn manifest(dir: &Path, mast_url: Option<&str>) -> std::path::PathBuf {
    let url = mast_url.map_or(String::new(), |u| format!("mast_url: \"{u}\"\n"));
    let text = format!(
        "version: 1\nname: t\n{url}steps:\n  obs:\n    kind: caom\n    criteria: {{obs_collection: JWST, proposal_id: \"1073\"}}\n  products:\n    kind: products\n    from: obs\noutputs:\n  - {{from: products, path: p.csv}}\n"
    );
    let m = dir.join("m.yaml");
    std::fs::write(&m, text).unwrap();
    m
}

#[test]
fn a_hostile_mast_url_is_refused_where_it_is_written() {
    let d = tempfile::tempdir().unwrap();
    manifest(d.path(), Some(HOSTILE));
    let (code, text) = mastflow(d.path(), &["validate", "m.yaml"]);
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("m.yaml:3:"), "no file:line:col: {text}");
    assert!(text.contains("the character `'`"), "{text}");
    assert!(text.contains("http(s)://host[:port]"), "{text}");
    let (code, text) = mastflow(d.path(), &["run", "m.yaml", "--out", "out"]);
    assert_ne!(code, Some(0), "{text}");
    assert!(
        !d.path().join("out").exists(),
        "a refused run wrote outputs"
    );
    assert!(!d.path().join("PWNED").exists());
}

#[test]
fn a_hostile_base_url_flag_is_refused_before_any_request() {
    let d = tempfile::tempdir().unwrap();
    manifest(d.path(), None);
    for bad in [HOSTILE, "http://h/a\nb", "http://user:pw@h", "file:///etc"] {
        let (code, text) = mastflow(
            d.path(),
            &["run", "m.yaml", "--out", "out", "--base-url", bad],
        );
        assert_ne!(code, Some(0), "{bad}: {text}");
        assert!(text.contains("--base-url"), "{bad}: {text}");
        assert!(text.contains("http(s)://host[:port]"), "{bad}: {text}");
        assert!(!text.contains("[ok]"), "{bad}: a step ran: {text}");
        assert!(!d.path().join("out").join("plan.curl.sh").exists());
    }
    assert!(!d.path().join("PWNED").exists());
}

#[test]
fn a_plain_mast_url_with_a_path_is_accepted() {
    let d = tempfile::tempdir().unwrap();
    manifest(d.path(), Some("http://127.0.0.1:9/mirror/mast-v2"));
    let (code, text) = mastflow(d.path(), &["validate", "m.yaml"]);
    assert_eq!(code, Some(0), "{text}");
}

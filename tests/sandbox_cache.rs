//! `run --sandbox` keeps its answers out of the user's response cache
//! (issue 13 item 9): the sandbox gets a cache of its own, removed after.

use assert_cmd::Command;

#[test]
fn a_sandbox_run_leaves_the_users_cache_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("user-cache");
    let o = Command::cargo_bin("mastflow")
        .unwrap()
        .env_remove("MAST_API_TOKEN")
        .env("MASTFLOW_CACHE_DIR", &cache)
        .env("TMPDIR", dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "-q",
            "--sandbox",
            "manifests/examples/large-downloads.yaml",
            "--out",
        ])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.path().join("out/run.json").exists());
    let entries = std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        entries, 0,
        "the sandbox's answers went into the user's cache"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".mastflow-sandbox-cache"))
        .collect();
    assert!(
        left.is_empty(),
        "the sandbox's cache was not removed: {left:?}"
    );
}

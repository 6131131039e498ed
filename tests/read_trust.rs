//! What a `table` step may read: the manifest's directory (or `--allow-read`),
//! never /proc, /sys, /dev, only regular files (a FIFO is refused unopened).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn manifest(dir: &Path, file: &str) -> std::path::PathBuf {
    let m = dir.join("m.yaml");
    let text = format!("version: 1\nname: t\nsteps:\n  t:\n    kind: table\n    file: {file}\n");
    std::fs::write(&m, text).unwrap();
    m
}

fn validate(m: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mastflow"))
        .arg("validate")
        .arg(m)
        .args(extra)
        .env("MAST_API_TOKEN", "SECRET-TOKEN-4242")
        .env_remove("MASTFLOW_ALLOW_READ")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn proc_environ_is_refused_and_the_token_never_shows() {
    let d = tempfile::tempdir().unwrap();
    let m = manifest(d.path(), "/proc/self/environ");
    let (ok, text) = validate(&m, &["--allow-read", "/"]);
    assert!(!ok, "{text}");
    assert!(text.contains("system tree"), "{text}");
    assert!(!text.contains("SECRET-TOKEN-4242"), "{text}");
}

#[test]
fn outside_the_manifest_dir_is_refused_until_allowed() {
    let d = tempfile::tempdir().unwrap();
    let sub = d.path().join("m");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(d.path().join("o.csv"), "a\n1\n").unwrap();
    let m = manifest(&sub, "../o.csv");
    let (ok, text) = validate(&m, &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("--allow-read"), "{text}");
    let (ok, text) = validate(&m, &["--allow-read", d.path().to_str().unwrap()]);
    assert!(ok, "{text}");
}

#[cfg(unix)]
#[test]
fn a_symlink_pointing_outside_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let sub = d.path().join("m");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(d.path().join("o.csv"), "a\n1\n").unwrap();
    std::os::unix::fs::symlink(d.path().join("o.csv"), sub.join("l.csv")).unwrap();
    let m = manifest(&sub, "l.csv");
    let (ok, text) = validate(&m, &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("outside the manifest"), "{text}");
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_at_once() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("f.csv");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    let m = manifest(d.path(), "f.csv");
    let t0 = Instant::now();
    let (ok, text) = validate(&m, &[]);
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(!ok, "{text}");
    assert!(text.contains("not a regular file"), "{text}");
}

#[test]
fn a_directory_is_refused() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("x.csv")).unwrap();
    let m = manifest(d.path(), "x.csv");
    let (ok, text) = validate(&m, &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("a directory"), "{text}");
}

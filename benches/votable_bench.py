#!/usr/bin/env python3
"""votable-1m: read a 1,000,000-row VOTable in BINARY2 and in TABLEDATA.

    python3 benches/votable_bench.py            # cargo build --release, 3 runs each
    python3 benches/votable_bench.py --quick    # 1 run each
    python3 benches/votable_bench.py --no-build --rows 200000 --cds-bin /tmp/cds-eval/target/release/cds_eval

The input is benches/gen_votable.py's obscore-like table (13 columns: strings
with nulls, doubles, a float, a short with VALUES null, a long, a boolean),
generated once per (rows, seed, generator version) into target/bench/votable/.
Each reader runs as its own process, in the same run, timed from spawn to
wait4 (median of N runs), with its peak RSS taken as in benches/bench.py:

- mastflow: `mastflow inspect FILE --format json` (read the whole table into
  columns, count nulls);
- astropy: benches/astropy_votable_read.py (`parse` + `to_table`; its import
  and read times are also taken in-process);
- STILTS: `stilts tpipe in=FILE ifmt=votable omode=count`; its JVM start-up
  and STIL set-up are measured on a 10-row file and reported separately;
- optionally the CDS `votable` crate (`--cds-bin`, a binary that streams the
  file with its row iterator and prints JSON; not part of this repository).

Checks on every run: every reader sees all rows; mastflow's null count of
every column equals the generator's; astropy's equals it on the non-string
columns (astropy does not mask null strings). Figures are ratios against the
peers measured in the same run; nothing is a timed assertion.

Writes target/bench/votable.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402  the runner, launcher and formatting of benches/bench.py

OUT_DIR = os.path.join(B.BENCH_DIR, "votable")
SEED = 20240301
SERIALISATIONS = ["binary2", "tabledata"]


def ensure_inputs(rows: int) -> dict:
    """The two files and the generator's summary, made once per (rows, seed, generator)."""
    os.makedirs(OUT_DIR, exist_ok=True)
    prefix = os.path.join(OUT_DIR, f"obscore-{rows}")
    with open(os.path.join(HERE, "gen_votable.py"), "rb") as f:
        stamp = f"{rows} {SEED} {hashlib.sha256(f.read()).hexdigest()[:16]}"
    summary_path, stamp_path = prefix + ".json", prefix + ".stamp"
    if os.path.exists(stamp_path) and open(stamp_path).read() == stamp and os.path.exists(summary_path):
        return json.load(open(summary_path))
    print(f"generating {rows} rows -> {prefix}.{{b2,td}}.vot", file=sys.stderr)
    out = subprocess.run([sys.executable, os.path.join(HERE, "gen_votable.py"), prefix, "--rows", str(rows),
                          "--seed", str(SEED)], check=True, capture_output=True, text=True).stdout
    with open(summary_path, "w") as f:
        f.write(out)
    with open(stamp_path, "w") as f:
        f.write(stamp)
    return json.loads(out)


def measure(cmd: list[str], n_runs: int) -> tuple[dict, B.Run]:
    runs = B.repeat(cmd, n_runs, warmup=False)
    return B.summary(runs), runs[-1]


def mastflow(path: str, n_runs: int, gen: dict) -> dict:
    s, last = measure([B.BIN, "inspect", path, "--format", "json"], n_runs)
    rep = json.loads(last.stdout)
    nulls = {c["name"]: c["nulls"] for c in rep["columns"]}
    s["rows"] = rep["rows"]
    s["nulls_match_generator"] = nulls == gen["nulls"]
    s["nulls"] = nulls
    return s


def astropy(path: str, n_runs: int, gen: dict) -> dict:
    runs = B.repeat([sys.executable, os.path.join(HERE, "astropy_votable_read.py"), path], n_runs)
    reps = [json.loads(r.stdout.strip().splitlines()[-1]) for r in runs]
    s = B.summary(runs)
    for k in ("import_s", "parse_s", "to_table_s", "read_s"):
        s[k] = B.median([r[k] for r in reps])
    s["rows"] = reps[-1]["rows"]
    strings = {"obs_id", "obs_collection", "instrument_name", "target_name", "filters"}
    s["nulls_match_generator_non_string"] = all(
        reps[-1]["nulls"][c] == n for c, n in gen["nulls"].items() if c not in strings)
    s["nulls"] = reps[-1]["nulls"]
    return s


def stilts(path: str, n_runs: int) -> dict:
    s, last = measure(["stilts", "tpipe", f"in={path}", "ifmt=votable", "omode=count"], n_runs)
    # "columns: 13   rows: 1000000"
    s["rows"] = int(last.stdout.split("rows:")[1].split()[0])
    return s


def cds(path: str, n_runs: int, bin_path: str, gen: dict) -> dict:
    s, last = measure([bin_path, path], n_runs)
    rep = json.loads(last.stdout.strip().splitlines()[-1])
    s["rows"] = rep["rows"]
    s["nulls_match_generator"] = rep["nulls"] == list(gen["nulls"].values())
    return s


def bench(rows: int, n_runs: int, peers: dict) -> dict:
    gen = ensure_inputs(rows)
    res: dict = {"rows": rows, "seed": SEED, "generator_nulls": gen["nulls"], "files": {}}
    res["mastflow_startup_s"] = B.median([r.wall for r in B.repeat([B.BIN, "--version"], 3)])
    if peers["stilts"]:
        tiny = ensure_inputs(10)["files"]["binary2"]
        res["stilts_startup"] = stilts(tiny, max(n_runs, 3))
    for ser in SERIALISATIONS:
        path = gen["files"][ser]
        size = os.path.getsize(path)
        r: dict = {"path": os.path.relpath(path, B.ROOT), "bytes": size, "readers": {}}
        r["readers"]["mastflow"] = mastflow(path, n_runs, gen)
        if peers["astropy"]:
            r["readers"]["astropy"] = astropy(path, n_runs, gen)
        if peers["stilts"]:
            r["readers"]["stilts"] = stilts(path, n_runs)
        if peers["cds"]:
            r["readers"]["cds-votable"] = cds(path, n_runs, peers["cds"], gen)
        for name, x in r["readers"].items():
            x["mb_per_s"] = size / 1e6 / x["wall_s"]
            x["rows_per_s"] = rows / x["wall_s"]
            x["all_rows"] = x["rows"] == rows
        m = r["readers"]["mastflow"]
        r["ratios_mastflow_over"] = {
            name: {"wall": m["wall_s"] / x["wall_s"], "cpu": m["cpu_s"] / x["cpu_s"],
                   "peak_rss": m["peak_rss_mb"] / x["peak_rss_mb"]}
            for name, x in r["readers"].items() if name != "mastflow"
        }
        res["files"][ser] = r
    return res


def print_results(r: dict) -> None:
    print(f"\nvotable-1m: {r['rows']:,} rows × 13 columns (mastflow start-up {B.fmt_s(r['mastflow_startup_s'])})")
    if "stilts_startup" in r:
        print(f"  STILTS JVM start-up + STIL on a 10-row file: {B.fmt_s(r['stilts_startup']['wall_s'])}, "
              f"{r['stilts_startup']['peak_rss_mb']:.0f} MB")
    rows = []
    for ser, f in r["files"].items():
        for name, x in f["readers"].items():
            ratio = f["ratios_mastflow_over"].get(name)
            rows.append([
                f"{ser} ({f['bytes'] / 1e6:.0f} MB)", name, B.fmt_s(x["wall_s"]), B.fmt_s(x["cpu_s"]),
                f"{x['mb_per_s']:.0f}", f"{x['rows_per_s'] / 1e6:.2f} M", f"{x['peak_rss_mb']:.0f} MB",
                "-" if ratio is None else B.fmt_ratio(ratio["wall"]),
                "-" if ratio is None else B.fmt_ratio(ratio["peak_rss"]),
            ])
    print(B.table(["file", "reader", "wall", "CPU", "MB/s", "rows/s", "peak RSS", "mastflow/peer wall",
                   "mastflow/peer RSS"], rows))
    for ser, f in r["files"].items():
        a = f["readers"].get("astropy")
        if a:
            print(f"  {ser}: astropy in-process: import {B.fmt_s(a['import_s'])}, parse {B.fmt_s(a['parse_s'])}, "
                  f"to_table {B.fmt_s(a['to_table_s'])}")
        checks = {n: {k: v for k, v in x.items() if k.startswith(("all_rows", "nulls_match"))}
                  for n, x in f["readers"].items()}
        print(f"  {ser} checks: {checks}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="votable-1m benchmark (see docs/benchmarks.md)")
    ap.add_argument("--quick", action="store_true", help="one run per measurement instead of three")
    ap.add_argument("--runs", type=int, help="runs per measurement (median); default 3, 1 with --quick")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--no-build", action="store_true", help="do not run `cargo build --release` first")
    ap.add_argument("--bin", help="benchmark this mastflow binary (implies --no-build)")
    ap.add_argument("--no-astropy", action="store_true")
    ap.add_argument("--no-stilts", action="store_true")
    ap.add_argument("--cds-bin", help="also time this CDS `votable` crate reader (see docs/dependencies.md)")
    ap.add_argument("--out", default=os.path.join(B.BENCH_DIR, "votable.json"))
    a = ap.parse_args(argv)
    if a.bin:
        B.BIN = os.path.abspath(a.bin)
        a.no_build = True
    n_runs = a.runs or (1 if a.quick else 3)
    os.makedirs(B.BENCH_DIR, exist_ok=True)
    if not a.no_build:
        print("cargo build --release", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=B.ROOT, check=True)
    peers = {
        "astropy": not a.no_astropy,
        "stilts": not a.no_stilts and shutil.which("stilts") is not None,
        "cds": a.cds_bin,
    }
    if not a.no_stilts and not peers["stilts"]:
        print("stilts not found (apt-get install -y --no-install-recommends stilts); skipping it", file=sys.stderr)
    started = dt.datetime.now(dt.timezone.utc)
    with open(B.BIN, "rb") as f:
        bin_sha = hashlib.sha256(f.read()).hexdigest()[:16]
    results = {
        "date": started.isoformat(timespec="seconds"),
        "binary": {"path": os.path.relpath(B.BIN, B.ROOT), "sha256_16": bin_sha},
        "runs_per_measurement": n_runs,
        "statistic": "median wall time; peak RSS is the maximum over runs",
        "rss_method": B.rss_method(),
        "machine": B.machine(),
        "versions": {**B.versions_astropy(), "stilts": stilts_version() if peers["stilts"] else None},
    }
    results["votable-1m"] = bench(a.rows, n_runs, peers)
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["duration_s"] = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    print_results(results["votable-1m"])
    with open(a.out, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"\nwrote {a.out}")
    return 0


def stilts_version() -> str | None:
    try:
        out = subprocess.run(["stilts", "-version"], capture_output=True, text=True).stdout
        return next((ln.split("version")[1].strip() for ln in out.splitlines() if "STILTS version" in ln), None)
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""mastflow benchmarks: plan scaling and a 1M-row table pipeline against astropy.

    python3 benches/bench.py [--quick] [--only NAME] [--no-build] [--runs N]

Benchmarks (see docs/benchmarks.md):

  plan-scaling       `mastflow validate` and `mastflow plan --format json` on
                     generated manifests of 1000, 2000, 5000 and 10000 steps.
                     Peer: the same run's 1000-step manifest (linearity), and
                     Python's `yaml.safe_load` of each manifest (a floor: what
                     merely parsing the file costs).
  table-1m           read a 1,000,000-row products CSV, filter (structured
                     `where`), sort by [obs_id, -size], unique on dataURI, write
                     ECSV + VOTable TABLEDATA + VOTable BINARY2. Peer: the same
                     work in astropy (benches/astropy_pipeline.py). Checks that
                     both give the same rows in the same order.
  filter-expression  table-1m with the filter written as a row expression
                     (`expr:`). Peer: the structured filter of table-1m.

Every figure is a ratio against a peer measured in the same run; nothing is a
timed assertion. Wall time is the median of N runs (3, or 1 with --quick);
peak RSS is the wait4 rusage of each child, taken by a launcher that forks it
afresh (GNU time, or a tiny Python launcher) — see `run()` for why.

Writes target/bench/results.json and prints a table.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCH_DIR = os.path.join(ROOT, "target", "bench")
BIN = os.path.join(ROOT, "target", "release", "mastflow")
PLAN_SIZES = [1000, 2000, 5000, 10000]
TABLE_ROWS = 1_000_000
TABLE_SEED = 20240220
BENCHMARKS = ["plan-scaling", "table-1m", "filter-expression"]

# --------------------------------------------------------------------- running


class Run:
    """One timed child process."""

    def __init__(self, wall: float, maxrss_kb: int, rc: int, stdout: str, stderr: str, cpu: float = float("nan")):
        self.wall = wall
        self.cpu = cpu
        self.maxrss_kb = maxrss_kb
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr


# Peak RSS. os.wait4's ru_maxrss of a child spawned from this process is
# polluted: Python spawns with vfork/posix_spawn, and at exec the kernel folds
# the *parent's* high-water RSS into the child's (exec_mmap ->
# setmax_mm_hiwater_rss), so a 20 MB mastflow run would report the bench's
# own 80+ MB. The child is therefore started through a small launcher that
# forks it afresh and reports the grandchild's wait4 rusage: GNU time
# (`-f %M`) when present, else a minimal Python launcher (whose own ~10 MB is
# then the floor of what can be measured).
GNU_TIME = "/usr/bin/time"
LAUNCHER = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "_, st, ru = os.wait4(pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(ru.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(st) & 255)\n"
)


def rss_method() -> str:
    try:
        ok = subprocess.run([GNU_TIME, "-f", "%M", "-o", os.devnull, "true"], capture_output=True).returncode == 0
    except OSError:
        ok = False
    return "gnu-time" if ok else "python-launcher"


RSS_METHOD = None


def run(cmd: list[str], cwd: str = ROOT, check: bool = True) -> Run:
    """Run `cmd`, timing it (wall clock around spawn and os.wait4) and reading
    its peak RSS through the launcher (see above).

    stdout/stderr go to files (not pipes), so a chatty child never blocks and
    the parent does no work while the child runs.
    """
    global RSS_METHOD
    if RSS_METHOD is None:
        RSS_METHOD = rss_method()
    out_path = os.path.join(BENCH_DIR, ".stdout")
    err_path = os.path.join(BENCH_DIR, ".stderr")
    rss_path = os.path.join(BENCH_DIR, ".maxrss")
    if os.path.exists(rss_path):
        os.remove(rss_path)
    if RSS_METHOD == "gnu-time":
        full = [GNU_TIME, "-f", "%M", "-o", rss_path, *cmd]
    else:
        full = [sys.executable, "-S", "-c", LAUNCHER, rss_path, *cmd]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(full, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)  # already reaped
    with open(out_path, encoding="utf-8", errors="replace") as f:
        stdout = f.read()
    with open(err_path, encoding="utf-8", errors="replace") as f:
        stderr = f.read()
    try:
        with open(rss_path) as f:
            maxrss_kb = int(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        maxrss_kb = -1
    # CPU time (user + sys) of the launcher and the command it waited for:
    # less sensitive than wall time to other load on the machine.
    r = Run(wall, maxrss_kb, p.returncode, stdout, stderr, cpu=ru.ru_utime + ru.ru_stime)
    if check and r.rc != 0:
        raise SystemExit(f"command failed ({r.rc}): {' '.join(cmd)}\n{stderr[-4000:]}")
    return r


def wait_quiet(limit: float, timeout: float) -> float:
    """Wait (up to `timeout` s) until the 1-minute load average is below
    `limit`; returns the load average when measuring starts."""
    deadline = time.monotonic() + timeout
    load = os.getloadavg()[0]
    while load >= limit and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()[0]
    return load


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def repeat(cmd: list[str], n: int, warmup: bool = False, before=None, cwd: str = ROOT) -> list[Run]:
    if warmup:
        if before:
            before()
        run(cmd, cwd=cwd)
    runs = []
    for _ in range(n):
        if before:
            before()
        runs.append(run(cmd, cwd=cwd))
    return runs


def summary(runs: list[Run]) -> dict:
    return {
        "wall_s": median([r.wall for r in runs]),
        "wall_all_s": [round(r.wall, 4) for r in runs],
        "cpu_s": median([r.cpu for r in runs]),
        "peak_rss_mb": max(r.maxrss_kb for r in runs) / 1024,
    }


# ------------------------------------------------------------------ formatting


def fmt_s(x: float) -> str:
    if x != x:  # nan
        return "-"
    if x < 0.01:
        return f"{x * 1000:.2f} ms"
    if x < 1:
        return f"{x * 1000:.0f} ms"
    return f"{x:.2f} s"


def fmt_ratio(x: float) -> str:
    return "-" if x != x else f"{x:.2f}×"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join([line, sep, *body])


# ------------------------------------------------------------------ plan-scaling


def bench_plan_scaling(n_runs: int, sizes: list[int]) -> dict:
    out_dir = os.path.join(BENCH_DIR, "plan")
    os.makedirs(out_dir, exist_ok=True)
    yaml_floor = os.path.join(out_dir, "yaml_floor.py")
    with open(yaml_floor, "w") as f:
        f.write(
            "import sys, time, yaml\n"
            "Loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)\n"
            "t = time.perf_counter()\n"
            "with open(sys.argv[1]) as f:\n"
            "    yaml.load(f, Loader=Loader)\n"
            "print(time.perf_counter() - t)\n"
        )
    base = repeat([BIN, "--version"], max(n_runs, 3), warmup=True)
    results = {"sizes": {}, "startup_s": median([r.wall for r in base])}
    for n in sizes:
        path = os.path.join(out_dir, f"plan_{n}.yaml")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_plan_manifest.py"), str(n), path], check=True)
        v = repeat([BIN, "-q", "validate", path], n_runs, warmup=True)
        p = repeat([BIN, "plan", "--format", "json", path], n_runs, warmup=True)
        plan_json = json.loads(p[-1].stdout)
        assert len(plan_json["steps"]) == n, "plan does not list every step"
        y = repeat([sys.executable, yaml_floor, path], n_runs, warmup=False)
        y_load = median([float(r.stdout.strip()) for r in y])
        results["sizes"][str(n)] = {
            "steps": n,
            "manifest_bytes": os.path.getsize(path),
            "levels": plan_json["levels"],
            "validate": summary(v),
            "plan_json": summary(p),
            # In-process time of PyYAML (libyaml) loading the file: the
            # cost of merely parsing it, without interpreter start-up.
            "python_yaml_load": {"load_s": y_load},
        }
    lo, hi = str(min(sizes)), str(max(sizes))
    scale = max(sizes) / min(sizes)
    for cmd in ("validate", "plan_json"):
        t_lo = results["sizes"][lo][cmd]["wall_s"]
        t_hi = results["sizes"][hi][cmd]["wall_s"]
        growth = t_hi / t_lo
        results[f"{cmd}_growth"] = {
            "ratio": growth,
            "ratio_cpu": results["sizes"][hi][cmd]["cpu_s"] / results["sizes"][lo][cmd]["cpu_s"],
            "ideal": scale,
            "superlinear": growth > 1.5 * scale,
            "description": f"time({hi} steps) / time({lo} steps); {scale:.0f} is linear, > {1.5 * scale:.0f} is flagged superlinear",
        }
    results["target_10k_under_1s"] = {
        cmd: results["sizes"][hi][cmd]["wall_s"] < 1.0 for cmd in ("validate", "plan_json")
    } if hi == "10000" else None
    return results


def print_plan_scaling(r: dict) -> None:
    rows = []
    for n, s in r["sizes"].items():
        steps = s["steps"]
        rows.append([
            n,
            f"{s['manifest_bytes'] / 1e6:.2f} MB",
            fmt_s(s["validate"]["wall_s"]),
            f"{s['validate']['wall_s'] / steps * 1e6:.0f}",
            fmt_s(s["plan_json"]["wall_s"]),
            f"{s['plan_json']['wall_s'] / steps * 1e6:.0f}",
            f"{s['plan_json']['peak_rss_mb']:.0f} MB",
            fmt_s(s["python_yaml_load"]["load_s"]),
            fmt_ratio(s["plan_json"]["wall_s"] / s["python_yaml_load"]["load_s"]),
        ])
    print(f"\nplan-scaling (process startup {fmt_s(r['startup_s'])})")
    print(table(["steps", "manifest", "validate", "µs/step", "plan --format json", "µs/step", "plan RSS",
                 "peer: PyYAML load", "plan/peer"], rows))
    for cmd in ("validate", "plan_json"):
        g = r[f"{cmd}_growth"]
        flag = "SUPERLINEAR" if g["superlinear"] else "ok"
        print(f"  {cmd} growth {g['description'].split(';')[0]}: {g['ratio']:.1f}× wall, {g['ratio_cpu']:.1f}× CPU (linear = {g['ideal']:.0f}×) {flag}")
    if r.get("target_10k_under_1s") is not None:
        t = r["target_10k_under_1s"]
        print(f"  target 10k steps < 1 s: validate {'met' if t['validate'] else 'MISSED'}, plan {'met' if t['plan_json'] else 'MISSED'}")


# ---------------------------------------------------------------------- tables

MANIFEST = """\
# Generated by benches/bench.py (table benchmarks).
version: 1
name: {name}
steps:
  products:
    kind: table
    file: products.csv
  science:
    kind: filter
    from: products
{filter}
  sorted:
    kind: sort
    from: science
    by: [obs_id, -size]
  deduped:
    kind: unique
    from: sorted
    keys: [dataURI]
outputs:
  - {{from: deduped, path: products.ecsv}}
  - {{from: deduped, path: products.vot}}
  - {{from: deduped, path: products_b2.vot, format: votable-binary2}}
"""
STRUCTURED = """\
    where:
      productType: [SCIENCE, INFO]
      calib_level: {min: 2}"""
EXPRESSION = """\
    expr: "productType in ['SCIENCE', 'INFO'] and calib_level >= 2\""""


def table_dir(rows: int) -> str:
    return os.path.join(BENCH_DIR, f"table-{rows}")


def ensure_products(rows: int) -> str:
    """Generate the products CSV once per (rows, seed, generator version)."""
    d = table_dir(rows)
    os.makedirs(d, exist_ok=True)
    csv_path = os.path.join(d, "products.csv")
    stamp_path = os.path.join(d, "products.stamp")
    with open(os.path.join(HERE, "gen_products.py"), "rb") as f:
        gen_hash = hashlib.sha256(f.read()).hexdigest()[:16]
    stamp = f"{rows} {TABLE_SEED} {gen_hash}"
    if os.path.exists(csv_path) and os.path.exists(stamp_path) and open(stamp_path).read() == stamp:
        return csv_path
    print(f"generating {rows} rows -> {csv_path}", file=sys.stderr)
    subprocess.run([sys.executable, os.path.join(HERE, "gen_products.py"), csv_path,
                    "--rows", str(rows), "--seed", str(TABLE_SEED)], check=True)
    with open(stamp_path, "w") as f:
        f.write(stamp)
    return csv_path


def write_manifest(rows: int, variant: str) -> str:
    path = os.path.join(table_dir(rows), f"{variant}.yaml")
    text = MANIFEST.format(name=f"table-{variant}", filter=STRUCTURED if variant == "structured" else EXPRESSION)
    with open(path, "w") as f:
        f.write(text)
    return path


def mastflow_pipeline(rows: int, variant: str, n_runs: int) -> dict:
    manifest = write_manifest(rows, variant)
    out = os.path.join(table_dir(rows), f"out-mastflow-{variant}")

    def clean():
        shutil.rmtree(out, ignore_errors=True)

    runs, records = [], []
    for _ in range(n_runs):
        clean()
        runs.append(run([BIN, "-q", "run", manifest, "--out", out]))
        with open(os.path.join(out, "run.json")) as f:
            records.append(json.load(f))
    phases_all = [mastflow_phases(r, rec) for r, rec in zip(runs, records)]
    phases = {k: median([p[k] for p in phases_all]) for k in phases_all[0]}
    rec = records[-1]
    return {
        **summary(runs),
        "phases_s": phases,
        "rows_out": {s["name"]: s.get("rows_out") for s in rec["steps"]},
        "outputs": {o["path"]: {"rows": o["rows"], "sha256": o["sha256"]} for o in rec["outputs"]},
        "out_dir": out,
    }


def mastflow_phases(r: Run, rec: dict) -> dict:
    """Per-phase seconds of one mastflow run.

    run.json's duration_ms covers executing the steps and writing the outputs;
    everything before it (process start, YAML parsing, validation — which reads
    the `table` file once, so the run reuses it) is `wall - duration_ms`. The
    `table` step itself only hands the already-read table over (a copy), so
    it is counted with the read. Writes are duration_ms minus the steps (the
    steps here form one chain, so their durations add up).
    """
    steps = {s["name"]: s["duration_ms"] / 1000 for s in rec["steps"]}
    run_s = rec["duration_ms"] / 1000
    pre = max(r.wall - run_s, 0.0)
    return {
        "read": pre + steps["products"],
        "filter": steps["science"],
        "sort": steps["sorted"],
        "unique": steps["deduped"],
        "write": max(run_s - sum(steps.values()), 0.0),
        "total": r.wall,
        "startup_parse_validate": pre,
        "table_step_handover": steps["products"],
    }


def astropy_pipeline(csv_path: str, rows: int, n_runs: int) -> dict:
    out = os.path.join(table_dir(rows), "out-astropy")
    runs, reports = [], []
    for _ in range(n_runs):
        shutil.rmtree(out, ignore_errors=True)
        r = run([sys.executable, os.path.join(HERE, "astropy_pipeline.py"), csv_path, out])
        runs.append(r)
        reports.append(json.loads(r.stdout.strip().splitlines()[-1]))
    keys = ["read", "filter", "sort", "unique", "write", "write_ecsv", "write_votable", "write_binary2"]
    phases = {k: median([rep["phases"][k] for rep in reports]) for k in keys}
    phases["total"] = median([r.wall for r in runs])
    phases["startup_import"] = median([r.wall - sum(rep["phases"][k] for k in ("read", "filter", "sort", "unique", "write"))
                                       for r, rep in zip(runs, reports)])
    last = reports[-1]
    return {
        **summary(runs),
        "phases_s": phases,
        "rows_in": last["rows_in"],
        "rows_filtered": last["rows_filtered"],
        "rows_out": last["rows_out"],
        "sequence_sha256": last["sequence_sha256"],
        "out_dir": out,
        "versions": versions_astropy(),
    }


def versions_astropy() -> dict:
    try:
        out = subprocess.run([sys.executable, "-c", "import astropy, numpy; print(astropy.__version__, numpy.__version__)"],
                             capture_output=True, text=True, check=True).stdout.split()
        return {"astropy": out[0], "numpy": out[1]}
    except Exception:  # noqa: BLE001
        return {}


def read_ecsv_rows(path: str) -> tuple[list[str], list[str], list[list[str]]]:
    """Columns, datatypes and text rows of an ECSV file (either delimiter)."""
    names, types, delim = [], [], " "
    with open(path, encoding="utf-8") as f:
        header = []
        for line in f:
            if not line.startswith("#"):
                first = line
                break
            header.append(line)
        for h in header:
            h = h[1:].strip()
            if h.startswith("- {name:"):
                body = h[3:-1]
                parts = dict(p.split(": ", 1) for p in body.split(", ") if ": " in p)
                names.append(parts["name"])
                types.append(parts.get("datatype", "string"))
            elif h.startswith("delimiter:"):
                delim = h.split(":", 1)[1].strip().strip("'\"") or " "
        reader = csv.reader(f, delimiter=delim, quotechar='"')
        head = next(csv.reader([first], delimiter=delim, quotechar='"'))
        assert head == names, f"{path}: header {head} != {names}"
        rows = list(reader)
    return names, types, rows


def normalise(value: str, dtype: str):
    if dtype.startswith("int") or dtype.startswith("float"):
        return None if value == "" else float(value)
    return value


def sequence_digest_ecsv(path: str) -> tuple[int, str]:
    names, _, rows = read_ecsv_rows(path)
    iu, io = names.index("dataURI"), names.index("obs_id")
    h = hashlib.sha256()
    for r in rows:
        h.update(f"{r[iu]}\t{r[io]}\n".encode())
    return len(rows), h.hexdigest()


def compare_ecsv(a: str, b: str) -> dict:
    """Row-by-row comparison of two ECSV files: every column, numbers compared
    as numbers (the writers format floats differently), nulls as nulls."""
    na, ta, ra = read_ecsv_rows(a)
    nb, tb, rb = read_ecsv_rows(b)
    if na != nb:
        return {"equal": False, "why": f"columns differ: {na} vs {nb}"}
    if len(ra) != len(rb):
        return {"equal": False, "why": f"{len(ra)} rows vs {len(rb)}"}
    for i, (x, y) in enumerate(zip(ra, rb)):
        xs = [normalise(v, t) for v, t in zip(x, ta)]
        ys = [normalise(v, t) for v, t in zip(y, tb)]
        if xs != ys:
            return {"equal": False, "why": f"row {i} differs: {x} vs {y}"}
    return {"equal": True, "rows": len(ra), "columns": len(na)}


def bench_table(rows: int, n_runs: int, with_astropy: bool, variants: list[str]) -> dict:
    csv_path = ensure_products(rows)
    res: dict = {"rows": rows, "csv_bytes": os.path.getsize(csv_path), "seed": TABLE_SEED}
    for v in variants:
        res[f"mastflow_{v}"] = mastflow_pipeline(rows, v, n_runs)
    if with_astropy:
        res["astropy"] = astropy_pipeline(csv_path, rows, n_runs)
    # Equivalence.
    eq: dict = {}
    for v in variants:
        m = res[f"mastflow_{v}"]
        n, digest = sequence_digest_ecsv(os.path.join(m["out_dir"], "products.ecsv"))
        eq[f"mastflow_{v}"] = {"rows": n, "sequence_sha256": digest}
    if with_astropy:
        a = res["astropy"]
        eq["astropy"] = {"rows": a["rows_out"], "sequence_sha256": a["sequence_sha256"]}
        for v in variants:
            m = eq[f"mastflow_{v}"]
            m["same_sequence_as_astropy"] = (m["rows"], m["sequence_sha256"]) == (a["rows_out"], a["sequence_sha256"])
        v0 = variants[0]
        eq[f"ecsv_rows_equal_{v0}_vs_astropy"] = compare_ecsv(
            os.path.join(res[f"mastflow_{v0}"]["out_dir"], "products.ecsv"),
            os.path.join(a["out_dir"], "products.ecsv"))
    if len(variants) > 1:
        outs = [res[f"mastflow_{v}"]["outputs"] for v in variants]
        eq["variants_byte_identical_outputs"] = all(o == outs[0] for o in outs)
    res["equivalence"] = eq
    # Ratios against the peers.
    ratios: dict = {}
    if with_astropy and "structured" in variants:
        m, a = res["mastflow_structured"]["phases_s"], res["astropy"]["phases_s"]
        ratios["mastflow_over_astropy"] = {k: m[k] / a[k] for k in ("read", "filter", "sort", "unique", "write", "total")}
        ratios["mastflow_over_astropy"]["peak_rss"] = res["mastflow_structured"]["peak_rss_mb"] / res["astropy"]["peak_rss_mb"]
    if "structured" in variants and "expression" in variants:
        s, e = res["mastflow_structured"]["phases_s"], res["mastflow_expression"]["phases_s"]
        ratios["expression_over_structured"] = {"filter": e["filter"] / s["filter"], "total": e["total"] / s["total"]}
        if with_astropy:
            ratios["expression_filter_over_astropy_filter"] = e["filter"] / res["astropy"]["phases_s"]["filter"]
    res["ratios"] = ratios
    return res


def print_table(r: dict) -> None:
    print(f"\ntable pipeline: {r['rows']:,} rows, {r['csv_bytes'] / 1e6:.0f} MB CSV "
          "(filter productType ∈ {SCIENCE, INFO} ∧ calib_level ≥ 2 → sort [obs_id, -size] → unique dataURI → ECSV + VOTable + BINARY2)")
    cols = [c for c in ("mastflow_structured", "mastflow_expression", "astropy") if c in r]
    names = {"mastflow_structured": "mastflow (where)", "mastflow_expression": "mastflow (expr)", "astropy": "astropy"}
    headers = ["phase"] + [names[c] for c in cols]
    ratio_cols = []
    if "astropy" in r and "mastflow_structured" in r:
        headers.append("mastflow/astropy")
        ratio_cols.append(("mastflow_structured", "astropy"))
    if "mastflow_expression" in r and "mastflow_structured" in r:
        headers.append("expr/where")
        ratio_cols.append(("mastflow_expression", "mastflow_structured"))
    rows = []
    for ph in ("read", "filter", "sort", "unique", "write", "total"):
        row = [ph] + [fmt_s(r[c]["phases_s"][ph]) for c in cols]
        for num, den in ratio_cols:
            row.append(fmt_ratio(r[num]["phases_s"][ph] / r[den]["phases_s"][ph]))
        rows.append(row)
    row = ["total CPU (user+sys)"] + [fmt_s(r[c]["cpu_s"]) for c in cols]
    for num, den in ratio_cols:
        row.append(fmt_ratio(r[num]["cpu_s"] / r[den]["cpu_s"]))
    rows.append(row)
    row = ["peak RSS"] + [f"{r[c]['peak_rss_mb']:.0f} MB" for c in cols]
    for num, den in ratio_cols:
        row.append(fmt_ratio(r[num]["peak_rss_mb"] / r[den]["peak_rss_mb"]))
    rows.append(row)
    print(table(headers, rows))
    if "astropy" in r:
        a = r["astropy"]["phases_s"]
        print(f"  astropy writes: ECSV {fmt_s(a['write_ecsv'])}, VOTable {fmt_s(a['write_votable'])}, BINARY2 {fmt_s(a['write_binary2'])}; "
              f"python start + imports {fmt_s(a['startup_import'])}")
    for c in cols:
        if c.startswith("mastflow"):
            p = r[c]["phases_s"]
            print(f"  {names[c]}: read = start + parse + validate (reads the CSV) {fmt_s(p['startup_parse_validate'])}"
                  f" + table step hand-over {fmt_s(p['table_step_handover'])}")
    eq = r["equivalence"]
    print("  equivalence:")
    for k, v in eq.items():
        print(f"    {k}: {v}")


# ------------------------------------------------------------------- machine


def machine() -> dict:
    info = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_gb"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    for key, cmd in (("rustc", ["rustc", "--version"]), ("git", ["git", "rev-parse", "--short", "HEAD"])):
        try:
            info[key] = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except Exception:  # noqa: BLE001
            pass
    try:
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        info["git_dirty"] = bool(dirty)
    except Exception:  # noqa: BLE001
        pass
    try:
        info["loadavg_at_start"] = os.getloadavg()
    except OSError:
        pass
    return info


# ---------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="mastflow benchmarks (see docs/benchmarks.md)")
    ap.add_argument("--quick", action="store_true", help="one run per measurement instead of three")
    ap.add_argument("--only", choices=BENCHMARKS, action="append", help="run only this benchmark (repeatable)")
    ap.add_argument("--no-build", action="store_true", help="do not run `cargo build --release` first")
    ap.add_argument("--runs", type=int, help="runs per measurement (median); default 3, 1 with --quick")
    ap.add_argument("--rows", type=int, default=TABLE_ROWS, help="rows of the table benchmarks (default 1,000,000)")
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=PLAN_SIZES,
                    help="step counts of plan-scaling (default 1000,2000,5000,10000)")
    ap.add_argument("--no-astropy", action="store_true", help="skip the astropy peer")
    ap.add_argument("--out", default=os.path.join(BENCH_DIR, "results.json"), help="where to write the JSON results")
    ap.add_argument("--wait-quiet", type=float, metavar="SECONDS", default=0,
                    help="before each benchmark, wait up to SECONDS for the 1-minute load average to drop below 1")
    ap.add_argument("--bin", help="benchmark this mastflow binary instead of target/release/mastflow (implies --no-build)")
    a = ap.parse_args(argv)
    global BIN
    if a.bin:
        BIN = os.path.abspath(a.bin)
        a.no_build = True
    n_runs = a.runs or (1 if a.quick else 3)
    only = a.only or BENCHMARKS
    os.makedirs(BENCH_DIR, exist_ok=True)

    if not a.no_build:
        print("cargo build --release", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    if not os.access(BIN, os.X_OK):
        raise SystemExit(f"{BIN} is missing; run without --no-build")

    with_astropy = not a.no_astropy
    if with_astropy:
        try:
            subprocess.run([sys.executable, "-c", "import astropy, numpy"], check=True, capture_output=True)
        except subprocess.CalledProcessError:
            raise SystemExit("astropy is not importable; `pip install astropy`, or pass --no-astropy")

    started = dt.datetime.now(dt.timezone.utc)
    with open(BIN, "rb") as f:
        bin_sha = hashlib.sha256(f.read()).hexdigest()[:16]
    results: dict = {
        "date": started.isoformat(timespec="seconds"),
        "binary": {"path": os.path.relpath(BIN, ROOT), "sha256_16": bin_sha},
        "runs_per_measurement": n_runs,
        "statistic": "median wall time; peak RSS is the maximum over runs",
        "rss_method": RSS_METHOD or rss_method(),
        "machine": machine(),
        "benchmarks": {},
    }
    def settle(name: str) -> None:
        if a.wait_quiet:
            print(f"waiting for a quiet machine before {name}...", file=sys.stderr)
        results.setdefault("loadavg_before", {})[name] = round(wait_quiet(1.0, a.wait_quiet) if a.wait_quiet else os.getloadavg()[0], 2)

    if "plan-scaling" in only:
        settle("plan-scaling")
        r = bench_plan_scaling(n_runs, a.sizes)
        results["benchmarks"]["plan-scaling"] = r
        print_plan_scaling(r)
    variants = [v for b, v in (("table-1m", "structured"), ("filter-expression", "expression")) if b in only]
    if "filter-expression" in only and "structured" not in variants:
        variants.insert(0, "structured")  # the peer of the expression filter
    if variants:
        settle("table-1m")
        r = bench_table(a.rows, n_runs, with_astropy and "table-1m" in only, variants)
        results["benchmarks"]["table-1m"] = r
        print_table(r)
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["duration_s"] = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"\nwrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Download benchmark (issue 6): `mastflow fetch` against curl and aria2c.

    python3 benches/fetch_bench.py [--quick] [--runs N] [--no-build] [--files N]
                                   [--tools a,b,...] [--keep]

Starts `mastflow sandbox` (a local MAST emulator serving deterministic bodies
whose sizes are the products' sizes, docs/sandbox.md), makes a download plan
of ~2,000 public JWST files of 1.5-5 MB (~4 GB; --quick: 200 files, ~0.4 GB)
with `mastflow run`, then fetches the whole plan over loopback with:

  mastflow-ph4   target/release/mastflow fetch plan.json            (--jobs 8 --per-host 4, the defaults)
  mastflow-ph8   target/release/mastflow fetch plan.json --per-host 8
  curl-script    bash plan.curl.sh                                   (sequential, as the plan writes it)
  aria2c         aria2c --input-file=plan.aria2.txt -j 8 --continue=true
                 (+ --summary-interval=0 --console-log-level=warn: quieter, no effect on the transfer)

Each tool gets its own directory with copies of the plan files, so they all
start from nothing. Per run: wall time, throughput (plan bytes / wall, MB =
10^6 bytes), CPU seconds per GB (user + sys of the tool's whole process tree,
from wait4 rusage: GNU time's child, which includes the curls bash reaped),
peak RSS (largest single process of the tree), and the sandbox's own CPU
(from /proc/PID/stat), since client and server share the 2 cores. After each
run every file is checked: present, size equal to the plan's, no `.part` or
`.aria2` left, and SHA-256 equal across all tools and runs (the bodies are
deterministic). The data is deleted after each run (peak disk = one copy).

Runs are interleaved (round-robin over tools) and `sync` is called before
each, so dirty pages from one run do not slow the next. Figures are medians
over --runs (default 3; --quick 1).

Writes target/bench/fetch.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCH_DIR = os.path.join(ROOT, "target", "bench")
WORK = os.path.join(BENCH_DIR, "fetch")
BIN = os.path.join(ROOT, "target", "release", "mastflow")
GNU_TIME = "/usr/bin/time"
# Synthetic observations in the sandbox: enough public 1.5-5 MB files for
# 2,000 (the default archive of 2,000 has just about 2,000).
SCALE = 4000
MIN_SIZE, MAX_SIZE = 1_500_000, 5_000_000

MANIFEST = """\
version: 1
name: fetch-bench
steps:
  observations:
    kind: caom
    criteria: {{obs_collection: JWST, calib_level: [2, 3]}}
    columns: [obsid, obs_id, obs_collection, calib_level]
  products:
    kind: products
    from: observations
  small:
    kind: filter
    from: products
    where: {{dataRights: PUBLIC, size: "{lo}..{hi}"}}
  unique: {{kind: unique, from: small, keys: [dataURI]}}
  first: {{kind: head, from: unique, n: {n}}}
  plan: {{kind: download_plan, from: first, layout: nested}}
outputs:
  - {{from: plan, path: downloads/plan.json, kind: download_plan}}
"""

PLAN_FILES = ["plan.json", "plan.curl.sh", "plan.aria2.txt"]


def tools(mastflow: str) -> dict[str, list[str]]:
    return {
        "mastflow-ph4": [mastflow, "fetch", "plan.json", "-q"],
        "mastflow-ph8": [mastflow, "fetch", "plan.json", "-q", "--per-host", "8"],
        "curl-script": ["bash", "plan.curl.sh"],
        "aria2c": ["aria2c", "--input-file=plan.aria2.txt", "-j", "8", "--continue=true",
                   "--summary-interval=0", "--console-log-level=warn"],
    }


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


# ----------------------------------------------------------------- the sandbox


def start_sandbox(scale: int) -> tuple[subprocess.Popen, str]:
    out = open(os.path.join(WORK, "sandbox.log"), "w+b")
    p = subprocess.Popen([BIN, "sandbox", "--port", "0", "--scale", str(scale)],
                         stdout=subprocess.PIPE, stderr=out, stdin=subprocess.DEVNULL)
    line = p.stdout.readline().decode().strip()
    if not line.startswith("http://"):
        p.kill()
        raise SystemExit(f"sandbox did not print its URL (got {line!r}); see {out.name}")
    # Nothing more is read from stdout; drain it so the sandbox never blocks.
    subprocess.Popen(["cat"], stdin=p.stdout, stdout=subprocess.DEVNULL)
    return p, line


def proc_cpu(pid: int) -> float:
    """user + sys seconds of a running process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def busy_cpu() -> float:
    """Seconds all CPUs spent busy since boot (/proc/stat: everything but
    idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def wait_quiet(limit: float, timeout: float) -> float:
    """Wait (up to timeout s) until the 1-minute load average is below limit."""
    deadline = time.monotonic() + timeout
    load = os.getloadavg()[0]
    while load >= limit and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()[0]
    return load


def proc_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


# ----------------------------------------------------------------- measuring


def timed(cmd: list[str], cwd: str) -> dict:
    """Run cmd under GNU time; wall from spawn to wait4, CPU and peak RSS of
    the process tree (GNU time's child: it includes grandchildren the child
    reaped, e.g. bash's curls)."""
    tfile = os.path.join(cwd, ".time")
    full = [GNU_TIME, "-f", "%e %U %S %M", "-o", tfile, *cmd]
    with open(os.path.join(cwd, ".stdout"), "wb") as out, open(os.path.join(cwd, ".stderr"), "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(full, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, _ = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    with open(tfile) as f:
        last = f.read().strip().splitlines()[-1].split()
    _, user, system, rss = float(last[0]), float(last[1]), float(last[2]), int(last[3])
    with open(os.path.join(cwd, ".stderr"), encoding="utf-8", errors="replace") as f:
        stderr = f.read()
    return {"wall": wall, "user": user, "sys": system, "cpu": user + system,
            "maxrss_kb": rss, "rc": rc, "stderr_tail": stderr[-2000:]}


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify(root: str, files: list[dict], reference: dict[str, str]) -> dict:
    """Every file present with the plan's size, no leftovers, same bytes as
    every other run (reference filled by the first run)."""
    missing = wrong_size = wrong_bytes = 0
    problems = []
    for f in files:
        p = os.path.join(root, f["path"])
        try:
            size = os.path.getsize(p)
        except OSError:
            missing += 1
            problems.append(f"missing {f['path']}")
            continue
        if size != f["size"]:
            wrong_size += 1
            problems.append(f"{f['path']}: {size} bytes, plan says {f['size']}")
            continue
        digest = sha256_file(p)
        ref = reference.setdefault(f["path"], digest)
        if ref != digest:
            wrong_bytes += 1
            problems.append(f"{f['path']}: content differs from the other runs")
    leftovers = []
    for d, _, names in os.walk(os.path.join(root, "mastDownload")):
        leftovers += [os.path.join(d, n) for n in names if n.endswith((".part", ".aria2"))]
    ok = not (missing or wrong_size or wrong_bytes or leftovers)
    return {"ok": ok, "files": len(files), "missing": missing, "wrong_size": wrong_size,
            "wrong_bytes": wrong_bytes, "leftovers": len(leftovers),
            "problems": (problems + leftovers)[:10]}


# ----------------------------------------------------------------- main


def machine() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return None
    import resource
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return {"cores": os.cpu_count(), "nofile_soft_limit": nofile, "cpu": cpu, "mem_gb": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "curl": version(["curl", "--version"]), "aria2c": version(["aria2c", "--version"]),
            "mastflow": version([BIN, "--version"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200 files (~0.4 GB), 1 run")
    ap.add_argument("--files", type=int, help="files in the plan (default 2000; 200 with --quick)")
    ap.add_argument("--runs", type=int, help="runs per tool (default 3; 1 with --quick)")
    ap.add_argument("--no-build", action="store_true", help="use target/release/mastflow as it is")
    ap.add_argument("--tools", help="comma list of: " + ", ".join(tools("mastflow")))
    ap.add_argument("--keep", action="store_true", help="keep the last run's files of each tool")
    args = ap.parse_args()
    n_files = args.files or (200 if args.quick else 2000)
    runs = args.runs or (1 if args.quick else 3)

    if shutil.which("aria2c") is None:
        raise SystemExit("aria2c is missing: apt-get update && apt-get install -y aria2")
    for exe in ("curl", "bash", GNU_TIME):
        if shutil.which(exe) is None:
            raise SystemExit(f"{exe} is missing")
    if not args.no_build:
        log("cargo build --release ...")
        sh(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    all_tools = tools(BIN)
    chosen = args.tools.split(",") if args.tools else list(all_tools)
    for t in chosen:
        if t not in all_tools:
            raise SystemExit(f"unknown tool {t}; choose from {', '.join(all_tools)}")

    load = wait_quiet(1.0, 120)
    if load >= 1.0:
        log(f"warning: the machine is busy (load {load:.2f}); see `other load` per run")
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    free = shutil.disk_usage(WORK).free
    sandbox, url = start_sandbox(SCALE)
    try:
        log(f"sandbox at {url}")
        # The plan.
        mpath = os.path.join(WORK, "fetch.yaml")
        with open(mpath, "w") as f:
            f.write(MANIFEST.format(lo=MIN_SIZE, hi=MAX_SIZE, n=n_files))
        planout = os.path.join(WORK, "plan")
        sh([BIN, "run", mpath, "--base-url", url, "--out", planout, "-q"], cwd=WORK)
        plandir = os.path.join(planout, "downloads")
        with open(os.path.join(plandir, "plan.json")) as f:
            plan = json.load(f)
        files = plan["files"]
        total = sum(f["size"] for f in files)
        log(f"plan: {len(files)} files, {total / 1e9:.2f} GB")
        if len(files) < n_files:
            log(f"warning: only {len(files)} files match (asked {n_files})")
        if total * 1.2 > free:
            raise SystemExit(f"not enough disk: {free / 1e9:.1f} GB free, need {total * 1.2 / 1e9:.1f}")

        reference: dict[str, str] = {}
        results: dict[str, list[dict]] = {t: [] for t in chosen}
        for r in range(runs):
            for t in chosen:
                d = os.path.join(WORK, t)
                shutil.rmtree(d, ignore_errors=True)
                os.makedirs(d)
                for name in PLAN_FILES:
                    shutil.copy(os.path.join(plandir, name), d)
                sh(["sync"])
                time.sleep(1)
                s0, b0 = proc_cpu(sandbox.pid), busy_cpu()
                m = timed(all_tools[t], d)
                m["sandbox_cpu"] = proc_cpu(sandbox.pid) - s0
                # CPU used by anything else on the machine meanwhile (other
                # jobs, builds): a noisy run shows here.
                m["other_cpu"] = max(0.0, busy_cpu() - b0 - m["cpu"] - m["sandbox_cpu"])
                m["other_load"] = m["other_cpu"] / m["wall"]
                m["verify"] = verify(d, files, reference)
                m["mb_s"] = total / 1e6 / m["wall"]
                m["cpu_s_per_gb"] = m["cpu"] / (total / 1e9)
                m["sandbox_cpu_s_per_gb"] = m["sandbox_cpu"] / (total / 1e9)
                results[t].append(m)
                log(f"run {r + 1}/{runs} {t:13s} {m['wall']:7.2f} s {m['mb_s']:8.1f} MB/s "
                    f"cpu {m['cpu']:6.2f} s (sandbox {m['sandbox_cpu']:6.2f} s) "
                    f"rss {m['maxrss_kb'] / 1024:6.1f} MB other load {m['other_load']:4.2f} rc {m['rc']} "
                    f"verify {'ok' if m['verify']['ok'] else m['verify']}")
                if m["rc"] != 0:
                    log(m["stderr_tail"])
                if not (args.keep and r == runs - 1):
                    shutil.rmtree(d, ignore_errors=True)
        sandbox_rss = proc_rss_kb(sandbox.pid)
    finally:
        sandbox.send_signal(signal.SIGINT)
        try:
            sandbox.wait(10)
        except subprocess.TimeoutExpired:
            sandbox.kill()

    def med(t, k):
        return statistics.median(x[k] for x in results[t])

    summary = {}
    for t in chosen:
        summary[t] = {
            "wall_s": med(t, "wall"), "mb_s": med(t, "mb_s"),
            "cpu_s_per_gb": med(t, "cpu_s_per_gb"),
            "user_s": med(t, "user"), "sys_s": med(t, "sys"),
            "peak_rss_mb": max(x["maxrss_kb"] for x in results[t]) / 1024,
            "sandbox_cpu_s_per_gb": med(t, "sandbox_cpu_s_per_gb"),
            "other_load": med(t, "other_load"),
            "complete": all(x["verify"]["ok"] and x["rc"] == 0 for x in results[t]),
        }
    ratios = {}
    for m in ("mastflow-ph4", "mastflow-ph8"):
        for peer in ("curl-script", "aria2c"):
            if m in summary and peer in summary:
                a, b = summary[m], summary[peer]
                ratios[f"{m}/{peer}"] = {
                    "wall": a["wall_s"] / b["wall_s"],
                    "cpu_per_gb": a["cpu_s_per_gb"] / b["cpu_s_per_gb"],
                    "peak_rss": a["peak_rss_mb"] / b["peak_rss_mb"],
                }
    out = {
        "benchmark": "fetch",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "quick": args.quick,
        "runs": runs,
        "plan": {"files": len(files), "bytes": total, "min_size": MIN_SIZE, "max_size": MAX_SIZE,
                 "sandbox_scale": SCALE, "sandbox_peak_rss_mb": sandbox_rss / 1024},
        "commands": {t: all_tools[t] for t in chosen},
        "summary": summary,
        "ratios": ratios,
        "runs_detail": results,
    }
    os.makedirs(BENCH_DIR, exist_ok=True)
    with open(os.path.join(BENCH_DIR, "fetch.json"), "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")

    print(f"\nfetch benchmark: {len(files)} files, {total / 1e9:.2f} GB over loopback from "
          f"`mastflow sandbox`; {os.cpu_count()} cores; median of {runs} run(s)\n")
    hdr = f"{'tool':14s} {'wall s':>8s} {'MB/s':>8s} {'CPU s/GB':>9s} {'user s':>7s} {'sys s':>7s} " \
          f"{'peak RSS MB':>11s} {'sandbox CPU s/GB':>16s} {'other load':>10s} {'complete':>8s}"
    print(hdr)
    print("-" * len(hdr))
    for t, s in summary.items():
        print(f"{t:14s} {s['wall_s']:8.2f} {s['mb_s']:8.1f} {s['cpu_s_per_gb']:9.2f} {s['user_s']:7.2f} "
              f"{s['sys_s']:7.2f} {s['peak_rss_mb']:11.1f} {s['sandbox_cpu_s_per_gb']:16.2f} {s['other_load']:10.2f} "
              f"{'yes' if s['complete'] else 'NO':>8s}")
    if ratios:
        print("\nratios (wall: <1 means mastflow is faster; CPU/GB and RSS: <1 means mastflow uses less)")
        for k, v in ratios.items():
            print(f"  {k:28s} wall {v['wall']:5.2f}  CPU/GB {v['cpu_per_gb']:5.2f}  peak RSS {v['peak_rss']:5.2f}")
    print(f"\nwrote {os.path.relpath(os.path.join(BENCH_DIR, 'fetch.json'), ROOT)}")
    return 0 if all(s["complete"] for s in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

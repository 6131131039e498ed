#!/usr/bin/env python3
"""Duplication-check benchmark: mastflow vs the notebook's astroquery loop.

Starts `mastflow sandbox --port 0 --latency-ms 150` (every response delayed
150 ms, as a far-away MAST would be), generates N targets (default 500;
`--quick`: 100) and runs the same duplication check twice against it:

1. mastflow: a manifest with a `table` of the targets and a
   `duplication_check` step, run with `mastflow run M --base-url URL
   --per-host P --out DIR -q` for each P in `--per-host` (default 4 8 16);
2. astroquery (the duplication_checking notebook's loop, unmodified
   astroquery from PyPI): per target `Observations.query_criteria_count(
   obs_collection='JWST', coordinates=..., radius=...)`, then
   `Observations.query_criteria(...)` when the count is > 0.

Reports wall time, requests (mastflow: the sum of `requests` in run.json;
both: the sandbox's own counter, `/_sandbox/stats`), the floor set by
mastflow's concurrency bound (requests / per_host x latency) and how close
mastflow comes to it, the speed-up over astroquery, and whether both found
the same observations (same set of obs_id per target).

Targets are realistic and reproducible (`--seed`): a share cluster around
the sandbox's real and synthetic JWST targets (within 1' of an observed
position, so many match), the rest are random fields over the sky (most
match nothing); RA/Dec are sexagesimal, radii 30s, 1m or 2m.

    cargo build --release
    python3 benches/dup_bench.py            # 500 targets, per-host 4 8 16
    python3 benches/dup_bench.py --quick    # 100 targets
    python3 benches/dup_bench.py --json out.json

See benches/README-dup.md.
"""

import argparse
import csv
import io
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTEROP = ROOT / "tests" / "interop"


# ---------------------------------------------------------------- sandbox

class Sandbox:
    """`mastflow sandbox` as a subprocess on a free port."""

    def __init__(self, binary, latency_ms, scale=None, seed=None):
        cmd = [str(binary), "sandbox", "--port", "0", "--latency-ms", str(latency_ms)]
        if scale is not None:
            cmd += ["--scale", str(scale)]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http"):
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.stop()
            raise SystemExit(f"sandbox did not start: {line!r} {err}")
        self.url = line
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method, path, data=None):
        req = urllib.request.Request(self.url + path, data=data, method=method)
        with self._opener.open(req, timeout=120) as r:
            return json.load(r)

    def stats(self, reset=False):
        return self._call("DELETE" if reset else "GET", "/_sandbox/stats")

    def invoke(self, request):
        body = ("request=" + urllib.parse.quote(json.dumps(request))).encode()
        return self._call("POST", "/api/v0/invoke", body)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- targets

def hms(deg):
    h = (deg % 360.0) / 15.0
    hh = int(h)
    m = (h - hh) * 60
    mm = int(m)
    ss = (m - mm) * 60
    if round(ss, 4) >= 60:
        ss, mm = 0.0, mm + 1
    if mm >= 60:
        mm, hh = 0, (hh + 1) % 24
    return f"{hh:02d}:{mm:02d}:{ss:07.4f}"


def dms(deg):
    sign = "-" if deg < 0 else "+"
    d = abs(deg)
    dd = int(d)
    m = (d - dd) * 60
    mm = int(m)
    ss = (m - mm) * 60
    if round(ss, 3) >= 60:
        ss, mm = 0.0, mm + 1
    if mm >= 60:
        mm, dd = 0, dd + 1
    return f"{sign}{dd:02d}:{mm:02d}:{ss:06.3f}"


def observed_positions(sb):
    """Distinct (target_name, ra, dec) of executed JWST observations."""
    req = {"service": "Mast.Caom.Filtered", "format": "json", "pagesize": 500000, "page": 1,
           "params": {"columns": "target_name,s_ra,s_dec",
                      "filters": [{"paramName": "obs_collection", "values": ["JWST"]},
                                  {"paramName": "calib_level", "values": [{"min": 2}]}]}}
    seen = {}
    for r in sb.invoke(req)["data"]:
        if r["s_ra"] is None or r["s_dec"] is None:
            continue
        key = (r["target_name"], round(r["s_ra"], 2), round(r["s_dec"], 2))
        seen.setdefault(key, (r["target_name"], r["s_ra"], r["s_dec"]))
    return sorted(seen.values())


def make_targets(n, positions, seed, clustered=0.3):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if positions and rng.random() < clustered:
            _, ra0, dec0 = rng.choice(positions)
            # within 1' of an observed position: most of these match
            r = rng.uniform(0, 1.0 / 60)
            a = rng.uniform(0, 2 * math.pi)
            dec = max(-89.9, min(89.9, dec0 + r * math.cos(a)))
            ra = (ra0 + r * math.sin(a) / max(math.cos(math.radians(dec)), 0.05)) % 360.0
        else:
            ra = rng.uniform(0, 360.0)
            dec = math.degrees(math.asin(rng.uniform(-1, 1)))
        radius = rng.choices(["30s", "1m", "2m"], weights=[6, 2, 2])[0]
        out.append({"target_name": f"T{i + 1:04d}", "RA": hms(ra), "DEC": dms(dec), "Radius": radius})
    return out


def radius_arcsec(s):
    unit = s[-1]
    return float(s[:-1]) * {"s": 1, "m": 60, "d": 3600}[unit]


# ---------------------------------------------------------------- mastflow

MANIFEST = """version: 1
name: dup-bench
description: duplication check of {n} generated targets (benches/dup_bench.py)
steps:
  targets:
    kind: table
    csv: |
{csv}
  duplicates:
    kind: duplication_check
    targets: targets
    ra_column: RA
    dec_column: DEC
    radius_column: Radius
    moving_targets: []
outputs:
  - {{from: duplicates, path: duplicates.ecsv}}
  - {{from: duplicates.found, path: found.csv}}
"""


def write_manifest(path, targets):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["target_name", "RA", "DEC", "Radius"], lineterminator="\n")
    w.writeheader()
    w.writerows(targets)
    body = "\n".join("      " + line for line in buf.getvalue().splitlines())
    path.write_text(MANIFEST.format(n=len(targets), csv=body))


def run_mastflow(binary, manifest, url, per_host, out):
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    p = subprocess.run([str(binary), "run", str(manifest), "--base-url", url, "--per-host", str(per_host),
                        "--out", str(out), "-q"], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise SystemExit(f"mastflow run failed ({p.returncode}):\n{p.stderr}")
    run = json.loads((out / "run.json").read_text())
    requests = sum(s.get("requests", 0) for s in run["steps"])
    found = {}
    with open(out / "found.csv", newline="") as f:
        for r in csv.DictReader(f):
            found.setdefault(r["target"], set()).add(r["obs_id"])
    steps = {s["name"]: s.get("requests", 0) for s in run["steps"] if s.get("requests")}
    return {"wall_s": wall, "requests": requests, "found": found, "steps": steps,
            "status": run.get("status"), "exit_code": p.returncode}


# ---------------------------------------------------------------- astroquery

def run_astroquery(url, targets):
    os.environ["MASTFLOW_SANDBOX_URL"] = url
    sys.path.insert(0, str(INTEROP))
    import warnings

    warnings.simplefilter("ignore")
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from sandbox_common import Observations  # points astroquery at the sandbox

    found = {}
    t0 = time.perf_counter()
    for t in targets:
        coord = SkyCoord(t["RA"], t["DEC"], unit=(u.hourangle, u.deg))
        radius = radius_arcsec(t["Radius"]) * u.arcsec
        n = Observations.query_criteria_count(obs_collection="JWST", coordinates=coord, radius=radius)
        if n > 0:
            obs = Observations.query_criteria(obs_collection="JWST", coordinates=coord, radius=radius)
            found[t["target_name"]] = set(str(x) for x in obs["obs_id"])
    return {"wall_s": time.perf_counter() - t0, "found": found}


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="100 targets")
    ap.add_argument("--per-host", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--latency-ms", type=int, default=150)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--clustered", type=float, default=0.3, help="share of targets near observed positions")
    ap.add_argument("--mastflow", default=str(ROOT / "target" / "release" / "mastflow"))
    ap.add_argument("--skip-astroquery", action="store_true")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--keep", help="keep the manifest and outputs in this directory")
    args = ap.parse_args()
    n = 100 if args.quick else args.targets
    binary = Path(args.mastflow)
    if not binary.exists():
        raise SystemExit(f"{binary} not found: run `cargo build --release` first")

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dup-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    sb = Sandbox(binary, args.latency_ms)
    try:
        positions = observed_positions(sb)
        targets = make_targets(n, positions, args.seed, args.clustered)
        manifest = work / "dup-bench.yaml"
        write_manifest(manifest, targets)
        print(f"sandbox {sb.url}, latency {args.latency_ms} ms; {n} targets "
              f"({args.clustered:.0%} near {len(positions)} observed positions, seed {args.seed}); work dir {work}")

        results = {"targets": n, "latency_ms": args.latency_ms, "seed": args.seed, "mastflow": []}
        for p in args.per_host:
            sb.stats(reset=True)
            r = run_mastflow(binary, manifest, sb.url, p, work / f"out-p{p}")
            served = sb.stats(reset=True)["requests"]
            floor = r["requests"] / p * args.latency_ms / 1000.0
            r.update(per_host=p, served=served, floor_s=floor, vs_floor=r["wall_s"] / floor if floor else None)
            results["mastflow"].append(r)
            print(f"mastflow --per-host {p:>2}: {r['wall_s']:7.2f} s, {r['requests']} requests "
                  f"(sandbox served {served}; {r['steps']}), floor {floor:6.2f} s, "
                  f"actual/floor {r['vs_floor']:.2f}; {sum(1 for v in r['found'].values() if v)} targets matched")

        if not args.skip_astroquery:
            sb.stats(reset=True)
            a = run_astroquery(sb.url, targets)
            a["requests"] = sb.stats(reset=True)["requests"]
            results["astroquery"] = a
            seq = a["requests"] * args.latency_ms / 1000.0
            print(f"astroquery loop:     {a['wall_s']:7.2f} s, {a['requests']} requests "
                  f"(sequential floor {seq:.2f} s); {len(a['found'])} targets matched")
            for r in results["mastflow"]:
                r["speedup_vs_astroquery"] = a["wall_s"] / r["wall_s"]
                print(f"  speed-up of mastflow --per-host {r['per_host']:>2} over astroquery: "
                      f"{r['speedup_vs_astroquery']:.1f}x")
            # Same observations per target?
            mf = results["mastflow"][0]["found"]
            names = [t["target_name"] for t in targets]
            diff = [t for t in names if mf.get(t, set()) != a["found"].get(t, set())]
            same_runs = all(r["found"] == mf for r in results["mastflow"])
            nobs = sum(len(v) for v in mf.values())
            results["same_obs_ids"] = not diff and same_runs
            results["differing_targets"] = diff
            print(f"same obs_id set per target: {'yes' if not diff else 'NO'} "
                  f"({len(names) - len(diff)}/{len(names)} targets agree, {nobs} observations over "
                  f"{sum(1 for v in mf.values() if v)} matched targets; mastflow runs agree with each other: "
                  f"{'yes' if same_runs else 'NO'})")
            for t in diff[:10]:
                print(f"  {t}: mastflow {sorted(mf.get(t, set()))[:5]} astroquery {sorted(a['found'].get(t, set()))[:5]}")

        if args.json:
            def clean(x):
                if isinstance(x, dict):
                    return {k: clean(v) for k, v in x.items() if k != "found"}
                if isinstance(x, list):
                    return [clean(v) for v in x]
                return x
            Path(args.json).write_text(json.dumps(clean(results), indent=2))
        ok = results.get("same_obs_ids", True)
        return 0 if ok else 1
    finally:
        sb.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

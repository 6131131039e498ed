#!/usr/bin/env python3
"""Latency of sandbox queries over a large synthetic archive.

Start a sandbox first (release build), e.g. 10^6 synthetic observations:

    MASTFLOW_SANDBOX_SCALE=1000000 MASTFLOW_SANDBOX_PORT=8765 \
      cargo test --release --test sandbox_serve -- --ignored --nocapture

(or `mastflow sandbox --scale 1000000 --port 8765` once the CLI is wired),
then:

    python3 benches/sandbox_bench.py --url http://127.0.0.1:8765 [--repeat 20]

Each query is sent REPEAT times with a fresh cacheBreaker; the script prints
the median and p90 wall time per query (HTTP round trip included, the body
read in full) and the number of rows. Standard library only.
"""

import argparse
import json
import statistics
import time
import urllib.parse
import urllib.request
import uuid

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def invoke(url, req):
    req = dict(req, cacheBreaker=str(uuid.uuid4()))
    body = ("request=" + urllib.parse.quote(json.dumps(req))).encode()
    r = urllib.request.Request(url + "/api/v0/invoke", data=body,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    t0 = time.perf_counter()
    with OPENER.open(r) as resp:
        data = resp.read()
    dt = time.perf_counter() - t0
    j = json.loads(data)
    if j.get("status") != "COMPLETE":
        raise SystemExit(f"query failed: {j.get('msg')}")
    rows = j["data"][0]["Column1"] if j["fields"] and j["fields"][0]["name"] == "Column1" else j["paging"]["rowsFiltered"]
    return dt, rows, len(data)


def cone(ra, dec, r, pagesize=50000):
    return {"service": "Mast.Caom.Cone", "params": {"ra": ra, "dec": dec, "radius": r},
            "format": "json", "pagesize": pagesize, "page": 1}


def position(ra, dec, r, filters, columns="*"):
    return {"service": "Mast.Caom.Filtered.Position",
            "params": {"columns": columns, "filters": filters, "position": f"{ra}, {dec}, {r}"},
            "format": "json", "pagesize": 50000, "page": 1}


def criteria(filters, columns="*", pagesize=50000):
    return {"service": "Mast.Caom.Filtered", "params": {"columns": columns, "filters": filters},
            "format": "json", "pagesize": pagesize, "page": 1}


JWST = {"paramName": "obs_collection", "separator": ";", "values": ["JWST"]}

QUERIES = [
    ("cone 0.2 deg, random field", cone(123.4, -12.3, 0.2)),
    ("cone 0.2 deg, WASP-39 cluster", cone(217.32661, -3.4445, 0.2)),
    ("cone 1 deg, SMACS 0723 cluster", cone(110.8375, -73.4544, 1.0, pagesize=1000)),
    ("position count 30\", Trappist-1", position(346.6223687, -5.0413993, 30 / 3600, [JWST], "COUNT_BIG(*)")),
    ("position 2', M 57, JWST", position(283.3962365, 33.0291342, 2 / 60, [JWST])),
    ("criteria count, JWST NIRCAM*", criteria([JWST, {"paramName": "instrument_name", "values": [], "freeText": "NIRCAM%"}], "COUNT_BIG(*)")),
    ("criteria, program 1073 NIRCAM/IMAGE", criteria([JWST, {"paramName": "proposal_id", "values": ["1073"]},
                                                      {"paramName": "instrument_name", "values": ["NIRCAM/IMAGE"]}])),
    ("criteria, t_exptime range, page of 1000", criteria([{"paramName": "t_exptime", "values": [{"min": 100, "max": 1000}]}], pagesize=1000)),
    ("criteria, target_name Io* (LIKE scan)", criteria([JWST, {"paramName": "target_name", "values": [], "freeText": "Io%"}])),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8765")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    with OPENER.open(args.url + "/_sandbox/info") as r:
        info = json.load(r)
    print(f"archive: {info['observations']} observations ({info['synthetic_observations']} synthetic), "
          f"HEALPix entries {info['sky_index_entries']}")
    print(f"{'query':45} {'rows':>8} {'bytes':>10} {'median ms':>10} {'p90 ms':>8}")
    for name, req in QUERIES:
        times = []
        for _ in range(args.repeat):
            dt, rows, size = invoke(args.url, req)
            times.append(dt * 1000)
        times.sort()
        p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
        print(f"{name:45} {rows:>8} {size:>10} {statistics.median(times):>10.1f} {p90:>8.1f}")


if __name__ == "__main__":
    main()

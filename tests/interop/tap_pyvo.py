#!/usr/bin/env python3
"""Reference TAP client for tests/tap_dachs.rs: run ONE query with pyvo and
print the answer as JSON, so a Rust test can compare mastflow's rows with it.

    tap_pyvo.py TAP_URL QUERY [--mode sync|async] [--maxrec N]
                [--format votable/b2|votable/td|votable|...]

Prints one JSON object on stdout:

    {"pyvo": "1.9.1", "astropy": "8.0.2", "url": ..., "query": ..., "mode": ...,
     "maxrec": N|null, "format": ...|null,
     "status": "OK" | "OVERFLOW" | "ERROR",    # the last QUERY_STATUS pyvo saw
     "error": null | {"type": "DALQueryError", "message": "..."},
     "warnings": ["DALOverflowWarning", ...],  # Python warnings pyvo raised
     "columns": [{"name", "datatype", "arraysize", "dtype", "unit", "ucd", "null"}],
     "rows": [[...], ...], "count": N}

`datatype`/`arraysize`/`null` are the VOTable FIELD's (null = VALUES/@null);
`dtype` is the numpy dtype astropy gave the column. Cells: null is null (from
astropy's masks, read off the VOTable array itself: `to_table()` would turn a
NULL string into ""; a NaN float is null too), numbers are JSON numbers
(integers exact), booleans true/false, strings as they are, arrays lists.

A query the service rejects still exits 0 with status ERROR and the message
(the case a test wants to compare); anything else going wrong exits 2.
"""
import argparse
import json
import math
import sys
import warnings

import numpy as np
import astropy
import pyvo
from pyvo.dal import DALQueryError


def cell(v, masked):
    if masked is True or (isinstance(masked, np.bool_) and bool(masked)):
        return None
    if isinstance(v, np.ma.MaskedArray):
        return [cell(x, m) for x, m in zip(v.data.tolist(), np.ma.getmaskarray(v).tolist())]
    if isinstance(v, np.ndarray):
        return [cell(x, False) for x in v.tolist()]
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8")
    if isinstance(v, (str, np.str_)):
        return str(v)
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return None
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if isinstance(v, (list, tuple)):
        return [cell(x, False) for x in v]
    return str(v)


def columns(table):
    out = []
    arr = table.array
    for i, f in enumerate(table.fields):
        null = None
        if f.values is not None and f.values.null is not None:
            null = cell(f.values.null, False)
        out.append({
            "name": f.name,
            "datatype": f.datatype,
            "arraysize": f.arraysize,
            "dtype": str(arr.dtype[i]),
            "unit": str(f.unit) if f.unit is not None else None,
            "ucd": f.ucd,
            "null": null,
        })
    return out


def rows(table):
    arr = table.array
    names = arr.dtype.names
    data = arr.data
    mask = np.ma.getmaskarray(arr)
    out = []
    for r in range(len(arr)):
        out.append([cell(data[r][n], mask[r][n]) for n in names])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("query")
    ap.add_argument("--mode", choices=["sync", "async"], default="sync")
    ap.add_argument("--maxrec", type=int)
    ap.add_argument("--format", help="RESPONSEFORMAT (default: the service's)")
    a = ap.parse_args()

    svc = pyvo.dal.TAPService(a.url)
    extra = {"RESPONSEFORMAT": a.format} if a.format else {}
    out = {
        "pyvo": pyvo.__version__, "astropy": astropy.__version__,
        "url": a.url, "query": a.query, "mode": a.mode, "maxrec": a.maxrec,
        "format": a.format, "status": None, "error": None, "warnings": [],
        "columns": [], "rows": [], "count": 0,
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if a.mode == "sync":
                res = svc.run_sync(a.query, maxrec=a.maxrec, **extra)
            else:
                res = svc.run_async(a.query, maxrec=a.maxrec, **extra)
        except DALQueryError as e:
            out["status"] = "ERROR"
            out["error"] = {"type": type(e).__name__, "message": str(e)}
            res = None
    out["warnings"] = sorted({type(w.message).__name__ for w in caught
                              if issubclass(w.category, pyvo.dal.exceptions.DALOverflowWarning)
                              or w.category.__module__.startswith("pyvo")})
    if res is not None:
        table = res.resultstable
        out["status"] = res.query_status
        out["columns"] = columns(table)
        out["rows"] = rows(table)
        out["count"] = len(out["rows"])
    json.dump(out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 -- report, exit 2
        print(f"tap_pyvo.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(2)

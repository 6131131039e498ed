#!/usr/bin/env python3
"""Write a deterministic obscore-like VOTable of N rows, as BINARY2 and TABLEDATA.

    python3 benches/gen_votable.py OUT_PREFIX [--rows N] [--seed S]

writes OUT_PREFIX.b2.vot and OUT_PREFIX.td.vot and prints a JSON summary
(rows, bytes, null counts per column) on stdout. The two files hold the same
rows. The generator uses only the standard library (random, struct, base64),
so the bytes depend only on N and the seed.

Columns (13, so the BINARY2 null bitmap takes two bytes per row):

| column | datatype | nulls |
|---|---|---|
| obs_id | char * | never |
| obs_collection | char * | never |
| instrument_name | char * | never |
| target_name | char * | ~8 % (empty TD / bitmap) |
| filters | char * | ~10 % |
| s_ra, s_dec | double | never |
| t_min | double | ~3 % (empty TD / bitmap + NaN) |
| t_exptime | double | never |
| em_min | float | ~5 % |
| calib_level | short, VALUES null="-32768" | ~5 % (the sentinel, in both files) |
| obsid | long | never |
| is_public | boolean | ~2 % (`?` / bitmap) |
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import struct
import sys

COLUMNS = [
    # name, datatype, arraysize, unit, ucd
    ("obs_id", "char", "*", None, "meta.id;meta.main"),
    ("obs_collection", "char", "*", None, "meta.id"),
    ("instrument_name", "char", "*", None, "meta.id;instr.setup"),
    ("target_name", "char", "*", None, "meta.id;src"),
    ("filters", "char", "*", None, "meta.id;instr.filter"),
    ("s_ra", "double", None, "deg", "pos.eq.ra;meta.main"),
    ("s_dec", "double", None, "deg", "pos.eq.dec;meta.main"),
    ("t_min", "double", None, "d", "time.start;obs.exposure"),
    ("t_exptime", "double", None, "s", "time.duration;obs.exposure"),
    ("em_min", "float", None, "m", "em.wl;stat.min"),
    ("calib_level", "short", None, None, "meta.code;obs.calib"),
    ("obsid", "long", None, None, "meta.id"),
    ("is_public", "boolean", None, None, "meta.code"),
]
SHORT_NULL = -32768
INSTRUMENTS = ["NIRCAM/IMAGE", "NIRSPEC/MSA", "NIRSPEC/IFU", "MIRI/IMAGE", "MIRI/IFU", "NIRISS/SOSS", "FGS"]
FILTERS = ["F200W", "F444W", "F150W;F444W", "CLEAR;PRISM", "F770W", "F1800W", "G395H;F290LP"]
TARGETS = ["NGC-628", "M101", "WASP-39", "ORION, TRAPEZIUM", "omega Cen", "SMACS 0723", "TRAPPIST-1"]


def rows(n: int, seed: int):
    """One tuple per row; None marks a null."""
    rng = random.Random(seed)
    for i in range(n):
        prog = 1000 + (i // 2000)
        inst = INSTRUMENTS[rng.randrange(len(INSTRUMENTS))]
        obs_id = f"jw{prog:05d}{i % 1000:03d}001_{rng.randrange(100000):05d}_{inst.split('/')[0].lower()}"
        target = None if rng.random() < 0.08 else TARGETS[rng.randrange(len(TARGETS))] + f" {i % 97}"
        filt = None if rng.random() < 0.10 else FILTERS[rng.randrange(len(FILTERS))]
        ra = rng.uniform(0.0, 360.0)
        dec = rng.uniform(-90.0, 90.0)
        t_min = None if rng.random() < 0.03 else 59000.0 + rng.random() * 2000.0
        exptime = round(rng.uniform(10.0, 10000.0), 3)
        em_min = None if rng.random() < 0.05 else struct.unpack(">f", struct.pack(">f", rng.uniform(6e-7, 2.8e-5)))[0]
        calib = None if rng.random() < 0.05 else rng.choice([-1, 1, 2, 3])
        obsid = 87_000_000 + i
        public = None if rng.random() < 0.02 else rng.random() < 0.7
        yield (obs_id, "JWST", inst, target, filt, ra, dec, t_min, exptime, em_min, calib, obsid, public)


def header(n: int) -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n',
        '<RESOURCE type="results">\n<INFO name="QUERY_STATUS" value="OK"/>\n',
        f'<TABLE name="obscore" nrows="{n}">\n',
    ]
    for name, dt, size, unit, ucd in COLUMNS:
        attrs = f'name="{name}" datatype="{dt}"'
        if size:
            attrs += f' arraysize="{size}"'
        if unit:
            attrs += f' unit="{unit}"'
        attrs += f' ucd="{ucd}"'
        if dt == "short":
            out.append(f'<FIELD {attrs}><VALUES null="{SHORT_NULL}"/></FIELD>\n')
        else:
            out.append(f"<FIELD {attrs}/>\n")
    out.append("<DATA>")
    return "".join(out)


FOOTER = "</DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n"


def xml_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def td_row(r) -> str:
    cells = []
    for (name, dt, *_), v in zip(COLUMNS, r):
        if dt == "short":
            cells.append(str(SHORT_NULL if v is None else v))
        elif v is None:
            cells.append("")
        elif dt == "char":
            cells.append(xml_text(v))
        elif dt == "boolean":
            cells.append("T" if v else "F")
        elif dt in ("double", "float"):
            cells.append(repr(v))
        else:
            cells.append(str(v))
    return "<TR>" + "".join(f"<TD>{c}</TD>" for c in cells) + "</TR>\n"


def b2_row(r) -> bytes:
    bitmap = bytearray((len(COLUMNS) + 7) // 8)
    body = bytearray()
    for j, ((name, dt, *_), v) in enumerate(zip(COLUMNS, r)):
        if v is None and dt != "short":
            bitmap[j // 8] |= 0x80 >> (j % 8)
        if dt == "char":
            b = (v or "").encode("utf-8")
            body += struct.pack(">I", len(b)) + b
        elif dt == "double":
            body += struct.pack(">d", float("nan") if v is None else v)
        elif dt == "float":
            body += struct.pack(">f", float("nan") if v is None else v)
        elif dt == "short":
            body += struct.pack(">h", SHORT_NULL if v is None else v)
        elif dt == "long":
            body += struct.pack(">q", v)
        elif dt == "boolean":
            body += b"?" if v is None else (b"T" if v else b"F")
    return bytes(bitmap) + bytes(body)


def write(prefix: str, n: int, seed: int) -> dict:
    nulls = [0] * len(COLUMNS)
    td_path, b2_path = prefix + ".td.vot", prefix + ".b2.vot"
    with open(td_path, "w", encoding="utf-8", newline="\n") as td, open(b2_path, "wb") as b2:
        head = header(n)
        td.write(head + "<TABLEDATA>\n")
        b2.write((head + '<BINARY2>\n<STREAM encoding="base64">\n').encode())
        pending = bytearray()
        for r in rows(n, seed):
            for j, v in enumerate(r):
                nulls[j] += v is None
            td.write(td_row(r))
            pending += b2_row(r)
            if len(pending) >= 57 * 2048:
                cut = len(pending) // 57 * 57
                b2.write(base64.encodebytes(bytes(pending[:cut])))
                del pending[:cut]
        b2.write(base64.encodebytes(bytes(pending)))
        td.write("</TABLEDATA>" + FOOTER)
        b2.write(("</STREAM>\n</BINARY2>" + FOOTER).encode())
    return {
        "rows": n,
        "seed": seed,
        "columns": [c[0] for c in COLUMNS],
        "nulls": dict(zip([c[0] for c in COLUMNS], nulls)),
        "files": {"binary2": b2_path, "tabledata": td_path},
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prefix")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20240301)
    a = ap.parse_args(argv)
    print(json.dumps(write(a.prefix, a.rows, a.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Generate a JWST-products-like CSV for the table benchmarks.

Deterministic: the same `--rows` and `--seed` give a byte-identical file.

Columns (the shape MAST's `Mast.Caom.Products` returns, reduced to the ones
the benchmark pipeline touches plus a few realistic passengers):

    obs_id           jw01366001001_04101_00001-seg001_nis   (many products per obs_id)
    obsid            int, one per obs_id
    calib_level      int in {-1, 1, 2, 3}
    t_exptime        float, seconds
    instrument_name  NIRCAM/IMAGE, NIRSPEC/MSA, ...
    productType      SCIENCE / AUXILIARY / INFO / PREVIEW
    dataURI          mast:JWST/product/<obs_id>_<suffix>.<ext>; ~20% of the rows
                     repeat the dataURI of another row (duplicates across
                     observations, as MAST returns when products are shared)
    size             int, bytes
    filters          F200W;F444W ... ; ~10% null (empty field)
    dataRights       PUBLIC / EXCLUSIVE_ACCESS

Usage: python3 benches/gen_products.py OUT.csv [--rows N] [--seed S]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

INSTRUMENTS = [
    ("NIRCAM/IMAGE", "nrca1", 0.24),
    ("NIRCAM/GRISM", "nrcalong", 0.06),
    ("NIRCAM/CORON", "nrcb3", 0.02),
    ("NIRSPEC/MSA", "nrs1", 0.12),
    ("NIRSPEC/IFU", "nrs2", 0.06),
    ("NIRSPEC/SLIT", "nrs1", 0.04),
    ("NIRISS/SOSS", "nis", 0.06),
    ("NIRISS/WFSS", "nis", 0.05),
    ("NIRISS/IMAGE", "nis", 0.03),
    ("MIRI/IMAGE", "mirimage", 0.17),
    ("MIRI/IFU", "mirifushort", 0.08),
    ("MIRI/SLIT", "mirimage", 0.02),
    ("FGS/FGS", "guider1", 0.05),
]
PRODUCT_TYPES = [("SCIENCE", 0.55), ("AUXILIARY", 0.25), ("INFO", 0.12), ("PREVIEW", 0.08)]
CALIB_LEVELS = [(-1, 0.05), (1, 0.30), (2, 0.40), (3, 0.25)]
SUFFIXES = [
    "uncal.fits", "rate.fits", "rateints.fits", "cal.fits", "calints.fits", "i2d.fits",
    "x1d.fits", "s2d.fits", "crf.fits", "asn.json", "pool.csv", "thumb.jpg", "trapsfilled.fits",
]
FILTERS = [
    "F070W", "F090W", "F115W", "F150W", "F200W", "F277W", "F356W", "F444W", "F560W", "F770W",
    "F1000W", "F1500W", "F2100W", "CLEAR;F200W", "F150W2;F162M", "F322W2;F323N", "GR700XD;CLEAR",
    "CLEAR;PRISM", "F290LP;G395H", "CH1-SHORT", "CH3-LONG",
]
COLUMNS = ["obs_id", "obsid", "calib_level", "t_exptime", "instrument_name", "productType",
           "dataURI", "size", "filters", "dataRights"]


def pick(rng: np.random.Generator, choices, n: int) -> np.ndarray:
    values = np.array([c[0] for c in choices], dtype=object)
    p = np.array([c[-1] for c in choices], dtype=float)
    return values[rng.choice(len(values), size=n, p=p / p.sum())]


def generate(rows: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Observations: ~10 products each on average.
    n_obs = max(1, rows // 10)
    programs = rng.integers(1000, 6600, size=max(1, n_obs // 40))
    prog = programs[rng.integers(0, len(programs), size=n_obs)]
    inst_idx = rng.choice(len(INSTRUMENTS), size=n_obs, p=np.array([i[2] for i in INSTRUMENTS]) / sum(i[2] for i in INSTRUMENTS))
    obs_num = rng.integers(1, 200, size=n_obs)
    visit = rng.integers(1, 9, size=n_obs)
    act = rng.integers(1, 40, size=n_obs)
    expo = rng.integers(1, 30, size=n_obs)
    seg = rng.integers(0, 4, size=n_obs)
    obs_ids = np.empty(n_obs, dtype=object)
    for i in range(n_obs):
        det = INSTRUMENTS[inst_idx[i]][1]
        s = f"-seg{seg[i]:03d}" if seg[i] else ""
        obs_ids[i] = f"jw{prog[i]:05d}{obs_num[i]:03d}{visit[i]:03d}_{act[i]:02d}101_{expo[i]:05d}{s}_{det}"
    obs_instrument = np.array([INSTRUMENTS[i][0] for i in inst_idx], dtype=object)
    obsids = rng.choice(np.arange(87_000_000, 87_000_000 + n_obs * 7), size=n_obs, replace=False)
    obs_rights = np.where(rng.random(n_obs) < 0.85, "PUBLIC", "EXCLUSIVE_ACCESS").astype(object)
    obs_exptime = np.round(rng.lognormal(mean=6.5, sigma=1.2, size=n_obs), 3)

    # Products: sorted by observation like a MAST response, then shuffled in
    # blocks so the file is not already in the benchmark's sort order.
    owner = np.sort(rng.integers(0, n_obs, size=rows))
    block = 4096
    order = np.concatenate([np.arange(s, min(s + block, rows)) for s in rng.permutation(np.arange(0, rows, block))])
    owner = owner[order]

    suffix = np.array(SUFFIXES, dtype=object)[rng.integers(0, len(SUFFIXES), size=rows)]
    serial = np.arange(rows)
    data_uri = np.empty(rows, dtype=object)
    for i in range(rows):
        data_uri[i] = f"mast:JWST/product/{obs_ids[owner[i]]}_{serial[i]:07d}_{suffix[i]}"
    # ~20% of rows repeat another row's dataURI.
    dup = rng.random(rows) < 0.20
    src = rng.integers(0, rows, size=int(dup.sum()))
    data_uri[dup] = data_uri[src]

    filters = np.array(FILTERS, dtype=object)[rng.integers(0, len(FILTERS), size=rows)]
    filters[rng.random(rows) < 0.10] = ""
    exptime = obs_exptime[owner] * np.where(rng.random(rows) < 0.3, 1.0, rng.integers(1, 5, size=rows))

    return {
        "obs_id": obs_ids[owner],
        "obsid": obsids[owner],
        "calib_level": pick(rng, CALIB_LEVELS, rows),
        "t_exptime": np.round(exptime, 3),
        "instrument_name": obs_instrument[owner],
        "productType": pick(rng, PRODUCT_TYPES, rows),
        "dataURI": data_uri,
        "size": rng.integers(2_000, 2_500_000_000, size=rows),
        "filters": filters,
        "dataRights": obs_rights[owner],
    }


def write_csv(path: str, cols: dict[str, np.ndarray]) -> None:
    n = len(cols["obs_id"])
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(",".join(COLUMNS) + "\n")
        chunk = 50_000
        for start in range(0, n, chunk):
            end = min(start + chunk, n)
            parts = [
                cols["obs_id"][start:end],
                cols["obsid"][start:end].astype(str),
                cols["calib_level"][start:end].astype(str),
                [repr(float(x)) for x in cols["t_exptime"][start:end]],
                cols["instrument_name"][start:end],
                cols["productType"][start:end],
                cols["dataURI"][start:end],
                cols["size"][start:end].astype(str),
                cols["filters"][start:end],
                cols["dataRights"][start:end],
            ]
            f.write("".join(",".join(row) + "\n" for row in zip(*parts)))
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20240220)
    a = ap.parse_args(argv)
    write_csv(a.out, generate(a.rows, a.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

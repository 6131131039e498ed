#!/usr/bin/env python3
"""Generate a large, realistic manifest for the plan-scaling benchmark.

The manifest has N steps in the shape real recipes have, scaled up:

* a few inline `table` steps (products of several programs, a proposal table),
* then chains and fan-ins of filter / select / derive / sort / unique / union /
  join / group / head / assert steps, each reading earlier steps (mostly the
  recent ones, sometimes far back), with column references that are valid for
  the columns each upstream step produces, so validation's column inference
  and column checks do real work on every step,
* structured filters with `{{ params.x }}` templates, row expressions reading
  `params.x` and `steps.NAME.count` (which adds template dependencies),
* a few outputs, one with a templated path.

Every generated manifest validates (the bench checks the exit code) and would
run: types are kept compatible across unions and joins.

Deterministic for a given N and seed.

Usage: python3 benches/gen_plan_manifest.py N OUT.yaml [--seed S]
"""

from __future__ import annotations

import argparse
import json
import random
import sys

BASE = ["obs_id", "obsid", "calib_level", "t_exptime", "instrument_name", "productType",
        "dataURI", "size", "filters", "dataRights", "proposal_id"]
NUMERIC = {"obsid", "calib_level", "t_exptime", "size", "proposal_id"}
INSTRUMENTS = ["NIRCAM/IMAGE", "NIRSPEC/MSA", "NIRISS/SOSS", "MIRI/IMAGE", "MIRI/IFU", "FGS/FGS"]
PTYPES = ["SCIENCE", "AUXILIARY", "INFO", "PREVIEW"]
# (name, expression, type). The type is declared: a derived column of an empty
# table would otherwise be inferred as string and clash in a later union.
DERIVED = [
    ("exptime_ks", "t_exptime / 1000.0", "float"),
    ("exptime_h", "t_exptime / 3600.0", "float"),
    ("size_mb", "size / 1e6", "float"),
    ("label", "obs_id ~ '/' ~ instrument_name", "string"),
    ("is_science", "productType == 'SCIENCE' and calib_level >= params.min_calib_level", "bool"),
    ("is_public", "dataRights == 'PUBLIC'", "bool"),
]


def q(v) -> str:
    """A YAML flow value (JSON is valid YAML)."""
    return json.dumps(v)


def product_rows(rng: random.Random, program: int, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        inst = rng.choice(INSTRUMENTS)
        obs = f"jw{program:05d}{rng.randint(1, 99):03d}001_0{rng.randint(1, 9)}101_{rng.randint(1, 20):05d}_nrca1"
        rows.append({
            "obs_id": obs,
            "obsid": 87_000_000 + program * 100 + i,
            "calib_level": rng.choice([-1, 1, 2, 3]),
            "t_exptime": round(rng.uniform(10, 5000), 3),
            "instrument_name": inst,
            "productType": rng.choice(PTYPES),
            "dataURI": f"mast:JWST/product/{obs}_{i:04d}_cal.fits",
            "size": rng.randint(10_000, 2_000_000_000),
            "filters": rng.choice(["F200W", "F444W", "CLEAR;PRISM", None]),
            "dataRights": rng.choice(["PUBLIC", "EXCLUSIVE_ACCESS"]),
            "proposal_id": program,
        })
    return rows


class Gen:
    def __init__(self, n: int, seed: int):
        self.n = n
        self.rng = random.Random(seed)
        self.lines: list[str] = []
        self.cols: dict[str, list[str]] = {}   # step -> columns it produces
        self.kind: dict[str, str] = {}          # step -> "products" | "other"
        self.names: list[str] = []
        self.products: list[str] = []          # steps with the full product schema

    def emit(self, name: str, body: list[str], cols: list[str], products: bool) -> None:
        self.lines.append(f"  {name}:")
        self.lines.extend(f"    {b}" for b in body)
        self.cols[name] = cols
        self.names.append(name)
        if products:
            self.products.append(name)

    def recent(self, pool: list[str], window: int = 40) -> str:
        # Mostly the latest steps (chains), sometimes anything earlier (fan-in
        # from far back).
        if self.rng.random() < 0.85:
            return self.rng.choice(pool[-window:])
        return self.rng.choice(pool)

    def sources(self) -> None:
        for p, program in enumerate([1366, 2734, 1189, 4446]):
            name = f"products_{program}"
            rows = product_rows(self.rng, program, 6)
            body = ["kind: table", f"description: {q(f'Products of program {program}')}", "rows:"]
            body += [f"  - {q(r)}" for r in rows]
            body += ["columns:", "  t_exptime: {unit: s, description: Exposure time}", "  size: {unit: byte}"]
            self.emit(name, body, list(BASE), True)
        body = ["kind: table", "csv: |", "  proposal_id,pi_name,cycle",
                "  1366,Espinoza,1", "  2734,Pontoppidan,1", "  1189,Lunine,1", "  4446,Smith,3"]
        self.emit("proposals", body, ["proposal_id", "pi_name", "cycle"], False)

    def step(self, i: int) -> None:
        r = self.rng.random()
        name = f"s{i:05d}"
        if r < 0.22:
            self.filter(name)
        elif r < 0.32:
            self.derive(name)
        elif r < 0.42:
            self.sort(name)
        elif r < 0.50:
            self.unique(name)
        elif r < 0.60:
            self.union(name)
        elif r < 0.66:
            self.join(name)
        elif r < 0.72:
            self.select(name)
        elif r < 0.78:
            self.group(name)
        elif r < 0.84:
            self.head(name)
        elif r < 0.90:
            self.assert_(name)
        else:
            self.filter_expr(name)

    def filter(self, name: str) -> None:
        src = self.recent(self.products)
        ptypes = self.rng.sample(PTYPES, 2)
        body = ["kind: filter", f"from: {src}", "where:",
                f"  productType: {q(ptypes)}",
                "  calib_level: \">={{ params.min_calib_level }}\"",
                f"  instrument_name: {q(self.rng.choice(['NIRCAM*', 'MIRI/*', '!FGS/FGS', 'NIRSPEC/MSA']))}"]
        if self.rng.random() < 0.5:
            body.append(f"  t_exptime: {{min: {self.rng.randint(0, 100)}, max: 100000}}")
        self.emit(name, body, list(self.cols[src]), True)

    def filter_expr(self, name: str) -> None:
        src = self.recent(self.products)
        other = self.recent(self.names)
        body = ["kind: filter", f"from: {src}",
                f"expr: {q(f'calib_level >= params.min_calib_level and t_exptime > params.min_exptime and steps.{other}.count >= 0')}"]
        self.emit(name, body, list(self.cols[src]), True)

    def derive(self, name: str) -> None:
        # Derived columns come from a fixed pool and replace a column of the
        # same name when the input already has it, so a step's width does not
        # grow with the manifest's length (the per-step work must not depend
        # on N, or the scaling figure would measure the generator).
        src = self.recent(self.products)
        a, b, c = self.rng.sample(range(len(DERIVED)), 3)
        d = [DERIVED[i] for i in (a, b, c)]
        body = ["kind: derive", f"from: {src}", "columns:",
                f"  {d[0][0]}: {{expr: {q(d[0][1])}, type: {d[0][2]}, description: derived in {name}}}",
                f"  {d[1][0]}: {{expr: {q(d[1][1])}, type: {d[1][2]}}}",
                f"  {d[2][0]}: {{expr: {q(d[2][1])}, type: {d[2][2]}, ucd: meta.code}}"]
        cols = list(self.cols[src])
        cols += [DERIVED[i][0] for i in (a, b, c) if DERIVED[i][0] not in cols]
        self.emit(name, body, cols, True)

    def sort(self, name: str) -> None:
        src = self.recent(self.names)
        cols = self.cols[src]
        keys = self.rng.sample(cols, min(2, len(cols)))
        by = [keys[0], f"-{keys[1]}"] if len(keys) > 1 else keys
        body = ["kind: sort", f"from: {src}", f"by: {q(by)}"]
        self.emit(name, body, list(cols), src in self.products)

    def unique(self, name: str) -> None:
        src = self.recent(self.products)
        keys = ["dataURI"] if self.rng.random() < 0.7 else ["obs_id", "productType"]
        body = ["kind: unique", f"from: {src}", f"keys: {q(keys)}"]
        if self.rng.random() < 0.2:
            body.append("keep: last")
        self.emit(name, body, list(self.cols[src]), True)

    def union(self, name: str) -> None:
        k = self.rng.randint(2, 4)
        # Union inputs with the base schema (derived columns differ between
        # chains; a missing column is null, which is fine, but keep the
        # fan-in realistic: the same kind of table from several branches).
        srcs = []
        for _ in range(k):
            s = self.recent(self.products, window=200)
            if s not in srcs:
                srcs.append(s)
        cols: list[str] = []
        for s in srcs:
            cols += [c for c in self.cols[s] if c not in cols]
        body = ["kind: union", f"from: {q(srcs)}"]
        if self.rng.random() < 0.3 and "source_step" not in cols:
            body.append("tag: source_step")
            cols.append("source_step")
            # a tagged table is not unioned again with untagged ones
            self.emit(name, body, cols, False)
            return
        self.emit(name, body, cols, True)

    def join(self, name: str) -> None:
        cands = [s for s in self.products[-60:] if "pi_name" not in self.cols[s]]
        if not cands:
            return self.filter(name)
        src = self.rng.choice(cands)
        body = ["kind: join", f"left: {src}", "right: proposals", "on: [proposal_id]", "how: left"]
        self.emit(name, body, self.cols[src] + ["pi_name", "cycle"], True)

    def select(self, name: str) -> None:
        src = self.recent(self.products)
        cols = ["obs_id", "dataURI", "productType", "calib_level", "t_exptime", "size"]
        extra = [c for c in self.cols[src] if c not in BASE and c not in cols]
        cols += extra[:2]
        body = ["kind: select", f"from: {src}", f"columns: {q(cols)}"]
        self.emit(name, body, cols, False)

    def group(self, name: str) -> None:
        src = self.recent(self.products)
        body = ["kind: group", f"from: {src}", "by: [instrument_name, productType]", "aggregates:",
                "  n: count", "  total_exptime: sum(t_exptime)", "  max_size: max(size)",
                "  observations: count_distinct(obs_id)", "  filters: concat(filters)"]
        self.emit(name, body, ["instrument_name", "productType", "n", "total_exptime", "max_size", "observations", "filters"], False)

    def head(self, name: str) -> None:
        src = self.recent(self.names)
        body = ["kind: head", f"from: {src}", f"n: {self.rng.randint(1, 50)}"]
        self.emit(name, body, list(self.cols[src]), src in self.products)

    def assert_(self, name: str) -> None:
        src = self.recent(self.products)
        body = ["kind: assert", f"from: {src}", "not_null: [obs_id, dataURI]",
                "accepted_values:", f"  productType: {q(PTYPES)}",
                "expr: \"size >= 0\"", "severity: warn", "message: suspicious products"]
        if self.rng.random() < 0.3:
            body.append(f"needs: [{self.recent(self.names)}]")
        self.emit(name, body, list(self.cols[src]), True)

    def render(self) -> str:
        head = [
            "# Generated by benches/gen_plan_manifest.py for the plan-scaling benchmark.",
            "version: 1",
            f"name: plan-scaling-{self.n}",
            "description: >",
            "  A synthetic recipe with the shape of the duplication-checking notebook,",
            f"  scaled to {self.n} steps.",
            "params:",
            "  min_calib_level: {type: integer, default: 2, description: Lowest calibration level kept}",
            "  min_exptime: {type: number, default: 100.0}",
            "  tag: {type: string, default: bench}",
            "steps:",
        ]
        self.sources()
        i = len(self.names)
        while len(self.names) < self.n:
            self.step(i)
            i += 1
        last = self.names[-1]
        outs = ["outputs:",
                f"  - {{from: {last}, path: \"{{{{ params.tag }}}}_final.ecsv\"}}",
                f"  - {{from: {self.products[-1]}, path: products.vot}}",
                f"  - {{from: {self.products[-2]}, path: products.csv, columns: [obs_id, dataURI]}}"]
        return "\n".join(head + self.lines + outs) + "\n"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    text = Gen(a.n, a.seed).render()
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

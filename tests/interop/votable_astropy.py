"""astropy side of tests/votable_astropy.rs.

    python votable_astropy.py write DIR   # astropy_{tabledata,binary,binary2}.vot
    python votable_astropy.py dump FILE...  # astropy's reading of each file, as JSON

`write` makes one table with every VOTable datatype and the arraysize forms
astropy writes (scalar, N, AxB, *, Ax*), nulls in every column, and writes it
in TABLEDATA, BINARY and BINARY2. `dump` parses files with
astropy.io.votable and prints, per column, its FIELD datatype and arraysize,
the numpy dtype and every cell: scalars as JSON values, arrays and complex
numbers as flat lists (C order, which is the file's element order; complex
numbers as re, im), masked values and NaN as null, and a cell that is
masked, empty or all null as null. Exit 3 when astropy is missing.
"""

import json
import math
import sys
import warnings

warnings.simplefilter("ignore")
try:
    import numpy as np
    from astropy.io.votable import from_table, parse
    from astropy.table import Column, MaskedColumn, Table
except Exception as e:  # ImportError, or a broken install
    print("NO_ASTROPY", e)
    sys.exit(3)


def table() -> Table:
    t = Table()
    m = [False, False, True, False]
    t["bit"] = MaskedColumn([True, False, True, False], mask=m)
    t["boolean"] = MaskedColumn([True, False, True, True], mask=m)
    t["ubyte"] = MaskedColumn(np.array([0, 254, 7, 255], dtype=np.uint8), mask=m)
    t["short"] = MaskedColumn(np.array([-32767, 5, 1, 32767], dtype=np.int16), mask=m)
    t["int"] = MaskedColumn(np.array([-2147483647, 70000, 1, 0], dtype=np.int32), mask=m)
    t["long"] = MaskedColumn(np.array([-9007199254740993, 1, 1, 2**62], dtype=np.int64), mask=m)
    t["float"] = MaskedColumn(np.array([0.1, np.nan, 3, -1e30], dtype=np.float32), mask=m)
    t["double"] = MaskedColumn(np.array([0.1, np.nan, 3, np.inf]), mask=m)
    t["fcomplex"] = Column(np.array([1 + 2j, -0.5j, 3, 1e-3 + 1e3j], dtype=np.complex64))
    t["dcomplex"] = MaskedColumn(np.array([1 + 2j, np.nan, 3, -1.5 - 2.5j]), mask=m)
    t["double3"] = MaskedColumn(
        np.array([[1.0, 2, 3], [4, np.nan, 6], [7, 8, 9], [-0.5, 1e300, 2.5e-8]]),
        mask=[[0, 0, 0], [0, 0, 0], [1, 1, 1], [0, 0, 0]],
    )
    t["int3x2"] = Column(np.arange(24, dtype=np.int32).reshape(4, 3, 2))
    t["short2x2"] = Column(np.arange(16, dtype=np.int16).reshape(4, 2, 2) - 8)
    t["doublevar"] = Column(
        [np.ma.array(v, mask=False) for v in ([1.5, 2.5], [], [-1.0], [1e-300, 0.0, 7.0])], dtype=object
    )
    t["intvar"] = Column([np.ma.array(np.array(v, dtype=np.int32), mask=False) for v in ([1, 2, 3], [], [9], [-4])],
                         dtype=object)
    t["double2xvar"] = Column(
        [np.ma.array(np.array(v, dtype=float).reshape(-1, 2), mask=False) for v in ([1, 2, 3, 4], [], [5, 6], [7, 8])],
        dtype=object,
    )
    t["char8"] = MaskedColumn(np.array([b"abc", b"", b"x", b"12345678"], dtype="S8"), mask=m)
    t["charvar"] = MaskedColumn(np.array([b"a & <b>", b"", b"x", b"quote \" '"], dtype="S12"), mask=m)
    t["unicode"] = MaskedColumn(["Ωé", "日本", "a", "café"], mask=m)
    return t


def write(directory: str) -> None:
    vt = from_table(table())
    tab = vt.get_first_table()
    tab.get_field_by_id("boolean").datatype = "boolean"
    tab.get_field_by_id("charvar").arraysize = "*"
    tab.get_field_by_id("unicode").arraysize = "*"
    tab.get_field_by_id("double2xvar").arraysize = "2x*"
    # BINARY has no null flags: masked integers need VALUES null.
    tab.get_field_by_id("ubyte").values.null = 255
    tab.get_field_by_id("short").values.null = -32768
    tab.get_field_by_id("int").values.null = -2147483648
    tab.get_field_by_id("long").values.null = -(2**63)
    tab.get_field_by_id("double").unit = "deg"
    tab.get_field_by_id("double").ucd = "pos.eq.ra"
    for fmt in ("tabledata", "binary", "binary2"):
        tab.format = fmt
        vt.to_xml(f"{directory}/astropy_{fmt}.vot")


def scalar(v):
    if isinstance(v, (bytes, np.bytes_)):
        v = v.decode("utf-8")
    if isinstance(v, str):
        return v or None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    f = float(v)
    if math.isnan(f):
        return None
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f


def elements(v) -> list:
    a = np.ma.asarray(v)
    data, mask = a.data.ravel(), np.ma.getmaskarray(a).ravel()
    out = []
    for x, masked in zip(data, mask):
        if np.iscomplexobj(x):
            parts = [None, None] if masked else [scalar(x.real), scalar(x.imag)]
            out.extend(parts)
        else:
            out.append(None if masked else scalar(x))
    return out


def cell(v, masked):
    if np.ndim(v) == 0 and not isinstance(v, np.ndarray) or isinstance(v, (str, bytes)):
        if masked is True or masked is np.True_:
            return None
        if np.iscomplexobj(v):
            parts = [scalar(v.real), scalar(v.imag)]
            return None if None in parts else parts
        return scalar(v)
    out = elements(np.ma.array(v, mask=masked) if np.ndim(masked) else v)
    return None if all(x is None for x in out) else out


def dump(path: str) -> dict:
    tab = parse(path).get_first_table()
    arr = tab.array
    cols = []
    for field in tab.fields:
        name = field.ID or field.name
        mask = np.ma.getmaskarray(arr)[name] if np.ma.isMaskedArray(arr) else np.zeros(len(arr), dtype=bool)
        values = [cell(v, m) for v, m in zip(arr.data[name], mask)]
        cols.append({
            "name": field.name,
            "datatype": field.datatype,
            "arraysize": field.arraysize,
            "dtype": str(arr.dtype[name].base) if arr.dtype[name] != object else "object",
            "unit": None if field.unit is None else str(field.unit),
            "ucd": field.ucd,
            "values": values,
        })
    return {"rows": len(arr), "columns": cols}


def main() -> None:
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        print(json.dumps({p: dump(p) for p in sys.argv[2:]}))


if __name__ == "__main__":
    main()

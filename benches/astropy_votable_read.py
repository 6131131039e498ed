#!/usr/bin/env python3
"""astropy peer of benches/votable_bench.py: read one VOTable.

    python3 benches/astropy_votable_read.py FILE

Times, in-process, the imports, `astropy.io.votable.parse` and
`get_first_table().to_table()`, and prints one JSON line: rows, the phases
and the masked count of every column.
"""

import json
import sys
import time

t0 = time.perf_counter()
import numpy as np  # noqa: E402
from astropy.io.votable import parse  # noqa: E402

t1 = time.perf_counter()
vot = parse(sys.argv[1])
t2 = time.perf_counter()
table = vot.get_first_table().to_table()
t3 = time.perf_counter()
nulls = {c: int(np.ma.getmaskarray(table[c]).sum()) for c in table.colnames}
print(json.dumps({
    "rows": len(table),
    "import_s": t1 - t0,
    "parse_s": t2 - t1,
    "to_table_s": t3 - t2,
    "read_s": t3 - t1,
    "nulls": nulls,
}))

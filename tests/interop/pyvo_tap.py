"""pyvo (unmodified, from PyPI) against the sandbox's TAP service at
$MASTFLOW_SANDBOX_URL/vo-tap/api/v0.1/caom: capabilities and tables,
run_sync (a cone checked against astropy separations over every row,
BINARY2, NULLs), search with maxrec (OVERFLOW), DALQueryError on a bad
query, run_async, and the job API by hand (submit, run, wait, fetch,
errors, delete). Prints `ok: ...` per check; exits non-zero on a failure.
"""

import os
import sys
import warnings

import numpy as np
import pyvo
from astropy.coordinates import SkyCoord
import astropy.units as u
from pyvo.dal.exceptions import DALQueryError

BASE = os.environ.get("MASTFLOW_SANDBOX_URL", "http://127.0.0.1:8765").rstrip("/")
URL = BASE + "/vo-tap/api/v0.1/caom"
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}")
        sys.exit(1)
    print(f"ok: {what}")


svc = pyvo.dal.TAPService(URL)
check(svc.maxrec == 100000 and svc.hardlimit == 100000, f"outputLimit default/hard: {svc.maxrec}/{svc.hardlimit}")
names = {t.name for t in svc.tables}
check({"ivoa.obscore", "dbo.obspointing", "TAP_SCHEMA.columns"} <= names, f"tables: {sorted(names)}")
cols = {c.name for c in svc.tables["ivoa.obscore"].columns}
check({"obs_publisher_did", "access_url", "s_region", "em_min", "t_xel"} <= cols, f"obscore columns: {len(cols)}")
tap = [c for c in svc.capabilities if str(c.standardid).lower() == "ivo://ivoa.net/std/tap"][0]
adql = tap.get_adql()
geo = "ivo://ivoa.net/std/TAPRegExt#features-adqlgeo"
check(adql is not None and adql.get_feature(geo, "CONTAINS") is not None
      and adql.get_feature(geo, "INTERSECTS") is None, "ADQL with CONTAINS, without INTERSECTS")
check(adql.get_feature("ivo://ivoa.net/std/TAPRegExt#features-adql-offset", "OFFSET") is not None, "OFFSET feature")

RA, DEC, R = 346.62, -5.04, 0.2
cone = (f"SELECT obs_id, s_ra, s_dec, access_estsize, t_exptime FROM ivoa.obscore "
        f"WHERE 1 = CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', {RA}, {DEC}, {R}))")
res = svc.run_sync(cone)
got = set(res.to_table()["obs_id"])
every = svc.run_sync("SELECT obs_id, s_ra, s_dec FROM ivoa.obscore WHERE s_ra IS NOT NULL", maxrec=100000).to_table()
sep = SkyCoord(np.asarray(every["s_ra"]) * u.deg, np.asarray(every["s_dec"]) * u.deg).separation(SkyCoord(RA * u.deg, DEC * u.deg))
want = set(every["obs_id"][sep.deg <= R])
check(len(got) > 0 and got == want, f"run_sync cone: {len(got)} rows = astropy separations over {len(every)} rows")
t = res.to_table()
check(bool(np.all(t["access_estsize"].mask)), "NULL access_estsize is masked")
b2 = svc.run_sync(cone, RESPONSEFORMAT="votable/b2").to_table()
check(sorted(b2["obs_id"]) == sorted(t["obs_id"]), "BINARY2 gives the same rows")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    few = svc.search("SELECT obs_id FROM ivoa.obscore ORDER BY obs_id", maxrec=5)
check(len(few) == 5 and few.query_status == "OVERFLOW", f"search maxrec=5: {len(few)} rows, {few.query_status}")
full = svc.search("SELECT TOP 5 obs_id FROM ivoa.obscore ORDER BY obs_id", maxrec=5)
check(list(full["obs_id"]) == list(few["obs_id"]) and full.query_status == "OK", "TOP 5 with maxrec=5 is complete")

try:
    svc.run_sync("SELECT nope FROM ivoa.obscore")
    check(False, "bad query raises")
except DALQueryError as e:
    check("unknown column 'nope'" in str(e), f"DALQueryError: {e}")
try:
    svc.run_sync("SELECT TOP 1 obs_id FROM ivoa.obscore LIMIT 1")
    check(False, "LIMIT raises")
except DALQueryError as e:
    check("TOP" in str(e), f"LIMIT refused: {e}")

a = svc.run_async("SELECT COUNT(*) AS n, obs_collection FROM dbo.obspointing GROUP BY obs_collection ORDER BY n DESC")
at = a.to_table()
check(list(at["obs_collection"])[:1] == ["JWST"] and int(at["n"].sum()) > 2000, f"run_async: {list(at['n'])}")

job = svc.submit_job("SELECT TOP 7 obsid FROM dbo.obspointing ORDER BY obsid", maxrec=100)
check(job.phase == "PENDING", f"submit_job: {job.phase}")
job.run()
job.wait(timeout=30)
check(job.phase == "COMPLETED", f"wait: {job.phase}")
r = job.fetch_result()
check(len(r) == 7, f"fetch_result: {len(r)} rows")
url = job.url
job.delete()
try:
    pyvo.dal.AsyncTAPJob(url).phase
    check(False, "deleted job is gone")
except Exception as e:  # noqa: BLE001
    check("404" in str(e) or "Not Found" in str(e) or isinstance(e, pyvo.dal.DALServiceError), f"deleted job: {type(e).__name__}")

bad = svc.submit_job("SELECT nope FROM dbo.obspointing")
bad.run()
bad.wait(timeout=30)
check(bad.phase == "ERROR", f"failing job: {bad.phase}")
try:
    bad.raise_if_error()
    check(False, "raise_if_error raises")
except DALQueryError as e:
    check("nope" in str(e), f"raise_if_error: {e}")
bad.delete()
print("PYVO TAP CHECKS OK")

"""astroquery.mast.MastMissions (the MAST missions search API) against the
sandbox: get_column_list, query_criteria (the SI-keyword notebook's search,
comparisons, wildcards, paging by limit/offset), query_region,
get_product_list / get_unique_product_list / filter_products and
download_products / download_file (EAP 401, then login), for JWST and HST.

Every answer is checked against what the data says independently of the
missions code: the bundled real rows (src/sandbox/data/real/*.csv), the
Mashup SI-keyword services (Mast.Jwst.Filtered.*), CAOM product lists
(Mast.Caom.Products) and the bytes of /api/v0.1/Download/file.

Run: MASTFLOW_SANDBOX_URL=http://127.0.0.1:PORT python3 astroquery_missions.py
"""

import hashlib
import inspect
import json
import os
import tempfile
import warnings
from datetime import datetime, timezone

import astropy.units as u
from astropy.coordinates import SkyCoord
from sandbox_common import (BASE, TOKEN, check, done, http_get, point_missions_at_sandbox,
                            raw_invoke, real_csv)

point_missions_at_sandbox()

from astroquery.exceptions import InvalidQueryError, MaxResultsWarning  # noqa: E402
from astroquery.mast import MastMissions  # noqa: E402
from astroquery.mast.missions import MastMissionsClass  # noqa: E402

warnings.simplefilter("ignore")
work = tempfile.mkdtemp(prefix="mastflow-interop-missions-")
os.chdir(work)

SI_SERVICES = ["Nircam", "Niriss", "Nirspec", "Miri", "Fgs"]


def si_rows(service, columns, filters):
    req = {"service": f"Mast.Jwst.Filtered.{service}",
           "params": {"columns": columns, "filters": filters},
           "format": "json", "pagesize": 500000, "page": 1}
    return raw_invoke(req)["data"]


def mast_date_iso(s):
    ms = int(s[len("/Date("):].split(")")[0])
    t = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).replace(tzinfo=None)
    return t.isoformat()


def sha(b):
    return hashlib.sha256(b).hexdigest()


m = MastMissions(mission="jwst")

# --- get_column_list: the util endpoint.
cols = m.get_column_list()
status, raw = http_get("/search/util/api/v0.1/column_list?mission=jwst")
raw_cols = json.loads(raw)
check(status == 200 and list(cols["name"]) == [c["column_name"] for c in raw_cols],
      f"get_column_list: {len(cols)} columns, as the endpoint lists them")
for c in ["fileSetName", "ArchiveFileID", "exp_type", "productLevel", "targ_ra", "date_obs", "access"]:
    check(c in cols["name"], f"column list has {c}")

# --- The SI-keyword notebook's search through the missions API: the 74 real files.
real_si = real_csv("sikw_niriss_soss_snapshot-2024-02-20.csv")
res = m.query_criteria(exp_type="NIS_SOSS", category=["COM", "ERS"], tsovisit="T",
                       date_obs="2022-06-01..2022-08-04", productLevel="!1b",
                       select_cols=["filename", "productLevel", "fileSize", "date_obs", "targprop"])
check(sorted(res["filename"]) == sorted(r["filename"] for r in real_si),
      f"query_criteria SOSS: the {len(res)} real files")
by_file = {r["filename"]: r for r in real_si}
same = all(int(x["ArchiveFileID"]) == int(by_file[x["filename"]]["ArchiveFileID"])
           and x["fileSetName"] == by_file[x["filename"]]["fileSetName"]
           and int(x["fileSize"]) == int(by_file[x["filename"]]["fileSize"])
           and x["productLevel"] == by_file[x["filename"]]["productLevel"]
           for x in res)
check(same, "ArchiveFileID, fileSetName, fileSize, productLevel equal the real rows")
check(all(x["date_obs"].startswith(mast_date_iso(by_file[x["filename"]]["date_obs"])[:19]) for x in res),
      "date_obs is the real /Date(ms)/ as an ISO datetime")
check(res.colnames[0] == "ArchiveFileID" and "fileSetName" in res.colnames,
      "ArchiveFileID and fileSetName always returned")

# Paging: astroquery does not page; limit/offset do, exactly.
everything = m.query_criteria(exp_type="NIS_SOSS", select_cols=["filename"], limit=100000)
pages = []
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    for off in range(0, len(everything), 40):
        pages += list(m.query_criteria(exp_type="NIS_SOSS", select_cols=["filename"], limit=40, offset=off)["ArchiveFileID"])
    maxed = any(issubclass(x.category, MaxResultsWarning) for x in w)
check(pages == list(everything["ArchiveFileID"]), f"limit/offset pages ({len(pages)} rows) == one large page, in order")
check(maxed, "MaxResultsWarning when a page is full")

# --- Comparisons, wildcards, lists and negation vs the Mashup SI service.
ns = m.query_criteria(instrume="NIRSPEC", exp_type="NRS_*", nints=">=5", productLevel=["2a", "2b"],
                      select_cols=["filename", "nints", "exp_type"], limit=100000)
ref = si_rows("Nirspec", "filename,nints,exp_type,productLevel",
              [{"paramName": "productLevel", "values": ["2a", "2b"]},
               {"paramName": "nints", "values": [{"min": 5, "max": 2147483647}]}])
ref = [r for r in ref if r["exp_type"].startswith("NRS_")]
check(len(ns) > 0 and sorted(ns["filename"]) == sorted(r["filename"] for r in ref),
      f"query_criteria NIRSPEC NRS_* nints>=5 levels 2a,2b: {len(ns)} files == Mast.Jwst.Filtered.Nirspec")
nc = m.query_criteria(instrume="NIRCAM", productLevel="2b", nints="3..6", exp_type="!NRC_IMAGE",
                      select_cols=["filename"], limit=100000)
ref = si_rows("Nircam", "filename,exp_type", [{"paramName": "productLevel", "values": ["2b"]},
                                              {"paramName": "nints", "values": [{"min": 3, "max": 6}]}])
ref = [r for r in ref if r["exp_type"] != "NRC_IMAGE"]
check(sorted(nc["filename"]) == sorted(r["filename"] for r in ref),
      f"ranges a..b and !v: {len(nc)} NIRCam files == Mast.Jwst.Filtered.Nircam")

try:
    m.query_criteria(exp_type="NIS_SOSS", select_cols=["no_such_column"])
    check(False, "unknown select_cols column is an error")
except InvalidQueryError:
    check(True, "unknown select_cols column: HTTP 400 → InvalidQueryError")
try:
    m.query_criteria(no_such_column="x")
    check(False, "unknown criterion is an error")
except InvalidQueryError:
    check(True, "unknown criterion rejected against the column list")

# --- query_region (bare radius = arcmin) vs brute force over every SI row.
center = SkyCoord(217.32661, -3.44450, unit="deg")
reg = m.query_region("217.32661 -3.44450", radius=0.5, select_cols=["filename", "targ_ra", "targ_dec"])
si_all = []
for svc in SI_SERVICES:
    si_all += si_rows(svc, "filename,targ_ra,targ_dec,productLevel", [])
pos = [r for r in si_all if r["targ_ra"] is not None]
seps = SkyCoord([r["targ_ra"] for r in pos], [r["targ_dec"] for r in pos], unit="deg").separation(center).arcmin
inside = [(r, s) for r, s in zip(pos, seps) if s <= 0.5]
want = {r["filename"] for r, _ in inside}
want |= {r["filename"].rsplit("_", 1)[0] + "_uncal.fits" for r, _ in inside if r["productLevel"] in ("2a", "2b")}
check(len(reg) > 0 and set(reg["filename"]) == want, f"query_region WASP-39 0.5': {len(reg)} files == brute force")
sep_of = {r["filename"]: s for r, s in inside}
close = all(abs(x["ang_sep"] - sep_of[x["filename"]]) < 1e-6 for x in reg if x["filename"] in sep_of)
check(close and set(reg["search_pos"]) == {"217.32661 -3.4445"}, "ang_sep (arcmin) and search_pos as astropy computes")
reg2 = m.query_region(center, radius=30 * u.arcsec, select_cols=["filename"])
check(sorted(reg2["filename"]) == sorted(reg["filename"]), "radius 30 arcsec == 0.5 (arcmin)")
crit = m.query_criteria(coordinates="217.32661 -3.44450", radius=0.5, productLevel="2b",
                        select_cols=["filename", "productLevel"])
check(0 < len(crit) < len(reg) and set(crit["productLevel"]) == {"2b"}
      and set(crit["filename"]) == {f for f in reg["filename"] if f in want and any(
          r["filename"] == f and r["productLevel"] == "2b" for r, _ in inside)},
      f"query_criteria with coordinates and criteria: {len(crit)} level-2b files")

# --- get_product_list: every file of each file set, as the CAOM product lists name them.
sets = sorted(set(res["fileSetName"]))[:3]
prods = m.get_product_list(res[[x in sets for x in res["fileSetName"]]])
caom_files = {}
for s in sets:
    prog = s[2:7]
    obs = raw_invoke({"service": "Mast.Caom.Filtered", "format": "json", "pagesize": 50000, "page": 1,
                      "params": {"columns": "obsid", "filters": [
                          {"paramName": "obs_collection", "values": ["JWST"]},
                          {"paramName": "proposal_id", "values": [str(int(prog))]}]}})["data"]
    plist = raw_invoke({"service": "Mast.Caom.Products", "format": "json", "pagesize": 500000, "page": 1,
                        "params": {"obsid": ",".join(str(o["obsid"]) for o in obs)}})["data"]
    for p in plist:
        if p["productFilename"].startswith(s):
            caom_files[p["productFilename"]] = p
check(set(prods["fileset"]) == set(sets), f"get_product_list: {len(prods)} products of {len(sets)} file sets")
check(set(prods["filename"]) == set(caom_files), "the same files as the CAOM product lists (Mast.Caom.Products)")
check(all(int(p["size"]) == int(caom_files[p["filename"]]["size"]) for p in prods), "sizes equal the CAOM product sizes")
check(all(int(p["size"]) == int(by_file[p["filename"]]["fileSize"]) for p in prods if p["filename"] in by_file),
      "sizes of SI files equal their real fileSize")
cats = {c for c in prods["category"]}
check({"1b", "2a", "2b"} <= cats, f"categories are product levels: {sorted(cats)}")
uniq = m.get_unique_product_list(res[[x in sets for x in res["fileSetName"]]])
check(len(uniq) == len(set(prods["filename"])), "get_unique_product_list")
flt = m.filter_products(prods, file_suffix=["_uncal", "_rate"], extension="fits")
check(len(flt) > 0 and all(f.endswith(("_uncal.fits", "_rate.fits")) for f in flt["filename"]),
      f"filter_products file_suffix/extension: {len(flt)} files")

# --- download_products: the bytes of Download/file, sizes as listed.
# astroquery <= 0.4.11 builds the local path from a `dataset` column, which
# JWST product rows do not have (they carry `fileset`): it needs flat=True;
# later versions read `fileset` and write mastDownload/jwst/<fileset>/.
small = m.filter_products(prods, extension="jpg")
small = small[:3]
layout_ok = "fileset" in inspect.getsource(MastMissionsClass._download_files)
manifest = m.download_products(small, download_dir=work, flat=not layout_ok)
check(len(manifest) == len(small) and all(s == "COMPLETE" for s in manifest["Status"]),
      f"download_products: {len(manifest)} files COMPLETE (flat={not layout_ok})")
for row, path in zip(small, manifest["Local Path"]):
    path = str(path)
    if layout_ok:
        check(path.endswith(os.path.join("mastDownload", "jwst", row["fileset"], row["filename"])),
              "path mastDownload/jwst/<fileset>/<file>")
    status, body = http_get("/api/v0.1/Download/file?uri=mast:JWST/product/" + row["filename"])
    with open(path, "rb") as f:
        got = f.read()
    check(len(got) == int(row["size"]) and sha(got) == sha(body), f"{row['filename']}: {len(got)} bytes == Download/file")

# --- Exclusive access: 401 (ERROR) without a token, the file after login.
eap = m.query_criteria(access="EXCLUSIVE_ACCESS", productLevel="2b", select_cols=["filename", "fileSize"],
                       sort_by=["fileSize"], limit=1)
check(len(eap) == 1, f"an exclusive-access file: {eap['filename'][0]}")
name = eap["filename"][0]
st, msg, url = m.download_file(f"{eap['fileSetName'][0]}/{name}", local_path=os.path.join(work, "eap"))
check(st == "ERROR" and "401" in str(msg), "download_file of EAP data without a token: 401 → ERROR")
m.login(token=TOKEN)
check(m.session_info(verbose=False)["anon"] is False, "login with the sandbox token")
st, msg, url = m.download_file(f"{eap['fileSetName'][0]}/{name}", local_path=os.path.join(work, "eap"))
size = os.path.getsize(os.path.join(work, "eap", name))
check(st == "COMPLETE" and size == int(eap["fileSize"][0]), f"after login: {size} bytes")

# --- HST: the dataset layout astroquery writes (mastDownload/hst/<dataset>/).
h = MastMissions(mission="hst")
hres = h.query_criteria(sci_instrume="WFC3,ACS,COS,STIS", limit=100000)
ncaom = raw_invoke({"service": "Mast.Caom.Filtered", "format": "json", "pagesize": 50000, "page": 1,
                    "params": {"columns": "COUNT_BIG(*)", "filters": [
                        {"paramName": "obs_collection", "values": ["HST"]},
                        {"paramName": "instrument_name", "values": [], "freeText": "WFC3%"}]}})["data"][0]["Column1"]
nwfc3 = sum(1 for x in hres["sci_instrume"] if x.strip() == "WFC3")
check(len(hres) > 0 and nwfc3 == ncaom, f"HST query_criteria: {len(hres)} datasets, {nwfc3} WFC3 == CAOM")
hp = h.get_product_list(hres[:1])
ds = hres["sci_data_set_name"][0]
check(len(hp) > 0 and set(hp["dataset"]) == {ds}, f"HST get_product_list {ds}: {len(hp)} products")
one = hp[[f.endswith(".jpg") for f in hp["filename"]]] if any(f.endswith(".jpg") for f in hp["filename"]) else hp[:1]
h.login(token=TOKEN)  # the first dataset may still be proprietary
man = h.download_products(one[:1], download_dir=work)
p = str(man["Local Path"][0])
check(man["Status"][0] == "COMPLETE" and p.endswith(os.path.join("mastDownload", "hst", ds, one["filename"][0])),
      f"HST download_products → {os.path.relpath(p, work)}")
check(os.path.getsize(p) == int(one["size"][0]), "HST file size as listed")

done("astroquery_missions")

"""The SI-keyword exoplanet notebook through astroquery against the sandbox:
Mast.service_request on Mast.Jwst.Filtered.Niriss → obs_ids from file names
→ Observations.query_criteria → batched get_product_list → unique →
filter_products → curl script and one file. Checked against the bundled
real rows (2024-02-20 snapshot) and the raw service answers.

Run: MASTFLOW_SANDBOX_URL=http://127.0.0.1:PORT python3 astroquery_si_keywords.py
"""

import os
import tempfile
import warnings

from astropy.table import unique, vstack
from astropy.time import Time
from sandbox_common import Mast, Observations, check, done, raw_invoke, real_csv

warnings.simplefilter("ignore")
work = tempfile.mkdtemp(prefix="mastflow-interop-si-")
os.chdir(work)


def set_params(parameters):
    return [{"paramName": p, "values": v} for p, v in parameters.items()]


def set_mjd_range(lo, hi):
    return {"min": Time(lo, format="isot").mjd, "max": Time(hi, format="isot").mjd}


keywords = {"category": ["COM", "ERS"], "exp_type": ["NIS_SOSS"], "tsovisit": ["T"],
            "date_obs_mjd": [set_mjd_range("2022-06-01", "2022-08-04")]}
params = {"columns": "*", "filters": set_params(keywords)}
t = Mast.service_request("Mast.Jwst.Filtered.Niriss", params)
real_si = real_csv("sikw_niriss_soss_snapshot-2024-02-20.csv")
check(len(t) == len(real_si) == 74, f"Mast.Jwst.Filtered.Niriss: {len(t)} files")
check(sorted(map(str, t["ArchiveFileID"])) == sorted(r["ArchiveFileID"] for r in real_si), "same ArchiveFileIDs as the real rows")
check(sorted(t["filename"]) == sorted(r["filename"] for r in real_si), "same file names")
check(set(t["tsovisit"]) == {"t"} and str(t["date_obs"][0]).startswith("/Date("), "t/f booleans and /Date(ms)/ dates kept")
check(sorted(map(str, t["fileSize"])) == sorted(r["fileSize"] for r in real_si), "fileSize values equal the real ones")

# Same query by hand with pagesize 10: astroquery pages through it.
paged = Mast.service_request("Mast.Jwst.Filtered.Niriss", params, pagesize=10)
check(len(paged) == 74, "paged SI query (pagesize=10) returns all 74")

fn = list(set(t["filename"]))
ids = sorted(set("_".join(x.split("_")[:-1]) for x in fn))
check(len(ids) == 28, f"{len(ids)} obs_ids derived from file names")

matched = Observations.query_criteria(instrument_name="NIRISS*", obs_id=ids)
real_obs = real_csv("observations_si_keyword_nb_snapshot-2024-02-20.csv")
check(sorted(map(str, matched["obsid"])) == sorted(r["obsid"] for r in real_obs), f"query_criteria: the {len(matched)} real observations")
got = {str(o["obsid"]): o for o in matched}
for r in real_obs:
    o = got[r["obsid"]]
    same = (o["obs_id"] == r["obs_id"] and o["target_name"] == r["target_name"] and o["dataRights"] == r["dataRights"]
            and abs(float(o["t_exptime"]) - float(r["t_exptime"])) < 1e-9 and abs(float(o["s_ra"]) - float(r["s_ra"])) < 1e-12)
    check(same, f"observation {r['obs_id']} equals the real row")

batches = [matched[i:i + 5] for i in range(0, len(matched), 5)]
tables = [Observations.get_product_list(b) for b in batches]
allp = vstack(tables)
products = unique(allp, keys="productFilename")
check(len(allp) > len(products), f"{len(allp)} product rows, {len(products)} unique")
raw_rows = []
for b in batches:
    req = {"service": "Mast.Caom.Products", "params": {"obsid": ",".join(map(str, b["obsid"]))},
           "format": "json", "pagesize": 50000, "page": 1}
    raw_rows += raw_invoke(req)["data"]
check(len(raw_rows) == len(allp), "astroquery parsed every raw product row")
real_products = real_csv("products_si_keyword_nb_snapshot-2024-02-20_first10_last10.csv")
names = set(products["productFilename"])
check(all(r["productFilename"] in names for r in real_products), "the 20 real product rows are listed")
check(all(r["filename"] in names for r in real_si), "every SI file is a product")
sizes = {p["productFilename"]: int(p["size"]) for p in products}
check(all(sizes[r["filename"]] == int(r["fileSize"]) for r in real_si), "product sizes equal SI fileSize")

filtered = Observations.filter_products(products, productType=["SCIENCE", "INFO"], dataproduct_type="spectrum", calib_level=[2, 3])
first = {}
for r in raw_rows:
    first.setdefault(r["productFilename"], r)
want = [r for r in first.values()
        if r["productType"] in ("SCIENCE", "INFO") and r["dataproduct_type"] == "spectrum" and r["calib_level"] in (2, 3)]
check(len(filtered) == len(want), f"filter_products: {len(filtered)} rows (independent count {len(want)})")
check(not any("_gs-" in f for f in filtered["productFilename"]), "guide-star (AUXILIARY) files are excluded")

manifest = Observations.download_products(filtered, curl_flag=True, download_dir=work)
check(manifest["Status"][0] == "COMPLETE", "curl script downloaded")

uri = [u for u in products["dataURI"] if u.endswith("_asn.json")][0]
status, msg, url = Observations.download_file(uri, local_path=work)
size = [int(p["size"]) for p in products if p["dataURI"] == uri][0]
check(status == "COMPLETE" and os.path.getsize(os.path.join(work, os.path.basename(uri))) == size, f"download_file {os.path.basename(uri)}")

# The astroquery docs' NIRSpec example goes through mast_query (no rows are
# bundled for it: the answer is synthetic but must honour the filters).
ns = Mast.mast_query("Mast.Jwst.Filtered.Nirspec", productLevel=["2a", "2b"], columns=["filename", "productLevel", "duration"])
check(len(ns) > 0 and set(ns["productLevel"]) <= {"2a", "2b"}, f"mast_query Nirspec: {len(ns)} rows at levels 2a/2b")
check(ns.colnames == ["filename", "productLevel", "duration"], "mast_query columns= projects the columns")
done("astroquery_si_keywords")

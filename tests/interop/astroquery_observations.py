"""astroquery.mast.Observations against the sandbox: the large-downloads and
duplication-checking notebook workflows, with every answer checked against
the bundled real rows or the sandbox's brute-force answer.

Run: MASTFLOW_SANDBOX_URL=http://127.0.0.1:PORT python3 astroquery_observations.py
"""

import os
import tempfile
import warnings

import numpy as np
from astropy.table import unique, vstack
from sandbox_common import BASE, TOKEN, Mast, Observations, check, done, expect, real_csv

warnings.simplefilter("ignore")
work = tempfile.mkdtemp(prefix="mastflow-interop-")
os.chdir(work)

# --- query_region (Mast.Caom.Cone) vs the sandbox's brute-force answer.
obs = Observations.query_region("217.32661 -3.44450", radius="0.02 deg")
req = {"service": "Mast.Caom.Cone", "params": {"ra": 217.32661, "dec": -3.4445, "radius": 0.02},
       "format": "json", "pagesize": 50000, "page": 1}
ref = expect(req)["data"]
check(len(obs) == len(ref) and len(obs) > 0, f"query_region WASP-39: {len(obs)} rows == brute force {len(ref)}")
check(sorted(map(str, obs["obsid"])) == sorted(str(r["obsid"]) for r in ref), "query_region: same obsids")
check("distance" in obs.colnames and "_selected_" not in obs.colnames, "query_region: distance kept, _selected_ dropped")

# --- query_object resolves through the SANTA resolver (HTTP_PROXY) then cones.
coord = Observations.resolve_object("M 57")
check(abs(coord.ra.deg - 283.39623652463) < 1e-6, f"resolve_object('M 57') = {coord.ra.deg:.5f} {coord.dec.deg:.5f}")

# --- large_downloads notebook: program 1073 NIRCam imaging.
matched = Observations.query_criteria(obs_collection="JWST", proposal_id="1073", instrument_name="NIRCAM/IMAGE")
real = real_csv("observations_large_downloads_1073_nircam_image_snapshot-2024-02-20.csv")
check(sorted(map(str, matched["obsid"])) == sorted(r["obsid"] for r in real), f"query_criteria 1073: {len(matched)} real obsids")
for col in ["filters", "t_exptime", "proposal_pi", "calib_level"]:
    got = {str(o["obsid"]): str(o[col]) for o in matched}
    want = {r["obsid"]: r[col] for r in real}
    same = all(float(got[k]) == float(v) if col == "t_exptime" else got[k] == v for k, v in want.items())
    check(same, f"query_criteria 1073: column {col} equals the real rows")
n = Observations.query_criteria_count(obs_collection="JWST", proposal_id="1073", instrument_name="NIRCAM/IMAGE")
check(n == 15, f"query_criteria_count 1073 = {n}")

# Multi-page: astroquery pages through and vstacks.
paged = Observations.query_criteria(obs_collection="JWST", proposal_id="1073", pagesize=4)
check(len(paged) == 15, f"query_criteria with pagesize=4 fetched all pages: {len(paged)}")

chunks = [matched[i:i + 5] for i in range(0, len(matched), 5)]
t = [Observations.get_product_list(c) for c in chunks]
allp = vstack(t)
files = unique(allp, keys="productFilename")
check(len(allp) > len(files), f"get_product_list: {len(allp)} rows, {len(files)} unique (duplicates across parents)")
uncal = Observations.filter_products(files, productSubGroupDescription="UNCAL")
uncal_sci = uncal[np.array(["_gs-" not in f for f in uncal["productFilename"]])]
manifest_names = {r["productFilename"] for r in real_csv("products_bundle_manifest_1073_nircam_uncal_2023-01-25.csv")}
check(set(uncal_sci["productFilename"]) == manifest_names, f"filter_products UNCAL: the {len(manifest_names)} real UNCAL files")
check(str(files["size"].dtype).startswith("int"), "product size column is integer")

curl = Observations.download_products(files, productSubGroupDescription="UNCAL", curl_flag=True, download_dir=work)
script = curl["Local Path"][0]
check(curl["Status"][0] == "COMPLETE" and os.path.isfile(script), f"download_products(curl_flag=True) wrote {os.path.basename(script)}")
with open(script) as f:
    text = f.read()
check(text.count("curl ") == len(uncal), f"bundle.sh has one curl line per UNCAL product ({len(uncal)})")

# --- a few small files for real: sizes equal the product rows.
small = Observations.filter_products(files, extension="asn.json")[:3]
man = Observations.download_products(small, download_dir=work)
check(all(s == "COMPLETE" for s in man["Status"]), "download_products: 3 files COMPLETE")
for row, path in zip(small, man["Local Path"]):
    check(os.path.getsize(path) == int(row["size"]), f"size of {os.path.basename(path)} == {row['size']}")
again = Observations.download_products(small, download_dir=work)
check(all(s == "COMPLETE" for s in again["Status"]), "download_products again: cached files accepted")

# --- duplication notebook: counts and criteria by position and by name.
targets = real_csv("duplication_targets_input_snapshot-2024-02-20.csv")
want = {"Trappist-1": 295, "V* XX Cha": 14, "M 31": 0, "M 57": 143}
for tg in targets:
    n = Observations.query_criteria_count(obs_collection="JWST", coordinates=f"{tg['ra_deg']} {tg['dec_deg']}",
                                          radius=float(tg["radius_deg"]))
    check(n == want[tg["target_name"]], f"query_criteria_count {tg['target_name']} = {n}")
m57 = Observations.query_criteria(obs_collection="JWST", coordinates=f"{targets[3]['ra_deg']} {targets[3]['dec_deg']}", radius="2m")
uniq = unique(m57["target_name", "instrument_name", "filters", "t_exptime", "proposal_id"])
real_m57 = real_csv("observations_duplication_m57_unique_snapshot-2024-02-20.csv")
check(len(m57) == 143 and len(uniq) == len(real_m57), f"M 57: 143 rows, {len(uniq)} unique combinations (real: {len(real_m57)})")
io = Observations.query_criteria(obs_collection="JWST", target_name="Io*")
real_io = real_csv("observations_duplication_io_snapshot-2024-02-20.csv")
check(len(io) == len(real_io), f"target_name='Io*': {len(io)} rows")
planned = io[io["calib_level"] == -1]
check(len(planned) == sum(r["calib_level"] == "-1" for r in real_io), f"{len(planned)} planned Io rows (calib_level -1)")
check(bool(np.all(planned["filters"].mask)), "planned rows have masked filters")
check(bool(np.all(io["mtFlag"])), "Io rows are moving targets")
hd = Observations.query_criteria_count(obs_collection="JWST", objectname="HD 104237", radius="30s")
check(hd == 0, "HD 104237 by name: no JWST observations")

# --- exclusive access: 401 without a token, downloads after login.
eap = Observations.query_criteria(obs_collection="JWST", dataRights="EXCLUSIVE_ACCESS", calib_level=2)
prods = Observations.get_product_list(eap[:1])
jpg = Observations.filter_products(prods, extension="_thumb.jpg")[:1]
denied = Observations.download_products(jpg, download_dir=os.path.join(work, "eap"))
check(denied["Status"][0] == "ERROR" and "401" in str(denied["Message"][0]), f"EAP without token: {denied['Message'][0]}")
Observations.login(token=TOKEN)
info = Observations.session_info(verbose=False)
check(info["anon"] is False and info["attrib"]["display_name"] == "Sandbox User", "login + session_info")
ok = Observations.download_products(jpg, download_dir=os.path.join(work, "eap"))
check(ok["Status"][0] == "COMPLETE" and os.path.getsize(ok["Local Path"][0]) == int(jpg["size"][0]), "EAP with token: COMPLETE")
Observations.logout()

# --- Mast.Caom.Crossmatch (no astroquery wrapper; the generic service_request
# sends `data` at the top level): every match carries its uploaded row.
up = {"fields": [{"name": "target", "type": "string"}, {"name": "ra", "type": "float"},
                 {"name": "dec", "type": "float"}],
      "data": [{"target": "Trappist-1", "ra": 346.62236872857875, "dec": -5.041399250518333},
               {"target": "WASP-39", "ra": 217.32661, "dec": -3.4445}]}
xm = Mast.service_request("Mast.Caom.Crossmatch", {"raColumn": "ra", "decColumn": "dec", "radius": 0.02}, data=up)
check(xm.colnames[:3] == ["target", "ra", "dec"] and len(set(xm.colnames)) == len(xm.colnames),
      f"crossmatch: the uploaded columns lead, no repeated name ({len(xm)} rows)")
for row in up["data"]:
    cone = Observations.query_region(f"{row['ra']} {row['dec']}", radius="0.02 deg")
    mine = xm[xm["target"] == row["target"]]
    check(len(mine) == len(cone) > 0 and sorted(map(str, mine["obsid"])) == sorted(map(str, cone["obsid"])),
          f"crossmatch: the {len(mine)} rows of {row['target']} are its cone's observations")

missions = Observations.list_missions()
check("JWST" in missions and "HST" in missions, f"list_missions: {missions}")
meta = Observations.get_metadata("observations")
check("obs_collection" in list(meta["Column Name"]), "get_metadata('observations') from columnsconfig")
print("sandbox:", BASE)
done("astroquery_observations")

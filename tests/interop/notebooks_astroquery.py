"""The three MAST notebooks written with astroquery, as the notebooks write
them, against the mastflow sandbox. Prints one JSON object with what each
workflow found; tests/notebooks_interop.rs compares it with what the
manifests in manifests/examples/ found against the same sandbox.
"""

import json

from astropy.coordinates import Angle
from astropy.table import unique, vstack

from sandbox_common import Mast, Observations


def chunks(table, size):
    return [table[i:i + size] for i in range(0, len(table), size)]


def large_downloads():
    matched = Observations.query_criteria(obs_collection="JWST", proposal_id="1073", instrument_name="NIRCAM/IMAGE")
    t = [Observations.get_product_list(c) for c in chunks(matched, 5)]
    files = unique(vstack(t), keys="productFilename")
    uncal = Observations.filter_products(files, productSubGroupDescription="UNCAL")
    return {
        "observations": sorted(str(x) for x in matched["obs_id"]),
        "unique_products": len(files),
        "uncal": sorted(str(x) for x in uncal["dataURI"]),
        "uncal_bytes": int(sum(int(s) for s in uncal["size"])),
    }


def si_keywords():
    def set_params(d):
        return [{"paramName": p, "values": v} for p, v in d.items()]

    from astropy.time import Time
    keywords = {
        "category": ["COM", "ERS"],
        "exp_type": ["NIS_SOSS"],
        "tsovisit": ["T"],
        "date_obs_mjd": [{"min": Time("2022-06-01", format="isot").mjd, "max": Time("2022-08-04", format="isot").mjd}],
    }
    t = Mast.service_request("Mast.Jwst.Filtered.Niriss", {"columns": "*", "filters": set_params(keywords)})
    fn = list(set(t["filename"]))
    ids = list(set(["_".join(x.split("_")[:-1]) for x in fn]))
    matched = Observations.query_criteria(instrument_name="NIRISS*", obs_id=ids)
    batches = chunks(matched, 5)
    products = unique(vstack([Observations.get_product_list(b) for b in batches]), keys="productFilename")
    filtered = Observations.filter_products(products, productType=["SCIENCE", "INFO"], dataproduct_type="spectrum", calib_level=[2, 3])
    return {
        "files": sorted(str(x) for x in t["filename"]),
        "obs_ids": sorted(ids),
        "observations": sorted(str(x) for x in matched["obs_id"]),
        "unique_products": len(products),
        "spectra": sorted(str(x) for x in filtered["dataURI"]),
    }


def duplication():
    targets = [
        ("Trappist-1", "23:06:29.3684948589", "-05:02:29.037301866", "30s"),
        ("V* XX Cha", "11:11:39.559", "-76:20:15.04", "30s"),
        ("M 31", "00:42:44.330", "+41:16:07.50", "12.0m"),
        ("M 57", "18:53:35.0967659112", "+33:01:44.883287544", "2m"),
    ]
    found = {}
    for name, ra, dec, radius in targets:
        ra_deg = Angle(ra + " hours").degree
        dec_deg = Angle(dec + " degree").degree
        radius_deg = Angle(radius).degree
        n = Observations.query_criteria_count(obs_collection="JWST", coordinates=f"{ra_deg} {dec_deg}", radius=radius_deg)
        obs = Observations.query_criteria(obs_collection="JWST", coordinates=f"{ra_deg} {dec_deg}", radius=radius_deg) if n > 0 else []
        found[name] = {"count": int(n), "programs": program_counts(obs)}
    io = Observations.query_criteria(obs_collection="JWST", target_name="Io*")
    found["Io"] = {"count": len(io), "programs": program_counts(io)}
    return found


def program_counts(obs):
    counts = {}
    for row in obs:
        pid = str(row["proposal_id"])
        counts[pid] = counts.get(pid, 0) + 1
    return counts


if __name__ == "__main__":
    print(json.dumps({"large_downloads": large_downloads(), "si_keywords": si_keywords(), "duplication": duplication()}))

"""astroquery's long polling against a sandbox started with the global
faults `executing=2,only=invoke` (every invoke answers EXECUTING twice, then
COMPLETE) and a fixed latency: results must equal the plain answers.

Run against a sandbox started with those faults; MASTFLOW_SANDBOX_URL names it.
"""

import time
import warnings

from sandbox_common import Mast, Observations, check, done, expect

warnings.simplefilter("ignore")

t0 = time.time()
n = Observations.query_criteria_count(obs_collection="JWST", target_name="Io*")
check(n == 34, f"query_criteria_count through EXECUTING replies: {n}")
obs = Observations.query_criteria(obs_collection="JWST", proposal_id="1073", pagesize=6)
check(len(obs) == 15, f"paged query_criteria through EXECUTING replies: {len(obs)}")
req = {"service": "Mast.Caom.Products", "params": {"obsid": str(obs["obsid"][0])}, "format": "json",
       "pagesize": 50000, "page": 1}
prods = Observations.get_product_list(obs[:1])
check(len(prods) == len(expect(req)["data"]), f"get_product_list through EXECUTING replies: {len(prods)}")
si = Mast.service_request("Mast.Jwst.Filtered.Niriss", {"columns": "filename", "filters": [
    {"paramName": "exp_type", "values": ["NIS_SOSS"]}, {"paramName": "program", "values": ["1366"]}]})
check(len(si) == 12, f"SI keyword query through EXECUTING replies: {len(si)}")
print(f"elapsed {time.time() - t0:.2f}s")
done("astroquery_faults")

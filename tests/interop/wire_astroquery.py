"""One workflow of tests/wire_equivalence.rs, through UNMODIFIED astroquery
or pyvo, against the sandbox named by $MASTFLOW_SANDBOX_URL. The test reads
the sandbox's request log afterwards and compares it with the log of the
same workflow run by mastflow.

Run: MASTFLOW_SANDBOX_URL=http://127.0.0.1:PORT python3 wire_astroquery.py WORKFLOW
with WORKFLOW one of: large_downloads, si_keywords, duplication, missions, tap, open_range, templated.
"""

import os
import sys
import warnings

import yaml

from sandbox_common import BASE, point_missions_at_sandbox

HERE = os.path.dirname(os.path.abspath(__file__))
WIRE = os.path.join(HERE, "..", "fixtures", "wire")

warnings.simplefilter("ignore")


def notebooks(name):
    import notebooks_astroquery
    return getattr(notebooks_astroquery, name)()


def missions():
    """The findings' §d: a criteria search with select_cols, a region search."""
    import astropy.units as u
    point_missions_at_sandbox()
    from astroquery.mast import MastMissions
    m = MastMissions(mission="jwst")
    m.query_criteria(exp_type="NIS_SOSS", category=["COM", "ERS"], tsovisit="T",
                     date_obs="2022-06-01..2022-08-04",
                     select_cols=["filename", "productLevel", "fileSize", "date_obs", "targprop"])
    m.query_region("217.32661 -3.4445", radius=30 * u.arcsec,
                   select_cols=["filename", "targ_ra", "targ_dec"])


def open_range():
    """A criteria search with a range open above, written as astroquery can
    write it: both bounds, the upper one far beyond any value (mastflow's
    choice for an open bound, docs/wire-types.md)."""
    from astroquery.mast import Observations
    Observations.query_criteria(obs_collection="JWST", proposal_id="1073",
                                t_exptime=[1000, 1e300])


def templated():
    """Templated criteria (tests/fixtures/wire/templated.yaml): the program
    given as a string, as a user of astroquery writes it."""
    point_missions_at_sandbox()
    from astroquery.mast import Mast, MastMissions
    Mast.service_request("Mast.Jwst.Filtered.Niriss", {"columns": "*", "filters": [
        {"paramName": "program", "values": ["1541"]},
        {"paramName": "exp_type", "values": ["NIS_SOSS"]},
    ]})
    MastMissions(mission="jwst").query_criteria(program="1177",
                                                select_cols=["targprop", "program"])


def tap():
    """The findings' §e: pyvo's run_sync of the TRAPPIST-1 cone, with the
    query text of tests/fixtures/wire/tap.yaml."""
    import pyvo
    with open(os.path.join(WIRE, "tap.yaml")) as f:
        query = yaml.safe_load(f)["steps"]["observations"]["query"]
    svc = pyvo.dal.TAPService(BASE + "/vo-tap/api/v0.1/caom")
    res = svc.run_sync(query)
    if len(res) == 0:
        sys.exit("the TRAPPIST-1 cone found nothing")


WORKFLOWS = {
    "large_downloads": lambda: notebooks("large_downloads"),
    "si_keywords": lambda: notebooks("si_keywords"),
    "duplication": lambda: notebooks("duplication"),
    "missions": missions,
    "tap": tap,
    "open_range": open_range,
    "templated": templated,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in WORKFLOWS:
        sys.exit(f"usage: wire_astroquery.py {{{','.join(WORKFLOWS)}}}")
    WORKFLOWS[sys.argv[1]]()
    print("done", sys.argv[1])

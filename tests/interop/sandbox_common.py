"""Shared set-up for the interop scripts: point an UNMODIFIED astroquery at
the mastflow sandbox named by $MASTFLOW_SANDBOX_URL, and small check helpers.

How astroquery is redirected (no astroquery code is changed):
- the Portal API URLs are class attributes computed from ``conf.server`` at
  import time, so they are set on the ``_portal_api_connection`` objects;
- ``/whoami`` is an attribute of the session's ``MastAuth`` object;
- name resolution (``resolve_object``) calls the fixed URL
  ``http://mastresolver.stsci.edu/Santa-war/query``; it is plain http, so
  ``HTTP_PROXY`` pointing at the sandbox makes requests send it there (the
  sandbox serves ``/Santa-war/query``), with ``NO_PROXY`` for the sandbox.
- cloud access is off (astroquery >= 0.4.8 default; boto3 is not needed).
"""

import csv
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE = os.environ.get("MASTFLOW_SANDBOX_URL", "http://127.0.0.1:8765").rstrip("/")
TOKEN = os.environ.get("MASTFLOW_SANDBOX_TOKEN", "sandbox-token-0123456789abcdef")
HERE = os.path.dirname(os.path.abspath(__file__))
REAL = os.path.join(HERE, "..", "..", "src", "sandbox", "data", "real")

os.environ["HTTP_PROXY"] = BASE
os.environ["http_proxy"] = BASE
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"
os.environ.pop("MAST_API_TOKEN", None)

from astroquery.mast import Observations, Mast  # noqa: E402


def point_at_sandbox(*objs):
    for obj in objs or (Observations, Mast):
        api = obj._portal_api_connection
        api.MAST_REQUEST_URL = BASE + "/api/v0/invoke"
        api.COLUMNS_CONFIG_URL = BASE + "/portal/Mashup/Mashup.asmx/columnsconfig"
        api.MAST_DOWNLOAD_URL = BASE + "/api/v0.1/Download/file"
        api.MAST_BUNDLE_URL = BASE + "/api/v0.1/Download/bundle"
        obj._auth_obj.SESSION_INFO_URL = BASE + "/whoami"
        obj._cloud_connection = None


point_at_sandbox()

CHECKS = {"passed": 0}


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    CHECKS["passed"] += 1
    print(f"ok: {what}", flush=True)


def real_csv(name):
    with open(os.path.join(REAL, name), newline="") as f:
        return list(csv.DictReader(f))


def raw_invoke(req, path="/api/v0/invoke"):
    """POST a request object the way MAST's own docs do, without astroquery."""
    body = ("request=" + urllib.parse.quote(json.dumps(req))).encode()
    r = urllib.request.Request(BASE + path, data=body,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(r) as resp:
        return json.load(resp)


def expect(req):
    """The brute-force (no spatial index) answer of the sandbox."""
    return raw_invoke(req, "/_sandbox/expect")


def done(name):
    print(f"{name}: {CHECKS['passed']} passed, 0 failed", flush=True)


def http_get(path, headers=None):
    """GET a sandbox path without astroquery (no proxy): (status, bytes)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    r = urllib.request.Request(BASE + path, headers=headers or {})
    try:
        with opener.open(r) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def point_missions_at_sandbox():
    """Send astroquery's MastMissions (the missions search API) to the sandbox.

    ``MastMissions`` builds its URLs from ``conf.server`` (column list, /whoami)
    and from ``ServiceAPI`` class attributes copied at import time; both are
    set here, before any ``MastMissions(...)`` is created, and the module's
    ready-made ``MastMissions`` instance is re-pointed too.
    """
    from astroquery.mast import conf
    from astroquery.mast import missions as aq_missions
    from astroquery.mast.services import ServiceAPI

    conf.server = BASE
    ServiceAPI.SERVICE_URL = BASE
    ServiceAPI.REQUEST_URL = BASE + "/api/v0.1/"
    ServiceAPI.MISSIONS_DOWNLOAD_URL = BASE + "/search/"
    ServiceAPI.MAST_DOWNLOAD_URL = BASE + "/api/v0.1/Download/file"
    inst = aq_missions.MastMissions
    for attr in ("SERVICE_URL", "REQUEST_URL", "MISSIONS_DOWNLOAD_URL", "MAST_DOWNLOAD_URL"):
        inst._service_api_connection.__dict__.pop(attr, None)
    inst.mission = inst.mission  # recompute the request URL
    inst._auth_obj.SESSION_INFO_URL = BASE + "/whoami"
    inst._cloud_connection = None

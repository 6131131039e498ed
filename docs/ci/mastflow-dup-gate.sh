#!/usr/bin/env bash
# Proposal duplication gate (docs/ci.md): run a duplication-check manifest
# (manifests/examples/duplication-check.yaml, or a copy reading the targets
# from a file) and fail when its report lists potential duplicates: JWST
# observations, executed or planned, of the proposal's targets. The report
# goes to the job summary. Tested end to end by tests/ci_workflows.rs.
#
# usage: mastflow-dup-gate.sh MANIFEST [OUT_DIR [MASTFLOW_RUN_ARG...]]
#   MANIFEST          the duplication-check manifest
#   OUT_DIR           where the report and run.json go (default duplicates);
#                     it must not exist yet or be empty, so that an old report is never read
#   MASTFLOW_RUN_ARG  passed to `mastflow run` (e.g. --set name=value)
#
# environment (all optional):
#   MASTFLOW_DUP_REPORT  the report's file name in OUT_DIR, CSV or ECSV (default duplicates.ecsv)
#   MASTFLOW             the mastflow command (default mastflow)
#   MASTFLOW_PYTHON      python 3, which reads run.json and the report (default python3)
#   MAST_API_TOKEN       read by mastflow alone; this script never prints it
#   GITHUB_STEP_SUMMARY  provided by GitHub Actions; without it the summary goes to stdout
#
# exit status: 0 no potential duplicates; 1 potential duplicates (listed in
#   the summary) or another assert step of the manifest failed; 2 the check
#   could not be made (invalid manifest, a failed step such as MAST not
#   answering, no report).
set -euo pipefail

me='mastflow-dup-gate.sh'

fail() {
  printf '%s: error: %s\n' "$me" "$*" >&2
  if [ "${GITHUB_ACTIONS:-}" = true ]; then
    local m=$*
    m=${m//'%'/'%25'}
    printf '::error title=%s::%s\n' "$me" "$m"
  fi
  exit 2
}

if [ "$#" -lt 1 ]; then
  fail "usage: $me MANIFEST [OUT_DIR [MASTFLOW_RUN_ARG...]]"
fi
manifest=$1
out=${2:-duplicates}
out=${out%/}
shift
if [ "$#" -gt 0 ]; then shift; fi

mastflow=${MASTFLOW:-mastflow}
python=${MASTFLOW_PYTHON:-python3}
report=${MASTFLOW_DUP_REPORT:-duplicates.ecsv}

command -v "$mastflow" >/dev/null 2>&1 ||
  fail "'$mastflow' not found on PATH: install mastflow first (docs/ci/install-mastflow.sh)"
command -v "$python" >/dev/null 2>&1 || fail "'$python' not found: python 3 reads the report"
[ -f "$manifest" ] || fail "manifest '$manifest' not found"
if [ -e "$out" ] && [ -n "$(ls -A -- "$out")" ]; then
  fail "'$out' is not empty: remove it first (an old report must not be read as this run's)"
fi

code=0
"$mastflow" run "$manifest" --out "$out" "$@" || code=$?
if [ "$code" != 0 ] && [ "$code" != 1 ]; then
  fail "mastflow run $manifest failed (exit status $code): the check could not be made"
fi

# Decide from run.json and the report, and write the summary.
run_code=$code
code=0
"$python" - "$manifest" "$out" "$report" "${GITHUB_STEP_SUMMARY:-}" "$run_code" <<'PY' || code=$?
import csv, json, os, sys

manifest, out, report_name, summary_path, run_code = sys.argv[1:6]
report = os.path.join(out, report_name)


def emit(md):
    print(md, end="")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as f:
            f.write(md)


def cell(v):
    return v.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", "<br>")


try:
    with open(os.path.join(out, "run.json"), encoding="utf-8") as f:
        steps = json.load(f)["steps"]
except (OSError, ValueError, KeyError) as e:
    emit(f"### JWST duplication check: not made\n\nNo readable `{out}/run.json` ({e}).\n")
    sys.exit(2)

broken = [s for s in steps if s.get("status") in ("failed", "skipped", "cancelled")]
if broken:
    lines = "".join(
        f"| `{cell(s['name'])}` | {s['status']} | {cell(str(s.get('error') or ''))} |\n" for s in broken
    )
    emit(
        f"### JWST duplication check: not made\n\n`{manifest}` did not run to the end, "
        f"so no report can be trusted:\n\n| step | status | error |\n|---|---|---|\n{lines}"
    )
    sys.exit(2)

try:
    with open(report, newline="", encoding="utf-8") as f:
        text = f.read()
except OSError as e:
    emit(f"### JWST duplication check: not made\n\n`{manifest}` wrote no report `{report}` ({e.strerror}); set MASTFLOW_DUP_REPORT to its file name.\n")
    sys.exit(2)

delimiter = ","
lines = text.splitlines(keepends=True)
if report.endswith(".ecsv"):
    delimiter = " "
    body = []
    for i, line in enumerate(lines):
        if line.startswith("#"):
            if line.startswith("# delimiter:"):
                delimiter = line.split(":", 1)[1].strip().strip("'\"") or " "
            continue
        body = lines[i:]
        break
    lines = body
elif not report.endswith(".csv"):
    emit(f"### JWST duplication check: not made\n\nThe report `{report}` must be CSV or ECSV.\n")
    sys.exit(2)

rows = list(csv.reader(lines, delimiter=delimiter))
header, data = (rows[0], rows[1:]) if rows else ([], [])
failed_asserts = [s["name"] for s in steps if s.get("status") == "assertion_failed"]

if data:
    table = "| " + " | ".join(cell(h) for h in header) + " |\n"
    table += "|" + "---|" * len(header) + "\n"
    table += "".join("| " + " | ".join(cell(v) for v in r) + " |\n" for r in data)
    emit(
        f"### JWST duplication check: {len(data)} potential duplicate{'s' if len(data) != 1 else ''}\n\n"
        f"`{manifest}` found executed or planned JWST observations of the proposal's targets "
        f"(report `{report}`). Compare them with the proposal: same target or overlapping "
        f"field, and similar passband, resolution and depth.\n\n{table}"
    )
    sys.exit(1)
if failed_asserts:
    names = ", ".join(f"`{cell(n)}`" for n in failed_asserts)
    emit(f"### JWST duplication check: failed\n\nThe report `{report}` is empty, but these assert steps of `{manifest}` failed: {names}.\n")
    sys.exit(1)
if run_code != "0":
    emit(f"### JWST duplication check: not made\n\n`mastflow run {manifest}` failed (exit status {run_code}) although every step ran; its messages are in the job log.\n")
    sys.exit(2)
emit(f"### JWST duplication check: no potential duplicates\n\n`{manifest}` found no executed or planned JWST observations of the proposal's targets.\n")
PY
case $code in
  0) exit 0 ;;
  1)
    if [ "${GITHUB_ACTIONS:-}" = true ]; then
      printf '::error title=%s::potential duplicates of the proposal targets: see the job summary\n' "$me"
    fi
    printf '%s: potential duplicates found (report: %s/%s)\n' "$me" "$out" "$report" >&2
    exit 1
    ;;
  *) fail "the check could not be made (see above)" ;;
esac

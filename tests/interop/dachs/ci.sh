#!/usr/bin/env bash
# ci.sh -- the DaCHS TAP server for tests/tap_dachs.rs, as CI uses it.
#
#   ci.sh start    install DaCHS if needed, (re)import mastcaom/ if it changed,
#                  start it unless it already serves this data, smoke-test it,
#                  and print the TAP URL -- the only line on stdout:
#                      MASTFLOW_DACHS_URL="$(tests/interop/dachs/ci.sh start)"
#                      export MASTFLOW_DACHS_URL
#   ci.sh stop     stop DaCHS, then PostgreSQL
#   ci.sh status
#
# Debian 12 as root (re-runs itself with `sudo -n` otherwise). Everything but
# the URL goes to stderr. DACHS_PORT (8080) and SKIP_APT_UPDATE=1 pass through
# to setup.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SETUP="${HERE}/setup.sh"
RD_SRC="${HERE}/mastcaom"
STAMP=/var/gavo/state/mastflow-mastcaom.sha256
DACHS_PORT="${DACHS_PORT:-8080}"
export DACHS_PORT
URL="http://127.0.0.1:${DACHS_PORT}/tap"

log() { printf '[dachs-ci %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "must run as root (no sudo either)"
  exec sudo -n --preserve-env=DACHS_PORT,SKIP_APT_UPDATE "$0" "$@"
fi
[ -r /etc/debian_version ] || die "needs Debian 12 (apt packages gavodachs2-server, postgresql-15-pgsphere)"

installed() {
  dpkg-query -W -f='${Status}' gavodachs2-server 2>/dev/null | grep -q 'ok installed' \
    && [ -f /etc/gavo.rc ]
}

data_digest() {
  cat "${RD_SRC}/q.rd" "${RD_SRC}/data/obs.csv" | sha256sum | cut -d' ' -f1
}

csv_rows() {
  python3 -c 'import csv, sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1], newline=""))))' \
    "${RD_SRC}/data/obs.csv"
}

db_rows() {
  su postgres -c "psql -d gavo -qAtc 'SELECT count(*) FROM dbo.obspointing'" 2>/dev/null || true
}

serving() {  # dachs answers on our port
  curl -fsS -o /dev/null --max-time 5 "${URL}/availability" 2>/dev/null
}

cmd_start() {
  local t0=$SECONDS t imported=0
  if installed; then
    log "DaCHS already installed"
  else
    t=$SECONDS
    "$SETUP" install >&2
    log "installed in $((SECONDS - t)) s"
  fi
  "$SETUP" pgstart >&2
  if [ "$(cat "$STAMP" 2>/dev/null)" = "$(data_digest)" ] && [ "$(db_rows)" = "$(csv_rows)" ]; then
    log "dbo.obspointing is current ($(csv_rows) rows)"
  else
    t=$SECONDS
    "$SETUP" import >&2
    data_digest > "$STAMP"
    imported=1
    log "imported in $((SECONDS - t)) s"
  fi
  if [ "$imported" = 0 ] && serving; then
    log "DaCHS already serving ${URL}"
  else
    t=$SECONDS
    "$SETUP" start >&2
    log "started in $((SECONDS - t)) s"
  fi
  t=$SECONDS
  "$SETUP" smoke >&2
  log "smoke OK in $((SECONDS - t)) s; ready in $((SECONDS - t0)) s: ${URL}"
  echo "$URL"
}

case "${1:-}" in
  start)  cmd_start ;;
  stop)   "$SETUP" stop >&2 ;;
  status) "$SETUP" status ;;
  *) die "usage: ci.sh start|stop|status" ;;
esac

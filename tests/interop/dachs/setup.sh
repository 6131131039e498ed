#!/usr/bin/env bash
# setup.sh -- a throw-away GAVO DaCHS TAP server on loopback for mastflow's
# TAP tests, publishing a sample of the sandbox's archive (mastcaom/: table
# dbo.obspointing with the Mashup CAOM columns, also mapped into
# ivoa.obscore).  Adapted from the shared recipe (interop/dachs/setup.sh);
# tests/interop/dachs/README.md says what it publishes and why.
#
# Debian 12 (bookworm), run as root.  Needs only Debian's package archive.
#
#   ./setup.sh            install (if needed) + import + start + smoke test
#   ./setup.sh install    apt packages, postgres cluster, /etc/gavo.rc
#   ./setup.sh import     (re)import the RD in ./mastcaom
#   ./setup.sh start      start postgres + dachs, wait until TAP answers
#   ./setup.sh smoke      a few curl queries (sync, cone, overflow, error, async)
#   ./setup.sh stop       stop dachs, then postgres
#   ./setup.sh pgstart    start only postgres
#   ./setup.sh status
#
# Environment:
#   DACHS_PORT (8080)           HTTP port, bound to 127.0.0.1 only
#   SKIP_APT_UPDATE=1           skip "apt-get update"
#   RD_SRC (./mastcaom)         the resource directory to publish
#
# The TAP base URL is then http://127.0.0.1:${DACHS_PORT}/tap
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RD_SRC="${RD_SRC:-${HERE}/mastcaom}"   # q.rd + data/obs.csv (override RD_SRC to publish other data)
RD_DIR=mastcaom                        # its name under /var/gavo/inputs
DACHS_PORT="${DACHS_PORT:-8080}"
TAP="http://127.0.0.1:${DACHS_PORT}/tap"
export DEBIAN_FRONTEND=noninteractive

log() { printf '[dachs-setup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"

as_dachsroot() { su -s /bin/sh dachsroot -c "$*"; }

pg_version() {
  # newest installed server major version (15 on bookworm)
  ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1
}

pg_start() {
  local v; v="$(pg_version)"
  [ -n "$v" ] || die "no PostgreSQL server installed"
  if ! pg_lsclusters -h 2>/dev/null | awk -v v="$v" '$1==v && $2=="main"' | grep -q .; then
    log "creating PostgreSQL ${v}/main cluster"
    pg_createcluster "$v" main
  fi
  if pg_lsclusters -h | awk -v v="$v" '$1==v && $2=="main" {print $4}' | grep -q online; then
    log "PostgreSQL ${v}/main already online"
  else
    log "starting PostgreSQL ${v}/main"
    pg_ctlcluster "$v" main start
  fi
  # wait for the socket
  for _ in $(seq 1 30); do
    su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "PostgreSQL did not come up"
}

pg_stop() {
  local v; v="$(pg_version)"
  [ -n "$v" ] || return 0
  if pg_lsclusters -h 2>/dev/null | awk -v v="$v" '$1==v && $2=="main" {print $4}' | grep -q online; then
    log "stopping PostgreSQL ${v}/main"
    pg_ctlcluster "$v" main stop
  fi
}

patch_pgsphere() {
  # Debian 12's pgsphere 1.1.1 (2021) declares two GAVO-compat operators
  #   bigint @ smoc, spoint @ smoc  with COMMUTATOR '@>' / NEGATOR '!<@'.
  # PostgreSQL's stricter commutator check (PG 17, and bookworm's 15.20
  # security update; 15.18 was still fine) rejects that, so
  #   CREATE EXTENSION pg_sphere
  # fails with "commutator operator @> is already the commutator of
  # operator <@" and "dachs init" (package postinst) aborts.  Upstream
  # pgsphere (postgrespro/pgsphere#85) dropped those clauses; do the same.
  local f n=0
  for f in /usr/share/postgresql/*/extension/pg_sphere--*.sql; do
    [ -f "$f" ] || continue
    if grep -q "RIGHTARG   = smoc" "$f"; then
      perl -0pi -e "s/(CREATE OPERATOR @ \(\s*LEFTARG\s*=\s*\w+,\s*RIGHTARG\s*=\s*smoc,\s*PROCEDURE\s*=\s*\w+,)\s*COMMUTATOR\s*=\s*'\@>',\s*NEGATOR\s*=\s*'!<\@',/\$1/g" "$f"
      n=$((n + 1))
    fi
  done
  log "pgsphere compat-operator patch checked in ${n} file(s)"
}

write_gavo_rc() {
  # Loopback only.  serverURL must match what clients use: DaCHS puts it
  # into job URLs (303 Location headers) and into capabilities.
  cat > /etc/gavo.rc <<EOF
[general]
rootDir: /var/gavo

[web]
bindAddress: 127.0.0.1
serverPort: ${DACHS_PORT}
serverURL: http://127.0.0.1:${DACHS_PORT}
sitename: mastflow TAP test server

[ivoa]
authority: x-test

[async]
maxTAPRunning: 2
EOF
}

cmd_install() {
  local t0=$SECONDS deny_policy=0
  [ "${SKIP_APT_UPDATE:-0}" = 1 ] || { log "apt-get update"; apt-get -o DPkg::Lock::Timeout=600 update -qq; }

  # Keep invoke-rc.d from auto-starting services during the install (Docker
  # images already ship such a policy-rc.d; plain VMs do not).  We start
  # everything ourselves afterwards.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    deny_policy=1
  fi

  # 1. PostgreSQL + pgsphere + q3c first: gavodachs2-server's postinst runs
  #    createdb and "dachs init", which fail ("connection to server on
  #    socket ... failed") unless a cluster is already running.
  log "installing postgresql"
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql >/dev/null
  local v; v="$(pg_version)"
  log "installing postgresql-${v}-pgsphere postgresql-${v}-q3c"
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    "postgresql-${v}-pgsphere" "postgresql-${v}-q3c" >/dev/null
  patch_pgsphere
  pg_start

  # 2. DaCHS config before the package, so "dachs init" already sees it.
  write_gavo_rc

  # 3. DaCHS (pulls postgresql-15-pgsphere, -q3c, python3-gavo, astropy,
  #    numpy, scipy, matplotlib, twisted, ...; ~115 packages).
  if dpkg-query -W -f='${Status}' gavodachs2-server 2>/dev/null | grep -q 'ok installed'; then
    log "gavodachs2-server already installed"
  else
    log "installing gavodachs2-server"
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends gavodachs2-server >/dev/null \
      || { log "apt failed; retrying configure with postgres up"; pg_start; dpkg --configure -a; }
  fi
  [ "$deny_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d

  # If something (systemd, an old policy) started a dachs anyway, stop it:
  # we restart it after the import with our config.
  dachs serve stop >/dev/null 2>&1 || true
  log "install done in $((SECONDS - t0)) s"
}

cmd_import() {
  [ -f "${RD_SRC}/q.rd" ] || die "missing ${RD_SRC}/q.rd"
  pg_start
  rm -rf "/var/gavo/inputs/${RD_DIR}"
  cp -r "${RD_SRC}" "/var/gavo/inputs/${RD_DIR}"
  chown -R dachsroot:gavo "/var/gavo/inputs/${RD_DIR}"
  log "dachs imp //obscore"
  as_dachsroot "dachs imp //obscore" >/dev/null
  log "dachs imp ${RD_DIR}/q"
  as_dachsroot "dachs imp ${RD_DIR}/q" >/dev/null
  as_dachsroot "dachs val ${RD_DIR}/q" >&2
}

dachs_pid() {
  local f=/var/gavo/state/web.pid
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}

cmd_start() {
  pg_start
  if dachs_pid >/dev/null; then
    log "dachs already running (pid $(dachs_pid)); restarting to pick up RD changes"
    dachs serve stop >/dev/null 2>&1 || true
    sleep 1
  fi
  log "starting dachs on 127.0.0.1:${DACHS_PORT}"
  dachs serve start >/dev/null 2>&1 </dev/null
  for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null "${TAP}/availability" 2>/dev/null; then
      log "TAP up at ${TAP} (dachs pid $(dachs_pid))"
      return 0
    fi
    sleep 0.5
  done
  tail -30 /var/gavo/logs/dcErrors >&2 || true
  die "dachs did not answer on ${TAP}"
}

cmd_stop() {
  if dachs_pid >/dev/null; then
    log "stopping dachs (pid $(dachs_pid))"
    dachs serve stop >/dev/null 2>&1 || true
    for _ in $(seq 1 20); do dachs_pid >/dev/null || break; sleep 0.5; done
  fi
  pg_stop
}

cmd_status() {
  pg_lsclusters || true
  if p="$(dachs_pid)"; then echo "dachs running, pid $p, ${TAP}"; else echo "dachs not running"; fi
  ss -ltnp 2>/dev/null | grep -E ":(${DACHS_PORT}|5432) " || true
}

q() {  # q FORMAT ADQL [extra curl args] -- sync query
  local fmt="$1" adql="$2"; shift 2
  curl -fsS "${TAP}/sync" --data-urlencode LANG=ADQL \
    --data-urlencode "RESPONSEFORMAT=${fmt}" --data-urlencode "QUERY=${adql}" "$@"
}

csv_rows() {  # data rows of the published CSV
  python3 -c 'import csv, sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1], newline=""))))' \
    "${RD_SRC}/data/obs.csv"
}

cmd_smoke() {
  local out n want job phase
  want="$(csv_rows)"
  log "smoke: sync votable"
  out="$(q votable/td "SELECT TOP 3 obs_id FROM dbo.obspointing ORDER BY obsid")"
  grep -q 'QUERY_STATUS" value="OK"' <<<"$out" || die "sync votable: no QUERY_STATUS OK"
  n="$(grep -o '<TR>' <<<"$out" | wc -l)"; [ "$n" = 3 ] || die "sync votable: $n rows"

  log "smoke: cone across RA 0/360 (CONTAINS/POINT/CIRCLE) on ivoa.obscore"
  n="$(q csv "SELECT obs_id FROM ivoa.obscore WHERE 1=CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', 0, 0, 0.05))" | tail -n +2 | grep -c .)"
  [ "$n" = 3 ] || die "cone: expected the 3 RA-wrap rows, got $n"

  log "smoke: MAXREC overflow"
  q votable/td "SELECT obs_id FROM dbo.obspointing" --data-urlencode MAXREC=5 \
    | grep -q 'QUERY_STATUS" value="OVERFLOW"' || die "overflow not flagged"

  log "smoke: error document"
  q votable "SELECT nope FROM dbo.obspointing" | grep -q 'QUERY_STATUS" value="ERROR"' \
    || die "error document missing"

  log "smoke: async job"
  job="$(curl -fsS -o /dev/null -w '%{redirect_url}' "${TAP}/async" \
        --data-urlencode LANG=ADQL --data-urlencode RESPONSEFORMAT=csv \
        --data-urlencode "QUERY=SELECT COUNT(*) AS n FROM dbo.obspointing")"
  [ -n "$job" ] || die "async: no Location"
  curl -fsS -o /dev/null "${job}/phase" --data-urlencode PHASE=RUN
  for _ in $(seq 1 30); do
    phase="$(curl -fsS "${job}?WAIT=10" | grep -o '<uws:phase>[A-Z]*' | cut -d'>' -f2)"
    case "$phase" in COMPLETED|ERROR|ABORTED) break;; esac
  done
  [ "$phase" = COMPLETED ] || die "async: phase $phase"
  n="$(curl -fsS "${job}/results/result" | tr -d '\r' | tail -1)"
  [ "$n" = "$want" ] || die "async: count $n, the CSV has $want rows"
  curl -fsS -o /dev/null -X DELETE "$job"
  log "smoke: all OK ($want rows in dbo.obspointing)"
}

case "${1:-all}" in
  install) cmd_install ;;
  import)  cmd_import ;;
  start)   cmd_start ;;
  pgstart) pg_start ;;
  stop)    cmd_stop ;;
  status)  cmd_status ;;
  smoke)   cmd_smoke ;;
  all)     cmd_install; cmd_import; cmd_start; cmd_smoke ;;
  *) die "unknown command $1 (install|import|start|pgstart|smoke|stop|status|all)" ;;
esac

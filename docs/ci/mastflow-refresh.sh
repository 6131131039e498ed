#!/usr/bin/env bash
# Nightly MAST refresh (docs/ci.md): re-run a mastflow recipe against MAST
# and, when MAST's answers changed, commit the new results and lock on a
# branch, push it, and open (or update) a pull request whose body is
# `mastflow diff`'s markdown. Tested end to end by tests/ci_workflows.rs.
#
# usage: mastflow-refresh.sh RECIPE RESULTS_DIR [MASTFLOW_RUN_ARG...]
#   RECIPE            the manifest; its lock is the committed mastflow.lock beside it
#   RESULTS_DIR       the committed results of the last refresh; replaced whole
#   MASTFLOW_RUN_ARG  passed to every `mastflow run` (e.g. --set since=2026-11-01)
#
# environment (all optional):
#   MASTFLOW_REFRESH_BRANCH  branch the refresh is committed on (default mast-refresh)
#   MASTFLOW_REFRESH_BASE    branch the pull request targets (default: the checked-out branch)
#   MASTFLOW_REFRESH_REMOTE  remote pushed to (default origin)
#   MASTFLOW_REFRESH_TITLE   pull request title and commit subject
#   MASTFLOW_PR_BODY_LIMIT   longest pull request body sent, in bytes (default 60000;
#                            GitHub refuses bodies over 65536 characters)
#   MASTFLOW, GH             the mastflow and gh commands (default mastflow, gh)
#   MAST_API_TOKEN           read by mastflow alone; this script never prints it
#   GITHUB_OUTPUT, GITHUB_STEP_SUMMARY  provided by GitHub Actions
#
# outputs (GITHUB_OUTPUT): changed=true|false; when changed, pr-url=URL
# exit status: 0 when nothing changed or the pull request was opened or
#   updated; mastflow's own status when a run failed (1 a step failed,
#   2 invalid recipe or usage, 130 interrupted); 1 for any other failure.
set -euo pipefail

me='mastflow-refresh.sh'

fail() {
  local code=$1
  shift
  printf '%s: error: %s\n' "$me" "$*" >&2
  if [ "${GITHUB_ACTIONS:-}" = true ]; then
    local m=$*
    m=${m//'%'/'%25'}
    printf '::error title=%s::%s\n' "$me" "$m"
  fi
  exit "$code"
}

say() { printf '%s: %s\n' "$me" "$*" >&2; }

output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
  fi
}

summary() {
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat >>"$GITHUB_STEP_SUMMARY"
  else
    cat >/dev/null
  fi
}

if [ "$#" -lt 2 ]; then
  fail 2 "usage: $me RECIPE RESULTS_DIR [MASTFLOW_RUN_ARG...]"
fi
recipe=$1
results=${2%/}
shift 2

mastflow=${MASTFLOW:-mastflow}
gh=${GH:-gh}
branch=${MASTFLOW_REFRESH_BRANCH:-mast-refresh}
remote=${MASTFLOW_REFRESH_REMOTE:-origin}
limit=${MASTFLOW_PR_BODY_LIMIT:-60000}
title=${MASTFLOW_REFRESH_TITLE:-"MAST refresh: results of $recipe changed"}

case $limit in
  '' | *[!0-9]*) fail 2 "MASTFLOW_PR_BODY_LIMIT must be a number of bytes, not '$limit'" ;;
esac
command -v "$mastflow" >/dev/null 2>&1 ||
  fail 1 "'$mastflow' not found on PATH: install mastflow first (docs/ci/install-mastflow.sh)"
command -v git >/dev/null 2>&1 || fail 1 "git not found on PATH"
command -v "$gh" >/dev/null 2>&1 ||
  fail 1 "'$gh' (the GitHub CLI) not found on PATH: it opens the pull request"
[ -f "$recipe" ] || fail 2 "recipe '$recipe' not found"
lock=$(dirname -- "$recipe")/mastflow.lock
[ -f "$lock" ] ||
  fail 2 "no lock '$lock': run 'mastflow run $recipe --update-lock --out $results' once and commit the lock and the results"
[ -d "$results" ] ||
  fail 2 "results directory '$results' not found: commit the results of a first 'mastflow run $recipe --update-lock --out $results'"
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || fail 1 "not inside a git work tree"
base=${MASTFLOW_REFRESH_BASE:-$(git symbolic-ref --quiet --short HEAD || true)}
[ -n "$base" ] ||
  fail 2 "HEAD is detached: set MASTFLOW_REFRESH_BASE to the branch the pull request targets"
[ "$base" != "$branch" ] ||
  fail 2 "the refresh branch '$branch' is also the base branch: run from the base branch or set MASTFLOW_REFRESH_BRANCH"

work=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/mastflow-refresh.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

# 1. Ask MAST again (--refresh: not from the response cache) and compare
#    with the lock: 0 nothing changed, 3 MAST's answers changed.
code=0
"$mastflow" run "$recipe" --locked --refresh -q --out "$work/new" "$@" 2>"$work/locked.txt" || code=$?
cat "$work/locked.txt" >&2
case $code in
  0)
    say "MAST's answers match $lock: nothing changed"
    output changed false
    # shellcheck disable=SC2016 # the backquotes are markdown
    printf '### MAST refresh\n\nNothing changed: `%s` matches `%s`.\n' "$recipe" "$lock" | summary
    exit 0
    ;;
  3) say "MAST's answers differ from $lock" ;;
  *) fail "$code" "mastflow run $recipe --locked failed (exit status $code); its messages are above" ;;
esac

# 2. Describe the change (mastflow diff: 0 same tables, 3 they differ).
describe() {
  local c=0
  "$mastflow" diff "$results" "$work/new" --format "$1" >"$2" || c=$?
  if [ "$c" != 0 ] && [ "$c" != 3 ]; then
    fail "$c" "mastflow diff $results <new results> --format $1 failed (exit status $c)"
  fi
}
describe markdown "$work/diff.md"
describe text "$work/diff.txt"

# 3. The lock for exactly these results: a second run, answered from the
#    response cache the first one filled, must give the same tables.
c=0
"$mastflow" run "$recipe" --update-lock -q --out "$work/replay" "$@" || c=$?
[ "$c" = 0 ] || fail "$c" "mastflow run $recipe --update-lock failed (exit status $c)"
c=0
"$mastflow" diff "$work/new" "$work/replay" >"$work/replay.txt" || c=$?
case $c in
  0) ;;
  3) fail 1 "MAST's answers changed between the two runs of this refresh; run it again" ;;
  *) fail "$c" "mastflow diff of the two runs failed (exit status $c)" ;;
esac

# 4. Replace the results and commit them with the lock on the refresh branch.
rm -rf -- "$results"
cp -R -- "$work/new" "$results"
git checkout -q -B "$branch"
git add -A -- "$results" "$lock"
if git diff --cached --quiet; then
  say "mastflow reported a change but $results and $lock are unchanged: nothing to commit"
  output changed false
  exit 0
fi
{
  printf '%s\n\n' "$title"
  cat "$work/diff.txt"
  printf '\nmastflow run --locked reported:\n'
  cat "$work/locked.txt"
} >"$work/commit.txt"
ident=()
git config user.name >/dev/null || ident+=(-c "user.name=github-actions[bot]")
git config user.email >/dev/null ||
  ident+=(-c "user.email=41898282+github-actions[bot]@users.noreply.github.com")
git ${ident[@]+"${ident[@]}"} commit -q -F "$work/commit.txt"

# 5. Push, unless the remote branch already holds exactly these files but
#    for run.json's timings (a second night with the same change: the pull
#    request keeps its commit). The lease refuses to overwrite a branch
#    someone else pushed meanwhile.
ls_code=0
remote_line=$(git ls-remote --exit-code --heads "$remote" "refs/heads/$branch") || ls_code=$?
remote_sha=
case $ls_code in
  0) remote_sha=${remote_line%%[[:space:]]*} ;;
  2) ;;
  *) fail 1 "git ls-remote $remote failed (exit status $ls_code)" ;;
esac
push=true
if [ -n "$remote_sha" ]; then
  git fetch -q --depth=1 "$remote" "refs/heads/$branch" || fail 1 "git fetch $remote $branch failed"
  if git diff --quiet FETCH_HEAD HEAD -- . ":(exclude)$results/run.json"; then
    push=false
    say "$remote/$branch already holds these results: not pushed"
  fi
fi
if $push; then
  git push -q --force-with-lease="refs/heads/$branch:$remote_sha" "$remote" "HEAD:refs/heads/$branch" ||
    fail 1 "git push $remote $branch failed"
  say "pushed $branch to $remote"
fi

# 6. The pull request: its body is the markdown diff (cut to the limit)
#    followed by what --locked reported.
{
  cat "$work/diff.md"
  printf '\n<details><summary>What <code>mastflow run --locked</code> reported</summary>\n\n```text\n'
  cat "$work/locked.txt"
  printf '```\n\n</details>\n'
} >"$work/full.md"
size=$(wc -c <"$work/full.md")
if [ "$size" -gt "$limit" ]; then
  note="The diff is $size bytes, more than a pull request body may hold: it is cut here. The whole diff is in the summary of the workflow run."
  keep=$((limit - ${#note} - 20))
  {
    LC_ALL=C awk -v max="$keep" '{ n += length($0) + 1; if (n > max) exit; print }' "$work/full.md"
    printf '\n</details>\n\n_%s_\n' "$note"
  } >"$work/body.md"
else
  cp -- "$work/full.md" "$work/body.md"
fi

pr_url=$("$gh" pr list --head "$branch" --base "$base" --state open --json url --jq '.[0].url // ""') ||
  fail 1 "gh pr list failed"
if [ -n "$pr_url" ]; then
  "$gh" pr edit "$pr_url" --title "$title" --body-file "$work/body.md" >/dev/null ||
    fail 1 "gh pr edit $pr_url failed"
  action=updated
else
  created=$("$gh" pr create --base "$base" --head "$branch" --title "$title" --body-file "$work/body.md") ||
    fail 1 "gh pr create failed"
  pr_url=$(printf '%s\n' "$created" | tail -n 1)
  action=opened
fi
say "$action $pr_url"
output changed true
output pr-url "$pr_url"
{
  printf '### MAST refresh\n\nResults changed: %s %s\n\n' "$action" "$pr_url"
  cat "$work/full.md"
} | summary

#!/usr/bin/env bash
# Install the mastflow command on a CI runner (docs/ci.md), with cargo
# (GitHub's ubuntu runners have it). Tested by tests/ci_workflows.rs.
#
#   MASTFLOW_GIT set (a repository variable, e.g. the git URL of mastflow's
#   repository or of your fork of it): cargo install --locked --git "$MASTFLOW_GIT" mastflow,
#   pinned to MASTFLOW_REV (a commit) when that is set too.
#   Otherwise, when ./Cargo.toml is mastflow's own (the recipes live in a
#   fork of mastflow): cargo install --locked --path .
set -euo pipefail

me='install-mastflow.sh'
command -v cargo >/dev/null 2>&1 || {
  printf '%s: error: cargo not found: install Rust (rustup) first\n' "$me" >&2
  exit 1
}
if [ -n "${MASTFLOW_GIT:-}" ]; then
  args=(--git "$MASTFLOW_GIT")
  if [ -n "${MASTFLOW_REV:-}" ]; then
    args+=(--rev "$MASTFLOW_REV")
  fi
  cargo install --locked "${args[@]}" mastflow
elif [ -f Cargo.toml ] && grep -qx 'name = "mastflow"' Cargo.toml; then
  cargo install --locked --path .
else
  printf '%s: error: %s\n' "$me" "don't know where mastflow comes from: set the repository variable MASTFLOW_GIT to the git URL of mastflow's repository (and MASTFLOW_REV to a commit, to pin it), or keep the recipes in a fork of mastflow so that ./Cargo.toml is mastflow's" >&2
  exit 1
fi
mastflow --version

#!/usr/bin/env bash
# The whole test suite (`make test`), in stages:
#   lint       ruff over helpers, tests and notebooks
#   fast       pytest -m "not lab and not build" (unit tests and real-sshd tests)
#   build      python -m helpers artifacts build, then pytest -m build
#   lab        pytest -m "lab and not cluster" (tests that bring small.yaml up and down)
#   notebooks  lab up (lab.yaml), python -m helpers run (first run of the series, 01-09),
#              then nbval over notebooks/0[1-9]-*.ipynb as the idempotent re-run, then 11's
#              failure drills (confirmed with the cluster's name; they leave it whole), then
#              pytest -m cluster (failure paths on that built cluster), then lab down
# Every stage runs even when an earlier one failed (KJ_FAIL_FAST=1 stops at the first
# failure); the exit status is non-zero when any stage failed. The lab of the notebook
# stage is taken down at its end, by a trap on failure and on interrupt too
# (KJ_KEEP_LAB=1 leaves it running).
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${KJ_PYTHON:-.venv/bin/python}
NB_INVENTORY=$(realpath "${KJ_TEST_INVENTORY:-inventories/lab.yaml}")
export KJ_REQUIRE_ALL=${KJ_REQUIRE_ALL:-1}   # tests/conftest.py: refuse to skip silently
# Tests and CI never contact the real upstream: artifacts are built from source (the
# download path is tested against a loopback upstream, tests/test_upstream.py).
export KJ_ARTIFACTS_SOURCE=${KJ_ARTIFACTS_SOURCE:-build}
LOGS=$(mktemp -d /tmp/kj-test.XXXXXX)
T0=$(date +%s.%N)

stage_names=() stage_status=() stage_seconds=()
failures=0 lab_is_up=0 stage_t0=0 nonpytest_errors=0

cleanup() {
  local rc=$?
  if ((lab_is_up)); then
    echo "==> cleanup: python -m helpers lab down --inventory $NB_INVENTORY"
    "$PY" -m helpers lab down --inventory "$NB_INVENTORY" || { echo "cleanup: lab down failed"; rc=1; }
  fi
  rm -rf "$LOGS"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

begin() {
  echo
  echo "=================================== stage: $1 ==================================="
  stage_t0=$(now)
}

# finish NAME STATUS (ok | failed | skipped: why)
finish() {
  local secs
  secs=$(elapsed "$stage_t0")
  stage_names+=("$1") stage_status+=("$2") stage_seconds+=("$secs")
  echo "--- stage $1: $2 (${secs} s)"
  if [[ $2 == failed ]]; then
    failures=$((failures + 1))
    if [[ ${KJ_FAIL_FAST:-0} == 1 ]]; then
      echo "KJ_FAIL_FAST=1: stopping after the first failed stage"
      summary
      exit 1
    fi
  fi
}

has_module() { "$PY" -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('$1') else 1)" 2>/dev/null; }
cluster_name() { "$PY" -c "from helpers.inventory import load_inventory as l; print(l('$NB_INVENTORY').cluster.name)"; }
has_notebooks() { compgen -G "notebooks/[0-9][0-9]-*.ipynb" >/dev/null; }

# run_pytest LOGNAME ARGS... : pytest with its output kept for the final tally.
# Exit 5 (nothing collected) is a failure: every caller expects tests.
run_pytest() {
  local log=$LOGS/$1.log rc
  shift
  "$PY" -m pytest "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  if ((rc == 5)); then
    echo "pytest $*: no tests collected, but this stage expects tests"
    nonpytest_errors=$((nonpytest_errors + 1))
  fi
  return "$rc"
}

# run_step COMMAND... : a non-pytest command; a failure counts as one error in the tally.
run_step() {
  echo "==> $*"
  "$@" && return 0
  local rc=$?
  echo "==> failed (exit $rc): $*"
  nonpytest_errors=$((nonpytest_errors + 1))
  return "$rc"
}

# The last line: every pytest run's outcome summed, in pytest's own summary format.
tally() {
  awk -v extra="$nonpytest_errors" -v secs="$(elapsed "$T0")" '
    { gsub(/\033\[[0-9;]*m/, "") }
    /^=+ .* in [0-9.]+s/ {
      n = split($0, parts, /, /)
      for (i = 1; i <= n; i++) {
        if (match(parts[i], /[0-9]+ (failed|passed|skipped|xfailed|xpassed|errors?|warnings?)/)) {
          split(substr(parts[i], RSTART, RLENGTH), kv, " ")
          key = kv[2]; sub(/s$/, "", key)
          count[key] += kv[1]
        }
      }
    }
    END {
      count["error"] += extra
      order = "failed passed skipped xfailed xpassed warning error"
      split(order, keys, " ")
      out = ""
      for (i = 1; i <= 7; i++) {
        k = keys[i]; if (!(k in count) || count[k] == 0) continue
        label = k
        if (k == "warning" && count[k] != 1) label = "warnings"
        if (k == "error" && count[k] != 1) label = "errors"
        out = out (out == "" ? "" : ", ") count[k] " " label
      }
      if (out == "") out = "no tests ran"
      line = " " out " in " secs "s "
      pad = int((80 - length(line)) / 2); if (pad < 1) pad = 1
      bar = ""; for (i = 0; i < pad; i++) bar = bar "="
      print bar line bar
    }' "$LOGS"/*.log /dev/null
}

summary() {
  echo
  echo "================================ ci/test.sh summary ================================"
  local i
  for i in "${!stage_names[@]}"; do
    printf '  %-10s %8s s  %s\n' "${stage_names[$i]}" "${stage_seconds[$i]}" "${stage_status[$i]}"
  done
  if ((failures)); then echo "FAILED: $failures stage(s)"; else echo "all stages passed"; fi
  echo "all pytest runs together:"
  tally
}

# --- lint ---------------------------------------------------------------------------
begin lint
if run_step "$PY" -m ruff check helpers bench tests notebooks; then finish lint ok; else finish lint failed; fi

# --- fast: unit and sshd tests ---------------------------------------------------------
begin fast
if run_pytest fast -m "not lab and not build"; then finish fast ok; else finish fast failed; fi

# --- build: artifacts from source, then the build tests ---------------------------------
begin build
if ! has_module helpers.mirror.cli; then
  finish build "skipped: helpers.mirror.cli does not exist yet"
elif run_step "$PY" -m helpers artifacts build && run_pytest build -m build; then
  finish build ok
else
  finish build failed
fi

# --- lab tests ---------------------------------------------------------------------------
begin lab
if ! has_module helpers.lab.cli; then
  finish lab "skipped: helpers.lab.cli does not exist yet"
elif run_pytest lab -m "lab and not cluster"; then
  finish lab ok
else
  finish lab failed
fi

# --- notebooks: first run with papermill, re-run with nbval on the same lab ---------------
begin notebooks
if ! has_module helpers.lab.cli; then
  finish notebooks "skipped: helpers.lab.cli does not exist yet (no lab to run on)"
elif ! has_notebooks; then
  finish notebooks "skipped: no notebooks/NN-*.ipynb yet"
else
  if "$PY" -m helpers lab status --inventory "$NB_INVENTORY" >/dev/null 2>&1; then
    echo "note: lab $(basename "$NB_INVENTORY") was already running, so the first run is not on fresh machines"
  fi
  lab_is_up=1   # from here on the trap takes the lab down, even after a partial up
  ((${KJ_KEEP_LAB:-0})) && lab_is_up=0 && echo "KJ_KEEP_LAB=1: the lab stays up afterwards"
  if run_step "$PY" -m helpers lab up --inventory "$NB_INVENTORY" &&
    run_step "$PY" -m helpers run --inventory "$NB_INVENTORY" &&
    KJ_INVENTORY=$NB_INVENTORY run_pytest notebooks --nbval-lax notebooks/0[1-9]-*.ipynb &&
    KJ_CONFIRM_CLUSTER=$(cluster_name) run_step "$PY" -m helpers run --inventory "$NB_INVENTORY" --only 11 &&
    KJ_INVENTORY=$NB_INVENTORY run_pytest cluster -m cluster; then
    nb_status=ok
  else
    nb_status=failed
  fi
  if ((lab_is_up)); then
    if run_step "$PY" -m helpers lab down --inventory "$NB_INVENTORY"; then
      lab_is_up=0
    else
      nb_status=failed
    fi
  fi
  finish notebooks "$nb_status"
fi

summary
((failures == 0))

#!/usr/bin/env bash
# Crash test: a mixed workload from several processes against a server on a
# state directory, the server killed with SIGKILL at random moments, again
# and again within a time budget; after each kill the state directory passes
# fsck (every few kills), the server restarts on it, and each worker's
# subtree matches a model rebuilt from the worker's log: every acknowledged
# operation present, the one in flight at the kill entirely applied or not
# at all, every file's data digest as written. Some restarts are killed
# too, while the server replays its journal (tests/integration/
# crash_workload.py has the details).
#
# USERFS_CRASH_BUDGET: seconds of kill rounds (default 50); USERFS_CRASH_SEED
# repeats a run. Exits 77 (skipped) when userfsd has no --state.
source "$(dirname -- "$0")/lib.sh"

if ! "$USERFS_TEST_USERFSD" --help 2>&1 | grep -q -- '--state'; then
  echo "userfsd has no --state: nothing to crash-test"
  exit 77
fi

budget=${USERFS_CRASH_BUDGET:-50}
seed=${USERFS_CRASH_SEED:-$RANDOM}
workers=3
logs=$tmp/logs
mkdir -p "$logs"
echo "# seed $seed (USERFS_CRASH_SEED=$seed repeats this run), ${budget} s of kill rounds, $workers workers"

# The driver starts and kills the servers itself; should it die, the last
# server it started is still ours to stop.
leftover_server() {
  local pid
  pid=$(cat "$logs/server.pid" 2>/dev/null) || return 0
  if [[ -n $pid ]] && _alive "$pid" && [[ $(readlink "/proc/$pid/exe") == "$(readlink -f "$USERFS_TEST_USERFSD")" ]]; then
    kill -KILL "$pid"
  fi
}
trap 'leftover_server; _cleanup' EXIT

out=$tmp/driver.out
timeout $((budget + 120)) env LD_PRELOAD="$USERFS_TEST_LIB" USERFS_SOCKET="$sock" USERFS_MOUNTS="$mnt" \
  python3 "$USERFS_TEST_SRCDIR/tests/integration/crash_workload.py" \
  "$USERFS_TEST_USERFSD" "$USERFS_TEST_LAUNCHER" "$sock" "$tmp/state" "$mnt" "$logs" "$budget" "$workers" "$seed" \
  >"$out" 2>&1
rc=$?
cat "$out"
server_log=$logs/userfsd.log

summary=$(grep '^kill points: ' "$out")
kills=$(sed -n 's/^kill points: \([0-9]*\)[ ,].*/\1/p' <<<"$summary")
if ((rc == 0)) && [[ -n $summary ]]; then
  pass "every acknowledged operation survived, nothing half-applied, digests match ($summary)"
else
  fail "every acknowledged operation survived, nothing half-applied, digests match" "driver status $rc (seed $seed)"
fi
# Enough kill points to mean something, even on a slow machine.
if [[ -n $kills ]] && ((kills >= budget)); then
  pass "at least one kill point per second of budget ($kills)"
else
  fail "at least one kill point per second of budget" "got ${kills:-none} in $budget s"
fi

finish

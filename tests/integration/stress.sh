#!/usr/bin/env bash
# 4 processes x 16 threads of mixed operations (create, write, append, read
# and verify, rename, unlink, stat, mkdir, rmdir, readdir) on one mount, each
# thread in its own directory plus one directory all of them race in
# (tests/integration/stress_worker.c).
#  1. A timed run: no operation may fail except with the errors the race on
#     shared names makes legitimate (EEXIST, ENOENT, ENOTEMPTY), no content or
#     listing may be wrong, and the private dirs are cleaned up.
#  2. A run until the server dies: the server is SIGKILLed while the workers
#     are busy; every worker must end within a bound, each of its threads
#     stopped by EIO/ENOTCONN — no hang, no other errno.
#
# Usage: stress.sh [PATH-TO-stress_worker]  (meson passes the built program;
# by hand it is taken from the build dir or compiled into the temp dir).
source "$(dirname -- "$0")/lib.sh"

worker=$(test_program stress_worker "${1:-}" -pthread) || exit 1
procs=4 threads=16 seconds=${USERFS_STRESS_SECONDS:-4}

start_server
check "mkdir the stress dirs" under_shim mkdir -p "$mnt/s1/shared" "$mnt/s2/shared"

# Starts the workers on DIR in MODE (seconds or until-dead) under a timeout;
# their pids go to $pids (and to the cleanup list).
pids=()
start_workers() {  # DIR MODE
  local i
  pids=()
  for ((i = 0; i < procs; i++)); do
    timeout -s KILL 30 env LD_PRELOAD="$USERFS_TEST_LIB" USERFS_SOCKET="$sock" USERFS_MOUNTS="$mnt" \
      "$worker" "$1" "$i" "$threads" "$2" >"$tmp/worker$i.out" 2>&1 &
    pids+=($!)
    track $!
  done
}
# Waits for every worker; their exit statuses go to $statuses.
statuses=()
wait_workers() {
  local i
  statuses=()
  for ((i = 0; i < procs; i++)); do
    wait "${pids[i]}"
    statuses+=($?)
  done
}

# --- 1. timed run ----------------------------------------------------------
start_workers "$mnt/s1" "$seconds"
wait_workers
bad=0 total_ops=0
for ((i = 0; i < procs; i++)); do
  st=${statuses[i]}
  last=$(tail -n 1 "$tmp/worker$i.out")
  ops=$(sed -n 's/.* ops=\([0-9]*\) .*/\1/p' <<<"$last")
  total_ops=$((total_ops + ${ops:-0}))
  if [[ $st != 0 ]]; then
    bad=1
    fail "timed run: worker $i exit status 0 (137 means it hung and was killed)" "status: $st" \
      "$(head -n 25 "$tmp/worker$i.out")"
  fi
done
((bad == 0)) && pass "timed run: $procs workers x $threads threads, no unexpected error, no wrong content ($total_ops ops)"
if ((total_ops >= 1000)); then
  pass "timed run did real work"
else
  fail "timed run did real work" "only $total_ops operations in ${seconds}s"
fi
expect_eq "private dirs cleaned up, only the shared dir left" "shared" \
  "$(under_shim ls -A "$mnt/s1")"
check "shared dir lists, its entries stat" under_shim sh -c 'cd "$1" && for f in *; do [ -e "$f" ] || [ "$f" = "*" ] || exit 1; done' sh "$mnt/s1/shared"
check "server still answers after the timed run" ping_server

# --- 2. the server dies under load ----------------------------------------------
start_workers "$mnt/s2" until-dead
sleep 1.5
if _alive "$server_pid"; then
  for ((i = 0; i < procs; i++)); do
    _alive "${pids[i]}" || fail "until-dead: worker $i still running before the kill" "$(cat "$tmp/worker$i.out")"
  done
fi
# Nothing may have failed before the kill.
pre_kill=$(cat "$tmp"/worker*.out)
expect_eq "until-dead: no error before the kill" "" "$pre_kill"
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=
t0=$SECONDS
wait_workers
elapsed=$((SECONDS - t0))
for ((i = 0; i < procs; i++)); do
  st=${statuses[i]}
  if [[ $st == 0 ]]; then
    pass "until-dead: worker $i ended, every thread stopped on EIO/ENOTCONN ($(tail -n 1 "$tmp/worker$i.out" | sed 's/.*gone=\([0-9]*\).*eio=\([0-9]*\) enotconn=\([0-9]*\)/gone=\1 eio=\2 enotconn=\3/'))"
  elif [[ $st == 137 ]]; then
    fail "until-dead: worker $i ended after the server died" "hung: killed by the 30 s timeout" \
      "$(head -n 25 "$tmp/worker$i.out")"
  else
    fail "until-dead: worker $i ended, every thread stopped on EIO/ENOTCONN" "status: $st" \
      "$(head -n 25 "$tmp/worker$i.out")"
  fi
done
if ((elapsed <= 10)); then
  pass "until-dead: all workers ended within 10 s of the kill (${elapsed}s)"
else
  fail "until-dead: all workers ended within 10 s of the kill" "took ${elapsed}s"
fi
# A new process fails promptly too, and nothing outside the mount is affected.
out=$(timeout 10 env LD_PRELOAD="$USERFS_TEST_LIB" USERFS_SOCKET="$sock" USERFS_MOUNTS="$mnt" \
  sh -c 'stat "$1/s2" >/dev/null 2>&1; echo "mount $?"; echo ok > "$2/outside" && cat "$2/outside"' sh "$mnt" "$tmp" 2>&1)
expect_eq "after the kill: a new process fails promptly on the mount, works outside" $'mount 1\nok' "$out"
for ((i = 0; i < procs; i++)); do
  _alive "${pids[i]}" && fail "worker $i left behind" && kill -KILL "${pids[i]}"
done
finish

#!/usr/bin/env bash
# The `userfs` launcher: run, start/env/status/stop, help.
source "$(dirname -- "$0")/lib.sh"
userfs=$USERFS_TEST_LAUNCHER
# The launcher must use exactly the artefacts under test.
export USERFS_BUILD_DIR=${USERFS_TEST_USERFSD%/server/userfsd}

echo "# --help for every subcommand"
check "userfs --help" "$userfs" --help
check "userfs help" "$userfs" help
for sub in run start stop status env; do
  out=$("$userfs" "$sub" --help 2>&1)
  rc=$?
  if ((rc == 0)) && grep -q "^usage: userfs $sub" <<<"$out"; then
    pass "userfs $sub --help"
  else
    fail "userfs $sub --help" "status $rc" "$out"
  fi
done
check_fails "unknown subcommand fails" "$userfs" frobnicate
check_fails "run without a command fails" "$userfs" run --socket "$sock" --mount "$mnt"

echo "# userfs run starts a server for the command and stops it after"
out=$("$userfs" run --socket "$sock" --mount "$mnt" -- \
  sh -c 'echo hi > "$1/f" && cat "$1/f" && "$2" --socket "$3" pid > "$4"' \
  sh "$mnt" "$USERFS_TEST_USERFSCTL" "$sock" "$tmp/run.pid" 2>"$tmp/run.err")
rc=$?
expect_eq "run: prints hi" hi "$out"
expect_eq "run: exits 0" 0 "$rc"
run_pid=$(cat "$tmp/run.pid" 2>/dev/null)
if [[ $run_pid =~ ^[0-9]+$ ]]; then
  pass "run: a server served the command (pid $run_pid)"
  track "$run_pid"
  if _alive "$run_pid"; then
    fail "run: the server it started is gone" "pid $run_pid still running"
  else
    pass "run: the server it started is gone"
  fi
else
  fail "run: a server served the command" "userfsctl pid said: $run_pid" "$(cat "$tmp/run.err")"
fi
check_fails "run: nothing answers on the socket afterwards" ping_server
check_fails "run: socket removed afterwards" test -e "$sock"

"$userfs" run --socket "$sock" --mount "$mnt" -- sh -c 'exit 7' 2>/dev/null
expect_eq "run: returns the command's exit status" 7 "$?"

out=$(LD_PRELOAD='' "$userfs" run --socket "$sock" --mount "$mnt" -- sh -c 'printf "%s|%s|%s" "$LD_PRELOAD" "$USERFS_SOCKET" "$USERFS_MOUNTS"' 2>&1)
IFS='|' read -r got_lib got_sock got_mnt <<<"$out"
expect_eq "run: sets LD_PRELOAD to the library" "$(readlink -f "$USERFS_TEST_LIB")" "$(readlink -f "$got_lib")"
expect_eq "run: sets USERFS_SOCKET" "$sock" "$got_sock"
expect_eq "run: sets USERFS_MOUNTS" "$mnt" "$got_mnt"
out=$("$userfs" run --socket "$sock" --mount "$mnt" --mount "$mnt-two" -- sh -c 'printf %s "$USERFS_MOUNTS"' 2>&1)
expect_eq "run: several --mount" "$mnt,$mnt-two" "$out"
out=$(LD_PRELOAD=/nonexistent-other.so "$userfs" run --socket "$sock" --mount "$mnt" -- \
  sh -c 'printf %s "$LD_PRELOAD"' 2>/dev/null)
case $out in
  *libuserfs.so:/nonexistent-other.so) pass "run: prepends to an existing LD_PRELOAD" ;;
  *) fail "run: prepends to an existing LD_PRELOAD" "LD_PRELOAD=$out" ;;
esac

echo "# userfs start / env / status / stop"
out=$("$userfs" start --socket "$sock" 2>&1)
rc=$?
expect_eq "start: exits 0" 0 "$rc"
check "start: server answers" ping_server
start_pid=$("$USERFS_TEST_USERFSCTL" --socket "$sock" pid 2>/dev/null)
if [[ $start_pid =~ ^[0-9]+$ ]]; then
  track "$start_pid"   # killed by pid on exit if `stop` fails
  pass "start: server pid $start_pid"
else
  fail "start: server pid" "userfsctl pid said: $start_pid" "$out"
fi
check "start: log file beside the socket" test -f "$sock.log"
out=$("$userfs" start --socket "$sock" 2>&1)
rc=$?
expect_eq "start again: exits 0" 0 "$rc"
if grep -qi 'already running' <<<"$out"; then
  pass "start again: says it is already running"
else
  fail "start again: says it is already running" "$out"
fi
expect_eq "start again: same server" "$start_pid" \
  "$("$USERFS_TEST_USERFSCTL" --socket "$sock" pid 2>/dev/null)"

envout=$("$userfs" env --socket "$sock" --mount "$mnt" 2>&1)
check "env: prints exports" grep -q '^export USERFS_SOCKET=' <<<"$envout"
(
  unset LD_PRELOAD
  eval "$envout"
  sh -c 'echo from-env > "$1/g"' sh "$mnt"
) 2>&1
expect_eq "env: a second shell reads what the first wrote" from-env \
  "$(unset LD_PRELOAD; eval "$envout"; sh -c 'cat "$1/g"' sh "$mnt" 2>&1)"
expect_eq "env: values as given" "$sock|$mnt" \
  "$(unset LD_PRELOAD; eval "$envout"; printf '%s|%s' "$USERFS_SOCKET" "$USERFS_MOUNTS")"
odd=$tmp/dir\ with\ \'quotes\'/sock
out=$(unset LD_PRELOAD; eval "$("$userfs" env --socket "$odd" --mount "$mnt")" && printf %s "$USERFS_SOCKET")
expect_eq "env: quotes awkward paths" "$odd" "$out"
out=$(cd / && "$userfs" env --socket "${sock#/}" --mount "$mnt" 2>&1 | sed -n "s/^export USERFS_SOCKET=//p")
expect_eq "env: makes a relative socket absolute" "'$sock'" "$out"

status=$("$userfs" status --socket "$sock" --mount "$mnt" 2>&1)
rc=$?
expect_eq "status: exits 0" 0 "$rc"
if grep -q "^pid: $start_pid\$" <<<"$status"; then pass "status: shows the pid"; else fail "status: shows the pid" "$status"; fi
if grep -q '^files: [1-9]' <<<"$status"; then pass "status: counts the file"; else fail "status: counts the file" "$status"; fi
if grep -q "^mounts: $mnt\$" <<<"$status"; then pass "status: shows the mounts"; else fail "status: shows the mounts" "$status"; fi

out=$("$userfs" stop --socket "$sock" 2>&1)
rc=$?
expect_eq "stop: exits 0" 0 "$rc"
if [[ -n $start_pid ]] && ! _alive "$start_pid"; then
  pass "stop: the server is gone"
else
  fail "stop: the server is gone" "$out"
fi
check_fails "stop: nothing answers" ping_server
check_fails "status after stop fails" "$userfs" status --socket "$sock"
check "stop with no server is not an error" "$userfs" stop --socket "$sock"

echo "# run uses a server that is already running and leaves it alone"
start_server
out=$("$userfs" run --socket "$sock" --mount "$mnt" -- sh -c 'echo shared > "$1/h"; cat "$1/h"' sh "$mnt" 2>&1)
expect_eq "run with a running server: works" shared "$out"
check "run with a running server: server still answers" ping_server
expect_eq "run with a running server: data kept" shared "$(under_shim cat "$mnt/h" 2>&1)"

finish

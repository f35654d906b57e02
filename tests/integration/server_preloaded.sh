#!/usr/bin/env bash
# The server never routes its own calls through itself: userfsd run with the
# library preloaded (as under /etc/ld.so.preload) and with settings whose
# mount covers its own socket directory still serves normally, because it
# switches the shim off (userfs_shim_disable) before doing anything.
source "$(dirname -- "$0")/lib.sh"

mkdir -m 700 "$tmp/run"
sock=$tmp/run/sock
trace=$tmp/server.trace
LD_PRELOAD=$USERFS_TEST_LIB USERFS_SOCKET=$sock USERFS_MOUNTS=$tmp/run \
  USERFS_TRACE=all USERFS_TRACE_FILE=$trace \
  "$USERFS_TEST_USERFSD" --socket "$sock" </dev/null >>"$server_log" 2>&1 &
server_pid=$!
if ! wait_for_server "$server_pid"; then
  echo "FAIL: userfsd under the preload did not start on $sock; its log:" >&2
  sed 's/^/  | /' "$server_log" >&2
  exit 1
fi
pass "userfsd starts with the library preloaded and its socket dir mounted"

if grep -q libuserfs "/proc/$server_pid/maps"; then
  pass "the library is loaded in userfsd"
else
  fail "the library is loaded in userfsd" "$(grep -c . "/proc/$server_pid/maps") mappings, none of libuserfs"
fi

check "a client writes through the preloaded server" under_shim sh -c "echo hello > $mnt/f"
expect_eq "a client reads it back" hello "$(under_shim cat "$mnt/f" 2>&1)"
check "a client lists the mount" under_shim ls -l "$mnt"
# The socket and the server's state are real host files, untouched by the mount.
check "the socket is a real socket on the host" test -S "$sock"

# The server traced nothing: with the shim off, it made no call at all.
if [[ -s $trace ]] && grep -q "userfs\[$server_pid\]" "$trace"; then
  fail "userfsd's own calls are not intercepted" "$(grep "userfs\[$server_pid\]" "$trace" | head -5)"
else
  pass "userfsd's own calls are not intercepted"
fi

stop_server
if ((server_status == 0 || server_status == 143)); then
  pass "userfsd under the preload stops cleanly (status $server_status)"
else
  fail "userfsd under the preload stops cleanly" "status $server_status"
fi
check "it removed its socket" test ! -e "$sock"
finish

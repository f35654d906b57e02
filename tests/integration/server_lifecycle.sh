#!/usr/bin/env bash
# The server's life: start, refuse a second server, clean stop, stale socket.
source "$(dirname -- "$0")/lib.sh"

echo "# userfsd starts and says where it serves"
start_server
sleep 0.1
if grep -q "^userfsd: serving $sock (pid $server_pid)" "$server_log"; then
  pass "serving line names the socket and pid"
else
  fail "serving line names the socket and pid" "log: $(cat "$server_log")"
fi
check "socket exists" test -S "$sock"
check "userfsctl ping answers" "$USERFS_TEST_USERFSCTL" --socket "$sock" ping
expect_eq "userfsctl pid is the server's pid" "$server_pid" \
  "$("$USERFS_TEST_USERFSCTL" --socket "$sock" pid 2>&1)"
expect_eq "socket directory is private (0700)" 700 "$(stat -c %a "${sock%/*}")"

status=$("$USERFS_TEST_USERFSCTL" --socket "$sock" status 2>&1)
for key in pid socket clients inodes directories files symlinks bytes requests uptime; do
  if grep -q "^$key: " <<<"$status"; then
    pass "status reports $key"
  else
    fail "status reports $key" "status output: $status"
  fi
done

echo "# a second server on the same socket is refused"
second_out=$(timeout 10 "$USERFS_TEST_USERFSD" --socket "$sock" 2>&1 </dev/null)
second_rc=$?
expect_eq "second userfsd exits 1" 1 "$second_rc"
if grep -q "userfsd: another server is already serving $sock" <<<"$second_out"; then
  pass "second userfsd says another server is serving"
else
  fail "second userfsd says another server is serving" "output: $second_out"
fi
check "first server still answers" "$USERFS_TEST_USERFSCTL" --socket "$sock" ping
expect_eq "first server still has its pid" "$server_pid" \
  "$("$USERFS_TEST_USERFSCTL" --socket "$sock" pid 2>&1)"

echo "# SIGTERM stops it cleanly"
stop_server
expect_eq "userfsd exits 0 on SIGTERM" 0 "$server_status"
check_fails "socket removed" test -e "$sock"
check_fails "lock removed" test -e "$sock.lock"
check_fails "ping fails with no server" "$USERFS_TEST_USERFSCTL" --socket "$sock" ping

echo "# a server killed with SIGKILL leaves a stale socket; a new one starts"
start_server
first=$server_pid
exec 3>&2 2>/dev/null   # no "Killed" job notice in the output
kill -KILL "$first"
wait "$first"
exec 2>&3 3>&-
server_pid=
check "stale socket left behind" test -S "$sock"
check_fails "ping fails on the stale socket" "$USERFS_TEST_USERFSCTL" --socket "$sock" ping
start_server
check "new server answers on the stale socket's path" "$USERFS_TEST_USERFSCTL" --socket "$sock" ping
expect_eq "new server reports its own pid" "$server_pid" \
  "$("$USERFS_TEST_USERFSCTL" --socket "$sock" pid 2>&1)"
stop_server
expect_eq "new server exits 0 on SIGTERM" 0 "$server_status"
check_fails "socket removed after the second stop" test -e "$sock"

echo "# userfsctl without a server"
check_fails "status fails with no server" "$USERFS_TEST_USERFSCTL" --socket "$sock" status

finish

#!/usr/bin/env bash
# A hostile client (tests/integration/hostile_client.cpp) speaks the wire
# protocol by hand: malformed headers, lengths and sizes, unknown opcodes,
# requests before hello, wrong versions, bad names, paths and flags,
# handles that never existed, fds passed with requests, stalled
# connections, a client that sends without reading, thousands of
# connections (and, as root, a flood from another uid capped by
# --max-clients-per-user). After each, a polite client on a fresh
# connection must be answered within a second and the server must be
# alive; at the end a real program under the shim still works, and the
# server stops cleanly with nothing in its log (an ASan build reports
# leaks and errors there: tests/sanitizers runs this test against one via
# USERFS_TEST_USERFSD).
#
# Usage: hostile_client.sh [PATH-TO-hostile_client]
source "$(dirname -- "$0")/lib.sh"

prog=${1:-$_builddir/tests/hostile_client}
if [[ ! -x $prog ]]; then
  prog=$tmp/hostile_client
  c++ -std=c++20 -O1 -I"$USERFS_TEST_SRCDIR/include" -o "$prog" \
    "$USERFS_TEST_SRCDIR/tests/integration/hostile_client.cpp" || {
    echo "FAIL: cannot build hostile_client" >&2
    exit 1
  }
fi

flood_uid=()
server_args=(--socket "$sock")
if [[ $(id -u) -eq 0 ]]; then
  # uid 65534 may connect, but only 1000 times at once; it must reach the
  # socket through our temp dir.
  chmod 0711 "$tmp"
  server_args+=(--allow-users 65534 --max-clients-per-user 1000)
  flood_uid=(65534)
fi
"$USERFS_TEST_USERFSD" "${server_args[@]}" </dev/null >>"$server_log" 2>&1 &
server_pid=$!
if ! wait_for_server "$server_pid"; then
  fail "userfsd starts" "$(cat "$server_log")"
  finish
fi

timeout 120 "$prog" "$sock" "$server_pid" "${flood_uid[@]}" >"$tmp/hostile.out" 2>&1
rc=$?
sed 's/^/  | /' "$tmp/hostile.out"
if ((rc == 0)); then
  pass "every hostile case answered as specified, the server serving throughout"
else
  mapfile -t failed < <(grep -v '^ok' "$tmp/hostile.out")
  fail "every hostile case answered as specified, the server serving throughout (status $rc)" "${failed[@]}"
fi

check "server still alive (pid $server_pid)" kill -0 "$server_pid"
expect_eq "a real program under the shim afterwards" "hi" \
  "$(under_shim sh -c "echo hi > $mnt/after && cat $mnt/after" 2>&1)"

stop_server
expect_eq "server stops cleanly on SIGTERM" 0 "$server_status"

# A server that has run out of descriptors (48, most of them memfds of
# files made first): new clients are hung up, not left waiting, and the
# server does not spin on its listener.
sock=$tmp/nofd.sock
prlimit --nofile=48:48 "$USERFS_TEST_USERFSD" --socket "$sock" </dev/null >>"$server_log" 2>&1 &
server_pid=$!
wait_for_server "$server_pid" || { fail "userfsd with 48 fds starts" "$(cat "$server_log")"; finish; }
under_shim sh -c "i=0; while [ \$i -lt 60 ] && echo x > $mnt/f\$i; do i=\$((i+1)); done" 2>/dev/null
check "out of fds: the hostile client's checks" timeout 60 "$prog" --out-of-fds "$sock" "$server_pid"
expect_eq "out of fds: a real program is served again once the clients left" "x" \
  "$(under_shim sh -c "rm $mnt/f0 $mnt/f1 $mnt/f2 $mnt/f3 && cat $mnt/f5" 2>&1)"
stop_server
expect_eq "server out of fds stops cleanly on SIGTERM" 0 "$server_status"
finish

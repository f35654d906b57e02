#!/usr/bin/env bash
# A long-running client across server stops and restarts
# (tests/integration/client_survival.c): while the server is down its open
# fds keep working for data and everything needing the server fails within
# 2 s with EIO or ENOTCONN; when a server comes back on the same state
# directory the same process carries on with everything it held; when a new
# in-memory server (another namespace) comes back, metadata calls on what it
# held fail with ESTALE while data calls and new names work. Stops with
# SIGTERM and with SIGKILL. Also: fsync/sync show in the trace, and sync
# with no server returns at once.
#
# Usage: client_survival.sh [PATH-TO-client_survival]
source "$(dirname -- "$0")/lib.sh"

prog=$(test_program client_survival "${1:-}") || exit 1
state=$tmp/state

if "$USERFS_TEST_USERFSD" --help 2>&1 | grep -q -- '--state'; then
  has_state=1
else
  has_state=0
fi

# Starts a server on $sock: in memory, or on $state with "state".
serve() {  # [state]
  local args=(--socket "$sock")
  [[ ${1:-} == state ]] && args+=(--state "$state")
  "$USERFS_TEST_USERFSD" "${args[@]}" </dev/null >>"$server_log" 2>&1 &
  server_pid=$!
  if ! wait_for_server "$server_pid"; then
    fail "userfsd ${args[*]} starts" "$(tail -5 "$server_log")"
    finish
  fi
}

# Stops it with SIGTERM, or with SIGKILL ("kill").
halt() {  # [kill]
  if [[ ${1:-} == kill ]]; then
    kill -KILL "$server_pid"
    wait "$server_pid" 2>/dev/null
  else
    kill_pid "$server_pid"
  fi
  server_pid=
}

# The client: one process for a whole scenario, driven step by step.
start_client() {  # DIR
  coproc client {
    exec env LD_PRELOAD="$USERFS_TEST_LIB" USERFS_SOCKET="$sock" USERFS_MOUNTS="$mnt" "$prog" "$1" 2>&1
  }
  client_pid=$client_PID
  track "$client_pid"
}

# Runs one step in the client; each of its lines is a check.
step() {  # LABEL STEP
  local label=$1 line
  echo "$2" >&"${client[1]}"
  while IFS= read -r -t 30 line <&"${client[0]}"; do
    case $line in
      end) return 0 ;;
      "ok "*) pass "$label: ${line#ok }" ;;
      "FAIL "*) fail "$label: ${line#FAIL }" ;;
      *) fail "$label: unexpected output" "$line" ;;
    esac
  done
  fail "$label: the client answers within 30 s (hung or died)"
  return 1
}

stop_client() {
  exec {client[1]}>&-
  wait "$client_pid" 2>/dev/null
  expect_eq "client exits cleanly" 0 "$?"
}

# In-memory server stopped, then another one started: another namespace.
for how in term kill; do
  serve
  start_client "$mnt/mem-$how"
  step "memory/$how" setup
  halt "$how"
  step "memory/$how down" down
  serve
  step "memory/$how new server" child-stale
  step "memory/$how new server" fresh
  step "memory/$how new server, known stale" child-stale
  stop_client
  halt
done

if ((has_state)); then
  serve state
  start_client "$mnt/state"
  step "state" setup
  for how in term kill; do
    halt "$how"
    step "state/$how down" down
    serve state
    step "state/$how restarted" child-same
    step "state/$how restarted" same
  done
  # The state directory's namespace replaced by an in-memory one.
  halt
  serve
  step "state then memory" child-stale
  step "state then memory" fresh
  stop_client
  halt
else
  echo "# userfsd has no --state: the restarts on a state directory are not run"
fi

# A server that dies with a request unread: the client's receive fails
# with ECONNRESET, and nothing (no reply, no fds) came with it. The call
# fails with EIO, and the process keeps every fd of its own, including one
# that took the number of an fd the previous reply carried.
python3 - "$sock" >"$tmp/reset_server.log" 2>&1 <<'PY' &
import os, select, socket, struct, sys
srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
srv.bind(sys.argv[1])
srv.listen(8)
spare = os.open("/dev/null", os.O_RDONLY)
def reply(c, req, error, payload=b"", fds=()):
    magic, op, _, _, _, rid = struct.unpack_from("=IHHIIQ", req)
    socket.send_fds(c, [struct.pack("=IHHIiQ", magic, op, 0, len(payload), error, rid) + payload], list(fds))
for _ in range(20):
    c, _ = srv.accept()
    hello = c.recv(4096)
    mounts = struct.unpack_from("=I", hello, 28)[0]  # HelloReq.mount_count
    reply(c, hello, 0, struct.pack("=IIQQII", 3, os.getpid(), 99, 1234, mounts, 0) + bytes(4 * mounts))
    reply(c, c.recv(256), -2, fds=[spare])  # ENOENT, with an fd the client drops
    select.select([c], [], [], 10)  # the next request arrives and stays unread
    c.close()
PY
reset_server=$!
track "$reset_server"
for ((i = 0; i < 50; i++)); do [[ -S $sock ]] && break; sleep 0.05; done
out=$(timeout 20 env LD_PRELOAD="$USERFS_TEST_LIB" USERFS_SOCKET="$sock" USERFS_MOUNTS="$mnt" python3 -c '
import errno, os, sys
mine = []
for _ in range(20):
    for want in (errno.ENOENT, errno.EIO):
        try:
            os.stat(sys.argv[1])
            print("stat succeeded")
        except OSError as e:
            if e.errno != want:
                print("stat:", errno.errorcode.get(e.errno, e.errno), "expected", errno.errorcode[want])
        if want == errno.ENOENT:
            mine.append(os.open("/dev/null", os.O_RDONLY))
for fd in mine:
    os.fstat(fd)
print("done")' "$mnt/x" 2>&1)
expect_eq "a server dying with the request unread: EIO each time, the process and its fds intact" done "$out"
kill_pid "$reset_server"

# fsync and sync are traced; sync returns at once with no server.
serve
trace=$tmp/trace
USERFS_TRACE=1 USERFS_TRACE_FILE=$trace under_shim python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"x")
os.fsync(fd)
os.fdatasync(fd)
os.close(fd)
os.sync()' "$mnt/traced"
expect_eq "the traced program succeeds" 0 "$?"
for fn in fsync fdatasync sync; do
  if grep -Eq "^userfs\[[0-9]+\]: $fn\(.*\) = 0$" "$trace"; then
    pass "trace shows $fn"
  else
    fail "trace shows $fn" "$(cat "$trace")"
  fi
done
halt
start=$(date +%s%N)
timeout 10 env LD_PRELOAD="$USERFS_TEST_LIB" USERFS_SOCKET="$sock" USERFS_MOUNTS="$mnt" sync
rc=$?
took=$((($(date +%s%N) - start) / 1000000))
if ((rc == 0 && took < 2000)); then
  pass "sync with no server returns 0 at once (${took} ms)"
else
  fail "sync with no server returns 0 at once" "status $rc after ${took} ms"
fi

finish

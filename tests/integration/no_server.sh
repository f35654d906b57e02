#!/usr/bin/env bash
# Never hang, never lie: with no server, calls on the mount fail promptly with
# an errno, and everything outside the mount keeps working.
source "$(dirname -- "$0")/lib.sh"
# No start_server: nobody serves $sock.

# A second "socket": a socket file whose server is gone (connect is refused).
stale=$tmp/stale/sock
mkdir -m 700 "$tmp/stale"
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1])
s.close()' "$stale"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# prompt_failure NAME CMD...: CMD must fail (non-zero, not killed by timeout)
# within 2 s and say something on stderr.
prompt_failure() {
  local name=$1 start end rc err
  shift
  start=$(now_ms)
  err=$(timeout 5 "$@" 2>&1 >/dev/null)
  rc=$?
  end=$(now_ms)
  local took=$((end - start))
  if ((rc == 124 || rc == 137)); then
    fail "$name" "hung: killed by timeout after ${took} ms"
  elif ((rc == 126 || rc == 127)); then
    fail "$name" "could not run the command (status $rc): $err"
  elif ((rc == 0)); then
    fail "$name" "succeeded with no server (status 0)"
  elif ((took >= 2000)); then
    fail "$name" "failed, but took ${took} ms (limit 2000)"
  elif [[ -z $err ]]; then
    fail "$name" "failed silently (status $rc)"
  else
    pass "$name (status $rc, ${took} ms: ${err%%$'\n'*})"
  fi
}

for socket in "$sock" "$stale"; do
  case $socket in
    "$sock") what="missing socket" ;;
    *) what="stale socket" ;;
  esac
  echo "# $what: $socket"
  run=(env LD_PRELOAD="$USERFS_TEST_LIB" USERFS_SOCKET="$socket" USERFS_MOUNTS="$mnt")
  prompt_failure "$what: stat" "${run[@]}" stat "$mnt/f"
  prompt_failure "$what: cat" "${run[@]}" cat "$mnt/f"
  prompt_failure "$what: ls" "${run[@]}" ls "$mnt"
  prompt_failure "$what: mkdir" "${run[@]}" mkdir "$mnt/d"
  prompt_failure "$what: write" "${run[@]}" sh -c 'echo x > "$1"' sh "$mnt/f"

  out=$(timeout 5 "${run[@]}" python3 -c '
import errno, os, sys
try:
    os.stat(sys.argv[1])
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
else:
    print("no error")' "$mnt/f" 2>&1)
  case $out in
    ENOTCONN | EIO | ECONNREFUSED) pass "$what: os.stat raises $out" ;;
    *) fail "$what: os.stat raises ENOTCONN, EIO or ECONNREFUSED" "got: $out" ;;
  esac

  out=$(timeout 5 "${run[@]}" python3 -c '
import errno, os, sys
for i in range(3):
    try:
        os.open(sys.argv[1], os.O_RDONLY)
    except OSError as e:
        print(errno.errorcode.get(e.errno, e.errno))' "$mnt/f" 2>&1 | sort -u)
  case $out in
    ENOTCONN | EIO | ECONNREFUSED) pass "$what: repeated opens keep failing with $out" ;;
    *) fail "$what: repeated opens keep failing with one errno" "got: $out" ;;
  esac

  echo "# $what: outside the mount everything works"
  check "$what: write and read in \$tmp" "${run[@]}" sh -c 'echo ok > "$1" && cat "$1"' sh "$tmp/outside"
  expect_eq "$what: cat outside" ok "$("${run[@]}" cat "$tmp/outside" 2>&1)"
  check "$what: ls /" "${run[@]}" ls /
  check "$what: python3 runs" "${run[@]}" python3 -c 'import os; os.listdir("/")'
  expect_eq "$what: no mount dir was created on the host" no \
    "$(test -e "$mnt" && echo yes || echo no)"
done

echo "# a server that appears later is used"
start_server
check "after start: write works" under_shim sh -c 'echo late > "$1"' sh "$mnt/f"
expect_eq "after start: read works" late "$(under_shim cat "$mnt/f" 2>&1)"

finish

#!/usr/bin/env bash
# Permissions as a POSIX filesystem enforces them (tests/integration/
# perm_suite.c: mode bits on lookup, read, write, create, unlink and rename,
# the sticky bit, chown and chmod rules, setgid directories, umask on
# create, access(), utimensat, protected hardlinks), run as root and as
# uid 65534, natively on a temp dir and in the mount: for each user the two
# transcripts must be identical. The server runs as root and admits uid
# 65534 with --allow-users; each request is checked with the caller's own
# credentials. Needs root (to make fixtures owned by others and to switch
# users): skipped (77) otherwise.
#
# Usage: permissions.sh [PATH-TO-perm_suite]
source "$(dirname -- "$0")/lib.sh"

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root (fixtures owned by other users, setpriv)"
  exit 77
fi
command -v setpriv >/dev/null || { echo "SKIP: no setpriv"; exit 77; }

prog=$(test_program perm_suite "${1:-}") || exit 1
# uid 65534 must reach the program, the native dirs and the socket.
chmod 0711 "$tmp"
if [[ $prog != "$tmp"/* ]] && ! setpriv --reuid 65534 --regid 65534 --clear-groups test -x "$prog"; then
  cp -- "$prog" "$tmp/perm_suite" && chmod 0755 "$tmp/perm_suite"
  prog=$tmp/perm_suite
fi

"$USERFS_TEST_USERFSD" --socket "$sock" --allow-users 65534 </dev/null >>"$server_log" 2>&1 &
server_pid=$!
wait_for_server "$server_pid" || { fail "userfsd starts" "$(cat "$server_log")"; finish; }

as_user() {  # UID CMD...
  local uid=$1
  shift
  if ((uid == 0)); then
    "$@"
  else
    setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"
  fi
}

for uid in 0 65534; do
  nat=$tmp/native-$uid
  mdir=$mnt/perm-$uid
  mkdir -m 0755 "$nat"
  check "uid $uid: native fixtures" "$prog" setup "$nat" "$uid" "$uid"
  check "uid $uid: mount fixtures" under_shim sh -c 'mkdir -m 0755 "$1" && "$2" setup "$1" "$3" "$3"' sh "$mdir" "$prog" "$uid"
  as_user "$uid" "$prog" probe "$nat" >"$tmp/native-$uid.out" 2>&1
  nat_rc=$?
  under_shim setpriv --reuid "$uid" --regid "$uid" --clear-groups "$prog" probe "$mdir" >"$tmp/mount-$uid.out" 2>&1
  mnt_rc=$?
  expect_eq "uid $uid: probe exits 0 natively" 0 "$nat_rc"
  expect_eq "uid $uid: probe exits 0 in the mount" 0 "$mnt_rc"
  # Nothing refused is no test: each run must see both outcomes.
  if grep -q 'EACCES\|EPERM' "$tmp/native-$uid.out" || ((uid == 0)); then
    pass "uid $uid: the native transcript has refusals where expected"
  else
    fail "uid $uid: the native transcript has refusals where expected" "$(cat "$tmp/native-$uid.out")"
  fi
  if cmp -s "$tmp/native-$uid.out" "$tmp/mount-$uid.out"; then
    pass "uid $uid: mount agrees with native on $(($(wc -l <"$tmp/native-$uid.out") - 1)) observations"
  else
    mapfile -t diff_lines < <(diff -u "$tmp/native-$uid.out" "$tmp/mount-$uid.out" | tail -n +3)
    fail "uid $uid: mount agrees with native (- native, + mount)" "${diff_lines[@]}"
  fi
done

stop_server
expect_eq "server stops cleanly" 0 "$server_status"
finish

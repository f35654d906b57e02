#!/usr/bin/env bash
# Who may connect. By default only the server's own uid: root is refused by
# a server of uid 65534, and uid 65534 by a server of root (even with the
# socket opened to everyone). --allow-users admits users by name, uid and
# @group (primary or supplementary), refuses the rest, and a bad SPEC stops
# userfsd at start. A process that changes its credentials (setuid,
# seteuid, from another thread too) is served as who it has become: its
# files are owned by the new uid, exactly as natively (cred_switch.c).
# `userfs run --allow-users` passes the list on. Needs root (to be several
# users): skipped (77) otherwise.
#
# Usage: multi_user.sh [PATH-TO-cred_switch]
source "$(dirname -- "$0")/lib.sh"

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root (several users)"
  exit 77
fi
command -v setpriv >/dev/null || { echo "SKIP: no setpriv"; exit 77; }

prog=$(test_program cred_switch "${1:-}" -pthread) || exit 1
chmod 0711 "$tmp"
if ! setpriv --reuid 65534 --regid 65534 --clear-groups test -x "$prog"; then
  cp -- "$prog" "$tmp/cred_switch" && chmod 0755 "$tmp/cred_switch"
  prog=$tmp/cred_switch
fi

as() {  # UID GID CMD... (no supplementary groups)
  local uid=$1 gid=$2
  shift 2
  setpriv --reuid "$uid" --regid "$gid" --clear-groups "$@"
}

# Starts userfsd as the current user with ARGS on $sock; sets server_pid.
start_with() {  # [ARGS...]
  : >"$server_log"
  "$USERFS_TEST_USERFSD" --socket "$sock" "$@" </dev/null >>"$server_log" 2>&1 &
  server_pid=$!
  wait_for_server "$server_pid" || { fail "userfsd $* starts" "$(cat "$server_log")"; finish; }
}

# Whether uid:gid (and any setpriv group options) can stat the mount root.
served() {  # UID GID [SETPRIV-OPTIONS...]
  local uid=$1 gid=$2
  shift 2
  under_shim setpriv --reuid "$uid" --regid "$gid" "${@:---clear-groups}" stat -c %u "$mnt" >/dev/null 2>&1
}

refused_in_log() {  # UID
  grep -q "refused a client of uid $1 " "$server_log"
}

# --- default: only the server's own uid --------------------------------------
mkdir -m 0755 "$tmp/srv65534" && chown 65534:65534 "$tmp/srv65534"
sock_saved=$sock
sock=$tmp/srv65534/sock
# setpriv execs userfsd, so $! is the server itself (through a shell
# function it would be a subshell, and stopping that would orphan it).
setpriv --reuid 65534 --regid 65534 --clear-groups "$USERFS_TEST_USERFSD" --socket "$sock" \
  </dev/null >>"$server_log" 2>&1 &
server_pid=$!
# Asked by its own user: root would be refused.
cp -- "$USERFS_TEST_USERFSCTL" "$tmp/userfsctl" && chmod 0755 "$tmp/userfsctl"
for ((i = 0; i < 50; i++)); do
  as 65534 65534 "$tmp/userfsctl" --socket "$sock" ping >/dev/null 2>&1 && break
  sleep 0.1
done
check "userfsd as uid 65534 starts" as 65534 65534 "$tmp/userfsctl" --socket "$sock" ping
check "server of uid 65534 serves uid 65534" served 65534 65534
expect_eq "the tracked pid is the server of uid 65534" 65534 "$(stat -c %u "/proc/$server_pid" 2>&1)"
check_fails "server of uid 65534 refuses root" under_shim stat "$mnt"
check "... and says so in its log" refused_in_log 0
refused_out=$(under_shim stat "$mnt" 2>&1)
check "... and root's stat says why: Permission denied" grep -q "Permission denied" <<<"$refused_out"
pid_65534=$server_pid
stop_server
check_fails "the server of uid 65534 is gone" kill -0 "$pid_65534"
sock=$sock_saved

start_with
chmod 0666 "$sock"  # the socket's mode is not what keeps them out
check "server of root serves root" under_shim stat "$mnt"
check_fails "server of root refuses uid 65534 even through an open socket" served 65534 65534
check "... and says so in its log" refused_in_log 65534
stop_server

# --- --allow-users ----------------------------------------------------------
start_with --allow-users nobody,4242 --allow-users @nogroup
expect_eq "with --allow-users the socket is 0666" 666 "$(stat -c %a "$sock")"
check "--allow-users nobody: uid 65534 served" served 65534 65534
check "--allow-users 4242: uid 4242 served" served 4242 4242
check "--allow-users @nogroup: uid 1234 with primary group nogroup served" served 1234 65534
check "--allow-users @nogroup: uid 1234 with supplementary group nogroup served" \
  served 1234 1234 --groups 65534
check_fails "uid 1234 in none of them refused" served 1234 1234
check "... and says so in its log" refused_in_log 1234
check "root (the server's own uid) served" under_shim stat "$mnt"
stop_server

check_fails "--allow-users with an unknown user stops userfsd" \
  "$USERFS_TEST_USERFSD" --socket "$tmp/bad.sock" --allow-users no-such-user-here
check_fails "--allow-users with an empty entry stops userfsd" \
  "$USERFS_TEST_USERFSD" --socket "$tmp/bad.sock" --allow-users nobody,,root

# --- credentials follow setuid/seteuid ------------------------------------
start_with --allow-users 65534
for mode in setuid seteuid; do
  arg=()
  [[ $mode == seteuid ]] && arg=(e)
  mkdir -m 0755 "$tmp/native-$mode"
  "$prog" "$tmp/native-$mode" 65534 "${arg[@]}" >"$tmp/native-$mode.out" 2>&1
  under_shim sh -c 'mkdir -m 0755 "$1" && exec "$2" "$1" 65534 $3' sh "$mnt/$mode" "$prog" "${arg[*]}" \
    >"$tmp/mount-$mode.out" 2>&1
  if grep -q 'uid=65534' "$tmp/native-$mode.out" && cmp -s "$tmp/native-$mode.out" "$tmp/mount-$mode.out"; then
    pass "$mode to 65534: the mount agrees with native ($(wc -l <"$tmp/native-$mode.out") observations)"
    sed 's/^/       /' "$tmp/mount-$mode.out"
  else
    mapfile -t diff_lines < <(diff -u "$tmp/native-$mode.out" "$tmp/mount-$mode.out" | tail -n +3)
    fail "$mode to 65534: the mount agrees with native (- native, + mount)" "${diff_lines[@]}"
  fi
done
stop_server

# --- the launcher passes --allow-users on --------------------------------------
out=$(USERFS_BUILD_DIR=${USERFS_TEST_USERFSD%/server/userfsd} "$USERFS_TEST_LAUNCHER" run --socket "$tmp/launch.sock" --mount "$mnt" --allow-users nobody -- \
  sh -c "mkdir -m 1777 $mnt/pub && setpriv --reuid 65534 --regid 65534 --clear-groups \
    sh -c 'touch $mnt/pub/f && stat -c %u $mnt/pub/f'" 2>&1)
expect_eq "userfs run --allow-users nobody: uid 65534 creates a file it owns" 65534 "$out"

finish

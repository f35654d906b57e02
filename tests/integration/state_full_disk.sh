#!/usr/bin/env bash
# A full disk under the state directory: a 4 MiB tmpfs in a private mount
# namespace (root only; skipped otherwise). Writers get ENOSPC from the
# kernel; namespace changes get ENOSPC once the journal cannot reserve room,
# and leave nothing behind; removals still work, so the disk can be
# emptied; a stop and a restart on the full disk, and a kill -9 and a
# restart, find the same tree; fsck is clean.
if (($(id -u) != 0)); then
  echo "skipped: needs root (a tmpfs mounted in a private mount namespace)"
  exit 77
fi
if [[ -z ${USERFS_TEST_PRIVATE_MOUNTS:-} ]]; then
  USERFS_TEST_PRIVATE_MOUNTS=1 exec unshare -m --propagation private "$0" "$@"
  echo "skipped: unshare -m failed"
  exit 77
fi
source "$(dirname -- "$0")/lib.sh"

small=$tmp/small
mkdir "$small"
if ! mount -t tmpfs -o size=4m,mode=0700 tmpfs "$small"; then
  echo "skipped: cannot mount a tmpfs"
  exit 77
fi
# The server must be gone before the tmpfs can be unmounted, and the
# mount point before the temp dir can be removed.
trap '[[ -n $server_pid ]] && kill_pid "$server_pid"; server_pid=; umount "$small"; _cleanup' EXIT
state=$small/state

start_server --state "$state"
expect_eq "statvfs of the mount shows the state's filesystem (4 MiB)" 4194304 \
  "$(under_shim python3 -c "import os; s = os.statvfs('$mnt'); print(s.f_blocks * s.f_frsize)")"
check "a first file fits" under_shim sh -c "head -c 500000 /dev/urandom >'$mnt/first'"
out=$(under_shim python3 -c "
import errno, os
# Fill the disk through a client's own fd.
try:
    with open('$mnt/big', 'wb') as f:
        while True:
            f.write(b'x' * 65536)
            f.flush()
except OSError as e:
    print('write', errno.errorcode[e.errno])
# Then namespace changes until the journal cannot reserve room.
n = 0
try:
    for n in range(200000):
        os.mkdir('$mnt/d%d' % n)
    print('mkdir never failed')
except OSError as e:
    print('mkdir', errno.errorcode[e.errno])
    print('left behind' if os.path.lexists('$mnt/d%d' % n) else 'nothing left behind')
for what, call in [('open existing, O_CREAT', lambda: os.close(os.open('$mnt/first', os.O_CREAT | os.O_WRONLY))),
                   ('create', lambda: open('$mnt/new', 'w')),
                   ('symlink', lambda: os.symlink('x', '$mnt/sym')),
                   ('rename', lambda: os.rename('$mnt/first', '$mnt/renamed'))]:
    try:
        call()
        print(what, 'ok')
    except OSError as e:
        print(what, errno.errorcode[e.errno])
print('first still there' if os.path.exists('$mnt/first') else 'first gone')
" 2>&1)
expect_eq "writers and namespace changes get ENOSPC, and change nothing" \
  "write ENOSPC|mkdir ENOSPC|nothing left behind|open existing, O_CREAT ok|create ENOSPC|symlink ENOSPC|rename ENOSPC|first still there" \
  "$(paste -sd'|' <<<"$out")"
check "mkdir -p of directories that exist works on a full disk" under_shim mkdir -p "$mnt/d0"
out=$(under_shim mkdir "$mnt/d0" 2>&1)
check "mkdir of an existing name says EEXIST, not ENOSPC" grep -q "File exists" <<<"$out"
under_shim "$TREE_DIGEST" "$mnt" >"$tmp/full"
check "the server still answers reads" under_shim ls "$mnt/first"

echo "# stop and restart on the full disk"
stop_server
expect_eq "the server stops cleanly (its final snapshot may not fit)" 0 "$server_status"
start_server --state "$state"
under_shim "$TREE_DIGEST" "$mnt" >"$tmp/restarted"
check "a restart on the full disk finds the same tree" cmp "$tmp/full" "$tmp/restarted"
check "with no room for a snapshot, it goes on with the journal" grep -q "going on with the journal" "$server_log"
check "and still records changes there" under_shim rmdir "$mnt/d1"

echo "# removals empty the disk"
check "rm of the big file works on a full disk" under_shim rm "$mnt/big"
check "rmdir works on a full disk" under_shim rmdir "$mnt/d0"
check "with room again, mkdir works" under_shim mkdir "$mnt/after"
check "and writes" under_shim sh -c "echo fine >'$mnt/after/f'"
under_shim "$TREE_DIGEST" "$mnt" >"$tmp/emptied"
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=
start_server --state "$state"
under_shim "$TREE_DIGEST" "$mnt" >"$tmp/killed"
check "after kill -9 and a restart: the same tree" cmp "$tmp/emptied" "$tmp/killed"
stop_server
expect_eq "the server stops cleanly" 0 "$server_status"
check "fsck: clean" "$USERFS_TEST_USERFSD" --fsck "$state"
finish

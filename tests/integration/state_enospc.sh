#!/usr/bin/env bash
# The inode limit with a state directory: creations past --inodes fail with
# ENOSPC and change nothing; the state after a kill -9 and a restart is the
# same; removing frees room again.
source "$(dirname -- "$0")/lib.sh"

state=$tmp/state
start_server --state "$state" --inodes 12
out=$(under_shim python3 -c "
import errno, os
made = 0
for i in range(30):
    try:
        with open('$mnt/f%d' % i, 'w') as f:
            f.write('file %d\n' % i)
        made += 1
    except OSError as e:
        print('create', i, errno.errorcode[e.errno])
        break
print('made', made)
for what, call in [('mkdir', lambda: os.mkdir('$mnt/d')),
                   ('symlink', lambda: os.symlink('f0', '$mnt/s')),
                   ('mknod', lambda: os.mknod('$mnt/n'))]:
    try:
        call()
        print(what, 'ok')
    except OSError as e:
        print(what, errno.errorcode[e.errno])
" 2>&1)
expect_eq "creations stop with ENOSPC at the limit (the root counts)" \
  "create 11 ENOSPC|made 11|mkdir ENOSPC|symlink ENOSPC|mknod ENOSPC" "$(paste -sd'|' <<<"$out")"
under_shim "$TREE_DIGEST" "$mnt" >"$tmp/full"
check "the failed creations left no names" sh -c "! grep -Eq '^(f11|d|s|n) ' '$tmp/full'"
check "a hard link needs no inode" under_shim ln "$mnt/f0" "$mnt/f0-again"
check "and renames still work" under_shim mv "$mnt/f1" "$mnt/f1-renamed"
under_shim "$TREE_DIGEST" "$mnt" >"$tmp/before_kill"
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=
start_server --state "$state" --inodes 12
under_shim "$TREE_DIGEST" "$mnt" >"$tmp/after_kill"
check "after kill -9 and a restart: the same tree" cmp "$tmp/before_kill" "$tmp/after_kill"
check_fails "still at the limit after the restart" under_shim mkdir "$mnt/d"
check "a removal frees an inode" under_shim rm "$mnt/f2"
check "so a mkdir fits again" under_shim mkdir "$mnt/d"
stop_server
expect_eq "the server stops cleanly" 0 "$server_status"
check "fsck: clean" "$USERFS_TEST_USERFSD" --fsck "$state"
finish

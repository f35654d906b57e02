#!/usr/bin/env bash
# userfsd --state DIR: a tree built by real programs comes back identical
# (names, types, sizes, modes, targets, data, inode numbers, st_dev, times)
# after a clean stop and restart, and after a kill -9 and restart; fsck
# finds it clean; compaction under a small journal limit loses nothing.
source "$(dirname -- "$0")/lib.sh"
# The launcher must use exactly the artefacts under test.
export USERFS_BUILD_DIR=${USERFS_TEST_USERFSD%/server/userfsd}

state=$tmp/state
src=$tmp/src

# Everything stat shows that must survive, per entry, sorted. Run after
# reading the files (tree_digest), since a first read may move an atime.
meta() {
  under_shim find "$mnt" -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
    while IFS= read -r p; do under_shim stat -c '%n %d %i %h %f %u %g %s %x %y %z' -- "$mnt/$p"; done
}
snapshot_tree() {  # NAME: records the mount's digest and metadata
  under_shim "$TREE_DIGEST" "$mnt" >"$tmp/$1.digest" 2>&1
  meta >"$tmp/$1.meta" 2>&1
}
same_tree() {  # CHECK-NAME BEFORE AFTER
  if cmp -s "$tmp/$2.digest" "$tmp/$3.digest" && cmp -s "$tmp/$2.meta" "$tmp/$3.meta"; then
    pass "$1"
  else
    fail "$1" "$(diff "$tmp/$2.digest" "$tmp/$3.digest" | head -10)" "$(diff "$tmp/$2.meta" "$tmp/$3.meta" | head -10)"
  fi
}
fsck_clean() {  # CHECK-NAME
  local out rc=0
  out=$("$USERFS_TEST_USERFSD" --fsck "$state" 2>&1) || rc=$?
  if ((rc == 0)) && grep -q '^result: clean' <<<"$out"; then
    pass "$1"
  else
    fail "$1" "exit $rc" "$out"
  fi
}

echo "# a source tree, natively"
mkdir -p "$src/sub/deeper" "$src/empty"
head -c 100000 /dev/urandom >"$src/random.bin"
seq 1 5000 >"$src/sub/numbers.txt"
printf 'x' >"$src/sub/deeper/one"
: >"$src/zero"
ln -s sub/numbers.txt "$src/link"
ln -s /nowhere/at/all "$src/dangling"
chmod 0750 "$src/sub"
chmod 0600 "$src/zero"

echo "# real programs build a tree in the mount"
start_server --state "$state"
check "state dir is private (0700)" test "$(stat -c %a "$state")" = 700
check "cp -a copies the tree in" under_shim cp -a "$src" "$mnt/cp"
under_shim "$TREE_DIGEST" "$mnt/cp" >"$tmp/cp.digest"
"$TREE_DIGEST" "$src" >"$tmp/src.digest"
check "cp -a copy has the source's digest" cmp "$tmp/src.digest" "$tmp/cp.digest"
check "tar copies the tree in" under_shim sh -c "tar -C '$src' -cf - . | tar -C '$mnt' -xf - --one-top-level=tar"
check "mkdir -p" under_shim mkdir -p "$mnt/deep/a/b/c/d"
check "ln (hard)" under_shim ln "$mnt/cp/random.bin" "$mnt/deep/hard"
check "ln -s" under_shim ln -s ../cp/sub "$mnt/deep/a/sym"
check "chmod" under_shim chmod 4711 "$mnt/cp/sub/deeper/one"
check "mv a file" under_shim mv "$mnt/tar/sub/numbers.txt" "$mnt/deep/a/b/moved.txt"
check "mv a directory" under_shim mv "$mnt/tar/empty" "$mnt/deep/a/b/c/emptied"
check "rm" under_shim rm "$mnt/tar/zero"
check "touch -d sets times" under_shim touch -d '2001-02-03 04:05:06.123456789' "$mnt/deep/a/b/moved.txt" "$mnt/deep/a"
check "python3 writes a file and an xattr" under_shim python3 -c "
import os
with open('$mnt/py.txt', 'w') as f:
    f.write('written by python\n' * 100)
os.setxattr('$mnt/py.txt', 'user.origin', b'python')
"
if command -v sqlite3 >/dev/null; then
  check "sqlite3 builds a database" under_shim sqlite3 "$mnt/db.sqlite" \
    "create table t(a, b); insert into t values (1, 'one'), (2, 'two'); create index i on t(b);"
fi
snapshot_tree built
status=$("$USERFS_TEST_USERFSCTL" --socket "$sock" status 2>&1)
check "status names the state directory" grep -qx "state: $state" <<<"$status"
check "status shows the journal" grep -q '^journal: [1-9][0-9]* bytes, [1-9][0-9]* records since the snapshot' <<<"$status"
check "status shows the last snapshot" grep -q '^snapshot: 20' <<<"$status"

echo "# a clean stop and a restart"
stop_server
expect_eq "server exits 0 on SIGTERM" 0 "$server_status"
fsck_clean "fsck: clean after a stop"
check "userfs fsck: clean after a stop" "$USERFS_TEST_LAUNCHER" fsck "$state"
start_server --state "$state"
snapshot_tree restarted
same_tree "restart brings back the same tree, inode numbers, st_dev and times" built restarted
expect_eq "sqlite3 reads its database back" "1|one,2|two" \
  "$(under_shim sqlite3 "$mnt/db.sqlite" 'select * from t order by a' | paste -sd,)"
expect_eq "python3 reads its xattr back" "b'python'" \
  "$(under_shim python3 -c "import os; print(os.getxattr('$mnt/py.txt', 'user.origin'))")"

echo "# changes, then kill -9 and a restart"
check "append" under_shim sh -c "echo more >>'$mnt/py.txt'"
check "rename over" under_shim mv -f "$mnt/cp/zero" "$mnt/cp/random.bin"
check "rmdir" under_shim rmdir "$mnt/deep/a/b/c/d"
check "sqlite3 update" under_shim sqlite3 "$mnt/db.sqlite" "update t set b = 'uno' where a = 1;"
check "chown to ourselves" under_shim chown "$(id -u):$(id -g)" "$mnt/deep/hard"
snapshot_tree changed
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=
fsck_clean "fsck: clean after a kill -9 (every reply's record was written)"
start_server --state "$state"
snapshot_tree killed
same_tree "after kill -9: the same tree, inode numbers, st_dev and times" changed killed
expect_eq "sqlite3's update survived" "1|uno,2|two" \
  "$(under_shim sqlite3 "$mnt/db.sqlite" 'select * from t order by a' | paste -sd,)"

echo "# many changes under a small journal limit (compactions), then kill -9"
stop_server
start_server --state "$state" --journal-max 16K
check "600 files and directories" under_shim python3 -c "
import os
for i in range(200):
    os.mkdir('$mnt/many%d' % i)
    with open('$mnt/many%d/f' % i, 'w') as f: f.write(str(i))
    os.rename('$mnt/many%d/f' % i, '$mnt/many%d/g' % i)
for i in range(0, 200, 3):
    os.unlink('$mnt/many%d/g' % i)
"
journal_size=$(stat -c %s "$state/journal")
if ((journal_size < 2 * 1024 * 1024)); then
  pass "the journal was compacted (it is $journal_size bytes)"
else
  fail "the journal was compacted" "it is $journal_size bytes"
fi
snapshot_tree many
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=
start_server --state "$state"
snapshot_tree many_killed
same_tree "after compactions and kill -9: the same tree" many many_killed
stop_server
fsck_clean "fsck: clean at the end"

echo "# data files behave as the in-memory data does: exec, inherited fds"
start_server --state "$state"
check "a program copied into the mount runs" sh -c \
  "LD_PRELOAD='$USERFS_TEST_LIB' USERFS_SOCKET='$sock' USERFS_MOUNTS='$mnt' sh -c 'cp /bin/echo $mnt/echo && $mnt/echo ran' | grep -qx ran"
expect_eq "a child's fstat of an inherited fd is the file's stat" \
  "$(under_shim stat -c '%d %i %a' "$mnt/py.txt")" \
  "$(under_shim sh -c "python3 -c 'import os; s = os.fstat(3); print(s.st_dev, s.st_ino, oct(s.st_mode & 0o7777)[2:])' 3<'$mnt/py.txt'")"
stop_server

echo "# the launcher: start --state, run, stop, run --state"
lsock=$tmp/launcher.sock
lstate=$tmp/launcher-state
check "userfs start --state" "$USERFS_TEST_LAUNCHER" start --socket "$lsock" --state "$lstate"
lpid=$("$USERFS_TEST_USERFSCTL" --socket "$lsock" pid 2>/dev/null) && track "$lpid"
check "userfs run writes a file" "$USERFS_TEST_LAUNCHER" run --socket "$lsock" --mount "$mnt" -- \
  sh -c "echo kept >'$mnt/f'"
check "userfs status shows the state directory" sh -c \
  "'$USERFS_TEST_LAUNCHER' status --socket '$lsock' | grep -qx 'state: $lstate'"
check_fails "userfs run --state with another state's server running: refused" \
  "$USERFS_TEST_LAUNCHER" run --socket "$lsock" --state "$tmp/other-state" --mount "$mnt" -- true
check_fails "userfs start --state with another state's server running: refused" \
  "$USERFS_TEST_LAUNCHER" start --socket "$lsock" --state "$tmp/other-state"
check "userfs start --state with that state's server running: fine" \
  "$USERFS_TEST_LAUNCHER" start --socket "$lsock" --state "$lstate"
check "userfs stop" "$USERFS_TEST_LAUNCHER" stop --socket "$lsock"
expect_eq "userfs run --state starts a server on the state and finds the file" kept \
  "$("$USERFS_TEST_LAUNCHER" run --socket "$lsock" --state "$lstate" --mount "$mnt" -- cat "$mnt/f" 2>&1)"
check "userfs fsck on it: clean" "$USERFS_TEST_LAUNCHER" fsck "$lstate"

echo "# a state directory that is not ours is refused"
if (($(id -u) == 0)) && id nobody >/dev/null 2>&1; then
  mkdir "$tmp/theirs"
  chown nobody "$tmp/theirs"
  out=$(timeout 10 "$USERFS_TEST_USERFSD" --socket "$tmp/sock2" --state "$tmp/theirs" 2>&1 </dev/null)
  rc=$?
  expect_eq "userfsd exits 1" 1 "$rc"
  check "and says whose it is" grep -q "owned by uid" <<<"$out"
else
  echo "  (skipped: needs root and a 'nobody' user)"
fi
finish

#!/usr/bin/env bash
# A tar: mount seen by real programs, against `tar xf` of the same archive:
# the listing (find), every file's sha256, a `tar cf` of the mount, and the
# changes a read-only mount refuses (compared with a read-only bind mount of
# the extracted copy when we may make one; EROFS otherwise).
source "$(dirname -- "$0")/lib.sh"

src=$tmp/src
native=$tmp/native
archive=$tmp/tree.tar.gz

echo "# a source tree and its archive, extracted natively"
mkdir -p "$src/docs/deep/deeper" "$src/bin" "$src/empty" "$src/ünï code"
head -c 300000 /dev/urandom >"$src/bin/random.bin"
seq 1 20000 >"$src/docs/numbers.txt"
printf 'x' >"$src/docs/deep/deeper/one"
printf '#!/bin/sh\necho from the archive\n' >"$src/bin/hello.sh"
printf 'utf-8\n' >"$src/ünï code/名前.txt"
: >"$src/docs/zero"
ln -s ../docs/numbers.txt "$src/bin/numbers"
ln -s /nowhere/at/all "$src/dangling"
ln "$src/docs/numbers.txt" "$src/docs/deep/same-numbers"
chmod 0755 "$src/bin/hello.sh"
chmod 0600 "$src/docs/zero"
chmod 0750 "$src/docs/deep"
chmod 1777 "$src/empty"
touch -d @1234567890 "$src/docs/numbers.txt"
tar czf "$archive" -C "$src" .
mkdir "$native"
tar xzf "$archive" -C "$native"

start_server --mount "$mnt=tar:$archive"

# run_in DIR CMD: CMD (a shell snippet) in DIR, under the shim when DIR is
# in the mount; OUT gets stdout, stderr and the status.
run_in() {  # DIR OUT SNIPPET
  local dir=$1 out=$2 snippet=$3 rc
  if [[ $dir == "$mnt"* ]]; then
    (cd / && D=$dir under_shim sh -c "$snippet" >"$out.out" 2>"$out.err" </dev/null)
  else
    (cd / && D=$dir sh -c "$snippet" >"$out.out" 2>"$out.err" </dev/null)
  fi
  rc=$?
  _normalise "$dir" "$out.out"
  _normalise "$dir" "$out.err"
  return $rc
}
# same_as_native NAME SNIPPET: the snippet's output on the mount and on
# the extracted copy are the same.
same_as_native() {  # NAME SNIPPET
  local rc_nat rc_mnt
  run_in "$native" "$tmp/nat" "$2"
  rc_nat=$?
  run_in "$mnt" "$tmp/mnt" "$2"
  rc_mnt=$?
  compare_runs "$1" "$rc_nat" "$rc_mnt" "$tmp/nat" "$tmp/mnt" userfs "snippet: $2"
}

echo "# the tree, as find and stat see it"
# Directory sizes belong to the filesystem: left out.
same_as_native "find: names, types, modes, links, owners, sizes, mtimes, targets" \
  'cd "$D" && find . -mindepth 1 \( -type d -printf "%p d %m %n %U %G - %T@\n" \) -o -printf "%p %y %m %n %U %G %s %T@ %l\n" | LC_ALL=C sort'
same_as_native "stat of every entry" \
  'cd "$D" && find . -mindepth 1 -print0 | LC_ALL=C sort -z | xargs -0 stat -c "%n %F %a %h %u %g %Y"'
same_as_native "ls -lR names, modes, links and owners" \
  'cd "$D" && ls -lRn --time-style=+%s . | awk "/^total/ { next } /^d/ { \$5 = \"-\" } { \$1 = \$1; print }"'
same_as_native "sha256sum of every file" \
  'cd "$D" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum'
same_as_native "cat through a symlink and a hard link" \
  'cat "$D/bin/numbers" | wc -l && cmp "$D/docs/numbers.txt" "$D/docs/deep/same-numbers" && echo same'
same_as_native "a script from the archive runs" 'sh "$D/bin/hello.sh" && "$D/bin/hello.sh"'
same_as_native "readdir of a missing and of a file" 'ls "$D/missing" "$D/docs/zero/x"; echo status $?'
expect_eq "statfs: files are the members" "$(tar tzf "$archive" | grep -cv '^\./$')" \
  "$(under_shim stat -f -c %c "$mnt" 2>&1)"
expect_eq "statfs: no free space" "0 0" "$(under_shim stat -f -c '%f %a' "$mnt" 2>&1)"

echo "# tar cf of the mount round-trips"
# The listing of an archive made from the mount and one made from the
# extracted copy, without the root entry (the mount's root is the
# archive file's directory, not the archive's "./").
tar_listing='cd "$D" && tar cf - --sort=name --numeric-owner . | tar tvf - --full-time --numeric-owner | grep -v " \./$"'
same_as_native "tar cf - -C MOUNT . lists as the extracted copy's" "$tar_listing"
mkdir "$tmp/roundtrip"
check "tar cf | tar xf copies the mount out" \
  under_shim sh -c "tar cf - -C '$mnt' . | tar xf - -C '$tmp/roundtrip'"
"$TREE_DIGEST" "$native" >"$tmp/native.digest"
"$TREE_DIGEST" "$tmp/roundtrip" >"$tmp/roundtrip.digest"
check "the copy has the extracted tree's digest" cmp "$tmp/native.digest" "$tmp/roundtrip.digest"

echo "# changes are refused as on a read-only mount"
writes='
for step in "touch \"\$D/docs/zero\"" "touch \"\$D/new\"" "mkdir \"\$D/newdir\"" "mkdir \"\$D/docs\"" \
            "rm \"\$D/docs/zero\"" "rm -r \"\$D/docs/deep\"" "rmdir \"\$D/empty\"" "rm \"\$D/missing\"" \
            "mv \"\$D/docs/zero\" \"\$D/docs/zero2\"" "chmod 600 \"\$D/docs/numbers.txt\"" \
            "chown 1:1 \"\$D/docs/numbers.txt\"" "ln \"\$D/docs/zero\" \"\$D/hard\"" "ln -s x \"\$D/sym\"" \
            "echo data > \"\$D/docs/zero\"" "echo data >> \"\$D/docs/numbers.txt\"" "echo data > \"\$D/newfile\"" \
            "truncate -s 0 \"\$D/docs/numbers.txt\""; do
  printf "%s: " "$step"; (eval "$step") 2>&1; echo "status $?"
done
'
ro=$tmp/ro
mkdir "$ro"
# Root in a container may be refused mount namespaces or bind mounts.
if unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1"' sh "$ro" 2>/dev/null; then
  # A read-only bind of the extracted copy in a mount namespace of its own,
  # gone when the shell ends.
  (cd / && unshare -m sh -c 'mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" && D=$2 sh -c "$3"' \
    sh "$native" "$ro" "$writes" >"$tmp/ro.out" 2>"$tmp/ro.err" </dev/null)
  rc_ro=$?
  _normalise "$ro" "$tmp/ro.out"
  _normalise "$ro" "$tmp/ro.err"
  run_in "$mnt" "$tmp/mntw" "$writes"
  compare_runs "each change fails as on a read-only bind mount" "$rc_ro" $? "$tmp/ro" "$tmp/mntw" userfs
else
  run_in "$mnt" "$tmp/mntw" "$writes"
  # Every step fails (a success prints "STEP: status 0" on one line).
  if ! grep -v 'Read-only file system\|No such file\|File exists\|^status [1-9][0-9]*$' "$tmp/mntw.out" | grep -q .; then
    pass "each change fails with EROFS"
  else
    fail "each change fails with EROFS" "$(cat "$tmp/mntw.out")"
  fi
fi
same_as_native "the tree is unchanged after the refused changes" \
  'cd "$D" && find . \( -type d -printf "%p d %m -\n" \) -o -printf "%p %y %m %s\n" | LC_ALL=C sort &&
   find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum'

echo "# an fd opened for reading cannot write"
same_as_native "O_RDONLY fd refuses write" \
  'python3 -c "import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    os.write(fd, b\"x\")
except OSError as e:
    print(\"write:\", e.strerror)
print(os.read(fd, 5))" "$D/docs/numbers.txt"'

echo "# a missing or non-archive file stops the server at start"
printf 'not an archive\n' >"$tmp/text"
for bad in "$tmp/missing.tar" "$tmp/text"; do
  "$USERFS_TEST_USERFSD" --socket "$tmp/bad.sock" --mount "$mnt=tar:$bad" </dev/null >"$tmp/bad.log" 2>&1 &
  bad_pid=$!
  track "$bad_pid"
  for ((i = 0; i < 50; i++)); do _alive "$bad_pid" || break; sleep 0.1; done
  if _alive "$bad_pid"; then
    fail "userfsd refuses tar:$bad" "still running"
  else
    wait "$bad_pid"
    bad_rc=$?
    if ((bad_rc != 0)) && grep -q "$bad" "$tmp/bad.log"; then
      pass "userfsd refuses tar:${bad##*/} (status $bad_rc): $(head -1 "$tmp/bad.log")"
    else
      fail "userfsd refuses tar:$bad" "status $bad_rc" "$(cat "$tmp/bad.log")"
    fi
  fi
done

finish

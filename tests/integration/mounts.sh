#!/usr/bin/env bash
# Several mounts on one server, each its own filesystem: two in-memory ones
# and a host directory. Each keeps its own files and st_dev; rename and link
# between them are EXDEV (so mv copies, as between two filesystems); paths,
# fds, the cwd, ".." above a mount root and symlinks from one mount into
# another all reach the right one. Then the launcher's --mount PATH=SPEC and
# --backend, and the server refusing bad mount specs with a clear message.
source "$(dirname -- "$0")/lib.sh"

host=$tmp/host
mkdir -p -- "$host"
a=$mnt b=$mnt-b d=$mnt-d
start_server --mount "$a=mem" --mount "$b" --mount "$d=dir:$host"
shim() { LD_PRELOAD=$USERFS_TEST_LIB USERFS_SOCKET=$sock USERFS_MOUNTS="$a,$b,$d" "$@"; }

# --- separate filesystems ----------------------------------------------------
shim sh -c "echo one > $a/f && mkdir $b/sub && echo two > $b/sub/g && echo three > $d/h"
expect_eq "a file made in one mount is not in the others" "one|missing|missing" \
  "$(shim sh -c "cat $a/f; ls $b/f 2>/dev/null || echo missing; ls $d/f 2>/dev/null || echo missing" | paste -sd '|')"
expect_eq "the dir: mount writes into its host directory" "three" "$(cat "$host/h")"
expect_eq "each mount lists only its own entries" "f|sub|h" \
  "$(shim sh -c "ls $a; ls $b; ls $d" | paste -sd '|')"
devs=$(shim stat -c %d "$a" "$b" "$d" | sort -u | wc -l)
expect_eq "each mount has its own st_dev" 3 "$devs"
fsids=$(shim stat -f -c %i "$a/f" "$b/sub/g" | sort -u | wc -l)
expect_eq "statfs answers for the mount holding the path" 2 "$fsids"
inos=$(shim stat -c '%d:%i' "$a" "$b" "$d/h" "$b/sub" | sort -u | wc -l)
expect_eq "(st_dev, st_ino) pairs are distinct across mounts" 4 "$inos"

# --- between mounts -------------------------------------------------------------
out=$(shim python3 -c '
import errno, os, sys
a, b = sys.argv[1], sys.argv[2]
for fn in (os.rename, os.link):
    try:
        fn(a + "/f", b + "/f")
        print(fn.__name__, "succeeded")
    except OSError as e:
        print(fn.__name__, errno.errorcode[e.errno])
d = os.open(a, os.O_RDONLY | os.O_DIRECTORY)
try:
    os.rename("f", b + "/f2", src_dir_fd=d)
except OSError as e:
    print("renameat", errno.errorcode[e.errno])
' "$a" "$b" 2>&1)
expect_eq "rename and link between mounts: EXDEV" "rename EXDEV|link EXDEV|renameat EXDEV" "$(paste -sd '|' <<<"$out")"
shim mv "$a/f" "$b/moved"
expect_eq "mv between mounts copies and removes" "one|gone" \
  "$(shim sh -c "cat $b/moved; ls $a/f 2>/dev/null || echo gone" | paste -sd '|')"
shim cp -r "$b/sub" "$d/copied"
expect_eq "cp -r from a mem mount into a dir: mount lands on the host" "two" "$(cat "$host/copied/g")"

# --- fds, the cwd, "..", symlinks --------------------------------------------
out=$(shim python3 -c '
import os, sys
b = sys.argv[1]
d = os.open(b + "/sub", os.O_RDONLY | os.O_DIRECTORY)
fd = os.open("g", os.O_RDONLY, dir_fd=d)
print(os.fstat(fd).st_dev == os.stat(b + "/sub/g").st_dev, os.read(fd, 10).decode().strip())
os.chdir(b + "/sub")
with open("rel", "w") as f:
    f.write("relative\n")
print(open(b + "/sub/rel").read().strip(), os.getcwd() == b + "/sub")
os.chdir("../..")
print(os.getcwd())
' "$b" 2>&1)
expect_eq "dirfds, relative paths and the cwd in a second mount" "True two|relative True|/" "$(paste -sd '|' <<<"$out")"
shim ln -s "$b/sub/g" "$a/to-b"
expect_eq "a symlink from one mount into another is followed there" "two" "$(shim cat "$a/to-b")"
expect_eq "'..' above a mount root leads to the host" "$(stat -c %i /tmp)" "$(shim sh -c "cd $d && stat -c %i ../tmp")"

# --- prefixes the server was not told about ----------------------------------
expect_eq "a prefix the server does not serve reaches its first mount" "to-b" \
  "$(LD_PRELOAD=$USERFS_TEST_LIB USERFS_SOCKET=$sock USERFS_MOUNTS="$mnt-other,$b" ls "$mnt-other" 2>&1 | paste -sd ' ')"
stop_server

# --- the launcher --------------------------------------------------------------
# It takes its binaries from the build dir the tests run from.
export USERFS_BUILD_DIR=${USERFS_TEST_USERFSD%/server/userfsd}
lsock=$tmp/launcher.sock
host2=$tmp/host2
mkdir -p -- "$host2"
out=$("$USERFS_TEST_LAUNCHER" run --socket "$lsock" --mount "$a" --mount "$d=dir:$host2" -- \
  sh -c "echo via-launcher > $d/x && echo mem > $a/y && ls $a && printf '%s\n' \"\$USERFS_MOUNTS\"" 2>&1)
expect_eq "launcher: --mount PATH=SPEC serves the host directory" "via-launcher" "$(cat "$host2/x" 2>&1)"
expect_eq "launcher: USERFS_MOUNTS names the prefixes alone" "y|$a,$d" "$(paste -sd '|' <<<"$out")"
out=$(cd "$tmp" && "$USERFS_TEST_LAUNCHER" run --socket "$lsock" --mount "$a" --backend "dir:host2" -- ls "$a" 2>&1)
expect_eq "launcher: --backend (a relative path) sets the first mount's filesystem" "x" "$out"
check_fails "launcher: an unknown backend is refused" "$USERFS_TEST_LAUNCHER" run --socket "$lsock" --backend nope:/x -- true

# --- bad specs -------------------------------------------------------------------
refused() {  # NAME EXPECTED-MESSAGE-PART ARGS...
  local name=$1 want=$2 out rc=0
  shift 2
  out=$("$USERFS_TEST_USERFSD" --socket "$tmp/bad.sock" "$@" 2>&1 </dev/null) || rc=$?
  if ((rc != 0)) && [[ $out == *"$want"* ]] && [[ ! -e $tmp/bad.sock ]]; then
    pass "$name"
  else
    fail "$name" "status $rc, output: $out"
  fi
}
refused "a relative prefix is refused" "absolute" --mount rel=mem
refused "an unknown backend is refused" "unknown backend" --mount /x=nope:/y
refused "a prefix mounted twice is refused" "mounted twice" --mount /x --mount /x=mem
refused "dir: without an absolute path is refused" "absolute path" --mount /x=dir:
refused "dir: of a missing directory is refused" "$tmp/missing" --mount "/x=dir:$tmp/missing"
refused "tar: of a missing archive is refused" "$tmp/missing.tar" --mount "/x=tar:$tmp/missing.tar"
refused "so: of a missing library is refused" "$tmp/missing.so" --mount "/x=so:$tmp/missing.so"
refused "--state with a first mount that is not mem is refused" "--state" --mount "/x=dir:$host" --state "$tmp/state"
finish

#!/usr/bin/env bash
# Files whose data the server serves itself: a backend that answers open()
# with a handle, not a kernel fd (the test plugin handle_backend.cpp,
# mounted with "so:"). The client's fd is then a placeholder and read,
# write, lseek and friends go over the connection. Real programs (cat, dd,
# head, tail, sed, sort, cp, python3, sh and bash redirections) must see
# what they see on a native file; the offset is shared across fork and
# exec; mmap and exec fail as on a file without a kernel file behind it;
# the backend hears release() once every process has closed the file.
#
# Usage: rpc_data.sh PATH-TO-libhandle_backend.so
source "$(dirname -- "$0")/lib.sh"

plugin=${1:-$_builddir/tests/libhandle_backend.so}
[[ -f $plugin ]] || { echo "FAIL: no $plugin (build first)" >&2; exit 1; }
releases=$tmp/releases
: >"$releases"
start_server --mount "$mnt=so:$plugin:$releases"

# The plugin's own files, against the same bytes made natively.
printf 'hello, world\n' >"$tmp/hello.txt"
seq 1 20000 >"$tmp/numbers"
expect_eq "cat of a handle file" "hello, world" "$(under_shim cat "$mnt/hello.txt")"
expect_eq "cat of a file larger than one message" "$(sha256sum <"$tmp/numbers")" \
  "$(under_shim cat "$mnt/dir/numbers" | sha256sum)"
for bs in 1 4096 65536 100000 1M; do
  expect_eq "dd bs=$bs reads it whole" "$(sha256sum <"$tmp/numbers")" \
    "$(under_shim dd if="$mnt/dir/numbers" bs=$bs status=none | sha256sum)"
done
expect_eq "dd skip= seeks (lseek) and count= stops" \
  "$(dd if="$tmp/numbers" bs=4096 skip=3 count=5 status=none | sha256sum)" \
  "$(under_shim dd if="$mnt/dir/numbers" bs=4096 skip=3 count=5 status=none | sha256sum)"
expect_eq "head" "$(head -n 7 "$tmp/numbers")" "$(under_shim head -n 7 "$mnt/dir/numbers")"
expect_eq "head -c past one message" "$(head -c 70000 "$tmp/numbers" | sha256sum)" \
  "$(under_shim head -c 70000 "$mnt/dir/numbers" | sha256sum)"
expect_eq "tail (from the end)" "$(tail -n 4 "$tmp/numbers")" "$(under_shim tail -n 4 "$mnt/dir/numbers")"
expect_eq "tail -c" "$(tail -c 9 "$tmp/numbers")" "$(under_shim tail -c 9 "$mnt/dir/numbers")"
expect_eq "sed (stdio: fopen)" "$(sed -n '1000,1003p' "$tmp/numbers")" \
  "$(under_shim sed -n '1000,1003p' "$mnt/dir/numbers")"
expect_eq "sort (stdio)" "$(sort "$tmp/numbers" | sha256sum)" "$(under_shim sort "$mnt/dir/numbers" | sha256sum)"
expect_eq "sort from stdin (stdio's internal read)" "$(sort <"$tmp/numbers" | sha256sum)" \
  "$(under_shim sh -c 'sort <"$1"' _ "$mnt/dir/numbers" | sha256sum)"
expect_eq "sed and cut from stdin" "$(sed -n '5,7p' <"$tmp/numbers"; cut -c1-2 <"$tmp/numbers" | tail -n 2)" \
  "$(under_shim sh -c 'sed -n "5,7p" <"$1"; cut -c1-2 <"$1" | tail -n 2' _ "$mnt/dir/numbers")"
expect_eq "stat size" "$(stat -c %s "$tmp/numbers")" "$(under_shim stat -c %s "$mnt/dir/numbers")"

# Files made in the mount are handle files too: each snippet runs once in
# a mount directory and once in a native one, and must do the same.
compare_with_native "sh redirections > and >>" '
  echo first >"$D/f"; echo second >>"$D/f"; printf third >>"$D/f"; cat "$D/f"; wc -c <"$D/f"
  echo again >"$D/f"; cat "$D/f"'
compare_with_native "bash redirections (its echo writes through stdio)" '
  bash -c '\''echo first >"$D/f"; echo second >>"$D/f"; printf "%s\n" third >>"$D/f"; cat "$D/f"
    echo over >"$D/f"; cat "$D/f"; ls / >"$D/l"; wc -l <"$D/l" | tr -d " "'\'
compare_with_native "dd writes with several block sizes (> 64 KiB included), reads back" '
  for bs in 1 512 65536 200000; do
    head -c 300000 /dev/zero | tr "\0" x | dd of="$D/w$bs" bs=$bs status=none
    sha256sum <"$D/w$bs"; dd if="$D/w$bs" bs=$bs status=none | wc -c
  done
  dd if="$D/w512" of="$D/w512" bs=10 seek=3 count=1 conv=notrunc status=none; head -c 40 "$D/w512"; echo'
compare_with_native "python3 open/read/seek/write/readline/truncate/tell" '
  python3 - "$D/p" <<"EOF"
import os, sys
p = sys.argv[1]
with open(p, "w") as f:
    f.write("alpha\nbeta\ngamma\n" * 5000)
    print(f.tell())
with open(p, "r+") as f:
    print(repr(f.readline()), repr(f.readline()))
    f.seek(6); print(repr(f.read(4)))
    f.seek(0, 2); print(f.tell())
    f.write("tail\n")
    f.seek(3); f.write("XY")
    f.truncate(20); f.seek(0); print(repr(f.read()))
with open(p, "rb") as f:
    print(len(f.read()), os.fstat(f.fileno()).st_size)
fd = os.open(p, os.O_RDWR)
print(os.pwrite(fd, b"Q", 1), os.pread(fd, 5, 0), os.lseek(fd, 0, os.SEEK_CUR))
print(os.lseek(fd, -2, os.SEEK_END), os.read(fd, 10))
os.close(fd)
fd = os.open(p, os.O_WRONLY | os.O_APPEND)
os.write(fd, b"end"); os.lseek(fd, 0, os.SEEK_SET); os.write(fd, b"!")
os.close(fd)
print(open(p, "rb").read())
try:
    os.read(os.open(p, os.O_WRONLY), 1)
except OSError as e:
    print("read of a write-only fd:", e.errno)
EOF'
compare_with_native "a forked child shares the offset" '
  seq 1 100 >"$D/s"
  python3 - "$D/s" <<"EOF"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
pid = os.fork()
if pid == 0:
    os.read(fd, 6)
    os._exit(0)
os.waitpid(pid, 0)
print(os.read(fd, 6), os.lseek(fd, 0, os.SEEK_CUR))
EOF'
compare_with_native "an fd inherited across exec (exec 3<) reads on, offset shared" '
  seq 1 100 >"$D/e"
  exec 3<"$D/e"
  python3 -c "import os; print(os.read(3, 4))"
  head -c 6 <&3; echo; cat <&3 | wc -l
  exec 3<&-'
compare_with_native "cp in and out (copy_file_range falls back)" '
  seq 1 50000 >"$D/src"; cp "$D/src" "$D/copy"; cmp "$D/src" "$D/copy" && echo same; sha256sum <"$D/copy"'
cp "$tmp/numbers" "$tmp/in"
check "cp of a host file into the mount, then back out" \
  under_shim sh -c 'cp "$1" "$2/cp-in" && cp "$2/cp-in" "$3" && cmp "$1" "$3"' _ "$tmp/in" "$mnt" "$tmp/out"
check "python3 shutil.copyfile (sendfile falls back)" under_shim python3 -c '
import shutil, sys, filecmp
shutil.copyfile(sys.argv[1], sys.argv[2] + "/sh-copy"); shutil.copyfile(sys.argv[2] + "/sh-copy", sys.argv[3])
sys.exit(0 if filecmp.cmp(sys.argv[1], sys.argv[3], shallow=False) else 1)' "$tmp/in" "$mnt" "$tmp/out2"

# No kernel file behind it: mmap says ENODEV, exec says EACCES.
expect_eq "mmap of a handle file fails with ENODEV" "19" "$(under_shim python3 -c '
import mmap, sys
f = open(sys.argv[1], "rb")
try:
    mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    print("mapped")
except OSError as e:
    print(e.errno)' "$mnt/hello.txt" 2>&1)"
under_shim sh -c 'cp /bin/true "$1/true" && chmod +x "$1/true"' _ "$mnt"
out=$(under_shim sh -c '"$1/true"; echo "status $?"' _ "$mnt" 2>&1)
check "exec of a handle file fails (EACCES: status 126)" grep -q "status 126" <<<"$out"

# release(): only once the last process holding the file has closed it.
releases_now() { wc -l <"$releases"; }
wait_releases() {  # COUNT: up to 5 s for the log to reach COUNT lines
  local i
  for ((i = 0; i < 50; i++)); do
    (($(releases_now) >= $1)) && return 0
    sleep 0.1
  done
  return 1
}
before=$(releases_now)
under_shim cat "$mnt/hello.txt" >/dev/null
check "a closed file is released" wait_releases $((before + 1))
before=$(releases_now)
under_shim bash -c 'exec 3<"$1"; sleep 30 <&3 >/dev/null 2>&1 & echo $! >"$2"; exec 3<&-' _ "$mnt/hello.txt" \
  "$tmp/holder.pid"
holder=$(cat "$tmp/holder.pid")
track "$holder"
sleep 0.5
expect_eq "not released while a child still holds it" "$before" "$(releases_now)"
kill_pid "$holder"
check "released once the child let go too" wait_releases $((before + 1))
sleep 0.2
expect_eq "released once, not per process" "$((before + 1))" "$(releases_now)"

# Pass-through data calls are untouched: host files under the shim.
expect_eq "host files through the same interposers" "$(dd if="$tmp/numbers" bs=1000 skip=2 count=3 status=none |
  sha256sum)" "$(under_shim dd if="$tmp/numbers" bs=1000 skip=2 count=3 status=none | sha256sum)"

finish

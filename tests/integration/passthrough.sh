#!/usr/bin/env bash
# Pass-through is sacred: outside the mount, every call gives the same result
# and the same errno with and without the library -- including paths that
# merely look like the mount (/userfs-test-NNNx, /userfs-test-NNN-other).
source "$(dirname -- "$0")/lib.sh"
start_server

# same_with_and_without NAME CMD...: stdout, stderr and status must match.
same_with_and_without() {
  local name=$1 rc_nat rc_shim
  shift
  rm -rf -- "$tmp/tree"
  "$@" >"$tmp/nat.out" 2>"$tmp/nat.err"
  rc_nat=$?
  rm -rf -- "$tmp/tree"
  under_shim "$@" >"$tmp/shim.out" 2>"$tmp/shim.err"
  rc_shim=$?
  compare_runs "$name" "$rc_nat" "$rc_shim" "$tmp/nat" "$tmp/shim" shim
}

probe=$tmp/probe.py
cat >"$probe" <<'PY'
# Builds a fresh tree, runs many calls on it, prints each result or errno.
import errno, os, sys

tree, lookalikes = sys.argv[1], sys.argv[2:]

def show(label, fn, *args, **kw):
    try:
        r = fn(*args, **kw)
    except OSError as e:
        print(f"{label}: {errno.errorcode.get(e.errno, e.errno)}")
        return None
    if isinstance(r, os.stat_result):
        desc = f"mode={oct(r.st_mode)} size={r.st_size} nlink={r.st_nlink}"
    elif isinstance(r, list):
        desc = " ".join(sorted(r))
    elif isinstance(r, int) and fn in (os.open, os.dup):
        desc = "fd"
        os.close(r)
    else:
        desc = repr(r)
    print(f"{label}: ok {desc}")
    return r

os.makedirs(tree)
os.chdir(tree)
with open("file", "w") as f:
    f.write("content\n")
os.mkdir("dir")
os.mkdir("full")
open("full/x", "w").close()
os.symlink("file", "link")
os.symlink("loop", "loop")
with open("noexec", "w") as f:
    f.write("#!/bin/sh\necho ran\n")
os.chmod("noexec", 0o644)
open("secret", "w").close()
os.chmod("secret", 0o000)

for p in ["file", "dir", "missing", "file/child", "link", "loop", "x" * 300,
          tree + "/file", tree + "/missing", tree + "/dir/"]:
    show(f"stat {p[:40]}", os.stat, p)
    show(f"lstat {p[:40]}", os.lstat, p)
    show(f"access F_OK {p[:40]}", os.access, p, os.F_OK)
    show(f"access X_OK {p[:40]}", os.access, p, os.X_OK)
    show(f"open RDONLY {p[:40]}", os.open, p, os.O_RDONLY)
    show(f"open WRONLY {p[:40]}", os.open, p, os.O_WRONLY)
    show(f"open DIRECTORY {p[:40]}", os.open, p, os.O_RDONLY | os.O_DIRECTORY)
    show(f"listdir {p[:40]}", os.listdir, p)

show("open secret RDONLY", os.open, "secret", os.O_RDONLY)
show("open CREAT|EXCL file", os.open, "file", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
show("open CREAT|EXCL new", os.open, "new", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
show("open CREAT|EXCL dir/", os.open, "dir/", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
show("open WRONLY dir", os.open, "dir", os.O_WRONLY)
show("access noexec X_OK", os.access, "noexec", os.X_OK)
show("mkdir dir", os.mkdir, "dir")
show("mkdir dir/new", os.mkdir, "dir/new")
show("mkdir missing/new", os.mkdir, "missing/new")
show("rmdir full", os.rmdir, "full")
show("rmdir file", os.rmdir, "file")
show("rmdir missing", os.rmdir, "missing")
show("unlink dir", os.unlink, "dir")
show("unlink missing", os.unlink, "missing")
show("rename dir into itself", os.rename, "dir", "dir/inside")
show("rename missing", os.rename, "missing", "other")
show("rename file -> dir", os.rename, "file", "dir")
show("rename dir/new -> moved", os.rename, "dir/new", "moved")
show("readlink link", os.readlink, "link")
show("readlink file", os.readlink, "file")

dfd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
show("openat file", os.open, "file", os.O_RDONLY, dir_fd=dfd)
show("openat missing", os.open, "missing", os.O_RDONLY, dir_fd=dfd)
show("statat dir", os.stat, "dir", dir_fd=dfd)
show("mkdirat dir", os.mkdir, "dir", dir_fd=dfd)
show("unlinkat missing", os.unlink, "missing", dir_fd=dfd)
show("scandir", lambda: [e.name for e in os.scandir(tree)])
fd = os.open("file", os.O_RDONLY)
show("read", os.read, fd, 100)
show("fstat size", lambda: os.fstat(fd).st_size)
show("dup", os.dup, fd)
show("lseek", os.lseek, fd, 2, os.SEEK_SET)
os.close(fd)
show("close twice", os.close, fd)
show("fstat closed", os.fstat, fd)
show("read bad fd", os.read, 999, 1)
os.close(dfd)

# Paths that share the mount's prefix but are not inside it.
for p in lookalikes:
    show(f"stat lookalike", os.stat, p)
    show(f"open lookalike", os.open, p, os.O_RDONLY)
    show(f"access lookalike", os.access, p, os.F_OK)
    show(f"listdir lookalike", os.listdir, p)
    show(f"unlink lookalike", os.unlink, p)
    show(f"rmdir lookalike", os.rmdir, p)
    show(f"open CREAT lookalike/f", os.open, p + "/f", os.O_CREAT | os.O_WRONLY, 0o600)
PY

lookalikes=("${mnt}x" "${mnt}x/file" "${mnt}-other/f" "${mnt}file" "/${mnt#/}x/../nothing-$$")
same_with_and_without "python3 probe: results and errnos" python3 "$probe" "$tmp/tree" "${lookalikes[@]}"
if [[ -s $tmp/nat.out ]] && grep -q 'stat file: ok' "$tmp/nat.out"; then
  pass "probe ran ($(wc -l <"$tmp/nat.out") calls)"
else
  fail "probe ran" "$(cat "$tmp/nat.err")"
fi

setup='mkdir -p "$1/tree/d" && echo hello > "$1/tree/f"'
same_with_and_without "cat a file outside the mount" sh -c "$setup && cat \"\$1/tree/f\"" sh "$tmp"
same_with_and_without "cat missing outside the mount" sh -c "$setup && cat \"\$1/tree/missing\"" sh "$tmp"
same_with_and_without "ls -la outside the mount (names)" sh -c "$setup && ls -1a \"\$1/tree\"" sh "$tmp"
same_with_and_without "mkdir existing outside the mount" sh -c "$setup && mkdir \"\$1/tree/d\"" sh "$tmp"
same_with_and_without "mv and rm outside the mount" \
  sh -c "$setup && mv \"\$1/tree/f\" \"\$1/tree/g\" && rm \"\$1/tree/g\" && ls -1a \"\$1/tree\"" sh "$tmp"
same_with_and_without "stat a lookalike path" stat -c %n "${mnt}x/file"
same_with_and_without "ls a lookalike path" ls "${mnt}x"
same_with_and_without "cat a lookalike path" cat "${mnt}-other/f"
same_with_and_without "a pipeline through /dev and /proc" sh -c 'head -c 16 /dev/zero | wc -c; test -r /proc/self/status && echo proc-ok'

echo "# lookalike paths never reach the server"
before=$("$USERFS_TEST_USERFSCTL" --socket "$sock" status 2>/dev/null | sed -n 's/^requests: //p')
under_shim sh -c 'stat "$1" "$2" "$3"; cat "$1"; ls "$1"' sh "${mnt}x" "${mnt}x/f" "${mnt}-other" >/dev/null 2>&1
after=$("$USERFS_TEST_USERFSCTL" --socket "$sock" status 2>/dev/null | sed -n 's/^requests: //p')
# Only the status requests themselves (and a connection's hello) may count.
if [[ -n $before && -n $after ]] && ((after - before <= 2)); then
  pass "no requests for lookalike paths (requests $before -> $after)"
else
  fail "no requests for lookalike paths" "requests before: $before, after: $after"
fi
check_fails "nothing was created on the host for the lookalikes" test -e "${mnt}x"

# What every process pays to load the library: it must need libc alone.
# (A libstdc++ dependency crept in once, through a string_view::substr that
# can throw: every preloaded process then loaded libstdc++, libm and
# libgcc_s, and spawning /bin/true took twice as long.)
needed=$(LC_ALL=C readelf -dW "$USERFS_TEST_LIB" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
expect_eq "the library needs libc and nothing else" "libc.so.6 " "$needed"

finish

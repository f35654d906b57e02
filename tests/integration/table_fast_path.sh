#!/usr/bin/env bash
# The shared lookup table answers stat, lstat, access, readlink, fstat (of
# a file open for writing too) and opens for reading, through '.', '..' and
# relative symlinks, without asking the server: a process doing thousands
# of them adds only a handful of requests to the server's count, while the
# same work against a server started without a table (--table-entries 0)
# sends every one. What the calls return is compared with the same work
# natively. Then the cases the table must leave to the server (a file open
# for writing elsewhere, absolute symlinks, '..' out of the mount, long
# names) answer as natively too.
source "$(dirname -- "$0")/lib.sh"

# requests: the server's count of requests served so far.
requests() {
  "$USERFS_TEST_USERFSCTL" --socket "$sock" status | sed -n 's/^requests: //p'
}

# The workload: prints what each call returned, then how many requests the
# server served while it ran (its own connection's hello and first stat
# excluded). Paths with '.' and '..', absolute and from a cwd in the mount.
# $1: the directory; $2: userfsctl, or '' natively; $3: the socket.
cat >"$tmp/work.py" <<'PY'
import errno, os, subprocess, sys
d, ctl, sock = sys.argv[1], sys.argv[2], sys.argv[3]
def served():
    if not ctl:
        return 0
    out = subprocess.run([ctl, "--socket", sock, "status"], capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}).stdout
    return int([l.split()[1] for l in out.splitlines() if l.startswith("requests:")][0])
def attempt(f, *a):
    try:
        r = f(*a)
        return "ok" if r is None else r
    except OSError as e:
        return errno.errorcode[e.errno]
f = d + "/a/b/file"
os.stat(f)  # connects; a file last written by another process settles here
os.chdir(d + "/a/b")
wfd = os.open(d + "/a/written", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
last_mtime = 0
before = served()
seen = set()
for i in range(2000):
    st = os.stat(f)
    seen.add(("stat", st.st_mode, st.st_size, st.st_nlink))
    seen.add(("lstat-dir", os.lstat(d + "/a/b").st_mode & 0o170000))
    seen.add(("missing", attempt(os.stat, d + "/a/b/nothing-" + str(i % 7))))
    seen.add(("notdir", attempt(os.stat, f + "/x")))
    seen.add(("access", os.access(f, os.R_OK), os.access(f, os.X_OK), os.access(d + "/a", os.X_OK)))
    seen.add(("symlinks", os.stat(d + "/a/lb/file").st_size, os.stat(d + "/a/lfile").st_ino == st.st_ino,
              os.lstat(d + "/a/lfile").st_size, attempt(os.stat, d + "/a/lfile/"), os.access(d + "/a/lb/file", os.R_OK),
              os.readlink(d + "/a/lfile"), attempt(os.readlink, f), attempt(os.readlink, d + "/a/lb/")))
    seen.add(("dotdot", os.stat(d + "/a/b/../b/./file").st_ino == st.st_ino,
              os.stat(d + "/a/b/..").st_ino == os.stat(d + "/a").st_ino, os.stat("../b/file").st_size,
              attempt(os.stat, "../b/file/..")))
    fd = os.open(f, os.O_RDONLY | os.O_CLOEXEC)
    seen.add(("fstat", os.fstat(fd).st_size, os.read(fd, 5)))
    os.close(fd)
    # A file this process keeps open for writing: fstat reads size and
    # times from the data itself.
    os.write(wfd, b"w")
    wst = os.fstat(wfd)
    seen.add(("fstat-written", wst.st_size == i + 1, wst.st_blocks > 0, wst.st_nlink, oct(wst.st_mode),
              wst.st_mtime_ns >= last_mtime, wst.st_ctime_ns >= wst.st_mtime_ns))
    last_mtime = wst.st_mtime_ns
after = served()
os.close(wfd)
for s in sorted(seen, key=repr):
    print(s)
# userfsctl's own connections: a hello and a status each.
print("requests while running:", "few" if after - before <= 8 else after - before, file=sys.stderr)
PY

setup='mkdir -p "$1/a/b" && printf hello-world >"$1/a/b/file" && ln -s b "$1/a/lb" && ln -s lb/./file "$1/a/lfile"'
mkdir -p "$tmp/native"
sh -c "$setup" sh "$tmp/native"
python3 "$tmp/work.py" "$tmp/native" "" "" >"$tmp/native.out" 2>"$tmp/native.err"

start_server
check "set-up in the mount" under_shim sh -c "$setup" sh "$mnt"
under_shim python3 "$tmp/work.py" "$mnt" "$USERFS_TEST_USERFSCTL" "$sock" >"$tmp/table.out" 2>"$tmp/table.err"
expect_eq "with the table: the same answers as natively" "$(cat "$tmp/native.out")" "$(cat "$tmp/table.out")"
expect_eq "with the table: 40,000 calls, next to no requests" "requests while running: few" "$(cat "$tmp/table.err")"

# The control: the same work against a server with no table is all requests.
stop_server
rm -f "$sock"
start_server --table-entries 0
check "set-up in the mount (no table)" under_shim sh -c "$setup" sh "$mnt"
under_shim python3 "$tmp/work.py" "$mnt" "$USERFS_TEST_USERFSCTL" "$sock" >"$tmp/plain.out" 2>"$tmp/plain.err"
expect_eq "without the table: the same answers" "$(cat "$tmp/native.out")" "$(cat "$tmp/plain.out")"
n=$(sed -n 's/^requests while running: //p' "$tmp/plain.err")
if [[ $n =~ ^[0-9]+$ ]] && ((n >= 38000)); then
  pass "without the table: every call is a request ($n)"
else
  fail "without the table: every call is a request" "got: $(cat "$tmp/plain.err")"
fi
stop_server
rm -f "$sock"

# What the table leaves to the server answers as natively.
start_server
compare_with_native "a file open for writing elsewhere: stat sees each write" '
  exec 3>"$D/w"
  for i in 1 2 3; do printf 12345 >&3; stat -c %s "$D/w"; done
  exec 3>&-
  stat -c %s "$D/w"'
compare_with_native "symlinks (relative, absolute, a loop), dot-dot and long names" '
  mkdir -p "$D/x/y" && echo hi >"$D/x/y/f" && ln -s y "$D/x/ly" && ln -s f "$D/x/y/lf"
  long=$(printf "%0120d" 7); echo long >"$D/x/$long"
  stat -c "%F %s" "$D/x/ly/f" "$D/x/y/lf" "$D/x/y/../y/f" "$D/x/$long"
  stat -L -c %F "$D/x/ly"; stat -c %F "$D/x/ly"
  cat "$D/x/ly/f" "$D/x/y/lf" "$D/x/$long"
  stat "$D/x/${long}x" 2>&1 | sed "s/.*: //"
  test -r "$D/x/ly/f" && echo readable
  ln -s "$D/x/y" "$D/x/abs" && ln -s loop "$D/x/loop" && ln -s ../x/ly/../ly "$D/x/y/up"
  cat "$D/x/abs/f" "$D/x/y/up/f"; stat -c %F "$D/x/y/up/lf"
  stat "$D/x/loop/f" 2>&1 | sed "s/.*: //"'
compare_with_native "permissions: search and read bits" '
  mkdir "$D/p" && echo secret >"$D/p/s" && chmod 000 "$D/p/s"
  cat "$D/p/s" >/dev/null 2>&1; echo "read 000 as $(id -u): $?"
  chmod 644 "$D/p/s"; cat "$D/p/s"'
stop_server
finish

#!/usr/bin/env bash
# The example plugin backend (examples/hello) mounted by a real server, as
# docs/writing-a-backend.md tells a user to: real programs list, stat and
# read its one file through the handle data path, a missing name fails as
# it does natively, and every change is refused as on a read-only
# filesystem. Argument: the built libhello.so.
source "$(dirname -- "$0")/lib.sh"
plugin=${1:-$_builddir/examples/hello/libhello.so}
if [[ ! -f $plugin ]]; then
  echo "missing artefact: $plugin" >&2
  exit 1
fi
errno_text() { python3 -c 'import errno, os, sys; print(os.strerror(getattr(errno, sys.argv[1])))' "$1"; }

# The checks on a mount of the plugin whose file should hold exactly the
# bytes in EXPECTED_FILE, served by a server started between the times
# BEFORE and AFTER (seconds).
check_hello_mount() {  # LABEL EXPECTED_FILE BEFORE AFTER
  local label=$1 expected=$2 before=$3 after=$4 size out
  size=$(stat -c %s "$expected")

  echo "# $label: reading"
  under_shim cat "$mnt/hello" >"$tmp/cat.out" 2>&1
  check "$label: cat gives the file's content" cmp "$expected" "$tmp/cat.out"
  expect_eq "$label: wc -c < FILE" "$size" "$(under_shim sh -c 'wc -c < "$1"' sh "$mnt/hello" 2>&1)"
  expect_eq "$label: wc -c FILE" "$size $mnt/hello" "$(under_shim wc -c "$mnt/hello" 2>&1)"
  # Whole, at an offset (lseek), with pread, and past the end: each a read()
  # the backend answers over the socket.
  out=$(under_shim python3 - "$mnt/hello" "$expected" <<'PY' 2>&1
import os, sys
path, expected = sys.argv[1], open(sys.argv[2], "rb").read()
with open(path, "rb") as f:
    assert f.read() == expected, "whole read"
    f.seek(3)
    assert f.read(4) == expected[3:7], "read after seek"
    assert f.read() == expected[7:], "the rest"
    assert f.read() == b"", "at the end"
    assert os.pread(f.fileno(), 5, 2) == expected[2:7], "pread"
    assert os.pread(f.fileno(), 5, len(expected) + 10) == b"", "pread past the end"
with open(path) as f:
    lines = f.readlines()
assert "".join(lines).encode() == expected, "text mode"
print("read ok")
PY
  )
  expect_eq "$label: python3 reads it whole, after seek, with pread" "read ok" "$out"
  # No kernel file is behind a handle, so there is nothing to map: ENODEV,
  # as for any file Linux cannot map.
  out=$(under_shim python3 -c '
import errno, mmap, sys
with open(sys.argv[1], "rb") as f:
    try:
        mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        print("mapped")
    except OSError as e:
        print(errno.errorcode.get(e.errno, e.errno))
' "$mnt/hello" 2>&1)
  expect_eq "$label: mmap is refused with ENODEV" ENODEV "$out"

  echo "# $label: attributes"
  local st
  st=$(under_shim stat -c '%F|%A|%h|%s|%u|%g' "$mnt/hello" 2>&1)
  expect_eq "$label: stat FILE" "regular file|-r--r--r--|1|$size|$(id -u)|$(id -g)" "$st"
  st=$(under_shim stat -c '%F|%A' "$mnt" 2>&1)
  expect_eq "$label: stat of the mount root" "directory|dr-xr-xr-x" "$st"
  local mtime
  mtime=$(under_shim stat -c %Y "$mnt/hello" 2>&1)
  if [[ $mtime =~ ^[0-9]+$ ]] && ((before <= mtime && mtime <= after)); then
    pass "$label: mtime is when the server started"
  else
    fail "$label: mtime is when the server started" "mtime $mtime, started between $before and $after"
  fi
  # The backend's number for the file is 2; the server keeps it in the low
  # bits and tags the mount in the top 8 (backend.hpp, kMaxBackendIno).
  local ino ls_ino
  ino=$(under_shim stat -c %i "$mnt/hello" 2>&1)
  ls_ino=$(under_shim ls -i "$mnt" 2>&1 | awk '$2 == "hello" { print $1 }')
  expect_eq "$label: ls -i and stat agree on the inode number" "$ino" "$ls_ino"
  if [[ $ino =~ ^[0-9]+$ ]]; then
    expect_eq "$label: the backend's inode number inside it" 2 "$((ino & ((1 << 56) - 1)))"
  else
    fail "$label: the backend's inode number inside it" "stat said: $ino"
  fi

  echo "# $label: listing"
  under_shim ls -la "$mnt" >"$tmp/ls.out" 2>&1
  expect_eq "$label: ls -la exits 0" 0 "$?"
  expect_eq "$label: ls -la names" ". .. hello" "$(awk 'NR > 1 { printf "%s%s", sep, $NF; sep = " " }' "$tmp/ls.out")"
  expect_eq "$label: ls -la: the root" "dr-xr-xr-x 2" "$(awk '$NF == "." { print $1, $2 }' "$tmp/ls.out")"
  # The file's line is what ls prints for a native file with the same
  # content, mode and time.
  mkdir -p "$tmp/native"
  cp "$expected" "$tmp/native/hello"
  chmod 444 "$tmp/native/hello"
  touch -d "@$(under_shim stat -c %.9Y "$mnt/hello")" "$tmp/native/hello"
  expect_eq "$label: ls -l line of the file" \
    "$(ls -l --time-style=full-iso "$tmp/native/hello" | sed "s|$tmp/native|\$D|")" \
    "$(under_shim ls -l --time-style=full-iso "$mnt/hello" 2>&1 | sed "s|$mnt|\$D|")"
  rm -f "$tmp/native/hello"

  echo "# $label: a missing name fails as natively"
  (cd "$tmp" && ls "$tmp/native/missing" >"$tmp/nat.out" 2>"$tmp/nat.err")
  rc_nat=$?
  (cd "$tmp" && under_shim ls "$mnt/missing" >"$tmp/mnt.out" 2>"$tmp/mnt.err")
  rc_mnt=$?
  sed -i "s|$tmp/native|\$D|g" "$tmp/nat.err"
  sed -i "s|$mnt|\$D|g" "$tmp/mnt.err"
  compare_runs "$label: ls of a missing name" "$rc_nat" "$rc_mnt" "$tmp/nat" "$tmp/mnt" userfs
  expect_eq "$label: cat of a path below the file" \
    "cat: $mnt/hello/x: $(errno_text ENOTDIR)" "$(under_shim cat "$mnt/hello/x" 2>&1)"

  echo "# $label: changes are refused with EROFS (the backend is read-only)"
  local erofs
  erofs=$(errno_text EROFS)
  expect_eq "$label: touch of a new name" "touch: cannot touch '$mnt/new': $erofs" "$(under_shim touch "$mnt/new" 2>&1)"
  expect_eq "$label: mkdir" "mkdir: cannot create directory '$mnt/d': $erofs" "$(under_shim mkdir "$mnt/d" 2>&1)"
  expect_eq "$label: rm" "rm: cannot remove '$mnt/hello': $erofs" "$(under_shim rm -f "$mnt/hello" 2>&1)"
  out=$(under_shim python3 - "$mnt" <<'PY' 2>&1
import errno, os, sys
mnt = sys.argv[1]
for what, call in [("open for writing", lambda: open(mnt + "/hello", "r+")),
                   ("create", lambda: os.open(mnt + "/new", os.O_CREAT | os.O_WRONLY, 0o644)),
                   ("chmod", lambda: os.chmod(mnt + "/hello", 0o644)),
                   ("rename", lambda: os.rename(mnt + "/hello", mnt + "/other"))]:
    try:
        call()
        print(what, "succeeded")
    except OSError as e:
        print(what, errno.errorcode.get(e.errno, e.errno))
PY
  )
  expect_eq "$label: python3: every change answers EROFS" \
    "open for writing EROFS
create EROFS
chmod EROFS
rename EROFS" "$out"
  expect_eq "$label: the file is unchanged" "$size" "$(under_shim stat -c %s "$mnt/hello" 2>&1)"
}

echo "# mounted without an argument: the file says hello"
before=$(date +%s)
start_server --mount "$mnt=so:$plugin"
after=$(date +%s)
printf 'Hello, world!\n' >"$tmp/expected"
check_hello_mount "default" "$tmp/expected" "$before" "$after"
stop_server
expect_eq "the server exits 0 on SIGTERM" 0 "$server_status"

echo "# mounted with an argument: the file holds exactly the argument"
text='Greetings from a plugin: spaces, a colon and no newline'
before=$(date +%s)
start_server --mount "$mnt=so:$plugin:$text"
after=$(date +%s)
printf '%s' "$text" >"$tmp/expected"
check_hello_mount "argument" "$tmp/expected" "$before" "$after"
stop_server

echo "# the launcher mounts it for one command, as the guide shows"
out=$(USERFS_BUILD_DIR=${USERFS_TEST_USERFSD%/server/userfsd} "$USERFS_TEST_LAUNCHER" run --socket "$sock" \
  --mount "$mnt=so:$plugin:launched" -- cat "$mnt/hello" 2>&1)
expect_eq "userfs run --mount PREFIX=so:LIB:ARG -- cat" "launched" "$out"
check_fails "the server it started is gone" ping_server

echo "# a plugin that cannot be loaded stops the server at start-up"
"$USERFS_TEST_USERFSD" --socket "$sock" --mount "$mnt=so:$tmp/no-such-plugin.so" </dev/null >"$tmp/bad.out" 2>&1 &
bad_pid=$!
track "$bad_pid"
for ((i = 0; i < 50; i++)); do
  _alive "$bad_pid" || break
  sleep 0.1
done
if _alive "$bad_pid"; then
  kill_pid "$bad_pid"
  rc=0
else
  wait "$bad_pid"
  rc=$?
fi
if ((rc != 0)) && grep -q "no-such-plugin.so" "$tmp/bad.out"; then
  pass "a missing plugin: userfsd exits non-zero and names it"
else
  fail "a missing plugin: userfsd exits non-zero and names it" "status $rc" "$(cat "$tmp/bad.out")"
fi

finish

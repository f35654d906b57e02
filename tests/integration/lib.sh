# Shared helpers for the integration tests; sourced, not run.
#
# Each test gets its own temp dir ($tmp), its own server socket ($sock) and
# its own mount prefix ($mnt), so tests can run in parallel and never touch a
# user's default server or /userfs. Everything a test starts is killed by pid
# on exit, and the temp dir is removed.
#
# meson passes the artefacts in USERFS_TEST_{LIB,USERFSD,USERFSCTL,LAUNCHER,
# SRCDIR}; run by hand, a script falls back to <repo>/build (or
# $USERFS_BUILD_DIR).
set -u

: "${USERFS_TEST_SRCDIR:=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)}"
_builddir=${USERFS_BUILD_DIR:-$USERFS_TEST_SRCDIR/build}
: "${USERFS_TEST_LIB:=$_builddir/libshim/libuserfs.so}"
: "${USERFS_TEST_USERFSD:=$_builddir/server/userfsd}"
: "${USERFS_TEST_USERFSCTL:=$_builddir/tools/userfsctl}"
: "${USERFS_TEST_LAUNCHER:=$USERFS_TEST_SRCDIR/userfs}"
export USERFS_TEST_SRCDIR USERFS_TEST_LIB USERFS_TEST_USERFSD USERFS_TEST_USERFSCTL USERFS_TEST_LAUNCHER

for _f in "$USERFS_TEST_LIB" "$USERFS_TEST_USERFSD" "$USERFS_TEST_USERFSCTL"; do
  if [[ ! -e $_f ]]; then
    echo "missing artefact: $_f (build first: scripts/build)" >&2
    exit 1
  fi
done

# Nothing from the caller's own userfs set-up may leak into a test.
unset USERFS_SOCKET USERFS_MOUNTS USERFS_TRACE
if [[ -n ${LD_PRELOAD:-} && $LD_PRELOAD == *libuserfs* ]]; then
  unset LD_PRELOAD
fi
export LC_ALL=C

test_name=$(basename -- "$0" .sh)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/userfs-$test_name.XXXXXX") && [[ -d $tmp ]] || {
  echo "cannot create a temp dir under ${TMPDIR:-/tmp}" >&2
  exit 1
}
sock=$tmp/sock
mnt=/userfs-test-$$
server_pid=
server_log=$tmp/userfsd.log
bg_pids=()
failures=0
checks=0

# ---------------------------------------------------------------------------
# Processes.

# True while pid is running (a zombie counts as gone).
_alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null)
  [[ -n $state && $state != Z ]]
}

# SIGTERM, wait up to 5 s, then SIGKILL. Sets kill_status to the exit status
# when pid is our child.
kill_status=
kill_pid() {
  local pid=$1 i
  kill_status=
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    _alive "$pid" || break
    sleep 0.1
  done
  if _alive "$pid"; then
    echo "  (pid $pid ignored SIGTERM; SIGKILL)" >&2
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  kill_status=$?
}

# Remember a background pid so it is killed on exit.
track() { bg_pids+=("$1"); }

_cleanup() {
  local pid
  if [[ -n $server_pid ]] && _alive "$server_pid"; then
    kill_pid "$server_pid"
  fi
  for pid in "${bg_pids[@]}"; do
    _alive "$pid" && kill_pid "$pid"
  done
  rm -rf -- "$tmp"
}
trap _cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM HUP

# The test program NAME (tests/integration/NAME.c): the path meson passed
# (GIVEN), else the build dir's, else compiled now into the temp dir with
# any extra cc flags. Prints its path; exits the test if it cannot build.
test_program() {  # NAME GIVEN [CC-FLAGS...]
  local name=$1 given=$2 prog
  shift 2
  prog=${given:-$_builddir/tests/$name}
  if [[ ! -x $prog ]]; then
    prog=$tmp/$name
    cc -O1 "$@" -o "$prog" "$USERFS_TEST_SRCDIR/tests/integration/$name.c" || {
      echo "FAIL: cannot build $name" >&2
      exit 1
    }
  fi
  printf '%s\n' "$prog"
}

# ---------------------------------------------------------------------------
# The server.

ping_server() {  # [SOCKET]
  "$USERFS_TEST_USERFSCTL" --socket "${1:-$sock}" ping >/dev/null 2>&1
}

# Waits up to 5 s for a server to answer on SOCKET; fails early if PID dies.
wait_for_server() {  # PID [SOCKET]
  local pid=$1 socket=${2:-$sock} i
  for ((i = 0; i < 50; i++)); do
    ping_server "$socket" && return 0
    _alive "$pid" || return 1
    sleep 0.1
  done
  ping_server "$socket"
}

# Starts userfsd on $sock (output to $server_log) with any extra options
# given (e.g. --state DIR), waits until it answers. With
# USERFS_TEST_BACKEND=dir the mount is a host directory ($tmp/backing)
# instead of the in-memory filesystem: the suites that compare with native
# runs then check the dir: backend the same way.
start_server() {
  local backend=()
  if [[ ${USERFS_TEST_BACKEND:-mem} == dir ]]; then
    mkdir -p -- "$tmp/backing"
    backend=(--mount "$mnt=dir:$tmp/backing")
  fi
  "$USERFS_TEST_USERFSD" --socket "$sock" "${backend[@]}" "$@" </dev/null >>"$server_log" 2>&1 &
  server_pid=$!
  if ! wait_for_server "$server_pid"; then
    echo "FAIL: userfsd did not start on $sock; its log:" >&2
    sed 's/^/  | /' "$server_log" >&2
    exit 1
  fi
}

# Stops the server started by start_server; sets server_status.
server_status=
stop_server() {
  kill_pid "$server_pid"
  server_status=$kill_status
  server_pid=
}

# ---------------------------------------------------------------------------
# Running things.

# Runs CMD with the shim preloaded against this test's server and mount.
under_shim() {
  LD_PRELOAD=$USERFS_TEST_LIB USERFS_SOCKET=$sock USERFS_MOUNTS=$mnt \
    ${USERFS_TEST_TRACE:+USERFS_TRACE=1} "$@"
}

pass() {
  checks=$((checks + 1))
  echo "ok   - $1"
}
fail() {
  local line
  checks=$((checks + 1)); failures=$((failures + 1))
  echo "FAIL - $1"
  shift
  for line in "$@"; do printf '       %s\n' "$line"; done
}

# check NAME CMD...: passes if CMD exits 0 (its output is shown on failure).
check() {
  local name=$1 out rc
  shift
  out=$("$@" 2>&1)
  rc=$?
  if ((rc == 0)); then
    pass "$name"
  else
    fail "$name" "command: $*" "status: $rc" "output: $out"
  fi
}

# check_fails NAME CMD...: passes if CMD exits non-zero.
check_fails() {
  local name=$1 out rc
  shift
  out=$("$@" 2>&1)
  rc=$?
  if ((rc != 0)); then
    pass "$name"
  else
    fail "$name" "command: $*" "expected failure, got status 0" "output: $out"
  fi
}

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
  if [[ $2 == "$3" ]]; then
    pass "$1"
  else
    fail "$1" "expected: $(printf '%q' "$2")" "actual:   $(printf '%q' "$3")"
  fi
}

# compare_with_native NAME SNIPPET
# Runs SNIPPET with `sh -c` twice: under the shim with $D a fresh directory
# inside the mount, and natively with $D a fresh directory in $tmp. Requires
# identical stdout, stderr (with $D's value replaced by the literal `$D`) and
# exit status.
_cmp_seq=0
compare_with_native() {
  local name=$1 snippet=$2 n d_mnt d_nat
  _cmp_seq=$((_cmp_seq + 1))
  n=$_cmp_seq
  d_mnt=$mnt/cmp$n
  d_nat=$tmp/native/cmp$n
  mkdir -p -- "$d_nat"
  if ! under_shim mkdir -- "$d_mnt" 2>"$tmp/mkdir.err"; then
    fail "$name" "could not create $d_mnt in the mount: $(cat "$tmp/mkdir.err")"
    return
  fi
  local out=$tmp/cmp$n
  (cd "$tmp" && D=$d_nat sh -c "$snippet" >"$out.nat.out" 2>"$out.nat.err" </dev/null)
  local rc_nat=$?
  (cd "$tmp" && D=$d_mnt under_shim sh -c "$snippet" >"$out.mnt.out" 2>"$out.mnt.err" </dev/null)
  local rc_mnt=$?
  local f
  for f in "$out.nat.out" "$out.nat.err"; do
    _normalise "$d_nat" "$f"
  done
  for f in "$out.mnt.out" "$out.mnt.err"; do
    _normalise "$d_mnt" "$f"
  done
  compare_runs "$name" "$rc_nat" "$rc_mnt" "$out.nat" "$out.mnt" userfs "snippet: $snippet"
}

# compare_runs NAME RC_NATIVE RC_OTHER NATIVE OTHER LABEL [CONTEXT...]
# Passes if two runs of the same thing exited alike and wrote the same
# NATIVE.out/OTHER.out and NATIVE.err/OTHER.err; otherwise fails with the
# CONTEXT lines and the differences (LABEL names the other run).
compare_runs() {
  local name=$1 rc_a=$2 rc_b=$3 a=$4 b=$5 label=$6 stream
  shift 6
  local problems=()
  ((rc_a == rc_b)) || problems+=("exit status: native $rc_a, $label $rc_b")
  for stream in out err; do
    if ! cmp -s "$a.$stream" "$b.$stream"; then
      problems+=("std$stream differs (- native, + $label):")
      mapfile -t -O "${#problems[@]}" problems < <(diff -u "$a.$stream" "$b.$stream" | tail -n +3)
    fi
  done
  if ((${#problems[@]} == 0)); then
    pass "$name"
  else
    fail "$name" "$@" "${problems[@]}"
  fi
}

# Replaces every occurrence of DIR in FILE with the literal `$D`.
_normalise() {
  local dir=$1 file=$2 re
  re=$(printf '%s' "$dir" | sed 's/[][\\/.*^$|]/\\&/g')
  sed -i "s/$re/\$D/g" -- "$file"
}

# tree_digest DIR: one line per entry below DIR, sorted: relative name, type
# (find's %y), size (`-` for directories, whose size is filesystem-specific),
# octal mode and link target; then the sha256 of every regular file. The same
# code is a script at $TREE_DIGEST, so that compare_with_native snippets can
# run it as `"$TREE_DIGEST" "$D/x"` (under the shim when $D is in the mount).
_tree_digest_script='
set -u
dir=$1
find "$dir" -mindepth 1 \( -type d -printf "%P d - %m\n" \) -o -printf "%P %y %s %m %l\n" | LC_ALL=C sort
(cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
'
TREE_DIGEST=$tmp/tree_digest
printf '#!/bin/sh\n%s' "$_tree_digest_script" >"$TREE_DIGEST"
chmod +x "$TREE_DIGEST"
export TREE_DIGEST
tree_digest() { "$TREE_DIGEST" "$@"; }

# Prints the summary and exits: 0 if every check passed.
finish() {
  # A server that logged a crash or an assertion fails the test.
  if [[ -s $server_log ]] && grep -Eq 'terminate called|Assertion|Sanitizer|Segmentation|panic|abort' "$server_log"; then
    fail "server log is clean" "$(grep -E 'terminate called|Assertion|Sanitizer|Segmentation|panic|abort' "$server_log" | head -5)"
  fi
  echo "$test_name: $((checks - failures))/$checks checks passed"
  if ((failures > 0)); then
    if [[ -s $server_log ]]; then
      echo "userfsd log:"
      sed 's/^/  | /' "$server_log" | tail -n 40
    fi
    exit 1
  fi
  exit 0
}

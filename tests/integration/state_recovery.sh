#!/usr/bin/env bash
# Recovery from a damaged state directory. The journal cut at every byte of
# its last record: fsck reports a torn record (or clean at the record's
# ends) and a server starts on it, dropping just that record. A flipped
# byte in an earlier record, a damaged snapshot or header, a missing
# snapshot: the server refuses to start, saying why, and fsck reports a
# problem. A missing data file (its creation lost in a crash before a sync)
# is a problem fsck reports; the server starts with that file empty.
source "$(dirname -- "$0")/lib.sh"
# The launcher must use exactly the artefacts under test.
export USERFS_BUILD_DIR=${USERFS_TEST_USERFSD%/server/userfsd}

state=$tmp/state
work=$tmp/work

fsck_of() {  # DIR: sets fsck_out and fsck_rc
  fsck_rc=0
  fsck_out=$("$USERFS_TEST_USERFSD" --fsck "$1" 2>&1) || fsck_rc=$?
}
# A copy of the pristine state in $work, with the journal cut at $1 bytes
# (or whole if $1 is empty).
fresh_work() {
  rm -rf -- "$work"
  cp -a -- "$state" "$work"
  if [[ -n ${1:-} ]]; then head -c "$1" -- "$state/journal" >"$work/journal"; fi
}

echo "# a state whose journal ends in a known record"
start_server --state "$state"
under_shim sh -c "mkdir '$mnt/dir' && echo one >'$mnt/dir/f' && ln -s dir/f '$mnt/sym'" || fail "build the tree"
stop_server
start_server --state "$state"
under_shim sh -c "echo two >'$mnt/g' && mv '$mnt/g' '$mnt/dir/g' && mkdir '$mnt/d2'" || fail "change the tree"
under_shim "$TREE_DIGEST" "$mnt" >"$tmp/before_last"
under_shim mkdir "$mnt/the-last-one" || fail "mkdir the last one"
under_shim "$TREE_DIGEST" "$mnt" >"$tmp/after_last"
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null
server_pid=
fsck_of "$state"
expect_eq "fsck of the killed server's state: clean" 0 "$fsck_rc"
read -r last end < <(sed -n 's/.*the last at offset \([0-9]*\), ending at offset \([0-9]*\).*/\1 \2/p' <<<"$fsck_out")
if [[ -z ${last:-} || -z ${end:-} ]] || ((end <= last)); then
  fail "fsck names the last record" "$fsck_out"
  finish
fi
echo "  (last record: bytes $last to $end)"

echo "# the journal cut at every byte of its last record"
bad=()
for ((cut = last; cut <= end; cut++)); do
  fresh_work "$cut"
  fsck_of "$work"
  if ((cut == last || cut == end)); then
    ((fsck_rc == 0)) && grep -q '^result: clean' <<<"$fsck_out" || bad+=("cut $cut: exit $fsck_rc, expected clean")
  else
    ((fsck_rc == 1)) && grep -q 'torn last journal record' <<<"$fsck_out" || bad+=("cut $cut: exit $fsck_rc, expected torn")
  fi
done
if ((${#bad[@]} == 0)); then
  pass "fsck: clean at the record's ends, a torn record at each of the $((end - last - 1)) cuts inside it"
else
  fail "fsck at every cut" "${bad[@]:0:10}"
fi

# A server on every 16th cut and both ends (each start compacts, so each gets a
# fresh copy): it starts, says what it dropped, and serves the tree as it
# was before the last operation (or after, when the record is whole).
for cut in "$last" $(seq $((last + 1)) 16 $((end - 1))) $((end - 1)) "$end"; do
  fresh_work "$cut"
  : >"$server_log"
  start_server --state "$work"
  under_shim "$TREE_DIGEST" "$mnt" >"$tmp/recovered"
  if ((cut == end)); then
    check "cut at $cut (whole record): the tree after the last operation" cmp "$tmp/after_last" "$tmp/recovered"
  else
    check "cut at $cut: the tree before the last operation" cmp "$tmp/before_last" "$tmp/recovered"
  fi
  if ((cut != last && cut != end)); then
    check "cut at $cut: the server says it dropped a torn record" grep -q "dropped the journal's torn last record" "$server_log"
  fi
  stop_server
  expect_eq "cut at $cut: the server stops cleanly" 0 "$server_status"
  fsck_of "$work"
  expect_eq "cut at $cut: fsck clean after the server's restart" 0 "$fsck_rc"
done

# Starts a server on $work that must refuse; checks its exit and message.
refuses() {  # NAME PATTERN
  local out rc=0
  out=$(timeout 20 "$USERFS_TEST_USERFSD" --socket "$tmp/refused.sock" --state "$work" 2>&1 </dev/null) || rc=$?
  if ((rc == 1)) && grep -q "refusing to start" <<<"$out" && grep -q -- "$2" <<<"$out"; then
    pass "$1: the server refuses to start"
  else
    fail "$1: the server refuses to start" "exit $rc" "$out"
  fi
  check "$1: nothing listens on its socket" test ! -e "$tmp/refused.sock"
  fsck_of "$work"
  if ((fsck_rc == 1)) && grep -q '^problem: ' <<<"$fsck_out"; then
    pass "$1: fsck reports a problem"
  else
    fail "$1: fsck reports a problem" "exit $fsck_rc" "$fsck_out"
  fi
}

echo "# damage the server must refuse"
flip() {  # FILE OFFSET: inverts one byte
  python3 -c "
import sys
path, at = sys.argv[1], int(sys.argv[2])
with open(path, 'r+b') as f:
    f.seek(at); b = f.read(1); f.seek(at); f.write(bytes([b[0] ^ 0xff]))
" "$1" "$2"
}
fresh_work
flip "$work/journal" 70  # inside the first record, with valid ones after it
refuses "a flipped byte in an earlier journal record" "journal: damaged record"
fresh_work
flip "$work/journal" 5  # the journal's header
refuses "a damaged journal header" "journal header damaged"
fresh_work
flip "$work/snapshot" $(($(stat -c %s "$work/snapshot") - 3))
refuses "a damaged snapshot" "snapshot body checksum"
fresh_work
rm -f "$work/snapshot"
refuses "a missing snapshot" "no snapshot"
fresh_work
rm -f "$work/data/userfs:"*
fsck_of "$work"
if ((fsck_rc == 1)) && grep -q '^problem: inode [0-9]* is a regular file without a data file' <<<"$fsck_out"; then
  pass "missing data files: fsck reports each"
else
  fail "missing data files: fsck reports each" "exit $fsck_rc" "$fsck_out"
fi
: >"$server_log"
start_server --state "$work"
check "missing data files: the server starts and says which files it found empty" \
  grep -q 'has no data file; it is now empty' "$server_log"
expect_eq "missing data files: the files are there, empty" "0 0" \
  "$(under_shim stat -c %s "$mnt/dir/f" "$mnt/dir/g" | paste -sd' ')"
under_shim "$TREE_DIGEST" "$mnt" | grep -v '^[0-9a-f]\{64\} ' | grep -v ' f [0-9]* ' >"$tmp/names_now"
grep -v '^[0-9a-f]\{64\} ' "$tmp/after_last" | grep -v ' f [0-9]* ' >"$tmp/names_before"
check "missing data files: every other name and type is as it was" cmp "$tmp/names_before" "$tmp/names_now"
stop_server
fsck_of "$work"
expect_eq "missing data files: fsck clean after the server's start" 0 "$fsck_rc"
fresh_work
echo 'not hex' >"$work/instance"
out=$(timeout 20 "$USERFS_TEST_USERFSD" --socket "$tmp/refused.sock" --state "$work" 2>&1 </dev/null)
expect_eq "a malformed instance file: the server exits 1" 1 "$?"
check "and says so" grep -q "instance: malformed" <<<"$out"

echo "# the pristine state still starts"
start_server --state "$state"
under_shim "$TREE_DIGEST" "$mnt" >"$tmp/pristine"
check "the pristine state holds the whole tree" cmp "$tmp/after_last" "$tmp/pristine"
stop_server

echo "# usage"
"$USERFS_TEST_USERFSD" --fsck >/dev/null 2>&1
expect_eq "userfsd --fsck without a directory: exit 2" 2 "$?"
"$USERFS_TEST_USERFSD" --fsck "$tmp/none" >/dev/null 2>&1
expect_eq "userfsd --fsck on a missing directory: exit 2" 2 "$?"
"$USERFS_TEST_LAUNCHER" fsck >/dev/null 2>&1
expect_eq "userfs fsck without a directory: exit 2" 2 "$?"
finish

#!/usr/bin/env bash
# One namespace for many processes: what one writes, the next one reads.
source "$(dirname -- "$0")/lib.sh"
start_server

echo "# process A writes, process B reads"
check "A: mkdir in the mount" under_shim mkdir "$mnt/shared"
check "A: write a file" under_shim sh -c 'printf "hello from A\n" > "$1"' sh "$mnt/shared/f"
expect_eq "B: reads what A wrote" "hello from A" "$(under_shim cat "$mnt/shared/f" 2>&1)"

echo "# process C appends"
check "C: append" under_shim sh -c 'printf "and C\n" >> "$1"' sh "$mnt/shared/f"
expect_eq "D: sees both lines" "hello from A
and C" "$(under_shim cat "$mnt/shared/f" 2>&1)"
expect_eq "wc -c agrees" 19 "$(under_shim sh -c 'wc -c < "$1"' sh "$mnt/shared/f" 2>&1)"
expect_eq "wc -c FILE agrees" "19 $mnt/shared/f" "$(under_shim wc -c "$mnt/shared/f" 2>&1)"
expect_eq "stat size agrees" 19 "$(under_shim stat -c %s "$mnt/shared/f" 2>&1)"

echo "# a long-lived reader sees a later writer's data"
fifo=$tmp/go
mkfifo "$fifo"
under_shim python3 - "$mnt/shared/late" "$fifo" >"$tmp/reader.out" 2>&1 <<'PY' &
import sys
path, fifo = sys.argv[1], sys.argv[2]
open(fifo).read()          # wait until the writer is done
with open(path) as f:
    print(f.read(), end="")
PY
reader=$!
track "$reader"
check "writer: create late file" under_shim sh -c 'echo late-data > "$1"' sh "$mnt/shared/late"
echo go >"$fifo"
wait "$reader"
reader_rc=$?
expect_eq "reader process exits 0" 0 "$reader_rc"
expect_eq "reader sees the writer's data" "late-data" "$(cat "$tmp/reader.out")"

echo "# the file is not on the host"
check_fails "no host file at the mount path" test -e "$mnt/shared/f"

echo "# many processes, one listing"
writers=()
for i in 1 2 3 4 5; do
  under_shim sh -c 'echo "$2" > "$1"' sh "$mnt/shared/n$i" "$i" &
  writers+=($!)
  track $!
done
for pid in "${writers[@]}"; do
  wait "$pid" || fail "writer $pid exits 0"
done
expect_eq "ls sees all files" "f late n1 n2 n3 n4 n5" "$(under_shim ls "$mnt/shared" 2>&1 | tr '\n' ' ' | sed 's/ $//')"
expect_eq "contents of n3" 3 "$(under_shim cat "$mnt/shared/n3" 2>&1)"

finish

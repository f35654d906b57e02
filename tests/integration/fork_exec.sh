#!/usr/bin/env bash
# fd inheritance, cwd, locks and shared mappings across fork, fork+execve,
# vfork+execve, posix_spawn and exec of a program stored in the mount:
# tests/integration/fork_exec_matrix.c prints a transcript of what parent and
# child observe; it runs natively on a temp dir and under the shim on a mount
# dir, and the two transcripts must be identical.
#
# Usage: fork_exec.sh [PATH-TO-fork_exec_matrix]  (meson passes the built
# program; by hand it is taken from the build dir, or compiled into the
# test's temp dir with cc).
source "$(dirname -- "$0")/lib.sh"

prog=$(test_program fork_exec_matrix "${1:-}") || exit 1

start_server

nat=$tmp/native-base
mkdir -p "$nat"
timeout 60 "$prog" "$nat" >"$tmp/native.out" 2>&1
rc_nat=$?
expect_eq "native run exits 0" 0 "$rc_nat"
check "native transcript is complete" grep -qx done "$tmp/native.out"

check "mkdir the base in the mount" under_shim mkdir "$mnt/base"
timeout 60 env LD_PRELOAD="$USERFS_TEST_LIB" USERFS_SOCKET="$sock" USERFS_MOUNTS="$mnt" \
  "$prog" "$mnt/base" >"$tmp/mount.out" 2>&1
rc_mnt=$?
expect_eq "run in the mount exits 0" 0 "$rc_mnt"

# One check per section ("[method] scenario"), so a report names the case.
sections() { grep '^\[' "$1"; }
section_of() {  # FILE HEADER
  awk -v h="$2" '$0 == h { on = 1; print; next } /^\[/ { on = 0 } on' "$1"
}
while IFS= read -r header; do
  a=$(section_of "$tmp/native.out" "$header")
  b=$(section_of "$tmp/mount.out" "$header")
  if [[ $a == "$b" ]]; then
    pass "$header"
  else
    mapfile -t d < <(diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | grep '^[<>]' | sed 's/^</native:/; s/^>/userfs:/')
    fail "$header" "${d[@]}"
  fi
done < <(sections "$tmp/native.out")
check "mount transcript is complete" grep -qx done "$tmp/mount.out"
expect_eq "same sections in both transcripts" "$(sections "$tmp/native.out")" "$(sections "$tmp/mount.out")"

# The program and its children left nothing running.
check "server still answers" ping_server
finish

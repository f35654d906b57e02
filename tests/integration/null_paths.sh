#!/usr/bin/env bash
# NULL path pointers (tests/integration/null_paths.c): every call answers
# in the mount exactly as libc does natively (EFAULT, EINVAL, or success
# for the AT_EMPTY_PATH forms the kernel accepts with NULL), and nothing
# crashes inside the shim. Also checks the shim is built with
# -fno-delete-null-pointer-checks.
#
# Usage: null_paths.sh [PATH-TO-null_paths]
source "$(dirname -- "$0")/lib.sh"

prog=$(test_program null_paths "${1:-}") || exit 1
start_server

mkdir -p "$tmp/native"
"$prog" "$tmp/native" >"$tmp/native.out" 2>&1
nat_rc=$?
check "mkdir in the mount" under_shim mkdir "$mnt/n"
under_shim "$prog" "$mnt/n" >"$tmp/mount.out" 2>&1
mnt_rc=$?
expect_eq "native run exits 0" 0 "$nat_rc"
expect_eq "mount run exits 0 (no crash)" 0 "$mnt_rc"
if cmp -s "$tmp/native.out" "$tmp/mount.out"; then
  pass "every NULL-path call answers as natively ($(wc -l <"$tmp/native.out") lines)"
else
  mapfile -t diff_lines < <(diff -u "$tmp/native.out" "$tmp/mount.out" | tail -n +3)
  fail "every NULL-path call answers as natively (- native, + mount)" "${diff_lines[@]}"
fi

# The build flag: meson records each object's command line.
builddir=$(dirname -- "$(dirname -- "$USERFS_TEST_LIB")")
if [[ -f $builddir/compile_commands.json ]]; then
  if grep -q 'libuserfs.so.p.*fno-delete-null-pointer-checks\|fno-delete-null-pointer-checks.*libuserfs.so.p' \
    "$builddir/compile_commands.json"; then
    pass "the shim is compiled with -fno-delete-null-pointer-checks"
  else
    fail "the shim is compiled with -fno-delete-null-pointer-checks" "not in $builddir/compile_commands.json"
  fi
fi

finish

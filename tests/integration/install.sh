#!/usr/bin/env bash
# `userfs install` / `userfs uninstall` against a scratch root (--root): the
# library is validated before ld.so.preload changes, other preload lines are
# kept (in order), the settings file is written once and kept after, the
# systemd unit is offered, and uninstall removes exactly the library's line.
# Needs root (the subcommands refuse otherwise); skipped (77) without it.
source "$(dirname -- "$0")/lib.sh"

if ((EUID != 0)); then
  echo "SKIP: userfs install needs root"
  exit 77
fi

lib=$(readlink -f -- "$USERFS_TEST_LIB")
build=$(dirname -- "$(dirname -- "$lib")")
userfs() { USERFS_BUILD_DIR=$build "$USERFS_TEST_LAUNCHER" "$@"; }
root=$tmp/root
mkdir -p "$root/etc"
printf 'other.so\n# a comment\n/usr/lib/another.so' >"$root/etc/ld.so.preload"  # no final newline

check "install succeeds" userfs install --root "$root" --mount /data --socket /run/userfs/sock
expect_eq "ld.so.preload keeps its lines and gains the library" \
  "$(printf 'other.so\n# a comment\n/usr/lib/another.so\n%s' "$lib")" "$(cat "$root/etc/ld.so.preload")"
expect_eq "ld.so.preload mode" 644 "$(stat -c %a "$root/etc/ld.so.preload")"
conf=$root/etc/userfs/mounts
expect_eq "the settings file names the mount and socket" "mount /data|socket /run/userfs/sock" \
  "$(grep -v '^#' "$conf" | paste -sd '|')"
expect_eq "the settings file is root's and 644" "0 644" "$(stat -c '%u %a' "$conf")"
unit=$root/etc/systemd/system/userfsd.service
if grep -qx "ExecStart=$(readlink -f -- "$USERFS_TEST_USERFSD") --socket /run/userfs/sock" "$unit" &&
  grep -qx 'RuntimeDirectory=userfs' "$unit"; then
  pass "the systemd unit starts userfsd on the socket"
else
  fail "the systemd unit starts userfsd on the socket" "$(cat "$unit" 2>&1)"
fi
check "no temp files are left" test -z "$(find "$root" -name '.*.??????')"

# The installed settings are what the library reads.
mkdir -m 700 "$tmp/run"
sock=$tmp/run/sock
printf 'mount %s\nsocket %s\n' "$mnt" "$sock" >"$conf"
start_server
expect_eq "the library reads the installed settings" hello \
  "$(LD_PRELOAD=$lib USERFS_CONFIG=$conf sh -c "echo hello > $mnt/f && cat $mnt/f" 2>&1)"

echo "mount /kept" >"$conf"
check "a second install succeeds" userfs install --root "$root"
expect_eq "a second install adds no second line" 1 "$(grep -cxF "$lib" "$root/etc/ld.so.preload")"
expect_eq "a second install keeps the settings file" "mount /kept" "$(cat "$conf")"

check "uninstall succeeds" userfs uninstall --root "$root"
expect_eq "uninstall removes exactly the library's line" \
  "$(printf 'other.so\n# a comment\n/usr/lib/another.so')" "$(cat "$root/etc/ld.so.preload")"
check "uninstall again is a no-op" userfs uninstall --root "$root"
check "the settings file stays" test -f "$conf"

# Only the library in the file: uninstall removes the file.
rm -rf "$root/etc"
check "install into an empty root" userfs install --root "$root"
expect_eq "a fresh settings file mounts /userfs" "mount /userfs|socket /run/userfs/sock" \
  "$(grep -v '^#' "$conf" | paste -sd '|')"
check "uninstall" userfs uninstall --root "$root"
check "ld.so.preload that listed only the library is gone" test ! -e "$root/etc/ld.so.preload"

# A library that does not load is never added.
bad=$tmp/badbuild
mkdir -p "$bad/libshim" "$bad/server" "$bad/tools"
echo "not an ELF file" >"$bad/libshim/libuserfs.so"
ln -s "$USERFS_TEST_USERFSD" "$bad/server/userfsd"
ln -s "$USERFS_TEST_USERFSCTL" "$bad/tools/userfsctl"
printf 'other.so\n' >"$root/etc/ld.so.preload"
out=$(USERFS_BUILD_DIR=$bad "$USERFS_TEST_LAUNCHER" install --root "$root" 2>&1)
rc=$?
if ((rc != 0)) && [[ $out == *"does not load cleanly"* ]]; then
  pass "install refuses a library that does not load"
else
  fail "install refuses a library that does not load" "status $rc" "$out"
fi
expect_eq "ld.so.preload is unchanged after a refused install" other.so "$(cat "$root/etc/ld.so.preload")"

# Root only.
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$USERFS_TEST_LAUNCHER" install --root "$root" 2>&1)
rc=$?
if ((rc != 0)) && [[ $out == *"needs root"* ]]; then
  pass "install as a user is refused"
else
  fail "install as a user is refused" "status $rc" "$out"
fi
finish

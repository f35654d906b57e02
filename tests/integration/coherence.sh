#!/usr/bin/env bash
# Coherence: one process changes the namespace (rename, chmod, a write that
# grows a file, rename-over, symlink swap, mkdir, rmdir, unlink) and tells a
# second process through a pipe; that process's threads must each see the
# change on their very next call (tests/integration/coherence.c). Natively
# first, so a failure here is the mount's.
#
# Usage: coherence.sh [PATH-TO-coherence]
source "$(dirname -- "$0")/lib.sh"

prog=$(test_program coherence "${1:-}" -pthread) || exit 1
start_server

iterations=${USERFS_COHERENCE_ITERATIONS:-400}
mkdir -p "$tmp/native"
check "natively: every reader sees each change at once" timeout 120 "$prog" "$tmp/native" "$iterations" 4
check "mkdir in the mount" under_shim mkdir "$mnt/co"
check "in the mount: every reader sees each change at once" timeout 120 \
  env LD_PRELOAD="$USERFS_TEST_LIB" USERFS_SOCKET="$sock" USERFS_MOUNTS="$mnt" "$prog" "$mnt/co" "$iterations" 4

finish

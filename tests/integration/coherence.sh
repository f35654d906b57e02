#!/usr/bin/env bash
# Coherence: one process changes the namespace (rename, chmod, a write that
# grows a file, truncation by an O_TRUNC open, writes through an fd it keeps
# open across a rename, then its close, chmod without read, a directory
# without search, rename over a file and over a file others hold open,
# symlink swap, mkdir, rmdir, unlink) and tells a second process through a
# pipe; that process's threads must each see the change on their very next
# stat, lstat, fstatat, access and faccessat (F_OK, R_OK, W_OK, X_OK) and
# open+fstat+read (tests/integration/coherence.c). Natively first, so a
# failure here is the mount's. Permission outcomes follow the running
# user: as root only the execute bits and nothing of search can be
# refused, so a run as another user also checks read and search refusals.
#
# USERFS_COHERENCE_ITERATIONS (default 400, a few seconds) runs more.
#
# Usage: coherence.sh [PATH-TO-coherence]
source "$(dirname -- "$0")/lib.sh"

prog=$(test_program coherence "${1:-}" -pthread) || exit 1
start_server

iterations=${USERFS_COHERENCE_ITERATIONS:-400}
if [[ ! $iterations =~ ^[1-9][0-9]*$ ]]; then
  echo "USERFS_COHERENCE_ITERATIONS must be a positive number, not '$iterations'" >&2
  exit 1
fi
mkdir -p "$tmp/native"
check "natively: every reader sees each change at once" timeout 120 "$prog" "$tmp/native" "$iterations" 4
check "mkdir in the mount" under_shim mkdir "$mnt/co"
check "in the mount: every reader sees each change at once" timeout 120 \
  env LD_PRELOAD="$USERFS_TEST_LIB" USERFS_SOCKET="$sock" USERFS_MOUNTS="$mnt" "$prog" "$mnt/co" "$iterations" 4

finish

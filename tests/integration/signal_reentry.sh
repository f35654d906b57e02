#!/usr/bin/env bash
# A signal handler doing mount I/O while the interrupted thread is inside
# the shim: no deadlock (the run must end), no lost handler run, no failed
# call (tests/integration/signal_reentry.c). The same program runs natively
# on a temp dir first, so a failure here is the shim's.
#
# Usage: signal_reentry.sh [PATH-TO-signal_reentry]
source "$(dirname -- "$0")/lib.sh"

prog=$(test_program signal_reentry "${1:-}") || exit 1
start_server

mkdir -p "$tmp/native"
check "natively: handler I/O during the main loop" timeout 20 "$prog" "$tmp/native" 2
check "mkdir in the mount" under_shim mkdir "$mnt/sig"
check "in the mount: handler I/O re-entering the shim ends, loses nothing" timeout 20 \
  env LD_PRELOAD="$USERFS_TEST_LIB" USERFS_SOCKET="$sock" USERFS_MOUNTS="$mnt" "$prog" "$mnt/sig" 2

finish

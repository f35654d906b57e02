#!/usr/bin/env bash
# O_CREAT|O_EXCL is atomic across processes: of 8 racers, exactly one wins.
source "$(dirname -- "$0")/lib.sh"
start_server

racers=8
rounds=20
check "mkdir race dir" under_shim mkdir "$mnt/race"

# The barrier is a fifo outside the mount. Each racer connects to the server
# (a stat in the mount), says it is ready, then blocks reading one byte from
# the fifo; once all are ready the test writes one byte per racer, so they all
# wake together and race the create.
racer='
import errno, os, sys
path, barrier, ready = sys.argv[1], sys.argv[2], sys.argv[3]
os.stat(os.path.dirname(path))
open(ready, "w").close()
b = os.open(barrier, os.O_RDONLY)
os.read(b, 1)
try:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
    sys.exit(0)
os.write(fd, b"winner %d\n" % os.getpid())
os.close(fd)
print("WON")
'

for ((round = 1; round <= rounds; round++)); do
  name=$mnt/race/f$round
  barrier=$tmp/barrier$round
  mkfifo "$barrier"
  pids=()
  for ((i = 0; i < racers; i++)); do
    under_shim python3 -c "$racer" "$name" "$barrier" "$tmp/ready$round.$i" \
      >"$tmp/r$round.$i" 2>&1 &
    pids+=($!)
    track $!
  done
  # Hold the fifo open read-write (never blocks) so a racer's open cannot
  # block forever, wait for every racer to be ready, then release them.
  exec 9<>"$barrier"
  for ((t = 0; t < 200; t++)); do
    ready=0
    for ((i = 0; i < racers; i++)); do
      # A racer that died early counts as ready (it reports its error).
      if [[ -e $tmp/ready$round.$i ]] || ! _alive "${pids[i]}"; then
        ready=$((ready + 1))
      fi
    done
    ((ready == racers)) && break
    sleep 0.05
  done
  printf '%*s' "$racers" '' >&9
  for pid in "${pids[@]}"; do
    wait "$pid"
  done
  exec 9>&-
  won=0 eexist=0 other=()
  for ((i = 0; i < racers; i++)); do
    result=$(cat "$tmp/r$round.$i")
    case $result in
      WON) won=$((won + 1)) ;;
      EEXIST) eexist=$((eexist + 1)) ;;
      *) other+=("racer $i: $result") ;;
    esac
  done
  if ((won == 1 && eexist == racers - 1)); then
    pass "round $round: 1 winner, $eexist EEXIST"
  else
    fail "round $round: exactly one winner" "winners: $won, EEXIST: $eexist" "${other[@]}"
  fi
  content=$(under_shim cat "$name" 2>&1)
  if [[ $content =~ ^winner\ [0-9]+$ ]]; then
    pass "round $round: the file holds the winner's write"
  else
    fail "round $round: the file holds the winner's write" "content: $content"
  fi
done

expect_eq "all $rounds files listed" "$rounds" "$(under_shim ls "$mnt/race" 2>/dev/null | wc -l)"
finish

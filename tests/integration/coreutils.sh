#!/usr/bin/env bash
# Coreutils behave in the mount exactly as in a plain directory: each snippet
# runs once in a fresh mount dir and once in a fresh temp dir; stdout, stderr
# (with the dir name normalised to $D) and exit status must match.
source "$(dirname -- "$0")/lib.sh"
start_server

compare_with_native "mkdir" 'mkdir "$D/sub" && test -d "$D/sub" && echo made'
compare_with_native "echo > f; cat f" 'echo hi > "$D/f" && cat "$D/f"'
compare_with_native "append and cat" 'echo one > "$D/f"; echo two >> "$D/f"; cat "$D/f"'
compare_with_native "ls -1" 'touch "$D/b" "$D/a" "$D/c"; mkdir "$D/d"; ls -1 "$D"'
compare_with_native "ls (default)" 'echo x > "$D/one"; echo y > "$D/two"; ls "$D"'
compare_with_native "ls -1a of an empty dir" 'ls -1a "$D"'
compare_with_native "ls -1a with entries" 'touch "$D/.hidden" "$D/shown"; ls -1a "$D"'
compare_with_native "ls -1 -p marks dirs" 'mkdir "$D/dir"; touch "$D/file"; ls -1p "$D"'
compare_with_native "stat file type, size, mode, links" \
  'printf 12345 > "$D/f"; stat -c "%F %s %a %h" "$D/f"'
compare_with_native "stat dir type, mode, links" 'mkdir "$D/d" "$D/d/sub"; stat -c "%F %a %h" "$D/d" "$D/d/sub"'
compare_with_native "stat -c %n" 'echo > "$D/f"; stat -c %n "$D/f"'
compare_with_native "rm f" 'echo hi > "$D/f"; rm "$D/f" && ls -1a "$D"; test -e "$D/f"; echo "exists: $?"'
compare_with_native "rm missing" 'rm "$D/missing"; echo "status $?"'
compare_with_native "rm -f missing" 'rm -f "$D/missing"; echo "status $?"'
compare_with_native "mv a b" 'echo data > "$D/a"; mv "$D/a" "$D/b" && cat "$D/b"; ls -1 "$D"'
compare_with_native "mv over an existing file" 'echo new > "$D/a"; echo old > "$D/b"; mv "$D/a" "$D/b"; cat "$D/b"; ls -1 "$D"'
compare_with_native "mv into a dir" 'mkdir "$D/d"; echo x > "$D/f"; mv "$D/f" "$D/d/"; ls -1 "$D" "$D/d"'
compare_with_native "mv a dir" 'mkdir "$D/d1" "$D/d1/sub"; mv "$D/d1" "$D/d2"; ls -1 "$D" "$D/d2"'
compare_with_native "cat missing" 'cat "$D/missing"'
compare_with_native "cat a directory" 'mkdir "$D/d"; cat "$D/d"'
compare_with_native "mkdir existing" 'mkdir "$D/d"; mkdir "$D/d"'
compare_with_native "mkdir in a missing parent" 'mkdir "$D/no/such"'
compare_with_native "rmdir empty" 'mkdir "$D/d"; rmdir "$D/d"; ls -1a "$D"'
compare_with_native "rmdir non-empty" 'mkdir "$D/d"; touch "$D/d/f"; rmdir "$D/d"'
compare_with_native "rmdir a file" 'touch "$D/f"; rmdir "$D/f"'
compare_with_native "rm -r" 'mkdir "$D/t" "$D/t/a" "$D/t/a/b"; touch "$D/t/a/f" "$D/t/a/b/g"; rm -r "$D/t"; ls -1a "$D"'
compare_with_native "wc -c" 'printf "abcdefghij" > "$D/f"; wc -c "$D/f"; wc -c < "$D/f"'
compare_with_native "wc -l of a bigger file" 'seq 1 10000 > "$D/f"; wc -l "$D/f"; wc -c < "$D/f"'
compare_with_native "cp within the mount" 'seq 1 500 > "$D/a"; cp "$D/a" "$D/b" && cmp "$D/a" "$D/b" && wc -c < "$D/b"'
compare_with_native "cp into a dir" 'mkdir "$D/d"; echo x > "$D/f"; cp "$D/f" "$D/d" && cat "$D/d/f"'
compare_with_native "cp -r" 'mkdir "$D/s" "$D/s/x"; echo 1 > "$D/s/x/f"; cp -r "$D/s" "$D/t" && cat "$D/t/x/f"'
compare_with_native "test -e/-d/-f" '
  mkdir "$D/d"; echo > "$D/f"
  for p in "$D/d" "$D/f" "$D/none"; do
    for t in -e -d -f -s -r -w; do
      if test $t "$p"; then echo "$t $p yes"; else echo "$t $p no"; fi
    done
  done'
compare_with_native "head/tail" 'seq 1 100 > "$D/f"; head -n 3 "$D/f"; tail -n 2 "$D/f"'
compare_with_native "sort and redirect" 'printf "c\nb\na\n" > "$D/in"; sort "$D/in" > "$D/out"; cat "$D/out"'
compare_with_native "touch creates" 'touch "$D/new"; test -f "$D/new" && stat -c "%F %s" "$D/new"'
compare_with_native "truncating write" 'echo long-content > "$D/f"; echo s > "$D/f"; cat "$D/f"; wc -c < "$D/f"'
compare_with_native "find" 'mkdir "$D/x" "$D/x/y"; touch "$D/x/f" "$D/x/y/g"; find "$D" | sort'
compare_with_native "du -a counts entries" 'mkdir "$D/x"; touch "$D/x/f"; du -a "$D" | wc -l'

finish

#!/usr/bin/env bash
# The shim resolves libc's functions by reading the loaded objects' symbol
# tables itself (libshim/symbol_lookup.*), which must agree with
# dlsym(RTLD_NEXT) name for name: checked from a preloaded library built
# from the same code (tests/integration/symbol_check.cpp), in front of real
# programs, after dlopen, and with another preloaded library after it that
# defines some of the names.
#
# Usage: symbol_lookup.sh PATH-TO-libsymbol_check.so
source "$(dirname -- "$0")/lib.sh"

check_lib=${1:-$_builddir/tests/libsymbol_check.so}
[[ -f $check_lib ]] || { echo "FAIL: no $check_lib (build first)" >&2; exit 1; }

# The names the shim resolves, straight from its source.
names=$tmp/names
grep -o 'find(libc\.[A-Za-z0-9_]*, "[^"]*")' "$USERFS_TEST_SRCDIR/libshim/real_libc.cpp" |
  sed 's/.*, "\(.*\)")/\1/' >"$names"
count=$(wc -l <"$names")
check "the shim resolves over 100 names ($count)" test "$count" -gt 100

# checked LABEL CMD...: the program's check lines all agree, and most names
# were found without dlsym (so the comparison is not empty).
checked() {
  local label=$1 out line ok=1 lines=0
  shift
  out=$(USERFS_SYMBOL_NAMES=$names LD_PRELOAD="$check_lib${extra_preload:+ $extra_preload}" "$@" 2>&1)
  while IFS= read -r line; do
    [[ $line == "symbol check "* ]] || continue
    lines=$((lines + 1))
    if [[ ! $line =~ :\ $count\ names,\ ([0-9]+)\ found\ without\ dlsym,\ 0\ differ$ ]] ||
      ((BASH_REMATCH[1] < count * 9 / 10)); then
      ok=0
    fi
  done <<<"$out"
  if ((ok && lines > 0)); then
    pass "$label: every name found agrees with dlsym ($lines checks)"
  else
    fail "$label: every name found agrees with dlsym" "$out"
  fi
}

extra_preload=
checked "/bin/true" /bin/true
checked "python3" python3 -c pass
checked "python3 after dlopen of extension modules" python3 -c '
import ctypes, sqlite3, zlib, ssl, sys
sys.exit(ctypes.CDLL(None).userfs_symbol_check(b"after dlopen"))'
command -v sqlite3 >/dev/null && checked "sqlite3" sqlite3 -version
command -v git >/dev/null && checked "git" git --version

# A library preloaded after ours that defines some of the names: it, not
# libc, is "next", for dlsym and for the lookup alike.
cat >"$tmp/shadow.c" <<'C'
#include <sys/stat.h>
int stat(const char* p, struct stat* s) { (void)p; (void)s; return -1; }
int rmdir(const char* p) { (void)p; return -1; }
C
if cc -shared -fPIC -o "$tmp/libshadow.so" "$tmp/shadow.c"; then
  extra_preload=$tmp/libshadow.so
  checked "with a library after it defining stat and rmdir" /bin/true
  extra_preload=
else
  fail "build a shadowing library"
fi

finish

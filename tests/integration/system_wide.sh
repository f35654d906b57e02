#!/usr/bin/env bash
# System-wide mode without touching the host: in a private mount namespace,
# a copy of /etc (on a tmpfs bound over /etc, visible only there) gets
# ld.so.preload naming the built library and userfs/mounts naming a private
# mount and socket. Then, with no USERFS_* or LD_PRELOAD variable anywhere,
# the server (itself under the preload), coreutils, python3, git and a
# setuid program run; the mount works from each, and everything outside it
# behaves as without the preload. Then the settings file is broken (missing,
# garbage, wrong owner, writable by others): programs outside the mount still
# work and the mount is simply not there. Needs root (unshare -m); skipped
# (77) where that is not permitted.
set -u

if [[ ${1:-} != --inside ]]; then
  if ! unshare -m --propagation private true 2>/dev/null; then
    echo "SKIP: unshare -m is not permitted here (needs root or CAP_SYS_ADMIN)"
    exit 77
  fi
  host_before=$(stat -c '%i %s %Y' /etc/ld.so.preload 2>&1; cat /etc/ld.so.preload 2>/dev/null)
  rc=0
  unshare -m --propagation private -- bash "$0" --inside || rc=$?
  host_after=$(stat -c '%i %s %Y' /etc/ld.so.preload 2>&1; cat /etc/ld.so.preload 2>/dev/null)
  if [[ $host_before != "$host_after" ]]; then
    echo "FAIL - the host's /etc/ld.so.preload changed"
    printf '       before: %s\n       after:  %s\n' "$host_before" "$host_after"
    exit 1
  fi
  echo "ok   - the host's /etc/ld.so.preload is untouched"
  if grep -qs "^userfs-system-wide " /proc/mounts; then
    echo "FAIL - the test's tmpfs is visible outside its namespace"
    exit 1
  fi
  exit "$rc"
fi

# ---------------------------------------------------------------------------
# Inside the private namespace from here on.
source "$(dirname -- "$0")/lib.sh"
unset LD_PRELOAD

lib=$(readlink -f -- "$USERFS_TEST_LIB")
mnt=/userfs-sys-$$
mkdir -p "$tmp/run"
sock=$tmp/run/sock

# A tmpfs (suid allowed, unlike many /tmp mounts) with a copy of /etc and
# room for a setuid test program.
fs=$tmp/fs
mkdir -p "$fs"
mount -t tmpfs -o mode=755 userfs-system-wide "$fs" || { echo "FAIL - cannot mount a tmpfs"; exit 1; }
_unmount() {
  umount -l /etc 2>/dev/null
  umount -l "$fs" 2>/dev/null
}
trap '_unmount; _cleanup' EXIT
cp -a /etc "$fs/etc"
mkdir -p "$fs/etc/userfs" "$fs/bin"
cat >"$fs/etc/userfs/mounts" <<CONF
# userfs system-wide settings (test)
mount $mnt
socket $sock
CONF
chmod 644 "$fs/etc/userfs/mounts"
good_config=$(cat "$fs/etc/userfs/mounts")
# A setuid-root copy of cat: run by an unprivileged user it is a
# secure-execution process (AT_SECURE).
cp /bin/cat "$fs/bin/suidcat"
chmod 4755 "$fs/bin/suidcat"
chmod 711 "$tmp"  # the unprivileged user reaches $fs/bin, nothing else
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)

mount --bind "$fs/etc" /etc || { echo "FAIL - cannot bind the copy over /etc"; exit 1; }
preload_on() { printf '%s\n' "$lib" >/etc/ld.so.preload; }
preload_off() { rm -f /etc/ld.so.preload; }

# Outputs of commands that never touch the mount, without the preload: the
# same commands must give the same output with it.
outside=(
  'ls -l /usr/bin | head -50'
  'stat -c "%n %s %a %U" /usr/bin/env /etc/passwd /tmp'
  'env | sort'
  'id'
  'echo x > "$T/o" && cat "$T/o" && rm "$T/o" && ls "$T"'
  'find /usr/share/doc -maxdepth 2 -type f | sort | head -100 | xargs -r sha256sum'
  'python3 -c "import os,sys; print(sorted(os.listdir(\"/usr\"))); print(os.path.exists(\"/userfs-nope\"))"'
  'cat /userfs-sys-nope/x; ls /nonexistent'
  '"${NOBODY[@]}" su --help | head -5'
  '"${NOBODY[@]}" passwd --help | head -5'
)
export T=$tmp/outside
mkdir -p "$T"
run_outside() {  # INDEX -> stdout+stderr+status
  NOBODY="${nobody[*]}" bash -c "NOBODY=(${nobody[*]}); ${outside[$1]}" 2>&1
  echo "status $?"
}
declare -a native
for i in "${!outside[@]}"; do native[i]=$(run_outside "$i"); done

# ---------------------------------------------------------------------------
# System-wide on.
preload_on
if grep -q libuserfs /proc/self/maps && bash -c 'grep -q libuserfs /proc/$$/maps'; then
  pass "a new process has the library from /etc/ld.so.preload"
else
  fail "a new process has the library from /etc/ld.so.preload"
fi

start_server  # itself under the preload; its own calls pass through
if grep -q libuserfs "/proc/$server_pid/maps"; then
  pass "userfsd runs with the library preloaded"
else
  fail "userfsd runs with the library preloaded"
fi

for i in "${!outside[@]}"; do
  expect_eq "outside the mount, as without the preload: ${outside[$i]}" "${native[$i]}" "$(run_outside "$i")"
done

# The mount, with no variable set anywhere.
check "coreutils: echo > file in the mount" sh -c "echo hello > $mnt/f"
expect_eq "coreutils: cat" hello "$(cat "$mnt/f" 2>&1)"
out=$(ls -l "$mnt" 2>&1)
if [[ $out == *" f"* ]]; then pass "coreutils: ls -l"; else fail "coreutils: ls -l" "$out"; fi
check "coreutils: mkdir, cp, mv, rm" sh -c "mkdir $mnt/d && cp $mnt/f $mnt/d/g && mv $mnt/d/g $mnt/d/h && rm $mnt/d/h && rmdir $mnt/d"
expect_eq "python3 writes and reads" "from python" \
  "$(python3 -c "
open('$mnt/py', 'w').write('from python')
import os; print(open('$mnt/py').read()) if 'py' in os.listdir('$mnt') else print('not listed')" 2>&1)"
# (In a new shell: this script's own shell started before the preload.)
out=$(bash -c "cd $mnt && mkdir repo && cd repo && git init -q . && echo content >file &&
  git add file && git -c user.name=t -c user.email=t@t commit -qm first && git log --oneline | wc -l && git status --porcelain" 2>&1)
expect_eq "git init, add, commit in the mount" 1 "$out"
expect_eq "the server holds what they wrote" hello "$(cat "$mnt/f")"

# A secure-execution process reads the root-owned file and ignores the
# caller's USERFS_* settings (else it would look for the mount elsewhere and
# open a trace file the caller named).
chmod 755 "$tmp/run"  # let the setuid program (euid 0) and nobody reach the socket's directory
expect_eq "a setuid program (AT_SECURE) reads the mount" hello \
  "$("${nobody[@]}" env USERFS_MOUNTS=/elsewhere USERFS_SOCKET=/nonexistent/sock USERFS_TRACE=1 \
    USERFS_TRACE_FILE="$fs/bin/trace-by-env" USERFS_CONFIG=/nonexistent "$fs/bin/suidcat" "$mnt/f" 2>&1)"
check "a setuid program does not honour USERFS_TRACE_FILE" test ! -e "$fs/bin/trace-by-env"
check "su --help as a user just works" "${nobody[@]}" su --help
check "passwd --help as a user just works" "${nobody[@]}" passwd --help

# ---------------------------------------------------------------------------
# Broken settings: outside the mount everything works, the mount is not there.
broken() {  # NAME: checks with the settings file in its broken state
  local name=$1 out
  for i in "${!outside[@]}"; do
    out=$(run_outside "$i")
    if [[ $out != "${native[$i]}" ]]; then
      fail "$name: outside the mount, as without the preload: ${outside[$i]}" \
        "$(diff <(printf '%s\n' "${native[$i]}") <(printf '%s\n' "$out") | head -10)"
      return
    fi
  done
  pass "$name: programs outside the mount work as without the preload"
  out=$(cat "$mnt/f" 2>&1)
  if [[ $out == *"No such file or directory"* ]]; then
    pass "$name: the mount is not routed (ENOENT)"
  else
    fail "$name: the mount is not routed (ENOENT)" "$out"
  fi
  out=$("${nobody[@]}" "$fs/bin/suidcat" "$mnt/f" 2>&1)
  if [[ $out == *"No such file or directory"* ]]; then
    pass "$name: nor for a setuid program"
  else
    fail "$name: nor for a setuid program" "$out"
  fi
  check "$name: python3 starts" python3 -c 'print(1)'
}
conf=/etc/userfs/mounts
rm "$conf"
broken "missing settings file"
printf '\x01garbage\nmount\n' >"$conf"
broken "garbage settings file"
printf '%s\n' "$good_config" >"$conf"
chown 65534 "$conf"
broken "settings file not owned by root"
chown 0 "$conf"
chmod 666 "$conf"
broken "settings file writable by others"
out=$(USERFS_TRACE=1 cat "$mnt/f" 2>&1)
if [[ $out == *"settings file $conf ignored (it is writable by group or others)"* ]]; then
  pass "USERFS_TRACE says why the settings file is ignored"
else
  fail "USERFS_TRACE says why the settings file is ignored" "$out"
fi
chmod 644 "$conf"
expect_eq "a good settings file again: the mount is back" hello "$(cat "$mnt/f" 2>&1)"

preload_off
stop_server
finish

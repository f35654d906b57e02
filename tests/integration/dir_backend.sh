#!/usr/bin/env bash
# A host directory mounted with dir:PATH. Work done through the mount with
# coreutils and tar lands in PATH as the same work done natively lands in a
# plain directory; escape attempts (.., symlinks pointing outside, made on
# the host or through the mount) behave through the mount as natively from
# inside PATH, and the server never serves what lies outside PATH.
#
# Layout: the mount point is $tmp/view/dir, beside a real $tmp/view/outside;
# the native twin is $tmp/native/dir beside $tmp/native/outside. Both
# "outside" dirs hold the same secret, so a client following a symlink out
# of the mount reads what a native program reads. The served directory is
# $tmp/served/dir, beside $tmp/served/outside with another secret: if the
# server ever followed a symlink or ".." out of PATH itself, that text
# would show up in a run's output.
source "$(dirname -- "$0")/lib.sh"
# This test chooses its own mounts.
unset USERFS_TEST_BACKEND

served=$tmp/served
view=$tmp/view
native=$tmp/native
# $view/dir exists on the host too, as a mount point does, so that listing
# $view natively shows what listing $native does.
mkdir -p "$served/dir" "$served/outside" "$view/dir" "$view/outside" "$native/dir" "$native/outside"
echo "server-side secret" >"$served/outside/secret"
echo "client-side secret" >"$view/outside/secret"
echo "client-side secret" >"$native/outside/secret"

# The same starting tree, made on the host side, in PATH and in the twin.
populate() {
  local d=$1
  mkdir -p "$d/sub/deeper"
  printf 'kept\n' >"$d/sub/file"
  ln -s ../outside/secret "$d/rel-secret"
  ln -s ../outside "$d/rel-outside"
  ln -s ../../outside/secret "$d/sub/up-secret"
  ln -s /etc "$d/abs-etc"
  ln -s "$tmp/served/outside/secret" "$d/abs-server-secret"
}
populate "$served/dir"
populate "$native/dir"

mnt=$view/dir
start_server --mount "$mnt=dir:$served/dir"

# run_both NAME SNIPPET: SNIPPET with $D the mount, then with $D the native
# twin (both keep what earlier snippets left); same status and output.
_run_seq=0
run_both() {
  local name=$1 snippet=$2 out
  _run_seq=$((_run_seq + 1))
  out=$tmp/run$_run_seq
  (cd "$tmp" && D=$native/dir sh -c "$snippet" >"$out.nat.out" 2>"$out.nat.err" </dev/null)
  local rc_nat=$?
  (cd "$tmp" && D=$mnt under_shim sh -c "$snippet" >"$out.mnt.out" 2>"$out.mnt.err" </dev/null)
  local rc_mnt=$?
  _normalise "$native/dir" "$out.nat.out"
  _normalise "$native/dir" "$out.nat.err"
  _normalise "$mnt" "$out.mnt.out"
  _normalise "$mnt" "$out.mnt.err"
  compare_runs "$name" "$rc_nat" "$rc_mnt" "$out.nat" "$out.mnt" "dir: mount" "snippet: $snippet"
}

# --- work through the mount lands in PATH -----------------------------------

src=$tmp/src
mkdir -p "$src/a/b" "$src/empty"
seq 1 20000 >"$src/a/numbers"
printf 'x' >"$src/a/b/tiny"
ln -s a/numbers "$src/numbers-link"
chmod 0750 "$src/a/b"
tar cf "$tmp/src.tar" -C "$src" .
export SRC_TAR=$tmp/src.tar

run_both "listing the starting tree" 'cd "$D" && find . | LC_ALL=C sort'
run_both "cp, and cp -r" 'seq 1 5000 >"$D/seq"; cp "$D/seq" "$D/seq.copy" && cmp "$D/seq" "$D/seq.copy" && cp -r "$D/sub" "$D/sub.copy" && ls -R "$D/sub.copy"'
run_both "mv of a file and of a directory" 'mv "$D/seq.copy" "$D/sub/moved" && mv "$D/sub.copy" "$D/sub2" && ls "$D" "$D/sub"'
run_both "ln -s and readlink" 'ln -s sub/moved "$D/link" && readlink "$D/link" && cat "$D/link" | wc -l'
run_both "ln (hard)" 'ln "$D/seq" "$D/seq.hard" && stat -c "%h" "$D/seq" "$D/seq.hard"'
run_both "mkdir -p" 'mkdir -p "$D/p/q/r/s" && mkdir -p "$D/p/q" && find "$D/p" | LC_ALL=C sort'
run_both "tar x into it" 'mkdir "$D/untar" && tar xf "$SRC_TAR" -C "$D/untar" && "$TREE_DIGEST" "$D/untar"'
run_both "sha256sum" 'cd "$D" && sha256sum seq sub/moved untar/a/numbers untar/a/b/tiny'
run_both "rm -r" 'rm -r "$D/sub2" "$D/p/q" && ls "$D" "$D/p"'
run_both "append, truncate, overwrite" 'echo one >"$D/w"; echo two >>"$D/w"; truncate -s 3 "$D/w"; cat "$D/w"; echo; printf new >"$D/w"; cat "$D/w"'
run_both "chmod and stat" 'touch "$D/m"; chmod 0604 "$D/m"; stat -c "%a %F %s" "$D/m" "$D/sub" "$D/link"'
run_both "errors" 'mkdir "$D/sub"; rmdir "$D/sub"; rm "$D/missing"; cat "$D/sub"; ls "$D/none"'

expect_eq "PATH holds what the native twin holds" "$(tree_digest "$native/dir")" "$(tree_digest "$served/dir")"

# --- escape attempts --------------------------------------------------------

run_both ".. past the mount root" 'cat "$D/../outside/secret"; cat "$D/../../../../../../../../../../../etc/hostname"'
run_both "cwd in the mount, then .." 'cd "$D/sub" && cat ../../outside/secret && ls ../.. | LC_ALL=C sort'
run_both "relative symlinks made on the host" 'cat "$D/rel-secret" "$D/sub/up-secret"; ls "$D/rel-outside/"; readlink "$D/rel-secret"'
run_both "absolute symlinks made on the host" 'cat "$D/abs-etc/hostname"; readlink "$D/abs-server-secret"'
run_both "ln -s / then list through it" 'ln -s / "$D/root" && ls "$D/root/" | LC_ALL=C sort && cat "$D/root/etc/hostname"'
run_both "writing through a symlink to outside" 'ln -s ../outside "$D/out" && mkdir "$D/out/made" && echo w >"$D/out/made/f" && cat "$D/out/made/f"'
run_both "a symlink followed with cp and tar" 'cp "$D/rel-secret" "$D/copied" && cat "$D/copied"; tar cf - -C "$D" rel-secret | tar tvf - | awk "{print \$1, \$6}"'
run_both "the abs link to the server-side secret resolves on the client's host" 'cat "$D/abs-server-secret"'

# The last run reads $tmp/served/outside by its absolute name: the client
# may, it is a host path; that is the one place that text may appear.
leaks=$(grep -l "server-side secret" "$tmp"/run*.mnt.out "$tmp"/run*.mnt.err 2>/dev/null | grep -v "run$_run_seq.mnt.out")
expect_eq "no run through the mount saw the server-side secret" "" "$leaks"
expect_eq "the server's side outside PATH is untouched" "secret" "$(ls "$served/outside")"
expect_eq "the server-side secret is intact" "server-side secret" "$(cat "$served/outside/secret")"
expect_eq "writes through symlinks to outside landed on the client's side" "made secret" "$(ls "$view/outside" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "PATH holds what the native twin holds, after the escapes" "$(tree_digest "$native/dir")" "$(tree_digest "$served/dir")"

finish

#!/usr/bin/env bash
# Real programs on real trees behave in the mount as in a plain directory:
# each snippet runs once under the shim in a fresh mount dir and once natively
# in a fresh temp dir; stdout, stderr ($D normalised) and exit status must
# match. Trees are compared with "$TREE_DIGEST" (names, types, sizes, modes,
# link targets, content digests).
source "$(dirname -- "$0")/lib.sh"
start_server

# A small tree with the kinds of things programs meet: nested dirs, an empty
# dir, an empty file, modes, a relative and an absolute symlink, a hard link,
# a dangling link, a name with a space.
mk='mkdir -p "$D/t/a/b" "$D/t/empty"
printf "one\n" > "$D/t/f1"; printf "two\n" > "$D/t/a/f2"; : > "$D/t/a/b/zero"
seq 1 2000 > "$D/t/a/b/big"; printf x > "$D/t/with space"
chmod 600 "$D/t/f1"; chmod 750 "$D/t/a"; chmod 755 "$D/t/a/b/big"
ln -s f1 "$D/t/rel"; ln -s ../f1 "$D/t/a/up"; ln -s nowhere "$D/t/dangling"
ln "$D/t/f1" "$D/t/hard"
touch -h -d "2001-02-03 04:05:06" "$D/t/f1" "$D/t/a/f2" "$D/t/rel"
'

# --- cp, mv, rm, ln -----------------------------------------------------------
compare_with_native "cp -a copies names, types, modes, links, content" "$mk"'
cp -a "$D/t" "$D/c" && "$TREE_DIGEST" "$D/c"
a=$(cd "$D/t" && find . -printf "%p %T@ %n\n" | sort); b=$(cd "$D/c" && find . -printf "%p %T@ %n\n" | sort)
[ "$a" = "$b" ] && echo "mtimes and link counts preserved"'
compare_with_native "cp -r then cp -u, cp -n" "$mk"'
cp -r "$D/t" "$D/c"; echo new > "$D/x"; cp -n "$D/x" "$D/c/f1"; cat "$D/c/f1"
cp -f "$D/x" "$D/c/f1"; cat "$D/c/f1"; cp "$D/t/rel" "$D/deref"; stat -c "%F %s" "$D/deref"
cp -P "$D/t/rel" "$D/nod"; stat -c "%F %N" "$D/nod"'
compare_with_native "cp a file onto itself and into a missing dir" "$mk"'
cp "$D/t/f1" "$D/t/f1"; echo "status $?"; cp "$D/t/f1" "$D/missing/"; echo "status $?"'
compare_with_native "mv file, dir, over a file, into a dir, -T, -n" "$mk"'
mv "$D/t/f1" "$D/t/g1" && mv "$D/t/a" "$D/t/empty/" && mv "$D/t/empty/a/f2" "$D/t"
mv -n "$D/t/hard" "$D/t/g1"; mkdir "$D/t/d2"; mv -T "$D/t/d2" "$D/t/d3"; mv "$D/t/g1" "$D/t/hard"
mv "$D/t/d3" "$D/t/empty/a/b/zero"; echo "status $?"; mv "$D/t/empty/a/b/zero" "$D/t/empty/a/b/big"; cat "$D/t/empty/a/b/big"; echo "size above: 0"
"$TREE_DIGEST" "$D/t"'
compare_with_native "mv a dir into itself" "$mk"'mv "$D/t" "$D/t/a/"; echo "status $?"'
compare_with_native "rm -r, rm -rf, rm -d, rm -i refusal" "$mk"'
rm -r "$D/t/a"; rm -d "$D/t/empty"; rm -d "$D/t" ; echo "status $?"
rm -rf "$D/t"; ls -a "$D"; rm -rf "$D/none"; echo "status $?"'
compare_with_native "ln and ln -s" "$mk"'
cd "$D/t" && ln f1 h2 && ln -s a/f2 s2 && ln -s a sdir && ln -sf f1 s2 && ln -sfn empty sdir && ln -sr a/b/big rbig
ln f1 h2; echo "status $?"; ln a hdir; echo "status $?"
for n in h2 s2 sdir rbig; do stat -c "%n %F %h %N" "$n"; done
readlink s2 sdir rbig; readlink -f rbig | sed "s|^$D|\$D|"; cat rbig | wc -l'

# --- listing and attributes ---------------------------------------------------
compare_with_native "ls -laR (owners, dir sizes, totals normalised)" "$mk"'
ls -laR --time-style=+ "$D/t" | grep -v "^total" |
  awk "{ if (\$1 ~ /^d/) \$5 = \"-\"; \$3 = \$4 = \"\"; print }"'
compare_with_native "ls -l --full-time of touched files, ls -t, ls -S, ls -i relations" "$mk"'
ls -l --full-time "$D/t/f1" "$D/t/a/f2" | awk "{print \$1, \$2, \$5, \$6, \$7, \$9}"
touch -h -d "2002-01-01" "$D/t/a" "$D/t/dangling" "$D/t/empty" "$D/t/with space"; touch -h -d "2003-01-01" "$D/t/dangling"
ls -t "$D/t"; ls -S "$D/t/a/b"; ls -1F "$D/t"
[ "$(stat -c %i "$D/t/f1")" = "$(stat -c %i "$D/t/hard")" ] && echo "hard link shares inode"'
compare_with_native "stat -c on every kind" "$mk"'
cd "$D/t" && stat -c "%n|%F|%a|%A|%h|%N" * a/* a/b/* | sort
stat -c "%n %s" f1 a/f2 a/b/big rel dangling; stat -L -c "%n %F %s" rel; stat -L dangling; echo "status $?"
stat -c "%y|%Y" f1 a/f2; stat -c "%u %g" f1 | sed "s/^$(id -u) $(id -g)\$/mine/"
stat -f -c "%n" .'
compare_with_native "touch -d, -r, -m, -a, -h, -c" "$mk"'
cd "$D/t" && touch -d "1999-12-31 23:59:59.5" f1 && stat -c "%x|%y" f1
touch -r f1 a/f2 && stat -c "%y" a/f2
touch -m -d "2010-01-01 00:00:00" a/f2 && touch -a -d "2011-01-01 00:00:00" a/f2 && stat -c "%x|%y" a/f2
touch -h -d "2012-01-01 00:00:00" rel && stat -c "%y" rel f1
touch -c nothing; ls nothing; touch new && stat -c "%F %s" new'
compare_with_native "du (apparent sizes of files, counts)" "$mk"'
cd "$D/t" && du -ab --apparent-size . | while read -r s p; do [ -d "$p" ] && s=-; echo "$s $p"; done | sort -k2
du -a . | wc -l; du -s . >/dev/null && echo "du -s ok"; du -L -ab --apparent-size rel'
compare_with_native "chmod -R and symbolic modes" "$mk"'
chmod -R go-rwx "$D/t"; "$TREE_DIGEST" "$D/t"
chmod -R u=rwX,go=rX "$D/t"; "$TREE_DIGEST" "$D/t" | grep -v "^[0-9a-f]\{64\}"
chmod 4755 "$D/t/a/b/big"; chmod g+s "$D/t/a"; chmod +t "$D/t/empty"; stat -c "%n %a %A" "$D/t/a/b/big" "$D/t/a" "$D/t/empty"
chmod 644 "$D/none"; echo "status $?"'

# --- find, xargs --------------------------------------------------------------
compare_with_native "find -type, -name, -newer, -empty, -perm, -maxdepth, -links" "$mk"'
cd "$D/t" && touch -d "2005-01-01" old && touch -d "2006-01-01" ref && touch -d "2007-01-01" newer
for t in f d l; do echo "type $t:"; find . -type $t | sort; done
echo newer:; find . -newer ref ! -newer newer | sort
echo empty:; find . -empty | sort; echo perm:; find . -perm 600 | sort; find . -perm -u+x -type f | sort
echo depth:; find . -maxdepth 1 -name "*f*" | sort; echo links:; find . -links 2 -type f | sort
echo xtype:; find . -xtype l | sort; echo L:; find -L . -type f -name "f*" | sort; find . -samefile f1 | sort'
compare_with_native "find -exec ; and +, -execdir, -delete, -print0" "$mk"'
cd "$D/t" && find . -type f -exec wc -c {} \; | sort -k2; find . -name "f*" -exec echo {} + | tr " " "\n" | sort
find . -name big -execdir pwd \; | sed "s|^$D|\$D|"
find . -name "*zero*" -delete; find . -type l -delete; find . -depth -type d -empty -delete
find . -print0 | tr "\0" "\n" | sort; find "$D/t" -maxdepth 0 -printf "%y %p\n" | sed "s|$D|\$D|"'
compare_with_native "find -delete a whole tree, then from a cwd in the mount" "$mk"'
find "$D/t" -delete; ls -a "$D"; mkdir -p "$D/u/v/w"; cd "$D/u" && find . -delete; echo "status $?"; ls -a'
compare_with_native "xargs with -0, -n, -I" "$mk"'
cd "$D/t" && find . -type f -print0 | sort -z | xargs -0 wc -c
find . -name "f*" | sort | xargs -n1 cat; find . -maxdepth 1 -type f -name "f*" | xargs -I{} cp {} {}.bak; ls *.bak
printf "%s\n" a/f2 f1 | xargs -r rm -v'

# --- archives and compression ---------------------------------------------------
src_tree="include/linux share/zoneinfo/America"
compare_with_native "tar c of a real tree into the mount, x, tar d, re-archive" '
cd "$D" && tar -C /usr -cf a.tar '"$src_tree"' && sha256sum < a.tar
tar -tvf a.tar | awk "{print \$1, \$3, \$6}" | sort | sha256sum
mkdir x && tar -C x -xf a.tar && "$TREE_DIGEST" x | sha256sum && find x | wc -l
tar -C x -df a.tar && echo "tar -d: no differences"
touch -d @0 x x/include x/share x/share/zoneinfo  # made by tar, not in the archive
(cd x && tar -cf ../b.tar --sort=name --owner=0 --group=0 --numeric-owner .) && sha256sum < b.tar
tar -xOf a.tar include/linux/limits.h | sha256sum'
compare_with_native "tar czf/xzf through gzip, tar -x -C into a cwd in the mount" "$mk"'
cd "$D" && tar --sort=name --mtime=2000-01-01 --owner=0 --group=0 -czf t.tgz t && tar -tzf t.tgz | sort
mkdir y && cd y && tar -xzf ../t.tgz && "$TREE_DIGEST" t'
compare_with_native "gzip, gunzip, zcat, gzip -t, -k, -c" "$mk"'
cd "$D/t/a/b" && touch -d "2000-01-01" big && gzip -k big && sha256sum big.gz && gzip -t big.gz && echo tested
rm big && gunzip big.gz && sha256sum big && stat -c "%a %y" big && gzip big && ls && zcat big.gz | wc -l
gzip -c < big.gz > c.gz 2>&1; gunzip -c c.gz | gunzip -c | tail -1; gzip big.gz; echo "status $?"'

# --- in-place editors and installers -------------------------------------------------
compare_with_native "sort -o in place, sort -u -o" '
seq 20 -1 1 > "$D/f" && chmod 640 "$D/f" && sort -n -o "$D/f" "$D/f" && head -3 "$D/f" && stat -c "%a %s" "$D/f"
printf "b\na\nb\n" | sort -u -o "$D/g" && cat "$D/g"; ls -a "$D"'
compare_with_native "sed -i keeps mode, leaves no temp file; sed -i.bak" '
printf "alpha\nbeta\n" > "$D/f" && chmod 604 "$D/f" && ln -s f "$D/l"
sed -i "s/alpha/ALPHA/" "$D/f" && cat "$D/f" && stat -c "%a %h" "$D/f" && ls -a "$D"
sed -i.bak "s/beta/BETA/" "$D/f" && cat "$D/f" "$D/f.bak"
sed -i --follow-symlinks "s/ALPHA/A/" "$D/l" && stat -c "%F" "$D/l" && cat "$D/f"
sed -i "s/A/a/" "$D/l" && stat -c "%F" "$D/l"; ls -a "$D"'
compare_with_native "install -m, -d, -D, -t" '
printf "#!/bin/sh\necho hi\n" > "$D/src"
install -m 750 "$D/src" "$D/dst" && install -d -m 700 "$D/d1/d2" && install -D -m 640 "$D/src" "$D/p/q/r"
install -t "$D/d1" "$D/src" && "$TREE_DIGEST" "$D" && "$D/dst"'
compare_with_native "mktemp -d, mktemp -p, TMPDIR in the mount" '
t=$(mktemp -d "$D/tmp.XXXXXX") && case $t in "$D"/tmp.??????) echo "mktemp -d ok";; esac && stat -c "%F %a" "$t"
f=$(mktemp -p "$D") && stat -c "%F %a %s" "$f" && case $f in "$D"/tmp.*) echo "-p ok";; esac
g=$(TMPDIR="$D/tmp.none" mktemp 2>/dev/null); echo "missing tmpdir status $?"
h=$(TMPDIR=$t mktemp) && case $h in "$t"/tmp.*) echo "TMPDIR ok";; esac; ls "$D" | wc -l'
compare_with_native "mkdir -p new and existing, relative from a cwd in the mount" '
mkdir -p "$D/a/b/c" && mkdir -p "$D/a/b" && echo "again ok" && mkdir -p -m 700 "$D/m/n" && stat -c "%n %a" "$D/m" "$D/m/n"
cd "$D" && mkdir -p x/y/z && mkdir -p x/y && mkdir -p ./x/../w/v && "$TREE_DIGEST" .
touch file && mkdir -p file/sub; echo "status $?"; mkdir -p a/b/c/; mkdir -pv q/r'

# --- the shell ----------------------------------------------------------------
compare_with_native "bash cd, pwd, globbing, >>, here-docs, redirections" '
bash -c '\''
set -u
cd "$D" && pwd && mkdir -p a/b && cd a && pwd && cd b && pwd && cd ../.. && pwd
echo one >> f; echo two >> f; cat f; : > empty; echo x > a/b/g; echo y > a/h
cat <<END > doc
line $((1 + 1))
END
cat doc; cat <<< "here-string" > hs; cat hs
echo * ; echo */* ; echo a/*/* ; echo nomatch*; shopt -s nullglob; echo nomatch*; shopt -s globstar; echo **/g
shopt -s dotglob; : > .hid; echo *
ln -s a/b lb && cd lb && pwd && pwd -P && cd .. && pwd
cd "$D/a" && cd - >/dev/null && pwd; echo "$OLDPWD"
exec 3> "$D/fd3"; echo via-fd3 >&3; exec 3>&-; cat "$D/fd3"
while read -r l; do echo "read: $l"; done < f
[[ -d a && -f f && -L lb && ! -e nothing ]] && echo tests-ok
cd nothing; echo "status $?"
'\'' 2>&1 | sed "s|$D|\$D|g"'
compare_with_native "sh -c in a cwd in the mount: relative redirects, subshells, exec" '
cd "$D" && echo a > rel && (cd .. && cd "$D" && cat rel) && sh -c "cat rel; pwd" | sed "s|$D|\$D|" && ls'

# --- python3 --------------------------------------------------------------------
# The script is a file outside the mount; it gets the dir as an argument.
cat >"$tmp/py_scenario.py" <<'PYEOF'
import os, sys, shutil, tempfile, pathlib, hashlib, stat
D = sys.argv[1]
def r(p): return p.replace(D, "$D")
def j(*a): return os.path.join(D, *a)
with open(j("p.txt"), "w") as f: f.write("hello\n")
with open(j("p.txt"), "a") as f: f.write("more\n")
print(open(j("p.txt")).read().split())
try: open(j("p.txt"), "x")
except FileExistsError as e: print("x:", type(e).__name__)
with open(j("p.txt"), "r+b") as f: f.seek(1); f.write(b"E"); f.seek(0); print("r+b", f.read(5))
for root, dirs, files in sorted(os.walk(j("t"))):
    print("walk", r(root), sorted(dirs), sorted(files))
for root, dirs, files in sorted(os.walk(j("t"), followlinks=True)):
    print("walkL", r(root), sorted(files))
with os.scandir(j("t")) as it:
    for e in sorted(it, key=lambda e: e.name):
        print("scan", e.name, e.is_dir(), e.is_file(), e.is_symlink(), e.is_dir(follow_symlinks=False),
              e.inode() == os.lstat(e.path).st_ino)
shutil.copytree(j("t"), j("t2"), symlinks=True)
print("copytree", sorted(os.listdir(j("t2"))))
shutil.copy2(j("t", "f1"), j("c2"))
print("copy2 mtime", os.stat(j("c2")).st_mtime_ns == os.stat(j("t", "f1")).st_mtime_ns)
shutil.rmtree(j("t2")); print("rmtree", os.path.exists(j("t2")))
shutil.move(j("c2"), j("t", "a"))
fd, name = tempfile.mkstemp(dir=D, suffix=".tmp"); os.write(fd, b"tmp"); os.close(fd)
print("mkstemp", oct(stat.S_IMODE(os.stat(name).st_mode)), os.path.getsize(name))
with tempfile.TemporaryDirectory(dir=D) as td:
    open(os.path.join(td, "in"), "w").close(); print("tempdir", os.listdir(td))
print("tempdir gone", os.path.exists(td))
with tempfile.NamedTemporaryFile(dir=D) as nt:
    nt.write(b"x"); nt.flush(); print("named", os.path.getsize(nt.name))
os.replace(name, j("p.txt")); print("replace", open(j("p.txt")).read())
try: os.replace(j("t"), j("p.txt"))
except OSError as e: print("replace dir over file:", os.strerror(e.errno))
p = pathlib.Path(D)
print("glob", sorted(str(x.relative_to(p)) for x in p.glob("t/*")))
print("rglob", sorted(str(x.relative_to(p)) for x in p.rglob("f*")))
(p / "n1" / "n2").mkdir(parents=True); (p / "n1" / "n2").mkdir(parents=True, exist_ok=True)
try: (p / "n1").mkdir()
except FileExistsError: print("mkdir exists")
(p / "n1" / "t.txt").write_text("text")
print("pathlib", (p / "n1" / "t.txt").read_text(), (p / "n1" / "t.txt").stat().st_size)
print("resolve", r(str((p / "t" / "rel").resolve())), (p / "t" / "dangling").exists(), (p / "t" / "dangling").is_symlink())
os.chdir(D); print("cwd", r(os.getcwd()), os.path.exists("t/f1"), sorted(os.listdir(".")))
os.chdir("t/a"); print("rel", r(os.path.abspath("f2")), open("f2").read().strip(), r(os.path.realpath("up")))
print("samefile", os.path.samefile(j("t", "f1"), j("t", "hard")))
os.symlink("f1", j("t", "py")); print("readlink", os.readlink(j("t", "py")))
os.utime(j("t", "f1"), ns=(1, 2)); print("utime", os.stat(j("t", "f1")).st_mtime_ns)
os.chmod(j("t", "f1"), 0o640); print("chmod", oct(os.stat(j("t", "f1")).st_mode))
os.truncate(j("t", "f1"), 2); print("truncate", open(j("t", "f1"), "rb").read())
os.setxattr(j("t", "f1"), "user.k", b"v"); print("xattr", os.listxattr(j("t", "f1")), os.getxattr(j("t", "f1"), "user.k"))
st = os.statvfs(D); print("statvfs sane", st.f_bsize > 0 and st.f_blocks >= st.f_bfree)
h = hashlib.sha256()
for root, dirs, files in sorted(os.walk(D)):
    for f in sorted(files):
        fp = os.path.join(root, f)
        if os.path.isfile(fp) and not os.path.islink(fp):
            h.update(r(fp).encode()); h.update(open(fp, "rb").read())
print("digest", h.hexdigest()[:16])
PYEOF
compare_with_native "python3: open, os.walk, os.scandir, shutil, tempfile, os.replace, pathlib" "$mk"'
cd / && python3 "'"$tmp/py_scenario.py"'" "$D"'
compare_with_native "python3 with a cwd in the mount" '
cd "$D" && python3 -c "import os; os.makedirs(\"a/b\"); open(\"a/b/f\", \"w\").write(\"x\"); print(sorted(os.listdir(\"a\")), os.getcwd() == os.environ[\"D\"], os.path.getsize(\"a/b/f\"))"'

finish

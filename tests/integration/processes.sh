#!/usr/bin/env bash
# Process-heavy programs in the mount, each compared with the same snippet in
# a plain temp dir (compare_with_native: stdout, stderr and exit status must
# match, with $D normalised): git (init, commit, branch, merge, gc, fsck,
# clone), sqlite3 with concurrent writer processes (rollback journal and WAL),
# make -j2 building and rerunning a C program, a bash script stored in the
# mount run three ways, python3 compileall and subprocess with inherited fds
# and a trimmed environment.
source "$(dirname -- "$0")/lib.sh"
start_server

# --- git ----------------------------------------------------------------------
# Fixed identity and dates, no user or system config: the hashes are the same
# wherever the repository lives.
git_env='export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME=/nonexistent
export GIT_AUTHOR_NAME=Tester GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=Tester GIT_COMMITTER_EMAIL=t@example.org
export GIT_AUTHOR_DATE="2001-02-03T04:05:06Z" GIT_COMMITTER_DATE="2001-02-03T04:05:06Z"
'
compare_with_native "git: init, add, commit, branch, checkout, fast-forward and real merge, status, fsck" "$git_env"'
cd "$D" && git init -q -b main r && cd r || exit 1
printf "alpha\n" > a.txt; mkdir -p src/lib; printf "int x;\n" > src/lib/x.c; printf "readme\n" > README
git add . && git commit -q -m first && echo "commit 1: $?"
git checkout -q -b feature && printf "beta\n" >> a.txt && git commit -q -am "feature work" && echo "feature: $?"
git checkout -q main && git merge -q feature && echo "ff merge: $?"
git log --oneline
git checkout -q -b side && printf "side\n" > side.txt && git add side.txt && git commit -q -m side
git checkout -q main && printf "int y;\n" > src/lib/y.c && git add src && git commit -q -m "main work"
git merge -q --no-edit side && echo "real merge: $?"
git log --oneline --graph; git log --format="%H %P" | head -1 | wc -w
git branch; git rev-parse HEAD^{tree}
git status --short; echo untracked > u.txt; printf "gamma\n" >> a.txt; rm README; git status --short
git stash -q && git status --short && git stash pop -q && git status --short
git checkout -q -- a.txt README && git status --short
git mv src/lib/x.c src/x.c && git commit -q -m move && git show --stat --format=%s HEAD
git tag v1 && git describe --tags
git fsck --strict --no-progress && echo "fsck ok"
git gc -q && git count-objects -v | grep -E "^(count|in-pack|packs)"
git fsck --no-progress && echo "fsck after gc ok"; git log --oneline | wc -l
ls .git/objects/pack | sed "s/pack-[0-9a-f]*/pack-X/" | sort
find .git -name "*.lock"'
compare_with_native "git: clone from the mount to the mount, log, status, fetch, push" "$git_env"'
cd "$D" && git init -q -b main r && cd r || exit 1
for i in 1 2 3; do echo "$i" > "f$i"; git add "f$i"; git commit -q -m "c$i"; done
git clone -q "$D/r" "$D/c" && echo "clone: $?"
git -C "$D/c" log --oneline; git -C "$D/c" status --short; git -C "$D/c" branch -a
git -C "$D/c" fsck --no-progress && echo "clone fsck ok"
stat -c "%h" "$D/c/.git/objects/info" >/dev/null && echo "objects dir ok"
echo 4 > f4 && git add f4 && git commit -q -m c4 && git -C "$D/c" pull -q && git -C "$D/c" log --oneline | head -1
cd "$D/c" && echo 5 > f5 && git add f5 && git commit -q -m c5 && git push -q origin HEAD:refs/heads/pushed 2>&1
git -C "$D/r" log --oneline pushed | head -1
git clone -q --bare "$D/r" "$D/bare.git" && git -C "$D/bare.git" rev-parse main
git clone -q --no-local "$D/r" "$D/c2" && git -C "$D/c2" rev-parse HEAD'

# --- sqlite3 --------------------------------------------------------------------
# Four writer processes, each inserting 200 rows in 200 transactions, on one
# database: locks are fcntl locks on the shared file (and, in WAL mode, on the
# -shm file, which every process also maps). BEGIN IMMEDIATE takes the write
# lock up front, where the busy timeout applies: a deferred transaction can
# fail at once with "database is locked" on any filesystem, tmpfs included.
sqlite_snippet() {  # JOURNAL_MODE
  printf '%s' '
cd "$D" && sqlite3 db "pragma journal_mode='"$1"'; create table t(w integer, i integer, pad text);" || exit 1
for w in 1 2 3 4; do
  (echo ".timeout 60000"; i=1; while [ $i -le 200 ]; do echo "begin immediate; insert into t values($w, $i, hex(randomblob(40))); commit;"; i=$((i + 1)); done) |
    sqlite3 -bail db > "out$w" 2>&1 &
done
wait
cat out1 out2 out3 out4
sqlite3 db "pragma journal_mode; pragma integrity_check; select count(*) from t; select w, count(*), sum(i) from t group by w;"
ls'
}
compare_with_native "sqlite3: 4 concurrent writer processes, journal_mode DELETE" "$(sqlite_snippet delete)"
compare_with_native "sqlite3: 4 concurrent writer processes, journal_mode WAL" "$(sqlite_snippet wal)"

# --- make -j2 and gcc -------------------------------------------------------------
make_tree='cd "$D" || exit 1
cat > util.h <<"X"
int add(int a, int b);
int mul(int a, int b);
X
cat > main.c <<"X"
#include <stdio.h>
#include "util.h"
int main(void) { printf("add=%d mul=%d\n", add(2, 3), mul(4, 5)); return 0; }
X
cat > add.c <<"X"
#include "util.h"
int add(int a, int b) { return a + b; }
X
cat > mul.c <<"X"
#include "util.h"
int mul(int a, int b) { return a * b; }
X
printf "CC = gcc\nCFLAGS = -O1\nOBJS = main.o add.o mul.o\nprog: \$(OBJS)\n\t\$(CC) -o \$@ \$(OBJS)\n%%.o: %%.c util.h\n\t\$(CC) \$(CFLAGS) -c -o \$@ \$<\nclean:\n\trm -f prog \$(OBJS)\n" > Makefile
'
compare_with_native "make -j2 builds a C program with gcc; it runs from the mount; touch rebuilds one object" "$make_tree"'
make -j2 > build.log 2>&1; echo "make: $?"; sort build.log
"$D/prog"; ./prog; ls
make; echo "again: $?"; make -q; echo "make -q: $?"
sleep 0.05; touch add.c; make -q; echo "make -q after touch: $?"; make -j2; echo "rebuild: $?"; "$D/prog"
touch util.h; make -j2 > b2.log; sort b2.log
make clean && ls'

# --- a bash script stored in the mount ------------------------------------------------
script='cat > "$D/script.sh" <<"X"
#!/bin/bash
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
rm -rf work && mkdir -p work/sub/deeper
seq 1 200 | grep 7 | sort -rn | head -n 4 > work/pipe.txt
cat work/pipe.txt | tr "\n" " " | sed "s/ $//" > work/joined.txt
( cd work/sub && pwd > ../subshell-pwd.txt && echo "inside" > here.txt )
for i in 1 2 3 4; do
  ( seq 1 $((i * 1000)) | wc -l > "work/bg$i.txt"; echo "job $i" >> work/jobs.log ) &
done
wait
total=0; for i in 1 2 3 4; do total=$((total + $(cat "work/bg$i.txt"))); done
echo "background total: $total, jobs logged: $(wc -l < work/jobs.log)"
cd work/sub/deeper && pwd && cd ../.. && pwd
echo "pipe: $(cat pipe.txt) joined: $(cat joined.txt)"
echo "subshell pwd: $(cat subshell-pwd.txt), $(cat sub/here.txt)"
echo "args: $# $*"
{ echo a; echo b; } | while read -r l; do echo "read $l"; done
exec 3> fd3.txt; echo "via fd 3" >&3; exec 3>&-; cat fd3.txt
"$here/helper.sh" nested
X
cat > "$D/helper.sh" <<"X"
#!/bin/sh
echo "helper: $1 from $(basename "$(pwd)")"
X
chmod +x "$D/script.sh" "$D/helper.sh"
'
compare_with_native "bash script in the mount: run by path, via PATH (sh and execvp), as ./script.sh" "$script"'
echo "== by path"; "$D/script.sh" one two
echo "== via PATH"; PATH="$D:$PATH" script.sh three
echo "== via PATH, execvp"; PATH="$D:$PATH" env script.sh four
echo "== cd and ./"; cd "$D" && ./script.sh five; pwd
echo "== command -v"; PATH="$D:$PATH" command -v script.sh
echo "== bash script.sh"; bash "$D/script.sh" six
ls "$D/work"'

# --- python3 ----------------------------------------------------------------------------
compare_with_native "python3 -m compileall, then import from the pycache" '
mkdir -p "$D/pkg/sub" && printf "X = 1\n" > "$D/pkg/__init__.py" && printf "def f():\n    return 42\n" > "$D/pkg/mod.py"
printf "" > "$D/pkg/sub/__init__.py" && printf "Y = \"sub\"\n" > "$D/pkg/sub/deep.py"
python3 -m compileall -q "$D/pkg"; echo "compileall: $?"
find "$D/pkg" -path "*__pycache__*" | sed "s|^$D/||" | sort
cd "$D" && python3 -c "import pkg.mod, pkg.sub.deep, sys; print(pkg.mod.f(), pkg.sub.deep.Y, pkg.mod.__cached__.endswith(\".pyc\"))"
python3 -m compileall -q "$D/pkg"; echo "second compileall: $?"; find "$D/pkg" -name "*.pyc" | wc -l'
cat >"$tmp/py_subprocess.py" <<'PYEOF'
import os, stat, subprocess, sys
D = sys.argv[1]
p = os.path.join(D, "inherited.txt")
fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o640)
os.write(fd, b"parent;")
child = r'''
import os, stat, sys
fd = int(sys.argv[1])
os.write(fd, b"child;")
st = os.fstat(fd)
print("child fstat:", st.st_size, stat.S_ISREG(st.st_mode), st.st_nlink, oct(stat.S_IMODE(st.st_mode)),
      st.st_ino == os.stat(sys.argv[2]).st_ino, os.get_inheritable(fd))
'''
r = subprocess.run([sys.executable, "-c", child, str(fd), p], pass_fds=[fd])
print("child status", r.returncode)
os.write(fd, b"parent2;")
print("content:", open(p).read(), "offset:", os.lseek(fd, 0, os.SEEK_CUR))
# A non-inheritable fd is closed in the child.
fd2 = os.open(p, os.O_RDONLY)
r = subprocess.run([sys.executable, "-c", "import os, sys\ntry:\n os.fstat(int(sys.argv[1])); print('open')\nexcept OSError as e: print('closed', e.errno)", str(fd2)])
# Trimmed environments: the child still sees the mount.
for env in ({}, {"PATH": "/usr/bin:/bin"}):
    r = subprocess.run([sys.executable, "-c", "import sys, os; print(open(sys.argv[1]).read(), sorted(os.listdir(os.path.dirname(sys.argv[1]))))", p],
                       env=env, capture_output=True, text=True)
    print("env", sorted(env), r.returncode, r.stdout.strip(), r.stderr.strip())
r = subprocess.run(["cat", p], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
print("cat with trimmed env:", r.returncode, r.stdout, r.stderr.strip())
r = subprocess.run(["/bin/sh", "-c", 'echo "$(pwd)" > from-sh.txt; ls'], cwd=D, env={}, capture_output=True, text=True)
print("sh in cwd with empty env:", r.returncode, r.stdout.split(), r.stderr.strip(), open(os.path.join(D, "from-sh.txt")).read().strip().replace(D, "$D"))
r = subprocess.run(["pwd"], cwd=D, capture_output=True, text=True)
print("pwd child:", r.stdout.strip().replace(D, "$D"))
# os.fork + os.execv with an inherited fd and the mount cwd.
os.chdir(D)
os.set_inheritable(fd, True)
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-c", "import os, sys; os.write(int(sys.argv[1]), b'execv;'); print('execv cwd', os.getcwd() == sys.argv[2], os.path.exists('inherited.txt'))", str(fd), D])
_, status = os.waitpid(pid, 0)
print("execv status", os.waitstatus_to_exitcode(status), open(p).read())
# Popen of a script stored in the mount, reading from a pipe.
with open(os.path.join(D, "rev.py"), "w") as f:
    f.write("#!" + sys.executable + "\nimport sys\nfor l in sys.stdin: print(l.strip()[::-1])\n")
os.chmod(os.path.join(D, "rev.py"), 0o755)
out = subprocess.run([os.path.join(D, "rev.py")], input="abc\nxyz\n", capture_output=True, text=True)
print("script in mount:", out.returncode, out.stdout.split(), out.stderr.strip())
out = subprocess.run(["./rev.py"], input="cwd\n", capture_output=True, text=True)
print("./script:", out.returncode, out.stdout.split())
PYEOF
compare_with_native "python3 subprocess: pass_fds, fstat of the inherited fd, trimmed env, cwd, fork+execv, scripts in the mount" '
cd / && python3 "'"$tmp/py_subprocess.py"'" "$D"'

# Python's subprocess runs its child in a vfork: the child's closes (all fds
# past 2) and its dup2 of a mount file onto stdout happen in the parent's
# memory. The parent's mount fds must keep what they are, and the child's
# stdout must be the mount file it was given.
cat >"$tmp/py_vfork.py" <<'PYEOF'
import os, subprocess, sys
d = sys.argv[1]
out = os.open(d + "/out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
keep = os.open(d + "/keep", os.O_RDWR | os.O_CREAT, 0o604)
dirfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
child = "import os, sys; st = os.fstat(1); print(st.st_nlink, oct(st.st_mode), flush=True)"
for _ in range(3):
    subprocess.run([sys.executable, "-c", child], stdout=out, check=True)
    subprocess.run(["true"], check=True)
for fd in (out, keep, dirfd):
    st = os.fstat(fd)
    print(st.st_nlink, oct(st.st_mode))
print(sorted(os.listdir(dirfd)))
with open(d + "/out") as f:
    print(f.read(), end="")
PYEOF
compare_with_native "python3 subprocess (a vfork child) leaves the parent's mount fds alone; a mount file as its stdout" '
cd / && python3 "'"$tmp/py_vfork.py"'" "$D"'

finish

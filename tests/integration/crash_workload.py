"""Crash test driver, run under the shim by crash.sh.

Serves a state directory with userfsd, runs a mixed workload from several
worker processes (each on its own subtree of the mount), kill -9s the
server at a random moment, checks the state directory with `userfs fsck`,
restarts the server on it and checks the subtree of every worker against a
model rebuilt from the worker's log: every acknowledged operation is there,
the one operation in flight at the kill is applied entirely or not at all,
and every file's contents match. Then again, until the time budget is
spent. Some rounds also kill the restarting server before it answers
(fsck must still pass). Earlier subtrees are checked again every few
rounds and at the end, after a clean stop and start too.

Each worker logs to its own file outside the mount, with write(2): "I seq
op args" before it issues an operation and "A seq" once the call returned.
Every logged operation is one request to the server (or, for a write, no
request at all), so "in flight" has one meaning.

usage: crash_workload.py USERFSD LAUNCHER SOCKET STATE MOUNT LOGDIR
       BUDGET_SECONDS WORKERS SEED
Prints one line per problem ("FAIL ...") and a summary; exits 0 if none.
"""
import errno
import faulthandler
import hashlib
import os
import random
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import traceback

SERVER_GONE = (errno.ENOTCONN, errno.EIO)
UMASK = 0o022
XATTR = "user.k"


class Gone(Exception):
    """The server stopped answering: this worker's round is over."""


# ---------------------------------------------------------------------------
# The model: what a worker's subtree must hold after a list of operations.

class Model:
    """Paths (relative to the subtree) to inodes; an inode is a dict with
    type ('f', 'd', 'l'), mode, data (bytes), target (symlinks), xattr."""

    def __init__(self):
        self.paths = {}  # the subtree root is "" once made
        self.next_id = 0

    def copy(self):
        m = Model()
        m.next_id = self.next_id
        inodes = {}
        for p, ino in self.paths.items():
            if id(ino) not in inodes:
                inodes[id(ino)] = dict(ino)
            m.paths[p] = inodes[id(ino)]
        return m

    def _new(self, kind, mode, **kw):
        self.next_id += 1
        ino = {"id": self.next_id, "type": kind, "mode": mode, "data": b"", "target": None, "xattr": None}
        ino.update(kw)
        return ino

    def children(self, d):
        prefix = d + "/" if d else ""
        return [p for p in self.paths if p != d and p.startswith(prefix) and "/" not in p[len(prefix):]]

    def apply(self, op, args):
        """Applies one operation as the server would. Returns nothing."""
        if op == "mkdir":
            self.paths[args[0]] = self._new("d", int(args[1], 8) & ~UMASK)
        elif op == "rmdir" or op == "unlink":
            del self.paths[args[0]]
        elif op == "create":
            self.paths[args[0]] = self._new("f", int(args[1], 8) & ~UMASK)
        elif op == "write":
            ino = self.paths[args[0]]
            off, n = int(args[1]), int(args[2])
            chunk = payload(args[3], n)
            data = ino["data"]
            if len(data) < off:
                data += b"\0" * (off - len(data))
            ino["data"] = data[:off] + chunk + data[off + n:]
        elif op == "truncate":
            ino = self.paths[args[0]]
            n = int(args[1])
            ino["data"] = ino["data"][:n] + b"\0" * max(0, n - len(ino["data"]))
        elif op == "rename":
            src, dst = args
            moved = {p: i for p, i in self.paths.items() if p == src or p.startswith(src + "/")}
            for p in moved:
                del self.paths[p]
            for p in [p for p in self.paths if p == dst or p.startswith(dst + "/")]:
                del self.paths[p]
            for p, i in moved.items():
                self.paths[dst + p[len(src):]] = i
        elif op == "link":
            self.paths[args[1]] = self.paths[args[0]]
        elif op == "symlink":
            self.paths[args[1]] = self._new("l", 0o777, target=args[0])
        elif op == "chmod":
            self.paths[args[0]]["mode"] = int(args[1], 8)
        elif op == "setxattr":
            self.paths[args[0]]["xattr"] = args[1].encode()
        elif op in ("fsync", "fsyncdir", "sync", "open"):
            pass  # no change to the namespace's contents
        else:
            raise ValueError("unknown op " + op)

    def view(self):
        """What the tree must look like: {path: (type, mode, size, digest
        or target, xattr)} and the groups of paths that share an inode."""
        out, groups = {}, {}
        for p, ino in self.paths.items():
            if ino["type"] == "f":
                out[p] = ("f", ino["mode"], len(ino["data"]), hashlib.sha256(ino["data"]).hexdigest(), ino["xattr"])
            elif ino["type"] == "d":
                out[p] = ("d", ino["mode"], None, None, ino["xattr"])
            else:
                out[p] = ("l", None, None, ino["target"], None)
            groups.setdefault(ino["id"], []).append(p)
        return out, sorted(sorted(g) for g in groups.values())


def payload(tag, n):
    """The bytes a write with this tag puts down: reproducible from the log."""
    seed = hashlib.sha256(tag.encode()).digest()
    return (seed * (n // len(seed) + 1))[:n]


def observe(root):
    """The real tree under root (through the shim), in Model.view's form.
    None if root does not exist."""
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return None
    out, by_ino = {}, {}

    def xattr(path):
        try:
            return os.getxattr(path, XATTR, follow_symlinks=False)
        except OSError as e:
            if e.errno in (errno.ENODATA, errno.ENOTSUP):
                return None
            raise

    def visit(rel, path, st):
        if stat.S_ISDIR(st.st_mode):
            out[rel] = ("d", stat.S_IMODE(st.st_mode), None, None, xattr(path))
            for name in sorted(os.listdir(path)):
                child = path + "/" + name
                visit(rel + "/" + name if rel else name, child, os.lstat(child))
        elif stat.S_ISLNK(st.st_mode):
            out[rel] = ("l", None, None, os.readlink(path), None)
        else:
            with open(path, "rb") as f:
                data = f.read()
            if len(data) != st.st_size:
                raise AssertionError(f"{path}: read {len(data)} bytes, stat says {st.st_size}")
            out[rel] = ("f", stat.S_IMODE(st.st_mode), st.st_size, hashlib.sha256(data).hexdigest(), xattr(path))
        by_ino.setdefault(st.st_ino, []).append(rel)

    visit("", root, st)
    # Hard links: every name of one inode shares its number, and its link
    # count says how many names it has (all of them inside the subtree).
    for ino, names in by_ino.items():
        st = os.lstat(root + "/" + names[0] if names[0] else root)
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink != len(names):
            raise AssertionError(f"{names}: nlink {st.st_nlink}, {len(names)} names")
    return out, sorted(sorted(g) for g in by_ino.values())


def read_log(path):
    """[(seq, op, args, acknowledged)] in order."""
    entries, acked = [], set()
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break  # the worker died mid-line: never happens with one write(2)
            parts = line.split()
            if parts[0] == "I":
                entries.append((int(parts[1]), parts[2], parts[3:]))
            elif parts[0] == "A":
                acked.add(int(parts[1]))
    return [(seq, op, args, seq in acked) for seq, op, args in entries]


def describe_diff(want, got):
    if got is None:
        return "the subtree is missing"
    lines = []
    w, g = want[0], got[0]
    for p in sorted(set(w) | set(g)):
        if w.get(p) != g.get(p):
            lines.append(f"  {p or '.'}: expected {w.get(p)}, found {g.get(p)}")
    if want[1] != got[1]:
        lines.append(f"  names per inode: expected {want[1]}, found {got[1]}")
    return "\n".join(lines[:12])


# ---------------------------------------------------------------------------
# A worker: one process, one subtree per round.

class Worker:
    def __init__(self, mount, logdir, index, seed):
        self.mount, self.logdir, self.index = mount, logdir, index
        self.rng = random.Random(seed)

    def run_round(self, rnd):
        self.root = f"{self.mount}/r{rnd}.w{self.index}"
        self.log = os.open(f"{self.logdir}/r{rnd}.w{self.index}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.seq = 0
        self.model = Model()
        self.tag = f"r{rnd}w{self.index}"
        done = 0
        try:
            self.step("mkdir", ["", "755"], lambda: os.mkdir(self.root, 0o755))
            while True:
                self.one_op()
                done += 1
        except Gone:
            return done
        finally:
            os.close(self.log)

    def path(self, rel):
        return self.root + "/" + rel if rel else self.root

    def step(self, op, args, call):
        """Logs the intent, makes the call, logs the acknowledgement, and
        applies the operation to this worker's own model."""
        self.seq += 1
        os.write(self.log, f"I {self.seq} {op} {' '.join(a or '.' for a in args)}\n".encode())
        try:
            call()
        except OSError as e:
            if e.errno in SERVER_GONE:
                raise Gone()
            raise AssertionError(f"{op} {args}: {e}") from None
        os.write(self.log, f"A {self.seq}\n".encode())
        self.model.apply(op, args)

    # Names: a few per subtree so that operations collide often.
    def pick(self, kind=None, exists=True):
        m = self.model.paths
        if exists:
            cands = [p for p, i in m.items() if p and (kind is None or i["type"] == kind)]
            return self.rng.choice(cands) if cands else None
        dirs = [p for p, i in m.items() if i["type"] == "d"]
        parent = self.rng.choice(dirs)
        for _ in range(8):
            name = (parent + "/" if parent else "") + self.rng.choice("abcdefgh") + str(self.rng.randrange(4))
            if name not in m:
                return name
        return None

    def one_op(self):
        r = self.rng.random()
        m = self.model.paths
        if r < 0.14:
            name = self.pick(exists=False)
            if name:
                self.create_and_write(name)
        elif r < 0.30:
            f = self.pick("f")
            if f:
                self.write_existing(f)
        elif r < 0.40:
            name = self.pick(exists=False)
            if name and name.count("/") < 3:
                self.step("mkdir", [name, "755"], lambda: os.mkdir(self.path(name), 0o755))
        elif r < 0.47:
            d = self.pick("d")
            if d and not self.model.children(d):
                self.step("rmdir", [d], lambda: os.rmdir(self.path(d)))
        elif r < 0.60:
            src = self.pick()
            dst = self.pick(exists=False) if self.rng.random() < 0.6 else self.pick("f")
            if src and dst and src != dst and not dst.startswith(src + "/"):
                s, d = m[src], m.get(dst)
                if d is None or (s["type"] != "d" and d["type"] == "f" and d is not s):
                    self.step("rename", [src, dst], lambda: os.rename(self.path(src), self.path(dst)))
        elif r < 0.68:
            f = self.pick()
            if f and m[f]["type"] != "d":
                self.step("unlink", [f], lambda: os.unlink(self.path(f)))
        elif r < 0.74:
            f, name = self.pick("f"), self.pick(exists=False)
            if f and name:
                self.step("link", [f, name], lambda: os.link(self.path(f), self.path(name)))
        elif r < 0.79:
            name = self.pick(exists=False)
            if name:
                target = "t" + str(self.seq)
                self.step("symlink", [target, name], lambda: os.symlink(target, self.path(name)))
        elif r < 0.86:
            f = self.pick("f") if self.rng.random() < 0.8 else self.pick("d")
            if f:
                # The owner keeps what later operations need (as non-root):
                # writing files, searching and writing directories.
                modes = ["600", "644", "640", "755", "700"] if m[f]["type"] == "f" else ["755", "700", "711"]
                mode = self.rng.choice(modes)
                self.step("chmod", [f, mode], lambda: os.chmod(self.path(f), int(mode, 8)))
        elif r < 0.92:
            f = self.pick("f")
            if f:
                n = self.rng.randrange(0, 9000)
                self.step("truncate", [f, str(n)], lambda: os.truncate(self.path(f), n))
        elif r < 0.97:
            f = self.pick("f") if self.rng.random() < 0.7 else self.pick("d")
            if f:
                value = f"v{self.seq}"
                self.step("setxattr", [f, value],
                          lambda: os.setxattr(self.path(f), XATTR, value.encode(), follow_symlinks=False))
        else:
            d = self.pick("d") or ""
            self.fsync_dir(d)

    def create_and_write(self, name):
        fd = None

        def create():
            nonlocal fd
            fd = os.open(self.path(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            self.step("create", [name, "666"], create)
            self.write_and_maybe_sync(name, fd)
        finally:
            if fd is not None:
                os.close(fd)

    def write_existing(self, f):
        fd = None
        flags = os.O_WRONLY

        def reopen():
            nonlocal fd
            fd = os.open(self.path(f), flags)
        try:
            self.step("open", [f], reopen)
            self.write_and_maybe_sync(f, fd)
        finally:
            if fd is not None:
                os.close(fd)

    def write_and_maybe_sync(self, name, fd):
        for _ in range(self.rng.randrange(1, 4)):
            off = self.rng.randrange(0, 12000)
            n = self.rng.randrange(1, 6000)
            tag = f"{self.tag}s{self.seq + 1}"
            data = payload(tag, n)
            # Data goes to the kernel: no request, so it cannot be lost to
            # the server's death once pwrite returned.
            self.step("write", [name, str(off), str(n), tag], lambda: os.pwrite(fd, data, off))
        choice = self.rng.random()
        if choice < 0.25:
            self.step("fsync", [name], lambda: os.fsync(fd))
        elif choice < 0.35:
            self.step("fsync", [name], lambda: os.fdatasync(fd))

    def fsync_dir(self, d):
        if self.rng.random() < 0.5:
            self.step("sync", [d], os.sync)
            return
        fd = None

        def sync_dir():
            nonlocal fd
            fd = os.open(self.path(d), os.O_RDONLY | os.O_DIRECTORY)
            os.fsync(fd)
        try:
            self.step("fsyncdir", [d], sync_dir)
        finally:
            if fd is not None:
                os.close(fd)


def worker_main(mount, logdir, index, seed, cmd_fd, report_fd):
    faulthandler.enable()
    os.umask(UMASK)
    w = Worker(mount, logdir, index, seed)
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = os.read(cmd_fd, 256)
            if not chunk:
                return 0
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        words = line.decode().split()
        if words[0] == "quit":
            return 0
        try:
            done = w.run_round(int(words[1]))
            os.write(report_fd, f"done {index} {done}\n".encode())
        except AssertionError as e:
            os.write(report_fd, f"error {index} {str(e).replace(chr(10), ' ')}\n".encode())
        except Exception as e:  # a bug in the worker itself
            where = traceback.extract_tb(e.__traceback__)[-1]
            os.write(report_fd, f"error {index} {type(e).__name__}: {e} (line {where.lineno}: {where.line})\n".encode())


# ---------------------------------------------------------------------------
# The driver.

class Driver:
    def __init__(self, argv):
        (self.userfsd, self.launcher, self.sock, self.state, self.mount, self.logdir, budget, workers,
         seed) = argv
        self.budget = float(budget)
        self.nworkers = int(workers)
        self.rng = random.Random(int(seed))
        self.seed = int(seed)
        self.server = None
        self.failures = 0
        self.expected = {}  # subtree -> observed view, checked again later
        self.server_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("USERFS_")}
        self.pidfile = os.path.join(self.logdir, "server.pid")
        self.stats = {"rounds": 0, "acked": 0, "in_flight_applied": 0, "in_flight_not_applied": 0,
                      "fsck": 0, "full_checks": 0, "start_kills": 0}

    def fail(self, what, detail=""):
        self.failures += 1
        print(f"FAIL {what}" + (f"\n{detail}" if detail else ""), flush=True)

    def launch_server(self):
        self.server = subprocess.Popen(
            [self.userfsd, "--socket", self.sock, "--state", self.state, "--journal-max", "65536"],
            stdin=subprocess.DEVNULL, stdout=self.server_log, stderr=subprocess.STDOUT, env=self.server_env)
        with open(self.pidfile, "w") as f:
            f.write(str(self.server.pid))

    def answers_hello(self):
        """True once the server answers a hello (its socket may accept
        connections before its state is loaded)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(2)
        try:
            s.connect(self.sock)
            s.send(struct.pack("=IHHIIQII", 0x53465355, 1, 0, 8, 0, 1, 4, 0))  # hello, protocol 4
            reply = s.recv(256)
            return len(reply) >= 24 and struct.unpack_from("=IHHIiQ", reply)[4] == 0
        except OSError:
            return False
        finally:
            s.close()

    def start_server(self):
        self.launch_server()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"userfsd exited with {self.server.returncode} on start")
            if self.answers_hello():
                return
            time.sleep(0.002)
        raise RuntimeError("userfsd did not answer within 10 s")

    def kill_server(self, sig=signal.SIGKILL):
        self.server.send_signal(sig)
        self.server.wait()
        self.server = None

    def fsck(self, via_launcher):
        self.stats["fsck"] += 1
        cmd = [self.launcher, "fsck", self.state] if via_launcher else [self.userfsd, "--fsck", self.state]
        env = dict(self.server_env, USERFS_BUILD_DIR=os.path.dirname(os.path.dirname(self.userfsd)))
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        if r.returncode != 0:
            self.fail(f"round {self.stats['rounds']}: {' '.join(cmd[:2])} exits 0 after kill -9 (got {r.returncode})",
                      r.stdout[-2000:])

    def check_round(self, rnd, worker):
        """The worker's subtree against its log: everything acknowledged,
        the operation in flight all or nothing."""
        sub = f"r{rnd}.w{worker}"
        entries = read_log(f"{self.logdir}/{sub}.log")
        model = Model()
        pending = None
        for i, (seq, op, args, acked) in enumerate(entries):
            args = ["" if a == "." else a for a in args]
            if acked:
                model.apply(op, args)
                self.stats["acked"] += 1
            elif i == len(entries) - 1:
                pending = (op, args)
            else:
                self.fail(f"{sub}: log has an unacknowledged operation before the last", str(entries[i]))
        root = f"{self.mount}/{sub}"
        got = observe(root)
        candidates = [("not applied", model.view() if "" in model.paths else None)]
        if pending:
            after = model.copy()
            after.apply(*pending)
            candidates.append(("applied", after.view()))
        for label, want in candidates:
            if want == got:
                if pending:
                    self.stats["in_flight_" + label.replace(" ", "_")] += 1
                if got is not None:
                    self.expected[sub] = got
                return
        self.fail(f"round {rnd}: {sub} matches its log (in flight: {pending})",
                  "\n".join(f" if {label}:\n{describe_diff(want, got) if want else '  (no subtree)'}"
                            for label, want in candidates))
        if got is not None:
            self.expected[sub] = got

    def check_all(self, why, sample=None):
        """Every subtree checked so far (or a random sample of them) is as
        it was when checked."""
        self.stats["full_checks"] += 1
        subs = sorted(self.expected)
        if sample is not None and len(subs) > sample:
            subs = self.rng.sample(subs, sample)
        for sub in subs:
            want = self.expected[sub]
            got = observe(f"{self.mount}/{sub}")
            if got != want:
                self.fail(f"{why}: {sub} unchanged since it was checked", describe_diff(want, got))

    def reaped(self, pid, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return True
            except ChildProcessError:
                return True  # reaped already
            time.sleep(0.01)
        return False

    def dump_workers(self, workers, rnd):
        """Where stuck workers are: their kernel state and their log's tail."""
        for i, (pid, _, _) in enumerate(workers):
            info = []
            for name in ("wchan", "syscall"):
                try:
                    with open(f"/proc/{pid}/{name}") as f:
                        info.append(f"{name}: {f.read().strip()}")
                except OSError as e:
                    info.append(f"{name}: {e}")
            try:
                with open(f"{self.logdir}/r{rnd}.w{i}.log") as f:
                    tail = f.readlines()[-3:]
            except OSError:
                tail = []
            print(f"worker {i} (pid {pid}): {'; '.join(info)}; log ends: {''.join(tail).strip()!r}", flush=True)

    def run(self):
        self.server_log = open(os.path.join(self.logdir, "userfsd.log"), "a")
        workers = []
        for i in range(self.nworkers):
            cmd_r, cmd_w = os.pipe()
            rep_r, rep_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(cmd_w)
                os.close(rep_r)
                code = 1
                try:
                    code = worker_main(self.mount, self.logdir, i, self.seed * 1000 + i, cmd_r, rep_w)
                except BaseException:
                    traceback.print_exc()
                finally:
                    os._exit(code)
            os.close(cmd_r)
            os.close(rep_w)
            workers.append((pid, cmd_w, rep_r))
        try:
            self.start_server()
            start = time.monotonic()
            rnd = 0
            while time.monotonic() - start < self.budget and self.failures < 5:
                for _, cmd_w, _ in workers:
                    os.write(cmd_w, f"go {rnd}\n".encode())
                # Most kills land while the workers are busy; a few right
                # at the start of a round.
                time.sleep(self.rng.choice([0.0, 0.002]) if self.rng.random() < 0.1 else self.rng.uniform(0.01, 0.2))
                self.kill_server()
                for pid, _, rep_r in workers:
                    ready, _, _ = select.select([rep_r], [], [], 20)
                    if not ready:
                        self.dump_workers(workers, rnd)
                        raise RuntimeError(f"worker {pid} did not stop within 20 s of the kill")
                    line = os.read(rep_r, 4096).decode().strip()
                    if not line:
                        _, status = os.waitpid(pid, 0)
                        raise RuntimeError(f"round {rnd}: worker {pid} died: "
                                           + (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                                              else f"exit {os.WEXITSTATUS(status)}"))
                    if not line.startswith("done"):
                        self.fail(f"round {rnd}: worker reports {line}")
                if rnd % 4 == 0:
                    self.fsck(via_launcher=(rnd % 8 == 0))
                if self.rng.random() < 0.15:
                    # A kill while the server starts (replaying the journal,
                    # writing its snapshot) must leave a state it recovers.
                    self.launch_server()
                    time.sleep(self.rng.uniform(0, 0.02))
                    self.kill_server()
                    self.stats["start_kills"] += 1
                    self.fsck(via_launcher=False)
                self.start_server()
                for i in range(self.nworkers):
                    self.check_round(rnd, i)
                rnd += 1
                self.stats["rounds"] = rnd
                if rnd % 10 == 0:
                    # A sample, so the cost stays flat as subtrees pile up;
                    # all of them at the end.
                    self.check_all(f"after round {rnd}", sample=30)
            # The end: everything still there, after a kill, and after a
            # clean stop and start.
            self.check_all("at the end")
            self.kill_server(signal.SIGTERM)
            self.fsck(via_launcher=True)
            self.start_server()
            self.check_all("after a clean stop and start")
            self.kill_server(signal.SIGTERM)
        finally:
            for pid, cmd_w, _ in workers:
                try:
                    os.write(cmd_w, b"quit\n")
                except OSError:
                    pass
            for pid, _, _ in workers:
                if not self.reaped(pid, 5):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            if self.server is not None:
                self.kill_server()
        s = self.stats
        print(f"kill points: {s['rounds']} (and {s['start_kills']} during a start), "
              f"acknowledged operations checked: {s['acked']}, "
              f"in flight at the kill: {s['in_flight_applied']} applied, {s['in_flight_not_applied']} not, "
              f"fsck runs: {s['fsck']}, re-checks of earlier subtrees: {s['full_checks']}, subtrees: {len(self.expected)}",
              flush=True)
        return 1 if self.failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 10:
        sys.exit(__doc__)
    # A driver stuck past its budget shows where before the test's timeout.
    faulthandler.dump_traceback_later(float(sys.argv[7]) + 90, exit=True)
    sys.exit(Driver(sys.argv[1:]).run())

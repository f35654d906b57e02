#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/dispatch_fuzzer: fuzz/make_corpus.py [DIR]
(default: fuzz/corpus next to this script; existing seed-* files there are
replaced, other files, e.g. crash reproducers, are kept).

Each seed is the fuzzer's input layout (see dispatch_fuzzer.cpp): one
configuration byte, then datagrams, each prefixed with its length as a
2-byte little-endian integer. The structs mirror include/userfs/protocol.hpp.
Inode numbers are predictable in a fresh namespace: the root is 1, then each
created object takes the next number.
"""
import os
import struct
import sys

MAGIC = 0x53465355
VERSION = 4

OPS = {name: i for i, name in enumerate(
    "none hello status lookup getattr open mkdir unlink rename readdir access symlink "
    "readlink link setattr statfs getxattr setxattr listxattr removexattr canonical chdir mknod".split())}

NO_FOLLOW, EMPTY_PATH = 1, 2
O_RDONLY, O_WRONLY, O_RDWR = 0, 1, 2
O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW = 4, 8, 16, 32, 64, 128
O_PATH = 1 << 11
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
UNLINK_RMDIR = 1
SET_MODE, SET_UID, SET_GID, SET_SIZE = 1, 2, 4, 8
SET_ATIME, SET_ATIME_NOW, SET_MTIME, SET_MTIME_NOW = 16, 32, 64, 128
XATTR_CREATE, XATTR_REPLACE = 1, 2

# Configuration byte.
NO_HELLO = 1
CRED_OWN, CRED_ROOT, CRED_1000, CRED_NOBODY = 0 << 1, 1 << 1, 2 << 1, 3 << 1
SMALL_LIMITS = 8


def b(s):
    return s.encode() if isinstance(s, str) else s


def msg(op, body=b"", id_=7, flags=0, mount=0, magic=MAGIC, length=None):
    length = len(body) if length is None else length
    return struct.pack("<IHHIIQ", magic, OPS[op] if isinstance(op, str) else op, flags, length, mount, id_) + body


def hello(version=VERSION):
    return msg("hello", struct.pack("<II", version, 0))


def lookup(path, flags=0, base=0):
    p = b(path)
    return msg("lookup", struct.pack("<QII", base, flags, len(p)) + p)


def getattr_(ino):
    return msg("getattr", struct.pack("<Q", ino))


def open_(path, flags, mode=0o644, base=0):
    p = b(path)
    return msg("open", struct.pack("<QIIII", base, flags, mode, len(p), 0) + p)


def mkdir(path, mode=0o755, base=0):
    p = b(path)
    return msg("mkdir", struct.pack("<QII", base, mode, len(p)) + p)


def unlink(path, flags=0, base=0):
    p = b(path)
    return msg("unlink", struct.pack("<QII", base, flags, len(p)) + p)


def rename(old, new, flags=0, old_base=0, new_base=0):
    o, n = b(old), b(new)
    return msg("rename", struct.pack("<QQIIII", old_base, new_base, flags, len(o), len(n), 0) + o + n)


def readdir(ino, cookie=0):
    return msg("readdir", struct.pack("<QQ", ino, cookie))


def access(path, mode, flags=0, base=0):
    p = b(path)
    return msg("access", struct.pack("<QIIII", base, mode, flags, len(p), 0) + p)


def symlink(target, path, base=0):
    t, p = b(target), b(path)
    return msg("symlink", struct.pack("<QII", base, len(t), len(p)) + t + p)


def readlink(path, flags=0, base=0):
    p = b(path)
    return msg("readlink", struct.pack("<QII", base, flags, len(p)) + p)


def link(old, new, flags=0, old_base=0, new_base=0):
    o, n = b(old), b(new)
    return msg("link", struct.pack("<QQIIII", old_base, new_base, flags, len(o), len(n), 0) + o + n)


def setattr_(path, valid, mode=0, uid=0xFFFFFFFF, gid=0xFFFFFFFF, size=0, atime=(0, 0), mtime=(0, 0),
             flags=0, base=0):
    p = b(path)
    return msg("setattr", struct.pack("<QIIIIIIQqqII", base, flags, valid, mode, uid, gid, len(p), size,
                                      atime[0], mtime[0], atime[1], mtime[1]) + p)


def statfs():
    return msg("statfs", struct.pack("<Q", 1))


def status():
    return msg("status")


def getxattr(path, name, flags=0, base=0, op="getxattr"):
    p, n = b(path), b(name)
    return msg(op, struct.pack("<QIIII", base, flags, len(n), len(p), 0) + n + p)


def removexattr(path, name, flags=0, base=0):
    return getxattr(path, name, flags, base, op="removexattr")


def setxattr(path, name, value, xflags=0, flags=0, base=0):
    p, n, v = b(path), b(name), b(value)
    return msg("setxattr", struct.pack("<QIIIIII", base, flags, xflags, len(n), len(v), len(p), 0) + n + v + p)


def listxattr(path, flags=0, base=0):
    p = b(path)
    return msg("listxattr", struct.pack("<QII", base, flags, len(p)) + p)


def canonical(path, flags=0, base=0):
    p = b(path)
    return msg("canonical", struct.pack("<QII", base, flags, len(p)) + p)


def chdir(path, flags=0, base=0):
    p = b(path)
    return msg("chdir", struct.pack("<QII", base, flags, len(p)) + p)


def mknod(path, mode, rdev=0, base=0):
    p = b(path)
    return msg("mknod", struct.pack("<QIIQ", base, mode, len(p), rdev) + p)


def seed(config, *messages):
    out = bytes([config])
    for m in messages:
        assert len(m) < 65536
        out += struct.pack("<H", len(m)) + m
    return out


S_IFREG, S_IFIFO, S_IFDIR = 0o100000, 0o010000, 0o040000

SEEDS = {
    "basics": seed(CRED_OWN, status(), statfs(), lookup(""), lookup("/"), getattr_(1), readdir(1)),
    "open-readdir": seed(CRED_OWN,
                         mkdir("d"), open_("d/f", O_CREAT | O_RDWR), open_("d/g", O_CREAT | O_EXCL | O_WRONLY),
                         readdir(1), readdir(2), readdir(2, 3), open_("d", O_RDONLY | O_DIRECTORY),
                         open_("d/f", O_PATH), lookup("d/f/"), getattr_(3), open_("d/f", O_TRUNC | O_APPEND | O_WRONLY)),
    "symlink-redirect": seed(CRED_OWN,
                             mkdir("d"), symlink("/etc", "abs"), symlink("d", "rel"), symlink("../..", "up"),
                             lookup("abs/passwd"), lookup("rel/"), lookup("abs", NO_FOLLOW), readlink("rel"),
                             canonical("rel"), lookup("../x"), lookup("up/y"), symlink("loop", "loop"),
                             lookup("loop"), open_("abs", O_RDONLY | O_NOFOLLOW), readlink("", EMPTY_PATH, base=3)),
    "xattr": seed(CRED_OWN,
                  open_("f", O_CREAT | O_WRONLY), setxattr("f", "user.a", "value\0with nul", XATTR_CREATE),
                  setxattr("f", "user.a", "v2", XATTR_REPLACE), getxattr("f", "user.a"), listxattr("f"),
                  setxattr("f", "trusted.t", "x"), setxattr("f", "system.posix_acl_access", "x"),
                  getxattr("f", "user."), removexattr("f", "user.a"), getxattr("f", "user.a"),
                  listxattr("", EMPTY_PATH, base=2)),
    "xattr-root": seed(CRED_ROOT,
                       mkdir("d", 0o1777), setxattr("d", "trusted.t", "x" * 100), setxattr("d", "security.s", "y"),
                       listxattr("d"), getxattr("d", "trusted.t"), symlink("d", "l"),
                       setxattr("l", "user.u", "z", flags=NO_FOLLOW)),
    "rename": seed(CRED_OWN,
                   mkdir("a"), mkdir("b"), open_("a/f", O_CREAT | O_WRONLY), rename("a/f", "b/g"),
                   rename("a", "b", RENAME_EXCHANGE), rename("b", "a/sub"), rename("a", "b", RENAME_NOREPLACE),
                   rename("b/g", "b/g"), rename(".", "x"), rename("a/g", "g", 0, 0, 2),
                   readdir(1), unlink("g"), unlink("a", UNLINK_RMDIR), unlink("b", UNLINK_RMDIR), readdir(1)),
    "link-setattr": seed(CRED_OWN,
                         open_("f", O_CREAT | O_RDWR, 0o600), link("f", "h"), link("f", "h"),
                         setattr_("f", SET_MODE, mode=0o4755), setattr_("h", SET_SIZE, size=4096),
                         setattr_("f", SET_ATIME | SET_MTIME_NOW, atime=(12345, 678)),
                         setattr_("f", SET_UID | SET_GID, uid=0, gid=0), access("f", 4 | 2),
                         access("h", 1, NO_FOLLOW), getattr_(2), unlink("f"), getattr_(2), unlink("h"), getattr_(2)),
    "chdir-mknod": seed(CRED_OWN,
                        mkdir("d", 0o700), chdir("d"), chdir("", EMPTY_PATH, base=2), mknod("d/n", S_IFREG | 0o644),
                        mknod("d/p", S_IFIFO | 0o644), mknod("d/q", S_IFDIR | 0o755), canonical("", EMPTY_PATH, base=2),
                        lookup("n", base=2), open_("..", O_RDONLY, base=2), unlink("d", UNLINK_RMDIR)),
    "handshake": seed(NO_HELLO, lookup(""), hello()),
    "handshake-version": seed(NO_HELLO, hello(VERSION + 1), hello()),
    "handshake-ok": seed(NO_HELLO, hello(), hello(), status()),
    "malformed": seed(CRED_OWN,
                      b"\x55\x53\x46", msg("lookup", b"", magic=0), msg("status", flags=1), msg("status", mount=200),
                      msg("status", length=4), msg(0x7FFF), msg("lookup", b"\0" * 15),
                      msg("lookup", struct.pack("<QII", 0, 0, 5) + b"a\0b"), lookup("x", flags=0x80),
                      open_("f", 1 << 20), mkdir("y" * 300), lookup("a/" * 2100), status()),
    "nobody-sticky": seed(CRED_NOBODY,
                          mkdir("mine"), open_("mine/f", O_CREAT | O_WRONLY), readdir(1), access("", 2),
                          setattr_("", SET_MODE, mode=0o777), unlink("mine/f"), rename("mine", "yours")),
    "user-1000": seed(CRED_1000,
                      mkdir("d", 0o2775), setattr_("d", SET_GID, gid=1001), open_("d/f", O_CREAT | O_WRONLY, 0o2755),
                      setattr_("d/f", SET_GID, gid=5), setattr_("d/f", SET_UID, uid=0), setattr_("d", SET_MODE, mode=0o000),
                      lookup("d/f"), setattr_("d", SET_MODE, mode=0o755), lookup("d/f")),
    "enospc": seed(SMALL_LIMITS, *[mkdir("d%d" % i) for i in range(18)], statfs(), status(),
                   symlink("x", "s"), open_("f", O_CREAT)),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        if name.startswith("seed-"):
            os.unlink(os.path.join(out, name))
    for name, data in SEEDS.items():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

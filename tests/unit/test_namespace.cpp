// The namespace in-process: each operation and the errno Linux gives (tmpfs
// is the reference), the memfd data path, readdir cookies.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "mem_backend.hpp"
#include "namespace.hpp"

using namespace userfs;
using namespace userfs::server;

namespace {

constexpr uid_t kMe = 1000;
constexpr gid_t kMyGroup = 1000;
constexpr uint64_t kDev = 0x1234;

struct Fs {
  MemBackend mem{kMe, kMyGroup};
  Namespace ns{mem, kDev};
  Cred me{kMe, kMyGroup, {}};

  int open(std::string_view path, uint32_t flags, uint32_t mode = 0644, UniqueFd* fd = nullptr,
           uint64_t base = proto::kBaseRoot) {
    OpenResult r;
    const int rc = ns.open(base, path, flags, mode, me, r);
    if (rc == 0 && fd != nullptr) *fd = std::move(r.fd);
    return rc;
  }
  int create(std::string_view path, uint32_t mode = 0644) {
    return open(path, proto::kOpenCreate | proto::kOpenExcl | O_WRONLY, mode);
  }
  int mkdir(std::string_view path, uint32_t mode = 0755) { return ns.mkdir(proto::kBaseRoot, path, mode, me); }
  int unlink(std::string_view path) { return ns.unlink(proto::kBaseRoot, path, 0, me); }
  int rmdir(std::string_view path) { return ns.unlink(proto::kBaseRoot, path, proto::kUnlinkRemoveDir, me); }
  int rename(std::string_view a, std::string_view b, uint32_t flags = 0) {
    return ns.rename(proto::kBaseRoot, a, proto::kBaseRoot, b, flags, me);
  }
  int symlink(std::string_view target, std::string_view path) {
    return ns.symlink(target, proto::kBaseRoot, path, me);
  }
  int stat(std::string_view path, proto::Attr& a, Follow f = Follow::yes, uint64_t base = proto::kBaseRoot) {
    return ns.lookup(base, path, f, me, a);
  }
  proto::Attr attr(std::string_view path) {
    proto::Attr a{};
    REQUIRE(stat(path, a) == 0);
    return a;
  }
  int err(std::string_view path, Follow f = Follow::yes) {
    proto::Attr a{};
    return stat(path, a, f);
  }
};

struct Dirent {
  std::string name;
  uint64_t ino;
  uint64_t cookie;
  uint8_t type;
};

// Decodes one readdir reply body.
std::vector<Dirent> decode(const unsigned char* buf, size_t used, bool* eof = nullptr) {
  proto::ReaddirRep rep{};
  REQUIRE(used >= sizeof rep);
  std::memcpy(&rep, buf, sizeof rep);
  if (eof != nullptr) *eof = rep.eof != 0;
  std::vector<Dirent> out;
  size_t off = sizeof rep;
  for (uint32_t i = 0; i < rep.count; ++i) {
    proto::DirEntry e{};
    REQUIRE(off + sizeof e <= used);
    std::memcpy(&e, buf + off, sizeof e);
    REQUIRE(off + proto::dir_entry_size(e.name_len) <= used);
    out.push_back({std::string(reinterpret_cast<const char*>(buf) + off + sizeof e, e.name_len), e.ino, e.cookie,
                   e.type});
    off += proto::dir_entry_size(e.name_len);
  }
  CHECK(off == used);
  return out;
}

std::vector<Dirent> list(Namespace& ns, uint64_t ino, uint64_t cookie = 0, size_t cap = 65536) {
  std::vector<unsigned char> buf(cap);
  size_t used = 0;
  REQUIRE(ns.readdir(ino, cookie, buf.data(), buf.size(), used) == 0);
  return decode(buf.data(), used);
}

std::vector<std::string> names(const std::vector<Dirent>& ents) {
  std::vector<std::string> out;
  for (const auto& e : ents) out.push_back(e.name);
  return out;
}

}  // namespace

TEST_CASE("root and mkdir: attributes, link counts, parent times") {
  Fs fs;
  const proto::Attr root = fs.attr("");
  CHECK(root.ino == proto::kRootIno);
  CHECK(root.dev == kDev);
  CHECK(S_ISDIR(root.mode));
  CHECK(root.nlink == 2);
  CHECK(fs.attr("/").ino == proto::kRootIno);

  REQUIRE(fs.mkdir("d", 0750) == 0);
  const proto::Attr d = fs.attr("d");
  CHECK(d.mode == (S_IFDIR | 0750));
  CHECK(d.uid == kMe);
  CHECK(d.gid == kMyGroup);
  CHECK(d.nlink == 2);
  CHECK(fs.attr("").nlink == 3);
  REQUIRE(fs.create("d/f") == 0);
  CHECK(fs.attr("d").nlink == 2);  // files do not count
  CHECK(fs.attr("d").size == 40 + 20);
  REQUIRE(fs.mkdir("d/sub") == 0);
  CHECK(fs.attr("d").nlink == 3);
  // Inode numbers are never reused.
  const uint64_t f_ino = fs.attr("d/f").ino;
  REQUIRE(fs.unlink("d/f") == 0);
  REQUIRE(fs.create("d/g") == 0);
  CHECK(fs.attr("d/g").ino > f_ino);
}

TEST_CASE("mkdir errors") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.create("f") == 0);
  CHECK(fs.mkdir("d") == -EEXIST);
  CHECK(fs.mkdir("f") == -EEXIST);
  CHECK(fs.mkdir("") == -EEXIST);
  CHECK(fs.mkdir("/") == -EEXIST);
  CHECK(fs.mkdir("d/.") == -EEXIST);
  CHECK(fs.mkdir("d/..") == -EEXIST);
  CHECK(fs.mkdir("missing/x") == -ENOENT);
  CHECK(fs.mkdir("f/x") == -ENOTDIR);
  CHECK(fs.mkdir("new/") == 0);  // a trailing slash is fine for a directory
  CHECK(fs.mkdir(std::string(256, 'n')) == -ENAMETOOLONG);
  CHECK(fs.mkdir(std::string(255, 'n')) == 0);
}

TEST_CASE("path walking: empty components, dot, dotdot, length limits") {
  Fs fs;
  REQUIRE(fs.mkdir("a") == 0);
  REQUIRE(fs.mkdir("a/b") == 0);
  const uint64_t b = fs.attr("a/b").ino;
  CHECK(fs.attr("a//b").ino == b);
  CHECK(fs.attr("/a/./b/").ino == b);
  CHECK(fs.attr("a/b/../b").ino == b);
  CHECK(fs.err("../../a/b") == kRedirected);  // ".." above the root leaves the mount
  CHECK(fs.ns.redirect().path == "../../a/b");
  CHECK(fs.attr("a/b/..").ino == fs.attr("a").ino);
  CHECK(fs.err("a/nope") == -ENOENT);
  CHECK(fs.err(std::string(256, 'x')) == -ENAMETOOLONG);
  std::string deep;
  while (deep.size() < proto::kMaxPath) deep += "a/";
  CHECK(fs.err(deep) == -ENAMETOOLONG);
  CHECK(fs.err(std::string(proto::kMaxPath - 3, '/') + "a") == 0);

  REQUIRE(fs.create("a/f") == 0);
  CHECK(fs.err("a/f/") == -ENOTDIR);
  CHECK(fs.err("a/f/.") == -ENOTDIR);
  CHECK(fs.err("a/f/x") == -ENOTDIR);
}

TEST_CASE("base: a directory inode, removed or non-directory bases") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.create("d/f") == 0);
  REQUIRE(fs.create("top") == 0);
  const uint64_t d = fs.attr("d").ino;
  const uint64_t f = fs.attr("d/f").ino;
  proto::Attr a{};
  REQUIRE(fs.stat("f", a, Follow::yes, d) == 0);
  CHECK(a.ino == f);
  REQUIRE(fs.stat("", a, Follow::yes, d) == 0);
  CHECK(a.ino == d);
  REQUIRE(fs.stat("/top", a, Follow::yes, d) == 0);  // absolute: from the root
  CHECK(a.ino == fs.attr("top").ino);
  CHECK(fs.stat("x", a, Follow::yes, f) == -ENOTDIR);
  CHECK(fs.stat("x", a, Follow::yes, 999999) == -ENOENT);
  REQUIRE(fs.unlink("d/f") == 0);
  REQUIRE(fs.rmdir("d") == 0);
  CHECK(fs.stat("", a, Follow::yes, d) == -ENOENT);
  CHECK(fs.stat("/top", a, Follow::yes, d) == 0);
}

TEST_CASE("open: create, exclusive, directories, flags") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  UniqueFd fd;
  REQUIRE(fs.open("f", proto::kOpenCreate | O_RDWR, 0640, &fd) == 0);
  CHECK(fd.valid());
  const proto::Attr f = fs.attr("f");
  CHECK(f.mode == (S_IFREG | 0640));
  CHECK(f.nlink == 1);
  CHECK(f.size == 0);

  CHECK(fs.open("f", proto::kOpenCreate | proto::kOpenExcl | O_RDWR) == -EEXIST);
  CHECK(fs.open("f", proto::kOpenCreate | O_RDWR) == 0);  // no O_EXCL: opens it
  CHECK(fs.open("missing", O_RDONLY) == -ENOENT);
  CHECK(fs.open("nodir/f", proto::kOpenCreate | O_RDWR) == -ENOENT);
  CHECK(fs.open("f/x", proto::kOpenCreate | O_RDWR) == -ENOTDIR);
  CHECK(fs.open("f", O_RDONLY | proto::kOpenDirectory) == -ENOTDIR);
  CHECK(fs.open("f/", O_RDONLY) == -ENOTDIR);
  CHECK(fs.open("new/", proto::kOpenCreate | O_RDWR) == -EISDIR);
  CHECK(fs.open("d", O_WRONLY) == -EISDIR);
  CHECK(fs.open("d", O_RDWR) == -EISDIR);
  CHECK(fs.open("d", O_RDONLY | proto::kOpenTrunc) == -EISDIR);
  CHECK(fs.open("d", proto::kOpenCreate | O_RDONLY) == -EISDIR);
  CHECK(fs.open("d", proto::kOpenCreate | proto::kOpenExcl | O_RDONLY) == -EEXIST);
  CHECK(fs.open("", proto::kOpenCreate | O_RDONLY) == -EISDIR);
  CHECK(fs.open("/", proto::kOpenCreate | proto::kOpenExcl | O_RDONLY) == -EEXIST);
  CHECK(fs.open("g", proto::kOpenCreate | proto::kOpenDirectory | O_RDONLY) == -EINVAL);

  UniqueFd dfd;
  REQUIRE(fs.open("d", O_RDONLY | proto::kOpenDirectory, 0, &dfd) == 0);
  CHECK(dfd.valid());
  CHECK((fcntl(dfd.get(), F_GETFL) & O_ACCMODE) == O_RDONLY);
  // The handle is a real (empty, deleted) directory: the kernel answers
  // read() with EISDIR and fstat with a directory type.
  struct stat st {};
  REQUIRE(fstat(dfd.get(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  char byte;
  CHECK(read(dfd.get(), &byte, 1) == -1);
  CHECK(errno == EISDIR);
}

TEST_CASE("open flags reach the kernel file description") {
  Fs fs;
  UniqueFd w, a, r;
  REQUIRE(fs.open("f", proto::kOpenCreate | O_WRONLY, 0644, &w) == 0);
  REQUIRE(fs.open("f", O_WRONLY | proto::kOpenAppend, 0, &a) == 0);
  REQUIRE(fs.open("f", O_RDONLY, 0, &r) == 0);
  CHECK((fcntl(w.get(), F_GETFL) & O_ACCMODE) == O_WRONLY);
  CHECK((fcntl(a.get(), F_GETFL) & O_APPEND) != 0);
  CHECK((fcntl(r.get(), F_GETFL) & O_ACCMODE) == O_RDONLY);
  CHECK(write(r.get(), "x", 1) == -1);  // read-only really is read-only
  CHECK(fcntl(r.get(), F_GETFD) & FD_CLOEXEC);

  REQUIRE(write(w.get(), "hello", 5) == 5);
  REQUIRE(write(a.get(), "!", 1) == 1);  // appends whatever its offset
  char buf[16] = {};
  REQUIRE(pread(r.get(), buf, sizeof buf, 0) == 6);
  CHECK(std::string(buf) == "hello!");
}

// O_PATH: a real O_PATH fd, no permission needed on the object, every flag
// but O_DIRECTORY and O_NOFOLLOW ignored.
TEST_CASE("open: kOpenPath") {
  Fs fs;
  Cred other{2000, 2000, {}};
  REQUIRE(fs.mkdir("d", 0) == 0);
  REQUIRE(fs.mkdir("dx", 0711) == 0);
  REQUIRE(fs.mkdir("dn") == 0);
  UniqueFd w;
  REQUIRE(fs.open("f", proto::kOpenCreate | O_WRONLY, 0, &w) == 0);  // mode 0
  REQUIRE(write(w.get(), "hi", 2) == 2);
  REQUIRE(fs.open("dx/h", proto::kOpenCreate | O_WRONLY, 0600) == 0);
  REQUIRE(fs.open("dn/h", proto::kOpenCreate | O_WRONLY, 0600) == 0);
  proto::Attr tmp{};
  REQUIRE(fs.ns.setattr(proto::kBaseRoot, "dn", Follow::yes, SetattrArgs{proto::kSetMode, 0644}, fs.me, tmp) == 0);
  REQUIRE(fs.symlink("f", "lf") == 0);
  REQUIRE(fs.symlink("d", "ld") == 0);
  REQUIRE(fs.symlink("nowhere", "dang") == 0);
  auto open_as = [&](std::string_view p, uint32_t flags, const Cred& c, UniqueFd* fd = nullptr) {
    OpenResult r;
    const int rc = fs.ns.open(proto::kBaseRoot, p, flags, 0644, c, r);
    if (rc == 0 && fd != nullptr) *fd = std::move(r.fd);
    return rc;
  };
  const uint32_t P = proto::kOpenPath;

  UniqueFd fd;
  REQUIRE(open_as("f", P, other, &fd) == 0);  // mode 0, another user
  CHECK((fcntl(fd.get(), F_GETFL) & O_PATH) != 0);
  CHECK((fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
  char byte;
  CHECK(read(fd.get(), &byte, 1) == -1);
  CHECK(errno == EBADF);
  CHECK(write(fd.get(), "x", 1) == -1);
  CHECK(errno == EBADF);
  struct stat st {};
  REQUIRE(fstat(fd.get(), &st) == 0);
  CHECK(st.st_size == 2);

  // Access mode, O_CREAT, O_EXCL, O_TRUNC and status flags are ignored.
  CHECK(open_as("f", P | O_RDWR | proto::kOpenTrunc | proto::kOpenAppend | proto::kOpenSync, other) == 0);
  CHECK(open_as("f", P | proto::kOpenCreate | proto::kOpenExcl, fs.me) == 0);
  CHECK(fs.attr("f").size == 2);
  CHECK(open_as("new", P | proto::kOpenCreate, fs.me) == -ENOENT);
  CHECK(fs.err("new") == -ENOENT);
  CHECK(open_as("f/", P | proto::kOpenCreate, fs.me) == -ENOTDIR);
  CHECK(open_as("new/", P | proto::kOpenCreate, fs.me) == -ENOENT);
  CHECK(open_as(".", P | proto::kOpenCreate, fs.me) == 0);
  CHECK(open_as("d", P | proto::kOpenCreate | proto::kOpenDirectory, fs.me) == 0);
  // O_DIRECTORY and O_NOFOLLOW count.
  CHECK(open_as("f", P | proto::kOpenDirectory, fs.me) == -ENOTDIR);
  CHECK(open_as("f/", P, fs.me) == -ENOTDIR);
  CHECK(open_as("lf", P, other) == 0);
  CHECK(open_as("lf", P | proto::kOpenNoFollow, fs.me) == -ELOOP);  // Linux: an fd of the link (see open())
  CHECK(open_as("ld", P | proto::kOpenDirectory | proto::kOpenNoFollow, fs.me) == -ELOOP);
  CHECK(open_as("ld/", P | proto::kOpenNoFollow, fs.me) == 0);
  CHECK(open_as("dang", P, fs.me) == -ENOENT);
  CHECK(open_as("missing", P, fs.me) == -ENOENT);
  // Search permission on the way is still needed; nothing on the object.
  CHECK(open_as("dx/h", P, other) == 0);
  CHECK(open_as("dn/h", P, other) == -EACCES);
  CHECK(open_as("dn", P, other) == 0);

  // A directory: an O_PATH fd of the stand-in empty directory.
  UniqueFd dfd;
  REQUIRE(open_as("d", P | O_WRONLY, other, &dfd) == 0);  // mode 0, write asked: ignored
  CHECK((fcntl(dfd.get(), F_GETFL) & O_PATH) != 0);
  REQUIRE(fstat(dfd.get(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK(read(dfd.get(), &byte, 1) == -1);
  CHECK(errno == EBADF);
}

// Access mode 3 (O_WRONLY|O_RDWR): Linux's "ioctl only" open needs read and
// write permission and gives an fd that can do neither.
TEST_CASE("open: access mode 3") {
  Fs fs;
  Cred other{2000, 2000, {}};
  Cred root{0, 0, {}};
  REQUIRE(fs.mkdir("d") == 0);
  UniqueFd w;
  REQUIRE(fs.open("f", proto::kOpenCreate | O_WRONLY, 0644, &w) == 0);
  REQUIRE(write(w.get(), "hello", 5) == 5);
  auto open_as = [&](std::string_view p, uint32_t flags, const Cred& c, UniqueFd* fd = nullptr) {
    OpenResult r;
    const int rc = fs.ns.open(proto::kBaseRoot, p, flags, 0644, c, r);
    if (rc == 0 && fd != nullptr) *fd = std::move(r.fd);
    return rc;
  };
  UniqueFd fd;
  REQUIRE(open_as("f", 3, fs.me, &fd) == 0);
  CHECK((fcntl(fd.get(), F_GETFL) & O_ACCMODE) == 3);
  char byte;
  CHECK(read(fd.get(), &byte, 1) == -1);
  CHECK(errno == EBADF);
  CHECK(write(fd.get(), "x", 1) == -1);
  CHECK(errno == EBADF);
  CHECK(open_as("f", 3, other) == -EACCES);  // r-- for others: both are needed
  proto::Attr tmp{};
  REQUIRE(fs.ns.setattr(proto::kBaseRoot, "f", Follow::yes, SetattrArgs{proto::kSetMode, 0222}, fs.me, tmp) == 0);
  CHECK(open_as("f", 3, other) == -EACCES);  // -w- only
  CHECK(open_as("f", 3, root) == 0);
  REQUIRE(fs.ns.setattr(proto::kBaseRoot, "f", Follow::yes, SetattrArgs{proto::kSetMode, 0666}, fs.me, tmp) == 0);
  CHECK(open_as("f", 3, other) == 0);
  CHECK(open_as("d", 3, fs.me) == -EISDIR);
  CHECK(open_as("new", proto::kOpenCreate | 3, fs.me) == 0);
  CHECK(fs.attr("new").mode == (S_IFREG | 0644));
  CHECK(open_as("f", proto::kOpenTrunc | 3, fs.me) == 0);
  CHECK(fs.attr("f").size == 0);
}

TEST_CASE("memfd reopens have independent offsets and share data") {
  Fs fs;
  UniqueFd one, two;
  REQUIRE(fs.open("f", proto::kOpenCreate | O_RDWR, 0644, &one) == 0);
  REQUIRE(fs.open("f", O_RDWR, 0, &two) == 0);
  REQUIRE(write(one.get(), "abcdef", 6) == 6);
  CHECK(lseek(one.get(), 0, SEEK_CUR) == 6);
  CHECK(lseek(two.get(), 0, SEEK_CUR) == 0);  // its own offset
  char buf[8] = {};
  REQUIRE(read(two.get(), buf, 3) == 3);
  CHECK(std::string(buf, 3) == "abc");
  CHECK(lseek(one.get(), 0, SEEK_CUR) == 6);

  const proto::Attr a = fs.attr("f");
  CHECK(a.size == 6);
  CHECK(a.blocks > 0);
  proto::Attr g{};
  REQUIRE(fs.ns.getattr(a.ino, g) == 0);
  CHECK(g.size == 6);
  CHECK(fs.mem.counts().bytes == 6);

  // O_TRUNC, even on a read-only open, empties the file for everyone.
  UniqueFd t;
  REQUIRE(fs.open("f", O_RDONLY | proto::kOpenTrunc, 0, &t) == 0);
  CHECK(fs.attr("f").size == 0);
  CHECK(pread(two.get(), buf, sizeof buf, 0) == 0);
}

TEST_CASE("unlink of an open file keeps its data readable through the fd") {
  Fs fs;
  UniqueFd fd;
  REQUIRE(fs.open("f", proto::kOpenCreate | O_RDWR, 0644, &fd) == 0);
  REQUIRE(write(fd.get(), "data", 4) == 4);
  const uint64_t ino = fs.attr("f").ino;
  REQUIRE(fs.unlink("f") == 0);
  CHECK(fs.err("f") == -ENOENT);
  proto::Attr a{};
  CHECK(fs.ns.getattr(ino, a) == -ENOENT);
  CHECK(fs.mem.counts().files == 0);
  char buf[8] = {};
  REQUIRE(pread(fd.get(), buf, sizeof buf, 0) == 4);
  CHECK(std::string(buf, 4) == "data");
  REQUIRE(pwrite(fd.get(), "more", 4, 4) == 4);  // still writable too
}

TEST_CASE("unlink and rmdir errors") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.mkdir("full") == 0);
  REQUIRE(fs.create("full/f") == 0);
  REQUIRE(fs.create("f") == 0);
  CHECK(fs.unlink("d") == -EISDIR);
  CHECK(fs.unlink("missing") == -ENOENT);
  CHECK(fs.unlink("f/") == -ENOTDIR);
  CHECK(fs.unlink("") == -EISDIR);
  CHECK(fs.rmdir("f") == -ENOTDIR);
  CHECK(fs.rmdir("full") == -ENOTEMPTY);
  CHECK(fs.rmdir("") == -EBUSY);
  CHECK(fs.rmdir("/") == -EBUSY);
  CHECK(fs.rmdir("d/.") == -EINVAL);
  CHECK(fs.rmdir("d/..") == -ENOTEMPTY);
  CHECK(fs.rmdir("missing") == -ENOENT);
  CHECK(fs.attr("").nlink == 4);
  REQUIRE(fs.rmdir("d/") == 0);
  CHECK(fs.attr("").nlink == 3);
  REQUIRE(fs.unlink("full/f") == 0);
  REQUIRE(fs.rmdir("full") == 0);
  REQUIRE(fs.unlink("f") == 0);
  CHECK(fs.mem.counts().inodes == 1);
}

TEST_CASE("rename: moves, replacements and their errors") {
  Fs fs;
  REQUIRE(fs.mkdir("a") == 0);
  REQUIRE(fs.mkdir("a/sub") == 0);
  REQUIRE(fs.mkdir("empty") == 0);
  REQUIRE(fs.mkdir("full") == 0);
  REQUIRE(fs.create("full/x") == 0);
  REQUIRE(fs.create("f") == 0);
  REQUIRE(fs.create("g") == 0);
  const uint64_t f = fs.attr("f").ino;
  const uint64_t a = fs.attr("a").ino;

  SECTION("a file over a file replaces it") {
    const uint64_t g = fs.attr("g").ino;
    REQUIRE(fs.rename("f", "g") == 0);
    CHECK(fs.err("f") == -ENOENT);
    CHECK(fs.attr("g").ino == f);
    proto::Attr gone{};
    CHECK(fs.ns.getattr(g, gone) == -ENOENT);
  }
  SECTION("a directory moves with its subtree and link counts follow") {
    REQUIRE(fs.rename("a", "empty/a2") == 0);
    CHECK(fs.attr("empty/a2").ino == a);
    CHECK(fs.attr("empty/a2/sub/..").ino == a);
    CHECK(fs.attr("empty/a2/..").ino == fs.attr("empty").ino);
    CHECK(fs.attr("empty").nlink == 3);
    CHECK(fs.attr("").nlink == 2 + 2);  // a gone; empty and full remain
  }
  SECTION("a directory replaces an empty directory") {
    REQUIRE(fs.rename("a", "empty") == 0);
    CHECK(fs.attr("empty").ino == a);
    CHECK(fs.attr("").nlink == 2 + 2);
  }
  SECTION("errors") {
    CHECK(fs.rename("f", "a") == -EISDIR);
    CHECK(fs.rename("a", "f") == -ENOTDIR);
    CHECK(fs.rename("a", "full") == -ENOTEMPTY);
    CHECK(fs.rename("a", "a/sub/inside") == -EINVAL);
    CHECK(fs.rename("a", "a/sub") == -EINVAL);
    CHECK(fs.rename("missing", "x") == -ENOENT);
    CHECK(fs.rename("f", "nodir/x") == -ENOENT);
    CHECK(fs.rename("f", "g", proto::kRenameNoReplace) == -EEXIST);
    CHECK(fs.rename("f", "nothere", proto::kRenameExchange) == -ENOENT);
    CHECK(fs.rename("f", "g", proto::kRenameExchange | proto::kRenameNoReplace) == -EINVAL);
    CHECK(fs.rename("a/.", "x") == -EBUSY);
    CHECK(fs.rename("", "x") == -EBUSY);
    CHECK(fs.rename("f/", "x") == -ENOTDIR);
    CHECK(fs.attr("f").ino == f);  // nothing moved
  }
  SECTION("onto itself is a no-op") {
    REQUIRE(fs.rename("f", "f") == 0);
    REQUIRE(fs.rename("a", "./a") == 0);
    CHECK(fs.attr("f").ino == f);
    CHECK(fs.attr("a").ino == a);
  }
  SECTION("NOREPLACE to a free name moves") {
    REQUIRE(fs.rename("f", "h", proto::kRenameNoReplace) == 0);
    CHECK(fs.attr("h").ino == f);
  }
  SECTION("EXCHANGE swaps a file and a directory") {
    REQUIRE(fs.rename("f", "a", proto::kRenameExchange) == 0);
    CHECK(fs.attr("a").ino == f);
    CHECK(fs.attr("f").ino == a);
    CHECK(fs.attr("f/sub/..").ino == a);
    CHECK(fs.attr("").nlink == 2 + 3);
  }
  SECTION("EXCHANGE across directories fixes '..'") {
    REQUIRE(fs.rename("a/sub", "full/x", proto::kRenameExchange) == 0);
    CHECK(S_ISDIR(fs.attr("full/x").mode));
    CHECK(fs.attr("full/x/..").ino == fs.attr("full").ino);
    CHECK(fs.attr("full").nlink == 3);
    CHECK(fs.attr("a").nlink == 2);
    CHECK(S_ISREG(fs.attr("a/sub").mode));
  }
}

TEST_CASE("readdir: dot entries, types, cookies stable under insert and remove") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  const uint64_t d = fs.attr("d").ino;
  REQUIRE(fs.create("d/one") == 0);
  REQUIRE(fs.mkdir("d/two") == 0);
  REQUIRE(fs.symlink("one", "d/three") == 0);

  auto all = list(fs.ns, d);
  REQUIRE(names(all) == std::vector<std::string>{".", "..", "one", "two", "three"});
  CHECK(all[0].ino == d);
  CHECK(all[1].ino == proto::kRootIno);
  CHECK(all[0].type == DT_DIR);
  CHECK(all[2].type == DT_REG);
  CHECK(all[3].type == DT_DIR);
  CHECK(all[4].type == DT_LNK);
  CHECK(all[2].ino == fs.attr("d/one").ino);
  for (size_t i = 1; i < all.size(); ++i) CHECK(all[i].cookie > all[i - 1].cookie);

  // Resume after "one"; meanwhile remove "two" and add "four": the listing
  // goes on with what is left, once each.
  const uint64_t after_one = all[2].cookie;
  REQUIRE(fs.rmdir("d/two") == 0);
  REQUIRE(fs.create("d/four") == 0);
  CHECK(names(list(fs.ns, d, after_one)) == std::vector<std::string>{"three", "four"});
  // Inserting a name that sorts first does not shift earlier cookies.
  REQUIRE(fs.create("d/aaa") == 0);
  CHECK(names(list(fs.ns, d, after_one)) == std::vector<std::string>{"three", "four", "aaa"});
  CHECK(names(list(fs.ns, d, 1)) == std::vector<std::string>{"..", "one", "three", "four", "aaa"});

  // A small buffer: several calls, each entry exactly once.
  for (int i = 0; i < 50; ++i) REQUIRE(fs.create("d/file" + std::to_string(i)) == 0);
  std::vector<std::string> seen;
  uint64_t cookie = 0;
  bool eof = false;
  int calls = 0;
  while (!eof) {
    unsigned char buf[200];
    size_t used = 0;
    REQUIRE(fs.ns.readdir(d, cookie, buf, sizeof buf, used) == 0);
    auto part = decode(buf, used, &eof);
    REQUIRE((eof || !part.empty()));
    for (auto& e : part) seen.push_back(e.name);
    if (!part.empty()) cookie = part.back().cookie;
    REQUIRE(++calls < 100);
  }
  CHECK(calls > 1);
  CHECK(seen.size() == 2 + 4 + 50);

  std::vector<unsigned char> buf(64);
  size_t used = 0;
  CHECK(fs.ns.readdir(fs.attr("d/one").ino, 0, buf.data(), buf.size(), used) == -ENOTDIR);
  CHECK(fs.ns.readdir(999999, 0, buf.data(), buf.size(), used) == -ENOENT);
}

TEST_CASE("symlinks: followed inside the tree, ELOOP, NOFOLLOW, O_EXCL") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.create("d/f") == 0);
  REQUIRE(fs.symlink("d", "ld") == 0);
  REQUIRE(fs.symlink("/d/f", "abs") == 0);  // absolute: left to the client (a redirect)
  REQUIRE(fs.symlink("f", "d/rel") == 0);
  REQUIRE(fs.symlink("nowhere", "dangling") == 0);
  REQUIRE(fs.symlink("loop2", "loop1") == 0);
  REQUIRE(fs.symlink("loop1", "loop2") == 0);
  const uint64_t f = fs.attr("d/f").ino;

  CHECK(fs.attr("ld/f").ino == f);
  CHECK(fs.err("abs") == kRedirected);
  CHECK(fs.attr("ld/rel").ino == f);
  CHECK(fs.attr("ld/").ino == fs.attr("d").ino);
  proto::Attr l{};
  REQUIRE(fs.stat("abs", l, Follow::no) == 0);
  CHECK(S_ISLNK(l.mode));
  CHECK(l.size == 4);
  CHECK(fs.err("abs/") == kRedirected);  // a trailing slash follows it
  CHECK(fs.ns.redirect().path == "/d/f/");
  CHECK(fs.err("dangling") == -ENOENT);
  CHECK(fs.err("dangling", Follow::no) == 0);
  CHECK(fs.err("loop1") == -ELOOP);
  CHECK(fs.err("loop1/x") == -ELOOP);
  CHECK(fs.err("loop1", Follow::no) == 0);

  std::string target;
  REQUIRE(fs.ns.readlink(proto::kBaseRoot, "abs", fs.me, target) == 0);
  CHECK(target == "/d/f");
  CHECK(fs.ns.readlink(proto::kBaseRoot, "d", fs.me, target) == -EINVAL);

  CHECK(fs.open("abs", O_RDONLY | proto::kOpenNoFollow) == -ELOOP);
  CHECK(fs.open("abs", O_RDONLY) == kRedirected);
  CHECK(fs.open("dangling", proto::kOpenCreate | proto::kOpenExcl | O_RDWR) == -EEXIST);
  CHECK(fs.open("loop1", O_RDONLY) == -ELOOP);
  // O_CREAT through a dangling symlink creates its target.
  REQUIRE(fs.open("dangling", proto::kOpenCreate | O_RDWR) == 0);
  CHECK(S_ISREG(fs.attr("nowhere").mode));
  // unlink removes the link, not its target.
  REQUIRE(fs.unlink("abs") == 0);
  CHECK(fs.attr("d/f").ino == f);
  CHECK(fs.mem.counts().symlinks == 5);

  // A chain of 40 links resolves; 41 is too many.
  std::string prev = "d/f";
  for (int i = 0; i < 41; ++i) {
    const std::string name = "c" + std::to_string(i);
    REQUIRE(fs.symlink(prev, name) == 0);
    prev = name;
  }
  CHECK(fs.attr("c39").ino == f);
  CHECK(fs.err("c40") == -ELOOP);
}

TEST_CASE("permissions: owner/group/other bits, root, search on the walk") {
  Fs fs;
  Cred other{2000, 2000, {}};
  Cred member{2001, 3000, {kMyGroup}};
  Cred root{0, 0, {}};
  REQUIRE(fs.mkdir("pub", 0755) == 0);
  REQUIRE(fs.mkdir("priv", 0700) == 0);
  REQUIRE(fs.create("pub/f", 0640) == 0);
  REQUIRE(fs.create("priv/f", 0644) == 0);
  REQUIRE(fs.create("pub/noexec", 0644) == 0);
  OpenResult r;
  proto::Attr a{};

  CHECK(fs.ns.open(proto::kBaseRoot, "pub/f", O_RDONLY, 0, other, r) == -EACCES);
  CHECK(fs.ns.open(proto::kBaseRoot, "pub/f", O_RDONLY, 0, member, r) == 0);  // via a supplementary group
  CHECK(fs.ns.open(proto::kBaseRoot, "pub/f", O_WRONLY, 0, member, r) == -EACCES);
  CHECK(fs.ns.open(proto::kBaseRoot, "pub/f", O_RDONLY | proto::kOpenTrunc, 0, member, r) == -EACCES);
  CHECK(fs.ns.open(proto::kBaseRoot, "pub/new", proto::kOpenCreate | O_RDWR, 0644, other, r) == -EACCES);
  CHECK(fs.ns.mkdir(proto::kBaseRoot, "pub/x", 0755, other) == -EACCES);
  CHECK(fs.ns.unlink(proto::kBaseRoot, "pub/f", 0, other) == -EACCES);
  CHECK(fs.ns.rename(proto::kBaseRoot, "pub/f", proto::kBaseRoot, "pub/g", 0, other) == -EACCES);
  CHECK(fs.ns.lookup(proto::kBaseRoot, "priv/f", Follow::yes, other, a) == -EACCES);
  CHECK(fs.ns.lookup(proto::kBaseRoot, "priv", Follow::yes, other, a) == 0);  // the dir itself is visible
  CHECK(fs.ns.open(proto::kBaseRoot, "priv", O_RDONLY, 0, other, r) == -EACCES);

  // The owner may create a file it then cannot read, and open it at creation.
  CHECK(fs.open("pub/ro", proto::kOpenCreate | O_RDWR, 0444) == 0);
  CHECK(fs.open("pub/ro", O_RDWR) == -EACCES);

  // root bypasses r/w, and gets x only where some x bit is set.
  CHECK(fs.ns.open(proto::kBaseRoot, "priv/f", O_RDWR, 0, root, r) == 0);
  CHECK(fs.ns.access(proto::kBaseRoot, "pub/noexec", X_OK, Follow::yes, root) == -EACCES);
  CHECK(fs.ns.access(proto::kBaseRoot, "priv", X_OK, Follow::yes, root) == 0);

  CHECK(fs.ns.access(proto::kBaseRoot, "pub/f", R_OK | W_OK, Follow::yes, fs.me) == 0);
  CHECK(fs.ns.access(proto::kBaseRoot, "pub/f", X_OK, Follow::yes, fs.me) == -EACCES);
  CHECK(fs.ns.access(proto::kBaseRoot, "pub/f", R_OK, Follow::yes, member) == 0);
  CHECK(fs.ns.access(proto::kBaseRoot, "pub/f", F_OK, Follow::yes, other) == 0);
  CHECK(fs.ns.access(proto::kBaseRoot, "pub/f", R_OK, Follow::yes, other) == -EACCES);
  CHECK(fs.ns.access(proto::kBaseRoot, "pub/none", F_OK, Follow::yes, other) == -ENOENT);

  // Sticky directory: others may create but not remove what is not theirs.
  REQUIRE(fs.mkdir("tmp", 01777) == 0);
  REQUIRE(fs.create("tmp/mine") == 0);
  CHECK(fs.ns.open(proto::kBaseRoot, "tmp/theirs", proto::kOpenCreate | O_RDWR, 0644, other, r) == 0);
  CHECK(fs.ns.unlink(proto::kBaseRoot, "tmp/mine", 0, other) == -EPERM);
  CHECK(fs.ns.unlink(proto::kBaseRoot, "tmp/theirs", 0, other) == 0);
}

TEST_CASE("counts") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  UniqueFd fd;
  REQUIRE(fs.open("d/f", proto::kOpenCreate | O_RDWR, 0644, &fd) == 0);
  REQUIRE(write(fd.get(), "12345", 5) == 5);
  REQUIRE(fs.symlink("d/f", "l") == 0);
  const Counts c = fs.mem.counts();
  CHECK(c.inodes == 4);
  CHECK(c.directories == 2);
  CHECK(c.files == 1);
  CHECK(c.symlinks == 1);
  CHECK(c.bytes == 5);
}

// --- redirects ---------------------------------------------------------------

namespace {
// The redirect a lookup stopped at, or a failed check.
Redirect redirect_of(Fs& fs, std::string_view path, Follow f = Follow::yes, uint64_t base = proto::kBaseRoot) {
  proto::Attr a{};
  REQUIRE(fs.stat(path, a, f, base) == kRedirected);
  return fs.ns.redirect();
}
}  // namespace

TEST_CASE("redirects: absolute symlink targets leave the mount") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.symlink("/etc", "d/abs") == 0);
  REQUIRE(fs.symlink("/", "d/slash") == 0);
  REQUIRE(fs.symlink("d/abs", "rel") == 0);  // relative, leading to an absolute one

  SECTION("mid-path: target + the unwalked rest, trailing slash kept") {
    Redirect r = redirect_of(fs, "d/abs/passwd");
    CHECK(r.kind == proto::kRedirectAbsolute);
    CHECK(r.which == 0);
    CHECK(r.path == "/etc/passwd");
    CHECK(redirect_of(fs, "/d/abs/x/y/").path == "/etc/x/y/");
    CHECK(redirect_of(fs, "d/slash/tmp").path == "/tmp");
    CHECK(redirect_of(fs, "rel/x").path == "/etc/x");
    // Intermediate components redirect even when the op does not follow.
    CHECK(redirect_of(fs, "d/abs/x", Follow::no).path == "/etc/x");
  }
  SECTION("at the end: only when followed") {
    CHECK(redirect_of(fs, "d/abs").path == "/etc");
    CHECK(redirect_of(fs, "d/abs/").path == "/etc/");
    CHECK(redirect_of(fs, "d/abs/", Follow::no).path == "/etc/");  // a trailing slash follows
    proto::Attr a{};
    REQUIRE(fs.stat("d/abs", a, Follow::no) == 0);
    CHECK(S_ISLNK(a.mode));
    CHECK(redirect_of(fs, "rel").path == "/etc");
  }
  SECTION("ops that follow a final symlink, and ops that do not") {
    OpenResult o;
    CHECK(fs.ns.open(proto::kBaseRoot, "d/abs", O_RDONLY, 0, fs.me, o) == kRedirected);
    CHECK(fs.ns.open(proto::kBaseRoot, "d/abs", proto::kOpenCreate | O_RDWR, 0644, fs.me, o) == kRedirected);
    CHECK(fs.ns.open(proto::kBaseRoot, "d/abs", O_RDONLY | proto::kOpenNoFollow, 0, fs.me, o) == -ELOOP);
    CHECK(fs.ns.access(proto::kBaseRoot, "d/abs", F_OK, Follow::yes, fs.me) == kRedirected);
    CHECK(fs.ns.access(proto::kBaseRoot, "d/abs", F_OK, Follow::no, fs.me) == 0);
    std::string s;
    CHECK(fs.ns.canonical(proto::kBaseRoot, "d/abs", Follow::yes, fs.me, s) == kRedirected);
    REQUIRE(fs.ns.canonical(proto::kBaseRoot, "d/abs", Follow::no, fs.me, s) == 0);
    CHECK(s == "/d/abs");
    CHECK(fs.ns.readlink(proto::kBaseRoot, "d/abs", fs.me, s) == 0);
    CHECK(fs.ns.mkdir(proto::kBaseRoot, "d/abs/new", 0755, fs.me) == kRedirected);
    CHECK(fs.ns.redirect().path == "/etc/new");
    CHECK(fs.ns.getxattr(proto::kBaseRoot, "d/abs", Follow::yes, "user.x", fs.me, s) == kRedirected);
    CHECK(fs.ns.getxattr(proto::kBaseRoot, "d/abs", Follow::no, "user.x", fs.me, s) == -ENODATA);
    proto::Attr a{};
    CHECK(fs.ns.setattr(proto::kBaseRoot, "d/abs", Follow::yes, SetattrArgs{proto::kSetAtimeNow}, fs.me, a) ==
          kRedirected);
    uint64_t ino = 0;
    UniqueFd fd;
    CHECK(fs.ns.chdir(proto::kBaseRoot, "d/abs", fs.me, ino, fd) == kRedirected);
    CHECK(fs.ns.link(proto::kBaseRoot, "d/abs", Follow::yes, proto::kBaseRoot, "l2", fs.me) == kRedirected);
    REQUIRE(fs.ns.link(proto::kBaseRoot, "d/abs", Follow::no, proto::kBaseRoot, "l2", fs.me) == 0);
    CHECK(S_ISLNK(fs.attr("d").mode) == false);
    proto::Attr l{};
    REQUIRE(fs.stat("l2", l, Follow::no) == 0);
    CHECK(S_ISLNK(l.mode));
    CHECK(l.nlink == 2);
    // unlink and rename act on the link itself.
    CHECK(fs.rename("l2", "l3") == 0);
    CHECK(fs.unlink("l3") == 0);
  }
  SECTION("the second path of rename, link and symlink says which = 1") {
    REQUIRE(fs.create("f") == 0);
    CHECK(fs.rename("f", "d/abs/f") == kRedirected);
    CHECK(fs.ns.redirect().which == 1);
    CHECK(fs.ns.redirect().path == "/etc/f");
    CHECK(fs.rename("d/abs/f", "g") == kRedirected);
    CHECK(fs.ns.redirect().which == 0);
    CHECK(fs.ns.link(proto::kBaseRoot, "f", Follow::no, proto::kBaseRoot, "d/abs/f", fs.me) == kRedirected);
    CHECK(fs.ns.redirect().which == 1);
    CHECK(fs.symlink("/anything", "d/abs/s") == kRedirected);
    CHECK(fs.ns.redirect().which == 1);
    CHECK(fs.ns.redirect().path == "/etc/s");
    CHECK(fs.attr("f").nlink == 1);  // nothing changed
  }
}

TEST_CASE("redirects: '..' above the mount root") {
  Fs fs;
  REQUIRE(fs.mkdir("a") == 0);
  REQUIRE(fs.mkdir("a/b") == 0);
  const uint64_t b = fs.attr("a/b").ino;

  Redirect r = redirect_of(fs, "/a/../../etc/x");
  CHECK(r.kind == proto::kRedirectMountParent);
  CHECK(r.path == "../etc/x");
  CHECK(redirect_of(fs, "..").path == "..");
  CHECK(redirect_of(fs, "../").path == "../");
  CHECK(redirect_of(fs, "/..", Follow::no).path == "..");
  // From a base directory.
  CHECK(redirect_of(fs, "../../../x/y", Follow::yes, b).path == "../x/y");
  proto::Attr a{};
  REQUIRE(fs.stat("../..", a, Follow::yes, b) == 0);
  CHECK(a.ino == proto::kRootIno);
  // Through a relative symlink that climbs out.
  REQUIRE(fs.symlink("../../../up", "a/b/out") == 0);
  REQUIRE(fs.symlink("../../up", "a/b/in") == 0);  // stays inside: /up
  CHECK(fs.err("a/b/in/z") == -ENOENT);
  r = redirect_of(fs, "a/b/out/z/");
  CHECK(r.kind == proto::kRedirectMountParent);
  CHECK(r.path == "../up/z/");
  REQUIRE(fs.symlink("../../..", "a/b/top") == 0);
  CHECK(redirect_of(fs, "a/b/top/rest").path == "../rest");
  // A relative symlink to an absolute one, mid-path: the absolute one wins.
  REQUIRE(fs.symlink("/host", "a/h") == 0);
  REQUIRE(fs.symlink("../h", "a/b/viah") == 0);
  CHECK(redirect_of(fs, "a/b/viah/q").path == "/host/q");
  // The hop limit still counts within one request.
  std::string prev = "/far";
  for (int i = 0; i < 41; ++i) {
    const std::string name = "c" + std::to_string(i);
    REQUIRE(fs.symlink(prev, name) == 0);
    prev = name;
  }
  CHECK(redirect_of(fs, "c39").path == "/far");
  CHECK(fs.err("c40") == -ELOOP);
  // mkdir through ".." at the root is the host's too; a *final* ".." is
  // refused by name, as Linux refuses it whatever it names.
  CHECK(fs.ns.mkdir(proto::kBaseRoot, "../x", 0755, fs.me) == kRedirected);
  CHECK(fs.ns.unlink(proto::kBaseRoot, "..", proto::kUnlinkRemoveDir, fs.me) == -ENOTEMPTY);
  CHECK(fs.ns.unlink(proto::kBaseRoot, "a/../..", 0, fs.me) == -EISDIR);
  CHECK(fs.mkdir("..") == -EEXIST);
  CHECK(fs.rename("a", "..") == -EBUSY);
  CHECK(fs.rename("..", "z") == -EBUSY);
  CHECK(fs.rename("a", "/..", proto::kRenameNoReplace) == -EEXIST);
  CHECK(fs.symlink("x", "..") == -EEXIST);
  CHECK(fs.ns.link(proto::kBaseRoot, "a", Follow::no, proto::kBaseRoot, "..", fs.me) == -EEXIST);
  CHECK(fs.ns.mknod(proto::kBaseRoot, "..", S_IFIFO | 0644, fs.me) == -EEXIST);
  // Opening it needs the object: the host's.
  CHECK(fs.open("..", O_RDONLY) == kRedirected);
  CHECK(fs.open("..", proto::kOpenPath) == kRedirected);
}

// Linux refuses a final "." or ".." by name (LAST_DOT/LAST_DOTDOT) before
// anything else about it; rmdir("d/.") must never remove d.
TEST_CASE("final '.' and '..' components") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.mkdir("d/sub") == 0);
  REQUIRE(fs.mkdir("e") == 0);
  REQUIRE(fs.create("f") == 0);
  const uint64_t d = fs.attr("d").ino;

  for (const char* p : {"d/.", "d/..", "d/sub/..", ".", "..", "/.", "d/sub/../."}) {
    INFO(p);
    CHECK(fs.rename(p, "x") == -EBUSY);
    CHECK(fs.rename("f", p) == -EBUSY);
    CHECK(fs.rename("missing", p) == -EBUSY);  // before the source is looked up
    CHECK(fs.mkdir(p) == -EEXIST);
    CHECK(fs.unlink(p) == -EISDIR);
    CHECK(fs.symlink("f", p) == -EEXIST);
    CHECK(fs.ns.link(proto::kBaseRoot, "f", Follow::no, proto::kBaseRoot, p, fs.me) == -EEXIST);
    CHECK(fs.ns.mknod(proto::kBaseRoot, p, S_IFREG | 0644, fs.me) == -EEXIST);
    CHECK(fs.ns.mknod(proto::kBaseRoot, p, S_IFIFO | 0644, fs.me) == -EEXIST);
    if (std::string_view(p) == "..") {  // open needs the object: the host's
      CHECK(fs.open(p, proto::kOpenCreate | O_RDONLY) == kRedirected);
      continue;
    }
    CHECK(fs.open(p, proto::kOpenCreate | O_RDONLY) == -EISDIR);
    CHECK(fs.open(p, proto::kOpenCreate | proto::kOpenExcl | O_RDONLY) == -EEXIST);
  }
  CHECK(fs.rename("d/sub/.", "e/.") == -EBUSY);
  CHECK(fs.rename("d", ".", proto::kRenameNoReplace) == -EEXIST);
  // The walk up to the last component still comes first.
  CHECK(fs.rename("nonexist/.", "x") == -ENOENT);
  CHECK(fs.rename("f/.", "x") == -ENOTDIR);
  CHECK(fs.ns.link(proto::kBaseRoot, "missing", Follow::no, proto::kBaseRoot, ".", fs.me) == -ENOENT);

  CHECK(fs.rmdir("d/.") == -EINVAL);
  CHECK(fs.rmdir("e/.") == -EINVAL);  // even when empty
  CHECK(fs.rmdir(".") == -EINVAL);
  CHECK(fs.rmdir("d/..") == -ENOTEMPTY);
  CHECK(fs.rmdir("d/sub/..") == -ENOTEMPTY);
  CHECK(fs.ns.unlink(d, ".", proto::kUnlinkRemoveDir, fs.me) == -EINVAL);
  CHECK(fs.ns.unlink(d, "sub/..", proto::kUnlinkRemoveDir, fs.me) == -ENOTEMPTY);
  // Nothing went.
  CHECK(fs.attr("d").ino == d);
  CHECK(fs.err("d/sub") == 0);
  CHECK(fs.err("e") == 0);
  CHECK(fs.err("f") == 0);
  CHECK(fs.err("x") == -ENOENT);
}

// Trailing slashes: they say "a directory"; Linux lets directories carry
// them through rmdir, rename and mkdir, and refuses them on anything else.
TEST_CASE("trailing slashes") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.mkdir("d/sub") == 0);
  REQUIRE(fs.mkdir("e") == 0);
  REQUIRE(fs.create("f") == 0);
  REQUIRE(fs.create("d/g") == 0);
  REQUIRE(fs.symlink("d", "ld") == 0);
  REQUIRE(fs.symlink("f", "lf") == 0);
  REQUIRE(fs.symlink("nowhere", "dang") == 0);

  CHECK(fs.rmdir("e/") == 0);
  CHECK(fs.err("e") == -ENOENT);
  CHECK(fs.rmdir("d/") == -ENOTEMPTY);
  CHECK(fs.rmdir("f/") == -ENOTDIR);
  CHECK(fs.rmdir("missing/") == -ENOENT);
  CHECK(fs.rmdir("ld/") == -ENOTDIR);  // the name is a symlink: not followed
  CHECK(fs.rmdir("dang/") == -ENOTDIR);

  CHECK(fs.mkdir("newdir/") == 0);
  CHECK(fs.attr("newdir").mode == (S_IFDIR | 0755));
  CHECK(fs.mkdir("new2//") == 0);
  CHECK(fs.mkdir("f/") == -EEXIST);
  CHECK(fs.mkdir("dang/") == -EEXIST);

  CHECK(fs.rename("newdir/", "e/") == 0);
  CHECK(fs.rename("e", "e2/") == 0);
  CHECK(fs.rename("e2/", "e3") == 0);
  CHECK(fs.rename("new2", "e3/") == 0);  // a directory over an empty one
  CHECK(fs.attr("e3").mode == (S_IFDIR | 0755));
  CHECK(fs.rename("f/", "x") == -ENOTDIR);
  CHECK(fs.rename("f", "x/") == -ENOTDIR);
  CHECK(fs.rename("f/", "e3") == -ENOTDIR);
  CHECK(fs.rename("f", "f/") == -ENOTDIR);
  CHECK(fs.rename("f", "d/g/") == -ENOTDIR);
  CHECK(fs.rename("f", "lf/") == -ENOTDIR);
  CHECK(fs.rename("lf/", "x") == -ENOTDIR);
  CHECK(fs.rename("ld/", "x") == -ENOTDIR);
  CHECK(fs.rename("ld", "x/") == -ENOTDIR);
  CHECK(fs.rename("e3", "ld/") == -ENOTDIR);
  CHECK(fs.rename("missing/", "x") == -ENOENT);

  CHECK(fs.unlink("f/") == -ENOTDIR);
  CHECK(fs.unlink("d/g/") == -ENOTDIR);
  CHECK(fs.unlink("lf/") == -ENOTDIR);
  CHECK(fs.unlink("ld/") == -ENOTDIR);
  CHECK(fs.unlink("dang/") == -ENOTDIR);
  CHECK(fs.unlink("missing/") == -ENOENT);
  CHECK(fs.unlink("d/") == -EISDIR);

  // O_CREAT with a trailing slash is EISDIR before the name is looked up.
  for (const char* p : {"f/", "missing/", "d/", "lf/", "dang/"}) {
    INFO(p);
    CHECK(fs.open(p, proto::kOpenCreate | O_RDONLY) == -EISDIR);
    CHECK(fs.open(p, proto::kOpenCreate | proto::kOpenExcl | O_RDONLY) == -EISDIR);
  }
  CHECK(fs.open("f/", O_RDONLY) == -ENOTDIR);
  CHECK(fs.err("f") == 0);
  CHECK(fs.err("lf", Follow::no) == 0);
  CHECK(fs.err("d/g") == 0);
}

// --- new operations ----------------------------------------------------------

TEST_CASE("symlink and readlink") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.symlink("target/x", "d/l") == 0);
  proto::Attr a{};
  REQUIRE(fs.stat("d/l", a, Follow::no) == 0);
  CHECK(a.mode == (S_IFLNK | 0777));
  CHECK(a.size == 8);
  CHECK(fs.symlink("x", "d/l") == -EEXIST);
  CHECK(fs.symlink("x", "d") == -EEXIST);
  CHECK(fs.symlink("x", "nope/l") == -ENOENT);
  CHECK(fs.symlink("x", "new/") == -ENOENT);
  CHECK(fs.symlink("", "e") == -ENOENT);
  CHECK(fs.symlink(std::string(4095, 'x'), "long") == 0);
  CHECK(fs.symlink(std::string(4096, 'x'), "long2") == -ENAMETOOLONG);
  REQUIRE(fs.create("f") == 0);
  CHECK(fs.symlink("x", "f/l") == -ENOTDIR);
  Cred other{2000, 2000, {}};
  CHECK(fs.ns.symlink("x", proto::kBaseRoot, "d/o", other) == -EACCES);

  std::string t;
  REQUIRE(fs.ns.readlink(proto::kBaseRoot, "d/l", fs.me, t) == 0);
  CHECK(t == "target/x");
  CHECK(fs.ns.readlink(proto::kBaseRoot, "f", fs.me, t) == -EINVAL);
  CHECK(fs.ns.readlink(proto::kBaseRoot, "missing", fs.me, t) == -ENOENT);
  // kEmptyPath: "" names the base, a symlink inode here.
  REQUIRE(fs.ns.readlink(a.ino, "", fs.me, t) == 0);
  CHECK(t == "target/x");
}

TEST_CASE("link: names, link counts, errors") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.create("f") == 0);
  REQUIRE(fs.symlink("f", "sl") == 0);
  const proto::Attr f0 = fs.attr("f");
  REQUIRE(fs.ns.link(proto::kBaseRoot, "f", Follow::no, proto::kBaseRoot, "d/g", fs.me) == 0);
  const proto::Attr g = fs.attr("d/g");
  CHECK(g.ino == f0.ino);
  CHECK(g.nlink == 2);
  CHECK(fs.ns.link(proto::kBaseRoot, "f", Follow::no, proto::kBaseRoot, "d/g", fs.me) == -EEXIST);
  CHECK(fs.ns.link(proto::kBaseRoot, "f", Follow::no, proto::kBaseRoot, "d/.", fs.me) == -EEXIST);
  CHECK(fs.ns.link(proto::kBaseRoot, "d", Follow::no, proto::kBaseRoot, "d2", fs.me) == -EPERM);
  CHECK(fs.ns.link(proto::kBaseRoot, "missing", Follow::no, proto::kBaseRoot, "x", fs.me) == -ENOENT);
  CHECK(fs.ns.link(proto::kBaseRoot, "f", Follow::no, proto::kBaseRoot, "x/", fs.me) == -ENOENT);
  CHECK(fs.ns.link(proto::kBaseRoot, "f", Follow::no, proto::kBaseRoot, "nodir/x", fs.me) == -ENOENT);
  // Follow or not a final symlink of the old path.
  REQUIRE(fs.ns.link(proto::kBaseRoot, "sl", Follow::yes, proto::kBaseRoot, "viaf", fs.me) == 0);
  CHECK(fs.attr("viaf").ino == f0.ino);
  REQUIRE(fs.ns.link(proto::kBaseRoot, "sl", Follow::no, proto::kBaseRoot, "sl2", fs.me) == 0);
  proto::Attr l{};
  REQUIRE(fs.stat("sl2", l, Follow::no) == 0);
  CHECK(S_ISLNK(l.mode));
  // kEmptyPath: the old path "" names old_base, even a regular file.
  REQUIRE(fs.ns.link(f0.ino, "", Follow::no, proto::kBaseRoot, "byino", fs.me) == 0);
  CHECK(fs.attr("f").nlink == 4);
  // Unlinking one name keeps the others.
  REQUIRE(fs.unlink("f") == 0);
  CHECK(fs.attr("d/g").nlink == 3);
  CHECK(fs.mem.counts().files == 1);
  // Permissions: write on the new parent; protected_hardlinks.
  Cred other{2000, 2000, {}};
  CHECK(fs.ns.link(proto::kBaseRoot, "d/g", Follow::no, proto::kBaseRoot, "d/h", other) == -EACCES);
  REQUIRE(fs.mkdir("pub", 0777) == 0);
  CHECK(fs.ns.link(proto::kBaseRoot, "d/g", Follow::no, proto::kBaseRoot, "pub/h", other) == -EPERM);
  CHECK(fs.ns.link(proto::kBaseRoot, "d/g", Follow::no, proto::kBaseRoot, "pub/h", Cred{0, 0, {}}) == 0);
}

TEST_CASE("setattr: mode, owner, size, times") {
  Fs fs;
  Cred other{2000, 2000, {}};
  Cred root{0, 0, {}};
  Cred member{kMe, kMyGroup, {3000}};
  REQUIRE(fs.mkdir("d") == 0);
  UniqueFd fd;
  REQUIRE(fs.open("f", proto::kOpenCreate | O_RDWR, 0644, &fd) == 0);
  REQUIRE(write(fd.get(), "hello", 5) == 5);
  REQUIRE(fs.symlink("f", "sl") == 0);
  proto::Attr a{};
  auto set = [&](std::string_view path, SetattrArgs args, const Cred& c, Follow f = Follow::yes) {
    return fs.ns.setattr(proto::kBaseRoot, path, f, args, c, a);
  };

  SECTION("mode") {
    SetattrArgs m{proto::kSetMode, 0600};
    const proto::Attr before = fs.attr("f");
    REQUIRE(set("f", m, fs.me) == 0);
    CHECK(a.mode == (S_IFREG | 0600));
    CHECK(fs.attr("f").mode == (S_IFREG | 0600));
    CHECK((a.ctime_sec > before.ctime_sec || a.ctime_nsec >= before.ctime_nsec));
    CHECK(set("f", m, other) == -EPERM);
    CHECK(set("f", SetattrArgs{proto::kSetMode, 0755}, root) == 0);
    CHECK(set("sl", m, fs.me, Follow::no) == -EOPNOTSUPP);
    REQUIRE(set("sl", m, fs.me) == 0);  // through the link
    // setgid is dropped when the caller is not in the file's group.
    REQUIRE(set("f", SetattrArgs{proto::kSetGid, 0, UINT32_MAX, 3000}, member) == 0);
    REQUIRE(set("f", SetattrArgs{proto::kSetMode, 02755}, fs.me) == 0);
    CHECK((a.mode & 07777) == 0755);
    REQUIRE(set("f", SetattrArgs{proto::kSetMode, 02755}, member) == 0);
    CHECK((a.mode & 07777) == 02755);
    REQUIRE(set("d", SetattrArgs{proto::kSetMode, 01777}, fs.me) == 0);
    CHECK(a.mode == (S_IFDIR | 01777));
  }
  SECTION("owner and group") {
    CHECK(set("f", SetattrArgs{proto::kSetUid, 0, 2000}, fs.me) == -EPERM);
    CHECK(set("f", SetattrArgs{proto::kSetUid, 0, kMe}, fs.me) == 0);  // to itself
    CHECK(set("f", SetattrArgs{proto::kSetGid, 0, UINT32_MAX, 3000}, fs.me) == -EPERM);
    REQUIRE(set("f", SetattrArgs{proto::kSetGid, 0, UINT32_MAX, 3000}, member) == 0);
    CHECK(a.gid == 3000);
    CHECK(a.uid == kMe);
    CHECK(set("f", SetattrArgs{proto::kSetGid, 0, UINT32_MAX, kMyGroup}, other) == -EPERM);
    REQUIRE(set("f", SetattrArgs{proto::kSetUid | proto::kSetGid, 0, 2000, 2000}, root) == 0);
    CHECK(a.uid == 2000);
    CHECK(a.gid == 2000);
    REQUIRE(set("f", SetattrArgs{proto::kSetUid | proto::kSetGid, 0, UINT32_MAX, UINT32_MAX}, root) == 0);
    CHECK(a.uid == 2000);
    // chown drops setuid (and setgid with group exec) on files.
    REQUIRE(set("f", SetattrArgs{proto::kSetMode, 06755}, root) == 0);
    REQUIRE(set("f", SetattrArgs{proto::kSetUid, 0, 2000}, root) == 0);
    CHECK((a.mode & 07777) == 0755);
  }
  SECTION("any chown drops set-id bits on a non-directory, as Linux") {
    auto ctime_moves = [&](const SetattrArgs& args, const Cred& c, uint32_t before, uint32_t after) {
      REQUIRE(set("f", SetattrArgs{proto::kSetMode, before}, root) == 0);  // root: chmod keeps setgid
      const proto::Attr was = a;
      usleep(2000);
      REQUIRE(set("f", args, c) == 0);
      CHECK((a.mode & 07777) == after);
      CHECK((a.ctime_sec != was.ctime_sec || a.ctime_nsec != was.ctime_nsec));
    };
    const SetattrArgs own_both{proto::kSetUid | proto::kSetGid, 0, kMe, kMyGroup};
    const SetattrArgs own_uid{proto::kSetUid, 0, kMe};
    const SetattrArgs own_gid{proto::kSetGid, 0, UINT32_MAX, kMyGroup};
    const SetattrArgs none{proto::kSetUid | proto::kSetGid, 0, UINT32_MAX, UINT32_MAX};  // chown(-1, -1)
    for (const SetattrArgs& args : {own_both, own_uid, own_gid, none}) {
      INFO(args.valid << " " << args.uid << " " << args.gid);
      ctime_moves(args, fs.me, 06755, 0755);
      ctime_moves(args, fs.me, 06745, 02745);  // setgid without group exec stays
      ctime_moves(args, fs.me, 04755, 0755);
      ctime_moves(args, fs.me, 02755, 0755);
      ctime_moves(args, root, 06755, 0755);  // root too
      ctime_moves(args, fs.me, 0644, 0644);
    }
    // A caller outside the file's group loses setgid even without group exec.
    REQUIRE(set("f", SetattrArgs{proto::kSetGid, 0, UINT32_MAX, 3000}, member) == 0);
    ctime_moves(SetattrArgs{proto::kSetUid, 0, kMe}, fs.me, 02745, 0745);
    ctime_moves(SetattrArgs{proto::kSetUid, 0, kMe}, member, 02745, 02745);
    ctime_moves(SetattrArgs{proto::kSetUid, 0, kMe}, root, 02745, 02745);
    // Dropping them is a mode change: another user's chown(-1, -1) of a
    // set-id file is refused (and changes nothing); of a plain file it passes.
    REQUIRE(set("f", SetattrArgs{proto::kSetMode, 04755}, root) == 0);
    CHECK(set("f", none, other) == -EPERM);
    CHECK((fs.attr("f").mode & 07777) == 04755);
    ctime_moves(none, other, 0755, 0755);
    // Directories keep theirs.
    REQUIRE(set("d", SetattrArgs{proto::kSetMode, 06755}, fs.me) == 0);
    REQUIRE(set("d", own_both, fs.me) == 0);
    CHECK((a.mode & 07777) == 06755);
    // No owner field at all: nothing is a chown.
    REQUIRE(set("f", SetattrArgs{proto::kSetMode, 06755}, root) == 0);
    REQUIRE(set("f", SetattrArgs{proto::kSetAtimeNow}, fs.me) == 0);
    CHECK((a.mode & 07777) == 06755);
  }
  SECTION("size") {
    SetattrArgs t{proto::kSetSize};
    t.size = 2;
    REQUIRE(set("f", t, fs.me) == 0);
    CHECK(a.size == 2);
    struct stat st {};
    REQUIRE(fstat(fd.get(), &st) == 0);
    CHECK(st.st_size == 2);
    t.size = 100000;
    REQUIRE(set("f", t, fs.me) == 0);
    CHECK(fs.attr("f").size == 100000);
    CHECK(set("d", t, fs.me) == -EISDIR);
    CHECK(set("sl", t, fs.me, Follow::no) == -EINVAL);
    CHECK(set("f", t, other) == -EACCES);
    t.size = kMaxFileSize + 1;
    CHECK(set("f", t, fs.me) == -EFBIG);
  }
  SECTION("times") {
    SetattrArgs t{proto::kSetAtime | proto::kSetMtime};
    t.atime = {1000, 5};
    t.mtime = {2000, 7};
    REQUIRE(set("f", t, fs.me) == 0);
    CHECK(a.atime_sec == 1000);
    CHECK(a.atime_nsec == 5);
    CHECK(a.mtime_sec == 2000);
    struct stat st {};
    REQUIRE(fstat(fd.get(), &st) == 0);  // clients see it on their fds
    CHECK(st.st_mtim.tv_sec == 2000);
    CHECK(st.st_atim.tv_sec == 1000);
    // Only mtime: atime untouched.
    SetattrArgs m{proto::kSetMtime};
    m.mtime = {3000, 0};
    REQUIRE(set("f", m, fs.me) == 0);
    CHECK(a.atime_sec == 1000);
    CHECK(a.mtime_sec == 3000);
    REQUIRE(set("f", SetattrArgs{proto::kSetMtimeNow}, fs.me) == 0);
    CHECK(a.mtime_sec > 3000);
    // Directories and symlinks keep their times in the inode.
    REQUIRE(set("d", t, fs.me) == 0);
    CHECK(fs.attr("d").mtime_sec == 2000);
    REQUIRE(set("sl", t, fs.me, Follow::no) == 0);
    proto::Attr l{};
    REQUIRE(fs.stat("sl", l, Follow::no) == 0);
    CHECK(l.atime_sec == 1000);
    // Explicit times: owner or root; "now": owner, root or a writer.
    CHECK(set("f", t, other) == -EPERM);
    CHECK(set("f", SetattrArgs{proto::kSetAtimeNow | proto::kSetMtimeNow}, other) == -EACCES);
    REQUIRE(fs.create("w", 0666) == 0);
    CHECK(set("w", SetattrArgs{proto::kSetAtimeNow | proto::kSetMtimeNow}, other) == 0);
    CHECK(set("w", t, other) == -EPERM);
    CHECK(set("w", t, root) == 0);
  }
  SECTION("kEmptyPath: the base of any type") {
    const uint64_t ino = fs.attr("f").ino;
    REQUIRE(fs.ns.setattr(ino, "", Follow::yes, SetattrArgs{proto::kSetMode, 0611}, fs.me, a) == 0);
    CHECK(a.ino == ino);
    CHECK(fs.attr("f").mode == (S_IFREG | 0611));
    REQUIRE(fs.unlink("f") == 0);
    CHECK(fs.ns.setattr(ino, "", Follow::yes, SetattrArgs{proto::kSetMode, 0600}, fs.me, a) == -ENOENT);
  }
  SECTION("a refused request changes nothing") {
    SetattrArgs both{proto::kSetMode | proto::kSetUid, 0600, 2000};
    CHECK(set("f", both, fs.me) == -EPERM);
    CHECK(fs.attr("f").mode == (S_IFREG | 0644));
  }
}

TEST_CASE("statfs: capacity from the limits") {
  Fs fs;
  proto::StatfsRep s{};
  REQUIRE(fs.ns.statfs(s) == 0);
  CHECK(s.bsize == 4096);
  CHECK(s.namelen == 255);
  CHECK(s.fsid == kDev);
  CHECK(s.blocks == default_limits().max_bytes / 4096);
  CHECK(s.blocks > 0);
  CHECK(s.files == default_limits().max_inodes);
  CHECK(s.ffree == s.files - 1);

  fs.mem.set_limits(Limits{4096 * 100, 3});
  UniqueFd fd;
  REQUIRE(fs.open("f", proto::kOpenCreate | O_RDWR, 0644, &fd) == 0);
  REQUIRE(ftruncate(fd.get(), 0) == 0);
  const std::string data(8192, 'x');
  REQUIRE(write(fd.get(), data.data(), data.size()) == 8192);
  REQUIRE(fs.ns.statfs(s) == 0);
  CHECK(s.blocks == 100);
  CHECK(s.bfree == 98);
  CHECK(s.bavail == 98);
  CHECK(s.files == 3);
  CHECK(s.ffree == 1);
  REQUIRE(fs.mkdir("d") == 0);
  CHECK(fs.mkdir("e") == -ENOSPC);
  CHECK(fs.create("g") == -ENOSPC);
  CHECK(fs.symlink("x", "l") == -ENOSPC);
  CHECK(fs.ns.mknod(proto::kBaseRoot, "n", S_IFREG | 0644, fs.me) == -ENOSPC);
}

TEST_CASE("xattrs: namespaces, flags, limits, permissions") {
  Fs fs;
  Cred other{2000, 2000, {}};
  Cred root{0, 0, {}};
  REQUIRE(fs.create("f") == 0);
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.symlink("f", "sl") == 0);
  auto set = [&](std::string_view path, std::string_view name, std::string_view value,
                 uint32_t how = 0, const Cred* c = nullptr, Follow f = Follow::yes) {
    return fs.ns.setxattr(proto::kBaseRoot, path, f, name, value, how, c != nullptr ? *c : fs.me);
  };
  auto get = [&](std::string_view path, std::string_view name, std::string& out, const Cred* c = nullptr,
                 Follow f = Follow::yes) {
    return fs.ns.getxattr(proto::kBaseRoot, path, f, name, c != nullptr ? *c : fs.me, out);
  };
  std::string v;

  REQUIRE(set("f", "user.a", std::string("v\0al", 4)) == 0);
  REQUIRE(get("f", "user.a", v) == 0);
  CHECK(v == std::string("v\0al", 4));
  CHECK(get("f", "user.b", v) == -ENODATA);
  CHECK(set("f", "user.a", "x", proto::kXattrCreate) == -EEXIST);
  CHECK(set("f", "user.b", "x", proto::kXattrReplace) == -ENODATA);
  const uint32_t both = proto::kXattrCreate | proto::kXattrReplace;
  CHECK(set("f", "user.a", "x", both) == -EEXIST);
  CHECK(set("f", "user.b", "x", both) == -ENODATA);
  REQUIRE(set("f", "user.a", "new", proto::kXattrReplace) == 0);
  REQUIRE(get("f", "user.a", v) == 0);
  CHECK(v == "new");
  REQUIRE(set("f", "user.empty", "") == 0);
  REQUIRE(get("f", "user.empty", v) == 0);
  CHECK(v.empty());
  REQUIRE(set("d", "user.dir", "1") == 0);

  // Names and sizes.
  CHECK(set("f", "nons", "x") == -EOPNOTSUPP);
  CHECK(set("f", "os2.x", "x") == -EOPNOTSUPP);
  CHECK(set("f", "system.posix_acl_access", "x") == -EOPNOTSUPP);
  CHECK(get("f", "system.posix_acl_access", v) == -EOPNOTSUPP);
  CHECK(set("f", "", "x") == -ERANGE);
  CHECK(set("f", "user." + std::string(251, 'n'), "x") == -ERANGE);
  CHECK(set("f", "user." + std::string(250, 'n'), "x") == 0);
  CHECK(set("f", "user.", "x") == -EINVAL);
  CHECK(set("f", "user.big", std::string(proto::kMaxXattrValue + 1, 'v')) == -E2BIG);
  CHECK(set("f", "user.max", std::string(proto::kMaxXattrValue, 'v')) == 0);

  // Symlinks: user.* is refused on the link itself.
  CHECK(set("sl", "user.l", "x", 0, nullptr, Follow::no) == -EPERM);
  CHECK(get("sl", "user.l", v, nullptr, Follow::no) == -ENODATA);
  REQUIRE(get("sl", "user.a", v) == 0);  // followed to f

  // trusted.* and security.*: root writes; anyone reads security.*.
  CHECK(set("f", "trusted.t", "x") == -EPERM);
  CHECK(set("f", "security.s", "x") == -EPERM);
  REQUIRE(set("f", "trusted.t", "x", 0, &root) == 0);
  REQUIRE(set("f", "security.s", "y", 0, &root) == 0);
  CHECK(get("f", "trusted.t", v) == -ENODATA);
  REQUIRE(get("f", "trusted.t", v, &root) == 0);
  REQUIRE(get("f", "security.s", v) == 0);
  CHECK(v == "y");

  // user.*: read needs r, write needs w.
  CHECK(set("f", "user.o", "x", 0, &other) == -EACCES);
  REQUIRE(get("f", "user.a", v, &other) == 0);  // 0644
  REQUIRE(fs.create("private", 0600) == 0);
  REQUIRE(set("private", "user.p", "x") == 0);
  CHECK(get("private", "user.p", v, &other) == -EACCES);
  REQUIRE(fs.mkdir("sticky", 01777) == 0);
  CHECK(set("sticky", "user.s", "x", 0, &other) == -EPERM);

  // listxattr: NUL-terminated names; trusted.* only for root.
  std::string list;
  REQUIRE(fs.ns.listxattr(proto::kBaseRoot, "d", Follow::yes, fs.me, list) == 0);
  CHECK(list == std::string("user.dir\0", 9));
  REQUIRE(fs.ns.listxattr(proto::kBaseRoot, "f", Follow::yes, fs.me, list) == 0);
  CHECK(list.find("trusted.t") == std::string::npos);
  CHECK(list.find(std::string("security.s\0", 11)) != std::string::npos);
  CHECK(list.find(std::string("user.a\0", 7)) != std::string::npos);
  REQUIRE(fs.ns.listxattr(proto::kBaseRoot, "f", Follow::yes, root, list) == 0);
  CHECK(list.find(std::string("trusted.t\0", 10)) != std::string::npos);
  REQUIRE(fs.ns.listxattr(proto::kBaseRoot, "sl", Follow::no, fs.me, list) == 0);
  CHECK(list.empty());

  // removexattr.
  REQUIRE(fs.ns.removexattr(proto::kBaseRoot, "f", Follow::yes, "user.a", fs.me) == 0);
  CHECK(fs.ns.removexattr(proto::kBaseRoot, "f", Follow::yes, "user.a", fs.me) == -ENODATA);
  CHECK(get("f", "user.a", v) == -ENODATA);
  CHECK(fs.ns.removexattr(proto::kBaseRoot, "f", Follow::yes, "trusted.t", fs.me) == -EPERM);
  CHECK(fs.ns.removexattr(proto::kBaseRoot, "f", Follow::yes, "user.empty", other) == -EACCES);

  // The list must fit one reply.
  REQUIRE(fs.create("many") == 0);
  int rc = 0;
  for (int i = 0; rc == 0 && i < 1000; ++i) rc = set("many", "user." + std::string(200, 'a') + std::to_string(i), "");
  CHECK(rc == -ENOSPC);
  // kEmptyPath on a file's inode.
  const uint64_t ino = fs.attr("d").ino;
  REQUIRE(fs.ns.getxattr(ino, "", Follow::yes, "user.dir", fs.me, v) == 0);
  CHECK(v == "1");
}

TEST_CASE("canonical: directories by parent links, files by the walk") {
  Fs fs;
  REQUIRE(fs.mkdir("a") == 0);
  REQUIRE(fs.mkdir("a/b") == 0);
  REQUIRE(fs.create("a/b/f") == 0);
  REQUIRE(fs.symlink("a/b", "lb") == 0);
  REQUIRE(fs.symlink("b/f", "a/lf") == 0);
  std::string p;
  auto canon = [&](std::string_view path, Follow f = Follow::yes, uint64_t base = proto::kBaseRoot) {
    return fs.ns.canonical(base, path, f, fs.me, p);
  };
  REQUIRE(canon("") == 0);
  CHECK(p == "/");
  REQUIRE(canon("/a/./b/..//b/") == 0);
  CHECK(p == "/a/b");
  REQUIRE(canon("lb/f") == 0);
  CHECK(p == "/a/b/f");
  REQUIRE(canon("a/lf") == 0);
  CHECK(p == "/a/b/f");
  REQUIRE(canon("a/lf", Follow::no) == 0);
  CHECK(p == "/a/lf");
  REQUIRE(canon("lb") == 0);
  CHECK(p == "/a/b");
  CHECK(canon("a/missing") == -ENOENT);
  // A hard link is reported under the name the walk came through.
  REQUIRE(fs.ns.link(proto::kBaseRoot, "a/b/f", Follow::no, proto::kBaseRoot, "top", fs.me) == 0);
  REQUIRE(canon("top") == 0);
  CHECK(p == "/top");
  // Base + "" (getcwd): follows renames; ENOENT once removed.
  const uint64_t b = fs.attr("a/b").ino;
  REQUIRE(canon("", Follow::yes, b) == 0);
  CHECK(p == "/a/b");
  REQUIRE(fs.rename("a", "z") == 0);
  REQUIRE(canon("", Follow::yes, b) == 0);
  CHECK(p == "/z/b");
  REQUIRE(fs.mkdir("y") == 0);
  REQUIRE(fs.rename("z/b", "y", proto::kRenameExchange) == 0);
  REQUIRE(canon("", Follow::yes, b) == 0);
  CHECK(p == "/y");
  REQUIRE(canon("z/b") == 0);
  CHECK(p == "/z/b");
  // A file's inode as base: one of its names.
  const uint64_t f = fs.attr("top").ino;
  REQUIRE(canon("", Follow::yes, f) == 0);
  CHECK((p == "/top" || p == "/y/f"));
  REQUIRE(fs.unlink("y/f") == 0);
  REQUIRE(fs.rmdir("y") == 0);
  CHECK(canon("", Follow::yes, b) == -ENOENT);
}

namespace {
// A private directory for chdir's stand-ins, removed at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char templ[] = "/tmp/userfs-test-cwd-XXXXXX";
    REQUIRE(mkdtemp(templ) != nullptr);
    path = templ;
  }
  ~TempDir() {
    if (DIR* d = opendir(path.c_str())) {
      while (dirent* e = readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
          ::rmdir((path + "/" + e->d_name).c_str());
      closedir(d);
    }
    ::rmdir(path.c_str());
  }
  bool has(uint64_t ino) const {
    struct stat st {};
    return ::stat((path + "/" + std::to_string(ino)).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }
};
}  // namespace

TEST_CASE("chdir: stand-in host directories") {
  Fs fs;
  TempDir tmp;
  uint64_t ino = 0;
  UniqueFd fd;
  CHECK(fs.ns.chdir(proto::kBaseRoot, "", fs.me, ino, fd) == -EOPNOTSUPP);
  fs.ns.set_cwd_root(tmp.path);
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.mkdir("d/e") == 0);
  REQUIRE(fs.mkdir("noexec", 0600) == 0);
  REQUIRE(fs.create("f") == 0);
  REQUIRE(fs.symlink("d", "ld") == 0);
  const uint64_t d = fs.attr("d").ino;

  REQUIRE(fs.ns.chdir(proto::kBaseRoot, "ld", fs.me, ino, fd) == 0);
  CHECK(ino == d);
  REQUIRE(fd.valid());
  CHECK((fcntl(fd.get(), F_GETFL) & O_PATH) != 0);
  struct stat a {}, b {};
  REQUIRE(fstat(fd.get(), &a) == 0);
  REQUIRE(::stat((tmp.path + "/" + std::to_string(d)).c_str(), &b) == 0);
  CHECK(a.st_ino == b.st_ino);
  // Again: the same directory, no error.
  UniqueFd fd2;
  REQUIRE(fs.ns.chdir(d, "e/..", fs.me, ino, fd2) == 0);
  CHECK(ino == d);
  REQUIRE(fs.ns.chdir(d, "", fs.me, ino, fd2) == 0);  // kEmptyPath: the base
  CHECK(ino == d);

  CHECK(fs.ns.chdir(proto::kBaseRoot, "f", fs.me, ino, fd2) == -ENOTDIR);
  CHECK(fs.ns.chdir(proto::kBaseRoot, "missing", fs.me, ino, fd2) == -ENOENT);
  CHECK(fs.ns.chdir(proto::kBaseRoot, "noexec", Cred{2000, 2000, {}}, ino, fd2) == -EACCES);
  CHECK(fs.ns.chdir(proto::kBaseRoot, "noexec", fs.me, ino, fd2) == -EACCES);

  // Removing the directory removes its stand-in; so does replacing it.
  const uint64_t e = fs.attr("d/e").ino;
  REQUIRE(fs.ns.chdir(proto::kBaseRoot, "d/e", fs.me, ino, fd2) == 0);
  CHECK(tmp.has(e));
  REQUIRE(fs.rmdir("d/e") == 0);
  CHECK_FALSE(tmp.has(e));
  REQUIRE(fs.mkdir("victim") == 0);
  const uint64_t v = fs.attr("victim").ino;
  REQUIRE(fs.ns.chdir(proto::kBaseRoot, "victim", fs.me, ino, fd2) == 0);
  CHECK(tmp.has(v));
  REQUIRE(fs.mkdir("other") == 0);
  REQUIRE(fs.rename("other", "victim") == 0);
  CHECK_FALSE(tmp.has(v));
  CHECK(tmp.has(d));
}

TEST_CASE("mknod: the type, then the name, then 'not supported'") {
  Fs fs;
  REQUIRE(fs.create("f") == 0);
  REQUIRE(fs.mkdir("d") == 0);
  auto mknod = [&](std::string_view p, uint32_t mode, const Cred& c) {
    return fs.ns.mknod(proto::kBaseRoot, p, mode, c);
  };
  // The type is checked first: a directory is EPERM, an unknown type EINVAL.
  CHECK(mknod("f", S_IFDIR | 0644, fs.me) == -EPERM);
  CHECK(mknod("no/x", S_IFDIR | 0644, fs.me) == -EPERM);
  CHECK(mknod("new", S_IFDIR | 0644, fs.me) == -EPERM);
  CHECK(mknod("f", 0170000 | 0644, fs.me) == -EINVAL);
  CHECK(mknod("no/x", 0050000 | 0644, fs.me) == -EINVAL);
  CHECK(mknod("new", S_IFLNK | 0644, fs.me) == -EINVAL);
  // Then the name, for every valid type.
  for (uint32_t type : {uint32_t{S_IFIFO}, uint32_t{S_IFSOCK}, uint32_t{S_IFCHR}, uint32_t{S_IFBLK},
                        uint32_t{S_IFREG}, 0u}) {
    INFO(type);
    CHECK(mknod("f", type | 0644, fs.me) == -EEXIST);
    CHECK(mknod("d/.", type | 0644, fs.me) == -EEXIST);
    CHECK(mknod("no/x", type | 0644, fs.me) == -ENOENT);
    CHECK(mknod("f/x", type | 0644, fs.me) == -ENOTDIR);
    CHECK(mknod("nf/", type | 0644, fs.me) == -ENOENT);
    CHECK(mknod("d/x", type | 0644, Cred{2000, 2000, {}}) == -EACCES);
  }
  // Only then our limitation.
  CHECK(mknod("fifo", S_IFIFO | 0644, fs.me) == -EPERM);
  CHECK(mknod("sock", S_IFSOCK | 0644, fs.me) == -EPERM);
  CHECK(mknod("chr", S_IFCHR | 0644, fs.me) == -EPERM);
  CHECK(mknod("blk", S_IFBLK | 0644, fs.me) == -EPERM);
  CHECK(fs.err("fifo") == -ENOENT);
  CHECK(mknod("z0", 0600, fs.me) == 0);
  CHECK(fs.attr("z0").mode == (S_IFREG | 0600));
}

TEST_CASE("mknod: regular files only") {
  Fs fs;
  REQUIRE(fs.ns.mknod(proto::kBaseRoot, "f", S_IFREG | 0640, fs.me) == 0);
  proto::Attr a = fs.attr("f");
  CHECK(a.mode == (S_IFREG | 0640));
  CHECK(a.size == 0);
  REQUIRE(fs.ns.mknod(proto::kBaseRoot, "g", 0600, fs.me) == 0);  // type 0: regular
  CHECK(fs.attr("g").mode == (S_IFREG | 0600));
  CHECK(fs.open("g", O_RDWR) == 0);  // it has its data
  CHECK(fs.ns.mknod(proto::kBaseRoot, "f", S_IFREG | 0644, fs.me) == -EEXIST);
  CHECK(fs.ns.mknod(proto::kBaseRoot, "h/", S_IFREG | 0644, fs.me) == -ENOENT);
  CHECK(fs.ns.mknod(proto::kBaseRoot, "no/h", S_IFREG | 0644, fs.me) == -ENOENT);
  CHECK(fs.ns.mknod(proto::kBaseRoot, "fifo", S_IFIFO | 0644, fs.me) == -EPERM);
  CHECK(fs.ns.mknod(proto::kBaseRoot, "chr", S_IFCHR | 0644, fs.me) == -EPERM);
  CHECK(fs.ns.mknod(proto::kBaseRoot, "sock", S_IFSOCK | 0644, fs.me) == -EPERM);
  CHECK(fs.ns.mknod(proto::kBaseRoot, "f/x", S_IFREG | 0644, fs.me) == -ENOTDIR);
  CHECK(fs.ns.mknod(proto::kBaseRoot, "x", S_IFREG | 0644, Cred{2000, 2000, {}}) == -EACCES);
}

TEST_CASE("readdir of a directory removed while open: an empty listing") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  const uint64_t d = fs.attr("d").ino;
  REQUIRE(fs.rmdir("d") == 0);
  std::vector<unsigned char> buf(4096);
  size_t used = 0;
  REQUIRE(fs.ns.readdir(d, 0, buf.data(), buf.size(), used) == 0);
  bool eof = false;
  CHECK(decode(buf.data(), used, &eof).empty());
  CHECK(eof);
  CHECK(fs.ns.readdir(999999, 0, buf.data(), buf.size(), used) == -ENOENT);  // never allocated
  CHECK(fs.ns.readdir(0, 0, buf.data(), buf.size(), used) == -ENOENT);
}

// --- the path layer over other backends ----------------------------------------

TEST_CASE("ino tag: every number in and out carries the mount's tag; other numbers are unknown") {
  constexpr uint64_t kTag = uint64_t{3} << 56;
  Fs fs;
  fs.ns.set_ino_tag(kTag);
  TempDir tmp;
  fs.ns.set_cwd_root(tmp.path);
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.create("d/f") == 0);
  const proto::Attr root = fs.attr("");
  CHECK(root.ino == (kTag | proto::kRootIno));
  const proto::Attr d = fs.attr("d");
  const proto::Attr f = fs.attr("d/f");
  CHECK((d.ino & ~kMaxBackendIno) == kTag);
  CHECK((f.ino & ~kMaxBackendIno) == kTag);
  CHECK(d.ino != f.ino);

  // In: bases and getattr take tagged numbers only.
  proto::Attr a{};
  REQUIRE(fs.stat("f", a, Follow::yes, d.ino) == 0);
  CHECK(a.ino == f.ino);
  REQUIRE(fs.ns.getattr(f.ino, a) == 0);
  CHECK(a.ino == f.ino);
  CHECK(a.dev == kDev);
  CHECK(fs.ns.getattr(f.ino & kMaxBackendIno, a) == -ENOENT);
  CHECK(fs.ns.getattr((uint64_t{4} << 56) | (f.ino & kMaxBackendIno), a) == -ENOENT);
  CHECK(fs.stat("f", a, Follow::yes, d.ino & kMaxBackendIno) == -ENOENT);
  CHECK(fs.stat("", a, Follow::yes, f.ino) == 0);
  CHECK(fs.stat("", a, Follow::yes, f.ino & kMaxBackendIno) == -ENOENT);

  // Out: readdir's entries, "." and "..", open's attributes, chdir.
  const auto ents = list(fs.ns, d.ino);
  REQUIRE(names(ents) == std::vector<std::string>{".", "..", "f"});
  CHECK(ents[0].ino == d.ino);
  CHECK(ents[1].ino == root.ino);
  CHECK(ents[2].ino == f.ino);
  std::vector<unsigned char> buf(4096);
  size_t used = 0;
  CHECK(fs.ns.readdir(d.ino & kMaxBackendIno, 0, buf.data(), buf.size(), used) == -ENOENT);
  OpenResult r;
  REQUIRE(fs.ns.open(proto::kBaseRoot, "d/f", O_RDONLY, 0, fs.me, r) == 0);
  CHECK(r.attr.ino == f.ino);
  uint64_t ino = 0;
  UniqueFd fd;
  REQUIRE(fs.ns.chdir(proto::kBaseRoot, "d", fs.me, ino, fd) == 0);
  CHECK(ino == d.ino);
  CHECK(tmp.has(d.ino));
  std::string path;
  REQUIRE(fs.ns.canonical(f.ino, "", Follow::no, fs.me, path) == 0);
  CHECK(path == "/d/f");
  // The stand-in goes with the directory, by its tagged name.
  REQUIRE(fs.unlink("d/f") == 0);
  REQUIRE(fs.rmdir("d") == 0);
  CHECK_FALSE(tmp.has(d.ino));
}

namespace {

// Shows a MemBackend's tree read-only: only the reading methods are
// forwarded, so a change that reached it would be ENOSYS, not EROFS.
class ReadOnlyView final : public userfs::Backend {
 public:
  explicit ReadOnlyView(MemBackend& mem) : mem_(mem) {}
  bool read_only() const override { return true; }
  int lookup(uint64_t parent, std::string_view name, Attr& out) override { return mem_.lookup(parent, name, out); }
  int getattr(uint64_t ino, Attr& out) override { return mem_.getattr(ino, out); }
  int readlink(uint64_t ino, std::string& out) override { return mem_.readlink(ino, out); }
  int open(uint64_t ino, uint32_t flags, Opened& out) override {
    ++opens;
    return mem_.open(ino, flags, out);
  }
  int readdir(uint64_t ino, uint64_t cookie, DirFiller& fill) override { return mem_.readdir(ino, cookie, fill); }
  int getxattr(uint64_t ino, std::string_view name, std::string& out) override {
    return mem_.getxattr(ino, name, out);
  }
  int listxattr(uint64_t ino, std::string& out) override { return mem_.listxattr(ino, out); }
  int opens = 0;

 private:
  MemBackend& mem_;
};

}  // namespace

TEST_CASE("a read-only backend: every change is EROFS once the path resolves; reading works") {
  Fs fs;
  REQUIRE(fs.mkdir("d") == 0);
  REQUIRE(fs.mkdir("d/empty") == 0);
  UniqueFd wfd;
  REQUIRE(fs.open("d/f", proto::kOpenCreate | O_WRONLY, 0644, &wfd) == 0);
  REQUIRE(write(wfd.get(), "hello", 5) == 5);
  REQUIRE(fs.symlink("f", "d/l") == 0);
  REQUIRE(fs.ns.setxattr(proto::kBaseRoot, "d/f", Follow::yes, "user.k", "v", 0, fs.me) == 0);

  ReadOnlyView view(fs.mem);
  Namespace ro(view, kDev);
  const Cred& me = fs.me;
  const uint64_t root = proto::kBaseRoot;
  OpenResult r;
  proto::Attr a{};
  SetattrArgs chmod;
  chmod.valid = proto::kSetMode;
  chmod.mode = 0600;
  SetattrArgs touch;
  touch.valid = proto::kSetMtimeNow;

  CHECK(ro.mkdir(root, "d/new", 0755, me) == -EROFS);
  CHECK(ro.open(root, "d/new", proto::kOpenCreate | O_WRONLY, 0644, me, r) == -EROFS);
  CHECK(ro.open(root, "d/f", O_WRONLY, 0, me, r) == -EROFS);
  CHECK(ro.open(root, "d/f", O_RDWR, 0, me, r) == -EROFS);
  CHECK(ro.open(root, "d/f", O_RDONLY | proto::kOpenTrunc, 0, me, r) == -EROFS);
  CHECK(ro.unlink(root, "d/f", 0, me) == -EROFS);
  CHECK(ro.unlink(root, "d/empty", proto::kUnlinkRemoveDir, me) == -EROFS);
  CHECK(ro.rename(root, "d/f", root, "d/g", 0, me) == -EROFS);
  CHECK(ro.symlink("x", root, "d/s", me) == -EROFS);
  CHECK(ro.link(root, "d/f", Follow::no, root, "d/h", me) == -EROFS);
  CHECK(ro.setattr(root, "d/f", Follow::yes, chmod, me, a) == -EROFS);
  CHECK(ro.setattr(root, "d/f", Follow::yes, touch, me, a) == -EROFS);
  CHECK(ro.setxattr(root, "d/f", Follow::yes, "user.k", "w", 0, me) == -EROFS);
  CHECK(ro.removexattr(root, "d/f", Follow::yes, "user.k", me) == -EROFS);
  CHECK(ro.mknod(root, "d/n", S_IFREG | 0644, me) == -EROFS);
  CHECK(ro.access(root, "d/f", W_OK, Follow::yes, me) == -EROFS);
  CHECK(view.opens == 0);

  // Path resolution comes first, and an existing name is EEXIST, as Linux.
  CHECK(ro.mkdir(root, "missing/new", 0755, me) == -ENOENT);
  CHECK(ro.unlink(root, "d/f/x", 0, me) == -ENOTDIR);
  CHECK(ro.mkdir(root, "d", 0755, me) == -EEXIST);
  CHECK(ro.open(root, "d/f", proto::kOpenCreate | proto::kOpenExcl | O_WRONLY, 0644, me, r) == -EEXIST);
  CHECK(ro.setattr(root, "d/missing", Follow::yes, chmod, me, a) == -ENOENT);

  // Reading is unchanged.
  CHECK(ro.access(root, "d/f", R_OK, Follow::yes, me) == 0);
  REQUIRE(ro.open(root, "d/l", O_RDONLY, 0, me, r) == 0);
  char buf[8] = {};
  CHECK(pread(r.fd.get(), buf, sizeof buf, 0) == 5);
  CHECK(std::string(buf) == "hello");
  CHECK(ro.open(root, "d/f", proto::kOpenCreate | O_RDONLY, 0644, me, r) == 0);
  CHECK(names(list(ro, ro.lookup(root, "d", Follow::yes, me, a) == 0 ? a.ino : 0)) ==
        std::vector<std::string>{".", "..", "empty", "f", "l"});
  std::string target, value;
  CHECK(ro.readlink(root, "d/l", me, target) == 0);
  CHECK(target == "f");
  CHECK(ro.getxattr(root, "d/f", Follow::yes, "user.k", me, value) == 0);
  CHECK(value == "v");
  std::string path;
  CHECK(ro.canonical(root, "d/empty/..", Follow::yes, me, path) == 0);  // by searching the parent
  CHECK(path == "/d");
}

namespace {

// A root directory holding one file "f" served by handle; nothing else is
// implemented.
class HandleOnly final : public userfs::Backend {
 public:
  int getattr(uint64_t ino, Attr& out) override {
    if (ino != kRootIno && ino != kFile) return -ENOENT;
    out = Attr{};
    out.ino = ino;
    out.mode = ino == kRootIno ? (S_IFDIR | 0755) : (S_IFREG | 0644);
    out.nlink = ino == kRootIno ? 2 : 1;
    out.uid = kMe;
    out.gid = kMyGroup;
    return 0;
  }
  int lookup(uint64_t parent, std::string_view name, Attr& out) override {
    if (parent != kRootIno) return -ENOTDIR;
    return name == "f" ? getattr(kFile, out) : -ENOENT;
  }
  int open(uint64_t ino, uint32_t flags, Opened& out) override {
    if ((flags & proto::kOpenPath) != 0) return -ENOSYS;
    out.fd = -1;
    out.handle = 1000 + ino;
    return 0;
  }
  static constexpr uint64_t kFile = 7;
};

}  // namespace

TEST_CASE("a backend's unimplemented methods surface as ENOSYS; handles pass through open") {
  HandleOnly backend;
  Namespace ns(backend, kDev);
  const Cred me{kMe, kMyGroup, {}};
  const uint64_t root = proto::kBaseRoot;
  proto::Attr a{};
  OpenResult r;
  SetattrArgs chmod;
  chmod.valid = proto::kSetMode;
  chmod.mode = 0600;
  std::string s;

  CHECK(ns.mkdir(root, "d", 0755, me) == -ENOSYS);
  CHECK(ns.open(root, "g", proto::kOpenCreate | O_WRONLY, 0644, me, r) == -ENOSYS);
  CHECK(ns.mknod(root, "g", S_IFREG | 0644, me) == -ENOSYS);
  CHECK(ns.symlink("x", root, "g", me) == -ENOSYS);
  CHECK(ns.link(root, "f", Follow::no, root, "g", me) == -ENOSYS);
  CHECK(ns.unlink(root, "f", 0, me) == -ENOSYS);
  CHECK(ns.rename(root, "f", root, "g", 0, me) == -ENOSYS);
  CHECK(ns.setattr(root, "f", Follow::yes, chmod, me, a) == -ENOSYS);
  // Extended attributes left out answer as a filesystem without them.
  CHECK(ns.getxattr(root, "f", Follow::yes, "user.k", me, s) == -EOPNOTSUPP);
  CHECK(ns.setxattr(root, "f", Follow::yes, "user.k", "v", 0, me) == -EOPNOTSUPP);
  CHECK(ns.listxattr(root, "f", Follow::yes, me, s) == -EOPNOTSUPP);
  std::vector<unsigned char> buf(4096);
  size_t used = 0;
  CHECK(ns.readdir(proto::kRootIno, 0, buf.data(), buf.size(), used) == -ENOSYS);
  // The walk's own answers come first.
  CHECK(ns.mkdir(root, "f", 0755, me) == -EEXIST);
  CHECK(ns.unlink(root, "missing", 0, me) == -ENOENT);
  CHECK(ns.lookup(root, "f/x", Follow::yes, me, a) == -ENOTDIR);

  // Without statfs: zeros, with the server's fsid.
  proto::StatfsRep st{};
  REQUIRE(ns.statfs(st) == 0);
  CHECK(st.fsid == kDev);
  CHECK(st.namelen == 255);
  CHECK(st.blocks == 0);

  REQUIRE(ns.open(root, "f", O_RDWR, 0, me, r) == 0);
  CHECK_FALSE(r.fd.valid());
  CHECK(r.handle == 1000 + HandleOnly::kFile);
  CHECK(r.attr.ino == HandleOnly::kFile);
  CHECK(r.attr.dev == kDev);
  CHECK(ns.open(root, "f", proto::kOpenPath, 0, me, r) == -EOPNOTSUPP);
  // Directories are the server's own handles.
  OpenResult dr;
  REQUIRE(ns.open(root, "", O_RDONLY | proto::kOpenDirectory, 0, me, dr) == 0);
  CHECK(dr.fd.valid());
}

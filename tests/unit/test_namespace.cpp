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

#include "namespace.hpp"

using namespace userfs;
using namespace userfs::server;

namespace {

constexpr uid_t kMe = 1000;
constexpr gid_t kMyGroup = 1000;
constexpr uint64_t kDev = 0x1234;

struct Fs {
  Namespace ns{kDev, kMe, kMyGroup};
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
  CHECK(fs.attr("../../a/b").ino == b);  // ".." of the root is the root
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
  CHECK(fs.ns.counts().bytes == 6);

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
  CHECK(fs.ns.counts().files == 0);
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
  CHECK(fs.ns.counts().inodes == 1);
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
  REQUIRE(fs.symlink("/d/f", "abs") == 0);  // absolute: from the mount root
  REQUIRE(fs.symlink("f", "d/rel") == 0);
  REQUIRE(fs.symlink("nowhere", "dangling") == 0);
  REQUIRE(fs.symlink("loop2", "loop1") == 0);
  REQUIRE(fs.symlink("loop1", "loop2") == 0);
  const uint64_t f = fs.attr("d/f").ino;

  CHECK(fs.attr("ld/f").ino == f);
  CHECK(fs.attr("abs").ino == f);
  CHECK(fs.attr("ld/rel").ino == f);
  CHECK(fs.attr("ld/").ino == fs.attr("d").ino);
  proto::Attr l{};
  REQUIRE(fs.stat("abs", l, Follow::no) == 0);
  CHECK(S_ISLNK(l.mode));
  CHECK(l.size == 4);
  CHECK(fs.err("abs/") == -ENOTDIR);
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
  CHECK(fs.open("abs", O_RDONLY) == 0);
  CHECK(fs.open("dangling", proto::kOpenCreate | proto::kOpenExcl | O_RDWR) == -EEXIST);
  CHECK(fs.open("loop1", O_RDONLY) == -ELOOP);
  // O_CREAT through a dangling symlink creates its target.
  REQUIRE(fs.open("dangling", proto::kOpenCreate | O_RDWR) == 0);
  CHECK(S_ISREG(fs.attr("nowhere").mode));
  // unlink removes the link, not its target.
  REQUIRE(fs.unlink("abs") == 0);
  CHECK(fs.attr("d/f").ino == f);
  CHECK(fs.ns.counts().symlinks == 5);

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
  const Counts c = fs.ns.counts();
  CHECK(c.inodes == 4);
  CHECK(c.directories == 2);
  CHECK(c.files == 1);
  CHECK(c.symlinks == 1);
  CHECK(c.bytes == 5);
}

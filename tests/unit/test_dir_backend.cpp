// The dir: backend driven directly over a temp dir: every method against
// what the host shows, and attempts to reach outside the served directory
// (names, symlinks, objects swapped or moved on the host behind its back).
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dir_backend.hpp"

using namespace userfs;
using namespace userfs::server;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string read_fd(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

struct stat host_stat(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st;
}

struct Listing final : DirFiller {
  struct Entry {
    std::string name;
    uint64_t ino;
    uint8_t type;
    uint64_t cookie;
  };
  std::vector<Entry> entries;
  size_t room = SIZE_MAX;
  bool add(std::string_view name, uint64_t ino, uint8_t dtype, uint64_t cookie) override {
    if (entries.size() >= room) return false;
    entries.push_back({std::string(name), ino, dtype, cookie});
    return true;
  }
  std::set<std::string> names() const {
    std::set<std::string> s;
    for (auto& e : entries) s.insert(e.name);
    return s;
  }
};

std::set<std::string> host_listing(const std::string& dir) {
  std::set<std::string> s;
  DIR* d = ::opendir(dir.c_str());
  REQUIRE(d != nullptr);
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") s.insert(n);
  }
  ::closedir(d);
  return s;
}

// A temp dir holding the served directory `root` and, beside it, `outside`
// with a secret the backend must never reach.
struct Fixture {
  std::string top, root, outside;
  std::unique_ptr<DirBackend> fs;
  NewNode node{0644, ::geteuid(), ::getegid()};

  Fixture() {
    const char* tmpdir = ::getenv("TMPDIR");
    std::string tmpl = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/userfs-dirbe.XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    top = tmpl;
    root = top + "/root";
    outside = top + "/outside";
    REQUIRE(::mkdir(root.c_str(), 0755) == 0);
    REQUIRE(::mkdir(outside.c_str(), 0755) == 0);
    write_file(outside + "/secret", "outside data\n");
    std::string error;
    fs = DirBackend::open(root, error);
    REQUIRE(fs != nullptr);
    REQUIRE(error.empty());
  }
  ~Fixture() {
    fs.reset();
    std::string cmd = "rm -rf '" + top + "'";
    (void)std::system(cmd.c_str());
  }
  std::string host(const std::string& rel) const { return rel.empty() ? root : root + "/" + rel; }

  // Backend number of a relative path, walked component by component.
  int walk(const std::string& rel, Attr& a) {
    uint64_t ino = kRootIno;
    REQUIRE(fs->getattr(ino, a) == 0);
    std::stringstream s(rel);
    std::string part;
    while (std::getline(s, part, '/')) {
      if (part.empty()) continue;
      if (int rc = fs->lookup(ino, part, a); rc != 0) return rc;
      ino = a.ino;
    }
    return 0;
  }
  uint64_t ino(const std::string& rel) {
    Attr a{};
    REQUIRE(walk(rel, a) == 0);
    return a.ino;
  }
  // The secret is untouched and nothing new appeared beside it.
  void outside_untouched() { outside_untouched_but({}); }
  void outside_untouched_but(std::set<std::string> also_there) {
    CHECK(read_file(outside + "/secret") == "outside data\n");
    also_there.insert("secret");
    CHECK(host_listing(outside) == also_there);
  }
};

void same_as_host(const Attr& a, const struct stat& st) {
  CHECK(a.mode == st.st_mode);
  CHECK(a.nlink == st.st_nlink);
  CHECK(a.uid == st.st_uid);
  CHECK(a.gid == st.st_gid);
  CHECK(a.size == static_cast<uint64_t>(st.st_size));
  CHECK(a.blocks == static_cast<uint64_t>(st.st_blocks));
  CHECK(a.mtime_sec == st.st_mtim.tv_sec);
  CHECK(a.mtime_nsec == st.st_mtim.tv_nsec);
  CHECK(a.ctime_sec == st.st_ctim.tv_sec);
  CHECK(a.atime_sec == st.st_atim.tv_sec);
}

}  // namespace

TEST_CASE("dir backend: open refuses what cannot be served", "[dir_backend]") {
  Fixture f;
  std::string error;
  CHECK(DirBackend::open(f.top + "/missing", error) == nullptr);
  CHECK(error.find("missing") != std::string::npos);
  CHECK(error.find(std::strerror(ENOENT)) != std::string::npos);
  write_file(f.top + "/file", "x");
  error.clear();
  CHECK(DirBackend::open(f.top + "/file", error) == nullptr);
  CHECK(error.find(std::strerror(ENOTDIR)) != std::string::npos);
  error.clear();
  CHECK(DirBackend::open("", error) == nullptr);
  CHECK(!error.empty());
  if (::geteuid() != 0) {  // root reads any directory
    REQUIRE(::mkdir((f.top + "/closed").c_str(), 0) == 0);
    error.clear();
    CHECK(DirBackend::open(f.top + "/closed", error) == nullptr);
    CHECK(error.find(std::strerror(EACCES)) != std::string::npos);
  }
}

TEST_CASE("dir backend: lookup and getattr report the host's attributes", "[dir_backend]") {
  Fixture f;
  write_file(f.host("a"), "hello");
  REQUIRE(::mkdir(f.host("d").c_str(), 0700) == 0);
  REQUIRE(::symlink("a", f.host("l").c_str()) == 0);

  Attr root{};
  REQUIRE(f.fs->getattr(kRootIno, root) == 0);
  CHECK(root.ino == kRootIno);
  same_as_host(root, host_stat(f.root));

  for (const char* name : {"a", "d", "l"}) {
    Attr a{};
    REQUIRE(f.fs->lookup(kRootIno, name, a) == 0);
    CHECK(a.ino != kRootIno);
    CHECK(a.ino <= kMaxBackendIno);
    same_as_host(a, host_stat(f.host(name)));
    Attr again{};
    REQUIRE(f.fs->getattr(a.ino, again) == 0);
    CHECK(again.ino == a.ino);
    same_as_host(again, host_stat(f.host(name)));
  }
  Attr a{};
  CHECK(f.fs->lookup(kRootIno, "missing", a) == -ENOENT);
  CHECK(f.fs->lookup(f.ino("a"), "x", a) == -ENOTDIR);
  CHECK(f.fs->getattr(12345678, a) == -ENOENT);
  // Distinct objects, distinct numbers; one object, one number.
  CHECK(f.ino("a") != f.ino("d"));
  CHECK(f.ino("a") == f.ino("a"));
}

TEST_CASE("dir backend: create and open give fds of the backing file", "[dir_backend]") {
  Fixture f;
  Attr a{};
  Opened o;
  REQUIRE(f.fs->create(kRootIno, "f", f.node, O_RDWR, a, o) == 0);
  REQUIRE(o.fd >= 0);
  UniqueFd created(o.fd);
  REQUIRE(::write(created.get(), "written", 7) == 7);
  CHECK(read_file(f.host("f")) == "written");
  struct stat st = host_stat(f.host("f"));
  struct stat fst {};
  REQUIRE(::fstat(created.get(), &fst) == 0);
  CHECK(fst.st_ino == st.st_ino);
  CHECK(a.ino == f.ino("f"));
  CHECK(f.fs->create(kRootIno, "f", f.node, O_RDWR, a, o) == -EEXIST);

  // Each open is a new open file description: own offset, asked-for flags.
  Opened r1, r2, w;
  REQUIRE(f.fs->open(a.ino, O_RDONLY, r1) == 0);
  REQUIRE(f.fs->open(a.ino, O_RDONLY, r2) == 0);
  UniqueFd fd1(r1.fd), fd2(r2.fd);
  char c;
  REQUIRE(::read(fd1.get(), &c, 1) == 1);
  CHECK(::lseek(fd1.get(), 0, SEEK_CUR) == 1);
  CHECK(::lseek(fd2.get(), 0, SEEK_CUR) == 0);
  CHECK(::write(fd1.get(), "x", 1) == -1);
  CHECK(errno == EBADF);
  CHECK((::fcntl(fd1.get(), F_GETFL) & O_ACCMODE) == O_RDONLY);

  REQUIRE(f.fs->open(a.ino, O_WRONLY | proto::kOpenAppend, w) == 0);
  UniqueFd wfd(w.fd);
  CHECK((::fcntl(wfd.get(), F_GETFL) & (O_ACCMODE | O_APPEND)) == (O_WRONLY | O_APPEND));
  REQUIRE(::write(wfd.get(), "+", 1) == 1);
  CHECK(read_file(f.host("f")) == "written+");

  Opened t;
  REQUIRE(f.fs->open(a.ino, O_RDONLY | proto::kOpenTrunc, t) == 0);
  UniqueFd tfd(t.fd);
  CHECK((::fcntl(tfd.get(), F_GETFL) & O_ACCMODE) == O_RDONLY);
  CHECK(host_stat(f.host("f")).st_size == 0);
  write_file(f.host("f"), "again");
  Opened t2;
  REQUIRE(f.fs->open(a.ino, O_RDWR | proto::kOpenTrunc, t2) == 0);
  UniqueFd t2fd(t2.fd);
  CHECK(host_stat(f.host("f")).st_size == 0);

  Opened p;
  REQUIRE(f.fs->open(a.ino, proto::kOpenPath, p) == 0);
  UniqueFd pfd(p.fd);
  CHECK((::fcntl(pfd.get(), F_GETFL) & O_PATH) == O_PATH);

  Attr d{};
  REQUIRE(f.fs->mkdir(kRootIno, "dir", f.node, d) == 0);
  Opened x;
  CHECK(f.fs->open(d.ino, O_RDONLY, x) == -EISDIR);
  REQUIRE(::mkfifo(f.host("fifo").c_str(), 0644) == 0);
  CHECK(f.fs->open(f.ino("fifo"), O_RDONLY, x) == -EOPNOTSUPP);
}

TEST_CASE("dir backend: new nodes get exactly the mode and owner asked", "[dir_backend]") {
  Fixture f;
  mode_t old = ::umask(077);
  NewNode node{0666, ::geteuid(), ::getegid()};
  Attr a{};
  Opened o;
  REQUIRE(f.fs->create(kRootIno, "c", node, O_WRONLY, a, o) == 0);
  ::close(o.fd);
  REQUIRE(f.fs->mknod(kRootIno, "n", node, a) == 0);
  node.mode = 0775;
  REQUIRE(f.fs->mkdir(kRootIno, "d", node, a) == 0);
  REQUIRE(f.fs->symlink("target", kRootIno, "s", node, a) == 0);
  ::umask(old);
  CHECK((host_stat(f.host("c")).st_mode & 07777) == 0666);
  CHECK(S_ISREG(host_stat(f.host("n")).st_mode));
  CHECK((host_stat(f.host("n")).st_mode & 07777) == 0666);
  CHECK(host_stat(f.host("d")).st_mode == (S_IFDIR | 0775));
  CHECK(S_ISLNK(host_stat(f.host("s")).st_mode));
  for (const char* n : {"c", "n", "d", "s"}) {
    Attr b{};
    REQUIRE(f.fs->lookup(kRootIno, n, b) == 0);
    same_as_host(b, host_stat(f.host(n)));
  }
  Attr e{};
  CHECK(f.fs->mkdir(kRootIno, "d", node, e) == -EEXIST);
  CHECK(f.fs->mknod(kRootIno, "c", node, e) == -EEXIST);
  CHECK(f.fs->symlink("x", kRootIno, "s", node, e) == -EEXIST);

  if (::geteuid() == 0) {  // only root gives files away
    NewNode theirs{0640, 1234, 5678};
    REQUIRE(f.fs->create(kRootIno, "theirs", theirs, O_RDONLY, a, o) == 0);
    ::close(o.fd);
    REQUIRE(f.fs->mkdir(kRootIno, "theirdir", theirs, a) == 0);
    REQUIRE(f.fs->symlink("t", kRootIno, "theirlink", theirs, a) == 0);
    for (const char* n : {"theirs", "theirdir", "theirlink"}) {
      struct stat st = host_stat(f.host(n));
      CHECK(st.st_uid == 1234u);
      CHECK(st.st_gid == 5678u);
    }
  }
}

TEST_CASE("dir backend: setattr changes the host object", "[dir_backend]") {
  Fixture f;
  write_file(f.host("f"), "0123456789");
  uint64_t ino = f.ino("f");
  SetattrIn in;
  Attr a{};
  in.valid = proto::kSetMode;
  in.mode = 04711;
  REQUIRE(f.fs->setattr(ino, in, a) == 0);
  CHECK(host_stat(f.host("f")).st_mode == (S_IFREG | 04711));
  in.valid = proto::kSetSize;
  in.size = 4;
  REQUIRE(f.fs->setattr(ino, in, a) == 0);
  CHECK(read_file(f.host("f")) == "0123");
  in.valid = proto::kSetAtime | proto::kSetMtime;
  in.atime = {1000, 5};
  in.mtime = {2000, 7};
  REQUIRE(f.fs->setattr(ino, in, a) == 0);
  struct stat st = host_stat(f.host("f"));
  CHECK(st.st_atim.tv_sec == 1000);
  CHECK(st.st_atim.tv_nsec == 5);
  CHECK(st.st_mtim.tv_sec == 2000);
  CHECK(st.st_mtim.tv_nsec == 7);
  in.valid = proto::kSetMtime;  // atime left alone
  in.mtime = {3000, 0};
  REQUIRE(f.fs->setattr(ino, in, a) == 0);
  CHECK(host_stat(f.host("f")).st_atim.tv_sec == 1000);
  CHECK(host_stat(f.host("f")).st_mtim.tv_sec == 3000);
  same_as_host(a, host_stat(f.host("f")));
  if (::geteuid() == 0) {
    in.valid = proto::kSetUid | proto::kSetGid;
    in.uid = 4321;
    in.gid = 8765;
    REQUIRE(f.fs->setattr(ino, in, a) == 0);
    CHECK(host_stat(f.host("f")).st_uid == 4321u);
    CHECK(host_stat(f.host("f")).st_gid == 8765u);
    CHECK(a.uid == 4321u);
  }
  REQUIRE(::symlink("f", f.host("l").c_str()) == 0);
  in.valid = proto::kSetMtime;
  in.mtime = {4000, 0};
  REQUIRE(f.fs->setattr(f.ino("l"), in, a) == 0);
  CHECK(host_stat(f.host("l")).st_mtim.tv_sec == 4000);  // the link itself
  CHECK(host_stat(f.host("f")).st_mtim.tv_sec == 3000);
  in.valid = proto::kSetSize;
  in.size = 0;
  REQUIRE(::mkdir(f.host("d").c_str(), 0755) == 0);
  CHECK(f.fs->setattr(f.ino("d"), in, a) == -EISDIR);
}

TEST_CASE("dir backend: names: link, unlink, rmdir, readlink, name_in_parent", "[dir_backend]") {
  Fixture f;
  Attr a{};
  REQUIRE(f.fs->mkdir(kRootIno, "d", f.node, a) == 0);
  const uint64_t d = a.ino;
  Opened o;
  REQUIRE(f.fs->create(d, "f", f.node, O_WRONLY, a, o) == 0);
  ::close(o.fd);
  const uint64_t file = a.ino;
  REQUIRE(f.fs->link(file, kRootIno, "hard", a) == 0);
  CHECK(a.ino == file);
  CHECK(a.nlink == 2);
  CHECK(host_stat(f.host("hard")).st_ino == host_stat(f.host("d/f")).st_ino);
  CHECK(f.ino("hard") == file);
  CHECK(f.fs->link(file, kRootIno, "hard", a) == -EEXIST);
  CHECK(f.fs->link(d, kRootIno, "dirlink", a) == -EPERM);

  REQUIRE(f.fs->symlink("../somewhere", d, "s", f.node, a) == 0);
  std::string target;
  REQUIRE(f.fs->readlink(a.ino, target) == 0);
  CHECK(target == "../somewhere");
  char host_target[64] = {};
  REQUIRE(::readlink(f.host("d/s").c_str(), host_target, sizeof host_target) == 12);
  CHECK(target == host_target);
  CHECK(f.fs->readlink(file, target) == -EINVAL);

  std::string name;
  REQUIRE(f.fs->name_in_parent(d, name) == 0);
  CHECK(name == "d");

  CHECK(f.fs->rmdir(kRootIno, "d") == -ENOTEMPTY);
  CHECK(f.fs->unlink(kRootIno, "d") == -EISDIR);
  CHECK(f.fs->rmdir(kRootIno, "hard") == -ENOTDIR);
  REQUIRE(f.fs->unlink(d, "f") == 0);
  CHECK(::access(f.host("d/f").c_str(), F_OK) != 0);
  REQUIRE(f.fs->getattr(file, a) != 0);  // by its old name it is gone...
  REQUIRE(f.fs->lookup(kRootIno, "hard", a) == 0);  // ...and found again by its other
  CHECK(a.ino == file);
  CHECK(a.nlink == 1);
  REQUIRE(f.fs->getattr(file, a) == 0);
  REQUIRE(f.fs->unlink(d, "s") == 0);
  REQUIRE(f.fs->rmdir(kRootIno, "d") == 0);
  CHECK(::access(f.host("d").c_str(), F_OK) != 0);
  CHECK(f.fs->getattr(d, a) == -ENOENT);
  CHECK(f.fs->unlink(kRootIno, "missing") == -ENOENT);
  CHECK(f.fs->rmdir(kRootIno, "missing") == -ENOENT);
  CHECK(host_listing(f.root) == std::set<std::string>{"hard"});
}

TEST_CASE("dir backend: rename, with its flags, keeps numbers", "[dir_backend]") {
  Fixture f;
  REQUIRE(::mkdir(f.host("a").c_str(), 0755) == 0);
  REQUIRE(::mkdir(f.host("a/sub").c_str(), 0755) == 0);
  write_file(f.host("a/sub/f"), "deep");
  write_file(f.host("x"), "x");
  write_file(f.host("y"), "y");
  const uint64_t a = f.ino("a"), deep = f.ino("a/sub/f"), x = f.ino("x"), y = f.ino("y");

  REQUIRE(f.fs->rename(kRootIno, "a", kRootIno, "b", 0) == 0);
  CHECK(host_listing(f.root) == std::set<std::string>{"b", "x", "y"});
  Attr attr{};
  REQUIRE(f.fs->getattr(a, attr) == 0);  // a moved directory keeps its number...
  REQUIRE(f.fs->getattr(deep, attr) == 0);  // ...and its contents stay reachable
  CHECK(attr.size == 4);
  std::string name;
  REQUIRE(f.fs->name_in_parent(a, name) == 0);
  CHECK(name == "b");

  CHECK(f.fs->rename(kRootIno, "x", kRootIno, "y", proto::kRenameNoReplace) == -EEXIST);
  CHECK(read_file(f.host("y")) == "y");
  REQUIRE(f.fs->rename(kRootIno, "x", kRootIno, "y", proto::kRenameExchange) == 0);
  CHECK(read_file(f.host("y")) == "x");
  CHECK(read_file(f.host("x")) == "y");
  CHECK(f.ino("y") == x);
  CHECK(f.ino("x") == y);
  Opened o;
  REQUIRE(f.fs->open(x, O_RDONLY, o) == 0);
  UniqueFd fd(o.fd);
  CHECK(read_fd(fd.get()) == "x");
  CHECK(f.fs->rename(kRootIno, "x", kRootIno, "none", proto::kRenameExchange) == -ENOENT);

  REQUIRE(f.fs->rename(kRootIno, "y", kRootIno, "x", 0) == 0);  // replaces
  CHECK(host_listing(f.root) == std::set<std::string>{"b", "x"});
  CHECK(read_file(f.host("x")) == "x");
  CHECK(f.ino("x") == x);
  CHECK(f.fs->getattr(y, attr) == -ENOENT);

  REQUIRE(f.fs->rename(f.ino("b/sub"), "f", kRootIno, "f", 0) == 0);
  CHECK(read_file(f.host("f")) == "deep");
  CHECK(f.ino("f") == deep);
  REQUIRE(::mkdir(f.host("full").c_str(), 0755) == 0);
  write_file(f.host("full/z"), "");
  CHECK(f.fs->rename(kRootIno, "b", kRootIno, "full", 0) == -ENOTEMPTY);
  CHECK(f.fs->rename(kRootIno, "missing", kRootIno, "q", 0) == -ENOENT);
  CHECK(f.fs->rename(kRootIno, "b", f.ino("b/sub"), "inside", 0) == -EINVAL);
}

TEST_CASE("dir backend: readdir lists what the host lists, with resumable cookies", "[dir_backend]") {
  Fixture f;
  std::set<std::string> made;
  for (int i = 0; i < 300; ++i) {
    std::string n = "entry-" + std::to_string(i);
    write_file(f.host(n), "");
    made.insert(n);
  }
  REQUIRE(::mkdir(f.host("dir").c_str(), 0755) == 0);
  REQUIRE(::symlink("/", f.host("link").c_str()) == 0);
  made.insert("dir");
  made.insert("link");

  Listing all;
  REQUIRE(f.fs->readdir(kRootIno, 0, all) == 0);
  CHECK(all.names() == host_listing(f.root));
  CHECK(all.entries.size() == made.size());
  for (auto& e : all.entries) {
    CHECK(e.cookie > 2);
    CHECK(e.ino == f.ino(e.name));
    if (e.name == "dir") CHECK(e.type == DT_DIR);
    if (e.name == "link") CHECK(e.type == DT_LNK);
    if (e.name == "entry-7") CHECK(e.type == DT_REG);
  }

  // In pieces of 7, each continuing from the last cookie taken.
  std::vector<std::string> pieces;
  uint64_t cookie = 0;
  for (;;) {
    Listing part;
    part.room = 7;
    REQUIRE(f.fs->readdir(kRootIno, cookie, part) == 0);
    if (part.entries.empty()) break;
    for (auto& e : part.entries) pieces.push_back(e.name);
    cookie = part.entries.back().cookie;
  }
  CHECK(pieces.size() == made.size());
  CHECK(std::set<std::string>(pieces.begin(), pieces.end()) == made);

  // Cookies are small (a client keeps one as a directory fd's file offset,
  // which a host filesystem may bound) and the same on every listing.
  Listing again;
  REQUIRE(f.fs->readdir(kRootIno, 0, again) == 0);
  REQUIRE(again.entries.size() == all.entries.size());
  for (size_t i = 0; i < all.entries.size(); ++i) {
    CHECK(again.entries[i].cookie == all.entries[i].cookie);
    CHECK(all.entries[i].cookie < 3 + 2 * made.size());
  }
  Listing stale;
  CHECK(f.fs->readdir(kRootIno, 1u << 30, stale) == -EINVAL);

  Listing none;
  CHECK(f.fs->readdir(f.ino("entry-1"), 0, none) == -ENOTDIR);
  Listing empty;
  REQUIRE(f.fs->readdir(f.ino("dir"), 0, empty) == 0);
  CHECK(empty.entries.empty());
}

TEST_CASE("dir backend: statfs, fsync and xattrs act on the host", "[dir_backend]") {
  Fixture f;
  proto::StatfsRep s{};
  REQUIRE(f.fs->statfs(s) == 0);
  struct statvfs v {};
  REQUIRE(::statvfs(f.root.c_str(), &v) == 0);
  CHECK(s.blocks == v.f_blocks);
  CHECK(s.files == v.f_files);
  CHECK(s.bsize == v.f_frsize);
  CHECK(s.namelen == v.f_namemax);

  write_file(f.host("f"), "data");
  const uint64_t ino = f.ino("f");
  CHECK(f.fs->fsync(ino, false) == 0);
  CHECK(f.fs->fsync(ino, true) == 0);
  CHECK(f.fs->fsync(kRootIno, false) == 0);
  CHECK(f.fs->fsync(0, false) == 0);

  int rc = f.fs->setxattr(ino, "user.colour", "blue", 0);
  if (rc == -EOPNOTSUPP) {
    WARN("no user xattrs on " << f.root);
    return;
  }
  REQUIRE(rc == 0);
  char buf[64] = {};
  REQUIRE(::getxattr(f.host("f").c_str(), "user.colour", buf, sizeof buf) == 4);
  CHECK(std::string(buf) == "blue");
  std::string value;
  REQUIRE(f.fs->getxattr(ino, "user.colour", value) == 0);
  CHECK(value == "blue");
  CHECK(f.fs->setxattr(ino, "user.colour", "red", proto::kXattrCreate) == -EEXIST);
  CHECK(f.fs->setxattr(ino, "user.size", "1", proto::kXattrReplace) == -ENODATA);
  REQUIRE(::setxattr(f.host("f").c_str(), "user.other", "1", 1, 0) == 0);
  std::string names;
  REQUIRE(f.fs->listxattr(ino, names) == 0);
  std::set<std::string> listed;
  for (size_t pos = 0; pos < names.size();) {
    std::string n = names.c_str() + pos;
    listed.insert(n);
    pos += n.size() + 1;
  }
  CHECK(listed == std::set<std::string>{"user.colour", "user.other"});
  REQUIRE(f.fs->removexattr(ino, "user.colour") == 0);
  CHECK(::getxattr(f.host("f").c_str(), "user.colour", buf, sizeof buf) == -1);
  CHECK(f.fs->getxattr(ino, "user.colour", value) == -ENODATA);
  CHECK(f.fs->removexattr(ino, "user.colour") == -ENODATA);

  // A symlink's own attributes, never its target's.
  REQUIRE(::setxattr((f.outside + "/secret").c_str(), "user.secret", "s", 1, 0) == 0);
  REQUIRE(::symlink((f.outside + "/secret").c_str(), f.host("l").c_str()) == 0);
  CHECK(f.fs->getxattr(f.ino("l"), "user.secret", value) != 0);
  REQUIRE(f.fs->listxattr(f.ino("l"), names) == 0);
  CHECK(names.find("user.secret") == std::string::npos);
}

TEST_CASE("dir backend: a file opened then unlinked keeps its number", "[dir_backend]") {
  Fixture f;
  Attr a{};
  Opened o;
  REQUIRE(f.fs->create(kRootIno, "tmp", f.node, O_RDWR, a, o) == 0);
  UniqueFd fd(o.fd);
  REQUIRE(::write(fd.get(), "abc", 3) == 3);
  REQUIRE(f.fs->unlink(kRootIno, "tmp") == 0);
  Attr after{};
  REQUIRE(f.fs->getattr(a.ino, after) == 0);
  CHECK(after.nlink == 0);
  CHECK(after.size == 3);
  // One not opened through the backend is simply gone.
  write_file(f.host("plain"), "");
  const uint64_t plain = f.ino("plain");
  REQUIRE(f.fs->unlink(kRootIno, "plain") == 0);
  CHECK(f.fs->getattr(plain, after) == -ENOENT);
}

TEST_CASE("dir backend: paths longer than PATH_MAX", "[dir_backend]") {
  Fixture f;
  const std::string long_name(200, 'n');
  uint64_t dir = kRootIno;
  Attr a{};
  for (int depth = 0; depth < 30; ++depth) {  // 6000 bytes of path
    REQUIRE(f.fs->mkdir(dir, long_name, f.node, a) == 0);
    dir = a.ino;
  }
  Opened o;
  REQUIRE(f.fs->create(dir, "leaf", f.node, O_WRONLY, a, o) == 0);
  ::close(o.fd);
  REQUIRE(f.fs->getattr(a.ino, a) == 0);
  REQUIRE(f.fs->open(a.ino, O_RDONLY, o) == 0);
  ::close(o.fd);
  CHECK(f.fs->lookup(dir, "..", a) == 0);
}

// --- escapes ------------------------------------------------------------------

TEST_CASE("dir backend: names never leave the directory", "[dir_backend][escape]") {
  Fixture f;
  REQUIRE(::mkdir(f.host("d").c_str(), 0755) == 0);
  Attr a{};
  // ".." comes from the records, and stops at the root.
  REQUIRE(f.fs->lookup(f.ino("d"), "..", a) == 0);
  CHECK(a.ino == kRootIno);
  REQUIRE(f.fs->lookup(kRootIno, "..", a) == 0);
  CHECK(a.ino == kRootIno);
  for (const char* bad : {".", "a/b", "../outside", "/etc", "..\0x"}) {
    std::string_view name = std::strcmp(bad, "..\0x") == 0 ? std::string_view("..\0x", 4) : std::string_view(bad);
    CHECK(f.fs->lookup(kRootIno, name, a) == -EINVAL);
    CHECK(f.fs->mkdir(kRootIno, name, f.node, a) == -EINVAL);
    Opened o;
    CHECK(f.fs->create(kRootIno, name, f.node, O_WRONLY, a, o) == -EINVAL);
    CHECK(f.fs->symlink("x", kRootIno, name, f.node, a) == -EINVAL);
    CHECK(f.fs->unlink(kRootIno, name) == -EINVAL);
    CHECK(f.fs->rename(f.ino("d"), "..", kRootIno, "stolen", 0) == -EINVAL);
    CHECK(f.fs->link(kRootIno, kRootIno, name, a) != 0);
  }
  // "../outside/secret" as one name would name the secret.
  CHECK(f.fs->lookup(kRootIno, "../outside/secret", a) == -EINVAL);
  CHECK(f.fs->rename(kRootIno, "d", kRootIno, "../outside/d", 0) == -EINVAL);
  CHECK(::access(f.host("d").c_str(), F_OK) == 0);
  f.outside_untouched();
}

TEST_CASE("dir backend: symlinks pointing outside are read, never followed", "[dir_backend][escape]") {
  Fixture f;
  REQUIRE(::symlink(f.outside.c_str(), f.host("abs").c_str()) == 0);
  REQUIRE(::symlink("../outside", f.host("rel").c_str()) == 0);
  REQUIRE(::symlink("../outside/secret", f.host("file").c_str()) == 0);
  REQUIRE(::symlink("/", f.host("slash").c_str()) == 0);
  for (const char* link : {"abs", "rel", "slash"}) {
    Attr a{};
    REQUIRE(f.fs->lookup(kRootIno, link, a) == 0);
    CHECK(S_ISLNK(a.mode));
    CHECK(f.fs->lookup(a.ino, "secret", a) == -ENOTDIR);
    Listing l;
    CHECK(f.fs->readdir(f.ino(link), 0, l) == -ENOTDIR);
    CHECK(l.entries.empty());
    CHECK(f.fs->mkdir(f.ino(link), "made", f.node, a) == -ENOTDIR);
    Opened o;
    CHECK(f.fs->create(f.ino(link), "made", f.node, O_WRONLY, a, o) == -ENOTDIR);
    CHECK(f.fs->rename(kRootIno, link, f.ino(link), "moved", 0) == -ENOTDIR);
  }
  std::string target;
  REQUIRE(f.fs->readlink(f.ino("abs"), target) == 0);
  CHECK(target == f.outside);
  REQUIRE(f.fs->readlink(f.ino("rel"), target) == 0);
  CHECK(target == "../outside");

  const uint64_t file = f.ino("file");
  Opened o;
  CHECK(f.fs->open(file, O_RDONLY, o) == -ELOOP);
  CHECK(f.fs->open(file, O_WRONLY | proto::kOpenTrunc, o) == -ELOOP);
  SetattrIn in;
  Attr a{};
  in.valid = proto::kSetSize;
  in.size = 0;
  CHECK(f.fs->setattr(file, in, a) == -EINVAL);
  in.valid = proto::kSetMode;
  in.mode = 0777;
  CHECK(f.fs->setattr(file, in, a) == -EOPNOTSUPP);
  CHECK((host_stat(f.outside + "/secret").st_mode & 07777) == 0644);
  CHECK(f.fs->link(file, kRootIno, "linked", a) == 0);  // links the symlink itself
  CHECK(S_ISLNK(host_stat(f.host("linked")).st_mode));
  f.outside_untouched();
}

TEST_CASE("dir backend: a directory swapped for a symlink is not entered", "[dir_backend][escape]") {
  Fixture f;
  REQUIRE(::mkdir(f.host("d").c_str(), 0755) == 0);
  write_file(f.host("d/inner"), "in");
  const uint64_t d = f.ino("d");
  const uint64_t inner = f.ino("d/inner");
  // Between the lookup and the use, the host replaces d.
  REQUIRE(::rename(f.host("d").c_str(), f.host("d.old").c_str()) == 0);
  for (const std::string& target : {std::string("/"), f.outside, std::string("../outside")}) {
    ::unlink(f.host("d").c_str());
    REQUIRE(::symlink(target.c_str(), f.host("d").c_str()) == 0);
    Attr a{};
    CHECK(f.fs->getattr(d, a) == -ENOENT);
    CHECK(f.fs->lookup(d, "secret", a) == -ENOENT);
    CHECK(f.fs->lookup(d, "etc", a) == -ENOENT);
    CHECK(f.fs->lookup(d, "..", a) == -ENOENT);
    Listing l;
    CHECK(f.fs->readdir(d, 0, l) == -ENOENT);
    CHECK(l.entries.empty());
    CHECK(f.fs->mkdir(d, "made", f.node, a) == -ENOENT);
    Opened o;
    CHECK(f.fs->create(d, "made", f.node, O_WRONLY, a, o) == -ENOENT);
    CHECK(f.fs->unlink(d, "secret") == -ENOENT);
    CHECK(f.fs->rename(d, "secret", kRootIno, "stolen", 0) == -ENOENT);
    CHECK(f.fs->symlink("x", d, "made", f.node, a) == -ENOENT);
    CHECK(f.fs->getattr(inner, a) == -ENOENT);
    CHECK(f.fs->open(inner, O_RDONLY, o) == -ENOENT);
    std::string name;
    CHECK(f.fs->name_in_parent(d, name) == -ENOENT);
    f.outside_untouched();
  }
  // Put back, the same numbers find the same objects again.
  ::unlink(f.host("d").c_str());
  REQUIRE(::rename(f.host("d.old").c_str(), f.host("d").c_str()) == 0);
  Attr a{};
  REQUIRE(f.fs->getattr(d, a) == 0);
  REQUIRE(f.fs->getattr(inner, a) == 0);
  CHECK(a.size == 2);
}

TEST_CASE("dir backend: a directory moved out on the host is out of reach", "[dir_backend][escape]") {
  Fixture f;
  REQUIRE(::mkdir(f.host("d").c_str(), 0755) == 0);
  write_file(f.host("d/f"), "mine");
  const uint64_t d = f.ino("d"), file = f.ino("d/f");
  REQUIRE(::rename(f.host("d").c_str(), (f.outside + "/d").c_str()) == 0);
  write_file(f.outside + "/d/new", "created outside");
  Attr a{};
  CHECK(f.fs->getattr(d, a) == -ENOENT);
  CHECK(f.fs->lookup(d, "new", a) == -ENOENT);
  CHECK(f.fs->lookup(d, "f", a) == -ENOENT);
  CHECK(f.fs->getattr(file, a) == -ENOENT);
  Opened o;
  CHECK(f.fs->open(file, O_RDWR | proto::kOpenTrunc, o) == -ENOENT);
  CHECK(read_file(f.outside + "/d/f") == "mine");
  Listing l;
  CHECK(f.fs->readdir(d, 0, l) == -ENOENT);
  CHECK(f.fs->mkdir(d, "x", f.node, a) == -ENOENT);
  CHECK(f.fs->unlink(d, "f") == -ENOENT);
  CHECK(host_listing(f.outside + "/d") == std::set<std::string>{"f", "new"});
  CHECK(f.fs->lookup(kRootIno, "d", a) == -ENOENT);

  // A symlink left in its place leads to the very same objects, outside:
  // the walk to them refuses to follow it.
  for (const std::string& target : {f.outside + "/d", std::string("../outside/d")}) {
    ::unlink(f.host("d").c_str());
    REQUIRE(::symlink(target.c_str(), f.host("d").c_str()) == 0);
    CHECK(f.fs->getattr(file, a) == -ENOENT);
    CHECK(f.fs->open(file, O_RDWR | proto::kOpenTrunc, o) == -ENOENT);
    CHECK(f.fs->lookup(d, "new", a) == -ENOENT);
    CHECK(read_file(f.outside + "/d/f") == "mine");
  }
}

TEST_CASE("dir backend: objects changed on the host behind its back", "[dir_backend][escape]") {
  Fixture f;
  write_file(f.host("f"), "first");
  const uint64_t file = f.ino("f");
  // Deleted: gone.
  REQUIRE(::unlink(f.host("f").c_str()) == 0);
  Attr a{};
  CHECK(f.fs->getattr(file, a) == -ENOENT);
  Opened o;
  CHECK(f.fs->open(file, O_RDONLY, o) == -ENOENT);
  // Another object under the old name is not the old number's.
  write_file(f.host("f"), "second");
  const int rc = f.fs->getattr(file, a);
  if (f.ino("f") != file) CHECK(rc == -ENOENT);

  // A hard link made on the host: one object, one number.
  write_file(f.host("g"), "g");
  REQUIRE(::link(f.host("g").c_str(), f.host("g2").c_str()) == 0);
  CHECK(f.ino("g") == f.ino("g2"));
  // A hard link to a file outside is the host's business: it is a file of
  // the directory now, and only that object is served.
  REQUIRE(::link((f.outside + "/secret").c_str(), f.host("linked-in").c_str()) == 0);
  REQUIRE(f.fs->getattr(f.ino("linked-in"), a) == 0);
  CHECK(a.nlink == 2);

  // Renamed on the host: ENOENT by the old name until looked up anew, then
  // the same number again.
  REQUIRE(::mkdir(f.host("dir").c_str(), 0755) == 0);
  const uint64_t dir = f.ino("dir");
  REQUIRE(::rename(f.host("dir").c_str(), f.host("dir2").c_str()) == 0);
  CHECK(f.fs->getattr(dir, a) == -ENOENT);
  CHECK(f.ino("dir2") == dir);
  REQUIRE(f.fs->getattr(dir, a) == 0);
}

TEST_CASE("dir backend: a directory and a symlink to outside swapped during calls", "[dir_backend][escape]") {
  Fixture f;
  REQUIRE(::mkdir(f.host("d").c_str(), 0755) == 0);
  write_file(f.host("d/x"), "inside");
  write_file(f.outside + "/x", "OUTSIDE");
  REQUIRE(::symlink(f.outside.c_str(), f.host("swap").c_str()) == 0);
  const uint64_t held = f.ino("d");
  // Another thread flips d between the directory and a symlink to outside
  // (renameat2 exchanges the two names atomically) while this one walks.
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    while (!stop.load()) ::renameat2(AT_FDCWD, f.host("d").c_str(), AT_FDCWD, f.host("swap").c_str(), RENAME_EXCHANGE);
  });
  int served = 0, refused = 0;
  for (int i = 0; i < 3000; ++i) {
    Attr a{};
    const uint64_t start = (i % 2 == 0) ? held : kRootIno;
    int rc = start == held ? f.fs->lookup(held, "x", a) : f.fs->lookup(kRootIno, "d", a);
    if (rc == 0 && start == kRootIno) {
      if (!S_ISDIR(a.mode)) {
        ++refused;
        continue;
      }
      rc = f.fs->lookup(a.ino, "x", a);
    }
    if (rc != 0) {
      CHECK((rc == -ENOENT || rc == -ENOTDIR));
      ++refused;
      continue;
    }
    Opened o;
    if (f.fs->open(a.ino, O_RDONLY, o) != 0) {
      ++refused;
      continue;
    }
    UniqueFd fd(o.fd);
    REQUIRE(read_fd(fd.get()) == "inside");
    ++served;
  }
  stop = true;
  flipper.join();
  CHECK(served + refused == 3000);
  INFO("served " << served << ", refused " << refused);
  f.outside_untouched_but({"x"});
}

TEST_CASE("dir backend: no fd is left behind", "[dir_backend]") {
  Fixture f;
  auto open_fds = [] {
    int n = 0;
    DIR* d = ::opendir("/proc/self/fd");
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
    return n;
  };
  Attr a{};
  REQUIRE(f.fs->mkdir(kRootIno, "d", f.node, a) == 0);
  const int before = open_fds();
  for (int i = 0; i < 50; ++i) {
    const std::string n = "f" + std::to_string(i);
    REQUIRE(f.fs->mknod(f.ino("d"), n, f.node, a) == 0);
    REQUIRE(f.fs->getattr(a.ino, a) == 0);
    Listing l;
    REQUIRE(f.fs->readdir(f.ino("d"), 0, l) == 0);
    REQUIRE(f.fs->rename(f.ino("d"), n, kRootIno, n, 0) == 0);
    REQUIRE(f.fs->symlink("t", kRootIno, n + "l", f.node, a) == 0);
    std::string t;
    REQUIRE(f.fs->readlink(a.ino, t) == 0);
    REQUIRE(f.fs->link(f.ino(n), kRootIno, n + "h", a) == 0);
    REQUIRE(f.fs->unlink(kRootIno, n + "h") == 0);
    CHECK(f.fs->lookup(kRootIno, "missing", a) == -ENOENT);
    CHECK(f.fs->fsync(f.ino(n), false) == 0);
  }
  CHECK(open_fds() == before);
}

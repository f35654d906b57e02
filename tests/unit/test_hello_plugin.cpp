// The example plugin (examples/hello), loaded as the server loads it
// (load_plugin) and driven through the Backend interface alone: what a user
// writing a backend can test without a server. The plugin's path comes in
// USERFS_HELLO_PLUGIN.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>
#include <vector>

#include "plugin.hpp"
#include "userfs/backend.hpp"

using userfs::Attr;
using userfs::kRootIno;

namespace {

std::string plugin_path() {
  const char* path = std::getenv("USERFS_HELLO_PLUGIN");
  REQUIRE(path != nullptr);
  return path;
}

std::unique_ptr<userfs::Backend> load_hello(const std::string& argument) {
  std::string error;
  auto backend = userfs::server::load_plugin(plugin_path(), argument, error);
  INFO(error);
  REQUIRE(backend != nullptr);
  CHECK(error.empty());
  return backend;
}

struct Entry {
  std::string name;
  uint64_t ino;
  uint8_t dtype;
  uint64_t cookie;
};

// Takes up to `room` entries, then reports the reply full.
class Collect final : public userfs::DirFiller {
 public:
  explicit Collect(size_t room = SIZE_MAX) : room_(room) {}
  bool add(std::string_view name, uint64_t ino, uint8_t dtype, uint64_t cookie) override {
    if (entries.size() == room_) return false;
    entries.push_back({std::string(name), ino, dtype, cookie});
    return true;
  }
  std::vector<Entry> entries;

 private:
  size_t room_;
};

// The whole file, read through its handle in `chunk`-byte reads.
std::string read_all(userfs::Backend& backend, uint64_t ino, uint64_t handle, size_t chunk) {
  std::string data;
  for (;;) {
    const size_t before = data.size();
    REQUIRE(backend.read(ino, handle, before, chunk, data) == 0);
    REQUIRE(data.size() - before <= chunk);
    if (data.size() == before) return data;
  }
}

}  // namespace

TEST_CASE("hello plugin: one read-only file in the root, served through a handle") {
  auto backend = load_hello("");
  CHECK(backend->read_only());
  const std::string content = "Hello, world!\n";

  Attr root{};
  REQUIRE(backend->getattr(kRootIno, root) == 0);
  CHECK(root.ino == kRootIno);
  CHECK(S_ISDIR(root.mode));
  CHECK((root.mode & 07777) == 0555);
  CHECK(root.nlink == 2);

  Attr file{};
  REQUIRE(backend->lookup(kRootIno, "hello", file) == 0);
  CHECK(S_ISREG(file.mode));
  CHECK((file.mode & 07777) == 0444);
  CHECK(file.nlink == 1);
  CHECK(file.size == content.size());
  CHECK(file.uid == getuid());
  CHECK(file.gid == getgid());
  CHECK(file.ino != kRootIno);
  CHECK(file.ino != 0);
  CHECK(file.ino <= userfs::kMaxBackendIno);

  SECTION("getattr by number answers what lookup did, every time") {
    Attr again{};
    REQUIRE(backend->getattr(file.ino, again) == 0);
    CHECK(again.ino == file.ino);
    CHECK(again.mode == file.mode);
    CHECK(again.size == file.size);
    CHECK(again.mtime_sec == file.mtime_sec);
    CHECK(again.mtime_nsec == file.mtime_nsec);
    Attr relooked{};
    REQUIRE(backend->lookup(kRootIno, "hello", relooked) == 0);
    CHECK(relooked.ino == file.ino);
  }

  SECTION("names that are not there") {
    Attr out{};
    CHECK(backend->lookup(kRootIno, "missing", out) == -ENOENT);
    CHECK(backend->lookup(kRootIno, "Hello", out) == -ENOENT);
    CHECK(backend->lookup(kRootIno, "hello2", out) == -ENOENT);
    CHECK(backend->lookup(file.ino, "x", out) == -ENOTDIR);
    CHECK(backend->getattr(file.ino + 1000, out) == -ENOENT);
  }

  SECTION("readdir lists the file once, with a cookie the server does not own") {
    Collect all;
    REQUIRE(backend->readdir(kRootIno, 0, all) == 0);
    REQUIRE(all.entries.size() == 1);
    const Entry& e = all.entries[0];
    CHECK(e.name == "hello");
    CHECK(e.ino == file.ino);
    CHECK(e.dtype == DT_REG);
    CHECK(e.cookie > 2);
    Collect rest;
    REQUIRE(backend->readdir(kRootIno, e.cookie, rest) == 0);
    CHECK(rest.entries.empty());
  }

  SECTION("readdir into a full reply stops, and the listing starts over intact") {
    Collect none(0);
    REQUIRE(backend->readdir(kRootIno, 0, none) == 0);
    CHECK(none.entries.empty());
    Collect all;
    REQUIRE(backend->readdir(kRootIno, 0, all) == 0);
    CHECK(all.entries.size() == 1);
  }

  SECTION("readdir of the file is ENOTDIR") {
    Collect all;
    CHECK(backend->readdir(file.ino, 0, all) == -ENOTDIR);
    CHECK(all.entries.empty());
  }

  SECTION("open gives a handle, not an fd, and read() serves the content") {
    userfs::Opened opened;
    REQUIRE(backend->open(file.ino, 0, opened) == 0);
    CHECK(opened.fd == -1);
    CHECK(read_all(*backend, file.ino, opened.handle, 4096) == content);
    CHECK(read_all(*backend, file.ino, opened.handle, 1) == content);
    CHECK(read_all(*backend, file.ino, opened.handle, 5) == content);

    std::string part = "kept:";
    REQUIRE(backend->read(file.ino, opened.handle, 7, 5, part) == 0);
    CHECK(part == "kept:world");  // appended, never replacing
    std::string past;
    REQUIRE(backend->read(file.ino, opened.handle, content.size(), 10, past) == 0);
    CHECK(past.empty());
    REQUIRE(backend->read(file.ino, opened.handle, content.size() + 100, 10, past) == 0);
    CHECK(past.empty());
    backend->release(file.ino, opened.handle);
  }

  SECTION("what it does not implement answers ENOSYS (EOPNOTSUPP for xattrs)") {
    Attr out{};
    const userfs::NewNode node{0644, getuid(), getgid()};
    CHECK(backend->mkdir(kRootIno, "d", node, out) == -ENOSYS);
    CHECK(backend->unlink(kRootIno, "hello") == -ENOSYS);
    size_t written = 0;
    CHECK(backend->write(file.ino, 1, 0, "x", written) == -ENOSYS);
    std::string target;
    CHECK(backend->readlink(file.ino, target) == -ENOSYS);
    // Extended attributes are missing as on a filesystem without them.
    std::string value;
    CHECK(backend->getxattr(file.ino, "security.selinux", value) == -EOPNOTSUPP);
    CHECK(backend->listxattr(file.ino, value) == -EOPNOTSUPP);
    // The file is still there, unchanged.
    REQUIRE(backend->lookup(kRootIno, "hello", out) == 0);
    CHECK(out.size == content.size());
  }
}

TEST_CASE("hello plugin: the mount's argument is the file's content, byte for byte") {
  for (const std::string text : {"x", "no newline: with a colon", "two\nlines\n"}) {
    auto backend = load_hello(text);
    Attr file{};
    REQUIRE(backend->lookup(kRootIno, "hello", file) == 0);
    CHECK(file.size == text.size());
    userfs::Opened opened;
    REQUIRE(backend->open(file.ino, 0, opened) == 0);
    CHECK(read_all(*backend, file.ino, opened.handle, 3) == text);
  }
}

TEST_CASE("hello plugin: two mounts of it are independent") {
  auto first = load_hello("first");
  auto second = load_hello("second one");
  Attr a{}, b{};
  REQUIRE(first->lookup(kRootIno, "hello", a) == 0);
  REQUIRE(second->lookup(kRootIno, "hello", b) == 0);
  CHECK(a.size == 5);
  CHECK(b.size == 10);
  first.reset();  // unloading one leaves the other working
  userfs::Opened opened;
  REQUIRE(second->open(b.ino, 0, opened) == 0);
  CHECK(read_all(*second, b.ino, opened.handle, 64) == "second one");
}

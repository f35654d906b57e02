// What the shared lookup table's unit tests share: a mount served with a
// table in-process (a Namespace over a MemBackend, tagged as userfsd tags a
// mount, the table flushed after every request as dispatch() does), a
// client's read-only mapping of it, and the whole tree listed through the
// namespace. Used by test_dentry_table.cpp and test_table_walk.cpp.
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dentry_table.hpp"
#include "mem_backend.hpp"
#include "namespace.hpp"
#include "userfs/dentry_table.hpp"
#include "userfs/protocol.hpp"

namespace userfs::test_table {

using namespace userfs::server;
using userfs::table::Entry;
using userfs::table::View;

inline constexpr uid_t kMe = 1000;
inline constexpr gid_t kMyGroup = 1000;
inline constexpr uint64_t kDev = 0x5151;

// A client's read-only mapping of the table, as a client makes it from the
// fd the hello reply passes (the fd stays the caller's).
struct Mapping {
  void* base = MAP_FAILED;
  size_t bytes = 0;
  View view;

  explicit Mapping(int fd) {
    REQUIRE(fd >= 0);
    struct stat st {};
    REQUIRE(fstat(fd, &st) == 0);
    bytes = static_cast<size_t>(st.st_size);
    base = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(base != MAP_FAILED);
    REQUIRE(view.attach(base, bytes));
  }
  ~Mapping() {
    if (base != MAP_FAILED) munmap(base, bytes);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
};

// A mapping of a table's client fd, the fd closed once mapped.
struct ClientMapping {
  UniqueFd fd;
  Mapping map;
  explicit ClientMapping(DentryTable& t) : fd(t.client_fd()), map(fd.get()) {}
};

// A mount served with a table: the namespace (tagged as mount `kIndex` is
// by userfsd) and the table publishing it. Each change is one "request":
// the namespace call, then flush(), as dispatch() does before replying; a
// stat is a lookup followed by reported(), as do_lookup does. Changes are
// made as `me` unless a Cred is given; chmod, chown and stat as `admin`
// (default: me).
struct Served {
  static constexpr uint32_t kIndex = 2;
  MemBackend mem{kMe, kMyGroup};
  Namespace ns{mem, kDev};
  Cred me{kMe, kMyGroup, {}};
  Cred root{0, 0, {}};
  const Cred* admin = &me;
  std::unique_ptr<DentryTable> table;  // after ns: destroyed first

  Served() { ns.set_ino_tag(uint64_t{kIndex} << proto::kMountShift); }
  uint64_t root_ino() const { return ns.ino_tag() | proto::kRootIno; }

  void make_table(uint32_t entries = 4096) {
    std::string why;
    table = DentryTable::create(entries, why);
    INFO(why);
    REQUIRE(table != nullptr);
    REQUIRE(table->add_mount(kIndex, ns));
  }
  int done(int rc) {
    if (table) table->flush();
    return rc;
  }
  const Cred& who(const Cred* c) const { return c != nullptr ? *c : me; }
  int open(std::string_view path, uint32_t flags, uint32_t mode = 0644, UniqueFd* fd = nullptr,
           const Cred* c = nullptr) {
    OpenResult r;
    const int rc = ns.open(proto::kBaseRoot, path, flags, mode, who(c), r);
    if (rc == 0 && fd != nullptr) *fd = std::move(r.fd);
    r.fd.reset();  // the server passes its copy on with the reply and keeps none
    return done(rc);
  }
  int create(std::string_view path, uint32_t mode = 0644, UniqueFd* fd = nullptr, const Cred* c = nullptr) {
    return open(path, proto::kOpenCreate | proto::kOpenExcl | O_WRONLY, mode, fd, c);
  }
  // A file with `data` in it, closed again.
  int file(std::string_view path, std::string_view data, uint32_t mode = 0644, const Cred* c = nullptr) {
    UniqueFd fd;
    const int rc = create(path, mode, &fd, c);
    if (rc != 0) return rc;
    if (!data.empty() && write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size()))
      return -EIO;
    return 0;
  }
  int mkdir(std::string_view path, uint32_t mode = 0755, const Cred* c = nullptr) {
    return done(ns.mkdir(proto::kBaseRoot, path, mode, who(c)));
  }
  int unlink(std::string_view path, const Cred* c = nullptr) {
    return done(ns.unlink(proto::kBaseRoot, path, 0, who(c)));
  }
  int rmdir(std::string_view path, const Cred* c = nullptr) {
    return done(ns.unlink(proto::kBaseRoot, path, proto::kUnlinkRemoveDir, who(c)));
  }
  int rename(std::string_view a, std::string_view b, uint32_t flags = 0, const Cred* c = nullptr) {
    return done(ns.rename(proto::kBaseRoot, a, proto::kBaseRoot, b, flags, who(c)));
  }
  int symlink(std::string_view target, std::string_view path, const Cred* c = nullptr) {
    return done(ns.symlink(target, proto::kBaseRoot, path, who(c)));
  }
  int link(std::string_view from, std::string_view to, const Cred* c = nullptr) {
    return done(ns.link(proto::kBaseRoot, from, Follow::no, proto::kBaseRoot, to, who(c)));
  }
  int setattr(std::string_view path, const SetattrArgs& args, const Cred* c = nullptr) {
    proto::Attr out{};
    return done(ns.setattr(proto::kBaseRoot, path, Follow::no, args, who(c), out));
  }
  int mknod(std::string_view path, uint32_t mode = S_IFREG | 0640) {
    return done(ns.mknod(proto::kBaseRoot, path, mode, me));
  }
  int chmod(std::string_view path, uint32_t mode) {
    SetattrArgs a;
    a.valid = proto::kSetMode;
    a.mode = mode;
    return setattr(path, a, admin);
  }
  int chown(std::string_view path, uint32_t uid, uint32_t gid) {
    SetattrArgs a;
    a.valid = proto::kSetUid | proto::kSetGid;
    a.uid = uid;
    a.gid = gid;
    return setattr(path, a, admin);
  }
  int truncate(std::string_view path, uint64_t size) {
    SetattrArgs a;
    a.valid = proto::kSetSize;
    a.size = size;
    return setattr(path, a);
  }
  // A stat through the server (do_lookup: lookup, reported(), flush): a
  // file no one writes any more is published settled.
  int stat(std::string_view path, proto::Attr& a) {
    const int rc = ns.lookup(proto::kBaseRoot, path, Follow::no, *admin, a);
    if (rc == 0 && table) table->reported(a.ino);
    return done(rc);
  }
  proto::Attr attr(std::string_view path) {
    proto::Attr a{};
    INFO(path);
    REQUIRE(stat(path, a) == 0);
    return a;
  }
};

inline std::vector<std::string> components(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Every name in the namespace, walked with readdir from the root: path ->
// (its directory's number, its attributes).
struct Node {
  uint64_t parent;
  proto::Attr attr;
};
inline void list_tree(Namespace& ns, uint64_t dir, const std::string& prefix, std::map<std::string, Node>& out) {
  uint64_t cookie = 0;
  for (;;) {
    std::vector<unsigned char> buf(65536);
    size_t used = 0;
    REQUIRE(ns.readdir(dir, cookie, buf.data(), buf.size(), used) == 0);
    proto::ReaddirRep rep{};
    REQUIRE(used >= sizeof rep);
    std::memcpy(&rep, buf.data(), sizeof rep);
    size_t off = sizeof rep;
    for (uint32_t i = 0; i < rep.count; i++) {
      proto::DirEntry e{};
      REQUIRE(off + sizeof e <= used);
      std::memcpy(&e, buf.data() + off, sizeof e);
      const std::string name(reinterpret_cast<const char*>(buf.data()) + off + sizeof e, e.name_len);
      off += proto::dir_entry_size(e.name_len);
      cookie = e.cookie;
      if (name == "." || name == "..") continue;
      proto::Attr a{};
      REQUIRE(ns.entry(dir, name, a) == 0);
      const std::string path = prefix.empty() ? name : prefix + "/" + name;
      out[path] = Node{dir, a};
      if ((a.mode & S_IFMT) == S_IFDIR) list_tree(ns, a.ino, path, out);
    }
    if (rep.eof != 0 || rep.count == 0) break;
  }
}

}  // namespace userfs::test_table

// The shared lookup table (server/dentry_table.*, include/userfs/dentry_table.hpp)
// in-process: a Namespace over a MemBackend driven as the dispatcher drives
// it (flush() after every request), the table read through a client's
// read-only mapping of client_fd() with View, and compared with what the
// Namespace answers. Also: torn reads under a concurrent writer, that no
// client can write the table, overflow, and the server's liveness word.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dispatch.hpp"
#include "table_fixtures.hpp"

using namespace userfs;
using namespace userfs::server;
using namespace userfs::test_table;

namespace {

// One read section, retried until it validates (bounded: nothing writes
// concurrently in the tests that use it).
template <class F>
auto read_section(const View& v, F f) {
  for (int attempt = 0; attempt < 1000; attempt++) {
    const uint64_t s = v.begin();
    if ((s & 1) != 0) continue;
    auto r = f();
    if (v.valid(s)) return r;
  }
  FAIL("no read section validated: the table is left odd");
  return f();
}

// A path walked through the table from the root, component by component,
// in one read section: whether every component was there, the last entry
// and the directory holding it.
struct Walked {
  bool found = false;
  Entry entry{};
  uint64_t parent = 0;
};
Walked table_walk(const View& v, uint64_t root, std::string_view path) {
  const std::vector<std::string> parts = components(path);
  return read_section(v, [&] {
    Walked w;
    uint64_t dir = root;
    for (size_t i = 0; i < parts.size(); i++) {
      Entry e{};
      if (!v.find(dir, parts[i], e)) return w;
      w.parent = dir;
      w.entry = e;
      if (i + 1 < parts.size()) {
        if ((e.attr.mode & S_IFMT) != S_IFDIR) return w;
        dir = e.attr.ino;
      }
    }
    w.found = true;
    return w;
  });
}

struct Self {
  bool found = false;
  Entry entry{};
};
Self self_of(const View& v, uint64_t ino) {
  return read_section(v, [&] {
    Self s;
    s.found = v.find(ino, table::kSelf, s.entry);
    return s;
  });
}

// One client's session with the dispatcher over `fs`, as userfsd makes it
// for a peer of its own uid: requests in, replies (and their fds) out.
struct Dispatching {
  ServerStats stats;
  Session s;
  explicit Dispatching(Served& fs) {
    s.ns = &fs.ns;
    s.stats = &stats;
    s.table = fs.table.get();
    s.table_for_client = true;
    s.cred = fs.me;
  }
  Reply send(proto::Op op, const std::vector<unsigned char>& body) {
    std::vector<unsigned char> msg(sizeof(proto::RequestHeader));
    proto::RequestHeader h{};
    h.magic = proto::kMagic;
    h.op = static_cast<uint16_t>(op);
    h.length = static_cast<uint32_t>(body.size());
    h.id = 1;
    std::memcpy(msg.data(), &h, sizeof h);
    msg.insert(msg.end(), body.begin(), body.end());
    return dispatch(s, msg.data(), msg.size());
  }
  static int32_t error_of(const Reply& r) {
    proto::ReplyHeader h{};
    REQUIRE(r.bytes.size() >= sizeof h);
    std::memcpy(&h, r.bytes.data(), sizeof h);
    return h.error;
  }
  // The hello, which must succeed and hand out the table's fd.
  Reply hello() {
    std::vector<unsigned char> body(sizeof(proto::HelloReq));
    const proto::HelloReq hr{proto::kVersion, 0};
    std::memcpy(body.data(), &hr, sizeof hr);
    Reply r = send(proto::Op::hello, body);
    REQUIRE(error_of(r) == 0);
    REQUIRE(r.bytes.size() >= sizeof(proto::ReplyHeader) + sizeof(proto::HelloRep));
    proto::HelloRep rep{};
    std::memcpy(&rep, r.bytes.data() + sizeof(proto::ReplyHeader), sizeof rep);
    CHECK((rep.flags & proto::kHelloTable) != 0);
    REQUIRE(r.fd.valid());
    return r;
  }
};

void same_attr(const Entry& t, const proto::Attr& n) {
  CHECK(t.attr.ino == n.ino);
  CHECK(t.attr.mode == n.mode);
  CHECK(t.attr.nlink == n.nlink);
  CHECK(t.attr.uid == n.uid);
  CHECK(t.attr.gid == n.gid);
  CHECK(t.attr.dev == n.dev);
  // Only a regular file possibly open for writing may be volatile, and
  // only a volatile one may show another size.
  if ((t.flags & table::kVolatile) != 0)
    CHECK((n.mode & S_IFMT) == S_IFREG);
  else
    CHECK(t.attr.size == n.size);
}

// Everything the table holds for the mount agrees with the namespace:
// every name in the tree (walked through the table component by
// component and compared with Namespace::lookup), every inode's self entry
// (a directory's `up` its parent), every name once made and now gone
// absent, and every inode no longer in the tree without a self entry.
// `known` and `inos` collect what was ever seen.
void check_table(Served& fs, const View& v, std::set<std::string>& known, std::set<uint64_t>& inos) {
  REQUIRE(v.published(Served::kIndex));
  CHECK_FALSE(v.published(0));
  CHECK((v.begin() & 1) == 0);
  CHECK(v.alive());

  std::map<std::string, Node> tree;
  list_tree(fs.ns, fs.root_ino(), "", tree);
  std::map<uint64_t, uint64_t> dir_parent{{fs.root_ino(), fs.root_ino()}};
  std::set<uint64_t> live{fs.root_ino()};
  for (const auto& [path, node] : tree) {
    INFO("path " << path);
    known.insert(path);
    // A name too long to publish: not in the table, and its directory
    // says the table lacks a name.
    const std::vector<std::string> parts = components(path);
    if (parts.back().size() > table::kMaxName) {
      CHECK_FALSE(table_walk(v, fs.root_ino(), path).found);
      const Self dir = self_of(v, node.parent);
      REQUIRE(dir.found);
      CHECK((dir.entry.flags & table::kIncomplete) != 0);
      continue;
    }
    bool under_long = false;
    for (const std::string& p : parts) under_long = under_long || p.size() > table::kMaxName;
    if (under_long) continue;
    proto::Attr want{};
    REQUIRE(fs.ns.lookup(proto::kBaseRoot, path, Follow::no, fs.me, want) == 0);
    const Walked w = table_walk(v, fs.root_ino(), path);
    REQUIRE(w.found);
    CHECK(w.parent == node.parent);
    CHECK(w.entry.parent == node.parent);
    const std::string last = components(path).back();
    CHECK(std::string_view(w.entry.name, w.entry.name_len) == last);
    same_attr(w.entry, want);
    live.insert(want.ino);
    if ((want.mode & S_IFMT) == S_IFDIR) dir_parent[want.ino] = node.parent;
    // A directory is incomplete exactly when it holds a name too long.
    if ((want.mode & S_IFMT) == S_IFDIR) {
      bool has_long = false;
      for (const auto& [other, o] : tree)
        if (o.parent == want.ino && components(other).back().size() > table::kMaxName) has_long = true;
      CHECK(((w.entry.flags & table::kIncomplete) != 0) == has_long);
    }
  }
  for (uint64_t ino : live) {
    INFO("self entry of inode " << std::hex << ino);
    inos.insert(ino);
    proto::Attr want{};
    REQUIRE(fs.ns.getattr(ino, want) == 0);
    const Self s = self_of(v, ino);
    REQUIRE(s.found);
    CHECK(s.entry.parent == ino);
    CHECK(std::string_view(s.entry.name, s.entry.name_len) == table::kSelf);
    same_attr(s.entry, want);
    if ((want.mode & S_IFMT) == S_IFDIR) CHECK(s.entry.up == dir_parent.at(ino));
  }
  // Gone: names, and inodes with no name left.
  known.insert({"nope", "d1/nope", "nope/x", "d2/nope", "f/x", "d2/sub/deep/x"});
  for (const std::string& path : known) {
    if (tree.count(path) != 0) continue;
    INFO("missing path " << path);
    proto::Attr a{};
    const int rc = fs.ns.lookup(proto::kBaseRoot, path, Follow::no, fs.me, a);
    CHECK((rc == -ENOENT || rc == -ENOTDIR));
    CHECK_FALSE(table_walk(v, fs.root_ino(), path).found);
  }
  for (uint64_t ino : inos) {
    if (live.count(ino) != 0) continue;
    INFO("removed inode " << std::hex << ino);
    CHECK_FALSE(self_of(v, ino).found);
  }
}

}  // namespace

TEST_CASE("dentry table: what is published matches the namespace, request by request", "[dentry_table]") {
  Served fs;
  // Some of the tree exists before the table (published whole at
  // add_mount), the rest is made afterwards (published change by change).
  REQUIRE(fs.mkdir("d1") == 0);
  REQUIRE(fs.mkdir("d1/sub", 0700) == 0);
  REQUIRE(fs.create("d1/a") == 0);
  REQUIRE(fs.create("d1/sub/deep") == 0);
  REQUIRE(fs.symlink("../f", "d1/ln") == 0);
  fs.make_table();
  Mapping m(fs.table->client_fd());
  const View& v = m.view;
  std::set<std::string> known;
  std::set<uint64_t> inos;
  check_table(fs, v, known, inos);

  // The root's self entry: its own parent.
  const Self root = self_of(v, fs.root_ino());
  REQUIRE(root.found);
  CHECK(root.entry.up == fs.root_ino());
  CHECK((root.entry.attr.mode & S_IFMT) == S_IFDIR);

  SECTION("creations, links, renames, removals, attribute changes") {
    REQUIRE(fs.mkdir("d2", 0751) == 0);
    check_table(fs, v, known, inos);
    {
      UniqueFd fd;
      REQUIRE(fs.create("f", 0644, &fd) == 0);
      REQUIRE(write(fd.get(), "hello", 5) == 5);
    }
    check_table(fs, v, known, inos);
    // Stat through the server once no one can write it: settled, its size exact.
    CHECK(fs.attr("f").size == 5);
    const Walked f = table_walk(v, fs.root_ino(), "f");
    REQUIRE(f.found);
    CHECK((f.entry.flags & table::kVolatile) == 0);
    CHECK(f.entry.attr.size == 5);
    check_table(fs, v, known, inos);

    REQUIRE(fs.symlink("/elsewhere/abs", "s2") == 0);
    REQUIRE(fs.mknod("d2/node") == 0);
    check_table(fs, v, known, inos);

    // Hard link: both names and the self entry show two links.
    REQUIRE(fs.link("f", "d2/f2") == 0);
    check_table(fs, v, known, inos);
    CHECK(table_walk(v, fs.root_ino(), "f").entry.attr.nlink == 2);
    CHECK(table_walk(v, fs.root_ino(), "d2/f2").entry.attr.nlink == 2);

    // A file across directories; a directory across parents (its `up`
    // follows, its children stay reachable under its number).
    const uint64_t sub_ino = fs.attr("d1/sub").ino;
    REQUIRE(fs.rename("d1/a", "d2/a2") == 0);
    REQUIRE(fs.rename("d1/sub", "d2/sub") == 0);
    check_table(fs, v, known, inos);
    const Self sub = self_of(v, sub_ino);
    REQUIRE(sub.found);
    CHECK(sub.entry.up == fs.attr("d2").ino);
    CHECK_FALSE(table_walk(v, fs.root_ino(), "d1/sub/deep").found);
    CHECK(table_walk(v, fs.root_ino(), "d2/sub/deep").found);

    // Rename over an existing file: the replaced inode leaves the table.
    const uint64_t replaced = fs.attr("d2/a2").ino;
    REQUIRE(fs.create("g") == 0);
    const uint64_t g = fs.attr("g").ino;
    REQUIRE(fs.rename("g", "d2/a2") == 0);
    check_table(fs, v, known, inos);
    CHECK_FALSE(self_of(v, replaced).found);
    CHECK(table_walk(v, fs.root_ino(), "d2/a2").entry.attr.ino == g);

    // Rename within a directory, and back.
    REQUIRE(fs.rename("d2/node", "d2/node2") == 0);
    check_table(fs, v, known, inos);

    // Unlink one of two names: the other shows one link.
    REQUIRE(fs.unlink("f") == 0);
    check_table(fs, v, known, inos);
    CHECK(table_walk(v, fs.root_ino(), "d2/f2").entry.attr.nlink == 1);

    // chmod, chown, truncate.
    REQUIRE(fs.chmod("d2/f2", 0604) == 0);
    REQUIRE(fs.chmod("d2", 0700) == 0);
    check_table(fs, v, known, inos);
    CHECK((table_walk(v, fs.root_ino(), "d2/f2").entry.attr.mode & 07777) == 0604);
    SetattrArgs own;
    own.valid = proto::kSetUid | proto::kSetGid;
    own.uid = 4242;
    own.gid = 4343;
    REQUIRE(fs.setattr("d2/sub/deep", own, &fs.root) == 0);
    check_table(fs, v, known, inos);
    CHECK(table_walk(v, fs.root_ino(), "d2/sub/deep").entry.attr.uid == 4242);
    REQUIRE(fs.truncate("d2/f2", 12345) == 0);
    check_table(fs, v, known, inos);
    const Walked f2 = table_walk(v, fs.root_ino(), "d2/f2");
    REQUIRE(f2.found);
    if ((f2.entry.flags & table::kVolatile) == 0) CHECK(f2.entry.attr.size == 12345);

    // Removals: a symlink, a file, then the emptied directory.
    REQUIRE(fs.unlink("d1/ln") == 0);
    const uint64_t d1 = fs.attr("d1").ino;
    REQUIRE(fs.rmdir("d1") == 0);
    check_table(fs, v, known, inos);
    CHECK_FALSE(self_of(v, d1).found);
    REQUIRE(fs.unlink("d2/sub/deep") == 0);
    REQUIRE(fs.rmdir("d2/sub") == 0);
    check_table(fs, v, known, inos);
    CHECK_FALSE(self_of(v, sub_ino).found);
    // The root's link count followed every directory made and removed.
    CHECK(self_of(v, fs.root_ino()).entry.attr.nlink == fs.attr("").nlink);
  }

  SECTION("a file open for writing is volatile until a stat finds it quiet") {
    UniqueFd w;
    REQUIRE(fs.open("d1/a", O_WRONLY, 0, &w) == 0);
    Walked a = table_walk(v, fs.root_ino(), "d1/a");
    REQUIRE(a.found);
    CHECK((a.entry.flags & table::kVolatile) != 0);
    REQUIRE(write(w.get(), "0123456789", 10) == 10);
    // A stat while it is still open leaves it volatile.
    CHECK(fs.attr("d1/a").size == 10);
    a = table_walk(v, fs.root_ino(), "d1/a");
    CHECK((a.entry.flags & table::kVolatile) != 0);
    CHECK((self_of(v, a.entry.attr.ino).entry.flags & table::kVolatile) != 0);
    check_table(fs, v, known, inos);
    w.reset();
    CHECK(fs.attr("d1/a").size == 10);
    a = table_walk(v, fs.root_ino(), "d1/a");
    CHECK((a.entry.flags & table::kVolatile) == 0);
    CHECK(a.entry.attr.size == 10);
    CHECK((self_of(v, a.entry.attr.ino).entry.flags & table::kVolatile) == 0);
    check_table(fs, v, known, inos);

    // O_TRUNC by an open for reading and writing: volatile again, size 0.
    UniqueFd t;
    REQUIRE(fs.open("d1/a", O_RDWR | proto::kOpenTrunc, 0, &t) == 0);
    a = table_walk(v, fs.root_ino(), "d1/a");
    CHECK((a.entry.flags & table::kVolatile) != 0);
    t.reset();
    CHECK(fs.attr("d1/a").size == 0);
    a = table_walk(v, fs.root_ino(), "d1/a");
    CHECK((a.entry.flags & table::kVolatile) == 0);
    CHECK(a.entry.attr.size == 0);
    check_table(fs, v, known, inos);

    // Open for reading only: never volatile.
    UniqueFd r;
    REQUIRE(fs.open("d1/a", O_RDONLY, 0, &r) == 0);
    CHECK((table_walk(v, fs.root_ino(), "d1/a").entry.flags & table::kVolatile) == 0);
  }
}

TEST_CASE("dentry table: a file open for writing stays volatile when renamed", "[dentry_table]") {
  Served fs;
  fs.make_table();
  Mapping m(fs.table->client_fd());
  const View& v = m.view;
  UniqueFd w;
  REQUIRE(fs.create("w", 0644, &w) == 0);
  REQUIRE(fs.create("other") == 0);
  SECTION("to a new name") { REQUIRE(fs.rename("w", "w2") == 0); }
  SECTION("over another file") { REQUIRE(fs.rename("w", "other") == 0); }
  SECTION("after a stat while open") {
    (void)fs.attr("w");
    REQUIRE(fs.rename("w", "w2") == 0);
  }
  const std::string now = table_walk(v, fs.root_ino(), "w2").found ? "w2" : "other";
  // The writer goes on writing: a table entry that is not volatile must
  // show what a stat through the server shows.
  REQUIRE(write(w.get(), "grown", 5) == 5);
  proto::Attr want{};
  REQUIRE(fs.ns.lookup(proto::kBaseRoot, now, Follow::no, fs.me, want) == 0);
  CHECK(want.size == 5);
  const Walked e = table_walk(v, fs.root_ino(), now);
  REQUIRE(e.found);
  CHECK((e.entry.flags & table::kVolatile) != 0);
  if ((e.entry.flags & table::kVolatile) == 0) CHECK(e.entry.attr.size == want.size);
  const Self s = self_of(v, want.ino);
  REQUIRE(s.found);
  CHECK((s.entry.flags & table::kVolatile) != 0);
}

TEST_CASE("dentry table: rename with exchange swaps what the names lead to", "[dentry_table]") {
  Served fs;
  REQUIRE(fs.mkdir("x") == 0);
  REQUIRE(fs.mkdir("y") == 0);
  REQUIRE(fs.create("x/f") == 0);
  REQUIRE(fs.mkdir("y/d") == 0);
  fs.make_table();
  Mapping m(fs.table->client_fd());
  const View& v = m.view;
  const uint64_t f = fs.attr("x/f").ino;
  const uint64_t d = fs.attr("y/d").ino;
  REQUIRE(fs.rename("x/f", "y/d", proto::kRenameExchange) == 0);
  REQUIRE(fs.attr("x/f").ino == d);
  REQUIRE(fs.attr("y/d").ino == f);
  const Walked xf = table_walk(v, fs.root_ino(), "x/f");
  const Walked yd = table_walk(v, fs.root_ino(), "y/d");
  REQUIRE(xf.found);
  REQUIRE(yd.found);
  CHECK(xf.entry.attr.ino == d);
  CHECK((xf.entry.attr.mode & S_IFMT) == S_IFDIR);
  CHECK(yd.entry.attr.ino == f);
  CHECK((yd.entry.attr.mode & S_IFMT) == S_IFREG);
  const Self ds = self_of(v, d);
  REQUIRE(ds.found);
  CHECK(ds.entry.up == fs.attr("x").ino);
  std::set<std::string> known;
  std::set<uint64_t> inos;
  check_table(fs, v, known, inos);
}

TEST_CASE("dentry table: names longer than kMaxName make their directory incomplete", "[dentry_table]") {
  Served fs;
  REQUIRE(fs.mkdir("dir") == 0);
  REQUIRE(fs.mkdir("plain") == 0);
  const std::string fits(table::kMaxName, 'f');
  const std::string long1(table::kMaxName + 1, 'a');
  const std::string long2(table::kMaxName + 40, 'b');
  // One long name before the table exists (found by add_mount's walk).
  REQUIRE(fs.create("dir/" + long1) == 0);
  fs.make_table();
  Mapping m(fs.table->client_fd());
  const View& v = m.view;
  const uint64_t dir = fs.attr("dir").ino;

  auto incomplete = [&](const std::string& path, uint64_t ino) {
    const Walked w = table_walk(v, fs.root_ino(), path);
    const Self s = self_of(v, ino);
    REQUIRE(w.found);
    REQUIRE(s.found);
    // The name entry and the self entry agree.
    CHECK((w.entry.flags & table::kIncomplete) == (s.entry.flags & table::kIncomplete));
    return (s.entry.flags & table::kIncomplete) != 0;
  };

  CHECK(incomplete("dir", dir));
  CHECK_FALSE(incomplete("plain", fs.attr("plain").ino));
  CHECK_FALSE(incomplete("", fs.root_ino()));
  CHECK_FALSE(table_walk(v, fs.root_ino(), "dir/" + long1).found);

  // A name of exactly kMaxName is published and changes nothing.
  REQUIRE(fs.create("plain/" + fits) == 0);
  CHECK(table_walk(v, fs.root_ino(), "plain/" + fits).found);
  CHECK_FALSE(incomplete("plain", fs.attr("plain").ino));

  // A second long name (a directory), then removals: incomplete until the last goes.
  REQUIRE(fs.mkdir("dir/" + long2) == 0);
  CHECK(incomplete("dir", dir));
  REQUIRE(fs.unlink("dir/" + long1) == 0);
  CHECK(incomplete("dir", dir));
  REQUIRE(fs.rmdir("dir/" + long2) == 0);
  CHECK_FALSE(incomplete("dir", dir));

  // A long name made in "plain" by rename, then renamed to a short one.
  REQUIRE(fs.create("plain/s") == 0);
  REQUIRE(fs.rename("plain/s", "plain/" + long1) == 0);
  CHECK(incomplete("plain", fs.attr("plain").ino));
  CHECK_FALSE(table_walk(v, fs.root_ino(), "plain/s").found);
  REQUIRE(fs.rename("plain/" + long1, "plain/short") == 0);
  CHECK_FALSE(incomplete("plain", fs.attr("plain").ino));
  CHECK(table_walk(v, fs.root_ino(), "plain/short").found);

  // The directory's own attribute changes keep the flag right.
  REQUIRE(fs.create("dir/" + long1) == 0);
  REQUIRE(fs.chmod("dir", 0700) == 0);
  CHECK(incomplete("dir", dir));
  CHECK((self_of(v, dir).entry.attr.mode & 07777) == 0700);
  std::set<std::string> known;
  std::set<uint64_t> inos;
  check_table(fs, v, known, inos);
}

TEST_CASE("dentry table: readers never see half a request", "[dentry_table]") {
  Served fs;
  REQUIRE(fs.create("p") == 0);
  REQUIRE(fs.create("q") == 0);
  REQUIRE(fs.create("x") == 0);
  fs.make_table();
  Mapping m(fs.table->client_fd());
  const View& v = m.view;
  const uint64_t root = fs.root_ino();

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> changes_seen{0}, validated{0}, torn_modes{0}, torn_names{0}, missing{0}, retries{0};
  auto reader = [&] {
    uint64_t ok = 0, bad_modes = 0, bad_names = 0, gone = 0, again = 0, changes = 0;
    uint32_t last_mode = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t s = v.begin();
      if ((s & 1) != 0) {
        again++;
        continue;
      }
      Entry p{}, q{}, x{}, y{};
      const bool hp = v.find(root, "p", p);
      const bool hq = v.find(root, "q", q);
      const bool hx = v.find(root, "x", x);
      const bool hy = v.find(root, "y", y);
      if (!v.valid(s)) {
        again++;
        continue;
      }
      ok++;
      if (!hp || !hq) gone++;
      else if (p.attr.mode != q.attr.mode) bad_modes++;
      if (hp && p.attr.mode != last_mode) {
        changes++;
        last_mode = p.attr.mode;
      }
      if (hx == hy) bad_names++;
    }
    validated += ok;
    torn_modes += bad_modes;
    torn_names += bad_names;
    missing += gone;
    retries += again;
    changes_seen += changes;
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; i++) readers.emplace_back(reader);

  // The writer: the only thread touching the namespace and the table.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  uint64_t requests = 0;
  int writer_errors = 0;
  bool at_x = true;
  while (std::chrono::steady_clock::now() < until || requests < 2000) {
    // One request changing two inodes: both modes move together.
    const uint32_t mode = 0600 | static_cast<uint32_t>(requests % 64);
    SetattrArgs a;
    a.valid = proto::kSetMode;
    a.mode = mode;
    proto::Attr out{};
    if (fs.ns.setattr(proto::kBaseRoot, "p", Follow::no, a, fs.me, out) != 0) writer_errors++;
    if (fs.ns.setattr(proto::kBaseRoot, "q", Follow::no, a, fs.me, out) != 0) writer_errors++;
    fs.table->flush();
    // One request moving a name: exactly one of the two is there.
    if (fs.ns.rename(proto::kBaseRoot, at_x ? "x" : "y", proto::kBaseRoot, at_x ? "y" : "x", 0, fs.me) != 0)
      writer_errors++;
    at_x = !at_x;
    fs.table->flush();
    requests += 2;
    if (requests > 2'000'000) break;
  }
  stop = true;
  for (auto& t : readers) t.join();

  INFO("requests " << requests << ", validated reads " << validated << ", retried " << retries
                    << ", changes seen " << changes_seen);
  CHECK(writer_errors == 0);
  CHECK(requests >= 2000);
  CHECK(validated >= 1000);
  // The readers saw the table move, not one stale state.
  CHECK(changes_seen >= 30);
  CHECK(missing == 0);
  CHECK(torn_modes == 0);
  CHECK(torn_names == 0);
  // The end state, read once more.
  CHECK(table_walk(v, root, at_x ? "x" : "y").found);
  CHECK_FALSE(table_walk(v, root, at_x ? "y" : "x").found);
}

TEST_CASE("dentry table: clients cannot write the table", "[dentry_table]") {
  Served fs;
  REQUIRE(fs.mkdir("d") == 0);
  fs.make_table();
  const int raw = fs.table->client_fd();
  REQUIRE(raw >= 0);
  UniqueFd fd(raw);
  struct stat st {};
  REQUIRE(fstat(fd.get(), &st) == 0);
  const size_t bytes = static_cast<size_t>(st.st_size);
  REQUIRE(bytes >= table::kHeaderBytes);

  // The fd is read-only and the file sealed.
  CHECK((fcntl(fd.get(), F_GETFL) & O_ACCMODE) == O_RDONLY);
  const int seals = fcntl(fd.get(), F_GET_SEALS);
  REQUIRE(seals >= 0);
  CHECK((seals & F_SEAL_FUTURE_WRITE) != 0);
  CHECK((seals & F_SEAL_SEAL) != 0);
  CHECK((seals & F_SEAL_SHRINK) != 0);
  CHECK((seals & F_SEAL_GROW) != 0);
  errno = 0;
  CHECK(fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE) == -1);
  CHECK(errno == EPERM);

  // No writable shared mapping of it.
  errno = 0;
  void* w = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  CHECK(w == MAP_FAILED);
  CHECK((errno == EPERM || errno == EACCES));
  if (w != MAP_FAILED) munmap(w, bytes);

  // No write(2), pwrite(2) or ftruncate through it.
  const char junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  CHECK(write(fd.get(), junk, sizeof junk) == -1);
  CHECK(pwrite(fd.get(), junk, sizeof junk, 0) == -1);
  CHECK(ftruncate(fd.get(), 0) == -1);

  // A read-only mapping cannot be made writable, nor its pages removed.
  Mapping m(fd.get());
  const View& v = m.view;
  errno = 0;
  CHECK(mprotect(m.base, bytes, PROT_READ | PROT_WRITE) == -1);
  CHECK((errno == EACCES || errno == EPERM));
  CHECK(madvise(m.base, bytes, MADV_REMOVE) == -1);

  // Reopening it read-write through /proc gets an fd, but the seal
  // refuses every write through it.
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd.get());
  UniqueFd rw(::open(path, O_RDWR | O_CLOEXEC));
  if (rw.valid()) {
    errno = 0;
    CHECK(write(rw.get(), junk, sizeof junk) == -1);
    CHECK(errno == EPERM);
    errno = 0;
    CHECK(pwrite(rw.get(), junk, sizeof junk, 0) == -1);
    CHECK(errno == EPERM);
    errno = 0;
    CHECK(mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, rw.get(), 0) == MAP_FAILED);
    CHECK(errno == EPERM);
    CHECK(ftruncate(rw.get(), 0) == -1);
    CHECK(ftruncate(rw.get(), static_cast<off_t>(bytes) * 2) == -1);
    CHECK(fallocate(rw.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(bytes)) == -1);
    // A read-only shared mapping of the read-write fd cannot be upgraded either.
    void* ro = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, rw.get(), 0);
    REQUIRE(ro != MAP_FAILED);
    CHECK(mprotect(ro, bytes, PROT_READ | PROT_WRITE) == -1);
    munmap(ro, bytes);
    // A private writable mapping is a copy: the shared table is untouched.
    void* priv = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, rw.get(), 0);
    REQUIRE(priv != MAP_FAILED);
    std::memset(priv, 0xff, table::kHeaderBytes);
    munmap(priv, bytes);
  } else {
    WARN("cannot reopen the table O_RDWR: " << std::strerror(errno));
    CHECK((errno == EACCES || errno == EPERM));
  }

  // Still intact: nothing above reached it.
  CHECK(View().attach(m.base, m.bytes));
  CHECK(table_walk(v, fs.root_ino(), "d").found);
  CHECK(v.published(Served::kIndex));

  // A write through the read-only mapping kills the writer.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    auto* p = static_cast<volatile unsigned char*>(m.base);
    p[table::kHeaderBytes] = 0xaa;
    p[0] = 0;
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGSEGV);
  CHECK(View().attach(m.base, m.bytes));
  CHECK(table_walk(v, fs.root_ino(), "d").found);

  // And the server's own writes still arrive.
  REQUIRE(fs.mkdir("e") == 0);
  CHECK(table_walk(v, fs.root_ino(), "e").found);
}

TEST_CASE("dentry table: overflow unpublishes the mount and the server goes on", "[dentry_table]") {
  Served fs;
  // The root's self entry and two per file: 7 of 8 entries.
  REQUIRE(fs.create("a") == 0);
  REQUIRE(fs.create("b") == 0);
  REQUIRE(fs.create("c") == 0);
  fs.make_table(8);
  Mapping m(fs.table->client_fd());
  const View& v = m.view;
  CHECK(v.published(Served::kIndex));
  CHECK(table_walk(v, fs.root_ino(), "c").found);

  // The next file needs two more entries.
  REQUIRE(fs.create("d") == 0);
  CHECK_FALSE(v.published(Served::kIndex));
  CHECK((v.begin() & 1) == 0);

  // Every request still works, and its answers are the namespace's.
  for (int i = 0; i < 50; i++) {
    const std::string n = "more" + std::to_string(i);
    REQUIRE(fs.mkdir(n) == 0);
    REQUIRE(fs.create(n + "/f") == 0);
    REQUIRE(fs.rename(n + "/f", n + "/g") == 0);
    REQUIRE(fs.chmod(n + "/g", 0600) == 0);
    if (i % 2 == 0) {
      REQUIRE(fs.unlink(n + "/g") == 0);
      REQUIRE(fs.rmdir(n) == 0);
    }
  }
  CHECK((fs.attr("more49/g").mode & 07777) == 0600);
  proto::Attr gone{};
  CHECK(fs.stat("more48", gone) == -ENOENT);
  CHECK_FALSE(v.published(Served::kIndex));
  CHECK((v.begin() & 1) == 0);
  CHECK(v.alive());
  // No other mount can join a table that overflowed.
  MemBackend mem2{kMe, kMyGroup};
  Namespace ns2{mem2, kDev + 1};
  ns2.set_ino_tag(uint64_t{3} << proto::kMountShift);
  CHECK_FALSE(fs.table->add_mount(3, ns2));
  CHECK_FALSE(v.published(3));

  SECTION("a tree too big from the start is never published") {
    Served big;
    for (int i = 0; i < 10; i++) REQUIRE(big.create("f" + std::to_string(i)) == 0);
    std::string why;
    big.table = DentryTable::create(8, why);
    REQUIRE(big.table != nullptr);
    CHECK_FALSE(big.table->add_mount(Served::kIndex, big.ns));
    Mapping bm(big.table->client_fd());
    CHECK_FALSE(bm.view.published(Served::kIndex));
    CHECK((bm.view.begin() & 1) == 0);
    REQUIRE(big.mkdir("x") == 0);
    CHECK(big.attr("x").nlink == 2);
  }

  SECTION("through the dispatcher: hello still hands out the table, requests are answered") {
    Dispatching ds(fs);
    auto send = [&](proto::Op op, const std::vector<unsigned char>& body) { return ds.send(op, body); };
    auto error_of = Dispatching::error_of;
    Reply r = ds.hello();
    Mapping hm(r.fd.get());
    CHECK_FALSE(hm.view.published(Served::kIndex));
    const std::string name = "via-dispatch";
    std::vector<unsigned char> mk(sizeof(proto::MkdirReq));
    const proto::MkdirReq mr{proto::kBaseRoot, 0755, static_cast<uint32_t>(name.size())};
    std::memcpy(mk.data(), &mr, sizeof mr);
    mk.insert(mk.end(), name.begin(), name.end());
    CHECK(error_of(send(proto::Op::mkdir, mk)) == 0);
    CHECK(error_of(send(proto::Op::mkdir, mk)) == -EEXIST);
    CHECK(fs.attr(name).nlink == 2);
  }
}

TEST_CASE("dentry table: through the dispatcher, a change is in the table when its reply is built",
          "[dentry_table]") {
  Served fs;
  fs.make_table();
  Dispatching ds(fs);
  auto send = [&](proto::Op op, const std::vector<unsigned char>& body) { return ds.send(op, body); };
  Reply r = ds.hello();
  CHECK((fcntl(r.fd.get(), F_GETFL) & O_ACCMODE) == O_RDONLY);
  Mapping m(r.fd.get());
  const View& v = m.view;
  CHECK(v.published(Served::kIndex));

  const std::string name = "made";
  std::vector<unsigned char> mk(sizeof(proto::MkdirReq));
  const proto::MkdirReq mr{proto::kBaseRoot, 0700, static_cast<uint32_t>(name.size())};
  std::memcpy(mk.data(), &mr, sizeof mr);
  mk.insert(mk.end(), name.begin(), name.end());
  const uint64_t before = v.begin();
  const Reply made = send(proto::Op::mkdir, mk);
  proto::ReplyHeader h{};
  REQUIRE(made.bytes.size() >= sizeof h);
  std::memcpy(&h, made.bytes.data(), sizeof h);
  REQUIRE(h.error == 0);
  CHECK(v.begin() > before);
  CHECK((v.begin() & 1) == 0);
  const Walked w = table_walk(v, fs.root_ino(), name);
  REQUIRE(w.found);
  CHECK(w.entry.attr.mode == (S_IFDIR | 0700));
  CHECK(w.entry.attr.dev == kDev);
  CHECK(w.entry.attr.ino == fs.attr(name).ino);
}

namespace {

// Sends one fd over a socket.
bool send_fd(int sock, int fd) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(sock, &msg, 0) == 1;
}
int recv_fd(int sock) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1) return -1;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

// A "server" in a child process: makes a table over a small tree, passes
// a client fd of it back, then waits for one byte and ends as told:
// 'd' destroys the table and exits, 'x' exits without destroying it, and
// anything else (or nothing: the parent kills it) leaves it held.
pid_t table_server(UniqueFd& client_fd, UniqueFd& control) {
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(sv[0]);
    auto* fs = new Served;
    if (fs->mkdir("d") != 0) _exit(10);
    std::string why;
    fs->table = DentryTable::create(64, why);
    if (fs->table == nullptr || !fs->table->add_mount(Served::kIndex, fs->ns)) _exit(11);
    const int fd = fs->table->client_fd();
    if (fd < 0 || !send_fd(sv[1], fd)) _exit(12);
    close(fd);
    char how = 0;
    if (read(sv[1], &how, 1) != 1) _exit(13);
    if (how == 'd') {
      delete fs;
      _exit(0);
    }
    if (how == 'x') _exit(0);
    pause();
    _exit(0);
  }
  close(sv[1]);
  control.reset(sv[0]);
  const int fd = recv_fd(sv[0]);
  REQUIRE(fd >= 0);
  client_fd.reset(fd);
  return pid;
}

}  // namespace

TEST_CASE("dentry table: alive() says whether the server still holds the table", "[dentry_table]") {
  SECTION("in-process: destroyed while a client mapping remains") {
    auto fs = std::make_unique<Served>();
    REQUIRE(fs->mkdir("d") == 0);
    fs->make_table();
    Mapping m(fs->table->client_fd());
    CHECK(m.view.alive());
    CHECK(m.view.published(Served::kIndex));
    fs->table.reset();
    CHECK_FALSE(m.view.alive());
    CHECK_FALSE(m.view.published(Served::kIndex));
    // The mapping itself stays readable.
    CHECK(View().attach(m.base, m.bytes));
  }

  SECTION("another process: alive while it runs, not after") {
    UniqueFd fd, control;
    const pid_t pid = table_server(fd, control);
    Mapping m(fd.get());
    CHECK(m.view.alive());
    CHECK(m.view.published(Served::kIndex));
    CHECK(table_walk(m.view, (uint64_t{Served::kIndex} << proto::kMountShift) | proto::kRootIno, "d").found);
    int status = 0;

    SECTION("destroyed cleanly") {
      REQUIRE(write(control.get(), "d", 1) == 1);
      REQUIRE(waitpid(pid, &status, 0) == pid);
      CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
      CHECK_FALSE(m.view.alive());
    }
    SECTION("exits without destroying it") {
      REQUIRE(write(control.get(), "x", 1) == 1);
      REQUIRE(waitpid(pid, &status, 0) == pid);
      CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
      CHECK_FALSE(m.view.alive());
    }
    SECTION("killed with SIGKILL") {
      // Still alive while it waits.
      usleep(20000);
      CHECK(m.view.alive());
      REQUIRE(kill(pid, SIGKILL) == 0);
      REQUIRE(waitpid(pid, &status, 0) == pid);
      CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
      CHECK_FALSE(m.view.alive());
      // What it published is still there to read (but no longer current).
      CHECK(View().attach(m.base, m.bytes));
    }
  }
}

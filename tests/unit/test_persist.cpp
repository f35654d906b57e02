// A persistent namespace: what a random sequence of operations leaves is
// exactly what a restart (after a kill: journal replay; after compaction:
// the snapshot) brings back, field by field; a store that cannot reserve
// or record changes leaves the namespace unchanged or reports EIO.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dispatch.hpp"
#include "journal.hpp"
#include "namespace.hpp"
#include "snapshot.hpp"
#include "state_dir.hpp"

using namespace userfs;
using namespace userfs::server;

namespace {

constexpr uid_t kMe = 1000;
constexpr gid_t kMyGroup = 1000;

struct TempDir {
  std::string path;
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp") + "/userfs-persist-test.XXXXXX";
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

// A server's state: a StateDir, the in-memory filesystem recovered from it
// and its namespace.
struct Server {
  std::unique_ptr<StateDir> state;
  std::unique_ptr<MemBackend> mem;
  std::unique_ptr<Namespace> ns;
  Cred me{kMe, kMyGroup, {}};

  void start(const std::string& dir, uint64_t journal_max = uint64_t{64} << 20) {
    state = std::make_unique<StateDir>();
    std::string why;
    INFO(why);
    REQUIRE(state->open(dir, why));
    state->set_journal_max(journal_max);
    ns.reset();
    mem = std::make_unique<MemBackend>(kMe, kMyGroup);
    ns = std::make_unique<Namespace>(*mem, dev_of_instance(state->instance()));
    ns->set_instance(state->instance());
    const bool ok = state->recover(*mem, why);
    INFO(why);
    REQUIRE(ok);
  }
  // As a kill: no final snapshot, only what the journal holds.
  void kill() {
    ns.reset();
    mem.reset();
    state.reset();
  }
  void stop() {
    REQUIRE(state->compact() == 0);
    kill();
  }
};

std::string data_of(const Inode& n) {
  std::string out;
  char buf[4096];
  off_t off = 0;
  ssize_t got;
  while ((got = pread(n.data.get(), buf, sizeof buf, off)) > 0) {
    out.append(buf, static_cast<size_t>(got));
    off += got;
  }
  return out;
}

bool same_time(const timespec& a, const timespec& b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

// Every inode's fields, entries (with cookies), xattrs, target and data.
void require_same(MemBackend& a, MemBackend& b, bool compare_data = true) {
  REQUIRE(a.next_ino() == b.next_ino());
  const auto ia = a.inodes(), ib = b.inodes();
  REQUIRE(ia.size() == ib.size());
  for (size_t i = 0; i < ia.size(); ++i) {
    const Inode& x = *ia[i];
    const Inode& y = *ib[i];
    INFO("inode " << x.ino);
    REQUIRE(x.ino == y.ino);
    CHECK(x.type == y.type);
    CHECK(x.mode == y.mode);
    CHECK(x.uid == y.uid);
    CHECK(x.gid == y.gid);
    CHECK(x.nlink == y.nlink);
    CHECK(x.parent == y.parent);
    CHECK(x.name == y.name);
    CHECK(x.target == y.target);
    CHECK(x.next_cookie == y.next_cookie);
    CHECK(x.subdirs == y.subdirs);
    CHECK(x.xattrs == y.xattrs);
    // The readdir order: cookie -> name (the maps hold iterators into
    // their own namespace's entries).
    auto names = [](const Inode& n) {
      std::map<uint64_t, std::string> out;
      for (const auto& [cookie, e] : n.by_cookie) out.emplace(cookie, e->first);
      return out;
    };
    CHECK(names(x) == names(y));
    REQUIRE(x.entries.size() == y.entries.size());
    for (const auto& [name, e] : x.entries) {
      auto it = y.entries.find(name);
      REQUIRE(it != y.entries.end());
      CHECK(it->second.ino == e.ino);
      CHECK(it->second.cookie == e.cookie);
    }
    CHECK(same_time(x.atime, y.atime));
    CHECK(same_time(x.mtime, y.mtime));
    CHECK(same_time(x.ctime, y.ctime));
    CHECK(same_time(x.btime, y.btime));
    proto::Attr ax{}, ay{};
    REQUIRE(a.getattr(x.ino, ax) == 0);
    REQUIRE(b.getattr(y.ino, ay) == 0);
    if (compare_data) CHECK(std::memcmp(&ax, &ay, sizeof ax) == 0);
    if (compare_data && x.type == FileType::regular) CHECK(data_of(x) == data_of(y));
  }
}

// One random operation, whatever its outcome.
void random_op(Server& s, std::mt19937& rng) {
  static const char* const dirs[] = {"", "d1/", "d1/d2/", "d3/"};
  static const char* const names[] = {"a", "b", "c", "d1", "d2", "d3", "l"};
  auto pick = [&](auto& arr) { return arr[rng() % (sizeof arr / sizeof arr[0])]; };
  auto path = [&] { return std::string(pick(dirs)) + pick(names); };
  Namespace& ns = *s.ns;
  const Cred& me = s.me;
  proto::Attr attr{};
  SetattrArgs args;
  switch (rng() % 14) {
    case 0: {
      OpenResult r;
      if (ns.open(proto::kBaseRoot, path(), proto::kOpenCreate | O_RDWR, 0600 + rng() % 0200, me, r) == 0) {
        std::string data(rng() % 5000, static_cast<char>('a' + rng() % 26));
        REQUIRE(::write(r.fd.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size()));
      }
      break;
    }
    case 1: ns.mkdir(proto::kBaseRoot, path(), 0700 + rng() % 077, me); break;
    case 2: ns.unlink(proto::kBaseRoot, path(), 0, me); break;
    case 3: ns.unlink(proto::kBaseRoot, path(), proto::kUnlinkRemoveDir, me); break;
    case 4: {
      static const uint32_t flags[] = {0, 0, proto::kRenameNoReplace, proto::kRenameExchange};
      ns.rename(proto::kBaseRoot, path(), proto::kBaseRoot, path(), pick(flags), me);
      break;
    }
    case 5: {
      static const char* const targets[] = {"a", "../b", "/elsewhere", "d1/d2"};
      ns.symlink(pick(targets), proto::kBaseRoot, path(), me);
      break;
    }
    case 6: ns.link(proto::kBaseRoot, path(), Follow::no, proto::kBaseRoot, path(), me); break;
    case 7:
      args.valid = proto::kSetMode;
      args.mode = rng() % 07777;
      ns.setattr(proto::kBaseRoot, path(), Follow::no, args, me, attr);
      break;
    case 8:
      args.valid = proto::kSetAtime | proto::kSetMtime;
      args.atime = {static_cast<time_t>(rng() % 2000000000), static_cast<long>(rng() % 1000000000)};
      args.mtime = {static_cast<time_t>(rng() % 2000000000), static_cast<long>(rng() % 1000000000)};
      ns.setattr(proto::kBaseRoot, path(), Follow::no, args, me, attr);
      break;
    case 9:
      args.valid = proto::kSetSize;
      args.size = rng() % 10000;
      ns.setattr(proto::kBaseRoot, path(), Follow::yes, args, me, attr);
      break;
    case 10:
      ns.setxattr(proto::kBaseRoot, path(), Follow::yes, rng() % 2 ? "user.x" : "user.y",
                  std::string(rng() % 300, 'x'), 0, me);
      break;
    case 11: ns.removexattr(proto::kBaseRoot, path(), Follow::yes, "user.x", me); break;
    case 12: ns.mknod(proto::kBaseRoot, path(), S_IFREG | 0640, me); break;
    case 13:
      args.valid = proto::kSetUid | proto::kSetGid;
      args.uid = kMe;
      args.gid = kMyGroup;
      ns.setattr(proto::kBaseRoot, path(), Follow::no, args, me, attr);
      break;
  }
}

// A namespace in memory, built from another's image (a snapshot's body).
std::unique_ptr<MemBackend> from_image(const MemBackend& src) {
  std::string body;
  src.image(body);
  std::vector<Item> items;
  std::string why;
  REQUIRE(decode_items(body, items, why));
  auto ns = std::make_unique<MemBackend>(kMe, kMyGroup);
  ns->begin_restore();
  for (const Item& it : items) REQUIRE(ns->apply(it, why));
  const bool ok = ns->finish_restore(why);
  INFO(why);
  REQUIRE(ok);
  return ns;
}

// Records what a namespace hands its store; memfds for data.
struct FakeStore final : Store {
  int reserve_rc = 0;
  int commit_rc = 0;
  std::vector<std::string> records;
  int reserve(Change) override { return reserve_rc; }
  int commit(std::string_view items) override {
    if (commit_rc != 0) return commit_rc;
    records.emplace_back(items);
    return 0;
  }
  int create_data(uint64_t, UniqueFd& out) override {
    UniqueFd fd(memfd_create("test", MFD_CLOEXEC));
    if (!fd.valid()) return -errno;
    out = std::move(fd);
    return 0;
  }
  int open_data(uint64_t, UniqueFd&) override { return -ENOENT; }
  void remove_data(uint64_t) override {}
  int sync(uint64_t, int) override { return 0; }
  void status(StoreStatus&) const override {}
};

}  // namespace

TEST_CASE("a restart after a kill or a stop brings back every inode as it was") {
  const unsigned seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  TempDir dir;
  // A small journal limit: compactions happen between the operations too.
  const uint64_t journal_max = GENERATE(uint64_t{64} << 20, uint64_t{4096});
  Server s;
  s.start(dir.path, journal_max);
  uint64_t most_inodes = 0;
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 150; ++i) random_op(s, rng);
    most_inodes = std::max(most_inodes, s.mem->counts().inodes);
    // The in-memory namespace as it is now, to compare with.
    auto expected = from_image(*s.mem);
    require_same(*s.mem, *expected, false);
    const auto counts = s.mem->counts();
    if (round % 2 == 0)
      s.kill();
    else
      s.stop();
    s.start(dir.path, journal_max);
    require_same(*s.mem, *expected, false);
    CHECK(s.mem->counts().bytes == counts.bytes);
  }
  CHECK(most_inodes > 5);  // the operations did build something
}

TEST_CASE("after a kill, every inode's attributes (sizes, times from the data files) and data match") {
  const unsigned seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  TempDir dir;
  Server s;
  s.start(dir.path);
  for (int i = 0; i < 300; ++i) random_op(s, rng);
  std::vector<proto::Attr> attrs;
  std::vector<std::string> data;
  // Data first: reading may move a file's atime.
  for (const Inode* n : s.mem->inodes()) data.push_back(n->type == FileType::regular ? data_of(*n) : "");
  for (const Inode* n : s.mem->inodes()) {
    proto::Attr a{};
    REQUIRE(s.ns->getattr(n->ino, a) == 0);
    attrs.push_back(a);
  }
  s.kill();
  s.start(dir.path);
  const auto after = s.mem->inodes();
  REQUIRE(after.size() == attrs.size());
  for (size_t i = 0; i < after.size(); ++i) {
    INFO("inode " << attrs[i].ino);
    proto::Attr a{};
    REQUIRE(s.ns->getattr(after[i]->ino, a) == 0);
    CHECK(std::memcmp(&a, &attrs[i], sizeof a) == 0);
  }
  for (size_t i = 0; i < after.size(); ++i)
    CHECK((after[i]->type == FileType::regular ? data_of(*after[i]) : "") == data[i]);
}

TEST_CASE("a snapshot image rebuilds an identical namespace") {
  std::mt19937 rng(12345);
  TempDir dir;
  Server s;
  s.start(dir.path);
  for (int i = 0; i < 400; ++i) random_op(s, rng);
  auto copy = from_image(*s.mem);
  require_same(*s.mem, *copy, false);
  std::string a, b;
  s.mem->image(a);
  copy->image(b);
  CHECK(a == b);
}

TEST_CASE("a removed file's data file goes once the removal is recorded; open fds keep the data") {
  TempDir dir;
  Server s;
  s.start(dir.path);
  OpenResult r;
  REQUIRE(s.ns->open(proto::kBaseRoot, "f", proto::kOpenCreate | O_RDWR, 0644, s.me, r) == 0);
  REQUIRE(::write(r.fd.get(), "data", 4) == 4);
  const std::string data_file = dir.path + "/data/" + data_file_name(r.attr.ino);
  struct stat st {};
  REQUIRE(::stat(data_file.c_str(), &st) == 0);
  CHECK(st.st_size == 4);
  REQUIRE(s.ns->unlink(proto::kBaseRoot, "f", 0, s.me) == 0);
  CHECK(::stat(data_file.c_str(), &st) < 0);
  char buf[8] = {};
  CHECK(pread(r.fd.get(), buf, sizeof buf, 0) == 4);
  CHECK(std::string(buf) == "data");
  s.kill();
  s.start(dir.path);
  proto::Attr a{};
  CHECK(s.ns->lookup(proto::kBaseRoot, "f", Follow::no, s.me, a) == -ENOENT);
}

TEST_CASE("the inode limit gives ENOSPC with a state directory, and the state is what was created") {
  TempDir dir;
  Server s;
  s.start(dir.path);
  Limits l = s.mem->limits();
  l.max_inodes = 10;
  s.mem->set_limits(l);
  int made = 0;
  for (int i = 0; i < 20; ++i) {
    const int rc = s.ns->mknod(proto::kBaseRoot, "f" + std::to_string(i), S_IFREG | 0644, s.me);
    if (rc == 0) ++made;
    else CHECK(rc == -ENOSPC);
  }
  CHECK(made == 9);  // and the root
  CHECK(s.ns->mkdir(proto::kBaseRoot, "d", 0755, s.me) == -ENOSPC);
  auto expected = from_image(*s.mem);
  s.kill();
  s.start(dir.path);
  require_same(*s.mem, *expected, false);
  CHECK(s.mem->counts().inodes == 10);
}

TEST_CASE("a store that cannot reserve leaves the namespace unchanged; one that cannot record gives EIO") {
  FakeStore store;
  MemBackend mem(kMe, kMyGroup);
  Namespace ns(mem, 1);
  mem.set_store(&store);
  Cred me{kMe, kMyGroup, {}};
  REQUIRE(ns.mkdir(proto::kBaseRoot, "d", 0755, me) == 0);
  REQUIRE(ns.mknod(proto::kBaseRoot, "d/f", S_IFREG | 0644, me) == 0);
  CHECK(store.records.size() == 2);  // one record per operation

  std::string before;
  mem.image(before);
  store.reserve_rc = -ENOSPC;
  OpenResult r;
  proto::Attr a{};
  SetattrArgs chmod;
  chmod.valid = proto::kSetMode;
  chmod.mode = 0600;
  CHECK(ns.mkdir(proto::kBaseRoot, "e", 0755, me) == -ENOSPC);
  CHECK(ns.open(proto::kBaseRoot, "g", proto::kOpenCreate | O_WRONLY, 0644, me, r) == -ENOSPC);
  // Opening an existing file with O_CREAT changes nothing: it needs no room;
  // and a change refused for another reason says so.
  CHECK(ns.open(proto::kBaseRoot, "d/f", proto::kOpenCreate | O_WRONLY, 0644, me, r) == 0);
  CHECK(ns.mkdir(proto::kBaseRoot, "d", 0755, me) == -EEXIST);
  CHECK(ns.unlink(proto::kBaseRoot, "missing", 0, me) == -ENOENT);
  CHECK(ns.symlink("x", proto::kBaseRoot, "d/f", me) == -EEXIST);
  CHECK(ns.rename(proto::kBaseRoot, "d/f", proto::kBaseRoot, "h", 0, me) == -ENOSPC);
  CHECK(ns.unlink(proto::kBaseRoot, "d/f", 0, me) == -ENOSPC);
  CHECK(ns.symlink("x", proto::kBaseRoot, "s", me) == -ENOSPC);
  CHECK(ns.setattr(proto::kBaseRoot, "d", Follow::yes, chmod, me, a) == -ENOSPC);
  CHECK(ns.setxattr(proto::kBaseRoot, "d", Follow::yes, "user.a", "v", 0, me) == -ENOSPC);
  std::string after;
  mem.image(after);
  CHECK(before == after);
  CHECK(store.records.size() == 2);
  // Reading needs no reservation.
  CHECK(ns.lookup(proto::kBaseRoot, "d/f", Follow::no, me, a) == 0);

  store.reserve_rc = 0;
  store.commit_rc = -EIO;
  CHECK(ns.mkdir(proto::kBaseRoot, "e", 0755, me) == -EIO);
  // A failing operation is still reported as it failed.
  CHECK(ns.mkdir(proto::kBaseRoot, "d", 0755, me) == -EEXIST);
}

namespace {

// One request through the dispatcher; returns the reply's errno and body.
template <class Body>
int call(Session& s, proto::Op op, const Body& body, std::vector<unsigned char>* payload = nullptr) {
  std::vector<unsigned char> msg(sizeof(proto::RequestHeader) + sizeof(Body));
  proto::RequestHeader h{};
  h.magic = proto::kMagic;
  h.op = static_cast<uint16_t>(op);
  h.length = sizeof(Body);
  h.id = 1;
  std::memcpy(msg.data(), &h, sizeof h);
  std::memcpy(msg.data() + sizeof h, &body, sizeof body);
  Reply r = dispatch(s, msg.data(), msg.size());
  proto::ReplyHeader rh{};
  REQUIRE(r.bytes.size() >= sizeof rh);
  std::memcpy(&rh, r.bytes.data(), sizeof rh);
  if (payload != nullptr) payload->assign(r.bytes.begin() + sizeof rh, r.bytes.end());
  return rh.error;
}

}  // namespace

TEST_CASE("hello's instance and st_dev stay across restarts; status shows the state; sync answers") {
  TempDir dir;
  Server s;
  s.start(dir.path);
  const uint64_t instance = s.state->instance();
  const uint64_t dev = s.ns->dev();
  REQUIRE(s.ns->mkdir(proto::kBaseRoot, "d", 0755, s.me) == 0);
  s.kill();
  s.start(dir.path);
  CHECK(s.state->instance() == instance);
  CHECK(s.ns->dev() == dev);

  Session session;
  session.ns = s.ns.get();
  session.cred = s.me;
  std::vector<unsigned char> body;
  REQUIRE(call(session, proto::Op::hello, proto::HelloReq{proto::kVersion, 0}, &body) == 0);
  proto::HelloRep hello{};
  REQUIRE(body.size() == sizeof hello);
  std::memcpy(&hello, body.data(), sizeof hello);
  CHECK(hello.instance == instance);
  CHECK(hello.dev == dev);

  REQUIRE(s.ns->mkdir(proto::kBaseRoot, "e", 0755, s.me) == 0);
  // The status op has no body: send just the header.
  std::vector<unsigned char> msg(sizeof(proto::RequestHeader));
  proto::RequestHeader h{};
  h.magic = proto::kMagic;
  h.op = static_cast<uint16_t>(proto::Op::status);
  h.id = 2;
  std::memcpy(msg.data(), &h, sizeof h);
  Reply r = dispatch(session, msg.data(), msg.size());
  proto::StatusRep st{};
  REQUIRE(r.bytes.size() >= sizeof(proto::ReplyHeader) + sizeof st);
  std::memcpy(&st, r.bytes.data() + sizeof(proto::ReplyHeader), sizeof st);
  CHECK((st.status_flags & proto::kStatusPersistent) != 0);
  CHECK((st.status_flags & proto::kStatusJournalFailed) == 0);
  CHECK(st.journal_records == 1);
  CHECK(st.journal_bytes > sizeof(JournalHeader));
  CHECK(st.snapshot_sec > 0);
  REQUIRE(st.state_dir_len == dir.path.size());
  CHECK(std::string(reinterpret_cast<const char*>(r.bytes.data()) + sizeof(proto::ReplyHeader) + sizeof st,
                    st.state_dir_len) == dir.path);

  OpenResult f;
  REQUIRE(s.ns->open(proto::kBaseRoot, "f", proto::kOpenCreate | O_RDWR, 0644, s.me, f) == 0);
  CHECK(call(session, proto::Op::sync, proto::SyncReq{f.attr.ino}) == 0);
  CHECK(call(session, proto::Op::sync, proto::SyncReq{0}) == 0);
  CHECK(call(session, proto::Op::sync, proto::SyncReq{999999}) == 0);  // gone: nothing to sync
}

TEST_CASE("a journal record of an unknown kind, or one that does not fit the tree, stops recovery") {
  TempDir dir;
  Server s;
  s.start(dir.path);
  REQUIRE(s.ns->mkdir(proto::kBaseRoot, "d", 0755, s.me) == 0);
  const uint64_t instance = s.state->instance();
  s.stop();
  // Append to a fresh journal after the snapshot, as the server would.
  Snapshot snap;
  std::string why;
  UniqueFd dfd(::open(dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(read_snapshot(dfd.get(), "snapshot", snap, why) == 0);
  std::string body;
  SECTION("unknown kind") {
    encode_next_ino(body, 100);
    body.push_back(static_cast<char>(0x7f));
    why = "unknown item kind";
  }
  SECTION("an entry naming a directory that does not exist") {
    encode_next_ino(body, 100);
    encode_put_entry(body, 77, "x", 2, 5);
    why = "does not exist";
  }
  SECTION("a name for an inode that does not exist") {
    encode_put_entry(body, proto::kRootIno, "x", 50, 90);
    why = "missing inode";
  }
  JournalWriter w;
  REQUIRE(w.create(dfd.get(), "journal", instance, snap.last_seq + 1) == 0);
  REQUIRE(w.reserve() == 0);
  REQUIRE(w.append(body) == 0);

  StateDir state;
  std::string problem;
  REQUIRE(state.open(dir.path, problem));
  MemBackend mem(kMe, kMyGroup);
  CHECK_FALSE(state.recover(mem, problem));
  INFO(problem);
  CHECK(problem.find(why) != std::string::npos);
}

TEST_CASE("damaged images are refused or rebuild a tree that holds together, never crash") {
  std::mt19937 rng(777);
  TempDir dir;
  Server s;
  s.start(dir.path);
  for (int i = 0; i < 200; ++i) random_op(s, rng);
  std::string body;
  s.mem->image(body);
  int refused = 0, rebuilt = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bad = body;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<char>(rng());
    if (rng() % 8 == 0) bad.resize(rng() % bad.size());
    std::vector<Item> items;
    std::string why;
    MemBackend mem(kMe, kMyGroup);
    Namespace ns(mem, 1);
    mem.begin_restore();
    bool ok = decode_items(bad, items, why);
    for (size_t i = 0; ok && i < items.size(); ++i) ok = mem.apply(items[i], why);
    ok = ok && mem.finish_restore(why);
    if (!ok) {
      CHECK_FALSE(why.empty());
      ++refused;
      continue;
    }
    ++rebuilt;
    // What was accepted must work: list, stat and image every inode.
    std::string again;
    mem.image(again);
    for (const Inode* n : mem.inodes()) {
      proto::Attr a{};
      CHECK(ns.getattr(n->ino, a) == 0);
      if (n->type == FileType::directory) {
        std::vector<unsigned char> buf(proto::kMaxMessage);
        size_t used = 0;
        CHECK(ns.readdir(n->ino, 0, buf.data(), buf.size(), used) == 0);
      }
    }
  }
  CHECK(refused > 0);
  CHECK(rebuilt > 0);  // e.g. a changed time or mode still makes a tree
}

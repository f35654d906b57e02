// libFuzzer target: the server's decoder and dispatcher, driven in-process
// as a client would drive it over the socket, with the in-memory namespace.
//
// Input layout (so stateful sequences such as create, rename, readdir are
// reachable, not just single requests):
//   byte 0        configuration:
//                   bit 0     do NOT send a valid hello first (fuzz the
//                             handshake itself)
//                   bits 1-2  credentials: 0 the fuzzer's own uid/gid,
//                             1 root, 2 uid/gid 1000 with groups 1000,1001,
//                             3 uid/gid 65534 (root directory: root's,
//                             mode 01777)
//                   bit 3     small limits (16 inodes), to reach ENOSPC
//   then datagrams, each a 2-byte little-endian length and that many bytes;
//   a last length that runs past the end takes what is left.
// A fresh Namespace per input keeps every input reproducible on its own.
//
// Each reply is checked against the protocol's framing rules (a violation
// is a crash, like any sanitizer report) and its fd is closed; after the
// input the tree must be consistent (check_tree) and the process must hold
// as many fds as before it.
//
// fuzz/make_corpus.py writes the seed corpus in this layout; run the fuzzer
// on one file with USERFS_FUZZ_TRACE=1 to see each reply's op and errno.
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "dispatch.hpp"
#include "mem_backend.hpp"
#include "namespace.hpp"
#include "userfs/protocol.hpp"

using namespace userfs;
using namespace userfs::server;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "dispatch_fuzzer: %s\n", what);
  std::abort();
}

// Number of open fds (the directory stream's own fd included, every time).
int count_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (::readdir(d) != nullptr) ++n;
  ::closedir(d);
  return n;
}

// Where chdir makes its stand-in directories: a fresh directory per input,
// removed with whatever the input left in it (the namespace removes a
// stand-in only when its directory is removed). Per input, because libFuzzer
// ends with _Exit and no exit handler would run.
std::string make_cwd_root() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp") + "/userfs-fuzz-cwd-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) fail("mkdtemp failed");
  return templ;
}

void remove_cwd_root(const std::string& root) {
  if (DIR* d = ::opendir(root.c_str())) {
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
    }
    ::closedir(d);
    for (const std::string& n : names) ::rmdir((root + "/" + n).c_str());
  }
  ::rmdir(root.c_str());
}

Cred cred_of(unsigned choice) {
  switch (choice & 3) {
    case 1: return Cred{0, 0, {}};
    case 2: return Cred{1000, 1000, {1000, 1001}};
    case 3: return Cred{65534, 65534, {}};
    default: return Cred{::getuid(), ::getgid(), {}};
  }
}

// The reply must be framed as protocol.hpp says, whatever came in.
void check_reply(const Reply& r, const unsigned char* msg, size_t len) {
  if (r.bytes.empty()) {
    // Only when not even an error reply could be built.
    if (r.after != AfterReply::close) fail("empty reply that keeps the connection");
    return;
  }
  proto::ReplyHeader h{};
  if (r.bytes.size() < sizeof h) fail("reply shorter than a header");
  std::memcpy(&h, r.bytes.data(), sizeof h);
  if (h.magic != proto::kMagic) fail("reply with a bad magic");
  if (h.length != r.bytes.size() - sizeof h) fail("reply length field does not match");
  if (r.bytes.size() > proto::kMaxMessage) fail("reply larger than kMaxMessage");
  if (h.error > 0 || h.error < -4095) fail("reply error is not a negative errno");
  if (h.error != 0 && (h.length != 0 || r.fd.valid())) fail("error reply with a body or an fd");
  if (h.flags != 0 && !(h.flags == proto::kReplyRedirect && h.error == 0)) fail("bad reply flags");
  if (h.flags == proto::kReplyRedirect) {
    proto::RedirectRep red{};
    if (h.length < sizeof red) fail("redirect reply too short");
    std::memcpy(&red, r.bytes.data() + sizeof h, sizeof red);
    if (red.path_len != h.length - sizeof red) fail("redirect path_len does not match");
    if (red.which > 1) fail("redirect names a third path");
  }
  if (len >= sizeof(proto::RequestHeader)) {
    proto::RequestHeader q{};
    std::memcpy(&q, msg, sizeof q);
    if (h.id != q.id || h.op != q.op) fail("reply does not echo the request's id and op");
  }
  if (r.fd.valid() && ::fcntl(r.fd.get(), F_GETFD) < 0) fail("reply carries a closed fd");
}

// USERFS_FUZZ_TRACE=1: print each reply's op and errno (to check seeds).
bool trace() {
  static const bool on = std::getenv("USERFS_FUZZ_TRACE") != nullptr;
  return on;
}

// After the input: the tree is consistent. Walking from the root, every
// entry names a live inode of the type it says, "." and ".." are right, no
// directory is reachable twice, each link count matches the names found
// (a directory's is 2 + its subdirectories) and no inode is left in the
// table that no name reaches.
void check_tree(const Namespace& ns, const MemBackend& mem) {
  struct Todo {
    uint64_t ino, parent;
  };
  std::vector<Todo> todo{{proto::kRootIno, proto::kRootIno}};
  std::map<uint64_t, uint32_t> names;  // non-directory -> names seen
  std::set<uint64_t> dirs;
  std::vector<unsigned char> buf(proto::kMaxMessage);
  while (!todo.empty()) {
    const Todo d = todo.back();
    todo.pop_back();
    if (!dirs.insert(d.ino).second) fail("tree: a directory is reachable by two paths");
    proto::Attr dattr{};
    if (ns.getattr(d.ino, dattr) != 0) fail("tree: directory vanished");
    uint32_t subdirs = 0;
    uint64_t cookie = 0;
    for (;;) {
      size_t used = 0;
      if (ns.readdir(d.ino, cookie, buf.data(), buf.size(), used) != 0) fail("tree: readdir failed");
      proto::ReaddirRep rep{};
      std::memcpy(&rep, buf.data(), sizeof rep);
      size_t at = sizeof rep;
      for (uint32_t i = 0; i < rep.count; ++i) {
        proto::DirEntry e{};
        if (at + sizeof e > used) fail("tree: readdir count runs past its bytes");
        std::memcpy(&e, buf.data() + at, sizeof e);
        const std::string name(reinterpret_cast<const char*>(buf.data()) + at + sizeof e, e.name_len);
        at += proto::dir_entry_size(e.name_len);
        if (at > used) fail("tree: readdir entry runs past its bytes");
        if (e.cookie <= cookie) fail("tree: readdir cookies not increasing");
        cookie = e.cookie;
        if (name == ".") {
          if (e.ino != d.ino) fail("tree: '.' is not the directory");
          continue;
        }
        if (name == "..") {
          if (e.ino != d.parent) fail("tree: '..' is not the parent");
          continue;
        }
        if (name.empty() || name.size() > proto::kMaxName || name.find('/') != std::string::npos)
          fail("tree: an entry with an impossible name");
        proto::Attr a{};
        if (ns.getattr(e.ino, a) != 0) fail("tree: an entry names a missing inode");
        const bool is_dir = S_ISDIR(a.mode);
        if ((e.type == DT_DIR) != is_dir) fail("tree: entry type disagrees with the inode");
        if (is_dir) {
          ++subdirs;
          todo.push_back({e.ino, d.ino});
        } else {
          ++names[e.ino];
        }
      }
      if (rep.eof != 0) break;
      if (rep.count == 0) fail("tree: readdir made no progress");
    }
    if (dattr.nlink != 2 + subdirs) fail("tree: a directory's link count is not 2 + subdirectories");
  }
  for (const auto& [ino, n] : names) {
    proto::Attr a{};
    if (ns.getattr(ino, a) != 0 || a.nlink != n) fail("tree: a link count differs from the names found");
  }
  if (mem.counts().inodes != dirs.size() + names.size()) fail("tree: inodes no name reaches");
}

std::vector<unsigned char> hello_request() {
  proto::RequestHeader h{};
  h.magic = proto::kMagic;
  h.op = static_cast<uint16_t>(proto::Op::hello);
  h.length = sizeof(proto::HelloReq);
  h.id = 0;
  const proto::HelloReq req{proto::kVersion, 0};
  std::vector<unsigned char> msg(sizeof h + sizeof req);
  std::memcpy(msg.data(), &h, sizeof h);
  std::memcpy(msg.data() + sizeof h, &req, sizeof req);
  return msg;
}

// Sends one datagram; false once the server would have closed the
// connection (nothing after that reaches this session).
bool send(Session& s, const unsigned char* msg, size_t len) {
  // A private copy of exactly `len` bytes, so ASan sees any read past the
  // datagram (the input buffer itself continues after it).
  std::vector<unsigned char> copy(msg, msg + len);
  Reply r = dispatch(s, copy.data(), copy.size());
  check_reply(r, copy.data(), copy.size());
  if (trace() && r.bytes.size() >= sizeof(proto::ReplyHeader)) {
    proto::ReplyHeader h{};
    std::memcpy(&h, r.bytes.data(), sizeof h);
    std::fprintf(stderr, "  %-11s error %-4d flags %u length %u%s\n", proto::op_name(h.op), -h.error, h.flags, h.length,
                 r.fd.valid() ? " +fd" : "");
  }
  return r.after == AfterReply::keep_open;
  // r.fd, if any, is closed here.
}

void run(const uint8_t* data, size_t size, const std::string& cwd_root) {
  if (size == 0) return;
  const uint8_t config = data[0];
  ++data;
  --size;

  const Cred cred = cred_of(config >> 1);
  // The mount root belongs to the caller, except for uid 65534, who gets a
  // root-owned sticky world-writable root (as /tmp) to exercise those rules.
  const bool nobody = cred.uid == 65534;
  MemBackend mem{nobody ? 0 : cred.uid, nobody ? 0 : cred.gid, nobody ? 01777u : 0755u};
  Namespace ns{mem, 0x5553};
  ns.set_cwd_root(cwd_root);
  if ((config & 8) != 0) mem.set_limits(Limits{1 << 20, 16});
  ServerStats stats;
  HandleTable handles;  // the read, write and lseek decoders run against it
  Session s;
  s.ns = &ns;
  s.stats = &stats;
  s.handles = &handles;
  s.cred = cred;

  if ((config & 1) == 0) {
    const std::vector<unsigned char> hello = hello_request();
    if (!send(s, hello.data(), hello.size())) fail("a valid hello was refused");
  }
  while (size > 0) {
    size_t len = data[0];
    if (size >= 2) len |= size_t{data[1]} << 8;
    const size_t head = size >= 2 ? 2 : 1;
    data += head;
    size -= head;
    if (len > size) len = size;
    if (!send(s, data, len)) break;
    data += len;
    size -= len;
  }
  check_tree(ns, mem);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string cwd_root = make_cwd_root();
  const int before = count_fds();
  run(data, size, cwd_root);
  remove_cwd_root(cwd_root);
  const int after = count_fds();
  if (before >= 0 && after != before) {
    std::fprintf(stderr, "dispatch_fuzzer: %d fds open before the input, %d after\n", before, after);
    std::abort();
  }
  return 0;
}

// The dispatcher driven in-process, as a client (or a fuzzer) would: raw
// datagrams in, reply bytes and fds out.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch.hpp"
#include "userfs/protocol.hpp"

using namespace userfs;
using namespace userfs::server;

namespace {

using Bytes = std::vector<unsigned char>;

template <class T>
void append(Bytes& b, const T& v) {
  const auto* p = reinterpret_cast<const unsigned char*>(&v);
  b.insert(b.end(), p, p + sizeof(T));
}
void append(Bytes& b, std::string_view s) { b.insert(b.end(), s.begin(), s.end()); }

// A request datagram: header, then the body parts in order.
template <class... Parts>
Bytes request(proto::Op op, uint64_t id, const Parts&... parts) {
  Bytes body;
  (append(body, parts), ...);
  proto::RequestHeader h{};
  h.magic = proto::kMagic;
  h.op = static_cast<uint16_t>(op);
  h.length = static_cast<uint32_t>(body.size());
  h.id = id;
  Bytes msg;
  append(msg, h);
  msg.insert(msg.end(), body.begin(), body.end());
  return msg;
}

struct Decoded {
  proto::ReplyHeader h{};
  Bytes payload;
};

// Checks the reply's framing and splits it.
Decoded decode(const Reply& r) {
  Decoded d;
  REQUIRE(r.bytes.size() >= sizeof d.h);
  std::memcpy(&d.h, r.bytes.data(), sizeof d.h);
  CHECK(d.h.magic == proto::kMagic);
  CHECK(d.h.flags == 0);
  REQUIRE(d.h.length == r.bytes.size() - sizeof d.h);
  d.payload.assign(r.bytes.begin() + sizeof d.h, r.bytes.end());
  return d;
}

template <class T>
T as(const Decoded& d) {
  T v{};
  REQUIRE(d.payload.size() >= sizeof v);
  std::memcpy(&v, d.payload.data(), sizeof v);
  return v;
}

struct Client {
  Namespace ns{0x99, getuid(), getgid()};
  ServerStats stats;
  Session s;

  Client() {
    s.ns = &ns;
    s.stats = &stats;
    s.cred = Cred{getuid(), getgid(), {}};
  }
  Reply send(const Bytes& msg) { return dispatch(s, msg.data(), msg.size()); }
  int error_of(const Bytes& msg) { return decode(send(msg)).h.error; }
  void hello() {
    const Reply r = send(request(proto::Op::hello, 1, proto::HelloReq{proto::kVersion, 0}));
    REQUIRE(decode(r).h.error == 0);
  }
};

Bytes lookup_req(std::string_view path, uint32_t flags = 0, uint64_t id = 7) {
  return request(proto::Op::lookup, id, proto::LookupReq{proto::kBaseRoot, flags, static_cast<uint32_t>(path.size())},
                 path);
}
Bytes open_req(std::string_view path, uint32_t flags, uint32_t mode = 0644) {
  return request(proto::Op::open, 9,
                 proto::OpenReq{proto::kBaseRoot, flags, mode, static_cast<uint32_t>(path.size()), 0}, path);
}
Bytes mkdir_req(std::string_view path, uint32_t mode = 0755) {
  return request(proto::Op::mkdir, 3, proto::MkdirReq{proto::kBaseRoot, mode, static_cast<uint32_t>(path.size())},
                 path);
}

}  // namespace

TEST_CASE("dispatch: hello must come first") {
  Client c;
  const Reply early = c.send(lookup_req(""));
  const Decoded d = decode(early);
  CHECK(d.h.error == -EPROTO);
  CHECK(d.h.id == 7);
  CHECK(d.h.op == static_cast<uint16_t>(proto::Op::lookup));
  CHECK(early.after == AfterReply::close);

  const Reply wrong = c.send(request(proto::Op::hello, 2, proto::HelloReq{proto::kVersion + 1, 0}));
  CHECK(decode(wrong).h.error == -EPROTONOSUPPORT);
  CHECK(wrong.after == AfterReply::close);
  CHECK_FALSE(c.s.greeted);

  const Reply ok = c.send(request(proto::Op::hello, 3, proto::HelloReq{proto::kVersion, 0}));
  const Decoded h = decode(ok);
  REQUIRE(h.h.error == 0);
  CHECK(h.h.id == 3);
  CHECK(ok.after == AfterReply::keep_open);
  const auto rep = as<proto::HelloRep>(h);
  CHECK(rep.version == proto::kVersion);
  CHECK(rep.server_pid == static_cast<uint32_t>(getpid()));
  CHECK(rep.dev == 0x99);
  CHECK(decode(c.send(lookup_req(""))).h.error == 0);
}

TEST_CASE("dispatch: malformed messages get error replies") {
  Client c;
  c.hello();
  const Bytes good = lookup_req("x");

  SECTION("shorter than a header") {
    for (size_t n = 0; n < sizeof(proto::RequestHeader); ++n) {
      const Reply r = dispatch(c.s, good.data(), n);
      CHECK(decode(r).h.error == -EBADMSG);
    }
  }
  SECTION("length field disagrees with the datagram") {
    Bytes m = good;
    m.push_back(0);  // one byte more than the header says
    CHECK(c.error_of(m) == -EBADMSG);
    m = good;
    m.pop_back();
    CHECK(c.error_of(m) == -EBADMSG);
  }
  SECTION("bad magic, reserved bits, unknown opcodes") {
    Bytes m = good;
    m[0] ^= 0xff;
    CHECK(c.error_of(m) == -EPROTO);
    m = good;
    m[6] = 1;  // header flags
    CHECK(c.error_of(m) == -EPROTO);
    CHECK(c.error_of(request(static_cast<proto::Op>(99), 5)) == -ENOSYS);
    CHECK(c.error_of(request(static_cast<proto::Op>(0), 5)) == -ENOSYS);
  }
  SECTION("body too short, strings past the end, trailing bytes, NULs") {
    CHECK(c.error_of(request(proto::Op::lookup, 1, uint64_t{0})) == -EBADMSG);
    CHECK(c.error_of(request(proto::Op::lookup, 1, proto::LookupReq{0, 0, 10}, std::string_view("abc"))) ==
          -EBADMSG);
    CHECK(c.error_of(request(proto::Op::lookup, 1, proto::LookupReq{0, 0, 1}, std::string_view("ab"))) == -EBADMSG);
    CHECK(c.error_of(request(proto::Op::lookup, 1, proto::LookupReq{0, 0, 3}, std::string_view("a\0b", 3))) ==
          -EBADMSG);
    CHECK(c.error_of(request(proto::Op::status, 1, uint32_t{0})) == -EBADMSG);
    CHECK(c.error_of(request(proto::Op::getattr, 1, uint32_t{1})) == -EBADMSG);
    CHECK(c.error_of(request(proto::Op::rename, 1, proto::RenameReq{0, 0, 0, 0xffffffffu, 0, 0})) == -ENAMETOOLONG);
  }
  SECTION("unknown flag bits and bad fields") {
    CHECK(c.error_of(lookup_req("", 1u << 7)) == -EINVAL);
    CHECK(c.error_of(open_req("f", proto::kOpenKnown + 1)) == -EINVAL);
    CHECK(c.error_of(open_req("f", proto::kOpenCreate | 3)) == -EINVAL);  // access mode 3
    CHECK(c.error_of(open_req("f", proto::kOpenCreate | O_RDWR, 010000)) == -EINVAL);
    CHECK(c.error_of(request(proto::Op::unlink, 1, proto::UnlinkReq{0, 2, 1}, std::string_view("f"))) == -EINVAL);
    CHECK(c.error_of(request(proto::Op::rename, 1, proto::RenameReq{0, 0, 4, 1, 1, 0}, std::string_view("ab"))) ==
          -EINVAL);
    CHECK(c.error_of(request(proto::Op::access, 1, proto::AccessReq{0, 8, 0, 0, 0})) == -EINVAL);
    CHECK(c.error_of(request(proto::Op::access, 1, proto::AccessReq{0, 0, 1u << 5, 0, 0})) == -EINVAL);
    CHECK(c.error_of(request(proto::Op::access, 1, proto::AccessReq{0, 0, 0, 0, 1})) == -EINVAL);
  }
  SECTION("an error reply carries no body and no fd") {
    const Reply r = c.send(open_req("missing", O_RDONLY));
    const Decoded d = decode(r);
    CHECK(d.h.error == -ENOENT);
    CHECK(d.payload.empty());
    CHECK_FALSE(r.fd.valid());
  }
  // The session survives all of it.
  CHECK(c.error_of(lookup_req("")) == 0);
}

TEST_CASE("dispatch: random and mutated datagrams never crash and always get a framed reply") {
  Client c;
  c.hello();
  std::mt19937 rng(12345);
  const std::vector<Bytes> seeds = {
      lookup_req("a/b"),
      open_req("f", proto::kOpenCreate | O_RDWR),
      mkdir_req("d"),
      request(proto::Op::rename, 4, proto::RenameReq{0, 0, 0, 1, 1, 0}, std::string_view("ab")),
      request(proto::Op::readdir, 5, proto::ReaddirReq{proto::kRootIno, 0}),
      request(proto::Op::status, 6),
  };
  for (int i = 0; i < 20000; ++i) {
    Bytes m = seeds[rng() % seeds.size()];
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      switch (rng() % 3) {
        case 0: m[rng() % m.size()] = static_cast<unsigned char>(rng()); break;
        case 1: m.resize(rng() % (m.size() + 8), static_cast<unsigned char>(rng())); break;
        case 2:  // keep the header's length consistent so the body is what gets tested
          if (m.size() >= sizeof(proto::RequestHeader)) {
            const uint32_t len = static_cast<uint32_t>(m.size() - sizeof(proto::RequestHeader));
            std::memcpy(m.data() + 8, &len, sizeof len);
          }
          break;
      }
      if (m.empty()) m.push_back(0);
    }
    const Reply r = dispatch(c.s, m.data(), m.size());
    REQUIRE(r.bytes.size() >= sizeof(proto::ReplyHeader));
    proto::ReplyHeader h{};
    std::memcpy(&h, r.bytes.data(), sizeof h);
    REQUIRE(h.magic == proto::kMagic);
    REQUIRE(h.length == r.bytes.size() - sizeof h);
    REQUIRE(h.error <= 0);
  }
}

TEST_CASE("dispatch: open, write, readdir and status round trip") {
  Client c;
  c.hello();
  REQUIRE(c.error_of(mkdir_req("dir")) == 0);
  CHECK(c.error_of(mkdir_req("dir")) == -EEXIST);

  Reply created = c.send(open_req("dir/file", proto::kOpenCreate | proto::kOpenExcl | O_WRONLY, 0600));
  const Decoded cd = decode(created);
  REQUIRE(cd.h.error == 0);
  REQUIRE(created.fd.valid());
  const auto orep = as<proto::OpenRep>(cd);
  CHECK(orep.attr.mode == (S_IFREG | 0600));
  CHECK((fcntl(created.fd.get(), F_GETFL) & O_ACCMODE) == O_WRONLY);
  REQUIRE(write(created.fd.get(), "payload", 7) == 7);

  const Decoded look = decode(c.send(lookup_req("dir/file")));
  REQUIRE(look.h.error == 0);
  const auto attr = as<proto::Attr>(look);
  CHECK(attr.ino == orep.attr.ino);
  CHECK(attr.size == 7);
  const Decoded ga =
      decode(c.send(request(proto::Op::getattr, 11, proto::GetattrReq{attr.ino})));
  REQUIRE(ga.h.error == 0);
  CHECK(as<proto::Attr>(ga).size == 7);
  CHECK(decode(c.send(request(proto::Op::getattr, 11, proto::GetattrReq{424242}))).h.error == -ENOENT);

  // Open the directory, then list it through readdir.
  Reply dopen = c.send(open_req("dir", O_RDONLY | proto::kOpenDirectory));
  const Decoded dd = decode(dopen);
  REQUIRE(dd.h.error == 0);
  CHECK(dopen.fd.valid());
  const uint64_t dir_ino = as<proto::OpenRep>(dd).attr.ino;
  const Decoded rd = decode(c.send(request(proto::Op::readdir, 12, proto::ReaddirReq{dir_ino, 0})));
  REQUIRE(rd.h.error == 0);
  CHECK(rd.h.id == 12);
  const auto rep = as<proto::ReaddirRep>(rd);
  CHECK(rep.count == 3);
  CHECK(rep.eof == 1);
  std::vector<std::string> names;
  size_t off = sizeof rep;
  for (uint32_t i = 0; i < rep.count; ++i) {
    proto::DirEntry e{};
    REQUIRE(off + sizeof e <= rd.payload.size());
    std::memcpy(&e, rd.payload.data() + off, sizeof e);
    names.emplace_back(reinterpret_cast<const char*>(rd.payload.data()) + off + sizeof e, e.name_len);
    if (names.back() == "file") CHECK(e.ino == attr.ino);
    off += proto::dir_entry_size(e.name_len);
  }
  CHECK(off == rd.payload.size());
  CHECK(names == std::vector<std::string>{".", "..", "file"});

  // The data written through the client fd is readable through a new open.
  Reply ropen = c.send(open_req("dir/file", O_RDONLY));
  REQUIRE(decode(ropen).h.error == 0);
  char buf[16] = {};
  REQUIRE(read(ropen.fd.get(), buf, sizeof buf) == 7);
  CHECK(std::string(buf) == "payload");

  CHECK(c.error_of(request(proto::Op::access, 13, proto::AccessReq{0, R_OK | W_OK, 0, 8, 0},
                           std::string_view("dir/file"))) == 0);
  CHECK(c.error_of(request(proto::Op::rename, 14, proto::RenameReq{0, 0, 0, 8, 3, 0},
                           std::string_view("dir/file"), std::string_view("top"))) == 0);
  CHECK(c.error_of(request(proto::Op::unlink, 15, proto::UnlinkReq{0, proto::kUnlinkRemoveDir, 3},
                           std::string_view("dir"))) == 0);

  const Decoded st = decode(c.send(request(proto::Op::status, 16)));
  REQUIRE(st.h.error == 0);
  const auto s = as<proto::StatusRep>(st);
  CHECK(s.server_pid == static_cast<uint32_t>(getpid()));
  CHECK(s.inodes == 2);
  CHECK(s.directories == 1);
  CHECK(s.files == 1);
  CHECK(s.bytes == 7);
  CHECK(s.requests == c.stats.requests);
  CHECK(s.requests == 14);  // every datagram above, this one included
}

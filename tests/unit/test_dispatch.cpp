// The dispatcher driven in-process, as a client (or a fuzzer) would: raw
// datagrams in, reply bytes and fds out.
#include <catch2/catch.hpp>

#include <dirent.h>
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
#include "mem_backend.hpp"
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
  CHECK((d.h.flags == 0 || (d.h.flags == proto::kReplyRedirect && d.h.error == 0)));
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
  MemBackend mem{getuid(), getgid()};
  Namespace ns{mem, 0x99};
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
      request(proto::Op::symlink, 7, proto::SymlinkReq{0, 1, 1}, std::string_view("tl")),
      request(proto::Op::setattr, 8, proto::SetattrReq{0, 0, proto::kSetMode, 0600, 0, 0, 1, 0, 0, 0, 0, 0},
              std::string_view("f")),
      request(proto::Op::setxattr, 9, proto::SetxattrReq{0, 0, 0, 6, 1, 1, 0}, std::string_view("user.av"),
              std::string_view("f")),
      request(proto::Op::link, 10, proto::LinkReq{0, 0, 0, 1, 1, 0}, std::string_view("fg")),
      request(proto::Op::canonical, 11, proto::CanonicalReq{0, 0, 1}, std::string_view("f")),
      request(proto::Op::statfs, 12, proto::StatfsReq{proto::kRootIno}),
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

namespace {
struct RedirectReply {
  proto::RedirectRep rep{};
  std::string path;
};
RedirectReply redirect_of(const Decoded& d) {
  REQUIRE(d.h.flags == proto::kReplyRedirect);
  REQUIRE(d.h.error == 0);
  RedirectReply r;
  r.rep = as<proto::RedirectRep>(d);
  REQUIRE(d.payload.size() == sizeof r.rep + r.rep.path_len);
  r.path.assign(reinterpret_cast<const char*>(d.payload.data()) + sizeof r.rep, r.rep.path_len);
  return r;
}
std::string text_of(const Decoded& d) { return std::string(d.payload.begin(), d.payload.end()); }
uint32_t len(std::string_view s) { return static_cast<uint32_t>(s.size()); }
Bytes symlink_req(std::string_view target, std::string_view path, uint64_t base = proto::kBaseRoot) {
  return request(proto::Op::symlink, 20, proto::SymlinkReq{base, len(target), len(path)}, target, path);
}
Bytes setattr_req(std::string_view path, proto::SetattrReq req) {
  req.path_len = len(path);
  return request(proto::Op::setattr, 21, req, path);
}
Bytes setxattr_req(std::string_view path, std::string_view name, std::string_view value, uint32_t xflags = 0,
                   uint32_t flags = 0) {
  return request(proto::Op::setxattr, 22, proto::SetxattrReq{0, flags, xflags, len(name), len(value), len(path), 0},
                 name, value, path);
}
Bytes getxattr_req(proto::Op op, std::string_view path, std::string_view name, uint32_t flags = 0) {
  return request(op, 23, proto::GetxattrReq{0, flags, len(name), len(path), 0}, name, path);
}
}  // namespace

TEST_CASE("dispatch: kOpenPath and access mode 3") {
  Client c;
  c.hello();
  REQUIRE(c.error_of(mkdir_req("dir")) == 0);
  Reply w = c.send(open_req("f", proto::kOpenCreate | O_WRONLY, 0600));
  REQUIRE(decode(w).h.error == 0);
  REQUIRE(write(w.fd.get(), "abc", 3) == 3);
  char byte;

  // O_PATH: a real O_PATH fd, whatever else was asked.
  Reply p = c.send(open_req("f", proto::kOpenPath | O_RDWR | proto::kOpenTrunc | proto::kOpenCreate));
  const Decoded pd = decode(p);
  REQUIRE(pd.h.error == 0);
  REQUIRE(p.fd.valid());
  CHECK(as<proto::OpenRep>(pd).attr.size == 3);  // not truncated
  CHECK((fcntl(p.fd.get(), F_GETFL) & O_PATH) != 0);
  CHECK(read(p.fd.get(), &byte, 1) == -1);
  CHECK(errno == EBADF);
  struct stat st {};
  REQUIRE(fstat(p.fd.get(), &st) == 0);
  CHECK(st.st_size == 3);
  Reply pdir = c.send(open_req("dir", proto::kOpenPath | proto::kOpenDirectory));
  REQUIRE(decode(pdir).h.error == 0);
  CHECK((fcntl(pdir.fd.get(), F_GETFL) & (O_PATH | O_DIRECTORY)) == (O_PATH | O_DIRECTORY));
  Reply pdir2 = c.send(open_req("dir", proto::kOpenPath));
  REQUIRE(decode(pdir2).h.error == 0);
  CHECK((fcntl(pdir2.fd.get(), F_GETFL) & (O_PATH | O_DIRECTORY)) == O_PATH);  // as natively
  REQUIRE(fstat(pdir2.fd.get(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK(c.error_of(open_req("f", proto::kOpenPath | proto::kOpenDirectory)) == -ENOTDIR);
  CHECK(c.error_of(open_req("new", proto::kOpenPath | proto::kOpenCreate)) == -ENOENT);

  // Access mode 3: accepted, an fd that neither reads nor writes.
  Reply a3 = c.send(open_req("f", 3));
  REQUIRE(decode(a3).h.error == 0);
  REQUIRE(a3.fd.valid());
  CHECK((fcntl(a3.fd.get(), F_GETFL) & O_ACCMODE) == 3);
  CHECK(read(a3.fd.get(), &byte, 1) == -1);
  CHECK(errno == EBADF);
  CHECK(write(a3.fd.get(), "x", 1) == -1);
  CHECK(errno == EBADF);
  CHECK(c.error_of(open_req("dir", 3)) == -EISDIR);
  CHECK(c.error_of(open_req("g", proto::kOpenCreate | 3)) == 0);
}

TEST_CASE("dispatch: redirect replies") {
  Client c;
  c.hello();
  REQUIRE(c.error_of(mkdir_req("d")) == 0);
  REQUIRE(c.error_of(symlink_req("/etc", "d/abs")) == 0);

  RedirectReply r = redirect_of(decode(c.send(lookup_req("d/abs/passwd"))));
  CHECK(r.rep.kind == proto::kRedirectAbsolute);
  CHECK(r.rep.which == 0);
  CHECK(r.rep.pad == 0);
  CHECK(r.path == "/etc/passwd");
  // A final symlink: followed by default, not with kNoFollow.
  CHECK(redirect_of(decode(c.send(lookup_req("d/abs/")))).path == "/etc/");
  const Decoded nf = decode(c.send(lookup_req("d/abs", proto::kNoFollow)));
  CHECK(nf.h.flags == 0);
  CHECK(nf.h.error == 0);
  CHECK(S_ISLNK(as<proto::Attr>(nf).mode));

  r = redirect_of(decode(c.send(lookup_req("/d/../../x"))));
  CHECK(r.rep.kind == proto::kRedirectMountParent);
  CHECK(r.path == "../x");

  // open: no fd with a redirect.
  const Reply o = c.send(open_req("d/abs", proto::kOpenCreate | O_RDWR));
  CHECK(redirect_of(decode(o)).path == "/etc");
  CHECK_FALSE(o.fd.valid());

  // rename's second path.
  REQUIRE(decode(c.send(open_req("f", proto::kOpenCreate | O_RDWR))).h.error == 0);
  r = redirect_of(decode(c.send(request(proto::Op::rename, 30, proto::RenameReq{0, 0, 0, 1, 8, 0},
                                        std::string_view("f"), std::string_view("d/abs/f2")))));
  CHECK(r.rep.which == 1);
  CHECK(r.path == "/etc/f2");
  r = redirect_of(decode(c.send(request(proto::Op::link, 31, proto::LinkReq{0, 0, 0, 1, 8, 0},
                                        std::string_view("f"), std::string_view("../elsew")))));
  CHECK(r.rep.which == 1);
  CHECK(r.rep.kind == proto::kRedirectMountParent);
  CHECK(r.path == "../elsew");
  CHECK(redirect_of(decode(c.send(symlink_req("x", "d/abs/l")))).rep.which == 1);
  CHECK(decode(c.send(lookup_req("f"))).h.error == 0);  // nothing moved
}

TEST_CASE("dispatch: symlink, readlink, link, mknod") {
  Client c;
  c.hello();
  REQUIRE(c.error_of(symlink_req("target", "l")) == 0);
  CHECK(c.error_of(symlink_req("target", "l")) == -EEXIST);
  CHECK(c.error_of(symlink_req("", "e")) == -ENOENT);
  CHECK(c.error_of(request(proto::Op::symlink, 1, proto::SymlinkReq{0, 4096, 1})) == -ENAMETOOLONG);
  CHECK(c.error_of(request(proto::Op::symlink, 1, proto::SymlinkReq{0, 3, 1}, std::string_view("ab"))) == -EBADMSG);
  CHECK(c.error_of(request(proto::Op::symlink, 1, proto::SymlinkReq{0, 1, 1}, std::string_view("abc"))) ==
        -EBADMSG);

  Decoded rl = decode(c.send(request(proto::Op::readlink, 2, proto::ReadlinkReq{0, 0, 1}, std::string_view("l"))));
  REQUIRE(rl.h.error == 0);
  CHECK(text_of(rl) == "target");
  const uint64_t lino = as<proto::Attr>(decode(c.send(lookup_req("l", proto::kNoFollow)))).ino;
  rl = decode(c.send(request(proto::Op::readlink, 2, proto::ReadlinkReq{lino, proto::kEmptyPath, 0})));
  REQUIRE(rl.h.error == 0);
  CHECK(text_of(rl) == "target");
  CHECK(c.error_of(request(proto::Op::readlink, 2, proto::ReadlinkReq{0, 0, 0})) == -EINVAL);  // the root
  CHECK(c.error_of(request(proto::Op::readlink, 2, proto::ReadlinkReq{0, proto::kNoFollow, 1},
                           std::string_view("l"))) == -EINVAL);  // flag not allowed here

  REQUIRE(c.error_of(request(proto::Op::mknod, 3, proto::MknodReq{0, S_IFREG | 0644, 1, 0}, std::string_view("f"))) ==
          0);
  CHECK(c.error_of(request(proto::Op::mknod, 3, proto::MknodReq{0, S_IFIFO | 0644, 1, 0}, std::string_view("p"))) ==
        -EPERM);
  CHECK(c.error_of(request(proto::Op::mknod, 3, proto::MknodReq{0, 0x80000000u | 0644, 1, 0},
                           std::string_view("q"))) == -EINVAL);
  CHECK(c.error_of(request(proto::Op::mknod, 3, proto::MknodReq{0, 0644, 1, 0})) == -EBADMSG);

  REQUIRE(c.error_of(request(proto::Op::link, 4, proto::LinkReq{0, 0, 0, 1, 1, 0}, std::string_view("fg"))) == 0);
  CHECK(as<proto::Attr>(decode(c.send(lookup_req("g")))).nlink == 2);
  CHECK(c.error_of(request(proto::Op::link, 4, proto::LinkReq{0, 0, 0, 1, 1, 0}, std::string_view("fg"))) == -EEXIST);
  REQUIRE(c.error_of(request(proto::Op::link, 4, proto::LinkReq{0, 0, proto::kLinkFollow, 1, 1, 0},
                             std::string_view("lh"))) == -ENOENT);  // l -> target, missing
  CHECK(c.error_of(request(proto::Op::link, 4, proto::LinkReq{0, 0, 1u << 5, 1, 1, 0}, std::string_view("fh"))) ==
        -EINVAL);
  CHECK(c.error_of(request(proto::Op::link, 4, proto::LinkReq{0, 0, 0, 1, 1, 1}, std::string_view("fh"))) == -EINVAL);
  CHECK(c.error_of(request(proto::Op::link, 4, proto::LinkReq{0, 0, 0, 1, 2, 0}, std::string_view("fh"))) ==
        -EBADMSG);
}

TEST_CASE("dispatch: setattr and statfs") {
  Client c;
  c.hello();
  REQUIRE(decode(c.send(open_req("f", proto::kOpenCreate | O_RDWR))).h.error == 0);
  proto::SetattrReq req{};
  req.valid = proto::kSetMode | proto::kSetSize | proto::kSetMtime;
  req.mode = 0600;
  req.size = 10;
  req.mtime_sec = 12345;
  req.mtime_nsec = 6;
  const Decoded d = decode(c.send(setattr_req("f", req)));
  REQUIRE(d.h.error == 0);
  const auto a = as<proto::Attr>(d);
  CHECK(a.mode == (S_IFREG | 0600));
  CHECK(a.size == 10);
  CHECK(a.mtime_sec == 12345);
  CHECK(a.mtime_nsec == 6);
  // By inode with kEmptyPath (fchmod on an fd).
  proto::SetattrReq by_ino{};
  by_ino.base = a.ino;
  by_ino.flags = proto::kEmptyPath;
  by_ino.valid = proto::kSetMode;
  by_ino.mode = 0640;
  REQUIRE(decode(c.send(setattr_req("", by_ino))).h.error == 0);
  CHECK(as<proto::Attr>(decode(c.send(lookup_req("f")))).mode == (S_IFREG | 0640));

  auto bad = [&](auto change) {
    proto::SetattrReq r{};
    r.valid = proto::kSetAtimeNow;
    change(r);
    return c.error_of(setattr_req("f", r));
  };
  CHECK(bad([](proto::SetattrReq&) {}) == 0);
  CHECK(bad([](proto::SetattrReq& r) { r.valid = proto::kSetKnown + 1; }) == -EINVAL);
  CHECK(bad([](proto::SetattrReq& r) { r.flags = 1u << 4; }) == -EINVAL);
  CHECK(bad([](proto::SetattrReq& r) { r.valid |= proto::kSetAtime; }) == -EINVAL);
  CHECK(bad([](proto::SetattrReq& r) { r.valid = proto::kSetMtime | proto::kSetMtimeNow; }) == -EINVAL);
  CHECK(bad([](proto::SetattrReq& r) { r.valid = proto::kSetMtime, r.mtime_nsec = 1000000000u; }) == -EINVAL);
  CHECK(bad([](proto::SetattrReq& r) { r.valid = proto::kSetMode, r.mode = 010000; }) == -EINVAL);
  CHECK(bad([](proto::SetattrReq& r) { r.valid = proto::kSetSize, r.size = uint64_t{1} << 50; }) == -EFBIG);
  CHECK(c.error_of(request(proto::Op::setattr, 1, uint64_t{0})) == -EBADMSG);

  const Decoded sf = decode(c.send(request(proto::Op::statfs, 5, proto::StatfsReq{proto::kRootIno})));
  REQUIRE(sf.h.error == 0);
  const auto st = as<proto::StatfsRep>(sf);
  CHECK(st.bsize == 4096);
  CHECK(st.namelen == 255);
  CHECK(st.fsid == 0x99);
  CHECK(st.blocks >= st.bfree);
  CHECK(st.files > st.ffree);
  CHECK(c.error_of(request(proto::Op::statfs, 5)) == -EBADMSG);
  CHECK(c.error_of(request(proto::Op::statfs, 5, uint32_t{0})) == -EBADMSG);
  // An inode of a mount this server does not have.
  CHECK(c.error_of(request(proto::Op::statfs, 5, proto::StatfsReq{uint64_t{3} << proto::kMountShift | 1})) == -ENOENT);
}

TEST_CASE("dispatch: extended attributes") {
  Client c;
  c.hello();
  REQUIRE(decode(c.send(open_req("f", proto::kOpenCreate | O_RDWR))).h.error == 0);
  const std::string value("bin\0ary", 7);
  REQUIRE(c.error_of(setxattr_req("f", "user.k", value)) == 0);
  CHECK(c.error_of(setxattr_req("f", "user.k", "x", proto::kXattrCreate)) == -EEXIST);
  CHECK(c.error_of(setxattr_req("f", "user.n", "x", proto::kXattrReplace)) == -ENODATA);
  REQUIRE(c.error_of(setxattr_req("f", "user.big", std::string(proto::kMaxXattrValue, 'v'))) == 0);
  CHECK(c.error_of(setxattr_req("f", "user.big", std::string(proto::kMaxXattrValue + 1, 'v'))) == -E2BIG);
  CHECK(c.error_of(setxattr_req("f", "bad", "x")) == -EOPNOTSUPP);
  CHECK(c.error_of(setxattr_req("f", "user." + std::string(300, 'n'), "x")) == -ERANGE);
  CHECK(c.error_of(setxattr_req("f", "user.k", "x", 4)) == -EINVAL);
  CHECK(c.error_of(setxattr_req("f", "user.k", "x", 0, 1u << 3)) == -EINVAL);
  CHECK(c.error_of(request(proto::Op::setxattr, 1, proto::SetxattrReq{0, 0, 0, 6, 5, 1, 0},
                           std::string_view("user.kxyf"))) == -EBADMSG);
  CHECK(c.error_of(request(proto::Op::setxattr, 1, proto::SetxattrReq{0, 0, 0, 6, 1, 1, 1},
                           std::string_view("user.kxf"))) == -EINVAL);

  Decoded g = decode(c.send(getxattr_req(proto::Op::getxattr, "f", "user.k")));
  REQUIRE(g.h.error == 0);
  CHECK(text_of(g) == value);
  g = decode(c.send(getxattr_req(proto::Op::getxattr, "f", "user.big")));
  REQUIRE(g.h.error == 0);
  CHECK(g.payload.size() == proto::kMaxXattrValue);
  CHECK(c.error_of(getxattr_req(proto::Op::getxattr, "f", "user.none")) == -ENODATA);
  CHECK(c.error_of(getxattr_req(proto::Op::getxattr, "f", "user.k", 1u << 2)) == -EINVAL);

  const Decoded l = decode(c.send(request(proto::Op::listxattr, 2, proto::ListxattrReq{0, 0, 1},
                                          std::string_view("f"))));
  REQUIRE(l.h.error == 0);
  CHECK(text_of(l) == std::string("user.big\0user.k\0", 16));
  CHECK(c.error_of(request(proto::Op::listxattr, 2, proto::ListxattrReq{0, 4, 1}, std::string_view("f"))) ==
        -EINVAL);

  REQUIRE(c.error_of(getxattr_req(proto::Op::removexattr, "f", "user.k")) == 0);
  CHECK(c.error_of(getxattr_req(proto::Op::removexattr, "f", "user.k")) == -ENODATA);
  CHECK(c.error_of(request(proto::Op::removexattr, 3, proto::GetxattrReq{0, 0, 6, 1, 0},
                           std::string_view("user.kf"))) == -ENODATA);
  CHECK(c.error_of(request(proto::Op::removexattr, 3, proto::GetxattrReq{0, 0, 60, 1, 0},
                           std::string_view("user.kf"))) == -EBADMSG);
}

TEST_CASE("dispatch: canonical and chdir") {
  Client c;
  c.hello();
  char templ[] = "/tmp/userfs-dispatch-cwd-XXXXXX";
  REQUIRE(mkdtemp(templ) != nullptr);
  const std::string root = templ;
  c.ns.set_cwd_root(root);
  REQUIRE(c.error_of(mkdir_req("a")) == 0);
  REQUIRE(c.error_of(mkdir_req("a/b")) == 0);
  REQUIRE(c.error_of(symlink_req("a/b", "lb")) == 0);

  auto canon = [&](std::string_view path, uint32_t flags = 0, uint64_t base = 0) {
    return decode(c.send(request(proto::Op::canonical, 40, proto::CanonicalReq{base, flags, len(path)}, path)));
  };
  Decoded d = canon("lb/.");
  REQUIRE(d.h.error == 0);
  CHECK(text_of(d) == "/a/b");
  d = canon("lb", proto::kNoFollow);
  REQUIRE(d.h.error == 0);
  CHECK(text_of(d) == "/lb");
  CHECK(canon("missing").h.error == -ENOENT);
  CHECK(canon("", 1u << 3).h.error == -EINVAL);

  const Reply r = c.send(request(proto::Op::chdir, 41, proto::ChdirReq{0, 0, 2}, std::string_view("lb")));
  const Decoded cd = decode(r);
  REQUIRE(cd.h.error == 0);
  const uint64_t b = as<proto::ChdirRep>(cd).ino;
  REQUIRE(r.fd.valid());
  struct stat st {};
  REQUIRE(fstat(r.fd.get(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  struct stat shadow {};
  REQUIRE(stat((root + "/" + std::to_string(b)).c_str(), &shadow) == 0);
  CHECK(shadow.st_ino == st.st_ino);
  // getcwd: canonical of base with an empty path.
  d = canon("", proto::kEmptyPath, b);
  REQUIRE(d.h.error == 0);
  CHECK(text_of(d) == "/a/b");
  CHECK(c.error_of(request(proto::Op::chdir, 41, proto::ChdirReq{0, proto::kNoFollow, 2},
                           std::string_view("lb"))) == -EINVAL);
  CHECK(c.error_of(request(proto::Op::chdir, 41, proto::ChdirReq{0, 0, 3}, std::string_view("lb"))) == -EBADMSG);
  // rmdir takes the stand-in with it; getcwd then fails.
  REQUIRE(c.error_of(request(proto::Op::unlink, 42, proto::UnlinkReq{0, proto::kUnlinkRemoveDir, 3},
                             std::string_view("a/b"))) == 0);
  CHECK(stat((root + "/" + std::to_string(b)).c_str(), &shadow) == -1);
  CHECK(canon("", proto::kEmptyPath, b).h.error == -ENOENT);
  // The removed directory lists as empty.
  const Decoded rd = decode(c.send(request(proto::Op::readdir, 43, proto::ReaddirReq{b, 0})));
  REQUIRE(rd.h.error == 0);
  CHECK(as<proto::ReaddirRep>(rd).count == 0);
  CHECK(as<proto::ReaddirRep>(rd).eof == 1);
  CHECK(::rmdir(root.c_str()) == 0);
}

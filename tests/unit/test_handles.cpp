// The table of open handle files, against a backend that keeps one file in
// memory: offsets, access modes, O_APPEND, bytes written to the placeholder
// past the shim, and release() once the placeholder's last copy is closed.
// And the plugin loader's refusals.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "dispatch.hpp"
#include "handles.hpp"
#include "namespace.hpp"
#include "plugin.hpp"
#include "userfs/protocol.hpp"

using namespace userfs;
using namespace userfs::server;

namespace {

class OneFile final : public userfs::Backend {
 public:
  std::string data;
  std::vector<uint64_t> released;

  int getattr(uint64_t, Attr& out) override {
    out = Attr{};
    out.size = data.size();
    return 0;
  }
  int read(uint64_t, uint64_t, uint64_t offset, size_t size, std::string& out) override {
    if (offset < data.size()) out.append(data, offset, size);
    return 0;
  }
  int write(uint64_t, uint64_t, uint64_t offset, std::string_view bytes, size_t& written) override {
    if (data.size() < offset + bytes.size()) data.resize(offset + bytes.size());
    data.replace(offset, bytes.size(), bytes);
    written = bytes.size();
    return 0;
  }
  void release(uint64_t, uint64_t handle) override { released.push_back(handle); }
};

struct OpenedFile {
  UniqueFd placeholder;
  uint64_t id = 0;
};

OpenedFile open_file(HandleTable& table, OneFile& file, uint32_t flags, uint64_t handle = 7) {
  OpenedFile o;
  REQUIRE(table.open(file, 42, 42, handle, flags, o.placeholder, o.id) == 0);
  REQUIRE(o.placeholder.valid());
  REQUIRE(o.id != 0);
  return o;
}

std::string read_from(HandleTable& table, uint64_t id, uint32_t size, int* rc = nullptr) {
  proto::ReadReq req{id, 0, size, 0};
  std::string out;
  const int r = table.read(req, out);
  if (rc != nullptr) *rc = r;
  return out;
}

int write_to(HandleTable& table, uint64_t id, std::string_view bytes, uint32_t flags = 0, uint64_t offset = 0) {
  proto::WriteReq req{id, offset, static_cast<uint32_t>(bytes.size()), flags};
  uint64_t written = 0;
  const int rc = table.write(req, bytes, written);
  return rc < 0 ? rc : static_cast<int>(written);
}

int64_t seek(HandleTable& table, uint64_t id, int64_t offset, uint32_t whence) {
  proto::LseekReq req{id, offset, whence, 0};
  uint64_t at = 0;
  const int rc = table.lseek(req, at);
  return rc < 0 ? rc : static_cast<int64_t>(at);
}

}  // namespace

TEST_CASE("handle files: the offset moves with reads and writes, and lseek sets it") {
  OneFile file;
  file.data = "0123456789";
  HandleTable table;
  OpenedFile o = open_file(table, file, 2 /* read-write */);
  CHECK(read_from(table, o.id, 4) == "0123");
  CHECK(read_from(table, o.id, 4) == "4567");
  CHECK(write_to(table, o.id, "ab") == 2);
  CHECK(file.data == "01234567ab");
  CHECK(read_from(table, o.id, 4).empty());
  CHECK(seek(table, o.id, 2, SEEK_SET) == 2);
  CHECK(seek(table, o.id, 3, SEEK_CUR) == 5);
  CHECK(seek(table, o.id, -1, SEEK_END) == 9);
  CHECK(seek(table, o.id, -20, SEEK_CUR) == -EINVAL);
  CHECK(seek(table, o.id, 3, SEEK_DATA) == 3);
  CHECK(seek(table, o.id, 3, SEEK_HOLE) == 10);
  CHECK(seek(table, o.id, 10, SEEK_DATA) == -ENXIO);
  CHECK(seek(table, o.id, 0, 99) == -EINVAL);
  // pread/pwrite leave the offset where it was.
  CHECK(seek(table, o.id, 1, SEEK_SET) == 1);
  proto::ReadReq at{o.id, 8, 5, proto::kIoAtOffset};
  std::string out;
  CHECK(table.read(at, out) == 0);
  CHECK(out == "ab");
  CHECK(write_to(table, o.id, "Z", proto::kIoAtOffset, 0) == 1);
  CHECK(read_from(table, o.id, 2) == "12");
  CHECK(file.data == "Z1234567ab");
}

TEST_CASE("handle files: access modes and O_APPEND are the open's") {
  OneFile file;
  file.data = "abc";
  HandleTable table;
  OpenedFile ro = open_file(table, file, 0);
  OpenedFile wo = open_file(table, file, 1);
  OpenedFile ap = open_file(table, file, 1 | proto::kOpenAppend);
  CHECK(write_to(table, ro.id, "x") == -EBADF);
  int rc = 0;
  read_from(table, wo.id, 1, &rc);
  CHECK(rc == -EBADF);
  CHECK(write_to(table, ap.id, "d") == 1);
  CHECK(write_to(table, ap.id, "e", proto::kIoAtOffset, 0) == 1);  // appends, as Linux's pwrite
  CHECK(file.data == "abcde");
  CHECK(write_to(table, wo.id, "X") == 1);
  CHECK(file.data == "Xbcde");
  // An id the table never gave is not a file.
  read_from(table, ro.id ^ 1, 1, &rc);
  CHECK(rc == -EBADF);
}

TEST_CASE("handle files: release once the last copy of the placeholder is closed") {
  OneFile file;
  HandleTable table;
  OpenedFile o = open_file(table, file, 0, 99);
  const int copy = dup(o.placeholder.get());
  REQUIRE(copy >= 0);
  o.placeholder.reset();
  table.poll_hangups();
  CHECK(file.released.empty());
  CHECK(table.open_count() == 1);
  close(copy);
  table.poll_hangups();
  CHECK(file.released == std::vector<uint64_t>{99});
  CHECK(table.open_count() == 0);
  int rc = 0;
  read_from(table, o.id, 1, &rc);
  CHECK(rc == -EBADF);
}

TEST_CASE("handle files: bytes written to the placeholder past the shim land at the offset; reads see the end") {
  OneFile file;
  file.data = "0123";
  HandleTable table;
  OpenedFile o = open_file(table, file, 2);
  CHECK(seek(table, o.id, 2, SEEK_SET) == 2);
  REQUIRE(::write(o.placeholder.get(), "xyz", 3) == 3);
  CHECK(read_from(table, o.id, 10).empty());  // the write came first: the offset is at its end
  CHECK(file.data == "01xyz");
  char c;
  CHECK(::read(o.placeholder.get(), &c, 1) == 0);
}

TEST_CASE("handle files: a request on one open sees bytes written past the shim through another of the file") {
  OneFile file;
  HandleTable table;
  OpenedFile writer = open_file(table, file, 1);
  REQUIRE(::write(writer.placeholder.get(), "first\n", 6) == 6);
  writer.placeholder.reset();  // closed at once, as bash's `echo first >f` does
  OpenedFile reader = open_file(table, file, 0);
  CHECK(read_from(table, reader.id, 100) == "first\n");
}

TEST_CASE("handle files: a table going away releases what is still open") {
  OneFile file;
  UniqueFd keep;
  {
    HandleTable table;
    OpenedFile o = open_file(table, file, 0, 5);
    keep = std::move(o.placeholder);
  }
  CHECK(file.released == std::vector<uint64_t>{5});
}

TEST_CASE("plugins: a missing library, or one that is not a backend, is refused with a reason") {
  std::string error;
  CHECK(load_plugin("/nonexistent/libnothing.so", "", error) == nullptr);
  CHECK(error.find("cannot load plugin /nonexistent/libnothing.so") != std::string::npos);
  CHECK(load_plugin("libm.so.6", "", error) == nullptr);
  CHECK(error.find("exports no userfs_backend_abi") != std::string::npos);
}

TEST_CASE("handle files: malformed read, write and lseek requests are refused") {
  OneFile file;
  file.data = "abc";
  HandleTable table;
  OpenedFile o = open_file(table, file, 2);
  std::vector<unsigned char> payload;
  auto bytes_of = [](const auto& v) {
    const auto* p = reinterpret_cast<const unsigned char*>(&v);
    return std::vector<unsigned char>(p, p + sizeof v);
  };
  {
    proto::ReadReq req{o.id, 0, proto::kMaxIo + 1, 0};
    auto b = bytes_of(req);
    wire::Reader r(b.data(), b.size());
    CHECK(serve_read(table, r, payload) == -EINVAL);
  }
  {
    proto::ReadReq req{o.id, 0, 2, 4 /* unknown flag */};
    auto b = bytes_of(req);
    wire::Reader r(b.data(), b.size());
    CHECK(serve_read(table, r, payload) == -EINVAL);
  }
  {
    proto::ReadReq req{o.id, 0, 2, 0};
    auto b = bytes_of(req);
    wire::Reader r(b.data(), b.size() - 1);  // truncated
    CHECK(serve_read(table, r, payload) == -EBADMSG);
  }
  {
    proto::WriteReq req{o.id, 0, 5, 0};  // claims 5 bytes, carries 2
    auto b = bytes_of(req);
    b.push_back('x');
    b.push_back('y');
    wire::Reader r(b.data(), b.size());
    CHECK(serve_write(table, r, payload) == -EBADMSG);
  }
  {
    proto::WriteReq req{o.id, 0, 2, 0};
    auto b = bytes_of(req);
    b.push_back('\0');  // NULs are data
    b.push_back('y');
    wire::Reader r(b.data(), b.size());
    CHECK(serve_write(table, r, payload) == 0);
    CHECK(file.data == std::string("\0yc", 3));
  }
  {
    proto::LseekReq req{o.id, 0, SEEK_SET, 1};
    auto b = bytes_of(req);
    wire::Reader r(b.data(), b.size());
    CHECK(serve_lseek(table, r, payload) == -EINVAL);
  }
  {
    proto::ReadReq req{o.id, 0, 3, 0};
    auto b = bytes_of(req);
    wire::Reader r(b.data(), b.size());
    CHECK(serve_read(table, r, payload) == 0);
    CHECK(std::string(payload.begin(), payload.end()) == "c");  // the write moved the offset to 2
  }
}

namespace {

// A root directory holding one file, "f", whose data is served by handle.
class HandleTree final : public userfs::Backend {
 public:
  OneFile file;
  int lookup(uint64_t parent, std::string_view name, Attr& out) override {
    if (parent != userfs::kRootIno) return -ENOTDIR;
    if (name != "f") return -ENOENT;
    return getattr(2, out);
  }
  int getattr(uint64_t ino, Attr& out) override {
    out = Attr{};
    out.ino = ino;
    out.uid = getuid();
    out.gid = getgid();
    out.nlink = ino == userfs::kRootIno ? 2 : 1;
    out.mode = ino == userfs::kRootIno ? (S_IFDIR | 0755) : (S_IFREG | 0644);
    out.size = ino == userfs::kRootIno ? 0 : file.data.size();
    return ino == userfs::kRootIno || ino == 2 ? 0 : -ENOENT;
  }
  int open(uint64_t, uint32_t, userfs::Opened& out) override {
    out.fd = -1;
    out.handle = 77;
    return 0;
  }
  int read(uint64_t ino, uint64_t h, uint64_t off, size_t size, std::string& out) override {
    return file.read(ino, h, off, size, out);
  }
  int write(uint64_t ino, uint64_t h, uint64_t off, std::string_view d, size_t& w) override {
    return file.write(ino, h, off, d, w);
  }
  void release(uint64_t ino, uint64_t h) override { file.release(ino, h); }
};

template <class T>
std::vector<unsigned char> datagram(proto::Op op, const T& body, std::string_view tail = {}) {
  std::vector<unsigned char> b(sizeof(proto::RequestHeader) + sizeof(T) + tail.size());
  proto::RequestHeader h{};
  h.magic = proto::kMagic;
  h.op = static_cast<uint16_t>(op);
  h.length = static_cast<uint32_t>(sizeof(T) + tail.size());
  h.id = 1;
  std::memcpy(b.data(), &h, sizeof h);
  std::memcpy(b.data() + sizeof h, &body, sizeof(T));
  if (!tail.empty()) std::memcpy(b.data() + sizeof h + sizeof(T), tail.data(), tail.size());
  return b;
}

int32_t error_of(const Reply& r) {
  proto::ReplyHeader h{};
  std::memcpy(&h, r.bytes.data(), sizeof h);
  return h.error;
}

}  // namespace

TEST_CASE("handle files through the dispatcher: the open reply names the handle and carries the placeholder") {
  HandleTree tree;
  tree.file.data = "through the dispatcher";
  Namespace ns(tree, 0x5553);
  HandleTable table;
  Session s;
  s.ns = &ns;
  s.handles = &table;
  s.cred.uid = getuid();
  s.cred.gid = getgid();
  auto hello = datagram(proto::Op::hello, proto::HelloReq{proto::kVersion, 0});
  REQUIRE(error_of(dispatch(s, hello.data(), hello.size())) == 0);

  auto open = datagram(proto::Op::open, proto::OpenReq{proto::kBaseRoot, 2, 0, 1, 0}, "f");
  Reply opened = dispatch(s, open.data(), open.size());
  REQUIRE(error_of(opened) == 0);
  REQUIRE(opened.bytes.size() == sizeof(proto::ReplyHeader) + sizeof(proto::OpenRep));
  proto::OpenRep rep{};
  std::memcpy(&rep, opened.bytes.data() + sizeof(proto::ReplyHeader), sizeof rep);
  CHECK((rep.open_flags & proto::kOpenedHandle) != 0);
  CHECK(rep.handle != 0);
  CHECK(opened.fd.valid());

  auto seek = datagram(proto::Op::lseek, proto::LseekReq{rep.handle, 8, SEEK_SET, 0});
  CHECK(error_of(dispatch(s, seek.data(), seek.size())) == 0);
  auto read = datagram(proto::Op::read, proto::ReadReq{rep.handle, 0, 3, 0});
  Reply got = dispatch(s, read.data(), read.size());
  REQUIRE(error_of(got) == 0);
  CHECK(std::string(got.bytes.begin() + sizeof(proto::ReplyHeader), got.bytes.end()) == "the");

  // The placeholder's last copy closes: the backend hears release().
  opened.fd.reset();
  table.poll_hangups();
  CHECK(tree.file.released == std::vector<uint64_t>{77});
  Reply gone = dispatch(s, read.data(), read.size());
  CHECK(error_of(gone) == -EBADF);
}

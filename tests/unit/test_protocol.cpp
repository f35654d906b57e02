// The wire contract: bounds-checked reading and writing, header checks,
// and the layout both sides rely on.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string_view>

#include "userfs/protocol.hpp"
#include "userfs/wire.hpp"

using namespace userfs;

TEST_CASE("Reader::fixed refuses to read past the end and does not advance") {
  const unsigned char buf[6] = {1, 2, 3, 4, 5, 6};
  wire::Reader r(buf, sizeof buf);
  uint64_t big = 0;
  CHECK_FALSE(r.fixed(big));
  CHECK(r.left() == 6);
  uint32_t small = 0;
  REQUIRE(r.fixed(small));
  CHECK(r.left() == 2);
  CHECK_FALSE(r.fixed(small));
  uint16_t tail = 0;
  REQUIRE(r.fixed(tail));
  CHECK(r.done());
}

TEST_CASE("Reader::string checks the claimed length and refuses NULs") {
  const char text[] = {'a', 'b', '\0', 'c'};
  std::string_view s;
  {
    wire::Reader r(text, 2);
    CHECK_FALSE(r.string(3, s));  // claims more than there is
    REQUIRE(r.string(2, s));
    CHECK(s == "ab");
  }
  {
    wire::Reader r(text, sizeof text);
    CHECK_FALSE(r.string(4, s));  // embedded NUL
  }
  {
    wire::Reader r(text, sizeof text);
    CHECK_FALSE(r.string(0xffffffffu, s));
    CHECK(r.left() == sizeof text);
  }
}

TEST_CASE("Reader::path refuses PATH_MAX and longer") {
  std::string long_path(proto::kMaxPath, 'x');
  std::string_view s;
  wire::Reader r(long_path.data(), long_path.size());
  CHECK_FALSE(r.path(static_cast<uint32_t>(proto::kMaxPath), s));
  REQUIRE(r.path(static_cast<uint32_t>(proto::kMaxPath - 1), s));
  CHECK(s.size() == proto::kMaxPath - 1);
}

TEST_CASE("Writer fails on overflow and stays failed") {
  unsigned char buf[8];
  wire::Writer w(buf, sizeof buf);
  REQUIRE(w.fixed(uint32_t{7}));
  CHECK(w.room() == 4);
  CHECK_FALSE(w.fixed(uint64_t{1}));
  CHECK_FALSE(w.ok());
  CHECK_FALSE(w.zeros(1));  // would fit, but the writer has failed
  CHECK(w.size() == 4);
}

TEST_CASE("check_request_header rejects bad magic, flags, lengths and opcodes") {
  proto::RequestHeader h{};
  h.magic = proto::kMagic;
  h.op = static_cast<uint16_t>(proto::Op::status);
  h.length = 0;
  CHECK(wire::check_request_header(h, sizeof h) == 0);

  auto bad = h;
  bad.magic = 0x12345678;
  CHECK(wire::check_request_header(bad, sizeof h) == -EPROTO);
  bad = h;
  bad.flags = 1;
  CHECK(wire::check_request_header(bad, sizeof h) == -EPROTO);
  bad = h;
  bad.mount = proto::kMaxMounts;  // no client names that many mounts
  CHECK(wire::check_request_header(bad, sizeof h) == -EPROTO);
  bad = h;
  bad.length = 8;  // claims a body the datagram does not have
  CHECK(wire::check_request_header(bad, sizeof h) == -EBADMSG);
  CHECK(wire::check_request_header(h, sizeof h + 1) == -EBADMSG);
  CHECK(wire::check_request_header(h, sizeof h - 1) == -EBADMSG);
  bad = h;
  bad.op = 0;
  CHECK(wire::check_request_header(bad, sizeof h) == -ENOSYS);
  bad.op = proto::kOpCount;
  CHECK(wire::check_request_header(bad, sizeof h) == -ENOSYS);
  bad.op = 0xffff;
  CHECK(wire::check_request_header(bad, sizeof h) == -ENOSYS);
}

TEST_CASE("wire layout: field offsets and directory entry sizes") {
  CHECK(offsetof(proto::RequestHeader, length) == 8);
  CHECK(offsetof(proto::RequestHeader, id) == 16);
  CHECK(offsetof(proto::ReplyHeader, error) == 12);
  CHECK(offsetof(proto::Attr, mode) == 88);
  CHECK(offsetof(proto::RenameReq, flags) == 16);
  CHECK(offsetof(proto::DirEntry, name_len) == 16);
  CHECK(proto::dir_entry_size(0) == 24);
  CHECK(proto::dir_entry_size(1) == 32);
  CHECK(proto::dir_entry_size(8) == 32);
  CHECK(proto::dir_entry_size(9) == 40);
  CHECK(proto::dir_entry_size(255) == 24 + 256);
  // The structs added with the second set of opcodes.
  CHECK(offsetof(proto::ReplyHeader, flags) == 6);
  CHECK(offsetof(proto::RedirectRep, path_len) == 8);
  CHECK(offsetof(proto::SetattrReq, valid) == 12);
  CHECK(offsetof(proto::SetattrReq, path_len) == 28);
  CHECK(offsetof(proto::SetattrReq, size) == 32);
  CHECK(offsetof(proto::SetattrReq, mtime_nsec) == 60);
  CHECK(offsetof(proto::StatfsRep, bsize) == 40);
  CHECK(offsetof(proto::StatfsRep, fsid) == 48);
  CHECK(offsetof(proto::SetxattrReq, value_len) == 20);
  CHECK(offsetof(proto::LinkReq, flags) == 16);
  CHECK(offsetof(proto::MknodReq, rdev) == 16);
  CHECK(sizeof(proto::ChdirRep) == 8);
  // Every opcode below kOpCount has a name; the next one does not.
  for (uint16_t op = 1; op < proto::kOpCount; ++op) CHECK(std::string_view(proto::op_name(op)) != "unknown");
  CHECK(std::string_view(proto::op_name(proto::kOpCount)) == "unknown");
}

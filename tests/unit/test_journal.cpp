// The journal's and the snapshot's formats: items round-trip, and a damaged
// file is classified as a torn tail (dropped) or corruption (refused),
// byte by byte.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "changes.hpp"
#include "journal.hpp"
#include "snapshot.hpp"
#include "unique_fd.hpp"

using namespace userfs::server;

namespace {

struct TempDir {
  std::string path;
  UniqueFd fd;
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp") + "/userfs-journal-test.XXXXXX";
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path = templ;
    fd.reset(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(fd.valid());
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string file(const char* name) const { return path + "/" + name; }
};

std::string read_file(const std::string& path) {
  std::string out;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.valid());
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

void write_file(const std::string& path, const std::string& data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0600));
  REQUIRE(fd.valid());
  REQUIRE(::write(fd.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size()));
}

JournalScan scan_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.valid());
  JournalScan scan;
  REQUIRE(scan_journal(fd.get(), scan));
  return scan;
}

std::string body_of(int i) {
  std::string b;
  encode_next_ino(b, 100 + static_cast<uint64_t>(i));
  encode_put_entry(b, 1, "name-" + std::to_string(i), 2 + static_cast<uint64_t>(i), 3 + static_cast<uint64_t>(i));
  encode_set_xattr(b, 1, "user.k", std::string(static_cast<size_t>(i) * 7, 'v'));
  return b;
}

}  // namespace

TEST_CASE("every item kind round-trips") {
  InodeImage n;
  n.ino = 42;
  n.type = 2;
  n.mode = 0120777;
  n.uid = 7;
  n.gid = 8;
  n.nlink = 3;
  n.atime = {1, 2};
  n.mtime = {3, 4};
  n.ctime = {5, 6};
  n.btime = {-7, 999999999};
  n.parent = 9;
  n.next_cookie = 10;
  n.subdirs = 11;
  n.name = "dir name";
  n.target = std::string("t\0arget", 7);
  std::string b;
  encode_next_ino(b, 77);
  encode_put_inode(b, n);
  encode_drop_inode(b, 5);
  encode_put_entry(b, 1, "e", 42, 17);
  encode_del_entry(b, 1, "gone");
  encode_set_xattr(b, 42, "user.a", std::string("\0\1\2", 3));
  encode_del_xattr(b, 42, "user.b");
  std::vector<Item> items;
  std::string why;
  REQUIRE(decode_items(b, items, why));
  REQUIRE(items.size() == 7);
  CHECK(items[0].kind == ItemKind::next_ino);
  CHECK(items[0].ino == 77);
  const InodeImage& m = items[1].inode;
  CHECK(items[1].kind == ItemKind::put_inode);
  CHECK((m.ino == 42 && m.type == 2 && m.mode == 0120777 && m.uid == 7 && m.gid == 8 && m.nlink == 3));
  CHECK((m.atime.tv_sec == 1 && m.atime.tv_nsec == 2 && m.mtime.tv_sec == 3 && m.ctime.tv_nsec == 6));
  CHECK((m.btime.tv_sec == -7 && m.btime.tv_nsec == 999999999));
  CHECK((m.parent == 9 && m.next_cookie == 10 && m.subdirs == 11 && m.name == "dir name" && m.target == n.target));
  CHECK((items[2].kind == ItemKind::drop_inode && items[2].ino == 5));
  CHECK((items[3].kind == ItemKind::put_entry && items[3].ino == 1 && items[3].name == "e" && items[3].child == 42 &&
         items[3].cookie == 17));
  CHECK((items[4].kind == ItemKind::del_entry && items[4].name == "gone"));
  CHECK((items[5].kind == ItemKind::set_xattr && items[5].value == std::string("\0\1\2", 3)));
  CHECK((items[6].kind == ItemKind::del_xattr && items[6].ino == 42 && items[6].name == "user.b"));

  SECTION("an unknown kind is refused") {
    std::string bad = b;
    bad.push_back(static_cast<char>(99));
    items.clear();
    CHECK_FALSE(decode_items(bad, items, why));
    CHECK(why.find("unknown") != std::string::npos);
  }
  SECTION("every truncation is refused") {
    std::vector<size_t> ends;
    std::string acc;
    // Item boundaries: a cut exactly there is a shorter valid body.
    for (size_t cut = 1; cut < b.size(); ++cut) {
      items.clear();
      const bool ok = decode_items(std::string_view(b).substr(0, cut), items, why);
      if (ok) ends.push_back(cut);
    }
    CHECK(ends.size() == 6);  // after each of the first six items
  }
}

TEST_CASE("a journal reads back its records, and ends cleanly in its reserved zeros") {
  TempDir dir;
  JournalWriter w;
  REQUIRE(w.create(dir.fd.get(), "journal", 0xabc, 5) == 0);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(w.reserve() == 0);
    REQUIRE(w.append(body_of(i)) == 0);
  }
  CHECK(w.records() == 10);
  const JournalScan s = scan_file(dir.file("journal"));
  CHECK(s.end == JournalScan::End::clean);
  CHECK(s.instance == 0xabc);
  CHECK(s.first_seq == 5);
  REQUIRE(s.records.size() == 10);
  for (int i = 0; i < 10; ++i) {
    CHECK(s.records[static_cast<size_t>(i)].seq == 5 + static_cast<uint64_t>(i));
    CHECK(s.records[static_cast<size_t>(i)].body == body_of(i));
  }
  CHECK(s.valid_bytes == w.bytes());
  CHECK(s.file_bytes > w.bytes());  // space reserved ahead
}

TEST_CASE("a journal cut at every byte of its last record drops just that record") {
  TempDir dir;
  JournalWriter w;
  REQUIRE(w.create(dir.fd.get(), "journal", 1, 1) == 0);
  for (int i = 0; i < 4; ++i) {
    REQUIRE(w.reserve() == 0);
    REQUIRE(w.append(body_of(i + 3)) == 0);
  }
  const std::string full = read_file(dir.file("journal")).substr(0, w.bytes());
  const JournalScan whole = scan_file(dir.file("journal"));
  REQUIRE(whole.records.size() == 4);
  const uint64_t last = whole.records[3].offset;
  for (uint64_t cut = last; cut <= full.size(); ++cut) {
    for (bool zero_tail : {false, true}) {
      // Cut, and (as after a torn write into reserved space) zeros after.
      std::string data = full.substr(0, cut);
      if (zero_tail) data.append(4096, '\0');
      write_file(dir.file("cut"), data);
      const JournalScan s = scan_file(dir.file("cut"));
      INFO("cut at " << cut << (zero_tail ? " with zeros after" : ""));
      if (cut == last || cut == full.size()) {
        CHECK(s.end == JournalScan::End::clean);
        CHECK(s.records.size() == (cut == last ? 3u : 4u));
      } else {
        CHECK(s.end == JournalScan::End::torn);
        CHECK(s.records.size() == 3);
        CHECK(s.valid_bytes == last);
        CHECK(s.problem.find("offset " + std::to_string(last)) != std::string::npos);
      }
    }
  }
}

TEST_CASE("a flipped byte anywhere before the last record is corruption") {
  TempDir dir;
  JournalWriter w;
  REQUIRE(w.create(dir.fd.get(), "journal", 1, 1) == 0);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(w.reserve() == 0);
    REQUIRE(w.append(body_of(i + 1)) == 0);
  }
  const std::string full = read_file(dir.file("journal"));
  const JournalScan whole = scan_file(dir.file("journal"));
  REQUIRE(whole.records.size() == 3);
  // Everything before the last record: the header, the first and the
  // middle record.
  const uint64_t end = whole.records[2].offset;
  for (uint64_t at = 0; at < end; ++at) {
    std::string data = full;
    data[at] = static_cast<char>(data[at] ^ 0x20);
    write_file(dir.file("flipped"), data);
    const JournalScan s = scan_file(dir.file("flipped"));
    INFO("byte " << at << " flipped");
    CHECK(s.end == JournalScan::End::corrupt);
    CHECK_FALSE(s.problem.empty());
  }
}

TEST_CASE("a snapshot round-trips and refuses any damage") {
  TempDir dir;
  Snapshot snap;
  snap.instance = 0x1234;
  snap.last_seq = 99;
  snap.written_sec = 1700000000;
  snap.body = body_of(5) + body_of(6);
  REQUIRE(write_snapshot(dir.fd.get(), "snapshot", snap) == 0);
  Snapshot back;
  std::string why;
  REQUIRE(read_snapshot(dir.fd.get(), "snapshot", back, why) == 0);
  CHECK(back.instance == snap.instance);
  CHECK(back.last_seq == 99);
  CHECK(back.written_sec == 1700000000);
  CHECK(back.body == snap.body);
  CHECK(read_snapshot(dir.fd.get(), "none", back, why) == -ENOENT);

  const std::string full = read_file(dir.file("snapshot"));
  for (size_t at = 0; at < full.size(); at += 3) {
    std::string data = full;
    data[at] = static_cast<char>(data[at] ^ 1);
    write_file(dir.file("snapshot"), data);
    INFO("byte " << at << " flipped");
    CHECK(read_snapshot(dir.fd.get(), "snapshot", back, why) == -EBADMSG);
  }
  write_file(dir.file("snapshot"), full.substr(0, full.size() - 1));
  CHECK(read_snapshot(dir.fd.get(), "snapshot", back, why) == -EBADMSG);
}

TEST_CASE("zeros a machine crash left where a record should be end the journal there, even with records after") {
  TempDir dir;
  JournalWriter w;
  REQUIRE(w.create(dir.fd.get(), "journal", 1, 1) == 0);
  for (int i = 0; i < 4; ++i) {
    std::string b;
    encode_set_xattr(b, 1, "user.big", std::string(9000, static_cast<char>('a' + i)));
    REQUIRE(w.reserve() == 0);
    REQUIRE(w.append(b) == 0);
  }
  const std::string full = read_file(dir.file("journal"));
  const JournalScan whole = scan_file(dir.file("journal"));
  REQUIRE(whole.records.size() == 4);
  const uint64_t second = whole.records[1].offset, third = whole.records[2].offset;

  SECTION("a page of zeros inside a record") {
    const uint64_t page = (second / 4096 + 1) * 4096;
    REQUIRE(page + 4096 <= third);
    std::string data = full;
    std::fill(data.begin() + static_cast<long>(page), data.begin() + static_cast<long>(page + 4096), '\0');
    write_file(dir.file("holed"), data);
    const JournalScan s = scan_file(dir.file("holed"));
    CHECK(s.end == JournalScan::End::torn);
    CHECK(s.records.size() == 1);
    CHECK(s.valid_bytes == second);
    CHECK(s.problem.find("zeros where record 2") != std::string::npos);
  }
  SECTION("a zeroed record header") {
    std::string data = full;
    std::fill(data.begin() + static_cast<long>(second), data.begin() + static_cast<long>(second + 24), '\0');
    write_file(dir.file("holed"), data);
    const JournalScan s = scan_file(dir.file("holed"));
    CHECK(s.end == JournalScan::End::torn);
    CHECK(s.records.size() == 1);
  }
  SECTION("but a damaged length is corruption, whatever zeros it reaches") {
    std::string data = full;
    data[second + 5] = static_cast<char>(data[second + 5] ^ 0x40);
    write_file(dir.file("damaged"), data);
    CHECK(scan_file(dir.file("damaged")).end == JournalScan::End::corrupt);
  }
  SECTION("and so is a single bad byte in a body, next to no zero page") {
    std::string data = full;
    data[second + 100] = static_cast<char>(data[second + 100] ^ 1);
    write_file(dir.file("damaged"), data);
    CHECK(scan_file(dir.file("damaged")).end == JournalScan::End::corrupt);
  }
}

TEST_CASE("a reopened journal wipes a torn tail and goes on with the next sequence number") {
  TempDir dir;
  JournalWriter w;
  REQUIRE(w.create(dir.fd.get(), "journal", 9, 1) == 0);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(w.reserve() == 0);
    REQUIRE(w.append(body_of(i)) == 0);
  }
  // A torn fourth record: its first half, with garbage where the rest was.
  JournalScan before = scan_file(dir.file("journal"));
  std::string data = read_file(dir.file("journal"));
  const uint64_t end = before.valid_bytes;
  RecordHeader h{};
  h.magic = kRecordMagic;
  h.length = 500;
  h.seq = 4;
  std::memcpy(data.data() + end, &h, sizeof h);
  std::memset(data.data() + end + sizeof h, 'g', 100);
  write_file(dir.file("journal"), data);
  REQUIRE(scan_file(dir.file("journal")).end == JournalScan::End::torn);

  JournalWriter again;
  REQUIRE(again.reopen(dir.fd.get(), "journal", 1, 4, end) == 0);
  REQUIRE(again.reserve() == 0);
  REQUIRE(again.append(body_of(7)) == 0);
  const JournalScan after = scan_file(dir.file("journal"));
  CHECK(after.end == JournalScan::End::clean);
  REQUIRE(after.records.size() == 4);
  CHECK(after.records[3].seq == 4);
  CHECK(after.records[3].body == body_of(7));
  CHECK(after.records[3].offset == end);
}

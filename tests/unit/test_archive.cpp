// ArchiveIndex against the real tools: every member's listing is checked
// against `tar tvf` and every file's data against what `tar xf` extracts;
// zip archives against python3's zipfile; damaged and hostile archives.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "archive_index.hpp"
#include "shell_fixtures.hpp"
#include "unique_fd.hpp"

using userfs::server::ArchiveIndex;
using userfs::server::ArchiveMember;
using userfs::server::normalise_member_path;
using userfs::server::UniqueFd;

namespace {

using userfs::test::output_of;
using userfs::test::read_file;
using userfs::test::sh;
using userfs::test::write_file;
struct TempDir : userfs::test::TempDir {
  TempDir() : userfs::test::TempDir("userfs-archive-test") {}
};

std::string extracted(const ArchiveIndex& idx, const ArchiveMember& m) {
  UniqueFd fd(memfd_create("archive-test", MFD_CLOEXEC));
  REQUIRE(fd.valid());
  std::string why;
  INFO(why);
  REQUIRE(idx.extract(m, fd.get(), why) == 0);
  std::string data(static_cast<size_t>(lseek(fd.get(), 0, SEEK_END)), '\0');
  REQUIRE(pread(fd.get(), data.data(), data.size(), 0) == static_cast<ssize_t>(data.size()));
  return data;
}

// `ls -l`-style permission string of a mode, as tar tvf prints it.
std::string perm_string(uint32_t mode) {
  std::string s = "---------";
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i)
    if (mode & (0400u >> i)) s[i] = rwx[i];
  if (mode & S_ISUID) s[2] = (mode & S_IXUSR) ? 's' : 'S';
  if (mode & S_ISGID) s[5] = (mode & S_IXGRP) ? 's' : 'S';
  if (mode & S_ISVTX) s[8] = (mode & S_IXOTH) ? 't' : 'T';
  return s;
}

// A source tree with every kind of member a read-only mount shows.
void make_tree(const std::string& src) {
  std::mt19937 rng(42);
  std::string big(200 * 1024 + 17, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  sh("mkdir -p '" + src + "/a/b/c' '" + src + "/empty dir' '" + src + "/ünï'");
  write_file(src + "/a/f", "hello\n", 0644);
  write_file(src + "/a/b/secret", "only me\n", 0600);
  write_file(src + "/a/b/c/big.bin", big, 0751);
  write_file(src + "/a/empty", "", 0644);
  write_file(src + "/ünï/名前.txt", "utf-8\n", 0640);
  write_file(src + "/" + std::string(150, 'n'), "long name\n", 0644);
  write_file(src + "/setuid", "#!/bin/sh\n", 04755);
  REQUIRE(chmod((src + "/a/b").c_str(), 0750) == 0);
  REQUIRE(symlink("b/c/big.bin", (src + "/a/rel").c_str()) == 0);
  REQUIRE(symlink("/etc/hostname", (src + "/abs").c_str()) == 0);
  REQUIRE(link((src + "/a/f").c_str(), (src + "/hard").c_str()) == 0);
}

// Checks every `tar tvf` line against the index, and the data of every
// regular file against `tar xf`.
void check_against_tar(const std::string& archive, const std::string& work) {
  ArchiveIndex idx;
  std::string why;
  INFO(why);
  REQUIRE(ArchiveIndex::load(archive, idx, why) == 0);
  CHECK(idx.skipped().empty());

  std::istringstream listing(output_of("TZ=UTC tar tvf '" + archive + "' --numeric-owner --full-time --quoting-style=literal"));
  std::string line;
  size_t listed = 0;
  while (std::getline(listing, line)) {
    INFO(line);
    std::istringstream in(line);
    std::string perms, owner, date, time, name;
    uint64_t size = 0;
    in >> perms >> owner >> size >> date >> time;
    std::getline(in >> std::ws, name);
    std::string target;
    const char type = perms[0];
    if (type == 'l') {
      const size_t arrow = name.find(" -> ");
      target = name.substr(arrow + 4);
      name.resize(arrow);
    } else if (type == 'h') {
      name.resize(name.find(" link to "));
    }
    std::string path;
    if (!normalise_member_path(name, path)) {  // "./": the root's attributes
      REQUIRE(idx.root() != nullptr);
      CHECK(S_ISDIR(idx.root()->mode));
      CHECK(perm_string(idx.root()->mode) == perms.substr(1));
      CHECK(std::to_string(idx.root()->uid) + "/" + std::to_string(idx.root()->gid) == owner);
      continue;
    }
    ++listed;
    const ArchiveMember* m = idx.find(path);
    REQUIRE(m != nullptr);
    CHECK_FALSE(m->implicit);
    CHECK(perm_string(m->mode) == perms.substr(1));
    CHECK(std::to_string(m->uid) + "/" + std::to_string(m->gid) == owner);
    char when[32];
    struct tm tm {};
    gmtime_r(&m->mtime.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    std::string stamp = when;
    if (time.find('.') != std::string::npos) {  // pax headers keep nanoseconds
      char ns[16];
      std::snprintf(ns, sizeof ns, ".%09ld", m->mtime.tv_nsec);
      stamp += ns;
      while (stamp.back() == '0') stamp.pop_back();  // as tar prints them
    }
    CHECK(stamp == date + " " + time);
    switch (type) {
      case 'd': CHECK(S_ISDIR(m->mode)); break;
      case '-': CHECK(S_ISREG(m->mode)); CHECK(m->size == size); break;
      case 'h': CHECK(S_ISREG(m->mode)); CHECK(m->nlink == 2); break;
      case 'l': CHECK(S_ISLNK(m->mode)); CHECK(m->target == target); break;
      default: FAIL("unexpected member type " << type);
    }
  }
  CHECK(listed == idx.members().size());

  const std::string out = work + "/extracted";
  sh("rm -rf '" + out + "' && mkdir '" + out + "' && tar xf '" + archive + "' -C '" + out + "'");
  size_t files = 0;
  for (const ArchiveMember& m : idx.members()) {
    if (!S_ISREG(m.mode)) continue;
    INFO(m.path);
    CHECK(extracted(idx, m) == read_file(out + "/" + m.path));
    ++files;
  }
  CHECK(files >= 8);
}

}  // namespace

TEST_CASE("archive: member names are normalised, '..' refused") {
  std::string out;
  CHECK((normalise_member_path("./a//b/./c/", out) && out == "a/b/c"));
  CHECK((normalise_member_path("/abs/x", out) && out == "abs/x"));
  CHECK_FALSE(normalise_member_path("a/../../etc/passwd", out));
  CHECK_FALSE(normalise_member_path("..", out));
  CHECK_FALSE(normalise_member_path("./", out));
  CHECK_FALSE(normalise_member_path("", out));
  CHECK((normalise_member_path("a..b/..c", out) && out == "a..b/..c"));
}

TEST_CASE("archive: tar, tar.gz and tar.xz agree with tar tvf and tar xf") {
  TempDir t;
  const std::string src = t.path + "/src";
  sh("mkdir '" + src + "'");
  make_tree(src);
  const std::string owner = " --owner=1234 --group=567 --numeric-owner ";
  sh("tar cf '" + t.path + "/x.tar'" + owner + "-C '" + src + "' .");
  check_against_tar(t.path + "/x.tar", t.path);
  sh("tar czf '" + t.path + "/x.tar.gz' -C '" + src + "' .");
  check_against_tar(t.path + "/x.tar.gz", t.path);
  if (std::system("command -v xz >/dev/null 2>&1") == 0) {
    sh("tar cJf '" + t.path + "/x.tar.xz' --format=posix -C '" + src + "' .");
    check_against_tar(t.path + "/x.tar.xz", t.path);
  }
}

TEST_CASE("archive: zip agrees with python3's zipfile") {
  TempDir t;
  const std::string src = t.path + "/src";
  sh("mkdir '" + src + "'");
  make_tree(src);
  const std::string zip = t.path + "/x.zip";
  // zipfile keeps mode bits; symlinks and hard links become plain files.
  sh("cd '" + src + "' && python3 -c 'import os, sys, zipfile\n"
     "with zipfile.ZipFile(sys.argv[1], \"w\", zipfile.ZIP_DEFLATED) as z:\n"
     "    for d, dirs, files in os.walk(\".\"):\n"
     "        for n in sorted(dirs + files): z.write(os.path.join(d, n))' '" + zip + "'");
  ArchiveIndex idx;
  std::string why;
  INFO(why);
  REQUIRE(ArchiveIndex::load(zip, idx, why) == 0);
  std::istringstream listing(output_of("python3 -c 'import sys, zipfile\n"
                                       "for i in zipfile.ZipFile(sys.argv[1]).infolist():\n"
                                       "    print(format(i.external_attr >> 16, \"o\"), i.file_size, i.filename)' '" + zip + "'"));
  std::string line;
  size_t listed = 0;
  while (std::getline(listing, line)) {
    INFO(line);
    std::istringstream in(line);
    std::string mode_text, name;
    uint64_t size = 0;
    in >> mode_text >> size;
    std::getline(in >> std::ws, name);
    std::string path;
    REQUIRE(normalise_member_path(name, path));
    const ArchiveMember* m = idx.find(path);
    REQUIRE(m != nullptr);
    ++listed;
    CHECK(m->mode == std::stoul(mode_text, nullptr, 8));
    if (S_ISREG(m->mode)) {
      CHECK(m->size == size);
      CHECK(extracted(idx, *m) == read_file(src + "/" + path));
    }
  }
  CHECK(listed == idx.members().size());
}

TEST_CASE("archive: hostile and odd member names") {
  TempDir t;
  const std::string archive = t.path + "/odd.tar";
  // Python's tarfile writes whatever names it is given.
  sh("python3 -c 'import io, sys, tarfile\n"
     "def add(t, name, data=b\"\", kind=tarfile.REGTYPE, link=\"\"):\n"
     "    i = tarfile.TarInfo(name); i.type = kind; i.size = len(data); i.linkname = link; i.mtime = 1000000000\n"
     "    t.addfile(i, io.BytesIO(data) if data else None)\n"
     "with tarfile.open(sys.argv[1], \"w\") as t:\n"
     "    add(t, \"../escape\", b\"no\")\n"
     "    add(t, \"a/../../escape2\", b\"no\")\n"
     "    add(t, \"/abs/file\", b\"abs\")\n"
     "    add(t, \"deep/er/file\", b\"implicit parents\")\n"
     "    add(t, \"dup\", b\"first\")\n"
     "    add(t, \"dup\", b\"second\")\n"
     "    add(t, \"fifo\", kind=tarfile.FIFOTYPE)\n"
     "    add(t, \"hl\", kind=tarfile.LNKTYPE, link=\"missing\")\n"
     "    add(t, \"dup/under\", b\"under a file\")\n"
     "    add(t, \"deep\", kind=tarfile.DIRTYPE)\n"
     "' '" + archive + "'");
  ArchiveIndex idx;
  std::string why;
  INFO(why);
  REQUIRE(ArchiveIndex::load(archive, idx, why) == 0);
  for (const ArchiveMember& m : idx.members()) {
    INFO(m.path);
    CHECK(m.path.find("..") == std::string::npos);
  }
  CHECK(idx.find("escape") == nullptr);
  REQUIRE(idx.find("abs/file") != nullptr);
  CHECK(extracted(idx, *idx.find("abs/file")) == "abs");
  REQUIRE(idx.find("deep/er") != nullptr);
  CHECK(idx.find("deep/er")->implicit);
  CHECK_FALSE(idx.find("deep")->implicit);  // listed after its children: the listing wins
  CHECK(idx.find("deep")->mtime.tv_sec == 1000000000);
  REQUIRE(idx.find("dup") != nullptr);
  CHECK(extracted(idx, *idx.find("dup")) == "second");
  CHECK(idx.find("fifo") == nullptr);
  CHECK(idx.find("hl") == nullptr);
  CHECK(idx.find("dup/under") == nullptr);
  CHECK(idx.skipped().size() == 5);
  CHECK(idx.root() == nullptr);  // no "./" member
}

TEST_CASE("archive: missing, non-archive and damaged files") {
  TempDir t;
  ArchiveIndex idx;
  std::string why;
  CHECK(ArchiveIndex::load(t.path + "/missing.tar", idx, why) == -ENOENT);
  write_file(t.path + "/text", "just some text, no archive here\n", 0644);
  CHECK(ArchiveIndex::load(t.path + "/text", idx, why) == -EINVAL);
  CHECK_FALSE(why.empty());

  // A truncated archive: either the listing fails, or reading a member
  // whose data is gone fails with EIO; never a crash or short data.
  std::string big(300 * 1024, 'x');
  write_file(t.path + "/big", big, 0644);
  sh("tar cf '" + t.path + "/whole.tar' -C '" + t.path + "' big && head -c 100000 '" + t.path +
     "/whole.tar' > '" + t.path + "/cut.tar'");
  const int rc = ArchiveIndex::load(t.path + "/cut.tar", idx, why);
  if (rc == 0) {
    REQUIRE(idx.find("big") != nullptr);
    UniqueFd fd(memfd_create("cut", MFD_CLOEXEC));
    CHECK(idx.extract(*idx.find("big"), fd.get(), why) == -EIO);
  } else {
    CHECK(rc == -EINVAL);
  }

  // The archive replaced after loading: extract notices.
  REQUIRE(ArchiveIndex::load(t.path + "/whole.tar", idx, why) == 0);
  write_file(t.path + "/big", "small now", 0644);
  sh("tar cf '" + t.path + "/whole.tar' -C '" + t.path + "' big");
  UniqueFd fd(memfd_create("changed", MFD_CLOEXEC));
  CHECK(idx.extract(*idx.find("big"), fd.get(), why) == -EIO);
}

TEST_CASE("archive: a cursor extracts members in any order as extract() does") {
  TempDir t;
  const std::string src = t.path + "/src";
  sh("mkdir '" + src + "'");
  make_tree(src);
  sh("tar czf '" + t.path + "/x.tgz' -C '" + src + "' .");
  ArchiveIndex idx;
  std::string why;
  REQUIRE(ArchiveIndex::load(t.path + "/x.tgz", idx, why) == 0);
  std::vector<const ArchiveMember*> files;
  for (const ArchiveMember& m : idx.members())
    if (S_ISREG(m.mode)) files.push_back(&m);
  REQUIRE(files.size() >= 8);
  std::vector<const ArchiveMember*> order = files;  // forwards, backwards, shuffled, repeated
  order.insert(order.end(), files.rbegin(), files.rend());
  std::vector<const ArchiveMember*> shuffled = files;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(5));
  order.insert(order.end(), shuffled.begin(), shuffled.end());
  order.push_back(files.back());
  order.push_back(files.back());
  ArchiveIndex::Cursor cursor(idx);
  for (const ArchiveMember* m : order) {
    INFO(m->path);
    UniqueFd fd(memfd_create("cursor", MFD_CLOEXEC));
    REQUIRE(cursor.extract(*m, fd.get(), why) == 0);
    std::string data(static_cast<size_t>(lseek(fd.get(), 0, SEEK_END)), '\0');
    REQUIRE(pread(fd.get(), data.data(), data.size(), 0) == static_cast<ssize_t>(data.size()));
    CHECK(data == read_file(src + "/" + m->path));
  }
}

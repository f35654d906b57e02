// TarBackend through the Backend interface against the real tools: the
// whole tree (names, types, modes, owners, sizes, times, link counts and
// targets) against what `tar xf` extracts, and every file's data read
// through the fds open() hands out; zip against python3's zipfile; hostile,
// damaged and changing archives; the cache of materialised files.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "archive_index.hpp"
#include "shell_fixtures.hpp"
#include "tar_backend.hpp"
#include "unique_fd.hpp"

using userfs::Attr;
using userfs::DirFiller;
using userfs::kRootIno;
using userfs::Opened;
using userfs::server::normalise_member_path;
using userfs::server::TarBackend;
using userfs::server::UniqueFd;
namespace proto = userfs::proto;

namespace {

using userfs::test::output_of;
using userfs::test::read_file;
using userfs::test::sh;
using userfs::test::write_file;
struct TempDir : userfs::test::TempDir {
  TempDir() : userfs::test::TempDir("userfs-tar-test") {}
};

// Everything read() gives from the fd's own offset to its end.
std::string read_all(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    REQUIRE(n >= 0);
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::unique_ptr<TarBackend> open_backend(const std::string& archive, uint64_t budget = TarBackend::kDefaultCacheBudget) {
  std::string error;
  auto b = TarBackend::open(archive, error, budget);
  INFO(error);
  REQUIRE(b != nullptr);
  return b;
}

struct Entry {
  std::string name;
  uint64_t ino;
  uint8_t dtype;
  uint64_t cookie;
};

struct CollectAll final : DirFiller {
  std::vector<Entry> entries;
  size_t room = SIZE_MAX;  // entries taken per readdir call
  bool add(std::string_view name, uint64_t ino, uint8_t dtype, uint64_t cookie) override {
    if (room == 0) return false;
    --room;
    entries.push_back({std::string(name), ino, dtype, cookie});
    return true;
  }
};

// A whole directory, continuing from the last cookie after each short reply.
std::vector<Entry> list_dir(TarBackend& b, uint64_t ino, size_t per_call = SIZE_MAX) {
  CollectAll all;
  uint64_t cookie = 0;
  for (;;) {
    all.room = per_call;
    const size_t before = all.entries.size();
    REQUIRE(b.readdir(ino, cookie, all) == 0);
    if (all.entries.size() == before) return all.entries;
    cookie = all.entries.back().cookie;
    if (per_call == SIZE_MAX) return all.entries;
  }
}

char type_char(uint32_t mode) { return S_ISDIR(mode) ? 'd' : S_ISLNK(mode) ? 'l' : S_ISREG(mode) ? 'f' : '?'; }

// One line per object, in the same words for the backend and for lstat:
// type, permissions, link count, owner, size (not for directories, whose
// size belongs to the filesystem), mtime and symlink target.
std::string describe(uint32_t mode, uint64_t nlink, uint32_t uid, uint32_t gid, uint64_t size, int64_t sec,
                     uint64_t nsec, const std::string& target) {
  std::ostringstream s;
  s << type_char(mode) << ' ' << std::oct << (mode & 07777) << std::dec << " nlink=" << nlink << ' ' << uid << '/'
    << gid << " size=" << (S_ISDIR(mode) ? std::string("-") : std::to_string(size)) << " mtime=" << sec << '.'
    << nsec;
  if (S_ISLNK(mode)) s << " -> " << target;
  return s.str();
}

// The backend's tree by path, walked with readdir, lookup, getattr and
// readlink, with every regular file's data read through an fd from open().
struct Tree {
  std::map<std::string, std::string> meta;
  std::map<std::string, std::string> data;
  std::map<std::string, uint64_t> ino;
};

void walk_backend(TarBackend& b, uint64_t dir, const std::string& prefix, Tree& out) {
  for (const Entry& e : list_dir(b, dir)) {
    const std::string path = prefix + e.name;
    INFO(path);
    CHECK(e.cookie > 2);
    Attr looked{};
    REQUIRE(b.lookup(dir, e.name, looked) == 0);
    Attr a{};
    REQUIRE(b.getattr(e.ino, a) == 0);
    CHECK(looked.ino == e.ino);
    CHECK(a.ino == e.ino);
    CHECK(a.mode == looked.mode);
    CHECK(e.dtype == (S_ISDIR(a.mode) ? DT_DIR : S_ISLNK(a.mode) ? DT_LNK : DT_REG));
    std::string target;
    if (S_ISLNK(a.mode)) {
      REQUIRE(b.readlink(e.ino, target) == 0);
      CHECK(a.size == target.size());
    } else {
      CHECK(b.readlink(e.ino, target) == -EINVAL);
    }
    out.meta[path] = describe(a.mode, a.nlink, a.uid, a.gid, a.size, a.mtime_sec, a.mtime_nsec, target);
    out.ino[path] = e.ino;
    if (S_ISREG(a.mode)) {
      CHECK(a.blocks * 512 >= a.size);
      Opened o;
      REQUIRE(b.open(e.ino, 0, o) == 0);
      REQUIRE(o.fd >= 0);
      UniqueFd fd(o.fd);
      out.data[path] = read_all(fd.get());
    }
    if (S_ISDIR(a.mode)) {
      std::string name;
      REQUIRE(b.name_in_parent(e.ino, name) == 0);
      CHECK(name == e.name);
      Attr up{};
      REQUIRE(b.lookup(e.ino, "..", up) == 0);
      CHECK(up.ino == dir);
      walk_backend(b, e.ino, path + "/", out);
    }
  }
}

// "." is the root.
Tree backend_tree(TarBackend& b) {
  Tree t;
  Attr a{};
  REQUIRE(b.getattr(kRootIno, a) == 0);
  t.meta["."] = describe(a.mode, a.nlink, a.uid, a.gid, a.size, a.mtime_sec, a.mtime_nsec, "");
  walk_backend(b, kRootIno, "", t);
  return t;
}

// The same for a directory on disk, with lstat.
Tree native_tree(const std::string& root) {
  Tree t;
  namespace fs = std::filesystem;
  struct stat rst {};
  REQUIRE(lstat(root.c_str(), &rst) == 0);
  t.meta["."] = describe(rst.st_mode, rst.st_nlink, rst.st_uid, rst.st_gid, 0, rst.st_mtim.tv_sec,
                         static_cast<uint64_t>(rst.st_mtim.tv_nsec), "");
  for (const auto& de : fs::recursive_directory_iterator(root)) {
    const std::string path = de.path().lexically_relative(root).string();
    struct stat st {};
    REQUIRE(lstat(de.path().c_str(), &st) == 0);
    std::string target;
    if (S_ISLNK(st.st_mode)) target = fs::read_symlink(de.path()).string();
    t.meta[path] = describe(st.st_mode, st.st_nlink, st.st_uid, st.st_gid, static_cast<uint64_t>(st.st_size),
                            st.st_mtim.tv_sec, static_cast<uint64_t>(st.st_mtim.tv_nsec), target);
    if (S_ISREG(st.st_mode)) t.data[path] = read_file(de.path());
  }
  return t;
}

// A source tree with every kind of member a read-only mount shows.
void make_tree(const std::string& src) {
  std::mt19937 rng(7);
  std::string big(300 * 1024 + 5, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  sh("mkdir -p '" + src + "/a/b/c' '" + src + "/empty dir' '" + src + "/ünï'");
  write_file(src + "/a/f", "hello\n", 0644);
  write_file(src + "/a/b/secret", "only me\n", 0600);
  write_file(src + "/a/b/c/big.bin", big, 0751);
  write_file(src + "/a/empty", "", 0644);
  write_file(src + "/ünï/名前.txt", "utf-8\n", 0640);
  write_file(src + "/" + std::string(200, 'n'), "long name\n", 0644);
  write_file(src + "/setuid", "#!/bin/sh\n", 04755);
  REQUIRE(chmod((src + "/a/b").c_str(), 0750) == 0);
  REQUIRE(chmod((src + "/empty dir").c_str(), 01777) == 0);
  REQUIRE(symlink("b/c/big.bin", (src + "/a/rel").c_str()) == 0);
  REQUIRE(symlink("/etc/hostname", (src + "/abs").c_str()) == 0);
  REQUIRE(link((src + "/a/f").c_str(), (src + "/hard").c_str()) == 0);
  REQUIRE(link((src + "/a/f").c_str(), (src + "/a/b/hard2").c_str()) == 0);
  sh("touch -h -d @1234567890.123456789 '" + src + "/a/rel' '" + src + "/a/f' '" + src + "/a/b' '" + src + "'");
  REQUIRE(chmod(src.c_str(), 0711) == 0);
}

// A file whose parents the archive never lists: tar xf makes them, the
// backend shows them as directories too.
void append_implied(const std::string& archive, const std::string& work, const std::string& format,
                    const std::string& owner) {
  sh("mkdir -p '" + work + "/implied-src/implied/only' && echo deep > '" + work +
     "/implied-src/implied/only/file' && tar rf '" + archive + "' --format=" + format + owner +
     " --no-recursion -C '" + work + "/implied-src' implied/only/file");
}

// Compares the backend over `archive` with `tar xf` of it: every object's
// description and every file's data; directories the archive does not list
// carry the archive file's mtime instead of the extraction time.
void check_against_extraction(const std::string& archive, const std::string& work) {
  INFO(archive);
  auto b = open_backend(archive);
  CHECK(b->read_only());
  CHECK(b->skipped().empty());
  const Tree got = backend_tree(*b);

  const std::string out = work + "/extracted";
  sh("rm -rf '" + out + "' && mkdir '" + out + "' && (umask 022 && tar xf '" + archive + "' -C '" + out + "')");
  Tree want = native_tree(out);
  std::set<std::string> listed;
  std::istringstream names(output_of("tar tf '" + archive + "' --quoting-style=literal"));
  for (std::string line, path; std::getline(names, line);) {
    if (normalise_member_path(line, path)) listed.insert(path);
    if (line == "./") listed.insert(".");  // tar xf gives its attributes to the directory it extracts into
  }
  CHECK(listed.count(".") == 1);
  struct stat ast {};
  REQUIRE(stat(archive.c_str(), &ast) == 0);
  size_t implied = 0;
  for (auto& [path, line] : want.meta) {
    if (listed.count(path) != 0) continue;
    ++implied;
    const size_t at = line.find(" mtime=");
    line = line.substr(0, at) + " mtime=" + std::to_string(ast.st_mtim.tv_sec) + '.' +
           std::to_string(ast.st_mtim.tv_nsec);
  }
  CHECK(implied == 2);
  for (const auto& [path, line] : want.meta) {
    INFO(path);
    CHECK(got.meta.count(path) == 1);
    if (got.meta.count(path) == 1) CHECK(got.meta.at(path) == line);
  }
  for (const auto& [path, line] : got.meta) {
    INFO(path);
    CHECK(want.meta.count(path) == 1);
  }
  CHECK(got.data.size() == want.data.size());
  for (const auto& [path, data] : want.data) {
    INFO(path);
    REQUIRE(got.data.count(path) == 1);
    CHECK(got.data.at(path) == data);
  }
  CHECK(got.data.size() >= 9);
  // Hard links are one inode.
  CHECK(got.ino.at("hard") == got.ino.at("a/f"));
  CHECK(got.ino.at("a/b/hard2") == got.ino.at("a/f"));
  CHECK(got.ino.at("a/b") != got.ino.at("a/f"));
}

}  // namespace

TEST_CASE("tar backend: tar, tar.gz and tar.xz agree with tar xf") {
  TempDir t;
  const std::string src = t.path + "/src";
  sh("mkdir '" + src + "'");
  make_tree(src);
  const std::string owner = geteuid() == 0 ? " --owner=1234 --group=567 --numeric-owner " : " ";
  for (const std::string format : {"gnu", "posix"}) {
    const std::string tar = t.path + "/" + format + ".tar";
    sh("tar cf '" + tar + "' --format=" + format + owner + "-C '" + src + "' .");
    append_implied(tar, t.path, format, owner);
  }
  check_against_extraction(t.path + "/gnu.tar", t.path);
  check_against_extraction(t.path + "/posix.tar", t.path);  // with nanosecond times
  sh("gzip -k '" + t.path + "/gnu.tar'");
  check_against_extraction(t.path + "/gnu.tar.gz", t.path);
  if (std::system("command -v xz >/dev/null 2>&1") == 0) {
    sh("xz -k '" + t.path + "/posix.tar'");
    check_against_extraction(t.path + "/posix.tar.xz", t.path);
  }
}

TEST_CASE("tar backend: zip agrees with python3's zipfile") {
  TempDir t;
  const std::string src = t.path + "/src";
  sh("mkdir '" + src + "'");
  make_tree(src);
  const std::string zip = t.path + "/x.zip";
  // Files only: every directory is implied by member paths. zipfile keeps
  // mode bits; symlinks and hard links become plain files.
  sh("cd '" + src + "' && python3 -c 'import os, sys, zipfile\n"
     "with zipfile.ZipFile(sys.argv[1], \"w\", zipfile.ZIP_DEFLATED) as z:\n"
     "    for d, dirs, files in os.walk(\".\"):\n"
     "        for n in sorted(files): z.write(os.path.join(d, n))' '" + zip + "'");
  auto b = open_backend(zip);
  const Tree got = backend_tree(*b);
  std::istringstream listing(output_of("python3 -c 'import sys, zipfile\n"
                                       "for i in zipfile.ZipFile(sys.argv[1]).infolist():\n"
                                       "    print(format(i.external_attr >> 16, \"o\"), i.file_size, i.filename)' '" +
                                       zip + "'"));
  std::set<std::string> dirs;
  size_t files = 0;
  for (std::string line; std::getline(listing, line);) {
    INFO(line);
    std::istringstream in(line);
    std::string mode_text, name, path;
    uint64_t size = 0;
    in >> mode_text >> size;
    std::getline(in >> std::ws, name);
    REQUIRE(normalise_member_path(name, path));
    REQUIRE(got.meta.count(path) == 1);
    const uint32_t mode = static_cast<uint32_t>(std::stoul(mode_text, nullptr, 8));
    CHECK(got.meta.at(path).rfind(std::string("f ") + [&] {
      std::ostringstream o;
      o << std::oct << (mode & 07777);
      return o.str();
    }() + " ", 0) == 0);
    CHECK(got.data.at(path) == read_file(src + "/" + path));
    CHECK(got.data.at(path).size() == size);
    ++files;
    for (size_t s = path.find('/'); s != std::string::npos; s = path.find('/', s + 1)) dirs.insert(path.substr(0, s));
  }
  CHECK(files >= 9);
  CHECK(got.data.size() == files);
  // Only the implied directories besides (and the root): 0755, dated as
  // the archive file.
  dirs.insert(".");
  CHECK(got.meta.size() == files + dirs.size());
  struct stat zst {};
  REQUIRE(stat(zip.c_str(), &zst) == 0);
  for (const std::string& d : dirs) {
    INFO(d);
    REQUIRE(got.meta.count(d) == 1);
    CHECK(got.meta.at(d).rfind("d 755 ", 0) == 0);
    CHECK(got.meta.at(d).find(" mtime=" + std::to_string(zst.st_mtim.tv_sec) + "." +
                              std::to_string(zst.st_mtim.tv_nsec)) != std::string::npos);
  }
}

TEST_CASE("tar backend: hostile and odd member names as tar extraction treats them") {
  TempDir t;
  const std::string archive = t.path + "/odd.tar";
  sh("python3 -c 'import io, sys, tarfile\n"
     "def add(t, name, data=b\"\", kind=tarfile.REGTYPE, link=\"\"):\n"
     "    i = tarfile.TarInfo(name); i.type = kind; i.size = len(data); i.linkname = link; i.mtime = 1000000000\n"
     "    t.addfile(i, io.BytesIO(data) if data else None)\n"
     "with tarfile.open(sys.argv[1], \"w\") as t:\n"
     "    add(t, \"../escape\", b\"no\")\n"
     "    add(t, \"a/../../escape2\", b\"no\")\n"
     "    add(t, \"/abs/file\", b\"abs\")\n"
     "    add(t, \"./dot/./file\", b\"dot\")\n"
     "    add(t, \"dup\", b\"first\")\n"
     "    add(t, \"dup\", b\"second\")\n"
     "    add(t, \"fifo\", kind=tarfile.FIFOTYPE)\n"
     "    add(t, \"hl\", kind=tarfile.LNKTYPE, link=\"missing\")\n"
     "    add(t, \"dup/under\", b\"under a file\")\n"
     "    add(t, \"evil-link\", kind=tarfile.SYMTYPE, link=\"../../../../etc/passwd\")\n"
     "' '" + archive + "'");
  auto b = open_backend(archive);
  CHECK(b->skipped().size() == 5);
  const Tree got = backend_tree(*b);
  std::set<std::string> paths;
  for (const auto& [path, line] : got.meta) paths.insert(path);
  CHECK(paths == std::set<std::string>{".", "abs", "abs/file", "dot", "dot/file", "dup", "evil-link"});
  CHECK(got.data.at("abs/file") == "abs");
  CHECK(got.data.at("dot/file") == "dot");
  CHECK(got.data.at("dup") == "second");
  // A symlink's target is data: where it leads is the path layer's business.
  Attr a{};
  REQUIRE(b->lookup(kRootIno, "evil-link", a) == 0);
  std::string target;
  REQUIRE(b->readlink(a.ino, target) == 0);
  CHECK(target == "../../../../etc/passwd");
  CHECK(b->lookup(kRootIno, "escape", a) == -ENOENT);
  CHECK(b->lookup(kRootIno, "fifo", a) == -ENOENT);
}

TEST_CASE("tar backend: missing, unreadable, non-archive and damaged files are refused with a reason") {
  TempDir t;
  std::string error;
  CHECK(TarBackend::open(t.path + "/missing.tar", error) == nullptr);
  CHECK(error == t.path + "/missing.tar: No such file or directory");

  CHECK(TarBackend::open(t.path, error) == nullptr);
  CHECK(error.find("is a directory") != std::string::npos);

  write_file(t.path + "/text", "just some text, no archive here\n", 0644);
  CHECK(TarBackend::open(t.path + "/text", error) == nullptr);
  CHECK(error == t.path + "/text: not an archive (no tar, zip or other format libarchive reads)");

  if (geteuid() != 0) {  // root reads whatever the mode says
    write_file(t.path + "/secret.tar", "x", 0);
    CHECK(TarBackend::open(t.path + "/secret.tar", error) == nullptr);
    CHECK(error == t.path + "/secret.tar: Permission denied");
  }

  // Cut inside the headers of many small members.
  sh("mkdir '" + t.path + "/many' && for i in $(seq 1 40); do echo $i > '" + t.path +
     "/many/'$i; done && tar cf '" + t.path + "/many.tar' -C '" + t.path + "' many && head -c " +
     std::to_string(512 * 21 + 100) + " '" + t.path + "/many.tar' > '" + t.path + "/cut.tar'");
  CHECK(TarBackend::open(t.path + "/cut.tar", error) == nullptr);
  CHECK(error.rfind(t.path + "/cut.tar: damaged archive: ", 0) == 0);

  // Member data damaged where the format checks it (xz's block check, a
  // zip member's CRC): the mount is refused, or reading the member fails
  // with EIO; never wrong data. (libarchive does not check gzip's CRC.)
  std::mt19937 rng(3);
  std::string noise(200 * 1024, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  write_file(t.path + "/noise", noise, 0644);
  const std::string damage =
      "python3 -c 'import sys\nb = bytearray(open(sys.argv[1], \"rb\").read())\n"
      "for i in range(len(b) // 2, len(b) // 2 + 64): b[i] ^= 0x5a\n"
      "open(sys.argv[1], \"wb\").write(b)' ";
  std::vector<std::string> damaged;
  if (std::system("command -v xz >/dev/null 2>&1") == 0) {
    sh("tar cJf '" + t.path + "/noise.txz' -C '" + t.path + "' noise && " + damage + "'" + t.path + "/noise.txz'");
    damaged.push_back(t.path + "/noise.txz");
  }
  sh("cd '" + t.path + "' && python3 -c 'import zipfile\nwith zipfile.ZipFile(\"noise.zip\", \"w\") as z: z.write(\"noise\")' && " +
     damage + "'" + t.path + "/noise.zip'");
  damaged.push_back(t.path + "/noise.zip");
  for (const std::string& archive : damaged) {
    INFO(archive);
    auto b = TarBackend::open(archive, error);
    if (b == nullptr) {  // a compressed tar is read whole to list it
      CHECK(error.rfind(archive + ": damaged archive: ", 0) == 0);
      CHECK(archive.find(".zip") == std::string::npos);
      continue;
    }
    Attr a{};
    REQUIRE(b->lookup(kRootIno, "noise", a) == 0);
    Opened o;
    CHECK(b->open(a.ino, 0, o) == -EIO);
    CHECK(o.fd == -1);
    CHECK(b->cached_bytes() == 0);
  }
}

TEST_CASE("tar backend: the fds open() gives are read-only, sealed and each its own open file description") {
  TempDir t;
  write_file(t.path + "/f", "0123456789", 0666);
  sh("tar cf '" + t.path + "/x.tar' -C '" + t.path + "' f");
  auto b = open_backend(t.path + "/x.tar");
  Attr a{};
  REQUIRE(b->lookup(kRootIno, "f", a) == 0);
  CHECK(a.mode == (S_IFREG | 0666));

  const uint32_t write_only = 1, read_write = 2;
  for (uint32_t flags : {write_only, read_write, proto::kOpenTrunc}) {
    Opened o;
    CHECK(b->open(a.ino, flags, o) == -EROFS);
    CHECK(o.fd == -1);
  }

  Opened o1, o2;
  REQUIRE(b->open(a.ino, 0, o1) == 0);
  REQUIRE(b->open(a.ino, proto::kOpenNonBlock, o2) == 0);
  UniqueFd fd1(o1.fd), fd2(o2.fd);
  CHECK((fcntl(fd1.get(), F_GETFL) & O_ACCMODE) == O_RDONLY);
  CHECK((fcntl(fd2.get(), F_GETFL) & O_NONBLOCK) != 0);
  char buf[4];
  REQUIRE(::read(fd1.get(), buf, 4) == 4);
  CHECK(lseek(fd1.get(), 0, SEEK_CUR) == 4);
  CHECK(lseek(fd2.get(), 0, SEEK_CUR) == 0);
  CHECK(read_all(fd2.get()) == "0123456789");

  // Writes fail, and no reopen of it for writing succeeds either.
  errno = 0;
  CHECK(::write(fd1.get(), "x", 1) == -1);
  CHECK(errno == EBADF);
  CHECK(fcntl(fd1.get(), F_GET_SEALS) == (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL));
  const std::string proc = "/proc/self/fd/" + std::to_string(fd1.get());
  UniqueFd rw(::open(proc.c_str(), O_RDWR));
  if (rw.valid()) {
    CHECK(::write(rw.get(), "x", 1) == -1);
    CHECK(errno == EPERM);
    CHECK(ftruncate(rw.get(), 0) == -1);
    CHECK(ftruncate(rw.get(), 100) == -1);
  }
  CHECK(read_all(UniqueFd(::open(proc.c_str(), O_RDONLY)).get()) == "0123456789");
  char link[128] = {};
  REQUIRE(::readlink(proc.c_str(), link, sizeof link - 1) > 0);
  CHECK(std::string(link).rfind("/memfd:userfs:" + std::to_string(a.ino), 0) == 0);

  Opened path;
  REQUIRE(b->open(a.ino, proto::kOpenPath, path) == 0);
  UniqueFd pfd(path.fd);
  CHECK((fcntl(pfd.get(), F_GETFL) & O_PATH) != 0);
  CHECK(::read(pfd.get(), buf, 1) == -1);

  Attr root{};
  REQUIRE(b->getattr(kRootIno, root) == 0);
  Opened dir;
  CHECK(b->open(kRootIno, 0, dir) == -EISDIR);
}

TEST_CASE("tar backend: readdir cookies, lookups, statfs and xattrs") {
  TempDir t;
  sh("mkdir -p '" + t.path + "/s/d/sub1' '" + t.path + "/s/d/sub2' && for i in $(seq 1 30); do echo $i > '" +
     t.path + "/s/d/f'$i; done && ln -s f1 '" + t.path + "/s/d/link' && tar cf '" + t.path + "/x.tar' -C '" +
     t.path + "/s' .");
  auto b = open_backend(t.path + "/x.tar");
  Attr d{};
  REQUIRE(b->lookup(kRootIno, "d", d) == 0);
  CHECK(d.nlink == 4);
  const auto whole = list_dir(*b, d.ino);
  CHECK(whole.size() == 33);
  for (size_t per_call : {size_t{1}, size_t{4}, size_t{7}}) {
    const auto pieces = list_dir(*b, d.ino, per_call);
    REQUIRE(pieces.size() == whole.size());
    for (size_t i = 0; i < whole.size(); ++i) {
      CHECK(pieces[i].name == whole[i].name);
      CHECK(pieces[i].cookie == whole[i].cookie);
      CHECK(pieces[i].cookie > 2);
    }
  }
  Attr root{};
  REQUIRE(b->getattr(kRootIno, root) == 0);
  CHECK(S_ISDIR(root.mode));
  CHECK(root.nlink == 3);

  Attr f{};
  REQUIRE(b->lookup(d.ino, "f1", f) == 0);
  CHECK(b->lookup(f.ino, "x", f) == -ENOTDIR);
  CollectAll none;
  CHECK(b->readdir(f.ino, 0, none) == -ENOTDIR);
  CHECK(b->lookup(d.ino, "nope", f) == -ENOENT);
  CHECK(b->getattr(userfs::kMaxBackendIno, f) == -ENOENT);
  CHECK(b->getattr(0, f) == -ENOENT);

  proto::StatfsRep st{};
  REQUIRE(b->statfs(st) == 0);
  CHECK(st.bsize == 4096);
  CHECK(st.files == 1 + 2 + 30 + 1);  // d, sub1, sub2, 30 files, link (the root "./" is not a member)
  CHECK(st.bfree == 0);
  CHECK(st.bavail == 0);
  CHECK(st.ffree == 0);
  CHECK(st.blocks >= 1);

  std::string value;
  REQUIRE(b->lookup(d.ino, "f1", f) == 0);
  CHECK(b->getxattr(f.ino, "user.x", value) == -ENODATA);
  std::string names = "junk";
  CHECK(b->listxattr(f.ino, names) == 0);
  CHECK(names.empty());
}

TEST_CASE("tar backend: materialised files stay within the cache budget; handed-out fds outlive eviction") {
  TempDir t;
  std::mt19937 rng(11);
  for (int i = 0; i < 4; ++i) {
    std::string data(100 * 1024, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    write_file(t.path + "/f" + std::to_string(i), data, 0644);
  }
  sh("tar czf '" + t.path + "/x.tgz' -C '" + t.path + "' f0 f1 f2 f3");
  auto b = open_backend(t.path + "/x.tgz", 250 * 1024);
  std::vector<UniqueFd> fds;
  std::vector<uint64_t> inos;
  for (int i = 0; i < 4; ++i) {
    Attr a{};
    REQUIRE(b->lookup(kRootIno, "f" + std::to_string(i), a) == 0);
    Opened o;
    REQUIRE(b->open(a.ino, 0, o) == 0);
    fds.emplace_back(o.fd);
    inos.push_back(a.ino);
    CHECK(b->cached_bytes() <= 250 * 1024);
  }
  CHECK(b->cached_bytes() == 200 * 1024);
  for (int i = 0; i < 4; ++i) {
    INFO(i);
    CHECK(read_all(fds[i].get()) == read_file(t.path + "/f" + std::to_string(i)));
    Opened again;
    REQUIRE(b->open(inos[i], 0, again) == 0);  // f0 and f1 come back from the archive
    CHECK(read_all(UniqueFd(again.fd).get()) == read_file(t.path + "/f" + std::to_string(i)));
  }
}

TEST_CASE("tar backend: the archive changing on disk after the mount") {
  TempDir t;
  write_file(t.path + "/a", "original a\n", 0644);
  write_file(t.path + "/b", "original b\n", 0644);
  const std::string tar = t.path + "/x.tar";
  sh("tar cf '" + tar + "' -C '" + t.path + "' a b");
  auto b = open_backend(tar);
  Attr a{}, bb{};
  REQUIRE(b->lookup(kRootIno, "a", a) == 0);
  REQUIRE(b->lookup(kRootIno, "b", bb) == 0);

  // Renamed over: the mount keeps serving the archive it indexed.
  write_file(t.path + "/a", "replaced a, longer than before\n", 0644);
  sh("tar cf '" + tar + ".new' -C '" + t.path + "' a b && mv '" + tar + ".new' '" + tar + "'");
  Opened o;
  REQUIRE(b->open(a.ino, 0, o) == 0);
  CHECK(read_all(UniqueFd(o.fd).get()) == "original a\n");

  // Rewritten in place (same file, new size and mtime): what is
  // materialised stays; the rest is refused.
  write_file(t.path + "/a", "original a\n", 0644);
  const std::string tar2 = t.path + "/y.tar";
  sh("tar cf '" + tar2 + "' -C '" + t.path + "' a b");
  auto c = open_backend(tar2);
  REQUIRE(c->open(a.ino, 0, o) == 0);
  UniqueFd kept(o.fd);
  write_file(t.path + "/b", "rewritten b\n", 0644);
  sh("tar cf '" + tar2 + "' -C '" + t.path + "' a b extra 2>/dev/null || true");
  Opened o2;
  CHECK(c->open(bb.ino, 0, o2) == -EIO);
  REQUIRE(c->open(a.ino, 0, o2) == 0);
  CHECK(read_all(UniqueFd(o2.fd).get()) == "original a\n");
  CHECK(read_all(kept.get()) == "original a\n");
}

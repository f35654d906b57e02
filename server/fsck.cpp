#include "fsck.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "mem_backend.hpp"
#include "state_dir.hpp"

namespace userfs::server {
namespace {

// Opens data files read-only and changes nothing.
class ReadOnlyStore final : public Store {
 public:
  explicit ReadOnlyStore(int data_dir_fd) : data_dir_fd_(data_dir_fd) {}
  int reserve(Change) override { return -EROFS; }
  int commit(std::string_view) override { return -EROFS; }
  int create_data(uint64_t, UniqueFd&) override { return -EROFS; }
  int open_data(uint64_t ino, UniqueFd& out) override {
    if (data_dir_fd_ < 0) return -ENOENT;
    const int fd = ::openat(data_dir_fd_, data_file_name(ino).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -errno;
    out.reset(fd);
    struct stat st {};
    if (fstat(fd, &st) < 0) return -errno;
    return S_ISREG(st.st_mode) ? 0 : -EINVAL;
  }
  void remove_data(uint64_t) override {}
  int sync(uint64_t, int) override { return -EROFS; }
  void status(StoreStatus&) const override {}

 private:
  int data_dir_fd_;
};

}  // namespace

int fsck_state(const std::string& dir) {
  std::printf("state directory: %s\n", dir.c_str());
  struct stat st {};
  if (lstat(dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) {
    std::printf("error: not a directory%s%s\n", errno != 0 ? ": " : "", errno != 0 ? std::strerror(errno) : "");
    return 2;
  }
  if (st.st_uid != getuid()) {
    std::printf("error: owned by uid %u, not by us\n", static_cast<unsigned>(st.st_uid));
    return 2;
  }
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (!dfd.valid()) {
    std::printf("error: %s\n", std::strerror(errno));
    return 2;
  }
  // A running server appends as we read: its journal's tail is in flux.
  UniqueFd lock(::openat(dfd.get(), "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (lock.valid() && flock(lock.get(), LOCK_SH | LOCK_NB) < 0) {
    std::printf("error: in use by a running server; stop it first\n");
    return 2;
  }
  struct stat any {};
  if (fstatat(dfd.get(), "snapshot", &any, AT_SYMLINK_NOFOLLOW) < 0 &&
      fstatat(dfd.get(), "journal", &any, AT_SYMLINK_NOFOLLOW) < 0) {
    std::printf("namespace: none yet (a server starts an empty one here)\nresult: clean\n");
    return 0;
  }
  uint64_t instance = 0;
  if (int rc = read_instance(dfd.get(), instance); rc < 0) {
    std::printf("problem: instance file: %s\n", rc == -EBADMSG ? "malformed" : std::strerror(-rc));
    std::printf("result: problems found\n");
    return 1;
  }
  std::printf("instance: %016llx\n", static_cast<unsigned long long>(instance));
  UniqueFd data(::openat(dfd.get(), "data", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  ReadOnlyStore store(data.get());
  MemBackend ns(getuid(), getgid());
  ns.set_store(&store);
  LoadReport report;
  std::string why;
  const bool ok = load_state(dfd.get(), instance, ns, report, why);
  int problems = 0;
  if (report.snapshot) {
    char when[64] = "?";
    const time_t t = static_cast<time_t>(report.snapshot_sec);
    tm tm{};
    if (gmtime_r(&t, &tm) != nullptr) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::printf("snapshot: through record %llu, written %s\n", static_cast<unsigned long long>(report.snapshot_seq),
                when);
  }
  if (report.journal)
    std::printf("journal: %llu records after the snapshot; %llu valid records, the last at offset %llu, ending at "
                "offset %llu\n",
                static_cast<unsigned long long>(report.replayed), static_cast<unsigned long long>(report.records),
                static_cast<unsigned long long>(report.last_offset),
                static_cast<unsigned long long>(report.valid_bytes));
  if (!report.torn.empty()) {
    std::printf("problem: torn last journal record, never acknowledged (the server drops it at start): %s\n",
                report.torn.c_str());
    ++problems;
  }
  if (!ok) {
    std::printf("problem: %s (the server refuses to start on this state)\n", why.c_str());
    ++problems;
  } else {
    const Counts c = ns.counts();
    std::printf("namespace: %llu inodes (%llu directories, %llu files, %llu symlinks), %llu bytes of data\n",
                static_cast<unsigned long long>(c.inodes), static_cast<unsigned long long>(c.directories),
                static_cast<unsigned long long>(c.files), static_cast<unsigned long long>(c.symlinks),
                static_cast<unsigned long long>(c.bytes));
    for (uint64_t ino : report.missing_data) {
      std::printf("problem: inode %llu is a regular file without a data file (its data was lost; the server "
                  "recreates it empty)\n",
                  static_cast<unsigned long long>(ino));
      ++problems;
    }
    if (!report.orphans.empty())
      std::printf("note: %zu data files without an inode (an interrupted creation or removal; the server removes "
                  "them at start)\n",
                  report.orphans.size());
  }
  std::printf("result: %s\n", problems == 0 ? "clean" : "problems found");
  return problems == 0 ? 0 : 1;
}

}  // namespace userfs::server

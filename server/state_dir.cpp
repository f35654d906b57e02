#include "state_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "changes.hpp"
#include "snapshot.hpp"

namespace userfs::server {
namespace {

constexpr const char* kInstance = "instance";
constexpr const char* kLock = "lock";
constexpr const char* kSnapshot = "snapshot";
constexpr const char* kJournal = "journal";
constexpr const char* kData = "data";

// Reopens an fd through /proc, as the in-memory data path does.
int reopen(int fd, int flags) {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  const int r = ::open(path, flags | O_CLOEXEC);
  return r >= 0 ? r : -errno;
}

bool exists_at(int dir_fd, const char* name) {
  struct stat st {};
  return fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

// Writes `text` to `name` in `dir_fd` atomically.
int write_small_file(int dir_fd, const std::string& name, const std::string& text) {
  const std::string tmp = name + ".tmp";
  ::unlinkat(dir_fd, tmp.c_str(), 0);
  UniqueFd fd(::openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return -errno;
  int rc = 0;
  const ssize_t n = ::write(fd.get(), text.data(), text.size());
  if (n < 0) rc = -errno;
  else if (static_cast<size_t>(n) != text.size()) rc = -EIO;
  if (rc == 0 && ::fsync(fd.get()) < 0) rc = -errno;
  if (rc == 0 && ::renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) < 0) rc = -errno;
  if (rc == 0 && ::fsync(dir_fd) < 0) rc = -errno;
  if (rc < 0) ::unlinkat(dir_fd, tmp.c_str(), 0);
  return rc;
}

bool apply_all(MemBackend& ns, std::string_view body, const std::string& where, std::string& why) {
  std::vector<Item> items;
  std::string what;
  if (!decode_items(body, items, what)) {
    why = where + ": " + what;
    return false;
  }
  for (const Item& it : items) {
    if (!ns.apply(it, what)) {
      why = where + ": " + what;
      return false;
    }
  }
  return true;
}

}  // namespace

std::string data_file_name(uint64_t ino) { return kDataFilePrefix + std::to_string(ino); }

uint64_t dev_of_instance(uint64_t instance) {
  // A major no real device uses (as in-memory servers), a minor from the id.
  uint64_t x = instance ^ (instance >> 20) ^ (instance >> 40);
  return makedev(0xfff, static_cast<unsigned>(x & 0xfffff));
}

int read_instance(int dir_fd, uint64_t& out) {
  UniqueFd fd(::openat(dir_fd, kInstance, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return -errno;
  char buf[64] = {};
  const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n < 0) return -errno;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(buf, &end, 16);
  if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') || v == 0) return -EBADMSG;
  out = v;
  return 0;
}

bool load_state(int dir_fd, uint64_t instance, MemBackend& ns, LoadReport& report, std::string& why) {
  Snapshot snap;
  std::string what;
  int rc = read_snapshot(dir_fd, kSnapshot, snap, what);
  if (rc == -EBADMSG) {
    why = "snapshot: " + what;
    return false;
  }
  if (rc < 0 && rc != -ENOENT) {
    why = std::string("snapshot: ") + std::strerror(-rc);
    return false;
  }
  UniqueFd jfd(::openat(dir_fd, kJournal, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!jfd.valid() && errno != ENOENT) {
    why = std::string("journal: ") + std::strerror(errno);
    return false;
  }
  if (rc == -ENOENT) {
    why = jfd.valid() ? "a journal but no snapshot" : "no snapshot";
    return false;
  }
  report.snapshot = true;
  report.snapshot_seq = report.last_seq = snap.last_seq;
  report.snapshot_sec = snap.written_sec;
  if (snap.instance != instance) {
    why = "the snapshot belongs to another instance";
    return false;
  }
  ns.begin_restore();
  if (!apply_all(ns, snap.body, "snapshot", why)) return false;

  if (jfd.valid()) {
    report.journal = true;
    JournalScan scan;
    if (!scan_journal(jfd.get(), scan)) {
      why = "journal: " + scan.problem;
      return false;
    }
    report.end = scan.end;
    if (scan.end == JournalScan::End::corrupt) {
      why = "journal: " + scan.problem;
      return false;
    }
    if (scan.end == JournalScan::End::torn) report.torn = scan.problem;
    report.records = scan.records.size();
    report.journal_first_seq = scan.first_seq;
    report.last_offset = scan.records.empty() ? 0 : scan.records.back().offset;
    report.valid_bytes = scan.valid_bytes;
    if (scan.instance != instance) {
      why = "the journal belongs to another instance";
      return false;
    }
    if (scan.first_seq > snap.last_seq + 1) {
      why = "journal starts at record " + std::to_string(scan.first_seq) + " but the snapshot ends at " +
            std::to_string(snap.last_seq);
      return false;
    }
    for (const auto& r : scan.records) {
      if (r.seq <= snap.last_seq) continue;  // already in the snapshot
      if (!apply_all(ns, r.body, "journal record " + std::to_string(r.seq) + " at offset " + std::to_string(r.offset),
                     why))
        return false;
      ++report.replayed;
      report.last_seq = r.seq;
    }
  }
  if (!ns.finish_restore(what)) {
    why = "inconsistent namespace after " + std::to_string(report.replayed) + " journal records: " + what;
    return false;
  }

  report.missing_data = ns.files_without_data();

  // Data files no inode names: left by a removal that was recorded but not
  // yet carried out, or a creation that was never recorded.
  std::set<uint64_t> files;
  for (const Inode* n : ns.inodes())
    if (n->type == FileType::regular) files.insert(n->ino);
  UniqueFd dfd(::openat(dir_fd, kData, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (dfd.valid()) {
    DIR* d = fdopendir(::dup(dfd.get()));
    if (d != nullptr) {
      while (dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        const std::string_view prefix = kDataFilePrefix;
        const std::string digits = name.substr(0, prefix.size()) == prefix ? name.substr(prefix.size()) : "";
        char* end = nullptr;
        const unsigned long long ino = std::strtoull(digits.c_str(), &end, 10);
        if (digits.empty() || *end != '\0' || digits[0] == '0' || files.count(ino) == 0) report.orphans.push_back(name);
      }
      closedir(d);
    }
  }
  return true;
}

bool StateDir::open(const std::string& dir, std::string& why) {
  path_ = dir;
  struct stat st {};
  if (lstat(dir.c_str(), &st) < 0) {
    if (errno != ENOENT || (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) || lstat(dir.c_str(), &st) < 0) {
      why = dir + ": " + std::strerror(errno);
      return false;
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    why = dir + " is not a directory";
    return false;
  }
  if (st.st_uid != getuid()) {
    why = dir + " is owned by uid " + std::to_string(st.st_uid) + ", not by us (uid " + std::to_string(getuid()) + ")";
    return false;
  }
  dir_fd_.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (!dir_fd_.valid()) {
    why = dir + ": " + std::strerror(errno);
    return false;
  }
  lock_fd_.reset(::openat(dir_fd_.get(), kLock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock_fd_.valid()) {
    why = dir + "/" + kLock + ": " + std::strerror(errno);
    return false;
  }
  if (flock(lock_fd_.get(), LOCK_EX | LOCK_NB) < 0) {
    char buf[32] = {};
    const ssize_t n = pread(lock_fd_.get(), buf, sizeof buf - 1, 0);
    why = dir + " is in use by another server" + (n > 0 ? std::string(" (pid ") + std::to_string(std::atol(buf)) + ")" : "");
    return false;
  }
  char pid[32];
  const int len = std::snprintf(pid, sizeof pid, "%d\n", getpid());
  if (ftruncate(lock_fd_.get(), 0) < 0 || pwrite(lock_fd_.get(), pid, static_cast<size_t>(len), 0) != len) {
    // The pid is only for the message above; the lock is what counts.
  }

  int rc = read_instance(dir_fd_.get(), instance_);
  if (rc == -ENOENT) {
    if (exists_at(dir_fd_.get(), kSnapshot) || exists_at(dir_fd_.get(), kJournal)) {
      why = dir + " holds a namespace but no instance file";
      return false;
    }
    while (getrandom(&instance_, sizeof instance_, 0) != sizeof instance_ || instance_ == 0) {
    }
    char text[32];
    std::snprintf(text, sizeof text, "%016" PRIx64 "\n", instance_);
    rc = write_small_file(dir_fd_.get(), kInstance, text);
  }
  if (rc < 0) {
    why = dir + "/" + kInstance + (rc == -EBADMSG ? std::string(": malformed") : ": " + std::string(std::strerror(-rc)));
    return false;
  }
  if (::mkdirat(dir_fd_.get(), kData, 0700) < 0 && errno != EEXIST) {
    why = dir + "/" + kData + ": " + std::strerror(errno);
    return false;
  }
  data_dir_fd_.reset(::openat(dir_fd_.get(), kData, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (!data_dir_fd_.valid() || fchmod(data_dir_fd_.get(), 0700) < 0) {
    why = dir + "/" + kData + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

bool StateDir::recover(MemBackend& ns, std::string& why) {
  ns_ = &ns;
  ns.set_store(this);
  if (exists_at(dir_fd_.get(), kSnapshot) || exists_at(dir_fd_.get(), kJournal)) {
    LoadReport report;
    if (!load_state(dir_fd_.get(), instance_, ns, report, why)) return false;
    if (!report.torn.empty())
      std::fprintf(stderr, "userfsd: %s: dropped the journal's torn last record (never acknowledged): %s\n",
                   path_.c_str(), report.torn.c_str());
    for (uint64_t ino : report.missing_data) {
      // Lost with a crash before it was synced, or removed by hand: the
      // file stays, empty, and says so.
      std::fprintf(stderr, "userfsd: %s: inode %llu has no data file; it is now empty\n", path_.c_str(),
                   static_cast<unsigned long long>(ino));
      if (int rc = ns.recreate_data(ino); rc < 0) {
        why = "cannot recreate the data file of inode " + std::to_string(ino) + ": " + std::strerror(-rc);
        return false;
      }
    }
    for (const std::string& name : report.orphans) ::unlinkat(data_dir_fd_.get(), name.c_str(), 0);
    if (!report.orphans.empty()) data_dir_dirty_ = true;
    last_seq_ = report.last_seq;
    // Start from a snapshot of what was recovered and an empty journal.
    if (int rc = compact(); rc < 0) {
      // No room for a snapshot (a full disk): go on appending to the
      // journal as it is, its torn tail (if any) wiped.
      if (!report.journal) {
        why = std::string("cannot write the snapshot: ") + std::strerror(-rc);
        return false;
      }
      std::fprintf(stderr, "userfsd: %s: cannot write a snapshot (%s); going on with the journal\n", path_.c_str(),
                   std::strerror(-rc));
      rc = journal_.reopen(dir_fd_.get(), kJournal, report.journal_first_seq,
                           report.journal_first_seq + report.records, report.valid_bytes);
      if (rc < 0) {
        why = std::string("cannot reopen the journal: ") + std::strerror(-rc);
        return false;
      }
    }
    return true;
  }
  // A new namespace (its root made by the constructor): clear the data
  // directory of anything a failed first start left, and begin with a
  // snapshot and an empty journal.
  DIR* d = fdopendir(::dup(data_dir_fd_.get()));
  if (d != nullptr) {
    while (dirent* e = readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
        ::unlinkat(data_dir_fd_.get(), e->d_name, 0);
    closedir(d);
  }
  if (int rc = compact(); rc < 0) {
    why = std::string("cannot write the snapshot: ") + std::strerror(-rc);
    return false;
  }
  return true;
}

int StateDir::compact() {
  if (ns_ == nullptr) return -EINVAL;
  // The snapshot names data files: they and their names must be on disk
  // before it is.
  if (::syncfs(dir_fd_.get()) < 0) return -errno;
  data_dir_dirty_ = false;
  const uint64_t last = journal_.bytes() == 0 ? last_seq_ : journal_.next_seq() - 1;  // 0 bytes: none yet
  Snapshot snap;
  snap.instance = instance_;
  snap.last_seq = last;
  snap.written_sec = time(nullptr);
  ns_->image(snap.body);
  if (int rc = write_snapshot(dir_fd_.get(), kSnapshot, snap); rc < 0) return rc;
  last_seq_ = last;
  snapshot_sec_ = snap.written_sec;
  // Until the new journal is in place the old one goes on: recovery skips
  // its records up to `last`.
  if (int rc = journal_.create(dir_fd_.get(), kJournal, instance_, last + 1); rc < 0) return rc;
  next_compaction_ = 0;
  return 0;
}

int StateDir::reserve(Change kind) {
  if (journal_.failed()) return -EIO;
  return journal_.reserve(kind == Change::removal ? JournalWriter::kMaxRemovalRecord : JournalWriter::kMaxRecord);
}

int StateDir::commit(std::string_view items) {
  if (int rc = journal_.append(items); rc < 0) {
    std::fprintf(stderr, "userfsd: %s: journal write failed; refusing every further change\n", path_.c_str());
    return rc;
  }
  const uint64_t threshold = next_compaction_ != 0 ? next_compaction_ : journal_max_;
  if (journal_.bytes() > threshold) {
    if (int rc = compact(); rc < 0) {
      std::fprintf(stderr, "userfsd: %s: compaction failed (%s); the journal goes on\n", path_.c_str(),
                   std::strerror(-rc));
      next_compaction_ = journal_.bytes() + journal_max_ / 2;
    }
  }
  return 0;
}

int StateDir::create_data(uint64_t ino, UniqueFd& out) {
  const std::string name = data_file_name(ino);
  // A file of that number left by an unrecorded creation is stale. (Not
  // O_TRUNC: on ext4 a truncate to 0 makes the next close flush the data.)
  constexpr int kFlags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
  UniqueFd rw(::openat(data_dir_fd_.get(), name.c_str(), kFlags, 0700));
  if (!rw.valid() && errno == EEXIST && ::unlinkat(data_dir_fd_.get(), name.c_str(), 0) == 0)
    rw.reset(::openat(data_dir_fd_.get(), name.c_str(), kFlags, 0700));
  if (!rw.valid()) return -errno;
  data_dir_dirty_ = true;
  // As a memfd: every bit set (clients of other uids exec and reopen files
  // through the fds we pass them; the namespace's mode is what permission
  // checks use), and no path to it but through the private data directory.
  if (fchmod(rw.get(), 0777) < 0) return -errno;
  const int ro = reopen(rw.get(), O_RDONLY);
  if (ro < 0) return ro;
  out.reset(ro);
  return 0;
}

int StateDir::open_data(uint64_t ino, UniqueFd& out) {
  const std::string name = data_file_name(ino);
  UniqueFd fd(::openat(data_dir_fd_.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return -errno;
  struct stat st {};
  if (fstat(fd.get(), &st) < 0) return -errno;
  if (!S_ISREG(st.st_mode)) return -EINVAL;
  out = std::move(fd);
  return 0;
}

void StateDir::remove_data(uint64_t ino) {
  ::unlinkat(data_dir_fd_.get(), data_file_name(ino).c_str(), 0);
  data_dir_dirty_ = true;
}

int StateDir::sync(uint64_t ino, int data_fd) {
  if (journal_.failed()) return -EIO;
  if (int rc = journal_.sync(); rc < 0) return rc;
  if (ino == 0) {
    if (::syncfs(dir_fd_.get()) < 0) return -errno;
    data_dir_dirty_ = false;
    return 0;
  }
  // The journal may now name files created since the data directory was
  // last synced: their names must be as durable as the records.
  if (data_dir_dirty_) {
    if (::fsync(data_dir_fd_.get()) < 0) return -errno;
    data_dir_dirty_ = false;
  }
  if (data_fd >= 0 && ::fsync(data_fd) < 0) return -errno;
  return 0;
}

int StateDir::capacity(uint64_t& total_bytes, uint64_t& free_bytes, uint64_t& avail_bytes) const {
  struct statfs fs {};
  if (::fstatfs(data_dir_fd_.get(), &fs) < 0) return -errno;
  const uint64_t unit = fs.f_frsize != 0 ? static_cast<uint64_t>(fs.f_frsize) : static_cast<uint64_t>(fs.f_bsize);
  total_bytes = static_cast<uint64_t>(fs.f_blocks) * unit;
  free_bytes = static_cast<uint64_t>(fs.f_bfree) * unit;
  avail_bytes = static_cast<uint64_t>(fs.f_bavail) * unit;
  return 0;
}

void StateDir::status(StoreStatus& out) const {
  out.dir = path_;
  out.journal_bytes = journal_.bytes();
  out.journal_records = journal_.records();
  out.snapshot_sec = snapshot_sec_;
  out.failed = journal_.failed();
}

}  // namespace userfs::server

#include "dir_backend.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace userfs::server {

namespace {

// Numbers from here up are handed out by a counter (objects not on the
// root's filesystem, or with host numbers too large to shift).
constexpr uint64_t kCountedBase = uint64_t{1} << 55;

// Stays below PATH_MAX; longer chains are walked in several steps.
constexpr size_t kWalkChunk = 3072;

// Depth of the records we chase before deciding they loop (they cannot,
// but a bug must not hang the server).
constexpr size_t kMaxDepth = 1u << 16;

constexpr uint64_t kBeneath = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

int openat2_beneath(int dir_fd, const char* path) {
  open_how how{};
  how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = kBeneath;
  for (int attempt = 0;; ++attempt) {
    long r = ::syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
    if (r >= 0) return static_cast<int>(r);
    // EAGAIN: a rename raced the walk; the kernel asks us to retry.
    if (errno != EAGAIN || attempt == 3) return -errno;
  }
}

// The magic link naming one of our fds: it leads to exactly that object and
// is never walked further (reopening or path-based calls through it).
struct ProcPath {
  char text[32];
  explicit ProcPath(int fd) { std::snprintf(text, sizeof text, "/proc/self/fd/%d", fd); }
  const char* c_str() const { return text; }
};

int stat_fd(int fd, struct statx& st) {
  if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &st) < 0)
    return -errno;
  return 0;
}

uint64_t dev_of(const struct statx& st) { return makedev(st.stx_dev_major, st.stx_dev_minor); }

// A name the host may see: one component, not "." or "..".
bool acceptable_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

int kernel_flags(uint32_t flags) {
  int k = static_cast<int>(flags & proto::kOpenAccMode);
  if ((flags & proto::kOpenAppend) != 0) k |= O_APPEND;
  if ((flags & proto::kOpenNonBlock) != 0) k |= O_NONBLOCK;
  if ((flags & proto::kOpenSync) != 0) k |= O_SYNC;
  if ((flags & proto::kOpenDsync) != 0) k |= O_DSYNC;
  return k | O_CLOEXEC | O_NOCTTY;
}

// A walk that met something other than the directories we recorded: the
// object is not where we left it, so for us it is gone.
int gone_if_moved(int rc) {
  return rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP || rc == -EXDEV ? -ENOENT : rc;
}

}  // namespace

std::unique_ptr<DirBackend> DirBackend::open(const std::string& root, std::string& error) {
  auto fail = [&](const char* what, int err) {
    error = "dir:" + root + ": " + what + ": " + std::strerror(err);
    return nullptr;
  };
  if (root.empty()) {
    error = "dir: needs a directory (dir:PATH)";
    return nullptr;
  }
  UniqueFd fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return fail("cannot open the directory", errno);
  UniqueFd listing(::openat(fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!listing.valid()) return fail("cannot read the directory", errno);
  if (::faccessat(fd.get(), ".", X_OK, AT_EACCESS) < 0) return fail("cannot search the directory", errno);
  int probe = openat2_beneath(fd.get(), ".");
  if (probe < 0) return fail("openat2 (Linux 5.6 or later) is needed", -probe);
  ::close(probe);

  // One fd per open file kept for unlinked-but-open files, plus the
  // transient ones of each call: use what the hard limit allows.
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  return std::unique_ptr<DirBackend>(new DirBackend(std::move(fd)));
}

DirBackend::DirBackend(UniqueFd root) : root_(std::move(root)), next_other_number_(kCountedBase) {
  struct statx st {};
  stat_fd(root_.get(), st);
  root_id_ = {dev_of(st), st.stx_ino, (st.stx_mask & STATX_BTIME) ? st.stx_btime.tv_sec : 0,
              (st.stx_mask & STATX_BTIME) ? st.stx_btime.tv_nsec : 0};
}

uint64_t DirBackend::number_for(uint64_t dev, uint64_t host_ino) {
  if (dev == root_id_.dev) {
    if (host_ino == root_id_.ino) return kRootIno;
    if (host_ino + 1 < kCountedBase) return host_ino + 1;
  }
  auto [it, inserted] = other_numbers_.try_emplace({dev, host_ino}, next_other_number_);
  if (inserted) ++next_other_number_;
  return it->second;
}

void DirBackend::remember(uint64_t ino, uint64_t parent, std::string_view name, const struct statx& st) {
  if (ino == kRootIno) return;  // PATH seen again below itself (a bind mount): never a child
  Node& n = nodes_[ino];
  n.parent = parent;
  n.name.assign(name);
  n.id = {dev_of(st), st.stx_ino, (st.stx_mask & STATX_BTIME) ? st.stx_btime.tv_sec : 0,
          (st.stx_mask & STATX_BTIME) ? st.stx_btime.tv_nsec : 0};
  n.type = st.stx_mode & S_IFMT;
}

void DirBackend::forget(uint64_t ino) {
  nodes_.erase(ino);
  cookies_.erase(ino);
}

int DirBackend::walk_from_root(uint64_t ino, UniqueFd& out) {
  std::vector<const std::string*> names;
  for (uint64_t cur = ino; cur != kRootIno;) {
    auto it = nodes_.find(cur);
    if (it == nodes_.end() || names.size() > kMaxDepth) return -ENOENT;
    names.push_back(&it->second.name);
    cur = it->second.parent;
  }
  UniqueFd at;
  int base = root_.get();
  std::string path;
  auto step = [&]() -> int {
    int fd = openat2_beneath(base, path.empty() ? "." : path.c_str());
    if (fd < 0) return gone_if_moved(fd);
    at.reset(fd);
    base = at.get();
    path.clear();
    return 0;
  };
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (!path.empty() && path.size() + 1 + (*it)->size() > kWalkChunk) {
      if (int rc = step(); rc != 0) return rc;
    }
    if (!path.empty()) path += '/';
    path += **it;
  }
  if (!path.empty() || !at.valid()) {
    if (int rc = step(); rc != 0) return rc;
  }
  out = std::move(at);
  return 0;
}

int DirBackend::find(uint64_t ino, Found& out) {
  UniqueFd fd;
  int rc = walk_from_root(ino, fd);
  if (rc == 0) {
    if (int s = stat_fd(fd.get(), out.st); s != 0) return s;
    HostId id{dev_of(out.st), out.st.stx_ino, (out.st.stx_mask & STATX_BTIME) ? out.st.stx_btime.tv_sec : 0,
              (out.st.stx_mask & STATX_BTIME) ? out.st.stx_btime.tv_nsec : 0};
    const HostId& want = ino == kRootIno ? root_id_ : nodes_.at(ino).id;
    if (id == want) {
      out.fd = std::move(fd);
      return 0;
    }
    rc = -ENOENT;  // another object has taken the name
  }
  if (rc != -ENOENT) return rc;
  // A file opened through the mount and unlinked since: still there for
  // its holders, and nowhere in any tree.
  auto cached = open_cache_index_.find(ino);
  if (cached == open_cache_index_.end()) return rc;
  int held = cached->second->second.get();
  if (stat_fd(held, out.st) != 0 || out.st.stx_nlink != 0) return rc;
  int dup = ::fcntl(held, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return -errno;
  out.fd.reset(dup);
  return 0;
}

int DirBackend::find_dir(uint64_t ino, Found& out) {
  if (int rc = find(ino, out); rc != 0) return rc;
  return S_ISDIR(out.st.stx_mode) ? 0 : -ENOTDIR;
}

int DirBackend::child(int dir_fd, uint64_t parent, std::string_view name, Found& out) {
  if (!acceptable_name(name)) return -EINVAL;
  std::string n(name);
  int fd = ::openat(dir_fd, n.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  out.fd.reset(fd);
  if (int rc = stat_fd(fd, out.st); rc != 0) return rc;
  remember(number_for(dev_of(out.st), out.st.stx_ino), parent, name, out.st);
  return 0;
}

void DirBackend::attr_of(uint64_t ino, const struct statx& st, Attr& out) const {
  out = Attr{};
  out.ino = ino;
  out.size = st.stx_size;
  out.blocks = st.stx_blocks;
  out.rdev = makedev(st.stx_rdev_major, st.stx_rdev_minor);
  out.atime_sec = st.stx_atime.tv_sec;
  out.atime_nsec = st.stx_atime.tv_nsec;
  out.mtime_sec = st.stx_mtime.tv_sec;
  out.mtime_nsec = st.stx_mtime.tv_nsec;
  out.ctime_sec = st.stx_ctime.tv_sec;
  out.ctime_nsec = st.stx_ctime.tv_nsec;
  if ((st.stx_mask & STATX_BTIME) != 0) {
    out.btime_sec = st.stx_btime.tv_sec;
    out.btime_nsec = st.stx_btime.tv_nsec;
  }
  out.mode = st.stx_mode;
  out.nlink = st.stx_nlink;
  out.uid = st.stx_uid;
  out.gid = st.stx_gid;
  out.blksize = st.stx_blksize;
}

void DirBackend::keep_open(uint64_t ino, int fd) {
  UniqueFd owned(fd);
  if (!owned.valid()) return;
  if (auto it = open_cache_index_.find(ino); it != open_cache_index_.end()) {
    open_cache_.erase(it->second);
    open_cache_index_.erase(it);
  }
  open_cache_.emplace_front(ino, std::move(owned));
  open_cache_index_[ino] = open_cache_.begin();
  if (open_cache_.size() > kMaxOpenCache) {
    open_cache_index_.erase(open_cache_.back().first);
    open_cache_.pop_back();
  }
}

// --- names -------------------------------------------------------------------

int DirBackend::lookup(uint64_t parent, std::string_view name, Attr& out) {
  Found dir;
  if (int rc = find_dir(parent, dir); rc != 0) return rc;
  if (name == "..") {
    // From our records: the walk that found `parent` went through its
    // parent, and never above the root.
    uint64_t up = parent == kRootIno ? kRootIno : nodes_.at(parent).parent;
    Found f;
    if (int rc = find(up, f); rc != 0) return rc;
    attr_of(up, f.st, out);
    return 0;
  }
  Found f;
  if (int rc = child(dir.fd.get(), parent, name, f); rc != 0) return rc;
  attr_of(number_for(dev_of(f.st), f.st.stx_ino), f.st, out);
  return 0;
}

int DirBackend::getattr(uint64_t ino, Attr& out) {
  Found f;
  if (int rc = find(ino, f); rc != 0) return rc;
  attr_of(ino, f.st, out);
  return 0;
}

int DirBackend::setattr(uint64_t ino, const SetattrIn& in, Attr& out) {
  Found f;
  if (int rc = find(ino, f); rc != 0) return rc;
  ProcPath proc(f.fd.get());
  if ((in.valid & proto::kSetSize) != 0) {
    if (S_ISDIR(f.st.stx_mode)) return -EISDIR;
    if (!S_ISREG(f.st.stx_mode)) return -EINVAL;
    if (::truncate(proc.c_str(), static_cast<off_t>(in.size)) < 0) return -errno;
  }
  if ((in.valid & (proto::kSetUid | proto::kSetGid)) != 0) {
    uid_t uid = (in.valid & proto::kSetUid) != 0 ? in.uid : static_cast<uid_t>(-1);
    gid_t gid = (in.valid & proto::kSetGid) != 0 ? in.gid : static_cast<gid_t>(-1);
    if (::fchownat(f.fd.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) return -errno;
  }
  // After chown, which may have cleared the setuid and setgid bits the
  // path layer decided to keep.
  if ((in.valid & proto::kSetMode) != 0) {
    if (S_ISLNK(f.st.stx_mode)) return -EOPNOTSUPP;
    if (::chmod(proc.c_str(), in.mode & 07777) < 0) return -errno;
  }
  constexpr uint32_t kTimes = proto::kSetAtime | proto::kSetAtimeNow | proto::kSetMtime | proto::kSetMtimeNow;
  if ((in.valid & kTimes) != 0) {
    timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if ((in.valid & proto::kSetAtime) != 0) ts[0] = in.atime;
    else if ((in.valid & proto::kSetAtimeNow) != 0) ts[0] = {0, UTIME_NOW};
    if ((in.valid & proto::kSetMtime) != 0) ts[1] = in.mtime;
    else if ((in.valid & proto::kSetMtimeNow) != 0) ts[1] = {0, UTIME_NOW};
    if (::utimensat(f.fd.get(), "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) return -errno;
  }
  if (int rc = stat_fd(f.fd.get(), f.st); rc != 0) return rc;
  attr_of(ino, f.st, out);
  return 0;
}

// Gives a node just made (`fd` refers to it) the owner the path layer chose
// and, where `set_mode`, exactly node.mode (the server's umask is not the
// client's); records it under (parent, name).
int DirBackend::finish_new(int fd, uint64_t parent, std::string_view name, const NewNode& node, bool set_mode,
                           Found& made, Attr& out) {
  // Only root may give a file away; otherwise the server's ids stay.
  if (::fchownat(fd, "", node.uid, node.gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM &&
      errno != EINVAL)
    return -errno;
  if (set_mode && ::chmod(ProcPath(fd).c_str(), node.mode & 07777) < 0) return -errno;
  if (int rc = stat_fd(fd, made.st); rc != 0) return rc;
  uint64_t ino = number_for(dev_of(made.st), made.st.stx_ino);
  remember(ino, parent, name, made.st);
  attr_of(ino, made.st, out);
  return 0;
}

int DirBackend::mkdir(uint64_t parent, std::string_view name, const NewNode& node, Attr& out) {
  if (!acceptable_name(name)) return -EINVAL;
  Found dir;
  if (int rc = find_dir(parent, dir); rc != 0) return rc;
  std::string n(name);
  if (::mkdirat(dir.fd.get(), n.c_str(), node.mode & 07777) < 0) return -errno;
  Found made;
  made.fd.reset(::openat(dir.fd.get(), n.c_str(), O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC));
  if (!made.fd.valid()) return -errno;
  return finish_new(made.fd.get(), parent, name, node, true, made, out);
}

int DirBackend::mknod(uint64_t parent, std::string_view name, const NewNode& node, Attr& out) {
  if (!acceptable_name(name)) return -EINVAL;
  Found dir;
  if (int rc = find_dir(parent, dir); rc != 0) return rc;
  std::string n(name);
  if (::mknodat(dir.fd.get(), n.c_str(), S_IFREG | (node.mode & 07777), 0) < 0) return -errno;
  Found made;
  made.fd.reset(::openat(dir.fd.get(), n.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!made.fd.valid()) return -errno;
  return finish_new(made.fd.get(), parent, name, node, true, made, out);
}

int DirBackend::create(uint64_t parent, std::string_view name, const NewNode& node, uint32_t flags, Attr& out,
                       Opened& opened) {
  if (!acceptable_name(name)) return -EINVAL;
  Found dir;
  if (int rc = find_dir(parent, dir); rc != 0) return rc;
  std::string n(name);
  UniqueFd fd(::openat(dir.fd.get(), n.c_str(), kernel_flags(flags) | O_CREAT | O_EXCL | O_NOFOLLOW,
                       node.mode & 07777));
  if (!fd.valid()) return -errno;
  Found made;
  if (int rc = finish_new(fd.get(), parent, name, node, true, made, out); rc != 0) return rc;
  keep_open(out.ino, ::open(ProcPath(fd.get()).c_str(), O_PATH | O_CLOEXEC));
  opened.fd = fd.release();
  return 0;
}

int DirBackend::symlink(std::string_view target, uint64_t parent, std::string_view name, const NewNode& node,
                        Attr& out) {
  if (!acceptable_name(name)) return -EINVAL;
  if (target.empty() || target.find('\0') != std::string_view::npos) return -EINVAL;
  Found dir;
  if (int rc = find_dir(parent, dir); rc != 0) return rc;
  std::string n(name), t(target);
  if (::symlinkat(t.c_str(), dir.fd.get(), n.c_str()) < 0) return -errno;
  Found made;
  made.fd.reset(::openat(dir.fd.get(), n.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!made.fd.valid()) return -errno;
  return finish_new(made.fd.get(), parent, name, node, false, made, out);
}

int DirBackend::readlink(uint64_t ino, std::string& out) {
  Found f;
  if (int rc = find(ino, f); rc != 0) return rc;
  if (!S_ISLNK(f.st.stx_mode)) return -EINVAL;
  std::string buf(4096, '\0');
  ssize_t n = ::readlinkat(f.fd.get(), "", buf.data(), buf.size());
  if (n < 0) return -errno;
  buf.resize(static_cast<size_t>(n));
  out = std::move(buf);
  return 0;
}

int DirBackend::link(uint64_t ino, uint64_t new_parent, std::string_view new_name, Attr& out) {
  if (!acceptable_name(new_name)) return -EINVAL;
  Found f, dir;
  if (int rc = find(ino, f); rc != 0) return rc;
  if (S_ISDIR(f.st.stx_mode)) return -EPERM;
  if (int rc = find_dir(new_parent, dir); rc != 0) return rc;
  std::string n(new_name);
  if (::linkat(f.fd.get(), "", dir.fd.get(), n.c_str(), AT_EMPTY_PATH) < 0) {
    // Linking by fd needs CAP_DAC_READ_SEARCH; the magic link does not.
    if (errno != ENOENT && errno != EPERM) return -errno;
    if (::linkat(AT_FDCWD, ProcPath(f.fd.get()).c_str(), dir.fd.get(), n.c_str(), AT_SYMLINK_FOLLOW) < 0)
      return -errno;
  }
  if (int rc = stat_fd(f.fd.get(), f.st); rc != 0) return rc;
  attr_of(ino, f.st, out);
  return 0;
}

int DirBackend::unlink(uint64_t parent, std::string_view name) {
  Found dir, f;
  if (int rc = find_dir(parent, dir); rc != 0) return rc;
  if (int rc = child(dir.fd.get(), parent, name, f); rc != 0) return rc;
  if (S_ISDIR(f.st.stx_mode)) return -EISDIR;
  std::string n(name);
  if (::unlinkat(dir.fd.get(), n.c_str(), 0) < 0) return -errno;
  if (stat_fd(f.fd.get(), f.st) == 0 && f.st.stx_nlink == 0) forget(number_for(dev_of(f.st), f.st.stx_ino));
  return 0;
}

int DirBackend::rmdir(uint64_t parent, std::string_view name) {
  Found dir, f;
  if (int rc = find_dir(parent, dir); rc != 0) return rc;
  if (int rc = child(dir.fd.get(), parent, name, f); rc != 0) return rc;
  if (!S_ISDIR(f.st.stx_mode)) return -ENOTDIR;
  std::string n(name);
  if (::unlinkat(dir.fd.get(), n.c_str(), AT_REMOVEDIR) < 0) return -errno;
  forget(number_for(dev_of(f.st), f.st.stx_ino));
  return 0;
}

int DirBackend::rename(uint64_t parent, std::string_view name, uint64_t new_parent, std::string_view new_name,
                       uint32_t flags) {
  if ((flags & ~(proto::kRenameNoReplace | proto::kRenameExchange)) != 0) return -EINVAL;
  if (!acceptable_name(new_name)) return -EINVAL;
  Found from_dir, to_dir, source, target;
  if (int rc = find_dir(parent, from_dir); rc != 0) return rc;
  if (int rc = find_dir(new_parent, to_dir); rc != 0) return rc;
  if (int rc = child(from_dir.fd.get(), parent, name, source); rc != 0) return rc;
  bool had_target = child(to_dir.fd.get(), new_parent, new_name, target) == 0;
  unsigned rflags = 0;
  if ((flags & proto::kRenameNoReplace) != 0) rflags |= RENAME_NOREPLACE;
  if ((flags & proto::kRenameExchange) != 0) rflags |= RENAME_EXCHANGE;
  std::string from(name), to(new_name);
  if (::renameat2(from_dir.fd.get(), from.c_str(), to_dir.fd.get(), to.c_str(), rflags) < 0) return -errno;
  uint64_t source_ino = number_for(dev_of(source.st), source.st.stx_ino);
  if (had_target) {
    uint64_t target_ino = number_for(dev_of(target.st), target.st.stx_ino);
    if (target_ino == source_ino) return 0;  // two names of one file: nothing moved
    if ((flags & proto::kRenameExchange) != 0) {
      remember(target_ino, parent, name, target.st);
    } else if (stat_fd(target.fd.get(), target.st) == 0 && target.st.stx_nlink == 0) {
      forget(target_ino);
    }
  }
  remember(source_ino, new_parent, new_name, source.st);
  return 0;
}

// --- file data -----------------------------------------------------------------

int DirBackend::open(uint64_t ino, uint32_t flags, Opened& out) {
  Found f;
  if (int rc = find(ino, f); rc != 0) return rc;
  if (S_ISDIR(f.st.stx_mode)) return -EISDIR;
  if (S_ISLNK(f.st.stx_mode)) return -ELOOP;
  // A fifo or device would block or act on the server's side; the mount
  // serves regular files.
  if (!S_ISREG(f.st.stx_mode)) return -EOPNOTSUPP;
  ProcPath proc(f.fd.get());
  if ((flags & proto::kOpenPath) != 0) {
    int fd = ::open(proc.c_str(), O_PATH | O_CLOEXEC);
    if (fd < 0) return -errno;
    out.fd = fd;
    return 0;
  }
  const uint32_t acc = flags & proto::kOpenAccMode;
  const bool trunc = (flags & proto::kOpenTrunc) != 0;
  int kflags = kernel_flags(flags);
  if (trunc && (acc == O_WRONLY || acc == O_RDWR)) kflags |= O_TRUNC;
  // A new open file description of exactly this object: the magic link
  // is not walked, it is the object.
  UniqueFd fd(::open(proc.c_str(), kflags));
  if (!fd.valid()) return -errno;
  // O_RDONLY|O_TRUNC truncates without giving the client a writable fd.
  if (trunc && (kflags & O_TRUNC) == 0 && ::truncate(proc.c_str(), 0) < 0) return -errno;
  keep_open(ino, f.fd.release());
  out.fd = fd.release();
  return 0;
}

int DirBackend::fsync(uint64_t ino, bool datasync) {
  UniqueFd fd;
  if (ino == 0) {
    fd.reset(::openat(root_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return -errno;
    return ::syncfs(fd.get()) < 0 ? -errno : 0;
  }
  Found f;
  if (int rc = find(ino, f); rc != 0) return rc;
  if (S_ISDIR(f.st.stx_mode)) {
    fd.reset(::openat(f.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  } else if (S_ISREG(f.st.stx_mode)) {
    ProcPath proc(f.fd.get());
    fd.reset(::open(proc.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd.valid() && errno == EACCES) fd.reset(::open(proc.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY));
  } else {
    return 0;  // nothing of a symlink's is cached apart from its inode
  }
  if (!fd.valid()) return -errno;
  return (datasync ? ::fdatasync(fd.get()) : ::fsync(fd.get())) < 0 ? -errno : 0;
}

// --- directories ---------------------------------------------------------------

int DirBackend::readdir(uint64_t ino, uint64_t cookie, DirFiller& fill) {
  Found dir;
  if (int rc = find_dir(ino, dir); rc != 0) return rc;
  // getdents needs a readable fd of its own, placed at the host offset the
  // cookie stands for; cookies start past the server's own 0, 1 and 2.
  UniqueFd fd(::openat(dir.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return -errno;
  constexpr uint64_t kFirstCookie = 3;
  Cookies& known = cookies_[ino];
  off_t start = 0;
  if (cookie >= kFirstCookie) {
    if (cookie - kFirstCookie >= known.host_offsets.size()) return -EINVAL;
    start = known.host_offsets[cookie - kFirstCookie];
  }
  if (::lseek(fd.get(), start, SEEK_SET) < 0) return -errno;
  auto cookie_for = [&known](int64_t host_offset) {
    auto [it, added] = known.numbers.try_emplace(host_offset, known.host_offsets.size() + kFirstCookie);
    if (added) known.host_offsets.push_back(host_offset);
    return it->second;
  };
  const uint64_t dev = dev_of(dir.st);
  alignas(8) char buf[32768];
  for (;;) {
    ssize_t n = ::getdents64(fd.get(), buf, sizeof buf);
    if (n < 0) return -errno;
    if (n == 0) return 0;
    for (ssize_t pos = 0; pos < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + pos);
      pos += d->d_reclen;
      std::string_view entry(d->d_name);
      if (entry == "." || entry == "..") continue;
      if (!fill.add(entry, number_for(dev, d->d_ino), d->d_type, cookie_for(d->d_off))) return 0;
    }
  }
}

int DirBackend::name_in_parent(uint64_t ino, std::string& out) {
  if (ino == kRootIno) return -EINVAL;
  Found f;
  if (int rc = find(ino, f); rc != 0) return rc;
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return -ENOENT;
  out = it->second.name;
  return 0;
}

// --- the filesystem -------------------------------------------------------------

int DirBackend::statfs(proto::StatfsRep& out) {
  struct statfs s {};
  if (::fstatfs(root_.get(), &s) < 0) return -errno;
  out = proto::StatfsRep{};
  out.blocks = s.f_blocks;
  out.bfree = s.f_bfree;
  out.bavail = s.f_bavail;
  out.files = s.f_files;
  out.ffree = s.f_ffree;
  // statfs counts blocks in fragment-size units.
  out.bsize = static_cast<uint32_t>(s.f_frsize != 0 ? s.f_frsize : s.f_bsize);
  out.namelen = static_cast<uint32_t>(s.f_namelen);
  return 0;
}

// --- extended attributes ----------------------------------------------------------
// Through the magic link of our O_PATH fd: it lands on the object itself,
// a symlink included (never its target), and needs no open of the file.

int DirBackend::getxattr(uint64_t ino, std::string_view name, std::string& out) {
  if (name.find('\0') != std::string_view::npos) return -EINVAL;
  Found f;
  if (int rc = find(ino, f); rc != 0) return rc;
  ProcPath proc(f.fd.get());
  std::string key(name);
  for (int attempt = 0; attempt < 4; ++attempt) {
    ssize_t size = ::getxattr(proc.c_str(), key.c_str(), nullptr, 0);
    if (size < 0) return -errno;
    std::string buf(static_cast<size_t>(size), '\0');
    ssize_t n = ::getxattr(proc.c_str(), key.c_str(), buf.data(), buf.size());
    if (n < 0 && errno == ERANGE) continue;  // grew between the two calls
    if (n < 0) return -errno;
    buf.resize(static_cast<size_t>(n));
    out = std::move(buf);
    return 0;
  }
  return -ERANGE;
}

int DirBackend::setxattr(uint64_t ino, std::string_view name, std::string_view value, uint32_t xflags) {
  if (name.find('\0') != std::string_view::npos) return -EINVAL;
  Found f;
  if (int rc = find(ino, f); rc != 0) return rc;
  int kflags = 0;
  if ((xflags & proto::kXattrCreate) != 0) kflags |= XATTR_CREATE;
  if ((xflags & proto::kXattrReplace) != 0) kflags |= XATTR_REPLACE;
  std::string key(name);
  if (::setxattr(ProcPath(f.fd.get()).c_str(), key.c_str(), value.data(), value.size(), kflags) < 0) return -errno;
  return 0;
}

int DirBackend::listxattr(uint64_t ino, std::string& out) {
  Found f;
  if (int rc = find(ino, f); rc != 0) return rc;
  ProcPath proc(f.fd.get());
  for (int attempt = 0; attempt < 4; ++attempt) {
    ssize_t size = ::listxattr(proc.c_str(), nullptr, 0);
    if (size < 0) return -errno;
    std::string buf(static_cast<size_t>(size), '\0');
    ssize_t n = ::listxattr(proc.c_str(), buf.data(), buf.size());
    if (n < 0 && errno == ERANGE) continue;
    if (n < 0) return -errno;
    buf.resize(static_cast<size_t>(n));
    out = std::move(buf);
    return 0;
  }
  return -ERANGE;
}

int DirBackend::removexattr(uint64_t ino, std::string_view name) {
  if (name.find('\0') != std::string_view::npos) return -EINVAL;
  Found f;
  if (int rc = find(ino, f); rc != 0) return rc;
  std::string key(name);
  if (::removexattr(ProcPath(f.fd.get()).c_str(), key.c_str()) < 0) return -errno;
  return 0;
}

}  // namespace userfs::server

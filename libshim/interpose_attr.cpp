// Attribute changes and filesystem figures: chmod, chown, utime family,
// truncate, statfs/statvfs — by path, by *at, and by fd (an fd's data is
// a real file, but its identity lives in the server: fchmod must not
// change the memfd).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>
#include <utime.h>

#include "interpose.hpp"

using namespace userfs;
using interpose::passed;
using interpose::passed_fd;
using interpose::run_at;
using interpose::run_fd;
using interpose::run_path;
using route::EmptyPath;
using route::Target;

namespace {

// timeval pair (or null) to the timespec pair utimensat takes.
const struct timespec* from_timevals(const struct timeval* tv, struct timespec ts[2]) {
  if (tv == nullptr) return nullptr;
  for (int i = 0; i < 2; i++) {
    ts[i].tv_sec = tv[i].tv_sec;
    ts[i].tv_nsec = tv[i].tv_usec * 1000;
  }
  return ts;
}

bool bad_timevals(const struct timeval* tv) {
  return tv != nullptr && (tv[0].tv_usec < 0 || tv[0].tv_usec >= 1000000 || tv[1].tv_usec < 0 || tv[1].tv_usec >= 1000000);
}

}  // namespace

// --- chmod ---------------------------------------------------------------------

USERFS_EXPORT int chmod(const char* path, mode_t mode) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("chmod", p, real::libc.chmod(p, mode)); },
      [&](Target& t) { return ops::chmod("chmod", t, mode, true); });
}
USERFS_EXPORT int lchmod(const char* path, mode_t mode) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("lchmod", p, real::libc.fchmodat(AT_FDCWD, p, mode, AT_SYMLINK_NOFOLLOW)); },
      [&](Target& t) { return ops::chmod("lchmod", t, mode, false); });
}
USERFS_EXPORT int fchmod(int fd, mode_t mode) {
  real::ensure_resolved();
  return run_fd(
      fd, [&] { return passed_fd("fchmod", fd, real::libc.fchmod(fd, mode)); },
      [&](Target& t) { return ops::chmod("fchmod", t, mode, true); });
}
USERFS_EXPORT int fchmodat(int dirfd, const char* path, mode_t mode, int flags) {
  real::ensure_resolved();
  return run_at(
      dirfd, path, EmptyPath::refuse,
      [&](const char* p) { return passed("fchmodat", p, real::libc.fchmodat(dirfd, p, mode, flags)); },
      [&](Target& t) {
        if (flags & ~AT_SYMLINK_NOFOLLOW) {
          errno = EINVAL;
          return -1;
        }
        return ops::chmod("fchmodat", t, mode, (flags & AT_SYMLINK_NOFOLLOW) == 0);
      });
}

// --- chown ---------------------------------------------------------------------

USERFS_EXPORT int chown(const char* path, uid_t uid, gid_t gid) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("chown", p, real::libc.chown(p, uid, gid)); },
      [&](Target& t) { return ops::chown("chown", t, uid, gid, true); });
}
USERFS_EXPORT int lchown(const char* path, uid_t uid, gid_t gid) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("lchown", p, real::libc.lchown(p, uid, gid)); },
      [&](Target& t) { return ops::chown("lchown", t, uid, gid, false); });
}
USERFS_EXPORT int fchown(int fd, uid_t uid, gid_t gid) {
  real::ensure_resolved();
  return run_fd(
      fd, [&] { return passed_fd("fchown", fd, real::libc.fchown(fd, uid, gid)); },
      [&](Target& t) { return ops::chown("fchown", t, uid, gid, true); });
}
USERFS_EXPORT int fchownat(int dirfd, const char* path, uid_t uid, gid_t gid, int flags) {
  real::ensure_resolved();
  Target t;
  route::resolve(dirfd, path, interpose::empty_path_if(flags), t);
  return interpose::run(
      t, [&](const char* p) { return passed("fchownat", p, real::libc.fchownat(dirfd, p, uid, gid, flags)); },
      [&](Target& t) {
        if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) {
          errno = EINVAL;
          return -1;
        }
        return ops::chown("fchownat", t, uid, gid, (flags & AT_SYMLINK_NOFOLLOW) == 0);
      });
}

// --- times ---------------------------------------------------------------------

USERFS_EXPORT int utimensat(int dirfd, const char* path, const struct timespec times[2], int flags) {
  real::ensure_resolved();
  // The kernel's utimensat(fd, NULL) is futimens, but glibc's wrapper
  // refuses a NULL path itself (EINVAL): libc's answer, as for any fd.
  if (route::unreadable(path)) return passed("utimensat", path, real::libc.utimensat(dirfd, path, times, flags));
  Target t;
  route::resolve(dirfd, path, interpose::empty_path_if(flags), t);
  return interpose::run(
      t, [&](const char* p) { return passed("utimensat", p, real::libc.utimensat(dirfd, p, times, flags)); },
      [&](Target& t) { return ops::utimens("utimensat", t, times, (flags & AT_SYMLINK_NOFOLLOW) == 0); });
}
USERFS_EXPORT int futimens(int fd, const struct timespec times[2]) {
  real::ensure_resolved();
  return run_fd(
      fd, [&] { return passed_fd("futimens", fd, real::libc.futimens(fd, times)); },
      [&](Target& t) { return ops::utimens("futimens", t, times, true); });
}
USERFS_EXPORT int utimes(const char* path, const struct timeval tv[2]) {
  real::ensure_resolved();
  struct timespec ts[2];
  return run_path(
      path, [&](const char* p) { return passed("utimes", p, real::libc.utimes(p, tv)); },
      [&](Target& t) {
        if (bad_timevals(tv)) {
          errno = EINVAL;
          return -1;
        }
        return ops::utimens("utimes", t, from_timevals(tv, ts), true);
      });
}
USERFS_EXPORT int lutimes(const char* path, const struct timeval tv[2]) {
  real::ensure_resolved();
  struct timespec ts[2];
  return run_path(
      path, [&](const char* p) { return passed("lutimes", p, real::libc.lutimes(p, tv)); },
      [&](Target& t) {
        if (bad_timevals(tv)) {
          errno = EINVAL;
          return -1;
        }
        return ops::utimens("lutimes", t, from_timevals(tv, ts), false);
      });
}
USERFS_EXPORT int futimes(int fd, const struct timeval tv[2]) {
  real::ensure_resolved();
  struct timespec ts[2];
  return run_fd(
      fd, [&] { return passed_fd("futimes", fd, real::libc.futimes(fd, tv)); },
      [&](Target& t) {
        if (bad_timevals(tv)) {
          errno = EINVAL;
          return -1;
        }
        return ops::utimens("futimes", t, from_timevals(tv, ts), true);
      });
}
USERFS_EXPORT int futimesat(int dirfd, const char* path, const struct timeval tv[2]) {
  real::ensure_resolved();
  struct timespec ts[2];
  if (interpose::is_null(path)) return futimes(dirfd, tv);
  return run_at(
      dirfd, path, EmptyPath::refuse,
      [&](const char* p) { return passed("futimesat", p, real::libc.futimesat(dirfd, p, tv)); },
      [&](Target& t) {
        if (bad_timevals(tv)) {
          errno = EINVAL;
          return -1;
        }
        return ops::utimens("futimesat", t, from_timevals(tv, ts), true);
      });
}
USERFS_EXPORT int utime(const char* path, const struct utimbuf* buf) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("utime", p, real::libc.utime(p, buf)); },
      [&](Target& t) {
        struct timespec ts[2];
        if (buf != nullptr) {
          ts[0] = {buf->actime, 0};
          ts[1] = {buf->modtime, 0};
        }
        return ops::utimens("utime", t, buf != nullptr ? ts : nullptr, true);
      });
}

// --- truncate ------------------------------------------------------------------
// ftruncate needs nothing: the fd is the file's data.

USERFS_EXPORT int truncate(const char* path, off_t length) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("truncate", p, real::libc.truncate(p, length)); },
      [&](Target& t) { return ops::truncate("truncate", t, length); });
}
USERFS_EXPORT int truncate64(const char* path, off64_t length) { return truncate(path, static_cast<off_t>(length)); }

// --- statfs / statvfs ----------------------------------------------------------

USERFS_EXPORT int statfs(const char* path, struct statfs* out) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("statfs", p, real::libc.statfs(p, out)); },
      [&](Target& t) { return ops::statfs("statfs", t, out); });
}
USERFS_EXPORT int statfs64(const char* path, struct statfs64* out) {
  return statfs(path, reinterpret_cast<struct statfs*>(out));
}
USERFS_EXPORT int fstatfs(int fd, struct statfs* out) {
  real::ensure_resolved();
  return run_fd(
      fd, [&] { return passed_fd("fstatfs", fd, real::libc.fstatfs(fd, out)); },
      [&](Target& t) { return ops::statfs("fstatfs", t, out); }, interpose::PathFd::allowed);
}
USERFS_EXPORT int fstatfs64(int fd, struct statfs64* out) { return fstatfs(fd, reinterpret_cast<struct statfs*>(out)); }
USERFS_EXPORT int statvfs(const char* path, struct statvfs* out) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("statvfs", p, real::libc.statvfs(p, out)); },
      [&](Target& t) { return ops::statvfs("statvfs", t, out); });
}
USERFS_EXPORT int statvfs64(const char* path, struct statvfs64* out) {
  return statvfs(path, reinterpret_cast<struct statvfs*>(out));
}
USERFS_EXPORT int fstatvfs(int fd, struct statvfs* out) {
  real::ensure_resolved();
  return run_fd(
      fd, [&] { return passed_fd("fstatvfs", fd, real::libc.fstatvfs(fd, out)); },
      [&](Target& t) { return ops::statvfs("fstatvfs", t, out); }, interpose::PathFd::allowed);
}
USERFS_EXPORT int fstatvfs64(int fd, struct statvfs64* out) {
  return fstatvfs(fd, reinterpret_cast<struct statvfs*>(out));
}

// stat family: stat/lstat/fstat/fstatat (and 64 forms, identical on LP64),
// statx, the pre-2.33 __xstat family old binaries still call, and access.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interpose.hpp"

using namespace userfs;
using interpose::passed;
using interpose::passed_fd;

namespace {

constexpr int kStatVer = 1;  // _STAT_VER_LINUX on x86_64: struct stat as the kernel's

int stat_at(const char* fn, int dirfd, const char* path, struct stat* st, int flags) {
  route::Target t;
  route::resolve(dirfd, path, (flags & AT_EMPTY_PATH) ? route::EmptyPath::allow : route::EmptyPath::refuse, t);
  if (t.route == route::Route::pass) return passed(fn, path, real::libc.fstatat(dirfd, t.host_path, st, flags));
  if (t.route == route::Route::ours && (t.flags & proto::kEmptyPath)) {
    fdt::Info info;
    fdt::lookup(dirfd, &info);
    return ops::fstat(fn, dirfd, info, st);
  }
  return ops::stat(fn, t, st, (flags & AT_SYMLINK_NOFOLLOW) == 0);
}

int stat_path(const char* fn, const char* path, struct stat* st, bool follow) {
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) {
    return passed(fn, path, follow ? real::libc.stat(t.host_path, st) : real::libc.lstat(t.host_path, st));
  }
  return ops::stat(fn, t, st, follow);
}

int stat_fd(const char* fn, int fd, struct stat* st) {
  fdt::Info info;
  if (!fdt::lookup(fd, &info)) return passed_fd(fn, fd, real::libc.fstat(fd, st));
  return ops::fstat(fn, fd, info, st);
}

int access_at(const char* fn, int dirfd, const char* path, int mode, int flags) {
  route::Target t;
  route::resolve(dirfd, path, (flags & AT_EMPTY_PATH) ? route::EmptyPath::allow : route::EmptyPath::refuse, t);
  if (t.route == route::Route::pass) return passed(fn, path, real::libc.faccessat(dirfd, t.host_path, mode, flags));
  return ops::access(fn, t, mode, flags);
}

bool bad_version(int ver) {
  if (ver == kStatVer) return false;
  errno = EINVAL;
  return true;
}

}  // namespace

USERFS_EXPORT int stat(const char* path, struct stat* st) {
  real::ensure_resolved();
  return stat_path("stat", path, st, true);
}
USERFS_EXPORT int stat64(const char* path, struct stat64* st) {
  real::ensure_resolved();
  return stat_path("stat64", path, reinterpret_cast<struct stat*>(st), true);
}
USERFS_EXPORT int lstat(const char* path, struct stat* st) {
  real::ensure_resolved();
  return stat_path("lstat", path, st, false);
}
USERFS_EXPORT int lstat64(const char* path, struct stat64* st) {
  real::ensure_resolved();
  return stat_path("lstat64", path, reinterpret_cast<struct stat*>(st), false);
}
USERFS_EXPORT int fstat(int fd, struct stat* st) {
  real::ensure_resolved();
  return stat_fd("fstat", fd, st);
}
USERFS_EXPORT int fstat64(int fd, struct stat64* st) {
  real::ensure_resolved();
  return stat_fd("fstat64", fd, reinterpret_cast<struct stat*>(st));
}
USERFS_EXPORT int fstatat(int dirfd, const char* path, struct stat* st, int flags) {
  real::ensure_resolved();
  return stat_at("fstatat", dirfd, path, st, flags);
}
USERFS_EXPORT int fstatat64(int dirfd, const char* path, struct stat64* st, int flags) {
  real::ensure_resolved();
  return stat_at("fstatat64", dirfd, path, reinterpret_cast<struct stat*>(st), flags);
}

USERFS_EXPORT int __xstat(int ver, const char* path, struct stat* st) {
  real::ensure_resolved();
  if (bad_version(ver)) return -1;
  return stat_path("__xstat", path, st, true);
}
USERFS_EXPORT int __xstat64(int ver, const char* path, struct stat64* st) {
  real::ensure_resolved();
  if (bad_version(ver)) return -1;
  return stat_path("__xstat64", path, reinterpret_cast<struct stat*>(st), true);
}
USERFS_EXPORT int __lxstat(int ver, const char* path, struct stat* st) {
  real::ensure_resolved();
  if (bad_version(ver)) return -1;
  return stat_path("__lxstat", path, st, false);
}
USERFS_EXPORT int __lxstat64(int ver, const char* path, struct stat64* st) {
  real::ensure_resolved();
  if (bad_version(ver)) return -1;
  return stat_path("__lxstat64", path, reinterpret_cast<struct stat*>(st), false);
}
USERFS_EXPORT int __fxstat(int ver, int fd, struct stat* st) {
  real::ensure_resolved();
  if (bad_version(ver)) return -1;
  return stat_fd("__fxstat", fd, st);
}
USERFS_EXPORT int __fxstat64(int ver, int fd, struct stat64* st) {
  real::ensure_resolved();
  if (bad_version(ver)) return -1;
  return stat_fd("__fxstat64", fd, reinterpret_cast<struct stat*>(st));
}
USERFS_EXPORT int __fxstatat(int ver, int dirfd, const char* path, struct stat* st, int flags) {
  real::ensure_resolved();
  if (bad_version(ver)) return -1;
  return stat_at("__fxstatat", dirfd, path, st, flags);
}
USERFS_EXPORT int __fxstatat64(int ver, int dirfd, const char* path, struct stat64* st, int flags) {
  real::ensure_resolved();
  if (bad_version(ver)) return -1;
  return stat_at("__fxstatat64", dirfd, path, reinterpret_cast<struct stat*>(st), flags);
}

USERFS_EXPORT int statx(int dirfd, const char* path, int flags, unsigned mask, struct statx* stx) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(dirfd, path, (flags & AT_EMPTY_PATH) ? route::EmptyPath::allow : route::EmptyPath::refuse, t);
  if (t.route == route::Route::pass) return passed("statx", path, real::libc.statx(dirfd, t.host_path, flags, mask, stx));
  return ops::statx("statx", t, flags, mask, stx);
}

USERFS_EXPORT int access(const char* path, int mode) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("access", path, real::libc.access(t.host_path, mode));
  return ops::access("access", t, mode, 0);
}
USERFS_EXPORT int faccessat(int dirfd, const char* path, int mode, int flags) {
  real::ensure_resolved();
  return access_at("faccessat", dirfd, path, mode, flags);
}
USERFS_EXPORT int euidaccess(const char* path, int mode) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("euidaccess", path, real::libc.euidaccess(t.host_path, mode));
  return ops::access("euidaccess", t, mode, AT_EACCESS);
}
USERFS_EXPORT int eaccess(const char* path, int mode) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("eaccess", path, real::libc.euidaccess(t.host_path, mode));
  return ops::access("eaccess", t, mode, AT_EACCESS);
}

// stat family: stat/lstat/fstat/fstatat (and 64 forms, identical on LP64),
// statx, the pre-2.33 __xstat family old binaries still call, and access.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interpose.hpp"

using namespace userfs;
using interpose::passed;
using interpose::passed_fd;
using interpose::run;
using interpose::run_path;
using route::Target;

namespace {

constexpr int kStatVer = 1;  // _STAT_VER_LINUX on x86_64: struct stat as the kernel's
constexpr int kStatFlags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH;
constexpr int kStatxFlags = kStatFlags | AT_STATX_SYNC_TYPE;
constexpr int kAccessFlags = AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH;

// The kernel's answer to flags it does not know, for calls we answer.
int invalid() {
  errno = EINVAL;
  return -1;
}

int stat_fd(const char* fn, int fd, struct stat* st) {
  fdt::Info info;
  if (!fdt::lookup(fd, &info)) return passed_fd(fn, fd, real::libc.fstat(fd, st));
  return ops::fstat(fn, fd, info, st);
}

// Linux (6.11 on) takes a NULL path with AT_EMPTY_PATH as "": the same
// for a mount fd, which the kernel would otherwise answer for its
// placeholder. Elsewhere NULL goes to libc as it came.
const char* empty_if_null(int dirfd, const char* path, int flags) {
  fdt::Info info;
  if (interpose::is_null(path) && (flags & AT_EMPTY_PATH) != 0 && dirfd != AT_FDCWD && fdt::lookup(dirfd, &info)) return "";
  return path;
}

int stat_at(const char* fn, int dirfd, const char* path, struct stat* st, int flags) {
  path = empty_if_null(dirfd, path, flags);
  if (route::surely_host(dirfd, path)) return passed(fn, path, real::libc.fstatat(dirfd, path, st, flags));
  Target t;
  route::resolve(dirfd, path, interpose::empty_path_if(flags), t);
  if (t.route == route::Route::ours && (flags & ~kStatFlags)) return invalid();
  if (t.route == route::Route::ours && (t.flags & proto::kEmptyPath) && dirfd != AT_FDCWD) {
    return stat_fd(fn, dirfd, st);
  }
  return run(
      t, [&](const char* p) { return passed(fn, p, real::libc.fstatat(dirfd, p, st, flags)); },
      [&](Target& t) { return ops::stat(fn, t, st, (flags & AT_SYMLINK_NOFOLLOW) == 0); });
}

int stat_path(const char* fn, const char* path, struct stat* st, bool follow) {
  return run_path(
      path,
      [&](const char* p) { return passed(fn, p, follow ? real::libc.stat(p, st) : real::libc.lstat(p, st)); },
      [&](Target& t) { return ops::stat(fn, t, st, follow); });
}

int access_at(const char* fn, int dirfd, const char* path, int mode, int flags) {
  if (route::surely_host(dirfd, path)) return passed(fn, path, real::libc.faccessat(dirfd, path, mode, flags));
  Target t;
  route::resolve(dirfd, path, interpose::empty_path_if(flags), t);
  if (t.route == route::Route::ours && (flags & ~kAccessFlags)) return invalid();
  return run(
      t, [&](const char* p) { return passed(fn, p, real::libc.faccessat(dirfd, p, mode, flags)); },
      [&](Target& t) { return ops::access(fn, t, mode, flags); });
}

bool bad_version(int ver) {
  if (ver == kStatVer) return false;
  errno = EINVAL;
  return true;
}

struct stat* as_stat(struct stat64* st) { return reinterpret_cast<struct stat*>(st); }

}  // namespace

USERFS_EXPORT int stat(const char* path, struct stat* st) {
  real::ensure_resolved();
  return stat_path("stat", path, st, true);
}
USERFS_EXPORT int stat64(const char* path, struct stat64* st) {
  real::ensure_resolved();
  return stat_path("stat64", path, as_stat(st), true);
}
USERFS_EXPORT int lstat(const char* path, struct stat* st) {
  real::ensure_resolved();
  return stat_path("lstat", path, st, false);
}
USERFS_EXPORT int lstat64(const char* path, struct stat64* st) {
  real::ensure_resolved();
  return stat_path("lstat64", path, as_stat(st), false);
}
USERFS_EXPORT int fstat(int fd, struct stat* st) {
  real::ensure_resolved();
  return stat_fd("fstat", fd, st);
}
USERFS_EXPORT int fstat64(int fd, struct stat64* st) {
  real::ensure_resolved();
  return stat_fd("fstat64", fd, as_stat(st));
}
USERFS_EXPORT int fstatat(int dirfd, const char* path, struct stat* st, int flags) {
  real::ensure_resolved();
  return stat_at("fstatat", dirfd, path, st, flags);
}
USERFS_EXPORT int fstatat64(int dirfd, const char* path, struct stat64* st, int flags) {
  real::ensure_resolved();
  return stat_at("fstatat64", dirfd, path, as_stat(st), flags);
}

USERFS_EXPORT int __xstat(int ver, const char* path, struct stat* st) {
  real::ensure_resolved();
  return bad_version(ver) ? -1 : stat_path("__xstat", path, st, true);
}
USERFS_EXPORT int __xstat64(int ver, const char* path, struct stat64* st) {
  real::ensure_resolved();
  return bad_version(ver) ? -1 : stat_path("__xstat64", path, as_stat(st), true);
}
USERFS_EXPORT int __lxstat(int ver, const char* path, struct stat* st) {
  real::ensure_resolved();
  return bad_version(ver) ? -1 : stat_path("__lxstat", path, st, false);
}
USERFS_EXPORT int __lxstat64(int ver, const char* path, struct stat64* st) {
  real::ensure_resolved();
  return bad_version(ver) ? -1 : stat_path("__lxstat64", path, as_stat(st), false);
}
USERFS_EXPORT int __fxstat(int ver, int fd, struct stat* st) {
  real::ensure_resolved();
  return bad_version(ver) ? -1 : stat_fd("__fxstat", fd, st);
}
USERFS_EXPORT int __fxstat64(int ver, int fd, struct stat64* st) {
  real::ensure_resolved();
  return bad_version(ver) ? -1 : stat_fd("__fxstat64", fd, as_stat(st));
}
USERFS_EXPORT int __fxstatat(int ver, int dirfd, const char* path, struct stat* st, int flags) {
  real::ensure_resolved();
  return bad_version(ver) ? -1 : stat_at("__fxstatat", dirfd, path, st, flags);
}
USERFS_EXPORT int __fxstatat64(int ver, int dirfd, const char* path, struct stat64* st, int flags) {
  real::ensure_resolved();
  return bad_version(ver) ? -1 : stat_at("__fxstatat64", dirfd, path, as_stat(st), flags);
}

USERFS_EXPORT int statx(int dirfd, const char* path, int flags, unsigned mask, struct statx* stx) {
  real::ensure_resolved();
  path = empty_if_null(dirfd, path, flags);
  if (route::surely_host(dirfd, path)) return passed("statx", path, real::libc.statx(dirfd, path, flags, mask, stx));
  Target t;
  route::resolve(dirfd, path, interpose::empty_path_if(flags), t);
  if (t.route == route::Route::ours && ((flags & ~kStatxFlags) || (mask & STATX__RESERVED))) return invalid();
  if (t.route == route::Route::ours && (t.flags & proto::kEmptyPath) && dirfd != AT_FDCWD) {
    fdt::Info info;
    fdt::lookup(dirfd, &info);
    return ops::fstatx("statx", dirfd, info, stx);
  }
  return run(
      t, [&](const char* p) { return passed("statx", p, real::libc.statx(dirfd, p, flags, mask, stx)); },
      [&](Target& t) { return ops::statx("statx", t, flags, mask, stx); });
}

USERFS_EXPORT int access(const char* path, int mode) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("access", p, real::libc.access(p, mode)); },
      [&](Target& t) { return ops::access("access", t, mode, 0); });
}
USERFS_EXPORT int faccessat(int dirfd, const char* path, int mode, int flags) {
  real::ensure_resolved();
  return access_at("faccessat", dirfd, path, mode, flags);
}
USERFS_EXPORT int euidaccess(const char* path, int mode) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("euidaccess", p, real::libc.euidaccess(p, mode)); },
      [&](Target& t) { return ops::access("euidaccess", t, mode, AT_EACCESS); });
}
USERFS_EXPORT int eaccess(const char* path, int mode) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("eaccess", p, real::libc.euidaccess(p, mode)); },
      [&](Target& t) { return ops::access("eaccess", t, mode, AT_EACCESS); });
}

// Links and special files: symlink, readlink (and its fortify form), link,
// mknod, mkfifo (and the pre-2.33 __xmknod forms).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interpose.hpp"

using namespace userfs;
using interpose::passed;
using interpose::run;
using interpose::run_at;
using interpose::run_path;
using route::EmptyPath;
using route::Target;

namespace {

ssize_t readlink_at(const char* fn, int dirfd, const char* path, char* buf, size_t size) {
  real::ensure_resolved();
  return run_at(
      dirfd, path, EmptyPath::allow,
      [&](const char* p) { return passed(fn, p, real::libc.readlinkat(dirfd, p, buf, size)); },
      [&](Target& t) { return ops::readlink(fn, t, buf, size); });
}

int link_at(const char* fn, int olddir, const char* oldpath, int newdir, const char* newpath, int flags) {
  real::ensure_resolved();
  // A NULL or bad path is EFAULT from the kernel, whichever side the other is on.
  if (route::unreadable(oldpath) || route::unreadable(newpath))
    return passed(fn, oldpath, real::libc.linkat(olddir, oldpath, newdir, newpath, flags));
  Target from, to;
  route::resolve(olddir, oldpath, interpose::empty_path_if(flags), from);
  route::resolve(newdir, newpath, EmptyPath::refuse, to);
  for (;;) {
    if (from.route == route::Route::pass && to.route == route::Route::pass) {
      return passed(fn, from.host_path, real::libc.linkat(olddir, from.host_path, newdir, to.host_path, flags));
    }
    if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) {
      errno = EINVAL;
      return -1;
    }
    int r = ops::link(fn, from, to, (flags & AT_SYMLINK_FOLLOW) != 0);
    bool again = route::take_redirect(from);
    again = route::take_redirect(to) || again;
    if (!again) return r;
  }
}

using RealMknod = int (*)(int, const char*, mode_t, dev_t);

int mknod_at(const char* fn, int dirfd, const char* path, mode_t mode, dev_t dev, RealMknod pass) {
  real::ensure_resolved();
  return run_at(
      dirfd, path, EmptyPath::refuse, [&](const char* p) { return passed(fn, p, pass(dirfd, p, mode, dev)); },
      [&](Target& t) { return ops::mknod(fn, t, mode, dev); });
}

int pass_mknodat(int d, const char* p, mode_t m, dev_t dev) { return real::libc.mknodat(d, p, m, dev); }
int pass_mkfifo(int, const char* p, mode_t m, dev_t) { return real::libc.mkfifo(p, m & 07777); }
int pass_mkfifoat(int d, const char* p, mode_t m, dev_t) { return real::libc.mkfifoat(d, p, m & 07777); }

}  // namespace

USERFS_EXPORT int symlink(const char* target, const char* linkpath) {
  real::ensure_resolved();
  // The kernel reads the target first: a NULL one is EFAULT wherever the link goes.
  if (route::unreadable(target)) return passed("symlink", linkpath, real::libc.symlink(target, linkpath));
  return run_path(
      linkpath, [&](const char* p) { return passed("symlink", p, real::libc.symlink(target, p)); },
      [&](Target& t) { return ops::symlink("symlink", target, t); });
}
USERFS_EXPORT int symlinkat(const char* target, int dirfd, const char* linkpath) {
  real::ensure_resolved();
  if (route::unreadable(target)) return passed("symlinkat", linkpath, real::libc.symlinkat(target, dirfd, linkpath));
  return run_at(
      dirfd, linkpath, EmptyPath::refuse,
      [&](const char* p) { return passed("symlinkat", p, real::libc.symlinkat(target, dirfd, p)); },
      [&](Target& t) { return ops::symlink("symlinkat", target, t); });
}

USERFS_EXPORT ssize_t readlink(const char* path, char* buf, size_t size) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("readlink", p, real::libc.readlink(p, buf, size)); },
      [&](Target& t) { return ops::readlink("readlink", t, buf, size); });
}
USERFS_EXPORT ssize_t readlinkat(int dirfd, const char* path, char* buf, size_t size) {
  return readlink_at("readlinkat", dirfd, path, buf, size);
}
// _FORTIFY_SOURCE forms: libc's check, then the call.
USERFS_EXPORT ssize_t __readlink_chk(const char* path, char* buf, size_t size, size_t buflen) {
  if (size > buflen) __builtin_trap();
  return readlink_at("__readlink_chk", AT_FDCWD, path, buf, size);
}
USERFS_EXPORT ssize_t __readlinkat_chk(int dirfd, const char* path, char* buf, size_t size, size_t buflen) {
  if (size > buflen) __builtin_trap();
  return readlink_at("__readlinkat_chk", dirfd, path, buf, size);
}

USERFS_EXPORT int link(const char* oldpath, const char* newpath) {
  return link_at("link", AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}
USERFS_EXPORT int linkat(int olddir, const char* oldpath, int newdir, const char* newpath, int flags) {
  return link_at("linkat", olddir, oldpath, newdir, newpath, flags);
}

USERFS_EXPORT int mknod(const char* path, mode_t mode, dev_t dev) {
  return mknod_at("mknod", AT_FDCWD, path, mode, dev, pass_mknodat);
}
USERFS_EXPORT int mknodat(int dirfd, const char* path, mode_t mode, dev_t dev) {
  return mknod_at("mknodat", dirfd, path, mode, dev, pass_mknodat);
}
USERFS_EXPORT int mkfifo(const char* path, mode_t mode) {
  return mknod_at("mkfifo", AT_FDCWD, path, S_IFIFO | (mode & 07777), 0, pass_mkfifo);
}
USERFS_EXPORT int mkfifoat(int dirfd, const char* path, mode_t mode) {
  return mknod_at("mkfifoat", dirfd, path, S_IFIFO | (mode & 07777), 0, pass_mkfifoat);
}
USERFS_EXPORT int __xmknod(int ver, const char* path, mode_t mode, dev_t* dev) {
  if (ver != 0) {
    errno = EINVAL;
    return -1;
  }
  return mknod_at("__xmknod", AT_FDCWD, path, mode, *dev, pass_mknodat);
}
USERFS_EXPORT int __xmknodat(int ver, int dirfd, const char* path, mode_t mode, dev_t* dev) {
  if (ver != 0) {
    errno = EINVAL;
    return -1;
  }
  return mknod_at("__xmknodat", dirfd, path, mode, *dev, pass_mknodat);
}

// The DIR family. A stream on a mount directory is a DirStream of ours;
// every other stream goes to libc untouched.
#include <dirent.h>

#include "interpose.hpp"

using namespace userfs;
using interpose::passed;
using interpose::passed_fd;

USERFS_EXPORT DIR* opendir(const char* path) {
  real::ensure_resolved();
  return interpose::run_path(
      path, [&](const char* p) { return passed("opendir", p, real::libc.opendir(p)); },
      [&](route::Target& t) { return ops::opendir("opendir", t); });
}

USERFS_EXPORT DIR* fdopendir(int fd) {
  real::ensure_resolved();
  fdt::Info info;
  if (!fdt::lookup(fd, &info)) return passed_fd("fdopendir", fd, real::libc.fdopendir(fd));
  if (info.path_only) {
    errno = EBADF;
    return nullptr;
  }
  return ops::fdopendir("fdopendir", fd, info);
}

USERFS_EXPORT struct dirent* readdir(DIR* dir) {
  real::ensure_resolved();
  if (ops::DirStream* d = ops::as_ours(dir)) return reinterpret_cast<struct dirent*>(ops::readdir(d));
  return real::libc.readdir(dir);
}

USERFS_EXPORT struct dirent64* readdir64(DIR* dir) {
  real::ensure_resolved();
  if (ops::DirStream* d = ops::as_ours(dir)) return ops::readdir(d);
  return real::libc.readdir64(dir);
}

USERFS_EXPORT int readdir_r(DIR* dir, struct dirent* entry, struct dirent** result) {
  real::ensure_resolved();
  ops::DirStream* d = ops::as_ours(dir);
  if (d == nullptr) return real::libc.readdir_r(dir, entry, result);
  int saved = errno;
  errno = 0;
  struct dirent64* e = ops::readdir(d);
  int err = errno;
  errno = saved;
  if (e == nullptr) {
    *result = nullptr;
    return err;
  }
  __builtin_memcpy(entry, e, e->d_reclen);
  *result = entry;
  return 0;
}

USERFS_EXPORT int readdir64_r(DIR* dir, struct dirent64* entry, struct dirent64** result) {
  real::ensure_resolved();
  if (ops::as_ours(dir) == nullptr) return real::libc.readdir64_r(dir, entry, result);
  return readdir_r(dir, reinterpret_cast<struct dirent*>(entry), reinterpret_cast<struct dirent**>(result));
}

USERFS_EXPORT int closedir(DIR* dir) {
  real::ensure_resolved();
  if (ops::DirStream* d = ops::as_ours(dir)) return ops::closedir(d);
  return real::libc.closedir(dir);
}

USERFS_EXPORT int dirfd(DIR* dir) {
  real::ensure_resolved();
  if (ops::DirStream* d = ops::as_ours(dir)) return ops::dirfd(d);
  return real::libc.dirfd(dir);
}

USERFS_EXPORT void rewinddir(DIR* dir) {
  real::ensure_resolved();
  if (ops::DirStream* d = ops::as_ours(dir)) return ops::rewinddir(d);
  real::libc.rewinddir(dir);
}

USERFS_EXPORT long telldir(DIR* dir) {
  real::ensure_resolved();
  if (ops::DirStream* d = ops::as_ours(dir)) return ops::telldir(d);
  return real::libc.telldir(dir);
}

USERFS_EXPORT void seekdir(DIR* dir, long pos) {
  real::ensure_resolved();
  if (ops::DirStream* d = ops::as_ours(dir)) return ops::seekdir(d, pos);
  real::libc.seekdir(dir, pos);
}

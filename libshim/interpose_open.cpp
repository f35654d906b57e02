// open family: open/open64/openat/openat64, creat, the _FORTIFY_SOURCE
// __open*_2 forms, and fopen (stdio reaches the kernel without passing
// through the exported open, so it must be caught itself).
#include <fcntl.h>
#include <stdarg.h>

#include "interpose.hpp"

using namespace userfs;
using interpose::passed;
using interpose::run_at;
using interpose::run_path;
using route::EmptyPath;
using route::Target;

namespace {

bool takes_mode(int flags) { return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE; }

int open_at(const char* fn, int dirfd, const char* path, int flags, mode_t mode,
            int (*pass)(int, const char*, int, mode_t)) {
  real::ensure_resolved();
  return run_at(
      dirfd, path, EmptyPath::refuse, [&](const char* p) { return passed(fn, p, pass(dirfd, p, flags, mode)); },
      [&](Target& t) { return ops::open(fn, t, flags, mode); });
}

int real_open(int, const char* p, int f, mode_t m) { return real::libc.open(p, f, m); }
int real_open64(int, const char* p, int f, mode_t m) { return real::libc.open64(p, f, m); }
int real_openat(int d, const char* p, int f, mode_t m) { return real::libc.openat(d, p, f, m); }
int real_openat64(int d, const char* p, int f, mode_t m) { return real::libc.openat64(d, p, f, m); }
int real_creat(int, const char* p, int, mode_t m) { return real::libc.creat(p, m); }
int real_creat64(int, const char* p, int, mode_t m) { return real::libc.creat64(p, m); }
int real_open_2(int, const char* p, int f, mode_t) { return real::libc.open_2(p, f); }
int real_open64_2(int, const char* p, int f, mode_t) { return real::libc.open64_2(p, f); }
int real_openat_2(int d, const char* p, int f, mode_t) { return real::libc.openat_2(d, p, f); }
int real_openat64_2(int d, const char* p, int f, mode_t) { return real::libc.openat64_2(d, p, f); }

FILE* fopen_common(const char* fn, const char* path, const char* mode, FILE* (*pass)(const char*, const char*)) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed(fn, p, pass(p, mode)); },
      [&](Target& t) { return ops::fopen(fn, t, mode); });
}

}  // namespace

#define USERFS_MODE_ARG(flags)      \
  mode_t mode = 0;                  \
  if (takes_mode(flags)) {          \
    va_list ap;                     \
    va_start(ap, flags);            \
    mode = va_arg(ap, mode_t);      \
    va_end(ap);                     \
  }

USERFS_EXPORT int open(const char* path, int flags, ...) {
  USERFS_MODE_ARG(flags);
  return open_at("open", AT_FDCWD, path, flags, mode, real_open);
}
USERFS_EXPORT int open64(const char* path, int flags, ...) {
  USERFS_MODE_ARG(flags);
  return open_at("open64", AT_FDCWD, path, flags, mode, real_open64);
}
USERFS_EXPORT int openat(int dirfd, const char* path, int flags, ...) {
  USERFS_MODE_ARG(flags);
  return open_at("openat", dirfd, path, flags, mode, real_openat);
}
USERFS_EXPORT int openat64(int dirfd, const char* path, int flags, ...) {
  USERFS_MODE_ARG(flags);
  return open_at("openat64", dirfd, path, flags, mode, real_openat64);
}
USERFS_EXPORT int creat(const char* path, mode_t mode) {
  return open_at("creat", AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, real_creat);
}
USERFS_EXPORT int creat64(const char* path, mode_t mode) {
  return open_at("creat64", AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, real_creat64);
}
USERFS_EXPORT int __open_2(const char* path, int flags) { return open_at("__open_2", AT_FDCWD, path, flags, 0, real_open_2); }
USERFS_EXPORT int __open64_2(const char* path, int flags) {
  return open_at("__open64_2", AT_FDCWD, path, flags, 0, real_open64_2);
}
USERFS_EXPORT int __openat_2(int dirfd, const char* path, int flags) {
  return open_at("__openat_2", dirfd, path, flags, 0, real_openat_2);
}
USERFS_EXPORT int __openat64_2(int dirfd, const char* path, int flags) {
  return open_at("__openat64_2", dirfd, path, flags, 0, real_openat64_2);
}

USERFS_EXPORT FILE* fopen(const char* path, const char* mode) {
  real::ensure_resolved();
  return fopen_common("fopen", path, mode, real::libc.fopen);
}
USERFS_EXPORT FILE* fopen64(const char* path, const char* mode) {
  real::ensure_resolved();
  return fopen_common("fopen64", path, mode, real::libc.fopen64);
}

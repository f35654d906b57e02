// open family: open/open64/openat/openat64, creat, the _FORTIFY_SOURCE
// __open*_2 forms, and fopen (stdio reaches the kernel without passing
// through the exported open, so it must be caught itself).
#include <fcntl.h>
#include <stdarg.h>

#include "interpose.hpp"

using namespace userfs;
using interpose::passed;

namespace {

bool takes_mode(int flags) { return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE; }

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
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("open", path, real::libc.open(t.host_path, flags, mode));
  return ops::open("open", t, flags, mode);
}

USERFS_EXPORT int open64(const char* path, int flags, ...) {
  USERFS_MODE_ARG(flags);
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("open64", path, real::libc.open64(t.host_path, flags, mode));
  return ops::open("open64", t, flags, mode);
}

USERFS_EXPORT int openat(int dirfd, const char* path, int flags, ...) {
  USERFS_MODE_ARG(flags);
  real::ensure_resolved();
  route::Target t;
  route::resolve(dirfd, path, route::EmptyPath::refuse, t);
  if (t.route == route::Route::pass) return passed("openat", path, real::libc.openat(dirfd, t.host_path, flags, mode));
  return ops::open("openat", t, flags, mode);
}

USERFS_EXPORT int openat64(int dirfd, const char* path, int flags, ...) {
  USERFS_MODE_ARG(flags);
  real::ensure_resolved();
  route::Target t;
  route::resolve(dirfd, path, route::EmptyPath::refuse, t);
  if (t.route == route::Route::pass) return passed("openat64", path, real::libc.openat64(dirfd, t.host_path, flags, mode));
  return ops::open("openat64", t, flags, mode);
}

USERFS_EXPORT int creat(const char* path, mode_t mode) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("creat", path, real::libc.creat(t.host_path, mode));
  return ops::open("creat", t, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

USERFS_EXPORT int creat64(const char* path, mode_t mode) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("creat64", path, real::libc.creat64(t.host_path, mode));
  return ops::open("creat64", t, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

USERFS_EXPORT int __open_2(const char* path, int flags) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("__open_2", path, real::libc.open_2(t.host_path, flags));
  return ops::open("__open_2", t, flags, 0);
}

USERFS_EXPORT int __open64_2(const char* path, int flags) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("__open64_2", path, real::libc.open64_2(t.host_path, flags));
  return ops::open("__open64_2", t, flags, 0);
}

USERFS_EXPORT int __openat_2(int dirfd, const char* path, int flags) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(dirfd, path, route::EmptyPath::refuse, t);
  if (t.route == route::Route::pass) return passed("__openat_2", path, real::libc.openat_2(dirfd, t.host_path, flags));
  return ops::open("__openat_2", t, flags, 0);
}

USERFS_EXPORT int __openat64_2(int dirfd, const char* path, int flags) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(dirfd, path, route::EmptyPath::refuse, t);
  if (t.route == route::Route::pass) return passed("__openat64_2", path, real::libc.openat64_2(dirfd, t.host_path, flags));
  return ops::open("__openat64_2", t, flags, 0);
}

USERFS_EXPORT FILE* fopen(const char* path, const char* mode) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("fopen", path, real::libc.fopen(t.host_path, mode));
  return ops::fopen("fopen", t, mode);
}

USERFS_EXPORT FILE* fopen64(const char* path, const char* mode) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("fopen64", path, real::libc.fopen64(t.host_path, mode));
  return ops::fopen("fopen64", t, mode);
}

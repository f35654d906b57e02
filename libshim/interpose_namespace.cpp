// Namespace changes: mkdir, rmdir, unlink, rename and their *at forms, and
// umask (tracked so creates in a mount apply it as the kernel would).
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interpose.hpp"

using namespace userfs;
using interpose::passed;

namespace {

int rename_at(const char* fn, int olddir, const char* oldpath, int newdir, const char* newpath, unsigned flags,
              int (*pass)(int, const char*, int, const char*, unsigned)) {
  route::Target from, to;
  route::resolve(olddir, oldpath, route::EmptyPath::refuse, from);
  route::resolve(newdir, newpath, route::EmptyPath::refuse, to);
  if (from.route == route::Route::pass && to.route == route::Route::pass) {
    return passed(fn, oldpath, pass(olddir, from.host_path, newdir, to.host_path, flags));
  }
  return ops::rename(fn, from, to, flags);
}

int pass_rename(int, const char* a, int, const char* b, unsigned) { return real::libc.rename(a, b); }
int pass_renameat(int da, const char* a, int db, const char* b, unsigned) { return real::libc.renameat(da, a, db, b); }
int pass_renameat2(int da, const char* a, int db, const char* b, unsigned f) {
  return real::libc.renameat2(da, a, db, b, f);
}

}  // namespace

USERFS_EXPORT int mkdir(const char* path, mode_t mode) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("mkdir", path, real::libc.mkdir(t.host_path, mode));
  return ops::mkdir("mkdir", t, mode);
}

USERFS_EXPORT int mkdirat(int dirfd, const char* path, mode_t mode) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(dirfd, path, route::EmptyPath::refuse, t);
  if (t.route == route::Route::pass) return passed("mkdirat", path, real::libc.mkdirat(dirfd, t.host_path, mode));
  return ops::mkdir("mkdirat", t, mode);
}

USERFS_EXPORT int rmdir(const char* path) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("rmdir", path, real::libc.rmdir(t.host_path));
  return ops::unlink("rmdir", t, true);
}

USERFS_EXPORT int unlink(const char* path) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("unlink", path, real::libc.unlink(t.host_path));
  return ops::unlink("unlink", t, false);
}

USERFS_EXPORT int unlinkat(int dirfd, const char* path, int flags) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(dirfd, path, route::EmptyPath::refuse, t);
  if (t.route == route::Route::pass) return passed("unlinkat", path, real::libc.unlinkat(dirfd, t.host_path, flags));
  if (flags & ~AT_REMOVEDIR) {
    errno = EINVAL;
    return -1;
  }
  return ops::unlink("unlinkat", t, (flags & AT_REMOVEDIR) != 0);
}

USERFS_EXPORT int rename(const char* oldpath, const char* newpath) {
  real::ensure_resolved();
  return rename_at("rename", AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, pass_rename);
}

USERFS_EXPORT int renameat(int olddir, const char* oldpath, int newdir, const char* newpath) {
  real::ensure_resolved();
  return rename_at("renameat", olddir, oldpath, newdir, newpath, 0, pass_renameat);
}

USERFS_EXPORT int renameat2(int olddir, const char* oldpath, int newdir, const char* newpath, unsigned flags) {
  real::ensure_resolved();
  return rename_at("renameat2", olddir, oldpath, newdir, newpath, flags, pass_renameat2);
}

USERFS_EXPORT mode_t umask(mode_t mask) {
  real::ensure_resolved();
  return ops::umask_changed(real::libc.umask(mask), mask);
}

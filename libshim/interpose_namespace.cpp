// Namespace changes: mkdir, rmdir, unlink, rename and their *at forms, and
// umask (tracked so creates in a mount apply it as the kernel would).
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interpose.hpp"

using namespace userfs;
using interpose::passed;
using interpose::run_at;
using interpose::run_path;
using route::EmptyPath;
using route::Target;

namespace {

using RealRename = int (*)(int, const char*, int, const char*, unsigned);

// Both paths are routed; a redirect of either re-routes that one and the
// call runs again. Both outside the mounts: libc's own.
int rename_at(const char* fn, int olddir, const char* oldpath, int newdir, const char* newpath, unsigned flags,
              RealRename pass) {
  real::ensure_resolved();
  // A NULL or bad path is EFAULT from the kernel, whichever side the other is on.
  if (route::unreadable(oldpath) || route::unreadable(newpath))
    return passed(fn, oldpath, pass(olddir, oldpath, newdir, newpath, flags));
  Target from, to;
  route::resolve(olddir, oldpath, EmptyPath::refuse, from);
  route::resolve(newdir, newpath, EmptyPath::refuse, to);
  for (;;) {
    if (from.route == route::Route::pass && to.route == route::Route::pass) {
      return passed(fn, from.host_path, pass(olddir, from.host_path, newdir, to.host_path, flags));
    }
    int r = ops::rename(fn, from, to, flags);
    bool again = route::take_redirect(from);
    again = route::take_redirect(to) || again;
    if (!again) return r;
  }
}

int pass_rename(int, const char* a, int, const char* b, unsigned) { return real::libc.rename(a, b); }
int pass_renameat(int da, const char* a, int db, const char* b, unsigned) { return real::libc.renameat(da, a, db, b); }
int pass_renameat2(int da, const char* a, int db, const char* b, unsigned f) {
  return real::libc.renameat2(da, a, db, b, f);
}

int unlink_at(const char* fn, int dirfd, const char* path, int flags, int (*pass)(int, const char*, int)) {
  real::ensure_resolved();
  return run_at(
      dirfd, path, EmptyPath::refuse, [&](const char* p) { return passed(fn, p, pass(dirfd, p, flags)); },
      [&](Target& t) {
        if (flags & ~AT_REMOVEDIR) {
          errno = EINVAL;
          return -1;
        }
        return ops::unlink(fn, t, (flags & AT_REMOVEDIR) != 0);
      });
}

int pass_unlink(int, const char* p, int) { return real::libc.unlink(p); }
int pass_rmdir(int, const char* p, int) { return real::libc.rmdir(p); }
int pass_unlinkat(int d, const char* p, int f) { return real::libc.unlinkat(d, p, f); }

}  // namespace

USERFS_EXPORT int mkdir(const char* path, mode_t mode) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("mkdir", p, real::libc.mkdir(p, mode)); },
      [&](Target& t) { return ops::mkdir("mkdir", t, mode); });
}

USERFS_EXPORT int mkdirat(int dirfd, const char* path, mode_t mode) {
  real::ensure_resolved();
  return run_at(
      dirfd, path, EmptyPath::refuse, [&](const char* p) { return passed("mkdirat", p, real::libc.mkdirat(dirfd, p, mode)); },
      [&](Target& t) { return ops::mkdir("mkdirat", t, mode); });
}

USERFS_EXPORT int rmdir(const char* path) { return unlink_at("rmdir", AT_FDCWD, path, AT_REMOVEDIR, pass_rmdir); }
USERFS_EXPORT int unlink(const char* path) { return unlink_at("unlink", AT_FDCWD, path, 0, pass_unlink); }
USERFS_EXPORT int unlinkat(int dirfd, const char* path, int flags) {
  return unlink_at("unlinkat", dirfd, path, flags, pass_unlinkat);
}

USERFS_EXPORT int rename(const char* oldpath, const char* newpath) {
  return rename_at("rename", AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, pass_rename);
}
USERFS_EXPORT int renameat(int olddir, const char* oldpath, int newdir, const char* newpath) {
  return rename_at("renameat", olddir, oldpath, newdir, newpath, 0, pass_renameat);
}
USERFS_EXPORT int renameat2(int olddir, const char* oldpath, int newdir, const char* newpath, unsigned flags) {
  return rename_at("renameat2", olddir, oldpath, newdir, newpath, flags, pass_renameat2);
}

USERFS_EXPORT mode_t umask(mode_t mask) {
  real::ensure_resolved();
  return ops::umask_changed(real::libc.umask(mask), mask);
}

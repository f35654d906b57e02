// Extended attribute reads. The in-memory filesystem stores none: a read
// on an existing mount file reports ENODATA and a list is empty, which is
// what programs like ls (ACL and SELinux probes) expect of such a file.
#include <sys/xattr.h>

#include "interpose.hpp"

using namespace userfs;
using interpose::passed;
using interpose::passed_fd;

USERFS_EXPORT ssize_t getxattr(const char* path, const char* name, void* value, size_t size) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("getxattr", path, real::libc.getxattr(t.host_path, name, value, size));
  return ops::getxattr("getxattr", t, true);
}

USERFS_EXPORT ssize_t lgetxattr(const char* path, const char* name, void* value, size_t size) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("lgetxattr", path, real::libc.lgetxattr(t.host_path, name, value, size));
  return ops::getxattr("lgetxattr", t, false);
}

USERFS_EXPORT ssize_t fgetxattr(int fd, const char* name, void* value, size_t size) {
  real::ensure_resolved();
  fdt::Info info;
  if (!fdt::lookup(fd, &info)) return passed_fd("fgetxattr", fd, real::libc.fgetxattr(fd, name, value, size));
  return ops::fgetxattr("fgetxattr", fd, info);
}

USERFS_EXPORT ssize_t listxattr(const char* path, char* list, size_t size) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("listxattr", path, real::libc.listxattr(t.host_path, list, size));
  return ops::listxattr("listxattr", t, true);
}

USERFS_EXPORT ssize_t llistxattr(const char* path, char* list, size_t size) {
  real::ensure_resolved();
  route::Target t;
  route::resolve(path, t);
  if (t.route == route::Route::pass) return passed("llistxattr", path, real::libc.llistxattr(t.host_path, list, size));
  return ops::listxattr("llistxattr", t, false);
}

USERFS_EXPORT ssize_t flistxattr(int fd, char* list, size_t size) {
  real::ensure_resolved();
  fdt::Info info;
  if (!fdt::lookup(fd, &info)) return passed_fd("flistxattr", fd, real::libc.flistxattr(fd, list, size));
  return ops::flistxattr("flistxattr", fd, info);
}

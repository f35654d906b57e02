// Extended attributes: get, set, list, remove — by path, without following
// a final symlink (l*), and by fd. The server stores them per inode.
#include <sys/xattr.h>

#include "interpose.hpp"

using namespace userfs;
using interpose::passed;
using interpose::passed_fd;
using interpose::run_fd;
using interpose::run_path;
using route::Target;

USERFS_EXPORT ssize_t getxattr(const char* path, const char* name, void* value, size_t size) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("getxattr", p, real::libc.getxattr(p, name, value, size)); },
      [&](Target& t) { return ops::getxattr("getxattr", t, name, value, size, true); });
}
USERFS_EXPORT ssize_t lgetxattr(const char* path, const char* name, void* value, size_t size) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("lgetxattr", p, real::libc.lgetxattr(p, name, value, size)); },
      [&](Target& t) { return ops::getxattr("lgetxattr", t, name, value, size, false); });
}
USERFS_EXPORT ssize_t fgetxattr(int fd, const char* name, void* value, size_t size) {
  real::ensure_resolved();
  return run_fd(
      fd, [&] { return passed_fd("fgetxattr", fd, real::libc.fgetxattr(fd, name, value, size)); },
      [&](Target& t) { return ops::getxattr("fgetxattr", t, name, value, size, true); });
}

USERFS_EXPORT int setxattr(const char* path, const char* name, const void* value, size_t size, int flags) {
  real::ensure_resolved();
  return run_path(
      path,
      [&](const char* p) { return passed("setxattr", p, real::libc.setxattr(p, name, value, size, flags)); },
      [&](Target& t) { return ops::setxattr("setxattr", t, name, value, size, flags, true); });
}
USERFS_EXPORT int lsetxattr(const char* path, const char* name, const void* value, size_t size, int flags) {
  real::ensure_resolved();
  return run_path(
      path,
      [&](const char* p) { return passed("lsetxattr", p, real::libc.lsetxattr(p, name, value, size, flags)); },
      [&](Target& t) { return ops::setxattr("lsetxattr", t, name, value, size, flags, false); });
}
USERFS_EXPORT int fsetxattr(int fd, const char* name, const void* value, size_t size, int flags) {
  real::ensure_resolved();
  return run_fd(
      fd, [&] { return passed_fd("fsetxattr", fd, real::libc.fsetxattr(fd, name, value, size, flags)); },
      [&](Target& t) { return ops::setxattr("fsetxattr", t, name, value, size, flags, true); });
}

USERFS_EXPORT ssize_t listxattr(const char* path, char* list, size_t size) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("listxattr", p, real::libc.listxattr(p, list, size)); },
      [&](Target& t) { return ops::listxattr("listxattr", t, list, size, true); });
}
USERFS_EXPORT ssize_t llistxattr(const char* path, char* list, size_t size) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("llistxattr", p, real::libc.llistxattr(p, list, size)); },
      [&](Target& t) { return ops::listxattr("llistxattr", t, list, size, false); });
}
USERFS_EXPORT ssize_t flistxattr(int fd, char* list, size_t size) {
  real::ensure_resolved();
  return run_fd(
      fd, [&] { return passed_fd("flistxattr", fd, real::libc.flistxattr(fd, list, size)); },
      [&](Target& t) { return ops::listxattr("flistxattr", t, list, size, true); });
}

USERFS_EXPORT int removexattr(const char* path, const char* name) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("removexattr", p, real::libc.removexattr(p, name)); },
      [&](Target& t) { return ops::removexattr("removexattr", t, name, true); });
}
USERFS_EXPORT int lremovexattr(const char* path, const char* name) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("lremovexattr", p, real::libc.lremovexattr(p, name)); },
      [&](Target& t) { return ops::removexattr("lremovexattr", t, name, false); });
}
USERFS_EXPORT int fremovexattr(int fd, const char* name) {
  real::ensure_resolved();
  return run_fd(
      fd, [&] { return passed_fd("fremovexattr", fd, real::libc.fremovexattr(fd, name)); },
      [&](Target& t) { return ops::removexattr("fremovexattr", t, name, true); });
}

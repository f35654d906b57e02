// The working directory and canonical paths: chdir/fchdir into a mount,
// getcwd and friends reporting it (libc's getcwd is a bare system call,
// which would show the stand-in host directory), realpath (libc walks with
// its own internal lstat/readlink).
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cwd.hpp"
#include "interpose.hpp"

using namespace userfs;
using interpose::passed;
using interpose::passed_fd;
using interpose::run_fd;
using interpose::run_path;
using route::Target;

USERFS_EXPORT int chdir(const char* path) {
  real::ensure_resolved();
  return run_path(
      path,
      [&](const char* p) {
        int r = real::libc.chdir(p);
        if (r == 0) cwd::left();
        return passed("chdir", p, r);
      },
      [&](Target& t) { return ops::chdir("chdir", t); });
}

USERFS_EXPORT int fchdir(int fd) {
  real::ensure_resolved();
  return run_fd(
      fd,
      [&] {
        int r = real::libc.fchdir(fd);
        if (r == 0) cwd::left();
        return passed_fd("fchdir", fd, r);
      },
      [&](Target& t) { return ops::chdir("fchdir", t); }, interpose::PathFd::allowed);
}

USERFS_EXPORT char* getcwd(char* buf, size_t size) {
  real::ensure_resolved();
  uint64_t ino;
  uint32_t generation;
  if (!cwd::in_mount(&ino, &generation)) return passed("getcwd", nullptr, real::libc.getcwd(buf, size));
  return ops::getcwd("getcwd", ino, generation, buf, size);
}

USERFS_EXPORT char* __getcwd_chk(char* buf, size_t size, size_t buflen) {
  if (size > buflen) __builtin_trap();
  return getcwd(buf, size);
}

USERFS_EXPORT char* get_current_dir_name() {
  real::ensure_resolved();
  uint64_t ino;
  uint32_t generation;
  if (!cwd::in_mount(&ino, &generation)) return real::libc.get_current_dir_name();
  return ops::getcwd("get_current_dir_name", ino, generation, nullptr, 0);
}

USERFS_EXPORT char* getwd(char* buf) {
  real::ensure_resolved();
  uint64_t ino;
  uint32_t generation;
  if (!cwd::in_mount(&ino, &generation)) return real::libc.getwd(buf);
  char* r = ops::getcwd("getwd", ino, generation, buf, PATH_MAX);
  if (r == nullptr) strerror_r(errno, buf, 256);  // getwd reports in buf
  return r;
}

USERFS_EXPORT char* realpath(const char* path, char* resolved) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("realpath", p, real::libc.realpath(p, resolved)); },
      [&](Target& t) { return ops::realpath("realpath", t, resolved); });
}

USERFS_EXPORT char* __realpath_chk(const char* path, char* resolved, size_t resolvedlen) {
  if (resolvedlen < PATH_MAX) __builtin_trap();
  return realpath(path, resolved);
}

USERFS_EXPORT char* canonicalize_file_name(const char* path) {
  real::ensure_resolved();
  return run_path(
      path, [&](const char* p) { return passed("canonicalize_file_name", p, real::libc.canonicalize_file_name(p)); },
      [&](Target& t) { return ops::realpath("canonicalize_file_name", t, nullptr); });
}

// Running programs: the exec family (libc's execl*/execvp call its own
// internal execve, so each is caught itself), fexecve, execveat and
// posix_spawn/posix_spawnp. Everything goes through exec::, which keeps
// the shim in the child's environment and runs files stored in a mount.
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "exec.hpp"
#include "interpose.hpp"

extern char** environ;

using namespace userfs;

// execl and friends: collect the variadic arguments into an argv on the
// stack (exec may run in a vfork child: no malloc).
#define USERFS_COLLECT_ARGS(first, last_named)                      \
  size_t argc = 1;                                                 \
  {                                                                \
    va_list count_ap;                                              \
    va_start(count_ap, last_named);                                \
    while (va_arg(count_ap, char*) != nullptr) argc++;             \
    va_end(count_ap);                                              \
  }                                                                \
  char* argv[argc + 1];                                            \
  argv[0] = const_cast<char*>(first);                              \
  va_list ap;                                                      \
  va_start(ap, last_named);                                        \
  for (size_t i = 1; i <= argc; i++) argv[i] = va_arg(ap, char*);  \

USERFS_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  real::ensure_resolved();
  return exec::execve(path, argv, envp);
}
USERFS_EXPORT int execv(const char* path, char* const argv[]) {
  real::ensure_resolved();
  return exec::execve(path, argv, environ);
}
USERFS_EXPORT int execvp(const char* file, char* const argv[]) {
  real::ensure_resolved();
  return exec::execvpe(file, argv, environ);
}
USERFS_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  real::ensure_resolved();
  return exec::execvpe(file, argv, envp);
}
USERFS_EXPORT int execl(const char* path, const char* arg, ...) {
  real::ensure_resolved();
  USERFS_COLLECT_ARGS(arg, arg);
  va_end(ap);
  return exec::execve(path, argv, environ);
}
USERFS_EXPORT int execlp(const char* file, const char* arg, ...) {
  real::ensure_resolved();
  USERFS_COLLECT_ARGS(arg, arg);
  va_end(ap);
  return exec::execvpe(file, argv, environ);
}
USERFS_EXPORT int execle(const char* path, const char* arg, ...) {
  real::ensure_resolved();
  USERFS_COLLECT_ARGS(arg, arg);
  char* const* envp = va_arg(ap, char* const*);
  va_end(ap);
  return exec::execve(path, argv, envp);
}
USERFS_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
  real::ensure_resolved();
  return exec::fexecve(fd, argv, envp);
}
USERFS_EXPORT int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
  real::ensure_resolved();
  if ((flags & AT_EMPTY_PATH) && *path == '\0') return exec::fexecve(dirfd, argv, envp);
  route::Target t;
  route::resolve(dirfd, path, route::EmptyPath::refuse, t);
  if (t.route == route::Route::pass && dirfd != AT_FDCWD && path[0] != '/') {
    // Relative to a host dirfd: only the kernel can resolve it.
    int fd = openat(dirfd, path, O_PATH | O_CLOEXEC | ((flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0));
    if (fd < 0) return -1;
    int r = exec::fexecve(fd, argv, envp);
    close(fd);
    return r;
  }
  if (t.route == route::Route::fail) {
    errno = t.err;
    return -1;
  }
  // An absolute path (host or mount): the routed execve handles both.
  if (path[0] == '/') return exec::execve(path, argv, envp);
  // A mount file relative to a mount dirfd or cwd: run it through an
  // inherited fd of its data (a script's interpreter then reads it there).
  int fd = openat(dirfd, path, O_RDONLY);
  if (fd < 0) return -1;
  char proc[32];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  exec::execve(proc, argv, envp);
  int err = errno;
  close(fd);
  errno = err;
  return -1;
}
USERFS_EXPORT int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                              const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  real::ensure_resolved();
  return exec::spawn(pid, path, actions, attr, argv, envp, false);
}
USERFS_EXPORT int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                               const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  real::ensure_resolved();
  return exec::spawn(pid, file, actions, attr, argv, envp, true);
}

// posix_spawn file actions (see spawn_actions.hpp): actions on host paths
// and host fds pass through; those on mount paths or fds are done or
// recorded here, since the spawned child runs no shim code before exec.
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include "interpose.hpp"
#include "spawn_actions.hpp"

using namespace userfs;
using route::Target;

USERFS_EXPORT int posix_spawn_file_actions_init(posix_spawn_file_actions_t* fa) {
  real::ensure_resolved();
  spawn_actions::forget(fa);  // a new set at the address of one never destroyed
  return real::libc.fa_init(fa);
}

USERFS_EXPORT int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t* fa) {
  real::ensure_resolved();
  spawn_actions::forget(fa);
  return real::libc.fa_destroy(fa);
}

// addopen of a mount path: opened now, handed to the child by dup2.
USERFS_EXPORT int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t* fa, int fd, const char* path, int flags,
                                                   mode_t mode) {
  real::ensure_resolved();
  return interpose::run_path(
      path, [&](const char* p) { return real::libc.fa_addopen(fa, fd, p, flags, mode); },
      [&](Target& t) {
        if (fd < 0) return EBADF;
        int saved = errno;
        int opened = ops::open("posix_spawn_file_actions_addopen", t, flags | O_CLOEXEC, mode);
        int err = errno;
        errno = saved;
        if (t.redirected) return 0;  // run() follows the redirect
        if (opened < 0) {
          spawn_actions::note_error(fa, err);
          return 0;
        }
        spawn_actions::note_owned_fd(fa, opened);
        spawn_actions::note_dup2(fa, opened, fd);
        return real::libc.fa_adddup2(fa, opened, fd);
      });
}

USERFS_EXPORT int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t* fa, const char* path) {
  real::ensure_resolved();
  return interpose::run_path(
      path, [&](const char* p) { return real::libc.fa_addchdir_np(fa, p); },
      [&](Target& t) {
        int saved = errno;
        int dir = ops::standin("posix_spawn_file_actions_addchdir_np", t);
        int err = errno;
        errno = saved;
        if (t.redirected) return 0;
        if (dir < 0) {
          spawn_actions::note_error(fa, err);
          return 0;
        }
        spawn_actions::note_owned_fd(fa, dir);
        return real::libc.fa_addfchdir_np(fa, dir);
      });
}

USERFS_EXPORT int posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t* fa, int fd) {
  real::ensure_resolved();
  return interpose::run_fd(
      fd, [&] { return real::libc.fa_addfchdir_np(fa, fd); },
      [&](Target& t) {
        int saved = errno;
        int dir = ops::standin("posix_spawn_file_actions_addfchdir_np", t);
        int err = errno;
        errno = saved;
        if (dir < 0) {
          spawn_actions::note_error(fa, err);
          return 0;
        }
        spawn_actions::note_owned_fd(fa, dir);
        return real::libc.fa_addfchdir_np(fa, dir);
      },
      interpose::PathFd::allowed);
}

USERFS_EXPORT int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t* fa, int from, int to) {
  real::ensure_resolved();
  int r = real::libc.fa_adddup2(fa, from, to);
  fdt::Info info;
  if (r == 0 && fdt::lookup(from, &info)) spawn_actions::note_dup2(fa, from, to);
  return r;
}

USERFS_EXPORT int posix_spawn_file_actions_addclose(posix_spawn_file_actions_t* fa, int fd) {
  real::ensure_resolved();
  int r = real::libc.fa_addclose(fa, fd);
  if (r == 0 && spawn_actions::has_notes(fa)) spawn_actions::note_close(fa, fd);
  return r;
}

USERFS_EXPORT int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t* fa, int from) {
  real::ensure_resolved();
  int r = real::libc.fa_addclosefrom_np(fa, from);
  if (r == 0 && spawn_actions::has_notes(fa)) spawn_actions::note_closefrom(fa, from);
  return r;
}

// posix_spawn file actions that name mount paths or mount fds. The child
// of posix_spawn runs libc's own code, not the shim, so an action on a
// mount path cannot run there as written. When the program adds one, the
// shim does the mount part at once in the parent and adds a kernel-level
// action instead: addopen becomes an open here plus adddup2, addchdir and
// addfchdir become addfchdir to the directory's host stand-in. What the
// child will hold (dup2 of a mount fd, closes) is noted so the child's
// environment lists its inherited mount fds correctly. A failure is kept
// and returned by posix_spawn, as the child's failure would have been.
#pragma once

#include <spawn.h>

#include <cstddef>

#include "fd_table.hpp"

namespace userfs::spawn_actions {

// Records for one posix_spawn_file_actions_t.
void note_owned_fd(const posix_spawn_file_actions_t* fa, int fd);   // close on destroy
void note_error(const posix_spawn_file_actions_t* fa, int err);     // posix_spawn returns it
void note_dup2(const posix_spawn_file_actions_t* fa, int from, int to);
void note_close(const posix_spawn_file_actions_t* fa, int fd);
void note_closefrom(const posix_spawn_file_actions_t* fa, int from);
// Whether anything is noted for fa (closes matter only then).
bool has_notes(const posix_spawn_file_actions_t* fa);
// Drops everything noted for fa, closing the fds it owns.
void forget(const posix_spawn_file_actions_t* fa);

// The first error noted for fa, or 0.
int error_of(const posix_spawn_file_actions_t* fa);

// How fd `fd` of the parent ends up in the child, given fa: fills the
// child's view of mount fds. Calls fn(child_fd, parent_fd, info) for each.
void child_mount_fds(const posix_spawn_file_actions_t* fa,
                     void (*fn)(int child_fd, int parent_fd, const fdt::Info& info, void* ctx),
                     void* ctx);

}  // namespace userfs::spawn_actions

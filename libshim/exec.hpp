// Running programs: the environment a child gets (the shim and its
// settings survive a trimmed envp; mount fds it inherits keep their
// identity), and execution of files stored in a mount (the kernel cannot
// see them: an ELF runs from its data fd, a #! script through its
// interpreter with the script's own path, as the kernel would).
#pragma once

#include <spawn.h>
#include <sys/types.h>

namespace userfs::exec {

// execve(path) with path routed: a mount file runs as described above;
// anything else goes to the kernel. Returns only on failure (-1, errno).
int execve(const char* path, char* const argv[], char* const envp[]);

// execvpe: PATH search that also looks in mount directories.
int execvpe(const char* file, char* const argv[], char* const envp[]);

// fexecve on any fd, with the child environment fixed up.
int fexecve(int fd, char* const argv[], char* const envp[]);

// posix_spawn/posix_spawnp, with mount files and the environment handled.
// `search` is posix_spawnp's PATH lookup.
int spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions, const posix_spawnattr_t* attr,
          char* const argv[], char* const envp[], bool search);

// Reads USERFS_FDS (set by a parent shim at exec) back into the fd table
// and removes it from the environment. Runs once, at load (from the
// library's one constructor, in init.cpp), when USERFS_FDS is set.
void import_inherited_fds();

}  // namespace userfs::exec

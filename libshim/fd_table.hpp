// Which kernel fds are mount fds, and what they refer to. Indexed by fd
// number in O(1); a lookup of an fd that is not ours touches one pointer.
// Every mount fd is a real kernel fd (file data or a directory
// placeholder), so numbers never clash with the program's own.
#pragma once

#include <cstdint>

namespace userfs::fdt {

// file: the fd is the file's data (a kernel file); dir: a directory
// placeholder; handle: a placeholder for a file whose data the server
// serves (read, write and lseek go over the connection, by `handle`).
enum class Kind : uint8_t { none = 0, file = 1, dir = 2, handle = 3 };

struct Info {
  uint64_t ino = 0;
  Kind kind = Kind::none;
  // Identity when opened: the fallback for fstat once the inode is gone
  // from the namespace (unlinked while open).
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  // Opened with O_PATH: names the object only; fchmod, fgetxattr,
  // fdopendir and friends answer EBADF as the kernel would.
  bool path_only = false;
  // The namespace generation the inode number belongs to (session.hpp).
  uint32_t generation = 0;
  // Kind::handle: the server's id of the open file, and how it was opened
  // (O_ACCMODE bits, O_APPEND), for the checks the kernel would make.
  uint64_t handle = 0;
  uint8_t access = 0;
  bool append = false;
};

// Fills *out and returns true if fd is a mount fd.
bool lookup(int fd, Info* out);
void set(int fd, const Info& info);
void clear(int fd);
// Forgets every fd in [first, last] (close_range).
void clear_range(unsigned first, unsigned last);
// Calls fn(fd, info) for every mount fd (for handing them across exec).
void for_each(void (*fn)(int fd, const Info& info, void* ctx), void* ctx);
// True while no mount fd has ever been recorded (for_each calls nothing).
bool empty();

// dup/dup2/dup3/F_DUPFD: `to` now refers to what `from` does (or to
// nothing of ours).
void copy(int from, int to);

// In a vfork child (which runs in its parent's memory, so the table is the
// parent's, and the child's closes and dups are left out of it): the
// parent's pid. Otherwise 0.
int vfork_parent();

}  // namespace userfs::fdt

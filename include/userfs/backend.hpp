// The filesystem interface: what a userfs backend implements.
//
// In the spirit of libfuse's low-level operations table: every method works
// on inode numbers, not paths, and answers 0 or a negative errno. A method a
// backend does not override answers -ENOSYS, which the client sees as that
// errno (a read-only backend overrides read_only() instead, and every
// change is refused with EROFS before it reaches the backend); the
// extended-attribute methods answer -EOPNOTSUPP instead (see there).
//
// What the server's path layer (the VFS) does for every backend, so a
// backend need not:
//   - splits paths and walks them component by component with lookup();
//     ".", "..", trailing '/', symlinks (with readlink(); at most 40) and
//     walks that leave the mount (absolute targets, ".." at the root) are
//     handled above the backend;
//   - checks permissions from the attributes getattr()/lookup() report
//     (search on every directory walked, write on the parent to create or
//     remove, the sticky bit, owner-only chmod/utimes, root's exemptions):
//     like a FUSE filesystem mounted with default_permissions;
//   - checks names: never empty, ".", "..", longer than 255 bytes or
//     containing '/' when they reach a backend;
//   - checks types where POSIX fixes the error (rmdir of a file is ENOTDIR,
//     unlink of a directory EISDIR, rename of a directory over a file
//     ENOTDIR and the reverse EISDIR, a directory into its own subtree
//     EINVAL, O_DIRECTORY on a file ENOTDIR, writing a directory EISDIR);
//   - chooses the owner, group and mode of a new node (the caller's ids,
//     the parent's group under a setgid directory, umask already applied);
//   - opens directories itself (a client's directory fd is a handle the
//     server makes) and lists them through readdir();
//   - sets st_dev, and makes inode numbers unique across mounts.
// So a backend checks only what it alone knows: whether a name exists
// (EEXIST, ENOENT), whether a directory is empty (ENOTEMPTY), space
// (ENOSPC), and its own limits.
//
// Inode numbers are the backend's own: any uint64 except 0, at most
// kMaxBackendIno, with kRootIno (1) its root directory. A number names one
// object for as long as the object exists; numbers clients hold (open
// files, current directories) arrive back in getattr(), readdir() and as
// the start of walks at any later time, so a backend must be able to find
// every object it has ever named while it exists, and answer ENOENT (or
// ESTALE) once it is gone.
//
// The server is single-threaded: methods are never called concurrently,
// and may block only as long as the filesystem they serve does.
//
// Writing one: see docs/writing-a-backend.md and examples/hello.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "userfs/protocol.hpp"

namespace userfs {

// Bumped whenever Backend's layout or meaning changes; a plugin built
// against another version is refused at load.
inline constexpr uint32_t kBackendAbi = 2;

inline constexpr uint64_t kRootIno = proto::kRootIno;
// Inode numbers above this are reserved (the server tags each mount's
// numbers with the mount in the top 8 bits).
inline constexpr uint64_t kMaxBackendIno = (uint64_t{1} << 56) - 1;

// What st_mode, st_nlink, sizes and times a backend reports: the wire
// attributes. A backend fills every field but `dev` (the server's).
using Attr = proto::Attr;

// A node to create: the server has chosen its owner and permission bits
// (mode holds permission bits only, 07777; the type is the method's).
struct NewNode {
  uint32_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// setattr: proto::kSet* bits in `valid` say which fields apply. "Now" times
// (kSetAtimeNow, kSetMtimeNow) arrive as explicit times already read from
// CLOCK_REALTIME, with kSetAtime/kSetMtime set instead. The permission
// checks (and the setuid/setgid clearing rules of chown and chmod, folded
// into `mode` with kSetMode) are done.
struct SetattrIn {
  uint32_t valid = 0;
  uint32_t mode = 0;  // permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  uint64_t size = 0;
  timespec atime{}, mtime{};
};

// What open() and create() give back: one of
//   fd      a kernel file descriptor with the file's data, a new open file
//           description with the access mode and status flags asked for
//           (its own offset and O_APPEND). The client reads and writes it
//           directly, at kernel speed, and it is inherited across fork and
//           exec like any fd. The server closes its copy after sending.
//   handle  (fd == -1) a number of the backend's choosing for data it
//           serves itself: the client's read/write/pread/pwrite/lseek on
//           the file come back as read() and write() with this handle, and
//           release() says when the last process holding it closed it.
// A backend may mix the two per file.
struct Opened {
  int fd = -1;
  uint64_t handle = 0;
  // With a handle: the client may not mmap or exec it (there is no kernel
  // file behind it) and sees ENODEV / EACCES as for such files on Linux.
};

// readdir() hands entries to this one at a time.
class DirFiller {
 public:
  // `cookie` is what readdir() must accept to continue after this entry:
  // any value but 0, 1 and 2 (the server's start, "." and ".."). Returns
  // false when the reply is full: that entry was not taken; stop and return
  // 0, and the client continues from the previous entry's cookie.
  virtual bool add(std::string_view name, uint64_t ino, uint8_t dtype, uint64_t cookie) = 0;

 protected:
  ~DirFiller() = default;
};

// Told of every change by a backend that can report them (see
// Backend::set_change_listener). Each call names something the server
// reads again (lookup(), getattr()) before it replies to the request that
// caused it, so a call may name something that then turns out unchanged.
class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
  // The name in directory `dir` was added, removed or now leads elsewhere.
  virtual void name_changed(uint64_t dir, std::string_view name) = 0;
  // Some attribute of `ino` changed (or the inode went).
  virtual void attr_changed(uint64_t ino) = 0;
  // A client got an fd that can write `ino`'s data: its size and times may
  // now change unseen, until Backend::data_quiet() says otherwise.
  virtual void data_writable(uint64_t ino) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // A read-only filesystem: every change (create, mkdir, unlink, rename,
  // link, symlink, setattr, setxattr, removexattr, open for writing or with
  // O_TRUNC) is refused with EROFS before it reaches the backend.
  virtual bool read_only() const { return false; }

  // --- names ---------------------------------------------------------------

  // The entry `name` in directory `parent`, or `..`: the directory's parent
  // (never asked of the root; the server handles ".." there).
  //   ENOENT  no such entry; ENOTDIR  parent is not a directory
  virtual int lookup(uint64_t parent, std::string_view name, Attr& out) {
    (void)parent, (void)name, (void)out;
    return -ENOSYS;
  }

  // Attributes by inode number. ENOENT (or ESTALE) once the object is gone.
  virtual int getattr(uint64_t ino, Attr& out) {
    (void)ino, (void)out;
    return -ENOSYS;
  }

  // Applies the changes `in.valid` names (permission checks are done; see
  // SetattrIn) and sets ctime; `out` gets the attributes after.
  //   EFBIG  size too large for the backend
  virtual int setattr(uint64_t ino, const SetattrIn& in, Attr& out) {
    (void)ino, (void)in, (void)out;
    return -ENOSYS;
  }

  // A new directory. EEXIST if the name exists; ENOSPC; EMLINK.
  virtual int mkdir(uint64_t parent, std::string_view name, const NewNode& node, Attr& out) {
    (void)parent, (void)name, (void)node, (void)out;
    return -ENOSYS;
  }

  // A new empty regular file (mknod with S_IFREG; other types are refused
  // above). EEXIST; ENOSPC.
  virtual int mknod(uint64_t parent, std::string_view name, const NewNode& node, Attr& out) {
    (void)parent, (void)name, (void)node, (void)out;
    return -ENOSYS;
  }

  // A new regular file, opened (open with O_CREAT when the name was
  // missing). `flags` are proto::kOpen* bits (access mode, kOpenAppend,
  // kOpenNonBlock, kOpenSync, kOpenDsync). EEXIST if the name exists by
  // now; ENOSPC.
  virtual int create(uint64_t parent, std::string_view name, const NewNode& node, uint32_t flags, Attr& out,
                     Opened& opened) {
    (void)parent, (void)name, (void)node, (void)flags, (void)out, (void)opened;
    return -ENOSYS;
  }

  // A symlink holding `target` (1..4095 bytes, never interpreted here).
  // Its mode is 0777 whatever node.mode says. EEXIST; ENOSPC.
  virtual int symlink(std::string_view target, uint64_t parent, std::string_view name, const NewNode& node,
                      Attr& out) {
    (void)target, (void)parent, (void)name, (void)node, (void)out;
    return -ENOSYS;
  }

  // The target of symlink `ino`. EINVAL if it is not a symlink.
  virtual int readlink(uint64_t ino, std::string& out) {
    (void)ino, (void)out;
    return -ENOSYS;
  }

  // A new name for non-directory `ino`. EEXIST; EMLINK; ENOSPC.
  virtual int link(uint64_t ino, uint64_t new_parent, std::string_view new_name, Attr& out) {
    (void)ino, (void)new_parent, (void)new_name, (void)out;
    return -ENOSYS;
  }

  // Removes a non-directory's name. ENOENT.
  virtual int unlink(uint64_t parent, std::string_view name) {
    (void)parent, (void)name;
    return -ENOSYS;
  }

  // Removes an empty directory. ENOENT; ENOTEMPTY.
  virtual int rmdir(uint64_t parent, std::string_view name) {
    (void)parent, (void)name;
    return -ENOSYS;
  }

  // Moves `name` in `parent` to `new_name` in `new_parent`, replacing what
  // is there (the server checked the types match). flags:
  // proto::kRenameNoReplace (EEXIST if the target exists),
  // proto::kRenameExchange (swap the two; ENOENT if the target is missing).
  //   ENOENT  the source is missing; ENOTEMPTY  the target is a non-empty
  //   directory. Renaming an object onto itself changes nothing.
  virtual int rename(uint64_t parent, std::string_view name, uint64_t new_parent, std::string_view new_name,
                     uint32_t flags) {
    (void)parent, (void)name, (void)new_parent, (void)new_name, (void)flags;
    return -ENOSYS;
  }

  // --- file data -------------------------------------------------------------

  // Opens regular file `ino`; `flags` are proto::kOpen* bits: the access
  // mode, kOpenTrunc (truncate to 0 first; permission is checked),
  // kOpenAppend, kOpenNonBlock, kOpenSync, kOpenDsync, kOpenPath (an fd
  // that only names the file: a backend without one answers ENOSYS and the
  // client gets EOPNOTSUPP). See Opened.
  virtual int open(uint64_t ino, uint32_t flags, Opened& out) {
    (void)ino, (void)flags, (void)out;
    return -ENOSYS;
  }

  // Handle files only. Up to `size` bytes at `offset` appended to `out`;
  // fewer (or none) at the end of the file.
  virtual int read(uint64_t ino, uint64_t handle, uint64_t offset, size_t size, std::string& out) {
    (void)ino, (void)handle, (void)offset, (void)size, (void)out;
    return -ENOSYS;
  }

  // Handle files only. Writes `data` at `offset`; `written` gets the bytes
  // taken (all of them unless ENOSPC-like limits apply).
  virtual int write(uint64_t ino, uint64_t handle, uint64_t offset, std::string_view data, size_t& written) {
    (void)ino, (void)handle, (void)offset, (void)data, (void)written;
    return -ENOSYS;
  }

  // Handle files only: no process holds the handle any more.
  virtual void release(uint64_t ino, uint64_t handle) { (void)ino, (void)handle; }

  // fsync/fdatasync of `ino`, or (ino 0) everything: changes acknowledged
  // so far made durable. A backend with nothing to make durable answers 0.
  virtual int fsync(uint64_t ino, bool datasync) {
    (void)ino, (void)datasync;
    return 0;
  }

  // --- directories -----------------------------------------------------------

  // Entries of directory `ino` (not "." and "..") after `cookie` (0: from
  // the start), handed to `fill` until it returns false or the listing ends.
  // Entries neither added nor removed during a listing are listed once.
  //   ENOTDIR  not a directory; ENOENT  gone
  virtual int readdir(uint64_t ino, uint64_t cookie, DirFiller& fill) {
    (void)ino, (void)cookie, (void)fill;
    return -ENOSYS;
  }

  // The name directory `ino` has in its parent, for getcwd and realpath.
  // Optional: without it the server searches the parent with readdir().
  virtual int name_in_parent(uint64_t ino, std::string& out) {
    (void)ino, (void)out;
    return -ENOSYS;
  }

  // --- the filesystem --------------------------------------------------------

  // Capacity for statfs; `fsid` is the server's. Unset fields report 0.
  virtual int statfs(proto::StatfsRep& out) {
    (void)out;
    return -ENOSYS;
  }

  // --- publishing (optional) -------------------------------------------------
  // A backend whose tree changes only through these calls, and that tells
  // `listener` of every change it makes (until called again with nullptr),
  // answers true: the server then publishes the tree in the shared lookup
  // table, and clients stat and open without asking the server. The
  // default, false, has every lookup asked of the server (right for a tree
  // others can change, like a host directory).
  virtual bool set_change_listener(ChangeListener* listener) {
    (void)listener;
    return false;
  }
  // For a regular file clients write through their own fds: true when no
  // open file anywhere can write it now, so the size and times getattr()
  // reports hold until the next open for writing (which the server sees).
  virtual bool data_quiet(uint64_t ino) {
    (void)ino;
    return false;
  }
  // For a regular file served by fd: an fd of this process whose reopen
  // (through /proc) gives a new open of the file's data, valid as long as
  // the inode lives; -1 if there is none. The table publishes it so that
  // clients open files for reading without asking the server.
  virtual int data_source(uint64_t ino) {
    (void)ino;
    return -1;
  }

  // --- extended attributes ---------------------------------------------------
  // The server checks the namespace (user., trusted., security.) and the
  // caller's permission. Without them a backend answers EOPNOTSUPP, as a
  // Linux filesystem without extended attributes does: programs expect it
  // and carry on (ls -l asks every file for its security label, cp -a
  // copies attributes), where ENOSYS would be reported as an error.

  // ENODATA  no such attribute
  virtual int getxattr(uint64_t ino, std::string_view name, std::string& out) {
    (void)ino, (void)name, (void)out;
    return -EOPNOTSUPP;
  }
  // xflags: proto::kXattrCreate (EEXIST if present), kXattrReplace
  // (ENODATA if missing). ENOSPC.
  virtual int setxattr(uint64_t ino, std::string_view name, std::string_view value, uint32_t xflags) {
    (void)ino, (void)name, (void)value, (void)xflags;
    return -EOPNOTSUPP;
  }
  // Every name, each followed by a NUL.
  virtual int listxattr(uint64_t ino, std::string& out) {
    (void)ino, (void)out;
    return -EOPNOTSUPP;
  }
  // ENODATA  no such attribute
  virtual int removexattr(uint64_t ino, std::string_view name) {
    (void)ino, (void)name;
    return -EOPNOTSUPP;
  }
};

}  // namespace userfs

// A backend built as a shared library (a plugin, mounted with
// "so:/path/to/lib.so[:argument]") exports these two, with C linkage:
//
//   extern "C" uint32_t userfs_backend_abi() { return userfs::kBackendAbi; }
//   extern "C" userfs::Backend* userfs_backend_create(const char* argument,
//                                                     char* error, size_t error_size);
//
// create returns a new backend (the server deletes it at exit), or null
// with a message in `error` the server prints before refusing to start.

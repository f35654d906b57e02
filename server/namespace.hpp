// The in-memory filesystem: a table of inodes and the POSIX operations on
// it. Pure logic, no sockets: the dispatcher decodes requests and calls in
// here; tests call in directly.
//
// Every operation returns 0 or a negative errno (like libfuse's
// passthrough_hp do_* helpers) and states its errors. The server is single
// threaded, so there is no locking.
//
// File data lives in one memfd per regular file ("userfs:<ino>", the name the
// shim recognises). The server keeps only a read-only reference, because a
// process exec'ing a file that anyone holds open for writing may get
// ETXTBSY; each client open is a fresh reopen through /proc/self/fd, so it
// has its own offset, access mode and O_APPEND.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "unique_fd.hpp"
#include "userfs/protocol.hpp"

namespace userfs::server {

// Who is asking: permission checks use these (read from SO_PEERCRED and
// /proc/<pid>/status when the client connects).
struct Cred {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
};

enum class FileType : uint8_t { directory, regular, symlink };
enum class Follow : uint8_t { no, yes };  // follow a final symlink?

inline constexpr int kMaxSymlinkHops = 40;  // Linux's MAXSYMLINKS
inline constexpr uint32_t kBlockSize = 4096;

struct Inode {
  struct Entry {
    uint64_t ino;
    uint64_t cookie;  // insertion sequence number, the readdir cookie
  };

  uint64_t ino = 0;
  FileType type = FileType::regular;
  uint32_t mode = 0;  // st_mode: type and permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  uint32_t nlink = 1;  // non-directories; a directory's is 2 + subdirs
  timespec atime{}, mtime{}, ctime{}, btime{};

  // Regular file: read-only reference to the data memfd. Unused for
  // directories (see Namespace::open_dir_handle).
  UniqueFd data;

  // Directories.
  uint64_t parent = 0;  // for ".."; the root is its own parent
  std::map<std::string, Entry, std::less<>> entries;
  std::map<uint64_t, std::string> by_cookie;  // cookie -> name, for readdir
  uint64_t next_cookie = 3;                   // 1 is ".", 2 is ".."
  uint32_t subdirs = 0;

  // Symlinks.
  std::string target;
};

struct OpenResult {
  proto::Attr attr{};
  UniqueFd fd;  // to send to the client; a new open file description
};

struct Counts {
  uint64_t inodes = 0, directories = 0, files = 0, symlinks = 0, bytes = 0;
};

class Namespace {
 public:
  // `dev` is the st_dev every inode reports. Creates the root directory
  // (mode 0755 | S_IFDIR owned by root_owner).
  Namespace(uint64_t dev, uid_t root_uid, gid_t root_gid, uint32_t root_mode = 0755);
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  uint64_t dev() const { return dev_; }

  // Common to every path operation (`base` is proto::kBaseRoot or a
  // directory's inode number; a path starting with '/' ignores it; "" and
  // "/" name the base itself):
  //   ENOENT  base unknown or removed, or a component is missing
  //   ENOTDIR base or an intermediate component is not a directory, or a
  //           trailing '/' follows a non-directory
  //   EACCES  search (x) permission denied on a directory walked
  //   ENAMETOOLONG  a component > 255 bytes, or the path >= 4096 bytes
  //   ELOOP   more than 40 symlinks followed

  // stat by path. kNoFollow: do not follow a final symlink.
  int lookup(uint64_t base, std::string_view path, Follow follow, const Cred& cred, proto::Attr& out);

  // stat by inode number. ENOENT if unknown or removed.
  int getattr(uint64_t ino, proto::Attr& out) const;

  // Opens (and with kOpenCreate creates) a file or directory; `flags` are
  // proto::kOpen* bits, already validated by the caller; `mode` is the
  // permission bits for a created file.
  //   EEXIST  kOpenCreate|kOpenExcl and the name exists (even as a symlink)
  //   EISDIR  a directory opened for writing or with O_TRUNC, or with
  //           kOpenCreate; or a create whose name ends in '/'
  //   ENOTDIR kOpenDirectory on a non-directory
  //   ELOOP   kOpenNoFollow and the final component is a symlink
  //   EACCES  read/write permission on the file, or write on the parent
  //           to create
  //   EINVAL  kOpenCreate together with kOpenDirectory (as Linux >= 6.4)
  //   EMFILE/ENFILE/ENOMEM  from the kernel reopening the memfd
  int open(uint64_t base, std::string_view path, uint32_t flags, uint32_t mode, const Cred& cred,
           OpenResult& out);

  //   EEXIST  the name exists (also for "" and "/", "." and "..")
  //   EACCES  no write+search permission on the parent
  int mkdir(uint64_t base, std::string_view path, uint32_t mode, const Cred& cred);

  // Without kUnlinkRemoveDir: unlink; EISDIR for a directory.
  // With kUnlinkRemoveDir: rmdir; ENOTDIR for a non-directory, ENOTEMPTY,
  // EBUSY for the base/root itself, EINVAL for a final ".", ENOTEMPTY
  // for a final "..".
  //   EACCES  no write+search permission on the parent
  //   EPERM   sticky parent and the caller owns neither it nor the entry
  int unlink(uint64_t base, std::string_view path, uint32_t flags, const Cred& cred);

  // flags: kRenameNoReplace, kRenameExchange (not both: EINVAL).
  //   EISDIR    a file over a directory
  //   ENOTDIR   a directory over a file
  //   ENOTEMPTY the target is a non-empty directory
  //   EINVAL    moving a directory into its own subtree
  //   EEXIST    kRenameNoReplace and the target exists
  //   ENOENT    kRenameExchange and the target is missing
  //   EBUSY     either final component is ".", ".." or empty
  //   EACCES/EPERM  as unlink, on both parents
  // Renaming a name onto itself (or a hard link of itself) succeeds and
  // changes nothing.
  int rename(uint64_t old_base, std::string_view old_path, uint64_t new_base,
             std::string_view new_path, uint32_t flags, const Cred& cred);

  // Writes a proto::ReaddirRep then entries with cookie > `cookie`, in
  // cookie order, into buf until the next entry does not fit. `used` gets
  // the bytes written. ENOENT unknown inode, ENOTDIR not a directory,
  // EINVAL cap smaller than a ReaddirRep.
  int readdir(uint64_t ino, uint64_t cookie, void* buf, size_t cap, size_t& used) const;

  // access(2): mode is F_OK or a mask of R_OK|W_OK|X_OK. EACCES if denied.
  int access(uint64_t base, std::string_view path, uint32_t mode, Follow follow, const Cred& cred);

  // Symlinks: not on the wire yet (protocol v1), but resolution follows
  // them, so they exist here for the next protocol version and for tests.
  //   EEXIST the name exists; EACCES as mkdir; ENOENT empty target.
  int symlink(std::string_view target, uint64_t base, std::string_view path, const Cred& cred);
  //   EINVAL not a symlink.
  int readlink(uint64_t base, std::string_view path, const Cred& cred, std::string& out);

  Counts counts() const;

 private:
  enum class LastKind : uint8_t { none, name, dot, dotdot };
  // A path walked up to its last component.
  struct Walk {
    Inode* dir = nullptr;   // holds the last component; or the node itself when kind != name
    std::string_view name;  // the last component, when kind == name
    LastKind kind = LastKind::none;
    bool trailing_slash = false;  // the final object must be a directory
  };

  Inode* find(uint64_t ino) const;
  Inode* child(const Inode& dir, std::string_view name) const;
  Inode* parent_of(const Inode& dir) const;

  int start_dir(uint64_t base, std::string_view path, Inode*& out) const;
  int walk(uint64_t base, std::string_view path, const Cred& cred, int& hops, Walk& out);
  int walk_from(Inode* start, std::string_view path, const Cred& cred, int& hops, Walk& out);
  int finish(const Walk& w, Follow follow, const Cred& cred, int& hops, Inode*& out);
  int resolve(uint64_t base, std::string_view path, Follow follow, const Cred& cred, Inode*& out);

  bool permits(const Inode& n, const Cred& cred, int mask) const;
  int may_modify_dir(const Inode& dir, const Cred& cred) const;
  int may_delete(const Inode& dir, const Inode& victim, const Cred& cred) const;

  Inode& new_inode(FileType type, uint32_t perm_bits, const Cred& cred);
  int ensure_data(Inode& n);
  void add_entry(Inode& dir, std::string_view name, Inode& node);
  void remove_entry(Inode& dir, std::string_view name);
  void drop_link(Inode& node);
  proto::Attr attr_of(const Inode& n) const;

  // Handle a client gets for an open directory: a reopen of one empty,
  // already-deleted host directory, so the kernel itself answers read()
  // with EISDIR and getdents with nothing; the shim lists the directory.
  int open_dir_handle();

  uint64_t dev_;
  UniqueFd empty_dir_;
  uint64_t next_ino_ = proto::kRootIno;
  std::unordered_map<uint64_t, std::unique_ptr<Inode>> table_;
  Inode* root_ = nullptr;
};

}  // namespace userfs::server

// The "dir:PATH" backend: a host directory served through a mount.
//
// File data never passes through the server: open() and create() hand the
// client a kernel fd of the backing file. Nothing outside PATH is ever
// reached, whatever the names, the symlinks or changes made on the host
// meanwhile:
//   - every object is found again from the root fd we hold, by the names we
//     recorded, with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//     RESOLVE_NO_MAGICLINKS) and O_PATH|O_NOFOLLOW, and must still be the
//     same host object (st_dev, st_ino, birth time), else it is gone
//     (ENOENT). A directory moved out of PATH on the host, or swapped for a
//     symlink, is therefore never entered again: held fds would follow it.
//   - names reach the host one component at a time, relative to a
//     directory fd found that way; names with '/' or NUL, "." and ".." are
//     refused, and ".." is answered from our records;
//   - symlinks are read, never followed (the path layer above follows them).
//
// Inode numbers: a host inode on PATH's own filesystem is numbered
// st_ino + 1 (PATH itself is 1), so readdir() reports the numbers lookup()
// will, without recording every entry listed. Objects on other filesystems
// mounted below PATH, or with huge host numbers, get numbers from a counter
// in the top half of the range. Every object looked up is recorded (its
// parent's number and its name): that is how it is found again, and it is
// forgotten when removed through the mount. An object renamed on the host
// behind our back is ENOENT by its old name until it is looked up by the
// new one.
//
// readdir cookies are the host directory's offsets, numbered per directory
// in the order first seen: small, and valid while the server runs.
//
// A file opened through the mount and then unlinked stays reachable by its
// number (fstat, fchmod of the open file) while we hold its O_PATH fd: the
// last kMaxOpenCache files opened are kept.
//
// New nodes take the owner and group the path layer chose when the server
// may chown (it runs as root); otherwise they keep the server's ids, as
// any file the server's user creates.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "unique_fd.hpp"
#include "userfs/backend.hpp"

namespace userfs::server {

class DirBackend final : public Backend {
 public:
  // The backend for host directory `root`, or null with a message in
  // `error` (missing, not a directory, not readable, no openat2).
  static std::unique_ptr<DirBackend> open(const std::string& root, std::string& error);

  int lookup(uint64_t parent, std::string_view name, Attr& out) override;
  int getattr(uint64_t ino, Attr& out) override;
  int setattr(uint64_t ino, const SetattrIn& in, Attr& out) override;
  int mkdir(uint64_t parent, std::string_view name, const NewNode& node, Attr& out) override;
  int mknod(uint64_t parent, std::string_view name, const NewNode& node, Attr& out) override;
  int create(uint64_t parent, std::string_view name, const NewNode& node, uint32_t flags, Attr& out,
             Opened& opened) override;
  int symlink(std::string_view target, uint64_t parent, std::string_view name, const NewNode& node,
              Attr& out) override;
  int readlink(uint64_t ino, std::string& out) override;
  int link(uint64_t ino, uint64_t new_parent, std::string_view new_name, Attr& out) override;
  int unlink(uint64_t parent, std::string_view name) override;
  int rmdir(uint64_t parent, std::string_view name) override;
  int rename(uint64_t parent, std::string_view name, uint64_t new_parent, std::string_view new_name,
             uint32_t flags) override;
  int open(uint64_t ino, uint32_t flags, Opened& out) override;
  int fsync(uint64_t ino, bool datasync) override;
  int readdir(uint64_t ino, uint64_t cookie, DirFiller& fill) override;
  int name_in_parent(uint64_t ino, std::string& out) override;
  int statfs(proto::StatfsRep& out) override;
  int getxattr(uint64_t ino, std::string_view name, std::string& out) override;
  int setxattr(uint64_t ino, std::string_view name, std::string_view value, uint32_t xflags) override;
  int listxattr(uint64_t ino, std::string& out) override;
  int removexattr(uint64_t ino, std::string_view name) override;

  // How many opened files keep an O_PATH fd (see above).
  static constexpr size_t kMaxOpenCache = 1024;

 private:
  // What identifies a host object: a reused inode number has another
  // birth time (where the filesystem records one).
  struct HostId {
    uint64_t dev = 0;
    uint64_t ino = 0;
    int64_t btime_sec = 0;
    uint32_t btime_nsec = 0;
    bool operator==(const HostId&) const = default;
  };
  struct Node {
    uint64_t parent = 0;
    std::string name;
    HostId id;
    uint32_t type = 0;  // S_IFMT bits
  };
  // An O_PATH fd of an object, checked to be the one asked for.
  struct Found {
    UniqueFd fd;
    struct statx st {};
  };

  explicit DirBackend(UniqueFd root);

  uint64_t number_for(uint64_t dev, uint64_t host_ino);
  void remember(uint64_t ino, uint64_t parent, std::string_view name, const struct statx& st);
  void forget(uint64_t ino);
  int find(uint64_t ino, Found& out);
  int find_dir(uint64_t ino, Found& out);
  int walk_from_root(uint64_t ino, UniqueFd& out);
  int child(int dir_fd, uint64_t parent, std::string_view name, Found& out);
  int finish_new(int dir_fd, uint64_t parent, std::string_view name, const NewNode& node, bool set_mode,
                 Found& made, Attr& out);
  void keep_open(uint64_t ino, int fd);
  void attr_of(uint64_t ino, const struct statx& st, Attr& out) const;

  UniqueFd root_;
  HostId root_id_;
  std::unordered_map<uint64_t, Node> nodes_;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> other_numbers_;
  uint64_t next_other_number_;
  // readdir cookies: the host's directory offsets (64-bit hashes on ext4)
  // numbered per directory in the order first met, so cookies stay small
  // (clients keep them as a directory fd's file offset) and stable.
  struct Cookies {
    std::vector<int64_t> host_offsets;
    std::unordered_map<int64_t, uint64_t> numbers;
  };
  std::unordered_map<uint64_t, Cookies> cookies_;
  std::list<std::pair<uint64_t, UniqueFd>> open_cache_;  // most recent first
  std::unordered_map<uint64_t, std::list<std::pair<uint64_t, UniqueFd>>::iterator> open_cache_index_;
};

}  // namespace userfs::server

// An archive's table of contents, and one member's data on demand: what a
// read-only mount of a tar (plain or compressed) or zip file needs. Built on
// libarchive, which detects the format and the compression itself.
//
// Loading reads every header once and keeps the members by path; data is
// not read until extract() asks for it, which streams the archive again up
// to that member (compressed streams cannot seek), so a caller materialises
// each file once and keeps the result.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace userfs::server {

struct ArchiveMember {
  // Relative, '/'-separated, with no empty, "." or ".." component and no
  // trailing '/'. The archive's root itself is not a member.
  std::string path;
  uint32_t mode = 0;  // st_mode: S_IFREG, S_IFDIR or S_IFLNK, and permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  timespec mtime{};
  uint64_t size = 0;   // regular files: bytes of data
  std::string target;  // symlinks: the target, as stored
  // Regular files: the position in the archive's stream of the header whose
  // data this file holds; a hard link's is that of the member it names.
  size_t data_ordinal = 0;
  // Members that share data (hard links) share a link_group; nlink is the
  // group's size.
  size_t link_group = 0;
  uint32_t nlink = 1;
  bool implicit = false;  // a directory the archive never listed, made for its children
};

class ArchiveIndex {
 public:
  // Reads every header of `file`. As tar extraction does, a later member
  // replaces an earlier one of the same path, a leading '/' is dropped, and
  // parents the archive does not list are made as directories (mode 0755,
  // owned and dated as the archive file). Members that cannot be shown are
  // left out and named in skipped(): a ".." component, a special file
  // (fifo, device, socket), a hard link to a member that is not a regular
  // file, a path under a non-directory.
  // Returns 0, or -errno with `why` set: the open's errno for the file;
  // EINVAL when libarchive recognises no archive, or a header is damaged.
  static int load(const std::string& file, ArchiveIndex& out, std::string& why);

  // In the archive's order, directories before their children.
  const std::vector<ArchiveMember>& members() const { return members_; }
  const std::vector<std::string>& skipped() const { return skipped_; }
  // The archive's own entry for its root directory ("./"), if it has one:
  // the mode, owner and mtime `tar xf` gives the directory it extracts into.
  const ArchiveMember* root() const { return has_root_ ? &root_ : nullptr; }
  // nullptr if no such member.
  const ArchiveMember* find(std::string_view path) const;
  const std::string& file() const { return file_; }

  // Writes the data of regular-file member `m` to `fd` from its current
  // offset. 0, or -errno (EIO with `why` set when the archive is damaged or
  // changed since load; the write's errno).
  int extract(const ArchiveMember& m, int fd, std::string& why) const;

  // Extraction that goes on from where the last one stopped when the next
  // member comes later in the archive: members asked for in the archive's
  // order cost one pass over a compressed stream, not one each.
  class Cursor {
   public:
    explicit Cursor(const ArchiveIndex& index);
    ~Cursor();
    Cursor(const Cursor&) = delete;
    Cursor& operator=(const Cursor&) = delete;
    // As ArchiveIndex::extract.
    int extract(const ArchiveMember& m, int fd, std::string& why);

   private:
    struct Stream;
    const ArchiveIndex& index_;
    std::unique_ptr<Stream> stream_;
  };

 private:
  std::string file_;
  std::vector<ArchiveMember> members_;
  std::unordered_map<std::string, size_t> by_path_;
  std::vector<std::string> skipped_;
  bool has_root_ = false;
  ArchiveMember root_;
};

// The normal form of an archive member name (see ArchiveMember::path):
// false for a name with a ".." component, or one that is empty after
// normalising ("./", "/").
bool normalise_member_path(std::string_view name, std::string& out);

}  // namespace userfs::server

// tar:FILE — a read-only mount of a tar (plain, gzip, xz, ...) or zip
// archive, over ArchiveIndex.
//
// The tree is built once from the archive's headers. Inode numbers are
// fixed by the archive: the root is kRootIno, every other object is its
// ArchiveIndex link group + 2, so hard links share one inode.
//
// A regular file's data is materialised on its first open into a sealed
// memfd ("userfs:<ino>"; no write, grow, shrink or further seals), which
// is kept for later opens while the memfds together stay within a byte
// budget (the least recently opened go first; clients keep the fds they
// were given). Each open hands out a fresh O_RDONLY open file description
// of that memfd. Data is read by one ArchiveIndex::Cursor, and directories
// list in the archive's order, so a walk of the tree (find, tar cf, cp -r)
// reads a compressed archive once instead of once per file.
//
// The archive may change on disk while mounted. The backend keeps the fd it
// indexed open and reads members through it, so an archive renamed over or
// deleted keeps serving what was indexed; one rewritten in place (same
// file, new size or mtime) is noticed before a member is read, and opens
// of files not yet materialised fail with EIO (logged), while files already
// materialised keep their data.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "archive_index.hpp"
#include "unique_fd.hpp"
#include "userfs/backend.hpp"

namespace userfs::server {

class TarBackend final : public userfs::Backend {
 public:
  // Bytes of materialised data kept cached by default.
  static constexpr uint64_t kDefaultCacheBudget = uint64_t{256} << 20;

  // Indexes `archive_path`; null with `error` set ("<path>: <reason>") when
  // the file is missing or unreadable, is a directory, is not an archive
  // libarchive recognises, or its headers are damaged.
  static std::unique_ptr<TarBackend> open(const std::string& archive_path, std::string& error,
                                          uint64_t cache_budget = kDefaultCacheBudget);

  // Members the archive holds but the mount does not show, each as
  // "<name>: <reason>" (see ArchiveIndex::load).
  const std::vector<std::string>& skipped() const { return index_.skipped(); }
  // Bytes of materialised data held now (for tests of the budget).
  uint64_t cached_bytes() const { return cached_bytes_; }

  bool read_only() const override { return true; }
  int lookup(uint64_t parent, std::string_view name, Attr& out) override;
  int getattr(uint64_t ino, Attr& out) override;
  int readlink(uint64_t ino, std::string& out) override;
  int open(uint64_t ino, uint32_t flags, Opened& out) override;
  int readdir(uint64_t ino, uint64_t cookie, DirFiller& fill) override;
  int name_in_parent(uint64_t ino, std::string& out) override;
  int statfs(proto::StatfsRep& out) override;
  int getxattr(uint64_t ino, std::string_view name, std::string& out) override;
  int listxattr(uint64_t ino, std::string& out) override;

 private:
  struct Node {
    const ArchiveMember* member = nullptr;  // null for the root and unused numbers
    uint32_t mode = 0;
    uint32_t nlink = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    timespec mtime{};
    uint64_t parent = 0;  // directories: the parent directory's inode
    std::string name;     // directories: the name in the parent
    // Directories: (name, inode) in the archive's order, so that a walk of
    // the tree reads the archive front to back; an entry's readdir cookie is
    // its position + 3. by_name: positions in entries, sorted by name.
    std::vector<std::pair<std::string, uint64_t>> entries;
    std::vector<uint32_t> by_name;
  };
  struct Cached {
    UniqueFd fd;  // sealed memfd
    uint64_t size = 0;
    std::list<uint64_t>::iterator lru;  // position in lru_ (front: most recent)
  };

  TarBackend() = default;
  void build_tree(const struct stat& archive_st);
  const Node* node(uint64_t ino) const;
  Attr attr_of(uint64_t ino, const Node& n) const;
  // Our sealed memfd holding `ino`'s data, materialised if not cached.
  int data_fd(uint64_t ino, const Node& n, int& fd);
  int materialise(uint64_t ino, const Node& n, UniqueFd& out);
  void evict_over_budget(uint64_t keep);

  std::string path_;  // as given, for messages
  UniqueFd archive_;  // the file indexed, read through /proc/self/fd
  struct stat archive_st_ {};
  ArchiveIndex index_;
  ArchiveIndex::Cursor cursor_{index_};
  std::vector<Node> nodes_;  // by inode number
  uint64_t member_count_ = 0;
  uint64_t data_bytes_ = 0;

  uint64_t cache_budget_ = kDefaultCacheBudget;
  uint64_t cached_bytes_ = 0;
  std::unordered_map<uint64_t, Cached> cache_;
  std::list<uint64_t> lru_;
};

}  // namespace userfs::server

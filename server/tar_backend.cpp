#include "tar_backend.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U  // Linux >= 6.3: say explicitly that the data may be exec'd
#endif

namespace userfs::server {
namespace {

constexpr uint32_t kBlockSize = 4096;

uint8_t dtype_of(uint32_t mode) {
  if (S_ISDIR(mode)) return DT_DIR;
  if (S_ISLNK(mode)) return DT_LNK;
  return DT_REG;
}

std::string proc_fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

int reopen(int fd, int flags) {
  const int r = ::open(proc_fd_path(fd).c_str(), flags | O_CLOEXEC);
  return r >= 0 ? r : -errno;
}

// The fixed numbering: the root, then each link group of the index.
uint64_t ino_of(const ArchiveMember& m) { return m.link_group + 2; }

bool same_time(const timespec& a, const timespec& b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

}  // namespace

std::unique_ptr<TarBackend> TarBackend::open(const std::string& archive_path, std::string& error,
                                             uint64_t cache_budget) {
  std::unique_ptr<TarBackend> b(new TarBackend());
  b->path_ = archive_path;
  b->cache_budget_ = cache_budget;
  b->archive_.reset(::open(archive_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!b->archive_.valid()) {
    error = archive_path + ": " + strerrordesc_np(errno);
    return nullptr;
  }
  if (fstat(b->archive_.get(), &b->archive_st_) < 0) {
    error = archive_path + ": " + strerrordesc_np(errno);
    return nullptr;
  }
  if (S_ISDIR(b->archive_st_.st_mode)) {
    error = archive_path + ": is a directory, not an archive file";
    return nullptr;
  }
  // Indexed and later read through our own fd: the file we answer from
  // stays the one we indexed, whatever is renamed over its name.
  std::string why;
  const int rc = ArchiveIndex::load(proc_fd_path(b->archive_.get()), b->index_, why);
  if (rc < 0) {
    if (rc != -EINVAL)
      error = archive_path + ": " + strerrordesc_np(-rc);
    else if (why.find("Unrecognized archive format") != std::string::npos)
      error = archive_path + ": not an archive (no tar, zip or other format libarchive reads)";
    else
      error = archive_path + ": damaged archive: " + why;
    return nullptr;
  }
  b->build_tree(b->archive_st_);
  return b;
}

void TarBackend::build_tree(const struct stat& archive_st) {
  const auto& members = index_.members();
  uint64_t max_ino = kRootIno;
  for (const ArchiveMember& m : members) max_ino = std::max(max_ino, ino_of(m));
  nodes_.assign(max_ino + 1, Node{});

  // The archive's "./" if it has one, as tar xf applies it to the directory
  // it extracts into; else as an implied directory.
  Node& root = nodes_[kRootIno];
  const ArchiveMember* listed_root = index_.root();
  root.mode = listed_root ? listed_root->mode : S_IFDIR | 0755;
  root.uid = listed_root ? listed_root->uid : archive_st.st_uid;
  root.gid = listed_root ? listed_root->gid : archive_st.st_gid;
  root.mtime = listed_root ? listed_root->mtime : archive_st.st_mtim;
  root.parent = kRootIno;

  member_count_ = members.size();
  for (const ArchiveMember& m : members) {
    const uint64_t ino = ino_of(m);
    Node& n = nodes_[ino];
    const bool first_name = n.member == nullptr;
    if (first_name) {
      n.member = &m;
      n.mode = m.mode;
      n.nlink = m.nlink;
      n.uid = m.uid;
      n.gid = m.gid;
      n.mtime = m.mtime;
      if (S_ISREG(m.mode)) data_bytes_ += m.size;
    }
    const size_t slash = m.path.rfind('/');
    std::string name = slash == std::string::npos ? m.path : m.path.substr(slash + 1);
    uint64_t parent = kRootIno;
    if (slash != std::string::npos) {
      // ArchiveIndex guarantees every member's parent is a directory member.
      const ArchiveMember* p = index_.find(std::string_view(m.path).substr(0, slash));
      parent = ino_of(*p);
    }
    if (S_ISDIR(m.mode)) {
      n.parent = parent;
      n.name = name;
    } else if (first_name) {
      n.name = name;
    }
    nodes_[parent].entries.emplace_back(std::move(name), ino);
  }
  for (Node& n : nodes_) {
    if (!S_ISDIR(n.mode)) continue;
    n.by_name.resize(n.entries.size());
    for (uint32_t i = 0; i < n.by_name.size(); ++i) n.by_name[i] = i;
    std::sort(n.by_name.begin(), n.by_name.end(),
              [&n](uint32_t a, uint32_t b) { return n.entries[a].first < n.entries[b].first; });
    // As a POSIX filesystem counts: ".", the entry in the parent, and each
    // subdirectory's "..".
    n.nlink = 2;
    for (const auto& e : n.entries)
      if (S_ISDIR(nodes_[e.second].mode)) ++n.nlink;
  }
}

const TarBackend::Node* TarBackend::node(uint64_t ino) const {
  if (ino >= nodes_.size()) return nullptr;
  const Node& n = nodes_[ino];
  return n.mode == 0 ? nullptr : &n;
}

Attr TarBackend::attr_of(uint64_t ino, const Node& n) const {
  Attr a{};
  a.ino = ino;
  a.mode = n.mode;
  a.nlink = n.nlink;
  a.uid = n.uid;
  a.gid = n.gid;
  a.blksize = kBlockSize;
  if (S_ISDIR(n.mode)) {
    a.size = 40 + 20 * n.entries.size();  // as tmpfs reports, roughly
  } else if (S_ISLNK(n.mode)) {
    a.size = n.member->target.size();
  } else {
    a.size = n.member->size;
    a.blocks = (a.size + kBlockSize - 1) / kBlockSize * (kBlockSize / 512);
  }
  a.atime_sec = a.mtime_sec = a.ctime_sec = a.btime_sec = n.mtime.tv_sec;
  a.atime_nsec = a.mtime_nsec = a.ctime_nsec = a.btime_nsec = static_cast<uint32_t>(n.mtime.tv_nsec);
  return a;
}

int TarBackend::lookup(uint64_t parent, std::string_view name, Attr& out) {
  const Node* dir = node(parent);
  if (dir == nullptr) return -ENOENT;
  if (!S_ISDIR(dir->mode)) return -ENOTDIR;
  if (name == "..") {
    out = attr_of(dir->parent, nodes_[dir->parent]);
    return 0;
  }
  const auto it = std::lower_bound(dir->by_name.begin(), dir->by_name.end(), name,
                                   [dir](uint32_t i, std::string_view n) { return dir->entries[i].first < n; });
  if (it == dir->by_name.end() || dir->entries[*it].first != name) return -ENOENT;
  const uint64_t ino = dir->entries[*it].second;
  out = attr_of(ino, nodes_[ino]);
  return 0;
}

int TarBackend::getattr(uint64_t ino, Attr& out) {
  const Node* n = node(ino);
  if (n == nullptr) return -ENOENT;
  out = attr_of(ino, *n);
  return 0;
}

int TarBackend::readlink(uint64_t ino, std::string& out) {
  const Node* n = node(ino);
  if (n == nullptr) return -ENOENT;
  if (!S_ISLNK(n->mode)) return -EINVAL;
  out = n->member->target;
  return 0;
}

int TarBackend::open(uint64_t ino, uint32_t flags, Opened& out) {
  const Node* n = node(ino);
  if (n == nullptr) return -ENOENT;
  if (S_ISDIR(n->mode)) return -EISDIR;
  if (!S_ISREG(n->mode)) return -EINVAL;
  // The server refuses these with EROFS first; a backend that never changes
  // must not hand out a writable fd whatever reaches it.
  if ((flags & proto::kOpenAccMode) != 0 || (flags & proto::kOpenTrunc) != 0) return -EROFS;
  int data = -1;
  if (int rc = data_fd(ino, *n, data); rc < 0) return rc;
  int how = O_RDONLY;
  if (flags & proto::kOpenPath)
    how = O_PATH;
  else if (flags & proto::kOpenNonBlock)
    how |= O_NONBLOCK;
  const int fd = reopen(data, how);
  if (fd < 0) return fd;
  out.fd = fd;
  return 0;
}

int TarBackend::data_fd(uint64_t ino, const Node& n, int& fd) {
  if (auto it = cache_.find(ino); it != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    fd = it->second.fd.get();
    return 0;
  }
  UniqueFd memfd;
  if (int rc = materialise(ino, n, memfd); rc < 0) return rc;
  lru_.push_front(ino);
  Cached& c = cache_[ino];
  c.fd = std::move(memfd);
  c.size = n.member->size;
  c.lru = lru_.begin();
  cached_bytes_ += c.size;
  fd = c.fd.get();
  evict_over_budget(ino);
  return 0;
}

int TarBackend::materialise(uint64_t ino, const Node& n, UniqueFd& out) {
  struct stat now {};
  if (fstat(archive_.get(), &now) < 0) return -errno;
  if (now.st_size != archive_st_.st_size || !same_time(now.st_mtim, archive_st_.st_mtim)) {
    std::fprintf(stderr, "userfsd: tar:%s: changed since it was mounted; %s cannot be read\n", path_.c_str(),
                 n.member->path.c_str());
    return -EIO;
  }
  char name[40];
  std::snprintf(name, sizeof name, "userfs:%llu", static_cast<unsigned long long>(ino));
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);  // kernel < 6.3
  if (fd < 0) return -errno;
  UniqueFd memfd(fd);
  std::string why;
  if (int rc = cursor_.extract(*n.member, memfd.get(), why); rc < 0) {
    std::fprintf(stderr, "userfsd: tar:%s: %s: %s\n", path_.c_str(), n.member->path.c_str(),
                 why.empty() ? strerrordesc_np(-rc) : why.c_str());
    return rc;
  }
  // Sealed, the data can change through no fd and no mapping, ours or a
  // client's: every open of the file sees what the archive holds.
  if (fcntl(memfd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) return -errno;
  out = std::move(memfd);
  return 0;
}

void TarBackend::evict_over_budget(uint64_t keep) {
  // Clients keep the fds they were given (the memfd lives while they do);
  // only our reference goes, and the next open reads the archive again.
  while (cached_bytes_ > cache_budget_ && !lru_.empty() && lru_.back() != keep) {
    const auto it = cache_.find(lru_.back());
    cached_bytes_ -= it->second.size;
    cache_.erase(it);
    lru_.pop_back();
  }
}

int TarBackend::readdir(uint64_t ino, uint64_t cookie, DirFiller& fill) {
  const Node* dir = node(ino);
  if (dir == nullptr) return -ENOENT;
  if (!S_ISDIR(dir->mode)) return -ENOTDIR;
  // Cookies 0, 1 and 2 are the server's (start, ".", ".."): ours are the
  // entry's position + 3, so the next one starts at cookie - 2.
  for (size_t i = cookie < 3 ? 0 : cookie - 2; i < dir->entries.size(); ++i) {
    const auto& [name, child] = dir->entries[i];
    if (!fill.add(name, child, dtype_of(nodes_[child].mode), i + 3)) return 0;
  }
  return 0;
}

int TarBackend::name_in_parent(uint64_t ino, std::string& out) {
  const Node* n = node(ino);
  if (n == nullptr) return -ENOENT;
  if (ino == kRootIno) return -EINVAL;
  out = n->name;
  return 0;
}

int TarBackend::statfs(proto::StatfsRep& out) {
  out = proto::StatfsRep{};
  out.bsize = kBlockSize;
  out.namelen = proto::kMaxName;
  out.blocks = (data_bytes_ + kBlockSize - 1) / kBlockSize;
  out.files = member_count_;
  return 0;
}

// ArchiveIndex keeps no extended attributes: every member has none.
int TarBackend::getxattr(uint64_t ino, std::string_view name, std::string& out) {
  (void)name, (void)out;
  return node(ino) == nullptr ? -ENOENT : -ENODATA;
}

int TarBackend::listxattr(uint64_t ino, std::string& out) {
  if (node(ino) == nullptr) return -ENOENT;
  out.clear();
  return 0;
}

}  // namespace userfs::server

// The in-memory filesystem's operations. Each checks only what the table
// knows (see mem_backend.hpp); the path layer has checked the rest.
#include "mem_backend.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include "wall_clock.hpp"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U  // Linux >= 6.3: say explicitly that the data may be exec'd
#endif

namespace userfs::server {
namespace {

bool later(const timespec& a, const timespec& b) {
  return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
}

void set_time(int64_t& sec, uint32_t& nsec, const timespec& ts) {
  sec = ts.tv_sec;
  nsec = static_cast<uint32_t>(ts.tv_nsec);
}

// Reopens an fd we hold through /proc: a new open file description with its
// own offset and flags. Returns the fd or a negative errno.
int reopen(int fd, int flags) {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  int r = ::open(path, flags | O_CLOEXEC);
  return r >= 0 ? r : -errno;
}

// A fresh memfd named "userfs:<ino>"; returns our read-only reference.
int make_memfd(uint64_t ino, UniqueFd& out) {
  char name[40];
  std::snprintf(name, sizeof name, "userfs:%llu", static_cast<unsigned long long>(ino));
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = memfd_create(name, MFD_CLOEXEC);  // kernel < 6.3
  if (fd < 0) return -errno;
  UniqueFd rw(fd);
  int ro = reopen(rw.get(), O_RDONLY);
  if (ro < 0) return ro;
  out.reset(ro);
  return 0;
}

uint8_t dtype(FileType t) {
  switch (t) {
    case FileType::directory: return DT_DIR;
    case FileType::regular: return DT_REG;
    case FileType::symlink: return DT_LNK;
  }
  return DT_UNKNOWN;
}

// Names, NUL-terminated, must fit one reply next to its header.
constexpr size_t kMaxXattrList = proto::kMaxMessage - sizeof(proto::ReplyHeader);

}  // namespace

Limits default_limits() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  Limits l;
  if (pages > 0 && page > 0) {
    l.max_bytes = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 2;
    l.max_inodes = static_cast<uint64_t>(pages) / 2;
  } else {
    l.max_bytes = uint64_t{1} << 30;
    l.max_inodes = uint64_t{1} << 20;
  }
  return l;
}

MemBackend::MemBackend(uid_t root_uid, gid_t root_gid, uint32_t root_mode) : limits_(default_limits()) {
  Inode& root = new_inode(FileType::directory, NewNode{root_mode, root_uid, root_gid});
  root.parent = root.ino;
  root_ = &root;
}

// --- the table -------------------------------------------------------------

Inode* MemBackend::find(uint64_t ino) const {
  // A walk looks up each directory right after finding it as a child.
  if (last_found_ != nullptr && last_found_->ino == ino) return last_found_;
  auto it = table_.find(ino);
  if (it == table_.end()) return nullptr;
  last_found_ = it->second.get();
  return last_found_;
}

void MemBackend::erase(uint64_t ino) {
  if (listener_ != nullptr) listener_->attr_changed(ino);
  if (last_found_ != nullptr && last_found_->ino == ino) last_found_ = nullptr;
  table_.erase(ino);
}

int MemBackend::get(uint64_t ino, Inode*& out) const {
  out = find(ino);
  if (out != nullptr) return 0;
  return ino >= proto::kRootIno && ino < next_ino_ ? -ESTALE : -ENOENT;
}

int MemBackend::get_dir(uint64_t ino, Inode*& out) const {
  if (int rc = get(ino, out); rc < 0) return rc;
  return out->type == FileType::directory ? 0 : -ENOTDIR;
}

Inode* MemBackend::child(const Inode& dir, std::string_view name) const {
  auto it = dir.entries.find(name);
  return it == dir.entries.end() ? nullptr : find(it->second.ino);
}

Inode* MemBackend::parent_of(const Inode& dir) const {
  Inode* p = find(dir.parent);
  return p != nullptr ? p : root_;
}

int MemBackend::may_create() const {
  return limits_.max_inodes != 0 && table_.size() >= limits_.max_inodes ? -ENOSPC : 0;
}

Inode& MemBackend::new_inode(FileType type, const NewNode& node) {
  auto n = std::make_unique<Inode>();
  n->ino = next_ino_++;
  n->type = type;
  const uint32_t fmt = type == FileType::directory ? S_IFDIR : type == FileType::regular ? S_IFREG : S_IFLNK;
  n->mode = fmt | (node.mode & 07777);
  n->uid = node.uid;
  n->gid = node.gid;
  n->nlink = type == FileType::directory ? 2 : 1;
  n->atime = n->mtime = n->ctime = n->btime = wall_now();
  Inode& ref = *n;
  table_.emplace(ref.ino, std::move(n));
  touch(ref);
  return ref;
}

// Regular files get their data (a memfd, or the store's file) at creation.
int MemBackend::ensure_data(Inode& n) {
  if (n.data.valid()) return 0;
  if (store_ != nullptr) return store_->create_data(n.ino, n.data);
  return make_memfd(n.ino, n.data);
}

void MemBackend::add_entry(Inode& dir, std::string_view name, Inode& node) {
  const uint64_t cookie = dir.next_cookie++;
  const auto entry = dir.entries.emplace(std::string(name), Inode::Entry{node.ino, cookie}).first;
  dir.by_cookie.emplace(cookie, entry);
  if (node.type == FileType::directory) {
    node.parent = dir.ino;
    node.name = std::string(name);
    ++dir.subdirs;
    touch(node);
  }
  dir.mtime = dir.ctime = wall_now();
  touch(dir);
  if (store_ != nullptr) encode_put_entry(events_, dir.ino, name, node.ino, cookie);
  if (listener_ != nullptr) listener_->name_changed(dir.ino, name);
}

void MemBackend::remove_entry(Inode& dir, std::string_view name) {
  auto it = dir.entries.find(name);
  if (it == dir.entries.end()) return;
  Inode* n = find(it->second.ino);
  if (n != nullptr && n->type == FileType::directory) --dir.subdirs;
  dir.by_cookie.erase(it->second.cookie);
  dir.entries.erase(it);
  dir.mtime = dir.ctime = wall_now();
  touch(dir);
  if (store_ != nullptr) encode_del_entry(events_, dir.ino, name);
  if (listener_ != nullptr) listener_->name_changed(dir.ino, name);
}

// One name less for `node`; at zero the inode goes (and with it our memfd
// reference: clients keep their own fds and the data).
void MemBackend::drop_link(Inode& node) {
  if (node.type != FileType::directory && node.nlink > 1) {
    --node.nlink;
    node.ctime = wall_now();
    touch(node);
    return;
  }
  if (store_ != nullptr) {
    encode_drop_inode(events_, node.ino);
    if (node.type == FileType::regular) dropped_.push_back(node.ino);
  }
  erase(node.ino);
}

void MemBackend::attr_of(const Inode& n, Attr& a) const {
  // Every field set, none twice: walks ask for many.
  a.dev = 0;
  a.rdev = 0;
  a.pad = 0;
  a.blocks = 0;
  a.ino = n.ino;
  a.mode = n.mode;
  a.nlink = n.type == FileType::directory ? 2 + n.subdirs : n.nlink;
  a.uid = n.uid;
  a.gid = n.gid;
  a.blksize = kBlockSize;
  timespec atime = n.atime, mtime = n.mtime, ctime = n.ctime;
  switch (n.type) {
    case FileType::directory:
      a.size = 40 + 20 * n.entries.size();  // as tmpfs reports, roughly
      break;
    case FileType::symlink:
      a.size = n.target.size();
      break;
    case FileType::regular: {
      // Clients write straight to the memfd: its size and mtime are the
      // truth, and its ctime unless our own metadata changes moved ours
      // later. Not its atime: every read would move that, unseen by the
      // server (and so by the shared lookup table); atime changes only when
      // set, as on a noatime mount.
      a.size = 0;
      struct stat st {};
      if (n.data.valid() && fstat(n.data.get(), &st) == 0) {
        a.size = static_cast<uint64_t>(st.st_size);
        a.blocks = static_cast<uint64_t>(st.st_blocks);
        mtime = st.st_mtim;
        if (later(st.st_ctim, ctime)) ctime = st.st_ctim;
      }
      break;
    }
  }
  set_time(a.atime_sec, a.atime_nsec, atime);
  set_time(a.mtime_sec, a.mtime_nsec, mtime);
  set_time(a.ctime_sec, a.ctime_nsec, ctime);
  set_time(a.btime_sec, a.btime_nsec, n.btime);
}

// --- names -----------------------------------------------------------------

int MemBackend::lookup(uint64_t parent, std::string_view name, Attr& out) {
  Inode* d = nullptr;
  if (int rc = get_dir(parent, d); rc < 0) return rc;
  const Inode* n = name == ".." ? parent_of(*d) : child(*d, name);
  if (n == nullptr) return -ENOENT;
  attr_of(*n, out);
  return 0;
}

int MemBackend::getattr(uint64_t ino, Attr& out) {
  Inode* n = nullptr;
  if (int rc = get(ino, n); rc < 0) return rc;
  attr_of(*n, out);
  return 0;
}

int MemBackend::setattr(uint64_t ino, const SetattrIn& in, Attr& out) {
  const uint32_t v = in.valid;
  return change(
      [&] {
        Inode* n = nullptr;
        if (int rc = get(ino, n); rc < 0) return rc;
        if ((v & proto::kSetSize) != 0) {
          if (n->type == FileType::directory) return -EISDIR;
          if (n->type != FileType::regular) return -EINVAL;
          if (in.size > kMaxFileSize) return -EFBIG;
        }
        if (int rc = reserve_deferred(); rc < 0) return rc;
        // The steps that can fail first.
        if ((v & proto::kSetSize) != 0) {
          int rw = reopen(n->data.get(), O_RDWR);
          if (rw < 0) return rw;
          UniqueFd tmp(rw);
          if (ftruncate(tmp.get(), static_cast<off_t>(in.size)) < 0) return -errno;
        }
        if ((v & (proto::kSetAtime | proto::kSetMtime)) != 0) {
          timespec ts[2];
          ts[0] = (v & proto::kSetAtime) != 0 ? in.atime : timespec{0, UTIME_OMIT};
          ts[1] = (v & proto::kSetMtime) != 0 ? in.mtime : timespec{0, UTIME_OMIT};
          // A regular file's mtime lives in its memfd (see attr_of).
          if (n->type == FileType::regular && futimens(n->data.get(), ts) < 0) return -errno;
          if (ts[0].tv_nsec != UTIME_OMIT) n->atime = ts[0];
          if (ts[1].tv_nsec != UTIME_OMIT) n->mtime = ts[1];
        }
        if ((v & proto::kSetMode) != 0) n->mode = (n->mode & S_IFMT) | (in.mode & 07777);
        if ((v & proto::kSetUid) != 0) n->uid = in.uid;
        if ((v & proto::kSetGid) != 0) n->gid = in.gid;
        if (v != 0) n->ctime = wall_now();
        touch(*n);
        attr_of(*n, out);
        return 0;
      },
      (v & proto::kSetSize) != 0 ? Store::Change::removal : Store::Change::any);
}

int MemBackend::mkdir(uint64_t parent, std::string_view name, const NewNode& node, Attr& out) {
  return change([&] {
    Inode* dir = nullptr;
    if (int rc = get_dir(parent, dir); rc < 0) return rc;
    if (dir->entries.count(name) != 0) return -EEXIST;
    if (int rc = may_create(); rc < 0) return rc;
    if (int rc = reserve_deferred(); rc < 0) return rc;
    Inode& d = new_inode(FileType::directory, node);
    add_entry(*dir, name, d);
    attr_of(d, out);
    return 0;
  });
}

int MemBackend::new_file(uint64_t parent, std::string_view name, const NewNode& node, Inode*& out) {
  Inode* dir = nullptr;
  if (int rc = get_dir(parent, dir); rc < 0) return rc;
  if (dir->entries.count(name) != 0) return -EEXIST;
  if (int rc = may_create(); rc < 0) return rc;
  if (int rc = reserve_deferred(); rc < 0) return rc;
  Inode& f = new_inode(FileType::regular, node);
  if (int rc = ensure_data(f); rc < 0) {
    erase(f.ino);
    return rc;
  }
  add_entry(*dir, name, f);
  out = &f;
  return 0;
}

int MemBackend::mknod(uint64_t parent, std::string_view name, const NewNode& node, Attr& out) {
  return change([&] {
    Inode* f = nullptr;
    if (int rc = new_file(parent, name, node, f); rc < 0) return rc;
    attr_of(*f, out);
    return 0;
  });
}

int MemBackend::create(uint64_t parent, std::string_view name, const NewNode& node, uint32_t flags, Attr& out,
                       Opened& opened) {
  return change([&] {
    Inode* f = nullptr;
    if (int rc = new_file(parent, name, node, f); rc < 0) return rc;
    if (int rc = open(f->ino, flags & ~proto::kOpenTrunc, opened); rc < 0) return rc;
    attr_of(*f, out);
    return 0;
  });
}

int MemBackend::symlink(std::string_view target, uint64_t parent, std::string_view name, const NewNode& node,
                        Attr& out) {
  return change([&] {
    Inode* dir = nullptr;
    if (int rc = get_dir(parent, dir); rc < 0) return rc;
    if (dir->entries.count(name) != 0) return -EEXIST;
    if (int rc = may_create(); rc < 0) return rc;
    if (int rc = reserve_deferred(); rc < 0) return rc;
    Inode& l = new_inode(FileType::symlink, NewNode{0777, node.uid, node.gid});
    l.target = std::string(target);
    add_entry(*dir, name, l);
    attr_of(l, out);
    return 0;
  });
}

int MemBackend::readlink(uint64_t ino, std::string& out) {
  Inode* n = nullptr;
  if (int rc = get(ino, n); rc < 0) return rc;
  if (n->type != FileType::symlink) return -EINVAL;
  out = n->target;
  return 0;
}

int MemBackend::link(uint64_t ino, uint64_t new_parent, std::string_view new_name, Attr& out) {
  return change([&] {
    Inode* src = nullptr;
    Inode* dir = nullptr;
    if (int rc = get(ino, src); rc < 0) return rc;
    if (int rc = get_dir(new_parent, dir); rc < 0) return rc;
    if (dir->entries.count(new_name) != 0) return -EEXIST;
    if (src->type == FileType::directory) return -EPERM;
    if (int rc = reserve_deferred(); rc < 0) return rc;
    ++src->nlink;
    src->ctime = wall_now();
    touch(*src);
    add_entry(*dir, new_name, *src);
    attr_of(*src, out);
    return 0;
  });
}

int MemBackend::unlink(uint64_t parent, std::string_view name) {
  return change(
      [&] {
        Inode* dir = nullptr;
        if (int rc = get_dir(parent, dir); rc < 0) return rc;
        Inode* n = child(*dir, name);
        if (n == nullptr) return -ENOENT;
        if (n->type == FileType::directory) return -EISDIR;
        if (int rc = reserve_deferred(); rc < 0) return rc;
        remove_entry(*dir, name);
        drop_link(*n);
        return 0;
      },
      Store::Change::removal);
}

int MemBackend::rmdir(uint64_t parent, std::string_view name) {
  return change(
      [&] {
        Inode* dir = nullptr;
        if (int rc = get_dir(parent, dir); rc < 0) return rc;
        Inode* n = child(*dir, name);
        if (n == nullptr) return -ENOENT;
        if (n->type != FileType::directory) return -ENOTDIR;
        if (!n->entries.empty()) return -ENOTEMPTY;
        if (int rc = reserve_deferred(); rc < 0) return rc;
        remove_entry(*dir, name);
        drop_link(*n);
        return 0;
      },
      Store::Change::removal);
}

int MemBackend::rename(uint64_t parent, std::string_view name, uint64_t new_parent, std::string_view new_name,
                       uint32_t flags) {
  const bool noreplace = (flags & proto::kRenameNoReplace) != 0;
  const bool exchange = (flags & proto::kRenameExchange) != 0;
  return change([&] {
    Inode* odir_p = nullptr;
    Inode* ndir_p = nullptr;
    if (int rc = get_dir(parent, odir_p); rc < 0) return rc;
    if (int rc = get_dir(new_parent, ndir_p); rc < 0) return rc;
    Inode& odir = *odir_p;
    Inode& ndir = *ndir_p;
    Inode* src = child(odir, name);
    if (src == nullptr) return -ENOENT;
    Inode* dst = child(ndir, new_name);
    if (exchange && dst == nullptr) return -ENOENT;
    if (noreplace && dst != nullptr) return -EEXIST;
    if (src == dst) return 0;  // same object under both names: nothing to do, as vfs_rename
    const bool src_dir = src->type == FileType::directory;
    const bool dst_dir = dst != nullptr && dst->type == FileType::directory;

    if (exchange) {
      if (int rc = reserve_deferred(); rc < 0) return rc;
      // The names keep their places (and readdir cookies); the objects swap.
      auto& oe = odir.entries.find(name)->second;
      auto& ne = ndir.entries.find(new_name)->second;
      std::swap(oe.ino, ne.ino);
      if (src_dir) {
        --odir.subdirs;
        ++ndir.subdirs;
        src->parent = ndir.ino;
        src->name = std::string(new_name);
      }
      if (dst_dir) {
        --ndir.subdirs;
        ++odir.subdirs;
        dst->parent = odir.ino;
        dst->name = std::string(name);
      }
      const timespec t = wall_now();
      odir.mtime = odir.ctime = ndir.mtime = ndir.ctime = src->ctime = dst->ctime = t;
      for (const Inode* n : {&odir, &ndir, src, dst}) touch(*n);
      if (listener_ != nullptr) {
        listener_->name_changed(odir.ino, name);
        listener_->name_changed(ndir.ino, new_name);
      }
      if (store_ != nullptr) {
        encode_put_entry(events_, odir.ino, name, oe.ino, oe.cookie);
        encode_put_entry(events_, ndir.ino, new_name, ne.ino, ne.cookie);
      }
      return 0;
    }

    if (dst != nullptr) {
      if (src_dir && !dst_dir) return -ENOTDIR;
      if (!src_dir && dst_dir) return -EISDIR;
      if (dst_dir && !dst->entries.empty()) return -ENOTEMPTY;
      if (int rc = reserve_deferred(); rc < 0) return rc;
      remove_entry(ndir, new_name);
      drop_link(*dst);
    }
    if (int rc = reserve_deferred(); rc < 0) return rc;
    // The moved name is an insertion in ndir: it gets a fresh cookie.
    remove_entry(odir, name);
    add_entry(ndir, new_name, *src);
    src->ctime = wall_now();
    touch(*src);
    return 0;
  });
}

// --- file data ---------------------------------------------------------------

int MemBackend::open(uint64_t ino, uint32_t flags, Opened& out) {
  Inode* n = nullptr;
  if (int rc = get(ino, n); rc < 0) return rc;
  if (n->type == FileType::directory) return -EISDIR;
  if (n->type != FileType::regular) return -ELOOP;
  if ((flags & proto::kOpenPath) != 0) {
    const int fd = reopen(n->data.get(), O_PATH);
    if (fd < 0) return fd;
    out.fd = fd;
    return 0;
  }
  // Access mode 3 (O_WRONLY|O_RDWR) opens for neither; the reopen passes it
  // on and the kernel keeps it.
  int kflags = static_cast<int>(flags & proto::kOpenAccMode);
  if ((flags & proto::kOpenAppend) != 0) kflags |= O_APPEND;
  if ((flags & proto::kOpenNonBlock) != 0) kflags |= O_NONBLOCK;
  if ((flags & proto::kOpenSync) != 0) kflags |= O_SYNC;
  if ((flags & proto::kOpenDsync) != 0) kflags |= O_DSYNC;
  const int fd = reopen(n->data.get(), kflags);
  if (fd < 0) return fd;
  UniqueFd client(fd);
  if ((flags & proto::kOpenTrunc) != 0) {
    // The client may have asked for O_RDONLY|O_TRUNC: truncate through a
    // private read-write reopen, never through our read-only reference.
    int rw = reopen(n->data.get(), O_RDWR);
    if (rw < 0) return rw;
    UniqueFd tmp(rw);
    if (ftruncate(tmp.get(), 0) < 0) return -errno;
    if (listener_ != nullptr) listener_->attr_changed(ino);
  }
  if (listener_ != nullptr && (flags & proto::kOpenAccMode) != O_RDONLY) listener_->data_writable(ino);
  out.fd = client.release();
  return 0;
}

// A read lease can be had only while no open file anywhere (any process,
// any fd, a shared writable mapping) can write the file; taken and given
// back at once, it is that question asked of the kernel.
bool MemBackend::data_quiet(uint64_t ino) {
  const Inode* n = find(ino);
  if (n == nullptr || n->type != FileType::regular || !n->data.valid()) return false;
  if (fcntl(n->data.get(), F_SETLEASE, F_RDLCK) != 0) return false;
  fcntl(n->data.get(), F_SETLEASE, F_UNLCK);
  return true;
}

int MemBackend::data_source(uint64_t ino) {
  const Inode* n = find(ino);
  return n != nullptr && n->type == FileType::regular && n->data.valid() ? n->data.get() : -1;
}

int MemBackend::fsync(uint64_t ino, bool) {
  if (store_ == nullptr) return 0;
  if (ino == 0) return store_->sync(0, -1);
  const Inode* n = find(ino);
  if (n == nullptr) return 0;
  return store_->sync(ino, n->data.valid() ? n->data.get() : -1);
}

// --- directories ---------------------------------------------------------------

int MemBackend::readdir(uint64_t ino, uint64_t cookie, DirFiller& fill) {
  Inode* d = nullptr;
  if (int rc = get_dir(ino, d); rc < 0) return rc;
  for (auto it = d->by_cookie.upper_bound(cookie); it != d->by_cookie.end(); ++it) {
    const auto& [name, e] = *it->second;
    const Inode* n = find(e.ino);
    if (!fill.add(name, e.ino, n != nullptr ? dtype(n->type) : uint8_t{DT_UNKNOWN}, it->first)) break;
  }
  return 0;
}

int MemBackend::name_in_parent(uint64_t ino, std::string& out) {
  Inode* d = nullptr;
  if (int rc = get_dir(ino, d); rc < 0) return rc;
  // A directory whose parent is gone is no longer in the tree.
  if (d != root_ && find(d->parent) == nullptr) return -ENOENT;
  out = d->name;
  return 0;
}

// --- the filesystem --------------------------------------------------------------

int MemBackend::statfs(proto::StatfsRep& out) {
  uint64_t used = 0;  // bytes allocated to file data
  for (const auto& [ino, n] : table_) {
    struct stat st {};
    if (n->type == FileType::regular && n->data.valid() && fstat(n->data.get(), &st) == 0)
      used += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  out = proto::StatfsRep{};
  out.bsize = kBlockSize;
  out.namelen = proto::kMaxName;
  out.blocks = limits_.max_bytes / kBlockSize;
  const uint64_t used_blocks = (used + kBlockSize - 1) / kBlockSize;
  out.bfree = out.blocks > used_blocks ? out.blocks - used_blocks : 0;
  out.bavail = out.bfree;
  uint64_t disk_total = 0, disk_free = 0, disk_avail = 0;
  if (store_ != nullptr && store_->capacity(disk_total, disk_free, disk_avail) == 0) {
    out.blocks = std::min(out.blocks, disk_total / kBlockSize);
    out.bfree = std::min(out.bfree, disk_free / kBlockSize);
    out.bavail = std::min(out.bavail, disk_avail / kBlockSize);
  }
  out.files = limits_.max_inodes;
  out.ffree = out.files > table_.size() ? out.files - table_.size() : 0;
  return 0;
}

Counts MemBackend::counts() const {
  Counts c;
  for (const auto& [ino, n] : table_) {
    ++c.inodes;
    switch (n->type) {
      case FileType::directory: ++c.directories; break;
      case FileType::symlink: ++c.symlinks; break;
      case FileType::regular: {
        ++c.files;
        struct stat st {};
        if (n->data.valid() && fstat(n->data.get(), &st) == 0) c.bytes += static_cast<uint64_t>(st.st_size);
        break;
      }
    }
  }
  return c;
}

// --- extended attributes ---------------------------------------------------

int MemBackend::getxattr(uint64_t ino, std::string_view name, std::string& out) {
  Inode* n = nullptr;
  if (int rc = get(ino, n); rc < 0) return rc;
  auto it = n->xattrs.find(name);
  if (it == n->xattrs.end()) return -ENODATA;
  out = it->second;
  return 0;
}

int MemBackend::setxattr(uint64_t ino, std::string_view name, std::string_view value, uint32_t xflags) {
  return change([&] {
    Inode* n = nullptr;
    if (int rc = get(ino, n); rc < 0) return rc;
    auto it = n->xattrs.find(name);
    if ((xflags & proto::kXattrCreate) != 0 && it != n->xattrs.end()) return -EEXIST;
    if ((xflags & proto::kXattrReplace) != 0 && it == n->xattrs.end()) return -ENODATA;
    if (int rc = reserve_deferred(); rc < 0) return rc;
    if (it == n->xattrs.end()) {
      size_t list = name.size() + 1;
      for (const auto& [k, val] : n->xattrs) list += k.size() + 1;
      if (list > kMaxXattrList) return -ENOSPC;
      n->xattrs.emplace(std::string(name), std::string(value));
    } else {
      it->second.assign(value);
    }
    n->ctime = wall_now();
    touch(*n);
    if (store_ != nullptr) encode_set_xattr(events_, n->ino, name, value);
    return 0;
  });
}

int MemBackend::listxattr(uint64_t ino, std::string& out) {
  Inode* n = nullptr;
  if (int rc = get(ino, n); rc < 0) return rc;
  out.clear();
  for (const auto& [name, value] : n->xattrs) {
    out += name;
    out += '\0';
  }
  return 0;
}

int MemBackend::removexattr(uint64_t ino, std::string_view name) {
  return change(
      [&] {
        Inode* n = nullptr;
        if (int rc = get(ino, n); rc < 0) return rc;
        auto it = n->xattrs.find(name);
        if (it == n->xattrs.end()) return -ENODATA;
        if (int rc = reserve_deferred(); rc < 0) return rc;
        n->xattrs.erase(it);
        n->ctime = wall_now();
        touch(*n);
        if (store_ != nullptr) encode_del_xattr(events_, n->ino, name);
        return 0;
      },
      Store::Change::removal);
}

// --- persistence -----------------------------------------------------------

template <class Op>
int MemBackend::change(Op&& op, Store::Change kind) {
  if (store_ == nullptr) return op();
  // Reserved when the operation is about to change something, after its
  // checks: on a full disk, mkdir of an existing name is still EEXIST.
  deferred_reserve_ = true;
  deferred_kind_ = kind;
  // Whatever the operation's outcome (even an exception, e.g. out of
  // memory, after a mutation), what it changed is recorded.
  int rc;
  try {
    rc = op();
  } catch (...) {
    deferred_reserve_ = false;
    commit_changes();
    throw;
  }
  // A change made without asking first (none should be) still tries.
  if (deferred_reserve_ && (!dirty_.empty() || !events_.empty())) store_->reserve(kind);
  deferred_reserve_ = false;
  const int recorded = commit_changes();
  return rc >= 0 && recorded < 0 ? recorded : rc;
}

int MemBackend::reserve_deferred() {
  if (store_ == nullptr || !deferred_reserve_) return 0;
  deferred_reserve_ = false;
  return store_->reserve(deferred_kind_);
}

int MemBackend::commit_changes() {
  std::sort(dirty_.begin(), dirty_.end());
  dirty_.erase(std::unique(dirty_.begin(), dirty_.end()), dirty_.end());
  std::string record;
  int rc = 0;
  if (!dirty_.empty() || !events_.empty()) {
    encode_next_ino(record, next_ino_);
    // Images first: the events that follow may name a new inode.
    for (uint64_t ino : dirty_)
      if (const Inode* n = find(ino)) encode_put_inode(record, image_of(*n));
    record += events_;
    rc = store_->commit(record);
    // Unrecorded, a removal must keep the data the journal still names.
    if (rc == 0)
      for (uint64_t ino : dropped_) store_->remove_data(ino);
  }
  dirty_.clear();
  events_.clear();
  dropped_.clear();
  return rc;
}

InodeImage MemBackend::image_of(const Inode& n) const {
  InodeImage m;
  m.ino = n.ino;
  m.type = static_cast<uint8_t>(n.type);
  m.mode = n.mode;
  m.uid = n.uid;
  m.gid = n.gid;
  m.nlink = n.nlink;
  m.atime = n.atime;
  m.mtime = n.mtime;
  m.ctime = n.ctime;
  m.btime = n.btime;
  m.parent = n.parent;
  m.next_cookie = n.next_cookie;
  m.subdirs = n.subdirs;
  m.name = n.name;
  m.target = n.target;
  return m;
}

std::vector<const Inode*> MemBackend::inodes() const {
  std::vector<const Inode*> out;
  out.reserve(table_.size());
  for (const auto& [ino, n] : table_) out.push_back(n.get());
  std::sort(out.begin(), out.end(), [](const Inode* a, const Inode* b) { return a->ino < b->ino; });
  return out;
}

void MemBackend::image(std::string& out) const {
  encode_next_ino(out, next_ino_);
  const auto all = inodes();
  for (const Inode* n : all) encode_put_inode(out, image_of(*n));
  for (const Inode* n : all) {
    for (const auto& [cookie, e] : n->by_cookie) encode_put_entry(out, n->ino, e->first, e->second.ino, cookie);
    for (const auto& [name, value] : n->xattrs) encode_set_xattr(out, n->ino, name, value);
  }
}

void MemBackend::begin_restore() {
  last_found_ = nullptr;
  table_.clear();
  root_ = nullptr;
  next_ino_ = proto::kRootIno;
  dirty_.clear();
  events_.clear();
  dropped_.clear();
}

bool MemBackend::apply(const Item& it, std::string& why) {
  auto missing = [&](const char* what, uint64_t ino) {
    why = std::string(what) + " names inode " + std::to_string(ino) + ", which does not exist";
    return false;
  };
  switch (it.kind) {
    case ItemKind::next_ino:
      if (it.ino < next_ino_) {
        why = "the next inode number goes back from " + std::to_string(next_ino_) + " to " + std::to_string(it.ino);
        return false;
      }
      next_ino_ = it.ino;
      return true;
    case ItemKind::put_inode: {
      const InodeImage& m = it.inode;
      if (m.ino < proto::kRootIno || m.ino >= next_ino_) {
        why = "inode " + std::to_string(m.ino) + " is outside the numbers handed out";
        return false;
      }
      if (m.type > static_cast<uint8_t>(FileType::symlink)) {
        why = "inode " + std::to_string(m.ino) + " has an unknown type";
        return false;
      }
      auto& slot = table_[m.ino];
      if (!slot) {
        slot = std::make_unique<Inode>();
        slot->ino = m.ino;
      } else if (static_cast<uint8_t>(slot->type) != m.type) {
        why = "inode " + std::to_string(m.ino) + " changes type";
        return false;
      }
      Inode& n = *slot;
      n.type = static_cast<FileType>(m.type);
      n.mode = m.mode;
      n.uid = m.uid;
      n.gid = m.gid;
      n.nlink = m.nlink;
      n.atime = m.atime;
      n.mtime = m.mtime;
      n.ctime = m.ctime;
      n.btime = m.btime;
      n.parent = m.parent;
      n.next_cookie = m.next_cookie;
      n.subdirs = m.subdirs;
      n.name = m.name;
      n.target = m.target;
      return true;
    }
    case ItemKind::drop_inode:
      if (find(it.ino) == nullptr) return missing("a removal", it.ino);
      erase(it.ino);
      return true;
    case ItemKind::put_entry: {
      Inode* d = find(it.ino);
      if (d == nullptr) return missing("an entry's directory", it.ino);
      if (d->type != FileType::directory) {
        why = "an entry is added to inode " + std::to_string(it.ino) + ", not a directory";
        return false;
      }
      if (it.name.empty() || it.name.size() > proto::kMaxName || it.name.find('/') != std::string::npos ||
          it.name == "." || it.name == "..") {
        why = "directory " + std::to_string(it.ino) + " gets an invalid name";
        return false;
      }
      if (auto old = d->entries.find(it.name); old != d->entries.end()) {
        d->by_cookie.erase(old->second.cookie);
        d->entries.erase(old);
      }
      if (d->by_cookie.count(it.cookie) != 0) {
        why = "directory " + std::to_string(it.ino) + " has readdir cookie " + std::to_string(it.cookie) + " twice";
        return false;
      }
      d->by_cookie.emplace(it.cookie, d->entries.emplace(it.name, Inode::Entry{it.child, it.cookie}).first);
      return true;
    }
    case ItemKind::del_entry: {
      Inode* d = find(it.ino);
      if (d == nullptr) return missing("an entry removal", it.ino);
      auto e = d->entries.find(it.name);
      if (e == d->entries.end()) {
        why = "directory " + std::to_string(it.ino) + " loses a name it does not have";
        return false;
      }
      d->by_cookie.erase(e->second.cookie);
      d->entries.erase(e);
      return true;
    }
    case ItemKind::set_xattr: {
      Inode* n = find(it.ino);
      if (n == nullptr) return missing("an xattr", it.ino);
      n->xattrs[it.name] = it.value;
      return true;
    }
    case ItemKind::del_xattr: {
      Inode* n = find(it.ino);
      if (n == nullptr) return missing("an xattr removal", it.ino);
      if (n->xattrs.erase(it.name) == 0) {
        why = "inode " + std::to_string(it.ino) + " loses an xattr it does not have";
        return false;
      }
      return true;
    }
  }
  why = "unknown item";
  return false;
}

bool MemBackend::finish_restore(std::string& why) {
  auto fail = [&](uint64_t ino, const std::string& what) {
    why = "inode " + std::to_string(ino) + ": " + what;
    return false;
  };
  root_ = find(proto::kRootIno);
  if (root_ == nullptr || root_->type != FileType::directory || root_->parent != proto::kRootIno) {
    why = "no root directory";
    return false;
  }
  // Every name must lead to an inode; count the names and subdirectories.
  std::unordered_map<uint64_t, uint32_t> names;
  for (const auto& [ino, n] : table_) {
    const uint32_t fmt = n->type == FileType::directory ? S_IFDIR : n->type == FileType::regular ? S_IFREG : S_IFLNK;
    if ((n->mode & S_IFMT) != fmt) return fail(ino, "mode says another type");
    if (n->type == FileType::symlink && (n->target.empty() || n->target.size() >= proto::kMaxPath))
      return fail(ino, "symlink without a valid target");
    if (n->type != FileType::directory) {
      if (!n->entries.empty()) return fail(ino, "a non-directory with entries");
      continue;
    }
    uint32_t subdirs = 0;
    for (const auto& [name, e] : n->entries) {
      const Inode* c = find(e.ino);
      if (c == nullptr) return fail(ino, "entry '" + name + "' names missing inode " + std::to_string(e.ino));
      if (e.cookie < 3 || e.cookie >= n->next_cookie) return fail(ino, "entry '" + name + "' has a cookie out of range");
      if (c->type == FileType::directory) {
        ++subdirs;
        if (c->parent != ino || c->name != name)
          return fail(e.ino, "directory's parent link disagrees with entry '" + name + "' of " + std::to_string(ino));
      }
      ++names[e.ino];
    }
    if (subdirs != n->subdirs) return fail(ino, "subdirectory count is wrong");
  }
  for (const auto& [ino, n] : table_) {
    const uint32_t count = names.count(ino) != 0 ? names[ino] : 0;
    if (ino == proto::kRootIno) {
      if (count != 0) return fail(ino, "the root has a name");
      continue;
    }
    if (count == 0) return fail(ino, "not reachable from the root (no name)");
    if (n->type == FileType::directory ? count != 1 : count != n->nlink)
      return fail(ino, "link count " + std::to_string(n->nlink) + " but " + std::to_string(count) + " names");
  }
  // A directory cycle would hang canonical(): every directory's parents
  // must reach the root.
  for (const auto& [ino, n] : table_) {
    if (n->type != FileType::directory) continue;
    const Inode* d = n.get();
    for (size_t steps = 0; d != root_; ++steps) {
      if (steps > table_.size()) return fail(ino, "directory cycle");
      d = find(d->parent);
      if (d == nullptr) return fail(ino, "parent chain breaks");
    }
  }
  for (const auto& [ino, n] : table_) {
    if (n->type != FileType::regular) continue;
    if (store_ == nullptr) {
      if (int rc = make_memfd(ino, n->data); rc < 0) return fail(ino, std::string("data: ") + std::strerror(-rc));
    } else if (int rc = store_->open_data(ino, n->data); rc < 0 && rc != -ENOENT) {
      return fail(ino, std::string("data file: ") + std::strerror(-rc));
    }
  }
  return true;
}

std::vector<uint64_t> MemBackend::files_without_data() const {
  std::vector<uint64_t> out;
  for (const Inode* n : inodes())
    if (n->type == FileType::regular && !n->data.valid()) out.push_back(n->ino);
  return out;
}

int MemBackend::recreate_data(uint64_t ino) {
  Inode* n = find(ino);
  if (n == nullptr || n->type != FileType::regular) return -ENOENT;
  return ensure_data(*n);
}

}  // namespace userfs::server

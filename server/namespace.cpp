// The namespace's operations. Errors are listed in namespace.hpp; Linux's
// own behaviour (as seen in tmpfs) is the reference wherever POSIX leaves a
// choice.
#include "namespace.hpp"

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

#include "userfs/wire.hpp"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U  // Linux >= 6.3: say explicitly that the data may be exec'd
#endif

namespace userfs::server {
namespace {

timespec now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

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

bool in_groups(const Cred& cred, gid_t gid) {
  if (cred.gid == gid) return true;
  for (gid_t g : cred.groups)
    if (g == gid) return true;
  return false;
}

// As Linux's inode_init_owner: a file or symlink made in a setgid
// directory takes the directory's group, and a group-executable setgid
// file keeps that bit only for a creator in the group (or root).
void inherit_setgid_group(Inode& n, const Inode& dir, const Cred& cred) {
  if ((dir.mode & S_ISGID) == 0) return;
  n.gid = dir.gid;
  if ((n.mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) && cred.uid != 0 && !in_groups(cred, n.gid))
    n.mode &= ~static_cast<uint32_t>(S_ISGID);
}

// Splits a path into its components; empty ones ("a//b", a leading or
// trailing '/') are dropped.
std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// The part of `path` after component `c` (a view into it): "" or "/...".
std::string_view rest_after(std::string_view path, std::string_view c) {
  return path.substr(static_cast<size_t>(c.data() - path.data()) + c.size());
}

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

Namespace::Namespace(uint64_t dev, uid_t root_uid, gid_t root_gid, uint32_t root_mode)
    : dev_(dev), limits_(default_limits()) {
  Cred owner{root_uid, root_gid, {}};
  Inode& root = new_inode(FileType::directory, root_mode, owner);
  root.parent = root.ino;
  root_ = &root;
}

// --- lookups ---------------------------------------------------------------

Inode* Namespace::find(uint64_t ino) const {
  auto it = table_.find(ino);
  return it == table_.end() ? nullptr : it->second.get();
}

Inode* Namespace::child(const Inode& dir, std::string_view name) const {
  auto it = dir.entries.find(name);
  return it == dir.entries.end() ? nullptr : find(it->second.ino);
}

Inode* Namespace::parent_of(const Inode& dir) const {
  Inode* p = find(dir.parent);
  return p != nullptr ? p : root_;
}

// Where a path starts: the root for an absolute path, else `base`.
int Namespace::start_dir(uint64_t base, std::string_view path, Inode*& out) const {
  if (!path.empty() && path[0] == '/') {
    out = root_;
    return 0;
  }
  if (base == proto::kBaseRoot) {
    out = root_;
    return 0;
  }
  Inode* n = find(base);
  if (n == nullptr) return -ENOENT;
  if (n->type != FileType::directory) return -ENOTDIR;
  out = n;
  return 0;
}

int Namespace::walk(uint64_t base, std::string_view path, const Cred& cred, int& hops, Walk& out, bool name_op) {
  Inode* start = nullptr;
  if (int rc = start_dir(base, path, start); rc < 0) return rc;
  return walk_from(start, path, cred, hops, out, name_op);
}

int Namespace::redirect_to(uint32_t kind, std::string_view head, std::string_view rest) {
  redirect_ = Redirect{kind, 0, std::string(head)};
  return extend_redirect(rest);
}

int Namespace::extend_redirect(std::string_view rest) {
  if (!rest.empty() && !redirect_.path.empty() && redirect_.path.back() == '/' && rest.front() == '/')
    rest.remove_prefix(1);
  redirect_.path += rest;
  if (redirect_.path.size() >= proto::kMaxPath) return -ENAMETOOLONG;
  return kRedirected;
}

int Namespace::walk_link(Inode* dir, const Inode& link, const Cred& cred, int& hops, Walk& out) {
  if (++hops > kMaxSymlinkHops) return -ELOOP;
  if (link.target.empty()) return -ENOENT;
  if (link.target[0] == '/') return redirect_to(proto::kRedirectAbsolute, link.target, {});
  return walk_from(dir, link.target, cred, hops, out);
}

// Walks every component but the last, following symlinks on the way.
int Namespace::walk_from(Inode* start, std::string_view path, const Cred& cred, int& hops, Walk& out,
                         bool name_op) {
  if (path.size() >= proto::kMaxPath) return -ENAMETOOLONG;
  Inode* cur = (!path.empty() && path[0] == '/') ? root_ : start;
  const auto comps = components(path);
  out = Walk{};
  out.trailing_slash = !comps.empty() && path.back() == '/';
  for (size_t i = 0; i < comps.size(); ++i) {
    std::string_view c = comps[i];
    if (c.size() > proto::kMaxName) return -ENAMETOOLONG;
    if (cur->type != FileType::directory) return -ENOTDIR;
    if (!permits(*cur, cred, X_OK)) return -EACCES;
    const bool last = i + 1 == comps.size();
    if (c == ".") {
      if (last) out.kind = LastKind::dot;
      continue;
    }
    if (c == "..") {
      // Above the mount root is the host's business, unless the operation
      // refuses a final ".." whatever it names.
      if (cur == root_) {
        if (last && name_op) {
          out.kind = LastKind::dotdot;
          continue;
        }
        return redirect_to(proto::kRedirectMountParent, "..", rest_after(path, c));
      }
      cur = parent_of(*cur);
      if (last) out.kind = LastKind::dotdot;
      continue;
    }
    if (last) {
      out.dir = cur;
      out.name = c;
      out.kind = LastKind::name;
      return 0;
    }
    Inode* next = child(*cur, c);
    if (next == nullptr) return -ENOENT;
    if (next->type == FileType::symlink) {
      Walk t;
      int rc = walk_link(cur, *next, cred, hops, t);
      if (rc == 0) rc = finish(t, Follow::yes, cred, hops, next);
      if (rc == kRedirected) return extend_redirect(rest_after(path, c));
      if (rc < 0) return rc;
    }
    cur = next;
  }
  if (cur->type != FileType::directory) return -ENOTDIR;
  out.dir = cur;
  return 0;
}

// Resolves a walk's last component.
int Namespace::finish(const Walk& w, Follow follow, const Cred& cred, int& hops, Inode*& out, Walk* at) {
  if (w.kind != LastKind::name) {
    if (at != nullptr) *at = w;
    out = w.dir;
    return 0;
  }
  Inode* n = child(*w.dir, w.name);
  if (n == nullptr) return -ENOENT;
  // A trailing slash follows a final symlink whatever the caller asked.
  if (n->type == FileType::symlink && (follow == Follow::yes || w.trailing_slash)) {
    Walk t;
    int rc = walk_link(w.dir, *n, cred, hops, t);
    if (rc == 0) {
      t.trailing_slash = t.trailing_slash || w.trailing_slash;
      rc = finish(t, Follow::yes, cred, hops, n, at);
    }
    if (rc == kRedirected) return extend_redirect(w.trailing_slash ? "/" : "");
    if (rc < 0) return rc;
    out = n;
    return 0;
  }
  if (w.trailing_slash && n->type != FileType::directory) return -ENOTDIR;
  if (at != nullptr) *at = w;
  out = n;
  return 0;
}

int Namespace::resolve(uint64_t base, std::string_view path, Follow follow, const Cred& cred, Inode*& out,
                       Walk* at) {
  if (path.empty() && base != proto::kBaseRoot) {
    // The base itself, of any type (AT_EMPTY_PATH on an open fd).
    Inode* n = find(base);
    if (n == nullptr) return -ENOENT;
    if (at != nullptr) *at = Walk{};
    out = n;
    return 0;
  }
  int hops = 0;
  Walk w;
  if (int rc = walk(base, path, cred, hops, w); rc != 0) return rc;
  return finish(w, follow, cred, hops, out, at);
}

// --- permissions -----------------------------------------------------------

// mask: R_OK|W_OK|X_OK. uid 0 may read and write anything, and search or
// execute anything with an x bit (directories always).
bool Namespace::permits(const Inode& n, const Cred& cred, int mask) const {
  if (cred.uid == 0) {
    if ((mask & X_OK) == 0) return true;
    return n.type == FileType::directory || (n.mode & 0111) != 0;
  }
  uint32_t bits;
  if (cred.uid == n.uid)
    bits = (n.mode >> 6) & 7;
  else if (in_groups(cred, n.gid))
    bits = (n.mode >> 3) & 7;
  else
    bits = n.mode & 7;
  return (bits & static_cast<uint32_t>(mask)) == static_cast<uint32_t>(mask);
}

int Namespace::may_create() const {
  return limits_.max_inodes != 0 && table_.size() >= limits_.max_inodes ? -ENOSPC : 0;
}

int Namespace::may_modify_dir(const Inode& dir, const Cred& cred) const {
  return permits(dir, cred, W_OK | X_OK) ? 0 : -EACCES;
}

// Removing or replacing `victim` in `dir`: write on the directory and, if
// it is sticky, ownership of one of them.
int Namespace::may_delete(const Inode& dir, const Inode& victim, const Cred& cred) const {
  if (int rc = may_modify_dir(dir, cred); rc < 0) return rc;
  if ((dir.mode & S_ISVTX) != 0 && cred.uid != 0 && cred.uid != dir.uid && cred.uid != victim.uid)
    return -EPERM;
  return 0;
}

// --- inodes and entries ----------------------------------------------------

Inode& Namespace::new_inode(FileType type, uint32_t perm_bits, const Cred& cred) {
  auto n = std::make_unique<Inode>();
  n->ino = next_ino_++;
  n->type = type;
  const uint32_t fmt = type == FileType::directory ? S_IFDIR : type == FileType::regular ? S_IFREG : S_IFLNK;
  n->mode = fmt | (perm_bits & 07777);
  n->uid = cred.uid;
  n->gid = cred.gid;
  n->nlink = type == FileType::directory ? 2 : 1;
  n->atime = n->mtime = n->ctime = n->btime = now();
  Inode& ref = *n;
  table_.emplace(ref.ino, std::move(n));
  touch(ref);
  return ref;
}

int Namespace::open_dir_handle(bool path_only, bool o_directory) {
  if (!empty_dir_.valid()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp") + "/userfsd-dir-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) return -errno;
    int fd = ::open(templ.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int err = errno;
    ::rmdir(templ.c_str());
    if (fd < 0) return -err;
    empty_dir_.reset(fd);
  }
  if (path_only) return reopen(empty_dir_.get(), O_PATH | (o_directory ? O_DIRECTORY : 0));
  return reopen(empty_dir_.get(), O_RDONLY | O_DIRECTORY);
}

// Regular files get their data (a memfd, or the store's file) at creation.
int Namespace::ensure_data(Inode& n) {
  if (n.data.valid()) return 0;
  if (store_ != nullptr) return store_->create_data(n.ino, n.data);
  return make_memfd(n.ino, n.data);
}

void Namespace::add_entry(Inode& dir, std::string_view name, Inode& node) {
  const uint64_t cookie = dir.next_cookie++;
  const auto entry = dir.entries.emplace(std::string(name), Inode::Entry{node.ino, cookie}).first;
  dir.by_cookie.emplace(cookie, entry);
  if (node.type == FileType::directory) {
    node.parent = dir.ino;
    node.name = std::string(name);
    ++dir.subdirs;
    touch(node);
  }
  dir.mtime = dir.ctime = now();
  touch(dir);
  if (store_ != nullptr) encode_put_entry(events_, dir.ino, name, node.ino, cookie);
}

void Namespace::remove_entry(Inode& dir, std::string_view name) {
  auto it = dir.entries.find(name);
  if (it == dir.entries.end()) return;
  Inode* n = find(it->second.ino);
  if (n != nullptr && n->type == FileType::directory) --dir.subdirs;
  dir.by_cookie.erase(it->second.cookie);
  dir.entries.erase(it);
  dir.mtime = dir.ctime = now();
  touch(dir);
  if (store_ != nullptr) encode_del_entry(events_, dir.ino, name);
}

// One name less for `node`; at zero the inode goes (and with it our memfd
// reference: clients keep their own fds and the data).
void Namespace::drop_link(Inode& node) {
  if (node.type != FileType::directory && node.nlink > 1) {
    --node.nlink;
    node.ctime = now();
    touch(node);
    return;
  }
  if (node.type == FileType::directory && !cwd_root_.empty()) {
    // Its stand-in host directory, if a chdir made one (emptiness is the
    // kernel's to check: one a client wrote into stays).
    ::rmdir((cwd_root_ + "/" + std::to_string(node.ino)).c_str());
  }
  if (store_ != nullptr) {
    encode_drop_inode(events_, node.ino);
    if (node.type == FileType::regular) dropped_.push_back(node.ino);
  }
  table_.erase(node.ino);
}

proto::Attr Namespace::attr_of(const Inode& n) const {
  proto::Attr a{};
  a.dev = dev_;
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
      // Clients write straight to the memfd: its size and times are the truth,
      // except ctime, which our own metadata changes also move.
      struct stat st {};
      if (n.data.valid() && fstat(n.data.get(), &st) == 0) {
        a.size = static_cast<uint64_t>(st.st_size);
        a.blocks = static_cast<uint64_t>(st.st_blocks);
        atime = st.st_atim;
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
  return a;
}

// --- operations ------------------------------------------------------------

int Namespace::lookup(uint64_t base, std::string_view path, Follow follow, const Cred& cred, proto::Attr& out) {
  Inode* n = nullptr;
  if (int rc = resolve(base, path, follow, cred, n); rc != 0) return rc;
  out = attr_of(*n);
  return 0;
}

int Namespace::getattr(uint64_t ino, proto::Attr& out) const {
  const Inode* n = find(ino);
  if (n == nullptr) return -ENOENT;
  out = attr_of(*n);
  return 0;
}

int Namespace::open_impl(uint64_t base, std::string_view path, uint32_t flags, uint32_t mode, const Cred& cred,
                    OpenResult& out) {
  // O_PATH: Linux ignores every flag but O_DIRECTORY, O_NOFOLLOW (and
  // O_CLOEXEC, the client's business), and needs no permission on the
  // object itself, only search on the way to it.
  const bool path_only = (flags & proto::kOpenPath) != 0;
  if (path_only) flags &= proto::kOpenPath | proto::kOpenDirectory | proto::kOpenNoFollow;
  const bool create = (flags & proto::kOpenCreate) != 0;
  const bool excl = create && (flags & proto::kOpenExcl) != 0;
  const bool trunc = (flags & proto::kOpenTrunc) != 0;
  const uint32_t acc = flags & proto::kOpenAccMode;
  if (create && (flags & proto::kOpenDirectory) != 0) return -EINVAL;

  int hops = 0;
  Walk w;
  if (int rc = walk(base, path, cred, hops, w); rc != 0) return rc;

  // Find the final object, following symlinks by hand so that O_CREAT on a
  // dangling symlink creates its target, as Linux does.
  Inode* node = nullptr;
  bool created = false;
  for (;;) {
    if (w.kind != LastKind::name) {
      if (excl) return -EEXIST;
      node = w.dir;
      break;
    }
    // As Linux's open_last_lookups: O_CREAT and a trailing '/' is EISDIR
    // before the name is even looked up (existing, missing or a symlink).
    if (create && w.trailing_slash) return -EISDIR;
    Inode* n = child(*w.dir, w.name);
    if (n == nullptr) {
      if (!create) return -ENOENT;
      if (int rc = may_modify_dir(*w.dir, cred); rc < 0) return rc;
      if (int rc = may_create(); rc < 0) return rc;
      if (int rc = reserve_deferred(); rc < 0) return rc;
      Inode& f = new_inode(FileType::regular, mode, cred);
      inherit_setgid_group(f, *w.dir, cred);
      if (int rc = ensure_data(f); rc < 0) {
        table_.erase(f.ino);
        return rc;
      }
      add_entry(*w.dir, w.name, f);
      node = &f;
      created = true;
      break;
    }
    if (excl) return -EEXIST;
    if (n->type == FileType::symlink) {
      // With kOpenPath Linux gives an fd of the symlink itself; we have no
      // host object that stands for one, so that is ELOOP too (a limitation).
      if ((flags & proto::kOpenNoFollow) != 0 && !w.trailing_slash) return -ELOOP;
      Walk t;
      if (int rc = walk_link(w.dir, *n, cred, hops, t); rc != 0)
        return rc == kRedirected ? extend_redirect(w.trailing_slash ? "/" : "") : rc;
      t.trailing_slash = t.trailing_slash || w.trailing_slash;
      w = t;
      continue;
    }
    if (w.trailing_slash && n->type != FileType::directory) return -ENOTDIR;
    node = n;
    break;
  }

  if (path_only) {
    if ((flags & proto::kOpenDirectory) != 0 && node->type != FileType::directory) return -ENOTDIR;
    const int fd = node->type == FileType::directory ? open_dir_handle(true, (flags & proto::kOpenDirectory) != 0) : reopen(node->data.get(), O_PATH);
    if (fd < 0) return fd;
    out.fd.reset(fd);
    out.attr = attr_of(*node);
    return 0;
  }

  if (node->type == FileType::directory) {
    // Access mode 3 ("ioctl only") is refused on a directory as a write is.
    if (create || acc != O_RDONLY || trunc) return -EISDIR;
    if (!permits(*node, cred, R_OK)) return -EACCES;
    int fd = open_dir_handle();
    if (fd < 0) return fd;
    out.fd.reset(fd);
    out.attr = attr_of(*node);
    return 0;
  }
  if ((flags & proto::kOpenDirectory) != 0) return -ENOTDIR;

  if (!created) {
    // Access mode 3 (O_WRONLY|O_RDWR) opens for neither but needs both, as
    // Linux's ACC_MODE; the reopen passes it on and the kernel keeps it.
    int need = 0;
    if (acc != O_WRONLY) need |= R_OK;
    if (acc != O_RDONLY || trunc) need |= W_OK;
    if (!permits(*node, cred, need)) return -EACCES;
  }
  int kflags = static_cast<int>(acc);
  if ((flags & proto::kOpenAppend) != 0) kflags |= O_APPEND;
  if ((flags & proto::kOpenNonBlock) != 0) kflags |= O_NONBLOCK;
  if ((flags & proto::kOpenSync) != 0) kflags |= O_SYNC;
  if ((flags & proto::kOpenDsync) != 0) kflags |= O_DSYNC;
  int fd = reopen(node->data.get(), kflags);
  if (fd < 0) return fd;
  UniqueFd client(fd);
  if (trunc && !created) {
    // The client may have asked for O_RDONLY|O_TRUNC: truncate through a
    // private read-write reopen, never through our read-only reference.
    int rw = reopen(node->data.get(), O_RDWR);
    if (rw < 0) return rw;
    UniqueFd tmp(rw);
    if (ftruncate(tmp.get(), 0) < 0) return -errno;
  }
  out.fd = std::move(client);
  out.attr = attr_of(*node);
  return 0;
}

int Namespace::mkdir_impl(uint64_t base, std::string_view path, uint32_t mode, const Cred& cred) {
  int hops = 0;
  Walk w;
  if (int rc = walk(base, path, cred, hops, w, true); rc != 0) return rc;
  if (w.kind != LastKind::name) return -EEXIST;
  if (w.dir->entries.count(w.name) != 0) return -EEXIST;
  if (int rc = may_modify_dir(*w.dir, cred); rc < 0) return rc;
  if (int rc = may_create(); rc < 0) return rc;
  if (int rc = reserve_deferred(); rc < 0) return rc;
  // mkdir(2) keeps only the permission and sticky bits; setgid comes from
  // a setgid parent, with its group.
  Inode& d = new_inode(FileType::directory, mode & 01777, cred);
  if ((w.dir->mode & S_ISGID) != 0) {
    d.mode |= S_ISGID;
    d.gid = w.dir->gid;
  }
  add_entry(*w.dir, w.name, d);
  return 0;
}

int Namespace::unlink_impl(uint64_t base, std::string_view path, uint32_t flags, const Cred& cred) {
  const bool rmdir = (flags & proto::kUnlinkRemoveDir) != 0;
  int hops = 0;
  Walk w;
  if (int rc = walk(base, path, cred, hops, w, true); rc != 0) return rc;
  if (w.kind != LastKind::name) {
    if (!rmdir) return -EISDIR;
    if (w.kind == LastKind::dot) return -EINVAL;
    if (w.kind == LastKind::dotdot) return -ENOTEMPTY;
    return -EBUSY;
  }
  Inode* n = child(*w.dir, w.name);
  if (n == nullptr) return -ENOENT;
  if (rmdir) {
    if (n->type != FileType::directory) return -ENOTDIR;
  } else {
    if (n->type == FileType::directory) return -EISDIR;
    if (w.trailing_slash) return -ENOTDIR;
  }
  if (int rc = may_delete(*w.dir, *n, cred); rc < 0) return rc;
  if (rmdir && !n->entries.empty()) return -ENOTEMPTY;
  if (int rc = reserve_deferred(); rc < 0) return rc;
  remove_entry(*w.dir, w.name);
  drop_link(*n);
  return 0;
}

int Namespace::rename_impl(uint64_t old_base, std::string_view old_path, uint64_t new_base,
                      std::string_view new_path, uint32_t flags, const Cred& cred) {
  const bool noreplace = (flags & proto::kRenameNoReplace) != 0;
  const bool exchange = (flags & proto::kRenameExchange) != 0;
  if (noreplace && exchange) return -EINVAL;

  int hops = 0;
  Walk ow, nw;
  if (int rc = walk(old_base, old_path, cred, hops, ow, true); rc != 0) return rc;
  hops = 0;
  if (int rc = walk(new_base, new_path, cred, hops, nw, true); rc != 0) return second_path(rc, redirect_);
  if (ow.kind != LastKind::name) return -EBUSY;
  if (nw.kind != LastKind::name) return noreplace ? -EEXIST : -EBUSY;

  Inode& odir = *ow.dir;
  Inode& ndir = *nw.dir;
  Inode* src = child(odir, ow.name);
  if (src == nullptr) return -ENOENT;
  Inode* dst = child(ndir, nw.name);
  if (exchange && dst == nullptr) return -ENOENT;
  if (noreplace && dst != nullptr) return -EEXIST;

  const bool src_dir = src->type == FileType::directory;
  const bool dst_dir = dst != nullptr && dst->type == FileType::directory;
  if (ow.trailing_slash && !src_dir) return -ENOTDIR;
  if (nw.trailing_slash && !src_dir && !exchange) return -ENOTDIR;
  if (exchange && nw.trailing_slash && !dst_dir) return -ENOTDIR;

  if (src == dst) return 0;  // same object under both names: nothing to do, as vfs_rename
  if (int rc = may_delete(odir, *src, cred); rc < 0) return rc;
  if (dst != nullptr) {
    if (int rc = may_delete(ndir, *dst, cred); rc < 0) return rc;
  } else if (int rc = may_modify_dir(ndir, cred); rc < 0) {
    return rc;
  }

  // A directory may not move under itself: walk up from the destination's
  // parent (and, for an exchange, from the source's).
  auto inside = [this](const Inode* dir, const Inode* ancestor) {
    for (const Inode* p = dir;; p = parent_of(*p)) {
      if (p == ancestor) return true;
      if (p == root_) return false;
    }
  };
  if (src_dir && inside(&ndir, src)) return -EINVAL;
  if (exchange && dst_dir && inside(&odir, dst)) return -EINVAL;

  if (exchange) {
    if (int rc = reserve_deferred(); rc < 0) return rc;
    // The names keep their places (and readdir cookies); the objects swap.
    auto& oe = odir.entries.find(ow.name)->second;
    auto& ne = ndir.entries.find(nw.name)->second;
    std::swap(oe.ino, ne.ino);
    if (src_dir) {
      --odir.subdirs;
      ++ndir.subdirs;
      src->parent = ndir.ino;
      src->name = std::string(nw.name);
    }
    if (dst_dir) {
      --ndir.subdirs;
      ++odir.subdirs;
      dst->parent = odir.ino;
      dst->name = std::string(ow.name);
    }
    const timespec t = now();
    odir.mtime = odir.ctime = ndir.mtime = ndir.ctime = src->ctime = dst->ctime = t;
    for (const Inode* n : {&odir, &ndir, src, dst}) touch(*n);
    if (store_ != nullptr) {
      encode_put_entry(events_, odir.ino, ow.name, oe.ino, oe.cookie);
      encode_put_entry(events_, ndir.ino, nw.name, ne.ino, ne.cookie);
    }
    return 0;
  }

  if (dst != nullptr) {
    if (src_dir && !dst_dir) return -ENOTDIR;
    if (!src_dir && dst_dir) return -EISDIR;
    if (dst_dir && !dst->entries.empty()) return -ENOTEMPTY;
    if (int rc = reserve_deferred(); rc < 0) return rc;
    remove_entry(ndir, nw.name);
    drop_link(*dst);
  }
  if (int rc = reserve_deferred(); rc < 0) return rc;
  // The moved name is an insertion in ndir: it gets a fresh cookie.
  remove_entry(odir, ow.name);
  add_entry(ndir, nw.name, *src);
  src->ctime = now();
  touch(*src);
  return 0;
}

int Namespace::readdir(uint64_t ino, uint64_t cookie, void* buf, size_t cap, size_t& used) const {
  const Inode* d = find(ino);
  wire::Writer w(buf, cap);
  proto::ReaddirRep rep{};
  if (d == nullptr) {
    if (ino < proto::kRootIno || ino >= next_ino_) return -ENOENT;
    rep.eof = 1;  // allocated and gone: an empty listing (see the header)
    if (!w.fixed(rep)) return -EINVAL;
    used = w.size();
    return 0;
  }
  if (d->type != FileType::directory) return -ENOTDIR;
  if (!w.fixed(rep)) return -EINVAL;

  // Returns false when the entry does not fit.
  auto put = [&w, &rep](uint64_t eino, uint64_t ecookie, uint8_t type, std::string_view name) {
    if (w.room() < proto::dir_entry_size(name.size())) return false;
    proto::DirEntry e{};
    e.ino = eino;
    e.cookie = ecookie;
    e.name_len = static_cast<uint16_t>(name.size());
    e.type = type;
    w.fixed(e);
    w.bytes(name.data(), name.size());
    w.zeros(proto::dir_entry_size(name.size()) - sizeof e - name.size());
    ++rep.count;
    return true;
  };

  bool full = false;
  if (cookie < 1) full = !put(d->ino, 1, DT_DIR, ".");
  if (!full && cookie < 2) full = !put(parent_of(*d)->ino, 2, DT_DIR, "..");
  if (!full) {
    for (auto it = d->by_cookie.upper_bound(cookie); it != d->by_cookie.end(); ++it) {
      const auto& [name, e] = *it->second;
      const Inode* n = find(e.ino);
      if (!put(e.ino, it->first, n != nullptr ? dtype(n->type) : uint8_t{DT_UNKNOWN}, name)) {
        full = true;
        break;
      }
    }
  }
  rep.eof = full ? 0 : 1;
  std::memcpy(buf, &rep, sizeof rep);
  used = w.size();
  return 0;
}

int Namespace::access(uint64_t base, std::string_view path, uint32_t mode, Follow follow, const Cred& cred) {
  Inode* n = nullptr;
  if (int rc = resolve(base, path, follow, cred, n); rc != 0) return rc;
  if (mode == F_OK) return 0;
  return permits(*n, cred, static_cast<int>(mode)) ? 0 : -EACCES;
}

int Namespace::symlink_impl(std::string_view target, uint64_t base, std::string_view path, const Cred& cred) {
  if (target.empty()) return -ENOENT;
  if (target.size() >= proto::kMaxPath) return -ENAMETOOLONG;
  int hops = 0;
  Walk w;
  if (int rc = walk(base, path, cred, hops, w, true); rc != 0) return second_path(rc, redirect_);
  if (w.kind != LastKind::name || w.dir->entries.count(w.name) != 0) return -EEXIST;
  if (w.trailing_slash) return -ENOENT;  // as Linux: symlink("x", "new/")
  if (int rc = may_modify_dir(*w.dir, cred); rc < 0) return rc;
  if (int rc = may_create(); rc < 0) return rc;
  if (int rc = reserve_deferred(); rc < 0) return rc;
  Inode& l = new_inode(FileType::symlink, 0777, cred);
  inherit_setgid_group(l, *w.dir, cred);
  l.target = std::string(target);
  add_entry(*w.dir, w.name, l);
  return 0;
}

int Namespace::readlink(uint64_t base, std::string_view path, const Cred& cred, std::string& out) {
  Inode* n = nullptr;
  if (int rc = resolve(base, path, Follow::no, cred, n); rc != 0) return rc;
  if (n->type != FileType::symlink) return -EINVAL;
  out = n->target;
  return 0;
}

int Namespace::link_impl(uint64_t old_base, std::string_view old_path, Follow follow, uint64_t new_base,
                    std::string_view new_path, const Cred& cred) {
  Inode* src = nullptr;
  if (int rc = resolve(old_base, old_path, follow, cred, src); rc != 0) return rc;
  int hops = 0;
  Walk w;
  if (int rc = walk(new_base, new_path, cred, hops, w, true); rc != 0) return second_path(rc, redirect_);
  if (w.kind != LastKind::name || w.dir->entries.count(w.name) != 0) return -EEXIST;
  if (w.trailing_slash) return -ENOENT;
  if (src->type == FileType::directory) return -EPERM;
  if (int rc = may_modify_dir(*w.dir, cred); rc < 0) return rc;
  // fs.protected_hardlinks: only what one owns, or could read and write and
  // is not set-id.
  if (cred.uid != 0 && cred.uid != src->uid) {
    const bool setid = (src->mode & S_ISUID) != 0 || (src->mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP);
    if (setid || !permits(*src, cred, R_OK | W_OK)) return -EPERM;
  }
  if (int rc = reserve_deferred(); rc < 0) return rc;
  ++src->nlink;
  src->ctime = now();
  touch(*src);
  add_entry(*w.dir, w.name, *src);
  return 0;
}

int Namespace::setattr_impl(uint64_t base, std::string_view path, Follow follow, const SetattrArgs& a, const Cred& cred,
                       proto::Attr& out) {
  Inode* n = nullptr;
  if (int rc = resolve(base, path, follow, cred, n); rc != 0) return rc;
  const bool root = cred.uid == 0;
  const bool owner = root || cred.uid == n->uid;
  const uint32_t v = a.valid;
  const bool set_uid = (v & proto::kSetUid) != 0 && a.uid != UINT32_MAX;
  const bool set_gid = (v & proto::kSetGid) != 0 && a.gid != UINT32_MAX;

  // Check everything first: a refused request changes nothing.
  if ((v & proto::kSetMode) != 0) {
    if (n->type == FileType::symlink) return -EOPNOTSUPP;
    if (!owner) return -EPERM;
  }
  if (set_uid && !root && !(cred.uid == n->uid && a.uid == n->uid)) return -EPERM;
  if (set_gid && !root && !(cred.uid == n->uid && (a.gid == n->gid || in_groups(cred, a.gid)))) return -EPERM;
  // Any chown of a non-directory (kSetUid/kSetGid, even naming the current
  // ids or none: UINT32_MAX) drops set-id bits as Linux's chown_common:
  // setuid always; setgid if group-executable, or if the caller (not root)
  // is outside the file's group. Dropping them is a mode change: only the
  // owner or root may (EPERM, e.g. chown(-1, -1) on another's setuid file).
  const bool chown = (v & (proto::kSetUid | proto::kSetGid)) != 0 && n->type != FileType::directory;
  auto setid_to_drop = [&](uint32_t mode) {
    uint32_t drop = mode & S_ISUID;
    if ((mode & S_ISGID) != 0 && ((mode & S_IXGRP) != 0 || (!root && !in_groups(cred, n->gid)))) drop |= S_ISGID;
    return drop;
  };
  if (chown && !owner && setid_to_drop(n->mode) != 0) return -EPERM;
  if ((v & proto::kSetSize) != 0) {
    if (n->type == FileType::directory) return -EISDIR;
    if (n->type != FileType::regular) return -EINVAL;
    if (a.size > kMaxFileSize) return -EFBIG;
    if (!permits(*n, cred, W_OK)) return -EACCES;
  }
  const uint32_t times = v & (proto::kSetAtime | proto::kSetAtimeNow | proto::kSetMtime | proto::kSetMtimeNow);
  if (times != 0) {
    const bool explicit_time = (v & (proto::kSetAtime | proto::kSetMtime)) != 0;
    if (explicit_time && !owner) return -EPERM;
    if (!explicit_time && !owner && !permits(*n, cred, W_OK)) return -EACCES;
  }

  if (int rc = reserve_deferred(); rc < 0) return rc;
  // Then apply, the steps that can fail first.
  if ((v & proto::kSetSize) != 0) {
    int rw = reopen(n->data.get(), O_RDWR);
    if (rw < 0) return rw;
    UniqueFd tmp(rw);
    if (ftruncate(tmp.get(), static_cast<off_t>(a.size)) < 0) return -errno;
  }
  if (times != 0) {
    timespec ts[2];
    ts[0] = (v & proto::kSetAtime) != 0 ? a.atime : timespec{0, (v & proto::kSetAtimeNow) != 0 ? UTIME_NOW : UTIME_OMIT};
    ts[1] = (v & proto::kSetMtime) != 0 ? a.mtime : timespec{0, (v & proto::kSetMtimeNow) != 0 ? UTIME_NOW : UTIME_OMIT};
    if (n->type == FileType::regular) {
      // Clients' fstat reads the memfd: its times are the truth.
      if (futimens(n->data.get(), ts) < 0) return -errno;
    } else {
      const timespec t = now();
      if (ts[0].tv_nsec != UTIME_OMIT) n->atime = ts[0].tv_nsec == UTIME_NOW ? t : ts[0];
      if (ts[1].tv_nsec != UTIME_OMIT) n->mtime = ts[1].tv_nsec == UTIME_NOW ? t : ts[1];
    }
  }
  if ((v & proto::kSetMode) != 0) {
    uint32_t mode = a.mode & 07777;
    if (!root && !in_groups(cred, n->gid)) mode &= ~static_cast<uint32_t>(S_ISGID);
    n->mode = (n->mode & S_IFMT) | mode;
  }
  if (chown) n->mode &= ~setid_to_drop(n->mode);
  if (set_uid) n->uid = a.uid;
  if (set_gid) n->gid = a.gid;
  if (v != 0) n->ctime = now();
  touch(*n);
  out = attr_of(*n);
  return 0;
}

void Namespace::statfs(proto::StatfsRep& out) const {
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
  out.fsid = dev_;
}

// --- extended attributes ---------------------------------------------------

namespace {
enum class XattrNs : uint8_t { user, trusted, security, other };
XattrNs xattr_ns(std::string_view name) {
  if (name.rfind("user.", 0) == 0) return XattrNs::user;
  if (name.rfind("trusted.", 0) == 0) return XattrNs::trusted;
  if (name.rfind("security.", 0) == 0) return XattrNs::security;
  return XattrNs::other;
}
// Names, NUL-terminated, must fit one reply next to its header.
constexpr size_t kMaxXattrList = proto::kMaxMessage - sizeof(proto::ReplyHeader);
}  // namespace

// As Linux's xattr_permission and the security module's defaults.
int Namespace::xattr_check(const Inode& n, std::string_view name, bool write, const Cred& cred) const {
  if (name.empty() || name.size() > proto::kMaxName) return -ERANGE;
  const XattrNs ns = xattr_ns(name);
  if (ns == XattrNs::other) return -EOPNOTSUPP;  // no such namespace, or system.* (ACLs)
  if (name.back() == '.' && name.find('.') == name.size() - 1) return -EINVAL;  // a bare prefix
  const bool root = cred.uid == 0;
  switch (ns) {
    case XattrNs::trusted:
      return root ? 0 : write ? -EPERM : -ENODATA;
    case XattrNs::security:
      return root || !write ? 0 : -EPERM;
    case XattrNs::user:
      if (n.type != FileType::regular && n.type != FileType::directory) return write ? -EPERM : -ENODATA;
      if (write && n.type == FileType::directory && (n.mode & S_ISVTX) != 0 && !root && cred.uid != n.uid)
        return -EPERM;
      return permits(n, cred, write ? W_OK : R_OK) ? 0 : -EACCES;
    case XattrNs::other:
      break;
  }
  return -EOPNOTSUPP;
}

int Namespace::getxattr(uint64_t base, std::string_view path, Follow follow, std::string_view name,
                        const Cred& cred, std::string& out) {
  Inode* n = nullptr;
  if (int rc = resolve(base, path, follow, cred, n); rc != 0) return rc;
  if (int rc = xattr_check(*n, name, false, cred); rc < 0) return rc;
  auto it = n->xattrs.find(name);
  if (it == n->xattrs.end()) return -ENODATA;
  out = it->second;
  return 0;
}

int Namespace::setxattr_impl(uint64_t base, std::string_view path, Follow follow, std::string_view name,
                        std::string_view value, uint32_t xflags, const Cred& cred) {
  Inode* n = nullptr;
  if (int rc = resolve(base, path, follow, cred, n); rc != 0) return rc;
  if (int rc = xattr_check(*n, name, true, cred); rc < 0) return rc;
  if (value.size() > proto::kMaxXattrValue) return -E2BIG;
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
  n->ctime = now();
  touch(*n);
  if (store_ != nullptr) encode_set_xattr(events_, n->ino, name, value);
  return 0;
}

int Namespace::listxattr(uint64_t base, std::string_view path, Follow follow, const Cred& cred, std::string& out) {
  Inode* n = nullptr;
  if (int rc = resolve(base, path, follow, cred, n); rc != 0) return rc;
  out.clear();
  for (const auto& [name, value] : n->xattrs) {
    if (xattr_ns(name) == XattrNs::trusted && cred.uid != 0) continue;
    out += name;
    out += '\0';
  }
  return 0;
}

int Namespace::removexattr_impl(uint64_t base, std::string_view path, Follow follow, std::string_view name,
                           const Cred& cred) {
  Inode* n = nullptr;
  if (int rc = resolve(base, path, follow, cred, n); rc != 0) return rc;
  if (int rc = xattr_check(*n, name, true, cred); rc < 0) return rc;
  auto it = n->xattrs.find(name);
  if (it == n->xattrs.end()) return -ENODATA;
  if (int rc = reserve_deferred(); rc < 0) return rc;
  n->xattrs.erase(it);
  n->ctime = now();
  touch(*n);
  if (store_ != nullptr) encode_del_xattr(events_, n->ino, name);
  return 0;
}

// --- paths and directories -------------------------------------------------

int Namespace::dir_path(const Inode& dir, std::string& out) const {
  std::vector<const std::string*> names;
  for (const Inode* d = &dir; d != root_;) {
    names.push_back(&d->name);
    d = find(d->parent);
    if (d == nullptr) return -ENOENT;
  }
  out = "/";
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (out.size() > 1) out += '/';
    out += **it;
  }
  return 0;
}

int Namespace::canonical(uint64_t base, std::string_view path, Follow follow, const Cred& cred, std::string& out) {
  Inode* n = nullptr;
  Walk at;
  if (int rc = resolve(base, path, follow, cred, n, &at); rc != 0) return rc;
  if (n->type == FileType::directory) return dir_path(*n, out);
  const Inode* dir = at.kind == LastKind::name ? at.dir : nullptr;
  std::string_view name = at.name;
  if (dir == nullptr) {
    // A bare base (an open fd): any of its names will do.
    for (const auto& [ino, d] : table_) {
      if (d->type != FileType::directory) continue;
      for (const auto& [ename, e] : d->entries) {
        if (e.ino == n->ino) {
          dir = d.get();
          name = ename;
          break;
        }
      }
      if (dir != nullptr) break;
    }
    if (dir == nullptr) return -ENOENT;
  }
  if (int rc = dir_path(*dir, out); rc < 0) return rc;
  if (out.size() > 1) out += '/';
  out += name;
  return 0;
}

int Namespace::chdir(uint64_t base, std::string_view path, const Cred& cred, uint64_t& ino, UniqueFd& fd) {
  Inode* n = nullptr;
  if (int rc = resolve(base, path, Follow::yes, cred, n); rc != 0) return rc;
  if (n->type != FileType::directory) return -ENOTDIR;
  if (!permits(*n, cred, X_OK)) return -EACCES;
  if (cwd_root_.empty()) return -EOPNOTSUPP;
  const std::string dir = cwd_root_ + "/" + std::to_string(n->ino);
  // Searchable by all: with --allow-users other uids fchdir into it too.
  // It stays empty, and its parent (PATH.cwd) is only searchable.
  if (::mkdir(dir.c_str(), 0711) < 0 && errno != EEXIST) return -errno;
  const int r = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (r < 0) return -errno;
  fd.reset(r);
  ino = n->ino;
  return 0;
}

int Namespace::mknod_impl(uint64_t base, std::string_view path, uint32_t mode, const Cred& cred) {
  // As Linux: the type first (may_mknod), then the name, then whether the
  // filesystem can make one.
  const uint32_t type = mode & S_IFMT;
  switch (type) {
    case 0:
    case S_IFREG:
    case S_IFCHR:
    case S_IFBLK:
    case S_IFIFO:
    case S_IFSOCK:
      break;
    case S_IFDIR:
      return -EPERM;
    default:
      return -EINVAL;
  }
  int hops = 0;
  Walk w;
  if (int rc = walk(base, path, cred, hops, w, true); rc != 0) return rc;
  if (w.kind != LastKind::name || w.dir->entries.count(w.name) != 0) return -EEXIST;
  if (w.trailing_slash) return -ENOENT;
  if (int rc = may_modify_dir(*w.dir, cred); rc < 0) return rc;
  if (type != 0 && type != S_IFREG) return -EPERM;  // not supported (documented)
  if (int rc = may_create(); rc < 0) return rc;
  if (int rc = reserve_deferred(); rc < 0) return rc;
  Inode& f = new_inode(FileType::regular, mode & 07777, cred);
  inherit_setgid_group(f, *w.dir, cred);
  if (int rc = ensure_data(f); rc < 0) {
    table_.erase(f.ino);
    return rc;
  }
  add_entry(*w.dir, w.name, f);
  return 0;
}

Counts Namespace::counts() const {
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

// --- persistence -----------------------------------------------------------

template <class Op>
int Namespace::change(Op&& op, Store::Change kind) {
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

int Namespace::reserve_deferred() {
  if (store_ == nullptr || !deferred_reserve_) return 0;
  deferred_reserve_ = false;
  return store_->reserve(deferred_kind_);
}

int Namespace::commit_changes() {
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

InodeImage Namespace::image_of(const Inode& n) const {
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

std::vector<const Inode*> Namespace::inodes() const {
  std::vector<const Inode*> out;
  out.reserve(table_.size());
  for (const auto& [ino, n] : table_) out.push_back(n.get());
  std::sort(out.begin(), out.end(), [](const Inode* a, const Inode* b) { return a->ino < b->ino; });
  return out;
}

void Namespace::image(std::string& out) const {
  encode_next_ino(out, next_ino_);
  const auto all = inodes();
  for (const Inode* n : all) encode_put_inode(out, image_of(*n));
  for (const Inode* n : all) {
    for (const auto& [cookie, e] : n->by_cookie) encode_put_entry(out, n->ino, e->first, e->second.ino, cookie);
    for (const auto& [name, value] : n->xattrs) encode_set_xattr(out, n->ino, name, value);
  }
}

void Namespace::begin_restore() {
  table_.clear();
  root_ = nullptr;
  next_ino_ = proto::kRootIno;
  dirty_.clear();
  events_.clear();
  dropped_.clear();
}

bool Namespace::apply(const Item& it, std::string& why) {
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
      if (table_.erase(it.ino) == 0) return missing("a removal", it.ino);
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

bool Namespace::finish_restore(std::string& why) {
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

std::vector<uint64_t> Namespace::files_without_data() const {
  std::vector<uint64_t> out;
  for (const Inode* n : inodes())
    if (n->type == FileType::regular && !n->data.valid()) out.push_back(n->ino);
  return out;
}

int Namespace::recreate_data(uint64_t ino) {
  Inode* n = find(ino);
  if (n == nullptr || n->type != FileType::regular) return -ENOENT;
  return ensure_data(*n);
}

int Namespace::sync(uint64_t ino) {
  if (store_ == nullptr) return 0;
  if (ino == 0) return store_->sync(0, -1);
  const Inode* n = find(ino);
  if (n == nullptr) return 0;
  return store_->sync(ino, n->data.valid() ? n->data.get() : -1);
}

// The changing operations: each runs under change() (see the header).

int Namespace::open(uint64_t base, std::string_view path, uint32_t flags, uint32_t mode, const Cred& cred,
                    OpenResult& out) {
  // Only a create changes the namespace (a truncate changes the data file),
  // and only once the name is found missing: opening an existing file with
  // O_CREAT needs no journal room, on a full disk too.
  if ((flags & proto::kOpenCreate) == 0 || (flags & proto::kOpenPath) != 0)
    return open_impl(base, path, flags, mode, cred, out);
  return change([&] { return open_impl(base, path, flags, mode, cred, out); });
}
int Namespace::mkdir(uint64_t base, std::string_view path, uint32_t mode, const Cred& cred) {
  return change([&] { return mkdir_impl(base, path, mode, cred); });
}
int Namespace::unlink(uint64_t base, std::string_view path, uint32_t flags, const Cred& cred) {
  return change([&] { return unlink_impl(base, path, flags, cred); }, Store::Change::removal);
}
int Namespace::rename(uint64_t old_base, std::string_view old_path, uint64_t new_base, std::string_view new_path,
                      uint32_t flags, const Cred& cred) {
  return change([&] { return rename_impl(old_base, old_path, new_base, new_path, flags, cred); });
}
int Namespace::symlink(std::string_view target, uint64_t base, std::string_view path, const Cred& cred) {
  return change([&] { return symlink_impl(target, base, path, cred); });
}
int Namespace::link(uint64_t old_base, std::string_view old_path, Follow follow, uint64_t new_base,
                    std::string_view new_path, const Cred& cred) {
  return change([&] { return link_impl(old_base, old_path, follow, new_base, new_path, cred); });
}
int Namespace::setattr(uint64_t base, std::string_view path, Follow follow, const SetattrArgs& args,
                       const Cred& cred, proto::Attr& out) {
  const bool truncates = (args.valid & proto::kSetSize) != 0;
  return change([&] { return setattr_impl(base, path, follow, args, cred, out); },
                truncates ? Store::Change::removal : Store::Change::any);
}
int Namespace::setxattr(uint64_t base, std::string_view path, Follow follow, std::string_view name,
                        std::string_view value, uint32_t xflags, const Cred& cred) {
  return change([&] { return setxattr_impl(base, path, follow, name, value, xflags, cred); });
}
int Namespace::removexattr(uint64_t base, std::string_view path, Follow follow, std::string_view name,
                           const Cred& cred) {
  return change([&] { return removexattr_impl(base, path, follow, name, cred); }, Store::Change::removal);
}
int Namespace::mknod(uint64_t base, std::string_view path, uint32_t mode, const Cred& cred) {
  return change([&] { return mknod_impl(base, path, mode, cred); });
}

}  // namespace userfs::server

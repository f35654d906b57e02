// The path layer's operations. Errors are listed in namespace.hpp; Linux's
// own behaviour (as seen in tmpfs) is the reference wherever POSIX leaves a
// choice. Everything about objects comes from the backend's attributes;
// only names, types and permissions are decided here.
#include "namespace.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "userfs/permission.hpp"
#include "userfs/wire.hpp"
#include "wall_clock.hpp"

namespace userfs::server {
namespace {

// A backend's "gone" (ESTALE) is what clients have always seen for a
// removed object: ENOENT.
int gone_is_missing(int rc) { return rc == -ESTALE ? -ENOENT : rc; }

bool is_dir(const proto::Attr& a) { return S_ISDIR(a.mode); }
bool is_reg(const proto::Attr& a) { return S_ISREG(a.mode); }
bool is_link(const proto::Attr& a) { return S_ISLNK(a.mode); }

// Reopens an fd we hold through /proc: a new open file description with its
// own offset and flags. Returns the fd or a negative errno.
int reopen(int fd, int flags) {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  int r = ::open(path, flags | O_CLOEXEC);
  return r >= 0 ? r : -errno;
}

static_assert(sizeof(gid_t) == sizeof(uint32_t));

perm::Caller caller_of(const Cred& cred) {
  return perm::Caller{cred.uid, cred.gid, reinterpret_cast<const uint32_t*>(cred.groups.data()), cred.groups.size()};
}

bool in_groups(const Cred& cred, gid_t gid) { return perm::in_groups(caller_of(cred), gid); }

// The part of `path` after component `c` (a view into it): "" or "/...".
std::string_view rest_after(std::string_view path, std::string_view c) {
  return path.substr(static_cast<size_t>(c.data() - path.data()) + c.size());
}

// The flags a backend's open and create take: the access mode and the
// status flags that go with the open file description.
constexpr uint32_t kBackendOpenFlags =
    proto::kOpenAccMode | proto::kOpenAppend | proto::kOpenNonBlock | proto::kOpenSync | proto::kOpenDsync;

}  // namespace

Namespace::Namespace(userfs::Backend& backend, uint64_t dev) : backend_(backend), dev_(dev) {}

// --- inode numbers and lookups ---------------------------------------------

bool Namespace::untag(uint64_t ino, uint64_t& out) const {
  if ((ino & ~kMaxBackendIno) != tag_) return false;
  out = ino & kMaxBackendIno;
  return out != 0;
}

void Namespace::publish(proto::Attr& a) const {
  a.dev = dev_;
  a.ino |= tag_;
}

int Namespace::get(uint64_t ino, Node& out) const {
  out.ino = ino;
  return gone_is_missing(backend_.getattr(ino, out.attr));
}

int Namespace::root(Node& out) const { return get(kRootIno, out); }

int Namespace::child(const Node& dir, std::string_view name, Node& out) const {
  if (int rc = backend_.lookup(dir.ino, name, out.attr); rc < 0) return gone_is_missing(rc);
  out.ino = out.attr.ino;
  return 0;
}

int Namespace::parent_of(const Node& dir, Node& out) const {
  if (dir.ino == kRootIno) {
    out = dir;
    return 0;
  }
  return child(dir, "..", out);
}

// Where a path starts: the root for an absolute path, else `base`.
int Namespace::start_dir(uint64_t base, std::string_view path, Node& out) const {
  if ((!path.empty() && path[0] == '/') || base == proto::kBaseRoot) return root(out);
  uint64_t ino = 0;
  if (!untag(base, ino)) return -ENOENT;
  if (int rc = get(ino, out); rc < 0) return rc;
  return is_dir(out.attr) ? 0 : -ENOTDIR;
}

int Namespace::walk(uint64_t base, std::string_view path, const Cred& cred, int& hops, Walk& out, bool name_op) {
  if (int rc = start_dir(base, path, out.dir); rc < 0) return rc;
  return walk_from(out.dir, path, cred, hops, out, name_op);
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

int Namespace::walk_link(const Node& dir, const Node& link, const Cred& cred, int& hops, Walk& out) {
  if (++hops > proto::kMaxSymlinks) return -ELOOP;
  std::string& target = link_targets_.emplace_back();
  if (int rc = backend_.readlink(link.ino, target); rc < 0) return gone_is_missing(rc);
  if (target.empty()) return -ENOENT;
  if (target[0] == '/') return redirect_to(proto::kRedirectAbsolute, target, {});
  return walk_from(dir, target, cred, hops, out);
}

// Walks every component but the last, following symlinks on the way.
int Namespace::walk_from(const Node& start, std::string_view path, const Cred& cred, int& hops, Walk& out,
                         bool name_op) {
  if (path.size() >= proto::kMaxPath) return -ENAMETOOLONG;
  // The directory reached so far is out.dir; `next` takes each child.
  if (!path.empty() && path[0] == '/') {
    if (int rc = root(out.dir); rc < 0) return rc;
  } else if (&start != &out.dir) {
    out.dir = start;
  }
  Node& cur = out.dir;
  out.name = {};
  out.kind = LastKind::none;
  // Components are the non-empty runs between '/' ("a//b", a leading or
  // trailing '/' add none).
  size_t i = path.find_first_not_of('/');
  if (i == std::string_view::npos) i = path.size();
  out.trailing_slash = i < path.size() && path.back() == '/';
  Node next;
  while (i < path.size()) {
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view c = path.substr(i, end - i);
    i = path.find_first_not_of('/', end);
    if (i == std::string_view::npos) i = path.size();
    const bool last = i == path.size();

    if (c.size() > proto::kMaxName) return -ENAMETOOLONG;
    if (!is_dir(cur.attr)) return -ENOTDIR;
    if (!permits(cur.attr, cred, X_OK)) return -EACCES;
    if (c == ".") {
      if (last) out.kind = LastKind::dot;
      continue;
    }
    if (c == "..") {
      // Above the mount root is the host's business, unless the operation
      // refuses a final ".." whatever it names.
      if (cur.ino == kRootIno) {
        if (last && name_op) {
          out.kind = LastKind::dotdot;
          continue;
        }
        return redirect_to(proto::kRedirectMountParent, "..", rest_after(path, c));
      }
      if (int rc = parent_of(cur, next); rc < 0) return rc;
      cur = next;
      if (last) out.kind = LastKind::dotdot;
      continue;
    }
    if (last) {
      out.name = c;
      out.kind = LastKind::name;
      return 0;
    }
    if (int rc = child(cur, c, next); rc < 0) return rc;
    if (is_link(next.attr)) {
      Walk t;
      int rc = walk_link(cur, next, cred, hops, t);
      if (rc == 0) rc = finish(t, Follow::yes, cred, hops, next);
      if (rc == kRedirected) return extend_redirect(rest_after(path, c));
      if (rc < 0) return rc;
    }
    cur = next;
  }
  if (!is_dir(cur.attr)) return -ENOTDIR;
  return 0;
}

// Resolves a walk's last component.
int Namespace::finish(const Walk& w, Follow follow, const Cred& cred, int& hops, Node& out, Walk* at) {
  if (w.kind != LastKind::name) {
    if (at != nullptr) *at = w;
    out = w.dir;
    return 0;
  }
  Node n;
  if (int rc = child(w.dir, w.name, n); rc < 0) return rc;
  // A trailing slash follows a final symlink whatever the caller asked.
  if (is_link(n.attr) && (follow == Follow::yes || w.trailing_slash)) {
    Walk t;
    int rc = walk_link(w.dir, n, cred, hops, t);
    if (rc == 0) {
      t.trailing_slash = t.trailing_slash || w.trailing_slash;
      rc = finish(t, Follow::yes, cred, hops, n, at);
    }
    if (rc == kRedirected) return extend_redirect(w.trailing_slash ? "/" : "");
    if (rc < 0) return rc;
    out = n;
    return 0;
  }
  if (w.trailing_slash && !is_dir(n.attr)) return -ENOTDIR;
  if (at != nullptr) *at = w;
  out = n;
  return 0;
}

int Namespace::resolve(uint64_t base, std::string_view path, Follow follow, const Cred& cred, Node& out,
                       Walk* at) {
  if (path.empty() && base != proto::kBaseRoot) {
    // The base itself, of any type (AT_EMPTY_PATH on an open fd).
    uint64_t ino = 0;
    if (!untag(base, ino)) return -ENOENT;
    if (int rc = get(ino, out); rc < 0) return rc;
    if (at != nullptr) *at = Walk{};
    return 0;
  }
  int hops = 0;
  Walk w;
  if (int rc = walk(base, path, cred, hops, w); rc != 0) return rc;
  return finish(w, follow, cred, hops, out, at);
}

// --- permissions -----------------------------------------------------------

// The rule the shared lookup table's readers apply too (userfs/permission.hpp).
bool Namespace::permits(const proto::Attr& n, const Cred& cred, int mask) const {
  return perm::permits(n, caller_of(cred), mask);
}

int Namespace::may_modify_dir(const proto::Attr& dir, const Cred& cred) const {
  return permits(dir, cred, W_OK | X_OK) ? 0 : -EACCES;
}

// Removing or replacing `victim` in `dir`: write on the directory and, if
// it is sticky, ownership of one of them.
int Namespace::may_delete(const proto::Attr& dir, const proto::Attr& victim, const Cred& cred) const {
  if (int rc = may_modify_dir(dir, cred); rc < 0) return rc;
  if ((dir.mode & S_ISVTX) != 0 && cred.uid != 0 && cred.uid != dir.uid && cred.uid != victim.uid) return -EPERM;
  return 0;
}

// As Linux's inode_init_owner: a file or symlink made in a setgid
// directory takes the directory's group, and a group-executable setgid
// file keeps that bit only for a creator in the group (or root).
NewNode Namespace::new_node(const proto::Attr& dir, uint32_t perm_bits, const Cred& cred) const {
  NewNode n{perm_bits & 07777, cred.uid, cred.gid};
  if ((dir.mode & S_ISGID) == 0) return n;
  n.gid = dir.gid;
  if ((n.mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) && cred.uid != 0 && !in_groups(cred, n.gid))
    n.mode &= ~static_cast<uint32_t>(S_ISGID);
  return n;
}

void Namespace::forget_cwd(uint64_t ino) const {
  // Emptiness is the kernel's to check: a stand-in a client wrote into stays.
  if (!cwd_root_.empty()) ::rmdir((cwd_root_ + "/" + std::to_string(ino | tag_)).c_str());
}

// --- operations ------------------------------------------------------------

int Namespace::lookup(uint64_t base, std::string_view path, Follow follow, const Cred& cred, proto::Attr& out) {
  begin_op();
  Node n;
  if (int rc = resolve(base, path, follow, cred, n); rc != 0) return rc;
  out = n.attr;
  publish(out);
  return 0;
}

int Namespace::entry(uint64_t dir, std::string_view name, proto::Attr& out) const {
  uint64_t b = 0;
  if (!untag(dir, b)) return -ENOENT;
  if (int rc = backend_.lookup(b, name, out); rc < 0) return gone_is_missing(rc);
  publish(out);
  return 0;
}

bool Namespace::data_quiet(uint64_t ino) const {
  uint64_t b = 0;
  return untag(ino, b) && backend_.data_quiet(b);
}

int Namespace::data_source(uint64_t ino) const {
  uint64_t b = 0;
  return untag(ino, b) ? backend_.data_source(b) : -1;
}

int Namespace::link_target(uint64_t ino, std::string& out) const {
  uint64_t b = 0;
  if (!untag(ino, b)) return -ENOENT;
  return gone_is_missing(backend_.readlink(b, out));
}

int Namespace::getattr(uint64_t ino, proto::Attr& out) const {
  uint64_t b = 0;
  if (!untag(ino, b)) return -ENOENT;
  Node n;
  if (int rc = get(b, n); rc < 0) return rc;
  out = n.attr;
  publish(out);
  return 0;
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

int Namespace::take_opened(const Opened& opened, const Node& node, OpenResult& out) {
  if (opened.fd >= 0) {
    out.fd.reset(opened.fd);
  } else {
    out.handle = opened.handle;
  }
  out.attr = node.attr;
  publish(out.attr);
  return 0;
}

int Namespace::open(uint64_t base, std::string_view path, uint32_t flags, uint32_t mode, const Cred& cred,
                    OpenResult& out) {
  begin_op();
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
  Node node;
  for (;;) {
    if (w.kind != LastKind::name) {
      if (excl) return -EEXIST;
      node = w.dir;
      break;
    }
    // As Linux's open_last_lookups: O_CREAT and a trailing '/' is EISDIR
    // before the name is even looked up (existing, missing or a symlink).
    if (create && w.trailing_slash) return -EISDIR;
    Node n;
    const int found = child(w.dir, w.name, n);
    if (found == -ENOENT) {
      if (!create) return -ENOENT;
      if (int rc = read_only(); rc < 0) return rc;
      if (int rc = may_modify_dir(w.dir.attr, cred); rc < 0) return rc;
      Opened opened;
      if (int rc = backend_.create(w.dir.ino, w.name, new_node(w.dir.attr, mode, cred), flags & kBackendOpenFlags,
                                   n.attr, opened);
          rc < 0)
        return gone_is_missing(rc);
      n.ino = n.attr.ino;
      return take_opened(opened, n, out);
    }
    if (found < 0) return found;
    if (excl) return -EEXIST;
    if (is_link(n.attr)) {
      // With kOpenPath Linux gives an fd of the symlink itself; we have no
      // host object that stands for one, so that is ELOOP too (a limitation).
      if ((flags & proto::kOpenNoFollow) != 0 && !w.trailing_slash) return -ELOOP;
      Walk t;
      if (int rc = walk_link(w.dir, n, cred, hops, t); rc != 0)
        return rc == kRedirected ? extend_redirect(w.trailing_slash ? "/" : "") : rc;
      t.trailing_slash = t.trailing_slash || w.trailing_slash;
      w = t;
      continue;
    }
    if (w.trailing_slash && !is_dir(n.attr)) return -ENOTDIR;
    node = n;
    break;
  }

  if (path_only) {
    if ((flags & proto::kOpenDirectory) != 0 && !is_dir(node.attr)) return -ENOTDIR;
    if (is_dir(node.attr)) {
      const int fd = open_dir_handle(true, (flags & proto::kOpenDirectory) != 0);
      if (fd < 0) return fd;
      out.fd.reset(fd);
      out.attr = node.attr;
      publish(out.attr);
      return 0;
    }
    Opened opened;
    if (int rc = backend_.open(node.ino, proto::kOpenPath, opened); rc < 0)
      return rc == -ENOSYS ? -EOPNOTSUPP : gone_is_missing(rc);
    return take_opened(opened, node, out);
  }

  if (is_dir(node.attr)) {
    // Access mode 3 ("ioctl only") is refused on a directory as a write is.
    if (create || acc != O_RDONLY || trunc) return -EISDIR;
    if (!permits(node.attr, cred, R_OK)) return -EACCES;
    int fd = open_dir_handle();
    if (fd < 0) return fd;
    out.fd.reset(fd);
    out.attr = node.attr;
    publish(out.attr);
    return 0;
  }
  if ((flags & proto::kOpenDirectory) != 0) return -ENOTDIR;

  // Access mode 3 (O_WRONLY|O_RDWR) opens for neither but needs both, as
  // Linux's ACC_MODE.
  int need = 0;
  if (acc != O_WRONLY) need |= R_OK;
  if (acc != O_RDONLY || trunc) need |= W_OK;
  if ((need & W_OK) != 0) {
    if (int rc = read_only(); rc < 0) return rc;
  }
  if (!permits(node.attr, cred, need)) return -EACCES;
  Opened opened;
  if (int rc = backend_.open(node.ino, (flags & kBackendOpenFlags) | (trunc ? proto::kOpenTrunc : 0), opened);
      rc < 0)
    return gone_is_missing(rc);
  // A truncation moved the size and times the lookup saw.
  if (trunc) {
    if (int rc = get(node.ino, node); rc < 0) {
      if (opened.fd >= 0) ::close(opened.fd);
      return rc;
    }
  }
  return take_opened(opened, node, out);
}

int Namespace::mkdir(uint64_t base, std::string_view path, uint32_t mode, const Cred& cred) {
  begin_op();
  int hops = 0;
  Walk w;
  if (int rc = walk(base, path, cred, hops, w, true); rc != 0) return rc;
  if (w.kind != LastKind::name) return -EEXIST;
  Node n;
  if (int rc = child(w.dir, w.name, n); rc != -ENOENT) return rc == 0 ? -EEXIST : rc;
  if (int rc = read_only(); rc < 0) return rc;
  if (int rc = may_modify_dir(w.dir.attr, cred); rc < 0) return rc;
  // mkdir(2) keeps only the permission and sticky bits; setgid comes from
  // a setgid parent, with its group.
  NewNode node{mode & 01777, cred.uid, cred.gid};
  if ((w.dir.attr.mode & S_ISGID) != 0) {
    node.mode |= S_ISGID;
    node.gid = w.dir.attr.gid;
  }
  return gone_is_missing(backend_.mkdir(w.dir.ino, w.name, node, n.attr));
}

int Namespace::unlink(uint64_t base, std::string_view path, uint32_t flags, const Cred& cred) {
  begin_op();
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
  if (int rc = read_only(); rc < 0) return rc;
  Node n;
  if (int rc = child(w.dir, w.name, n); rc < 0) return rc;
  if (rmdir) {
    if (!is_dir(n.attr)) return -ENOTDIR;
  } else {
    if (is_dir(n.attr)) return -EISDIR;
    if (w.trailing_slash) return -ENOTDIR;
  }
  if (int rc = may_delete(w.dir.attr, n.attr, cred); rc < 0) return rc;
  if (!rmdir) return gone_is_missing(backend_.unlink(w.dir.ino, w.name));
  if (int rc = backend_.rmdir(w.dir.ino, w.name); rc < 0) return gone_is_missing(rc);
  forget_cwd(n.ino);
  return 0;
}

int Namespace::rename(uint64_t old_base, std::string_view old_path, uint64_t new_base, std::string_view new_path,
                      uint32_t flags, const Cred& cred) {
  begin_op();
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
  if (int rc = read_only(); rc < 0) return rc;

  Node src, dst;
  if (int rc = child(ow.dir, ow.name, src); rc < 0) return rc;
  const int found = child(nw.dir, nw.name, dst);
  if (found < 0 && found != -ENOENT) return found;
  const bool has_dst = found == 0;
  if (exchange && !has_dst) return -ENOENT;
  if (noreplace && has_dst) return -EEXIST;

  const bool src_dir = is_dir(src.attr);
  const bool dst_dir = has_dst && is_dir(dst.attr);
  if (ow.trailing_slash && !src_dir) return -ENOTDIR;
  if (nw.trailing_slash && !src_dir && !exchange) return -ENOTDIR;
  if (exchange && nw.trailing_slash && !dst_dir) return -ENOTDIR;

  if (has_dst && src.ino == dst.ino) return 0;  // same object under both names: nothing to do, as vfs_rename
  if (int rc = may_delete(ow.dir.attr, src.attr, cred); rc < 0) return rc;
  if (has_dst) {
    if (int rc = may_delete(nw.dir.attr, dst.attr, cred); rc < 0) return rc;
  } else if (int rc = may_modify_dir(nw.dir.attr, cred); rc < 0) {
    return rc;
  }

  // A directory may not move under itself: walk up from the destination's
  // parent (and, for an exchange, from the source's).
  auto inside = [this](const Node& dir, uint64_t ancestor) {
    Node p = dir, up;
    for (;;) {
      if (p.ino == ancestor) return true;
      if (p.ino == kRootIno || parent_of(p, up) < 0) return false;
      p = up;
    }
  };
  if (src_dir && inside(nw.dir, src.ino)) return -EINVAL;
  if (exchange && dst_dir && inside(ow.dir, dst.ino)) return -EINVAL;

  if (has_dst && !exchange) {
    if (src_dir && !dst_dir) return -ENOTDIR;
    if (!src_dir && dst_dir) return -EISDIR;
  }
  if (int rc = backend_.rename(ow.dir.ino, ow.name, nw.dir.ino, nw.name, flags); rc < 0) return gone_is_missing(rc);
  if (dst_dir && !exchange) forget_cwd(dst.ino);
  return 0;
}

namespace {

// Writes readdir entries into a reply until one does not fit.
class ReplyFiller final : public DirFiller {
 public:
  ReplyFiller(wire::Writer& w, proto::ReaddirRep& rep, uint64_t tag) : w_(w), rep_(rep), tag_(tag) {}
  bool add(std::string_view name, uint64_t ino, uint8_t dtype, uint64_t cookie) override {
    if (w_.room() < proto::dir_entry_size(name.size())) {
      full = true;
      return false;
    }
    proto::DirEntry e{};
    e.ino = ino | tag_;
    e.cookie = cookie;
    e.name_len = static_cast<uint16_t>(name.size());
    e.type = dtype;
    w_.fixed(e);
    w_.bytes(name.data(), name.size());
    w_.zeros(proto::dir_entry_size(name.size()) - sizeof e - name.size());
    ++rep_.count;
    return true;
  }
  bool full = false;

 private:
  wire::Writer& w_;
  proto::ReaddirRep& rep_;
  uint64_t tag_;
};

}  // namespace

int Namespace::readdir(uint64_t ino, uint64_t cookie, void* buf, size_t cap, size_t& used) const {
  wire::Writer w(buf, cap);
  proto::ReaddirRep rep{};
  Node d;
  if (!untag(ino, d.ino)) return -ENOENT;
  if (int rc = backend_.getattr(d.ino, d.attr); rc < 0) {
    if (rc != -ESTALE) return rc;
    rep.eof = 1;  // gone: an empty listing (see the header)
    if (!w.fixed(rep)) return -EINVAL;
    used = w.size();
    return 0;
  }
  if (!is_dir(d.attr)) return -ENOTDIR;
  if (!w.fixed(rep)) return -EINVAL;

  ReplyFiller fill(w, rep, 0);
  if (cookie < 1) fill.add(".", ino, DT_DIR, 1);
  if (!fill.full && cookie < 2) {
    Node parent;
    if (int rc = parent_of(d, parent); rc < 0) return rc;
    fill.add("..", parent.ino | tag_, DT_DIR, 2);
  }
  if (!fill.full) {
    ReplyFiller entries(w, rep, tag_);
    if (int rc = backend_.readdir(d.ino, cookie <= 2 ? 0 : cookie, entries); rc < 0) return gone_is_missing(rc);
    fill.full = entries.full;
  }
  rep.eof = fill.full ? 0 : 1;
  std::memcpy(buf, &rep, sizeof rep);
  used = w.size();
  return 0;
}

int Namespace::access(uint64_t base, std::string_view path, uint32_t mode, Follow follow, const Cred& cred) {
  begin_op();
  Node n;
  if (int rc = resolve(base, path, follow, cred, n); rc != 0) return rc;
  if (mode == F_OK) return 0;
  if ((mode & W_OK) != 0 && (is_reg(n.attr) || is_dir(n.attr) || is_link(n.attr))) {
    if (int rc = read_only(); rc < 0) return rc;
  }
  return permits(n.attr, cred, static_cast<int>(mode)) ? 0 : -EACCES;
}

int Namespace::symlink(std::string_view target, uint64_t base, std::string_view path, const Cred& cred) {
  begin_op();
  if (target.empty()) return -ENOENT;
  if (target.size() >= proto::kMaxPath) return -ENAMETOOLONG;
  int hops = 0;
  Walk w;
  if (int rc = walk(base, path, cred, hops, w, true); rc != 0) return second_path(rc, redirect_);
  if (w.kind != LastKind::name) return -EEXIST;
  Node n;
  if (int rc = child(w.dir, w.name, n); rc != -ENOENT) return rc == 0 ? -EEXIST : rc;
  if (w.trailing_slash) return -ENOENT;  // as Linux: symlink("x", "new/")
  if (int rc = read_only(); rc < 0) return rc;
  if (int rc = may_modify_dir(w.dir.attr, cred); rc < 0) return rc;
  return gone_is_missing(backend_.symlink(target, w.dir.ino, w.name, new_node(w.dir.attr, 0777, cred), n.attr));
}

int Namespace::readlink(uint64_t base, std::string_view path, const Cred& cred, std::string& out) {
  begin_op();
  Node n;
  if (int rc = resolve(base, path, Follow::no, cred, n); rc != 0) return rc;
  if (!is_link(n.attr)) return -EINVAL;
  return gone_is_missing(backend_.readlink(n.ino, out));
}

int Namespace::link(uint64_t old_base, std::string_view old_path, Follow follow, uint64_t new_base,
                    std::string_view new_path, const Cred& cred) {
  begin_op();
  Node src;
  if (int rc = resolve(old_base, old_path, follow, cred, src); rc != 0) return rc;
  int hops = 0;
  Walk w;
  if (int rc = walk(new_base, new_path, cred, hops, w, true); rc != 0) return second_path(rc, redirect_);
  if (w.kind != LastKind::name) return -EEXIST;
  Node n;
  if (int rc = child(w.dir, w.name, n); rc != -ENOENT) return rc == 0 ? -EEXIST : rc;
  if (w.trailing_slash) return -ENOENT;
  if (int rc = read_only(); rc < 0) return rc;
  if (is_dir(src.attr)) return -EPERM;
  if (int rc = may_modify_dir(w.dir.attr, cred); rc < 0) return rc;
  // fs.protected_hardlinks: only what one owns, or could read and write and
  // is not set-id.
  if (cred.uid != 0 && cred.uid != src.attr.uid) {
    const uint32_t m = src.attr.mode;
    const bool setid = (m & S_ISUID) != 0 || (m & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP);
    if (setid || !permits(src.attr, cred, R_OK | W_OK)) return -EPERM;
  }
  return gone_is_missing(backend_.link(src.ino, w.dir.ino, w.name, n.attr));
}

int Namespace::setattr(uint64_t base, std::string_view path, Follow follow, const SetattrArgs& a, const Cred& cred,
                       proto::Attr& out) {
  begin_op();
  Node node;
  if (int rc = resolve(base, path, follow, cred, node); rc != 0) return rc;
  if (int rc = read_only(); rc < 0) return rc;
  const proto::Attr& n = node.attr;
  const bool root = cred.uid == 0;
  const bool owner = root || cred.uid == n.uid;
  const uint32_t v = a.valid;
  const bool set_uid = (v & proto::kSetUid) != 0 && a.uid != UINT32_MAX;
  const bool set_gid = (v & proto::kSetGid) != 0 && a.gid != UINT32_MAX;

  // Check everything first: a refused request changes nothing.
  if ((v & proto::kSetMode) != 0) {
    if (is_link(n)) return -EOPNOTSUPP;
    if (!owner) return -EPERM;
  }
  if (set_uid && !root && !(cred.uid == n.uid && a.uid == n.uid)) return -EPERM;
  if (set_gid && !root && !(cred.uid == n.uid && (a.gid == n.gid || in_groups(cred, a.gid)))) return -EPERM;
  // Any chown of a non-directory (kSetUid/kSetGid, even naming the current
  // ids or none: UINT32_MAX) drops set-id bits as Linux's chown_common:
  // setuid always; setgid if group-executable, or if the caller (not root)
  // is outside the file's group. Dropping them is a mode change: only the
  // owner or root may (EPERM, e.g. chown(-1, -1) on another's setuid file).
  const bool chown = (v & (proto::kSetUid | proto::kSetGid)) != 0 && !is_dir(n);
  auto setid_to_drop = [&](uint32_t mode) {
    uint32_t drop = mode & S_ISUID;
    if ((mode & S_ISGID) != 0 && ((mode & S_IXGRP) != 0 || (!root && !in_groups(cred, n.gid)))) drop |= S_ISGID;
    return drop;
  };
  if (chown && !owner && setid_to_drop(n.mode) != 0) return -EPERM;
  if ((v & proto::kSetSize) != 0) {
    if (is_dir(n)) return -EISDIR;
    if (!is_reg(n)) return -EINVAL;
    if (!permits(n, cred, W_OK)) return -EACCES;
  }
  const uint32_t times = v & (proto::kSetAtime | proto::kSetAtimeNow | proto::kSetMtime | proto::kSetMtimeNow);
  if (times != 0) {
    const bool explicit_time = (v & (proto::kSetAtime | proto::kSetMtime)) != 0;
    if (explicit_time && !owner) return -EPERM;
    if (!explicit_time && !owner && !permits(n, cred, W_OK)) return -EACCES;
  }

  // What changes, as the backend takes it.
  SetattrIn in;
  in.valid = v & (proto::kSetUid | proto::kSetGid | proto::kSetSize);
  uint32_t mode = n.mode & 07777;
  if ((v & proto::kSetMode) != 0) {
    mode = a.mode & 07777;
    if (!root && !in_groups(cred, n.gid)) mode &= ~static_cast<uint32_t>(S_ISGID);
    in.valid |= proto::kSetMode;
  }
  if (chown && setid_to_drop(mode) != 0) {
    mode &= ~setid_to_drop(mode);
    in.valid |= proto::kSetMode;
  }
  in.mode = mode;
  in.uid = set_uid ? a.uid : n.uid;
  in.gid = set_gid ? a.gid : n.gid;
  in.size = a.size;
  const timespec t = times != 0 ? wall_now() : timespec{};
  if ((v & (proto::kSetAtime | proto::kSetAtimeNow)) != 0) {
    in.valid |= proto::kSetAtime;
    in.atime = (v & proto::kSetAtime) != 0 ? a.atime : t;
  }
  if ((v & (proto::kSetMtime | proto::kSetMtimeNow)) != 0) {
    in.valid |= proto::kSetMtime;
    in.mtime = (v & proto::kSetMtime) != 0 ? a.mtime : t;
  }
  if (int rc = backend_.setattr(node.ino, in, out); rc < 0) return gone_is_missing(rc);
  publish(out);
  return 0;
}

int Namespace::statfs(proto::StatfsRep& out) const {
  if (int rc = backend_.statfs(out); rc < 0) {
    if (rc != -ENOSYS) return rc;
    out = proto::StatfsRep{};
    out.bsize = 4096;
    out.namelen = proto::kMaxName;
  }
  out.fsid = dev_;
  return 0;
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
bool bad_xattr_name(std::string_view name) { return name.empty() || name.size() > proto::kMaxName; }
}  // namespace

// As Linux's xattr_permission and the security module's defaults.
int Namespace::xattr_check(const Node& node, std::string_view name, bool write, const Cred& cred) const {
  const proto::Attr& n = node.attr;
  if (bad_xattr_name(name)) return -ERANGE;
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
      if (!is_reg(n) && !is_dir(n)) return write ? -EPERM : -ENODATA;
      if (write && is_dir(n) && (n.mode & S_ISVTX) != 0 && !root && cred.uid != n.uid) return -EPERM;
      return permits(n, cred, write ? W_OK : R_OK) ? 0 : -EACCES;
    case XattrNs::other:
      break;
  }
  return -EOPNOTSUPP;
}

int Namespace::getxattr(uint64_t base, std::string_view path, Follow follow, std::string_view name,
                        const Cred& cred, std::string& out) {
  begin_op();
  Node n;
  if (int rc = resolve(base, path, follow, cred, n); rc != 0) return rc;
  if (int rc = xattr_check(n, name, false, cred); rc < 0) return rc;
  return gone_is_missing(backend_.getxattr(n.ino, name, out));
}

int Namespace::setxattr(uint64_t base, std::string_view path, Follow follow, std::string_view name,
                        std::string_view value, uint32_t xflags, const Cred& cred) {
  begin_op();
  Node n;
  if (int rc = resolve(base, path, follow, cred, n); rc != 0) return rc;
  if (bad_xattr_name(name)) return -ERANGE;
  if (value.size() > proto::kMaxXattrValue) return -E2BIG;
  if (int rc = read_only(); rc < 0) return rc;
  if (int rc = xattr_check(n, name, true, cred); rc < 0) return rc;
  return gone_is_missing(backend_.setxattr(n.ino, name, value, xflags));
}

int Namespace::listxattr(uint64_t base, std::string_view path, Follow follow, const Cred& cred, std::string& out) {
  begin_op();
  Node n;
  if (int rc = resolve(base, path, follow, cred, n); rc != 0) return rc;
  std::string all;
  if (int rc = backend_.listxattr(n.ino, all); rc < 0) return gone_is_missing(rc);
  if (cred.uid == 0) {
    out = std::move(all);
    return 0;
  }
  out.clear();
  for (size_t i = 0; i < all.size();) {
    size_t end = all.find('\0', i);
    if (end == std::string::npos) end = all.size();
    const std::string_view name(all.data() + i, end - i);
    if (xattr_ns(name) != XattrNs::trusted) {
      out += name;
      out += '\0';
    }
    i = end + 1;
  }
  return 0;
}

int Namespace::removexattr(uint64_t base, std::string_view path, Follow follow, std::string_view name,
                           const Cred& cred) {
  begin_op();
  Node n;
  if (int rc = resolve(base, path, follow, cred, n); rc != 0) return rc;
  if (bad_xattr_name(name)) return -ERANGE;
  if (int rc = read_only(); rc < 0) return rc;
  if (int rc = xattr_check(n, name, true, cred); rc < 0) return rc;
  return gone_is_missing(backend_.removexattr(n.ino, name));
}

// --- paths and directories -------------------------------------------------

namespace {

// Collects a whole listing (never full).
class Collector final : public DirFiller {
 public:
  struct Entry {
    std::string name;
    uint64_t ino;
    uint8_t dtype;
    uint64_t cookie;
  };
  bool add(std::string_view name, uint64_t ino, uint8_t dtype, uint64_t cookie) override {
    entries.push_back({std::string(name), ino, dtype, cookie});
    return true;
  }
  std::vector<Entry> entries;
};

}  // namespace

// A directory's name, for a backend without name_in_parent().
int Namespace::name_by_search(uint64_t parent, uint64_t ino, std::string& out) const {
  Collector all;
  if (int rc = backend_.readdir(parent, 0, all); rc < 0) return rc;
  for (const auto& e : all.entries) {
    if (e.ino == ino) {
      out = e.name;
      return 0;
    }
  }
  return -ENOENT;
}

// Any name of non-directory `ino`: the tree searched from the root.
int Namespace::any_name(uint64_t ino, uint64_t& dir, std::string& name) const {
  std::vector<uint64_t> dirs{kRootIno};
  for (size_t i = 0; i < dirs.size(); ++i) {
    Collector all;
    if (backend_.readdir(dirs[i], 0, all) < 0) continue;
    for (auto& e : all.entries) {
      if (e.ino == ino) {
        dir = dirs[i];
        name = std::move(e.name);
        return 0;
      }
      if (e.dtype == DT_DIR) dirs.push_back(e.ino);
    }
  }
  return -ENOENT;
}

int Namespace::dir_path(const Node& dir, std::string& out) const {
  std::vector<std::string> names;
  Node d = dir, parent;
  while (d.ino != kRootIno) {
    // A chain longer than any path could be is not a tree.
    if (names.size() > proto::kMaxPath / 2) return -ENOENT;
    std::string name;
    int rc = backend_.name_in_parent(d.ino, name);
    if (rc == 0 || rc == -ENOSYS) {
      if (int prc = parent_of(d, parent); prc < 0) return prc;
      if (rc == -ENOSYS) rc = name_by_search(parent.ino, d.ino, name);
    }
    if (rc < 0) return gone_is_missing(rc);
    names.push_back(std::move(name));
    d = parent;
  }
  out = "/";
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (out.size() > 1) out += '/';
    out += *it;
  }
  return 0;
}

int Namespace::canonical(uint64_t base, std::string_view path, Follow follow, const Cred& cred, std::string& out) {
  begin_op();
  Node n;
  Walk at;
  if (int rc = resolve(base, path, follow, cred, n, &at); rc != 0) return rc;
  if (is_dir(n.attr)) return dir_path(n, out);
  Node dir;
  std::string found;
  std::string_view name = at.name;
  if (at.kind == LastKind::name) {
    dir = at.dir;
  } else {
    // A bare base (an open fd): any of its names will do.
    if (int rc = any_name(n.ino, dir.ino, found); rc < 0) return rc;
    if (int rc = get(dir.ino, dir); rc < 0) return rc;
    name = found;
  }
  if (int rc = dir_path(dir, out); rc < 0) return rc;
  if (out.size() > 1) out += '/';
  out += name;
  return 0;
}

int Namespace::chdir(uint64_t base, std::string_view path, const Cred& cred, uint64_t& ino, UniqueFd& fd) {
  begin_op();
  Node n;
  if (int rc = resolve(base, path, Follow::yes, cred, n); rc != 0) return rc;
  if (!is_dir(n.attr)) return -ENOTDIR;
  if (!permits(n.attr, cred, X_OK)) return -EACCES;
  if (cwd_root_.empty()) return -EOPNOTSUPP;
  const std::string dir = cwd_root_ + "/" + std::to_string(n.ino | tag_);
  // Searchable by all: with --allow-users other uids fchdir into it too.
  // It stays empty, and its parent (PATH.cwd) is only searchable.
  if (::mkdir(dir.c_str(), 0711) < 0 && errno != EEXIST) return -errno;
  const int r = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (r < 0) return -errno;
  fd.reset(r);
  ino = n.ino | tag_;
  return 0;
}

int Namespace::mknod(uint64_t base, std::string_view path, uint32_t mode, const Cred& cred) {
  begin_op();
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
  if (w.kind != LastKind::name) return -EEXIST;
  Node n;
  if (int rc = child(w.dir, w.name, n); rc != -ENOENT) return rc == 0 ? -EEXIST : rc;
  if (w.trailing_slash) return -ENOENT;
  if (int rc = read_only(); rc < 0) return rc;
  if (int rc = may_modify_dir(w.dir.attr, cred); rc < 0) return rc;
  if (type != 0 && type != S_IFREG) return -EPERM;  // not supported (documented)
  return gone_is_missing(backend_.mknod(w.dir.ino, w.name, new_node(w.dir.attr, mode, cred), n.attr));
}

int Namespace::sync(uint64_t ino) {
  uint64_t b = 0;
  if (ino != 0 && !untag(ino, b)) return 0;
  const int rc = backend_.fsync(b, false);
  return rc == -ESTALE || rc == -ENOENT ? 0 : rc;
}

}  // namespace userfs::server

// Handlers, one per opcode, and the table that routes to them. A handler
// reads its request with wire::Reader (bounds-checked whatever the peer
// claims), validates every field, and fills `Out`; it returns 0 or -errno.
#include "dispatch.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <string>
#include <string_view>

#include "dentry_table.hpp"
#include "mem_backend.hpp"
#include "mounts.hpp"
#include "userfs/protocol.hpp"
#include "userfs/wire.hpp"

namespace userfs::server {
namespace {

using proto::Op;

// What a handler produces besides its errno.
struct Out {
  std::vector<unsigned char> payload;
  UniqueFd fd;
  AfterReply after = AfterReply::keep_open;

  template <class T>
  void put(const T& v) {
    const auto* p = reinterpret_cast<const unsigned char*>(&v);
    payload.assign(p, p + sizeof(T));
  }
  void put_bytes(std::string_view s) { payload.assign(s.begin(), s.end()); }
};

using Handler = int (*)(Session&, wire::Reader&, Out&);

struct OpEntry {
  Handler handler;
  const char* name;
};

// Decodes the fixed struct; EBADMSG if the body is too short.
template <class T>
int body(wire::Reader& r, T& out) {
  return r.fixed(out) ? 0 : -EBADMSG;
}
int path_of(wire::Reader& r, uint32_t len, std::string_view& out) {
  if (len >= proto::kMaxPath) return -ENAMETOOLONG;
  return r.path(len, out) ? 0 : -EBADMSG;
}
// Every byte of the body must have been consumed.
int at_end(const wire::Reader& r) { return r.done() ? 0 : -EBADMSG; }

// Raw bytes of `len` (NULs allowed: an xattr value).
int bytes_of(wire::Reader& r, uint32_t len, std::string& out) {
  if (len > r.left()) return -EBADMSG;
  out.resize(len);
  std::array<char, 512> chunk;
  for (size_t done = 0; done < len;) {
    const size_t n = std::min(chunk.size(), len - done);
    if (n == chunk.size()) {
      r.fixed(chunk);
    } else {
      for (size_t i = 0; i < n; ++i) r.fixed(chunk[i]);
    }
    std::memcpy(out.data() + done, chunk.data(), n);
    done += n;
  }
  return 0;
}

// Flags outside `known` are refused.
int known_flags(uint32_t flags, uint32_t known) { return (flags & ~known) != 0 ? -EINVAL : 0; }

Follow follow_of(uint32_t flags) { return (flags & proto::kNoFollow) != 0 ? Follow::no : Follow::yes; }

int do_hello(Session& s, wire::Reader& r, Out& out) {
  proto::HelloReq req{};
  if (int rc = body(r, req); rc < 0) return rc;
  if (req.version != proto::kVersion) {
    out.after = AfterReply::close;
    return -EPROTONOSUPPORT;
  }
  if (req.mount_count > proto::kMaxMounts) return -EINVAL;
  std::vector<uint32_t> mounts;
  for (uint32_t i = 0; i < req.mount_count; i++) {
    uint32_t len = 0;
    std::string_view prefix;
    if (!r.fixed(len)) return -EBADMSG;
    if (int rc = path_of(r, len, prefix); rc < 0) return rc;
    mounts.push_back(s.mounts != nullptr ? s.mounts->index_of_prefix(prefix) : 0);
  }
  if (int rc = at_end(r); rc < 0) return rc;
  Namespace* first = s.at(proto::kBaseRoot);
  if (first == nullptr) return -EIO;
  s.greeted = true;
  s.client_mounts = std::move(mounts);
  proto::HelloRep rep{};
  rep.version = proto::kVersion;
  rep.server_pid = static_cast<uint32_t>(getpid());
  rep.dev = first->dev();
  rep.instance = first->instance();
  rep.mount_count = static_cast<uint32_t>(s.client_mounts.size());
  // The lookup table goes with it (kHelloTable), if there is one to give.
  if (s.table != nullptr && s.table_for_client) {
    const int fd = s.table->client_fd();
    if (fd >= 0) {
      out.fd.reset(fd);
      rep.flags |= proto::kHelloTable;
    }
  }
  out.put(rep);
  const auto* p = reinterpret_cast<const unsigned char*>(s.client_mounts.data());
  out.payload.insert(out.payload.end(), p, p + s.client_mounts.size() * sizeof(uint32_t));
  return 0;
}

int do_status(Session& s, wire::Reader& r, Out& out) {
  if (int rc = at_end(r); rc < 0) return rc;
  Namespace* first = s.at(proto::kBaseRoot);
  if (first == nullptr) return -EIO;
  // What is counted and stored is the in-memory filesystem's to say.
  const auto* memory = dynamic_cast<const MemBackend*>(&first->backend());
  const Counts c = memory != nullptr ? memory->counts() : Counts{};
  proto::StatusRep rep{};
  rep.server_pid = static_cast<uint32_t>(getpid());
  if (s.stats != nullptr) {
    rep.clients = s.stats->clients;
    rep.requests = s.stats->requests;
    rep.started_sec = s.stats->started_sec;
  }
  rep.inodes = c.inodes;
  rep.directories = c.directories;
  rep.files = c.files;
  rep.symlinks = c.symlinks;
  rep.bytes = c.bytes;
  std::string dir;
  if (const Store* store = memory != nullptr ? memory->store() : nullptr) {
    StoreStatus st;
    store->status(st);
    rep.status_flags = proto::kStatusPersistent | (st.failed ? proto::kStatusJournalFailed : 0);
    rep.journal_bytes = st.journal_bytes;
    rep.journal_records = st.journal_records;
    rep.snapshot_sec = st.snapshot_sec;
    dir = st.dir.substr(0, proto::kMaxPath);
    rep.state_dir_len = static_cast<uint32_t>(dir.size());
  }
  out.put(rep);
  out.payload.insert(out.payload.end(), dir.begin(), dir.end());
  return 0;
}

int do_lookup(Session& s, wire::Reader& r, Out& out) {
  proto::LookupReq req{};
  std::string_view path;
  if (int rc = body(r, req); rc < 0) return rc;
  if ((req.flags & ~(proto::kNoFollow | proto::kEmptyPath)) != 0) return -EINVAL;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  // kEmptyPath needs nothing more: an empty path always names the base here;
  // the shim turns an empty path without AT_EMPTY_PATH into ENOENT itself.
  proto::Attr attr{};
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  if (int rc = ns->lookup(req.base, path, follow_of(req.flags), s.cred, attr); rc != 0) return rc;
  if (s.table != nullptr) s.table->reported(attr.ino);
  out.put(attr);
  return 0;
}

int do_getattr(Session& s, wire::Reader& r, Out& out) {
  proto::GetattrReq req{};
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  proto::Attr attr{};
  Namespace* ns = s.at(req.ino);
  if (ns == nullptr) return -ENOENT;
  if (int rc = ns->getattr(req.ino, attr); rc < 0) return rc;
  if (s.table != nullptr) s.table->reported(attr.ino);
  out.put(attr);
  return 0;
}

// A handle `ns`'s backend gave for `res` becomes an open handle file; the
// placeholder goes in res.fd.
int open_handle(Session& s, Namespace& ns, uint32_t flags, OpenResult& res, proto::OpenRep& rep) {
  userfs::Backend& backend = ns.backend();
  const uint64_t backend_ino = res.attr.ino & userfs::kMaxBackendIno;
  if (s.handles == nullptr) {
    backend.release(backend_ino, res.handle);
    return -EOPNOTSUPP;
  }
  rep.open_flags = proto::kOpenedHandle;
  return s.handles->open(backend, res.attr.ino, backend_ino, res.handle, flags, res.fd, rep.handle);
}

int do_open(Session& s, wire::Reader& r, Out& out) {
  proto::OpenReq req{};
  std::string_view path;
  if (int rc = body(r, req); rc < 0) return rc;
  if ((req.flags & ~proto::kOpenKnown) != 0 || req.pad != 0) return -EINVAL;
  // Access mode 3 is Linux's "ioctl only" open: the namespace checks it.
  if ((req.mode & ~07777u) != 0) return -EINVAL;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  OpenResult res;
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  if (int rc = ns->open(req.base, path, req.flags, req.mode, s.cred, res); rc != 0) return rc;
  proto::OpenRep rep{};
  rep.attr = res.attr;
  if (!res.fd.valid()) {
    // The backend serves the data itself: the client gets a placeholder.
    if (int rc = open_handle(s, *ns, req.flags, res, rep); rc < 0) return rc;
  }
  out.put(rep);
  out.fd = std::move(res.fd);
  return 0;
}

int do_mkdir(Session& s, wire::Reader& r, Out&) {
  proto::MkdirReq req{};
  std::string_view path;
  if (int rc = body(r, req); rc < 0) return rc;
  if ((req.mode & ~07777u) != 0) return -EINVAL;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  return ns->mkdir(req.base, path, req.mode, s.cred);
}

int do_unlink(Session& s, wire::Reader& r, Out&) {
  proto::UnlinkReq req{};
  std::string_view path;
  if (int rc = body(r, req); rc < 0) return rc;
  if ((req.flags & ~proto::kUnlinkRemoveDir) != 0) return -EINVAL;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  return ns->unlink(req.base, path, req.flags, s.cred);
}

int do_rename(Session& s, wire::Reader& r, Out&) {
  proto::RenameReq req{};
  std::string_view old_path, new_path;
  if (int rc = body(r, req); rc < 0) return rc;
  if ((req.flags & ~(proto::kRenameNoReplace | proto::kRenameExchange)) != 0 || req.pad != 0) return -EINVAL;
  if (int rc = path_of(r, req.old_len, old_path); rc < 0) return rc;
  if (int rc = path_of(r, req.new_len, new_path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  Namespace* ns = s.at(req.old_base);
  Namespace* to = s.at(req.new_base);
  if (ns == nullptr || to == nullptr) return -ENOENT;
  if (ns != to) return -EXDEV;  // two mounts, two filesystems
  return ns->rename(req.old_base, old_path, req.new_base, new_path, req.flags, s.cred);
}

int do_readdir(Session& s, wire::Reader& r, Out& out) {
  proto::ReaddirReq req{};
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  out.payload.resize(proto::kMaxMessage - sizeof(proto::ReplyHeader));
  size_t used = 0;
  Namespace* ns = s.at(req.ino);
  if (ns == nullptr) return -ENOENT;
  if (int rc = ns->readdir(req.ino, req.cookie, out.payload.data(), out.payload.size(), used); rc < 0)
    return rc;
  out.payload.resize(used);
  return 0;
}

int do_access(Session& s, wire::Reader& r, Out&) {
  proto::AccessReq req{};
  std::string_view path;
  if (int rc = body(r, req); rc < 0) return rc;
  if ((req.flags & ~(proto::kNoFollow | proto::kAccessEffective)) != 0 || req.pad != 0) return -EINVAL;
  if ((req.mode & ~static_cast<uint32_t>(R_OK | W_OK | X_OK)) != 0) return -EINVAL;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  // kAccessEffective changes nothing: clients are refused unless their uid
  // is ours, and we check with the credentials the kernel gave at connect.
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  return ns->access(req.base, path, req.mode, follow_of(req.flags), s.cred);
}

int do_symlink(Session& s, wire::Reader& r, Out&) {
  proto::SymlinkReq req{};
  std::string_view target, path;
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = path_of(r, req.target_len, target); rc < 0) return rc;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  return ns->symlink(target, req.base, path, s.cred);
}

int do_readlink(Session& s, wire::Reader& r, Out& out) {
  proto::ReadlinkReq req{};
  std::string_view path;
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = known_flags(req.flags, proto::kEmptyPath); rc < 0) return rc;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  std::string target;
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  if (int rc = ns->readlink(req.base, path, s.cred, target); rc != 0) return rc;
  out.put_bytes(target);
  return 0;
}

int do_link(Session& s, wire::Reader& r, Out&) {
  proto::LinkReq req{};
  std::string_view old_path, new_path;
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = known_flags(req.flags, proto::kLinkFollow | proto::kEmptyPath); rc < 0) return rc;
  if (req.pad != 0) return -EINVAL;
  if (int rc = path_of(r, req.old_len, old_path); rc < 0) return rc;
  if (int rc = path_of(r, req.new_len, new_path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  const Follow follow = (req.flags & proto::kLinkFollow) != 0 ? Follow::yes : Follow::no;
  Namespace* ns = s.at(req.old_base);
  Namespace* to = s.at(req.new_base);
  if (ns == nullptr || to == nullptr) return -ENOENT;
  if (ns != to) return -EXDEV;  // two mounts, two filesystems
  return ns->link(req.old_base, old_path, follow, req.new_base, new_path, s.cred);
}

int do_setattr(Session& s, wire::Reader& r, Out& out) {
  proto::SetattrReq req{};
  std::string_view path;
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = known_flags(req.flags, proto::kNoFollow | proto::kEmptyPath); rc < 0) return rc;
  if (int rc = known_flags(req.valid, proto::kSetKnown); rc < 0) return rc;
  const uint32_t v = req.valid;
  auto both = [v](uint32_t a, uint32_t b) { return (v & a) != 0 && (v & b) != 0; };
  if (both(proto::kSetAtime, proto::kSetAtimeNow) || both(proto::kSetMtime, proto::kSetMtimeNow)) return -EINVAL;
  if ((v & proto::kSetMode) != 0 && (req.mode & ~07777u) != 0) return -EINVAL;
  if ((v & proto::kSetAtime) != 0 && req.atime_nsec >= 1000000000u) return -EINVAL;
  if ((v & proto::kSetMtime) != 0 && req.mtime_nsec >= 1000000000u) return -EINVAL;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  SetattrArgs a;
  a.valid = v;
  a.mode = req.mode;
  a.uid = req.uid;
  a.gid = req.gid;
  a.size = req.size;
  a.atime = timespec{static_cast<time_t>(req.atime_sec), static_cast<long>(req.atime_nsec)};
  a.mtime = timespec{static_cast<time_t>(req.mtime_sec), static_cast<long>(req.mtime_nsec)};
  proto::Attr attr{};
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  if (int rc = ns->setattr(req.base, path, follow_of(req.flags), a, s.cred, attr); rc != 0) return rc;
  out.put(attr);
  return 0;
}

int do_statfs(Session& s, wire::Reader& r, Out& out) {
  proto::StatfsReq req{};
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  Namespace* ns = s.at(req.ino);
  if (ns == nullptr) return -ENOENT;
  proto::StatfsRep rep{};
  if (int rc = ns->statfs(rep); rc < 0) return rc;
  out.put(rep);
  return 0;
}

// getxattr and removexattr send the same request: base, flags, a name and
// a path.
int decode_named(wire::Reader& r, proto::GetxattrReq& req, std::string_view& name, std::string_view& path) {
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = known_flags(req.flags, proto::kNoFollow | proto::kEmptyPath); rc < 0) return rc;
  if (req.pad != 0) return -EINVAL;
  if (!r.string(req.name_len, name)) return -EBADMSG;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  return at_end(r);
}

int do_getxattr(Session& s, wire::Reader& r, Out& out) {
  proto::GetxattrReq req{};
  std::string_view name, path;
  if (int rc = decode_named(r, req, name, path); rc < 0) return rc;
  std::string value;
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  if (int rc = ns->getxattr(req.base, path, follow_of(req.flags), name, s.cred, value); rc != 0) return rc;
  out.put_bytes(value);
  return 0;
}

int do_setxattr(Session& s, wire::Reader& r, Out&) {
  proto::SetxattrReq req{};
  std::string_view name, path;
  std::string value;
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = known_flags(req.flags, proto::kNoFollow | proto::kEmptyPath); rc < 0) return rc;
  if (int rc = known_flags(req.xflags, proto::kXattrCreate | proto::kXattrReplace); rc < 0) return rc;
  if (req.pad != 0) return -EINVAL;
  if (!r.string(req.name_len, name)) return -EBADMSG;
  if (int rc = bytes_of(r, req.value_len, value); rc < 0) return rc;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  return ns->setxattr(req.base, path, follow_of(req.flags), name, value, req.xflags, s.cred);
}

int do_listxattr(Session& s, wire::Reader& r, Out& out) {
  proto::ListxattrReq req{};
  std::string_view path;
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = known_flags(req.flags, proto::kNoFollow | proto::kEmptyPath); rc < 0) return rc;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  std::string names;
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  if (int rc = ns->listxattr(req.base, path, follow_of(req.flags), s.cred, names); rc != 0) return rc;
  out.put_bytes(names);
  return 0;
}

int do_removexattr(Session& s, wire::Reader& r, Out&) {
  proto::RemovexattrReq req{};
  std::string_view name, path;
  if (int rc = decode_named(r, req, name, path); rc < 0) return rc;
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  return ns->removexattr(req.base, path, follow_of(req.flags), name, s.cred);
}

int do_canonical(Session& s, wire::Reader& r, Out& out) {
  proto::CanonicalReq req{};
  std::string_view path;
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = known_flags(req.flags, proto::kNoFollow | proto::kEmptyPath); rc < 0) return rc;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  std::string result;
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  if (int rc = ns->canonical(req.base, path, follow_of(req.flags), s.cred, result); rc != 0) return rc;
  out.put_bytes(result);
  return 0;
}

int do_chdir(Session& s, wire::Reader& r, Out& out) {
  proto::ChdirReq req{};
  std::string_view path;
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = known_flags(req.flags, proto::kEmptyPath); rc < 0) return rc;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  proto::ChdirRep rep{};
  UniqueFd fd;
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  if (int rc = ns->chdir(req.base, path, s.cred, rep.ino, fd); rc != 0) return rc;
  out.put(rep);
  out.fd = std::move(fd);
  return 0;
}

int do_mknod(Session& s, wire::Reader& r, Out&) {
  proto::MknodReq req{};
  std::string_view path;
  if (int rc = body(r, req); rc < 0) return rc;
  if ((req.mode & ~static_cast<uint32_t>(S_IFMT | 07777)) != 0) return -EINVAL;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  Namespace* ns = s.at(req.base);
  if (ns == nullptr) return -ENOENT;
  return ns->mknod(req.base, path, req.mode, s.cred);
}

int do_sync(Session& s, wire::Reader& r, Out&) {
  proto::SyncReq req{};
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  if (req.ino == 0) return s.mounts != nullptr ? s.mounts->sync_all() : s.ns->sync(0);
  Namespace* ns = s.at(req.ino);
  if (ns == nullptr) return -ENOENT;
  return ns->sync(req.ino);  // in memory: nothing to make durable, 0
}

int do_read(Session& s, wire::Reader& r, Out& out) {
  return s.handles != nullptr ? serve_read(*s.handles, r, out.payload) : -EBADF;
}
int do_write(Session& s, wire::Reader& r, Out& out) {
  return s.handles != nullptr ? serve_write(*s.handles, r, out.payload) : -EBADF;
}
int do_lseek(Session& s, wire::Reader& r, Out& out) {
  return s.handles != nullptr ? serve_lseek(*s.handles, r, out.payload) : -EBADF;
}

constexpr OpEntry kOps[proto::kOpCount] = {
    {nullptr, "none"},
    {do_hello, "hello"},
    {do_status, "status"},
    {do_lookup, "lookup"},
    {do_getattr, "getattr"},
    {do_open, "open"},
    {do_mkdir, "mkdir"},
    {do_unlink, "unlink"},
    {do_rename, "rename"},
    {do_readdir, "readdir"},
    {do_access, "access"},
    {do_symlink, "symlink"},
    {do_readlink, "readlink"},
    {do_link, "link"},
    {do_setattr, "setattr"},
    {do_statfs, "statfs"},
    {do_getxattr, "getxattr"},
    {do_setxattr, "setxattr"},
    {do_listxattr, "listxattr"},
    {do_removexattr, "removexattr"},
    {do_canonical, "canonical"},
    {do_chdir, "chdir"},
    {do_mknod, "mknod"},
    {do_sync, "sync"},
    {do_read, "read"},
    {do_write, "write"},
    {do_lseek, "lseek"},
};

Reply make_reply(uint16_t op, uint64_t id, int error, Out&& out, uint16_t flags = 0) {
  Reply reply;
  reply.after = out.after;
  if (error < 0) out.payload.clear();  // an error carries no body and no fd
  proto::ReplyHeader h{};
  h.magic = proto::kMagic;
  h.op = op;
  h.flags = flags;
  h.length = static_cast<uint32_t>(out.payload.size());
  h.error = error < 0 ? error : 0;
  h.id = id;
  reply.bytes.resize(sizeof h + out.payload.size());
  std::memcpy(reply.bytes.data(), &h, sizeof h);
  if (!out.payload.empty()) std::memcpy(reply.bytes.data() + sizeof h, out.payload.data(), out.payload.size());
  if (error >= 0) reply.fd = std::move(out.fd);
  return reply;
}

}  // namespace

Reply error_reply(const void* msg, size_t len, int error, AfterReply after) {
  proto::RequestHeader h{};
  if (len >= sizeof h) std::memcpy(&h, msg, sizeof h);
  Out out;
  out.after = after;
  return make_reply(h.op, h.id, error, std::move(out));
}

namespace {
Reply dispatch_checked(Session& s, const void* msg, size_t len) {
  if (s.stats != nullptr) ++s.stats->requests;
  if (len < sizeof(proto::RequestHeader)) return error_reply(msg, len, -EBADMSG);
  proto::RequestHeader h{};
  std::memcpy(&h, msg, sizeof h);
  if (int rc = wire::check_request_header(h, len); rc < 0) return error_reply(msg, len, rc);
  if (!s.greeted && h.op != static_cast<uint16_t>(Op::hello))
    return error_reply(msg, len, -EPROTO, AfterReply::close);
  s.request_mount = h.mount;
  s.last = nullptr;
  const OpEntry& entry = kOps[h.op];
  if (entry.handler == nullptr) return error_reply(msg, len, -ENOSYS);

  wire::Reader r(static_cast<const unsigned char*>(msg) + sizeof h, len - sizeof h);
  Out out;
  int rc;
  try {
    rc = entry.handler(s, r, out);
  } catch (const std::bad_alloc&) {
    rc = -ENOMEM;
  } catch (...) {
    rc = -EIO;  // a bug; the connection survives it
  }
  if (rc == kRedirected && s.last != nullptr) {
    // The walk left the mount: the client continues with the path given.
    const Redirect& red = s.last->redirect();
    proto::RedirectRep rep{};
    rep.kind = red.kind;
    rep.which = red.which;
    rep.path_len = static_cast<uint32_t>(red.path.size());
    Out redirect;
    redirect.put(rep);
    redirect.payload.insert(redirect.payload.end(), red.path.begin(), red.path.end());
    return make_reply(h.op, h.id, 0, std::move(redirect), proto::kReplyRedirect);
  }
  return make_reply(h.op, h.id, rc, std::move(out));
}
}  // namespace

Namespace* Session::at(uint64_t base) {
  uint32_t mount = proto::mount_of_ino(base);
  if (base == proto::kBaseRoot) {
    if (request_mount != 0 && request_mount >= client_mounts.size()) return last = nullptr;
    mount = client_mounts.empty() ? 0 : client_mounts[request_mount];
  }
  if (mounts == nullptr) return last = mount == 0 ? ns : nullptr;
  return last = mounts->ns(mount);
}

Reply dispatch(Session& s, const void* msg, size_t len) {
  try {
    Reply reply = dispatch_checked(s, msg, len);
    // Whatever the request changed is in the table before its reply leaves.
    if (s.table != nullptr) s.table->flush();
    return reply;
  } catch (...) {
    // What the request changed before it failed still goes in the table (a
    // flush that fails too leaves the counter odd: readers then ask us).
    try {
      if (s.table != nullptr) s.table->flush();
    } catch (...) {
    }
    // Not even an error reply could be built (out of memory): an empty
    // reply that asks the loop to drop this client; building it cannot throw.
    Reply r;
    r.after = AfterReply::close;
    return r;
  }
}

}  // namespace userfs::server

// Handlers, one per opcode, and the table that routes to them. A handler
// reads its request with wire::Reader (bounds-checked whatever the peer
// claims), validates every field, and fills `Out`; it returns 0 or -errno.
#include "dispatch.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string_view>

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

Follow follow_of(uint32_t flags) { return (flags & proto::kNoFollow) != 0 ? Follow::no : Follow::yes; }

int do_hello(Session& s, wire::Reader& r, Out& out) {
  proto::HelloReq req{};
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  if (req.version != proto::kVersion) {
    out.after = AfterReply::close;
    return -EPROTONOSUPPORT;
  }
  s.greeted = true;
  proto::HelloRep rep{};
  rep.version = proto::kVersion;
  rep.server_pid = static_cast<uint32_t>(getpid());
  rep.dev = s.ns->dev();
  out.put(rep);
  return 0;
}

int do_status(Session& s, wire::Reader& r, Out& out) {
  if (int rc = at_end(r); rc < 0) return rc;
  const Counts c = s.ns->counts();
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
  out.put(rep);
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
  if (int rc = s.ns->lookup(req.base, path, follow_of(req.flags), s.cred, attr); rc < 0) return rc;
  out.put(attr);
  return 0;
}

int do_getattr(Session& s, wire::Reader& r, Out& out) {
  proto::GetattrReq req{};
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  proto::Attr attr{};
  if (int rc = s.ns->getattr(req.ino, attr); rc < 0) return rc;
  out.put(attr);
  return 0;
}

int do_open(Session& s, wire::Reader& r, Out& out) {
  proto::OpenReq req{};
  std::string_view path;
  if (int rc = body(r, req); rc < 0) return rc;
  if ((req.flags & ~proto::kOpenKnown) != 0 || req.pad != 0) return -EINVAL;
  if ((req.flags & proto::kOpenAccMode) == proto::kOpenAccMode) return -EINVAL;
  if ((req.mode & ~07777u) != 0) return -EINVAL;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  OpenResult res;
  if (int rc = s.ns->open(req.base, path, req.flags, req.mode, s.cred, res); rc < 0) return rc;
  proto::OpenRep rep{};
  rep.attr = res.attr;
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
  return s.ns->mkdir(req.base, path, req.mode, s.cred);
}

int do_unlink(Session& s, wire::Reader& r, Out&) {
  proto::UnlinkReq req{};
  std::string_view path;
  if (int rc = body(r, req); rc < 0) return rc;
  if ((req.flags & ~proto::kUnlinkRemoveDir) != 0) return -EINVAL;
  if (int rc = path_of(r, req.path_len, path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  return s.ns->unlink(req.base, path, req.flags, s.cred);
}

int do_rename(Session& s, wire::Reader& r, Out&) {
  proto::RenameReq req{};
  std::string_view old_path, new_path;
  if (int rc = body(r, req); rc < 0) return rc;
  if ((req.flags & ~(proto::kRenameNoReplace | proto::kRenameExchange)) != 0 || req.pad != 0) return -EINVAL;
  if (int rc = path_of(r, req.old_len, old_path); rc < 0) return rc;
  if (int rc = path_of(r, req.new_len, new_path); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  return s.ns->rename(req.old_base, old_path, req.new_base, new_path, req.flags, s.cred);
}

int do_readdir(Session& s, wire::Reader& r, Out& out) {
  proto::ReaddirReq req{};
  if (int rc = body(r, req); rc < 0) return rc;
  if (int rc = at_end(r); rc < 0) return rc;
  out.payload.resize(proto::kMaxMessage - sizeof(proto::ReplyHeader));
  size_t used = 0;
  if (int rc = s.ns->readdir(req.ino, req.cookie, out.payload.data(), out.payload.size(), used); rc < 0)
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
  return s.ns->access(req.base, path, req.mode, follow_of(req.flags), s.cred);
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
};

Reply make_reply(uint16_t op, uint64_t id, int error, Out&& out) {
  Reply reply;
  reply.after = out.after;
  if (error < 0) out.payload.clear();  // an error carries no body and no fd
  proto::ReplyHeader h{};
  h.magic = proto::kMagic;
  h.op = op;
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
  return make_reply(h.op, h.id, rc, std::move(out));
}
}  // namespace

Reply dispatch(Session& s, const void* msg, size_t len) {
  try {
    return dispatch_checked(s, msg, len);
  } catch (...) {
    // Not even an error reply could be built (out of memory): an empty
    // reply that asks the loop to drop this client; building it cannot throw.
    Reply r;
    r.after = AfterReply::close;
    return r;
  }
}

}  // namespace userfs::server

// Changing attributes (chmod, chown, utimens, truncate), filesystem
// figures (statfs, statvfs) and extended attributes.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/xattr.h>
#include <time.h>

#include <cstdlib>

#include "ops.hpp"
#include "ops_internal.hpp"

namespace userfs::ops {

using namespace detail;

namespace {

int setattr(const char* fn, route::Target& t, proto::SetattrReq& req, bool follow) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  req.base = t.base;
  req.flags = t.flags | (follow ? 0u : proto::kNoFollow);
  req.path_len = t.len;
  proto::Attr attr;
  int err = call_fixed(t, Request{proto::Op::setattr, &req, sizeof req, t.path, t.len}, attr);
  if (err == kRedirected) return -1;
  char args[96];
  trace_args(args, sizeof args, "valid 0x%x, mode 0%o, uid %d, gid %d, size %llu", req.valid, req.mode,
             static_cast<int>(req.uid), static_cast<int>(req.gid), static_cast<unsigned long long>(req.size));
  return static_cast<int>(finish(fn, &t, err, -err, args));
}

// One utimensat time into the request; false if it is invalid.
bool set_time(const struct timespec* ts, uint32_t set, uint32_t now, uint32_t& valid, int64_t& sec, uint32_t& nsec) {
  if (ts == nullptr || ts->tv_nsec == UTIME_NOW) {
    valid |= now;
    return true;
  }
  if (ts->tv_nsec == UTIME_OMIT) return true;
  if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L) return false;
  valid |= set;
  sec = ts->tv_sec;
  nsec = static_cast<uint32_t>(ts->tv_nsec);
  return true;
}

}  // namespace

int chmod(const char* fn, route::Target& t, mode_t mode, bool follow) {
  proto::SetattrReq req{};
  req.valid = proto::kSetMode;
  req.mode = mode & 07777;
  return setattr(fn, t, req, follow);
}

int chown(const char* fn, route::Target& t, uid_t uid, gid_t gid, bool follow) {
  // Always both fields, -1 meaning "unchanged": even chown(-1, -1) clears
  // set-id bits and moves ctime on Linux, and the server applies that rule.
  proto::SetattrReq req{};
  req.valid = proto::kSetUid | proto::kSetGid;
  req.uid = static_cast<uint32_t>(uid);
  req.gid = static_cast<uint32_t>(gid);
  return setattr(fn, t, req, follow);
}

int utimens(const char* fn, route::Target& t, const struct timespec* times, bool follow) {
  proto::SetattrReq req{};
  bool ok = set_time(times ? &times[0] : nullptr, proto::kSetAtime, proto::kSetAtimeNow, req.valid, req.atime_sec,
                     req.atime_nsec) &&
            set_time(times ? &times[1] : nullptr, proto::kSetMtime, proto::kSetMtimeNow, req.valid, req.mtime_sec,
                     req.mtime_nsec);
  if (!ok) return static_cast<int>(finish(fn, &t, -1, EINVAL));
  if (req.valid == 0) {
    proto::Attr attr;
    if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
    int err = lookup(t, follow, attr);
    if (err == kRedirected) return -1;
    return static_cast<int>(finish(fn, &t, err, -err));
  }
  return setattr(fn, t, req, follow);
}

int truncate(const char* fn, route::Target& t, off_t size) {
  if (size < 0) return static_cast<int>(finish(fn, &t, -1, EINVAL));
  proto::SetattrReq req{};
  req.valid = proto::kSetSize;
  req.size = static_cast<uint64_t>(size);
  return setattr(fn, t, req, true);
}

namespace {

// The figures, after checking the path resolves (statfs of a missing path
// is ENOENT on any filesystem).
int fetch_statfs(route::Target& t, proto::StatfsRep& out) {
  if (t.route == route::Route::fail) return -t.err;
  proto::Attr attr;
  int err = lookup(t, true, attr);
  if (err != 0) return err;
  // The mount holding what the path names (a symlink may lead to another).
  proto::StatfsReq req{attr.ino};
  client::ReplyBuffer rep{&out, sizeof out};
  err = session::call(Request{proto::Op::statfs, &req, sizeof req}, rep);
  client::raw_close(rep.fd);
  if (err == 0 && rep.len != sizeof out) err = -EIO;
  return err;
}

// statvfs is statfs under other names: one fill, then the renaming.
void to_statfs(const proto::StatfsRep& r, struct statfs* out) {
  std::memset(out, 0, sizeof *out);
  // It is a memory filesystem: programs that special-case tmpfs should
  // treat it as one.
  out->f_type = TMPFS_MAGIC;
  out->f_bsize = r.bsize;
  out->f_frsize = r.bsize;
  out->f_blocks = r.blocks;
  out->f_bfree = r.bfree;
  out->f_bavail = r.bavail;
  out->f_files = r.files;
  out->f_ffree = r.ffree;
  std::memcpy(&out->f_fsid, &r.fsid, sizeof out->f_fsid);
  out->f_namelen = r.namelen;
}

}  // namespace

int statfs(const char* fn, route::Target& t, struct statfs* out) {
  proto::StatfsRep r{};
  int err = fetch_statfs(t, r);
  if (err == kRedirected) return -1;
  if (err == 0) to_statfs(r, out);
  return static_cast<int>(finish(fn, &t, err, -err));
}

int statvfs(const char* fn, route::Target& t, struct statvfs* out) {
  proto::StatfsRep r{};
  int err = fetch_statfs(t, r);
  if (err == kRedirected) return -1;
  if (err == 0) {
    struct statfs f;
    to_statfs(r, &f);
    std::memset(out, 0, sizeof *out);
    out->f_bsize = f.f_bsize;
    out->f_frsize = f.f_frsize;
    out->f_blocks = f.f_blocks;
    out->f_bfree = f.f_bfree;
    out->f_bavail = f.f_bavail;
    out->f_files = f.f_files;
    out->f_ffree = f.f_ffree;
    out->f_favail = f.f_ffree;
    out->f_fsid = static_cast<unsigned long>(r.fsid);
    out->f_namemax = f.f_namelen;
  }
  return static_cast<int>(finish(fn, &t, err, -err));
}

// --- extended attributes ------------------------------------------------------

namespace {

// Room for the largest value or list, or a redirect.
struct XattrBuffer {
  size_t cap = proto::kMaxXattrValue + sizeof(Scratch);
  unsigned char* data;
  XattrBuffer() : data(static_cast<unsigned char*>(std::malloc(cap))) {}
  ~XattrBuffer() { std::free(data); }
  XattrBuffer(const XattrBuffer&) = delete;
  XattrBuffer& operator=(const XattrBuffer&) = delete;
};

uint32_t path_flags(const route::Target& t, bool follow) { return t.flags | (follow ? 0u : proto::kNoFollow); }

// getxattr/listxattr's answer for a reply of n bytes and a caller's
// buffer of `size`: the size alone when size is 0, else ERANGE or a copy.
long deliver(const unsigned char* data, size_t n, void* out, size_t size) {
  if (size == 0) return static_cast<long>(n);
  if (n > size) return -ERANGE;
  std::memcpy(out, data, n);
  return static_cast<long>(n);
}

}  // namespace

ssize_t getxattr(const char* fn, route::Target& t, const char* name, void* value, size_t size, bool follow) {
  if (t.route == route::Route::fail) return finish(fn, &t, -1, t.err);
  size_t nlen = std::strlen(name);
  if (nlen == 0 || nlen > 255) return finish(fn, &t, -1, ERANGE);
  XattrBuffer b;
  if (b.data == nullptr) return finish(fn, &t, -1, ENOMEM);
  proto::GetxattrReq req{t.base, path_flags(t, follow), static_cast<uint32_t>(nlen), t.len, 0};
  ReplyBuffer rep{b.data, b.cap};
  int err = call(t, Request{proto::Op::getxattr, &req, sizeof req, name, nlen, t.path, t.len}, rep);
  if (err == kRedirected) return -1;
  client::raw_close(rep.fd);
  long r = err != 0 ? err : deliver(b.data, rep.len, value, size);
  return finish(fn, &t, r, static_cast<int>(-r));
}

int setxattr(const char* fn, route::Target& t, const char* name, const void* value, size_t size, int xflags,
             bool follow) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  size_t nlen = std::strlen(name);
  if (nlen == 0 || nlen > 255) return static_cast<int>(finish(fn, &t, -1, ERANGE));
  if (size > proto::kMaxXattrValue) return static_cast<int>(finish(fn, &t, -1, E2BIG));
  if (xflags & ~(XATTR_CREATE | XATTR_REPLACE)) return static_cast<int>(finish(fn, &t, -1, EINVAL));
  uint32_t wx = ((xflags & XATTR_CREATE) ? proto::kXattrCreate : 0u) | ((xflags & XATTR_REPLACE) ? proto::kXattrReplace : 0u);
  proto::SetxattrReq req{t.base, path_flags(t, follow), wx, static_cast<uint32_t>(nlen), static_cast<uint32_t>(size),
                         t.len, 0};
  // Three strings: name, value, path. The client sends two after the body,
  // so the name and value travel together in one buffer.
  XattrBuffer b;
  if (b.data == nullptr) return static_cast<int>(finish(fn, &t, -1, ENOMEM));
  std::memcpy(b.data, name, nlen);
  if (size > 0) std::memcpy(b.data + nlen, value, size);
  int err = call_empty(t, Request{proto::Op::setxattr, &req, sizeof req, reinterpret_cast<const char*>(b.data),
                                  nlen + size, t.path, t.len});
  if (err == kRedirected) return -1;
  return static_cast<int>(finish(fn, &t, err, -err));
}

ssize_t listxattr(const char* fn, route::Target& t, char* list, size_t size, bool follow) {
  if (t.route == route::Route::fail) return finish(fn, &t, -1, t.err);
  XattrBuffer b;
  if (b.data == nullptr) return finish(fn, &t, -1, ENOMEM);
  proto::ListxattrReq req{t.base, path_flags(t, follow), t.len};
  ReplyBuffer rep{b.data, b.cap};
  int err = call(t, Request{proto::Op::listxattr, &req, sizeof req, t.path, t.len}, rep);
  if (err == kRedirected) return -1;
  client::raw_close(rep.fd);
  long r = err != 0 ? err : deliver(b.data, rep.len, list, size);
  return finish(fn, &t, r, static_cast<int>(-r));
}

int removexattr(const char* fn, route::Target& t, const char* name, bool follow) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  size_t nlen = std::strlen(name);
  if (nlen == 0 || nlen > 255) return static_cast<int>(finish(fn, &t, -1, ERANGE));
  proto::RemovexattrReq req{t.base, path_flags(t, follow), static_cast<uint32_t>(nlen), t.len, 0};
  int err = call_empty(t, Request{proto::Op::removexattr, &req, sizeof req, name, nlen, t.path, t.len});
  if (err == kRedirected) return -1;
  return static_cast<int>(finish(fn, &t, err, -err));
}

}  // namespace userfs::ops

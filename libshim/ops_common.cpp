// The shared machinery of the ops layer (see ops_internal.hpp).
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "init.hpp"
#include "ops.hpp"
#include "ops_internal.hpp"
#include "real_libc.hpp"
#include "shared_table.hpp"
#include "userfs/wire.hpp"

namespace userfs::ops::detail {

// Both targets' inodes must belong to the namespace the request reaches: a
// rename from a stale dirfd must not land in another file tree.
uint32_t generation_of(const route::Target& t, const route::Target* second) {
  uint32_t g = t.generation;
  if (second == nullptr || second->route != route::Route::ours || second->generation == 0) return g;
  if (g != 0 && g != second->generation) return session::stale(g) ? g : second->generation;
  return second->generation;
}

int call(route::Target& t, const Request& req, ReplyBuffer& rep, route::Target* second) {
  Request named = req;
  named.generation = generation_of(t, second);
  named.mount = t.mount >= 0 ? static_cast<uint32_t>(t.mount) : 0;
  int err = session::call(named, rep);
  if (err == 0 && (rep.flags & proto::kReplyRedirect) == 0) t.generation = rep.generation;
  if (err != 0 || (rep.flags & proto::kReplyRedirect) == 0) return err;
  client::raw_close(rep.fd);
  rep.fd = -1;
  proto::RedirectRep head{};
  wire::Reader r(rep.data, rep.len);
  bool second_path = r.fixed(head) && head.which == 1 && second != nullptr;
  route::redirect(second_path ? *second : t, rep.data, rep.len);
  // The caller's loop watches the first target.
  t.redirected = true;
  return kRedirected;
}

int call_empty(route::Target& t, const Request& req, route::Target* second) {
  Scratch s;
  ReplyBuffer rep{s.bytes, sizeof s.bytes};
  int err = call(t, req, rep, second);
  if (err != 0) return err;
  client::raw_close(rep.fd);
  return rep.len == 0 ? 0 : -EIO;
}

long finish(const char* fn, const route::Target* t, long result, int err, const char* extra) {
  if (trace::on(true)) trace::line(fn, t ? t->original : nullptr, nullptr, result < 0 ? -1 : result, err, extra);
  if (result < 0) errno = err;
  return result < 0 ? -1 : result;
}

long finish_fd(const char* fn, int fd, long result, int err) {
  if (trace::on(true)) {
    char arg[24];
    std::snprintf(arg, sizeof arg, "fd %d", fd);
    trace::line(fn, arg, nullptr, result < 0 ? -1 : result, err);
  }
  if (result < 0) errno = err;
  return result < 0 ? -1 : result;
}

const char* trace_args(char* buf, size_t cap, const char* fmt, ...) {
  buf[0] = '\0';
  if (!trace::on(true)) return buf;
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
  return buf;
}

int lookup(route::Target& t, bool follow, proto::Attr& attr) {
  if (int rc = shared_table::lookup(t, follow, attr); rc != shared_table::kAsk) return rc;
  proto::LookupReq req{t.base, (follow ? 0u : proto::kNoFollow) | t.flags, t.len};
  return call_fixed(t, Request{proto::Op::lookup, &req, sizeof req, t.path, t.len}, attr);
}

namespace {

int getattr_from_server(uint64_t ino, uint32_t generation, proto::Attr& attr) {
  proto::GetattrReq req{ino};
  ReplyBuffer rep{&attr, sizeof attr};
  Request r{proto::Op::getattr, &req, sizeof req};
  r.generation = generation;
  int err = session::call(r, rep);
  if (err == 0 && rep.len != sizeof attr) err = -EIO;
  return err;
}

}  // namespace

int getattr(uint64_t ino, uint32_t generation, proto::Attr& attr) {
  if (int rc = shared_table::getattr(ino, generation, attr); rc != shared_table::kAsk) return rc;
  return getattr_from_server(ino, generation, attr);
}

// Once the inode has left the namespace (unlinked while open) the server no
// longer knows it: report what the kernel knows of the data with the
// identity the fd was opened with.
int attr_of_fd(int fd, const fdt::Info& info, proto::Attr& attr) {
  // A file's fd is its data: the table with what the fd itself says.
  int err = info.kind == fdt::Kind::file ? shared_table::getattr_of_data(fd, info.ino, info.generation, attr)
                                         : shared_table::getattr(info.ino, info.generation, attr);
  if (err == shared_table::kAsk) err = getattr_from_server(info.ino, info.generation, attr);
  if (err != -ENOENT) return err;
  struct stat st;
  if (real::libc.fstat(fd, &st) != 0) return -errno;
  // A handle file's fd is a placeholder: the kernel knows nothing of the
  // data, and the server no longer has it to ask.
  if (info.kind == fdt::Kind::handle) st.st_size = st.st_blocks = 0;
  std::memset(&attr, 0, sizeof attr);
  attr.dev = st.st_dev;
  attr.ino = info.ino;
  attr.mode = info.mode;
  attr.uid = info.uid;
  attr.gid = info.gid;
  attr.nlink = 0;
  attr.size = static_cast<uint64_t>(st.st_size);
  attr.blocks = static_cast<uint64_t>(st.st_blocks);
  attr.blksize = static_cast<uint32_t>(st.st_blksize);
  attr.atime_sec = st.st_atim.tv_sec;
  attr.atime_nsec = static_cast<uint32_t>(st.st_atim.tv_nsec);
  attr.mtime_sec = st.st_mtim.tv_sec;
  attr.mtime_nsec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
  attr.ctime_sec = st.st_ctim.tv_sec;
  attr.ctime_nsec = static_cast<uint32_t>(st.st_ctim.tv_nsec);
  return 0;
}

void to_stat(const proto::Attr& a, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_dev = a.dev;
  st->st_ino = a.ino;
  st->st_mode = a.mode;
  st->st_nlink = a.nlink;
  st->st_uid = a.uid;
  st->st_gid = a.gid;
  st->st_rdev = a.rdev;
  st->st_size = static_cast<off_t>(a.size);
  st->st_blksize = a.blksize;
  st->st_blocks = static_cast<blkcnt_t>(a.blocks);
  st->st_atim = {a.atime_sec, a.atime_nsec};
  st->st_mtim = {a.mtime_sec, a.mtime_nsec};
  st->st_ctim = {a.ctime_sec, a.ctime_nsec};
}

void to_statx(const proto::Attr& a, struct statx* x) {
  std::memset(x, 0, sizeof *x);
  x->stx_mask = STATX_BASIC_STATS | STATX_BTIME;
  x->stx_blksize = a.blksize;
  x->stx_nlink = a.nlink;
  x->stx_uid = a.uid;
  x->stx_gid = a.gid;
  x->stx_mode = static_cast<uint16_t>(a.mode);
  x->stx_ino = a.ino;
  x->stx_size = a.size;
  x->stx_blocks = a.blocks;
  x->stx_atime = {a.atime_sec, a.atime_nsec, 0};
  x->stx_btime = {a.btime_sec, a.btime_nsec, 0};
  x->stx_ctime = {a.ctime_sec, a.ctime_nsec, 0};
  x->stx_mtime = {a.mtime_sec, a.mtime_nsec, 0};
  x->stx_rdev_major = major(a.rdev);
  x->stx_rdev_minor = minor(a.rdev);
  x->stx_dev_major = major(a.dev);
  x->stx_dev_minor = minor(a.dev);
}

namespace {
constinit std::atomic<int> known_umask{-1};
}  // namespace

// Reads the umask without changing it (umask(2) can only set it, which
// would race with other threads creating files).
mode_t current_umask() {
  int m = known_umask.load(std::memory_order_relaxed);
  if (m >= 0) return static_cast<mode_t>(m);
  mode_t found = 022;
  int fd = static_cast<int>(::syscall(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC));
  if (fd >= 0) {
    char buf[4096];
    ssize_t n = ::syscall(SYS_read, fd, buf, sizeof buf - 1);
    client::raw_close(fd);
    if (n > 0) {
      buf[n] = '\0';
      if (const char* u = std::strstr(buf, "\nUmask:")) found = static_cast<mode_t>(std::strtoul(u + 7, nullptr, 8));
    }
  }
  known_umask.store(static_cast<int>(found & 0777), std::memory_order_relaxed);
  return found & 0777;
}

const char* mount_prefix(const route::Target& t, size_t* len) {
  const path::MountTable& mounts = shim::config().mounts;
  const path::Mount& m = mounts.mounts[t.mount >= 0 && t.mount < mounts.count ? t.mount : 0];
  *len = m.len;
  return m.prefix;
}

}  // namespace userfs::ops::detail

namespace userfs::ops {

mode_t umask_changed(mode_t old_mask, mode_t new_mask) {
  detail::known_umask.store(static_cast<int>(new_mask & 0777), std::memory_order_relaxed);
  return old_mask;
}

}  // namespace userfs::ops

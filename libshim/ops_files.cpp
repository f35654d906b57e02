// Opening, looking up and naming files: open, stat, access, mkdir, mknod,
// unlink, rename, link, symlink, readlink.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include "ops.hpp"
#include "ops_internal.hpp"
#include "real_libc.hpp"
#include "shared_table.hpp"

namespace userfs::ops {

using namespace detail;

namespace {

// Linux open(2) flags to the protocol's; a refusal as a negative errno.
int64_t to_wire_open(int flags) {
  if ((flags & O_TMPFILE) == O_TMPFILE) return -EOPNOTSUPP;
  uint32_t w = 0;
  if (flags & O_PATH) {
    w = proto::kOpenPath;
  } else {
    int acc = flags & O_ACCMODE;
    w = static_cast<uint32_t>(acc);
    if (flags & O_CREAT) w |= proto::kOpenCreate;
    if (flags & O_EXCL) w |= proto::kOpenExcl;
    if (flags & O_TRUNC) w |= proto::kOpenTrunc;
    if (flags & O_APPEND) w |= proto::kOpenAppend;
    if (flags & O_NONBLOCK) w |= proto::kOpenNonBlock;
    if ((flags & O_SYNC) == O_SYNC) {
      w |= proto::kOpenSync;
    } else if (flags & O_DSYNC) {
      w |= proto::kOpenDsync;
    }
  }
  if (flags & O_DIRECTORY) w |= proto::kOpenDirectory;
  if (flags & O_NOFOLLOW) w |= proto::kOpenNoFollow;
  return w;
}

fdt::Info info_of(const proto::Attr& a, int flags, uint32_t generation) {
  return fdt::Info{a.ino, S_ISDIR(a.mode) ? fdt::Kind::dir : fdt::Kind::file, a.mode, a.uid, a.gid,
                   (flags & O_PATH) != 0, generation};
}

fdt::Info info_of(const proto::OpenRep& rep, int flags, uint32_t generation) {
  fdt::Info info = info_of(rep.attr, flags, generation);
  if ((rep.open_flags & proto::kOpenedHandle) != 0) {
    info.kind = fdt::Kind::handle;
    info.handle = rep.handle;
    info.access = static_cast<uint8_t>(flags & O_ACCMODE);
    info.append = (flags & O_APPEND) != 0;
  }
  return info;
}

}  // namespace

int open(const char* fn, route::Target& t, int flags, mode_t mode) {
  char args[40];
  trace_args(args, sizeof args, "0%o, 0%o", static_cast<unsigned>(flags), static_cast<unsigned>(mode));
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err, args));
  // An existing file opened for reading: from the shared table, if it can.
  proto::Attr found;
  int local_fd = -1;
  uint32_t local_generation = 0;
  if (int rc = shared_table::open(t, flags, &local_fd, found, &local_generation); rc != shared_table::kAsk) {
    if (rc != 0) return static_cast<int>(finish(fn, &t, -1, -rc, args));
    fdt::set(local_fd, info_of(found, flags, local_generation));
    return static_cast<int>(finish(fn, &t, local_fd, 0, args));
  }
  int64_t wire = to_wire_open(flags);
  if (wire < 0) return static_cast<int>(finish(fn, &t, -1, static_cast<int>(-wire), args));
  proto::OpenReq req{t.base, static_cast<uint32_t>(wire), static_cast<uint32_t>(mode & 07777 & ~current_umask()), t.len, 0};
  proto::OpenRep out{};
  int fd = -1;
  int err = call_fixed(t, Request{proto::Op::open, &req, sizeof req, t.path, t.len}, out, &fd, (flags & O_CLOEXEC) != 0);
  if (err == kRedirected) return -1;
  if (err != 0) return static_cast<int>(finish(fn, &t, -1, -err, args));
  fdt::set(fd, info_of(out, flags, t.generation));
  return static_cast<int>(finish(fn, &t, fd, 0, args));
}

FILE* fopen(const char* fn, route::Target& t, const char* mode) {
  int flags;
  switch (mode[0]) {
    case 'r': flags = 0; break;
    case 'w': flags = O_CREAT | O_TRUNC; break;
    case 'a': flags = O_CREAT | O_APPEND; break;
    default:
      finish(fn, &t, -1, EINVAL);
      return nullptr;
  }
  bool plus = false;
  for (const char* m = mode + 1; *m != '\0' && *m != ','; m++) {
    if (*m == '+') plus = true;
    if (*m == 'e') flags |= O_CLOEXEC;
    if (*m == 'x') flags |= O_EXCL;
  }
  flags |= plus ? O_RDWR : (mode[0] == 'r' ? O_RDONLY : O_WRONLY);
  int fd = open(fn, t, flags, 0666);
  if (fd < 0) return nullptr;
  fdt::Info info;
  FILE* f = fdt::lookup(fd, &info) && info.kind == fdt::Kind::handle ? handle_stream(fd, info, mode)
                                                                      : real::libc.fdopen(fd, mode);
  if (f == nullptr) {
    int err = errno;
    fdt::clear(fd);
    real::libc.close(fd);
    errno = err;
  }
  return f;
}

int stat(const char* fn, route::Target& t, struct stat* st, bool follow) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  proto::Attr attr;
  int err = lookup(t, follow, attr);
  if (err == kRedirected) return -1;
  if (err == 0) to_stat(attr, st);
  return static_cast<int>(finish(fn, &t, err, -err));
}

int fstat(const char* fn, int fd, const fdt::Info& info, struct stat* st) {
  proto::Attr attr;
  int err = attr_of_fd(fd, info, attr);
  if (err == 0) to_stat(attr, st);
  return static_cast<int>(finish_fd(fn, fd, err, -err));
}

int statx(const char* fn, route::Target& t, int flags, unsigned /*mask*/, struct statx* stx) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  proto::Attr attr;
  int err = lookup(t, (flags & AT_SYMLINK_NOFOLLOW) == 0, attr);
  if (err == kRedirected) return -1;
  if (err == 0) to_statx(attr, stx);
  return static_cast<int>(finish(fn, &t, err, -err));
}

int fstatx(const char* fn, int fd, const fdt::Info& info, struct statx* stx) {
  proto::Attr attr;
  int err = attr_of_fd(fd, info, attr);
  if (err == 0) to_statx(attr, stx);
  return static_cast<int>(finish_fd(fn, fd, err, -err));
}

int access(const char* fn, route::Target& t, int mode, int flags) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  if (mode & ~(R_OK | W_OK | X_OK)) return static_cast<int>(finish(fn, &t, -1, EINVAL));
  uint32_t wflags = t.flags;
  if (flags & AT_SYMLINK_NOFOLLOW) wflags |= proto::kNoFollow;
  if (flags & AT_EACCESS) wflags |= proto::kAccessEffective;
  if (int rc = shared_table::access(t, mode, (flags & AT_SYMLINK_NOFOLLOW) == 0); rc != shared_table::kAsk) {
    char args[24];
    return static_cast<int>(finish(fn, &t, rc, -rc, trace_args(args, sizeof args, "0%o, 0x%x", mode, flags)));
  }
  proto::AccessReq req{t.base, static_cast<uint32_t>(mode), wflags, t.len, 0};
  int err = call_empty(t, Request{proto::Op::access, &req, sizeof req, t.path, t.len});
  if (err == kRedirected) return -1;
  char args[24];
  return static_cast<int>(finish(fn, &t, err, -err, trace_args(args, sizeof args, "0%o, 0x%x", mode, flags)));
}

int mkdir(const char* fn, route::Target& t, mode_t mode) {
  char args[16];
  trace_args(args, sizeof args, "0%o", static_cast<unsigned>(mode));
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err, args));
  proto::MkdirReq req{t.base, static_cast<uint32_t>(mode & 07777 & ~current_umask()), t.len};
  int err = call_empty(t, Request{proto::Op::mkdir, &req, sizeof req, t.path, t.len});
  if (err == kRedirected) return -1;
  return static_cast<int>(finish(fn, &t, err, -err, args));
}

int mknod(const char* fn, route::Target& t, mode_t mode, dev_t dev) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  uint32_t wmode = static_cast<uint32_t>((mode & S_IFMT) | (mode & 07777 & ~current_umask()));
  proto::MknodReq req{t.base, wmode, t.len, static_cast<uint64_t>(dev)};
  int err = call_empty(t, Request{proto::Op::mknod, &req, sizeof req, t.path, t.len});
  if (err == kRedirected) return -1;
  return static_cast<int>(finish(fn, &t, err, -err));
}

int unlink(const char* fn, route::Target& t, bool remove_dir) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  proto::UnlinkReq req{t.base, remove_dir ? proto::kUnlinkRemoveDir : 0u, t.len};
  int err = call_empty(t, Request{proto::Op::unlink, &req, sizeof req, t.path, t.len});
  if (err == kRedirected) return -1;
  return static_cast<int>(finish(fn, &t, err, -err));
}

namespace {

// Shared by rename and link: both targets must be in the same mount.
int two_path_error(const route::Target& from, const route::Target& to) {
  if (from.route == route::Route::fail) return from.err;
  if (to.route == route::Route::fail) return to.err;
  if (from.route != to.route || from.mount != to.mount) return EXDEV;
  return 0;
}

int finish_two(const char* fn, const route::Target& from, const route::Target& to, int err) {
  if (trace::on(true)) trace::line(fn, from.original, to.original, err != 0 ? -1 : 0, err);
  if (err != 0) {
    errno = err;
    return -1;
  }
  return 0;
}

}  // namespace

int rename(const char* fn, route::Target& from, route::Target& to, unsigned flags) {
  int err = two_path_error(from, to);
  if (err == 0 && ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
                   ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)))) {
    err = EINVAL;
  }
  if (err != 0) return finish_two(fn, from, to, err);
  uint32_t wflags = ((flags & RENAME_NOREPLACE) ? proto::kRenameNoReplace : 0u) |
                    ((flags & RENAME_EXCHANGE) ? proto::kRenameExchange : 0u);
  proto::RenameReq req{from.base, to.base, wflags, from.len, to.len, 0};
  int r = call_empty(from, Request{proto::Op::rename, &req, sizeof req, from.path, from.len, to.path, to.len}, &to);
  if (r == kRedirected) return -1;
  return finish_two(fn, from, to, -r);
}

int link(const char* fn, route::Target& from, route::Target& to, bool follow) {
  int err = two_path_error(from, to);
  if (err != 0) return finish_two(fn, from, to, err);
  uint32_t wflags = (follow ? proto::kLinkFollow : 0u) | (from.flags & proto::kEmptyPath);
  proto::LinkReq req{from.base, to.base, wflags, from.len, to.len, 0};
  int r = call_empty(from, Request{proto::Op::link, &req, sizeof req, from.path, from.len, to.path, to.len}, &to);
  if (r == kRedirected) return -1;
  return finish_two(fn, from, to, -r);
}

int symlink(const char* fn, const char* target, route::Target& t) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  size_t tlen = std::strlen(target);
  if (tlen == 0) return static_cast<int>(finish(fn, &t, -1, ENOENT));
  if (tlen >= proto::kMaxPath) return static_cast<int>(finish(fn, &t, -1, ENAMETOOLONG));
  proto::SymlinkReq req{t.base, static_cast<uint32_t>(tlen), t.len};
  int err = call_empty(t, Request{proto::Op::symlink, &req, sizeof req, target, tlen, t.path, t.len});
  if (err == kRedirected) return -1;
  return static_cast<int>(finish(fn, &t, err, -err));
}

ssize_t readlink(const char* fn, route::Target& t, char* buf, size_t size) {
  if (t.route == route::Route::fail) return finish(fn, &t, -1, t.err);
  if (size == 0) return finish(fn, &t, -1, EINVAL);
  size_t local_len = 0;
  if (int rc = shared_table::readlink(t, buf, size, &local_len); rc != shared_table::kAsk)
    return rc != 0 ? finish(fn, &t, -1, -rc) : finish(fn, &t, static_cast<long>(local_len), 0);
  proto::ReadlinkReq req{t.base, t.flags, t.len};
  Scratch s;
  ReplyBuffer rep{s.bytes, sizeof s.bytes};
  int err = call(t, Request{proto::Op::readlink, &req, sizeof req, t.path, t.len}, rep);
  if (err == kRedirected) return -1;
  client::raw_close(rep.fd);
  if (err != 0) return finish(fn, &t, -1, -err);
  size_t n = rep.len < size ? rep.len : size;
  std::memcpy(buf, s.bytes, n);
  return finish(fn, &t, static_cast<long>(n), 0);
}

}  // namespace userfs::ops

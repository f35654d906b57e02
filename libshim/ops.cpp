#include "ops.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "real_libc.hpp"
#include "session.hpp"
#include "trace.hpp"
#include "userfs/protocol.hpp"
#include "userfs/wire.hpp"

namespace userfs::ops {

namespace {

using client::ReplyBuffer;
using client::Request;

// errno-setting tail shared by every op: traces, then returns -1 with errno
// or the result.
long finish(const char* fn, const route::Target* t, long result, int err) {
  if (trace::on(true)) trace::line(fn, t ? t->original : nullptr, nullptr, result < 0 ? -1 : result, err);
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

// --- umask ----------------------------------------------------------------

constinit std::atomic<int> known_umask{-1};

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

// --- conversions ----------------------------------------------------------

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

// Linux open(2) flags to the protocol's; -EINVAL-style refusals as negative.
int64_t to_wire_open(int flags) {
  if ((flags & O_TMPFILE) == O_TMPFILE) return -EOPNOTSUPP;
  uint32_t w = 0;
  if (flags & O_PATH) {
    // An O_PATH fd only names the object; a read-only open serves as one.
    w = 0;
  } else {
    int acc = flags & O_ACCMODE;
    if (acc == 3) return -EINVAL;
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

fdt::Info info_of(const proto::Attr& a) {
  return fdt::Info{a.ino, S_ISDIR(a.mode) ? fdt::Kind::dir : fdt::Kind::file, a.mode, a.uid, a.gid};
}

int lookup(const route::Target& t, bool follow, proto::Attr& attr) {
  proto::LookupReq req{t.base, (follow ? 0u : proto::kNoFollow) | t.flags, t.len};
  ReplyBuffer rep{&attr, sizeof attr};
  int err = session::call(Request{proto::Op::lookup, &req, sizeof req, t.path, t.len}, rep);
  if (err == 0 && rep.len != sizeof attr) err = -EIO;
  return err;
}

int getattr(uint64_t ino, proto::Attr& attr) {
  proto::GetattrReq req{ino};
  ReplyBuffer rep{&attr, sizeof attr};
  int err = session::call(Request{proto::Op::getattr, &req, sizeof req}, rep);
  if (err == 0 && rep.len != sizeof attr) err = -EIO;
  return err;
}

// Attributes of an open mount fd. Once the inode has left the namespace
// (unlinked while open) the server no longer knows it: report what the
// kernel knows of the data with the identity the fd was opened with.
int attr_of_fd(int fd, const fdt::Info& info, proto::Attr& attr) {
  int err = getattr(info.ino, attr);
  if (err != -ENOENT) return err;
  struct stat st;
  if (real::libc.fstat(fd, &st) != 0) return -errno;
  std::memset(&attr, 0, sizeof attr);
  attr.ino = info.ino;
  attr.mode = (info.mode & S_IFMT) | (info.mode & 07777);
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
  attr.dev = st.st_dev;
  return 0;
}

}  // namespace

// --- open -------------------------------------------------------------------

int open(const char* fn, const route::Target& t, int flags, mode_t mode) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  int64_t wire = to_wire_open(flags);
  if (wire < 0) return static_cast<int>(finish(fn, &t, -1, static_cast<int>(-wire)));
  proto::OpenReq req{t.base, static_cast<uint32_t>(wire), static_cast<uint32_t>(mode & 07777 & ~current_umask()), t.len, 0};
  proto::OpenRep out{};
  ReplyBuffer rep{&out, sizeof out};
  rep.fd_cloexec = (flags & O_CLOEXEC) != 0;
  int err = session::call(Request{proto::Op::open, &req, sizeof req, t.path, t.len}, rep);
  if (err == 0 && (rep.len != sizeof out || rep.fd < 0)) {
    client::raw_close(rep.fd);
    err = -EIO;
  }
  if (err != 0) return static_cast<int>(finish(fn, &t, -1, -err));
  fdt::set(rep.fd, info_of(out.attr));
  return static_cast<int>(finish(fn, &t, rep.fd, 0));
}

FILE* fopen(const char* fn, const route::Target& t, const char* mode) {
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
  for (const char* m = mode + 1; *m != '\0'; m++) {
    if (*m == '+') plus = true;
    if (*m == 'e') flags |= O_CLOEXEC;
    if (*m == 'x') flags |= O_EXCL;
  }
  flags |= plus ? O_RDWR : (mode[0] == 'r' ? O_RDONLY : O_WRONLY);
  int fd = open(fn, t, flags, 0666);
  if (fd < 0) return nullptr;
  FILE* f = ::fdopen(fd, mode);
  if (f == nullptr) {
    int err = errno;
    fdt::clear(fd);
    real::libc.close(fd);
    errno = err;
  }
  return f;
}

// --- attributes -------------------------------------------------------------

int stat(const char* fn, const route::Target& t, struct stat* st, bool follow) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  proto::Attr attr;
  int err = lookup(t, follow, attr);
  if (err == 0) to_stat(attr, st);
  return static_cast<int>(finish(fn, &t, err, -err));
}

int fstat(const char* fn, int fd, const fdt::Info& info, struct stat* st) {
  proto::Attr attr;
  int err = attr_of_fd(fd, info, attr);
  if (err == 0) to_stat(attr, st);
  return static_cast<int>(finish_fd(fn, fd, err, -err));
}

int statx(const char* fn, const route::Target& t, int flags, unsigned /*mask*/, struct statx* stx) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  proto::Attr attr;
  int err = lookup(t, (flags & AT_SYMLINK_NOFOLLOW) == 0, attr);
  if (err == 0) to_statx(attr, stx);
  return static_cast<int>(finish(fn, &t, err, -err));
}

int access(const char* fn, const route::Target& t, int mode, int flags) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  if (mode & ~(R_OK | W_OK | X_OK)) return static_cast<int>(finish(fn, &t, -1, EINVAL));
  uint32_t wflags = t.flags;
  if (flags & AT_SYMLINK_NOFOLLOW) wflags |= proto::kNoFollow;
  if (flags & AT_EACCESS) wflags |= proto::kAccessEffective;
  proto::AccessReq req{t.base, static_cast<uint32_t>(mode), wflags, t.len, 0};
  ReplyBuffer rep{};
  int err = session::call(Request{proto::Op::access, &req, sizeof req, t.path, t.len}, rep);
  return static_cast<int>(finish(fn, &t, err, -err));
}

// --- namespace ----------------------------------------------------------------

int mkdir(const char* fn, const route::Target& t, mode_t mode) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  proto::MkdirReq req{t.base, static_cast<uint32_t>(mode & 07777 & ~current_umask()), t.len};
  ReplyBuffer rep{};
  int err = session::call(Request{proto::Op::mkdir, &req, sizeof req, t.path, t.len}, rep);
  return static_cast<int>(finish(fn, &t, err, -err));
}

int unlink(const char* fn, const route::Target& t, bool remove_dir) {
  if (t.route == route::Route::fail) return static_cast<int>(finish(fn, &t, -1, t.err));
  proto::UnlinkReq req{t.base, remove_dir ? proto::kUnlinkRemoveDir : 0u, t.len};
  ReplyBuffer rep{};
  int err = session::call(Request{proto::Op::unlink, &req, sizeof req, t.path, t.len}, rep);
  return static_cast<int>(finish(fn, &t, err, -err));
}

int rename(const char* fn, const route::Target& from, const route::Target& to, unsigned flags) {
  int err = 0;
  if (from.route == route::Route::fail) {
    err = from.err;
  } else if (to.route == route::Route::fail) {
    err = to.err;
  } else if (from.route != to.route || from.mount != to.mount) {
    err = EXDEV;
  } else if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
    err = EINVAL;
  } else if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) {
    err = EINVAL;
  }
  if (err != 0) {
    if (trace::on(true)) trace::line(fn, from.original, to.original, -1, err);
    errno = err;
    return -1;
  }
  uint32_t wflags = ((flags & RENAME_NOREPLACE) ? proto::kRenameNoReplace : 0u) |
                    ((flags & RENAME_EXCHANGE) ? proto::kRenameExchange : 0u);
  proto::RenameReq req{from.base, to.base, wflags, from.len, to.len, 0};
  ReplyBuffer rep{};
  int r = session::call(Request{proto::Op::rename, &req, sizeof req, from.path, from.len, to.path, to.len}, rep);
  if (trace::on(true)) trace::line(fn, from.original, to.original, r < 0 ? -1 : 0, -r);
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return 0;
}

// --- xattrs -------------------------------------------------------------------

ssize_t getxattr(const char* fn, const route::Target& t, bool follow) {
  if (t.route == route::Route::fail) return finish(fn, &t, -1, t.err);
  proto::Attr attr;
  int err = lookup(t, follow, attr);
  return finish(fn, &t, -1, err != 0 ? -err : ENODATA);
}

ssize_t listxattr(const char* fn, const route::Target& t, bool follow) {
  if (t.route == route::Route::fail) return finish(fn, &t, -1, t.err);
  proto::Attr attr;
  int err = lookup(t, follow, attr);
  return finish(fn, &t, err, -err);
}

ssize_t fgetxattr(const char* fn, int fd, const fdt::Info&) { return finish_fd(fn, fd, -1, ENODATA); }
ssize_t flistxattr(const char* fn, int fd, const fdt::Info&) { return finish_fd(fn, fd, 0, 0); }

// --- directory streams --------------------------------------------------------

// Laid out with the fd first, as glibc's DIR is, so a readdir() of any
// stream can read the fd and ask the fd table whether the stream is ours.
struct DirStream {
  int fd;
  uint32_t magic;
  uint64_t ino;
  uint64_t cookie;      // resume after this cookie
  size_t pos;           // next entry in buf
  size_t len;           // bytes of entries in buf
  uint32_t left;        // entries left in buf
  bool eof;             // the server said no entries follow buf
  struct dirent64 ent;  // what readdir returns
  unsigned char buf[proto::kMaxMessage];
};

namespace {

constexpr uint32_t kDirMagic = 0x55444952;  // "UDIR"

// dirent and dirent64 are one layout on LP64 Linux: readdir and readdir64
// can return the same record.
static_assert(sizeof(struct dirent) == sizeof(struct dirent64));

DirStream* make_stream(int fd, uint64_t ino) {
  auto* d = static_cast<DirStream*>(std::calloc(1, sizeof(DirStream)));
  if (d == nullptr) return nullptr;
  d->fd = fd;
  d->magic = kDirMagic;
  d->ino = ino;
  return d;
}

// Fetches the next batch after d->cookie. Returns 0 or a negative errno.
int refill(DirStream* d) {
  d->pos = d->len = 0;
  d->left = 0;
  proto::ReaddirReq req{d->ino, d->cookie};
  ReplyBuffer rep{d->buf, sizeof d->buf};
  int err = session::call(Request{proto::Op::readdir, &req, sizeof req}, rep);
  if (err != 0) return err;
  wire::Reader r(d->buf, rep.len);
  proto::ReaddirRep head;
  if (!r.fixed(head)) return -EIO;
  d->pos = sizeof head;
  d->len = rep.len;
  d->left = head.count;
  d->eof = head.eof != 0;
  return 0;
}

}  // namespace

DIR* opendir(const char* fn, const route::Target& t) {
  int fd = open(fn, t, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  fdt::Info info;
  fdt::lookup(fd, &info);
  DirStream* d = make_stream(fd, info.ino);
  if (d == nullptr) {
    fdt::clear(fd);
    real::libc.close(fd);
    errno = ENOMEM;
  }
  return reinterpret_cast<DIR*>(d);
}

DIR* fdopendir(const char* fn, int fd, const fdt::Info& info) {
  if (info.kind != fdt::Kind::dir) {
    finish_fd(fn, fd, -1, ENOTDIR);
    return nullptr;
  }
  DirStream* d = make_stream(fd, info.ino);
  if (d == nullptr) errno = ENOMEM;
  finish_fd(fn, fd, d ? 0 : -1, ENOMEM);
  return reinterpret_cast<DIR*>(d);
}

DirStream* as_ours(DIR* dir) {
  if (dir == nullptr) return nullptr;
  int fd;
  std::memcpy(&fd, dir, sizeof fd);
  fdt::Info info;
  if (!fdt::lookup(fd, &info) || info.kind != fdt::Kind::dir) return nullptr;
  auto* d = reinterpret_cast<DirStream*>(dir);
  return d->magic == kDirMagic ? d : nullptr;
}

struct dirent64* readdir(DirStream* d) {
  if (d->left == 0) {
    if (d->eof) return nullptr;
    int err = refill(d);
    if (err != 0) {
      errno = -err;
      return nullptr;
    }
    if (d->left == 0) return nullptr;
  }
  wire::Reader r(d->buf + d->pos, d->len - d->pos);
  proto::DirEntry e;
  std::string_view name;
  if (!r.fixed(e) || e.name_len == 0 || e.name_len > proto::kMaxName || !r.string(e.name_len, name)) {
    d->left = 0;
    d->eof = true;
    errno = EIO;
    return nullptr;
  }
  d->pos += proto::dir_entry_size(e.name_len);
  d->left--;
  d->cookie = e.cookie;
  d->ent.d_ino = e.ino;
  d->ent.d_off = static_cast<off64_t>(e.cookie);
  d->ent.d_type = e.type;
  std::memcpy(d->ent.d_name, name.data(), name.size());
  d->ent.d_name[name.size()] = '\0';
  d->ent.d_reclen = static_cast<unsigned short>(offsetof(struct dirent64, d_name) + name.size() + 1);
  return &d->ent;
}

int closedir(DirStream* d) {
  int fd = d->fd;
  d->magic = 0;
  std::free(d);
  fdt::clear(fd);
  return real::libc.close(fd);
}

int dirfd(DirStream* d) { return d->fd; }

void rewinddir(DirStream* d) { seekdir(d, 0); }

long telldir(DirStream* d) { return static_cast<long>(d->cookie); }

void seekdir(DirStream* d, long pos) {
  d->cookie = static_cast<uint64_t>(pos);
  d->left = 0;
  d->pos = d->len = 0;
  d->eof = false;
}

mode_t umask_changed(mode_t old_mask, mode_t new_mask) {
  known_umask.store(static_cast<int>(new_mask & 0777), std::memory_order_relaxed);
  return old_mask;
}

}  // namespace userfs::ops

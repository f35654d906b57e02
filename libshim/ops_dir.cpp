// Directory streams over mount directories: a DirStream stands in for
// glibc's DIR and lists the directory from the server in batches.
#include <fcntl.h>
#include <stddef.h>

#include <cstdlib>
#include <string_view>

#include "ops.hpp"
#include "ops_internal.hpp"
#include "real_libc.hpp"
#include "userfs/wire.hpp"

namespace userfs::ops {

using namespace detail;

// Laid out with the fd first, as glibc's DIR is, so a readdir() of any
// stream can read the fd and ask the fd table whether the stream is ours.
struct DirStream {
  int fd;
  uint32_t magic;
  uint64_t ino;
  uint32_t generation;  // the namespace `ino` belongs to
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

DirStream* make_stream(int fd, const fdt::Info& info) {
  auto* d = static_cast<DirStream*>(std::calloc(1, sizeof(DirStream)));
  if (d == nullptr) return nullptr;
  d->fd = fd;
  d->magic = kDirMagic;
  d->ino = info.ino;
  d->generation = info.generation;
  return d;
}

// Fetches the next batch after d->cookie. Returns 0 or a negative errno.
int refill(DirStream* d) {
  d->pos = d->len = 0;
  d->left = 0;
  proto::ReaddirReq req{d->ino, d->cookie};
  ReplyBuffer rep{d->buf, sizeof d->buf};
  Request named{proto::Op::readdir, &req, sizeof req};
  named.generation = d->generation;
  int err = session::call(named, rep);
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

DIR* opendir(const char* fn, route::Target& t) {
  int fd = open(fn, t, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return nullptr;  // also after a redirect: the caller retries
  fdt::Info info;
  fdt::lookup(fd, &info);
  DirStream* d = make_stream(fd, info);
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
  if (session::stale(info.generation)) {
    finish_fd(fn, fd, -1, ESTALE);
    return nullptr;
  }
  DirStream* d = make_stream(fd, info);
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

}  // namespace userfs::ops

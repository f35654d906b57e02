// Durability: fsync, fdatasync, syncfs and sync on a mount. The data is a
// real kernel file, so the kernel makes it durable; the namespace lives in
// the server, which is asked (Op::sync) to make its part durable too, after
// the data, so a name never outlives the data it names.
#include <unistd.h>

#include "ops.hpp"
#include "ops_internal.hpp"
#include "real_libc.hpp"

namespace userfs::ops {

using namespace detail;

namespace {

// Asks the server to make the namespace durable: the inode's changes, or
// all of it (ino 0). Returns 0 or -errno.
int sync_namespace(uint64_t ino, uint32_t generation) {
  proto::SyncReq req{ino};
  Request named{proto::Op::sync, &req, sizeof req};
  named.generation = generation;
  Scratch s;
  ReplyBuffer rep{s.bytes, sizeof s.bytes};
  int err = session::call(named, rep);
  client::raw_close(rep.fd);
  if (err == 0 && rep.len != 0) err = -EIO;
  return err;
}

}  // namespace

int fsync(const char* fn, int fd, const fdt::Info& info, bool data_only) {
  // The kernel answers first: EBADF for an O_PATH fd, EIO for lost data.
  // A handle file's data is the server's: it has nothing to say.
  int r = info.kind == fdt::Kind::handle ? 0 : data_only ? real::libc.fdatasync(fd) : real::libc.fsync(fd);
  if (r != 0) return static_cast<int>(finish_fd(fn, fd, -1, errno));
  int err = sync_namespace(info.ino, info.generation);
  return static_cast<int>(finish_fd(fn, fd, err, -err));
}

int syncfs(const char* fn, int fd, const fdt::Info& info) {
  if (real::libc.syncfs(fd) != 0) return static_cast<int>(finish_fd(fn, fd, -1, errno));
  int err = sync_namespace(0, info.generation);
  return static_cast<int>(finish_fd(fn, fd, err, -err));
}

void sync_all(const char* fn) {
  // sync(2) cannot fail: whatever the server says, errno stays as it was.
  int saved = errno;
  int err = sync_namespace(0, 0);
  if (trace::on(true)) trace::line(fn, nullptr, nullptr, err, -err);
  errno = saved;
}

}  // namespace userfs::ops

// File data over the connection, for handle files (fdt::Kind::handle):
// files whose backend serves the data itself, so the fd is a placeholder.
// The server keeps the offset, access mode and O_APPEND of the open file,
// so processes sharing the fd (fork, dup, exec) share them, as with a real
// file. Transfers larger than one message (proto::kMaxIo) go in pieces; a
// short piece ends them, as a short read from the kernel would.
#define _GNU_SOURCE 1
#include <fcntl.h>
#include <stdio.h>
#include <sys/uio.h>
#include <pthread.h>
#include <unistd.h>

#include <climits>
#include <cstdint>

#include "ops.hpp"
#include "ops_internal.hpp"
#include "real_libc.hpp"

namespace userfs::ops {

using namespace detail;

namespace {

// The kernel's limit on one transfer (MAX_RW_COUNT).
constexpr size_t kMaxTransfer = 0x7ffff000;

bool readable(const fdt::Info& info) { return info.access == O_RDONLY || info.access == O_RDWR; }
bool writable(const fdt::Info& info) { return info.access == O_WRONLY || info.access == O_RDWR; }

// Reads up to n bytes into buf (at `offset` if at_offset, else at the
// file's offset, which moves). Bytes read, or -errno if none were.
ssize_t read_in(const fdt::Info& info, char* buf, size_t n, bool at_offset, uint64_t offset) {
  if (!readable(info)) return -EBADF;
  if (n > kMaxTransfer) n = kMaxTransfer;
  size_t done = 0;
  while (done < n) {
    const uint32_t piece = static_cast<uint32_t>(n - done < proto::kMaxIo ? n - done : proto::kMaxIo);
    proto::ReadReq req{info.handle, offset + done, piece, at_offset ? proto::kIoAtOffset : 0u};
    Request r{proto::Op::read, &req, sizeof req};
    r.generation = info.generation;
    ReplyBuffer rep{buf + done, piece};
    const int err = session::call(r, rep);
    client::raw_close(rep.fd);
    if (err != 0) return done > 0 ? static_cast<ssize_t>(done) : err;
    done += rep.len;
    if (rep.len < piece) break;
  }
  return static_cast<ssize_t>(done);
}

// Writes n bytes from buf, as read_in reads.
ssize_t write_out(const fdt::Info& info, const char* buf, size_t n, bool at_offset, uint64_t offset) {
  if (!writable(info)) return -EBADF;
  if (n > kMaxTransfer) n = kMaxTransfer;
  size_t done = 0;
  while (done < n) {
    const uint32_t piece = static_cast<uint32_t>(n - done < proto::kMaxIo ? n - done : proto::kMaxIo);
    proto::WriteReq req{info.handle, offset + done, piece, at_offset ? proto::kIoAtOffset : 0u};
    Request r{proto::Op::write, &req, sizeof req, buf + done, piece};
    r.generation = info.generation;
    proto::WriteRep out{};
    ReplyBuffer rep{&out, sizeof out};
    int err = session::call(r, rep);
    client::raw_close(rep.fd);
    if (err == 0 && (rep.len != sizeof out || out.written > piece)) err = -EIO;
    if (err != 0) return done > 0 ? static_cast<ssize_t>(done) : err;
    done += out.written;
    if (out.written < piece) break;
  }
  return static_cast<ssize_t>(done);
}

ssize_t vector_io(const fdt::Info& info, const struct iovec* iov, int count, bool at_offset, uint64_t offset,
                  bool in) {
  if (count < 0 || count > IOV_MAX) return -EINVAL;
  size_t total = 0;
  for (int i = 0; i < count; i++) {
    if (iov[i].iov_len > kMaxTransfer - total) return -EINVAL;
    total += iov[i].iov_len;
  }
  if (!(in ? readable(info) : writable(info))) return -EBADF;
  size_t done = 0;
  for (int i = 0; i < count; i++) {
    if (iov[i].iov_len == 0) continue;
    char* base = static_cast<char*>(iov[i].iov_base);
    ssize_t r = in ? read_in(info, base, iov[i].iov_len, at_offset, offset + done)
                   : write_out(info, base, iov[i].iov_len, at_offset, offset + done);
    if (r < 0) return done > 0 ? static_cast<ssize_t>(done) : r;
    done += static_cast<size_t>(r);
    if (static_cast<size_t>(r) < iov[i].iov_len) break;
  }
  return static_cast<ssize_t>(done);
}

ssize_t finish_io(const char* fn, int fd, ssize_t r) {
  return finish_fd(fn, fd, r, r < 0 ? static_cast<int>(-r) : 0);
}

}  // namespace

ssize_t read(const char* fn, int fd, const fdt::Info& info, void* buf, size_t n) {
  return finish_io(fn, fd, read_in(info, static_cast<char*>(buf), n, false, 0));
}

ssize_t pread(const char* fn, int fd, const fdt::Info& info, void* buf, size_t n, off_t offset) {
  if (offset < 0) return finish_io(fn, fd, -EINVAL);
  return finish_io(fn, fd, read_in(info, static_cast<char*>(buf), n, true, static_cast<uint64_t>(offset)));
}

ssize_t write(const char* fn, int fd, const fdt::Info& info, const void* buf, size_t n) {
  return finish_io(fn, fd, write_out(info, static_cast<const char*>(buf), n, false, 0));
}

ssize_t pwrite(const char* fn, int fd, const fdt::Info& info, const void* buf, size_t n, off_t offset) {
  if (offset < 0) return finish_io(fn, fd, -EINVAL);
  return finish_io(fn, fd, write_out(info, static_cast<const char*>(buf), n, true, static_cast<uint64_t>(offset)));
}

ssize_t readv(const char* fn, int fd, const fdt::Info& info, const struct iovec* iov, int count, off_t offset) {
  if (offset < -1) return finish_io(fn, fd, -EINVAL);
  return finish_io(fn, fd, vector_io(info, iov, count, offset != -1, static_cast<uint64_t>(offset), true));
}

ssize_t writev(const char* fn, int fd, const fdt::Info& info, const struct iovec* iov, int count, off_t offset) {
  if (offset < -1) return finish_io(fn, fd, -EINVAL);
  return finish_io(fn, fd, vector_io(info, iov, count, offset != -1, static_cast<uint64_t>(offset), false));
}

off_t lseek(const char* fn, int fd, const fdt::Info& info, off_t offset, int whence) {
  proto::LseekReq req{info.handle, static_cast<int64_t>(offset), static_cast<uint32_t>(whence), 0};
  Request r{proto::Op::lseek, &req, sizeof req};
  r.generation = info.generation;
  proto::LseekRep out{};
  ReplyBuffer rep{&out, sizeof out};
  int err = session::call(r, rep);
  client::raw_close(rep.fd);
  if (err == 0 && rep.len != sizeof out) err = -EIO;
  return finish_fd(fn, fd, err == 0 ? static_cast<long>(out.offset) : -1, -err);
}

int ftruncate(const char* fn, int fd, const fdt::Info& info, off_t size) {
  // The kernel's checks for an fd: EINVAL for a negative size or an fd
  // not open for writing.
  if (size < 0 || !writable(info)) return static_cast<int>(finish_fd(fn, fd, -1, EINVAL));
  route::Target t;
  route::of_fd(info, t);
  return truncate(fn, t, size);
}

// --- stdio -------------------------------------------------------------------

namespace {

// The cookie is the fd: the stream works through the placeholder as the
// program's own read()/write() calls do.
int cookie_fd(void* cookie) { return static_cast<int>(reinterpret_cast<intptr_t>(cookie)); }

ssize_t cookie_read(void* cookie, char* buf, size_t n) {
  const int fd = cookie_fd(cookie);
  fdt::Info info;
  if (!fdt::lookup(fd, &info)) return real::libc.read(fd, buf, n);
  const ssize_t r = read_in(info, buf, n, false, 0);
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}

ssize_t cookie_write(void* cookie, const char* buf, size_t n) {
  const int fd = cookie_fd(cookie);
  fdt::Info info;
  if (!fdt::lookup(fd, &info)) return real::libc.write(fd, buf, n);
  const ssize_t r = write_out(info, buf, n, false, 0);
  // stdio takes 0 for "nothing written" and stops: say why.
  if (r <= 0) {
    errno = r < 0 ? static_cast<int>(-r) : ENOSPC;
    return r < 0 ? -1 : 0;
  }
  return r;
}

int cookie_seek(void* cookie, off64_t* pos, int whence) {
  const int fd = cookie_fd(cookie);
  fdt::Info info;
  if (!fdt::lookup(fd, &info)) {
    errno = EBADF;
    return -1;
  }
  const off_t r = lseek("fseek", fd, info, *pos, whence);
  if (r < 0) return -1;
  *pos = r;
  return 0;
}

// Which streams are ours: glibc's freopen cannot reopen a cookie stream
// (it crashes on one), so freopen asks. A stream beyond the table's room
// still works; only freopen of it is refused.
constexpr int kStreams = 256;
pthread_mutex_t streams_lock = PTHREAD_MUTEX_INITIALIZER;
FILE* streams[kStreams];
int stream_fds[kStreams];

void remember_stream(FILE* f, int fd) {
  pthread_mutex_lock(&streams_lock);
  for (int i = 0; i < kStreams; i++) {
    if (streams[i] == nullptr) {
      streams[i] = f;
      stream_fds[i] = fd;
      break;
    }
  }
  pthread_mutex_unlock(&streams_lock);
}

void forget_stream(int fd) {
  pthread_mutex_lock(&streams_lock);
  for (int i = 0; i < kStreams; i++) {
    if (streams[i] != nullptr && stream_fds[i] == fd) streams[i] = nullptr;
  }
  pthread_mutex_unlock(&streams_lock);
}

int cookie_close(void* cookie) {
  const int fd = cookie_fd(cookie);
  forget_stream(fd);
  fdt::clear(fd);
  return real::libc.close(fd);
}

}  // namespace

FILE* handle_stream(int fd, const fdt::Info& info, const char* mode) {
  (void)info;
  FILE* f = ::fopencookie(reinterpret_cast<void*>(static_cast<intptr_t>(fd)), mode,
                          cookie_io_functions_t{cookie_read, cookie_write, cookie_seek, cookie_close});
  // fileno() answers the fd, as for any stream over a file: glibc's cookie
  // streams never use the number themselves (every call goes to the cookie
  // functions), and a negative one would tell fileno() there is none.
  if (f != nullptr) {
    f->_fileno = fd;
    remember_stream(f, fd);
  }
  return f;
}

bool is_handle_stream(FILE* f) {
  bool found = false;
  pthread_mutex_lock(&streams_lock);
  for (int i = 0; i < kStreams && !found; i++) found = streams[i] == f;
  pthread_mutex_unlock(&streams_lock);
  return found;
}

}  // namespace userfs::ops

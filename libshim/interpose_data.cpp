// File data calls: read, write, their positioned and vector forms, lseek,
// ftruncate, fdopen, and the kernel-side copies (copy_file_range,
// sendfile, splice). Only handle files (fdt::Kind::handle) are ours: every
// other fd, a mount's real data fds included, goes to libc after one O(1)
// look in the fd table. The 64 forms are the plain ones on LP64.
#define _GNU_SOURCE 1
#include <fcntl.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>

#include "interpose.hpp"

extern "C" [[noreturn]] void __chk_fail();

using namespace userfs;
using interpose::passed_fd;

namespace {

// Whether fd is a handle file's placeholder; fills *info if so.
inline bool handle_fd(int fd, fdt::Info* info) {
  return __builtin_expect(fdt::lookup(fd, info), 0) && info->kind == fdt::Kind::handle;
}

// The kernel would move bytes through the placeholder itself (a socket):
// say what it says of a file it cannot copy from or to, so callers (cp,
// cat, Python's shutil) fall back to read and write.
template <class Pass>
auto unless_handle(const char* fn, int fd_in, int fd_out, Pass&& pass) -> decltype(pass()) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd_in, &info) && !handle_fd(fd_out, &info)) return passed_fd(fn, fd_in, pass());
  errno = EINVAL;
  if (trace::on(true)) trace::line(fn, "handle file", nullptr, -1, EINVAL);
  return -1;
}

[[noreturn]] void buffer_overflow() { __chk_fail(); }

}  // namespace

USERFS_EXPORT ssize_t read(int fd, void* buf, size_t n) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("read", fd, real::libc.read(fd, buf, n));
  return ops::read("read", fd, info, buf, n);
}

USERFS_EXPORT ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("__read_chk", fd, real::libc.read_chk(fd, buf, n, buflen));
  if (n > buflen) buffer_overflow();
  return ops::read("__read_chk", fd, info, buf, n);
}

USERFS_EXPORT ssize_t write(int fd, const void* buf, size_t n) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("write", fd, real::libc.write(fd, buf, n));
  return ops::write("write", fd, info, buf, n);
}

USERFS_EXPORT ssize_t pread(int fd, void* buf, size_t n, off_t offset) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("pread", fd, real::libc.pread(fd, buf, n, offset));
  return ops::pread("pread", fd, info, buf, n, offset);
}

USERFS_EXPORT ssize_t pread64(int fd, void* buf, size_t n, off_t offset) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("pread64", fd, real::libc.pread(fd, buf, n, offset));
  return ops::pread("pread64", fd, info, buf, n, offset);
}

USERFS_EXPORT ssize_t __pread_chk(int fd, void* buf, size_t n, off_t offset, size_t buflen) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("__pread_chk", fd, real::libc.pread_chk(fd, buf, n, offset, buflen));
  if (n > buflen) buffer_overflow();
  return ops::pread("__pread_chk", fd, info, buf, n, offset);
}

USERFS_EXPORT ssize_t __pread64_chk(int fd, void* buf, size_t n, off_t offset, size_t buflen) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("__pread64_chk", fd, real::libc.pread_chk(fd, buf, n, offset, buflen));
  if (n > buflen) buffer_overflow();
  return ops::pread("__pread64_chk", fd, info, buf, n, offset);
}

USERFS_EXPORT ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("pwrite", fd, real::libc.pwrite(fd, buf, n, offset));
  return ops::pwrite("pwrite", fd, info, buf, n, offset);
}

USERFS_EXPORT ssize_t pwrite64(int fd, const void* buf, size_t n, off_t offset) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("pwrite64", fd, real::libc.pwrite(fd, buf, n, offset));
  return ops::pwrite("pwrite64", fd, info, buf, n, offset);
}

USERFS_EXPORT ssize_t readv(int fd, const struct iovec* iov, int count) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("readv", fd, real::libc.readv(fd, iov, count));
  return ops::readv("readv", fd, info, iov, count, -1);
}

USERFS_EXPORT ssize_t writev(int fd, const struct iovec* iov, int count) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("writev", fd, real::libc.writev(fd, iov, count));
  return ops::writev("writev", fd, info, iov, count, -1);
}

USERFS_EXPORT ssize_t preadv(int fd, const struct iovec* iov, int count, off_t offset) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("preadv", fd, real::libc.preadv(fd, iov, count, offset));
  if (offset < 0) offset = -2;  // EINVAL, as the kernel says for a negative offset
  return ops::readv("preadv", fd, info, iov, count, offset);
}

USERFS_EXPORT ssize_t preadv64(int fd, const struct iovec* iov, int count, off_t offset) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("preadv64", fd, real::libc.preadv(fd, iov, count, offset));
  if (offset < 0) offset = -2;
  return ops::readv("preadv64", fd, info, iov, count, offset);
}

USERFS_EXPORT ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("pwritev", fd, real::libc.pwritev(fd, iov, count, offset));
  if (offset < 0) offset = -2;
  return ops::writev("pwritev", fd, info, iov, count, offset);
}

USERFS_EXPORT ssize_t pwritev64(int fd, const struct iovec* iov, int count, off_t offset) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("pwritev64", fd, real::libc.pwritev(fd, iov, count, offset));
  if (offset < 0) offset = -2;
  return ops::writev("pwritev64", fd, info, iov, count, offset);
}

// The *v2 forms: offset -1 means the file's offset; no RWF_* flag means
// anything to a file the server serves, and none is refused.
USERFS_EXPORT ssize_t preadv2(int fd, const struct iovec* iov, int count, off_t offset, int flags) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("preadv2", fd, real::libc.preadv2(fd, iov, count, offset, flags));
  return ops::readv("preadv2", fd, info, iov, count, offset);
}

USERFS_EXPORT ssize_t preadv64v2(int fd, const struct iovec* iov, int count, off_t offset, int flags) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("preadv64v2", fd, real::libc.preadv2(fd, iov, count, offset, flags));
  return ops::readv("preadv64v2", fd, info, iov, count, offset);
}

USERFS_EXPORT ssize_t pwritev2(int fd, const struct iovec* iov, int count, off_t offset, int flags) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("pwritev2", fd, real::libc.pwritev2(fd, iov, count, offset, flags));
  return ops::writev("pwritev2", fd, info, iov, count, offset);
}

USERFS_EXPORT ssize_t pwritev64v2(int fd, const struct iovec* iov, int count, off_t offset, int flags) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("pwritev64v2", fd, real::libc.pwritev2(fd, iov, count, offset, flags));
  return ops::writev("pwritev64v2", fd, info, iov, count, offset);
}

USERFS_EXPORT off_t lseek(int fd, off_t offset, int whence) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("lseek", fd, real::libc.lseek(fd, offset, whence));
  return ops::lseek("lseek", fd, info, offset, whence);
}

USERFS_EXPORT off_t lseek64(int fd, off_t offset, int whence) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("lseek64", fd, real::libc.lseek(fd, offset, whence));
  return ops::lseek("lseek64", fd, info, offset, whence);
}

USERFS_EXPORT int ftruncate(int fd, off_t size) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("ftruncate", fd, real::libc.ftruncate(fd, size));
  return ops::ftruncate("ftruncate", fd, info, size);
}

USERFS_EXPORT int ftruncate64(int fd, off_t size) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("ftruncate64", fd, real::libc.ftruncate(fd, size));
  return ops::ftruncate("ftruncate64", fd, info, size);
}

USERFS_EXPORT FILE* fdopen(int fd, const char* mode) {
  real::ensure_resolved();
  fdt::Info info;
  if (!handle_fd(fd, &info)) return passed_fd("fdopen", fd, real::libc.fdopen(fd, mode));
  // As libc checks the mode against F_GETFL: no stream that may do what
  // the fd may not.
  const bool plus = mode[0] != '\0' && std::strchr(mode + 1, '+') != nullptr;
  const bool wants_read = mode[0] == 'r' || plus, wants_write = mode[0] != 'r' || plus;
  if ((wants_read && info.access == O_WRONLY) || (wants_write && info.access == O_RDONLY)) {
    errno = EINVAL;
    return nullptr;
  }
  return ops::handle_stream(fd, info, mode);
}

USERFS_EXPORT ssize_t copy_file_range(int fd_in, off64_t* off_in, int fd_out, off64_t* off_out, size_t n,
                                      unsigned flags) {
  return unless_handle("copy_file_range", fd_in, fd_out,
                       [&] { return real::libc.copy_file_range(fd_in, off_in, fd_out, off_out, n, flags); });
}

USERFS_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t n) {
  return unless_handle("sendfile", in_fd, out_fd, [&] { return real::libc.sendfile(out_fd, in_fd, offset, n); });
}

USERFS_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off_t* offset, size_t n) {
  return unless_handle("sendfile64", in_fd, out_fd, [&] { return real::libc.sendfile(out_fd, in_fd, offset, n); });
}

USERFS_EXPORT ssize_t splice(int fd_in, off64_t* off_in, int fd_out, off64_t* off_out, size_t n, unsigned flags) {
  return unless_handle("splice", fd_in, fd_out,
                       [&] { return real::libc.splice(fd_in, off_in, fd_out, off_out, n, flags); });
}

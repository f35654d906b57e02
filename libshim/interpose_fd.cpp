// fd bookkeeping: close and the dup family keep the fd table true. The
// shim's own socket is invisible to the program: closing it fails with
// EBADF as for any fd the program never opened.
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "interpose.hpp"
#include "session.hpp"

using namespace userfs;
using interpose::passed_fd;

USERFS_EXPORT int close(int fd) {
  real::ensure_resolved();
  if (session::owns_fd(fd)) {
    errno = EBADF;
    return passed_fd("close", fd, -1);
  }
  // Forget before closing: once closed, another thread may get this number.
  fdt::clear(fd);
  return passed_fd("close", fd, real::libc.close(fd));
}

// fclose closes its fd inside libc, past the exported close: forget the fd
// here, or a later host file given the same number would pass for ours.
USERFS_EXPORT int fclose(FILE* stream) {
  real::ensure_resolved();
  if (stream != nullptr) {
    int fd = fileno_unlocked(stream);
    if (fd >= 0) fdt::clear(fd);
  }
  return real::libc.fclose(stream);
}

USERFS_EXPORT int dup(int fd) {
  real::ensure_resolved();
  int r = real::libc.dup(fd);
  if (r >= 0) fdt::copy(fd, r);
  return passed_fd("dup", fd, r);
}

USERFS_EXPORT int dup2(int fd, int target) {
  real::ensure_resolved();
  session::release_if_owned(target);
  int r = real::libc.dup2(fd, target);
  if (r >= 0 && fd != target) fdt::copy(fd, target);
  return passed_fd("dup2", fd, r);
}

USERFS_EXPORT int dup3(int fd, int target, int flags) {
  real::ensure_resolved();
  session::release_if_owned(target);
  int r = real::libc.dup3(fd, target, flags);
  if (r >= 0) fdt::copy(fd, target);
  return passed_fd("dup3", fd, r);
}

// close_range/closefrom: the program's range minus the shim's socket.
USERFS_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  real::ensure_resolved();
  int own = session::socket_fd();
  bool closes = (flags & CLOSE_RANGE_CLOEXEC) == 0;
  if (closes) fdt::clear_range(first, last);
  if (own < 0 || static_cast<unsigned>(own) < first || static_cast<unsigned>(own) > last || !closes) {
    return passed_fd("close_range", static_cast<int>(first), real::libc.close_range(first, last, flags));
  }
  int r = 0;
  if (static_cast<unsigned>(own) > first) r = real::libc.close_range(first, static_cast<unsigned>(own) - 1, flags);
  if (r == 0 && static_cast<unsigned>(own) < last) r = real::libc.close_range(static_cast<unsigned>(own) + 1, last, flags);
  return passed_fd("close_range", static_cast<int>(first), r);
}

USERFS_EXPORT void closefrom(int lowfd) {
  real::ensure_resolved();
  if (lowfd < 0) lowfd = 0;
  // glibc's closefrom falls back to closing one by one; ours splits the
  // range around the shim's socket and lets close_range do the rest.
  if (close_range(static_cast<unsigned>(lowfd), ~0U, 0) == 0) return;
  real::libc.closefrom(lowfd);
}

namespace {

int fcntl_common(const char* fn, int (*real_fcntl)(int, int, ...), int fd, int cmd, void* arg) {
  int r = real_fcntl(fd, cmd, arg);
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) fdt::copy(fd, r);
  // A handle file's placeholder is a socket, open read-write: report how
  // the file was opened instead.
  fdt::Info info;
  if (r >= 0 && cmd == F_GETFL && fdt::lookup(fd, &info) && info.kind == fdt::Kind::handle)
    r = (r & ~(O_ACCMODE | O_APPEND)) | info.access | (info.append ? O_APPEND : 0);
  return passed_fd(fn, fd, r);
}

}  // namespace

// fcntl's third argument is an int or a pointer by cmd; on LP64 passing it
// on as a pointer-sized value is what libc itself does.
USERFS_EXPORT int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  real::ensure_resolved();
  return fcntl_common("fcntl", real::libc.fcntl, fd, cmd, arg);
}

USERFS_EXPORT int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  real::ensure_resolved();
  return fcntl_common("fcntl64", real::libc.fcntl64, fd, cmd, arg);
}

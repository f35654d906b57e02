#include "trace.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace userfs::trace {

namespace {

// Formats into a stack buffer and writes with one raw write(2): no stdio
// locks (a traced call may come from inside stdio), no allocation.
void emit(const char* text, int len) {
  if (len <= 0) return;
  ssize_t r = ::syscall(SYS_write, shim::config().trace_fd, text, static_cast<size_t>(len));
  (void)r;
}

}  // namespace

void line(const char* fn, const char* arg, const char* arg2, long ret, int err, const char* extra) {
  int saved = errno;
  char buf[1024];
  int n = std::snprintf(buf, sizeof buf, "userfs[%d]: %s(", static_cast<int>(::getpid()), fn);
  if (arg != nullptr) n += std::snprintf(buf + n, sizeof buf - n, "\"%.400s\"", arg);
  if (arg2 != nullptr) n += std::snprintf(buf + n, sizeof buf - n, ", \"%.400s\"", arg2);
  if (extra != nullptr && *extra != '\0') n += std::snprintf(buf + n, sizeof buf - n, ", %.100s", extra);
  if (ret < 0) {
    n += std::snprintf(buf + n, sizeof buf - n, ") = %ld %s (%s)\n", ret, strerrorname_np(err) ? strerrorname_np(err) : "?",
                       strerrordesc_np(err) ? strerrordesc_np(err) : "?");
  } else {
    n += std::snprintf(buf + n, sizeof buf - n, ") = %ld\n", ret);
  }
  emit(buf, n < static_cast<int>(sizeof buf) ? n : static_cast<int>(sizeof buf) - 1);
  errno = saved;
}

void note(const char* fmt, ...) {
  int saved = errno;
  char buf[1024];
  int n = std::snprintf(buf, sizeof buf, "userfs[%d]: ", static_cast<int>(::getpid()));
  va_list ap;
  va_start(ap, fmt);
  n += std::vsnprintf(buf + n, sizeof buf - n, fmt, ap);
  va_end(ap);
  if (n >= static_cast<int>(sizeof buf) - 1) n = sizeof buf - 2;
  buf[n++] = '\n';
  emit(buf, n);
  errno = saved;
}

}  // namespace userfs::trace

// Shared by the interpose_*.cpp files: the export marker and the traced
// pass-through. Each interposer unpacks its arguments, routes, and hands
// off to ops:: (ours) or real::libc (not ours) — nothing more.
#pragma once

#include <cerrno>

#include "fd_table.hpp"
#include "ops.hpp"
#include "real_libc.hpp"
#include "route.hpp"
#include "trace.hpp"

#define USERFS_EXPORT extern "C" __attribute__((visibility("default")))

namespace userfs::interpose {

// Returns a pass-through result unchanged (errno included), tracing it
// when USERFS_TRACE=all.
template <class R>
inline R passed(const char* fn, const char* path, R result) {
  if (__builtin_expect(trace::on(false), 0)) trace::line(fn, path, nullptr, (long)result, errno);
  return result;
}

template <class R>
inline R passed_fd(const char* fn, int fd, R result) {
  if (__builtin_expect(trace::on(false), 0)) {
    char arg[24];
    __builtin_snprintf(arg, sizeof arg, "fd %d", fd);
    trace::line(fn, arg, nullptr, (long)result, errno);
  }
  return result;
}

}  // namespace userfs::interpose

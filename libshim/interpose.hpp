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

// Whether a pointer parameter is NULL. glibc declares path parameters
// nonnull, and GCC folds a plain `p == nullptr` on such a parameter to
// false even with -fno-delete-null-pointer-checks; the empty asm hides
// where the value came from, so the test stays.
inline bool is_null(const void* p) {
  asm("" : "+r"(p));
  return p == nullptr;
}

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

// Runs a routed call: `pass(host_path)` while the target leads outside the
// mounts, `ours(t)` while it is in one — again after each redirect from the
// server (a symlink out of the mount, ".." above its root).
template <class Pass, class Ours>
inline auto run(route::Target& t, Pass&& pass, Ours&& ours) -> decltype(pass(t.host_path)) {
  for (;;) {
    if (t.route == route::Route::pass) return pass(t.host_path);
    auto r = ours(t);
    if (!route::take_redirect(t)) return r;
  }
}

// Convenience: resolve (dirfd, path) and run.
// The routed part of run_at, out of line: its Target (a path buffer) then
// costs the pass-through fast path no stack frame.
template <class Pass, class Ours>
__attribute__((noinline)) auto run_resolved(int dirfd, const char* path, route::EmptyPath empty, Pass& pass,
                                            Ours& ours) -> decltype(pass(path)) {
  route::Target t;
  route::resolve(dirfd, path, empty, t);
  return run(t, pass, ours);
}

template <class Pass, class Ours>
inline auto run_at(int dirfd, const char* path, route::EmptyPath empty, Pass&& pass, Ours&& ours)
    -> decltype(pass(path)) {
  if (route::surely_host(dirfd, path)) return pass(path);
  return run_resolved(dirfd, path, empty, pass, ours);
}

template <class Pass, class Ours>
inline auto run_path(const char* path, Pass&& pass, Ours&& ours) -> decltype(pass(path)) {
  if (route::surely_host(-100 /* AT_FDCWD */, path)) return pass(path);
  return run_resolved(-100 /* AT_FDCWD */, path, route::EmptyPath::refuse, pass, ours);
}

// Whether an fd call works on an O_PATH fd (fstatfs, fchdir do; fchmod,
// fchown, futimens, the f*xattr calls answer EBADF).
enum class PathFd : uint8_t { ebadf, allowed };

// An fd call: `pass()` for an fd that is not ours, else `ours(t)` with a
// target naming the fd's inode.
template <class Pass, class Ours>
inline auto run_fd(int fd, Pass&& pass, Ours&& ours, PathFd path_fd = PathFd::ebadf) -> decltype(pass()) {
  fdt::Info info;
  if (!fdt::lookup(fd, &info)) return pass();
  if (info.path_only && path_fd == PathFd::ebadf) {
    errno = EBADF;
    return static_cast<decltype(pass())>(-1);
  }
  route::Target t;
  route::of_fd(info, t);
  return ours(t);
}

inline route::EmptyPath empty_path_if(int flags) {
  return (flags & 0x1000 /* AT_EMPTY_PATH */) ? route::EmptyPath::allow : route::EmptyPath::refuse;
}

}  // namespace userfs::interpose

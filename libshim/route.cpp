#include "route.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "init.hpp"
#include "userfs/protocol.hpp"

namespace userfs::route {

namespace {

void ours(Target& t, uint64_t base, const char* path, uint32_t flags) {
  t.route = Route::ours;
  t.base = base;
  t.path = path;
  t.len = static_cast<uint32_t>(std::strlen(path));
  t.flags = flags;
}

void fail(Target& t, int err) {
  t.route = Route::fail;
  t.err = err;
}

void resolve_absolute(const char* path, Target& t) {
  const path::MountTable& mounts = shim::config().mounts;
  const char* p = path;
  if (path::needs_normalizing(path)) {
    if (!path::normalize(path, t.buf, sizeof t.buf)) {
      // Too long to be ours after folding: let the kernel say ENAMETOOLONG.
      t.route = Route::pass;
      return;
    }
    p = t.buf;
  }
  const char* rel = nullptr;
  int m = path::match(mounts, p, &rel);
  if (m < 0) {
    t.route = Route::pass;
    if (p == t.buf && path::passes_through_mount(mounts, path)) t.host_path = t.buf;
    return;
  }
  t.mount = m;
  ours(t, proto::kBaseRoot, *rel == '\0' ? "/" : rel, 0);
}

}  // namespace

void resolve(int dirfd, const char* path, EmptyPath empty, Target& t) {
  t.original = path;
  t.host_path = path;
  t.route = Route::pass;
  if (path == nullptr) return;  // libc reports EFAULT
  if (path[0] == '/') {
    resolve_absolute(path, t);
    return;
  }
  // Relative: against the cwd (not in a mount yet: pass) or a dirfd.
  if (dirfd == AT_FDCWD) return;
  fdt::Info dir;
  if (!fdt::lookup(dirfd, &dir)) return;
  if (path[0] == '\0') {
    if (empty == EmptyPath::allow) {
      ours(t, dir.ino, "", proto::kEmptyPath);
    } else {
      fail(t, ENOENT);
    }
    return;
  }
  if (dir.kind != fdt::Kind::dir) {
    fail(t, ENOTDIR);
    return;
  }
  if (std::strlen(path) >= path::kPathMax) {
    fail(t, ENAMETOOLONG);
    return;
  }
  ours(t, dir.ino, path, 0);
}

}  // namespace userfs::route

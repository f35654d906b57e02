#include "route.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "cwd.hpp"
#include "init.hpp"
#include "session.hpp"
#include "userfs/protocol.hpp"
#include "userfs/wire.hpp"

namespace userfs::route {

namespace {

constexpr int kMaxRedirects = 40;  // as the kernel's symlink limit

void ours(Target& t, uint64_t base, const char* path, uint32_t flags, uint32_t generation = 0) {
  t.route = Route::ours;
  t.base = base;
  t.generation = generation;
  t.path = path;
  t.len = static_cast<uint32_t>(std::strlen(path));
  t.flags = flags;
}

void fail(Target& t, int err) {
  t.route = Route::fail;
  t.err = err;
}

// `path` is absolute. A path that starts with a mount prefix is ours as
// written: the server walks its "." and ".." (through symlinks, as the
// kernel would) and redirects if it climbs out. Any other path is folded
// lexically only to see whether it leads into a mount ("/tmp/../userfs").
// With `keep` (a redirect's path, which lives in the caller's frame) the
// routed text is copied into t.buf.
void resolve_absolute(const char* path, Target& t, bool keep) {
  const path::MountTable& mounts = shim::config().mounts;
  if (keep) {
    size_t n = std::strlen(path);
    if (n >= sizeof t.buf) {
      fail(t, ENAMETOOLONG);
      return;
    }
    std::memmove(t.buf, path, n + 1);
    path = t.buf;
    t.host_path = t.buf;
  }
  const char* rel = nullptr;
  int m = path::match(mounts, path, &rel);
  if (m < 0 && path::needs_normalizing(path)) {
    char folded[path::kPathMax];
    if (path::normalize(path, folded, sizeof folded) && (m = path::match(mounts, folded, &rel)) >= 0) {
      std::memmove(t.buf, folded, std::strlen(folded) + 1);
      path::match(mounts, t.buf, &rel);
    } else if (!keep && path::passes_through_mount(mounts, path) && path::normalize(path, t.buf, sizeof t.buf)) {
      // It walks through a mount and out again: the kernel cannot walk a
      // mount point that does not exist on the host, so hand it the fold.
      t.host_path = t.buf;
    }
  }
  if (m < 0) {
    t.route = Route::pass;
    return;
  }
  t.mount = m;
  ours(t, proto::kBaseRoot, *rel == '\0' ? "/" : rel, 0);
}

// A relative path from a host cwd: usually the kernel's business, unless
// it leads into a mount ("userfs/x" from "/", "../userfs/x" from "/tmp").
void resolve_from_host_cwd(const char* path, Target& t) {
  char joined[path::kPathMax];
  if (!cwd::join_host(path, joined, sizeof joined)) return;
  resolve_absolute(joined, t, true);
  if (t.route == Route::pass && !path::passes_through_mount(shim::config().mounts, joined)) t.host_path = path;
  if (t.route == Route::fail) {
    t.route = Route::pass;  // too long once joined: the kernel decides
    t.host_path = path;
  }
}

}  // namespace

bool surely_host(int dirfd, const char* path) {
  if (unreadable(path)) return true;
  if (path[0] == '/') return !path::may_reach_mount(shim::config().mounts, path);
  if (path[0] == '\0') return false;  // AT_EMPTY_PATH may name a mount cwd or fd
  if (dirfd != AT_FDCWD) {
    fdt::Info dir;
    return !fdt::lookup(dirfd, &dir);
  }
  return cwd::surely_host_relative(path);
}

void resolve(int dirfd, const char* path, EmptyPath empty, Target& t) {
  t.original = path;
  t.host_path = path;
  t.route = Route::pass;
  if (unreadable(path)) return;  // libc reports EFAULT
  if (path[0] == '/') {
    resolve_absolute(path, t, false);
    return;
  }
  // Relative: against a mount dirfd, or the cwd when it is in a mount.
  uint64_t base = 0;
  uint32_t generation = 0;
  if (dirfd == AT_FDCWD) {
    if (path[0] == '\0') {
      // AT_EMPTY_PATH with AT_FDCWD names the cwd itself.
      if (empty == EmptyPath::allow && cwd::in_mount(&base, &generation)) {
        t.mount = session::mount_of_ino(base);
        ours(t, base, "", proto::kEmptyPath, generation);
      }
      return;
    }
    if (!cwd::in_mount(&base, &generation)) {
      resolve_from_host_cwd(path, t);
      return;
    }
  } else {
    fdt::Info dir;
    if (!fdt::lookup(dirfd, &dir)) return;
    if (path[0] == '\0') {
      if (empty == EmptyPath::allow) {
        t.mount = session::mount_of_ino(dir.ino);
        ours(t, dir.ino, "", proto::kEmptyPath, dir.generation);
      } else {
        fail(t, ENOENT);
      }
      return;
    }
    if (dir.kind != fdt::Kind::dir) {
      fail(t, ENOTDIR);
      return;
    }
    base = dir.ino;
    generation = dir.generation;
  }
  if (std::strlen(path) >= path::kPathMax) {
    fail(t, ENAMETOOLONG);
    return;
  }
  // The mount the base belongs to: where ".." above its root leads.
  t.mount = session::mount_of_ino(base);
  ours(t, base, path, 0, generation);
}

void of_fd(const fdt::Info& info, Target& t) {
  t.original = nullptr;
  t.host_path = nullptr;
  t.mount = session::mount_of_ino(info.ino);
  ours(t, info.ino, "", proto::kEmptyPath, info.generation);
}

void redirect(Target& t, const void* payload, size_t len) {
  t.redirected = true;
  if (++t.redirects > kMaxRedirects) {
    fail(t, ELOOP);
    return;
  }
  wire::Reader r(payload, len);
  proto::RedirectRep rep;
  std::string_view rest;
  if (!r.fixed(rep) || !r.path(rep.path_len, rest) || rest.empty()) {
    fail(t, EIO);
    return;
  }
  char next[path::kPathMax];
  size_t n = 0;
  if (rep.kind == proto::kRedirectAbsolute) {
    if (rest[0] != '/') {
      fail(t, EIO);
      return;
    }
  } else if (rep.kind == proto::kRedirectMountParent) {
    // "../rest": the rest, from the directory that holds the mount point.
    if (rest.substr(0, 2) != ".." || (rest.size() > 2 && rest[2] != '/')) {
      fail(t, EIO);
      return;
    }
    rest.remove_prefix(rest.size() > 2 ? 3 : 2);
    const path::MountTable& mounts = shim::config().mounts;
    const path::Mount& m = mounts.mounts[t.mount >= 0 && t.mount < mounts.count ? t.mount : 0];
    size_t parent = m.len;
    while (parent > 0 && m.prefix[parent - 1] != '/') parent--;
    std::memcpy(next, m.prefix, parent);  // keeps the slash: "/" at least
    n = parent;
    if (rest.empty() && n > 1) n--;       // "/a/b/userfs" + ".." is "/a/b"
  } else {
    fail(t, EIO);
    return;
  }
  if (n + rest.size() >= sizeof next) {
    fail(t, ENAMETOOLONG);
    return;
  }
  std::memcpy(next + n, rest.data(), rest.size());
  next[n + rest.size()] = '\0';
  t.flags = 0;
  resolve_absolute(next, t, true);
}

}  // namespace userfs::route

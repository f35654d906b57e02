// A path walk over the shared lookup table (userfs/dentry_table.hpp) that
// gives the answer the server's lookup would, or says to ask the server.
//
// It walks only what the table can answer for certain: plain names, "."
// and ".." through directories the caller may search, and symlinks with a
// relative target the table holds (followed as the server does: the target
// walked from the link's directory, then the rest of the path). A symlink
// to an absolute path or with a target too long to keep, more than 40
// symlinks, ".." at the mount root (the server redirects those out of the
// mount), a name longer than the table holds, a name missing from a
// directory the table does not hold whole, or a start it does not know are
// the server's to resolve: the walk answers kAsk. Everything else, hits
// and misses and their errors, comes out as the server's path layer
// (server/namespace.cpp, walk_from and finish) decides them, in its order.
//
// The walk reads a table the server may be changing: the caller brackets
// it with View::begin() and View::valid() and keeps the answer only if the
// section held (see walk_consistent).
#pragma once

#include <cerrno>
#include <cstring>
#include <string_view>

#include "userfs/dentry_table.hpp"
#include "userfs/permission.hpp"

namespace userfs::table {

// Returned by the walks: the table cannot answer, ask the server. Positive,
// so never taken for 0 or a negative errno.
inline constexpr int kAsk = 2;

// Resolves `path` from directory `start` (a tagged inode number; `root` is
// the mount's root, where a path starting with '/' begins). An empty path
// names `start` itself, of any type (AT_EMPTY_PATH). `follow`: follow a
// final symlink. Returns 0 with the entry in `out`, a negative errno, or
// kAsk.
inline int walk(const View& v, uint64_t root, uint64_t start, std::string_view path, bool follow,
                const perm::Caller& caller, Entry& out) {
  if (path.size() >= proto::kMaxPath) return kAsk;
  // A followed symlink's target and the rest of the path (the rest may
  // already be in it: moved first).
  char spliced[proto::kMaxPath];
  int hops = 0;
  Entry cur;
  if (!path.empty() && path[0] == '/') start = root;
  if (!v.find(start, kSelf, cur)) return kAsk;
  if (path.empty()) {
    out = cur;
    return 0;
  }
  size_t i = path.find_first_not_of('/');
  if (i == std::string_view::npos) i = path.size();
  bool trailing_slash = i < path.size() && path.back() == '/';
  while (i < path.size()) {
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    // (pointer, length) views, never substr(): its out_of_range would tie
    // the preloaded library to libstdc++, which every process would load.
    const std::string_view c(path.data() + i, end - i);
    i = path.find_first_not_of('/', end);
    if (i == std::string_view::npos) i = path.size();
    const bool last = i == path.size();

    if (c.size() > kMaxName) return kAsk;
    if (!is_dir(cur.attr)) return -ENOTDIR;
    if (!perm::permits(cur.attr, caller, X_OK)) return -EACCES;
    if (c == ".") continue;
    if (c == "..") {
      // The parent, from the directory's self entry (as the server's
      // parent_of, with no check on the parent until it is walked from).
      Entry self;
      if (cur.attr.ino == root || !v.find(cur.attr.ino, kSelf, self) || !v.find(self.up, kSelf, cur)) return kAsk;
      continue;
    }
    Entry next;
    if (!v.find(cur.attr.ino, c, next)) return (cur.flags & kIncomplete) != 0 ? kAsk : -ENOENT;
    if (is_link(next.attr) && (!last || follow || trailing_slash)) {
      Entry link;
      if (++hops > proto::kMaxSymlinks || !v.find(next.attr.ino, kSelf, link)) return kAsk;
      const std::string_view target = target_of(link);
      const std::string_view rest(path.data() + end, path.size() - end);  // "" or "/..."
      if (target.empty() || target[0] == '/' || target.size() + rest.size() >= proto::kMaxPath) return kAsk;
      std::memmove(spliced + target.size(), rest.data(), rest.size());
      std::memcpy(spliced, target.data(), target.size());
      path = std::string_view(spliced, target.size() + rest.size());
      trailing_slash = path.back() == '/';
      i = 0;  // the target, from the link's directory (cur)
      continue;
    }
    if (last) {
      if (trailing_slash && !is_dir(next.attr)) return -ENOTDIR;
      out = next;
      return 0;
    }
    cur = next;
  }
  // Only slashes and "." (or a final "."): the directory reached.
  if (!is_dir(cur.attr)) return -ENOTDIR;
  out = cur;
  return 0;
}

// walk() inside a read section, tried a few times while the server is
// changing the table; kAsk if no section held.
inline int walk_consistent(const View& v, uint64_t root, uint64_t start, std::string_view path, bool follow,
                           const perm::Caller& caller, Entry& out) {
  for (int tries = 0; tries < 4; tries++) {
    const uint64_t s = v.begin();
    if ((s & 1) != 0) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      continue;
    }
    const int rc = walk(v, root, start, path, follow, caller, out);
    if (v.valid(s)) return rc;
  }
  return kAsk;
}

}  // namespace userfs::table

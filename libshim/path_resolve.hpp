// Pure path logic: lexical normalisation and matching against the mount
// table. No system calls, no allocation, so it is cheap on the pass-through
// path and testable with tables of cases.
#pragma once

#include <cstddef>

namespace userfs::path {

inline constexpr size_t kPathMax = 4096;
inline constexpr int kMaxMounts = 16;

// The length first: a short prefix and its length share a page.
struct Mount {
  size_t len;
  char prefix[kPathMax];  // normalised, absolute, no trailing slash, never "/"
};

struct MountTable {
  // What the pass-through test reads, first, on one cache line: the count
  // and the length of each prefix's first component (6 for "/userfs/a").
  int count = 0;
  // Some prefix has two or more components ("/a/b").
  bool multi_component = false;
  unsigned short first_len[kMaxMounts] = {};
  Mount mounts[kMaxMounts];
};

// Completes mounts[count] (whose prefix and len the caller has set: normal
// form, no trailing slash, not "/") and counts it.
void add_mount(MountTable& table);

// Parses a comma-separated list of mount prefixes ("/userfs,/data"); an
// "=backend" suffix on an entry is accepted and ignored here. Relative
// prefixes, "/" and over-long entries are skipped. Returns the count kept.
int parse_mounts(const char* spec, MountTable& table);

// The pass-through fast path: false only when absolute `path` surely is
// not in a mount, as written or once folded. Folding drops "//", "." and
// ".." only, so a path without "." or ".." components folds into a mount
// only if its first component is the mount's ("/usr/lib" never reaches
// "/userfs", "/a//b" may reach "/a/b"); any other path costs one compare
// per mount and a scan for '.'. True means "look closer" (match, then
// normalise).
bool may_reach_mount(const MountTable& table, const char* path);

// True if `path` (absolute) contains "//", "/./" or "/../" or ends in "/."
// or "/.." — i.e. if its text may differ from its lexical normal form.
bool needs_normalizing(const char* path);

// Writes the lexical normal form of absolute `path` into out: repeated
// slashes collapsed, "." dropped, ".." folded (never above "/"), except a
// final "." or ".." which stays (rmdir("d/.") must not become rmdir("d")).
// A trailing slash is kept. Returns false if out is too small.
bool normalize(const char* path, char* out, size_t cap);

// If absolute, normalised `path` lies in a mount (a prefix match at a
// component boundary: "/userfsx" is not in "/userfs"), returns the mount's
// index and sets *rel to the rest of the path ("" for the mount root, else
// starting with '/'). Returns -1 otherwise.
int match(const MountTable& table, const char* path, const char** rel);

// True if walking absolute `path` component by component (lexically)
// enters a mount at some point, e.g. "/userfs/../etc". The kernel cannot
// walk such a path (the mount point need not exist on the host), so the
// shim hands libc the normal form instead.
bool passes_through_mount(const MountTable& table, const char* path);

}  // namespace userfs::path

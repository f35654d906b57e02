// Pure path logic: lexical normalisation and matching against the mount
// table. No system calls, no allocation, so it is cheap on the pass-through
// path and testable with tables of cases.
#pragma once

#include <cstddef>

namespace userfs::path {

inline constexpr size_t kPathMax = 4096;
inline constexpr int kMaxMounts = 16;

struct Mount {
  char prefix[kPathMax];  // normalised, absolute, no trailing slash, never "/"
  size_t len;
};

struct MountTable {
  Mount mounts[kMaxMounts];
  int count = 0;
  // Some prefix has two or more components ("/a/b"): then a doubled slash
  // anywhere ("/a//b") may fold into it.
  bool multi_component = false;
};

// Parses a comma-separated list of mount prefixes ("/userfs,/data"); an
// "=backend" suffix on an entry is accepted and ignored here. Relative
// prefixes, "/" and over-long entries are skipped. Returns the count kept.
int parse_mounts(const char* spec, MountTable& table);

// The pass-through fast path: false only when absolute `path` surely is
// not in a mount, as written or once folded. Looks at the second byte of
// each prefix and scans once for "/." (any "." or ".." component starts
// so), and for "//" only when a multi-component prefix makes it matter.
// True means "look closer" (match, then normalise).
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

// The current directory when it is in a mount. The kernel's cwd is then a
// stand-in host directory the server made for that mount directory,
// "<socket>.cwd/<ino>", so the cwd is inherited across fork and exec like
// any other; the shim reads it back from the kernel once and caches it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace userfs::cwd {

// True (with the directory's inode, and the namespace generation it
// belongs to when asked) if the cwd is a mount directory.
bool in_mount(uint64_t* ino, uint32_t* generation = nullptr);

// After chdir into a mount directory of namespace generation `generation`.
void entered(uint64_t ino, uint32_t generation);

// After chdir elsewhere: the next relative path asks the kernel again.
void left();

// The pass-through fast path for a relative path: true only when the cwd
// is already known to be a host directory with no mount below it and the
// path does not climb with "..". False means "look closer".
bool surely_host_relative(const char* path);

// With a host cwd: if the relative `path` could lead into a mount (the cwd
// is an ancestor of a mount prefix, or the path climbs with ".."), writes
// cwd + "/" + path into out and returns true. False (nothing written) for
// the common case, at the cost of a flag test and a scan for "..".
bool join_host(const char* path, char* out, size_t cap);

}  // namespace userfs::cwd

// The one routing decision every interposer makes: does (dirfd, path) name
// something in a mount (ours), something elsewhere (pass to libc), or is it
// an error we must report ourselves (a mount dirfd used wrongly)? And when
// the server's walk leaves the mount (an absolute symlink, ".." above the
// mount root), the same decision again for where it leads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "fd_table.hpp"
#include "path_resolve.hpp"

namespace userfs::route {

enum class Route : uint8_t { pass, ours, fail };

// Whether an empty path names dirfd itself (AT_EMPTY_PATH).
enum class EmptyPath : uint8_t { refuse, allow };

struct Target {
  Route route = Route::pass;
  int err = 0;              // with Route::fail
  const char* original = nullptr;  // as the program passed it (for traces)
  const char* host_path = nullptr; // what to hand libc with Route::pass
  uint64_t base = 0;        // proto::kBaseRoot or a directory's inode
  uint32_t generation = 0;  // the namespace `base` belongs to (0: the root)
  const char* path = nullptr;      // mount-relative or base-relative
  uint32_t len = 0;
  uint32_t flags = 0;       // proto::kEmptyPath
  int mount = -1;
  int redirects = 0;        // server redirects followed so far
  bool redirected = false;  // set by redirect(): the call must be redone
  char buf[path::kPathMax];  // holds `path` when it had to be rewritten
};

// Decides where (dirfd, path) goes. Pass-through costs a prefix test (and,
// only for a dirfd or a relative path, one table lookup or cached check).
void resolve(int dirfd, const char* path, EmptyPath empty, Target& t);

// The fast path every interposer tries first: true when (dirfd, path)
// surely goes to libc as written (no Target needed). False means "resolve".
bool surely_host(int dirfd, const char* path);

// A path pointer the kernel answers EFAULT for whatever it points at: NULL,
// the rest of the never-mapped first page, or above every user address.
// Such paths go to libc as they came, so the caller gets libc's answer
// rather than a crash in the shim reading them. (A pointer to unmapped
// memory elsewhere still faults in the shim.) The empty asm keeps GCC from
// folding the test away for parameters glibc declares nonnull.
inline bool unreadable(const void* p) {
  auto v = reinterpret_cast<uintptr_t>(p);
  asm("" : "+r"(v));
  return v < 4096 || v >= (uintptr_t{1} << 56);
}

// Convenience for path-only calls (AT_FDCWD).
inline void resolve(const char* path, Target& t) { resolve(-100 /* AT_FDCWD */, path, EmptyPath::refuse, t); }

// A target naming an open mount fd itself (fchmod, fstatfs, ...).
void of_fd(const fdt::Info& info, Target& t);

// The server answered a request on t with a redirect (payload: RedirectRep
// and the path). Re-routes t to where the path leads and sets
// t.redirected; after 40 redirects t fails with ELOOP, and a malformed
// payload fails it with EIO.
void redirect(Target& t, const void* payload, size_t len);

// Clears t.redirected, returning whether it was set: the interposer's loop
// condition.
inline bool take_redirect(Target& t) {
  bool r = t.redirected;
  t.redirected = false;
  return r;
}

}  // namespace userfs::route

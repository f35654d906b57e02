// Where the server listens when USERFS_SOCKET does not say: a socket in a
// private (0700) directory of the user's, `$XDG_RUNTIME_DIR/userfs/` or else
// `/tmp/userfs-$UID/`. Shared by the server, the shim and the tools so they
// agree; allocation-free so the shim can call it on its first mount call.
#pragma once

#include <cstddef>
#include <cstdio>
#include <sys/types.h>

namespace userfs {

inline constexpr const char* kDefaultMount = "/userfs";
inline constexpr const char* kSocketName = "sock";

// Writes the default socket directory into buf. `runtime_dir` is the value of
// XDG_RUNTIME_DIR (or null). Returns false if it does not fit.
inline bool default_socket_dir(char* buf, size_t cap, const char* runtime_dir, uid_t uid) {
  int n = (runtime_dir != nullptr && runtime_dir[0] == '/')
              ? std::snprintf(buf, cap, "%s/userfs", runtime_dir)
              : std::snprintf(buf, cap, "/tmp/userfs-%u", static_cast<unsigned>(uid));
  return n > 0 && static_cast<size_t>(n) < cap;
}

inline bool default_socket_path(char* buf, size_t cap, const char* runtime_dir, uid_t uid) {
  int n = (runtime_dir != nullptr && runtime_dir[0] == '/')
              ? std::snprintf(buf, cap, "%s/userfs/%s", runtime_dir, kSocketName)
              : std::snprintf(buf, cap, "/tmp/userfs-%u/%s", static_cast<unsigned>(uid), kSocketName);
  return n > 0 && static_cast<size_t>(n) < cap;
}

}  // namespace userfs

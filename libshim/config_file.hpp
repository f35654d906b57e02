// The system-wide settings file (default /etc/userfs/mounts): pure parsing,
// no system calls, so it is cheap to run on a process's first mount call
// and testable with tables of cases.
//
// Format: one directive a line; blank lines and lines whose first
// non-blank character is '#' are ignored.
//
//   # /etc/userfs/mounts
//   mount /userfs            (repeatable, up to path::kMaxMounts)
//   socket /run/userfs/sock  (at most once; default kSystemSocket)
//
// Values are absolute paths without blanks or commas. Anything else (an
// unknown word, a relative or missing value, a NUL byte) rejects the whole
// file: a file that is not understood mounts nothing.
#pragma once

#include <cstddef>

#include "path_resolve.hpp"

namespace userfs::config_file {

inline constexpr const char* kSystemPath = "/etc/userfs/mounts";
inline constexpr const char* kSystemSocket = "/run/userfs/sock";

// Parses `len` bytes of text into mounts and socket (socket gets
// kSystemSocket when the file names none). Returns null on success, else a
// short reason (static text, "has ...", "names ...") and leaves mounts empty.
const char* parse(const char* text, size_t len, path::MountTable& mounts, char* socket, size_t socket_cap);

}  // namespace userfs::config_file

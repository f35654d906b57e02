// USERFS_TRACE: one line on stderr per intercepted call and its result.
// USERFS_TRACE=1 shows calls routed to a mount; USERFS_TRACE=all shows
// pass-through calls too.
#pragma once

#include "init.hpp"

namespace userfs::trace {

inline bool on(bool routed) {
  shim::TraceLevel l = shim::config().trace;
  return l == shim::TraceLevel::all || (routed && l == shim::TraceLevel::mount);
}

// Writes `userfs[pid]: fn(arg) = ret` or `= -1 ERRNAME (message)`.
// `arg` may be null; `arg2` too. Preserves errno.
void line(const char* fn, const char* arg, const char* arg2, long ret, int err);

// A free-form note (connection failures and the like). Preserves errno.
void note(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace userfs::trace

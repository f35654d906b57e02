// USERFS_TRACE: one line per intercepted call and its result, on stderr or
// appended to USERFS_TRACE_FILE. USERFS_TRACE=1 shows calls routed to a
// mount; USERFS_TRACE=all shows pass-through calls too.
#pragma once

#include "init.hpp"

namespace userfs::trace {

inline bool on(bool routed) {
  shim::TraceLevel l = shim::config().trace;
  return l == shim::TraceLevel::all || (routed && l == shim::TraceLevel::mount);
}

// Writes `userfs[pid]: fn("arg", "arg2", extra) = ret` or
// `= -1 ERRNAME (message)`. Any of arg, arg2, extra may be null; extra is
// the call's other arguments, preformatted. Preserves errno.
void line(const char* fn, const char* arg, const char* arg2, long ret, int err, const char* extra = nullptr);

// A free-form note (connection failures and the like). Preserves errno.
void note(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace userfs::trace

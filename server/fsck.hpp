// userfsd --fsck DIR: checks a state directory without changing it.
#pragma once

#include <string>

namespace userfs::server {

// Prints a report on stdout. Returns 0 when the state is clean, 1 when
// problems were found (corruption, inconsistency, a torn last record, a
// missing data file), 2 when DIR cannot be checked (missing, not ours,
// in use by a running server).
int fsck_state(const std::string& dir);

}  // namespace userfs::server

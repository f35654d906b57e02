// The time file timestamps take: CLOCK_REALTIME, as the kernel stamps
// atime, mtime and ctime.
#pragma once

#include <time.h>

namespace userfs::server {

inline timespec wall_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

}  // namespace userfs::server

// Durability calls: fsync, fdatasync and syncfs on a mount fd, and sync.
// sync_file_range and msync pass through: they act on the data alone,
// which is a real kernel file.
#include <unistd.h>

#include "init.hpp"
#include "interpose.hpp"

using namespace userfs;
using interpose::passed_fd;

USERFS_EXPORT int fsync(int fd) {
  real::ensure_resolved();
  fdt::Info info;
  if (!fdt::lookup(fd, &info)) return passed_fd("fsync", fd, real::libc.fsync(fd));
  return ops::fsync("fsync", fd, info, false);
}

USERFS_EXPORT int fdatasync(int fd) {
  real::ensure_resolved();
  fdt::Info info;
  if (!fdt::lookup(fd, &info)) return passed_fd("fdatasync", fd, real::libc.fdatasync(fd));
  return ops::fsync("fdatasync", fd, info, true);
}

USERFS_EXPORT int syncfs(int fd) {
  real::ensure_resolved();
  fdt::Info info;
  if (!fdt::lookup(fd, &info)) return passed_fd("syncfs", fd, real::libc.syncfs(fd));
  return ops::syncfs("syncfs", fd, info);
}

// A process with a mount syncs the server too (if one answers); one
// without never connects.
USERFS_EXPORT void sync() {
  real::ensure_resolved();
  real::libc.sync();
  if (shim::config().mounts.count == 0) {
    interpose::passed("sync", nullptr, 0);
    return;
  }
  ops::sync_all("sync");
}

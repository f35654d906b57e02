#include "real_libc.hpp"

#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>

namespace userfs::real {

constinit Libc libc{};

namespace {

constinit std::atomic<bool> resolved{false};
pthread_once_t once = PTHREAD_ONCE_INIT;

template <class F>
void find(F& slot, const char* name) {
  slot = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

void resolve_all() {
  find(libc.open, "open");
  find(libc.open64, "open64");
  find(libc.openat, "openat");
  find(libc.openat64, "openat64");
  find(libc.creat, "creat");
  find(libc.creat64, "creat64");
  find(libc.open_2, "__open_2");
  find(libc.open64_2, "__open64_2");
  find(libc.openat_2, "__openat_2");
  find(libc.openat64_2, "__openat64_2");
  find(libc.fopen, "fopen");
  find(libc.fopen64, "fopen64");
  find(libc.close, "close");
  find(libc.dup, "dup");
  find(libc.dup2, "dup2");
  find(libc.dup3, "dup3");
  find(libc.fcntl, "fcntl");
  find(libc.fcntl64, "fcntl64");
  find(libc.stat, "stat");
  find(libc.lstat, "lstat");
  find(libc.fstat, "fstat");
  find(libc.fstatat, "fstatat");
  find(libc.statx, "statx");
  find(libc.access, "access");
  find(libc.faccessat, "faccessat");
  find(libc.euidaccess, "euidaccess");
  find(libc.mkdir, "mkdir");
  find(libc.mkdirat, "mkdirat");
  find(libc.rmdir, "rmdir");
  find(libc.unlink, "unlink");
  find(libc.unlinkat, "unlinkat");
  find(libc.rename, "rename");
  find(libc.renameat, "renameat");
  find(libc.renameat2, "renameat2");
  find(libc.opendir, "opendir");
  find(libc.fdopendir, "fdopendir");
  find(libc.readdir, "readdir");
  find(libc.readdir64, "readdir64");
  find(libc.readdir_r, "readdir_r");
  find(libc.readdir64_r, "readdir64_r");
  find(libc.closedir, "closedir");
  find(libc.dirfd, "dirfd");
  find(libc.rewinddir, "rewinddir");
  find(libc.telldir, "telldir");
  find(libc.seekdir, "seekdir");
  find(libc.getxattr, "getxattr");
  find(libc.lgetxattr, "lgetxattr");
  find(libc.fgetxattr, "fgetxattr");
  find(libc.listxattr, "listxattr");
  find(libc.llistxattr, "llistxattr");
  find(libc.flistxattr, "flistxattr");
  find(libc.umask, "umask");
  // fcntl64 is absent on some glibc builds; fcntl has the same ABI on LP64.
  if (libc.fcntl64 == nullptr) libc.fcntl64 = libc.fcntl;
  resolved.store(true, std::memory_order_release);
}

}  // namespace

void ensure_resolved() {
  if (__builtin_expect(resolved.load(std::memory_order_acquire), 1)) return;
  pthread_once(&once, resolve_all);
}

}  // namespace userfs::real

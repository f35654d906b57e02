// Every libc function the shim wraps, found once with dlsym(RTLD_NEXT).
// The interposers call through these for paths and fds that are not ours,
// and the shim's own code calls them so it never re-enters itself.
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

struct statx;

namespace userfs::real {

struct Libc {
  int (*open)(const char*, int, ...);
  int (*open64)(const char*, int, ...);
  int (*openat)(int, const char*, int, ...);
  int (*openat64)(int, const char*, int, ...);
  int (*creat)(const char*, mode_t);
  int (*creat64)(const char*, mode_t);
  int (*open_2)(const char*, int);
  int (*open64_2)(const char*, int);
  int (*openat_2)(int, const char*, int);
  int (*openat64_2)(int, const char*, int);
  FILE* (*fopen)(const char*, const char*);
  FILE* (*fopen64)(const char*, const char*);
  int (*close)(int);
  int (*dup)(int);
  int (*dup2)(int, int);
  int (*dup3)(int, int, int);
  int (*fcntl)(int, int, ...);
  int (*fcntl64)(int, int, ...);

  int (*stat)(const char*, struct stat*);
  int (*lstat)(const char*, struct stat*);
  int (*fstat)(int, struct stat*);
  int (*fstatat)(int, const char*, struct stat*, int);
  int (*statx)(int, const char*, int, unsigned, struct statx*);
  int (*access)(const char*, int);
  int (*faccessat)(int, const char*, int, int);
  int (*euidaccess)(const char*, int);

  int (*mkdir)(const char*, mode_t);
  int (*mkdirat)(int, const char*, mode_t);
  int (*rmdir)(const char*);
  int (*unlink)(const char*);
  int (*unlinkat)(int, const char*, int);
  int (*rename)(const char*, const char*);
  int (*renameat)(int, const char*, int, const char*);
  int (*renameat2)(int, const char*, int, const char*, unsigned);

  DIR* (*opendir)(const char*);
  DIR* (*fdopendir)(int);
  struct dirent* (*readdir)(DIR*);
  struct dirent64* (*readdir64)(DIR*);
  int (*readdir_r)(DIR*, struct dirent*, struct dirent**);
  int (*readdir64_r)(DIR*, struct dirent64*, struct dirent64**);
  int (*closedir)(DIR*);
  int (*dirfd)(DIR*);
  void (*rewinddir)(DIR*);
  long (*telldir)(DIR*);
  void (*seekdir)(DIR*, long);

  ssize_t (*getxattr)(const char*, const char*, void*, size_t);
  ssize_t (*lgetxattr)(const char*, const char*, void*, size_t);
  ssize_t (*fgetxattr)(int, const char*, void*, size_t);
  ssize_t (*listxattr)(const char*, char*, size_t);
  ssize_t (*llistxattr)(const char*, char*, size_t);
  ssize_t (*flistxattr)(int, char*, size_t);

  mode_t (*umask)(mode_t);
};

// The resolved table. Valid after ensure_resolved(); every interposer calls
// that first (it is one predictable branch once done).
extern Libc libc;
void ensure_resolved();

}  // namespace userfs::real

// POSIX semantics for calls routed to a mount: builds the request, reads
// the reply, and is the one place that sets errno for them. Each returns
// what the libc function would (-1 / nullptr with errno on failure) and
// traces the call. Interposers only route and hand off here.
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fd_table.hpp"
#include "route.hpp"

namespace userfs::ops {

// Every ops function first handles Route::fail (errno = t.err) itself.
int open(const char* fn, const route::Target& t, int flags, mode_t mode);
FILE* fopen(const char* fn, const route::Target& t, const char* mode);

int stat(const char* fn, const route::Target& t, struct stat* st, bool follow);
int fstat(const char* fn, int fd, const fdt::Info& info, struct stat* st);
int statx(const char* fn, const route::Target& t, int flags, unsigned mask, struct statx* stx);
int access(const char* fn, const route::Target& t, int mode, int flags);

int mkdir(const char* fn, const route::Target& t, mode_t mode);
int unlink(const char* fn, const route::Target& t, bool remove_dir);
// One of the two may be Route::pass: that is a cross-device rename.
int rename(const char* fn, const route::Target& from, const route::Target& to, unsigned flags);

// Extended attributes: the in-memory filesystem stores none. Reads report
// "no such attribute" (or an empty list) for an existing file.
ssize_t getxattr(const char* fn, const route::Target& t, bool follow);
ssize_t listxattr(const char* fn, const route::Target& t, bool follow);
ssize_t fgetxattr(const char* fn, int fd, const fdt::Info& info);
ssize_t flistxattr(const char* fn, int fd, const fdt::Info& info);

// Directory streams over mount directories.
DIR* opendir(const char* fn, const route::Target& t);
DIR* fdopendir(const char* fn, int fd, const fdt::Info& info);
// Returns the stream if `d` is one of ours, else nullptr.
struct DirStream* as_ours(DIR* d);
struct dirent64* readdir(DirStream* d);
int closedir(DirStream* d);
int dirfd(DirStream* d);
void rewinddir(DirStream* d);
long telldir(DirStream* d);
void seekdir(DirStream* d, long pos);

// The process umask, tracked so creates apply it as the kernel would.
mode_t umask_changed(mode_t old_mask_from_libc, mode_t new_mask);

}  // namespace userfs::ops

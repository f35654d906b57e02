// POSIX semantics for calls routed to a mount: builds the request, reads
// the reply, and is the one place that sets errno for them. Each returns
// what the libc function would (-1 / nullptr with errno on failure) and
// traces the call. Interposers only route and hand off here.
//
// Path operations take the Target mutably: when the server's walk leaves
// the mount (a symlink to an absolute path, ".." above the root) the op
// re-routes the target and sets t.redirected; the interposer then runs the
// call again wherever the target now leads (see interpose::run).
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "fd_table.hpp"
#include "route.hpp"

namespace userfs::ops {

// Every ops function first handles Route::fail (errno = t.err) itself.
int open(const char* fn, route::Target& t, int flags, mode_t mode);
FILE* fopen(const char* fn, route::Target& t, const char* mode);

int stat(const char* fn, route::Target& t, struct stat* st, bool follow);
int fstat(const char* fn, int fd, const fdt::Info& info, struct stat* st);
int statx(const char* fn, route::Target& t, int flags, unsigned mask, struct statx* stx);
int fstatx(const char* fn, int fd, const fdt::Info& info, struct statx* stx);
int access(const char* fn, route::Target& t, int mode, int flags);

int mkdir(const char* fn, route::Target& t, mode_t mode);
int mknod(const char* fn, route::Target& t, mode_t mode, dev_t dev);
int unlink(const char* fn, route::Target& t, bool remove_dir);
// Either may be Route::pass (then it is a cross-device rename: EXDEV).
int rename(const char* fn, route::Target& from, route::Target& to, unsigned flags);
int link(const char* fn, route::Target& from, route::Target& to, bool follow);
int symlink(const char* fn, const char* target, route::Target& t);
ssize_t readlink(const char* fn, route::Target& t, char* buf, size_t size);

// Attribute changes. `t` may name an open fd (route::of_fd).
int chmod(const char* fn, route::Target& t, mode_t mode, bool follow);
int chown(const char* fn, route::Target& t, uid_t uid, gid_t gid, bool follow);
// times[2] as utimensat (nullptr: both now; UTIME_NOW / UTIME_OMIT).
int utimens(const char* fn, route::Target& t, const struct timespec* times, bool follow);
int truncate(const char* fn, route::Target& t, off_t size);
int statfs(const char* fn, route::Target& t, struct statfs* out);
int statvfs(const char* fn, route::Target& t, struct statvfs* out);

// Extended attributes (stored by the server).
ssize_t getxattr(const char* fn, route::Target& t, const char* name, void* value, size_t size, bool follow);
int setxattr(const char* fn, route::Target& t, const char* name, const void* value, size_t size, int xflags,
             bool follow);
ssize_t listxattr(const char* fn, route::Target& t, char* list, size_t size, bool follow);
int removexattr(const char* fn, route::Target& t, const char* name, bool follow);

// The working directory and canonical paths.
int chdir(const char* fn, route::Target& t);
// The stand-in host directory for the mount directory t names, as an
// O_PATH close-on-exec fd (what a child can fchdir to).
int standin(const char* fn, route::Target& t);
// The cwd's path when it is in a mount: into buf (size), or malloc'd when
// buf is null, as getcwd.
char* getcwd(const char* fn, uint64_t cwd_ino, uint32_t generation, char* buf, size_t size);
char* realpath(const char* fn, route::Target& t, char* resolved);

// Directory streams over mount directories.
DIR* opendir(const char* fn, route::Target& t);
DIR* fdopendir(const char* fn, int fd, const fdt::Info& info);
// Returns the stream if `d` is one of ours, else nullptr.
struct DirStream* as_ours(DIR* d);
struct dirent64* readdir(DirStream* d);
int closedir(DirStream* d);
int dirfd(DirStream* d);
void rewinddir(DirStream* d);
long telldir(DirStream* d);
void seekdir(DirStream* d, long pos);

// Durability: the kernel syncs the fd's data (fsync, fdatasync, syncfs),
// then the server makes the namespace durable, the inode's part (fsync) or
// all of it. sync_all runs after libc's sync and reports nothing.
int fsync(const char* fn, int fd, const fdt::Info& info, bool data_only);
int syncfs(const char* fn, int fd, const fdt::Info& info);
void sync_all(const char* fn);

// File data of handle files (fdt::Kind::handle), over the connection.
// readv/writev take offset -1 for the file's offset (readv, writev),
// else the offset (preadv, pwritev).
ssize_t read(const char* fn, int fd, const fdt::Info& info, void* buf, size_t n);
ssize_t pread(const char* fn, int fd, const fdt::Info& info, void* buf, size_t n, off_t offset);
ssize_t write(const char* fn, int fd, const fdt::Info& info, const void* buf, size_t n);
ssize_t pwrite(const char* fn, int fd, const fdt::Info& info, const void* buf, size_t n, off_t offset);
ssize_t readv(const char* fn, int fd, const fdt::Info& info, const struct iovec* iov, int count, off_t offset);
ssize_t writev(const char* fn, int fd, const fdt::Info& info, const struct iovec* iov, int count, off_t offset);
off_t lseek(const char* fn, int fd, const fdt::Info& info, off_t offset, int whence);
int ftruncate(const char* fn, int fd, const fdt::Info& info, off_t size);
// A stdio stream over a handle file's fd (fopen, fdopen): glibc's streams
// call its internal read and write, which no interposer sees.
FILE* handle_stream(int fd, const fdt::Info& info, const char* mode);
// Whether `f` came from handle_stream (libc's freopen cannot reopen it).
bool is_handle_stream(FILE* f);

// The process umask, tracked so creates apply it as the kernel would.
mode_t umask_changed(mode_t old_mask_from_libc, mode_t new_mask);

}  // namespace userfs::ops

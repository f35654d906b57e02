// Every libc function the shim wraps, found once with dlsym(RTLD_NEXT).
// The interposers call through these for paths and fds that are not ours,
// and the shim's own code calls them so it never re-enters itself.
#pragma once

#include <dirent.h>
#include <fts.h>
#include <ftw.h>
#include <glob.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <utime.h>
#include <sys/stat.h>
#include <sys/types.h>

struct statx;
struct iovec;

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

  int (*setxattr)(const char*, const char*, const void*, size_t, int);
  int (*lsetxattr)(const char*, const char*, const void*, size_t, int);
  int (*fsetxattr)(int, const char*, const void*, size_t, int);
  int (*removexattr)(const char*, const char*);
  int (*lremovexattr)(const char*, const char*);
  int (*fremovexattr)(int, const char*);

  mode_t (*umask)(mode_t);

  // links and special files
  int (*symlink)(const char*, const char*);
  int (*symlinkat)(const char*, int, const char*);
  ssize_t (*readlink)(const char*, char*, size_t);
  ssize_t (*readlinkat)(int, const char*, char*, size_t);
  int (*link)(const char*, const char*);
  int (*linkat)(int, const char*, int, const char*, int);
  int (*mknod)(const char*, mode_t, dev_t);
  int (*mknodat)(int, const char*, mode_t, dev_t);
  int (*mkfifo)(const char*, mode_t);
  int (*mkfifoat)(int, const char*, mode_t);

  // attributes
  int (*chmod)(const char*, mode_t);
  int (*fchmod)(int, mode_t);
  int (*fchmodat)(int, const char*, mode_t, int);
  int (*chown)(const char*, uid_t, gid_t);
  int (*lchown)(const char*, uid_t, gid_t);
  int (*fchown)(int, uid_t, gid_t);
  int (*fchownat)(int, const char*, uid_t, gid_t, int);
  int (*utime)(const char*, const struct utimbuf*);
  int (*utimes)(const char*, const struct timeval*);
  int (*lutimes)(const char*, const struct timeval*);
  int (*futimes)(int, const struct timeval*);
  int (*futimesat)(int, const char*, const struct timeval*);
  int (*utimensat)(int, const char*, const struct timespec*, int);
  int (*futimens)(int, const struct timespec*);
  int (*truncate)(const char*, off_t);
  int (*statfs)(const char*, struct statfs*);
  int (*fstatfs)(int, struct statfs*);
  int (*statvfs)(const char*, struct statvfs*);
  int (*fstatvfs)(int, struct statvfs*);

  // the working directory and canonical paths
  int (*chdir)(const char*);
  int (*fchdir)(int);
  char* (*getcwd)(char*, size_t);
  char* (*get_current_dir_name)();
  char* (*getwd)(char*);
  char* (*realpath)(const char*, char*);
  char* (*canonicalize_file_name)(const char*);

  // fd ranges
  int (*close_range)(unsigned, unsigned, int);
  void (*closefrom)(int);

  // durability
  int (*fsync)(int);
  int (*fdatasync)(int);
  void (*sync)();
  int (*syncfs)(int);

  // directory walkers and stdio (libc calls its own internals from these,
  // bypassing the exported names, so each is caught itself)
  int (*scandir)(const char*, struct dirent***, int (*)(const struct dirent*),
                 int (*)(const struct dirent**, const struct dirent**));
  int (*scandir64)(const char*, struct dirent64***, int (*)(const struct dirent64*),
                   int (*)(const struct dirent64**, const struct dirent64**));
  int (*scandirat)(int, const char*, struct dirent***, int (*)(const struct dirent*),
                   int (*)(const struct dirent**, const struct dirent**));
  int (*scandirat64)(int, const char*, struct dirent64***, int (*)(const struct dirent64*),
                     int (*)(const struct dirent64**, const struct dirent64**));
  int (*glob)(const char*, int, int (*)(const char*, int), glob_t*);
  int (*glob64)(const char*, int, int (*)(const char*, int), glob64_t*);
  int (*ftw)(const char*, __ftw_func_t, int);
  int (*ftw64)(const char*, __ftw64_func_t, int);
  int (*nftw)(const char*, __nftw_func_t, int, int);
  int (*nftw64)(const char*, __nftw64_func_t, int, int);
  FTS* (*fts_open)(char* const*, int, int (*)(const FTSENT**, const FTSENT**));
  FTSENT* (*fts_read)(FTS*);
  FTSENT* (*fts_children)(FTS*, int);
  int (*fts_set)(FTS*, FTSENT*, int);
  int (*fts_close)(FTS*);
  FTS64* (*fts64_open)(char* const*, int, int (*)(const FTSENT64**, const FTSENT64**));
  FTSENT64* (*fts64_read)(FTS64*);
  FTSENT64* (*fts64_children)(FTS64*, int);
  int (*fts64_set)(FTS64*, FTSENT64*, int);
  int (*fts64_close)(FTS64*);
  ssize_t (*getdents64)(int, void*, size_t);
  FILE* (*freopen)(const char*, const char*, FILE*);
  int (*fclose)(FILE*);
  FILE* (*freopen64)(const char*, const char*, FILE*);
  int (*mkstemp)(char*);
  int (*mkostemp)(char*, int);
  int (*mkstemps)(char*, int);
  int (*mkostemps)(char*, int, int);
  char* (*mkdtemp)(char*);

  // running programs
  int (*execve)(const char*, char* const[], char* const[]);
  int (*execvpe)(const char*, char* const[], char* const[]);
  int (*fexecve)(int, char* const[], char* const[]);
  int (*posix_spawn)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
                     char* const[], char* const[]);
  int (*posix_spawnp)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
                      char* const[], char* const[]);
  int (*fa_init)(posix_spawn_file_actions_t*);
  int (*fa_destroy)(posix_spawn_file_actions_t*);
  int (*fa_addopen)(posix_spawn_file_actions_t*, int, const char*, int, mode_t);
  int (*fa_addclose)(posix_spawn_file_actions_t*, int);
  int (*fa_adddup2)(posix_spawn_file_actions_t*, int, int);
  int (*fa_addchdir_np)(posix_spawn_file_actions_t*, const char*);
  int (*fa_addfchdir_np)(posix_spawn_file_actions_t*, int);
  int (*fa_addclosefrom_np)(posix_spawn_file_actions_t*, int);

  // file data (ours only for handle files)
  ssize_t (*read)(int, void*, size_t);
  ssize_t (*read_chk)(int, void*, size_t, size_t);
  ssize_t (*write)(int, const void*, size_t);
  ssize_t (*pread)(int, void*, size_t, off_t);
  ssize_t (*pread_chk)(int, void*, size_t, off_t, size_t);
  ssize_t (*pwrite)(int, const void*, size_t, off_t);
  ssize_t (*readv)(int, const struct iovec*, int);
  ssize_t (*writev)(int, const struct iovec*, int);
  ssize_t (*preadv)(int, const struct iovec*, int, off_t);
  ssize_t (*pwritev)(int, const struct iovec*, int, off_t);
  ssize_t (*preadv2)(int, const struct iovec*, int, off_t, int);
  ssize_t (*pwritev2)(int, const struct iovec*, int, off_t, int);
  off_t (*lseek)(int, off_t, int);
  int (*ftruncate)(int, off_t);
  FILE* (*fdopen)(int, const char*);
  ssize_t (*copy_file_range)(int, off64_t*, int, off64_t*, size_t, unsigned);
  ssize_t (*sendfile)(int, int, off_t*, size_t);
  ssize_t (*splice)(int, off64_t*, int, off64_t*, size_t, unsigned);

  // credentials (the server learns them at connect: a change means a new
  // connection)
  int (*setuid)(uid_t);
  int (*setgid)(gid_t);
  int (*seteuid)(uid_t);
  int (*setegid)(gid_t);
  int (*setreuid)(uid_t, uid_t);
  int (*setregid)(gid_t, gid_t);
  int (*setresuid)(uid_t, uid_t, uid_t);
  int (*setresgid)(gid_t, gid_t, gid_t);
  int (*setgroups)(size_t, const gid_t*);
  int (*initgroups)(const char*, gid_t);
  int (*setfsuid)(uid_t);
  int (*setfsgid)(gid_t);
};

// The resolved table. Valid after ensure_resolved(); every interposer calls
// that first (it is one predictable branch once done).
extern Libc libc;
void ensure_resolved();

// This library's file name as the loader has it (what dladdr reports), or
// nullptr. Resolves the table first: found on the same walk.
const char* own_path();

}  // namespace userfs::real

#include "real_libc.hpp"

#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>

#include "symbol_lookup.hpp"

namespace userfs::real {

// The table and its flags are in .data, not .bss: .data shares a page with
// the GOT, which the loader writes in every process, so the first call
// writes them without faulting in a page of .bss (1.4 KiB more on disk).
#define USERFS_FIRST_CALL_DATA __attribute__((section(".data")))

USERFS_FIRST_CALL_DATA constinit Libc libc{};

namespace {

USERFS_FIRST_CALL_DATA constinit std::atomic<bool> resolved{false};
USERFS_FIRST_CALL_DATA pthread_once_t once = PTHREAD_ONCE_INIT;

// Set while resolve_all runs.
USERFS_FIRST_CALL_DATA const NextSymbols* next_symbols = nullptr;
USERFS_FIRST_CALL_DATA const char* own_name = nullptr;

template <class F>
void find(F& slot, HashedName name) {
  void* p = next_symbols->find(name);
  if (p == nullptr) p = dlsym(RTLD_NEXT, name.name);
  slot = reinterpret_cast<F>(p);
}

void resolve_all() {
  const NextSymbols next(reinterpret_cast<const void*>(&resolve_all));
  next_symbols = &next;
  own_name = next.own_name();
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
  find(libc.setxattr, "setxattr");
  find(libc.lsetxattr, "lsetxattr");
  find(libc.fsetxattr, "fsetxattr");
  find(libc.removexattr, "removexattr");
  find(libc.lremovexattr, "lremovexattr");
  find(libc.fremovexattr, "fremovexattr");
  find(libc.symlink, "symlink");
  find(libc.symlinkat, "symlinkat");
  find(libc.readlink, "readlink");
  find(libc.readlinkat, "readlinkat");
  find(libc.link, "link");
  find(libc.linkat, "linkat");
  find(libc.mknod, "mknod");
  find(libc.mknodat, "mknodat");
  find(libc.mkfifo, "mkfifo");
  find(libc.mkfifoat, "mkfifoat");
  find(libc.chmod, "chmod");
  find(libc.fchmod, "fchmod");
  find(libc.fchmodat, "fchmodat");
  find(libc.chown, "chown");
  find(libc.lchown, "lchown");
  find(libc.fchown, "fchown");
  find(libc.fchownat, "fchownat");
  find(libc.utime, "utime");
  find(libc.utimes, "utimes");
  find(libc.lutimes, "lutimes");
  find(libc.futimes, "futimes");
  find(libc.futimesat, "futimesat");
  find(libc.utimensat, "utimensat");
  find(libc.futimens, "futimens");
  find(libc.truncate, "truncate");
  find(libc.statfs, "statfs");
  find(libc.fstatfs, "fstatfs");
  find(libc.statvfs, "statvfs");
  find(libc.fstatvfs, "fstatvfs");
  find(libc.chdir, "chdir");
  find(libc.fchdir, "fchdir");
  find(libc.getcwd, "getcwd");
  find(libc.get_current_dir_name, "get_current_dir_name");
  find(libc.getwd, "getwd");
  find(libc.realpath, "realpath");
  find(libc.canonicalize_file_name, "canonicalize_file_name");
  find(libc.close_range, "close_range");
  find(libc.closefrom, "closefrom");
  find(libc.fsync, "fsync");
  find(libc.fdatasync, "fdatasync");
  find(libc.sync, "sync");
  find(libc.syncfs, "syncfs");
  find(libc.scandir, "scandir");
  find(libc.scandir64, "scandir64");
  find(libc.scandirat, "scandirat");
  find(libc.scandirat64, "scandirat64");
  find(libc.glob, "glob");
  find(libc.glob64, "glob64");
  find(libc.ftw, "ftw");
  find(libc.ftw64, "ftw64");
  find(libc.nftw, "nftw");
  find(libc.nftw64, "nftw64");
  find(libc.fts_open, "fts_open");
  find(libc.fts_read, "fts_read");
  find(libc.fts_children, "fts_children");
  find(libc.fts_set, "fts_set");
  find(libc.fts_close, "fts_close");
  find(libc.fts64_open, "fts64_open");
  find(libc.fts64_read, "fts64_read");
  find(libc.fts64_children, "fts64_children");
  find(libc.fts64_set, "fts64_set");
  find(libc.fts64_close, "fts64_close");
  find(libc.getdents64, "getdents64");
  find(libc.freopen, "freopen");
  find(libc.fclose, "fclose");
  find(libc.execve, "execve");
  find(libc.execvpe, "execvpe");
  find(libc.fexecve, "fexecve");
  find(libc.posix_spawn, "posix_spawn");
  find(libc.posix_spawnp, "posix_spawnp");
  find(libc.fa_init, "posix_spawn_file_actions_init");
  find(libc.fa_destroy, "posix_spawn_file_actions_destroy");
  find(libc.fa_addopen, "posix_spawn_file_actions_addopen");
  find(libc.fa_addclose, "posix_spawn_file_actions_addclose");
  find(libc.fa_adddup2, "posix_spawn_file_actions_adddup2");
  find(libc.fa_addchdir_np, "posix_spawn_file_actions_addchdir_np");
  find(libc.fa_addfchdir_np, "posix_spawn_file_actions_addfchdir_np");
  find(libc.fa_addclosefrom_np, "posix_spawn_file_actions_addclosefrom_np");
  find(libc.freopen64, "freopen64");
  find(libc.mkstemp, "mkstemp");
  find(libc.mkostemp, "mkostemp");
  find(libc.mkstemps, "mkstemps");
  find(libc.mkostemps, "mkostemps");
  find(libc.mkdtemp, "mkdtemp");
  find(libc.read, "read");
  find(libc.read_chk, "__read_chk");
  find(libc.write, "write");
  find(libc.pread, "pread");
  find(libc.pread_chk, "__pread_chk");
  find(libc.pwrite, "pwrite");
  find(libc.readv, "readv");
  find(libc.writev, "writev");
  find(libc.preadv, "preadv");
  find(libc.pwritev, "pwritev");
  find(libc.preadv2, "preadv2");
  find(libc.pwritev2, "pwritev2");
  find(libc.lseek, "lseek");
  find(libc.ftruncate, "ftruncate");
  find(libc.fdopen, "fdopen");
  find(libc.copy_file_range, "copy_file_range");
  find(libc.sendfile, "sendfile");
  find(libc.splice, "splice");
  find(libc.setuid, "setuid");
  find(libc.setgid, "setgid");
  find(libc.seteuid, "seteuid");
  find(libc.setegid, "setegid");
  find(libc.setreuid, "setreuid");
  find(libc.setregid, "setregid");
  find(libc.setresuid, "setresuid");
  find(libc.setresgid, "setresgid");
  find(libc.setgroups, "setgroups");
  find(libc.initgroups, "initgroups");
  find(libc.setfsuid, "setfsuid");
  find(libc.setfsgid, "setfsgid");
  // fcntl64 is absent on some glibc builds; fcntl has the same ABI on LP64.
  if (libc.fcntl64 == nullptr) libc.fcntl64 = libc.fcntl;
  next_symbols = nullptr;
  resolved.store(true, std::memory_order_release);
}

}  // namespace

void ensure_resolved() {
  if (__builtin_expect(resolved.load(std::memory_order_acquire), 1)) return;
  pthread_once(&once, resolve_all);
}

const char* own_path() {
  ensure_resolved();
  if (own_name != nullptr) return own_name;
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&own_path), &self) != 0) return self.dli_fname;
  return nullptr;
}

}  // namespace userfs::real

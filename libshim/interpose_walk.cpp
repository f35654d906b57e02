// Directory walkers: scandir, glob, ftw/nftw, and the raw getdents64.
//
// glibc implements the walkers with its internal opendir/readdir/stat,
// which never reach the exported names, so on mount paths they would bypass
// the shim. Each is caught here. For a mount path the walker is rebuilt on
// the library's own exported calls (opendir, readdir64, fstatat, chdir,
// ...): inside the preloaded library those bind to the shim's interposers,
// which route every step (and follow symlinks and redirects) themselves.
// Anything else goes to libc untouched.
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "interpose.hpp"
#include "session.hpp"
#include "userfs/protocol.hpp"
#include "userfs/wire.hpp"

using namespace userfs;
using interpose::passed;
using interpose::passed_fd;

// dirent and dirent64 (stat and stat64) are one layout on LP64 Linux: the
// plain and the 64 forms share one implementation.
static_assert(sizeof(struct dirent) == sizeof(struct dirent64));
static_assert(sizeof(struct stat) == sizeof(struct stat64));

namespace {

// Where (dirfd, path) leads: Route::pass (host_path set), ours, or fail.
route::Route where(int dirfd, const char* path, route::Target& t) {
  route::resolve(dirfd, path, route::EmptyPath::refuse, t);
  return t.route;
}

// --- scandir ----------------------------------------------------------------

using Filter = int (*)(const struct dirent64*);
using Compare = int (*)(const struct dirent64**, const struct dirent64**);

// scandir over an open stream of the library's: reads every entry, keeps
// those `filter` accepts (as malloc'd copies), sorts them with `compar`.
int scan_stream(DIR* dir, struct dirent64*** out, Filter filter, Compare compar) {
  struct dirent64** list = nullptr;
  size_t count = 0, cap = 0;
  int err = 0;
  for (;;) {
    errno = 0;
    struct dirent64* e = ::readdir64(dir);
    if (e == nullptr) {
      err = errno;
      break;
    }
    if (filter != nullptr) {
      int keep = filter(e);
      errno = 0;
      if (keep == 0) continue;
    }
    if (count == cap) {
      size_t grown = cap == 0 ? 16 : cap * 2;
      auto* bigger = static_cast<struct dirent64**>(std::realloc(list, grown * sizeof *list));
      if (bigger == nullptr) {
        err = ENOMEM;
        break;
      }
      list = bigger;
      cap = grown;
    }
    size_t size = offsetof(struct dirent64, d_name) + std::strlen(e->d_name) + 1;
    auto* copy = static_cast<struct dirent64*>(std::malloc(size < sizeof *e ? sizeof *e : size));
    if (copy == nullptr) {
      err = ENOMEM;
      break;
    }
    std::memcpy(copy, e, size);
    copy->d_reclen = static_cast<unsigned short>(size);
    list[count++] = copy;
  }
  ::closedir(dir);
  if (err != 0) {
    for (size_t i = 0; i < count; i++) std::free(list[i]);
    std::free(list);
    errno = err;
    return -1;
  }
  if (compar != nullptr && count > 1) {
    std::qsort(list, count, sizeof *list, reinterpret_cast<int (*)(const void*, const void*)>(compar));
  }
  *out = list;
  return static_cast<int>(count);
}

// scandirat for a target the router called ours (or failed).
int scan_ours(int dirfd, const char* path, const route::Target& t, struct dirent64*** out, Filter filter,
              Compare compar) {
  if (t.route == route::Route::fail) {
    errno = t.err;
    return -1;
  }
  int fd = ::openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return scan_stream(dir, out, filter, compar);
}

template <class Entry, class RealFn>
int scandir_common(const char* fn, int dirfd, const char* path, Entry*** out, int (*filter)(const Entry*),
                   int (*compar)(const Entry**, const Entry**), RealFn real_fn) {
  real::ensure_resolved();
  route::Target t;
  if (where(dirfd, path, t) == route::Route::pass) return passed(fn, path, real_fn(t.host_path));
  return scan_ours(dirfd, path, t, reinterpret_cast<struct dirent64***>(out),
                   reinterpret_cast<Filter>(filter), reinterpret_cast<Compare>(compar));
}

// --- glob -------------------------------------------------------------------

bool is_meta(char c, int flags) {
  return c == '*' || c == '?' || c == '[' || (c == '\\' && (flags & GLOB_NOESCAPE) == 0) ||
         (c == '{' && (flags & GLOB_BRACE) != 0);
}

// Whether glob(pattern) could read a mount directory: its literal leading
// directory (the components before the first one with a metacharacter, or
// "." for a relative pattern; the whole path if it has none) routes ours. A "~" or brace pattern may expand
// to anywhere, so it is taken through the shim's calls too (for host paths
// they pass straight through).
bool glob_touches_mount(const char* pattern, int flags) {
  if (pattern == nullptr) return false;
  if (pattern[0] == '~' && (flags & (GLOB_TILDE | GLOB_TILDE_CHECK)) != 0) return true;
  if ((flags & GLOB_BRACE) != 0 && std::strchr(pattern, '{') != nullptr) return true;
  char dir[path::kPathMax];
  size_t literal = 0;  // length of the leading components free of metacharacters
  size_t i = 0;
  for (; pattern[i] != '\0'; i++) {
    if (is_meta(pattern[i], flags)) break;
    if (pattern[i] == '/') literal = i + 1;
  }
  if (pattern[i] == '\0') literal = i;  // no metacharacter: glob tests the path itself
  if (literal >= sizeof dir) return false;
  if (literal == 0) {
    std::memcpy(dir, ".", 2);
  } else {
    std::memcpy(dir, pattern, literal);
    dir[literal] = '\0';
  }
  route::Target t;
  return where(AT_FDCWD, dir, t) != route::Route::pass;
}

// The hooks glob calls with GLOB_ALTDIRFUNC: the library's own calls.
void* glob_opendir(const char* path) { return ::opendir(path); }
struct dirent* glob_readdir(void* dir) {
  return ::readdir(static_cast<DIR*>(dir));
}
struct dirent64* glob_readdir64(void* dir) {
  return ::readdir64(static_cast<DIR*>(dir));
}
void glob_closedir(void* dir) { ::closedir(static_cast<DIR*>(dir)); }
int glob_stat64(const char* path, struct stat64* st) { return ::stat64(path, st); }
int glob_lstat64(const char* path, struct stat64* st) { return ::lstat64(path, st); }

template <class Glob>
void use_library_calls(Glob* g) {
  g->gl_opendir = glob_opendir;
  g->gl_closedir = glob_closedir;
  if constexpr (std::is_same_v<Glob, glob64_t>) {
    g->gl_readdir = glob_readdir64;
    g->gl_stat = glob_stat64;
    g->gl_lstat = glob_lstat64;
  } else {
    g->gl_readdir = glob_readdir;
    g->gl_stat = reinterpret_cast<int (*)(const char*, struct stat*)>(glob_stat64);
    g->gl_lstat = reinterpret_cast<int (*)(const char*, struct stat*)>(glob_lstat64);
  }
}

template <class Glob, class RealFn>
int glob_common(const char* fn, const char* pattern, int flags, int (*errfunc)(const char*, int), Glob* g,
                RealFn real_fn) {
  real::ensure_resolved();
  if ((flags & GLOB_ALTDIRFUNC) != 0 || g == nullptr || !glob_touches_mount(pattern, flags)) {
    return passed(fn, pattern, real_fn(pattern, flags, errfunc, g));
  }
  use_library_calls(g);
  int r = real_fn(pattern, flags | GLOB_ALTDIRFUNC, errfunc, g);
  g->gl_flags &= ~GLOB_ALTDIRFUNC;  // as the caller asked
  return r;
}

// --- ftw / nftw ---------------------------------------------------------------

// Directories already walked (by device and inode): without FTW_PHYS a
// directory reached twice (through symlinks) is walked once, as glibc does.
class Seen {
 public:
  ~Seen() { std::free(ids_); }
  // Adds (dev, ino); returns 1 if it was new, 0 if known, -1 out of memory.
  int add(dev_t dev, ino_t ino) {
    size_t lo = 0, hi = count_;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (less(ids_[mid], dev, ino)) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    if (lo < count_ && ids_[lo].dev == dev && ids_[lo].ino == ino) return 0;
    if (count_ == cap_) {
      size_t grown = cap_ == 0 ? 32 : cap_ * 2;
      auto* bigger = static_cast<Id*>(std::realloc(ids_, grown * sizeof(Id)));
      if (bigger == nullptr) return -1;
      ids_ = bigger;
      cap_ = grown;
    }
    std::memmove(ids_ + lo + 1, ids_ + lo, (count_ - lo) * sizeof(Id));
    ids_[lo] = Id{dev, ino};
    count_++;
    return 1;
  }

 private:
  struct Id {
    dev_t dev;
    ino_t ino;
  };
  static bool less(const Id& a, dev_t dev, ino_t ino) { return a.dev < dev || (a.dev == dev && a.ino < ino); }
  Id* ids_ = nullptr;
  size_t count_ = 0, cap_ = 0;
};

// One walk. `nftw_fn` for nftw (flags as given), `ftw_fn` for ftw (flags
// 0, typeflags folded as ftw reports them).
struct Walk {
  __nftw_func_t nftw_fn = nullptr;
  __ftw_func_t ftw_fn = nullptr;
  int flags = 0;
  dev_t dev = 0;  // of the root, for FTW_MOUNT
  struct FTW ftw {};
  char* path = nullptr;  // the path reported, grown as needed
  size_t cap = 0;
  Seen seen;

  ~Walk() { std::free(path); }

  int report(struct stat* st, int type) {
    if (ftw_fn != nullptr) {
      // ftw knows no symlink or post-order types.
      if (type == FTW_SL) type = FTW_F;
      if (type == FTW_SLN) type = FTW_NS;
      if (type == FTW_DP) type = FTW_D;
      return ftw_fn(path, st, type);
    }
    return nftw_fn(path, st, type, &ftw);
  }

  bool reserve(size_t need) {
    if (need <= cap) return true;
    size_t grown = cap * 2 > need ? cap * 2 : need + 256;
    char* bigger = static_cast<char*>(std::realloc(path, grown));
    if (bigger == nullptr) {
      errno = ENOMEM;
      return false;
    }
    path = bigger;
    cap = grown;
    return true;
  }

  bool actionretval() const { return (flags & FTW_ACTIONRETVAL) != 0; }

  // Walks the directory at `path` (stat `st`), reached by `name` relative
  // to `parent` (or by the whole path when parent is null).
  int dir(struct stat* st, DIR* parent, const char* name);
  // One directory entry of the stream `parent`, named `name`.
  int entry(DIR* parent, const char* name);
};

int Walk::dir(struct stat* st, DIR* parent, const char* name) {
  DIR* stream = nullptr;
  int fd = parent != nullptr ? ::openat(::dirfd(parent), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                             : ::open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    stream = ::fdopendir(fd);
    if (stream == nullptr) {
      int err = errno;
      ::close(fd);
      errno = err;
    }
  }
  if (stream == nullptr) return errno == EACCES ? report(st, FTW_DNR) : -1;

  int result = 0;
  if ((flags & FTW_DEPTH) == 0) result = report(st, FTW_D);
  if (result == 0 && (flags & FTW_CHDIR) != 0 && ::fchdir(::dirfd(stream)) < 0) result = -1;
  if (result != 0) {
    int err = errno;
    ::closedir(stream);
    errno = err;
    return result;
  }

  int previous_base = ftw.base;
  ftw.level++;
  const size_t dirlen = std::strlen(path);
  size_t len = dirlen;
  if (len == 0 || path[len - 1] != '/') {
    path[len++] = '/';  // reserve() kept room for it
    path[len] = '\0';
  }
  ftw.base = static_cast<int>(len);

  for (;;) {
    errno = 0;
    struct dirent64* e = ::readdir64(stream);
    if (e == nullptr) break;
    const char* n = e->d_name;
    if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))) continue;
    result = entry(stream, n);
    if (result != 0) break;
  }
  int err = errno;
  ::closedir(stream);
  errno = err;
  if (actionretval() && result == FTW_SKIP_SIBLINGS) result = 0;

  path[dirlen] = '\0';
  ftw.level--;
  ftw.base = previous_base;

  if (result == 0 && (flags & FTW_DEPTH) != 0) result = report(st, FTW_DP);

  // Back to the parent directory (its stream is still open).
  if (parent != nullptr && (flags & FTW_CHDIR) != 0 &&
      (result == 0 || (actionretval() && result != -1 && result != FTW_STOP))) {
    if (::fchdir(::dirfd(parent)) < 0) result = -1;
  }
  return result;
}

int Walk::entry(DIR* parent, const char* name) {
  size_t namelen = std::strlen(name);
  if (!reserve(static_cast<size_t>(ftw.base) + namelen + 2)) return -1;
  std::memcpy(path + ftw.base, name, namelen + 1);

  int at = ::dirfd(parent);
  struct stat st;
  int type;
  int result = 0;
  if (::fstatat(at, name, &st, (flags & FTW_PHYS) != 0 ? AT_SYMLINK_NOFOLLOW : 0) < 0) {
    if (errno != EACCES && errno != ENOENT) return -1;
    type = FTW_NS;
    if ((flags & FTW_PHYS) == 0 && ::fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode)) {
      type = FTW_SLN;
    }
  } else {
    type = S_ISDIR(st.st_mode) ? FTW_D : S_ISLNK(st.st_mode) ? FTW_SL : FTW_F;
  }

  if (type == FTW_NS || (flags & FTW_MOUNT) == 0 || st.st_dev == dev) {
    if (type == FTW_D) {
      int fresh = (flags & FTW_PHYS) != 0 ? 1 : seen.add(st.st_dev, st.st_ino);
      if (fresh < 0) {
        errno = ENOMEM;
        result = -1;
      } else if (fresh > 0) {
        result = dir(&st, parent, name);
      }
    } else {
      if (type == FTW_NS) std::memset(&st, 0, sizeof st);
      result = report(&st, type);
    }
  }
  if (actionretval() && result == FTW_SKIP_SUBTREE) result = 0;
  return result;
}

// nftw (or ftw) from a root the router called ours.
int walk_ours(const char* root, Walk& w) {
  if (root[0] == '\0') {
    errno = ENOENT;
    return -1;
  }
  size_t len = std::strlen(root);
  if (!w.reserve(len + 2)) return -1;
  std::memcpy(w.path, root, len + 1);
  // Trailing slashes go; the base is the last component.
  while (len > 1 && w.path[len - 1] == '/') w.path[--len] = '\0';
  size_t base = len;
  while (base > 0 && w.path[base - 1] != '/') base--;
  w.ftw.base = static_cast<int>(base);
  w.ftw.level = 0;

  // With FTW_CHDIR: remember where we are, and start in the root's parent.
  int cwd = -1;
  int result = 0;
  if ((w.flags & FTW_CHDIR) != 0) {
    cwd = ::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cwd < 0) return -1;
    if (base == 1) {
      result = ::chdir("/");
    } else if (base > 1) {
      char saved = w.path[base - 1];
      w.path[base - 1] = '\0';
      result = ::chdir(w.path);
      w.path[base - 1] = saved;
    }
  }
  // An absolute root is reached by its whole path even after changing into
  // its parent (a relative name from a host directory would not route into
  // the mount); a relative one, from a cwd in the mount, by its last
  // component once there. w.path grows during the walk: copy the name.
  const char* from = (w.flags & FTW_CHDIR) != 0 && w.path[0] != '/' ? w.path + base : w.path;
  char name[path::kPathMax];
  if (result == 0) {
    size_t n = std::strlen(from);
    if (n >= sizeof name) {
      errno = ENAMETOOLONG;
      result = -1;
    } else {
      std::memcpy(name, from, n + 1);
    }
  }

  if (result == 0) {
    struct stat st;
    bool phys = (w.flags & FTW_PHYS) != 0;
    if ((phys ? ::lstat(name, &st) : ::stat(name, &st)) < 0) {
      if (!phys && errno == ENOENT && ::lstat(name, &st) == 0 && S_ISLNK(st.st_mode)) {
        result = w.report(&st, FTW_SLN);
      } else {
        result = -1;  // nothing can be said about the root: no callback
      }
    } else if (S_ISDIR(st.st_mode)) {
      w.dev = st.st_dev;
      if (!phys && w.seen.add(st.st_dev, st.st_ino) < 0) {
        errno = ENOMEM;
        result = -1;
      } else {
        result = w.dir(&st, nullptr, name);
      }
    } else {
      result = w.report(&st, S_ISLNK(st.st_mode) ? FTW_SL : FTW_F);
    }
    if (w.actionretval() && (result == FTW_SKIP_SUBTREE || result == FTW_SKIP_SIBLINGS)) result = 0;
  }

  if (cwd >= 0) {
    int err = errno;
    if (::fchdir(cwd) < 0 && result == 0) {
      result = -1;
      err = errno;
    }
    ::close(cwd);
    errno = err;
  }
  return result;
}

constexpr int kNftwFlags = FTW_PHYS | FTW_MOUNT | FTW_CHDIR | FTW_DEPTH | FTW_ACTIONRETVAL;

int nftw_common(const char* fn, const char* dir, __nftw_func_t func, int nopenfd, int flags, bool is64) {
  real::ensure_resolved();
  route::Target t;
  if (where(AT_FDCWD, dir, t) == route::Route::pass) {
    int r = is64 ? real::libc.nftw64(t.host_path, reinterpret_cast<__nftw64_func_t>(func), nopenfd, flags)
                 : real::libc.nftw(t.host_path, func, nopenfd, flags);
    return passed(fn, dir, r);
  }
  if (t.route == route::Route::fail) {
    errno = t.err;
    return -1;
  }
  if ((flags & ~kNftwFlags) != 0) {
    errno = EINVAL;
    return -1;
  }
  Walk w;
  w.nftw_fn = func;
  w.flags = flags;
  return walk_ours(dir, w);
}

int ftw_common(const char* fn, const char* dir, __ftw_func_t func, int nopenfd, bool is64) {
  real::ensure_resolved();
  route::Target t;
  if (where(AT_FDCWD, dir, t) == route::Route::pass) {
    int r = is64 ? real::libc.ftw64(t.host_path, reinterpret_cast<__ftw64_func_t>(func), nopenfd)
                 : real::libc.ftw(t.host_path, func, nopenfd);
    return passed(fn, dir, r);
  }
  if (t.route == route::Route::fail) {
    errno = t.err;
    return -1;
  }
  Walk w;
  w.ftw_fn = func;
  return walk_ours(dir, w);
}

// --- getdents64 ---------------------------------------------------------------

// The kernel's record (struct linux_dirent64), which glibc does not name.
struct Dirent64Head {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};
static_assert(offsetof(Dirent64Head, d_name) == 19);

// Fills buf with the mount directory's entries after the fd's position.
// The position (the last cookie returned) is kept where the kernel keeps a
// directory's: the file offset of the fd's placeholder directory. So dups
// share it, each open starts at 0, and lseek(fd, 0, SEEK_SET) rewinds.
ssize_t getdents_ours(int fd, const fdt::Info& info, void* buf, size_t size) {
  off_t pos = ::lseek(fd, 0, SEEK_CUR);
  if (pos < 0) return -1;
  auto* reply = static_cast<unsigned char*>(std::malloc(proto::kMaxMessage));
  if (reply == nullptr) {
    errno = ENOMEM;
    return -1;
  }
  proto::ReaddirReq req{info.ino, static_cast<uint64_t>(pos)};
  client::ReplyBuffer rep{reply, proto::kMaxMessage};
  client::Request named{proto::Op::readdir, &req, sizeof req};
  named.generation = info.generation;
  int err = session::call(named, rep);
  if (rep.fd >= 0) client::raw_close(rep.fd);
  size_t used = 0;
  uint64_t last = static_cast<uint64_t>(pos);
  if (err == 0) {
    wire::Reader r(reply, rep.len);
    proto::ReaddirRep head;
    if (!r.fixed(head)) err = -EIO;
    for (uint32_t i = 0; err == 0 && i < head.count; i++) {
      proto::DirEntry e;
      std::string_view name;
      if (!r.fixed(e) || e.name_len == 0 || e.name_len > proto::kMaxName || !r.string(e.name_len, name) ||
          !r.skip(proto::dir_entry_size(e.name_len) - sizeof e - e.name_len)) {
        err = -EIO;
        break;
      }
      size_t reclen = (offsetof(Dirent64Head, d_name) + name.size() + 1 + 7) & ~size_t{7};
      if (used + reclen > size) {
        if (used == 0) err = -EINVAL;  // not even one entry fits
        break;
      }
      auto* d = reinterpret_cast<Dirent64Head*>(static_cast<char*>(buf) + used);
      d->d_ino = e.ino;
      d->d_off = static_cast<int64_t>(e.cookie);
      d->d_reclen = static_cast<unsigned short>(reclen);
      d->d_type = e.type;
      std::memcpy(d->d_name, name.data(), name.size());
      std::memset(d->d_name + name.size(), 0, reclen - offsetof(Dirent64Head, d_name) - name.size());
      used += reclen;
      last = e.cookie;
    }
  }
  std::free(reply);
  // A partly filled buffer is returned even if a later record was bad.
  if (err != 0 && used == 0) {
    errno = -err;
    return -1;
  }
  if (last != static_cast<uint64_t>(pos) && ::lseek(fd, static_cast<off_t>(last), SEEK_SET) < 0) return -1;
  return static_cast<ssize_t>(used);
}

}  // namespace

// --- exports ------------------------------------------------------------------

USERFS_EXPORT int scandir(const char* path, struct dirent*** out, int (*filter)(const struct dirent*),
                          int (*compar)(const struct dirent**, const struct dirent**)) {
  return scandir_common("scandir", AT_FDCWD, path, out, filter, compar,
                        [&](const char* p) { return real::libc.scandir(p, out, filter, compar); });
}

USERFS_EXPORT int scandir64(const char* path, struct dirent64*** out, int (*filter)(const struct dirent64*),
                            int (*compar)(const struct dirent64**, const struct dirent64**)) {
  return scandir_common("scandir64", AT_FDCWD, path, out, filter, compar,
                        [&](const char* p) { return real::libc.scandir64(p, out, filter, compar); });
}

USERFS_EXPORT int scandirat(int dirfd, const char* path, struct dirent*** out,
                            int (*filter)(const struct dirent*),
                            int (*compar)(const struct dirent**, const struct dirent**)) {
  return scandir_common("scandirat", dirfd, path, out, filter, compar,
                        [&](const char* p) { return real::libc.scandirat(dirfd, p, out, filter, compar); });
}

USERFS_EXPORT int scandirat64(int dirfd, const char* path, struct dirent64*** out,
                              int (*filter)(const struct dirent64*),
                              int (*compar)(const struct dirent64**, const struct dirent64**)) {
  return scandir_common("scandirat64", dirfd, path, out, filter, compar,
                        [&](const char* p) { return real::libc.scandirat64(dirfd, p, out, filter, compar); });
}

USERFS_EXPORT int glob(const char* pattern, int flags, int (*errfunc)(const char*, int), glob_t* g) {
  return glob_common("glob", pattern, flags, errfunc, g,
                     [](const char* p, int f, int (*e)(const char*, int), glob_t* gl) {
                       return real::libc.glob(p, f, e, gl);
                     });
}

USERFS_EXPORT int glob64(const char* pattern, int flags, int (*errfunc)(const char*, int), glob64_t* g) {
  return glob_common("glob64", pattern, flags, errfunc, g,
                     [](const char* p, int f, int (*e)(const char*, int), glob64_t* gl) {
                       return real::libc.glob64(p, f, e, gl);
                     });
}

USERFS_EXPORT int nftw(const char* dir, __nftw_func_t func, int nopenfd, int flags) {
  return nftw_common("nftw", dir, func, nopenfd, flags, false);
}

USERFS_EXPORT int nftw64(const char* dir, __nftw64_func_t func, int nopenfd, int flags) {
  return nftw_common("nftw64", dir, reinterpret_cast<__nftw_func_t>(func), nopenfd, flags, true);
}

USERFS_EXPORT int ftw(const char* dir, __ftw_func_t func, int nopenfd) {
  return ftw_common("ftw", dir, func, nopenfd, false);
}

USERFS_EXPORT int ftw64(const char* dir, __ftw64_func_t func, int nopenfd) {
  return ftw_common("ftw64", dir, reinterpret_cast<__ftw_func_t>(func), nopenfd, true);
}

USERFS_EXPORT ssize_t getdents64(int fd, void* buf, size_t size) {
  real::ensure_resolved();
  fdt::Info info;
  // An O_PATH fd goes to the kernel too: it answers EBADF, as natively.
  if (!fdt::lookup(fd, &info) || info.kind != fdt::Kind::dir || info.path_only) {
    return passed_fd("getdents64", fd, real::libc.getdents64(fd, buf, size));
  }
  return getdents_ours(fd, info, buf, size);
}

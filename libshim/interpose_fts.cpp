// The fts family: fts_open, fts_read, fts_children, fts_set, fts_close (and
// their fts64 names, the same functions on LP64).
//
// glibc's fts walks with its internal open/fchdir/opendir/stat, which never
// reach the exported names, so on mount paths every entry would come back
// FTS_NS. As for the walkers in interpose_walk.cpp: fts_open decides once.
// If every root routes to the host as written, the stream is glibc's and
// every later call on it goes to glibc untouched. Otherwise the stream is
// the library's: the same traversal as glibc's (the 4.4BSD algorithm, with
// its orders, types, errnos and path buffer handling), built on the
// library's own exported calls (open, fchdir, opendir, readdir, stat,
// lstat, fstat). Inside the preloaded library those bind to the shim's
// interposers, which route every step, so one stream may mix host and
// mount roots, follow symlinks out of a mount, and change into mount
// directories as glibc's changes into host ones.
//
// The caller sees glibc's public structures (FTS, FTSENT) with glibc's
// field conventions: fts_path is the stream's shared path buffer,
// fts_accpath is the name relative to the directory fts has changed into
// (or the whole path with FTS_NOCHDIR or FTS_LOGICAL).
#include <fcntl.h>
#include <fts.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "interpose.hpp"

using namespace userfs;
using interpose::passed;

// FTS and FTS64 (FTSENT and FTSENT64) are one layout on LP64 Linux: the
// plain and the 64 forms share one implementation, as in glibc.
static_assert(sizeof(FTS) == sizeof(FTS64));
static_assert(sizeof(FTSENT) == sizeof(FTSENT64));
static_assert(offsetof(FTSENT, fts_statp) == offsetof(FTSENT64, fts_statp));
static_assert(offsetof(FTSENT, fts_name) == offsetof(FTSENT64, fts_name));
static_assert(sizeof(struct stat) == sizeof(struct stat64));

namespace {

// --- which streams are ours ---------------------------------------------------

// The streams this library opened. glibc allocates its own FTS with no room
// for a mark, so a stream is told apart by its address alone. `live` lets
// a process with no stream of ours skip the lock.
class Registry {
 public:
  bool add(FTS* sp) {
    pthread_mutex_lock(&mu_);
    bool ok = true;
    if (count_ == cap_) {
      size_t grown = cap_ == 0 ? 8 : cap_ * 2;
      auto* bigger = static_cast<FTS**>(std::realloc(items_, grown * sizeof *items_));
      if (bigger == nullptr) {
        ok = false;
      } else {
        items_ = bigger;
        cap_ = grown;
      }
    }
    if (ok) {
      items_[count_++] = sp;
      live_.store(count_, std::memory_order_release);
    }
    pthread_mutex_unlock(&mu_);
    return ok;
  }

  bool contains(FTS* sp) {
    if (live_.load(std::memory_order_acquire) == 0) return false;
    pthread_mutex_lock(&mu_);
    bool found = indexLocked(sp) < count_;
    pthread_mutex_unlock(&mu_);
    return found;
  }

  // Removes sp; returns whether it was there.
  bool remove(FTS* sp) {
    if (live_.load(std::memory_order_acquire) == 0) return false;
    pthread_mutex_lock(&mu_);
    size_t i = indexLocked(sp);
    bool found = i < count_;
    if (found) {
      items_[i] = items_[--count_];
      live_.store(count_, std::memory_order_release);
    }
    pthread_mutex_unlock(&mu_);
    return found;
  }

 private:
  size_t indexLocked(FTS* sp) const {
    size_t i = 0;
    while (i < count_ && items_[i] != sp) i++;
    return i;
  }

  pthread_mutex_t mu_ = PTHREAD_MUTEX_INITIALIZER;
  FTS** items_ = nullptr;
  size_t count_ = 0, cap_ = 0;
  std::atomic<size_t> live_{0};
};

constinit Registry ours;

// --- the traversal --------------------------------------------------------------

using Compare = int (*)(const FTSENT**, const FTSENT**);

// What fts_build is for: fts_read's descent, fts_children, or
// fts_children with FTS_NAMEONLY.
enum class Build : uint8_t { read, children, names };

constexpr size_t kAlign = alignof(struct stat) > alignof(long double) ? alignof(struct stat) : alignof(long double);

bool is_dot(const char* n) { return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')); }

bool has(const FTS* sp, int opt) { return (sp->fts_options & opt) != 0; }
void set(FTS* sp, int opt) { sp->fts_options |= opt; }
void clear(FTS* sp, int opt) { sp->fts_options &= ~opt; }

// fchdir unless the walk does not change directories.
bool fchdir_failed(const FTS* sp, int fd) { return !has(sp, FTS_NOCHDIR) && ::fchdir(fd) != 0; }

// The length of p's path to append "/name" to (a path ending in '/', such
// as "/", is not given a second one).
size_t append_at(const FTSENT* p) {
  return p->fts_path[p->fts_pathlen - 1] == '/' ? p->fts_pathlen - 1u : p->fts_pathlen;
}

// One entry, its name and (unless FTS_NOSTAT) its stat buffer in one block.
FTSENT* alloc_entry(FTS* sp, const char* name, size_t namelen) {
  size_t size = sizeof(FTSENT) + namelen;
  if (!has(sp, FTS_NOSTAT)) size += sizeof(struct stat) + kAlign;
  auto* p = static_cast<FTSENT*>(std::malloc(size));
  if (p == nullptr) return nullptr;
  std::memset(p, 0, sizeof *p);
  std::memcpy(p->fts_name, name, namelen);
  p->fts_name[namelen] = '\0';
  if (!has(sp, FTS_NOSTAT)) {
    auto at = reinterpret_cast<uintptr_t>(p->fts_name + namelen + 2);
    p->fts_statp = reinterpret_cast<struct stat*>((at + kAlign - 1) & ~(uintptr_t{kAlign} - 1));
  }
  p->fts_namelen = static_cast<unsigned short>(namelen);
  p->fts_path = sp->fts_path;
  p->fts_instr = FTS_NOINSTR;
  return p;
}

void free_list(FTSENT* head) {
  while (FTSENT* p = head) {
    head = head->fts_link;
    std::free(p);
  }
}

// Grows the path buffer by `more` (and some slack). fts_pathlen in an
// FTSENT is an unsigned short: paths stop short of USHRT_MAX.
bool grow_path(FTS* sp, size_t more) {
  size_t want = static_cast<size_t>(sp->fts_pathlen) + more + 256;
  if (want >= USHRT_MAX) {
    std::free(sp->fts_path);
    sp->fts_path = nullptr;
    errno = ENAMETOOLONG;
    return false;
  }
  char* bigger = static_cast<char*>(std::realloc(sp->fts_path, want));
  if (bigger == nullptr) {
    std::free(sp->fts_path);
    sp->fts_path = nullptr;
    return false;
  }
  sp->fts_path = bigger;
  sp->fts_pathlen = static_cast<int>(want);
  return true;
}

// After the path buffer moved: every entry still to be returned points
// into the new one.
void adjust_paths(FTS* sp, FTSENT* head) {
  char* addr = sp->fts_path;
  auto adjust = [addr](FTSENT* p) {
    if (p->fts_accpath != p->fts_name) p->fts_accpath = addr + (p->fts_accpath - p->fts_path);
    p->fts_path = addr;
  };
  for (FTSENT* p = sp->fts_child; p != nullptr; p = p->fts_link) adjust(p);
  for (FTSENT* p = head; p->fts_level >= FTS_ROOTLEVEL;) {
    adjust(p);
    p = p->fts_link != nullptr ? p->fts_link : p->fts_parent;
  }
}

// Changes into p's directory, by `fd` or else by `path`, only if it is
// still the directory that was stat'ed (so a rename meanwhile cannot send
// the walk elsewhere).
int change_dir(FTS* sp, FTSENT* p, int fd, const char* path) {
  if (has(sp, FTS_NOCHDIR)) return 0;
  int use = fd >= 0 ? fd : ::open(path, O_RDONLY | O_CLOEXEC);
  if (use < 0) return -1;
  struct stat st;
  int r = ::fstat(use, &st);
  if (r == 0 && (p->fts_dev != st.st_dev || p->fts_ino != st.st_ino)) {
    errno = ENOENT;  // as glibc: the directory is gone from where it was
    r = -1;
  }
  if (r == 0) r = ::fchdir(use);
  if (fd < 0) {
    int err = errno;
    ::close(use);
    errno = err;
  }
  return r;
}

// The fts_info of p, stat'ing its fts_accpath (following a symlink with
// FTS_LOGICAL or `follow`).
unsigned short stat_entry(FTS* sp, FTSENT* p, bool follow) {
  struct stat scratch;
  struct stat* st = has(sp, FTS_NOSTAT) ? &scratch : p->fts_statp;
  if (has(sp, FTS_LOGICAL) || follow) {
    if (::stat(p->fts_accpath, st) != 0) {
      int err = errno;
      if (::lstat(p->fts_accpath, st) == 0) {
        errno = 0;
        return FTS_SLNONE;
      }
      p->fts_errno = err;
      std::memset(st, 0, sizeof *st);
      return FTS_NS;
    }
  } else if (::lstat(p->fts_accpath, st) != 0) {
    p->fts_errno = errno;
    std::memset(st, 0, sizeof *st);
    return FTS_NS;
  }

  if (S_ISDIR(st->st_mode)) {
    // Device and inode find cycles and mount crossings; the link count
    // bounds the stats FTS_NOSTAT needs.
    p->fts_dev = st->st_dev;
    p->fts_ino = st->st_ino;
    p->fts_nlink = st->st_nlink;
    if (is_dot(p->fts_name)) return FTS_DOT;
    for (FTSENT* t = p->fts_parent; t->fts_level >= FTS_ROOTLEVEL; t = t->fts_parent) {
      if (t->fts_ino == p->fts_ino && t->fts_dev == p->fts_dev) {
        p->fts_cycle = t;
        return FTS_DC;
      }
    }
    return FTS_D;
  }
  if (S_ISLNK(st->st_mode)) return FTS_SL;
  if (S_ISREG(st->st_mode)) return FTS_F;
  return FTS_DEFAULT;
}

// Sorts a list of `count` entries with the stream's compar; on no memory
// the list keeps directory order.
FTSENT* sort_list(FTS* sp, FTSENT* head, int count) {
  if (count > sp->fts_nitems) {
    int grown = count + 40;
    auto* bigger = static_cast<FTSENT**>(std::realloc(sp->fts_array, grown * sizeof(FTSENT*)));
    if (bigger == nullptr) {
      std::free(sp->fts_array);
      sp->fts_array = nullptr;
      sp->fts_nitems = 0;
      return head;
    }
    sp->fts_array = bigger;
    sp->fts_nitems = grown;
  }
  FTSENT** a = sp->fts_array;
  int n = 0;
  for (FTSENT* p = head; p != nullptr; p = p->fts_link) a[n++] = p;
  std::qsort(a, static_cast<size_t>(count), sizeof *a, sp->fts_compar);
  for (int i = 0; i + 1 < count; i++) a[i]->fts_link = a[i + 1];
  a[count - 1]->fts_link = nullptr;
  return a[0];
}

// Whether a directory entry's type says it cannot be a directory.
bool not_directory(const struct dirent64* e) { return e->d_type != DT_DIR && e->d_type != DT_UNKNOWN; }

// Reads the current directory's entries into a list (sorted with compar).
// With Build::read, a directory that cannot be read becomes FTS_DNR and an
// empty one FTS_DP; a fatal error (memory, path length) sets FTS_STOP.
FTSENT* build(FTS* sp, Build type) {
  FTSENT* cur = sp->fts_cur;
  DIR* dir = ::opendir(cur->fts_accpath);
  if (dir == nullptr) {
    if (type == Build::read) {
      cur->fts_info = FTS_DNR;
      cur->fts_errno = errno;
    }
    return nullptr;
  }

  // How many entries may still be directories when skipping stats (a
  // physical FTS_NOSTAT walk), 0 for no stats at all, -1 to stat each.
  long nlinks;
  bool nostat = false;
  if (type == Build::names) {
    nlinks = 0;
  } else if (has(sp, FTS_NOSTAT) && has(sp, FTS_PHYSICAL)) {
    nlinks = static_cast<long>(cur->fts_nlink) - (has(sp, FTS_SEEDOT) ? 0 : 2);
    nostat = true;
  } else {
    nlinks = -1;
  }

  // Change into the directory to stat its entries (or to descend). If that
  // fails no entry is returned, and the directory itself reports the error
  // at its post-order visit.
  bool descend = false;
  if (nlinks != 0 || type == Build::read) {
    if (change_dir(sp, cur, ::dirfd(dir), nullptr) != 0) {
      if (nlinks != 0 && type == Build::read) cur->fts_errno = errno;
      cur->fts_flags |= FTS_DONTCHDIR;
      int err = errno;
      ::closedir(dir);
      errno = err;
      dir = nullptr;
    } else {
      descend = true;
    }
  }

  // Without chdir each name is appended to the path in the buffer.
  size_t len = append_at(cur);
  char* cp = nullptr;
  if (has(sp, FTS_NOCHDIR)) {
    cp = sp->fts_path + len;
    *cp++ = '/';
  }
  len++;
  size_t maxlen = static_cast<size_t>(sp->fts_pathlen) - len;
  short level = static_cast<short>(cur->fts_level + 1);

  FTSENT *head = nullptr, *tail = nullptr;
  int count = 0;
  bool moved = false;
  while (dir != nullptr) {
    struct dirent64* e = ::readdir64(dir);
    if (e == nullptr) break;
    if (!has(sp, FTS_SEEDOT) && is_dot(e->d_name)) continue;
    size_t namelen = std::strlen(e->d_name);
    FTSENT* p = alloc_entry(sp, e->d_name, namelen);
    bool fatal = p == nullptr;
    if (!fatal && namelen >= maxlen) {
      char* before = sp->fts_path;
      if (!grow_path(sp, namelen + len + 1)) {
        fatal = true;
      } else {
        if (before != sp->fts_path) {
          moved = true;
          if (has(sp, FTS_NOCHDIR)) cp = sp->fts_path + len;
        }
        maxlen = static_cast<size_t>(sp->fts_pathlen) - len;
      }
    }
    if (!fatal && len + namelen >= USHRT_MAX) {
      errno = ENAMETOOLONG;
      fatal = true;
    }
    if (fatal) {
      int err = errno;
      std::free(p);
      free_list(head);
      ::closedir(dir);
      cur->fts_info = FTS_ERR;
      set(sp, FTS_STOP);
      errno = err;
      return nullptr;
    }
    p->fts_level = level;
    p->fts_parent = sp->fts_cur;
    p->fts_pathlen = static_cast<unsigned short>(len + namelen);

    if (nlinks == 0 || (nostat && not_directory(e))) {
      p->fts_accpath = has(sp, FTS_NOCHDIR) ? p->fts_path : p->fts_name;
      p->fts_info = FTS_NSOK;
    } else {
      if (has(sp, FTS_NOCHDIR)) {
        p->fts_accpath = p->fts_path;
        std::memmove(cp, p->fts_name, p->fts_namelen + 1u);
      } else {
        p->fts_accpath = p->fts_name;
      }
      p->fts_info = stat_entry(sp, p, false);
      if (nlinks > 0 && (p->fts_info == FTS_D || p->fts_info == FTS_DC || p->fts_info == FTS_DOT)) nlinks--;
    }

    // Directory order, so "ls -f" is not upset.
    p->fts_link = nullptr;
    if (head == nullptr) {
      head = tail = p;
    } else {
      tail->fts_link = p;
      tail = p;
    }
    count++;
  }
  if (dir != nullptr) ::closedir(dir);

  if (moved) adjust_paths(sp, head);

  // Without chdir, the buffer goes back to the directory's own path.
  if (has(sp, FTS_NOCHDIR)) {
    if (len == static_cast<size_t>(sp->fts_pathlen) || count == 0) --cp;
    *cp = '\0';
  }

  // Back out of the directory if it was only listed (fts_children) or is
  // empty: a root through the saved cwd, anything else through "..".
  if (descend && (type == Build::children || count == 0) &&
      (cur->fts_level == FTS_ROOTLEVEL ? fchdir_failed(sp, sp->fts_rfd)
                                       : change_dir(sp, cur->fts_parent, -1, "..") != 0)) {
    cur->fts_info = FTS_ERR;
    set(sp, FTS_STOP);
    free_list(head);
    return nullptr;
  }

  if (count == 0) {
    if (type == Build::read) cur->fts_info = FTS_DP;
    free_list(head);
    return nullptr;
  }
  if (sp->fts_compar != nullptr && count > 1) head = sort_list(sp, head, count);
  return head;
}

// A root becomes current: its whole argument goes into the path buffer and
// its name becomes the last component.
void load_root(FTS* sp, FTSENT* p) {
  size_t len = p->fts_pathlen = p->fts_namelen;
  std::memmove(sp->fts_path, p->fts_name, len + 1);
  char* slash = std::strrchr(p->fts_name, '/');
  if (slash != nullptr && (slash != p->fts_name || slash[1] != '\0')) {
    len = std::strlen(++slash);
    std::memmove(p->fts_name, slash, len + 1);
    p->fts_namelen = static_cast<unsigned short>(len);
  }
  p->fts_accpath = p->fts_path = sp->fts_path;
  sp->fts_dev = p->fts_dev;
}

// Follows the symlink p as fts_set(FTS_FOLLOW) asked; a directory reached
// so keeps an fd of the cwd to come back to.
void follow(FTS* sp, FTSENT* p) {
  p->fts_info = stat_entry(sp, p, true);
  if (p->fts_info == FTS_D && !has(sp, FTS_NOCHDIR)) {
    p->fts_symfd = ::open(".", O_RDONLY | O_CLOEXEC);
    if (p->fts_symfd < 0) {
      p->fts_errno = errno;
      p->fts_info = FTS_ERR;
    } else {
      p->fts_flags |= FTS_SYMFOLLOW;
    }
  }
}

FTS* open_ours(char* const* argv, int options, Compare compar) {
  if ((options & ~FTS_OPTIONMASK) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  auto* sp = static_cast<FTS*>(std::calloc(1, sizeof(FTS)));
  if (sp == nullptr) return nullptr;
  sp->fts_compar = reinterpret_cast<int (*)(const void*, const void*)>(compar);
  sp->fts_options = options;
  sp->fts_rfd = -1;
  // Symbolic links make a logical walk's way back up unknowable.
  if (has(sp, FTS_LOGICAL)) set(sp, FTS_NOCHDIR);

  size_t longest = 0;
  for (char* const* a = argv; *a != nullptr; a++) longest = std::max(longest, std::strlen(*a));
  FTSENT *parent = nullptr, *root = nullptr, *last = nullptr;
  int count = 0;
  int err = 0;
  if (!grow_path(sp, std::max<size_t>(longest + 1, 1024))) {
    err = errno;
  } else if (*argv != nullptr && (parent = alloc_entry(sp, "", 0)) == nullptr) {
    err = errno;
  } else {
    if (parent != nullptr) parent->fts_level = FTS_ROOTPARENTLEVEL;
    for (char* const* a = argv; *a != nullptr; a++, count++) {
      size_t len = std::strlen(*a);
      if (len == 0) {
        err = ENOENT;  // no empty paths
        break;
      }
      FTSENT* p = alloc_entry(sp, *a, len);
      if (p == nullptr) {
        err = errno;
        break;
      }
      p->fts_level = FTS_ROOTLEVEL;
      p->fts_parent = parent;
      p->fts_accpath = p->fts_name;
      p->fts_info = stat_entry(sp, p, has(sp, FTS_COMFOLLOW));
      if (p->fts_info == FTS_DOT) p->fts_info = FTS_D;  // "." and ".." as roots are directories
      // Sorted with compar, else in argument order.
      if (compar != nullptr) {
        p->fts_link = root;
        root = p;
      } else {
        p->fts_link = nullptr;
        if (root == nullptr) {
          root = last = p;
        } else {
          last->fts_link = p;
          last = p;
        }
      }
    }
  }
  if (err == 0 && compar != nullptr && count > 1) root = sort_list(sp, root, count);

  // A dummy current node "just finished" before the roots (FTS_INIT), so
  // the first fts_read moves on to them.
  if (err == 0 && (sp->fts_cur = alloc_entry(sp, "", 0)) == nullptr) err = errno;
  if (err == 0) {
    sp->fts_cur->fts_link = root;
    sp->fts_cur->fts_info = FTS_INIT;
    // With chdir, the way back to where the walk began (or no chdir at all).
    if (!has(sp, FTS_NOCHDIR) && (sp->fts_rfd = ::open(".", O_RDONLY | O_CLOEXEC)) < 0) set(sp, FTS_NOCHDIR);
    if (ours.add(sp)) return sp;
    err = ENOMEM;
    if (sp->fts_rfd >= 0) ::close(sp->fts_rfd);
    std::free(sp->fts_cur);
  }
  free_list(root);
  std::free(parent);
  std::free(sp->fts_array);
  std::free(sp->fts_path);
  std::free(sp);
  errno = err;
  return nullptr;
}

// p becomes current: its path is its parent's plus "/name".
FTSENT* name_current(FTS* sp, FTSENT* p) {
  char* t = sp->fts_path + append_at(p->fts_parent);
  *t++ = '/';
  std::memmove(t, p->fts_name, p->fts_namelen + 1u);
  return p;
}

// The last node of a level is done: up to its parent, for the parent's
// post-order visit, or the end of the walk.
FTSENT* up_to_parent(FTS* sp, FTSENT* done) {
  FTSENT* p = done->fts_parent;
  sp->fts_cur = p;
  std::free(done);
  if (p->fts_level == FTS_ROOTPARENTLEVEL) {
    // The end: errno 0 tells it from an error.
    std::free(p);
    errno = 0;
    sp->fts_cur = nullptr;
    return nullptr;
  }
  sp->fts_path[p->fts_pathlen] = '\0';
  // Back into the parent: a root through the saved cwd, a followed symlink
  // through its fd, anything else through "..".
  if (p->fts_level == FTS_ROOTLEVEL) {
    if (fchdir_failed(sp, sp->fts_rfd)) {
      set(sp, FTS_STOP);
      return nullptr;
    }
  } else if ((p->fts_flags & FTS_SYMFOLLOW) != 0) {
    if (fchdir_failed(sp, p->fts_symfd)) {
      int err = errno;
      ::close(p->fts_symfd);
      errno = err;
      set(sp, FTS_STOP);
      return nullptr;
    }
    ::close(p->fts_symfd);
  } else if ((p->fts_flags & FTS_DONTCHDIR) == 0 && change_dir(sp, p->fts_parent, -1, "..") != 0) {
    set(sp, FTS_STOP);
    return nullptr;
  }
  p->fts_info = p->fts_errno != 0 ? FTS_ERR : FTS_DP;
  return p;
}

FTSENT* read_ours(FTS* sp) {
  if (sp->fts_cur == nullptr || has(sp, FTS_STOP)) return nullptr;
  FTSENT* p = sp->fts_cur;
  int instr = p->fts_instr;
  p->fts_instr = FTS_NOINSTR;

  // FTS_AGAIN: the same node, stat'ed afresh.
  if (instr == FTS_AGAIN) {
    p->fts_info = stat_entry(sp, p, false);
    return p;
  }
  // FTS_FOLLOW on a symlink (a dangling one too, so the caller can see
  // FTS_SLNONE and recover).
  if (instr == FTS_FOLLOW && (p->fts_info == FTS_SL || p->fts_info == FTS_SLNONE)) {
    follow(sp, p);
    return p;
  }

  if (p->fts_info == FTS_D) {
    // Skipped, or across a mount point with FTS_XDEV: straight to post-order.
    if (instr == FTS_SKIP || (has(sp, FTS_XDEV) && p->fts_dev != sp->fts_dev)) {
      if ((p->fts_flags & FTS_SYMFOLLOW) != 0) ::close(p->fts_symfd);
      if (sp->fts_child != nullptr) {
        free_list(sp->fts_child);
        sp->fts_child = nullptr;
      }
      p->fts_info = FTS_DP;
      return p;
    }
    // Names read by fts_children(FTS_NAMEONLY) are not enough to descend.
    if (sp->fts_child != nullptr && has(sp, FTS_NAMEONLY)) {
      clear(sp, FTS_NAMEONLY);
      free_list(sp->fts_child);
      sp->fts_child = nullptr;
    }
    if (sp->fts_child != nullptr) {
      // Listed by fts_children already: only change into the directory.
      // If that fails, the children are reached by the parent's path and
      // the directory reports the error at its post-order visit.
      if (change_dir(sp, p, -1, p->fts_accpath) != 0) {
        p->fts_errno = errno;
        p->fts_flags |= FTS_DONTCHDIR;
        for (FTSENT* c = sp->fts_child; c != nullptr; c = c->fts_link) c->fts_accpath = c->fts_parent->fts_accpath;
      }
    } else if ((sp->fts_child = build(sp, Build::read)) == nullptr) {
      if (has(sp, FTS_STOP)) return nullptr;
      return p;  // FTS_DNR, or an empty directory's FTS_DP
    }
    p = sp->fts_child;
    sp->fts_child = nullptr;
    sp->fts_cur = p;
    return name_current(sp, p);
  }

  // The next node on this level.
  for (;;) {
    FTSENT* done = p;
    p = p->fts_link;
    if (p == nullptr) return up_to_parent(sp, done);
    sp->fts_cur = p;
    std::free(done);
    if (p->fts_level == FTS_ROOTLEVEL) {
      // The next root: back where the walk began.
      if (fchdir_failed(sp, sp->fts_rfd)) {
        set(sp, FTS_STOP);
        return nullptr;
      }
      load_root(sp, p);
      return p;
    }
    // The caller may have called fts_set on a node not yet returned.
    if (p->fts_instr == FTS_SKIP) continue;
    if (p->fts_instr == FTS_FOLLOW) {
      follow(sp, p);
      p->fts_instr = FTS_NOINSTR;
    }
    return name_current(sp, p);
  }
}

FTSENT* children_ours(FTS* sp, int instr) {
  if (instr != 0 && instr != FTS_NAMEONLY) {
    errno = EINVAL;
    return nullptr;
  }
  FTSENT* p = sp->fts_cur;
  errno = 0;  // so an empty directory can be told from an error
  if (has(sp, FTS_STOP)) return nullptr;
  if (p->fts_info == FTS_INIT) return p->fts_link;  // the roots, before the first fts_read
  if (p->fts_info != FTS_D) return nullptr;  // only a directory in pre-order has children
  if (sp->fts_child != nullptr) {
    free_list(sp->fts_child);
    sp->fts_child = nullptr;
  }
  Build type = Build::children;
  if (instr == FTS_NAMEONLY) {
    set(sp, FTS_NAMEONLY);
    type = Build::names;
  }
  // A relative root before fts_read has changed into it: build changes
  // into it by a path that is only right from here, so come back here.
  if (p->fts_level != FTS_ROOTLEVEL || p->fts_accpath[0] == '/' || has(sp, FTS_NOCHDIR)) {
    return sp->fts_child = build(sp, type);
  }
  int here = ::open(".", O_RDONLY | O_CLOEXEC);
  if (here < 0) return nullptr;
  sp->fts_child = build(sp, type);
  int r = ::fchdir(here);
  int err = errno;
  ::close(here);
  if (r != 0) {
    errno = err;
    return nullptr;
  }
  return sp->fts_child;
}

int set_instr(FTSENT* p, int instr) {
  if (instr != 0 && instr != FTS_AGAIN && instr != FTS_FOLLOW && instr != FTS_NOINSTR && instr != FTS_SKIP) {
    errno = EINVAL;
    return 1;
  }
  p->fts_instr = static_cast<unsigned short>(instr);
  return 0;
}

int close_ours(FTS* sp) {
  // Works before the first fts_read too: the dummy node links to the roots,
  // and the last root to their common parent.
  if (FTSENT* p = sp->fts_cur) {
    while (p->fts_level >= FTS_ROOTLEVEL) {
      FTSENT* done = p;
      p = p->fts_link != nullptr ? p->fts_link : p->fts_parent;
      std::free(done);
    }
    std::free(p);
  }
  free_list(sp->fts_child);
  std::free(sp->fts_array);
  std::free(sp->fts_path);
  int err = 0;
  if (!has(sp, FTS_NOCHDIR)) {
    // Back where the walk began.
    if (::fchdir(sp->fts_rfd) != 0) err = errno;
    ::close(sp->fts_rfd);
  }
  std::free(sp);
  if (err != 0) {
    errno = err;
    return -1;
  }
  return 0;
}

// Whether a stream over these roots must be the library's: a root routes
// into a mount (or, relative, the cwd is in one), or the router had to
// rewrite it for the kernel. The routing leaves errno as it was, so a
// stream that passes to glibc sees exactly what it would natively.
bool roots_need_us(char* const* argv) {
  if (argv == nullptr) return false;
  int saved = errno;
  bool need = false;
  for (char* const* a = argv; *a != nullptr && !need; a++) {
    route::Target t;
    route::resolve(*a, t);
    need = t.route != route::Route::pass || t.host_path != *a;
  }
  errno = saved;
  return need;
}

template <class Real>
FTS* open_common(const char* fn, char* const* argv, int options, Compare compar, Real real_fn) {
  real::ensure_resolved();
  if (!roots_need_us(argv)) return passed(fn, argv != nullptr ? argv[0] : nullptr, real_fn());
  return open_ours(argv, options, compar);
}

}  // namespace

// --- exports ------------------------------------------------------------------

USERFS_EXPORT FTS* fts_open(char* const* argv, int options, int (*compar)(const FTSENT**, const FTSENT**)) {
  return open_common("fts_open", argv, options, compar,
                     [&] { return real::libc.fts_open(argv, options, compar); });
}

USERFS_EXPORT FTSENT* fts_read(FTS* sp) {
  real::ensure_resolved();
  if (ours.contains(sp)) return read_ours(sp);
  return passed("fts_read", nullptr, real::libc.fts_read(sp));
}

USERFS_EXPORT FTSENT* fts_children(FTS* sp, int instr) {
  real::ensure_resolved();
  if (ours.contains(sp)) return children_ours(sp, instr);
  return passed("fts_children", nullptr, real::libc.fts_children(sp, instr));
}

USERFS_EXPORT int fts_set(FTS* sp, FTSENT* p, int instr) noexcept {
  real::ensure_resolved();
  if (ours.contains(sp)) return set_instr(p, instr);
  return passed("fts_set", nullptr, real::libc.fts_set(sp, p, instr));
}

USERFS_EXPORT int fts_close(FTS* sp) {
  real::ensure_resolved();
  if (ours.remove(sp)) return close_ours(sp);
  return passed("fts_close", nullptr, real::libc.fts_close(sp));
}

USERFS_EXPORT FTS64* fts64_open(char* const* argv, int options,
                                int (*compar)(const FTSENT64**, const FTSENT64**)) {
  return reinterpret_cast<FTS64*>(
      open_common("fts64_open", argv, options, reinterpret_cast<Compare>(compar), [&] {
        return reinterpret_cast<FTS*>(real::libc.fts64_open(argv, options, compar));
      }));
}

USERFS_EXPORT FTSENT64* fts64_read(FTS64* sp) {
  real::ensure_resolved();
  if (ours.contains(reinterpret_cast<FTS*>(sp))) {
    return reinterpret_cast<FTSENT64*>(read_ours(reinterpret_cast<FTS*>(sp)));
  }
  return passed("fts64_read", nullptr, real::libc.fts64_read(sp));
}

USERFS_EXPORT FTSENT64* fts64_children(FTS64* sp, int instr) {
  real::ensure_resolved();
  if (ours.contains(reinterpret_cast<FTS*>(sp))) {
    return reinterpret_cast<FTSENT64*>(children_ours(reinterpret_cast<FTS*>(sp), instr));
  }
  return passed("fts64_children", nullptr, real::libc.fts64_children(sp, instr));
}

USERFS_EXPORT int fts64_set(FTS64* sp, FTSENT64* p, int instr) noexcept {
  real::ensure_resolved();
  if (ours.contains(reinterpret_cast<FTS*>(sp))) return set_instr(reinterpret_cast<FTSENT*>(p), instr);
  return passed("fts64_set", nullptr, real::libc.fts64_set(sp, p, instr));
}

USERFS_EXPORT int fts64_close(FTS64* sp) {
  real::ensure_resolved();
  if (ours.remove(reinterpret_cast<FTS*>(sp))) return close_ours(reinterpret_cast<FTS*>(sp));
  return passed("fts64_close", nullptr, real::libc.fts64_close(sp));
}

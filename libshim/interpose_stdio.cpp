// freopen and the mkstemp family. glibc opens (and creates) their files
// with its internal open and mkdir, never through the exported names, so
// on mount paths they would bypass the shim. For a mount path each is
// rebuilt on the library's own exported open/mkdir/dup2/close, which route
// it; anything else goes to libc untouched.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "interpose.hpp"

using namespace userfs;
using interpose::passed;

namespace {

// --- freopen ------------------------------------------------------------------

// open(2) flags for an fopen mode ("r", "w+", "ae", "rb+x", ...); false for
// a mode libc would refuse.
bool open_flags(const char* mode, int* flags) {
  int f;
  switch (mode[0]) {
    case 'r':
      f = 0;
      break;
    case 'w':
      f = O_CREAT | O_TRUNC;
      break;
    case 'a':
      f = O_CREAT | O_APPEND;
      break;
    default:
      return false;
  }
  bool plus = false;
  for (const char* m = mode + 1; *m != '\0' && *m != ','; m++) {
    if (*m == '+') plus = true;
    if (*m == 'x') f |= O_EXCL;
    if (*m == 'e') f |= O_CLOEXEC;
  }
  *flags = f | (plus ? O_RDWR : mode[0] == 'r' ? O_RDONLY : O_WRONLY);
  return true;
}

// freopen fails by closing the stream.
FILE* fail_closing(FILE* stream, int err) {
  int fd = ::fileno(stream);
  ::fclose(stream);  // libc closes the fd itself, past our close()
  if (fd >= 0) fdt::clear(fd);
  errno = err;
  return nullptr;
}

// freopen onto a handle file (its fd a placeholder libc cannot reopen by
// path): the stream is reset onto /dev/null, then given the placeholder's
// number. What stdio writes to it reaches the server past the shim, which
// applies it; reads see the end of the file, except through stdin, which
// becomes a stream that reads through the server (POSIX has freopen return
// the stream it was given, so only a standard stream, used by name, can
// be replaced).
FILE* freopen_handle(int fd, const fdt::Info& info, const char* mode, FILE* stream,
                     FILE* (*real_freopen)(const char*, const char*, FILE*)) {
  FILE* f = real_freopen("/dev/null", mode, stream);
  if (f == nullptr) {
    int err = errno;
    ::close(fd);
    errno = err;
    return nullptr;
  }
  int target = ::fileno(f);
  if (target != fd && ::dup2(fd, target) < 0) {
    int err = errno;
    ::close(fd);
    return fail_closing(f, err);
  }
  if (target != fd) ::close(fd);
  if (f == stdin) {
    if (FILE* through = userfs::ops::handle_stream(target, info, "r")) stdin = through;
  }
  return f;
}

// freopen(path, mode, stream) for a mount path: open it through the shim,
// put it in the stream's fd, and let libc reopen that fd ("/proc/self/fd/N",
// the kernel's own view of it) so the stream takes on the new mode.
FILE* freopen_ours(const char* path, const char* mode, FILE* stream,
                   FILE* (*real_freopen)(const char*, const char*, FILE*)) {
  int flags;
  if (!open_flags(mode, &flags)) return fail_closing(stream, EINVAL);
  ::fflush(stream);
  int fd = ::open(path, flags, 0666);
  if (fd < 0) return fail_closing(stream, errno);
  // The file exists now: reopening it must not ask for O_EXCL again.
  char again[64];
  size_t n = 0;
  bool options = false;  // past the ',' (",ccs=...")
  for (const char* m = mode; *m != '\0' && n + 1 < sizeof again; m++) {
    options = options || *m == ',';
    if (options || *m != 'x') again[n++] = *m;
  }
  again[n] = '\0';

  fdt::Info info;
  if (fdt::lookup(fd, &info) && info.kind == fdt::Kind::handle) return freopen_handle(fd, info, again, stream, real_freopen);
  int target = ::fileno(stream);
  if (target < 0) {
    // A stream without an fd: libc opens the new one wherever it likes.
    char proc[32];
    ::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    FILE* f = real_freopen(proc, again, stream);
    int err = errno;
    if (f != nullptr) fdt::copy(fd, ::fileno(f));
    ::close(fd);
    errno = err;
    return f;
  }
  if (fd != target) {
    if (::dup2(fd, target) < 0) {
      int err = errno;
      ::close(fd);
      return fail_closing(stream, err);
    }
    ::close(fd);
  }
  FILE* f = real_freopen(nullptr, again, stream);
  if (f == nullptr) fdt::clear(target);  // libc closed it
  return f;
}

// freopen of a stream over a handle file (a cookie stream, which libc's
// freopen cannot reopen): it is closed and the file opened anew, as a new
// stream. POSIX has freopen return the stream it was given; callers that
// use the result (f = freopen(...), or a standard stream by name) work.
FILE* freopen_handle_stream(const char* path, const char* mode, FILE* stream) {
  const bool in = stream == stdin, out = stream == stdout, err = stream == stderr;
  FILE* f = nullptr;
  if (path == nullptr) {
    // The same file in another mode: the placeholder cannot be reopened
    // by path, so the new stream shares it, from the start of the file.
    int fd = ::dup(::fileno(stream));
    ::fclose(stream);
    if (fd < 0) return nullptr;
    ::lseek(fd, 0, SEEK_SET);
    f = ::fdopen(fd, mode);
    if (f == nullptr) {
      int e = errno;
      ::close(fd);
      errno = e;
    }
  } else {
    ::fclose(stream);
    f = ::fopen(path, mode);
  }
  if (f != nullptr) {
    if (in) stdin = f;
    if (out) stdout = f;
    if (err) stderr = f;
  }
  return f;
}

// Which libc freopen passes through (the table is filled only once
// ensure_resolved() has run).
enum class Width : uint8_t { plain, large };

FILE* freopen_common(const char* fn, const char* path, const char* mode, FILE* stream, Width width) {
  real::ensure_resolved();
  FILE* (*real_freopen)(const char*, const char*, FILE*) =
      width == Width::plain ? real::libc.freopen : real::libc.freopen64;
  if (stream != nullptr && ops::is_handle_stream(stream)) return freopen_handle_stream(path, mode, stream);
  route::Target t;
  if (path != nullptr) route::resolve(path, t);
  if (path == nullptr || t.route == route::Route::pass) {
    return passed(fn, path, real_freopen(path != nullptr ? t.host_path : nullptr, mode, stream));
  }
  if (t.route == route::Route::fail) return fail_closing(stream, t.err);
  return freopen_ours(path, mode, stream, real_freopen);
}

// --- mkstemp family -----------------------------------------------------------

constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
constexpr int kAttempts = 62 * 62 * 62;  // as glibc

uint64_t random_bits() {
  uint64_t v = 0;
  if (::getrandom(&v, sizeof v, GRND_NONBLOCK) == sizeof v) return v;
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  static thread_local uint64_t state;
  state = state * 6364136223846793005u + 1442695040888963407u;
  return state ^ (static_cast<uint64_t>(ts.tv_nsec) << 16) ^ static_cast<uint64_t>(ts.tv_sec) ^
         static_cast<uint64_t>(::getpid());
}

// The six X's of a template with `suffix` bytes after them, or null
// (EINVAL) for a bad template.
char* xs_of(char* templ, int suffix) {
  size_t len = std::strlen(templ);
  if (suffix < 0 || len < 6 + static_cast<size_t>(suffix)) return nullptr;
  char* x = templ + len - suffix - 6;
  return std::memcmp(x, "XXXXXX", 6) == 0 ? x : nullptr;
}

enum class Make : uint8_t { file, dir };

// Tries names until one is created (returns the fd, or 0 for a directory)
// or an error other than EEXIST ends it (-1 with errno).
int make_unique(char* templ, int suffix, Make what, int flags) {
  char* x = xs_of(templ, suffix);
  if (x == nullptr) {
    errno = EINVAL;
    return -1;
  }
  int saved = errno;
  for (int i = 0; i < kAttempts; i++) {
    uint64_t v = random_bits();
    for (int k = 0; k < 6; k++, v /= 62) x[k] = kLetters[v % 62];
    int r = what == Make::dir ? ::mkdir(templ, 0700)
                              : ::open(templ, (flags & ~O_ACCMODE) | O_RDWR | O_CREAT | O_EXCL, 0600);
    if (r >= 0) {
      errno = saved;
      return r;
    }
    if (errno != EEXIST) return -1;
  }
  errno = EEXIST;
  return -1;
}

// Where a template lies: Route::pass, or ours (fail sets errno).
route::Route template_route(const char* templ) {
  route::Target t;
  route::resolve(templ, t);
  if (t.route == route::Route::fail) errno = t.err;
  return t.route;
}

template <class RealFn>
int mkstemp_common(const char* fn, char* templ, int suffix, int flags, RealFn real_fn) {
  real::ensure_resolved();
  route::Route r = template_route(templ);
  if (r == route::Route::pass) return passed(fn, templ, real_fn());
  if (r == route::Route::fail) return -1;
  return make_unique(templ, suffix, Make::file, flags);
}

}  // namespace

// --- exports ------------------------------------------------------------------

USERFS_EXPORT FILE* freopen(const char* path, const char* mode, FILE* stream) {
  return freopen_common("freopen", path, mode, stream, Width::plain);
}

USERFS_EXPORT FILE* freopen64(const char* path, const char* mode, FILE* stream) {
  return freopen_common("freopen64", path, mode, stream, Width::large);
}

// The 64 forms are aliases of the plain ones on LP64: the same code, and
// the plain libc function for pass-through.
USERFS_EXPORT int mkstemp(char* templ) {
  return mkstemp_common("mkstemp", templ, 0, 0, [&] { return real::libc.mkstemp(templ); });
}

USERFS_EXPORT int mkstemp64(char* templ) {
  return mkstemp_common("mkstemp64", templ, 0, 0, [&] { return real::libc.mkstemp(templ); });
}

USERFS_EXPORT int mkostemp(char* templ, int flags) {
  return mkstemp_common("mkostemp", templ, 0, flags, [&] { return real::libc.mkostemp(templ, flags); });
}

USERFS_EXPORT int mkostemp64(char* templ, int flags) {
  return mkstemp_common("mkostemp64", templ, 0, flags, [&] { return real::libc.mkostemp(templ, flags); });
}

USERFS_EXPORT int mkstemps(char* templ, int suffix) {
  return mkstemp_common("mkstemps", templ, suffix, 0, [&] { return real::libc.mkstemps(templ, suffix); });
}

USERFS_EXPORT int mkstemps64(char* templ, int suffix) {
  return mkstemp_common("mkstemps64", templ, suffix, 0, [&] { return real::libc.mkstemps(templ, suffix); });
}

USERFS_EXPORT int mkostemps(char* templ, int suffix, int flags) {
  return mkstemp_common("mkostemps", templ, suffix, flags,
                        [&] { return real::libc.mkostemps(templ, suffix, flags); });
}

USERFS_EXPORT int mkostemps64(char* templ, int suffix, int flags) {
  return mkstemp_common("mkostemps64", templ, suffix, flags,
                        [&] { return real::libc.mkostemps(templ, suffix, flags); });
}

USERFS_EXPORT char* mkdtemp(char* templ) {
  real::ensure_resolved();
  route::Route r = template_route(templ);
  if (r == route::Route::pass) return passed("mkdtemp", templ, real::libc.mkdtemp(templ));
  if (r == route::Route::fail) return nullptr;
  return make_unique(templ, 0, Make::dir, 0) == 0 ? templ : nullptr;
}

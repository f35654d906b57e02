#include "init.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <new>

#include "config_file.hpp"
#include "exec.hpp"
#include "real_libc.hpp"
#include "trace.hpp"
#include "userfs/socket_path.hpp"

extern char** environ;

namespace userfs::shim {

namespace detail {

// constinit: a constructor of another library may call into the shim before
// ours run; a dynamic initialiser here would then wipe loaded settings.
constinit ConfigStorage storage;
// In .data, with the other flags the first call writes: see initial_environ.
__attribute__((section(".data"))) constinit std::atomic<bool> ready{false};

}  // namespace detail

namespace {

Config& cfg = detail::storage.cfg;
using detail::ready;

// Under run-once, before anything reads or writes the settings.
// Default-initialised: the members with initialisers get them, the large
// arrays keep their zero bytes untouched (value-initialising would write
// all 70 KiB, a page fault per 4 KiB in every process that makes a call).
// `carried` is left alone too: its zero bytes are already the empty list,
// and it starts on a page of its own.
void construct_settings() {
  new (&cfg) Config;
  cfg.socket[0] = '\0';
}

// In .data, with the other flags the first call writes: see initial_environ.
__attribute__((section(".data"))) pthread_once_t once = PTHREAD_ONCE_INIT;

// The environment the process started with: one pointer saved at load (the
// strings stay where the kernel put them), so settings survive a program
// that empties its environment (env -i) before its first file call. In
// .data, on the page the loader has already written (the GOT's), not on a
// page of .bss of its own: one page fault less in every process.
__attribute__((section(".data"))) char** initial_environ = nullptr;

// "USERFS_FDS=" spelt out: compared as immediates, the check reads no
// string constant (no page of .rodata faulted in) and calls nothing.
bool names_inherited_fds(const char* e) {
  return e[0] == 'U' && e[1] == 'S' && e[2] == 'E' && e[3] == 'R' && e[4] == 'F' && e[5] == 'S' && e[6] == '_' &&
         e[7] == 'F' && e[8] == 'D' && e[9] == 'S' && e[10] == '=';
}

// The library's only work at load, in every process on the machine: a
// store and a scan of the environment, calling into libc (a lazy binding
// each) only when a parent shim handed over mount fds.
__attribute__((constructor)) void at_load() {
  initial_environ = environ;
  for (char** e = environ; e != nullptr && *e != nullptr; e++) {
    if (names_inherited_fds(*e)) {
      exec::import_inherited_fds();
      break;
    }
  }
}

// The variables the settings come from, found in one pass over the
// environment (the first definition wins, as with getenv).
enum Var : uint8_t {
  kMounts,
  kConfig,
  kSocket,
  kConnectTimeout,
  kTimeout,
  kTrace,
  kTraceFile,
  kLdPreload,
  kXdgRuntimeDir,
  kVarCount
};
// The names in Var order, one string: no table of pointers to relocate.
constexpr char kVarNames[] =
    "USERFS_MOUNTS\0USERFS_CONFIG\0USERFS_SOCKET\0USERFS_CONNECT_TIMEOUT_MS\0USERFS_TIMEOUT_MS\0"
    "USERFS_TRACE\0USERFS_TRACE_FILE\0LD_PRELOAD\0XDG_RUNTIME_DIR";

struct Settings {
  const char* value[kVarCount] = {};
  const char* operator[](Var v) const { return value[v]; }
};

// Fills what `env` defines and `found` still lacks.
void collect(char** env, Settings& found) {
  for (char** e = env; e != nullptr && *e != nullptr; e++) {
    const char* s = *e;
    if (s[0] != 'U' && s[0] != 'L' && s[0] != 'X') continue;
    const char* name = kVarNames;
    for (int v = 0; v < kVarCount; v++) {
      size_t n = std::strlen(name);
      if (found.value[v] == nullptr && std::strncmp(s, name, n) == 0 && s[n] == '=') {
        found.value[v] = s + n + 1;
        break;
      }
      name += n + 1;
    }
  }
}

// As getenv, then the environment the process started with for what the
// program has removed since.
Settings read_environment() {
  Settings found;
  collect(environ, found);
  if (initial_environ != environ) collect(initial_environ, found);
  return found;
}

int env_int(const char* v, int fallback) {
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return (*end == '\0' && n > 0 && n < 3600 * 1000) ? static_cast<int>(n) : fallback;
}

// The outcome of reading the settings file.
enum class FileState : uint8_t { loaded, missing, rejected };

// Reads the settings file at `path` into cfg.mounts/cfg.socket with raw
// system calls (no stdio, no allocation: this may be the first file call of
// any process on the machine). The file must be a regular file owned by root
// and writable by no one else; otherwise, or if it does not parse, it is
// rejected and *why says why.
FileState read_settings_file(const char* path, const char** why) {
  cfg.mounts.count = 0;
  int fd = static_cast<int>(::syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd < 0) {
    *why = errno == ENOENT ? "is missing" : "cannot be opened";
    return errno == ENOENT ? FileState::missing : FileState::rejected;
  }
  // Read once, under run-once: static buffers keep this off small stacks.
  static char text[16 * 1024];
  struct stat st;
  FileState state = FileState::rejected;
  size_t len = 0;
  if (::syscall(SYS_fstat, fd, &st) != 0) {
    *why = "cannot be examined";
  } else if (!S_ISREG(st.st_mode)) {
    *why = "is not a regular file";
  } else if (st.st_uid != 0) {
    *why = "is not owned by root";
  } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    *why = "is writable by group or others";
  } else {
    for (;;) {
      long n = ::syscall(SYS_read, fd, text + len, sizeof text - len);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (n < 0) len = sizeof text + 1;  // a read error rejects the file
        break;
      }
      len += static_cast<size_t>(n);
      if (len == sizeof text) {
        len = sizeof text + 1;  // too large to be a settings file
        break;
      }
    }
    if (len > sizeof text) {
      *why = "cannot be read or is too large";
    } else if ((*why = config_file::parse(text, len, cfg.mounts, cfg.socket, sizeof cfg.socket)) == nullptr) {
      state = FileState::loaded;
    }
  }
  ::syscall(SYS_close, fd);
  return state;
}

// True if LD_PRELOAD names this library: it was asked for by hand, so with
// no USERFS_MOUNTS and no settings file the documented default applies.
bool preloaded_by_hand(const char* preload) { return preload != nullptr && std::strstr(preload, "libuserfs") != nullptr; }

// Adds "NAME=value" to cfg.carried at `used` if it fits.
void carry_setting(const char* name, const char* value, size_t& used) {
  size_t name_len = std::strlen(name);
  size_t value_len = std::strlen(value);
  size_t n = name_len + 1 + value_len;
  if (used + n + 2 >= sizeof cfg.carried) return;
  char* out = cfg.carried + used;
  std::memcpy(out, name, name_len);
  out[name_len] = '=';
  std::memcpy(out + name_len + 1, value, value_len + 1);
  used += n + 1;
}

void load() {
  int saved = errno;
  construct_settings();
  // Secure execution (setuid, setgid, file capabilities): the caller's
  // environment is not to be trusted, so no USERFS_* setting counts; only
  // the root-owned file at its fixed path does.
  const bool secure = ::getauxval(AT_SECURE) != 0;
  const Settings found = read_environment();
  auto env = [secure, &found](Var v) -> const char* { return secure ? nullptr : found[v]; };

  const char* mounts = env(kMounts);
  const char* config_path = env(kConfig);
  if (config_path == nullptr || *config_path == '\0') config_path = config_file::kSystemPath;
  bool from_env = mounts != nullptr && *mounts != '\0';
  const char* file_problem = nullptr;
  bool file_missing = false;
  if (!from_env) {
    FileState state = read_settings_file(config_path, &file_problem);
    if (state == FileState::loaded) file_problem = nullptr;
    file_missing = state == FileState::missing;
    // No file at all, in a process started with LD_PRELOAD by hand: the
    // default mount at the default socket, as before there was a file.
    if (state == FileState::missing && !secure && config_path == config_file::kSystemPath &&
        preloaded_by_hand(found[kLdPreload])) {
      from_env = true;
      file_problem = nullptr;
    }
  }

  if (from_env) {
    path::parse_mounts(mounts != nullptr && *mounts != '\0' ? mounts : kDefaultMount, cfg.mounts);
    const char* sock = found[kSocket];
    if (sock != nullptr && *sock != '\0' && std::strlen(sock) < sizeof cfg.socket) {
      std::strcpy(cfg.socket, sock);
    } else if (!default_socket_path(cfg.socket, sizeof cfg.socket, found[kXdgRuntimeDir], ::getuid())) {
      cfg.socket[0] = '\0';
    }
  }

  cfg.timeouts.connect_ms = secure ? 2000 : env_int(found[kConnectTimeout], 2000);
  cfg.timeouts.reply_ms = secure ? 30000 : env_int(found[kTimeout], 30000);

  const char* trace = env(kTrace);
  if (trace != nullptr && std::strcmp(trace, "all") == 0) {
    cfg.trace = TraceLevel::all;
  } else if (trace != nullptr && *trace != '\0' && std::strcmp(trace, "0") != 0) {
    cfg.trace = TraceLevel::mount;
  }
  // What a child started with a trimmed environment must still get. From the
  // settings file (system-wide, via /etc/ld.so.preload) nothing is added to a
  // child's environment: the child reads the file itself. A test's
  // USERFS_CONFIG is carried, with the library, like USERFS_MOUNTS.
  const bool carry = !secure && (from_env || config_path != config_file::kSystemPath);
  size_t used = 0;
  if (carry) {
    for (Var v : {kMounts, kConfig, kTrace, kTraceFile, kTimeout, kConnectTimeout}) {
      const char* name = kVarNames;
      for (int i = 0; i < v; i++) name += std::strlen(name) + 1;
      if (found[v] != nullptr) carry_setting(name, found[v], used);
    }
  }
  if (from_env) carry_setting("USERFS_SOCKET", cfg.socket, used);
  // The empty string that ends the list is there: carry_setting writes
  // nothing past it, and the storage was zero bytes.

  // Absolute, so a child that starts in another directory still finds it
  // even when LD_PRELOAD named it relatively. An absolute name is taken as
  // the loader has it: resolving it would cost a system call per component
  // in every process's first call.
  // The loader's string lives as long as the library (linked nodelete).
  const char* self = carry ? real::own_path() : nullptr;
  if (self != nullptr && *self != '\0') {
    static char resolved[4096];
    if (self[0] == '/') {
      cfg.library = self;
    } else if (real::libc.realpath(self, resolved) != nullptr) {
      cfg.library = resolved;
    } else {
      cfg.library = self;
    }
  }

  const char* trace_file = env(kTraceFile);
  if (cfg.trace != TraceLevel::off && trace_file != nullptr && *trace_file != '\0') {
    int fd = static_cast<int>(::syscall(SYS_openat, AT_FDCWD, trace_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (fd >= 0) {
      // Out of the way of the program's own fd numbers, as the socket is.
      int high = static_cast<int>(::syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 900));
      if (high >= 0) {
        ::syscall(SYS_close, fd);
        fd = high;
      }
      cfg.trace_fd = fd;
    }
  }
  ready.store(true, std::memory_order_release);
  // Only now: a note reads the settings it is told to write with.
  if (cfg.trace != TraceLevel::off && !from_env) {
    if (file_problem == nullptr) {
      trace::note("settings file %s: %d mount(s), socket %s", config_path, cfg.mounts.count, cfg.socket);
    } else if (!(file_missing && config_path == config_file::kSystemPath)) {
      trace::note("settings file %s ignored (it %s): no mounts", config_path, file_problem);
    }
  }
  errno = saved;
}

}  // namespace

void disable() {
  // Settings as if loaded with no mounts: every path passes through, and no
  // call ever reads a file, connects or adds to a child's environment.
  if (!ready.load(std::memory_order_acquire)) pthread_once(&once, [] {
    construct_settings();
    cfg.socket[0] = '\0';
    ready.store(true, std::memory_order_release);
  });
  cfg.mounts.count = 0;
  cfg.carried[0] = '\0';
  cfg.library = nullptr;
}

namespace detail {

void load_once() { pthread_once(&once, load); }

}  // namespace detail

}  // namespace userfs::shim

// For a program that must never route its own calls (userfsd, which may run
// with the library in /etc/ld.so.preload): it looks this up with
// dlsym(RTLD_DEFAULT, "userfs_shim_disable") and calls it first thing.
extern "C" __attribute__((visibility("default"))) void userfs_shim_disable() { userfs::shim::disable(); }

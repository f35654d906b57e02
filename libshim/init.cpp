#include "init.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <initializer_list>

#include "real_libc.hpp"
#include "userfs/socket_path.hpp"

extern char** environ;

namespace userfs::shim {

namespace {

// constinit: a constructor of another library may call into the shim before
// ours run; a dynamic initialiser here would then wipe loaded settings.
constinit Config cfg{};
constinit std::atomic<bool> ready{false};
pthread_once_t once = PTHREAD_ONCE_INIT;

// The environment the process started with: one pointer saved at load (the
// strings stay where the kernel put them), so settings survive a program
// that empties its environment (env -i) before its first file call.
char** initial_environ = nullptr;
__attribute__((constructor)) void remember_environment() { initial_environ = environ; }

const char* setting(const char* name) {
  if (const char* v = std::getenv(name)) return v;
  size_t n = std::strlen(name);
  for (char** e = initial_environ; e != nullptr && *e != nullptr; e++) {
    if (std::strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
  }
  return nullptr;
}

int env_int(const char* name, int fallback) {
  const char* v = setting(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return (*end == '\0' && n > 0 && n < 3600 * 1000) ? static_cast<int>(n) : fallback;
}

void load() {
  int saved = errno;
  const char* mounts = setting("USERFS_MOUNTS");
  path::parse_mounts(mounts != nullptr && *mounts != '\0' ? mounts : kDefaultMount, cfg.mounts);

  const char* sock = setting("USERFS_SOCKET");
  if (sock != nullptr && *sock != '\0' && std::strlen(sock) < sizeof cfg.socket) {
    std::strcpy(cfg.socket, sock);
  } else if (!default_socket_path(cfg.socket, sizeof cfg.socket, setting("XDG_RUNTIME_DIR"), ::getuid())) {
    cfg.socket[0] = '\0';
  }

  cfg.timeouts.connect_ms = env_int("USERFS_CONNECT_TIMEOUT_MS", 2000);
  cfg.timeouts.reply_ms = env_int("USERFS_TIMEOUT_MS", 30000);

  const char* trace = setting("USERFS_TRACE");
  if (trace != nullptr && std::strcmp(trace, "all") == 0) {
    cfg.trace = TraceLevel::all;
  } else if (trace != nullptr && *trace != '\0' && std::strcmp(trace, "0") != 0) {
    cfg.trace = TraceLevel::mount;
  }
  size_t used = 0;
  for (const char* name : {"USERFS_MOUNTS", "USERFS_TRACE", "USERFS_TRACE_FILE", "USERFS_TIMEOUT_MS",
                           "USERFS_CONNECT_TIMEOUT_MS"}) {
    const char* v = setting(name);
    if (v == nullptr) continue;
    int n = std::snprintf(cfg.carried + used, sizeof cfg.carried - used - 1, "%s=%s", name, v);
    if (n > 0 && used + static_cast<size_t>(n) + 2 < sizeof cfg.carried) used += static_cast<size_t>(n) + 1;
  }
  int n = std::snprintf(cfg.carried + used, sizeof cfg.carried - used - 1, "USERFS_SOCKET=%s", cfg.socket);
  if (n > 0 && used + static_cast<size_t>(n) + 2 < sizeof cfg.carried) used += static_cast<size_t>(n) + 1;
  cfg.carried[used] = '\0';

  // Absolute, so a child that starts in another directory still finds it
  // even when LD_PRELOAD named it relatively.
  Dl_info self{};
  cfg.library[0] = '\0';
  if (dladdr(reinterpret_cast<void*>(&load), &self) != 0 && self.dli_fname != nullptr) {
    real::ensure_resolved();
    if (real::libc.realpath(self.dli_fname, cfg.library) == nullptr) {
      std::snprintf(cfg.library, sizeof cfg.library, "%s", self.dli_fname);
    }
  }

  const char* trace_file = setting("USERFS_TRACE_FILE");
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
  errno = saved;
}

}  // namespace

const Config& config() {
  if (__builtin_expect(!ready.load(std::memory_order_acquire), 0)) pthread_once(&once, load);
  return cfg;
}

}  // namespace userfs::shim

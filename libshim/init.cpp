#include "init.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "userfs/socket_path.hpp"

namespace userfs::shim {

namespace {

// constinit: a constructor of another library may call into the shim before
// ours run; a dynamic initialiser here would then wipe loaded settings.
constinit Config cfg{};
constinit std::atomic<bool> ready{false};
pthread_once_t once = PTHREAD_ONCE_INIT;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return (*end == '\0' && n > 0 && n < 3600 * 1000) ? static_cast<int>(n) : fallback;
}

void load() {
  int saved = errno;
  const char* mounts = std::getenv("USERFS_MOUNTS");
  path::parse_mounts(mounts != nullptr && *mounts != '\0' ? mounts : kDefaultMount, cfg.mounts);

  const char* sock = std::getenv("USERFS_SOCKET");
  if (sock != nullptr && *sock != '\0' && std::strlen(sock) < sizeof cfg.socket) {
    std::strcpy(cfg.socket, sock);
  } else if (!default_socket_path(cfg.socket, sizeof cfg.socket, std::getenv("XDG_RUNTIME_DIR"), ::getuid())) {
    cfg.socket[0] = '\0';
  }

  cfg.timeouts.connect_ms = env_int("USERFS_CONNECT_TIMEOUT_MS", 2000);
  cfg.timeouts.reply_ms = env_int("USERFS_TIMEOUT_MS", 30000);

  const char* trace = std::getenv("USERFS_TRACE");
  if (trace != nullptr && std::strcmp(trace, "all") == 0) {
    cfg.trace = TraceLevel::all;
  } else if (trace != nullptr && *trace != '\0' && std::strcmp(trace, "0") != 0) {
    cfg.trace = TraceLevel::mount;
  }
  const char* trace_file = std::getenv("USERFS_TRACE_FILE");
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

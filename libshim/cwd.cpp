#include "cwd.hpp"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "init.hpp"
#include "path_resolve.hpp"
#include "session.hpp"

namespace userfs::cwd {

namespace {

// -1: not known yet; 0: a host directory; else the mount directory's inode.
constinit std::atomic<int64_t> cached{-1};
// The namespace generation of the cached inode. A cwd read back from the
// kernel (after exec) belongs to whatever namespace is current then.
constinit std::atomic<uint32_t> cached_generation{0};

// The host cwd's path, read from the kernel when first needed after a
// chdir. `near_mount`: some mount prefix lies below it.
enum HostState : int { kHostUnknown, kHostFar, kHostNear };
constinit std::atomic<int> host_state{kHostUnknown};
pthread_mutex_t host_mu = PTHREAD_MUTEX_INITIALIZER;
char host_path[path::kPathMax];

int64_t read_from_kernel() {
  int saved = errno;
  char buf[path::kPathMax];
  long n = ::syscall(SYS_getcwd, buf, sizeof buf);
  errno = saved;
  if (n <= 0) return 0;
  const char* sock = shim::config().socket;
  size_t slen = std::strlen(sock);
  if (slen == 0 || std::strncmp(buf, sock, slen) != 0 || std::strncmp(buf + slen, ".cwd/", 5) != 0) return 0;
  const char* digits = buf + slen + 5;
  char* end = nullptr;
  unsigned long long ino = std::strtoull(digits, &end, 10);
  if (end == digits || *end != '\0' || ino == 0) return 0;
  return static_cast<int64_t>(ino);
}

// Refreshes host_path under host_mu; returns the new state.
int load_host_locked() {
  int saved = errno;
  long n = ::syscall(SYS_getcwd, host_path, sizeof host_path);
  errno = saved;
  if (n <= 0 || host_path[0] != '/') return kHostFar;  // unreachable cwd: nothing to join
  size_t hlen = std::strlen(host_path);
  const path::MountTable& mounts = shim::config().mounts;
  for (int i = 0; i < mounts.count; i++) {
    const path::Mount& m = mounts.mounts[i];
    if (hlen == 1 || (m.len > hlen && std::strncmp(m.prefix, host_path, hlen) == 0 && m.prefix[hlen] == '/')) {
      return kHostNear;
    }
  }
  return kHostFar;
}

bool climbs(const char* path) {
  for (const char* p = std::strstr(path, ".."); p != nullptr; p = std::strstr(p + 2, "..")) {
    if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == '\0')) return true;
  }
  return false;
}

}  // namespace

bool surely_host_relative(const char* path) {
  return cached.load(std::memory_order_relaxed) == 0 && host_state.load(std::memory_order_acquire) == kHostFar &&
         !climbs(path);
}

bool join_host(const char* path, char* out, size_t cap) {
  int state = host_state.load(std::memory_order_acquire);
  if (state == kHostFar && !climbs(path)) return false;
  pthread_mutex_lock(&host_mu);
  if (host_state.load(std::memory_order_relaxed) == kHostUnknown) {
    host_state.store(load_host_locked(), std::memory_order_release);
  }
  state = host_state.load(std::memory_order_relaxed);
  bool join = state == kHostNear || climbs(path);
  if (join) {
    size_t h = std::strlen(host_path), p = std::strlen(path);
    join = h + 1 + p < cap;
    if (join) {
      std::memcpy(out, host_path, h);
      out[h] = '/';
      std::memcpy(out + h + 1, path, p + 1);
    }
  }
  pthread_mutex_unlock(&host_mu);
  return join;
}

bool in_mount(uint64_t* ino, uint32_t* generation) {
  int64_t v = cached.load(std::memory_order_relaxed);
  if (v < 0) {
    v = read_from_kernel();
    cached_generation.store(session::generation(), std::memory_order_relaxed);
    cached.store(v, std::memory_order_relaxed);
  }
  if (v == 0) return false;
  *ino = static_cast<uint64_t>(v);
  if (generation != nullptr) *generation = cached_generation.load(std::memory_order_relaxed);
  return true;
}

void entered(uint64_t ino, uint32_t generation) {
  cached_generation.store(generation, std::memory_order_relaxed);
  cached.store(static_cast<int64_t>(ino), std::memory_order_relaxed);
  host_state.store(kHostUnknown, std::memory_order_release);
}

void left() {
  cached.store(-1, std::memory_order_relaxed);
  host_state.store(kHostUnknown, std::memory_order_release);
}

}  // namespace userfs::cwd

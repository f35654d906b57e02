#include "session.hpp"

#include <pthread.h>

#include <atomic>
#include <cerrno>

#include "init.hpp"
#include "shared_table.hpp"
#include "trace.hpp"

namespace userfs::session {

namespace {

constinit client::Connection conn;
constinit std::atomic<int> conn_fd{-1};
pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
thread_local int depth __attribute__((tls_model("initial-exec"))) = 0;
constinit std::atomic<uint32_t> current_generation{1};
constinit std::atomic<uint64_t> known_instance{0};  // 0: no server seen yet
// The server mount serving each of our mounts, from the last hello.
constinit std::atomic<uint8_t> server_mounts[proto::kMaxMounts] = {};

// fork: hold the lock across it so the child never inherits it mid-call;
// the child drops the parent's connection and connects anew when needed.
void before_fork() { pthread_mutex_lock(&mu); }
void after_fork_parent() { pthread_mutex_unlock(&mu); }
void after_fork_child() {
  conn.forget_after_fork();
  conn_fd.store(-1, std::memory_order_relaxed);
  pthread_mutex_init(&mu, nullptr);
}
void register_atfork() { pthread_atfork(before_fork, after_fork_parent, after_fork_child); }

// A hello from a server serving another namespace than the last one
// starts a new generation: every inode number held from before is void.
void note_instance(const client::Connection& c) {
  uint64_t instance = c.hello().instance;
  uint64_t before = known_instance.exchange(instance, std::memory_order_acq_rel);
  if (before == 0 || before == instance) return;
  uint32_t g = current_generation.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (trace::on(true)) trace::note("server at %s serves another namespace: open mount fds are stale (generation %u)",
                                   shim::config().socket, g);
}

int connect_quietly(client::Connection& c) {
  const shim::Config& cfg = shim::config();
  const char* prefixes[proto::kMaxMounts];
  size_t lengths[proto::kMaxMounts];
  client::MountNames names{prefixes, lengths, 0};
  for (int i = 0; i < cfg.mounts.count && names.count < proto::kMaxMounts; i++, names.count++) {
    prefixes[i] = cfg.mounts.mounts[i].prefix;
    lengths[i] = cfg.mounts.mounts[i].len;
  }
  int err = c.connect(cfg.socket, cfg.timeouts, names);
  if (err != 0 && trace::on(true)) trace::note("no server at %s: %s", cfg.socket, strerrorname_np(-err));
  if (err == 0) {
    note_instance(c);
    for (uint32_t i = 0; i < names.count; i++)
      server_mounts[i].store(static_cast<uint8_t>(c.server_mount(i)), std::memory_order_relaxed);
  }
  return err;
}

// Sends on a connected c unless req names inodes of an earlier namespace.
int send_if_current(client::Connection& c, const client::Request& req, client::ReplyBuffer& reply) {
  uint32_t g = current_generation.load(std::memory_order_acquire);
  reply.generation = g;
  if (req.generation != 0 && req.generation != g) {
    reply.len = 0;
    reply.fd = -1;
    reply.flags = 0;
    return -ESTALE;
  }
  return c.call(req, reply);
}

// A signal handler re-entering the shim on a thread that holds the lock.
int call_on_fresh_connection(const client::Request& req, client::ReplyBuffer& reply) {
  client::Connection c;
  int err = connect_quietly(c);
  if (err == 0) err = send_if_current(c, req, reply);
  c.close();
  return err == -EPIPE ? -EIO : err;
}

}  // namespace

int call(const client::Request& req, client::ReplyBuffer& reply) {
  int saved = errno;
  pthread_once(&atfork_once, register_atfork);
  if (depth > 0) {
    int r = call_on_fresh_connection(req, reply);
    errno = saved;
    return r;
  }
  depth++;
  pthread_mutex_lock(&mu);
  int err = 0;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (!conn.connected()) {
      err = connect_quietly(conn);
      conn_fd.store(conn.fd(), std::memory_order_relaxed);
      if (err != 0) break;
      if (const int table = conn.take_table_fd(); table >= 0)
        shared_table::adopt(table, conn.server_pid(), current_generation.load(std::memory_order_acquire));
    }
    err = send_if_current(conn, req, reply);
    if (err != -EPIPE) break;
    conn_fd.store(-1, std::memory_order_relaxed);
  }
  if (err == -EPIPE) err = -EIO;
  if (!conn.connected()) conn_fd.store(-1, std::memory_order_relaxed);
  pthread_mutex_unlock(&mu);
  depth--;
  errno = saved;
  return err;
}

uint32_t server_mount(int mount) {
  return mount >= 0 && mount < static_cast<int>(proto::kMaxMounts) ? server_mounts[mount].load(std::memory_order_relaxed)
                                                                    : 0;
}

int mount_of_ino(uint64_t ino) {
  const uint32_t want = proto::mount_of_ino(ino);
  const int count = shim::config().mounts.count;
  for (int i = 0; i < count && i < static_cast<int>(proto::kMaxMounts); i++)
    if (server_mounts[i].load(std::memory_order_relaxed) == want) return i;
  return 0;
}

uint32_t generation() { return current_generation.load(std::memory_order_acquire); }

bool stale(uint32_t gen) { return gen != 0 && gen != current_generation.load(std::memory_order_acquire); }

uint64_t instance() { return known_instance.load(std::memory_order_acquire); }

void inherit_instance(uint64_t instance) {
  uint64_t none = 0;
  known_instance.compare_exchange_strong(none, instance, std::memory_order_acq_rel);
}

void release_if_owned(int fd) {
  if (!owns_fd(fd)) return;
  pthread_mutex_lock(&mu);
  if (conn.fd() == fd) conn.abandon();
  conn_fd.store(-1, std::memory_order_relaxed);
  pthread_mutex_unlock(&mu);
}

void drop_connection() {
  // A signal handler interrupting this thread's own call cannot take the
  // lock; that call's connection then stays until the next change.
  // The table's answers were for the old credentials.
  shared_table::forget();
  if (depth > 0) return;
  pthread_mutex_lock(&mu);
  conn.close();
  conn_fd.store(-1, std::memory_order_relaxed);
  pthread_mutex_unlock(&mu);
}

int socket_fd() { return conn_fd.load(std::memory_order_relaxed); }

bool owns_fd(int fd) { return fd >= 0 && conn_fd.load(std::memory_order_relaxed) == fd; }

}  // namespace userfs::session

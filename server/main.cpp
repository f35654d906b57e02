// userfsd: options, the socket and its private directory, the single-
// instance lock, then the event loop. Runs in the foreground; the launcher
// backgrounds it.
#include <dlfcn.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "backend_factory.hpp"
#include "dentry_table.hpp"
#include "event_loop.hpp"
#include "fsck.hpp"
#include "mem_backend.hpp"
#include "mounts.hpp"
#include "namespace.hpp"
#include "state_dir.hpp"
#include "userfs/protocol.hpp"
#include "userfs/socket_path.hpp"

#ifndef USERFS_VERSION
#define USERFS_VERSION "unknown"
#endif

namespace {

using userfs::server::UniqueFd;

constexpr const char* kUsage =
    "usage: userfsd [--socket PATH] [--mount PREFIX[=SPEC]]... [--state DIR] [--size BYTES] [--inodes N]\n"
    "               [--help] [--version]\n"
    "       userfsd --fsck DIR\n"
    "Serves the userfs namespace on a Unix socket, in the foreground.\n"
    "  --socket PATH  listen on PATH (default: $XDG_RUNTIME_DIR/userfs/sock,\n"
    "                 or /tmp/userfs-$UID/sock)\n"
    "  --mount PREFIX[=SPEC]  serve the mount PREFIX with the filesystem SPEC\n"
    "                 (repeatable; default: $USERFS_MOUNTS, else /userfs=mem):\n"
    "                   mem           in memory (the default SPEC)\n"
    "                   dir:PATH      the host directory PATH\n"
    "                   tar:FILE      a tar, tar.gz, tar.xz or zip archive, read-only\n"
    "                   so:LIB[:ARG]  a backend plugin (see docs/writing-a-backend.md)\n"
    "                 Clients name their mounts when they connect; a prefix\n"
    "                 not served here reaches the first mount\n"
    "  --allow-users SPEC  let other users connect too (default: only the\n"
    "                 server's own uid; root is no exception). SPEC is a\n"
    "                 comma-separated list of user names or uids, @group or\n"
    "                 @gid (peers with that primary or supplementary group),\n"
    "                 or * for everyone; repeatable. Each request is then\n"
    "                 checked with the caller's own uid, gid and groups. The\n"
    "                 socket is made 0666; its directory must let them reach\n"
    "                 it (use --socket in a shared directory)\n"
    "  --max-clients N  connections at once (default 4096, and at most half\n"
    "                 the fd limit)\n"
    "  --max-clients-per-user N  connections at once for each uid other than\n"
    "                 the server's own (default 1024)\n"
    "  --size BYTES   capacity statfs reports, with an optional K, M, G or T\n"
    "                 suffix (default: half of physical RAM, as tmpfs; with\n"
    "                 --state, what the state directory's filesystem has)\n"
    "  --inodes N     most inodes (files, directories, symlinks) at once\n"
    "                 (default: one per two pages of physical RAM)\n"
    "  --state DIR    keep the first mount's (a mem mount) namespace and file data in DIR (created 0700 if\n"
    "                 missing, must be ours): they survive exit, kill and restart.\n"
    "                 Without it, everything lives in memory and is lost on exit\n"
    "  --journal-max BYTES  with --state: snapshot and start a fresh journal\n"
    "                 once it holds this much (default 64M)\n"
    "  --table-entries N  size of the shared lookup table clients stat and open\n"
    "                 through without asking the server: names plus inodes of\n"
    "                 the mem mounts (default 1048576, 256 bytes each, memory\n"
    "                 used only as filled; 0: none, every lookup is asked)\n"
    "  --fsck DIR     check the state in DIR and report; exit 0 clean, 1 problems\n"
    "                 found, 2 DIR unusable (e.g. a server is running on it)\n"
    "Directories a client chdir()s to are stood for by empty host directories\n"
    "under PATH.cwd/, made at start and removed at exit.\n"
    "Stops cleanly on SIGTERM or SIGINT.\n";

const char* err(int e) { return strerrordesc_np(e); }

// Who may connect and how many at once (--allow-users, --max-clients*).
userfs::server::PeerPolicy peer_policy;
userfs::server::ClientLimits client_limits;

std::string dir_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Creates the socket's directory 0700 if missing. The default directory,
// if it exists, must be ours and private: anyone who could write to it
// could swap the socket for their own.
bool prepare_dir(const std::string& dir, bool is_default) {
  struct stat st {};
  if (lstat(dir.c_str(), &st) < 0) {
    if (errno != ENOENT) {
      std::fprintf(stderr, "userfsd: %s: %s\n", dir.c_str(), err(errno));
      return false;
    }
    if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) {
      std::fprintf(stderr, "userfsd: cannot create %s: %s\n", dir.c_str(), err(errno));
      return false;
    }
    if (lstat(dir.c_str(), &st) < 0) {
      std::fprintf(stderr, "userfsd: %s: %s\n", dir.c_str(), err(errno));
      return false;
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "userfsd: %s is not a directory\n", dir.c_str());
    return false;
  }
  if (is_default && (st.st_uid != getuid() || (st.st_mode & 07777) != 0700)) {
    std::fprintf(stderr,
                 "userfsd: %s must be owned by uid %u with mode 0700 (it is uid %u, mode %04o); refusing to start\n",
                 dir.c_str(), static_cast<unsigned>(getuid()), static_cast<unsigned>(st.st_uid),
                 static_cast<unsigned>(st.st_mode & 07777));
    return false;
  }
  return true;
}

// Takes "<socket>.lock" for the server's lifetime and writes our pid in it.
// Returns the lock fd, or -1 after printing why.
int take_lock(const std::string& lock_path, const std::string& sock_path) {
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    std::fprintf(stderr, "userfsd: %s: %s\n", lock_path.c_str(), err(errno));
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    const int e = errno;
    if (e == EWOULDBLOCK) {
      char buf[32] = {};
      const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
      const long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
      if (pid > 0)
        std::fprintf(stderr, "userfsd: another server is already serving %s (pid %ld)\n", sock_path.c_str(), pid);
      else
        std::fprintf(stderr, "userfsd: another server is already serving %s\n", sock_path.c_str());
    } else {
      std::fprintf(stderr, "userfsd: cannot lock %s: %s\n", lock_path.c_str(), err(e));
    }
    ::close(fd);
    return -1;
  }
  char buf[32];
  const int len = std::snprintf(buf, sizeof buf, "%d\n", getpid());
  if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, static_cast<size_t>(len), 0) != len)
    std::fprintf(stderr, "userfsd: warning: cannot record pid in %s\n", lock_path.c_str());
  return fd;
}

// Returns a listening socket, or -1 after printing why.
int listen_on(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd s(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s.valid()) {
    std::fprintf(stderr, "userfsd: socket: %s\n", err(errno));
    return -1;
  }
  // We hold the lock, so a socket already there is a dead server's.
  if (unlink(path.c_str()) < 0 && errno != ENOENT) {
    std::fprintf(stderr, "userfsd: cannot remove stale %s: %s\n", path.c_str(), err(errno));
    return -1;
  }
  if (bind(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
    std::fprintf(stderr, "userfsd: cannot bind %s: %s\n", path.c_str(), err(errno));
    return -1;
  }
  if (listen(s.get(), SOMAXCONN) < 0) {
    std::fprintf(stderr, "userfsd: cannot listen on %s: %s\n", path.c_str(), err(errno));
    unlink(path.c_str());
    return -1;
  }
  return s.release();
}

// "123", "64K", "2G": a positive size. Returns 0 if malformed.
uint64_t parse_size(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || end == text.c_str() || v == 0 || text[0] == '-') return 0;
  int shift = 0;
  switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; ++end; break;
    case 'm': case 'M': shift = 20; ++end; break;
    case 'g': case 'G': shift = 30; ++end; break;
    case 't': case 'T': shift = 40; ++end; break;
    default: return 0;
  }
  if (*end != '\0' || (shift != 0 && v > (~0ull >> shift))) return 0;
  return static_cast<uint64_t>(v) << shift;
}

int remove_entry(const char* path, const struct stat*, int type, FTW*) {
  if (type == FTW_DP)
    ::rmdir(path);
  else
    ::unlink(path);
  return 0;
}

// Removes a tree we own (the chdir stand-ins), without following symlinks.
void remove_tree(const std::string& dir) { nftw(dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

// The chdir stand-ins' directory, fresh: a dead server's is removed first.
bool prepare_cwd_root(const std::string& dir) {
  remove_tree(dir);
  // Searchable (not listable) by others: a client of another uid
  // (--allow-users) must reach its cwd stand-in.
  if (::mkdir(dir.c_str(), 0711) < 0) {
    std::fprintf(stderr, "userfsd: cannot create %s: %s\n", dir.c_str(), err(errno));
    return false;
  }
  return true;
}

// A new namespace's instance id: random, so a client reconnecting to a
// fresh server never mistakes it for the one it knew.
uint64_t fresh_instance_id() {
  uint64_t id = 0;
  while (getrandom(&id, sizeof id, 0) != sizeof id || id == 0) {
  }
  return id;
}

// Every regular file holds a memfd: allow as many as the hard limit lets us.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

struct StateOptions {
  std::string dir;  // empty: in memory
  uint64_t journal_max = uint64_t{64} << 20;
};

int serve(const std::string& sock_path, bool is_default, const userfs::server::Limits& limits,
          const StateOptions& state_opts, const std::vector<userfs::server::MountSpec>& specs,
          uint32_t table_entries) {
  // Block the stop signals before anything else: the event loop takes them
  // from a signalfd, so one arriving during start-up is not lost.
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);

  if (sock_path.empty() || sock_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    std::fprintf(stderr, "userfsd: socket path is empty or longer than %zu bytes: %s\n",
                 sizeof(sockaddr_un{}.sun_path) - 1, sock_path.c_str());
    return 1;
  }
  if (!prepare_dir(dir_of(sock_path), is_default)) return 1;
  const std::string lock_path = sock_path + ".lock";
  UniqueFd lock(take_lock(lock_path, sock_path));
  if (!lock.valid()) return 1;
  // Under the lock: only a dead server's stand-ins are ours to remove.
  const std::string cwd_root = sock_path + ".cwd";
  if (!prepare_cwd_root(cwd_root)) {
    unlink(lock_path.c_str());
    return 1;
  }
  raise_fd_limit();

  // The state first: a server that cannot load it must not start serving,
  // and clients find no socket (so fail at once) until it is loaded.
  userfs::server::StateDir state;
  if (!state_opts.dir.empty()) {
    std::string why;
    if (!state.open(state_opts.dir, why)) {
      std::fprintf(stderr, "userfsd: state: %s; refusing to start\n", why.c_str());
      unlink(sock_path.c_str());
      remove_tree(cwd_root);
      unlink(lock_path.c_str());
      return 1;
    }
    state.set_journal_max(state_opts.journal_max);
  }

  userfs::server::ServerStats stats;
  stats.pid = static_cast<uint32_t>(getpid());
  stats.started_sec = time(nullptr);
  // st_dev for our inodes: a major no real device uses, the pid to tell two
  // servers apart; a state directory's namespace keeps its instance and
  // st_dev across restarts, so clients can tell it is the same one.
  const bool persistent = !state_opts.dir.empty();
  const uint64_t dev = persistent ? userfs::server::dev_of_instance(state.instance())
                                  : makedev(0xfff, static_cast<unsigned>(getpid()) & 0xfffff);
  // Each mount: its backend under its own path layer, with its own st_dev
  // (the first keeps the one above) and its inode numbers tagged with its
  // index. A mount that cannot be served stops the start, before the socket
  // exists, with the backend's reason.
  userfs::server::Mounts mounts;
  userfs::server::MemBackend* memory = nullptr;  // the first mount's: --state keeps it
  const uint64_t instance = persistent ? state.instance() : fresh_instance_id();
  for (const userfs::server::MountSpec& spec : specs) {
    const auto index = static_cast<uint32_t>(mounts.size());
    std::unique_ptr<userfs::Backend> backend;
    if (spec.kind == "mem") {
      auto mem = std::make_unique<userfs::server::MemBackend>(getuid(), getgid());
      mem->set_limits(limits);
      if (index == 0) memory = mem.get();
      backend = std::move(mem);
    } else {
      std::string why;
      backend = userfs::server::make_backend(spec, why);
      if (backend == nullptr) {
        std::fprintf(stderr, "userfsd: mount %s: %s; refusing to start\n", spec.prefix.c_str(), why.c_str());
        remove_tree(cwd_root);
        unlink(lock_path.c_str());
        return 1;
      }
    }
    const uint64_t mount_dev = index == 0 ? dev : makedev(0xfff - index, static_cast<unsigned>(getpid()) & 0xfffff);
    auto path_layer = std::make_unique<userfs::server::Namespace>(*backend, mount_dev);
    path_layer->set_ino_tag(uint64_t{index} << userfs::proto::kMountShift);
    path_layer->set_instance(instance);
    path_layer->set_cwd_root(cwd_root);
    mounts.add({spec, std::move(backend), std::move(path_layer)});
  }
  if (persistent) {
    std::string why;
    if (!state.recover(*memory, why)) {
      std::fprintf(stderr, "userfsd: state %s: %s; refusing to start\n", state_opts.dir.c_str(), why.c_str());
      unlink(sock_path.c_str());
      remove_tree(cwd_root);
      unlink(lock_path.c_str());
      return 1;
    }
  }
  // The shared lookup table, filled from every mount that reports its
  // changes, before any client can connect.
  std::unique_ptr<userfs::server::DentryTable> table;
  if (table_entries > 0) {
    std::string why;
    table = userfs::server::DentryTable::create(table_entries, why);
    if (table == nullptr) std::fprintf(stderr, "userfsd: no lookup table (%s): lookups go to the server\n", why.c_str());
    for (uint32_t i = 0; table != nullptr && i < mounts.size(); i++) table->add_mount(i, *mounts.ns(i));
  }
  UniqueFd listener(listen_on(sock_path));
  if (!listener.valid()) {
    remove_tree(cwd_root);
    unlink(lock_path.c_str());
    return 1;
  }
  userfs::server::EventLoop loop(std::move(listener), mounts, stats);
  loop.set_peer_policy(peer_policy);
  loop.set_client_limits(client_limits);
  loop.set_table(table.get());
  int rc = loop.init();
  if (rc == 0) {
    std::fprintf(stderr, "userfsd: serving %s (pid %d)\n", sock_path.c_str(), getpid());
    rc = loop.run();
  }
  if (rc < 0) std::fprintf(stderr, "userfsd: event loop: %s\n", err(-rc));
  // A clean stop leaves a snapshot and an empty journal.
  if (persistent) {
    if (int crc = state.compact(); crc < 0)
      std::fprintf(stderr, "userfsd: state: final snapshot failed (%s); the journal keeps everything\n", err(-crc));
  }
  // Socket first, then the lock: a new server may start as soon as the
  // lock file is gone.
  unlink(sock_path.c_str());
  remove_tree(cwd_root);
  unlink(lock_path.c_str());
  return rc == 0 ? 0 : 1;
}

}  // namespace

// With libuserfs.so loaded into every process (/etc/ld.so.preload), the
// server is one of them: its own file calls must never be routed to itself
// (a mount covering its socket or state would recurse or deadlock). The
// library exports a switch for this; without the library there is nothing
// to switch off.
static void keep_the_shim_out() {
  using Disable = void (*)();
  if (auto disable = reinterpret_cast<Disable>(dlsym(RTLD_DEFAULT, "userfs_shim_disable"))) disable();
}

int main(int argc, char** argv) {
  keep_the_shim_out();
  try {
    std::string sock_path;
    bool is_default = true;
    userfs::server::Limits limits = userfs::server::default_limits();
    StateOptions state_opts;
    uint32_t table_entries = 1U << 20;
    bool size_given = false;
    std::vector<userfs::server::MountSpec> specs;
    // "--name VALUE" or "--name=VALUE": the value, or nullptr.
    auto value_of = [&](int& i, const std::string& a, const char* name) -> const char* {
      const std::string eq = std::string(name) + "=";
      if (a == name && i + 1 < argc) return argv[++i];
      if (a.rfind(eq, 0) == 0) return argv[i] + eq.size();
      return nullptr;
    };
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      }
      if (a == "--version") {
        std::printf("userfsd %s (protocol %u)\n", USERFS_VERSION, userfs::proto::kVersion);
        return 0;
      }
      if (a == "--socket" && i + 1 < argc) {
        sock_path = argv[++i];
        is_default = false;
      } else if (a.rfind("--socket=", 0) == 0) {
        sock_path = a.substr(9);
        is_default = false;
      } else if (const char* m = value_of(i, a, "--mount")) {
        userfs::server::MountSpec spec;
        std::string why;
        if (!userfs::server::parse_mount(m, spec, why)) {
          std::fprintf(stderr, "userfsd: bad --mount: %s\n", why.c_str());
          return 2;
        }
        specs.push_back(std::move(spec));
      } else if (const char* u = value_of(i, a, "--allow-users")) {
        if (std::string why; !peer_policy.add(u, why)) {
          std::fprintf(stderr, "userfsd: bad --allow-users: %s\n", why.c_str());
          return 2;
        }
      } else if (const char* m = value_of(i, a, "--max-clients")) {
        client_limits.max_clients = parse_size(m);
        if (client_limits.max_clients == 0) {
          std::fprintf(stderr, "userfsd: bad --max-clients '%s'\n", m);
          return 2;
        }
      } else if (const char* m = value_of(i, a, "--max-clients-per-user")) {
        client_limits.max_per_user = parse_size(m);
        if (client_limits.max_per_user == 0) {
          std::fprintf(stderr, "userfsd: bad --max-clients-per-user '%s'\n", m);
          return 2;
        }
      } else if (const char* v = value_of(i, a, "--size")) {
        size_given = true;
        limits.max_bytes = parse_size(v);
        if (limits.max_bytes == 0) {
          std::fprintf(stderr, "userfsd: bad --size '%s'\n", v);
          return 2;
        }
      } else if (const char* n = value_of(i, a, "--inodes")) {
        limits.max_inodes = parse_size(n);
        if (limits.max_inodes == 0) {
          std::fprintf(stderr, "userfsd: bad --inodes '%s'\n", n);
          return 2;
        }
      } else if (const char* d = value_of(i, a, "--state")) {
        state_opts.dir = d;
        if (state_opts.dir.empty()) {
          std::fprintf(stderr, "userfsd: empty --state\n");
          return 2;
        }
      } else if (const char* j = value_of(i, a, "--journal-max")) {
        state_opts.journal_max = parse_size(j);
        if (state_opts.journal_max == 0) {
          std::fprintf(stderr, "userfsd: bad --journal-max '%s'\n", j);
          return 2;
        }
      } else if (const char* t = value_of(i, a, "--table-entries")) {
        const uint64_t v = std::strcmp(t, "0") == 0 ? 0 : parse_size(t);
        if ((v == 0 && std::strcmp(t, "0") != 0) || v > (1U << 26)) {
          std::fprintf(stderr, "userfsd: bad --table-entries '%s' (0 to %u)\n", t, 1U << 26);
          return 2;
        }
        table_entries = static_cast<uint32_t>(v);
      } else if (const char* f = value_of(i, a, "--fsck")) {
        if (*f == '\0' || i + 1 != argc) {
          std::fprintf(stderr, "userfsd: --fsck takes one directory and nothing else\n");
          return 2;
        }
        return userfs::server::fsck_state(f);
      } else {
        std::fprintf(stderr, "userfsd: unknown argument '%s'\n%s", a.c_str(), kUsage);
        return 2;
      }
    }
    if (is_default) {
      char buf[sizeof(sockaddr_un{}.sun_path) + 64];
      if (!userfs::default_socket_path(buf, sizeof buf, std::getenv("XDG_RUNTIME_DIR"), getuid())) {
        std::fprintf(stderr, "userfsd: default socket path too long; use --socket\n");
        return 1;
      }
      sock_path = buf;
    }
    if (specs.empty()) {
      std::string why;
      const char* env = std::getenv("USERFS_MOUNTS");
      if (!userfs::server::parse_mount_list(env != nullptr ? env : "", specs, why)) {
        std::fprintf(stderr, "userfsd: bad USERFS_MOUNTS: %s\n", why.c_str());
        return 2;
      }
      if (specs.empty()) specs.push_back({"/userfs", "mem", "", ""});
    }
    if (specs.size() > userfs::proto::kMaxMounts) {
      std::fprintf(stderr, "userfsd: at most %u mounts\n", userfs::proto::kMaxMounts);
      return 2;
    }
    for (size_t i = 0; i < specs.size(); i++)
      for (size_t j = 0; j < i; j++)
        if (specs[i].prefix == specs[j].prefix) {
          std::fprintf(stderr, "userfsd: %s is mounted twice\n", specs[i].prefix.c_str());
          return 2;
        }
    if (!state_opts.dir.empty() && specs[0].kind != "mem") {
      std::fprintf(stderr, "userfsd: --state keeps a mem mount: the first mount (%s) is %s\n",
                   specs[0].prefix.c_str(), specs[0].kind.c_str());
      return 2;
    }
    // On a state directory the data is on disk: its filesystem is the limit.
    if (!state_opts.dir.empty() && !size_given) limits.max_bytes = UINT64_MAX;
    return serve(sock_path, is_default, limits, state_opts, specs, table_entries);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "userfsd: fatal: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "userfsd: fatal: unknown exception\n");
  }
  return 1;
}

#include "shared_table.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <new>

#include "client.hpp"
#include "session.hpp"

namespace userfs::shared_table {

namespace {

// As the server's SO_PEERGROUPS buffer: with more groups than that it
// reads none, and so do we.
constexpr int kMaxGroups = 256;
constexpr uint32_t kMaxOpenFailures = 16;

// One adopted table with the credentials it answers for. Never freed:
// another thread may be reading through it; a new one is made only when
// the table or the credentials change (a new server, a set*id call).
struct State {
  table::View view;
  const void* map = nullptr;
  size_t bytes = 0;
  uint64_t table_dev = 0;
  uint64_t table_ino = 0;
  pid_t server_pid = 0;
  uint32_t generation = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t ngroups = 0;
  uint32_t groups[kMaxGroups] = {};
  // Opens through /proc/<server>/fd that failed (another pid namespace's
  // /proc, none at all in a chroot, a server made undumpable); past a few,
  // opens go to the server.
  mutable std::atomic<uint32_t> opens_failed{0};

  perm::Caller caller() const { return perm::Caller{uid, gid, groups, ngroups}; }
  bool same_identity(const State& o) const {
    if (table_dev != o.table_dev || table_ino != o.table_ino || server_pid != o.server_pid ||
        generation != o.generation || uid != o.uid || gid != o.gid || ngroups != o.ngroups)
      return false;
    for (uint32_t i = 0; i < ngroups; i++)
      if (groups[i] != o.groups[i]) return false;
    return true;
  }
};

constinit std::atomic<const State*> current{nullptr};
// The last state adopted (under the connection lock), reused when nothing
// changed (a child's reconnection after fork).
constinit State* last = nullptr;

void* raw_mmap(void* addr, size_t len, int prot, int flags, int fd) {
  return reinterpret_cast<void*>(::syscall(SYS_mmap, addr, len, prot, flags, fd, 0));
}

// The state to answer from, or null: none adopted, its server gone, or
// the process has moved on to another namespace.
const State* usable() {
  const State* s = current.load(std::memory_order_acquire);
  if (s == nullptr || s->generation != session::generation() || !s->view.alive()) return nullptr;
  return s;
}

// The root directory of server mount `mount`.
uint64_t root_of(uint32_t mount) { return (uint64_t{mount} << proto::kMountShift) | proto::kRootIno; }

// Where a walk for t starts, and its mount's root; false if t's mount is
// not in the table (or t names inodes of an older namespace).
bool start_of(const State& s, const route::Target& t, uint64_t& root, uint64_t& start) {
  if (t.route != route::Route::ours || (t.generation != 0 && t.generation != s.generation)) return false;
  uint32_t mount;
  if (t.base == proto::kBaseRoot) {
    if (t.mount < 0) return false;
    mount = session::server_mount(t.mount);
    start = root_of(mount);
  } else {
    mount = proto::mount_of_ino(t.base);
    start = t.base;
  }
  root = root_of(mount);
  return s.view.published(mount);
}

int walk(const State& s, const route::Target& t, bool follow, table::Entry& out) {
  uint64_t root = 0;
  uint64_t start = 0;
  if (!start_of(s, t, root, start)) return kAsk;
  return table::walk_consistent(s.view, root, start, std::string_view(t.path, t.len), follow, s.caller(), out);
}

// Attributes a stat may report: a regular file possibly open for writing
// somewhere has a size and times only the server reads current.
bool attrs_current(const table::Entry& e) { return !table::is_reg(e.attr) || (e.flags & table::kVolatile) == 0; }

// "/proc/<pid>/fd/<fd>" into buf (room for 48).
void proc_fd_path(char* buf, pid_t pid, int fd) {
  static constexpr char kHead[] = "/proc/";
  char* p = buf;
  for (const char* h = kHead; *h != '\0'; h++) *p++ = *h;
  auto put = [&p](unsigned v) {
    char digits[12];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0) *p++ = digits[--n];
  };
  put(static_cast<unsigned>(pid));
  for (const char* h = "/fd/"; *h != '\0'; h++) *p++ = *h;
  put(static_cast<unsigned>(fd));
  *p = '\0';
}

}  // namespace

void adopt(int fd, pid_t server_pid, uint32_t generation) {
  struct stat st {};
  if (::syscall(SYS_fstat, fd, &st) != 0 || st.st_size <= 0) {
    client::raw_close(fd);
    return;
  }
  State probe;
  probe.table_dev = st.st_dev;
  probe.table_ino = st.st_ino;
  probe.server_pid = server_pid;
  probe.generation = generation;
  probe.uid = static_cast<uint32_t>(::syscall(SYS_geteuid));
  probe.gid = static_cast<uint32_t>(::syscall(SYS_getegid));
  const long n = ::syscall(SYS_getgroups, kMaxGroups, probe.groups);
  probe.ngroups = n > 0 ? static_cast<uint32_t>(n) : 0;
  if (last != nullptr && last->same_identity(probe)) {
    client::raw_close(fd);
    current.store(last, std::memory_order_release);
    return;
  }
  // The same table with other credentials keeps its mapping.
  const void* map = nullptr;
  size_t bytes = static_cast<size_t>(st.st_size);
  if (last != nullptr && last->table_dev == probe.table_dev && last->table_ino == probe.table_ino) {
    map = last->map;
    bytes = last->bytes;
  } else {
    void* m = raw_mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd);
    if (m == MAP_FAILED) {
      client::raw_close(fd);
      return;
    }
    map = m;
  }
  client::raw_close(fd);
  void* mem = raw_mmap(nullptr, sizeof(State), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
  if (mem == MAP_FAILED) return;
  auto* s = new (mem) State();
  s->map = map;
  s->bytes = bytes;
  s->table_dev = probe.table_dev;
  s->table_ino = probe.table_ino;
  s->server_pid = server_pid;
  s->generation = generation;
  s->uid = probe.uid;
  s->gid = probe.gid;
  s->ngroups = probe.ngroups;
  for (uint32_t i = 0; i < probe.ngroups; i++) s->groups[i] = probe.groups[i];
  if (!s->view.attach(map, bytes)) return;  // another layout: leave it unused
  last = s;
  current.store(s, std::memory_order_release);
}

void forget() { current.store(nullptr, std::memory_order_release); }

int lookup(const route::Target& t, bool follow, proto::Attr& out) {
  const State* s = usable();
  if (s == nullptr) return kAsk;
  table::Entry e;
  const int rc = walk(*s, t, follow, e);
  if (rc != 0) return rc;
  if (!attrs_current(e)) return kAsk;
  out = e.attr;
  return 0;
}

namespace {

// The self entry of inode `ino`: 0, or kAsk (not in the table: gone,
// perhaps, which only the server can tell).
int self_of(uint64_t ino, uint32_t generation, table::Entry& e) {
  const State* s = usable();
  if (s == nullptr || (generation != 0 && generation != s->generation)) return kAsk;
  const uint32_t mount = proto::mount_of_ino(ino);
  if (!s->view.published(mount)) return kAsk;
  return table::walk_consistent(s->view, root_of(mount), ino, {}, false, s->caller(), e) == 0 ? 0 : kAsk;
}

bool later(const struct timespec& a, int64_t sec, uint32_t nsec) {
  return a.tv_sec != sec ? a.tv_sec > sec : static_cast<uint32_t>(a.tv_nsec) > nsec;
}

}  // namespace

int getattr(uint64_t ino, uint32_t generation, proto::Attr& out) {
  table::Entry e;
  if (self_of(ino, generation, e) != 0 || !attrs_current(e)) return kAsk;
  out = e.attr;
  return 0;
}

int getattr_of_data(int fd, uint64_t ino, uint32_t generation, proto::Attr& out) {
  table::Entry e;
  if (self_of(ino, generation, e) != 0) return kAsk;
  if (attrs_current(e)) {
    out = e.attr;
    return 0;
  }
  // As the server's getattr of a regular file: size, blocks and mtime from
  // the data, ctime the later of the data's and its own (which the entry
  // holds, or a later one), the rest its own.
  struct stat st {};
  const int saved_errno = errno;
  const bool ok = ::syscall(SYS_fstat, fd, &st) == 0;
  errno = saved_errno;
  if (!ok || e.data_fd < 0 || st.st_dev != e.data_dev || st.st_ino != e.data_ino) return kAsk;
  out = e.attr;
  out.size = static_cast<uint64_t>(st.st_size);
  out.blocks = static_cast<uint64_t>(st.st_blocks);
  out.mtime_sec = st.st_mtim.tv_sec;
  out.mtime_nsec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
  if (later(st.st_ctim, out.ctime_sec, out.ctime_nsec)) {
    out.ctime_sec = st.st_ctim.tv_sec;
    out.ctime_nsec = static_cast<uint32_t>(st.st_ctim.tv_nsec);
  }
  return 0;
}

int readlink(const route::Target& t, char* buf, size_t size, size_t* len) {
  const State* s = usable();
  if (s == nullptr) return kAsk;
  table::Entry e;
  const int rc = walk(*s, t, false, e);
  if (rc != 0) return rc;
  if (!table::is_link(e.attr)) return -EINVAL;
  // Its target, from its self entry: a symlink's target never changes, so
  // a later read section than the walk's reads the same one.
  table::Entry self;
  if (self_of(e.attr.ino, s->generation, self) != 0) return kAsk;
  const std::string_view target = table::target_of(self);
  if (target.empty()) return kAsk;  // too long to keep: the server has it
  *len = target.size() < size ? target.size() : size;
  std::memcpy(buf, target.data(), *len);
  return 0;
}

int access(const route::Target& t, int mode, bool follow) {
  if ((mode & W_OK) != 0) return kAsk;
  const State* s = usable();
  if (s == nullptr) return kAsk;
  table::Entry e;
  const int rc = walk(*s, t, follow, e);
  if (rc != 0 || mode == F_OK) return rc;
  return perm::permits(e.attr, s->caller(), mode) ? 0 : -EACCES;
}

int open(const route::Target& t, int flags, int* fd, proto::Attr& attr, uint32_t* generation) {
  constexpr int kTaken = O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_LARGEFILE | O_NOFOLLOW;
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & ~(O_ACCMODE | kTaken)) != 0) return kAsk;
  const State* s = usable();
  if (s == nullptr || s->server_pid <= 0 || s->opens_failed.load(std::memory_order_relaxed) >= kMaxOpenFailures)
    return kAsk;
  table::Entry e;
  const int rc = walk(*s, t, (flags & O_NOFOLLOW) == 0, e);
  if (rc != 0) return rc;
  const int saved_errno = errno;
  // Directories get the server's placeholders; symlinks (O_NOFOLLOW) and
  // the rest the server's errors.
  if (!table::is_reg(e.attr) || e.data_fd < 0) return kAsk;
  if (!perm::permits(e.attr, s->caller(), R_OK)) return -EACCES;
  char path[48];
  proc_fd_path(path, s->server_pid, e.data_fd);
  // The magic link is a symlink itself: no O_NOFOLLOW on it.
  const int kflags = (flags & (O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_LARGEFILE)) | O_RDONLY;
  const int nfd = static_cast<int>(::syscall(SYS_openat, AT_FDCWD, path, kflags));
  if (nfd < 0) {
    // Out of fds, the server's answer is the same; anything else may be
    // a race with the server letting the fd go, or /proc being no use.
    if (errno != EMFILE && errno != ENFILE) s->opens_failed.fetch_add(1, std::memory_order_relaxed);
    errno = saved_errno;
    return kAsk;
  }
  // The server may have let that fd go and reused its number since the
  // walk: keep only the data the walk found.
  struct stat st {};
  if (::syscall(SYS_fstat, nfd, &st) != 0 || st.st_dev != e.data_dev || st.st_ino != e.data_ino) {
    client::raw_close(nfd);
    return kAsk;
  }
  *fd = nfd;
  attr = e.attr;
  *generation = s->generation;
  return 0;
}

}  // namespace userfs::shared_table
